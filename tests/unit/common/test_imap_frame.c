/*
 * test_imap_frame.c - the framer: byte-by-byte and pipelined input,
 * every literal form split at every byte boundary, each limit and how
 * the framer resynchronizes after it.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/arena.h"
#include "common/imap.h"
#include "common/imap_frame.h"
#include "common/util.h"

#include <fcntl.h>
#include <unistd.h>

static const struct imap_frame_limits deflim = {
	.max_line = 64, .max_literal = 100, .max_append = 1000,
	.max_command = 2000, .literal_plus = true,
};

/* What a connection would see: each event rendered as text.
 *   C:<data>   command          W:<n>   literal wait (then accepted)
 *   B:<tag> <resp> <text>       F:<text>  fatal */
struct trace {
	char   out[8192];
	size_t len;
	int    accept;	/* 1 accept literals, 0 reject them */
};

static void
trace_add(struct trace *t, const char *s, size_t n)
{
	if (t->len + n + 2 >= sizeof(t->out))
		return;
	memcpy(t->out + t->len, s, n);
	t->len += n;
	t->out[t->len++] = '|';
	t->out[t->len] = '\0';
}

/* Feeds whatever is in in; returns false once FATAL was seen. */
static bool
drain(struct imap_framer *f, struct buf *in, struct trace *t)
{
	char tmp[512];
	const char *d;
	size_t n;

	for (;;) {
		switch (imap_frame(f, in)) {
		case FRAME_MORE:
			return true;
		case FRAME_COMMAND:
			d = imap_frame_data(f, &n);
			trace_add(t, "C:", 2);
			t->len--;	/* glue "C:" to the data */
			trace_add(t, d, n);
			imap_frame_done(f);
			break;
		case FRAME_LITERAL_WAIT:
			n = (size_t)snprintf(tmp, sizeof(tmp), "W:%s %zu",
			    f->err_tag, f->literal_size);
			trace_add(t, tmp, n);
			if (t->accept)
				imap_frame_accept(f);
			else
				imap_frame_reject(f);
			break;
		case FRAME_BAD:
			n = (size_t)snprintf(tmp, sizeof(tmp), "B:%s %s %s",
			    f->err_tag, f->err_resp, f->err_text);
			trace_add(t, tmp, n);
			break;
		case FRAME_FATAL:
			n = (size_t)snprintf(tmp, sizeof(tmp), "F:%s", f->err_text);
			trace_add(t, tmp, n);
			return false;
		}
	}
}

/* Runs s through a framer in chunks of the given sizes (the last size
 * repeats); returns the trace. */
static const char *
run_chunks(const struct imap_frame_limits *lim, const char *s, size_t n,
    const size_t *sizes, size_t nsizes, int accept)
{
	static struct trace t;
	struct imap_framer f;
	struct buf in;
	size_t off = 0, k = 0;

	memset(&t, 0, sizeof(t));
	t.accept = accept;
	imap_framer_init(&f, lim);
	buf_init(&in, 0);
	while (off < n) {
		size_t c = sizes[k < nsizes ? k : nsizes - 1];
		k++;
		if (c > n - off)
			c = n - off;
		buf_add(&in, s + off, c);
		off += c;
		if (!drain(&f, &in, &t))
			break;
	}
	imap_framer_free(&f);
	buf_free(&in);
	return t.out;
}

static const char *
run_all(const struct imap_frame_limits *lim, const char *s, size_t n)
{
	size_t one = n ? n : 1;
	return run_chunks(lim, s, n, &one, 1, 1);
}

#define RUN(s) run_all(&deflim, (s), strlen(s))

/* The trace must be the same however the input is cut: whole, byte by
 * byte, and split in two and three pieces at every position. */
