/*
 * test_imap_parse_sort.c - SORT and THREAD (RFC 5256, RFC 5957): every
 * sort key, REVERSE, the UID forms, the mandatory charset, the search
 * criteria (SEARCH's grammar), and the answers to malformed commands.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/imap.h"
#include "parse_helpers.h"

int
test_imap_parse_sort_cleanup(void)
{
	arena_free(&ph_arena);
	return 0;
}

void
test_sort_every_key(void)
{
	static const struct {
		const char         *name;
		enum sort_crit_type type;
	} keys[] = {
		{ "ARRIVAL", SORT_ARRIVAL }, { "cc", SORT_CC },
		{ "Date", SORT_DATE }, { "FROM", SORT_FROM },
		{ "SIZE", SORT_SIZE }, { "SUBJECT", SORT_SUBJECT },
		{ "TO", SORT_TO }, { "DISPLAYFROM", SORT_DISPLAYFROM },
		{ "displayto", SORT_DISPLAYTO },
	};
	char cmd[128];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(cmd, sizeof(cmd), "a SORT (%s) UTF-8 ALL", keys[i].name);
		OK(cmd);
		CU_ASSERT_EQUAL(C.id, CMD_SORT);
		CU_ASSERT_FALSE(C.uid);
		CU_ASSERT_EQUAL(C.u.sort.ncrit, 1);
		CU_ASSERT_EQUAL(C.u.sort.crit[0].type, keys[i].type);
		CU_ASSERT_FALSE(C.u.sort.crit[0].reverse);
	}
}

void
test_sort_reverse_and_several(void)
{
	OK("a UID SORT (SUBJECT REVERSE DATE reverse size) US-ASCII "
	    "SINCE 1-Feb-1994 FROM \"x y\"");
	CU_ASSERT_EQUAL(C.id, CMD_SORT);
	CU_ASSERT_TRUE(C.uid);
	CU_ASSERT_EQUAL(C.u.sort.ncrit, 3);
	CU_ASSERT_EQUAL(C.u.sort.crit[0].type, SORT_SUBJECT);
	CU_ASSERT_FALSE(C.u.sort.crit[0].reverse);
	CU_ASSERT_EQUAL(C.u.sort.crit[1].type, SORT_DATE);
	CU_ASSERT_TRUE(C.u.sort.crit[1].reverse);
	CU_ASSERT_EQUAL(C.u.sort.crit[2].type, SORT_SIZE);
	CU_ASSERT_TRUE(C.u.sort.crit[2].reverse);
	CU_ASSERT_STRING_EQUAL(C.u.sort.charset, "US-ASCII");
	CU_ASSERT_EQUAL(C.u.sort.key->type, SK_AND);
	CU_ASSERT_EQUAL(C.u.sort.key->child->type, SK_SINCE);
	CU_ASSERT_EQUAL(C.u.sort.key->child->next->type, SK_FROM);
	CU_ASSERT_STRING_EQUAL(C.u.sort.key->child->next->str, "x y");
}

void
test_sort_charset_forms(void)
{
	OK("a SORT (DATE) \"utf-8\" ALL");
	CU_ASSERT_STRING_EQUAL(C.u.sort.charset, "utf-8");
	/* any charset parses; the command answers BADCHARSET */
	OK("a SORT (DATE) ISO-8859-1 SUBJECT x");
	CU_ASSERT_STRING_EQUAL(C.u.sort.charset, "ISO-8859-1");
	OK("a SORT (DATE) UTF-8 (OR 1:5 UID 7) NOT DELETED");
}

void
test_sort_malformed(void)
{
	BAD("a SORT", "Missing");
	BAD("a SORT DATE UTF-8 ALL", "Expected '(' before the sort criteria");
	BAD("a SORT () UTF-8 ALL", "sort key");
	BAD("a SORT (NAME) UTF-8 ALL", "Unknown sort key NAME");
	BAD("a SORT (REVERSE) UTF-8 ALL", "Expected SP after REVERSE");
	BAD("a SORT (REVERSE REVERSE DATE) UTF-8 ALL", "Unknown sort key");
	BAD("a SORT (DATE UTF-8 ALL", "Unknown sort key UTF-8");
	BAD("a SORT (DATE)", "Missing");
	BAD("a SORT (DATE) UTF-8", "search key");
	BAD("a SORT (DATE) ALL", "search key");	/* the charset is mandatory */
	BAD("a SORT (DATE) UTF-8 NOSUCH", "Unknown search key NOSUCH");
	BAD("a SORT (DATE  SIZE) UTF-8 ALL", "sort key");
}

