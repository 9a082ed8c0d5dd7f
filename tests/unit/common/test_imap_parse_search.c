/*
 * test_imap_parse_search.c - SEARCH: every key, nesting, OR/NOT,
 * sequence sets as keys, CHARSET, dates, ESEARCH RETURN options, WITHIN,
 * MODSEQ, and the limits on depth and key count.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/imap.h"
#include "parse_helpers.h"

int
test_imap_parse_search_cleanup(void)
{
	arena_free(&ph_arena);
	return 0;
}

static size_t
nchildren(const struct search_key *k)
{
	size_t n = 0;

	for (k = k->child; k != NULL; k = k->next)
		n++;
	return n;
}

/* The i-th top-level key. */
static const struct search_key *
top(size_t i)
{
	const struct search_key *k = C.u.search.key->child;

	while (k != NULL && i-- > 0)
		k = k->next;
	return k;
}

/* Renders a key tree compactly, to compare whole trees at once. */
static void
render(const struct search_key *k, char *out, size_t len)
{
	static const char *names[] = {
		"ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD",
		"RECENT", "SEEN", "UNANSWERED", "UNDELETED", "UNDRAFT",
		"UNFLAGGED", "UNSEEN", "KEYWORD", "UNKEYWORD", "BCC", "CC",
		"FROM", "TO", "SUBJECT", "BODY", "TEXT", "HEADER", "BEFORE", "ON",
		"SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "LARGER", "SMALLER",
		"OLDER", "YOUNGER", "SEQSET", "UID", "MODSEQ", "AND", "OR", "NOT",
		"EMAILID", "THREADID", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE",
		"SAVEDATESUPPORTED",
	};
	size_t n = strlen(out);
	const struct search_key *c;

	snprintf(out + n, len - n, "%s", names[k->type]);
	n = strlen(out);
	if (k->field)
		snprintf(out + n, len - n, ":%s", k->field);
	n = strlen(out);
	if (k->str)
		snprintf(out + n, len - n, "=%s", k->str);
	n = strlen(out);
	if ((k->type >= SK_BEFORE && k->type <= SK_SENTSINCE) ||
	    (k->type >= SK_SAVEDBEFORE && k->type <= SK_SAVEDSINCE))
		snprintf(out + n, len - n, "@%d", (int)k->date);
	else if ((k->type >= SK_LARGER && k->type <= SK_YOUNGER) ||
	    k->type == SK_MODSEQ)
		snprintf(out + n, len - n, "#%llu", (unsigned long long)k->num);
	else if (k->type == SK_SEQSET || k->type == SK_UID)
		snprintf(out + n, len - n, "[%zu%s]", k->set.n,
		    k->set.dollar ? "$" : "");
	if (k->child == NULL)
		return;
	n = strlen(out);
	snprintf(out + n, len - n, "(");
	for (c = k->child; c != NULL; c = c->next) {
		render(c, out, len);
		if (c->next) {
			n = strlen(out);
			snprintf(out + n, len - n, " ");
		}
	}
	n = strlen(out);
	snprintf(out + n, len - n, ")");
}

static const char *
tree(const char *cmd)
{
	static char out[4096];

	out[0] = '\0';
	if (parse(cmd) != 0) {
		snprintf(out, sizeof(out), "BAD %s", E);
		return out;
	}
	render(C.u.search.key, out, sizeof(out));
	return out;
}

void
test_search_simple_keys(void)
{
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH ALL"), "AND(ALL)");
	CU_ASSERT_EQUAL(C.id, CMD_SEARCH);
	CU_ASSERT_PTR_NULL(C.u.search.charset);
	CU_ASSERT_FALSE(C.u.search.esearch);
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH answered deleted draft flagged new "
	    "old recent seen unanswered undeleted undraft unflagged unseen"),
	    "AND(ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED "
	    "UNDELETED UNDRAFT UNFLAGGED UNSEEN)");
}

