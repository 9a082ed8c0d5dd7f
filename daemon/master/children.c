/*
 * children.c - the master's table of children, and the login channels.
 *
 * Every child (login process, hash worker, mailbox process) is recorded
 * by pid so that SIGCHLD can be matched to it, logged when it ended
 * abnormally, and handed to its owner (hashpool.c, sessions.c or the
 * login code below).
 *
 * A login process's channel is a state machine, as OpenSSH's monitor
 * keeps one: the table login_msgs[] says which message is legal in which
 * state.  Anything else, or any malformed message, means the login
 * process is not behaving as our code does, i.e. it is compromised: it
 * is killed on the spot.  The user a hand-off acts on is always the one
 * this file recorded at the OK verdict, never anything the child says.
 *
 * The connection a hand-off carries is checked too.  On a plain link it
 * must be the very socket the master accepted (compared by addresses).
 * On a TLS link (a listen_tls connection, or one whose login process
 * asked for STARTTLS) it must be the plaintext socketpair end the master
 * made when it gave the client's socket to a pool relay (relaypool.c).
 */
#include "daemon/master/master.h"
#include "auth/login.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the table of children ---- */

#define NBUCKETS 1024

struct child {
	pid_t          pid;
	enum child_kind kind;
	void          *obj;
	bool           killed;	/* by us, for a protocol violation */
	struct child  *next;
};

static struct child *table[NBUCKETS];
static size_t nchildren;

static const char *const kind_name[] = {
	[CHILD_LOGIN] = "login process",
	[CHILD_HASH] = "hash worker",
	[CHILD_MBOX] = "mailbox process",
	[CHILD_LMTP] = "LMTP process",
	[CHILD_KEYHOLDER] = "TLS key holder",
	[CHILD_RELAY] = "TLS relay",
	[CHILD_LDAP] = "LDAP process",
	[CHILD_CLUSTER_KH] = "cluster key holder",
	[CHILD_LINK] = "link process",
	[CHILD_RESTORE] = "restore worker",
};

static void login_exited(struct login_child *lc);

void
children_init(void)
{
	memset(table, 0, sizeof(table));
	nchildren = 0;
}

static struct child **
slot_of(pid_t pid)
{
	struct child **pp = &table[(unsigned)pid % NBUCKETS];

	while (*pp && (*pp)->pid != pid)
		pp = &(*pp)->next;
	return pp;
}

void
child_add(pid_t pid, enum child_kind kind, void *obj)
{
	struct child *c = xcalloc(1, sizeof(*c));

	c->pid = pid;
	c->kind = kind;
	c->obj = obj;
	c->next = table[(unsigned)pid % NBUCKETS];
	table[(unsigned)pid % NBUCKETS] = c;
	nchildren++;
}

size_t
children_count(void)
{
	return nchildren;
}

void
child_kill(pid_t pid, const char *role, const char *why)
{
	struct child *c = *slot_of(pid);

	log_warnx("killing %s %d: %s", role, (int)pid, why);
	master.nkilled++;
	if (c)
		c->killed = true;
	kill(pid, SIGKILL);
}

void
children_terminate(int sig)
{
	for (size_t b = 0; b < NBUCKETS; b++)
		for (struct child *c = table[b]; c; c = c->next)
			kill(c->pid, sig);
}

