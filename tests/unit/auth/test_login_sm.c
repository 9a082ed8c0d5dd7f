/*
 * test_login_sm.c - every pending login ends, whatever order things
 * happen in (the master's login state machine: daemon/master/children.c,
 * authz.c, hashpool.c, accttab.c, addrtab.c).
 *
 * Three fake login processes (L1, L2, L3, registered with login_attach()
 * as login_spawn() does after fork) send credentials for one account;
 * one fake hash worker (hashpool_attach()) holds one request at a time,
 * and the test answers for it.  Then each of the 120 orders of five
 * events is played:
 *   H  the worker answers the request it holds;
 *   V  time passes beyond every failure delay (a delayed verdict is due);
 *   T  L2 times out: it closes its channel, then exits;
 *   D  L1 dies: it is killed and reaped while its channel is still open;
 *   W  the worker dies, and a new one is attached (as the pool does).
 * in four variants: L1's password right or wrong, and the account not yet
 * or already "slow" (its attempts serialized, accttab.c).  Afterwards the
 * worker answers whatever it is given until nothing more comes, and then:
 * L3, which stayed, got exactly one verdict, and it is OK (its password
 * is right); once every process is gone the hash pool holds nothing
 * (no request queued or in a worker), no network has a pending login,
 * and no account holds or queues an attempt.
 *
 * The credentials cache (off for the scenarios) has its own tests at the
 * end, with a worker that checks real hashes: a hit sends nothing to the
 * hash pool yet passes the network throttles and waits its turn at a
 * slow account; passwd/admin/userdel in the directory take effect at the
 * next login; an administrator acting as another user caches his own
 * pair only.
 *
 * The old dispatch() fails this: with L1's request in the worker and L2,
 * L3 queued, L2's timeout left a cancelled request at the head that used
 * up the worker's turn, and L3 was never verified.
 */
#include "daemon/master/master.h"
#include "auth/password.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "store/directory.h"
#include "store/store.h"

#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/mk-loginsm-XXXXXX";
static struct ev_loop *loop;
static struct directory *dir;

int
test_login_sm_init(void)
{
	struct mk_config cfg;
	char path[PATH_MAX], err[256], hash[PASSWORD_HASH_MAX];
	uint32_t id;

	log_init("test_login_sm", true, 0);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", tmpdir);
	cfg.plaintext_auth = MK_PLAINTEXT_ALWAYS;
	/* Short delays keep 480 scenarios quick; their order is the point. */
	cfg.auth_delay_max_ms = 4;
	cfg.auth_account_delay_max_ms = 4;
	cfg.auth_account_fail_limit = 3;
	/* These scenarios are about the hash path: every login is
	 * verified by the (fake) worker.  The cache tests at the end turn
	 * the credentials cache on for themselves. */
	cfg.auth_cache_ttl = 0;
	snprintf(path, sizeof(path), "%s/directory.db", tmpdir);
	if (dir_open(path, true, &dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (password_hash("right", hash, sizeof(hash)) != 0 ||
	    dir_user_add(dir, "alice", hash, &id) != 0)
		return -1;
	loop = ev_loop_new();
	return master_core_init(&cfg, loop, dir);
}

int
test_login_sm_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	hashpool_stop();
	dir_close(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- running the loop ---- */

static void
stop_cb(struct ev_timer *t)
{
	(void)t;
	ev_loop_break(loop);
}

/* Runs the master's loop for ms. */
static void
pump(unsigned ms)
{
	struct ev_timer t;

	ev_timer_init(&t, stop_cb, NULL);
	ev_timer_start(loop, &t, ms);
	ev_loop_run(loop);
	ev_timer_stop(loop, &t);
}

/* A process that only waits to be killed: the pid of a fake child. */
static pid_t
idle_child(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		ev_signals_reset();
		for (;;)
			pause();
	}
	CU_ASSERT_FATAL(pid > 0);
	return pid;
}

/* Kills pid and runs the loop until the master has reaped it. */
static void
kill_and_reap(pid_t pid)
{
	size_t before = children_count();

	kill(pid, SIGKILL);
	for (int i = 0; i < 2000 && children_count() >= before; i++)
		pump(1);
	CU_ASSERT(children_count() < before);
}

/* ---- fake login processes ---- */

struct fake_login {
	pid_t pid;
	int   chan;		/* the test's end; -1 once closed */
	bool  alive;
	char  addr[32];
};

/* The master's key for a textual client address (as accept_one()). */
static void
key_of(const char *addr, char *key, size_t len)
{
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
	addr_key((struct sockaddr *)&ss, key, len);
}

static void
login_send(struct fake_login *f, uint8_t mech, const char *authzid,
    const char *authcid, const char *pw)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LOGIN_AUTH);
	ipc_put_u8(&m, mech);
	ipc_put_str(&m, authzid);
	ipc_put_str(&m, authcid);
	ipc_put_bytes(&m, pw, strlen(pw));
	CU_ASSERT_FATAL(ipc_send_now(f->chan, &m) == 0);
}

/* A login process attached as login_spawn() does, with no request yet. */
static void
login_attach_fake(struct fake_login *f, const char *addr)
{
	int sp[2];
	struct peer p;
	char key[MK_ADDRSTRLEN];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == 0);
	f->pid = idle_child();
	f->chan = sp[1];
	f->alive = true;
	mk_strlcpy(f->addr, addr, sizeof(f->addr));
	memset(&p, 0, sizeof(p));
	mk_strlcpy(p.addr, addr, sizeof(p.addr));
	key_of(addr, key, sizeof(key));
	p.rec = addr_get(key);
	p.rec->conns++;
	master.nconn++;
	login_attach(f->pid, sp[0], &p);
}

static void
login_start_as(struct fake_login *f, const char *addr, const char *authzid,
    const char *authcid, const char *pw)
{
	login_attach_fake(f, addr);
	login_send(f, IPC_MECH_LOGIN, authzid, authcid, pw);
}

