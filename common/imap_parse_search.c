/*
 * imap_parse_search.c - the SEARCH grammar (RFC 3501 6.4.4) with ESEARCH
 * return options (RFC 4731, RFC 5182 SAVE, RFC 5267 CONTEXT, UPDATE and
 * PARTIAL with RFC 9394's negative ranges), WITHIN (RFC 5032) and MODSEQ
 * (RFC 7162), for imap_parse().
 *
 * The result is a tree of struct search_key: the top-level keys become
 * the children of one SK_AND node, a parenthesized list another SK_AND,
 * NOT one child, OR two.  Nesting and the number of keys are bounded so
 * a hostile command can neither exhaust the stack nor make the executor
 * walk an enormous tree.
 */
#include "common/imap_parse_int.h"

#include <string.h>

enum arg {
	A_NONE, A_STR, A_HEADER, A_DATE, A_NUM, A_NZNUM, A_SET, A_KEYWORD,
	A_NOT, A_OR, A_MODSEQ, A_OBJID,
};

static const struct {
	const char          *name;
	enum search_key_type type;
	enum arg             arg;
} keys[] = {
	{ "ALL", SK_ALL, A_NONE }, { "ANSWERED", SK_ANSWERED, A_NONE },
	{ "DELETED", SK_DELETED, A_NONE }, { "DRAFT", SK_DRAFT, A_NONE },
	{ "FLAGGED", SK_FLAGGED, A_NONE }, { "NEW", SK_NEW, A_NONE },
	{ "OLD", SK_OLD, A_NONE }, { "RECENT", SK_RECENT, A_NONE },
	{ "SEEN", SK_SEEN, A_NONE }, { "UNANSWERED", SK_UNANSWERED, A_NONE },
	{ "UNDELETED", SK_UNDELETED, A_NONE }, { "UNDRAFT", SK_UNDRAFT, A_NONE },
	{ "UNFLAGGED", SK_UNFLAGGED, A_NONE }, { "UNSEEN", SK_UNSEEN, A_NONE },
	{ "KEYWORD", SK_KEYWORD, A_KEYWORD },
	{ "UNKEYWORD", SK_UNKEYWORD, A_KEYWORD },
	{ "BCC", SK_BCC, A_STR }, { "CC", SK_CC, A_STR },
	{ "FROM", SK_FROM, A_STR }, { "TO", SK_TO, A_STR },
	{ "SUBJECT", SK_SUBJECT, A_STR }, { "BODY", SK_BODY, A_STR },
	{ "TEXT", SK_TEXT, A_STR }, { "HEADER", SK_HEADER, A_HEADER },
	{ "BEFORE", SK_BEFORE, A_DATE }, { "ON", SK_ON, A_DATE },
	{ "SINCE", SK_SINCE, A_DATE }, { "SENTBEFORE", SK_SENTBEFORE, A_DATE },
	{ "SENTON", SK_SENTON, A_DATE }, { "SENTSINCE", SK_SENTSINCE, A_DATE },
	{ "LARGER", SK_LARGER, A_NUM }, { "SMALLER", SK_SMALLER, A_NUM },
	{ "OLDER", SK_OLDER, A_NZNUM }, { "YOUNGER", SK_YOUNGER, A_NZNUM },
	{ "UID", SK_UID, A_SET }, { "MODSEQ", SK_MODSEQ, A_MODSEQ },
	{ "EMAILID", SK_EMAILID, A_OBJID }, { "THREADID", SK_THREADID, A_OBJID },
	{ "SAVEDBEFORE", SK_SAVEDBEFORE, A_DATE },
	{ "SAVEDON", SK_SAVEDON, A_DATE },
	{ "SAVEDSINCE", SK_SAVEDSINCE, A_DATE },
	{ "SAVEDATESUPPORTED", SK_SAVEDATESUPPORTED, A_NONE },
	{ "NOT", SK_NOT, A_NOT }, { "OR", SK_OR, A_OR },
};

static bool search_key(struct pstate *ps, int depth, struct search_key **out);

static struct search_key *
new_key(struct pstate *ps, enum search_key_type type)
{
	struct search_key *k;

	if (ps->nkeys >= IP_MAX_SEARCH_KEYS) {
		ip_fail(ps, "Too many search keys");
		return NULL;
	}
	if ((k = ip_alloc(ps, sizeof(*k))) == NULL)
		return NULL;
	ps->nkeys++;
	k->type = type;
	return k;
}

/* MODSEQ ["/flags/<flag>" priv|shared|all] n (RFC 7162 3.1.5); the entry
 * name and type are checked and then ignored, as Mailkeep keeps one
 * mod-sequence per message. */
static bool
modseq_arg(struct pstate *ps, struct search_key *k)
{
	const char *entry, *type;
	size_t n;

	if (ip_peek(ps) == '"') {
		if (!ip_string(ps, &entry, "entry name") ||
		    strncmp(entry, "/flags/", 7) != 0 || entry[7] == '\0')
			return ip_fail(ps, "Invalid MODSEQ entry name");
		if (!ip_sp(ps, "entry name", "entry type") ||
		    !ip_atom(ps, &type, &n, "entry type"))
			return false;
		if (!ip_eq(type, n, "priv") && !ip_eq(type, n, "shared") &&
		    !ip_eq(type, n, "all"))
			return ip_fail(ps, "Invalid MODSEQ entry type");
		if (!ip_sp(ps, "entry type", "mod-sequence"))
			return false;
	}
	return ip_number64(ps, IP_MODSEQ_MAX, &k->num, "mod-sequence");
}

