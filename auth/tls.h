/*
 * tls.h - TLS with GnuTLS: server credentials, the clear-text policy,
 * one connection's session, and the relay that keeps a connection
 * encrypted after the login process has handed it on.
 *
 * The private key lives only in the key holder process (auth/keyholder.c),
 * forked by the spawner at start-up and again on SIGHUP.  The master and
 * the spawner keep the public half (tls_creds_public: the chain the key
 * holder read, the priority string); a pool relay inherits that across
 * fork together with its own channel to the key holder, and attaches
 * them (tls_creds_attach): every signature or decryption of its
 * handshakes is a request on that channel.  No network-facing process
 * ever has the key, and none opens a key file.
 * The relays (relaypool.c) run the handshakes, for STARTTLS or on an
 * implicit-TLS listener, and then relay (relay.c) between the TLS client
 * and a plaintext socketpair whose other end the login process, then
 * the mailbox process, serves.
 *
 *   tls.c    credentials, sessions, the handshake step, record I/O with
 *            read(2)-like results
 *   relay.c  one connection of a relay: handshake, then both directions
 *   relaypool.c  the relay process: many connections, one event loop
 */
#ifndef MK_TLS_H
#define MK_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <gnutls/gnutls.h>

#include "common/config.h"
#include "common/event.h"

struct tls_creds {
	/* With a key: what a session uses.  NULL in the master's copy of
	 * key-holder credentials (tls_creds_public) until a login process
	 * attaches its channel (tls_creds_attach). */
	gnutls_certificate_credentials_t cert;
	gnutls_priority_t prio;
	time_t           expires;	/* of the first certificate */
	gnutls_datum_t   chain;		/* PEM chain, public (tls_creds_public) */
};

/* Reads the certificate chain and key (PEM) and checks the priority
 * string ("" means MK_TLS_DEFAULT_PRIORITY).  0, or -1 with a message
 * for the operator in err.  The key is then in this process's memory:
 * for tools and tests; the daemon keeps it in the key holder. */
int  tls_creds_load(const char *cert, const char *key, const char *priority,
	struct tls_creds **out, char *err, size_t errlen);
/* Credentials without a private key: the certificate chain (PEM, as the
 * key holder sent it) and the priority string, checked.  What the
 * master holds and its login processes inherit. */
int  tls_creds_public(const void *chain, size_t len, const char *priority,
	struct tls_creds **out, char *err, size_t errlen);
/* In a login process: makes t usable for sessions, with a private key
 * whose operations are requests on kh_fd to the key holder
 * (auth/keyholder.c).  0, or -1 (logged). */
int  tls_creds_attach(struct tls_creds *t, int kh_fd);
void tls_creds_free(struct tls_creds *t);

/* May clear-text credentials be accepted?  policy from the config;
 * loopback: the client address is a loopback one; secure: TLS is on. */
bool tls_plaintext_allowed(enum mk_plaintext_auth policy, bool loopback,
	bool secure);

/* A non-blocking server session on fd; NULL if GnuTLS refused (logged). */
gnutls_session_t tls_session_new(const struct tls_creds *t, int fd);

/* One step of the handshake: 1 done, 0 to be continued when fd is ready
 * for *events (EPOLLIN or EPOLLOUT), -1 failed (logged; an alert was
 * sent if one applies). */
int  tls_handshake_step(gnutls_session_t s, uint32_t *events);

/* Record I/O with the results of recv(2)/send(2): bytes, 0 at the end of
 * the peer's data (close_notify, or TCP EOF without it), or -1 with errno
 * EAGAIN, EINTR, or EPIPE for a failed session.  A client's attempt to
 * renegotiate is refused with a warning alert and reading goes on. */
ssize_t tls_recv(gnutls_session_t s, void *p, size_t n);
ssize_t tls_send(gnutls_session_t s, const void *p, size_t n);
/* True if the last call that returned EAGAIN was waiting to write. */
bool tls_wants_write(gnutls_session_t s);
/* Sends close_notify without waiting for the peer's; best effort, for
 * at most wait_ms. */
void tls_close(gnutls_session_t s, int fd, int wait_ms);

/* ---- relay.c: one connection of a relay ---- */

/* Each direction buffers at most this much (plus one TLS record inside
 * GnuTLS); beyond it the relay stops reading from that direction's
 * source until its destination has taken some, so neither side can
 * make the relay hold more. */
#define RELAY_BUF_MAX (64 * 1024)

/* Relays between the client (session s, established, on tls_fd) and
 * plain_fd, in both directions, until the connection is over:
 *   - plain_fd reaches EOF (the mailbox process ended the session):
 *     what it sent is delivered, close_notify follows;
 *   - the client ends its data: what it sent is delivered and plain_fd
 *     is shut for writing, so the mailbox process sees EOF; the relay
 *     then waits for plain_fd's EOF as above;
 *   - either side fails, or nothing moves for RELAY_LINGER_MS while the
 *     relay is finishing, or SIGTERM's grace runs out.
 * Returns 0 after a clean end, -1 after a failure; closes nothing. */
int  relay_run(gnutls_session_t s, int tls_fd, int plain_fd);

/* The same for one connection among many in loop (relaypool.c).  done
 * is called once when the connection is over (the same ends as above);
 * it may free r with ev_defer().  relay_free closes nothing either. */
struct relay;
typedef void (*relay_done_fn)(struct relay *r, bool failed, void *arg);
struct relay *relay_new(struct ev_loop *loop, gnutls_session_t s,
	int tls_fd, int plain_fd, relay_done_fn done, void *arg);
/* handshake_ms > 0: s is new; the handshake runs first, within that
 * many ms.  0: s is established. */
void relay_start(struct relay *r, uint64_t handshake_ms);
/* SIGTERM: keep relaying for at most RELAY_SIGTERM_MS. */
void relay_terminate(struct relay *r);
/* Ends r if its handshake is still running (done is called); true if
 * it was. */
bool relay_abort_handshake(struct relay *r);
void relay_free(struct relay *r);

/* ---- relaypool.c: a pool relay process ---- */

/* Never returns.  cfg for its limits; master_fd its channel; tls the
 * public credentials (inherited) completed with kh_fd, its channel to
 * the key holder, for every handshake. */
__attribute__((noreturn))
void relaypool_main(const struct mk_config *cfg, int master_fd,
	struct tls_creds *tls, int kh_fd);

#define RELAY_LINGER_MS   30000
#define RELAY_SIGTERM_MS  2000

#endif
