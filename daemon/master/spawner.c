/*
 * spawner.c - the spawner: the process that forks every child.
 *
 * Forked by the master (spawn.c) before the master opens directory.db or
 * receives a password, the spawner runs as root with nothing but its
 * channel to the master, the log and what the master sends it: the
 * running configuration (IPC_SPAWN_CONFIG, at start and on each reload)
 * and the public half of the TLS credentials, the certificate chain the
 * current key holder read (IPC_SPAWN_TLS).  It reads nothing a client
 * sent, opens no database and never opens the private key: the key
 * holder it forks opens that itself, as root, before its drop.
 *
 * On IPC_SPAWN_LOGIN / HASH / MBOX / LMTP / KEYHOLDER it makes the
 * child's channel, forks a middle process that forks the child and exits
 * at once, and answers IPC_SPAWN_RESULT with the child's pid and the
 * master's end of the channel.  The child, re-parented to the master
 * (its subreaper), goes through one sequence: signals back to their
 * defaults, syslog reconnected (before a chroot), every descriptor but
 * the listed ones closed, the public TLS credentials dropped unless it is
 * a login process, then the privilege drop of privsep.c and
 * PR_SET_DUMPABLE 0, then its role's main function (which applies its
 * seccomp filter, common/sandbox.c, once it has opened what it needs).
 * So a child holds its own descriptors, the clean configuration and (a
 * login process) the certificate chain and a channel to the key holder:
 * no directory row, no password hash, no other client's password, no
 * private key.
 *
 * The master is the only peer, root, and our parent: a malformed request
 * is a bug, and the spawner exits (the master then stops).  It exits
 * too on EOF: the master is gone.
 */
#include "daemon/master/master.h"
#include "daemon/mailbox/mailbox.h"
#include "auth/hashworker.h"
#include "auth/keyholder.h"
#include "auth/ldapclient.h"
#include "auth/login.h"
#include "daemon/lmtp/lmtp.h"
#include "daemon/cluster/cluster.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdint.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

static struct {
	struct mk_config  cfg;
	bool              have_cfg;
	struct tls_creds *tls;		/* NULL: no certificate configured */
	bool              root;
	uid_t             login_uid, hash_uid;
	gid_t             login_gid, hash_gid;
} sp;

/* What one child is: filled from the request and the clean config. */
struct child_req {
	const char *role;	/* log role: "login", "hash", "mailbox/<name>" */
	uid_t       uid;
	gid_t       gid;
	const char *chroot;	/* NULL: none */
	const char *chdir;	/* NULL: none (done as root, before the drop) */
	bool        keep_tls;
	int         keep[3];	/* descriptors the child keeps */
	size_t      nkeep;
	/* role parameters */
	enum child_kind kind;
	int         chan;	/* the child's end of its channel */
	int         client;	/* login: the client socket */
	int         kh;		/* relay: its channel to the key holder */
	bool        loopback, implicit_tls;
	bool        starttls;	/* login: may offer STARTTLS */
	bool        proxy;	/* login: a PROXY header comes first */
	uint8_t     proto;	/* login: enum mk_proto */
	bool        resumed, relayed;	/* login: after UNAUTHENTICATE */
	uint32_t    user_id;
	const char *user;
	const char *store;
	const char *peer;	/* LMTP: "local" or the client's address */
};

/* The key holder's files, opened as root before the drop (the key is
 * typically root's alone); it reads them itself.  On failure it tells
 * the master why, as it would of a key it cannot use. */
