/*
 * relay.c - one TLS connection in a relay (see tls.h).
 *
 * GnuTLS cannot move a session to another process, so the process that
 * runs the handshake keeps the connection: a pool relay (relaypool.c)
 * runs the handshake, then decrypts what the client sends into a
 * socketpair whose other end the login process, and after the login the
 * mailbox process, serves, and encrypts what comes back.  Neither sees
 * anything but a plaintext stream.
 *
 * Per connection: two descriptors, two bounded buffers: "up" (client to
 * mailbox process) and "down" (mailbox process to client).  A direction
 * reads from its source only while its buffer has room, so a side that
 * stops reading makes the other side's writes block instead of making
 * the relay buffer without bound.  GnuTLS may hold decrypted bytes of
 * a record it has already read from the socket; epoll cannot see those,
 * so every pass tries to read whenever there is room rather than
 * waiting to be told.  Each pass moves bytes as far as they go, then
 * waits for the descriptors that can unblock something.
 */
#include "auth/tls.h"
#include "common/buf.h"
#include "common/event.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Largest read at once: one TLS record's worth of plaintext. */
#define CHUNK 16384
/* An empty buffer that grew beyond this during a burst is given back,
 * so an idle relay stays small; below it, it is kept for the next read. */
#define KEEP_CAP (2 * CHUNK + 1)

struct relay {
	struct ev_loop  *loop;
	relay_done_fn    done_cb;
	void            *done_arg;
	bool             handshaking;
	uint32_t         hs_events;	/* what the handshake waits for */
	gnutls_session_t s;
	int              tfd, pfd;	/* TLS client, plaintext side */
	struct ev_io     tio, pio;
	struct ev_timer  timer;
	struct buf       up, down;
	bool             t_eof, p_eof;	/* that side sends no more */
	bool             t_hup, p_hup;	/* hung up: read without waiting */
	bool             t_out_blocked;	/* a TLS write waits for the socket */
	bool             t_in_wants_out;/* a TLS read waits to write */
	bool             p_out_blocked;
	bool             p_dead;	/* plaintext side takes no more bytes */
	bool             p_shut;	/* plaintext side shut for writing */
	bool             terminating;	/* SIGTERM seen */
	bool             failed, done;
};

static bool
has_room(const struct buf *b)
{
	return buf_len(b) < RELAY_BUF_MAX;
}

/* After a burst (a big FETCH or APPEND) the relay gives its grown
 * buffer back to the system, not just to malloc. */
static void
shrink_if_empty(struct buf *b)
{
	if (buf_len(b) == 0 && b->cap > KEEP_CAP) {
		buf_free(b);
		malloc_trim(0);
	}
}

/* ---- the four moves; each says whether anything changed ---- */

/* Client -> up. */
static bool
tls_in(struct relay *r)
{
	bool moved = false;

	r->t_in_wants_out = false;
	while (!r->t_eof) {
		size_t avail;
		char *p = buf_tail(&r->up, CHUNK, &avail);
		if (p == NULL || avail == 0)
			break;
		ssize_t n = tls_recv(r->s, p, MK_MIN(avail, (size_t)CHUNK));
		if (n > 0) {
			buf_commit(&r->up, (size_t)n);
			moved = true;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN && !r->t_hup) {
			r->t_in_wants_out = tls_wants_write(r->s);
			break;
		}
		/* Its end of data, or a broken session: nothing to answer. */
		if (n == -1 && errno != EAGAIN)
			r->failed = true;
		r->t_eof = true;
		moved = true;
	}
	return moved;
}

/* Up -> plaintext side; once the client has finished and everything
 * is delivered, the plaintext side is shut so the mailbox sees EOF. */
static bool
plain_out(struct relay *r)
{
	bool moved = false;

	r->p_out_blocked = false;
	while (buf_len(&r->up) > 0 && !r->p_dead) {
		ssize_t n = send(r->pfd, buf_ptr(&r->up), buf_len(&r->up),
		    MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(&r->up, (size_t)n);
			moved = true;
		} else if (n == -1 && errno == EAGAIN) {
			r->p_out_blocked = true;
			break;
		} else if (n == -1 && errno != EINTR) {
			/* The session is over there: what it still sent us is
			 * delivered, the client's input is not wanted. */
			r->p_dead = true;
			r->t_eof = true;
			buf_reset(&r->up);
			moved = true;
		}
	}
	shrink_if_empty(&r->up);
	if (r->t_eof && buf_len(&r->up) == 0 && !r->p_shut) {
		shutdown(r->pfd, SHUT_WR);
		r->p_shut = true;
		moved = true;
	}
	return moved;
}

