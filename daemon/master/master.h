/*
 * master.h - what the files of the master process share.
 *
 * The master is split by job, one file each:
 *   master.c    main(): config, start-up checks, listeners, accept(),
 *               signals (stop, reload, children), connection limits;
 *   spawn.c     the master's side of the spawner: start it, ask it for
 *               children, notice when it dies;
 *   spawner.c   the spawner process: fork + descriptor hygiene +
 *               privilege drop, for every child;
 *   children.c  the table of children (reaping, killing) and the login
 *               channels' state machine: which message is legal when;
 *   authz.c     credential and authorization decisions, failure delays,
 *               PROXYAUTH checks, the impersonation audit;
 *   authcache.c the verified-credentials cache (logins decided again
 *               without a hash);
 *   hashpool.c  the hash-worker pool: queue, dispatch, restart;
 *   ldapdir.c   the LDAP process (directory = ldap): start, requests,
 *               timeouts, restart, and the cache of entries;
 *   sessions.c  mailbox processes and the sessions they serve;
 *   requests.c  what mailbox processes may ask: SETQUOTA, the share
 *               index, channels to a sharing user's process;
 *   addrtab.c   per-client-network records: connections, failures,
 *               logins being verified;
 *   accttab.c   per-account records: failures, the queue of a slowed
 *               account;
 *   keyholder.c the TLS key holder: start, replace, restart, channels;
 *   lmtp.c      the LMTP listeners and LMTP session processes: accept,
 *               fork, and the recipients they may ask for;
 *   control.c   the control socket (mailkeepctl who, kick, reload,
 *               stats) and the metrics port;
 *   stats.c     counters, and polls of the mailbox processes' state;
 *   report.c    the text of who and stats, the Prometheus exposition.
 *
 * Everything runs in one event loop; the state lives in one struct
 * master, so each file reads as the handler of its own messages.
 */
#ifndef MK_MASTER_H
#define MK_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "common/config.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/net.h"
#include "store/directory.h"
#include "auth/password.h"
#include "auth/tls.h"

/* ---- per client address (addrtab.c) ---- */

struct addr_rec {
	char             addr[MK_ADDRSTRLEN];	/* addr_key() */
	unsigned         conns;		/* open connections from here */
	unsigned         fails;		/* failed logins in the current window */
	unsigned         pending;	/* logins being verified */
	uint64_t         window_start;	/* monotonic ms of the window's first failure */
	struct addr_rec *next;
};

/* The key the master counts a client address under: the address cut to
 * auth_throttle_ipv4_prefix / auth_throttle_ipv6_prefix bits ("a.b.c.d"
 * or "net/bits"); an IPv4-mapped IPv6 address counts as IPv4. */
void     addr_key(const struct sockaddr *sa, char *out, size_t outlen);
struct addr_rec *addr_get(const char *key);
/* One connection from r has ended. */
void     addr_conn_done(struct addr_rec *r);
/* True if r's failures plus its pending verifications reached
 * auth_fail_limit within auth_fail_window. */
bool     addr_throttled(struct addr_rec *r);
/* True if r has auth_max_pending_per_addr verifications pending. */
bool     addr_pending_full(const struct addr_rec *r);
/* A verification from r starts; it counts against r until it ends. */
void     addr_begin(struct addr_rec *r);
/* It ended; if it failed, counts the failure and returns the delay (ms)
 * before answering it, else 0. */
unsigned addr_end(struct addr_rec *r, bool failed);
/* Counts one failure; returns the delay (ms) before answering it. */
unsigned addr_fail(struct addr_rec *r);
void     addr_sweep(void);
void     addr_clear(void);

/* ---- per account name (accttab.c) ---- */

struct acct_rec;
/* An attempt waiting for its turn at a slow account. */
struct acct_waiter {
	struct acct_waiter *prev, *next;
	bool   queued;
	/* Its turn: it holds the account's slot (as ACCT_GO_SERIAL). */
	void (*start)(struct acct_waiter *w);
};
enum acct_gate {
	ACCT_GO,		/* not slowed: verify now */
	ACCT_GO_SERIAL,		/* verify now, holding the account's slot */
	ACCT_WAIT,		/* queued: w->start() is called later */
};
enum acct_outcome { ACCT_SUCCEEDED, ACCT_FAILED, ACCT_NO_ANSWER };

/* The record of a canonical name (known: a user of the directory);
 * NULL when the table has no room for another name that is not a user. */
