/*
 * test_ldap_text.c - common/ldap_text.c: the user's name put into the
 * search filter with RFC 4515 escaping (no injection of filter
 * syntax), and the {CRYPT} values of userPassword (other schemes and
 * clear text refused, named for the log).
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "common/ldap_text.h"

void
test_ldap_filter_escape_specials(void)
{
	char out[128];

	CU_ASSERT_EQUAL(ldap_filter_escape("alice", out, sizeof(out)), 5);
	CU_ASSERT_STRING_EQUAL(out, "alice");
	CU_ASSERT(ldap_filter_escape("*)(uid=*", out, sizeof(out)) > 0);
	CU_ASSERT_STRING_EQUAL(out, "\\2a\\29\\28uid=\\2a");
	CU_ASSERT(ldap_filter_escape("a\\b", out, sizeof(out)) > 0);
	CU_ASSERT_STRING_EQUAL(out, "a\\5cb");
	/* control bytes and non-ASCII as escaped octets */
	CU_ASSERT(ldap_filter_escape("\x01\xc3\xa9", out, sizeof(out)) > 0);
	CU_ASSERT_STRING_EQUAL(out, "\\01\\c3\\a9");
}

void
test_ldap_filter_escape_bounds(void)
{
	char out[8];

	CU_ASSERT_EQUAL(ldap_filter_escape("1234567", out, sizeof(out)), 7);
	CU_ASSERT_EQUAL(ldap_filter_escape("12345678", out, sizeof(out)), -1);
	/* an escape that would not fit whole is refused, not cut */
	CU_ASSERT_EQUAL(ldap_filter_escape("12345*", out, sizeof(out)), -1);
}

void
test_ldap_filter_build(void)
{
	char out[64];

	CU_ASSERT_EQUAL(ldap_filter_build("(uid=%u)", "bob", out,
	    sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "(uid=bob)");
	CU_ASSERT_EQUAL(ldap_filter_build("(|(uid=%u)(mail=%u))", "a*",
	    out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "(|(uid=a\\2a)(mail=a\\2a))");
	CU_ASSERT_EQUAL(ldap_filter_build("(uid=%u)", "xxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", out,
	    sizeof(out)), -1);
}

void
test_ldap_password_crypt(void)
{
	static const char y[] = "$y$j9T$salt$hashhashhash";
	char out[256];
	char v[300];

	snprintf(v, sizeof(v), "{CRYPT}%s", y);
	CU_ASSERT_EQUAL(ldap_password_crypt(v, strlen(v), out, sizeof(out)),
	    LDAP_PW_CRYPT);
	CU_ASSERT_STRING_EQUAL(out, y);
	/* the scheme is case-insensitive (RFC 2307) */
	snprintf(v, sizeof(v), "{crypt}%s", y);
	CU_ASSERT_EQUAL(ldap_password_crypt(v, strlen(v), out, sizeof(out)),
	    LDAP_PW_CRYPT);
	CU_ASSERT_STRING_EQUAL(out, y);
}

void
test_ldap_password_other_schemes(void)
{
	char out[256];

	CU_ASSERT_EQUAL(ldap_password_crypt("{SSHA}abcd", 10, out,
	    sizeof(out)), LDAP_PW_SCHEME);
	CU_ASSERT_STRING_EQUAL(out, "SSHA");
	CU_ASSERT_EQUAL(ldap_password_crypt("plaintext", 9, out, sizeof(out)),
	    LDAP_PW_SCHEME);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(ldap_password_crypt("{CRYPTX}$y$", 11, out,
	    sizeof(out)), LDAP_PW_SCHEME);
	CU_ASSERT_EQUAL(ldap_password_crypt("", 0, out, sizeof(out)),
	    LDAP_PW_INVALID);
	/* empty, blank or NUL-holding hashes are no hashes */
	CU_ASSERT_EQUAL(ldap_password_crypt("{CRYPT}", 7, out, sizeof(out)),
	    LDAP_PW_INVALID);
	CU_ASSERT_EQUAL(ldap_password_crypt("{CRYPT}$y$ x", 12, out,
	    sizeof(out)), LDAP_PW_INVALID);
	CU_ASSERT_EQUAL(ldap_password_crypt("{CRYPT}$y$\0x", 12, out,
	    sizeof(out)), LDAP_PW_INVALID);
	/* longer than the buffer: refused, not cut */
	CU_ASSERT_EQUAL(ldap_password_crypt("{CRYPT}$1$12345678", 18, out, 8),
	    LDAP_PW_INVALID);
}
