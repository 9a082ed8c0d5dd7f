/*
 * context.c - the update contexts of CONTEXT=SEARCH and CONTEXT=SORT
 * (RFC 5267 4.3) and CANCELUPDATE (4.3.5).
 *
 * A SEARCH or SORT with RETURN (UPDATE) leaves its search program and
 * its result with the session, which is then told, by ESEARCH ADDTO and
 * REMOVEFROM under the command's tag, whenever a message starts or stops
 * matching: new messages, flag changes (its own too), expunges.  Updates
 * stop when the mailbox is closed or CANCELUPDATE names the tag.
 *
 * How (the strategy of RFC 5267 Appendix B): a context keeps its result
 * as UIDs (ascending for SEARCH, in sort order for SORT) and the
 * mod-sequence it reflects.  At each view_sync() the messages whose
 * MODSEQ passed it (a flag change and an APPEND both move it) or that
 * joined the view since are searched again, restricted to those UIDs,
 * and compared with the result; an expunged message leaves the result
 * just before its EXPUNGE or VANISHED is written (4.3.4).  SORT places a
 * new match by binary search, reading the stored sort keys of one
 * message per step: sort keys never change, so a flag change never
 * moves a message.  All of it runs in this process, which serves every
 * session of the user: no IPC.
 *
 * Sequence numbers and "$" in the program mean what they meant when the
 * command ran (RFC 5267 4.3, RFC 5182), so they become UID sets when the
 * context is made.  OLDER/YOUNGER are re-evaluated only for messages
 * that change (RFC 5032 2 lets updates of those lag).
 */
#include "daemon/mailbox/mbox_int.h"
#include "store/sort.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

struct update_ctx {
	struct update_ctx *next;
	char               tag[65];	/* the parser's longest tag, 64 */
	bool               uid;		/* UID SEARCH / UID SORT: UIDs */
	bool               sort;
	struct sort_crit   crit[SORT_MAX_CRIT];
	size_t             ncrit;
	enum sort_need     need;
	struct arena       a;		/* the frozen search program */
	struct search_key *key;
	uint32_t          *res;		/* the result: UIDs */
	size_t             n, cap;
	uint32_t          *asc;		/* SORT: res ascending, for lookups */
	size_t             acap;
	uint64_t           modseq;	/* changes up to here are in res */
	uint32_t           uidnext;	/* view UIDs from here: not judged */
};

/* ---- making one ---- */

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* x's set as UIDs: "$" the saved result, sequence numbers the UIDs at
 * those positions of the view now (as store/search.c reads them: past
 * the end is nothing). */
static bool
freeze_set(struct client *c, struct arena *a, const struct search_key *k,
    struct search_key *x)
{
	const struct view *v = &c->view;
	struct seqset res;
	size_t i, nr = 0;

	x->type = SK_UID;
	x->set.dollar = false;
	if (k->set.dollar)
		res = v->searchres;
	else
		seqset_resolve(&c->arena, &k->set, (uint32_t)v->n, &res);
	if ((x->set.r = arena_array(a, res.n + 1, sizeof(*res.r))) == NULL)
		return false;
	for (i = 0; i < res.n; i++) {
		struct seq_range r = res.r[i];
		if (!k->set.dollar) {
			r.hi = MK_MIN(r.hi, (uint32_t)v->n);
			if (r.lo < 1 || r.lo > r.hi)
				continue;
			r.lo = v->uids[r.lo - 1];
			r.hi = v->uids[r.hi - 1];
		}
		x->set.r[nr++] = r;
	}
	x->set.n = nr;
	return true;
}

/* A copy of the tree k in a, sequence sets and "$" as UIDs. */
static struct search_key *
freeze(struct client *c, struct arena *a, const struct search_key *k)
{
	struct search_key *head = NULL, **tail = &head, *x;

	for (; k != NULL; k = k->next) {
		if ((x = arena_alloc(a, sizeof(*x))) == NULL)
			return NULL;
		*x = *k;
		x->next = NULL;
		if ((k->type == SK_SEQSET || k->set.dollar) &&
		    !freeze_set(c, a, k, x))
			return NULL;
		if ((k->str && (x->str = arena_strdup(a, k->str)) == NULL) ||
		    (k->field && (x->field = arena_strdup(a, k->field)) == NULL))
			return NULL;
		if (k->type == SK_UID && !k->set.dollar && k->set.n > 0) {
			x->set.r = arena_array(a, k->set.n, sizeof(*k->set.r));
			if (x->set.r == NULL)
				return NULL;
			memcpy(x->set.r, k->set.r, k->set.n * sizeof(*k->set.r));
		}
		if (k->child && (x->child = freeze(c, a, k->child)) == NULL)
			return NULL;
		*tail = x;
		tail = &x->next;
	}
	return head;
}

