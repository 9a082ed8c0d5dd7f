/*
 * cmd_select.c - SELECT, EXAMINE, CLOSE and UNSELECT (RFC 3501 6.3.1,
 * 6.3.2, 6.4.2; RFC 3691), with the CONDSTORE and QRESYNC parameters of
 * RFC 7162 (HIGHESTMODSEQ, VANISHED (EARLIER) and changed FETCHes on
 * SELECT).
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

struct kw_list {
	struct buf b;
	size_t     n;
};

static int
add_keyword(const char *kw, void *arg)
{
	struct kw_list *k = arg;

	buf_addc(&k->b, ' ');
	buf_adds(&k->b, kw);
	k->n++;
	return 0;
}

/* PERMANENTFLAGS lists what this session may change (RFC 4314 5.1.1).
 * A guest without "s" keeps a \Seen of their own even where no right
 * makes the mailbox read-write for them (RFC 4314 5.2 READ-ONLY): that
 * \Seen is theirs to change, so it is listed; EXAMINE changes nothing. */
void
select_send_flags(struct client *c, const struct mbox *m, bool readonly)
{
	unsigned r = c->view.rights;
	struct kw_list k = { .n = 0 };
	struct buf perm;

	buf_init(&k.b, 0);
	buf_init(&perm, 0);
	if (store_keywords(c->user->store, m, add_keyword, &k) == 0) {
		c->view.nkeywords = k.n;
		c->view.kw_gen = store_keyword_gen(c->user->store);
	} else
		c->view.kw_gen = 0;	/* count again at the next look */
	resp_untagged(c, "FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s)",
	    buf_cstr(&k.b));
	if (readonly && c->view.own_seen && !c->view.examined)
		buf_adds(&perm, " \\Seen");
	if (!readonly) {
		if (r & RT_W)
			buf_adds(&perm, " \\Answered \\Flagged");
		if (r & RT_T)
			buf_adds(&perm, " \\Deleted");
		/* A guest without "s" keeps a \Seen of their own. */
		if ((r & RT_S) || client_is_guest(c))
			buf_adds(&perm, " \\Seen");
		if (r & RT_W)
			buf_printf(&perm, " \\Draft%s \\*", buf_cstr(&k.b));
	}
	resp_untagged(c, "OK [PERMANENTFLAGS (%s)] %s",
	    buf_len(&perm) ? buf_cstr(&perm) + 1 : "",
	    readonly ? "Read-only mailbox" : "Flags permitted");
	buf_free(&perm);
	buf_free(&k.b);
}

static void
send_first_unseen(struct client *c)
{
	struct search_key k = { .type = SK_UNSEEN };
	uint32_t *uids, first = 0;
	size_t n;

	/* A guest's own \Seen is not in the index: search it. */
	if (c->view.own_seen) {
		if (mbox_search(c, &k, &uids, &n) != 0)
			return;
		first = n > 0 ? uids[0] : 0;
		free(uids);
	} else if (store_first_unseen(c->user->store, &c->view.ms->m,
	    c->view.uids, c->view.n, &first) != 0)
		return;
	if (first != 0)
		resp_untagged(c, "OK [UNSEEN %u] First unseen",
		    view_seq_of(&c->view, first));
}

/* ---- QRESYNC (RFC 7162 3.2.5) ---- */

struct qr_ctx {
	struct client       *c;
	const struct seqset *known;	/* resolved known-uids, or NULL */
	uint32_t            *gone;
	size_t               n, cap;
};

static int
qr_expunged(uint32_t uid, uint64_t modseq, void *arg)
{
	struct qr_ctx *q = arg;

	(void)modseq;
	if (q->known && !seqset_contains(q->known, uid))
		return 0;
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 64;
		q->gone = xreallocarray(q->gone, q->cap, sizeof(*q->gone));
	}
	q->gone[q->n++] = uid;
	return 0;
}

