/*
 * keyholder.c (master) - starting, replacing and restarting the TLS key
 * holder (auth/keyholder.c), and giving login processes their channel.
 *
 * The spawner forks the key holder (IPC_SPAWN_KEYHOLDER), which opens
 * tls_cert and tls_key as root before it drops its privileges: neither
 * the master nor the spawner ever opens or reads the key.  The key
 * holder answers IPC_KEY_READY with the certificate chain (or why the
 * pair is unusable), from which the master builds its key-less
 * credentials (tls_creds_public) and which it passes on to the spawner
 * (spawner_tls), whose login processes inherit the same.  Each login
 * process then gets one end of a new socketpair; the other end goes to
 * the key holder (IPC_KEY_CHANNEL).
 *
 *   keyholder_start()  at start-up (before the master detaches, so an
 *                      unusable pair is reported on the terminal) and on
 *                      SIGHUP: a new key holder replaces the current
 *                      one, which is retired (its channel closed) and
 *                      exits once the handshakes it serves are done;
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
	r.fd = -1;
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
	else if (tls_creds_public(chain, n, cfg->tls_priority, out, err,
	    errlen) == 0) {
		/* The login processes forked from now on get the same. */
		if ((rc = spawner_tls(chain, n, err, errlen)) == -1) {
			tls_creds_free(*out);
			*out = NULL;
		}
	}
out:
	if (r.fd != -1)
		close(r.fd);
	free(buf);
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
	int chan, status;
	pid_t pid;

	*out = NULL;
	if ((pid = spawn_keyholder(&chan)) == -1) {
		snprintf(err, errlen, "could not start the TLS key holder");
		return -1;
	}
	if (wait_ready(chan, cfg, out, err, errlen) == -1) {
		close(chan);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
		return -1;
	}
	struct keyholder *kh = xcalloc(1, sizeof(*kh));
	kh->pid = pid;
	kh->chan = ipc_chan_new(master.loop, chan, holder_msg, kh);
	child_add(pid, CHILD_KEYHOLDER, kh);
	retire(current);
	current = kh;
	log_debug("TLS key holder %d started", (int)pid);
	return 0;
}

/* A channel to the current key holder, served as type says; the end
 * to give the child, or -1. */
static int
new_channel(uint32_t type)
{
	struct ipc_msg m;
	int sp[2];

	if (current == NULL || current->chan == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		return -1;
	}
	ipc_msg_init(&m, type);
	ipc_put_fd(&m, sp[0]);	/* closed here once sent */
	ipc_chan_send(current->chan, &m);
	return sp[1];
}

int
keyholder_channel_for_child(void)
{
	return new_channel(IPC_KEY_CHANNEL);
}

int
keyholder_channel_for_relay(void)
{
	return new_channel(IPC_KEY_POOL_CHANNEL);
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
	/* The relays' channels went with the old one. */
	relaypool_renew();
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
