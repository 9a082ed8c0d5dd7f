/*
 * test_mime.c - unit tests of store/mime*.c beyond the golden corpus:
 * limits, damaged input, the part table reader, decoders, search.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "store/mime.h"


void
test_empty_message(void)
{
	struct arena a;
	struct mime_result r;

	arena_init(&a, 0);
	CU_ASSERT_EQUAL(mime_analyze(&a, "", 0, &r), 0);
	CU_ASSERT_EQUAL(r.envelope_len, strlen("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"));
	arena_free(&a);
}
