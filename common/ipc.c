/*
 * ipc.c - see ipc.h.
 */
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HDR_LEN 8

void
ipc_msg_init(struct ipc_msg *m, enum ipc_type type)
{
	buf_init(&m->b, IPC_MAX_MSG);
	m->fd = -1;
	ipc_put_u32(m, IPC_VERSION);
	ipc_put_u32(m, (uint32_t)type);
}

void
ipc_msg_free(struct ipc_msg *m)
{
	/* Messages may carry secrets: wipe before release. */
	if (m->b.data)
		explicit_bzero(m->b.data, m->b.cap);
	buf_free(&m->b);
	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
}

static void
put(struct ipc_msg *m, const void *p, size_t n)
{
	if (buf_add(&m->b, p, n) == -1)
		fatalx("ipc message exceeds %d bytes", IPC_MAX_MSG);
}

void ipc_put_u8(struct ipc_msg *m, uint8_t v) { put(m, &v, 1); }

void
ipc_put_u32(struct ipc_msg *m, uint32_t v)
{
	uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };
	put(m, b, 4);
}

void
ipc_put_u64(struct ipc_msg *m, uint64_t v)
{
	ipc_put_u32(m, (uint32_t)(v >> 32));
	ipc_put_u32(m, (uint32_t)v);
}

void
ipc_put_bytes(struct ipc_msg *m, const void *p, size_t n)
{
	if (n > IPC_MAX_MSG)
		fatalx("ipc field too large");
	ipc_put_u32(m, (uint32_t)n);
	if (n)
		put(m, p, n);
}

void
ipc_put_str(struct ipc_msg *m, const char *s)
{
	if (s == NULL)
		s = "";
	/* Strings travel with their NUL so the reader can hand out
	 * pointers into the message without copying. */
	ipc_put_bytes(m, s, strlen(s) + 1);
}

void
ipc_put_fd(struct ipc_msg *m, int fd)
{
	if (m->fd != -1)
		fatalx("one descriptor per message");
	m->fd = fd;
}

void
ipc_put_session(struct ipc_msg *m, const struct ipc_session *s)
{
	ipc_put_u64(m, s->id);
	ipc_put_u32(m, s->user_id);
	ipc_put_str(m, s->user);
	ipc_put_str(m, s->authcid);
	ipc_put_u8(m, s->method);
	ipc_put_u32(m, s->flags);
	ipc_put_str(m, s->client);
	ipc_put_str(m, s->tag);
	ipc_put_str(m, s->okverb);
	ipc_put_bytes(m, s->pending, s->npending);
	ipc_put_u64(m, s->quota_storage);
	ipc_put_u64(m, s->quota_messages);
}

/* --- reading --- */

