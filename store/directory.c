/*
 * directory.c - the directory database: users, hashes, admin flag,
 * quota limits, impersonation audit (see directory.h).
 *
 * Called by the master (logins, PROXYAUTH, quota limits) and mailkeepctl.
 * The file is created 0600, WAL, through the same plumbing and migration
 * runner as the user stores (store.c, store_schema.c).
 *
 * Schema version 1:
 *   users(id AUTOINCREMENT, name UNIQUE, hash, admin, quota_storage,
 *         quota_messages, created)
 *       A mailbox process runs as mail_uid_base + id, so an id must never
 *       be handed out twice: AUTOINCREMENT keeps a deleted user's id (and
 *       the files that uid still owns) from going to a new user.
 *   audit(id, started, ended, admin, target, client, method, session)
 *       One row per impersonation; ended is 0 while the session runs.
 *       The partial index finds the running row of a session.
 *
 * Schema version 2: shares (the share index).
 * Schema version 3: users.backend, the cluster backend that holds the
 *       user's store ('' = this server; doc/cluster.md).
 */
#include "store/directory.h"
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

struct directory {
	struct sqldb db;
};

static const char DIR_SCHEMA_V1[] =
	"CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  hash TEXT NOT NULL,"
	"  admin INTEGER NOT NULL DEFAULT 0,"
	"  quota_storage INTEGER NOT NULL DEFAULT -1,"
	"  quota_messages INTEGER NOT NULL DEFAULT -1,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  started INTEGER NOT NULL,"
	"  ended INTEGER NOT NULL DEFAULT 0,"
	"  admin TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  client TEXT NOT NULL,"
	"  method TEXT NOT NULL,"
	"  session INTEGER NOT NULL"
	");"
	"CREATE INDEX audit_running ON audit (session) WHERE ended = 0;";

/* The share index: who grants whom rights on which mailbox.  The ACL
 * itself lives in the owner's store; this copy lets the master decide,
 * without opening anyone's store, whether a user may reach another
 * user's mailbox process at all, and lets LIST show shared folders. */
static const char DIR_SCHEMA_V2[] =
	"CREATE TABLE shares ("
	"  owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
	"  mailbox TEXT NOT NULL,"
	"  grantee TEXT NOT NULL,"
	"  rights TEXT NOT NULL,"
	"  PRIMARY KEY (owner_id, mailbox, grantee)"
	") WITHOUT ROWID;"
	"CREATE INDEX shares_grantee ON shares (grantee, owner_id);";

/* Which backend of a cluster holds the user; '' is the server that
 * reads this directory, so a single machine never sets it. */
static const char DIR_SCHEMA_V3[] =
	"ALTER TABLE users ADD COLUMN backend TEXT NOT NULL DEFAULT '';";

static const struct db_migration dir_migrations[] = {
	{ 1, "initial schema", DIR_SCHEMA_V1, NULL },
	{ 2, "share index", DIR_SCHEMA_V2, NULL },
	{ 3, "user backend", DIR_SCHEMA_V3, NULL },
};

#define USER_COLS \
	"id, name, hash, admin, quota_storage, quota_messages, created, backend"

int
dir_open(const char *path, bool create, struct directory **out, char *err,
    size_t errlen)
{
	struct directory *d = xcalloc(1, sizeof(*d));
	int from;

	*out = NULL;
	/* The directory holds hashes: always durable. */
	if (db_open(&d->db, path, create, true, err, errlen) != 0) {
		free(d);
		return -1;
	}
	if (db_migrate(&d->db, dir_migrations, nitems(dir_migrations),
	    &from) != 0) {
		snprintf(err, errlen, "%s: %s", path, d->db.err);
		dir_close(d);
		return -1;
	}
	*out = d;
	return 0;
}

void
dir_close(struct directory *d)
{
	if (d == NULL)
		return;
	db_close(&d->db);
	free(d);
}

const char *
dir_errmsg(struct directory *d)
{
	return d->db.err;
}

