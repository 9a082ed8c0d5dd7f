/*
 * search.c - SEARCH over one mailbox (see search.h).
 *
 * Three steps.  compile() turns the parser's key tree into a tree of
 * plain predicates on a message row: sets become UID ranges through the
 * session's view, keywords their defined spelling, dates bounds on
 * seconds; constants fold away.  plan_absorb() takes the top-level AND of
 * that tree apart: flag, keyword, size, date, modseq and UID predicates
 * become one WHERE clause, the rest (OR, NOT, RECENT, text) the residue.
 * run() executes the statement over the cheapest access path (the
 * (mailbox, uid) primary key, or the modseq or date index when a quick
 * bounded count shows them selective), walks the rows against the view,
 * and evaluates the residue in three-valued logic: a row that depends on
 * a text key is kept aside and given to ctx->text_match once SQLite is
 * done, so text matching never runs on a row the cheap keys exclude and
 * never runs while a statement is open.
 *
 * Calendar days: a day D in a message's own zone is the local second
 * range [D*86400, D*86400 + 86399] of internaldate + tz*60, the same
 * arithmetic as imapdate_day(), written so SQLite can compare it.  The
 * zone is at most 99:59 (store_msg.c refuses more), which turns a day
 * into an internaldate range wide enough for the date index.
 */
#include "store/search.h"
#include "store/store_int.h"
#include "store/mime_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/log.h"
#include "common/util.h"

#define DAY_SECS      86400
#define TZ_MARGIN     ((int64_t)(99 * 60 + 59) * 60)
#define PK_RANGES_MAX 64		/* more: one span and a check in C */
#define INTERVAL_MAX  ((uint64_t)1 << 40)	/* OLDER/YOUNGER beyond time */

enum cn_kind {
	CN_CONST, CN_FLAGS, CN_KW, CN_SIZE, CN_TIME, CN_LDAY, CN_SDAY,
	CN_MODSEQ, CN_UIDS, CN_RECENT, CN_TEXT, CN_AND, CN_OR, CN_NOT,
};

struct cnode {
	enum cn_kind             kind;
	bool                     text;	/* the subtree needs text_match */
	bool                     val;	/* CN_CONST */
	unsigned                 mask, want;	/* CN_FLAGS */
	const char              *kw;	/* CN_KW: defined spelling */
	int64_t                  lo, hi;	/* inclusive bounds */
	const struct seq_range  *r;	/* CN_UIDS, sorted and merged */
	size_t                   nr;
	const struct search_key *key;	/* CN_TEXT */
	struct cnode            *child, *next;
};

struct compiler {
	struct store            *s;
	const struct mbox       *m;
	const struct search_ctx *ctx;
	struct arena            *a;
	bool                     fts;	/* text keys may ask the index */
	bool                     fts_ready;	/* pend is read */
	bool                     fts_txn;	/* we opened the read snapshot */
	uint32_t                *pend;	/* UIDs the index does not hold */
	size_t                   npend;
};

/* One message as the evaluator sees it. */
struct srow {
	struct msg_row r;
	bool           has_sent;
	int64_t        sent_local;
};

enum { V_ERROR = -1, V_FALSE = 0, V_TRUE = 1, V_UNKNOWN = 2 };

/* ---- compiling ---- */

static struct cnode *
cn_new(struct arena *a, enum cn_kind kind)
{
	struct cnode *n = arena_alloc(a, sizeof(*n));

	if (n == NULL)
		fatalx("unbounded arena refused an allocation");
	n->kind = kind;
	return n;
}

static struct cnode *
cn_const(struct arena *a, bool v)
{
	struct cnode *n = cn_new(a, CN_CONST);

	n->val = v;
	return n;
}

static struct cnode *
cn_bounds(struct arena *a, enum cn_kind kind, int64_t lo, int64_t hi)
{
	struct cnode *n = cn_new(a, kind);

	n->lo = lo;
	n->hi = hi;
	return n;
}

static struct cnode *
cn_flags(struct arena *a, unsigned mask, unsigned want)
{
	struct cnode *n = cn_new(a, CN_FLAGS);

	n->mask = mask;
	n->want = want;
	return n;
}

static struct cnode *
cn_not(struct arena *a, struct cnode *c)
{
	struct cnode *n;

	if (c->kind == CN_CONST)
		return cn_const(a, !c->val);
	/* One flag: NOT SEEN is UNSEEN. */
	if (c->kind == CN_FLAGS && (c->mask & (c->mask - 1)) == 0)
		return cn_flags(a, c->mask, c->want ^ c->mask);
	if (c->kind == CN_NOT)
		return c->child;
	n = cn_new(a, CN_NOT);
	n->child = c;
	n->text = c->text;
	return n;
}

/* AND / OR of a list, cheap operands first, constants folded. */
static struct cnode *
cn_list(struct arena *a, enum cn_kind kind, struct cnode **items, size_t n)
{
	bool absorbing = kind == CN_OR;	/* the value that decides */
	struct cnode *node, **tail, *only = NULL;
	size_t i, kept = 0;
	int pass;

	for (i = 0; i < n; i++) {
		if (items[i]->kind == CN_CONST && items[i]->val == absorbing)
			return cn_const(a, absorbing);
		if (items[i]->kind != CN_CONST) {
			kept++;
			only = items[i];
		}
	}
	if (kept == 0)
		return cn_const(a, !absorbing);
	if (kept == 1)
		return only;
	node = cn_new(a, kind);
	tail = &node->child;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			if (items[i]->kind == CN_CONST ||
			    items[i]->text != (pass == 1))
				continue;
			*tail = items[i];
			tail = &items[i]->next;
			node->text |= items[i]->text;
		}
	}
	*tail = NULL;
	return node;
}

static const struct {
	enum search_key_type type;
	unsigned             mask, want;
} flag_keys[] = {
	{ SK_ANSWERED, MF_ANSWERED, MF_ANSWERED },
	{ SK_UNANSWERED, MF_ANSWERED, 0 },
	{ SK_DELETED, MF_DELETED, MF_DELETED },
	{ SK_UNDELETED, MF_DELETED, 0 },
	{ SK_DRAFT, MF_DRAFT, MF_DRAFT },
	{ SK_UNDRAFT, MF_DRAFT, 0 },
	{ SK_FLAGGED, MF_FLAGGED, MF_FLAGGED },
	{ SK_UNFLAGGED, MF_FLAGGED, 0 },
	{ SK_SEEN, MF_SEEN, MF_SEEN },
	{ SK_UNSEEN, MF_SEEN, 0 },
};

static int
compile_keyword(struct compiler *c, const struct search_key *k,
    struct cnode **out)
{
	char canon[MK_KEYWORD_MAX];
	struct cnode *n;
	int rc;

