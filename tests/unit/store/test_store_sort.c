/*
 * test_store_sort.c - the sort keys in the store (schema version 5):
 * computed at APPEND and read back by store_sort_load() with the sent
 * date (or INTERNALDATE without one) and size; a UID list with gaps;
 * the command arena's ceiling as an ordinary refusal; and the version
 * 5 migration computing the keys of messages stored before it.
 */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "store/sort.h"
#include "store/store_int.h"
#include "store_support.h"

static const char MSG1[] =
	"From: \"Zed Z\" <zed@example.org>\r\n"
	"To: amy@example.org\r\n"
	"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
	"Subject: Re: [list] Plans\r\n"
	"Message-ID: <one@example.org>\r\n"
	"References: <zero@example.org>\r\n"
	"\r\nHello.\r\n";
static const char MSG2[] =
	"From: bob@example.org\r\n"
	"Subject: =?utf-8?q?=C3=A9t=C3=A9?=\r\n"
	"In-Reply-To: <one@example.org>\r\n"
	"\r\nNo date.\r\n";

static void
append_two(struct store *s, struct mbox *in)
{
	CU_ASSERT_EQUAL_FATAL(ts_append(s, in, MSG1, 0, "", 1000, 0), 1);
	CU_ASSERT_EQUAL_FATAL(ts_append(s, in, "Subject: x\r\n\r\n", 0, "",
	    1500, 0), 2);
	CU_ASSERT_EQUAL_FATAL(ts_append(s, in, MSG2, 0, "", 2000, 60), 3);
}

/* The keys of UIDs 1 and 3 (and 9, which does not exist), as SORT
 * and THREAD load them. */
