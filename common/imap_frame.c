/*
 * imap_frame.c - assembles IMAP commands (lines plus literals) from a
 * byte stream, enforcing size limits; see imap_frame.h.
 *
 * Used by the login process and the mailbox process for every client
 * connection.  The framer never holds more than max_command bytes (plus
 * a few for line endings): an over-long line is skipped keeping only its
 * last bytes (to see whether it announces a literal), and a literal that
 * is too large is refused (synchronizing: the client waits for "+" and
 * never sends it), skipped (non-synchronizing but within the per-literal
 * limit) or fatal (resynchronizing would mean reading without bound).
 *
 * An assembled command is its first line without CRLF and, for each
 * literal, CRLF then the literal bytes then the next line.  Line endings
 * before literals are normalized to CRLF so the parser sees one form.
 * Empty lines between commands are ignored, as a telnet user expects.
 */
#include "common/imap_frame.h"
#include "common/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum {
	ST_LINE,		/* reading a line into cmd */
	ST_LITERAL,		/* copying literal bytes into cmd */
	ST_WAIT,		/* a {n} needs accept/reject */
	ST_COMMAND,		/* a complete command awaits imap_frame_done */
	ST_SKIP_LINE,		/* discarding the rest of a rejected command's line */
	ST_SKIP_LITERAL,	/* discarding a rejected command's literal */
	ST_SKIP_BARE,		/* discarding an over-long bare line */
	ST_FATAL,
};

/* Internal steps return a frame_result, or this to keep going. */
#define FRAME_CONTINUE (-1)
/* spool_literal(): the literal will be spooled (else it was refused). */
#define SPOOL_OK (-2)

#define TAG_MAX 64

/* Spooled literals per command: MULTIAPPEND takes at most 1000
 * messages (IP_MAX_APPEND_MSGS); beyond this the command is refused. */
#define SPOOLED_MAX 1024

/* A command buffer that grew beyond this is freed after the command. */
#define CMD_KEEP (256 * 1024)

struct lit {
	size_t n;		/* SIZE_MAX if the number overflowed */
	bool   nonsync;
};

void
imap_framer_init(struct imap_framer *f, const struct imap_frame_limits *lim)
{
	memset(f, 0, sizeof(*f));
	f->lim = *lim;
	/* The command plus the CRLF written before the last literal. */
	buf_init(&f->cmd, lim->max_command + 4);
	f->state = ST_LINE;
	f->err_resp = "BAD";
	f->spool_fd = -1;
	mk_strlcpy(f->err_tag, "*", sizeof(f->err_tag));
}

static void
spool_reset(struct imap_framer *f)
{
	if (f->spool_fd != -1)
		close(f->spool_fd);
	f->spool_fd = -1;
	f->spool_len = 0;
	f->nspooled = 0;
	f->spooling = false;
}

void
imap_framer_free(struct imap_framer *f)
{
	spool_reset(f);
	free(f->spooled);
	f->spooled = NULL;
	f->capspooled = 0;
	buf_free(&f->cmd);
}

void
imap_framer_rest(struct imap_framer *f)
{
	if (f->state == ST_LINE && f->cmd.len == 0)
		buf_free(&f->cmd);
}

void
imap_framer_set_spool(struct imap_framer *f, const struct imap_frame_spool *sp)
{
	f->spool = *sp;
}

/* ASTRING-CHAR except "+", the tag alphabet of RFC 3501. */
static bool
tag_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\+", c) == NULL;
}

/* Length of the tag at the start of s, 0 if there is no valid one. */
static size_t
tag_len(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i <= TAG_MAX && tag_char((unsigned char)s[i]); i++)
		;
	if (i == 0 || i > TAG_MAX || (i < n && s[i] != ' '))
		return 0;
	return i;
}

/* "tag APPEND" (the command word alone or followed by SP). */
static bool
detect_append(const char *s, size_t n)
{
	size_t t = tag_len(s, n);

	if (t == 0 || t + 7 > n || strncasecmp(s + t + 1, "APPEND", 6) != 0)
		return false;
	return t + 7 == n || s[t + 7] == ' ';
}

