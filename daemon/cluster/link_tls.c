/*
 * link_tls.c - the link's TLS session (link.h): both ends present a
 * certificate signed by cluster_ca and check the other's; the private
 * key's operations go to a key holder (auth/keyholder.c), so neither
 * the link process nor mailkeepctl's link child ever holds the key.
 * Blocking I/O with deadlines: each end serves one conversation.
 */
#include "daemon/cluster/link.h"
#include "auth/keyholder.h"
#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#define CHAIN_MAX 16
/* TLS 1.3 only: both ends are ours. */
#define LINK_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3"

struct link_conn {
	gnutls_session_t                 s;
	gnutls_certificate_credentials_t cred;
	uint8_t                         *in;	/* HDR + LINK_FRAME_MAX */
	size_t                           nin, used;
	char                             peer[128];
};

static int
creds(struct link_conn *c, const gnutls_datum_t *chain,
    const gnutls_datum_t *ca, int kh_fd, char *err, size_t errlen)
{
	gnutls_pcert_st pc[CHAIN_MAX];
	unsigned n = CHAIN_MAX;
	gnutls_privkey_t key = NULL;
	int grc;

	if ((grc = gnutls_certificate_allocate_credentials(&c->cred)) < 0 ||
	    (grc = gnutls_certificate_set_x509_trust_mem(c->cred, ca,
	    GNUTLS_X509_FMT_PEM)) < 0 ||
	    (grc = gnutls_pcert_list_import_x509_raw(pc, &n, chain,
	    GNUTLS_X509_FMT_PEM, GNUTLS_X509_CRT_LIST_SORT)) < 0) {
		snprintf(err, errlen, "cluster certificates: %s",
		    gnutls_strerror(grc));
		return -1;
	}
	if (grc == 0 && n == 0)
		return -1;
	if (keyholder_privkey(kh_fd, pc[0].pubkey, &key) == -1) {
		snprintf(err, errlen, "cluster key holder: no key");
		goto fail;
	}
	gnutls_certificate_set_flags(c->cred,
	    GNUTLS_CERTIFICATE_SKIP_KEY_CERT_MATCH);
	if ((grc = gnutls_certificate_set_key(c->cred, NULL, 0, pc, n,
	    key)) < 0) {
		snprintf(err, errlen, "cluster key: %s", gnutls_strerror(grc));
		gnutls_privkey_deinit(key);
		goto fail;
	}
	return 0;
fail:
	for (unsigned i = 0; i < n; i++)
		gnutls_pcert_deinit(&pc[i]);
	return -1;
}

/* After the handshake: a certificate, signed by cluster_ca, valid now. */
static int
check_peer(struct link_conn *c, char *err, size_t errlen)
{
	const gnutls_datum_t *certs;
	unsigned status = 0, n = 0;
	gnutls_x509_crt_t crt;
	size_t len = sizeof(c->peer) - 1;

	certs = gnutls_certificate_get_peers(c->s, &n);
	if (certs == NULL || n == 0) {
		snprintf(err, errlen, "the peer presented no certificate");
		return -1;
	}
	if (gnutls_certificate_verify_peers2(c->s, &status) < 0 ||
	    status != 0) {
		snprintf(err, errlen, "the peer's certificate is not signed by "
		    "cluster_ca (or not valid now): refused");
		return -1;
	}
	mk_strlcpy(c->peer, "?", sizeof(c->peer));
	if (gnutls_x509_crt_init(&crt) == 0) {
		if (gnutls_x509_crt_import(crt, &certs[0],
		    GNUTLS_X509_FMT_DER) == 0 &&
		    gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME,
		    0, 0, c->peer, &len) == 0)
			c->peer[len] = '\0';
		gnutls_x509_crt_deinit(crt);
	}
	return 0;
}

struct link_conn *
link_open(int fd, bool server, const gnutls_datum_t *chain,
    const gnutls_datum_t *ca, int kh_fd, int timeout_ms, char *err,
    size_t errlen)
{
	struct link_conn *c = xcalloc(1, sizeof(*c));
	int grc;

	c->in = xmalloc(8 + LINK_FRAME_MAX);
	if (creds(c, chain, ca, kh_fd, err, errlen) == -1)
		goto fail;
	if ((grc = gnutls_init(&c->s, server ? GNUTLS_SERVER :
	    GNUTLS_CLIENT)) < 0 ||
	    (grc = gnutls_priority_set_direct(c->s, LINK_PRIORITY, NULL)) < 0 ||
	    (grc = gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE,
	    c->cred)) < 0) {
		snprintf(err, errlen, "GnuTLS: %s", gnutls_strerror(grc));
		goto fail;
	}
	if (server)
		gnutls_certificate_server_set_request(c->s, GNUTLS_CERT_REQUIRE);
	/* The peer's certificate is checked against cluster_ca during the
	 * handshake (no host name: backends are named by their
	 * certificates, which the CA issues to backends only). */
	gnutls_session_set_verify_cert(c->s, NULL, 0);
	gnutls_transport_set_int(c->s, fd);
	gnutls_handshake_set_timeout(c->s, (unsigned)timeout_ms);
	do
		grc = gnutls_handshake(c->s);
	while (grc < 0 && gnutls_error_is_fatal(grc) == 0);
	if (grc < 0) {
		snprintf(err, errlen, "TLS handshake: %s", gnutls_strerror(grc));
		goto fail;
	}
	if (check_peer(c, err, errlen) == -1)
		goto fail;
	return c;
