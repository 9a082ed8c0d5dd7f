/*
 * fuzz_pop3.c - libFuzzer target for the POP3 grammar (common/pop3.h).
 *
 * The whole input is parsed as one command line (what a client sends
 * the login or the mailbox process), and a parsed command is checked
 * for what the callers rely on.  The same bytes are then taken as a
 * message: the dot-stuffed RETR copy, fed in pieces whose size the
 * first byte chooses, must give the message back when unstuffed (plus
 * the CRLF added to an unterminated last line), and a TOP copy must be
 * a prefix of it.
 * Run: meson test -C <build> --suite fuzz (see tests/fuzz/meson.build).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/pop3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct arena A;

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_pop3: invariant failed: %s\n", what);
		abort();
	}
}

static void
parse_line(const char *p, size_t n)
{
	struct pop3_cmd c;
	const char *err;
	int rc = pop3_parse(&A, p, n, &c, &err);

	if (rc == -1) {
		check(err != NULL, "a refusal has a reason");
		return;
	}
	check(c.id != POP3_UNKNOWN && c.name != NULL, "a known command");
	check(!c.has_msg || c.msg >= 1, "message numbers start at 1");
	check((c.id != POP3_RETR && c.id != POP3_DELE && c.id != POP3_TOP) ||
	    c.has_msg, "RETR, DELE and TOP name a message");
	check((c.id != POP3_USER && c.id != POP3_PASS) ||
	    (c.arg != NULL && c.arglen > 0), "USER and PASS have an argument");
}

/* The stuffed copy of p[0..n) in pieces of `piece` bytes. */
static void
stuff(const char *p, size_t n, size_t piece, bool top, uint64_t lines,
    struct buf *out)
{
	struct pop3_stuffer st;
	size_t off = 0, used;

	pop3_stuff_init(&st, top, lines);
	while (off < n && !st.done) {
		size_t take = n - off < piece ? n - off : piece;
		check(pop3_stuff(&st, p + off, take, out, &used) == 0, "stuff");
		check(used == take || st.done, "all taken unless TOP is done");
		off += used;
	}
	check(pop3_stuff_end(&st, out) == 0, "end");
}

/* Drops the "." stuffed before each line that starts with one, and the
 * terminating ".CRLF". */
static void
unstuff(const struct buf *in, struct buf *out)
{
	const char *p = buf_ptr(in), *end = p + buf_len(in);

	check(buf_len(in) >= 3 && memcmp(end - 3, ".\r\n", 3) == 0,
	    "terminated");
	end -= 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl != NULL ? nl + 1 : end;
		if (*p == '.') {
			check(e - p >= 2 && p[1] == '.', "a stuffed line");
			p++;
		}
		buf_add(out, p, (size_t)(e - p));
		p = e;
	}
}

static void
message(const char *p, size_t n, uint8_t ctl)
{
	struct buf retr, top, plain;
	size_t piece = (size_t)(ctl % 64) + 1;

	buf_init(&retr, 0);
	buf_init(&top, 0);
	buf_init(&plain, 0);
	stuff(p, n, piece, false, 0, &retr);
	stuff(p, n, piece, true, ctl % 5, &top);
	unstuff(&retr, &plain);
	bool added = n > 0 && p[n - 1] != '\n';
	check(buf_len(&plain) == n + (added ? 2 : 0), "unstuffed length");
	check(n == 0 || memcmp(buf_ptr(&plain), p, n) == 0, "unstuffed bytes");
	/* TOP stops at the start of a line, or sends all that RETR does. */
	size_t tl = buf_len(&top) - 3;
	check(tl <= buf_len(&retr) - 3, "TOP is no longer than RETR");
	check(tl == 0 || memcmp(buf_ptr(&top), buf_ptr(&retr), tl) == 0,
	    "TOP is a prefix of RETR");
	buf_free(&retr);
	buf_free(&top);
	buf_free(&plain);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (A.max == 0)
		arena_init(&A, 1 << 20);
	arena_reset(&A);
	if (size == 0)
		return 0;
	parse_line((const char *)data + 1, size - 1);
	message((const char *)data + 1, size - 1, data[0]);
	return 0;
}
