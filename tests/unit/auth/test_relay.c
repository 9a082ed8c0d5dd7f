/*
 * test_relay.c - auth/relay.c with a real GnuTLS client.
 *
 * Each test forks a relay: the child completes the server handshake and
 * runs relay_run() between a "client" socketpair (TLS) and a "mailbox"
 * socketpair (plaintext), exactly as the login process does after a
 * hand-off.  The parent plays both ends: a GnuTLS client session on one
 * side, the mailbox process's socket on the other.  Socket buffers are
 * made small so that what the kernel can hold is small next to what a
 * relay that did not push back would swallow.
 *
 * What is checked: several MB both ways at once arrive byte for byte;
 * a side that stops reading stalls the writer on the other side after a
 * bounded amount (in each direction); bytes GnuTLS decrypted before the
 * relay started are delivered without further client traffic; the end
 * of the session brings close_notify; the end of the client's data
 * brings EOF to the mailbox side; every relay exits.
 */
#include "auth/tls.h"
#include "common/log.h"
#include "common/util.h"
#include "tests/unit/auth/tls_support.h"

#include <CUnit/CUnit.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SOCKBUF   (16 * 1024)
/* What may sit between a stalled reader and a blocked writer: kernel
 * buffers (a few SOCKBUF, doubled by the kernel, plus per-packet
 * overhead), RELAY_BUF_MAX, one TLS record.  Generous; a relay that
 * buffered without bound takes all of STALL_TRY. */
#define STALL_BOUND (RELAY_BUF_MAX + 1024 * 1024)
#define STALL_TRY   (24 * 1024 * 1024)

static char dir[] = "/tmp/mk-relay-XXXXXX";
static struct tls_creds *creds;

int
test_relay_init(void)
{
	char cert[PATH_MAX], key[PATH_MAX], err[256];

	log_init("test_relay", true, 0);
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL || tt_make_cert(dir, "r", cert, key) == -1)
		return -1;
	if (tls_creds_load(cert, key, "", &creds, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

int
test_relay_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	tls_creds_free(creds);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct rig {
	pid_t            pid;
	int              cfd;	/* client's socket */
	int              mfd;	/* mailbox process's socket */
	gnutls_session_t c;
};

static void
small_buffers(int fd)
{
	int n = SOCKBUF;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof(n));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
}

/* The relay process.  preread: bytes to take out of the session before
 * relaying (forwarded first), leaving the rest of their record inside
 * GnuTLS where epoll cannot see it. */
__attribute__((noreturn))
static void
relay_child(int tfd, int pfd, size_t preread)
{
	gnutls_session_t s = tls_session_new(creds, tfd);
	uint32_t ev;
	int rc;

	if (s == NULL)
		_exit(10);
	while ((rc = tls_handshake_step(s, &ev)) == 0) {
		struct pollfd p = { .fd = tfd, .events = (short)ev };
		poll(&p, 1, 1000);
	}
	if (rc == -1)
		_exit(11);
	if (preread > 0) {
		char b[64];
		ssize_t n;
		struct pollfd p = { .fd = tfd, .events = POLLIN };
		poll(&p, 1, 2000);
		while ((n = tls_recv(s, b, MK_MIN(preread, sizeof(b)))) == -1 &&
		    errno == EAGAIN)
			poll(&p, 1, 100);
		if (n <= 0 || send(pfd, b, (size_t)n, 0) != n)
			_exit(12);
	}
	rc = relay_run(s, tfd, pfd);
	gnutls_deinit(s);
	_exit(rc == 0 ? 0 : 1);
}

static void
rig_start(struct rig *g, size_t preread, const char *early, size_t nearly)
{
	int t[2], p[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, t) == 0);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0);
	for (int i = 0; i < 2; i++) {
		small_buffers(t[i]);
		small_buffers(p[i]);
	}
	set_nonblock(t[1]);
	g->pid = fork();
	CU_ASSERT_FATAL(g->pid != -1);
	if (g->pid == 0) {
		close(t[0]);
		close(p[1]);
		relay_child(t[1], p[0], preread);
	}
	close(t[1]);
	close(p[0]);
	g->cfd = t[0];
	g->mfd = p[1];
	g->c = tt_client(g->cfd, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g->c);
	CU_ASSERT_FATAL(tt_client_handshake(g->c));
	if (nearly > 0)
		CU_ASSERT_EQUAL(gnutls_record_send(g->c, early, nearly),
		    (ssize_t)nearly);
	set_nonblock(g->cfd);
	set_nonblock(g->mfd);
}