static bool
name_bad(const char **why, const char *msg)
{
	*why = msg;
	return false;
}

bool
dir_name_canon(const char *name, char *out, size_t outlen, const char **why)
{
	size_t i, len = name ? strlen(name) : 0;

	if (len == 0)
		return name_bad(why, "empty user name");
	if (len > MK_USER_MAX - 1)
		return name_bad(why, "user name longer than 64 bytes");
	if (len >= outlen)
		return name_bad(why, "user name does not fit");
	for (i = 0; i < len; i++) {
		char c = name[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			;
		else if (i == 0)
			return name_bad(why, "user name must start with a letter or "
			    "digit");
		else if (strchr("._@+-", c) == NULL)
			return name_bad(why, "user name may hold only a-z 0-9 . _ @ "
			    "+ -");
		out[i] = c;
	}
	out[len] = '\0';
	return true;
}

bool
dir_name_reserved(const char *canon)
{
	/* RFC 4314 "anyone" means every user in an ACL; "anonymous" is the
	 * conventional name of an unauthenticated user (RFC 4314 5.1.1). */
	static const char *const reserved[] = { "anyone", "anonymous" };

	for (size_t i = 0; i < nitems(reserved); i++)
		if (strcmp(canon, reserved[i]) == 0)
			return true;
	return false;
}

/* ---- users ---- */

static void
user_read(sqlite3_stmt *st, struct dir_user *u)
{
	const unsigned char *name = sqlite3_column_text(st, 1);
	const unsigned char *hash = sqlite3_column_text(st, 2);
	const unsigned char *backend = sqlite3_column_text(st, 7);

	memset(u, 0, sizeof(*u));
	u->id = (uint32_t)sqlite3_column_int64(st, 0);
	mk_strlcpy(u->name, name ? (const char *)name : "", sizeof(u->name));
	mk_strlcpy(u->hash, hash ? (const char *)hash : "", sizeof(u->hash));
	u->admin = sqlite3_column_int(st, 3) != 0;
	u->quota_storage = sqlite3_column_int64(st, 4);
	u->quota_messages = sqlite3_column_int64(st, 5);
	u->created = sqlite3_column_int64(st, 6);
	mk_strlcpy(u->backend, backend ? (const char *)backend : "",
	    sizeof(u->backend));
}

static int
user_fetch(struct directory *d, sqlite3_stmt *st, struct dir_user *u)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		user_read(st, u);
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = db_err(&d->db, MK_NOTFOUND, "no such user");
	else
		rc = db_fail(&d->db, "user read");
	db_done(&d->db, st);
	return rc;
}

