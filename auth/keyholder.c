/*
 * keyholder.c - the TLS key holder process, and the private key that
 * the relays use to reach it (see keyholder.h).
 *
 * The process is small on purpose: read two descriptors, answer one
 * READY, then a loop over SEQPACKET channels where each message is one
 * signature or decryption and each answer one send.  The key is the
 * only secret here and nothing in the protocol returns it: a relay may
 * have the key used (for its handshakes; a per-handshake channel only
 * KEYHOLDER_MAX_OPS times), never read.  Anything that is not
 * an operation request - a descriptor, a malformed message, an unknown
 * type, a client that does not read its answers - closes that channel;
 * only the master's channel carries new channels, and nonsense from the
 * master (the more privileged side) is fatal.
 */
#include "auth/keyholder.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/sandbox.h"
#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* A certificate chain or key file larger than this is not one. */
#define PEM_MAX (1024 * 1024)
/* Largest input of one operation: TLS 1.2 signs both randoms and the
 * (EC)DHE parameters, at most a few KiB with ffdhe8192; a ciphertext
 * is one RSA block. */
#define OP_INPUT_MAX (16 * 1024)
/* Descriptors besides the channels: epoll, the master's channel, log. */
#define FD_SLACK 16

/* ---- the process ---- */

static int
read_all(int fd, size_t max, gnutls_datum_t *d)
{
	size_t cap = 4096, len = 0;
	unsigned char *p = xmalloc(cap + 1);

	for (;;) {
		if (len == cap) {
			if (cap >= max) {
				freezero(p, cap + 1);
				errno = EFBIG;
				return -1;
			}
			size_t ncap = MK_MIN(cap * 2, max);
			unsigned char *np = xmalloc(ncap + 1);
			memcpy(np, p, len);
			freezero(p, cap + 1);	/* it may be the key */
			p = np;
			cap = ncap;
		}
		ssize_t n = read(fd, p + len, cap - len);
		if (n == 0)
			break;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int e = errno;
			freezero(p, cap + 1);
			errno = e;
			return -1;
		}
		len += (size_t)n;
	}
	p[len] = '\0';
	d->data = p;
	d->size = (unsigned)len;
	return 0;
}

struct holder {
	gnutls_privkey_t key;
	int              pk;		/* gnutls_pk_algorithm_t */
	int              epfd;
	int              master_fd;	/* -1 once the master retired us */
	unsigned        *ops;		/* per descriptor: operations served */
	unsigned         nfd;		/* size of ops[] */
	unsigned         nchan, max_channels;
	uint8_t         *buf;		/* one message, IPC_MAX_MSG */
};

/* Reads the chain and key, checks them; on success h->key holds the key
 * and *chain the PEM chain.  -1 with the reason in err. */
static int
load(struct holder *h, int cert_fd, int key_fd, gnutls_datum_t *chain,
    char *err, size_t errlen)
{
	gnutls_datum_t k = { 0 };
	gnutls_certificate_credentials_t cred = NULL;
	int rc = -1, grc;

	if (read_all(cert_fd, PEM_MAX, chain) == -1) {
		snprintf(err, errlen, "tls_cert: %s", strerror(errno));
		return -1;
	}
	if (read_all(key_fd, PEM_MAX, &k) == -1) {
		snprintf(err, errlen, "tls_key: %s", strerror(errno));
		goto out;
	}
	/* GnuTLS's own pairing check (it signs and verifies a test
	 * message): its error text is what the operator gets. */
	if ((grc = gnutls_certificate_allocate_credentials(&cred)) < 0 ||
	    (grc = gnutls_certificate_set_x509_key_mem(cred, chain, &k,
	    GNUTLS_X509_FMT_PEM)) < 0) {
		snprintf(err, errlen, "%s", gnutls_strerror(grc));
		goto out;
	}
	if ((grc = gnutls_privkey_init(&h->key)) < 0 ||
	    (grc = gnutls_privkey_import_x509_raw(h->key, &k,
	    GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		snprintf(err, errlen, "tls_key: %s", gnutls_strerror(grc));
		goto out;
	}
	h->pk = gnutls_privkey_get_pk_algorithm(h->key, NULL);
	rc = 0;
out:
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);	/* wipes its copy */
	if (k.data != NULL)
		freezero(k.data, k.size);
	close(cert_fd);
	close(key_fd);
	return rc;
}

static void
send_ready(int fd, bool ok, const char *err, const gnutls_datum_t *chain)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_KEY_READY);
	ipc_put_u8(&m, ok ? 1 : 0);
	ipc_put_str(&m, ok ? "" : err);
	ipc_put_bytes(&m, ok ? chain->data : NULL, ok ? chain->size : 0);
	if (ipc_send_now(fd, &m) == -1)
		fatal("send to master");
}

