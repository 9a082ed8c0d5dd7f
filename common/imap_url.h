/*
 * imap_url.h - IMAP URLs (RFC 5092) naming a message or a part of one,
 * as CATENATE (RFC 4469) takes them:
 *
 *   imap://[user[;AUTH=mech]@]host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n
 *       [/;SECTION=section][/;PARTIAL=offset[.length]]
 *
 *       [;EXPIRE=date-time][;URLAUTH=access[:mechanism:token]]
 *
 * or the same from the first "/" on (relative to the server).  Keys are
 * case-insensitive; the mailbox and section are percent-decoded, and the
 * mailbox, UTF-8 in a URL, is turned into the modified UTF-7 that IMAP
 * names use (RFC 3501 5.1.3).  The URLAUTH parts are RFC 4467's: a URL
 * that has ;URLAUTH=access but no ":mechanism:token" is a "rump" (what
 * GENURLAUTH takes); whether a URLAUTH is valid is for store_urlauth.c
 * to say.  Anything else - a URL of a mailbox alone, a search - is
 * refused: the caller answers BADURL (or NIL, for URLFETCH).
 */
#ifndef MK_IMAP_URL_H
#define MK_IMAP_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_URL_SECTION_MAX 1024
#define IMAP_URL_TOKEN_MAX 256

struct imap_url {
	const char *url;		/* the string parsed */
	char     user[256];		/* "" when the URL names none */
	char     mailbox[1024];		/* modified UTF-7, as IMAP names it */
	uint32_t uidvalidity;		/* 0: not given */
	uint32_t uid;
	char     section[IMAP_URL_SECTION_MAX];	/* "" for the whole message */
	bool     partial;
	uint32_t offset;
	bool     has_length;
	uint32_t length;
	/* RFC 4467 */
	bool     has_expire;
	int64_t  expire;		/* seconds since the epoch, UTC */
	bool     urlauth;		/* ;URLAUTH= given */
	enum imap_url_access {
		URL_ACCESS_ANONYMOUS, URL_ACCESS_AUTHUSER, URL_ACCESS_USER,
		URL_ACCESS_SUBMIT,
	} access;
	char     access_user[256];	/* user+ / submit+ name, decoded */
	char     mech[32];		/* "" in a rump */
	char     token[IMAP_URL_TOKEN_MAX + 1];	/* hex, as sent */
	size_t   rump_len;		/* the URL's bytes before ":mech:token" */
};

/* 0, or -1 with *err saying what is wrong. */
int imap_url_parse(const char *s, struct imap_url *u, const char **err);

/* UTF-8 (NUL-terminated) to modified UTF-7 in out; -1 if in is not
 * UTF-8 or out is too small. */
int imap_utf8_to_mutf7(const char *in, char *out, size_t outlen);

#endif
