/*
 * parse_helpers.h - shared by the common/ parser tests: parse a string
 * with a fresh arena and keep the result in file-scope variables.
 */
#ifndef MK_TEST_PARSE_HELPERS_H
#define MK_TEST_PARSE_HELPERS_H

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/imap.h"

static struct arena ph_arena;
static struct imap_cmd C;
static const char *E;

/* Parses n bytes of s (which may hold NULs and literals). */
static inline int
parse_n(const char *s, size_t n)
{
	arena_reset(&ph_arena);
	E = NULL;
	return imap_parse(&ph_arena, s, n, &C, &E);
}

static inline int
parse(const char *s)
{
	return parse_n(s, strlen(s));
}

/* Expects a BAD whose reason contains want. */
#define BAD(s, want) do {						\
	int r_ = parse(s);						\
	CU_ASSERT_EQUAL(r_, -1);					\
	CU_ASSERT_PTR_NOT_NULL(E);					\
	if (E != NULL && strstr(E, (want)) == NULL) {			\
		fprintf(stderr, "\n  %s: got \"%s\", want \"%s\"\n",	\
		    (s), E, (want));					\
		CU_FAIL("wrong error reason");				\
	}								\
} while (0)

#define OK(s) do {							\
	int r_ = parse(s);						\
	if (r_ != 0)							\
		fprintf(stderr, "\n  %s: unexpected BAD \"%s\"\n", (s), E); \
	CU_ASSERT_EQUAL_FATAL(r_, 0);					\
} while (0)

#endif
