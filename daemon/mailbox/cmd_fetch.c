/*
 * cmd_fetch.c - FETCH and UID FETCH (RFC 3501 6.4.5) with BINARY
 * (RFC 3516), CHANGEDSINCE / VANISHED (RFC 7162) and MODSEQ.
 *
 * A FETCH is resumable: messages are read from the store in chunks, the
 * response is produced while the output buffer is below its high-water
 * mark, and a large literal is streamed from the message blob in pieces.
 * So FETCH 1:* on a 100,000-message mailbox, or BODY[] of a 50 MB
 * message to a slow phone, holds one chunk of rows and 256 KiB of output
 * in memory, and other sessions of the user keep being served meanwhile.
 *
 * Structure items (ENVELOPE, BODY, BODYSTRUCTURE) and sections come from
 * what was computed at APPEND time (msgdata.c); FETCH never parses MIME.
 * A FETCH of only FLAGS, UID and MODSEQ takes the path of
 * fetch_flags.c, built for a whole mailbox.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/imap_write.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define FETCH_CHUNK   256
#define STREAM_MIN    (64 * 1024)	/* bigger literals are streamed */
#define STREAM_PIECE  (64 * 1024)

struct frow {
	struct msg_row r;
	bool           seen_set;	/* this FETCH set \Seen on it */
	bool           ghost;		/* expunged; this session not yet told */
};

struct fetch_state {
	uint32_t          *uids;	/* in the view, ascending */
	size_t             n, pos;
	bool               set_seen, want_uid, want_modseq, want_flags;
	struct arena       chunk;
	struct frow       *rows;
	size_t             nrows, ri;
	struct msgdata     md;
	const struct fetch_att *att;
	bool               in_msg;
	bool               sep;
	bool               streaming;	/* a literal is being copied */
	int64_t            s_body;
	struct store_body *s_b;		/* its reader, for the whole literal */
	uint64_t           s_off, s_left;
	bool               missing;
	bool               unknown_cte;
	size_t             seq_hint;	/* for view_seq_next() */
};

static void
fetch_state_free(struct fetch_state *st)
{
	store_body_close(st->s_b);
	st->s_b = NULL;
	arena_free(&st->chunk);
}

/* The client went away in the middle of a FETCH. */
static void
fetch_abort(struct client *c)
{
	fetch_state_free(c->cont_state);
}

static bool
sets_seen(const struct fetch_att *a)
{
	switch (a->item) {
	case FI_RFC822:
	case FI_RFC822_TEXT:
		return true;
	case FI_BODY_SECTION:
	case FI_BINARY:
		return !a->peek;
	default:
		return false;
	}
}

/* ---- rows ---- */

struct collect {
	struct fetch_state *st;
	uint64_t            changedsince;
	bool                filter;
	const uint32_t     *want;	/* the chunk's UIDs, ascending */
	size_t              nwant, wi;
};

static int
collect_row(const struct msg_row *r, void *arg)
{
	struct collect *x = arg;
	struct fetch_state *st = x->st;
	struct frow *f;

	/* A run of chunk_runs() may hold a row the chunk did not ask for
	 * (a UID another program put below the view's last one). */
	while (x->wi < x->nwant && x->want[x->wi] < r->uid)
		x->wi++;
	if (x->wi == x->nwant || x->want[x->wi] != r->uid)
		return 0;
	if (x->filter && r->modseq <= x->changedsince)
		return 0;
	f = &st->rows[st->nrows++];
	f->r = *r;
	f->r.keywords = arena_strdup(&st->chunk, r->keywords);
	return f->r.keywords == NULL ? -1 : 0;
}

