/*
 * store_acl.c - access control lists (RFC 4314) and per-user \Seen for
 * users who read a shared mailbox without the "s" right (schema 3).
 *
 * acl(mailbox, identifier, rights) lives with the mailbox: it follows a
 * RENAME (same id) and goes with a DELETE (ON DELETE CASCADE), as
 * RFC 4314 4 asks.  The owner is not listed: the owner always has every
 * right.  guest_seen(mailbox, user, uid) records what a grantee without
 * "s" has read, so their \Seen is their own and the owner's is untouched.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

const char store_schema_v3[] =
	"CREATE TABLE acl ("
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id)"
	"    ON DELETE CASCADE,"
	"  identifier TEXT NOT NULL,"
	"  rights TEXT NOT NULL,"
	"  PRIMARY KEY (mailbox_id, identifier)"
	") WITHOUT ROWID;"
	"CREATE TABLE guest_seen ("
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id)"
	"    ON DELETE CASCADE,"
	"  user TEXT NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  PRIMARY KEY (mailbox_id, user, uid)"
	") WITHOUT ROWID;"
	"CREATE INDEX guest_seen_uid ON guest_seen (mailbox_id, uid);"
	/* An expunged message takes its per-user \\Seen with it. */
	"CREATE TRIGGER guest_seen_expunge AFTER DELETE ON messages BEGIN"
	"  DELETE FROM guest_seen WHERE mailbox_id = old.mailbox_id"
	"    AND uid = old.uid;"
	"END;";

int
store_acl_get(struct store *s, int64_t mbox_id, const char *identifier,
    char *rights, size_t len)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT rights FROM acl"
	    " WHERE mailbox_id = ?1 AND identifier = ?2");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_text(st, 2, identifier, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		mk_strlcpy(rights, (const char *)sqlite3_column_text(st, 0), len);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rights[0] = '\0';
		rc = MK_NOTFOUND;
	} else
		rc = db_fail(&s->db, "acl");
	db_done(&s->db, st);
	return rc;
}

int
store_acl_set(struct store *s, int64_t mbox_id, const char *identifier,
    const char *rights)
{
	sqlite3_stmt *st;

	if (rights[0] == '\0')
		st = db_stmt(&s->db, "DELETE FROM acl WHERE mailbox_id = ?1"
		    " AND identifier = ?2");
	else
		st = db_stmt(&s->db, "INSERT OR REPLACE INTO acl"
		    " (mailbox_id, identifier, rights) VALUES (?1, ?2, ?3)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_text(st, 2, identifier, -1, SQLITE_STATIC);
	if (rights[0] != '\0')
		sqlite3_bind_text(st, 3, rights, -1, SQLITE_STATIC);
	return db_run(&s->db, st, "acl");
}

int
store_acl_foreach(struct store *s, int64_t mbox_id,
    int (*cb)(const char *identifier, const char *rights, void *arg),
    void *arg)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT identifier, rights FROM acl"
	    " WHERE mailbox_id = ?1 ORDER BY identifier");
	int rc = 0, step = SQLITE_DONE;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = cb((const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1), arg);
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&s->db, "acl");
	db_done(&s->db, st);
	return rc;
}

int
store_acl_count(struct store *s, int64_t mbox_id, unsigned *on_mbox,
    unsigned *total)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT coalesce(sum(mailbox_id ="
	    " ?1), 0), count(*) FROM acl");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*on_mbox = (unsigned)sqlite3_column_int64(st, 0);
		*total = (unsigned)sqlite3_column_int64(st, 1);
		rc = 0;
	} else
		rc = db_fail(&s->db, "acl count");
	db_done(&s->db, st);
	return rc;
}

int
store_acl_copy(struct store *s, int64_t from_id, int64_t to_id)
{
	sqlite3_stmt *st = db_stmt(&s->db, "INSERT OR REPLACE INTO acl"
	    " (mailbox_id, identifier, rights) SELECT ?2, identifier, rights"
	    " FROM acl WHERE mailbox_id = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, from_id);
	sqlite3_bind_int64(st, 2, to_id);
	return db_run(&s->db, st, "acl copy");
}

/* ---- per-user \Seen ---- */

int
store_gseen_uids(struct store *s, const struct mbox *m, const char *user,
    uint32_t **uids, size_t *n)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT uid FROM guest_seen"
	    " WHERE mailbox_id = ?1 AND user = ?2 ORDER BY uid");
	size_t cap = 0;
	int rc;

	*uids = NULL;
	*n = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*uids = xreallocarray(*uids, cap, sizeof(**uids));
		}
		(*uids)[(*n)++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	rc = rc == SQLITE_DONE ? 0 : db_fail(&s->db, "guest seen");
	db_done(&s->db, st);
	if (rc != 0) {
		free(*uids);
		*uids = NULL;
		*n = 0;
	}
	return rc;
}

int
store_gseen_set(struct store *s, const struct mbox *m, const char *user,
    const uint32_t *uids, size_t n, bool on)
{
	enum db_txn t;
	int rc;

	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		sqlite3_stmt *st = db_stmt(&s->db, on ?
		    "INSERT OR IGNORE INTO guest_seen (mailbox_id, user, uid)"
		    " SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM messages"
		    " WHERE mailbox_id = ?1 AND uid = ?3)" :
		    "DELETE FROM guest_seen WHERE mailbox_id = ?1 AND user = ?2"
		    " AND uid = ?3");
		if (st == NULL) {
			rc = -1;
			break;
		}
		sqlite3_bind_int64(st, 1, m->id);
		sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, uids[i]);
		rc = db_run(&s->db, st, "guest seen");
	}
	return db_txn_leave(&s->db, t, rc);
}

int
store_gseen_count(struct store *s, const struct mbox *m, const char *user,
    uint32_t *n)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT count(*) FROM guest_seen"
	    " WHERE mailbox_id = ?1 AND user = ?2");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*n = (uint32_t)sqlite3_column_int64(st, 0);
		rc = 0;
	} else
		rc = db_fail(&s->db, "guest seen");
	db_done(&s->db, st);
	return rc;
}