static void
check_all_splits(const struct imap_frame_limits *lim, const char *s, size_t n,
    const char *want)
{
	size_t i, j, one = 1;
	const char *got;

	got = run_all(lim, s, n);
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "\n  whole: got  %s\n         want %s\n", got, want);
		CU_FAIL("whole input");
		return;
	}
	CU_ASSERT_STRING_EQUAL(run_chunks(lim, s, n, &one, 1, 1), want);
	for (i = 1; i < n; i++) {
		size_t two[2] = { i, n };
		got = run_chunks(lim, s, n, two, 2, 1);
		if (strcmp(got, want) != 0) {
			fprintf(stderr, "\n  split at %zu: %s\n", i, got);
			CU_FAIL("split in two");
			return;
		}
		for (j = 1; i + j < n; j += 3) {
			size_t three[3] = { i, j, n };
			CU_ASSERT_STRING_EQUAL(run_chunks(lim, s, n, three, 3, 1),
			    want);
		}
	}
}

#define SPLITS(s, want) check_all_splits(&deflim, (s), sizeof(s) - 1, (want))

void
test_frame_simple_byte_by_byte(void)
{
	SPLITS("a NOOP\r\n", "C:a NOOP|");
}

void
test_frame_pipelined(void)
{
	SPLITS("a NOOP\r\nb CAPABILITY\r\nc LOGOUT\r\n",
	    "C:a NOOP|C:b CAPABILITY|C:c LOGOUT|");
}

void
test_frame_bare_lf(void)
{
	SPLITS("a NOOP\nb NOOP\r\n", "C:a NOOP|C:b NOOP|");
	/* Before a literal too: normalized to CRLF in the assembled data. */
	SPLITS("a LOGIN {1+}\nx y\n", "C:a LOGIN {1+}\r\nx y|");
}

void
test_frame_empty_lines_ignored(void)
{
	SPLITS("\r\n\na NOOP\r\n\r\n", "C:a NOOP|");
}

void
test_frame_incomplete_is_more(void)
{
	struct imap_framer f;
	struct buf in;

	imap_framer_init(&f, &deflim);
	buf_init(&in, 0);
	CU_ASSERT_FALSE(imap_frame_busy(&f));
	buf_adds(&in, "a NO");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_MORE);
	CU_ASSERT_EQUAL(buf_len(&in), 0);
	CU_ASSERT_TRUE(imap_frame_busy(&f));
	buf_adds(&in, "OP\r");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_MORE);
	buf_adds(&in, "\nb");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_COMMAND);
	/* Asking again without done() repeats the answer, consumes nothing. */
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_COMMAND);
	CU_ASSERT_EQUAL(buf_len(&in), 1);
	imap_frame_done(&f);
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_MORE);
	CU_ASSERT_TRUE(imap_frame_busy(&f));
	imap_framer_free(&f);
	buf_free(&in);
}

void
test_frame_sync_literals(void)
{
	SPLITS("a LOGIN {5}\r\nalice {6}\r\nsecret\r\nb NOOP\r\n",
	    "W:a 5|W:a 6|C:a LOGIN {5}\r\nalice {6}\r\nsecret|C:b NOOP|");
}

void
test_frame_nonsync_literals(void)
{
	SPLITS("a LOGIN {5+}\r\nalice {6+}\r\nsecret\r\nb NOOP\r\n",
	    "C:a LOGIN {5+}\r\nalice {6+}\r\nsecret|C:b NOOP|");
}

void
test_frame_literal_holding_crlf_and_braces(void)
{
	/* A literal's bytes are data, even if they look like a line end
	 * or a literal announcement. */
	SPLITS("a X {9+}\r\n{3}\r\n\r\n\r\n\r\nb NOOP\r\n",
	    "C:a X {9+}\r\n{3}\r\n\r\n\r\n|C:b NOOP|");
	/* A literal ending in CR: that CR is data, not a line end. */
	SPLITS("a X {1+}\r\n\r\r\n", "C:a X {1+}\r\n\r|");
}

void
test_frame_zero_literals(void)
{
	SPLITS("a LOGIN {0}\r\n {0+}\r\n\r\n", "W:a 0|C:a LOGIN {0}\r\n {0+}\r\n|");
}