/* A guest without "s" reads with a \Seen of their own. */
static int
mark_own_seen(struct client *c, struct fetch_state *st)
{
	uint32_t *uids = arena_array(&st->chunk, st->nrows + 1, sizeof(*uids));
	size_t n = 0;

	if (uids == NULL)
		return -1;
	for (size_t i = 0; i < st->nrows; i++)
		if (!st->rows[i].ghost &&
		    !(view_flags(c, &st->rows[i].r) & MF_SEEN))
			uids[n++] = st->rows[i].r.uid;
	if (n == 0)
		return 0;
	if (view_set_seen(c, uids, n, true) != 0)
		return -1;
	for (size_t i = 0; i < st->nrows; i++)
		for (size_t j = 0; j < n; j++)
			if (st->rows[i].r.uid == uids[j])
				st->rows[i].seen_set = true;
	return 0;
}

/* Sets \Seen on the chunk's rows that lack it, in one transaction. */
static int
mark_seen(struct client *c, struct fetch_state *st)
{
	struct user *u = c->user;
	struct mbox *m = &c->view.ms->m;
	struct flag_change *ch;
	uint64_t before = m->highestmodseq, modseq;
	size_t n = 0;
	int rc;

	if (c->view.own_seen)
		return mark_own_seen(c, st);
	ch = arena_array(&st->chunk, st->nrows + 1, sizeof(*ch));
	if (ch == NULL)
		return -1;
	/* A ghost is gone from the store: nothing to set on it. */
	for (size_t i = 0; i < st->nrows; i++)
		if (!st->rows[i].ghost && !(st->rows[i].r.flags & MF_SEEN)) {
			ch[n].uid = st->rows[i].r.uid;
			ch[n].flags = st->rows[i].r.flags | MF_SEEN;
			ch[n].keywords = st->rows[i].r.keywords;
			n++;
		}
	if (n == 0)
		return 0;
	if ((rc = store_begin(u->store)) != 0)
		return rc;
	rc = store_msg_set_flags(u->store, m, ch, n, &modseq);
	if (rc == 0)
		rc = store_commit(u->store);
	if (rc != 0) {
		store_rollback(u->store);
		mstates_refresh(u);
		return rc;
	}
	for (size_t i = 0; i < st->nrows; i++)
		if (!st->rows[i].ghost && !(st->rows[i].r.flags & MF_SEEN)) {
			st->rows[i].r.flags |= MF_SEEN;
			st->rows[i].r.modseq = modseq;
			st->rows[i].seen_set = true;
		}
	mbox_changed_to(u, m);
	view_own_change(c, before, m->highestmodseq);
	return 0;
}

/* Rows of the chunk the store no longer has were expunged by another
 * session after this one last heard of expunges.  Those this process
 * kept (ghosts, view.c) are answered from what they were (RFC 2180
 * 4.1.1); only a message removed by another program (mailkeepctl) is
 * really missing: the FETCH then ends in NO [EXPUNGEISSUED] (4.1.2). */
static int
add_ghosts(struct client *c, struct fetch_state *st, size_t k,
    const struct collect *x)
{
	const struct mstate *ms = c->view.ms;
	struct frow *rows = arena_array(&st->chunk, k + 1, sizeof(*rows));
	size_t n = 0, j = 0;

	if (rows == NULL)
		return -1;
	for (size_t i = 0; i < k; i++) {
		uint32_t uid = st->uids[st->pos + i];
		const struct msg_row *g;
		if (j < st->nrows && st->rows[j].r.uid == uid) {
			rows[n++] = st->rows[j++];
			continue;
		}
		if ((g = ghost_find(ms, uid)) == NULL) {
			if (!x->filter)
				st->missing = true;
			continue;
		}
		if (x->filter && g->modseq <= x->changedsince)
			continue;
		memset(&rows[n], 0, sizeof(rows[n]));
		rows[n].r = *g;
		rows[n].r.keywords = arena_strdup(&st->chunk, g->keywords);
		if (rows[n].r.keywords == NULL)
			return -1;
		rows[n++].ghost = true;
	}
	st->rows = rows;
	st->nrows = n;
	return 0;
}

