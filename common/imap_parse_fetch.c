/*
 * imap_parse_fetch.c - the FETCH and STORE grammars (RFC 3501 6.4.5,
 * 6.4.6; RFC 3516 BINARY; RFC 7162 CHANGEDSINCE, VANISHED,
 * UNCHANGEDSINCE), for imap_parse().
 *
 * FETCH macros (ALL, FAST, FULL) are expanded here, so the mailbox
 * process only ever sees individual attributes, each with its section
 * already split into part numbers, a section-text kind and header names.
 */
#include "common/imap_parse_int.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char     *name;
	enum fetch_item item;
} simple_atts[] = {
	{ "FLAGS", FI_FLAGS }, { "UID", FI_UID },
	{ "INTERNALDATE", FI_INTERNALDATE }, { "RFC822.SIZE", FI_RFC822_SIZE },
	{ "ENVELOPE", FI_ENVELOPE }, { "BODY", FI_BODY },
	{ "BODYSTRUCTURE", FI_BODYSTRUCTURE }, { "RFC822", FI_RFC822 },
	{ "RFC822.HEADER", FI_RFC822_HEADER }, { "RFC822.TEXT", FI_RFC822_TEXT },
	{ "MODSEQ", FI_MODSEQ },
	{ "EMAILID", FI_EMAILID }, { "THREADID", FI_THREADID },
	{ "SAVEDATE", FI_SAVEDATE }, { "PREVIEW", FI_PREVIEW },
};

static bool
name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* header-list: "(" header-fld-name *(SP header-fld-name) ")" */
static bool
header_list(struct pstate *ps, struct fetch_section *sec)
{
	size_t cap = 0;
	const char *f;

	if (!ip_sp(ps, "HEADER.FIELDS", "header field names") ||
	    !ip_expect(ps, '(', "Expected '(' before header field names"))
		return false;
	for (;;) {
		if (!ip_astring(ps, &f, "header field name") ||
		    !ip_push_str(ps, &sec->fields, &sec->nfields, &cap, f,
		    IP_MAX_HEADER_FIELDS, "header field names"))
			return false;
		if (ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "header field name", "')'"))
			return false;
	}
}

/* section-part: nz-number *("." nz-number); stops before ".TEXT" etc. */
static bool
section_part(struct pstate *ps, struct fetch_section *sec)
{
	uint32_t parts[MK_MAX_PART_DEPTH];
	size_t n = 0;

	for (;;) {
		if (n == MK_MAX_PART_DEPTH)
			return ip_fail(ps, "Section part numbers nested too deep");
		if (!ip_nz_number(ps, &parts[n++], "section part number"))
			return false;
		if (ps->p + 1 >= ps->end || ps->p[0] != '.' ||
		    ps->p[1] < '0' || ps->p[1] > '9')
			break;
		ps->p++;
	}
	if ((sec->part = ip_alloc(ps, n * sizeof(*parts))) == NULL)
		return false;
	memcpy(sec->part, parts, n * sizeof(*parts));
	sec->npart = n;
	return true;
}

/* section-msgtext, or after part numbers section-text (adds MIME). */
static bool
section_text(struct pstate *ps, struct fetch_section *sec)
{
	const char *s = ps->p;
	size_t n = 0;

	while (s + n < ps->end && name_char(s[n]))
		n++;
	ps->p += n;
	if (ip_eq(s, n, "HEADER"))
		sec->spec = SEC_HEADER;
	else if (ip_eq(s, n, "TEXT"))
		sec->spec = SEC_TEXT;
	else if (ip_eq(s, n, "MIME") && sec->npart > 0)
		sec->spec = SEC_MIME;
	else if (ip_eq(s, n, "HEADER.FIELDS")) {
		sec->spec = SEC_HEADER_FIELDS;
		return header_list(ps, sec);
	} else if (ip_eq(s, n, "HEADER.FIELDS.NOT")) {
		sec->spec = SEC_HEADER_FIELDS_NOT;
		return header_list(ps, sec);
	} else
		return ip_fail(ps, "Invalid section %.*s", (int)IP_SHOW(n), s);
	return true;
}

