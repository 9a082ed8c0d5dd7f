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
	m->toobig = false;
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

/* A field that does not fit marks the message unsendable rather than
 * ending the process: the sender's ipc_chan_send() then fails that one
 * request (fields are capped where they enter, so this is a bug or an
 * attack, and it costs only the request). */
static void
put(struct ipc_msg *m, const void *p, size_t n)
{
	if (m->toobig)
		return;
	if (buf_add(&m->b, p, n) == -1) {
		m->toobig = true;
		log_warnx("ipc message would exceed %d bytes: not sent",
		    IPC_MAX_MSG);
	}
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
	if (n > IPC_MAX_MSG) {
		if (!m->toobig)
			log_warnx("ipc field of %zu bytes: message not sent", n);
		m->toobig = true;
		return;
	}
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
	ipc_put_u8(m, s->proto);
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
	s->proto = ipc_get_u8(r);
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
		[IPC_MBOX_SHARES_STALE] = "MBOX_SHARES_STALE",
		[IPC_LMTP_RCPT] = "LMTP_RCPT",
		[IPC_LMTP_RCPT_RESULT] = "LMTP_RCPT_RESULT",
		[IPC_LMTP_DELIVER] = "LMTP_DELIVER",
		[IPC_LMTP_DELIVER_RESULT] = "LMTP_DELIVER_RESULT",
		[IPC_SPAWN_CONFIG] = "SPAWN_CONFIG",
		[IPC_SPAWN_CONFIG_RESULT] = "SPAWN_CONFIG_RESULT",
		[IPC_SPAWN_LOGIN] = "SPAWN_LOGIN",
		[IPC_SPAWN_HASH] = "SPAWN_HASH",
		[IPC_SPAWN_MBOX] = "SPAWN_MBOX",
		[IPC_SPAWN_LMTP] = "SPAWN_LMTP",
		[IPC_SPAWN_KEYHOLDER] = "SPAWN_KEYHOLDER",
		[IPC_SPAWN_KEYCHAN] = "SPAWN_KEYCHAN",
		[IPC_SPAWN_TLS] = "SPAWN_TLS",
		[IPC_SPAWN_RESULT] = "SPAWN_RESULT",
		[IPC_KEY_READY] = "KEY_READY",
		[IPC_KEY_CHANNEL] = "KEY_CHANNEL",
		[IPC_KEY_SIGN_HASH] = "KEY_SIGN_HASH",
		[IPC_KEY_SIGN_DATA] = "KEY_SIGN_DATA",
		[IPC_KEY_DECRYPT] = "KEY_DECRYPT",
		[IPC_KEY_RESULT] = "KEY_RESULT",
		[IPC_MBOX_STATE_REQ] = "MBOX_STATE_REQ",
		[IPC_MBOX_URL_OPEN] = "MBOX_URL_OPEN",
		[IPC_MBOX_URL_RESULT] = "MBOX_URL_RESULT",
		[IPC_MBOX_STATE] = "MBOX_STATE",
		[IPC_MBOX_KICK] = "MBOX_KICK",
		[IPC_MBOX_UNAUTH] = "MBOX_UNAUTH",
		[IPC_LOGIN_RESUME] = "LOGIN_RESUME",
		[IPC_SPAWN_RELAY] = "SPAWN_RELAY",
		[IPC_RELAY_CONN] = "RELAY_CONN",
		[IPC_RELAY_PLAIN] = "RELAY_PLAIN",
		[IPC_RELAY_DONE] = "RELAY_DONE",
		[IPC_LOGIN_STARTTLS_REQ] = "LOGIN_STARTTLS_REQ",
		[IPC_LOGIN_TLS_LINK] = "LOGIN_TLS_LINK",
		[IPC_KEY_POOL_CHANNEL] = "KEY_POOL_CHANNEL",
		[IPC_LDAP_CONFIG] = "LDAP_CONFIG",
		[IPC_LDAP_LOOKUP] = "LDAP_LOOKUP",
		[IPC_LDAP_ENTRY] = "LDAP_ENTRY",
		[IPC_LDAP_BIND] = "LDAP_BIND",
		[IPC_LDAP_BIND_RESULT] = "LDAP_BIND_RESULT",
		[IPC_SPAWN_LDAP] = "SPAWN_LDAP",
		[IPC_LOGIN_PROXY] = "LOGIN_PROXY",
		[IPC_LOGIN_HTTP_AUTH] = "LOGIN_HTTP_AUTH",
		[IPC_LOGIN_HTTP_RESULT] = "LOGIN_HTTP_RESULT",
		[IPC_LINK_DIAL] = "LINK_DIAL",
		[IPC_LINK_DIAL_RESULT] = "LINK_DIAL_RESULT",
		[IPC_LINK_GUEST] = "LINK_GUEST",
		[IPC_LINK_GUEST_RESULT] = "LINK_GUEST_RESULT",
		[IPC_LINK_SHARE] = "LINK_SHARE",
		[IPC_SPAWN_CLUSTER_KH] = "SPAWN_CLUSTER_KH",
		[IPC_SPAWN_LINK] = "SPAWN_LINK",
		[IPC_SPAWN_RESTORE] = "SPAWN_RESTORE",
		[IPC_LINK_SETUP] = "LINK_SETUP",
		[IPC_LINK_MOVE_IN] = "LINK_MOVE_IN",
		[IPC_LINK_MOVE_RESULT] = "LINK_MOVE_RESULT",
		[IPC_RESTORE_RESULT] = "RESTORE_RESULT",
		[IPC_LINK_COMMIT] = "LINK_COMMIT",
		[IPC_LMTP_RELAYED] = "LMTP_RELAYED",
		[IPC_RESTORE_SHARE] = "RESTORE_SHARE",
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

/* Returns bytes received, 0 on EOF, -1 on error (errno).  *trunc: the
 * message itself was cut or carried more than one descriptor (malformed);
 * *lost: a descriptor came with it that could not be installed - the
 * kernel sets MSG_CTRUNC when the receiver is at its descriptor limit
 * (EMFILE) and drops the descriptor, but the bytes arrive whole. */
static ssize_t
recv_with_fd(int sock, uint8_t *p, size_t n, int *fdp, bool *trunc,
    bool *lost)
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
	*lost = false;
	if (r <= 0)
		return r;
	if (msg.msg_flags & MSG_TRUNC)
		*trunc = true;
	if (msg.msg_flags & MSG_CTRUNC) {
		/* Not a reason to end anyone: the control buffer holds four
		 * descriptors where one is legal, so a cut here is this
		 * process running out of descriptors (or a peer sending more
		 * than four, which gets the same refusal). */
		log_warnx("ipc: a descriptor could not be received (too many "
		    "open files?)");
		*lost = true;
	}
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
reader_init(struct ipc_reader *r, const uint8_t *p, size_t n, int fd,
    bool trunc, bool lost)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	/* Whatever part of the descriptors arrived is not what was sent. */
	if (lost && fd != -1) {
		close(fd);
		r->fd = -1;
	}
	r->fd_lost = lost;
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

/* Linux refuses a SEQPACKET message above the send buffer (EMSGSIZE).
 * A message within IPC_MAX_MSG must always go: make the buffer hold
 * two of them (the kernel doubles the value and caps it at
 * net.core.wmem_max, by default far above). */
static void
sndbuf_fit(int sock)
{
	int want = IPC_MAX_MSG + 4096, have = 0;
	socklen_t len = sizeof(have);

	if (getsockopt(sock, SOL_SOCKET, SO_SNDBUF, &have, &len) == 0 &&
	    have >= 2 * want)
		return;
	if (setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want)) == -1)
		log_warn("SO_SNDBUF %d", want);
}