	rc = kw_lookup(c->s, c->m->id, k->str ? k->str : "", false, canon,
	    sizeof(canon));
	if (rc == MK_NOTFOUND || rc == MK_INVALID) {
		/* Never defined here, so no message has it. */
		*out = cn_const(c->a, false);
		return 0;
	}
	if (rc != 0)
		return rc;
	n = cn_new(c->a, CN_KW);
	n->kw = arena_strdup(c->a, canon);
	*out = n;
	return 0;
}

static int64_t
day_start(int32_t day)
{
	return (int64_t)day * DAY_SECS;
}

static struct cnode *
compile_day(struct arena *a, enum cn_kind kind, enum search_key_type op,
    int32_t day)
{
	switch (op) {
	case SK_BEFORE:
	case SK_SENTBEFORE:
		return cn_bounds(a, kind, INT64_MIN, day_start(day) - 1);
	case SK_ON:
	case SK_SENTON:
		return cn_bounds(a, kind, day_start(day),
		    day_start(day) + DAY_SECS - 1);
	default:
		return cn_bounds(a, kind, day_start(day), INT64_MAX);
	}
}

static struct cnode *
compile_num(struct compiler *c, const struct search_key *k)
{
	int64_t age;

	switch (k->type) {
	case SK_LARGER:
		if (k->num >= (uint64_t)INT64_MAX)
			return cn_const(c->a, false);
		return cn_bounds(c->a, CN_SIZE, (int64_t)k->num + 1, INT64_MAX);
	case SK_SMALLER:
		if (k->num == 0)
			return cn_const(c->a, false);
		return cn_bounds(c->a, CN_SIZE, 0,
		    (int64_t)MK_MIN(k->num - 1, (uint64_t)INT64_MAX));
	case SK_MODSEQ:
		if (k->num > (uint64_t)INT64_MAX)
			return cn_const(c->a, false);
		return cn_bounds(c->a, CN_MODSEQ, (int64_t)k->num, INT64_MAX);
	case SK_OLDER:
		age = (int64_t)MK_MIN(k->num, INTERVAL_MAX);
		return cn_bounds(c->a, CN_TIME, INT64_MIN, c->ctx->now - age);
	default:	/* SK_YOUNGER */
		age = (int64_t)MK_MIN(k->num, INTERVAL_MAX);
		return cn_bounds(c->a, CN_TIME, c->ctx->now - age, INT64_MAX);
	}
}

/* Sequence numbers become the UIDs at those positions of the view. */
static struct cnode *
compile_set(struct compiler *c, const struct search_key *k)
{
	const struct search_ctx *x = c->ctx;
	struct cnode *n = cn_new(c->a, CN_UIDS);
	struct seq_range *out;
	struct seqset res;
	size_t i;

	if (k->set.dollar) {
		n->r = x->saved ? x->saved->r : NULL;
		n->nr = x->saved ? x->saved->n : 0;
		return n;
	}
	if (k->type == SK_UID) {
		seqset_resolve(c->a, &k->set, x->nview ?
		    x->view[x->nview - 1] : 0, &res);
		n->r = res.r;
		n->nr = res.n;
		return n;
	}
	seqset_resolve(c->a, &k->set, (uint32_t)MK_MIN(x->nview, UINT32_MAX),
	    &res);
	out = arena_array(c->a, res.n ? res.n : 1, sizeof(*out));
	for (i = 0; i < res.n; i++) {
		uint32_t lo = MK_MAX(res.r[i].lo, 1u);
		uint32_t hi = (uint32_t)MK_MIN((size_t)res.r[i].hi, x->nview);
		if (lo > hi)
			continue;
		out[n->nr].lo = x->view[lo - 1];
		out[n->nr++].hi = x->view[hi - 1];
	}
	n->r = out;
	return n;
}

static int compile(struct compiler *c, const struct search_key *k, int depth,
	struct cnode **out);

/* ---- text keys through the full-text index ---- */

static const struct {
	enum search_key_type type;
	int                  col;
	const char          *field;
} fts_keys[] = {
	{ SK_SUBJECT, MIME_FTS_SUBJECT, "Subject" },
	{ SK_FROM, MIME_FTS_FROM, "From" },
	{ SK_TO, MIME_FTS_TO, "To" },
	{ SK_CC, MIME_FTS_CC, "Cc" },
	{ SK_BCC, MIME_FTS_BCC, "Bcc" },
};

/* The index column(s) for k, and whether a hit is the scan's answer. */
static enum search_fts
fts_columns(const struct search_key *k, struct buf *q)
{
	size_t i;

	if (k->type == SK_BODY || k->type == SK_TEXT) {
		buf_printf(q, "{%s%s%s}", k->type == SK_TEXT ?
		    store_fts_cols[MIME_FTS_HEADERS] : "",
		    k->type == SK_TEXT ? " " : "", store_fts_cols[MIME_FTS_BODY]);
		return SEARCH_FTS_EXACT;
	}
	for (i = 0; i < nitems(fts_keys); i++) {
		if (k->type == fts_keys[i].type || (k->type == SK_HEADER &&
		    k->field != NULL && str_ieq(k->field, fts_keys[i].field))) {
			buf_adds(q, store_fts_cols[fts_keys[i].col]);
			return SEARCH_FTS_EXACT;
		}
	}
	if (k->type != SK_HEADER || k->field == NULL ||
	    str_ieq(k->field, "Sender") || str_ieq(k->field, "Reply-To"))
		return SEARCH_FTS_NO;
	buf_adds(q, store_fts_cols[MIME_FTS_HEADERS]);
	return SEARCH_FTS_FILTER;
}

enum search_fts
store_search_fts_plan(const struct search_key *k, struct buf *query)
{
	enum search_fts use;
	struct buf nb;
	size_t i;

	buf_reset(query);
	if (k->str == NULL)
		return SEARCH_FTS_NO;
	mbuf_init(&nb);
	mime_search_needle(&nb, k);
	use = mime_fts_needle(buf_ptr(&nb), buf_len(&nb)) ?
	    fts_columns(k, query) : SEARCH_FTS_NO;
	if (use != SEARCH_FTS_NO) {
		/* a phrase: the trigrams of the needle, in a row */
		buf_adds(query, " : \"");
		for (i = 0; i < buf_len(&nb); i++) {
			if (buf_ptr(&nb)[i] == '"')
				buf_addc(query, '"');
			buf_addc(query, buf_ptr(&nb)[i]);
		}
		buf_addc(query, '"');
	}
	buf_free(&nb);
	if (use == SEARCH_FTS_NO)
		buf_reset(query);
	return use;
}

