/*
 * cmd_sort.c - SORT, UID SORT, THREAD and UID THREAD (RFC 5256, with
 * the DISPLAYFROM / DISPLAYTO keys of RFC 5957, the RETURN options of
 * ESORT, RFC 5267 section 3, PARTIAL and UPDATE of CONTEXT=SORT, section
 * 4 (updates: context.c), SAVE of RFC 5182 and the MODSEQ of RFC 7162
 * 3.1.5).
 *
 * The search is SEARCH's (mbox_search(), every key and charset rule
 * alike); the matching messages' sort keys come from the store's rows
 * (store/sort.h: computed at APPEND), so no message is read here
 * unless a text search key asks for it.
 */
#include "daemon/mailbox/mbox_int.h"
#include "store/sort.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* The criteria are ALL and nothing else (what webmail sends). */
static bool
only_all(const struct search_key *k)
{
	if (k->type != SK_AND || k->child == NULL)
		return false;
	for (k = k->child; k != NULL; k = k->next)
		if (k->type != SK_ALL)
			return false;
	return true;
}

/* Searches, then loads the matches; *msgs in the command's arena with
 * num set to what the answer shows.  0, or -1 after answering NO. */
static int
load(struct client *c, enum sort_need need, struct sort_msg **msgs,
    size_t *n, const char *what)
{
	const struct sort_args *a = &c->cmd->u.sort;
	uint32_t *uids;
	size_t nu;
	int rc;

	/* SORT's charset is part of its grammar (RFC 5256), so only the
	 * IMAP4rev2 rule on keys applies. */
	if (!mbox_search_keys_ok(c, NULL, a->key))
		return -1;
	if (!str_ieq(a->charset, "UTF-8") && !str_ieq(a->charset, "US-ASCII")) {
		resp_no(c, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset "
		    "%s", a->charset);
		return -1;
	}
	if (only_all(a->key)) {
		/* the view is the answer: no search (store_sort_load leaves
		 * out what has no row any more, as the search would) */
		nu = c->view.n;
		uids = xreallocarray(NULL, nu + 1, sizeof(*uids));
		if (nu > 0)
			memcpy(uids, c->view.uids, nu * sizeof(*uids));
	} else if (mbox_search(c, a->key, &uids, &nu) != 0) {
		resp_store_error(c, -1, what);
		return -1;
	}
	rc = store_sort_load(c->user->store, &c->view.ms->m, uids, nu, need,
	    &c->arena, msgs, n);
	free(uids);
	if (rc == MK_INVALID)
		resp_no(c, "[LIMIT] %s: too many messages match; narrow the "
		    "search", what);
	else if (rc != 0)
		resp_store_error(c, rc, what);
	if (rc != 0)
		return -1;
	for (size_t i = 0; i < *n; i++)
		if (!c->cmd->uid)
			(*msgs)[i].num = view_seq_of(&c->view, (*msgs)[i].uid);
	return 0;
}

/* The UIDs of msgs (loaded in UID order): ascending. */
static uint32_t *
uids_of(struct client *c, const struct sort_msg *msgs, size_t n)
{
	uint32_t *u = arena_array(&c->arena, n + 1, sizeof(*u));

	for (size_t i = 0; u != NULL && i < n; i++)
		u[i] = msgs[i].uid;
	return u;
}

/* With RETURN options, MIN and/or MAX alone: only the first and last
 * message in sort order count (for SAVE and MODSEQ); their UIDs,
 * ascending, in ends. */
static size_t
min_max_only(unsigned ret, struct sort_msg *const *p, size_t n,
    uint32_t ends[2])
{
	size_t k = 0;

	if (n == 0 || !(ret & (SEARCH_RET_MIN | SEARCH_RET_MAX)) ||
	    (ret & (SEARCH_RET_ALL | SEARCH_RET_COUNT)))
		return 0;
	if (ret & SEARCH_RET_MIN)
		ends[k++] = p[0]->uid;
	if ((ret & SEARCH_RET_MAX) && (k == 0 || p[n - 1]->uid != ends[0]))
		ends[k++] = p[n - 1]->uid;
	if (k == 2 && ends[0] > ends[1]) {
		uint32_t t = ends[0];
		ends[0] = ends[1];
		ends[1] = t;
	}
	return k;
}

/* ESORT (RFC 5267 3): the ESEARCH response of RFC 4731, MIN and MAX
 * being the first and last in sort order, ALL and PARTIAL (4.4) in sort
 * order. */