/* Fills err_tag from the first line, which must still be in cmd. */
static void
note_tag(struct imap_framer *f)
{
	size_t t = tag_len(buf_ptr(&f->cmd), f->cmd.len);

	if (t == 0)
		mk_strlcpy(f->err_tag, "*", sizeof(f->err_tag));
	else {
		memcpy(f->err_tag, buf_ptr(&f->cmd), t);
		f->err_tag[t] = '\0';
	}
}

static void
note_error(struct imap_framer *f, const char *resp, const char *text)
{
	note_tag(f);
	f->err_resp = resp;
	mk_strlcpy(f->err_text, text, sizeof(f->err_text));
}

/* A line ending in "{n}", "{n+}", "~{n}" or "~{n+}".  truncated: s is
 * only the end of the line, so digits reaching its start may be the
 * tail of an enormous number; that counts as a huge literal. */
static bool
find_literal(const char *s, size_t n, bool truncated, struct lit *l)
{
	size_t e, b, i;

	if (n < 3 || s[n - 1] != '}')
		return false;
	e = n - 1;
	l->nonsync = s[e - 1] == '+';
	if (l->nonsync)
		e--;
	for (b = e; b > 0 && s[b - 1] >= '0' && s[b - 1] <= '9'; b--)
		;
	if (b == e)
		return false;
	if (b == 0) {
		if (!truncated)
			return false;
		l->n = SIZE_MAX;
		return true;
	}
	if (s[b - 1] != '{')
		return false;
	l->n = 0;
	for (i = b; i < e; i++) {
		size_t d = (size_t)(s[i] - '0');
		if (l->n > (SIZE_MAX - d) / 10) {
			l->n = SIZE_MAX;
			break;
		}
		l->n = l->n * 10 + d;
	}
	return true;
}

static size_t
literal_limit(const struct imap_framer *f)
{
	return f->is_append ? f->lim.max_append : f->lim.max_literal;
}

static void
clear_command(struct imap_framer *f)
{
	spool_reset(f);
	buf_reset(&f->cmd);
	f->line_start = 0;
	f->is_append = false;
	f->literal_left = 0;
	f->nonsync = false;
}

/* Ends a rejected command; err_* were set by note_error(). */
static int
frame_bad(struct imap_framer *f)
{
	clear_command(f);
	f->state = ST_LINE;
	return FRAME_BAD;
}

static int
frame_fatal(struct imap_framer *f, const char *text)
{
	clear_command(f);
	f->err_resp = "BYE";
	mk_strlcpy(f->err_tag, "*", sizeof(f->err_tag));
	mk_strlcpy(f->err_text, text, sizeof(f->err_text));
	f->state = ST_FATAL;
	return FRAME_FATAL;
}

/* After a rejection the client still sends a non-synchronizing literal;
 * swallow it (and the rest of its command) if that is bounded. */
static int
skip_literal(struct imap_framer *f, const struct lit *l)
{
	if (l->n > literal_limit(f))
		return frame_fatal(f, "Literal too large");
	buf_reset(&f->cmd);
	f->skip_left = l->n;
	f->state = ST_SKIP_LITERAL;
	return FRAME_CONTINUE;
}

/* Refuses literal l of the current line: the client waits for "+" in
 * vain and drops the command, or sends it anyway and it is skipped. */
static int
refuse_literal(struct imap_framer *f, const struct lit *l, const char *resp,
    const char *text)
{
	note_error(f, resp, text);
	if (!l->nonsync)
		return frame_bad(f);
	return skip_literal(f, l);
}

/* Should literal l go to the spool file rather than the buffer? */
static bool
want_spool(const struct imap_framer *f, const struct lit *l)
{
	return f->is_append && f->spool.open != NULL &&
	    (l->n >= f->spool.min || f->cmd.len + l->n > f->spool.cmd_max);
}

/* Prepares the spool file for literal l, whose bytes start at cmd.len:
 * SPOOL_OK, or what refusing it returned. */