void
test_frame_literal8(void)
{
	static const char in[] = "a APPEND x ~{3}\r\n\0\1\2 ~{2+}\r\n\0\0\r\n";
	static const char want[] = "W:a 3|C:a APPEND x ~{3}\r\n\0\1\2 ~{2+}\r\n\0\0|";
	const char *got = run_all(&deflim, in, sizeof(in) - 1);

	CU_ASSERT_EQUAL(memcmp(got, want, sizeof(want)), 0);
}

void
test_frame_reject_literal(void)
{
	const char *s = "a LOGIN {5}\r\nb NOOP\r\n";
	size_t n = strlen(s), one = n;

	CU_ASSERT_STRING_EQUAL(run_chunks(&deflim, s, n, &one, 1, 0),
	    "W:a 5|C:b NOOP|");
}

void
test_frame_line_too_long(void)
{
	char s[300];

	/* 70 bytes > max_line 64; the next command is unaffected. */
	snprintf(s, sizeof(s), "tag1 NOOP %060d\r\nb NOOP\r\n", 0);
	check_all_splits(&deflim, s, strlen(s),
	    "B:tag1 BAD Line too long|C:b NOOP|");
	/* Exactly max_line is fine, with CRLF or bare LF. */
	snprintf(s, sizeof(s), "a NOOP %057d\r\n", 0);
	CU_ASSERT_EQUAL(strlen(s), 66);
	CU_ASSERT_EQUAL(strncmp(RUN(s), "C:a NOOP", 8), 0);
	snprintf(s, sizeof(s), "a NOOP %057d\n", 0);
	CU_ASSERT_EQUAL(strncmp(RUN(s), "C:a NOOP", 8), 0);
	/* One more is not. */
	snprintf(s, sizeof(s), "a NOOP %058d\n", 0);
	CU_ASSERT_STRING_EQUAL(RUN(s), "B:a BAD Line too long|");
}

void
test_frame_line_too_long_no_tag(void)
{
	char s[300];

	snprintf(s, sizeof(s), "+%0100d\r\nb NOOP\r\n", 0);
	CU_ASSERT_STRING_EQUAL(RUN(s), "B:* BAD Line too long|C:b NOOP|");
	/* A tag longer than 64 bytes is no tag. */
	snprintf(s, sizeof(s), "%070d NOOP\r\n", 0);
	CU_ASSERT_STRING_EQUAL(RUN(s), "B:* BAD Line too long|");
}

void
test_frame_long_line_with_nonsync_literal_is_skipped(void)
{
	char s[400];

	/* The client sends the literal without waiting: skip it, and the
	 * continuation line, then carry on. */
	snprintf(s, sizeof(s),
	    "a APPEND %060d {5+}\r\nhello {3+}\r\nabc\r\nb NOOP\r\n", 0);
	check_all_splits(&deflim, s, strlen(s),
	    "B:a BAD Line too long|C:b NOOP|");
}

void
test_frame_long_line_with_sync_literal_ends_command(void)
{
	char s[400];

	/* The client waits for "+" which never comes: the BAD ends it. */
	snprintf(s, sizeof(s), "a LOGIN %060d {5}\r\nb NOOP\r\n", 0);
	check_all_splits(&deflim, s, strlen(s),
	    "B:a BAD Line too long|C:b NOOP|");
}

void
test_frame_long_line_with_huge_nonsync_literal_is_fatal(void)
{
	char s[400];

	snprintf(s, sizeof(s), "a LOGIN %060d {101+}\r\n", 0);
	CU_ASSERT_STRING_EQUAL(RUN(s), "F:Literal too large|");
	/* An APPEND may skip up to max_append. */
	snprintf(s, sizeof(s), "a APPEND %060d {101+}\r\n%0101d\r\nb NOOP\r\n",
	    0, 0);
	CU_ASSERT_STRING_EQUAL(RUN(s), "B:a BAD Line too long|C:b NOOP|");
	/* So many digits that only their tail is kept: treated as huge. */
	snprintf(s, sizeof(s), "a LOGIN %060d {%040d5+}\r\n", 0, 0);
	CU_ASSERT_STRING_EQUAL(RUN(s), "F:Literal too large|");
	/* ... while in a line of normal length leading zeros are fine. */
	snprintf(s, sizeof(s), "a LOGIN {%040d5+}\r\nabcde x\r\n", 0);
	CU_ASSERT_EQUAL(strncmp(RUN(s), "C:a LOGIN {0", 12), 0);
	/* A truncated tail that is only digits, without any '}'... */
	snprintf(s, sizeof(s), "a LOGIN %0100d\r\nb NOOP\r\n", 0);
	CU_ASSERT_STRING_EQUAL(RUN(s), "B:a BAD Line too long|C:b NOOP|");
	/* Overflowing size_t. */
	snprintf(s, sizeof(s), "a LOGIN %060d {99999999999999999999999+}\r\n", 0);
	CU_ASSERT_STRING_EQUAL(RUN(s), "F:Literal too large|");
}

