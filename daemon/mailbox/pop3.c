/*
 * pop3.c - a POP3 session (RFC 1939) in the user's mailbox process: the
 * TRANSACTION and UPDATE states, after the login process handed the
 * connection over (IPC_MBOX_SESSION with proto MK_PROTO_POP3).
 *
 * A POP3 session is a struct client like an IMAP one - the same
 * buffers, flushing, back-pressure, timers and tear-down (client.c) -
 * whose input is read line by line here instead of by the IMAP framer.
 * It sees INBOX through a view (view.c) that it opens when it starts
 * and never syncs, so:
 *   - message numbers are fixed for the session (RFC 1939 5);
 *   - a message another session expunges meanwhile stays readable: the
 *     view still holds its UID, so the expunge keeps its body as a ghost
 *     (RFC 2180 4.1.1, view.c) until this session ends;
 *   - the session's own expunge at QUIT is an ordinary one: IMAP
 *     sessions of the user are told at their next sync point, and an
 *     IDLE at once (mbox_changed).
 * DELE only marks the message in the session; QUIT expunges the marked
 * messages and sets \Seen on the retrieved ones in one transaction, as
 * Dovecot does: a connection that ends without QUIT, or a crash, leaves
 * the maildrop exactly as it was, with no undo to write (doc/pop3.md).
 * The maildrop lock is the process's: one POP3 session per user at a
 * time (one process serves all of a user's sessions); another gets
 * "-ERR [IN-USE]" (RFC 2449 8.1.2), while IMAP sessions go on.
 * UIDL is the UID and INBOX's UIDVALIDITY in hex, Dovecot's default
 * format, so it is stable across sessions and IMAP changes, and a
 * mailbox imported from Dovecot with its UIDs keeps its UIDLs.
 * RETR and TOP stream the stored message (CRLF lines, so LIST's sizes
 * are the octets sent before stuffing), dot-stuffed
 * (common/pop3_parse.c), a piece at a time as the client reads.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/pop3.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* Bytes of a message read from the store at a time. */
#define PIECE (64 * 1024)

struct pop3_msg {
	uint32_t uid;
	uint64_t size;
	int64_t  body_id;
	bool     deleted;	/* DELE in this session */
	bool     retrieved;	/* RETR in this session: \Seen at QUIT */
};

struct pop3_sess {
	struct pop3_msg *msgs;	/* message n is msgs[n - 1] */
	size_t           n, cap;
	size_t           ndeleted;
	uint64_t         total;	/* octets of the messages not deleted */
	uint32_t         uidvalidity;
	/* the multi-line answer being written */
	size_t           cur;
	uint64_t         off;
	bool             uidl;		/* listing UIDL, not LIST */
	struct pop3_stuffer st;
	char            *piece;
	struct store_body *body;	/* the message being sent, its reader */
};

/* ---- opening the maildrop ---- */

static int
add_row(const struct msg_row *r, void *arg)
{
	struct client *c = arg;
	struct pop3_sess *p = c->pop3;

	/* Only what the view holds: the two reads are one snapshot unless
	 * another program wrote in between. */
	if (view_seq_of(&c->view, r->uid) == 0)
		return 0;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 256;
		p->msgs = xreallocarray(p->msgs, p->cap, sizeof(*p->msgs));
	}
	p->msgs[p->n++] = (struct pop3_msg){ .uid = r->uid, .size = r->size,
	    .body_id = r->body_id };
	p->total += r->size;
	return 0;
}

/* The view keeps exactly the messages the session numbered: their
 * bodies stay while it lives, whatever other sessions expunge. */
static void
view_match(struct client *c)
{
	struct pop3_sess *p = c->pop3;

	for (size_t i = 0; i < p->n; i++)
		c->view.uids[i] = p->msgs[i].uid;
	c->view.n = p->n;
}

static int
open_maildrop(struct client *c)
{
	struct user *u = c->user;
	struct mstate *ms;
	struct mbox m;

	if (store_changed_externally(u->store))
		mstates_refresh(u);
	if (store_mbox_find(u->store, "INBOX", &m) != 0)
		return -1;
	ms = mstate_get(u, &m);
	/* Read-only: opening the maildrop writes nothing (no \Recent is
	 * claimed); the one write is QUIT's. */
	if (view_open(c, ms, true) != 0) {
		mstate_put(u, ms);
		return -1;
	}
	c->view.rights = RT_ALL;
	c->pop3->uidvalidity = ms->m.uidvalidity;
	if (ms->m.uidnext > 1) {
		struct seq_range r = { .lo = 1, .hi = ms->m.uidnext - 1 };
		struct seqset set = { .r = &r, .n = 1 };
		if (store_msg_foreach(u->store, &ms->m, &set, add_row, c) != 0)
			return -1;	/* client_destroy closes the view */
	}
	view_match(c);
	return 0;
}

