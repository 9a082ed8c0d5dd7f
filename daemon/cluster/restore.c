/*
 * restore.c - the restore worker of a move (cluster.h): forked by the
 * spawner as the moved user's uid, in data_dir/users/<name> (prepared
 * by the master as for a mailbox process), with the sealed memfd that
 * the link process filled.  It does what mailkeepctl restore's worker
 * does (daemon/ctl/backup_work.c): copy to a scratch file in tmp/, open
 * it as a store (migrating an older schema), check its integrity, and
 * copy it into store.db in one write transaction.  Root never opens
 * anything inside the user's directory; this process is the user.
 * The master refuses the move while the user's mailbox process runs, so
 * no process has the old store open.
 */
#include "daemon/cluster/cluster.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
copy_to(int in, const char *path)
{
	char buf[65536];
	off_t off = 0;
	ssize_t n;
	int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);

	if (out == -1)
		return -1;
	while ((n = pread(in, buf, sizeof(buf), off)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || mk_write_all(out, buf, (size_t)n) == -1) {
			close(out);
			return -1;
		}
		off += n;
	}
	n = fsync(out);
	close(out);
	return n == 0 ? 0 : -1;
}

/* The restored store's ACL entries, for the master's share index: what
 * the user's own process would have sent as each was set. */
struct share_push {
	int           master_fd;
	struct store *store;
	const char   *mailbox;
};

static int
push_entry(const char *identifier, const char *rights, void *arg)
{
	struct share_push *sp = arg;
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_RESTORE_SHARE);
	ipc_put_str(&m, sp->mailbox);
	ipc_put_str(&m, identifier);
	ipc_put_str(&m, rights);
	return ipc_send_now(sp->master_fd, &m) == -1 ? -1 : 0;
}

static int
push_mailbox(const struct mbox *mb, void *arg)
{
	struct share_push *sp = arg;

	sp->mailbox = mb->name;
	return store_acl_foreach(sp->store, mb->id, push_entry, sp);
}

/* 0, or -1 with why in err. */
static int
restore(const struct mk_config *cfg, int copy_fd, int master_fd, char *err,
    size_t errlen)
{
	struct store *src = NULL, *dst = NULL;
	char tmp[64];
	int rc = -1;

	snprintf(tmp, sizeof(tmp), "tmp/.mklink.restore.%ld", (long)getpid());
	if (mkdir("tmp", 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "tmp: %s", strerror(errno));
		return -1;
	}
	store_files_remove(tmp);
	if (copy_to(copy_fd, tmp) == -1) {
		snprintf(err, errlen, "copying the store: %s", strerror(errno));
		goto out;
	}
	if (store_open_nofollow(tmp, false, (enum store_sync)cfg->fsync, NULL,
	    0, &src, err, errlen) != 0 ||
	    store_integrity_check(src, err, errlen) != 0 ||
	    store_open_nofollow("store.db", true, (enum store_sync)cfg->fsync,
	    NULL, 0, &dst, err, errlen) != 0 ||
	    store_restore_from(dst, src, err, errlen) != 0)
		goto out;
	struct share_push sp = { .master_fd = master_fd, .store = dst };
	if (store_mbox_foreach(dst, push_mailbox, &sp) != 0) {
		snprintf(err, errlen, "reading the ACLs of the restored store");
		goto out;
	}
	rc = 0;
out:
	store_close(src);
	store_close(dst);
	store_files_remove(tmp);
	return rc;
}

void
restore_main(const struct mk_config *cfg, int master_fd, int copy_fd,
    const char *user)
{
	char err[512] = "";
	struct ipc_msg m;
	int seals = fcntl(copy_fd, F_GET_SEALS), rc = -1;

	/* Sealed: the link process cannot change it while it is read. */
	if (seals == -1 || (seals & F_SEAL_WRITE) == 0)
		snprintf(err, sizeof(err), "the copy is not a sealed memfd");
	else
		rc = restore(cfg, copy_fd, master_fd, err, sizeof(err));

	if (rc == -1)
		log_warnx("restore of %s: %s", user, err);
	ipc_msg_init(&m, IPC_RESTORE_RESULT);
	ipc_put_u8(&m, rc == 0);
	ipc_put_str(&m, err);
	(void)ipc_send_now(master_fd, &m);
	_exit(rc == 0 ? 0 : 1);
}
