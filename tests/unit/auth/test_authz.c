/*
 * test_authz.c - the master's login-channel state machine
 * (daemon/master/children.c, authz.c) against a compromised login
 * process.
 *
 * Each test forks a real child that plays a login process gone bad: it
 * sends, over a real SEQPACKET channel, what our login code never would
 * (a hand-off without an OK verdict, a second set of credentials while
 * the first is being checked, a message of another process, a truncated
 * message, more attempts than allowed).  The child is registered with
 * login_attach(), exactly as login_spawn() does after fork, and the
 * master's real event loop runs.  The tests assert that the master
 * killed the child (SIGKILL, counted in master.nkilled), reaped it,
 * created no session and no mailbox process, released the connection's
 * slot, and kept no copy of the socket the child tried to hand off.
 *
 * The TLS cases: a STARTTLS report is accepted only from a process that
 * was given credentials, on a plain link, once, before credentials, and
 * it then lets credentials through plaintext_auth = never; a TLS link's
 * hand-off must be a socketpair of the login process's own making, with
 * the TLS flag, and a plain link's must not be one.
 */
#include "daemon/master/master.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "store/directory.h"
#include "tests/unit/auth/tls_support.h"

#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/mk-authz-XXXXXX";
static struct ev_loop *loop;
static struct directory *dir;
static struct tls_creds *creds;
/* Applied to the login child's record right after login_attach(). */
static void (*prep_hook)(struct login_child *lc);

int
test_authz_init(void)
{
	struct mk_config cfg;
	char path[PATH_MAX], err[256];

	log_init("test_authz", true, 0);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", tmpdir);
	cfg.max_auth_attempts = 2;
	/* The fake clients use documentation addresses, not loopback. */
	cfg.plaintext_auth = MK_PLAINTEXT_ALWAYS;
	snprintf(path, sizeof(path), "%s/directory.db", tmpdir);
	if (dir_open(path, true, &dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	char cert[PATH_MAX], key[PATH_MAX];
	if (tt_make_cert(tmpdir, "authz", cert, key) == -1 ||
	    tls_creds_load(cert, key, "", &creds, err, sizeof(err)) != 0)
		return -1;
	loop = ev_loop_new();
	return master_core_init(&cfg, loop, dir);
}

int
test_authz_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	hashpool_stop();
	dir_close(dir);
	tls_creds_free(creds);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the fake login process ---- */

typedef void (*script_fn)(int chan, int client, int report);

static void
send_msg(int chan, struct ipc_msg *m)
{
	if (ipc_send_now(chan, m) == -1)
		_exit(3);
}

static void
send_auth(int chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LOGIN_AUTH);
	ipc_put_u8(&m, IPC_MECH_LOGIN);
	ipc_put_str(&m, "");
	ipc_put_str(&m, "alice");
	ipc_put_bytes(&m, "guess", 5);
	send_msg(chan, &m);
}

static void
send_handoff(int chan, int client)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LOGIN_HANDOFF);
	ipc_put_str(&m, "a1");
	ipc_put_bytes(&m, "b1 SELECT INBOX\r\n", 17);
	ipc_put_u32(&m, IPC_SESS_ADMIN);	/* a lie, too */
	ipc_put_u32(&m, 0);
	ipc_put_fd(&m, client);
	send_msg(chan, &m);
}

/* Waits for the verdict and reports it to the test. */
static void
relay_verdict(int chan, int report)
{
	static uint8_t buf[IPC_MAX_MSG];
	struct ipc_reader r;

	if (ipc_recv_now(chan, buf, &r) == -1 || r.type != IPC_LOGIN_AUTH_RESULT)
		_exit(4);
	uint8_t res = ipc_get_u8(&r);
	(void)!write(report, &res, 1);
}

static void
script_handoff_unauthenticated(int chan, int client, int report)
{
	(void)report;
	send_handoff(chan, client);
}

static void
script_auth_twice(int chan, int client, int report)
{
	(void)client;
	(void)report;
	send_auth(chan);
	send_auth(chan);
}

static void
script_foreign_message(int chan, int client, int report)
{
	struct ipc_msg m;

	(void)client;
	(void)report;
	ipc_msg_init(&m, IPC_HASH_RESULT);
	ipc_put_u64(&m, 1);
	ipc_put_u8(&m, 1);
	send_msg(chan, &m);
}

