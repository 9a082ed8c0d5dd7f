/*
 * imap_parse.c - IMAP command parser: lexical primitives, the command
 * table, and the grammar of every command but FETCH, STORE and SEARCH
 * (imap_parse_fetch.c, imap_parse_search.c).
 *
 * imap_parse() reads one command as the framer assembled it (literals
 * inline, see imap_frame.c) into a struct imap_cmd allocated in the
 * command's arena.  It is called by the login process and the mailbox
 * process; it checks syntax only (RFC 3501 section 9, RFC 9051 section 9
 * and the extension grammars of the capabilities Mailkeep offers).
 * Everything a client controls is bounded (see imap_parse_int.h).
 */
#include "common/imap_parse_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- errors and memory ---- */

bool
ip_fail(struct pstate *ps, const char *fmt, ...)
{
	char tmp[160];
	va_list ap;

	if (ps->err != NULL)
		return false;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if ((ps->err = arena_strdup(ps->a, tmp)) == NULL)
		ps->err = "Command too complex";
	return false;
}

bool
ip_oom(struct pstate *ps)
{
	if (ps->err == NULL)
		ps->err = "Command too complex";
	return false;
}

void *
ip_alloc(struct pstate *ps, size_t n)
{
	void *p = arena_alloc(ps->a, n);

	if (p == NULL)
		ip_oom(ps);
	return p;
}

/* ---- character classes ---- */

bool
ip_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

bool
ip_astring_char(unsigned char c)
{
	return c == ']' || ip_atom_char(c);
}

bool
ip_list_char(unsigned char c)
{
	return c == '%' || c == '*' || ip_astring_char(c);
}

static bool
tag_char(unsigned char c)
{
	return c != '+' && ip_astring_char(c);
}

/* ---- punctuation ---- */

bool
ip_accept(struct pstate *ps, char c)
{
	if (ps->p < ps->end && *ps->p == c) {
		ps->p++;
		return true;
	}
	return false;
}

bool
ip_sp(struct pstate *ps, const char *prev, const char *next)
{
	if (ip_eof(ps))
		return ip_fail(ps, "Missing %s", next);
	if (*ps->p != ' ')
		return ip_fail(ps, "Expected SP after %s", prev);
	ps->p++;
	return true;
}

bool
ip_expect(struct pstate *ps, char c, const char *msg)
{
	if (ip_accept(ps, c))
		return true;
	return ip_fail(ps, "%s", msg);
}

bool
ip_end(struct pstate *ps)
{
	if (ip_eof(ps))
		return true;
	if (*ps->p == ' ')
		return ip_fail(ps, "Unexpected extra arguments");
	return ip_fail(ps, "Unexpected character after argument");
}

/* ---- atoms and keywords ---- */

static size_t
run_len(const struct pstate *ps, bool (*cls)(unsigned char))
{
	const char *p = ps->p;

	while (p < ps->end && cls((unsigned char)*p))
		p++;
	return (size_t)(p - ps->p);
}

bool
ip_atom(struct pstate *ps, const char **s, size_t *n, const char *what)
{
	size_t len = run_len(ps, ip_atom_char);

	if (len == 0)
		return ip_fail(ps, "%s %s", ip_eof(ps) ? "Missing" : "Invalid",
		    what);
	*s = ps->p;
	*n = len;
	ps->p += len;
	return true;
}

bool
ip_eq(const char *s, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(s, kw, n) == 0;
}

bool
ip_next_is(const struct pstate *ps, const char *kw)
{
	return ip_eq(ps->p, run_len(ps, ip_atom_char), kw);
}

bool
ip_keyword(struct pstate *ps, const char *kw)
{
	if (!ip_next_is(ps, kw))
		return false;
	ps->p += strlen(kw);
	return true;
}

/* ---- numbers ---- */

bool
ip_number64(struct pstate *ps, uint64_t max, uint64_t *v, const char *what)
{
	const char *p = ps->p;
	uint64_t x = 0;

	if (p >= ps->end || *p < '0' || *p > '9')
		return ip_fail(ps, "%s %s", ip_eof(ps) ? "Missing" : "Invalid",
		    what);
	for (; p < ps->end && *p >= '0' && *p <= '9'; p++) {
		uint64_t d = (uint64_t)(*p - '0');
		if (x > (max - d) / 10)
			return ip_fail(ps, "%s out of range", what);
		x = x * 10 + d;
	}
	ps->p = p;
	*v = x;
	return true;
}

bool
ip_number(struct pstate *ps, uint32_t *v, const char *what)
{
	uint64_t x;

	if (!ip_number64(ps, UINT32_MAX, &x, what))
		return false;
	*v = (uint32_t)x;
	return true;
}

bool
ip_nz_number(struct pstate *ps, uint32_t *v, const char *what)
{
	const char *start = ps->p;

	if (!ip_number(ps, v, what))
		return false;
	if (*v == 0) {
		ps->p = start;
		return ip_fail(ps, "Invalid %s: 0", what);
	}
	return true;
}

/* ---- strings ---- */

static bool
quoted(struct pstate *ps, const char **out, const char *what)
{
	const char *p = ps->p + 1, *q;
	size_t n = 0;
	char *s;

	for (;; p++, n++) {
		if (p >= ps->end)
			return ip_fail(ps, "Unterminated quoted %s", what);
		if (*p == '"')
			break;
		if (*p == '\\') {
			if (++p >= ps->end)
				return ip_fail(ps, "Unterminated quoted %s", what);
			if (*p != '\\' && *p != '"')
				return ip_fail(ps, "Invalid escape in quoted %s",
				    what);
		} else if (*p == '\0')
			return ip_fail(ps, "NUL in %s", what);
		else if (*p == '\r' || *p == '\n')
			return ip_fail(ps, "CR or LF in quoted %s", what);
	}
	if ((s = ip_alloc(ps, n + 1)) == NULL)
		return false;
	for (q = ps->p + 1, n = 0; q < p; q++) {
		if (*q == '\\')
			q++;
		s[n++] = *q;
	}
	s[n] = '\0';
	ps->p = p + 1;
	*out = s;
	return true;
}

