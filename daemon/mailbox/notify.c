/*
 * notify.c - NOTIFY (RFC 5465): a session asks to be told of changes
 * as they happen, to its selected mailbox and to others.
 *
 * Every change of the user's mailboxes is made in this process (the
 * sessions, LMTP deliveries, POP3) and reported through mbox_changed();
 * changes by other programs through mstates_refresh().  Both call
 * notify_mbox_changed(), which tells each session with NOTIFY what its
 * filters ask for:
 *   - the selected mailbox (SELECTED, SELECTED-DELAYED): the session's
 *     view is synced at once when it runs no command (EXISTS, EXPUNGE
 *     or VANISHED - not for SELECTED-DELAYED - and FETCH FLAGS), then
 *     the MessageNew FETCH attributes of the new messages are sent, as
 *     a FETCH of our own (notify_fetch_new);
 *   - other mailboxes: a STATUS when a change matters to the events
 *     asked for.  A session keeps the last values it was told of each
 *     watched mailbox (struct nwatch), so a flag change is not reported
 *     as a new message, nor anything it did not ask for.
 * Mailbox names, subscriptions and metadata are told by the commands
 * that change them (notify_mailbox_name, notify_subscription,
 * notify_metadata): LIST and METADATA responses.  The session that made
 * a change is not told of it (RFC 5465 5).
 *
 * A session busy streaming a response is told when it finishes
 * (notify_after_command).  One that doesn't read what it is told gets
 * "* OK [NOTIFICATIONOVERFLOW]" once its unsent output passes
 * NOTIFY_OUT_MAX, and from then on is as after NOTIFY NONE (RFC 5465
 * 5.8).  Other users' shared mailboxes: when one is selected, the
 * selected filter goes to its owner's process on the guest channel
 * (proxy_notify), which applies it to the session there and sends what
 * it tells back through the channel; unselected ones are not watched.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/imap_write.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* Unsent output past which a session's notifications stop. */
#define NOTIFY_OUT_MAX   (2 * CLIENT_OUT_HIGH)
/* Mailboxes one NOTIFY may watch for message events. */
#define NOTIFY_MAX_WATCH 10000

#define SUPPORTED_EVENTS "MessageNew MessageExpunge FlagChange " \
	"MailboxName SubscriptionChange MailboxMetadataChange " \
	"ServerMetadataChange"

/* What a session was last told of a mailbox it watches. */
struct nwatch {
	int64_t  id;
	uint32_t messages, uidnext, uidvalidity, unseen;
	uint64_t hms;
	bool     dirty;		/* changed since; not told yet */
};

struct notify {
	struct arena         arena;	/* the NOTIFY SET, parsed again */
	struct notify_args   args;
	struct notify_group *sel;	/* SELECTED or SELECTED-DELAYED */
	struct nwatch       *w;
	size_t               nw, capw;
	bool                 dirty;	/* some watch is */
	bool                 overflowed;	/* ends once pending is sent */
	/* LIST and METADATA responses for a session busy streaming a
	 * response: sent when it is done (notify_after_command). */
	struct buf           pending;
	uint32_t             fetch_from;	/* new UIDs from here: FETCH */
	/* The FETCH of our own: what it borrowed from the session. */
	struct arena         scratch;
	const struct imap_cmd *saved_cmd;
	const struct cmd_def *saved_def;
};

void
notify_free(struct client *c)
{
	struct notify *n = c->notify;

	if (n == NULL)
		return;
	arena_free(&n->arena);
	arena_free(&n->scratch);
	buf_free(&n->pending);
	free(n->w);
	free(n);
	c->notify = NULL;
}

/* Does the session take notifications (NOTIFY SET, no overflow)? */
static bool
active(const struct client *c)
{
	return c->notify != NULL && !c->notify->overflowed && !c->dead;
}

/* ---- which mailboxes a filter takes ---- */

