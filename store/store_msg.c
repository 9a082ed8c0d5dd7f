/*
 * store_msg.c - messages: APPEND, flags, EXPUNGE, COPY, and reading them.
 *
 * Offers the message half of store.h.  Every state-changing call runs in
 * one transaction (its own, or a savepoint in the caller's), re-reads the
 * mailbox row inside it (another connection may have moved UIDNEXT or
 * HIGHESTMODSEQ), takes one new modseq for all the rows it changes, and
 * keeps the mailbox counters and quota_usage exact before it returns.
 * The caller's struct mbox is refreshed only when the call succeeds.
 * Called by the mailbox process (APPEND, STORE, FETCH, EXPUNGE, COPY,
 * MOVE, CONDSTORE/QRESYNC) and mailkeepctl.
 */
#include "store/store_int.h"
#include "store/mime.h"
#include "common/arena.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

/* An IMAP zone is +-hhmm; a tighter bound lets search turn a calendar
 * day into an index range on internaldate (search.c). */
#define MK_TZ_MAX_MIN (99 * 60 + 59)

/* Below this many changed rows the modseq index beats a mailbox scan. */
#define CHANGED_INDEX_LIMIT 2048

void
msg_row_read(sqlite3_stmt *st, int64_t mbox_id, struct msg_row *r)
{
	const unsigned char *kw = sqlite3_column_text(st, 6);

	r->uid = (uint32_t)sqlite3_column_int64(st, 0);
	r->id = (int64_t)((uint64_t)mbox_id << 32 | r->uid);
	r->body_id = sqlite3_column_int64(st, 1);
	r->size = (uint64_t)sqlite3_column_int64(st, 2);
	r->internaldate.t = sqlite3_column_int64(st, 3);
	r->internaldate.tz = sqlite3_column_int(st, 4);
	r->flags = (unsigned)sqlite3_column_int(st, 5);
	r->keywords = kw ? (const char *)kw : "";
	r->modseq = (uint64_t)sqlite3_column_int64(st, 7);
}

/* ---- APPEND ---- */

static const char SQL_BODY_INSERT[] =
	"INSERT INTO bodies (refs, size, has_sent, sent_t, sent_tz, objid,"
	" thread) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)";
/* For stores of an earlier schema, which tests open. */
static const char SQL_BODY_INSERT_V10[] =
	"INSERT INTO bodies (refs, size, has_sent, sent_t, sent_tz)"
	" VALUES (1, ?1, ?2, ?3, ?4)";
/* For stores of an earlier schema, which tests open. */
static const char SQL_MSG_INSERT_V10[] =
	"INSERT INTO messages (mailbox_id, uid, body_id, size, internaldate,"
	" tz, flags, keywords, modseq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
	" ?8, ?9)";
static const char SQL_MSG_INSERT[] =
	"INSERT INTO messages (mailbox_id, uid, body_id, size, internaldate,"
	" tz, flags, keywords, modseq, savedate) VALUES (?1, ?2, ?3, ?4, ?5,"
	" ?6, ?7, ?8, ?9, ?10)";

/* Stores a body with the structure FETCH and SEARCH will need, computed
 * here once (store_struct.c), and the sort keys (store_sort.c); its
 * Date: gives the SENT* search date and the sort date.  The bytes go
 * in as store_body.c lays them out. */
static int
body_insert(struct store *s, const struct msg_prep *p, struct fts_doc *doc,
    struct buf *preview, int64_t *body_id)
{
	struct mime_result mr;
	struct arena a;
	sqlite3_stmt *st = NULL;
	int64_t objid, thread;
	int rc;