static int
spool_literal(struct imap_framer *f, const struct lit *l)
{
	struct imap_spooled *sp;

	if (f->nspooled >= SPOOLED_MAX)
		return refuse_literal(f, l, "BAD", "Too many messages");
	if (f->spool.check != NULL &&
	    f->spool.check(f->spool.arg, buf_ptr(&f->cmd), f->cmd.len,
	    f->spool_len + l->n) == -1)
		return refuse_literal(f, l, "NO [OVERQUOTA]", "Quota exceeded");
	if (f->spool_fd == -1 && (f->spool_fd = f->spool.open(f->spool.arg)) == -1)
		return refuse_literal(f, l, "NO [SERVERBUG]",
		    "Can't take the message now");
	if (f->nspooled == f->capspooled) {
		f->capspooled = f->capspooled ? f->capspooled * 2 : 4;
		f->spooled = xreallocarray(f->spooled, f->capspooled,
		    sizeof(*f->spooled));
	}
	sp = &f->spooled[f->nspooled++];
	sp->at = f->cmd.len;
	sp->off = f->spool_len;
	sp->len = l->n;
	f->spooling = true;
	return SPOOL_OK;
}

/* The line just read into cmd announces literal l. */
static int
start_literal(struct imap_framer *f, const struct lit *l)
{
	size_t limit = literal_limit(f);
	/* Spooled literals count towards the command's size as well. */
	size_t used = f->cmd.len + 2 + (size_t)MK_MIN(f->spool_len,
	    (uint64_t)f->lim.max_command);
	size_t room = f->lim.max_command > used ? f->lim.max_command - used : 0;
	int r;

	if (l->nonsync && !f->lim.literal_plus) {
		note_error(f, "BAD", "Non-synchronizing literals not allowed");
		return skip_literal(f, l);
	}
	if (l->n > limit || l->n > room) {
		const char *text = l->n > limit ? "Literal too large" :
		    "Command too long";

		/* An APPEND too big to take is NO [TOOBIG] (RFC 4469, 7889). */
		return refuse_literal(f, l, f->is_append ? "NO [TOOBIG]" : "BAD",
		    text);
	}
	if (buf_add(&f->cmd, "\r\n", 2) == -1)
		return frame_fatal(f, "Command too long");
	f->spooling = false;
	if (want_spool(f, l) && (r = spool_literal(f, l)) != SPOOL_OK)
		return r;
	f->nonsync = l->nonsync;
	f->literal_size = l->n;
	if (l->nonsync) {
		f->literal_left = l->n;
		f->state = ST_LITERAL;
		return FRAME_CONTINUE;
	}
	note_tag(f);
	f->state = ST_WAIT;
	return FRAME_LITERAL_WAIT;
}

/* Keeps the last bytes of a line being skipped. */
static void
tail_add(struct imap_framer *f, const char *p, size_t n)
{
	size_t cap = sizeof(f->tail);

	if (n >= cap) {
		memcpy(f->tail, p + n - cap, cap);
		f->ntail = cap;
	} else {
		if (f->ntail + n > cap) {
			size_t drop = f->ntail + n - cap;
			memmove(f->tail, f->tail + drop, f->ntail - drop);
			f->ntail -= drop;
		}
		memcpy(f->tail + f->ntail, p, n);
		f->ntail += n;
	}
}

/* A rejected command's line ended: does the client go on sending? */
static int
skipped_line_end(struct imap_framer *f, bool truncated)
{
	struct lit l;
	size_t n = f->ntail;

	if (n > 0 && f->tail[n - 1] == '\r')
		n--;
	if (!find_literal(f->tail, n, truncated, &l) || !l.nonsync)
		return frame_bad(f);
	return skip_literal(f, &l);
}

/* Switches to skipping the rest of the current line; what the line had
 * so far seeds the tail. */
static void
begin_skip(struct imap_framer *f, const char *text, int skip_state)
{
	size_t linelen = f->cmd.len - f->line_start;

	if (f->line_start == 0)
		f->is_append = detect_append(buf_ptr(&f->cmd), f->cmd.len);
	note_error(f, "BAD", text);
	f->ntail = 0;
	tail_add(f, buf_ptr(&f->cmd) + f->line_start, linelen);
	/* skip_left counts the line's bytes, to know if tail is partial. */
	f->skip_left = linelen;
	buf_reset(&f->cmd);
	f->state = skip_state;
}

