/*
 * linkd.c - the link process: one connection from another backend,
 * accepted on cluster_listen (cluster.h, link.h, doc/move.md).
 *
 * Forked by the spawner as login_user, chrooted into the empty
 * login_chroot, it holds the connection, its channel to the master and
 * one to the cluster key holder, and applies the seccomp filter of the
 * LMTP role (the one that may make a sealed memfd) before it reads a
 * byte from the peer.  The master's first message gives it the public
 * certificate chain, cluster_ca and this backend's name.  It runs the
 * TLS handshake (the peer must present a certificate signed by
 * cluster_ca, whose common name must be the name the peer gives in
 * LINK_HELLO), then serves requests one at a time:
 *
 *   MOVE_BEGIN, DATA..., END   the store copy goes into a memfd (its
 *              size and SHA-256 must be those announced), sealed, and
 *              to the master with the user's row (IPC_LINK_MOVE_IN);
 *              the master's answer goes back as LINK_RESULT.
 *   MOVE_COMMIT                IPC_LINK_COMMIT, answered likewise.
 *   SHARE                      IPC_LINK_SHARE, answered likewise.
 *   GUEST_OPEN                 IPC_LINK_GUEST: the master checks its
 *              share index and answers with one end of a guest session
 *              in the owner's process; from then on the process only
 *              relays bytes between it and the peer, then exits.
 *   anything else              LINK_RESULT UNSUPPORTED.
 *
 * A malformed frame, or DATA out of place, ends the connection.
 *
 * The same process also dials out (doc/cluster.md), when the master's
 * first message is IPC_LINK_DIAL instead of IPC_LINK_SETUP: it is then
 * the TLS client of another backend, whose certificate must bear the
 * name the master expects, and does one job: open a guest stream for a
 * grantee of this backend (then relays it like the server side), or
 * pass on changes of the share index (LINK_SHARE frames, each
 * answered).  It tells the master how the job went
 * (IPC_LINK_DIAL_RESULT).
 */
#include "daemon/cluster/cluster.h"
#include "daemon/cluster/link.h"
#include "auth/keyholder.h"
#include "common/log.h"
#include "common/sandbox.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gnutls/crypto.h>

/* How long the master may take to restore a store. */
#define MASTER_WAIT_MS (30 * 60 * 1000)
#define HANDSHAKE_MS   10000

struct linkd {
	struct link_conn *c;
	int               master_fd;
	uint8_t          *buf;		/* IPC_MAX_MSG */
	char              peer[MK_USER_MAX];
	/* A move being received */
	int               fd;		/* its memfd, -1: none */
	struct link_move  mv;
	uint64_t          got;
	gnutls_hash_hd_t  sha;
};

static void
result(struct linkd *l, enum link_code code, const char *text)
{
	struct ipc_msg m;

	link_frame_init(&m, LINK_RESULT);
	ipc_put_u32(&m, (uint32_t)code);
	ipc_put_str(&m, text);
	if (link_send(l->c, &m) == -1)
		fatalx("link to %s: cannot send", l->peer);
}

/* Sends m to the master and reads its answer of type type (code,
 * text, and a descriptor only with an OK where fd_ok): the code. */
static uint32_t
master_verdict(struct linkd *l, struct ipc_msg *m, uint32_t type, int wait_ms,
    bool fd_ok, struct ipc_reader *r, char *text, size_t len)
{
	struct pollfd pfd = { .fd = l->master_fd, .events = POLLIN };

	if (ipc_send_now(l->master_fd, m) == -1)
		fatal("to the master");
	if (poll(&pfd, 1, wait_ms) != 1 ||
	    ipc_recv_now(l->master_fd, l->buf, r) == -1)
		fatalx("the master did not answer");
	uint32_t code = ipc_get_u32(r);
	mk_strlcpy(text, ipc_get_str(r), len);
	if (r->type != type || !ipc_end(r) || code > LINK_LIMIT ||
	    (r->fd != -1) != (fd_ok && code == LINK_OK))
		fatalx("unexpected %s from the master", ipc_type_name(r->type));
	return code;
}

