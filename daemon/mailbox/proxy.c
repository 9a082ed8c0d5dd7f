/*
 * proxy.c - other users' shared mailboxes, seen from the grantee's
 * process: the "Other Users/<owner>/<mailbox>" namespace.
 *
 * A user's process can open only its own store.  To reach a mailbox that
 * alice shares with bob, bob's process asks the master for a channel to
 * alice's process (IPC_MBOX_GUEST_OPEN; the master grants it only if
 * alice's share index names bob or "anyone").  Alice's process serves
 * that channel as an IMAP session of bob's, with bob's rights (rights.c),
 * so every rule of the owner's side - ACLs, quota, change notification
 * between everyone who has the folder open - applies unchanged.
 *
 * Bob's process speaks IMAP on the channel ("guest"), one exchange at a
 * time, with tags of its own.  An exchange's responses go to one of:
 *   relay    straight to bob's client, streamed with backpressure (a
 *            selected shared mailbox: FETCH, IDLE, EXPUNGE...);
 *   collect  whole responses handed to a callback (STATUS, ACL... whose
 *            mailbox names get the "Other Users/alice/" prefix back; a
 *            FETCH feeding a copy into another store);
 *   swallow  nothing (housekeeping such as ENABLE or UNSELECT).
 * The tagged answer of a client's command becomes the client's tagged
 * answer.  Copies between stores (shared -> own, own -> shared, between
 * two owners) fetch on one side and APPEND, all messages in one command,
 * on the other, within a memory bound.
 */
#include "daemon/mailbox/mbox_int.h"
#include "store/directory.h"
#include "common/imap_write.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SHARED_PREFIX     "Other Users/"
#define SHARED_PREFIX_LEN 12
#define GUEST_LINE_MAX    (64 * 1024)
#define GUEST_RESP_MAX    (4 * 1024 * 1024)

enum gmode { GM_RELAY, GM_COLLECT, GM_SWALLOW };

struct guest;
struct gx;

typedef void (*gx_resp_fn)(struct guest *g, struct gx *x, const char *r,
	size_t n);
typedef void (*gx_done_fn)(struct guest *g, struct gx *x, const char *status);

/* One command sent on a guest channel. */
struct gx {
	struct gx  *next;
	char        tag[24];
	char       *text;	/* the whole command, CRLF included */
	size_t      len;
	enum gmode  mode;
	gx_resp_fn  on_resp;	/* collect: each complete untagged response */
	gx_done_fn  on_done;	/* the tagged answer (NULL: guest died) */
	void       *arg;
	size_t      collect_max;
};

struct guest {
	struct guest  *next;
	struct client *c;
	char           owner[MK_USER_MAX];
	int            fd;
	struct ev_io   io;
	struct buf     in, out;
	uint64_t       req;		/* GUEST_OPEN request id while opening */
	bool           ready;		/* greeting read */
	bool           dead;
	bool           paused;		/* client output full: stop reading */
	uint64_t       lit_left;	/* bytes of a literal still to pass */
	bool           in_resp;		/* inside a response, after a literal */
	struct buf     resp;		/* collect: the response so far */
	struct gx     *x;		/* sent, waiting for its answer */
	struct gx     *queue, *qtail;	/* not sent yet */
	unsigned       ntag;
	bool           idle_cont;	/* relaying an IDLE: "+" seen */
	/* The master refused the channel: the owner shares nothing with
	 * this user, or there is no such user.  Either way the mailbox
	 * does not exist as far as this user may know. */
	bool           refused;
	/* Refused for max_guest_channels (here or by the master). */
	bool           limited;
	bool           notified;	/* NOTIFY SET was sent on it */
	/* A URLAUTH channel (IPC_MBOX_URL_OPEN): URLFETCH only. */
	bool           url;
	/* The owner-side name of the mailbox last asked for with SELECT
	 * or EXAMINE: the selected one while c->proxy is this channel. */
	char           mailbox[MK_MBOX_NAME_MAX];
};

static void guest_io(struct ev_io *io, uint32_t revents);
static void guest_kill(struct guest *g, const char *why);
static void selection_lost(struct guest *g);
static void guest_free(struct guest *g);
static void guest_send_next(struct guest *g);

/* ---- names ---- */

/* User names are folded as logins are (dir_name_canon): "ALICE" and
 * "aLiCe" are alice, so they share one channel, and every comparison of
 * owners below is of folded names.  A name that can't be a user's stays
 * as written: the master refuses it (NONEXISTENT). */
static void
owner_fold(char *owner, size_t olen)
{
	char canon[MK_USER_MAX];
	const char *why;

	if (dir_name_canon(owner, canon, sizeof(canon), &why))
		mk_strlcpy(owner, canon, olen);
}

bool
shared_name(const char *name, char *owner, size_t olen, const char **rest)
{
	const char *p, *slash;

	if (strncmp(name, SHARED_PREFIX, SHARED_PREFIX_LEN) != 0)
		return false;
	p = name + SHARED_PREFIX_LEN;
	slash = strchr(p, '/');
	if (slash == NULL || slash == p || (size_t)(slash - p) >= olen ||
	    slash[1] == '\0')
		return false;
	memcpy(owner, p, (size_t)(slash - p));
	owner[slash - p] = '\0';
	owner_fold(owner, olen);
	*rest = slash + 1;
	return true;
}

/* "Other Users" and "Other Users/<owner>": places in the namespace, not
 * mailboxes. */
bool
shared_placeholder(const char *name)
{
	if (strcmp(name, "Other Users") == 0)
		return true;
	if (strncmp(name, SHARED_PREFIX, SHARED_PREFIX_LEN) != 0)
		return false;
	return strchr(name + SHARED_PREFIX_LEN, '/') == NULL;
}

/* ---- the channel ---- */

static struct guest *
guest_find(struct client *c, const char *owner, bool url)
{
	for (struct guest *g = c->guests; g; g = g->next)
		if (!g->dead && g->url == url && strcmp(g->owner, owner) == 0)
			return g;
	return NULL;
}

static void gx_enable(struct guest *g);

/* Drops the channels that died (refused by the master, or lost).  Called
 * as a command starts, when nothing refers to them any more: their
 * exchanges were failed, and only one command of a client runs at a
 * time.  A client asking again and again can't pile them up. */
static void
guest_prune(struct client *c)
{
	struct guest **gp = &c->guests, *g;

	while ((g = *gp) != NULL) {
		if (g->dead && g != c->proxy) {
			*gp = g->next;
			guest_free(g);
		} else
			gp = &g->next;
	}
}

/* Channels this process holds open or is asking for, all clients. */
static unsigned
guests_open(struct user *u)
{
	unsigned n = 0;

	for (struct client *c = u->clients; c; c = c->next)
		for (struct guest *g = c->guests; g; g = g->next)
			if (!g->dead)
				n++;
	return n;
}

/* The client's channel to owner's process: the one it has (one per
 * client and owner), or a new one asked of the master.  Over
 * max_guest_channels the new one is born dead (limited): its commands
 * fail at once with NO [LIMIT].  The master counts too, for a process
 * that would not. */
static struct guest *
guest_open(struct client *c, const char *owner_arg, bool url)
{
	char owner[MK_USER_MAX];
	struct guest *g;
	struct ipc_msg m;

	mk_strlcpy(owner, owner_arg, sizeof(owner));
	owner_fold(owner, sizeof(owner));
	if ((g = guest_find(c, owner, url)) != NULL)
		return g;
	guest_prune(c);
	g = xcalloc(1, sizeof(*g));
	g->c = c;
	g->fd = -1;
	g->url = url;
	mk_strlcpy(g->owner, owner, sizeof(g->owner));
	buf_init(&g->in, 0);
	buf_init(&g->out, 0);
	buf_init(&g->resp, 0);
	if (guests_open(c->user) >= c->user->cfg->max_guest_channels) {
		log_warnx("user %s: channel to %s's mailboxes refused: %u open "
		    "(max_guest_channels)", c->user->name, owner,
		    c->user->cfg->max_guest_channels);
		g->dead = true;
		g->limited = true;
		g->next = c->guests;
		c->guests = g;
		return g;
	}
	g->req = ++c->user->next_req;
	g->next = c->guests;
	c->guests = g;
	ipc_msg_init(&m, url ? IPC_MBOX_URL_OPEN : IPC_MBOX_GUEST_OPEN);
	ipc_put_u64(&m, g->req);
	ipc_put_str(&m, owner);
	ipc_chan_send(c->user->master, &m);
	/* The channel takes on what the client turned on (a URLAUTH one
	 * takes nothing but URLFETCH). */
	if (!url)
		gx_enable(g);
	return g;
}

static struct guest *
guest_get(struct client *c, const char *owner)
{
	return guest_open(c, owner, false);
}

static void
gx_free(struct gx *x)
{
	free(x->text);
	free(x);
}

static struct gx *
gx_new(enum gmode mode, gx_done_fn done, void *arg)
{
	struct gx *x = xcalloc(1, sizeof(*x));

	x->mode = mode;
	x->on_done = done;
	x->arg = arg;
	x->collect_max = GUEST_RESP_MAX;
	return x;
}

/* Queues "<tag> " + body (which ends without CRLF).  On a channel that
 * is already dead (refused for the limit) the exchange fails at once. */
static void
gx_send(struct guest *g, struct gx *x, const char *body, size_t len)
{
	if (g->dead) {
		if (x->on_done)
			x->on_done(g, x, NULL);
		gx_free(x);
		return;
	}
	snprintf(x->tag, sizeof(x->tag), "g%u", ++g->ntag);
	x->len = strlen(x->tag) + 1 + len + 2;
	x->text = xmalloc(x->len + 1);
	snprintf(x->text, x->len + 1, "%s ", x->tag);
	memcpy(x->text + strlen(x->tag) + 1, body, len);
	memcpy(x->text + x->len - 2, "\r\n", 2);
	if (g->qtail)
		g->qtail->next = x;
	else
		g->queue = x;
	g->qtail = x;
	guest_send_next(g);
}

