/*
 * store_index.c - what keeps SELECT, STATUS and the first-unseen answer
 * independent of a mailbox's size (issue 11 item 2): the schema of the
 * big-mailbox indexes, their migration, and the reads that use them.
 *
 * uid_runs(mailbox_id, lo, hi)  each mailbox's UIDs as runs of
 *                             consecutive UIDs.  UIDs are handed out in
 *                             increasing order and only expunges make
 *                             holes, so a mailbox is a few runs however
 *                             many messages it holds: SELECT builds its
 *                             sequence-number map from them instead of
 *                             stepping one row per message.
 * mailboxes.nrecent           messages with uid >= recent_uid (\Recent
 *                             for the next session, STATUS RECENT).
 * messages_unseen             a partial index of the messages without
 *                             \Seen: the first unseen of SELECT and
 *                             SEARCH UNSEEN read only those.  flags is
 *                             in it so that SQLite, which tests the
 *                             index's WHERE again, need not read rows.
 *
 * Triggers keep runs and nrecent in the transaction of every statement
 * that adds, removes or moves a message (APPEND, COPY, MOVE, EXPUNGE,
 * DELETE, RENAME INBOX, delivery, import), whichever code runs it, so no
 * path can forget them (tests/unit/store/test_store_index.c recounts).
 * A run is found as the one with the greatest lo <= uid: one index seek.
 *
 * Offers store_msg_uids(), store_first_unseen() (store.h) and
 * store_schema_index, store_schema_index14 (store_int.h).
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

/* The run holding uid (or the last before it) in mailbox mb. */
#define RUN_AT(mb, uid) "(SELECT max(lo) FROM uid_runs" \
	"  WHERE mailbox_id = " mb " AND lo <= " uid ")"

/* A new UID extends the run ending just before it, or starts one. */
#define RUNS_ADD(mb, uid) \
	"  UPDATE uid_runs SET hi = " uid \
	"    WHERE mailbox_id = " mb " AND lo = " RUN_AT(mb, uid) \
	"    AND hi = " uid " - 1;" \
	"  INSERT OR IGNORE INTO uid_runs (mailbox_id, lo, hi)" \
	"    SELECT " mb ", " uid ", " uid " WHERE NOT EXISTS (SELECT 1" \
	"    FROM uid_runs WHERE mailbox_id = " mb " AND lo = " \
	RUN_AT(mb, uid) " AND hi >= " uid ");"

/* The run holding a removed UID ends before it, and goes if that leaves
 * it empty (what follows the UID was made a run of its own first). */
#define RUNS_CUT(mb, uid) \
	"  UPDATE uid_runs SET hi = " uid " - 1" \
	"    WHERE mailbox_id = " mb " AND lo = " RUN_AT(mb, uid) \
	"    AND hi >= " uid ";" \
	"  DELETE FROM uid_runs WHERE mailbox_id = " mb " AND lo = " uid \
	"    AND hi < lo;"

/* A removed UID splits its run: the part after it becomes a run of its
 * own, the part before ends before it, and an empty part goes. */
#define RUNS_DEL(mb, uid) \
	"  INSERT INTO uid_runs (mailbox_id, lo, hi)" \
	"    SELECT mailbox_id, " uid " + 1, hi FROM uid_runs" \
	"    WHERE mailbox_id = " mb " AND lo = " RUN_AT(mb, uid) \
	"    AND hi > " uid ";" \
	RUNS_CUT(mb, uid)

#define RECENT_ADD(mb, uid, d) \
	"  UPDATE mailboxes SET nrecent = nrecent " d " 1" \
	"    WHERE id = " mb " AND " uid " >= recent_uid;"

/* The triggers of a message's insert, delete and move, with the run
 * maintenance add and del (version 13's, then version 14's). */
#define MSG_TRIGGERS(add, del) \
	"CREATE TRIGGER index_msg_add AFTER INSERT ON messages BEGIN" \
	add("new.mailbox_id", "new.uid") \
	RECENT_ADD("new.mailbox_id", "new.uid", "+") \
	"END;" \
	"CREATE TRIGGER index_msg_del AFTER DELETE ON messages BEGIN" \
	del("old.mailbox_id", "old.uid") \
	RECENT_ADD("old.mailbox_id", "old.uid", "-") \
	"END;" \
	"CREATE TRIGGER index_msg_move AFTER UPDATE OF mailbox_id, uid" \
	" ON messages BEGIN" \
	del("old.mailbox_id", "old.uid") \
	RECENT_ADD("old.mailbox_id", "old.uid", "-") \
	add("new.mailbox_id", "new.uid") \
	RECENT_ADD("new.mailbox_id", "new.uid", "+") \
	"END;"