static bool
below_or_is(const char *name, const char *root)
{
	size_t n = strlen(root);

	return strncmp(name, root, n) == 0 &&
	    (name[n] == '\0' || name[n] == '/');
}

static bool
group_has(struct client *c, const struct notify_group *g, const char *name)
{
	char canon[MK_MBOX_NAME_MAX];

	switch (g->filter) {
	case NF_SELECTED:
	case NF_SELECTED_DELAYED:
		return false;
	case NF_INBOXES:
		/* Deliveries (LMTP, mailkeepctl deliver) go to INBOX only. */
		return strcmp(name, "INBOX") == 0;
	case NF_PERSONAL:
		return true;
	case NF_SUBSCRIBED:
		return store_sub_has(c->user->store, name);
	case NF_SUBTREE:
	case NF_MAILBOXES:
		for (size_t i = 0; i < g->nmailboxes; i++) {
			if (store_mbox_canon(g->mailboxes[i], canon,
			    sizeof(canon)) != 0)
				continue;
			if (g->filter == NF_SUBTREE ? below_or_is(name, canon) :
			    strcmp(name, canon) == 0)
				return true;
		}
		return false;
	}
	return false;
}

/* The events the session's non-selected filters ask for on name. */
static unsigned
events_for(struct client *c, const char *name)
{
	unsigned ev = 0;

	for (const struct notify_group *g = c->notify->args.groups; g;
	    g = g->next)
		if (group_has(c, g, name))
			ev |= g->events;
	return ev;
}

static bool
is_selected_mbox(const struct client *c, int64_t id)
{
	return c->state == CS_SELECTED && c->proxy == NULL &&
	    c->view.ms->m.id == id;
}

/* May notifications be written now?  Not inside a streamed response. */
static bool
can_write(const struct client *c)
{
	return !c->dead && !c->closing && c->cont == NULL && !c->handback &&
	    !c->handback_ready && !c->notify_fetching;
}

/* Where a notification goes: the output, or what waits for the end of
 * a streamed response. */
static struct buf *
out_for(struct client *c)
{
	return can_write(c) ? &c->out : &c->notify->pending;
}

/* What waited for the end of a streamed response goes out now. */
static void
send_pending(struct client *c)
{
	struct notify *n = c->notify;
	bool over = n->overflowed;

	if (buf_len(&n->pending) > 0) {
		buf_add(&c->out, buf_ptr(&n->pending), buf_len(&n->pending));
		buf_reset(&n->pending);
	}
	if (over)
		notify_free(c);
}

static void
overflow_check(struct client *c)
{
	size_t n;

	if (c->notify == NULL || c->notify->overflowed)
		return;
	n = buf_len(&c->out) + buf_len(&c->notify->pending);
	if (n <= NOTIFY_OUT_MAX)
		return;
	log_info("session %016llx: NOTIFY overflow, %zu bytes unread",
	    (unsigned long long)c->session_id, n);
	/* Everything queued before it goes out first. */
	c->notify->overflowed = true;
	buf_adds(&c->notify->pending, "* OK [NOTIFICATIONOVERFLOW] The client "
	    "reads too slowly; notifications are off (as after NOTIFY NONE)\r\n");
	if (can_write(c))
		send_pending(c);
}

void
notify_check_overflow(struct client *c)
{
	overflow_check(c);
}

/* ---- STATUS for watched mailboxes ---- */

static struct nwatch *
watch_find(struct notify *n, int64_t id)
{
	for (size_t i = 0; i < n->nw; i++)
		if (n->w[i].id == id)
			return &n->w[i];
	return NULL;
}

static void
watch_drop(struct notify *n, struct nwatch *w)
{
	*w = n->w[--n->nw];
}