static void
keyholder_files(int chan, bool cluster, int *cfd, int *kfd)
{
	const char *cert = cluster ? sp.cfg.cluster_cert : sp.cfg.tls_cert;
	const char *key = cluster ? sp.cfg.cluster_key : sp.cfg.tls_key;
	const char *pfx = cluster ? "cluster" : "tls";
	char why[PATH_MAX + 64];

	*cfd = open(cert, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (*cfd == -1) {
		snprintf(why, sizeof(why), "%s_cert %s: %s", pfx, cert,
		    strerror(errno));
		keyholder_refuse(chan, why);
	}
	*kfd = open(key, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (*kfd == -1) {
		snprintf(why, sizeof(why), "%s_key %s: %s", pfx, key,
		    strerror(errno));
		keyholder_refuse(chan, why);
	}
}

/* ---- the child ---- */

static void
reset_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGHUP, SIGCHLD, SIGUSR1 };

	for (size_t i = 0; i < nitems(sigs); i++)
		signal(sigs[i], SIG_DFL);
	/* Ctrl-C on a foreground mailkeepd reaches the whole process group:
	 * only the master acts on it, and stops its children in order.
	 * SIGPIPE stays ignored: every child writes to sockets. */
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
}

/* "mk-<role>" in ps and top (15 bytes at most, the kernel's limit):
 * mk-login, mk-hash, mk-mailbox/alice, mk-spawner. */
static void
set_process_name(const char *role)
{
	char name[16];

	snprintf(name, sizeof(name), "mk-%s", role);
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);
}

/* Not dumpable: no core file, and /proc/PID/mem, maps, fd... of the
 * process are root's (with ptrace rights) only.  Set explicitly after
 * the uid change, which would reset it to the system's
 * fs.suid_dumpable.  Only with privilege separation: in development
 * mode every process has the developer's uid, the master included, so
 * it would protect nothing and only stop gdb and the tests' look at
 * /proc/PID/fd. */
static void
no_dump(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("PR_SET_DUMPABLE");
}

/* A hash worker runs hash_priority nice levels above the rest (10 by
 * default: the weight of about nine busy processes).  At equal weight,
 * a login waits behind every session that has work: with 40 busy
 * sessions on 2 cores, two workers got an eighth of the machine, 50
 * logins took 25 s instead of 3, and the last ones' yescrypt regions
 * (16 MiB each) sat on top of all the sessions already in (doc/
 * benchmarks.md, "Hash workers ahead of the sessions").  What a flood
 * of logins can take from the sessions is bounded by hash_workers, the
 * throttles and the overload refusal before any hash is computed.
 * Only a privileged spawner can raise a priority, and only before the
 * uid changes. */
static void
hash_priority(void)
{
	if (!sp.root || sp.cfg.hash_priority == 0)
		return;
	errno = 0;
	if (nice(-(int)sp.cfg.hash_priority) == -1 && errno != 0)
		log_warn("hash worker priority");
}

