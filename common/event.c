/*
 * event.c - see event.h.
 */
#include "common/event.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define MAX_EVENTS 64
#define NSIG_WATCH 65

struct ev_loop {
	int               epfd;
	bool              stop;
	uint64_t          now;
	struct ev_timer **heap;
	size_t            nheap, capheap;
	/* signals */
	int               sigfd;
	struct ev_io      sigio;
	sigset_t          sigmask;
	ev_signal_cb      sigcb[NSIG_WATCH];
	void             *sigarg[NSIG_WATCH];
	/* deferred work */
	struct deferred  *defer;
	size_t            ndefer, capdefer;
	/* The batch being dispatched: a watcher stopped during it (and
	 * perhaps freed with its owner) is struck out of it. */
	struct epoll_event *batch;
	int               nbatch;
};

struct deferred {
	void (*fn)(void *);
	void  *arg;
};

static sigset_t blocked_by_us;

struct ev_loop *
ev_loop_new(void)
{
	struct ev_loop *l = xcalloc(1, sizeof(*l));

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd == -1)
		fatal("epoll_create1");
	l->sigfd = -1;
	sigemptyset(&l->sigmask);
	l->now = now_ms();
	return l;
}

void
ev_loop_free(struct ev_loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	if (l->sigfd != -1)
		close(l->sigfd);
	free(l->heap);
	free(l->defer);
	free(l);
}

void ev_loop_break(struct ev_loop *l) { l->stop = true; }
uint64_t ev_now(struct ev_loop *l) { return l->now; }

/* --- descriptors --- */

void
ev_io_init(struct ev_io *io, int fd, ev_io_cb cb, void *arg)
{
	io->fd = fd;
	io->events = 0;
	io->active = false;
	io->cb = cb;
	io->arg = arg;
}

int
ev_io_start(struct ev_loop *l, struct ev_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	if (io->active)
		return ev_io_set(l, io, events);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) == -1)
		return -1;
	io->events = events;
	io->active = true;
	return 0;
}

int
ev_io_set(struct ev_loop *l, struct ev_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	if (!io->active)
		return ev_io_start(l, io, events);
	if (io->events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) == -1)
		return -1;
	io->events = events;
	return 0;
}

void
ev_io_stop(struct ev_loop *l, struct ev_io *io)
{
	if (!io->active)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->active = false;
	io->events = 0;
	/* Its owner may free it before the batch reaches its event. */
	for (int i = 0; i < l->nbatch; i++)
		if (l->batch[i].data.ptr == io)
			l->batch[i].data.ptr = NULL;
}

/* --- timers: a binary min-heap on 'when' --- */

static void
heap_swap(struct ev_loop *l, size_t a, size_t b)
{
	struct ev_timer *t = l->heap[a];
	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->slot = a + 1;
	l->heap[b]->slot = b + 1;
}

static void
heap_up(struct ev_loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (l->heap[p]->when <= l->heap[i]->when)
			break;
		heap_swap(l, p, i);
		i = p;
	}
}

static void
heap_down(struct ev_loop *l, size_t i)
{
	for (;;) {
		size_t a = 2 * i + 1, b = a + 1, m = i;
		if (a < l->nheap && l->heap[a]->when < l->heap[m]->when)
			m = a;
		if (b < l->nheap && l->heap[b]->when < l->heap[m]->when)
			m = b;
		if (m == i)
			break;
		heap_swap(l, i, m);
		i = m;
	}
}

void
ev_timer_init(struct ev_timer *t, ev_timer_cb cb, void *arg)
{
	t->when = 0;
	t->slot = 0;
	t->cb = cb;
	t->arg = arg;
}

void
ev_timer_stop(struct ev_loop *l, struct ev_timer *t)
{
	size_t i;

	if (t->slot == 0)
		return;
	i = t->slot - 1;
	t->slot = 0;
	l->nheap--;
	if (i == l->nheap)
		return;
	l->heap[i] = l->heap[l->nheap];
	l->heap[i]->slot = i + 1;
	heap_up(l, i);
	heap_down(l, i);
}