void
pop3_start(struct client *c)
{
	struct user *u = c->user;

	if (u->pop3_lock != NULL) {
		log_info("session %016llx: POP3 maildrop of %s in use",
		    (unsigned long long)c->session_id, u->name);
		buf_adds(&c->out, "-ERR [IN-USE] Your maildrop is in use by "
		    "another POP3 session; try again later\r\n");
		client_close(c, NULL);
		return;
	}
	c->pop3 = xcalloc(1, sizeof(*c->pop3));
	if (open_maildrop(c) == -1) {
		log_warnx("user %s: POP3 maildrop: %s", u->name,
		    store_errmsg(u->store));
		buf_adds(&c->out, "-ERR [SYS/TEMP] Your maildrop can't be opened "
		    "right now; try again later\r\n");
		client_close(c, NULL);
		return;
	}
	u->pop3_lock = c;
	buf_printf(&c->out, "+OK Logged in; maildrop has %zu messages (%llu "
	    "octets)\r\n", c->pop3->n, (unsigned long long)c->pop3->total);
}

void
pop3_end(struct client *c)
{
	struct pop3_sess *p = c->pop3;

	if (c->user->pop3_lock == c)
		c->user->pop3_lock = NULL;
	if (p == NULL)
		return;
	store_body_close(p->body);
	free(p->msgs);
	free(p->piece);
	free(p);
	c->pop3 = NULL;
}

void
pop3_cmd_done(struct client *c)
{
	arena_reset(&c->arena);
}

/* ---- messages by number ---- */

/* Message n, or NULL after answering -ERR. */
static struct pop3_msg *
msg_arg(struct client *c, uint32_t n)
{
	struct pop3_sess *p = c->pop3;

	if (n == 0 || n > p->n) {
		buf_printf(&c->out, "-ERR No such message: %u (the maildrop has "
		    "%zu)\r\n", n, p->n);
		return NULL;
	}
	if (p->msgs[n - 1].deleted) {
		buf_printf(&c->out, "-ERR Message %u is deleted\r\n", n);
		return NULL;
	}
	return &p->msgs[n - 1];
}

static void
uidl_line(struct client *c, const char *prefix, size_t i)
{
	/* Dovecot's default pop3_uidl_format, %08Xu%08Xv. */
	buf_printf(&c->out, "%s%zu %08X%08X\r\n", prefix, i + 1,
	    c->pop3->msgs[i].uid, c->pop3->uidvalidity);
}

static void
list_line(struct client *c, const char *prefix, size_t i)
{
	buf_printf(&c->out, "%s%zu %llu\r\n", prefix, i + 1,
	    (unsigned long long)c->pop3->msgs[i].size);
}

/* LIST and UIDL without an argument: as many lines as the client
 * takes, then more as it reads. */
static enum cmd_result
listing_cont(struct client *c)
{
	struct pop3_sess *p = c->pop3;

	for (; p->cur < p->n && !client_out_full(c); p->cur++) {
		if (p->msgs[p->cur].deleted)
			continue;
		if (p->uidl)
			uidl_line(c, "", p->cur);
		else
			list_line(c, "", p->cur);
	}
	if (p->cur < p->n) {
		c->cont = listing_cont;
		return RUN_PAUSE;
	}
	buf_adds(&c->out, ".\r\n");
	return RUN_DONE;
}

static enum cmd_result
cmd_listing(struct client *c, const struct pop3_cmd *cmd, bool uidl)
{
	struct pop3_sess *p = c->pop3;

	if (cmd->has_msg) {
		if (msg_arg(c, cmd->msg) == NULL)
			return RUN_DONE;
		if (uidl)
			uidl_line(c, "+OK ", cmd->msg - 1);
		else
			list_line(c, "+OK ", cmd->msg - 1);
		return RUN_DONE;
	}
	buf_printf(&c->out, "+OK %zu messages (%llu octets)\r\n",
	    p->n - p->ndeleted, (unsigned long long)p->total);
	p->cur = 0;
	p->uidl = uidl;
	return listing_cont(c);
}

/* ---- RETR and TOP ---- */

/* The next piece of the message, stuffed into the output; -1 if the
 * store failed (the answer is half sent: the connection must go). */
static int
stream_piece(struct client *c, const struct pop3_msg *m)
{
	struct pop3_sess *p = c->pop3;
	size_t n = (size_t)MK_MIN(m->size - p->off, (uint64_t)PIECE), used;
	int rc;

	if (p->piece == NULL)
		p->piece = xmalloc(PIECE);
	/* One reader for the whole message, resting while we wait for the
	 * client (message_cont), as cmd_fetch.c streams. */
	if (p->body == NULL && store_body_open(c->user->store, m->body_id,
	    &p->body, NULL) != 0)
		return -1;
	rc = n == 0 ? -1 : store_body_read(p->body, p->off, p->piece, n);
	if (rc != 0 || pop3_stuff(&p->st, p->piece, n, &c->out, &used) != 0)
		return -1;
	p->off += used;
	return 0;
}