int
dir_user_get(struct directory *d, const char *name, struct dir_user *u)
{
	char canon[MK_USER_MAX];
	const char *why;
	sqlite3_stmt *st;

	if (!dir_name_canon(name, canon, sizeof(canon), &why))
		return db_err(&d->db, MK_NOTFOUND, "no such user");
	st = db_stmt(&d->db, "SELECT " USER_COLS " FROM users WHERE name = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, canon, -1, SQLITE_STATIC);
	return user_fetch(d, st, u);
}

void
dir_user_forget_hash(struct dir_user *u)
{
	explicit_bzero(u->hash, sizeof(u->hash));
}

int
dir_user_get_by_id(struct directory *d, uint32_t id, struct dir_user *u)
{
	sqlite3_stmt *st = db_stmt(&d->db,
	    "SELECT " USER_COLS " FROM users WHERE id = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return user_fetch(d, st, u);
}

static int
hash_check(struct directory *d, const char *hash)
{
	if (hash == NULL || *hash == '\0' ||
	    strlen(hash) >= sizeof(((struct dir_user *)0)->hash))
		return db_err(&d->db, MK_INVALID, "password hash empty or "
		    "longer than 255 bytes");
	return 0;
}

int
dir_user_add(struct directory *d, const char *name, const char *hash,
    uint32_t *id)
{
	char canon[MK_USER_MAX];
	const char *why;
	sqlite3_stmt *st;
	int rc;

	if (!dir_name_canon(name, canon, sizeof(canon), &why))
		return db_err(&d->db, MK_INVALID, "%s", why);
	if (dir_name_reserved(canon))
		return db_err(&d->db, MK_INVALID, "user name %s is reserved",
		    canon);
	if ((rc = hash_check(d, hash)) != 0)
		return rc;
	st = db_stmt(&d->db, "INSERT INTO users (name, hash, created)"
	    " VALUES (?1, ?2, ?3)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, canon, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		rc = db_err(&d->db, MK_EXISTS, "user %s exists", canon);
	else if (rc != SQLITE_DONE)
		rc = db_fail(&d->db, "user add");
	else {
		rc = 0;
		if (sqlite3_last_insert_rowid(d->db.h) > (int64_t)UINT32_MAX)
			rc = db_err(&d->db, -1, "user id space exhausted");
		else if (id != NULL)
			*id = (uint32_t)sqlite3_last_insert_rowid(d->db.h);
	}
	db_done(&d->db, st);
	return rc;
}

/* Runs an UPDATE / DELETE whose ?1 is the user name; MK_NOTFOUND if no
 * row changed. */
static int
user_change(struct directory *d, sqlite3_stmt *st, const char *name)
{
	char canon[MK_USER_MAX];
	const char *why;
	int rc;

	if (!dir_name_canon(name, canon, sizeof(canon), &why)) {
		db_done(&d->db, st);
		return db_err(&d->db, MK_NOTFOUND, "no such user");
	}
	sqlite3_bind_text(st, 1, canon, -1, SQLITE_TRANSIENT);
	if ((rc = db_run(&d->db, st, "user change")) != 0)
		return rc;
	if (sqlite3_changes(d->db.h) == 0)
		return db_err(&d->db, MK_NOTFOUND, "no such user");
	return 0;
}

int
dir_user_del(struct directory *d, const char *name)
{
	sqlite3_stmt *st = db_stmt(&d->db, "DELETE FROM users WHERE name = ?1");

	return st == NULL ? -1 : user_change(d, st, name);
}

int
dir_user_set_hash(struct directory *d, const char *name, const char *hash)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = hash_check(d, hash)) != 0)
		return rc;
	if ((st = db_stmt(&d->db,
	    "UPDATE users SET hash = ?2 WHERE name = ?1")) == NULL)
		return -1;
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	return user_change(d, st, name);
}