__attribute__((noreturn))
static void
child_run(const struct child_req *rq)
{
	reset_signals();
	if (!rq->keep_tls && sp.tls != NULL) {
		/* GnuTLS wipes the key as it frees it. */
		tls_creds_free(sp.tls);
		sp.tls = NULL;
	}
	/* Close syslog's socket by name before the sweep below: afterwards its
	 * number may already belong to something else. */
	if (!log_to_stderr())
		closelog();
	close_all_fds_except(3, rq->keep, rq->nkeep);
	log_init("mailkeepd", log_to_stderr(), log_get_verbose());
	log_set_role(rq->role);
	set_process_name(rq->role);
	if (rq->chdir != NULL && chdir(rq->chdir) == -1)
		fatal("chdir %s", rq->chdir);
	int cfd = -1, kfd = -1;
	if (rq->kind == CHILD_KEYHOLDER || rq->kind == CHILD_CLUSTER_KH)
		keyholder_files(rq->chan, rq->kind == CHILD_CLUSTER_KH, &cfd,
		    &kfd);
	if (rq->kind == CHILD_HASH)
		hash_priority();
	if (sp.root) {
		priv_drop(rq->uid, rq->gid, rq->chroot);
		no_dump();
	}
	switch (rq->kind) {
	case CHILD_LOGIN: {
		struct login_params lp = {
			.loopback = rq->loopback,
			.implicit_tls = rq->implicit_tls,
			.proto = rq->proto,
			.tls = rq->starttls ? sp.tls : NULL,
			.resumed = rq->resumed,
			.relayed = rq->relayed,
			.proxy = rq->proxy,
		};
		login_main(&sp.cfg, rq->client, rq->chan, &lp);
	}
	case CHILD_HASH:
		hashworker_main(rq->chan);
		_exit(0);
	case CHILD_LDAP:
		ldapclient_main(&sp.cfg, rq->chan);
	case CHILD_MBOX:
		mailbox_main(&sp.cfg, rq->chan, rq->user_id, rq->user,
		    rq->store);
	case CHILD_KEYHOLDER:
		keyholder_main(rq->chan, cfd, kfd, sp.cfg.max_connections,
		    false);
	case CHILD_CLUSTER_KH:
		keyholder_main(rq->chan, cfd, kfd, CLUSTER_MAX_LINKS, false);
	case CHILD_LINK:
		linkd_main(&sp.cfg, rq->client, rq->chan, rq->kh);
	case CHILD_RESTORE:
		restore_main(&sp.cfg, rq->chan, rq->client, rq->user);
	case CHILD_RELAY:
		relaypool_main(&sp.cfg, rq->chan, sp.tls, rq->kh);
	case CHILD_LMTP: {
		struct lmtp_params p;
		memset(&p, 0, sizeof(p));
		mk_strlcpy(p.peer, rq->peer, sizeof(p.peer));
		lmtp_main(&sp.cfg, rq->client, rq->chan, &p);
	}
	}
	fatalx("unknown child kind %d", (int)rq->kind);
}

/* The children share our heap's pages until one side writes to one.
 * What writes them is mostly malloc() in the child carving its first
 * allocations out of the free holes between our live objects (GnuTLS's
 * ASN.1 trees, 600 nodes of 192 bytes, made when the library loaded):
 * each hole costs the child a private copy of its page, some 80 KiB
 * per mailbox process (doc/benchmarks.md, "A resting user's process,
 * trimmed").
 * So before a fork the holes are filled here and kept filled: every
 * free chunk below the top of the heap is allocated and never freed,
 * and the child's allocations come from the top.  What that keeps is
 * what we freed since the last fork, a few KiB once the configuration
 * and certificates are in; HEAP_PLUG_MAX bounds it over the process's
 * life. */
#define HEAP_PLUG_MAX (512 * 1024)

/* AddressSanitizer's allocator is not glibc's: its addresses say
 * nothing of holes, and plugging would only keep HEAP_PLUG_MAX. */
#if defined(__SANITIZE_ADDRESS__)
#define HEAP_PLUG_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_PLUG_OFF 1
#endif
#endif

static void
heap_plug(void)
{
	static size_t kept;
	/* The first allocation from the top marks where the holes end;
	 * volatile: the compiler may not drop a malloc() it sees unused. */
	void *volatile top = malloc(64 * 1024);
	void *volatile p;

#ifdef HEAP_PLUG_OFF
	kept = HEAP_PLUG_MAX;
#endif
	if (top == NULL)
		return;
	/* Exact sizes first: tcache and fastbins serve only their own. */
	for (size_t sz = 1024; sz >= 16 && kept < HEAP_PLUG_MAX; sz -= 16) {
		while ((p = malloc(sz)) != NULL &&
		    (uintptr_t)p < (uintptr_t)top && kept < HEAP_PLUG_MAX)
			kept += sz;
		free(p);
	}
	free(top);
}

/* Forks rq's child through a middle process, so that the child is
 * re-parented to the master (our parent, its subreaper) at once.
 * Returns its pid, or -1 with errno. */
