/*
 * test_ldapdir.c - the master's side of the LDAP process
 * (daemon/master/ldapdir.c) against an LDAP process gone bad.
 *
 * Each test forks a real child that plays the LDAP process on a real
 * SEQPACKET channel, attached with ldapdir_attach() as spawn_process()
 * does, and runs the master's event loop until the request is
 * answered.  A well-formed entry is answered and cached; an answer to a
 * request it does not hold, a malformed entry (a DN past its bound,
 * unprintable backend, a result out of range, bytes left over), a
 * message of another kind, or silence past the deadline gets the
 * process killed and the request answered UNAVAILABLE; a cancelled
 * request's callback never runs.
 */
#include "daemon/master/master.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "store/directory.h"

#include <CUnit/CUnit.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/mk-ldapdir-XXXXXX";
static struct ev_loop *loop;
static struct directory *dir;

int
test_ldapdir_init(void)
{
	struct mk_config cfg;
	char path[PATH_MAX], err[256];

	log_init("test_ldapdir", true, 0);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	config_defaults(&cfg);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", tmpdir);
	cfg.directory = MK_DIR_LDAP;
	cfg.ldap_timeout = 1;		/* the deadline: 6 s */
	cfg.ldap_cache_ttl = 60;
	snprintf(path, sizeof(path), "%s/directory.db", tmpdir);
	if (dir_open(path, true, &dir, err, sizeof(err)) != 0)
		return -1;
	loop = ev_loop_new();
	if (master_core_init(&cfg, loop, dir) != 0)
		return -1;
	/* No spawner here: the tests attach their own processes. */
	return ldapdir_start(err, sizeof(err));
}

int
test_ldapdir_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	ldapdir_stop();
	hashpool_stop();
	dir_close(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the fake LDAP process ---- */

enum play {
	PLAY_GOOD, PLAY_WRONG_ID, PLAY_LONG_DN, PLAY_BAD_BACKEND,
	PLAY_BAD_RESULT, PLAY_TRAILING, PLAY_FOREIGN, PLAY_SILENT,
};

static void
entry(struct ipc_msg *m, uint64_t id, uint8_t result, const char *dn,
    const char *backend)
{
	ipc_msg_init(m, IPC_LDAP_ENTRY);
	ipc_put_u64(m, id);
	ipc_put_u8(m, result);
	ipc_put_str(m, dn);
	ipc_put_str(m, "$y$j9T$salt$hash");
	ipc_put_u8(m, 1);		/* admin */
	ipc_put_u8(m, 1);
	ipc_put_u64(m, 2048);
	ipc_put_u8(m, 0);
	ipc_put_u64(m, 0);
	ipc_put_str(m, backend);
	ipc_put_str(m, "");
}

__attribute__((noreturn))
static void
fake(int chan, enum play play)
{
	uint8_t *buf = xmalloc(IPC_MAX_MSG);
	struct ipc_reader r;
	struct ipc_msg m;
	char dn[1200];

	/* The bind password first, then one look-up. */
	if (ipc_recv_now(chan, buf, &r) == -1 || r.type != IPC_LDAP_CONFIG ||
	    ipc_recv_now(chan, buf, &r) == -1 || r.type != IPC_LDAP_LOOKUP)
		_exit(2);
	uint64_t id = ipc_get_u64(&r);
	memset(dn, 'x', sizeof(dn) - 1);
	dn[sizeof(dn) - 1] = '\0';
	switch (play) {
	case PLAY_GOOD:
		entry(&m, id, IPC_LDAP_OK, "uid=alice,dc=example", "mx1");
		break;
	case PLAY_WRONG_ID:
		entry(&m, id + 1, IPC_LDAP_OK, "uid=alice,dc=example", "mx1");
		break;
	case PLAY_LONG_DN:
		entry(&m, id, IPC_LDAP_OK, dn, "mx1");
		break;
	case PLAY_BAD_BACKEND:
		entry(&m, id, IPC_LDAP_OK, "uid=alice", "mx1\r\nX-Evil: 1");
		break;
	case PLAY_BAD_RESULT:
		entry(&m, id, 77, "uid=alice", "mx1");
		break;
	case PLAY_TRAILING:
		entry(&m, id, IPC_LDAP_OK, "uid=alice", "mx1");
		ipc_put_u8(&m, 0);
		break;
	case PLAY_FOREIGN:
		ipc_msg_init(&m, IPC_HASH_RESULT);
		ipc_put_u64(&m, id);
		ipc_put_u8(&m, 1);
		break;
	case PLAY_SILENT:
		for (;;)
			pause();
	}
	if (ipc_send_now(chan, &m) == -1)
		_exit(3);
	/* A compromised process would linger; the master must kill it. */
	for (;;)
		pause();
}

static struct {
	bool     called;
	int      result;
	bool     admin;
	int64_t  storage;
	char     backend[65];
} got;

static void
lookup_cb(void *arg, int result, const struct ldap_entry *e)
{
	(void)arg;
	got.called = true;
	got.result = result;
	if (e != NULL) {
		got.admin = e->admin;
		got.storage = e->quota_storage;
		mk_strlcpy(got.backend, e->backend, sizeof(got.backend));
	}
}

static uint64_t deadline;
static bool (*until)(void);

static bool
answered(void)
{
	return got.called;
}

static bool
no_children(void)
{
	return children_count() == 0;
}

static void
watch_cb(struct ev_timer *t)
{
	if (until() || now_ms() > deadline)
		ev_loop_break(loop);
	else
		ev_timer_start(loop, t, 20);
}

/* Runs the master's loop until cond() holds or ms have passed. */
static void
spin(bool (*cond)(void), unsigned ms)
{
	struct ev_timer t;

	until = cond;
	deadline = now_ms() + ms;
	ev_timer_init(&t, watch_cb, NULL);
	ev_timer_start(loop, &t, 20);
	ev_loop_run(loop);
	ev_timer_stop(loop, &t);
}

/* Runs play in a fake process until the look-up of name is answered
 * (cancelled: for a second) and the process is gone - killed by the
 * master, or else ended here; returns whether the master killed it. */
static bool
run(enum play play, const char *name, bool cancel)
{
	unsigned long killed = master.nkilled;
	int sv[2];

	memset(&got, 0, sizeof(got));
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		ev_signals_reset();
		close(sv[0]);
		fake(sv[1], play);
	}
	close(sv[1]);
	ldapdir_attach(pid, sv[0]);
	uint64_t id = ldapdir_lookup(name, lookup_cb, NULL);
	CU_ASSERT(id != 0);
	if (cancel)
		ldapdir_cancel(id);
	spin(answered, cancel ? 1000 : 10000);
	spin(no_children, 200);
	bool by_master = master.nkilled == killed + 1;
	if (children_count() != 0) {
		kill(pid, SIGTERM);
		spin(no_children, 5000);
	}
	return by_master;
}

