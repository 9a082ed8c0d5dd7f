/*
 * store_objid.c - object identifiers (RFC 8474), save dates (RFC 8514)
 * and previews (RFC 8970): schema version 11.
 *
 * mailboxes.objid, bodies.objid, bodies.thread
 *     Numbers from one counter of the store (meta 'objid_next') that only
 *     ever grows, so an id is never handed out twice, even after the
 *     row that had it is gone (rowids can be reused; these cannot).  On
 *     the wire they are a letter (F mailbox, M email, T thread), the
 *     store's random salt (meta 'objid_salt', 8 hex digits: ids of two
 *     stores, a restored copy aside, differ) and the number in hex.
 *     MAILBOXID belongs to the mailbox row, so RENAME keeps it; a
 *     \Noselect placeholder made a mailbox again, and the mailbox a
 *     RENAME of INBOX creates, get new ones.  EMAILID belongs to the
 *     body, which COPY and MOVE share (store_msg.c): a copy keeps it,
 *     a new APPEND of the same bytes does not (RFC 8474 5.1 allows
 *     both; a shared body is the store's notion of "the same message").
 *     THREADID is fixed when the body is stored: the thread of the
 *     first stored message whose Message-ID is among its references
 *     (root first, as RFC 5256's REFERENCES walks them), else of a
 *     stored message with its own Message-ID, else a thread of its own
 *     (thread = its objid).  It never changes later, as RFC 8474 5.2
 *     requires: a parent that arrives after its reply does not join
 *     them, where THREAD=REFERENCES (computed per command) would.
 * messages.savedate
 *     When the message was saved into its mailbox (APPEND, delivery,
 *     import, COPY, MOVE: each sets a new one); NULL for messages stored
 *     before version 11: FETCH says NIL and SAVED* search uses their
 *     internal date (RFC 8514 4 leaves it to the server; Dovecot does
 *     the same).
 * body_preview(id -> bodies, text)
 *     The PREVIEW text (mime_preview()), computed at APPEND; bodies
 *     stored before version 11 have no row until a FETCH PREVIEW
 *     without LAZY computes it (store_body_preview()).
 *
 * Offers the version 11 migration and the per-body writes to
 * store_msg.c, and the store.h calls that read them.
 */
#include "store/store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/arena.h"
#include "common/log.h"
#include "common/util.h"

/* References looked up for a new body's thread: the first ones are the
 * thread's oldest, which decide it when present. */
#define THREAD_LOOKUPS 64

const char store_schema_v11[] =
	"ALTER TABLE mailboxes ADD COLUMN objid INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE bodies ADD COLUMN objid INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE bodies ADD COLUMN thread INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN savedate INTEGER;"
	"CREATE TABLE body_preview ("
	"  id INTEGER PRIMARY KEY REFERENCES bodies (id) ON DELETE CASCADE,"
	"  text TEXT NOT NULL"
	");"
	"CREATE INDEX bodies_objid ON bodies (objid);"
	"CREATE INDEX bodies_thread ON bodies (thread);"
	"CREATE INDEX body_sort_msgid ON body_sort (msgid);"
	"INSERT INTO meta (key, value) VALUES"
	"  ('objid_salt', abs(random() % 4294967296)), ('objid_next', 1);";

/* Two plain statements: one UPDATE ... RETURNING cost more than both,
 * as SQLite stages RETURNING rows in an ephemeral table (some 7 % of a
 * MULTIAPPEND's CPU).  The caller's transaction holds the write lock
 * from the UPDATE on, so the SELECT reads what the UPDATE wrote. */
int
objid_take(struct sqldb *db, int64_t *out)
{
	sqlite3_stmt *st = db_stmt(db, "UPDATE meta SET value = value + 1"
	    " WHERE key = 'objid_next'");
	int rc;

	/* Outside a transaction another writer could come between. */
	if (sqlite3_get_autocommit(db->h))
		return db_err(db, -1, "object id outside a transaction");
	if (st == NULL)
		return -1;
	if ((rc = db_run(db, st, "object id")) != 0)
		return rc;
	if ((st = db_stmt(db, "SELECT value - 1 FROM meta"
	    " WHERE key = 'objid_next'")) == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ?
	    db_err(db, -1, "meta has no objid_next") :
	    db_fail(db, "object id");
	db_done(db, st);
	return rc;
}

/* The thread of a stored body whose Message-ID is id[0..n). */
static int
thread_of_msgid(struct sqldb *db, const char *id, size_t n, int64_t self,
    int64_t *thread)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT b.thread FROM body_sort s"
	    " JOIN bodies b ON b.id = s.id WHERE s.msgid = ?1"
	    " AND b.thread <> 0 AND b.id <> ?2 ORDER BY b.id LIMIT 1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, (int)n, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, self);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*thread = sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    db_fail(db, "thread lookup");
	db_done(db, st);
	return rc;
}