static pid_t
fork_child(const struct child_req *rq)
{
	int p[2];
	int32_t v = -EIO;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	heap_plug();
	pid_t mid = fork();
	if (mid == -1) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		errno = e;
		return -1;
	}
	if (mid == 0) {
		close(p[0]);
		pid_t pid = fork();
		if (pid == 0)
			child_run(rq);
		v = pid == -1 ? -errno : (int32_t)pid;
		(void)!write(p[1], &v, sizeof(v));
		_exit(0);
	}
	close(p[1]);
	ssize_t n;
	do
		n = read(p[0], &v, sizeof(v));
	while (n == -1 && errno == EINTR);
	close(p[0]);
	while (waitpid(mid, NULL, 0) == -1 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(v) || v == 0) {
		errno = EIO;
		return -1;
	}
	if (v < 0) {
		errno = -v;
		return -1;
	}
	return (pid_t)v;
}

static void
answer(int fd, pid_t pid, int err, int chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_RESULT);
	ipc_put_u32(&m, pid > 0 ? (uint32_t)pid : 0);
	ipc_put_u32(&m, pid > 0 ? 0 : (uint32_t)err);
	if (pid > 0)
		ipc_put_fd(&m, chan);
	if (ipc_send_now(fd, &m) == -1)
		fatal("answer to the master");
}

/* A user name as the master sends it: it becomes a path component. */
static bool
plain_name(const char *s)
{
	return *s != '\0' && *s != '.' && strchr(s, '/') == NULL &&
	    strlen(s) < MK_USER_MAX;
}

/* The IPC_SPAWN_KEYCHAN that follows a SPAWN_LOGIN with TLS: its
 * descriptor. */
static int
take_keychan(int fd)
{
	static uint8_t *buf;
	struct ipc_reader r;

	if (buf == NULL)
		buf = xmalloc(IPC_MAX_MSG);
	if (ipc_recv_now(fd, buf, &r) == -1 || r.bad ||
	    r.type != IPC_SPAWN_KEYCHAN || !ipc_end(&r) || r.fd == -1)
		fatalx("SPAWN_LOGIN/RELAY not followed by SPAWN_KEYCHAN");
	return ipc_take_fd(&r);
}

/* The children of the link between backends (doc/move.md); false if
 * r is none of theirs. */
static bool
cluster_spawn(int fd, struct ipc_reader *r, struct child_req *rq,
    char *role, size_t rolelen, char *dir, size_t dirlen)
{
	char rel[MK_USER_MAX + 16];

	switch (r->type) {
	case IPC_SPAWN_CLUSTER_KH:
		rq->kind = CHILD_CLUSTER_KH;
		if (!ipc_end(r) || r->fd != -1 ||
		    sp.cfg.cluster_cert[0] == '\0')
			fatalx("malformed SPAWN_CLUSTER_KH");
		rq->role = "cluster-keys";
		rq->uid = sp.hash_uid;
		rq->gid = sp.hash_gid;
		rq->chroot = sp.cfg.login_chroot;
		return true;
	case IPC_SPAWN_LINK:
		rq->kind = CHILD_LINK;
		rq->client = ipc_take_fd(r);
		if (!ipc_end(r) || rq->client == -1)
			fatalx("malformed SPAWN_LINK");
		rq->kh = take_keychan(fd);
		rq->role = "link";
		rq->uid = sp.login_uid;
		rq->gid = sp.login_gid;
		rq->chroot = sp.cfg.login_chroot;
		return true;
	case IPC_SPAWN_RESTORE:
		rq->kind = CHILD_RESTORE;
		rq->user_id = ipc_get_u32(r);
		rq->user = ipc_get_str(r);
		rq->client = ipc_take_fd(r);
		if (!ipc_end(r) || rq->client == -1 || !plain_name(rq->user))
			fatalx("malformed SPAWN_RESTORE");
		snprintf(rel, sizeof(rel), "users/%s", rq->user);
		if (config_path(&sp.cfg, dir, dirlen, rel) == -1)
			fatalx("path of %s's directory is too long", rq->user);
		snprintf(role, rolelen, "restore/%s", rq->user);
		rq->role = role;
		rq->uid = sp.cfg.mail_uid_base + rq->user_id;
		rq->gid = rq->uid;
		rq->chdir = dir;
		return true;
	default:
		return false;
	}
}

