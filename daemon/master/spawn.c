/*
 * spawn.c - the master's side of the spawner: every child comes from it.
 *
 * The master no longer forks children itself: by the time it accepts a
 * connection its memory has held password hashes (directory rows, the
 * SQLite page cache), other clients' passwords queued for a hash worker
 * and a fork would copy all of that into a login process facing the
 * network.  Instead, main() calls spawner_start() before it opens
 * directory.db; the
 * spawner (spawner.c) keeps that clean state and forks children on
 * request.
 *
 * Requests are synchronous: one IPC_SPAWN_* message, one IPC_SPAWN_RESULT
 * with the pid and the master's end of the child's channel.  (A login
 * process with TLS needs two descriptors, the client's socket and its
 * channel to the key holder: IPC_SPAWN_LOGIN is followed by
 * IPC_SPAWN_KEYCHAN, one descriptor per message.)  The spawner
 * forks twice (the middle process exits at once) and the master is
 * PR_SET_CHILD_SUBREAPER, so every child is re-parented to the master:
 * children.c reaps and kills them as before, and the children survive
 * the spawner.  A spawner that dies, or does not answer within
 * SPAWNER_TIMEOUT_MS, stops the master cleanly (its memory cannot make
 * a clean spawner again); the service manager restarts mailkeepd.
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A fork of the small spawner takes well under a millisecond; this only
 * bounds a spawner that hangs, so the master cannot. */
#define SPAWNER_TIMEOUT_MS 10000
#define SPAWNER_STOP_MS    2000

static struct {
	pid_t    pid;		/* 0: not running (or reaped) */
	int      fd;		/* -1: closed */
	bool     failed;
	uint8_t *buf;		/* IPC_MAX_MSG, for answers */
} spw = { .fd = -1 };

/* glibc's per-thread cache of freed small chunks (the tcache, up to 7
 * of each size) is out of reach of malloc_trim(): in a resting user's
 * process it pins some 120 KiB of heap pages (doc/benchmarks.md, "A
 * resting user's process, trimmed").  glibc reads its tunables only
 * when a program starts, so the spawner is started anew, by exec, with
 * the cache off in its environment: every child it forks inherits that,
 * the master keeps its cache.  An operator's own tcache_count wins. */
#define TCACHE_KEY "glibc.malloc.tcache_count"
#define TCACHE_OFF TCACHE_KEY "=0"

static void
tunables_for_children(void)
{
	const char *cur = getenv("GLIBC_TUNABLES");

	if (cur == NULL || *cur == '\0') {
		if (setenv("GLIBC_TUNABLES", TCACHE_OFF, 1) == -1)
			log_warn("setenv GLIBC_TUNABLES");
		return;
	}
	if (strstr(cur, TCACHE_KEY) != NULL)
		return;
	char *v = xasprintf("%s:%s", cur, TCACHE_OFF);
	if (setenv("GLIBC_TUNABLES", v, 1) == -1)
		log_warn("setenv GLIBC_TUNABLES");
	free(v);
}

/* In the forked spawner: runs self (mailkeepd) as the spawner, on
 * channel fd, with the tunables above.  Returns the channel's
 * descriptor only if the exec failed; the spawner then runs in this
 * copy of the master, tcache on, as it did before. */
static int
spawner_exec(const char *self, int fd, bool foreground)
{
	char fdstr[16], *argv[8];
	size_t n = 0;

	/* A descriptor of 3 or more without close-on-exec. */
	int cfd = fcntl(fd, F_DUPFD, 3);
	if (cfd == -1) {
		log_warn("spawner channel");
		return fd;
	}
	close(fd);
	snprintf(fdstr, sizeof(fdstr), "%d", cfd);
	argv[n++] = (char *)"mailkeepd";
	argv[n++] = (char *)"-S";
	argv[n++] = fdstr;
	if (foreground)
		argv[n++] = (char *)"-f";
	for (int v = log_get_verbose(); v > 0 && n < 7; v--)
		argv[n++] = (char *)"-v";
	argv[n] = NULL;
	tunables_for_children();
	execv(self, argv);
	log_warn("exec %s as the spawner; it runs with glibc's tcache on",
	    self);
	return cfd;
}