static void
script_truncated(int chan, int client, int report)
{
	struct ipc_msg m;

	(void)client;
	(void)report;
	ipc_msg_init(&m, IPC_LOGIN_AUTH);
	ipc_put_u8(&m, IPC_MECH_PLAIN);
	ipc_put_str(&m, "");
	send_msg(chan, &m);
}

/* Credentials no login process sends (it caps them): a password that,
 * forwarded to a hash worker, would not fit one message. */
static void
script_oversized_auth(int chan, int client, int report)
{
	static uint8_t secret[IPC_SECRET_MAX + 1];
	struct ipc_msg m;

	(void)client;
	(void)report;
	memset(secret, 'p', sizeof(secret));
	ipc_msg_init(&m, IPC_LOGIN_AUTH);
	ipc_put_u8(&m, IPC_MECH_PLAIN);
	ipc_put_str(&m, "");
	ipc_put_str(&m, "alice");
	ipc_put_bytes(&m, secret, sizeof(secret));
	send_msg(chan, &m);
}

static void
script_handoff_after_refusal(int chan, int client, int report)
{
	send_auth(chan);
	relay_verdict(chan, report);
	send_handoff(chan, client);
}

static void
script_too_many_attempts(int chan, int client, int report)
{
	(void)client;
	for (int i = 0; i < 3; i++) {
		send_auth(chan);
		relay_verdict(chan, report);
	}
}

/* ---- running one scenario ---- */

struct outcome {
	bool     killed;	/* the child died of SIGKILL (we reaped it) */
	uint8_t  verdicts[4];	/* what the child was told */
	size_t   nverdicts;
	bool     client_closed;	/* nobody holds the handed-off socket */
};

static struct {
	pid_t pid;
	uint64_t deadline;
} watch;

static void
watch_cb(struct ev_timer *t)
{
	/* children.c reaped the child once it is no longer in the table. */
	if (children_count() == 0 || now_ms() > watch.deadline)
		ev_loop_break(loop);
	else
		ev_timer_start(loop, t, 20);
}

/* The inode of the client socketpair end of the running script: what
 * relaypool_assign() would have recorded as the TLS link. */
static ino_t script_client_ino;

static struct outcome
run_script(script_fn fn, const char *addr)
{
	struct outcome o = { 0 };
	int chan[2], client[2], report[2];
	unsigned long killed_before = master.nkilled;
	struct ev_timer t;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, chan) == 0);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, client) == 0);
	struct stat cst;
	CU_ASSERT_FATAL(fstat(client[1], &cst) == 0);
	script_client_ino = cst.st_ino;
	CU_ASSERT_FATAL(pipe(report) == 0);
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		ev_signals_reset();
		close(chan[0]);
		close(client[0]);
		close(report[0]);
		fn(chan[1], client[1], report[1]);
		/* A compromised process would linger; the master must kill it. */
		for (;;)
			pause();
	}
	close(chan[1]);
	close(client[1]);
	close(report[1]);

	struct peer p;
	memset(&p, 0, sizeof(p));
	mk_strlcpy(p.addr, addr, sizeof(p.addr));
	p.rec = addr_get(addr);
	p.rec->conns++;
	master.nconn++;
	struct login_child *lc = login_attach(pid, chan[0], &p);
	if (prep_hook != NULL)
		prep_hook(lc);

	watch.pid = pid;
	watch.deadline = now_ms() + 5000;
	ev_timer_init(&t, watch_cb, NULL);
	ev_timer_start(loop, &t, 20);
	ev_loop_run(loop);
	ev_timer_stop(loop, &t);

	/* Still there after the deadline: fail, and clean up. */
	if (children_count() != 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		children_reap();
	}
	o.killed = master.nkilled == killed_before + 1 &&
	    kill(pid, 0) == -1 && errno == ESRCH;
	o.nverdicts = (size_t)read(report[0], o.verdicts, sizeof(o.verdicts));
	if (o.nverdicts > sizeof(o.verdicts))
		o.nverdicts = 0;
	close(report[0]);
	struct pollfd pfd = { .fd = client[0], .events = POLLIN };
	char b;
	o.client_closed = poll(&pfd, 1, 1000) == 1 && read(client[0], &b, 1) == 0;
	close(client[0]);
	return o;
}