static int
watch_read(struct client *c, const struct mbox *m, struct nwatch *w)
{
	struct mbox_status st;

	if (store_mbox_status(c->user->store, m, &st) != 0)
		return -1;
	w->id = m->id;
	w->messages = st.messages;
	w->unseen = st.unseen;
	w->uidnext = m->uidnext;
	w->uidvalidity = m->uidvalidity;
	w->hms = m->highestmodseq;
	w->dirty = false;
	return 0;
}

static struct nwatch *
watch_add(struct client *c, const struct mbox *m)
{
	struct notify *n = c->notify;

	if (n->nw == n->capw) {
		n->capw = n->capw ? n->capw * 2 : 16;
		n->w = xreallocarray(n->w, n->capw, sizeof(*n->w));
	}
	if (watch_read(c, m, &n->w[n->nw]) != 0)
		return NULL;
	return &n->w[n->nw++];
}

static bool
condstore_on(const struct client *c)
{
	return (c->enabled & (CAP_CONDSTORE | CAP_QRESYNC)) != 0;
}

/* The STATUS items that tell the change from old to now (RFC 5465 5.1
 * to 5.3); 0 if the events asked for don't cover it. */
static unsigned
status_change(const struct client *c, unsigned ev, const struct nwatch *old,
    const struct nwatch *now)
{
	unsigned items = 0;
	bool cs = condstore_on(c);

	if (!(ev & NEV_MESSAGENEW))
		return 0;
	if (now->uidvalidity != old->uidvalidity)
		items |= STATUS_UIDVALIDITY | STATUS_UIDNEXT | STATUS_MESSAGES;
	if (now->uidnext != old->uidnext)
		items |= STATUS_UIDNEXT | STATUS_MESSAGES;
	if (now->messages != old->messages)
		items |= STATUS_MESSAGES;
	if ((ev & NEV_FLAGCHANGE) && now->hms != old->hms && cs)
		items |= STATUS_HIGHESTMODSEQ | STATUS_UIDVALIDITY;
	/* Without CONDSTORE a flag change shows only through UNSEEN. */
	if ((ev & NEV_FLAGCHANGE) && now->unseen != old->unseen)
		items |= STATUS_UNSEEN;
	if (items != 0 && cs)
		items |= STATUS_HIGHESTMODSEQ;
	return items;
}

static void
write_status(struct client *c, struct buf *b, const struct mbox *m,
    unsigned items)
{
	buf_adds(b, "* STATUS ");
	imapw_mailbox(b, m->name);
	buf_addc(b, ' ');
	if (status_items(c, m, items, b) != 0)
		log_warnx("user %s: NOTIFY STATUS %s: %s", c->user->name,
		    m->name, store_errmsg(c->user->store));
	buf_adds(b, "\r\n");
}

/* Tells the session what changed in one watched mailbox; false if it
 * is gone (the caller drops the watch). */
static bool
watch_report(struct client *c, struct nwatch *w, bool tell)
{
	struct mbox m;
	struct nwatch now;
	unsigned items;

	if (store_mbox_get(c->user->store, w->id, &m) != 0 ||
	    (m.flags & MBOX_NOSELECT))
		return false;
	if (watch_read(c, &m, &now) != 0)
		return true;
	items = status_change(c, events_for(c, m.name), w, &now);
	if (tell && items != 0 && !is_selected_mbox(c, m.id))
		write_status(c, &c->out, &m, items);
	*w = now;
	return true;
}

/* Reports the watches marked dirty. */
static void
flush_watches(struct client *c)
{
	struct notify *n = c->notify;

	n->dirty = false;
	for (size_t i = 0; i < n->nw; ) {
		struct nwatch *w = &n->w[i];
		if (w->dirty && !watch_report(c, w, true)) {
			watch_drop(n, w);
			continue;
		}
		w->dirty = false;
		i++;
	}
	overflow_check(c);
}

/* A mailbox not watched yet that the filters now take (created,
 * subscribed, renamed into a watched subtree). */
