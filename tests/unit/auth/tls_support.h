/*
 * tls_support.h - certificates and in-process handshakes for the TLS
 * unit tests (test_tls.c, test_relay.c, test_authz.c).
 *
 * Certificates are made with GnuTLS's own API (ECDSA P-256, self-signed,
 * subjectAltName DNS:localhost and IP:127.0.0.1), written as PEM files,
 * so the code under test reads real files the way the master does.
 */
#ifndef MK_TEST_TLS_SUPPORT_H
#define MK_TEST_TLS_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <gnutls/gnutls.h>

/* Writes dir/<name>.crt and dir/<name>.key (0600); their paths go to
 * cert and key (PATH_MAX).  0, or -1. */
int  tt_make_cert(const char *dir, const char *name, char *cert, char *key);

/* A client session on fd with priority prio (NULL: GnuTLS's NORMAL),
 * accepting any server certificate (the tests check the server side). */
gnutls_session_t tt_client(int fd, const char *prio);

/* Runs the handshakes of server s and client c, both non-blocking, on
 * the two ends of one socketpair until both are done or one fails.
 * True if both completed. */
bool tt_handshake_pair(gnutls_session_t s, gnutls_session_t c);

/* Blocking handshake of a client session; true if it completed. */
bool tt_client_handshake(gnutls_session_t c);

#endif
