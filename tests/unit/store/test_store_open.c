/*
 * test_store_open.c - the store's life cycle: creating, reopening, file
 * mode and pragmas, INBOX and initial folders, the migration runner
 * (upgrades, a failing upgrade, a newer file, an empty file),
 * transactions and savepoints, lock timeouts, external changes, and the
 * prepared-statement cache.
 */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/arena.h"
#include "common/imap.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store_support.h"

static int
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

static int64_t
raw_int(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int64_t
raw_path_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int64_t v;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	v = raw_int(db, sql);
	sqlite3_close(db);
	return v;
}

static unsigned
file_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return 0;
	return st.st_mode & 07777;
}

void
test_open_create_reopen(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct mbox in, again;
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_schema_version(s), STORE_SCHEMA_VERSION);
	CU_ASSERT_EQUAL(store_mbox_find(s, "inbox", &in), 0);
	CU_ASSERT_STRING_EQUAL(in.name, "INBOX");
	CU_ASSERT(in.uidvalidity > 0);
	CU_ASSERT_EQUAL(in.uidnext, 1);
	CU_ASSERT_EQUAL(ts_append(s, &in, ts_msg(NULL, "x"), 0, "", 1, 0), 1);
	/* The database and its WAL side files are the user's alone. */
	CU_ASSERT_EQUAL(file_mode(ts_path(dir, "store.db")), 0600);
	CU_ASSERT_EQUAL(file_mode(ts_path(dir, "store.db-wal")), 0600);
	CU_ASSERT_EQUAL(file_mode(ts_path(dir, "store.db-shm")), 0600);
	store_close(s);

	s = NULL;
	CU_ASSERT_EQUAL(store_open(ts_path(dir, "store.db"), false, true, NULL,
	    0, &s, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &again), 0);
	CU_ASSERT_EQUAL(again.uidvalidity, in.uidvalidity);
	CU_ASSERT_EQUAL(again.uidnext, 2);
	store_close(s);
	ts_rmdir(dir);
}

