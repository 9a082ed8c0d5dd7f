/*
 * test_store_vfs.c - the store's VFS (store/store_vfs.c): the frames of
 * a commit reach the WAL in whole-frame writes of up to
 * STORE_WAL_RUN_MAX bytes, never a 24-byte header on its own; what a
 * commit wrote is all in the file when the commit returns (another
 * connection, on SQLite's plain unix VFS, sees it after each one); a
 * commit bigger than the page cache (spilled frames held, then read
 * back) stores its message byte for byte and leaves a sound database.
 *
 * The writes are counted where the unix VFS makes them: its "pwrite" and
 * "pwrite64" system calls are swapped (xSetSystemCall) for wrappers that
 * note each size and then call the real one.
 */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/imap.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store_support.h"

static sqlite3_vfs *unix_vfs;
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
#define FRAME (24 + 4096)
/* Writes made, 24-byte ones, frames carried, writes that are not whole
 * frames (after the WAL's 32-byte header, if they start with it), the
 * biggest write. */
static int nwrites, nheaders, nframes, nodd;
static size_t biggest;

static void
note(size_t n)
{
	size_t frames = n % FRAME == 32 ? n - 32 : n;

	nwrites++;
	if (n == 24)
		nheaders++;
	if (frames % FRAME == 0)
		nframes += (int)(frames / FRAME);
	else
		nodd++;
	if (n > biggest)
		biggest = n;
}

static ssize_t
counting_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	note(n);
	return real_pwrite(fd, buf, n, off);
}

static ssize_t
counting_pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	note(n);
	return real_pwrite64(fd, buf, n, off);
}

static void
counting_on(void)
{
	unix_vfs = sqlite3_vfs_find("unix");
	CU_ASSERT_PTR_NOT_NULL_FATAL(unix_vfs);
	real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))
	    unix_vfs->xGetSystemCall(unix_vfs, "pwrite");
	real_pwrite64 = (ssize_t (*)(int, const void *, size_t, off_t))
	    unix_vfs->xGetSystemCall(unix_vfs, "pwrite64");
	if (real_pwrite != NULL)
		CU_ASSERT_EQUAL(unix_vfs->xSetSystemCall(unix_vfs, "pwrite",
		    (sqlite3_syscall_ptr)counting_pwrite), SQLITE_OK);
	if (real_pwrite64 != NULL)
		CU_ASSERT_EQUAL(unix_vfs->xSetSystemCall(unix_vfs, "pwrite64",
		    (sqlite3_syscall_ptr)counting_pwrite64), SQLITE_OK);
	nwrites = nheaders = nframes = nodd = 0;
	biggest = 0;
}

static void
counting_off(void)
{
	(void)unix_vfs->xSetSystemCall(unix_vfs, "pwrite", NULL);
	(void)unix_vfs->xSetSystemCall(unix_vfs, "pwrite64", NULL);
}

static int64_t
ask(const char *path, const char *sql, char *text, size_t textlen)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, "unix") ==
	    SQLITE_OK && sqlite3_prepare_v2(h, sql, -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		if (text != NULL)
			snprintf(text, textlen, "%s",
			    (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	sqlite3_close_v2(h);
	return n;
}

static int
count_rows(const char *path)
{
	return (int)ask(path, "SELECT count(*) FROM messages", NULL, 0);
}

/* Every commit is whole in the file the moment it returns: another
 * connection counts each new row at once. */
void
test_vfs_wal_commits_gathered(void)
{
	char *dir = ts_dir(), path[512];
	struct store *s = ts_open(dir);
	struct mbox m;
	int i, seen = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	snprintf(path, sizeof(path), "%s", ts_path(dir, "store.db"));
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "INBOX", &m), 0);
	CU_ASSERT_NOT_EQUAL(ts_append(s, &m, ts_msg(NULL, "a"), 0, "", 0, 0), 0);
	for (i = 0; i < 20; i++) {
		counting_on();
		CU_ASSERT_NOT_EQUAL(ts_append(s, &m, ts_msg(NULL, "b"), 0, "",
		    0, 0), 0);
		counting_off();
		/* Frames, in whole-frame writes, fewer writes than frames. */
		CU_ASSERT_TRUE(nframes >= 2);
		CU_ASSERT_EQUAL(nheaders, 0);
		CU_ASSERT_EQUAL(nodd, 0);
		CU_ASSERT_TRUE(nwrites * 2 <= nframes);
		CU_ASSERT_TRUE(biggest <= STORE_WAL_RUN_MAX);
		seen += count_rows(path) == i + 2;
	}
	CU_ASSERT_EQUAL(seen, 20);
	store_close(s);
	CU_ASSERT_EQUAL(count_rows(path), 21);
	ts_rmdir(dir);
}

/* A 3 MB message is eight times the page cache: SQLite spills frames
 * before the commit (held in runs that no commit ends) and reads pages
 * back.  All of it goes out in runs, and it reads back as it went in. */
void
test_vfs_big_commit_in_runs(void)
{
	char *dir = ts_dir(), path[512], check[64], *back = NULL;
	struct store *s = ts_open(dir);
	size_t len = 3 * 1024 * 1024, backlen = 0;
	char *msg = ts_noise_msg(len);
	struct msg_new n = { .data = msg, .len = len,
	    .internaldate = { 1700000000, 0 } };
	struct mbox m;
	uint32_t uid = 0;
	char sql[128];

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	snprintf(path, sizeof(path), "%s", ts_path(dir, "store.db"));
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "INBOX", &m), 0);
	counting_on();
	CU_ASSERT_EQUAL(store_msg_append(s, &m, &n, &uid), 0);
	counting_off();
	CU_ASSERT_TRUE(nframes >= (int)(len / 4096));
	CU_ASSERT_EQUAL(nheaders, 0);
	CU_ASSERT_TRUE(biggest <= STORE_WAL_RUN_MAX);
	CU_ASSERT_TRUE(nwrites * 8 <= nframes);
	CU_ASSERT_EQUAL(count_rows(path), 1);
	CU_ASSERT_EQUAL(ask(path, "PRAGMA integrity_check", check,
	    sizeof(check)), 0);
	CU_ASSERT_STRING_EQUAL(check, "ok");
	snprintf(sql, sizeof(sql), "SELECT body_id FROM messages WHERE uid = %u",
	    uid);
	CU_ASSERT_EQUAL(store_body_load(s, ask(path, sql, NULL, 0), &back,
	    &backlen), 0);
	CU_ASSERT_EQUAL(backlen, len);
	CU_ASSERT_TRUE(back != NULL && memcmp(back, msg, len) == 0);
	free(back);
	free(msg);
	store_close(s);
	ts_rmdir(dir);
}

/* The store's connections are on its VFS, which is the default. */
void
test_vfs_is_the_default(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	sqlite3_vfs *v = sqlite3_vfs_find(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_STRING_EQUAL(v->zName, "mk-unix");
	store_close(s);
	ts_rmdir(dir);
}
