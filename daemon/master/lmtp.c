/*
 * lmtp.c - the master's side of LMTP delivery (doc/lmtp.md).
 *
 * The master opens the LMTP unix socket (lmtp_socket, by default
 * data_dir/lmtp) and, if configured, a TCP port (lmtp_listen), accepts
 * on them and has the spawner fork an LMTP session process per
 * connection, dropped and chrooted like a login process (daemon/lmtp/lmtp.c speaks the
 * protocol; the master reads no byte the client sends).  Over limit
 * (lmtp_max_connections) the master answers a fixed 421 itself.
 *
 * The only thing an LMTP process may ask is IPC_LMTP_RCPT: "who is
 * local@domain?".  The master checks the domain against lmtp_domains,
 * looks the local part up in the directory, and for a user opens a
 * delivery channel: a SEQPACKET socketpair whose one end becomes a
 * session (method IPC_IMP_DELIVERY) of that user's mailbox process,
 * forked if need be, and whose other end goes back to the LMTP process.
 * The number of channels one LMTP process holds open is bounded; any
 * other message, or a malformed one, kills the process.
 */
#include "daemon/master/master.h"
#include "daemon/lmtp/lmtp.h"
#include "common/log.h"
#include "common/util.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct lmtp_child {
	pid_t              pid;
	struct ipc_chan   *chan;	/* NULL once closed */
	unsigned           open;	/* delivery sessions not yet ended */
	bool               relayed;	/* its client is another backend */
	struct lmtp_child *next;
};

struct lmtp_listener {
	int          fd;
	bool         is_unix;
	struct ev_io io;
};

static struct lmtp_listener lls[2];
static int nlls;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct lmtp_child *lchildren;
static unsigned nlmtp;	/* LMTP processes alive */

/* ---- the listeners ---- */

/* The socket's directory must be one only root can change: the master
 * unlinks and binds there as root. */
static void
check_socket_dir(const char *path)
{
	char dir[PATH_MAX];
	struct stat st;

	mk_strlcpy(dir, path, sizeof(dir));
	mk_strlcpy(dir, dirname(dir), sizeof(dir));
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		fatal("mkdir %s", dir);
	if (lstat(dir, &st) == -1)
		fatal("%s", dir);
	if (!S_ISDIR(st.st_mode))
		fatalx("lmtp_socket: %s is not a directory", dir);
	if (geteuid() == 0 && (st.st_uid != 0 || (st.st_mode & 022) != 0))
		fatalx("lmtp_socket: %s must be owned by root and writable by "
		    "root alone (it is uid %u, mode %04o)", dir,
		    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
}

static int
open_unix(const struct mk_config *cfg, const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("lmtp_socket %s: longer than %zu bytes", path,
		    sizeof(sun.sun_path) - 1);
	mk_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	check_socket_dir(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		fatal("socket");
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			fatalx("lmtp_socket %s exists and is not a socket", path);
		/* A socket somebody still accepts on is another server's. */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe != -1 && connect(probe, (struct sockaddr *)&sun,
		    sizeof(sun)) == 0)
			fatalx("lmtp_socket %s: another server is listening "
			    "there", path);
		if (probe != -1)
			close(probe);
		if (unlink(path) == -1)
			fatal("unlink %s", path);
	}
	/* Created with no permission at all, then opened up: nobody can
	 * connect before the mode and group are what the config says. */
	old = umask(0777);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		fatal("bind %s", path);
	}
	umask(old);
	if (cfg->lmtp_socket_group[0] != '\0') {
		struct group *g = getgrnam(cfg->lmtp_socket_group);
		if (g == NULL)
			fatalx("lmtp_socket_group '%s' does not exist",
			    cfg->lmtp_socket_group);
		if (chown(path, (uid_t)-1, g->gr_gid) == -1)
			fatal("chown %s", path);
	}
	if (chmod(path, (mode_t)cfg->lmtp_socket_mode) == -1)
		fatal("chmod %s", path);
	if (listen(fd, 128) == -1)
		fatal("listen %s", path);
	mk_strlcpy(sock_path, path, sizeof(sock_path));
	return fd;
}