void
test_open_missing_without_create(void)
{
	char *dir = ts_dir();
	struct store *s = (struct store *)1;
	char err[256] = "";

	CU_ASSERT_EQUAL(store_open(ts_path(dir, "none.db"), false, false,
	    NULL, 0, &s, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT(strlen(err) > 0);
	ts_rmdir(dir);
}

void
test_open_pragmas(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir), *f = NULL;
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(raw_int(s->db.h, "PRAGMA synchronous"), 1);	/* NORMAL */
	CU_ASSERT_EQUAL(raw_int(s->db.h, "PRAGMA foreign_keys"), 1);
	store_close(s);
	CU_ASSERT_EQUAL(store_open(ts_path(dir, "store.db"), false, true, NULL,
	    0, &f, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(raw_int(f->db.h, "PRAGMA synchronous"), 2);	/* FULL */
	store_close(f);
	/* WAL is persistent in the file. */
	CU_ASSERT_EQUAL(raw_path_int(ts_path(dir, "store.db"),
	    "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	ts_rmdir(dir);
}

/* The big page cache only for writes that would spill the small one:
 * setting it and back around every small APPEND cost more than the
 * spill (doc/benchmarks.md). */
void
test_cache_for_only_big_writes(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(raw_int(s->db.h, "PRAGMA cache_size"), -384);
	store_cache_for(s, 1, 40 * 1024);
	CU_ASSERT_EQUAL(raw_int(s->db.h, "PRAGMA cache_size"), -384);
	store_cache_small(s);
	CU_ASSERT_EQUAL(raw_int(s->db.h, "PRAGMA cache_size"), -384);
	store_cache_for(s, 500, 500 * 2048);	/* a MULTIAPPEND */
	CU_ASSERT_EQUAL(raw_int(s->db.h, "PRAGMA cache_size"), -16384);
	store_cache_for(s, 1, 1);		/* already big: stays */
	CU_ASSERT_EQUAL(raw_int(s->db.h, "PRAGMA cache_size"), -16384);
	store_cache_small(s);
	CU_ASSERT_EQUAL(raw_int(s->db.h, "PRAGMA cache_size"), -384);
	store_cache_for(s, 1, 1024 * 1024);	/* one big message */
	CU_ASSERT_EQUAL(raw_int(s->db.h, "PRAGMA cache_size"), -16384);
	store_cache_small(s);
	CU_ASSERT_EQUAL(raw_int(s->db.h, "PRAGMA cache_size"), -384);
	store_close(s);
	ts_rmdir(dir);
}

static int
count_subs(const char *name, void *arg)
{
	(void)name;
	(*(int *)arg)++;
	return 0;
}

void
test_open_initial_folders(void)
{
	static const struct store_init_folder init[] = {
		{ "Sent", SPECIAL_USE_SENT }, { "Trash", SPECIAL_USE_TRASH },
		{ "Archive/2024", 0 },
	};
	static const struct store_init_folder later[] = { { "Later", 0 } };
	char *dir = ts_dir();
	struct store *s = NULL;
	struct mbox m;
	char err[256];
	int nsubs = 0;

	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(dir, "store.db"), true, false,
	    init, 3, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_mbox_find(s, "Sent", &m), 0);
	CU_ASSERT_EQUAL(m.special_use, SPECIAL_USE_SENT);
	CU_ASSERT_EQUAL(store_mbox_find(s, "Trash", &m), 0);
	CU_ASSERT_EQUAL(m.special_use, SPECIAL_USE_TRASH);
	CU_ASSERT_EQUAL(store_mbox_find(s, "Archive", &m), 0);
	CU_ASSERT_EQUAL(store_mbox_find(s, "Archive/2024", &m), 0);
	CU_ASSERT(store_sub_has(s, "INBOX"));
	CU_ASSERT(store_sub_has(s, "Sent"));
	CU_ASSERT(store_sub_has(s, "Archive/2024"));
	CU_ASSERT_EQUAL(store_sub_foreach(s, count_subs, &nsubs), 0);
	CU_ASSERT_EQUAL(nsubs, 4);
	store_close(s);
	/* Only a new store gets them. */
	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(dir, "store.db"), true, false,
	    later, 1, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_mbox_find(s, "Later", &m), MK_NOTFOUND);
	store_close(s);
	ts_rmdir(dir);
}

void
test_open_recreates_inbox(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct mbox m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	store_close(s);
	CU_ASSERT_EQUAL(raw_exec(ts_path(dir, "store.db"),
	    "DELETE FROM mailboxes WHERE name = 'INBOX'"), 0);
	s = ts_open(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &m), 0);
	store_close(s);
	ts_rmdir(dir);
}

void
test_open_refuses_newer_schema(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	char err[256] = "";

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	store_close(s);
	CU_ASSERT_EQUAL(raw_exec(ts_path(dir, "store.db"),
	    "PRAGMA user_version = 99"), 0);
	s = NULL;
	CU_ASSERT_EQUAL(store_open(ts_path(dir, "store.db"), false, false,
	    NULL, 0, &s, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "newer"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "99"));
	ts_rmdir(dir);
}

void
test_open_empty_file_migrates(void)
{
	char *dir = ts_dir();
	struct store *s = NULL;
	struct mbox m;
	char err[256];

	/* A database at version 0: what every store was before schema 1. */
	CU_ASSERT_EQUAL(raw_exec(ts_path(dir, "store.db"),
	    "CREATE TABLE scratch (x)"), 0);
	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(dir, "store.db"), false,
	    false, NULL, 0, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_schema_version(s), STORE_SCHEMA_VERSION);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &m), 0);
	store_close(s);
	ts_rmdir(dir);
}

/* A version 2 that adds a column to bodies and computes it in C for the
 * rows already there: the kind of upgrade the MIME columns will be. */
static int lines_runs;

static int
mig_lines(struct sqldb *db)
{
	static const char sel[] = "SELECT d.id, d.data FROM body_data AS d";
	static const char upd[] = "UPDATE bodies SET lines = ?2 WHERE id = ?1";
	sqlite3_stmt *st = db_stmt(db, sel), *up;
	int rc = 0;

	lines_runs++;
	if (st == NULL)
		return -1;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *p = sqlite3_column_blob(st, 1);
		int i, n = sqlite3_column_bytes(st, 1), lines = 0;
		for (i = 0; i < n; i++)
			lines += p[i] == '\n';
		if ((up = db_stmt(db, upd)) == NULL) {
			rc = -1;
			break;
		}
		sqlite3_bind_int64(up, 1, sqlite3_column_int64(st, 0));
		sqlite3_bind_int(up, 2, lines);
		rc = db_run(db, up, "lines");
	}
	db_done(db, st);
	return rc;
}

static int
mig_fail(struct sqldb *db)
{
	return db_err(db, -1, "simulated failure");
}