bool
ip_literal(struct pstate *ps, const char **data, size_t *len, bool *binary,
    bool allow8, const char *what)
{
	const char *p = ps->p;
	size_t n = 0;
	bool b = false;

	if (p < ps->end && *p == '~') {
		if (!allow8)
			return ip_fail(ps, "literal8 not allowed for %s", what);
		b = true;
		p++;
	}
	if (p >= ps->end || *p != '{')
		return ip_fail(ps, "%s %s", ip_eof(ps) ? "Missing" : "Invalid",
		    what);
	if (++p >= ps->end || *p < '0' || *p > '9')
		return ip_fail(ps, "Invalid literal");
	for (; p < ps->end && *p >= '0' && *p <= '9'; p++) {
		size_t d = (size_t)(*p - '0');
		if (n > (SIZE_MAX - d) / 10)
			return ip_fail(ps, "Literal too large");
		n = n * 10 + d;
	}
	if (p < ps->end && *p == '+')
		p++;
	if (p >= ps->end || *p != '}')
		return ip_fail(ps, "Invalid literal");
	p++;
	if (p < ps->end && *p == '\r')
		p++;
	if (p >= ps->end || *p != '\n')
		return ip_fail(ps, "Expected CRLF after literal");
	p++;
	if (binary != NULL)
		*binary = b;
	ps->lit_spooled = NULL;
	if (ps->nextsp < ps->nsp &&
	    ps->sp[ps->nextsp].at == (size_t)(p - ps->base)) {
		/* The bytes are in the framer's spool file, not here. */
		ps->lit_spooled = &ps->sp[ps->nextsp++];
		if (ps->lit_spooled->len != n)
			return ip_fail(ps, "Invalid literal");
		*data = NULL;
		*len = n;
		ps->p = p;
		return true;
	}
	if (n > (size_t)(ps->end - p))
		return ip_fail(ps, "Literal data missing");
	*data = p;
	*len = n;
	ps->p = p + n;
	return true;
}

static bool
literal_string(struct pstate *ps, const char **out, const char *what)
{
	const char *data;
	size_t len;

	if (!ip_literal(ps, &data, &len, NULL, false, what))
		return false;
	if (data == NULL)
		return ip_fail(ps, "%s too long", what);
	if (memchr(data, '\0', len) != NULL)
		return ip_fail(ps, "NUL in %s", what);
	if ((*out = arena_strndup(ps->a, data, len)) == NULL)
		return ip_oom(ps);
	return true;
}

bool
ip_string(struct pstate *ps, const char **out, const char *what)
{
	switch (ip_peek(ps)) {
	case '"':
		return quoted(ps, out, what);
	case '{':
	case '~':
		return literal_string(ps, out, what);
	default:
		return ip_fail(ps, "%s %s", ip_eof(ps) ? "Missing" : "Invalid",
		    what);
	}
}

static bool
string_or_run(struct pstate *ps, const char **out, const char *what,
    bool (*cls)(unsigned char))
{
	size_t n = run_len(ps, cls);

	/* "~" is an atom, but "~{" is a literal8 where none may be. */
	if (n == 0 || (n == 1 && *ps->p == '~' && ps->p + 1 < ps->end &&
	    ps->p[1] == '{'))
		return ip_string(ps, out, what);
	if ((*out = arena_strndup(ps->a, ps->p, n)) == NULL)
		return ip_oom(ps);
	ps->p += n;
	return true;
}

bool
ip_astring(struct pstate *ps, const char **out, const char *what)
{
	return string_or_run(ps, out, what, ip_astring_char);
}

bool
ip_nstring(struct pstate *ps, const char **out, const char *what)
{
	if (ip_keyword(ps, "NIL")) {
		*out = NULL;
		return true;
	}
	return ip_string(ps, out, what);
}

/* "INBOX" in any case names the inbox (RFC 3501 5.1). */
bool
ip_mailbox(struct pstate *ps, const char **out)
{
	if (!ip_astring(ps, out, "mailbox name"))
		return false;
	if (strcasecmp(*out, "INBOX") == 0)
		*out = "INBOX";
	return true;
}

bool
ip_list_mailbox(struct pstate *ps, const char **out)
{
	return string_or_run(ps, out, "mailbox pattern", ip_list_char);
}

/* ---- composite tokens ---- */

bool
ip_seqset(struct pstate *ps, struct seqset *out)
{
	const char *p = ps->p;

	while (p < ps->end && *p != ' ' && *p != '(' && *p != ')')
		p++;
	if (p == ps->p)
		return ip_fail(ps, "%s sequence set",
		    ip_eof(ps) ? "Missing" : "Invalid");
	if (seqset_parse(ps->a, ps->p, (size_t)(p - ps->p), out) == -1)
		return ip_fail(ps, "Invalid sequence set");
	ps->p = p;
	return true;
}

bool
ip_push_str(struct pstate *ps, const char ***arr, size_t *n, size_t *cap,
    const char *s, size_t max, const char *what)
{
	if (*n >= max)
		return ip_fail(ps, "Too many %s", what);
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		const char **na = arena_array(ps->a, ncap, sizeof(*na));

		if (na == NULL)
			return ip_oom(ps);
		if (*n > 0)
			memcpy(na, *arr, *n * sizeof(*na));
		*arr = na;
		*cap = ncap;
	}
	(*arr)[(*n)++] = s;
	return true;
}

bool
ip_flag(struct pstate *ps, const char **out)
{
	const char *start = ps->p;
	size_t n;

	ip_accept(ps, '\\');
	if (ip_peek(ps) == '*')
		return ip_fail(ps, "\\* is not a flag");
	n = run_len(ps, ip_atom_char);
	if (n == 0) {
		ps->p = start;
		return ip_fail(ps, "%s flag", ip_eof(ps) ? "Missing" : "Invalid");
	}
	ps->p += n;
	/* \Recent belongs to the server alone (RFC 3501 2.3.2). */
	if (ip_eq(start, (size_t)(ps->p - start), "\\Recent"))
		return ip_fail(ps, "\\Recent cannot be set");
	if ((*out = arena_strndup(ps->a, start, (size_t)(ps->p - start))) == NULL)
		return ip_oom(ps);
	return true;
}

