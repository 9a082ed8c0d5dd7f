/*
 * relaypool.c (master) - the pool of TLS relays (auth/relaypool.c).
 *
 * tls_relays processes (0: one per CPU), each serving up to
 * tls_relay_max_conns TLS connections of any user from one event loop.
 * A new TLS connection goes to the least loaded relay: the master makes
 * a plaintext socketpair, sends the relay the client's socket and one
 * end (IPC_RELAY_CONN, IPC_RELAY_PLAIN) and gives the other end to the
 * login process as its client.  The relay says when a connection is
 * over (IPC_RELAY_DONE), which keeps the load count right; a relay that
 * lies about it only skews its own share.
 *
 * The pool follows the key holder: when a new one is current (start-up,
 * SIGHUP, after a key holder died) the running relays are retired (their
 * channel closed: they serve the connections they have and exit after
 * the last one) and a new pool is forked with the new chain and channels
 * to the new key holder.  A relay that dies takes its own connections
 * with it (their sockets close, so their sessions end) and another is
 * started a second later.
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESPAWN_MS 1000

struct prelay {
	pid_t            pid;
	struct ipc_chan *chan;		/* NULL once retired or gone */
	bool             retired;	/* by us: its end is no loss */
	unsigned         nconn;
	struct prelay   *next;
};

static struct prelay *pool;
static uint32_t next_id;
static struct ev_timer respawn_timer;
static bool timer_ready;

static unsigned
target(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (master.cfg.tls_relays > 0)
		return master.cfg.tls_relays;
	return n > 0 ? (unsigned)n : 1;
}

static void
close_chan(struct prelay *r)
{
	if (r->chan == NULL)
		return;
	ev_defer(master.loop, ipc_chan_free_cb, r->chan);
	r->chan = NULL;
}

static void
retire(struct prelay *r)
{
	r->retired = true;
	close_chan(r);
}

static void
relay_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg)
{
	struct prelay *p = arg;

	(void)c;
	if (r == NULL) {
		close_chan(p);	/* it is ending: reaped soon */
		return;
	}
	(void)ipc_get_u32(r);
	if (r->type != IPC_RELAY_DONE || r->bad || !ipc_end(r) || r->fd != -1) {
		child_kill(p->pid, "TLS relay", "unexpected message");
		retire(p);
		return;
	}
	if (p->nconn > 0)
		p->nconn--;
}

static void schedule_fill(void);

static void
spawn_one(void)
{
	struct prelay *p;
	int chan, kh = keyholder_channel_for_relay();
	pid_t pid;

	if (kh == -1)
		return;
	if ((pid = spawn_relay(kh, &chan)) == -1) {
		schedule_fill();
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->pid = pid;
	p->chan = ipc_chan_new(master.loop, chan, relay_msg, p);
	p->next = pool;
	pool = p;
	child_add(pid, CHILD_RELAY, p);
	log_debug("TLS relay %d started", (int)pid);
}

static unsigned
active(void)
{
	unsigned n = 0;

	for (struct prelay *p = pool; p != NULL; p = p->next)
		n += p->chan != NULL;
	return n;
}

static void
fill(void)
{
	if (master.stopping || master.tls == NULL)
		return;
	for (unsigned n = active(), want = target(); n < want; n++)
		spawn_one();
}

static void
fill_cb(struct ev_timer *t)
{
	(void)t;
	fill();
}

static void
schedule_fill(void)
{
	if (!timer_ready) {
		ev_timer_init(&respawn_timer, fill_cb, NULL);
		timer_ready = true;
	}
	if (!ev_timer_armed(&respawn_timer))
		ev_timer_start(master.loop, &respawn_timer, RESPAWN_MS);
}

void
relaypool_renew(void)
{
	for (struct prelay *p = pool; p != NULL; p = p->next)
		retire(p);
	fill();
}

void
relaypool_stop(void)
{
	if (timer_ready)
		ev_timer_stop(master.loop, &respawn_timer);
	for (struct prelay *p = pool; p != NULL; p = p->next)
		retire(p);
}

void
relaypool_exited(void *obj, int status)
{
	struct prelay *p = obj, **pp = &pool;

	(void)status;
	if (!p->retired && !master.stopping) {
		log_warnx("TLS relay %d ended with %u connection%s: starting "
		    "another", (int)p->pid, p->nconn, p->nconn == 1 ? "" : "s");
		schedule_fill();
	}
	retire(p);
	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	/* Deferred: an event of this batch (its channel's EOF) may still
	 * name it. */
	ev_defer(master.loop, free, p);
}

static struct prelay *
least_loaded(void)
{
	struct prelay *best = NULL;

	for (struct prelay *p = pool; p != NULL; p = p->next)
		if (p->chan != NULL && p->nconn < master.cfg.tls_relay_max_conns &&
		    (best == NULL || p->nconn < best->nconn))
			best = p;
	return best;
}

static int
send_fd(struct prelay *p, uint32_t type, uint32_t id, int fd, bool implicit)
{
	struct ipc_msg m;

	ipc_msg_init(&m, type);
	ipc_put_u32(&m, id);
	if (type == IPC_RELAY_CONN)
		ipc_put_u8(&m, implicit);
	ipc_put_fd(&m, fd);	/* closed here once sent */
	return ipc_chan_send(p->chan, &m);
}

int
relaypool_assign(int client_fd, bool implicit, int *plain_fd, ino_t *ino)
{
	struct prelay *p = least_loaded();
	struct stat st;
	int sp[2];

	*plain_fd = -1;
	if (p == NULL) {
		log_warnx("no TLS relay can take a connection (%u running, "
		    "tls_relay_max_conns %u)", active(),
		    master.cfg.tls_relay_max_conns);
		close(client_fd);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1 ||
	    fstat(sp[1], &st) == -1) {
		log_warn("socketpair");
		close(client_fd);
		return -1;
	}
	uint32_t id = ++next_id;
	/* A failed send closes the descriptor it carried. */
	bool sent = send_fd(p, IPC_RELAY_CONN, id, client_fd, implicit) == 0;
	if (!sent)
		close(sp[0]);
	if (!sent || send_fd(p, IPC_RELAY_PLAIN, id, sp[0], implicit) == -1) {
		/* The relay cannot keep up: it is of no use any more. */
		child_kill(p->pid, "TLS relay", "its channel is full");
		retire(p);
		close(sp[1]);
		return -1;
	}
	p->nconn++;
	*plain_fd = sp[1];
	*ino = st.st_ino;
	return 0;
}

bool
relaypool_is_link(int fd, ino_t ino)
{
	struct stat st;

	/* A socketpair the master made (its creator is the peer of both
	 * ends), and the very one recorded for this connection. */
	return ino != 0 && peer_is_relay(fd, getpid()) && fstat(fd, &st) == 0 &&
	    st.st_ino == ino;
}

unsigned
relaypool_size(void)
{
	return active();
}