static void
esort(struct client *c, struct sort_msg *const *p, size_t n, uint64_t modseq)
{
	const struct sort_args *a = &c->cmd->u.sort;
	struct buf *b = &c->out;
	size_t from, to;

	mbox_esearch_head(c, a->ret, n, n > 0 ? p[0]->num : 0,
	    n > 0 ? p[n - 1]->num : 0);
	if (n > 0 && (a->ret & SEARCH_RET_ALL)) {
		buf_adds(b, " ALL ");
		sort_write_set(b, p, n);
	}
	if (a->ret & SEARCH_RET_PARTIAL) {
		mbox_partial_head(c, &a->partial);
		if (mbox_partial_span(&a->partial, n, &from, &to))
			sort_write_set(b, p + from, to - from);
		else
			buf_adds(b, "NIL");
		buf_addc(b, ')');
	}
	if (modseq)
		buf_printf(b, " MODSEQ %llu", (unsigned long long)modseq);
	buf_adds(b, "\r\n");
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The UIDs of p[from..to), in sort order; ascending with asc. */
static uint32_t *
uids_in_order(struct client *c, struct sort_msg *const *p, size_t from,
    size_t to, bool asc)
{
	uint32_t *u = arena_array(&c->arena, to - from + 1, sizeof(*u));

	for (size_t i = from; u != NULL && i < to; i++)
		u[i - from] = p[i]->uid;
	if (u != NULL && asc)
		qsort(u, to - from, sizeof(*u), cmp_u32);
	return u;
}

/* SAVE (RFC 5182): what MIN/MAX returned (k ends), what PARTIAL
 * returned, or every match (asc). */
static bool
sort_save(struct client *c, struct sort_msg *const *p, size_t n,
    const uint32_t *ends, size_t k, const uint32_t *asc)
{
	const struct sort_args *a = &c->cmd->u.sort;
	size_t from = 0, to = 0;
	uint32_t *u;

	if (!(a->ret & SEARCH_RET_PARTIAL)) {
		mbox_save_result(c, k > 0 ? ends : asc, k > 0 ? k : n,
		    SEARCH_RET_ALL);
		return true;
	}
	if (!mbox_partial_span(&a->partial, n, &from, &to))
		from = to = 0;
	if ((u = uids_in_order(c, p, from, to, true)) == NULL)
		return false;
	mbox_save_result(c, u, to - from, SEARCH_RET_ALL);
	return true;
}

enum cmd_result
cmd_sort(struct client *c)
{
	const struct sort_args *a = &c->cmd->u.sort;
	enum sort_need need = sort_needs_keys(a->crit, a->ncrit) ?
	    SORT_NEED_KEYS : SORT_NEED_ROWS;
	struct sort_msg *msgs, **p = NULL;
	uint32_t *asc, *sorted, ends[2];
	uint64_t modseq;
	size_t n, k;

	if (!mbox_update_ok(c, a->ret))
		return RUN_DONE;
	if (load(c, need, &msgs, &n, "SORT") != 0)
		return RUN_DONE;
	if (n > 0 && (p = arena_array(&c->arena, n, sizeof(*p))) == NULL)
		return resp_no(c, "[LIMIT] Result too large");
	for (size_t i = 0; i < n; i++)
		p[i] = &msgs[i];
	if (n > 0)
		sort_msgs(p, n, a->crit, a->ncrit);
	if ((asc = uids_of(c, msgs, n)) == NULL)
		return resp_no(c, "[LIMIT] Result too large");
	k = a->esearch && !(a->ret & SEARCH_RET_PARTIAL) ?
	    min_max_only(a->ret, p, n, ends) : 0;
	/* RFC 7162 3.1.5: a MODSEQ criterion adds the highest MODSEQ */
	modseq = k > 0 ? mbox_search_modseq(c, a->key, ends, k) :
	    mbox_search_modseq(c, a->key, asc, n);
	if (a->esearch) {
		if ((a->ret & SEARCH_RET_SAVE) && !sort_save(c, p, n, ends, k,
		    asc))
			return resp_no(c, "[LIMIT] Result too large");
		if (a->ret & ~SEARCH_RET_SAVE)
			esort(c, p, n, modseq);
		if (a->ret & SEARCH_RET_UPDATE) {
			if ((sorted = uids_in_order(c, p, 0, n, false)) == NULL)
				return resp_no(c, "[LIMIT] Result too large");
			context_add(c, a->key, a->crit, a->ncrit, sorted, n);
		}
		return resp_ok(c, "SORT completed");
	}
	buf_adds(&c->out, "* SORT");
	sort_write(&c->out, p, n);
	if (modseq)
		buf_printf(&c->out, " (MODSEQ %llu)", (unsigned long long)modseq);
	buf_adds(&c->out, "\r\n");
	return resp_ok(c, "SORT completed");
}

enum cmd_result
cmd_thread(struct client *c)
{
	struct sort_msg *msgs;
	size_t n;

	if (load(c, SORT_NEED_THREAD, &msgs, &n, "THREAD") != 0)
		return RUN_DONE;
	buf_adds(&c->out, "* THREAD");
	thread_write(&c->out, msgs, n, c->cmd->u.sort.alg);
	buf_adds(&c->out, "\r\n");
	return resp_ok(c, "THREAD completed");
}