struct acct_rec *acct_get(const char *name, bool known);
/* True if the account reached auth_account_fail_limit in its window. */
bool     acct_slow(struct acct_rec *a);
unsigned acct_fails(const struct acct_rec *a);
size_t   acct_waiting(const struct acct_rec *a);
/* An attempt from network key (addr_key()) wants to verify. */
enum acct_gate acct_enter(struct acct_rec *a, const char *key,
	struct acct_waiter *w);
/* A waiting (ACCT_WAIT, not yet started) attempt is abandoned. */
void     acct_cancel(struct acct_rec *a, struct acct_waiter *w);
/* An entered attempt ended (serial: it held the slot); returns the delay
 * (ms) before a failure is answered, 0 if the account is not slow. */
unsigned acct_done(struct acct_rec *a, bool serial, enum acct_outcome how,
	const char *key);
/* True if no attempt is held, running or waiting at any account. */
bool     acct_idle(void);
void     acct_sweep(void);
void     acct_clear(void);

/* The master's own record of a client connection: taken from accept(),
 * never from a child. */
struct peer {
	struct sockaddr_storage remote, local;
	socklen_t        remotelen, locallen;
	char             addr[MK_ADDRSTRLEN];
	bool             loopback;
	bool             implicit_tls;	/* accepted on a listen_tls socket */
	uint8_t          proto;		/* enum mk_proto of its listener */
	/* The link is TLS: implicit_tls, or the login process reported a
	 * STARTTLS handshake (it affects only what is advertised and logged). */
	bool             tls;
	/* Not 0: the link is TLS and the client's socket is, for the login
	 * and mailbox processes, this socketpair end (its inode) that the
	 * master made; the other end is a pool relay's (relaypool.c). */
	ino_t            link;
	struct addr_rec *rec;
	/* The front door (frontdoor.c): accepted from trusted_proxies, so
	 * a PROXY protocol header comes first (proxy), and once it came,
	 * addr and rec are the client's it names and via the proxy's. */
	bool             proxy;
	char             via[MK_ADDRSTRLEN];
};

/* True if fd is the connection p describes: the socket connected exactly
 * as p was when accepted, or for a TLS one its relay socketpair end. */
bool peer_matches(int fd, const struct peer *p);
/* True if fd is a stream socketpair end created by process pid. */
bool peer_is_relay(int fd, pid_t pid);
/* Releases the connection's slot (total and per address). */
void peer_release(struct peer *p);
/* Tells a client the master turns away why, in its protocol ("* BYE"
 * or POP3's "-ERR [SYS/TEMP]"), and closes fd. */
void peer_refuse(int fd, uint8_t proto, const char *text);

/* ---- children (children.c) ---- */

enum child_kind { CHILD_LOGIN, CHILD_HASH, CHILD_MBOX, CHILD_LMTP,
	CHILD_KEYHOLDER, CHILD_RELAY, CHILD_LDAP, CHILD_CLUSTER_KH, CHILD_LINK,
	CHILD_RESTORE };

void   children_init(void);
void   child_add(pid_t pid, enum child_kind kind, void *obj);
/* SIGKILLs a child that broke the protocol; the record goes at reaping. */
void   child_kill(pid_t pid, const char *role, const char *why);
/* SIGTERM to every child (clean stop). */
void   children_terminate(int sig);
size_t children_count(void);
/* Collects exited children; called on SIGCHLD. */
void   children_reap(void);

enum login_state {
	LS_NEW,			/* waiting for credentials */
	LS_CHECKING,		/* a verdict is being worked out */
	LS_AUTHENTICATED,	/* OK sent; only a hand-off may follow */
	LS_HANDED_OFF,		/* the session belongs to a mailbox process */
	LS_GONE,		/* channel closed or child killed */
};

struct login_child {
	pid_t            pid;
	struct ipc_chan *chan;
	enum login_state state;
	struct peer      peer;
	bool             counted;	/* holds a connection slot */
	bool             tls_offered;	/* forked with TLS credentials */
	unsigned         attempts;
	uint64_t         started;	/* monotonic ms, at login_attach() */
	/* LS_CHECKING */
	uint64_t         hash_req;	/* 0 when none in flight */
	struct ev_timer  delay;		/* a failure verdict waiting to go */
	uint8_t          verdict;
	struct auth_attempt *attempt;
	/* LS_AUTHENTICATED: what the master itself established */
	struct dir_user  user;		/* whose mailbox the session acts on */
	char             authcid[MK_USER_MAX];
	bool             authc_admin;
	uint8_t          method;	/* ipc_imp_method */
	uint8_t          mech;		/* ipc_auth_mech, for the OK verb */
	/* auth_http (frontdoor.c): the seconds nginx is to wait with a
	 * failure's answer (the delay a direct login would have had). */
	uint32_t         http_wait;
	bool             http_close;	/* no Auth-Wait: nginx hangs up */
	uint8_t          http_proto;	/* what nginx proxies: IMAP, POP3 */
};