void
test_search_string_keys(void)
{
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""),
	    "AND(FLAGGED SINCE@8797 NOT(FROM=Smith))");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH BCC b CC c TO {3}\r\nx y SUBJECT \"\" "
	    "BODY \"a\\\"b\" TEXT ]"),
	    "AND(BCC=b CC=c TO=x y SUBJECT= BODY=a\"b TEXT=])");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH HEADER Message-ID <x@y> header \"List-Id\" \"\""),
	    "AND(HEADER:Message-ID=<x@y> HEADER:List-Id=)");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH KEYWORD $Forwarded UNKEYWORD Junk"),
	    "AND(KEYWORD=$Forwarded UNKEYWORD=Junk)");
	/* 8-bit search strings, with a CHARSET. */
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH CHARSET UTF-8 SUBJECT {4}\r\n\xc3\xa9t\xc3"),
	    "AND(SUBJECT=\xc3\xa9t\xc3)");
	CU_ASSERT_STRING_EQUAL(C.u.search.charset, "UTF-8");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH charset \"us-ascii\" ALL"), "AND(ALL)");
	CU_ASSERT_STRING_EQUAL(C.u.search.charset, "us-ascii");
}

void
test_search_dates_and_numbers(void)
{
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH BEFORE \"1-Jan-1970\" ON 02-Jan-1970 "
	    "SENTBEFORE 1-Jan-2000 SENTON \"1-Jan-2000\" SENTSINCE 31-Dec-1969"),
	    "AND(BEFORE@0 ON@1 SENTBEFORE@10957 SENTON@10957 SENTSINCE@-1)");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH LARGER 0 SMALLER 18446744073709551615"),
	    "AND(LARGER#0 SMALLER#18446744073709551615)");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH YOUNGER 3600 OLDER 86400"),
	    "AND(YOUNGER#3600 OLDER#86400)");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH MODSEQ 620162338"),
	    "AND(MODSEQ#620162338)");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338"),
	    "AND(MODSEQ#620162338)");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH MODSEQ \"/flags/$Label\" PRIV 1"),
	    "AND(MODSEQ#1)");
}

void
test_search_sets(void)
{
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH 1:5,7 UID 100:* $ UID $"),
	    "AND(SEQSET[2] UID[1] SEQSET[0$] UID[0$])");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH *"), "AND(SEQSET[1])");
	CU_ASSERT_STRING_EQUAL(tree("a UID SEARCH (1:3)"), "AND(AND(SEQSET[1]))");
	CU_ASSERT_TRUE(C.uid);
	CU_ASSERT_STRING_EQUAL(C.name, "SEARCH");
}

void
test_search_or_not_nesting(void)
{
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH OR FROM a TO b"),
	    "AND(OR(FROM=a TO=b))");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH OR OR SEEN FLAGGED NOT DELETED"),
	    "AND(OR(OR(SEEN FLAGGED) NOT(DELETED)))");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH NOT (OR (FROM x) (FROM y)) UNSEEN"),
	    "AND(NOT(AND(OR(AND(FROM=x) AND(FROM=y)))) UNSEEN)");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH ((SEEN) (((1))) NOT NOT ALL)"),
	    "AND(AND(AND(SEEN) AND(AND(AND(SEQSET[1]))) NOT(NOT(ALL))))");
	CU_ASSERT_EQUAL(nchildren(C.u.search.key), 1);
	CU_ASSERT_EQUAL(top(0)->type, SK_AND);
}

void
test_search_return(void)
{
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH RETURN (MIN COUNT) FLAGGED"), "AND(FLAGGED)");
	CU_ASSERT_TRUE(C.u.search.esearch);
	CU_ASSERT_EQUAL(C.u.search.ret, SEARCH_RET_MIN | SEARCH_RET_COUNT);
	OK("a SEARCH RETURN () ALL");
	CU_ASSERT_TRUE(C.u.search.esearch);
	CU_ASSERT_EQUAL(C.u.search.ret, SEARCH_RET_ALL);
	OK("a UID SEARCH RETURN (save max all) CHARSET UTF-8 UNSEEN");
	CU_ASSERT_EQUAL(C.u.search.ret, SEARCH_RET_SAVE | SEARCH_RET_MAX | SEARCH_RET_ALL);
	CU_ASSERT_STRING_EQUAL(C.u.search.charset, "UTF-8");
	OK("a SEARCH RETURN (SAVE) 1:*");
	CU_ASSERT_EQUAL(C.u.search.ret, SEARCH_RET_SAVE);
	BAD("a SEARCH RETURN (FOO) ALL", "Unknown SEARCH return option FOO");
	BAD("a SEARCH RETURN MIN ALL", "Expected '(' after RETURN");
	BAD("a SEARCH RETURN (MIN) ", "Missing search key");
	BAD("a SEARCH RETURN (MIN)", "Missing search key");
	BAD("a SEARCH CHARSET UTF-8 RETURN (MIN) ALL", "Unknown search key RETURN");
}