void
test_frame_sync_literal_too_large(void)
{
	SPLITS("a LOGIN {101}\r\nb NOOP\r\n",
	    "B:a BAD Literal too large|C:b NOOP|");
	SPLITS("a LOGIN {99999999999999999999999}\r\nb NOOP\r\n",
	    "B:a BAD Literal too large|C:b NOOP|");
	/* APPEND gets NO [TOOBIG], with its own limit. */
	SPLITS("a append INBOX {1001}\r\nb NOOP\r\n",
	    "B:a NO [TOOBIG] Literal too large|C:b NOOP|");
	CU_ASSERT_STRING_EQUAL(RUN("a APPEND INBOX {1000}\r\n"), "W:a 1000|");
	/* UID commands are never APPEND. */
	CU_ASSERT_STRING_EQUAL(RUN("a UID APPEND {101}\r\n"),
	    "B:a BAD Literal too large|");
	CU_ASSERT_STRING_EQUAL(RUN("a APPENDX {101}\r\n"),
	    "B:a BAD Literal too large|");
}

void
test_frame_nonsync_literal_too_large_is_fatal(void)
{
	CU_ASSERT_STRING_EQUAL(RUN("a LOGIN {101+}\r\n"), "F:Literal too large|");
	CU_ASSERT_STRING_EQUAL(RUN("a APPEND x {1001+}\r\n"),
	    "F:Literal too large|");
	/* After FATAL the framer stays fatal. */
	struct imap_framer f;
	struct buf in;
	imap_framer_init(&f, &deflim);
	buf_init(&in, 0);
	buf_adds(&in, "a LOGIN {101+}\r\nb NOOP\r\n");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_FATAL);
	CU_ASSERT_STRING_EQUAL(f.err_tag, "*");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_FATAL);
	imap_framer_free(&f);
	buf_free(&in);
}

void
test_frame_literal_plus_disabled(void)
{
	struct imap_frame_limits lim = deflim;

	lim.literal_plus = false;
	check_all_splits(&lim, "a LOGIN {3+}\r\nabc {2+}\r\nxy\r\nb NOOP\r\n",
	    sizeof("a LOGIN {3+}\r\nabc {2+}\r\nxy\r\nb NOOP\r\n") - 1,
	    "B:a BAD Non-synchronizing literals not allowed|C:b NOOP|");
	CU_ASSERT_STRING_EQUAL(run_all(&lim, "a LOGIN {101+}\r\n", 16),
	    "F:Literal too large|");
	/* Synchronizing ones still work. */
	CU_ASSERT_STRING_EQUAL(run_all(&lim, "a LOGIN {3}\r\nabc x\r\n", 20),
	    "W:a 3|C:a LOGIN {3}\r\nabc x|");
}

