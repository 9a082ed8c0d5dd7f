/*
 * fetch_flags.c - FETCH and UID FETCH of FLAGS, UID and MODSEQ only:
 * what a client asks of a whole mailbox to bring its cache up to date,
 * so it must stay cheap on 100,000 messages (issue 11: UID FETCH 1:*
 * (FLAGS) within 40 ms).
 *
 * The store's rows are stepped in UID order (four columns, not the
 * eight cmd_fetch.c reads) and merged in one pass with the UIDs asked
 * for: the merge gives each message's sequence number and shows the
 * UIDs the store no longer has, answered from the ghosts as cmd_fetch.c
 * does (RFC 2180 4.1.1).  Each response is written straight into the
 * output buffer, with no copy of the row and no allocation.  When the
 * buffer is full the statement ends and the FETCH pauses; it resumes at
 * the first UID not yet answered.  Each run of a statement happens in
 * one read transaction with the keyword check before it, so a FLAGS
 * never shows a keyword the session has not been told of.
 *
 * Offers fetch_flags_only() and fetch_flags() to cmd_fetch.c.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>

/* UIDs closer than this share one statement: stepping a few rows not
 * asked for costs less than starting a statement. */
#define SEG_GAP 16

/* "* seq FETCH (UID u MODSEQ (m))\r\n" with room to spare; FLAGS adds
 * RESP_FLAGS_MAX and the keywords. */
#define LINE_BASE 96

struct ff_state {
	const uint32_t         *uids;	/* asked for and in the view */
	size_t                  n, pos;	/* pos: the next one to answer */
	size_t                  end;	/* the last of the current statement */
	size_t                  seq_hint;
	const struct fetch_att *atts;
	size_t                  nflags;	/* FLAGS items asked for */
	bool                    want_uid, want_modseq, filter, missing;
	uint64_t                changedsince;
	struct client          *c;
};

bool
fetch_flags_only(const struct fetch_att *atts)
{
	for (const struct fetch_att *a = atts; a != NULL; a = a->next)
		if (a->item != FI_FLAGS && a->item != FI_UID &&
		    a->item != FI_MODSEQ)
			return false;
	return true;
}

static char *
put_str(char *p, const char *s, size_t len)
{
	memcpy(p, s, len);
	return p + len;
}

#define PUT_LIT(p, s) put_str((p), (s), sizeof(s) - 1)

static char *
put_uid(char *p, uint32_t uid, bool sep)
{
	if (sep)
		*p++ = ' ';
	p = PUT_LIT(p, "UID ");
	return buf_putu(p, uid);
}

static char *
put_modseq(char *p, uint64_t modseq, bool sep)
{
	if (sep)
		*p++ = ' ';
	p = PUT_LIT(p, "MODSEQ (");
	p = buf_putu(p, modseq);
	*p++ = ')';
	return p;
}

/* One message's response, in the order cmd_fetch.c writes it: UID and
 * MODSEQ first when the command implies them, then the items asked. */
static int
write_row(struct ff_state *st, const struct msg_row *r)
{
	struct client *c = st->c;
	size_t kwlen = r->keywords[0] != '\0' ? strlen(r->keywords) : 0;
	bool sep = false;
	char *p0, *p;

	if (buf_reserve(&c->out, LINE_BASE + st->nflags * (RESP_FLAGS_MAX +
	    16 + kwlen)) == -1)
		return -1;
	p = p0 = buf_ptr(&c->out) + buf_len(&c->out);
	p = PUT_LIT(p, "* ");
	p = buf_putu(p, view_seq_next(&c->view, r->uid, &st->seq_hint));
	p = PUT_LIT(p, " FETCH (");
	if (st->want_uid) {
		p = put_uid(p, r->uid, false);
		sep = true;
	}
	if (st->want_modseq) {
		p = put_modseq(p, r->modseq, sep);
		sep = true;
	}
	for (const struct fetch_att *a = st->atts; a != NULL; a = a->next) {
		if (a->item == FI_FLAGS) {
			if (sep)
				*p++ = ' ';
			p = PUT_LIT(p, "FLAGS ");
			p = resp_flags_put(p, view_flags(c, r), r->keywords,
			    kwlen, client_recent(c, r->uid));
		} else if (a->item == FI_UID && !st->want_uid)
			p = put_uid(p, r->uid, sep);
		else if (a->item == FI_MODSEQ && !st->want_modseq)
			p = put_modseq(p, r->modseq, sep);
		else
			continue;
		sep = true;
	}
	p = PUT_LIT(p, ")\r\n");
	buf_commit(&c->out, (size_t)(p - p0));
	return 0;
}

