/*
 * lmtp_proto.c - the parsing of LMTP command arguments (RFC 5321 4.1.2
 * paths, RFC 1870 SIZE, RFC 6152 BODY), kept apart from any I/O so the
 * unit tests (tests/unit/lmtp) can feed it directly.
 */
#include "daemon/lmtp/lmtp.h"
#include "common/util.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

int
lmtp_parse_path(const char *s, const char **end, char *out, size_t outlen)
{
	const char *p, *close;
	bool quoted = false;

	if (*s != '<')
		return -1;
	p = s + 1;
	/* An obsolete source route "@a,@b:" precedes the mailbox; it is
	 * accepted and ignored (RFC 5321 4.1.2, C.6). */
	if (*p == '@') {
		const char *colon = strchr(p, ':');
		if (colon == NULL)
			return -1;
		p = colon + 1;
	}
	/* The closing bracket is the first '>' outside a quoted string. */
	for (close = p; *close != '\0'; close++) {
		if (quoted && *close == '\\' && close[1] != '\0')
			close++;
		else if (*close == '"')
			quoted = !quoted;
		else if (!quoted && *close == '>')
			break;
		else if ((unsigned char)*close < 0x20 || *close == 0x7f)
			return -1;
	}
	if (*close != '>')
		return -1;
	size_t n = (size_t)(close - p);
	if (n + 2 > LMTP_MAX_PATH || n >= outlen)
		return -1;
	/* Blanks are only valid inside a quoted local part. */
	quoted = false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"')
			quoted = !quoted;
		else if (!quoted && (p[i] == ' ' || p[i] == '\t'))
			return -1;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	*end = close + 1;
	return 0;
}

int
lmtp_split_addr(const char *addr, char *local, size_t locallen,
    char *domain, size_t domainlen)
{
	const char *at = NULL;
	bool quoted = false;

	for (const char *p = addr; *p != '\0'; p++) {
		if (quoted && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '@')
			at = p;
	}
	size_t ln = at ? (size_t)(at - addr) : strlen(addr);
	const char *d = at ? at + 1 : "";
	if (ln == 0 || ln > LMTP_MAX_LOCAL || ln >= locallen ||
	    strlen(d) >= domainlen || (at != NULL && *d == '\0'))
		return -1;
	memcpy(local, addr, ln);
	local[ln] = '\0';
	mk_strlcpy(domain, d, domainlen);
	return 0;
}

/* "KEY=VALUE" or "KEY": matches key case-insensitively; *val is the
 * value (or NULL). */
static bool
param_is(const char *p, size_t n, const char *key, const char **val,
    size_t *vlen)
{
	size_t kl = strlen(key);

	if (n < kl || strncasecmp(p, key, kl) != 0)
		return false;
	if (n == kl) {
		*val = NULL;
		*vlen = 0;
		return true;
	}
	if (p[kl] != '=')
		return false;
	*val = p + kl + 1;
	*vlen = n - kl - 1;
	return true;
}

int
lmtp_mail_params(const char *s, struct lmtp_mail_params *mp, const char **why)
{
	memset(mp, 0, sizeof(*mp));
	while (*s != '\0') {
		const char *val;
		size_t n, vlen;

		if (*s != ' ') {
			*why = "501 5.5.4 Syntax error in parameters";
			return -1;
		}
		s += strspn(s, " ");
		n = strcspn(s, " ");
		if (n == 0)
			break;
		if (param_is(s, n, "SIZE", &val, &vlen)) {
			char num[24];
			if (val == NULL || vlen == 0 || vlen >= sizeof(num) ||
			    mp->has_size) {
				*why = "501 5.5.4 Bad SIZE parameter";
				return -1;
			}
			memcpy(num, val, vlen);
			num[vlen] = '\0';
			if (!parse_u64(num, UINT64_MAX, &mp->size)) {
				*why = "501 5.5.4 Bad SIZE parameter";
				return -1;
			}
			mp->has_size = true;
		} else if (param_is(s, n, "BODY", &val, &vlen)) {
			if (val != NULL && vlen == 8 &&
			    strncasecmp(val, "8BITMIME", 8) == 0)
				mp->body_8bit = true;
			else if (val != NULL && vlen == 4 &&
			    strncasecmp(val, "7BIT", 4) == 0)
				mp->body_8bit = false;
			else {
				*why = "501 5.5.4 Bad BODY parameter";
				return -1;
			}
		} else {
			/* RFC 5321 4.1.1.11: an unrecognized parameter. */
			*why = "555 5.5.4 Unsupported MAIL FROM parameter";
			return -1;
		}
		s += n;
	}
	return 0;
}