static struct update_ctx *
find(struct client *c, const char *tag, struct update_ctx ***pp)
{
	struct update_ctx **p;

	for (p = &c->contexts; *p; p = &(*p)->next)
		if (strcmp((*p)->tag, tag) == 0) {
			if (pp)
				*pp = p;
			return *p;
		}
	return NULL;
}

bool
context_tag_used(struct client *c, const char *tag)
{
	return find(c, tag, NULL) != NULL;
}

static void
ctx_free(struct update_ctx *x)
{
	arena_free(&x->a);
	free(x->res);
	free(x->asc);
	free(x);
}

static size_t
count(const struct client *c)
{
	size_t n = 0;

	for (const struct update_ctx *x = c->contexts; x; x = x->next)
		n++;
	return n;
}

void
context_add(struct client *c, const struct search_key *key,
    const struct sort_crit *crit, size_t ncrit, const uint32_t *uids,
    size_t n)
{
	struct update_ctx *x;

	/* A guest session: the grantee's process already said NOUPDATE. */
	if (client_is_guest(c))
		return;
	if (count(c) >= CONTEXT_MAX) {
		resp_untagged(c, "NO [NOUPDATE \"%s\"] Too many update contexts "
		    "(at most %d): CANCELUPDATE one first", c->cmd->tag,
		    CONTEXT_MAX);
		return;
	}
	x = xcalloc(1, sizeof(*x));
	mk_strlcpy(x->tag, c->cmd->tag, sizeof(x->tag));
	x->uid = c->cmd->uid;
	x->sort = crit != NULL;
	if (x->sort) {
		memcpy(x->crit, crit, ncrit * sizeof(*crit));
		x->ncrit = ncrit;
		x->need = sort_needs_keys(crit, ncrit) ? SORT_NEED_KEYS :
		    SORT_NEED_ROWS;
	}
	arena_init(&x->a, 0);
	if ((x->key = freeze(c, &x->a, key)) == NULL) {
		ctx_free(x);
		resp_untagged(c, "NO [NOUPDATE \"%s\"] Out of memory for the "
		    "update context", c->cmd->tag);
		return;
	}
	x->cap = n + 16;
	x->res = xreallocarray(NULL, x->cap, sizeof(*x->res));
	if (n > 0)
		memcpy(x->res, uids, n * sizeof(*uids));
	x->n = n;
	if (x->sort) {
		x->acap = x->cap;
		x->asc = xreallocarray(NULL, x->acap, sizeof(*x->asc));
		if (n > 0)
			memcpy(x->asc, uids, n * sizeof(*uids));
		qsort(x->asc, n, sizeof(*x->asc), cmp_u32);
	}
	x->modseq = c->view.ms->m.highestmodseq;
	x->uidnext = c->view.known_uidnext;
	x->next = c->contexts;
	c->contexts = x;
}

void
context_free_all(struct client *c)
{
	while (c->contexts != NULL) {
		struct update_ctx *x = c->contexts;
		c->contexts = x->next;
		ctx_free(x);
	}
}

enum cmd_result
cmd_cancelupdate(struct client *c)
{
	const struct imap_cmd *cmd = c->cmd;
	struct update_ctx *x, **pp;
	size_t i;

	/* All named tags or none: a typo does not cancel half of a list. */
	for (i = 0; i < cmd->u.cancelupdate.ntags; i++)
		if (!find(c, cmd->u.cancelupdate.tags[i], NULL))
			return resp_bad(c, "No update context has the tag \"%s\"",
			    cmd->u.cancelupdate.tags[i]);
	for (i = 0; i < cmd->u.cancelupdate.ntags; i++)
		if ((x = find(c, cmd->u.cancelupdate.tags[i], &pp)) != NULL) {
			*pp = x->next;
			ctx_free(x);
		}
	return resp_ok(c, "CANCELUPDATE completed, no further updates");
}

