/*
 * login.c - the login process: one pre-authentication IMAP connection.
 *
 * login_main() is called by the master (daemon/master/children.c) in a
 * freshly forked child that holds only the client socket and its channel
 * to the master, already chrooted and running as login_user when the
 * master is root.  It runs an event loop over three things: the client
 * (through struct login_io, which the TLS layer replaces once the
 * handshake is done), the master channel, and the login_timeout timer.
 *
 * The process never runs TLS: a pool relay (relaypool.c) does.  On a
 * listen_tls connection the master gives the relay the client's socket
 * and this process the plaintext end of a socketpair to it, so it greets
 * at once (the relay sends the greeting after the handshake).  On
 * STARTTLS it answers "OK Begin TLS negotiation", discards every byte
 * already read from the client, so nothing sent in clear is ever
 * executed as if it came over TLS (the STARTTLS command injection of
 * CVE-2011-0411), and sends the client's socket to the master
 * (IPC_LOGIN_STARTTLS_REQ), which passes it to a relay and answers with
 * the plaintext end (IPC_LOGIN_TLS_LINK): from then on that is the
 * client.  After an OK verdict the client's descriptor, whichever it
 * is, is handed off and the process exits.
 *
 * Input goes through the shared framer (common/imap_frame.c) with the
 * pre-authentication limits and then the shared parser; login_cmd.c
 * executes the commands.  While the master is checking credentials the
 * process reads nothing more, so whatever the client pipelined after the
 * authenticating command is still in the input buffer and travels with
 * the hand-off.  Every buffer that held a password is wiped.
 *
 * The process ends with _exit(): it never returns to the master's code,
 * and in its chroot there is nothing (such as /proc) that exit-time
 * handlers could use.
 */
#include "auth/login.h"
#include "auth/tls.h"
#include "common/sandbox.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK   16384
#define OUT_MAX      (256 * 1024)
#define FLUSH_MS     2000
#define DRAIN_MS     1000
#define DRAIN_BYTES  (256 * 1024)
/* Descriptors: client, master, epoll, signalfd, the log, and room for
 * descriptors in flight. */
#define LOGIN_NOFILE 16

static struct login_conn conn;

static void process(struct login_conn *c);
static void pump_input(struct login_conn *c);
static void resume(struct login_conn *c, struct ipc_reader *r);
static void discard_cleartext(struct login_conn *c);

/* ---- client I/O: the socket, or TLS once it is up ---- */

static ssize_t
plain_read(struct login_conn *c, void *p, size_t n)
{
	return recv(c->fd, p, n, 0);
}

static ssize_t
plain_write(struct login_conn *c, const void *p, size_t n)
{
	return send(c->fd, p, n, MSG_NOSIGNAL);
}

/* ---- output ---- */

static bool
reading(const struct login_conn *c)
{
	return c->state == LST_COMMAND || c->state == LST_SASL;
}

static void
update_io(struct login_conn *c)
{
	uint32_t ev = (reading(c) ? EPOLLIN : 0) |
	    (buf_len(&c->out) > 0 ? EPOLLOUT : 0) |
	    (reading(c) && c->read_wants_out ? EPOLLOUT : 0);

	if (c->state == LST_HANDSHAKE)
		ev = 0;	/* the client's socket is on its way to a relay */
	if (c->state == LST_PROXY)
		ev = EPOLLIN;

	if (ev == 0)
		ev_io_stop(c->loop, &c->io);
	else if (ev_io_set(c->loop, &c->io, ev) == -1)
		fatal("epoll");
}

/* Writes what the socket takes now; false if the client is gone. */
static bool
flush_some(struct login_conn *c)
{
	while (buf_len(&c->out) > 0) {
		ssize_t n = c->ops.write(c, buf_ptr(&c->out), buf_len(&c->out));
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		return n == -1 && errno == EAGAIN;
	}
	return true;
}

/* Writes everything (bounded wait): before a hand-off or exit. */
static void
flush_all(struct login_conn *c)
{
	uint64_t deadline = now_ms() + FLUSH_MS;

	while (buf_len(&c->out) > 0 && flush_some(c) && buf_len(&c->out) > 0) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return;
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		poll(&pfd, 1, (int)(deadline - now));
	}
}

