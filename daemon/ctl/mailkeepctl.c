/*
 * mailkeepctl.c - the administration tool of a Mailkeep instance.
 *
 *   mailkeepctl [-c config] <command> [arguments]
 *
 * Creates an instance (init), and manages the users of the directory
 * database: add, delete, list, set passwords, mark administrators, set
 * quotas, read the impersonation audit trail; back up and restore
 * users (backup.c); import mail from another server (import*.c).
 * Passwords are prompted for twice without echo on a terminal, or read
 * as one line from standard input (scripts); never taken from the
 * command line.  Every
 * step of a deployment can be scripted: see usage_text below and
 * doc/mailkeepctl.md.
 *
 * Exit status: 0 success, 1 failure, 2 usage error, 3 no instance (config
 * or directory missing), 4 the user or instance already exists, 5 no
 * such user, 6 invalid name or password, 7 an import left messages out
 * (quota, size).
 */
#include "daemon/ctl/ctl.h"
#include "auth/password.h"
#include "auth/tls.h"
#include "common/config.h"
#include "common/imap.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/userdir.h"
#include "common/util.h"
#include "daemon/ctl/import.h"
#include "store/directory.h"
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONF "/etc/mailkeep/mailkeep.conf"
#define PW_MAX 1024

struct command {
	const char *name;
	const char *args;
	const char *help;
	int       (*fn)(struct ctx *);
	bool        needs_instance;
	bool        workers;	/* works in users' directories (as_user) */
};

static int show_quota(struct ctx *x, const struct dir_user *u);

static const char usage_text[] =
"usage: mailkeepctl [-c config] <command> [arguments]\n"
"\n"
"The configuration is -c, else $MAILKEEP_CONF, else " DEFAULT_CONF ".\n"
"\n"
"commands:\n"
"%s"
"\n"
"Passwords are never arguments: on a terminal they are prompted for twice\n"
"without echo; otherwise (or with --password-stdin) one line is read from\n"
"standard input.\n"
"\n"
"Scripted deployment, no prompts:\n"
"  mailkeepctl init /srv/mailkeep --listen 0.0.0.0:143 --hostname mail.example.org\n"
"  export MAILKEEP_CONF=/srv/mailkeep/mailkeep.conf\n"
"  printf '%%s\\n' \"$ALICE_PASSWORD\" | mailkeepctl useradd alice\n"
"  printf '%%s\\n' \"$SUPPORT_PASSWORD\" | mailkeepctl useradd support --admin\n"
"  mailkeepd -c /srv/mailkeep/mailkeep.conf    # or -f: foreground, log to stderr\n"
"\n"
"Exit status: 0 ok, 1 failure, 2 usage, 3 no instance, 4 already exists,\n"
"5 no such user, 6 invalid name or password, 7 import left messages out.\n"
"'mailkeepctl help <command>' describes one command.\n";

/* ---- small helpers ---- */

void
errmsg(const char *fmt, ...)
{
	va_list ap;

	fputs("mailkeepctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
usage_of(const struct command *c)
{
	fprintf(stderr, "usage: mailkeepctl [-c config] %s %s\n", c->name,
	    c->args);
	return EX_USAGE_;
}

/* Finds "--flag" among the arguments and removes it. */
bool
take_flag(struct ctx *x, const char *flag)
{
	for (int i = 0; i < x->argc; i++)
		if (strcmp(x->argv[i], flag) == 0) {
			memmove(&x->argv[i], &x->argv[i + 1],
			    (size_t)(x->argc - i - 1) * sizeof(char *));
			x->argc--;
			return true;
		}
	return false;
}

/* Finds "--opt VALUE" and removes both; NULL if absent, *bad if the
 * value is missing. */
static const char *
take_opt(struct ctx *x, const char *opt, bool *bad)
{
	for (int i = 0; i < x->argc; i++) {
		if (strcmp(x->argv[i], opt) != 0)
			continue;
		if (i + 1 >= x->argc) {
			*bad = true;
			return NULL;
		}
		const char *v = x->argv[i + 1];
		memmove(&x->argv[i], &x->argv[i + 2],
		    (size_t)(x->argc - i - 2) * sizeof(char *));
		x->argc -= 2;
		return v;
	}
	return NULL;
}

bool
has_stray_option(const struct ctx *x)
{
	for (int i = 0; i < x->argc; i++)
		if (x->argv[i][0] == '-' && x->argv[i][1] == '-') {
			errmsg("unknown option %s", x->argv[i]);
			return true;
		}
	return false;
}

/* Canonical user name, or an error message and false. */
bool
user_name(const char *in, char *out)
{
	const char *why;

	if (!dir_name_canon(in, out, MK_USER_MAX, &why)) {
		errmsg("invalid user name '%s': %s", in, why);
		return false;
	}
	return true;
}

/* A new user's name and uid must mean no one else: not an ACL
 * identifier ("anyone"), not a system account's uid. */
bool
new_user_ok(struct ctx *x, const char *name)
{
	uint32_t id, uid;
	char owner[64];
	int rc;

	if (dir_name_reserved(name)) {
		errmsg("user name %s is reserved (it is an ACL identifier)",
		    name);
		return false;
	}
	if (dir_user_next_id(x->dir, &id) != 0) {
		errmsg("%s", dir_errmsg(x->dir));
		return false;
	}
	rc = config_mail_uid(&x->cfg, id, &uid, owner, sizeof(owner));
	if (rc == -1) {
		errmsg("mail_uid_base %u + user id %u leaves the uid space",
		    x->cfg.mail_uid_base, id);
		return false;
	}
	if (rc == 1) {
		errmsg("the next user's uid %u (mail_uid_base %u + id %u) "
		    "belongs to the system account %s: choose a mail_uid_base "
		    "whose range no account uses", uid, x->cfg.mail_uid_base,
		    id, owner);
		return false;
	}
	return true;
}

/* 0 found, else an exit status (message printed). */
int
get_user(struct ctx *x, const char *name, struct dir_user *u)
{
	switch (dir_user_get(x->dir, name, u)) {
	case 0:
		/* No caller needs the hash; workers forked later must not
		 * carry it. */
		explicit_bzero(u->hash, sizeof(u->hash));
		return 0;
	case MK_NOTFOUND:
		errmsg("no such user: %s", name);
		return EX_NOUSER;
	default:
		errmsg("directory: %s", dir_errmsg(x->dir));
		return EX_FAIL;
	}
}

static void
human_kib(uint64_t kib, char *out, size_t len)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	size_t i = 0;

	while (kib >= 1024 && kib % 1024 == 0 && i + 1 < nitems(unit)) {
		kib /= 1024;
		i++;
	}
	snprintf(out, len, "%llu %s", (unsigned long long)kib, unit[i]);
}

/* ---- passwords ---- */

static int
read_line_fd(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0 || ch == '\n')
			break;
		buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return n + 1 >= len ? -1 : 0;
}

static int
prompt(const char *text, char *buf, size_t len)
{
	struct termios old, quiet;
	int rc;

	fputs(text, stderr);
	fflush(stderr);
	if (tcgetattr(0, &old) == -1)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	tcsetattr(0, TCSAFLUSH, &quiet);
	rc = read_line_fd(0, buf, len);
	tcsetattr(0, TCSAFLUSH, &old);
	return rc;
}