/* ---- writing updates ---- */

static uint32_t
num(const struct client *c, const struct update_ctx *x, uint32_t uid)
{
	return x->uid ? uid : view_seq_of(&c->view, uid);
}

static void
head(struct client *c, const struct update_ctx *x, const char *item)
{
	buf_printf(&c->out, "* ESEARCH (TAG \"%s\")%s %s (", x->tag,
	    x->uid ? " UID" : "", item);
}

/* "(0 set)" of SEARCH: the UIDs ascending, as numbers of the context. */
static void
write_set(struct client *c, const struct update_ctx *x, const char *item,
    const uint32_t *uids, size_t n)
{
	uint32_t *v = xreallocarray(NULL, n, sizeof(*v));
	struct seqset set;
	char *text;
	size_t len;

	for (size_t i = 0; i < n; i++)
		v[i] = num(c, x, uids[i]);
	seqset_from_sorted(&c->arena, v, n, &set);
	len = seqset_format(&set, NULL, 0);
	text = xmalloc(len + 1);
	seqset_format(&set, text, len + 1);
	head(c, x, item);
	buf_printf(&c->out, "0 %s)\r\n", text);
	free(text);
	free(v);
}

static bool
has(const uint32_t *v, size_t n, uint32_t uid)
{
	return n > 0 && bsearch(&uid, v, n, sizeof(*v), cmp_u32) != NULL;
}

/* Is uid in the result? */
static bool
member(const struct update_ctx *x, uint32_t uid)
{
	return x->sort ? has(x->asc, x->n, uid) : has(x->res, x->n, uid);
}

/* Drops from v[0..*n) the UIDs in gone[0..ng) (ascending), in one pass
 * that keeps v's order. */
static void
filter_out(uint32_t *v, size_t *n, const uint32_t *gone, size_t ng)
{
	size_t keep = 0;

	for (size_t i = 0; i < *n; i++)
		if (!has(gone, ng, v[i]))
			v[keep++] = v[i];
	*n = keep;
}

/* Merges add[0..na) (ascending, none in it) into the ascending v. */
static void
merge_in(uint32_t **v, size_t n, size_t *cap, const uint32_t *add,
    size_t na)
{
	size_t i = n, j = na, k = n + na;

	if (k > *cap) {
		*cap = k + k / 2 + 16;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	while (j > 0) {
		if (i > 0 && (*v)[i - 1] > add[j - 1])
			(*v)[--k] = (*v)[--i];
		else
			(*v)[--k] = add[--j];
	}
}

/* nums[0..n) in their order, ascending runs as ranges: "5,3:4,2". */
static void
put_nums(struct buf *b, const uint32_t *nums, size_t n)
{
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && nums[j] == nums[j - 1] + 1; j++)
			;
		buf_printf(b, i > 0 ? ",%u" : "%u", nums[i]);
		if (j - i > 1)
			buf_printf(b, ":%u", nums[j - 1]);
	}
}

/* SORT: REMOVEFROM pairs for the indexes of res in gone, the highest
 * first so that each position is still valid when the client gets to
 * it, a run of neighbours as one pair. */
static void
sort_removefrom(struct client *c, const struct update_ctx *x,
    const uint32_t *gone, size_t ng)
{
	uint32_t *nums = xreallocarray(NULL, ng + 1, sizeof(*nums));
	bool first = true;
	size_t i = x->n, lo, k;

	head(c, x, "REMOVEFROM");
	while (i > 0) {
		if (!has(gone, ng, x->res[i - 1])) {
			i--;
			continue;
		}
		for (lo = i - 1; lo > 0 && has(gone, ng, x->res[lo - 1]); lo--)
			;
		for (k = lo; k < i; k++)
			nums[k - lo] = num(c, x, x->res[k]);
		buf_printf(&c->out, "%s%zu ", first ? "" : " ", lo + 1);
		put_nums(&c->out, nums, i - lo);
		first = false;
		i = lo;
	}
	buf_adds(&c->out, ")\r\n");
	free(nums);
}

/* Drops uids[0..n) (ascending) from x's result; REMOVEFROM for those it
 * held, in the numbering before they go. */