static void
login_start(struct fake_login *f, const char *addr, const char *pw)
{
	login_start_as(f, addr, "", "alice", pw);
}

/* The verdicts the login process received so far (appended to out). */
static size_t
login_verdicts(struct fake_login *f, uint8_t *out, size_t max)
{
	static uint8_t buf[IPC_MAX_MSG];
	size_t n = 0;
	struct pollfd pfd = { .fd = f->chan, .events = POLLIN };

	while (f->chan != -1 && poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & POLLIN)) {
		struct ipc_reader r;
		if (ipc_recv_now(f->chan, buf, &r) == -1)
			break;
		CU_ASSERT_EQUAL(r.type, IPC_LOGIN_AUTH_RESULT);
		if (n < max)
			out[n] = ipc_get_u8(&r);
		n++;
	}
	return n;
}

/* Its client timed out: the login process says BYE and exits, so the
 * master sees the channel close first. */
static void
login_timeout(struct fake_login *f)
{
	if (!f->alive)
		return;
	close(f->chan);
	f->chan = -1;
	pump(1);
	kill_and_reap(f->pid);
	f->alive = false;
}

/* It is killed: the master reaps it before its channel's end is read. */
static void
login_death(struct fake_login *f)
{
	if (!f->alive)
		return;
	kill_and_reap(f->pid);
	f->alive = false;
	close(f->chan);
	f->chan = -1;
	pump(1);
}

/* ---- the fake hash worker ---- */

static struct {
	pid_t pid;
	int   chan;
	/* Answers with password_verify() against the hash it was sent;
	 * else "right" matches whatever the hash. */
	bool  real;
	unsigned answered;
} worker;

static void
worker_start(void)
{
	int sp[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == 0);
	worker.pid = idle_child();
	worker.chan = sp[1];
	hashpool_attach(worker.pid, sp[0]);
	pump(2);
}

/* Answers the request the worker holds, if any; true if it did. */
static bool
worker_answer(void)
{
	static uint8_t buf[IPC_MAX_MSG];
	struct pollfd pfd = { .fd = worker.chan, .events = POLLIN };
	struct ipc_reader r;
	struct ipc_msg m;
	size_t n;

	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN) ||
	    ipc_recv_now(worker.chan, buf, &r) == -1)
		return false;
	CU_ASSERT_FATAL(r.type == IPC_HASH_CHECK);
	uint64_t id = ipc_get_u64(&r);
	const char *hash = ipc_get_str(&r);
	const uint8_t *pw = ipc_get_bytes(&r, &n);
	CU_ASSERT_FATAL(ipc_end(&r));
	ipc_msg_init(&m, IPC_HASH_RESULT);
	ipc_put_u64(&m, id);
	if (worker.real)
		ipc_put_u8(&m, password_verify(pw, n, hash));
	else
		ipc_put_u8(&m, n == 5 && memcmp(pw, "right", 5) == 0);
	worker.answered++;
	CU_ASSERT_FATAL(ipc_send_now(worker.chan, &m) == 0);
	pump(1);
	return true;
}

/* Takes every request waiting in the worker's socket without answering
 * it; their ids go to ids (at most max). */
static size_t
worker_pending(uint64_t *ids, size_t max)
{
	static uint8_t buf[IPC_MAX_MSG];
	struct pollfd pfd = { .fd = worker.chan, .events = POLLIN };
	struct ipc_reader r;
	size_t n = 0;

	while (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) &&
	    ipc_recv_now(worker.chan, buf, &r) == 0) {
		CU_ASSERT_FATAL(r.type == IPC_HASH_CHECK);
		if (n < max)
			ids[n] = ipc_get_u64(&r);
		n++;
	}
	return n;
}

/* The worker's answer to request id. */
static void
worker_reply(uint64_t id, bool match)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_HASH_RESULT);
	ipc_put_u64(&m, id);
	ipc_put_u8(&m, match ? 1 : 0);
	CU_ASSERT_FATAL(ipc_send_now(worker.chan, &m) == 0);
	pump(2);
}

static void
worker_death(void)
{
	close(worker.chan);
	kill_and_reap(worker.pid);
	worker_start();
}

static void
worker_stop(void)
{
	close(worker.chan);
	kill_and_reap(worker.pid);
}

/* ---- overload, per-network and per-account limits ---- */

/* Runs first, before any worker answered: the pool assumes 100 ms per
 * request until it has measured one.  With a 1 s login_timeout and one
 * worker that does not answer, the queue soon holds more than the worker
 * could serve in time, and further logins are refused at once
 * (UNAVAILABLE) instead of queued to time out. */
void
test_overload_is_shed(void)
{
	struct fake_login f[20];
	uint8_t v[4];
	size_t refused = 0, first_refused = 0;
	char addr[32];

	master.cfg.login_timeout = 1;
	acct_clear();
	addr_clear();
	worker_start();
	for (size_t i = 0; i < nitems(f); i++) {
		snprintf(addr, sizeof(addr), "203.0.113.%zu", i + 1);
		login_start(&f[i], addr, "wrong");
		pump(1);
		if (login_verdicts(&f[i], v, 1) == 1) {
			CU_ASSERT_EQUAL(v[0], IPC_AUTH_UNAVAILABLE);
			if (refused++ == 0)
				first_refused = i;
		}
	}
	/* ~9 fit in the second (1 busy + 8 queued at 100 ms); the rest not. */
	CU_ASSERT(first_refused >= 5 && first_refused <= 10);
	CU_ASSERT_EQUAL(refused, nitems(f) - first_refused);
	for (size_t i = 0; i < nitems(f); i++)
		login_timeout(&f[i]);
	worker_stop();
	struct hashpool_stats st;
	hashpool_stats(&st);
	CU_ASSERT_EQUAL(st.queued, 0);
	CU_ASSERT_EQUAL(st.busy, 0);
	master.cfg.login_timeout = 60;
}