static void
gx_sendf(struct guest *g, struct gx *x, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
gx_sendf(struct guest *g, struct gx *x, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("vasprintf");
	gx_send(g, x, s, (size_t)n);
	free(s);
}

static void
guest_want(struct guest *g)
{
	uint32_t ev = 0;

	if (g->fd == -1 || g->dead)
		return;
	if (!g->paused)
		ev |= EPOLLIN;
	if (buf_len(&g->out) > 0)
		ev |= EPOLLOUT;
	if (ev_io_set(g->c->user->loop, &g->io, ev) == -1)
		guest_kill(g, "epoll");
}

static void
guest_send_next(struct guest *g)
{
	if (!g->ready || g->dead || g->x != NULL || g->queue == NULL)
		return;
	g->x = g->queue;
	g->queue = g->x->next;
	if (g->queue == NULL)
		g->qtail = NULL;
	g->x->next = NULL;
	buf_add(&g->out, g->x->text, g->x->len);
	guest_want(g);
}

static void
fail_all(struct guest *g)
{
	struct gx *x, *next;

	/* Callbacks see status NULL: the command failed for want of the
	 * channel. */
	if ((x = g->x) != NULL) {
		g->x = NULL;
		if (x->on_done)
			x->on_done(g, x, NULL);
		gx_free(x);
	}
	for (x = g->queue; x; x = next) {
		next = x->next;
		if (x->on_done)
			x->on_done(g, x, NULL);
		gx_free(x);
	}
	g->queue = g->qtail = NULL;
}

static void
guest_kill(struct guest *g, const char *why)
{
	struct client *c = g->c;

	if (g->dead)
		return;
	log_warnx("user %s: channel to %s's mailboxes: %s", c->user->name,
	    g->owner, why);
	g->dead = true;
	if (g->fd != -1) {
		ev_io_stop(c->user->loop, &g->io);
		close(g->fd);
		g->fd = -1;
	}
	fail_all(g);
	if (c->proxy == g)
		selection_lost(g);
}

static void
guest_free(struct guest *g)
{
	struct gx *x, *next;

	if (g->fd != -1) {
		ev_io_stop(g->c->user->loop, &g->io);
		close(g->fd);
	}
	if (g->x)
		gx_free(g->x);
	for (x = g->queue; x; x = next) {
		next = x->next;
		gx_free(x);
	}
	buf_free(&g->in);
	buf_free(&g->out);
	buf_free(&g->resp);
	free(g);
}

void
proxy_free_all(struct client *c)
{
	struct guest *g, *next;

	for (g = c->guests; g; g = next) {
		next = g->next;
		/* No callback may run: the client is going away. */
		if (g->x)
			g->x->on_done = NULL;
		for (struct gx *x = g->queue; x; x = x->next)
			x->on_done = NULL;
		guest_free(g);
	}
	c->guests = NULL;
	c->proxy = NULL;
}

void
guest_result(struct user *u, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	uint8_t res = ipc_get_u8(r);
	int fd;

	if (!ipc_end(r) || (res == IPC_REQ_OK) != (r->fd != -1 || r->fd_lost))
		fatalx("malformed GUEST_RESULT from the master");
	fd = ipc_take_fd(r);
	/* Granted, but this process is out of descriptors: the channel is
	 * lost (its other end closes with the message), the command fails. */
	if (res == IPC_REQ_OK && fd == -1)
		res = IPC_REQ_FAILED;
	for (struct client *c = u->clients; c; c = c->next)
		for (struct guest *g = c->guests; g; g = g->next) {
			if (g->req != id || g->dead || g->fd != -1)
				continue;
			g->req = 0;
			if (res != IPC_REQ_OK) {
				g->dead = true;
				g->refused = res == IPC_REQ_DENIED ||
				    res == IPC_REQ_NOTFOUND;
				g->limited = res == IPC_REQ_LIMIT;
				fail_all(g);
				return;
			}
			g->fd = fd;
			set_nonblock(fd);
			ev_io_init(&g->io, fd, guest_io, g);
			if (ev_io_start(u->loop, &g->io, EPOLLIN) == -1)
				guest_kill(g, "epoll");
			return;
		}
	if (fd != -1)
		close(fd);	/* its client left meanwhile */
}

/* ---- reading responses ---- */

/* Where the bytes of a response go. */
static void
sink(struct guest *g, const char *p, size_t n)
{
	struct client *c = g->c;
	enum gmode mode = g->x ? g->x->mode : GM_RELAY;

	if (g->x == NULL && c->proxy != g)
		return;		/* unsolicited, not about a selected mailbox */
	switch (mode) {
	case GM_RELAY:
		buf_add(&c->out, p, n);
		break;
	case GM_COLLECT:
		if (buf_len(&g->resp) + n > g->x->collect_max) {
			guest_kill(g, "response too large");
			return;
		}
		buf_add(&g->resp, p, n);
		break;
	case GM_SWALLOW:
		break;
	}
}

/* A whole untagged response has been sunk. */
static void
response_end(struct guest *g)
{
	struct gx *x = g->x;
	struct client *c = g->c;

	if (x == NULL || x->mode != GM_COLLECT)
		return;
	/* Terminated, so that no parser of a response can read past it. */
	buf_cstr(&g->resp);
	if (x->on_resp)
		x->on_resp(g, x, buf_ptr(&g->resp), buf_len(&g->resp));
	else if (c->proxy == g)
		/* About the client's selected mailbox: pass it on. */
		buf_add(&c->out, buf_ptr(&g->resp), buf_len(&g->resp));
	buf_reset(&g->resp);
}

static bool
literal_at_end(const char *line, size_t n, uint64_t *size)
{
	/* line ends "{123}\r\n", "{123+}\r\n" or "~{123}\r\n" */
	size_t i;
	uint64_t v = 0;

	if (n < 4 || line[n - 1] != '\n')
		return false;
	i = n - 1;
	if (i > 0 && line[i - 1] == '\r')
		i--;
	if (i == 0 || line[--i] != '}')
		return false;
	if (i > 0 && line[i - 1] == '+')
		i--;
	size_t end = i;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
		i--;
	if (i == end || i == 0 || line[i - 1] != '{' || end - i > 15)
		return false;
	for (size_t k = i; k < end; k++)
		v = v * 10 + (uint64_t)(line[k] - '0');
	*size = v;
	return true;
}

static void
finish_exchange(struct guest *g, const char *line, size_t n)
{
	struct gx *x = g->x;
	char status[512];
	size_t tl = strlen(x->tag) + 1;

	n -= tl;
	while (n > 0 && (line[tl + n - 1] == '\r' || line[tl + n - 1] == '\n'))
		n--;
	if (n >= sizeof(status))
		n = sizeof(status) - 1;
	memcpy(status, line + tl, n);
	status[n] = '\0';
	g->x = NULL;
	g->idle_cont = false;
	buf_reset(&g->resp);
	if (x->on_done)
		x->on_done(g, x, status);
	gx_free(x);
	if (!g->dead)
		guest_send_next(g);
}

/* The greeting of the owner's process: "* PREAUTH ...". */
static void
greeting(struct guest *g, const char *line, size_t n)
{
	if (n < 10 || strncmp(line, "* PREAUTH ", 10) != 0) {
		guest_kill(g, "unexpected greeting");
		return;
	}
	g->ready = true;
	guest_send_next(g);
}

static void
continuation(struct guest *g, const char *line, size_t n)
{
	struct client *c = g->c;

	/* Only IDLE asks to go on; the client sees "+ idling" and its
	 * DONE is passed through (client.c). */
	if (g->x != NULL && g->x->mode == GM_RELAY && c->proxy == g) {
		buf_add(&c->out, line, n);
		g->idle_cont = true;
		c->proxy_idle = true;
		client_flush(c);
		return;
	}
	guest_kill(g, "unexpected continuation request");
}

/* The selection of g's mailbox ends without the client asking: the
 * client is told in its own names and is back in the authenticated
 * state; commands of the selected state are refused until it selects
 * again (client.c), NOPERM or, if lost, UNAVAILABLE. */
static void
selection_closed(struct guest *g, bool lost)
{
	struct client *c = g->c;
	char *full = xasprintf(SHARED_PREFIX "%s/%s", g->owner, g->mailbox);
	struct buf b;

	buf_init(&b, 0);
	imapw_mailbox(&b, full);
	if (lost)
		buf_printf(&c->out, "* OK [CLOSED] %s can't be reached now; "
		    "the mailbox is closed\r\n", buf_cstr(&b));
	else
		buf_printf(&c->out, "* OK [CLOSED] Access to %s was revoked; "
		    "the mailbox is closed\r\n", buf_cstr(&b));
	buf_free(&b);
	free(full);
	c->proxy = NULL;
	c->state = CS_AUTH;
	c->revoked = true;
	c->lost = lost;
}

/* The owner's process closed our selection on its own: this user's "r"
 * right on it was taken away (rights.c, rights_recheck).  While a
 * selection is relayed, the only other "* OK [CLOSED]" would come from a
 * SELECT on the channel, and none is sent without leaving first
 * (shared_select). */
static void
selection_revoked(struct guest *g)
{
	log_info("user %s: %s's mailbox %s was closed: access revoked",
	    g->c->user->name, g->owner, g->mailbox);
	selection_closed(g, false);
}

/* The channel of the selected mailbox died (the owner's process, or
 * its backend, went away): the rest of the session - its own mail,
 * other owners' folders - goes on. */
static void
selection_lost(struct guest *g)
{
	selection_closed(g, true);
}

/* The length of "* ESEARCH (TAG "gN")" at p when gN is the tag of the
 * relayed exchange (SEARCH or SORT with RETURN), else 0: the client
 * must see its own tag there (RFC 4731), not ours. */
static size_t
esearch_tag_len(const struct guest *g, const char *p, size_t n)
{
	char want[64];
	int k;

	if (g->x == NULL || g->x->mode != GM_RELAY || g->c->proxy != g ||
	    g->c->cmd == NULL)
		return 0;
	k = snprintf(want, sizeof(want), "* ESEARCH (TAG \"%s\")", g->x->tag);
	if (k <= 0 || (size_t)k >= sizeof(want) || n < (size_t)k ||
	    memcmp(p, want, (size_t)k) != 0)
		return 0;
	return (size_t)k;
}

/* sink() of (a piece of) an untagged response; at its start, our tag
 * in an ESEARCH becomes the client's. */
static void
sink_untagged(struct guest *g, const char *p, size_t n, bool first)
{
	size_t skip;

	if (first && (skip = esearch_tag_len(g, p, n)) > 0) {
		buf_printf(&g->c->out, "* ESEARCH (TAG \"%s\")", g->c->cmd->tag);
		sink(g, p + skip, n - skip);
	} else
		sink(g, p, n);
}

/* Is the line at p (not yet complete) part of an untagged answer the
 * client gets as it is? */
static bool
relaying_untagged(const struct guest *g, const char *p)
{
	return g->ready && g->x != NULL && g->x->mode == GM_RELAY &&
	    g->c->proxy == g && (g->in_resp || p[0] == '*');
}

/* Handles one line (with its CRLF) at the start of g->in; 0 if more
 * input is needed first. */
static size_t
scan_line(struct guest *g)
{
	const char *p = buf_ptr(&g->in);
	const char *lf = memchr(p, '\n', buf_len(&g->in));
	size_t n;
	uint64_t lit;
	bool first = !g->in_resp;

	if (lf == NULL) {
		if (buf_len(&g->in) <= GUEST_LINE_MAX)
			return 0;
		if (!relaying_untagged(g, p))
			guest_kill(g, "line too long");
		else {
			/* A long untagged answer for the client (SEARCH, SORT
			 * or THREAD of a large mailbox) goes on as it comes,
			 * paced by the client's reading (scan) */
			n = buf_len(&g->in);
			sink_untagged(g, p, n, first);
			g->in_resp = true;
			return n;
		}
		return 0;
	}
	n = (size_t)(lf - p) + 1;
	if (first && !g->ready) {
		greeting(g, p, n);
		return n;
	}
	if (first && g->x != NULL && n > strlen(g->x->tag) &&
	    strncmp(p, g->x->tag, strlen(g->x->tag)) == 0 &&
	    p[strlen(g->x->tag)] == ' ') {
		finish_exchange(g, p, n);
		return n;
	}
	if (first && p[0] == '+') {
		continuation(g, p, n);
		return n;
	}
	if (first && g->c->proxy == g && n >= 13 &&
	    strncmp(p, "* OK [CLOSED]", 13) == 0) {
		selection_revoked(g);
		return n;
	}
	/* The owner's process ends the channel (its server stops): a BYE
	 * is about the channel, never to be passed on as the end of the
	 * client's own connection. */
	if (first && n >= 5 && strncmp(p, "* BYE", 5) == 0) {
		guest_kill(g, "ended by the owner's process");
		return n;
	}
	sink_untagged(g, p, n, first);
	if (literal_at_end(p, n, &lit)) {
		g->lit_left = lit;
		g->in_resp = true;
	} else {
		g->in_resp = false;
		response_end(g);
	}
	return n;
}

static void
scan(struct guest *g)
{
	while (!g->dead && buf_len(&g->in) > 0) {
		if (g->c->proxy == g && client_out_full(g->c)) {
			/* The client reads slowly: stop reading the owner. */
			g->paused = true;
			break;
		}
		if (g->lit_left > 0) {
			size_t n = (size_t)MK_MIN(g->lit_left,
			    (uint64_t)buf_len(&g->in));
			sink(g, buf_ptr(&g->in), n);
			buf_consume(&g->in, n);
			g->lit_left -= n;
			continue;
		}
		size_t n = scan_line(g);
		if (n == 0)
			break;
		if (!g->dead)
			buf_consume(&g->in, n);
	}
}

static void
guest_io(struct ev_io *io, uint32_t revents)
{
	struct guest *g = io->arg;
	struct client *c = g->c;

	if (revents & EPOLLOUT) {
		while (buf_len(&g->out) > 0) {
			ssize_t n = send(g->fd, buf_ptr(&g->out),
			    buf_len(&g->out), MSG_NOSIGNAL);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && errno == EAGAIN)
				break;
			if (n <= 0) {
				guest_kill(g, "write failed");
				return;
			}
			buf_consume(&g->out, (size_t)n);
		}
	}
	if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !g->paused) {
		char tmp[16384];
		ssize_t n = recv(g->fd, tmp, sizeof(tmp), 0);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
			guest_kill(g, "closed by the owner's process");
			client_flush(c);
			return;
		}
		if (n > 0)
			buf_add(&g->in, tmp, (size_t)n);
	}
	scan(g);
	guest_want(g);
	client_flush(c);
}

