/*
 * test_store_meta.c - METADATA entries (store/store_meta.c, schema 5) on
 * real SQLite files: set, replace, delete, DEPTH, private entries per
 * user, entries following RENAME and going with DELETE (also a DELETE
 * that leaves a \Noselect parent), INBOX's copied when it is renamed,
 * and the quota's storage counting the values exactly throughout.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_int.h"
#include "tests/unit/store/store_support.h"

struct seen {
	char   text[1024];
	size_t n;
};

static int
collect(const char *name, const void *value, size_t len, void *arg)
{
	struct seen *s = arg;
	int w = snprintf(s->text + strlen(s->text),
	    sizeof(s->text) - strlen(s->text), "%s=%.*s;", name, (int)len,
	    (const char *)value);

	CU_ASSERT(w > 0);
	s->n++;
	return 0;
}

/* "name=value;..." of root and up to depth below, for user. */
static const char *
list(struct store *s, int64_t id, const char *user, const char *root,
    uint32_t depth)
{
	static struct seen seen;

	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(store_meta_foreach(s, id, user, root, depth, collect,
	    &seen), 0);
	return seen.text;
}

static uint64_t
storage(struct store *s)
{
	struct quota_usage u;

	CU_ASSERT_EQUAL(store_quota_usage(s, &u), 0);
	return u.storage;
}

/* The kept usage agrees with a recount from scratch. */
static void
quota_exact(struct store *s)
{
	struct quota_usage kept, actual;

	CU_ASSERT_EQUAL(store_quota_recompute(s, &kept, &actual), 0);
	CU_ASSERT_EQUAL(kept.storage, actual.storage);
}

void
test_meta_set_replace_delete_depth(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct mbox m;
	uint64_t n, bytes, base = storage(s);

	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "INBOX", &m), 0);
	CU_ASSERT_EQUAL(store_meta_set(s, m.id, "", "/shared/comment", "hello",
	    5), 0);
	CU_ASSERT_EQUAL(store_meta_set(s, m.id, "", "/shared/a/b", "1", 1), 0);
	CU_ASSERT_EQUAL(store_meta_set(s, m.id, "", "/shared/a/b/c", "22", 2), 0);
	CU_ASSERT_EQUAL(store_meta_set(s, m.id, "", "/shared/ab", "x", 1), 0);
	/* a value may hold NUL */
	CU_ASSERT_EQUAL(store_meta_set(s, STORE_META_SERVER, "", "/shared/bin",
	    "a\0b", 3), 0);
	CU_ASSERT_EQUAL(storage(s), base + 12);
	CU_ASSERT_STRING_EQUAL(list(s, m.id, "", "/shared/comment", 0),
	    "/shared/comment=hello;");
	/* "/shared/a" is not an entry; depth 1 reaches its children only,
	 * and "/shared/ab" is not below it */
	CU_ASSERT_STRING_EQUAL(list(s, m.id, "", "/shared/a", 0), "");
	CU_ASSERT_STRING_EQUAL(list(s, m.id, "", "/shared/a", 1),
	    "/shared/a/b=1;");
	CU_ASSERT_STRING_EQUAL(list(s, m.id, "", "/shared/a", UINT32_MAX),
	    "/shared/a/b=1;/shared/a/b/c=22;");
	CU_ASSERT_STRING_EQUAL(list(s, m.id, "", "/shared", 1),
	    "/shared/ab=x;/shared/comment=hello;");
	/* replace: the quota counts the new length only */
	CU_ASSERT_EQUAL(store_meta_set(s, m.id, "", "/shared/comment", "hi", 2),
	    0);
	CU_ASSERT_EQUAL(storage(s), base + 9);
	CU_ASSERT_EQUAL(store_meta_set(s, m.id, "", "/shared/comment", NULL, 0),
	    0);
	/* deleting what does not exist is fine and changes nothing */
	CU_ASSERT_EQUAL(store_meta_set(s, m.id, "", "/shared/none", NULL, 0), 0);
	CU_ASSERT_EQUAL(storage(s), base + 7);
	CU_ASSERT_EQUAL(store_meta_usage(s, &n, &bytes), 0);
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_EQUAL(bytes, 7);
	quota_exact(s);
	store_close(s);
	ts_rmdir(dir);
}