/* Closing a socket whose peer's bytes are still unread resets the
 * connection, and the reset may throw the last answer (the BYE) away:
 * the write side is shut after it, and what the client still sends is
 * dropped until it closes too, for DRAIN_MS and DRAIN_BYTES at most (as
 * daemon/mailbox/linger.c does for sessions). */
static void
drain_input(struct login_conn *c)
{
	char scratch[4096];
	size_t got = 0;
	uint64_t deadline = now_ms() + DRAIN_MS;

	if (shutdown(c->fd, SHUT_WR) == -1)
		return;
	while (got < DRAIN_BYTES) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return;
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			return;
		ssize_t n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return;
		got += (size_t)n;
	}
}

void
login_finish(struct login_conn *c)
{
	flush_all(c);
	drain_input(c);
	/* The master learns of the end from the channel's EOF. */
	_exit(0);
}

void
login_reply(struct login_conn *c, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	if (rc == -1 || buf_adds(&c->out, "\r\n") == -1) {
		/* A client that does not read its responses. */
		log_debug("output buffer full; closing");
		_exit(0);
	}
	if (!flush_some(c))
		_exit(0);
	update_io(c);
}

void
login_bye(struct login_conn *c, const char *text)
{
	if (login_is_http(c))
		http_login_error(c, 408, text);
	c->state = LST_CLOSING;
	/* POP3 has no untagged answer: an -ERR is what clients expect. */
	login_reply(c, login_is_pop3(c) ? "-ERR %s" : "* BYE %s", text);
	login_finish(c);
}

/* ---- talking to the master ---- */

bool
login_plaintext_ok(const struct login_conn *c)
{
	return tls_plaintext_allowed(c->cfg->plaintext_auth, c->p.loopback,
	    c->secure || c->p.relayed);
}

void
login_send_auth(struct login_conn *c, uint8_t mech, const char *authzid,
    const char *authcid, const char *secret, size_t nsecret)
{
	struct ipc_msg m;

	/* Bounded here, where they enter: no user name is longer than
	 * IPC_IDENT_MAX, and a password of more than IPC_SECRET_MAX bytes
	 * is nobody's.  The message stays far below IPC_MAX_MSG whatever
	 * max_preauth_line allows. */
	if (strlen(authzid) > IPC_IDENT_MAX || strlen(authcid) > IPC_IDENT_MAX ||
	    nsecret > IPC_SECRET_MAX) {
		c->attempts++;
		if (login_is_pop3(c))
			pop3_login_refused(c);
		else
			login_reply(c, "%s NO [AUTHENTICATIONFAILED] "
			    "Authentication failed.", c->tag);
		return;
	}
	ipc_msg_init(&m, IPC_LOGIN_AUTH);
	ipc_put_u8(&m, mech);
	ipc_put_str(&m, authzid);
	ipc_put_str(&m, authcid);
	ipc_put_bytes(&m, secret, nsecret);
	/* The message is wiped by ipc_msg_free() once it is sent. */
	ipc_chan_send(c->master, &m);
	c->mech = mech;
	c->attempts++;
	c->state = LST_WAIT;
	update_io(c);
}

/* The verdict was OK: the connection, the tag and the unread input go
 * to the master, which passes them to the user's mailbox process.  Over
 * TLS the connection is the plaintext end of the relay's socketpair. */
__attribute__((noreturn))
static void
handoff(struct login_conn *c)
{
	struct ipc_msg m;
	size_t npending = MK_MIN(buf_len(&c->in), (size_t)IPC_MAX_PENDING);

	flush_all(c);
	ipc_msg_init(&m, IPC_LOGIN_HANDOFF);
	ipc_put_str(&m, c->tag);
	ipc_put_bytes(&m, buf_ptr(&c->in), npending);
	ipc_put_u32(&m, c->secure || c->p.relayed ? IPC_SESS_TLS : 0);
	ipc_put_u32(&m, 0);
	ipc_put_fd(&m, c->fd);	/* closed here once sent */
	ipc_chan_send(c->master, &m);
	ipc_chan_flush(c->master);
	_exit(0);
}