bool
ip_flag_list(struct pstate *ps, const char ***flags, size_t *n)
{
	size_t cap = 0;
	const char *f;

	*flags = NULL;
	*n = 0;
	if (!ip_expect(ps, '(', "Expected flag list"))
		return false;
	if (ip_accept(ps, ')'))
		return true;
	for (;;) {
		if (!ip_flag(ps, &f) ||
		    !ip_push_str(ps, flags, n, &cap, f, IP_MAX_FLAGS, "flags"))
			return false;
		if (ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "flag", "')' after flags"))
			return false;
	}
}

/* The text of a date, bare or in quotes. */
static bool
date_text(struct pstate *ps, const char **s, size_t *n, bool need_quotes)
{
	const char *p = ps->p;

	if (p < ps->end && *p == '"') {
		const char *q = memchr(p + 1, '"', (size_t)(ps->end - p - 1));
		if (q == NULL)
			return ip_fail(ps, "Unterminated date");
		*s = p + 1;
		*n = (size_t)(q - p - 1);
		ps->p = q + 1;
		return true;
	}
	if (need_quotes)
		return ip_fail(ps, "%s date-time", ip_eof(ps) ? "Missing" :
		    "Invalid");
	while (p < ps->end && (*p == '-' || (*p >= '0' && *p <= '9') ||
	    (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
		p++;
	if (p == ps->p)
		return ip_fail(ps, "%s date", ip_eof(ps) ? "Missing" : "Invalid");
	*s = ps->p;
	*n = (size_t)(p - ps->p);
	ps->p = p;
	return true;
}

bool
ip_date(struct pstate *ps, int32_t *days)
{
	const char *s, *start = ps->p;
	size_t n;

	if (!date_text(ps, &s, &n, false))
		return false;
	if (imapdate_parse_date(s, n, days) == -1) {
		ps->p = start;
		return ip_fail(ps, "Invalid date");
	}
	return true;
}

bool
ip_datetime(struct pstate *ps, struct mk_time *t)
{
	const char *s, *start = ps->p;
	size_t n;

	if (!date_text(ps, &s, &n, true))
		return false;
	if (imapdate_parse_datetime(s, n, t) == -1) {
		ps->p = start;
		return ip_fail(ps, "Invalid date-time");
	}
	return true;
}

/* "(" item *(SP item) ")" of STATUS, also in LIST RETURN (STATUS ...). */
static bool
status_atts(struct pstate *ps, unsigned *mask)
{
	static const struct { const char *name; unsigned bit; } atts[] = {
		{ "MESSAGES", STATUS_MESSAGES }, { "RECENT", STATUS_RECENT },
		{ "UIDNEXT", STATUS_UIDNEXT }, { "UIDVALIDITY", STATUS_UIDVALIDITY },
		{ "UNSEEN", STATUS_UNSEEN }, { "HIGHESTMODSEQ", STATUS_HIGHESTMODSEQ },
		{ "SIZE", STATUS_SIZE }, { "DELETED", STATUS_DELETED },
		{ "DELETED-STORAGE", STATUS_DELETED_STORAGE },
		{ "APPENDLIMIT", STATUS_APPENDLIMIT },
		{ "MAILBOXID", STATUS_MAILBOXID },
	};
	const char *s;
	size_t n, i;

	*mask = 0;
	if (!ip_expect(ps, '(', "Expected '(' before status items"))
		return false;
	for (;;) {
		if (!ip_atom(ps, &s, &n, "status item"))
			return false;
		for (i = 0; i < sizeof(atts) / sizeof(atts[0]); i++)
			if (ip_eq(s, n, atts[i].name))
				break;
		if (i == sizeof(atts) / sizeof(atts[0]))
			return ip_fail(ps, "Unknown STATUS item %.*s",
			    (int)IP_SHOW(n), s);
		*mask |= atts[i].bit;
		if (ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "status item", "')' after status items"))
			return false;
	}
}

/* ---- commands ---- */

static bool
p_none(struct pstate *ps)
{
	(void)ps;
	return true;
}

static bool
p_id(struct pstate *ps)
{
	const char **kv = NULL, *k, *v;
	size_t n = 0, cap = 0;

	if (!ip_sp(ps, "ID", "ID parameter list"))
		return false;
	if (ip_keyword(ps, "NIL"))
		return true;
	if (!ip_expect(ps, '(', "Expected '(' or NIL after ID"))
		return false;
	/* An empty list is kv != NULL, nkv == 0. */
	if ((kv = ip_alloc(ps, sizeof(*kv))) == NULL)
		return false;
	if (!ip_accept(ps, ')')) {
		for (;;) {
			if (n / 2 >= IP_MAX_ID_PAIRS)
				return ip_fail(ps, "Too many ID fields");
			if (!ip_string(ps, &k, "ID field name") ||
			    !ip_sp(ps, "ID field name", "ID field value") ||
			    !ip_nstring(ps, &v, "ID field value") ||
			    !ip_push_str(ps, &kv, &n, &cap, k, SIZE_MAX, "") ||
			    !ip_push_str(ps, &kv, &n, &cap, v, SIZE_MAX, ""))
				return false;
			if (ip_accept(ps, ')'))
				break;
			if (!ip_sp(ps, "ID field value", "')' after ID fields"))
				return false;
		}
	}
	ps->cmd->u.id.kv = kv;
	ps->cmd->u.id.nkv = n;		/* entries: field, value, field, ... */
	return true;
}

/* SASL-IR initial response (RFC 4959): base64, or "=" for empty. */
static bool
valid_base64(const char *s, size_t n)
{
	size_t i, pad = 0;

	if (n == 0 || n % 4 != 0)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return pad <= 2;
}

static bool
p_authenticate(struct pstate *ps)
{
	const char *s;
	size_t n, i;
	char *mech;

	if (!ip_sp(ps, "AUTHENTICATE", "authentication mechanism") ||
	    !ip_atom(ps, &s, &n, "authentication mechanism"))
		return false;
	/* Mechanism names are case-insensitive; hand them on upper-case. */
	if ((mech = arena_strndup(ps->a, s, n)) == NULL)
		return ip_oom(ps);
	for (i = 0; i < n; i++)
		if (mech[i] >= 'a' && mech[i] <= 'z')
			mech[i] = (char)(mech[i] - 'a' + 'A');
	ps->cmd->u.auth.mech = mech;
	if (ip_eof(ps))
		return true;
	if (!ip_sp(ps, "mechanism", "initial response"))
		return false;
	s = ps->p;
	while (ps->p < ps->end && *ps->p != ' ')
		ps->p++;
	n = (size_t)(ps->p - s);
	if (n == 0)
		return ip_fail(ps, "Missing initial response");
	if (n == 1 && *s == '=') {
		ps->cmd->u.auth.ir = "";
		return true;
	}
	if (!valid_base64(s, n))
		return ip_fail(ps, "Invalid base64 initial response");
	if ((ps->cmd->u.auth.ir = arena_strndup(ps->a, s, n)) == NULL)
		return ip_oom(ps);
	return true;
}

static bool
p_login(struct pstate *ps)
{
	return ip_sp(ps, "LOGIN", "user name") &&
	    ip_astring(ps, &ps->cmd->u.login.user, "user name") &&
	    ip_sp(ps, "user name", "password") &&
	    ip_astring(ps, &ps->cmd->u.login.pass, "password");
}

static bool
p_enable(struct pstate *ps)
{
	const char *s;
	size_t n, cap = 0;

	if (!ip_sp(ps, "ENABLE", "capability name"))
		return false;
	for (;;) {
		if (!ip_atom(ps, &s, &n, "capability name"))
			return false;
		if ((s = arena_strndup(ps->a, s, n)) == NULL)
			return ip_oom(ps);
		if (!ip_push_str(ps, &ps->cmd->u.enable.caps,
		    &ps->cmd->u.enable.ncaps, &cap, s, IP_MAX_ENABLE,
		    "capabilities"))
			return false;
		if (!ip_accept(ps, ' '))
			return true;
	}
}

/* QRESYNC (uidvalidity modseq [known-uids] [(seqs uids)]), RFC 7162. */
static bool
qresync_param(struct pstate *ps, struct select_args *sa)
{
	uint32_t uv;

	if (!ip_sp(ps, "QRESYNC", "QRESYNC parameters") ||
	    !ip_expect(ps, '(', "Expected '(' after QRESYNC") ||
	    !ip_nz_number(ps, &uv, "UIDVALIDITY") ||
	    !ip_sp(ps, "UIDVALIDITY", "mod-sequence") ||
	    !ip_number64(ps, IP_MODSEQ_MAX, &sa->modseq, "mod-sequence"))
		return false;
	sa->qresync = true;
	sa->uidvalidity = uv;
	if (ip_accept(ps, ')'))
		return true;
	if (!ip_sp(ps, "mod-sequence", "known UIDs"))
		return false;
	if (ip_peek(ps) != '(') {
		if (!ip_seqset(ps, &sa->known_uids))
			return false;
		sa->has_known_uids = true;
		if (ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "known UIDs", "sequence match data"))
			return false;
	}
	if (!ip_expect(ps, '(', "Expected '(' before sequence match data") ||
	    !ip_seqset(ps, &sa->match_seqs) ||
	    !ip_sp(ps, "known sequence set", "known UID set") ||
	    !ip_seqset(ps, &sa->match_uids) ||
	    !ip_expect(ps, ')', "Expected ')' after sequence match data"))
		return false;
	sa->has_seq_match = true;
	return ip_expect(ps, ')', "Expected ')' after QRESYNC parameters");
}

static bool
p_select(struct pstate *ps)
{
	struct select_args *sa = &ps->cmd->u.select;
	const char *s;
	size_t n;

	if (!ip_sp(ps, ps->cmd->name, "mailbox name") ||
	    !ip_mailbox(ps, &sa->mailbox))
		return false;
	if (ip_eof(ps))
		return true;
	if (!ip_sp(ps, "mailbox name", "SELECT parameters") ||
	    !ip_expect(ps, '(', "Expected '(' before SELECT parameters"))
		return false;
	for (;;) {
		if (!ip_atom(ps, &s, &n, "SELECT parameter"))
			return false;
		if (ip_eq(s, n, "CONDSTORE") && !sa->condstore)
			sa->condstore = true;
		else if (ip_eq(s, n, "QRESYNC") && !sa->qresync) {
			if (!qresync_param(ps, sa))
				return false;
		} else if (ip_eq(s, n, "CONDSTORE") || ip_eq(s, n, "QRESYNC"))
			return ip_fail(ps, "Duplicate SELECT parameter %.*s",
			    (int)n, s);
		else
			return ip_fail(ps, "Unknown SELECT parameter %.*s",
			    (int)IP_SHOW(n), s);
		if (ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "SELECT parameter", "')' after SELECT parameters"))
			return false;
	}
}