void
spawner_start(bool foreground, const char *self)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair for the spawner");
	pid_t pid = fork();
	if (pid == -1)
		fatal("fork the spawner");
	if (pid == 0) {
		close(sv[0]);
		int fd = sv[1];
		if (self != NULL)
			fd = spawner_exec(self, fd, foreground);
		spawner_main(fd, foreground);
	}
	close(sv[1]);
	spw.pid = pid;
	spw.fd = sv[0];
	spw.buf = xmalloc(IPC_MAX_MSG);
	/* The spawner's grandchildren become ours when the middle process
	 * exits: we reap them and may signal them as our own. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		fatal("PR_SET_CHILD_SUBREAPER");
}

bool
spawner_failed(void)
{
	return spw.failed;
}

/* The spawner is gone or broken: no child can be started any more.
 * Stop the way SIGTERM does (master.c), exiting non-zero. */
static void
spawner_lost(const char *why)
{
	if (spw.failed)
		return;
	spw.failed = true;
	if (master.stopping)
		return;
	log_warnx("spawner %d %s: no new process can be started; stopping",
	    (int)spw.pid, why);
	if (spw.pid > 0)
		kill(spw.pid, SIGKILL);
	if (spw.fd != -1) {
		close(spw.fd);
		spw.fd = -1;
	}
	raise(SIGTERM);
}

bool
spawner_reaped(pid_t pid, int status)
{
	if (spw.pid <= 0 || pid != spw.pid)
		return false;
	spw.pid = 0;
	if (!master.stopping) {
		char why[64];
		if (WIFSIGNALED(status))
			snprintf(why, sizeof(why), "was killed by signal %d",
			    WTERMSIG(status));
		else
			snprintf(why, sizeof(why), "exited with status %d",
			    WEXITSTATUS(status));
		spawner_lost(why);
	}
	return true;
}

/* Sends m and waits for the answer of type want into *r (spw.buf).
 * 0, or -1 when the spawner is gone (spawner_lost() has run). */
static int
call(struct ipc_msg *m, uint32_t want, struct ipc_reader *r)
{
	struct pollfd pfd = { .events = POLLIN };

	if (spw.fd == -1) {
		ipc_msg_free(m);
		return -1;
	}
	if (ipc_send_now(spw.fd, m) == -1) {
		spawner_lost("cannot be written to");
		return -1;
	}
	pfd.fd = spw.fd;
	int n;
	do
		n = poll(&pfd, 1, SPAWNER_TIMEOUT_MS);
	while (n == -1 && errno == EINTR);
	if (n == 0) {
		spawner_lost("did not answer in time");
		return -1;
	}
	if (n == -1 || ipc_recv_now(spw.fd, spw.buf, r) == -1) {
		spawner_lost("closed its channel");
		return -1;
	}
	if (r->bad || r->type != want) {
		if (r->fd != -1)
			close(r->fd);
		spawner_lost("sent an unexpected message");
		return -1;
	}
	return 0;
}

/* Sends m and reads the spawner's IPC_SPAWN_CONFIG_RESULT. */
static int
configure(struct ipc_msg *m, char *err, size_t errlen)
{
	struct ipc_reader r;

	if (call(m, IPC_SPAWN_CONFIG_RESULT, &r) == -1) {
		snprintf(err, errlen, "the spawner is gone");
		return -1;
	}
	uint8_t ok = ipc_get_u8(&r);
	const char *why = ipc_get_str(&r);
	if (!ipc_end(&r) || r.fd != -1) {
		if (r.fd != -1)
			close(r.fd);
		spawner_lost("sent a malformed answer");
		snprintf(err, errlen, "the spawner is gone");
		return -1;
	}
	if (!ok) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	return 0;
}

int
spawner_config(const struct mk_config *cfg, char *err, size_t errlen)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_CONFIG);
	ipc_put_bytes(&m, cfg, sizeof(*cfg));
	return configure(&m, err, errlen);
}

int
spawner_tls(const void *chain, size_t len, char *err, size_t errlen)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_TLS);
	ipc_put_bytes(&m, chain, len);
	return configure(&m, err, errlen);
}