static void tls_linked(struct login_conn *c, struct ipc_reader *r);

static void
master_msg(struct ipc_chan *ch, struct ipc_reader *r, void *arg)
{
	struct login_conn *c = arg;
	uint8_t result;
	const char *text;

	(void)ch;
	if (r == NULL)
		login_bye(c, "Server shutting down");
	if (!r->bad && r->type == IPC_LOGIN_RESUME && c->p.resumed &&
	    c->state == LST_WAIT && c->attempts == 0) {
		resume(c, r);
		return;
	}
	if (r->type == IPC_LOGIN_TLS_LINK && c->state == LST_HANDSHAKE) {
		tls_linked(c, r);
		return;
	}
	if (r->type == IPC_LOGIN_HTTP_RESULT && login_is_http(c) &&
	    c->state == LST_WAIT)
		http_login_verdict(c, r);
	/* The master is the more privileged side: nonsense from it is a
	 * broken invariant, not an attack to survive. */
	if (r->bad || r->type != IPC_LOGIN_AUTH_RESULT || c->state != LST_WAIT)
		fatalx("unexpected %s from the master", ipc_type_name(r->type));
	result = ipc_get_u8(r);
	text = ipc_get_str(r);
	if (!ipc_end(r))
		fatalx("malformed LOGIN_AUTH_RESULT");
	if (result == IPC_AUTH_OK)
		handoff(c);
	c->state = LST_COMMAND;
	if (login_is_pop3(c))
		pop3_login_verdict(c, result, text);
	else
		login_verdict_received(c, result, text);
	/* Commands pipelined behind the failed one are already buffered. */
	pump_input(c);
	update_io(c);
}

/* ---- input ---- */

/* Wipes the bytes of the input buffer that are no longer live: they may
 * have held a password. */
static void
wipe_dead_input(struct buf *b)
{
	if (b->data == NULL)
		return;
	explicit_bzero(b->data, b->off);
	explicit_bzero(b->data + b->off + b->len, b->cap - b->off - b->len);
}

static void
count_command(struct login_conn *c)
{
	if (++c->ncommands > LOGIN_MAX_COMMANDS)
		login_bye(c, "Too many commands before authentication");
}

static void
run_command(struct login_conn *c)
{
	struct imap_cmd cmd;
	const char *err = NULL;
	size_t len;
	const char *data = imap_frame_data(&c->fr, &len);
	int rc = imap_parse(&c->arena, data, len, &cmd, &err);

	login_command(c, &cmd, rc, err);
	explicit_bzero((void *)(uintptr_t)data, len);
	imap_frame_done(&c->fr);
	/* The parsed command may hold a password, even after a parse error. */
	arena_reset_wipe(&c->arena);
}

static void
run_sasl_line(struct login_conn *c)
{
	size_t len;
	const char *data = imap_frame_data(&c->fr, &len);

	c->state = LST_COMMAND;
	login_sasl_line(c, data, len);
	explicit_bzero((void *)(uintptr_t)data, len);
	imap_frame_done(&c->fr);
}

/* One POP3 line: a command, or an AUTH response (LST_SASL). */
static void
run_pop3_line(struct login_conn *c)
{
	size_t len;
	const char *data = imap_frame_data(&c->fr, &len);

	if (c->state == LST_COMMAND)
		count_command(c);
	pop3_login_line(c, data, len);
	explicit_bzero((void *)(uintptr_t)data, len);
	imap_frame_done(&c->fr);
	arena_reset_wipe(&c->arena);
}

