/*
 * test_store_search.c - store_search(): every search key of RFC 3501
 * 6.4.4 plus OLDER/YOUNGER, MODSEQ and "$", sequence numbers through a
 * session's view, three-valued evaluation of text keys (asked only for
 * rows the other keys admit), the access paths SQLite takes, and the
 * time a flag search takes on a 100,000-message mailbox (printed).
 * Key trees come from the real parser (common/imap_parse*.c).
 */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/arena.h"
#include "common/imap.h"
#include "store/search.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store_support.h"

#define NOW 1700000000

static char *dir;
static struct store *S;
static struct mbox M;
static struct arena A;
static uint32_t view[16];
static size_t nview;
static struct seqset saved;
static int text_calls;
static uint64_t big_size;

static bool
recent_from_7(uint32_t uid, void *arg)
{
	(void)arg;
	return uid >= 7;
}

/* SUBJECT only, on the raw header: enough to see when it is asked. */
static int
subject_match(struct store *s, const struct msg_row *r,
    const struct search_key *k, void *arg)
{
	struct store_body *b;
	uint64_t size;
	char buf[2048], needle[256];

	(void)arg;
	text_calls++;
	if (k->type != SK_SUBJECT)
		return -1;
	if (store_body_open(s, r->body_id, &b, &size) != 0)
		return -1;
	size = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
	if (store_body_read(b, 0, buf, (size_t)size) != 0) {
		store_body_close(b);
		return -1;
	}
	store_body_close(b);
	buf[size] = '\0';
	snprintf(needle, sizeof(needle), "Subject: %s", k->str);
	return strstr(buf, needle) != NULL;
}

static struct search_ctx
ctx_default(void)
{
	return (struct search_ctx){
		.view = view, .nview = nview, .is_recent = recent_from_7,
		.now = NOW, .saved = &saved, .text_match = subject_match,
	};
}

static const char *
run_ctx(const char *keys, const struct search_ctx *ctx, int *rcp)
{
	static char out[512];
	struct imap_cmd cmd;
	const char *err = NULL;
	char line[512];
	uint32_t *uids = NULL;
	size_t n = 0, i, len = 0;
	int rc;

	snprintf(line, sizeof(line), "a SEARCH %s", keys);
	if (imap_parse(&A, line, strlen(line), &cmd, &err) != 0) {
		fprintf(stderr, "\n  parse %s: %s\n", keys, err);
		return "PARSE";
	}
	rc = store_search(S, &M, cmd.u.search.key, ctx, &uids, &n);
	if (rcp != NULL)
		*rcp = rc;
	if (rc != 0)
		return "ERR";
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%u",
		    i ? "," : "", uids[i]);
		if (i > 0 && uids[i] <= uids[i - 1])
			CU_FAIL("results not ascending");
	}
	free(uids);
	return out;
}

static const char *
run(const char *keys)
{
	struct search_ctx ctx = ctx_default();

	return run_ctx(keys, &ctx, NULL);
}

#define EXPECT(keys, want) do {						\
	const char *got_ = run(keys);					\
	if (strcmp(got_, (want)) != 0) {				\
		fprintf(stderr, "\n  SEARCH %s: got \"%s\", want \"%s\"\n", \
		    (keys), got_, (want));				\
		CU_FAIL("search result");				\
	} else								\
		CU_PASS("search result");				\
} while (0)

/*
 * The mailbox:
 * uid flags        keywords        internaldate (own zone)  Date: header
 * 1   SEEN         $Work           1 Jul 2003 10:00 +0000   1 Jul 10:52 +0200
 * 2   SEEN ANSWD   -               2 Jul 2003 23:30 -0500   2 Jul 23:30 -0500
 * 3   FLAGGED      $work $Later    3 Jul 2003 00:30 +0200   none
 * 4   DELETED      -               4 Jul 2003 12:00 +0000   4 Jul 12:00 +0000
 * 5   DRAFT        $Later          5 Jul 2003 12:00 +0000   unreadable
 * 6   -            -               6 Jul 2003 12:00 +0000   none (large)
 * 7   SEEN FLAGGED -               7 Jul 2003 12:00 +0000   none
 * 8   -            -               NOW - 100                none
 * then uid 5 gets $Extra (its modseq becomes 10).
 */
static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
	    .tm_hour = h, .tm_min = mi };
	return (int64_t)timegm(&tm);
}

