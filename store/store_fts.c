/*
 * store_fts.c - the full-text index of a user's store (schema version 5):
 * SQLite FTS5 with the trigram tokenizer, no service beside SQLite.
 *
 * fts(rowid, subject, hfrom, hto, hcc, hbcc, headers, body)
 *     One row per message, rowid (mailbox id << 32) | uid, as msg_row.id,
 *     so a MATCH restricted to one mailbox's rowid range yields its UIDs
 *     in order.  The columns hold what SEARCH compares with, already
 *     folded (mime_fts_doc()), and the tokenizer is case-sensitive: the
 *     index sees the very bytes the scan would, so a trigram phrase
 *     query is the scan's substring test (doc/search.md).  A regular
 *     (content-keeping) FTS5 table: deleting a row needs its text, and
 *     a contentless table would need the text recomputed, exactly, at
 *     every expunge.
 * fts_pending(id, state)
 *     Messages whose text the index does not hold: state 0 waits for the
 *     batch indexer, 1 cannot be indexed (text beyond FTS_TEXT_MAX,
 *     damaged part table).  SEARCH scans these.  Triggers on messages
 *     keep it: every new message starts here, and leaves when indexed.
 * meta 'fts'
 *     1 while the index is kept by every change; 0 when it is not (a new
 *     or migrated store, or one opened by a SQLite without FTS5 trigram):
 *     then, at the next open that can, the table is built anew, empty,
 *     with every message pending.
 *
 * The migration itself is cheap (a table and triggers): a large store is
 * indexed in batches afterwards (store_fts_index(), by the mailbox
 * process when idle and by mailkeepctl fts-rebuild), each batch its own
 * short transaction, and SEARCH stays exact meanwhile.
 *
 * Every statement on fts runs only when s->fts: FTS5 cannot be used in
 * a trigger of a schema that is not trusted (PRAGMA trusted_schema=OFF),
 * so expunge, mailbox deletion and INBOX renaming call in here.
 */
#include "store/store_int.h"
#include "store/mime.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/log.h"
#include "common/util.h"

/* Text of one message beyond this is not indexed (scanned instead). */
#define FTS_TEXT_MAX (4u << 20)

bool store_fts_unavailable;

const char store_schema_fts[] =
	"CREATE TABLE fts_pending ("
	"  id INTEGER PRIMARY KEY,"
	"  state INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TRIGGER fts_pending_add AFTER INSERT ON messages BEGIN"
	"  INSERT OR IGNORE INTO fts_pending (id)"
	"    VALUES ((new.mailbox_id << 32) | new.uid);"
	"END;"
	"CREATE TRIGGER fts_pending_del AFTER DELETE ON messages BEGIN"
	"  DELETE FROM fts_pending WHERE id = (old.mailbox_id << 32) | old.uid;"
	"END;"
	"CREATE TRIGGER fts_pending_move AFTER UPDATE OF mailbox_id ON messages"
	" BEGIN"
	"  UPDATE fts_pending SET id = (new.mailbox_id << 32) | new.uid"
	"    WHERE id = (old.mailbox_id << 32) | old.uid;"
	"END;"
	"INSERT INTO meta (key, value) VALUES ('fts', 0);";

#define FTS_COLS "subject, hfrom, hto, hcc, hbcc, headers, body"

static const char SQL_CREATE[] =
	"CREATE VIRTUAL TABLE fts USING fts5(" FTS_COLS ","
	" tokenize = 'trigram case_sensitive 1', detail = full)";

const char *const store_fts_cols[MIME_FTS_NCOLS] = {
	"subject", "hfrom", "hto", "hcc", "hbcc", "headers", "body",
};

/* ---- availability ---- */

/* Can this SQLite keep the index?  Asked of the library at run time (it
 * is a shared library: not necessarily the one we were built with):
 * FTS5 answers fts5_source_id(), and its trigram tokenizer, with the
 * case_sensitive option, came with 3.34.0. */
