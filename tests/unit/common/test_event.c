/*
 * test_event.c - the event loop: a watcher that a callback earlier in the
 * same epoll batch stops and frees is never touched again (the mailbox
 * process freed a guest channel's watcher while closing its client, and
 * the loop then read the freed watcher: ASan, e2e-shared).
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/event.h"

struct owner {
	struct ev_io      io;
	int               fds[2];
	struct owner     *other;	/* freed by our callback */
};

static struct ev_loop *loop;
static int total_calls;
static struct owner *last_called;

static void
owner_free(struct owner *o)
{
	ev_io_stop(loop, &o->io);
	close(o->fds[0]);
	close(o->fds[1]);
	/* poison it, so a stale read is seen without a sanitizer too */
	memset(o, 0xa5, sizeof(*o));
	free(o);
}

static void
stop_loop(void *arg)
{
	(void)arg;
	ev_loop_break(loop);
}

static void
on_ready(struct ev_io *io, uint32_t revents)
{
	struct owner *o = io->arg;

	(void)revents;
	total_calls++;
	last_called = o;
	if (o->other != NULL) {
		owner_free(o->other);
		o->other = NULL;
	}
	/* after the batch: breaking now would end the batch early */
	ev_defer(loop, stop_loop, NULL);
}

static struct owner *
owner_new(void)
{
	struct owner *o = calloc(1, sizeof(*o));

	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, o->fds) == 0);
	ev_io_init(&o->io, o->fds[0], on_ready, o);
	CU_ASSERT_FATAL(ev_io_start(loop, &o->io, EPOLLIN) == 0);
	/* readable now, so both land in one epoll batch */
	CU_ASSERT_FATAL(write(o->fds[1], "x", 1) == 1);
	return o;
}

void
test_event_watcher_freed_earlier_in_its_batch_is_skipped(void)
{
	struct owner *a, *b;

	loop = ev_loop_new();
	a = owner_new();
	b = owner_new();
	/* whichever comes first in the batch frees the other */
	a->other = b;
	b->other = a;
	total_calls = 0;
	ev_loop_run(loop);
	CU_ASSERT_EQUAL(total_calls, 1);
	/* the survivor is the one whose callback ran; it is still served */
	struct owner *left = last_called;
	CU_ASSERT_FATAL(left == a || left == b);
	ev_loop_run(loop);
	CU_ASSERT_EQUAL(total_calls, 2);
	CU_ASSERT_PTR_EQUAL(last_called, left);
	owner_free(left);
	ev_loop_free(loop);
}
