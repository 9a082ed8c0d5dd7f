/*
 * master.c - mailkeepd's main(): the supervising master process.
 *
 *   mailkeepd [-c config] [-f] [-v]
 *
 * Reads and validates the configuration, prepares the file system (as
 * root: the unprivileged accounts must exist, the login chroot is made
 * empty and root-owned, data_dir is made traversable but not listable),
 * opens the directory database and the listeners, then runs the event
 * loop: accept() with the connection limits, a login process per
 * connection (children.c), SIGHUP reloads, SIGTERM/SIGINT stop cleanly.
 * Before it reads any secret (directory.db) it forks the spawner
 * (spawn.c, spawner.c), which forks every child from then on, so no
 * child inherits the master's memory.  The TLS key is read by neither:
 * the spawner forks a key holder (keyholder.c) that opens tls_cert and
 * tls_key as root, at start-up and on every SIGHUP; login processes
 * forked afterwards get the chain and a channel to that key holder, and
 * connections already open keep the one they had.
 * The master reads no byte a client sends: past accept() it only reads
 * typed IPC messages from its children.
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONF  "/etc/mailkeep/mailkeep.conf"
#define SWEEP_MS      (60 * 1000)
#define STOP_GRACE_MS 5000
#define ACCEPT_PAUSE_MS 1000

struct listener {
	int             fd;
	struct ev_io    io;
	struct mk_listen l;
	/* A burst (accept_cb): the first accept while its queue never
	 * emptied, 0 for none; connections refused in that episode. */
	uint64_t        backlog_since;
	unsigned long   shed;
};

static struct listener listeners[MK_MAX_LISTEN + 1];	/* + auth_http */
static int nlisteners;
static int cmdline_verbose;
static struct ev_timer sweep_timer, stop_timer, accept_pause;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mailkeepd [-c config] [-f] [-v]\n"
	    "  -c config  configuration file (default: $MAILKEEP_CONF, else "
	    DEFAULT_CONF ")\n"
	    "  -f         stay in the foreground and log to stderr\n"
	    "  -v         more verbose logging (repeatable)\n");
	exit(2);
}

/* ---- start-up checks ---- */

/* NULL if cfg can run, else why not. */
static const char *
config_problem(const struct mk_config *cfg, char *buf, size_t len)
{
	bool cert = cfg->tls_cert[0] != '\0', key = cfg->tls_key[0] != '\0';

	if (cfg->nlisten == 0)
		return "no listen address (add e.g. 'listen = 127.0.0.1:143')";
	if (cert != key)
		return "tls_cert and tls_key go together: set both or neither";
	if (cfg->lmtp_socket[0] != '\0' && cfg->lmtp_socket[0] != '/' &&
	    !str_ieq(cfg->lmtp_socket, "none"))
		return "lmtp_socket must be an absolute path, or none";
	for (int i = 0; i < cfg->nlisten; i++)
		if (cfg->listen[i].tls && !cert) {
			snprintf(buf, len, "%s %s:%u needs a certificate: "
			    "set tls_cert and tls_key",
			    cfg->listen[i].proto == MK_PROTO_POP3 ?
			    "listen_pop3s" : "listen_tls", cfg->listen[i].addr,
			    cfg->listen[i].port);
			return buf;
		}
	return NULL;
}

static bool
has_tls_listener(const struct mk_config *cfg)
{
	for (int i = 0; i < cfg->nlisten; i++)
		if (cfg->listen[i].tls)
			return true;
	return false;
}

/* Starts a key holder for the configured certificate and key, which
 * replaces the running one (none configured: *out is NULL, and the
 * running one is retired). */
static int
load_tls(const struct mk_config *cfg, struct tls_creds **out, char *err,
    size_t len)
{
	*out = NULL;
	if (cfg->tls_cert[0] == '\0') {
		keyholder_stop();
		return spawner_tls(NULL, 0, err, len);
	}
	return keyholder_start(cfg, out, err, len);
}

