/*
 * store.c - the SQLite plumbing under store/ and the store's life cycle.
 *
 * Offers (store_int.h) the connection setup shared by a user's store and
 * the directory: pragmas, file mode, the prepared-statement cache, error
 * recording and transactions; and (store.h) store_open/close, the
 * transaction calls of the mailbox process, store_changed_externally,
 * streaming a message body, and quota usage.
 * Called by the mailbox process, mailkeepctl, and directory.c.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"

/* ---- errors ---- */

int
db_err(struct sqldb *db, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(db->err, sizeof(db->err), fmt, ap);
	va_end(ap);
	return rc;
}

int
db_fail(struct sqldb *db, const char *what)
{
	int code = sqlite3_errcode(db->h);

	snprintf(db->err, sizeof(db->err), "%s: %s", what, sqlite3_errmsg(db->h));
	log_warnx("%s", db->err);
	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		return MK_BUSY;
	return -1;
}

/* ---- statement cache ---- */

static size_t
slot_hash(const char *sql, size_t nslots)
{
	uintptr_t p = (uintptr_t)sql;

	p ^= p >> 17;
	p *= (uintptr_t)0x9E3779B97F4A7C15ull;
	return (size_t)(p >> 7) & (nslots - 1);
}

static struct db_slot *
slot_find(struct sqldb *db, const char *sql)
{
	size_t i = slot_hash(sql, db->nslots);

	while (db->slots[i].sql != NULL && db->slots[i].sql != sql)
		i = (i + 1) & (db->nslots - 1);
	return &db->slots[i];
}

/* Lays the cached statements out again in a table of nslots (a power
 * of two): to grow it, and after statements were taken out of it. */
static void
slots_rehash(struct sqldb *db, size_t nslots)
{
	struct db_slot *old = db->slots;
	size_t i, n = db->nslots;

	db->nslots = nslots;
	db->slots = xcalloc(db->nslots, sizeof(*db->slots));
	for (i = 0; i < n; i++)
		if (old[i].sql != NULL)
			*slot_find(db, old[i].sql) = old[i];
	free(old);
}

static void
slots_grow(struct sqldb *db)
{
	slots_rehash(db, db->nslots ? db->nslots * 2 : 64);
}

static sqlite3_stmt *
prepare(struct sqldb *db, const char *sql, unsigned flags)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v3(db->h, sql, -1, flags, &st, NULL) != SQLITE_OK) {
		db_fail(db, "prepare");
		log_warnx("statement: %.200s", sql);
		return NULL;
	}
	return st;
}

static sqlite3_stmt *
transient(struct sqldb *db, const char *sql)
{
	sqlite3_stmt *st = prepare(db, sql, 0);

	if (st == NULL)
		return NULL;
	if (db->ntransient == db->maxtransient) {
		db->maxtransient = db->maxtransient ? db->maxtransient * 2 : 4;
		db->transient = xreallocarray(db->transient, db->maxtransient,
		    sizeof(*db->transient));
	}
	db->transient[db->ntransient++] = st;
	return st;
}

sqlite3_stmt *
db_stmt(struct sqldb *db, const char *sql)
{
	struct db_slot *sl;

	if (2 * (db->nused + 1) > db->nslots)
		slots_grow(db);
	sl = slot_find(db, sql);
	if (sl->sql == NULL) {
		sqlite3_stmt *st = prepare(db, sql, SQLITE_PREPARE_PERSISTENT);
		if (st == NULL)
			return NULL;
		sl->sql = sql;
		sl->st = st;
		db->nused++;
	}
	sl->used = db->epoch;
	/* Still stepping for an outer caller: don't disturb it. */
	if (sqlite3_stmt_busy(sl->st))
		return transient(db, sql);
	return sl->st;
}

