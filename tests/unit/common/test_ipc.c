/*
 * test_ipc.c - IPC channels under their bounds (issue 9): a message that
 * cannot be sent is that request's failure, never the channel's death;
 * the largest legal message goes even through a small send buffer; a
 * full peer queue (EAGAIN) only delays, and so does the kernel's limit
 * on descriptors in flight per uid (ETOOMANYREFS).  And the log escaper
 * every log line goes through.
 */
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"

#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct chan_seen {
	int dead;	/* handler called with r == NULL */
	int msgs;
};

static void
on_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg)
{
	struct chan_seen *s = arg;

	(void)c;
	if (r == NULL)
		s->dead++;
	else
		s->msgs++;
}

static void
stop_loop(struct ev_timer *t)
{
	ev_loop_break(t->arg);
}

/* Runs the loop for ms milliseconds: queued messages are flushed. */
static void
spin(struct ev_loop *l, uint64_t ms)
{
	struct ev_timer t;

	ev_timer_init(&t, stop_loop, l);
	ev_timer_start(l, &t, ms);
	ev_loop_run(l);
	ev_timer_stop(l, &t);
}

struct pair {
	struct ev_loop  *loop;
	struct ipc_chan *chan;
	int              peer;
	struct chan_seen seen;
	uint8_t         *buf;
};

static void
pair_open(struct pair *p)
{
	int sp[2];

	memset(p, 0, sizeof(*p));
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sp) == 0);
	p->loop = ev_loop_new();
	p->chan = ipc_chan_new(p->loop, sp[0], on_msg, &p->seen);
	p->peer = sp[1];
	p->buf = xmalloc(IPC_MAX_MSG);
}

/* The next message on the peer's end, if one comes within 2 s (a test
 * on broken code fails rather than hangs). */
static int
peer_recv(struct pair *p, struct ipc_reader *r)
{
	struct pollfd pfd = { .fd = p->peer, .events = POLLIN };

	if (poll(&pfd, 1, 2000) != 1)
		return -1;
	return ipc_recv_now(p->peer, p->buf, r);
}

static void
pair_close(struct pair *p)
{
	ipc_chan_free(p->chan);
	close(p->peer);
	ev_loop_free(p->loop);
	free(p->buf);
}

void
test_ipc_oversized_send_fails_and_the_channel_lives(void)
{
	static uint8_t big[IPC_MAX_MSG];
	struct ipc_reader r;
	struct ipc_msg m;
	struct pair p;

	pair_open(&p);
	/* One field larger than a message: marked, refused at send. */
	ipc_msg_init(&m, IPC_MBOX_SHARES_RESULT);
	ipc_put_u64(&m, 1);
	ipc_put_bytes(&m, big, sizeof(big));
	errno = 0;
	CU_ASSERT_EQUAL(ipc_chan_send(p.chan, &m), -1);
	CU_ASSERT_EQUAL(errno, EMSGSIZE);
	/* Fields that add up to more than a message: the same. */
	ipc_msg_init(&m, IPC_MBOX_SHARES_RESULT);
	for (int i = 0; i < 3; i++)
		ipc_put_bytes(&m, big, sizeof(big) / 2);
	CU_ASSERT_EQUAL(ipc_chan_send(p.chan, &m), -1);
	/* The channel goes on: the next message arrives, nothing died. */
	ipc_msg_init(&m, IPC_MBOX_SHARE_DONE);
	ipc_put_u8(&m, IPC_REQ_OK);
	CU_ASSERT_EQUAL(ipc_chan_send(p.chan, &m), 0);
	CU_ASSERT_EQUAL_FATAL(peer_recv(&p, &r), 0);
	CU_ASSERT_FALSE(r.bad);
	CU_ASSERT_EQUAL(r.type, IPC_MBOX_SHARE_DONE);
	CU_ASSERT_EQUAL(ipc_get_u8(&r), IPC_REQ_OK);
	CU_ASSERT_TRUE(ipc_end(&r));
	spin(p.loop, 50);
	CU_ASSERT_EQUAL(p.seen.dead, 0);
	/* and it still carries the other way */
	ipc_msg_init(&m, IPC_MBOX_SHARES);
	ipc_put_u64(&m, 9);
	CU_ASSERT_EQUAL(ipc_send_now(p.peer, &m), 0);
	spin(p.loop, 50);
	CU_ASSERT_EQUAL(p.seen.msgs, 1);
	CU_ASSERT_EQUAL(p.seen.dead, 0);
	pair_close(&p);
}

