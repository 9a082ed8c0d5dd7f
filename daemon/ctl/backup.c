/*
 * backup.c - mailkeepctl backup and restore.
 *
 *   mailkeepctl backup NAME|--all DEST
 *   mailkeepctl restore NAME MANIFEST [--force]
 *
 * A backup of a user is two files in DEST, both 0600 and root's:
 * NAME.sqlite, a copy of the user's store taken with SQLite's online
 * backup API while the server runs (one snapshot; never a file copy of
 * the live WAL database), and NAME.manifest, the user's directory row
 * (password hash, admin flag, quotas), the share index entries of the
 * user's mailboxes, and the size and SHA-256 of the .sqlite (format:
 * doc/mailkeepctl.md, "Backup and restore").
 *
 * Who does what (doc/security.md): the store is read, and written back,
 * by a worker running as the user's uid inside users/<name>
 * (backup_work.c, forked through ctl.h's as_user_fd); root never opens
 * anything in a user's directory.  Root
 * opens the files in DEST itself - a new name (O_EXCL, O_NOFOLLOW) in a
 * directory that no user's uid can change, checked from / down - and
 * hands the worker only the open descriptor, into which the worker
 * writes the copy (backup) or from which it reads it (restore).  A
 * user's uid can therefore neither redirect what root writes nor choose
 * what root reads.
 */
#include "daemon/ctl/ctl.h"
#include "common/log.h"
#include "common/userdir.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST_FORMAT 1
#define MANIFEST_LINE   (2 * MK_MBOX_NAME_MAX)
#define MANIFEST_MAX    (4 * 1024 * 1024)
#define SHA256_HEX      65

struct share {
	char mailbox[MK_MBOX_NAME_MAX];
	char grantee[MK_USER_MAX];
	char rights[16];
};

struct manifest {
	char          user[MK_USER_MAX];
	char          hash[256];
	bool          admin;
	int64_t       quota_storage, quota_messages;
	bool          has_store;
	char          store[MK_USER_MAX + 16];	/* file name in the same dir */
	uint64_t      store_bytes;
	char          sha256[SHA256_HEX];
	struct share *shares;
	size_t        nshares, cap;
	/* In a cluster, the backend that holds the user when it is not
	 * the one the backup was taken on; "" otherwise. */
	char          backend[MK_BACKEND_MAX];
};

/* ---- files ---- */

/* SHA-256 (hex) and size of the whole file fd, read from offset 0. */
static int
sha256_fd(int fd, char hex[SHA256_HEX], uint64_t *size)
{
	unsigned char d[32], buf[65536];
	gnutls_hash_hd_t h;
	off_t off = 0;
	ssize_t n;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -1;
	while ((n = pread(fd, buf, sizeof(buf), off)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			gnutls_hash_deinit(h, d);
			return -1;
		}
		gnutls_hash(h, buf, (size_t)n);
		off += n;
	}
	gnutls_hash_deinit(h, d);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	*size = (uint64_t)off;
	return 0;
}

/* A new file name in DEST, 0600: O_EXCL and O_NOFOLLOW, so whatever is
 * in its place (a leftover, a link) is removed first, never followed. */
static int
dest_create(int dfd, const char *name)
{
	int fd;

	if (unlinkat(dfd, name, 0) == -1 && errno != ENOENT) {
		errmsg("%s: %s", name, strerror(errno));
		return -1;
	}
	fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		errmsg("%s: %s", name, strerror(errno));
	return fd;
}

/* One directory on the way to DEST (last: DEST itself). */
static bool
dest_dir_ok(const char *path, const char *dir, bool last, struct stat *st)
{
	if (lstat(dir, st) == -1) {
		errmsg("%s: %s", dir, strerror(errno));
		return false;
	}
	if (S_ISDIR(st->st_mode) && (st->st_uid == 0 ||
	    st->st_uid == geteuid()) && ((st->st_mode & 022) == 0 ||
	    (!last && (st->st_mode & S_ISVTX))))
		return true;
	errmsg("%s: %s must be a directory of root's that no one else can "
	    "write (it is uid %u, mode %04o): another uid could redirect the "
	    "backup; refused", path, dir, (unsigned)st->st_uid,
	    (unsigned)(st->st_mode & 07777));
	return false;
}

