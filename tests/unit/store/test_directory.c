/*
 * test_directory.c - the directory database: user names, adding,
 * looking up, changing and deleting users, ids that are never reused,
 * file mode, and the impersonation audit trail.
 */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/directory.h"
#include "store/store.h"
#include "store_support.h"

static char *dir;
static struct directory *D;

static void
setup(void)
{
	char err[256];

	dir = ts_dir();
	CU_ASSERT_EQUAL_FATAL(dir_open(ts_path(dir, "directory.db"), true, &D,
	    err, sizeof(err)), 0);
}

static void
teardown(void)
{
	dir_close(D);
	D = NULL;
	ts_rmdir(dir);
}

void
test_dir_name_canon(void)
{
	char out[MK_USER_MAX], big[80];
	const char *why = NULL;

	CU_ASSERT_TRUE(dir_name_canon("Alice.Smith@Example.ORG", out,
	    sizeof(out), &why));
	CU_ASSERT_STRING_EQUAL(out, "alice.smith@example.org");
	CU_ASSERT_TRUE(dir_name_canon("0day+x_y-z", out, sizeof(out), &why));
	CU_ASSERT_FALSE(dir_name_canon("", out, sizeof(out), &why));
	CU_ASSERT_PTR_NOT_NULL(why);
	CU_ASSERT_FALSE(dir_name_canon(".alice", out, sizeof(out), &why));
	CU_ASSERT_FALSE(dir_name_canon("-alice", out, sizeof(out), &why));
	CU_ASSERT_FALSE(dir_name_canon("al ice", out, sizeof(out), &why));
	CU_ASSERT_FALSE(dir_name_canon("al/ice", out, sizeof(out), &why));
	CU_ASSERT_FALSE(dir_name_canon("al\xc3\xa9", out, sizeof(out), &why));
	CU_ASSERT_FALSE(dir_name_canon("alice", out, 3, &why));
	memset(big, 'a', 64);
	big[64] = '\0';
	CU_ASSERT_TRUE(dir_name_canon(big, out, sizeof(out), &why));
	big[64] = 'a';
	big[65] = '\0';
	CU_ASSERT_FALSE(dir_name_canon(big, out, sizeof(out), &why));
}