/* UIDs of m from the rows of a statement whose column 0 is a message id
 * (bound to m's range as ?2, ?3), ascending; -1 on a database error. */
static int
fts_uids(struct compiler *c, sqlite3_stmt *st, uint32_t **uids, size_t *n)
{
	size_t cap = 0;
	int rc;

	*uids = NULL;
	*n = 0;
	sqlite3_bind_int64(st, 2, (int64_t)((uint64_t)c->m->id << 32));
	sqlite3_bind_int64(st, 3, (int64_t)((uint64_t)c->m->id << 32 |
	    UINT32_MAX));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			*uids = xreallocarray(*uids, cap, sizeof(**uids));
		}
		(*uids)[(*n)++] = (uint32_t)(sqlite3_column_int64(st, 0) &
		    UINT32_MAX);
	}
	rc = rc == SQLITE_DONE ? 0 : db_fail(&c->s->db, "full-text search");
	db_done(&c->s->db, st);
	return rc;
}

/* The snapshot every index answer of this search comes from, so that a
 * message is in exactly one of the index and the pending list. */
static int
fts_begin(struct compiler *c)
{
	sqlite3_stmt *st;

	if (c->fts_ready)
		return 0;
	if (sqlite3_get_autocommit(c->s->db.h)) {
		if ((st = db_stmt(&c->s->db, "BEGIN")) == NULL ||
		    db_run(&c->s->db, st, "search snapshot") != 0)
			return -1;
		c->fts_txn = true;
	}
	st = db_stmt(&c->s->db, "SELECT id FROM fts_pending"
	    " WHERE id BETWEEN ?2 AND ?3 ORDER BY id");
	if (st == NULL || fts_uids(c, st, &c->pend, &c->npend) != 0)
		return -1;
	c->fts_ready = true;
	return 0;
}

static void
fts_end(struct compiler *c)
{
	sqlite3_stmt *st;

	if (c->fts_txn && (st = db_stmt(&c->s->db, "COMMIT")) != NULL)
		(void)db_run(&c->s->db, st, "search snapshot");
	c->fts_txn = false;
	free(c->pend);
	c->pend = NULL;
}

static struct cnode *
cn_uidv(struct arena *a, const uint32_t *v, size_t n)
{
	struct cnode *node;
	struct seqset set;

	if (n == 0)
		return cn_const(a, false);
	seqset_from_sorted(a, v, n, &set);
	node = cn_new(a, CN_UIDS);
	node->r = set.r;
	node->nr = set.n;
	return node;
}

/* Sorted union of two sorted, disjoint UID lists (malloc'd). */
static uint32_t *
uidv_union(const uint32_t *x, size_t nx, const uint32_t *y, size_t ny)
{
	uint32_t *u = xreallocarray(NULL, nx + ny + 1, sizeof(*u));
	size_t i = 0, j = 0, k = 0;

	while (i < nx || j < ny)
		u[k++] = j == ny || (i < nx && x[i] < y[j]) ? x[i++] : y[j++];
	return u;
}

/* k answered through the index: EXACT is "indexed hit, or pending and
 * the scan says so", FILTER "indexed candidate or pending, and the scan
 * says so".  Both are k itself, evaluated cheaply. */
static struct cnode *
fts_node(struct compiler *c, enum search_fts use, struct cnode *t,
    const uint32_t *hits, size_t nhits)
{
	struct cnode *items[2];
	uint32_t *u;

	if (use == SEARCH_FTS_FILTER) {
		u = uidv_union(hits, nhits, c->pend, c->npend);
		items[0] = cn_uidv(c->a, u, nhits + c->npend);
		free(u);
		items[1] = t;
		return cn_list(c->a, CN_AND, items, 2);
	}
	items[0] = cn_uidv(c->a, c->pend, c->npend);
	items[1] = t;
	items[1] = cn_list(c->a, CN_AND, items, 2);
	items[0] = cn_uidv(c->a, hits, nhits);
	return cn_list(c->a, CN_OR, items, 2);
}

static int
compile_text(struct compiler *c, const struct search_key *k,
    struct cnode **out)
{
	struct cnode *t = cn_new(c->a, CN_TEXT);
	enum search_fts use = SEARCH_FTS_NO;
	uint32_t *hits = NULL;
	size_t nhits = 0;
	sqlite3_stmt *st;
	struct buf q;
	int rc = -1;

	t->key = k;
	t->text = true;
	*out = t;
	if (!c->fts)
		return 0;
	buf_init(&q, 0);
	if ((use = store_search_fts_plan(k, &q)) != SEARCH_FTS_NO &&
	    fts_begin(c) == 0 && (st = db_stmt(&c->s->db, "SELECT rowid"
	    " FROM fts WHERE fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3"
	    " ORDER BY rowid")) != NULL) {
		sqlite3_bind_text(st, 1, buf_cstr(&q), -1, SQLITE_STATIC);
		rc = fts_uids(c, st, &hits, &nhits);
	}
	buf_free(&q);
	/* An index that fails is logged (db_fail) and the scan answers. */
	if (use != SEARCH_FTS_NO && rc == 0)
		*out = fts_node(c, use, t, hits, nhits);
	free(hits);
	return 0;
}

/* ---- keys answered by a query of their own (schema 11) ---- */

/* The UIDs of m a statement selects (?1 is m's id, bound here; column 0
 * the UID, ascending) as a UID node. */
static int
compile_uid_query(struct compiler *c, sqlite3_stmt *st, struct cnode **out)
{
	uint32_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	sqlite3_bind_int64(st, 1, c->m->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	rc = rc == SQLITE_DONE ? 0 : db_fail(&c->s->db, "search");
	db_done(&c->s->db, st);
	if (rc == 0)
		*out = cn_uidv(c->a, v, n);
	free(v);
	return rc;
}

/* EMAILID and THREADID (RFC 8474 6): the body or bodies with that id,
 * then the mailbox's messages using them.  An id this store never
 * handed out matches nothing. */
static int
compile_objid(struct compiler *c, const struct search_key *k,
    struct cnode **out)
{
	bool email = k->type == SK_EMAILID;
	sqlite3_stmt *st;
	int64_t n;
	int rc;

	rc = store_objid_parse(c->s, email ? 'M' : 'T', k->str ? k->str : "",
	    &n);
	if (rc == MK_NOTFOUND) {
		*out = cn_const(c->a, false);
		return 0;
	}
	if (rc != 0)
		return rc;
	st = db_stmt(&c->s->db, email ?
	    "SELECT uid FROM messages WHERE mailbox_id = ?1 AND body_id IN"
	    " (SELECT id FROM bodies WHERE objid = ?2) ORDER BY uid" :
	    "SELECT uid FROM messages WHERE mailbox_id = ?1 AND body_id IN"
	    " (SELECT id FROM bodies WHERE thread = ?2) ORDER BY uid");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 2, n);
	return compile_uid_query(c, st, out);
}