/* Every directory from / down to path must belong to root (or to us)
 * and be writable by no one else - or be sticky, like /tmp, above the
 * last one - so that no user's uid can rename or replace DEST, or any
 * of its parents, between our checks and our writes.  Returns DEST
 * opened (O_NOFOLLOW on the real path, the same inode as checked). */
static int
dest_open(const char *path)
{
	char real[PATH_MAX], part[PATH_MAX];
	struct stat st, fst;
	size_t n;
	int fd;

	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		errmsg("mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if (realpath(path, real) == NULL) {
		errmsg("%s: %s", path, strerror(errno));
		return -1;
	}
	n = strlen(real);
	if (!dest_dir_ok(path, "/", n == 1, &st))
		return -1;
	for (size_t i = 1; n > 1 && i <= n; i++) {
		if (real[i] != '/' && real[i] != '\0')
			continue;
		memcpy(part, real, i);
		part[i] = '\0';
		if (!dest_dir_ok(path, part, i == n, &st))
			return -1;
	}
	fd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &fst) == -1 || fst.st_ino != st.st_ino ||
	    fst.st_dev != st.st_dev) {
		errmsg("%s: changed while being checked: refused", path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* ---- the manifest ---- */

static int
add_share(const char *mailbox, const char *grantee, const char *rights,
    void *arg)
{
	struct manifest *m = arg;

	if (m->nshares == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 16;
		m->shares = xreallocarray(m->shares, m->cap, sizeof(*m->shares));
	}
	struct share *s = &m->shares[m->nshares++];
	mk_strlcpy(s->mailbox, mailbox, sizeof(s->mailbox));
	mk_strlcpy(s->grantee, grantee, sizeof(s->grantee));
	mk_strlcpy(s->rights, rights, sizeof(s->rights));
	return 0;
}

static int
manifest_write(int fd, const struct manifest *m)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f = fdopen(fd, "w");

	if (f == NULL)
		return -1;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "# Mailkeep backup manifest (mailkeepctl backup).\n"
	    "# It holds the user's password hash: keep it readable by root "
	    "only.\nformat = %d\nuser = %s\ntaken = %s\nadmin = %d\n"
	    "quota_storage = %" PRId64 "\nquota_messages = %" PRId64 "\n"
	    "password_hash = %s\n", MANIFEST_FORMAT, m->user, when,
	    m->admin ? 1 : 0, m->quota_storage, m->quota_messages, m->hash);
	if (m->has_store)
		fprintf(f, "store = %s\nstore_bytes = %" PRIu64 "\n"
		    "store_sha256 = %s\n", m->store, m->store_bytes, m->sha256);
	else
		fprintf(f, "store = none\n");
	/* Only for a user held elsewhere: a restore must keep pointing
	 * there (logins referred, mail relayed), not serve this copy. */
	if (m->backend[0] != '\0')
		fprintf(f, "backend = %s\n", m->backend);
	/* Tabs: no mailbox name, user name or rights string holds one. */
	for (size_t i = 0; i < m->nshares; i++)
		fprintf(f, "share = %s\t%s\t%s\n", m->shares[i].mailbox,
		    m->shares[i].grantee, m->shares[i].rights);
	if (fflush(f) == EOF || fsync(fileno(f)) == -1) {
		fclose(f);
		return -1;
	}
	return fclose(f) == EOF ? -1 : 0;
}

static bool
parse_i64(const char *v, int64_t *out)
{
	uint64_t u;

	if (strcmp(v, "-1") == 0) {
		*out = -1;
		return true;
	}
	if (!parse_u64(v, INT64_MAX, &u))
		return false;
	*out = (int64_t)u;
	return true;
}

static bool
parse_share(struct manifest *m, char *v)
{
	char *g = strchr(v, '\t'), *r = g ? strchr(g + 1, '\t') : NULL;
	char canon[MK_MBOX_NAME_MAX];

	if (r == NULL)
		return false;
	*g++ = '\0';
	*r++ = '\0';
	if (store_mbox_canon(v, canon, sizeof(canon)) != 0 ||
	    strlen(g) >= MK_USER_MAX || strlen(r) >= 16 ||
	    strspn(r, "lrswipkxtea") != strlen(r))
		return false;
	return add_share(canon, g, r, m) == 0;
}