/* Four logins from one IPv6 /64 are pending (the worker holds one, three
 * are queued): a fifth from another address of the same /64 is refused
 * without a hash; one from the next /64 is not.  When the four fail, the
 * failures count for the whole /64. */
void
test_pending_per_network_is_capped(void)
{
	struct fake_login f[6];
	uint8_t v[4];
	const char *addrs[] = {
		"2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1:ffff::3",
		"2001:db8:0:1:1:2:3:4", "2001:db8:0:1::5", "2001:db8:0:2::1",
	};
	char key[MK_ADDRSTRLEN];

	acct_clear();
	addr_clear();
	worker_start();
	for (size_t i = 0; i < 6; i++) {
		login_start(&f[i], addrs[i], "wrong");
		pump(1);
	}
	for (size_t i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(login_verdicts(&f[i], v, 1), 0);
	CU_ASSERT_EQUAL(login_verdicts(&f[4], v, 1), 1);
	CU_ASSERT_EQUAL(v[0], IPC_AUTH_BUSY);
	CU_ASSERT_EQUAL(login_verdicts(&f[5], v, 1), 0);
	key_of(addrs[0], key, sizeof(key));
	CU_ASSERT_STRING_EQUAL(key, "2001:db8:0:1::/64");
	struct addr_rec *r = addr_get(key);
	CU_ASSERT_EQUAL(r->pending, 4);
	CU_ASSERT_EQUAL(r->fails, 0);
	/* The pending ones count as failures already. */
	r->fails = master.cfg.auth_fail_limit - 4;
	r->window_start = now_ms();
	CU_ASSERT_TRUE(addr_throttled(r));
	r->fails = 0;
	while (worker_answer())
		;
	pump(20);
	CU_ASSERT_EQUAL(r->pending, 0);
	CU_ASSERT_EQUAL(r->fails, 4);
	for (size_t i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(login_verdicts(&f[i], v, 1), 1);
		CU_ASSERT_EQUAL(v[0], IPC_AUTH_FAILED);
	}
	for (size_t i = 0; i < 6; i++)
		login_timeout(&f[i]);
	worker_stop();
}

/* Guesses at one account from many networks: past the account's limit
 * they are verified one at a time, and each failure is answered after a
 * growing delay before the next starts; the user's correct password
 * still succeeds, at once from a network it logged in from before. */
void
test_account_throttle_serializes_and_delays(void)
{
	struct fake_login f[6], user, home;
	uint8_t v[4];
	char addr[32];
	struct hashpool_stats st;

	master.cfg.auth_account_delay_max_ms = 400;
	acct_clear();
	addr_clear();
	worker_start();
	/* The user logs in once from home. */
	login_start(&home, "198.51.100.200", "right");
	pump(1);
	CU_ASSERT_TRUE(worker_answer());
	pump(2);
	CU_ASSERT_EQUAL(login_verdicts(&home, v, 1), 1);
	CU_ASSERT_EQUAL(v[0], IPC_AUTH_OK);
	login_timeout(&home);
	/* Three failures (the limit) from three networks, concurrently. */
	for (size_t i = 0; i < 3; i++) {
		snprintf(addr, sizeof(addr), "10.%zu.0.1", i + 1);
		login_start(&f[i], addr, "wrong");
		pump(1);
	}
	while (worker_answer())
		;
	pump(10);
	struct acct_rec *a = acct_get("alice", true);
	CU_ASSERT_TRUE(acct_slow(a));
	/* Now three more guessers and the user from a new network. */
	for (size_t i = 3; i < 6; i++) {
		snprintf(addr, sizeof(addr), "10.%zu.0.1", i + 1);
		login_start(&f[i], addr, "wrong");
		pump(1);
	}
	login_start(&user, "10.99.0.1", "right");
	pump(1);
	CU_ASSERT_EQUAL(acct_waiting(a), 3);	/* f[4], f[5], user */
	hashpool_stats(&st);
	CU_ASSERT_EQUAL(st.busy + st.queued, 1);	/* f[3] only */
	uint64_t t0 = now_ms(), t_first = 0;
	/* f[3] fails: answered after 250 ms, and f[4] starts only then. */
	CU_ASSERT_TRUE(worker_answer());
	hashpool_stats(&st);
	CU_ASSERT_EQUAL(st.busy + st.queued, 0);
	while (login_verdicts(&f[3], v, 1) == 0 && now_ms() - t0 < 3000)
		pump(5);
	t_first = now_ms() - t0;
	CU_ASSERT(t_first >= 240);
	CU_ASSERT_EQUAL(v[0], IPC_AUTH_FAILED);
	/* f[4]'s delay counts from its answer: t_ans is taken before the
	 * answer goes, so a slow machine cannot shorten what is measured. */
	uint64_t t_ans = now_ms();
	for (int i = 0; i < 100 && !worker_answer(); i++) {
		pump(5);
		t_ans = now_ms();
	}
	/* f[4] failed: 500 ms, capped at 400, before f[5] may start.
	 * Meanwhile the user at home is not queued behind the guessers. */
	t0 = now_ms();
	login_start(&home, "198.51.100.200", "right");
	pump(1);
	hashpool_stats(&st);
	CU_ASSERT_EQUAL(st.busy, 1);
	CU_ASSERT_TRUE(worker_answer());
	pump(2);
	CU_ASSERT_EQUAL(login_verdicts(&home, v, 1), 1);
	CU_ASSERT_EQUAL(v[0], IPC_AUTH_OK);
	CU_ASSERT(now_ms() - t0 < 300);
	while (login_verdicts(&f[4], v, 1) == 0 && now_ms() - t0 < 3000)
		pump(5);
	CU_ASSERT(now_ms() - t_ans >= 380);
	CU_ASSERT_EQUAL(v[0], IPC_AUTH_FAILED);
	/* f[5] and then the user from the new network get their turns; the
	 * user's right password succeeds. */
	for (int i = 0; i < 400 && login_verdicts(&user, v, 1) == 0; i++) {
		worker_answer();
		pump(5);
	}
	CU_ASSERT_EQUAL(v[0], IPC_AUTH_OK);
	CU_ASSERT_EQUAL(login_verdicts(&f[5], v, 1), 1);
	CU_ASSERT_EQUAL(v[0], IPC_AUTH_FAILED);
	for (size_t i = 0; i < 6; i++)
		login_timeout(&f[i]);
	login_timeout(&user);
	login_timeout(&home);
	worker_stop();
	CU_ASSERT_TRUE(acct_idle());
	master.cfg.auth_account_delay_max_ms = 4;
}

/* ---- a worker holds the next request (hashpool.c, WORKER_DEPTH) ---- */

static void
three_logins(struct fake_login *f)
{
	char addr[32];

	acct_clear();
	addr_clear();
	worker_start();
	for (size_t i = 0; i < 3; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%zu", 20 + i);
		login_start(&f[i], addr, "right");
		pump(1);
	}
}

/* They time out, the worker goes: the pool is empty again. */
static void
three_logins_end(struct fake_login *f)
{
	struct hashpool_stats st;

	for (size_t i = 0; i < 3; i++)
		login_timeout(&f[i]);
	worker_stop();
	hashpool_stats(&st);
	CU_ASSERT_EQUAL(st.busy + st.queued + st.alive, 0);
}

static void
expect_verdict(struct fake_login *f, uint8_t want)
{
	uint8_t v[4];

	CU_ASSERT_EQUAL(login_verdicts(f, v, sizeof(v)), 1);
	CU_ASSERT_EQUAL(v[0], want);
}

/* Three logins, one worker: the first two reach the worker at once, so
 * it can start the second the moment it has answered the first; the
 * third is sent as soon as the first answer frees a place, while the
 * worker still computes the second.  Answers come in order and every
 * login is verified. */
void
test_worker_holds_the_next_request(void)
{
	struct fake_login f[3];
	struct hashpool_stats st;
	uint64_t ids[4];

	three_logins(f);
	CU_ASSERT_EQUAL_FATAL(worker_pending(ids, 4), 2);
	hashpool_stats(&st);
	CU_ASSERT_EQUAL(st.busy, 1);
	CU_ASSERT_EQUAL(st.queued, 1);
	worker_reply(ids[0], true);
	expect_verdict(&f[0], IPC_AUTH_OK);
	CU_ASSERT_EQUAL_FATAL(worker_pending(ids + 2, 2), 1);
	hashpool_stats(&st);
	CU_ASSERT_EQUAL(st.queued, 0);
	worker_reply(ids[1], true);
	worker_reply(ids[2], true);
	expect_verdict(&f[1], IPC_AUTH_OK);
	expect_verdict(&f[2], IPC_AUTH_OK);
	three_logins_end(f);
}

/* A worker computes in order: answering the second request it holds
 * before the first is a broken worker, killed, and both logins it held
 * are told "unavailable" at once; the queued one stays for the next
 * worker. */
void
test_worker_answer_out_of_order_is_killed(void)
{
	struct fake_login f[3];
	uint64_t ids[4];
	size_t before;

	three_logins(f);
	CU_ASSERT_EQUAL_FATAL(worker_pending(ids, 4), 2);
	before = children_count();
	worker_reply(ids[1], true);
	for (int i = 0; i < 2000 && children_count() >= before; i++)
		pump(1);
	CU_ASSERT(children_count() < before);
	close(worker.chan);
	expect_verdict(&f[0], IPC_AUTH_UNAVAILABLE);
	expect_verdict(&f[1], IPC_AUTH_UNAVAILABLE);
	CU_ASSERT_EQUAL(login_verdicts(&f[2], NULL, 0), 0);
	worker_start();
	CU_ASSERT_EQUAL_FATAL(worker_pending(ids, 4), 1);
	worker_reply(ids[0], true);
	expect_verdict(&f[2], IPC_AUTH_OK);
	three_logins_end(f);
}

/* ---- the scenarios ---- */

static struct fake_login L1, L2, L3;

static void
play(char ev)
{
	switch (ev) {
	case 'H':
		worker_answer();
		break;
	case 'V':
		pump(8);
		break;
	case 'T':
		login_timeout(&L2);
		break;
	case 'D':
		login_death(&L1);
		break;
	case 'W':
		worker_death();
		break;
	}
}

/* Puts the account over its failure limit. */
static void
make_slow(void)
{
	struct acct_rec *a = acct_get("alice", true);
	struct acct_waiter w = { 0 };

	while (!acct_slow(a)) {
		CU_ASSERT_FATAL(acct_enter(a, "198.51.100.1", &w) == ACCT_GO);
		acct_done(a, false, ACCT_FAILED, "198.51.100.1");
	}
}

static void
scenario(const char *order, bool l1_right, bool slow)
{
	uint8_t v[4];
	struct hashpool_stats st;
	char what[64];

	snprintf(what, sizeof(what), "%s l1=%s slow=%d", order,
	    l1_right ? "right" : "wrong", slow);
	acct_clear();
	addr_clear();
	if (slow)
		make_slow();
	worker_start();
	login_start(&L1, "192.0.2.1", l1_right ? "right" : "wrong");
	pump(1);
	login_start(&L2, "192.0.2.2", "wrong");
	pump(1);
	login_start(&L3, "192.0.2.3", "right");
	pump(1);
	for (const char *p = order; *p; p++)
		play(*p);
	/* Whatever is left to verify is verified. */
	for (int quiet = 0, i = 0; quiet < 3 && i < 200; i++) {
		if (worker_answer())
			quiet = 0;
		else {
			quiet++;
			pump(8);
		}
	}
	size_t n = login_verdicts(&L3, v, sizeof(v));
	if (n != 1 || (v[0] != IPC_AUTH_OK && v[0] != IPC_AUTH_UNAVAILABLE))
		fprintf(stderr, "\n%s: L3 got %zu verdicts (first %d)\n", what,
		    n, n ? v[0] : -1);
	/* UNAVAILABLE only if the worker died holding L3's request. */
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT(v[0] == IPC_AUTH_OK || (v[0] == IPC_AUTH_UNAVAILABLE &&
	    strchr(order, 'W') != NULL));
	/* L1 and L2, while they lived, got at most one verdict each. */
	CU_ASSERT(login_verdicts(&L1, v, sizeof(v)) <= 1);
	CU_ASSERT(login_verdicts(&L2, v, sizeof(v)) <= 1);

	login_timeout(&L1);
	login_timeout(&L2);
	login_timeout(&L3);
	worker_stop();
	pump(1);
	hashpool_stats(&st);
	if (st.busy != 0 || st.queued != 0 || !acct_idle())
		fprintf(stderr, "\n%s: pool busy %u queued %zu, accounts %s\n",
		    what, st.busy, st.queued, acct_idle() ? "idle" : "busy");
	CU_ASSERT_EQUAL(st.busy, 0);
	CU_ASSERT_EQUAL(st.queued, 0);
	CU_ASSERT_EQUAL(st.alive, 0);
	CU_ASSERT_TRUE(acct_idle());
	CU_ASSERT_EQUAL(addr_get("192.0.2.1")->pending, 0);
	CU_ASSERT_EQUAL(addr_get("192.0.2.2")->pending, 0);
	CU_ASSERT_EQUAL(addr_get("192.0.2.3")->pending, 0);
	CU_ASSERT_EQUAL(children_count(), 0);
	CU_ASSERT_EQUAL(master.nconn, 0);
}

/* Every order of the five events, by Heap's algorithm. */
static void
all_orders(bool l1_right, bool slow)
{
	char ev[] = "HVTDW";
	size_t n = strlen(ev), c[8] = { 0 }, i = 0;

	scenario(ev, l1_right, slow);
	while (i < n) {
		if (c[i] < i) {
			size_t j = i % 2 == 0 ? 0 : c[i];
			char t = ev[j];
			ev[j] = ev[i];
			ev[i] = t;
			scenario(ev, l1_right, slow);
			c[i]++;
			i = 0;
		} else
			c[i++] = 0;
	}
}

void
test_every_order_ends_every_login(void)
{
	all_orders(false, false);
}

void
test_every_order_ends_every_login_right_first(void)
{
	all_orders(true, false);
}

void
test_every_order_slow_account(void)
{
	all_orders(false, true);
}

void
test_every_order_slow_account_right_first(void)
{
	all_orders(true, true);
}

/* ---- the credentials cache (daemon/master/authcache.c) ---- */

/* The cache on, everything else fresh; the worker checks real hashes. */
static void
cache_setup(void)
{
	char hash[PASSWORD_HASH_MAX];
	struct dir_user u;
	uint32_t id;

	CU_ASSERT_FATAL(authcache_configure(3600, 100) == 0);
	authcache_flush();
	acct_clear();
	addr_clear();
	if (dir_user_get(dir, "boss", &u) == MK_NOTFOUND) {
		CU_ASSERT_FATAL(password_hash("bosspw", hash, sizeof(hash)) == 0);
		CU_ASSERT_FATAL(dir_user_add(dir, "boss", hash, &id) == 0);
		CU_ASSERT_FATAL(dir_user_set_admin(dir, "boss", true) == 0);
		CU_ASSERT_FATAL(dir_user_add(dir, "boss2", hash, &id) == 0);
		CU_ASSERT_FATAL(dir_user_set_admin(dir, "boss2", true) == 0);
	}
	worker.real = true;
	worker_start();
}

static void
cache_teardown(void)
{
	worker_stop();
	worker.real = false;
	authcache_configure(0, 100);
	CU_ASSERT_TRUE(acct_idle());
	CU_ASSERT_EQUAL(children_count(), 0);
}

/* One login to its verdict, the worker answering whatever it is sent;
 * *hashed: the worker was asked (the cache did not decide it). */
static uint8_t
login_once(const char *addr, const char *authzid, const char *authcid,
    const char *pw, bool *hashed)
{
	struct fake_login f;
	uint8_t v[2] = { 0xff, 0xff };
	unsigned before = worker.answered;
	size_t n = 0;

	login_start_as(&f, addr, authzid, authcid, pw);
	pump(1);
	for (int i = 0; i < 3000 && (n = login_verdicts(&f, v, 1)) == 0; i++) {
		worker_answer();
		pump(1);
	}
	CU_ASSERT_EQUAL(n, 1);
	*hashed = worker.answered != before;
	login_timeout(&f);
	return v[0];
}

/* A second login with the same password is answered at once: nothing
 * goes to the hash pool, nothing stays pending.  A wrong password is
 * always hashed, and its failure is never remembered. */

/* One login from addr, its verdict, and whether it took a hash. */
#define EXPECT_LOGIN(addr, user, pw, verdict, took_hash) do {		\
	bool hashed_;							\
	CU_ASSERT_EQUAL(login_once(addr, "", user, pw, &hashed_), verdict);	\
	CU_ASSERT_EQUAL(hashed_, took_hash);				\
} while (0)