static const char *
overflow_text(const struct imap_framer *f, size_t linelen)
{
	return linelen > f->lim.max_line ? "Line too long" : "Command too long";
}

/* A complete line is in cmd (without its ending). */
static int
line_done(struct imap_framer *f, bool bare)
{
	size_t linelen = f->cmd.len - f->line_start;
	const char *line = buf_ptr(&f->cmd) + f->line_start;
	struct lit l;

	if (linelen > f->lim.max_line || f->cmd.len > f->lim.max_command) {
		begin_skip(f, overflow_text(f, linelen),
		    bare ? ST_SKIP_BARE : ST_SKIP_LINE);
		if (bare) {
			mk_strlcpy(f->err_tag, "*", sizeof(f->err_tag));
			return frame_bad(f);
		}
		return skipped_line_end(f, f->skip_left > f->ntail);
	}
	if (bare) {
		f->state = ST_COMMAND;
		return FRAME_COMMAND;
	}
	if (f->cmd.len == 0)		/* empty line between commands */
		return FRAME_CONTINUE;
	if (f->line_start == 0)
		f->is_append = detect_append(line, linelen);
	if (!find_literal(line, linelen, false, &l)) {
		f->state = ST_COMMAND;
		return FRAME_COMMAND;
	}
	return start_literal(f, &l);
}

static int
read_line(struct imap_framer *f, struct buf *in, bool bare)
{
	const char *p = buf_ptr(in);
	const char *lf = memchr(p, '\n', buf_len(in));
	size_t take = lf ? (size_t)(lf - p) : buf_len(in);
	size_t linelen = f->cmd.len - f->line_start;
	/* One byte of slack for the CR that may precede the LF. */
	size_t line_room = f->lim.max_line + 1 - MK_MIN(linelen, f->lim.max_line + 1);
	size_t cmd_room = f->lim.max_command + 1 -
	    MK_MIN(f->cmd.len, f->lim.max_command + 1);
	size_t room = MK_MIN(line_room, cmd_room);

	if (take > room) {
		if (buf_add(&f->cmd, p, room) == -1)
			return frame_fatal(f, "Command too long");
		buf_consume(in, room);
		begin_skip(f, overflow_text(f, linelen + take),
		    bare ? ST_SKIP_BARE : ST_SKIP_LINE);
		return FRAME_CONTINUE;
	}
	if (buf_add(&f->cmd, p, take) == -1)
		return frame_fatal(f, "Command too long");
	buf_consume(in, take + (lf != NULL));
	if (lf == NULL)
		return FRAME_MORE;
	if (f->cmd.len > f->line_start && buf_ptr(&f->cmd)[f->cmd.len - 1] == '\r')
		f->cmd.len--;
	return line_done(f, bare);
}

static int
skip_line(struct imap_framer *f, struct buf *in)
{
	const char *p = buf_ptr(in);
	const char *lf = memchr(p, '\n', buf_len(in));
	size_t take = lf ? (size_t)(lf - p) : buf_len(in);

	tail_add(f, p, take);
	f->skip_left = f->skip_left > SIZE_MAX - take ? SIZE_MAX :
	    f->skip_left + take;
	buf_consume(in, take + (lf != NULL));
	if (lf == NULL)
		return FRAME_MORE;
	if (f->state == ST_SKIP_BARE) {
		mk_strlcpy(f->err_tag, "*", sizeof(f->err_tag));
		return frame_bad(f);
	}
	return skipped_line_end(f, f->skip_left > f->ntail);
}

/* Writes literal bytes to the spool file; -1 with errno on failure. */
static int
spool_write(struct imap_framer *f, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(f->spool_fd, p, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		f->spool_len += (uint64_t)w;
	}
	return 0;
}

/* The spool file took no more (disk full, quota of the file system):
 * the rest of the literal and its command are read and dropped. */
