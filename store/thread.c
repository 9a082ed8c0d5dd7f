/*
 * thread.c - THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256
 * section 3 and the six steps of section 4, followed literally) over
 * loaded messages, for THREAD in the mailbox process.
 *
 * Dates compare as sent dates (INTERNALDATE without one), ties by
 * sequence number; subjects and Message-IDs as octets of their stored
 * forms.  The tree is walked with explicit stacks, never recursion, as
 * a mailbox can hold a reply chain 100,000 messages deep.
 */
#include "store/sort.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b))

/* ---- the tree shared by both algorithms ---- */

#define NONE UINT32_MAX

struct tnode {
	struct sort_msg *m;	/* NULL: a dummy */
	uint32_t parent, child, last, next;
	uint32_t nkids;		/* step 1: how many have it as parent */
};

struct tree {
	struct tnode *v;
	size_t        n, cap;
};

static uint32_t
node_new(struct tree *t, struct sort_msg *m)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
	}
	t->v[t->n] = (struct tnode){ m, NONE, NONE, NONE, NONE, 0 };
	return (uint32_t)t->n++;
}

static void
append_child(struct tree *t, uint32_t p, uint32_t c)
{
	t->v[c].parent = p;
	t->v[c].next = NONE;
	if (t->v[p].child == NONE)
		t->v[p].child = c;
	else
		t->v[t->v[p].last].next = c;
	t->v[p].last = c;
}

static uint32_t
nchildren(const struct tree *t, uint32_t p)
{
	uint32_t k = 0;

	for (uint32_t c = t->v[p].child; c != NONE; c = t->v[c].next)
		k++;
	return k;
}

/* The message that dates a node: itself, or a dummy's first child. */
static const struct sort_msg *
date_of(const struct tree *t, uint32_t x)
{
	while (t->v[x].m == NULL && t->v[x].child != NONE)
		x = t->v[x].child;
	return t->v[x].m;
}

static int
cmp_date(const struct sort_msg *a, const struct sort_msg *b)
{
	if (a == NULL || b == NULL)
		return CMP(a != NULL, b != NULL);
	if (a->date != b->date)
		return CMP(a->date, b->date);
	return CMP(a->seq, b->seq);
}

static int
cmp_nodes(const void *pa, const void *pb, void *arg)
{
	const struct tree *t = arg;

	return cmp_date(date_of(t, *(const uint32_t *)pa),
	    date_of(t, *(const uint32_t *)pb));
}

/* Every node below root, each after all of its descendants. */
static uint32_t *
post_order(const struct tree *t, uint32_t root, size_t *n)
{
	uint32_t *out = xreallocarray(NULL, t->n, sizeof(*out));
	uint32_t *stack = xreallocarray(NULL, t->n, sizeof(*stack));
	size_t sp = 0, k = 0;

	stack[sp++] = root;
	while (sp > 0) {
		uint32_t x = stack[--sp];

		out[k++] = x;
		for (uint32_t c = t->v[x].child; c != NONE; c = t->v[c].next)
			stack[sp++] = c;
	}
	free(stack);
	/* parents came before children: reversed, after them */
	for (size_t i = 0; i < k / 2; i++) {
		uint32_t tmp = out[i];
		out[i] = out[k - 1 - i];
		out[k - 1 - i] = tmp;
	}
	*n = k;
	return out;
}

static void
sort_children(struct tree *t, uint32_t p, uint32_t *scratch)
{
	uint32_t k = 0, c;

	for (c = t->v[p].child; c != NONE; c = t->v[c].next)
		scratch[k++] = c;
	if (k < 2)
		return;
	qsort_r(scratch, k, sizeof(*scratch), cmp_nodes, t);
	t->v[p].child = NONE;
	for (uint32_t i = 0; i < k; i++)
		append_child(t, p, scratch[i]);
}

/* Sorts every set of siblings by date, the deepest first, so a dummy's
 * first child is known before the dummy is placed (steps 4 and 6). */
static void
sort_all(struct tree *t, uint32_t root)
{
	size_t n;
	uint32_t *order = post_order(t, root, &n);
	uint32_t *scratch = xreallocarray(NULL, t->n, sizeof(*scratch));

	for (size_t i = 0; i < n; i++)
		sort_children(t, order[i], scratch);
	free(scratch);
	free(order);
}

/* ---- writing a tree ---- */

/* A stack item: a node to write after the text pre, or only text. */
struct witem {
	uint32_t    node;
	const char *pre;
};

