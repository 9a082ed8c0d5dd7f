/*
 * cluster.c (master) - the link between backends, this backend's side
 * as the target of a move (doc/move.md).
 *
 * The master opens cluster_listen as root and, at start, has the
 * spawner fork the cluster key holder (IPC_SPAWN_CLUSTER_KH: the key
 * holder of auth/keyholder.c, opening cluster_cert and cluster_key as
 * root before its drop; the master never reads the key).  Each
 * connection accepted there goes to a link process of its own
 * (daemon/cluster/linkd.c, IPC_SPAWN_LINK with its channel to the key
 * holder), which the master then sends the public chain, cluster_ca
 * and this backend's name (IPC_LINK_SETUP).  The master reads no byte
 * of the link: it gets typed requests from the link process.
 *
 * IPC_LINK_MOVE_IN (a user's store, as a sealed memfd, and directory
 * row): the user's row is added or updated - marked held by the peer
 * (users.backend = the peer), so that until the source commits,
 * nothing is delivered or logged in here - users/<name> is prepared as
 * for a mailbox process, and a restore worker, forked as the user's
 * uid (IPC_SPAWN_RESTORE), makes the copy the user's store.
 * IPC_LINK_COMMIT then marks the user held here (backend "").  A user
 * held here already, or being moved in by another peer, is refused;
 * one held by the same peer may be moved in again (a retried move).
 *
 * Shared folders across backends (cluster_share.c) use the same link
 * processes, accepted or dialed out (cluster_dial()).
 */
#include "daemon/master/cluster_int.h"
#include "daemon/cluster/cluster.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define READY_MS   10000
#define RESTART_MS 1000
#define PEM_MAX  (1024 * 1024)

static struct {
	int                lfd;
	struct ev_io       io;
	pid_t              kh_pid;
	struct ipc_chan   *kh_chan;
	struct ev_timer    restart;
	uint8_t           *chain, *ca;
	size_t             nchain, nca;
	unsigned           nlinks;	/* accepted, not streams */
} cl = { .lfd = -1 };

struct link_child *cluster_links;

void
cluster_open(const struct mk_config *cfg)
{
	const struct mk_listen *l = &cfg->cluster_listen;

	if (l->port == 0)
		return;
	if ((cl.lfd = net_listen((const struct sockaddr *)&l->ss,
	    l->sslen)) == -1)
		fatal("cluster: listen on %s port %u", l->addr, l->port);
}

/* ---- the cluster key holder ---- */

static void
kh_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg)
{
	(void)c;
	(void)arg;
	if (r != NULL)
		child_kill(cl.kh_pid, "cluster key holder",
		    "unexpected message");
}

/* Its IPC_KEY_READY: the public chain, kept for the link processes. */
static int
kh_ready(int fd, char *err, size_t errlen)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t *buf = xmalloc(IPC_MAX_MSG);
	struct ipc_reader r;
	int rc = -1;

	r.fd = -1;
	if (poll(&pfd, 1, READY_MS) != 1 || ipc_recv_now(fd, buf, &r) == -1) {
		snprintf(err, errlen, "the cluster key holder did not start");
		goto out;
	}
	uint8_t ok = ipc_get_u8(&r);
	const char *why = ipc_get_str(&r);
	size_t n;
	const uint8_t *chain = ipc_get_bytes(&r, &n);
	if (r.type != IPC_KEY_READY || !ipc_end(&r) || r.fd != -1)
		snprintf(err, errlen, "the cluster key holder sent %s",
		    ipc_type_name(r.type));
	else if (!ok)
		snprintf(err, errlen, "%s", why);
	else {
		cl.chain = xmalloc(n);
		memcpy(cl.chain, chain, n);
		cl.nchain = n;
		rc = 0;
	}
out:
	if (r.fd != -1)
		close(r.fd);
	free(buf);
	return rc;
}

static void cluster_accept(struct ev_io *io, uint32_t revents);

