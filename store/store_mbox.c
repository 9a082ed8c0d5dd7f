/*
 * store_mbox.c - mailboxes, their keywords, and subscriptions.
 *
 * Offers the mailbox half of store.h: name rules, CREATE / DELETE /
 * RENAME with RFC 3501's hierarchy semantics, STATUS counters, \Recent
 * hand-out, special-use, per-mailbox keyword definitions and the
 * subscription list; and to store_msg.c the helpers that keep a
 * mailbox row (UIDNEXT, HIGHESTMODSEQ, counters) in step with its
 * messages.  Called by the mailbox process and mailkeepctl.
 *
 * Hierarchy: the separator is '/'.  The children of "a" are the names in
 * the half-open range ["a/", "a0") ('0' follows '/' in ASCII), which the
 * UNIQUE index on name answers without a scan.  Every mailbox's parents
 * exist: CREATE and RENAME create missing ones, and a parent that DELETE
 * left \Noselect goes away when its last child does.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

#define MBOX_COLS "id, name, uidvalidity, uidnext, highestmodseq, " \
	"recent_uid, special_use, flags"

/* ---- names ---- */

int
store_mbox_canon(const char *name, char *out, size_t outlen)
{
	size_t i, len;

	if (name == NULL || (len = strlen(name)) == 0 ||
	    len >= MK_MBOX_NAME_MAX || len >= outlen)
		return MK_INVALID;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '*' || c == '%')
			return MK_INVALID;
		if (c == '/' && (i == 0 || i == len - 1 || name[i + 1] == '/'))
			return MK_INVALID;
	}
	memcpy(out, name, len + 1);
	/* INBOX is case-insensitive, as a name and as a parent. */
	if (strncasecmp(out, "INBOX", 5) == 0 && (out[5] == '\0' ||
	    out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return 0;
}

static bool
is_inbox(const char *name)
{
	return strcmp(name, "INBOX") == 0;
}

/* Bounds of the children range of name: [name/, name0). */
static int
child_bounds(struct sqldb *db, const char *name, char *lo, char *hi,
    size_t len)
{
	if ((size_t)snprintf(lo, len, "%s/", name) >= len ||
	    (size_t)snprintf(hi, len, "%s0", name) >= len)
		return db_err(db, MK_INVALID, "mailbox name too long");
	return 0;
}

/* ---- rows ---- */

static void
mbox_read(sqlite3_stmt *st, struct mbox *m)
{
	const unsigned char *name = sqlite3_column_text(st, 1);

	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(st, 0);
	mk_strlcpy(m->name, name ? (const char *)name : "", sizeof(m->name));
	m->uidvalidity = (uint32_t)sqlite3_column_int64(st, 2);
	m->uidnext = (uint32_t)sqlite3_column_int64(st, 3);
	m->highestmodseq = (uint64_t)sqlite3_column_int64(st, 4);
	m->recent_uid = (uint32_t)sqlite3_column_int64(st, 5);
	m->special_use = (unsigned)sqlite3_column_int(st, 6);
	m->flags = (unsigned)sqlite3_column_int(st, 7);
}

/* Runs a one-row mailbox query whose parameter 1 is already bound. */
static int
mbox_fetch(struct store *s, sqlite3_stmt *st, struct mbox *out)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		mbox_read(st, out);
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = db_err(&s->db, MK_NOTFOUND, "no such mailbox");
	else
		rc = db_fail(&s->db, "mailbox read");
	db_done(&s->db, st);
	return rc;
}