static const uint8_t *
take(struct ipc_reader *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

uint8_t
ipc_get_u8(struct ipc_reader *r)
{
	const uint8_t *p = take(r, 1);
	return p ? p[0] : 0;
}

uint32_t
ipc_get_u32(struct ipc_reader *r)
{
	const uint8_t *p = take(r, 4);
	if (p == NULL)
		return 0;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

uint64_t
ipc_get_u64(struct ipc_reader *r)
{
	uint64_t hi = ipc_get_u32(r);
	return hi << 32 | ipc_get_u32(r);
}

const uint8_t *
ipc_get_bytes(struct ipc_reader *r, size_t *n)
{
	uint32_t len = ipc_get_u32(r);
	const uint8_t *p = take(r, len);

	*n = p ? len : 0;
	return p ? p : (const uint8_t *)"";
}

const char *
ipc_get_str(struct ipc_reader *r)
{
	size_t n;
	const uint8_t *p = ipc_get_bytes(r, &n);

	if (r->bad)
		return "";
	if (n == 0 || p[n - 1] != '\0' || memchr(p, '\0', n - 1) != NULL) {
		r->bad = true;
		return "";
	}
	return (const char *)p;
}

void
ipc_get_session(struct ipc_reader *r, struct ipc_session *s)
{
	s->id = ipc_get_u64(r);
	s->user_id = ipc_get_u32(r);
	s->user = ipc_get_str(r);
	s->authcid = ipc_get_str(r);
	s->method = ipc_get_u8(r);
	s->flags = ipc_get_u32(r);
	s->client = ipc_get_str(r);
	s->tag = ipc_get_str(r);
	s->okverb = ipc_get_str(r);
	s->pending = ipc_get_bytes(r, &s->npending);
	s->quota_storage = ipc_get_u64(r);
	s->quota_messages = ipc_get_u64(r);
}

bool
ipc_end(struct ipc_reader *r)
{
	if (r->off != r->len)
		r->bad = true;
	return !r->bad;
}

int
ipc_take_fd(struct ipc_reader *r)
{
	int fd = r->fd;
	r->fd = -1;
	return fd;
}

const char *
ipc_type_name(uint32_t type)
{
	static const char *names[IPC_TYPE_MAX] = {
		[IPC_LOGIN_AUTH] = "LOGIN_AUTH",
		[IPC_LOGIN_AUTH_RESULT] = "LOGIN_AUTH_RESULT",
		[IPC_LOGIN_HANDOFF] = "LOGIN_HANDOFF",
		[IPC_LOGIN_STARTTLS] = "LOGIN_STARTTLS",
		[IPC_HASH_CHECK] = "HASH_CHECK",
		[IPC_HASH_RESULT] = "HASH_RESULT",
		[IPC_MBOX_SESSION] = "MBOX_SESSION",
		[IPC_MBOX_SESSION_END] = "MBOX_SESSION_END",
		[IPC_MBOX_PROXYAUTH] = "MBOX_PROXYAUTH",
		[IPC_MBOX_PROXYAUTH_RESULT] = "MBOX_PROXYAUTH_RESULT",
		[IPC_MBOX_HANDBACK] = "MBOX_HANDBACK",
		[IPC_MBOX_QUOTA] = "MBOX_QUOTA",
		[IPC_MBOX_SETQUOTA] = "MBOX_SETQUOTA",
		[IPC_MBOX_SETQUOTA_RESULT] = "MBOX_SETQUOTA_RESULT",
		[IPC_MBOX_SHARE] = "MBOX_SHARE",
		[IPC_MBOX_SHARES] = "MBOX_SHARES",
		[IPC_MBOX_SHARES_RESULT] = "MBOX_SHARES_RESULT",
		[IPC_MBOX_GUEST_OPEN] = "MBOX_GUEST_OPEN",
		[IPC_MBOX_GUEST_RESULT] = "MBOX_GUEST_RESULT",
		[IPC_MBOX_SHARE_DONE] = "MBOX_SHARE_DONE",
		[IPC_KEY_READY] = "KEY_READY",
		[IPC_KEY_CHANNEL] = "KEY_CHANNEL",
		[IPC_KEY_SIGN_HASH] = "KEY_SIGN_HASH",
		[IPC_KEY_SIGN_DATA] = "KEY_SIGN_DATA",
		[IPC_KEY_DECRYPT] = "KEY_DECRYPT",
		[IPC_KEY_RESULT] = "KEY_RESULT",
	};
	if (type < IPC_TYPE_MAX && names[type])
		return names[type];
	return "unknown";
}

/* --- the wire --- */

static ssize_t
send_with_fd(int sock, const void *p, size_t n, int fd)
{
	struct iovec iov = { .iov_base = (void *)p, .iov_len = n };
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd != -1) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

/* Returns bytes received, 0 on EOF, -1 on error (errno). */
static ssize_t
recv_with_fd(int sock, uint8_t *p, size_t n, int *fdp, bool *trunc)
{
	struct iovec iov = { .iov_base = p, .iov_len = n };
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cm.buf, .msg_controllen = sizeof(cm.buf),
	};
	ssize_t r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);

	*fdp = -1;
	*trunc = false;
	if (r <= 0)
		return r;
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		*trunc = true;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL;
	    c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			/* More than one descriptor is a protocol violation. */
			if (*fdp == -1)
				*fdp = fd;
			else {
				close(fd);
				*trunc = true;
			}
		}
	}
	return r;
}

static void
reader_init(struct ipc_reader *r, const uint8_t *p, size_t n, int fd, bool trunc)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->p = p;
	r->len = n;
	if (trunc || n < HDR_LEN) {
		r->bad = true;
		return;
	}
	if (ipc_get_u32(r) != IPC_VERSION)
		r->bad = true;
	r->type = ipc_get_u32(r);
	if (r->type == IPC_NONE || r->type >= IPC_TYPE_MAX)
		r->bad = true;
}

int
ipc_send_now(int sock, struct ipc_msg *m)
{
	ssize_t r;

	for (;;) {
		r = send_with_fd(sock, buf_ptr(&m->b), buf_len(&m->b), m->fd);
		if (r >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			struct pollfd pfd = { .fd = sock, .events = POLLOUT };
			poll(&pfd, 1, 1000);
			continue;
		}
		ipc_msg_free(m);
		return -1;
	}
	ipc_msg_free(m);
	return 0;
}

