/*
 * view.c - a session's view of its selected mailbox, and telling it what
 * other sessions changed.
 *
 * All sessions of a user live in this process, so a change needs no
 * cross-process signal: the session that commits calls mbox_changed(),
 * which marks every view of that mailbox dirty (and wakes IDLE).  At the
 * points RFC 3501 allows, view_sync() reports:
 *   - expunges (from the store's expunged table, by MODSEQ), only when
 *     EXPUNGE may be sent: never after FETCH, STORE or SEARCH by sequence
 *     number (RFC 3501 7.4.1) - until then the expunged UIDs stay in the
 *     view as "ghosts" and sequence numbers don't move;
 *   - flag changes (rows whose MODSEQ passed the view's), as FETCH FLAGS;
 *   - new messages (UIDs at or past the view's UIDNEXT), as EXISTS, and
 *     RECENT after claiming the never-announced ones for this session.
 * A session's own changes are not echoed back when it was up to date
 * (view_own_change).
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- mailboxes selected somewhere ---- */

struct mstate *
mstate_find(struct user *u, int64_t id)
{
	for (struct mstate *ms = u->mstates; ms; ms = ms->next)
		if (ms->m.id == id)
			return ms;
	return NULL;
}

struct mstate *
mstate_get(struct user *u, const struct mbox *m)
{
	struct mstate *ms = mstate_find(u, m->id);

	if (ms == NULL) {
		ms = xcalloc(1, sizeof(*ms));
		ms->m = *m;
		ms->next = u->mstates;
		u->mstates = ms;
	} else if (!ms->gone)
		ms->m = *m;
	ms->refs++;
	return ms;
}

/* ---- ghosts: expunged messages other sessions were not told of ---- */

/* Does a session other than self still have uid in its view of ms? */
static bool
uid_seen_elsewhere(struct user *u, struct mstate *ms, struct client *self,
    uint32_t uid)
{
	for (struct client *o = u->clients; o; o = o->next)
		if (o != self && !o->dead && o->state == CS_SELECTED &&
		    o->view.ms == ms && view_seq_of(&o->view, uid) != 0)
			return true;
	return false;
}

static bool
ghost_hold(uint32_t uid, void *arg)
{
	struct ghost_batch *b = arg;

	return uid_seen_elsewhere(b->self->user, b->ms, b->self, uid);
}

static int
ghost_keep(const struct msg_row *r, void *arg)
{
	struct ghost_batch *b = arg;

	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->rows = xreallocarray(b->rows, b->cap, sizeof(*b->rows));
	}
	b->rows[b->n] = *r;
	b->rows[b->n].keywords = xstrdup(r->keywords);
	b->n++;
	return 0;
}

int
ghost_expunge(struct client *c, const uint32_t *uids, size_t n,
    struct ghost_batch *b)
{
	memset(b, 0, sizeof(*b));
	b->self = c;
	b->ms = c->view.ms;
	b->expunged = n;
	return store_msg_expunge_held(c->user->store, &b->ms->m, uids, n,
	    ghost_hold, ghost_keep, b);
}

void
ghost_batch_free(struct ghost_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free((char *)b->rows[i].keywords);
	free(b->rows);
	b->rows = NULL;
	b->n = b->cap = 0;
}

static int
cmp_row_uid(const void *a, const void *b)
{
	uint32_t x = ((const struct msg_row *)a)->uid;
	uint32_t y = ((const struct msg_row *)b)->uid;
	return x < y ? -1 : x > y;
}

/* The MODSEQ up to which every session with ms selected has been told
 * of the expunges: their rows may go from the store's window. */
static uint64_t
expunges_told(struct user *u, const struct mstate *ms)
{
	uint64_t told = ms->m.highestmodseq;

	for (struct client *o = u->clients; o; o = o->next)
		if (!o->dead && o->state == CS_SELECTED && o->view.ms == ms)
			told = MK_MIN(told, o->view.expunge_modseq);
	return told;
}

/* Whether to look at the `expunged` window after n more expunges.  The
 * look finds the row keep + keep / 8 places down (an index walk that
 * long: at every EXPUNGE it was 3 % of the stress mix's CPU with a few
 * thousand rows, and grows with the window); taken every keep / 8
 * expunges it leaves at most an eighth more rows than the store's rule,
 * keep + keep / 4, besides those a session has yet to be told of. */