/* The client's output drained: resume reading what it waits for. */
void
proxy_client_drained(struct client *c)
{
	for (struct guest *g = c->guests; g; g = g->next)
		if (g->paused && !client_out_full(c)) {
			g->paused = false;
			scan(g);
			guest_want(g);
		}
}

/* A line the client typed during a relayed IDLE (its DONE). */
void
proxy_idle_line(struct client *c, const char *line, size_t len)
{
	struct guest *g;

	c->proxy_idle = false;
	/* The channel the IDLE runs on: the selection's, which may have
	 * been closed meanwhile (access revoked) while the IDLE goes on. */
	for (g = c->guests; g != NULL; g = g->next)
		if (!g->dead && g->idle_cont)
			break;
	if (g == NULL)
		return;
	buf_add(&g->out, line, len);
	buf_add(&g->out, "\r\n", 2);
	guest_want(g);
}

/* ---- writing commands for the owner's process ---- */

static void gx_done_swallow(struct guest *g, struct gx *x, const char *s)
{
	(void)g;
	(void)x;
	(void)s;
}

static void
gx_enable(struct guest *g)
{
	unsigned e = g->c->enabled;

	/* The channel still speaks stored names (names.c). */
	if (!(e & (CAP_CONDSTORE | CAP_QRESYNC | CAP_REV2 | CAP_UTF8_ACCEPT)))
		return;
	gx_sendf(g, gx_new(GM_SWALLOW, gx_done_swallow, NULL),
	    "ENABLE%s%s%s%s", (e & CAP_CONDSTORE) ? " CONDSTORE" : "",
	    (e & CAP_QRESYNC) ? " QRESYNC" : "",
	    (e & CAP_REV2) ? " IMAP4rev2" : "",
	    (e & CAP_UTF8_ACCEPT) ? " UTF8=ACCEPT" : "");
}

/* NOTIFY NONE's answer waits for the owner's: once the client has its
 * OK, nothing the owner's session pushed may follow (RFC 5465 3.1).  If
 * the channel died meanwhile, nothing can come from it either. */
static void
notify_none_done(struct guest *g, struct gx *x, const char *status)
{
	struct client *c = g->c;

	(void)x;
	(void)status;
	if (!c->waiting)
		return;
	mk_strlcpy(c->tagged, "OK NOTIFY completed; no more notifications",
	    sizeof(c->tagged));
	client_resume(c);
}

/* NOTIFY's selected filter is the owner's to apply (RFC 5465 SELECTED
 * on a shared mailbox): what its session there sends about the
 * selection is relayed as any unsolicited response (sink).  Its answer
 * to the NOTIFY itself is the owner's business; the untagged responses
 * of its implicit NOOP go to the client.  True when a NOTIFY NONE went
 * to the owner and, with answer, the command waits (RUN_WAIT) for
 * notify_none_done to answer it. */
bool
proxy_notify(struct client *c, bool answer)
{
	struct guest *g = c->proxy;
	const char *sel = notify_selected_group(c);

	if (g == NULL || g->dead)
		return false;
	/* A literal inside (a header field name) can't go as it came. */
	if (sel != NULL && strchr(sel, '{') == NULL) {
		gx_sendf(g, gx_new(GM_RELAY, gx_done_swallow, NULL),
		    "NOTIFY SET %s", sel);
		g->notified = true;
	} else if (g->notified) {
		gx_sendf(g, gx_new(GM_RELAY, answer ? notify_none_done :
		    gx_done_swallow, NULL), "NOTIFY NONE");
		g->notified = false;
		return answer;
	}
	return false;
}

/* A set as the client wrote it ('*' for SEQ_STAR). */
static void
write_set(struct buf *b, const struct seqset *s)
{
	if (s->dollar) {
		buf_addc(b, '$');
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			buf_addc(b, ',');
		if (s->r[i].lo == SEQ_STAR)
			buf_addc(b, '*');
		else
			buf_printf(b, "%u", s->r[i].lo);
		if (s->r[i].hi != s->r[i].lo) {
			if (s->r[i].hi == SEQ_STAR)
				buf_adds(b, ":*");
			else
				buf_printf(b, ":%u", s->r[i].hi);
		}
	}
}

/* The client's own command bytes, without tag, with every literal made
 * non-synchronizing (the owner's process accepts LITERAL+). */