/* Sends m to the master and passes its answer to the peer. */
static void
ask_master(struct linkd *l, struct ipc_msg *m)
{
	struct ipc_reader r;
	char text[LINK_TEXT_MAX + 1];
	uint32_t code = master_verdict(l, m, IPC_LINK_MOVE_RESULT,
	    MASTER_WAIT_MS, false, &r, text, sizeof(text));

	result(l, (enum link_code)code, text);
}

static void
move_reset(struct linkd *l)
{
	unsigned char d[32];

	if (l->fd != -1) {
		close(l->fd);
		gnutls_hash_deinit(l->sha, d);
	}
	l->fd = -1;
	l->got = 0;
}

static void
on_begin(struct linkd *l, struct ipc_reader *r)
{
	if (!link_read_move_begin(r, &l->mv))
		fatalx("link to %s: malformed MOVE_BEGIN", l->peer);
	move_reset(l);
	l->fd = memfd_create("link-store", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (l->fd == -1 || gnutls_hash_init(&l->sha, GNUTLS_DIG_SHA256) < 0) {
		if (l->fd != -1)
			close(l->fd);
		l->fd = -1;
		result(l, LINK_TEMPFAIL, "no memory for the copy");
		return;
	}
	log_info("link from %s: receiving %s (%llu bytes)", l->peer,
	    l->mv.user, (unsigned long long)l->mv.bytes);
	result(l, LINK_OK, "send the store");
}

static void
on_data(struct linkd *l, struct ipc_reader *r)
{
	const uint8_t *p;
	size_t n;

	if (!link_read_move_data(r, &p, &n) || l->fd == -1 ||
	    n > l->mv.bytes - l->got)
		fatalx("link to %s: DATA out of place or beyond the size "
		    "announced", l->peer);
	if (mk_write_all(l->fd, p, n) == -1)
		fatal("writing the copy");
	gnutls_hash(l->sha, p, n);
	l->got += n;
}

static void
on_end(struct linkd *l, struct ipc_reader *r)
{
	unsigned char d[32];
	struct ipc_msg m;

	if (!ipc_end(r) || l->fd == -1)
		fatalx("link to %s: MOVE_END out of place", l->peer);
	gnutls_hash_deinit(l->sha, d);
	int fd = l->fd;
	l->fd = -1;
	if (l->got != l->mv.bytes || memcmp(d, l->mv.sha256, 32) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_SEAL) == -1) {
		close(fd);
		l->got = 0;
		result(l, LINK_TEMPFAIL, "the copy arrived damaged");
		return;
	}
	l->got = 0;
	ipc_msg_init(&m, IPC_LINK_MOVE_IN);
	ipc_put_str(&m, l->mv.user);
	ipc_put_str(&m, l->mv.hash);
	ipc_put_u8(&m, l->mv.admin);
	ipc_put_u64(&m, (uint64_t)(l->mv.quota_storage + 1));
	ipc_put_u64(&m, (uint64_t)(l->mv.quota_messages + 1));
	ipc_put_str(&m, l->peer);
	ipc_put_fd(&m, fd);
	explicit_bzero(l->mv.hash, sizeof(l->mv.hash));
	ask_master(l, &m);
}

static void
on_commit(struct linkd *l, struct ipc_reader *r)
{
	char user[MK_USER_MAX];
	struct ipc_msg m;

	if (!link_read_move_commit(r, user, sizeof(user)))
		fatalx("link to %s: malformed MOVE_COMMIT", l->peer);
	ipc_msg_init(&m, IPC_LINK_COMMIT);
	ipc_put_str(&m, user);
	ipc_put_str(&m, l->peer);
	ask_master(l, &m);
}