static int
spool_failed(struct imap_framer *f, int err, size_t left)
{
	bool full = err == ENOSPC || err == EDQUOT;

	note_error(f, full ? "NO [OVERQUOTA]" : "NO [SERVERBUG]",
	    full ? "No space to store the message" : "Can't store the message");
	spool_reset(f);
	buf_reset(&f->cmd);
	f->skip_left = left;
	f->literal_left = 0;
	f->state = ST_SKIP_LITERAL;
	return FRAME_CONTINUE;
}

static int
copy_literal(struct imap_framer *f, struct buf *in, bool keep)
{
	size_t *left = keep ? &f->literal_left : &f->skip_left;
	size_t n = MK_MIN(*left, buf_len(in));

	if (n > 0) {
		if (keep && f->spooling) {
			if (spool_write(f, buf_ptr(in), n) == -1) {
				int e = errno;
				buf_consume(in, n);
				return spool_failed(f, e, *left - n);
			}
		} else if (keep && buf_add(&f->cmd, buf_ptr(in), n) == -1)
			return frame_fatal(f, "Command too long");
		buf_consume(in, n);
	}
	*left -= n;
	if (*left > 0)
		return FRAME_MORE;
	if (keep) {
		f->spooling = false;
		f->line_start = f->cmd.len;
		f->state = ST_LINE;
	} else {
		f->ntail = 0;
		f->skip_left = 0;
		f->state = ST_SKIP_LINE;
	}
	return FRAME_CONTINUE;
}

static enum frame_result
run(struct imap_framer *f, struct buf *in, bool bare)
{
	int r;

	for (;;) {
		switch (f->state) {
		case ST_COMMAND:
			return FRAME_COMMAND;
		case ST_WAIT:
			return FRAME_LITERAL_WAIT;
		case ST_FATAL:
			return FRAME_FATAL;
		case ST_LITERAL:
			r = copy_literal(f, in, true);
			break;
		case ST_SKIP_LITERAL:
			r = copy_literal(f, in, false);
			break;
		case ST_SKIP_LINE:
		case ST_SKIP_BARE:
			if (buf_len(in) == 0)
				return FRAME_MORE;
			r = skip_line(f, in);
			break;
		default:
			if (buf_len(in) == 0)
				return FRAME_MORE;
			r = read_line(f, in, bare);
			break;
		}
		if (r != FRAME_CONTINUE)
			return (enum frame_result)r;
	}
}

enum frame_result
imap_frame(struct imap_framer *f, struct buf *in)
{
	return run(f, in, false);
}

enum frame_result
imap_frame_line(struct imap_framer *f, struct buf *in)
{
	return run(f, in, true);
}

void
imap_frame_accept(struct imap_framer *f)
{
	if (f->state != ST_WAIT)
		return;
	f->literal_left = f->literal_size;
	f->state = ST_LITERAL;
}

void
imap_frame_reject(struct imap_framer *f)
{
	if (f->state != ST_WAIT)
		return;
	clear_command(f);
	f->state = ST_LINE;
}

const char *
imap_frame_data(const struct imap_framer *f, size_t *len)
{
	*len = f->cmd.len;
	return f->cmd.data != NULL ? buf_ptr(&f->cmd) : "";
}

const struct imap_spooled *
imap_frame_spooled(const struct imap_framer *f, size_t *n)
{
	*n = f->state == ST_COMMAND ? f->nspooled : 0;
	return f->spooled;
}

int
imap_frame_take_spool(struct imap_framer *f)
{
	int fd = f->spool_fd;

	f->spool_fd = -1;
	return fd;
}

void
imap_frame_done(struct imap_framer *f)
{
	if (f->state != ST_COMMAND)
		return;
	clear_command(f);
	if (f->cmd.cap > CMD_KEEP)
		buf_free(&f->cmd);
	if (f->capspooled > 16) {
		free(f->spooled);
		f->spooled = NULL;
		f->capspooled = 0;
	}
	f->state = ST_LINE;
}

bool
imap_frame_busy(const struct imap_framer *f)
{
	switch (f->state) {
	case ST_LINE:
		return f->cmd.len > 0;
	case ST_FATAL:
		return false;
	default:
		return true;
	}
}