/* SAVEDBEFORE, SAVEDON, SAVEDSINCE (RFC 8514 4): the save date's UTC
 * day; a message saved before schema 11 has none, and its internal
 * date (in its own zone, as BEFORE/ON/SINCE) stands in. */
static int
compile_saved(struct compiler *c, const struct search_key *k,
    struct cnode **out)
{
	static const enum search_key_type as[] = {
		[SK_SAVEDBEFORE] = SK_BEFORE, [SK_SAVEDON] = SK_ON,
		[SK_SAVEDSINCE] = SK_SINCE,
	};
	struct cnode *b = compile_day(c->a, CN_LDAY, as[k->type], k->date);
	sqlite3_stmt *st = db_stmt(&c->s->db, "SELECT uid FROM messages"
	    " WHERE mailbox_id = ?1 AND coalesce(savedate,"
	    " internaldate + tz * 60) BETWEEN ?2 AND ?3 ORDER BY uid");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 2, b->lo);
	sqlite3_bind_int64(st, 3, b->hi);
	return compile_uid_query(c, st, out);
}

static int
compile_list(struct compiler *c, const struct search_key *k, int depth,
    struct cnode **out)
{
	const struct search_key *ch;
	struct cnode **items;
	size_t n = 0, i = 0;
	int rc;

	for (ch = k->child; ch != NULL; ch = ch->next)
		n++;
	if (k->type != SK_AND && n == 0)
		return db_err(&c->s->db, MK_INVALID, "OR without operands");
	items = arena_array(c->a, n ? n : 1, sizeof(*items));
	for (ch = k->child; ch != NULL; ch = ch->next)
		if ((rc = compile(c, ch, depth + 1, &items[i++])) != 0)
			return rc;
	*out = cn_list(c->a, k->type == SK_OR ? CN_OR : CN_AND, items, n);
	return 0;
}

static int
compile_flagish(struct compiler *c, const struct search_key *k,
    struct cnode **out)
{
	struct cnode *items[2];
	size_t i;

	for (i = 0; i < nitems(flag_keys); i++) {
		if (flag_keys[i].type == k->type) {
			*out = cn_flags(c->a, flag_keys[i].mask,
			    flag_keys[i].want);
			return 0;
		}
	}
	switch (k->type) {
	case SK_ALL:
		*out = cn_const(c->a, true);
		return 0;
	case SK_RECENT:
		*out = cn_new(c->a, CN_RECENT);
		return 0;
	case SK_OLD:
		*out = cn_not(c->a, cn_new(c->a, CN_RECENT));
		return 0;
	case SK_NEW:
		items[0] = cn_new(c->a, CN_RECENT);
		items[1] = cn_flags(c->a, MF_SEEN, 0);
		*out = cn_list(c->a, CN_AND, items, 2);
		return 0;
	default:
		return db_err(&c->s->db, MK_INVALID, "unknown search key %d",
		    (int)k->type);
	}
}

static int
compile(struct compiler *c, const struct search_key *k, int depth,
    struct cnode **out)
{
	int rc;

	if (depth > SEARCH_MAX_DEPTH)
		return db_err(&c->s->db, MK_INVALID, "search nested too deeply");
	switch (k->type) {
	case SK_KEYWORD:
		return compile_keyword(c, k, out);
	case SK_UNKEYWORD:
		if ((rc = compile_keyword(c, k, out)) == 0)
			*out = cn_not(c->a, *out);
		return rc;
	case SK_BCC: case SK_CC: case SK_FROM: case SK_TO: case SK_SUBJECT:
	case SK_BODY: case SK_TEXT: case SK_HEADER:
		return compile_text(c, k, out);
	case SK_BEFORE: case SK_ON: case SK_SINCE:
		*out = compile_day(c->a, CN_LDAY, k->type, k->date);
		return 0;
	case SK_SENTBEFORE: case SK_SENTON: case SK_SENTSINCE:
		*out = compile_day(c->a, CN_SDAY, k->type, k->date);
		return 0;
	case SK_LARGER: case SK_SMALLER: case SK_OLDER: case SK_YOUNGER:
	case SK_MODSEQ:
		*out = compile_num(c, k);
		return 0;
	case SK_SEQSET: case SK_UID:
		*out = compile_set(c, k);
		return 0;
	case SK_EMAILID: case SK_THREADID:
		return compile_objid(c, k, out);
	case SK_SAVEDBEFORE: case SK_SAVEDON: case SK_SAVEDSINCE:
		return compile_saved(c, k, out);
	case SK_SAVEDATESUPPORTED:
		/* every mailbox of this store keeps save dates */
		*out = cn_const(c->a, true);
		return 0;
	case SK_AND: case SK_OR:
		return compile_list(c, k, depth, out);
	case SK_NOT:
		if (k->child == NULL || k->child->next != NULL)
			return db_err(&c->s->db, MK_INVALID, "NOT needs one key");
		if ((rc = compile(c, k->child, depth + 1, out)) == 0)
			*out = cn_not(c->a, *out);
		return rc;
	default:
		return compile_flagish(c, k, out);
	}
}

/* ---- evaluating ---- */