fail:
	link_close(c);
	return NULL;
}

int
link_send(struct link_conn *c, struct ipc_msg *m)
{
	const uint8_t *p;
	size_t n, off = 0;
	int rc = 0;

	if (link_frame_finish(m) == -1) {
		ipc_msg_free(m);
		return -1;
	}
	p = (const uint8_t *)buf_ptr(&m->b);
	n = buf_len(&m->b);
	while (off < n) {
		ssize_t w = gnutls_record_send(c->s, p + off, n - off);
		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
			continue;
		if (w < 0) {
			rc = -1;
			break;
		}
		off += (size_t)w;
	}
	ipc_msg_free(m);
	return rc;
}

int
link_recv(struct link_conn *c, struct ipc_reader *r, int timeout_ms,
    char *err, size_t errlen)
{
	ssize_t got;

	/* The frame handed out last time is done with. */
	if (c->used > 0) {
		memmove(c->in, c->in + c->used, c->nin - c->used);
		c->nin -= c->used;
		c->used = 0;
	}
	gnutls_record_set_timeout(c->s, (unsigned)timeout_ms);
	while ((got = link_frame_parse(c->in, c->nin, r)) == 0) {
		ssize_t n = gnutls_record_recv(c->s, c->in + c->nin,
		    8 + LINK_FRAME_MAX - c->nin);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s", n == 0 ? "the peer closed "
			    "the link" : gnutls_strerror((int)n));
			return -1;
		}
		c->nin += (size_t)n;
	}
	if (got < 0) {
		snprintf(err, errlen, "a frame longer than %d bytes",
		    LINK_FRAME_MAX);
		return -1;
	}
	c->used = (size_t)got;
	return 0;
}

/* Everything in buf to fd; false if fd is gone. */
static bool
relay_out(int fd, const uint8_t *p, size_t n)
{
	return n == 0 || mk_write_all(fd, p, n) == 0;
}

/* TLS -> fd: what the frame reader holds beyond the last frame, then
 * whatever GnuTLS has buffered or the socket has; false at the end. */
static bool
relay_from_peer(struct link_conn *c, int fd)
{
	if (c->nin > c->used) {
		bool ok = relay_out(fd, c->in + c->used, c->nin - c->used);
		c->nin = c->used = 0;
		if (!ok)
			return false;
	}
	do {
		ssize_t n = gnutls_record_recv(c->s, c->in, LINK_CHUNK);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0 || !relay_out(fd, c->in, (size_t)n))
			return false;
	} while (gnutls_record_check_pending(c->s) > 0);
	return true;
}

/* fd -> TLS; false at the end. */
static bool
relay_to_peer(struct link_conn *c, int fd)
{
	ssize_t n = read(fd, c->in, LINK_CHUNK);

	if (n <= 0)
		return n == -1 && errno == EINTR;
	for (ssize_t off = 0; off < n; ) {
		ssize_t w = gnutls_record_send(c->s, c->in + off,
		    (size_t)(n - off));
		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
			continue;
		if (w < 0)
			return false;
		off += w;
	}
	return true;
}

void
link_relay(struct link_conn *c, int fd)
{
	struct pollfd pfd[2] = {
		{ .fd = gnutls_transport_get_int(c->s), .events = POLLIN },
		{ .fd = fd, .events = POLLIN },
	};

	/* A guest session may rest for hours (IDLE): no timeout here; the
	 * peer's end going away (its process, its machine: TCP keepalive,
	 * set by the master) ends the relay. */
	gnutls_record_set_timeout(c->s, 0);
	if (c->nin > c->used && !relay_from_peer(c, fd))
		return;
	for (;;) {
		if (gnutls_record_check_pending(c->s) == 0 &&
		    poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		if ((gnutls_record_check_pending(c->s) > 0 ||
		    pfd[0].revents != 0) && !relay_from_peer(c, fd))
			return;
		if (pfd[1].revents != 0 && !relay_to_peer(c, fd))
			return;
		pfd[0].revents = pfd[1].revents = 0;
	}
}

const char *
link_peer_name(const struct link_conn *c)
{
	return c->peer;
}

void
link_close(struct link_conn *c)
{
	if (c == NULL)
		return;
	if (c->s != NULL) {
		gnutls_bye(c->s, GNUTLS_SHUT_WR);
		gnutls_deinit(c->s);
	}
	if (c->cred != NULL)
		gnutls_certificate_free_credentials(c->cred);
	free(c->in);
	free(c);
}