void
test_migration_runs_c_over_rows(void)
{
	struct db_migration mig[STORE_SCHEMA_VERSION + 1];
	const int next = STORE_SCHEMA_VERSION + 1;
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct mbox in;
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &in), 0);
	/* Bare LF is stored as CRLF: 3 lines either way. */
	CU_ASSERT_EQUAL(ts_append(s, &in, "a\nb\nc\n", 0, "", 1, 0), 1);
	CU_ASSERT_EQUAL(ts_append(s, &in, "one line\r\n", 0, "", 2, 0), 2);
	store_close(s);

	/* The real list, plus a simulated next version. */
	for (size_t i = 0; i < store_nmigrations; i++)
		mig[i] = store_migrations[i];
	mig[next - 1] = (struct db_migration){ next, "line counts",
	    "ALTER TABLE bodies ADD COLUMN lines INTEGER", mig_lines };
	lines_runs = 0;
	CU_ASSERT_EQUAL_FATAL(store_open_with(ts_path(dir, "store.db"), false,
	    false, NULL, 0, mig, (size_t)next, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(lines_runs, 1);
	CU_ASSERT_EQUAL(store_schema_version(s), next);
	CU_ASSERT_EQUAL(raw_int(s->db.h, "SELECT sum(lines) FROM bodies"), 4);
	CU_ASSERT_EQUAL(raw_int(s->db.h,
	    "SELECT lines FROM bodies ORDER BY id LIMIT 1"), 3);
	store_close(s);
	/* Applied once: reopening runs nothing. */
	CU_ASSERT_EQUAL_FATAL(store_open_with(ts_path(dir, "store.db"), false,
	    false, NULL, 0, mig, (size_t)next, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(lines_runs, 1);
	store_close(s);
	/* And code that knows only the real versions now refuses the file. */
	CU_ASSERT_EQUAL(store_open(ts_path(dir, "store.db"), false, false,
	    NULL, 0, &s, err, sizeof(err)), -1);
	ts_rmdir(dir);
}

void
test_migration_failure_rolls_back(void)
{
	struct db_migration mig[STORE_SCHEMA_VERSION + 1];
	const int next = STORE_SCHEMA_VERSION + 1;
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	char err[256] = "";

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	store_close(s);
	for (size_t i = 0; i < store_nmigrations; i++)
		mig[i] = store_migrations[i];
	mig[next - 1] = (struct db_migration){ next, "doomed",
	    "ALTER TABLE bodies ADD COLUMN doomed INTEGER", mig_fail };
	s = NULL;
	CU_ASSERT_EQUAL(store_open_with(ts_path(dir, "store.db"), false, false,
	    NULL, 0, mig, (size_t)next, &s, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "simulated failure"));
	CU_ASSERT_EQUAL(raw_path_int(ts_path(dir, "store.db"),
	    "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	CU_ASSERT_EQUAL(raw_path_int(ts_path(dir, "store.db"),
	    "SELECT count(*) FROM pragma_table_info('bodies')"
	    " WHERE name = 'doomed'"), 0);
	/* Still a good version-1 store. */
	s = ts_open(dir);
	CU_ASSERT_PTR_NOT_NULL(s);
	store_close(s);
	ts_rmdir(dir);
}

void
test_transactions(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct mbox m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_FALSE(store_in_transaction(s));
	CU_ASSERT_EQUAL(store_begin(s), 0);
	CU_ASSERT_TRUE(store_in_transaction(s));
	CU_ASSERT_EQUAL(store_begin(s), -1);	/* no nesting */
	CU_ASSERT_EQUAL(store_mbox_create(s, "gone", 0, &m), 0);
	CU_ASSERT_TRUE(store_in_transaction(s));
	store_rollback(s);
	CU_ASSERT_FALSE(store_in_transaction(s));
	CU_ASSERT_EQUAL(store_mbox_find(s, "gone", &m), MK_NOTFOUND);

	CU_ASSERT_EQUAL(store_begin(s), 0);
	CU_ASSERT_EQUAL(store_mbox_create(s, "kept", 0, &m), 0);
	CU_ASSERT_EQUAL(store_commit(s), 0);
	CU_ASSERT_EQUAL(store_mbox_find(s, "kept", &m), 0);
	store_close(s);
	ts_rmdir(dir);
}

/* A call that fails halfway leaves nothing behind, inside the caller's
 * transaction (a savepoint) or in its own. */
void
test_failed_call_is_atomic(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	char child[1100];
	struct mbox m;
	int pass;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memset(child, 'c', sizeof(child));
	memcpy(child, "a/", 2);
	child[1001] = '\0';
	CU_ASSERT_EQUAL(store_mbox_create(s, child, 0, &m), 0);
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			CU_ASSERT_EQUAL(store_begin(s), 0);
			CU_ASSERT_EQUAL(store_mbox_create(s, "before", 0, &m), 0);
		}
		/* The parent x/ is created before the long child fails. */
		CU_ASSERT_EQUAL(store_mbox_rename(s, "a",
		    "x/yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"), MK_INVALID);
		CU_ASSERT_EQUAL(store_mbox_find(s, "x", &m), MK_NOTFOUND);
		CU_ASSERT_EQUAL(store_mbox_find(s, "a", &m), 0);
		CU_ASSERT_EQUAL(store_mbox_find(s, child, &m), 0);
		if (pass == 1) {
			CU_ASSERT_TRUE(store_in_transaction(s));
			CU_ASSERT_EQUAL(store_commit(s), 0);
			CU_ASSERT_EQUAL(store_mbox_find(s, "before", &m), 0);
		}
	}
	store_close(s);
	ts_rmdir(dir);
}

void
test_busy_timeout_is_mk_busy(void)
{
	char *dir = ts_dir();
	struct store *a = ts_open(dir), *b = ts_open(dir);
	struct mbox m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	/* The real timeout is 5 s; the mapping is what is tested here. */
	sqlite3_busy_timeout(a->db.h, 50);
	CU_ASSERT_EQUAL(store_begin(b), 0);
	CU_ASSERT_EQUAL(store_begin(a), MK_BUSY);
	CU_ASSERT_FALSE(store_in_transaction(a));
	CU_ASSERT_EQUAL(store_mbox_create(a, "x", 0, &m), MK_BUSY);
	CU_ASSERT_EQUAL(store_commit(b), 0);
	CU_ASSERT_EQUAL(store_mbox_create(a, "x", 0, &m), 0);
	store_close(a);
	store_close(b);
	ts_rmdir(dir);
}

void
test_changed_externally(void)
{
	char *dir = ts_dir();
	struct store *a = ts_open(dir), *b = ts_open(dir);
	struct mbox m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_FALSE(store_changed_externally(a));
	CU_ASSERT_EQUAL(store_mbox_create(a, "mine", 0, &m), 0);
	CU_ASSERT_FALSE(store_changed_externally(a));	/* own commit */
	CU_ASSERT_EQUAL(store_mbox_create(b, "theirs", 0, &m), 0);
	CU_ASSERT_TRUE(store_changed_externally(a));
	CU_ASSERT_FALSE(store_changed_externally(a));
	CU_ASSERT_EQUAL(store_mbox_find(a, "theirs", &m), 0);
	store_close(a);
	store_close(b);
	ts_rmdir(dir);
}

void
test_statement_cache(void)
{
	static const char sql[] = "SELECT name FROM mailboxes ORDER BY name";
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	sqlite3_stmt *st, *again, *inner;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	st = db_stmt(&s->db, sql);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	db_done(&s->db, st);
	again = db_stmt(&s->db, sql);
	CU_ASSERT_PTR_EQUAL(again, st);		/* prepared once, reused */
	CU_ASSERT_EQUAL(sqlite3_step(again), SQLITE_ROW);
	/* Still running: a nested user gets its own copy. */
	inner = db_stmt(&s->db, sql);
	CU_ASSERT_PTR_NOT_NULL_FATAL(inner);
	CU_ASSERT_PTR_NOT_EQUAL(inner, st);
	CU_ASSERT_EQUAL(s->db.ntransient, 1);
	CU_ASSERT_EQUAL(sqlite3_step(inner), SQLITE_ROW);
	db_done(&s->db, inner);
	CU_ASSERT_EQUAL(s->db.ntransient, 0);
	db_done(&s->db, again);
	CU_ASSERT_FALSE(sqlite3_stmt_busy(st));
	store_close(s);
	ts_rmdir(dir);
}

/* Whether sql is in the statement cache (without preparing it). */
static bool
cached(struct sqldb *db, const char *sql)
{
	for (size_t i = 0; i < db->nslots; i++)
		if (db->slots[i].sql == sql)
			return true;
	return false;
}

static int
step_one(struct sqldb *db, const char *sql)
{
	sqlite3_stmt *st = db_stmt(db, sql);

	if (st == NULL)
		return -1;
	int rc = sqlite3_step(st);
	db_done(db, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Statements that stop running are finalized after 256 to 511 batches
 * (the ones a store runs once when it opens among them); those that keep
 * running stay, one still stepping is left alone, and nothing is swept
 * while a session is inside a command.  A dropped one is prepared again
 * when next wanted, and every statement still cached is still found. */
void
test_statement_cache_sweeps_cold_ones(void)
{
	static const char hot[] = "SELECT count(*) FROM mailboxes";
	static const char cold[] = "SELECT name FROM mailboxes ORDER BY name";
	static const char held[] = "SELECT id FROM mailboxes ORDER BY id";
	char *dir = ts_dir();
	struct store *s = ts_open(dir);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	size_t at_open = s->db.nused;
	CU_ASSERT(at_open > 0);
	CU_ASSERT_EQUAL(step_one(&s->db, cold), 0);
	sqlite3_stmt *h = db_stmt(&s->db, held);
	CU_ASSERT_EQUAL_FATAL(sqlite3_step(h), SQLITE_ROW);	/* stepping */
	/* A session inside a command: however long, nothing goes. */
	for (int i = 0; i < 1024; i++) {
		CU_ASSERT_EQUAL(step_one(&s->db, hot), 0);
		store_batch_ended(s, false);
	}
	CU_ASSERT_TRUE(cached(&s->db, cold));
	CU_ASSERT_EQUAL(s->db.nused, at_open + 3);
	/* Between commands: the cold ones go within two sweeps. */
	for (int i = 0; i < 512; i++) {
		CU_ASSERT_EQUAL(step_one(&s->db, hot), 0);
		store_batch_ended(s, true);
	}
	CU_ASSERT_FALSE(cached(&s->db, cold));
	CU_ASSERT_TRUE(cached(&s->db, hot));
	CU_ASSERT_TRUE(cached(&s->db, held));	/* still stepping */
	CU_ASSERT_EQUAL(s->db.nused, 2);
	CU_ASSERT(sqlite3_stmt_busy(h));
	db_done(&s->db, h);
	/* Prepared again when wanted; the store still works. */
	CU_ASSERT_EQUAL(step_one(&s->db, cold), 0);
	CU_ASSERT_TRUE(cached(&s->db, cold));
	struct mbox m;
	CU_ASSERT_EQUAL(store_mbox_create(s, "after", 0, &m), 0);
	CU_ASSERT_EQUAL(store_mbox_find(s, "after", &m), 0);
	store_close(s);
	ts_rmdir(dir);
}

/* A store written by schema version 1 (no message structure) holding
 * messages: opening it with this code computes the structure of each. */
void
test_migration_v2_computes_structure(void)
{
	char *dir = ts_dir();
	struct store *s = NULL;
	struct body_struct bs;
	struct arena a;
	struct mbox in;
	char err[256];
	sqlite3 *h;

	CU_ASSERT_EQUAL_FATAL(store_open_with(ts_path(dir, "store.db"), true,
	    false, NULL, 0, store_migrations, 1, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &in), 0);
	store_close(s);
	/* What version 1 code stored: rows written directly. */
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(ts_path(dir, "store.db"), &h),
	    SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_exec(h,
	    "INSERT INTO bodies (id, refs, size) VALUES (7, 1, 66);"
	    "INSERT INTO body_data (id, data) VALUES (7, CAST("
	    "'From: A <a@example.com>' || char(13,10) ||"
	    "'Subject: old' || char(13,10) ||"
	    "'Content-Type: text/plain' || char(13,10) || char(13,10) ||"
	    "'body' || char(13,10) AS BLOB));", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);

	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(dir, "store.db"), false, false,
	    NULL, 0, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_schema_version(s), STORE_SCHEMA_VERSION);
	arena_init(&a, 0);
	CU_ASSERT_EQUAL_FATAL(store_body_struct(s, 7, &a, &bs), 0);
	CU_ASSERT_PTR_NOT_NULL(memmem(bs.envelope, bs.envelope_len, "\"old\"", 5));
	CU_ASSERT_PTR_NOT_NULL(memmem(bs.bodystructure, bs.bodystructure_len,
	    "\"text\" \"plain\"", 14));
	CU_ASSERT(bs.parts_len > 0);
	CU_ASSERT_EQUAL(store_body_struct(s, 8, &a, &bs), MK_NOTFOUND);
	arena_free(&a);
	store_close(s);
	ts_rmdir(dir);
}