static bool
uids_has(const struct seq_range *r, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (uid < r[mid].lo)
			hi = mid;
		else if (uid > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* list is canonical (spellings as defined), so the match is exact. */
static bool
kw_has(const char *list, const char *kw)
{
	size_t len = strlen(kw);
	const char *p = list;

	while ((p = strstr(p, kw)) != NULL) {
		if ((p == list || p[-1] == ' ') &&
		    (p[len] == ' ' || p[len] == '\0'))
			return true;
		p++;
	}
	return false;
}

static bool
in_bounds(const struct cnode *n, int64_t v)
{
	return v >= n->lo && v <= n->hi;
}

static int eval(struct store *s, const struct search_ctx *ctx,
	const struct cnode *n, const struct srow *row, bool text_ok);

static int
eval_text(struct store *s, const struct search_ctx *ctx,
    const struct cnode *n, const struct srow *row, bool text_ok)
{
	int v;

	if (!text_ok)
		return V_UNKNOWN;
	if (ctx->text_match == NULL)
		return db_err(&s->db, V_ERROR, "no text matcher for this search");
	v = ctx->text_match(s, &row->r, n->key, ctx->text_arg);
	if (v < 0) {
		if (s->db.err[0] == '\0')
			db_err(&s->db, V_ERROR, "text search failed");
		return V_ERROR;
	}
	return v ? V_TRUE : V_FALSE;
}

/* Kleene logic: AND is false if any is, OR true if any is. */
static int
eval_list(struct store *s, const struct search_ctx *ctx,
    const struct cnode *n, const struct srow *row, bool text_ok)
{
	int decide = n->kind == CN_OR ? V_TRUE : V_FALSE;
	int res = n->kind == CN_OR ? V_FALSE : V_TRUE, v;
	const struct cnode *c;

	for (c = n->child; c != NULL; c = c->next) {
		v = eval(s, ctx, c, row, text_ok);
		if (v == V_ERROR || v == decide)
			return v;
		if (v == V_UNKNOWN)
			res = V_UNKNOWN;
	}
	return res;
}

static int
eval(struct store *s, const struct search_ctx *ctx, const struct cnode *n,
    const struct srow *row, bool text_ok)
{
	const struct msg_row *r = &row->r;
	int v;

	switch (n->kind) {
	case CN_CONST:
		return n->val;
	case CN_FLAGS:
		return (r->flags & n->mask) == n->want;
	case CN_KW:
		return kw_has(r->keywords, n->kw);
	case CN_SIZE:
		return r->size <= (uint64_t)INT64_MAX &&
		    in_bounds(n, (int64_t)r->size);
	case CN_TIME:
		return in_bounds(n, r->internaldate.t);
	case CN_LDAY:
		return in_bounds(n, r->internaldate.t +
		    (int64_t)r->internaldate.tz * 60);
	case CN_SDAY:
		return row->has_sent && in_bounds(n, row->sent_local);
	case CN_MODSEQ:
		return r->modseq >= (uint64_t)n->lo;
	case CN_UIDS:
		return uids_has(n->r, n->nr, r->uid);
	case CN_RECENT:
		return ctx->is_recent != NULL && ctx->is_recent(r->uid, ctx->arg);
	case CN_TEXT:
		return eval_text(s, ctx, n, row, text_ok);
	case CN_AND:
	case CN_OR:
		return eval_list(s, ctx, n, row, text_ok);
	case CN_NOT:
		v = eval(s, ctx, n->child, row, text_ok);
		return v == V_TRUE ? V_FALSE : v == V_FALSE ? V_TRUE : v;
	}
	return V_ERROR;
}

/* ---- planning ---- */

struct plan {
	bool                    empty;
	unsigned                fmask, fval;
	int64_t                 size_lo, size_hi;
	int64_t                 t_lo, t_hi;	/* internaldate */
	int64_t                 d_lo, d_hi;	/* internaldate + tz */
	bool                    sent;
	int64_t                 s_lo, s_hi;	/* sent date + its tz */
	int64_t                 modseq_lo;
	const char             *kw_yes, *kw_no;	/* defined spellings */
	bool                    uid_set;
	const struct seq_range *r;
	size_t                  nr;
	struct cnode          **res;	/* residue: ANDed, cheap first */
	size_t                  nres, capres;
	bool                    sent_cols;	/* a residue node reads Date: */
};

static void
plan_init(struct plan *p)
{
	memset(p, 0, sizeof(*p));
	p->size_lo = p->t_lo = p->d_lo = p->s_lo = INT64_MIN;
	p->size_hi = p->t_hi = p->d_hi = p->s_hi = INT64_MAX;
	p->size_lo = 0;
	p->modseq_lo = 0;
}

static void
narrow(int64_t *lo, int64_t *hi, const struct cnode *n)
{
	*lo = MK_MAX(*lo, n->lo);
	*hi = MK_MIN(*hi, n->hi);
}

/* Intersection of two sorted, merged range lists, into the arena. */
static void
ranges_and(struct arena *a, const struct seq_range *x, size_t nx,
    const struct seq_range *y, size_t ny, const struct seq_range **out,
    size_t *nout)
{
	struct seq_range *r = arena_array(a, nx + ny + 1, sizeof(*r));
	size_t i = 0, j = 0, n = 0;

	while (i < nx && j < ny) {
		uint32_t lo = MK_MAX(x[i].lo, y[j].lo);
		uint32_t hi = MK_MIN(x[i].hi, y[j].hi);
		if (lo <= hi) {
			r[n].lo = lo;
			r[n++].hi = hi;
		}
		if (x[i].hi < y[j].hi)
			i++;
		else
			j++;
	}
	*out = r;
	*nout = n;
}

static bool
has_sday(const struct cnode *n)
{
	const struct cnode *c;

	if (n->kind == CN_SDAY)
		return true;
	for (c = n->child; c != NULL; c = c->next)
		if (has_sday(c))
			return true;
	return false;
}

static void
plan_residue(struct plan *p, struct cnode *n)
{
	if (p->nres == p->capres) {
		p->capres = p->capres ? p->capres * 2 : 8;
		p->res = xreallocarray(p->res, p->capres, sizeof(*p->res));
	}
	p->res[p->nres++] = n;
	p->sent_cols |= has_sday(n);
}

static void
plan_flags(struct plan *p, const struct cnode *n)
{
	if ((p->fmask & n->mask) != 0 &&
	    ((p->fval ^ n->want) & n->mask & p->fmask) != 0)
		p->empty = true;
	p->fmask |= n->mask;
	p->fval = (p->fval & ~n->mask) | n->want;
}

static bool
plan_keyword(struct plan *p, const struct cnode *n)
{
	const char **slot = n->kind == CN_KW ? &p->kw_yes : &p->kw_no;

	if (*slot != NULL)
		return false;
	*slot = n->kind == CN_KW ? n->kw : n->child->kw;
	return true;
}

static void
plan_absorb(struct arena *a, struct plan *p, struct cnode *n)
{
	struct cnode *c, *next;

	switch (n->kind) {
	case CN_CONST:
		p->empty |= !n->val;
		return;
	case CN_FLAGS:
		plan_flags(p, n);
		return;
	case CN_SIZE:
		narrow(&p->size_lo, &p->size_hi, n);
		return;
	case CN_TIME:
		narrow(&p->t_lo, &p->t_hi, n);
		return;
	case CN_LDAY:
		narrow(&p->d_lo, &p->d_hi, n);
		return;
	case CN_SDAY:
		p->sent = true;
		narrow(&p->s_lo, &p->s_hi, n);
		return;
	case CN_MODSEQ:
		p->modseq_lo = MK_MAX(p->modseq_lo, n->lo);
		return;
	case CN_UIDS:
		if (!p->uid_set) {
			p->r = n->r;
			p->nr = n->nr;
		} else
			ranges_and(a, p->r, p->nr, n->r, n->nr, &p->r, &p->nr);
		p->uid_set = true;
		return;
	case CN_AND:
		for (c = n->child; c != NULL; c = next) {
			next = c->next;
			plan_absorb(a, p, c);
		}
		return;
	case CN_KW:
		if (plan_keyword(p, n))
			return;
		break;
	case CN_NOT:
		if (n->child->kind == CN_KW && plan_keyword(p, n))
			return;
		break;
	default:
		break;
	}
	plan_residue(p, n);
}

/* Text-free residue first: text_match runs only when nothing else
 * already decided. */
static void
plan_order(struct plan *p)
{
	size_t i, j = 0;
	struct cnode *t;

	for (i = 0; i < p->nres; i++) {
		if (!p->res[i]->text) {
			t = p->res[i];
			memmove(&p->res[j + 1], &p->res[j],
			    (i - j) * sizeof(*p->res));
			p->res[j++] = t;
		}
	}
}

static bool
plan_check(struct plan *p)
{
	if (p->size_lo > p->size_hi || p->t_lo > p->t_hi ||
	    p->d_lo > p->d_hi || p->s_lo > p->s_hi ||
	    (p->uid_set && p->nr == 0))
		p->empty = true;
	return !p->empty;
}

/* ---- running ---- */

enum driver { DRV_PK, DRV_MODSEQ, DRV_DATE, DRV_UNSEEN };

/* Result columns: the UID alone when nothing is left for C to decide,
 * the row, or the row and its Date: (a join, only when a key needs it). */
enum sr_cols { COLS_UID, COLS_ROW, COLS_SENT };

#define SR_UID "SELECT m.uid"
#define SR_ROW "SELECT m.uid, m.body_id, m.size, m.internaldate, m.tz," \
	" m.flags, m.keywords, m.modseq"
#define SR_SENT SR_ROW ", b.has_sent, b.sent_t + b.sent_tz * 60"
#define SR_JOIN " LEFT JOIN bodies AS b ON b.id = m.body_id"
/*
 * Every optional term reads "?n IS NULL OR ...": a key the search doesn't
 * have costs a test of an unbound parameter, not a column decode.  The
 * driver's own column is written plainly so that its index is used; '+'
 * keeps the other indexed columns from being chosen.  Keywords: the
 * substring test is cheap and rules out nearly every row; only then is
 * the token test (which builds a string) evaluated.
 */
#define SR_WHERE(u, q, t) \
	" WHERE m.mailbox_id = ?1 AND " u " BETWEEN ?2 AND ?3" \
	" AND (?4 IS NULL OR (m.flags & ?4) = ?5)" \
	" AND (?13 IS NULL OR (instr(m.keywords, ?13) > 0" \
	"  AND instr(' ' || m.keywords || ' ', ?14) > 0))" \
	" AND (?15 IS NULL OR instr(m.keywords, ?15) = 0" \
	"  OR instr(' ' || m.keywords || ' ', ?16) = 0)" \
	" AND " q \
	" AND (?6 IS NULL OR m.size BETWEEN ?6 AND ?7)" \
	" AND " t \
	" AND (?10 IS NULL OR m.internaldate + m.tz * 60 BETWEEN ?10 AND ?11)"
#define SR_WHERE_SENT " AND (?17 IS NULL OR (b.has_sent AND" \
	" b.sent_t + b.sent_tz * 60 BETWEEN ?17 AND ?18))"
#define SR_U_IDX "m.uid"
#define SR_U_OPT "+m.uid"
#define SR_Q_IDX "m.modseq >= ?12"
#define SR_Q_OPT "(?12 IS NULL OR +m.modseq >= ?12)"
#define SR_T_IDX "m.internaldate BETWEEN ?8 AND ?9"
#define SR_T_OPT "(?8 IS NULL OR +m.internaldate BETWEEN ?8 AND ?9)"
#define SR_ORDER " ORDER BY m.uid"
#define SR_PK " FROM messages AS m"
#define SR_MQ " FROM messages AS m INDEXED BY messages_modseq"
#define SR_DT " FROM messages AS m INDEXED BY messages_date"
#define SR_UN " FROM messages AS m INDEXED BY messages_unseen"
#define SR_W_PK SR_WHERE(SR_U_IDX, SR_Q_OPT, SR_T_OPT)
#define SR_W_MQ SR_WHERE(SR_U_OPT, SR_Q_IDX, SR_T_OPT)
#define SR_W_DT SR_WHERE(SR_U_OPT, SR_Q_OPT, SR_T_IDX)
/* The partial index's own WHERE, written out so SQLite may use it. */
#define SR_W_UN SR_WHERE(SR_U_IDX, SR_Q_OPT, SR_T_OPT) " AND m.flags & 1 = 0"
#define SR_VARIANTS(from, where) { \
	[COLS_UID] = SR_UID from where SR_ORDER, \
	[COLS_ROW] = SR_ROW from where SR_ORDER, \
	[COLS_SENT] = SR_SENT from SR_JOIN where SR_WHERE_SENT SR_ORDER }

static const char *const search_sql[4][3] = {
	[DRV_PK] = SR_VARIANTS(SR_PK, SR_W_PK),
	[DRV_MODSEQ] = SR_VARIANTS(SR_MQ, SR_W_MQ),
	[DRV_DATE] = SR_VARIANTS(SR_DT, SR_W_DT),
	[DRV_UNSEEN] = SR_VARIANTS(SR_UN, SR_W_UN),
};

struct uidvec {
	uint32_t *v;
	size_t    n, cap;
};

static void
uidvec_add(struct uidvec *u, uint32_t uid)
{
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 256;
		u->v = xreallocarray(u->v, u->cap, sizeof(*u->v));
	}
	u->v[u->n++] = uid;
}