/* Forks a login process for a freshly accepted client; takes fd. */
void login_spawn(int fd, const struct peer *peer);
/* A connection back from its session after UNAUTHENTICATE (RFC 8437):
 * a login process continues it, without a greeting, reading pending
 * first; relayed when the link is a TLS relay's socketpair. */
struct login_resume {
	bool           relayed;
	const uint8_t *pending;
	size_t         npending;
};
/* Forks that login process; takes fd and the connection's slot. */
void login_resume(int fd, const struct peer *peer,
	const struct login_resume *res);
/* Registers a login process whose channel end is chan_fd (also what a
 * test uses to put a fake login process under the real state machine). */
struct login_child *login_attach(pid_t pid, int chan_fd, const struct peer *peer);
/* Sends the verdict and moves the child to its next state. */
void login_verdict(struct login_child *lc, enum ipc_auth_result res);
/* Answers IPC_LOGIN_STARTTLS_REQ (or a proxied implicit-TLS
 * connection's IPC_LOGIN_PROXY): the relay link fd, or -1 (none). */
void login_tls_link(struct login_child *lc, int fd);
/* The same with a text of its own (a referral's URL). */
void login_verdict_text(struct login_child *lc, enum ipc_auth_result res,
	const char *text);
/* The same after delay_ms (failures are answered slowly). */
void login_verdict_later(struct login_child *lc, enum ipc_auth_result res,
	unsigned delay_ms);
/* Kills a login process that broke the protocol. */
void login_violation(struct login_child *lc, const char *why);

/* ---- credentials (authz.c) ---- */

/* Starts checking one IPC_LOGIN_AUTH; ends in login_verdict(). */
void authz_login(struct login_child *lc, uint8_t mech, const char *authzid,
	const char *authcid, const uint8_t *secret, size_t nsecret);
/* Forgets the login child's attempt (it died while checking). */
void authz_abandon(struct login_child *lc);
/* PROXYAUTH: may the admin become target?  Fills *t on OK. */
enum ipc_auth_result authz_proxy(const char *admin, const char *target,
	struct dir_user *t);
/* Logs and records the start of an impersonated session. */
/* 0, or -1 if the audit row could not be written: the impersonation
 * must then not happen (fail closed). */
int  authz_audit_start(const char *admin, const char *target,
	uint8_t method, const char *client, uint64_t session);
void authz_audit_end(const char *admin, const char *target,
	uint64_t session);
const char *authz_method_name(uint8_t method);
/* ---- frontdoor.c: nginx's auth_http and the PROXY protocol ---- */

/* The PROXY header's client (IPC_LOGIN_PROXY), from a trusted proxy. */
void frontdoor_on_proxy(struct login_child *lc, struct ipc_reader *r);
/* One auth_http request (IPC_LOGIN_HTTP_AUTH). */
void frontdoor_on_http_auth(struct login_child *lc, struct ipc_reader *r);
/* The answer to an auth_http request; ip and port only with OK. */
void frontdoor_http_verdict(struct login_child *lc,
	enum ipc_auth_result res, const char *text, const char *ip,
	uint16_t port);
/* The password matched and u (the user, or the target of an
 * administrator) is to be served: tells nginx where. */
void frontdoor_route(struct login_child *lc, const struct dir_user *u);

/* The NO text that refers a client to backend b (RFC 2221
 * "[REFERRAL imap://login@host:port/] ..."; POP3: words). */
void authz_referral_text(const struct login_child *lc, const char *login,
	const struct cfg_backend *b, char *out, size_t outlen);
/* PROXYAUTH by admin to t, held by another backend: true, with the
 * answer's text (a REFERRAL code, RFC 2221) in out. */
bool authz_proxy_referral(const char *admin, const struct dir_user *t,
	char *out, size_t outlen);
const char *authz_result_text(enum ipc_auth_result res);

/* ---- verified credentials (authcache.c) ---- */

#define AUTHCACHE_DIGEST 32	/* HMAC-SHA256 */