static int
thread_find(struct sqldb *db, int64_t self, const char *msgid,
    const char *refs, int64_t *thread)
{
	const char *p = refs ? refs : "", *e;
	int rc = 0, n = 0;

	*thread = 0;
	while (rc == 0 && *thread == 0 && *p != '\0' && n++ < THREAD_LOOKUPS) {
		while (*p == ' ')
			p++;
		e = p + strcspn(p, " ");
		if (e > p)
			rc = thread_of_msgid(db, p, (size_t)(e - p), self, thread);
		p = e;
	}
	if (rc == 0 && *thread == 0 && msgid != NULL && *msgid != '\0')
		rc = thread_of_msgid(db, msgid, strlen(msgid), self, thread);
	return rc;
}

static int
body_ids_write(struct sqldb *db, int64_t body_id, int64_t objid,
    int64_t thread)
{
	sqlite3_stmt *st = db_stmt(db, "UPDATE bodies SET objid = ?2,"
	    " thread = ?3 WHERE id = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	sqlite3_bind_int64(st, 2, objid);
	sqlite3_bind_int64(st, 3, thread);
	return db_run(db, st, "object ids");
}

int
mbox_objid_new(struct store *s, int64_t mbox_id)
{
	sqlite3_stmt *st;
	int64_t objid;
	int rc;

	if (!s->objids)
		return 0;
	if ((rc = objid_take(&s->db, &objid)) != 0)
		return rc;
	if ((st = db_stmt(&s->db, "UPDATE mailboxes SET objid = ?2"
	    " WHERE id = ?1")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_int64(st, 2, objid);
	return db_run(&s->db, st, "mailbox id");
}

/* A new body's ids, taken before its row is written: a row written
 * with 0 and updated after moved each of the two indexes' entries from
 * their first leaf to their last, two more pages in every APPEND's
 * commit.  The body is not stored yet, so no lookup can find itself. */
int
body_ids_new(struct store *s, const char *msgid, const char *refs,
    int64_t *objid, int64_t *thread)
{
	int rc;

	*objid = *thread = 0;
	if (!s->objids)
		return 0;
	if ((rc = objid_take(&s->db, objid)) != 0 ||
	    (rc = thread_find(&s->db, 0, msgid, refs, thread)) != 0)
		return rc;
	if (*thread == 0)
		*thread = *objid;
	return 0;
}

int
body_preview_put(struct sqldb *db, int64_t body_id, const char *text,
    size_t len)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT OR REPLACE INTO body_preview"
	    " (id, text) VALUES (?1, ?2)");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	sqlite3_bind_text(st, 2, len > 0 ? text : "", (int)len, SQLITE_STATIC);
	return db_run(db, st, "preview");
}

/* ---- the version 11 migration ---- */

/* Threads of bodies stored before: in storage order, as if each had
 * just arrived. */
static int
thread_of_row(struct sqldb *db, struct arena *a, sqlite3_stmt *row)
{
	int64_t id = sqlite3_column_int64(row, 0), thread;
	const char *msgid = (const char *)sqlite3_column_text(row, 1);
	const char *refs = (const char *)sqlite3_column_text(row, 2);
	char *m = msgid ? arena_strdup(a, msgid) : NULL;
	char *r = refs ? arena_strdup(a, refs) : NULL;
	int rc;

	if ((rc = thread_find(db, id, m, r, &thread)) != 0)
		return rc;
	return body_ids_write(db, id, id, thread ? thread : id);
}

int
store_migrate_objid(struct sqldb *db)
{
	static const char *const sql[] = {
		"UPDATE mailboxes SET objid = id",
		("UPDATE meta SET value = 1 + max("
		" (SELECT coalesce(max(id), 0) FROM mailboxes),"
		" (SELECT coalesce(max(id), 0) FROM bodies))"
		" WHERE key = 'objid_next'"),
	};
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < nitems(sql); i++) {
		sqlite3_stmt *st = db_stmt(db, sql[i]);
		if (st == NULL)
			return -1;
		rc = db_run(db, st, "object ids");
	}
	if (rc != 0)
		return rc;
	return body_migrate_each(db, "SELECT b.id, s.msgid, s.refs FROM bodies b"
	    " LEFT JOIN body_sort s ON s.id = b.id ORDER BY b.id",
	    thread_of_row, "thread ids");
}