static void
raw_body(struct buf *b, const char *raw, size_t len)
{
	const char *sp = memchr(raw, ' ', len);
	const char *p, *end = raw + len;

	p = sp ? sp + 1 : end;
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t n = lf ? (size_t)(lf - p) + 1 : (size_t)(end - p);
		uint64_t lit;
		if (lf != NULL && literal_at_end(p, n, &lit)) {
			/* Rewrite "{n}" as "{n+}" unless it already is. */
			const char *brace = p + n - 1;
			while (*brace != '}')
				brace--;
			buf_add(b, p, (size_t)(brace - p));
			if (brace[-1] != '+')
				buf_addc(b, '+');
			buf_adds(b, "}\r\n");
			p += n;
			size_t take = (size_t)MK_MIN(lit, (uint64_t)(end - p));
			buf_add(b, p, take);
			p += take;
			continue;
		}
		buf_add(b, p, n);
		p += n;
	}
}

/* ---- relaying a client's command ---- */

/* The command's answer when g's channel could not be had or was lost. */
static void
channel_failed(struct client *c, struct guest *g)
{
	if (g->limited)
		resp_no(c, "[LIMIT] Too many other users' mailboxes are open "
		    "at once; close some sessions and try again");
	else if (g->refused && c->cmd->id == CMD_GETQUOTA)
		resp_no(c, "[NONEXISTENT] No such quota root");
	else if (g->refused)
		resp_no(c, "[NONEXISTENT] Mailbox doesn't exist");
	else
		resp_no(c, "[UNAVAILABLE] %s's mailboxes can't be reached now",
		    g->owner);
}

static void
relay_done(struct guest *g, struct gx *x, const char *status)
{
	struct client *c = g->c;

	(void)x;
	if (status == NULL)
		channel_failed(c, g);
	else
		mk_strlcpy(c->tagged, status, sizeof(c->tagged));
	c->proxy_idle = false;
	client_resume(c);
}

static enum cmd_result
forward(struct client *c, struct guest *g, enum gmode mode, gx_resp_fn resp,
    gx_done_fn done, void *arg, const struct buf *body)
{
	struct gx *x = gx_new(mode, done ? done : relay_done, arg);

	x->on_resp = resp;
	gx_send(g, x, buf_ptr(body), buf_len(body));
	(void)c;
	return RUN_WAIT;
}

static enum cmd_result
forward_raw(struct client *c, struct guest *g, const char *raw, size_t len,
    gx_done_fn done)
{
	struct buf b;
	enum cmd_result r;

	buf_init(&b, 0);
	raw_body(&b, raw, len);
	r = forward(c, g, GM_RELAY, NULL, done, NULL, &b);
	buf_free(&b);
	return r;
}

/* ---- mailbox names in responses ---- */

/* Reads an astring at *pp of r[0..n); its bytes go to out. */
static bool
read_astring(const char **pp, const char *end, struct buf *out)
{
	const char *p = *pp;
	uint64_t len;

	if (p >= end)
		return false;
	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			buf_addc(out, *p);
		}
		if (p >= end)
			return false;
		*pp = p + 1;
		return true;
	}
	if (*p == '{') {
		char *e;
		len = strtoull(p + 1, &e, 10);
		if (*e == '+')
			e++;
		if (*e != '}' || end - e < 3 || (uint64_t)(end - e - 3) < len)
			return false;
		buf_add(out, e + 3, (size_t)len);
		*pp = e + 3 + len;
		return true;
	}
	while (p < end && *p != ' ' && *p != '\r' && *p != ')')
		buf_addc(out, *p++);
	*pp = p;
	return true;
}

/* "* WORD mailbox rest": the mailbox comes back with the prefix. */
static void
rewrite_name(struct guest *g, struct gx *x, const char *r, size_t n)
{
	struct client *c = g->c;
	const char *end = r + n, *p, *sp;
	struct buf name;

	(void)x;
	if (n < 3 || r[0] != '*' || (sp = memchr(r + 2, ' ', n - 2)) == NULL) {
		if (c->proxy == g)
			buf_add(&c->out, r, n);
		return;
	}
	/* Only the responses that name a mailbox first are rewritten. */
	size_t wl = (size_t)(sp - (r + 2));
	static const char *const named[] = { "STATUS", "ACL", "LISTRIGHTS",
	    "MYRIGHTS", "QUOTAROOT", "METADATA" };
	bool hit = false;
	for (size_t i = 0; i < nitems(named); i++)
		hit |= wl == strlen(named[i]) && strncmp(r + 2, named[i], wl) == 0;
	if (!hit) {
		if (c->proxy == g || strncmp(r + 2, "QUOTA ", 6) == 0)
			buf_add(&c->out, r, n);
		return;
	}
	p = sp + 1;
	buf_init(&name, 0);
	if (read_astring(&p, end, &name)) {
		char *full = xasprintf(SHARED_PREFIX "%s/%s", g->owner,
		    buf_cstr(&name));
		buf_add(&c->out, r, (size_t)(sp - r) + 1);
		resp_mailbox(c, &c->out, full);
		buf_add(&c->out, p, (size_t)(end - p));
		free(full);
	}
	buf_free(&name);
}

/* ---- SELECT, and leaving a shared selection ---- */

static void
leave_shared(struct client *c)
{
	struct guest *g = c->proxy;

	if (g == NULL)
		return;
	c->proxy = NULL;
	c->state = CS_AUTH;
	/* The owner's side lets go of the mailbox too. */
	if (!g->dead)
		gx_sendf(g, gx_new(GM_SWALLOW, gx_done_swallow, NULL), "UNSELECT");
}

static void
select_done(struct guest *g, struct gx *x, const char *status)
{
	struct client *c = g->c;

	if (status != NULL && strncmp(status, "OK", 2) == 0) {
		c->proxy = g;
		c->state = CS_SELECTED;
		(void)proxy_notify(c, false);
		if (c->enabled & CAP_REV2) {
			/* RFC 9051 6.3.2's LIST line, in this user's name of
			 * the mailbox (the owner's session sends none). */
			char *full = xasprintf(SHARED_PREFIX "%s/%s", g->owner,
			    g->mailbox);
			buf_adds(&c->out, "* LIST () \"/\" ");
			resp_mailbox(c, &c->out, full);
			buf_adds(&c->out, "\r\n");
			free(full);
		}
	}
	relay_done(g, x, status);
}

static void
unselect_done(struct guest *g, struct gx *x, const char *status)
{
	struct client *c = g->c;

	if (c->proxy == g) {
		c->proxy = NULL;
		c->state = CS_AUTH;
	}
	relay_done(g, x, status);
}

static void
write_select(struct buf *b, const struct imap_cmd *cmd, const char *name)
{
	const struct select_args *a = &cmd->u.select;

	buf_adds(b, cmd->id == CMD_EXAMINE ? "EXAMINE " : "SELECT ");
	imapw_mailbox(b, name);
	if (a->qresync) {
		buf_printf(b, " (QRESYNC (%u %llu", a->uidvalidity,
		    (unsigned long long)a->modseq);
		if (a->has_known_uids) {
			buf_addc(b, ' ');
			write_set(b, &a->known_uids);
		}
		buf_adds(b, "))");
	} else if (a->condstore)
		buf_adds(b, " (CONDSTORE)");
}

static enum cmd_result
shared_select(struct client *c, const char *owner, const char *rest)
{
	struct guest *g;
	struct buf b;
	enum cmd_result r;

	if (c->state == CS_SELECTED && c->proxy == NULL) {
		view_close(c);
		resp_untagged(c, "OK [CLOSED] Previous mailbox closed");
	} else if (c->proxy != NULL) {
		bool same = strcmp(c->proxy->owner, owner) == 0;
		leave_shared(c);
		resp_untagged(c, "OK [CLOSED] Previous mailbox closed");
		(void)same;
	}
	g = guest_get(c, owner);
	mk_strlcpy(g->mailbox, rest, sizeof(g->mailbox));
	buf_init(&b, 0);
	write_select(&b, c->cmd, rest);
	r = forward(c, g, GM_RELAY, NULL, select_done, NULL, &b);
	buf_free(&b);
	return r;
}

/* ---- other commands on a shared name ---- */

static void
write_status_items(struct buf *b, unsigned items)
{
	static const struct { unsigned bit; const char *name; } it[] = {
		{ STATUS_MESSAGES, "MESSAGES" }, { STATUS_RECENT, "RECENT" },
		{ STATUS_UIDNEXT, "UIDNEXT" }, { STATUS_UIDVALIDITY, "UIDVALIDITY" },
		{ STATUS_UNSEEN, "UNSEEN" }, { STATUS_HIGHESTMODSEQ, "HIGHESTMODSEQ" },
		{ STATUS_SIZE, "SIZE" }, { STATUS_DELETED, "DELETED" },
		{ STATUS_DELETED_STORAGE, "DELETED-STORAGE" },
		{ STATUS_APPENDLIMIT, "APPENDLIMIT" },
		{ STATUS_MAILBOXID, "MAILBOXID" },
	};
	const char *sep = "";

	buf_addc(b, '(');
	for (size_t i = 0; i < nitems(it); i++)
		if (items & it[i].bit) {
			buf_printf(b, "%s%s", sep, it[i].name);
			sep = " ";
		}
	buf_addc(b, ')');
}

static void
write_use(struct buf *b, unsigned use)
{
	static const struct { unsigned bit; const char *name; } su[] = {
		{ SPECIAL_USE_ALL, "\\All" }, { SPECIAL_USE_ARCHIVE, "\\Archive" },
		{ SPECIAL_USE_DRAFTS, "\\Drafts" }, { SPECIAL_USE_FLAGGED, "\\Flagged" },
		{ SPECIAL_USE_JUNK, "\\Junk" }, { SPECIAL_USE_SENT, "\\Sent" },
		{ SPECIAL_USE_TRASH, "\\Trash" },
	};
	const char *sep = "";

	if (use == 0)
		return;
	buf_adds(b, " (USE (");
	for (size_t i = 0; i < nitems(su); i++)
		if (use & su[i].bit) {
			buf_printf(b, "%s%s", sep, su[i].name);
			sep = " ";
		}
	buf_adds(b, "))");
}

