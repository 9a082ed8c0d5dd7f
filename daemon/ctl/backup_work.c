/*
 * backup_work.c - the workers of mailkeepctl backup and restore, as
 * the user's uid inside users/<name> (mailkeepctl.c forks them; see
 * backup.c for the whole and doc/mailkeepctl.md, "Backup and restore").
 *
 * backup: the store is copied with SQLite's online backup API into a
 * scratch file in users/<name>/tmp, checked, and written into the
 * descriptor root opened in DEST.  restore: the backup, read from
 * root's descriptor, is copied to a scratch file, opened as a store
 * (migrated if older) and checked, then copied into the user's store in
 * one write transaction - after the user's mailbox process, if one
 * runs, has been ended (--force) or the restore refused.
 */
#include "daemon/ctl/ctl.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long a mailbox process ended by restore --force may take. */
#define END_WAIT_MS     10000

static int
copy_fd(int in, int out)
{
	char buf[65536];
	ssize_t n;

	for (;;) {
		if ((n = read(in, buf, sizeof(buf))) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		for (ssize_t off = 0; off < n; ) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w == -1 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
			off += w;
		}
	}
}

/* ---- the workers (as the user's uid, in users/<name>) ---- */

/* Names of the worker's scratch copies in users/<name>/tmp. */
static void
scratch_name(char *out, size_t len, const char *what)
{
	snprintf(out, len, "tmp/.mkctl.%s.%ld", what, (long)getpid());
}

int
backup_work(struct ctx *x, const struct work_req *q)
{
	char tmp[128], err[512];
	struct store *s;
	int rc = user_store_open(x, q->name, false, &s), fd;

	if (rc != 0)
		return rc < 0 ? EX_FAIL : W_NOSTORE;
	if (mkdir("tmp", 0700) == -1 && errno != EEXIST) {
		errmsg("users/%s/tmp: %s", q->name, strerror(errno));
		store_close(s);
		return EX_FAIL;
	}
	scratch_name(tmp, sizeof(tmp), "backup");
	store_files_remove(tmp);
	rc = store_backup_into(s, tmp, err, sizeof(err));
	store_close(s);
	if (rc != 0) {
		errmsg("%s: %s", q->name, err);
		store_files_remove(tmp);
		return EX_FAIL;
	}
	fd = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	store_files_remove(tmp);
	if (fd == -1 || copy_fd(fd, x->xfd) == -1) {
		errmsg("%s: copying the backup: %s", q->name, strerror(errno));
		if (fd != -1)
			close(fd);
		return EX_FAIL;
	}
	close(fd);
	return EX_OK_;
}

/* Set by restore_work: we run as the user's own uid (as root set
 * things up; an ordinary user's development instance shares one uid
 * with everything, where processes cannot be told apart), and the pid
 * of the running master (0: none). */
static bool own_uid;
static pid_t master_pid;

/* Is pid a mailbox process of our uid, child of our master?  From
 * /proc/PID/status (its other entries are root's: the process is not
 * dumpable). */
static bool
is_our_mailbox(long pid)
{
	char path[64], buf[2048];
	unsigned r, e;
	long ppid;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *uid = strstr(buf, "\nUid:"), *pp = strstr(buf, "\nPPid:");
	/* A zombie is gone already: only its reaping is left. */
	return strncmp(buf, "Name:\tmk-mailbox/", 17) == 0 && uid != NULL &&
	    strstr(buf, "\nState:\tZ") == NULL && pp != NULL &&
	    sscanf(pp, "\nPPid: %ld", &ppid) == 1 && ppid == master_pid &&
	    sscanf(uid, "\nUid: %u %u", &r, &e) == 2 && r == getuid() &&
	    e == getuid();
}