static void
fill(void)
{
	static char bigmsg[6000];
	struct flag_change ch = { 5, MF_DRAFT, "$Later $Extra" };
	uint64_t ms;
	size_t i;

	ts_append(S, &M, ts_msg("Tue, 1 Jul 2003 10:52:37 +0200", "alpha"),
	    MF_SEEN, "$Work", utc(2003, 7, 1, 10, 0), 0);
	ts_append(S, &M, ts_msg("Wed, 2 Jul 2003 23:30:00 -0500", "beta"),
	    MF_SEEN | MF_ANSWERED, "", utc(2003, 7, 3, 4, 30), -300);
	ts_append(S, &M, ts_msg(NULL, "gamma"), MF_FLAGGED, "$work $Later",
	    utc(2003, 7, 2, 22, 30), 120);
	ts_append(S, &M, ts_msg("Fri, 4 Jul 2003 12:00:00 +0000", "alpha two"),
	    MF_DELETED, "", utc(2003, 7, 4, 12, 0), 0);
	ts_append(S, &M, ts_msg("the day after tomorrow", "delta"), MF_DRAFT,
	    "$Later", utc(2003, 7, 5, 12, 0), 0);
	memset(bigmsg, 'x', sizeof(bigmsg) - 1);
	memcpy(bigmsg, "Subject: big\r\n\r\n", 16);
	big_size = sizeof(bigmsg) - 1;
	ts_append(S, &M, bigmsg, 0, "", utc(2003, 7, 6, 12, 0), 0);
	ts_append(S, &M, ts_msg(NULL, "eps"), MF_SEEN | MF_FLAGGED, "",
	    utc(2003, 7, 7, 12, 0), 0);
	ts_append(S, &M, ts_msg(NULL, "zeta"), 0, "", NOW - 100, 0);
	CU_ASSERT_EQUAL(store_msg_set_flags(S, &M, &ch, 1, &ms), 0);
	CU_ASSERT_EQUAL(ms, 10);
	for (i = 0; i < 8; i++)
		view[i] = (uint32_t)i + 1;
	nview = 8;
}