void
test_cache_hit_needs_no_hash(void)
{
	struct fake_login f;
	struct hashpool_stats st;
	struct pollfd pfd;
	uint8_t v[2];
	bool hashed;

	cache_setup();
	EXPECT_LOGIN("192.0.2.10", "alice", "right", IPC_AUTH_OK, true);
	CU_ASSERT_EQUAL(authcache_count(), 1);

	unsigned before = worker.answered;
	login_start(&f, "192.0.2.11", "right");
	pump(1);
	CU_ASSERT_EQUAL(login_verdicts(&f, v, 1), 1);
	CU_ASSERT_EQUAL(v[0], IPC_AUTH_OK);
	hashpool_stats(&st);
	CU_ASSERT_EQUAL(st.busy, 0);
	CU_ASSERT_EQUAL(st.queued, 0);
	pfd.fd = worker.chan;
	pfd.events = POLLIN;
	CU_ASSERT_EQUAL(poll(&pfd, 1, 0), 0);	/* the worker got nothing */
	CU_ASSERT_EQUAL(worker.answered, before);
	CU_ASSERT_EQUAL(addr_get("192.0.2.11")->pending, 0);
	login_timeout(&f);

	/* The name as the client spells it: the canonical pair is cached. */
	EXPECT_LOGIN("192.0.2.11", "ALICE", "right", IPC_AUTH_OK, false);
	/* Wrong passwords: hashed every time, failing every time. */
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(login_once("192.0.2.12", "", "alice", "wrong",
		    &hashed), IPC_AUTH_FAILED);
		CU_ASSERT_TRUE(hashed);
		CU_ASSERT_EQUAL(login_once("192.0.2.12", "", "alice", "Right",
		    &hashed), IPC_AUTH_FAILED);
		CU_ASSERT_TRUE(hashed);
	}
	CU_ASSERT_EQUAL(addr_get("192.0.2.12")->fails, 4);
	/* Another user with alice's password; an unknown name. */
	EXPECT_LOGIN("192.0.2.13", "boss", "right", IPC_AUTH_FAILED, true);
	EXPECT_LOGIN("192.0.2.13", "nobody", "right", IPC_AUTH_FAILED, true);
	CU_ASSERT_EQUAL(authcache_count(), 1);
	/* And alice's entry is still good. */
	EXPECT_LOGIN("192.0.2.14", "alice", "right", IPC_AUTH_OK, false);
	cache_teardown();
}