/* The cluster key holder, and the chain it read; 0 or -1 with err. */
static int
kh_start(char *err, size_t errlen)
{
	int chan, status;

	free(cl.chain);
	cl.chain = NULL;
	if ((cl.kh_pid = spawn_cluster_kh(&chan)) == -1) {
		snprintf(err, errlen, "could not start the cluster key holder");
		return -1;
	}
	if (kh_ready(chan, err, errlen) == -1) {
		close(chan);
		kill(cl.kh_pid, SIGKILL);
		while (waitpid(cl.kh_pid, &status, 0) == -1 && errno == EINTR)
			;
		cl.kh_pid = -1;
		return -1;
	}
	cl.kh_chan = ipc_chan_new(master.loop, chan, kh_msg, NULL);
	child_add(cl.kh_pid, CHILD_CLUSTER_KH, NULL);
	return 0;
}

/* A key holder that died is started again, as the TLS one is
 * (keyholder.c); until then new links are refused. */
static void
kh_restart(struct ev_timer *t)
{
	char err[512];

	(void)t;
	if (master.stopping || cl.lfd == -1 || cl.kh_chan != NULL)
		return;
	if (kh_start(err, sizeof(err)) == -1) {
		log_warnx("cluster key holder: %s; trying again", err);
		ev_timer_start(master.loop, &cl.restart, RESTART_MS);
	}
}

int
cluster_start(char *err, size_t errlen)
{
	if (cl.lfd == -1)
		return 0;
	if ((cl.ca = (uint8_t *)read_file(master.cfg.cluster_ca, PEM_MAX,
	    &cl.nca)) == NULL) {
		snprintf(err, errlen, "cluster_ca %s: %s", master.cfg.cluster_ca,
		    strerror(errno));
		return -1;
	}
	if (kh_start(err, errlen) == -1)
		return -1;
	ev_timer_init(&cl.restart, kh_restart, NULL);
	ev_io_init(&cl.io, cl.lfd, cluster_accept, NULL);
	if (ev_io_start(master.loop, &cl.io, EPOLLIN) == -1)
		fatal("epoll add cluster listener");
	log_info("cluster link on %s port %u", master.cfg.cluster_listen.addr,
	    master.cfg.cluster_listen.port);
	return 0;
}

void
cluster_stop(void)
{
	if (cl.lfd != -1) {
		ev_io_stop(master.loop, &cl.io);
		close(cl.lfd);
		cl.lfd = -1;
	}
	if (cl.kh_chan != NULL) {
		ev_defer(master.loop, ipc_chan_free_cb, cl.kh_chan);
		cl.kh_chan = NULL;
	}
	ev_timer_stop(master.loop, &cl.restart);
}

/* ---- link processes ---- */

static void link_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg);

static void
lchild_close(struct link_child *lk)
{
	if (lk->chan != NULL) {
		ev_defer(master.loop, ipc_chan_free_cb, lk->chan);
		lk->chan = NULL;
	}
	if (lk->rchan != NULL) {
		ev_defer(master.loop, ipc_chan_free_cb, lk->rchan);
		lk->rchan = NULL;
	}
}

void
cluster_link_violation(struct link_child *lk, const char *why)
{
	child_kill(lk->pid, "link process", why);
	lchild_close(lk);
}

/* Kept short of the key holder's channel limit: link processes let
 * theirs go once their handshake is done (linkd.c). */
static struct link_child *
link_new(int fd)
{
	struct ipc_msg m;
	int sp[2], chan;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		close(fd);
		return NULL;
	}
	ipc_msg_init(&m, IPC_KEY_CHANNEL);
	ipc_put_fd(&m, sp[0]);
	if (ipc_chan_send(cl.kh_chan, &m) == -1) {
		close(sp[1]);
		close(fd);
		return NULL;
	}
	if ((pid = spawn_link(fd, sp[1], &chan)) == -1)
		return NULL;
	struct link_child *lk = xcalloc(1, sizeof(*lk));
	lk->pid = pid;
	lk->sp = -1;
	lk->chan = ipc_chan_new(master.loop, chan, link_msg, lk);
	lk->next = cluster_links;
	cluster_links = lk;
	child_add(pid, CHILD_LINK, lk);
	return lk;
}

/* A link that may rest for hours (a guest stream in IDLE) still finds
 * out when the other machine is gone. */