static void
log_exit(const struct child *c, int status)
{
	const char *what = kind_name[c->kind];

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		log_debug("%s %d exited", what, (int)c->pid);
	else if (WIFEXITED(status))
		log_warnx("%s %d exited with status %d", what, (int)c->pid,
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && (c->killed ||
	    (master.stopping && WTERMSIG(status) == SIGTERM)))
		log_debug("%s %d ended by signal %d", what, (int)c->pid,
		    WTERMSIG(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		/* common/sandbox.c: a system call outside its role's list. */
		log_warnx("%s %d killed by its sandbox (signal %d: a forbidden "
		    "system call)", what, (int)c->pid, SIGSYS);
	else if (WIFSIGNALED(status))
		log_warnx("%s %d killed by signal %d%s", what, (int)c->pid,
		    WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
}

void
children_reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (spawner_reaped(pid, status))
			continue;
		struct child **pp = slot_of(pid), *c = *pp;
		if (c == NULL)
			continue;
		*pp = c->next;
		nchildren--;
		log_exit(c, status);
		switch (c->kind) {
		case CHILD_LOGIN:
			login_exited(c->obj);
			break;
		case CHILD_HASH:
			hashpool_exited(c->obj, status);
			break;
		case CHILD_MBOX:
			sessions_exited(c->obj, status);
			break;
		case CHILD_LMTP:
			lmtp_exited(c->obj, status);
			break;
		case CHILD_KEYHOLDER:
			keyholder_exited(c->obj, status);
			break;
		case CHILD_RELAY:
			relaypool_exited(c->obj, status);
			break;
		case CHILD_LDAP:
			ldapdir_exited(c->obj, status);
			break;
		case CHILD_CLUSTER_KH:
		case CHILD_LINK:
		case CHILD_RESTORE:
			cluster_exited(c->kind, c->obj, status);
			break;
		}
		free(c);
	}
}

/* ---- connections ---- */

static bool
same_addr(const struct sockaddr_storage *a, socklen_t alen,
    const struct sockaddr_storage *b, socklen_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

bool
peer_is_relay(int fd, pid_t pid)
{
	struct ucred cred;
	int domain = -1, type = -1;
	socklen_t len = sizeof(cred), ilen = sizeof(int);

	/* For a socketpair the kernel records its creator as the peer of
	 * both ends, whoever holds them now. */
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &ilen) == -1 ||
	    domain != AF_UNIX)
		return false;
	ilen = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ilen) == -1 ||
	    type != SOCK_STREAM)
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return false;
	return pid > 0 && cred.pid == pid;
}

bool
peer_matches(int fd, const struct peer *p)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (p->link != 0)
		return relaypool_is_link(fd, p->link);
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    !same_addr(&ss, len, &p->remote, p->remotelen))
		return false;
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    !same_addr(&ss, len, &p->local, p->locallen))
		return false;
	return true;
}

void
peer_refuse(int fd, uint8_t proto, const char *text)
{
	char line[256];
	int n = proto == MK_PROTO_POP3 ?
	    snprintf(line, sizeof(line), "-ERR [SYS/TEMP] %s\r\n", text) :
	    snprintf(line, sizeof(line), "* BYE %s\r\n", text);

	if (n > 0 && (size_t)n < sizeof(line))
		(void)!send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

void
peer_release(struct peer *p)
{
	if (p->rec == NULL)
		return;
	addr_conn_done(p->rec);
	p->rec = NULL;
	if (master.nconn > 0)
		master.nconn--;
}

/* ---- login processes ---- */

static const char *const state_name[] = {
	[LS_NEW] = "NEW", [LS_CHECKING] = "CHECKING",
	[LS_AUTHENTICATED] = "AUTHENTICATED", [LS_HANDED_OFF] = "HANDED_OFF",
	[LS_GONE] = "GONE",
};

static void login_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg);
static void on_auth(struct login_child *lc, struct ipc_reader *r);
static void on_starttls_req(struct login_child *lc, struct ipc_reader *r);
static void on_handoff(struct login_child *lc, struct ipc_reader *r);

/* What a login process may send, and when.  Everything else kills it. */
static const struct {
	uint32_t type;
	unsigned states;	/* bit per enum login_state */
	void   (*fn)(struct login_child *, struct ipc_reader *);
} login_msgs[] = {
	{ IPC_LOGIN_AUTH,     1u << LS_NEW,           on_auth },
	{ IPC_LOGIN_STARTTLS_REQ, 1u << LS_NEW,       on_starttls_req },
	{ IPC_LOGIN_HANDOFF,  1u << LS_AUTHENTICATED, on_handoff },
	{ IPC_LOGIN_PROXY,    1u << LS_NEW,           frontdoor_on_proxy },
	{ IPC_LOGIN_HTTP_AUTH, 1u << LS_NEW,          frontdoor_on_http_auth },
};