/* POP3 has no literals: every command and response is one line. */
static void
process_pop3(struct login_conn *c)
{
	while (reading(c)) {
		switch (imap_frame_line(&c->fr, &c->in)) {
		case FRAME_MORE:
			return;
		case FRAME_BAD:
			count_command(c);
			c->state = LST_COMMAND;
			login_reply(c, "-ERR %s", c->fr.err_text);
			break;
		case FRAME_LITERAL_WAIT:
		case FRAME_FATAL:
			login_bye(c, c->fr.err_text);
		case FRAME_COMMAND:
			run_pop3_line(c);
			wipe_dead_input(&c->in);
			if (c->state == LST_HANDSHAKE)
				discard_cleartext(c);
			break;
		}
	}
}

/* Runs every complete command in the input, until one needs to wait. */
static void
process(struct login_conn *c)
{
	if (login_is_http(c)) {
		http_login_process(c);
		return;
	}
	if (login_is_pop3(c)) {
		process_pop3(c);
		return;
	}
	while (reading(c)) {
		enum frame_result r = c->state == LST_SASL ?
		    imap_frame_line(&c->fr, &c->in) : imap_frame(&c->fr, &c->in);

		switch (r) {
		case FRAME_MORE:
			return;
		case FRAME_LITERAL_WAIT:
			imap_frame_accept(&c->fr);
			login_reply(c, "+ Ready for literal data");
			break;
		case FRAME_BAD:
			count_command(c);
			if (c->state == LST_SASL) {
				c->state = LST_COMMAND;
				login_reply(c, "%s BAD AUTHENTICATE response: %s",
				    c->tag, c->fr.err_text);
			} else
				login_reply(c, "%s %s %s", c->fr.err_tag,
				    c->fr.err_resp, c->fr.err_text);
			break;
		case FRAME_FATAL:
			login_bye(c, c->fr.err_text);
		case FRAME_COMMAND:
			if (c->state == LST_SASL)
				run_sasl_line(c);
			else {
				count_command(c);
				run_command(c);
			}
			wipe_dead_input(&c->in);
			if (c->state == LST_HANDSHAKE)
				discard_cleartext(c);
			break;
		}
	}
}

/* Reads what is there; returns how many bytes. */
static size_t
read_client(struct login_conn *c)
{
	size_t got = 0;

	for (;;) {
		size_t avail;
		char *p = buf_tail(&c->in, READ_CHUNK, &avail);
		if (p == NULL || avail == 0)
			return got;	/* full: process() drains it first */
		ssize_t n = c->ops.read(c, p, avail);
		if (n > 0) {
			buf_commit(&c->in, (size_t)n);
			got += (size_t)n;
			/* A short socket read took all there was. */
			if ((size_t)n < avail)
				return got;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return got;
		/* EOF or a reset: nothing to say to anyone. */
		_exit(0);
	}
}

/* Reads and runs commands until one has to wait or the input is dry,
 * including input the TLS layer decrypted but nobody asked for yet. */
static void
pump_input(struct login_conn *c)
{
	while (reading(c)) {
		size_t got = read_client(c);
		process(c);
		if (got == 0 || c->ops.pending == NULL || c->ops.pending(c) == 0)
			return;
	}
}

/* ---- TLS ---- */

static void
greet(struct login_conn *c)
{
	if (login_is_http(c))
		return;	/* the client speaks first */
	if (login_is_pop3(c)) {
		pop3_login_greet(c);
		return;
	}
	login_reply(c, "* OK [CAPABILITY %s] %s Mailkeep ready.",
	    login_capabilities(c), c->cfg->hostname);
}

/* After UNAUTHENTICATE (RFC 8437): the tagged OK was the mailbox
 * process's, so no greeting; what the client pipelined after the
 * command comes from the master (IPC_LOGIN_RESUME) and is read first.
 * Until then nothing is read (LST_WAIT). */
static void
resume(struct login_conn *c, struct ipc_reader *r)
{
	size_t n;
	const uint8_t *p = ipc_get_bytes(r, &n);

	if (!ipc_end(r) || n > IPC_MAX_PENDING)
		fatalx("malformed LOGIN_RESUME");
	c->state = LST_COMMAND;
	if (n > 0 && buf_add(&c->in, p, n) == -1)
		_exit(0);
	/* A pipelined LOGIN's password: only c->in keeps it (and wipes
	 * it as the command is done), not the channel's buffer. */
	explicit_bzero((void *)(uintptr_t)r->p, r->len);
	pump_input(c);
	update_io(c);
}

/* The master's answer to IPC_LOGIN_STARTTLS_REQ: the plaintext end of
 * the relay's socketpair, which is the client from now on. */
static void
tls_linked(struct login_conn *c, struct ipc_reader *r)
{
	uint8_t ok = ipc_get_u8(r);

	if (r->bad || !ipc_end(r) || (ok != 0) != (r->fd != -1))
		fatalx("malformed LOGIN_TLS_LINK");
	/* No relay: the socket is gone with our request; nobody to tell. */
	if (!ok)
		_exit(0);
	c->fd = ipc_take_fd(r);
	if (set_nonblock(c->fd) == -1)
		fatal("relay socket");
	ev_io_init(&c->io, c->fd, c->io.cb, c);
	c->secure = true;
	c->state = LST_COMMAND;
	/* RFC 3501 6.2.1: no greeting after STARTTLS; the client asks for
	 * CAPABILITY again.  Implicit TLS behind a proxy greets now, as a
	 * relay's connection does at once. */
	if (c->greet_on_link) {
		c->greet_on_link = false;
		greet(c);
	}
	update_io(c);
}

/* ---- a trusted proxy's PROXY header ---- */

/* The header is whole: the master learns the client (and, on implicit
 * TLS, gets the socket for a relay); then the connection starts. */
static void
proxy_done(struct login_conn *c, const struct proxy_addr *a)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LOGIN_PROXY);
	ipc_put_u8(&m, a->family == AF_INET ? 4 : a->family == AF_INET6 ? 6 : 0);
	ipc_put_str(&m, a->addr);
	ipc_put_u32(&m, a->port);
	if (c->p.implicit_tls) {
		c->state = LST_HANDSHAKE;
		c->greet_on_link = true;
		update_io(c);
		ipc_put_fd(&m, c->fd);	/* closed here once sent */
		c->fd = -1;
		ipc_chan_send(c->master, &m);
		return;
	}
	ipc_chan_send(c->master, &m);
	c->state = LST_COMMAND;
	greet(c);
	update_io(c);
}

