/*
 * relaypool.c - a pool relay: the TLS of many connections, any user's.
 *
 * The master keeps tls_relays of these (daemon/master/relaypool.c) and
 * gives each new TLS connection to the least loaded one: an implicit-TLS
 * connection as it is accepted, a STARTTLS one once its login process
 * has answered "OK Begin TLS negotiation now".  With the client's socket
 * comes one end of a plaintext socketpair whose other end the login
 * process serves, and after the login the user's mailbox process.  The
 * relay runs the handshake (its private key operations are requests to
 * the key holder on the one channel this process has: it never holds the
 * key), then relays (relay.c) until the connection is over, and tells
 * the master so that its count stays right.
 *
 * What the process holds is what it relays: the plaintext of its own
 * connections, passwords included.  It is isolated from the other
 * relays as every network-facing child is: login_user, chrooted into the
 * empty login_chroot, not dumpable (so another relay, with the same uid,
 * cannot ptrace it or read its /proc/PID/mem), seccomp-confined, no
 * memory shared.  A relay that dies takes its own connections only.
 *
 * The master is trusted (it is root and our parent's owner): a message
 * from it that this code would not send is a broken invariant, fatal.
 */
#include "auth/keyholder.h"
#include "auth/tls.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/sandbox.h"
#include "common/util.h"

#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Descriptors besides two per connection: master and key holder
 * channels, epoll, signalfd, the log, one in flight. */
#define POOL_FIXED_FDS 16

struct pconn {
	uint32_t          id;
	int               tfd, pfd;
	gnutls_session_t  s;
	struct relay     *r;
	struct pconn     *prev, *next;
};

static struct {
	const struct mk_config *cfg;
	struct ev_loop  *loop;
	struct ipc_chan *master;	/* NULL: retired or the master is gone */
	struct tls_creds *tls;
	struct pconn    *conns;
	unsigned         n;
	struct pconn     pending;	/* RELAY_CONN seen, RELAY_PLAIN to come */
	bool             stopping;	/* SIGTERM */
	struct ev_timer  stop_timer;
} P;

static void
maybe_exit(void)
{
	if (P.master == NULL && P.n == 0)
		_exit(0);
}

static void
conn_free(void *arg)
{
	struct pconn *c = arg;

	relay_free(c->r);
	if (c->s != NULL)
		gnutls_deinit(c->s);
	close(c->tfd);
	close(c->pfd);
	free(c);
	/* An idle pool relay gives back what a burst took. */
	if (P.n == 0)
		malloc_trim(0);
	maybe_exit();
}

static void
conn_done(struct relay *r, bool failed, void *arg)
{
	struct pconn *c = arg;
	struct ipc_msg m;

	(void)r;
	log_debug("relay: connection %u ended%s", c->id,
	    failed ? " after a failure" : "");
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		P.conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	P.n--;
	if (P.master != NULL) {
		ipc_msg_init(&m, IPC_RELAY_DONE);
		ipc_put_u32(&m, c->id);
		ipc_chan_send(P.master, &m);
	}
	/* Deferred: an event of this batch may still name its watchers. */
	ev_defer(P.loop, conn_free, c);
}

/* The pending connection is complete: its handshake starts. */
static void
conn_start(int tfd, int pfd, uint32_t id)
{
	struct pconn *c = xcalloc(1, sizeof(*c));
	struct ipc_msg m;

	c->id = id;
	c->tfd = tfd;
	c->pfd = pfd;
	c->s = tls_session_new(P.tls, tfd);
	if (c->s != NULL)
		c->r = relay_new(P.loop, c->s, tfd, pfd, conn_done, c);
	if (c->r == NULL) {
		/* Both ends close: the login process sees EOF and ends. */
		ipc_msg_init(&m, IPC_RELAY_DONE);
		ipc_put_u32(&m, id);
		ipc_chan_send(P.master, &m);
		conn_free(c);
		return;
	}
	c->next = P.conns;
	if (P.conns != NULL)
		P.conns->prev = c;
	P.conns = c;
	P.n++;
	relay_start(c->r, (uint64_t)P.cfg->login_timeout * 1000);
}

static void
master_gone(void)
{
	/* Retired (a new key holder, a reload) or the master is gone:
	 * the connections we have go on; no new ones come. */
	ev_defer(P.loop, ipc_chan_free_cb, P.master);
	P.master = NULL;
	if (P.pending.tfd != -1)
		close(P.pending.tfd);
	P.pending.tfd = -1;
	/* Nor new handshakes: the channel to the key holder goes, so a
	 * retired key holder ends once its relays are retired.  Handshakes
	 * under way end too (their clients connect again, to a new relay). */
	for (struct pconn *c = P.conns, *next; c != NULL; c = next) {
		next = c->next;
		(void)relay_abort_handshake(c->r);
	}
	keyholder_disconnect();
	maybe_exit();
}

static void
master_msg(struct ipc_chan *ch, struct ipc_reader *r, void *arg)
{
	(void)ch;
	(void)arg;
	if (r == NULL) {
		master_gone();
		return;
	}
	uint32_t id = ipc_get_u32(r);
	if (r->type == IPC_RELAY_CONN) {
		(void)ipc_get_u8(r);
		if (r->bad || !ipc_end(r) || r->fd == -1 || P.pending.tfd != -1)
			fatalx("malformed RELAY_CONN");
		P.pending.id = id;
		P.pending.tfd = ipc_take_fd(r);
		return;
	}
	if (r->type != IPC_RELAY_PLAIN || r->bad || !ipc_end(r) ||
	    r->fd == -1 || P.pending.tfd == -1 || id != P.pending.id)
		fatalx("unexpected %s from the master", ipc_type_name(r->type));
	int tfd = P.pending.tfd;
	P.pending.tfd = -1;
	conn_start(tfd, ipc_take_fd(r), id);
}

static void
stop_timer_cb(struct ev_timer *t)
{
	(void)t;
	_exit(0);
}

/* mailkeepd is stopping: the mailbox processes say BYE through us, for
 * at most RELAY_SIGTERM_MS; then we go. */
static void
on_term(int signo, void *arg)
{
	(void)signo;
	(void)arg;
	if (P.stopping)
		return;
	P.stopping = true;
	for (struct pconn *c = P.conns; c != NULL; c = c->next)
		relay_terminate(c->r);
	ev_timer_start(P.loop, &P.stop_timer, RELAY_SIGTERM_MS + 500);
	if (P.n == 0)
		_exit(0);
}

void
relaypool_main(const struct mk_config *cfg, int master_fd,
    struct tls_creds *tls, int kh_fd)
{
	unsigned nofile = 2 * cfg->tls_relay_max_conns + POOL_FIXED_FDS;

	memset(&P, 0, sizeof(P));
	P.cfg = cfg;
	P.tls = tls;
	P.pending.tfd = -1;
	P.loop = ev_loop_new();
	if (tls == NULL || tls_creds_attach(tls, kh_fd) == -1)
		fatalx("no TLS credentials for the relay");
	P.master = ipc_chan_new(P.loop, master_fd, master_msg, NULL);
	ev_timer_init(&P.stop_timer, stop_timer_cb, NULL);
	if (ev_signal(P.loop, SIGTERM, on_term, NULL) == -1)
		fatal("relay: SIGTERM handler");
	sandbox_apply(SANDBOX_LOGIN, nofile);
	if (ev_loop_run(P.loop) == -1)
		fatalx("event loop failed");
	_exit(0);
}