void
test_search_errors(void)
{
	BAD("a SEARCH", "Missing search key");
	BAD("a SEARCH ", "Missing search key");
	BAD("a SEARCH FOO", "Unknown search key FOO");
	BAD("a SEARCH ALL FOO", "Unknown search key FOO");
	BAD("a SEARCH FROM", "Missing search argument");
	BAD("a SEARCH FROM ", "Missing search string");
	BAD("a SEARCH HEADER X", "Missing search string");
	BAD("a SEARCH SINCE 1-Foo-2000", "Invalid date");
	BAD("a SEARCH SINCE \"1-Jan-2000", "Unterminated date");
	BAD("a SEARCH SINCE 1-Jan-2000x", "Invalid date");
	BAD("a SEARCH BEFORE 30-Feb-2000", "Invalid date");
	BAD("a SEARCH LARGER x", "Invalid size");
	BAD("a SEARCH LARGER 18446744073709551616", "size out of range");
	BAD("a SEARCH YOUNGER 0", "Invalid interval: 0");
	BAD("a SEARCH OLDER 4294967296", "interval out of range");
	BAD("a SEARCH UID x", "Invalid sequence set");
	BAD("a SEARCH 1:", "Invalid sequence set");
	BAD("a SEARCH 0", "Invalid sequence set");
	BAD("a SEARCH KEYWORD \\Seen", "Invalid keyword");
	BAD("a SEARCH OR SEEN", "Missing second OR operand");
	BAD("a SEARCH NOT", "Missing search argument");
	BAD("a SEARCH (SEEN", "Missing ')'");
	BAD("a SEARCH ()", "Invalid search key");
	BAD("a SEARCH (SEEN))", "Expected SP after search key");
	BAD("a SEARCH SEEN)", "Expected SP after search key");
	BAD("a SEARCH SEEN  ALL", "Invalid search key");
	BAD("a SEARCH MODSEQ", "Missing search argument");
	BAD("a SEARCH MODSEQ x", "Invalid mod-sequence");
	BAD("a SEARCH MODSEQ \"/flags/\\\\Seen\" 5", "Invalid MODSEQ entry type");
	BAD("a SEARCH MODSEQ \"/flags/\\\\Seen\" own 5", "Invalid MODSEQ entry type");
	BAD("a SEARCH MODSEQ \"/other/x\" all 5", "Invalid MODSEQ entry name");
	BAD("a SEARCH MODSEQ \"/flags/\" all 5", "Invalid MODSEQ entry name");
	BAD("a SEARCH MODSEQ 9223372036854775808", "mod-sequence out of range");
	BAD("a SEARCH CHARSET", "Missing charset name");
	BAD("a SEARCH CHARSET UTF-8", "Missing search key");
	BAD("a SEARCH ~{1}\r\nx", "Unknown search key ~");
	BAD("a SEARCH FROM ~{1}\r\nx", "literal8 not allowed for search string");
}

void
test_search_depth_limit(void)
{
	char s[1024];
	size_t n = 0;
	int i;

	/* Depth 64 below the top level is fine, 65 is not. */
	n = (size_t)snprintf(s, sizeof(s), "a SEARCH ");
	for (i = 0; i < 63; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "(");
	n += (size_t)snprintf(s + n, sizeof(s) - n, "ALL");
	for (i = 0; i < 63; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, ")");
	OK(s);
	n = (size_t)snprintf(s, sizeof(s), "a SEARCH ");
	for (i = 0; i < 64; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "(");
	n += (size_t)snprintf(s + n, sizeof(s) - n, "ALL");
	for (i = 0; i < 64; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, ")");
	BAD(s, "Search keys nested too deep");

	/* NOT and OR chains count too. */
	n = (size_t)snprintf(s, sizeof(s), "a SEARCH ");
	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "NOT ");
	snprintf(s + n, sizeof(s) - n, "ALL");
	BAD(s, "Search keys nested too deep");
	n = (size_t)snprintf(s, sizeof(s), "a SEARCH ");
	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "OR SEEN ");
	snprintf(s + n, sizeof(s) - n, "ALL");
	BAD(s, "Search keys nested too deep");
}