/* Plaintext side -> down. */
static bool
plain_in(struct relay *r)
{
	bool moved = false;

	while (!r->p_eof) {
		size_t avail;
		char *p = buf_tail(&r->down, CHUNK, &avail);
		if (p == NULL || avail == 0)
			break;
		ssize_t n = recv(r->pfd, p, avail, 0);
		if (n > 0) {
			buf_commit(&r->down, (size_t)n);
			moved = true;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN && !r->p_hup)
			break;
		r->p_eof = true;
		moved = true;
	}
	return moved;
}

/* Down -> client. */
static bool
tls_out(struct relay *r)
{
	bool moved = false;

	r->t_out_blocked = false;
	while (buf_len(&r->down) > 0 && !r->failed) {
		ssize_t n = tls_send(r->s, buf_ptr(&r->down), buf_len(&r->down));
		if (n > 0) {
			buf_consume(&r->down, (size_t)n);
			moved = true;
		} else if (n == -1 && errno == EAGAIN && !r->t_hup) {
			r->t_out_blocked = true;
			break;
		} else if (n == -1 && errno != EINTR) {
			r->failed = true;	/* the client is gone */
			moved = true;
		}
	}
	shrink_if_empty(&r->down);
	return moved;
}

/* ---- the loop ---- */

/* The connection is over: the owner is told once, and may free r
 * (deferred) from its callback. */
static void
finish(struct relay *r)
{
	if (r->done)
		return;
	r->done = true;
	ev_io_stop(r->loop, &r->tio);
	ev_io_stop(r->loop, &r->pio);
	ev_timer_stop(r->loop, &r->timer);
	r->done_cb(r, r->failed, r->done_arg);
}

static void
watch(struct relay *r, struct ev_io *io, bool hup, uint32_t ev)
{
	if (hup || ev == 0)
		ev_io_stop(r->loop, io);
	else if (ev_io_set(r->loop, io, ev) == -1) {
		log_warn("epoll");
		r->failed = true;
		finish(r);
	}
}

static void
set_interest(struct relay *r)
{
	uint32_t t = 0, p = 0;
	bool reading_tls = !r->t_eof && has_room(&r->up);

	if (reading_tls)
		t |= EPOLLIN;
	if (r->t_out_blocked || (reading_tls && r->t_in_wants_out))
		t |= EPOLLOUT;
	if (!r->p_eof && has_room(&r->down))
		p |= EPOLLIN;
	if (r->p_out_blocked)
		p |= EPOLLOUT;
	watch(r, &r->tio, r->t_hup, t);
	watch(r, &r->pio, r->p_hup, p);
}

static void
pump(struct relay *r)
{
	bool moved, any = false;

	do {
		moved = tls_in(r);
		moved |= plain_out(r);
		moved |= plain_in(r);
		moved |= tls_out(r);
		any |= moved;
	} while (moved && !r->failed);

	if (r->failed) {
		finish(r);
		return;
	}
	if (r->p_eof && buf_len(&r->down) == 0) {
		/* The session ended and the client has all of it. */
		/* Best effort, without waiting: the loop serves others. */
		tls_close(r->s, r->tfd, 0);
		finish(r);
		return;
	}
	/* Finishing: give up if nothing moves for a while. */
	if ((r->t_eof || r->p_eof) && !r->terminating &&
	    (any || !ev_timer_armed(&r->timer)))
		ev_timer_start(r->loop, &r->timer, RELAY_LINGER_MS);
	set_interest(r);
}

static void handshake(struct relay *r);

static void
tls_cb(struct ev_io *io, uint32_t revents)
{
	struct relay *r = io->arg;

	if (r->handshaking) {
		handshake(r);
		return;
	}
	if (revents & (EPOLLHUP | EPOLLERR))
		r->t_hup = true;
	pump(r);
}