static void
on_share(struct linkd *l, struct ipc_reader *r)
{
	struct link_share sh;
	struct ipc_msg m;

	if (!link_read_share(r, &sh))
		fatalx("link to %s: malformed SHARE", l->peer);
	ipc_msg_init(&m, IPC_LINK_SHARE);
	ipc_put_str(&m, sh.owner);
	ipc_put_str(&m, sh.mailbox);
	ipc_put_str(&m, sh.grantee);
	ipc_put_str(&m, sh.rights);
	ipc_put_str(&m, l->peer);
	ask_master(l, &m);
}

/* The master's verdict on a guest stream: a code, and on OK the end of
 * the guest session to relay; then nothing else is served. */
static void
on_guest_open(struct linkd *l, struct ipc_reader *r)
{
	char owner[MK_USER_MAX], grantee[MK_USER_MAX], text[LINK_TEXT_MAX + 1];
	struct ipc_reader a;
	struct ipc_msg m;

	if (!link_read_guest_open(r, owner, grantee, sizeof(owner)))
		fatalx("link to %s: malformed GUEST_OPEN", l->peer);
	ipc_msg_init(&m, IPC_LINK_GUEST);
	ipc_put_str(&m, owner);
	ipc_put_str(&m, grantee);
	ipc_put_str(&m, l->peer);
	uint32_t code = master_verdict(l, &m, IPC_LINK_GUEST_RESULT,
	    HANDSHAKE_MS, true, &a, text, sizeof(text));
	result(l, (enum link_code)code, text);
	if (code != LINK_OK)
		return;
	log_info("link from %s: %s reaches %s's shared mailboxes", l->peer,
	    grantee, owner);
	link_relay(l->c, a.fd);
	close(a.fd);
	log_info("link from %s: %s's stream to %s ended", l->peer, grantee,
	    owner);
	link_close(l->c);
	_exit(0);
}

/* The peer's HELLO: its name must be its certificate's. */
static void
hello(struct linkd *l, const char *ours)
{
	struct ipc_reader r;
	struct ipc_msg m;
	uint32_t version;
	char err[256];

	if (link_recv(l->c, &r, HANDSHAKE_MS, err, sizeof(err)) == -1)
		fatalx("link: %s", err);
	if (!link_read_hello(&r, &version, l->peer, sizeof(l->peer)) ||
	    r.type != LINK_HELLO)
		fatalx("link from %s: no HELLO", link_peer_name(l->c));
	if (strcmp(l->peer, link_peer_name(l->c)) != 0)
		fatalx("link: the peer calls itself %s, its certificate %s: "
		    "refused", l->peer, link_peer_name(l->c));
	link_frame_init(&m, LINK_HELLO_OK);
	ipc_put_u32(&m, LINK_VERSION);
	ipc_put_str(&m, ours);
	if (link_send(l->c, &m) == -1)
		fatalx("link to %s: cannot send", l->peer);
	log_info("link from %s (protocol %u)", l->peer,
	    MK_MIN(version, (uint32_t)LINK_VERSION));
}

static void
serve(struct linkd *l)
{
	struct ipc_reader r;
	char err[256];

	for (;;) {
		if (link_recv(l->c, &r, CLUSTER_IDLE_S * 1000, err,
		    sizeof(err)) == -1) {
			log_info("link from %s: %s", l->peer, err);
			return;
		}
		switch (r.type) {
		case LINK_MOVE_BEGIN: on_begin(l, &r); break;
		case LINK_MOVE_DATA: on_data(l, &r); break;
		case LINK_MOVE_END: on_end(l, &r); break;
		case LINK_MOVE_COMMIT: on_commit(l, &r); break;
		case LINK_SHARE: on_share(l, &r); break;
		case LINK_GUEST_OPEN: on_guest_open(l, &r); break;
		default:
			result(l, LINK_UNSUPPORTED, "unknown request");
		}
	}
}

/* ---- dialing out (IPC_LINK_DIAL) ---- */

