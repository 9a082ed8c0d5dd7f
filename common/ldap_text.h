/*
 * ldap_text.h - the text the LDAP directory exchanges, made and read
 * without libldap: a search filter with the user's name put in
 * (RFC 4515 escaping), and the {CRYPT} password values of RFC 2307's
 * userPassword.
 *
 * Used by the LDAP process (auth/ldapclient.c), which builds the
 * filter and reads the value, and by the unit tests.
 */
#ifndef MK_LDAP_TEXT_H
#define MK_LDAP_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Appends value to out escaped as an RFC 4515 assertion value: '*',
 * '(', ')', '\' and every byte outside printable ASCII become "\XX".
 * Returns the length written (without the NUL), or -1 if it does not
 * fit in outlen. */
int ldap_filter_escape(const char *value, char *out, size_t outlen);

/* tmpl with every "%u" replaced by the escaped user name (tmpl was
 * checked by config_check_ldap(): no other '%').  0, or -1 if the
 * result does not fit. */
int ldap_filter_build(const char *tmpl, const char *user, char *out,
	size_t outlen);

/* What a password attribute value holds. */
enum ldap_pw {
	LDAP_PW_CRYPT = 0,	/* "{CRYPT}<libxcrypt string>": out holds it */
	LDAP_PW_SCHEME,		/* another scheme ({SSHA}, {SHA}...) or a
				 * clear-text value: not accepted */
	LDAP_PW_INVALID,	/* empty, too long, or bytes no hash has */
};

/* Reads one value (n bytes, not NUL-terminated).  For another scheme,
 * out holds its name (without braces, "" for clear text) so that the
 * log can say which. */
enum ldap_pw ldap_password_crypt(const char *value, size_t n, char *out,
	size_t outlen);

#endif