const char store_schema_index[] =
	"CREATE TABLE uid_runs ("
	"  mailbox_id INTEGER NOT NULL,"
	"  lo INTEGER NOT NULL,"
	"  hi INTEGER NOT NULL,"
	"  PRIMARY KEY (mailbox_id, lo)"
	") WITHOUT ROWID;"
	"ALTER TABLE mailboxes ADD COLUMN nrecent INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX messages_unseen ON messages (mailbox_id, uid, flags)"
	"  WHERE flags & 1 = 0;"
	MSG_TRIGGERS(RUNS_ADD, RUNS_DEL)
	/* Claiming \Recent moves recent_uid to UIDNEXT: the count reads the
	 * (then empty) range above it, not the mailbox. */
	"CREATE TRIGGER index_recent AFTER UPDATE OF recent_uid ON mailboxes"
	" BEGIN"
	"  UPDATE mailboxes SET nrecent = (SELECT count(*) FROM messages"
	"    WHERE mailbox_id = new.id AND uid >= new.recent_uid)"
	"    WHERE id = new.id;"
	"END;"
	"CREATE TRIGGER index_mbox_gone AFTER DELETE ON mailboxes BEGIN"
	"  DELETE FROM uid_runs WHERE mailbox_id = old.id;"
	"END;"
	/* What exists already: consecutive UIDs share uid - row_number(). */
	"INSERT INTO uid_runs (mailbox_id, lo, hi)"
	"  SELECT mailbox_id, min(uid), max(uid) FROM (SELECT mailbox_id, uid,"
	"    uid - row_number() OVER (PARTITION BY mailbox_id ORDER BY uid)"
	"    AS g FROM messages) GROUP BY mailbox_id, g;"
	"UPDATE mailboxes SET nrecent = (SELECT count(*) FROM messages"
	"  WHERE mailbox_id = mailboxes.id AND uid >= mailboxes.recent_uid);";

/*
 * Version 14: the same triggers without a statement that reads the
 * table it writes.  For such an INSERT ... SELECT SQLite first copies
 * the selected rows into an ephemeral table, built and dropped once per
 * message added or removed: about 5 % of a MULTIAPPEND's CPU.  Within
 * a trigger SQLite counts any earlier read of the table in the trigger
 * as such a read, so the rows go in by VALUES, whose subqueries need
 * no copy; a NULL end makes the NOT NULL column refuse the row, and OR
 * IGNORE skip it.  Adding inserts a run only when the UPDATE extended
 * none (changes(), in a trigger, counts the trigger's own last
 * statement); removing reads the tail's end, NULL when there is none.
 */
#define RUNS_ADD14(mb, uid) \
	"  UPDATE uid_runs SET hi = " uid \
	"    WHERE mailbox_id = " mb " AND lo = " RUN_AT(mb, uid) \
	"    AND hi = " uid " - 1;" \
	"  INSERT OR IGNORE INTO uid_runs (mailbox_id, lo, hi)" \
	"    VALUES (" mb ", " uid ", CASE WHEN changes() = 0 THEN " uid \
	"    END);"

#define RUNS_DEL14(mb, uid) \
	"  INSERT OR IGNORE INTO uid_runs (mailbox_id, lo, hi)" \
	"    VALUES (" mb ", " uid " + 1, (SELECT hi FROM uid_runs" \
	"    WHERE mailbox_id = " mb " AND lo = " RUN_AT(mb, uid) \
	"    AND hi > " uid "));" \
	RUNS_CUT(mb, uid)

const char store_schema_index14[] =
	"DROP TRIGGER index_msg_add;"
	"DROP TRIGGER index_msg_del;"
	"DROP TRIGGER index_msg_move;"
	MSG_TRIGGERS(RUNS_ADD14, RUNS_DEL14);

int
store_msg_uids(struct store *s, const struct mbox *m, uint32_t **uids,
    size_t *n)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT lo, hi FROM uid_runs"
	    " WHERE mailbox_id = ?1 ORDER BY lo");
	size_t cap = 0;
	int64_t lo = 0, hi = 0;
	bool bad = false;
	int rc;

	*uids = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		lo = sqlite3_column_int64(st, 0);
		hi = sqlite3_column_int64(st, 1);
		if ((bad = lo < 1 || hi < lo || hi > UINT32_MAX ||
		    (*n > 0 && (*uids)[*n - 1] >= lo)))
			break;
		if (*n + (size_t)(hi - lo + 1) > cap) {
			cap = MK_MAX(cap * 2, *n + (size_t)(hi - lo + 1));
			*uids = xreallocarray(*uids, cap, sizeof(**uids));
		}
		for (int64_t u = lo; u <= hi; u++)
			(*uids)[(*n)++] = (uint32_t)u;
	}
	if (bad)
		rc = db_err(&s->db, -1, "uid_runs: bad run %lld:%lld",
		    (long long)lo, (long long)hi);
	else
		rc = rc == SQLITE_DONE ? 0 : db_fail(&s->db, "uids");
	db_done(&s->db, st);
	if (rc != 0) {
		free(*uids);
		*uids = NULL;
		*n = 0;
	}
	return rc;
}

static bool
uid_in(const uint32_t *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid] < uid)
			lo = mid + 1;
		else if (v[mid] > uid)
			hi = mid;
		else
			return true;
	}
	return false;
}

int
store_first_unseen(struct store *s, const struct mbox *m,
    const uint32_t *view, size_t nview, uint32_t *uid)
{
	/* The term repeats the index's WHERE, so SQLite may use it. */
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT uid FROM messages"
	    " INDEXED BY messages_unseen WHERE mailbox_id = ?1"
	    " AND flags & 1 = 0 ORDER BY uid");
	int rc;

	*uid = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	/* Unseen messages the session does not know yet come last. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t u = (uint32_t)sqlite3_column_int64(st, 0);
		if (nview == 0 || u > view[nview - 1])
			break;
		if (uid_in(view, nview, u)) {
			*uid = u;
			break;
		}
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    db_fail(&s->db, "first unseen");
	db_done(&s->db, st);
	return rc;
}