static void
push(struct witem **st, size_t *sp, size_t *cap, uint32_t node,
    const char *pre)
{
	if (*sp == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*st = xreallocarray(*st, *cap, sizeof(**st));
	}
	(*st)[(*sp)++] = (struct witem){ node, pre };
}

/* Pushes the children of x in the order they are to be written: one
 * child continues the member list, several nest as "(...)(...)". */
static void
push_children(const struct tree *t, uint32_t x, bool first_sp,
    struct witem **st, size_t *sp, size_t *cap)
{
	uint32_t k = nchildren(t, x), i = 0, *kids;

	if (k == 0)
		return;
	if (k == 1) {
		push(st, sp, cap, t->v[x].child, " ");
		return;
	}
	kids = xreallocarray(NULL, k, sizeof(*kids));
	for (uint32_t c = t->v[x].child; c != NONE; c = t->v[c].next)
		kids[i++] = c;
	while (i-- > 0) {
		push(st, sp, cap, NONE, ")");
		push(st, sp, cap, kids[i], i == 0 && first_sp ? " (" : "(");
	}
	free(kids);
}

/* One thread-list: "(" members / nested ")". */
static void
write_thread(struct buf *out, const struct tree *t, uint32_t top)
{
	struct witem *st = NULL;
	size_t sp = 0, cap = 0;

	buf_addc(out, '(');
	if (t->v[top].m == NULL)
		push_children(t, top, false, &st, &sp, &cap);
	else
		push(&st, &sp, &cap, top, "");
	while (sp > 0) {
		struct witem w = st[--sp];

		if (w.node == NONE) {
			buf_adds(out, w.pre);
			continue;
		}
		if (strcmp(w.pre, " ") != 0)
			buf_adds(out, w.pre);
		sort_put_num(out, t->v[w.node].m->num, strcmp(w.pre, " ") == 0);
		push_children(t, w.node, true, &st, &sp, &cap);
	}
	buf_addc(out, ')');
	free(st);
}

static void
write_all(struct buf *out, const struct tree *t, uint32_t root)
{
	if (t->v[root].child != NONE)
		buf_addc(out, ' ');
	for (uint32_t c = t->v[root].child; c != NONE; c = t->v[c].next)
		write_thread(out, t, c);
}

/* ---- ORDEREDSUBJECT ---- */

static int
cmp_subject_date(const void *pa, const void *pb)
{
	const struct sort_msg *a = *(struct sort_msg *const *)pa;
	const struct sort_msg *b = *(struct sort_msg *const *)pb;
	int r = strcmp(a->k.subject, b->k.subject);

	return r != 0 ? r : cmp_date(a, b);
}

/* Sorted by base subject and date; each subject's first message under
 * the root, the others its children; threads ordered by date. */
static uint32_t
ordered_subject(struct tree *t, struct sort_msg *msgs, size_t n)
{
	struct sort_msg **p = xreallocarray(NULL, n, sizeof(*p));
	uint32_t root = node_new(t, NULL), head = NONE;

	for (size_t i = 0; i < n; i++)
		p[i] = &msgs[i];
	qsort(p, n, sizeof(*p), cmp_subject_date);
	for (size_t i = 0; i < n; i++) {
		uint32_t x = node_new(t, p[i]);

		if (i == 0 || strcmp(p[i]->k.subject, p[i - 1]->k.subject))
			append_child(t, root, head = x);
		else
			append_child(t, head, x);
	}
	free(p);
	/* children are in date order already; the threads by their first */
	p = xreallocarray(NULL, t->n, sizeof(uint32_t));
	sort_children(t, root, (uint32_t *)p);
	free(p);
	return root;
}

/* ---- REFERENCES ---- */

/* Message-ID (or subject) -> node, open addressing; keys point into
 * the loaded strings. */
struct ment_ {
	const char *s;
	uint32_t    len, node;
};
struct idmap {
	struct ment_ *v;
	size_t        n, cap;	/* cap: a power of two */
};

static uint64_t
hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static struct ment_ *
slot(const struct idmap *m, const char *s, size_t n)
{
	size_t i = hash(s, n) & (m->cap - 1);

	while (m->v[i].s != NULL && (m->v[i].len != n ||
	    memcmp(m->v[i].s, s, n) != 0))
		i = (i + 1) & (m->cap - 1);
	return &m->v[i];
}

