/*
 * keyholder.h - the TLS key holder: the one process that holds the
 * private key, and the client side of its protocol.
 *
 * The spawner forks the key holder at the master's request
 * (daemon/master/keyholder.c); still root, the new process opens tls_cert
 * and tls_key, then drops its privileges.  Neither the master nor the
 * spawner ever opens or reads the key.  The key holder reads both, checks that they match,
 * sends the master the certificate chain (public) in IPC_KEY_READY, and
 * from then on only answers signature and decryption requests
 * (IPC_KEY_SIGN_HASH, IPC_KEY_SIGN_DATA, IPC_KEY_DECRYPT) on the
 * channels the master gives it: one per pool relay (IPC_KEY_POOL_CHANNEL,
 * no cap on operations), or one per handshake (IPC_KEY_CHANNEL, at most
 * KEYHOLDER_MAX_OPS operations).
 * It runs as hash_user, chrooted into the empty login_chroot, not
 * dumpable, under the seccomp filter of common/sandbox.c.
 *
 * A pool relay (auth/relaypool.c) gets a GnuTLS private key whose
 * callbacks turn each operation into one request on its channel
 * (keyholder_privkey); the key's bytes never leave the key holder.  A
 * retired relay closes the channel (keyholder_disconnect).
 */
#ifndef MK_KEYHOLDER_H
#define MK_KEYHOLDER_H

#include <stdbool.h>

#include <gnutls/abstract.h>

/* Operations one channel may ask for: a handshake needs one signature
 * (or one decryption); a few more leave room for a retried algorithm. */
#define KEYHOLDER_MAX_OPS   8
/* A relay waits this long for an answer (its other connections wait
 * too), then fails the handshake. */
#define KEYHOLDER_TIMEOUT_MS 5000

/* The key holder process.  Reads the chain from cert_fd and the key
 * from key_fd (then closes both), answers IPC_KEY_READY on master_fd
 * and, unless check_only, serves up to max_channels channels at once
 * until the master's channel is closed and its last channel ends.
 * check_only: the master's start-up check before it detaches; the
 * process exits after IPC_KEY_READY. */
__attribute__((noreturn))
void keyholder_main(int master_fd, int cert_fd, int key_fd,
	unsigned max_channels, bool check_only);

/* The key holder could not even open its files: tells the master why
 * (IPC_KEY_READY, not ok) and exits. */
__attribute__((noreturn))
void keyholder_refuse(int master_fd, const char *why);

/* In a login process: a private key for the certificate whose public
 * key is pub, every operation of which is a request on fd.  0, or -1
 * (logged).  One channel per process. */
int  keyholder_privkey(int fd, gnutls_pubkey_t pub, gnutls_privkey_t *out);
/* Closes the channel: later operations fail.  Called once the
 * handshake is done. */
void keyholder_disconnect(void);

#endif