static void
watch_if_wanted(struct client *c, const struct mbox *m)
{
	struct notify *n = c->notify;

	if (n->nw >= NOTIFY_MAX_WATCH || (m->flags & MBOX_NOSELECT) ||
	    watch_find(n, m->id) != NULL ||
	    !(events_for(c, m->name) & NEV_MESSAGENEW))
		return;
	(void)watch_add(c, m);
}

/* ---- the selected mailbox ---- */

/* Syncs the view of an idle session at once (SELECTED): what IDLE
 * would send, then the FETCH of the new messages. */
static void
push_selected(struct client *c)
{
	struct notify *n = c->notify;

	if (n->sel == NULL || c->idling || c->cmd != NULL || !can_write(c) ||
	    c->state != CS_SELECTED || c->proxy != NULL)
		return;
	/* A grantee who lost "r" is told of nothing more. */
	if (client_is_guest(c) && !rights_recheck(c)) {
		client_flush(c);
		return;
	}
	if (view_sync(c, n->sel->filter == NF_SELECTED) == -1) {
		client_close(c, "Selected mailbox was deleted, have to disconnect");
		return;
	}
	notify_fetch_new(c);
	overflow_check(c);
	client_flush(c);
}

void
notify_new_uids(struct client *c, uint32_t from)
{
	struct notify *n = c->notify;

	if (n == NULL || n->sel == NULL || n->sel->fetch == NULL)
		return;
	if (n->fetch_from == 0 || from < n->fetch_from)
		n->fetch_from = from;
}

void
notify_forget_new(struct client *c)
{
	if (c->notify != NULL)
		c->notify->fetch_from = 0;
}

/* The MessageNew FETCH attributes of the messages that came since
 * fetch_from, as a UID FETCH of our own: in a scratch arena, with no
 * tagged answer; a large one streams like any FETCH, holding back the
 * session's input meanwhile.  During IDLE, the IDLE command is kept
 * aside and comes back when the FETCH ends (notify_fetch_done). */
void
notify_fetch_new(struct client *c)
{
	struct notify *n = c->notify;
	struct imap_cmd *cmd;
	struct seq_range *r;
	struct arena keep;
	uint32_t last;

	if (n == NULL || n->fetch_from == 0 || c->state != CS_SELECTED ||
	    c->proxy != NULL || (c->cmd != NULL && !c->idling) ||
	    !can_write(c))
		return;
	last = c->view.n > 0 ? c->view.uids[c->view.n - 1] : 0;
	if (last < n->fetch_from) {
		n->fetch_from = 0;
		return;
	}
	keep = c->arena;
	c->arena = n->scratch;
	n->scratch = keep;
	cmd = arena_alloc(&c->arena, sizeof(*cmd));
	r = arena_alloc(&c->arena, sizeof(*r));
	if (cmd == NULL || r == NULL)
		fatalx("notify: arena exhausted");
	memset(cmd, 0, sizeof(*cmd));
	cmd->tag = "*";
	cmd->id = CMD_FETCH;
	cmd->name = "FETCH";
	cmd->uid = true;
	cmd->u.fetch.atts = n->sel->fetch;
	r->lo = n->fetch_from;
	r->hi = last;
	cmd->u.fetch.set.r = r;
	cmd->u.fetch.set.n = 1;
	n->fetch_from = 0;
	n->saved_cmd = c->cmd;
	n->saved_def = c->def;
	c->cmd = cmd;
	c->def = cmd_find(CMD_FETCH);
	c->notify_fetching = true;
	if (cmd_fetch(c) == RUN_DONE)
		notify_fetch_done(c);
}

void
notify_fetch_done(struct client *c)
{
	struct notify *n = c->notify;
	struct arena keep = c->arena;

	c->notify_fetching = false;
	c->cont = NULL;
	c->cont_state = NULL;
	c->cont_free = NULL;
	c->tagged[0] = '\0';
	c->cmd = n->saved_cmd;
	c->def = n->saved_def;
	c->arena = n->scratch;
	n->scratch = keep;
	arena_reset(&n->scratch);
	/* What came while it streamed. */
	notify_after_command(c);
	if (c->notify != NULL && c->state == CS_SELECTED && c->view.dirty) {
		if (c->idling)
			idle_wake(c);
		else
			push_selected(c);
	}
}

