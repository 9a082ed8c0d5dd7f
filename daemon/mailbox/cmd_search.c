/*
 * cmd_search.c - SEARCH and UID SEARCH (RFC 3501 6.4.4) with ESEARCH
 * (RFC 4731), SEARCHRES (RFC 5182), CONTEXT=SEARCH (RFC 5267: PARTIAL
 * here, UPDATE in context.c), WITHIN (RFC 5032) and MODSEQ
 * (RFC 7162).  The keys are evaluated by store/search.c: indexed columns
 * in SQL, text keys on decoded message text.
 */
#include "daemon/mailbox/mbox_int.h"
#include "store/search.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

static bool
recent_cb(uint32_t uid, void *arg)
{
	struct client *c = arg;
	return view_is_recent(&c->view, uid);
}

static struct search_key *
seen_key(struct client *c, const struct seqset *seen, bool negate)
{
	struct search_key *k = arena_alloc(&c->arena, sizeof(*k));
	struct search_key *n;

	if (k == NULL)
		return NULL;
	k->type = SK_UID;
	k->set = *seen;
	if (!negate)
		return k;
	if ((n = arena_alloc(&c->arena, sizeof(*n))) == NULL)
		return NULL;
	n->type = SK_NOT;
	n->child = k;
	return n;
}

/* A guest with their own \Seen: SEEN, UNSEEN and NEW are about that,
 * so they become UID sets over it (the rest of the tree is kept). */
static struct search_key *
own_seen_keys(struct client *c, const struct search_key *k,
    const struct seqset *seen)
{
	struct search_key *head = NULL, **tail = &head;

	for (; k != NULL; k = k->next) {
		struct search_key *x;
		if (k->type == SK_SEEN || k->type == SK_UNSEEN) {
			x = seen_key(c, seen, k->type == SK_UNSEEN);
		} else if (k->type == SK_NEW) {
			struct search_key *r = arena_alloc(&c->arena, sizeof(*r));
			x = arena_alloc(&c->arena, sizeof(*x));
			if (r == NULL || x == NULL)
				return NULL;
			r->type = SK_RECENT;
			r->next = seen_key(c, seen, true);
			x->type = SK_AND;
			x->child = r;
		} else {
			x = arena_alloc(&c->arena, sizeof(*x));
			if (x == NULL)
				return NULL;
			*x = *k;
			x->next = NULL;
			if (k->child != NULL &&
			    (x->child = own_seen_keys(c, k->child, seen)) == NULL)
				return NULL;
		}
		if (x == NULL)
			return NULL;
		*tail = x;
		tail = &x->next;
	}
	return head;
}

int
mbox_search(struct client *c, const struct search_key *key, uint32_t **uids,
    size_t *n)
{
	if (c->view.own_seen) {
		const struct seqset *seen = view_seen_set(c);
		if (seen == NULL || (key = own_seen_keys(c, key, seen)) == NULL)
			return -1;
	}
	struct view *v = &c->view;
	struct search_ctx ctx = {
		.view = v->uids, .nview = v->n,
		.is_recent = recent_cb, .arg = c,
		.now = client_now(c),
		.saved = &v->searchres,
		.text_match = mbox_text_match, .text_arg = c,
		.fts = c->user->cfg->fts,
	};

	int rc = store_search(c->user->store, &v->ms->m, key, &ctx, uids, n);

	msgdata_search_done(c);
	return rc;
}

static bool
uses_modseq(const struct search_key *k)
{
	for (; k; k = k->next)
		if (k->type == SK_MODSEQ || uses_modseq(k->child))
			return true;
	return false;
}

struct maxmod {
	uint64_t max;
};

static int
max_modseq(const struct msg_row *r, void *arg)
{
	struct maxmod *m = arg;
	if (r->modseq > m->max)
		m->max = r->modseq;
	return 0;
}

void
mbox_save_result(struct client *c, const uint32_t *uids, size_t n,
    unsigned ret)
{
	struct view *v = &c->view;
	struct seqset tmp;

	/* RFC 5182 2.4: with MIN and/or MAX alone, only those are saved. */
	if ((ret & (SEARCH_RET_MIN | SEARCH_RET_MAX)) &&
	    !(ret & (SEARCH_RET_ALL | SEARCH_RET_COUNT)) && n > 0) {
		uint32_t pick[2];
		size_t k = 0;
		if (ret & SEARCH_RET_MIN)
			pick[k++] = uids[0];
		if ((ret & SEARCH_RET_MAX) && (k == 0 || uids[n - 1] != uids[0]))
			pick[k++] = uids[n - 1];
		seqset_from_sorted(&c->arena, pick, k, &tmp);
	} else
		seqset_from_sorted(&c->arena, uids, n, &tmp);
	/* The saved result outlives this command's arena. */
	free(v->searchres.r);
	v->searchres.r = xreallocarray(NULL, tmp.n + 1, sizeof(*tmp.r));
	if (tmp.n > 0)
		memcpy(v->searchres.r, tmp.r, tmp.n * sizeof(*tmp.r));
	v->searchres.n = tmp.n;
	v->searchres.dollar = false;
}

