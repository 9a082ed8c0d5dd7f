/*
 * test_pop3_parse.c - the POP3 command parser and the dot-stuffed copy
 * (common/pop3_parse.c): every command with its argument forms, the
 * refusals that keep a session going, and RETR/TOP bodies split at
 * every byte.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "common/pop3.h"

static struct arena A;
static struct pop3_cmd C;
static const char *E;

/* Parses s[0..n); returns the parser's result. */
static int
Pn(const char *s, size_t n)
{
	if (A.max == 0)
		arena_init(&A, 1 << 20);
	else
		arena_reset(&A);
	return pop3_parse(&A, s, n, &C, &E);
}

static int
P(const char *s)
{
	return Pn(s, strlen(s));
}

void
test_pop3_keywords_any_case(void)
{
	CU_ASSERT_EQUAL(P("capa"), 0);
	CU_ASSERT_EQUAL(C.id, POP3_CAPA);
	CU_ASSERT_STRING_EQUAL(C.name, "CAPA");
	CU_ASSERT_EQUAL(P("QuIt"), 0);
	CU_ASSERT_EQUAL(C.id, POP3_QUIT);
	CU_ASSERT_EQUAL(P("stls"), 0);
	CU_ASSERT_EQUAL(C.id, POP3_STLS);
	CU_ASSERT_EQUAL(P("NOOP"), 0);
	CU_ASSERT_EQUAL(P("RSET"), 0);
	CU_ASSERT_EQUAL(P("STAT"), 0);
	CU_ASSERT_EQUAL(C.id, POP3_STAT);
}

void
test_pop3_unknown_and_empty(void)
{
	CU_ASSERT_EQUAL(P("XYZZY 1 2"), -1);
	CU_ASSERT_EQUAL(C.id, POP3_UNKNOWN);
	CU_ASSERT_STRING_EQUAL(C.name, "XYZZY");
	CU_ASSERT_STRING_EQUAL(E, "Unknown command");
	CU_ASSERT_EQUAL(P(""), -1);
	CU_ASSERT_STRING_EQUAL(E, "Empty command");
	CU_ASSERT_EQUAL(P("   "), -1);
	/* A keyword is never a prefix of a longer word. */
	CU_ASSERT_EQUAL(P("LISTS"), -1);
	CU_ASSERT_EQUAL(P("TO 1 2"), -1);
	/* What the answer may quote is bounded and printable. */
	CU_ASSERT_EQUAL(P("\x01\x7f" "abcdefghijklmnopqrstuvwxyz"), -1);
	CU_ASSERT_STRING_EQUAL(C.name, "??ABCDEFGHIJKLMN");
}

void
test_pop3_nul_refused(void)
{
	CU_ASSERT_EQUAL(Pn("USER a\0b", 8), -1);
	CU_ASSERT_STRING_EQUAL(E, "NUL in command line");
}

void
test_pop3_no_argument_commands(void)
{
	CU_ASSERT_EQUAL(P("STAT 1"), -1);
	CU_ASSERT_EQUAL(C.id, POP3_STAT);
	CU_ASSERT_STRING_EQUAL(E, "This command takes no arguments");
	CU_ASSERT_EQUAL(P("QUIT now"), -1);
	CU_ASSERT_EQUAL(P("CAPA x"), -1);
	/* Trailing spaces are no argument. */
	CU_ASSERT_EQUAL(P("STAT  "), 0);
}

void
test_pop3_message_numbers(void)
{
	CU_ASSERT_EQUAL(P("RETR 1"), 0);
	CU_ASSERT_EQUAL(C.id, POP3_RETR);
	CU_ASSERT(C.has_msg);
	CU_ASSERT_EQUAL(C.msg, 1);
	CU_ASSERT_EQUAL(P("dele 4294967295"), 0);
	CU_ASSERT_EQUAL(C.msg, 4294967295u);
	CU_ASSERT_EQUAL(P("DELE 4294967296"), -1);
	CU_ASSERT_STRING_EQUAL(E, "Invalid message number");
	CU_ASSERT_EQUAL(P("RETR 0"), -1);
	CU_ASSERT_EQUAL(P("RETR -1"), -1);
	CU_ASSERT_EQUAL(P("RETR +1"), -1);
	CU_ASSERT_EQUAL(P("RETR 1x"), -1);
	CU_ASSERT_EQUAL(P("RETR"), -1);
	CU_ASSERT_STRING_EQUAL(E, "Missing argument");
	CU_ASSERT_EQUAL(P("RETR 1 2"), -1);
	CU_ASSERT_STRING_EQUAL(E, "Too many arguments");
	CU_ASSERT_EQUAL(P("RETR 007"), 0);
	CU_ASSERT_EQUAL(C.msg, 7);
	CU_ASSERT_EQUAL(P("RETR 123456789012345678901234"), -1);
}

