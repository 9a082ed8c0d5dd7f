/*
 * store_vfs.c - SQLite's own "unix" VFS, with one change for the WAL file:
 * the frames of a commit go to the file in as few writes as fit a buffer.
 *
 * SQLite writes each WAL frame as a 24-byte frame header and then the
 * page, two pwrite() calls for 4 KiB of data, and a commit of the stress
 * mix's batches writes some 20-30 frames: one system call per 2 KiB
 * written, where a system call costs more than copying the page
 * (doc/benchmarks.md, "the WAL write shim" and "whole WAL runs").  Here
 * writes to the WAL that follow each other in the file are gathered into
 * one run of up to WAL_RUN_MAX bytes and written with one call:
 *
 * - when the page of a commit frame (its header says the database's size
 *   after the commit) is added: the run goes out within that write, so
 *   its error is the commit's, before SQLite publishes the frames in the
 *   wal-index and before the commit returns;
 * - when the run is full, or a write does not follow it;
 * - before any other call on that file (read, sync, size, truncate,
 *   lock, close), so what SQLite reads back or syncs is what it wrote.
 *
 * A run without a commit frame (a cache spill within a transaction) may
 * wait for the next call on the file: no other connection looks at
 * frames past the last commit.  Every other file (the database, its
 * -shm) is the unix VFS's own, untouched.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store_int.h"

#define WAL_FRAME_HDR	24
/* Bytes 4-7 of a frame header: the database's size in pages after the
 * commit for a commit frame, 0 for any other. */
#define WAL_FRAME_NPAGES 4
/* The WAL's own header; frame headers come after it. */
#define WAL_HDR		32
#define WAL_RUN_MAX	STORE_WAL_RUN_MAX
/* The stores' page size (store.c). */
#define WAL_PAGE	4096

struct walfile {
	sqlite3_file	 base;		/* our methods */
	sqlite3_file	*real;		/* the unix VFS's file, after us */
};

/* The run: one process writes one WAL at a time, so one buffer. */
static struct {
	struct walfile	*w;		/* whose bytes are held; NULL: none */
	sqlite3_int64	 at;		/* where they go in that file */
	size_t		 len;
	unsigned char	*buf;		/* WAL_RUN_MAX bytes while a run is held */
	bool		 commit_page;	/* the next write ends a commit frame */
} run;

static sqlite3_vfs *unix_vfs;
static sqlite3_vfs mk_vfs;
static sqlite3_io_methods wal_methods;

/* The buffer goes with the run: between commits malloc has its memory
 * for whatever else the process needs (kept, it was 2-5 MiB more PSS
 * over 44 busy processes at 50 clients, and freeing it cost no CPU
 * that could be measured). */
static int
run_flush(void)
{
	struct walfile *w = run.w;
	int rc;

	if (w == NULL)
		return SQLITE_OK;
	run.w = NULL;
	rc = w->real->pMethods->xWrite(w->real, run.buf, (int)run.len,
	    run.at);
	free(run.buf);
	run.buf = NULL;
	return rc;
}

/* The file's own held bytes out before anything else is done with it. */
static int
wal_flush(struct walfile *w)
{
	return run.w == w ? run_flush() : SQLITE_OK;
}

/* A frame header joins the run only with room for its page after it,
 * so that runs are whole frames. */
static bool
run_follows(const struct walfile *w, int amt, sqlite3_int64 off)
{
	size_t room = (size_t)amt + (amt == WAL_FRAME_HDR ? WAL_PAGE : 0);

	return run.w == w && off == run.at + (sqlite3_int64)run.len &&
	    run.len + room <= WAL_RUN_MAX;
}

static bool
run_start(struct walfile *w, int amt, sqlite3_int64 off)
{
	if ((size_t)amt > WAL_RUN_MAX)
		return false;
	if ((run.buf = malloc(WAL_RUN_MAX)) == NULL)
		return false;
	run.w = w;
	run.at = off;
	run.len = 0;
	return true;
}

static bool
commit_header(const unsigned char *hdr)
{
	return (hdr[WAL_FRAME_NPAGES] | hdr[WAL_FRAME_NPAGES + 1] |
	    hdr[WAL_FRAME_NPAGES + 2] | hdr[WAL_FRAME_NPAGES + 3]) != 0;
}

static int
wal_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	struct walfile *w = (struct walfile *)f;
	bool ends_commit = run.commit_page;
	int rc;

	run.commit_page = amt == WAL_FRAME_HDR && off >= WAL_HDR &&
	    commit_header(buf);
	if (!run_follows(w, amt, off)) {
		if ((rc = run_flush()) != SQLITE_OK)
			return rc;
		if (!run_start(w, amt, off))
			return w->real->pMethods->xWrite(w->real, buf, amt,
			    off);
	}
	memcpy(run.buf + run.len, buf, (size_t)amt);
	run.len += (size_t)amt;
	return ends_commit ? run_flush() : SQLITE_OK;
}

static int
wal_close(sqlite3_file *f)
{
	struct walfile *w = (struct walfile *)f;
	int rc = wal_flush(w), rc2;

	rc2 = w->real->pMethods->xClose(w->real);
	return rc != SQLITE_OK ? rc : rc2;
}

/* Every other method: the file's held run first, then the real one. */
#define REAL(w) (((struct walfile *)(w))->real)
#define FLUSHED(w) \
	int frc = wal_flush((struct walfile *)(w)); \
	if (frc != SQLITE_OK) \
		return frc

static int
wal_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
	FLUSHED(f);
	return REAL(f)->pMethods->xRead(REAL(f), buf, amt, off);
}