const char *
notify_selected_group(const struct client *c)
{
	return c->notify != NULL && c->notify->sel != NULL ?
	    c->notify->sel->text : NULL;
}

bool
notify_wants_selected(const struct client *c)
{
	return c->notify == NULL || c->notify->sel != NULL;
}

/* ---- changes to messages ---- */

static void
mailbox_changed_for(struct client *c, int64_t id)
{
	struct notify *n = c->notify;
	struct nwatch *w = watch_find(n, id);
	struct mbox m;

	if (is_selected_mbox(c, id)) {
		/* SELECTED governs it: the watch only keeps up. */
		if (w != NULL && !watch_report(c, w, false))
			watch_drop(n, w);
		if (c != c->user->actor)
			push_selected(c);
		return;
	}
	if (w == NULL) {
		if (store_mbox_get(c->user->store, id, &m) == 0)
			watch_if_wanted(c, &m);
		return;
	}
	if (c == c->user->actor) {
		if (!watch_report(c, w, false))
			watch_drop(n, w);
		return;
	}
	w->dirty = n->dirty = true;
	if (can_write(c)) {
		flush_watches(c);
		client_flush(c);
	}
}

void
notify_mbox_changed(struct user *u, int64_t id)
{
	for (struct client *c = u->clients, *next; c; c = next) {
		next = c->next;
		if (active(c))
			mailbox_changed_for(c, id);
	}
}

void
notify_all_changed(struct user *u)
{
	for (struct client *c = u->clients, *next; c; c = next) {
		next = c->next;
		if (!active(c))
			continue;
		for (size_t i = 0; i < c->notify->nw; i++)
			c->notify->w[i].dirty = true;
		c->notify->dirty = true;
		if (can_write(c)) {
			flush_watches(c);
			if (c->notify != NULL && c->state == CS_SELECTED)
				push_selected(c);
			client_flush(c);
		}
	}
}

void
notify_after_command(struct client *c)
{
	if (c->notify == NULL || !can_write(c))
		return;
	send_pending(c);
	if (c->notify != NULL && c->notify->dirty)
		flush_watches(c);
	if (c->notify != NULL)
		notify_fetch_new(c);
}

/* ---- mailbox names and subscriptions (LIST) ---- */

/* "* LIST (attrs) "/" name", the attributes as LIST would give them. */
static void
write_list(struct client *c, const char *name, const char *oldname)
{
	struct store *s = c->user->store;
	struct buf *b = out_for(c);
	struct mbox m;

	buf_adds(b, "* LIST (");
	if (store_mbox_find(s, name, &m) != 0)
		buf_adds(b, "\\NonExistent");
	else {
		if (m.flags & MBOX_NOSELECT)
			buf_adds(b, "\\Noselect ");
		buf_adds(b, store_mbox_has_children(s, name) ?
		    "\\HasChildren" : "\\HasNoChildren");
	}
	if (store_sub_has(s, name))
		buf_adds(b, " \\Subscribed");
	buf_adds(b, ") \"/\" ");
	imapw_mailbox(b, name);
	if (oldname != NULL) {
		buf_adds(b, " (\"OLDNAME\" (");
		imapw_mailbox(b, oldname);
		buf_adds(b, "))");
	}
	buf_adds(b, "\r\n");
}

static bool
parent_of(const char *name, char *out, size_t outlen)
{
	const char *slash = strrchr(name, '/');

	if (slash == NULL || (size_t)(slash - name) >= outlen)
		return false;
	memcpy(out, name, (size_t)(slash - name));
	out[slash - name] = '\0';
	return true;
}