/* What a login is looked up (and, once verified, stored) by. */
struct authcache_probe {
	uint8_t cred[AUTHCACHE_DIGEST];	/* HMAC(key, user NUL password) */
	uint8_t hdig[AUTHCACHE_DIGEST];	/* HMAC(key, NUL stored hash) */
	bool    valid;			/* computed (the cache is on) */
	uint32_t gen;			/* under which key */
};
enum authcache_result {
	AUTHCACHE_MISS,		/* no entry for the pair */
	AUTHCACHE_HIT,		/* verified, still valid: no hash needed */
	AUTHCACHE_EXPIRED,	/* verified too long ago (entry dropped) */
	AUTHCACHE_STALE,	/* the user's hash, admin flag or id changed
				 * since (entry dropped) */
};
struct authcache_stats {
	size_t   entries, capacity;
	uint64_t hits, misses, expired, stale, evicted, stored;
};

/* Applies auth_cache_ttl and auth_cache_size (at start and on reload):
 * ttl 0 empties and disables it; a new size empties it.  0, or -1 if
 * the cache could not be set up (it is then off, and logged). */
int  authcache_configure(unsigned ttl_s, unsigned size);
bool authcache_enabled(void);
/* Fills p for canonical user name, presented password and the user's
 * stored hash string (p->valid false if the cache is off). */
void authcache_digest(const char *user, const uint8_t *pw, size_t npw,
	const char *hash, struct authcache_probe *p);
/* Is p's pair verified for the directory row (uid, admin; its hash is
 * in p->hdig) within the TTL?  A stale or expired entry is dropped. */
enum authcache_result authcache_check(const struct authcache_probe *p,
	uint32_t uid, bool admin);
/* Records a pair a hash worker has just verified (successes only). */
void authcache_put(const struct authcache_probe *p, uint32_t uid,
	bool admin);
/* Drops expired entries (the master's periodic sweep). */
void authcache_sweep(void);
void authcache_flush(void);
size_t authcache_count(void);
void authcache_stats(struct authcache_stats *st);
/* Wipes and unmaps it (the master's exit; the tests). */
void authcache_clear(void);
/* The tests' clock (monotonic ms); NULL: now_ms(). */
void authcache_set_clock(uint64_t (*fn)(void));

/* ---- the LDAP directory (ldapdir.c; doc/ldap.md) ---- */

/* What the LDAP process said of a user, checked by the master. */
struct ldap_entry {
	char     dn[1024];
	char     hash[256];	/* ldap_auth = hash: a libxcrypt string */
	bool     admin;		/* member of ldap_admin_group */
	int64_t  quota_storage;	/* KiB; -1: the configured default */
	int64_t  quota_messages;	/* -1: the configured default */
	/* The backend attribute (ldap_backend_attr): a backend's name as
	 * `backend = NAME ...` declares it; copied into dir_user.backend
	 * (ldapusers.c). */
	char     backend[MK_BACKEND_MAX];
};
/* result: enum ipc_ldap_result; e only when IPC_LDAP_OK. */
typedef void (*ldap_entry_cb)(void *arg, int result,
	const struct ldap_entry *e);
/* result: IPC_LDAP_OK (the bind succeeded), NOTFOUND, UNAVAILABLE. */
typedef void (*ldap_bind_cb)(void *arg, int result);

bool     ldapdir_enabled(void);
/* Reads the bind password file and starts the process: -1 with err. */
int      ldapdir_start(char *err, size_t errlen);
/* After a reload (master.cfg is the new one): reads the password file
 * again, replaces the process, empties the cache.  -1 with err (the
 * password file is refused: the running process stays). */
int      ldapdir_reload(char *err, size_t errlen);
/* A fresh cached entry of name (canonical): true and *e filled. */
bool     ldapdir_cached(const char *name, struct ldap_entry *e);
/* Asks the LDAP process; cb runs later (never inside this call).
 * Returns the request id, 0 if refused (queue full, or no process):
 * the caller answers UNAVAILABLE. */
uint64_t ldapdir_lookup(const char *name, ldap_entry_cb cb, void *arg);
uint64_t ldapdir_bind(const char *dn, const uint8_t *pw, size_t n,
	ldap_bind_cb cb, void *arg);
/* The callback of a cancelled request is never called. */
void     ldapdir_cancel(uint64_t id);
void     ldapdir_flush(void);
void     ldapdir_sweep(void);
size_t   ldapdir_cache_count(void);
void     ldapdir_exited(void *obj, int status);
/* Takes a started LDAP process (spawn_ldap(), or a test's). */
void     ldapdir_attach(pid_t pid, int chan_fd);
void     ldapdir_stop(void);

/* ---- local rows of LDAP users (ldapusers.c) ---- */

