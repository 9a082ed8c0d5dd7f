/*
 * sasl.c - SASL PLAIN (RFC 4616) and the LOGIN impersonation split.
 *
 * Used by the login process (auth/login_cmd.c) for AUTHENTICATE PLAIN,
 * both with an initial response (RFC 4959 SASL-IR) and after a "+"
 * continuation, and for LOGIN "target*admin".  The decoded message holds
 * the password: callers wipe it with sasl_plain_free() as soon as it has
 * been sent on.
 */
#include "auth/login.h"
#include "common/base64.h"
#include "common/util.h"

#include <string.h>

int
sasl_plain_decode(const char *b64, size_t n, struct sasl_plain *sp,
    const char **err)
{
	struct buf b;
	const char *p, *end, *nul1, *nul2;

	memset(sp, 0, sizeof(sp[0]));
	/* 3 bytes per 4 characters, plus room for a terminating NUL. */
	buf_init(&b, n / 4 * 3 + 4);
	/* Allocated once, up front: a realloc would leave a copy unwiped. */
	if (buf_reserve(&b, n / 4 * 3 + 4) == -1 || n == 0 || base64_decode(b64, n, &b, true) == -1) {
		if (b.data)
			explicit_bzero(b.data, b.cap);
		buf_free(&b);
		*err = n == 0 ? "Empty PLAIN response" : "Invalid base64 data";
		return -1;
	}
	sp->len = buf_len(&b);
	sp->buf = buf_cstr(&b);	/* takes the buffer; NUL after the data */
	p = sp->buf;
	end = p + sp->len;
	nul1 = memchr(p, '\0', sp->len);
	nul2 = nul1 ? memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1)) : NULL;
	/* Exactly two NULs, a non-empty authcid and password. */
	if (nul1 == NULL || nul2 == NULL || nul2 == nul1 + 1 ||
	    nul2 + 1 == end || memchr(nul2 + 1, '\0', (size_t)(end - nul2 - 1))) {
		sasl_plain_free(sp);
		*err = "Malformed PLAIN message";
		return -1;
	}
	sp->authzid = p;
	sp->authcid = nul1 + 1;
	sp->passwd = nul2 + 1;
	sp->npasswd = (size_t)(end - sp->passwd);
	*err = NULL;
	return 0;
}

void
sasl_plain_free(struct sasl_plain *sp)
{
	/* buf_cstr() left a NUL after the data: wipe that too. */
	if (sp->buf != NULL)
		freezero(sp->buf, sp->len + 1);
	memset(sp, 0, sizeof(*sp));
}

bool
sasl_split_login(const char *user, const char *sep, char *authzid,
    size_t zlen, char *authcid, size_t clen)
{
	const char *at;
	size_t seplen = strlen(sep);

	if (seplen == 0 || (at = strstr(user, sep)) == NULL)
		return false;
	size_t tlen = (size_t)(at - user);
	if (tlen >= zlen || strlen(at + seplen) >= clen)
		return false;
	memcpy(authzid, user, tlen);
	authzid[tlen] = '\0';
	mk_strlcpy(authcid, at + seplen, clen);
	return true;
}