static bool
fts_capable(struct store *s)
{
	char *msg = NULL;
	int rc;

	if (store_fts_unavailable)
		return false;
	if (sqlite3_libversion_number() < 3034000) {
		log_info("full-text index unavailable (SQLite %s has no trigram "
		    "tokenizer); SEARCH reads messages", sqlite3_libversion());
		return false;
	}
	rc = sqlite3_exec(s->db.h, "SELECT fts5_source_id()", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		log_info("full-text index unavailable (SQLite %s: %s); SEARCH "
		    "reads messages", sqlite3_libversion(), msg ? msg : "?");
	sqlite3_free(msg);
	return rc == SQLITE_OK;
}

static int
meta_fts(struct store *s, int64_t *v)
{
	sqlite3_stmt *st = db_stmt(&s->db,
	    "SELECT value FROM meta WHERE key = 'fts'");
	int rc;

	if (st == NULL)
		return -1;
	*v = 0;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    db_fail(&s->db, "fts state");
	db_done(&s->db, st);
	return rc;
}

static int
exec_list(struct store *s, const char *const *sql, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st = db_stmt(&s->db, sql[i]);
		int rc;

		if (st == NULL)
			return -1;
		if ((rc = db_run(&s->db, st, "fts")) != 0)
			return rc;
	}
	return 0;
}

/* A new, empty index with every message pending. */
static int
fts_create(struct store *s)
{
	static const char *const sql[] = {
		"DROP TABLE IF EXISTS fts",
		SQL_CREATE,
		"DELETE FROM fts_pending",
		"INSERT INTO fts_pending (id)"
		" SELECT (mailbox_id << 32) | uid FROM messages",
		"UPDATE meta SET value = 1 WHERE key = 'fts'",
	};

	return exec_list(s, sql, nitems(sql));
}

static int
fts_open_txn(struct store *s, bool capable)
{
	int64_t v;
	int rc;

	if ((rc = meta_fts(s, &v)) != 0)
		return rc;
	if (capable && v != 1)
		return fts_create(s);
	if (!capable && v == 1) {
		/* Changes made now would not reach the index: it must be
		 * built anew by a SQLite that can. */
		static const char *const sql[] = {
			"UPDATE meta SET value = 0 WHERE key = 'fts'",
		};
		return exec_list(s, sql, nitems(sql));
	}
	return 0;
}

int
store_fts_open(struct store *s)
{
	bool capable = fts_capable(s);
	enum db_txn t;
	int64_t v;
	int rc;

	s->fts = false;
	s->fts_write = true;
	if ((rc = meta_fts(s, &v)) != 0)
		return rc;
	if ((capable && v == 1) || (!capable && v == 0)) {
		s->fts = capable;
		return 0;
	}
	if ((rc = db_txn_enter(&s->db, &t)) != 0 ||
	    (rc = db_txn_leave(&s->db, t, fts_open_txn(s, capable))) != 0)
		return rc;
	s->fts = capable;
	return 0;
}

bool
store_fts_on(struct store *s)
{
	return s->fts;
}

void
store_fts_write(struct store *s, bool on)
{
	s->fts_write = on;
}

/* ---- one message's row ---- */

void
fts_doc_init(struct store *s, struct fts_doc *d)
{
	d->on = s->fts && s->fts_write;
	d->rc = -1;
	for (int i = 0; i < MIME_FTS_NCOLS; i++)
		buf_init(&d->col[i], 0);
}

void
fts_doc_make(struct fts_doc *d, const char *msg, size_t len,
    const void *parts, size_t plen)
{
	if (d->on)
		d->rc = mime_fts_doc(msg, len, parts, plen, FTS_TEXT_MAX,
		    d->col);
}

void
fts_doc_free(struct fts_doc *d)
{
	for (int i = 0; i < MIME_FTS_NCOLS; i++)
		buf_free(&d->col[i]);
}

