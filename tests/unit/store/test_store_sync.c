/*
 * test_store_sync.c - when a user store's commits wait for the disk
 * (enum store_sync: NONE, ALL, MESSAGES), the per-command read
 * transaction (store_read_begin / store_read_end), and that APPEND and
 * EXPUNGE make no temporary file.
 *
 * The syncs are counted by a VFS that is SQLite's own default VFS with
 * one method wrapped: every file it opens is the real file (real
 * descriptors, real fdatasync); xSync is counted before it is passed on,
 * and xOpen counts the temporary files.
 */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <string.h>

#include "common/imap.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store_support.h"

static sqlite3_vfs counting_vfs;
static sqlite3_vfs *real_vfs;
/* The default VFS gives files of different kinds different method
 * tables (the database locks, its journals don't): one copy of each. */
#define NTABLES 8
static const sqlite3_io_methods *real_methods[NTABLES];
static sqlite3_io_methods counting_methods[NTABLES];
static int ntables;
static int nsyncs;
static int ntemps;

static int
counting_sync(sqlite3_file *f, int flags)
{
	int i = (int)(f->pMethods - counting_methods);

	nsyncs++;
	return real_methods[i]->xSync(f, flags);
}

static const sqlite3_io_methods *
counting_table(const sqlite3_io_methods *real)
{
	int i;

	for (i = 0; i < ntables; i++)
		if (real_methods[i] == real)
			return &counting_methods[i];
	CU_ASSERT_FATAL(ntables < NTABLES);
	real_methods[i] = real;
	counting_methods[i] = *real;
	counting_methods[i].xSync = counting_sync;
	ntables++;
	return &counting_methods[i];
}

/* Opens the real file in place, then swaps in a copy of its method
 * table whose xSync counts. */
static int
counting_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
    int flags, int *out)
{
	int rc = real_vfs->xOpen(real_vfs, name, f, flags, out);

	(void)vfs;
	if (flags & (SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL |
	    SQLITE_OPEN_SUBJOURNAL | SQLITE_OPEN_TRANSIENT_DB))
		ntemps++;
	if (rc == SQLITE_OK && f->pMethods != NULL)
		f->pMethods = counting_table(f->pMethods);
	return rc;
}

static void
counting_install(void)
{
	/* Stacked on the store's own default (store_vfs.c), as it would be
	 * had a store been opened first. */
	store_vfs_install();
	real_vfs = sqlite3_vfs_find(NULL);
	counting_vfs = *real_vfs;
	counting_vfs.zName = "mk-counting";
	counting_vfs.pNext = NULL;
	counting_vfs.xOpen = counting_open;
	CU_ASSERT_EQUAL(sqlite3_vfs_register(&counting_vfs, 1), SQLITE_OK);
}

static void
counting_remove(void)
{
	sqlite3_vfs_unregister(&counting_vfs);
	sqlite3_vfs_register(real_vfs, 1);
}

static uint32_t
messages(struct store *s, const struct mbox *m)
{
	struct mbox_status st;

	if (store_mbox_status(s, m, &st) != 0)
		return 0;
	return st.messages;
}

struct sync_counts {
	int append, flags, expunge;
};

/* Syncs made by an APPEND, a flag change and an EXPUNGE in a store
 * opened with sync. */
static struct sync_counts
count_syncs(enum store_sync sync)
{
	struct sync_counts n = { -1, -1, -1 };
	char *dir = ts_dir(), err[256];
	struct store *s = NULL;
	struct mbox m;
	uint32_t uid;
	struct flag_change ch = { .flags = MF_FLAGGED, .keywords = "" };

	counting_install();
	if (store_open(ts_path(dir, "store.db"), true, sync, NULL, 0, &s, err,
	    sizeof(err)) != 0) {
		CU_FAIL(err);
		goto out;
	}
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "INBOX", &m), 0);
	/* The first append also sets the WAL up; count a second one. */
	CU_ASSERT_NOT_EQUAL(ts_append(s, &m, ts_msg(NULL, "a"), 0, "", 0, 0), 0);
	nsyncs = 0;
	uid = ts_append(s, &m, ts_msg(NULL, "b"), 0, "", 0, 0);
	CU_ASSERT_NOT_EQUAL(uid, 0);
	n.append = nsyncs;
	ch.uid = uid;
	nsyncs = 0;
	CU_ASSERT_EQUAL(store_msg_set_flags(s, &m, &ch, 1, NULL), 0);
	n.flags = nsyncs;
	nsyncs = 0;
	CU_ASSERT_EQUAL(store_msg_expunge(s, &m, &uid, 1), 0);
	n.expunge = nsyncs;
out:
	store_close(s);
	counting_remove();
	ts_rmdir(dir);
	return n;
}