static void
verdict_timer(struct ev_timer *t)
{
	struct login_child *lc = t->arg;

	login_verdict(lc, lc->verdict);
}

struct login_child *
login_attach(pid_t pid, int chan_fd, const struct peer *peer)
{
	struct login_child *lc = xcalloc(1, sizeof(*lc));

	lc->pid = pid;
	lc->peer = *peer;
	lc->started = now_ms();
	lc->counted = peer->rec != NULL;
	/* Forked just now, so it has the credentials the master has. */
	lc->tls_offered = master.tls != NULL;
	lc->state = LS_NEW;
	ev_timer_init(&lc->delay, verdict_timer, lc);
	lc->chan = ipc_chan_new(master.loop, chan_fd, login_msg, lc);
	child_add(pid, CHILD_LOGIN, lc);
	return lc;
}

void
login_spawn(int fd, const struct peer *peer)
{
	struct peer p = *peer;
	int chan;
	/* STARTTLS is offered when a relay can take the connection; the
	 * login process never runs TLS itself, so it gets no key channel. */
	bool tls = master.tls != NULL && relaypool_size() > 0;

	/* Implicit TLS: the relay runs the handshake, the login process
	 * reads the plaintext side.  Behind a trusted proxy the PROXY
	 * header comes before the handshake: the login process reads it
	 * and then sends the socket on to a relay (frontdoor.c). */
	if (p.implicit_tls && !p.proxy &&
	    relaypool_assign(fd, true, &fd, &p.link) == -1) {
		peer_release(&p);
		return;
	}
	if (p.proto == MK_PROTO_AUTHHTTP)
		tls = false;
	/* The spawner forks it: a fork of the master would copy password
	 * hashes and queued passwords into a process facing the network. */
	pid_t pid = spawn_login(fd, p.loopback, p.implicit_tls, p.proto,
	    tls && !p.implicit_tls, p.proxy, NULL, &chan);

	if (pid == -1) {
		peer_release(&p);
		return;
	}
	login_attach(pid, chan, &p)->tls_offered = tls && !p.implicit_tls;
}

void
login_resume(int fd, const struct peer *peer, const struct login_resume *res)
{
	struct peer p = *peer;
	int chan;
	/* No STARTTLS: the link is TLS already (through the pool relay
	 * that keeps serving it) or was plain, and STARTTLS is for a new
	 * connection. */
	pid_t pid = spawn_login(fd, p.loopback, false, p.proto, false, false,
	    res, &chan);

	struct login_child *lc;
	struct ipc_msg m;

	if (pid == -1) {
		peer_release(&p);
		return;
	}
	lc = login_attach(pid, chan, &p);
	lc->tls_offered = false;
	ipc_msg_init(&m, IPC_LOGIN_RESUME);
	ipc_put_bytes(&m, res->pending, res->npending);
	ipc_chan_send(lc->chan, &m);
}

/* The child's channel is gone (or we killed it): drop what it held. */
static void
login_close(struct login_child *lc)
{
	if (lc->chan == NULL)
		return;
	ev_defer(master.loop, ipc_chan_free_cb, lc->chan);
	lc->chan = NULL;
	ev_timer_stop(master.loop, &lc->delay);
	authz_abandon(lc);
	if (lc->counted) {
		peer_release(&lc->peer);
		lc->counted = false;
	}
	lc->state = LS_GONE;
}

static void
login_free(void *arg)
{
	struct login_child *lc = arg;

	explicit_bzero(lc, sizeof(*lc));
	free(lc);
}

static void
login_exited(struct login_child *lc)
{
	if (lc->state == LS_AUTHENTICATED && lc->chan != NULL) {
		uint8_t *buf = xmalloc(IPC_MAX_MSG);
		struct ipc_reader r;
		if (ipc_recv_now(ipc_chan_fd(lc->chan), buf, &r) == 0) {
			if (!r.bad && r.type == IPC_LOGIN_HANDOFF)
				login_msg(lc->chan, &r, lc);
			if (r.fd != -1)
				close(r.fd);
		}
		free(buf);
	}
	login_close(lc);
	/* Deferred: an event of the current batch may still name it. */
	ev_defer(master.loop, login_free, lc);
}