void
test_search_deep_input_does_not_recurse(void)
{
	/* 100000 open parentheses: rejected early, no stack overflow. */
	static char s[100100];
	size_t n;

	n = (size_t)snprintf(s, sizeof(s), "a SEARCH ");
	memset(s + n, '(', 100000);
	s[n + 100000] = '\0';
	BAD(s, "Search keys nested too deep");
}

void
test_search_key_count_limit(void)
{
	static char s[16384];
	size_t n;
	int i;

	/* 1023 keys plus the top-level AND. */
	n = (size_t)snprintf(s, sizeof(s), "a SEARCH");
	for (i = 0; i < 1023; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, " SEEN");
	OK(s);
	CU_ASSERT_EQUAL(nchildren(C.u.search.key), 1023);
	snprintf(s + n, sizeof(s) - n, " SEEN");
	BAD(s, "Too many search keys");
}

/* CONTEXT=SEARCH (RFC 5267 4.2-4.4) and RFC 9394's negative PARTIAL */
void
test_search_context_return_options(void)
{
	OK("a SEARCH RETURN (PARTIAL 1:100) ALL");
	CU_ASSERT_TRUE(C.u.search.esearch);
	CU_ASSERT_EQUAL(C.u.search.ret, SEARCH_RET_PARTIAL);
	CU_ASSERT_EQUAL(C.u.search.partial.lo, 1);
	CU_ASSERT_EQUAL(C.u.search.partial.hi, 100);
	/* 500:400 is 400:500 */
	OK("a UID SEARCH RETURN (partial 500:400 COUNT) UNSEEN");
	CU_ASSERT_EQUAL(C.u.search.ret, SEARCH_RET_PARTIAL | SEARCH_RET_COUNT);
	CU_ASSERT_EQUAL(C.u.search.partial.lo, 400);
	CU_ASSERT_EQUAL(C.u.search.partial.hi, 500);
	/* from the end: -1 is the last; kept as -1:-100 either way */
	OK("a SEARCH RETURN (PARTIAL -1:-100) ALL");
	CU_ASSERT_EQUAL(C.u.search.partial.lo, -1);
	CU_ASSERT_EQUAL(C.u.search.partial.hi, -100);
	OK("a SEARCH RETURN (PARTIAL -100:-1) ALL");
	CU_ASSERT_EQUAL(C.u.search.partial.lo, -1);
	CU_ASSERT_EQUAL(C.u.search.partial.hi, -100);
	OK("a SEARCH RETURN (PARTIAL 4294967295:1) ALL");
	CU_ASSERT_EQUAL(C.u.search.partial.hi, 4294967295LL);
	/* UPDATE and the CONTEXT hint; CONTEXT alone asks for ALL */
	OK("a SEARCH RETURN (UPDATE COUNT CONTEXT) DELETED");
	CU_ASSERT_EQUAL(C.u.search.ret, SEARCH_RET_UPDATE | SEARCH_RET_COUNT);
	OK("a SEARCH RETURN (UPDATE) SEEN");
	CU_ASSERT_EQUAL(C.u.search.ret, SEARCH_RET_UPDATE);
	OK("a SEARCH RETURN (CONTEXT) SEEN");
	CU_ASSERT_EQUAL(C.u.search.ret, SEARCH_RET_ALL);
}

