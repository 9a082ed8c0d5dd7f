/*
 * client.c - one connection in the mailbox process: reading and framing
 * input, running one command at a time, writing output without ever
 * blocking the process, timers, and tear-down.
 *
 * Ordering rule: a command's untagged data is written as it runs; its
 * tagged status is kept aside (c->tagged) so that the untagged updates
 * about other sessions' changes (view_sync) go out before it, as RFC 3501
 * 7 requires of a server telling a client about changes.
 *
 * COMPRESS (RFC 4978): c->in and c->out stay plaintext, so commands
 * never know; once active, the session's zstream sits between them and
 * the socket.  Over TLS the socket is the relay's socketpair, so the
 * relay encrypts what was compressed here, as RFC 4978 orders.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/net.h"
#include "common/pop3.h"
#include "common/util.h"
#include "common/zstream.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_CHUNK  16384
#define OUT_LOW   (64 * 1024)

/* APPEND literals of this size, or beyond this much buffered command,
 * are spooled to a file instead of memory (imap_frame.h). */
#define SPOOL_MIN      (64 * 1024)
#define SPOOL_CMD_MAX  (1024 * 1024)
/* After a command that used more than this (arena, output buffer, a
 * spooled message), the memory is given back to the system. */
#define TRIM_AT        (1024 * 1024)
/* An output buffer grown past OUT_SPARE is freed once it drains: one
 * process serves many sessions, and a buffer kept at the size of each
 * session's largest response was most of an idle process's heap.  Past
 * OUT_KEEP the memory is also handed back to the system at once
 * (streamed FETCH output stays below CLIENT_OUT_HIGH plus one piece). */
#define OUT_SPARE      (16 * 1024)
#define OUT_KEEP       (512 * 1024)

static void client_io(struct ev_io *io, uint32_t revents);
static void do_hand_back(struct client *c);
static void client_timer(struct ev_timer *t);
static void process_input(struct client *c);
static bool more_input(struct client *c);

/* Bytes not on the wire yet: the plaintext backlog, and under COMPRESS
 * what the compressor holds. */
static bool
out_pending(const struct client *c)
{
	return buf_len(&c->out) > 0 || (c->z != NULL && zs_out_pending(c->z));
}

bool
client_out_full(const struct client *c)
{
	return buf_len(&c->out) >= CLIENT_OUT_HIGH;
}

int64_t
client_now(struct client *c)
{
	(void)c;
	return (int64_t)time(NULL);
}

static void
arm_timer(struct client *c)
{
	const struct mk_config *cfg = c->user->cfg;
	unsigned secs = c->idling ? cfg->idle_keepalive : cfg->autologout;

	if (c->is_pop3)
		secs = MK_MAX(secs, POP3_AUTOLOGOUT_MIN);

	ev_timer_start(c->user->loop, &c->timer, (uint64_t)secs * 1000);
}

/* imap_frame_spool hooks: an APPEND's large literals go to an unnamed
 * file in the user's spool directory. */
static int
spool_open(void *arg)
{
	struct client *c = arg;
	int fd = mk_tmpfile(c->user->spool_dir);

	if (fd == -1)
		log_warn("user %s: spool file", c->user->name);
	return fd;
}

/* The mailbox argument of "tag APPEND <mailbox> ...", when it is an
 * atom or a quoted string; false otherwise (a literal). */
static bool
append_mailbox(const char *cmd, size_t len, char *out, size_t outlen)
{
	const char *p = memchr(cmd, ' ', len), *end = cmd + len;
	size_t o = 0;

	if (p == NULL || (size_t)(end - p) < 9 ||
	    strncasecmp(p, " APPEND ", 8) != 0)
		return false;
	p += 8;
	if (*p == '{' || *p == '~')
		return false;
	if (*p != '"') {
		while (p < end && *p != ' ' && o + 1 < outlen)
			out[o++] = *p++;
		out[o] = '\0';
		return o > 0;
	}
	for (p++; p < end && *p != '"' && o + 1 < outlen; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		out[o++] = *p;
	}
	out[o] = '\0';
	return p < end && *p == '"';
}

/* A literal larger than what the quota leaves can't be stored: refuse
 * it before the client sends it, rather than spool it to disk first.
 * (The stored form is never smaller than the literal; the check inside
 * APPEND's transaction is the one that counts.)  Only for this user's
 * own mailboxes: another user's shared mailbox counts against that
 * owner, whose process checks (and a name we can't read here is left
 * to the final check). */