static void
on_spawn(int fd, struct ipc_reader *r)
{
	char role[96], dir[PATH_MAX], store[PATH_MAX + 16], rel[MK_USER_MAX + 16];
	struct child_req rq;
	int ch[2];

	memset(&rq, 0, sizeof(rq));
	rq.client = -1;
	rq.kh = -1;
	switch (r->type) {
	case IPC_SPAWN_LOGIN:
		rq.kind = CHILD_LOGIN;
		rq.loopback = ipc_get_u8(r) != 0;
		rq.implicit_tls = ipc_get_u8(r) != 0;
		rq.proto = ipc_get_u8(r);
		rq.resumed = ipc_get_u8(r) != 0;
		rq.relayed = ipc_get_u8(r) != 0;
		rq.starttls = ipc_get_u8(r) != 0;
		rq.proxy = ipc_get_u8(r) != 0;
		rq.client = ipc_take_fd(r);
		if (!ipc_end(r) || rq.client == -1 ||
		    rq.proto > MK_PROTO_AUTHHTTP ||
		    (rq.resumed && (rq.proto != MK_PROTO_IMAP || rq.starttls)) ||
		    (rq.proto == MK_PROTO_AUTHHTTP && (rq.starttls ||
		    rq.implicit_tls || rq.proxy)))
			fatalx("malformed SPAWN_LOGIN");
		/* mk-pop3-login in ps, as Dovecot's pop3-login. */
		rq.role = rq.proto == MK_PROTO_POP3 ? "pop3-login" :
		    rq.proto == MK_PROTO_AUTHHTTP ? "auth-http" : "login";
		rq.uid = sp.login_uid;
		rq.gid = sp.login_gid;
		rq.chroot = sp.cfg.login_chroot;
		rq.keep_tls = true;
		break;
	case IPC_SPAWN_RELAY:
		rq.kind = CHILD_RELAY;
		if (!ipc_end(r) || r->fd != -1 || sp.tls == NULL)
			fatalx("malformed SPAWN_RELAY");
		rq.kh = take_keychan(fd);
		rq.role = "relay";
		rq.uid = sp.login_uid;
		rq.gid = sp.login_gid;
		rq.chroot = sp.cfg.login_chroot;
		rq.keep_tls = true;
		break;
	case IPC_SPAWN_HASH:
		rq.kind = CHILD_HASH;
		if (!ipc_end(r) || r->fd != -1)
			fatalx("malformed SPAWN_HASH");
		rq.role = "hash";
		rq.uid = sp.hash_uid;
		rq.gid = sp.hash_gid;
		rq.chroot = sp.cfg.login_chroot;
		break;
	case IPC_SPAWN_LDAP:
		rq.kind = CHILD_LDAP;
		if (!ipc_end(r) || r->fd != -1 || sp.cfg.directory != MK_DIR_LDAP)
			fatalx("malformed SPAWN_LDAP");
		rq.role = "ldap";
		rq.uid = sp.hash_uid;
		rq.gid = sp.hash_gid;
		/* No chroot: name resolution reads /etc (its sandbox allows
		 * read-only opens only; doc/ldap.md says why). */
		rq.chdir = "/";
		break;
	case IPC_SPAWN_MBOX:
		rq.kind = CHILD_MBOX;
		rq.user_id = ipc_get_u32(r);
		rq.user = ipc_get_str(r);
		if (!ipc_end(r) || r->fd != -1 || !plain_name(rq.user))
			fatalx("malformed SPAWN_MBOX");
		snprintf(rel, sizeof(rel), "users/%s", rq.user);
		if (config_path(&sp.cfg, dir, sizeof(dir), rel) == -1)
			fatalx("path of %s's directory is too long", rq.user);
		snprintf(store, sizeof(store), "%s/store.db", dir);
		snprintf(role, sizeof(role), "mailbox/%s", rq.user);
		rq.role = role;
		rq.uid = sp.cfg.mail_uid_base + rq.user_id;
		rq.gid = rq.uid;
		rq.chdir = dir;
		rq.store = store;
		break;
	case IPC_SPAWN_KEYHOLDER:
		rq.kind = CHILD_KEYHOLDER;
		if (!ipc_end(r) || r->fd != -1 || sp.cfg.tls_cert[0] == '\0')
			fatalx("malformed SPAWN_KEYHOLDER");
		rq.role = "keyholder";
		rq.uid = sp.hash_uid;
		rq.gid = sp.hash_gid;
		rq.chroot = sp.cfg.login_chroot;
		break;
	case IPC_SPAWN_LMTP:
		rq.kind = CHILD_LMTP;
		rq.peer = ipc_get_str(r);
		rq.client = ipc_take_fd(r);
		if (!ipc_end(r) || rq.client == -1 || strlen(rq.peer) >= 64)
			fatalx("malformed SPAWN_LMTP");
		rq.role = "lmtp";
		rq.uid = sp.login_uid;
		rq.gid = sp.login_gid;
		rq.chroot = sp.cfg.login_chroot;
		break;
	default:
		if (!cluster_spawn(fd, r, &rq, role, sizeof(role), dir,
		    sizeof(dir)))
			fatalx("unexpected %s from the master",
			    ipc_type_name(r->type));
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) == -1) {
		int e = errno;
		log_warn("socketpair");
		if (rq.client != -1)
			close(rq.client);
		if (rq.kh != -1)
			close(rq.kh);
		answer(fd, -1, e, -1);
		return;
	}
	rq.chan = ch[1];
	rq.keep[rq.nkeep++] = ch[1];
	if (rq.client != -1)
		rq.keep[rq.nkeep++] = rq.client;
	if (rq.kh != -1)
		rq.keep[rq.nkeep++] = rq.kh;
	pid_t pid = fork_child(&rq);
	int e = errno;
	if (pid == -1)
		log_warn("fork %s", rq.role);
	close(ch[1]);
	if (rq.client != -1)
		close(rq.client);
	if (rq.kh != -1)
		close(rq.kh);
	if (pid == -1)
		close(ch[0]);
	answer(fd, pid, e, ch[0]);
}