static int
wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	FLUSHED(f);
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
wal_sync(sqlite3_file *f, int flags)
{
	FLUSHED(f);
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
wal_size(sqlite3_file *f, sqlite3_int64 *size)
{
	FLUSHED(f);
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
wal_lock(sqlite3_file *f, int lock)
{
	FLUSHED(f);
	return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int
wal_unlock(sqlite3_file *f, int lock)
{
	FLUSHED(f);
	return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int
wal_reserved(sqlite3_file *f, int *out)
{
	FLUSHED(f);
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
wal_fcntl(sqlite3_file *f, int op, void *arg)
{
	FLUSHED(f);
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
wal_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
wal_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

/* SQLite asks these of the database file, never of its WAL; passed on
 * all the same, so the file behaves as the unix VFS's would. */
static int
wal_shm_map(sqlite3_file *f, int pg, int pgsz, int extend,
    void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int
wal_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void
wal_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
wal_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int
wal_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
	FLUSHED(f);
	return REAL(f)->pMethods->xFetch(REAL(f), off, amt, pp);
}

static int
wal_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static sqlite3_io_methods wal_methods = {
	.iVersion = 3,
	.xClose = wal_close,
	.xRead = wal_read,
	.xWrite = wal_write,
	.xTruncate = wal_truncate,
	.xSync = wal_sync,
	.xFileSize = wal_size,
	.xLock = wal_lock,
	.xUnlock = wal_unlock,
	.xCheckReservedLock = wal_reserved,
	.xFileControl = wal_fcntl,
	.xSectorSize = wal_sector,
	.xDeviceCharacteristics = wal_devchar,
	.xShmMap = wal_shm_map,
	.xShmLock = wal_shm_lock,
	.xShmBarrier = wal_shm_barrier,
	.xShmUnmap = wal_shm_unmap,
	.xFetch = wal_fetch,
	.xUnfetch = wal_unfetch,
};

/* Files other than the WAL are opened by the unix VFS right where SQLite
 * put ours (mk_vfs.szOsFile is at least as big as the unix file), so
 * they carry the unix VFS's own methods and never come back here. */
static int
mk_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
    int *out)
{
	struct walfile *w = (struct walfile *)f;
	int rc;

	(void)vfs;
	if (!(flags & SQLITE_OPEN_WAL))
		return unix_vfs->xOpen(unix_vfs, name, f, flags, out);
	memset(w, 0, sizeof(*w));
	w->real = (sqlite3_file *)(w + 1);
	rc = unix_vfs->xOpen(unix_vfs, name, w->real, flags, out);
	/* SQLite calls xClose only on a file whose pMethods is set. */
	w->base.pMethods = w->real->pMethods != NULL ? &wal_methods : NULL;
	return rc;
}

#define PASS(name, ...) return unix_vfs->name(unix_vfs, __VA_ARGS__)

static int
mk_delete(sqlite3_vfs *v, const char *n, int sync)
{
	(void)v;
	PASS(xDelete, n, sync);
}

static int
mk_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
	(void)v;
	PASS(xAccess, n, flags, out);
}

static int
mk_fullpath(sqlite3_vfs *v, const char *n, int len, char *out)
{
	(void)v;
	PASS(xFullPathname, n, len, out);
}

static int
mk_random(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	PASS(xRandomness, n, out);
}

static int
mk_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	PASS(xSleep, us);
}

static int
mk_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	PASS(xCurrentTime, out);
}

static int
mk_lasterr(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	PASS(xGetLastError, n, out);
}

static int
mk_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	PASS(xCurrentTimeInt64, out);
}

static int
mk_setcall(sqlite3_vfs *v, const char *n, sqlite3_syscall_ptr p)
{
	(void)v;
	PASS(xSetSystemCall, n, p);
}

static sqlite3_syscall_ptr
mk_getcall(sqlite3_vfs *v, const char *n)
{
	(void)v;
	PASS(xGetSystemCall, n);
}

static const char *
mk_nextcall(sqlite3_vfs *v, const char *n)
{
	(void)v;
	PASS(xNextSystemCall, n);
}

/* Registered once per process, before its first database, as SQLite's
 * default VFS (so every connection of the process, and a VFS a test
 * stacks on the default, goes through it).  Nothing happens if the unix
 * VFS is missing: SQLite's default stays as it is. */
void
store_vfs_install(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	unix_vfs = sqlite3_vfs_find("unix");
	if (unix_vfs == NULL || unix_vfs->iVersion < 3)
		return;
	mk_vfs = (sqlite3_vfs){
		.iVersion = 3,
		.szOsFile = unix_vfs->szOsFile + (int)sizeof(struct walfile),
		.mxPathname = unix_vfs->mxPathname,
		.zName = "mk-unix",
		.xOpen = mk_open,
		.xDelete = mk_delete,
		.xAccess = mk_access,
		.xFullPathname = mk_fullpath,
		.xDlOpen = unix_vfs->xDlOpen,
		.xDlError = unix_vfs->xDlError,
		.xDlSym = unix_vfs->xDlSym,
		.xDlClose = unix_vfs->xDlClose,
		.xRandomness = mk_random,
		.xSleep = mk_sleep,
		.xCurrentTime = mk_time,
		.xGetLastError = mk_lasterr,
		.xCurrentTimeInt64 = mk_time64,
		.xSetSystemCall = mk_setcall,
		.xGetSystemCall = mk_getcall,
		.xNextSystemCall = mk_nextcall,
	};
	(void)sqlite3_vfs_register(&mk_vfs, 1);
}
