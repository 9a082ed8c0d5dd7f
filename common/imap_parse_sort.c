/*
 * imap_parse_sort.c - the SORT and THREAD grammar (RFC 5256 section 5,
 * with the DISPLAYFROM and DISPLAYTO keys of RFC 5957 and the RETURN
 * options of ESORT, RFC 5267 section 3), for imap_parse().  The search criteria after the charset are the SEARCH
 * grammar's (imap_parse_search.c), so every SEARCH key works here too.
 */
#include "common/imap_parse_int.h"

static const struct {
	const char          *name;
	enum sort_crit_type  type;
} sort_keys[] = {
	{ "ARRIVAL", SORT_ARRIVAL }, { "CC", SORT_CC }, { "DATE", SORT_DATE },
	{ "DISPLAYFROM", SORT_DISPLAYFROM }, { "DISPLAYTO", SORT_DISPLAYTO },
	{ "FROM", SORT_FROM }, { "SIZE", SORT_SIZE },
	{ "SUBJECT", SORT_SUBJECT }, { "TO", SORT_TO },
};

/* sort-criterion = ["REVERSE" SP] sort-key */
static bool
criterion(struct pstate *ps, struct sort_crit *c)
{
	const char *s;
	size_t n, i;

	if (!ip_atom(ps, &s, &n, "sort key"))
		return false;
	if (ip_eq(s, n, "REVERSE")) {
		c->reverse = true;
		if (!ip_sp(ps, "REVERSE", "sort key") ||
		    !ip_atom(ps, &s, &n, "sort key"))
			return false;
	}
	for (i = 0; i < sizeof(sort_keys) / sizeof(sort_keys[0]); i++)
		if (ip_eq(s, n, sort_keys[i].name)) {
			c->type = sort_keys[i].type;
			return true;
		}
	return ip_fail(ps, "Unknown sort key %.*s", (int)IP_SHOW(n), s);
}

/* sort-criteria = "(" sort-criterion *(SP sort-criterion) ")" */
static bool
criteria(struct pstate *ps, struct sort_args *sa)
{
	if (!ip_expect(ps, '(', "Expected '(' before the sort criteria"))
		return false;
	for (;;) {
		if (sa->ncrit == SORT_MAX_CRIT)
			return ip_fail(ps, "Too many sort criteria (at most %d)",
			    SORT_MAX_CRIT);
		if (!criterion(ps, &sa->crit[sa->ncrit++]))
			return false;
		if (ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "sort criterion", "')'"))
			return false;
	}
}

/* charset 1*(SP search-key); the charset is mandatory here. */
static bool
search_criteria(struct pstate *ps, struct sort_args *sa)
{
	return ip_astring(ps, &sa->charset, "charset name") &&
	    ip_sp(ps, "charset name", "search key") &&
	    ip_search_criteria(ps, &sa->key);
}

bool
ip_parse_sort(struct pstate *ps)
{
	struct sort_args *sa = &ps->cmd->u.sort;

	if (!ip_sp(ps, "SORT", "sort criteria"))
		return false;
	/* ESORT (RFC 5267 3): the return options of ESEARCH */
	if (ip_keyword(ps, "RETURN") &&
	    (!ip_return_opts(ps, &sa->esearch, &sa->ret, &sa->partial) ||
	    !ip_sp(ps, "return options", "sort criteria")))
		return false;
	return criteria(ps, sa) && ip_sp(ps, "sort criteria", "charset") &&
	    search_criteria(ps, sa);
}

bool
ip_parse_thread(struct pstate *ps)
{
	struct sort_args *sa = &ps->cmd->u.sort;
	const char *s;
	size_t n;

	if (!ip_sp(ps, "THREAD", "threading algorithm") ||
	    !ip_atom(ps, &s, &n, "threading algorithm"))
		return false;
	if (ip_eq(s, n, "ORDEREDSUBJECT"))
		sa->alg = THREAD_ORDEREDSUBJECT;
	else if (ip_eq(s, n, "REFERENCES"))
		sa->alg = THREAD_REFERENCES;
	else
		return ip_fail(ps, "Unknown threading algorithm %.*s",
		    (int)IP_SHOW(n), s);
	return ip_sp(ps, "threading algorithm", "charset") &&
	    search_criteria(ps, sa);
}
