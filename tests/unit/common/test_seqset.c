/*
 * test_seqset.c - sequence sets: parsing (and what is refused),
 * resolving against a maximum, membership, counting, formatting.
 */
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/seqset.h"

static struct arena A;

static int
sp(const char *s, struct seqset *out)
{
	return seqset_parse(&A, s, strlen(s), out);
}

/* Parses, resolves against max and formats. */
static const char *
norm(const char *s, uint32_t max)
{
	static char out[256];
	struct seqset in, r;

	if (sp(s, &in) == -1)
		return "ERR";
	seqset_resolve(&A, &in, max, &r);
	seqset_format(&r, out, sizeof(out));
	return out;
}

int
test_seqset_cleanup(void)
{
	arena_free(&A);
	return 0;
}

void
test_seqset_parse_forms(void)
{
	struct seqset s;

	CU_ASSERT_EQUAL(sp("1", &s), 0);
	CU_ASSERT_EQUAL(s.n, 1);
	CU_ASSERT_EQUAL(s.r[0].lo, 1);
	CU_ASSERT_EQUAL(s.r[0].hi, 1);
	CU_ASSERT_FALSE(s.dollar);
	CU_ASSERT_EQUAL(sp("*", &s), 0);
	CU_ASSERT_EQUAL(s.r[0].lo, SEQ_STAR);
	CU_ASSERT_EQUAL(sp("5:*,2,9:3,4294967295", &s), 0);
	CU_ASSERT_EQUAL(s.n, 4);
	CU_ASSERT_EQUAL(s.r[0].lo, 5);
	CU_ASSERT_EQUAL(s.r[0].hi, SEQ_STAR);
	CU_ASSERT_EQUAL(s.r[1].lo, 2);
	CU_ASSERT_EQUAL(s.r[2].lo, 9);	/* kept as sent */
	CU_ASSERT_EQUAL(s.r[2].hi, 3);
	CU_ASSERT_EQUAL(s.r[3].lo, UINT32_MAX);
	CU_ASSERT_EQUAL(sp("$", &s), 0);
	CU_ASSERT_TRUE(s.dollar);
	CU_ASSERT_EQUAL(s.n, 0);
	CU_ASSERT_EQUAL(sp("*:*", &s), 0);
	CU_ASSERT_EQUAL(sp("007", &s), 0);
	CU_ASSERT_EQUAL(s.r[0].lo, 7);
}

void
test_seqset_parse_errors(void)
{
	static const char *bad[] = {
		"", "0", "1:0", "0:5", ",", "1,", ",1", "1,,2", "1:", ":1",
		"1:2:3", "a", "1a", "-1", "4294967296", "99999999999999999999",
		"$,1", "1,$", "$$", "$:1", "**", "1 2", "1;2",
	};
	struct seqset s;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sp(bad[i], &s) != -1)
			fprintf(stderr, "\n  accepted \"%s\"\n", bad[i]);
		CU_ASSERT_EQUAL(sp(bad[i], &s), -1);
	}
}

void
test_seqset_resolve(void)
{
	CU_ASSERT_STRING_EQUAL(norm("1:*", 10), "1:10");
	CU_ASSERT_STRING_EQUAL(norm("*", 10), "10");
	CU_ASSERT_STRING_EQUAL(norm("*:3", 10), "3:10");
	CU_ASSERT_STRING_EQUAL(norm("9:3", 10), "3:9");
	CU_ASSERT_STRING_EQUAL(norm("5,1,3,2,4", 10), "1:5");
	CU_ASSERT_STRING_EQUAL(norm("1:3,2:6,8,10:12,11", 100), "1:6,8,10:12");
	CU_ASSERT_STRING_EQUAL(norm("7,7,7", 10), "7");
	/* Numbers above max stay (UIDs that may not exist). */
	CU_ASSERT_STRING_EQUAL(norm("15:20", 10), "15:20");
	CU_ASSERT_STRING_EQUAL(norm("15:*", 10), "10:15");
	/* Empty mailbox: ranges touching '*' vanish. */
	CU_ASSERT_STRING_EQUAL(norm("1:*", 0), "");
	CU_ASSERT_STRING_EQUAL(norm("*,3", 0), "3");
	CU_ASSERT_STRING_EQUAL(norm("4294967294:4294967295,1", UINT32_MAX),
	    "1,4294967294:4294967295");
	CU_ASSERT_STRING_EQUAL(norm("1:4294967295,4294967295", 5),
	    "1:4294967295");
}

void
test_seqset_resolve_dollar(void)
{
	struct seqset in, r;

	CU_ASSERT_EQUAL(sp("$", &in), 0);
	seqset_resolve(&A, &in, 10, &r);
	CU_ASSERT_TRUE(r.dollar);
	CU_ASSERT_EQUAL(r.n, 0);
}