static void
remove_uids(struct client *c, struct update_ctx *x, const uint32_t *uids,
    size_t n)
{
	uint32_t *gone = xreallocarray(NULL, n + 1, sizeof(*gone));
	size_t ng = 0, left;

	for (size_t i = 0; i < n; i++)
		if (member(x, uids[i]))
			gone[ng++] = uids[i];
	if (ng > 0 && !x->sort)
		write_set(c, x, "REMOVEFROM", gone, ng);
	else if (ng > 0) {
		sort_removefrom(c, x, gone, ng);
		left = x->n;
		filter_out(x->asc, &left, gone, ng);
	}
	if (ng > 0)
		filter_out(x->res, &x->n, gone, ng);
	free(gone);
}

void
context_expunged(struct client *c, const uint32_t *uids, size_t n)
{
	for (struct update_ctx *x = c->contexts; x && n > 0; x = x->next)
		remove_uids(c, x, uids, n);
}

/* ---- SORT: where new matches go ---- */

/* A few new matches: each placed by binary search, reading one
 * message's keys per step.  A message without a row (expunged, still
 * in this view until its EXPUNGE may be sent) is on its way out: it is
 * stepped over, and the rows around it decide. */
static bool
load_one(struct client *c, const struct update_ctx *x, struct arena *a,
    uint32_t uid, struct sort_msg *out)
{
	struct sort_msg *m;
	size_t n;

	if (store_sort_load(c->user->store, &c->view.ms->m, &uid, 1, x->need,
	    a, &m, &n) != 0 || n != 1)
		return false;
	*out = *m;
	out->seq = uid;	/* ties go by UID, which is sequence order */
	return true;
}

/* The nearest index to mid in [lo, hi) with a row, its keys in *p;
 * SIZE_MAX if none has one. */
static size_t
probe_near(struct client *c, const struct update_ctx *x, struct arena *a,
    const uint32_t *res, size_t lo, size_t hi, size_t mid,
    struct sort_msg *p)
{
	for (size_t d = 0; mid + d < hi || mid >= lo + d; d++) {
		if (mid + d < hi && load_one(c, x, a, res[mid + d], p))
			return mid + d;
		if (d > 0 && mid >= lo + d && load_one(c, x, a, res[mid - d], p))
			return mid - d;
	}
	return SIZE_MAX;
}

static size_t
sort_position(struct client *c, const struct update_ctx *x, struct arena *a,
    const uint32_t *res, size_t n, const struct sort_msg *m)
{
	size_t lo = 0, hi = n, q;
	struct sort_msg probe;

	while (lo < hi) {
		q = probe_near(c, x, a, res, lo, hi, lo + (hi - lo) / 2, &probe);
		if (q == SIZE_MAX)
			break;	/* nothing but rows on their way out */
		if (sort_cmp(m, &probe, x->crit, x->ncrit) > 0)
			lo = q + 1;
		else
			hi = q;
	}
	return lo;
}

/* The new order of res with add[0..na) placed one by one: its length,
 * out[] and isnew[] filled. */
static int
sort_few(struct client *c, const struct update_ctx *x, struct arena *a,
    const uint32_t *add, size_t na, uint32_t *out, bool *isnew)
{
	struct sort_msg m;
	size_t k = x->n, p;

	memcpy(out, x->res, k * sizeof(*out));
	for (size_t i = 0; i < na; i++, arena_reset(a)) {
		if (!load_one(c, x, a, add[i], &m))
			continue;	/* expunged meanwhile: no match */
		p = sort_position(c, x, a, out, k, &m);
		memmove(&out[p + 1], &out[p], (k - p) * sizeof(*out));
		memmove(&isnew[p + 1], &isnew[p], (k - p) * sizeof(*isnew));
		out[p] = add[i];
		isnew[p] = true;
		k++;
	}
	return (int)k;
}

/* The row of uid among msgs[0..n) (ascending by UID), or NULL. */
static struct sort_msg *
find_msg(struct sort_msg *msgs, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && msgs[lo].uid == uid ? &msgs[lo] : NULL;
}

/* Many new matches: the new order as one merge of res (in its order)
 * with the new ones sorted, every key read once.  Its length, out[] and
 * isnew[] filled; -1 if the keys cannot be read. */
