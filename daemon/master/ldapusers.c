/*
 * ldapusers.c - the local rows of LDAP users (directory = ldap).
 *
 * LDAP says who a user is, their password, admin flag, quotas and
 * backend; Mailkeep still needs a number per user (the mailbox
 * process's uid is mail_uid_base + id), the impersonation audit trail
 * and the share index, all keyed by the row of directory.db.  So the
 * first successful login (or impersonation) of an LDAP user makes a row
 * with the DIR_HASH_LDAP marker for a password, which no SQLite login
 * can match; later logins reuse it.  The row's admin flag and quotas
 * are overwritten with LDAP's at every resolution, so code that reads
 * the row (the quotas pushed on a reload, SETQUOTA's admin check) sees
 * what LDAP said last; PROXYAUTH refreshes both rows from LDAP first
 * (ldapusers_refresh()), so a revoked admin loses it within
 * ldap_cache_ttl.
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/userdir.h"
#include "common/util.h"
#include "store/store.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The uid the new row's id would give must not be a system account's
 * (master.c checks existing rows at start the same way). */
static bool
next_uid_ok(const char *name)
{
	uint32_t id, uid;
	char owner[64];

	if (!master.root)
		return true;
	if (dir_user_next_id(master.dir, &id) != 0)
		return false;
	if (config_mail_uid(&master.cfg, id, &uid, owner, sizeof(owner)) != 0) {
		log_warnx("LDAP user %s: the next user id %u gives uid %u, which "
		    "a system account or no uid at all has: not created", name,
		    id, uid);
		return false;
	}
	return true;
}

static int
make_row(const char *name)
{
	uint32_t id;

	if (!next_uid_ok(name))
		return -1;
	switch (dir_user_add(master.dir, name, DIR_HASH_LDAP, &id)) {
	case 0:
		log_info("LDAP user %s: local row made (id %u)", name, id);
		return 0;
	case MK_EXISTS:
		return 0;	/* made meanwhile (mailkeepctl): use it */
	default:
		log_warnx("LDAP user %s: local row: %s", name,
		    dir_errmsg(master.dir));
		return -1;
	}
}

const char *
ldapusers_backend(const struct ldap_entry *e)
{
	/* A single machine (no backend lines) serves every user whatever
	 * the attribute says; this backend's own name is stored as "". */
	if (master.cfg.nbackends == 0 ||
	    config_backend_local(&master.cfg, e->backend))
		return "";
	return e->backend;
}

/* Whether users/<name>/store.db exists here.  Root only looks: the
 * directory is opened with O_NOFOLLOW relative to users/ and the store
 * is not followed either (common/userdir.h). */