/* Tells every other session asking for ev on name (or on also). */
static void
tell_list(struct client *self, unsigned ev, const char *name,
    const char *also, const char *oldname, bool with_parent)
{
	char parent[MK_MBOX_NAME_MAX];
	bool has_parent = with_parent &&
	    parent_of(name, parent, sizeof(parent));

	for (struct client *c = self->user->clients; c; c = c->next) {
		if (c == self || !active(c) ||
		    !(events_for(c, name) & ev ||
		    (also != NULL && events_for(c, also) & ev)))
			continue;
		write_list(c, name, oldname);
		if (has_parent && (events_for(c, parent) & ev))
			write_list(c, parent, NULL);
		overflow_check(c);
		if (can_write(c))
			client_flush(c);
	}
}

/* New mailboxes the filters take are watched from now on. */
static void
watch_new_name(struct user *u, const char *name)
{
	struct mbox m;

	if (store_mbox_find(u->store, name, &m) != 0)
		return;
	for (struct client *c = u->clients; c; c = c->next)
		if (active(c))
			watch_if_wanted(c, &m);
}

void
notify_mailbox_name(struct client *self, const char *name,
    const char *oldname)
{
	if (oldname == NULL || strcmp(oldname, "INBOX") == 0) {
		/* Created (renaming INBOX makes a new mailbox, RFC 5465 5.4)
		 * or deleted: the mailbox and its parent are affected. */
		tell_list(self, NEV_MAILBOXNAME, name, NULL, NULL, true);
	} else
		tell_list(self, NEV_MAILBOXNAME, name, oldname, oldname, false);
	watch_new_name(self->user, name);
}

void
notify_subscription(struct client *self, const char *name)
{
	tell_list(self, NEV_SUBSCRIPTIONCHANGE, name, NULL, NULL, false);
	/* SUBSCRIBED filters take a new set (RFC 5465 6.4). */
	watch_new_name(self->user, name);
}

/* ---- metadata (RFC 5465 5.6, 5.7) ---- */

void
notify_metadata(struct client *self, const char *mailbox,
    const struct meta_entry *e, size_t n)
{
	bool server = mailbox[0] == '\0';
	unsigned ev = server ? NEV_SERVERMETADATA : NEV_MAILBOXMETADATA;

	/* A guest's /private entries are the guest's own. */
	for (struct client *c = self->user->clients; c; c = c->next) {
		bool any = false;
		if (c == self || !active(c))
			continue;
		if (server ? !(c->notify->args.groups != NULL &&
		    notify_any_event(c, ev)) : !(events_for(c, mailbox) & ev))
			continue;
		struct buf *b = out_for(c);
		for (size_t i = 0; i < n; i++) {
			if (client_is_guest(self) &&
			    strncmp(e[i].name, "/private", 8) == 0)
				continue;
			if (!any) {
				buf_adds(b, "* METADATA ");
				imapw_mailbox(b, mailbox);
				buf_adds(b, " (");
			} else
				buf_addc(b, ' ');
			imapw_astring(b, e[i].name);
			any = true;
		}
		if (any)
			buf_adds(b, ")\r\n");
		overflow_check(c);
		if (can_write(c))
			client_flush(c);
	}
}

bool
notify_any_event(const struct client *c, unsigned ev)
{
	for (const struct notify_group *g = c->notify->args.groups; g;
	    g = g->next)
		if (g->events & ev)
			return true;
	return false;
}

/* ---- the command ---- */

/* A grantee's session (a channel from their process) takes only the
 * selected filter: the rest is the grantee's process's (proxy_notify). */
static bool
only_selected(const struct notify_args *a)
{
	for (const struct notify_group *g = a->groups; g; g = g->next)
		if (g->filter != NF_SELECTED && g->filter != NF_SELECTED_DELAYED)
			return false;
	return true;
}