static void
check_keys(struct store *s, const struct mbox *in)
{
	static const uint32_t uids[] = { 1, 3, 9 };
	struct sort_msg *m, *t;
	struct arena a;
	size_t n, nt;

	arena_init(&a, 0);
	CU_ASSERT_EQUAL_FATAL(store_sort_load(s, in, uids, 3, SORT_NEED_KEYS,
	    &a, &m, &n), 0);
	CU_ASSERT_EQUAL_FATAL(store_sort_load(s, in, uids, 3, SORT_NEED_THREAD,
	    &a, &t, &nt), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL_FATAL(nt, 2);
	CU_ASSERT_EQUAL(m[0].uid, 1);
	CU_ASSERT_EQUAL(m[0].seq, 1);
	CU_ASSERT_EQUAL(m[0].date, 760686745);	/* 1994-02-08 05:52:25 UTC */
	CU_ASSERT_EQUAL(m[0].arrival, 1000);
	CU_ASSERT_EQUAL(m[0].size, sizeof(MSG1) - 1);
	CU_ASSERT_STRING_EQUAL(m[0].k.subject, "PLANS");
	CU_ASSERT_TRUE(m[0].k.reply);
	CU_ASSERT_STRING_EQUAL(m[0].k.from, "ZED");
	CU_ASSERT_STRING_EQUAL(m[0].k.dfrom, "ZED Z");
	CU_ASSERT_STRING_EQUAL(m[0].k.to, "AMY");
	CU_ASSERT_STRING_EQUAL(m[0].k.dto, "AMY@EXAMPLE.ORG");
	CU_ASSERT_STRING_EQUAL(m[0].k.refs, "");	/* not asked for */
	CU_ASSERT_STRING_EQUAL(t[0].k.from, "");	/* not asked for */
	CU_ASSERT_STRING_EQUAL(t[0].k.subject, "PLANS");
	CU_ASSERT_TRUE(t[0].k.reply);
	CU_ASSERT_STRING_EQUAL(t[0].k.msgid, "one@example.org");
	CU_ASSERT_STRING_EQUAL(t[0].k.refs, "zero@example.org");
	/* no Date: the INTERNALDATE sorts instead */
	CU_ASSERT_EQUAL(m[1].uid, 3);
	CU_ASSERT_EQUAL(m[1].seq, 2);	/* its place in the UID list */
	CU_ASSERT_EQUAL(m[1].date, 2000);
	CU_ASSERT_STRING_EQUAL(m[1].k.subject, "E\xcc\x81TE\xcc\x81");
	CU_ASSERT_FALSE(m[1].k.reply);
	CU_ASSERT_STRING_EQUAL(t[1].k.msgid, "");
	CU_ASSERT_STRING_EQUAL(t[1].k.refs, "one@example.org");
	arena_free(&a);
}

void
test_sort_keys_stored_at_append(void)
{
	static const uint32_t uids[] = { 1, 3, 9 };	/* 9 does not exist */
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct sort_msg *m;
	struct mbox in;
	struct arena a;
	size_t n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &in), 0);
	append_two(s, &in);
	arena_init(&a, 0);
	check_keys(s, &in);
	/* rows only: dates and sizes, empty strings */
	CU_ASSERT_EQUAL_FATAL(store_sort_load(s, &in, uids, 3, SORT_NEED_ROWS,
	    &a, &m, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(m[1].date, 2000);
	CU_ASSERT_STRING_EQUAL(m[0].k.subject, "");
	CU_ASSERT_EQUAL(store_sort_load(s, &in, uids, 0, SORT_NEED_KEYS,
	    &a, &m, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	arena_free(&a);
	/* a command arena too small for the rows: a refusal, not a crash */
	arena_init(&a, 64);
	CU_ASSERT_EQUAL(store_sort_load(s, &in, uids, 3, SORT_NEED_KEYS,
	    &a, &m, &n), MK_INVALID);
	arena_free(&a);
	store_close(s);
	ts_rmdir(dir);
}

/* A store at version 4 with messages: opening it computes their keys. */
void
test_migration_v5_computes_sort_keys(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct mbox in;
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &in), 0);
	append_two(s, &in);
	/* what version 4 had: no body_sort, nor what versions 6-13 added
	 * (body_sort's index goes with it) */
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(s->db.h, "DROP TABLE body_sort;"
	    "DROP TRIGGER metadata_mbox_gone;"
	    "DROP TRIGGER metadata_mbox_noselect;"
	    "DROP TABLE metadata; DROP TABLE import_state;"
	    "DROP TRIGGER fts_pending_add; DROP TRIGGER fts_pending_del;"
	    "DROP TRIGGER fts_pending_move; DROP TABLE fts_pending;"
	    "DROP TABLE IF EXISTS fts; DELETE FROM meta WHERE key = 'fts';"
	    "ALTER TABLE mailboxes DROP COLUMN expunged_floor;"
	    "DROP TRIGGER body_chunks_gone; DROP TABLE body_chunks;"
	    "ALTER TABLE bodies DROP COLUMN chunk;"
	    /* version 11 */
	    "DROP INDEX bodies_objid; DROP INDEX bodies_thread;"
	    "DROP TABLE body_preview;"
	    "ALTER TABLE mailboxes DROP COLUMN objid;"
	    "ALTER TABLE bodies DROP COLUMN objid;"
	    "ALTER TABLE bodies DROP COLUMN thread;"
	    "ALTER TABLE messages DROP COLUMN savedate;"
	    "DELETE FROM meta WHERE key IN ('objid_salt', 'objid_next');"
	    "DROP TRIGGER url_keys_mbox_gone;"
	    "DROP TRIGGER url_keys_mbox_noselect; DROP TABLE url_keys;"
	    "DROP TRIGGER index_msg_add; DROP TRIGGER index_msg_del;"
	    "DROP TRIGGER index_msg_move; DROP TRIGGER index_recent;"
	    "DROP TRIGGER index_mbox_gone; DROP TABLE uid_runs;"
	    "DROP INDEX messages_unseen;"
	    "ALTER TABLE mailboxes DROP COLUMN nrecent;"
	    "PRAGMA user_version = 4;", NULL, NULL, NULL), SQLITE_OK);
	store_close(s);
	if (store_open(ts_path(dir, "store.db"), false, false, NULL, 0, &s, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "\n  migration: %s\n", err);
		CU_FAIL_FATAL("store_open after the migration");
	}
	CU_ASSERT_EQUAL(store_schema_version(s), STORE_SCHEMA_VERSION);
	check_keys(s, &in);
	store_close(s);
	ts_rmdir(dir);
}