int
dir_user_set_admin(struct directory *d, const char *name, bool admin)
{
	sqlite3_stmt *st = db_stmt(&d->db,
	    "UPDATE users SET admin = ?2 WHERE name = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 2, admin);
	return user_change(d, st, name);
}

int
dir_user_set_quota(struct directory *d, const char *name, int64_t storage_kib,
    int64_t messages)
{
	sqlite3_stmt *st = db_stmt(&d->db, "UPDATE users SET"
	    " quota_storage = ?2, quota_messages = ?3 WHERE name = ?1");

	if (st == NULL)
		return -1;
	/* Anything negative means "the configured default". */
	sqlite3_bind_int64(st, 2, storage_kib < 0 ? -1 : storage_kib);
	sqlite3_bind_int64(st, 3, messages < 0 ? -1 : messages);
	return user_change(d, st, name);
}

/* The rule of config_backend_name_ok(), which the store cannot call. */
static bool
backend_name_ok(const char *b)
{
	size_t n = strlen(b);

	if (n == 0)
		return true;
	if (n >= MK_BACKEND_MAX || !((b[0] >= 'a' && b[0] <= 'z') ||
	    (b[0] >= '0' && b[0] <= '9')))
		return false;
	return strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int
dir_user_set_backend(struct directory *d, const char *name,
    const char *backend)
{
	sqlite3_stmt *st;

	if (!backend_name_ok(backend))
		return db_err(&d->db, MK_INVALID, "bad backend name");
	if ((st = db_stmt(&d->db,
	    "UPDATE users SET backend = ?2 WHERE name = ?1")) == NULL)
		return -1;
	sqlite3_bind_text(st, 2, backend, -1, SQLITE_TRANSIENT);
	return user_change(d, st, name);
}

int
dir_user_foreach(struct directory *d,
    int (*cb)(const struct dir_user *u, void *arg), void *arg)
{
	sqlite3_stmt *st = db_stmt(&d->db,
	    "SELECT " USER_COLS " FROM users ORDER BY name");
	struct dir_user u;
	int rc = 0, step = SQLITE_DONE;

	if (st == NULL)
		return -1;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		user_read(st, &u);
		rc = cb(&u, arg);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&d->db, "users");
	db_done(&d->db, st);
	explicit_bzero(&u, sizeof(u));
	return rc;
}

/* ---- impersonation audit ---- */

int
dir_audit_start(struct directory *d, const struct dir_audit *a, int64_t *row)
{
	sqlite3_stmt *st = db_stmt(&d->db, "INSERT INTO audit (started, admin,"
	    " target, client, method, session) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, a->start);
	sqlite3_bind_text(st, 2, a->admin ? a->admin : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->target ? a->target : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->client ? a->client : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 5, a->method ? a->method : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (int64_t)a->session);
	if ((rc = db_run(&d->db, st, "audit start")) != 0)
		return rc;
	if (row != NULL)
		*row = sqlite3_last_insert_rowid(d->db.h);
	return 0;
}

int
dir_audit_end(struct directory *d, uint64_t session, int64_t end)
{
	sqlite3_stmt *st = db_stmt(&d->db, "UPDATE audit SET ended = ?2"
	    " WHERE session = ?1 AND ended = 0");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)session);
	/* 0 means "running": an end at the epoch is still an end. */
	sqlite3_bind_int64(st, 2, end != 0 ? end : 1);
	if ((rc = db_run(&d->db, st, "audit end")) != 0)
		return rc;
	if (sqlite3_changes(d->db.h) == 0)
		return db_err(&d->db, MK_NOTFOUND, "no running audit session");
	return 0;
}

int
dir_audit_foreach(struct directory *d,
    int (*cb)(const struct dir_audit *a, void *arg), void *arg)
{
	sqlite3_stmt *st = db_stmt(&d->db, "SELECT id, started, ended, admin,"
	    " target, client, method, session FROM audit ORDER BY id");
	struct dir_audit a;
	int rc = 0, step = SQLITE_DONE;

	if (st == NULL)
		return -1;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		a.id = sqlite3_column_int64(st, 0);
		a.start = sqlite3_column_int64(st, 1);
		a.end = sqlite3_column_int64(st, 2);
		a.admin = (const char *)sqlite3_column_text(st, 3);
		a.target = (const char *)sqlite3_column_text(st, 4);
		a.client = (const char *)sqlite3_column_text(st, 5);
		a.method = (const char *)sqlite3_column_text(st, 6);
		a.session = (uint64_t)sqlite3_column_int64(st, 7);
		rc = cb(&a, arg);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&d->db, "audit");
	db_done(&d->db, st);
	return rc;
}

/* ---- the share index ---- */

int
dir_user_next_id(struct directory *d, uint32_t *id)
{
	/* AUTOINCREMENT hands out one more than the largest id ever used,
	 * which sqlite_sequence remembers (absent before the first user). */
	sqlite3_stmt *st = db_stmt(&d->db, "SELECT max(coalesce((SELECT seq"
	    " FROM sqlite_sequence WHERE name = 'users'), 0),"
	    " coalesce((SELECT max(id) FROM users), 0)) + 1");
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t v = sqlite3_column_int64(st, 0);
		rc = v > (int64_t)UINT32_MAX ? db_err(&d->db, -1,
		    "user id space exhausted") : 0;
		*id = (uint32_t)v;
	} else
		rc = db_fail(&d->db, "next user id");
	db_done(&d->db, st);
	return rc;
}