/* objectid = 1*255(ALPHA / DIGIT / "_" / "-") (RFC 8474 7). */
static bool
objectid_arg(struct pstate *ps, struct search_key *k)
{
	size_t n = 0;

	while (ps->p + n < ps->end && n <= 255 &&
	    ((ps->p[n] >= 'A' && ps->p[n] <= 'Z') ||
	    (ps->p[n] >= 'a' && ps->p[n] <= 'z') ||
	    (ps->p[n] >= '0' && ps->p[n] <= '9') ||
	    ps->p[n] == '_' || ps->p[n] == '-'))
		n++;
	if (n == 0 || n > 255)
		return ip_fail(ps, "Invalid object id: 1 to 255 letters, "
		    "digits, '_' or '-'");
	if ((k->str = arena_strndup(ps->a, ps->p, n)) == NULL)
		return ip_oom(ps);
	ps->p += n;
	return true;
}

static bool
key_arg(struct pstate *ps, int depth, enum arg arg, const char *name,
    struct search_key *k)
{
	uint32_t v;
	size_t n;
	const char *s;

	if (arg != A_NONE && !ip_sp(ps, name, "search argument"))
		return false;
	switch (arg) {
	case A_NONE:
		return true;
	case A_STR:
		return ip_astring(ps, &k->str, "search string");
	case A_HEADER:
		return ip_astring(ps, &k->field, "header field name") &&
		    ip_sp(ps, "header field name", "search string") &&
		    ip_astring(ps, &k->str, "search string");
	case A_DATE:
		return ip_date(ps, &k->date);
	case A_NUM:
		return ip_number64(ps, UINT64_MAX, &k->num, "size");
	case A_NZNUM:
		if (!ip_nz_number(ps, &v, "interval"))
			return false;
		k->num = v;
		return true;
	case A_SET:
		return ip_seqset(ps, &k->set);
	case A_KEYWORD:
		if (!ip_atom(ps, &s, &n, "keyword"))
			return false;
		if ((k->str = arena_strndup(ps->a, s, n)) == NULL)
			return ip_oom(ps);
		return true;
	case A_MODSEQ:
		return modseq_arg(ps, k);
	case A_OBJID:
		return objectid_arg(ps, k);
	case A_NOT:
		return search_key(ps, depth + 1, &k->child);
	case A_OR:
		return search_key(ps, depth + 1, &k->child) &&
		    ip_sp(ps, "first OR operand", "second OR operand") &&
		    search_key(ps, depth + 1, &k->child->next);
	}
	return false;
}

/* "(" search-key *(SP search-key) ")", ps->p past the "(". */
static bool
key_list(struct pstate *ps, int depth, struct search_key *and, char close)
{
	struct search_key **tail = &and->child;

	for (;;) {
		if (!search_key(ps, depth + 1, tail))
			return false;
		tail = &(*tail)->next;
		if (close != '\0' && ip_accept(ps, close))
			return true;
		if (close == '\0' && ip_eof(ps))
			return true;
		if (!ip_sp(ps, "search key", close ? "')'" : "search key"))
			return false;
	}
}

static bool
search_key(struct pstate *ps, int depth, struct search_key **out)
{
	struct search_key *k;
	const char *s;
	size_t n, i;
	int c = ip_peek(ps);

	if (depth > IP_MAX_DEPTH)
		return ip_fail(ps, "Search keys nested too deep");
	if (c == '(') {
		ps->p++;
		if ((k = *out = new_key(ps, SK_AND)) == NULL)
			return false;
		return key_list(ps, depth, k, ')');
	}
	if ((c >= '0' && c <= '9') || c == '*' || c == '$') {
		if ((k = *out = new_key(ps, SK_SEQSET)) == NULL)
			return false;
		return ip_seqset(ps, &k->set);
	}
	if (!ip_atom(ps, &s, &n, "search key"))
		return false;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (ip_eq(s, n, keys[i].name))
			break;
	if (i == sizeof(keys) / sizeof(keys[0]))
		return ip_fail(ps, "Unknown search key %.*s", (int)IP_SHOW(n), s);
	if ((k = *out = new_key(ps, keys[i].type)) == NULL)
		return false;
	return key_arg(ps, depth, keys[i].arg, keys[i].name, k);
}

/* One end of a PARTIAL range: ["-"] nz-number (RFC 9394). */
static bool
partial_end(struct pstate *ps, int64_t *v)
{
	bool neg = ip_accept(ps, '-');
	uint32_t n;

	if (!ip_nz_number(ps, &n, "PARTIAL range"))
		return false;
	*v = neg ? -(int64_t)n : (int64_t)n;
	return true;
}