/* One "key = value" line; false if it is not one we know. */
static bool
manifest_field(struct manifest *m, const char *k, char *v)
{
	uint64_t n;

	if (strcmp(k, "format") == 0)
		return strcmp(v, "1") == 0;
	if (strcmp(k, "user") == 0)
		return user_name(v, m->user);
	if (strcmp(k, "taken") == 0)
		return true;
	if (strcmp(k, "admin") == 0) {
		m->admin = strcmp(v, "1") == 0;
		return m->admin || strcmp(v, "0") == 0;
	}
	if (strcmp(k, "quota_storage") == 0)
		return parse_i64(v, &m->quota_storage);
	if (strcmp(k, "quota_messages") == 0)
		return parse_i64(v, &m->quota_messages);
	if (strcmp(k, "password_hash") == 0)
		return mk_strlcpy(m->hash, v, sizeof(m->hash)) < sizeof(m->hash) &&
		    v[0] != '\0';
	if (strcmp(k, "store") == 0) {
		m->has_store = strcmp(v, "none") != 0;
		return !m->has_store || (strchr(v, '/') == NULL && v[0] != '.' &&
		    mk_strlcpy(m->store, v, sizeof(m->store)) < sizeof(m->store));
	}
	if (strcmp(k, "store_bytes") == 0) {
		if (!parse_u64(v, UINT64_MAX, &n))
			return false;
		m->store_bytes = n;
		return true;
	}
	if (strcmp(k, "store_sha256") == 0)
		return strlen(v) == SHA256_HEX - 1 && strspn(v,
		    "0123456789abcdef") == SHA256_HEX - 1 &&
		    mk_strlcpy(m->sha256, v, sizeof(m->sha256)) > 0;
	if (strcmp(k, "share") == 0)
		return parse_share(m, v);
	if (strcmp(k, "backend") == 0)
		return config_backend_name_ok(v) &&
		    mk_strlcpy(m->backend, v, sizeof(m->backend)) <
		    sizeof(m->backend);
	return false;
}

