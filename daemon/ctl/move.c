/*
 * move.c - mailkeepctl move USER BACKEND: moves a user's store and
 * directory row to another backend over the link between backends
 * (daemon/cluster/link.h; doc/move.md has the steps, the states a
 * failure can leave and why each is safe to run again).
 *
 *   1. freeze   the running daemon refuses the user every new session
 *               (logins NO [UNAVAILABLE], LMTP 451 4.3.0) and ends the
 *               client sessions with BYE; we wait until the user's
 *               process serves no session, so nothing changes the store
 *   2. copy     a worker as the user's uid takes a consistent copy with
 *               SQLite's online backup API (backup_work.c) into a memfd
 *   3. send     a link worker sends it, with the row, to BACKEND, which
 *               restores it as the user's uid and holds the row as
 *               "moving in from us" (LINK_MOVE_BEGIN/DATA/END)
 *   4. switch   our directory row points at BACKEND (the commit point)
 *   5. commit   a link worker tells BACKEND the user is now its own
 *               (LINK_MOVE_COMMIT); then the freeze is lifted
 *
 * The link worker (link_work) is forked by mailkeepctl's worker spawner,
 * whose memory never held a directory row.  Still root, it connects to
 * BACKEND, opens cluster_cert and cluster_key and forks a key holder
 * (auth/keyholder.c) that reads them after dropping to hash_user; it
 * then drops to login_user in login_chroot under the LMTP role's
 * seccomp filter and only then speaks TLS: the peer's bytes are parsed
 * by an unprivileged, sandboxed process that never held the key.
 */
#include "daemon/ctl/ctl.h"
#include "daemon/cluster/link.h"
#include "auth/keyholder.h"
#include "common/log.h"
#include "common/net.h"
#include "common/privsep.h"
#include "common/sandbox.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Link worker exit statuses (sysexits' TEMPFAIL and NOPERM). */
#define LX_TEMPFAIL 75
#define LX_REFUSED  77

#define FREEZE_S        900	/* the longest a move may keep the user out */
#define QUIET_WAIT_MS   30000	/* for the user's sessions to end */
#define CONNECT_MS      10000
#define RESULT_WAIT_MS  (30 * 60 * 1000)	/* a big store's restore */
#define PEM_MAX         (1024 * 1024)

/* ---- the link worker (forked by the worker spawner, as root) ---- */

static int
link_connect(const struct work_req *q)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct pollfd pfd;
	int fd, err = 0;
	socklen_t elen = sizeof(err);

	if (net_parse_addr(q->link_ip, q->link_port, &ss, &len) == -1)
		return -1;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		return -1;
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if ((connect(fd, (struct sockaddr *)&ss, len) == -1 &&
	    (errno != EINPROGRESS || poll(&pfd, 1, CONNECT_MS) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1 ||
	    err != 0)) || fcntl(fd, F_SETFL, 0) == -1) {
		close(fd);
		errno = err ? err : errno;
		return -1;
	}
	return fd;
}

/* Forks the key holder for cluster_key; our channel to it, and the
 * public chain it read into *chain. */