int
ipc_recv_now(int sock, uint8_t *buf, struct ipc_reader *r)
{
	int fd;
	bool trunc;
	ssize_t n;

	do
		n = recv_with_fd(sock, buf, IPC_MAX_MSG, &fd, &trunc);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return -1;
	reader_init(r, buf, (size_t)n, fd, trunc);
	return 0;
}

/* --- channels --- */

struct outmsg {
	struct outmsg *next;
	struct ipc_msg m;
};

struct ipc_chan {
	struct ev_loop *loop;
	struct ev_io    io;
	ipc_handler     handler;
	void           *arg;
	struct outmsg  *head, *tail;
	uint8_t        *rbuf;
	bool            dead;
};

static void chan_io(struct ev_io *io, uint32_t revents);

struct ipc_chan *
ipc_chan_new(struct ev_loop *l, int fd, ipc_handler h, void *arg)
{
	struct ipc_chan *c = xcalloc(1, sizeof(*c));

	c->loop = l;
	c->handler = h;
	c->arg = arg;
	c->rbuf = xmalloc(IPC_MAX_MSG);
	set_nonblock(fd);
	ev_io_init(&c->io, fd, chan_io, c);
	if (ev_io_start(l, &c->io, EPOLLIN) == -1)
		fatal("epoll add ipc channel");
	return c;
}

int
ipc_chan_fd(const struct ipc_chan *c)
{
	return c->io.fd;
}

static void
update_interest(struct ipc_chan *c)
{
	if (c->dead)
		return;
	ev_io_set(c->loop, &c->io, EPOLLIN | (c->head ? EPOLLOUT : 0));
}

/* Returns -1 on a hard error. */
static int
chan_flush_some(struct ipc_chan *c)
{
	while (c->head) {
		struct outmsg *o = c->head;
		ssize_t r = send_with_fd(c->io.fd, buf_ptr(&o->m.b),
		    buf_len(&o->m.b), o->m.fd);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		c->head = o->next;
		if (c->head == NULL)
			c->tail = NULL;
		ipc_msg_free(&o->m);
		free(o);
	}
	return 0;
}

void
ipc_chan_send(struct ipc_chan *c, struct ipc_msg *m)
{
	struct outmsg *o;

	if (c->dead) {
		ipc_msg_free(m);
		return;
	}
	o = xcalloc(1, sizeof(*o));
	o->m = *m;
	m->b.data = NULL;
	m->fd = -1;
	if (c->tail)
		c->tail->next = o;
	else
		c->head = o;
	c->tail = o;
	if (chan_flush_some(c) == -1)
		log_warn("ipc send");
	update_interest(c);
}

void
ipc_chan_flush(struct ipc_chan *c)
{
	for (int i = 0; i < 50 && c->head && !c->dead; i++) {
		struct pollfd pfd = { .fd = c->io.fd, .events = POLLOUT };
		if (chan_flush_some(c) == -1)
			return;
		if (c->head)
			poll(&pfd, 1, 100);
	}
}

static void
chan_dead(struct ipc_chan *c)
{
	c->dead = true;
	ev_io_stop(c->loop, &c->io);
	c->handler(c, NULL, c->arg);
}

static void
chan_io(struct ev_io *io, uint32_t revents)
{
	struct ipc_chan *c = io->arg;

	if (revents & EPOLLOUT) {
		if (chan_flush_some(c) == -1) {
			chan_dead(c);
			return;
		}
		update_interest(c);
	}
	if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	/* Bounded batch so one chatty peer cannot starve the loop. */
	for (int i = 0; i < 32 && !c->dead; i++) {
		struct ipc_reader r;
		int fd;
		bool trunc;
		ssize_t n = recv_with_fd(c->io.fd, c->rbuf, IPC_MAX_MSG, &fd,
		    &trunc);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			chan_dead(c);
			return;
		}
		reader_init(&r, c->rbuf, (size_t)n, fd, trunc);
		c->handler(c, &r, c->arg);
		if (r.fd != -1)
			close(r.fd);
	}
}

void
ipc_chan_free(struct ipc_chan *c)
{
	struct outmsg *o, *next;

	if (c == NULL)
		return;
	ev_io_stop(c->loop, &c->io);
	close(c->io.fd);
	for (o = c->head; o; o = next) {
		next = o->next;
		ipc_msg_free(&o->m);
		free(o);
	}
	free(c->rbuf);
	free(c);
}

void
ipc_chan_free_cb(void *c)
{
	ipc_chan_free(c);
}