	if (p->len > INT_MAX)
		return db_err(&s->db, MK_INVALID, "message too large to store");
	arena_init(&a, 0);
	rc = mime_analyze(&a, p->data, (size_t)p->len, &mr);
	/* The index's texts come from the same pass over the pages. */
	if (rc == 0)
		fts_doc_make(doc, p->data, (size_t)p->len, mr.parts,
		    mr.parts_len);
	if (rc == 0)
		rc = mime_preview(&a, p->data, (size_t)p->len, mr.parts,
		    mr.parts_len, preview);
	/* The analysis is the one pass that needs the message whole: give
	 * its mapped pages back at once. */
	msg_pages_release(p->data, 0, (size_t)p->len, p->file);
	if (rc != 0) {
		arena_free(&a);
		return db_err(&s->db, -1, "out of memory analyzing a message");
	}
	if ((rc = body_ids_new(s, mr.sort.msgid, mr.sort.refs, &objid,
	    &thread)) != 0 || (st = db_stmt(&s->db, s->objids ?
	    SQL_BODY_INSERT : SQL_BODY_INSERT_V10)) == NULL) {
		arena_free(&a);
		return rc != 0 ? rc : -1;
	}
	sqlite3_bind_int64(st, 1, (int64_t)p->len);
	sqlite3_bind_int(st, 2, mr.has_date);
	sqlite3_bind_int64(st, 3, mr.has_date ? mr.date.t : 0);
	sqlite3_bind_int(st, 4, mr.has_date ? mr.date.tz : 0);
	if (s->objids) {
		sqlite3_bind_int64(st, 5, objid);
		sqlite3_bind_int64(st, 6, thread);
	}
	if ((rc = db_run(&s->db, st, "body insert")) == 0) {
		*body_id = sqlite3_last_insert_rowid(s->db.h);
		rc = body_struct_put(&s->db, *body_id, &mr);
	}
	if (rc == 0)
		rc = body_sort_put(&s->db, *body_id, &mr.sort);
	if (rc == 0 && s->objids)
		rc = body_preview_put(&s->db, *body_id, buf_ptr(preview),
		    buf_len(preview));
	arena_free(&a);
	if (rc != 0)
		return rc;
	return body_bytes_put(s, *body_id, p);
}

static int64_t
msg_id(int64_t mbox_id, uint32_t uid)
{
	return (int64_t)((uint64_t)mbox_id << 32 | uid);
}

struct msg_ins {
	int64_t        mbox_id;
	uint32_t       uid;
	int64_t        body_id;
	uint64_t       size;
	struct mk_time date;
	unsigned       flags;
	const char    *keywords;
	uint64_t       modseq;
	int64_t        savedate;	/* now: every save sets its own */
};

static int
msg_insert(struct store *s, const struct msg_ins *m)
{
	sqlite3_stmt *st = db_stmt(&s->db, s->objids ? SQL_MSG_INSERT :
	    SQL_MSG_INSERT_V10);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->mbox_id);
	sqlite3_bind_int64(st, 2, m->uid);
	sqlite3_bind_int64(st, 3, m->body_id);
	sqlite3_bind_int64(st, 4, (int64_t)m->size);
	sqlite3_bind_int64(st, 5, m->date.t);
	sqlite3_bind_int(st, 6, m->date.tz);
	sqlite3_bind_int(st, 7, (int)(m->flags & MF_ALL));
	sqlite3_bind_text(st, 8, m->keywords, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, (int64_t)m->modseq);
	if (s->objids)
		sqlite3_bind_int64(st, 10, m->savedate);
	/* New mail is what no client can send again: on disk before OK. */
	db_sync_at_commit(&s->db);
	return db_run(&s->db, st, "message insert");
}

static int
uid_space(struct store *s, uint32_t uidnext)
{
	/* UIDs are 32-bit; UIDNEXT itself must still fit. */
	if (uidnext == 0 || uidnext >= UINT32_MAX)
		return db_err(&s->db, MK_INVALID, "UID space of the mailbox "
		    "is exhausted");
	return 0;
}

/* One message into cur, whose row is current: its counters go to *d,
 * for the caller to write. */
static int
append_one(struct store *s, struct mbox *cur, const struct msg_new *n,
    const struct msg_prep *p, bool defer, uint32_t *uid, struct mbox_delta *d)
{
	struct fts_doc doc;
	struct msg_ins mi;
	struct buf preview;
	char *kw = NULL;
	int rc;

	fts_doc_init(s, &doc);
	buf_init(&preview, 0);
	(void)buf_reserve(&preview, 64);	/* buf_ptr() valid when empty */
	mi.uid = n->uid >= cur->uidnext ? n->uid : cur->uidnext;
	if ((rc = uid_space(s, mi.uid)) != 0 ||
	    (rc = kw_normalize(s, cur->id, n->keywords, &kw)) != 0)
		goto out;
	mi.mbox_id = cur->id;
	mi.size = p->len;
	mi.date = n->internaldate;
	mi.flags = n->flags & MF_ALL;
	mi.keywords = kw;
	mi.modseq = cur->highestmodseq + 1;
	mi.savedate = (int64_t)time(NULL);
	if ((rc = body_insert(s, p, &doc, &preview, &mi.body_id)) != 0 ||
	    (rc = msg_insert(s, &mi)) != 0 ||
	    (rc = defer ? fts_doc_defer(s, msg_id(mi.mbox_id, mi.uid), &doc) :
	    fts_doc_put(s, msg_id(mi.mbox_id, mi.uid), &doc)) != 0)
		goto out;
	mbox_delta_row(d, mi.flags, mi.size, 1);
	cur->uidnext = mi.uid + 1;
	cur->highestmodseq = mi.modseq;
	*uid = mi.uid;
out:
	fts_doc_free(&doc);
	buf_free(&preview);
	free(kw);
	return rc;
}