void
test_dir_users(void)
{
	struct dir_user u;
	uint32_t id = 0, id2 = 0;
	struct stat st;

	setup();
	CU_ASSERT_EQUAL(stat(ts_path(dir, "directory.db"), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL(dir_user_add(D, "Alice", "$y$j9T$salt$hash", &id), 0);
	CU_ASSERT(id > 0);
	CU_ASSERT_EQUAL(dir_user_add(D, "alice", "$y$other", &id2), MK_EXISTS);
	CU_ASSERT_EQUAL(dir_user_add(D, "bad name", "$y$x", &id2), MK_INVALID);
	CU_ASSERT_EQUAL(dir_user_add(D, "bob", "", &id2), MK_INVALID);
	CU_ASSERT_EQUAL(dir_user_get(D, "ALICE", &u), 0);
	CU_ASSERT_EQUAL(u.id, id);
	CU_ASSERT_STRING_EQUAL(u.name, "alice");
	CU_ASSERT_STRING_EQUAL(u.hash, "$y$j9T$salt$hash");
	CU_ASSERT_FALSE(u.admin);
	CU_ASSERT_EQUAL(u.quota_storage, -1);
	CU_ASSERT_EQUAL(u.quota_messages, -1);
	CU_ASSERT(u.created > 1600000000);
	CU_ASSERT_EQUAL(dir_user_get_by_id(D, id, &u), 0);
	CU_ASSERT_STRING_EQUAL(u.name, "alice");
	CU_ASSERT_EQUAL(dir_user_get(D, "nobody", &u), MK_NOTFOUND);
	CU_ASSERT_EQUAL(dir_user_get(D, "no body", &u), MK_NOTFOUND);
	CU_ASSERT_EQUAL(dir_user_get_by_id(D, 9999, &u), MK_NOTFOUND);

	CU_ASSERT_EQUAL(dir_user_set_hash(D, "alice", "$y$new"), 0);
	CU_ASSERT_EQUAL(dir_user_set_admin(D, "alice", true), 0);
	CU_ASSERT_EQUAL(dir_user_set_quota(D, "alice", 1024, 500), 0);
	CU_ASSERT_EQUAL(dir_user_get(D, "alice", &u), 0);
	CU_ASSERT_STRING_EQUAL(u.hash, "$y$new");
	CU_ASSERT_TRUE(u.admin);
	CU_ASSERT_EQUAL(u.quota_storage, 1024);
	CU_ASSERT_EQUAL(u.quota_messages, 500);
	CU_ASSERT_EQUAL(dir_user_set_quota(D, "alice", -7, -1), 0);
	CU_ASSERT_EQUAL(dir_user_get(D, "alice", &u), 0);
	CU_ASSERT_EQUAL(u.quota_storage, -1);
	CU_ASSERT_EQUAL(dir_user_set_hash(D, "nobody", "$y$x"), MK_NOTFOUND);
	CU_ASSERT_EQUAL(dir_user_set_admin(D, "nobody", true), MK_NOTFOUND);
	CU_ASSERT_EQUAL(dir_user_set_quota(D, "nobody", 1, 1), MK_NOTFOUND);
	CU_ASSERT_EQUAL(dir_user_del(D, "nobody"), MK_NOTFOUND);
	teardown();
}

static int
names_cb(const struct dir_user *u, void *arg)
{
	strcat(arg, u->name);
	strcat(arg, ",");
	return 0;
}

void
test_dir_ids_never_reused(void)
{
	char names[128] = "", err[256];
	struct dir_user u;
	uint32_t a, b, c;

	setup();
	CU_ASSERT_EQUAL(dir_user_add(D, "carol", "$y$1", &a), 0);
	CU_ASSERT_EQUAL(dir_user_add(D, "bob", "$y$2", &b), 0);
	CU_ASSERT_EQUAL(dir_user_foreach(D, names_cb, names), 0);
	CU_ASSERT_STRING_EQUAL(names, "bob,carol,");
	CU_ASSERT_EQUAL(dir_user_del(D, "BOB"), 0);
	CU_ASSERT_EQUAL(dir_user_get(D, "bob", &u), MK_NOTFOUND);
	/* A new user never gets a uid whose files may still exist. */
	CU_ASSERT_EQUAL(dir_user_add(D, "bob", "$y$3", &c), 0);
	CU_ASSERT(c > b && b > a);
	dir_close(D);
	CU_ASSERT_EQUAL_FATAL(dir_open(ts_path(dir, "directory.db"), false, &D,
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(dir_user_del(D, "bob"), 0);
	CU_ASSERT_EQUAL(dir_user_add(D, "dave", "$y$4", &a), 0);
	CU_ASSERT(a > c);
	teardown();
}

struct audits {
	int      n;
	char     line[4][128];
};

static int
audit_cb(const struct dir_audit *a, void *arg)
{
	struct audits *x = arg;

	if (x->n < 4)
		snprintf(x->line[x->n++], sizeof(x->line[0]),
		    "%lld %lld %lld %s %s %s %s %llu", (long long)a->id,
		    (long long)a->start, (long long)a->end, a->admin, a->target,
		    a->client, a->method, (unsigned long long)a->session);
	return 0;
}

void
test_dir_audit(void)
{
	struct dir_audit a = { 0, 1000, 0, "root", "alice", "192.0.2.1",
	    "PROXYAUTH", 77 };
	struct audits x = { 0 };
	int64_t row = 0, row2 = 0;
	char err[256];

	setup();
	CU_ASSERT_EQUAL(dir_audit_start(D, &a, &row), 0);
	CU_ASSERT(row > 0);
	a = (struct dir_audit){ 0, 1005, 0, "root", "bob", "192.0.2.2",
	    "authzid", UINT64_MAX };
	CU_ASSERT_EQUAL(dir_audit_start(D, &a, &row2), 0);
	CU_ASSERT_EQUAL(dir_audit_end(D, 77, 2000), 0);
	CU_ASSERT_EQUAL(dir_audit_end(D, 77, 3000), MK_NOTFOUND);	/* ended */
	CU_ASSERT_EQUAL(dir_audit_end(D, 12345, 3000), MK_NOTFOUND);
	dir_close(D);
	CU_ASSERT_EQUAL_FATAL(dir_open(ts_path(dir, "directory.db"), false, &D,
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(dir_audit_foreach(D, audit_cb, &x), 0);
	CU_ASSERT_EQUAL_FATAL(x.n, 2);
	CU_ASSERT_STRING_EQUAL(x.line[0],
	    "1 1000 2000 root alice 192.0.2.1 PROXYAUTH 77");
	CU_ASSERT_STRING_EQUAL(x.line[1],
	    "2 1005 0 root bob 192.0.2.2 authzid 18446744073709551615");
	CU_ASSERT_EQUAL(dir_audit_end(D, UINT64_MAX, 2500), 0);
	teardown();
}

void
test_dir_open_missing(void)
{
	struct directory *d = NULL;
	char err[256] = "";
	char *tmp = ts_dir();

	CU_ASSERT_EQUAL(dir_open(ts_path(tmp, "none.db"), false, &d, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(d);
	CU_ASSERT(strlen(err) > 0);
	ts_rmdir(tmp);
}

/* A v2 directory (before users.backend) gains the column with '' for
 * every user; the backend is set, read back, cleared, and refused when
 * it is no backend name or the user is unknown. */
void
test_dir_user_backend(void)
{
	char err[256];
	struct dir_user u;
	uint32_t id;
	sqlite3 *h;

	dir = ts_dir();
	/* A directory as schema 2 left it, with one user. */
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(ts_path(dir, "directory.db"), &h),
	    SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(h,
	    "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " name TEXT NOT NULL UNIQUE, hash TEXT NOT NULL,"
	    " admin INTEGER NOT NULL DEFAULT 0,"
	    " quota_storage INTEGER NOT NULL DEFAULT -1,"
	    " quota_messages INTEGER NOT NULL DEFAULT -1,"
	    " created INTEGER NOT NULL);"
	    "CREATE TABLE audit (id INTEGER PRIMARY KEY, started INTEGER NOT"
	    " NULL, ended INTEGER NOT NULL DEFAULT 0, admin TEXT NOT NULL,"
	    " target TEXT NOT NULL, client TEXT NOT NULL, method TEXT NOT NULL,"
	    " session INTEGER NOT NULL);"
	    "CREATE TABLE shares (owner_id INTEGER NOT NULL, mailbox TEXT NOT"
	    " NULL, grantee TEXT NOT NULL, rights TEXT NOT NULL,"
	    " PRIMARY KEY (owner_id, mailbox, grantee)) WITHOUT ROWID;"
	    "INSERT INTO users (name, hash, created) VALUES ('old', 'x', 1);"
	    "PRAGMA user_version = 2;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	CU_ASSERT_EQUAL_FATAL(dir_open(ts_path(dir, "directory.db"), false, &D,
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(dir_user_get(D, "old", &u), 0);
	CU_ASSERT_STRING_EQUAL(u.backend, "");

	CU_ASSERT_EQUAL(dir_user_add(D, "alice", "$y$hash", &id), 0);
	CU_ASSERT_EQUAL(dir_user_set_backend(D, "ALICE", "b2"), 0);
	CU_ASSERT_EQUAL(dir_user_get(D, "alice", &u), 0);
	CU_ASSERT_STRING_EQUAL(u.backend, "b2");
	CU_ASSERT_EQUAL(dir_user_get_by_id(D, id, &u), 0);
	CU_ASSERT_STRING_EQUAL(u.backend, "b2");
	/* other users untouched */
	CU_ASSERT_EQUAL(dir_user_get(D, "old", &u), 0);
	CU_ASSERT_STRING_EQUAL(u.backend, "");

	CU_ASSERT_EQUAL(dir_user_set_backend(D, "alice", "B 2"), MK_INVALID);
	CU_ASSERT_EQUAL(dir_user_set_backend(D, "alice", "-b"), MK_INVALID);
	CU_ASSERT_EQUAL(dir_user_set_backend(D, "nobody", "b2"), MK_NOTFOUND);
	CU_ASSERT_EQUAL(dir_user_get(D, "alice", &u), 0);
	CU_ASSERT_STRING_EQUAL(u.backend, "b2");
	CU_ASSERT_EQUAL(dir_user_set_backend(D, "alice", ""), 0);
	CU_ASSERT_EQUAL(dir_user_get(D, "alice", &u), 0);
	CU_ASSERT_STRING_EQUAL(u.backend, "");
	teardown();
}