void
db_done(struct sqldb *db, sqlite3_stmt *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = db->ntransient; i-- > 0; ) {
		if (db->transient[i] == st) {
			sqlite3_finalize(st);
			db->transient[i] = db->transient[--db->ntransient];
			return;
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

int
db_run(struct sqldb *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		rc = db_fail(db, what);
		db_done(db, st);
		return rc;
	}
	db_done(db, st);
	return 0;
}

static int
db_exec_cached(struct sqldb *db, const char *sql, const char *what)
{
	sqlite3_stmt *st = db_stmt(db, sql);

	if (st == NULL)
		return -1;
	return db_run(db, st, what);
}

/* ---- opening ---- */

static int
pragma_str(struct sqldb *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, sql);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && out != NULL) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(out, outlen, "%s", t ? (const char *)t : "");
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = db_fail(db, sql);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return 0;
}

static int
db_configure(struct sqldb *db, enum store_sync sync)
{
	char mode[16];
	int rc;

	if (sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS) != SQLITE_OK)
		return db_fail(db, "busy_timeout");
	if ((rc = pragma_str(db, "PRAGMA journal_mode=WAL", mode,
	    sizeof(mode))) != 0)
		return rc;
	if (strcmp(mode, "wal") != 0)
		return db_err(db, -1, "cannot use WAL (journal mode %s)", mode);
	if ((rc = pragma_str(db, sync == STORE_SYNC_ALL ?
	    "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
	    NULL, 0)) != 0)
		return rc;
	if ((rc = pragma_str(db, "PRAGMA foreign_keys=ON", NULL, 0)) != 0)
		return rc;
	/* Some builds (Debian's) zero every freed page: an EXPUNGE would
	 * write each body out once more as zeros, to the WAL and then to the
	 * file.  FAST clears what lies in pages written anyway; a freed
	 * page keeps its bytes until reused (the file is the user's, 0600,
	 * as the messages were). */
	if ((rc = pragma_str(db, "PRAGMA secure_delete=FAST", NULL, 0)) != 0)
		return rc;
	/* A large APPEND grows the WAL; give the space back after the
	 * next checkpoint instead of keeping the high-water mark. */
	if ((rc = pragma_str(db, "PRAGMA journal_size_limit=67108864",
	    NULL, 0)) != 0)
		return rc;
	/* The index triggers' INSERT ... SELECT on uid_runs reads the table
	 * it writes, so SQLite stages the rows in a temporary table: a file
	 * made, written and unlinked at each APPEND or EXPUNGE unless it
	 * lives in memory (a few rows). */
	if ((rc = pragma_str(db, "PRAGMA temp_store=MEMORY", NULL, 0)) != 0)
		return rc;
	/* Names in the schema never need a function from the file. */
	return pragma_str(db, "PRAGMA trusted_schema=OFF", NULL, 0);
}

/* Statement and savepoint undo journals stay in memory (-1: never
 * written to a file); one holds at most the pages that one statement or
 * savepoint changes.  With SQLite's default (a file past 64 KiB), one
 * large statement turned the journal into a file for the rest of its
 * transaction, and every message of a MULTIAPPEND went through it:
 * most of a fill's write calls, and more bytes than the WAL got. */
#define STMT_JOURNAL_SPILL (-1)

/* Before the process's first database, or never: SQLite takes global
 * settings only before it initializes.  The master's spawner forks
 * before the master opens the directory, so each child gets here. */
static void
sqlite_settings(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	(void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STMT_JOURNAL_SPILL);
	/* No process runs two threads, and none reads SQLite's memory
	 * statistics: without them every sqlite3_malloc() took and gave
	 * back a global mutex (about 2 % of a user's process under the
	 * stress mix, doc/benchmarks.md). */
	(void)sqlite3_config(SQLITE_CONFIG_SINGLETHREAD);
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	store_vfs_install();
}

/* extra: more SQLITE_OPEN_* flags (SQLITE_OPEN_NOFOLLOW). */
static int
db_open_flags(struct sqldb *db, const char *path, bool create,
    enum store_sync sync, int extra, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | extra;
	mode_t old;
	int rc;

	sqlite_settings();
	memset(db, 0, sizeof(*db));
	db->sync = sync;
	if (create)
		flags |= SQLITE_OPEN_CREATE;
	/* The file, its -wal and its -shm are created 0600: SQLite gives
	 * the side files the mode of the database. */
	old = umask(077);
	rc = sqlite3_open_v2(path, &db->h, flags, NULL);
	if (rc == SQLITE_OK)
		rc = db_configure(db, sync) == 0 ? SQLITE_OK : SQLITE_ERROR;
	else
		snprintf(db->err, sizeof(db->err), "%s", db->h ?
		    sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
	umask(old);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db->err);
		sqlite3_close_v2(db->h);
		db->h = NULL;
		return -1;
	}
	return 0;
}