uint64_t
mbox_search_modseq(struct client *c, const struct search_key *key,
    const uint32_t *uids, size_t n)
{
	struct maxmod mm = { 0 };
	struct seqset set;

	if (!uses_modseq(key))
		return 0;
	view_enable_condstore(c);
	seqset_from_sorted(&c->arena, uids, n, &set);
	if (n > 0)
		store_msg_foreach(c->user->store, &c->view.ms->m, &set,
		    max_modseq, &mm);
	return mm.max;
}

static uint32_t *
to_output(struct client *c, const uint32_t *uids, size_t n)
{
	uint32_t *out = arena_array(&c->arena, n + 1, sizeof(*out));
	size_t hint = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		out[i] = c->cmd->uid ? uids[i] :
		    view_seq_next(&c->view, uids[i], &hint);
	return out;
}

void
mbox_esearch_head(struct client *c, unsigned ret, size_t n, uint32_t min,
    uint32_t max)
{
	struct buf *b = &c->out;

	buf_printf(b, "* ESEARCH (TAG \"%s\")%s", c->cmd->tag,
	    c->cmd->uid ? " UID" : "");
	if (n > 0 && (ret & SEARCH_RET_MIN))
		buf_printf(b, " MIN %u", min);
	if (n > 0 && (ret & SEARCH_RET_MAX))
		buf_printf(b, " MAX %u", max);
	if (ret & SEARCH_RET_COUNT)
		buf_printf(b, " COUNT %zu", n);
}

bool
mbox_partial_span(const struct search_partial *p, size_t n, size_t *from,
    size_t *to)
{
	uint64_t lo = (uint64_t)(p->lo > 0 ? p->lo : -p->lo);
	uint64_t hi = (uint64_t)(p->hi > 0 ? p->hi : -p->hi);

	if (lo > n)
		return false;
	if (p->lo > 0) {
		*from = (size_t)lo - 1;
		*to = (size_t)MK_MIN(hi, (uint64_t)n);
	} else {
		/* RFC 9394: -1 is the last result */
		*to = n - ((size_t)lo - 1);
		*from = hi >= n ? 0 : n - (size_t)hi;
	}
	return true;
}

void
mbox_partial_head(struct client *c, const struct search_partial *p)
{
	buf_printf(&c->out, " PARTIAL (%lld:%lld ", (long long)p->lo,
	    (long long)p->hi);
}

void
mbox_write_set(struct client *c, const uint32_t *ids, size_t n)
{
	struct seqset set;
	size_t len;
	char *text;

	seqset_from_sorted(&c->arena, ids, n, &set);
	len = seqset_format(&set, NULL, 0);
	text = xmalloc(len + 1);
	seqset_format(&set, text, len + 1);
	buf_adds(&c->out, text);
	free(text);
}

static void
esearch(struct client *c, const uint32_t *ids, size_t n,
    const struct search_args *a, uint64_t modseq)
{
	struct buf *b = &c->out;
	size_t from, to;

	mbox_esearch_head(c, a->ret, n, n > 0 ? ids[0] : 0,
	    n > 0 ? ids[n - 1] : 0);
	if (n > 0 && (a->ret & SEARCH_RET_ALL)) {
		buf_adds(b, " ALL ");
		mbox_write_set(c, ids, n);
	}
	if (a->ret & SEARCH_RET_PARTIAL) {
		mbox_partial_head(c, &a->partial);
		if (mbox_partial_span(&a->partial, n, &from, &to))
			mbox_write_set(c, ids + from, to - from);
		else
			buf_adds(b, "NIL");
		buf_addc(b, ')');
	}
	if (modseq)
		buf_printf(b, " MODSEQ %llu", (unsigned long long)modseq);
	buf_adds(b, "\r\n");
}

bool
mbox_update_ok(struct client *c, unsigned ret)
{
	if (!(ret & SEARCH_RET_UPDATE) || !context_tag_used(c, c->cmd->tag))
		return true;
	resp_bad(c, "Tag %s already names an update context; use a new tag "
	    "(RFC 5267 4.3)", c->cmd->tag);
	return false;
}

/* SAVE (RFC 5182) of the ascending uids[0..n); with PARTIAL, of what it
 * returned. */