static void
write_append_msg(struct buf *b, const char *flags, bool has_date,
    const struct mk_time *date, const char *data, size_t len, bool binary,
    bool utf8)
{
	char d[32];

	if (flags != NULL && flags[0] != '\0')
		buf_printf(b, " (%s)", flags);
	if (has_date) {
		imapdate_format_datetime(date, d);
		buf_printf(b, " \"%s\"", d);
	}
	/* RFC 6855's UTF8 item stays one: the client's process checked
	 * that it may send it. */
	buf_printf(b, " %s%s{%zu+}\r\n", utf8 ? "UTF8 (" : "",
	    binary || utf8 ? "~" : "", len);
	buf_add(b, data, len);
	if (utf8)
		buf_addc(b, ')');
}

static char *
join_flags(struct arena *a, const char **flags, size_t n)
{
	struct buf b;
	char *res;

	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addc(&b, ' ');
		buf_adds(&b, flags[i]);
	}
	res = arena_strdup(a, buf_cstr(&b));
	buf_free(&b);
	return res;
}

/* METADATA commands (RFC 5464) on the owner's name of the mailbox. */
static void
write_getmetadata(struct buf *b, const struct getmetadata_args *a,
    const char *rest)
{
	buf_adds(b, "GETMETADATA (");
	if (a->has_maxsize)
		buf_printf(b, "MAXSIZE %u ", a->maxsize);
	if (a->depth == META_DEPTH_INFINITY)
		buf_adds(b, "DEPTH infinity) ");
	else
		buf_printf(b, "DEPTH %u) ", a->depth);
	imapw_mailbox(b, rest);
	buf_adds(b, " (");
	for (size_t i = 0; i < a->nentries; i++) {
		if (i > 0)
			buf_addc(b, ' ');
		imapw_astring(b, a->entries[i]);
	}
	buf_addc(b, ')');
}

static void
write_setmetadata(struct buf *b, const struct setmetadata_args *a,
    const char *rest)
{
	buf_adds(b, "SETMETADATA ");
	imapw_mailbox(b, rest);
	buf_adds(b, " (");
	for (size_t i = 0; i < a->nentries; i++) {
		const struct meta_entry *e = &a->entries[i];
		if (i > 0)
			buf_addc(b, ' ');
		imapw_astring(b, e->name);
		if (e->value == NULL)
			buf_adds(b, " NIL");
		else {
			/* Any bytes, NUL too: a non-synchronizing literal8. */
			buf_printf(b, " ~{%zu+}\r\n", e->len);
			buf_add(b, e->value, e->len);
		}
	}
	buf_addc(b, ')');
}

/* Builds the owner-side form of an authenticated-state command whose
 * mailbox argument is shared; false if the command can't be forwarded. */
static bool
write_named(struct client *c, struct buf *b, const char *rest,
    enum gmode *mode)
{
	const struct imap_cmd *cmd = c->cmd;

	*mode = GM_RELAY;
	switch (cmd->id) {
	case CMD_STATUS:
		buf_adds(b, "STATUS ");
		imapw_mailbox(b, rest);
		buf_addc(b, ' ');
		write_status_items(b, cmd->u.status.items);
		*mode = GM_COLLECT;
		return true;
	case CMD_CREATE:
		buf_adds(b, "CREATE ");
		imapw_mailbox(b, rest);
		write_use(b, cmd->u.create.use);
		return true;
	case CMD_DELETE:
	case CMD_GETQUOTAROOT:
	case CMD_GETACL:
	case CMD_MYRIGHTS:
		buf_printf(b, "%s ", cmd->name);
		imapw_mailbox(b, rest);
		*mode = cmd->id == CMD_DELETE ? GM_RELAY : GM_COLLECT;
		return true;
	case CMD_SETACL:
	case CMD_DELETEACL:
	case CMD_LISTRIGHTS:
		buf_printf(b, "%s ", cmd->name);
		imapw_mailbox(b, rest);
		buf_addc(b, ' ');
		imapw_astring(b, cmd->u.acl.identifier);
		if (cmd->id == CMD_SETACL) {
			buf_addc(b, ' ');
			imapw_astring(b, cmd->u.acl.rights);
		}
		*mode = cmd->id == CMD_LISTRIGHTS ? GM_COLLECT : GM_RELAY;
		return true;
	case CMD_APPEND:
		buf_adds(b, "APPEND ");
		imapw_mailbox(b, rest);
		for (const struct append_msg *m = cmd->u.append.msgs; m; m = m->next)
			write_append_msg(b, join_flags(&c->arena, m->flags,
			    m->nflags), m->has_date, &m->date, m->data, m->len,
			    m->binary, m->utf8);
		return true;
	case CMD_GETMETADATA:
		write_getmetadata(b, &cmd->u.getmeta, rest);
		*mode = GM_COLLECT;
		return true;
	case CMD_SETMETADATA:
		write_setmetadata(b, &cmd->u.setmeta, rest);
		return true;
	default:
		return false;
	}
}

static const char *
cmd_mailbox_arg(const struct imap_cmd *cmd)
{
	switch (cmd->id) {
	case CMD_SELECT:
	case CMD_EXAMINE:
		return cmd->u.select.mailbox;
	case CMD_STATUS:
		return cmd->u.status.mailbox;
	case CMD_CREATE:
		return cmd->u.create.mailbox;
	case CMD_DELETE:
	case CMD_GETQUOTAROOT:
	case CMD_GETACL:
	case CMD_MYRIGHTS:
		return cmd->u.mbox.mailbox;
	case CMD_SETACL:
	case CMD_DELETEACL:
	case CMD_LISTRIGHTS:
		return cmd->u.acl.mailbox;
	case CMD_APPEND:
		return cmd->u.append.mailbox;
	case CMD_GETMETADATA:
		return cmd->u.getmeta.mailbox;
	case CMD_SETMETADATA:
		return cmd->u.setmeta.mailbox;
	case CMD_RENAME:
		return cmd->u.rename.from;
	default:
		return NULL;
	}
}

static enum cmd_result
shared_named(struct client *c, const char *owner, const char *rest)
{
	struct guest *g;
	enum gmode mode;
	struct buf b;
	enum cmd_result r;

	if (c->cmd->id == CMD_SELECT || c->cmd->id == CMD_EXAMINE)
		return shared_select(c, owner, rest);
	buf_init(&b, 0);
	if (c->cmd->id == CMD_RENAME) {
		char towner[MK_USER_MAX];
		const char *trest;
		if (!shared_name(c->cmd->u.rename.to, towner, sizeof(towner),
		    &trest) || strcmp(towner, owner) != 0) {
			buf_free(&b);
			return resp_no(c, "[CANNOT] A mailbox can't be renamed "
			    "into another user's mailboxes");
		}
		buf_adds(&b, "RENAME ");
		imapw_mailbox(&b, rest);
		buf_addc(&b, ' ');
		imapw_mailbox(&b, trest);
		mode = GM_RELAY;
	} else if (!write_named(c, &b, rest, &mode)) {
		buf_free(&b);
		return resp_no(c, "[CANNOT] %s is not available on shared mailboxes",
		    c->cmd->name);
	}
	g = guest_get(c, owner);
	r = forward(c, g, mode, mode == GM_COLLECT ? rewrite_name : NULL, NULL,
	    NULL, &b);
	buf_free(&b);
	return r;
}

/* ---- LIST, LSUB: what others share (asked of the master) ---- */

/*
 * The master's answer is kept for the next LIST or LSUB (of any session
 * of the user) until the master says it is stale: it sends
 * IPC_MBOX_SHARES_STALE to a grantee's process before the granting
 * owner's SHARE_DONE (so before that SETACL's OK), and to every process
 * when the directory changed under it (daemon/master/requests.c).  A
 * notice not yet read is in the channel: LIST asks the master then, and
 * the answer comes after the notice.  (A notice the master could not
 * yet write, because this process left its socket full, is the one
 * case missed; it is read before the next.)
 * Only whole answers of at most SHARES_KEEP_MAX entries are kept.
 */
#define SHARES_KEEP_MAX 256

void
shares_forget(struct user *u)
{
	for (size_t i = 0; i < u->nkept_shares; i++) {
		free((char *)u->kept_shares[i].owner);
		free((char *)u->kept_shares[i].mailbox);
		free((char *)u->kept_shares[i].rights);
	}
	free(u->kept_shares);
	u->kept_shares = NULL;
	u->nkept_shares = 0;
	u->shares_kept = false;
}

static void
shares_keep(struct user *u, const struct share_entry *e, size_t n)
{
	shares_forget(u);
	if (n > SHARES_KEEP_MAX)
		return;
	u->kept_shares = n > 0 ? xreallocarray(NULL, n, sizeof(*e)) : NULL;
	for (size_t i = 0; i < n; i++) {
		u->kept_shares[i].owner = xstrdup(e[i].owner);
		u->kept_shares[i].mailbox = xstrdup(e[i].mailbox);
		u->kept_shares[i].rights = xstrdup(e[i].rights);
	}
	u->nkept_shares = n;
	u->shares_kept = true;
}

/* Is a message from the master waiting (a notice among them)? */
static bool
master_waiting(struct user *u)
{
	struct pollfd p = { .fd = ipc_chan_fd(u->master), .events = POLLIN };

	return poll(&p, 1, 0) != 0;
}