/* The job's outcome, to the master. */
static void
dial_result(struct linkd *l, enum link_code code, const char *text)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LINK_DIAL_RESULT);
	ipc_put_u32(&m, (uint32_t)code);
	ipc_put_str(&m, text);
	if (ipc_send_now(l->master_fd, &m) == -1)
		fatal("to the master");
}

/* HELLO, and the server's HELLO_OK naming the backend the master
 * meant to reach (its certificate's name too). */
static bool
dial_hello(struct linkd *l, const char *ours, const char *peer, char *err,
    size_t errlen)
{
	struct ipc_reader r;
	struct ipc_msg m;
	uint32_t version;

	link_frame_init(&m, LINK_HELLO);
	ipc_put_u32(&m, LINK_VERSION);
	ipc_put_str(&m, ours);
	if (link_send(l->c, &m) == -1 ||
	    link_recv(l->c, &r, HANDSHAKE_MS, err, errlen) == -1)
		return false;
	if (r.type != LINK_HELLO_OK ||
	    !link_read_hello(&r, &version, l->peer, sizeof(l->peer)) ||
	    strcmp(l->peer, peer) != 0 ||
	    strcmp(link_peer_name(l->c), peer) != 0) {
		snprintf(err, errlen, "the peer is not backend %s", peer);
		return false;
	}
	if (version < 2) {
		snprintf(err, errlen, "backend %s runs an older link protocol",
		    peer);
		return false;
	}
	return true;
}

/* One request, one LINK_RESULT: its code (text in text). */
static uint32_t
dial_ask(struct linkd *l, struct ipc_msg *m, char *text, size_t len)
{
	struct ipc_reader r;
	uint32_t code;
	char err[256];

	if (link_send(l->c, m) == -1 ||
	    link_recv(l->c, &r, HANDSHAKE_MS, err, sizeof(err)) == -1) {
		snprintf(text, len, "backend %s: the link broke", l->peer);
		return LINK_TEMPFAIL;
	}
	if (!link_read_result(&r, &code, text, len))
		fatalx("link to %s: malformed answer", l->peer);
	return code;
}

static void
dial_guest(struct linkd *l, const char *owner, const char *grantee, int fd)
{
	char text[LINK_TEXT_MAX + 1];
	struct ipc_msg m;

	link_frame_init(&m, LINK_GUEST_OPEN);
	ipc_put_str(&m, owner);
	ipc_put_str(&m, grantee);
	uint32_t code = dial_ask(l, &m, text, sizeof(text));
	dial_result(l, (enum link_code)code, text);
	if (code != LINK_OK)
		return;
	link_relay(l->c, fd);
	log_info("link to %s: %s's stream to %s ended", l->peer, grantee,
	    owner);
}

/* u32 n, then n entries (owner, mailbox, grantee, rights): each sent
 * and answered in turn.  A refusal is the peer's last word on that
 * entry (logged there and here); a broken link ends the job, to be
 * tried again as a whole (an entry set twice is set once). */
static void
dial_shares(struct linkd *l, struct ipc_reader *r)
{
	char text[LINK_TEXT_MAX + 1], last[LINK_TEXT_MAX + 1] = "";
	uint32_t n = ipc_get_u32(r), code = LINK_OK, refused = 0;

	for (uint32_t i = 0; i < n && code != LINK_TEMPFAIL && !r->bad; i++) {
		struct ipc_msg m;
		link_frame_init(&m, LINK_SHARE);
		for (int f = 0; f < 4; f++)
			ipc_put_str(&m, ipc_get_str(r));
		if ((code = dial_ask(l, &m, text, sizeof(text))) != LINK_OK &&
		    code != LINK_TEMPFAIL) {
			refused++;
			mk_strlcpy(last, text, sizeof(last));
		}
	}
	if (!ipc_end(r))
		fatalx("malformed LINK_DIAL");
	if (code == LINK_TEMPFAIL)
		dial_result(l, LINK_TEMPFAIL, text);
	else if (refused > 0) {
		snprintf(text, sizeof(text), "%u of %u refused: %s", refused, n,
		    last);
		dial_result(l, LINK_REFUSED, text);
	} else
		dial_result(l, LINK_OK, "indexed");
}