void
test_search_context_return_options_bad(void)
{
	BAD("a SEARCH RETURN (PARTIAL 1) ALL", "PARTIAL needs a range lo:hi");
	BAD("a SEARCH RETURN (PARTIAL 1:*) ALL", "PARTIAL range");
	BAD("a SEARCH RETURN (PARTIAL *:1) ALL", "PARTIAL range");
	BAD("a SEARCH RETURN (PARTIAL 0:10) ALL", "PARTIAL range");
	BAD("a SEARCH RETURN (PARTIAL 1:-10) ALL", "same sign");
	BAD("a SEARCH RETURN (PARTIAL -1:10) ALL", "same sign");
	BAD("a SEARCH RETURN (PARTIAL -0:-1) ALL", "PARTIAL range");
	BAD("a SEARCH RETURN (PARTIAL 4294967296:1) ALL", "PARTIAL range");
	BAD("a SEARCH RETURN (PARTIAL) ALL", "PARTIAL");
	BAD("a SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL",
	    "PARTIAL may be given only once");
	BAD("a SEARCH RETURN (UPDATE UPDATE) ALL",
	    "UPDATE may be given only once");
	/* RFC 5267 4.4: PARTIAL or ALL, not both */
	BAD("a SEARCH RETURN (ALL PARTIAL 1:2) ALL", "PARTIAL and ALL");
	BAD("a SEARCH RETURN (PARTIAL 1:2 ALL) ALL", "PARTIAL and ALL");
	BAD("a SEARCH RETURN (PARTIAL 1:2", "Missing ')'");
}

void
test_cancelupdate(void)
{
	OK("a CANCELUPDATE \"b01\"");
	CU_ASSERT_EQUAL(C.id, CMD_CANCELUPDATE);
	CU_ASSERT_EQUAL(C.u.cancelupdate.ntags, 1);
	CU_ASSERT_STRING_EQUAL(C.u.cancelupdate.tags[0], "b01");
	OK("a cancelupdate \"x\" \"y.2\" \"z\"");
	CU_ASSERT_EQUAL(C.u.cancelupdate.ntags, 3);
	CU_ASSERT_STRING_EQUAL(C.u.cancelupdate.tags[2], "z");
	BAD("a CANCELUPDATE", "Missing");
	BAD("a CANCELUPDATE ", "CANCELUPDATE takes quoted tags");
	BAD("a CANCELUPDATE b01", "CANCELUPDATE takes quoted tags");
	BAD("a CANCELUPDATE \"b01\" ", "CANCELUPDATE takes quoted tags");
	BAD("a CANCELUPDATE \"b01", "tag");
	BAD("a UID CANCELUPDATE \"b01\"", "UID");
}

/* RFC 8474 EMAILID / THREADID and RFC 8514's save-date keys. */
void
test_search_objectid_savedate(void)
{
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH EMAILID M1a2b_-Z THREADID T9"),
	    "AND(EMAILID=M1a2b_-Z THREADID=T9)");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH SAVEDBEFORE 1-Jan-1970 "
	    "SAVEDON \"02-Jan-1970\" SAVEDSINCE 31-Dec-1969 SAVEDATESUPPORTED"),
	    "AND(SAVEDBEFORE@0 SAVEDON@1 SAVEDSINCE@-1 SAVEDATESUPPORTED)");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH OR emailid Ma NOT threadid Tb"),
	    "AND(OR(EMAILID=Ma NOT(THREADID=Tb)))");
	CU_ASSERT_STRING_EQUAL(tree("a SEARCH (EMAILID Mx)"),
	    "AND(AND(EMAILID=Mx))");
}

void
test_search_objectid_errors(void)
{
	char cmd[400];

	BAD("a SEARCH EMAILID", "Missing search argument");
	BAD("a SEARCH EMAILID ", "Invalid object id");
	BAD("a SEARCH THREADID \"T1\"", "Invalid object id");
	BAD("a SEARCH EMAILID M$1", "Expected SP after search key");
	BAD("a SEARCH EMAILID M.1", "Expected SP after search key");
	BAD("a SEARCH SAVEDON 32-Jan-2020", "Invalid date");
	BAD("a SEARCH SAVEDSINCE", "Missing search argument");
	BAD("a SEARCH SAVEDATESUPPORTED x", "Unknown search key x");
	/* 255 characters is the longest id, 256 too long */
	snprintf(cmd, sizeof(cmd), "a SEARCH EMAILID %0255d", 0);
	CU_ASSERT_EQUAL(parse(cmd), 0);
	snprintf(cmd, sizeof(cmd), "a SEARCH EMAILID %0256d", 0);
	CU_ASSERT_NOT_EQUAL(parse(cmd), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(E, "Invalid object id"));
}
