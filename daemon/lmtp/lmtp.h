/*
 * lmtp.h - the LMTP session process (RFC 2033): one per connection to
 * the LMTP socket or the loopback LMTP port.
 *
 * The master accepts and forks it (daemon/master/lmtp.c) exactly like a
 * login process: uid login_user, chrooted into the empty login_chroot,
 * holding nothing but the client socket, its channel to the master and
 * the log, and under the LMTP role of common/sandbox.c from before its
 * greeting on.  It alone reads what the MTA sends.  For each RCPT TO it asks
 * the master (IPC_LMTP_RCPT) to resolve the local part; for a known user
 * the master answers with a delivery channel to that user's mailbox
 * process.  The message (DATA) is written, dot-unstuffed and with CRLF
 * line ends, into a sealed memfd that is passed on every recipient's
 * channel (IPC_LMTP_DELIVER); each mailbox process stores it, as its
 * own uid, and answers after COMMIT, which is when this process says
 * 250 for that recipient.  doc/lmtp.md has the protocol details.
 *
 *   lmtp.c        the process: I/O, timeouts, commands, DATA, IPC
 *   lmtp_proto.c  pure parsing: paths, addresses, MAIL/RCPT parameters
 */
#ifndef MK_LMTP_H
#define MK_LMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

/* What the master knows of the connection (from accept()). */
struct lmtp_params {
	char peer[64];		/* "local" for the unix socket, else the address */
};

__attribute__((noreturn))
void lmtp_main(const struct mk_config *cfg, int client_fd, int master_fd,
	const struct lmtp_params *p);

/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its brackets. */
#define LMTP_MAX_PATH   256
/* RFC 5321 4.5.3.1.1: a local part is at most 64 octets. */
#define LMTP_MAX_LOCAL  64

/* Parses "<path>" at s (source route "@a,@b:" dropped); the address
 * without brackets goes to out ("" for "<>").  *end is set past '>'.
 * -1 if it is not a path or too long. */
int  lmtp_parse_path(const char *s, const char **end, char *out, size_t outlen);
/* Splits an address at its last '@' outside a quoted local part: local
 * and domain ("" when there is none).  -1 if a part is too long. */
int  lmtp_split_addr(const char *addr, char *local, size_t locallen,
	char *domain, size_t domainlen);

/* MAIL FROM parameters (RFC 1870 SIZE, RFC 6152 BODY). */
struct lmtp_mail_params {
	bool     has_size;
	uint64_t size;
	bool     body_8bit;
};
/* Parses the ESMTP parameters after a MAIL FROM path.  Returns 0, or -1
 * with *why set to the reply to give (a static string). */
int  lmtp_mail_params(const char *s, struct lmtp_mail_params *mp,
	const char **why);

/* lmtp_relay.c: relaying one recipient to the LMTP of the backend that
 * holds it, over fd (connected by the master).  A client greeting with
 * this prefix is such a relay: its recipients are never relayed on. */
#define RELAY_HELO_PREFIX "mailkeep-relay."
/* Greeting, LHLO, MAIL, RCPT: 0 accepted, 1 refused (reply holds the
 * peer's line, to pass on), -1 broken (reply unusable). */
int  lmtp_relay_rcpt(int fd, const char *host, const char *from,
	const char *rcpt, int timeout_ms, char *reply, size_t replylen);
/* DATA with the message in mfd; the peer's code and line, or -1. */
int  lmtp_relay_data(int fd, int mfd, int timeout_ms, char *reply,
	size_t replylen);

#endif