static void
log_tls(const struct mk_config *cfg, const struct tls_creds *t)
{
	char when[32] = "unknown";
	struct tm tm;

	if (t == NULL) {
		log_info("no TLS certificate configured: STARTTLS is not offered");
		return;
	}
	if (t->expires != (time_t)-1 && gmtime_r(&t->expires, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	if (t->expires != (time_t)-1 && t->expires < time(NULL))
		log_warnx("TLS certificate %s expired on %s", cfg->tls_cert, when);
	else
		log_info("TLS certificate %s loaded (valid until %s)",
		    cfg->tls_cert, when);
}

static void
check_account(const char *key, const char *user)
{
	uid_t uid;
	gid_t gid;

	if (priv_lookup(user, &uid, &gid) == -1)
		fatalx("%s '%s' does not exist: create it with 'useradd --system "
		    "--no-create-home --shell /usr/sbin/nologin %s' (mailkeepctl "
		    "init does this), or name another account in the config",
		    key, user, user);
	if (uid == 0)
		fatalx("%s '%s' is root: it must be an unprivileged account",
		    key, user);
}

/* A root-owned directory with exactly this mode, created if missing. */
static void
root_dir(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == -1 && errno != EEXIST)
		fatal("mkdir %s", path);
	if (lstat(path, &st) == -1)
		fatal("%s", path);
	if (!S_ISDIR(st.st_mode))
		fatalx("%s is not a directory", path);
	if (st.st_uid != 0 && chown(path, 0, 0) == -1)
		fatal("chown %s", path);
	if ((st.st_mode & 07777) != mode && chmod(path, mode) == -1)
		fatal("chmod %s", path);
}

static void
check_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL)
		fatal("%s", path);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			fatalx("login_chroot %s must be empty, but holds '%s'",
			    path, de->d_name);
	closedir(d);
}

/* Mailbox processes run as per-user uids and open data_dir/users/<name>
 * by path, so every directory above data_dir must be searchable by all. */
static void
check_traversable(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;

	mk_strlcpy(path, dir, sizeof(path));
	for (char *slash = path; slash != NULL; slash = strchr(slash + 1, '/')) {
		char saved = slash[1];
		slash[1] = '\0';
		if (stat(path, &st) == -1)
			fatal("%s", path);
		if (!(st.st_mode & S_IXOTH))
			fatalx("%s (mode %04o) is not searchable by other users, "
			    "so mailbox processes (uid %u and up) cannot reach "
			    "%s: chmod o+x it, or put data_dir elsewhere",
			    path, (unsigned)(st.st_mode & 07777),
			    (unsigned)master.cfg.mail_uid_base, dir);
		slash[1] = saved;
	}
}

static void
prepare_root(const struct mk_config *cfg)
{
	char users[PATH_MAX];

	check_account("login_user", cfg->login_user);
	check_account("hash_user", cfg->hash_user);
	root_dir(cfg->login_chroot, 0755);
	check_empty(cfg->login_chroot);
	root_dir(cfg->data_dir, 0711);
	if (config_path(cfg, users, sizeof(users), "users") == -1)
		fatalx("data_dir is too long");
	root_dir(users, 0711);
	check_traversable(users);
}