static int
sort_merge(struct client *c, const struct update_ctx *x, struct arena *a,
    const uint32_t *add, size_t na, uint32_t *out, bool *isnew)
{
	size_t nall = x->n + na, acap = nall + 1;
	uint32_t *all = xreallocarray(NULL, acap, sizeof(*all));
	struct sort_msg *msgs, **np, *o;
	size_t nm, nn = 0, i = 0, j = 0, k = 0;
	int rc;

	memcpy(all, x->asc, x->n * sizeof(*all));
	merge_in(&all, x->n, &acap, add, na);
	rc = store_sort_load(c->user->store, &c->view.ms->m, all, nall,
	    x->need, a, &msgs, &nm);
	free(all);
	if (rc != 0 || (np = arena_array(a, na + 1, sizeof(*np))) == NULL)
		return -1;
	for (size_t m = 0; m < nm; m++)
		if (has(add, na, msgs[m].uid))
			np[nn++] = &msgs[m];
	sort_msgs(np, nn, x->crit, x->ncrit);
	while (i < x->n || j < nn) {
		/* an old entry without a row goes first (see load_one) */
		o = i < x->n ? find_msg(msgs, nm, x->res[i]) : NULL;
		isnew[k] = !(j == nn || (i < x->n && (o == NULL ||
		    sort_cmp(np[j], o, x->crit, x->ncrit) > 0)));
		out[k] = isnew[k] ? np[j++]->uid : x->res[i++];
		k++;
	}
	return (int)k;
}

/* ADDTO of the new entries of out[0..n) (final order): positions
 * ascending, so each is valid after the ones before it; neighbours as
 * one pair. */
static void
sort_addto(struct client *c, const struct update_ctx *x, const uint32_t *out,
    const bool *isnew, size_t n)
{
	uint32_t *nums = xreallocarray(NULL, n + 1, sizeof(*nums));
	bool first = true;
	size_t i = 0, j;

	while (i < n) {
		if (!isnew[i]) {
			i++;
			continue;
		}
		for (j = i; j < n && isnew[j]; j++)
			nums[j - i] = num(c, x, out[j]);
		if (first)
			head(c, x, "ADDTO");
		buf_printf(&c->out, "%s%zu ", first ? "" : " ", i + 1);
		put_nums(&c->out, nums, j - i);
		first = false;
		i = j;
	}
	if (!first)
		buf_adds(&c->out, ")\r\n");
	free(nums);
}

#define SORT_FEW 16	/* more new matches: one merge, not searches */

/* SORT: the new matches in place; -1 (nothing changed) if their keys
 * cannot be read. */
static int
sort_add(struct client *c, struct update_ctx *x, const uint32_t *uids,
    size_t n)
{
	size_t cap = x->n + n + 16, na = 0;
	uint32_t *out = xreallocarray(NULL, cap, sizeof(*out));
	uint32_t *added = xreallocarray(NULL, n + 1, sizeof(*added));
	bool *isnew = xcalloc(cap, sizeof(*isnew));
	struct arena a;
	int k;

	arena_init(&a, 0);
	k = n > SORT_FEW ? sort_merge(c, x, &a, uids, n, out, isnew) :
	    sort_few(c, x, &a, uids, n, out, isnew);
	arena_free(&a);
	if (k >= 0) {
		sort_addto(c, x, out, isnew, (size_t)k);
		for (size_t i = 0; i < (size_t)k; i++)
			if (isnew[i])
				added[na++] = out[i];
		qsort(added, na, sizeof(*added), cmp_u32);
		merge_in(&x->asc, x->n, &x->acap, added, na);
		free(x->res);
		x->res = out;
		x->cap = cap;
		x->n = (size_t)k;
	} else
		free(out);
	free(added);
	free(isnew);
	return k < 0 ? -1 : 0;
}

/* Adds uids[0..n) (ascending, none in the result) to x's result;
 * ADDTO.  -1 if it could not (SORT keys unreadable): nothing sent. */
static int
add_uids(struct client *c, struct update_ctx *x, const uint32_t *uids,
    size_t n)
{
	if (n == 0)
		return 0;
	if (x->sort)
		return sort_add(c, x, uids, n);
	write_set(c, x, "ADDTO", uids, n);
	merge_in(&x->res, x->n, &x->cap, uids, n);
	x->n += n;
	return 0;
}

/* ---- following the mailbox ---- */

struct cands {
	const struct view *v;
	uint32_t          *u;
	size_t             n, cap;
	bool               beyond;	/* a changed row not in the view yet */
};