static enum cmd_result
message_cont(struct client *c)
{
	struct pop3_sess *p = c->pop3;
	const struct pop3_msg *m = &p->msgs[p->cur];

	while (!p->st.done && p->off < m->size && !client_out_full(c))
		if (stream_piece(c, m) == -1) {
			log_warnx("user %s: POP3 message UID %u: %s",
			    c->user->name, m->uid, store_errmsg(c->user->store));
			client_close(c, NULL);
			return RUN_DONE;
		}
	if (!p->st.done && p->off < m->size) {
		store_body_rest(p->body);
		c->cont = message_cont;
		return RUN_PAUSE;
	}
	store_body_close(p->body);
	p->body = NULL;
	pop3_stuff_end(&p->st, &c->out);
	return RUN_DONE;
}

static enum cmd_result
cmd_message(struct client *c, const struct pop3_cmd *cmd, bool top)
{
	struct pop3_sess *p = c->pop3;
	struct pop3_msg *m = msg_arg(c, cmd->msg);

	if (m == NULL)
		return RUN_DONE;
	if (top)
		buf_adds(&c->out, "+OK Top of message follows\r\n");
	else {
		buf_printf(&c->out, "+OK %llu octets\r\n",
		    (unsigned long long)m->size);
		m->retrieved = true;
	}
	p->cur = (size_t)cmd->msg - 1;
	p->off = 0;
	pop3_stuff_init(&p->st, top, cmd->lines);
	return message_cont(c);
}

/* ---- the rest of TRANSACTION ---- */

static void
cmd_dele(struct client *c, const struct pop3_cmd *cmd)
{
	struct pop3_msg *m = msg_arg(c, cmd->msg);

	if (m == NULL)
		return;
	m->deleted = true;
	c->pop3->ndeleted++;
	c->pop3->total -= m->size;
	buf_printf(&c->out, "+OK Message %u deleted\r\n", cmd->msg);
}

static void
cmd_rset(struct client *c)
{
	struct pop3_sess *p = c->pop3;

	for (size_t i = 0; i < p->n; i++)
		if (p->msgs[i].deleted) {
			p->msgs[i].deleted = false;
			p->total += p->msgs[i].size;
		}
	p->ndeleted = 0;
	buf_printf(&c->out, "+OK Maildrop has %zu messages (%llu octets)\r\n",
	    p->n, (unsigned long long)p->total);
}

static void
cmd_capa(struct client *c)
{
	/* RFC 2449: in TRANSACTION, only what works here. */
	buf_adds(&c->out, "+OK Capability list follows\r\nTOP\r\nUIDL\r\n"
	    "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
	    "IMPLEMENTATION Mailkeep\r\n.\r\n");
}

/* ---- QUIT: the UPDATE state ---- */

struct seen_plan {
	struct client      *c;
	struct flag_change *ch;
	size_t              n;
};

static int
plan_seen(const struct msg_row *r, void *arg)
{
	struct seen_plan *s = arg;

	if (r->flags & MF_SEEN)
		return 0;
	s->ch[s->n].uid = r->uid;
	s->ch[s->n].flags = r->flags | MF_SEEN;
	/* The row's memory is gone once this returns. */
	s->ch[s->n].keywords = arena_strdup(&s->c->arena, r->keywords);
	if (s->ch[s->n].keywords == NULL)
		return -1;
	s->n++;
	return 0;
}

/* \Seen on the messages retrieved (RETR) and kept, in the caller's
 * transaction; an impersonating administrator leaves them as they were
 * (impersonation_no_seen). */
static int
mark_seen(struct client *c, const uint32_t *uids, size_t n)
{
	struct mbox *m = &c->view.ms->m;
	struct seen_plan s = { .c = c };
	struct seqset set;
	uint64_t modseq;
	int rc;

	if (n == 0 || c->no_seen)
		return 0;
	s.ch = arena_array(&c->arena, n, sizeof(*s.ch));
	if (s.ch == NULL)
		return -1;
	seqset_from_sorted(&c->arena, uids, n, &set);
	rc = store_msg_foreach(c->user->store, m, &set, plan_seen, &s);
	if (rc == 0 && s.n > 0)
		rc = store_msg_set_flags(c->user->store, m, s.ch, s.n, &modseq);
	return rc;
}

/* The DELE'd messages go and the retrieved ones get \Seen: all of it,
 * or none (RFC 1939 6: -ERR if some could not be removed). */