struct run {
	struct store            *s;
	const struct mbox       *m;
	const struct search_ctx *ctx;
	struct plan             *p;
	struct arena            *a;
	enum driver              drv;
	enum sr_cols             cols;
	bool                     check_uids;	/* SQL saw only a span */
	size_t                   vi;		/* position in the view */
	struct uidvec            hits;
	struct srow             *pending;	/* rows waiting for text */
	size_t                   npending, cappending;
};

static int64_t
sat_add(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

/* The internaldate range the index may use: exact bounds, and the
 * local-day bounds widened by the largest zone. */
static void
time_span(const struct plan *p, int64_t *lo, int64_t *hi)
{
	*lo = MK_MAX(p->t_lo, sat_add(p->d_lo, -TZ_MARGIN));
	*hi = MK_MIN(p->t_hi, sat_add(p->d_hi, TZ_MARGIN));
}

/* Counts at most limit index entries: a cheap test of selectivity. */
static int
probe(struct run *x, enum driver drv, int64_t limit, bool *few)
{
	struct sqldb *db = &x->s->db;
	sqlite3_stmt *st;
	int64_t lo, hi;
	int rc = 0;

	st = db_stmt(db, drv == DRV_MODSEQ ?
	    "SELECT count(*) FROM (SELECT 1 FROM messages INDEXED BY"
	    " messages_modseq WHERE mailbox_id = ?1 AND modseq BETWEEN ?2"
	    " AND ?3 LIMIT ?4)" : drv == DRV_UNSEEN ?
	    "SELECT count(*) FROM (SELECT 1 FROM messages INDEXED BY"
	    " messages_unseen WHERE mailbox_id = ?1 AND flags & 1 = 0"
	    " AND uid BETWEEN ?2 AND ?3 LIMIT ?4)" :
	    "SELECT count(*) FROM (SELECT 1 FROM messages INDEXED BY"
	    " messages_date WHERE mailbox_id = ?1 AND internaldate BETWEEN ?2"
	    " AND ?3 LIMIT ?4)");
	if (st == NULL)
		return -1;
	if (drv == DRV_UNSEEN) {
		lo = x->p->r[0].lo;
		hi = x->p->r[x->p->nr - 1].hi;
	} else if (drv == DRV_MODSEQ) {
		lo = x->p->modseq_lo;
		hi = INT64_MAX;
	} else
		time_span(x->p, &lo, &hi);
	sqlite3_bind_int64(st, 1, x->m->id);
	sqlite3_bind_int64(st, 2, lo);
	sqlite3_bind_int64(st, 3, hi);
	sqlite3_bind_int64(st, 4, limit);
	if (sqlite3_step(st) == SQLITE_ROW)
		*few = sqlite3_column_int64(st, 0) < limit;
	else
		rc = db_fail(db, "search probe");
	db_done(db, st);
	return rc;
}

static uint64_t
ranges_count(const struct seq_range *r, size_t n)
{
	uint64_t c = 0;
	size_t i;

	for (i = 0; i < n; i++)
		c += (uint64_t)r[i].hi - r[i].lo + 1;
	return c;
}

/* Nothing but \Seen-less and the UID range: the index is enough. */
static bool
unseen_alone(const struct plan *p)
{
	int64_t lo, hi;

	time_span(p, &lo, &hi);
	return p->fmask == MF_SEEN && p->size_lo <= 0 &&
	    p->size_hi == INT64_MAX && lo == INT64_MIN && hi == INT64_MAX &&
	    p->d_lo == INT64_MIN && p->d_hi == INT64_MAX && !p->sent &&
	    p->modseq_lo <= 0 && p->kw_yes == NULL && p->kw_no == NULL;
}

static int
choose_driver(struct run *x)
{
	const struct plan *p = x->p;
	int64_t limit = (int64_t)(x->ctx->nview / 8) + 64, lo, hi;
	bool few = false;
	int rc;

	x->drv = DRV_PK;
	if (p->uid_set && ranges_count(p->r, p->nr) <= (uint64_t)limit)
		return 0;
	if (p->modseq_lo > 1) {
		if ((rc = probe(x, DRV_MODSEQ, limit, &few)) != 0)
			return rc;
		if (few) {
			x->drv = DRV_MODSEQ;
			return 0;
		}
	}
	if ((p->fmask & MF_SEEN) && !(p->fval & MF_SEEN)) {
		/* The unseen index alone answers a bare UNSEEN however many
		 * match; with more to read it pays only when few do. */
		if (x->cols != COLS_UID || !unseen_alone(p)) {
			if ((rc = probe(x, DRV_UNSEEN, limit, &few)) != 0)
				return rc;
		} else
			few = true;
		if (few) {
			x->drv = DRV_UNSEEN;
			return 0;
		}
	}
	time_span(p, &lo, &hi);
	if (lo == INT64_MIN && hi == INT64_MAX)
		return 0;
	if ((rc = probe(x, DRV_DATE, limit, &few)) != 0)
		return rc;
	if (few)
		x->drv = DRV_DATE;
	return 0;
}

static void
bind_keyword(struct arena *a, sqlite3_stmt *st, int i, const char *kw)
{
	if (kw == NULL)
		return;
	sqlite3_bind_text(st, i, kw, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, i + 1, arena_printf(a, " %s ", kw), -1,
	    SQLITE_STATIC);
}

static void
bind_plan(struct run *x, sqlite3_stmt *st, uint32_t lo, uint32_t hi)
{
	const struct plan *p = x->p;
	int64_t tlo, thi;

	time_span(p, &tlo, &thi);
	sqlite3_bind_int64(st, 1, x->m->id);
	sqlite3_bind_int64(st, 2, lo);
	sqlite3_bind_int64(st, 3, hi);
	/* Unbound parameters are NULL: the term is skipped. */
	/* The unseen index implies \Seen-less: testing it again would
	 * read every row. */
	if ((p->fmask & ~(x->drv == DRV_UNSEEN ? MF_SEEN : 0u)) != 0) {
		sqlite3_bind_int(st, 4, (int)p->fmask);
		sqlite3_bind_int(st, 5, (int)(p->fval & p->fmask));
	}
	if (p->size_lo > 0 || p->size_hi < INT64_MAX) {
		sqlite3_bind_int64(st, 6, p->size_lo);
		sqlite3_bind_int64(st, 7, p->size_hi);
	}
	if (tlo > INT64_MIN || thi < INT64_MAX || x->drv == DRV_DATE) {
		sqlite3_bind_int64(st, 8, tlo);
		sqlite3_bind_int64(st, 9, thi);
	}
	if (p->d_lo > INT64_MIN || p->d_hi < INT64_MAX) {
		sqlite3_bind_int64(st, 10, p->d_lo);
		sqlite3_bind_int64(st, 11, p->d_hi);
	}
	if (p->modseq_lo > 0 || x->drv == DRV_MODSEQ)
		sqlite3_bind_int64(st, 12, p->modseq_lo);
	bind_keyword(x->a, st, 13, p->kw_yes);
	bind_keyword(x->a, st, 15, p->kw_no);
	if (x->cols == COLS_SENT && p->sent) {
		sqlite3_bind_int64(st, 17, p->s_lo);
		sqlite3_bind_int64(st, 18, p->s_hi);
	}
}

static int
residue(struct run *x, const struct srow *row, bool text_ok)
{
	int res = V_TRUE, v;
	size_t i;

	for (i = 0; i < x->p->nres; i++) {
		v = eval(x->s, x->ctx, x->p->res[i], row, text_ok);
		if (v == V_FALSE || v == V_ERROR)
			return v;
		if (v == V_UNKNOWN)
			res = V_UNKNOWN;
	}
	return res;
}

static void
keep_pending(struct run *x, const struct srow *row)
{
	struct srow *p;

	if (x->npending == x->cappending) {
		x->cappending = x->cappending ? x->cappending * 2 : 64;
		x->pending = xreallocarray(x->pending, x->cappending,
		    sizeof(*x->pending));
	}
	p = &x->pending[x->npending++];
	*p = *row;
	p->r.keywords = xstrdup(row->r.keywords);
}

/* One row from SQLite, in the view: the residue decides. */
static void
take_row(struct run *x, sqlite3_stmt *st)
{
	bool sent = x->cols == COLS_SENT;
	struct srow row;
	int v;

	if (x->cols == COLS_UID) {
		uidvec_add(&x->hits, (uint32_t)sqlite3_column_int64(st, 0));
		return;
	}
	msg_row_read(st, x->m->id, &row.r);
	row.has_sent = sent && sqlite3_column_int(st, 8) != 0;
	row.sent_local = sent ? sqlite3_column_int64(st, 9) : 0;
	v = residue(x, &row, false);
	if (v == V_TRUE)
		uidvec_add(&x->hits, row.r.uid);
	else if (v == V_UNKNOWN)
		keep_pending(x, &row);
}

static int
scan(struct run *x, uint32_t lo, uint32_t hi)
{
	const struct search_ctx *ctx = x->ctx;
	sqlite3_stmt *st;
	uint32_t uid;
	int rc;

	/* An optional term names a column the index lacks, and SQLite
	 * then reads every row: a bare UNSEEN has a statement of its own. */
	st = db_stmt(&x->s->db, x->drv == DRV_UNSEEN && x->cols == COLS_UID &&
	    unseen_alone(x->p) ? SR_UID SR_UN " WHERE m.mailbox_id = ?1"
	    " AND m.uid BETWEEN ?2 AND ?3 AND m.flags & 1 = 0" SR_ORDER :
	    search_sql[x->drv][x->cols]);
	if (st == NULL)
		return -1;
	bind_plan(x, st, lo, hi);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uid = (uint32_t)sqlite3_column_int64(st, 0);
		while (x->vi < ctx->nview && ctx->view[x->vi] < uid)
			x->vi++;
		if (x->vi == ctx->nview)
			break;	/* the rest is beyond the view */
		if (ctx->view[x->vi] != uid ||
		    (x->check_uids && !uids_has(x->p->r, x->p->nr, uid)))
			continue;
		take_row(x, st);
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    db_fail(&x->s->db, "search");
	db_done(&x->s->db, st);
	return rc;
}

static int
run_sql(struct run *x)
{
	const struct plan *p = x->p;
	size_t i;
	int rc = 0;

	if (x->drv == DRV_PK && p->nr <= PK_RANGES_MAX) {
		for (i = 0; rc == 0 && i < p->nr && x->vi < x->ctx->nview; i++)
			rc = scan(x, p->r[i].lo, p->r[i].hi);
		return rc;
	}
	x->check_uids = p->uid_set;
	return scan(x, p->r[0].lo, p->r[p->nr - 1].hi);
}

/* Text keys, now that no statement is open. */
static int
run_text(struct run *x, struct uidvec *out)
{
	size_t i;
	int v;

	for (i = 0; i < x->npending; i++) {
		v = residue(x, &x->pending[i], true);
		if (v == V_ERROR)
			return -1;
		if (v == V_TRUE)
			uidvec_add(out, x->pending[i].r.uid);
	}
	return 0;
}

static void
merge(const struct uidvec *a, const struct uidvec *b, uint32_t **out,
    size_t *n)
{
	size_t i = 0, j = 0, k = 0;

	*out = a->n + b->n ? xreallocarray(NULL, a->n + b->n, sizeof(**out)) :
	    NULL;
	while (i < a->n || j < b->n) {
		if (j == b->n || (i < a->n && a->v[i] < b->v[j]))
			(*out)[k++] = a->v[i++];
		else
			(*out)[k++] = b->v[j++];
	}
	*n = k;
}

static void
run_free(struct run *x)
{
	size_t i;

	for (i = 0; i < x->npending; i++)
		free((char *)x->pending[i].r.keywords);
	free(x->pending);
	free(x->hits.v);
}

/* Restricts the plan's UID ranges to the view's span. */
static void
plan_view(struct arena *a, struct plan *p, const struct search_ctx *ctx)
{
	struct seq_range *span = arena_alloc(a, sizeof(*span));

	span->lo = ctx->view[0];
	span->hi = ctx->view[ctx->nview - 1];
	if (p->uid_set)
		ranges_and(a, p->r, p->nr, span, 1, &p->r, &p->nr);
	else {
		p->r = span;
		p->nr = 1;
	}
}

static int
search_run(struct store *s, const struct mbox *m, struct plan *p,
    const struct search_ctx *ctx, struct arena *a, uint32_t **uids,
    size_t *n)
{
	struct run x;
	struct uidvec text = { NULL, 0, 0 };
	int rc;

	memset(&x, 0, sizeof(x));
	x.s = s;
	x.m = m;
	x.ctx = ctx;
	x.p = p;
	x.a = a;
	x.cols = p->sent || p->sent_cols ? COLS_SENT :
	    p->nres > 0 ? COLS_ROW : COLS_UID;
	if ((rc = choose_driver(&x)) == 0 && (rc = run_sql(&x)) == 0 &&
	    (rc = run_text(&x, &text)) == 0)
		merge(&x.hits, &text, uids, n);
	free(text.v);
	run_free(&x);
	return rc;
}

int
store_search(struct store *s, const struct mbox *m,
    const struct search_key *key, const struct search_ctx *ctx,
    uint32_t **uids, size_t *n)
{
	struct compiler c;
	struct cnode *root;
	struct arena a;
	struct plan p;
	int rc;

	*uids = NULL;
	*n = 0;
	s->db.err[0] = '\0';
	if (key == NULL)
		return db_err(&s->db, MK_INVALID, "no search key");
	if (ctx->nview == 0)
		return 0;
	arena_init(&a, 0);
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.m = m;
	c.ctx = ctx;
	c.a = &a;
	c.fts = ctx->fts && store_fts_on(s);
	plan_init(&p);
	rc = compile(&c, key, 0, &root);
	fts_end(&c);
	if (rc == 0) {
		plan_absorb(&a, &p, root);
		plan_view(&a, &p, ctx);
		plan_order(&p);
		if (plan_check(&p))
			rc = search_run(s, m, &p, ctx, &a, uids, n);
	}
	free(p.res);
	arena_free(&a);
	return rc;
}
