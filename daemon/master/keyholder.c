/*
 * keyholder.c (master) - starting, replacing and restarting the TLS key
 * holder (auth/keyholder.c), and giving login processes their channel.
 *
 * The master opens tls_cert and tls_key as root and hands the two
 * descriptors to a freshly forked key holder; it never reads the key.
 * The key holder answers IPC_KEY_READY with the certificate chain (or
 * why the pair is unusable), from which the master builds its key-less
 * credentials (tls_creds_public).  Each login process then gets one end
 * of a new socketpair; the other end goes to the key holder
 * (IPC_KEY_CHANNEL).
 *
 *   keyholder_check()  before the master detaches: the same start in a
 *                      short-lived child, so that an unusable pair is
 *                      reported on the terminal;
 *   keyholder_start()  at start-up and on SIGHUP: a new key holder
 *                      replaces the current one, which is retired (its
 *                      channel closed) and exits once the handshakes it
 *                      serves are done;
 *   keyholder_exited() a current key holder that died is started again
 *                      (after RESTART_MS), reading the files anew.
 */
#include "daemon/master/master.h"
#include "auth/keyholder.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long the master waits for IPC_KEY_READY. */
#define READY_MS   10000
/* Pause before a dead key holder is started again. */
#define RESTART_MS 1000

struct keyholder {
	pid_t            pid;
	struct ipc_chan *chan;	/* NULL once retired */
};

static struct keyholder *current;
static struct ev_timer restart_timer;
static bool timer_ready;

static int
open_ro(const char *what, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd == -1)
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
	return fd;
}

/* Opens both files; warns about a key others can read. */
static int
open_pair(const struct mk_config *cfg, int *cfd, int *kfd, char *err,
    size_t errlen)
{
	struct stat st;

	if ((*cfd = open_ro("tls_cert", cfg->tls_cert, err, errlen)) == -1)
		return -1;
	if ((*kfd = open_ro("tls_key", cfg->tls_key, err, errlen)) == -1) {
		close(*cfd);
		return -1;
	}
	if (fstat(*kfd, &st) == 0 && (st.st_mode & 077) != 0)
		log_warnx("tls_key %s can be read by other accounts (mode %04o)",
		    cfg->tls_key, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Waits for the key holder's READY on fd; builds the credentials. */
static int
wait_ready(int fd, const struct mk_config *cfg, struct tls_creds **out,
    char *err, size_t errlen)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t deadline = now_ms() + READY_MS;
	struct ipc_reader r;
	uint8_t *buf;
	int rc = -1, prc;

	for (;;) {
		uint64_t now = now_ms();
		prc = poll(&pfd, 1, now >= deadline ? 0 : (int)(deadline - now));
		if (prc != -1 || errno != EINTR)
			break;
	}
	if (prc != 1) {
		snprintf(err, errlen, "the TLS key holder did not start within "
		    "%d ms", READY_MS);
		return -1;
	}
	buf = xmalloc(IPC_MAX_MSG);
	if (ipc_recv_now(fd, buf, &r) == -1) {
		snprintf(err, errlen, "the TLS key holder exited at start-up");
		goto out;
	}
	uint8_t ok = ipc_get_u8(&r);
	const char *why = ipc_get_str(&r);
	size_t n;
	const uint8_t *chain = ipc_get_bytes(&r, &n);
	if (r.fd != -1 || r.type != IPC_KEY_READY || !ipc_end(&r))
		snprintf(err, errlen, "the TLS key holder sent %s",
		    ipc_type_name(r.type));
	else if (!ok)
		snprintf(err, errlen, "tls_cert %s with tls_key %s: %s",
		    cfg->tls_cert, cfg->tls_key, why);
	else if (out == NULL)
		rc = 0;
	else
		rc = tls_creds_public(chain, n, cfg->tls_priority, out, err,
		    errlen);
out:
	if (r.fd != -1)
		close(r.fd);
	free(buf);
	return rc;
}

int
keyholder_check(const struct mk_config *cfg, char *err, size_t errlen)
{
	int cfd, kfd, sp[2], status, rc;
	pid_t pid;

	if (open_pair(cfg, &cfd, &kfd, err, errlen) == -1)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		close(cfd);
		close(kfd);
		return -1;
	}
	/* A plain fork: the check only parses the files, as the master
	 * itself once did, and exits. */
	if ((pid = fork()) == 0) {
		close(sp[0]);
		keyholder_main(sp[1], cfd, kfd, 0, true);
	}
	close(sp[1]);
	close(cfd);
	close(kfd);
	if (pid == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(sp[0]);
		return -1;
	}
	rc = wait_ready(sp[0], cfg, NULL, err, errlen);
	close(sp[0]);
	if (rc == -1)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return rc;
}