/* USE (\Drafts ...) of RFC 6154. */
static bool
use_attrs(struct pstate *ps, unsigned *use)
{
	static const struct { const char *name; unsigned bit; } attrs[] = {
		{ "\\All", SPECIAL_USE_ALL }, { "\\Archive", SPECIAL_USE_ARCHIVE },
		{ "\\Drafts", SPECIAL_USE_DRAFTS }, { "\\Flagged", SPECIAL_USE_FLAGGED },
		{ "\\Junk", SPECIAL_USE_JUNK }, { "\\Sent", SPECIAL_USE_SENT },
		{ "\\Trash", SPECIAL_USE_TRASH },
	};
	const char *s;
	size_t n, i;

	if (!ip_sp(ps, "USE", "special-use attributes") ||
	    !ip_expect(ps, '(', "Expected '(' after USE"))
		return false;
	if (ip_accept(ps, ')'))
		return true;
	for (;;) {
		s = ps->p;
		if (!ip_expect(ps, '\\', "Invalid special-use attribute") ||
		    !ip_atom(ps, &s, &n, "special-use attribute"))
			return false;
		for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
			if (ip_eq(s - 1, n + 1, attrs[i].name))
				break;
		/* Well formed but unknown: the executor answers NO [USEATTR]
		 * (RFC 6154 3), not a syntax error. */
		if (i == sizeof(attrs) / sizeof(attrs[0]))
			*use |= SPECIAL_USE_UNKNOWN;
		else
			*use |= attrs[i].bit;
		if (ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "special-use attribute", "')'"))
			return false;
	}
}