static enum cmd_result
ask_shares(struct client *c)
{
	struct ipc_msg m;

	c->shares = NULL;
	c->nshares = c->shares_cap = c->shares_total = 0;
	if (c->user->shares_kept && !master_waiting(c->user)) {
		enum cmd_result r;
		c->shares = c->user->kept_shares;
		c->nshares = c->user->nkept_shares;
		r = cmd_list(c);
		c->shares = NULL;
		c->nshares = 0;
		return r;
	}
	c->shares_req = ++c->user->next_req;
	ipc_msg_init(&m, IPC_MBOX_SHARES);
	ipc_put_u64(&m, c->shares_req);
	if (ipc_chan_send(c->user->master, &m) == -1) {
		c->shares_req = 0;
		return resp_no(c, "[UNAVAILABLE] Shared mailboxes can't be "
		    "listed now");
	}
	return RUN_WAIT;
}

/* One page of the master's answer (ipc.h): entries are added to the
 * session's list until the page that says no more follow. */
void
shares_result(struct user *u, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	uint8_t more = ipc_get_u8(r);
	uint32_t n = ipc_get_u32(r);
	struct client *c = NULL;

	for (struct client *x = u->clients; x; x = x->next)
		if (x->waiting && x->shares_req == id)
			c = x;
	/* Each entry takes at least 15 bytes on the wire (three lengths
	 * and NULs): a larger n cannot be in one message. */
	if (n > IPC_MAX_MSG / 15)
		fatalx("malformed SHARES_RESULT from the master");
	if (c == NULL) {
		/* Read to the end anyway: the master's message is trusted. */
		for (uint32_t i = 0; i < n && !r->bad; i++) {
			ipc_get_str(r);
			ipc_get_str(r);
			ipc_get_str(r);
		}
		if (!ipc_end(r))
			fatalx("malformed SHARES_RESULT from the master");
		return;
	}
	if (c->nshares + n + 1 > c->shares_cap) {
		size_t cap = MK_MAX(c->shares_cap * 2, c->nshares + n + 1);
		struct share_entry *v = arena_array(&c->arena, cap, sizeof(*v));
		if (v != NULL && c->nshares > 0)
			memcpy(v, c->shares, c->nshares * sizeof(*v));
		c->shares = v;
		c->shares_cap = v != NULL ? cap : 0;
		if (v == NULL)
			c->nshares = 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		const char *owner = ipc_get_str(r);
		const char *mailbox = ipc_get_str(r);
		const char *rights = ipc_get_str(r);
		c->shares_total++;
		if (c->shares == NULL)
			continue;	/* over the arena's ceiling: read on */
		struct share_entry *e = &c->shares[c->nshares];
		e->owner = arena_strdup(&c->arena, owner);
		e->mailbox = arena_strdup(&c->arena, mailbox);
		e->rights = arena_strdup(&c->arena, rights);
		if (e->owner && e->mailbox && e->rights)
			c->nshares++;
	}
	if (!ipc_end(r) || more > IPC_SHARES_CUT)
		fatalx("malformed SHARES_RESULT from the master");
	if (more == IPC_SHARES_MORE)
		return;
	c->shares_req = 0;
	/* Kept only whole: every entry read, none left out. */
	if (more == IPC_SHARES_LAST && c->shares != NULL &&
	    c->nshares == c->shares_total)
		shares_keep(c->user, c->shares, c->nshares);
	cmd_list(c);
	client_resume(c);
}

/* ---- copies between stores ---- */

struct xmsg {
	uint32_t       uid;		/* in the source */
	char          *flags;		/* "\Seen $Label", without parentheses */
	bool           has_date;
	struct mk_time date;
	char          *data;
	size_t         len;
};

struct xcopy {
	struct client *c;
	bool           move;
	struct xmsg   *m;
	size_t         n, cap;
	uint64_t       bytes, max;
	bool           toobig;
	struct guest  *src;		/* NULL: the local selected mailbox */
	struct guest  *dst;		/* NULL: a mailbox of our own */
	char           dst_name[MK_MBOX_NAME_MAX];	/* in the target's store */
	uint32_t       dst_validity;
	uint32_t      *newuids;
	char           copyuid[512];
	bool           may_remove;	/* MOVE: "t" and "e" on the source */
};

static void
xcopy_free(struct xcopy *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->m[i].flags);
		free(x->m[i].data);
	}
	free(x->m);
	free(x->newuids);
	free(x);
}

static struct xmsg *
xcopy_add(struct xcopy *x, size_t len)
{
	if (x->bytes + len > x->max) {
		x->toobig = true;
		return NULL;
	}
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 16;
		x->m = xreallocarray(x->m, x->cap, sizeof(*x->m));
	}
	x->bytes += len;
	memset(&x->m[x->n], 0, sizeof(x->m[x->n]));
	return &x->m[x->n++];
}

static void
fail_copy(struct xcopy *x, const char *status)
{
	struct client *c = x->c;
	struct guest *g = x->dst != NULL && x->dst->dead ? x->dst : x->src;

	if (status == NULL && g != NULL)
		channel_failed(c, g);
	else if (status == NULL)
		resp_no(c, "[UNAVAILABLE] The shared mailbox can't be reached now");
	else
		mk_strlcpy(c->tagged, status, sizeof(c->tagged));
	xcopy_free(x);
	client_resume(c);
}

/* Formats a COPYUID code: source UIDs in order, then their copies. */
static void
set_copyuid(struct xcopy *x)
{
	struct buf b;

	buf_init(&b, 0);
	buf_printf(&b, "COPYUID %u ", x->dst_validity);
	for (int side = 0; side < 2; side++) {
		for (size_t i = 0; i < x->n; i++) {
			uint32_t v = side ? x->newuids[i] : x->m[i].uid;
			uint32_t prev = i ? (side ? x->newuids[i - 1] :
			    x->m[i - 1].uid) : 0;
			bool run_next = i + 1 < x->n && (side ? x->newuids[i + 1] :
			    x->m[i + 1].uid) == v + 1;
			if (i > 0 && prev + 1 == v && run_next)
				continue;
			if (i > 0 && prev + 1 == v)
				buf_printf(&b, ":%u", v);
			else
				buf_printf(&b, "%s%u", i ? "," : "", v);
		}
		if (side == 0)
			buf_addc(&b, ' ');
	}
	mk_strlcpy(x->copyuid, buf_cstr(&b), sizeof(x->copyuid));
	buf_free(&b);
}

static void xcopy_removed(struct guest *g, struct gx *gx, const char *status);

/* The copies exist: answer COPY, or for MOVE remove the originals. */
static void
xcopy_copied(struct xcopy *x)
{
	struct client *c = x->c;
	struct buf b;

	set_copyuid(x);
	if (!x->move) {
		resp_ok(c, "[%s] COPY completed", x->copyuid);
		xcopy_free(x);
		client_resume(c);
		return;
	}
	/* RFC 6851 4.3: COPYUID comes before the expunges. */
	resp_untagged(c, "OK [%s] Moved", x->copyuid);
	if (x->src == NULL) {
		struct mbox *m = &c->view.ms->m;
		uint32_t *uids = xreallocarray(NULL, x->n + 1, sizeof(*uids));
		uint64_t before = m->highestmodseq;
		struct ghost_batch gb;
		for (size_t i = 0; i < x->n; i++)
			uids[i] = x->m[i].uid;
		if (ghost_expunge(c, uids, x->n, &gb) == 0) {
			ghosts_take(c->user, &gb);
			expunge_report(c, uids, x->n);
			mbox_changed(c->user, m->id);
			view_own_change(c, before, m->highestmodseq);
			resp_ok(c, "MOVE completed");
		} else {
			ghost_batch_free(&gb);
			resp_no(c, "[SERVERBUG] Copied, but the originals "
			    "could not be removed");
		}
		free(uids);
		xcopy_free(x);
		client_resume(c);
		return;
	}
	buf_init(&b, 0);
	buf_adds(&b, "UID STORE ");
	for (size_t i = 0; i < x->n; i++)
		buf_printf(&b, "%s%u", i ? "," : "", x->m[i].uid);
	buf_adds(&b, " +FLAGS.SILENT (\\Deleted)");
	gx_send(x->src, gx_new(GM_SWALLOW, gx_done_swallow, NULL),
	    buf_ptr(&b), buf_len(&b));
	buf_reset(&b);
	buf_adds(&b, "UID EXPUNGE ");
	for (size_t i = 0; i < x->n; i++)
		buf_printf(&b, "%s%u", i ? "," : "", x->m[i].uid);
	/* The expunges are about the client's mailbox: relayed. */
	gx_send(x->src, gx_new(GM_RELAY, xcopy_removed, x), buf_ptr(&b),
	    buf_len(&b));
	buf_free(&b);
}

static void
xcopy_removed(struct guest *g, struct gx *gx, const char *status)
{
	struct xcopy *x = gx->arg;
	struct client *c = x->c;

	(void)g;
	if (status != NULL && strncmp(status, "OK", 2) == 0)
		resp_ok(c, "MOVE completed");
	else
		resp_no(c, "[NOPERM] Copied, but the originals could not be "
		    "removed: %s", status ? status : "channel lost");
	xcopy_free(x);
	client_resume(c);
}

