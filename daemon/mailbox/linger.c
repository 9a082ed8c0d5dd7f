/*
 * linger.c - the server ends a session (BYE: an error, a limit, a
 * shutdown, LOGOUT) without losing its last words.
 *
 * A TCP socket closed while bytes the peer sent are still unread is
 * reset, not closed: the kernel sends RST and drops what was queued to
 * go out, the BYE included, and the peer's stack may throw away what it
 * had received but not yet read.  A client that was still sending when
 * the server gave up on it (a decompression bomb, a literal past
 * max_message) would see "connection reset" instead of the reason.  So
 * the write side is shut (FIN after the BYE) and what the peer still
 * sends is read and dropped until it closes too, for LINGER_MS at most,
 * LINGER_BYTES at most, and for LINGER_MAX connections at once; past
 * any of those, the socket is simply closed.  The session itself is
 * already over: nothing read here is looked at.
 */
#include "daemon/mailbox/mbox_int.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINGER_MS    2000
#define LINGER_BYTES (1u << 20)
#define LINGER_MAX   64

struct lingering {
	struct ev_loop  *loop;
	struct ev_io     io;
	struct ev_timer  timer;
	size_t           drained;
};

static unsigned nlinger;

static void
linger_end(struct lingering *l)
{
	ev_io_stop(l->loop, &l->io);
	ev_timer_stop(l->loop, &l->timer);
	close(l->io.fd);
	free(l);
	nlinger--;
}

static void
linger_read(struct ev_io *io, uint32_t revents)
{
	struct lingering *l = io->arg;
	char scratch[4096];

	(void)revents;
	for (;;) {
		ssize_t n = recv(io->fd, scratch, sizeof(scratch),
		    MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			break;		/* the peer closed, or is gone */
		l->drained += (size_t)n;
		if (l->drained >= LINGER_BYTES)
			break;
	}
	linger_end(l);
}

static void
linger_timeout(struct ev_timer *t)
{
	linger_end(t->arg);
}

void
linger_close(struct ev_loop *loop, int fd)
{
	struct lingering *l;

	if (shutdown(fd, SHUT_WR) == -1 || nlinger >= LINGER_MAX ||
	    (l = calloc(1, sizeof(*l))) == NULL) {
		close(fd);
		return;
	}
	l->loop = loop;
	ev_io_init(&l->io, fd, linger_read, l);
	ev_timer_init(&l->timer, linger_timeout, l);
	if (ev_io_start(loop, &l->io, EPOLLIN) == -1) {
		close(fd);
		free(l);
		return;
	}
	ev_timer_start(loop, &l->timer, LINGER_MS);
	nlinger++;
}