void
test_frame_command_too_long(void)
{
	struct imap_frame_limits lim = deflim;
	char s[600];

	lim.max_command = 120;
	/* 63 + 2 + 80 > 120: a sync literal is refused. */
	snprintf(s, sizeof(s), "a LOGIN %050d {80}\r\nb NOOP\r\n", 0);
	CU_ASSERT_STRING_EQUAL(run_all(&lim, s, strlen(s)),
	    "B:a BAD Command too long|C:b NOOP|");
	/* A non-sync one within max_literal is skipped. */
	snprintf(s, sizeof(s), "a LOGIN {60+}\r\n%060d {60+}\r\n%060d\r\nb NOOP\r\n",
	    0, 0);
	check_all_splits(&lim, s, strlen(s), "B:a BAD Command too long|C:b NOOP|");
	/* In APPEND that is NO [TOOBIG], and the message is skipped. */
	snprintf(s, sizeof(s), "a APPEND x {110+}\r\n%0110d\r\nb NOOP\r\n", 0);
	check_all_splits(&lim, s, strlen(s),
	    "B:a NO [TOOBIG] Command too long|C:b NOOP|");
	/* Continuation lines count too. */
	snprintf(s, sizeof(s), "a LOGIN {50+}\r\n%050d %060d\r\nb NOOP\r\n", 0, 0);
	CU_ASSERT_STRING_EQUAL(run_all(&lim, s, strlen(s)),
	    "B:a BAD Command too long|C:b NOOP|");
}

void
test_frame_memory_is_bounded(void)
{
	struct imap_framer f;
	struct buf in;
	char chunk[4096];
	int i;

	memset(chunk, 'x', sizeof(chunk));
	imap_framer_init(&f, &deflim);
	buf_init(&in, 0);
	buf_adds(&in, "a ");
	for (i = 0; i < 256; i++) {
		buf_add(&in, chunk, sizeof(chunk));
		CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_MORE);
		CU_ASSERT_TRUE(f.cmd.cap <= deflim.max_command + 8);
	}
	buf_adds(&in, "\r\nb NOOP\r\n");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_BAD);
	CU_ASSERT_STRING_EQUAL(f.err_tag, "a");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_COMMAND);
	imap_framer_free(&f);
	buf_free(&in);
}

void
test_frame_bare_line(void)
{
	struct imap_framer f;
	struct buf in;
	const char *d;
	size_t n;
	char big[200];

	imap_framer_init(&f, &deflim);
	buf_init(&in, 0);
	/* IDLE then DONE pipelined: the DONE is read as a bare line. */
	buf_adds(&in, "a IDLE\r\nDO");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_COMMAND);
	imap_frame_done(&f);
	CU_ASSERT_EQUAL(imap_frame_line(&f, &in), FRAME_MORE);
	buf_adds(&in, "NE\r\n\r\n{5}\r\n");
	CU_ASSERT_EQUAL(imap_frame_line(&f, &in), FRAME_COMMAND);
	d = imap_frame_data(&f, &n);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(memcmp(d, "DONE", 4), 0);
	imap_frame_done(&f);
	/* An empty line is a line (an empty SASL response). */
	CU_ASSERT_EQUAL(imap_frame_line(&f, &in), FRAME_COMMAND);
	imap_frame_data(&f, &n);
	CU_ASSERT_EQUAL(n, 0);
	imap_frame_done(&f);
	/* No literal processing. */
	CU_ASSERT_EQUAL(imap_frame_line(&f, &in), FRAME_COMMAND);
	d = imap_frame_data(&f, &n);
	CU_ASSERT_EQUAL(n, 3);
	imap_frame_done(&f);
	/* Too long: skipped, BAD, then the next line works. */
	memset(big, 'A', sizeof(big));
	buf_add(&in, big, sizeof(big));
	CU_ASSERT_EQUAL(imap_frame_line(&f, &in), FRAME_MORE);
	buf_adds(&in, "=\r\nabc\r\n");
	CU_ASSERT_EQUAL(imap_frame_line(&f, &in), FRAME_BAD);
	CU_ASSERT_STRING_EQUAL(f.err_text, "Line too long");
	CU_ASSERT_STRING_EQUAL(f.err_tag, "*");
	CU_ASSERT_EQUAL(imap_frame_line(&f, &in), FRAME_COMMAND);
	d = imap_frame_data(&f, &n);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(memcmp(d, "abc", 3), 0);
	imap_frame_done(&f);
	imap_framer_free(&f);
	buf_free(&in);
}