void
test_meta_private_is_per_user(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct mbox m;

	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "INBOX", &m), 0);
	CU_ASSERT_EQUAL(store_meta_set(s, m.id, "alice", "/private/comment",
	    "mine", 4), 0);
	CU_ASSERT_EQUAL(store_meta_set(s, m.id, "bob", "/private/comment",
	    "bob's", 5), 0);
	CU_ASSERT_STRING_EQUAL(list(s, m.id, "alice", "/private/comment", 0),
	    "/private/comment=mine;");
	CU_ASSERT_STRING_EQUAL(list(s, m.id, "bob", "/private", UINT32_MAX),
	    "/private/comment=bob's;");
	CU_ASSERT_STRING_EQUAL(list(s, m.id, "", "/private/comment", 0), "");
	store_close(s);
	ts_rmdir(dir);
}

void
test_meta_follows_rename_goes_with_delete(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct mbox m, parent, in, moved;
	uint64_t base = storage(s);

	CU_ASSERT_EQUAL_FATAL(store_mbox_create(s, "Work/Old", 0, &m), 0);
	CU_ASSERT_EQUAL(store_meta_set(s, m.id, "", "/shared/comment", "w", 1), 0);
	CU_ASSERT_EQUAL(store_mbox_rename(s, "Work/Old", "Work/New"), 0);
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "Work/New", &m), 0);
	CU_ASSERT_STRING_EQUAL(list(s, m.id, "", "/shared/comment", 0),
	    "/shared/comment=w;");
	/* a new mailbox of the old name starts with nothing */
	CU_ASSERT_EQUAL_FATAL(store_mbox_create(s, "Work/Old", 0, &m), 0);
	CU_ASSERT_STRING_EQUAL(list(s, m.id, "", "/shared", UINT32_MAX), "");
	/* DELETE takes the entries and their quota */
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "Work/New", &m), 0);
	CU_ASSERT_EQUAL(store_mbox_delete(s, "Work/New"), 0);
	CU_ASSERT_STRING_EQUAL(list(s, m.id, "", "/shared", UINT32_MAX), "");
	CU_ASSERT_EQUAL(storage(s), base);
	/* a parent with children becomes \Noselect: its entries go too */
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "Work", &parent), 0);
	CU_ASSERT_EQUAL(store_meta_set(s, parent.id, "bob", "/private/x", "12",
	    2), 0);
	CU_ASSERT_EQUAL(store_mbox_delete(s, "Work"), 0);
	CU_ASSERT_STRING_EQUAL(list(s, parent.id, "bob", "/private", UINT32_MAX),
	    "");
	CU_ASSERT_EQUAL(storage(s), base);
	/* INBOX renamed: the new mailbox gets a copy, INBOX keeps its own */
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "INBOX", &in), 0);
	CU_ASSERT_EQUAL(store_meta_set(s, in.id, "", "/shared/comment", "in", 2),
	    0);
	CU_ASSERT_EQUAL(store_mbox_rename(s, "INBOX", "Old Inbox"), 0);
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "Old Inbox", &moved), 0);
	CU_ASSERT_STRING_EQUAL(list(s, moved.id, "", "/shared/comment", 0),
	    "/shared/comment=in;");
	CU_ASSERT_STRING_EQUAL(list(s, in.id, "", "/shared/comment", 0),
	    "/shared/comment=in;");
	CU_ASSERT_EQUAL(storage(s), base + 4);
	quota_exact(s);
	store_close(s);
	ts_rmdir(dir);
}

/* A store of the version before METADATA (the last migration) gains
 * the table when opened by this version, and its quota recount works. */
void
test_meta_migration_from_previous(void)
{
	char *dir = ts_dir();
	struct store *s = NULL;
	struct mbox m;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(store_open_with(ts_path(dir, "store.db"), true,
	    false, NULL, 0, store_migrations, store_nmigrations - 1, &s, err,
	    sizeof(err)), 0);
	store_close(s);
	s = ts_open(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "INBOX", &m), 0);
	CU_ASSERT_EQUAL(store_meta_set(s, m.id, "", "/shared/comment", "ok", 2),
	    0);
	quota_exact(s);
	store_close(s);
	ts_rmdir(dir);
}