void
keyholder_refuse(int master_fd, const char *why)
{
	send_ready(master_fd, false, why, NULL);
	_exit(1);
}

static void
chan_close(struct holder *h, int fd)
{
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	h->ops[fd] = 0;
	h->nchan--;
	if (h->master_fd == -1 && h->nchan == 0) {
		log_debug("retired, last channel closed");
		_exit(0);
	}
}

/* ops[] of a pool relay's channel: it has no operation cap. */
#define OPS_POOLED UINT_MAX

static void
chan_add(struct holder *h, int fd, bool pooled)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (fd < 0 || (unsigned)fd >= h->nfd || h->nchan >= h->max_channels) {
		/* That login process's handshake will fail; the others go on. */
		log_warnx("%u channels open: refusing another", h->nchan);
		close(fd);
		return;
	}
	if (set_nonblock(fd) == -1 ||
	    epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_warn("channel");
		close(fd);
		return;
	}
	h->ops[fd] = pooled ? OPS_POOLED : 0;
	h->nchan++;
}

static void
master_msg(struct holder *h)
{
	struct ipc_reader r;

	errno = 0;
	if (ipc_recv_now(h->master_fd, h->buf, &r) == -1) {
		if (errno == EAGAIN)
			return;
		/* Retired (a reload) or the master is gone: serve the
		 * handshakes under way, then go. */
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, h->master_fd, NULL);
		close(h->master_fd);
		h->master_fd = -1;
		if (h->nchan == 0)
			_exit(0);
		return;
	}
	bool chan_msg = r.type == IPC_KEY_CHANNEL ||
	    r.type == IPC_KEY_POOL_CHANNEL;
	if (chan_msg && r.fd == -1) {
		/* Out of descriptors: the kernel dropped it in transit. */
		log_warnx("a channel was lost: descriptor limit");
		return;
	}
	if (r.bad || !chan_msg || !ipc_end(&r) || r.fd == -1)
		fatalx("unexpected %s from the master", ipc_type_name(r.type));
	chan_add(h, ipc_take_fd(&r), r.type == IPC_KEY_POOL_CHANNEL);
}

/* One request, as read from a channel. */
struct op {
	uint32_t       type, algo, flags;
	const uint8_t *in;
	size_t         n;
};

/* Runs one well-formed operation; its GnuTLS result, with *out filled
 * on success. */
static int
operate(struct holder *h, const struct op *op, gnutls_datum_t *out)
{
	/* Flags GnuTLS itself passes for TLS signatures; nothing else. */
	const unsigned allowed = GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA |
	    GNUTLS_PRIVKEY_SIGN_FLAG_RSA_PSS;
	gnutls_datum_t d = { .data = (unsigned char *)(uintptr_t)op->in,
	    .size = (unsigned)op->n };

	if (op->n == 0 || op->n > OP_INPUT_MAX || (op->flags & ~allowed) ||
	    (op->algo != GNUTLS_SIGN_UNKNOWN &&
	    !gnutls_sign_supports_pk_algorithm(op->algo, h->pk)))
		return GNUTLS_E_INVALID_REQUEST;
	switch (op->type) {
	case IPC_KEY_SIGN_HASH:
		return gnutls_privkey_sign_hash2(h->key, op->algo, op->flags, &d,
		    out);
	case IPC_KEY_SIGN_DATA:
		return gnutls_privkey_sign_data2(h->key, op->algo, op->flags, &d,
		    out);
	default:
		return gnutls_privkey_decrypt_data(h->key, 0, &d, out);
	}
}

/* Reads an operation request; false if it is not one our login code
 * would send. */
static bool
parse_op(struct ipc_reader *r, struct op *op)
{
	memset(op, 0, sizeof(*op));
	op->type = r->type;
	if (r->fd != -1 || r->bad || (r->type != IPC_KEY_SIGN_HASH &&
	    r->type != IPC_KEY_SIGN_DATA && r->type != IPC_KEY_DECRYPT))
		return false;
	if (r->type != IPC_KEY_DECRYPT) {
		op->algo = ipc_get_u32(r);
		op->flags = ipc_get_u32(r);
	}
	op->in = ipc_get_bytes(r, &op->n);
	return ipc_end(r);
}