static int
append_txn(struct store *s, struct mbox *cur, const struct msg_new *n,
    const struct msg_prep *p, bool defer, uint32_t *uid)
{
	struct mbox_delta d = { 0 };
	int rc;

	/* an append run's row first, or the reload would read it stale */
	if ((rc = append_run_flush(s)) != 0 ||
	    (rc = mbox_reload(s, cur)) != 0 ||
	    (rc = append_one(s, cur, n, p, defer, uid, &d)) != 0 ||
	    (rc = mbox_update(s, cur->id, cur->uidnext, cur->highestmodseq,
	    &d)) != 0)
		return rc;
	return quota_add(s, d.bytes, d.msgs);
}

static int
zone_check(struct store *s, const struct msg_new *n)
{
	if (n->internaldate.tz < -MK_TZ_MAX_MIN ||
	    n->internaldate.tz > MK_TZ_MAX_MIN)
		return db_err(&s->db, MK_INVALID, "zone out of range");
	return 0;
}

int
store_msg_append_prep(struct store *s, struct mbox *m, const struct msg_new *n,
    const struct msg_prep *p, uint32_t *uid)
{
	struct mbox cur = *m;
	enum db_txn t;
	int rc;

	if ((rc = zone_check(s, n)) != 0)
		return rc;
	if ((rc = db_txn_enter(&s->db, &t)) == 0) {
		rc = db_txn_leave(&s->db, t, append_txn(s, &cur, n, p,
		    t == TXN_SAVEPOINT, uid));
		if (rc == 0)
			*m = cur;
	}
	return rc;
}

/* A savepoint per message, as above, made SQLite keep an undo copy of
 * each page the message touched (some twenty: the last leaf of every
 * table and index it goes in) for a ROLLBACK TO that MULTIAPPEND never
 * needs, since its failure rolls back the whole command.  Past 64 KiB
 * that copy went through a temporary file: most of a fill's writes.
 * Likewise the mailbox row is read at the first message and written,
 * with the quota, once before the COMMIT (store_msg_append_end(), or
 * store_commit()): no other writer can come between in the
 * transaction, and a message each was three statements more. */
int
store_msg_append_in(struct store *s, struct mbox *m, const struct msg_new *n,
    const struct msg_prep *p, uint32_t *uid)
{
	struct append_run *r = &s->run;
	struct mbox cur;
	int rc;

	if (!store_in_transaction(s))
		return db_err(&s->db, -1, "APPEND outside a transaction");
	if ((rc = zone_check(s, n)) != 0)
		return rc;
	if (r->open && r->m.id != m->id && (rc = append_run_flush(s)) != 0)
		return rc;
	if (!r->open) {
		r->m = *m;
		if ((rc = mbox_reload(s, &r->m)) != 0)
			return rc;
		memset(&r->d, 0, sizeof(r->d));
		r->open = true;
	}
	cur = r->m;
	if ((rc = append_one(s, &cur, n, p, true, uid, &r->d)) != 0)
		return rc;
	r->m = cur;
	*m = cur;
	return 0;
}

int
store_msg_append_end(struct store *s)
{
	return append_run_flush(s);
}

int
append_run_flush(struct store *s)
{
	struct append_run *r = &s->run;
	int rc;

	if (!r->open)
		return 0;
	r->open = false;
	if ((rc = mbox_update(s, r->m.id, r->m.uidnext, r->m.highestmodseq,
	    &r->d)) != 0)
		return rc;
	return quota_add(s, r->d.bytes, r->d.msgs);
}

void
append_run_drop(struct store *s)
{
	s->run.open = false;
}

int
store_msg_append(struct store *s, struct mbox *m, const struct msg_new *n,
    uint32_t *uid)
{
	/* Parts holding NUL octets (a binary APPEND) are stored in base64
	 * (RFC 3516); then mail with bare LF line ends is stored with CRLF,
	 * so that what we send, and every size we report, is the RFC 5322
	 * form (store_prep.c). */
	struct msg_src src = { .data = n->data, .len = n->len, .file = false };
	struct msg_prep *p;
	int rc;

	if (store_msg_prepare(&src, NULL, &p) != 0)
		return db_err(&s->db, -1, "out of memory");
	rc = store_msg_append_prep(s, m, n, p, uid);
	store_msg_prep_free(p);
	return rc;
}

/* ---- reading ---- */