static void
setup(void)
{
	dir = ts_dir();
	S = ts_open(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(S);
	CU_ASSERT_EQUAL(store_mbox_find(S, "INBOX", &M), 0);
	arena_init(&A, 0);
	memset(&saved, 0, sizeof(saved));
	text_calls = 0;
	fill();
}

static void
teardown(void)
{
	arena_free(&A);
	store_close(S);
	S = NULL;
	ts_rmdir(dir);
}

void
test_search_flags(void)
{
	setup();
	EXPECT("ALL", "1,2,3,4,5,6,7,8");
	EXPECT("ANSWERED", "2");
	EXPECT("UNANSWERED", "1,3,4,5,6,7,8");
	EXPECT("DELETED", "4");
	EXPECT("UNDELETED", "1,2,3,5,6,7,8");
	EXPECT("DRAFT", "5");
	EXPECT("UNDRAFT", "1,2,3,4,6,7,8");
	EXPECT("FLAGGED", "3,7");
	EXPECT("UNFLAGGED", "1,2,4,5,6,8");
	EXPECT("SEEN", "1,2,7");
	EXPECT("UNSEEN", "3,4,5,6,8");
	EXPECT("SEEN FLAGGED", "7");
	EXPECT("SEEN UNSEEN", "");
	EXPECT("RECENT", "7,8");
	EXPECT("NEW", "8");
	EXPECT("OLD", "1,2,3,4,5,6");
	EXPECT("NOT SEEN", "3,4,5,6,8");
	EXPECT("NOT NOT SEEN", "1,2,7");
	teardown();
}

void
test_search_keywords(void)
{
	setup();
	EXPECT("KEYWORD $work", "1,3");
	EXPECT("KEYWORD $WORK", "1,3");
	EXPECT("KEYWORD $later", "3,5");
	EXPECT("KEYWORD $Extra", "5");
	EXPECT("KEYWORD $work KEYWORD $later", "3");
	EXPECT("KEYWORD $nothere", "");
	EXPECT("UNKEYWORD $Work", "2,4,5,6,7,8");
	EXPECT("UNKEYWORD $nothere", "1,2,3,4,5,6,7,8");
	EXPECT("UNKEYWORD $work UNKEYWORD $later", "2,4,6,7,8");
	EXPECT("OR KEYWORD $Work KEYWORD $Extra", "1,3,5");
	/* A keyword that is a prefix of another is not that one. */
	EXPECT("KEYWORD $Lat", "");
	teardown();
}

void
test_search_dates(void)
{
	setup();
	/* Internal dates in their own zones: 2 is 3 Jul in UTC, 3 is 2 Jul. */
	EXPECT("BEFORE 3-Jul-2003", "1,2");
	EXPECT("ON 2-Jul-2003", "2");
	EXPECT("ON 3-Jul-2003", "3");
	EXPECT("SINCE 6-Jul-2003", "6,7,8");
	EXPECT("SINCE 2-Jul-2003 BEFORE 4-Jul-2003", "2,3");
	EXPECT("NOT ON 3-Jul-2003", "1,2,4,5,6,7,8");
	EXPECT("OR ON 1-Jul-2003 ON 7-Jul-2003", "1,7");
	EXPECT("BEFORE 1-Jan-1990", "");
	/* Date: headers in theirs; no readable Date: never matches. */
	EXPECT("SENTBEFORE 2-Jul-2003", "1");
	EXPECT("SENTON 2-Jul-2003", "2");
	EXPECT("SENTON 3-Jul-2003", "");
	EXPECT("SENTSINCE 1-Jan-2000", "1,2,4");
	EXPECT("SENTSINCE 4-Jul-2003", "4");
	EXPECT("NOT SENTON 2-Jul-2003", "1,3,4,5,6,7,8");
	EXPECT("OR SENTON 1-Jul-2003 FLAGGED", "1,3,7");
	/* WITHIN: inclusive at the boundary (RFC 5032). */
	EXPECT("YOUNGER 100", "8");
	EXPECT("YOUNGER 99", "");
	EXPECT("OLDER 100", "1,2,3,4,5,6,7,8");
	EXPECT("OLDER 101", "1,2,3,4,5,6,7");
	EXPECT("NOT YOUNGER 100", "1,2,3,4,5,6,7");
	teardown();
}

void
test_search_size_and_modseq(void)
{
	char q[64];

	setup();
	snprintf(q, sizeof(q), "LARGER %llu", (unsigned long long)big_size - 1);
	EXPECT(q, "6");
	snprintf(q, sizeof(q), "LARGER %llu", (unsigned long long)big_size);
	EXPECT(q, "");
	snprintf(q, sizeof(q), "SMALLER %llu", (unsigned long long)big_size);
	EXPECT(q, "1,2,3,4,5,7,8");
	snprintf(q, sizeof(q), "SMALLER %llu", (unsigned long long)big_size + 1);
	EXPECT(q, "1,2,3,4,5,6,7,8");
	EXPECT("SMALLER 1", "");
	EXPECT("LARGER 10 SMALLER 5", "");
	EXPECT("OR LARGER 5000 SEEN", "1,2,6,7");
	/* Appends took modseq 2..9, then 5 was changed at 10. */
	EXPECT("MODSEQ 10", "5");
	EXPECT("MODSEQ 9", "5,8");
	EXPECT("MODSEQ 1", "1,2,3,4,5,6,7,8");
	EXPECT("MODSEQ 11", "");
	EXPECT("OR MODSEQ 10 SEEN", "1,2,5,7");
	teardown();
}

void
test_search_sets_and_view(void)
{
	static const uint32_t v2[] = { 1, 3, 4, 5, 6, 7, 8 };
	struct seq_range sr[2] = { { 1, 1 }, { 3, 3 } };

	setup();
	EXPECT("2:4", "2,3,4");
	EXPECT("*", "8");
	EXPECT("6:*", "6,7,8");
	EXPECT("UID 2:4", "2,3,4");
	EXPECT("UID *", "8");
	EXPECT("UID 100:*", "8");
	EXPECT("UID 100:200", "");
	EXPECT("1:3 UID 3:8", "3");
	EXPECT("NOT 2:7", "1,8");
	EXPECT("OR 1 UID 8", "1,8");
	/* The session doesn't see 2 (expunged, not yet announced), nor
	 * what arrived after its view was made. */
	memcpy(view, v2, sizeof(v2));
	nview = 7;
	ts_append(S, &M, ts_msg(NULL, "late"), 0, "", NOW, 0);
	EXPECT("ALL", "1,3,4,5,6,7,8");
	EXPECT("2:4", "3,4,5");
	EXPECT("*", "8");
	EXPECT("UID 2:4", "3,4");
	EXPECT("UNSEEN", "3,4,5,6,8");
	EXPECT("8:*", "8");	/* * is 7 here: 7:8 */
	nview = 3;		/* 1, 3, 4 */
	EXPECT("*", "4");
	EXPECT("UID *", "4");
	EXPECT("UNSEEN", "3,4");
	nview = 0;
	EXPECT("ALL", "");
	/* $: the saved result (RFC 5182), as a set and inside NOT/OR. */
	for (nview = 0; nview < 8; nview++)
		view[nview] = (uint32_t)nview + 1;
	saved.r = sr;
	saved.n = 2;
	EXPECT("$", "1,3");
	EXPECT("UID $", "1,3");
	EXPECT("NOT $", "2,4,5,6,7,8");
	EXPECT("$ FLAGGED", "3");
	saved.n = 0;
	EXPECT("$", "");
	teardown();
}

void
test_search_or_not_nesting(void)
{
	setup();
	EXPECT("OR SEEN FLAGGED", "1,2,3,7");
	EXPECT("OR (SEEN DRAFT) (FLAGGED UNSEEN)", "3");
	EXPECT("NOT (SEEN FLAGGED)", "1,2,3,4,5,6,8");
	EXPECT("OR NOT SEEN DELETED", "3,4,5,6,8");
	EXPECT("UNSEEN OR DELETED OR DRAFT RECENT", "4,5,8");
	EXPECT("(UNSEEN (NOT DELETED)) OR 1 8", "8");
	teardown();
}

void
test_search_text_keys(void)
{
	struct search_ctx ctx;
	int rc = 0;

	setup();
	EXPECT("SUBJECT alpha", "1,4");
	CU_ASSERT_EQUAL(text_calls, 8);
	/* Only rows the cheap keys admit reach text_match. */
	text_calls = 0;
	EXPECT("SEEN SUBJECT alpha", "1");
	CU_ASSERT_EQUAL(text_calls, 3);
	text_calls = 0;
	EXPECT("OR FLAGGED SUBJECT alpha", "1,3,4,7");
	CU_ASSERT_EQUAL(text_calls, 6);
	text_calls = 0;
	EXPECT("NOT SUBJECT alpha UNDELETED", "2,3,5,6,7,8");
	CU_ASSERT_EQUAL(text_calls, 7);
	text_calls = 0;
	EXPECT("SUBJECT alpha KEYWORD $nothere", "");
	CU_ASSERT_EQUAL(text_calls, 0);
	/* A failing or missing matcher fails the search. */
	CU_ASSERT_STRING_EQUAL(run("FROM someone"), "ERR");
	ctx = ctx_default();
	ctx.text_match = NULL;
	CU_ASSERT_STRING_EQUAL(run_ctx("SUBJECT alpha", &ctx, &rc), "ERR");
	CU_ASSERT_EQUAL(rc, -1);
	CU_ASSERT(strlen(store_errmsg(S)) > 0);
	/* ...but not when no row needs it. */
	CU_ASSERT_STRING_EQUAL(run_ctx("DELETED UNDELETED SUBJECT alpha", &ctx,
	    &rc), "");
	teardown();
}

/* Every text key reaches text_match as the parser built it. */
static char seen_keys[256];

static int
record_match(struct store *s, const struct msg_row *r,
    const struct search_key *k, void *arg)
{
	(void)s;
	(void)arg;
	if (r->uid == 1) {
		size_t len = strlen(seen_keys);
		snprintf(seen_keys + len, sizeof(seen_keys) - len, "%d:%s:%s,",
		    (int)k->type, k->field ? k->field : "", k->str);
	}
	return r->uid == 1;
}

void
test_search_text_key_types(void)
{
	struct search_ctx ctx;
	char want[256];

	setup();
	ctx = ctx_default();
	ctx.text_match = record_match;
	seen_keys[0] = '\0';
	CU_ASSERT_STRING_EQUAL(run_ctx("BCC a CC b FROM c TO d SUBJECT e BODY f "
	    "TEXT g HEADER X-Spam h", &ctx, NULL), "1");
	snprintf(want, sizeof(want), "%d::a,%d::b,%d::c,%d::d,%d::e,%d::f,"
	    "%d::g,%d:X-Spam:h,", SK_BCC, SK_CC, SK_FROM, SK_TO, SK_SUBJECT,
	    SK_BODY, SK_TEXT, SK_HEADER);
	CU_ASSERT_STRING_EQUAL(seen_keys, want);
	teardown();
}

void
test_search_too_deep(void)
{
	struct search_ctx ctx;
	struct search_key *k, *leaf;
	uint32_t *uids = NULL;
	size_t n = 0;
	int i;

	setup();
	ctx = ctx_default();
	leaf = arena_alloc(&A, sizeof(*leaf));
	leaf->type = SK_SEEN;
	for (k = leaf, i = 0; i < SEARCH_MAX_DEPTH + 5; i++) {
		struct search_key *not = arena_alloc(&A, sizeof(*not));
		not->type = SK_NOT;
		not->child = k;
		k = not;
	}
	CU_ASSERT_EQUAL(store_search(S, &M, k, &ctx, &uids, &n), MK_INVALID);
	CU_ASSERT_PTR_NULL(uids);
	teardown();
}

/* The statements search prepared, and how SQLite runs them. */
static int
plans_without_scan(struct store *s, int *nsearch)
{
	size_t i;
	int bad = 0;

	*nsearch = 0;
	for (i = 0; i < s->db.nslots; i++) {
		const char *sql = s->db.slots[i].sql;
		char eqp[4096];
		sqlite3_stmt *st = NULL;

		if (sql == NULL || strncmp(sql, "SELECT m.uid", 12) != 0)
			continue;
		(*nsearch)++;
		snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sql);
		if (sqlite3_prepare_v2(s->db.h, eqp, -1, &st, NULL) != SQLITE_OK)
			return -1;
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(st, 3);
			/* "SCAN m" would read every mailbox's messages. */
			if (strncmp(d, "SCAN m", 6) == 0 ||
			    (strstr(d, " m ") && !strstr(d, "USING")))
				bad++;
			if (strstr(d, " m USING") && !strstr(d, "mailbox_id=?"))
				bad++;
		}
		sqlite3_finalize(st);
	}
	return bad;
}