/* A login the cache would decide is still refused by a throttled
 * network, and still waits its turn at a slow account. */
void
test_cache_hit_still_throttled(void)
{
	struct fake_login guess, user;
	uint8_t v[2];
	bool hashed;
	char key[MK_ADDRSTRLEN];

	cache_setup();
	EXPECT_LOGIN("192.0.2.20", "alice", "right", IPC_AUTH_OK, true);
	/* A network with auth_fail_limit failures in its window. */
	key_of("192.0.2.21", key, sizeof(key));
	struct addr_rec *r = addr_get(key);
	r->fails = master.cfg.auth_fail_limit;
	r->window_start = now_ms();
	EXPECT_LOGIN("192.0.2.21", "alice", "right", IPC_AUTH_THROTTLED, false);
	r->fails = 0;
	/* A network with auth_max_pending_per_addr logins pending. */
	key_of("192.0.2.22", key, sizeof(key));
	r = addr_get(key);
	r->pending = master.cfg.auth_max_pending_per_addr;
	CU_ASSERT_EQUAL(login_once("192.0.2.22", "", "alice", "right",
	    &hashed), IPC_AUTH_BUSY);
	r->pending = 0;

	/* A slow account: a guess holds its slot (in the worker); the
	 * cached login from a network alice never logged in from waits
	 * behind it, and is then decided without a hash. */
	make_slow();
	login_start(&guess, "10.1.0.1", "wrong");
	pump(1);
	login_start(&user, "10.2.0.1", "right");
	pump(1);
	struct acct_rec *a = acct_get("alice", true);
	CU_ASSERT_EQUAL(acct_waiting(a), 1);
	CU_ASSERT_EQUAL(login_verdicts(&user, v, 1), 0);
	unsigned before = worker.answered;
	CU_ASSERT_TRUE(worker_answer());	/* the guess fails */
	size_t n = 0;
	for (int i = 0; i < 2000 && (n = login_verdicts(&user, v, 1)) == 0; i++)
		pump(1);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(v[0], IPC_AUTH_OK);
	CU_ASSERT_EQUAL(worker.answered, before + 1);	/* the guess only */
	/* The guess's answer comes after its failure delay. */
	for (int i = 0; i < 2000 && (n = login_verdicts(&guess, v, 1)) == 0; i++)
		pump(1);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(v[0], IPC_AUTH_FAILED);
	CU_ASSERT_EQUAL(acct_waiting(a), 0);
	login_timeout(&guess);
	login_timeout(&user);
	cache_teardown();
}

