/*
 * store_backup.c - whole-store copies for mailkeepctl backup / restore.
 *
 * Offers (store.h) store_backup_into(), store_restore_from() and
 * store_integrity_check().  Both copies go through SQLite's online
 * backup API, never a copy of the files: a store is in WAL mode and its
 * committed state is the database file plus the WAL, which only SQLite
 * puts together consistently.  The backup reads under one read
 * transaction (a snapshot: the mailbox process keeps committing in the
 * meantime); the restore writes under one write transaction of the
 * destination (its readers see the old store or the new one, never a
 * mix, and the destination's WAL stays its own).
 * Called by mailkeepctl's workers, as the user's uid.
 */
#include "store/store_int.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A step that meets a lock waits this long before trying again; the
 * whole copy gives up after DB_BUSY_TIMEOUT_MS of such waits. */
#define COPY_RETRY_MS 50

/* Copies every page of src into dst in one step (-1: all pages), so
 * that src is read under a single read transaction: a writer on src
 * cannot make the copy restart or mix two states. */
static int
copy_db(sqlite3 *dst, sqlite3 *src, char *err, size_t errlen)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc, waited = 0;

	if (b == NULL) {
		snprintf(err, errlen, "backup: %s", sqlite3_errmsg(dst));
		return -1;
	}
	do {
		rc = sqlite3_backup_step(b, -1);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
			if (waited >= DB_BUSY_TIMEOUT_MS)
				break;
			sqlite3_sleep(COPY_RETRY_MS);
			waited += COPY_RETRY_MS;
		}
	} while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "backup: %s", sqlite3_errstr(rc));
		sqlite3_backup_finish(b);
		return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? MK_BUSY : -1;
	}
	if ((rc = sqlite3_backup_finish(b)) != SQLITE_OK) {
		snprintf(err, errlen, "backup: %s", sqlite3_errmsg(dst));
		return -1;
	}
	return 0;
}

static int
integrity(sqlite3 *h, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(h, "PRAGMA integrity_check(1)", -1, &st,
	    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "integrity_check: %s", sqlite3_errmsg(h));
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		snprintf(err, errlen, "integrity_check: %s", sqlite3_errmsg(h));
		rc = -1;
	} else {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		rc = t != NULL && strcmp(t, "ok") == 0 ? 0 : -1;
		if (rc != 0)
			snprintf(err, errlen, "integrity_check: %s",
			    t ? t : "(no answer)");
	}
	sqlite3_finalize(st);
	return rc;
}

int
store_integrity_check(struct store *s, char *err, size_t errlen)
{
	return integrity(s->db.h, err, errlen);
}

int
store_backup_into(struct store *s, const char *path, char *err,
    size_t errlen)
{
	sqlite3 *dst = NULL;
	int rc;

	/* The copy is a plain file of the caller's; it takes the source's
	 * header (WAL mode) with page 1. */
	if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, dst ?
		    sqlite3_errmsg(dst) : "out of memory");
		sqlite3_close_v2(dst);
		return -1;
	}
	rc = copy_db(dst, s->db.h, err, errlen);
	/* What was written is read back: a copy that does not pass is no
	 * backup. */
	if (rc == 0)
		rc = integrity(dst, err, errlen);
	if (sqlite3_close_v2(dst) != SQLITE_OK && rc == 0) {
		snprintf(err, errlen, "%s: close failed", path);
		rc = -1;
	}
	return rc;
}

static int
page_size(sqlite3 *h)
{
	sqlite3_stmt *st = NULL;
	int n = -1;

	if (sqlite3_prepare_v2(h, "PRAGMA page_size", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

int
store_restore_from(struct store *s, struct store *from, char *err,
    size_t errlen)
{
	int ps = page_size(s->db.h), pf = page_size(from->db.h);
	int rc;

	if (store_in_transaction(s)) {
		snprintf(err, errlen, "restore inside a transaction");
		return -1;
	}
	/* SQLite cannot change the page size of a WAL database. */
	if (ps != pf || ps <= 0) {
		snprintf(err, errlen, "page size %d of the backup differs from "
		    "the store's %d", pf, ps);
		return -1;
	}
	rc = copy_db(s->db.h, from->db.h, err, errlen);
	if (rc == 0)
		rc = integrity(s->db.h, err, errlen);
	/* Other connections' commits are now ours: re-read the marker. */
	(void)store_changed_externally(s);
	return rc;
}

void
store_files_remove(const char *path)
{
	static const char *const sfx[] = { "", "-journal", "-wal", "-shm" };
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		(void)unlink(p);
	}
}