static int
start_keyholder(struct ctx *x, gnutls_datum_t *chain)
{
	int sp[2], ch[2], cfd, kfd;
	uint8_t *buf = xmalloc(IPC_MAX_MSG);
	struct ipc_reader r;
	struct ipc_msg m;
	size_t n;

	cfd = open(x->cfg.cluster_cert, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	kfd = open(x->cfg.cluster_key, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (cfd == -1 || kfd == -1 || socketpair(AF_UNIX, SOCK_SEQPACKET |
	    SOCK_CLOEXEC, 0, sp) == -1) {
		errmsg("cluster_cert/cluster_key: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		int keep[3] = { sp[1], cfd, kfd };
		close_all_fds_except(3, keep, 3);
		if (geteuid() == 0) {
			priv_drop_user(x->cfg.hash_user, x->cfg.login_chroot);
			(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		}
		keyholder_main(sp[1], cfd, kfd, 1, false);
	}
	close(sp[1]);
	close(cfd);
	close(kfd);
	r.fd = -1;
	if (pid == -1 || ipc_recv_now(sp[0], buf, &r) == -1 ||
	    r.type != IPC_KEY_READY || ipc_get_u8(&r) != 1) {
		errmsg("the cluster key holder could not use cluster_cert "
		    "with cluster_key");
		return -1;
	}
	(void)ipc_get_str(&r);
	const uint8_t *c = ipc_get_bytes(&r, &n);
	if (!ipc_end(&r) || socketpair(AF_UNIX, SOCK_SEQPACKET |
	    SOCK_CLOEXEC, 0, ch) == -1)
		return -1;
	chain->data = xmalloc(n);
	memcpy(chain->data, c, n);
	chain->size = (unsigned)n;
	free(buf);
	ipc_msg_init(&m, IPC_KEY_CHANNEL);
	ipc_put_fd(&m, ch[0]);
	if (ipc_send_now(sp[0], &m) == -1)
		return -1;
	/* sp[0] stays open: the key holder serves while it is. */
	return ch[1];
}

static int
code_status(uint32_t code)
{
	return code == LINK_OK ? 0 : code == LINK_TEMPFAIL ? LX_TEMPFAIL :
	    LX_REFUSED;
}

/* Sends m, reads the LINK_RESULT; the exit status it means. */
static int
request(struct link_conn *c, struct ipc_msg *m, const struct work_req *q)
{
	char err[256], text[LINK_TEXT_MAX + 1];
	struct ipc_reader r;
	uint32_t code;

	if (link_send(c, m) == -1 ||
	    link_recv(c, &r, RESULT_WAIT_MS, err, sizeof(err)) == -1) {
		errmsg("link to %s: %s", q->link_backend, "connection lost");
		return LX_TEMPFAIL;
	}
	if (!link_read_result(&r, &code, text, sizeof(text))) {
		errmsg("link to %s: malformed answer", q->link_backend);
		return EX_FAIL;
	}
	if (code != LINK_OK)
		errmsg("%s: %s", q->link_backend, text);
	return code_status(code);
}

static int
send_copy(struct link_conn *c, const struct work_req *q, int fd)
{
	struct link_move mv;
	struct ipc_msg m;
	uint8_t *buf = xmalloc(LINK_CHUNK);
	int rc;

	memset(&mv, 0, sizeof(mv));
	mk_strlcpy(mv.user, q->name, sizeof(mv.user));
	mk_strlcpy(mv.hash, q->link_hash, sizeof(mv.hash));
	mv.admin = q->link_admin;
	mv.quota_storage = q->quota_storage;
	mv.quota_messages = q->quota_messages;
	mv.bytes = q->link_bytes;
	memcpy(mv.sha256, q->link_sha256, sizeof(mv.sha256));
	link_frame_init(&m, LINK_MOVE_BEGIN);
	link_put_move_begin(&m, &mv);
	explicit_bzero(&mv, sizeof(mv));
	if ((rc = request(c, &m, q)) != 0)
		return rc;
	for (;;) {
		ssize_t n = read(fd, buf, LINK_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		link_frame_init(&m, LINK_MOVE_DATA);
		ipc_put_bytes(&m, buf, (size_t)n);
		if (link_send(c, &m) == -1)
			return LX_TEMPFAIL;
	}
	free(buf);
	link_frame_init(&m, LINK_MOVE_END);
	return request(c, &m, q);
}

/* The HELLO exchange: the server must be the backend we meant. */
static int
hello(struct link_conn *c, struct ctx *x, const struct work_req *q)
{
	char err[256], name[MK_USER_MAX];
	struct ipc_reader r;
	struct ipc_msg m;
	uint32_t version;

	link_frame_init(&m, LINK_HELLO);
	ipc_put_u32(&m, LINK_VERSION);
	ipc_put_str(&m, x->cfg.backend_name);
	if (link_send(c, &m) == -1 ||
	    link_recv(c, &r, CONNECT_MS, err, sizeof(err)) == -1) {
		errmsg("link to %s: refused (is our certificate's name %s, "
		    "and signed by its cluster_ca?)", q->link_backend,
		    x->cfg.backend_name);
		return LX_TEMPFAIL;
	}
	if (!link_read_hello(&r, &version, name, sizeof(name)) ||
	    r.type != LINK_HELLO_OK) {
		errmsg("link to %s: no HELLO", q->link_backend);
		return EX_FAIL;
	}
	if (strcmp(link_peer_name(c), q->link_backend) != 0) {
		errmsg("link to %s: its certificate names %s: refused",
		    q->link_backend, link_peer_name(c));
		return LX_REFUSED;
	}
	return 0;
}

int
link_work(struct ctx *x, const struct work_req *q)
{
	gnutls_datum_t chain, ca;
	struct link_conn *c;
	char err[256];
	size_t n;
	int fd, kh, rc;

	if ((fd = link_connect(q)) == -1) {
		errmsg("%s (%s port %u): %s", q->link_backend, q->link_ip,
		    q->link_port, strerror(errno));
		return LX_TEMPFAIL;
	}
	if ((ca.data = (unsigned char *)read_file(x->cfg.cluster_ca, PEM_MAX,
	    &n)) == NULL) {
		errmsg("cluster_ca %s: %s", x->cfg.cluster_ca, strerror(errno));
		return EX_FAIL;
	}
	ca.size = (unsigned)n;
	if ((kh = start_keyholder(x, &chain)) == -1)
		return EX_FAIL;
	if (geteuid() == 0) {
		priv_drop_user(x->cfg.login_user, x->cfg.login_chroot);
		(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	}
	sandbox_apply(SANDBOX_LMTP, 16);
	if ((c = link_open(fd, false, &chain, &ca, kh, CONNECT_MS, err,
	    sizeof(err))) == NULL) {
		errmsg("link to %s: %s", q->link_backend, err);
		return LX_TEMPFAIL;
	}
	if ((rc = hello(c, x, q)) == 0) {
		struct ipc_msg m;
		if (q->link_step == LINK_STEP_COPY)
			rc = send_copy(c, q, x->xfd);
		else {
			link_frame_init(&m, LINK_MOVE_COMMIT);
			ipc_put_str(&m, q->name);
			rc = request(c, &m, q);
		}
	}
	link_close(c);
	return rc;
}

/* ---- the command (as root) ---- */

static int
control_line(struct ctx *x, const char *fmt, const char *user,
    unsigned arg, char *out, size_t outlen)
{
	char line[160];

	snprintf(line, sizeof(line), fmt, user, arg);
	return live_ask(x, line, out, outlen);
}

/* Freezes the user in the running daemon and waits until its process
 * serves no session: from then on nothing changes the store. */
static int
freeze(struct ctx *x, const char *name)
{
	char ans[256];

	if (control_line(x, "freeze %s %u\n", name, FREEZE_S, ans,
	    sizeof(ans)) == -1)
		return -1;
	printf("%s: frozen on this backend (%s)\n", name, ans);
	for (int ms = 0; ms < QUIET_WAIT_MS; ms += 100) {
		if (control_line(x, "frozen %s\n", name, 0, ans,
		    sizeof(ans)) == -1)
			return -1;
		if (strstr(ans, " sessions 0") != NULL)
			return 0;
		usleep(100 * 1000);
	}
	errmsg("%s: sessions still open after %d s (%s)", name,
	    QUIET_WAIT_MS / 1000, ans);
	return -1;
}

static void
thaw(struct ctx *x, const char *name, bool running)
{
	char ans[256];

	if (running && control_line(x, "thaw %s\n", name, 0, ans,
	    sizeof(ans)) == 0)
		printf("%s: thawed\n", name);
}

/* Step 2: the consistent copy, in a memfd of ours; its size and hash. */
static int
take_copy(struct ctx *x, const struct dir_user *u, struct work_req *q)
{
	unsigned char buf[65536];
	gnutls_hash_hd_t h;
	struct work_req bq;
	off_t off = 0;
	ssize_t n;
	int fd = memfd_create("move-copy", MFD_CLOEXEC), rc;

	if (fd == -1) {
		errmsg("memfd_create: %s", strerror(errno));
		return -1;
	}
	work_init(x, &bq, WORK_BACKUP, u);
	rc = as_user_fd(x, &bq, fd);
	if (rc != EX_OK_ && rc != W_NOSTORE) {
		close(fd);
		return -1;
	}
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		close(fd);
		return -1;
	}
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		gnutls_hash(h, buf, (size_t)n);
		off += n;
	}
	gnutls_hash_deinit(h, q->link_sha256);
	q->link_bytes = (uint64_t)off;
	printf("%s: copy taken (%lld bytes)\n", u->name, (long long)off);
	return n == 0 && lseek(fd, 0, SEEK_SET) == 0 ? fd : (close(fd), -1);
}

/* A failure injected by the tests (doc/move.md, "Testing"): the
 * command stops dead after step, as if killed there. */
static void
crash_point(const char *step)
{
	const char *at = getenv("MAILKEEP_MOVE_CRASH_AFTER");

	if (at != NULL && strcmp(at, step) == 0) {
		fflush(stdout);
		_exit(9);
	}
}

static int
link_step(struct ctx *x, struct work_req *q, int step, int fd)
{
	q->link_step = step;
	int rc = as_user_fd(x, q, fd);
	return rc == -1 ? EX_FAIL : rc;
}

/* Steps 1-4; 0 once our row points at the target. */
static int
copy_and_switch(struct ctx *x, const struct dir_user *u, struct work_req *q,
    bool running)
{
	int fd, rc;

	if (running && freeze(x, u->name) == -1)
		return EX_FAIL;
	if ((fd = take_copy(x, u, q)) == -1)
		return EX_FAIL;
	crash_point("copy");
	rc = link_step(x, q, LINK_STEP_COPY, fd);
	close(fd);
	if (rc != 0)
		return rc;
	printf("%s: restored on %s\n", u->name, q->link_backend);
	crash_point("send");
	if (dir_user_set_backend(x->dir, u->name, q->link_backend) != 0) {
		errmsg("directory: %s", dir_errmsg(x->dir));
		return EX_FAIL;
	}
	printf("%s: now pointed at %s here\n", u->name, q->link_backend);
	/* Its shares are indexed where it now lives (from the store). */
	if (dir_shares_drop(x->dir, u->id) != 0)
		errmsg("share index: %s", dir_errmsg(x->dir));
	live_shares_changed(x);
	crash_point("switch");
	return 0;
}

int
cmd_move(struct ctx *x)
{
	char name[MK_USER_MAX];
	const struct cfg_backend *b;
	struct dir_user u;
	struct work_req q;
	int rc = 0;

	if (has_stray_option(x) || x->argc != 2)
		return usage_of(find_command("move"));
	if (!user_name(x->argv[0], name))
		return EX_BADINPUT;
	/* With its hash (get_user() drops it): the row travels. */
	if ((rc = dir_user_get(x->dir, name, &u)) != 0) {
		errmsg(rc == MK_NOTFOUND ? "no such user: %s" : "directory: %s",
		    rc == MK_NOTFOUND ? name : dir_errmsg(x->dir));
		return rc == MK_NOTFOUND ? EX_NOUSER : EX_FAIL;
	}
	b = config_backend(&x->cfg, x->argv[1]);
	if (b == NULL || b->cluster_port == 0 ||
	    config_backend_local(&x->cfg, b->name) ||
	    x->cfg.cluster_cert[0] == '\0') {
		errmsg("%s: not another backend with a cluster port, or no "
		    "cluster_cert here (doc/move.md)", x->argv[1]);
		return EX_USAGE_;
	}
	work_init(x, &q, WORK_LINK, &u);
	mk_strlcpy(q.link_backend, b->name, sizeof(q.link_backend));
	mk_strlcpy(q.link_ip, b->ip, sizeof(q.link_ip));
	q.link_port = b->cluster_port;
	mk_strlcpy(q.link_hash, u.hash, sizeof(q.link_hash));
	q.link_admin = u.admin;
	explicit_bzero(u.hash, sizeof(u.hash));
	bool running = control_master_pid(x) != 0;
	if (config_backend_local(&x->cfg, u.backend))
		rc = copy_and_switch(x, &u, &q, running);
	else if (strcmp(u.backend, b->name) == 0) {
		printf("%s: pointed at %s already: finishing the move\n", name,
		    b->name);
		rc = 0;
	} else {
		errmsg("%s is held by %s, not here", name, u.backend);
		rc = EX_FAIL;
	}
	if (rc == 0 && (rc = link_step(x, &q, LINK_STEP_COMMIT, -1)) == 0)
		printf("%s: moved to %s\n", name, b->name);
	explicit_bzero(&q, sizeof(q));
	thaw(x, name, running);
	if (rc != 0)
		errmsg("%s: the move did not finish; run it again (doc/move.md)",
		    name);
	return rc;
}
