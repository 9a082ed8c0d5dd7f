/*
 * event.h - the single-threaded event loop every long-lived process runs:
 * epoll for descriptors, a binary heap of timers, signalfd for signals.
 *
 * An idle connection costs one epoll registration and at most one armed
 * timer; nothing is polled.  Callbacks run to completion; a callback may
 * add, modify or delete any watcher, including its own.
 */
#ifndef MK_EVENT_H
#define MK_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct ev_loop;
struct ev_io;
struct ev_timer;

typedef void (*ev_io_cb)(struct ev_io *io, uint32_t revents);
typedef void (*ev_timer_cb)(struct ev_timer *t);
typedef void (*ev_signal_cb)(int signo, void *arg);

struct ev_io {
	int       fd;
	uint32_t  events;	/* EPOLLIN | EPOLLOUT */
	bool      active;
	ev_io_cb  cb;
	void     *arg;
};

struct ev_timer {
	uint64_t     when;	/* monotonic ms */
	size_t       slot;	/* heap index + 1; 0 when not armed */
	ev_timer_cb  cb;
	void        *arg;
};

struct ev_loop *ev_loop_new(void);
void  ev_loop_free(struct ev_loop *l);
/* Runs until ev_loop_break(); returns 0, or -1 on epoll failure. */
int   ev_loop_run(struct ev_loop *l);
void  ev_loop_break(struct ev_loop *l);
uint64_t ev_now(struct ev_loop *l);

void  ev_io_init(struct ev_io *io, int fd, ev_io_cb cb, void *arg);
int   ev_io_start(struct ev_loop *l, struct ev_io *io, uint32_t events);
int   ev_io_set(struct ev_loop *l, struct ev_io *io, uint32_t events);
void  ev_io_stop(struct ev_loop *l, struct ev_io *io);

void  ev_timer_init(struct ev_timer *t, ev_timer_cb cb, void *arg);
void  ev_timer_start(struct ev_loop *l, struct ev_timer *t, uint64_t after_ms);
void  ev_timer_stop(struct ev_loop *l, struct ev_timer *t);
static inline bool ev_timer_armed(const struct ev_timer *t) { return t->slot != 0; }

/* Run fn(arg) once the current batch of callbacks is done.  Objects that
 * embed an ev_io must be freed this way from inside a callback, because a
 * later event of the same batch may still point at them. */
void  ev_defer(struct ev_loop *l, void (*fn)(void *), void *arg);

/* Blocks signo and delivers it through the loop.  One callback per signal. */
int   ev_signal(struct ev_loop *l, int signo, ev_signal_cb cb, void *arg);
/* Undo signal blocking after fork, before exec or in a child loop. */
void  ev_signals_reset(void);

#endif