void
test_sync_messages_only_new_mail(void)
{
	struct sync_counts n = count_syncs(STORE_SYNC_MESSAGES);

	CU_ASSERT_TRUE(n.append >= 1);
	CU_ASSERT_EQUAL(n.flags, 0);
	CU_ASSERT_EQUAL(n.expunge, 0);
}

void
test_sync_all_every_commit(void)
{
	struct sync_counts n = count_syncs(STORE_SYNC_ALL);

	CU_ASSERT_TRUE(n.append >= 1);
	CU_ASSERT_TRUE(n.flags >= 1);
	CU_ASSERT_TRUE(n.expunge >= 1);
}

void
test_sync_none(void)
{
	struct sync_counts n = count_syncs(STORE_SYNC_NONE);

	CU_ASSERT_EQUAL(n.append, 0);
	CU_ASSERT_EQUAL(n.flags, 0);
	CU_ASSERT_EQUAL(n.expunge, 0);
}

/* A message appended without a sync is still there for the next
 * connection: a commit is in the WAL when COMMIT returns. */
void
test_sync_none_commit_visible(void)
{
	char *dir = ts_dir(), err[256];
	struct store *s = NULL, *t = NULL;
	struct mbox m;

	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(dir, "store.db"), true,
	    STORE_SYNC_NONE, NULL, 0, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "INBOX", &m), 0);
	CU_ASSERT_NOT_EQUAL(ts_append(s, &m, ts_msg(NULL, "a"), 0, "", 0, 0), 0);
	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(dir, "store.db"), false,
	    STORE_SYNC_NONE, NULL, 0, &t, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_mbox_find(t, "INBOX", &m), 0);
	CU_ASSERT_EQUAL(messages(t, &m), 1);
	store_close(t);
	store_close(s);
	ts_rmdir(dir);
}

/* Inside a command's read transaction: writes still work (the read
 * transaction ends first, so a commit by another connection in between
 * can't make the write fail), and reads after them see them. */
void
test_read_group_writes(void)
{
	char *dir = ts_dir(), err[256];
	struct store *s = NULL, *t = NULL;
	struct mbox m, m2;

	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(dir, "store.db"), true,
	    STORE_SYNC_NONE, NULL, 0, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(dir, "store.db"), false,
	    STORE_SYNC_NONE, NULL, 0, &t, err, sizeof(err)), 0);
	store_read_begin(s);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &m), 0);
	CU_ASSERT_FALSE(store_in_transaction(s));
	/* Another connection commits after this snapshot was taken. */
	CU_ASSERT_EQUAL(store_mbox_find(t, "INBOX", &m2), 0);
	CU_ASSERT_NOT_EQUAL(ts_append(t, &m2, ts_msg(NULL, "t"), 0, "", 0, 0),
	    0);
	/* A write of ours now: a new write transaction, not an upgrade. */
	CU_ASSERT_NOT_EQUAL(ts_append(s, &m, ts_msg(NULL, "s"), 0, "", 0, 0), 0);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &m), 0);
	CU_ASSERT_EQUAL(messages(s, &m), 2);
	/* An explicit transaction, as APPEND and STORE take. */
	CU_ASSERT_EQUAL(store_begin(s), 0);
	CU_ASSERT_TRUE(store_in_transaction(s));
	CU_ASSERT_EQUAL(store_commit(s), 0);
	CU_ASSERT_FALSE(store_in_transaction(s));
	store_read_end(s);
	/* No transaction is left open: the other connection can write. */
	CU_ASSERT_NOT_EQUAL(ts_append(t, &m2, ts_msg(NULL, "u"), 0, "", 0, 0),
	    0);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &m), 0);
	CU_ASSERT_EQUAL(messages(s, &m), 3);
	store_close(t);
	store_close(s);
	ts_rmdir(dir);
}

/* Temporary tables (the index triggers stage rows in them) and statement
 * journals stay in memory: on the server a file was made and unlinked at
 * many APPENDs (imaptest's mix, where new bodies reuse the pages of
 * expunged ones), 13 % of the statements' time. */
