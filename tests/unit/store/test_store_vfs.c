/*
 * test_store_vfs.c - the store's VFS (store/store_vfs.c): each WAL frame
 * reaches the file in one write, and what a commit wrote is all in the
 * file when the commit returns (another connection, on SQLite's plain
 * unix VFS, sees it).
 *
 * The writes are counted where the unix VFS makes them: its "pwrite" and
 * "pwrite64" system calls are swapped (xSetSystemCall) for wrappers that
 * note each size and then call the real one.
 */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "common/imap.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store_support.h"

static sqlite3_vfs *unix_vfs;
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int nwrites, nheaders, nframes;

static void
note(size_t n)
{
	nwrites++;
	if (n == 24)
		nheaders++;
	else if (n == 24 + 4096)
		nframes++;
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
	nwrites = nheaders = nframes = 0;
}

static void
counting_off(void)
{
	(void)unix_vfs->xSetSystemCall(unix_vfs, "pwrite", NULL);
	(void)unix_vfs->xSetSystemCall(unix_vfs, "pwrite64", NULL);
}

static int
count_rows(const char *path)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1;

	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, "unix") ==
	    SQLITE_OK && sqlite3_prepare_v2(h, "SELECT count(*) FROM messages",
	    -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close_v2(h);
	return n;
}

void
test_vfs_wal_frames_one_write_each(void)
{
	char *dir = ts_dir(), path[512];
	struct store *s = ts_open(dir);
	struct mbox m;
	int i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	snprintf(path, sizeof(path), "%s", ts_path(dir, "store.db"));
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "INBOX", &m), 0);
	CU_ASSERT_NOT_EQUAL(ts_append(s, &m, ts_msg(NULL, "a"), 0, "", 0, 0), 0);
	counting_on();
	for (i = 0; i < 20; i++)
		CU_ASSERT_NOT_EQUAL(ts_append(s, &m, ts_msg(NULL, "b"), 0, "",
		    0, 0), 0);
	counting_off();
	/* Each commit wrote frames, none of them in two pieces. */
	CU_ASSERT_TRUE(nframes >= 20);
	CU_ASSERT_EQUAL(nheaders, 0);
	/* Every commit is whole in the WAL while the store stays open. */
	CU_ASSERT_EQUAL(count_rows(path), 21);
	store_close(s);
	CU_ASSERT_EQUAL(count_rows(path), 21);
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