/* ipc_send_now() waits at most this long for descriptors in flight to
 * be received (ETOOMANYREFS, see struct ipc_chan) before it fails. */
#define REFS_WAIT_MAX_MS 5000

int
ipc_send_now(int sock, struct ipc_msg *m)
{
	ssize_t r;
	bool grown = false;
	unsigned waited = 0, pause = 2;

	if (m->toobig || buf_len(&m->b) > IPC_MAX_MSG) {
		ipc_msg_free(m);
		errno = EMSGSIZE;
		return -1;
	}
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
		if (errno == EMSGSIZE && !grown) {
			grown = true;
			sndbuf_fit(sock);
			continue;
		}
		if (errno == ETOOMANYREFS && waited < REFS_WAIT_MAX_MS) {
			poll(NULL, 0, (int)pause);
			waited += pause;
			pause = MK_MIN(pause * 2, 200u);
			continue;
		}
		int saved = errno;
		ipc_msg_free(m);
		errno = saved;
		return -1;
	}
	ipc_msg_free(m);
	return 0;
}

int
ipc_recv_now(int sock, uint8_t *buf, struct ipc_reader *r)
{
	int fd;
	bool trunc, lost;
	ssize_t n;

	do
		n = recv_with_fd(sock, buf, IPC_MAX_MSG, &fd, &trunc, &lost);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return -1;
	reader_init(r, buf, (size_t)n, fd, trunc, lost);
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
	size_t          queued;	/* bytes in the queue */
	bool            full_logged;	/* once per episode over the bound */
	uint8_t        *rbuf;
	bool            dead;
	/* ETOOMANYREFS: the sending uid has more descriptors in flight than
	 * its RLIMIT_NOFILE (the kernel counts per uid, so the many login
	 * processes of login_user with their small limits share it).  They
	 * leave flight as soon as the receiver reads, so the send is tried
	 * again after a pause, with no EPOLLOUT interest meanwhile (the
	 * socket is writable: it would spin). */
	struct ev_timer retry;
	unsigned        retry_ms;	/* 0: not waiting */
	void          (*before_send)(void *);
	void           *before_arg;
};