static bool
p_create(struct pstate *ps)
{
	bool seen_use = false;
	const char *s;
	size_t n;

	if (!ip_sp(ps, "CREATE", "mailbox name") ||
	    !ip_mailbox(ps, &ps->cmd->u.create.mailbox))
		return false;
	if (ip_eof(ps))
		return true;
	if (!ip_sp(ps, "mailbox name", "CREATE parameters") ||
	    !ip_expect(ps, '(', "Expected '(' before CREATE parameters"))
		return false;
	for (;;) {
		if (!ip_atom(ps, &s, &n, "CREATE parameter"))
			return false;
		if (!ip_eq(s, n, "USE"))
			return ip_fail(ps, "Unknown CREATE parameter %.*s",
			    (int)IP_SHOW(n), s);
		if (seen_use)
			return ip_fail(ps, "Duplicate CREATE parameter USE");
		seen_use = true;
		if (!use_attrs(ps, &ps->cmd->u.create.use))
			return false;
		if (ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "CREATE parameter", "')'"))
			return false;
	}
}

static bool
p_mbox(struct pstate *ps)
{
	return ip_sp(ps, ps->cmd->name, "mailbox name") &&
	    ip_mailbox(ps, &ps->cmd->u.mbox.mailbox);
}

static bool
p_rename(struct pstate *ps)
{
	return ip_sp(ps, "RENAME", "mailbox name") &&
	    ip_mailbox(ps, &ps->cmd->u.rename.from) &&
	    ip_sp(ps, "mailbox name", "new mailbox name") &&
	    ip_mailbox(ps, &ps->cmd->u.rename.to);
}

static bool
list_select_opts(struct pstate *ps, struct list_args *la)
{
	static const struct { const char *name; unsigned bit; } opts[] = {
		{ "SUBSCRIBED", LIST_SEL_SUBSCRIBED }, { "REMOTE", LIST_SEL_REMOTE },
		{ "RECURSIVEMATCH", LIST_SEL_RECURSIVEMATCH },
		{ "SPECIAL-USE", LIST_SEL_SPECIAL_USE },
	};
	const char *s;
	size_t n, i;

	la->extended = true;
	if (!ip_accept(ps, ')')) {
		for (;;) {
			if (!ip_atom(ps, &s, &n, "LIST selection option"))
				return false;
			for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
				if (ip_eq(s, n, opts[i].name))
					break;
			if (i == sizeof(opts) / sizeof(opts[0]))
				return ip_fail(ps,
				    "Unknown LIST selection option %.*s",
				    (int)IP_SHOW(n), s);
			la->sel |= opts[i].bit;
			if (ip_accept(ps, ')'))
				break;
			if (!ip_sp(ps, "selection option", "')'"))
				return false;
		}
	}
	/* RFC 5258 3: RECURSIVEMATCH alone (or with REMOTE) is BAD. */
	if ((la->sel & LIST_SEL_RECURSIVEMATCH) &&
	    !(la->sel & (LIST_SEL_SUBSCRIBED | LIST_SEL_SPECIAL_USE)))
		return ip_fail(ps, "RECURSIVEMATCH needs another selection option");
	return ip_sp(ps, "selection options", "reference name");
}

static bool
list_return_opts(struct pstate *ps, struct list_args *la)
{
	const char *s;
	size_t n;

	la->extended = true;
	if (!ip_sp(ps, "RETURN", "return options") ||
	    !ip_expect(ps, '(', "Expected '(' after RETURN"))
		return false;
	if (ip_accept(ps, ')'))
		return true;
	for (;;) {
		if (!ip_atom(ps, &s, &n, "LIST return option"))
			return false;
		if (ip_eq(s, n, "SUBSCRIBED"))
			la->ret |= LIST_RET_SUBSCRIBED;
		else if (ip_eq(s, n, "CHILDREN"))
			la->ret |= LIST_RET_CHILDREN;
		else if (ip_eq(s, n, "SPECIAL-USE"))
			la->ret |= LIST_RET_SPECIAL_USE;
		else if (ip_eq(s, n, "MYRIGHTS"))
			la->ret |= LIST_RET_MYRIGHTS;
		else if (ip_eq(s, n, "STATUS")) {
			unsigned items;
			if (!ip_sp(ps, "STATUS", "status items") ||
			    !status_atts(ps, &items))
				return false;
			la->ret |= LIST_RET_STATUS;
			la->status |= items;
		} else
			return ip_fail(ps, "Unknown LIST return option %.*s",
			    (int)IP_SHOW(n), s);
		if (ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "return option", "')'"))
			return false;
	}
}