static bool
has_store(const char *name)
{
	char users[PATH_MAX], err[PATH_MAX + 128];
	struct stat st;
	int usersfd, fd;
	bool found;

	if (config_path(&master.cfg, users, sizeof(users), "users") == -1 ||
	    (usersfd = userdir_users_open(users, master.root, err,
	    sizeof(err))) == -1)
		return false;
	fd = openat(usersfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	close(usersfd);
	if (fd == -1)
		return false;
	found = fstatat(fd, "store.db", &st, AT_SYMLINK_NOFOLLOW) == 0;
	close(fd);
	return found;
}

/* Once this backend has a store for the user - it holds the user, or
 * held them until mailkeepctl move sent them elsewhere - only a move
 * changes where the row says the user is served.  LDAP's attribute
 * lags a move (it is changed after it, and cached meanwhile); followed,
 * it would serve the user from the store left behind, or refer them
 * away from their mail.  Backends without a store follow LDAP. */
static bool
row_backend_stands(const struct dir_user *u, const char *ldap_backend)
{
	if (!has_store(u->name))
		return false;
	const char *here = master.cfg.backend_name;
	log_warnx("LDAP user %s: %s says %s, the row %s, and a store is here: "
	    "the row stands (only mailkeepctl move changes it); set %s to %s",
	    u->name, master.cfg.ldap_backend_attr, ldap_backend[0] != '\0' ?
	    ldap_backend : here, u->backend[0] != '\0' ? u->backend : here,
	    master.cfg.ldap_backend_attr, u->backend[0] != '\0' ?
	    u->backend : here);
	return true;
}

/* The row's admin flag, quotas and backend become e's (the backend
 * unless row_backend_stands()). */
static int
sync_row(struct dir_user *u, const struct ldap_entry *e)
{
	if (u->admin != e->admin) {
		if (dir_user_set_admin(master.dir, u->name, e->admin) != 0)
			return -1;
		log_info("LDAP user %s: admin %s", u->name,
		    e->admin ? "on" : "off");
		u->admin = e->admin;
	}
	if (u->quota_storage != e->quota_storage ||
	    u->quota_messages != e->quota_messages) {
		if (dir_user_set_quota(master.dir, u->name, e->quota_storage,
		    e->quota_messages) != 0)
			return -1;
		u->quota_storage = e->quota_storage;
		u->quota_messages = e->quota_messages;
	}
	/* ldap_backend_attr names the backend (doc/cluster.md); the row
	 * keeps it so that referrals and LMTP see what LDAP says. */
	const char *backend = ldapusers_backend(e);
	if (strcmp(u->backend, backend) != 0 &&
	    !row_backend_stands(u, backend)) {
		if (dir_user_set_backend(master.dir, u->name, backend) != 0)
			return -1;
		log_info("LDAP user %s: backend '%s'", u->name, backend);
		mk_strlcpy(u->backend, backend, sizeof(u->backend));
	}
	return 0;
}

int
ldapusers_row(const char *name, const struct ldap_entry *e, bool create,
    struct dir_user *u)
{
	int rc = dir_user_get(master.dir, name, u);

	if (rc == MK_NOTFOUND && create) {
		if (make_row(name) == -1)
			return -1;
		rc = dir_user_get(master.dir, name, u);
	}
	if (rc == MK_NOTFOUND)
		return 0;
	if (rc != 0 || sync_row(u, e) != 0) {
		log_warnx("LDAP user %s: local row: %s", name,
		    dir_errmsg(master.dir));
		return -1;
	}
	/* The password is LDAP's: the row's marker is never compared. */
	mk_strlcpy(u->hash, e->hash, sizeof(u->hash));
	return 1;
}

/* ---- refreshing rows for PROXYAUTH ---- */

struct refresh {
	char     name[2][MK_USER_MAX];
	unsigned n, next;
	bool     ok, create_b;
	bool     a_admin;	/* LDAP says a is an administrator */
	void   (*done)(void *arg, bool ok);
	void    *arg;
};

static void refresh_next(struct refresh *r);

static void
refresh_apply(struct refresh *r, const char *name, int result,
    const struct ldap_entry *e)
{
	struct dir_user u;

	if (result == IPC_LDAP_UNAVAILABLE)
		r->ok = false;
	else if (result == IPC_LDAP_OK) {
		/* b's row is made for an administrator's request only: no
		 * one else can make rows appear by asking. */
		if (r->next == 0)
			r->a_admin = e->admin;
		(void)ldapusers_row(name, e, r->create_b && r->next == 1 &&
		    r->a_admin, &u);
	}
	else {
		/* Gone from LDAP: its row keeps its id and shares, but is
		 * no admin any more. */
		struct ldap_entry none = { .quota_storage = -1,
		    .quota_messages = -1 };
		(void)ldapusers_row(name, &none, false, &u);
	}
	dir_user_forget_hash(&u);
}

static void
refresh_cb(void *arg, int result, const struct ldap_entry *e)
{
	struct refresh *r = arg;

	refresh_apply(r, r->name[r->next], result, e);
	r->next++;
	refresh_next(r);
}

static void
refresh_next(struct refresh *r)
{
	struct ldap_entry e;

	while (r->next < r->n && r->ok) {
		if (!ldapdir_cached(r->name[r->next], &e)) {
			if (ldapdir_lookup(r->name[r->next], refresh_cb, r) != 0)
				return;
			r->ok = false;
			break;
		}
		refresh_apply(r, r->name[r->next], IPC_LDAP_OK, &e);
		explicit_bzero(&e, sizeof(e));
		r->next++;
	}
	r->done(r->arg, r->ok);
	free(r);
}

void
ldapusers_refresh(const char *a, const char *b, bool create_b,
    void (*done)(void *arg, bool ok), void *arg)
{
	struct refresh *r = xcalloc(1, sizeof(*r));
	const char *why;

	r->ok = true;
	r->create_b = create_b;
	r->done = done;
	r->arg = arg;
	if (dir_name_canon(a, r->name[r->n], MK_USER_MAX, &why))
		r->n++;
	else
		r->create_b = false;	/* b would be the first */
	if (b != NULL && dir_name_canon(b, r->name[r->n], MK_USER_MAX, &why))
		r->n++;
	refresh_next(r);
}

/* ---- rows for the share index across backends ---- */

struct known {
	char     name[MK_USER_MAX];
	void   (*done)(void *arg, int found);
	void    *arg;
};

static void
known_apply(struct known *k, int result, const struct ldap_entry *e)
{
	struct dir_user u = { 0 };
	int found = -1;

	if (result == IPC_LDAP_OK)
		found = ldapusers_row(k->name, e, true, &u);
	else if (result != IPC_LDAP_UNAVAILABLE)
		found = 0;
	dir_user_forget_hash(&u);
	k->done(k->arg, found);
	free(k);
}

static void
known_cb(void *arg, int result, const struct ldap_entry *e)
{
	known_apply(arg, result, e);
}

void
ldapusers_known(const char *name, void (*done)(void *arg, int found),
    void *arg)
{
	struct known *k;
	struct ldap_entry e;
	const char *why;

	if (!ldapdir_enabled()) {
		done(arg, 1);
		return;
	}
	k = xcalloc(1, sizeof(*k));
	k->done = done;
	k->arg = arg;
	if (!dir_name_canon(name, k->name, sizeof(k->name), &why)) {
		known_apply(k, IPC_LDAP_NOTFOUND, NULL);
		return;
	}
	if (ldapdir_cached(k->name, &e)) {
		known_apply(k, IPC_LDAP_OK, &e);
		explicit_bzero(&e, sizeof(e));
		return;
	}
	if (ldapdir_lookup(k->name, known_cb, k) == 0)
		known_apply(k, IPC_LDAP_UNAVAILABLE, NULL);
}
