/*
 * pop3_parse.c - POP3 command lines and dot-stuffed message copies
 * (common/pop3.h).
 *
 * A command is a keyword of three or four characters, case-insensitive,
 * then its arguments separated by spaces (RFC 1939 3).  We take runs of
 * spaces as one separator, as typed by hand at a telnet prompt, except
 * in PASS: its one argument is the rest of the line, spaces included
 * (RFC 1939 7 allows a server to take it so, and passwords hold
 * spaces).  Message numbers are decimal, 1 to 2^32-1.
 */
#include "common/pop3.h"
#include "common/util.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char      *name;
	enum pop3_cmd_id id;
} keywords[] = {
	{ "APOP", POP3_APOP }, { "AUTH", POP3_AUTH }, { "CAPA", POP3_CAPA },
	{ "DELE", POP3_DELE }, { "LIST", POP3_LIST }, { "NOOP", POP3_NOOP },
	{ "PASS", POP3_PASS }, { "QUIT", POP3_QUIT }, { "RETR", POP3_RETR },
	{ "RSET", POP3_RSET }, { "STAT", POP3_STAT }, { "STLS", POP3_STLS },
	{ "TOP", POP3_TOP },   { "UIDL", POP3_UIDL }, { "USER", POP3_USER },
};

/* The keyword as the answer may quote it: upper case, printable only,
 * bounded, so that a hostile line cannot shape our reply. */
static const char *
keyword_name(struct arena *a, const char *p, size_t n)
{
	char tmp[17];
	size_t i;

	n = MK_MIN(n, sizeof(tmp) - 1);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		tmp[i] = ch > 0x20 && ch < 0x7f ? (char)toupper(ch) : '?';
	}
	tmp[i] = '\0';
	return arena_strdup(a, tmp);
}

/* The next space-separated word of [*p, end): its start and length, or
 * 0 when none is left. */
static size_t
next_word(const char **p, const char *end, const char **word)
{
	const char *s = *p, *e;

	while (s < end && *s == ' ')
		s++;
	for (e = s; e < end && *e != ' '; e++)
		;
	*word = s;
	*p = e;
	return (size_t)(e - s);
}

static bool
parse_number(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	char tmp[24];

	if (n == 0 || n >= sizeof(tmp))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return parse_u64(tmp, max, out);
}

static int
fail(const char **err, const char *why)
{
	*err = why;
	return -1;
}

/* Up to two words after the keyword; a third is an error. */
struct words {
	const char *w[2];
	size_t      n[2];
	int         count;
};

static int
split_args(const char *p, const char *end, struct words *w, const char **err)
{
	const char *word;
	size_t n;

	memset(w, 0, sizeof(*w));
	while ((n = next_word(&p, end, &word)) > 0) {
		if (w->count == 2)
			return fail(err, "Too many arguments");
		if (n > POP3_ARG_MAX)
			return fail(err, "Argument too long");
		w->w[w->count] = word;
		w->n[w->count] = n;
		w->count++;
	}
	return 0;
}

static int
message_number(struct pop3_cmd *cmd, const struct words *w, int i,
    const char **err)
{
	uint64_t v;

	if (!parse_number(w->w[i], w->n[i], UINT32_MAX, &v) || v == 0)
		return fail(err, "Invalid message number");
	cmd->msg = (uint32_t)v;
	cmd->has_msg = true;
	return 0;
}

/* How many arguments each command takes: [min, max]. */
static int
check_count(const struct pop3_cmd *cmd, const struct words *w,
    const char **err)
{
	int min = 0, max = 0;

	switch (cmd->id) {
	case POP3_USER: case POP3_RETR: case POP3_DELE:
		min = max = 1;
		break;
	case POP3_TOP: case POP3_APOP:
		min = max = 2;
		break;
	case POP3_LIST: case POP3_UIDL:
		max = 1;
		break;
	case POP3_AUTH:
		max = 2;
		break;
	default:
		break;
	}
	if (w->count < min)
		return fail(err, "Missing argument");
	if (w->count > max)
		return fail(err, max == 0 ? "This command takes no arguments" :
		    "Too many arguments");
	return 0;
}