/* Mailbox processes of our uid (named "mk-mailbox/..."). */
static size_t
mailbox_pids(pid_t *pids, size_t max)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (!own_uid || master_pid <= 0 || (d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		long pid = strtol(de->d_name, NULL, 10);
		if (pid > 0 && pid != getpid() && is_our_mailbox(pid))
			pids[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

/* Ends the user's mailbox processes (same uid: only ours can be
 * signalled): SIGUSR1, on which each says BYE to its sessions and
 * exits.  0 once they are gone. */
static int
end_mailbox_processes(const char *name)
{
	pid_t pids[16];
	size_t n = mailbox_pids(pids, nitems(pids));

	for (size_t i = 0; i < n; i++) {
		printf("%s: ending mailbox process %ld (its sessions get BYE)\n",
		    name, (long)pids[i]);
		(void)kill(pids[i], SIGUSR1);
	}
	fflush(stdout);
	for (int ms = 0; n > 0 && ms < END_WAIT_MS; ms += 50) {
		usleep(50 * 1000);
		n = mailbox_pids(pids, nitems(pids));
	}
	if (n > 0)
		errmsg("%s: mailbox process %ld did not end", name,
		    (long)pids[0]);
	return n > 0 ? -1 : 0;
}

/* Before a restore: the store must not be replaced under a process that
 * has it open (its view, and what it caches, would be of the old one). */
static int
restore_precheck(const struct work_req *q)
{
	struct stat st;
	pid_t pid;

	if (fstatat(AT_FDCWD, "store.db", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !q->force) {
		errmsg("users/%s already holds a store: refused (--force "
		    "replaces it)", q->name);
		return EX_EXISTS;
	}
	if (mailbox_pids(&pid, 1) == 0)
		return EX_OK_;
	if (!q->force) {
		errmsg("the mailbox process of %s (pid %ld) is running: refused "
		    "(--force ends it; its sessions get BYE)", q->name,
		    (long)pid);
		return W_RUNNING;
	}
	return end_mailbox_processes(q->name) == 0 ? EX_OK_ : W_RUNNING;
}

/* The backup, copied from root's descriptor into our scratch file and
 * opened as a store (which migrates an older one), checked. */
static int
open_scratch_copy(struct ctx *x, const char *tmp, struct store **src)
{
	char err[512];
	int fd;

	if (mkdir("tmp", 0700) == -1 && errno != EEXIST)
		return -1;
	store_files_remove(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1 || lseek(x->xfd, 0, SEEK_SET) == -1 ||
	    copy_fd(x->xfd, fd) == -1 || fsync(fd) == -1) {
		errmsg("copying the backup: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	if (store_open_nofollow(tmp, false, (enum store_sync)x->cfg.fsync,
	    NULL, 0, src, err, sizeof(err)) != 0 ||
	    store_integrity_check(*src, err, sizeof(err)) != 0) {
		errmsg("the backup: %s", err);
		store_close(*src);
		*src = NULL;
		return -1;
	}
	return 0;
}

int
restore_work(struct ctx *x, const struct work_req *q)
{
	struct store *src = NULL, *dst = NULL;
	struct quota_usage use = { 0, 0 };
	char tmp[128], err[512];
	int rc;

	if (x->udir == -1 || x->xfd == -1) {
		errmsg("users/%s is missing", q->name);
		return EX_FAIL;
	}
	own_uid = getuid() == q->uid && q->uid != 0;
	master_pid = (pid_t)q->master_pid;
	if ((rc = restore_precheck(q)) != EX_OK_)
		return rc;
	scratch_name(tmp, sizeof(tmp), "restore");
	rc = EX_FAIL;
	if (open_scratch_copy(x, tmp, &src) == 0 &&
	    user_store_open(x, q->name, true, &dst) == 0) {
		if (store_restore_from(dst, src, err, sizeof(err)) != 0)
			errmsg("%s: %s", q->name, err);
		else if (store_quota_usage(dst, &use) == 0)
			rc = EX_OK_;
	}
	store_close(src);
	store_close(dst);
	store_files_remove(tmp);
	if (rc != EX_OK_)
		return rc;
	printf("%s: store restored (%" PRIu64 " messages, %" PRIu64
	    " bytes)\n", q->name, use.messages, use.storage);
	/* A login during the restore started a process on the old store:
	 * it goes too. */
	return end_mailbox_processes(q->name) == 0 ? EX_OK_ : EX_FAIL;
}