/* ---- configuration ---- */

static bool
backends_terminated(const struct mk_config *c)
{
	if (c->nbackends > MK_MAX_BACKENDS)
		return false;
	for (unsigned i = 0; i < c->nbackends; i++) {
		const struct cfg_backend *b = &c->backends[i];
		if (memchr(b->name, '\0', sizeof(b->name)) == NULL ||
		    memchr(b->host, '\0', sizeof(b->host)) == NULL ||
		    memchr(b->ip, '\0', sizeof(b->ip)) == NULL)
			return false;
	}
	return true;
}

static bool
strings_terminated(const struct mk_config *c)
{
#define T(f) (memchr(c->f, '\0', sizeof(c->f)) != NULL)
	return T(path) && T(hostname) && T(data_dir) && T(login_chroot) &&
	    T(login_user) && T(hash_user) && T(tls_cert) && T(tls_key) &&
	    T(tls_priority) && T(impersonation_separator) &&
	    T(folder_drafts) && T(folder_sent) && T(folder_trash) &&
	    T(folder_junk) && T(lmtp_socket) && T(lmtp_socket_group) &&
	    T(lmtp_domains) && T(ldap_uri) && T(ldap_ca_file) &&
	    T(ldap_bind_dn) && T(ldap_bind_password_file) && T(ldap_base) &&
	    T(ldap_user_filter) && T(ldap_password_attr) &&
	    T(ldap_admin_group) && T(ldap_admin_group_attr) &&
	    T(ldap_quota_storage_attr) && T(ldap_quota_messages_attr) &&
	    T(ldap_backend_attr) &&
	    T(backend_name) && T(trusted_proxies) && T(cluster_cert) &&
	    T(cluster_key) && T(cluster_ca) &&
	    c->nproxies <= MK_MAX_PROXIES && backends_terminated(c);
#undef T
}