static void
retire(struct keyholder *kh)
{
	if (kh == NULL || kh->chan == NULL)
		return;
	/* EOF on its channel: it finishes the handshakes under way. */
	ev_defer(master.loop, ipc_chan_free_cb, kh->chan);
	kh->chan = NULL;
}

static void
holder_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg)
{
	struct keyholder *kh = arg;

	(void)c;
	if (r == NULL) {
		/* It died; keyholder_exited() decides what follows. */
		retire(kh);
		return;
	}
	/* After READY the key holder has nothing to tell the master. */
	child_kill(kh->pid, "TLS key holder", "unexpected message");
}

int
keyholder_start(const struct mk_config *cfg, struct tls_creds **out,
    char *err, size_t errlen)
{
	struct spawn_drop d = {
		.role = "keyholder", .uid = master.hash_uid,
		.gid = master.hash_gid, .chroot = master.cfg.login_chroot,
	};
	int cfd, kfd, sp[2], status;
	pid_t pid;

	*out = NULL;
	if (open_pair(cfg, &cfd, &kfd, err, errlen) == -1)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		close(cfd);
		close(kfd);
		return -1;
	}
	int keep[3] = { sp[1], cfd, kfd };
	pid = spawn_child(&d, keep, 3);
	if (pid == 0)
		keyholder_main(sp[1], cfd, kfd, cfg->max_connections, false);
	close(sp[1]);
	close(cfd);
	close(kfd);
	if (pid == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(sp[0]);
		return -1;
	}
	if (wait_ready(sp[0], cfg, out, err, errlen) == -1) {
		close(sp[0]);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
		return -1;
	}
	struct keyholder *kh = xcalloc(1, sizeof(*kh));
	kh->pid = pid;
	kh->chan = ipc_chan_new(master.loop, sp[0], holder_msg, kh);
	child_add(pid, CHILD_KEYHOLDER, kh);
	retire(current);
	current = kh;
	log_debug("TLS key holder %d started", (int)pid);
	return 0;
}

int
keyholder_channel_for_child(void)
{
	struct ipc_msg m;
	int sp[2];

	if (current == NULL || current->chan == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		return -1;
	}
	ipc_msg_init(&m, IPC_KEY_CHANNEL);
	ipc_put_fd(&m, sp[0]);	/* closed here once sent */
	ipc_chan_send(current->chan, &m);
	return sp[1];
}

static void
restart(struct ev_timer *t)
{
	struct tls_creds *tls;
	char err[512];

	(void)t;
	if (master.stopping || current != NULL || master.cfg.tls_cert[0] == '\0')
		return;
	if (keyholder_start(&master.cfg, &tls, err, sizeof(err)) == -1) {
		log_warnx("TLS key holder: %s; trying again", err);
		ev_timer_start(master.loop, &restart_timer, 10 * RESTART_MS);
		return;
	}
	/* The files may have changed since: the chain comes with the key. */
	tls_creds_free(master.tls);
	master.tls = tls;
	log_info("TLS key holder %d restarted", (int)current->pid);
}

void
keyholder_exited(void *obj, int status)
{
	struct keyholder *kh = obj;

	(void)status;
	retire(kh);
	if (kh == current) {
		current = NULL;
		if (!master.stopping) {
			/* Until then new connections get no STARTTLS. */
			log_warnx("TLS key holder %d ended: starting another",
			    (int)kh->pid);
			if (!timer_ready) {
				ev_timer_init(&restart_timer, restart, NULL);
				timer_ready = true;
			}
			ev_timer_start(master.loop, &restart_timer, RESTART_MS);
		}
	}
	ev_defer(master.loop, free, kh);
}

void
keyholder_stop(void)
{
	if (timer_ready)
		ev_timer_stop(master.loop, &restart_timer);
	/* Not current any more: its end is not a death to repair. */
	retire(current);
	current = NULL;
}

pid_t
keyholder_pid(void)
{
	return current != NULL ? current->pid : -1;
}