/* Into a mailbox of our own: one transaction, quota checked in it. */
static void
write_local(struct xcopy *x)
{
	struct client *c = x->c;
	struct user *u = c->user;
	struct mbox m;
	int rc = store_mbox_find(u->store, x->dst_name, &m);

	if (rc == 0 && (m.flags & MBOX_NOSELECT))
		rc = MK_NOTFOUND;
	if (rc != 0) {
		fail_copy(x, rc == MK_NOTFOUND ? "NO [TRYCREATE] No such mailbox" :
		    "NO [SERVERBUG] Copy failed");
		return;
	}
	x->dst_validity = m.uidvalidity;
	x->newuids = xreallocarray(NULL, x->n + 1, sizeof(*x->newuids));
	if ((rc = store_begin(u->store)) != 0) {
		fail_copy(x, "NO [INUSE] Mailbox busy, try again");
		return;
	}
	if ((rc = quota_check(c, x->bytes, x->n)) != 0) {
		store_rollback(u->store);
		fail_copy(x, rc == 1 ? "NO [OVERQUOTA] Quota exceeded; nothing "
		    "was copied" : "NO [SERVERBUG] Copy failed");
		return;
	}
	for (size_t i = 0; rc == 0 && i < x->n; i++) {
		const char *fl[64];
		size_t nf = 0;
		char *save = NULL, *copy = xstrdup(x->m[i].flags);
		for (char *t = strtok_r(copy, " ", &save); t && nf < nitems(fl);
		    t = strtok_r(NULL, " ", &save))
			if (!str_ieq(t, "\\Recent"))
				fl[nf++] = arena_strdup(&c->arena, t);
		struct msg_new nm = { .data = x->m[i].data, .len = x->m[i].len };
		nm.internaldate = x->m[i].date;
		if (!x->m[i].has_date) {
			nm.internaldate.t = time(NULL);
			nm.internaldate.tz = 0;
		}
		rc = flags_parse(c, &m, fl, nf, &nm.flags, &nm.keywords, false);
		free(copy);
		if (rc == 0)
			rc = store_msg_append(u->store, &m, &nm, &x->newuids[i]);
	}
	if (rc == 0)
		rc = store_commit(u->store);
	if (rc != 0) {
		store_rollback(u->store);
		c->tagged[0] = '\0';
		fail_copy(x, "NO [SERVERBUG] Copy failed; nothing was copied");
		return;
	}
	mbox_changed(u, m.id);
	xcopy_copied(x);
}

static void
appended_remote(struct guest *g, struct gx *gx, const char *status)
{
	struct xcopy *x = gx->arg;
	const char *p;
	char *e;

	(void)g;
	if (status == NULL || strncmp(status, "OK", 2) != 0) {
		fail_copy(x, status);
		return;
	}
	/* "OK [APPENDUID validity uid-set]" gives the copies' UIDs. */
	if ((p = strstr(status, "[APPENDUID ")) == NULL) {
		fail_copy(x, "NO [SERVERBUG] No APPENDUID from the owner");
		return;
	}
	x->dst_validity = (uint32_t)strtoul(p + 11, &e, 10);
	x->newuids = xreallocarray(NULL, x->n + 1, sizeof(*x->newuids));
	size_t k = 0;
	p = e;
	while (*p == ' ' || *p == ',') {
		uint32_t lo = (uint32_t)strtoul(p + 1, &e, 10), hi = lo;
		if (*e == ':')
			hi = (uint32_t)strtoul(e + 1, &e, 10);
		for (uint32_t v = lo; v <= hi && k < x->n; v++)
			x->newuids[k++] = v;
		p = e;
	}
	if (k != x->n) {
		fail_copy(x, "NO [SERVERBUG] Unexpected APPENDUID from the owner");
		return;
	}
	xcopy_copied(x);
}

/* Into another user's mailbox: one APPEND of every message (MULTIAPPEND,
 * so the owner stores all or none). */
static void
write_remote(struct xcopy *x)
{
	struct buf b;

	buf_init(&b, 0);
	buf_adds(&b, "APPEND ");
	imapw_mailbox(&b, x->dst_name);
	for (size_t i = 0; i < x->n; i++)
		write_append_msg(&b, x->m[i].flags, x->m[i].has_date,
		    &x->m[i].date, x->m[i].data, x->m[i].len, false, false);
	gx_send(x->dst, gx_new(GM_RELAY, appended_remote, x), buf_ptr(&b),
	    buf_len(&b));
	buf_free(&b);
}

static void
write_target(struct xcopy *x)
{
	if (x->toobig) {
		fail_copy(x, "NO [LIMIT] Too much to copy at once; copy fewer "
		    "messages");
		return;
	}
	if (x->n == 0) {
		fail_copy(x, x->move ? "OK MOVE completed" : "OK COPY completed");
		return;
	}
	/* The target's channel was refused or lost while the messages were
	 * read: nothing would ever answer an APPEND queued on it. */
	if (x->dst != NULL && x->dst->dead) {
		fail_copy(x, NULL);
		return;
	}
	if (x->dst == NULL)
		write_local(x);
	else
		write_remote(x);
}

/* --- reading from the owner's process: a FETCH --- */

/* One FETCH item's value: a number, (list), "quoted", {literal}, NIL or
 * an atom.  *out gets the bytes (list without its outer parentheses). */
static bool
fetch_value(const char **pp, const char *end, struct buf *out)
{
	const char *p = *pp;

	if (p >= end)
		return false;
	if (*p == '(') {
		int depth = 0;
		const char *s = p + 1;
		for (; p < end; p++) {
			if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0)
				break;
		}
		if (p >= end)
			return false;
		buf_add(out, s, (size_t)(p - s));
		*pp = p + 1;
		return true;
	}
	return read_astring(pp, end, out);
}

static void
fetched_one(struct guest *g, struct gx *gx, const char *r, size_t n)
{
	struct xcopy *x = gx->arg;
	const char *end = r + n, *p;
	struct buf name, val;
	struct xmsg tmp = { 0 }, *m;
	char *data = NULL;
	size_t dlen = 0;

	if (n < 10 || (p = memmem(r, n, " FETCH (", 8)) == NULL) {
		if (g->c->proxy == g)	/* e.g. EXISTS: the client's business */
			buf_add(&g->c->out, r, n);
		return;
	}
	p += 8;
	buf_init(&name, 0);
	buf_init(&val, 0);
	while (p < end && *p != ')') {
		buf_reset(&name);
		buf_reset(&val);
		while (p < end && *p != ' ')
			buf_addc(&name, *p++);
		p++;
		if (!fetch_value(&p, end, &val))
			break;
		const char *nm = buf_cstr(&name);
		if (strcmp(nm, "UID") == 0)
			tmp.uid = (uint32_t)strtoul(buf_cstr(&val), NULL, 10);
		else if (strcmp(nm, "FLAGS") == 0)
			tmp.flags = xstrdup(buf_cstr(&val));
		else if (strcmp(nm, "INTERNALDATE") == 0)
			tmp.has_date = imapdate_parse_datetime(buf_ptr(&val),
			    buf_len(&val), &tmp.date) == 0;
		else if (strncmp(nm, "BODY[]", 6) == 0) {
			dlen = buf_len(&val);
			data = xmalloc(dlen + 1);
			memcpy(data, buf_ptr(&val), dlen);
		}
		if (p < end && *p == ' ')
			p++;
	}
	buf_free(&name);
	buf_free(&val);
	if (data == NULL || tmp.uid == 0 || (m = xcopy_add(x, dlen)) == NULL) {
		free(data);
		free(tmp.flags);
		return;
	}
	*m = tmp;
	if (m->flags == NULL)
		m->flags = xstrdup("");
	m->data = data;
	m->len = dlen;
}

static void
fetched_all(struct guest *g, struct gx *gx, const char *status)
{
	struct xcopy *x = gx->arg;

	(void)g;
	if (status == NULL || strncmp(status, "OK", 2) != 0) {
		fail_copy(x, status);
		return;
	}
	write_target(x);
}

/* --- reading from our own selected mailbox --- */

struct local_read {
	struct xcopy  *x;
	struct client *c;
	int            rc;
};

static int
read_local_msg(const struct msg_row *r, void *arg)
{
	struct local_read *lr = arg;
	struct store_body *b;
	uint64_t size;
	struct xmsg *m;
	struct buf fl;

	if ((m = xcopy_add(lr->x, (size_t)r->size)) == NULL)
		return 1;
	m->uid = r->uid;
	m->has_date = true;
	m->date = r->internaldate;
	buf_init(&fl, 0);
	resp_flags(&fl, view_flags(lr->c, r), r->keywords, false);
	/* resp_flags wrote "(...)": keep what is inside. */
	m->flags = xmemdup0(buf_ptr(&fl) + 1, buf_len(&fl) - 2);
	buf_free(&fl);
	if (store_body_open(lr->c->user->store, r->body_id, &b, &size) != 0) {
		lr->rc = -1;
		return 1;
	}
	m->data = xmalloc((size_t)size + 1);
	m->len = (size_t)size;
	lr->rc = store_body_read(b, 0, m->data, (size_t)size);
	store_body_close(b);
	return lr->rc;
}

/* Reads the messages from the owner's process (the shared selection). */
static void
fetch_source(struct xcopy *x)
{
	struct client *c = x->c;
	const struct imap_cmd *cmd = c->cmd;
	struct gx *gx = gx_new(GM_COLLECT, fetched_all, x);
	struct buf b;

	gx->on_resp = fetched_one;
	gx->collect_max = (size_t)c->user->cfg->max_message + 65536;
	buf_init(&b, 0);
	buf_adds(&b, cmd->uid ? "UID FETCH " : "FETCH ");
	write_set(&b, &cmd->u.copy.set);
	buf_adds(&b, " (UID FLAGS INTERNALDATE BODY.PEEK[])");
	gx_send(x->src, gx, buf_ptr(&b), buf_len(&b));
	buf_free(&b);
}

/* "* MYRIGHTS name rights" about the shared selection. */
static void
move_rights_resp(struct guest *g, struct gx *gx, const char *r, size_t n)
{
	struct xcopy *x = gx->arg;
	const char *p = r + 11, *end = r + n;
	struct buf name;
	unsigned rights = 0;
	bool ok;

	if (n < 11 || strncmp(r, "* MYRIGHTS ", 11) != 0) {
		if (g->c->proxy == g)	/* e.g. EXISTS: the client's business */
			buf_add(&g->c->out, r, n);
		return;
	}
	buf_init(&name, 0);
	if (read_astring(&p, end, &name) && p < end && *p == ' ') {
		char *text = xmemdup0(p + 1, (size_t)(end - p - 1));
		text[strcspn(text, "\r\n")] = '\0';
		rights = rights_parse(text, &ok);
		free(text);
	}
	buf_free(&name);
	x->may_remove = (rights & (RT_T | RT_E)) == (RT_T | RT_E);
}

