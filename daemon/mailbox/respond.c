/*
 * respond.c - response helpers shared by every command: untagged lines,
 * the tagged status (kept until untagged updates have gone out), the
 * capability list, flag lists.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
resp_untagged(struct client *c, const char *fmt, ...)
{
	va_list ap;

	buf_adds(&c->out, "* ");
	va_start(ap, fmt);
	buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	buf_adds(&c->out, "\r\n");
}

static enum cmd_result
set_tagged(struct client *c, const char *status, const char *fmt, va_list ap)
{
	int n = snprintf(c->tagged, sizeof(c->tagged), "%s ", status);

	if (n > 0 && (size_t)n < sizeof(c->tagged))
		vsnprintf(c->tagged + n, sizeof(c->tagged) - (size_t)n, fmt, ap);
	return RUN_DONE;
}

/* The three tagged answers differ only in their status word. */
#define TAGGED_RESPONSE(fn, status)					\
enum cmd_result								\
fn(struct client *c, const char *fmt, ...)				\
{									\
	va_list ap;							\
	va_start(ap, fmt);						\
	set_tagged(c, status, fmt, ap);					\
	va_end(ap);							\
	return RUN_DONE;						\
}

TAGGED_RESPONSE(resp_ok, "OK")
TAGGED_RESPONSE(resp_no, "NO")
TAGGED_RESPONSE(resp_bad, "BAD")

enum cmd_result
resp_store_error(struct client *c, int rc, const char *what)
{
	if (rc == MK_BUSY)
		return resp_no(c, "[INUSE] %s: mailbox is busy, try again", what);
	log_warnx("user %s: %s failed: %s", c->user->name, what,
	    store_errmsg(c->user->store));
	return resp_no(c, "[SERVERBUG] %s failed; nothing was changed", what);
}

/* What the mailbox process serves; each is advertised only because the
 * code behind it exists (see doc/capabilities.md). */
static const char *const caps[] = {
	"IMAP4rev1", "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE",
	"UNSELECT", "CHILDREN", "UIDPLUS", "MOVE", "MULTIAPPEND",
	"ESEARCH", "SEARCHRES", "WITHIN", "LIST-EXTENDED", "LIST-STATUS",
	"SPECIAL-USE", "CREATE-SPECIAL-USE", "CONDSTORE", "QRESYNC",
	"QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE", "QUOTASET",
	"ACL", "RIGHTS=texk", "BINARY", "APPENDLIMIT", "LIST-MYRIGHTS",
	"STATUS=SIZE", "CATENATE",
	"SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT",
	"CONTEXT=SEARCH", "CONTEXT=SORT",
	"THREAD=REFERENCES", "METADATA", "METADATA-SERVER",
	"NOTIFY",
	"OBJECTID", "PREVIEW", "SAVEDATE",
	"URLAUTH", "URLAUTH=BINARY",
	"IMAP4rev2", "UTF8=ACCEPT",
};

void
resp_capability_list(struct client *c, struct buf *b)
{
	for (size_t i = 0; i < nitems(caps); i++) {
		if (i > 0)
			buf_addc(b, ' ');
		buf_adds(b, caps[i]);
	}
	/* Not on a channel from another user's process (cmd_compress). */
	if (!client_is_guest(c))
		buf_adds(b, " COMPRESS=DEFLATE");
	/* RFC 8437 8: a server must let its operator turn it off. */
	if (!client_is_guest(c) && c->user->cfg->unauthenticate)
		buf_adds(b, " UNAUTHENTICATE");
}

/* Written without buf calls per flag: FETCH FLAGS of a whole mailbox
 * writes one list per message. */
char *
resp_flags_put(char *p, unsigned flags, const char *keywords, size_t kwlen,
    bool recent)
{
	static const struct { unsigned bit; const char *name; size_t len; }
	    sys[] = {
		{ MF_ANSWERED, " \\Answered", 10 },
		{ MF_FLAGGED, " \\Flagged", 9 },
		{ MF_DELETED, " \\Deleted", 9 },
		{ MF_SEEN, " \\Seen", 6 },
		{ MF_DRAFT, " \\Draft", 7 },
	};
	char *start = p;

	*p++ = '(';
	for (size_t i = 0; i < nitems(sys); i++)
		if (flags & sys[i].bit) {
			memcpy(p, sys[i].name, sys[i].len);
			p += sys[i].len;
		}
	if (recent) {
		memcpy(p, " \\Recent", 8);
		p += 8;
	}
	if (kwlen > 0) {
		*p++ = ' ';
		memcpy(p, keywords, kwlen);
		p += kwlen;
	}
	/* Each item came with the space that separates it from the one
	 * before: the first one's goes. */
	if (p > start + 1) {
		memmove(start + 1, start + 2, (size_t)(p - start - 2));
		p--;
	}
	*p++ = ')';
	return p;
}

void
resp_flags(struct buf *b, unsigned flags, const char *keywords, bool recent)
{
	size_t kwlen = keywords ? strlen(keywords) : 0;
	char *p;

	if (buf_reserve(b, RESP_FLAGS_MAX + kwlen) == -1)
		return;
	p = buf_ptr(b) + buf_len(b);
	buf_commit(b, (size_t)(resp_flags_put(p, flags, keywords, kwlen,
	    recent) - p));
}
