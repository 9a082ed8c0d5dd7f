/*
 * spawn.c - the one place where the master forks a child.
 *
 * spawn_child() is used for login processes, hash workers and mailbox
 * processes alike.  In the child, in this order: signals back to their
 * defaults, syslog reconnected (it must be connected before a chroot),
 * every inherited descriptor closed but the listed ones, then the
 * privilege drop of privsep.c.  What is left is a process that holds
 * nothing of the master's: no listener, no directory database, no other
 * child's channel, and (unless it is a login process, which needs them)
 * no TLS credentials: the master's are public only (certificate chain and
 * priority; the private key lives in the key holder, keyholder.c), and
 * are freed anyway before the child runs any code of its own.
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <syslog.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

static void
reset_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGHUP, SIGCHLD, SIGUSR1 };

	ev_signals_reset();
	for (size_t i = 0; i < nitems(sigs); i++)
		signal(sigs[i], SIG_DFL);
	/* Ctrl-C on a foreground mailkeepd reaches the whole process group:
	 * only the master acts on it, and stops its children in order.
	 * SIGPIPE stays ignored: every child writes to sockets. */
	signal(SIGINT, SIG_IGN);
}

/* "mk-<role>" in ps and top (15 bytes at most, the kernel's limit):
 * mk-login, mk-hash, mk-mailbox/alice. */
static void
set_process_name(const char *role)
{
	char name[16];

	snprintf(name, sizeof(name), "mk-%s", role);
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);
}

static void
child_setup(const struct spawn_drop *d, const int *keep, size_t nkeep)
{
	reset_signals();
	if (!d->keep_tls && master.tls != NULL) {
		tls_creds_free(master.tls);
		master.tls = NULL;
	}
	/* Close syslog's socket by name before the sweep below: afterwards its
	 * number may already belong to something else. */
	if (!log_to_stderr())
		closelog();
	close_all_fds_except(3, keep, nkeep);
	log_init("mailkeepd", log_to_stderr(), log_get_verbose());
	log_set_role(d->role);
	set_process_name(d->role);
	if (d->chdir != NULL && chdir(d->chdir) == -1)
		fatal("chdir %s", d->chdir);
	if (master.root)
		priv_drop(d->uid, d->gid, d->chroot);
}

pid_t
spawn_child(const struct spawn_drop *d, const int *keep, size_t nkeep)
{
	pid_t pid = fork();

	if (pid == -1) {
		log_warn("fork %s", d->role);
		return -1;
	}
	if (pid == 0)
		child_setup(d, keep, nkeep);
	return pid;
}