static int
spool_check(void *arg, const char *cmd, size_t len, uint64_t total)
{
	struct client *c = arg;
	char name[MK_MBOX_NAME_MAX];

	/* "Other Users" is the shared namespace (proxy.c). */
	if (c->user->store == NULL ||
	    !append_mailbox(cmd, len, name, sizeof(name)) ||
	    strncmp(name, "Other Users", 11) == 0 ||
	    quota_check(c, total, 1) != 1)
		return 0;
	errno = EDQUOT;
	return -1;
}

static void
spool_release(struct client *c)
{
	if (c->spool_map != NULL)
		munmap(c->spool_map, c->spool_maplen);
	if (c->spool_fd != -1)
		close(c->spool_fd);
	c->spool_map = NULL;
	c->spool_maplen = 0;
	c->spool_fd = -1;
	catenate_release(c);
}

/* Gives memory back after a big command: glibc keeps freed heap memory
 * for reuse unless asked (as auth/relay.c does after a burst). */
static void
trim_after(struct client *c)
{
	if (!c->trim && c->arena.used <= TRIM_AT)
		return;
	c->trim = false;
	arena_reset(&c->arena);
	malloc_trim(0);
}

static void
greet(struct client *c, const struct ipc_session *s)
{
	struct buf caps;

	buf_init(&caps, 0);
	resp_capability_list(c, &caps);
	if (s->method == IPC_IMP_GUEST || s->method == IPC_IMP_URLAUTH)
		/* A channel from the grantee's process: no command to answer. */
		buf_printf(&c->out, "* PREAUTH [CAPABILITY %s] %s's mailboxes, "
		    "shared with %s\r\n", buf_cstr(&caps), s->user, s->authcid);
	else
		buf_printf(&c->out, "%s OK [CAPABILITY %s] %s completed\r\n",
		    s->tag, buf_cstr(&caps), s->okverb[0] ? s->okverb : "LOGIN");
	buf_free(&caps);
}

void
client_new(struct user *u, int fd, const struct ipc_session *s)
{
	const struct mk_config *cfg = u->cfg;
	struct client *c = xcalloc(1, sizeof(*c));
	struct imap_frame_limits lim = {
		.max_line = cfg->max_line,
		.max_literal = cfg->max_literal,
		.max_append = cfg->max_message,
		.max_command = cfg->max_message + 4 * cfg->max_line,
		.literal_plus = true,
	};
	/* POP3 lines: RFC 2449 4, 255 octets with the CRLF. */
	struct imap_frame_limits pop3_lim = {
		.max_line = POP3_MAX_LINE, .max_literal = POP3_MAX_LINE,
		.max_append = POP3_MAX_LINE, .max_command = 2 * POP3_MAX_LINE,
	};

	c->user = u;
	c->fd = fd;
	c->session_id = s->id;
	c->state = CS_AUTH;
	c->tls = (s->flags & IPC_SESS_TLS) != 0;
	c->admin = (s->flags & IPC_SESS_ADMIN) != 0;
	c->no_seen = (s->flags & IPC_SESS_NO_SEEN) != 0;
	c->method = s->method;
	c->is_pop3 = s->proto == MK_PROTO_POP3;
	c->last_cmd = ev_now(u->loop);
	mk_strlcpy(c->authcid, s->authcid, sizeof(c->authcid));
	mk_strlcpy(c->client_addr, s->client, sizeof(c->client_addr));
	set_nonblock(fd);
	set_cloexec(fd);
	net_keepalive(fd);
	/* Input is bounded by what one command may carry; output is ours. */
	buf_init(&c->in, IN_CHUNK * 4);
	buf_init(&c->out, 0);
	imap_framer_init(&c->fr, c->is_pop3 ? &pop3_lim : &lim);
	c->spool_fd = -1;
	c->cat_fd = -1;
	if (u->spool_dir != -1 && !c->is_pop3) {
		struct imap_frame_spool sp = {
			.open = spool_open, .check = spool_check, .arg = c,
			.min = SPOOL_MIN, .cmd_max = SPOOL_CMD_MAX,
		};
		imap_framer_set_spool(&c->fr, &sp);
	}
	arena_init(&c->arena, cfg->max_message + 32 * 1024 * 1024);
	ev_io_init(&c->io, fd, client_io, c);
	ev_timer_init(&c->timer, client_timer, c);
	c->next = u->clients;
	u->clients = c;
	if (ev_io_start(u->loop, &c->io, EPOLLIN) == -1) {
		log_warn("epoll add client");
		client_close(c, NULL);
		return;
	}
	log_info("session %016llx: user=%s%s%s client=%s%s%s",
	    (unsigned long long)c->session_id, u->name,
	    s->method != IPC_IMP_NONE ? " by=" : "",
	    s->method != IPC_IMP_NONE ? s->authcid : "", c->client_addr,
	    c->tls ? " tls" : "", c->is_pop3 ? " pop3" : "");
	if (c->is_pop3) {
		pop3_start(c);
		if (c->dead)
			return;
	} else
		greet(c, s);
	if (s->npending > 0 && buf_add(&c->in, s->pending, s->npending) == -1) {
		client_close(c, "Too much pipelined input");
		return;
	}
	arm_timer(c);
	process_input(c);
	client_flush(c);
}