static bool
window_due(struct user *u, struct mstate *ms, size_t n)
{
	uint64_t every = MK_MAX(1u, u->cfg->expunged_keep / 8);

	ms->unwindowed += n;
	if (ms->windowed && ms->unwindowed < every)
		return false;
	ms->windowed = true;
	ms->unwindowed = 0;
	return true;
}

void
ghosts_take(struct user *u, struct ghost_batch *b)
{
	struct mstate *ms = b->ms;

	/* After the commit: keeps `expunged` to a window (RFC 7162
	 * 3.2.5.2); a failure only leaves more rows for next time. */
	if (ms != NULL && window_due(u, ms, b->expunged) &&
	    store_expunged_prune(u->store, &ms->m,
	    u->cfg->expunged_keep, expunges_told(u, ms)) != 0)
		log_warnx("user %s: pruning expunged UIDs: %s", u->name,
		    store_errmsg(u->store));
	if (b->n == 0) {
		ghost_batch_free(b);
		return;
	}
	ms->ghosts = xreallocarray(ms->ghosts, ms->nghosts + b->n,
	    sizeof(*ms->ghosts));
	memcpy(&ms->ghosts[ms->nghosts], b->rows, b->n * sizeof(*b->rows));
	ms->nghosts += b->n;
	/* An expunged UID never comes back, so there are no duplicates. */
	qsort(ms->ghosts, ms->nghosts, sizeof(*ms->ghosts), cmp_row_uid);
	free(b->rows);
	b->rows = NULL;
	b->n = b->cap = 0;
}

const struct msg_row *
ghost_find(const struct mstate *ms, uint32_t uid)
{
	size_t lo = 0, hi = ms->nghosts;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ms->ghosts[mid].uid < uid)
			lo = mid + 1;
		else if (ms->ghosts[mid].uid > uid)
			hi = mid;
		else
			return &ms->ghosts[mid];
	}
	return NULL;
}

/* All of the marked bodies in one transaction, or none (go[] cleared):
 * a session that leaves a mailbox after a burst of expunges would
 * otherwise commit once per message. */
static void
release_own(struct store *s, const struct mstate *ms, bool *go)
{
	bool ok = store_begin(s) == 0;

	for (size_t i = 0; ok && i < ms->nghosts; i++)
		ok = !go[i] || store_body_release(s, ms->ghosts[i].body_id) == 0;
	if (ok && store_commit(s) == 0)
		return;
	store_rollback(s);
	memset(go, 0, ms->nghosts * sizeof(*go));
}

/* Releases the bodies of the ghosts marked in go[]; go[i] is cleared
 * for each the store refused.  Inside a caller's transaction each
 * release is a savepoint of it. */
static void
bodies_release(struct store *s, const struct mstate *ms, bool *go)
{
	if (!store_in_transaction(s)) {
		release_own(s, ms, go);
		return;
	}
	for (size_t i = 0; i < ms->nghosts; i++)
		if (go[i] && store_body_release(s, ms->ghosts[i].body_id) != 0)
			go[i] = false;
}

/* Lets go of the ghosts no view holds any more (all of them when the
 * last session leaves the mailbox): their bodies leave the store.  A
 * release the store refuses (locked) is tried again at the next one. */
static void
ghosts_gc(struct user *u, struct mstate *ms, bool all)
{
	bool *go;
	size_t keep = 0, ngo = 0;

	if (ms->nghosts == 0)
		return;
	go = xcalloc(ms->nghosts, sizeof(*go));
	for (size_t i = 0; i < ms->nghosts; i++) {
		go[i] = all || !uid_seen_elsewhere(u, ms, NULL, ms->ghosts[i].uid);
		ngo += go[i];
	}
	if (u->store != NULL && ngo > 0)
		bodies_release(u->store, ms, go);
	for (size_t i = 0; i < ms->nghosts; i++) {
		struct msg_row *g = &ms->ghosts[i];
		if (!go[i] && !all) {
			ms->ghosts[keep++] = *g;
			continue;
		}
		if (!go[i])
			log_warnx("user %s: body %lld stays held until "
			    "restart: %s", u->name, (long long)g->body_id,
			    store_errmsg(u->store));
		free((char *)g->keywords);
	}
	free(go);
	ms->nghosts = keep;
	if (keep == 0) {
		free(ms->ghosts);
		ms->ghosts = NULL;
	}
}