/* The first pause after ETOOMANYREFS, doubled per retry up to the max. */
#define REFS_RETRY_MS     2
#define REFS_RETRY_MAX_MS 200

static void chan_io(struct ev_io *io, uint32_t revents);
static void chan_retry(struct ev_timer *t);
static void chan_dead(struct ipc_chan *c);

struct ipc_chan *
ipc_chan_new(struct ev_loop *l, int fd, ipc_handler h, void *arg)
{
	struct ipc_chan *c = xcalloc(1, sizeof(*c));

	c->loop = l;
	c->handler = h;
	c->arg = arg;
	c->rbuf = xmalloc(IPC_MAX_MSG);
	set_nonblock(fd);
	sndbuf_fit(fd);
	ev_timer_init(&c->retry, chan_retry, c);
	ev_io_init(&c->io, fd, chan_io, c);
	if (ev_io_start(l, &c->io, EPOLLIN) == -1)
		fatal("epoll add ipc channel");
	return c;
}

void
ipc_chan_before_send(struct ipc_chan *c, void (*fn)(void *), void *arg)
{
	c->before_send = fn;
	c->before_arg = arg;
}

size_t
ipc_chan_queued(const struct ipc_chan *c)
{
	return c->queued;
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
	ev_io_set(c->loop, &c->io, EPOLLIN |
	    (c->head && c->retry_ms == 0 ? EPOLLOUT : 0));
}

static uint32_t
ipc_msg_type(const struct ipc_msg *m)
{
	const uint8_t *p = (const uint8_t *)buf_ptr(&m->b);

	if (buf_len(&m->b) < HDR_LEN)
		return IPC_NONE;
	return (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
	    (uint32_t)p[6] << 8 | p[7];
}

static void
chan_pop(struct ipc_chan *c)
{
	struct outmsg *o = c->head;

	c->head = o->next;
	if (c->head == NULL)
		c->tail = NULL;
	c->queued -= buf_len(&o->m.b);
	if (c->queued < IPC_QUEUE_MAX / 2)
		c->full_logged = false;
	ipc_msg_free(&o->m);
	free(o);
}

/* Returns -1 on a hard error: the connection itself is broken.  A
 * message the socket refuses on its own account (EMSGSIZE, ENOBUFS)
 * is dropped and logged; the channel goes on (its size was checked
 * when it was queued, so this is the kernel's limit, not the peer's
 * doing). */
static int
chan_flush_some(struct ipc_chan *c)
{
	bool grown = false;

	while (c->head) {
		struct outmsg *o = c->head;
		ssize_t r = send_with_fd(c->io.fd, buf_ptr(&o->m.b),
		    buf_len(&o->m.b), o->m.fd);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			if (errno == ETOOMANYREFS) {
				if (!ev_timer_armed(&c->retry)) {
					c->retry_ms = c->retry_ms == 0 ?
					    REFS_RETRY_MS : MK_MIN(c->retry_ms * 2,
					    REFS_RETRY_MAX_MS);
					ev_timer_start(c->loop, &c->retry,
					    c->retry_ms);
				}
				return 0;
			}
			if (errno == EMSGSIZE && !grown) {
				grown = true;
				sndbuf_fit(c->io.fd);
				continue;
			}
			if (errno == EMSGSIZE || errno == ENOBUFS) {
				log_warn("ipc send of %zu bytes dropped",
				    buf_len(&o->m.b));
				chan_pop(c);
				continue;
			}
			return -1;
		}
		chan_pop(c);
		c->retry_ms = 0;
	}
	return 0;
}

