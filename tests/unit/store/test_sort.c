/*
 * test_sort.c - SORT ordering (store/sort.c) and the THREAD algorithms
 * of RFC 5256 (store/thread.c) on messages built here: every key,
 * REVERSE, ties;
 * ORDEREDSUBJECT; REFERENCES with chains, missing parents (dummies
 * pruned and kept), loops in References, duplicate Message-IDs,
 * subject merging in each of its cases, date order, and reply chains
 * far deeper than any recursion could go.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "store/sort.h"

static struct arena A;

int
test_sort_init(void)
{
	arena_init(&A, 0);
	return 0;
}

int
test_sort_cleanup(void)
{
	arena_free(&A);
	return 0;
}

struct spec {
	const char *subject;	/* raw Subject: value */
	const char *msgid;	/* normalized */
	const char *refs;	/* normalized, SP-separated */
	int64_t     date;
};

/* msgs from specs, in sequence order 1..n, num = seq. */
static struct sort_msg *
build(const struct spec *s, size_t n)
{
	struct sort_msg *m = arena_array(&A, n, sizeof(*m));

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	memset(m, 0, n * sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		m[i].seq = m[i].num = m[i].uid = (uint32_t)(i + 1);
		m[i].date = m[i].arrival = s[i].date;
		m[i].k.subject = mime_base_subject(&A, s[i].subject,
		    strlen(s[i].subject), &m[i].k.reply);
		m[i].k.msgid = s[i].msgid;
		m[i].k.refs = s[i].refs;
		m[i].k.from = m[i].k.to = m[i].k.cc = "";
		m[i].k.dfrom = m[i].k.dto = "";
	}
	return m;
}

static void
thread_is(const struct spec *s, size_t n, enum thread_alg alg,
    const char *want)
{
	struct buf b;

	buf_init(&b, 0);
	thread_write(&b, build(s, n), n, alg);
	buf_addc(&b, '\0');
	if (strcmp(buf_ptr(&b), want) != 0) {
		fprintf(stderr, "\n  THREAD%s\n  want  %s\n", buf_ptr(&b), want);
		CU_FAIL("thread");
	}
	buf_free(&b);
}

#define REFS(s, want) thread_is(s, sizeof(s) / sizeof(s[0]), \
	THREAD_REFERENCES, want)

void
test_thread_references_chain(void)
{
	static const struct spec s[] = {
		{ "a", "1@x", "", 10 },
		{ "Re: a", "2@x", "1@x", 20 },
		{ "Re: a", "3@x", "1@x 2@x", 30 },
		{ "b", "4@x", "", 15 },
		{ "Re: a", "5@x", "1@x", 40 },	/* sibling of 2 */
	};

	REFS(s, " (1 (2 3)(5))(4)");
}

void
test_thread_references_missing_parent(void)
{
	/* two replies to a message not in the mailbox: a dummy at the
	 * top, kept because it has two children */
	static const struct spec two[] = {
		{ "x", "1@x", "gone@x", 10 },
		{ "y", "2@x", "gone@x", 20 },
	};
	/* one reply: the dummy goes and its child takes its place */
	static const struct spec one[] = {
		{ "x", "1@x", "gone@x", 10 },
	};
	/* a dummy in the middle of a chain: its child is promoted */
	static const struct spec mid[] = {
		{ "p", "1@x", "", 10 },
		{ "q", "3@x", "1@x gone@x", 30 },
	};

	REFS(two, " ((1)(2))");
	REFS(one, " (1)");
	REFS(mid, " (1 2)");
}

void
test_thread_references_loops(void)
{
	/* each names the other as parent: the second link would close a
	 * loop and is not made */
	static const struct spec mutual[] = {
		{ "a", "a@x", "b@x", 10 },
		{ "b", "b@x", "a@x", 20 },
	};
	static const struct spec self[] = {
		{ "a", "a@x", "a@x", 10 },
	};
	/* a list that goes round: a -> b is made, b -> a would loop */
	static const struct spec inlist[] = {
		{ "a", "a@x", "", 10 },
		{ "c", "c@x", "a@x b@x a@x b@x", 30 },
		{ "b", "b@x", "a@x", 20 },
	};
	/* 1B: b's own (empty) references leave it without a parent,
	 * whatever c's list said */
	static const struct spec orphan[] = {
		{ "a", "a@x", "", 10 },
		{ "c", "c@x", "a@x b@x", 30 },
		{ "b", "b@x", "", 20 },
	};

	REFS(mutual, " (2 1)");
	REFS(self, " (1)");
	REFS(inlist, " (1 3 2)");
	REFS(orphan, " (1)(3 2)");
}

