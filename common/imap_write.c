/*
 * imap_write.c - IMAP response syntax: atoms, quoted strings, literals.
 *
 * Used by every response writer (auth/login, daemon/mailbox) for strings
 * whose bytes come from users or messages: each helper picks the
 * smallest form that round-trips through a strict client parser.
 */
#include "common/imap_write.h"
#include "common/mutf7.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longer strings go as literals: some clients cap quoted strings. */
#define QUOTED_MAX 1024

/* ASTRING-CHAR of RFC 3501: ATOM-CHAR or "]". */
static bool
astring_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\", c) == NULL;
}

int
imapw_quotable(const char *s, size_t n)
{
	size_t i;

	if (n > QUOTED_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0 || c >= 0x80 || c == '\r' || c == '\n')
			return 0;
	}
	return 1;
}

static void
quoted(struct buf *b, const char *s, size_t n)
{
	size_t i, run = 0;

	(void)buf_addc(b, '"');
	for (i = 0; i < n; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		(void)buf_add(b, s + run, i - run);
		(void)buf_addc(b, '\\');
		run = i;
	}
	(void)buf_add(b, s + run, n - run);
	(void)buf_addc(b, '"');
}

void
imapw_literal(struct buf *b, const char *s, size_t n)
{
	(void)buf_printf(b, "{%zu}\r\n", n);
	(void)buf_add(b, s, n);
}

void
imapw_string(struct buf *b, const char *s, size_t n)
{
	if (imapw_quotable(s, n))
		quoted(b, s, n);
	else
		imapw_literal(b, s, n);
}

void
imapw_cstring(struct buf *b, const char *s)
{
	imapw_string(b, s, strlen(s));
}

void
imapw_nstring(struct buf *b, const char *s, size_t n)
{
	if (s == NULL)
		(void)buf_add(b, "NIL", 3);
	else
		imapw_string(b, s, n);
}

void
imapw_astring(struct buf *b, const char *s)
{
	size_t i, n = strlen(s);

	/* An atom "NIL" would read back as nil, not as the string. */
	if (n == 0 || n > QUOTED_MAX || strcasecmp(s, "NIL") == 0) {
		imapw_string(b, s, n);
		return;
	}
	for (i = 0; i < n; i++)
		if (!astring_char((unsigned char)s[i])) {
			imapw_string(b, s, n);
			return;
		}
	(void)buf_add(b, s, n);
}

void
imapw_mailbox(struct buf *b, const char *name)
{
	imapw_cstring(b, name);
}

void
imapw_mailbox_utf8(struct buf *b, const char *name)
{
	size_t n = strlen(name);

	/* RFC 6855 3 / RFC 9051 9: a quoted string may carry UTF-8. */
	if (n <= QUOTED_MAX && strpbrk(name, "\r\n") == NULL &&
	    utf8_valid(name))
		quoted(b, name, n);
	else
		imapw_literal(b, name, n);
}