static pid_t
spawn(struct ipc_msg *m, const char *what, int *chan)
{
	struct ipc_reader r;

	*chan = -1;
	if (call(m, IPC_SPAWN_RESULT, &r) == -1)
		return -1;
	uint32_t pid = ipc_get_u32(&r);
	uint32_t err = ipc_get_u32(&r);
	if (!ipc_end(&r) || (pid != 0) != (r.fd != -1) || pid > INT32_MAX) {
		if (r.fd != -1)
			close(r.fd);
		spawner_lost("sent a malformed answer");
		return -1;
	}
	if (pid == 0) {
		log_warnx("could not start a %s: %s", what, strerror((int)err));
		return -1;
	}
	*chan = ipc_take_fd(&r);
	return (pid_t)pid;
}

pid_t
spawn_login(int client_fd, bool loopback, bool implicit_tls, uint8_t proto,
    bool starttls, bool proxy, const struct login_resume *res, int *chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_LOGIN);
	ipc_put_u8(&m, loopback);
	ipc_put_u8(&m, implicit_tls);
	ipc_put_u8(&m, proto);
	ipc_put_u8(&m, res != NULL);
	ipc_put_u8(&m, res != NULL && res->relayed);
	ipc_put_u8(&m, starttls);
	ipc_put_u8(&m, proxy);
	ipc_put_fd(&m, client_fd);
	return spawn(&m, "login process", chan);
}

pid_t
spawn_hash(int *chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_HASH);
	return spawn(&m, "hash worker", chan);
}

pid_t
spawn_ldap(int *chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_LDAP);
	return spawn(&m, "LDAP process", chan);
}

pid_t
spawn_mbox(uint32_t user_id, const char *name, int *chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_MBOX);
	ipc_put_u32(&m, user_id);
	ipc_put_str(&m, name);
	return spawn(&m, "mailbox process", chan);
}

pid_t
spawn_keyholder(int *chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_KEYHOLDER);
	return spawn(&m, "TLS key holder", chan);
}

/* m, then IPC_SPAWN_KEYCHAN with kh_fd (taken): a child that serves
 * TLS with a key holder's help. */
static pid_t
spawn_keyed(struct ipc_msg *m, int kh_fd, const char *what, int *chan)
{
	*chan = -1;
	if (spw.fd == -1) {
		ipc_msg_free(m);
		close(kh_fd);
		return -1;
	}
	if (ipc_send_now(spw.fd, m) == -1) {
		spawner_lost("cannot be written to");
		close(kh_fd);
		return -1;
	}
	ipc_msg_init(m, IPC_SPAWN_KEYCHAN);
	ipc_put_fd(m, kh_fd);
	return spawn(m, what, chan);
}

pid_t
spawn_relay(int kh_fd, int *chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_RELAY);
	return spawn_keyed(&m, kh_fd, "TLS relay", chan);
}

pid_t
spawn_lmtp(int client_fd, const char *peer, int *chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_LMTP);
	ipc_put_str(&m, peer);
	ipc_put_fd(&m, client_fd);
	return spawn(&m, "LMTP process", chan);
}

pid_t
spawn_cluster_kh(int *chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_CLUSTER_KH);
	return spawn(&m, "cluster key holder", chan);
}

/* The connection accepted on cluster_listen, then the channel to the
 * cluster key holder. */
pid_t
spawn_link(int client_fd, int kh_fd, int *chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_LINK);
	ipc_put_fd(&m, client_fd);
	return spawn_keyed(&m, kh_fd, "link process", chan);
}

pid_t
spawn_restore(uint32_t user_id, const char *name, int copy_fd, int *chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_RESTORE);
	ipc_put_u32(&m, user_id);
	ipc_put_str(&m, name);
	ipc_put_fd(&m, copy_fd);
	return spawn(&m, "restore worker", chan);
}

void
spawner_stop(void)
{
	if (spw.fd != -1) {
		close(spw.fd);	/* the spawner exits on EOF */
		spw.fd = -1;
	}
	for (int waited = 0; spw.pid > 0; waited += 10) {
		int status;
		pid_t p = waitpid(spw.pid, &status, WNOHANG);
		if (p == spw.pid || (p == -1 && errno == ECHILD))
			break;
		if (waited >= SPAWNER_STOP_MS) {
			log_warnx("spawner %d did not exit: killing it",
			    (int)spw.pid);
			kill(spw.pid, SIGKILL);
			(void)waitpid(spw.pid, &status, 0);
			break;
		}
		usleep(10 * 1000);
	}
	spw.pid = 0;
	free(spw.buf);
	spw.buf = NULL;
}