void
test_frame_busy_states(void)
{
	struct imap_framer f;
	struct buf in;

	imap_framer_init(&f, &deflim);
	buf_init(&in, 0);
	buf_adds(&in, "a LOGIN {3}\r\n");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_LITERAL_WAIT);
	CU_ASSERT_TRUE(imap_frame_busy(&f));
	CU_ASSERT_STRING_EQUAL(f.err_tag, "a");
	CU_ASSERT_EQUAL(f.literal_size, 3);
	/* Until accepted, it keeps waiting. */
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_LITERAL_WAIT);
	imap_frame_accept(&f);
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_MORE);
	CU_ASSERT_TRUE(imap_frame_busy(&f));
	buf_adds(&in, "ab");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_MORE);
	buf_adds(&in, "c x\r\n");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_COMMAND);
	CU_ASSERT_TRUE(imap_frame_busy(&f));
	imap_frame_done(&f);
	CU_ASSERT_FALSE(imap_frame_busy(&f));
	imap_framer_free(&f);
	buf_free(&in);
}

void
test_frame_cr_inside_line_kept(void)
{
	/* Only the CR before LF is a line ending; the parser judges others. */
	SPLITS("a NO\rOP\r\n", "C:a NO\rOP|");
}

void
test_frame_braces_not_at_end(void)
{
	SPLITS("a LOGIN {5} x\r\n", "C:a LOGIN {5} x|");
	SPLITS("a LOGIN x}\r\n", "C:a LOGIN x}|");
	SPLITS("a LOGIN {}\r\n", "C:a LOGIN {}|");
	SPLITS("a LOGIN {+}\r\n", "C:a LOGIN {+}|");
	SPLITS("a LOGIN {x5}\r\n", "C:a LOGIN {x5}|");
}

/* ---- spooling APPEND literals to a file (imap_frame_spool) ---- */

struct spool_ctx {
	int      dirfd;
	int      opened;
	uint64_t refuse_over;	/* check() refuses totals beyond this */
	uint64_t last_total;
};

static int
t_spool_open(void *arg)
{
	struct spool_ctx *x = arg;

	x->opened++;
	return mk_tmpfile(x->dirfd);
}

static int
t_spool_check(void *arg, const char *cmd, size_t len, uint64_t total)
{
	struct spool_ctx *x = arg;

	CU_ASSERT_TRUE(len > 9 && memcmp(cmd + 1, " APPEND ", 8) == 0);
	x->last_total = total;
	return total > x->refuse_over ? -1 : 0;
}

static void
spool_setup(struct imap_framer *f, struct spool_ctx *x, size_t min)
{
	struct imap_frame_spool sp = {
		.open = t_spool_open, .check = t_spool_check, .arg = x,
		.min = min, .cmd_max = 200,
	};

	memset(x, 0, sizeof(*x));
	x->dirfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	x->refuse_over = UINT64_MAX;
	CU_ASSERT_FATAL(x->dirfd != -1);
	imap_framer_init(f, &deflim);
	imap_framer_set_spool(f, &sp);
}

/* Feeds s in pieces of step bytes until a command is framed (literals
 * accepted); FRAME_COMMAND, or what ended the run. */
static enum frame_result
feed_until_command(struct imap_framer *f, struct buf *in, const char *s,
    size_t n, size_t step)
{
	size_t off = 0;

	for (;;) {
		enum frame_result r = imap_frame(f, in);
		if (r == FRAME_LITERAL_WAIT) {
			imap_frame_accept(f);
			continue;
		}
		if (r != FRAME_MORE)
			return r;
		if (off == n)
			return FRAME_MORE;
		size_t k = n - off < step ? n - off : step;
		buf_add(in, s + off, k);
		off += k;
	}
}

static void
file_is(int fd, uint64_t off, const char *want, size_t n)
{
	char got[512];

	CU_ASSERT_FATAL(n <= sizeof(got));
	CU_ASSERT_EQUAL(pread(fd, got, n, (off_t)off), (ssize_t)n);
	CU_ASSERT_EQUAL(memcmp(got, want, n), 0);
}