/* Steps st (bound) and hands every row to cb; stops at cb's non-zero. */
static int
rows_each(struct store *s, sqlite3_stmt *st, int64_t mbox_id,
    int (*cb)(const struct msg_row *r, void *arg), void *arg)
{
	struct msg_row r;
	int rc = 0, step = SQLITE_DONE;

	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		msg_row_read(st, mbox_id, &r);
		rc = cb(&r, arg);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&s->db, "messages");
	db_done(&s->db, st);
	return rc;
}

int
store_msg_foreach(struct store *s, const struct mbox *m,
    const struct seqset *uids,
    int (*cb)(const struct msg_row *r, void *arg), void *arg)
{
	sqlite3_stmt *st;
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < uids->n; i++) {
		if (uids->r[i].hi < uids->r[i].lo)
			continue;
		st = db_stmt(&s->db, "SELECT " MSG_COLS " FROM messages"
		    " WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3"
		    " ORDER BY uid");
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, m->id);
		sqlite3_bind_int64(st, 2, uids->r[i].lo);
		sqlite3_bind_int64(st, 3, uids->r[i].hi);
		rc = rows_each(s, st, m->id, cb, arg);
	}
	return rc;
}

/* Four columns rather than MSG_COLS's eight: SQLite's cost per row is
 * mostly per column read, and FETCH FLAGS of a whole mailbox steps
 * every row (issue 11). */
int
store_msg_flags_each(struct store *s, const struct mbox *m, uint32_t lo,
    uint32_t hi, int (*cb)(const struct msg_row *r, void *arg), void *arg)
{
	/* No upper bound in SQL: the loop's own test costs less than
	 * SQLite's record comparison on every row. */
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT uid, flags, keywords,"
	    " modseq FROM messages WHERE mailbox_id = ?1 AND uid >= ?2"
	    " ORDER BY uid");
	struct msg_row r;
	int rc = 0, step = SQLITE_DONE;

	if (st == NULL)
		return -1;
	memset(&r, 0, sizeof(r));
	sqlite3_bind_int64(st, 1, m->id);
	sqlite3_bind_int64(st, 2, lo);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *kw;
		int64_t uid = sqlite3_column_int64(st, 0);
		if (uid > hi) {
			step = SQLITE_DONE;
			break;
		}
		kw = sqlite3_column_text(st, 2);
		r.uid = (uint32_t)uid;
		r.id = msg_id(m->id, r.uid);
		r.flags = (unsigned)sqlite3_column_int(st, 1);
		r.keywords = kw ? (const char *)kw : "";
		r.modseq = (uint64_t)sqlite3_column_int64(st, 3);
		rc = cb(&r, arg);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&s->db, "messages");
	db_done(&s->db, st);
	return rc;
}

/* Whether fewer than limit rows of the mailbox have modseq > since: then
 * the modseq index wins over reading the mailbox in UID order. */
static int
modseq_few(struct store *s, int64_t mbox_id, uint64_t since, int64_t limit,
    bool *few)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT count(*) FROM (SELECT 1"
	    " FROM messages INDEXED BY messages_modseq WHERE mailbox_id = ?1"
	    " AND modseq > ?2 LIMIT ?3)");
	int rc = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)MK_MIN(since, (uint64_t)INT64_MAX));
	sqlite3_bind_int64(st, 3, limit);
	if (sqlite3_step(st) == SQLITE_ROW)
		*few = sqlite3_column_int64(st, 0) < limit;
	else
		rc = db_fail(&s->db, "modseq count");
	db_done(&s->db, st);
	return rc;
}

int
store_msg_changed_since(struct store *s, const struct mbox *m,
    uint64_t modseq, int (*cb)(const struct msg_row *r, void *arg), void *arg)
{
	sqlite3_stmt *st;
	bool few = false;
	int rc;

	if ((rc = modseq_few(s, m->id, modseq, CHANGED_INDEX_LIMIT, &few)) != 0)
		return rc;
	st = db_stmt(&s->db, few ?
	    "SELECT " MSG_COLS " FROM messages INDEXED BY messages_modseq"
	    " WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid" :
	    "SELECT " MSG_COLS " FROM messages"
	    " WHERE mailbox_id = ?1 AND +modseq > ?2 ORDER BY uid");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	sqlite3_bind_int64(st, 2, (int64_t)MK_MIN(modseq, (uint64_t)INT64_MAX));
	return rows_each(s, st, m->id, cb, arg);
}