/* Reads exactly what proxy_parse() asks for, so that no byte after the
 * header (a TLS ClientHello, a pipelined command) is taken. */
static void
proxy_read(struct login_conn *c)
{
	struct proxy_addr a;
	const char *why;

	for (;;) {
		ssize_t n = recv(c->fd, c->phdr + c->phave, c->pneed, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0)
			_exit(0);
		c->phave += (size_t)n;
		c->pneed -= (size_t)n;
		if (c->pneed > 0)
			continue;
		enum proxy_result res = proxy_parse(c->phdr, c->phave, &a,
		    &c->pneed, &why);
		if (res == PROXY_DONE) {
			proxy_done(c, &a);
			return;
		}
		if (res == PROXY_MORE && c->phave + c->pneed <= sizeof(c->phdr))
			continue;
		/* The specification: drop the connection, say nothing (the
		 * proxy is not a client to answer).  PROXY_MORE beyond the
		 * buffer cannot happen: proxy_parse() bounds the header. */
		log_warnx("trusted proxy sent a bad PROXY header: %s",
		    res == PROXY_BAD ? why : "too long");
		_exit(0);
	}
}

void
login_starttls(struct login_conn *c, const char *tag)
{
	if (c->p.tls == NULL) {
		if (login_is_pop3(c))
			login_reply(c, "-ERR [SYS/TEMP] TLS is not available now");
		else
			login_reply(c, "%s NO [UNAVAILABLE] TLS is not available "
			    "now", tag);
		return;
	}
	if (login_is_pop3(c))
		login_reply(c, "+OK Begin TLS negotiation now");
	else
		login_reply(c, "%s OK Begin TLS negotiation now", tag);
	/* process() calls discard_cleartext() once the command is done,
	 * and that sends the socket on. */
	c->state = LST_HANDSHAKE;
}