void
login_violation(struct login_child *lc, const char *why)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s (state %s, client %s)", why,
	    state_name[lc->state], lc->peer.addr);
	child_kill(lc->pid, "login process", msg);
	login_close(lc);
}

void
login_verdict(struct login_child *lc, enum ipc_auth_result res)
{
	login_verdict_text(lc, res, authz_result_text(res));
}

void
login_verdict_text(struct login_child *lc, enum ipc_auth_result res,
    const char *text)
{
	struct ipc_msg m;

	if (lc->state != LS_CHECKING || lc->chan == NULL)
		fatalx("verdict for a login process in state %s",
		    state_name[lc->state]);
	if (lc->peer.proto == MK_PROTO_AUTHHTTP) {
		/* nginx is told to wait instead (Auth-Wait). */
		ev_timer_stop(master.loop, &lc->delay);
		frontdoor_http_verdict(lc, res, text, "", 0);
		lc->state = LS_NEW;
		stats_login(res == IPC_AUTH_OK);
		return;
	}
	ev_timer_stop(master.loop, &lc->delay);
	ipc_msg_init(&m, IPC_LOGIN_AUTH_RESULT);
	ipc_put_u8(&m, (uint8_t)res);
	ipc_put_str(&m, text);
	ipc_chan_send(lc->chan, &m);
	lc->state = res == IPC_AUTH_OK ? LS_AUTHENTICATED : LS_NEW;
	stats_login(res == IPC_AUTH_OK);
}

void
login_verdict_later(struct login_child *lc, enum ipc_auth_result res,
    unsigned delay_ms)
{
	if (lc->peer.proto == MK_PROTO_AUTHHTTP) {
		lc->http_wait = (delay_ms + 999) / 1000;
		delay_ms = 0;
	}
	if (delay_ms == 0) {
		login_verdict(lc, res);
		return;
	}
	lc->verdict = (uint8_t)res;
	ev_timer_start(master.loop, &lc->delay, delay_ms);
}

static bool
plaintext_allowed(const struct peer *p)
{
	return tls_plaintext_allowed(master.cfg.plaintext_auth, p->loopback,
	    p->tls);
}

static void
on_auth(struct login_child *lc, struct ipc_reader *r)
{
	uint8_t mech = ipc_get_u8(r);
	const char *authzid = ipc_get_str(r);
	const char *authcid = ipc_get_str(r);
	size_t nsecret;
	const uint8_t *secret = ipc_get_bytes(r, &nsecret);

	if (!ipc_end(r) || r->fd != -1)
		login_violation(lc, "malformed LOGIN_AUTH");
	else if (lc->peer.proxy || lc->peer.proto == MK_PROTO_AUTHHTTP)
		login_violation(lc, "LOGIN_AUTH before the PROXY header, or "
		    "from an auth_http process");
	/* The login process caps these (auth/login.c): more would not fit
	 * the hash worker's message. */
	else if (strlen(authzid) > IPC_IDENT_MAX ||
	    strlen(authcid) > IPC_IDENT_MAX || nsecret > IPC_SECRET_MAX)
		login_violation(lc, "oversized LOGIN_AUTH");
	else if (mech != IPC_MECH_LOGIN && mech != IPC_MECH_PLAIN)
		login_violation(lc, "unknown mechanism");
	else if (!plaintext_allowed(&lc->peer))
		login_violation(lc, "credentials where the policy forbids them");
	else if (mech == IPC_MECH_LOGIN && *authzid != '\0' &&
	    master.cfg.impersonation_separator[0] == '\0')
		login_violation(lc, "LOGIN authzid with the separator disabled");
	else if (++lc->attempts > master.cfg.max_auth_attempts)
		login_violation(lc, "more attempts than max_auth_attempts");
	else {
		lc->state = LS_CHECKING;
		lc->mech = mech;
		authz_login(lc, mech, authzid, authcid, secret, nsecret);
	}
	/* The password is in the channel's receive buffer: wipe it there. */
	explicit_bzero((void *)(uintptr_t)r->p, r->len);
}

