/*
 * store_schema.c - the user store's schema, its migrations, and the
 * migration runner that the directory uses too.
 *
 * Offers db_migrate() / db_user_version() (store_int.h) and the store's
 * ordered migration list.  Called by store_open() and dir_open().
 *
 * Schema version 1, and why it looks like this:
 *
 * meta(key, value)            last_uidvalidity: every UIDVALIDITY this
 *                             store hands out is max(now, last + 1), so a
 *                             re-created or renamed-INBOX mailbox never
 *                             repeats one, even within a second.
 * mailboxes(id, name UNIQUE, uidvalidity, uidnext, highestmodseq,
 *           recent_uid, special_use, flags,
 *           nmsgs, nunseen, ndeleted, bytes, deleted_bytes)
 *                             The five counters are kept by every message
 *                             operation in the same transaction, so STATUS
 *                             and SELECT cost O(1) however big the
 *                             mailbox is; store_quota_recompute() repairs
 *                             them.  A new mailbox starts at
 *                             highestmodseq 1, so its first change is 2.
 * bodies(id, refs, size, has_sent, sent_t, sent_tz)
 * body_data(id -> bodies, data BLOB)
 *                             A body is stored once and shared by COPY
 *                             (refs counts the messages using it, and
 *                             the holds of version 4; the row goes with
 *                             the last).  The bytes live in a
 *                             table of their own: columns added later by
 *                             ALTER TABLE (MIME structure in version 2)
 *                             land after every existing column, and a
 *                             column stored after a large BLOB costs a
 *                             walk of the BLOB's overflow pages on every
 *                             read.  body_data's rowid also lets FETCH
 *                             stream a body with sqlite3_blob_read().
 *                             The sent date (Date: header) is a property
 *                             of the body, parsed once at APPEND.
 * messages(mailbox_id, uid, body_id, size, internaldate, tz, flags,
 *          keywords, modseq) PRIMARY KEY (mailbox_id, uid) WITHOUT ROWID
 *                             Clustered by (mailbox, uid): a mailbox's
 *                             rows are contiguous in UID order, so
 *                             SELECT, FETCH 1:* and SEARCH read one
 *                             b-tree range with no per-row lookup.  The
 *                             message's identity is (mailbox, uid);
 *                             msg_row.id reports (mailbox_id << 32) | uid.
 *                             keywords: canonical spellings, sorted,
 *                             space-separated ("" when none).
 *                             body_id is not declared a foreign key: the
 *                             check on deleting a body would need an
 *                             index on messages(body_id) that nothing
 *                             else wants; refs keeps the link instead.
 *   messages_modseq (mailbox_id, modseq)  CHANGEDSINCE, MODSEQ search
 *   messages_date (mailbox_id, internaldate)  SINCE / YOUNGER search
 * expunged(mailbox_id, uid, modseq) WITHOUT ROWID, index (mailbox_id,
 *          modseq)            QRESYNC's VANISHED (EARLIER).
 * keywords(mailbox_id, name COLLATE NOCASE) WITHOUT ROWID
 *                             keywords defined in a mailbox; the
 *                             case-insensitive key keeps the first
 *                             spelling.
 * subscriptions(name) WITHOUT ROWID
 * quota_usage(id = 1, storage, messages)  one row, kept exact by every
 *                             operation that adds or removes messages.
 * held(body_id, n)  (version 4) bodies of expunged messages kept for
 *                             sessions not yet told of the expunge (RFC
 *                             2180 4.1.1): each hold is one of the body's
 *                             refs; the mailbox process drops them all
 *                             when it starts.  Not counted in the quota:
 *                             the messages are gone.
 * body_sort(id -> bodies, ...)  (version 5) the header keys of SORT and
 *                             THREAD, computed at APPEND (store_sort.c).
 *
 * mailboxes.expunged_floor  (version 6) the highest MODSEQ of an
 *                             expunged row pruned from `expunged`, which
 *                             keeps a window of each mailbox's newest
 *                             (expunged_keep); a QRESYNC client older
 *                             than the floor gets VANISHED computed from
 *                             the UIDs that still exist (RFC 7162
 *                             3.2.5.2).
 *
 * import_state(source, key, mailbox_id, uid)  (version 7) what
 *                             mailkeepctl import brought in from which
 *                             source (a Maildir, an mbox, an IMAP
 *                             account) under which key (folder and file
 *                             name, offset, or UIDVALIDITY:UID), written
 *                             with the message, so a re-run after an
 *                             interruption skips it.  Not dropped with
 *                             the mailbox: a message the user deleted is
 *                             not brought back by a re-run.
 *
 * metadata(mailbox_id, user, name, value)  (version 8) RFC 5464 entries;
 *                             see store_meta.c.  Counted in quota_usage.
 *
 * fts_pending(id, state) and meta 'fts'  (version 9) the full-text
 *                             index's bookkeeping; the FTS5 table itself
 *                             is built when SQLite can (store_fts.c).
 *
 * url_keys(mailbox_id, key)  (version 10) URLAUTH's mailbox access
 *                             keys (RFC 4467), one per mailbox, dropped
 *                             with it; see store_urlauth.c.
 *
 * mailboxes.objid, bodies.objid, bodies.thread, messages.savedate,
 * body_preview(id -> bodies, text), meta 'objid_salt' and 'objid_next'
 *                             (version 11) RFC 8474 object ids from one
 *                             counter that only grows, the RFC 8514 save
 *                             date (NULL: saved before) and the RFC 8970
 *                             preview; indexes bodies_objid,
 *                             bodies_thread and body_sort_msgid for SEARCH
 *                             EMAILID/THREADID and a new body's thread;
 *                             see store_objid.c.  Its migration numbers
 *                             existing mailboxes and bodies and threads
 *                             the bodies in storage order; previews come
 *                             later (preview_idle.c).
 *
 * bodies.chunk, body_chunks(id, data)  (version 12) a body's bytes in
 *                             rows of a chunk of text each, compressed
 *                             or not (store_body.c says which and why);
 *                             bodies.chunk = 0 keeps a body in
 *                             body_data.  The trigger drops the chunks
 *                             with their body, as body_data's foreign
 *                             key does.
 *
 * uid_runs, mailboxes.nrecent, messages_unseen  (version 13) what
 *                             keeps SELECT, STATUS RECENT and the first
 *                             unseen independent of the mailbox's size,
 *                             kept by triggers; see store_index.c.
 *
 * index_msg_add, index_msg_del, index_msg_move  (version 14) the same
 *                             triggers, rewritten so that none reads the
 *                             table it writes (which made SQLite build an
 *                             ephemeral table per message); see
 *                             store_index.c.
 *
 * Adding version N: append { N, "what", "SQL", fn } to store_migrations
 * and raise STORE_SCHEMA_VERSION in store.h.  sql runs first (ALTER
 * TABLE ... ADD COLUMN), then fn may compute the new columns for existing
 * rows with ordinary statements; both in one transaction with the
 * user_version bump, so a crash midway leaves version N-1 intact.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

static const char SCHEMA_V1[] =
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"INSERT INTO meta (key, value) VALUES ('last_uidvalidity', 0);"
	"CREATE TABLE mailboxes ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  uidvalidity INTEGER NOT NULL,"
	"  uidnext INTEGER NOT NULL DEFAULT 1,"
	"  highestmodseq INTEGER NOT NULL DEFAULT 1,"
	"  recent_uid INTEGER NOT NULL DEFAULT 1,"
	"  special_use INTEGER NOT NULL DEFAULT 0,"
	"  flags INTEGER NOT NULL DEFAULT 0,"
	"  nmsgs INTEGER NOT NULL DEFAULT 0,"
	"  nunseen INTEGER NOT NULL DEFAULT 0,"
	"  ndeleted INTEGER NOT NULL DEFAULT 0,"
	"  bytes INTEGER NOT NULL DEFAULT 0,"
	"  deleted_bytes INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE bodies ("
	"  id INTEGER PRIMARY KEY,"
	"  refs INTEGER NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  has_sent INTEGER NOT NULL DEFAULT 0,"
	"  sent_t INTEGER NOT NULL DEFAULT 0,"
	"  sent_tz INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE body_data ("
	"  id INTEGER PRIMARY KEY REFERENCES bodies (id) ON DELETE CASCADE,"
	"  data BLOB NOT NULL"
	");"
	"CREATE TABLE messages ("
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id),"
	"  uid INTEGER NOT NULL,"
	"  body_id INTEGER NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  internaldate INTEGER NOT NULL,"
	"  tz INTEGER NOT NULL,"
	"  flags INTEGER NOT NULL,"
	"  keywords TEXT NOT NULL DEFAULT '',"
	"  modseq INTEGER NOT NULL,"
	"  PRIMARY KEY (mailbox_id, uid)"
	") WITHOUT ROWID;"
	"CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);"
	"CREATE INDEX messages_date ON messages (mailbox_id, internaldate);"
	"CREATE TABLE expunged ("
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id)"
	"    ON DELETE CASCADE,"
	"  uid INTEGER NOT NULL,"
	"  modseq INTEGER NOT NULL,"
	"  PRIMARY KEY (mailbox_id, uid)"
	") WITHOUT ROWID;"
	"CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);"
	"CREATE TABLE keywords ("
	"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id)"
	"    ON DELETE CASCADE,"
	"  name TEXT NOT NULL COLLATE NOCASE,"
	"  PRIMARY KEY (mailbox_id, name)"
	") WITHOUT ROWID;"
	"CREATE TABLE subscriptions ("
	"  name TEXT PRIMARY KEY"
	") WITHOUT ROWID;"
	"CREATE TABLE quota_usage ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  storage INTEGER NOT NULL,"
	"  messages INTEGER NOT NULL"
	");"
	"INSERT INTO quota_usage (id, storage, messages) VALUES (1, 0, 0);";

static const char SCHEMA_V12[] =
	"ALTER TABLE bodies ADD COLUMN chunk INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE body_chunks ("
	"  id INTEGER PRIMARY KEY,"
	"  data BLOB NOT NULL"
	");"
	"CREATE TRIGGER body_chunks_gone AFTER DELETE ON bodies"
	" WHEN old.chunk != 0 BEGIN"
	"  DELETE FROM body_chunks WHERE id BETWEEN old.id * 16777216"
	"   AND old.id * 16777216 + 16777215;"
	" END;";

const struct db_migration store_migrations[] = {
	{ 1, "initial schema", SCHEMA_V1, NULL },
	{ 2, "message structure", store_schema_v2, store_migrate_struct },
	{ 3, "access control lists", store_schema_v3, NULL },
	{ 4, "held bodies", "CREATE TABLE held ("
	    "  body_id INTEGER PRIMARY KEY,"
	    "  n INTEGER NOT NULL"
	    ");", NULL },
	{ 5, "sort keys", store_schema_v5, store_migrate_sort },
	{ 6, "expunged window", "ALTER TABLE mailboxes ADD COLUMN"
	    " expunged_floor INTEGER NOT NULL DEFAULT 0;", NULL },
	{ 7, "import state", "CREATE TABLE import_state ("
	    "  source TEXT NOT NULL,"
	    "  key TEXT NOT NULL,"
	    "  mailbox_id INTEGER NOT NULL,"
	    "  uid INTEGER NOT NULL,"
	    "  PRIMARY KEY (source, key)"
	    ") WITHOUT ROWID;", NULL },
	{ 8, "metadata", store_schema_v8, NULL },
	{ 9, "full-text index", store_schema_fts, NULL },
	{ 10, "URLAUTH access keys", store_schema_v10, NULL },
	{ 11, "object ids, save dates, previews", store_schema_v11,
	    store_migrate_objid },
	{ 12, "body chunks", SCHEMA_V12, NULL },
	{ 13, "big-mailbox indexes", store_schema_index, NULL },
	{ 14, "index triggers without ephemeral tables", store_schema_index14,
	    NULL },
};
const size_t store_nmigrations = nitems(store_migrations);

_Static_assert(nitems(store_migrations) == STORE_SCHEMA_VERSION,
    "store_migrations must end at STORE_SCHEMA_VERSION");

int
db_user_version(struct sqldb *db, int *v)
{
	sqlite3_stmt *st = db_stmt(db, "PRAGMA user_version");

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		int rc = db_fail(db, "user_version");
		db_done(db, st);
		return rc;
	}
	*v = sqlite3_column_int(st, 0);
	db_done(db, st);
	return 0;
}

/* Runs one migration; the caller's transaction makes it atomic. */
static int
migrate_one(struct sqldb *db, const struct db_migration *m)
{
	char sql[64], *msg = NULL;
	int rc;

	if (m->sql != NULL &&
	    sqlite3_exec(db->h, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
		rc = db_err(db, sqlite3_errcode(db->h) == SQLITE_BUSY ?
		    MK_BUSY : -1, "schema %d (%s): %s", m->version, m->what,
		    msg ? msg : "error");
		sqlite3_free(msg);
		return rc;
	}
	if (m->run != NULL && (rc = m->run(db)) != 0) {
		char why[sizeof(db->err)];
		snprintf(why, sizeof(why), "%s", db->err);
		return db_err(db, rc, "schema %d (%s): %s", m->version,
		    m->what, why);
	}
	/* PRAGMA takes no parameters; the number is ours. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", m->version);
	if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, "user_version");
	return 0;
}

int
db_migrate(struct sqldb *db, const struct db_migration *m, size_t n,
    int *from)
{
	int have, target = n > 0 ? m[n - 1].version : 0;
	size_t i;
	int rc;

	if ((rc = db_user_version(db, &have)) != 0)
		return rc;
	*from = have;
	if (have > target)
		return db_err(db, -1, "schema version %d is newer than this "
		    "program understands (%d); use a newer Mailkeep", have,
		    target);
	for (i = 0; i < n; i++) {
		if (m[i].version <= have)
			continue;
		if ((rc = db_begin(db)) != 0)
			return rc;
		/* Another process may have migrated while we waited. */
		if ((rc = db_user_version(db, &have)) == 0 &&
		    m[i].version > have) {
			rc = migrate_one(db, &m[i]);
			/* A new file is not news; an upgrade is. */
			if (rc == 0 && *from > 0)
				log_info("schema migrated to version %d (%s)",
				    m[i].version, m[i].what);
		}
		if (rc != 0) {
			db_rollback(db);
			return rc;
		}
		if ((rc = db_commit(db)) != 0)
			return rc;
		if ((rc = db_user_version(db, &have)) != 0)
			return rc;
	}
	return 0;
}