void
test_frame_spool_multiappend_every_split(void)
{
	/* Two literals of >= 20 bytes go to the file, the 3-byte one
	 * stays inline; the mailbox name literal (5) too. */
	static const char s[] =
	    "a APPEND {5}\r\nINBOX (\\Seen) {24}\r\n"
	    "Subject: one\r\n\r\nbody 1\r\n {3+}\r\nabc"
	    " ~{21+}\r\nSubject: 2\r\n\r\nb\0d\r\n\r\n\r\n";
	size_t n = sizeof(s) - 1;

	for (size_t step = 1; step <= n; step++) {
		struct imap_framer f;
		struct spool_ctx x;
		struct buf in;
		const struct imap_spooled *sp;
		size_t nsp, len;
		const char *d;
		int fd;

		spool_setup(&f, &x, 20);
		buf_init(&in, 0);
		CU_ASSERT_EQUAL_FATAL(feed_until_command(&f, &in, s, n, step),
		    FRAME_COMMAND);
		d = imap_frame_data(&f, &len);
		sp = imap_frame_spooled(&f, &nsp);
		CU_ASSERT_EQUAL_FATAL(nsp, 2);
		CU_ASSERT_EQUAL(x.opened, 1);
		CU_ASSERT_EQUAL(len, strlen("a APPEND {5}\r\nINBOX (\\Seen) "
		    "{24}\r\n {3+}\r\nabc ~{21+}\r\n"));
		CU_ASSERT_EQUAL(memcmp(d + sp[0].at - 6, "{24}\r\n", 6), 0);
		CU_ASSERT_EQUAL(memcmp(d + sp[1].at - 7, "{21+}\r\n", 7), 0);
		CU_ASSERT_EQUAL(sp[0].off, 0);
		CU_ASSERT_EQUAL(sp[0].len, 24);
		CU_ASSERT_EQUAL(sp[1].off, 24);
		CU_ASSERT_EQUAL(sp[1].len, 21);
		CU_ASSERT_EQUAL(x.last_total, 45);

		/* The parser reads them as spooled, the others inline. */
		struct arena a;
		struct imap_cmd cmd;
		const char *err = NULL;
		arena_init(&a, 0);
		CU_ASSERT_EQUAL_FATAL(imap_parse_spooled(&a, d, len, sp, nsp,
		    &cmd, &err), 0);
		const struct append_msg *m = cmd.u.append.msgs;
		CU_ASSERT_STRING_EQUAL(cmd.u.append.mailbox, "INBOX");
		CU_ASSERT_EQUAL(cmd.u.append.nmsgs, 3);
		CU_ASSERT_TRUE(m->spooled && m->data == NULL && m->len == 24 &&
		    m->spool_off == 0 && m->nflags == 1);
		m = m->next;
		CU_ASSERT_TRUE(!m->spooled && m->len == 3 &&
		    memcmp(m->data, "abc", 3) == 0);
		m = m->next;
		CU_ASSERT_TRUE(m->spooled && m->binary && m->len == 21 &&
		    m->spool_off == 24);
		arena_free(&a);

		fd = imap_frame_take_spool(&f);
		CU_ASSERT_FATAL(fd != -1);
		file_is(fd, 0, "Subject: one\r\n\r\nbody 1\r\n", 24);
		file_is(fd, 24, "Subject: 2\r\n\r\nb\0d\r\n\r\n", 21);
		close(fd);
		imap_frame_done(&f);
		/* The next command starts clean. */
		buf_adds(&in, "b NOOP\r\n");
		CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_COMMAND);
		CU_ASSERT_EQUAL((imap_frame_spooled(&f, &nsp), nsp), 0);
		imap_frame_done(&f);
		imap_framer_free(&f);
		buf_free(&in);
		close(x.dirfd);
	}
}