static void
cand_add(struct cands *k, uint32_t uid)
{
	if (k->n == k->cap) {
		k->cap = k->cap * 2 + 64;
		k->u = xreallocarray(k->u, k->cap, sizeof(*k->u));
	}
	k->u[k->n++] = uid;
}

static int
changed_row(const struct msg_row *r, void *arg)
{
	struct cands *k = arg;

	if (r->uid >= k->v->known_uidnext)
		k->beyond = true;
	else if (view_seq_of(k->v, r->uid) != 0)
		cand_add(k, r->uid);
	return 0;
}

/* The UIDs x must judge again, ascending and once each: changed since
 * its modseq, new in the view since its uidnext.  -1 on a store
 * error. */
static int
candidates(struct client *c, const struct update_ctx *x, struct cands *k)
{
	const struct view *v = &c->view;
	size_t i, j;

	memset(k, 0, sizeof(*k));
	k->v = v;
	if (x->modseq < v->ms->m.highestmodseq &&
	    store_msg_changed_since(c->user->store, &v->ms->m, x->modseq,
	    changed_row, k) != 0) {
		free(k->u);
		k->u = NULL;
		return -1;
	}
	for (i = v->n; i > 0 && v->uids[i - 1] >= x->uidnext; i--)
		cand_add(k, v->uids[i - 1]);
	if (k->n == 0)
		return 0;
	qsort(k->u, k->n, sizeof(*k->u), cmp_u32);
	for (i = j = 1; i < k->n; i++)
		if (k->u[i] != k->u[j - 1])
			k->u[j++] = k->u[i];
	k->n = j;
	return 0;
}

/* The context's program, restricted to the candidates' UIDs. */
static struct search_key *
restricted(struct client *c, const struct update_ctx *x,
    const struct cands *k)
{
	struct search_key *and = arena_alloc(&c->arena, sizeof(*and));
	struct search_key *prog = arena_alloc(&c->arena, sizeof(*prog));
	struct search_key *only = arena_alloc(&c->arena, sizeof(*only));

	if (and == NULL || prog == NULL || only == NULL)
		return NULL;
	*prog = *x->key;
	prog->next = only;
	only->type = SK_UID;
	seqset_from_sorted(&c->arena, k->u, k->n, &only->set);
	and->type = SK_AND;
	and->child = prog;
	return and;
}

/* Judges x's candidates again: REMOVEFROM what stopped matching, then
 * ADDTO what started. */
static int
judge(struct client *c, struct update_ctx *x, const struct cands *k)
{
	struct search_key *key = restricted(c, x, k);
	uint32_t *match, *out, *in;
	size_t nm, nout = 0, nin = 0;
	int rc;

	if (key == NULL || mbox_search(c, key, &match, &nm) != 0)
		return -1;
	out = xreallocarray(NULL, k->n + 1, sizeof(*out));
	in = xreallocarray(NULL, k->n + 1, sizeof(*in));
	for (size_t i = 0; i < k->n; i++) {
		bool was = member(x, k->u[i]);
		bool is = has(match, nm, k->u[i]);
		if (was && !is)
			out[nout++] = k->u[i];
		else if (is && !was)
			in[nin++] = k->u[i];
	}
	if (nout > 0)
		remove_uids(c, x, out, nout);
	rc = add_uids(c, x, in, nin);
	free(out);
	free(in);
	free(match);
	return rc;
}

void
context_sync(struct client *c)
{
	const struct view *v = &c->view;
	struct cands k;

	if (c->state != CS_SELECTED || v->ms == NULL)
		return;
	for (struct update_ctx *x = c->contexts; x; x = x->next) {
		if (x->modseq >= v->ms->m.highestmodseq &&
		    x->uidnext >= v->known_uidnext)
			continue;
		if (candidates(c, x, &k) != 0 ||
		    (k.n > 0 && judge(c, x, &k) != 0)) {
			/* Left behind: judged again at the next sync. */
			log_warnx("user %s: update context %s: %s",
			    c->user->name, x->tag, store_errmsg(c->user->store));
			free(k.u);
			continue;
		}
		/* A change past the view's end waits for its EXISTS. */
		if (!k.beyond)
			x->modseq = v->ms->m.highestmodseq;
		x->uidnext = v->known_uidnext;
		free(k.u);
	}
}
