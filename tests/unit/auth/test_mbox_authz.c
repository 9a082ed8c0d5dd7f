/*
 * test_mbox_authz.c - what the master lets a mailbox process do
 * (daemon/master/sessions.c, requests.c, authz.c), against compromised
 * mailbox processes.
 *
 * A mailbox process runs with one user's uid and could be taken over by
 * that user's mail (a parser bug).  Impersonation and shared access must
 * then still pass the master's checks, which use the master's own record
 * of whose process it is.  Each test forks fake mailbox processes,
 * registers them with mbox_attach() exactly as mbox_spawn() does after
 * fork, gives them sessions with the real session_start(), and runs the
 * master's real event loop while they send what our mailbox code never
 * would: a channel to a user who shares nothing with them, PROXYAUTH or
 * SETQUOTA without being an administrator, a hand-off of a session the
 * master never let go, malformed or foreign messages.  The tests assert
 * the master's answers, what it did not do (no channel, no session for
 * anyone else, no mailbox process forked, the directory and the audit
 * trail unchanged) and that it killed the processes that broke the
 * protocol.  Positive controls (an administrator's PROXYAUTH, a real
 * share) show that the same fakes are served when they are entitled.
 */
#include "daemon/master/master.h"
#include "daemon/master/cluster_int.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "store/directory.h"

#include <CUnit/CUnit.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/mk-mbauthz-XXXXXX";
static struct ev_loop *loop;
static struct directory *dir;
static struct dir_user alice, bob, carol, admin, admin2;

static int
add_user(const char *name, bool is_admin, struct dir_user *u)
{
	uint32_t id;

	if (dir_user_add(dir, name, "$6$salt$not-a-real-hash", &id) != 0 ||
	    (is_admin && dir_user_set_admin(dir, name, true) != 0))
		return -1;
	return dir_user_get(dir, name, u);
}

int
test_mbox_authz_init(void)
{
	struct mk_config cfg;
	char path[PATH_MAX], err[256];

	log_init("test_mbox_authz", true, 0);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", tmpdir);
	/* A process without sessions is let go at once. */
	cfg.mailbox_linger = 0;
	snprintf(path, sizeof(path), "%s/users", tmpdir);
	if (mkdir(path, 0700) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/directory.db", tmpdir);
	if (dir_open(path, true, &dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (add_user("alice", false, &alice) != 0 ||
	    add_user("bob", false, &bob) != 0 ||
	    add_user("carol", false, &carol) != 0 ||
	    add_user("root-admin", true, &admin) != 0 ||
	    add_user("admin2", true, &admin2) != 0)
		return -1;
	/* carol shares with bob, not with alice. */
	if (dir_share_set(dir, carol.id, "Proj", "bob", "lr") != 0)
		return -1;
	loop = ev_loop_new();
	return master_core_init(&cfg, loop, dir);
}

int
test_mbox_authz_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	dir_close(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the fake mailbox process ---- */

/* What a script has in the child. */
struct fake_io {
	int      chan;		/* its end of the channel to the master */
	int      report;	/* lines for the test */
	int      client;	/* the client socket of its first session */
	uint64_t sessions[4];	/* ids of the sessions it was given */
	size_t   nsessions;
};

typedef void (*script_fn)(struct fake_io *io);

struct fake {
	const struct dir_user *user;
	script_fn   script;
	bool        session;	/* give it a client session at the start */
	/* filled in by run() */
	pid_t       pid;
	int         report;	/* read end */
	int         client;	/* the test's end of the session's socket */
	int         chan;	/* the master's end of its channel */
	char        said[1024];	/* what the script reported */
	bool        killed;
	bool        client_closed;
};

static uint8_t msgbuf[IPC_MAX_MSG];

static const char *
req_name(uint8_t res)
{
	switch (res) {
	case IPC_REQ_OK: return "OK";
	case IPC_REQ_DENIED: return "DENIED";
	case IPC_REQ_NOTFOUND: return "NOTFOUND";
	case IPC_REQ_FAILED: return "FAILED";
	case IPC_REQ_LIMIT: return "LIMIT";
	}
	return "?";
}

static const char *
auth_name(uint8_t res)
{
	switch (res) {
	case IPC_AUTH_OK: return "OK";
	case IPC_AUTH_NOT_ADMIN: return "NOT_ADMIN";
	case IPC_AUTH_NO_SUCH_USER: return "NO_SUCH_USER";
	case IPC_AUTH_TARGET_ADMIN: return "TARGET_ADMIN";
	default: return "other";
	}
}

static const char *
method_name(uint8_t method)
{
	switch (method) {
	case IPC_IMP_NONE: return "NONE";
	case IPC_IMP_PROXYAUTH: return "PROXYAUTH";
	case IPC_IMP_GUEST: return "GUEST";
	case IPC_IMP_URLAUTH: return "URLAUTH";
	default: return "other";
	}
}

static void
say(struct fake_io *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
say(struct fake_io *io, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(io->report, line, MK_MIN((size_t)n, sizeof(line) - 1));
}

static void
send_msg(struct fake_io *io, struct ipc_msg *m)
{
	if (ipc_send_now(io->chan, m) == -1)
		_exit(3);
}

/* The next message of one of the types wanted (others, such as quota
 * pushes, are skipped); exits if the channel closes. */
static void
recv_type(struct fake_io *io, struct ipc_reader *r, uint32_t type)
{
	for (;;) {
		if (ipc_recv_now(io->chan, msgbuf, r) == -1)
			_exit(4);
		if (r->type == type)
			return;
		if (r->fd != -1)
			close(r->fd);
	}
}

/* Waits for a session from the master and reports how it came. */
static void
take_session(struct fake_io *io)
{
	struct ipc_reader r;
	struct ipc_session s;

	recv_type(io, &r, IPC_MBOX_SESSION);
	ipc_get_session(&r, &s);
	if (!ipc_end(&r) || r.fd == -1)
		_exit(5);
	say(io, "session user=%s authcid=%s method=%s\n", s.user, s.authcid,
	    method_name(s.method));
	if (io->nsessions < nitems(io->sessions))
		io->sessions[io->nsessions++] = s.id;
	if (io->client == -1)
		io->client = ipc_take_fd(&r);
	else
		close(ipc_take_fd(&r));
}

/* A well-behaved end: every session ends, then the master lets the
 * process go (mailbox_linger 0) and it exits. */
static void
finish(struct fake_io *io)
{
	struct ipc_reader r;
	struct ipc_msg m;

	for (size_t i = 0; i < io->nsessions; i++) {
		ipc_msg_init(&m, IPC_MBOX_SESSION_END);
		ipc_put_u64(&m, io->sessions[i]);
		send_msg(io, &m);
	}
	while (ipc_recv_now(io->chan, msgbuf, &r) == 0)
		if (r.fd != -1)
			close(r.fd);
	say(io, "exit\n");
	_exit(0);
}

/* The process handed its only session back: it has nothing to end,
 * and the master closes its channel at once (mailbox_linger 0), so a
 * SESSION_END now would race that close. It waits for the close. */
static void
released(struct fake_io *io)
{
	struct ipc_reader r;

	while (ipc_recv_now(io->chan, msgbuf, &r) == 0)
		if (r.fd != -1)
			close(r.fd);
	say(io, "exit\n");
	_exit(0);
}

/* A compromised process lingers; the master must kill it. */
static void
hang(struct fake_io *io)
{
	(void)io;
	for (;;)
		pause();
}

static void
channel_open(struct fake_io *io, uint64_t req, const char *owner, bool url)
{
	struct ipc_reader r;
	struct ipc_msg m;

	ipc_msg_init(&m, url ? IPC_MBOX_URL_OPEN : IPC_MBOX_GUEST_OPEN);
	ipc_put_u64(&m, req);
	ipc_put_str(&m, owner);
	send_msg(io, &m);
	recv_type(io, &r, url ? IPC_MBOX_URL_RESULT : IPC_MBOX_GUEST_RESULT);
	uint64_t id = ipc_get_u64(&r);
	uint8_t res = ipc_get_u8(&r);
	say(io, "%s %s req=%llu %s fd=%s\n", url ? "url" : "guest", owner,
	    (unsigned long long)id, req_name(res), r.fd != -1 ? "yes" : "no");
	/* The channel stays open until this process exits, as a session
	 * would hold it: an owner may wait for its end. */
	(void)ipc_take_fd(&r);
}

static void
guest_open(struct fake_io *io, uint64_t req, const char *owner)
{
	channel_open(io, req, owner, false);
}

static uint8_t
proxyauth(struct fake_io *io, uint64_t session, const char *target)
{
	struct ipc_reader r;
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_PROXYAUTH);
	ipc_put_u64(&m, session);
	ipc_put_str(&m, target);
	send_msg(io, &m);
	recv_type(io, &r, IPC_MBOX_PROXYAUTH_RESULT);
	(void)ipc_get_u64(&r);
	uint8_t res = ipc_get_u8(&r);
	say(io, "proxyauth %s %s\n", target, auth_name(res));
	return res;
}

static void
handback(struct fake_io *io, uint64_t session, int fd)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_HANDBACK);
	ipc_put_u64(&m, session);
	ipc_put_str(&m, "a2");
	ipc_put_bytes(&m, "a3 SELECT INBOX\r\n", 17);
	ipc_put_fd(&m, fd);
	send_msg(io, &m);
}

/* UNAUTHENTICATE's hand-back (RFC 8437). */
static void
unauth(struct fake_io *io, uint64_t session, int fd)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_UNAUTH);
	ipc_put_u64(&m, session);
	ipc_put_bytes(&m, "a3 LOGIN bob pw\r\n", 17);
	ipc_put_fd(&m, fd);
	send_msg(io, &m);
}