void
test_pop3_optional_number(void)
{
	CU_ASSERT_EQUAL(P("LIST"), 0);
	CU_ASSERT_EQUAL(C.id, POP3_LIST);
	CU_ASSERT(!C.has_msg);
	CU_ASSERT_EQUAL(P("LIST 3"), 0);
	CU_ASSERT(C.has_msg);
	CU_ASSERT_EQUAL(C.msg, 3);
	CU_ASSERT_EQUAL(P("UIDL"), 0);
	CU_ASSERT(!C.has_msg);
	CU_ASSERT_EQUAL(P("uidl 12"), 0);
	CU_ASSERT_EQUAL(C.msg, 12);
	CU_ASSERT_EQUAL(P("UIDL x"), -1);
	CU_ASSERT_EQUAL(P("LIST 1 2"), -1);
}

void
test_pop3_top(void)
{
	CU_ASSERT_EQUAL(P("TOP 2 0"), 0);
	CU_ASSERT_EQUAL(C.id, POP3_TOP);
	CU_ASSERT_EQUAL(C.msg, 2);
	CU_ASSERT_EQUAL(C.lines, 0);
	CU_ASSERT_EQUAL(P("TOP 1 99999999999"), 0);
	CU_ASSERT_EQUAL(C.lines, 99999999999ull);
	CU_ASSERT_EQUAL(P("TOP 1"), -1);
	CU_ASSERT_STRING_EQUAL(E, "Missing argument");
	CU_ASSERT_EQUAL(P("TOP 1 -1"), -1);
	CU_ASSERT_STRING_EQUAL(E, "Invalid number of lines");
	CU_ASSERT_EQUAL(P("TOP 0 1"), -1);
	CU_ASSERT_STRING_EQUAL(E, "Invalid message number");
}

void
test_pop3_user_pass(void)
{
	CU_ASSERT_EQUAL(P("USER alice"), 0);
	CU_ASSERT_EQUAL(C.id, POP3_USER);
	CU_ASSERT_STRING_EQUAL(C.arg, "alice");
	CU_ASSERT_EQUAL(P("USER  bob*admin "), 0);
	CU_ASSERT_STRING_EQUAL(C.arg, "bob*admin");
	CU_ASSERT_EQUAL(P("USER"), -1);
	CU_ASSERT_EQUAL(P("USER a b"), -1);
	/* The password is the rest of the line, spaces and all. */
	CU_ASSERT_EQUAL(P("PASS  two words "), 0);
	CU_ASSERT_EQUAL(C.id, POP3_PASS);
	CU_ASSERT_STRING_EQUAL(C.arg, " two words ");
	CU_ASSERT_EQUAL(C.arglen, 11);
	CU_ASSERT_EQUAL(P("pass x"), 0);
	CU_ASSERT_STRING_EQUAL(C.arg, "x");
	CU_ASSERT_EQUAL(P("PASS"), -1);
	CU_ASSERT_EQUAL(C.id, POP3_PASS);
	CU_ASSERT_EQUAL(P("PASS "), -1);
	CU_ASSERT_STRING_EQUAL(E, "Missing argument");
}

void
test_pop3_long_argument(void)
{
	char line[POP3_ARG_MAX + 16];

	memset(line, 'a', sizeof(line));
	memcpy(line, "USER ", 5);
	line[5 + POP3_ARG_MAX] = '\0';
	CU_ASSERT_EQUAL(P(line), 0);
	line[5 + POP3_ARG_MAX] = 'a';
	line[6 + POP3_ARG_MAX] = '\0';
	CU_ASSERT_EQUAL(P(line), -1);
	CU_ASSERT_STRING_EQUAL(E, "Argument too long");
}