void
login_tls_link(struct login_child *lc, int fd)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LOGIN_TLS_LINK);
	ipc_put_u8(&m, fd != -1);
	if (fd != -1)
		ipc_put_fd(&m, fd);	/* closed here once sent */
	ipc_chan_send(lc->chan, &m);
}

/* STARTTLS: only from a process that was offered it, on a plain
 * listener, once, before credentials, with the very socket the master
 * accepted.  The socket goes to a relay; the login process gets the
 * plaintext end. */
static void
on_starttls_req(struct login_child *lc, struct ipc_reader *r)
{
	int fd = -1;

	if (!ipc_end(r) || r->fd == -1)
		login_violation(lc, "malformed LOGIN_STARTTLS_REQ");
	else if (!lc->tls_offered || lc->peer.tls || lc->attempts > 0 ||
	    lc->peer.proxy)
		login_violation(lc, "STARTTLS where it was not offered");
	else if (!peer_matches(r->fd, &lc->peer))
		login_violation(lc, "STARTTLS with a socket that is not its "
		    "client");
	else if (relaypool_assign(ipc_take_fd(r), false, &fd,
	    &lc->peer.link) == -1)
		login_tls_link(lc, -1);
	else {
		lc->peer.tls = true;
		login_tls_link(lc, fd);
	}
}

/* Which connection the hand-off carries: the accepted socket on a plain
 * link, the plaintext end of its relay socketpair on a TLS one.  False
 * if it is neither, or the TLS flag disagrees. */
static bool
handoff_socket(struct login_child *lc, int fd, uint32_t flags)
{
	bool tls_claim = (flags & IPC_SESS_TLS) != 0;

	return tls_claim == lc->peer.tls && peer_matches(fd, &lc->peer);
}

static void
on_handoff(struct login_child *lc, struct ipc_reader *r)
{
	const char *tag = ipc_get_str(r);
	size_t npending;
	const uint8_t *pending = ipc_get_bytes(r, &npending);
	uint32_t flags = ipc_get_u32(r);
	uint32_t caps = ipc_get_u32(r);

	/* The flags must agree with what the master knows of the link; the
	 * session's flags are derived by the master itself (sessions.c). */
	(void)caps;
	/* An IMAP hand-off names the authenticating command's tag; POP3
	 * has none. */
	bool pop3 = lc->peer.proto == MK_PROTO_POP3;

	if (!ipc_end(r) || r->fd == -1 || npending > IPC_MAX_PENDING ||
	    (*tag == '\0') != pop3 || strlen(tag) > IPC_IDENT_MAX) {
		login_violation(lc, "malformed LOGIN_HANDOFF");
		return;
	}
	if (!handoff_socket(lc, r->fd, flags)) {
		login_violation(lc, "handed off a socket that is not its client");
		return;
	}
	struct session_start s = {
		.user = &lc->user, .authcid = lc->authcid,
		.authc_admin = lc->authc_admin, .method = lc->method,
		.okverb = lc->mech == IPC_MECH_PLAIN ? (pop3 ? "AUTH" :
		    "AUTHENTICATE") : (pop3 ? "PASS" : "LOGIN"),
		.tag = tag, .pending = pending, .npending = npending,
		.peer = &lc->peer, .fd = ipc_take_fd(r),
	};
	lc->state = LS_HANDED_OFF;
	/* The connection's slot moves to the session. */
	lc->counted = false;
	session_start(&s);
}

static void
login_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg)
{
	struct login_child *lc = arg;

	(void)c;
	if (r == NULL) {
		login_close(lc);
		return;
	}
	if (lc->state == LS_GONE)
		return;
	if (r->bad) {
		login_violation(lc, "malformed message");
		return;
	}
	for (size_t i = 0; i < nitems(login_msgs); i++) {
		if (login_msgs[i].type != r->type)
			continue;
		if (!(login_msgs[i].states & (1u << lc->state)))
			break;
		login_msgs[i].fn(lc, r);
		return;
	}
	char why[96];
	snprintf(why, sizeof(why), "%s not allowed here",
	    ipc_type_name(r->type));
	login_violation(lc, why);
}