int
db_open(struct sqldb *db, const char *path, bool create,
    enum store_sync sync, char *err, size_t errlen)
{
	return db_open_flags(db, path, create, sync, 0, err, errlen);
}

void
db_close(struct sqldb *db)
{
	size_t i;

	if (db->h == NULL)
		return;
	db_spare_blob_drop(db);
	for (i = 0; i < db->nslots; i++)
		if (db->slots[i].st != NULL)
			sqlite3_finalize(db->slots[i].st);
	for (i = 0; i < db->ntransient; i++)
		sqlite3_finalize(db->transient[i]);
	free(db->slots);
	free(db->transient);
	if (sqlite3_close(db->h) != SQLITE_OK)
		log_warnx("close: %s", sqlite3_errmsg(db->h));
	memset(db, 0, sizeof(*db));
}

/* ---- transactions ---- */

/*
 * A command's reads in one read transaction (store_read_begin): SQLite
 * takes and drops its locks (fcntl on the database and its -shm file)
 * around every statement run on its own, a dozen per command.  A write
 * transaction is never nested in the read one: the read one ends first
 * (a read snapshot that another program's commit made stale can't be
 * upgraded to a write), and a new one starts after the write commits.
 */
void
db_spare_blob_drop(struct sqldb *db)
{
	if (db->spare_blob != NULL)
		(void)sqlite3_blob_close(db->spare_blob);
	db->spare_blob = NULL;
}

static void
group_pause(struct sqldb *db)
{
	/* An open blob would keep the read transaction (and its snapshot)
	 * alive past the COMMIT below. */
	db_spare_blob_drop(db);
	if (!db->group_open)
		return;
	db->group_open = false;
	if (!sqlite3_get_autocommit(db->h))
		(void)db_exec_cached(db, "COMMIT", "end of reads");
}

static void
group_resume(struct sqldb *db)
{
	if (!db->group || db->group_open || !sqlite3_get_autocommit(db->h))
		return;
	if (db_exec_cached(db, "BEGIN", "reads") == 0)
		db->group_open = true;
}

/*
 * Batches (store_batch_begin): the writes of the commands a client sent
 * together share one write transaction, each command's in a savepoint
 * of it.  A commit writes every page it changed to the WAL, and the
 * commands of a pipelined batch mostly change the same pages (the
 * mailbox row, the same leaf of messages and of its indexes).  The
 * caller sends nothing that depends on a write of the batch before
 * store_batch_commit() says it is committed.
 */

/* SQLite ends a transaction by itself on some errors (disk full, I/O
 * error): the batch's earlier commands' writes went with it. */
static void
batch_check(struct sqldb *db)
{
	if (db->batch_open && sqlite3_get_autocommit(db->h))
		db->batch_lost = true;
}

static int
batch_begin_cmd(struct sqldb *db)
{
	int rc;

	batch_check(db);
	if (sqlite3_get_autocommit(db->h)) {
		if ((rc = db_exec_cached(db, "BEGIN IMMEDIATE", "begin")) != 0)
			return rc;
		db->batch_open = true;
	} else if (!db->batch_open || db->batch_cmd)
		return db_err(db, -1, "a transaction is already open");
	if ((rc = db_exec_cached(db, "SAVEPOINT mk_cmd", "savepoint")) != 0)
		return rc;
	db->batch_cmd = true;
	return 0;
}

int
db_begin(struct sqldb *db)
{
	int rc;

	group_pause(db);
	if (db->batch)
		rc = batch_begin_cmd(db);
	else if (!sqlite3_get_autocommit(db->h))
		return db_err(db, -1, "a transaction is already open");
	else
		rc = db_exec_cached(db, "BEGIN IMMEDIATE", "begin");
	if (rc != 0)
		group_resume(db);
	return rc;
}