int
store_expunged_since(struct store *s, const struct mbox *m, uint64_t modseq,
    int (*cb)(uint32_t uid, uint64_t modseq, void *arg), void *arg)
{
	/* By MODSEQ, then sorted: without the hint SQLite walks every UID
	 * the mailbox ever expunged to avoid the sort, and the table only
	 * grows. */
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT uid, modseq FROM expunged"
	    " INDEXED BY expunged_modseq"
	    " WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid");
	int rc = 0, step = SQLITE_DONE;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	sqlite3_bind_int64(st, 2, (int64_t)MK_MIN(modseq, (uint64_t)INT64_MAX));
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = cb((uint32_t)sqlite3_column_int64(st, 0),
		    (uint64_t)sqlite3_column_int64(st, 1), arg);
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&s->db, "expunged");
	db_done(&s->db, st);
	return rc;
}

int
store_expunged_floor(struct store *s, const struct mbox *m, uint64_t *floor)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT expunged_floor FROM"
	    " mailboxes WHERE id = ?1");
	int rc = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	*floor = 0;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*floor = (uint64_t)sqlite3_column_int64(st, 0);
		break;
	case SQLITE_DONE:
		rc = MK_NOTFOUND;
		break;
	default:
		rc = db_fail(&s->db, "expunged floor");
	}
	db_done(&s->db, st);
	return rc;
}

/* The MODSEQ of m's nth newest expunged row (0 if there are fewer). */
static int
expunged_nth_newest(struct store *s, int64_t mbox_id, uint32_t n,
    uint64_t *modseq)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT modseq FROM expunged"
	    " WHERE mailbox_id = ?1 ORDER BY modseq DESC LIMIT 1 OFFSET ?2");
	int rc = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_int64(st, 2, n);
	*modseq = 0;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*modseq = (uint64_t)sqlite3_column_int64(st, 0);
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = db_fail(&s->db, "expunged window");
	}
	db_done(&s->db, st);
	return rc;
}

static int
prune_txn(struct store *s, int64_t mbox_id, uint64_t cut)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = db_stmt(&s->db, "DELETE FROM expunged"
	    " WHERE mailbox_id = ?1 AND modseq <= ?2")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)cut);
	if ((rc = db_run(&s->db, st, "prune expunged")) != 0)
		return rc;
	if ((st = db_stmt(&s->db, "UPDATE mailboxes SET expunged_floor ="
	    " MAX(expunged_floor, ?2) WHERE id = ?1")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)cut);
	return db_run(&s->db, st, "expunged floor");
}

int
store_expunged_prune(struct store *s, const struct mbox *m, uint32_t keep,
    uint64_t below)
{
	uint64_t over, cut;
	enum db_txn t;
	int rc;

	if (keep == 0)
		return 0;
	/* Rows sharing the cut's MODSEQ go together, so the floor stays
	 * exact: every row above it is still there. */
	if ((rc = expunged_nth_newest(s, m->id, keep + keep / 8, &over)) != 0 ||
	    over == 0 ||
	    (rc = expunged_nth_newest(s, m->id, keep, &cut)) != 0)
		return rc;
	cut = MK_MIN(cut, below);
	if (cut == 0)
		return 0;
	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	return db_txn_leave(&s->db, t, prune_txn(s, m->id, cut));
}

/* ---- flags ---- */

/* One call usually gives many rows the same keyword list: normalize
 * each distinct list once. */
struct kw_memo {
	char *in, *out;
};

static int
kw_memo_get(struct store *s, int64_t mbox_id, struct kw_memo *mc,
    const char *in, const char **out)
{
	char *res;
	int rc;

	if (in == NULL)
		in = "";
	if (mc->in != NULL && strcmp(mc->in, in) == 0) {
		*out = mc->out;
		return 0;
	}
	if ((rc = kw_normalize(s, mbox_id, in, &res)) != 0)
		return rc;
	free(mc->in);
	free(mc->out);
	mc->in = xstrdup(in);
	mc->out = res;
	*out = res;
	return 0;
}

static void
kw_memo_free(struct kw_memo *mc)
{
	free(mc->in);
	free(mc->out);
}

struct msg_old {
	int64_t  body_id;
	uint64_t size;
	unsigned flags;
	char    *keywords;
};

static int
msg_get(struct store *s, int64_t mbox_id, uint32_t uid, struct msg_old *o)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT body_id, size, flags,"
	    " keywords FROM messages WHERE mailbox_id = ?1 AND uid = ?2");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_int64(st, 2, uid);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		o->body_id = sqlite3_column_int64(st, 0);
		o->size = (uint64_t)sqlite3_column_int64(st, 1);
		o->flags = (unsigned)sqlite3_column_int(st, 2);
		o->keywords = xstrdup(sqlite3_column_text(st, 3) ?
		    (const char *)sqlite3_column_text(st, 3) : "");
		rc = 0;
	} else
		rc = rc == SQLITE_DONE ? MK_NOTFOUND : db_fail(&s->db, "message");
	db_done(&s->db, st);
	return rc;
}