void
ev_timer_start(struct ev_loop *l, struct ev_timer *t, uint64_t after_ms)
{
	ev_timer_stop(l, t);
	if (l->nheap == l->capheap) {
		l->capheap = l->capheap ? l->capheap * 2 : 64;
		l->heap = xreallocarray(l->heap, l->capheap, sizeof(*l->heap));
	}
	t->when = now_ms() + after_ms;
	l->heap[l->nheap] = t;
	t->slot = ++l->nheap;
	heap_up(l, l->nheap - 1);
}

static int
next_timeout(struct ev_loop *l)
{
	if (l->nheap == 0)
		return -1;
	if (l->heap[0]->when <= l->now)
		return 0;
	uint64_t d = l->heap[0]->when - l->now;
	return d > INT32_MAX ? INT32_MAX : (int)d;
}

static void
run_timers(struct ev_loop *l)
{
	while (l->nheap > 0 && l->heap[0]->when <= l->now && !l->stop) {
		struct ev_timer *t = l->heap[0];
		ev_timer_stop(l, t);
		t->cb(t);
	}
}

/* --- signals --- */

static void
sig_read(struct ev_io *io, uint32_t revents)
{
	struct ev_loop *l = io->arg;
	struct signalfd_siginfo si;

	(void)revents;
	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int s = (int)si.ssi_signo;
		if (s > 0 && s < NSIG_WATCH && l->sigcb[s])
			l->sigcb[s](s, l->sigarg[s]);
	}
}

int
ev_signal(struct ev_loop *l, int signo, ev_signal_cb cb, void *arg)
{
	if (signo <= 0 || signo >= NSIG_WATCH)
		return -1;
	sigaddset(&l->sigmask, signo);
	sigaddset(&blocked_by_us, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) == -1)
		return -1;
	l->sigcb[signo] = cb;
	l->sigarg[signo] = arg;
	l->sigfd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sigfd == -1)
		return -1;
	if (!l->sigio.active) {
		ev_io_init(&l->sigio, l->sigfd, sig_read, l);
		return ev_io_start(l, &l->sigio, EPOLLIN);
	}
	return 0;
}

void
ev_signals_reset(void)
{
	sigprocmask(SIG_UNBLOCK, &blocked_by_us, NULL);
	sigemptyset(&blocked_by_us);
}

/* --- deferred release --- */

void
ev_defer(struct ev_loop *l, void (*fn)(void *), void *arg)
{
	if (l->ndefer == l->capdefer) {
		l->capdefer = l->capdefer ? l->capdefer * 2 : 16;
		l->defer = xreallocarray(l->defer, l->capdefer, sizeof(*l->defer));
	}
	l->defer[l->ndefer].fn = fn;
	l->defer[l->ndefer].arg = arg;
	l->ndefer++;
}

static void
run_deferred(struct ev_loop *l)
{
	/* fn may defer more; loop until quiet. */
	for (size_t i = 0; i < l->ndefer; i++)
		l->defer[i].fn(l->defer[i].arg);
	l->ndefer = 0;
}

/* --- the loop --- */

int
ev_loop_run(struct ev_loop *l)
{
	struct epoll_event evs[MAX_EVENTS];

	l->stop = false;
	while (!l->stop) {
		l->now = now_ms();
		int n = epoll_wait(l->epfd, evs, MAX_EVENTS, next_timeout(l));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("epoll_wait");
			return -1;
		}
		l->now = now_ms();
		l->batch = evs;
		l->nbatch = n;
		for (int i = 0; i < n && !l->stop; i++) {
			struct ev_io *io = evs[i].data.ptr;
			/* A callback earlier in this batch may have stopped it,
			 * and freed it: ev_io_stop() struck it out. */
			if (io != NULL && io->active)
				io->cb(io, evs[i].events);
		}
		l->nbatch = 0;
		l->batch = NULL;
		run_deferred(l);
		run_timers(l);
		run_deferred(l);
	}
	return 0;
}
