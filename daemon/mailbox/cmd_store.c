/*
 * cmd_store.c - STORE and UID STORE (RFC 3501 6.4.6) with UNCHANGEDSINCE
 * and [MODIFIED] (RFC 7162 3.1.3).  One transaction, one new MODSEQ for
 * every message it changes.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/util.h"

#include <string.h>

struct result {
	uint32_t    uid;
	unsigned    flags;
	const char *keywords;
	bool        changed;
	bool        modified;	/* failed UNCHANGEDSINCE */
	uint64_t    modseq;
};

struct store_ctx {
	struct client      *c;
	unsigned            sys;
	const char         *kws;
	unsigned            mask;	/* system flags this session may change */
	bool                kw_ok;	/* and keywords ("w") */
	bool                own_seen;	/* \Seen goes to the guest's own */
	uint32_t           *seen_on, *seen_off;
	size_t              non, noff;
	struct result      *res;
	size_t              n;
	struct flag_change *ch;
	size_t              nch;
};

static unsigned
apply_sys(unsigned cur, unsigned arg, enum store_op op)
{
	switch (op) {
	case STORE_ADD: return cur | arg;
	case STORE_REMOVE: return cur & ~arg;
	case STORE_REPLACE: break;
	}
	return arg;
}

static int
plan_row(const struct msg_row *r, void *arg)
{
	struct store_ctx *s = arg;
	const struct store_args *a = &s->c->cmd->u.store;
	struct result *x = &s->res[s->n++];

	x->uid = r->uid;
	x->modseq = r->modseq;
	x->flags = r->flags;
	x->keywords = arena_strdup(&s->c->arena, r->keywords);
	if (a->unchangedsince_set && r->modseq > a->unchangedsince) {
		x->modified = true;
		return 0;
	}
	/* Only what the session may change moves (RFC 4314 4); the rest
	 * keeps its value even under FLAGS (replace). */
	unsigned nf = (r->flags & ~s->mask) |
	    (apply_sys(r->flags, s->sys, a->op) & s->mask);
	/* Not r->keywords: the row's memory is gone once this returns, and
	 * the planned change is written after the whole walk. */
	const char *nk = s->kw_ok ? keywords_apply(&s->c->arena, r->keywords,
	    s->kws, a->op) : x->keywords;
	if (nk == NULL)
		return -1;
	if (s->own_seen) {
		unsigned was = view_flags(s->c, r) & MF_SEEN;
		unsigned now = apply_sys(was, s->sys & MF_SEEN, a->op) & MF_SEEN;
		if (now && !was)
			s->seen_on[s->non++] = r->uid;
		else if (!now && was)
			s->seen_off[s->noff++] = r->uid;
		x->flags = (x->flags & ~MF_SEEN) | now;
	}
	if (nf == r->flags && strcmp(nk, r->keywords) == 0)
		return 0;
	x->flags = s->own_seen ? (nf & ~MF_SEEN) | (x->flags & MF_SEEN) : nf;
	x->keywords = nk;
	x->changed = true;
	s->ch[s->nch].uid = r->uid;
	s->ch[s->nch].flags = nf;
	s->ch[s->nch].keywords = nk;
	s->nch++;
	return 0;
}

static void
report(struct client *c, const struct store_ctx *s, uint64_t modseq)
{
	const struct store_args *a = &c->cmd->u.store;
	struct view *v = &c->view;

	for (size_t i = 0; i < s->n; i++) {
		const struct result *x = &s->res[i];
		/* .SILENT still reports a MODSEQ change to a CONDSTORE client
		 * whose store succeeded (RFC 7162 3.2). */
		if (x->modified || (a->silent && !(v->condstore && x->changed)))
			continue;
		buf_printf(&c->out, "* %u FETCH (", view_seq_of(v, x->uid));
		if (c->cmd->uid || v->condstore || (c->enabled & CAP_REV2))
			buf_printf(&c->out, "UID %u ", x->uid);
		if (!a->silent) {
			buf_adds(&c->out, "FLAGS ");
			resp_flags(&c->out, x->flags, x->keywords,
			    client_recent(c, x->uid));
		}
		if (v->condstore)
			buf_printf(&c->out, "%sMODSEQ (%llu)", a->silent ? "" : " ",
			    (unsigned long long)(x->changed ? modseq : x->modseq));
		buf_adds(&c->out, ")\r\n");
	}
}