/* A UID asked for that the store no longer has: expunged by another
 * session this one was not told of yet (a ghost), or removed by another
 * program (the FETCH ends in NO [EXPUNGEISSUED], RFC 2180 4.1.2). */
static int
write_gone(struct ff_state *st, uint32_t uid)
{
	const struct msg_row *g = ghost_find(st->c->view.ms, uid);

	if (g == NULL) {
		if (!st->filter)
			st->missing = true;
		return 0;
	}
	if (st->filter && g->modseq <= st->changedsince)
		return 0;
	return write_row(st, g);
}

/* 0 go on, 1 the output is full, -1 error. */
static int
take_row(const struct msg_row *r, void *arg)
{
	struct ff_state *st = arg;

	while (st->pos <= st->end && st->uids[st->pos] < r->uid) {
		if (write_gone(st, st->uids[st->pos++]) != 0)
			return -1;
		if (client_out_full(st->c))
			return 1;
	}
	if (st->pos > st->end || st->uids[st->pos] != r->uid)
		return 0;	/* a UID between two asked for */
	st->pos++;
	if ((!st->filter || r->modseq > st->changedsince) &&
	    write_row(st, r) != 0)
		return -1;
	return client_out_full(st->c) ? 1 : 0;
}

/* UIDs from pos on, one statement for each group of near ones, until
 * all are answered (0) or the output is full (1); -1 on error. */
static int
run(struct ff_state *st)
{
	struct client *c = st->c;
	int rc;

	while (st->pos < st->n) {
		st->end = st->pos;
		while (st->end + 1 < st->n &&
		    st->uids[st->end + 1] - st->uids[st->end] <= SEG_GAP)
			st->end++;
		rc = store_msg_flags_each(c->user->store, &c->view.ms->m,
		    st->uids[st->pos], st->uids[st->end], take_row, st);
		if (rc != 0)
			return rc;
		while (st->pos <= st->end) {
			if (write_gone(st, st->uids[st->pos++]) != 0)
				return -1;
			if (client_out_full(c))
				return 1;
		}
		if (client_out_full(c))
			return 1;
	}
	return 0;
}

static enum cmd_result
ff_continue(struct client *c)
{
	struct ff_state *st = c->cont_state;
	int rc;

	/* One snapshot for the keyword check and the rows after it. */
	store_read_begin(c->user->store);
	view_check_keywords(c);
	rc = run(st);
	store_read_end(c->user->store);
	if (rc == 1) {
		c->cont = ff_continue;
		return RUN_PAUSE;
	}
	if (rc != 0) {
		log_warnx("user %s: FETCH failed: %s", c->user->name,
		    store_errmsg(c->user->store));
		/* A response may be half written. */
		client_close(c, "Internal error reading your mailbox; "
		    "please reconnect");
		return resp_no(c, "[SERVERBUG] FETCH failed");
	}
	if (st->missing)
		return resp_no(c, "[EXPUNGEISSUED] Some messages were expunged "
		    "by another session");
	return resp_ok(c, "FETCH completed");
}

enum cmd_result
fetch_flags(struct client *c, const uint32_t *uids, size_t n, bool want_uid,
    bool want_modseq)
{
	const struct fetch_args *a = &c->cmd->u.fetch;
	struct ff_state *st = arena_alloc(&c->arena, sizeof(*st));

	if (st == NULL)
		return resp_no(c, "[LIMIT] Out of memory");
	memset(st, 0, sizeof(*st));
	st->c = c;
	st->uids = uids;
	st->n = n;
	st->atts = a->atts;
	st->want_uid = want_uid;
	st->want_modseq = want_modseq;
	st->filter = a->changedsince_set;
	st->changedsince = a->changedsince;
	for (const struct fetch_att *x = a->atts; x != NULL; x = x->next)
		st->nflags += x->item == FI_FLAGS;
	st->nflags = MK_MAX(st->nflags, (size_t)1);
	c->cont_state = st;
	c->cont_free = NULL;
	return ff_continue(c);
}