static void
plain_cb(struct ev_io *io, uint32_t revents)
{
	struct relay *r = io->arg;

	if (revents & (EPOLLHUP | EPOLLERR))
		r->p_hup = true;
	pump(r);
}

static void
timer_cb(struct ev_timer *t)
{
	struct relay *r = t->arg;

	log_debug("relay: %s; closing", r->terminating ? "stopping" :
	    r->handshaking ? "handshake took too long" :
	    "no progress while finishing");
	r->failed = true;
	finish(r);
}

/* The handshake, one step per readiness; the connection starts to
 * relay once it is done.  What the plaintext side sent meanwhile (an
 * implicit-TLS greeting) waits in its socket. */
static void
handshake(struct relay *r)
{
	int one = 1;
	int rc = tls_handshake_step(r->s, &r->hs_events);

	if (rc == 0) {
		watch(r, &r->tio, false, r->hs_events);
		return;
	}
	if (rc == -1) {
		r->failed = true;
		finish(r);
		return;
	}
	r->handshaking = false;
	ev_timer_stop(r->loop, &r->timer);
	/* Whatever the relay has is all there is for now: send it. */
	(void)setsockopt(r->tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pump(r);
}

void
relay_terminate(struct relay *r)
{
	if (r->terminating || r->done)
		return;
	r->terminating = true;
	ev_timer_start(r->loop, &r->timer, RELAY_SIGTERM_MS);
}

struct relay *
relay_new(struct ev_loop *loop, gnutls_session_t s, int tls_fd,
    int plain_fd, relay_done_fn done, void *arg)
{
	struct relay *r = xcalloc(1, sizeof(*r));

	r->loop = loop;
	r->s = s;
	r->tfd = tls_fd;
	r->pfd = plain_fd;
	r->done_cb = done;
	r->done_arg = arg;
	if (set_nonblock(tls_fd) == -1 || set_nonblock(plain_fd) == -1) {
		log_warn("relay descriptors");
		free(r);
		return NULL;
	}
	buf_init(&r->up, RELAY_BUF_MAX);
	buf_init(&r->down, RELAY_BUF_MAX);
	ev_io_init(&r->tio, tls_fd, tls_cb, r);
	ev_io_init(&r->pio, plain_fd, plain_cb, r);
	ev_timer_init(&r->timer, timer_cb, r);
	return r;
}

void
relay_start(struct relay *r, uint64_t handshake_ms)
{
	if (handshake_ms > 0) {
		r->handshaking = true;
		ev_timer_start(r->loop, &r->timer, handshake_ms);
		handshake(r);
		return;
	}
	/* GnuTLS may already hold what the client sent after logging in. */
	pump(r);
}

bool
relay_abort_handshake(struct relay *r)
{
	if (!r->handshaking || r->done)
		return false;
	r->failed = true;
	finish(r);
	return true;
}

void
relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	ev_io_stop(r->loop, &r->tio);
	ev_io_stop(r->loop, &r->pio);
	ev_timer_stop(r->loop, &r->timer);
	buf_free(&r->up);
	buf_free(&r->down);
	free(r);
}

/* ---- one connection in a loop of its own (tests) ---- */

static void
single_done(struct relay *r, bool failed, void *arg)
{
	(void)r;
	(void)failed;
	ev_loop_break(arg);
}

/* The master is stopping: the mailbox process is told too and will end
 * the session (its BYE still reaches the client); don't wait forever. */
static void
on_term(int signo, void *arg)
{
	(void)signo;
	relay_terminate(arg);
}

int
relay_run(gnutls_session_t s, int tls_fd, int plain_fd)
{
	struct ev_loop *loop = ev_loop_new();
	struct relay *r = relay_new(loop, s, tls_fd, plain_fd, single_done, loop);
	int one = 1;
	bool failed;

	if (r == NULL)
		fatalx("relay set-up");
	(void)setsockopt(tls_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ev_signal(loop, SIGTERM, on_term, r) == -1)
		log_warn("relay: SIGTERM handler");
	relay_start(r, 0);
	if (!r->done && ev_loop_run(loop) == -1)
		r->failed = true;
	failed = r->failed;
	relay_free(r);
	ev_loop_free(loop);
	return failed ? -1 : 0;
}