static void
move_rights_done(struct guest *g, struct gx *gx, const char *status)
{
	struct xcopy *x = gx->arg;

	(void)g;
	if (status == NULL) {
		fail_copy(x, NULL);
		return;
	}
	if (strncmp(status, "OK", 2) != 0 || !x->may_remove) {
		fail_copy(x, "NO [NOPERM] MOVE needs the \"t\" and \"e\" rights "
		    "on this mailbox");
		return;
	}
	fetch_source(x);
}

/* COPY or MOVE whose source or target is another user's mailbox. */
static enum cmd_result
cross_copy(struct client *c, struct guest *dst, const char *dst_name)
{
	const struct imap_cmd *cmd = c->cmd;
	struct xcopy *x = xcalloc(1, sizeof(*x));

	x->c = c;
	x->move = cmd->id == CMD_MOVE;
	x->src = c->proxy;
	x->dst = dst;
	x->max = 4 * (uint64_t)c->user->cfg->max_message;
	mk_strlcpy(x->dst_name, dst_name, sizeof(x->dst_name));
	if (x->src != NULL && x->move) {
		/* The originals go only if the grantee may remove them, as a
		 * MOVE within one store checks: ask before copying anything,
		 * so a refusal leaves no copy behind. */
		struct gx *gx = gx_new(GM_COLLECT, move_rights_done, x);
		struct buf b;
		gx->on_resp = move_rights_resp;
		buf_init(&b, 0);
		buf_adds(&b, "MYRIGHTS ");
		imapw_mailbox(&b, x->src->mailbox);
		gx_send(x->src, gx, buf_ptr(&b), buf_len(&b));
		buf_free(&b);
		return RUN_WAIT;
	}
	if (x->src != NULL) {
		fetch_source(x);
		return RUN_WAIT;
	}
	/* Our own selected mailbox to someone else's. */
	struct seqset uidset, inview;
	struct local_read lr = { .x = x, .c = c };
	uint32_t *uids;
	size_t n;

	if (x->move && c->view.readonly) {
		xcopy_free(x);
		return resp_no(c, "[READ-ONLY] Mailbox is read-only");
	}
	if (view_uidset(c, &cmd->u.copy.set, cmd->uid, &uidset) != 0) {
		xcopy_free(x);
		return resp_bad(c, "Invalid message sequence number");
	}
	n = view_uids_in(c, &uidset, &uids);
	seqset_from_sorted(&c->arena, uids, n, &inview);
	if (n > 0 && store_msg_foreach(c->user->store, &c->view.ms->m, &inview,
	    read_local_msg, &lr) != 0 && lr.rc != 0) {
		xcopy_free(x);
		return resp_store_error(c, -1, cmd->name);
	}
	write_target(x);
	return RUN_WAIT;
}

/* ---- the router ---- */

/* Selected-state commands relayed as the client wrote them. */
static bool
relayed_in_selection(enum imap_cmd_id id)
{
	switch (id) {
	case CMD_FETCH: case CMD_STORE: case CMD_SEARCH: case CMD_EXPUNGE:
	case CMD_SORT: case CMD_THREAD:
	case CMD_CHECK: case CMD_NOOP: case CMD_IDLE:
		return true;
	default:
		return false;
	}
}

/* RFC 5267 4.3.1: no update contexts on another user's mailbox (the
 * owner's process would send them under the channel's tags); the owner's
 * side keeps none for a guest session (context_add), the client is told
 * here, and the command's other return options are answered. */
static void
update_refused(struct client *c)
{
	const struct imap_cmd *cmd = c->cmd;
	unsigned ret = cmd->id == CMD_SEARCH ? cmd->u.search.ret :
	    cmd->id == CMD_SORT ? cmd->u.sort.ret : 0;

	if (ret & SEARCH_RET_UPDATE)
		resp_untagged(c, "NO [NOUPDATE \"%s\"] Updates are not "
		    "available for other users' mailboxes", cmd->tag);
}

static enum cmd_result
copy_command(struct client *c, const char *raw, size_t len)
{
	const char *target = c->cmd->u.copy.mailbox, *trest;
	char towner[MK_USER_MAX], name[MK_MBOX_NAME_MAX];
	bool shared = shared_name(target, towner, sizeof(towner), &trest);

	if (c->proxy != NULL && shared && strcmp(towner, c->proxy->owner) == 0) {
		/* Within one owner's mailboxes: the owner copies. */
		struct buf b;
		enum cmd_result r;
		buf_init(&b, 0);
		buf_printf(&b, "%s%s ", c->cmd->uid ? "UID " : "", c->cmd->name);
		write_set(&b, &c->cmd->u.copy.set);
		buf_addc(&b, ' ');
		imapw_mailbox(&b, trest);
		r = forward(c, c->proxy, GM_RELAY, NULL, NULL, NULL, &b);
		buf_free(&b);
		(void)raw;
		(void)len;
		return r;
	}
	if (shared)
		return cross_copy(c, guest_get(c, towner), trest);
	if (shared_placeholder(target))
		return resp_no(c, "[CANNOT] %s holds no messages", target);
	if (store_mbox_canon(target, name, sizeof(name)) != 0)
		return resp_no(c, "[CANNOT] Invalid mailbox name");
	return cross_copy(c, NULL, name);
}

int
proxy_command(struct client *c, const char *raw, size_t len,
    enum cmd_result *res)
{
	const struct imap_cmd *cmd = c->cmd;
	const char *name, *rest;
	char owner[MK_USER_MAX];

	/* A guest session is the owner's side: nothing to route. */
	if (client_is_guest(c))
		return 0;
	if (c->proxy != NULL) {
		if (relayed_in_selection(cmd->id)) {
			update_refused(c);
			*res = forward_raw(c, c->proxy, raw, len, NULL);
			return 1;
		}
		if (cmd->id == CMD_CLOSE || cmd->id == CMD_UNSELECT) {
			*res = forward_raw(c, c->proxy, raw, len, unselect_done);
			return 1;
		}
		if (cmd->id == CMD_COPY || cmd->id == CMD_MOVE) {
			*res = copy_command(c, raw, len);
			return 1;
		}
		if (cmd->id == CMD_LOGOUT)
			leave_shared(c);
		if ((cmd->id == CMD_SELECT || cmd->id == CMD_EXAMINE) &&
		    !shared_name(cmd->u.select.mailbox, owner, sizeof(owner),
		    &rest)) {
			leave_shared(c);
			resp_untagged(c, "OK [CLOSED] Previous mailbox closed");
		}
	} else if ((cmd->id == CMD_COPY || cmd->id == CMD_MOVE) &&
	    shared_name(cmd->u.copy.mailbox, owner, sizeof(owner), &rest)) {
		*res = cross_copy(c, guest_get(c, owner), rest);
		return 1;
	}
	switch (cmd->id) {
	case CMD_ENABLE:
		/* Turned on here, then on every channel (and on new ones). */
		return 0;
	case CMD_GENURLAUTH:
	case CMD_RESETKEY:
		return urlauth_route(c, raw, len, res);
	case CMD_LIST:
	case CMD_LSUB:
		*res = ask_shares(c);
		return 1;
	case CMD_GETQUOTA:
		if (strncmp(cmd->u.getquota.root, "user/", 5) == 0 &&
		    !str_ieq(cmd->u.getquota.root + 5, c->user->name)) {
			struct guest *g = guest_get(c, cmd->u.getquota.root + 5);
			struct buf b;
			char *root = xasprintf("user/%s", g->owner);
			buf_init(&b, 0);
			buf_adds(&b, "GETQUOTA ");
			/* The root in the owner's spelling: "user/ALICE" is
			 * alice's, as the channel is. */
			imapw_cstring(&b, root);
			free(root);
			*res = forward(c, g, GM_RELAY, NULL, NULL, NULL, &b);
			buf_free(&b);
			return 1;
		}
		return 0;
	default:
		break;
	}
	if ((name = cmd_mailbox_arg(cmd)) == NULL)
		return 0;
	if (shared_name(name, owner, sizeof(owner), &rest)) {
		*res = shared_named(c, owner, rest);
		return 1;
	}
	if (shared_placeholder(name) ||
	    (cmd->id == CMD_RENAME && (shared_placeholder(cmd->u.rename.to) ||
	    strncmp(cmd->u.rename.to, SHARED_PREFIX, SHARED_PREFIX_LEN) == 0))) {
		*res = resp_no(c, "[CANNOT] \"Other Users\" holds other users' "
		    "mailboxes, not yours");
		return 1;
	}
	return 0;
}

/* ENABLE reaches the channels already open. */
void
proxy_enabled(struct client *c)
{
	for (struct guest *g = c->guests; g; g = g->next)
		if (!g->dead)
			gx_enable(g);
}

/* ---- URLAUTH (cmd_urlauth.c) ---- */

enum cmd_result
proxy_forward(struct client *c, const char *owner, const char *raw,
    size_t len)
{
	return forward_raw(c, guest_get(c, owner), raw, len, NULL);
}

static void
urlfetch_done(struct guest *g, struct gx *x, const char *status)
{
	(void)x;
	urlfetch_next(g->c, status != NULL && strncmp(status, "OK", 2) == 0);
}

void
proxy_urlfetch(struct client *c, const char *owner, const struct buf *body)
{
	struct guest *g = guest_open(c, owner, true);

	forward(c, g, GM_RELAY, NULL, urlfetch_done, NULL, body);
}