void
mstate_put(struct user *u, struct mstate *ms)
{
	struct mstate **pp;

	if (--ms->refs > 0) {
		if (ms->nghosts > 0)
			ghosts_gc(u, ms, false);
		return;
	}
	ghosts_gc(u, ms, true);
	for (pp = &u->mstates; *pp; pp = &(*pp)->next)
		if (*pp == ms) {
			*pp = ms->next;
			break;
		}
	free(ms);
}

static void
wake_views(struct user *u, struct mstate *ms)
{
	for (struct client *c = u->clients; c; c = c->next) {
		if (c->dead || c->state != CS_SELECTED || c->view.ms != ms)
			continue;
		c->view.dirty = true;
		if (c->idling)
			idle_wake(c);
	}
}

static void
reload(struct user *u, struct mstate *ms)
{
	int rc = store_mbox_get(u->store, ms->m.id, &ms->m);

	if (rc == MK_NOTFOUND || (rc == 0 && (ms->m.flags & MBOX_NOSELECT)))
		ms->gone = true;
	else if (rc != 0)
		log_warnx("reload mailbox %lld: %s", (long long)ms->m.id,
		    store_errmsg(u->store));
}

void
mbox_changed(struct user *u, int64_t id)
{
	struct mstate *ms = mstate_find(u, id);

	if (ms != NULL && !ms->gone) {
		reload(u, ms);
		wake_views(u, ms);
	}
	notify_mbox_changed(u, id);
}

void
mbox_changed_to(struct user *u, const struct mbox *m)
{
	struct mstate *ms = mstate_find(u, m->id);

	if (ms != NULL && !ms->gone) {
		if (&ms->m != m)
			ms->m = *m;
		wake_views(u, ms);
	}
	notify_mbox_changed(u, m->id);
}

void
mstates_refresh(struct user *u)
{
	/* Another program wrote the store (mailkeepctl acl among them): any
	 * ACL may have changed. */
	u->acl_gen++;
	for (struct mstate *ms = u->mstates, *next; ms; ms = next) {
		if (ms->gone) {
			next = ms->next;
			continue;
		}
		/* A session woken here may leave the mailbox (a guest whose
		 * "r" was revoked): held, ms outlives the wake-up. */
		ms->refs++;
		reload(u, ms);
		wake_views(u, ms);
		next = ms->next;
		mstate_put(u, ms);
	}
	notify_all_changed(u);
}

/* ---- the view ---- */

static void
view_push(struct view *v, uint32_t uid)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 256;
		v->uids = xreallocarray(v->uids, v->cap, sizeof(*v->uids));
	}
	v->uids[v->n++] = uid;
}

static void
add_recent(struct view *v, uint32_t lo, uint32_t hi)
{
	if (lo > hi)
		return;
	if (v->nrecent > 0 && v->recent[v->nrecent - 1].hi + 1 >= lo) {
		v->recent[v->nrecent - 1].hi = MK_MAX(hi, v->recent[v->nrecent - 1].hi);
		return;
	}
	v->recent = xreallocarray(v->recent, v->nrecent + 1, sizeof(*v->recent));
	v->recent[v->nrecent].lo = lo;
	v->recent[v->nrecent].hi = hi;
	v->nrecent++;
}

/* A read-write session takes the never-announced UIDs for itself; a
 * read-only one shows them as \Recent without taking them (EXAMINE must
 * not change the mailbox). */
static int
take_recent(struct client *c)
{
	struct view *v = &c->view;
	struct mbox *m = &v->ms->m;
	uint32_t from, to;

	if (v->readonly) {
		if (m->recent_uid < m->uidnext)
			add_recent(v, m->recent_uid > 0 ? m->recent_uid : 1,
			    m->uidnext - 1);
		return 0;
	}
	if (m->recent_uid >= m->uidnext)
		return 0;
	if (store_mbox_claim_recent(c->user->store, m, &from, &to) != 0)
		return -1;
	if (from < to)
		add_recent(v, from, to - 1);
	return 0;
}