/* ---- reading ---- */

static int
salt_get(struct store *s, uint32_t *salt)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT value FROM meta"
	    " WHERE key = 'objid_salt'");
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	*salt = rc == SQLITE_ROW ? (uint32_t)sqlite3_column_int64(st, 0) : 0;
	rc = rc == SQLITE_ROW ? 0 : db_fail(&s->db, "object id salt");
	db_done(&s->db, st);
	return rc;
}

static void
objid_format(char prefix, uint32_t salt, int64_t n, char *out, size_t len)
{
	snprintf(out, len, "%c%08" PRIx32 "%" PRIx64, prefix, salt,
	    (uint64_t)n);
}

int
store_objid(struct store *s, char prefix, int64_t n, char *out, size_t len)
{
	uint32_t salt;
	int rc;

	if ((rc = salt_get(s, &salt)) != 0)
		return rc;
	objid_format(prefix, salt, n, out, len);
	return 0;
}

int
store_objid_parse(struct store *s, char prefix, const char *id, int64_t *n)
{
	char want[10];
	uint64_t v = 0;
	uint32_t salt;
	size_t i;
	int rc;

	*n = 0;
	if ((rc = salt_get(s, &salt)) != 0)
		return rc;
	snprintf(want, sizeof(want), "%c%08" PRIx32, prefix, salt);
	/* Case matters: ids are compared as the strings they are. */
	if (strncmp(id, want, 9) != 0 || id[9] == '\0' || strlen(id) > 9 + 15)
		return MK_NOTFOUND;
	for (i = 9; id[i] != '\0'; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return MK_NOTFOUND;
		v = v * 16 + (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	/* One spelling per id: no leading zero. */
	if (id[9] == '0')
		return MK_NOTFOUND;
	*n = (int64_t)v;
	return 0;
}

int
store_mbox_objectid(struct store *s, const struct mbox *m, char *out,
    size_t len)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT objid FROM mailboxes"
	    " WHERE id = ?1");
	int64_t n = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? MK_NOTFOUND :
	    db_fail(&s->db, "mailbox id");
	db_done(&s->db, st);
	return rc != 0 ? rc : store_objid(s, 'F', n, out, len);
}

int
store_msg_ids(struct store *s, const struct mbox *m, uint32_t uid,
    int64_t body_id, struct msg_ids *out)
{
	/* From the body, which outlives the row of a message expunged
	 * under a session not yet told (held): its ids stay readable. */
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT b.objid, b.thread,"
	    " (SELECT savedate FROM messages WHERE mailbox_id = ?1"
	    " AND uid = ?2) FROM bodies b WHERE b.id = ?3");
	uint32_t salt;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = salt_get(s, &salt)) != 0)
		return rc;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int64(st, 3, body_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		objid_format('M', salt, sqlite3_column_int64(st, 0),
		    out->emailid, sizeof(out->emailid));
		objid_format('T', salt, sqlite3_column_int64(st, 1),
		    out->threadid, sizeof(out->threadid));
		out->has_savedate = sqlite3_column_type(st, 2) != SQLITE_NULL;
		out->savedate = sqlite3_column_int64(st, 2);
		rc = 0;
	} else
		rc = rc == SQLITE_DONE ? MK_NOTFOUND :
		    db_fail(&s->db, "object ids");
	db_done(&s->db, st);
	return rc;
}

/* Computes the preview of a body stored before version 11, read as
 * every body is (store_body.c), whatever its layout. */