static int
mbox_by_name(struct store *s, const char *canon, struct mbox *out)
{
	sqlite3_stmt *st = db_stmt(&s->db,
	    "SELECT " MBOX_COLS " FROM mailboxes WHERE name = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, canon, -1, SQLITE_STATIC);
	return mbox_fetch(s, st, out);
}

int
store_mbox_find(struct store *s, const char *name, struct mbox *out)
{
	char canon[MK_MBOX_NAME_MAX];

	if (store_mbox_canon(name, canon, sizeof(canon)) != 0)
		return db_err(&s->db, MK_NOTFOUND, "no such mailbox");
	return mbox_by_name(s, canon, out);
}

int
store_mbox_get(struct store *s, int64_t id, struct mbox *out)
{
	sqlite3_stmt *st = db_stmt(&s->db,
	    "SELECT " MBOX_COLS " FROM mailboxes WHERE id = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return mbox_fetch(s, st, out);
}

int
mbox_reload(struct store *s, struct mbox *m)
{
	int rc = store_mbox_get(s, m->id, m);

	if (rc == 0 && (m->flags & MBOX_NOSELECT))
		return db_err(&s->db, MK_INVALID, "mailbox %s is \\Noselect",
		    m->name);
	return rc;
}

int
store_uidvalidity_next(struct store *s, uint32_t *out)
{
	sqlite3_stmt *st;
	int64_t last, now = (int64_t)time(NULL), v;
	int rc;

	st = db_stmt(&s->db,
	    "SELECT value FROM meta WHERE key = 'last_uidvalidity'");
	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	last = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ?
	    db_err(&s->db, -1, "meta has no last_uidvalidity") :
	    db_fail(&s->db, "uidvalidity");
	db_done(&s->db, st);
	if (rc != 0)
		return rc;
	v = MK_MAX(now, last + 1);
	if (v < 1 || v > (int64_t)UINT32_MAX)
		return db_err(&s->db, -1, "UIDVALIDITY space exhausted");
	st = db_stmt(&s->db,
	    "UPDATE meta SET value = ?1 WHERE key = 'last_uidvalidity'");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, v);
	if ((rc = db_run(&s->db, st, "uidvalidity")) != 0)
		return rc;
	*out = (uint32_t)v;
	return 0;
}

void
mbox_delta_row(struct mbox_delta *d, unsigned flags, uint64_t size, int sign)
{
	d->msgs += sign;
	d->bytes += sign * (int64_t)size;
	if (!(flags & MF_SEEN))
		d->unseen += sign;
	if (flags & MF_DELETED) {
		d->deleted += sign;
		d->deleted_bytes += sign * (int64_t)size;
	}
}

int
mbox_update(struct store *s, int64_t id, uint32_t uidnext, uint64_t modseq,
    const struct mbox_delta *d)
{
	sqlite3_stmt *st = db_stmt(&s->db, "UPDATE mailboxes SET"
	    " uidnext = ?2, highestmodseq = ?3, nmsgs = nmsgs + ?4,"
	    " nunseen = nunseen + ?5, ndeleted = ndeleted + ?6,"
	    " bytes = bytes + ?7, deleted_bytes = deleted_bytes + ?8"
	    " WHERE id = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, uidnext);
	sqlite3_bind_int64(st, 3, (int64_t)modseq);
	sqlite3_bind_int64(st, 4, d->msgs);
	sqlite3_bind_int64(st, 5, d->unseen);
	sqlite3_bind_int64(st, 6, d->deleted);
	sqlite3_bind_int64(st, 7, d->bytes);
	sqlite3_bind_int64(st, 8, d->deleted_bytes);
	return db_run(&s->db, st, "mailbox update");
}

/* ---- CREATE ---- */

static int
mbox_insert(struct store *s, const char *canon, unsigned use, struct mbox *out)
{
	sqlite3_stmt *st;
	uint32_t uv;
	int rc;

	if ((rc = store_uidvalidity_next(s, &uv)) != 0)
		return rc;
	st = db_stmt(&s->db, "INSERT INTO mailboxes (name, uidvalidity,"
	    " special_use) VALUES (?1, ?2, ?3)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, canon, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, uv);
	sqlite3_bind_int(st, 3, (int)use);
	if ((rc = db_run(&s->db, st, "mailbox insert")) != 0 ||
	    (rc = mbox_objid_new(s, sqlite3_last_insert_rowid(s->db.h))) != 0)
		return rc;
	return store_mbox_get(s, sqlite3_last_insert_rowid(s->db.h), out);
}

/* A \Noselect placeholder becomes a mailbox again, as a new incarnation. */
static int
mbox_revive(struct store *s, struct mbox *m, unsigned use)
{
	sqlite3_stmt *st;
	uint32_t uv;
	int rc;

	if ((rc = store_uidvalidity_next(s, &uv)) != 0)
		return rc;
	st = db_stmt(&s->db, "UPDATE mailboxes SET uidvalidity = ?2,"
	    " uidnext = 1, highestmodseq = 1, recent_uid = 1,"
	    " special_use = ?3, flags = 0 WHERE id = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	sqlite3_bind_int64(st, 2, uv);
	sqlite3_bind_int(st, 3, (int)use);
	/* A new incarnation is a new mailbox to clients: new MAILBOXID. */
	if ((rc = db_run(&s->db, st, "mailbox revive")) != 0 ||
	    (rc = mbox_objid_new(s, m->id)) != 0)
		return rc;
	return store_mbox_get(s, m->id, m);
}

/* Creates every missing superior of canon as an ordinary mailbox. */
static int
mbox_create_parents(struct store *s, const char *canon)
{
	char parent[MK_MBOX_NAME_MAX];
	struct mbox m;
	const char *p;
	int rc;

	for (p = strchr(canon, '/'); p != NULL; p = strchr(p + 1, '/')) {
		memcpy(parent, canon, (size_t)(p - canon));
		parent[p - canon] = '\0';
		rc = mbox_by_name(s, parent, &m);
		if (rc == MK_NOTFOUND)
			rc = mbox_insert(s, parent, 0, &m);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
mbox_create_txn(struct store *s, const char *canon, unsigned use,
    struct mbox *out)
{
	int rc = mbox_by_name(s, canon, out);

	if (rc == 0 && !(out->flags & MBOX_NOSELECT))
		return db_err(&s->db, MK_EXISTS, "mailbox %s exists", canon);
	if (rc == 0)
		return mbox_revive(s, out, use);
	if (rc != MK_NOTFOUND)
		return rc;
	if ((rc = mbox_create_parents(s, canon)) != 0)
		return rc;
	return mbox_insert(s, canon, use, out);
}

int
store_mbox_create(struct store *s, const char *name, unsigned special_use,
    struct mbox *out)
{
	char canon[MK_MBOX_NAME_MAX];
	struct mbox m;
	enum db_txn t;
	int rc;

	if (store_mbox_canon(name, canon, sizeof(canon)) != 0)
		return db_err(&s->db, MK_INVALID, "invalid mailbox name");
	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	rc = db_txn_leave(&s->db, t, mbox_create_txn(s, canon, special_use, &m));
	if ((rc == 0 || rc == MK_EXISTS) && out != NULL)
		*out = m;
	return rc;
}

/* ---- DELETE ---- */

static int
run_id(struct store *s, const char *sql, int64_t id, const char *what)
{
	sqlite3_stmt *st = db_stmt(&s->db, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return db_run(&s->db, st, what);
}

static const char SQL_PURGE_REFS[] =
	"UPDATE bodies SET refs = refs - c.k FROM"
	" (SELECT body_id, count(*) AS k FROM messages WHERE mailbox_id = ?1"
	"  GROUP BY body_id) AS c WHERE bodies.id = c.body_id";
static const char SQL_PURGE_BODIES[] =
	"DELETE FROM bodies WHERE refs <= 0 AND id IN"
	" (SELECT body_id FROM messages WHERE mailbox_id = ?1)";
static const char SQL_PURGE_SUM[] =
	"SELECT coalesce(sum(size), 0), count(*) FROM messages"
	" WHERE mailbox_id = ?1";
static const char SQL_PURGE_MSGS[] =
	"DELETE FROM messages WHERE mailbox_id = ?1";
static const char SQL_PURGE_EXPUNGED[] =
	"DELETE FROM expunged WHERE mailbox_id = ?1";
static const char SQL_PURGE_KEYWORDS[] =
	"DELETE FROM keywords WHERE mailbox_id = ?1";

static int
purge_quota(struct store *s, int64_t id)
{
	sqlite3_stmt *st = db_stmt(&s->db, SQL_PURGE_SUM);
	int64_t bytes, n;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		int rc = db_fail(&s->db, "purge sum");
		db_done(&s->db, st);
		return rc;
	}
	bytes = sqlite3_column_int64(st, 0);
	n = sqlite3_column_int64(st, 1);
	db_done(&s->db, st);
	return quota_add(s, -bytes, -n);
}

/* Removes every message of mailbox id (set-wise: a 100,000-message
 * mailbox is a handful of statements), its expunge memory and keywords. */
static int
mbox_purge(struct store *s, int64_t id)
{
	int rc;

	if ((rc = run_id(s, SQL_PURGE_REFS, id, "purge refs")) != 0 ||
	    (rc = run_id(s, SQL_PURGE_BODIES, id, "purge bodies")) != 0 ||
	    (rc = purge_quota(s, id)) != 0 ||
	    (rc = run_id(s, SQL_PURGE_MSGS, id, "purge messages")) != 0 ||
	    (rc = fts_drop_mbox(s, id)) != 0 ||
	    (rc = run_id(s, SQL_PURGE_EXPUNGED, id, "purge expunged")) != 0)
		return rc;
	s->kw_gen++;
	return run_id(s, SQL_PURGE_KEYWORDS, id, "purge keywords");
}

static bool
has_children_canon(struct store *s, const char *canon)
{
	char lo[MK_MBOX_NAME_MAX + 2], hi[MK_MBOX_NAME_MAX + 2];
	sqlite3_stmt *st;
	bool yes;

	if (child_bounds(&s->db, canon, lo, hi, sizeof(lo)) != 0)
		return false;
	st = db_stmt(&s->db, "SELECT 1 FROM mailboxes"
	    " WHERE name > ?1 AND name < ?2 LIMIT 1");
	if (st == NULL)
		return false;
	sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
	yes = sqlite3_step(st) == SQLITE_ROW;
	db_done(&s->db, st);
	return yes;
}

bool
store_mbox_has_children(struct store *s, const char *name)
{
	char canon[MK_MBOX_NAME_MAX];

	if (store_mbox_canon(name, canon, sizeof(canon)) != 0)
		return false;
	return has_children_canon(s, canon);
}

/* Drops \Noselect ancestors of canon that no longer have children. */
static int
mbox_prune(struct store *s, const char *canon)
{
	char name[MK_MBOX_NAME_MAX];
	struct mbox m;
	char *slash;
	int rc;

	mk_strlcpy(name, canon, sizeof(name));
	while ((slash = strrchr(name, '/')) != NULL) {
		*slash = '\0';
		if ((rc = mbox_by_name(s, name, &m)) == MK_NOTFOUND)
			return 0;
		if (rc != 0)
			return rc;
		if (!(m.flags & MBOX_NOSELECT) || has_children_canon(s, name))
			return 0;
		if ((rc = run_id(s, "DELETE FROM mailboxes WHERE id = ?1",
		    m.id, "mailbox delete")) != 0)
			return rc;
	}
	return 0;
}

static const char SQL_MAKE_NOSELECT[] =
	"UPDATE mailboxes SET flags = flags | 1, special_use = 0, nmsgs = 0,"
	" nunseen = 0, ndeleted = 0, bytes = 0, deleted_bytes = 0"
	" WHERE id = ?1";

static int
mbox_delete_txn(struct store *s, const char *canon)
{
	struct mbox m;
	int rc;

	if ((rc = mbox_by_name(s, canon, &m)) != 0)
		return rc;
	if (has_children_canon(s, canon)) {
		if (m.flags & MBOX_NOSELECT)
			return db_err(&s->db, MK_INVALID, "%s has children "
			    "and is already \\Noselect", canon);
		if ((rc = mbox_purge(s, m.id)) != 0)
			return rc;
		return run_id(s, SQL_MAKE_NOSELECT, m.id, "mailbox noselect");
	}
	if ((rc = mbox_purge(s, m.id)) != 0 ||
	    (rc = run_id(s, "DELETE FROM mailboxes WHERE id = ?1", m.id,
	    "mailbox delete")) != 0)
		return rc;
	return mbox_prune(s, canon);
}

int
store_mbox_delete(struct store *s, const char *name)
{
	char canon[MK_MBOX_NAME_MAX];
	enum db_txn t;
	int rc;

	if (store_mbox_canon(name, canon, sizeof(canon)) != 0)
		return db_err(&s->db, MK_NOTFOUND, "no such mailbox");
	if (is_inbox(canon))
		return db_err(&s->db, MK_INVALID, "INBOX cannot be deleted");
	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	return db_txn_leave(&s->db, t, mbox_delete_txn(s, canon));
}

/* ---- RENAME ---- */

static const char SQL_INBOX_TAKE[] =
	"UPDATE mailboxes SET (uidnext, highestmodseq, recent_uid, nmsgs,"
	" nunseen, ndeleted, bytes, deleted_bytes) = (SELECT uidnext,"
	" highestmodseq, recent_uid, nmsgs, nunseen, ndeleted, bytes,"
	" deleted_bytes FROM mailboxes WHERE id = ?2) WHERE id = ?1";
static const char SQL_INBOX_VANISH[] =
	"INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq)"
	" SELECT mailbox_id, uid, ?2 FROM messages WHERE mailbox_id = ?1";
static const char SQL_INBOX_MOVE[] =
	"UPDATE messages SET mailbox_id = ?2 WHERE mailbox_id = ?1";
static const char SQL_INBOX_EMPTY[] =
	"UPDATE mailboxes SET highestmodseq = ?2, nmsgs = 0, nunseen = 0,"
	" ndeleted = 0, bytes = 0, deleted_bytes = 0 WHERE id = ?1";
static const char SQL_INBOX_KEYWORDS[] =
	"INSERT INTO keywords (mailbox_id, name)"
	" SELECT ?2, name FROM keywords WHERE mailbox_id = ?1";

static int
run_2id(struct store *s, const char *sql, int64_t a, int64_t b,
    const char *what)
{
	sqlite3_stmt *st = db_stmt(&s->db, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	return db_run(&s->db, st, what);
}

/* RFC 3501 6.3.5: INBOX's messages move to a new mailbox; INBOX stays,
 * empty, with its UIDVALIDITY and UIDNEXT, and its children stay.  The
 * moved UIDs are expunged from INBOX's point of view (QRESYNC). */
static int
rename_inbox(struct store *s, const char *to)
{
	struct mbox in, nm;
	int rc;

	s->kw_gen++;	/* INBOX's keywords are copied to the new name */
	if ((rc = mbox_by_name(s, "INBOX", &in)) != 0 ||
	    (rc = mbox_create_parents(s, to)) != 0 ||
	    (rc = mbox_insert(s, to, 0, &nm)) != 0 ||
	    (rc = run_2id(s, SQL_INBOX_TAKE, nm.id, in.id, "rename")) != 0 ||
	    (rc = run_2id(s, SQL_INBOX_KEYWORDS, in.id, nm.id, "rename")) != 0 ||
	    (rc = store_meta_copy(s, in.id, nm.id)) != 0)
		return rc;
	if (in.highestmodseq >= (uint64_t)INT64_MAX)
		return db_err(&s->db, -1, "MODSEQ space exhausted");
	if ((rc = run_2id(s, SQL_INBOX_VANISH, in.id,
	    (int64_t)in.highestmodseq + 1, "rename")) != 0 ||
	    (rc = run_2id(s, SQL_INBOX_MOVE, in.id, nm.id, "rename")) != 0 ||
	    (rc = fts_move_mbox(s, in.id, nm.id)) != 0)
		return rc;
	return run_2id(s, SQL_INBOX_EMPTY, in.id,
	    (int64_t)in.highestmodseq + 1, "rename");
}

struct rename_item {
	int64_t id;
	char   *name;
};

static int
rename_collect(struct store *s, const char *from, struct rename_item **items,
    size_t *n)
{
	char lo[MK_MBOX_NAME_MAX + 2], hi[MK_MBOX_NAME_MAX + 2];
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	*items = NULL;
	*n = 0;
	if ((rc = child_bounds(&s->db, from, lo, hi, sizeof(lo))) != 0)
		return rc;
	st = db_stmt(&s->db, "SELECT id, name FROM mailboxes"
	    " WHERE name = ?1 OR (name > ?2 AND name < ?3)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, lo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hi, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*items = xreallocarray(*items, cap, sizeof(**items));
		}
		(*items)[*n].id = sqlite3_column_int64(st, 0);
		(*items)[(*n)++].name =
		    xstrdup((const char *)sqlite3_column_text(st, 1));
	}
	rc = rc == SQLITE_DONE ? 0 : db_fail(&s->db, "rename list");
	db_done(&s->db, st);
	return rc;
}

static int
rename_one(struct store *s, const struct rename_item *it, size_t fromlen,
    const char *to)
{
	char name[MK_MBOX_NAME_MAX];
	sqlite3_stmt *st;
	int rc;

	if ((size_t)snprintf(name, sizeof(name), "%s%s", to,
	    it->name + fromlen) >= sizeof(name))
		return db_err(&s->db, MK_INVALID, "renamed name too long");
	if ((st = db_stmt(&s->db,
	    "UPDATE mailboxes SET name = ?2 WHERE id = ?1")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, it->id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		rc = db_err(&s->db, MK_EXISTS, "mailbox %s exists", name);
	else
		rc = rc == SQLITE_DONE ? 0 : db_fail(&s->db, "rename");
	db_done(&s->db, st);
	return rc;
}

static int
rename_tree(struct store *s, const char *from, const char *to)
{
	struct rename_item *items;
	size_t i, n;
	int rc;

	if ((rc = rename_collect(s, from, &items, &n)) == 0 && n == 0)
		rc = db_err(&s->db, MK_NOTFOUND, "no such mailbox");
	if (rc == 0)
		rc = mbox_create_parents(s, to);
	for (i = 0; rc == 0 && i < n; i++)
		rc = rename_one(s, &items[i], strlen(from), to);
	for (i = 0; i < n; i++)
		free(items[i].name);
	free(items);
	return rc != 0 ? rc : mbox_prune(s, from);
}

static int
mbox_rename_txn(struct store *s, const char *from, const char *to)
{
	struct mbox m;
	size_t fl = strlen(from);
	int rc;

	if ((rc = mbox_by_name(s, from, &m)) != 0)
		return rc;
	if (is_inbox(to) || (rc = mbox_by_name(s, to, &m)) == 0)
		return db_err(&s->db, MK_EXISTS, "mailbox %s exists", to);
	if (rc != MK_NOTFOUND)
		return rc;
	if (is_inbox(from))
		return rename_inbox(s, to);
	if (strncmp(to, from, fl) == 0 && to[fl] == '/')
		return db_err(&s->db, MK_INVALID, "cannot rename %s into "
		    "itself", from);
	return rename_tree(s, from, to);
}

int
store_mbox_rename(struct store *s, const char *from, const char *to)
{
	char cf[MK_MBOX_NAME_MAX], ct[MK_MBOX_NAME_MAX];
	enum db_txn t;
	int rc;

	if (store_mbox_canon(from, cf, sizeof(cf)) != 0)
		return db_err(&s->db, MK_NOTFOUND, "no such mailbox");
	if (store_mbox_canon(to, ct, sizeof(ct)) != 0)
		return db_err(&s->db, MK_INVALID, "invalid mailbox name");
	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	return db_txn_leave(&s->db, t, mbox_rename_txn(s, cf, ct));
}

/* ---- listing, STATUS, \Recent, special-use ---- */

int
store_mbox_foreach(struct store *s, int (*cb)(const struct mbox *m, void *arg),
    void *arg)
{
	sqlite3_stmt *st = db_stmt(&s->db,
	    "SELECT " MBOX_COLS " FROM mailboxes ORDER BY name");
	struct mbox m;
	int rc = 0, step = SQLITE_DONE;

	if (st == NULL)
		return -1;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		mbox_read(st, &m);
		rc = cb(&m, arg);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&s->db, "mailbox list");
	db_done(&s->db, st);
	return rc;
}

int
store_mbox_status(struct store *s, const struct mbox *m,
    struct mbox_status *out)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT nmsgs, nunseen, ndeleted,"
	    " bytes, deleted_bytes, nrecent FROM mailboxes WHERE id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		out->messages = (uint32_t)sqlite3_column_int64(st, 0);
		out->unseen = (uint32_t)sqlite3_column_int64(st, 1);
		out->deleted = (uint32_t)sqlite3_column_int64(st, 2);
		out->size = (uint64_t)sqlite3_column_int64(st, 3);
		out->deleted_size = (uint64_t)sqlite3_column_int64(st, 4);
		out->recent = (uint32_t)sqlite3_column_int64(st, 5);
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = db_err(&s->db, MK_NOTFOUND, "no such mailbox");
	else
		rc = db_fail(&s->db, "status");
	db_done(&s->db, st);
	return rc;
}

int
store_mbox_claim_recent(struct store *s, struct mbox *m, uint32_t *from,
    uint32_t *to)
{
	struct mbox cur = *m;
	enum db_txn t;
	int rc;

	/* Usually there is nothing new: then don't take the write lock. */
	if ((rc = store_mbox_get(s, m->id, &cur)) != 0)
		return rc;
	if (cur.recent_uid >= cur.uidnext) {
		*from = *to = cur.uidnext;
		*m = cur;
		return 0;
	}
	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	if ((rc = store_mbox_get(s, m->id, &cur)) == 0)
		rc = run_2id(s, "UPDATE mailboxes SET recent_uid = ?2"
		    " WHERE id = ?1", cur.id, cur.uidnext, "claim recent");
	if ((rc = db_txn_leave(&s->db, t, rc)) != 0)
		return rc;
	*from = MK_MIN(cur.recent_uid, cur.uidnext);
	*to = cur.uidnext;
	cur.recent_uid = cur.uidnext;
	*m = cur;
	return 0;
}

int
store_mbox_set_special_use(struct store *s, struct mbox *m, unsigned use)
{
	int rc = run_2id(s, "UPDATE mailboxes SET special_use = ?2"
	    " WHERE id = ?1", m->id, use, "special-use");

	if (rc != 0)
		return rc;
	if (sqlite3_changes(s->db.h) == 0)
		return db_err(&s->db, MK_NOTFOUND, "no such mailbox");
	m->special_use = use;
	return 0;
}

/* ---- keywords ---- */

/* flag-keyword = atom: no atom-specials, no 8-bit, not a system flag. */
static bool
kw_valid(const char *kw)
{
	const unsigned char *p;

	if (*kw == '\0' || strlen(kw) >= MK_KEYWORD_MAX)
		return false;
	for (p = (const unsigned char *)kw; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p))
			return false;
	return true;
}

int
kw_lookup(struct store *s, int64_t mbox_id, const char *kw, bool define,
    char *out, size_t outlen)
{
	sqlite3_stmt *st;
	int rc;

	if (!kw_valid(kw) || strlen(kw) >= outlen)
		return db_err(&s->db, MK_INVALID, "invalid keyword");
	st = db_stmt(&s->db, "SELECT name FROM keywords"
	    " WHERE mailbox_id = ?1 AND name = ?2");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_text(st, 2, kw, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mk_strlcpy(out, (const char *)sqlite3_column_text(st, 0),
		    outlen);
		db_done(&s->db, st);
		return 0;
	}
	rc = rc == SQLITE_DONE ? MK_NOTFOUND : db_fail(&s->db, "keyword");
	db_done(&s->db, st);
	if (rc != MK_NOTFOUND || !define)
		return rc;
	st = db_stmt(&s->db, "INSERT INTO keywords (mailbox_id, name)"
	    " VALUES (?1, ?2)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_text(st, 2, kw, -1, SQLITE_STATIC);
	s->kw_gen++;
	if ((rc = db_run(&s->db, st, "keyword define")) != 0)
		return rc;
	mk_strlcpy(out, kw, outlen);
	return 0;
}

static int
kw_cmp(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

/* Splits in on spaces into canonical spellings (malloc'd). */
static int
kw_split(struct store *s, int64_t mbox_id, const char *in, char ***list,
    size_t *n)
{
	char kw[MK_KEYWORD_MAX], canon[MK_KEYWORD_MAX];
	size_t cap = 0, len;
	int rc = 0;

	*list = NULL;
	*n = 0;
	while (rc == 0 && *in != '\0') {
		in += strspn(in, " ");
		if ((len = strcspn(in, " ")) == 0)
			break;
		if (len >= sizeof(kw))
			return db_err(&s->db, MK_INVALID, "keyword too long");
		memcpy(kw, in, len);
		kw[len] = '\0';
		in += len;
		if ((rc = kw_lookup(s, mbox_id, kw, true, canon,
		    sizeof(canon))) != 0)
			break;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*list = xreallocarray(*list, cap, sizeof(**list));
		}
		(*list)[(*n)++] = xstrdup(canon);
	}
	return rc;
}

int
kw_normalize(struct store *s, int64_t mbox_id, const char *in, char **out)
{
	char **list, *res, *p;
	size_t i, n, total = 1;
	int rc;

	*out = NULL;
	if ((rc = kw_split(s, mbox_id, in ? in : "", &list, &n)) == 0) {
		if (n > 1)
			qsort(list, n, sizeof(*list), kw_cmp);
		for (i = 0; i < n; i++)
			total += strlen(list[i]) + 1;
		p = res = xmalloc(total);
		for (i = 0; i < n; i++) {
			if (i > 0 && strcmp(list[i], list[i - 1]) == 0)
				continue;
			if (p != res)
				*p++ = ' ';
			p = stpcpy(p, list[i]);
		}
		*p = '\0';
		*out = res;
	}
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return rc;
}

int
store_keywords(struct store *s, const struct mbox *m,
    int (*cb)(const char *kw, void *arg), void *arg)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT name FROM keywords"
	    " WHERE mailbox_id = ?1 ORDER BY name");
	int rc = 0, step = SQLITE_DONE;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = cb((const char *)sqlite3_column_text(st, 0), arg);
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&s->db, "keywords");
	db_done(&s->db, st);
	return rc;
}

uint64_t
store_keyword_gen(const struct store *s)
{
	return s->kw_gen;
}

int
store_keyword_count(struct store *s, const struct mbox *m, size_t *n)
{
	sqlite3_stmt *st = db_stmt(&s->db, "SELECT count(*) FROM keywords"
	    " WHERE mailbox_id = ?1");
	int rc = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = (size_t)sqlite3_column_int64(st, 0);
	else
		rc = db_fail(&s->db, "keyword count");
	db_done(&s->db, st);
	return rc;
}

int
store_keyword_canon(struct store *s, const struct mbox *m, const char *kw,
    char *out, size_t outlen)
{
	return kw_lookup(s, m->id, kw, true, out, outlen);
}

/* ---- subscriptions ---- */

int
store_sub_set(struct store *s, const char *name, bool on)
{
	char canon[MK_MBOX_NAME_MAX];
	sqlite3_stmt *st;

	if (store_mbox_canon(name, canon, sizeof(canon)) != 0)
		return db_err(&s->db, MK_INVALID, "invalid mailbox name");
	st = db_stmt(&s->db, on ?
	    "INSERT OR IGNORE INTO subscriptions (name) VALUES (?1)" :
	    "DELETE FROM subscriptions WHERE name = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, canon, -1, SQLITE_STATIC);
	return db_run(&s->db, st, "subscription");
}

bool
store_sub_has(struct store *s, const char *name)
{
	char canon[MK_MBOX_NAME_MAX];
	sqlite3_stmt *st;
	bool yes;

	if (store_mbox_canon(name, canon, sizeof(canon)) != 0)
		return false;
	st = db_stmt(&s->db, "SELECT 1 FROM subscriptions WHERE name = ?1");
	if (st == NULL)
		return false;
	sqlite3_bind_text(st, 1, canon, -1, SQLITE_STATIC);
	yes = sqlite3_step(st) == SQLITE_ROW;
	db_done(&s->db, st);
	return yes;
}

int
store_sub_foreach(struct store *s, int (*cb)(const char *name, void *arg),
    void *arg)
{
	sqlite3_stmt *st = db_stmt(&s->db,
	    "SELECT name FROM subscriptions ORDER BY name");
	int rc = 0, step = SQLITE_DONE;

	if (st == NULL)
		return -1;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = cb((const char *)sqlite3_column_text(st, 0), arg);
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(&s->db, "subscriptions");
	db_done(&s->db, st);
	return rc;
}