void
test_ipc_largest_message_goes_through_a_small_send_buffer(void)
{
	static uint8_t body[IPC_MAX_MSG];
	int small = 16 * 1024;
	struct ipc_reader r;
	struct ipc_msg m;
	struct pair p;
	size_t n;

	pair_open(&p);
	/* As on a host with a small net.core.wmem_default: the kernel
	 * would refuse the message with EMSGSIZE. */
	CU_ASSERT_FATAL(setsockopt(ipc_chan_fd(p.chan), SOL_SOCKET, SO_SNDBUF,
	    &small, sizeof(small)) == 0);
	memset(body, 'm', sizeof(body));
	ipc_msg_init(&m, IPC_MBOX_SHARES_RESULT);
	/* header 8 + length 4: exactly IPC_MAX_MSG in all */
	ipc_put_bytes(&m, body, IPC_MAX_MSG - 12);
	CU_ASSERT_EQUAL(ipc_chan_send(p.chan, &m), 0);
	CU_ASSERT_EQUAL_FATAL(peer_recv(&p, &r), 0);
	CU_ASSERT_EQUAL(r.len, IPC_MAX_MSG);
	const uint8_t *got = ipc_get_bytes(&r, &n);
	CU_ASSERT_EQUAL(n, IPC_MAX_MSG - 12);
	CU_ASSERT_TRUE(ipc_end(&r));
	CU_ASSERT_TRUE(n > 0 && got[0] == 'm' && got[n - 1] == 'm');
	spin(p.loop, 20);
	CU_ASSERT_EQUAL(p.seen.dead, 0);
	pair_close(&p);
}

void
test_ipc_full_peer_queue_delays_and_kills_nothing(void)
{
	struct ipc_reader r;
	struct ipc_msg m;
	struct pair p;
	int got = 0;

	pair_open(&p);
	/* More than the peer's queue holds (net.unix.max_dgram_qlen,
	 * 10 by default): the rest wait in the channel (EAGAIN). */
	for (uint32_t i = 0; i < 40; i++) {
		ipc_msg_init(&m, IPC_MBOX_SHARES);
		ipc_put_u64(&m, i);
		CU_ASSERT_EQUAL(ipc_chan_send(p.chan, &m), 0);
	}
	CU_ASSERT_EQUAL(p.seen.dead, 0);
	for (int round = 0; round < 40 && got < 40; round++) {
		while (got < 40 && recv(p.peer, p.buf, IPC_MAX_MSG,
		    MSG_DONTWAIT | MSG_PEEK) > 0) {
			CU_ASSERT_EQUAL_FATAL(peer_recv(&p, &r), 0);
			CU_ASSERT_EQUAL(ipc_get_u64(&r), (uint64_t)got);
			got++;
		}
		spin(p.loop, 10);
	}
	CU_ASSERT_EQUAL(got, 40);
	CU_ASSERT_EQUAL(p.seen.dead, 0);
	pair_close(&p);
}

void
test_ipc_queue_for_a_peer_that_never_reads_is_bounded(void)
{
	static uint8_t body[IPC_PAGE_MAX];
	struct ipc_reader r;
	struct ipc_msg m;
	struct pair p;
	size_t sent = 0;
	int refused = 0, got = 0;

	pair_open(&p);
	for (int i = 0; i < 2 * IPC_QUEUE_MAX / IPC_PAGE_MAX; i++) {
		ipc_msg_init(&m, IPC_MBOX_SHARES_RESULT);
		ipc_put_bytes(&m, body, sizeof(body));
		errno = 0;
		if (ipc_chan_send(p.chan, &m) == 0)
			sent++;
		else {
			CU_ASSERT_EQUAL(errno, ENOBUFS);
			refused++;
		}
	}
	CU_ASSERT_TRUE(refused > 0);
	CU_ASSERT_TRUE(sent * IPC_PAGE_MAX <= IPC_QUEUE_MAX + 2 * IPC_MAX_MSG);
	CU_ASSERT_EQUAL(p.seen.dead, 0);
	/* once the peer reads, everything queued arrives, and new ones go */
	for (int round = 0; round < 400 && (size_t)got < sent; round++) {
		while ((size_t)got < sent && recv(p.peer, p.buf, IPC_MAX_MSG,
		    MSG_DONTWAIT | MSG_PEEK) > 0) {
			CU_ASSERT_EQUAL_FATAL(ipc_recv_now(p.peer, p.buf, &r), 0);
			got++;
		}
		spin(p.loop, 5);
	}
	CU_ASSERT_EQUAL((size_t)got, sent);
	ipc_msg_init(&m, IPC_MBOX_SHARE_DONE);
	ipc_put_u8(&m, IPC_REQ_OK);
	CU_ASSERT_EQUAL(ipc_chan_send(p.chan, &m), 0);
	CU_ASSERT_EQUAL_FATAL(peer_recv(&p, &r), 0);
	CU_ASSERT_EQUAL(r.type, IPC_MBOX_SHARE_DONE);
	CU_ASSERT_EQUAL(p.seen.dead, 0);
	pair_close(&p);
}

