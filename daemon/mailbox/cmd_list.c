/*
 * cmd_list.c - LIST and LSUB (RFC 3501 6.3.8, 6.3.9) with LIST-EXTENDED
 * (RFC 5258), LIST-STATUS (RFC 5819), CHILDREN (RFC 3348) and
 * SPECIAL-USE (RFC 6154) attributes.
 *
 * The mailbox list and the subscriptions are read once per command into
 * sorted arrays; each name is matched against each pattern with an NFA
 * walk (cost: name length x pattern length, never exponential).
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/imap_write.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

struct entry {
	const char *name;
	unsigned    mflags;		/* MBOX_* */
	unsigned    use;		/* SPECIAL_USE_* */
	int64_t     id;
	bool        exists;
	bool        subscribed;
	bool        children;		/* an existing mailbox below it */
	bool        placeholder;	/* "Other Users", "Other Users/<owner>" */
	bool        remote;		/* another user's shared mailbox */
	unsigned    rights;		/* RT_*, of a remote one (share index) */
	bool        sub_children;	/* a subscribed name below it */
	struct mbox m;
};

struct listing {
	struct client *c;
	struct entry  *e;
	size_t         n, cap;
	char         **subs;
	size_t         nsubs, capsubs;
};

/* ---- matching ---- */

static bool
is_inbox_prefix(const char *name)
{
	return strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' ||
	    name[5] == '/');
}

/* Does name match pattern ('*' anything, '%' anything but '/')?  The
 * INBOX part of a name matches case-insensitively. */
static bool
wild_match(struct arena *a, const char *pat, const char *name)
{
	size_t m = strlen(pat), nlen = strlen(name);
	bool inbox = is_inbox_prefix(name);
	bool *cur = arena_array(a, m + 1, sizeof(bool));
	bool *nxt = arena_array(a, m + 1, sizeof(bool));

	if (cur == NULL || nxt == NULL)
		return false;
	cur[0] = true;
	for (size_t i = 0; i < m && cur[i]; i++)
		if (pat[i] == '*' || pat[i] == '%')
			cur[i + 1] = true;
	for (size_t k = 0; k < nlen; k++) {
		char ch = name[k];
		bool any = false;
		memset(nxt, 0, (m + 1) * sizeof(bool));
		for (size_t i = 0; i < m; i++) {
			if (!cur[i])
				continue;
			if (pat[i] == '*' || (pat[i] == '%' && ch != '/'))
				nxt[i] = true;
			else if (pat[i] == ch || (inbox && k < 5 &&
			    (pat[i] | 0x20) == (ch | 0x20)))
				nxt[i + 1] = true;
		}
		for (size_t i = 0; i < m; i++)
			if (nxt[i] && (pat[i] == '*' || pat[i] == '%'))
				nxt[i + 1] = true;
		for (size_t i = 0; i <= m; i++)
			any |= nxt[i];
		if (!any)
			return false;
		bool *t = cur;
		cur = nxt;
		nxt = t;
	}
	return cur[m];
}

static bool
match_any(struct client *c, const char **pats, size_t n, const char *name)
{
	/* UTF-8 patterns are matched against UTF-8 names (names.c). */
	name = name_out(c, name);
	for (size_t i = 0; i < n; i++)
		if (wild_match(&c->arena, pats[i], name))
			return true;
	return false;
}

/* ---- collecting ---- */

static struct entry *
add_entry(struct listing *l, const char *name)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->e = xreallocarray(l->e, l->cap, sizeof(*l->e));
	}
	struct entry *e = &l->e[l->n++];
	memset(e, 0, sizeof(*e));
	e->name = arena_strdup(&l->c->arena, name);
	return e;
}

static int
collect_mbox(const struct mbox *m, void *arg)
{
	struct listing *l = arg;
	struct entry *e;

	/* A guest lists only what grants them "l" (RFC 4314 4). */
	if (client_is_guest(l->c) && !(rights_for(l->c, m) & RT_L))
		return 0;
	e = add_entry(l, m->name);

	e->mflags = m->flags;
	e->use = m->special_use;
	e->id = m->id;
	e->exists = true;
	e->m = *m;
	return e->name == NULL ? -1 : 0;
}

static int
collect_sub(const char *name, void *arg)
{
	struct listing *l = arg;

	if (l->nsubs == l->capsubs) {
		l->capsubs = l->capsubs ? l->capsubs * 2 : 32;
		l->subs = xreallocarray(l->subs, l->capsubs, sizeof(*l->subs));
	}
	l->subs[l->nsubs] = arena_strdup(&l->c->arena, name);
	return l->subs[l->nsubs++] == NULL ? -1 : 0;
}