/* Load shedding protects the hash workers: a login the cache decides
 * needs none, so it is answered even while others are shed. */
void
test_cache_hit_not_shed_under_overload(void)
{
	struct fake_login f[40], user;
	uint8_t v[2];
	bool hashed;
	char addr[32];
	size_t i, shed = 0;

	cache_setup();
	CU_ASSERT_EQUAL(login_once("192.0.2.30", "", "alice", "right",
	    &hashed), IPC_AUTH_OK);
	master.cfg.login_timeout = 1;
	/* The worker stops answering; guesses pile up until shed. */
	for (i = 0; i < nitems(f) && shed == 0; i++) {
		snprintf(addr, sizeof(addr), "198.18.%zu.1", i + 1);
		login_start_as(&f[i], addr, "", "boss", "wrong");
		pump(1);
		if (login_verdicts(&f[i], v, 1) == 1 &&
		    v[0] == IPC_AUTH_UNAVAILABLE)
			shed++;
	}
	CU_ASSERT_EQUAL(shed, 1);
	login_start(&user, "198.19.0.1", "right");
	pump(1);
	CU_ASSERT_EQUAL(login_verdicts(&user, v, 1), 1);
	CU_ASSERT_EQUAL(v[0], IPC_AUTH_OK);
	login_timeout(&user);
	for (size_t j = 0; j < i; j++)
		login_timeout(&f[j]);
	master.cfg.login_timeout = 60;
	cache_teardown();
}

