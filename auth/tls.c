/*
 * tls.c - GnuTLS credentials and sessions (see tls.h).
 *
 * tls_creds_load() reads a certificate and key in-process (the key
 * holder uses it, and so do tools and tests); the key's bytes are wiped
 * once GnuTLS has parsed them.  tls_creds_public() is the master's
 * key-less copy, built from the chain the key holder sent, and
 * tls_creds_attach() completes it in a login process with a key whose
 * operations go to the key holder (auth/keyholder.c).
 * The rest runs in the login process (auth/login.c) and its relay
 * (auth/relay.c): sessions are non-blocking, and the record functions
 * translate GnuTLS's codes into recv(2)/send(2) results so that callers
 * written for sockets need no TLS knowledge.
 */
#include "auth/tls.h"
#include "auth/keyholder.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include <gnutls/abstract.h>
#include <gnutls/x509.h>

/* A certificate chain or key file larger than this is not one. */
#define PEM_MAX (1024 * 1024)
/* Non-fatal GnuTLS codes in a row (warning alerts) before giving up. */
#define MAX_SOFT_ERRORS 16

static int
read_pem(const char *key, const char *path, gnutls_datum_t *d, char *err,
    size_t errlen)
{
	size_t len;
	char *p = read_file(path, PEM_MAX, &len);

	if (p == NULL) {
		snprintf(err, errlen, "%s %s: %s", key, path, strerror(errno));
		return -1;
	}
	d->data = (unsigned char *)p;
	d->size = (unsigned)len;
	return 0;
}

static time_t
crt_expiry(const gnutls_datum_t *der)
{
	gnutls_x509_crt_t crt;
	time_t t = (time_t)-1;

	if (gnutls_x509_crt_init(&crt) < 0)
		return t;
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) >= 0)
		t = gnutls_x509_crt_get_expiration_time(crt);
	gnutls_x509_crt_deinit(crt);
	return t;
}

static time_t
first_expiry(gnutls_certificate_credentials_t cred)
{
	gnutls_datum_t der;

	if (gnutls_certificate_get_crt_raw(cred, 0, 0, &der) < 0)
		return (time_t)-1;
	return crt_expiry(&der);
}

static int
set_key_pair(struct tls_creds *t, const char *cert, const char *key,
    char *err, size_t errlen)
{
	gnutls_datum_t c = { 0 }, k = { 0 };
	int rc = -1, grc;
	struct stat st;

	if (read_pem("tls_cert", cert, &c, err, errlen) == -1 ||
	    read_pem("tls_key", key, &k, err, errlen) == -1)
		goto out;
	grc = gnutls_certificate_set_x509_key_mem(t->cert, &c, &k,
	    GNUTLS_X509_FMT_PEM);
	if (grc < 0) {
		snprintf(err, errlen, "tls_cert %s with tls_key %s: %s", cert,
		    key, gnutls_strerror(grc));
		goto out;
	}
	if (stat(key, &st) == 0 && (st.st_mode & 077) != 0)
		log_warnx("tls_key %s can be read by other accounts (mode %04o)",
		    key, (unsigned)(st.st_mode & 07777));
	rc = 0;
out:
	free(c.data);
	if (k.data != NULL)
		freezero(k.data, k.size);
	return rc;
}

/* New credentials with the priority string parsed ("" : the default);
 * NULL with the reason in err. */
static struct tls_creds *
creds_new(const char *priority, char *err, size_t errlen)
{
	struct tls_creds *t = xcalloc(1, sizeof(*t));
	const char *where = NULL;
	int grc;

	if (*priority == '\0')
		priority = MK_TLS_DEFAULT_PRIORITY;
	if ((grc = gnutls_priority_init(&t->prio, priority, &where)) < 0) {
		snprintf(err, errlen, "tls_priority '%s': %s%s%s", priority,
		    gnutls_strerror(grc), where ? " at " : "", where ? where : "");
		t->prio = NULL;
		tls_creds_free(t);
		return NULL;
	}
	return t;
}

int
tls_creds_load(const char *cert, const char *key, const char *priority,
    struct tls_creds **out, char *err, size_t errlen)
{
	struct tls_creds *t;
	int grc;