static int
cmp_name(const char *a, const char *b)
{
	/* INBOX and its children first, as clients expect. */
	bool ia = is_inbox_prefix(a), ib = is_inbox_prefix(b);
	if (ia != ib)
		return ia ? -1 : 1;
	return strcmp(a, b);
}

static int
cmp_entry(const void *a, const void *b)
{
	return cmp_name(((const struct entry *)a)->name,
	    ((const struct entry *)b)->name);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
is_subscribed(const struct listing *l, const char *name)
{
	return l->nsubs > 0 &&
	    bsearch(&name, l->subs, l->nsubs, sizeof(*l->subs), cmp_str) != NULL;
}

static struct entry *
find_entry(struct listing *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->e[i].name, name) == 0)
			return &l->e[i];
	return NULL;
}

static bool
is_below(const char *child, const char *parent)
{
	size_t n = strlen(parent);
	return strncmp(child, parent, n) == 0 && child[n] == '/';
}

/* The union of the share index's rows for sh (its own name's and
 * "anyone"'s, which dir_shares_for() returns next to each other). */
static unsigned
share_rights(const struct client *c, size_t i, size_t *next)
{
	const struct share_entry *sh = &c->shares[i];
	unsigned r = 0;
	bool ok;

	for (; i < c->nshares && strcmp(c->shares[i].owner, sh->owner) == 0 &&
	    strcmp(c->shares[i].mailbox, sh->mailbox) == 0; i++)
		r |= rights_parse(c->shares[i].rights, &ok);
	*next = i;
	return r;
}

/* Other users' mailboxes that grant this user "l", and the two levels
 * of namespace above them. */
static void
add_shared(struct listing *l)
{
	struct client *c = l->c;

	for (size_t i = 0, next; i < c->nshares; i = next) {
		const struct share_entry *sh = &c->shares[i];
		unsigned rights = share_rights(c, i, &next);
		char *name, *owner;
		if (!(rights & RT_L))
			continue;
		name = arena_printf(&c->arena, "Other Users/%s/%s", sh->owner,
		    sh->mailbox);
		owner = arena_printf(&c->arena, "Other Users/%s", sh->owner);
		if (name == NULL || owner == NULL)
			return;
		struct entry *e = find_entry(l, name);
		if (e == NULL)
			e = add_entry(l, name);
		e->exists = true;
		e->remote = true;
		e->rights = rights;
		if (find_entry(l, owner) == NULL)
			add_entry(l, owner)->placeholder = true;
		if (find_entry(l, "Other Users") == NULL)
			add_entry(l, "Other Users")->placeholder = true;
	}
}

/* Adds subscribed names that are not mailboxes, and every ancestor of a
 * subscribed name, so that the selection options can see them. */
static void
add_subscription_names(struct listing *l)
{
	for (size_t i = 0; i < l->nsubs; i++) {
		char *name = arena_strdup(&l->c->arena, l->subs[i]);
		if (name == NULL)
			return;
		for (;;) {
			if (find_entry(l, name) == NULL)
				add_entry(l, name);
			char *slash = strrchr(name, '/');
			if (slash == NULL)
				break;
			*slash = '\0';
		}
	}
}

static int
cmp_entry_bytes(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name,
	    ((const struct entry *)b)->name);
}