static int
pending_set(struct store *s, int64_t id, const char *sql)
{
	sqlite3_stmt *st = db_stmt(&s->db, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return db_run(&s->db, st, "fts pending");
}

int
fts_doc_put(struct store *s, int64_t id, const struct fts_doc *d)
{
	sqlite3_stmt *st;
	int rc;

	if (!d->on)
		return 0;	/* stays pending (the trigger put it there) */
	if (d->rc != 0)
		return pending_set(s, id,
		    "UPDATE fts_pending SET state = 1 WHERE id = ?1");
	st = db_stmt(&s->db, "INSERT INTO fts (rowid, " FTS_COLS ")"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	for (int i = 0; i < MIME_FTS_NCOLS; i++)
		/* an empty buffer may have no storage at all */
		sqlite3_bind_text64(st, i + 2, buf_len(&d->col[i]) ?
		    buf_ptr(&d->col[i]) : "", buf_len(&d->col[i]),
		    SQLITE_STATIC, SQLITE_UTF8);
	if ((rc = db_run(&s->db, st, "fts insert")) != 0)
		return rc;
	return pending_set(s, id, "DELETE FROM fts_pending WHERE id = ?1");
}

/* Queued texts beyond this are written at once (still correct, in the
 * caller's transaction; only slower). */
#define FTS_QUEUE_MAX (16u << 20)

struct fts_queued {
	int64_t        id;
	struct fts_doc doc;
};

static size_t
doc_bytes(const struct fts_doc *d)
{
	size_t n = 0;

	for (int i = 0; i < MIME_FTS_NCOLS; i++)
		n += buf_len(&d->col[i]);
	return n;
}

int
fts_doc_defer(struct store *s, int64_t id, struct fts_doc *d)
{
	struct fts_queued *q;

	if (!d->on || d->rc != 0)
		return fts_doc_put(s, id, d);
	if (s->nfq == s->capfq) {
		s->capfq = s->capfq ? s->capfq * 2 : 64;
		s->fq = xreallocarray(s->fq, s->capfq, sizeof(*s->fq));
	}
	q = &s->fq[s->nfq++];
	q->id = id;
	q->doc = *d;
	s->fq_bytes += doc_bytes(d);
	/* the texts are the queue's now */
	for (int i = 0; i < MIME_FTS_NCOLS; i++)
		buf_init(&d->col[i], 0);
	return s->fq_bytes > FTS_QUEUE_MAX ? fts_queue_flush(s) : 0;
}

void
fts_queue_drop(struct store *s)
{
	for (size_t i = 0; i < s->nfq; i++)
		fts_doc_free(&s->fq[i].doc);
	s->nfq = 0;
	s->fq_bytes = 0;
}

/* A queued message may have gone since (an expunge in the same
 * transaction, a savepoint rolled back): only what is still pending is
 * written. */
static int
still_pending(struct store *s, int64_t id, bool *yes)
{
	sqlite3_stmt *st = db_stmt(&s->db,
	    "SELECT 1 FROM fts_pending WHERE id = ?1 AND state = 0");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	*yes = rc == SQLITE_ROW;
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    db_fail(&s->db, "fts pending");
	db_done(&s->db, st);
	return rc;
}

int
fts_queue_flush(struct store *s)
{
	bool yes;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < s->nfq; i++)
		if ((rc = still_pending(s, s->fq[i].id, &yes)) == 0 && yes)
			rc = fts_doc_put(s, s->fq[i].id, &s->fq[i].doc);
	fts_queue_drop(s);
	return rc;
}

int
fts_copy(struct store *s, int64_t from, int64_t to)
{
	sqlite3_stmt *st;
	int rc;

	if (!s->fts || !s->fts_write)
		return 0;
	st = db_stmt(&s->db, "INSERT INTO fts (rowid, " FTS_COLS ")"
	    " SELECT ?2, " FTS_COLS " FROM fts WHERE rowid = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	if ((rc = db_run(&s->db, st, "fts copy")) != 0)
		return rc;
	/* An unindexed original leaves its copy pending too. */
	if (sqlite3_changes(s->db.h) == 0)
		return 0;
	return pending_set(s, to, "DELETE FROM fts_pending WHERE id = ?1");
}

int
fts_drop(struct store *s, int64_t id)
{
	sqlite3_stmt *st;

	if (!s->fts)
		return 0;
	if ((st = db_stmt(&s->db, "DELETE FROM fts WHERE rowid = ?1")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return db_run(&s->db, st, "fts delete");
}

static int64_t
mbox_lo(int64_t mbox_id)
{
	return (int64_t)((uint64_t)mbox_id << 32);
}

static int64_t
mbox_hi(int64_t mbox_id)
{
	return (int64_t)((uint64_t)mbox_id << 32 | UINT32_MAX);
}

int
fts_drop_mbox(struct store *s, int64_t mbox_id)
{
	sqlite3_stmt *st;

	if (!s->fts)
		return 0;
	if ((st = db_stmt(&s->db, "DELETE FROM fts"
	    " WHERE rowid BETWEEN ?1 AND ?2")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_lo(mbox_id));
	sqlite3_bind_int64(st, 2, mbox_hi(mbox_id));
	return db_run(&s->db, st, "fts delete");
}

/* INBOX's messages now belong to mailbox to (RENAME INBOX): their rows
 * are keyed anew (FTS5 has no cheaper way than insert and delete). */
int
fts_move_mbox(struct store *s, int64_t from, int64_t to)
{
	sqlite3_stmt *st;
	int rc;

	if (!s->fts)
		return 0;
	if ((st = db_stmt(&s->db, "INSERT INTO fts (rowid, " FTS_COLS ")"
	    " SELECT ?3 | (rowid & 4294967295), " FTS_COLS " FROM fts"
	    " WHERE rowid BETWEEN ?1 AND ?2")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_lo(from));
	sqlite3_bind_int64(st, 2, mbox_hi(from));
	sqlite3_bind_int64(st, 3, mbox_lo(to));
	if ((rc = db_run(&s->db, st, "fts move")) != 0)
		return rc;
	return fts_drop_mbox(s, from);
}

/* ---- indexing in batches ---- */

/* Text parts, in their transfer encoding, beyond this in all are not
 * read: the message is left to SEARCH's scan (they hold more than the
 * index would take, unless decoding and folding shrink them by three
 * quarters).  A body over 1 MiB is read only where the index takes text
 * from (store_body_text()): the batch indexer runs while the process is
 * otherwise idle, and a 60 MB message with a photo made its memory 60
 * MB larger for the while (e2e test_memory caught it under load). */
#define FTS_SPANS_MAX (4 * FTS_TEXT_MAX)

/* The index's texts of body body_id. */
static int
doc_from_body(struct store *s, int64_t body_id, const void *parts,
    size_t plen, struct fts_doc *d)
{
	struct body_text t;
	int rc;

	if ((rc = store_body_text(s, body_id, parts, plen, FTS_TEXT_MAX,
	    FTS_SPANS_MAX, &t)) != 0)
		return rc;
	if (t.over != 0)
		d->rc = t.over;
	else
		fts_doc_make(d, t.data, t.len, parts, plen);
	store_body_text_free(&t);
	return 0;
}

/* Indexes message id from its stored body and part table. */
static int
index_one(struct store *s, int64_t id)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT m.body_id, b.parts"
	    " FROM messages AS m JOIN body_struct AS b ON b.id = m.body_id"
	    " WHERE m.mailbox_id = ?1 AND m.uid = ?2");
	struct fts_doc d;
	char *parts = NULL;
	size_t plen = 0;
	int64_t body_id = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)((uint64_t)id >> 32));
	sqlite3_bind_int64(st, 2, (int64_t)((uint64_t)id & UINT32_MAX));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		body_id = sqlite3_column_int64(st, 0);
		plen = (size_t)sqlite3_column_bytes(st, 1);
		parts = xmalloc(plen + 1);
		if (plen > 0)
			memcpy(parts, sqlite3_column_blob(st, 1), plen);
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = MK_NOTFOUND;
	else
		rc = db_fail(&s->db, "fts read");
	db_done(&s->db, st);
	fts_doc_init(s, &d);
	d.on = true;
	if (rc == 0)
		rc = doc_from_body(s, body_id, parts, plen, &d);
	if (rc == 0)
		rc = fts_doc_put(s, id, &d);
	else if (rc == MK_NOTFOUND || rc == MK_DAMAGED)
		/* no body or structure, or one that does not decode (logged):
		 * nothing the index could hold */
		rc = pending_set(s, id,
		    "UPDATE fts_pending SET state = 1 WHERE id = ?1");
	fts_doc_free(&d);
	free(parts);
	return rc;
}

static int
pending_take(struct store *s, unsigned max, int64_t *ids, unsigned *n)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT id FROM fts_pending"
	    " WHERE state = 0 ORDER BY id LIMIT ?1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, (int)max);
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 :
	    db_fail(&s->db, "fts pending");
	db_done(&s->db, st);
	return rc;
}

static int
index_txn(struct store *s, unsigned max, unsigned budget_ms,
    unsigned *done)
{
	int64_t *ids = xreallocarray(NULL, max ? max : 1, sizeof(*ids));
	uint64_t start = now_ms();
	unsigned n, i;
	int rc;

	*done = 0;
	rc = pending_take(s, max, ids, &n);
	for (i = 0; rc == 0 && i < n; i++) {
		rc = index_one(s, ids[i]);
		if (rc == 0)
			(*done)++;
		if (budget_ms && now_ms() - start >= budget_ms)
			break;
	}
	free(ids);
	return rc;
}

int
store_fts_pending(struct store *s, uint64_t *left)
{
	sqlite3_stmt *st;
	int rc;

	*left = 0;
	if (!s->fts)
		return 0;
	st = db_stmt(&s->db, "SELECT count(*) FROM fts_pending WHERE state = 0");
	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*left = (uint64_t)sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_ROW ? 0 : db_fail(&s->db, "fts pending");
	db_done(&s->db, st);
	return rc;
}

int
store_fts_index(struct store *s, unsigned max, unsigned budget_ms,
    bool nowait, unsigned *done, uint64_t *left)
{
	enum db_txn t;
	int rc;

	*done = 0;
	*left = 0;
	if (!s->fts)
		return 0;
	/* When idle, a store another process is writing is not waited
	 * for: the next turn tries again. */
	if (nowait)
		sqlite3_busy_timeout(s->db.h, 0);
	rc = db_txn_enter(&s->db, &t);
	if (nowait)
		sqlite3_busy_timeout(s->db.h, DB_BUSY_TIMEOUT_MS);
	if (rc != 0)
		return rc;
	if ((rc = db_txn_leave(&s->db, t, index_txn(s, max, budget_ms,
	    done))) != 0) {
		*done = 0;
		return rc;
	}
	return store_fts_pending(s, left);
}

int
store_fts_reset(struct store *s)
{
	enum db_txn t;
	int rc;

	if (!fts_capable(s))
		return db_err(&s->db, MK_INVALID, "this SQLite (%s) has no FTS5 "
		    "trigram tokenizer", sqlite3_libversion());
	if ((rc = db_txn_enter(&s->db, &t)) != 0 ||
	    (rc = db_txn_leave(&s->db, t, fts_create(s))) != 0)
		return rc;
	s->fts = true;
	return 0;
}

int
store_fts_optimize(struct store *s)
{
	sqlite3_stmt *st;

	if (!s->fts)
		return 0;
	st = db_stmt(&s->db, "INSERT INTO fts (fts) VALUES ('optimize')");
	if (st == NULL)
		return -1;
	return db_run(&s->db, st, "fts optimize");
}

int
store_fts_counts(struct store *s, uint64_t *indexed, uint64_t *unindexable)
{
	sqlite3_stmt *st;
	int rc;

	*indexed = *unindexable = 0;
	if (!s->fts)
		return 0;
	st = db_stmt(&s->db, "SELECT (SELECT count(*) FROM messages) -"
	    " (SELECT count(*) FROM fts_pending),"
	    " (SELECT count(*) FROM fts_pending WHERE state = 1)");
	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*indexed = (uint64_t)sqlite3_column_int64(st, 0);
		*unindexable = (uint64_t)sqlite3_column_int64(st, 1);
	}
	rc = rc == SQLITE_ROW ? 0 : db_fail(&s->db, "fts counts");
	db_done(&s->db, st);
	return rc;
}
