/*
 * imap_parse_meta.c - GETMETADATA and SETMETADATA (RFC 5464 section 5):
 *
 *   getmetadata = "GETMETADATA" [SP "(" option *(SP option) ")"]
 *                 SP mailbox SP (entry / "(" entry *(SP entry) ")")
 *   option      = "MAXSIZE" SP number / "DEPTH" SP ("0" / "1" / "infinity")
 *   setmetadata = "SETMETADATA" SP mailbox SP
 *                 "(" entry SP value *(SP entry SP value) ")"
 *   value       = nstring / literal8
 *
 * Part of the parser (common/imap_parse.c holds the command table).
 */
#include "common/imap_parse_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* "/private" or "/shared" as the first component, case-insensitive. */
static size_t
scope_len(const char *s)
{
	if (strncasecmp(s, "/private", 8) == 0 && (s[8] == '/' || !s[8]))
		return 8;
	if (strncasecmp(s, "/shared", 7) == 0 && (s[7] == '/' || !s[7]))
		return 7;
	return 0;
}

/* An entry name (RFC 5464 3.2), lower-cased in place; root: the scope
 * alone is allowed (GETMETADATA). */
static bool
entry_name(struct pstate *ps, const char **out, bool root)
{
	char *s;
	size_t n;

	if (!ip_astring(ps, out, "entry name"))
		return false;
	s = (char *)*out;
	n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '*' || c == '%')
			return ip_fail(ps, "Invalid character in entry name");
		if (c == '/' && i + 1 < n && s[i + 1] == '/')
			return ip_fail(ps, "Entry name with \"//\"");
		s[i] = (char)tolower(c);
	}
	if (scope_len(s) == 0)
		return ip_fail(ps, "Entry name must begin with /private or "
		    "/shared");
	if (s[n - 1] == '/')
		return ip_fail(ps, "Entry name must not end with \"/\"");
	if (!root && s[scope_len(s)] == '\0')
		return ip_fail(ps, "Entry name needs a component after %s", s);
	return true;
}

static bool
push_entry(struct pstate *ps, const char *name, size_t *cap)
{
	struct getmetadata_args *g = &ps->cmd->u.getmeta;

	return ip_push_str(ps, &g->entries, &g->nentries, cap, name,
	    IP_MAX_META_ENTRIES, "entries");
}

/* entry / "(" entry *(SP entry) ")" */
static bool
get_entries(struct pstate *ps)
{
	const char *name;
	size_t cap = 0;
	bool list = ip_accept(ps, '(');

	for (;;) {
		if (!entry_name(ps, &name, true) || !push_entry(ps, name, &cap))
			return false;
		if (!list)
			return true;
		if (ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "entry name", "entry name or ')'"))
			return false;
	}
}

static bool
get_option(struct pstate *ps, bool *seen_max, bool *seen_depth)
{
	struct getmetadata_args *g = &ps->cmd->u.getmeta;

	if (ip_keyword(ps, "MAXSIZE")) {
		if (*seen_max)
			return ip_fail(ps, "MAXSIZE given twice");
		*seen_max = g->has_maxsize = true;
		return ip_sp(ps, "MAXSIZE", "size") &&
		    ip_number(ps, &g->maxsize, "MAXSIZE value");
	}
	if (!ip_keyword(ps, "DEPTH"))
		return ip_fail(ps, "Unknown GETMETADATA option; MAXSIZE and "
		    "DEPTH are known");
	if (*seen_depth)
		return ip_fail(ps, "DEPTH given twice");
	*seen_depth = true;
	if (!ip_sp(ps, "DEPTH", "depth"))
		return false;
	if (ip_keyword(ps, "0"))
		g->depth = 0;
	else if (ip_keyword(ps, "1"))
		g->depth = 1;
	else if (ip_keyword(ps, "infinity"))
		g->depth = META_DEPTH_INFINITY;
	else
		return ip_fail(ps, "DEPTH must be 0, 1 or infinity");
	return true;
}

/* "(" option *(SP option) ")" if that is what comes next: before the
 * mailbox any "(" is (no mailbox name starts with one); after it, a
 * list that starts with an option name rather than an entry. */
static bool
get_options(struct pstate *ps, bool first, bool *seen_max, bool *seen_depth)
{
	const char *p = ps->p + 1;
	size_t left = (size_t)(ps->end - ps->p);

	if (ip_peek(ps) != '(' || (!first && (left < 6 ||
	    (strncasecmp(p, "MAXSIZE", 7) != 0 &&
	    strncasecmp(p, "DEPTH", 5) != 0))))
		return true;
	ps->p++;
	do {
		if (!get_option(ps, seen_max, seen_depth))
			return false;
	} while (ip_accept(ps, ' '));
	return ip_expect(ps, ')', "Expected ')' after the options") &&
	    ip_sp(ps, "options", "entry names");
}

/* The options come before the mailbox in the grammar (RFC 5464 5) and
 * after it in the RFC's own examples (4.2.1, 4.2.2); clients follow
 * either, so both are taken. */
bool
ip_parse_getmetadata(struct pstate *ps)
{
	bool seen_max = false, seen_depth = false;

	return ip_sp(ps, "GETMETADATA", "mailbox name") &&
	    get_options(ps, true, &seen_max, &seen_depth) &&
	    ip_mailbox(ps, &ps->cmd->u.getmeta.mailbox) &&
	    ip_sp(ps, "mailbox name", "entry names") &&
	    get_options(ps, false, &seen_max, &seen_depth) && get_entries(ps);
}

/* value = nstring / literal8; a literal's bytes stay in the buffer. */
static bool
set_value(struct pstate *ps, struct meta_entry *e)
{
	bool binary;

	if (ip_keyword(ps, "NIL"))
		return true;
	if (ip_peek(ps) == '"') {
		if (!ip_string(ps, &e->value, "value"))
			return false;
		e->len = strlen(e->value);
		return true;
	}
	if (!ip_literal(ps, &e->value, &e->len, &binary, true, "value"))
		return false;
	if (e->value == NULL)
		return ip_fail(ps, "value too long");
	return true;
}

bool
ip_parse_setmetadata(struct pstate *ps)
{
	struct setmetadata_args *s = &ps->cmd->u.setmeta;
	struct meta_entry e[IP_MAX_META_ENTRIES];
	size_t n = 0;

	if (!ip_sp(ps, "SETMETADATA", "mailbox name") ||
	    !ip_mailbox(ps, &s->mailbox) ||
	    !ip_sp(ps, "mailbox name", "entry list") ||
	    !ip_expect(ps, '(', "Expected '(' before the entries"))
		return false;
	for (;;) {
		if (n == IP_MAX_META_ENTRIES)
			return ip_fail(ps, "Too many entries");
		memset(&e[n], 0, sizeof(e[n]));
		if (!entry_name(ps, &e[n].name, false) ||
		    !ip_sp(ps, "entry name", "value") || !set_value(ps, &e[n]))
			return false;
		n++;
		if (ip_accept(ps, ')'))
			break;
		if (!ip_sp(ps, "value", "entry name or ')'"))
			return false;
	}
	if ((s->entries = ip_alloc(ps, n * sizeof(*e))) == NULL)
		return false;
	memcpy(s->entries, e, n * sizeof(*e));
	s->nentries = n;
	return true;
}
