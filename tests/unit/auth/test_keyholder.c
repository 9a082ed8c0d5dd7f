/*
 * test_keyholder.c - the TLS key holder process (auth/keyholder.c) run
 * for real in a child, with this test as its master and its login
 * processes: READY with the chain, a full handshake with the master's
 * key-less credentials completed by tls_creds_attach(), signatures that
 * verify, and every way a compromised login process could misuse its
 * channel closing that channel while the key holder serves on.
 */
#include "auth/keyholder.h"
#include "auth/tls.h"
#include "common/ipc.h"
#include "common/util.h"
#include "tests/unit/auth/tls_support.h"

#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gnutls/abstract.h>

static char dir[] = "/tmp/mk-kh-XXXXXX";
static char cert[PATH_MAX], key[PATH_MAX], cert2[PATH_MAX], key2[PATH_MAX];
static bool made;

int
test_keyholder_init(void)
{
	if (mkdtemp(dir) == NULL)
		return -1;
	if (tt_make_cert(dir, "a", cert, key) == -1 ||
	    tt_make_cert(dir, "b", cert2, key2) == -1)
		return -1;
	made = true;
	return 0;
}

int
test_keyholder_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
setup(void)
{
	CU_ASSERT_FATAL(made);
}

struct holder {
	pid_t pid;
	int   master;		/* our end of its master channel */
	gnutls_datum_t chain;
};

/* Forks a key holder for (c, k); *ok and *why from its READY. */
static void
start(struct holder *h, const char *c, const char *k, bool *ok, char *why,
    size_t whylen)
{
	int sp[2], cfd = open(c, O_RDONLY), kfd = open(k, O_RDONLY);
	uint8_t *buf = xmalloc(IPC_MAX_MSG);
	struct ipc_reader r;

	CU_ASSERT_FATAL(cfd != -1 && kfd != -1);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == 0);
	fflush(NULL);
	h->pid = fork();
	CU_ASSERT_FATAL(h->pid != -1);
	if (h->pid == 0) {
		close(sp[0]);
		keyholder_main(sp[1], cfd, kfd, 8, false);
	}
	close(sp[1]);
	close(cfd);
	close(kfd);
	h->master = sp[0];
	CU_ASSERT_FATAL(ipc_recv_now(h->master, buf, &r) == 0);
	CU_ASSERT_EQUAL(r.type, IPC_KEY_READY);
	*ok = ipc_get_u8(&r) == 1;
	snprintf(why, whylen, "%s", ipc_get_str(&r));
	size_t n;
	const uint8_t *p = ipc_get_bytes(&r, &n);
	CU_ASSERT(ipc_end(&r));
	h->chain.data = xmalloc(n + 1);
	memcpy(h->chain.data, p, n);
	h->chain.size = (unsigned)n;
	free(buf);
}

static int
reap(struct holder *h)
{
	int status;

	close(h->master);
	free(h->chain.data);
	CU_ASSERT_EQUAL(waitpid(h->pid, &status, 0), h->pid);
	return status;
}

/* A login process's channel, as the master makes it. */
static int
channel(struct holder *h)
{
	struct ipc_msg m;
	int sp[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == 0);
	ipc_msg_init(&m, IPC_KEY_CHANNEL);
	ipc_put_fd(&m, sp[0]);
	CU_ASSERT_FATAL(ipc_send_now(h->master, &m) == 0);
	return sp[1];
}

/* One raw SIGN_HASH; the GnuTLS result, or 1 if the channel closed. */
static int
sign_raw(int fd, uint32_t algo, const uint8_t *hash, size_t n,
    gnutls_datum_t *sig)
{
	struct ipc_msg m;
	struct ipc_reader r;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t *buf = xmalloc(IPC_MAX_MSG);
	int rc = 1;

	ipc_msg_init(&m, IPC_KEY_SIGN_HASH);
	ipc_put_u32(&m, algo);
	ipc_put_u32(&m, 0);
	ipc_put_bytes(&m, hash, n);
	if (ipc_send_now(fd, &m) == 0 && poll(&pfd, 1, 5000) == 1 &&
	    ipc_recv_now(fd, buf, &r) == 0) {
		CU_ASSERT_EQUAL(r.type, IPC_KEY_RESULT);
		rc = (int32_t)ipc_get_u32(&r);
		size_t len;
		const uint8_t *p = ipc_get_bytes(&r, &len);
		CU_ASSERT(ipc_end(&r));
		if (sig != NULL) {
			sig->data = gnutls_malloc(len);
			memcpy(sig->data, p, len);
			sig->size = (unsigned)len;
		}
	}
	free(buf);
	return rc;
}