void
test_thread_references_duplicate_ids(void)
{
	/* only the first message keeps the id; the reply goes to it */
	static const struct spec s[] = {
		{ "one", "d@x", "", 10 },
		{ "two", "d@x", "", 20 },
		{ "three", "3@x", "d@x", 30 },
	};

	REFS(s, " (1 3)(2)");
}

void
test_thread_references_existing_parent_kept(void)
{
	/* 1A: a link from a References list does not replace a parent
	 * made earlier; 1B: the last reference always becomes the parent */
	static const struct spec s[] = {
		{ "a", "a@x", "", 10 },
		{ "b", "b@x", "a@x", 20 },
		{ "c", "c@x", "z@x b@x", 30 },
		{ "d", "d@x", "c@x", 40 },
	};

	REFS(s, " (1 2 3 4)");
}

void
test_thread_subject_merging(void)
{
	/* a reply by subject joins its original */
	static const struct spec reply[] = {
		{ "hello", "1@x", "", 10 },
		{ "Re: hello", "2@x", "", 20 },
	};
	/* two originals: a new dummy holds both */
	static const struct spec two[] = {
		{ "hello", "1@x", "", 10 },
		{ "HELLO", "2@x", "", 20 },
	};
	/* the reply came first: the original takes the table, the reply
	 * goes under it */
	static const struct spec late[] = {
		{ "Re: hi", "1@x", "", 10 },
		{ "hi", "2@x", "", 20 },
	};
	/* a dummy thread (two replies to a lost message) takes in a
	 * message with the same subject */
	static const struct spec dummy[] = {
		{ "Re: topic", "1@x", "lost@x", 10 },
		{ "Re: topic", "2@x", "lost@x", 20 },
		{ "topic", "3@x", "", 30 },
	};
	/* two dummies merge: their children become siblings */
	static const struct spec dummies[] = {
		{ "Re: t", "1@x", "lost1@x", 10 },
		{ "Re: t", "2@x", "lost1@x", 20 },
		{ "Re: t", "3@x", "lost2@x", 30 },
		{ "Re: t", "4@x", "lost2@x", 40 },
	};
	/* an empty subject never merges */
	static const struct spec empty[] = {
		{ "", "1@x", "", 10 },
		{ "Re: ", "2@x", "", 20 },
	};

	REFS(reply, " (1 2)");
	REFS(two, " ((1)(2))");
	REFS(late, " (2 1)");
	REFS(dummy, " ((1)(2)(3))");
	REFS(dummies, " ((1)(2)(3)(4))");
	REFS(empty, " (1)(2)");
}

void
test_thread_references_date_order(void)
{
	/* threads by the date of their first message; siblings by date;
	 * equal dates by sequence number */
	static const struct spec s[] = {
		{ "late", "1@x", "", 300 },
		{ "early", "2@x", "", 100 },
		{ "Re", "3@x", "2@x", 500 },
		{ "Re", "4@x", "2@x", 200 },
		{ "same", "5@x", "", 300 },
	};

	REFS(s, " (2 (4)(3))(1)(5)");
}

void
test_thread_orderedsubject(void)
{
	static const struct spec s[] = {
		{ "b", "", "", 50 },
		{ "Re: a", "", "", 30 },
		{ "a", "", "", 10 },
		{ "[list] b", "", "", 60 },
		{ "c", "", "", 5 },
		{ "Fwd: a", "", "", 20 },
	};

	thread_is(s, 6, THREAD_ORDEREDSUBJECT, " (5)(3 (6)(2))(1 4)");
}

void
test_thread_nothing(void)
{
	thread_is(NULL, 0, THREAD_REFERENCES, "");
	thread_is(NULL, 0, THREAD_ORDEREDSUBJECT, "");
}

/* 100,000 messages, each replying to the one before: the tree is as
 * deep as the mailbox, and the answer one flat member list. */