void
test_sync_no_temp_files(void)
{
	char *dir = ts_dir(), err[256];
	struct store *s = NULL;
	struct mbox m;
	uint32_t uid[4];
	static char big[300 * 1024];
	sqlite3_stmt *st = NULL;
	static const char hdr[] = "Subject: big\r\n\r\n";

	counting_install();
	ntemps = 0;
	if (store_open(ts_path(dir, "store.db"), true, STORE_SYNC_MESSAGES,
	    NULL, 0, &s, err, sizeof(err)) != 0) {
		CU_FAIL(err);
		goto out;
	}
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "INBOX", &m), 0);
	/* Big bodies: a new one reuses the pages an expunged one freed,
	 * which the statement's journal then holds. */
	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, hdr, sizeof(hdr) - 1);
	for (int i = 0; i < 4; i++) {
		uid[i] = ts_append(s, &m, i % 2 ? big : ts_msg(NULL, "t"), 0,
		    "", 0, 0);
		CU_ASSERT_NOT_EQUAL(uid[i], 0);
	}
	/* From the middle of a run (it splits), then its end. */
	CU_ASSERT_EQUAL(store_msg_expunge(s, &m, &uid[1], 1), 0);
	CU_ASSERT_EQUAL(store_msg_expunge(s, &m, &uid[3], 1), 0);
	/* In a transaction of the caller's (a savepoint inside it): every
	 * page it changes goes to the statement journal. */
	CU_ASSERT_EQUAL(store_begin(s), 0);
	CU_ASSERT_NOT_EQUAL(ts_append(s, &m, big, 0, "", 0, 0), 0);
	CU_ASSERT_NOT_EQUAL(ts_append(s, &m, big, 0, "", 0, 0), 0);
	CU_ASSERT_EQUAL(store_commit(s), 0);
	CU_ASSERT_EQUAL(messages(s, &m), 4);
	CU_ASSERT_EQUAL(ntemps, 0);
	CU_ASSERT_EQUAL(sqlite3_prepare_v2(s->db.h, "PRAGMA temp_store", -1,
	    &st, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_step(st), SQLITE_ROW);
	CU_ASSERT_EQUAL(sqlite3_column_int(st, 0), 2);	/* MEMORY */
	sqlite3_finalize(st);
out:
	store_close(s);
	counting_remove();
	ts_rmdir(dir);
}

/* ---- batches (store_batch_begin) ---- */

struct batch_fx {
	char         *dir;
	struct store *s, *t;	/* s batches; t is another connection */
	struct mbox   m;
};

static void
batch_setup(struct batch_fx *f)
{
	char err[256];

	memset(f, 0, sizeof(*f));
	f->dir = ts_dir();
	counting_install();
	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(f->dir, "store.db"), true,
	    STORE_SYNC_MESSAGES, NULL, 0, &f->s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(f->dir, "store.db"), false,
	    STORE_SYNC_NONE, NULL, 0, &f->t, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(f->s, "INBOX", &f->m), 0);
	/* The first append also sets the WAL up. */
	CU_ASSERT_NOT_EQUAL(ts_append(f->s, &f->m, ts_msg(NULL, "0"), 0, "",
	    0, 0), 0);
	nsyncs = 0;
}

static void
batch_teardown(struct batch_fx *f)
{
	store_close(f->t);
	store_close(f->s);
	counting_remove();
	ts_rmdir(f->dir);
}

/* What a connection sees in INBOX now. */
static uint32_t
seen_by(struct store *s)
{
	struct mbox m;

	if (store_mbox_find(s, "INBOX", &m) != 0)
		return 0;
	return messages(s, &m);
}

static uint32_t
append(struct batch_fx *f, const char *subject)
{
	return ts_append(f->s, &f->m, ts_msg(NULL, subject), 0, "", 0, 0);
}

/* A batch whose first command wrote "a" and whose second command is
 * inside its own transaction, having written "b". */
static void
mid_command(struct batch_fx *f)
{
	batch_setup(f);
	store_batch_begin(f->s);
	CU_ASSERT_NOT_EQUAL(append(f, "a"), 0);
	CU_ASSERT_EQUAL(store_begin(f->s), 0);
	CU_ASSERT_NOT_EQUAL(append(f, "b"), 0);
}

/* Several commands' writes become visible to others, and are synced, at
 * one commit; the batch's own later reads see them before. */