void
test_pop3_auth_forms(void)
{
	CU_ASSERT_EQUAL(P("AUTH"), 0);
	CU_ASSERT_EQUAL(C.id, POP3_AUTH);
	CU_ASSERT_PTR_NULL(C.arg);
	CU_ASSERT_EQUAL(P("AUTH PLAIN"), 0);
	CU_ASSERT_STRING_EQUAL(C.arg, "PLAIN");
	CU_ASSERT_PTR_NULL(C.arg2);
	CU_ASSERT_EQUAL(P("auth plain AGFsaWNlAHB3"), 0);
	CU_ASSERT_STRING_EQUAL(C.arg2, "AGFsaWNlAHB3");
	CU_ASSERT_EQUAL(P("AUTH PLAIN ="), 0);
	CU_ASSERT_STRING_EQUAL(C.arg2, "=");
	CU_ASSERT_EQUAL(P("AUTH PLAIN a b"), -1);
	CU_ASSERT_EQUAL(P("APOP alice c4c9334bac560ecc979e58001b3e22fb"), 0);
	CU_ASSERT_EQUAL(C.id, POP3_APOP);
	CU_ASSERT_EQUAL(P("APOP alice"), -1);
}

/* ---- dot-stuffing ---- */

/* The stuffed copy of msg, fed in pieces of `piece` bytes, with the end. */
static char *
stuffed(const char *msg, size_t piece, bool top, uint64_t lines)
{
	static char out[4096];
	struct pop3_stuffer st;
	struct buf b;
	size_t n = strlen(msg), off = 0;

	buf_init(&b, 0);
	pop3_stuff_init(&st, top, lines);
	while (off < n && !st.done) {
		size_t take = n - off < piece ? n - off : piece, used;
		CU_ASSERT_EQUAL_FATAL(pop3_stuff(&st, msg + off, take, &b, &used), 0);
		CU_ASSERT(used == take || st.done);
		off += used;
	}
	CU_ASSERT_EQUAL(pop3_stuff_end(&st, &b), 0);
	snprintf(out, sizeof(out), "%.*s", (int)buf_len(&b), buf_ptr(&b));
	buf_free(&b);
	return out;
}

static const char MSG[] =
    "Subject: x\r\n.hidden: y\r\n\r\n.\r\nline 1\r\n..two\r\n.\r\nend\r\n";

void
test_pop3_stuff_retr_every_split(void)
{
	const char *want = "Subject: x\r\n..hidden: y\r\n\r\n..\r\nline 1\r\n"
	    "...two\r\n..\r\nend\r\n.\r\n";

	for (size_t piece = 1; piece <= sizeof(MSG); piece++)
		CU_ASSERT_STRING_EQUAL(stuffed(MSG, piece, false, 0), want);
}

void
test_pop3_stuff_top_every_split(void)
{
	for (size_t piece = 1; piece <= sizeof(MSG); piece++) {
		CU_ASSERT_STRING_EQUAL(stuffed(MSG, piece, true, 0),
		    "Subject: x\r\n..hidden: y\r\n\r\n.\r\n");
		CU_ASSERT_STRING_EQUAL(stuffed(MSG, piece, true, 2),
		    "Subject: x\r\n..hidden: y\r\n\r\n..\r\nline 1\r\n.\r\n");
		CU_ASSERT_STRING_EQUAL(stuffed(MSG, piece, true, 1000),
		    stuffed(MSG, piece, false, 0));
	}
}

void
test_pop3_stuff_edges(void)
{
	/* No final CRLF: one is added before the terminator. */
	CU_ASSERT_STRING_EQUAL(stuffed("a: b\r\n\r\nno end", 3, false, 0),
	    "a: b\r\n\r\nno end\r\n.\r\n");
	CU_ASSERT_STRING_EQUAL(stuffed("", 1, false, 0), ".\r\n");
	/* A header without a body: TOP sends it all. */
	CU_ASSERT_STRING_EQUAL(stuffed("a: b\r\nc: d\r\n", 2, true, 0),
	    "a: b\r\nc: d\r\n.\r\n");
	/* A bare LF line counts as a line (and as the empty line). */
	CU_ASSERT_STRING_EQUAL(stuffed("a: b\n\n1\n2\n", 1, true, 1),
	    "a: b\n\n1\n.\r\n");
	/* A line that is only "." and a CR split from its LF. */
	CU_ASSERT_STRING_EQUAL(stuffed("h: 1\r\n\r\n.", 1, false, 0),
	    "h: 1\r\n\r\n..\r\n.\r\n");
}