/* mailkeepctl passwd, admin and userdel change the row the master reads
 * at every login: the cached pair stops counting at the next login. */
void
test_cache_follows_directory_changes(void)
{
	char hash[PASSWORD_HASH_MAX];
	uint32_t id;

	cache_setup();
	EXPECT_LOGIN("192.0.2.40", "alice", "right", IPC_AUTH_OK, true);
	EXPECT_LOGIN("192.0.2.40", "alice", "right", IPC_AUTH_OK, false);
	/* passwd */
	CU_ASSERT_FATAL(password_hash("new", hash, sizeof(hash)) == 0);
	CU_ASSERT_FATAL(dir_user_set_hash(dir, "alice", hash) == 0);
	EXPECT_LOGIN("192.0.2.41", "alice", "right", IPC_AUTH_FAILED, true);
	CU_ASSERT_EQUAL(authcache_count(), 0);
	EXPECT_LOGIN("192.0.2.42", "alice", "new", IPC_AUTH_OK, true);
	EXPECT_LOGIN("192.0.2.42", "alice", "new", IPC_AUTH_OK, false);
	/* passwd to the same password: a new salt, verified again */
	CU_ASSERT_FATAL(password_hash("new", hash, sizeof(hash)) == 0);
	CU_ASSERT_FATAL(dir_user_set_hash(dir, "alice", hash) == 0);
	EXPECT_LOGIN("192.0.2.42", "alice", "new", IPC_AUTH_OK, true);
	/* admin on, admin off */
	CU_ASSERT_FATAL(dir_user_set_admin(dir, "alice", true) == 0);
	EXPECT_LOGIN("192.0.2.42", "alice", "new", IPC_AUTH_OK, true);
	EXPECT_LOGIN("192.0.2.42", "alice", "new", IPC_AUTH_OK, false);
	CU_ASSERT_FATAL(dir_user_set_admin(dir, "alice", false) == 0);
	EXPECT_LOGIN("192.0.2.42", "alice", "new", IPC_AUTH_OK, true);
	/* userdel: no such user (checked against the dummy hash) */
	CU_ASSERT_FATAL(dir_user_del(dir, "alice") == 0);
	EXPECT_LOGIN("192.0.2.43", "alice", "new", IPC_AUTH_FAILED, true);
	/* useradd again, same password: another id, another salt */
	CU_ASSERT_FATAL(password_hash("new", hash, sizeof(hash)) == 0);
	CU_ASSERT_FATAL(dir_user_add(dir, "alice", hash, &id) == 0);
	EXPECT_LOGIN("192.0.2.44", "alice", "new", IPC_AUTH_OK, true);
	/* Back to the password the other tests use. */
	CU_ASSERT_FATAL(password_hash("right", hash, sizeof(hash)) == 0);
	CU_ASSERT_FATAL(dir_user_set_hash(dir, "alice", hash) == 0);
	cache_teardown();
}

/* An administrator acting as another user: the administrator's pair is
 * cached, never the target's, and the authorization is decided anew at
 * every login. */
void
test_cache_impersonation_caches_the_admin(void)
{
	bool hashed;

	cache_setup();
	CU_ASSERT_EQUAL(login_once("192.0.2.50", "alice", "boss", "bosspw",
	    &hashed), IPC_AUTH_OK);
	CU_ASSERT_TRUE(hashed);
	CU_ASSERT_EQUAL(authcache_count(), 1);
	/* boss's own login: cached */
	EXPECT_LOGIN("192.0.2.50", "boss", "bosspw", IPC_AUTH_OK, false);
	/* the target's name with the admin's password: not a pair seen */
	EXPECT_LOGIN("192.0.2.51", "alice", "bosspw", IPC_AUTH_FAILED, true);
	/* again as alice: cached, and still authorized */
	CU_ASSERT_EQUAL(login_once("192.0.2.50", "alice", "boss", "bosspw",
	    &hashed), IPC_AUTH_OK);
	CU_ASSERT_FALSE(hashed);
	/* as another administrator: cached credentials, refused target */
	CU_ASSERT_EQUAL(login_once("192.0.2.50", "boss2", "boss", "bosspw",
	    &hashed), IPC_AUTH_AUTHZ_FAILED);
	CU_ASSERT_FALSE(hashed);
	/* a user who is no administrator, cached: still refused */
	CU_ASSERT_EQUAL(login_once("192.0.2.52", "", "alice", "right",
	    &hashed), IPC_AUTH_OK);
	CU_ASSERT_EQUAL(login_once("192.0.2.52", "boss", "alice", "right",
	    &hashed), IPC_AUTH_AUTHZ_FAILED);
	CU_ASSERT_FALSE(hashed);
	/* boss loses the admin flag: his entry no longer counts, and he
	 * may no longer act as alice */
	CU_ASSERT_FATAL(dir_user_set_admin(dir, "boss", false) == 0);
	CU_ASSERT_EQUAL(login_once("192.0.2.50", "alice", "boss", "bosspw",
	    &hashed), IPC_AUTH_AUTHZ_FAILED);
	CU_ASSERT_TRUE(hashed);
	CU_ASSERT_FATAL(dir_user_set_admin(dir, "boss", true) == 0);
	cache_teardown();
}

/* auth_cache_ttl = 0: every login is hashed. */
void
test_cache_off_hashes_every_login(void)
{
	bool hashed;

	cache_setup();
	CU_ASSERT_FATAL(authcache_configure(0, 100) == 0);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(login_once("192.0.2.60", "", "alice", "right",
		    &hashed), IPC_AUTH_OK);
		CU_ASSERT_TRUE(hashed);
	}
	CU_ASSERT_EQUAL(authcache_count(), 0);
	cache_teardown();
}

/* ---- a cluster: users on another backend are referred there ---- */