static int
qr_changed(const struct msg_row *r, void *arg)
{
	struct qr_ctx *q = arg;
	struct client *c = q->c;
	uint32_t seq = view_seq_of(&c->view, r->uid);

	if (seq == 0 || (q->known && !seqset_contains(q->known, r->uid)))
		return 0;
	buf_printf(&c->out, "* %u FETCH (UID %u FLAGS ", seq, r->uid);
	resp_flags(&c->out, view_flags(c, r), r->keywords,
	    client_recent(c, r->uid));
	buf_printf(&c->out, " MODSEQ (%llu))\r\n", (unsigned long long)r->modseq);
	return 0;
}

/* "* VANISHED (EARLIER) set" unless the set is empty. */
void
resp_vanished_earlier(struct client *c, const struct seqset *set)
{
	char one[1], *text;
	size_t len;

	if (set->n == 0)
		return;
	len = seqset_format(set, one, sizeof(one));
	text = xmalloc(len + 1);
	seqset_format(set, text, len + 1);
	resp_untagged(c, "VANISHED (EARLIER) %s", text);
	free(text);
}

/* The expunges after since among the UIDs in range (every UID when
 * NULL), as VANISHED (EARLIER).  Older than the store's window, every
 * UID below UIDNEXT that the mailbox no longer has is reported instead:
 * RFC 7162 3.2.5.2 lets a server include UIDs the client never saw. */
void
vanished_since(struct client *c, const struct seqset *range, uint64_t since)
{
	struct mbox *m = &c->view.ms->m;
	struct qr_ctx q = { .c = c, .known = range };
	struct seq_range all = { 1, UINT32_MAX };
	struct seqset set;
	uint64_t floor;

	if (store_expunged_floor(c->user->store, m, &floor) != 0)
		return;
	if (since < floor) {
		struct seqset every = { &all, 1, false };
		if (m->uidnext > 1)
			seqset_minus_sorted(&c->arena, range ? range : &every,
			    c->view.uids, c->view.n, m->uidnext - 1, &set);
		else
			memset(&set, 0, sizeof(set));
		resp_vanished_earlier(c, &set);
		return;
	}
	if (store_expunged_since(c->user->store, m, since, qr_expunged,
	    &q) == 0 && q.n > 0) {
		seqset_from_sorted(&c->arena, q.gone, q.n, &set);
		resp_vanished_earlier(c, &set);
	}
	free(q.gone);
}

static void
qresync(struct client *c, const struct select_args *a)
{
	struct mbox *m = &c->view.ms->m;
	struct seqset known;
	struct qr_ctx q = { .c = c };

	if (a->uidvalidity != m->uidvalidity || a->modseq >= m->highestmodseq)
		return;
	if (a->has_known_uids) {
		seqset_resolve(&c->arena, &a->known_uids, UINT32_MAX, &known);
		q.known = &known;
	}
	vanished_since(c, q.known, a->modseq);
	store_msg_changed_since(c->user->store, m, a->modseq, qr_changed, &q);
}

/* ---- SELECT / EXAMINE ---- */

static void
close_current(struct client *c)
{
	if (c->state != CS_SELECTED)
		return;
	view_close(c);
	/* RFC 7162 3.2.11: tells a QRESYNC client where the old mailbox's
	 * responses end. */
	resp_untagged(c, "OK [CLOSED] Previous mailbox closed");
}