/* The directory.db row of an LDAP user, for its id (uid), the audit
 * trail and the share index: made on first use (create) with the
 * DIR_HASH_LDAP marker, its admin flag and quotas kept equal to e's.
 * Fills u (with e's hash).  1 found or made, 0 absent (not create),
 * -1 directory error or an unusable uid (logged). */
int  ldapusers_row(const char *name, const struct ldap_entry *e, bool create,
	struct dir_user *u);
/* The backend e's row gets: "" (served here) on a single machine or
 * when e names this backend, else the name ldap_backend_attr gave. */
const char *ldapusers_backend(const struct ldap_entry *e);
/* Refreshes the rows of a and b (b may be NULL) from the LDAP
 * directory (cache or process), then calls done(arg, ok): ok false if
 * the directory did not answer.  The rows then hold LDAP's admin flags
 * and quotas; absent rows are not made, but b's if create_b, LDAP
 * has it and LDAP says a is an administrator.  done runs inside this call when both entries are cached,
 * later otherwise. */
void ldapusers_refresh(const char *a, const char *b, bool create_b,
	void (*done)(void *arg, bool ok), void *arg);
/* With directory = ldap: makes (or refreshes) the row of a user LDAP
 * has, so that the share index across backends knows where the user is
 * held - a grantee or an owner who never logged in here has none.  Then
 * done(arg, found): 1 the row is there, 0 LDAP has no such user, -1 no
 * answer.  Without LDAP, done(arg, 1) at once.  done may run inside
 * this call. */
void ldapusers_known(const char *name, void (*done)(void *arg, int found),
	void *arg);

/* ---- hash workers (hashpool.c) ---- */

/* result: 1 match, 0 no match, -1 no answer (worker died, pool full). */
typedef void (*hash_done_cb)(void *arg, int result);

void     hashpool_start(unsigned n);
/* Adjusts the pool to n workers (after a reload). */
void     hashpool_resize(unsigned n);
/* Copies hash and secret; returns a request id, or 0 if the queue is
 * full (cb is not called then).  A request still queued when it could no
 * longer be answered before deadline (monotonic ms; 0: none) is answered
 * -1 instead of computed. */
uint64_t hashpool_submit(const char *hash, const uint8_t *secret,
	size_t nsecret, uint64_t deadline, hash_done_cb cb, void *arg);
/* The callback of request id will not be called; a queued request
 * leaves the queue at once. */
void     hashpool_cancel(uint64_t id);
/* Registers the hash worker pid whose channel end is chan_fd: what
 * spawning a worker does after fork, and how a test puts a fake worker
 * under the real pool. */
void     hashpool_attach(pid_t pid, int chan_fd);
/* How long (ms) a request submitted now would take to be answered, from
 * the queue's length and the workers' recent speed. */
uint64_t hashpool_expected_ms(void);
struct hashpool_stats {
	unsigned alive, busy;	/* workers, and those holding a request */
	size_t   queued;
	uint64_t avg_ms;
};
void     hashpool_stats(struct hashpool_stats *st);
void     hashpool_exited(void *obj, int status);
void     hashpool_stop(void);

/* ---- mailbox processes and sessions (sessions.c) ---- */

struct session_start {
	const struct dir_user *user;	/* whose mailbox */
	const char  *authcid;
	bool         authc_admin;
	uint8_t      method;		/* ipc_imp_method */
	const char  *okverb;
	const char  *tag;
	const uint8_t *pending;
	size_t       npending;
	struct peer *peer;		/* copied; its slot moves to the session */
	int          fd;		/* taken */
	uint64_t     id;		/* 0: a new one; else decided earlier */
	bool         audited;		/* its audit row is written already */
	/* Called once when the session ends (NULL: nothing to do). */
	void       (*on_end)(void *arg);
	void        *end_arg;
};

/* Passes a client to its user's mailbox process, forking it if needed.
 * 0, or -1 if that failed (the client was told and closed). */
int    session_start(const struct session_start *s);
void   sessions_exited(void *obj, int status);
size_t sessions_count(void);
size_t mboxes_count(void);
/* Closes every mailbox channel (clean stop). */
void   sessions_stop(void);

/* A user's mailbox process, for the request handlers of requests.c. */
struct mbox;
/* Registers the mailbox process pid of user u, whose channel end is
 * chan_fd: what mbox_spawn() does after fork, and how a test puts a fake
 * mailbox process under the master's real checks (tests/unit/auth/
 * test_mbox_authz.c).  The next session for u goes to it. */
struct mbox *mbox_attach(pid_t pid, int chan_fd, const struct dir_user *u);
const char  *mbox_user(const struct mbox *mb);	/* the master's record */
uint32_t     mbox_user_id(const struct mbox *mb);
bool         mbox_has_session(struct mbox *mb, uint64_t id);
/* How session id came to act as the process's user (ipc_imp_method);
 * -1 if the process has no such session. */