static bool
closed(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&pfd, 1, 5000) == 1 && recv(fd, &c, 1, 0) == 0;
}

void
test_keyholder_ready_sends_chain(void)
{
	struct holder h;
	bool ok;
	char why[256];
	size_t len;

	setup();
	start(&h, cert, key, &ok, why, sizeof(why));
	CU_ASSERT(ok);
	char *pem = read_file(cert, 1 << 20, &len);
	CU_ASSERT_EQUAL(len, h.chain.size);
	CU_ASSERT(pem != NULL && memcmp(pem, h.chain.data, len) == 0);
	free(pem);
	/* Retired with no channel open: it exits by itself. */
	int st = reap(&h);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

void
test_keyholder_refuses_mismatched_pair(void)
{
	struct holder h;
	bool ok;
	char why[256];

	setup();
	start(&h, cert, key2, &ok, why, sizeof(why));
	CU_ASSERT(!ok);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "do not match"));
	int st = reap(&h);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
}

void
test_keyholder_handshake_through_channel(void)
{
	struct holder h;
	struct tls_creds *t;
	bool ok;
	char why[256], err[256];
	int sv[2];

	setup();
	start(&h, cert, key, &ok, why, sizeof(why));
	CU_ASSERT_FATAL(ok);
	CU_ASSERT_FATAL(tls_creds_public(h.chain.data, h.chain.size, "", &t,
	    err, sizeof(err)) == 0);
	CU_ASSERT_PTR_NULL(t->cert);	/* the master's copy: no key */
	/* What a login process does with its channel. */
	CU_ASSERT_FATAL(tls_creds_attach(t, channel(&h)) == 0);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	for (int i = 0; i < 2; i++) {
		/* TLS 1.3, then 1.2 (ECDHE-ECDSA signs the parameters). */
		gnutls_session_t s = tls_session_new(t, sv[0]);
		gnutls_session_t c = tt_client(sv[1], i == 0 ? NULL :
		    "NORMAL:-VERS-ALL:+VERS-TLS1.2");
		CU_ASSERT_FATAL(s != NULL && c != NULL);
		CU_ASSERT(tt_handshake_pair(s, c));
		gnutls_deinit(s);
		gnutls_deinit(c);
		close(sv[0]);
		close(sv[1]);
		CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		set_nonblock(sv[0]);
		set_nonblock(sv[1]);
	}
	/* After the handshake the login process lets go of the channel;
	 * a later handshake cannot sign. */
	keyholder_disconnect();
	gnutls_session_t s = tls_session_new(t, sv[0]);
	gnutls_session_t c = tt_client(sv[1], NULL);
	CU_ASSERT(!tt_handshake_pair(s, c));
	gnutls_deinit(s);
	gnutls_deinit(c);
	close(sv[0]);
	close(sv[1]);
	tls_creds_free(t);
	int st = reap(&h);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

void
test_keyholder_signature_verifies_and_ops_are_bounded(void)
{
	struct holder h;
	bool ok;
	char why[256];
	uint8_t hash[32];
	gnutls_datum_t sig = { 0 }, hd = { hash, sizeof(hash) };
	gnutls_pubkey_t pub = NULL;
	gnutls_x509_crt_t crt = NULL;

	setup();
	start(&h, cert, key, &ok, why, sizeof(why));
	CU_ASSERT_FATAL(ok);
	int fd = channel(&h);
	memset(hash, 0x5a, sizeof(hash));
	CU_ASSERT_EQUAL(sign_raw(fd, GNUTLS_SIGN_ECDSA_SHA256, hash,
	    sizeof(hash), &sig), 0);
	CU_ASSERT_FATAL(gnutls_x509_crt_init(&crt) == 0 &&
	    gnutls_x509_crt_import(crt, &h.chain, GNUTLS_X509_FMT_PEM) == 0 &&
	    gnutls_pubkey_init(&pub) == 0 &&
	    gnutls_pubkey_import_x509(pub, crt, 0) == 0);
	CU_ASSERT(gnutls_pubkey_verify_hash2(pub, GNUTLS_SIGN_ECDSA_SHA256, 0,
	    &hd, &sig) >= 0);
	gnutls_free(sig.data);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(crt);
	/* An algorithm the key cannot make: refused, channel kept. */
	CU_ASSERT(sign_raw(fd, GNUTLS_SIGN_RSA_SHA256, hash, sizeof(hash),
	    NULL) < 0);
	/* A handshake's worth of operations, then the channel closes. */
	int used = 2, rc;
	while ((rc = sign_raw(fd, GNUTLS_SIGN_ECDSA_SHA256, hash,
	    sizeof(hash), NULL)) == 0 && used < 100)
		used++;
	CU_ASSERT_EQUAL(used, KEYHOLDER_MAX_OPS);
	CU_ASSERT_EQUAL(rc, 1);	/* the channel was closed */
	close(fd);
	/* Still serving others. */
	fd = channel(&h);
	CU_ASSERT_EQUAL(sign_raw(fd, GNUTLS_SIGN_ECDSA_SHA256, hash,
	    sizeof(hash), NULL), 0);
	close(fd);
	int st = reap(&h);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

void
test_keyholder_closes_misbehaving_channels(void)
{
	struct holder h;
	struct ipc_msg m;
	bool ok;
	char why[256];
	uint8_t hash[32] = { 1 };

	setup();
	start(&h, cert, key, &ok, why, sizeof(why));
	CU_ASSERT_FATAL(ok);
	/* A login process asking for a channel of its own. */
	int fd = channel(&h);
	ipc_msg_init(&m, IPC_KEY_CHANNEL);
	ipc_put_fd(&m, open("/dev/null", O_RDONLY));
	CU_ASSERT(ipc_send_now(fd, &m) == 0);
	CU_ASSERT(closed(fd));
	close(fd);
	/* A type that is not an operation. */
	fd = channel(&h);
	ipc_msg_init(&m, IPC_KEY_READY);
	ipc_put_u8(&m, 1);
	CU_ASSERT(ipc_send_now(fd, &m) == 0);
	CU_ASSERT(closed(fd));
	close(fd);
	/* Malformed: fields left over. */
	fd = channel(&h);
	ipc_msg_init(&m, IPC_KEY_SIGN_HASH);
	ipc_put_u32(&m, GNUTLS_SIGN_ECDSA_SHA256);
	ipc_put_u32(&m, 0);
	ipc_put_bytes(&m, hash, sizeof(hash));
	ipc_put_u8(&m, 7);
	CU_ASSERT(ipc_send_now(fd, &m) == 0);
	CU_ASSERT(closed(fd));
	close(fd);
	/* Flags GnuTLS never passes. */
	fd = channel(&h);
	ipc_msg_init(&m, IPC_KEY_SIGN_HASH);
	ipc_put_u32(&m, GNUTLS_SIGN_ECDSA_SHA256);
	ipc_put_u32(&m, 0x40000000);
	ipc_put_bytes(&m, hash, sizeof(hash));
	CU_ASSERT(ipc_send_now(fd, &m) == 0);
	/* answered with an error, not served */
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	CU_ASSERT(poll(&pfd, 1, 5000) == 1);
	close(fd);
	/* Through all of that the key holder serves on. */
	fd = channel(&h);
	CU_ASSERT_EQUAL(sign_raw(fd, GNUTLS_SIGN_ECDSA_SHA256, hash,
	    sizeof(hash), NULL), 0);
	/* Retired with a channel open: it waits for that channel. */
	close(h.master);
	h.master = -1;
	usleep(100 * 1000);
	CU_ASSERT_EQUAL(kill(h.pid, 0), 0);
	CU_ASSERT_EQUAL(sign_raw(fd, GNUTLS_SIGN_ECDSA_SHA256, hash,
	    sizeof(hash), NULL), 0);
	close(fd);
	int st;
	free(h.chain.data);
	CU_ASSERT_EQUAL(waitpid(h.pid, &st, 0), h.pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
