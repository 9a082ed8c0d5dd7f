/*
 * store_vfs.c - SQLite's own "unix" VFS, with one change for the WAL file:
 * a frame goes to the file in one write, not two.
 *
 * SQLite writes each WAL frame as a 24-byte frame header and then the
 * page, two pwrite() calls for 4 KiB of data.  A command of the stress
 * mix commits about six pages, so half of a user process's write calls
 * carried 24 bytes each (doc/benchmarks.md, "the WAL write shim").  Here
 * a 24-byte write to the WAL is held back until the next call on that
 * file: when that call is the write of the bytes right after it (the
 * page), both go out as one write; anything else writes the header out
 * first and then does what it was asked.  Nothing is held past the call
 * that follows it, so what the file holds when a commit ends, when it is
 * synced, read or closed is what SQLite wrote, in its order.  Every
 * other file (the database, its -shm) is the unix VFS's own, untouched.
 */
#include <stdbool.h>
#include <string.h>

#include <sqlite3.h>

#include "store_int.h"

#define WAL_FRAME_HDR	24
/* The stores' pages are 4 KiB; a bigger page goes out in two writes. */
#define WAL_JOIN_MAX	8192

struct walfile {
	sqlite3_file	 base;		/* our methods */
	sqlite3_file	*real;		/* the unix VFS's file, after us */
	bool		 held;		/* hdr waits for the next call */
	sqlite3_int64	 held_at;
	unsigned char	 hdr[WAL_FRAME_HDR];
};

static sqlite3_vfs *unix_vfs;
static sqlite3_vfs mk_vfs;
static sqlite3_io_methods wal_methods;

static int
wal_flush(struct walfile *w)
{
	if (!w->held)
		return SQLITE_OK;
	w->held = false;
	return w->real->pMethods->xWrite(w->real, w->hdr, WAL_FRAME_HDR,
	    w->held_at);
}

/* Header and page in one write, from the stack: a buffer kept with the
 * file would stay in every resting process. */
static int
wal_joined(struct walfile *w, const void *page, int amt)
{
	unsigned char join[WAL_FRAME_HDR + WAL_JOIN_MAX];

	memcpy(join, w->hdr, WAL_FRAME_HDR);
	memcpy(join + WAL_FRAME_HDR, page, (size_t)amt);
	w->held = false;
	return w->real->pMethods->xWrite(w->real, join, WAL_FRAME_HDR + amt,
	    w->held_at);
}

static int
wal_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	struct walfile *w = (struct walfile *)f;
	int rc;

	if (w->held && off == w->held_at + WAL_FRAME_HDR &&
	    amt <= WAL_JOIN_MAX)
		return wal_joined(w, buf, amt);
	if ((rc = wal_flush(w)) != SQLITE_OK)
		return rc;
	if (amt == WAL_FRAME_HDR && off > 0) {
		memcpy(w->hdr, buf, WAL_FRAME_HDR);
		w->held_at = off;
		w->held = true;
		return SQLITE_OK;
	}
	return w->real->pMethods->xWrite(w->real, buf, amt, off);
}

static int
wal_close(sqlite3_file *f)
{
	struct walfile *w = (struct walfile *)f;
	int rc = wal_flush(w), rc2;

	rc2 = w->real->pMethods->xClose(w->real);
	return rc != SQLITE_OK ? rc : rc2;
}

/* Every other method: the held header first, then the real one. */
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