static void
chan_retry(struct ev_timer *t)
{
	struct ipc_chan *c = t->arg;

	if (c->dead)
		return;
	if (chan_flush_some(c) == -1) {
		chan_dead(c);
		return;
	}
	/* Sent: back to waiting for EPOLLOUT as usual; still refused: the
	 * timer was armed again. */
	if (!ev_timer_armed(&c->retry))
		c->retry_ms = 0;
	update_interest(c);
}

int
ipc_chan_send(struct ipc_chan *c, struct ipc_msg *m)
{
	struct outmsg *o;

	if (c->dead) {
		ipc_msg_free(m);
		errno = EPIPE;
		return -1;
	}
	/* Refused here, before it is queued: the caller learns that this
	 * request failed, and the channel is untouched. */
	if (m->toobig || buf_len(&m->b) > IPC_MAX_MSG) {
		log_warnx("ipc %s message of %zu bytes refused (limit %d)",
		    ipc_type_name(ipc_msg_type(m)), buf_len(&m->b), IPC_MAX_MSG);
		ipc_msg_free(m);
		errno = EMSGSIZE;
		return -1;
	}
	if (c->queued + buf_len(&m->b) > IPC_QUEUE_MAX) {
		if (!c->full_logged)
			log_warnx("ipc %s message refused: %zu bytes wait for a "
			    "peer that does not read", ipc_type_name(
			    ipc_msg_type(m)), c->queued);
		c->full_logged = true;
		ipc_msg_free(m);
		errno = ENOBUFS;
		return -1;
	}
	if (c->before_send != NULL)
		c->before_send(c->before_arg);
	o = xcalloc(1, sizeof(*o));
	o->m = *m;
	c->queued += buf_len(&o->m.b);
	m->b.data = NULL;
	m->fd = -1;
	if (c->tail)
		c->tail->next = o;
	else
		c->head = o;
	c->tail = o;
	/* A peer that has gone away is an ordinary event (a login process
	 * whose client timed out while its verdict was on the way): its
	 * EOF, or EPOLLERR/EPOLLHUP, reaches the handler through the loop;
	 * chan_io() declares it dead there, never inside a sender's call. */
	if (chan_flush_some(c) == -1) {
		if (errno == EPIPE || errno == ECONNRESET)
			log_debug("ipc send: peer gone");
		else
			log_warn("ipc send");
	}
	update_interest(c);
	return 0;
}

void
ipc_chan_flush(struct ipc_chan *c)
{
	/* Bounded as ipc_send_now() is: a login process that gives up
	 * here exits, and its client's connection with it. */
	for (uint64_t start = now_ms(); c->head && !c->dead &&
	    now_ms() - start < REFS_WAIT_MAX_MS;) {
		struct pollfd pfd = { .fd = c->io.fd, .events = POLLOUT };
		if (chan_flush_some(c) == -1)
			return;
		/* Writable, but the descriptors in flight must be read
		 * first: poll() would return at once. */
		if (c->head)
			poll(c->retry_ms ? NULL : &pfd, c->retry_ms ? 0 : 1,
			    c->retry_ms ? 20 : 100);
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
		bool trunc, lost;
		ssize_t n = recv_with_fd(c->io.fd, c->rbuf, IPC_MAX_MSG, &fd,
		    &trunc, &lost);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			chan_dead(c);
			return;
		}
		reader_init(&r, c->rbuf, (size_t)n, fd, trunc, lost);
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
	ev_timer_stop(c->loop, &c->retry);
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
