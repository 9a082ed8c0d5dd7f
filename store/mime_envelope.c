/*
 * mime_envelope.c - the IMAP ENVELOPE of a message header (RFC 3501
 * 7.4.2), for mime_analyze() (the message and every encapsulated
 * message/rfc822).
 *
 * Address lists are read with a forgiving RFC 5322 parser, as real
 * headers need: groups give (NIL NIL "name" NIL) ... (NIL NIL NIL NIL),
 * obsolete routes go to the adl field, comments are dropped (or stand
 * in for a missing display name, "addr (Name)"), and an address without
 * a domain gets the host "MISSING_DOMAIN" as Dovecot and UW-IMAP do.
 * Display names and subjects are sent as written (RFC 2047 encoded
 * words are not decoded), with folding removed and white space runs
 * collapsed.  Duplicate address fields are merged into one list (as
 * Dovecot does).  A missing
 * mailbox or host is sent as "MISSING_MAILBOX" / "MISSING_DOMAIN".
 * Of duplicate Date, Subject, In-Reply-To and Message-ID fields the
 * last one counts (as in Dovecot, and as a re-sent message's newest
 * fields are usually added last).
 */
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "store/mime_int.h"

#define MAX_ADDRS 10000		/* per list; the rest is not listed */

struct alex {
	const char *s;
	size_t      n, i;
	struct buf  comment;	/* the last comment read */
};

struct addr {
	struct buf name, route, mbox, host;
};

static bool
is_atext(char c)
{
	return (unsigned char)c > ' ' && strchr("()<>@,;:\\\".[]", c) == NULL;
}

/* Skips white space and comments, keeping the last comment's text. */
static void
lex_skip(struct alex *l)
{
	while (l->i < l->n) {
		char c = l->s[l->i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			l->i++;
		} else if (c == '(') {
			int depth = 1;

			buf_reset(&l->comment);
			for (l->i++; l->i < l->n && depth > 0; l->i++) {
				c = l->s[l->i];
				if (c == '\\' && l->i + 1 < l->n)
					c = l->s[++l->i];
				else if (c == '(')
					depth++;
				else if (c == ')' && --depth == 0)
					continue;
				buf_addc(&l->comment, c);
			}
		} else
			break;
	}
}

static char
lex_peek(struct alex *l)
{
	lex_skip(l);
	return l->i < l->n ? l->s[l->i] : '\0';
}

/* A quoted string; raw keeps the quotes and escapes (local parts). */
static void
lex_quoted(struct alex *l, struct buf *b, bool raw)
{
	if (raw)
		buf_addc(b, '"');
	for (l->i++; l->i < l->n && l->s[l->i] != '"'; l->i++) {
		char c = l->s[l->i];

		if (c == '\\' && l->i + 1 < l->n) {
			if (raw)
				buf_addc(b, c);
			c = l->s[++l->i];
		}
		if (c == '\r' || c == '\n')
			continue;
		buf_addc(b, c);
	}
	if (l->i < l->n)
		l->i++;
	if (raw)
		buf_addc(b, '"');
}

/* phrase: words separated by single spaces, quotes removed.  Stops at
 * any special other than '.'. */
static void
lex_phrase(struct alex *l, struct buf *b)
{
	char c;

	while ((c = lex_peek(l)) != '\0') {
		if (c == '"') {
			if (buf_len(b) > 0)
				buf_addc(b, ' ');
			lex_quoted(l, b, false);
		} else if (is_atext(c) || c == '.') {
			if (buf_len(b) > 0 && c != '.' &&
			    buf_ptr(b)[buf_len(b) - 1] != '.')
				buf_addc(b, ' ');
			while (l->i < l->n && (is_atext(l->s[l->i]) ||
			    l->s[l->i] == '.'))
				buf_addc(b, l->s[l->i++]);
		} else
			break;
	}
}

/* dot-atoms and quoted strings up to '@' '>' ',' ';' (raw). */
static void
lex_local(struct alex *l, struct buf *b)
{
	char c;

	while ((c = lex_peek(l)) != '\0') {
		if (c == '"')
			lex_quoted(l, b, true);
		else if (is_atext(c) || c == '.')
			buf_addc(b, l->s[l->i++]);
		else
			break;
	}
}