int
dir_share_count(struct directory *d, uint32_t owner_id, const char *mailbox,
    const char *grantee, unsigned n[2], bool *exists)
{
	sqlite3_stmt *st = db_stmt(&d->db, "SELECT count(*),"
	    " coalesce(sum(mailbox = ?2), 0),"
	    " coalesce(sum(mailbox = ?2 AND grantee = ?3), 0)"
	    " FROM shares WHERE owner_id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, owner_id);
	sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, grantee, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		n[0] = (unsigned)sqlite3_column_int64(st, 0);
		n[1] = (unsigned)sqlite3_column_int64(st, 1);
		*exists = sqlite3_column_int64(st, 2) != 0;
		rc = 0;
	} else
		rc = db_fail(&d->db, "share count");
	db_done(&d->db, st);
	return rc;
}

int
dir_share_set(struct directory *d, uint32_t owner_id, const char *mailbox,
    const char *grantee, const char *rights)
{
	sqlite3_stmt *st;

	if (rights[0] == '\0')
		st = db_stmt(&d->db, "DELETE FROM shares WHERE owner_id = ?1"
		    " AND mailbox = ?2 AND grantee = ?3");
	else
		st = db_stmt(&d->db, "INSERT OR REPLACE INTO shares"
		    " (owner_id, mailbox, grantee, rights) VALUES (?1, ?2, ?3, ?4)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, owner_id);
	sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, grantee, -1, SQLITE_STATIC);
	if (rights[0] != '\0')
		sqlite3_bind_text(st, 4, rights, -1, SQLITE_STATIC);
	return db_run(&d->db, st, "share");
}

int
dir_shares_for(struct directory *d, const char *grantee,
    int (*cb)(const char *owner, const char *mailbox, const char *rights,
    void *arg), void *arg)
{
	sqlite3_stmt *st = db_stmt(&d->db, "SELECT u.name, s.mailbox, s.rights"
	    " FROM shares s JOIN users u ON u.id = s.owner_id"
	    " WHERE s.grantee IN (?1, 'anyone') AND u.name <> ?1"
	    " ORDER BY u.name, s.mailbox");
	int rc = 0, step = SQLITE_DONE;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, grantee, -1, SQLITE_STATIC);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = cb((const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (const char *)sqlite3_column_text(st, 2), arg);
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&d->db, "shares");
	db_done(&d->db, st);
	return rc;
}

int
dir_data_version(struct directory *d, int64_t *v)
{
	sqlite3_stmt *st = db_stmt(&d->db, "PRAGMA data_version");
	int rc;

	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = 0;
	} else
		rc = db_fail(&d->db, "data_version");
	db_done(&d->db, st);
	return rc;
}

int
dir_share_exists(struct directory *d, uint32_t owner_id, const char *grantee)
{
	sqlite3_stmt *st = db_stmt(&d->db, "SELECT 1 FROM shares"
	    " WHERE owner_id = ?1 AND grantee IN (?2, 'anyone') LIMIT 1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, owner_id);
	sqlite3_bind_text(st, 2, grantee, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 :
	    db_fail(&d->db, "share check");
	db_done(&d->db, st);
	return rc;
}

int
dir_shares_of(struct directory *d, uint32_t owner_id,
    int (*cb)(const char *mailbox, const char *grantee, const char *rights,
    void *arg), void *arg)
{
	sqlite3_stmt *st = db_stmt(&d->db, "SELECT mailbox, grantee, rights"
	    " FROM shares WHERE owner_id = ?1 ORDER BY mailbox, grantee");
	int rc = 0, step = SQLITE_DONE;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, owner_id);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = cb((const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    (const char *)sqlite3_column_text(st, 2), arg);
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&d->db, "shares");
	db_done(&d->db, st);
	return rc;
}

int
dir_shares_drop(struct directory *d, uint32_t owner_id)
{
	sqlite3_stmt *st = db_stmt(&d->db,
	    "DELETE FROM shares WHERE owner_id = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, owner_id);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
