/*
 * store_import.c - what a migration import (mailkeepctl import) needs of
 * the store beyond ordinary APPEND: keeping the source's UIDVALIDITY
 * and UIDNEXT on a mailbox that never held mail, and the import state
 * (schema 5) that makes an import resumable.
 *
 * Offers the "migration imports" part of store.h.  Called by
 * daemon/ctl/import.c in a worker running as the user's uid.
 */
#include "store/store_int.h"

#include <string.h>

static int
adopt_txn(struct store *s, struct mbox *cur, uint32_t uidvalidity)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = mbox_reload(s, cur)) != 0)
		return rc;
	if (cur->uidnext != 1)
		return db_err(&s->db, MK_INVALID, "mailbox %s has held "
		    "messages: its UIDVALIDITY stays", cur->name);
	st = db_stmt(&s->db, "UPDATE mailboxes SET uidvalidity = ?2"
	    " WHERE id = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cur->id);
	sqlite3_bind_int64(st, 2, uidvalidity);
	if ((rc = db_run(&s->db, st, "adopt uidvalidity")) != 0)
		return rc;
	/* A mailbox created later (or this one re-created) must never get
	 * the adopted value: the generator hands out max(now, last + 1). */
	st = db_stmt(&s->db, "UPDATE meta SET value = max(value, ?1)"
	    " WHERE key = 'last_uidvalidity'");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, uidvalidity);
	if ((rc = db_run(&s->db, st, "adopt uidvalidity")) != 0)
		return rc;
	return mbox_reload(s, cur);
}

int
store_mbox_adopt_uidvalidity(struct store *s, struct mbox *m,
    uint32_t uidvalidity)
{
	struct mbox cur = *m;
	enum db_txn t;
	int rc;

	if (uidvalidity == 0)
		return db_err(&s->db, MK_INVALID, "UIDVALIDITY 0");
	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	rc = db_txn_leave(&s->db, t, adopt_txn(s, &cur, uidvalidity));
	if (rc == 0)
		*m = cur;
	return rc;
}

int
store_mbox_raise_uidnext(struct store *s, struct mbox *m, uint32_t uidnext)
{
	sqlite3_stmt *st = db_stmt(&s->db, "UPDATE mailboxes SET uidnext ="
	    " max(uidnext, ?2) WHERE id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	if (uidnext == 0 || uidnext == UINT32_MAX)
		uidnext = UINT32_MAX - 1;
	sqlite3_bind_int64(st, 1, m->id);
	sqlite3_bind_int64(st, 2, uidnext);
	if ((rc = db_run(&s->db, st, "raise uidnext")) != 0)
		return rc;
	return store_mbox_get(s, m->id, m);
}

int
store_import_mark(struct store *s, const char *source, const char *key,
    const struct mbox *m, uint32_t uid)
{
	sqlite3_stmt *st = db_stmt(&s->db, "INSERT OR REPLACE INTO import_state"
	    " (source, key, mailbox_id, uid) VALUES (?1, ?2, ?3, ?4)");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, m->id);
	sqlite3_bind_int64(st, 4, uid);
	return db_run(&s->db, st, "import state");
}

int
store_import_foreach(struct store *s, const char *source,
    int (*cb)(const char *key, void *arg), void *arg)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT key FROM import_state"
	    " WHERE source = ?1");
	int rc = 0, step = SQLITE_DONE;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = cb((const char *)sqlite3_column_text(st, 0), arg);
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&s->db, "import state");
	db_done(&s->db, st);
	return rc;
}