static int
manifest_read(const char *path, struct manifest *m)
{
	char line[MANIFEST_LINE];
	unsigned lineno = 0;
	bool fmt = false;
	FILE *f = fopen(path, "re");
	struct stat st;

	memset(m, 0, sizeof(*m));
	if (f == NULL || fstat(fileno(f), &st) == -1 ||
	    st.st_size > MANIFEST_MAX) {
		errmsg("%s: %s", path, f ? "too large for a manifest" :
		    strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		size_t n = strcspn(line, "\n");
		char *eq = strstr(line, " = ");
		if (line[n] != '\n' && !feof(f))
			goto bad;
		line[n] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (eq == NULL)
			goto bad;
		*eq = '\0';
		fmt |= strcmp(line, "format") == 0;
		if (!manifest_field(m, line, eq + 3))
			goto bad;
	}
	fclose(f);
	if (!fmt || m->user[0] == '\0' || m->hash[0] == '\0' ||
	    (m->has_store && m->sha256[0] == '\0')) {
		errmsg("%s: not a complete Mailkeep backup manifest", path);
		return -1;
	}
	return 0;
bad:
	errmsg("%s: line %u: not a Mailkeep backup manifest line", path, lineno);
	fclose(f);
	return -1;
}

/* ---- backup ---- */

static int
rename_in(int dfd, const char *from, const char *to)
{
	if (renameat(dfd, from, dfd, to) == -1) {
		errmsg("rename %s to %s: %s", from, to, strerror(errno));
		return -1;
	}
	return 0;
}

/* The store into DEST/.NAME.sqlite.tmp by a worker as the user. */
static int
backup_store(struct ctx *x, int dfd, const struct dir_user *u,
    struct manifest *m)
{
	char tmp[MK_USER_MAX + 32];
	struct work_req q;
	int fd, rc;

	snprintf(tmp, sizeof(tmp), ".%s.sqlite.tmp", u->name);
	if ((fd = dest_create(dfd, tmp)) == -1)
		return EX_FAIL;
	work_init(x, &q, WORK_BACKUP, u);
	rc = as_user_fd(x, &q, fd);
	if (rc == W_NOSTORE) {
		close(fd);
		unlinkat(dfd, tmp, 0);
		m->has_store = false;
		return EX_OK_;
	}
	if (rc != EX_OK_ || fsync(fd) == -1 ||
	    sha256_fd(fd, m->sha256, &m->store_bytes) == -1) {
		errmsg("%s: the backup of the store failed", u->name);
		close(fd);
		unlinkat(dfd, tmp, 0);
		return EX_FAIL;
	}
	close(fd);
	m->has_store = true;
	snprintf(m->store, sizeof(m->store), "%s.sqlite", u->name);
	return rename_in(dfd, tmp, m->store) == 0 ? EX_OK_ : EX_FAIL;
}

static int
backup_user(struct ctx *x, int dfd, const struct dir_user *u)
{
	struct manifest m = { 0 };
	char tmp[MK_USER_MAX + 32], final[MK_USER_MAX + 16];
	int fd, rc;

	mk_strlcpy(m.user, u->name, sizeof(m.user));
	mk_strlcpy(m.hash, u->hash, sizeof(m.hash));
	m.admin = u->admin;
	m.quota_storage = u->quota_storage;
	m.quota_messages = u->quota_messages;
	if (!config_backend_local(&x->cfg, u->backend))
		mk_strlcpy(m.backend, u->backend, sizeof(m.backend));
	if (dir_shares_of(x->dir, u->id, add_share, &m) != 0) {
		errmsg("%s: %s", u->name, dir_errmsg(x->dir));
		rc = EX_FAIL;
		goto out;
	}
	if ((rc = backup_store(x, dfd, u, &m)) != EX_OK_)
		goto out;
	snprintf(tmp, sizeof(tmp), ".%s.manifest.tmp", u->name);
	snprintf(final, sizeof(final), "%s.manifest", u->name);
	if ((fd = dest_create(dfd, tmp)) == -1 || manifest_write(fd, &m) == -1 ||
	    rename_in(dfd, tmp, final) == -1 || fsync(dfd) == -1) {
		errmsg("%s: writing the manifest failed", u->name);
		rc = EX_FAIL;
		goto out;
	}
	if (m.has_store)
		printf("%s: %s and %s (%" PRIu64 " bytes)\n", u->name, final,
		    m.store, m.store_bytes);
	else
		printf("%s: %s (no mail stored yet)\n", u->name, final);
out:
	explicit_bzero(m.hash, sizeof(m.hash));
	free(m.shares);
	return rc;
}

struct backup_all {
	struct ctx *x;
	int         dfd;
	int         failed;
};

static int
backup_each(const struct dir_user *u, void *arg)
{
	struct backup_all *b = arg;

	if (backup_user(b->x, b->dfd, u) != EX_OK_)
		b->failed++;
	return 0;
}

int
cmd_backup(struct ctx *x)
{
	bool all = take_flag(x, "--all");
	struct backup_all b = { .x = x };
	char name[MK_USER_MAX];
	struct dir_user u = { 0 };
	int rc;

	if (has_stray_option(x) || x->argc != (all ? 1 : 2))
		return usage_of(find_command("backup"));
	if (!all && !user_name(x->argv[0], name))
		return EX_BADINPUT;
	if (!all && (rc = dir_user_get(x->dir, name, &u)) != 0) {
		errmsg(rc == MK_NOTFOUND ? "no such user: %s" : "directory: %s",
		    rc == MK_NOTFOUND ? name : dir_errmsg(x->dir));
		return rc == MK_NOTFOUND ? EX_NOUSER : EX_FAIL;
	}
	/* Hashes go into the manifest: nothing made here is for others. */
	umask(077);
	if ((b.dfd = dest_open(x->argv[all ? 0 : 1])) == -1)
		return EX_FAIL;
	if (all) {
		if (dir_user_foreach(x->dir, backup_each, &b) != 0) {
			errmsg("directory: %s", dir_errmsg(x->dir));
			b.failed++;
		}
		rc = b.failed ? EX_FAIL : EX_OK_;
	} else {
		rc = backup_user(x, b.dfd, &u);
		explicit_bzero(u.hash, sizeof(u.hash));
	}
	close(b.dfd);
	return rc;
}

/* ---- restore ---- */

/* The .sqlite beside the manifest, checked against it: its size and
 * SHA-256.  The descriptor, for the worker. */
static int
open_backup_store(const char *manifest, const struct manifest *m)
{
	char dir[PATH_MAX], sha[SHA256_HEX];
	const char *slash = strrchr(manifest, '/');
	uint64_t size;
	struct stat st;
	int dfd, fd;

	if (slash == NULL)
		mk_strlcpy(dir, "./", sizeof(dir));
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - manifest) + 1,
		    manifest);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		errmsg("%s: %s", dir, strerror(errno));
		return -1;
	}
	fd = openat(dfd, m->store, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		errmsg("%s%s: %s", dir, m->store, fd == -1 ? strerror(errno) :
		    "not a regular file");
		goto fail;
	}
	if (sha256_fd(fd, sha, &size) == -1 || size != m->store_bytes ||
	    strcmp(sha, m->sha256) != 0) {
		errmsg("%s%s does not match its manifest (size or SHA-256): "
		    "damaged, or from another backup; refused", dir, m->store);
		goto fail;
	}
	return fd;