static bool
section(struct pstate *ps, struct fetch_section *sec, bool binary)
{
	ps->p++;	/* '[' */
	sec->spec = SEC_WHOLE;
	if (ip_accept(ps, ']'))
		return true;
	if (ip_peek(ps) >= '0' && ip_peek(ps) <= '9') {
		if (!section_part(ps, sec))
			return false;
		if (!binary && ip_accept(ps, '.') && !section_text(ps, sec))
			return false;
	} else if (binary)
		return ip_fail(ps, "Invalid BINARY section");
	else if (!section_text(ps, sec))
		return false;
	return ip_expect(ps, ']', "Expected ']' after section");
}

/* "<" number "." nz-number ">" */
static bool
partial(struct pstate *ps, struct fetch_att *att)
{
	ps->p++;	/* '<' */
	if (!ip_number(ps, &att->offset, "partial offset") ||
	    !ip_expect(ps, '.', "Expected '.' in partial range") ||
	    !ip_nz_number(ps, &att->count, "partial length") ||
	    !ip_expect(ps, '>', "Expected '>' after partial range"))
		return false;
	att->partial = true;
	return true;
}

/* BODY[..], BODY.PEEK[..], BINARY[..], BINARY.PEEK[..], BINARY.SIZE[..] */
static bool
section_att(struct pstate *ps, const char *s, size_t n, struct fetch_att *att)
{
	bool binary;

	if (ip_eq(s, n, "BODY") || ip_eq(s, n, "BODY.PEEK")) {
		att->item = FI_BODY_SECTION;
		att->peek = n > 4;
		binary = false;
	} else if (ip_eq(s, n, "BINARY") || ip_eq(s, n, "BINARY.PEEK")) {
		att->item = FI_BINARY;
		att->peek = n > 6;
		binary = true;
	} else if (ip_eq(s, n, "BINARY.SIZE")) {
		att->item = FI_BINARY_SIZE;
		binary = true;
	} else
		return ip_fail(ps, "Unknown FETCH attribute %.*s",
		    (int)IP_SHOW(n), s);
	if (!section(ps, &att->sec, binary))
		return false;
	if (ip_peek(ps) == '<' && att->item != FI_BINARY_SIZE)
		return partial(ps, att);
	return true;
}

/* PREVIEW [SP "(" preview-mod *(SP preview-mod) ")"] (RFC 8970 6);
 * the only modifier is LAZY.  A "(" that does not start with a
 * modifier is left alone: it may open FETCH modifiers after a lone
 * PREVIEW. */
static bool
preview_modifiers(struct pstate *ps, struct fetch_att *att)
{
	const char *s;
	size_t n;

	if (ps->end - ps->p < 3 || ps->p[0] != ' ' || ps->p[1] != '(' ||
	    ps->p[2] == ')' || ps->end - ps->p < 6 ||
	    strncasecmp(ps->p + 2, "LAZY", 4) != 0)
		return true;
	ps->p += 2;
	for (;;) {
		if (!ip_atom(ps, &s, &n, "PREVIEW modifier"))
			return false;
		if (!ip_eq(s, n, "LAZY"))
			return ip_fail(ps, "Unknown PREVIEW modifier %.*s",
			    (int)IP_SHOW(n), s);
		if (att->lazy)
			return ip_fail(ps, "Duplicate PREVIEW modifier LAZY");
		att->lazy = true;
		if (ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "PREVIEW modifier", "')'"))
			return false;
	}
}

static bool
fetch_att(struct pstate *ps, struct fetch_att **out)
{
	const char *s = ps->p;
	struct fetch_att *att;
	size_t n = 0, i;

	while (s + n < ps->end && name_char(s[n]))
		n++;
	if (n == 0)
		return ip_fail(ps, "%s FETCH attribute",
		    ip_eof(ps) ? "Missing" : "Invalid");
	ps->p += n;
	if ((att = ip_alloc(ps, sizeof(*att))) == NULL)
		return false;
	*out = att;
	if (ip_peek(ps) == '[')
		return section_att(ps, s, n, att);
	for (i = 0; i < sizeof(simple_atts) / sizeof(simple_atts[0]); i++)
		if (ip_eq(s, n, simple_atts[i].name)) {
			att->item = simple_atts[i].item;
			return att->item != FI_PREVIEW ||
			    preview_modifiers(ps, att);
		}
	if (ip_eq(s, n, "BODY.PEEK") || ip_eq(s, n, "BINARY") ||
	    ip_eq(s, n, "BINARY.PEEK") || ip_eq(s, n, "BINARY.SIZE"))
		return ip_fail(ps, "Expected section after %.*s", (int)n, s);
	return ip_fail(ps, "Unknown FETCH attribute %.*s", (int)IP_SHOW(n), s);
}

