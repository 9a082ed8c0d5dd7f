/*
 * test_store_import.c - what mailkeepctl import needs of the store
 * (store/store_import.c, schema 5): a never-used mailbox takes the
 * source's UIDVALIDITY (refused once it held mail; later UIDVALIDITYs
 * stay above it), APPEND at a chosen UID (never below UIDNEXT), UIDNEXT
 * raised, and the import state written in the message's transaction
 * (rolled back with it).
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "store/store.h"
#include "store_support.h"

static char *dir;
static struct store *S;

static void
setup(void)
{
	dir = ts_dir();
	S = ts_open(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(S);
}

static void
teardown(void)
{
	store_close(S);
	S = NULL;
	ts_rmdir(dir);
	dir = NULL;
}

static uint32_t
append_at(struct mbox *m, uint32_t want)
{
	struct msg_new n = { .data = "Subject: x\r\n\r\nx\r\n", .len = 17,
	    .internaldate = { 1000, 0 }, .keywords = "", .uid = want };
	uint32_t uid = 0;

	CU_ASSERT_EQUAL(store_msg_append(S, m, &n, &uid), 0);
	return uid;
}

void
test_import_adopt_uidvalidity(void)
{
	struct mbox m, later;

	setup();
	CU_ASSERT_EQUAL(store_mbox_create(S, "Old", 0, &m), 0);
	CU_ASSERT_EQUAL(store_mbox_adopt_uidvalidity(S, &m, 4000000000u), 0);
	CU_ASSERT_EQUAL(m.uidvalidity, 4000000000u);
	/* a mailbox made later never repeats it */
	CU_ASSERT_EQUAL(store_mbox_create(S, "Later", 0, &later), 0);
	CU_ASSERT(later.uidvalidity > 4000000000u);
	CU_ASSERT_EQUAL(store_mbox_adopt_uidvalidity(S, &m, 0), MK_INVALID);
	/* once it held a message, its UIDVALIDITY stays */
	append_at(&m, 0);
	CU_ASSERT_EQUAL(store_mbox_adopt_uidvalidity(S, &m, 7), MK_INVALID);
	CU_ASSERT_EQUAL(m.uidvalidity, 4000000000u);
	teardown();
}

void
test_import_append_at_uid(void)
{
	struct mbox m;

	setup();
	CU_ASSERT_EQUAL(store_mbox_find(S, "INBOX", &m), 0);
	CU_ASSERT_EQUAL(append_at(&m, 5), 5);
	CU_ASSERT_EQUAL(append_at(&m, 9), 9);
	CU_ASSERT_EQUAL(m.uidnext, 10);
	/* below UIDNEXT: the next UID instead, never a reused one */
	CU_ASSERT_EQUAL(append_at(&m, 3), 10);
	CU_ASSERT_EQUAL(append_at(&m, 0), 11);
	CU_ASSERT_EQUAL(store_mbox_raise_uidnext(S, &m, 50), 0);
	CU_ASSERT_EQUAL(m.uidnext, 50);
	CU_ASSERT_EQUAL(store_mbox_raise_uidnext(S, &m, 20), 0);
	CU_ASSERT_EQUAL(m.uidnext, 50);
	CU_ASSERT_EQUAL(append_at(&m, 0), 50);
	teardown();
}

static int
count_key(const char *key, void *arg)
{
	int *n = arg;

	CU_ASSERT(strcmp(key, "INBOX\ta") == 0 || strcmp(key, "INBOX\tb") == 0);
	(*n)++;
	return 0;
}

void
test_import_state_in_the_transaction(void)
{
	struct mbox m;
	int n = 0;

	setup();
	CU_ASSERT_EQUAL(store_mbox_find(S, "INBOX", &m), 0);
	CU_ASSERT_EQUAL(store_begin(S), 0);
	CU_ASSERT_EQUAL(store_import_mark(S, "src", "INBOX\ta", &m, 1), 0);
	store_rollback(S);
	CU_ASSERT_EQUAL(store_import_foreach(S, "src", count_key, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(store_begin(S), 0);
	CU_ASSERT_EQUAL(store_import_mark(S, "src", "INBOX\ta", &m, 1), 0);
	CU_ASSERT_EQUAL(store_import_mark(S, "src", "INBOX\tb", &m, 2), 0);
	CU_ASSERT_EQUAL(store_import_mark(S, "other", "INBOX\tc", &m, 3), 0);
	CU_ASSERT_EQUAL(store_commit(S), 0);
	CU_ASSERT_EQUAL(store_import_foreach(S, "src", count_key, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	teardown();
}