static int
flags_write(struct store *s, int64_t mbox_id, uint32_t uid, unsigned flags,
    const char *kw, uint64_t modseq)
{
	sqlite3_stmt *st = db_stmt(&s->db, "UPDATE messages SET flags = ?3,"
	    " keywords = ?4, modseq = ?5 WHERE mailbox_id = ?1 AND uid = ?2");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int(st, 3, (int)flags);
	sqlite3_bind_text(st, 4, kw, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)modseq);
	return db_run(&s->db, st, "flags");
}

/* Applies one change; *modseq is taken from cur on the first real one. */
static int
flag_change_one(struct store *s, struct mbox *cur, struct kw_memo *mc,
    const struct flag_change *ch, uint64_t *modseq, struct mbox_delta *d)
{
	struct msg_old o;
	const char *kw;
	unsigned flags = ch->flags & MF_ALL;
	int rc;

	if ((rc = msg_get(s, cur->id, ch->uid, &o)) != 0)
		return rc == MK_NOTFOUND ? 0 : rc;
	if ((rc = kw_memo_get(s, cur->id, mc, ch->keywords, &kw)) == 0 &&
	    (flags != o.flags || strcmp(kw, o.keywords) != 0)) {
		if (*modseq == 0)
			*modseq = cur->highestmodseq + 1;
		rc = flags_write(s, cur->id, ch->uid, flags, kw, *modseq);
		mbox_delta_row(d, o.flags, o.size, -1);
		mbox_delta_row(d, flags, o.size, 1);
	}
	free(o.keywords);
	return rc;
}

static int
set_flags_txn(struct store *s, struct mbox *cur, const struct flag_change *ch,
    size_t n, uint64_t *modseq)
{
	struct mbox_delta d = { 0 };
	struct kw_memo mc = { NULL, NULL };
	size_t i;
	int rc;

	*modseq = 0;
	if ((rc = mbox_reload(s, cur)) != 0)
		return rc;
	for (i = 0; rc == 0 && i < n; i++)
		rc = flag_change_one(s, cur, &mc, &ch[i], modseq, &d);
	kw_memo_free(&mc);
	if (rc != 0 || *modseq == 0)
		return rc;
	if ((rc = mbox_update(s, cur->id, cur->uidnext, *modseq, &d)) == 0)
		cur->highestmodseq = *modseq;
	return rc;
}

int
store_msg_set_flags(struct store *s, struct mbox *m,
    const struct flag_change *ch, size_t n, uint64_t *modseq)
{
	struct mbox cur = *m;
	enum db_txn t;
	uint64_t ms = 0;
	int rc;

	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	rc = db_txn_leave(&s->db, t, set_flags_txn(s, &cur, ch, n, &ms));
	if (rc != 0)
		return rc;
	*m = cur;
	if (modseq != NULL)
		*modseq = ms != 0 ? ms : cur.highestmodseq;
	return 0;
}

/* ---- EXPUNGE ---- */