void
test_seqset_contains_count(void)
{
	struct seqset in, r;

	CU_ASSERT_EQUAL(sp("2:4,10,20:*", &in), 0);
	seqset_resolve(&A, &in, 25, &r);
	CU_ASSERT_FALSE(seqset_contains(&r, 1));
	CU_ASSERT_TRUE(seqset_contains(&r, 2));
	CU_ASSERT_TRUE(seqset_contains(&r, 4));
	CU_ASSERT_FALSE(seqset_contains(&r, 5));
	CU_ASSERT_TRUE(seqset_contains(&r, 10));
	CU_ASSERT_FALSE(seqset_contains(&r, 11));
	CU_ASSERT_TRUE(seqset_contains(&r, 25));
	CU_ASSERT_FALSE(seqset_contains(&r, 26));
	CU_ASSERT_EQUAL(seqset_count(&r), 3 + 1 + 6);
	CU_ASSERT_EQUAL(sp("1:4294967295", &in), 0);
	seqset_resolve(&A, &in, 1, &r);
	CU_ASSERT_EQUAL(seqset_count(&r), 4294967295ULL);
	CU_ASSERT_TRUE(seqset_contains(&r, UINT32_MAX));
}

void
test_seqset_from_sorted(void)
{
	static const uint32_t v[] = { 1, 2, 2, 3, 5, 7, 8, 9, 9, 100,
	    4294967294u, 4294967295u };
	struct seqset s;
	char out[128];

	seqset_from_sorted(&A, v, sizeof(v) / sizeof(v[0]), &s);
	seqset_format(&s, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "1:3,5,7:9,100,4294967294:4294967295");
	CU_ASSERT_EQUAL(s.n, 5);
	seqset_from_sorted(&A, v, 0, &s);
	CU_ASSERT_EQUAL(s.n, 0);
	CU_ASSERT_EQUAL(seqset_format(&s, out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
}

void
test_seqset_format_truncates_like_snprintf(void)
{
	static const uint32_t v[] = { 1, 2, 3, 7, 9, 10, 11, 12 };
	struct seqset s;
	char out[8];

	seqset_from_sorted(&A, v, 8, &s);
	CU_ASSERT_EQUAL(seqset_format(&s, out, sizeof(out)), strlen("1:3,7,9:12"));
	CU_ASSERT_STRING_EQUAL(out, "1:3,7,9");
	CU_ASSERT_EQUAL(seqset_format(&s, NULL, 0), 10);
	CU_ASSERT_EQUAL(seqset_format(&s, out, 1), 10);
	CU_ASSERT_STRING_EQUAL(out, "");
}

void
test_seqset_many_ranges(void)
{
	/* 10000 single numbers in reverse: sorted and merged into one. */
	static char s[60000];
	size_t n = 0;
	int i;

	for (i = 10000; i >= 1; i--)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%s%d",
		    i == 10000 ? "" : ",", i);
	CU_ASSERT_STRING_EQUAL(norm(s, 10000), "1:10000");
}

static const char *
minus(const char *set, const uint32_t *v, size_t n, uint32_t max)
{
	static char out[256];
	struct seqset parsed, in, res;

	CU_ASSERT_EQUAL_FATAL(seqset_parse(&A, set, strlen(set), &parsed), 0);
	seqset_resolve(&A, &parsed, UINT32_MAX, &in);
	seqset_minus_sorted(&A, &in, v, n, max, &res);
	seqset_format(&res, out, sizeof(out));
	return out;
}

void
test_seqset_minus_sorted(void)
{
	static const uint32_t v[] = { 1, 3, 4, 10, 12 };

	/* QRESYNC past the expunged window: what no longer exists */
	CU_ASSERT_STRING_EQUAL(minus("1:*", v, 5, 15), "2,5:9,11,13:15");
	CU_ASSERT_STRING_EQUAL(minus("1:*", v, 5, 12), "2,5:9,11");
	CU_ASSERT_STRING_EQUAL(minus("1:4", v, 5, 15), "2");
	CU_ASSERT_STRING_EQUAL(minus("3:4,10", v, 5, 15), "");
	CU_ASSERT_STRING_EQUAL(minus("2,5:11,20:30", v, 5, 25),
	    "2,5:9,11,20:25");
	CU_ASSERT_STRING_EQUAL(minus("1:*", v, 0, 3), "1:3");
	CU_ASSERT_STRING_EQUAL(minus("13:20", v, 5, 12), "");
	CU_ASSERT_STRING_EQUAL(minus("12", v, 5, 12), "");
	CU_ASSERT_STRING_EQUAL(minus("1", v, 5, 12), "");
	static const uint32_t top[] = { 4294967295u };
	CU_ASSERT_STRING_EQUAL(minus("4294967290:*", top, 1, UINT32_MAX),
	    "4294967290:4294967294");
}