static int
update(struct client *c, size_t *ndeleted)
{
	struct pop3_sess *p = c->pop3;
	struct user *u = c->user;
	uint32_t *del = arena_array(&c->arena, p->n + 1, sizeof(*del));
	uint32_t *seen = arena_array(&c->arena, p->n + 1, sizeof(*seen));
	size_t nd = 0, ns = 0;
	struct ghost_batch gb;
	int rc;

	if (del == NULL || seen == NULL)
		return -1;
	for (size_t i = 0; i < p->n; i++)	/* ascending UIDs */
		if (p->msgs[i].deleted)
			del[nd++] = p->msgs[i].uid;
		else if (p->msgs[i].retrieved)
			seen[ns++] = p->msgs[i].uid;
	*ndeleted = nd;
	if (nd == 0 && (ns == 0 || c->no_seen))
		return 0;
	/* Another program may have written INBOX since the session began:
	 * the store works from the freshest row. */
	if (store_changed_externally(u->store))
		mstates_refresh(u);
	memset(&gb, 0, sizeof(gb));
	if ((rc = store_begin(u->store)) == 0 &&
	    (rc = mark_seen(c, seen, ns)) == 0 &&
	    (nd == 0 || (rc = ghost_expunge(c, del, nd, &gb)) == 0))
		rc = store_commit(u->store);
	if (rc != 0) {
		store_rollback(u->store);
		ghost_batch_free(&gb);
		mstates_refresh(u);
		log_warnx("user %s: POP3 QUIT: %s", u->name,
		    store_errmsg(u->store));
		return -1;
	}
	ghosts_take(u, &gb);
	/* IMAP sessions viewing INBOX are told; an IDLE at once. */
	mbox_changed(u, c->view.ms->m.id);
	return 0;
}

static void
cmd_quit(struct client *c)
{
	size_t n = 0;

	if (update(c, &n) == -1)
		buf_adds(&c->out, "-ERR [SYS/TEMP] Some deleted messages were "
		    "not removed; none were\r\n");
	else
		buf_printf(&c->out, "+OK Bye; %zu message%s deleted\r\n", n,
		    n == 1 ? "" : "s");
	client_close(c, NULL);
}

/* ---- reading commands ---- */

static enum cmd_result
run(struct client *c, const struct pop3_cmd *cmd)
{
	switch (cmd->id) {
	case POP3_STAT:
		buf_printf(&c->out, "+OK %zu %llu\r\n",
		    c->pop3->n - c->pop3->ndeleted,
		    (unsigned long long)c->pop3->total);
		break;
	case POP3_LIST: return cmd_listing(c, cmd, false);
	case POP3_UIDL: return cmd_listing(c, cmd, true);
	case POP3_RETR: return cmd_message(c, cmd, false);
	case POP3_TOP:  return cmd_message(c, cmd, true);
	case POP3_DELE: cmd_dele(c, cmd); break;
	case POP3_RSET: cmd_rset(c); break;
	case POP3_NOOP: buf_adds(&c->out, "+OK\r\n"); break;
	case POP3_CAPA: cmd_capa(c); break;
	case POP3_QUIT: cmd_quit(c); break;
	case POP3_STLS:
		buf_adds(&c->out, "-ERR STLS is only valid before "
		    "authentication\r\n");
		break;
	default:	/* USER, PASS, AUTH, APOP */
		buf_printf(&c->out, "-ERR %s: already authenticated\r\n",
		    cmd->name);
		break;
	}
	return RUN_DONE;
}

static void
run_line(struct client *c, const char *line, size_t len)
{
	struct pop3_cmd cmd;
	const char *err;

	arena_reset(&c->arena);
	c->last_cmd = ev_now(c->user->loop);	/* "who"'s idle time */
	if (pop3_parse(&c->arena, line, len, &cmd, &err) == -1) {
		if (cmd.id == POP3_UNKNOWN)
			buf_printf(&c->out, "-ERR %s%s%s\r\n", err,
			    cmd.name != NULL ? ": " : "",
			    cmd.name != NULL ? cmd.name : "");
		else
			buf_printf(&c->out, "-ERR %s: %s\r\n", cmd.name, err);
		return;
	}
	if (run(c, &cmd) == RUN_DONE)
		pop3_cmd_done(c);
}

void
pop3_step(struct client *c, bool *progress)
{
	size_t len;
	const char *line;

	*progress = true;
	switch (imap_frame_line(&c->fr, &c->in)) {
	case FRAME_MORE:
		*progress = false;
		return;
	case FRAME_BAD:
		buf_printf(&c->out, "-ERR %s\r\n", c->fr.err_text);
		return;
	case FRAME_COMMAND:
		line = imap_frame_data(&c->fr, &len);
		run_line(c, line, len);
		imap_frame_done(&c->fr);
		return;
	default:
		client_close(c, c->fr.err_text);
		*progress = false;
		return;
	}
}