void
test_thread_deep_chain(void)
{
	enum { N = 100000 };
	struct spec *s = calloc(N, sizeof(*s));
	struct buf b;
	char want[64];

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (int i = 0; i < N; i++) {
		s[i].subject = "deep";
		s[i].msgid = arena_printf(&A, "%d@x", i);
		s[i].refs = i ? arena_printf(&A, "%d@x", i - 1) : "";
		s[i].date = i;
	}
	buf_init(&b, 0);
	thread_write(&b, build(s, N), N, THREAD_REFERENCES);
	buf_addc(&b, '\0');
	CU_ASSERT_EQUAL(strncmp(buf_ptr(&b), " (1 2 3 4 ", 10), 0);
	snprintf(want, sizeof(want), " %d)", N);
	CU_ASSERT_STRING_EQUAL(buf_ptr(&b) + buf_len(&b) - 1 - strlen(want),
	    want);
	CU_ASSERT_PTR_NULL(strchr(buf_ptr(&b) + 2, '('));
	buf_free(&b);
	/* and a deep tree that splits at every level */
	for (int i = 0; i < N; i++)
		s[i].refs = i ? arena_printf(&A, "%d@x", (i - 1) / 2) : "";
	buf_init(&b, 0);
	thread_write(&b, build(s, N), N, THREAD_REFERENCES);
	buf_addc(&b, '\0');
	CU_ASSERT_EQUAL(strncmp(buf_ptr(&b), " (1 (2 (4 (8 ", 13), 0);
	buf_free(&b);
	free(s);
}

/* ---- SORT ---- */

static void
sort_is(struct sort_msg *m, size_t n, const struct sort_crit *c, size_t nc,
    const char *want)
{
	struct sort_msg **p = arena_array(&A, n, sizeof(*p));
	char got[256] = "";

	for (size_t i = 0; i < n; i++)
		p[i] = &m[i];
	sort_msgs(p, n, c, nc);
	for (size_t i = 0; i < n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u",
		    i ? " " : "", p[i]->num);
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "\n  SORT %s\n  want %s\n", got, want);
		CU_FAIL("sort");
	}
}

void
test_sort_keys_and_ties(void)
{
	static const struct spec s[] = {
		{ "Re: b", "", "", 30 },
		{ "a", "", "", 30 },
		{ "B", "", "", 10 },
		{ "", "", "", 20 },
	};
	struct sort_msg *m = build(s, 4);
	struct sort_crit subj[] = { { SORT_SUBJECT, false } };
	struct sort_crit rsubj[] = { { SORT_SUBJECT, true } };
	struct sort_crit date[] = { { SORT_DATE, false } };
	struct sort_crit rdate[] = { { SORT_DATE, true } };
	struct sort_crit subj_rdate[] = { { SORT_SUBJECT, false },
	    { SORT_DATE, true } };
	struct sort_crit size[] = { { SORT_SIZE, false } };
	struct sort_crit arrival[] = { { SORT_ARRIVAL, true } };

	m[0].size = 5, m[1].size = 1, m[2].size = 5, m[3].size = 0;
	/* the empty subject first; ties by sequence number */
	sort_is(m, 4, subj, 1, "4 2 1 3");
	/* REVERSE reverses the key, never the sequence tie-break */
	sort_is(m, 4, rsubj, 1, "1 3 2 4");
	sort_is(m, 4, date, 1, "3 4 1 2");
	sort_is(m, 4, rdate, 1, "1 2 4 3");
	sort_is(m, 4, subj_rdate, 2, "4 2 1 3");
	sort_is(m, 4, size, 1, "4 2 1 3");
	sort_is(m, 4, arrival, 1, "1 2 4 3");
}

void
test_sort_address_keys(void)
{
	static const struct spec s[] = {
		{ "", "", "", 0 }, { "", "", "", 0 }, { "", "", "", 0 },
	};
	struct sort_msg *m = build(s, 3);
	struct sort_crit from[] = { { SORT_FROM, false } };
	struct sort_crit to[] = { { SORT_TO, false } };
	struct sort_crit cc[] = { { SORT_CC, true } };
	struct sort_crit dfrom[] = { { SORT_DISPLAYFROM, false } };
	struct sort_crit dto[] = { { SORT_DISPLAYTO, false } };

	m[0].k.from = "ZED", m[1].k.from = "", m[2].k.from = "ALICE";
	m[0].k.to = "B", m[1].k.to = "A", m[2].k.to = "C";
	m[0].k.cc = "B", m[1].k.cc = "A", m[2].k.cc = "C";
	m[0].k.dfrom = "AARDVARK", m[1].k.dfrom = "Z", m[2].k.dfrom = "M";
	m[0].k.dto = "X", m[1].k.dto = "X", m[2].k.dto = "";
	sort_is(m, 3, from, 1, "2 3 1");
	sort_is(m, 3, to, 1, "2 1 3");
	sort_is(m, 3, cc, 1, "3 1 2");
	sort_is(m, 3, dfrom, 1, "1 3 2");
	sort_is(m, 3, dto, 1, "3 1 2");
	CU_ASSERT_TRUE(sort_needs_keys(from, 1));
	CU_ASSERT_FALSE(sort_needs_keys((struct sort_crit[]){ { SORT_DATE,
	    true }, { SORT_SIZE, false }, { SORT_ARRIVAL, false } }, 3));
}