fail:
	if (fd != -1)
		close(fd);
	return -1;
}

/* The share index entries of NAME become those of the backup. */
static int
restore_shares(struct ctx *x, const struct dir_user *u,
    const struct manifest *m)
{
	struct manifest old = { 0 };
	int rc = dir_shares_of(x->dir, u->id, add_share, &old);

	for (size_t i = 0; rc == 0 && i < old.nshares; i++)
		rc = dir_share_set(x->dir, u->id, old.shares[i].mailbox,
		    old.shares[i].grantee, "");
	free(old.shares);
	for (size_t i = 0; rc == 0 && i < m->nshares; i++) {
		const struct share *s = &m->shares[i];
		struct dir_user g;
		/* A grantee that is gone, or now the owner, grants nothing. */
		if (strcmp(s->grantee, u->name) == 0 ||
		    (strcmp(s->grantee, "anyone") != 0 &&
		    dir_user_get(x->dir, s->grantee, &g) != 0)) {
			printf("%s: share of %s with %s not restored (no such "
			    "user)\n", u->name, s->mailbox, s->grantee);
			continue;
		}
		rc = dir_share_set(x->dir, u->id, s->mailbox, s->grantee,
		    s->rights);
	}
	if (rc != 0)
		errmsg("%s: share index: %s", u->name, dir_errmsg(x->dir));
	live_shares_changed(x);
	return rc;
}

/* The directory row: a new user, or (--force) the existing one's
 * replaced.  *created says which. */
static int
restore_row(struct ctx *x, const char *name, const struct manifest *m,
    bool force, struct dir_user *u, bool *created)
{
	uint32_t id;
	int rc = dir_user_get(x->dir, name, u);

	*created = false;
	if (rc == 0 && !force) {
		errmsg("user %s exists: refused (--force replaces their mail "
		    "and directory row)", name);
		return EX_EXISTS;
	}
	if (rc == MK_NOTFOUND) {
		if (!new_user_ok(x, name))
			return EX_BADINPUT;
		if ((rc = dir_user_add(x->dir, name, m->hash, &id)) != 0) {
			errmsg("adding %s: %s", name, rc == MK_INVALID ?
			    "invalid password hash in the manifest" :
			    dir_errmsg(x->dir));
			return EX_FAIL;
		}
		*created = true;
		rc = dir_user_get(x->dir, name, u);
	}
	explicit_bzero(u->hash, sizeof(u->hash));
	if (rc != 0) {
		errmsg("directory: %s", dir_errmsg(x->dir));
		return EX_FAIL;
	}
	return EX_OK_;
}

/* The backend that holds the user: a new user's is the backup's (a
 * user held elsewhere stays referred there, not served from this copy);
 * an existing user's row keeps its own (--force replaces the mail, it
 * does not move the user). */