int          mbox_session_method(struct mbox *mb, uint64_t id);
int          mbox_send(struct mbox *mb, struct ipc_msg *m);
/* IPC_MBOX_SHARES_STALE, unless already sent since its last SHARES. */
void         mbox_shares_stale(struct mbox *mb);
/* Bytes waiting in the channel to the process (0 if it is gone). */
size_t       mbox_queued(const struct mbox *mb);
struct mbox *mbox_running(uint32_t user_id);	/* NULL if none */
void         mboxes_foreach(void (*cb)(struct mbox *mb, void *arg), void *arg);
/* Kills a mailbox process that broke the protocol. */
void         mbox_violation(struct mbox *mb, const char *why);
/* Guest sessions (shared-folder channels) open for grantee's process. */
unsigned     guest_channels_of(const char *grantee);

/* For the live administration (control.c, stats.c). */
pid_t        mbox_pid(const struct mbox *mb);
unsigned     mbox_nsess(const struct mbox *mb);
/* Sends IPC_MBOX_STATE_REQ; -1 if the process has MBOX_STATE_PENDING
 * requests unanswered already, or is gone. */
int          mbox_state_ask(struct mbox *mb, uint64_t req);
/* A client session as the master knows it (guest and delivery channels
 * are not client sessions and are left out). */
struct session_info {
	uint64_t    id;
	const char *user;	/* whose mailbox */
	const char *authcid;	/* who authenticated */
	uint8_t     method;	/* ipc_imp_method */
	const char *addr;
	bool        tls;
	pid_t       pid;	/* of the mailbox process */
	time_t      started;
};
void         sessions_foreach(void (*cb)(const struct session_info *si,
	void *arg), void *arg);
/* Ends, with "* BYE text", every client session that acts as user or
 * that user authenticated (impersonation included).  How many. */
unsigned     sessions_kick(const char *user, const char *text);

/* ---- users being moved (freeze.c) ---- */

/* Refuses every new session of name (canonical) for seconds and ends
 * its client sessions (*kicked: how many); -1 if FREEZE_MAX users are
 * frozen already. */
int  freeze_user(const char *name, unsigned seconds, unsigned *kicked);
void thaw_user(const char *name);
bool freeze_active(const char *name);

/* ---- counters and state polls (stats.c) ---- */

struct master_counters {
	uint64_t connections, logins_ok, logins_failed;
	unsigned conns_minute, ok_minute, failed_minute;	/* last 60 s */
};
void stats_connection(void);
/* A login verdict: ok, or refused for any reason. */
void stats_login(bool ok);
void stats_counters(struct master_counters *c);

struct sess_report {
	uint64_t id;
	char     mailbox[IPC_STATE_MBOX_MAX + 1];
	uint32_t idle;		/* seconds since its last command */
};
struct mbox_state {
	char      user[MK_USER_MAX];
	pid_t     pid;
	unsigned  nsess;	/* the master's count */
	uint64_t  req;		/* 0: not asked, or lost */
	bool      answered;
	uint64_t  store_bytes;
	uint32_t  total, nlisted;
	struct sess_report *sess;
};
struct state_poll {
	struct mbox_state *st;
	size_t             n, cap;
	unsigned           waiting;
	bool               done;
	struct ev_timer    timer;
	void             (*cb)(struct state_poll *p, void *arg);
	void              *arg;
	struct state_poll *next;
};
/* Asks every mailbox process; cb runs once all answered or the time
 * is up (never inside this call).  Free with state_poll_free(), which
 * may be called before cb (cb is then never called). */
struct state_poll *state_poll_start(void (*cb)(struct state_poll *p,
	void *arg), void *arg);
void state_poll_free(struct state_poll *p);
const struct sess_report *state_find_session(const struct state_poll *p,
	uint64_t id);
/* sessions.c: an IPC_MBOX_STATE (after the request id) from mb; false
 * if malformed. */
bool stats_state_answer(struct mbox *mb, uint64_t req, struct ipc_reader *r);
/* sessions.c: mb's process is gone; its requests will not be answered. */
void stats_state_lost(pid_t pid);

/* ---- the control socket and the metrics port (control.c) ---- */

/* Opens data_dir/control (0600, root's) and metrics_listen, before
 * daemon(); starts accepting; stops and removes the socket. */