void
db_sync_at_commit(struct sqldb *db)
{
	db->sync_due = true;
}

/* fdatasync of the WAL file, which holds every commit not yet
 * checkpointed: what synchronous=FULL does at each commit, here only for
 * the commits that ask for it.  The commit has happened either way; a
 * failure here means it may not survive a crash of the machine. */
static int
wal_sync(struct sqldb *db)
{
	sqlite3_file *f = NULL;

	if (sqlite3_file_control(db->h, "main", SQLITE_FCNTL_JOURNAL_POINTER,
	    &f) != SQLITE_OK || f == NULL || f->pMethods == NULL)
		return db_err(db, -1, "sync: no WAL file");
	if (f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) != SQLITE_OK) {
		log_warnx("sync of the WAL file failed");
		return db_err(db, -1, "sync: the disk refused the write");
	}
	return 0;
}

int
db_commit(struct sqldb *db)
{
	bool due = db->sync_due && db->sync == STORE_SYNC_MESSAGES;
	int rc;

	db->sync_due = false;
	if (db->batch && db->batch_cmd) {
		/* Durable at the batch's commit, before any answer goes. */
		if ((rc = db_exec_cached(db, "RELEASE mk_cmd", "release")) != 0)
			return rc;	/* db_rollback() rolls it back */
		db->batch_cmd = false;
		db->batch_sync |= due;
		return 0;
	}
	rc = db_exec_cached(db, "COMMIT", "commit");
	if (rc == 0 && due)
		rc = wal_sync(db);
	group_resume(db);
	return rc;
}

void
db_rollback(struct sqldb *db)
{
	db->sync_due = false;
	if (db->batch && db->batch_cmd) {
		/* This command's writes go; the batch's earlier ones stay. */
		db->batch_cmd = false;
		batch_check(db);
		if (!sqlite3_get_autocommit(db->h)) {
			(void)db_exec_cached(db, "ROLLBACK TO mk_cmd",
			    "rollback to");
			(void)db_exec_cached(db, "RELEASE mk_cmd", "release");
		}
		return;
	}
	/* No command of the batch is open: nothing here is this caller's
	 * to roll back (the batch's earlier commands' writes stay). */
	if (db->batch && db->batch_open) {
		batch_check(db);
		return;
	}
	/* The command's read transaction is open again: the write was
	 * committed (only its sync failed), or never began. */
	if (db->group_open)
		return;
	/* SQLite may already have rolled back by itself (disk full). */
	if (!sqlite3_get_autocommit(db->h))
		(void)db_exec_cached(db, "ROLLBACK", "rollback");
	group_resume(db);
}

int
db_txn_enter(struct sqldb *db, enum db_txn *t)
{
	int rc;

	group_pause(db);
	/* Between a batch's commands, an operation is a command of its own:
	 * a savepoint the batch's commit knows is open (batch_cmd). */
	if (sqlite3_get_autocommit(db->h) ||
	    (db->batch && db->batch_open && !db->batch_cmd)) {
		*t = TXN_OWN;
		rc = db_begin(db);
	} else {
		*t = TXN_SAVEPOINT;
		rc = db_exec_cached(db, "SAVEPOINT mk_op", "savepoint");
	}
	if (rc != 0)
		*t = TXN_NONE;
	return rc;
}

int
db_txn_leave(struct sqldb *db, enum db_txn t, int rc)
{
	if (t == TXN_OWN) {
		if (rc == 0 && (rc = db_commit(db)) == 0)
			return 0;
		db_rollback(db);
		return rc;
	}
	if (t == TXN_SAVEPOINT) {
		if (rc == 0)
			return db_exec_cached(db, "RELEASE mk_op", "release");
		if (!sqlite3_get_autocommit(db->h)) {
			(void)db_exec_cached(db, "ROLLBACK TO mk_op", "rollback to");
			(void)db_exec_cached(db, "RELEASE mk_op", "release");
		}
	}
	return rc;
}

/* ---- the store ---- */