static void
save(struct client *c, const struct search_args *a, const uint32_t *uids,
    size_t n)
{
	size_t from = 0, to = 0;

	if (!(a->ret & SEARCH_RET_PARTIAL)) {
		mbox_save_result(c, uids, n, a->ret);
		return;
	}
	if (!mbox_partial_span(&a->partial, n, &from, &to))
		from = to = 0;
	mbox_save_result(c, uids + from, to - from, SEARCH_RET_ALL);
}

static uint64_t
search_modseq(struct client *c, const struct search_args *a,
    const uint32_t *uids, size_t n)
{
	unsigned ret = a->ret;

	if (!uses_modseq(a->key))
		return 0;
	/* RFC 7162 3.1.5 with RFC 4731: when only MIN and/or MAX are
	 * returned, MODSEQ is about those messages alone. */
	if (a->esearch && n > 0 && (ret & (SEARCH_RET_MIN | SEARCH_RET_MAX)) &&
	    !(ret & (SEARCH_RET_ALL | SEARCH_RET_COUNT | SEARCH_RET_PARTIAL))) {
		uint32_t ends[2];
		size_t k = 0;
		if (ret & SEARCH_RET_MIN)
			ends[k++] = uids[0];
		if ((ret & SEARCH_RET_MAX) && (k == 0 || uids[n - 1] != uids[0]))
			ends[k++] = uids[n - 1];
		return mbox_search_modseq(c, a->key, ends, k);
	}
	return mbox_search_modseq(c, a->key, uids, n);
}

static bool
has_recent_key(const struct search_key *k)
{
	for (; k; k = k->next)
		if (k->type == SK_RECENT || k->type == SK_NEW ||
		    k->type == SK_OLD || has_recent_key(k->child))
			return true;
	return false;
}

bool
mbox_search_keys_ok(struct client *c, const char *charset,
    const struct search_key *key)
{
	/* RFC 6855 3: UTF8=ACCEPT labels every string UTF-8 already. */
	if (charset && (c->enabled & CAP_UTF8_ACCEPT)) {
		resp_bad(c, "CHARSET is not allowed after ENABLE UTF8=ACCEPT");
		return false;
	}
	/* RFC 9051 has no \Recent, so no RECENT, NEW or OLD key. */
	if ((c->enabled & CAP_REV2) && has_recent_key(key)) {
		resp_bad(c, "RECENT, NEW and OLD are not IMAP4rev2 search keys");
		return false;
	}
	return true;
}

enum cmd_result
cmd_search(struct client *c)
{
	const struct search_args *a = &c->cmd->u.search;
	struct search_args rev2;
	uint32_t *uids, *ids;
	uint64_t modseq;
	size_t n;

	if (!mbox_search_keys_ok(c, a->charset, a->key))
		return RUN_DONE;
	/* RFC 9051 6.4.4: a SEARCH without RETURN is RETURN (ALL), and the
	 * answer is ESEARCH; the SEARCH response is not IMAP4rev2's. */
	if ((c->enabled & CAP_REV2) && !a->esearch) {
		rev2 = *a;
		rev2.esearch = true;
		rev2.ret = SEARCH_RET_ALL;
		a = &rev2;
	}
	if (a->charset && !str_ieq(a->charset, "UTF-8") &&
	    !str_ieq(a->charset, "US-ASCII"))
		return resp_no(c, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported "
		    "charset %s", a->charset);
	if (!mbox_update_ok(c, a->ret))
		return RUN_DONE;
	if (mbox_search(c, a->key, &uids, &n) != 0)
		return resp_store_error(c, -1, "SEARCH");
	modseq = search_modseq(c, a, uids, n);
	if (a->esearch && (a->ret & SEARCH_RET_SAVE))
		save(c, a, uids, n);
	if ((ids = to_output(c, uids, n)) == NULL) {
		free(uids);
		return resp_no(c, "[LIMIT] Result too large");
	}
	if (a->esearch) {
		if (a->ret & ~SEARCH_RET_SAVE)
			esearch(c, ids, n, a, modseq);
		if (a->ret & SEARCH_RET_UPDATE)
			context_add(c, a->key, NULL, 0, uids, n);
		free(uids);
		return resp_ok(c, "SEARCH completed");
	}
	free(uids);
	buf_adds(&c->out, "* SEARCH");
	for (size_t i = 0; i < n; i++) {
		buf_addc(&c->out, ' ');
		buf_addu(&c->out, ids[i]);
	}
	if (modseq)
		buf_printf(&c->out, " (MODSEQ %llu)", (unsigned long long)modseq);
	buf_adds(&c->out, "\r\n");
	return resp_ok(c, "SEARCH completed");
}