int
view_claim_in(struct client *c, struct mbox *m, uint32_t *from,
    uint32_t *to)
{
	struct view *v = &c->view;

	*from = *to = 0;
	/* A selection in another user's store (c->proxy) has no mstate. */
	if (c->state != CS_SELECTED || c->proxy != NULL || v->ms == NULL ||
	    v->readonly || v->ms->m.id != m->id)
		return 0;
	return store_mbox_claim_recent(c->user->store, m, from, to);
}

void
view_claimed(struct client *c, uint32_t from, uint32_t to)
{
	if (from < to && c->state == CS_SELECTED && c->proxy == NULL)
		add_recent(&c->view, from, to - 1);
}

/* \Recent as this session is shown it: never under IMAP4rev2. */
bool
client_recent(const struct client *c, uint32_t uid)
{
	return !(c->enabled & CAP_REV2) && view_is_recent(&c->view, uid);
}

bool
view_is_recent(const struct view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->nrecent;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (uid < v->recent[mid].lo)
			hi = mid;
		else if (uid > v->recent[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* How many UIDs of the view are below uid. */
static size_t
view_rank(const struct view *v, uint64_t uid)
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t
view_recent_count(const struct view *v)
{
	uint32_t n = 0;

	/* Per recent range, not per message: two searches in the view. */
	for (size_t i = 0; i < v->nrecent; i++)
		n += view_rank(v, v->recent[i].hi + 1ULL) -
		    view_rank(v, v->recent[i].lo);
	return n;
}

void
view_send_recent(struct client *c)
{
	struct view *v = &c->view;

	if (c->enabled & CAP_REV2)
		return;
	v->recent_sent = view_recent_count(v);
	v->recent_n = v->n;
	resp_untagged(c, "%u RECENT", v->recent_sent);
}

/* RFC 3501 7.3.2 sends RECENT when the mailbox's size changes, and an
 * expunge of a message this session holds as \Recent lowers the count
 * as surely as new mail raises it; a client keeping the count (imaptest's
 * checkpoint adds them up over sessions) would otherwise keep the old
 * one.  The count can only change with the view's size, so it is
 * recounted only then. */
static void
sync_recent(struct client *c)
{
	struct view *v = &c->view;

	if ((c->enabled & CAP_REV2) || v->n == v->recent_n)
		return;
	v->recent_n = v->n;
	if (view_recent_count(v) != v->recent_sent)
		view_send_recent(c);
}

uint32_t
view_seq_of(const struct view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v->uids[mid] < uid)
			lo = mid + 1;
		else if (v->uids[mid] > uid)
			hi = mid;
		else
			return (uint32_t)mid + 1;
	}
	return 0;
}

uint32_t
view_seq_next(const struct view *v, uint32_t uid, size_t *hint)
{
	uint32_t seq;

	if (*hint < v->n && v->uids[*hint] == uid)
		seq = (uint32_t)*hint + 1;
	else if ((seq = view_seq_of(v, uid)) == 0)
		return 0;
	*hint = seq;
	return seq;
}

void
view_remove_uid(struct view *v, uint32_t uid)
{
	uint32_t seq = view_seq_of(v, uid);

	if (seq == 0)
		return;
	memmove(&v->uids[seq - 1], &v->uids[seq],
	    (v->n - seq) * sizeof(*v->uids));
	v->n--;
}

int
view_open(struct client *c, struct mstate *ms, bool readonly)
{
	struct view *v = &c->view;
	uint32_t *uids;
	size_t n;

	memset(v, 0, sizeof(*v));
	v->ms = ms;
	v->readonly = readonly;
	if (store_msg_uids(c->user->store, &ms->m, &uids, &n) != 0)
		return -1;
	v->uids = uids;
	v->n = v->cap = n;
	v->known_uidnext = ms->m.uidnext;
	v->known_modseq = v->expunge_modseq = ms->m.highestmodseq;
	if (take_recent(c) == -1) {
		free(v->uids);
		memset(v, 0, sizeof(*v));
		return -1;
	}
	c->state = CS_SELECTED;
	return 0;
}

void
view_close(struct client *c)
{
	struct view *v = &c->view;
	struct mstate *ms = v->ms;

	context_free_all(c);
	free(v->uids);
	free(v->recent);
	free(v->searchres.r);
	free(v->seen);
	memset(v, 0, sizeof(*v));
	c->state = CS_AUTH;
	/* After the view is gone: the ghosts only it held are let go. */
	if (ms != NULL)
		mstate_put(c->user, ms);
}

void
view_own_change(struct client *c, uint64_t before, uint64_t after)
{
	struct view *v = &c->view;

	if (c->state != CS_SELECTED)
		return;
	if (v->known_modseq == before)
		v->known_modseq = after;
	if (v->expunge_modseq == before)
		v->expunge_modseq = after;
}

/* RFC 7162 3.1: the first command that uses CONDSTORE in a selection
 * turns it on, and the client is told the mailbox's HIGHESTMODSEQ. */
void
view_enable_condstore(struct client *c)
{
	struct view *v = &c->view;

	/* For the rest of the connection, not just this selection. */
	c->enabled |= CAP_CONDSTORE;
	if (v->condstore)
		return;
	v->condstore = true;
	resp_untagged(c, "OK [HIGHESTMODSEQ %llu] Highest",
	    (unsigned long long)v->ms->m.highestmodseq);
}

/* Counted only when the store says keywords may have changed since the
 * last count: a FETCH looked once per batch of messages (1.2 % of the
 * stress mix's CPU, doc/benchmarks.md). */
void
view_check_keywords(struct client *c)
{
	struct view *v = &c->view;
	uint64_t gen;
	size_t n;

	if (c->state != CS_SELECTED)
		return;
	gen = store_keyword_gen(c->user->store);
	if (gen == v->kw_gen ||
	    store_keyword_count(c->user->store, &v->ms->m, &n) != 0)
		return;
	v->kw_gen = gen;
	if (n != v->nkeywords)
		select_send_flags(c, &v->ms->m, v->readonly);
}

/* ---- a guest's own \Seen ---- */

int
view_load_seen(struct client *c)
{
	struct view *v = &c->view;

	v->own_seen = true;
	return store_gseen_uids(c->user->store, &v->ms->m, c->authcid,
	    &v->seen, &v->nseen);
}

static bool
seen_has(const struct view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->nseen;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v->seen[mid] < uid)
			lo = mid + 1;
		else if (v->seen[mid] > uid)
			hi = mid;
		else
			return true;
	}
	return false;
}

