/*
 * tls_support.c - see tls_support.h.
 */
#include "tests/unit/auth/tls_support.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>

static int
write_datum(const char *path, const gnutls_datum_t *d)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = -1;

	if (fd == -1)
		return -1;
	if (write(fd, d->data, d->size) == (ssize_t)d->size)
		rc = 0;
	close(fd);
	return rc;
}

static int
fill_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
	static const unsigned char ip[4] = { 127, 0, 0, 1 };
	unsigned char serial[16];
	time_t now = time(NULL);

	if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
		return -1;
	serial[0] &= 0x7f;	/* positive */
	if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
	    gnutls_x509_crt_set_dn(crt, "CN=localhost", NULL) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now - 3600) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + 86400) < 0 ||
	    gnutls_x509_crt_set_key(crt, key) < 0 ||
	    gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME,
	    "localhost", 9, GNUTLS_FSAN_APPEND) < 0 ||
	    gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS,
	    ip, sizeof(ip), GNUTLS_FSAN_APPEND) < 0 ||
	    gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
	    gnutls_x509_crt_set_key_usage(crt,
	    GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
	    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER,
	    0) < 0)
		return -1;
	return gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0 ?
	    -1 : 0;
}

int
tt_make_cert(const char *dir, const char *name, char *cert, char *key)
{
	gnutls_x509_privkey_t pk = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t kd = { 0 }, cd = { 0 };
	int rc = -1;

	snprintf(cert, PATH_MAX, "%s/%s.crt", dir, name);
	snprintf(key, PATH_MAX, "%s/%s.key", dir, name);
	if (gnutls_x509_privkey_init(&pk) < 0 ||
	    gnutls_x509_privkey_generate(pk, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
	    gnutls_x509_crt_init(&crt) < 0 || fill_cert(crt, pk) == -1 ||
	    gnutls_x509_privkey_export2(pk, GNUTLS_X509_FMT_PEM, &kd) < 0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cd) < 0)
		goto out;
	if (write_datum(cert, &cd) == 0 && write_datum(key, &kd) == 0)
		rc = 0;
out:
	gnutls_free(kd.data);
	gnutls_free(cd.data);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	if (pk != NULL)
		gnutls_x509_privkey_deinit(pk);
	return rc;
}

gnutls_session_t
tt_client(int fd, const char *prio)
{
	static gnutls_certificate_credentials_t cred;
	gnutls_session_t c;

	if (cred == NULL && gnutls_certificate_allocate_credentials(&cred) < 0)
		return NULL;
	if (gnutls_init(&c, GNUTLS_CLIENT) < 0)
		return NULL;
	if (gnutls_priority_set_direct(c, prio ? prio : "NORMAL", NULL) < 0 ||
	    gnutls_credentials_set(c, GNUTLS_CRD_CERTIFICATE, cred) < 0) {
		gnutls_deinit(c);
		return NULL;
	}
	gnutls_transport_set_int(c, fd);
	return c;
}

bool
tt_handshake_pair(gnutls_session_t s, gnutls_session_t c)
{
	bool sdone = false, cdone = false;

	for (int i = 0; i < 1000 && !(sdone && cdone); i++) {
		if (!sdone) {
			int rc = gnutls_handshake(s);
			if (rc == 0)
				sdone = true;
			else if (gnutls_error_is_fatal(rc))
				return false;
		}
		if (!cdone) {
			int rc = gnutls_handshake(c);
			if (rc == 0)
				cdone = true;
			else if (gnutls_error_is_fatal(rc))
				return false;
		}
		if (!(sdone && cdone))
			poll(NULL, 0, 1);
	}
	return sdone && cdone;
}

bool
tt_client_handshake(gnutls_session_t c)
{
	int rc;

	do
		rc = gnutls_handshake(c);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	return rc == 0;
}