	*out = NULL;
	if ((t = creds_new(priority, err, errlen)) == NULL)
		return -1;
	if ((grc = gnutls_certificate_allocate_credentials(&t->cert)) < 0) {
		snprintf(err, errlen, "GnuTLS: %s", gnutls_strerror(grc));
		t->cert = NULL;
		tls_creds_free(t);
		return -1;
	}
	if (set_key_pair(t, cert, key, err, errlen) == -1) {
		tls_creds_free(t);
		return -1;
	}
	/* DHE for TLS 1.2 clients that do not negotiate RFC 7919 groups. */
	gnutls_certificate_set_known_dh_params(t->cert, GNUTLS_SEC_PARAM_MEDIUM);
	t->expires = first_expiry(t->cert);
	*out = t;
	return 0;
}

/* Most chains are 1-3 certificates; a longer one is a mistake. */
#define CHAIN_MAX 16

/* The chain as GnuTLS's pcerts, sorted from the server certificate up
 * as set_x509_key_mem() accepts it; *n in: room, out: how many. */
static int
import_chain(const gnutls_datum_t *pem, gnutls_pcert_st *pc, unsigned *n)
{
	return gnutls_pcert_list_import_x509_raw(pc, n, pem,
	    GNUTLS_X509_FMT_PEM, GNUTLS_X509_CRT_LIST_SORT);
}

int
tls_creds_public(const void *chain, size_t len, const char *priority,
    struct tls_creds **out, char *err, size_t errlen)
{
	struct tls_creds *t;
	gnutls_pcert_st pc[CHAIN_MAX];
	unsigned n = CHAIN_MAX;
	int grc;

	*out = NULL;
	if ((t = creds_new(priority, err, errlen)) == NULL)
		return -1;
	t->chain.data = xmalloc(len + 1);
	memcpy(t->chain.data, chain, len);
	t->chain.data[len] = '\0';
	t->chain.size = (unsigned)len;
	if ((grc = import_chain(&t->chain, pc, &n)) < 0) {
		snprintf(err, errlen, "certificate chain: %s", gnutls_strerror(grc));
		tls_creds_free(t);
		return -1;
	}
	t->expires = crt_expiry(&pc[0].cert);
	for (unsigned i = 0; i < n; i++)
		gnutls_pcert_deinit(&pc[i]);
	*out = t;
	return 0;
}

int
tls_creds_attach(struct tls_creds *t, int kh_fd)
{
	gnutls_pcert_st pc[CHAIN_MAX];
	unsigned n = CHAIN_MAX;
	gnutls_privkey_t key = NULL;
	gnutls_certificate_credentials_t cred = NULL;
	int grc;

	if (t->cert != NULL)
		return 0;	/* tls_creds_load: the key is here already */
	if ((grc = import_chain(&t->chain, pc, &n)) < 0) {
		log_warnx("certificate chain: %s", gnutls_strerror(grc));
		return -1;
	}
	if ((grc = gnutls_certificate_allocate_credentials(&cred)) < 0 ||
	    keyholder_privkey(kh_fd, pc[0].pubkey, &key) == -1) {
		if (grc < 0)
			log_warnx("GnuTLS: %s", gnutls_strerror(grc));
		goto fail;
	}
	/* The key holder checked that key and certificate match; GnuTLS's
	 * own check would cost a signature per connection. */
	gnutls_certificate_set_flags(cred, GNUTLS_CERTIFICATE_SKIP_KEY_CERT_MATCH);
	/* On success the credentials own the pcerts and the key. */
	if ((grc = gnutls_certificate_set_key(cred, NULL, 0, pc, n, key)) < 0) {
		log_warnx("TLS key set-up: %s", gnutls_strerror(grc));
		goto fail;
	}
	gnutls_certificate_set_known_dh_params(cred, GNUTLS_SEC_PARAM_MEDIUM);
	t->cert = cred;
	return 0;
fail:
	if (key != NULL)
		gnutls_privkey_deinit(key);
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	for (unsigned i = 0; i < n; i++)
		gnutls_pcert_deinit(&pc[i]);
	return -1;
}

void
tls_creds_free(struct tls_creds *t)
{
	if (t == NULL)
		return;
	if (t->cert != NULL)
		gnutls_certificate_free_credentials(t->cert);
	if (t->prio != NULL)
		gnutls_priority_deinit(t->prio);
	free(t->chain.data);
	free(t);
}

bool
tls_plaintext_allowed(enum mk_plaintext_auth policy, bool loopback,
    bool secure)
{
	switch (policy) {
	case MK_PLAINTEXT_ALWAYS:
		return true;
	case MK_PLAINTEXT_LOOPBACK:
		return secure || loopback;
	case MK_PLAINTEXT_NEVER:
		return secure;
	}
	return false;
}