/* Reads a new password (twice on a terminal) and hashes it. */
static int
new_password_hash(const char *user, bool from_stdin, char *hash, size_t len)
{
	char pw[PW_MAX], again[PW_MAX], text[128];
	int rc = EX_OK_;

	if (!from_stdin && isatty(0)) {
		snprintf(text, sizeof(text), "New password for %s: ", user);
		if (prompt(text, pw, sizeof(pw)) == -1 ||
		    prompt("Again: ", again, sizeof(again)) == -1) {
			errmsg("cannot read the password");
			rc = EX_BADINPUT;
		} else if (strcmp(pw, again) != 0) {
			errmsg("the passwords differ");
			rc = EX_BADINPUT;
		}
		explicit_bzero(again, sizeof(again));
	} else if (read_line_fd(0, pw, sizeof(pw)) == -1) {
		errmsg("password longer than %d bytes", PW_MAX - 2);
		rc = EX_BADINPUT;
	}
	if (rc == EX_OK_ && pw[0] == '\0') {
		errmsg("empty password (give it on standard input, one line)");
		rc = EX_BADINPUT;
	}
	if (rc == EX_OK_ && password_hash(pw, hash, len) == -1) {
		errmsg("hashing the password failed");
		rc = EX_FAIL;
	}
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

/* ---- init ---- */

static int
make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == -1 && errno != EEXIST) {
		errmsg("mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if (chmod(path, mode) == -1) {
		errmsg("chmod %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* mkdir -p, 0755 */
static int
mkdir_parents(const char *path)
{
	char p[PATH_MAX];

	if (mk_strlcpy(p, path, sizeof(p)) >= sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			return -1;
		if ((*s = c) == '\0')
			return 0;
	}
}

static int
run_useradd(const char *user)
{
	pid_t pid = fork();
	int status;

	if (pid == -1)
		return -1;
	if (pid == 0) {
		execl("/usr/sbin/useradd", "useradd", "--system",
		    "--no-create-home", "--home-dir", "/nonexistent",
		    "--shell", "/usr/sbin/nologin", user, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

static int
ensure_account(const char *user)
{
	if (getpwnam(user) != NULL)
		return 0;
	if (run_useradd(user) == -1) {
		errmsg("could not create the system account %s with useradd",
		    user);
		return -1;
	}
	printf("created system account %s\n", user);
	return 0;
}

static int
write_config(const char *path, const struct mk_config *c,
    const char *listen, const char *listen_tls)
{
	char tmp[PATH_MAX + 32];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		errmsg("%s: %s", tmp, strerror(errno));
		return -1;
	}
	fprintf(f,
	    "# Mailkeep instance, written by 'mailkeepctl init'.\n"
	    "# Every key and its default: etc/mailkeep.conf, doc/configuration.md.\n"
	    "hostname = %s\n"
	    "listen = %s\n", c->hostname, listen);
	if (listen_tls != NULL)
		fprintf(f, "listen_tls = %s\n", listen_tls);
	if (c->tls_cert[0] != '\0')
		fprintf(f, "tls_cert = %s\ntls_key = %s\n", c->tls_cert,
		    c->tls_key);
	fprintf(f,
	    "data_dir = %s\n"
	    "login_chroot = %s\n"
	    "login_user = %s\n"
	    "hash_user = %s\n", c->data_dir, c->login_chroot, c->login_user,
	    c->hash_user);
	if (fclose(f) == EOF || rename(tmp, path) == -1) {
		errmsg("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
create_directory_db(const struct mk_config *c)
{
	char path[PATH_MAX], err[256];
	struct directory *d;

	if (config_path(c, path, sizeof(path), "directory.db") == -1) {
		errmsg("data directory path too long");
		return -1;
	}
	/* Password hashes: readable by its owner only, from the start. */
	mode_t old = umask(077);
	int rc = dir_open(path, true, &d, err, sizeof(err));
	umask(old);
	if (rc != 0) {
		errmsg("%s: %s", path, err);
		return -1;
	}
	dir_close(d);
	chmod(path, 0600);
	return 0;
}

/* --tls-cert and --tls-key: both or neither, loadable as mailkeepd
 * will load them, kept as absolute paths. */
static int
init_tls(struct mk_config *c, const char *cert, const char *key,
    const char *listen_tls)
{
	struct tls_creds *t;
	char err[512];

	if ((cert == NULL) != (key == NULL)) {
		errmsg("--tls-cert and --tls-key go together");
		return -1;
	}
	if (cert == NULL) {
		if (listen_tls != NULL)
			errmsg("--listen-tls needs --tls-cert and --tls-key");
		return listen_tls != NULL ? -1 : 0;
	}
	if (realpath(cert, c->tls_cert) == NULL) {
		errmsg("%s: %s", cert, strerror(errno));
		return -1;
	}
	if (realpath(key, c->tls_key) == NULL) {
		errmsg("%s: %s", key, strerror(errno));
		return -1;
	}
	if (tls_creds_load(c->tls_cert, c->tls_key, c->tls_priority, &t, err,
	    sizeof(err)) == -1) {
		errmsg("%s", err);
		return -1;
	}
	tls_creds_free(t);
	return 0;
}

static int
init_paths(struct mk_config *c, const char *dir, const char *data_dir)
{
	int n1, n2;

	if (data_dir != NULL && data_dir[0] != '/') {
		errmsg("--data-dir must be an absolute path");
		return -1;
	}
	n1 = data_dir != NULL ?
	    snprintf(c->data_dir, sizeof(c->data_dir), "%s", data_dir) :
	    snprintf(c->data_dir, sizeof(c->data_dir), "%s/data", dir);
	n2 = snprintf(c->login_chroot, sizeof(c->login_chroot), "%s/empty", dir);
	if (n1 < 0 || (size_t)n1 >= sizeof(c->data_dir) || n2 < 0 ||
	    (size_t)n2 >= sizeof(c->login_chroot)) {
		errmsg("instance path too long");
		return -1;
	}
	return 0;
}

static int
cmd_init(struct ctx *x)
{
	bool bad = false, root = geteuid() == 0;
	const char *listen = take_opt(x, "--listen", &bad);
	const char *listen_tls = take_opt(x, "--listen-tls", &bad);
	const char *hostname = take_opt(x, "--hostname", &bad);
	const char *data_dir = take_opt(x, "--data-dir", &bad);
	const char *tls_cert = take_opt(x, "--tls-cert", &bad);
	const char *tls_key = take_opt(x, "--tls-key", &bad);
	char dir[PATH_MAX], conf[PATH_MAX + 16], users[PATH_MAX];
	struct mk_config c;
	struct mk_listen l;
	struct stat st;

	if (bad || has_stray_option(x) || x->argc != 1)
		return usage_of(find_command("init"));
	if (listen == NULL)
		listen = root ? "127.0.0.1:143" : "127.0.0.1:1143";
	if (config_parse_listen(&l, listen, false) == -1 ||
	    (listen_tls && config_parse_listen(&l, listen_tls, true) == -1)) {
		errmsg("bad address: use ADDR:PORT or [V6ADDR]:PORT");
		return EX_USAGE_;
	}
	config_defaults(&c);
	if (init_tls(&c, tls_cert, tls_key, listen_tls) == -1)
		return EX_USAGE_;
	if (mkdir_parents(x->argv[0]) == -1) {
		errmsg("mkdir %s: %s", x->argv[0], strerror(errno));
		return EX_FAIL;
	}
	if (realpath(x->argv[0], dir) == NULL) {
		errmsg("%s: %s", x->argv[0], strerror(errno));
		return EX_FAIL;
	}
	snprintf(conf, sizeof(conf), "%s/mailkeep.conf", dir);
	if (stat(conf, &st) == 0) {
		errmsg("%s already exists: %s is already an instance", conf, dir);
		return EX_EXISTS;
	}
	if (hostname != NULL)
		mk_strlcpy(c.hostname, hostname, sizeof(c.hostname));
	if (init_paths(&c, dir, data_dir) == -1)
		return EX_FAIL;
	if (root && (ensure_account(c.login_user) == -1 ||
	    ensure_account(c.hash_user) == -1))
		return EX_FAIL;
	/* As root, per-user uids must reach data/users/<name> through dir. */
	if (make_dir(dir, root ? 0711 : 0755) == -1 ||
	    make_dir(c.data_dir, root ? 0711 : 0700) == -1 ||
	    config_path(&c, users, sizeof(users), "users") == -1 ||
	    make_dir(users, root ? 0711 : 0700) == -1 ||
	    make_dir(c.login_chroot, 0755) == -1 ||
	    create_directory_db(&c) == -1 ||
	    write_config(conf, &c, listen, listen_tls) == -1)
		return EX_FAIL;
	printf("instance created in %s\n\n"
	    "next steps:\n"
	    "  export MAILKEEP_CONF=%s\n"
	    "  mailkeepctl useradd alice            # prompts for a password\n"
	    "  printf '%%s\\n' \"$PW\" | mailkeepctl useradd bob   # from a script\n"
	    "  mailkeepd -f -c %s      # foreground; without -f it daemonizes\n"
	    "then connect an IMAP client to %s.\n", dir, conf, conf, listen);
	return EX_OK_;
}

/* ---- working in a user's directory: as that user ---- */

/*
 * data_dir/users/<name>/ belongs to the user's uid, whose mailbox
 * process can put a link (to /etc/shadow, say) in place of store.db, its
 * -wal or -shm file at any moment.  So nothing here opens, creates,
 * chowns or walks anything inside it as root.  A command that works on a
 * user's store has a worker do it (as_user), which drops to the user's
 * uid and gid (verified), opens users/<name> with O_NOFOLLOW relative to
 * users/, checks it is the user's own directory, fchdir()s into it and
 * opens the store by its bare name, refusing links (user_store_open).
 * The worker prints its own output and reports through its exit status.
 *
 * The worker parses a file the user wrote, so it must hold nothing
 * worth stealing: workers are forked by a spawner that is itself forked
 * before directory.db is opened (start_spawner), so no password hash
 * was ever in their memory, and they keep no descriptor but stdin,
 * stdout, stderr and users/.  The root parent sends the spawner one
 * request per worker (struct work_req, over a socketpair; both sides
 * are this same root program) and gets the exit status back.
 *
 * What root itself does to the entry users/<name> (create it, hand it
 * over, remove it once empty) goes through common/userdir.h.
 */

static int show_quota_work(struct ctx *x, const struct work_req *q);
static int check_work(struct ctx *x, const struct work_req *q);
static int acl_work(struct ctx *x, const struct work_req *q);
static int remove_work(struct ctx *x, const struct work_req *q);
static int import_work(struct ctx *x, const struct work_req *q, int chan,
    pid_t reader);
static int fts_work(struct ctx *x, const struct work_req *q);

uid_t
mail_uid(const struct ctx *x, const struct dir_user *u)
{
	return x->cfg.mail_uid_base + u->id;
}

/* A request about user u, the rest zeroed. */
void
work_init(struct ctx *x, struct work_req *q, enum work_op op,
    const struct dir_user *u)
{
	memset(q, 0, sizeof(*q));
	q->op = op;
	q->uid = mail_uid(x, u);
	mk_strlcpy(q->name, u->name, sizeof(q->name));
	q->quota_storage = u->quota_storage;
	q->quota_messages = u->quota_messages;
}

/* data_dir/users, opened once (root-owned, checked). */
int
users_fd(struct ctx *x)
{
	char path[PATH_MAX], err[PATH_MAX + 128];

	if (x->usersfd >= 0)
		return x->usersfd;
	if (config_path(&x->cfg, path, sizeof(path), "users") == -1) {
		errmsg("data directory path too long");
		return -1;
	}
	if ((x->usersfd = userdir_users_open(path, geteuid() == 0, err,
	    sizeof(err))) == -1)
		errmsg("%s", err);
	return x->usersfd;
}

/* setgroups, setresgid, setresuid (priv_drop, which also checks root
 * cannot be regained), then every id read back.  As an ordinary user
 * (development mode) there is nothing to drop. */
static bool
become(uid_t uid)
{
	uid_t r, e, sv;
	gid_t rg, eg, sg, groups[8];

	if (geteuid() != 0 || uid == 0)
		return true;
	priv_drop(uid, (gid_t)uid, NULL);
	return getresuid(&r, &e, &sv) == 0 && r == uid && e == uid &&
	    sv == uid && getresgid(&rg, &eg, &sg) == 0 && rg == (gid_t)uid &&
	    eg == (gid_t)uid && sg == (gid_t)uid &&
	    getgroups((int)nitems(groups), groups) == 1 &&
	    groups[0] == (gid_t)uid;
}

/* In a worker: users/<name> is someone else's (an earlier user of the
 * name, until the server hands it over). */
static void __attribute__((noreturn))
not_ours(const char *name, uid_t owner)
{
	errmsg("users/%s belongs to uid %u, not %u: refused (the server "
	    "hands it over at the user's next login or delivery)", name,
	    (unsigned)owner, (unsigned)geteuid());
	_exit(W_BROKEN);
}

/* The worker, forked by the spawner. */
static void __attribute__((noreturn))
worker(struct ctx *x, const struct work_req *q)
{
	int keep[2] = { x->usersfd, x->xfd };
	struct stat st;
	pid_t reader = -1;
	int rc, chan = -1;

	close_all_fds_except(3, keep, x->xfd >= 0 ? 2 : 1);
	/* Not as a user: it drops to login_user itself (move.c). */
	if (q->op == WORK_LINK) {
		rc = link_work(x, q);
		fflush(stderr);
		_exit(rc);
	}
	/* The reader of a local source starts as root: it opens the source
	 * without following links, then drops to the source's owner. */
	if (q->op == WORK_IMPORT && !import_source_is_url(q->source) &&
	    (chan = import_reader_start(q->source, &reader)) == -1)
		_exit(EX_FAIL);
	if (!become(q->uid)) {
		errmsg("could not become uid %u", (unsigned)q->uid);
		_exit(W_BROKEN);
	}
	x->udir = openat(x->usersfd, q->name, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (x->udir == -1) {
		int e = errno;
		/* An earlier user's directory (0700) cannot even be opened;
		 * users/ still tells whose it is. */
		if (e == EACCES && fstatat(x->usersfd, q->name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid != geteuid())
			not_ours(q->name, st.st_uid);
		if (e != ENOENT) {
			errmsg("users/%s: %s", q->name, e == ELOOP ||
			    e == ENOTDIR ? "not a directory (a link or a file "
			    "is in its place): refused" : strerror(e));
			_exit(W_BROKEN);
		}
	} else {
		if (fstat(x->udir, &st) == -1) {
			errmsg("users/%s: %s", q->name, strerror(errno));
			_exit(W_BROKEN);
		}
		if (st.st_uid != geteuid())
			not_ours(q->name, st.st_uid);
		/* The store is then opened by its bare name: SQLite sees a
		 * path whose every component is a real directory. */
		if (fchdir(x->udir) == -1) {
			errmsg("users/%s: %s", q->name, strerror(errno));
			_exit(W_BROKEN);
		}
	}
	close(x->usersfd);
	x->usersfd = -1;
	switch (q->op) {
	case WORK_QUOTA:   rc = show_quota_work(x, q); break;
	case WORK_CHECK:   rc = check_work(x, q); break;
	case WORK_ACL:     rc = acl_work(x, q); break;
	case WORK_REMOVE:  rc = remove_work(x, q); break;
	case WORK_BACKUP:  rc = backup_work(x, q); break;
	case WORK_RESTORE: rc = restore_work(x, q); break;
	case WORK_IMPORT:  rc = import_work(x, q, chan, reader); break;
	case WORK_FTS:     rc = fts_work(x, q); break;
	case WORK_COMPRESS: rc = compress_work(x, q); break;
	default:           rc = W_BROKEN; break;
	}
	fflush(stdout);
	fflush(stderr);
	_exit(rc);
}

/* One worker for q; its exit status (W_BROKEN if it died). */
static int
run_worker(struct ctx *x, const struct work_req *q)
{
	int status;
	pid_t pid = fork();

	if (pid == -1) {
		errmsg("fork: %s", strerror(errno));
		return W_BROKEN;
	}
	if (pid == 0)
		worker(x, q);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return W_BROKEN;
	if (WIFSIGNALED(status)) {
		errmsg("the worker for %s died of signal %d", q->name,
		    WTERMSIG(status));
		return W_BROKEN;
	}
	return WEXITSTATUS(status);
}

/* A request, and the descriptor that may ride with it (SCM_RIGHTS). */
static ssize_t
send_req(int sock, const struct work_req *q, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)q,
	    .iov_len = sizeof(*q) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

static ssize_t
recv_req(int sock, struct work_req *q, int *fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = q, .iov_len = sizeof(*q) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	struct cmsghdr *c;

	*fd = -1;
	if (n > 0 && (c = CMSG_FIRSTHDR(&mh)) != NULL &&
	    c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

/* The spawner: what the config gave, users/ and nothing else. */
static void __attribute__((noreturn))
spawner(struct ctx *x, int sock)
{
	struct work_req q;
	ssize_t n;

	close_all_fds_except(3, &sock, 1);
	x->usersfd = -1;	/* opened at the first request */
	for (;;) {
		if ((n = recv_req(sock, &q, &x->xfd)) == -1 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(q))
			_exit(n == 0 ? 0 : 1);	/* 0: the parent is done */
		q.name[sizeof(q.name) - 1] = '\0';
		q.mailbox[sizeof(q.mailbox) - 1] = '\0';
		q.ident[sizeof(q.ident) - 1] = '\0';
		q.rights[sizeof(q.rights) - 1] = '\0';
		q.source[sizeof(q.source) - 1] = '\0';
		q.tls_ca[sizeof(q.tls_ca) - 1] = '\0';
		int status = users_fd(x) == -1 ? W_BROKEN : run_worker(x, &q);
		if (x->xfd != -1)
			close(x->xfd);
		x->xfd = -1;
		if (send(sock, &status, sizeof(status), MSG_NOSIGNAL) !=
		    sizeof(status))
			_exit(1);
	}
}

/* Forks the spawner: called before directory.db is opened. */
static int
start_spawner(struct ctx *x)
{
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		errmsg("socketpair: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	if ((x->spawner = fork()) == -1) {
		errmsg("fork: %s", strerror(errno));
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	if (x->spawner == 0) {
		close(sp[0]);
		spawner(x, sp[1]);
	}
	close(sp[1]);
	x->wsock = sp[0];
	return 0;
}

static void
stop_spawner(struct ctx *x)
{
	if (x->spawner <= 0)
		return;
	close(x->wsock);
	x->wsock = -1;
	while (waitpid(x->spawner, NULL, 0) == -1 && errno == EINTR)
		;
	x->spawner = -1;
}

/* Has a worker carry out q; returns its status, or -1 if it could not
 * run or become the user (message printed). */
static int
as_user(struct ctx *x, const struct work_req *q)
{
	return as_user_fd(x, q, -1);
}

int
as_user_fd(struct ctx *x, const struct work_req *q, int fd)
{
	int status;
	ssize_t n;

	if (x->wsock == -1) {
		errmsg("no worker spawner (internal error)");
		return -1;
	}
	/* The worker writes to the same stdout: ours goes first. */
	fflush(stdout);
	fflush(stderr);
	if (send_req(x->wsock, q, fd) != (ssize_t)sizeof(*q)) {
		errmsg("worker spawner: %s", strerror(errno));
		return -1;
	}
	while ((n = recv(x->wsock, &status, sizeof(status), 0)) == -1 &&
	    errno == EINTR)
		;
	if (n != (ssize_t)sizeof(status)) {
		errmsg("worker spawner: no answer");
		return -1;
	}
	return status == W_BROKEN ? -1 : status;
}

/* In a worker: the user's store in the current directory (users/<name>).
 * store.db, store.db-wal and store.db-shm must each be missing or a
 * regular file of our own uid: a link, or anything else, is refused
 * before SQLite could follow it.  1 (message printed) if there is no
 * store and create is false. */
int
user_store_open(struct ctx *x, const char *name, bool create,
    struct store **s)
{
	static const char *const files[] = {
		"store.db", "store.db-wal", "store.db-shm",
	};
	const struct store_init_folder init[] = {
		{ x->cfg.folder_drafts, SPECIAL_USE_DRAFTS },
		{ x->cfg.folder_sent, SPECIAL_USE_SENT },
		{ x->cfg.folder_trash, SPECIAL_USE_TRASH },
		{ x->cfg.folder_junk, SPECIAL_USE_JUNK },
	};
	struct store_init_folder use[nitems(init)];
	char err[256];
	struct stat st;
	size_t n = 0;

	if (x->udir == -1 && !create) {
		printf("%s has no mail stored yet (the store is created at the "
		    "first login)\n", name);
		return 1;
	}
	if (x->udir == -1) {
		errmsg("users/%s is missing", name);
		return -1;
	}
	for (size_t i = 0; i < nitems(files); i++) {
		if (fstatat(x->udir, files[i], &st, AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno != ENOENT) {
				errmsg("users/%s/%s: %s", name, files[i],
				    strerror(errno));
				return -1;
			}
			if (i == 0 && !create) {
				printf("%s has no mail stored yet (the store is "
				    "created at the first login)\n", name);
				return 1;
			}
			continue;
		}
		if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
			errmsg("users/%s/%s is not a regular file of uid %u "
			    "(a link?): refused", name, files[i],
			    (unsigned)geteuid());
			return -1;
		}
	}
	/* An empty name in the config means: don't create that folder. */
	for (size_t i = 0; create && i < nitems(init); i++)
		if (init[i].name[0] != '\0')
			use[n++] = init[i];
	if (store_open_nofollow("store.db", create,
	    (enum store_sync)x->cfg.fsync, use, n, s,
	    err, sizeof(err)) != 0) {
		errmsg("users/%s/%s", name, err);
		return -1;
	}
	store_set_compress(*s, x->cfg.compress_bodies,
	    (int)x->cfg.compress_level, x->cfg.compress_min_size);
	return 0;
}

/* ---- users ---- */

/* directory = ldap: what LDAP holds is edited in LDAP.  The local rows
 * (ids, audit trail, shares) are the server's; userdel of one stays
 * possible (its store goes; the next login makes a new row). */
static bool
refused_by_ldap(const struct ctx *x, const char *what)
{
	if (x->cfg.directory != MK_DIR_LDAP)
		return false;
	errmsg("directory = ldap (%s): %s come from the LDAP directory; "
	    "change them there, not with mailkeepctl", x->cfg.ldap_uri, what);
	return true;
}

static int
cmd_directory(struct ctx *x)
{
	if (x->argc != 0)
		return usage_of(find_command("directory"));
	if (x->cfg.directory != MK_DIR_LDAP) {
		printf("directory: sqlite (%s/directory.db)\n", x->cfg.data_dir);
		return EX_OK_;
	}
	printf("directory: ldap\nuri: %s%s\nbase: %s\nfilter: %s\n"
	    "auth: %s\nadmin group: %s\ncache: %u s\n"
	    "local rows (ids, audit trail, shares): %s/directory.db\n",
	    x->cfg.ldap_uri, strncasecmp(x->cfg.ldap_uri, "ldaps:", 6) == 0 ?
	    "" : x->cfg.ldap_starttls ? " (StartTLS)" : " (no TLS)",
	    x->cfg.ldap_base, x->cfg.ldap_user_filter,
	    x->cfg.ldap_auth == MK_LDAP_AUTH_BIND ? "bind" : "hash",
	    x->cfg.ldap_admin_group[0] ? x->cfg.ldap_admin_group : "(none)",
	    x->cfg.ldap_cache_ttl, x->cfg.data_dir);
	return EX_OK_;
}

bool
backend_ok(const struct ctx *x, const char *backend)
{
	if (config_backend_local(&x->cfg, backend) ||
	    config_backend(&x->cfg, backend) != NULL)
		return true;
	if (x->cfg.nbackends == 0)
		errmsg("backend %s: %s declares no backends (backend = NAME "
		    "HOST IMAP_PORT ..., doc/cluster.md)", backend, x->conf);
	else
		errmsg("backend %s is not declared in %s", backend, x->conf);
	return false;
}

static int
cmd_useradd(struct ctx *x)
{
	bool admin = take_flag(x, "--admin");
	bool from_stdin = take_flag(x, "--password-stdin");
	bool bad = false;
	const char *backend = take_opt(x, "--backend", &bad);
	char name[MK_USER_MAX], hash[PASSWORD_HASH_MAX];
	struct dir_user u;
	uint32_t id;
	int rc;

	if (bad || has_stray_option(x) || x->argc != 1)
		return usage_of(find_command("useradd"));
	if (refused_by_ldap(x, "users"))
		return EX_LDAP;
	if (!user_name(x->argv[0], name))
		return EX_BADINPUT;
	if (backend != NULL && !backend_ok(x, backend))
		return EX_BADINPUT;
	if (dir_user_get(x->dir, name, &u) == 0) {
		errmsg("user %s already exists", name);
		return EX_EXISTS;
	}
	if (!new_user_ok(x, name))
		return EX_BADINPUT;
	if ((rc = new_password_hash(name, from_stdin, hash, sizeof(hash))) != 0)
		return rc;
	rc = dir_user_add(x->dir, name, hash, &id);
	explicit_bzero(hash, sizeof(hash));
	if (rc == MK_EXISTS) {
		errmsg("user %s already exists", name);
		return EX_EXISTS;
	}
	if (rc != 0 || (admin && dir_user_set_admin(x->dir, name, true) != 0) ||
	    (backend != NULL && !config_backend_local(&x->cfg, backend) &&
	    dir_user_set_backend(x->dir, name, backend) != 0)) {
		errmsg("adding %s: %s", name, dir_errmsg(x->dir));
		return EX_FAIL;
	}
	printf("user %s added (id %u%s%s%s)\n", name, id, admin ? ", admin" : "",
	    backend != NULL ? ", backend " : "", backend != NULL ? backend : "");
	return EX_OK_;
}

/* "mailkeepctl backend USER [NAME]": shows or sets where the user's
 * store lives.  Setting it moves no mail (that is "move"): it is for
 * users made before the cluster, or restored by hand. */
static int
cmd_backend(struct ctx *x)
{
	char name[MK_USER_MAX];
	struct dir_user u;
	int rc;

	if (has_stray_option(x) || x->argc < 1 || x->argc > 2)
		return usage_of(find_command("backend"));
	if (!user_name(x->argv[0], name))
		return EX_BADINPUT;
	rc = get_user(x, name, &u);
	dir_user_forget_hash(&u);
	if (rc != 0)
		return rc;
	if (x->argc == 1) {
		printf("%s\n", u.backend[0] != '\0' ? u.backend :
		    x->cfg.backend_name[0] != '\0' ? x->cfg.backend_name :
		    "(this server)");
		return EX_OK_;
	}
	const char *b = x->argv[1];
	if (!backend_ok(x, b))
		return EX_BADINPUT;
	/* This server's own name is stored as "": the row stays right if
	 * the cluster is later renamed or dissolved. */
	if (config_backend_local(&x->cfg, b))
		b = "";
	if (dir_user_set_backend(x->dir, name, b) != 0) {
		errmsg("%s: %s", name, dir_errmsg(x->dir));
		return EX_FAIL;
	}
	printf("%s is now on backend %s\n", name, x->argv[1]);
	return EX_OK_;
}

static int
remove_work(struct ctx *x, const struct work_req *q)
{
	(void)q;
	return x->udir == -1 || userdir_remove_contents(x->udir) == 0 ?
	    EX_OK_ : EX_FAIL;
}

/* users/<name> goes: its contents removed by a worker running as the
 * directory's owner (never following a link), then the emptied entry
 * by root, relative to users/.  Anything else in its place (a link) is
 * unlinked itself, never followed. */
int
remove_user_dir(struct ctx *x, const char *name, bool keep)
{
	struct work_req q = { .op = WORK_REMOVE };
	struct stat st;
	int fd = users_fd(x);

	if (fd == -1)
		return EX_FAIL;
	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? EX_OK_ : EX_FAIL;
	if (keep) {
		printf("mail kept in %s/users/%s\n", x->cfg.data_dir, name);
		return EX_OK_;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(fd, name, 0) == -1) {
			errmsg("remove users/%s: %s", name, strerror(errno));
			return EX_FAIL;
		}
		printf("removed users/%s (not a directory: the entry itself)\n",
		    name);
		return EX_OK_;
	}
	q.uid = st.st_uid;
	mk_strlcpy(q.name, name, sizeof(q.name));
	if (as_user(x, &q) != EX_OK_) {
		errmsg("users/%s: not everything in it could be removed", name);
		return EX_FAIL;
	}
	if (unlinkat(fd, name, AT_REMOVEDIR) == -1) {
		errmsg("remove users/%s: %s", name, strerror(errno));
		return EX_FAIL;
	}
	return EX_OK_;
}

static int
cmd_userdel(struct ctx *x)
{
	bool keep = take_flag(x, "--keep-mail");
	char name[MK_USER_MAX];
	struct dir_user u;
	int rc;

	if (has_stray_option(x) || x->argc != 1)
		return usage_of(find_command("userdel"));
	if (!user_name(x->argv[0], name))
		return EX_BADINPUT;
	if ((rc = get_user(x, name, &u)) != 0)
		return rc;
	if (dir_user_del(x->dir, name) != 0) {
		errmsg("deleting %s: %s", name, dir_errmsg(x->dir));
		return EX_FAIL;
	}
	live_shares_changed(x);
	rc = remove_user_dir(x, name, keep);
	printf("user %s deleted\n", name);
	return rc;
}

static void
quota_str(int64_t v, uint64_t dflt, bool kib, char *out, size_t len)
{
	char n[32];
	uint64_t eff = v < 0 ? dflt : (uint64_t)v;

	if (eff == 0)
		snprintf(n, sizeof(n), "unlimited");
	else if (kib)
		human_kib(eff, n, sizeof(n));
	else
		snprintf(n, sizeof(n), "%llu", (unsigned long long)eff);
	snprintf(out, len, "%s%s", n, v < 0 ? " (default)" : "");
}

/* The header of print_user()'s lines: a BACKEND column once backends
 * are declared. */
static void
print_user_header(const struct mk_config *cfg)
{
	if (cfg->nbackends > 0)
		printf("%-24s %-5s %-22s %-18s %-12s %s\n", "NAME", "ADMIN",
		    "STORAGE QUOTA", "MESSAGE QUOTA", "BACKEND", "PASSWORD HASH");
	else
		printf("%-24s %-5s %-22s %-18s %s\n", "NAME", "ADMIN",
		    "STORAGE QUOTA", "MESSAGE QUOTA", "PASSWORD HASH");
}

static int
print_user(const struct dir_user *u, void *arg)
{
	const struct mk_config *c = arg;
	char st[48], msg[48];
	const char *hs;

	quota_str(u->quota_storage, c->quota_storage, true, st, sizeof(st));
	quota_str(u->quota_messages, c->quota_messages, false, msg, sizeof(msg));
	if (strcmp(u->hash, DIR_HASH_LDAP) == 0)
		hs = "in LDAP";
	else switch (password_hash_status(u->hash)) {
	case PW_HASH_OK: hs = "ok"; break;
	case PW_HASH_LEGACY: hs = "legacy (set a new password)"; break;
	default: hs = "unusable (set a new password)"; break;
	}
	/* A cluster adds where each user lives; a single machine's list
	 * keeps its columns. */
	if (c->nbackends > 0)
		printf("%-24s %-5s %-22s %-18s %-12s %s\n", u->name,
		    u->admin ? "yes" : "no", st, msg, u->backend[0] != '\0' ?
		    u->backend : c->backend_name, hs);
	else
		printf("%-24s %-5s %-22s %-18s %s\n", u->name,
		    u->admin ? "yes" : "no", st, msg, hs);
	return 0;
}

static int
cmd_users(struct ctx *x)
{
	if (x->argc != 0)
		return usage_of(find_command("users"));
	/* (Only then: scripts read the lines after the header.) */
	if (x->cfg.directory == MK_DIR_LDAP)
		printf("directory: ldap (%s): the admin flags and quotas below "
		    "are LDAP's as of each user's last login\n",
		    x->cfg.ldap_uri);
	print_user_header(&x->cfg);
	if (dir_user_foreach(x->dir, print_user, &x->cfg) != 0) {
		errmsg("directory: %s", dir_errmsg(x->dir));
		return EX_FAIL;
	}
	return EX_OK_;
}

static int
cmd_passwd(struct ctx *x)
{
	bool from_stdin = take_flag(x, "--password-stdin");
	char name[MK_USER_MAX], hash[PASSWORD_HASH_MAX];
	struct dir_user u;
	int rc;

	if (has_stray_option(x) || x->argc != 1)
		return usage_of(find_command("passwd"));
	if (refused_by_ldap(x, "passwords"))
		return EX_LDAP;
	if (!user_name(x->argv[0], name))
		return EX_BADINPUT;
	if ((rc = get_user(x, name, &u)) != 0)
		return rc;
	if ((rc = new_password_hash(name, from_stdin, hash, sizeof(hash))) != 0)
		return rc;
	rc = dir_user_set_hash(x->dir, name, hash);
	explicit_bzero(hash, sizeof(hash));
	if (rc != 0) {
		errmsg("setting the password of %s: %s", name, dir_errmsg(x->dir));
		return EX_FAIL;
	}
	printf("password of %s changed\n", name);
	return EX_OK_;
}

static int
cmd_admin(struct ctx *x)
{
	char name[MK_USER_MAX];
	struct dir_user u;
	bool on;
	int rc;

	if (x->argc != 2)
		return usage_of(find_command("admin"));
	if (strcmp(x->argv[1], "on") == 0)
		on = true;
	else if (strcmp(x->argv[1], "off") == 0)
		on = false;
	else
		return usage_of(find_command("admin"));
	if (refused_by_ldap(x, "admin flags (ldap_admin_group)"))
		return EX_LDAP;
	if (!user_name(x->argv[0], name))
		return EX_BADINPUT;
	if ((rc = get_user(x, name, &u)) != 0)
		return rc;
	if (dir_user_set_admin(x->dir, name, on) != 0) {
		errmsg("%s: %s", name, dir_errmsg(x->dir));
		return EX_FAIL;
	}
	printf("%s is %s an administrator\n", name, on ? "now" : "no longer");
	return EX_OK_;
}

/* "default" -> -1, "unlimited"/"0" -> 0, else a number (sizes: K/M/G). */
static bool
parse_quota(const char *s, bool size, int64_t *out)
{
	uint64_t v, mult = 1;
	char num[32];
	size_t n = strlen(s);

	if (strcmp(s, "default") == 0) {
		*out = -1;
		return true;
	}
	if (strcmp(s, "unlimited") == 0) {
		*out = 0;
		return true;
	}
	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, s, n + 1);
	if (size) {
		/* KiB are the unit; M and G scale. */
		switch (num[n - 1]) {
		case 'K': case 'k': num[n - 1] = '\0'; break;
		case 'M': case 'm': mult = 1024; num[n - 1] = '\0'; break;
		case 'G': case 'g': mult = 1024 * 1024; num[n - 1] = '\0'; break;
		default: break;
		}
	}
	if (!parse_u64(num, (uint64_t)INT64_MAX / mult, &v))
		return false;
	*out = (int64_t)(v * mult);
	return true;
}

static int
cmd_quota(struct ctx *x)
{
	bool bad = false;
	const char *storage = take_opt(x, "--storage", &bad);
	const char *messages = take_opt(x, "--messages", &bad);
	char name[MK_USER_MAX];
	struct dir_user u;
	int64_t s, m;
	int rc;

	if (bad || has_stray_option(x) || x->argc != 1)
		return usage_of(find_command("quota"));
	if (!user_name(x->argv[0], name))
		return EX_BADINPUT;
	if ((storage != NULL || messages != NULL) &&
	    refused_by_ldap(x, "quota limits"))
		return EX_LDAP;
	if ((rc = get_user(x, name, &u)) != 0)
		return rc;
	if (storage == NULL && messages == NULL)
		return show_quota(x, &u);
	s = u.quota_storage;
	m = u.quota_messages;
	if ((storage && !parse_quota(storage, true, &s)) ||
	    (messages && !parse_quota(messages, false, &m))) {
		errmsg("bad quota: a number, 'unlimited' or 'default'");
		return EX_USAGE_;
	}
	if (dir_user_set_quota(x->dir, name, s, m) != 0) {
		errmsg("%s: %s", name, dir_errmsg(x->dir));
		return EX_FAIL;
	}
	u.quota_storage = s;
	u.quota_messages = m;
	print_user_header(&x->cfg);
	print_user(&u, &x->cfg);
	return EX_OK_;
}

/* ---- a user's store ---- */

static int
show_quota_work(struct ctx *x, const struct work_req *w)
{
	struct quota_usage q = { 0, 0 };
	struct store *s;
	char lim[48], used[32];
	int rc = user_store_open(x, w->name, false, &s);

	if (rc < 0)
		return EX_FAIL;
	if (rc == 0) {
		rc = store_quota_usage(s, &q);
		store_close(s);
		if (rc != 0)
			return EX_FAIL;
	}
	human_kib((q.storage + 1023) / 1024, used, sizeof(used));
	quota_str(w->quota_storage, x->cfg.quota_storage, true, lim, sizeof(lim));
	printf("%s: storage %s used of %s\n", w->name, used, lim);
	quota_str(w->quota_messages, x->cfg.quota_messages, false, lim,
	    sizeof(lim));
	printf("%s: messages %llu of %s\n", w->name,
	    (unsigned long long)q.messages, lim);
	return EX_OK_;
}

/* The usage is read by a worker as the user (as_user), which prints. */
static int
show_quota(struct ctx *x, const struct dir_user *u)
{
	struct work_req q;
	int rc;

	work_init(x, &q, WORK_QUOTA, u);
	rc = as_user(x, &q);
	return rc < 0 ? EX_FAIL : rc;
}

struct check_ctx {
	struct ctx *x;
	int         drift;
	int         failed;
};

static int
check_work(struct ctx *x, const struct work_req *q)
{
	const char *name = q->name;
	struct quota_usage kept, actual;
	struct store *s;
	int rc = user_store_open(x, name, false, &s);

	if (rc != 0)
		return rc < 0 ? EX_FAIL : W_NOSTORE;
	rc = store_quota_recompute(s, &kept, &actual);
	store_close(s);
	if (rc != 0) {
		errmsg("%s: recount failed", name);
		return EX_FAIL;
	}
	if (kept.storage == actual.storage && kept.messages == actual.messages) {
		printf("%s: ok (%llu bytes, %llu messages)\n", name,
		    (unsigned long long)actual.storage,
		    (unsigned long long)actual.messages);
		return EX_OK_;
	}
	printf("%s: DRIFT: kept %llu bytes / %llu messages, actual %llu bytes / "
	    "%llu messages (corrected)\n", name,
	    (unsigned long long)kept.storage, (unsigned long long)kept.messages,
	    (unsigned long long)actual.storage,
	    (unsigned long long)actual.messages);
	return W_DRIFT;
}

static int
check_one(const struct dir_user *u, void *arg)
{
	struct check_ctx *k = arg;
	struct work_req q;
	int rc;

	work_init(k->x, &q, WORK_CHECK, u);
	rc = as_user(k->x, &q);
	if (rc == W_DRIFT)
		k->drift++;
	else if (rc != EX_OK_ && rc != W_NOSTORE)
		k->failed++;
	return 0;
}

static int
cmd_quota_check(struct ctx *x)
{
	struct check_ctx k = { .x = x };
	char name[MK_USER_MAX];
	struct dir_user u;
	int rc;

	if (has_stray_option(x) || x->argc > 1)
		return usage_of(find_command("quota-check"));
	if (x->argc == 1) {
		if (!user_name(x->argv[0], name))
			return EX_BADINPUT;
		if ((rc = get_user(x, name, &u)) != 0)
			return rc;
		check_one(&u, &k);
	} else if (dir_user_foreach(x->dir, check_one, &k) != 0) {
		errmsg("%s", dir_errmsg(x->dir));
		return EX_FAIL;
	}
	if (k.drift)
		printf("%d user%s had drifted; counters corrected\n", k.drift,
		    k.drift == 1 ? "" : "s");
	return k.failed ? EX_FAIL : EX_OK_;
}

/* ---- the full-text index ---- */

/* Batches as in the mailbox process's idle indexing, each committed, so
 * the user's sessions go on (and SEARCH stays exact) during a rebuild. */
#define FTS_CTL_BATCH 500
#define PROGRESS_BAR  40

void
progress_line(const char *name, uint64_t done, uint64_t total,
    const char *what, bool tty, unsigned *last)
{
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
	int fill = (int)(pct * PROGRESS_BAR / 100);

	if (tty) {
		printf("\r%s: [%.*s%*s] %3u%% %llu/%llu", name, fill,
		    "########################################", PROGRESS_BAR - fill,
		    "", pct, (unsigned long long)done,
		    (unsigned long long)total);
	} else if (pct / 10 != *last / 10 || done == total) {
		/* one line per tenth: a log, not a screen */
		printf("%s: %u%% (%llu of %llu %s)\n", name, pct,
		    (unsigned long long)done, (unsigned long long)total, what);
	}
	*last = pct;
	fflush(stdout);
}

static int
fts_work(struct ctx *x, const struct work_req *q)
{
	uint64_t total, left, indexed, never;
	bool tty = isatty(STDOUT_FILENO);
	struct store *s;
	unsigned n, last = 0;
	int rc = user_store_open(x, q->name, false, &s);

	if (rc != 0)
		return rc < 0 ? EX_FAIL : W_NOSTORE;
	if ((rc = store_fts_reset(s)) != 0 ||
	    (rc = store_fts_pending(s, &total)) != 0) {
		errmsg("%s: %s", q->name, store_errmsg(s));
		store_close(s);
		return EX_FAIL;
	}
	printf("%s: indexing %llu messages\n", q->name,
	    (unsigned long long)total);
	progress_line(q->name, 0, total, "messages", tty, &last);
	do {
		rc = store_fts_index(s, FTS_CTL_BATCH, 0, false, &n, &left);
		if (rc == 0)
			progress_line(q->name, total - left, total, "messages",
			    tty, &last);
	} while (rc == 0 && left > 0 && n > 0);
	if (tty)
		printf("\n");
	if (rc == 0)
		rc = store_fts_optimize(s);
	if (rc == 0)
		rc = store_fts_counts(s, &indexed, &never);
	if (rc != 0) {
		errmsg("%s: %s", q->name, store_errmsg(s));
		store_close(s);
		return EX_FAIL;
	}
	store_close(s);
	printf("%s: %llu messages indexed", q->name,
	    (unsigned long long)indexed);
	if (never > 0)
		printf(", %llu too large (SEARCH reads them)",
		    (unsigned long long)never);
	printf("\n");
	return EX_OK_;
}

struct each_user {
	struct ctx  *x;
	enum work_op op;
	int          failed;
};

static int
work_one(const struct dir_user *u, void *arg)
{
	struct each_user *k = arg;
	struct work_req q;
	int rc;

	work_init(k->x, &q, k->op, u);
	rc = as_user(k->x, &q);
	if (rc != EX_OK_ && rc != W_NOSTORE)
		k->failed++;
	return 0;
}

int
work_user_or_all(struct ctx *x, const char *cmd, enum work_op op)
{
	struct each_user k = { .x = x, .op = op };
	bool all = take_flag(x, "--all");
	char name[MK_USER_MAX];
	struct dir_user u;
	int rc;

	if (has_stray_option(x) || x->argc != (all ? 0 : 1))
		return usage_of(find_command(cmd));
	if (!all) {
		if (!user_name(x->argv[0], name))
			return EX_BADINPUT;
		if ((rc = get_user(x, name, &u)) != 0)
			return rc;
		work_one(&u, &k);
	} else if (dir_user_foreach(x->dir, work_one, &k) != 0) {
		errmsg("%s", dir_errmsg(x->dir));
		return EX_FAIL;
	}
	return k.failed ? EX_FAIL : EX_OK_;
}

static int
cmd_fts_rebuild(struct ctx *x)
{
	return work_user_or_all(x, "fts-rebuild", WORK_FTS);
}

/* ---- delivery ---- */

/*
 * deliver is a thin LMTP client of the server's own delivery path
 * (doc/lmtp.md): it connects to the LMTP socket and sends LHLO, MAIL,
 * RCPT and DATA.  It opens no store and parses no message, so running
 * it as root (as an MTA's mailbox_command may) gives the message no
 * privilege: the recipient's mailbox process stores it as the
 * recipient's uid.
 */

/* sysexits(3) codes, as an MTA expects from a delivery agent. */
#define DX_DATAERR   65
#define DX_NOUSER    67
#define DX_CANTCREAT 73
#define DX_TEMPFAIL  75
#define DX_NOPERM    77
#define DX_CONFIG    78
#define DX_REPLY_MAX 1024

struct lmtp_conn {
	int  fd;
	char in[4096];
	size_t off, len;
	char text[DX_REPLY_MAX];	/* the last line of the last reply */
};

/* Reads one reply (all its lines); its code, or -1 if the connection
 * failed or the reply is malformed. */
static int
lmtp_reply(struct lmtp_conn *c)
{
	for (;;) {
		char line[DX_REPLY_MAX];
		size_t n = 0;
		for (;;) {
			if (c->len == 0) {
				ssize_t r = read(c->fd, c->in, sizeof(c->in));
				if (r == -1 && errno == EINTR)
					continue;
				if (r <= 0)
					return -1;
				c->off = 0;
				c->len = (size_t)r;
			}
			char ch = c->in[c->off++];
			c->len--;
			if (ch == '\n')
				break;
			if (n + 1 < sizeof(line))
				line[n++] = ch;
		}
		if (n > 0 && line[n - 1] == '\r')
			n--;
		line[n] = '\0';
		if (n < 3 || line[0] < '2' || line[0] > '5' ||
		    (line[3] != ' ' && line[3] != '-' && line[3] != '\0'))
			return -1;
		if (line[3] != '-') {
			mk_strlcpy(c->text, line, sizeof(c->text));
			return (line[0] - '0') * 100 + (line[1] - '0') * 10 +
			    (line[2] - '0');
		}
	}
}

static int
lmtp_write(struct lmtp_conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sends a command; its reply code, or -1. */
static int __attribute__((format(printf, 2, 3)))
lmtp_cmd(struct lmtp_conn *c, const char *fmt, ...)
{
	char line[DX_REPLY_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return -1;
	memcpy(line + n, "\r\n", 2);
	if (lmtp_write(c, line, (size_t)n + 2) == -1)
		return -1;
	return lmtp_reply(c);
}

/* The exit status for a reply that is not a success. */
static int
reply_status(const struct lmtp_conn *c, int code)
{
	const char *enh = strlen(c->text) > 4 ? c->text + 4 : "";

	errmsg("%s", code < 0 ? "the LMTP server closed the connection" :
	    c->text);
	if (code < 500)
		return DX_TEMPFAIL;
	if (strncmp(enh, "5.1.1", 5) == 0 || strncmp(enh, "5.1.2", 5) == 0)
		return DX_NOUSER;
	if (strncmp(enh, "5.3.4", 5) == 0)
		return DX_DATAERR;	/* larger than max_message */
	if (strncmp(enh, "5.2.", 4) == 0)
		return DX_CANTCREAT;	/* the mailbox can never take it */
	return DX_NOPERM;
}

/* Sends standard input as DATA: dot-stuffed, every line end CRLF.  Its
 * size, or -1 if writing failed. */
static int64_t
send_stdin(struct lmtp_conn *c, const char *first, size_t nfirst)
{
	char in[65536], out[2 * sizeof(in) + 8];
	bool bol = true, cr = false;
	int64_t total = 0;
	const char *p = first;
	ssize_t r = (ssize_t)nfirst;

	for (;;) {
		size_t o = 0;
		for (ssize_t i = 0; i < r; i++) {
			char ch = p[i];
			if (bol && ch == '.')
				out[o++] = '.';
			if (ch == '\n' && !cr)
				out[o++] = '\r';
			out[o++] = ch;
			cr = ch == '\r';
			bol = ch == '\n';
		}
		total += r;
		if (lmtp_write(c, out, o) == -1)
			return -1;
		do
			r = read(STDIN_FILENO, in, sizeof(in));
		while (r == -1 && errno == EINTR);
		if (r <= 0)
			break;
		p = in;
	}
	if (!bol && lmtp_write(c, "\r\n", 2) == -1)
		return -1;
	if (lmtp_write(c, ".\r\n", 3) == -1)
		return -1;
	return total;
}

static int
cmd_deliver(struct ctx *x)
{
	bool bad = false;
	const char *from = take_opt(x, "--from", &bad);
	char path[PATH_MAX], err[512], first[4096];
	struct sockaddr_un sun;
	struct lmtp_conn *c;
	struct timeval tv = { .tv_sec = 600 };
	ssize_t nfirst;
	int code, rc = DX_TEMPFAIL;

	if (bad || has_stray_option(x) || x->argc != 1)
		return usage_of(find_command("deliver"));
	if (from == NULL)
		from = getenv("SENDER");	/* set by Postfix's local(8) */
	if (from == NULL || strpbrk(from, "<>\r\n ") != NULL)
		from = "";
	if (strpbrk(x->argv[0], "<>@\r\n \"") != NULL || x->argv[0][0] == '\0') {
		errmsg("%s: no such user", x->argv[0]);
		return DX_NOUSER;
	}
	config_defaults(&x->cfg);
	if (config_load(&x->cfg, x->conf, err, sizeof(err)) == -1) {
		errmsg("%s", err);
		return DX_CONFIG;
	}
	if (config_lmtp_socket(&x->cfg, path, sizeof(path)) == -1 ||
	    strlen(path) >= sizeof(sun.sun_path)) {
		errmsg("no LMTP socket configured (lmtp_socket in %s)", x->conf);
		return DX_CONFIG;
	}
	do
		nfirst = read(STDIN_FILENO, first, sizeof(first));
	while (nfirst == -1 && errno == EINTR);
	if (nfirst <= 0) {
		errmsg("empty message");
		return DX_DATAERR;
	}
	c = xcalloc(1, sizeof(*c));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	mk_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		errmsg("%s: %s (is mailkeepd running?)", path, strerror(errno));
		goto out;
	}
	(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if ((code = lmtp_reply(c)) != 220 ||
	    (code = lmtp_cmd(c, "LHLO %s", x->cfg.hostname)) != 250 ||
	    (code = lmtp_cmd(c, "MAIL FROM:<%s>", from)) != 250 ||
	    (code = lmtp_cmd(c, "RCPT TO:<%s>", x->argv[0])) != 250 ||
	    (code = lmtp_cmd(c, "DATA")) != 354) {
		rc = reply_status(c, code);
		goto out;
	}
	code = send_stdin(c, first, (size_t)nfirst) < 0 ? -1 : lmtp_reply(c);
	if (code != 250) {
		rc = reply_status(c, code);
		goto out;
	}
	(void)lmtp_cmd(c, "QUIT");
	printf("delivered to %s/INBOX\n", x->argv[0]);
	rc = EX_OK_;
out:
	if (c->fd != -1)
		close(c->fd);
	free(c);
	return rc;
}

/* ---- access control lists ---- */

struct acl_print {
	const char *mailbox;	/* NULL: every mailbox */
	struct store *s;
	int n;
};

static int
print_acl_entry(const char *identifier, const char *rights, void *arg)
{
	struct acl_print *p = arg;

	printf("%-32s %-24s %s\n", p->mailbox, identifier, rights);
	p->n++;
	return 0;
}

static int
print_mbox_acl(const struct mbox *m, void *arg)
{
	struct acl_print *p = arg;
	const char *want = p->mailbox;
	int rc;

	if (want != NULL && strcmp(want, m->name) != 0)
		return 0;
	p->mailbox = m->name;
	rc = store_acl_foreach(p->s, m->id, print_acl_entry, p);
	p->mailbox = want;
	return rc;
}

static bool
rights_ok(const char *r)
{
	return strspn(r, "lrswipkxtecda") == strlen(r) && strlen(r) <= 13;
}

/* Stored rights never hold the virtual c and d (RFC 4314 2.1.1). */
static void
expand_rights(const char *in, char *out, size_t len)
{
	static const char order[] = "lrswipkxtea";
	bool want[sizeof(order)] = { false };
	size_t n = 0;

	for (const char *p = in; *p; p++) {
		const char *hit = strchr(order, *p);
		if (hit)
			want[hit - order] = true;
		else if (*p == 'c')
			want[6] = want[7] = true;	/* k x */
		else if (*p == 'd')
			want[8] = want[9] = true;	/* t e */
	}
	for (size_t i = 0; order[i] && n + 1 < len; i++)
		if (want[i])
			out[n++] = order[i];
	out[n] = '\0';
}

/* In a worker as the user: list, or set one entry in the store. */
static int
acl_work(struct ctx *x, const struct work_req *j)
{
	struct acl_print p = { 0 };
	struct store *s;
	struct mbox m;
	int rc = user_store_open(x, j->name, false, &s);

	if (rc != 0)
		return rc < 0 ? EX_FAIL : W_NOSTORE;
	if (j->ident[0] == '\0') {
		p.s = s;
		p.mailbox = j->has_mailbox ? j->mailbox : NULL;
		printf("%-32s %-24s %s\n", "MAILBOX", "IDENTIFIER", "RIGHTS");
		rc = store_mbox_foreach(s, print_mbox_acl, &p);
		store_close(s);
		if (p.n == 0)
			printf("(%s shares nothing%s%s)\n", j->name,
			    p.mailbox ? " in " : "", p.mailbox ? p.mailbox : "");
		return rc == 0 ? EX_OK_ : EX_FAIL;
	}
	if (store_mbox_find(s, j->mailbox, &m) != 0) {
		errmsg("%s has no mailbox %s", j->name, j->mailbox);
		store_close(s);
		return EX_FAIL;
	}
	rc = store_acl_set(s, m.id, j->ident, j->rights);
	store_close(s);
	if (rc != 0) {
		errmsg("setting the ACL failed");
		return EX_FAIL;
	}
	return EX_OK_;
}

static int
cmd_acl(struct ctx *x)
{
	char name[MK_USER_MAX], ident[MK_USER_MAX], mbox[MK_MBOX_NAME_MAX];
	char rights[16];
	struct dir_user u, g;
	struct work_req j;
	int rc;

	if (has_stray_option(x) || (x->argc != 1 && x->argc != 2 &&
	    x->argc != 4))
		return usage_of(find_command("acl"));
	if (!user_name(x->argv[0], name))
		return EX_BADINPUT;
	if ((rc = get_user(x, name, &u)) != 0)
		return rc;
	work_init(x, &j, WORK_ACL, &u);
	if (x->argc < 4) {
		if (x->argc == 2 && store_mbox_canon(x->argv[1], j.mailbox,
		    sizeof(j.mailbox)) == 0)
			j.has_mailbox = true;
		rc = as_user(x, &j);
		return rc < 0 ? EX_FAIL : rc == W_NOSTORE ? EX_OK_ : rc;
	}
	/* acl NAME MAILBOX IDENTIFIER RIGHTS|none: the arguments are
	 * checked here, the store is changed by the worker. */
	if (store_mbox_canon(x->argv[1], mbox, sizeof(mbox)) != 0) {
		errmsg("%s has no mailbox %s", name, x->argv[1]);
		return EX_FAIL;
	}
	if (strcmp(x->argv[2], "anyone") == 0)
		mk_strlcpy(ident, "anyone", sizeof(ident));
	else if (!user_name(x->argv[2], ident) || strcmp(ident, name) == 0 ||
	    get_user(x, ident, &g) != 0) {
		errmsg("identifier: 'anyone' or another existing user");
		return EX_BADINPUT;
	}
	if (strcmp(x->argv[3], "none") == 0)
		rights[0] = '\0';
	else if (!rights_ok(x->argv[3])) {
		errmsg("rights: letters of lrswipkxtecda, or 'none'");
		return EX_BADINPUT;
	} else
		expand_rights(x->argv[3], rights, sizeof(rights));
	j.has_mailbox = true;
	mk_strlcpy(j.mailbox, mbox, sizeof(j.mailbox));
	mk_strlcpy(j.ident, ident, sizeof(j.ident));
	mk_strlcpy(j.rights, rights, sizeof(j.rights));
	rc = as_user(x, &j);
	if (rc == W_NOSTORE)
		return EX_OK_;
	if (rc != EX_OK_)
		return rc < 0 ? EX_FAIL : rc;
	/* The index the master consults follows the ACL. */
	if (dir_share_set(x->dir, u.id, mbox, ident, rights) != 0) {
		errmsg("setting the ACL failed");
		return EX_FAIL;
	}
	live_shares_changed(x);
	printf("%s: %s now has \"%s\" on %s\n", name, ident, rights, mbox);
	return EX_OK_;
}

/* ---- import ---- */

/*
 * import reads another server's mail (doc/migration.md): a reader
 * process reads the source as the source's owner (a local tree) or
 * fetches it (an IMAP account), and the worker, as the user's uid,
 * writes the store (daemon/ctl/import*.c).
 */

static uint64_t
effective(int64_t v, uint64_t dflt)
{
	return v < 0 ? dflt : (uint64_t)v;
}

static int
import_work(struct ctx *x, const struct work_req *q, int chan, pid_t reader)
{
	struct import_opts o = {
		.user = q->name, .source = q->source,
		.quota_kib = effective(q->quota_storage, x->cfg.quota_storage),
		.quota_msgs = effective(q->quota_messages,
		    x->cfg.quota_messages),
		.max_message = x->cfg.max_message,
	};
	struct store *s;
	int rc;

	if (chan == -1 && (chan = import_imap_reader_start(q->source,
	    q->tls_ca, x->cfg.max_message, &reader)) == -1)
		return EX_FAIL;
	if (user_store_open(x, q->name, true, &s) != 0)
		rc = EX_FAIL;
	else {
		rc = import_run(&o, s, chan);
		store_close(s);
	}
	close(chan);
	while (waitpid(reader, NULL, 0) == -1 && errno == EINTR)
		;
	return rc;
}

/* One spelling per source, since the import state is keyed by it:
 * a path without "//", "/./" or a trailing '/', a URL as
 * scheme://user@host:port with the host in lower case. */
static void
canon_source(char *s)
{
	char *p, *at, *end;

	if (import_source_is_url(s)) {
		at = strrchr(s, '@');
		p = strchr(s, ':') + 3;
		if (at == NULL || at < p)
			return;	/* the reader says what is wrong */
		for (end = at + 1; *end != '\0' && *end != '/'; end++)
			*end = (char)tolower((unsigned char)*end);
		*end = '\0';
		if (strchr(at, ':') == NULL && strchr(at, ']') == NULL &&
		    strlen(s) + 5 < PATH_MAX)
			strcat(s, s[4] == 's' ? ":993" : ":143");
		return;
	}
	for (p = s; *p != '\0';) {
		if (p[0] == '/' && p[1] == '/')
			memmove(p, p + 1, strlen(p));
		else if (p[0] == '/' && p[1] == '.' && (p[2] == '/' ||
		    p[2] == '\0'))
			memmove(p, p + 2, strlen(p + 1));
		else
			p++;
	}
	while (strlen(s) > 1 && s[strlen(s) - 1] == '/')
		s[strlen(s) - 1] = '\0';
}

static int
cmd_import(struct ctx *x)
{
	bool bad = false;
	const char *ca = take_opt(x, "--tls-ca", &bad);
	char name[MK_USER_MAX], err[PATH_MAX + 128], cwd[PATH_MAX];
	struct dir_user u;
	struct work_req q;
	int rc, fd;

	if (bad || has_stray_option(x) || x->argc != 2)
		return usage_of(find_command("import"));
	if (!user_name(x->argv[0], name))
		return EX_BADINPUT;
	if ((rc = get_user(x, name, &u)) != 0)
		return rc;
	work_init(x, &q, WORK_IMPORT, &u);
	if (import_source_is_url(x->argv[1]) || x->argv[1][0] == '/')
		rc = snprintf(q.source, sizeof(q.source), "%s", x->argv[1]);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		rc = snprintf(q.source, sizeof(q.source), "%s/%s", cwd,
		    x->argv[1]);
	else
		rc = -1;
	if (rc < 0 || (size_t)rc >= sizeof(q.source) || (ca != NULL &&
	    mk_strlcpy(q.tls_ca, ca, sizeof(q.tls_ca)) >= sizeof(q.tls_ca))) {
		errmsg("path too long");
		return EX_USAGE_;
	}
	canon_source(q.source);
	/* users/<name> as the server prepares it at a first login. */
	if (users_fd(x) == -1 || (fd = userdir_open(x->usersfd, name, true,
	    geteuid() == 0, q.uid, q.uid, err, sizeof(err))) == -1) {
		errmsg("users/%s: %s", name, err);
		return EX_FAIL;
	}
	close(fd);
	rc = as_user(x, &q);
	return rc < 0 ? EX_FAIL : rc;
}

/* ---- audit ---- */

struct audit_rows {
	struct dir_audit *a;
	size_t            n, cap;
	const char       *user;
};

static int
collect_audit(const struct dir_audit *a, void *arg)
{
	struct audit_rows *r = arg;

	if (r->user != NULL && strcmp(a->admin, r->user) != 0 &&
	    strcmp(a->target, r->user) != 0)
		return 0;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->a = xreallocarray(r->a, r->cap, sizeof(*r->a));
	}
	r->a[r->n] = *a;
	r->a[r->n].admin = xstrdup(a->admin);
	r->a[r->n].target = xstrdup(a->target);
	r->a[r->n].client = xstrdup(a->client);
	r->a[r->n].method = xstrdup(a->method);
	r->n++;
	return 0;
}

static int
by_start(const void *a, const void *b)
{
	const struct dir_audit *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void
fmt_time(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0) {
		snprintf(out, len, "(active)");
		return;
	}
	localtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static int
cmd_audit(struct ctx *x)
{
	bool bad = false;
	const char *user = take_opt(x, "--user", &bad);
	const char *limit_s = take_opt(x, "--limit", &bad);
	struct audit_rows r = { 0 };
	char name[MK_USER_MAX];
	uint64_t limit = 50;

	if (bad || has_stray_option(x) || x->argc != 0 ||
	    (limit_s && !parse_u64(limit_s, 1000000, &limit)))
		return usage_of(find_command("audit"));
	if (user != NULL) {
		if (!user_name(user, name))
			return EX_BADINPUT;
		r.user = name;
	}
	if (dir_audit_foreach(x->dir, collect_audit, &r) != 0) {
		errmsg("directory: %s", dir_errmsg(x->dir));
		return EX_FAIL;
	}
	if (r.n > 0)
		qsort(r.a, r.n, sizeof(*r.a), by_start);
	printf("%-19s  %-19s  %-16s %-16s %-9s %-15s %s\n", "START", "END",
	    "ADMIN", "ACTING AS", "METHOD", "CLIENT", "SESSION");
	/* The most recent rows, oldest first. */
	for (size_t i = r.n > limit ? r.n - limit : 0; i < r.n; i++) {
		char s[32], e[32];
		fmt_time(r.a[i].start, s, sizeof(s));
		fmt_time(r.a[i].end, e, sizeof(e));
		printf("%-19s  %-19s  %-16s %-16s %-9s %-15s %016llx\n", s, e,
		    r.a[i].admin, r.a[i].target, r.a[i].method, r.a[i].client,
		    (unsigned long long)r.a[i].session);
	}
	for (size_t i = 0; i < r.n; i++) {
		free((char *)(uintptr_t)r.a[i].admin);
		free((char *)(uintptr_t)r.a[i].target);
		free((char *)(uintptr_t)r.a[i].client);
		free((char *)(uintptr_t)r.a[i].method);
	}
	free(r.a);
	return EX_OK_;
}

/* ---- dispatch ---- */

static int cmd_help(struct ctx *x);

static const struct command commands[] = {
	{ "init", "DIR [--listen ADDR:PORT] [--listen-tls ADDR:PORT] "
	    "[--hostname NAME] [--data-dir PATH] [--tls-cert PEM --tls-key PEM]",
	  "create an instance in DIR: DIR/mailkeep.conf, the data directory\n"
	  "(DIR/data unless --data-dir) with an empty directory database, and\n"
	  "the login chroot DIR/empty.  Listens on 127.0.0.1:1143 by default\n"
	  "(127.0.0.1:143 as root).  With a certificate and its key (checked\n"
	  "here) it offers STARTTLS, and --listen-tls needs them.  As root it\n"
	  "also creates the system accounts of login_user and hash_user if\n"
	  "they are missing.", cmd_init, false },
	{ "useradd", "NAME [--admin] [--password-stdin] [--backend NAME]",
	  "add a user; the password is prompted for, or read from stdin.\n"
	  "--backend: the cluster backend that holds the user (doc/cluster.md).",
	  cmd_useradd, true },
	{ "userdel", "NAME [--keep-mail]",
	  "delete a user and, unless --keep-mail, their mail.", cmd_userdel, true,
	  true },
	{ "users", "", "list the users: admin flag, quotas, password hash state.",
	  cmd_users, true },
	{ "directory", "", "say which user directory is in use: sqlite\n"
	  "(directory.db) or ldap (doc/ldap.md), with the LDAP settings.",
	  cmd_directory, true },
	{ "passwd", "NAME [--password-stdin]", "set a user's password.",
	  cmd_passwd, true },
	{ "admin", "NAME on|off",
	  "make a user an administrator (may act as other users via PROXYAUTH,\n"
	  "a SASL authorization identity or LOGIN target*admin), or not.",
	  cmd_admin, true },
	{ "backend", "NAME [BACKEND]",
	  "show which cluster backend holds a user's store, or set it (a\n"
	  "declared backend, or this server's backend_name).  Setting it moves\n"
	  "no mail: logins elsewhere are then referred there (doc/cluster.md).",
	  cmd_backend, true },
	{ "quota", "NAME [--storage SIZE] [--messages N]",
	  "show a user's quota limits and usage, or set them: a number\n"
	  "(storage in KiB, or with M/G), 'unlimited', or 'default' (the\n"
	  "configured default).  A running server applies new limits on\n"
	  "SIGHUP (or at the user's next login).", cmd_quota, true, true },
	{ "deliver", "NAME [--from SENDER]",
	  "deliver the message on standard input to a user's INBOX through the\n"
	  "server's LMTP socket (a local delivery agent for the MTA; the\n"
	  "envelope sender is --from, else $SENDER).  Exit status follows\n"
	  "sysexits: 0 delivered, 65 empty or too large, 67 no such user,\n"
	  "73 larger than the user's quota, 75 try again (mailbox full, server\n"
	  "down), 77 other refusals, 78 no LMTP socket configured.",
	  cmd_deliver, false },
	{ "quota-check", "[NAME]",
	  "recount the quota usage of one user (or all) and report any drift "
	  "from the kept counters, correcting them.", cmd_quota_check, true,
	  true },
	{ "fts-rebuild", "NAME|--all",
	  "build a user's full-text index anew (or every user's), in batches\n"
	  "while the server runs; SEARCH stays exact meanwhile.  A progress bar\n"
	  "on a terminal, a line per tenth otherwise.", cmd_fts_rebuild, true,
	  true },
	{ "compress", "NAME|--all",
	  "rewrite a user's bodies stored before compression (or while it was\n"
	  "off) into compressed chunks now (or every user's), in batches while\n"
	  "the server runs, as the user's process does while it idles; sizes\n"
	  "and quota stay the same.  A progress bar on a terminal, a line per\n"
	  "tenth otherwise.", cmd_compress, true, true },
	{ "acl", "NAME [MAILBOX [IDENTIFIER RIGHTS|none]]",
	  "list the access control lists of a user's mailboxes, or set one "
	  "entry (IDENTIFIER: another user or 'anyone'; RIGHTS: letters of "
	  "lrswipkxtecda, RFC 4314).", cmd_acl, true, true },
	{ "import", "NAME SOURCE [--tls-ca PEM]",
	  "import mail into a user's store from another server: SOURCE is a\n"
	  "Maildir++ directory (Dovecot, Courier), an mbox file (into INBOX)\n"
	  "or a directory of mbox files, or imap://USER@HOST[:PORT] or\n"
	  "imaps://... with the password on standard input (the server's\n"
	  "certificate is checked against the system's authorities, or the\n"
	  "PEM file --tls-ca).  Folders, flags, keywords, internal dates and\n"
	  "subscriptions come along; UIDVALIDITY and UIDs too where the folder\n"
	  "here never held mail.  Run it again to continue after an\n"
	  "interruption: nothing is imported twice.  Exit status 7: some\n"
	  "messages did not fit the quota (or max_message) and are listed.\n"
	  "See doc/migration.md.", cmd_import, true, true },
	{ "audit", "[--user NAME] [--limit N]",
	  "show the impersonation audit trail (most recent N rows, default 50),\n"
	  "optionally only the rows where NAME is the admin or the target.",
	  cmd_audit, true },
	{ "backup", "NAME|--all DEST",
	  "copy a user's store (or every user's) while the server runs, with\n"
	  "the user's directory row (password hash, admin flag, quotas,\n"
	  "shares), into DEST/NAME.sqlite and DEST/NAME.manifest (0600).",
	  cmd_backup, true, true },
	{ "restore", "NAME MANIFEST [--force]",
	  "restore a backup (DEST/OLD.manifest and its .sqlite) as user NAME:\n"
	  "a new user, or with --force over an existing user and store (a\n"
	  "running mailbox process of the user is ended).",
	  cmd_restore, true, true },
	{ "move", "NAME BACKEND",
	  "move a user to another backend of the cluster: the store is copied\n"
	  "consistently over the link between backends (the user is frozen\n"
	  "meanwhile: logins NO [UNAVAILABLE], LMTP 451 4.3.0), restored there\n"
	  "as the user's uid, and the directory points at BACKEND.  Safe to run\n"
	  "again after any failure.  See doc/move.md.", cmd_move, true, true },
	{ "who", "",
	  "list the running daemon's sessions: user, who authenticated and\n"
	  "how (login, proxyauth, authzid, separator), client address, TLS,\n"
	  "idle time, since when, and the selected mailbox.", cmd_who, false },
	{ "kick", "NAME",
	  "end every session of a user (and every session the user opened as\n"
	  "someone else) with a BYE, e.g. after a password change.",
	  cmd_kick, false },
	{ "reload", "",
	  "have the running daemon re-read its configuration (as SIGHUP).",
	  cmd_reload, false },
	{ "stats", "",
	  "show the running daemon's counters: connections, logins and\n"
	  "failures (in all and in the last minute), the hash queue, and the\n"
	  "sessions and store size of each running mailbox process.",
	  cmd_stats, false },
	{ "help", "[COMMAND]", "show this help, or one command's.", cmd_help,
	  false },
};

const struct command *
find_command(const char *name)
{
	for (size_t i = 0; i < nitems(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void
print_usage(FILE *f)
{
	char list[4096];
	size_t off = 0;

	for (size_t i = 0; i < nitems(commands) && off < sizeof(list); i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off,
		    "  %-8s %s\n", commands[i].name, commands[i].args);
	fprintf(f, usage_text, list);
}

static int
cmd_help(struct ctx *x)
{
	const struct command *c;

	if (x->argc == 0) {
		print_usage(stdout);
		return EX_OK_;
	}
	if ((c = find_command(x->argv[0])) == NULL) {
		errmsg("unknown command '%s'", x->argv[0]);
		return EX_USAGE_;
	}
	printf("usage: mailkeepctl [-c config] %s %s\n\n%s\n", c->name, c->args,
	    c->help);
	if (strcmp(c->name, "useradd") == 0 || strcmp(c->name, "passwd") == 0)
		printf("\nexample (scripted):\n  printf '%%s\\n' \"$PW\" | "
		    "mailkeepctl -c /srv/mailkeep/mailkeep.conf %s alice\n",
		    c->name);
	return EX_OK_;
}

static int
open_instance(struct ctx *x, bool workers)
{
	char err[512], path[PATH_MAX];
	struct stat st;

	config_defaults(&x->cfg);
	if (config_load(&x->cfg, x->conf, err, sizeof(err)) == -1) {
		bool missing = stat(x->conf, &st) == -1 && errno == ENOENT;
		errmsg("%s", err);
		if (missing)
			fprintf(stderr, "no instance there: create one with "
			    "'mailkeepctl init DIR', then use -c DIR/mailkeep.conf "
			    "or set MAILKEEP_CONF\n");
		return missing ? EX_NOINSTANCE : EX_FAIL;
	}
	if (config_path(&x->cfg, path, sizeof(path), "directory.db") == -1 ||
	    stat(path, &st) == -1) {
		errmsg("no directory database at %s (data_dir of %s): is this an "
		    "instance made by 'mailkeepctl init'?", path, x->conf);
		return EX_NOINSTANCE;
	}
	/* Before directory.db is opened: the workers' memory never holds a
	 * password hash. */
	if (workers && start_spawner(x) == -1)
		return EX_FAIL;
	if (dir_open(path, false, &x->dir, err, sizeof(err)) != 0) {
		errmsg("%s: %s%s", path, err, access(path, R_OK | W_OK) == -1 ?
		    " (run mailkeepctl as the instance's owner, or root)" : "");
		return EX_FAIL;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct ctx x = { .usersfd = -1, .udir = -1, .spawner = -1,
	    .wsock = -1, .xfd = -1 };
	const struct command *c;
	const char *env = getenv("MAILKEEP_CONF");
	int ch, rc;

	log_init("mailkeepctl", true, 0);
	log_set_role("mailkeepctl");
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		print_usage(stdout);
		return EX_OK_;
	}
	/* '+': stop at the command, its options are its own. */
	while ((ch = getopt(argc, argv, "+c:h")) != -1) {
		switch (ch) {
		case 'c':
			x.conf = optarg;
			break;
		case 'h':
			print_usage(stdout);
			return EX_OK_;
		default:
			print_usage(stderr);
			return EX_USAGE_;
		}
	}
	if (optind >= argc) {
		print_usage(stderr);
		return EX_USAGE_;
	}
	if ((c = find_command(argv[optind])) == NULL) {
		errmsg("unknown command '%s' (see mailkeepctl --help)", argv[optind]);
		return EX_USAGE_;
	}
	if (x.conf == NULL)
		x.conf = env != NULL && *env != '\0' ? env : DEFAULT_CONF;
	x.argc = argc - optind - 1;
	x.argv = argv + optind + 1;
	if (take_flag(&x, "--help") || take_flag(&x, "-h")) {
		x.argc = 1;
		x.argv[0] = (char *)(uintptr_t)c->name;
		return cmd_help(&x);
	}
	if (c->needs_instance && (rc = open_instance(&x, c->workers)) != 0) {
		stop_spawner(&x);
		return rc;
	}
	rc = c->fn(&x);
	if (x.dir != NULL)
		dir_close(x.dir);
	if (x.usersfd != -1)
		close(x.usersfd);
	stop_spawner(&x);
	return rc;
}