enum cmd_result
cmd_select(struct client *c)
{
	const struct select_args *a = &c->cmd->u.select;
	bool examine = c->cmd->id == CMD_EXAMINE;
	char name[MK_MBOX_NAME_MAX], id[STORE_OBJID_MAX];
	struct mbox m;
	struct mstate *ms;
	unsigned rights;
	bool examine_rights = false;
	int rc;

	close_current(c);
	if (a->qresync && !(c->enabled & CAP_QRESYNC))
		return resp_bad(c, "QRESYNC must be ENABLEd first");
	if (!mbox_name_arg(c, a->mailbox, name, sizeof(name)))
		return RUN_DONE;
	rc = store_mbox_find(c->user->store, name, &m);
	if (rc == MK_NOTFOUND || (rc == 0 && (m.flags & MBOX_NOSELECT)))
		return resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", name);
	if (rc != 0)
		return resp_store_error(c, rc, "SELECT");
	if (!rights_check(c, &m, RT_R, name))
		return RUN_DONE;
	rights = rights_for(c, &m);
	/* RFC 4314 5.2: read-only unless some right changes the mailbox. */
	if (!(rights & (RT_I | RT_E | RT_S | RT_W | RT_T)))
		examine_rights = true;
	ms = mstate_get(c->user, &m);
	if (view_open(c, ms, examine || examine_rights) != 0) {
		mstate_put(c->user, ms);
		return resp_store_error(c, -1, "SELECT");
	}
	if (a->condstore || a->qresync || (c->enabled & CAP_CONDSTORE))
		c->view.condstore = true;
	c->view.rights = rights;
	c->view.examined = examine;
	if (client_is_guest(c) && !(rights & RT_S) && view_load_seen(c) != 0) {
		view_close(c);
		return resp_store_error(c, -1, "SELECT");
	}
	c->view.rights_gen = c->user->acl_gen;
	select_send_flags(c, &ms->m, examine || examine_rights);
	resp_untagged(c, "%zu EXISTS", c->view.n);
	/* RFC 9051 dropped \Recent, and [UNSEEN n] with it (clients SEARCH
	 * UNSEEN); it asks for the mailbox's LIST line instead. */
	if (!(c->enabled & CAP_REV2)) {
		view_send_recent(c);
		send_first_unseen(c);
	} else if (!client_is_guest(c))
		list_selected(c, ms->m.name);
	resp_untagged(c, "OK [UIDVALIDITY %u] UIDs valid", ms->m.uidvalidity);
	resp_untagged(c, "OK [UIDNEXT %u] Predicted next UID", ms->m.uidnext);
	resp_untagged(c, "OK [HIGHESTMODSEQ %llu] Highest",
	    (unsigned long long)ms->m.highestmodseq);
	if (store_mbox_objectid(c->user->store, &ms->m, id, sizeof(id)) == 0)
		resp_untagged(c, "OK [MAILBOXID (%s)] Ok", id);
	if (a->qresync)
		qresync(c, a);
	return resp_ok(c, "[%s] %s completed", examine || examine_rights ?
	    "READ-ONLY" : "READ-WRITE", examine ? "EXAMINE" : "SELECT");
}

/* Removes \Deleted messages without telling the client (CLOSE). */
static int
silent_expunge(struct client *c)
{
	struct search_key k = { .type = SK_DELETED };
	struct mbox *m = &c->view.ms->m;
	struct ghost_batch gb;
	uint32_t *uids;
	size_t n;
	int rc;

	if (mbox_search(c, &k, &uids, &n) != 0)
		return -1;
	if (n == 0) {
		free(uids);
		return 0;
	}
	rc = ghost_expunge(c, uids, n, &gb);
	free(uids);
	if (rc == 0) {
		ghosts_take(c->user, &gb);
		mbox_changed(c->user, m->id);
	} else
		ghost_batch_free(&gb);
	return rc;
}

enum cmd_result
cmd_close(struct client *c)
{
	int rc = 0;

	/* Without "e" the expunge is skipped, not refused (RFC 4314 4). */
	if (!c->view.readonly && (c->view.rights & RT_E))
		rc = silent_expunge(c);
	view_close(c);
	if (rc != 0)
		return resp_store_error(c, rc, "CLOSE");
	return resp_ok(c, "CLOSE completed");
}

enum cmd_result
cmd_unselect(struct client *c)
{
	view_close(c);
	return resp_ok(c, "UNSELECT completed");
}
