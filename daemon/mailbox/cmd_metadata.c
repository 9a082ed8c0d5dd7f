/*
 * cmd_metadata.c - GETMETADATA and SETMETADATA (RFC 5464): server
 * entries (the "" mailbox) and mailbox entries, /shared and /private,
 * kept in the user's store (store/store_meta.c).
 *
 * Rights (RFC 5464 3.3 with RFC 4314): a mailbox's entries need "l" and
 * one of "r s w i p", to read or to set; setting a /shared entry of a
 * mailbox also needs "w", since every other reader sees it.  The owner
 * has every right.  A grantee reaches these commands on another user's
 * mailbox through the owner's process (proxy.c), which checks the ACL as
 * it is then; that grantee's /private entries are theirs, stored with
 * the mailbox in the owner's store.  Server entries are the session's
 * own user's.
 *
 * Limits (doc/configuration.md): one value's size (METADATA MAXSIZE),
 * entries and bytes per user (METADATA TOOMANY), the storage quota
 * (OVERQUOTA); checked after the writes inside the command's
 * transaction, so a refused SETMETADATA changes nothing (RFC 5464 4.3).
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/imap_write.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>

/* The only read-only server entry RFC 5464 defines (3.2.1.1). */
#define META_ADMIN "/shared/admin"

/* Which entries a GETMETADATA or SETMETADATA reaches. */
struct meta_target {
	int64_t     id;		/* STORE_META_SERVER for "" */
	const char *name;	/* as the responses name it */
	unsigned    rights;	/* the session's, RT_ALL for its own */
};

static bool
is_private(const char *entry)
{
	return strncmp(entry, "/private", 8) == 0;
}

/* The store's "user" column for an entry: "" for /shared. */
static const char *
entry_user(struct client *c, const char *entry)
{
	return is_private(entry) ? client_identity(c) : "";
}

/* Resolves the mailbox argument; answers NO and returns false if the
 * session may not reach its entries. */
static bool
meta_target(struct client *c, const char *arg, struct meta_target *t,
    struct mbox *m)
{
	char name[MK_MBOX_NAME_MAX];
	int rc;

	if (arg[0] == '\0') {
		if (client_is_guest(c)) {
			resp_no(c, "[NOPERM] Server entries are not shared");
			return false;
		}
		t->id = STORE_META_SERVER;
		t->name = "";
		t->rights = RT_ALL;
		return true;
	}
	if (!mbox_name_arg(c, arg, name, sizeof(name)))
		return false;
	rc = store_mbox_find(c->user->store, name, m);
	if (rc != 0 && rc != MK_NOTFOUND) {
		resp_store_error(c, rc, "METADATA");
		return false;
	}
	t->rights = rc == 0 ? rights_for(c, m) : 0;
	if (!(t->rights & RT_L)) {
		resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", name);
		return false;
	}
	if (!(t->rights & (RT_R | RT_S | RT_W | RT_I | RT_P))) {
		resp_no(c, "[NOPERM] Entries of %s need one of the \"r s w i "
		    "p\" rights", name);
		return false;
	}
	t->id = m->id;
	t->name = m->name;
	return true;
}

/* ---- GETMETADATA ---- */

struct get_state {
	struct client *c;
	struct buf    *b;
	bool           any;		/* an entry was written */
	uint64_t       longest;	/* of those MAXSIZE left out */
	bool           found;		/* the entry asked for itself exists */
	const char    *asked;
};

static int
get_one(const char *name, const void *value, size_t len, void *arg)
{
	struct get_state *g = arg;
	const struct getmetadata_args *a = &g->c->cmd->u.getmeta;

	if (strcmp(name, g->asked) == 0)
		g->found = true;
	if (a->has_maxsize && len > a->maxsize) {
		g->longest = MK_MAX(g->longest, (uint64_t)len);
		return 0;
	}
	buf_addc(g->b, g->any ? ' ' : '(');
	imapw_astring(g->b, name);
	buf_addc(g->b, ' ');
	/* value = nstring / literal8 (RFC 5464 5): NUL only in the latter. */
	if (value != NULL && memchr(value, '\0', len) != NULL) {
		buf_printf(g->b, "~{%zu}\r\n", len);
		buf_add(g->b, value, len);
	} else
		imapw_nstring(g->b, value, len);
	g->any = true;
	return 0;
}