/* One login to its verdict and text (LOGIN, or AUTHENTICATE PLAIN). */
static uint8_t
login_text(const char *addr, uint8_t mech, const char *authzid,
    const char *authcid, const char *pw, char *text, size_t textlen)
{
	static uint8_t buf[IPC_MAX_MSG];
	struct fake_login f;
	struct ipc_reader r;
	struct pollfd pfd;
	uint8_t v = 0xff;

	login_attach_fake(&f, addr);
	login_send(&f, mech, authzid, authcid, pw);
	for (int i = 0; i < 3000; i++) {
		worker_answer();
		pump(1);
		pfd.fd = f.chan;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) == 1)
			break;
	}
	CU_ASSERT_FATAL(ipc_recv_now(f.chan, buf, &r) == 0);
	CU_ASSERT_EQUAL(r.type, IPC_LOGIN_AUTH_RESULT);
	v = ipc_get_u8(&r);
	mk_strlcpy(text, ipc_get_str(&r), textlen);
	CU_ASSERT_TRUE(ipc_end(&r));
	login_timeout(&f);
	return v;
}

/* A referral whose URL would not fit its answer is not cut (a cut URL
 * names another server or user): the answer says where in words. */
void
test_referral_too_long_for_its_answer_is_words(void)
{
	struct login_child lc;
	struct cfg_backend b;
	char login[2 * 64 + 8], text[512];

	memset(&lc, 0, sizeof(lc));
	memset(&b, 0, sizeof(b));
	mk_strlcpy(b.name, "b2", sizeof(b.name));
	mk_strlcpy(b.host, "mail2.example", sizeof(b.host));
	b.imap_port = 1143;
	authz_referral_text(&lc, "far@x.org", &b, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "[REFERRAL imap://far%40x.org@"
	    "mail2.example:1143/] Your mailbox is on backend b2; log in "
	    "there.");
	/* every byte of the login percent-encoded, and a 250-byte host */
	memset(login, '*', sizeof(login) - 1);
	login[sizeof(login) - 1] = '\0';
	memset(b.host, 'h', 250);
	b.host[250] = '\0';
	authz_referral_text(&lc, login, &b, text, sizeof(text));
	CU_ASSERT_PTR_NULL(strstr(text, "REFERRAL"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "Your mailbox is on backend b2 "));
}

void
test_referral_after_the_password(void)
{
	char text[512], hash[PASSWORD_HASH_MAX];
	uint32_t id;
	struct mk_config saved = master.cfg;
	struct cfg_backend *b = master.cfg.backends;

	cache_setup();
	master.cfg.max_auth_attempts = 10;
	mk_strlcpy(master.cfg.backend_name, "b1", sizeof(master.cfg.backend_name));
	memset(b, 0, 2 * sizeof(*b));
	mk_strlcpy(b[0].name, "b1", sizeof(b[0].name));
	mk_strlcpy(b[1].name, "b2", sizeof(b[1].name));
	mk_strlcpy(b[1].host, "mail2.example", sizeof(b[1].host));
	b[1].imap_port = 1143;
	master.cfg.nbackends = 2;
	CU_ASSERT_FATAL(password_hash("farpw", hash, sizeof(hash)) == 0);
	CU_ASSERT_FATAL(dir_user_add(dir, "far@x.org", hash, &id) == 0);
	CU_ASSERT_FATAL(dir_user_set_backend(dir, "far@x.org", "b2") == 0);

	/* a wrong password learns nothing of where the user lives */
	CU_ASSERT_EQUAL(login_text("192.0.2.70", IPC_MECH_LOGIN, "",
	    "far@x.org", "wrong", text, sizeof(text)), IPC_AUTH_FAILED);
	CU_ASSERT_PTR_NULL(strstr(text, "REFERRAL"));
	CU_ASSERT_PTR_NULL(strstr(text, "b2"));
	/* the right one is referred (RFC 2221), the name URL-encoded */
	CU_ASSERT_EQUAL(login_text("192.0.2.70", IPC_MECH_LOGIN, "",
	    "far@x.org", "farpw", text, sizeof(text)), IPC_AUTH_REFERRAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
	    "[REFERRAL imap://far%40x.org@mail2.example:1143/] "));
	CU_ASSERT_EQUAL(login_text("192.0.2.70", IPC_MECH_PLAIN, "",
	    "far@x.org", "farpw", text, sizeof(text)), IPC_AUTH_REFERRAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
	    "[REFERRAL imap://far%40x.org;AUTH=PLAIN@mail2.example:1143/] "));
	/* an administrator acting as that user: the target's backend, and
	 * the login to use there */
	CU_ASSERT_EQUAL(login_text("192.0.2.71", IPC_MECH_LOGIN, "far@x.org",
	    "boss", "bosspw", text, sizeof(text)), IPC_AUTH_REFERRAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
	    "imap://far%40x.org%2Aboss@mail2.example:1143/"));
	/* the user back on this backend: a session */
	CU_ASSERT_FATAL(dir_user_set_backend(dir, "far@x.org", "b1") == 0);
	CU_ASSERT_EQUAL(login_text("192.0.2.70", IPC_MECH_LOGIN, "",
	    "far@x.org", "farpw", text, sizeof(text)), IPC_AUTH_OK);
	/* a backend the configuration does not know: unavailable, no
	 * session */
	CU_ASSERT_FATAL(dir_user_set_backend(dir, "far@x.org", "b9") == 0);
	CU_ASSERT_EQUAL(login_text("192.0.2.70", IPC_MECH_LOGIN, "",
	    "far@x.org", "farpw", text, sizeof(text)), IPC_AUTH_UNAVAILABLE);
	/* one failure in all: referrals are no failures */
	CU_ASSERT_EQUAL(addr_get("192.0.2.70")->fails, 1);
	master.cfg = saved;
	cache_teardown();
}