static int
restore_backend(struct ctx *x, const struct dir_user *u,
    const struct manifest *m, bool created)
{
	const char *b = config_backend_local(&x->cfg, m->backend) ? "" :
	    m->backend;

	if (!created)
		b = u->backend;
	else if (dir_user_set_backend(x->dir, u->name, b) != 0) {
		errmsg("%s: %s", u->name, dir_errmsg(x->dir));
		return EX_FAIL;
	}
	if (!config_backend_local(&x->cfg, b))
		printf("%s: held by backend %s: logins and mail go there, this "
		    "restored store is not served (mailkeepctl backend %s %s "
		    "serves it here)\n", u->name, b, u->name,
		    x->cfg.backend_name);
	return EX_OK_;
}

static int
restore_attrs(struct ctx *x, const struct dir_user *u,
    const struct manifest *m)
{
	if (dir_user_set_hash(x->dir, u->name, m->hash) != 0 ||
	    dir_user_set_admin(x->dir, u->name, m->admin) != 0 ||
	    dir_user_set_quota(x->dir, u->name, m->quota_storage,
	    m->quota_messages) != 0 || restore_shares(x, u, m) != 0) {
		errmsg("%s: %s", u->name, dir_errmsg(x->dir));
		return EX_FAIL;
	}
	return EX_OK_;
}

/* users/<name> made (or handed over) by root, as the master does at a
 * first login; the store in it is the worker's business. */
static int
restore_dir(struct ctx *x, const struct dir_user *u)
{
	char err[PATH_MAX + 128];
	uid_t uid = mail_uid(x, u);
	int fd, ufd = users_fd(x);

	if (ufd == -1)
		return -1;
	fd = userdir_open(ufd, u->name, true, geteuid() == 0, uid, (gid_t)uid,
	    err, sizeof(err));
	if (fd == -1) {
		errmsg("%s", err);
		return -1;
	}
	close(fd);
	return 0;
}

static int
restore_store(struct ctx *x, const struct dir_user *u, int fd, bool force)
{
	struct work_req q;
	int rc;

	if (restore_dir(x, u) == -1)
		return EX_FAIL;
	work_init(x, &q, WORK_RESTORE, u);
	q.force = force;
	/* The user's mailbox process, if any, is a child of this
	 * instance's master: another instance's processes (a test machine
	 * may run several, with the same uids) are none of ours. */
	q.master_pid = (int32_t)control_master_pid(x);
	rc = as_user_fd(x, &q, fd);
	if (rc == W_RUNNING)
		return EX_FAIL;
	return rc < 0 ? EX_FAIL : rc;
}

int
cmd_restore(struct ctx *x)
{
	bool force = take_flag(x, "--force"), created;
	char name[MK_USER_MAX];
	struct manifest m;
	struct dir_user u;
	int fd = -1, rc;

	if (has_stray_option(x) || x->argc != 2)
		return usage_of(find_command("restore"));
	if (!user_name(x->argv[0], name))
		return EX_BADINPUT;
	if (manifest_read(x->argv[1], &m) == -1)
		return EX_BADINPUT;
	/* Before anything is written: a user held on a backend this
	 * configuration does not know could be neither served nor sent. */
	if (m.backend[0] != '\0' && !backend_ok(x, m.backend)) {
		errmsg("%s: the backup's user is held by backend %s: refused",
		    x->argv[1], m.backend);
		rc = EX_BADINPUT;
		goto out;
	}
	if (m.has_store && (fd = open_backup_store(x->argv[1], &m)) == -1) {
		rc = EX_BADINPUT;
		goto out;
	}
	if ((rc = restore_row(x, name, &m, force, &u, &created)) != EX_OK_)
		goto out;
	if (m.has_store && (rc = restore_store(x, &u, fd, force)) != EX_OK_) {
		/* A user this restore made is taken back with its failure. */
		if (created && dir_user_del(x->dir, name) == 0)
			(void)remove_user_dir(x, name, false);
		goto out;
	}
	if ((rc = restore_attrs(x, &u, &m)) == EX_OK_ &&
	    (rc = restore_backend(x, &u, &m, created)) == EX_OK_)
		printf("user %s restored from %s (backup of %s)\n", name,
		    x->argv[1], m.user);
out:
	if (fd != -1)
		close(fd);
	explicit_bzero(m.hash, sizeof(m.hash));
	free(m.shares);
	return rc;
}