static void
setquota(struct fake_io *io, uint64_t session, const char *target)
{
	struct ipc_reader r;
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_SETQUOTA);
	ipc_put_u64(&m, session);
	ipc_put_str(&m, target);
	ipc_put_u8(&m, 1);
	ipc_put_u64(&m, 5);
	ipc_put_u8(&m, 1);
	ipc_put_u64(&m, 7);
	send_msg(io, &m);
	recv_type(io, &r, IPC_MBOX_SETQUOTA_RESULT);
	(void)ipc_get_u64(&r);
	say(io, "setquota %s %s\n", target[0] ? target : "(own)",
	    req_name(ipc_get_u8(&r)));
}

/* ---- running fakes under the real master ---- */

static bool
said(const struct fake *f, const char *line)
{
	return strstr(f->said, line) != NULL;
}

static struct {
	struct fake *f;
	size_t       n;
	uint64_t     deadline;
	size_t       max_queued;	/* most bytes seen waiting for a fake */
	void       (*before_loop)(void);	/* once the fakes have sessions */
	void       (*tick)(void);	/* every 20 ms of the run */
	unsigned     run_ms;		/* how long a run may take; 0: 5 s */
} watch;

static void
sample_queue(struct mbox *mb, void *arg)
{
	(void)arg;
	watch.max_queued = MK_MAX(watch.max_queued, mbox_queued(mb));
}

static void
watch_cb(struct ev_timer *t)
{
	mboxes_foreach(sample_queue, NULL);
	if (watch.tick != NULL)
		watch.tick();
	if (children_count() == 0 || now_ms() > watch.deadline)
		ev_loop_break(loop);
	else
		ev_timer_start(loop, t, 20);
}

static void
give_session(struct fake *f)
{
	int sp[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	struct peer p;
	memset(&p, 0, sizeof(p));
	mk_strlcpy(p.addr, "192.0.2.44", sizeof(p.addr));
	/* A socketpair made here stands for the client connection: the
	 * master checks a handed-back socket as the relay link it made
	 * (this process) by its inode. */
	struct stat st;
	CU_ASSERT_FATAL(fstat(sp[1], &st) == 0);
	p.link = st.st_ino;
	p.rec = addr_get(p.addr);
	p.rec->conns++;
	master.nconn++;
	struct session_start s = {
		.user = f->user, .authcid = f->user->name,
		.authc_admin = f->user->admin, .method = IPC_IMP_NONE,
		.okverb = "LOGIN", .tag = "a1", .peer = &p, .fd = sp[1],
	};
	CU_ASSERT_FATAL(session_start(&s) == 0);
	f->client = sp[0];
}

static void
run(struct fake *f, size_t n)
{
	unsigned long killed_before = master.nkilled;
	int master_ends[8];
	size_t nends = 0;
	struct ev_timer t;

	CU_ASSERT_FATAL(n <= nitems(master_ends));
	for (size_t i = 0; i < n; i++) {
		int chan[2], report[2];
		CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, chan) == 0);
		CU_ASSERT_FATAL(pipe(report) == 0);
		pid_t pid = fork();
		CU_ASSERT_FATAL(pid != -1);
		if (pid == 0) {
			struct fake_io io = { .chan = chan[1],
			    .report = report[1], .client = -1 };
			ev_signals_reset();
			/* Only the master may hold the other end of a
			 * channel, or its closing would go unseen. */
			for (size_t k = 0; k < nends; k++)
				close(master_ends[k]);
			close(chan[0]);
			close(report[0]);
			f[i].script(&io);
			_exit(6);
		}
		close(chan[1]);
		close(report[1]);
		f[i].pid = pid;
		f[i].report = report[0];
		f[i].client = -1;
		f[i].chan = chan[0];
		master_ends[nends++] = chan[0];
		mbox_attach(pid, chan[0], f[i].user);
	}
	for (size_t i = 0; i < n; i++)
		if (f[i].session)
			give_session(&f[i]);

	if (watch.before_loop != NULL)
		watch.before_loop();
	watch.f = f;
	watch.n = n;
	watch.deadline = now_ms() + (watch.run_ms ? watch.run_ms : 5000);
	ev_timer_init(&t, watch_cb, NULL);
	ev_timer_start(loop, &t, 20);
	ev_loop_run(loop);
	ev_timer_stop(loop, &t);

	/* Still running after the deadline (a fake waiting for something
	 * that never came, or a mailbox process the master forked): fail,
	 * and clean up. */
	CU_ASSERT_EQUAL(children_count(), 0);
	if (children_count() != 0) {
		children_terminate(SIGKILL);
		watch.deadline = now_ms() + 2000;
		ev_timer_start(loop, &t, 20);
		ev_loop_run(loop);
		ev_timer_stop(loop, &t);
	}
	for (size_t i = 0; i < n; i++) {
		ssize_t got = read(f[i].report, f[i].said, sizeof(f[i].said) - 1);
		f[i].said[got > 0 ? got : 0] = '\0';
		close(f[i].report);
		/* Gone without having said goodbye, and the master counted
		 * a kill. */
		f[i].killed = kill(f[i].pid, 0) == -1 && errno == ESRCH &&
		    master.nkilled > killed_before && !said(&f[i], "exit\n");
		if (f[i].client != -1) {
			struct pollfd pfd = { .fd = f[i].client, .events = POLLIN };
			char b;
			f[i].client_closed = poll(&pfd, 1, 1000) == 1 &&
			    read(f[i].client, &b, 1) == 0;
			close(f[i].client);
		}
	}
}

static void
assert_nothing_left(void)
{
	CU_ASSERT_EQUAL(children_count(), 0);
	CU_ASSERT_EQUAL(sessions_count(), 0);
	CU_ASSERT_EQUAL(mboxes_count(), 0);
	CU_ASSERT_EQUAL(master.nconn, 0);
}

/* No mailbox process was ever forked for name (mbox_spawn() makes the
 * user's directory first). */
static bool
never_spawned(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/users/%s", tmpdir, name);
	return access(path, F_OK) == -1 && errno == ENOENT;
}

static int
count_row(const struct dir_audit *a, void *arg)
{
	(void)a;
	(*(int *)arg)++;
	return 0;
}

static int
count_running(const struct dir_audit *a, void *arg)
{
	if (a->end == 0)
		(*(int *)arg)++;
	return 0;
}

static int
running_audit_rows(void)
{
	int n = 0;

	CU_ASSERT_EQUAL(dir_audit_foreach(dir, count_running, &n), 0);
	return n;
}

static int
audit_rows(void)
{
	int n = 0;

	CU_ASSERT_EQUAL(dir_audit_foreach(dir, count_row, &n), 0);
	return n;
}


/* ---- shared access: IPC_MBOX_GUEST_OPEN ---- */

static void
script_guest_open_refused(struct fake_io *io)
{
	take_session(io);
	guest_open(io, 7, "carol");	/* shares with bob, not alice */
	guest_open(io, 8, "nosuchuser");
	guest_open(io, 9, "alice");	/* its own user: no guest needed */
	finish(io);
}