static void
assert_nothing_left(void)
{
	CU_ASSERT_EQUAL(children_count(), 0);
	CU_ASSERT_EQUAL(sessions_count(), 0);
	CU_ASSERT_EQUAL(mboxes_count(), 0);
	CU_ASSERT_EQUAL(master.nconn, 0);
}

/* ---- the tests ---- */

void
test_handoff_without_auth_is_killed(void)
{
	struct outcome o = run_script(script_handoff_unauthenticated,
	    "192.0.2.1");

	CU_ASSERT_TRUE(o.killed);
	CU_ASSERT_TRUE(o.client_closed);
	assert_nothing_left();
}

void
test_second_auth_while_checking_is_killed(void)
{
	struct outcome o = run_script(script_auth_twice, "192.0.2.2");

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

void
test_foreign_message_is_killed(void)
{
	struct outcome o = run_script(script_foreign_message, "192.0.2.3");

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

void
test_truncated_message_is_killed(void)
{
	struct outcome o = run_script(script_truncated, "192.0.2.4");

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

void
test_oversized_credentials_are_killed(void)
{
	struct outcome o = run_script(script_oversized_auth, "192.0.2.40");

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

/* A throttled address gets its verdict without any hash worker (none
 * runs in this test): the refusal comes first, the forged hand-off
 * after it is a violation. */
void
test_handoff_after_refusal_is_killed(void)
{
	struct addr_rec *r = addr_get("192.0.2.5");

	r->fails = master.cfg.auth_fail_limit;
	r->window_start = now_ms();
	struct outcome o = run_script(script_handoff_after_refusal, "192.0.2.5");

	CU_ASSERT_EQUAL(o.nverdicts, 1);
	CU_ASSERT_EQUAL(o.verdicts[0], IPC_AUTH_THROTTLED);
	CU_ASSERT_TRUE(o.killed);
	CU_ASSERT_TRUE(o.client_closed);
	assert_nothing_left();
}

/* max_auth_attempts is 2 here: the master enforces it even if the login
 * process does not. */
void
test_attempts_beyond_limit_are_killed(void)
{
	struct addr_rec *r = addr_get("192.0.2.6");

	r->fails = master.cfg.auth_fail_limit;
	r->window_start = now_ms();
	struct outcome o = run_script(script_too_many_attempts, "192.0.2.6");

	CU_ASSERT_EQUAL(o.nverdicts, 2);
	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

/* With plaintext_auth = loopback, a login process must not forward
 * credentials of a remote plaintext client at all. */
void
test_credentials_against_policy_are_killed(void)
{
	master.cfg.plaintext_auth = MK_PLAINTEXT_LOOPBACK;
	struct outcome o = run_script(script_handoff_after_refusal, "192.0.2.8");
	master.cfg.plaintext_auth = MK_PLAINTEXT_ALWAYS;

	CU_ASSERT_EQUAL(o.nverdicts, 0);
	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

void
test_failure_delay_doubles_and_is_capped(void)
{
	struct addr_rec *r = addr_get("198.51.100.7");
	unsigned cap = master.cfg.auth_delay_max_ms;

	CU_ASSERT_FALSE(addr_throttled(r));
	CU_ASSERT_EQUAL(addr_fail(r), 250);
	CU_ASSERT_EQUAL(addr_fail(r), 500);
	CU_ASSERT_EQUAL(addr_fail(r), 1000);
	for (int i = 0; i < 10; i++)
		CU_ASSERT_TRUE(addr_fail(r) <= cap);
	CU_ASSERT_EQUAL(addr_fail(r), cap);
	while (r->fails < master.cfg.auth_fail_limit)
		addr_fail(r);
	CU_ASSERT_TRUE(addr_throttled(r));
	/* The window passes: the address is forgiven. */
	r->window_start -= (uint64_t)master.cfg.auth_fail_window * 1000 + 1;
	CU_ASSERT_FALSE(addr_throttled(r));
}

static const char *
key_of(const char *addr)
{
	static char key[MK_ADDRSTRLEN];
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else {
		CU_ASSERT_FATAL(inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1);
		s6->sin6_family = AF_INET6;
	}
	addr_key((struct sockaddr *)&ss, key, sizeof(key));
	return key;
}

/* Addresses are counted by network: IPv4 by address (or the configured
 * prefix), IPv6 by /64 (or the configured prefix), IPv4-mapped IPv6 as
 * the IPv4 address it is. */
void
test_addresses_count_by_prefix(void)
{
	CU_ASSERT_STRING_EQUAL(key_of("192.0.2.77"), "192.0.2.77");
	CU_ASSERT_STRING_EQUAL(key_of("::ffff:192.0.2.77"), "192.0.2.77");
	CU_ASSERT_STRING_EQUAL(key_of("2001:db8:1:2::5"), "2001:db8:1:2::/64");
	CU_ASSERT_STRING_EQUAL(key_of("2001:db8:1:2:ffff:eeee:dddd:cccc"),
	    "2001:db8:1:2::/64");
	CU_ASSERT_STRING_EQUAL(key_of("2001:db8:1:3::5"), "2001:db8:1:3::/64");
	CU_ASSERT_PTR_EQUAL(addr_get(key_of("2001:db8:1:2::5")),
	    addr_get(key_of("2001:db8:1:2::6")));

	master.cfg.auth_throttle_ipv4_prefix = 24;
	master.cfg.auth_throttle_ipv6_prefix = 48;
	CU_ASSERT_STRING_EQUAL(key_of("192.0.2.77"), "192.0.2.0/24");
	CU_ASSERT_STRING_EQUAL(key_of("::ffff:192.0.2.77"), "192.0.2.0/24");
	CU_ASSERT_STRING_EQUAL(key_of("2001:db8:1:2::5"), "2001:db8:1::/48");
	master.cfg.auth_throttle_ipv4_prefix = 20;
	master.cfg.auth_throttle_ipv6_prefix = 57;
	CU_ASSERT_STRING_EQUAL(key_of("192.0.31.77"), "192.0.16.0/20");
	CU_ASSERT_STRING_EQUAL(key_of("2001:db8:1:2ff::5"),
	    "2001:db8:1:280::/57");
	master.cfg.auth_throttle_ipv6_prefix = 128;
	CU_ASSERT_STRING_EQUAL(key_of("2001:db8:1:2::5"), "2001:db8:1:2::5");
	master.cfg.auth_throttle_ipv4_prefix = 32;
	master.cfg.auth_throttle_ipv6_prefix = 64;
}

/* A login counts as a failure from submission until it succeeds. */
void
test_pending_logins_count_as_failures(void)
{
	struct addr_rec *r = addr_get("198.51.100.9");

	r->fails = master.cfg.auth_fail_limit - 2;
	r->window_start = now_ms();
	CU_ASSERT_FALSE(addr_throttled(r));
	addr_begin(r);
	addr_begin(r);
	CU_ASSERT_TRUE(addr_throttled(r));
	CU_ASSERT_EQUAL(addr_end(r, false), 0);	/* that one succeeded */
	CU_ASSERT_FALSE(addr_throttled(r));
	CU_ASSERT_TRUE(addr_end(r, true) > 0);	/* that one failed */
	CU_ASSERT_EQUAL(r->fails, master.cfg.auth_fail_limit - 1);
	CU_ASSERT_EQUAL(r->pending, 0);
	r->fails = 0;
}

/* ---- TLS ---- */

/* STARTTLS as a login process asks for it: with its client socket.
 * No relay runs here, so a legal request is answered "no link". */
static void
send_starttls(int chan, int client)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LOGIN_STARTTLS_REQ);
	ipc_put_fd(&m, dup(client));
	send_msg(chan, &m);
}

static void
send_handoff_flags(int chan, int fd, uint32_t flags)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LOGIN_HANDOFF);
	ipc_put_str(&m, "a1");
	ipc_put_bytes(&m, "", 0);
	ipc_put_u32(&m, flags);
	ipc_put_u32(&m, 0);
	ipc_put_fd(&m, fd);
	send_msg(chan, &m);
}

static void
script_starttls(int chan, int client, int report)
{
	(void)report;
	send_starttls(chan, client);
}

/* The old report (IPC 10) with no socket: no longer legal. */
static void
script_old_starttls_report(int chan, int client, int report)
{
	struct ipc_msg m;

	(void)client;
	(void)report;
	ipc_msg_init(&m, IPC_LOGIN_STARTTLS);
	send_msg(chan, &m);
}

/* Behaves: sends credentials on a link the master recorded as TLS,
 * reports the verdict and leaves (so it is not killed). */
static void
script_auth_and_leave(int chan, int client, int report)
{
	(void)client;
	send_auth(chan);
	relay_verdict(chan, report);
	_exit(0);
}

static void
script_auth_then_starttls(int chan, int client, int report)
{
	send_auth(chan);
	relay_verdict(chan, report);
	send_starttls(chan, client);
}

/* The client socket the test (standing for the master) linked to a
 * relay: accepted on a TLS link. */
static void
script_handoff_linked_and_leave(int chan, int client, int report)
{
	(void)report;
	send_handoff_flags(chan, client, IPC_SESS_TLS);
	_exit(0);
}

static void
script_handoff_own_pair(int chan, uint32_t flags)
{
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		_exit(5);
	send_handoff_flags(chan, sp[1], flags);
}

static void
script_handoff_own_pair_tls(int chan, int client, int report)
{
	(void)client;
	(void)report;
	script_handoff_own_pair(chan, IPC_SESS_TLS);
}

static void
script_handoff_own_pair_no_flag(int chan, int client, int report)
{
	(void)client;
	(void)report;
	script_handoff_own_pair(chan, 0);
}

static void
prep_authenticated_tls(struct login_child *lc)
{
	lc->state = LS_AUTHENTICATED;
	lc->peer.implicit_tls = lc->peer.tls = true;
	lc->peer.link = script_client_ino;
}

static void
prep_starttls_linked(struct login_child *lc)
{
	lc->peer.tls = true;
	lc->peer.link = script_client_ino;
}

static void
prep_authenticated_plain(struct login_child *lc)
{
	lc->state = LS_AUTHENTICATED;
}

static void
prep_implicit_tls(struct login_child *lc)
{
	lc->peer.implicit_tls = lc->peer.tls = true;
}

/* Runs fn with master.tls set (as if a certificate were configured when
 * the child was forked) and prep applied to its record. */
static struct outcome
run_tls_script(script_fn fn, const char *addr, void (*prep)(struct login_child *))
{
	master.tls = creds;
	prep_hook = prep;
	struct outcome o = run_script(fn, addr);
	prep_hook = NULL;
	master.tls = NULL;
	return o;
}

void
test_starttls_without_certificate_is_killed(void)
{
	struct outcome o = run_script(script_starttls, "192.0.2.20");

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

void
test_starttls_twice_is_killed(void)
{
	struct outcome o = run_tls_script(script_starttls, "192.0.2.21",
	    prep_starttls_linked);

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

void
test_old_starttls_report_is_killed(void)
{
	struct outcome o = run_tls_script(script_old_starttls_report,
	    "192.0.2.31", NULL);

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

void
test_starttls_on_implicit_tls_is_killed(void)
{
	struct outcome o = run_tls_script(script_starttls, "192.0.2.22",
	    prep_implicit_tls);

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

void
test_starttls_after_credentials_is_killed(void)
{
	struct addr_rec *r = addr_get("192.0.2.23");

	r->fails = master.cfg.auth_fail_limit;
	r->window_start = now_ms();
	struct outcome o = run_tls_script(script_auth_then_starttls,
	    "192.0.2.23", NULL);

	CU_ASSERT_EQUAL(o.nverdicts, 1);
	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

/* plaintext_auth = never: once the master linked the connection to a
 * relay the credentials are legal (the throttled address makes the
 * verdict come without a hash). */
void
test_starttls_lets_credentials_through_policy(void)
{
	struct addr_rec *r = addr_get("192.0.2.24");

	r->fails = master.cfg.auth_fail_limit;
	r->window_start = now_ms();
	master.cfg.plaintext_auth = MK_PLAINTEXT_NEVER;
	struct outcome o = run_tls_script(script_auth_and_leave,
	    "192.0.2.24", prep_starttls_linked);
	master.cfg.plaintext_auth = MK_PLAINTEXT_ALWAYS;

	CU_ASSERT_FALSE(o.killed);
	CU_ASSERT_EQUAL(o.nverdicts, 1);
	CU_ASSERT_EQUAL(o.verdicts[0], IPC_AUTH_THROTTLED);
	assert_nothing_left();
}

/* A socketpair the login process made itself is not the link. */
void
test_tls_handoff_of_foreign_socketpair_is_killed(void)
{
	struct outcome o = run_tls_script(script_handoff_own_pair_tls,
	    "192.0.2.25", prep_authenticated_tls);

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

/* The link the master recorded is accepted (the session then fails
 * to start here, with no user directory: not a kill). */
void
test_tls_handoff_of_the_link_is_accepted(void)
{
	struct outcome o = run_tls_script(script_handoff_linked_and_leave,
	    "192.0.2.32", prep_authenticated_tls);

	CU_ASSERT_FALSE(o.killed);
	assert_nothing_left();
}

void
test_tls_handoff_without_tls_flag_is_killed(void)
{
	struct outcome o = run_tls_script(script_handoff_own_pair_no_flag,
	    "192.0.2.26", prep_authenticated_tls);

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

/* No STARTTLS report: a relay socketpair on a plain link is a lie. */
void
test_relay_socket_on_plain_link_is_killed(void)
{
	struct outcome o = run_tls_script(script_handoff_own_pair_tls,
	    "192.0.2.27", prep_authenticated_plain);

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

void
test_peer_is_relay(void)
{
	int sp[2], sq[2], tcp;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq) == 0);
	tcp = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(tcp != -1);
	CU_ASSERT_TRUE(peer_is_relay(sp[0], getpid()));
	CU_ASSERT_TRUE(peer_is_relay(sp[1], getpid()));
	CU_ASSERT_FALSE(peer_is_relay(sp[0], getpid() + 1));
	CU_ASSERT_FALSE(peer_is_relay(sp[0], 0));
	CU_ASSERT_FALSE(peer_is_relay(sq[0], getpid()));
	CU_ASSERT_FALSE(peer_is_relay(tcp, getpid()));
	/* Made by a child and passed on: still the child's. */
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		int cp[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, cp) == -1)
			_exit(1);
		struct ipc_msg m;
		ipc_msg_init(&m, IPC_LOGIN_HANDOFF);
		ipc_put_fd(&m, cp[1]);
		_exit(ipc_send_now(sq[1], &m) == 0 ? 0 : 2);
	}
	static uint8_t buf[IPC_MAX_MSG];
	struct ipc_reader r;
	CU_ASSERT_FATAL(ipc_recv_now(sq[0], buf, &r) == 0);
	CU_ASSERT_TRUE(r.fd != -1);
	CU_ASSERT_TRUE(peer_is_relay(r.fd, pid));
	CU_ASSERT_FALSE(peer_is_relay(r.fd, getpid()));
	int status;
	waitpid(pid, &status, 0);
	CU_ASSERT_TRUE(peer_is_relay(r.fd, pid));	/* even once it is gone */
	close(r.fd);
	close(sp[0]);
	close(sp[1]);
	close(sq[0]);
	close(sq[1]);
	close(tcp);
}

/* ---- POP3: the protocol is the master's record, the tag must fit ---- */

static void
script_handoff_own_pair_tls_untagged(int chan, int client, int report)
{
	struct ipc_msg m;
	int sp[2];

	(void)client;
	(void)report;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		_exit(5);
	ipc_msg_init(&m, IPC_LOGIN_HANDOFF);
	ipc_put_str(&m, "");
	ipc_put_bytes(&m, "", 0);
	ipc_put_u32(&m, IPC_SESS_TLS);
	ipc_put_u32(&m, 0);
	ipc_put_fd(&m, sp[1]);
	send_msg(chan, &m);
}

static void
prep_authenticated_tls_pop3(struct login_child *lc)
{
	prep_authenticated_tls(lc);
	lc->peer.proto = MK_PROTO_POP3;
}

/* A POP3 login process has no tag to hand off: one that sends one is
 * not running our code. */
void
test_pop3_handoff_with_a_tag_is_killed(void)
{
	struct outcome o = run_tls_script(script_handoff_own_pair_tls,
	    "192.0.2.28", prep_authenticated_tls_pop3);

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

/* ...and an IMAP one always has one. */
void
test_imap_handoff_without_a_tag_is_killed(void)
{
	struct outcome o = run_tls_script(script_handoff_own_pair_tls_untagged,
	    "192.0.2.29", prep_authenticated_tls);

	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
}

/* Behaves: hands off untagged and leaves (so it is not killed). */
static void
script_handoff_untagged_and_leave(int chan, int client, int report)
{
	struct ipc_msg m;

	(void)report;
	ipc_msg_init(&m, IPC_LOGIN_HANDOFF);
	ipc_put_str(&m, "");
	ipc_put_bytes(&m, "", 0);
	ipc_put_u32(&m, IPC_SESS_TLS);
	ipc_put_u32(&m, 0);
	ipc_put_fd(&m, client);
	send_msg(chan, &m);
	_exit(0);
}

/* The same untagged hand-off from a POP3 login process is legal: the
 * master goes on to place the session (which fails here, with no user
 * directory: the client is refused, the process not killed). */
void
test_pop3_handoff_without_a_tag_is_accepted(void)
{
	struct outcome o = run_tls_script(script_handoff_untagged_and_leave,
	    "192.0.2.30", prep_authenticated_tls_pop3);

	CU_ASSERT_FALSE(o.killed);
	assert_nothing_left();
}

/* ---- the front door (frontdoor.c) against a compromised child ---- */

static void
send_proxy(int chan, const char *addr)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LOGIN_PROXY);
	ipc_put_u8(&m, 4);
	ipc_put_str(&m, addr);
	ipc_put_u32(&m, 1234);
	send_msg(chan, &m);
}

static void
send_http_auth(int chan)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LOGIN_HTTP_AUTH);
	ipc_put_str(&m, "198.51.100.1");
	ipc_put_u8(&m, MK_PROTO_IMAP);
	ipc_put_u32(&m, 1);
	ipc_put_u8(&m, IPC_MECH_PLAIN);
	ipc_put_str(&m, "");
	ipc_put_str(&m, "alice");
	ipc_put_bytes(&m, "guess", 5);
	send_msg(chan, &m);
}

/* A client address claimed by a connection the master did not accept
 * from a trusted proxy: the claim is never believed. */
static void
script_proxy_untrusted(int chan, int client, int report)
{
	(void)client;
	(void)report;
	send_proxy(chan, "198.51.100.7");
}

/* Credentials before the expected PROXY header. */
static void
script_auth_before_proxy(int chan, int client, int report)
{
	(void)client;
	(void)report;
	send_auth(chan);
}

/* The header twice: the second would move the connection again. */
static void
script_proxy_twice(int chan, int client, int report)
{
	(void)client;
	(void)report;
	send_proxy(chan, "198.51.100.8");
	send_proxy(chan, "198.51.100.9");
}

/* An auth_http request from an IMAP login process. */
static void
script_http_from_imap(int chan, int client, int report)
{
	(void)client;
	(void)report;
	send_http_auth(chan);
}

static void
expect_proxy(struct login_child *lc)
{
	lc->peer.proxy = true;
}

void
test_frontdoor_claims_are_killed(void)
{
	struct outcome o;

	o = run_script(script_proxy_untrusted, "192.0.2.60");
	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
	CU_ASSERT_EQUAL(addr_get("198.51.100.7")->conns, 0);
	o = run_script(script_http_from_imap, "192.0.2.61");
	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
	prep_hook = expect_proxy;
	o = run_script(script_auth_before_proxy, "192.0.2.62");
	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
	o = run_script(script_proxy_twice, "192.0.2.63");
	prep_hook = NULL;
	CU_ASSERT_TRUE(o.killed);
	assert_nothing_left();
	/* the one header that was accepted moved the slot, and the kill
	 * gave it back */
	CU_ASSERT_EQUAL(addr_get("198.51.100.8")->conns, 0);
	CU_ASSERT_EQUAL(addr_get("192.0.2.63")->conns, 0);
}