static int
preview_compute(struct store *s, int64_t body_id, struct buf *out)
{
	sqlite3_stmt *st;
	struct arena a;
	char *data = NULL;
	size_t len = 0;
	int rc;

	if ((rc = store_body_load(s, body_id, &data, &len)) != 0)
		return rc;
	st = db_stmt(&s->db, "SELECT parts FROM body_struct WHERE id = ?1");
	if (st == NULL) {
		free(data);
		return -1;
	}
	sqlite3_bind_int64(st, 1, body_id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? MK_NOTFOUND : db_fail(&s->db, "preview");
		db_done(&s->db, st);
		free(data);
		return rc;
	}
	arena_init(&a, 0);
	rc = mime_preview(&a, data, len, sqlite3_column_blob(st, 0),
	    (size_t)sqlite3_column_bytes(st, 0), out);
	arena_free(&a);
	db_done(&s->db, st);
	free(data);
	if (rc != 0)
		return db_err(&s->db, -1, "out of memory for a preview");
	return 0;
}

int
store_body_preview(struct store *s, int64_t body_id, bool lazy,
    struct buf *out, bool *have)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT text FROM body_preview"
	    " WHERE id = ?1");
	enum db_txn t;
	int rc;

	*have = false;
	if (st == NULL)
		return -1;
	(void)buf_reserve(out, 64);	/* buf_ptr() valid when empty */
	sqlite3_bind_int64(st, 1, body_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		buf_add(out, sqlite3_column_text(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0));
		*have = true;
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    db_fail(&s->db, "preview");
	db_done(&s->db, st);
	if (rc != 0 || *have || lazy)
		return rc;
	if ((rc = preview_compute(s, body_id, out)) != 0)
		return rc;
	*have = true;
	/* Kept, so the next FETCH (LAZY or not) has it; a failure to keep
	 * it costs only a later recomputation. */
	if (db_txn_enter(&s->db, &t) == 0 &&
	    db_txn_leave(&s->db, t, body_preview_put(&s->db, body_id,
	    buf_ptr(out), buf_len(out))) != 0)
		log_warnx("preview of body %lld not kept: %s",
		    (long long)body_id, s->db.err);
	return 0;
}

/* Up to nitems(ids) bodies below *cursor that lack a preview. */
static int
backfill_ids(struct store *s, unsigned max, int64_t cursor, int64_t *ids,
    size_t cap, size_t *n)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT b.id FROM bodies b"
	    " WHERE b.id < ?2 AND NOT EXISTS (SELECT 1 FROM body_preview p"
	    " WHERE p.id = b.id) ORDER BY b.id DESC LIMIT ?1");
	int rc;

	*n = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, (int)MK_MIN(max, cap));
	sqlite3_bind_int64(st, 2, cursor);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    db_fail(&s->db, "preview backfill");
	db_done(&s->db, st);
	return rc;
}

static int
backfill_put(struct store *s, const int64_t *ids, struct buf *texts,
    size_t n)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++)
		if (ids[i] != 0)
			rc = body_preview_put(&s->db, ids[i],
			    buf_ptr(&texts[i]), buf_len(&texts[i]));
	return rc;
}

int
store_preview_backfill(struct store *s, unsigned max, int64_t *cursor,
    unsigned *done)
{
	int64_t ids[64], last;
	struct buf texts[64];
	size_t n, i;
	enum db_txn t;
	int rc;

	*done = 0;
	if ((rc = backfill_ids(s, max, *cursor, ids, nitems(ids), &n)) != 0 ||
	    n == 0)
		return rc;
	last = ids[n - 1];	/* descending: the lowest */
	for (i = 0; i < n; i++) {
		buf_init(&texts[i], 0);
		(void)buf_reserve(&texts[i], 64);	/* buf_ptr() valid */
	}
	/* computed first, outside the write transaction it is kept in */
	for (i = 0; rc == 0 && i < n; i++)
		if ((rc = preview_compute(s, ids[i], &texts[i])) ==
		    MK_NOTFOUND) {
			ids[i] = 0;	/* gone meanwhile */
			rc = 0;
		}
	/* Never waits for another process's write lock: MK_BUSY, and the
	 * caller tries again later. */
	sqlite3_busy_timeout(s->db.h, 0);
	if (rc == 0 && (rc = db_txn_enter(&s->db, &t)) == 0)
		rc = db_txn_leave(&s->db, t, backfill_put(s, ids, texts, n));
	sqlite3_busy_timeout(s->db.h, DB_BUSY_TIMEOUT_MS);
	for (i = 0; i < n; i++)
		buf_free(&texts[i]);
	if (rc == 0) {
		*cursor = last;
		*done = (unsigned)n;
	}
	return rc;
}