/* 384 KiB.  256 cost 4-7 % more CPU per command in imaptest's mix than
 * 512 (pages read again through pread; doc/benchmarks.md, "sixth
 * look"); 384 against 512 gave the same CPU within the rounds' spread
 * and 4-5 MiB less PSS with 50 busy users ("Peak memory beside
 * Dovecot").  A resting process gives its cache back
 * (store_release_memory). */
#define STORE_CACHE_PRAGMA "PRAGMA cache_size=-384"	/* KiB */

static int
store_data_version(struct store *s, int64_t *v)
{
	sqlite3_stmt *st = db_stmt(&s->db, "PRAGMA data_version");

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		int rc = db_fail(&s->db, "data_version");
		db_done(&s->db, st);
		return rc;
	}
	*v = sqlite3_column_int64(st, 0);
	db_done(&s->db, st);
	return 0;
}

static int
store_subscribe_new(struct store *s, const char *name)
{
	return store_sub_set(s, name, true);
}

/* INBOX always exists; a new store also gets the configured folders. */
static int
store_setup(struct store *s, bool fresh, const struct store_init_folder *init,
    size_t ninit)
{
	struct mbox m;
	enum db_txn t;
	size_t i;
	int rc;

	if (!fresh && (rc = store_mbox_find(s, "INBOX", &m)) != MK_NOTFOUND)
		return rc;
	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	rc = store_mbox_find(s, "INBOX", &m);
	if (rc == MK_NOTFOUND)
		rc = store_mbox_create(s, "INBOX", 0, &m);
	if (rc == 0 && fresh)
		rc = store_subscribe_new(s, "INBOX");
	for (i = 0; rc == 0 && fresh && i < ninit; i++) {
		rc = store_mbox_create(s, init[i].name, init[i].special_use, &m);
		if (rc == MK_EXISTS)
			rc = store_mbox_set_special_use(s, &m, init[i].special_use);
		if (rc == 0)
			rc = store_subscribe_new(s, m.name);
		if (rc != 0 && rc != -1 && rc != MK_BUSY)
			rc = db_err(&s->db, -1, "initial folder \"%s\": "
			    "invalid name", init[i].name);
	}
	return db_txn_leave(&s->db, t, rc);
}

/* Whether the list (tests pass shorter ones) reaches the full-text
 * index's migration: its tables exist only then. */
static bool
mig_has_fts(const struct db_migration *mig, size_t nmig)
{
	for (size_t i = 0; i < nmig; i++)
		if (mig[i].sql == store_schema_fts)
			return true;
	return false;
}

/* Whether the list reaches schema 11: object ids, save dates and
 * previews are written only then. */
static bool
mig_has_objids(const struct db_migration *mig, size_t nmig)
{
	for (size_t i = 0; i < nmig; i++)
		if (mig[i].sql == store_schema_v11)
			return true;
	return false;
}

static int
store_open_flags(const char *path, bool create, enum store_sync sync,
    int extra, const struct store_init_folder *init, size_t ninit,
    const struct db_migration *mig, size_t nmig,
    struct store **out, char *err, size_t errlen)
{
	struct store *s = xcalloc(1, sizeof(*s));
	int from = 0;