void
test_guest_open_without_share_is_denied(void)
{
	struct fake f[] = {
		{ .user = &alice, .script = script_guest_open_refused,
		  .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(said(&f[0],
	    "session user=alice authcid=alice method=NONE\n"));
	CU_ASSERT_TRUE(said(&f[0], "guest carol req=7 DENIED fd=no\n"));
	CU_ASSERT_TRUE(said(&f[0], "guest nosuchuser req=8 NOTFOUND fd=no\n"));
	CU_ASSERT_TRUE(said(&f[0], "guest alice req=9 DENIED fd=no\n"));
	CU_ASSERT_TRUE(said(&f[0], "exit\n"));
	CU_ASSERT_FALSE(f[0].killed);
	/* No process of carol's was started, so no channel exists. */
	CU_ASSERT_TRUE(never_spawned("carol"));
	CU_ASSERT_TRUE(never_spawned("nosuchuser"));
	assert_nothing_left();
}

static void
script_guest_open_granted(struct fake_io *io)
{
	take_session(io);
	guest_open(io, 11, "carol");
	finish(io);
}

static void
script_owner(struct fake_io *io)
{
	take_session(io);	/* the guest session the master opens */
	finish(io);
}

/* The positive control: carol shares with alice, so alice's process gets
 * a channel, and carol's process a guest session naming alice. */
void
test_guest_open_with_share_is_granted(void)
{
	struct fake f[] = {
		{ .user = &alice, .script = script_guest_open_granted,
		  .session = true },
		{ .user = &carol, .script = script_owner },
	};

	CU_ASSERT_EQUAL(dir_share_set(dir, carol.id, "Proj", "alice", "lr"), 0);
	run(f, nitems(f));
	CU_ASSERT_EQUAL(dir_share_set(dir, carol.id, "Proj", "alice", ""), 0);
	CU_ASSERT_TRUE(said(&f[0], "guest carol req=11 OK fd=yes\n"));
	CU_ASSERT_TRUE(said(&f[1],
	    "session user=carol authcid=alice method=GUEST\n"));
	CU_ASSERT_FALSE(f[0].killed || f[1].killed);
	assert_nothing_left();
}

/* ---- URLAUTH: IPC_MBOX_URL_OPEN ---- */

static void
script_url_open(struct fake_io *io)
{
	take_session(io);
	channel_open(io, 21, "carol", true);	/* shares nothing with alice */
	channel_open(io, 22, "nosuchuser", true);
	finish(io);
}

/* A URLAUTH channel needs no share (the URL's token is the authority),
 * and the owner's process learns it is one: a session of method
 * URLAUTH, which takes URLFETCH alone. */
void
test_url_open_needs_no_share(void)
{
	struct fake f[] = {
		{ .user = &alice, .script = script_url_open, .session = true },
		{ .user = &carol, .script = script_owner },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(said(&f[0], "url carol req=21 OK fd=yes\n"));
	CU_ASSERT_TRUE(said(&f[0], "url nosuchuser req=22 NOTFOUND fd=no\n"));
	CU_ASSERT_TRUE(said(&f[1],
	    "session user=carol authcid=alice method=URLAUTH\n"));
	CU_ASSERT_FALSE(f[0].killed || f[1].killed);
	CU_ASSERT_TRUE(never_spawned("nosuchuser"));
	assert_nothing_left();
}

/* "anyone" in the index is a grant to every user. */
void
test_guest_open_with_anyone_share_is_granted(void)
{
	struct fake f[] = {
		{ .user = &alice, .script = script_guest_open_granted,
		  .session = true },
		{ .user = &carol, .script = script_owner },
	};

	CU_ASSERT_EQUAL(dir_share_set(dir, carol.id, "Public", "anyone", "l"), 0);
	run(f, nitems(f));
	CU_ASSERT_EQUAL(dir_share_set(dir, carol.id, "Public", "anyone", ""), 0);
	CU_ASSERT_TRUE(said(&f[0], "guest carol req=11 OK fd=yes\n"));
	CU_ASSERT_TRUE(said(&f[1],
	    "session user=carol authcid=alice method=GUEST\n"));
	assert_nothing_left();
}

static void
script_guest_open_case_variants(struct fake_io *io)
{
	take_session(io);
	guest_open(io, 31, "CAROL");
	guest_open(io, 32, "Carol");
	guest_open(io, 33, "cArOl");
	guest_open(io, 34, "carol");
	guest_open(io, 35, "CaRoL");
	guest_open(io, 36, "car!ol");
	finish(io);
}

static void
script_owner_three(struct fake_io *io)
{
	char b[64];

	take_session(io);
	take_session(io);
	take_session(io);
	/* The channels stay open until the grantee has gone (guest_open
	 * keeps them): ending them earlier would give the grantee's later
	 * requests room again, and need a new owner process, which no
	 * spawner runs here. */
	while (read(io->client, b, sizeof(b)) > 0)
		;
	finish(io);
}

/* Issue 9 item 5: a grantee's process that asks again and again, under
 * case variants of the owner's name, gets max_guest_channels channels
 * (all to the one owner, whose name the master folds) and then LIMIT:
 * the master counts from its own record, whatever the process does. */
void
test_guest_open_case_variants_are_capped(void)
{
	struct fake f[] = {
		{ .user = &alice, .script = script_guest_open_case_variants,
		  .session = true },
		{ .user = &carol, .script = script_owner_three },
	};
	unsigned was = master.cfg.max_guest_channels;

	master.cfg.max_guest_channels = 3;
	CU_ASSERT_EQUAL(dir_share_set(dir, carol.id, "Proj", "alice", "lr"), 0);
	run(f, nitems(f));
	CU_ASSERT_EQUAL(dir_share_set(dir, carol.id, "Proj", "alice", ""), 0);
	master.cfg.max_guest_channels = was;
	CU_ASSERT_TRUE(said(&f[0], "guest CAROL req=31 OK fd=yes\n"));
	CU_ASSERT_TRUE(said(&f[0], "guest Carol req=32 OK fd=yes\n"));
	CU_ASSERT_TRUE(said(&f[0], "guest cArOl req=33 OK fd=yes\n"));
	CU_ASSERT_TRUE(said(&f[0], "guest carol req=34 LIMIT fd=no\n"));
	CU_ASSERT_TRUE(said(&f[0], "guest CaRoL req=35 LIMIT fd=no\n"));
	CU_ASSERT_TRUE(said(&f[0], "guest car!ol req=36 NOTFOUND fd=no\n"));
	CU_ASSERT_TRUE(said(&f[1],
	    "session user=carol authcid=alice method=GUEST\n"));
	CU_ASSERT_FALSE(f[0].killed || f[1].killed);
	assert_nothing_left();
}

/* ---- PROXYAUTH ---- */

static void
script_proxyauth_non_admin(struct fake_io *io)
{
	take_session(io);
	proxyauth(io, io->sessions[0], "bob");
	proxyauth(io, io->sessions[0], "root-admin");
	finish(io);
}

void
test_proxyauth_from_non_admin_is_refused(void)
{
	int rows = audit_rows();
	struct fake f[] = {
		{ .user = &alice, .script = script_proxyauth_non_admin,
		  .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(said(&f[0], "proxyauth bob NOT_ADMIN\n"));
	CU_ASSERT_TRUE(said(&f[0], "proxyauth root-admin NOT_ADMIN\n"));
	CU_ASSERT_TRUE(said(&f[0], "exit\n"));
	CU_ASSERT_FALSE(f[0].killed);
	CU_ASSERT_TRUE(never_spawned("bob"));
	CU_ASSERT_EQUAL(audit_rows(), rows);
	assert_nothing_left();
}

static void
script_handback_after_refusal(struct fake_io *io)
{
	take_session(io);
	if (proxyauth(io, io->sessions[0], "bob") != IPC_AUTH_OK)
		handback(io, io->sessions[0], io->client);
	hang(io);
}

/* Refused, the process hands the client over anyway: killed, and the
 * connection goes nowhere (no session for bob, nobody holds it). */
void
test_handback_after_refused_proxyauth_is_killed(void)
{
	int rows = audit_rows();
	struct fake f[] = {
		{ .user = &alice, .script = script_handback_after_refusal,
		  .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(said(&f[0], "proxyauth bob NOT_ADMIN\n"));
	CU_ASSERT_TRUE(f[0].killed);
	CU_ASSERT_TRUE(f[0].client_closed);
	CU_ASSERT_TRUE(never_spawned("bob"));
	CU_ASSERT_EQUAL(audit_rows(), rows);
	assert_nothing_left();
}

static void
script_handback_unasked(struct fake_io *io)
{
	take_session(io);
	handback(io, io->sessions[0], io->client);
	hang(io);
}

/* Even an administrator's process can't hand a session over without
 * an OK PROXYAUTH for it. */
void
test_handback_without_proxyauth_is_killed(void)
{
	int rows = audit_rows();
	struct fake f[] = {
		{ .user = &admin, .script = script_handback_unasked,
		  .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(f[0].killed);
	CU_ASSERT_TRUE(f[0].client_closed);
	CU_ASSERT_EQUAL(audit_rows(), rows);
	assert_nothing_left();
}

static void
script_admin_proxyauth(struct fake_io *io)
{
	take_session(io);
	proxyauth(io, io->sessions[0], "admin2");
	proxyauth(io, io->sessions[0], "nosuchuser");
	if (proxyauth(io, io->sessions[0], "alice") == IPC_AUTH_OK) {
		handback(io, io->sessions[0], io->client);
		/* The session went back: this process has none, so the
		 * master lets it go. */
		released(io);
	}
	finish(io);
}

static void
script_target(struct fake_io *io)
{
	take_session(io);
	finish(io);
}

/* The positive control: an administrator's session moves to alice's
 * process, audited, with a new session id. */
void
test_proxyauth_by_admin_moves_the_session(void)
{
	int rows = audit_rows();
	struct fake f[] = {
		{ .user = &admin, .script = script_admin_proxyauth,
		  .session = true },
		{ .user = &alice, .script = script_target },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(said(&f[0], "proxyauth admin2 TARGET_ADMIN\n"));
	CU_ASSERT_TRUE(said(&f[0], "proxyauth nosuchuser NO_SUCH_USER\n"));
	CU_ASSERT_TRUE(said(&f[0], "proxyauth alice OK\n"));
	CU_ASSERT_TRUE(said(&f[1],
	    "session user=alice authcid=root-admin method=PROXYAUTH\n"));
	CU_ASSERT_TRUE(said(&f[0], "exit\n") && said(&f[1], "exit\n"));
	CU_ASSERT_FALSE(f[0].killed || f[1].killed);
	CU_ASSERT_EQUAL(audit_rows(), rows + 1);
	assert_nothing_left();
}

static void
script_handback_foreign_socket(struct fake_io *io)
{
	int sp[2];

	take_session(io);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		_exit(7);
	if (proxyauth(io, io->sessions[0], "alice") == IPC_AUTH_OK)
		handback(io, io->sessions[0], sp[0]);
	hang(io);
}

/* An OK PROXYAUTH lets only the session's own connection move. */
void
test_handback_of_foreign_socket_is_killed(void)
{
	int rows = audit_rows();
	struct fake f[] = {
		{ .user = &admin, .script = script_handback_foreign_socket,
		  .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(said(&f[0], "proxyauth alice OK\n"));
	CU_ASSERT_TRUE(f[0].killed);
	CU_ASSERT_TRUE(never_spawned("alice"));
	/* The row is written before the OK (fail closed: no row, no OK);
	 * the socket never came, so it ended with the process. */
	CU_ASSERT_EQUAL(audit_rows(), rows + 1);
	CU_ASSERT_EQUAL(running_audit_rows(), 0);
	assert_nothing_left();
}

static void
script_unauth_foreign_socket(struct fake_io *io)
{
	int sp[2];

	take_session(io);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		_exit(7);
	unauth(io, io->sessions[0], sp[0]);
	hang(io);
}

/* UNAUTHENTICATE gives back the session's own connection only: a
 * process that hands back another socket (to have a login process
 * speak on a channel of its choosing) is killed, and no login process
 * is started for it. */
void
test_unauth_of_foreign_socket_is_killed(void)
{
	int rows = audit_rows();
	struct fake f[] = {
		{ .user = &alice, .script = script_unauth_foreign_socket,
		  .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(f[0].killed);
	CU_ASSERT_TRUE(f[0].client_closed);
	CU_ASSERT_EQUAL(children_count(), 0);
	CU_ASSERT_EQUAL(audit_rows(), rows);
	assert_nothing_left();
}

static void
script_unauth_unknown_session(struct fake_io *io)
{
	take_session(io);
	unauth(io, io->sessions[0] + 1, io->client);
	hang(io);
}

/* A session the master did not give this process: killed. */
void
test_unauth_of_unknown_session_is_killed(void)
{
	struct fake f[] = {
		{ .user = &alice, .script = script_unauth_unknown_session,
		  .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(f[0].killed);
	CU_ASSERT_TRUE(f[0].client_closed);
	assert_nothing_left();
}

static void
script_proxyauth_from_guest(struct fake_io *io)
{
	take_session(io);	/* bob's guest session */
	proxyauth(io, io->sessions[0], "alice");
	hang(io);
}

static void
script_bob_opens_admin(struct fake_io *io)
{
	take_session(io);
	guest_open(io, 21, "root-admin");
	finish(io);
}

/* A guest session in an administrator's process acts as the guest: the
 * master won't take it for the administrator. */
void
test_proxyauth_from_guest_session_is_killed(void)
{
	int rows = audit_rows();
	struct fake f[] = {
		{ .user = &bob, .script = script_bob_opens_admin,
		  .session = true },
		{ .user = &admin, .script = script_proxyauth_from_guest },
	};

	CU_ASSERT_EQUAL(dir_share_set(dir, admin.id, "Help", "bob", "lr"), 0);
	run(f, nitems(f));
	CU_ASSERT_EQUAL(dir_share_set(dir, admin.id, "Help", "bob", ""), 0);
	CU_ASSERT_TRUE(said(&f[0], "guest root-admin req=21 OK fd=yes\n"));
	CU_ASSERT_TRUE(said(&f[1],
	    "session user=root-admin authcid=bob method=GUEST\n"));
	CU_ASSERT_FALSE(said(&f[1], "proxyauth"));
	CU_ASSERT_TRUE(f[1].killed);
	CU_ASSERT_TRUE(never_spawned("alice"));
	CU_ASSERT_EQUAL(audit_rows(), rows);
	assert_nothing_left();
}

/* ---- SETQUOTA ---- */

static void
script_setquota(struct fake_io *io)
{
	take_session(io);
	setquota(io, io->sessions[0], "bob");
	setquota(io, io->sessions[0], "");
	finish(io);
}

void
test_setquota_from_non_admin_is_denied(void)
{
	struct dir_user a, b;
	struct fake f[] = {
		{ .user = &alice, .script = script_setquota, .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(said(&f[0], "setquota bob DENIED\n"));
	CU_ASSERT_TRUE(said(&f[0], "setquota (own) DENIED\n"));
	CU_ASSERT_FALSE(f[0].killed);
	CU_ASSERT_EQUAL(dir_user_get(dir, "alice", &a), 0);
	CU_ASSERT_EQUAL(dir_user_get(dir, "bob", &b), 0);
	CU_ASSERT_EQUAL(a.quota_storage, -1);
	CU_ASSERT_EQUAL(a.quota_messages, -1);
	CU_ASSERT_EQUAL(b.quota_storage, -1);
	CU_ASSERT_EQUAL(b.quota_messages, -1);
	assert_nothing_left();
}

static void
script_setquota_from_guest(struct fake_io *io)
{
	take_session(io);	/* bob's guest session */
	setquota(io, io->sessions[0], "bob");
	finish(io);
}

/* Not in an administrator's process either, if the session is a guest's. */
void
test_setquota_from_guest_session_is_denied(void)
{
	struct dir_user b;
	struct fake f[] = {
		{ .user = &bob, .script = script_bob_opens_admin,
		  .session = true },
		{ .user = &admin, .script = script_setquota_from_guest },
	};

	CU_ASSERT_EQUAL(dir_share_set(dir, admin.id, "Help", "bob", "lr"), 0);
	run(f, nitems(f));
	CU_ASSERT_EQUAL(dir_share_set(dir, admin.id, "Help", "bob", ""), 0);
	CU_ASSERT_TRUE(said(&f[1], "setquota bob DENIED\n"));
	CU_ASSERT_EQUAL(dir_user_get(dir, "bob", &b), 0);
	CU_ASSERT_EQUAL(b.quota_storage, -1);
	assert_nothing_left();
}

/* The positive control: the administrator's own session may. */
void
test_setquota_by_admin_is_applied(void)
{
	struct dir_user b;
	struct fake f[] = {
		{ .user = &admin, .script = script_setquota, .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(said(&f[0], "setquota bob OK\n"));
	CU_ASSERT_EQUAL(dir_user_get(dir, "bob", &b), 0);
	CU_ASSERT_EQUAL(b.quota_storage, 5);
	CU_ASSERT_EQUAL(b.quota_messages, 7);
	CU_ASSERT_EQUAL(dir_user_set_quota(dir, "bob", -1, -1), 0);
	CU_ASSERT_EQUAL(dir_user_set_quota(dir, "root-admin", -1, -1), 0);
	assert_nothing_left();
}

/* ---- protocol violations ---- */

static void
script_truncated_setquota(struct fake_io *io)
{
	struct ipc_msg m;

	take_session(io);
	ipc_msg_init(&m, IPC_MBOX_SETQUOTA);
	ipc_put_u64(&m, io->sessions[0]);
	send_msg(io, &m);
	hang(io);
}

void
test_malformed_message_is_killed(void)
{
	struct fake f[] = {
		{ .user = &admin, .script = script_truncated_setquota,
		  .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(f[0].killed);
	assert_nothing_left();
}

static void
script_foreign_type(struct fake_io *io)
{
	struct ipc_msg m;

	take_session(io);
	/* What a login process says: "I checked alice's password". */
	ipc_msg_init(&m, IPC_LOGIN_AUTH);
	ipc_put_u8(&m, IPC_MECH_LOGIN);
	ipc_put_str(&m, "");
	ipc_put_str(&m, "bob");
	ipc_put_bytes(&m, "x", 1);
	send_msg(io, &m);
	hang(io);
}

static void
script_master_type(struct fake_io *io)
{
	struct ipc_msg m;

	take_session(io);
	/* A message only the master sends. */
	ipc_msg_init(&m, IPC_MBOX_GUEST_RESULT);
	ipc_put_u64(&m, 1);
	ipc_put_u8(&m, IPC_REQ_OK);
	send_msg(io, &m);
	hang(io);
}

void
test_message_not_for_the_master_is_killed(void)
{
	struct fake f[] = {
		{ .user = &bob, .script = script_foreign_type, .session = true },
		{ .user = &carol, .script = script_master_type, .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(f[0].killed);
	CU_ASSERT_TRUE(f[1].killed);
	assert_nothing_left();
}

static void
script_other_session(struct fake_io *io)
{
	take_session(io);
	/* A session id that is not this process's. */
	proxyauth(io, io->sessions[0] ^ 1, "alice");
	hang(io);
}

void
test_request_for_another_session_is_killed(void)
{
	struct fake f[] = {
		{ .user = &admin, .script = script_other_session,
		  .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_FALSE(said(&f[0], "proxyauth"));
	CU_ASSERT_TRUE(f[0].killed);
	CU_ASSERT_TRUE(never_spawned("alice"));
	assert_nothing_left();
}

/* ---- the share index ---- */

static int
count_share(const char *mailbox, const char *grantee, const char *rights,
    void *arg)
{
	(void)mailbox;
	(void)grantee;
	(void)rights;
	(*(int *)arg)++;
	return 0;
}

static int
first_owner(const char *owner, const char *mailbox, const char *rights,
    void *arg)
{
	(void)rights;
	if (strcmp(mailbox, "Stolen") == 0)
		mk_strlcpy(arg, owner, MK_USER_MAX);
	return 0;
}

/* IPC_MBOX_SHARE as the owner's process sends it after a SETACL.  No
 * owner field: the entry can only be the process's own user's. */
static void
share_send(struct fake_io *io, const char *mailbox, const char *grantee,
    const char *rights)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_SHARE);
	ipc_put_str(&m, mailbox);
	ipc_put_str(&m, grantee);
	ipc_put_str(&m, rights);
	send_msg(io, &m);
}

/* ... and waits for the master's IPC_MBOX_SHARE_DONE, left in *r. */
static void
grant_r(struct fake_io *io, struct ipc_reader *r, const char *mailbox,
    const char *grantee, const char *rights)
{
	share_send(io, mailbox, grantee, rights);
	recv_type(io, r, IPC_MBOX_SHARE_DONE);
}

static void
grant(struct fake_io *io, const char *mailbox, const char *grantee,
    const char *rights)
{
	struct ipc_reader r;

	grant_r(io, &r, mailbox, grantee, rights);
}

static void
script_share(struct fake_io *io)
{
	take_session(io);
	grant(io, "Stolen", "bob", "lr");
	say(io, "share done\n");
	share_send(io, "Stolen", "bob", "lr!");	/* not a right */
	hang(io);
}

void
test_share_index_names_the_process_user(void)
{
	char owner[MK_USER_MAX] = "";
	struct fake f[] = {
		{ .user = &alice, .script = script_share, .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(said(&f[0], "share done\n"));
	CU_ASSERT_TRUE(f[0].killed);	/* for the bad rights */
	CU_ASSERT_EQUAL(dir_shares_for(dir, "bob", first_owner, owner), 0);
	CU_ASSERT_STRING_EQUAL(owner, "alice");
	CU_ASSERT_EQUAL(dir_share_set(dir, alice.id, "Stolen", "bob", ""), 0);
	assert_nothing_left();
}

/* ---- bounds (issue 9): pages, field caps, entry limits ---- */

static char long_name[1016];

static void
make_long_name(int i)
{
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	snprintf(long_name, 8, "F%03d-", i);
	long_name[5] = 'x';	/* snprintf's NUL */
}

/* Reads the whole paged answer to SHARES: every page within the
 * message ceiling, entries counted, the last page says the answer is
 * whole (IPC_SHARES_LAST: the process may keep it). */
static void
script_shares_pages(struct fake_io *io)
{
	struct ipc_reader r;
	struct ipc_msg m;
	unsigned pages = 0, entries = 0;
	size_t maxlen = 0;
	uint8_t more = IPC_SHARES_MORE;

	take_session(io);
	ipc_msg_init(&m, IPC_MBOX_SHARES);
	ipc_put_u64(&m, 5);
	send_msg(io, &m);
	while (more == IPC_SHARES_MORE) {
		recv_type(io, &r, IPC_MBOX_SHARES_RESULT);
		maxlen = MK_MAX(maxlen, r.len);
		if (ipc_get_u64(&r) != 5)
			_exit(7);
		more = ipc_get_u8(&r);
		uint32_t n = ipc_get_u32(&r);
		for (uint32_t i = 0; i < n; i++) {
			ipc_get_str(&r);
			ipc_get_str(&r);
			ipc_get_str(&r);
		}
		if (!ipc_end(&r))
			_exit(8);
		entries += n;
		pages++;
	}
	say(io, "pages=%u entries=%u maxlen=%zu last=%u\n", pages, entries,
	    maxlen, more);
	finish(io);
}

void
test_shares_answer_comes_in_pages(void)
{
	struct fake f[] = {
		{ .user = &carol, .script = script_shares_pages, .session = true },
	};
	unsigned pages = 0, entries = 0, last = 99;
	size_t maxlen = 0;

	/* 300 mailboxes with 1 KiB names shared with everyone: 300 KiB,
	 * more than one AF_UNIX message may carry. */
	for (int i = 0; i < 300; i++) {
		make_long_name(i);
		CU_ASSERT_EQUAL_FATAL(dir_share_set(dir, alice.id, long_name,
		    "anyone", "lr"), 0);
	}
	run(f, nitems(f));
	CU_ASSERT_FALSE(f[0].killed);
	CU_ASSERT_TRUE(said(&f[0], "exit\n"));
	const char *p = strstr(f[0].said, "pages=");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(sscanf(p, "pages=%u entries=%u maxlen=%zu last=%u",
	    &pages, &entries, &maxlen, &last), 4);
	CU_ASSERT_EQUAL(last, IPC_SHARES_LAST);
	/* carol also sees nothing of her own; bob's share is not hers */
	CU_ASSERT_EQUAL(entries, 300);
	CU_ASSERT_TRUE(pages >= 4);
	CU_ASSERT_TRUE(maxlen <= IPC_MAX_MSG);
	for (int i = 0; i < 300; i++) {
		make_long_name(i);
		CU_ASSERT_EQUAL(dir_share_set(dir, alice.id, long_name,
		    "anyone", ""), 0);
	}
	assert_nothing_left();
}

/* A process that asks and asks and reads nothing: the master queues at
 * most IPC_QUEUE_MAX bytes for it, and every answer it did start has
 * its last page.  The fake starts reading only once the master has
 * handled every request (the queue as full as it gets), and stops once
 * the master has nothing more queued for it: the test's side of the
 * run says when, over two pipes, so no step depends on how fast a
 * loaded machine (or a sanitizer build) runs. */
static struct {
	int      sent[2];	/* fake -> test: every request is sent */
	int      go[2];		/* test -> fake: 'g' read now, 'd' all sent */
	unsigned stage;
} unread;

/* Waits for one byte on fd; false if none came within a minute. */
static bool
byte_from(int fd, char *c)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 60000) == 1 && read(fd, c, 1) == 1;
}

static void
script_shares_unread(struct fake_io *io)
{
	struct ipc_reader r;
	struct ipc_msg m;
	unsigned started = 0, ended = 0, cut = 0;
	uint64_t bytes = 0, last = 0;
	bool drained = false;
	char c;

	take_session(io);
	for (int i = 1; i <= 120; i++) {
		ipc_msg_init(&m, IPC_MBOX_SHARES);
		ipc_put_u64(&m, (uint64_t)i);
		send_msg(io, &m);
	}
	if (write(unread.sent[1], "s", 1) != 1 ||
	    !byte_from(unread.go[0], &c) || c != 'g')
		_exit(7);
	for (;;) {
		struct pollfd pfd[2] = { { .fd = io->chan, .events = POLLIN },
		    { .fd = unread.go[0], .events = POLLIN } };
		/* Once the master's queue is empty, what is left is in the
		 * socket: read it all, without waiting. */
		if (poll(pfd, drained ? 1 : 2, drained ? 0 : 60000) < 1)
			break;
		if (!drained && (pfd[1].revents & POLLIN)) {
			drained = byte_from(unread.go[0], &c) && c == 'd';
			continue;
		}
		if (!(pfd[0].revents & POLLIN) ||
		    ipc_recv_now(io->chan, msgbuf, &r) == -1)
			break;
		if (r.type != IPC_MBOX_SHARES_RESULT)
			continue;
		bytes += r.len;
		uint64_t id = ipc_get_u64(&r);
		uint8_t more = ipc_get_u8(&r);
		if (id != last)
			started++;
		last = id;
		if (more != IPC_SHARES_MORE)
			ended++;
		if (more == IPC_SHARES_CUT)
			cut++;
	}
	say(io, "started=%u ended=%u bytes=%llu drained=%d cut=%u\n", started,
	    ended, (unsigned long long)bytes, drained, cut);
	finish(io);
}

/* The test's side: 'g' once the master has read every request (nothing
 * left in its end of the channel: it handles what it reads at once),
 * 'd' once it has nothing queued for the fake. */
static void
unread_tick(void)
{
	struct mbox *mb = mbox_running(carol.id);
	char c;

	if (unread.stage == 0) {
		struct pollfd pfd = { .fd = unread.sent[0], .events = POLLIN };
		if (poll(&pfd, 1, 0) == 1 && read(unread.sent[0], &c, 1) == 1)
			unread.stage = 1;
	} else if (unread.stage == 1) {
		if (recv(watch.f[0].chan, &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1 &&
		    errno == EAGAIN && write(unread.go[1], "g", 1) == 1)
			unread.stage = 2;
	} else if (unread.stage == 2 && mb != NULL && mbox_queued(mb) == 0) {
		if (write(unread.go[1], "d", 1) == 1)
			unread.stage = 3;
	}
}

void
test_shares_for_a_process_that_does_not_read_are_bounded(void)
{
	struct fake f[] = {
		{ .user = &carol, .script = script_shares_unread, .session = true },
	};
	unsigned started = 0, ended = 0, cut = 0;
	unsigned long long bytes = 0;
	int drained = 0;

	for (int i = 0; i < 300; i++) {
		make_long_name(i);
		CU_ASSERT_EQUAL_FATAL(dir_share_set(dir, alice.id, long_name,
		    "anyone", "lr"), 0);
	}
	CU_ASSERT_FATAL(pipe(unread.sent) == 0 && pipe(unread.go) == 0);
	unread.stage = 0;
	watch.max_queued = 0;
	watch.tick = unread_tick;
	watch.run_ms = 120000;	/* the fake's own waits end sooner */
	run(f, nitems(f));
	watch.tick = NULL;
	watch.run_ms = 0;
	for (int i = 0; i < 2; i++) {
		close(unread.sent[i]);
		close(unread.go[i]);
	}
	for (int i = 0; i < 300; i++) {
		make_long_name(i);
		CU_ASSERT_EQUAL(dir_share_set(dir, alice.id, long_name,
		    "anyone", ""), 0);
	}
	CU_ASSERT_FALSE(f[0].killed);
	CU_ASSERT_EQUAL(unread.stage, 3);
	const char *p = strstr(f[0].said, "started=");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(sscanf(p, "started=%u ended=%u bytes=%llu drained=%d "
	    "cut=%u", &started, &ended, &bytes, &drained, &cut), 5);
	CU_ASSERT_EQUAL(drained, 1);
	/* 120 answers of 300 KiB would be 36 MiB waiting: the queue held
	 * at most its bound, and it did fill */
	CU_ASSERT_TRUE(watch.max_queued <= IPC_QUEUE_MAX);
	CU_ASSERT_TRUE(watch.max_queued > IPC_QUEUE_MAX / 2);
	/* whatever was answered was answered to the end */
	CU_ASSERT_TRUE(started > 0);
	CU_ASSERT_EQUAL(started, ended);
	/* and the answers the queue's bound cut short say so (the process
	 * must not keep them as the whole list) */
	CU_ASSERT_TRUE(cut > 0);
	assert_nothing_left();
}

/* ---- share lists kept by the processes: IPC_MBOX_SHARES_STALE ---- */

static struct {
	int owner_said[2];	/* alice -> carol: changes done */
	int carol_said[2];	/* carol -> alice: asked, go on */
} stale;

/* alice changes grants: to "anyone" twice, then to bob; tells carol;
 * once carol has asked for her list, one grant to "anyone" more. */
static void
script_stale_owner(struct fake_io *io)
{
	char c;

	take_session(io);
	grant(io, "Proj", "anyone", "lr");
	grant(io, "Proj", "anyone", "");
	grant(io, "Team", "bob", "lr");
	if (write(stale.owner_said[1], "1", 1) != 1 ||
	    !byte_from(stale.carol_said[0], &c))
		_exit(7);
	grant(io, "Proj", "anyone", "lr");
	grant(io, "Proj", "anyone", "");
	if (write(stale.owner_said[1], "2", 1) != 1)
		_exit(7);
	finish(io);
}

/* The notices waiting in the channel now (the master sent them before
 * the SHARE_DONE that let alice go on). */
static unsigned
notices_waiting(struct fake_io *io)
{
	struct pollfd pfd = { .fd = io->chan, .events = POLLIN };
	struct ipc_reader r;
	unsigned n = 0;

	while (poll(&pfd, 1, 0) == 1 && ipc_recv_now(io->chan, msgbuf,
	    &r) == 0) {
		if (r.type == IPC_MBOX_SHARES_STALE)
			n++;
		if (r.fd != -1)
			close(r.fd);
	}
	return n;
}

static void
script_stale_grantee(struct fake_io *io)
{
	struct ipc_reader r;
	struct ipc_msg m;
	unsigned first, second;
	char c;

	take_session(io);
	if (!byte_from(stale.owner_said[0], &c))
		_exit(7);
	first = notices_waiting(io);
	ipc_msg_init(&m, IPC_MBOX_SHARES);
	ipc_put_u64(&m, 1);
	send_msg(io, &m);
	recv_type(io, &r, IPC_MBOX_SHARES_RESULT);
	if (write(stale.carol_said[1], "a", 1) != 1 ||
	    !byte_from(stale.owner_said[0], &c))
		_exit(7);
	second = notices_waiting(io);
	say(io, "notices %u %u\n", first, second);
	finish(io);
}

/* Every change to what SHARES would answer carol reaches carol's process
 * before the change's SHARE_DONE, once: two changes to "anyone" in a row
 * make one notice until she asks again, a grant to bob none. */
void
test_share_changes_reach_the_grantees_once(void)
{
	struct fake f[] = {
		{ .user = &carol, .script = script_stale_grantee,
		  .session = true },
		{ .user = &alice, .script = script_stale_owner, .session = true },
	};

	CU_ASSERT_FATAL(pipe(stale.owner_said) == 0 &&
	    pipe(stale.carol_said) == 0);
	run(f, nitems(f));
	for (int i = 0; i < 2; i++) {
		close(stale.owner_said[i]);
		close(stale.carol_said[i]);
	}
	CU_ASSERT_EQUAL(dir_share_set(dir, alice.id, "Team", "bob", ""), 0);
	CU_ASSERT_FALSE(f[0].killed || f[1].killed);
	CU_ASSERT_TRUE(said(&f[0], "notices 1 1\n"));
	CU_ASSERT_TRUE(said(&f[1], "exit\n"));
	assert_nothing_left();
}

static const char *bad_share_mailbox, *bad_share_grantee;

static void
script_bad_share(struct fake_io *io)
{
	take_session(io);
	share_send(io, bad_share_mailbox, bad_share_grantee, "lr");
	hang(io);
}

static void
expect_bad_share(const char *mailbox, const char *grantee)
{
	struct fake f[] = {
		{ .user = &alice, .script = script_bad_share, .session = true },
	};

	bad_share_mailbox = mailbox;
	bad_share_grantee = grantee;
	run(f, nitems(f));
	CU_ASSERT_TRUE(f[0].killed);
	assert_nothing_left();
}

void
test_share_with_unbounded_or_bad_fields_is_killed(void)
{
	char longest[1100];
	int n = 0;

	memset(longest, 'y', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	expect_bad_share(longest, "bob");	/* over MK_MBOX_NAME_MAX */
	expect_bad_share("Ctl\x1b[2J", "bob");	/* a store refuses it */
	expect_bad_share("Proj", "Bob");	/* not canonical */
	expect_bad_share("Proj", "no body");
	CU_ASSERT_EQUAL(dir_shares_of(dir, alice.id, count_share, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
}

static void
script_share_limit(struct fake_io *io)
{
	static const char *const who[] = { "bob", "carol", "admin2", "bob" };
	static const char *const rights[] = { "lr", "lr", "lr", "lrs" };
	struct ipc_reader r;

	take_session(io);
	for (size_t i = 0; i < nitems(who); i++) {
		grant_r(io, &r, "Team", who[i], rights[i]);
		uint8_t res = ipc_get_u8(&r);
		if (!ipc_end(&r))
			_exit(7);
		say(io, "%s=%s ", who[i], req_name(res));
	}
	finish(io);
}

void
test_share_beyond_the_limit_is_refused(void)
{
	struct fake f[] = {
		{ .user = &alice, .script = script_share_limit, .session = true },
	};
	unsigned saved = master.cfg.acl_max_entries_per_mailbox;
	int n = 0;

	master.cfg.acl_max_entries_per_mailbox = 2;
	run(f, nitems(f));
	master.cfg.acl_max_entries_per_mailbox = saved;
	CU_ASSERT_FALSE(f[0].killed);
	/* the third new entry is refused; changing an existing one is not */
	CU_ASSERT_TRUE(said(&f[0], "bob=OK carol=OK admin2=LIMIT bob=OK "));
	CU_ASSERT_EQUAL(dir_shares_of(dir, alice.id, count_share, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(dir_share_set(dir, alice.id, "Team", "bob", ""), 0);
	CU_ASSERT_EQUAL(dir_share_set(dir, alice.id, "Team", "carol", ""), 0);
	assert_nothing_left();
}

/* ---- live administration: IPC_MBOX_STATE and IPC_MBOX_KICK ---- */

static struct state_poll *poll_seen;
static int polls_done;

static void
poll_cb(struct state_poll *p, void *arg)
{
	(void)arg;
	poll_seen = p;
	polls_done++;
}

static void
start_poll(void)
{
	poll_seen = NULL;
	polls_done = 0;
	(void)state_poll_start(poll_cb, NULL);
}

static void
kick_alice(void)
{
	CU_ASSERT_EQUAL(sessions_kick("alice", "Bye now"), 1);
}

/* Sends an IPC_MBOX_STATE listing n entries (of its first session). */
static void
send_state(struct fake_io *io, uint64_t req, uint32_t n, const char *mbox)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_STATE);
	ipc_put_u64(&m, req);
	ipc_put_u64(&m, 4096);
	ipc_put_u32(&m, n);
	ipc_put_u32(&m, n);
	for (uint32_t i = 0; i < n; i++) {
		ipc_put_u64(&m, io->sessions[0]);
		ipc_put_str(&m, mbox);
		ipc_put_u32(&m, 42);
	}
	send_msg(io, &m);
}

static uint64_t
state_request(struct fake_io *io)
{
	struct ipc_reader r;

	recv_type(io, &r, IPC_MBOX_STATE_REQ);
	uint64_t req = ipc_get_u64(&r);
	if (!ipc_end(&r))
		_exit(7);
	return req;
}

static void
script_state_unasked(struct fake_io *io)
{
	take_session(io);
	send_state(io, 1, 1, "INBOX");
	hang(io);
}

static void
script_state_good(struct fake_io *io)
{
	take_session(io);
	send_state(io, state_request(io), 1, "INBOX");
	finish(io);
}

static void
script_state_too_many(struct fake_io *io)
{
	take_session(io);
	send_state(io, state_request(io), IPC_STATE_MAX_SESSIONS + 1, "x");
	hang(io);
}

static void
script_state_long_name(struct fake_io *io)
{
	char name[IPC_STATE_MBOX_MAX + 2];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	take_session(io);
	send_state(io, state_request(io), 1, name);
	hang(io);
}

void
test_state_answer_unasked_is_killed(void)
{
	struct fake f[] = {
		{ .user = &alice, .script = script_state_unasked,
		  .session = true },
	};

	run(f, nitems(f));
	CU_ASSERT_TRUE(f[0].killed);
	assert_nothing_left();
}

void
test_state_poll_collects_answers_and_kills_bad_ones(void)
{
	struct fake f[] = {
		{ .user = &alice, .script = script_state_good, .session = true },
		{ .user = &bob, .script = script_state_too_many,
		  .session = true },
		{ .user = &carol, .script = script_state_long_name,
		  .session = true },
	};
	const struct sess_report *s;

	watch.before_loop = start_poll;
	run(f, nitems(f));
	watch.before_loop = NULL;
	CU_ASSERT_FALSE(f[0].killed);
	CU_ASSERT_TRUE(f[1].killed);
	CU_ASSERT_TRUE(f[2].killed);
	/* done once, when the killed ones could no longer answer */
	CU_ASSERT_EQUAL(polls_done, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(poll_seen);
	CU_ASSERT_EQUAL(poll_seen->n, 3);
	for (size_t i = 0; i < poll_seen->n; i++) {
		const struct mbox_state *st = &poll_seen->st[i];
		CU_ASSERT_EQUAL(st->answered, strcmp(st->user, "alice") == 0);
		if (st->answered) {
			CU_ASSERT_EQUAL(st->store_bytes, 4096);
			CU_ASSERT_EQUAL(st->nlisted, 1);
			s = state_find_session(poll_seen, st->sess[0].id);
			CU_ASSERT_PTR_NOT_NULL(s);
			if (s != NULL) {
				CU_ASSERT_STRING_EQUAL(s->mailbox, "INBOX");
				CU_ASSERT_EQUAL(s->idle, 42);
			}
		}
	}
	state_poll_free(poll_seen);
	assert_nothing_left();
}

static void
script_kicked(struct fake_io *io)
{
	struct ipc_reader r;

	take_session(io);
	recv_type(io, &r, IPC_MBOX_KICK);
	uint64_t id = ipc_get_u64(&r);
	const char *text = ipc_get_str(&r);
	if (!ipc_end(&r))
		_exit(7);
	say(io, "kick %s %s\n", id == io->sessions[0] ? "mine" : "other",
	    text);
	finish(io);
}

static void
script_not_kicked(struct fake_io *io)
{
	take_session(io);
	finish(io);
}

void
test_kick_reaches_only_the_users_sessions(void)
{
	struct fake f[] = {
		{ .user = &alice, .script = script_kicked, .session = true },
		{ .user = &bob, .script = script_not_kicked, .session = true },
	};

	watch.before_loop = kick_alice;
	run(f, nitems(f));
	watch.before_loop = NULL;
	CU_ASSERT_TRUE(said(&f[0], "kick mine Bye now\n"));
	CU_ASSERT_FALSE(f[1].killed);
	CU_ASSERT_FALSE(said(&f[1], "kick"));
	assert_nothing_left();
}

/* ---- a peer backend's link process (cluster_share.c) ---- */

/* A link process as the master knows it: a child to kill, and a
 * channel whose other end (*peer) the test reads the answers on. */
static struct link_child *
fake_link(int *peer)
{
	struct link_child *lk = xcalloc(1, sizeof(*lk));
	int sp[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sp) == 0);
	lk->pid = fork();
	CU_ASSERT_FATAL(lk->pid != -1);
	if (lk->pid == 0) {
		for (;;)
			pause();
	}
	lk->sp = -1;
	lk->chan = ipc_chan_new(loop, sp[0], NULL, NULL);
	*peer = sp[1];
	return lk;
}

static void
fake_link_end(struct link_child *lk, int peer)
{
	int status;

	kill(lk->pid, SIGKILL);
	waitpid(lk->pid, &status, 0);
	if (lk->chan != NULL)
		ipc_chan_free(lk->chan);
	close(peer);
	free(lk);
}

/* Hands the message of type type with string fields f to handler as
 * if lk had sent it; the master's answer code (-1: none, -2: it killed
 * the link process). */
static int
link_says(struct link_child *lk, int peer,
    void (*handler)(struct link_child *, struct ipc_reader *), uint32_t type,
    const char *const *f, size_t nf)
{
	static uint8_t buf[IPC_MAX_MSG];
	unsigned killed = master.nkilled;
	struct ipc_reader r;
	struct ipc_msg m;
	int sp[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == 0);
	ipc_msg_init(&m, type);
	for (size_t i = 0; i < nf; i++)
		ipc_put_str(&m, f[i]);
	CU_ASSERT_FATAL(ipc_send_now(sp[0], &m) == 0);
	CU_ASSERT_FATAL(ipc_recv_now(sp[1], buf, &r) == 0);
	close(sp[0]);
	close(sp[1]);
	handler(lk, &r);
	if (master.nkilled != killed)
		return -2;
	if (lk->chan == NULL)
		return -1;
	ipc_chan_flush(lk->chan);
	struct pollfd pfd = { .fd = peer, .events = POLLIN };
	if (poll(&pfd, 1, 0) != 1 || ipc_recv_now(peer, buf, &r) == -1)
		return -1;
	int code = (int)ipc_get_u32(&r);
	if (r.fd != -1)
		close(r.fd);
	return code;
}

static int
share_from(const char *peer_name, const char *owner, const char *mailbox,
    const char *rights)
{
	const char *f[] = { owner, mailbox, "bob", rights, peer_name };
	int peer, code;
	struct link_child *lk = fake_link(&peer);

	code = link_says(lk, peer, xshare_share, IPC_LINK_SHARE, f, 5);
	fake_link_end(lk, peer);
	return code;
}

/* u's share index has Team for bob (whatever other tests left). */
static bool
team_of(const struct dir_user *u)
{
	unsigned n[2];
	bool exists = false;

	CU_ASSERT_EQUAL(dir_share_count(dir, u->id, "Team", "bob", n,
	    &exists), 0);
	return exists;
}

void
test_peer_indexes_only_owners_it_holds(void)
{
	struct dir_user dora;

	CU_ASSERT_FATAL(add_user("dora", false, &dora) == 0);
	CU_ASSERT_FATAL(dir_user_set_backend(dir, "dora", "b2") == 0);
	/* b2 holds dora: her share is indexed here, and its removal too */
	CU_ASSERT_EQUAL(share_from("b2", "dora", "Team", "lr"), LINK_OK);
	CU_ASSERT_EQUAL(dir_share_exists(dir, dora.id, "bob"), 1);
	CU_ASSERT_EQUAL(share_from("b2", "dora", "Team", ""), LINK_OK);
	CU_ASSERT_EQUAL(dir_share_exists(dir, dora.id, "bob"), 0);
	/* another backend may not speak for dora, nor b2 for alice */
	CU_ASSERT_EQUAL(share_from("b3", "dora", "Team", "lr"), LINK_REFUSED);
	CU_ASSERT_EQUAL(share_from("b2", "alice", "Team", "lr"),
	    LINK_REFUSED);
	CU_ASSERT_EQUAL(share_from("b2", "nobody", "Team", "lr"),
	    LINK_REFUSED);
	CU_ASSERT_EQUAL(dir_share_exists(dir, dora.id, "bob"), 0);
	CU_ASSERT_FALSE(team_of(&alice));
	/* malformed entries kill the link process */
	CU_ASSERT_EQUAL(share_from("b2", "dora", "Te\am", "lr"), -2);
	CU_ASSERT_EQUAL(share_from("b2", "dora", "Team", "lq"), -2);
	CU_ASSERT_EQUAL(share_from("b2", "DORA", "Team", "lr"), -2);
	CU_ASSERT_EQUAL(dir_share_exists(dir, dora.id, "bob"), 0);
}

static int
guest_from(const char *peer_name, const char *owner, const char *grantee)
{
	const char *f[] = { owner, grantee, peer_name };
	int peer, code;
	struct link_child *lk = fake_link(&peer);

	code = link_says(lk, peer, xshare_guest, IPC_LINK_GUEST, f, 3);
	CU_ASSERT_FALSE(lk->stream);
	fake_link_end(lk, peer);
	return code;
}

void
test_peer_guest_needs_this_backends_share(void)
{
	struct dir_user erin;

	CU_ASSERT_FATAL(add_user("erin", false, &erin) == 0);
	CU_ASSERT_FATAL(dir_user_set_backend(dir, "erin", "b2") == 0);
	/* carol (held here) shares Proj with bob, not with erin */
	CU_ASSERT_EQUAL(guest_from("b2", "carol", "erin"), LINK_REFUSED);
	/* bob is held here: b2 may not ask in his name */
	CU_ASSERT_EQUAL(guest_from("b2", "carol", "bob"), LINK_REFUSED);
	/* erin is b2's, not b3's */
	CU_ASSERT_EQUAL(dir_share_set(dir, carol.id, "Proj", "erin", "lr"), 0);
	CU_ASSERT_EQUAL(guest_from("b3", "carol", "erin"), LINK_REFUSED);
	/* an owner not held here */
	CU_ASSERT_EQUAL(guest_from("b2", "erin", "carol"), LINK_REFUSED);
	CU_ASSERT_EQUAL(guest_from("b2", "nobody", "erin"), LINK_REFUSED);
	/* names not as folded, or not names at all */
	CU_ASSERT_EQUAL(guest_from("b2", "Carol", "erin"), -2);
	CU_ASSERT_EQUAL(guest_from("b2", "carol", "er/in"), -2);
	CU_ASSERT_EQUAL(dir_share_set(dir, carol.id, "Proj", "erin", ""), 0);
}

/* CLUSTER_PEER_STREAMS streams served for one peer: the next is LIMIT,
 * before anything else is looked at; another peer is not held back. */
void
test_peer_streams_are_bounded(void)
{
	struct link_child fakes[CLUSTER_PEER_STREAMS];
	struct link_child *saved = cluster_links;
	struct dir_user frank;

	CU_ASSERT_FATAL(add_user("frank", false, &frank) == 0);
	CU_ASSERT_FATAL(dir_user_set_backend(dir, "frank", "b2") == 0);
	memset(fakes, 0, sizeof(fakes));
	for (size_t i = 0; i < nitems(fakes); i++) {
		fakes[i].stream = true;
		mk_strlcpy(fakes[i].peer, "b2", sizeof(fakes[i].peer));
		fakes[i].next = cluster_links;
		cluster_links = &fakes[i];
	}
	CU_ASSERT_EQUAL(guest_from("b2", "carol", "frank"), LINK_LIMIT);
	/* b3 has no stream open: it gets past the bound (and is refused
	 * for not holding frank) */
	CU_ASSERT_EQUAL(guest_from("b3", "carol", "frank"), LINK_REFUSED);
	cluster_links = cluster_links->next;	/* one fewer */
	CU_ASSERT_EQUAL(guest_from("b2", "carol", "frank"), LINK_REFUSED);
	cluster_links = saved;
}
