/*
 * ldap_text.c - see ldap_text.h.
 */
#include "common/ldap_text.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int
ldap_filter_escape(const char *value, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		bool esc = *p < 0x20 || *p >= 0x7f || strchr("*()\\", *p);
		if (o + (esc ? 3 : 1) >= outlen)
			return -1;
		if (esc) {
			out[o++] = '\\';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		} else
			out[o++] = (char)*p;
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return (int)o;
}

int
ldap_filter_build(const char *tmpl, const char *user, char *out,
    size_t outlen)
{
	size_t o = 0;

	for (const char *p = tmpl; *p; p++) {
		if (p[0] == '%' && p[1] == 'u') {
			int n = ldap_filter_escape(user, out + o, outlen - o);
			if (n < 0)
				return -1;
			o += (size_t)n;
			p++;
			continue;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = *p;
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

/* A libxcrypt string is printable ASCII without blanks. */
static bool
hash_bytes_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return false;
	return n > 0;
}

enum ldap_pw
ldap_password_crypt(const char *value, size_t n, char *out, size_t outlen)
{
	const char *close;
	size_t slen;

	out[0] = '\0';
	if (n == 0 || n >= 1024)
		return LDAP_PW_INVALID;
	if (value[0] != '{' || (close = memchr(value, '}', n)) == NULL)
		return LDAP_PW_SCHEME;	/* clear text: "" */
	slen = (size_t)(close - value - 1);
	if (slen != 5 || strncasecmp(value + 1, "CRYPT", 5) != 0) {
		/* The scheme's name, printable and bounded, for the log. */
		size_t i;
		for (i = 0; i < slen && i + 1 < outlen && i < 32; i++)
			out[i] = value[1 + i] > 0x20 && value[1 + i] < 0x7f ?
			    value[1 + i] : '?';
		out[i] = '\0';
		return LDAP_PW_SCHEME;
	}
	const char *h = close + 1;
	size_t hn = n - (size_t)(h - value);
	if (!hash_bytes_ok(h, hn) || hn >= outlen)
		return LDAP_PW_INVALID;
	memcpy(out, h, hn);
	out[hn] = '\0';
	return LDAP_PW_CRYPT;
}