static bool
p_list(struct pstate *ps)
{
	struct list_args *la = &ps->cmd->u.list;
	const char *pat;
	size_t cap = 0;

	if (!ip_sp(ps, "LIST", "reference name"))
		return false;
	if (ip_accept(ps, '(') && !list_select_opts(ps, la))
		return false;
	if (!ip_astring(ps, &la->ref, "reference name") ||
	    !ip_sp(ps, "reference name", "mailbox pattern"))
		return false;
	if (ip_accept(ps, '(')) {
		la->extended = true;
		for (;;) {
			if (!ip_list_mailbox(ps, &pat) ||
			    !ip_push_str(ps, &la->patterns, &la->npatterns,
			    &cap, pat, IP_MAX_LIST_PATTERNS, "mailbox patterns"))
				return false;
			if (ip_accept(ps, ')'))
				break;
			if (!ip_sp(ps, "mailbox pattern", "')'"))
				return false;
		}
	} else if (!ip_list_mailbox(ps, &pat) ||
	    !ip_push_str(ps, &la->patterns, &la->npatterns, &cap, pat, 1, ""))
		return false;
	if (ip_eof(ps))
		return true;
	if (!ip_sp(ps, "mailbox pattern", "RETURN"))
		return false;
	if (!ip_keyword(ps, "RETURN"))
		return ip_fail(ps, "Expected RETURN after mailbox pattern");
	return list_return_opts(ps, la);
}

static bool
p_lsub(struct pstate *ps)
{
	struct list_args *la = &ps->cmd->u.list;
	const char *pat;
	size_t cap = 0;

	return ip_sp(ps, "LSUB", "reference name") &&
	    ip_astring(ps, &la->ref, "reference name") &&
	    ip_sp(ps, "reference name", "mailbox pattern") &&
	    ip_list_mailbox(ps, &pat) &&
	    ip_push_str(ps, &la->patterns, &la->npatterns, &cap, pat, 1, "");
}

static bool
p_status(struct pstate *ps)
{
	return ip_sp(ps, "STATUS", "mailbox name") &&
	    ip_mailbox(ps, &ps->cmd->u.status.mailbox) &&
	    ip_sp(ps, "mailbox name", "status items") &&
	    status_atts(ps, &ps->cmd->u.status.items);
}

/* A literal of APPEND: copied out of the framer's buffer (a paused
 * APPEND outlives it) unless the framer spooled it to a file. */
static bool
append_literal(struct pstate *ps, const char **out, size_t *len,
    bool *binary, bool *spooled, uint64_t *spool_off, const char *what)
{
	const char *data;
	char *copy;

	if (!ip_literal(ps, &data, len, binary, true, what))
		return false;
	if (ps->lit_spooled != NULL) {
		*spooled = true;
		*spool_off = ps->lit_spooled->off;
		return true;
	}
	if ((copy = ip_alloc(ps, *len + 1)) == NULL)
		return false;
	memcpy(copy, data, *len);
	*out = copy;
	return true;
}

/* "CATENATE" SP "(" cat-part *(SP cat-part) ")", RFC 4469 section 5:
 * cat-part = "TEXT" SP literal / "URL" SP astring. */
static bool
catenate(struct pstate *ps, struct append_msg *m)
{
	struct append_part **tail = &m->parts;
	const char *s;
	size_t n;

	if (!ip_expect(ps, '(', "Expected '(' after CATENATE"))
		return false;
	do {
		struct append_part *cp;

		if (m->nparts >= IP_MAX_CATENATE_PARTS)
			return ip_fail(ps, "Too many CATENATE parts");
		if ((cp = ip_alloc(ps, sizeof(*cp))) == NULL ||
		    !ip_atom(ps, &s, &n, "CATENATE part") ||
		    !ip_sp(ps, "CATENATE part", "its value"))
			return false;
		if (ip_eq(s, n, "TEXT")) {
			if (!append_literal(ps, &cp->data, &cp->len, &cp->binary,
			    &cp->spooled, &cp->spool_off, "TEXT literal"))
				return false;
		} else if (ip_eq(s, n, "URL")) {
			if (!ip_astring(ps, &cp->url, "URL"))
				return false;
		} else
			return ip_fail(ps, "Unknown CATENATE part %.*s",
			    (int)IP_SHOW(n), s);
		*tail = cp;
		tail = &cp->next;
		m->nparts++;
	} while (ip_accept(ps, ' '));
	return ip_expect(ps, ')', "Expected ')' after CATENATE parts");
}

/* RFC 6855 4: "UTF8" SP "(" literal8 ")", a message whose header may
 * hold UTF-8.  Whether the session may send it is the command's call
 * (only after ENABLE UTF8=ACCEPT or IMAP4rev2). */
static bool
utf8_data(struct pstate *ps, struct append_msg *m)
{
	if (!ip_expect(ps, '(', "Expected '(' after UTF8"))
		return false;
	if (ip_peek(ps) != '~')
		return ip_fail(ps, "UTF8 needs a literal8 (~{n})");
	if (!append_literal(ps, &m->data, &m->len, &m->binary, &m->spooled,
	    &m->spool_off, "UTF8 literal8"))
		return false;
	m->utf8 = true;
	return ip_expect(ps, ')', "Expected ')' after UTF8 literal8");
}

/* One append-message of RFC 3502: [flag-list SP] [date-time SP] literal,
 * or with CATENATE (RFC 4469) the parts instead of the literal. */
static bool
append_msg(struct pstate *ps, struct append_msg *m)
{
	if (ip_peek(ps) == '(') {
		if (!ip_flag_list(ps, &m->flags, &m->nflags) ||
		    !ip_sp(ps, "flag list", "message literal"))
			return false;
	}
	if (ip_peek(ps) == '"') {
		if (!ip_datetime(ps, &m->date) ||
		    !ip_sp(ps, "date-time", "message literal"))
			return false;
		m->has_date = true;
	}
	if (ps->end - ps->p > 9 && strncasecmp(ps->p, "CATENATE ", 9) == 0) {
		ps->p += 9;
		return catenate(ps, m);
	}
	if (ps->end - ps->p > 5 && strncasecmp(ps->p, "UTF8 ", 5) == 0) {
		ps->p += 5;
		return utf8_data(ps, m);
	}
	return append_literal(ps, &m->data, &m->len, &m->binary, &m->spooled,
	    &m->spool_off, "message literal");
}