/* Everything the client sent in clear after STARTTLS is dropped: it is
 * not part of the TLS session, and running it as if it were is the
 * command injection of CVE-2011-0411. */
static void
discard_cleartext(struct login_conn *c)
{
	struct imap_frame_limits lim = c->fr.lim;

	flush_all(c);
	if (buf_len(&c->out) > 0)
		_exit(0);	/* the OK must precede the first TLS byte */
	if (c->in.data != NULL)
		explicit_bzero(c->in.data, c->in.cap);
	buf_reset(&c->in);
	imap_framer_free(&c->fr);
	imap_framer_init(&c->fr, &lim);
	update_io(c);
	/* The socket goes to a relay through the master; the handshake's
	 * bytes, and anything the client sent in clear after STARTTLS that
	 * we had not read, are the relay's to read (and fail on). */
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_LOGIN_STARTTLS_REQ);
	ipc_put_fd(&m, c->fd);	/* closed here once sent */
	ipc_chan_send(c->master, &m);
	c->fd = -1;
}

/* ---- events ---- */

static void
client_io(struct ev_io *io, uint32_t revents)
{
	struct login_conn *c = io->arg;

	if (c->state == LST_PROXY) {
		proxy_read(c);
		if (c->state == LST_HANDSHAKE)
			return;	/* the socket went to the master */
		update_io(c);
		return;
	}
	if ((revents & EPOLLOUT) && !flush_some(c))
		_exit(0);
	if (reading(c) && ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) ||
	    (c->read_wants_out && (revents & EPOLLOUT))))
		pump_input(c);
	update_io(c);
}

static void
timeout_cb(struct ev_timer *t)
{
	struct login_conn *c = t->arg;

	/* Mid-handshake there is no channel to say BYE on; a proxy that
	 * sent no header is no client to answer. */
	if (c->state == LST_HANDSHAKE || c->state == LST_PROXY)
		_exit(0);
	login_bye(c, "Autologout; authentication took too long");
}

void
login_main(const struct mk_config *cfg, int client_fd, int master_fd,
    const struct login_params *p)
{
	struct login_conn *c = &conn;
	struct imap_frame_limits lim = {
		.max_line = cfg->max_preauth_line,
		.max_literal = cfg->max_preauth_line,
		.max_append = cfg->max_preauth_line,
		.max_command = 2 * cfg->max_preauth_line,
		.literal_plus = true,
	};

	c->cfg = cfg;
	c->p = *p;
	c->fd = client_fd;
	c->ops.read = plain_read;
	c->ops.write = plain_write;
	c->secure = p->implicit_tls && !p->proxy;
	c->loop = ev_loop_new();
	c->state = LST_COMMAND;
	buf_init(&c->in, IPC_MAX_PENDING);
	buf_init(&c->out, OUT_MAX);
	imap_framer_init(&c->fr, &lim);
	arena_init(&c->arena, 4 * cfg->max_preauth_line + 65536);
	if (set_nonblock(client_fd) == -1)
		fatal("client socket");
	c->master = ipc_chan_new(c->loop, master_fd, master_msg, c);
	ev_io_init(&c->io, client_fd, client_io, c);
	ev_timer_init(&c->timeout, timeout_cb, c);
	ev_timer_start(c->loop, &c->timeout, (uint64_t)cfg->login_timeout * 1000);
	/* Everything this process will ever open is open: from here on it
	 * is confined to the calls of the login and relay code. */
	sandbox_apply(SANDBOX_LOGIN, LOGIN_NOFILE);
	/* Over implicit TLS the relay sends the greeting after the
	 * handshake; after UNAUTHENTICATE there is none. */
	if (p->resumed)
		c->state = LST_WAIT;
	else if (p->proxy) {
		c->state = LST_PROXY;
		const char *why;
		(void)proxy_parse(c->phdr, 0, NULL, &c->pneed, &why);
		update_io(c);
	} else {
		greet(c);
		update_io(c);	/* an auth_http client speaks first */
	}
	if (ev_loop_run(c->loop) == -1)
		fatalx("event loop failed");
	_exit(0);
}