/* First index whose name is >= key, in byte order. */
static size_t
lower_bound(const struct listing *l, const char *key)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(l->e[mid].name, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* In byte order the descendants of "a" are one block starting at "a/",
 * so each entry looks only at its own subtree. */
static void
mark_relations(struct listing *l)
{
	if (l->n > 0)
		qsort(l->e, l->n, sizeof(*l->e), cmp_entry_bytes);
	for (size_t i = 0; i < l->n; i++)
		l->e[i].subscribed = is_subscribed(l, l->e[i].name);
	for (size_t i = 0; i < l->n; i++) {
		struct entry *e = &l->e[i];
		char *key = arena_printf(&l->c->arena, "%s/", e->name);
		if (key == NULL)
			return;
		for (size_t j = lower_bound(l, key);
		    j < l->n && is_below(l->e[j].name, e->name); j++) {
			e->children |= l->e[j].exists;
			e->sub_children |= l->e[j].subscribed;
			if (e->children && e->sub_children)
				break;
		}
	}
}

/* ---- output ---- */

static void
attr(struct buf *b, bool *first, const char *a)
{
	if (!*first)
		buf_addc(b, ' ');
	buf_adds(b, a);
	*first = false;
}

static void
special_use_attrs(struct buf *b, bool *first, unsigned use)
{
	static const struct { unsigned bit; const char *name; } su[] = {
		{ SPECIAL_USE_ALL, "\\All" }, { SPECIAL_USE_ARCHIVE, "\\Archive" },
		{ SPECIAL_USE_DRAFTS, "\\Drafts" }, { SPECIAL_USE_FLAGGED, "\\Flagged" },
		{ SPECIAL_USE_JUNK, "\\Junk" }, { SPECIAL_USE_SENT, "\\Sent" },
		{ SPECIAL_USE_TRASH, "\\Trash" },
	};
	for (size_t i = 0; i < nitems(su); i++)
		if (use & su[i].bit)
			attr(b, first, su[i].name);
}

/* RFC 8440: "* MYRIGHTS" after the LIST line of each selectable
 * mailbox.  Another user's mailbox reports the rights of the share
 * index, which SETACL keeps current; asking MYRIGHTS itself goes to the
 * owner's process. */
static void
emit_myrights(struct client *c, const struct entry *e)
{
	char r[RIGHTS_STRLEN];

	if (!e->exists || (e->mflags & MBOX_NOSELECT))
		return;
	rights_format(e->remote ? e->rights : rights_for(c, &e->m), r);
	buf_adds(&c->out, "* MYRIGHTS ");
	resp_mailbox(c, &c->out, e->name);
	buf_printf(&c->out, " %s\r\n", r);
}

static void
emit_list(struct client *c, const struct list_args *a, const struct entry *e,
    bool lsub, bool childinfo)
{
	struct buf *b = &c->out;
	bool first = true;

	buf_printf(b, "* %s (", lsub ? "LSUB" : "LIST");
	if (!e->exists && !e->placeholder && !lsub &&
	    (a->sel & LIST_SEL_SUBSCRIBED))
		attr(b, &first, "\\NonExistent");
	else if (!e->exists || (e->mflags & MBOX_NOSELECT))
		attr(b, &first, "\\Noselect");
	/* RFC 5258: an extended LIST with selection options reports
	 * children only when asked to with RETURN (CHILDREN). */
	bool children = !(a->sel & (LIST_SEL_SUBSCRIBED | LIST_SEL_SPECIAL_USE)) ||
	    (a->ret & LIST_RET_CHILDREN);
	if (!lsub && children) {
		if (e->exists || e->children || e->placeholder)
			attr(b, &first, e->children ? "\\HasChildren" :
			    "\\HasNoChildren");
	}
	if (!lsub) {
		if (e->subscribed && ((a->sel & LIST_SEL_SUBSCRIBED) ||
		    (a->ret & LIST_RET_SUBSCRIBED)))
			attr(b, &first, "\\Subscribed");
		special_use_attrs(b, &first, e->use);
	}
	buf_adds(b, ") \"/\" ");
	resp_mailbox(c, b, e->name);
	if (childinfo)
		buf_adds(b, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	buf_adds(b, "\r\n");
	if (!lsub && (a->ret & LIST_RET_STATUS) && e->exists && !e->remote &&
	    !(e->mflags & MBOX_NOSELECT) &&
	    (rights_for(c, &e->m) & RT_R)) {
		struct mstate *ms = mstate_find(c->user, e->id);
		const struct mbox *m = ms && !ms->gone ? &ms->m : &e->m;
		buf_adds(b, "* STATUS ");
		resp_mailbox(c, b, e->name);
		buf_addc(b, ' ');
		status_items(c, m, a->status, b);
		buf_adds(b, "\r\n");
	}
	if (!lsub && (a->ret & LIST_RET_MYRIGHTS))
		emit_myrights(c, e);
}

/* Joins reference and pattern (RFC 3501 6.3.8: the pattern is read
 * relative to the reference). */
static const char **
full_patterns(struct client *c, const struct list_args *a)
{
	const char **p = arena_array(&c->arena, a->npatterns + 1, sizeof(*p));

	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < a->npatterns; i++)
		p[i] = arena_printf(&c->arena, "%s%s", a->ref ? a->ref : "",
		    a->patterns[i]);
	return p;
}

/* RFC 5258 3.5: a parent is listed for RECURSIVEMATCH only on account
 * of a subscribed descendant that the patterns do not list themselves. */
static bool
unlisted_subscribed_child(struct client *c, const struct list_args *a,
    const char **pats, const struct listing *l, const struct entry *parent)
{
	if (!parent->sub_children)
		return false;
	for (size_t j = 0; j < l->n; j++)
		if (l->e[j].subscribed && is_below(l->e[j].name, parent->name) &&
		    !match_any(c, pats, a->npatterns, l->e[j].name))
			return true;
	return false;
}

static void
run_list(struct client *c, const struct list_args *a, const char **pats,
    struct listing *l)
{
	bool subsel = (a->sel & LIST_SEL_SUBSCRIBED) != 0;

	for (size_t i = 0; i < l->n; i++) {
		struct entry *e = &l->e[i];
		bool childinfo = false;
		if (!match_any(c, pats, a->npatterns, e->name))
			continue;
		if (subsel) {
			if ((a->sel & LIST_SEL_RECURSIVEMATCH) &&
			    unlisted_subscribed_child(c, a, pats, l, e))
				childinfo = true;
			if (!e->subscribed && !childinfo)
				continue;
		} else if (!e->exists && !e->placeholder)
			continue;
		if ((a->sel & LIST_SEL_SPECIAL_USE) && e->use == 0)
			continue;
		emit_list(c, a, e, false, childinfo);
	}
}

static bool
hides_subscribed(struct client *c, const struct list_args *a,
    const char **pats, const struct listing *l, const char *parent)
{
	char *key = arena_printf(&c->arena, "%s/", parent);
	size_t lo = 0, hi = l->nsubs;

	if (key == NULL)
		return false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(l->subs[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < l->nsubs && is_below(l->subs[lo], parent); lo++)
		if (!match_any(c, pats, a->npatterns, l->subs[lo]))
			return true;
	return false;
}

static void
run_lsub(struct client *c, const struct list_args *a, const char **pats,
    struct listing *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct entry *e = &l->e[i];
		if (!match_any(c, pats, a->npatterns, e->name))
			continue;
		if (e->subscribed) {
			emit_list(c, a, e, true, false);
			continue;
		}
		/* A parent of a subscribed name, reachable by '%': shown as
		 * \Noselect (RFC 3501 6.3.9). */
		if (e->sub_children && hides_subscribed(c, a, pats, l, e->name)) {
			struct entry shadow = *e;
			shadow.exists = false;
			emit_list(c, a, &shadow, true, false);
		}
	}
}

/* Every mailbox (and, with subnames, subscribed name) with its
 * relations, sorted; 0, or -1 with nothing left allocated. */
static int
collect(struct client *c, struct listing *l, bool subnames)
{
	if (store_mbox_foreach(c->user->store, collect_mbox, l) != 0 ||
	    (!client_is_guest(c) &&
	    store_sub_foreach(c->user->store, collect_sub, l) != 0)) {
		free(l->e);
		free(l->subs);
		return -1;
	}
	if (l->nsubs > 0)
		qsort(l->subs, l->nsubs, sizeof(*l->subs), cmp_str);
	if (!client_is_guest(c))
		add_shared(l);
	if (subnames)
		add_subscription_names(l);
	mark_relations(l);
	/* A guest may see no mailbox at all: nothing to sort then. */
	if (l->n > 0)
		qsort(l->e, l->n, sizeof(*l->e), cmp_entry);
	return 0;
}

/* RFC 9051 6.3.2: an IMAP4rev2 SELECT or EXAMINE answers the mailbox's
 * LIST line, with the attributes a plain LIST would show. */
void
list_selected(struct client *c, const char *name)
{
	struct listing l = { .c = c };
	struct list_args a = { .ref = "" };

	if (collect(c, &l, false) != 0)
		return;
	for (size_t i = 0; i < l.n; i++)
		if (l.e[i].exists && strcmp(l.e[i].name, name) == 0) {
			emit_list(c, &a, &l.e[i], false, false);
			break;
		}
	free(l.e);
	free(l.subs);
}

static bool
is_hierarchy_query(const struct list_args *a)
{
	return !a->extended && a->npatterns == 1 && a->patterns[0][0] == '\0';
}

enum cmd_result
cmd_list(struct client *c)
{
	const struct list_args *a = &c->cmd->u.list;
	bool lsub = c->cmd->id == CMD_LSUB;
	struct listing l = { .c = c };
	const char **pats;

	if (is_hierarchy_query(a)) {
		/* LIST "" "": the hierarchy delimiter and root. */
		resp_untagged(c, "%s (\\Noselect) \"/\" \"\"", lsub ? "LSUB" : "LIST");
		return resp_ok(c, "%s completed", lsub ? "LSUB" : "LIST");
	}
	if ((a->ret & LIST_RET_STATUS) && !status_items_ok(c, a->status))
		return RUN_DONE;
	if ((pats = full_patterns(c, a)) == NULL)
		return resp_no(c, "[LIMIT] Too many patterns");
	if (collect(c, &l, lsub || (a->sel & LIST_SEL_SUBSCRIBED)) != 0)
		return resp_store_error(c, -1, lsub ? "LSUB" : "LIST");
	if (lsub)
		run_lsub(c, a, pats, &l);
	else
		run_list(c, a, pats, &l);
	free(l.e);
	free(l.subs);
	return resp_ok(c, "%s completed", lsub ? "LSUB" : "LIST");
}
