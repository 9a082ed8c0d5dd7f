/*
 * store_meta.c - METADATA entries (RFC 5464) in the user's store
 * (schema 5).
 *
 * metadata(mailbox_id, user, name, value): mailbox_id 0 holds the server
 * entries (the "" mailbox); user is "" for /shared entries and the name
 * of whoever set a /private one (the owner, or a grantee of a shared
 * mailbox, whose private entries live in the owner's store with the
 * mailbox); name is lower-case.  An entry lives with its mailbox: a
 * RENAME keeps the id, so it follows; a DELETE removes it (a trigger on
 * the row, and on a mailbox that becomes \Noselect because it has
 * children, RFC 5464 4.1); renaming INBOX copies INBOX's entries to the
 * new mailbox (store_meta_copy).  The value bytes count in the quota's
 * storage (quota_usage), kept by every change here and by the triggers.
 */
#include "store/store_int.h"

#include <string.h>

#include "common/util.h"

const char store_schema_v8[] =
	"CREATE TABLE metadata ("
	"  mailbox_id INTEGER NOT NULL,"
	"  user TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  value BLOB NOT NULL,"
	"  PRIMARY KEY (mailbox_id, user, name)"
	") WITHOUT ROWID;"
	"CREATE TRIGGER metadata_mbox_gone AFTER DELETE ON mailboxes BEGIN"
	"  UPDATE quota_usage SET storage = storage - (SELECT"
	"    coalesce(sum(length(value)), 0) FROM metadata"
	"    WHERE mailbox_id = old.id) WHERE id = 1;"
	"  DELETE FROM metadata WHERE mailbox_id = old.id;"
	"END;"
	"CREATE TRIGGER metadata_mbox_noselect AFTER UPDATE OF flags"
	"  ON mailboxes WHEN (new.flags & 1) AND NOT (old.flags & 1) BEGIN"
	"  UPDATE quota_usage SET storage = storage - (SELECT"
	"    coalesce(sum(length(value)), 0) FROM metadata"
	"    WHERE mailbox_id = old.id) WHERE id = 1;"
	"  DELETE FROM metadata WHERE mailbox_id = old.id;"
	"END;";

/* The stored length of an entry, or -1 if there is none. */
static int
meta_len(struct store *s, int64_t mbox_id, const char *user,
    const char *name, int64_t *len)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT length(value) FROM metadata"
	    " WHERE mailbox_id = ?1 AND user = ?2 AND name = ?3");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	*len = -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*len = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = db_fail(&s->db, "metadata");
	db_done(&s->db, st);
	return rc;
}

static int
meta_write(struct store *s, int64_t mbox_id, const char *user,
    const char *name, const void *value, size_t len)
{
	sqlite3_stmt *st;

	if (value == NULL)
		st = db_stmt(&s->db, "DELETE FROM metadata WHERE mailbox_id = ?1"
		    " AND user = ?2 AND name = ?3");
	else
		st = db_stmt(&s->db, "INSERT OR REPLACE INTO metadata"
		    " (mailbox_id, user, name, value) VALUES (?1, ?2, ?3, ?4)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	if (value != NULL)
		sqlite3_bind_blob64(st, 4, len > 0 ? value : "", len,
		    SQLITE_STATIC);
	return db_run(&s->db, st, "metadata");
}

int
store_meta_set(struct store *s, int64_t mbox_id, const char *user,
    const char *name, const void *value, size_t len)
{
	enum db_txn t;
	int64_t old;
	int rc;

	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	if ((rc = meta_len(s, mbox_id, user, name, &old)) == 0 &&
	    (rc = meta_write(s, mbox_id, user, name, value, len)) == 0)
		rc = quota_add(s, (value != NULL ? (int64_t)len : 0) -
		    (old > 0 ? old : 0), 0);
	return db_txn_leave(&s->db, t, rc);
}

/* Is name at most depth levels below root (and not root's sibling)? */
static bool
within(const char *name, const char *root, uint32_t depth)
{
	size_t n = strlen(root);
	uint32_t levels = 0;

	if (strncmp(name, root, n) != 0)
		return false;
	if (name[n] == '\0')
		return true;
	if (name[n] != '/')
		return false;
	for (const char *p = name + n; *p; p++)
		if (*p == '/' && ++levels > depth)
			return false;
	return levels > 0;
}

int
store_meta_foreach(struct store *s, int64_t mbox_id, const char *user,
    const char *root, uint32_t depth,
    int (*cb)(const char *name, const void *value, size_t len, void *arg),
    void *arg)
{
	/* name = root, or in (root "/", root "0"): '0' follows '/'. */
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT name, value FROM metadata"
	    " WHERE mailbox_id = ?1 AND user = ?2 AND (name = ?3 OR"
	    " (name > ?3 || '/' AND name < ?3 || '0')) ORDER BY name");
	int rc = 0, step = SQLITE_DONE;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, root, -1, SQLITE_STATIC);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const void *v = sqlite3_column_blob(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		if (within(name, root, depth))
			rc = cb(name, v != NULL ? v : "", len, arg);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&s->db, "metadata");
	db_done(&s->db, st);
	return rc;
}

int
store_meta_usage(struct store *s, uint64_t *count, uint64_t *bytes)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT count(*),"
	    " coalesce(sum(length(value)), 0) FROM metadata");
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*count = (uint64_t)sqlite3_column_int64(st, 0);
		*bytes = (uint64_t)sqlite3_column_int64(st, 1);
		rc = 0;
	} else
		rc = db_fail(&s->db, "metadata");
	db_done(&s->db, st);
	return rc;
}

int
store_meta_copy(struct store *s, int64_t from_id, int64_t to_id)
{
	sqlite3_stmt *st = db_stmt(&s->db, "INSERT OR REPLACE INTO metadata"
	    " (mailbox_id, user, name, value) SELECT ?2, user, name, value"
	    " FROM metadata WHERE mailbox_id = ?1");
	sqlite3_stmt *q;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, from_id);
	sqlite3_bind_int64(st, 2, to_id);
	if ((rc = db_run(&s->db, st, "metadata copy")) != 0)
		return rc;
	if ((q = db_stmt(&s->db, "UPDATE quota_usage SET storage = storage +"
	    " (SELECT coalesce(sum(length(value)), 0) FROM metadata"
	    " WHERE mailbox_id = ?1) WHERE id = 1")) == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, to_id);
	return db_run(&s->db, q, "metadata quota");
}
