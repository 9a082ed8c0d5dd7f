/*
 * test_lmtp_authz.c - what the master lets an LMTP session process do
 * (daemon/master/lmtp.c), against compromised LMTP processes.
 *
 * The LMTP process reads what the MTA sends, i.e. mail from anywhere; a
 * parser bug could hand it to an attacker.  All it may then do is ask
 * the master who a recipient is: the master answers from its own
 * directory and lmtp_domains, gives a delivery channel only for a real
 * user, bounds how many channels one process holds, and kills a process
 * that sends anything else or anything malformed.  Each test forks fake
 * LMTP processes, registers them with lmtp_attach() exactly as the
 * accept path does after fork, and runs the master's real event loop.
 */
#include "daemon/master/master.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "store/directory.h"

#include <CUnit/CUnit.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/mk-lmtpauthz-XXXXXX";
static struct ev_loop *loop;
static struct directory *dir;
static uint8_t msgbuf[IPC_MAX_MSG];

int
test_lmtp_authz_init(void)
{
	struct mk_config cfg;
	char path[PATH_MAX], err[256];
	uint32_t id;

	log_init("test_lmtp_authz", true, 0);
	/* Traversable, so the mailbox processes forked for alice (as her
	 * uid when run as root) reach her directory. */
	if (mkdtemp(tmpdir) == NULL || chmod(tmpdir, 0711) == -1)
		return -1;
	config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", tmpdir);
	cfg.mailbox_linger = 0;
	cfg.lmtp_max_recipients = 2;
	snprintf(cfg.lmtp_domains, sizeof(cfg.lmtp_domains), "example.org");
	snprintf(path, sizeof(path), "%s/users", tmpdir);
	if (mkdir(path, 0711) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/directory.db", tmpdir);
	if (dir_open(path, true, &dir, err, sizeof(err)) != 0 ||
	    dir_user_add(dir, "alice", "$6$salt$not-a-real-hash", &id) != 0)
		return -1;
	/* The master asks a real spawner for alice's mailbox processes, as
	 * mailkeepd does; unprivileged accounts for what it checks. */
	snprintf(cfg.login_user, sizeof(cfg.login_user), "nobody");
	snprintf(cfg.hash_user, sizeof(cfg.hash_user), "nobody");
	spawner_start(true, NULL);
	if (spawner_config(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "spawner: %s\n", err);
		return -1;
	}
	loop = ev_loop_new();
	return master_core_init(&cfg, loop, dir);
}

int
test_lmtp_authz_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	spawner_stop();
	dir_close(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the fake LMTP process ---- */

struct fake_io {
	int chan, report;
};

static void __attribute__((format(printf, 2, 3)))
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

static const char *
req_name(uint8_t res)
{
	switch (res) {
	case IPC_REQ_OK: return "OK";
	case IPC_REQ_DENIED: return "DENIED";
	case IPC_REQ_NOTFOUND: return "NOTFOUND";
	case IPC_REQ_FAILED: return "FAILED";
	}
	return "?";
}

/* One RCPT; reports the answer and keeps the channel (held open until
 * the script ends, as a transaction would). */
static void
rcpt(struct fake_io *io, uint64_t id, const char *local, const char *domain)
{
	struct ipc_reader r;
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LMTP_RCPT);
	ipc_put_u64(&m, id);
	ipc_put_str(&m, local);
	ipc_put_str(&m, domain);
	if (ipc_send_now(io->chan, &m) == -1 ||
	    ipc_recv_now(io->chan, msgbuf, &r) == -1 ||
	    r.type != IPC_LMTP_RCPT_RESULT)
		_exit(4);
	uint64_t rid = ipc_get_u64(&r);
	uint8_t res = ipc_get_u8(&r);
	const char *user = ipc_get_str(&r);
	say(io, "rcpt %s@%s id=%llu %s user=%s fd=%s\n", local, domain,
	    (unsigned long long)rid, req_name(res), user,
	    r.fd != -1 ? "yes" : "no");
}

static void
finish(struct fake_io *io)
{
	say(io, "exit\n");
	_exit(0);
}

static void
hang(struct fake_io *io)
{
	(void)io;
	for (;;)
		pause();
}

typedef void (*script_fn)(struct fake_io *io);

struct fake {
	script_fn script;
	pid_t     pid;
	char      said[2048];
	bool      killed;
};

static void
watch_cb(struct ev_timer *t)
{
	/* Done when the fake is gone and every mailbox process it caused
	 * has been let go. */
	if (children_count() == 0 || now_ms() > *(uint64_t *)t->arg)
		ev_loop_break(loop);
	else
		ev_timer_start(loop, t, 20);
}

static void
run(struct fake *f)
{
	unsigned long killed_before = master.nkilled;
	uint64_t deadline = now_ms() + 8000;
	int chan[2], report[2];
	struct ev_timer t;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, chan) == 0);
	CU_ASSERT_FATAL(pipe(report) == 0);
	f->pid = fork();
	CU_ASSERT_FATAL(f->pid != -1);
	if (f->pid == 0) {
		struct fake_io io = { .chan = chan[1], .report = report[1] };
		ev_signals_reset();
		close(chan[0]);
		close(report[0]);
		f->script(&io);
		_exit(6);
	}
	close(chan[1]);
	close(report[1]);
	lmtp_attach(f->pid, chan[0]);
	ev_timer_init(&t, watch_cb, &deadline);
	ev_timer_start(loop, &t, 20);
	ev_loop_run(loop);
	ev_timer_stop(loop, &t);
	CU_ASSERT_EQUAL(children_count(), 0);
	if (children_count() != 0) {
		children_terminate(SIGKILL);
		deadline = now_ms() + 2000;
		ev_timer_start(loop, &t, 20);
		ev_loop_run(loop);
		ev_timer_stop(loop, &t);
	}
	ssize_t got = read(report[0], f->said, sizeof(f->said) - 1);
	f->said[got > 0 ? got : 0] = '\0';
	close(report[0]);
	f->killed = kill(f->pid, 0) == -1 && errno == ESRCH &&
	    master.nkilled > killed_before && strstr(f->said, "exit\n") == NULL;
}