static void
client_free(void *arg)
{
	struct client *c = arg;

	spool_release(c);
	buf_free(&c->in);
	buf_free(&c->out);
	store_body_text_free(&c->tcache.text);
	free(c->tcache.parts);
	zs_free(c->z);
	zs_free(c->z_next);
	imap_framer_free(&c->fr);
	arena_free(&c->arena);
	free(c->idle_cmd);
	free(c);
}

static void
client_destroy(struct client *c)
{
	struct user *u = c->user;
	struct client **pp;
	struct ipc_msg m;

	if (c->dead)
		return;
	c->dead = true;
	if (c->cont_free != NULL && c->cmd != NULL)
		c->cont_free(c);
	c->cont_free = NULL;
	c->notify_fetching = false;
	notify_free(c);
	proxy_free_all(c);
	spool_release(c);
	if (c->is_pop3)
		pop3_end(c);
	if (c->state == CS_SELECTED)
		view_close(c);
	if (c->idling)
		user_watch_update(u);
	ev_io_stop(u->loop, &c->io);
	ev_timer_stop(u->loop, &c->timer);
	/* The server said BYE: the client may still be sending, and a
	 * plain close would reset the connection under the BYE. */
	if (c->fd != -1 && c->closing)
		linger_close(u->loop, c->fd);
	else if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	for (pp = &u->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (!c->handback) {
		ipc_msg_init(&m, IPC_MBOX_SESSION_END);
		ipc_put_u64(&m, c->session_id);
		ipc_chan_send(u->master, &m);
	}
	log_info("session %016llx: closed", (unsigned long long)c->session_id);
	ev_defer(u->loop, client_free, c);
}

void
client_close(struct client *c, const char *bye)
{
	if (c->dead)
		return;
	/* POP3 has no untagged answer: an -ERR is what clients expect. */
	if (bye != NULL)
		buf_printf(&c->out, c->is_pop3 ? "-ERR %s\r\n" : "* BYE %s\r\n",
		    bye);
	c->closing = true;
	client_flush(c);
}

/* Sends b as far as the socket takes it: -1 if the peer is gone. */
static int
send_buf(int fd, struct buf *b)
{
	while (buf_len(b) > 0) {
		ssize_t n = send(fd, buf_ptr(b), buf_len(b), MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		buf_consume(b, (size_t)n);
	}
	return 0;
}

/* Under COMPRESS: c->out is compressed a window at a time, so that what
 * the socket does not take stays in c->out, where the flow control of
 * streaming commands sees it. */
static int
send_compressed(struct client *c)
{
	struct buf *w = zs_wire_out(c->z);

	for (;;) {
		if (zs_deflate(c->z, &c->out) == -1) {
			log_warnx("session %016llx: %s",
			    (unsigned long long)c->session_id, zs_error(c->z));
			return -1;
		}
		if (buf_len(w) == 0)
			return 0;
		if (send_buf(c->fd, w) == -1)
			return -1;
		if (buf_len(w) > 0)
			return 0;	/* the socket is full */
	}
}

/* Writes as much as the socket takes.  Returns -1 if the peer is gone. */
static int
write_out(struct client *c)
{
	/* An answer may tell of a write of the batch running now. */
	if (buf_len(&c->out) > 0)
		user_commit(c->user);
	if ((c->z != NULL ? send_compressed(c) : send_buf(c->fd, &c->out)) == -1)
		return -1;
	if (buf_len(&c->out) > 0)
		return 0;
	if (c->out.cap > OUT_SPARE && c->cont == NULL) {
		/* A big response went out: don't keep its buffer (but not
		 * between the pieces of one streamed response). */
		bool huge = c->out.cap > OUT_KEEP;
		buf_free(&c->out);
		if (huge)
			malloc_trim(0);
	}
	return 0;
}

void
client_flush(struct client *c)
{
	uint32_t ev;

	if (c->dead)
		return;
	if (write_out(c) == -1) {
		client_destroy(c);
		return;
	}
	if (c->closing && !out_pending(c)) {
		client_destroy(c);
		return;
	}
	if (c->handback_ready && !out_pending(c)) {
		do_hand_back(c);
		return;
	}
	/* Stop reading while output is backed up or a command is paused:
	 * a client that doesn't read can't make us buffer its next
	 * commands' output without bound. */
	ev = 0;
	if (!c->closing && c->cont == NULL && !client_out_full(c))
		ev |= EPOLLIN;
	/* A paused command resumes from the write callback. */
	if (out_pending(c) || c->cont != NULL)
		ev |= EPOLLOUT;
	if (c->idling || c->proxy_idle)
		ev |= EPOLLIN;
	if (ev_io_set(c->user->loop, &c->io, ev) == -1)
		client_destroy(c);
}

/* ---- running commands ---- */

static const char *
state_name(enum client_state s)
{
	return s == CS_SELECTED ? "selected" : "authenticated";
}

/* COMPRESS answered OK: compression starts right after that answer's
 * CRLF (RFC 4978 3), so what is queued goes out as it is.  Input is
 * inflated from here on; a client that pipelined behind COMPRESS was
 * refused by the command, so c->in holds nothing from before. */
static void
compress_start(struct client *c)
{
	const struct mk_config *cfg = c->user->cfg;

	c->z = c->z_next;
	c->z_next = NULL;
	if (zs_out_raw(c->z, buf_ptr(&c->out), buf_len(&c->out)) == -1)
		fatalx("compress: queuing output");
	buf_reset(&c->out);
	/* No command, literals included, is longer than max_message plus
	 * its lines; a client whose input inflates further without a
	 * command completing is sending a decompression bomb. */
	zs_set_budget(c->z, (uint64_t)cfg->max_message +
	    8 * (uint64_t)cfg->max_line + 4 * IN_CHUNK);
	log_info("session %016llx: COMPRESS=DEFLATE active",
	    (unsigned long long)c->session_id);
}

static void
finish_command(struct client *c)
{
	const struct cmd_def *d = c->def;

	if (c->notify_fetching) {
		/* NOTIFY's FETCH of new messages: no tag, nothing to sync. */
		notify_fetch_done(c);
		return;
	}
	if (c->state == CS_SELECTED && c->proxy == NULL && d != NULL) {
		bool allow = !(d->flags & CF_NO_EXPUNGE) || c->cmd->uid;
		if (view_sync(c, allow) == -1) {
			client_close(c, "Selected mailbox was deleted, have to disconnect");
			return;
		}
		if (d->id == CMD_APPEND || d->id == CMD_COPY || d->id == CMD_MOVE)
			notify_forget_new(c);
	}
	buf_printf(&c->out, "%s %s\r\n", c->cmd->tag, c->tagged);
	if (c->z_next != NULL)
		compress_start(c);
	c->cmd = NULL;
	free(c->idle_cmd);
	c->idle_cmd = NULL;
	c->def = NULL;
	c->cont = NULL;
	c->cont_state = NULL;
	c->cont_free = NULL;
	if (c->spool_fd != -1 || c->cat_fd != -1)
		c->trim = true;
	spool_release(c);
	trim_after(c);
	arena_reset(&c->arena);
	user_rest_soon(c->user);
	if (c->state == CS_LOGOUT)
		client_close(c, NULL);
	else
		notify_after_command(c);
}

/* An IDLE lasts for hours: its command (only the tag and the flags
 * finish_command() reads; IDLE has no arguments) moves to a small copy
 * of its own, so the arena's 8 KiB chunk can go. */
static void
idle_rehome(struct client *c)
{
	size_t tl = strlen(c->cmd->tag) + 1;
	struct imap_cmd *k = xmalloc(sizeof(*k) + tl);

	*k = *c->cmd;
	k->tag = memcpy((char *)(k + 1), c->cmd->tag, tl);
	c->cmd = c->idle_cmd = k;
}

void
client_rest(struct client *c)
{
	if (c->dead || c->cont != NULL || c->waiting)
		return;
	if (c->idling && c->cmd != NULL && c->idle_cmd == NULL)
		idle_rehome(c);
	/* POP3 keeps its commands' state in the arena its own way. */
	if (!c->is_pop3 && (c->cmd == NULL || c->cmd == c->idle_cmd)) {
		arena_free(&c->arena);
		msgdata_search_done(c);
	}
	/* Its buffers too, when empty (they are 16 KiB and more once a
	 * command used them): DONE or a notification allocates again. */
	if (buf_len(&c->in) == 0)
		buf_free(&c->in);
	if (buf_len(&c->out) == 0)
		buf_free(&c->out);
	imap_framer_rest(&c->fr);
}

/* A session that enters IDLE may stay so for hours, as most of a
 * user's connections do: what the commands before it used goes back to
 * the system, so a process at rest is small. */
static void
rest(struct client *c)
{
	client_rest(c);
	user_rest(c->user);
}

static void
after_run(struct client *c, enum cmd_result r)
{
	switch (r) {
	case RUN_DONE:
		finish_command(c);
		break;
	case RUN_PAUSE:
		/* c->cont set by the handler; resumed as output drains. */
		break;
	case RUN_IDLE:
		c->idling = true;
		user_watch_update(c->user);
		arm_timer(c);
		rest(c);
		break;
	case RUN_WAIT:
		/* Some waits end before the handler returns (an answer that
		 * needed nobody after all): then the command is done. */
		if (c->tagged[0] != '\0') {
			finish_command(c);
			break;
		}
		c->waiting = true;
		break;
	}
}

static void
reject(struct client *c, const char *tag, const char *fmt, const char *arg)
{
	buf_printf(&c->out, "%s BAD ", tag);
	buf_printf(&c->out, fmt, arg);
	buf_adds(&c->out, "\r\n");
}

/* Answers a command that can't run in the current state; false if it can. */
static bool
wrong_state(struct client *c, const struct imap_cmd *cmd,
    const struct cmd_def *d)
{
	if (c->state == CS_AUTH && !(d->states & ST_AUTH)) {
		buf_printf(&c->out, "%s BAD %s%s is only valid in the selected "
		    "state; SELECT a mailbox first\r\n", cmd->tag,
		    cmd->uid ? "UID " : "", cmd->name);
		return true;
	}
	if (c->state == CS_SELECTED && !(d->states & ST_SELECTED)) {
		buf_printf(&c->out, "%s BAD %s is not valid in the %s state\r\n",
		    cmd->tag, cmd->name, state_name(c->state));
		return true;
	}
	return false;
}

/* After the selected mailbox was closed for want of the "r" right, a
 * client that missed the "* OK [CLOSED]" still thinks it is selected:
 * its commands of the selected state get a NO that says why (RFC 4314
 * 5.1.1 allows refusing them until the mailbox is closed), rather than a
 * BAD, and its CLOSE or UNSELECT succeeds.  True if answered here. */
static bool
revoked_answer(struct client *c, const struct imap_cmd *cmd,
    const struct cmd_def *d)
{
	if (cmd->id == CMD_SELECT || cmd->id == CMD_EXAMINE ||
	    cmd->id == CMD_LOGOUT || c->state != CS_AUTH) {
		c->revoked = false;
		return false;
	}
	if (d->states & ST_AUTH)
		return false;
	if (cmd->id == CMD_CLOSE || cmd->id == CMD_UNSELECT) {
		c->revoked = false;
		buf_printf(&c->out, "%s OK %s completed (the mailbox was "
		    "already closed)\r\n", cmd->tag, cmd->name);
		return true;
	}
	if (c->lost)
		buf_printf(&c->out, "%s NO [UNAVAILABLE] %s%s refused: the "
		    "selected mailbox's owner can't be reached and it was "
		    "closed\r\n", cmd->tag, cmd->uid ? "UID " : "", cmd->name);
	else
		buf_printf(&c->out, "%s NO [NOPERM] %s%s refused: access to "
		    "the selected mailbox was revoked and it was closed\r\n",
		    cmd->tag, cmd->uid ? "UID " : "", cmd->name);
	return true;
}

/* The command's spooled APPEND literals become the client's, mapped
 * read-only so that every path that reads a message (the store, the
 * relay to a shared mailbox's owner) sees its bytes; pages are read in
 * only where touched, and the store releases them behind its reads. */
static bool
spool_map(struct client *c, struct imap_cmd *cmd)
{
	uint64_t len = c->fr.spool_len;
	void *map;

	c->spool_fd = imap_frame_take_spool(&c->fr);
	if (cmd->id != CMD_APPEND || c->spool_fd == -1 || len == 0 ||
	    len > SIZE_MAX) {
		spool_release(c);
		reject(c, cmd->tag, "%s", "Literal too long");
		return false;
	}
	map = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, c->spool_fd, 0);
	if (map == MAP_FAILED) {
		log_warn("user %s: mapping a spooled message", c->user->name);
		buf_printf(&c->out, "%s NO [SERVERBUG] Can't read the message "
		    "back\r\n", cmd->tag);
		spool_release(c);
		return false;
	}
	c->spool_map = map;
	c->spool_maplen = (size_t)len;
	for (struct append_msg *m = cmd->u.append.msgs; m; m = m->next) {
		if (m->spooled)
			m->data = (const char *)map + m->spool_off;
		for (struct append_part *p = m->parts; p; p = p->next)
			if (p->spooled)
				p->data = (const char *)map + p->spool_off;
	}
	return true;
}

static void
execute(struct client *c, const char *data, size_t len)
{
	struct imap_cmd *cmd;
	const char *err = NULL;
	const struct cmd_def *d;
	const struct imap_spooled *sp;
	size_t nsp;
	bool enable;

	arena_reset(&c->arena);
	c->last_cmd = ev_now(c->user->loop);
	/* The command lives in the client's arena: a paused command keeps
	 * it while other clients run theirs. */
	cmd = arena_alloc(&c->arena, sizeof(*cmd));
	if (cmd == NULL)
		fatalx("arena exhausted before parsing");
	sp = imap_frame_spooled(&c->fr, &nsp);
	if (imap_parse_spooled(&c->arena, data, len, sp, nsp, cmd,
	    &err) == -1) {
		reject(c, cmd->tag ? cmd->tag : "*", "%s",
		    err ? err : "Syntax error");
		return;
	}
	if (nsp > 0 && !spool_map(c, cmd))
		return;
	if (cmd->id == CMD_LOGIN || cmd->id == CMD_AUTHENTICATE) {
		reject(c, cmd->tag, "%s", "Already authenticated");
		return;
	}
	if (cmd->id == CMD_STARTTLS) {
		reject(c, cmd->tag, "%s", "STARTTLS is only valid before login");
		return;
	}
	if (!names_in(c, cmd)) {
		reject(c, cmd->tag, "%s", "Mailbox name is not valid UTF-8");
		return;
	}
	d = cmd_find(cmd->id);
	if (d == NULL) {
		reject(c, cmd->tag, "Unknown command %s",
		    cmd->name ? cmd->name : "");
		return;
	}
	/* Once per batch of pipelined commands (PRAGMA data_version was
	 * 1.8 % of the stress mix's CPU once a command): a commit landing
	 * between two commands of one batch is as if it came just after. */
	if (!c->looked) {
		c->looked = true;
		if (store_changed_externally(c->user->store))
			mstates_refresh(c->user);
	}
	/* The rights of a guest's selection are those of the ACL now, not
	 * of the SELECT: a revoked right stops working here. */
	if (c->state == CS_SELECTED)
		rights_recheck(c);
	if (c->revoked && revoked_answer(c, cmd, d))
		return;
	if (wrong_state(c, cmd, d))
		return;
	if (c->method == IPC_IMP_URLAUTH && !urlauth_channel_cmd(cmd->id)) {
		reject(c, cmd->tag, "%s is not valid on a URLAUTH channel",
		    cmd->name);
		return;
	}
	c->cmd = cmd;
	c->def = d;
	c->tagged[0] = '\0';
	if (!catenate_assemble(c, cmd)) {
		after_run(c, RUN_DONE);
		return;
	}
	{
		enum cmd_result r;
		if (proxy_command(c, data, len, &r)) {
			after_run(c, r);
			return;
		}
	}
	enable = cmd->id == CMD_ENABLE;
	c->raw = data;
	c->rawlen = len;
	c->user->actor = c;
	after_run(c, d->run(c));
	c->user->actor = NULL;
	if (enable)
		proxy_enabled(c);
}

static void
frame_step(struct client *c, bool *progress)
{
	enum frame_result r = imap_frame(&c->fr, &c->in);
	size_t len;
	const char *data;

	*progress = true;
	if (r != FRAME_MORE && c->z != NULL)
		zs_progress(c->z);
	switch (r) {
	case FRAME_MORE:
		*progress = more_input(c);
		break;
	case FRAME_LITERAL_WAIT:
		imap_frame_accept(&c->fr);
		buf_adds(&c->out, "+ Ready for literal data\r\n");
		break;
	case FRAME_BAD:
		buf_printf(&c->out, "%s %s %s\r\n", c->fr.err_tag,
		    c->fr.err_resp, c->fr.err_text);
		break;
	case FRAME_FATAL:
		client_close(c, c->fr.err_text);
		*progress = false;
		break;
	case FRAME_COMMAND:
		data = imap_frame_data(&c->fr, &len);
		if (c->user->store != NULL)
			store_read_begin(c->user->store);
		execute(c, data, len);
		if (c->user->store != NULL)
			store_read_end(c->user->store);
		imap_frame_done(&c->fr);
		if (c->cmd == NULL && c->spool_fd != -1) {
			/* Refused before it ran: nothing else will. */
			spool_release(c);
			c->trim = true;
			trim_after(c);
		}
		break;
	}
}

static void
idle_step(struct client *c, bool *progress)
{
	enum frame_result r = imap_frame_line(&c->fr, &c->in);
	size_t len;
	const char *line;

	*progress = true;
	if (r == FRAME_MORE) {
		*progress = more_input(c);
		return;
	}
	if (c->z != NULL)
		zs_progress(c->z);
	if (r != FRAME_COMMAND) {
		client_close(c, "IDLE continuation line too long");
		*progress = false;
		return;
	}
	line = imap_frame_data(&c->fr, &len);
	c->idling = false;
	idle_line(c, line, len);
	imap_frame_done(&c->fr);
	user_watch_update(c->user);
	if (!c->idling) {
		arm_timer(c);
		finish_command(c);
	}
}

static void process_again(void *arg);

/* The client's DONE during an IDLE relayed to an owner's process. */
static void
proxy_idle_step(struct client *c, bool *progress)
{
	enum frame_result r = imap_frame_line(&c->fr, &c->in);
	size_t len;
	const char *line;

	if (r == FRAME_MORE) {
		*progress = more_input(c);
		return;
	}
	*progress = true;
	if (c->z != NULL)
		zs_progress(c->z);
	if (r != FRAME_COMMAND) {
		client_close(c, "IDLE continuation line too long");
		*progress = false;
		return;
	}
	line = imap_frame_data(&c->fr, &len);
	proxy_idle_line(c, line, len);
	imap_frame_done(&c->fr);
}

/* Bounded batch: one pipelining client can't monopolize the loop.
 * *stopped: the client can't go on now (it will be called again). */
static void
run_batch(struct client *c, bool *progress, bool *stopped)
{
	for (int i = 0; i < 64 && *progress; i++) {
		if (c->proxy_idle && !c->dead) {
			proxy_idle_step(c, progress);
			continue;
		}
		if (c->dead || c->closing || c->cont != NULL || c->waiting ||
		    c->handback || c->handback_ready || client_out_full(c)) {
			*stopped = true;
			return;
		}
		if (c->idling)
			idle_step(c, progress);
		else if (c->is_pop3)
			pop3_step(c, progress);
		else
			frame_step(c, progress);
	}
}

static void
process_input(struct client *c)
{
	bool progress = true, stopped = false;

	c->looked = false;
	/* The batch's commands share one write transaction, committed
	 * before any answer of theirs goes out (write_out). */
	if (c->user->store != NULL)
		store_batch_begin(c->user->store);
	run_batch(c, &progress, &stopped);
	user_batch_end(c->user);
	if (!stopped && progress && !c->dead && !c->again) {
		/* More may be buffered: come back after this batch. */
		c->again = true;
		ev_defer(c->user->loop, process_again, c);
	}
}

static void
process_again(void *arg)
{
	struct client *c = arg;

	c->again = false;
	if (c->dead)
		return;
	process_input(c);
	client_flush(c);
}

/* Under COMPRESS: inflates what was received into c->in, as far as it
 * has room.  False if the stream is broken (the session is closing). */
static bool
inflate_in(struct client *c)
{
	char bye[160];

	if (zs_inflate(c->z, &c->in) >= 0)
		return true;
	log_warnx("session %016llx: COMPRESS: %s",
	    (unsigned long long)c->session_id, zs_error(c->z));
	snprintf(bye, sizeof(bye), "Compression error: %s", zs_error(c->z));
	client_close(c, bye);
	return false;
}

/* The framer wants more input: under COMPRESS, more may be inflated
 * from what was received without reading the socket.  True if it was. */
static bool
more_input(struct client *c)
{
	size_t before = buf_len(&c->in);

	if (c->z == NULL || c->closing || !zs_in_pending(c->z))
		return false;
	return inflate_in(c) && buf_len(&c->in) > before;
}

static void
read_compressed(struct client *c)
{
	size_t avail;
	char *p = zs_in_tail(c->z, &avail);
	ssize_t n;

	if (p != NULL) {
		do
			n = recv(c->fd, p, avail, 0);
		while (n == -1 && errno == EINTR);
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			client_destroy(c);
			return;
		}
		if (n > 0)
			zs_in_commit(c->z, (size_t)n);
	}
	inflate_in(c);
}