/* ---- the tests ---- */

void
test_ldapdir_good_entry_is_answered_and_cached(void)
{
	struct ldap_entry e;

	CU_ASSERT_FALSE(run(PLAY_GOOD, "alice", false));
	CU_ASSERT_EQUAL(got.result, IPC_LDAP_OK);
	CU_ASSERT_TRUE(got.admin);
	CU_ASSERT_EQUAL(got.storage, 2048);
	CU_ASSERT_STRING_EQUAL(got.backend, "mx1");
	CU_ASSERT_TRUE(ldapdir_cached("alice", &e));
	CU_ASSERT_STRING_EQUAL(e.dn, "uid=alice,dc=example");
	CU_ASSERT_EQUAL(e.quota_messages, -1);
	ldapdir_flush();
	CU_ASSERT_FALSE(ldapdir_cached("alice", &e));
}

void
test_ldapdir_bad_answers_kill_the_process(void)
{
	static const enum play plays[] = {
		PLAY_WRONG_ID, PLAY_LONG_DN, PLAY_BAD_BACKEND, PLAY_BAD_RESULT,
		PLAY_TRAILING, PLAY_FOREIGN,
	};
	struct ldap_entry e;

	for (size_t i = 0; i < nitems(plays); i++) {
		CU_ASSERT_TRUE(run(plays[i], "bob", false));
		CU_ASSERT_EQUAL(got.result, IPC_LDAP_UNAVAILABLE);
		CU_ASSERT_FALSE(ldapdir_cached("bob", &e));
	}
}

void
test_ldapdir_silence_past_the_deadline_kills(void)
{
	uint64_t t0 = now_ms();

	CU_ASSERT_TRUE(run(PLAY_SILENT, "carol", false));
	CU_ASSERT_EQUAL(got.result, IPC_LDAP_UNAVAILABLE);
	/* 5 x ldap_timeout + 1 s, not sooner */
	CU_ASSERT(now_ms() - t0 >= 5900);
}

void
test_ldapdir_cancelled_request_is_not_answered(void)
{
	struct ldap_entry e;

	CU_ASSERT_FALSE(run(PLAY_GOOD, "dave", true));
	CU_ASSERT_FALSE(got.called);
	/* the answer came, and is cached for the next login */
	CU_ASSERT_TRUE(ldapdir_cached("dave", &e));
}