enum cmd_result
cmd_getmetadata(struct client *c)
{
	const struct getmetadata_args *a = &c->cmd->u.getmeta;
	struct get_state g = { .c = c };
	struct meta_target t;
	struct mbox m;
	struct buf b;
	int rc = 0;

	if (!meta_target(c, a->mailbox, &t, &m))
		return RUN_DONE;
	buf_init(&b, 0);
	g.b = &b;
	for (size_t i = 0; i < a->nentries && rc == 0; i++) {
		const char *e = a->entries[i];
		g.asked = e;
		g.found = false;
		rc = store_meta_foreach(c->user->store, t.id, entry_user(c, e),
		    e, a->depth, get_one, &g);
		/* An entry asked for by name that does not exist is answered
		 * NIL (RFC 5464 4.2: the METADATA response is required); with
		 * DEPTH only what exists below it is (the example of 4.2.2),
		 * and a scope alone ("/shared") is not an entry. */
		if (rc == 0 && !g.found && a->depth == 0 &&
		    strchr(e + 1, '/') != NULL)
			get_one(e, NULL, 0, &g);
	}
	if (rc != 0) {
		buf_free(&b);
		return resp_store_error(c, rc, "GETMETADATA");
	}
	if (g.any) {
		buf_adds(&c->out, "* METADATA ");
		resp_mailbox(c, &c->out, t.name);
		buf_addc(&c->out, ' ');
		buf_add(&c->out, buf_ptr(&b), buf_len(&b));
		buf_adds(&c->out, ")\r\n");
	}
	buf_free(&b);
	if (g.longest > 0)
		return resp_ok(c, "[METADATA LONGENTRIES %llu] GETMETADATA "
		    "completed", (unsigned long long)g.longest);
	return resp_ok(c, "GETMETADATA completed");
}

/* ---- SETMETADATA ---- */

/* Refuses (answers NO, returns true) an entry that may not be set,
 * before anything is written. */
static bool
entry_refused(struct client *c, const struct meta_target *t,
    const struct meta_entry *e)
{
	const struct mk_config *cfg = c->user->cfg;

	if (t->id == STORE_META_SERVER && strcmp(e->name, META_ADMIN) == 0)
		resp_no(c, "[NOPERM] %s is read-only", META_ADMIN);
	else if (t->id != STORE_META_SERVER && !is_private(e->name) &&
	    !(t->rights & RT_W))
		resp_no(c, "[NOPERM] Setting /shared entries of %s needs the "
		    "\"w\" right", t->name);
	else if (e->value != NULL && e->len > cfg->metadata_max_value)
		resp_no(c, "[METADATA MAXSIZE %zu] A value may have at most "
		    "%zu bytes", cfg->metadata_max_value, cfg->metadata_max_value);
	else
		return false;
	return true;
}

/* After the writes, inside the transaction: 0 if within every limit,
 * else answers NO (1), or -1/MK_BUSY on a store error.  A command that
 * only shrinks what a user has (limits lowered since) passes. */
static int
over_limits(struct client *c, uint64_t n_before, uint64_t bytes_before)
{
	const struct mk_config *cfg = c->user->cfg;
	uint64_t n, bytes;
	int rc;

	if ((rc = store_meta_usage(c->user->store, &n, &bytes)) != 0)
		return rc;
	if (n > cfg->metadata_max_entries && n > n_before) {
		resp_no(c, "[METADATA TOOMANY] At most %u entries per user",
		    cfg->metadata_max_entries);
		return 1;
	}
	if (bytes > cfg->metadata_max_total && bytes > bytes_before) {
		resp_no(c, "[METADATA TOOMANY] At most %zu bytes of entries "
		    "per user", cfg->metadata_max_total);
		return 1;
	}
	/* Growing needs room in the quota; shrinking is always allowed. */
	if (bytes > bytes_before && (rc = quota_check(c, 0, 0)) != 0) {
		if (rc == 1)
			resp_no(c, "[OVERQUOTA] Quota exceeded");
		return rc;
	}
	return 0;
}

static int
set_all(struct client *c, const struct meta_target *t)
{
	const struct setmetadata_args *a = &c->cmd->u.setmeta;
	uint64_t n, before;
	int rc;

	if ((rc = store_meta_usage(c->user->store, &n, &before)) != 0)
		return rc;
	for (size_t i = 0; i < a->nentries && rc == 0; i++) {
		const struct meta_entry *e = &a->entries[i];
		rc = store_meta_set(c->user->store, t->id, entry_user(c, e->name),
		    e->name, e->value, e->len);
	}
	return rc != 0 ? rc : over_limits(c, n, before);
}

enum cmd_result
cmd_setmetadata(struct client *c)
{
	const struct setmetadata_args *a = &c->cmd->u.setmeta;
	struct meta_target t;
	struct mbox m;
	int rc;

	if (!meta_target(c, a->mailbox, &t, &m))
		return RUN_DONE;
	for (size_t i = 0; i < a->nentries; i++)
		if (entry_refused(c, &t, &a->entries[i]))
			return RUN_DONE;
	if ((rc = store_begin(c->user->store)) != 0)
		return resp_store_error(c, rc, "SETMETADATA");
	if ((rc = set_all(c, &t)) != 0) {
		store_rollback(c->user->store);
		return rc == 1 ? RUN_DONE : resp_store_error(c, rc, "SETMETADATA");
	}
	if ((rc = store_commit(c->user->store)) != 0) {
		store_rollback(c->user->store);
		return resp_store_error(c, rc, "SETMETADATA");
	}
	notify_metadata(c, t.name, a->entries, a->nentries);
	return resp_ok(c, "SETMETADATA completed");
}