/* The chunk's UIDs v[0..n) (ascending) as UID ranges for the store,
 * one statement each: two UIDs with no message of the view between them
 * share a range.  No row the session may be shown lies between them
 * (the UIDs of the view's gaps were expunged; new messages come above
 * the view's last UID), so a sequence range of a mailbox whose UIDs
 * have gaps is one statement, not one per message: in imaptest's mix
 * FETCH ran the messages statement once per message. */
static int
chunk_runs(struct client *c, struct arena *a, const uint32_t *v, size_t n,
    struct seqset *out)
{
	const struct view *vw = &c->view;
	size_t k = 0, hint = 0;
	uint32_t seq, prev_seq = 0;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return 0;
	if ((out->r = arena_array(a, n, sizeof(*out->r))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		seq = view_seq_next(vw, v[i], &hint);
		if (i > 0 && seq != 0 && seq == prev_seq + 1) {
			out->r[k - 1].hi = v[i];
		} else {
			out->r[k].lo = out->r[k].hi = v[i];
			k++;
		}
		prev_seq = seq;
	}
	out->n = k;
	return 0;
}

static int
load_chunk(struct client *c, struct fetch_state *st)
{
	const struct fetch_args *a = &c->cmd->u.fetch;
	size_t k = MK_MIN((size_t)FETCH_CHUNK, st->n - st->pos);
	struct collect x = { .st = st, .changedsince = a->changedsince,
		.filter = a->changedsince_set, .want = st->uids + st->pos,
		.nwant = k };
	struct seqset set;
	int rc;

	arena_reset(&st->chunk);
	st->nrows = st->ri = 0;
	st->rows = arena_array(&st->chunk, k + 1, sizeof(*st->rows));
	if (st->rows == NULL ||
	    chunk_runs(c, &st->chunk, st->uids + st->pos, k, &set) != 0)
		return -1;
	rc = store_msg_foreach(c->user->store, &c->view.ms->m, &set,
	    collect_row, &x);
	if (rc != 0)
		return rc;
	if (st->nrows < k && (rc = add_ghosts(c, st, k, &x)) != 0)
		return rc;
	st->pos += k;
	/* Between two messages' responses: a keyword another session
	 * defined meanwhile is announced before a FLAGS shows it. */
	view_check_keywords(c);
	if (st->set_seen)
		return mark_seen(c, st);
	return 0;
}

/* ---- writing items ---- */

static void
item_sep(struct client *c, struct fetch_state *st)
{
	if (st->sep)
		buf_addc(&c->out, ' ');
	st->sep = true;
}

static void
section_name(struct buf *b, const char *prefix, const struct fetch_att *a)
{
	static const char *specs[] = {
		[SEC_WHOLE] = "", [SEC_HEADER] = "HEADER",
		[SEC_HEADER_FIELDS] = "HEADER.FIELDS",
		[SEC_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
		[SEC_TEXT] = "TEXT", [SEC_MIME] = "MIME",
	};
	const struct fetch_section *s = &a->sec;

	buf_printf(b, "%s[", prefix);
	for (size_t i = 0; i < s->npart; i++)
		buf_printf(b, "%s%u", i ? "." : "", s->part[i]);
	if (s->spec != SEC_WHOLE)
		buf_printf(b, "%s%s", s->npart ? "." : "", specs[s->spec]);
	if (s->spec == SEC_HEADER_FIELDS || s->spec == SEC_HEADER_FIELDS_NOT) {
		buf_adds(b, " (");
		for (size_t i = 0; i < s->nfields; i++) {
			if (i)
				buf_addc(b, ' ');
			imapw_astring(b, s->fields[i]);
		}
		buf_addc(b, ')');
	}
	buf_addc(b, ']');
	if (a->partial)
		buf_printf(b, "<%u>", a->offset);
}

static void
clip(const struct fetch_att *a, uint64_t *off, uint64_t *len)
{
	if (!a->partial)
		return;
	if (a->offset >= *len) {
		*off += *len;
		*len = 0;
		return;
	}
	*off += a->offset;
	*len -= a->offset;
	if (*len > a->count)
		*len = a->count;
}

/* Writes a section's data; may start streaming (returns 1). */
static int
write_data(struct client *c, struct fetch_state *st,
    const struct fetch_att *a, const struct section_data *d, bool binary)
{
	uint64_t off = d->kind == SD_RANGE ? d->off : 0;
	uint64_t len = d->kind == SD_RANGE ? d->len : d->memlen;

	clip(a, &off, &len);
	if (d->kind == SD_MEM) {
		const char *p = d->mem + off;
		if (len == 0) {
			buf_adds(&c->out, "\"\"");
			return 0;
		}
		bool nul = binary && memchr(p, '\0', (size_t)len) != NULL;
		buf_printf(&c->out, "%s{%llu}\r\n", nul ? "~" : "",
		    (unsigned long long)len);
		buf_add(&c->out, p, (size_t)len);
		return 0;
	}
	if (len == 0) {
		buf_adds(&c->out, "\"\"");
		return 0;
	}
	/* Message bytes may hold NUL only if stored from a literal8. */
	buf_printf(&c->out, "%s{%llu}\r\n", binary ? "~" : "",
	    (unsigned long long)len);
	st->streaming = true;
	st->s_body = st->md.body_id;
	st->s_off = off;
	st->s_left = len;
	if (len > STREAM_MIN)
		return 1;
	return 2;	/* small: copied right away by the caller */
}

/* Copies the next piece of a streamed literal through one reader kept
 * for the whole literal: a compressed chunk is decompressed once however
 * the pieces fall, and a chunked body costs one lookup per chunk, where
 * reopening the body for each piece walked a big blob's overflow pages
 * from its start every time (quadratic in its size).  The reader rests
 * whenever FETCH waits for the client (fetch_continue), so no read
 * snapshot of the process's one database connection is held meanwhile. */
static int
stream_piece(struct client *c, struct fetch_state *st)
{
	size_t n = (size_t)MK_MIN(st->s_left, (uint64_t)STREAM_PIECE);

	if (buf_reserve(&c->out, n) == -1)
		return -1;
	if (st->s_b == NULL &&
	    store_body_open(c->user->store, st->s_body, &st->s_b, NULL) != 0)
		return -1;
	if (store_body_read(st->s_b, st->s_off, buf_ptr(&c->out) +
	    buf_len(&c->out), n) != 0)
		return -1;
	buf_commit(&c->out, n);
	st->s_off += n;
	st->s_left -= n;
	if (st->s_left == 0) {
		st->streaming = false;
		store_body_close(st->s_b);
		st->s_b = NULL;
	}
	return 0;
}

static int
write_struct(struct client *c, struct fetch_state *st, const char *name,
    enum fetch_item item)
{
	struct body_struct *bs = &st->md.bs;

	if (msgdata_struct(c, &st->md, &st->chunk) != 0)
		return -1;
	buf_printf(&c->out, "%s ", name);
	if (item == FI_ENVELOPE)
		buf_add(&c->out, bs->envelope, bs->envelope_len);
	else if (item == FI_BODY)
		buf_add(&c->out, bs->body, bs->body_len);
	else
		buf_add(&c->out, bs->bodystructure, bs->bodystructure_len);
	return 0;
}

static int
write_section(struct client *c, struct fetch_state *st,
    const struct fetch_att *a)
{
	struct fetch_att tmp = *a;
	struct section_data d;
	const char *name = NULL;

	switch (a->item) {
	case FI_RFC822:
		name = "RFC822";
		tmp.sec.spec = SEC_WHOLE;
		break;
	case FI_RFC822_HEADER:
		name = "RFC822.HEADER";
		tmp.sec.spec = SEC_HEADER;
		break;
	case FI_RFC822_TEXT:
		name = "RFC822.TEXT";
		tmp.sec.spec = SEC_TEXT;
		break;
	default:
		break;
	}
	if (name != NULL) {
		tmp.sec.npart = 0;
		tmp.partial = false;
	}
	if (msgdata_section(c, &st->md, &st->chunk, &tmp.sec, &d) != 0)
		return -1;
	if (name != NULL)
		buf_printf(&c->out, "%s ", name);
	else {
		section_name(&c->out, "BODY", a);
		buf_addc(&c->out, ' ');
	}
	return write_data(c, st, &tmp, &d, false);
}

static int
write_binary(struct client *c, struct fetch_state *st,
    const struct fetch_att *a)
{
	struct section_data d;
	bool unknown;

	if (a->item == FI_BINARY_SIZE) {
		uint64_t size;
		if (msgdata_binary_size(c, &st->md, &st->chunk, &a->sec, &size,
		    &unknown) != 0)
			return -1;
		if (unknown) {
			st->unknown_cte = true;
			return 0;
		}
		section_name(&c->out, "BINARY.SIZE", a);
		buf_printf(&c->out, " %llu", (unsigned long long)size);
		return 0;
	}
	if (msgdata_binary(c, &st->md, &st->chunk, &a->sec, &d, &unknown) != 0)
		return -1;
	if (unknown) {
		st->unknown_cte = true;
		section_name(&c->out, "BINARY", a);
		buf_adds(&c->out, " NIL");
		return 0;
	}
	section_name(&c->out, "BINARY", a);
	buf_addc(&c->out, ' ');
	return write_data(c, st, a, &d, true);
}

/* EMAILID, THREADID, SAVEDATE (RFC 8474, RFC 8514). */
static int
write_ids(struct client *c, const struct msg_row *r, enum fetch_item item,
    bool *missing)
{
	struct msg_ids ids;
	struct mk_time t;
	char date[32];
	int rc;

	rc = store_msg_ids(c->user->store, &c->view.ms->m, r->uid, r->body_id,
	    &ids);
	if (rc == MK_NOTFOUND) {
		/* Removed by another process under us (mailkeepctl): no
		 * id to give; the client hears the NO of a lost message. */
		*missing = true;
		buf_printf(&c->out, "%s NIL", item == FI_EMAILID ? "EMAILID" :
		    item == FI_THREADID ? "THREADID" : "SAVEDATE");
		return 0;
	}
	if (rc != 0)
		return -1;
	switch (item) {
	case FI_EMAILID:
		buf_printf(&c->out, "EMAILID (%s)", ids.emailid);
		break;
	case FI_THREADID:
		buf_printf(&c->out, "THREADID (%s)", ids.threadid);
		break;
	default:
		if (!ids.has_savedate) {
			buf_adds(&c->out, "SAVEDATE NIL");
			break;
		}
		t.t = ids.savedate;
		t.tz = 0;
		imapdate_format_datetime(&t, date);
		buf_printf(&c->out, "SAVEDATE \"%s\"", date);
		break;
	}
	return 0;
}

/* PREVIEW (RFC 8970): stored at APPEND; LAZY gives NIL for a message
 * stored before schema 11 whose preview is not computed yet. */
static int
write_preview(struct client *c, struct fetch_state *st,
    const struct fetch_att *a, const struct msg_row *r)
{
	struct buf text;
	bool have;
	int rc;

	buf_init(&text, 0);
	(void)buf_reserve(&text, 64);	/* buf_ptr() valid when empty */
	rc = store_body_preview(c->user->store, r->body_id, a->lazy, &text,
	    &have);
	if (rc == MK_NOTFOUND) {
		st->missing = true;	/* expunged and gone meanwhile */
		have = false;
		rc = 0;
	}
	if (rc == 0 && !have)
		buf_adds(&c->out, "PREVIEW NIL");
	else if (rc == 0) {
		buf_adds(&c->out, "PREVIEW ");
		imapw_string(&c->out, buf_ptr(&text), buf_len(&text));
	}
	buf_free(&text);
	return rc == 0 ? 0 : -1;
}

/* 0 done, 1 streaming started, -1 error. */
static int
write_item(struct client *c, struct fetch_state *st, const struct fetch_att *a)
{
	const struct frow *f = &st->rows[st->ri];
	const struct msg_row *r = &f->r;
	char date[32];
	int rc;

	if ((a->item == FI_UID && st->want_uid) ||
	    (a->item == FI_MODSEQ && st->want_modseq))
		return 0;	/* written up front */
	item_sep(c, st);
	switch (a->item) {
	case FI_FLAGS:
		buf_adds(&c->out, "FLAGS ");
		resp_flags(&c->out, view_flags(c, r), r->keywords,
		    client_recent(c, r->uid));
		return 0;
	case FI_UID:
		buf_printf(&c->out, "UID %u", r->uid);
		return 0;
	case FI_INTERNALDATE:
		imapdate_format_datetime(&r->internaldate, date);
		buf_printf(&c->out, "INTERNALDATE \"%s\"", date);
		return 0;
	case FI_RFC822_SIZE:
		buf_printf(&c->out, "RFC822.SIZE %llu", (unsigned long long)r->size);
		return 0;
	case FI_MODSEQ:
		buf_printf(&c->out, "MODSEQ (%llu)", (unsigned long long)r->modseq);
		return 0;
	case FI_ENVELOPE:
		return write_struct(c, st, "ENVELOPE", a->item);
	case FI_BODY:
		return write_struct(c, st, "BODY", a->item);
	case FI_BODYSTRUCTURE:
		return write_struct(c, st, "BODYSTRUCTURE", a->item);
	case FI_EMAILID:
	case FI_THREADID:
	case FI_SAVEDATE:
		return write_ids(c, r, a->item, &st->missing);
	case FI_PREVIEW:
		return write_preview(c, st, a, r);
	case FI_BINARY:
	case FI_BINARY_SIZE:
		rc = write_binary(c, st, a);
		break;
	default:
		rc = write_section(c, st, a);
		break;
	}
	if (rc == 2)
		rc = stream_piece(c, st);	/* small literal: finish now */
	return rc;
}

static void
begin_message(struct client *c, struct fetch_state *st)
{
	const struct frow *f = &st->rows[st->ri];

	buf_adds(&c->out, "* ");
	buf_addu(&c->out, view_seq_next(&c->view, f->r.uid, &st->seq_hint));
	buf_adds(&c->out, " FETCH (");
	st->sep = false;
	st->in_msg = true;
	st->att = c->cmd->u.fetch.atts;
	st->md.body_id = f->r.body_id;
	st->md.size = f->r.size;
	st->md.have_struct = false;
	if (st->want_uid) {
		item_sep(c, st);
		buf_adds(&c->out, "UID ");
		buf_addu(&c->out, f->r.uid);
	}
	if (f->seen_set && !st->want_flags) {
		/* The client learns of the \Seen this FETCH set (RFC 3501
		 * 6.4.5: the server SHOULD send the new FLAGS). */
		item_sep(c, st);
		buf_adds(&c->out, "FLAGS ");
		resp_flags(&c->out, view_flags(c, &f->r), f->r.keywords,
		    client_recent(c, f->r.uid));
	}
	if (st->want_modseq) {
		item_sep(c, st);
		buf_adds(&c->out, "MODSEQ (");
		buf_addu(&c->out, f->r.modseq);
		buf_addc(&c->out, ')');
	}
}

static enum cmd_result fetch_continue(struct client *c);

static enum cmd_result
fetch_finish(struct client *c, struct fetch_state *st)
{
	bool missing = st->missing, unknown = st->unknown_cte;

	fetch_state_free(st);
	if (unknown)
		return resp_no(c, "[UNKNOWN-CTE] Can't decode a part's "
		    "Content-Transfer-Encoding");
	if (missing)
		return resp_no(c, "[EXPUNGEISSUED] Some messages were expunged "
		    "by another session");
	return resp_ok(c, "FETCH completed");
}

static enum cmd_result
fetch_fail(struct client *c, struct fetch_state *st)
{
	log_warnx("user %s: FETCH failed: %s", c->user->name,
	    store_errmsg(c->user->store));
	fetch_state_free(st);
	/* A response may be half written: the stream can't be repaired. */
	client_close(c, "Internal error reading your mailbox; please reconnect");
	return resp_no(c, "[SERVERBUG] FETCH failed");
}

static enum cmd_result
fetch_continue(struct client *c)
{
	struct fetch_state *st = c->cont_state;

	while (!client_out_full(c)) {
		if (st->streaming) {
			if (stream_piece(c, st) != 0)
				return fetch_fail(c, st);
			continue;
		}
		if (st->in_msg && st->att == NULL) {
			buf_adds(&c->out, ")\r\n");
			st->in_msg = false;
			st->ri++;
			continue;
		}
		if (st->in_msg) {
			const struct fetch_att *a = st->att;
			st->att = a->next;
			if (write_item(c, st, a) < 0)
				return fetch_fail(c, st);
			continue;
		}
		if (st->ri == st->nrows) {
			if (st->pos == st->n)
				return fetch_finish(c, st);
			if (load_chunk(c, st) != 0)
				return fetch_fail(c, st);
			continue;
		}
		begin_message(c, st);
	}
	store_body_rest(st->s_b);
	c->cont = fetch_continue;
	return RUN_PAUSE;
}

enum cmd_result
cmd_fetch(struct client *c)
{
	const struct fetch_args *a = &c->cmd->u.fetch;
	struct fetch_state *st;
	struct seqset uidset;

	if (view_uidset(c, &a->set, c->cmd->uid, &uidset) != 0)
		return resp_bad(c, "Invalid message sequence number");
	if (a->vanished && (!c->cmd->uid || !(c->enabled & CAP_QRESYNC) ||
	    !a->changedsince_set))
		return resp_bad(c, "VANISHED needs UID FETCH, CHANGEDSINCE and "
		    "ENABLE QRESYNC");
	st = arena_alloc(&c->arena, sizeof(*st));
	if (st == NULL)
		return resp_no(c, "[LIMIT] Out of memory");
	arena_init(&st->chunk, 0);
	st->n = view_uids_in(c, &uidset, &st->uids);
	st->want_uid = c->cmd->uid;
	st->want_modseq = a->changedsince_set;
	for (const struct fetch_att *x = a->atts; x; x = x->next) {
		if (sets_seen(x))
			st->set_seen = true;
		if (x->item == FI_FLAGS)
			st->want_flags = true;
		if (x->item == FI_MODSEQ)
			view_enable_condstore(c);
	}
	if (a->changedsince_set)
		view_enable_condstore(c);
	/* RFC 4314 4: the shared \Seen needs "s"; a guest without it has
	 * their own, kept even in a mailbox read-only for them (not under
	 * EXAMINE). */
	if (c->no_seen || c->view.examined ||
	    (c->view.readonly && !c->view.own_seen) ||
	    (!(c->view.rights & RT_S) && !c->view.own_seen))
		st->set_seen = false;
	if (st->set_seen && c->view.condstore)
		st->want_uid = st->want_modseq = true;
	if (a->vanished)
		vanished_since(c, &uidset, a->changedsince);	/* RFC 7162 3.2.6 */
	if (!st->set_seen && fetch_flags_only(a->atts))
		return fetch_flags(c, st->uids, st->n, st->want_uid,
		    st->want_modseq);
	c->cont_state = st;
	c->cont_free = fetch_abort;
	return fetch_continue(c);
}