static bool
p_append(struct pstate *ps)
{
	struct append_args *aa = &ps->cmd->u.append;
	struct append_msg **tail = &aa->msgs;

	if (!ip_sp(ps, "APPEND", "mailbox name") ||
	    !ip_mailbox(ps, &aa->mailbox))
		return false;
	do {
		struct append_msg *m;

		if (aa->nmsgs >= IP_MAX_APPEND_MSGS)
			return ip_fail(ps, "Too many messages");
		if (!ip_sp(ps, aa->nmsgs ? "message literal" : "mailbox name",
		    "message literal"))
			return false;
		if ((m = ip_alloc(ps, sizeof(*m))) == NULL ||
		    !append_msg(ps, m))
			return false;
		*tail = m;
		tail = &m->next;
		aa->nmsgs++;
	} while (!ip_eof(ps));
	return true;
}

static bool
p_getquota(struct pstate *ps)
{
	return ip_sp(ps, ps->cmd->name, "quota root") &&
	    ip_astring(ps, &ps->cmd->u.getquota.root, "quota root");
}

static bool
p_setquota(struct pstate *ps)
{
	struct quota_resource res[IP_MAX_QUOTA_RES];
	size_t n = 0, len;
	const char *s;

	if (!ip_sp(ps, "SETQUOTA", "quota root") ||
	    !ip_astring(ps, &ps->cmd->u.setquota.root, "quota root") ||
	    !ip_sp(ps, "quota root", "resource limits") ||
	    !ip_expect(ps, '(', "Expected '(' before resource limits"))
		return false;
	if (!ip_accept(ps, ')')) {
		for (;;) {
			if (n == IP_MAX_QUOTA_RES)
				return ip_fail(ps, "Too many quota resources");
			if (!ip_atom(ps, &s, &len, "resource name"))
				return false;
			if ((res[n].name = arena_strndup(ps->a, s, len)) == NULL)
				return ip_oom(ps);
			if (!ip_sp(ps, "resource name", "resource limit") ||
			    !ip_number64(ps, IP_MODSEQ_MAX, &res[n].limit,
			    "resource limit"))
				return false;
			n++;
			if (ip_accept(ps, ')'))
				break;
			if (!ip_sp(ps, "resource limit", "')'"))
				return false;
		}
	}
	ps->cmd->u.setquota.nres = n;
	if ((ps->cmd->u.setquota.res = ip_alloc(ps, (n ? n : 1) * sizeof(*res))) == NULL)
		return false;
	memcpy(ps->cmd->u.setquota.res, res, n * sizeof(*res));
	return true;
}

/* SETACL mailbox identifier rights; DELETEACL and LISTRIGHTS without
 * rights (RFC 4314). */
static bool
p_acl(struct pstate *ps)
{
	if (!ip_sp(ps, ps->cmd->name, "mailbox name") ||
	    !ip_mailbox(ps, &ps->cmd->u.acl.mailbox) ||
	    !ip_sp(ps, "mailbox name", "identifier") ||
	    !ip_astring(ps, &ps->cmd->u.acl.identifier, "identifier"))
		return false;
	if (ps->cmd->id != CMD_SETACL)
		return true;
	return ip_sp(ps, "identifier", "access rights") &&
	    ip_astring(ps, &ps->cmd->u.acl.rights, "access rights");
}

static bool
p_proxyauth(struct pstate *ps)
{
	return ip_sp(ps, "PROXYAUTH", "user name") &&
	    ip_astring(ps, &ps->cmd->u.proxyauth.user, "user name");
}

/* COMPRESS mechanism (RFC 4978): an atom; which ones exist is the
 * executor's business. */
static bool
p_compress(struct pstate *ps)
{
	const char *s;
	size_t n;

	if (!ip_sp(ps, "COMPRESS", "compression mechanism") ||
	    !ip_atom(ps, &s, &n, "compression mechanism"))
		return false;
	if ((ps->cmd->u.compress.mech = arena_strndup(ps->a, s, n)) == NULL)
		return ip_oom(ps);
	return true;
}

static bool
p_copy(struct pstate *ps)
{
	return ip_sp(ps, ps->cmd->name, "sequence set") &&
	    ip_seqset(ps, &ps->cmd->u.copy.set) &&
	    ip_sp(ps, "sequence set", "mailbox name") &&
	    ip_mailbox(ps, &ps->cmd->u.copy.mailbox);
}

static bool
p_expunge(struct pstate *ps)
{
	if (!ps->cmd->uid)
		return true;
	ps->cmd->u.expunge.has_set = true;
	return ip_sp(ps, "UID EXPUNGE", "sequence set") &&
	    ip_seqset(ps, &ps->cmd->u.expunge.set);
}

/* ---- the command table ---- */

#define C_UID	0x01	/* may follow "UID" */