/* ---- log_escape ---- */

/* In a child as an ordinary uid with RLIMIT_NOFILE 24: 30 messages
 * each carrying a descriptor, sent before the peer reads any.  Past 24
 * in flight the kernel refuses (ETOOMANYREFS: counted per uid, as for
 * the many login processes of login_user); the channel must keep the
 * rest and send them once the peer has read, not die.  Exit status:
 * 0 all 30 came with their descriptor, 2 the channel died, 3 fewer came,
 * 4 set-up failed, 5 the kernel never refused (the test proves nothing). */
static int
refs_child(void)
{
	struct rlimit rl = { 24, 24 };
	struct pair p;
	int null, got = 0;

	if (geteuid() == 0 && (setgroups(0, NULL) == -1 ||
	    setgid(65534) == -1 || setuid(65534) == -1))
		return 4;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    (null = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		return 4;
	pair_open(&p);
	for (int i = 0; i < 30; i++) {
		struct ipc_msg m;
		int fd;
		/* The few refused ones stay queued, holding theirs. */
		if ((fd = dup(null)) == -1)
			return 4;
		ipc_msg_init(&m, IPC_MBOX_SESSION_END);
		ipc_put_u64(&m, (uint64_t)i);
		ipc_put_fd(&m, fd);
		ipc_chan_send(p.chan, &m);
	}
	/* Nothing is read yet: some must still be queued. */
	if (ipc_chan_queued(p.chan) == 0)
		return 5;
	for (int rounds = 0; got < 30 && rounds < 300; rounds++) {
		struct ipc_reader r;
		struct pollfd pfd = { .fd = p.peer, .events = POLLIN };
		spin(p.loop, 10);
		if (p.seen.dead)
			return 2;
		while (poll(&pfd, 1, 0) == 1 &&
		    ipc_recv_now(p.peer, p.buf, &r) == 0) {
			if (r.type == IPC_MBOX_SESSION_END && r.fd != -1)
				got++;
			if (r.fd != -1)
				close(r.fd);
		}
	}
	return got == 30 ? 0 : 3;
}

void
test_ipc_descriptors_in_flight_limit_only_delays(void)
{
	int status;
	pid_t pid = fork();

	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0)
		_exit(refs_child());
	CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
	CU_ASSERT_TRUE(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
}

void
test_log_escape_control_characters(void)
{
	char out[128];

	log_escape(out, sizeof(out), "a\x1b[2Jb\n\tc\x7f" "d\r");
	CU_ASSERT_STRING_EQUAL(out, "a\\x1b[2Jb\\x0a\\x09c\\x7fd\\x0d");
	/* C1 controls as UTF-8 (CSI is U+009B) are escaped byte by byte;
	 * other UTF-8 passes as it is */
	log_escape(out, sizeof(out), "x\xc2\x9b" "1m \xc3\xa9t\xc3\xa9 \xc2\xa0");
	CU_ASSERT_STRING_EQUAL(out, "x\\xc2\\x9b1m \xc3\xa9t\xc3\xa9 \xc2\xa0");
	log_escape(out, sizeof(out), "plain text");
	CU_ASSERT_STRING_EQUAL(out, "plain text");
}

void
test_log_escape_truncates_between_escapes(void)
{
	char out[6];

	CU_ASSERT_EQUAL(log_escape(out, sizeof(out), "ab\x01" "cd"), 2);
	CU_ASSERT_STRING_EQUAL(out, "ab");
	CU_ASSERT_EQUAL(log_escape(out, sizeof(out), "abcdefgh"), 5);
	CU_ASSERT_STRING_EQUAL(out, "abcde");
	CU_ASSERT_EQUAL(log_escape(out, 1, "abc"), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
}