static void
idmap_grow(struct idmap *m)
{
	struct idmap old = *m;

	m->cap = old.cap ? old.cap * 2 : 1024;
	m->v = xcalloc(m->cap, sizeof(*m->v));
	for (size_t i = 0; i < old.cap; i++)
		if (old.v[i].s != NULL)
			*slot(m, old.v[i].s, old.v[i].len) = old.v[i];
	free(old.v);
}

/* The node of key s[0..n), NONE if absent. */
static uint32_t
idmap_get(struct idmap *m, const char *s, size_t n)
{
	struct ment_ *e;

	if (m->cap == 0)
		return NONE;
	e = slot(m, s, n);
	return e->s != NULL ? e->node : NONE;
}

static void
idmap_put(struct idmap *m, const char *s, size_t n, uint32_t node)
{
	struct ment_ *e;

	if ((m->n + 1) * 2 > m->cap)
		idmap_grow(m);
	e = slot(m, s, n);
	if (e->s == NULL)
		m->n++;
	*e = (struct ment_){ s, (uint32_t)n, node };
}

/* Is a an ancestor of b, or b itself?  Then making a a child of b
 * would close a loop.  A node nobody points to is no one's ancestor:
 * the usual case (a new message) costs nothing, and a long reply
 * chain is not walked once per message. */
static bool
is_ancestor(const struct tree *t, uint32_t a, uint32_t b)
{
	if (t->v[a].nkids == 0)
		return a == b;
	for (; b != NONE; b = t->v[b].parent)
		if (b == a)
			return true;
	return false;
}

static void
set_parent(struct tree *t, uint32_t x, uint32_t p)
{
	if (t->v[x].parent != NONE)
		t->v[t->v[x].parent].nkids--;
	t->v[x].parent = p;
	if (p != NONE)
		t->v[p].nkids++;
}

/* The node for a reference id: the message with it, or a dummy. */
static uint32_t
ref_node(struct tree *t, struct idmap *ids, const char *s, size_t n)
{
	uint32_t x = idmap_get(ids, s, n);

	if (x == NONE) {
		x = node_new(t, NULL);
		idmap_put(ids, s, n, x);
	}
	return x;
}

/* Step 1 for one message: its node, then the links of its references.
 * Only parent pointers are kept in this step. */
static void
link_refs(struct tree *t, struct idmap *ids, struct sort_msg *m)
{
	const char *id = m->k.msgid, *r = m->k.refs;
	size_t idlen = strlen(id);
	uint32_t x = NONE, prev = NONE;

	if (idlen > 0 && (x = idmap_get(ids, id, idlen)) != NONE &&
	    t->v[x].m == NULL)
		t->v[x].m = m;	/* a dummy made for a reference to it */
	else {
		/* no id, or a duplicate: a unique id, never looked up */
		bool dup = x != NONE;
		x = node_new(t, m);
		if (idlen > 0 && !dup)
			idmap_put(ids, id, idlen, x);
	}
	while (*r != '\0') {
		size_t len = strcspn(r, " ");
		uint32_t y = ref_node(t, ids, r, len);

		/* 1A: keep an existing parent; never make a loop */
		if (prev != NONE && t->v[y].parent == NONE &&
		    !is_ancestor(t, y, prev))
			set_parent(t, y, prev);
		prev = y;
		r += len;
		r += *r == ' ';
	}
	/* 1B: the last reference is the parent, or there is none */
	set_parent(t, x, NONE);
	if (prev != NONE && !is_ancestor(t, x, prev))
		set_parent(t, x, prev);
}

/* Steps 2 and 3: children lists under one root, dummies pruned. */
static uint32_t
build_pruned(struct tree *t)
{
	uint32_t root = node_new(t, NULL);
	uint32_t *order;
	size_t n;

	for (uint32_t x = 0; x < root; x++)
		append_child(t, t->v[x].parent == NONE ? root : t->v[x].parent, x);
	order = post_order(t, root, &n);
	for (size_t i = 0; i < n; i++) {
		uint32_t p = order[i], c = t->v[p].child, next;

		/* the children's own lists are pruned already */
		t->v[p].child = NONE;
		for (; c != NONE; c = next) {
			uint32_t k = nchildren(t, c), g, gn;

			next = t->v[c].next;
			if (t->v[c].m != NULL || (p == root && k > 1)) {
				append_child(t, p, c);
				continue;
			}
			for (g = t->v[c].child; g != NONE; g = gn) {
				gn = t->v[g].next;
				append_child(t, p, g);
			}
		}
	}
	free(order);
	return root;
}