/* PARTIAL lo:hi (RFC 5267 4.4): no "*", no 0, one sign for both ends;
 * 500:400 is 400:500, -500:-400 is -400:-500. */
static bool
partial_range(struct pstate *ps, struct search_partial *p)
{
	int64_t t;

	if (!ip_sp(ps, "PARTIAL", "range") || !partial_end(ps, &p->lo))
		return false;
	if (!ip_expect(ps, ':', "PARTIAL needs a range lo:hi"))
		return false;
	if (!partial_end(ps, &p->hi))
		return false;
	if ((p->lo < 0) != (p->hi < 0))
		return ip_fail(ps, "PARTIAL range ends must have the same sign");
	if ((p->lo > 0 && p->lo > p->hi) || (p->lo < 0 && p->lo < p->hi)) {
		t = p->lo;
		p->lo = p->hi;
		p->hi = t;
	}
	return true;
}

/* RETURN (MIN MAX ALL COUNT SAVE CONTEXT UPDATE PARTIAL lo:hi);
 * RETURN () means ALL (RFC 4731).  CONTEXT is a hint (RFC 5267 4.2). */
bool
ip_return_opts(struct pstate *ps, bool *esearch, unsigned *ret,
    struct search_partial *partial)
{
	static const struct { const char *name; unsigned bit; } opts[] = {
		{ "MIN", SEARCH_RET_MIN }, { "MAX", SEARCH_RET_MAX },
		{ "ALL", SEARCH_RET_ALL }, { "COUNT", SEARCH_RET_COUNT },
		{ "SAVE", SEARCH_RET_SAVE }, { "CONTEXT", 0 },
		{ "UPDATE", SEARCH_RET_UPDATE },
		{ "PARTIAL", SEARCH_RET_PARTIAL },
	};
	const char *s;
	size_t n, i;

	*esearch = true;
	if (!ip_sp(ps, "RETURN", "return options") ||
	    !ip_expect(ps, '(', "Expected '(' after RETURN"))
		return false;
	if (ip_accept(ps, ')')) {
		*ret = SEARCH_RET_ALL;
		return true;
	}
	for (;;) {
		if (!ip_atom(ps, &s, &n, "SEARCH return option"))
			return false;
		for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
			if (ip_eq(s, n, opts[i].name))
				break;
		if (i == sizeof(opts) / sizeof(opts[0]))
			return ip_fail(ps, "Unknown SEARCH return option %.*s",
			    (int)IP_SHOW(n), s);
		if (*ret & opts[i].bit & (SEARCH_RET_UPDATE | SEARCH_RET_PARTIAL))
			return ip_fail(ps, "%s may be given only once",
			    opts[i].name);
		*ret |= opts[i].bit;
		if (opts[i].bit == SEARCH_RET_PARTIAL &&
		    !partial_range(ps, partial))
			return false;
		if (ip_accept(ps, ')'))
			break;
		if (!ip_sp(ps, "return option", "')'"))
			return false;
	}
	/* RFC 5267 4.4: one of PARTIAL or ALL at most */
	if ((*ret & SEARCH_RET_PARTIAL) && (*ret & SEARCH_RET_ALL))
		return ip_fail(ps, "PARTIAL and ALL cannot be used together");
	/* RETURN (CONTEXT) asks for nothing else: ALL, as RETURN () */
	if (*ret == 0)
		*ret = SEARCH_RET_ALL;
	return true;
}

bool
ip_search_criteria(struct pstate *ps, struct search_key **out)
{
	if ((*out = new_key(ps, SK_AND)) == NULL)
		return false;
	return key_list(ps, 0, *out, '\0');
}

bool
ip_parse_search(struct pstate *ps)
{
	struct search_args *sa = &ps->cmd->u.search;

	if (!ip_sp(ps, "SEARCH", "search key"))
		return false;
	if (ip_keyword(ps, "RETURN") &&
	    (!ip_return_opts(ps, &sa->esearch, &sa->ret, &sa->partial) ||
	    !ip_sp(ps, "return options", "search key")))
		return false;
	if (ip_keyword(ps, "CHARSET") &&
	    (!ip_sp(ps, "CHARSET", "charset name") ||
	    !ip_astring(ps, &sa->charset, "charset name") ||
	    !ip_sp(ps, "charset name", "search key")))
		return false;
	return ip_search_criteria(ps, &sa->key);
}

/* CANCELUPDATE 1*(SP quoted) (RFC 5267 4.3.5): the tags of searching
 * commands whose updates should stop. */
bool
ip_parse_cancelupdate(struct pstate *ps)
{
	const char *tag;
	size_t cap = 0;

	do {
		if (!ip_sp(ps, "CANCELUPDATE", "quoted tag"))
			return false;
		if (ip_peek(ps) != '"')
			return ip_fail(ps, "CANCELUPDATE takes quoted tags");
		if (!ip_string(ps, &tag, "tag") ||
		    !ip_push_str(ps, &ps->cmd->u.cancelupdate.tags,
		    &ps->cmd->u.cancelupdate.ntags, &cap, tag, IP_MAX_CANCEL,
		    "tags"))
			return false;
	} while (!ip_eof(ps));
	return true;
}