static void
keepalive(int fd)
{
	int on = 1, idle = 60, intvl = 10, cnt = 3;

	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
	    sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static void
link_spawn(int fd)
{
	struct ipc_msg m;

	if (cl.kh_chan == NULL || cl.nlinks >= CLUSTER_MAX_LINKS) {
		log_warnx("cluster: refusing a link: %s", cl.kh_chan == NULL ?
		    "no key holder" : "too many links");
		close(fd);
		return;
	}
	keepalive(fd);
	struct link_child *lk = link_new(fd);
	if (lk == NULL)
		return;
	cl.nlinks++;
	ipc_msg_init(&m, IPC_LINK_SETUP);
	ipc_put_bytes(&m, cl.chain, cl.nchain);
	ipc_put_bytes(&m, cl.ca, cl.nca);
	ipc_put_str(&m, master.cfg.backend_name);
	ipc_chan_send(lk->chan, &m);
}

struct link_child *
cluster_dial(const struct cfg_backend *b)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (cl.kh_chan == NULL || b->cluster_port == 0) {
		log_warnx("cluster: cannot reach backend %s: %s", b->name,
		    cl.kh_chan == NULL ? "no cluster key holder (cluster_listen "
		    "unset?)" : "no cluster port in its backend line");
		return NULL;
	}
	/* Connected in the background: the link process's first write
	 * (its TLS hello) waits for it; it may not change the flags. */
	if (net_parse_addr(b->ip, b->cluster_port, &ss, &len) == -1 ||
	    (fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return NULL;
	if ((connect(fd, (struct sockaddr *)&ss, len) == -1 &&
	    errno != EINPROGRESS) || fcntl(fd, F_SETFL, 0) == -1) {
		log_warn("cluster: link to %s (%s port %u)", b->name, b->ip,
		    b->cluster_port);
		close(fd);
		return NULL;
	}
	keepalive(fd);
	struct link_child *lk = link_new(fd);
	if (lk != NULL) {
		lk->dial = true;
		mk_strlcpy(lk->peer, b->name, sizeof(lk->peer));
	}
	return lk;
}

void
cluster_dial_msg(struct ipc_msg *m, const char *peer, uint8_t job)
{
	ipc_msg_init(m, IPC_LINK_DIAL);
	ipc_put_bytes(m, cl.chain, cl.nchain);
	ipc_put_bytes(m, cl.ca, cl.nca);
	ipc_put_str(m, master.cfg.backend_name);
	ipc_put_str(m, peer);
	ipc_put_u8(m, job);
}

static void
cluster_accept(struct ev_io *io, uint32_t revents)
{
	(void)io;
	(void)revents;
	for (int i = 0; i < 4 && !master.stopping; i++) {
		int fd = accept4(cl.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("cluster accept");
			return;
		}
		link_spawn(fd);
	}
}

void
cluster_link_answer(struct link_child *lk, uint32_t type, enum link_code code,
    const char *text, int fd)
{
	struct ipc_msg m;

	if (lk->chan == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	ipc_msg_init(&m, type);
	ipc_put_u32(&m, (uint32_t)code);
	ipc_put_str(&m, text);
	if (fd != -1)
		ipc_put_fd(&m, fd);
	ipc_chan_send(lk->chan, &m);
}

static void
move_answer(struct link_child *lk, enum link_code code, const char *text)
{
	cluster_link_answer(lk, IPC_LINK_MOVE_RESULT, code, text, -1);
}

/* One ACL entry of the restored store, into the share index: checked
 * as the user's own process's IPC_MBOX_SHARE is (the worker runs as the
 * user), and bounded by acl_max_shares_per_user. */
static void
restore_share(struct link_child *lk, struct ipc_reader *r)
{
	const char *mailbox = ipc_get_str(r), *grantee = ipc_get_str(r);
	const char *rights = ipc_get_str(r);

	if (!ipc_end(r) || r->fd != -1 || rights[0] == '\0' ||
	    !share_entry_valid(mailbox, grantee, rights)) {
		child_kill(lk->rpid, "restore worker", "bad RESTORE_SHARE");
		return;
	}
	if (lk->shares >= master.cfg.acl_max_shares_per_user) {
		log_warnx("cluster: %s: share index full, %s on %s left out",
		    lk->user, grantee, mailbox);
		return;
	}
	if (dir_share_set(master.dir, lk->uid, mailbox, grantee, rights) != 0)
		log_warnx("share index: %s", dir_errmsg(master.dir));
	else {
		lk->shares++;
		shares_stale(grantee);
	}
}

/* The restore worker's ACL entries, then its verdict. */
static void
restore_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg)
{
	struct link_child *lk = arg;

	(void)c;
	if (lk->rchan == NULL)
		return;
	if (r != NULL && r->type == IPC_RESTORE_SHARE) {
		restore_share(lk, r);
		return;
	}
	ev_defer(master.loop, ipc_chan_free_cb, lk->rchan);
	lk->rchan = NULL;
	if (r == NULL) {
		move_answer(lk, LINK_TEMPFAIL, "the restore worker died");
		return;
	}
	uint8_t ok = ipc_get_u8(r);
	const char *why = ipc_get_str(r);
	if (r->type != IPC_RESTORE_RESULT || !ipc_end(r) || r->fd != -1) {
		child_kill(lk->rpid, "restore worker", "malformed answer");
		move_answer(lk, LINK_TEMPFAIL, "the restore worker failed");
		return;
	}
	log_info("cluster: %s moved in: %s", lk->user, ok ? "store restored" :
	    why);
	move_answer(lk, ok ? LINK_OK : LINK_TEMPFAIL, ok ? "restored" : why);
}

/* Who may move name in from peer: nobody held here, nobody on the way
 * in from someone else.  NULL, or why not (*code: how final). */
static const char *
move_in_refused(const char *name, const char *peer, struct dir_user *u,
    int *found, enum link_code *code)
{
	*code = LINK_REFUSED;
	*found = dir_user_get(master.dir, name, u);
	if (*found == -1 || freeze_active(name) ||
	    (*found == 0 && mbox_running(u->id) != NULL)) {
		/* A process of an earlier attempt's user lingers a moment. */
		*code = LINK_TEMPFAIL;
		return *found == -1 ? "directory error" : freeze_active(name) ?
		    "the user is being moved away from here" :
		    "the user's process still runs here; try again";
	}
	if (*found == 0 && config_backend_local(&master.cfg, u->backend))
		return "the user is held here already";
	if (*found == 0 && strcmp(u->backend, peer) != 0)
		return "the user is held by another backend";
	return NULL;
}

/* Writes the moved user's row, held by peer until the commit. */
static int
move_in_row(const char *name, const char *peer, const char *hash,
    bool admin, int64_t qs, int64_t qm, bool found, struct dir_user *u)
{
	if (!found && dir_user_add(master.dir, name, hash, &u->id) != 0)
		return -1;
	if (dir_user_set_backend(master.dir, name, peer) != 0 ||
	    dir_user_set_hash(master.dir, name, hash) != 0 ||
	    dir_user_set_admin(master.dir, name, admin) != 0 ||
	    dir_user_set_quota(master.dir, name, qs, qm) != 0)
		return -1;
	return dir_user_get(master.dir, name, u);
}

static void
on_move_in(struct link_child *lk, struct ipc_reader *r)
{
	const char *user = ipc_get_str(r), *hash = ipc_get_str(r);
	uint8_t admin = ipc_get_u8(r);
	uint64_t qs = ipc_get_u64(r), qm = ipc_get_u64(r);
	const char *peer = ipc_get_str(r), *why;
	char name[MK_USER_MAX];
	struct dir_user u;
	enum link_code code;
	struct stat st;
	int found, copy = r->fd, chan;

	if (!ipc_end(r) || copy == -1 || admin > 1 || qs > INT64_MAX ||
	    qm > INT64_MAX || *hash == '\0' || strlen(hash) > LINK_HASH_MAX ||
	    !dir_name_canon(user, name, sizeof(name), &why) ||
	    strlen(peer) >= MK_USER_MAX || lk->rchan != NULL) {
		cluster_link_violation(lk, "malformed LINK_MOVE_IN");
		return;
	}
	why = move_in_refused(name, peer, &u, &found, &code);
	if (why == NULL && move_in_row(name, peer, hash, admin,
	    (int64_t)qs - 1, (int64_t)qm - 1, found == 0, &u) != 0) {
		why = "directory error";
		code = LINK_TEMPFAIL;
	}
	if (why != NULL) {
		dir_user_forget_hash(&u);
		log_warnx("cluster: %s from %s refused: %s", name, peer, why);
		move_answer(lk, code, why);
		return;
	}
	dir_user_forget_hash(&u);
	mk_strlcpy(lk->user, name, sizeof(lk->user));
	if (fstat(copy, &st) == 0 && st.st_size == 0) {
		/* No store yet at the source: the row is all there is. */
		move_answer(lk, LINK_OK, "no store to restore");
		return;
	}
	/* The index is made anew from the store (restore_share). */
	lk->uid = u.id;
	lk->shares = 0;
	if (dir_shares_drop(master.dir, u.id) != 0)
		log_warnx("share index: %s", dir_errmsg(master.dir));
	shares_stale(NULL);
	/* The memfd goes to the worker (spawn_restore takes it). */
	pid_t pid = user_dir_prepare(&u) == -1 ? -1 :
	    spawn_restore(u.id, u.name, ipc_take_fd(r), &chan);
	if (pid == -1) {
		move_answer(lk, LINK_TEMPFAIL, "could not start the restore");
		return;
	}
	lk->rpid = pid;
	lk->rchan = ipc_chan_new(master.loop, chan, restore_msg, lk);
	child_add(pid, CHILD_RESTORE, NULL);
}

static void
on_commit(struct link_child *lk, struct ipc_reader *r)
{
	const char *user = ipc_get_str(r), *peer = ipc_get_str(r), *why;
	char name[MK_USER_MAX];
	struct dir_user u;
	int rc;

	if (!ipc_end(r) || r->fd != -1 ||
	    !dir_name_canon(user, name, sizeof(name), &why)) {
		cluster_link_violation(lk, "malformed LINK_COMMIT");
		return;
	}
	rc = dir_user_get(master.dir, name, &u);
	dir_user_forget_hash(&u);
	if (rc == 0 && config_backend_local(&master.cfg, u.backend)) {
		move_answer(lk, LINK_OK, "held here already");
		return;
	}
	if (rc != 0 || strcmp(u.backend, peer) != 0) {
		move_answer(lk, LINK_REFUSED, rc == 0 ? "moved in by another "
		    "backend" : "no such user here");
		return;
	}
	if (dir_user_set_backend(master.dir, name, "") != 0) {
		move_answer(lk, LINK_TEMPFAIL, "directory error");
		return;
	}
	log_info("cluster: %s is now held here (moved from %s)", name, peer);
	move_answer(lk, LINK_OK, "held here");
}

/* What each kind of link process may send. */
static bool
link_type_ok(const struct link_child *lk, uint32_t type)
{
	if (lk->dial)
		return type == IPC_LINK_DIAL_RESULT;
	return !lk->stream && (type == IPC_LINK_MOVE_IN ||
	    type == IPC_LINK_COMMIT || type == IPC_LINK_SHARE ||
	    type == IPC_LINK_GUEST);
}

static void
link_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg)
{
	struct link_child *lk = arg;

	(void)c;
	if (lk->chan == NULL)
		return;
	if (r == NULL) {
		lchild_close(lk);
		return;
	}
	if (r->bad || !link_type_ok(lk, r->type)) {
		cluster_link_violation(lk, r->bad ? "a malformed message" :
		    ipc_type_name(r->type));
		return;
	}
	switch (r->type) {
	case IPC_LINK_MOVE_IN: on_move_in(lk, r); break;
	case IPC_LINK_COMMIT: on_commit(lk, r); break;
	case IPC_LINK_SHARE: xshare_share(lk, r); break;
	case IPC_LINK_GUEST:
		xshare_guest(lk, r);
		if (lk->stream)
			cl.nlinks--;	/* counted per peer from now on */
		break;
	default: xshare_dial_result(lk, r); break;
	}
}

void
cluster_exited(enum child_kind kind, void *obj, int status)
{
	struct link_child *lk = obj;

	(void)status;	/* children.c logged it */
	if (kind == CHILD_CLUSTER_KH) {
		/* Links under way lose their key operations; new ones wait
		 * for the next key holder. */
		if (cl.kh_chan != NULL)
			ev_defer(master.loop, ipc_chan_free_cb, cl.kh_chan);
		cl.kh_chan = NULL;
		if (!master.stopping && cl.lfd != -1) {
			log_warnx("cluster key holder ended: starting another");
			ev_timer_start(master.loop, &cl.restart, RESTART_MS);
		}
		return;
	}
	if (kind != CHILD_LINK || lk == NULL)
		return;
	lchild_close(lk);
	for (struct link_child **pp = &cluster_links; *pp; pp = &(*pp)->next)
		if (*pp == lk) {
			*pp = lk->next;
			break;
		}
	if (!lk->dial && !lk->stream)
		cl.nlinks--;
	xshare_exited(lk);
	ev_defer(master.loop, free, lk);
}