static bool
has_unknown(const struct notify_args *a)
{
	for (const struct notify_group *g = a->groups; g; g = g->next)
		if (g->events & (NEV_UNKNOWN | NEV_ANNOTATIONCHANGE))
			return true;
	return false;
}

struct set_walk {
	struct client *c;
	size_t         n;
	bool           status;
	bool           over;
	struct buf     out;	/* the STATUS responses, sent on success */
};

/* The initial watch (and STATUS, for SET STATUS) of each mailbox. */
static int
watch_initial(const struct mbox *m, void *arg)
{
	struct set_walk *sw = arg;
	struct client *c = sw->c;
	unsigned ev, items;

	if (m->flags & MBOX_NOSELECT)
		return 0;
	ev = events_for(c, m->name);
	if (!(ev & NEV_MESSAGENEW))
		return 0;
	if (++sw->n > NOTIFY_MAX_WATCH) {
		sw->over = true;
		return 1;
	}
	if (watch_add(c, m) == NULL)
		return -1;
	if (!sw->status || is_selected_mbox(c, m->id))
		return 0;
	/* RFC 5465 3.1: what the client needs to follow the mailbox. */
	items = STATUS_MESSAGES | STATUS_UIDNEXT | STATUS_UIDVALIDITY;
	if (ev & NEV_FLAGCHANGE)
		items |= STATUS_HIGHESTMODSEQ;
	write_status(c, &sw->out, m, items);
	return 0;
}

/* The command's own arguments, parsed again into memory that outlives
 * the command (the FETCH attributes are used for as long as it lasts). */
static struct notify *
notify_new(struct client *c)
{
	struct notify *n = xcalloc(1, sizeof(*n));
	struct imap_cmd cmd;
	const char *err;

	arena_init(&n->arena, 0);
	arena_init(&n->scratch, 0);
	buf_init(&n->pending, 0);
	if (imap_parse(&n->arena, c->raw, c->rawlen, &cmd, &err) != 0) {
		arena_free(&n->arena);
		arena_free(&n->scratch);
		free(n);
		return NULL;
	}
	n->args = cmd.u.notify;
	for (struct notify_group *g = n->args.groups; g; g = g->next)
		if (g->filter == NF_SELECTED || g->filter == NF_SELECTED_DELAYED)
			n->sel = g->events != 0 ? g : NULL;
	return n;
}

enum cmd_result
cmd_notify(struct client *c)
{
	const struct notify_args *a = &c->cmd->u.notify;
	struct set_walk sw = { .c = c, .status = a->status };
	int rc;

	if (client_is_guest(c) && !only_selected(a))
		return resp_no(c, "[CANNOT] Only SELECTED and SELECTED-DELAYED "
		    "here");
	if (has_unknown(a))
		return resp_no(c, "[BADEVENT (" SUPPORTED_EVENTS ")] Unsupported "
		    "event (no ANNOTATE here)");
	notify_free(c);
	if (a->none) {
		if (proxy_notify(c, true))
			return RUN_WAIT;	/* notify_none_done answers */
		return resp_ok(c, "NOTIFY completed; no more notifications");
	}
	if ((c->notify = notify_new(c)) == NULL)
		return resp_no(c, "[SERVERBUG] NOTIFY failed");
	(void)proxy_notify(c, false);
	buf_init(&sw.out, 0);
	rc = store_mbox_foreach(c->user->store, watch_initial, &sw);
	if (rc == 0 && buf_len(&sw.out) > 0)
		buf_add(&c->out, buf_ptr(&sw.out), buf_len(&sw.out));
	buf_free(&sw.out);
	if (sw.over) {
		notify_free(c);
		return resp_no(c, "[NOTIFICATIONOVERFLOW] More than %d mailboxes "
		    "to watch; name fewer", NOTIFY_MAX_WATCH);
	}
	if (rc != 0) {
		notify_free(c);
		return resp_store_error(c, rc, "NOTIFY");
	}
	return resp_ok(c, "NOTIFY completed");
}