static const struct cmd_def {
	const char      *name;
	enum imap_cmd_id id;
	bool           (*parse)(struct pstate *);
	unsigned         flags;
} cmds[] = {
	{ "CAPABILITY",   CMD_CAPABILITY,   p_none, 0 },
	{ "NOOP",         CMD_NOOP,         p_none, 0 },
	{ "LOGOUT",       CMD_LOGOUT,       p_none, 0 },
	{ "ID",           CMD_ID,           p_id, 0 },
	{ "STARTTLS",     CMD_STARTTLS,     p_none, 0 },
	{ "AUTHENTICATE", CMD_AUTHENTICATE, p_authenticate, 0 },
	{ "LOGIN",        CMD_LOGIN,        p_login, 0 },
	{ "ENABLE",       CMD_ENABLE,       p_enable, 0 },
	{ "SELECT",       CMD_SELECT,       p_select, 0 },
	{ "EXAMINE",      CMD_EXAMINE,      p_select, 0 },
	{ "CREATE",       CMD_CREATE,       p_create, 0 },
	{ "DELETE",       CMD_DELETE,       p_mbox, 0 },
	{ "RENAME",       CMD_RENAME,       p_rename, 0 },
	{ "SUBSCRIBE",    CMD_SUBSCRIBE,    p_mbox, 0 },
	{ "UNSUBSCRIBE",  CMD_UNSUBSCRIBE,  p_mbox, 0 },
	{ "LIST",         CMD_LIST,         p_list, 0 },
	{ "LSUB",         CMD_LSUB,         p_lsub, 0 },
	{ "STATUS",       CMD_STATUS,       p_status, 0 },
	{ "APPEND",       CMD_APPEND,       p_append, 0 },
	{ "NAMESPACE",    CMD_NAMESPACE,    p_none, 0 },
	{ "IDLE",         CMD_IDLE,         p_none, 0 },
	{ "GETQUOTA",     CMD_GETQUOTA,     p_getquota, 0 },
	{ "GETQUOTAROOT", CMD_GETQUOTAROOT, p_mbox, 0 },
	{ "SETQUOTA",     CMD_SETQUOTA,     p_setquota, 0 },
	{ "GETACL",       CMD_GETACL,       p_mbox, 0 },
	{ "SETACL",       CMD_SETACL,       p_acl, 0 },
	{ "DELETEACL",    CMD_DELETEACL,    p_acl, 0 },
	{ "LISTRIGHTS",   CMD_LISTRIGHTS,   p_acl, 0 },
	{ "MYRIGHTS",     CMD_MYRIGHTS,     p_mbox, 0 },
	{ "PROXYAUTH",    CMD_PROXYAUTH,    p_proxyauth, 0 },
	{ "COMPRESS",     CMD_COMPRESS,     p_compress, 0 },
	{ "GETMETADATA",  CMD_GETMETADATA,  ip_parse_getmetadata, 0 },
	{ "SETMETADATA",  CMD_SETMETADATA,  ip_parse_setmetadata, 0 },
	{ "NOTIFY",       CMD_NOTIFY,       ip_parse_notify, 0 },
	{ "RESETKEY",     CMD_RESETKEY,     ip_parse_resetkey, 0 },
	{ "GENURLAUTH",   CMD_GENURLAUTH,   ip_parse_genurlauth, 0 },
	{ "URLFETCH",     CMD_URLFETCH,     ip_parse_urlfetch, 0 },
	{ "UNAUTHENTICATE", CMD_UNAUTHENTICATE, p_none, 0 },
	{ "CHECK",        CMD_CHECK,        p_none, 0 },
	{ "CLOSE",        CMD_CLOSE,        p_none, 0 },
	{ "UNSELECT",     CMD_UNSELECT,     p_none, 0 },
	{ "EXPUNGE",      CMD_EXPUNGE,      p_expunge, C_UID },
	{ "SEARCH",       CMD_SEARCH,       ip_parse_search, C_UID },
	{ "FETCH",        CMD_FETCH,        ip_parse_fetch, C_UID },
	{ "STORE",        CMD_STORE,        ip_parse_store, C_UID },
	{ "COPY",         CMD_COPY,         p_copy, C_UID },
	{ "MOVE",         CMD_MOVE,         p_copy, C_UID },
	{ "SORT",         CMD_SORT,         ip_parse_sort, C_UID },
	{ "THREAD",       CMD_THREAD,       ip_parse_thread, C_UID },
	{ "CANCELUPDATE", CMD_CANCELUPDATE, ip_parse_cancelupdate, 0 },
};

static const struct cmd_def *
find_cmd(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (ip_eq(name, len, cmds[i].name))
			return &cmds[i];
	return NULL;
}

enum imap_cmd_id
imap_cmd_lookup(const char *name, size_t len)
{
	const struct cmd_def *c = find_cmd(name, len);

	return c != NULL ? c->id : CMD_UNKNOWN;
}

static bool
parse_tag(struct pstate *ps)
{
	size_t n = run_len(ps, tag_char);

	if (n == 0 || n > IP_MAX_TAG ||
	    (ps->p + n < ps->end && ps->p[n] != ' '))
		return ip_fail(ps, "Invalid tag");
	if ((ps->cmd->tag = arena_strndup(ps->a, ps->p, n)) == NULL) {
		ps->cmd->tag = "*";
		return ip_oom(ps);
	}
	ps->p += n;
	return ip_sp(ps, "tag", "command name");
}

static bool
parse_command(struct pstate *ps)
{
	const struct cmd_def *c;
	const char *s;
	size_t n;

	if (!ip_atom(ps, &s, &n, "command name"))
		return false;
	if (ip_eq(s, n, "UID")) {
		ps->cmd->uid = true;
		if (!ip_sp(ps, "UID", "command name after UID") ||
		    !ip_atom(ps, &s, &n, "command name after UID"))
			return false;
		c = find_cmd(s, n);
		if (c == NULL || !(c->flags & C_UID))
			return ip_fail(ps, "Unknown command UID %.*s",
			    (int)IP_SHOW(n), s);
	} else if ((c = find_cmd(s, n)) == NULL)
		return ip_fail(ps, "Unknown command %.*s", (int)IP_SHOW(n), s);
	ps->cmd->id = c->id;
	ps->cmd->name = c->name;
	return c->parse(ps) && ip_end(ps);
}

int
imap_parse_spooled(struct arena *a, const char *buf, size_t len,
    const struct imap_spooled *sp, size_t nsp, struct imap_cmd *cmd,
    const char **err)
{
	struct pstate ps;

	memset(cmd, 0, sizeof(*cmd));
	memset(&ps, 0, sizeof(ps));
	if (buf == NULL)
		buf = "";
	cmd->tag = "*";
	cmd->name = "";
	ps.a = a;
	ps.p = buf;
	ps.base = buf;
	ps.end = buf + len;
	ps.cmd = cmd;
	ps.sp = sp;
	ps.nsp = nsp;
	if (!parse_tag(&ps) || !parse_command(&ps)) {
		*err = ps.err != NULL ? ps.err : "Syntax error";
		return -1;
	}
	if (ps.nextsp != ps.nsp) {
		/* A spooled literal the grammar did not read as one. */
		*err = "Literal too long";
		return -1;
	}
	*err = NULL;
	return 0;
}

int
imap_parse(struct arena *a, const char *buf, size_t len, struct imap_cmd *cmd,
    const char **err)
{
	return imap_parse_spooled(a, buf, len, NULL, 0, cmd, err);
}