static int
parse_args(struct arena *a, struct pop3_cmd *cmd, const char *p,
    const char *end, const char **err)
{
	struct words w;

	if (split_args(p, end, &w, err) == -1 || check_count(cmd, &w, err) == -1)
		return -1;
	switch (cmd->id) {
	case POP3_USER: case POP3_APOP:
		cmd->arg = arena_strndup(a, w.w[0], w.n[0]);
		cmd->arglen = w.n[0];
		return 0;
	case POP3_AUTH:
		if (w.count > 0)
			cmd->arg = arena_strndup(a, w.w[0], w.n[0]);
		if (w.count > 1)
			cmd->arg2 = arena_strndup(a, w.w[1], w.n[1]);
		return 0;
	case POP3_RETR: case POP3_DELE:
		return message_number(cmd, &w, 0, err);
	case POP3_LIST: case POP3_UIDL:
		return w.count == 0 ? 0 : message_number(cmd, &w, 0, err);
	case POP3_TOP:
		if (message_number(cmd, &w, 0, err) == -1)
			return -1;
		if (!parse_number(w.w[1], w.n[1], UINT64_MAX, &cmd->lines))
			return fail(err, "Invalid number of lines");
		return 0;
	default:
		return 0;
	}
}

/* PASS: the rest of the line after one space, verbatim. */
static int
parse_pass(struct arena *a, struct pop3_cmd *cmd, const char *p,
    const char *end, const char **err)
{
	if (p == end || p + 1 == end)
		return fail(err, "Missing argument");
	p++;
	cmd->arglen = (size_t)(end - p);
	cmd->arg = arena_strndup(a, p, cmd->arglen);
	return 0;
}

int
pop3_parse(struct arena *a, const char *line, size_t len,
    struct pop3_cmd *cmd, const char **err)
{
	const char *end = line + len, *p = line, *kw;
	size_t kwlen;

	memset(cmd, 0, sizeof(*cmd));
	*err = NULL;
	if (memchr(line, '\0', len) != NULL)
		return fail(err, "NUL in command line");
	kwlen = next_word(&p, end, &kw);
	if (kwlen == 0)
		return fail(err, "Empty command");
	cmd->name = keyword_name(a, kw, kwlen);
	if (cmd->name == NULL)
		return fail(err, "Out of memory");
	for (size_t i = 0; i < nitems(keywords); i++)
		if (strlen(keywords[i].name) == kwlen &&
		    strncasecmp(keywords[i].name, kw, kwlen) == 0)
			cmd->id = keywords[i].id;
	if (cmd->id == POP3_UNKNOWN)
		return fail(err, "Unknown command");
	if (cmd->id == POP3_PASS)
		return parse_pass(a, cmd, p, end, err);
	return parse_args(a, cmd, p, end, err);
}

/* ---- dot-stuffed copies ---- */

void
pop3_stuff_init(struct pop3_stuffer *st, bool top, uint64_t lines)
{
	memset(st, 0, sizeof(*st));
	st->bol = true;
	st->in_header = true;
	st->limited = top;
	st->body_left = lines;
	st->ended_nl = true;	/* an empty message needs no CRLF */
}

/* A line ended: the empty line closes the header; for TOP each body
 * line counts. */
static void
line_ended(struct pop3_stuffer *st)
{
	bool empty = st->linelen == 1 || (st->linelen == 2 && st->first == '\r');

	if (st->in_header) {
		if (empty)
			st->in_header = false;
	} else if (st->limited && st->body_left > 0)
		st->body_left--;
	st->linelen = 0;
	st->bol = true;
}

int
pop3_stuff(struct pop3_stuffer *st, const char *in, size_t n,
    struct buf *out, size_t *consumed)
{
	size_t i = 0;

	while (i < n) {
		if (st->bol && st->limited && !st->in_header &&
		    st->body_left == 0) {
			st->done = true;
			break;
		}
		if (st->bol) {
			st->first = in[i];
			if (in[i] == '.' && buf_addc(out, '.') == -1)
				return -1;
		}
		const char *nl = memchr(in + i, '\n', n - i);
		size_t seg = nl != NULL ? (size_t)(nl - (in + i)) + 1 : n - i;
		if (buf_add(out, in + i, seg) == -1)
			return -1;
		st->linelen += seg;
		st->bol = false;
		st->ended_nl = nl != NULL;
		i += seg;
		if (nl != NULL)
			line_ended(st);
	}
	*consumed = i;
	return 0;
}

int
pop3_stuff_end(struct pop3_stuffer *st, struct buf *out)
{
	if (!st->ended_nl && buf_adds(out, "\r\n") == -1)
		return -1;
	return buf_adds(out, ".\r\n");
}