void
lmtp_open(const struct mk_config *cfg)
{
	char path[PATH_MAX];

	if (config_lmtp_socket(cfg, path, sizeof(path)) == 0) {
		lls[nlls].fd = open_unix(cfg, path);
		lls[nlls++].is_unix = true;
	}
	if (cfg->lmtp_listen.port != 0) {
		const struct mk_listen *l = &cfg->lmtp_listen;
		int fd = net_listen((const struct sockaddr *)&l->ss, l->sslen);
		if (fd == -1)
			fatal("LMTP: listen on %s port %u", l->addr, l->port);
		lls[nlls].fd = fd;
		lls[nlls++].is_unix = false;
	}
}

static void lmtp_accept(struct ev_io *io, uint32_t revents);

void
lmtp_start(void)
{
	const struct mk_listen *l = &master.cfg.lmtp_listen;

	for (int i = 0; i < nlls; i++) {
		ev_io_init(&lls[i].io, lls[i].fd, lmtp_accept, &lls[i]);
		if (ev_io_start(master.loop, &lls[i].io, EPOLLIN) == -1)
			fatal("epoll add LMTP listener");
		if (lls[i].is_unix)
			log_info("LMTP on %s (mode %04o)", sock_path,
			    master.cfg.lmtp_socket_mode);
		else if (net_is_loopback((const struct sockaddr *)&l->ss))
			log_info("LMTP on %s port %u", l->addr, l->port);
		else
			log_warnx("LMTP on %s port %u: LMTP has no "
			    "authentication, anyone who reaches this address "
			    "can deliver mail to every user", l->addr, l->port);
	}
}

void
lmtp_stop(void)
{
	for (int i = 0; i < nlls; i++) {
		ev_io_stop(master.loop, &lls[i].io);
		close(lls[i].fd);
	}
	nlls = 0;
	if (sock_path[0] != '\0' && unlink(sock_path) == -1 && errno != ENOENT)
		log_warn("unlink %s", sock_path);
	sock_path[0] = '\0';
	for (struct lmtp_child *lc = lchildren; lc; lc = lc->next)
		if (lc->chan != NULL) {
			ev_defer(master.loop, ipc_chan_free_cb, lc->chan);
			lc->chan = NULL;
		}
}

/* ---- the processes ---- */

static void lmtp_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg);

struct lmtp_child *
lmtp_attach(pid_t pid, int chan_fd)
{
	struct lmtp_child *lc = xcalloc(1, sizeof(*lc));

	lc->pid = pid;
	lc->chan = ipc_chan_new(master.loop, chan_fd, lmtp_msg, lc);
	lc->next = lchildren;
	lchildren = lc;
	nlmtp++;
	child_add(pid, CHILD_LMTP, lc);
	return lc;
}

/* The spawner forks it (dropped and chrooted like a login process);
 * it takes fd. */
static void
lmtp_spawn(int fd, const char *peer)
{
	int chan;
	pid_t pid = spawn_lmtp(fd, peer, &chan);

	if (pid != -1)
		lmtp_attach(pid, chan);
}

static void
lmtp_accept(struct ev_io *io, uint32_t revents)
{
	static const char busy[] = "421 4.3.2 Too many connections, try "
	    "again later\r\n";
	struct lmtp_listener *L = io->arg;

	(void)revents;
	for (int i = 0; i < 16 && !master.stopping; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char peer[64];
		int fd = accept4(L->fd, (struct sockaddr *)&ss, &len,
		    SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("LMTP accept");
			return;
		}
		if (nlmtp >= master.cfg.lmtp_max_connections) {
			log_warnx("refusing LMTP connection: "
			    "lmtp_max_connections reached");
			(void)!send(fd, busy, sizeof(busy) - 1,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		if (L->is_unix)
			mk_strlcpy(peer, "local", sizeof(peer));
		else
			net_addr_str((struct sockaddr *)&ss, peer, sizeof(peer));
		lmtp_spawn(fd, peer);
	}
}

static struct lmtp_child *
lmtp_find(pid_t pid)
{
	for (struct lmtp_child *lc = lchildren; lc; lc = lc->next)
		if (lc->pid == pid)
			return lc;
	return NULL;
}

/* A delivery session granted to process pid has ended. */
static void
channel_ended(void *arg)
{
	struct lmtp_child *lc = lmtp_find((pid_t)(intptr_t)arg);

	if (lc != NULL && lc->open > 0)
		lc->open--;
}

static void
lmtp_close(struct lmtp_child *lc)
{
	if (lc->chan == NULL)
		return;
	ev_defer(master.loop, ipc_chan_free_cb, lc->chan);
	lc->chan = NULL;
}

void
lmtp_exited(void *obj, int status)
{
	struct lmtp_child *lc = obj;

	(void)status;	/* children.c logged it */
	lmtp_close(lc);
	for (struct lmtp_child **pp = &lchildren; *pp; pp = &(*pp)->next)
		if (*pp == lc) {
			*pp = lc->next;
			break;
		}
	nlmtp--;
	/* Deferred: an event of the current batch may still name it. */
	ev_defer(master.loop, free, lc);
}

static void
lmtp_violation(struct lmtp_child *lc, const char *why)
{
	child_kill(lc->pid, "LMTP process", why);
	lmtp_close(lc);
}

static void
rcpt_answer(struct lmtp_child *lc, uint64_t id, enum ipc_req_result res,
    const char *user, int fd)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LMTP_RCPT_RESULT);
	ipc_put_u64(&m, id);
	ipc_put_u8(&m, (uint8_t)res);
	ipc_put_str(&m, user);
	if (fd != -1)
		ipc_put_fd(&m, fd);
	ipc_chan_send(lc->chan, &m);
}