static void
client_msg(struct holder *h, int fd)
{
	struct ipc_reader r;
	struct ipc_msg m;
	struct op op;
	gnutls_datum_t out = { 0 };
	int rc;

	errno = 0;
	if (ipc_recv_now(fd, h->buf, &r) == -1) {
		if (errno != EAGAIN)
			chan_close(h, fd);	/* the login process is done */
		return;
	}
	if (!parse_op(&r, &op)) {
		log_warnx("closing a channel: %s", r.fd != -1 ?
		    "descriptor sent" : r.bad ? "malformed message" :
		    ipc_type_name(r.type));
		if (r.fd != -1)
			close(r.fd);
		chan_close(h, fd);
		return;
	}
	/* A pool relay runs the handshakes of many connections in turn;
	 * a login process's channel serves one handshake. */
	if (h->ops[fd] != OPS_POOLED && ++h->ops[fd] > KEYHOLDER_MAX_OPS) {
		log_warnx("closing a channel: more than %d operations",
		    KEYHOLDER_MAX_OPS);
		chan_close(h, fd);
		return;
	}
	rc = operate(h, &op, &out);
	explicit_bzero(h->buf, r.len);
	if (rc < 0)
		log_info("%s refused: %s", ipc_type_name(r.type),
		    gnutls_strerror(rc));
	ipc_msg_init(&m, IPC_KEY_RESULT);
	ipc_put_u32(&m, (uint32_t)rc);
	ipc_put_bytes(&m, rc < 0 ? NULL : out.data, rc < 0 ? 0 : out.size);
	if (out.data != NULL) {
		/* A decryption's plaintext is a premaster secret. */
		explicit_bzero(out.data, out.size);
		gnutls_free(out.data);
	}
	/* The login process waits for this answer; one that does not read
	 * it cannot make us hold it. */
	if (send(fd, buf_ptr(&m.b), buf_len(&m.b), MSG_DONTWAIT |
	    MSG_NOSIGNAL) != (ssize_t)buf_len(&m.b))
		chan_close(h, fd);
	ipc_msg_free(&m);
}

void
keyholder_main(int master_fd, int cert_fd, int key_fd, unsigned max_channels,
    bool check_only)
{
	struct holder h = { .master_fd = master_fd };
	gnutls_datum_t chain = { 0 };
	char err[512];

	if (load(&h, cert_fd, key_fd, &chain, err, sizeof(err)) == -1) {
		send_ready(master_fd, false, err, NULL);
		_exit(1);
	}
	send_ready(master_fd, true, NULL, &chain);
	free(chain.data);
	if (check_only)
		_exit(0);

	/* Channel descriptors are numbered below the limit it can have. */
	h.nfd = (unsigned)MK_MIN((rlim_t)max_channels + FD_SLACK,
	    sandbox_nofile_max());
	h.max_channels = h.nfd > 2 * FD_SLACK ? h.nfd - FD_SLACK : FD_SLACK;
	h.ops = xcalloc(h.nfd, sizeof(*h.ops));
	h.buf = xmalloc(IPC_MAX_MSG);
	if ((h.epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = master_fd };
	if (set_nonblock(master_fd) == -1 ||
	    epoll_ctl(h.epfd, EPOLL_CTL_ADD, master_fd, &ev) == -1)
		fatal("master channel");
	/* From here on: no file, no socket, no process, only the calls
	 * this loop makes. */
	sandbox_apply(SANDBOX_KEYHOLDER, h.nfd);
	log_debug("ready");
	for (;;) {
		struct epoll_event evs[32];
		int n = epoll_wait(h.epfd, evs, (int)nitems(evs), -1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			fatal("epoll_wait");
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == h.master_fd)
				master_msg(&h);
			else
				client_msg(&h, evs[i].data.fd);
		}
	}
}

/* ---- the client side, in a login process ---- */

struct remote_key {
	int      pk;		/* gnutls_pk_algorithm_t of the certificate */
	unsigned bits;
};

/* The process's one channel; -1 once closed. */
static int kh_fd = -1;

void
keyholder_disconnect(void)
{
	if (kh_fd != -1)
		close(kh_fd);
	kh_fd = -1;
}