void control_open(const struct mk_config *cfg);
void control_start(void);
void control_stop(void);
/* report.c: the answers' text (who, stats; the Prometheus exposition),
 * from the master's records and a finished poll. */
void report_who(struct buf *out, const struct state_poll *p);
void report_stats(struct buf *out, const struct state_poll *p);
void report_metrics(struct buf *out, const struct state_poll *p);
/* master.c: what SIGHUP does; 0, or -1 with the reason in err. */
int  master_reload(char *err, size_t errlen);

/* ---- requests from mailbox processes (requests.c) ---- */

/* Each checks the request against the master's own record of which
 * user the process serves, then answers it. */
void req_setquota(struct mbox *mb, struct ipc_reader *r);
void req_share(struct mbox *mb, struct ipc_reader *r);
/* An entry of the share index as an owner's process may send it. */
bool share_entry_valid(const char *mailbox, const char *grantee,
	const char *rights);
void req_shares(struct mbox *mb, struct ipc_reader *r);
void shares_stale(const char *grantee);	/* NULL: every process */
void shares_watch_start(void);
void shares_watch_stop(void);
void req_guest_open(struct mbox *mb, struct ipc_reader *r, bool url);
/* The answer to a GUEST_OPEN / URL_OPEN (mb NULL: none; fd closed). */
void guest_answer(struct mbox *mb, uint64_t id, enum ipc_req_result res,
	int fd, bool url);
/* An entry into the share index, within its bounds (req_share). */
enum ipc_req_result share_index_set(uint32_t owner_id, const char *owner,
	const char *mailbox, const char *grantee, const char *rights);
/* Sends every running mailbox process its user's current limits. */
void req_quota_push_all(void);

/* ---- LMTP (lmtp.c) ---- */

/* Opens the unix socket and the TCP port, as root, before daemon(). */
void lmtp_open(const struct mk_config *cfg);
void lmtp_start(void);
/* Stops accepting and removes the socket (clean stop). */
void lmtp_stop(void);
void lmtp_exited(void *obj, int status);
/* Registers an LMTP process whose channel end is chan_fd (what the
 * accept path does after fork, and what a unit test may use). */
struct lmtp_child *lmtp_attach(pid_t pid, int chan_fd);

/* ---- the TLS key holder (keyholder.c) ---- */

/* Has the spawner fork a key holder, which opens cfg's tls_cert and
 * tls_key as root before it drops its privileges (the master never
 * opens or reads the key).  On success *out are the public credentials
 * (chain, priority) to offer, the spawner has the same chain for the
 * login processes it forks, and the key holder replaces the current
 * one, which ends once its channels are closed.  -1 with the reason for
 * the operator in err. */
int   keyholder_start(const struct mk_config *cfg, struct tls_creds **out,
	char *err, size_t errlen);
/* A channel to the key holder for a child about to be forked (the
 * caller passes it on and closes it), or -1: no key holder running. */
int   keyholder_channel_for_child(void);
/* The same for a pool relay: no cap on its operations. */
int   keyholder_channel_for_relay(void);
void  keyholder_exited(void *obj, int status);
/* Retires the current key holder (clean stop). */
void  keyholder_stop(void);
pid_t keyholder_pid(void);

/* ---- the TLS relay pool (relaypool.c) ---- */

/* Retires the running relays (they finish their connections) and starts
 * a new pool for the current key holder; none when there is no TLS. */
void  relaypool_renew(void);
/* Retires them all, starts none (clean stop). */
void  relaypool_stop(void);
void  relaypool_exited(void *obj, int status);
/* Gives client_fd (taken, closed here in any case) to the least loaded
 * relay; *plain_fd is the plaintext end for the login process and *ino
 * its inode (relaypool_is_link).  0, or -1 (logged): no relay can. */
int   relaypool_assign(int client_fd, bool implicit, int *plain_fd,
	ino_t *ino);
/* True if fd is the plaintext end recorded as ino by relaypool_assign. */
bool  relaypool_is_link(int fd, ino_t ino);
/* Relays taking new connections. */
unsigned relaypool_size(void);

/* ---- the link between backends (cluster.c, doc/move.md) ---- */

/* Opens cluster_listen as root, before daemon() (nothing if unset). */
void  cluster_open(const struct mk_config *cfg);
/* Starts the cluster key holder and accepting; -1 with err. */
int   cluster_start(char *err, size_t errlen);
void  cluster_stop(void);
void  cluster_exited(enum child_kind kind, void *obj, int status);
/* Shared folders across backends (cluster_share.c, doc/cluster.md):
 * a guest channel to owner u held by another backend (answered with
 * guest_answer() once that backend has), the streams of grantee's
 * dialed out, and an index entry to pass on to the grantee's backend
 * (or, for "anyone", every other backend). */