static void rcpt_deliver(struct lmtp_child *lc, uint64_t id,
    struct dir_user *u);
static void rcpt_ldap(struct lmtp_child *lc, uint64_t id, const char *local);

/* A socket to the LMTP port of backend b, its connect under way (the
 * LMTP process's first read waits for it); made blocking for the LMTP
 * process, which may not change a descriptor's flags. */
static int
backend_connect(const struct cfg_backend *b)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (net_parse_addr(b->ip, b->lmtp_port, &ss, &len) == -1 ||
	    (fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if ((connect(fd, (struct sockaddr *)&ss, len) == -1 &&
	    errno != EINPROGRESS) || fcntl(fd, F_SETFL, 0) == -1) {
		log_warn("LMTP relay to %s (%s port %u)", b->name, b->ip,
		    b->lmtp_port);
		close(fd);
		return -1;
	}
	return fd;
}

/* A recipient held by another backend (doc/move.md): the LMTP process
 * relays it there, unless it is itself serving a relay (one hop). */
static void
rcpt_elsewhere(struct lmtp_child *lc, uint64_t id, const struct dir_user *u)
{
	const struct cfg_backend *b = config_backend(&master.cfg, u->backend);
	int fd;

	if (lc->relayed || b == NULL || b->lmtp_port == 0 ||
	    (fd = backend_connect(b)) == -1) {
		log_warnx("LMTP recipient %s is held by %s: %s", u->name,
		    u->backend, lc->relayed ? "not relayed again (a relay "
		    "delivers here)" : "that backend has no LMTP port here");
		rcpt_answer(lc, id, IPC_REQ_FAILED, "", -1);
		return;
	}
	rcpt_answer(lc, id, IPC_REQ_RELAY, u->name, fd);
}

static void
on_rcpt(struct lmtp_child *lc, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	const char *local = ipc_get_str(r);
	const char *domain = ipc_get_str(r);
	struct dir_user u;
	int rc;

	if (!ipc_end(r) || r->fd != -1 || *local == '\0' ||
	    strlen(local) > LMTP_MAX_LOCAL || strlen(domain) > LMTP_MAX_PATH) {
		lmtp_violation(lc, "malformed LMTP_RCPT");
		return;
	}
	/* A transaction holds at most lmtp_max_recipients; the ones of the
	 * previous transaction may not have been counted out yet. */
	if (lc->open >= 2 * master.cfg.lmtp_max_recipients) {
		log_warnx("LMTP process %d holds %u delivery channels: refused",
		    (int)lc->pid, lc->open);
		rcpt_answer(lc, id, IPC_REQ_FAILED, "", -1);
		return;
	}
	/* A bare local part ("postmaster", mailkeepctl deliver) is ours. */
	if (*domain != '\0' && !config_lmtp_domain_ok(&master.cfg, domain)) {
		rcpt_answer(lc, id, IPC_REQ_DENIED, "", -1);
		return;
	}
	if (ldapdir_enabled()) {
		rcpt_ldap(lc, id, local);
		return;
	}
	/* dir_user_get() folds case, as login names do. */
	if ((rc = dir_user_get(master.dir, local, &u)) != 0) {
		if (rc != MK_NOTFOUND)
			log_warnx("LMTP recipient lookup: %s",
			    dir_errmsg(master.dir));
		rcpt_answer(lc, id, rc == MK_NOTFOUND ? IPC_REQ_NOTFOUND :
		    IPC_REQ_FAILED, "", -1);
		return;
	}
	rcpt_deliver(lc, id, &u);
}

/* A delivery channel to u's mailbox process, answered to lc; for a user
 * another backend holds, a relay there instead. */
static void
rcpt_deliver(struct lmtp_child *lc, uint64_t id, struct dir_user *u)
{
	struct peer none;
	int sp[2];

	dir_user_forget_hash(u);
	if (!config_backend_local(&master.cfg, u->backend)) {
		rcpt_elsewhere(lc, id, u);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		rcpt_answer(lc, id, IPC_REQ_FAILED, "", -1);
		return;
	}
	/* A delivery channel holds no client connection slot. */
	memset(&none, 0, sizeof(none));
	mk_strlcpy(none.addr, "lmtp", sizeof(none.addr));
	struct session_start s = {
		.user = u, .authcid = "lmtp", .authc_admin = false,
		.method = IPC_IMP_DELIVERY, .okverb = "", .tag = "",
		.peer = &none, .fd = sp[0],
		.on_end = channel_ended, .end_arg = (void *)(intptr_t)lc->pid,
	};
	if (session_start(&s) != 0) {
		close(sp[1]);
		rcpt_answer(lc, id, IPC_REQ_FAILED, "", -1);
		return;
	}
	lc->open++;
	rcpt_answer(lc, id, IPC_REQ_OK, u->name, sp[1]);
}

/* ---- directory = ldap: the recipient is an LDAP entry ---- */

struct rcpt_wait {
	pid_t    pid;		/* the LMTP process (it may go meanwhile) */
	uint64_t id;
	char     name[MK_USER_MAX];
};

/* The entry is known: its local row is made if it has none (mail may
 * come before the first login), then the delivery channel.  LDAP
 * down: FAILED, which the LMTP process answers 451 (try again). */
static void
rcpt_ldap_done(struct lmtp_child *lc, uint64_t id, const char *name,
    int result, const struct ldap_entry *e)
{
	struct dir_user u;

	if (result != IPC_LDAP_OK) {
		rcpt_answer(lc, id, result == IPC_LDAP_UNAVAILABLE ?
		    IPC_REQ_FAILED : IPC_REQ_NOTFOUND, "", -1);
		return;
	}
	int rc = ldapusers_row(name, e, true, &u);
	dir_user_forget_hash(&u);
	if (rc != 1) {
		rcpt_answer(lc, id, IPC_REQ_FAILED, "", -1);
		return;
	}
	rcpt_deliver(lc, id, &u);
}

static void
rcpt_ldap_cb(void *arg, int result, const struct ldap_entry *e)
{
	struct rcpt_wait *w = arg;
	struct lmtp_child *lc = lmtp_find(w->pid);

	if (lc != NULL && lc->chan != NULL)
		rcpt_ldap_done(lc, w->id, w->name, result, e);
	free(w);
}

static void
rcpt_ldap(struct lmtp_child *lc, uint64_t id, const char *local)
{
	struct ldap_entry e;
	struct rcpt_wait *w;
	const char *why;
	char name[MK_USER_MAX];

	if (!dir_name_canon(local, name, sizeof(name), &why)) {
		rcpt_answer(lc, id, IPC_REQ_NOTFOUND, "", -1);
		return;
	}
	if (ldapdir_cached(name, &e)) {
		rcpt_ldap_done(lc, id, name, IPC_LDAP_OK, &e);
		explicit_bzero(&e, sizeof(e));
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->pid = lc->pid;
	w->id = id;
	mk_strlcpy(w->name, name, sizeof(w->name));
	if (ldapdir_lookup(name, rcpt_ldap_cb, w) == 0) {
		free(w);
		rcpt_answer(lc, id, IPC_REQ_FAILED, "", -1);
	}
}

static void
lmtp_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg)
{
	struct lmtp_child *lc = arg;

	(void)c;
	if (lc->chan == NULL)
		return;
	if (r == NULL) {
		lmtp_close(lc);
		return;
	}
	if (r->type == IPC_LMTP_RELAYED && !r->bad && ipc_end(r) &&
	    r->fd == -1) {
		lc->relayed = true;
		return;
	}
	if (r->bad || r->type != IPC_LMTP_RCPT) {
		char why[96];
		snprintf(why, sizeof(why), "%s not allowed here",
		    r->bad ? "a malformed message" : ipc_type_name(r->type));
		lmtp_violation(lc, why);
		return;
	}
	on_rcpt(lc, r);
}