static void
lex_domain(struct alex *l, struct buf *b)
{
	char c;

	while ((c = lex_peek(l)) != '\0') {
		if (c == '[') {
			while (l->i < l->n && l->s[l->i] != ']') {
				if (l->s[l->i] != '\r' && l->s[l->i] != '\n')
					buf_addc(b, l->s[l->i]);
				l->i++;
			}
			if (l->i < l->n)
				buf_addc(b, l->s[l->i++]);
		} else if (is_atext(c) || c == '.')
			buf_addc(b, l->s[l->i++]);
		else
			break;
	}
}

static void
addr_reset(struct addr *a)
{
	buf_reset(&a->name);
	buf_reset(&a->route);
	buf_reset(&a->mbox);
	buf_reset(&a->host);
}

/* Writes buf contents as a string, or NIL if empty (and nil_empty).
 * The text goes through hdr_unfold() either way, which also keeps NUL
 * (not allowed in any IMAP string) out; humans collapses white space. */
static void
w_field(struct buf *out, struct buf *b, bool nil_empty, struct arena *ar,
    bool humans)
{
	size_t n;
	char *s;

	if (buf_len(b) == 0 && nil_empty) {
		buf_adds(out, "NIL");
		return;
	}
	s = hdr_unfold(ar, buf_ptr(b), buf_len(b), humans, &n);
	if (s == NULL) {	/* arena ceiling: mime_analyze() fails anyway */
		s = "";
		n = 0;
	}
	if (n == 0 && nil_empty)
		buf_adds(out, "NIL");
	else
		mw_string(out, s, n);
}

static void
w_addr(struct buf *out, struct addr *a, struct arena *ar)
{
	buf_addc(out, '(');
	w_field(out, &a->name, true, ar, true);
	buf_addc(out, ' ');
	w_field(out, &a->route, true, ar, false);
	buf_addc(out, ' ');
	if (buf_len(&a->mbox) == 0)
		buf_adds(out, "\"MISSING_MAILBOX\"");
	else
		w_field(out, &a->mbox, false, ar, false);
	buf_addc(out, ' ');
	if (buf_len(&a->host) == 0)
		buf_adds(out, "\"MISSING_DOMAIN\"");
	else
		w_field(out, &a->host, false, ar, false);
	buf_addc(out, ')');
}

/* "<[@route,@route:]local@domain>" after the display name. */
static void
parse_angle(struct alex *l, struct addr *a)
{
	l->i++;			/* '<' */
	if (lex_peek(l) == '@') {
		/* obsolete route: everything up to the ':' */
		while (l->i < l->n && l->s[l->i] != ':' && l->s[l->i] != '>') {
			char c = l->s[l->i++];

			if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
				buf_addc(&a->route, c);
		}
		if (l->i < l->n && l->s[l->i] == ':')
			l->i++;
	}
	lex_local(l, &a->mbox);
	if (lex_peek(l) == '@') {
		l->i++;
		lex_domain(l, &a->host);
	}
	while (l->i < l->n && l->s[l->i] != '>')	/* junk inside <> */
		l->i++;
	if (l->i < l->n)
		l->i++;
}

/* One mailbox; false if there was nothing but separators. */
static bool
parse_mailbox(struct alex *l, struct addr *a, bool *group)
{
	size_t start;
	char c;

	addr_reset(a);
	buf_reset(&l->comment);
	*group = false;
	start = l->i;
	lex_phrase(l, &a->name);
	c = lex_peek(l);
	if (c == ':') {
		*group = true;
		l->i++;
		return true;
	}
	if (c == '<') {
		parse_angle(l, a);	/* even "<>" is an address */
		return true;
	} else {
		/* no angle brackets: what we read was the local part */
		l->i = start;
		buf_reset(&a->name);
		buf_reset(&l->comment);
		lex_local(l, &a->mbox);
		if (lex_peek(l) == '@') {
			l->i++;
			lex_domain(l, &a->host);
		}
		lex_skip(l);
		if (buf_len(&a->mbox) == 0 && buf_len(&a->host) == 0)
			goto skip;
		if (buf_len(&l->comment) > 0)	/* "addr (Name)" */
			buf_add(&a->name, buf_ptr(&l->comment),
			    buf_len(&l->comment));
	}
	if (buf_len(&a->mbox) == 0 && buf_len(&a->host) == 0 &&
	    buf_len(&a->name) == 0)
		goto skip;
	return true;
skip:
	/* junk up to the next separator */
	while (l->i < l->n && l->s[l->i] != ',' && l->s[l->i] != ';')
		l->i++;
	return false;
}