static int
body_unref(struct store *s, int64_t body_id)
{
	sqlite3_stmt *st = db_stmt(&s->db, "UPDATE bodies SET refs = refs - 1"
	    " WHERE id = ?1 RETURNING refs");
	int64_t refs = 1;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		refs = sqlite3_column_int64(st, 0);
	if (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : db_fail(&s->db, "body unref");
	db_done(&s->db, st);
	if (rc != 0 || refs > 0)
		return rc;
	/* The last message using it is gone; body_data follows (cascade),
	 * body_chunks too (trigger, schema 12). */
	if ((st = db_stmt(&s->db, "DELETE FROM bodies WHERE id = ?1")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	return db_run(&s->db, st, "body delete");
}

/* What store_msg_expunge_held() was asked to keep. */
struct expunge_hold {
	bool (*hold)(uint32_t uid, void *arg);
	int  (*keep)(const struct msg_row *r, void *arg);
	void  *arg;
};

/* Hands the row to keep() and takes one hold on its body: the body
 * outlives the row until store_body_release(). */
static int
hold_row(struct store *s, int64_t mbox_id, uint32_t uid,
    const struct expunge_hold *h)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT " MSG_COLS " FROM messages"
	    " WHERE mailbox_id = ?1 AND uid = ?2");
	struct msg_row r;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_int64(st, 2, uid);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		rc = db_fail(&s->db, "held row");
		db_done(&s->db, st);
		return rc;
	}
	msg_row_read(st, mbox_id, &r);
	rc = h->keep(&r, h->arg);
	db_done(&s->db, st);
	if (rc != 0)
		return rc;
	if ((st = db_stmt(&s->db, "INSERT INTO held (body_id, n) VALUES (?1, 1)"
	    " ON CONFLICT (body_id) DO UPDATE SET n = n + 1")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, r.body_id);
	return db_run(&s->db, st, "hold body");
}

static int
expunge_one(struct store *s, struct mbox *cur, uint32_t uid, uint64_t *modseq,
    struct mbox_delta *d, const struct expunge_hold *h)
{
	struct msg_old o;
	sqlite3_stmt *st;
	bool held = false;
	int rc;

	if ((rc = msg_get(s, cur->id, uid, &o)) != 0)
		return rc == MK_NOTFOUND ? 0 : rc;
	free(o.keywords);
	if (h != NULL && h->hold(uid, h->arg)) {
		if ((rc = hold_row(s, cur->id, uid, h)) != 0)
			return rc;
		held = true;
	}
	if (*modseq == 0)
		*modseq = cur->highestmodseq + 1;
	if ((st = db_stmt(&s->db, "DELETE FROM messages"
	    " WHERE mailbox_id = ?1 AND uid = ?2")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cur->id);
	sqlite3_bind_int64(st, 2, uid);
	if ((rc = db_run(&s->db, st, "expunge")) != 0 ||
	    (rc = fts_drop(s, msg_id(cur->id, uid))) != 0)
		return rc;
	if ((st = db_stmt(&s->db, "INSERT OR REPLACE INTO expunged"
	    " (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cur->id);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int64(st, 3, (int64_t)*modseq);
	if ((rc = db_run(&s->db, st, "expunged")) != 0)
		return rc;
	mbox_delta_row(d, o.flags, o.size, -1);
	/* A held body keeps the reference the message had. */
	return held ? 0 : body_unref(s, o.body_id);
}

static int
expunge_txn(struct store *s, struct mbox *cur, const uint32_t *uids, size_t n,
    const struct expunge_hold *h)
{
	struct mbox_delta d = { 0 };
	uint64_t modseq = 0;
	size_t i;
	int rc;

	if ((rc = mbox_reload(s, cur)) != 0)
		return rc;
	for (i = 0; rc == 0 && i < n; i++)
		rc = expunge_one(s, cur, uids[i], &modseq, &d, h);
	if (rc != 0 || modseq == 0)
		return rc;
	if ((rc = mbox_update(s, cur->id, cur->uidnext, modseq, &d)) != 0 ||
	    (rc = quota_add(s, d.bytes, d.msgs)) != 0)
		return rc;
	cur->highestmodseq = modseq;
	return 0;
}

int
store_msg_expunge(struct store *s, struct mbox *m, const uint32_t *uids,
    size_t n)
{
	struct mbox cur = *m;
	enum db_txn t;
	int rc;

	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	if ((rc = db_txn_leave(&s->db, t, expunge_txn(s, &cur, uids, n,
	    NULL))) == 0)
		*m = cur;
	return rc;
}

int
store_msg_expunge_held(struct store *s, struct mbox *m, const uint32_t *uids,
    size_t n, bool (*hold)(uint32_t uid, void *arg),
    int (*keep)(const struct msg_row *r, void *arg), void *arg)
{
	struct expunge_hold h = { hold, keep, arg };
	struct mbox cur = *m;
	enum db_txn t;
	int rc;

	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	if ((rc = db_txn_leave(&s->db, t, expunge_txn(s, &cur, uids, n,
	    &h))) == 0)
		*m = cur;
	return rc;
}

static int
release_txn(struct store *s, int64_t body_id)
{
	sqlite3_stmt *st = db_stmt(&s->db, "UPDATE held SET n = n - 1"
	    " WHERE body_id = ?1 RETURNING n");
	int64_t left = -1;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		left = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	rc = rc == SQLITE_DONE ? 0 : db_fail(&s->db, "release");
	db_done(&s->db, st);
	if (rc != 0 || left < 0)
		return rc;	/* not held (released at start-up already) */
	if (left == 0) {
		if ((st = db_stmt(&s->db,
		    "DELETE FROM held WHERE body_id = ?1")) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, body_id);
		if ((rc = db_run(&s->db, st, "release")) != 0)
			return rc;
	}
	return body_unref(s, body_id);
}

int
store_body_release(struct store *s, int64_t body_id)
{
	enum db_txn t;
	int rc;

	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	return db_txn_leave(&s->db, t, release_txn(s, body_id));
}

static int
release_all_txn(struct store *s)
{
	/* Parenthesized: one statement each, however many pieces. */
	static const char *const sql[] = {
		("UPDATE bodies SET refs = refs - (SELECT n FROM held"
		" WHERE held.body_id = bodies.id)"
		" WHERE id IN (SELECT body_id FROM held)"),
		("DELETE FROM bodies WHERE refs <= 0"
		" AND id IN (SELECT body_id FROM held)"),
		"DELETE FROM held",
	};
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < nitems(sql); i++) {
		sqlite3_stmt *st = db_stmt(&s->db, sql[i]);
		if (st == NULL)
			return -1;
		rc = db_run(&s->db, st, "release all");
	}
	return rc;
}

int
store_held_release_all(struct store *s)
{
	enum db_txn t;
	int rc;

	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	return db_txn_leave(&s->db, t, release_all_txn(s));
}

/* ---- COPY ---- */

struct copy_state {
	struct mbox      src, dst;
	struct kw_memo   mc;
	struct mbox_delta d;
	uint64_t         modseq;
};

static int
copy_one(struct store *s, struct copy_state *c, uint32_t uid, uint32_t *newuid)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT body_id, size, internaldate,"
	    " tz, flags, keywords FROM messages WHERE mailbox_id = ?1"
	    " AND uid = ?2");
	struct msg_ins mi;
	char *srckw;
	int rc;

	*newuid = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, c->src.id);
	sqlite3_bind_int64(st, 2, uid);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? 0 : db_fail(&s->db, "copy read");
		db_done(&s->db, st);
		return rc;	/* gone already: nothing to copy */
	}
	mi.body_id = sqlite3_column_int64(st, 0);
	mi.size = (uint64_t)sqlite3_column_int64(st, 1);
	mi.date.t = sqlite3_column_int64(st, 2);
	mi.date.tz = sqlite3_column_int(st, 3);
	mi.flags = (unsigned)sqlite3_column_int(st, 4);
	srckw = xstrdup((const char *)sqlite3_column_text(st, 5));
	db_done(&s->db, st);
	/* Keywords are defined per mailbox: respell them for dst. */
	rc = kw_memo_get(s, c->dst.id, &c->mc, srckw, &mi.keywords);
	free(srckw);
	if (rc != 0 || (rc = uid_space(s, c->dst.uidnext)) != 0)
		return rc;
	if (c->modseq == 0)
		c->modseq = c->dst.highestmodseq + 1;
	mi.mbox_id = c->dst.id;
	mi.uid = c->dst.uidnext;
	mi.modseq = c->modseq;
	mi.savedate = (int64_t)time(NULL);
	if ((rc = msg_insert(s, &mi)) != 0 ||
	    (rc = fts_copy(s, msg_id(c->src.id, uid),
	    msg_id(mi.mbox_id, mi.uid))) != 0)
		return rc;
	if ((st = db_stmt(&s->db,
	    "UPDATE bodies SET refs = refs + 1 WHERE id = ?1")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mi.body_id);
	if ((rc = db_run(&s->db, st, "body ref")) != 0)
		return rc;
	mbox_delta_row(&c->d, mi.flags, mi.size, 1);
	*newuid = c->dst.uidnext++;
	return 0;
}

static int
copy_txn(struct store *s, struct copy_state *c, const uint32_t *uids,
    size_t n, uint32_t *newuids)
{
	size_t i;
	int rc;

	if ((rc = mbox_reload(s, &c->src)) != 0 ||
	    (rc = mbox_reload(s, &c->dst)) != 0)
		return rc;
	for (i = 0; rc == 0 && i < n; i++)
		rc = copy_one(s, c, uids[i], &newuids[i]);
	if (rc != 0 || c->modseq == 0)
		return rc;
	if ((rc = mbox_update(s, c->dst.id, c->dst.uidnext, c->modseq,
	    &c->d)) != 0 || (rc = quota_add(s, c->d.bytes, c->d.msgs)) != 0)
		return rc;
	c->dst.highestmodseq = c->modseq;
	if (c->src.id == c->dst.id)
		c->src = c->dst;
	return 0;
}

int
store_msg_copy(struct store *s, struct mbox *src, struct mbox *dst,
    const uint32_t *uids, size_t n, uint32_t *newuids)
{
	struct copy_state c;
	enum db_txn t;
	int rc;

	memset(&c, 0, sizeof(c));
	c.src = *src;
	c.dst = *dst;
	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	rc = db_txn_leave(&s->db, t, copy_txn(s, &c, uids, n, newuids));
	kw_memo_free(&c.mc);
	if (rc == 0) {
		*src = c.src;
		*dst = c.dst;
	}
	return rc;
}