void
test_search_query_plans(void)
{
	int nsearch = 0;

	setup();
	/* Drive each access path once. */
	EXPECT("UNSEEN", "3,4,5,6,8");
	EXPECT("SENTSINCE 1-Jan-2000", "1,2,4");
	EXPECT("MODSEQ 10", "5");
	EXPECT("SINCE 7-Jul-2003", "7,8");
	CU_ASSERT_EQUAL(plans_without_scan(S, &nsearch), 0);
	CU_ASSERT(nsearch >= 3);
	teardown();
}

static double
elapsed_ms(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 +
	    (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static void
timed(const char *keys, const struct search_ctx *ctx, size_t want)
{
	struct imap_cmd cmd;
	const char *err;
	struct timespec t0;
	char line[256];
	uint32_t *uids = NULL;
	size_t n = 0;

	snprintf(line, sizeof(line), "a SEARCH %s", keys);
	CU_ASSERT_EQUAL_FATAL(imap_parse(&A, line, strlen(line), &cmd, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(store_search(S, &M, cmd.u.search.key, ctx, &uids, &n),
	    0);
	printf("\n    SEARCH %-28s %6zu hits %8.2f ms", keys, n,
	    elapsed_ms(&t0));
	CU_ASSERT_EQUAL(n, want);
	free(uids);
}

/* Not a pass/fail on time: the numbers are printed for the reader. */
void
test_search_100k_timing(void)
{
	struct search_ctx ctx;
	struct timespec t0;
	uint32_t *uids = NULL, i;
	size_t n = 0;

	dir = ts_dir();
	S = ts_open(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(S);
	CU_ASSERT_EQUAL(store_mbox_find(S, "INBOX", &M), 0);
	arena_init(&A, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL_FATAL(store_begin(S), 0);
	for (i = 1; i <= 100000; i++) {
		unsigned fl = (i % 2 ? MF_SEEN : 0) | (i % 1000 ? 0 : MF_FLAGGED);
		if (ts_append(S, &M, "Subject: s\r\n\r\nb\r\n", fl,
		    i % 500 ? "" : "$Later", 1600000000 + i * 60, 0) != i)
			break;
	}
	CU_ASSERT_EQUAL_FATAL(store_commit(S), 0);
	printf("\n    appended 100000 messages in %.0f ms", elapsed_ms(&t0));
	CU_ASSERT_EQUAL_FATAL(store_msg_uids(S, &M, &uids, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 100000);
	ctx = (struct search_ctx){ .view = uids, .nview = n, .now = NOW };
	timed("UNSEEN", &ctx, 50000);
	timed("FLAGGED", &ctx, 100);
	timed("DELETED", &ctx, 0);
	timed("KEYWORD $Later", &ctx, 200);
	timed("UNSEEN UNDELETED UNFLAGGED", &ctx, 49900);
	timed("OR FLAGGED KEYWORD $Later", &ctx, 200);
	timed("UID 99000:*", &ctx, 1001);
	timed("99990:*", &ctx, 11);
	timed("MODSEQ 99990", &ctx, 12);
	timed("SINCE 1-Jan-2030", &ctx, 0);
	timed("SINCE 1-Jan-2000", &ctx, 100000);
	printf("\n");
	free(uids);
	arena_free(&A);
	store_close(S);
	S = NULL;
	ts_rmdir(dir);
}