static void
prepare_dev(const struct mk_config *cfg)
{
	char users[PATH_MAX];

	log_info("development mode: running as uid %u, no privilege "
	    "separation by uid, no chroot", (unsigned)getuid());
	if (config_path(cfg, users, sizeof(users), "users") == -1)
		fatalx("data_dir is too long");
	if (mkdir(cfg->data_dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", cfg->data_dir);
	if (mkdir(users, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", users);
}

static struct directory *
open_directory(const struct mk_config *cfg)
{
	char path[PATH_MAX], err[256];
	struct directory *d;
	struct stat st;

	if (config_path(cfg, path, sizeof(path), "directory.db") == -1)
		fatalx("data_dir is too long");
	if (stat(path, &st) == -1)
		fatal("%s (create the instance with 'mailkeepctl init')", path);
	if (dir_open(path, false, &d, err, sizeof(err)) != 0)
		fatalx("%s: %s", path, err);
	/* Hashes live there: nobody but its owner may read it. */
	if ((st.st_mode & 077) != 0) {
		log_warnx("%s was readable by others (mode %04o): fixing", path,
		    (unsigned)(st.st_mode & 07777));
		if (chmod(path, 0600) == -1)
			fatal("chmod %s", path);
	}
	return d;
}

/* Every user's mailbox process runs as mail_uid_base + id: a uid that
 * a system account holds would hand that account's files to the user
 * (and the user's to it).  Checked at start; mailkeepctl useradd checks
 * each new user.  Reserved names (made before useradd refused them) are
 * reported. */
static int
user_check_one(const struct dir_user *u, void *arg)
{
	const struct mk_config *cfg = arg;
	char owner[64];
	uint32_t uid;

	/* Made before useradd refused these names: an ACL entry for
	 * "anyone" is every user's, so this user's account is ambiguous. */
	if (dir_name_reserved(u->name))
		log_warnx("user %s has a reserved name (an ACL identifier): "
		    "rights granted to it are granted to every user; move its "
		    "mail to a user of another name", u->name);
	/* Without root nothing runs under those uids. */
	if (!priv_is_root())
		return 0;
	switch (config_mail_uid(cfg, u->id, &uid, owner, sizeof(owner))) {
	case 0:
		return 0;
	case 1:
		fatalx("user %s would run as uid %u (mail_uid_base %u + id %u), "
		    "which belongs to the system account %s: choose a "
		    "mail_uid_base whose range no account uses", u->name, uid,
		    cfg->mail_uid_base, u->id, owner);
	default:
		fatalx("user %s: mail_uid_base %u + id %u leaves the uid space",
		    u->name, cfg->mail_uid_base, u->id);
	}
}

static void
check_users(struct directory *d, const struct mk_config *cfg)
{
	if (dir_user_foreach(d, user_check_one, (void *)(uintptr_t)cfg) != 0)
		fatalx("reading the users: %s", dir_errmsg(d));
}

/* ---- listening ---- */

static void accept_cb(struct ev_io *io, uint32_t revents);

static void
open_listeners(const struct mk_config *cfg)
{
	for (int i = 0; i < cfg->nlisten; i++) {
		const struct mk_listen *l = &cfg->listen[i];
		int fd = net_listen((const struct sockaddr *)&l->ss, l->sslen);
		if (fd == -1)
			fatal("listen on %s port %u", l->addr, l->port);
		listeners[i].fd = fd;
		listeners[i].l = *l;
		nlisteners++;
	}
	/* nginx's auth_http: served by a login process per request, like
	 * any client connection (frontdoor.c, auth/login_http.c). */
	if (cfg->auth_http_listen.port != 0) {
		const struct mk_listen *l = &cfg->auth_http_listen;
		int fd = net_listen((const struct sockaddr *)&l->ss, l->sslen);
		if (fd == -1)
			fatal("auth_http_listen on %s port %u", l->addr, l->port);
		listeners[nlisteners].fd = fd;
		listeners[nlisteners].l = *l;
		listeners[nlisteners].l.proto = MK_PROTO_AUTHHTTP;
		nlisteners++;
	}
}

static void
start_listeners(void)
{
	for (int i = 0; i < nlisteners; i++) {
		ev_io_init(&listeners[i].io, listeners[i].fd, accept_cb,
		    &listeners[i]);
		listeners[i].backlog_since = 0;
		listeners[i].shed = 0;
		if (ev_io_start(master.loop, &listeners[i].io, EPOLLIN) == -1)
			fatal("epoll add listener");
		log_info("listening on %s port %u (%s%s)", listeners[i].l.addr,
		    listeners[i].l.port,
		    listeners[i].l.proto == MK_PROTO_POP3 ? "POP3" :
		    listeners[i].l.proto == MK_PROTO_AUTHHTTP ? "nginx auth_http" :
		    "IMAP",
		    listeners[i].l.tls ? ", implicit TLS" : "");
	}
}

static void
close_listeners(void)
{
	for (int i = 0; i < nlisteners; i++) {
		ev_io_stop(master.loop, &listeners[i].io);
		close(listeners[i].fd);
	}
	nlisteners = 0;
}

static void
accept_resume(struct ev_timer *t)
{
	(void)t;
	for (int i = 0; i < nlisteners && !master.stopping; i++)
		ev_io_start(master.loop, &listeners[i].io, EPOLLIN);
}

/* Out of descriptors: stop accepting for a moment rather than spin. */
static void
accept_backoff(void)
{
	log_warn("accept");
	for (int i = 0; i < nlisteners; i++)
		ev_io_stop(master.loop, &listeners[i].io);
	ev_timer_start(master.loop, &accept_pause, ACCEPT_PAUSE_MS);
}

/* Over a limit: answered by the master itself, without a login process. */
static void
turn_away(int fd, const struct peer *p, const char *which)
{
	log_warnx("refusing connection from %s: %s", p->addr, which);
	peer_refuse(fd, p->proto, "Too many connections");
}

static void
accept_one(struct listener *L, int fd, struct peer *p)
{
	p->locallen = sizeof(p->local);
	if (getsockname(fd, (struct sockaddr *)&p->local, &p->locallen) == -1) {
		log_warn("getsockname");
		close(fd);
		return;
	}
	net_addr_str((struct sockaddr *)&p->remote, p->addr, sizeof(p->addr));
	p->loopback = net_is_loopback((struct sockaddr *)&p->remote);
	p->implicit_tls = L->l.tls;
	p->tls = L->l.tls;
	p->proto = L->l.proto;
	/* Only the master's own look at the peer makes it a trusted proxy
	 * (frontdoor.c); its PROXY header then names the client. */
	p->proxy = p->proto != MK_PROTO_AUTHHTTP &&
	    config_proxy_trusted(&master.cfg, (struct sockaddr *)&p->remote);
	char key[MK_ADDRSTRLEN];
	addr_key((struct sockaddr *)&p->remote, key, sizeof(key));
	struct addr_rec *rec = addr_get(key);
	if (master.nconn >= master.cfg.max_connections) {
		turn_away(fd, p, "max_connections reached");
		return;
	}
	if (rec->conns >= master.cfg.max_connections_per_ip) {
		turn_away(fd, p, "max_connections_per_ip reached");
		return;
	}
	rec->conns++;
	master.nconn++;
	stats_connection();
	p->rec = rec;
	net_keepalive(fd);
	login_spawn(fd, p);
}

/*
 * A burst larger than the login processes can be started for: each
 * spawn is a fork the master waits for (a few ms; far more under a
 * sanitizer or on a loaded machine), and the connections behind it wait
 * in the kernel's listen queue, where nothing answers them.  While the
 * queue has not once been found empty for a whole login_timeout, the
 * connection taken from it has waited up to that long: past the time
 * login_timeout gives a connection from connect to a successful login.
 * So it is refused at once (BYE, without a process) and so are the
 * others queued with it, the queue empties, and the next connections
 * are served again: a burst is shed visibly instead of piling up
 * unanswered, and the processes that did start get the machine.
 */
#define SHED_BATCH 4096	/* refusals per turn of the loop, at most */

static bool
backlog_too_old(struct listener *L)
{
	uint64_t now = now_ms();

	if (L->backlog_since == 0)
		L->backlog_since = now;
	return now - L->backlog_since >
	    (uint64_t)master.cfg.login_timeout * 1000;
}

/* The listen queue is empty: an episode of shedding ends. */
static void
backlog_empty(struct listener *L)
{
	if (L->shed > 0)
		log_warnx("overloaded: refused %lu connections at once (the "
		    "listen queue stayed full for over the login_timeout: "
		    "login processes could not be started in time)", L->shed);
	L->backlog_since = 0;
	L->shed = 0;
}

static void
shed(int fd, struct listener *L)
{
	if (L->shed++ == 0)
		log_warnx("overloaded: refusing connections at once until the "
		    "listen queue empties");
	peer_refuse(fd, L->l.proto, "Too many connections");
}

static void
accept_cb(struct ev_io *io, uint32_t revents)
{
	struct listener *L = io->arg;
	struct pollfd pfd = { .fd = L->fd, .events = POLLIN };

	(void)revents;
	/* A bounded batch, so one busy listener cannot starve the rest;
	 * refusals cost no fork, so many more of them fit in one. */
	for (int i = 0, refused = 0; i < 64 && refused < SHED_BATCH &&
	    !master.stopping; i++) {
		struct peer p;
		memset(&p, 0, sizeof(p));
		p.remotelen = sizeof(p.remote);
		int fd = accept4(L->fd, (struct sockaddr *)&p.remote,
		    &p.remotelen, SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				accept_backoff();
			else if (errno == EINTR || errno == ECONNABORTED)
				continue;
			else if (errno != EAGAIN)
				log_warn("accept");
			else
				backlog_empty(L);
			return;
		}
		if (backlog_too_old(L)) {
			shed(fd, L);
			i--;
			refused++;
			continue;
		}
		accept_one(L, fd, &p);
	}
	/* The batch ended with connections taken: is any left? */
	if (poll(&pfd, 1, 0) == 0)
		backlog_empty(L);
}

static void
sweep_cb(struct ev_timer *t)
{
	addr_sweep();
	acct_sweep();
	authcache_sweep();
	ldapdir_sweep();
	ev_timer_start(master.loop, t, SWEEP_MS);
}

/* ---- signals ---- */

static void
stop_timeout(struct ev_timer *t)
{
	(void)t;
	log_warnx("%zu children still running after %d ms: killing them",
	    children_count(), STOP_GRACE_MS);
	children_terminate(SIGKILL);
}

static void
on_stop(int signo, void *arg)
{
	(void)arg;
	if (master.stopping)
		return;
	log_info("stopping (signal %d)", signo);
	master.stopping = true;
	close_listeners();
	ev_timer_stop(master.loop, &accept_pause);
	ev_timer_stop(master.loop, &sweep_timer);
	shares_watch_stop();
	hashpool_stop();
	ldapdir_stop();
	lmtp_stop();
	control_stop();
	keyholder_stop();
	cluster_stop();
	relaypool_stop();
	sessions_stop();
	children_terminate(SIGTERM);
	ev_timer_start(master.loop, &stop_timer, STOP_GRACE_MS);
	if (children_count() == 0)
		ev_loop_break(master.loop);
}

/* What a reload may change, and how to show the change. */
enum fkind { F_UINT, F_SIZE, F_U64, F_BOOL, F_STR, F_INT };

static const struct field {
	const char *name;
	enum fkind  kind;
	size_t      off;
	bool        restart;	/* needs a restart to take effect */
} fields[] = {
#define F(n, k, r) { #n, k, offsetof(struct mk_config, n), r }
	F(hostname, F_STR, false), F(data_dir, F_STR, true),
	F(login_chroot, F_STR, true), F(login_user, F_STR, true),
	F(hash_user, F_STR, true), F(mail_uid_base, F_UINT, true),
	F(hash_workers, F_UINT, false), F(hash_priority, F_UINT, true),
	F(max_line, F_SIZE, false),
	F(max_preauth_line, F_SIZE, false), F(max_literal, F_SIZE, false),
	F(max_message, F_SIZE, false), F(max_connections, F_UINT, false),
	F(max_connections_per_ip, F_UINT, false),
	F(max_auth_attempts, F_UINT, false), F(auth_fail_window, F_UINT, false),
	F(auth_fail_limit, F_UINT, false), F(auth_delay_max_ms, F_UINT, false),
	F(login_timeout, F_UINT, false), F(autologout, F_UINT, false),
	F(idle_keepalive, F_UINT, false), F(mailbox_linger, F_UINT, false),
	F(expunged_keep, F_UINT, false),
	F(tls_cert, F_STR, false), F(tls_key, F_STR, false),
	F(tls_priority, F_STR, false), F(plaintext_auth, F_INT, false),
	F(tls_relays, F_UINT, false), F(tls_relay_max_conns, F_UINT, false),
	F(impersonation_separator, F_STR, false),
	F(impersonation_no_seen, F_BOOL, false),
	F(quota_storage, F_U64, false), F(quota_messages, F_U64, false),
	F(folder_drafts, F_STR, false), F(folder_sent, F_STR, false),
	F(folder_trash, F_STR, false), F(folder_junk, F_STR, false),
	F(fsync, F_INT, false), F(verbose, F_INT, false),
	F(fts, F_BOOL, false), F(fts_at_append, F_BOOL, false),
	F(compress_bodies, F_BOOL, false), F(compress_level, F_UINT, false),
	F(compress_min_size, F_SIZE, false),
	/* Records already keyed by the old prefix fade out with their
	 * connections and windows. */
	F(auth_throttle_ipv4_prefix, F_UINT, false),
	F(auth_throttle_ipv6_prefix, F_UINT, false),
	F(auth_max_pending_per_addr, F_UINT, false),
	F(auth_max_pending, F_UINT, false),
	F(auth_account_fail_limit, F_UINT, false),
	F(auth_account_fail_window, F_UINT, false),
	F(auth_account_delay_max_ms, F_UINT, false),
	F(auth_cache_ttl, F_UINT, false), F(auth_cache_size, F_UINT, false),
	F(acl_max_entries_per_mailbox, F_UINT, false),
	F(acl_max_shares_per_user, F_UINT, false),
	F(lmtp_socket, F_STR, true), F(lmtp_socket_group, F_STR, true),
	F(lmtp_socket_mode, F_UINT, true), F(lmtp_domains, F_STR, false),
	F(lmtp_max_recipients, F_UINT, false),
	F(lmtp_max_connections, F_UINT, false), F(lmtp_timeout, F_UINT, false),
	F(directory, F_INT, true), F(ldap_uri, F_STR, false),
	F(ldap_starttls, F_BOOL, false), F(ldap_ca_file, F_STR, false),
	F(ldap_bind_dn, F_STR, false), F(ldap_base, F_STR, false),
	F(ldap_user_filter, F_STR, false), F(ldap_auth, F_INT, false),
	F(ldap_admin_group, F_STR, false), F(ldap_cache_ttl, F_UINT, false),
	F(ldap_timeout, F_UINT, false),
#undef F
};

static void
field_str(const struct mk_config *c, const struct field *f, char *out,
    size_t len)
{
	const char *p = (const char *)c + f->off;

	switch (f->kind) {
	case F_UINT: snprintf(out, len, "%u", *(const unsigned *)p); break;
	case F_INT:  snprintf(out, len, "%d", *(const int *)p); break;
	case F_SIZE: snprintf(out, len, "%zu", *(const size_t *)p); break;
	case F_U64:
		snprintf(out, len, "%llu", (unsigned long long)*(const uint64_t *)p);
		break;
	case F_BOOL: snprintf(out, len, "%s", *(const bool *)p ? "yes" : "no"); break;
	case F_STR:  snprintf(out, len, "\"%s\"", p); break;
	}
}

static bool
listen_changed(const struct mk_config *a, const struct mk_config *b)
{
	if (a->nlisten != b->nlisten)
		return true;
	for (int i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i].addr, b->listen[i].addr) != 0 ||
		    a->listen[i].port != b->listen[i].port ||
		    a->listen[i].tls != b->listen[i].tls ||
		    a->listen[i].proto != b->listen[i].proto)
			return true;
	return false;
}

/* Logs every difference; fields that need a restart keep their running
 * value in nc.  Returns the number of changes applied. */
static int
diff_config(const struct mk_config *old, struct mk_config *nc)
{
	int applied = 0;

	for (size_t i = 0; i < nitems(fields); i++) {
		const struct field *f = &fields[i];
		char a[PATH_MAX + 3], b[PATH_MAX + 3];
		field_str(old, f, a, sizeof(a));
		field_str(nc, f, b, sizeof(b));
		if (strcmp(a, b) == 0)
			continue;
		if (f->restart) {
			log_warnx("reload: %s changed to %s: takes effect after "
			    "a restart; still %s", f->name, b, a);
			continue;
		}
		log_info("reload: %s %s -> %s", f->name, a, b);
		applied++;
	}
	if (listen_changed(old, nc))
		log_warnx("reload: listen addresses changed: take effect after "
		    "a restart");
	if (old->lmtp_listen.port != nc->lmtp_listen.port ||
	    strcmp(old->lmtp_listen.addr, nc->lmtp_listen.addr) != 0)
		log_warnx("reload: lmtp_listen changed: takes effect after "
		    "a restart");
	if (old->metrics_listen.port != nc->metrics_listen.port ||
	    strcmp(old->metrics_listen.addr, nc->metrics_listen.addr) != 0)
		log_warnx("reload: metrics_listen changed: takes effect after "
		    "a restart");
	if (old->cluster_listen.port != nc->cluster_listen.port ||
	    strcmp(old->cluster_cert, nc->cluster_cert) != 0 ||
	    strcmp(old->cluster_key, nc->cluster_key) != 0 ||
	    strcmp(old->cluster_ca, nc->cluster_ca) != 0)
		log_warnx("reload: cluster_* changed: takes effect after a "
		    "restart");
	return applied;
}

static void
keep_restart_fields(const struct mk_config *old, struct mk_config *nc)
{
#define KEEP(f) memcpy(&nc->f, &old->f, sizeof(nc->f))
	KEEP(path); KEEP(data_dir); KEEP(login_chroot); KEEP(login_user);
	KEEP(hash_user); KEEP(mail_uid_base); KEEP(listen); KEEP(nlisten);
	KEEP(lmtp_socket); KEEP(lmtp_socket_group); KEEP(lmtp_socket_mode);
	KEEP(lmtp_listen);
	KEEP(metrics_listen);
	KEEP(directory);
	/* The link's listener, key holder and CA are set up at start. */
	KEEP(cluster_listen); KEEP(cluster_cert); KEEP(cluster_key);
	KEEP(cluster_ca);
#undef KEEP
}

/* Re-reads the configuration file (SIGHUP, mailkeepctl reload). */
int
master_reload(char *err, size_t errlen)
{
	struct mk_config nc;
	char why[256];
	const char *bad;

	config_defaults(&nc);
	if (config_load(&nc, master.cfg.path, err, errlen) == -1)
		goto failed;
	nc.verbose += cmdline_verbose;
	if ((bad = config_problem(&nc, why, sizeof(why))) == NULL &&
	    has_tls_listener(&master.cfg) && nc.tls_cert[0] == '\0')
		bad = "the listen_tls sockets open until a restart need tls_cert "
		    "and tls_key";
	if (bad != NULL) {
		mk_strlcpy(err, bad, errlen);
		goto failed;
	}
	/* The spawner forks every new child with this configuration: if it
	 * cannot take it, the master keeps the old one too. */
	struct mk_config sent = nc;
	keep_restart_fields(&master.cfg, &sent);
	/* The LDAP keys as they will run (directory itself needs a
	 * restart), and a bind password file that can still be used. */
	char pw[1024];
	int pwrc = config_check_ldap(&sent, err, errlen);
	if (pwrc == 0 && sent.directory == MK_DIR_LDAP)
		pwrc = config_ldap_password(&sent, pw, sizeof(pw), err, errlen);
	explicit_bzero(pw, sizeof(pw));
	if (pwrc == -1)
		goto failed;
	char serr[512];
	if (spawner_config(&sent, serr, sizeof(serr)) == -1) {
		snprintf(err, errlen, "spawner: %s", serr);
		goto failed;
	}
	/* Read again even if unchanged: a renewed certificate is the usual
	 * reason for a SIGHUP.  Only new connections get it: a new key
	 * holder replaces the running one, which ends once the handshakes
	 * it serves are done. */
	struct tls_creds *tls;
	if (load_tls(&sent, &tls, err, errlen) == -1) {
		/* The spawner goes back to it too. */
		if (spawner_config(&master.cfg, serr, sizeof(serr)) == -1)
			log_warnx("spawner: %s", serr);
		goto failed;
	}
	int applied = diff_config(&master.cfg, &nc);
	keep_restart_fields(&master.cfg, &nc);
	master.cfg = nc;
	tls_creds_free(master.tls);
	master.tls = tls;
	log_tls(&master.cfg, tls);
	/* The relays get the new chain and key holder (the old ones finish
	 * their connections). */
	relaypool_renew();
	log_set_verbose(nc.verbose);
	hashpool_resize(nc.hash_workers);
	(void)authcache_configure(nc.auth_cache_ttl, nc.auth_cache_size);
	/* The LDAP process starts again with the new keys and password;
	 * cached entries go (a SIGHUP is how an operator says "re-read"). */
	if (ldapdir_reload(err, errlen) == -1)
		log_warnx("reload: LDAP: %s", err);
	/* Quota defaults may have changed, and mailkeepctl may have set a
	 * user's limits: running mailbox processes get them now. */
	req_quota_push_all();
	/* mailkeepctl acl may have changed the share index: other
	 * backends get this backend's entries again. */
	cluster_share_resync_soon();
	log_info("configuration reloaded from %s: %d change%s applied",
	    nc.path, applied, applied == 1 ? "" : "s");
	return 0;
failed:
	log_warnx("reload failed, keeping the running configuration: %s", err);
	return -1;
}

static void
on_reload(int signo, void *arg)
{
	char err[512];

	(void)signo;
	(void)arg;
	(void)master_reload(err, sizeof(err));
}

/* ---- detaching from the terminal ---- */

/* daemon(3) would fork after the spawner is forked, leaving the spawner
 * the child of the exiting parent.  So the master detaches first: the
 * parent waits for a byte on a pipe (start-up succeeded) and exits 0, or
 * sees EOF (the child died on a start-up error, logged) and exits 1. */
static int detach_fd = -1;

static void
detach_start(void)
{
	int p[2];
	char c;

	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe");
	pid_t pid = fork();
	if (pid == -1)
		fatal("fork");
	if (pid > 0) {
		close(p[1]);
		ssize_t n;
		do
			n = read(p[0], &c, 1);
		while (n == -1 && errno == EINTR);
		if (n != 1)
			fprintf(stderr, "mailkeepd: start-up failed (see the "
			    "log)\n");
		_exit(n == 1 ? 0 : 1);
	}
	close(p[0]);
	detach_fd = p[1];
	if (setsid() == -1)
		fatal("setsid");
}

static void
detach_done(void)
{
	int null = open("/dev/null", O_RDWR);

	if (chdir("/") == -1)
		fatal("chdir /");
	if (null == -1)
		fatal("/dev/null");
	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	if (null > 2)
		close(null);
	if (write(detach_fd, "", 1) != 1)
		fatal("telling the parent we are ready");
	close(detach_fd);
	detach_fd = -1;
}

/* ---- main ---- */

/* mailkeepd -S FD: not for an operator; the master's fork runs us so
 * (spawn.c), the spawner on channel FD, a SOCK_SEQPACKET socket. */
__attribute__((noreturn))
static void
run_spawner(const char *arg, bool foreground)
{
	int type = 0;
	socklen_t len = sizeof(type);
	uint64_t fd;

	if (!parse_u64(arg, INT32_MAX, &fd) || fd < 3 ||
	    getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_SEQPACKET) {
		fprintf(stderr, "mailkeepd: -S is the master's own option\n");
		exit(2);
	}
	log_init("mailkeepd", foreground, cmdline_verbose);
	spawner_main((int)fd, foreground);
}

static const char *
config_file(const char *arg)
{
	const char *env = getenv("MAILKEEP_CONF");

	if (arg != NULL)
		return arg;
	return env != NULL && *env != '\0' ? env : DEFAULT_CONF;
}

static void
setup_loop(struct directory *dir, const struct mk_config *cfg)
{
	struct ev_loop *loop = ev_loop_new();

	signal(SIGPIPE, SIG_IGN);
	if (master_core_init(cfg, loop, dir) == -1)
		fatalx("start-up failed");
	if (ev_signal(loop, SIGTERM, on_stop, NULL) == -1 ||
	    ev_signal(loop, SIGINT, on_stop, NULL) == -1 ||
	    ev_signal(loop, SIGHUP, on_reload, NULL) == -1)
		fatal("signal handlers");
	ev_timer_init(&sweep_timer, sweep_cb, NULL);
	ev_timer_init(&stop_timer, stop_timeout, NULL);
	ev_timer_init(&accept_pause, accept_resume, NULL);
	ev_timer_start(loop, &sweep_timer, SWEEP_MS);
	shares_watch_start();
}

int
main(int argc, char **argv)
{
	struct mk_config cfg;
	const char *conf = NULL, *bad;
	char err[512];
	const char *spawner_fd = NULL;
	bool foreground = false;
	int ch;

	while ((ch = getopt(argc, argv, "c:fvhS:")) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'f': foreground = true; break;
		case 'v': cmdline_verbose++; break;
		case 'S': spawner_fd = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (spawner_fd != NULL)
		run_spawner(spawner_fd, foreground);
	conf = config_file(conf);
	config_defaults(&cfg);
	if (config_load(&cfg, conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "mailkeepd: %s\n", err);
		return 1;
	}
	cfg.verbose += cmdline_verbose;
	if ((bad = config_problem(&cfg, err, sizeof(err))) != NULL) {
		fprintf(stderr, "mailkeepd: %s: %s\n", conf, bad);
		return 1;
	}
	log_init("mailkeepd", foreground, cfg.verbose);
	log_set_role("master");
	if (!foreground)
		detach_start();
	master.cfg = cfg;	/* for the messages of the checks below */
	if (priv_is_root())
		prepare_root(&cfg);
	else
		prepare_dev(&cfg);
	/* Nothing secret has been read yet: the spawner (this program run
	 * anew, spawn.c), and every child it will fork, never sees what the
	 * master reads from here on. */
	spawner_start(foreground, "/proc/self/exe");
	if (spawner_config(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "mailkeepd: %s: spawner: %s\n", conf, err);
		spawner_stop();
		return 1;
	}
	struct directory *dir = open_directory(&cfg);
	check_users(dir, &cfg);
	open_listeners(&cfg);
	lmtp_open(&cfg);
	cluster_open(&cfg);
	control_open(&cfg);
	setup_loop(dir, &cfg);
	/* While errors still reach the terminal: the key holder reads the
	 * pair (the master never does). */
	if (load_tls(&master.cfg, &master.tls, err, sizeof(err)) == -1) {
		fprintf(stderr, "mailkeepd: %s: %s\n", conf, err);
		spawner_stop();
		return 1;
	}
	log_tls(&master.cfg, master.tls);
	if (cluster_start(err, sizeof(err)) == -1) {
		fprintf(stderr, "mailkeepd: %s: %s\n", conf, err);
		spawner_stop();
		return 1;
	}
	relaypool_renew();
	if (ldapdir_start(err, sizeof(err)) == -1) {
		fprintf(stderr, "mailkeepd: %s: %s\n", conf, err);
		spawner_stop();
		return 1;
	}
	cluster_share_resync_soon();
	if (!foreground)
		detach_done();
	hashpool_start(master.cfg.hash_workers);
	start_listeners();
	lmtp_start();
	control_start();
	log_info("mailkeepd %s ready (config %s)", MK_VERSION, master.cfg.path);
	if (ev_loop_run(master.loop) == -1)
		fatalx("event loop failed");
	dir_close(master.dir);
	tls_creds_free(master.tls);
	master.tls = NULL;
	addr_clear();
	acct_clear();
	authcache_clear();
	spawner_stop();
	ev_loop_free(master.loop);
	if (spawner_failed()) {
		log_warnx("stopped: the spawner was lost");
		return 1;
	}
	log_info("stopped");
	return 0;
}