/* LINK_DIAL: bytes chain, bytes ca, str ours, str peer, u8 job (1: a
 * guest stream: str owner, str grantee, + the stream's descriptor;
 * 2: shares). */
__attribute__((noreturn))
static void
dial(struct linkd *l, int tcp, int kh_fd, struct ipc_reader *r)
{
	char err[256], ours[256], peer[MK_USER_MAX];
	char owner[MK_USER_MAX], grantee[MK_USER_MAX];
	gnutls_datum_t chain, ca;
	size_t n1, n2;

	chain.data = (unsigned char *)(uintptr_t)ipc_get_bytes(r, &n1);
	ca.data = (unsigned char *)(uintptr_t)ipc_get_bytes(r, &n2);
	mk_strlcpy(ours, ipc_get_str(r), sizeof(ours));
	mk_strlcpy(peer, ipc_get_str(r), sizeof(peer));
	uint8_t job = ipc_get_u8(r);
	if (job == 1) {
		mk_strlcpy(owner, ipc_get_str(r), sizeof(owner));
		mk_strlcpy(grantee, ipc_get_str(r), sizeof(grantee));
	}
	if (r->bad || (job != 1 && job != 2) || (job == 1) != (r->fd != -1) ||
	    (job == 1 && !ipc_end(r)))
		fatalx("malformed LINK_DIAL");
	chain.size = (unsigned)n1;
	ca.size = (unsigned)n2;
	sandbox_apply(SANDBOX_LMTP, 16);
	l->c = link_open(tcp, false, &chain, &ca, kh_fd, HANDSHAKE_MS, err,
	    sizeof(err));
	if (l->c == NULL || !dial_hello(l, ours, peer, err, sizeof(err))) {
		log_warnx("link to %s: %s", peer, err);
		dial_result(l, LINK_TEMPFAIL, err);
		_exit(1);
	}
	keyholder_disconnect();	/* no signature after the handshake */
	if (job == 1)
		dial_guest(l, owner, grantee, r->fd);
	else
		dial_shares(l, r);
	link_close(l->c);
	_exit(0);
}

void
linkd_main(const struct mk_config *cfg, int client, int master_fd, int kh_fd)
{
	struct linkd l = { .master_fd = master_fd, .fd = -1 };
	struct ipc_reader r;
	char err[256], ours[256];
	gnutls_datum_t chain, ca;
	size_t n1, n2;

	(void)cfg;
	l.buf = xmalloc(IPC_MAX_MSG);
	if (ipc_recv_now(master_fd, l.buf, &r) == -1)
		fatalx("no LINK_SETUP from the master");
	if (r.type == IPC_LINK_DIAL)
		dial(&l, client, kh_fd, &r);
	if (r.type != IPC_LINK_SETUP)
		fatalx("no LINK_SETUP from the master");
	chain.data = (unsigned char *)(uintptr_t)ipc_get_bytes(&r, &n1);
	ca.data = (unsigned char *)(uintptr_t)ipc_get_bytes(&r, &n2);
	mk_strlcpy(ours, ipc_get_str(&r), sizeof(ours));
	if (!ipc_end(&r) || r.fd != -1)
		fatalx("malformed LINK_SETUP");
	chain.size = (unsigned)n1;
	ca.size = (unsigned)n2;
	/* The memfd of a copy is the one file it writes. */
	sandbox_apply_fsize(SANDBOX_LMTP, 16, LINK_STORE_MAX);
	l.c = link_open(client, true, &chain, &ca, kh_fd, HANDSHAKE_MS, err,
	    sizeof(err));
	if (l.c == NULL) {
		log_warnx("link: %s", err);
		_exit(1);
	}
	keyholder_disconnect();	/* no signature after the handshake */
	hello(&l, ours);
	serve(&l);
	move_reset(&l);
	link_close(l.c);
	_exit(0);
}
