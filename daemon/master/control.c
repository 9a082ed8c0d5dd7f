/*
 * control.c - live administration of the running master: the control
 * socket (mailkeepctl who, kick, reload, stats) and the optional
 * Prometheus metrics port.
 *
 * The control socket is data_dir/control, a unix stream socket created
 * 0600 by root in a directory only root can change; on top of the mode,
 * every connection's peer credentials (SO_PEERCRED) must be root's (or,
 * for a development instance, the master's own uid), else it is refused
 * and logged.  One request line ("who", "stats", "reload", "shares",
 * "kick USER"), one answer: "OK" or "ERR reason" then text, and the master
 * closes the connection.
 *
 * The metrics port (metrics_listen, loopback only, off by default)
 * answers "GET /metrics" with the Prometheus text format, HTTP/1.0, one
 * request per connection.
 *
 * Neither may block the master's event loop: sockets are non-blocking,
 * requests are bounded (CTL_REQ_MAX, HTTP_REQ_MAX: longer is refused),
 * answers are written as the peer reads them, at most CTL_CONNS
 * connections are served at once, and each has CTL_TIMEOUT_MS to
 * finish or is dropped.  who, stats and the metrics wait (asynchronously)
 * for a state poll of the mailbox processes (stats.c); the text is made
 * by report.c.
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_CONNS      16
#define CTL_REQ_MAX    512
#define HTTP_REQ_MAX   4096
#define CTL_OUT_MAX    (32 * 1024 * 1024)
#define CTL_TIMEOUT_MS 10000
#define KICK_TEXT      "Disconnected by the administrator"

enum conn_kind { CONN_CONTROL, CONN_METRICS };
enum conn_want { WANT_WHO, WANT_STATS, WANT_METRICS };

struct conn {
	enum conn_kind     kind;
	enum conn_want     want;
	int                fd;
	struct ev_io       io;
	struct ev_timer    timer;
	char               in[HTTP_REQ_MAX + 1];
	size_t             nin;
	struct buf         out;
	bool               answered;	/* out holds the whole answer */
	bool               draining;	/* answer sent: reading to the end */
	struct state_poll *poll;
	struct conn       *next;
};

struct lsock {
	int          fd;
	struct ev_io io;
};

static struct lsock ctl_l = { .fd = -1 }, met_l = { .fd = -1 };
static char ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct conn *conns;
static unsigned nconns;

/* ---- connections ---- */

static void
conn_free(void *arg)
{
	struct conn *c = arg;

	buf_free(&c->out);
	free(c);
}