/* Appends the addresses of one field value; *count says how many the
 * list holds so far (the list's "(" is written before the first). */
static void
w_addrs(struct buf *out, struct arena *ar, const char *v, size_t n,
    size_t *count)
{
	struct alex l = { v, n, 0, { 0 } };
	struct addr a;
	bool ingroup = false, group;

	mbuf_init(&l.comment);
	mbuf_init(&a.name);
	mbuf_init(&a.route);
	mbuf_init(&a.mbox);
	mbuf_init(&a.host);
	while (l.i < l.n && *count < MAX_ADDRS) {
		char c = lex_peek(&l);

		if (c == '\0')
			break;
		if (c == ',' || (c == ';' && !ingroup)) {
			l.i++;
			continue;
		}
		if (c == ';') {
			buf_adds(out, "(NIL NIL NIL NIL)");
			ingroup = false;
			l.i++;
			continue;
		}
		if (!parse_mailbox(&l, &a, &group))
			continue;
		buf_adds(out, (*count)++ == 0 ? "(" : "");
		if (group) {
			if (ingroup)	/* nested group: close the first */
				buf_adds(out, "(NIL NIL NIL NIL)");
			buf_adds(out, "(NIL NIL ");
			w_field(out, &a.name, false, ar, true);
			buf_adds(out, " NIL)");
			ingroup = true;
		} else
			w_addr(out, &a, ar);
	}
	if (ingroup)
		buf_adds(out, "(NIL NIL NIL NIL)");	/* missing ';' */
	buf_free(&l.comment);
	buf_free(&a.name);
	buf_free(&a.route);
	buf_free(&a.mbox);
	buf_free(&a.host);
}

/* The addresses of one field value as plain text, "name <local@host>"
 * each, comma separated: what SEARCH FROM/TO/CC/BCC match besides the
 * raw header, so that an address written with comments or folding
 * still matches its plain local@host form (as Dovecot does). */
void
mime_addr_plain(struct buf *out, struct arena *ar, const char *v, size_t n)
{
	struct alex l = { v, n, 0, { 0 } };
	struct addr a;
	bool group;
	size_t count = 0;

	mbuf_init(&l.comment);
	mbuf_init(&a.name);
	mbuf_init(&a.route);
	mbuf_init(&a.mbox);
	mbuf_init(&a.host);
	while (l.i < l.n && count < MAX_ADDRS) {
		char c = lex_peek(&l);
		size_t ulen;
		char *u;

		if (c == '\0')
			break;
		if (c == ',' || c == ';') {
			l.i++;
			continue;
		}
		if (!parse_mailbox(&l, &a, &group) || group)
			continue;
		if (count++ > 0)
			buf_adds(out, ", ");
		u = hdr_unfold(ar, buf_ptr(&a.name), buf_len(&a.name), true, &ulen);
		if (u != NULL && ulen > 0) {
			buf_add(out, u, ulen);
			buf_addc(out, ' ');
		}
		buf_addc(out, '<');
		buf_add(out, buf_ptr(&a.mbox), buf_len(&a.mbox));
		if (buf_len(&a.host) > 0) {
			buf_addc(out, '@');
			buf_add(out, buf_ptr(&a.host), buf_len(&a.host));
		}
		buf_addc(out, '>');
	}
	buf_free(&l.comment);
	buf_free(&a.name);
	buf_free(&a.route);
	buf_free(&a.mbox);
	buf_free(&a.host);
}