void
test_frame_spool_only_append(void)
{
	struct imap_framer f;
	struct spool_ctx x;
	struct buf in;
	size_t nsp;

	spool_setup(&f, &x, 1);
	buf_init(&in, 0);
	buf_adds(&in, "a LOGIN {3+}\r\nbob {2+}\r\npw\r\n");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_COMMAND);
	imap_frame_spooled(&f, &nsp);
	CU_ASSERT_EQUAL(nsp, 0);
	CU_ASSERT_EQUAL(x.opened, 0);
	imap_frame_done(&f);
	imap_framer_free(&f);
	buf_free(&in);
	close(x.dirfd);
}

void
test_frame_spool_refused_by_check(void)
{
	struct imap_framer f;
	struct spool_ctx x;
	struct buf in;

	spool_setup(&f, &x, 10);
	x.refuse_over = 30;
	buf_init(&in, 0);
	/* Synchronizing: refused before "+", nothing spooled. */
	buf_adds(&in, "a APPEND INBOX {40}\r\n");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_BAD);
	CU_ASSERT_STRING_EQUAL(f.err_tag, "a");
	CU_ASSERT_STRING_EQUAL(f.err_resp, "NO [OVERQUOTA]");
	CU_ASSERT_EQUAL(x.opened, 0);
	/* Non-synchronizing: the bytes are skipped; the second literal
	 * brings the command's total over. */
	buf_adds(&in, "b APPEND INBOX {20+}\r\n01234567890123456789"
	    " {20+}\r\n01234567890123456789\r\nc NOOP\r\n");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_BAD);
	CU_ASSERT_STRING_EQUAL(f.err_tag, "b");
	CU_ASSERT_STRING_EQUAL(f.err_resp, "NO [OVERQUOTA]");
	CU_ASSERT_EQUAL(x.last_total, 40);
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_COMMAND);
	CU_ASSERT_EQUAL(f.spool_fd, -1);	/* the refused one's file closed */
	imap_frame_done(&f);
	imap_framer_free(&f);
	buf_free(&in);
	close(x.dirfd);
}

void
test_frame_spooled_where_no_message_may_be(void)
{
	struct imap_framer f;
	struct spool_ctx x;
	struct buf in;
	const struct imap_spooled *sp;
	struct imap_cmd cmd;
	struct arena a;
	const char *d, *err = NULL;
	size_t len, nsp;

	/* A mailbox name of 30 bytes is spooled (min 10): "too long". */
	spool_setup(&f, &x, 10);
	buf_init(&in, 0);
	buf_adds(&in, "a APPEND {30+}\r\n012345678901234567890123456789 "
	    "{2+}\r\nhi\r\n");
	CU_ASSERT_EQUAL_FATAL(imap_frame(&f, &in), FRAME_COMMAND);
	d = imap_frame_data(&f, &len);
	sp = imap_frame_spooled(&f, &nsp);
	CU_ASSERT_EQUAL(nsp, 1);
	arena_init(&a, 0);
	CU_ASSERT_EQUAL(imap_parse_spooled(&a, d, len, sp, nsp, &cmd, &err), -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "too long"));
	arena_free(&a);
	imap_frame_done(&f);
	imap_framer_free(&f);
	buf_free(&in);
	close(x.dirfd);
}

void
test_frame_big_command_buffer_freed_after(void)
{
	struct imap_frame_limits lim = deflim;
	struct imap_framer f;
	struct buf in;
	char *lit = malloc(400 * 1024);

	lim.max_append = lim.max_command = 1024 * 1024;
	imap_framer_init(&f, &lim);
	buf_init(&in, 0);
	memset(lit, 'x', 400 * 1024);
	buf_printf(&in, "a APPEND INBOX {%d+}\r\n", 400 * 1024);
	buf_add(&in, lit, 400 * 1024);
	buf_adds(&in, "\r\n");
	CU_ASSERT_EQUAL(imap_frame(&f, &in), FRAME_COMMAND);
	CU_ASSERT_TRUE(f.cmd.cap > 400 * 1024);
	imap_frame_done(&f);
	CU_ASSERT_EQUAL(f.cmd.cap, 0);
	imap_framer_free(&f);
	buf_free(&in);
	free(lit);
}