static void
conn_close(struct conn *c)
{
	ev_io_stop(master.loop, &c->io);
	ev_timer_stop(master.loop, &c->timer);
	/* At once: a poll still running must not call back into a closed
	 * connection (nothing of a finished one is used after its call). */
	state_poll_free(c->poll);
	c->poll = NULL;
	close(c->fd);
	for (struct conn **pp = &conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	nconns--;
	/* An event of this turn of the loop may still name it. */
	ev_defer(master.loop, conn_free, c);
}

/* The answer is out: the peer sees our end, and whatever it still
 * sends is read and dropped until it closes (or the time is up).
 * Closing with unread input would reset the connection, and the peer
 * could lose the answer (a request that was too large, say). */
static void
conn_drain(struct conn *c)
{
	char junk[4096];
	ssize_t n;

	if (!c->draining) {
		c->draining = true;
		(void)shutdown(c->fd, SHUT_WR);
		if (ev_io_set(master.loop, &c->io, EPOLLIN) == -1) {
			conn_close(c);
			return;
		}
	}
	while ((n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		conn_close(c);
}

/* Writes what the peer takes; then drains. */
static void
conn_write(struct conn *c)
{
	while (buf_len(&c->out) > 0) {
		ssize_t n = send(c->fd, buf_ptr(&c->out), buf_len(&c->out),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_set(master.loop, &c->io, EPOLLOUT);
			return;
		}
		if (n <= 0) {
			conn_close(c);
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
	conn_drain(c);
}

static void
answer(struct conn *c)
{
	c->answered = true;
	conn_write(c);
}

static void
http_answer(struct conn *c, const char *status, const char *body,
    size_t len)
{
	buf_printf(&c->out, "HTTP/1.0 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", status,
	    strncmp(status, "200", 3) == 0 ?
	    "text/plain; version=0.0.4; charset=utf-8" : "text/plain", len);
	buf_add(&c->out, body, len);
	answer(c);
}

static void
poll_done(struct state_poll *p, void *arg)
{
	struct conn *c = arg;
	struct buf body;

	switch (c->want) {
	case WANT_WHO:
		buf_adds(&c->out, "OK\n");
		report_who(&c->out, p);
		break;
	case WANT_STATS:
		buf_adds(&c->out, "OK\n");
		report_stats(&c->out, p);
		break;
	case WANT_METRICS:
		buf_init(&body, CTL_OUT_MAX);
		report_metrics(&body, p);
		http_answer(c, "200 OK", buf_ptr(&body), buf_len(&body));
		buf_free(&body);
		return;
	}
	answer(c);
}

static void
wait_for_poll(struct conn *c, enum conn_want want)
{
	c->want = want;
	ev_io_stop(master.loop, &c->io);
	c->poll = state_poll_start(poll_done, c);
}

/* ---- the control commands ---- */

static void
ctl_kick(struct conn *c, const char *arg)
{
	char name[MK_USER_MAX];
	const char *why;

	if (arg == NULL || !dir_name_canon(arg, name, sizeof(name), &why)) {
		buf_printf(&c->out, "ERR kick needs a user name\n");
		return;
	}
	unsigned n = sessions_kick(name, KICK_TEXT);
	log_info("control: kick %s: %u session%s ended", name, n,
	    n == 1 ? "" : "s");
	buf_printf(&c->out, "OK %u session%s of %s ended\n", n,
	    n == 1 ? "" : "s", name);
}

static void
ctl_reload(struct conn *c)
{
	char err[512];

	log_info("control: reload");
	if (master_reload(err, sizeof(err)) == 0)
		buf_printf(&c->out, "OK configuration reloaded from %s\n",
		    master.cfg.path);
	else
		buf_printf(&c->out, "ERR reload failed, the running "
		    "configuration stays: %s\n", err);
}

/* "freeze USER SECONDS", "thaw USER", "frozen USER": the steps of
 * mailkeepctl move (freeze.c, doc/move.md).  frozen answers how many
 * sessions the user's process still serves: the copy waits for 0. */
static void
ctl_freeze(struct conn *c, const char *verb, char *arg)
{
	char name[MK_USER_MAX], *secs = arg ? strchr(arg, ' ') : NULL;
	const char *why;
	struct dir_user u;
	uint64_t n = 0;
	unsigned kicked;
	bool is_freeze = strcmp(verb, "freeze") == 0;

	if (secs != NULL)
		*secs++ = '\0';
	if (arg == NULL || !dir_name_canon(arg, name, sizeof(name), &why) ||
	    (is_freeze && (secs == NULL || !parse_u64(secs, 3600, &n) ||
	    n == 0)) || (!is_freeze && secs != NULL)) {
		buf_printf(&c->out, "ERR usage: freeze USER SECONDS (1-3600), "
		    "thaw USER, frozen USER\n");
		return;
	}
	if (strcmp(verb, "thaw") == 0) {
		thaw_user(name);
		buf_printf(&c->out, "OK %s thawed\n", name);
		return;
	}
	if (is_freeze) {
		if (freeze_user(name, (unsigned)n, &kicked) == -1)
			buf_printf(&c->out, "ERR too many users frozen at "
			    "once\n");
		else
			buf_printf(&c->out, "OK %s frozen, %u session%s "
			    "ended\n", name, kicked, kicked == 1 ? "" : "s");
		return;
	}
	struct mbox *mb = dir_user_get(master.dir, name, &u) == 0 ?
	    mbox_running(u.id) : NULL;
	dir_user_forget_hash(&u);
	buf_printf(&c->out, "OK %s %s sessions %u\n", name,
	    freeze_active(name) ? "frozen" : "thawed",
	    mb != NULL ? mbox_nsess(mb) : 0);
}

static void
ctl_request(struct conn *c, char *line)
{
	char *arg = strchr(line, ' ');

	if (arg != NULL)
		*arg++ = '\0';
	if (strcmp(line, "who") == 0 && arg == NULL) {
		wait_for_poll(c, WANT_WHO);
		return;
	}
	if (strcmp(line, "stats") == 0 && arg == NULL) {
		wait_for_poll(c, WANT_STATS);
		return;
	}
	if (strcmp(line, "kick") == 0)
		ctl_kick(c, arg);
	else if (strcmp(line, "reload") == 0 && arg == NULL)
		ctl_reload(c);
	else if (strcmp(line, "shares") == 0 && arg == NULL) {
		/* mailkeepctl changed the share index or its users: the
		 * processes' kept lists go now, not at the next look. */
		shares_stale(NULL);
		buf_printf(&c->out, "OK share lists dropped\n");
	}
	else if (strcmp(line, "freeze") == 0 || strcmp(line, "thaw") == 0 ||
	    strcmp(line, "frozen") == 0)
		ctl_freeze(c, line, arg);
	else
		buf_printf(&c->out, "ERR unknown request (who, stats, reload, "
		    "shares, kick USER, freeze USER SECONDS, thaw USER, "
		    "frozen USER)\n");
	answer(c);
}

/* ---- the metrics requests ---- */

static void
http_request(struct conn *c, char *req)
{
	static const char notfound[] = "Only /metrics is served here.\n";
	static const char badmeth[] = "Only GET is served here.\n";
	char *eol = strpbrk(req, "\r\n");

	if (eol != NULL)
		*eol = '\0';
	if (strncmp(req, "GET ", 4) != 0) {
		http_answer(c, "405 Method Not Allowed", badmeth,
		    sizeof(badmeth) - 1);
		return;
	}
	if (strcmp(req, "GET /metrics HTTP/1.0") == 0 ||
	    strcmp(req, "GET /metrics HTTP/1.1") == 0) {
		wait_for_poll(c, WANT_METRICS);
		return;
	}
	http_answer(c, "404 Not Found", notfound, sizeof(notfound) - 1);
}

/* ---- reading ---- */

/* The whole request, once it is in: a control line ends with a newline,
 * an HTTP request with an empty line. */
static char *
request_end(struct conn *c)
{
	c->in[c->nin] = '\0';
	if (c->kind == CONN_CONTROL) {
		char *nl = memchr(c->in, '\n', c->nin);
		if (nl != NULL && nl > c->in && nl[-1] == '\r')
			nl[-1] = '\0';
		return nl;
	}
	char *e = strstr(c->in, "\r\n\r\n");
	return e != NULL ? e : strstr(c->in, "\n\n");
}

static void
too_long(struct conn *c)
{
	static const char big[] = "Request too large.\n";

	if (c->kind == CONN_CONTROL) {
		buf_adds(&c->out, "ERR request too long\n");
		answer(c);
	} else
		http_answer(c, "431 Request Header Fields Too Large", big,
		    sizeof(big) - 1);
}

static void
conn_read(struct conn *c)
{
	size_t max = c->kind == CONN_CONTROL ? CTL_REQ_MAX : HTTP_REQ_MAX;
	ssize_t n;
	char *end;

	n = recv(c->fd, c->in + c->nin, max - c->nin, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->nin += (size_t)n;
	if ((end = request_end(c)) != NULL) {
		*end = '\0';
		ev_io_stop(master.loop, &c->io);
		if (c->kind == CONN_CONTROL)
			ctl_request(c, c->in);
		else
			http_request(c, c->in);
	} else if (c->nin >= max)
		too_long(c);
}

static void
conn_io(struct ev_io *io, uint32_t revents)
{
	struct conn *c = io->arg;

	if (c->draining)
		conn_drain(c);
	else if (c->answered && (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		conn_write(c);
	else if (!c->answered)
		conn_read(c);
}

static void
conn_timeout(struct ev_timer *t)
{
	struct conn *c = t->arg;

	log_warnx("%s: a client took longer than %d s: dropped",
	    c->kind == CONN_CONTROL ? "control socket" : "metrics",
	    CTL_TIMEOUT_MS / 1000);
	conn_close(c);
}

/* ---- accepting ---- */

/* Root's (or, in a development instance, the master's own uid). */
static bool
peer_allowed(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1) {
		log_warn("control socket: SO_PEERCRED");
		return false;
	}
	if (cr.uid == 0 || cr.uid == geteuid())
		return true;
	log_warnx("control socket: refused a connection from uid %u "
	    "(pid %ld): only root may administer", (unsigned)cr.uid,
	    (long)cr.pid);
	return false;
}

static void
conn_new(int fd, enum conn_kind kind)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->kind = kind;
	c->fd = fd;
	buf_init(&c->out, CTL_OUT_MAX);
	ev_io_init(&c->io, fd, conn_io, c);
	ev_timer_init(&c->timer, conn_timeout, c);
	c->next = conns;
	conns = c;
	nconns++;
	ev_timer_start(master.loop, &c->timer, CTL_TIMEOUT_MS);
	if (ev_io_start(master.loop, &c->io, EPOLLIN) == -1)
		conn_close(c);
}

static void
accept_cb(struct ev_io *io, uint32_t revents)
{
	enum conn_kind kind = io == &ctl_l.io ? CONN_CONTROL : CONN_METRICS;
	int fd;

	(void)revents;
	for (int i = 0; i < 16; i++) {
		fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("control accept");
			return;
		}
		if (nconns >= CTL_CONNS) {
			log_warnx("%s: %d connections already: refused",
			    kind == CONN_CONTROL ? "control socket" : "metrics",
			    CTL_CONNS);
			close(fd);
		} else if (kind == CONN_CONTROL && !peer_allowed(fd)) {
			static const char no[] = "ERR permission denied\n";
			(void)!send(fd, no, sizeof(no) - 1,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
		} else
			conn_new(fd, kind);
	}
}

/* ---- the sockets ---- */

static int
open_control(const struct mk_config *cfg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd;

	if (config_path(cfg, ctl_path, sizeof(ctl_path), "control") == -1)
		fatalx("data_dir too long for the control socket's path");
	mk_strlcpy(sun.sun_path, ctl_path, sizeof(sun.sun_path));
	if (lstat(ctl_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			fatalx("%s exists and is not a socket", ctl_path);
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe != -1 && connect(probe, (struct sockaddr *)&sun,
		    sizeof(sun)) == 0)
			fatalx("%s: another server is listening there", ctl_path);
		if (probe != -1)
			close(probe);
		if (unlink(ctl_path) == -1)
			fatal("unlink %s", ctl_path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		fatal("socket");
	/* Born 0600: no one else ever had a moment to connect. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", ctl_path);
	umask(old);
	if (listen(fd, 16) == -1)
		fatal("listen %s", ctl_path);
	return fd;
}

void
control_open(const struct mk_config *cfg)
{
	const struct mk_listen *ml = &cfg->metrics_listen;

	/* data_dir is root's and writable by root alone (master.c checked
	 * it at start): the socket's name cannot be redirected. */
	ctl_l.fd = open_control(cfg);
	if (ml->port != 0 && (met_l.fd = net_listen(
	    (const struct sockaddr *)&ml->ss, ml->sslen)) == -1)
		fatal("metrics_listen %s port %u", ml->addr, ml->port);
}

static void
lsock_start(struct lsock *l, const char *what)
{
	if (l->fd == -1)
		return;
	ev_io_init(&l->io, l->fd, accept_cb, l);
	if (ev_io_start(master.loop, &l->io, EPOLLIN) == -1)
		fatal("epoll add %s", what);
}

void
control_start(void)
{
	lsock_start(&ctl_l, "control socket");
	lsock_start(&met_l, "metrics");
	log_info("control socket %s", ctl_path);
	if (met_l.fd != -1)
		log_info("metrics on %s port %u", master.cfg.metrics_listen.addr,
		    master.cfg.metrics_listen.port);
}

void
control_stop(void)
{
	struct lsock *ls[] = { &ctl_l, &met_l };

	for (size_t i = 0; i < nitems(ls); i++) {
		if (ls[i]->fd == -1)
			continue;
		ev_io_stop(master.loop, &ls[i]->io);
		close(ls[i]->fd);
		ls[i]->fd = -1;
	}
	if (ctl_path[0] != '\0')
		(void)unlink(ctl_path);
	while (conns != NULL)
		conn_close(conns);
}