static const struct sort_msg *
thread_msg(const struct tree *t, uint32_t x)
{
	return t->v[x].m != NULL ? t->v[x].m :
	    t->v[x].child != NONE ? t->v[t->v[x].child].m : NULL;
}

/* Step 5B: the subject table, one thread per base subject. */
static void
subject_table(struct tree *t, uint32_t root, struct idmap *subj)
{
	for (uint32_t c = t->v[root].child; c != NONE; c = t->v[c].next) {
		const struct sort_msg *m = thread_msg(t, c);
		size_t len = m != NULL ? strlen(m->k.subject) : 0;
		uint32_t old;

		if (len == 0)
			continue;
		old = idmap_get(subj, m->k.subject, len);
		if (old == NONE || (t->v[old].m != NULL &&
		    (t->v[c].m == NULL ||
		    (t->v[old].m->k.reply && !t->v[c].m->k.reply))))
			idmap_put(subj, m->k.subject, len, c);
	}
}

/* A new dummy under root holding old and c; the root's list is
 * rebuilt after the merges (merge_all), and step 6 orders it. */
static uint32_t
new_dummy(struct tree *t, uint32_t root, uint32_t old, uint32_t c)
{
	uint32_t d = node_new(t, NULL);

	t->v[d].parent = root;
	append_child(t, d, old);
	append_child(t, d, c);
	return d;
}

/* Step 5C: c (a child of root) merged with the thread of its subject. */
static void
merge(struct tree *t, uint32_t root, struct idmap *subj, uint32_t c)
{
	const struct sort_msg *m = thread_msg(t, c);
	size_t len = m != NULL ? strlen(m->k.subject) : 0;
	uint32_t old, g, gn;

	if (len == 0 || (old = idmap_get(subj, m->k.subject, len)) == c ||
	    old == NONE)
		return;
	/* c leaves the root (its list is rebuilt by merge_all) */
	t->v[c].parent = NONE;
	if (t->v[old].m == NULL && t->v[c].m == NULL) {
		for (g = t->v[c].child; g != NONE; g = gn) {
			gn = t->v[g].next;
			append_child(t, old, g);
		}
		t->v[c].child = NONE;
	} else if (t->v[old].m == NULL || (t->v[c].m != NULL &&
	    t->v[c].m->k.reply && !t->v[old].m->k.reply)) {
		append_child(t, old, c);
	} else
		idmap_put(subj, m->k.subject, len,
		    new_dummy(t, root, old, c));
}

/* Step 5C over the root's children, then the root's list made of
 * those still under it and the new dummies. */
static void
merge_all(struct tree *t, uint32_t root, struct idmap *subj)
{
	uint32_t *tops = xreallocarray(NULL, t->n, sizeof(*tops));
	uint32_t k = 0, first_new = (uint32_t)t->n;

	for (uint32_t c = t->v[root].child; c != NONE; c = t->v[c].next)
		tops[k++] = c;
	for (uint32_t i = 0; i < k; i++)
		if (t->v[tops[i]].parent == root)
			merge(t, root, subj, tops[i]);
	t->v[root].child = t->v[root].last = NONE;
	for (uint32_t i = 0; i < k; i++)
		if (t->v[tops[i]].parent == root)
			append_child(t, root, tops[i]);
	for (uint32_t d = first_new; d < t->n; d++)
		if (t->v[d].parent == root)
			append_child(t, root, d);
	free(tops);
}

static uint32_t
references(struct tree *t, struct sort_msg *msgs, size_t n)
{
	struct idmap ids = { 0 }, subj = { 0 };
	uint32_t root;

	for (size_t i = 0; i < n; i++)
		link_refs(t, &ids, &msgs[i]);
	free(ids.v);
	root = build_pruned(t);
	sort_all(t, root);			/* step 4 */
	subject_table(t, root, &subj);		/* step 5 */
	merge_all(t, root, &subj);
	free(subj.v);
	sort_all(t, root);			/* step 6 */
	return root;
}

void
thread_write(struct buf *out, struct sort_msg *msgs, size_t n,
    enum thread_alg alg)
{
	struct tree t = { 0 };
	uint32_t root;

	if (n == 0)
		return;
	root = alg == THREAD_ORDEREDSUBJECT ? ordered_subject(&t, msgs, n) :
	    references(&t, msgs, n);
	write_all(out, &t, root);
	free(t.v);
}