void
test_batch_one_commit(void)
{
	struct batch_fx f;
	struct flag_change ch = { .flags = MF_FLAGGED, .keywords = "" };

	batch_setup(&f);
	store_batch_begin(f.s);
	ch.uid = append(&f, "a");
	CU_ASSERT_NOT_EQUAL(ch.uid, 0);
	CU_ASSERT_NOT_EQUAL(append(&f, "b"), 0);
	CU_ASSERT_EQUAL(store_msg_set_flags(f.s, &f.m, &ch, 1, NULL), 0);
	CU_ASSERT_EQUAL(nsyncs, 0);
	CU_ASSERT_EQUAL(seen_by(f.s), 3);
	CU_ASSERT_EQUAL(seen_by(f.t), 1);
	CU_ASSERT_EQUAL(store_batch_commit(f.s), 0);
	CU_ASSERT_EQUAL(nsyncs, 1);	/* two new messages, one sync */
	CU_ASSERT_EQUAL(seen_by(f.t), 3);
	/* The batch goes on: the next write waits for the next commit. */
	CU_ASSERT_NOT_EQUAL(append(&f, "c"), 0);
	CU_ASSERT_EQUAL(seen_by(f.t), 3);
	CU_ASSERT_EQUAL(store_batch_end(f.s), 0);
	CU_ASSERT_EQUAL(nsyncs, 2);
	CU_ASSERT_EQUAL(seen_by(f.t), 4);
	CU_ASSERT_FALSE(store_in_transaction(f.s));
	/* After the batch, each write commits by itself again. */
	CU_ASSERT_NOT_EQUAL(append(&f, "d"), 0);
	CU_ASSERT_EQUAL(seen_by(f.t), 5);
	/* A batch that wrote nothing commits nothing. */
	store_batch_begin(f.s);
	CU_ASSERT_EQUAL(seen_by(f.s), 5);
	CU_ASSERT_FALSE(store_in_transaction(f.s));
	CU_ASSERT_EQUAL(store_batch_end(f.s), 0);
	CU_ASSERT_EQUAL(nsyncs, 3);
	batch_teardown(&f);
}

/* A command that fails takes back its own writes only. */
void
test_batch_rollback_is_the_commands(void)
{
	struct batch_fx f;

	mid_command(&f);
	CU_ASSERT_NOT_EQUAL(append(&f, "c"), 0);
	CU_ASSERT_EQUAL(seen_by(f.s), 4);
	store_rollback(f.s);
	CU_ASSERT_EQUAL(seen_by(f.s), 2);
	/* A transaction of its own is refused, as outside a batch. */
	CU_ASSERT_EQUAL(store_begin(f.s), 0);
	CU_ASSERT_NOT_EQUAL(store_begin(f.s), 0);
	CU_ASSERT_EQUAL(store_commit(f.s), 0);
	/* A rollback with no command open (an error path after a begin
	 * that failed) takes nothing of the batch's. */
	store_rollback(f.s);
	CU_ASSERT_EQUAL(seen_by(f.s), 2);
	CU_ASSERT_NOT_EQUAL(append(&f, "d"), 0);
	CU_ASSERT_EQUAL(store_batch_end(f.s), 0);
	CU_ASSERT_EQUAL(seen_by(f.t), 3);
	batch_teardown(&f);
}

/* SQLite ends the transaction by itself on a disk full or an I/O error:
 * the batch's earlier writes are gone, and the commit says so even when
 * the writes after it went through. */
void
test_batch_lost_is_reported(void)
{
	struct batch_fx f;

	batch_setup(&f);
	store_batch_begin(f.s);
	CU_ASSERT_NOT_EQUAL(append(&f, "a"), 0);
	CU_ASSERT_EQUAL(sqlite3_exec(f.s->db.h, "ROLLBACK", NULL, NULL, NULL),
	    SQLITE_OK);
	CU_ASSERT_NOT_EQUAL(append(&f, "b"), 0);
	CU_ASSERT_NOT_EQUAL(store_batch_end(f.s), 0);
	CU_ASSERT_EQUAL(seen_by(f.t), 1);
	CU_ASSERT_FALSE(store_in_transaction(f.s));
	/* The store goes on. */
	CU_ASSERT_NOT_EQUAL(append(&f, "c"), 0);
	CU_ASSERT_EQUAL(seen_by(f.t), 2);
	batch_teardown(&f);
}

/* Something sent from inside a command's own transaction (before its
 * commit): the batch is not committed under it; the command's commit
 * and the batch's come after. */
void
test_batch_commit_waits_for_the_command(void)
{
	struct batch_fx f;

	mid_command(&f);
	CU_ASSERT_EQUAL(store_batch_commit(f.s), 0);
	CU_ASSERT_EQUAL(seen_by(f.t), 1);
	CU_ASSERT_EQUAL(store_commit(f.s), 0);
	CU_ASSERT_EQUAL(store_batch_commit(f.s), 0);
	CU_ASSERT_EQUAL(seen_by(f.t), 3);
	/* A command that never ends its transaction: the batch's end
	 * says so, and nothing of it stays. */
	CU_ASSERT_NOT_EQUAL(append(&f, "c"), 0);
	CU_ASSERT_EQUAL(store_begin(f.s), 0);
	CU_ASSERT_NOT_EQUAL(append(&f, "d"), 0);
	CU_ASSERT_NOT_EQUAL(store_batch_end(f.s), 0);
	CU_ASSERT_TRUE(sqlite3_get_autocommit(f.s->db.h));
	CU_ASSERT_EQUAL(seen_by(f.t), 3);
	batch_teardown(&f);
}