static void
read_in(struct client *c)
{
	if (c->z != NULL) {
		read_compressed(c);
		return;
	}
	for (;;) {
		size_t avail;
		char *p = buf_tail(&c->in, IN_CHUNK, &avail);
		if (p == NULL || avail == 0)
			return;	/* full: the framer must consume first */
		ssize_t n = recv(c->fd, p, avail, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				client_destroy(c);
			return;
		}
		if (n == 0) {
			client_destroy(c);
			return;
		}
		buf_commit(&c->in, (size_t)n);
		if ((size_t)n < avail)
			return;
	}
}

static void
resume(struct client *c)
{
	while (c->cont != NULL && !c->dead && !client_out_full(c)) {
		cmd_cont_fn fn = c->cont;
		c->cont = NULL;
		c->user->actor = c;
		enum cmd_result r = fn(c);
		c->user->actor = NULL;
		if (r == RUN_PAUSE && c->cont == NULL)
			c->cont = fn;
		if (!c->is_pop3)
			after_run(c, r);
		else if (r == RUN_DONE)
			pop3_cmd_done(c);
		if (write_out(c) == -1) {
			client_destroy(c);
			return;
		}
	}
}

static void
client_io(struct ev_io *io, uint32_t revents)
{
	struct client *c = io->arg;

	if (revents & (EPOLLERR | EPOLLHUP)) {
		/* Drain what the peer sent before it went away. */
		revents |= EPOLLIN;
	}
	if ((revents & EPOLLIN) && !c->closing)
		read_in(c);
	if (c->dead)
		return;
	if (write_out(c) == -1) {
		client_destroy(c);
		return;
	}
	if (c->cont != NULL && buf_len(&c->out) < OUT_LOW)
		resume(c);
	if (c->guests != NULL && buf_len(&c->out) < OUT_LOW)
		proxy_client_drained(c);
	if (c->dead)
		return;
	if (c->cont == NULL && !c->closing) {
		process_input(c);
		if (!c->dead && c->cmd == NULL && !c->idling)
			arm_timer(c);
	}
	client_flush(c);
}

