/*
 * directory.h - the directory database: who the users are.
 *
 * One SQLite file (data_dir/directory.db), readable and writable only by
 * root: the master and mailkeepctl open it; no process that talks to a
 * client does.  It holds user names, password hashes (libxcrypt strings),
 * the admin flag, per-user quota limits, the impersonation audit trail
 * and (later) the index of shared folders.
 */
#ifndef MK_DIRECTORY_H
#define MK_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MK_USER_MAX 65	/* 64 bytes + NUL */
#ifndef MK_BACKEND_MAX
#define MK_BACKEND_MAX 65	/* a backend's name: 64 bytes + NUL */
#endif

struct directory;

/* The stored "hash" of a user whose password is in the LDAP directory
 * (directory = ldap; doc/ldap.md): no libxcrypt string starts with '!',
 * so password_hash_status() calls it invalid and no SQLite-directory
 * login can match it. */
#define DIR_HASH_LDAP "!ldap"

struct dir_user {
	uint32_t id;
	char     name[MK_USER_MAX];
	char     hash[256];
	bool     admin;
	int64_t  quota_storage;		/* KiB; -1: the configured default */
	int64_t  quota_messages;	/* -1: the configured default */
	int64_t  created;
	char     backend[MK_BACKEND_MAX];	/* "" = this server */
};

int  dir_open(const char *path, bool create, struct directory **out,
	char *err, size_t errlen);
void dir_close(struct directory *d);
const char *dir_errmsg(struct directory *d);

/* User names: 1-64 bytes of [a-z0-9._@+-], starting with a letter or
 * digit; upper case is folded to lower case.  Writes the canonical form
 * or sets *why and returns false. */
bool dir_name_canon(const char *name, char *out, size_t outlen,
	const char **why);

/* Names no user may have: "anyone" (RFC 4314's every user), and
 * "anonymous".  dir_user_add() refuses them (MK_INVALID). */
bool dir_name_reserved(const char *canon);

/* 0, MK_NOTFOUND or -1 */
int  dir_user_get(struct directory *d, const char *name, struct dir_user *u);
int  dir_user_get_by_id(struct directory *d, uint32_t id, struct dir_user *u);
/* Wipes u's password hash: for a row used for anything but the
 * password check (explicit_bzero, so the compiler keeps it). */
void dir_user_forget_hash(struct dir_user *u);
/* 0, MK_EXISTS, MK_INVALID (a name dir_name_canon() refuses, or a hash
 * that is empty or longer than 255 bytes) or -1.  Ids are never reused. */
int  dir_user_add(struct directory *d, const char *name, const char *hash,
	uint32_t *id);
/* 0, MK_NOTFOUND or -1; names are folded as dir_name_canon() does. */
int  dir_user_del(struct directory *d, const char *name);
int  dir_user_set_hash(struct directory *d, const char *name, const char *hash);
int  dir_user_set_admin(struct directory *d, const char *name, bool admin);
int  dir_user_set_quota(struct directory *d, const char *name,
	int64_t storage_kib, int64_t messages);
/* The backend that holds the user's store ("" = this one); 0,
 * MK_NOTFOUND, MK_INVALID (not a backend name) or -1.  Whether the name
 * is declared is the caller's check (config_backend()). */
int  dir_user_set_backend(struct directory *d, const char *name,
	const char *backend);
int  dir_user_foreach(struct directory *d,
	int (*cb)(const struct dir_user *u, void *arg), void *arg);

/* ---- impersonation audit ---- */

struct dir_audit {
	int64_t     id;
	int64_t     start, end;	/* end 0 while the session runs */
	const char *admin, *target, *client, *method;
	uint64_t    session;
};

int  dir_audit_start(struct directory *d, const struct dir_audit *a,
	int64_t *row);
/* Ends the running entry of session; MK_NOTFOUND if none runs. */
int  dir_audit_end(struct directory *d, uint64_t session, int64_t end);
int  dir_audit_foreach(struct directory *d,
	int (*cb)(const struct dir_audit *a, void *arg), void *arg);

/* ---- the share index (a copy of what owners' ACLs grant) ---- */

/* rights "" removes the entry. */
int  dir_share_set(struct directory *d, uint32_t owner_id,
	const char *mailbox, const char *grantee, const char *rights);
/* Every (owner, mailbox, rights) granted to grantee or "anyone" by
 * someone else, ordered by owner and mailbox. */
int  dir_shares_for(struct directory *d, const char *grantee,
	int (*cb)(const char *owner, const char *mailbox, const char *rights,
	void *arg), void *arg);
/* 1 if owner grants grantee (or "anyone") anything, 0 if not, -1. */
/* Moves when another connection (another program) commits to the
 * directory; the caller's own commits leave it. */
int  dir_data_version(struct directory *d, int64_t *v);
int  dir_share_exists(struct directory *d, uint32_t owner_id,
	const char *grantee);
/* The id the next dir_user_add() will give (for the uid check). */
int  dir_user_next_id(struct directory *d, uint32_t *id);
/* n[0]: owner's entries in all, n[1]: on mailbox; *exists: the entry
 * (mailbox, grantee) is there.  0 or -1. */
int  dir_share_count(struct directory *d, uint32_t owner_id,
	const char *mailbox, const char *grantee, unsigned n[2], bool *exists);
/* Every entry of one owner (for mailkeepctl). */
int  dir_shares_of(struct directory *d, uint32_t owner_id,
	int (*cb)(const char *mailbox, const char *grantee,
	const char *rights, void *arg), void *arg);
/* Forgets every share of owner_id (a user moved to another backend,
 * or about to be indexed anew from a moved-in store); 0 or -1. */
int  dir_shares_drop(struct directory *d, uint32_t owner_id);

#endif