static bool
add_simple(struct pstate *ps, struct fetch_att ***tail, enum fetch_item item)
{
	struct fetch_att *att = ip_alloc(ps, sizeof(*att));

	if (att == NULL)
		return false;
	att->item = item;
	**tail = att;
	*tail = &att->next;
	return true;
}

/* ALL, FAST and FULL (RFC 3501 6.4.5); false if s is none of them. */
static bool
macro(struct pstate *ps, struct fetch_att ***tail, bool *ok)
{
	static const enum fetch_item fast[] =
	    { FI_FLAGS, FI_INTERNALDATE, FI_RFC822_SIZE, FI_ENVELOPE, FI_BODY };
	size_t n, i;

	if (ip_keyword(ps, "FAST"))
		n = 3;
	else if (ip_keyword(ps, "ALL"))
		n = 4;
	else if (ip_keyword(ps, "FULL"))
		n = 5;
	else
		return false;
	*ok = true;
	for (i = 0; i < n && *ok; i++)
		*ok = add_simple(ps, tail, fast[i]);
	return true;
}

static bool
fetch_atts(struct pstate *ps, struct fetch_args *fa)
{
	struct fetch_att **tail = &fa->atts;
	size_t n = 0;
	bool ok;

	if (macro(ps, &tail, &ok))
		return ok;
	if (!ip_accept(ps, '('))
		return fetch_att(ps, tail);
	for (;;) {
		if (n++ == IP_MAX_FETCH_ATTS)
			return ip_fail(ps, "Too many FETCH attributes");
		if (!fetch_att(ps, tail))
			return false;
		tail = &(*tail)->next;
		if (ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "FETCH attribute", "')' after FETCH attributes"))
			return false;
	}
}

bool
ip_fetch_att_list(struct pstate *ps, struct fetch_att **atts)
{
	struct fetch_args fa = { .atts = NULL };

	if (ip_peek(ps) != '(')
		return ip_fail(ps, "Expected '(' before FETCH attributes");
	if (!fetch_atts(ps, &fa))
		return false;
	*atts = fa.atts;
	return true;
}

/* "(" fetch-modifier *(SP fetch-modifier) ")" of RFC 7162. */
static bool
fetch_modifiers(struct pstate *ps, struct fetch_args *fa)
{
	const char *s;
	size_t n;

	if (!ip_expect(ps, '(', "Expected '(' before FETCH modifiers"))
		return false;
	for (;;) {
		if (!ip_atom(ps, &s, &n, "FETCH modifier"))
			return false;
		if (ip_eq(s, n, "CHANGEDSINCE") && !fa->changedsince_set) {
			if (!ip_sp(ps, "CHANGEDSINCE", "mod-sequence") ||
			    !ip_number64(ps, IP_MODSEQ_MAX, &fa->changedsince,
			    "mod-sequence"))
				return false;
			fa->changedsince_set = true;
		} else if (ip_eq(s, n, "VANISHED") && !fa->vanished)
			fa->vanished = true;
		else if (ip_eq(s, n, "CHANGEDSINCE") || ip_eq(s, n, "VANISHED"))
			return ip_fail(ps, "Duplicate FETCH modifier %.*s",
			    (int)n, s);
		else
			return ip_fail(ps, "Unknown FETCH modifier %.*s",
			    (int)IP_SHOW(n), s);
		if (ip_accept(ps, ')'))
			break;
		if (!ip_sp(ps, "FETCH modifier", "')'"))
			return false;
	}
	/* RFC 7162 3.2.6: VANISHED only in UID FETCH, with CHANGEDSINCE. */
	if (fa->vanished && !ps->cmd->uid)
		return ip_fail(ps, "VANISHED requires UID FETCH");
	if (fa->vanished && !fa->changedsince_set)
		return ip_fail(ps, "VANISHED requires CHANGEDSINCE");
	return true;
}