/* Waits for the relay to exit; its exit status, or -1 on timeout. */
static int
rig_wait(struct rig *g, int ms)
{
	int status;

	for (int i = 0; i < ms / 10; i++) {
		pid_t r = waitpid(g->pid, &status, WNOHANG);
		if (r == g->pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
		poll(NULL, 0, 10);
	}
	kill(g->pid, SIGKILL);
	waitpid(g->pid, &status, 0);
	return -1;
}

static void
rig_free(struct rig *g)
{
	if (g->c != NULL)
		gnutls_deinit(g->c);
	if (g->cfd != -1)
		close(g->cfd);
	if (g->mfd != -1)
		close(g->mfd);
	g->c = NULL;
	g->cfd = g->mfd = -1;
}

/* Byte i of a stream: a pattern that shows loss, duplication, order. */
static unsigned char
pat(size_t i, unsigned seed)
{
	return (unsigned char)((i * 7 + i / 251 + seed) & 0xff);
}

/* ---- moving data: both sides of the parent, non-blocking ---- */

struct flow {
	size_t sent, rcvd, total;
	unsigned seed;
	bool bad;		/* a received byte was wrong */
	bool eof;
	bool clean;		/* the end was a close_notify / EOF */
};

static ssize_t
c_send(struct rig *g, const void *p, size_t n)
{
	ssize_t r = gnutls_record_send(g->c, p, n);
	if (r >= 0)
		return r;
	errno = (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) ? EAGAIN :
	    EPIPE;
	return -1;
}

/* 0: clean end (close_notify); -2: end without close_notify. */
static ssize_t
c_recv(struct rig *g, void *p, size_t n)
{
	ssize_t r = gnutls_record_recv(g->c, p, n);
	if (r >= 0)
		return r;
	if (r == GNUTLS_E_PREMATURE_TERMINATION)
		return -2;
	errno = (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) ? EAGAIN :
	    EPIPE;
	return -1;
}

static bool
push(struct flow *f, ssize_t (*snd)(void *, const void *, size_t), void *arg)
{
	unsigned char b[8192];
	bool moved = false;

	while (f->sent < f->total) {
		size_t n = MK_MIN(sizeof(b), f->total - f->sent);
		for (size_t i = 0; i < n; i++)
			b[i] = pat(f->sent + i, f->seed);
		ssize_t r = snd(arg, b, n);
		if (r <= 0)
			break;
		f->sent += (size_t)r;
		moved = true;
	}
	return moved;
}

static bool
pull(struct flow *f, ssize_t (*rcv)(void *, void *, size_t), void *arg)
{
	unsigned char b[8192];
	bool moved = false;

	while (!f->eof) {
		ssize_t r = rcv(arg, b, sizeof(b));
		if (r == 0 || r == -2) {
			f->eof = true;
			f->clean = r == 0;
			moved = true;
			break;
		}
		if (r < 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (b[i] != pat(f->rcvd + (size_t)i, f->seed))
				f->bad = true;
		f->rcvd += (size_t)r;
		moved = true;
	}
	return moved;
}

static ssize_t cs(void *g, const void *p, size_t n) { return c_send(g, p, n); }
static ssize_t cr(void *g, void *p, size_t n) { return c_recv(g, p, n); }

static ssize_t
ms(void *g, const void *p, size_t n)
{
	return send(((struct rig *)g)->mfd, p, n, MSG_NOSIGNAL);
}

static ssize_t
mr(void *g, void *p, size_t n)
{
	return recv(((struct rig *)g)->mfd, p, n, 0);
}

/* Moves up (client -> mailbox) and down (mailbox -> client) until
 * neither has moved for idle_ms. */
static void
run_flows(struct rig *g, struct flow *up, struct flow *down, int idle_ms)
{
	uint64_t last = now_ms();

	while (now_ms() - last < (uint64_t)idle_ms) {
		bool moved = false;
		if (up != NULL) {
			moved |= push(up, cs, g);
			moved |= pull(up, mr, g);
		}
		if (down != NULL) {
			moved |= push(down, ms, g);
			moved |= pull(down, cr, g);
		}
		if (moved) {
			last = now_ms();
			continue;
		}
		struct pollfd p[2] = {
			{ .fd = g->cfd, .events = POLLIN },
			{ .fd = g->mfd, .events = POLLIN },
		};
		if (up != NULL && up->sent < up->total)
			p[0].events |= POLLOUT;
		if (down != NULL && down->sent < down->total)
			p[1].events |= POLLOUT;
		poll(p, 2, 10);
	}
}

/* Writes with fn until nothing has moved for idle_ms (the reader on
 * the far side reads nothing meanwhile). */
static void
stall(struct rig *g, struct flow *f, ssize_t (*fn)(void *, const void *,
    size_t), int idle_ms)
{
	uint64_t last = now_ms();

	while (f->sent < f->total && now_ms() - last < (uint64_t)idle_ms) {
		if (push(f, fn, g))
			last = now_ms();
		else
			poll(NULL, 0, 5);
	}
}

/* ---- the tests ---- */

void
test_relay_bulk_both_ways(void)
{
	struct rig g;
	struct flow up = { .total = 5 * 1024 * 1024 + 17, .seed = 1 };
	struct flow down = { .total = 9 * 1024 * 1024 + 3, .seed = 2 };

	rig_start(&g, 0, NULL, 0);
	run_flows(&g, &up, &down, 2000);
	CU_ASSERT_EQUAL(up.rcvd, up.total);
	CU_ASSERT_EQUAL(down.rcvd, down.total);
	CU_ASSERT_FALSE(up.bad);
	CU_ASSERT_FALSE(down.bad);
	/* The session ends on the mailbox side: close_notify, then exit. */
	close(g.mfd);
	g.mfd = -1;
	down.total = down.sent;
	run_flows(&g, NULL, &down, 300);
	CU_ASSERT_TRUE(down.eof);
	CU_ASSERT_TRUE(down.clean);	/* close_notify, not a bare EOF */
	CU_ASSERT_EQUAL(rig_wait(&g, 3000), 0);
	rig_free(&g);
}

/* The client stops reading: the mailbox side can write only a bounded
 * amount, then everything still arrives intact. */
void
test_relay_backpressure_down(void)
{
	struct rig g;
	struct flow down = { .total = STALL_TRY, .seed = 3 };

	rig_start(&g, 0, NULL, 0);
	stall(&g, &down, ms, 300);
	CU_ASSERT(down.sent > 0);
	CU_ASSERT(down.sent < STALL_BOUND);
	down.total = down.sent;
	run_flows(&g, NULL, &down, 500);
	CU_ASSERT_EQUAL(down.rcvd, down.total);
	CU_ASSERT_FALSE(down.bad);
	close(g.mfd);
	g.mfd = -1;
	CU_ASSERT_EQUAL(rig_wait(&g, 3000), 0);
	rig_free(&g);
}

/* The mailbox side stops reading: the client is held back likewise. */
void
test_relay_backpressure_up(void)
{
	struct rig g;
	struct flow up = { .total = STALL_TRY, .seed = 4 };

	rig_start(&g, 0, NULL, 0);
	stall(&g, &up, cs, 300);
	CU_ASSERT(up.sent > 0);
	CU_ASSERT(up.sent < STALL_BOUND);
	up.total = up.sent;
	run_flows(&g, &up, NULL, 500);
	CU_ASSERT_EQUAL(up.rcvd, up.total);
	CU_ASSERT_FALSE(up.bad);
	close(g.mfd);
	g.mfd = -1;
	CU_ASSERT_EQUAL(rig_wait(&g, 3000), 0);
	rig_free(&g);
}

/* A whole record arrives before the relay starts and the relay's owner
 * has read part of it: the rest must come through with no new traffic. */
void
test_relay_delivers_what_gnutls_holds(void)
{
	static const char early[] = "b1 SELECT INBOX\r\nb2 NOOP\r\n";
	struct rig g;
	char got[64];
	size_t n = 0;

	rig_start(&g, 3, early, sizeof(early) - 1);
	for (int i = 0; i < 200 && n < sizeof(early) - 1; i++) {
		ssize_t r = recv(g.mfd, got + n, sizeof(got) - n, 0);
		if (r > 0)
			n += (size_t)r;
		else
			poll(NULL, 0, 10);
	}
	CU_ASSERT_EQUAL(n, sizeof(early) - 1);
	CU_ASSERT_EQUAL(memcmp(got, early, n), 0);
	close(g.mfd);
	g.mfd = -1;
	CU_ASSERT_EQUAL(rig_wait(&g, 3000), 0);
	rig_free(&g);
}

/* The client says goodbye: the mailbox side sees EOF after the client's
 * last bytes, and its last words still reach the client. */
void
test_relay_client_close_notify(void)
{
	static const char bye[] = "* BYE see you\r\n";
	struct rig g;
	char b[64];
	ssize_t r;
	size_t n = 0;

	rig_start(&g, 0, NULL, 0);
	CU_ASSERT_EQUAL(c_send(&g, "x LOGOUT\r\n", 10), 10);
	CU_ASSERT_EQUAL(gnutls_bye(g.c, GNUTLS_SHUT_WR), 0);
	for (int i = 0; i < 300; i++) {
		r = recv(g.mfd, b + n, sizeof(b) - n, 0);
		if (r == 0)
			break;
		if (r > 0)
			n += (size_t)r;
		else
			poll(NULL, 0, 10);
	}
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_EQUAL(n, 10);
	CU_ASSERT_EQUAL(send(g.mfd, bye, sizeof(bye) - 1, 0),
	    (ssize_t)sizeof(bye) - 1);
	close(g.mfd);
	g.mfd = -1;
	n = 0;
	for (int i = 0; i < 300; i++) {
		r = c_recv(&g, b + n, sizeof(b) - n);
		if (r == 0 || r == -2)
			break;
		if (r > 0)
			n += (size_t)r;
		else
			poll(NULL, 0, 10);
	}
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_EQUAL(n, sizeof(bye) - 1);
	CU_ASSERT_EQUAL(memcmp(b, bye, n), 0);
	CU_ASSERT_EQUAL(rig_wait(&g, 3000), 0);
	rig_free(&g);
}

/* The client vanishes without a word: the relay does not outlive it. */
void
test_relay_client_vanishes(void)
{
	struct rig g;
	char b[16];
	ssize_t r = -1;

	rig_start(&g, 0, NULL, 0);
	gnutls_deinit(g.c);
	g.c = NULL;
	close(g.cfd);
	g.cfd = -1;
	for (int i = 0; i < 300; i++) {
		r = recv(g.mfd, b, sizeof(b), 0);
		if (r >= 0)
			break;
		poll(NULL, 0, 10);
	}
	CU_ASSERT_EQUAL(r, 0);		/* the mailbox side sees EOF */
	close(g.mfd);
	g.mfd = -1;
	CU_ASSERT_NOT_EQUAL(rig_wait(&g, 3000), -1);
	rig_free(&g);
}