/* One request and its answer (blocking, bounded by KEYHOLDER_TIMEOUT_MS). */
static int
call(uint32_t type, uint32_t algo, uint32_t flags, const gnutls_datum_t *in,
    gnutls_datum_t *out)
{
	struct ipc_msg m;
	struct ipc_reader r;
	struct pollfd pfd = { .fd = kh_fd, .events = POLLIN };
	int rc = GNUTLS_E_PK_SIGN_FAILED, prc;
	uint8_t *buf;

	if (kh_fd == -1) {
		log_warnx("key operation after the handshake");
		return rc;
	}
	ipc_msg_init(&m, type);
	if (type != IPC_KEY_DECRYPT) {
		ipc_put_u32(&m, algo);
		ipc_put_u32(&m, flags);
	}
	ipc_put_bytes(&m, in->data, in->size);
	if (ipc_send_now(kh_fd, &m) == -1) {
		log_warn("key holder");
		return rc;
	}
	do
		prc = poll(&pfd, 1, KEYHOLDER_TIMEOUT_MS);
	while (prc == -1 && errno == EINTR);
	if (prc != 1) {
		log_warnx("key holder: no answer within %d ms",
		    KEYHOLDER_TIMEOUT_MS);
		return rc;
	}
	buf = xmalloc(IPC_MAX_MSG);
	if (ipc_recv_now(kh_fd, buf, &r) == -1) {
		log_warnx("key holder: channel closed");
		free(buf);
		return rc;
	}
	uint32_t res = ipc_get_u32(&r);
	size_t n;
	const uint8_t *p = ipc_get_bytes(&r, &n);
	if (r.fd != -1 || r.type != IPC_KEY_RESULT || !ipc_end(&r))
		log_warnx("key holder: malformed answer");
	else if ((int32_t)res < 0)
		rc = (int32_t)res;
	else if ((out->data = gnutls_malloc(n ? n : 1)) != NULL) {
		memcpy(out->data, p, n);
		out->size = (unsigned)n;
		rc = 0;
	} else
		rc = GNUTLS_E_MEMORY_ERROR;
	if (r.fd != -1)
		close(r.fd);
	explicit_bzero(buf, r.len);
	free(buf);
	return rc;
}

static int
sign_hash_cb(gnutls_privkey_t key, gnutls_sign_algorithm_t algo,
    void *userdata, unsigned flags, const gnutls_datum_t *hash,
    gnutls_datum_t *sig)
{
	(void)key;
	(void)userdata;
	return call(IPC_KEY_SIGN_HASH, (uint32_t)algo, flags, hash, sig);
}

static int
sign_data_cb(gnutls_privkey_t key, gnutls_sign_algorithm_t algo,
    void *userdata, unsigned flags, const gnutls_datum_t *data,
    gnutls_datum_t *sig)
{
	(void)key;
	(void)userdata;
	return call(IPC_KEY_SIGN_DATA, (uint32_t)algo, flags, data, sig);
}

static int
decrypt_cb(gnutls_privkey_t key, void *userdata, const gnutls_datum_t *ct,
    gnutls_datum_t *pt)
{
	(void)key;
	(void)userdata;
	return call(IPC_KEY_DECRYPT, 0, 0, ct, pt);
}

/* What GnuTLS asks of the key is public: answered from the
 * certificate's public key, without a round trip. */
static int
info_cb(gnutls_privkey_t key, unsigned flags, void *userdata)
{
	const struct remote_key *rk = userdata;

	(void)key;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
		return rk->pk;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
		return (int)rk->bits;
	if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO)
		return gnutls_sign_supports_pk_algorithm(
		    GNUTLS_FLAGS_TO_SIGN_ALGO(flags), rk->pk) ? 1 : 0;
	return -1;
}

static void
deinit_cb(gnutls_privkey_t key, void *userdata)
{
	(void)key;
	free(userdata);
}

int
keyholder_privkey(int fd, gnutls_pubkey_t pub, gnutls_privkey_t *out)
{
	struct remote_key *rk = xcalloc(1, sizeof(*rk));
	gnutls_privkey_t key;
	int grc;

	rk->pk = gnutls_pubkey_get_pk_algorithm(pub, &rk->bits);
	if (rk->pk < 0 || (grc = gnutls_privkey_init(&key)) < 0) {
		log_warnx("TLS key set-up: no public key algorithm");
		free(rk);
		return -1;
	}
	grc = gnutls_privkey_import_ext4(key, rk, sign_data_cb, sign_hash_cb,
	    decrypt_cb, deinit_cb, info_cb,
	    GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
	if (grc < 0) {
		log_warnx("TLS key set-up: %s", gnutls_strerror(grc));
		gnutls_privkey_deinit(key);
		free(rk);
		return -1;
	}
	kh_fd = fd;
	*out = key;
	return 0;
}