bool
ip_parse_fetch(struct pstate *ps)
{
	struct fetch_args *fa = &ps->cmd->u.fetch;

	if (!ip_sp(ps, "FETCH", "sequence set") || !ip_seqset(ps, &fa->set) ||
	    !ip_sp(ps, "sequence set", "FETCH attributes") ||
	    !fetch_atts(ps, fa))
		return false;
	if (ip_eof(ps))
		return true;
	return ip_sp(ps, "FETCH attributes", "FETCH modifiers") &&
	    fetch_modifiers(ps, fa);
}

/* ---- STORE ---- */

static bool
store_modifiers(struct pstate *ps, struct store_args *sa)
{
	const char *s;
	size_t n;

	ps->p++;	/* '(' */
	for (;;) {
		if (!ip_atom(ps, &s, &n, "STORE modifier"))
			return false;
		if (!ip_eq(s, n, "UNCHANGEDSINCE"))
			return ip_fail(ps, "Unknown STORE modifier %.*s",
			    (int)IP_SHOW(n), s);
		if (sa->unchangedsince_set)
			return ip_fail(ps, "Duplicate STORE modifier UNCHANGEDSINCE");
		if (!ip_sp(ps, "UNCHANGEDSINCE", "mod-sequence") ||
		    !ip_number64(ps, IP_MODSEQ_MAX, &sa->unchangedsince,
		    "mod-sequence"))
			return false;
		sa->unchangedsince_set = true;
		if (ip_accept(ps, ')'))
			return ip_sp(ps, "STORE modifiers", "STORE data item");
		if (!ip_sp(ps, "STORE modifier", "')'"))
			return false;
	}
}

/* ["+" / "-"] "FLAGS" [".SILENT"] */
static bool
store_item(struct pstate *ps, struct store_args *sa)
{
	const char *s;
	size_t n;

	if (!ip_atom(ps, &s, &n, "STORE data item"))
		return false;
	sa->op = STORE_REPLACE;
	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		sa->op = s[0] == '+' ? STORE_ADD : STORE_REMOVE;
		s++;
		n--;
	}
	if (ip_eq(s, n, "FLAGS.SILENT"))
		sa->silent = true;
	else if (!ip_eq(s, n, "FLAGS"))
		return ip_fail(ps, "Unknown STORE data item %.*s",
		    (int)IP_SHOW(n), s);
	return true;
}

bool
ip_parse_store(struct pstate *ps)
{
	struct store_args *sa = &ps->cmd->u.store;
	size_t cap = 0;
	const char *f;

	if (!ip_sp(ps, "STORE", "sequence set") || !ip_seqset(ps, &sa->set) ||
	    !ip_sp(ps, "sequence set", "STORE data item"))
		return false;
	if (ip_peek(ps) == '(' && !store_modifiers(ps, sa))
		return false;
	if (!store_item(ps, sa) || !ip_sp(ps, "STORE data item", "flags"))
		return false;
	if (ip_peek(ps) == '(')
		return ip_flag_list(ps, &sa->flags, &sa->nflags);
	/* Bare flags without parentheses, as RFC 3501 allows. */
	for (;;) {
		if (!ip_flag(ps, &f) || !ip_push_str(ps, &sa->flags,
		    &sa->nflags, &cap, f, IP_MAX_FLAGS, "flags"))
			return false;
		if (!ip_accept(ps, ' '))
			return true;
	}
}

int
imap_parse_section(struct arena *a, const char *text,
    struct fetch_section *sec, const char **err)
{
	struct pstate ps;
	size_t n = strlen(text);
	char *buf = arena_alloc(a, n + 3);

	memset(sec, 0, sizeof(*sec));
	if (buf == NULL) {
		*err = "Out of memory";
		return -1;
	}
	buf[0] = '[';
	memcpy(buf + 1, text, n);
	buf[n + 1] = ']';
	memset(&ps, 0, sizeof(ps));
	ps.a = a;
	ps.p = ps.base = buf;
	ps.end = buf + n + 2;
	if (!section(&ps, sec, false) || !ip_eof(&ps)) {
		*err = ps.err != NULL ? ps.err : "Invalid section";
		return -1;
	}
	*err = NULL;
	return 0;
}