static bool
said(const struct fake *f, const char *line)
{
	return strstr(f->said, line) != NULL;
}

/* ---- the tests ---- */

static void
script_answers(struct fake_io *io)
{
	rcpt(io, 1, "nosuchuser", "example.org");
	rcpt(io, 2, "alice", "elsewhere.test");
	rcpt(io, 3, "ALICE", "EXAMPLE.ORG");
	rcpt(io, 4, "alice", "");
	rcpt(io, 5, "\"alice\"", "example.org");
	finish(io);
}

void
test_lmtp_rcpt_answers(void)
{
	struct fake f = { .script = script_answers };

	run(&f);
	CU_ASSERT_TRUE(said(&f, "rcpt nosuchuser@example.org id=1 NOTFOUND user= fd=no\n"));
	CU_ASSERT_TRUE(said(&f, "rcpt alice@elsewhere.test id=2 DENIED user= fd=no\n"));
	CU_ASSERT_TRUE(said(&f, "rcpt ALICE@EXAMPLE.ORG id=3 OK user=alice fd=yes\n"));
	CU_ASSERT_TRUE(said(&f, "rcpt alice@ id=4 OK user=alice fd=yes\n"));
	CU_ASSERT_TRUE(said(&f, "rcpt \"alice\"@example.org id=5 NOTFOUND user= fd=no\n"));
	CU_ASSERT_TRUE(said(&f, "exit\n"));
	CU_ASSERT_FALSE(f.killed);
	CU_ASSERT_EQUAL(sessions_count(), 0);
}

/* lmtp_max_recipients is 2: a process may hold twice that (a finished
 * transaction's channels may not be counted out yet), no more. */
static void
script_hoard(struct fake_io *io)
{
	for (uint64_t i = 1; i <= 5; i++)
		rcpt(io, i, "alice", "example.org");
	finish(io);
}

void
test_lmtp_channels_bounded(void)
{
	struct fake f = { .script = script_hoard };

	run(&f);
	CU_ASSERT_TRUE(said(&f, "id=4 OK user=alice fd=yes\n"));
	CU_ASSERT_TRUE(said(&f, "id=5 FAILED user= fd=no\n"));
	CU_ASSERT_FALSE(f.killed);
	CU_ASSERT_EQUAL(sessions_count(), 0);
}

static void
script_with_fd(struct fake_io *io)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LMTP_RCPT);
	ipc_put_u64(&m, 1);
	ipc_put_str(&m, "alice");
	ipc_put_str(&m, "example.org");
	ipc_put_fd(&m, dup(io->report));
	(void)ipc_send_now(io->chan, &m);
	hang(io);
}

static void
script_foreign(struct fake_io *io)
{
	struct ipc_msg m;

	/* A mailbox process's message: not an LMTP process's to send. */
	ipc_msg_init(&m, IPC_MBOX_GUEST_OPEN);
	ipc_put_u64(&m, 1);
	ipc_put_str(&m, "alice");
	(void)ipc_send_now(io->chan, &m);
	hang(io);
}

static void
script_long_local(struct fake_io *io)
{
	char local[200];

	memset(local, 'a', sizeof(local) - 1);
	local[sizeof(local) - 1] = '\0';
	rcpt(io, 1, local, "example.org");
	hang(io);
}

void
test_lmtp_violations_kill(void)
{
	script_fn scripts[] = { script_with_fd, script_foreign,
	    script_long_local };

	for (size_t i = 0; i < nitems(scripts); i++) {
		struct fake f = { .script = scripts[i] };
		run(&f);
		CU_ASSERT_TRUE(f.killed);
		CU_ASSERT_FALSE(said(&f, "OK"));
		CU_ASSERT_EQUAL(sessions_count(), 0);
	}
}