	*out = NULL;
	s->kw_gen = 1;		/* a view's 0 is "never counted" */
	s->objids = mig_has_objids(mig, nmig);
	if (db_open_flags(&s->db, path, create, sync, extra, err,
	    errlen) != 0) {
		free(s);
		return -1;
	}
	/* One process per user keeps its store open: SQLite's default
	 * cache (2 MB) would soon hold all of a small store, message bodies
	 * included, in every process.  The b-tree pages a command walks fit
	 * in far less; bodies are read again from the kernel's page cache. */
	if (pragma_str(&s->db, STORE_CACHE_PRAGMA, NULL, 0) != 0 ||
	    db_migrate(&s->db, mig, nmig, &from) != 0 ||
	    store_setup(s, from == 0, init, ninit) != 0 ||
	    (mig_has_fts(mig, nmig) && store_fts_open(s) != 0) ||
	    store_data_version(s, &s->data_version) != 0) {
		snprintf(err, errlen, "%s: %s", path, s->db.err);
		store_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

int
store_open_with(const char *path, bool create, enum store_sync sync,
    const struct store_init_folder *init, size_t ninit,
    const struct db_migration *mig, size_t nmig,
    struct store **out, char *err, size_t errlen)
{
	return store_open_flags(path, create, sync, 0, init, ninit, mig, nmig,
	    out, err, errlen);
}

int
store_open(const char *path, bool create, enum store_sync sync,
    const struct store_init_folder *init, size_t ninit,
    struct store **out, char *err, size_t errlen)
{
	return store_open_with(path, create, sync, init, ninit,
	    store_migrations, store_nmigrations, out, err, errlen);
}

int
store_open_nofollow(const char *path, bool create, enum store_sync sync,
    const struct store_init_folder *init, size_t ninit,
    struct store **out, char *err, size_t errlen)
{
	return store_open_flags(path, create, sync, SQLITE_OPEN_NOFOLLOW,
	    init, ninit, store_migrations, store_nmigrations, out, err, errlen);
}

/*
 * A statement is worth its memory (1 to 16 KiB each) while it keeps
 * running.  Those a store runs once when it opens, and those of the idle
 * tasks (the backfills, the recompression walk), would otherwise stay
 * with the hot ones until the process rests: 34 of the 81 statements a
 * busy user's process held under imaptest's mix, 82 KiB of its heap,
 * had run 30 times or fewer in 30 s, most of them once.  So every
 * STMT_SWEEP_EVERY batches, the statements not run in the last
 * STMT_SWEEP_EVERY are finalized; a dropped one is prepared again when
 * next wanted (some tens of microseconds).  doc/benchmarks.md, "Peak
 * memory beside Dovecot".
 */
#define STMT_SWEEP_EVERY 256

static void
db_sweep_statements(struct sqldb *db)
{
	size_t i, dropped = 0;

	for (i = 0; i < db->nslots; i++) {
		struct db_slot *sl = &db->slots[i];

		if (sl->sql == NULL ||
		    db->epoch - sl->used < STMT_SWEEP_EVERY ||
		    sqlite3_stmt_busy(sl->st))
			continue;
		sqlite3_finalize(sl->st);
		sl->sql = NULL;
		sl->st = NULL;
		db->nused--;
		dropped++;
	}
	/* Open addressing: the survivors are laid out again, so that no
	 * chain breaks at a hole. */
	if (dropped > 0)
		slots_rehash(db, db->nslots);
}

void
store_batch_ended(struct store *s, bool between)
{
	if (s == NULL || s->db.h == NULL)
		return;
	if (++s->db.epoch % STMT_SWEEP_EVERY == 0 && between &&
	    s->db.ntransient == 0)
		db_sweep_statements(&s->db);
}

/* Finalizes the cached statements (they are prepared again on first
 * use) unless one is running. */
static void
db_drop_statements(struct sqldb *db)
{
	size_t i;

	db_spare_blob_drop(db);
	for (i = 0; i < db->nslots; i++)
		if (db->slots[i].st != NULL && sqlite3_stmt_busy(db->slots[i].st))
			return;
	if (db->ntransient > 0)
		return;
	for (i = 0; i < db->nslots; i++)
		if (db->slots[i].st != NULL)
			sqlite3_finalize(db->slots[i].st);
	free(db->slots);
	db->slots = NULL;
	db->nslots = db->nused = 0;
}

/* SQLite's page cache otherwise takes SQLITE_DEFAULT_PCACHE_INITSZ (20)
 * pages, 87 KiB, in one malloc() per connection, kept until it closes:
 * sqlite3_db_release_memory() empties the pages but cannot give the
 * block back, and once a command has used them they stay resident in
 * every resting process.  Page by page they are freed. */
int
store_memory_lean(void)
{
	if (sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0) != SQLITE_OK)
		return -1;
	return 0;
}

void
store_release_memory(struct store *s, bool statements)
{
	if (s == NULL || s->db.h == NULL)
		return;
	if (statements)
		db_drop_statements(&s->db);
	body_zfree(s);
	(void)sqlite3_db_release_memory(s->db.h);
}

/* The cache of a command that writes many pages: with the small one,
 * a MULTIAPPEND of 500 messages (some 500 pages) spilled dirty pages to
 * the WAL before its commit and read them back.  Back to the small one
 * after, which frees what was above it.  Only for such commands: the two
 * PRAGMAs cost an APPEND of one small message more than the spill they
 * guard against (about 1.5 % of the mailbox processes' CPU in imaptest's
 * mix, doc/benchmarks.md). */
#define STORE_BIG_CACHE_PRAGMA "PRAGMA cache_size=-16384"	/* KiB */
/* What one message adds besides its text: a row or an index entry in
 * some twenty b-trees (doc/benchmarks.md, "What an APPEND writes"). */
#define APPEND_PAGES_PER_MSG 20
/* Dirty pages the 384 KiB cache (96 pages) holds with room left for
 * the pages the command reads. */
#define SMALL_CACHE_DIRTY 64

void
store_cache_for(struct store *s, uint64_t nmsgs, uint64_t bytes)
{
	uint64_t pages = bytes / 4096 +	/* the store's page, SQLite's default */
	    MK_MIN(nmsgs, (uint64_t)1 << 32) * APPEND_PAGES_PER_MSG;

	if (s->cache_big || pages <= SMALL_CACHE_DIRTY)
		return;
	(void)db_exec_cached(&s->db, STORE_BIG_CACHE_PRAGMA, "cache size");
	s->cache_big = true;
}

void
store_cache_small(struct store *s)
{
	if (!s->cache_big)
		return;
	(void)db_exec_cached(&s->db, STORE_CACHE_PRAGMA, "cache size");
	s->cache_big = false;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->db.h != NULL && !sqlite3_get_autocommit(s->db.h)) {
		log_warnx("closing the store inside a transaction: rolled back");
		db_rollback(&s->db);
	}
	fts_queue_drop(s);
	free(s->fq);
	body_zfree(s);
	db_close(&s->db);
	free(s);
}