unsigned
view_flags(const struct client *c, const struct msg_row *r)
{
	const struct view *v = &c->view;

	if (!v->own_seen)
		return r->flags;
	return (r->flags & ~MF_SEEN) | (seen_has(v, r->uid) ? MF_SEEN : 0);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int
view_set_seen(struct client *c, const uint32_t *uids, size_t n, bool on)
{
	struct view *v = &c->view;
	size_t keep = 0;

	if (store_gseen_set(c->user->store, &v->ms->m, c->authcid, uids, n,
	    on) != 0)
		return -1;
	if (on) {
		v->seen = xreallocarray(v->seen, v->nseen + n + 1,
		    sizeof(*v->seen));
		for (size_t i = 0; i < n; i++)
			if (!seen_has(v, uids[i]))
				v->seen[v->nseen + keep++] = uids[i];
		v->nseen += keep;
		qsort(v->seen, v->nseen, sizeof(*v->seen), cmp_u32);
		return 0;
	}
	for (size_t i = 0; i < v->nseen; i++) {
		bool drop = false;
		for (size_t j = 0; j < n && !drop; j++)
			drop = uids[j] == v->seen[i];
		if (!drop)
			v->seen[keep++] = v->seen[i];
	}
	v->nseen = keep;
	return 0;
}

const struct seqset *
view_seen_set(struct client *c)
{
	struct seqset *set = arena_alloc(&c->arena, sizeof(*set));

	if (set != NULL)
		seqset_from_sorted(&c->arena, c->view.seen, c->view.nseen, set);
	return set;
}

/* ---- sync ---- */

struct sync_ctx {
	struct client *c;
	uint32_t      *gone;
	size_t         ngone, capgone;
	uint32_t       old_uidnext;
};

static int
collect_expunged(uint32_t uid, uint64_t modseq, void *arg)
{
	struct sync_ctx *s = arg;

	(void)modseq;
	if (view_seq_of(&s->c->view, uid) == 0)
		return 0;
	if (s->ngone == s->capgone) {
		s->capgone = s->capgone ? s->capgone * 2 : 64;
		s->gone = xreallocarray(s->gone, s->capgone, sizeof(*s->gone));
	}
	s->gone[s->ngone++] = uid;
	return 0;
}

static void
report_vanished(struct client *c, const uint32_t *uids, size_t n)
{
	struct seqset set;
	char small[1];
	size_t len;
	char *text;

	seqset_from_sorted(&c->arena, uids, n, &set);
	len = seqset_format(&set, small, sizeof(small));
	text = xmalloc(len + 1);
	seqset_format(&set, text, len + 1);
	resp_untagged(c, "VANISHED %s", text);
	free(text);
}

static int
sync_expunges(struct client *c)
{
	struct view *v = &c->view;
	struct sync_ctx s = { .c = c };

	if (v->expunge_modseq >= v->ms->m.highestmodseq)
		return 0;
	if (store_expunged_since(c->user->store, &v->ms->m, v->expunge_modseq,
	    collect_expunged, &s) != 0)
		return -1;
	/* RFC 5267 4.3.4: REMOVEFROM before the expunge it follows from */
	context_expunged(c, s.gone, s.ngone);
	if (s.ngone > 0 && (c->enabled & CAP_QRESYNC)) {
		for (size_t i = 0; i < s.ngone; i++)
			view_remove_uid(v, s.gone[i]);
		report_vanished(c, s.gone, s.ngone);
	} else {
		/* Highest first keeps each reported number valid as sent. */
		for (size_t i = s.ngone; i-- > 0;) {
			uint32_t seq = view_seq_of(v, s.gone[i]);
			view_remove_uid(v, s.gone[i]);
			resp_untagged(c, "%u EXPUNGE", seq);
		}
	}
	free(s.gone);
	v->expunge_modseq = v->ms->m.highestmodseq;
	/* This session was told: a ghost nobody else sees can go. */
	if (s.ngone > 0 && v->ms->nghosts > 0)
		ghosts_gc(c->user, v->ms, false);
	return 0;
}

static int
report_flags(const struct msg_row *r, void *arg)
{
	struct sync_ctx *s = arg;
	struct client *c = s->c;
	struct view *v = &c->view;
	uint32_t seq;

	if (r->uid >= s->old_uidnext || (seq = view_seq_of(v, r->uid)) == 0)
		return 0;
	buf_printf(&c->out, "* %u FETCH (", seq);
	/* NOTIFY's FlagChange names the UID too (RFC 5465 5.1), and so does
	 * every unsolicited FETCH of IMAP4rev2 (RFC 9051 7.5.2). */
	if (v->condstore || (c->enabled & (CAP_QRESYNC | CAP_REV2)) ||
	    c->notify != NULL)
		buf_printf(&c->out, "UID %u ", r->uid);
	buf_adds(&c->out, "FLAGS ");
	resp_flags(&c->out, view_flags(c, r), r->keywords,
	    client_recent(c, r->uid));
	if (v->condstore)
		buf_printf(&c->out, " MODSEQ (%llu)",
		    (unsigned long long)r->modseq);
	buf_adds(&c->out, ")\r\n");
	return 0;
}

static int
sync_flags(struct client *c)
{
	struct view *v = &c->view;
	struct sync_ctx s = { .c = c, .old_uidnext = v->known_uidnext };

	if (v->known_modseq >= v->ms->m.highestmodseq)
		return 0;
	if (store_msg_changed_since(c->user->store, &v->ms->m, v->known_modseq,
	    report_flags, &s) != 0)
		return -1;
	v->known_modseq = v->ms->m.highestmodseq;
	return 0;
}

static int
add_new(const struct msg_row *r, void *arg)
{
	struct view *v = arg;

	if (v->n == 0 || r->uid > v->uids[v->n - 1])
		view_push(v, r->uid);
	return 0;
}

static int
sync_new(struct client *c)
{
	struct view *v = &c->view;
	struct mbox *m = &v->ms->m;
	struct seq_range r;
	struct seqset set = { .r = &r, .n = 1 };
	size_t before = v->n;

	if (m->uidnext <= v->known_uidnext)
		return 0;
	r.lo = v->known_uidnext;
	r.hi = m->uidnext - 1;
	if (store_msg_foreach(c->user->store, m, &set, add_new, v) != 0)
		return -1;
	v->known_uidnext = m->uidnext;
	if (v->n == before)
		return 0;
	if (take_recent(c) == -1)
		return -1;
	resp_untagged(c, "%zu EXISTS", v->n);
	view_send_recent(c);
	return 0;
}

int
view_sync(struct client *c, bool allow_expunge)
{
	struct view *v = &c->view;
	struct mbox *m;
	uint32_t known;

	if (c->state != CS_SELECTED)
		return 0;
	if (v->ms->gone)
		return -1;
	m = &v->ms->m;
	if (!v->dirty && v->known_modseq == m->highestmodseq &&
	    v->expunge_modseq == m->highestmodseq &&
	    v->known_uidnext == m->uidnext) {
		context_sync(c);	/* the session's own changes */
		sync_recent(c);
		return 0;
	}
	/* New keywords are announced before a FETCH FLAGS shows them. */
	view_check_keywords(c);
	known = v->known_uidnext;
	if ((allow_expunge && sync_expunges(c) == -1) ||
	    sync_flags(c) == -1 || sync_new(c) == -1) {
		log_warnx("user %s: sync: %s", c->user->name,
		    store_errmsg(c->user->store));
		return 0;	/* try again at the next command */
	}
	v->dirty = v->expunge_modseq != m->highestmodseq;
	context_sync(c);
	sync_recent(c);
	if (v->known_uidnext > known)
		notify_new_uids(c, known);
	return 0;
}

/* ---- sets ---- */

int
view_uidset(struct client *c, const struct seqset *in, bool uid,
    struct seqset *out)
{
	struct view *v = &c->view;
	struct seqset seqs;
	uint32_t *uids;
	size_t n = 0;

	if (in->dollar) {
		*out = v->searchres;
		return 0;
	}
	if (uid) {
		seqset_resolve(&c->arena, in, v->n ? v->uids[v->n - 1] : 0, out);
		return 0;
	}
	for (size_t i = 0; i < in->n; i++)
		if ((in->r[i].lo != SEQ_STAR && in->r[i].lo > v->n) ||
		    (in->r[i].hi != SEQ_STAR && in->r[i].hi > v->n))
			return -1;
	seqset_resolve(&c->arena, in, (uint32_t)v->n, &seqs);
	uids = arena_array(&c->arena, seqset_count(&seqs) + 1, sizeof(*uids));
	if (uids == NULL)
		return -1;
	for (size_t i = 0; i < seqs.n; i++)
		for (uint64_t s = seqs.r[i].lo; s <= seqs.r[i].hi && s <= v->n; s++)
			uids[n++] = v->uids[s - 1];
	seqset_from_sorted(&c->arena, uids, n, out);
	return 0;
}

size_t
view_uids_in(struct client *c, const struct seqset *uids, uint32_t **out)
{
	struct view *v = &c->view;
	uint64_t max = seqset_count(uids);
	size_t n = 0;
	uint32_t *res;

	res = arena_array(&c->arena, (size_t)MK_MIN(max, (uint64_t)v->n) + 1,
	    sizeof(*res));
	if (res == NULL) {
		*out = NULL;
		return 0;
	}
	/* Walk whichever side is smaller. */
	if (max < v->n) {
		for (size_t i = 0; i < uids->n; i++)
			for (uint64_t u = uids->r[i].lo; u <= uids->r[i].hi; u++)
				if (view_seq_of(v, (uint32_t)u) != 0)
					res[n++] = (uint32_t)u;
	} else {
		for (size_t i = 0; i < v->n; i++)
			if (seqset_contains(uids, v->uids[i]))
				res[n++] = v->uids[i];
	}
	*out = res;
	return n;
}