gnutls_session_t
tls_session_new(const struct tls_creds *t, int fd)
{
	gnutls_session_t s;
	int rc;

	rc = gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (rc < 0) {
		log_warnx("gnutls_init: %s", gnutls_strerror(rc));
		return NULL;
	}
	if (t->cert == NULL) {
		log_warnx("TLS session set-up: no key attached");
		gnutls_deinit(s);
		return NULL;
	}
	if ((rc = gnutls_priority_set(s, t->prio)) < 0 ||
	    (rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE,
	    t->cert)) < 0) {
		log_warnx("TLS session set-up: %s", gnutls_strerror(rc));
		gnutls_deinit(s);
		return NULL;
	}
	gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
	/* login_timeout bounds the handshake; GnuTLS's own clock would
	 * only add a second, different limit. */
	gnutls_handshake_set_timeout(s, 0);
	gnutls_transport_set_int(s, fd);
	return s;
}

/* EOF of a client that vanished: not worth more than a debug line. */
static bool
is_hangup(int rc)
{
	return rc == GNUTLS_E_PREMATURE_TERMINATION || rc == GNUTLS_E_PULL_ERROR ||
	    rc == GNUTLS_E_PUSH_ERROR || rc == GNUTLS_E_UNEXPECTED_PACKET_LENGTH;
}

int
tls_handshake_step(gnutls_session_t s, uint32_t *events)
{
	int rc;

	for (int soft = 0; soft < MAX_SOFT_ERRORS; soft++) {
		rc = gnutls_handshake(s);
		if (rc == GNUTLS_E_SUCCESS)
			return 1;
		if (rc == GNUTLS_E_AGAIN) {
			*events = gnutls_record_get_direction(s) ? EPOLLOUT :
			    EPOLLIN;
			return 0;
		}
		if (gnutls_error_is_fatal(rc))
			break;
	}
	if (is_hangup(rc))
		log_debug("TLS handshake: client went away (%s)",
		    gnutls_strerror(rc));
	else {
		log_info("TLS handshake failed: %s", gnutls_strerror(rc));
		/* Tells e.g. a TLS 1.0 client why ("protocol version"). */
		gnutls_alert_send_appropriate(s, rc);
	}
	return -1;
}

ssize_t
tls_recv(gnutls_session_t s, void *p, size_t n)
{
	for (int soft = 0; soft < MAX_SOFT_ERRORS; soft++) {
		ssize_t rc = gnutls_record_recv(s, p, n);
		if (rc >= 0)
			return rc;
		switch (rc) {
		case GNUTLS_E_AGAIN:
			errno = EAGAIN;
			return -1;
		case GNUTLS_E_INTERRUPTED:
			errno = EINTR;
			return -1;
		case GNUTLS_E_PREMATURE_TERMINATION:
			return 0;
		case GNUTLS_E_REHANDSHAKE:
			/* IMAP has no use for it; RFC 5246 7.2.2 lets us
			 * decline with a warning and carry on. */
			gnutls_alert_send(s, GNUTLS_AL_WARNING,
			    GNUTLS_A_NO_RENEGOTIATION);
			continue;
		default:
			if (!gnutls_error_is_fatal((int)rc))
				continue;
			log_debug("TLS receive: %s", gnutls_strerror((int)rc));
			errno = EPIPE;
			return -1;
		}
	}
	errno = EPIPE;
	return -1;
}

ssize_t
tls_send(gnutls_session_t s, const void *p, size_t n)
{
	/* After EAGAIN GnuTLS keeps the encrypted record and, on the next
	 * call, sends it and returns its size: callers retry with the same
	 * bytes at the front of their buffer, as they would with send(2). */
	ssize_t rc = gnutls_record_send(s, p, n);

	if (rc >= 0)
		return rc;
	if (rc == GNUTLS_E_AGAIN)
		errno = EAGAIN;
	else if (rc == GNUTLS_E_INTERRUPTED)
		errno = EINTR;
	else {
		log_debug("TLS send: %s", gnutls_strerror((int)rc));
		errno = EPIPE;
	}
	return -1;
}

bool
tls_wants_write(gnutls_session_t s)
{
	return gnutls_record_get_direction(s) == 1;
}

void
tls_close(gnutls_session_t s, int fd, int wait_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)wait_ms;
	int rc;

	while ((rc = gnutls_bye(s, GNUTLS_SHUT_WR)) == GNUTLS_E_AGAIN ||
	    rc == GNUTLS_E_INTERRUPTED) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return;
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		poll(&pfd, 1, (int)(deadline - now));
	}
}