const char *
store_errmsg(struct store *s)
{
	return s->db.err;
}

int
store_schema_version(struct store *s)
{
	int v;

	return db_user_version(&s->db, &v) == 0 ? v : -1;
}

int
store_begin(struct store *s)
{
	append_run_drop(s);
	return db_begin(&s->db);
}

int
store_commit(struct store *s)
{
	int rc = append_run_flush(s);

	if (rc == 0)
		rc = fts_queue_flush(s);
	return rc != 0 ? rc : db_commit(&s->db);
}

void
store_rollback(struct store *s)
{
	append_run_drop(s);
	fts_queue_drop(s);
	db_rollback(&s->db);
}

bool
store_in_transaction(struct store *s)
{
	return !sqlite3_get_autocommit(s->db.h) && !s->db.group_open;
}

void
store_batch_begin(struct store *s)
{
	s->db.batch = true;
	store_read_begin(s);
}

int
store_batch_commit(struct store *s)
{
	struct sqldb *db = &s->db;
	bool due = (db->batch_sync || db->sync_due) &&
	    db->sync == STORE_SYNC_MESSAGES;
	int rc = 0;

	/* Inside a command's own transaction (something it does before
	 * its commit sends): that command's commit comes after, and this
	 * goes out as it did before batches, inside it. */
	if (!db->batch_open || db->batch_cmd)
		return 0;
	batch_check(db);
	db->batch_open = false;
	db->batch_sync = db->sync_due = false;
	if (db->batch_lost) {
		db->batch_lost = false;
		rc = db_err(db, -1, "the transaction was rolled back");
	} else
		rc = db_exec_cached(db, "COMMIT", "commit");
	if (rc == 0 && due)
		rc = wal_sync(db);
	if (!sqlite3_get_autocommit(db->h))
		(void)db_exec_cached(db, "ROLLBACK", "rollback");
	group_resume(db);
	return rc;
}

int
store_batch_end(struct store *s)
{
	int rc;

	store_read_end(s);
	if (s->db.batch_cmd) {
		/* A command that left its transaction open: none of the
		 * batch can be told of as done. */
		s->db.batch_cmd = false;
		s->db.batch_lost = true;
	}
	rc = store_batch_commit(s);

	s->db.batch = false;
	body_zexpire(s);
	return rc;
}