static void
config_answer(int fd, bool ok, const char *err)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_SPAWN_CONFIG_RESULT);
	ipc_put_u8(&m, ok);
	ipc_put_str(&m, ok ? "" : err);
	if (ipc_send_now(fd, &m) == -1)
		fatal("answer to the master");
}

static void
on_config(int fd, struct ipc_reader *r)
{
	struct mk_config nc;
	char err[512] = "";
	size_t n;
	const uint8_t *p = ipc_get_bytes(r, &n);
	bool ok = true;

	if (!ipc_end(r) || r->fd != -1 || n != sizeof(nc))
		fatalx("malformed SPAWN_CONFIG");
	memcpy(&nc, p, sizeof(nc));
	if (!strings_terminated(&nc))
		fatalx("SPAWN_CONFIG with an unterminated string");
	uid_t lu = 0, hu = 0;
	gid_t lg = 0, hg = 0;
	if (sp.root && (priv_lookup(nc.login_user, &lu, &lg) == -1 ||
	    priv_lookup(nc.hash_user, &hu, &hg) == -1)) {
		snprintf(err, sizeof(err), "login_user %s or hash_user %s does "
		    "not exist", nc.login_user, nc.hash_user);
		ok = false;
	}
	if (ok) {
		sp.cfg = nc;
		sp.have_cfg = true;
		sp.login_uid = lu;
		sp.login_gid = lg;
		sp.hash_uid = hu;
		sp.hash_gid = hg;
		log_set_verbose(nc.verbose);
	}
	config_answer(fd, ok, err);
}

/* The current key holder's chain: the public credentials login
 * processes forked from now on inherit (their key operations go to the
 * key holder over the channel each gets). */
static void
on_tls(int fd, struct ipc_reader *r)
{
	struct tls_creds *tls = NULL;
	char err[512] = "";
	size_t n;
	const uint8_t *chain = ipc_get_bytes(r, &n);
	bool ok = true;

	if (!ipc_end(r) || r->fd != -1)
		fatalx("malformed SPAWN_TLS");
	if (n > 0 && tls_creds_public(chain, n, sp.cfg.tls_priority, &tls,
	    err, sizeof(err)) == -1)
		ok = false;
	if (ok) {
		tls_creds_free(sp.tls);
		sp.tls = tls;
	}
	config_answer(fd, ok, err);
}

/* ---- the process ---- */

void
spawner_main(int master_fd, bool foreground)
{
	reset_signals();
	/* Only the master ends the spawner, by closing the channel: a
	 * SIGTERM to the whole group (systemd's stop, kill -TERM -PGID) must
	 * not look to the master like a spawner that died. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (!log_to_stderr())
		closelog();
	close_all_fds_except(3, &master_fd, 1);
	if (!foreground) {
		/* The master detaches from the terminal later; we must not
		 * keep it. */
		int null = open("/dev/null", O_RDWR);
		if (null != -1) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		if (chdir("/") == -1)
			fatal("chdir /");
	}
	log_init("mailkeepd", log_to_stderr(), log_get_verbose());
	log_set_role("spawner");
	set_process_name("spawner");
	sp.root = priv_is_root();
	if (sp.root)
		no_dump();

	uint8_t *buf = xmalloc(IPC_MAX_MSG);
	for (;;) {
		struct ipc_reader r;

		if (ipc_recv_now(master_fd, buf, &r) == -1)
			_exit(0);	/* EOF: the master is gone or stopping */
		if (r.bad)
			fatalx("malformed message from the master");
		if (r.type == IPC_SPAWN_CONFIG)
			on_config(master_fd, &r);
		else if (!sp.have_cfg)
			fatalx("%s before any SPAWN_CONFIG",
			    ipc_type_name(r.type));
		else if (r.type == IPC_SPAWN_TLS)
			on_tls(master_fd, &r);
		else
			on_spawn(master_fd, &r);
		if (r.fd != -1)
			close(r.fd);
	}
}