static enum cmd_result
modified_answer(struct client *c, const struct store_ctx *s)
{
	uint32_t *ids = arena_array(&c->arena, s->n + 1, sizeof(*ids));
	struct seqset set;
	size_t n = 0, len;
	char *text;

	if (ids == NULL)
		return resp_ok(c, "STORE completed");
	for (size_t i = 0; i < s->n; i++)
		if (s->res[i].modified)
			ids[n++] = c->cmd->uid ? s->res[i].uid :
			    view_seq_of(&c->view, s->res[i].uid);
	if (n == 0)
		return resp_ok(c, "STORE completed");
	seqset_from_sorted(&c->arena, ids, n, &set);
	len = seqset_format(&set, NULL, 0);
	text = arena_alloc(&c->arena, len + 1);
	if (text == NULL || len > 400)
		return resp_ok(c, "[MODIFIED %u] Conditional STORE failed for "
		    "some messages", ids[0]);
	seqset_format(&set, text, len + 1);
	return resp_ok(c, "[MODIFIED %s] Conditional STORE failed", text);
}

/* Which flags this session may change; answers NO if none it asked for. */
static bool
store_rights(struct client *c, struct store_ctx *s)
{
	const struct view *v = &c->view;
	unsigned r = v->rights;

	s->own_seen = v->own_seen && !v->examined;
	if (v->readonly && !s->own_seen) {
		resp_no(c, "[READ-ONLY] Mailbox is read-only");
		return false;
	}
	if (v->readonly)
		r &= ~(RT_W | RT_T);	/* only their own \Seen */
	s->mask = rights_filter_flags(r, MF_SEEN | MF_DELETED | MF_ANSWERED |
	    MF_FLAGGED | MF_DRAFT);
	if (s->own_seen)
		s->mask &= ~MF_SEEN;
	s->kw_ok = (r & RT_W) != 0;
	if (s->mask == 0 && !s->kw_ok && !s->own_seen) {
		resp_no(c, "[NOPERM] You may not change flags here");
		return false;
	}
	return true;
}

enum cmd_result
cmd_store(struct client *c)
{
	const struct store_args *a = &c->cmd->u.store;
	struct user *u = c->user;
	struct mbox *m = &c->view.ms->m;
	struct store_ctx s = { .c = c };
	struct seqset uidset, inview;
	uint32_t *uids;
	size_t n;
	uint64_t before = m->highestmodseq, modseq = before;
	int rc;

	if (view_uidset(c, &a->set, c->cmd->uid, &uidset) != 0)
		return resp_bad(c, "Invalid message sequence number");
	if (!store_rights(c, &s))
		return RUN_DONE;
	if (a->unchangedsince_set)
		view_enable_condstore(c);
	n = view_uids_in(c, &uidset, &uids);
	seqset_from_sorted(&c->arena, uids, n, &inview);
	s.res = arena_array(&c->arena, n + 1, sizeof(*s.res));
	s.ch = arena_array(&c->arena, n + 1, sizeof(*s.ch));
	s.seen_on = arena_array(&c->arena, n + 1, sizeof(*s.seen_on));
	s.seen_off = arena_array(&c->arena, n + 1, sizeof(*s.seen_off));
	if (s.res == NULL || s.ch == NULL || s.seen_on == NULL ||
	    s.seen_off == NULL)
		return resp_no(c, "[LIMIT] Too many messages");
	if ((rc = store_begin(u->store)) != 0)
		return resp_store_error(c, rc, "STORE");
	if (flags_parse(c, m, a->flags, a->nflags, &s.sys, &s.kws, false) != 0) {
		store_rollback(u->store);
		return RUN_DONE;
	}
	/* RFC 4314 4: fail only if none of the named flags may change.  An
	 * empty list ("+FLAGS ()") names none: nothing to refuse, the STORE
	 * changes nothing and succeeds. */
	if (a->op != STORE_REPLACE && a->nflags > 0 && !(s.sys & s.mask) &&
	    !(s.kw_ok && s.kws[0] != '\0') &&
	    !(s.own_seen && (s.sys & MF_SEEN))) {
		store_rollback(u->store);
		return resp_no(c, "[NOPERM] You may not change these flags "
		    "here");
	}
	rc = store_msg_foreach(u->store, m, &inview, plan_row, &s);
	if (rc == 0 && s.nch > 0)
		rc = store_msg_set_flags(u->store, m, s.ch, s.nch, &modseq);
	if (rc == 0 && s.non > 0)
		rc = view_set_seen(c, s.seen_on, s.non, true);
	if (rc == 0 && s.noff > 0)
		rc = view_set_seen(c, s.seen_off, s.noff, false);
	if (rc == 0)
		rc = store_commit(u->store);
	if (rc != 0) {
		store_rollback(u->store);
		mstates_refresh(u);
		return resp_store_error(c, rc, "STORE");
	}
	if (s.nch > 0) {
		mbox_changed_to(u, m);
		view_own_change(c, before, m->highestmodseq);
	}
	/* Messages of the set that another session expunged (this one has
	 * not been told yet) are skipped: the STORE is accepted, changes
	 * nothing on them and reports nothing for them, as RFC 2180 4.2.1
	 * has it for .SILENT and as other servers do for every STORE; the
	 * EXPUNGE follows at the next command that may carry it. */
	view_check_keywords(c);
	report(c, &s, modseq);
	return modified_answer(c, &s);
}