void
store_read_begin(struct store *s)
{
	s->db.group++;
	group_resume(&s->db);
}

void
store_read_end(struct store *s)
{
	/* The outermost pair decides: a paused command's resumption takes
	 * its own, the command's first run is in the caller's. */
	if (s->db.group > 0 && --s->db.group == 0)
		group_pause(&s->db);
}

bool
store_changed_externally(struct store *s)
{
	int64_t v = 0;	/* gcc -O3 cannot see store_data_version set it */

	/* data_version moves only for commits of other connections. */
	if (store_data_version(s, &v) != 0) {
		s->kw_gen++;
		return true;	/* can't tell: make the caller re-read */
	}
	if (v == s->data_version)
		return false;
	s->data_version = v;
	s->kw_gen++;
	return true;
}

/* ---- quota usage ---- */

int
quota_add(struct store *s, int64_t bytes, int64_t msgs)
{
	sqlite3_stmt *st = db_stmt(&s->db, "UPDATE quota_usage SET "
	    "storage = storage + ?1, messages = messages + ?2 WHERE id = 1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, bytes);
	sqlite3_bind_int64(st, 2, msgs);
	return db_run(&s->db, st, "quota update");
}

static int
quota_read(struct store *s, const char *sql, struct quota_usage *u)
{
	sqlite3_stmt *st = db_stmt(&s->db, sql);
	int rc;

	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? db_err(&s->db, -1, "no quota row") :
		    db_fail(&s->db, "quota read");
		db_done(&s->db, st);
		return rc;
	}
	u->storage = (uint64_t)sqlite3_column_int64(st, 0);
	u->messages = (uint64_t)sqlite3_column_int64(st, 1);
	db_done(&s->db, st);
	return 0;
}

static const char SQL_QUOTA_KEPT[] =
	"SELECT storage, messages FROM quota_usage WHERE id = 1";
/* METADATA values count as storage (store_meta.c). */
static const char SQL_QUOTA_ACTUAL[] =
	"SELECT coalesce(sum(size), 0) + (SELECT coalesce(sum(length(value)),"
	" 0) FROM metadata), count(*) FROM messages";
static const char SQL_QUOTA_SET[] =
	"UPDATE quota_usage SET storage = ?1, messages = ?2 WHERE id = 1";
/* The per-mailbox counters are derived data too; repair them alike. */
static const char SQL_COUNTS_FIX[] =
	"UPDATE mailboxes SET (nmsgs, nunseen, ndeleted, bytes, deleted_bytes) ="
	" (SELECT count(*), coalesce(sum((flags & 1) = 0), 0),"
	"  coalesce(sum((flags & 8) != 0), 0), coalesce(sum(size), 0),"
	"  coalesce(sum(CASE WHEN flags & 8 THEN size ELSE 0 END), 0)"
	"  FROM messages WHERE mailbox_id = mailboxes.id)";

int
store_quota_usage(struct store *s, struct quota_usage *u)
{
	return quota_read(s, SQL_QUOTA_KEPT, u);
}

int
store_quota_recompute(struct store *s, struct quota_usage *kept,
    struct quota_usage *actual)
{
	sqlite3_stmt *st;
	enum db_txn t;
	int rc;

	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	if ((rc = quota_read(s, SQL_QUOTA_KEPT, kept)) == 0 &&
	    (rc = quota_read(s, SQL_QUOTA_ACTUAL, actual)) == 0) {
		if ((st = db_stmt(&s->db, SQL_QUOTA_SET)) == NULL)
			rc = -1;
		else {
			sqlite3_bind_int64(st, 1, (int64_t)actual->storage);
			sqlite3_bind_int64(st, 2, (int64_t)actual->messages);
			rc = db_run(&s->db, st, "quota set");
		}
	}
	if (rc == 0) {
		if ((st = db_stmt(&s->db, SQL_COUNTS_FIX)) == NULL)
			rc = -1;
		else
			rc = db_run(&s->db, st, "mailbox counters");
	}
	return db_txn_leave(&s->db, t, rc);
}