void
test_sort_criteria_limit(void)
{
	char cmd[512] = "a SORT (";
	int i;

	for (i = 0; i < SORT_MAX_CRIT; i++)
		strcat(cmd, i ? " DATE" : "DATE");
	strcat(cmd, ") UTF-8 ALL");
	OK(cmd);
	CU_ASSERT_EQUAL(C.u.sort.ncrit, SORT_MAX_CRIT);
	snprintf(cmd, sizeof(cmd), "a SORT (");
	for (i = 0; i <= SORT_MAX_CRIT; i++)
		strcat(cmd, i ? " SIZE" : "SIZE");
	strcat(cmd, ") UTF-8 ALL");
	BAD(cmd, "Too many sort criteria");
}

void
test_thread_algorithms(void)
{
	OK("a THREAD ORDEREDSUBJECT UTF-8 ALL");
	CU_ASSERT_EQUAL(C.id, CMD_THREAD);
	CU_ASSERT_EQUAL(C.u.sort.alg, THREAD_ORDEREDSUBJECT);
	CU_ASSERT_FALSE(C.uid);
	OK("a uid thread references us-ascii SINCE 5-MAR-2000 UNDELETED");
	CU_ASSERT_EQUAL(C.id, CMD_THREAD);
	CU_ASSERT_TRUE(C.uid);
	CU_ASSERT_EQUAL(C.u.sort.alg, THREAD_REFERENCES);
	CU_ASSERT_STRING_EQUAL(C.u.sort.charset, "us-ascii");
	CU_ASSERT_EQUAL(C.u.sort.key->child->type, SK_SINCE);
	CU_ASSERT_EQUAL(C.u.sort.key->child->next->type, SK_UNDELETED);
}

void
test_thread_malformed(void)
{
	BAD("a THREAD", "Missing");
	BAD("a THREAD REFS UTF-8 ALL", "Unknown threading algorithm REFS");
	BAD("a THREAD REFERENCES", "Missing");
	BAD("a THREAD REFERENCES UTF-8", "search key");
	BAD("a THREAD REFERENCES ALL", "search key");
	BAD("a THREAD (REFERENCES) UTF-8 ALL", "threading algorithm");
}

void
test_sort_return_options(void)
{
	OK("a SORT (DATE) UTF-8 ALL");
	CU_ASSERT_FALSE(C.u.sort.esearch);
	OK("a UID SORT RETURN (MIN MAX COUNT ALL SAVE) (REVERSE DATE) UTF-8 "
	    "UNDELETED");
	CU_ASSERT_TRUE(C.uid);
	CU_ASSERT_TRUE(C.u.sort.esearch);
	CU_ASSERT_EQUAL(C.u.sort.ret, SEARCH_RET_MIN | SEARCH_RET_MAX |
	    SEARCH_RET_COUNT | SEARCH_RET_ALL | SEARCH_RET_SAVE);
	CU_ASSERT_EQUAL(C.u.sort.ncrit, 1);
	CU_ASSERT_TRUE(C.u.sort.crit[0].reverse);
	/* RETURN () means ALL (RFC 5267 3.3) */
	OK("a SORT RETURN () (SUBJECT) US-ASCII ALL");
	CU_ASSERT_TRUE(C.u.sort.esearch);
	CU_ASSERT_EQUAL(C.u.sort.ret, SEARCH_RET_ALL);
	/* CONTEXT=SORT (RFC 5267 4): SEARCH's options, PARTIAL included */
	OK("a SORT RETURN (PARTIAL 5:1 UPDATE) (DATE) UTF-8 ALL");
	CU_ASSERT_EQUAL(C.u.sort.ret, SEARCH_RET_PARTIAL | SEARCH_RET_UPDATE);
	CU_ASSERT_EQUAL(C.u.sort.partial.lo, 1);
	CU_ASSERT_EQUAL(C.u.sort.partial.hi, 5);
	BAD("a SORT RETURN (PARTIAL 1:*) (DATE) UTF-8 ALL", "PARTIAL range");
	BAD("a SORT RETURN MIN (DATE) UTF-8 ALL", "Expected '(' after RETURN");
	BAD("a SORT RETURN (MIN) UTF-8 ALL", "Expected '(' before the sort");
	/* THREAD has no return options */
	BAD("a THREAD RETURN (ALL) REFERENCES UTF-8 ALL",
	    "Unknown threading algorithm RETURN");
}