void  cluster_guest_remote(struct mbox *mb, uint64_t id,
	const struct dir_user *u, bool url);
unsigned cluster_streams_of(const char *grantee);
void  cluster_share_changed(const char *owner, const char *mailbox,
	const char *grantee, const char *rights);
/* At start (and at a reload), every entry of this backend's owners for
 * grantees held elsewhere is passed on again: the queue of what waits
 * for a peer is in memory, and a restart must not lose what was
 * acknowledged; mailkeepctl acl changes the index without the daemon. */
void  cluster_share_resync_soon(void);
/* sessions.c: makes data_dir/users/<name> the user's (as for a
 * mailbox process); 0 or -1 (logged). */
int   user_dir_prepare(const struct dir_user *u);

/* ---- spawn.c: asking the spawner (spawner.c) for children ---- */

/* Forks the spawner.  Called before the master opens directory.db,
 * loads the TLS key or sees a password, so the spawner, and every child
 * it forks, starts from memory that never held one.  Makes the master
 * the subreaper of what the spawner forks.  self: mailkeepd's path,
 * which the fork runs as the spawner (mailkeepd -S FD) so that it starts
 * with glibc tunables of its own; NULL (a unit test): the fork is the
 * spawner.  Fatal on failure. */
void  spawner_start(bool foreground, const char *self);
/* Sends cfg (at start, and the new one on a reload).  0, or -1 with the
 * spawner's reason in err (e.g. login_user does not exist). */
int   spawner_config(const struct mk_config *cfg, char *err, size_t errlen);
/* Each returns the new child's pid with *chan = the master's end of its
 * channel, or -1 (logged).  The child is the master's own: children.c
 * reaps it.  spawn_login takes client_fd; starttls: the login process
 * may offer STARTTLS (which a pool relay then runs); res: resumed after
 * UNAUTHENTICATE, or NULL. */
struct login_resume;
pid_t spawn_login(int client_fd, bool loopback, bool implicit_tls,
	uint8_t proto, bool starttls, bool proxy,
	const struct login_resume *res, int *chan);
pid_t spawn_hash(int *chan);
pid_t spawn_ldap(int *chan);
pid_t spawn_mbox(uint32_t user_id, const char *name, int *chan);
pid_t spawn_lmtp(int client_fd, const char *peer, int *chan);
pid_t spawn_keyholder(int *chan);
/* A pool relay with kh_fd, its channel to the key holder (taken). */
pid_t spawn_relay(int kh_fd, int *chan);
pid_t spawn_cluster_kh(int *chan);
/* A link process for client_fd with kh_fd (both taken). */
pid_t spawn_link(int client_fd, int kh_fd, int *chan);
/* A restore worker as the user's uid with copy_fd (taken). */
pid_t spawn_restore(uint32_t user_id, const char *name, int copy_fd,
	int *chan);
/* The certificate chain (PEM) of the key holder now current, for the
 * login processes forked from now on (NULL, 0: no TLS).  0, or -1 with
 * the spawner's reason in err. */
int   spawner_tls(const void *chain, size_t len, char *err, size_t errlen);
/* children.c: true if pid was the spawner (then handled here). */
bool  spawner_reaped(pid_t pid, int status);
/* True once the spawner died or stopped answering: the master stops. */
bool  spawner_failed(void);
/* Closes the spawner's channel and waits (bounded) for it to exit. */
void  spawner_stop(void);

/* spawner.c: the spawner process itself (never returns). */
__attribute__((noreturn))
void  spawner_main(int master_fd, bool foreground);

/* ---- the one master state ---- */

struct master {
	struct mk_config  cfg;
	struct ev_loop   *loop;
	struct directory *dir;
	/* The certificate chain and priority from the running key holder
	 * (no private key: keyholder.c); NULL: no certificate configured. */
	struct tls_creds *tls;
	char              dummy_hash[PASSWORD_HASH_MAX];
	bool              root;		/* privilege separation by uid */
	bool              stopping;
	unsigned          nconn;	/* client connections: pre-auth + sessions */
	unsigned long     nkilled;	/* children killed for protocol violations */
	uid_t             login_uid, hash_uid;
	gid_t             login_gid, hash_gid;
};

extern struct master master;

/* Sets up the state shared by every part (config copy, loop, directory,
 * dummy hash) without listeners: main() and the tests use it. */
int  master_core_init(const struct mk_config *cfg, struct ev_loop *loop,
	struct directory *dir);

#endif