struct client *
client_by_session(struct user *u, uint64_t id)
{
	for (struct client *c = u->clients; c; c = c->next)
		if (c->session_id == id && !c->dead)
			return c;
	return NULL;
}

void
client_resume(struct client *c)
{
	if (c->dead || !c->waiting)
		return;
	c->waiting = false;
	finish_command(c);
	if (!c->dead && !c->handback_ready) {
		process_input(c);
		client_flush(c);
	}
}

/* Sends the socket and whatever the client pipelined after PROXYAUTH to
 * the master, which passes them on to the target user's process. */
static void
do_hand_back(struct client *c)
{
	struct ipc_msg m;
	size_t n = MK_MIN(buf_len(&c->in), (size_t)IPC_MAX_PENDING);

	if (buf_len(&c->in) > IPC_MAX_PENDING) {
		client_close(c, c->unauth ? "Too much pipelined input after "
		    "UNAUTHENTICATE" : "Too much pipelined input after PROXYAUTH");
		return;
	}
	/* RFC 8437 4.1: the client's compression ends with UNAUTHENTICATE's
	 * CRLF.  What it sent after, clear or not, went through this
	 * session's inflater and can't be told apart: as RFC 4978 does
	 * with COMPRESS itself, pipelining across the change is refused. */
	if (c->unauth && c->z != NULL && (n > 0 || zs_in_pending(c->z))) {
		client_close(c, "Input pipelined after UNAUTHENTICATE under "
		    "COMPRESS can't be read; wait for its OK");
		return;
	}
	/* Out of epoll before the descriptor goes: the message may be sent
	 * and our copy closed at once, and a closed number can't be removed
	 * while the socket lives on elsewhere - its next input would wake
	 * this loop for a client that is freed. */
	ev_io_stop(c->user->loop, &c->io);
	if (c->unauth) {
		ipc_msg_init(&m, IPC_MBOX_UNAUTH);
		ipc_put_u64(&m, c->session_id);
	} else {
		ipc_msg_init(&m, IPC_MBOX_HANDBACK);
		ipc_put_u64(&m, c->session_id);
		ipc_put_str(&m, c->cmd->tag);
	}
	ipc_put_bytes(&m, buf_ptr(&c->in), n);
	ipc_put_fd(&m, c->fd);
	ipc_chan_send(c->user->master, &m);
	/* The descriptor now travels with the message: forget ours. */
	c->fd = -1;
	c->handback = true;
	c->closing = true;
	client_destroy(c);
}

void
client_hand_back(struct client *c)
{
	c->waiting = false;
	c->handback_ready = true;
	client_flush(c);
}

static void
client_timer(struct ev_timer *t)
{
	struct client *c = t->arg;

	/* Not inside NOTIFY's own FETCH streaming during the IDLE. */
	if (c->idling && c->cont == NULL) {
		buf_adds(&c->out, "* OK Still here\r\n");
		arm_timer(c);
		client_flush(c);
		return;
	}
	if (c->cont != NULL || c->cmd != NULL) {
		/* Busy streaming to a slow reader: that is not idleness. */
		arm_timer(c);
		return;
	}
	client_close(c, "Autologout; idle for too long");
}