/* The first address of one field value into a; false if none.  A
 * group comes first as its start, as in ENVELOPE: the group's name is
 * the mailbox (what Dovecot sorts a group by, and imaptest expects). */
static bool
first_in_value(struct addr *a, const char *v, size_t n)
{
	struct alex l = { v, n, 0, { 0 } };
	bool group = false, found = false;

	mbuf_init(&l.comment);
	while (!found && l.i < l.n) {
		char c = lex_peek(&l);

		if (c == '\0')
			break;
		if (c == ',' || c == ';') {
			l.i++;
			continue;
		}
		found = parse_mailbox(&l, a, &group);
	}
	if (found && group) {
		buf_reset(&a->mbox);
		buf_add(&a->mbox, buf_ptr(&a->name), buf_len(&a->name));
		buf_reset(&a->name);
		buf_reset(&a->host);
	}
	buf_free(&l.comment);
	return found;
}

bool
mime_first_addr(struct arena *ar, const char *h, size_t hlen,
    const char *name, struct mime_addr *out)
{
	struct hfield f;
	struct addr a;
	size_t pos = 0;
	bool found = false;

	mbuf_init(&a.name);
	mbuf_init(&a.route);
	mbuf_init(&a.mbox);
	mbuf_init(&a.host);
	while (!found && hdr_next(h, hlen, &pos, &f))
		found = name_is(f.name, f.nlen, name) &&
		    first_in_value(&a, f.val, f.vlen);
	if (found) {
		out->name = arena_strndup(ar, buf_ptr(&a.name), buf_len(&a.name));
		out->mbox = arena_strndup(ar, buf_ptr(&a.mbox), buf_len(&a.mbox));
		out->host = arena_strndup(ar, buf_ptr(&a.host), buf_len(&a.host));
		found = out->name != NULL && out->mbox != NULL &&
		    out->host != NULL;
	}
	buf_free(&a.name);
	buf_free(&a.route);
	buf_free(&a.mbox);
	buf_free(&a.host);
	return found;
}

/* Every field called name, merged into one address list (as Dovecot
 * does with duplicates); false, writing nothing, if it has no address. */
static bool
w_addrlist(struct buf *out, struct arena *ar, const char *h, size_t hlen,
    const char *name)
{
	struct hfield f;
	size_t pos = 0, count = 0;

	while (hdr_next(h, hlen, &pos, &f))
		if (name_is(f.name, f.nlen, name))
			w_addrs(out, ar, f.val, f.vlen, &count);
	if (count > 0)
		buf_addc(out, ')');
	return count > 0;
}

static void
w_text(struct buf *out, struct arena *ar, const char *h, size_t hlen,
    const char *name, bool humans)
{
	struct hfield f;
	size_t n;
	char *s;

	if (!hdr_find_last(h, hlen, name, &f) ||
	    (s = hdr_unfold(ar, f.val, f.vlen, humans, &n)) == NULL) {
		buf_adds(out, "NIL");
		return;
	}
	mw_string(out, s, n);
}

int
mime_envelope(struct buf *b, struct arena *a, const char *h, size_t hlen)
{
	static const char *const lists[] = {
		"From", "Sender", "Reply-To", "To", "Cc", "Bcc"
	};
	size_t i;

	buf_addc(b, '(');
	w_text(b, a, h, hlen, "Date", false);
	buf_addc(b, ' ');
	w_text(b, a, h, hlen, "Subject", true);
	for (i = 0; i < 6; i++) {
		buf_addc(b, ' ');
		if (w_addrlist(b, a, h, hlen, lists[i]))
			continue;
		/* Sender and Reply-To default to From (RFC 3501 7.4.2) */
		if ((i == 0 || i > 2 || !w_addrlist(b, a, h, hlen, "From")))
			buf_adds(b, "NIL");
	}
	buf_addc(b, ' ');
	w_text(b, a, h, hlen, "In-Reply-To", false);
	buf_addc(b, ' ');
	w_text(b, a, h, hlen, "Message-ID", false);
	buf_addc(b, ')');
	return 0;
}
