/*
 * ipc.h - every message that crosses a process boundary in Mailkeep.
 *
 * Channels are AF_UNIX SOCK_SEQPACKET socketpairs: one send is one
 * message, at most one descriptor rides along (SCM_RIGHTS).  A message is
 * a header (IPC_VERSION, type) then fields written with ipc_put_* and read
 * back in the same order with ipc_get_*.  Nothing is ever copied as a raw
 * struct.  A reader that runs past the end, meets a malformed string or
 * leaves bytes over is marked bad; the more privileged side treats a bad
 * message from a less privileged one as a compromise and kills the sender.
 *
 * Who may send what, and in which state, is enforced by the receiver
 * (daemon/master/ keeps the table for everything it receives).
 */
#ifndef MK_IPC_H
#define MK_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/event.h"

/* Bump on any change to a message's fields. */
#define IPC_VERSION   4
#define IPC_MAX_MSG   (256 * 1024)
/* Pipelined client input that may travel with a session hand-off. */
#define IPC_MAX_PENDING (64 * 1024)

enum ipc_type {
	IPC_NONE = 0,

	/* login -> master: credentials to verify.
	 *   u8 mech (ipc_auth_mech), str authzid, str authcid, bytes secret */
	IPC_LOGIN_AUTH = 10,
	/* master -> login: the verdict.
	 *   u8 result (ipc_auth_result), str text for the client */
	IPC_LOGIN_AUTH_RESULT,
	/* login -> master, only after an OK verdict, + client descriptor
	 * (or the plaintext end of the TLS relay):
	 *   str tag, bytes pending input, u32 flags (IPC_SESS_*),
	 *   u32 enabled-before-login capabilities (unused: 0)
	 * The master uses neither flags nor capabilities as facts: it
	 * derives the session's flags from its own records. */
	IPC_LOGIN_HANDOFF,
	/* login -> master, no fields: the client completed a STARTTLS
	 * handshake.  Legal once, before any credentials, from a login
	 * process of a plain listener that was given a certificate.  The
	 * master cannot verify it and need not: the login process sees the
	 * password either way; it only lets credentials through the
	 * plaintext_auth check and marks the session TLS (which the
	 * hand-off of a relay socketpair must then confirm). */
	IPC_LOGIN_STARTTLS,

	/* master -> hash worker: u64 request id, str stored hash, bytes secret */
	IPC_HASH_CHECK = 20,
	/* hash worker -> master: u64 request id, u8 match (0/1) */
	IPC_HASH_RESULT,

	/* master -> mailbox, + client descriptor: a session to serve.
	 *   ipc_session record (see ipc_put_session) */
	IPC_MBOX_SESSION = 30,
	/* mailbox -> master: u64 session id; the session has ended. */
	IPC_MBOX_SESSION_END,
	/* mailbox -> master: u64 session id, str target user.
	 * An admin's session asks to become the target (PROXYAUTH). */
	IPC_MBOX_PROXYAUTH,
	/* master -> mailbox: u64 session id, u8 result (ipc_auth_result),
	 * str text.  On OK the mailbox process must hand the session back. */
	IPC_MBOX_PROXYAUTH_RESULT,
	/* mailbox -> master, + client descriptor: u64 session id, str tag,
	 * bytes pending input.  Only valid after an OK PROXYAUTH_RESULT.
	 * It ends the session in the sender (no SESSION_END follows); the
	 * master starts a new session, with a new id, in the target's
	 * process.  The descriptor must be the session's own client socket
	 * (the master compares its addresses with those it accepted). */
	IPC_MBOX_HANDBACK,

	/* master -> mailbox: u64 storage KiB, u64 messages (0 = unlimited).
	 * The user's quota limits changed (SETQUOTA, mailkeepctl + SIGHUP). */
	IPC_MBOX_QUOTA = 40,
	/* mailbox -> master: u64 session id, str user whose limits are set
	 * ("" = the process's own user), u8 has_storage, u64 storage KiB,
	 * u8 has_messages, u64 messages.  A resource left out becomes
	 * unlimited (RFC 9208 SETQUOTA replaces a root's limits).  Allowed
	 * only when the process's own user is an admin (the master checks). */
	IPC_MBOX_SETQUOTA,
	/* master -> mailbox: u64 session id, u8 result (ipc_req_result),
	 * str text */
	IPC_MBOX_SETQUOTA_RESULT,

	/* mailbox -> master: str mailbox, str identifier, str rights ("" to
	 * remove).  The share index: the process's own user (the master's
	 * record, never a claim) grants identifier these rights on mailbox.
	 * Sent after the owner's SETACL, DELETEACL, RENAME or DELETE commits. */
	IPC_MBOX_SHARE = 50,
	/* mailbox -> master: u64 request id.  Which mailboxes of other users
	 * grant this process's user, or "anyone", a right? */
	IPC_MBOX_SHARES,
	/* master -> mailbox: u64 request id, u32 n, n x (str owner,
	 * str mailbox, str rights) */
	IPC_MBOX_SHARES_RESULT,
	/* mailbox -> master: u64 request id, str owner.  Asks for a channel
	 * to owner's mailbox process; granted only if the index says owner
	 * shares something with this process's user or with "anyone".  The
	 * owner's process then gets an IPC_MBOX_SESSION with method
	 * IPC_IMP_GUEST and authcid = this process's user. */
	IPC_MBOX_GUEST_OPEN,
	/* master -> mailbox: u64 request id, u8 result (ipc_req_result),
	 * + our end of the channel on OK */
	IPC_MBOX_GUEST_RESULT,
	/* master -> mailbox, no fields: one per IPC_MBOX_SHARE, in order,
	 * once the index holds it.  SETACL and DELETEACL answer their client
	 * only then, so the grantee's next LIST sees the change. */
	IPC_MBOX_SHARE_DONE,

	/* The TLS key holder (auth/keyholder.c), the only process that
	 * holds the private key.
	 * key holder -> master, once, after reading the key and chain:
	 *   u8 ok, str error for the operator ("" when ok),
	 *   bytes certificate chain (PEM; public) */
	IPC_KEY_READY = 60,
	/* master -> key holder, + one end of a fresh SEQPACKET socketpair,
	 * no fields: a login process's channel (the other end is that
	 * process's); only the requests below are served on it. */
	IPC_KEY_CHANNEL,
	/* login -> key holder: u32 gnutls_sign_algorithm_t, u32 GnuTLS sign
	 * flags, bytes hash (for sign_hash) or data (for sign_data) */
	IPC_KEY_SIGN_HASH,
	IPC_KEY_SIGN_DATA,
	/* login -> key holder: bytes ciphertext (TLS 1.2 RSA key exchange) */
	IPC_KEY_DECRYPT,
	/* key holder -> login: u32 GnuTLS result (0 or a negative code, as
	 * two's complement), bytes signature or plaintext */
	IPC_KEY_RESULT,

	IPC_TYPE_MAX
};

/* Answers to mailbox-process requests. */
enum ipc_req_result {
	IPC_REQ_OK = 0,
	IPC_REQ_DENIED,		/* not allowed: NO [NOPERM] */
	IPC_REQ_NOTFOUND,	/* no such user: NO [NONEXISTENT] */
	IPC_REQ_FAILED,		/* internal trouble: NO [UNAVAILABLE] */
};

enum ipc_auth_mech {
	IPC_MECH_LOGIN = 1,	/* LOGIN command */
	IPC_MECH_PLAIN = 2,	/* AUTHENTICATE PLAIN */
};

enum ipc_auth_result {
	IPC_AUTH_OK = 0,
	IPC_AUTH_FAILED,	/* bad name or password: [AUTHENTICATIONFAILED] */
	IPC_AUTH_AUTHZ_FAILED,	/* not allowed to act as authzid: [AUTHORIZATIONFAILED] */
	IPC_AUTH_THROTTLED,	/* too many failures from this address: [UNAVAILABLE] */
	IPC_AUTH_UNAVAILABLE,	/* internal trouble: [UNAVAILABLE] */
	IPC_AUTH_NOT_ADMIN,	/* PROXYAUTH by a non-admin: NO */
	IPC_AUTH_NO_SUCH_USER,	/* PROXYAUTH target unknown: NO */
	IPC_AUTH_TARGET_ADMIN,	/* PROXYAUTH/authzid target is an admin: NO */
};

/* How a session came to be acting as its user. */
enum ipc_imp_method {
	IPC_IMP_NONE = 0,	/* the user logged in as themself */
	IPC_IMP_PROXYAUTH,
	IPC_IMP_AUTHZID,	/* SASL PLAIN authorization identity */
	IPC_IMP_SEPARATOR,	/* LOGIN target*admin */
	IPC_IMP_GUEST,		/* another user's process reaching a shared
				 * mailbox: authcid is that user, whose rights
				 * (ACL) apply; the socket is an internal one */
};

#define IPC_SESS_TLS        0x01	/* client link is TLS (via the relay) */
#define IPC_SESS_ADMIN      0x02	/* the authenticated identity is an admin */
#define IPC_SESS_NO_SEEN    0x04	/* impersonated: never set \Seen */
#define IPC_SESS_LOOPBACK   0x08	/* client is on a loopback address */

/* Everything a mailbox process learns about a session, from the master. */
struct ipc_session {
	uint64_t    id;
	uint32_t    user_id;
	const char *user;	/* whose mailbox this session acts on */
	const char *authcid;	/* who proved their identity (== user unless impersonating) */
	uint8_t     method;	/* ipc_imp_method */
	uint32_t    flags;	/* IPC_SESS_* */
	const char *client;	/* client address, for logs */
	const char *tag;	/* tag of the command that authenticated */
	const char *okverb;	/* what to say in the tagged OK: "LOGIN", "PROXYAUTH"... */
	const uint8_t *pending;	/* pipelined client bytes already read */
	size_t      npending;
	uint64_t    quota_storage;	/* KiB; 0 = unlimited */
	uint64_t    quota_messages;	/* 0 = unlimited */
};

/* --- building --- */
struct ipc_msg {
	struct buf b;
	int        fd;	/* -1: none */
};

void ipc_msg_init(struct ipc_msg *m, enum ipc_type type);
void ipc_msg_free(struct ipc_msg *m);
void ipc_put_u8(struct ipc_msg *m, uint8_t v);
void ipc_put_u32(struct ipc_msg *m, uint32_t v);
void ipc_put_u64(struct ipc_msg *m, uint64_t v);
/* NUL-free C string; NULL is sent as "". */
void ipc_put_str(struct ipc_msg *m, const char *s);
void ipc_put_bytes(struct ipc_msg *m, const void *p, size_t n);
void ipc_put_session(struct ipc_msg *m, const struct ipc_session *s);
/* Attach a descriptor; the message owns it until sent. */
void ipc_put_fd(struct ipc_msg *m, int fd);

/* --- reading --- */
struct ipc_reader {
	uint32_t       type;
	const uint8_t *p;
	size_t         len, off;
	int            fd;	/* received descriptor, -1 if none */
	bool           bad;
};

uint8_t     ipc_get_u8(struct ipc_reader *r);
uint32_t    ipc_get_u32(struct ipc_reader *r);
uint64_t    ipc_get_u64(struct ipc_reader *r);
/* Pointer into the message: valid while the message is being handled. */
const char *ipc_get_str(struct ipc_reader *r);
const uint8_t *ipc_get_bytes(struct ipc_reader *r, size_t *n);
void        ipc_get_session(struct ipc_reader *r, struct ipc_session *s);
/* True if every field was well formed and nothing is left over. */
bool        ipc_end(struct ipc_reader *r);
/* Take the descriptor (caller owns it afterwards); -1 if none. */
int         ipc_take_fd(struct ipc_reader *r);
const char *ipc_type_name(uint32_t type);

/* --- channels --- */
struct ipc_chan;
/* Called for each received message; r->fd is closed after the callback
 * unless taken.  On EOF or error the callback gets r == NULL.  A handler
 * must not free its channel directly: use ev_defer(loop, ipc_chan_free_cb). */
typedef void (*ipc_handler)(struct ipc_chan *c, struct ipc_reader *r, void *arg);

struct ipc_chan *ipc_chan_new(struct ev_loop *l, int fd, ipc_handler h, void *arg);
/* Queue for sending; takes ownership of m's buffer and descriptor. */
void  ipc_chan_send(struct ipc_chan *c, struct ipc_msg *m);
/* Try to flush the queue synchronously (blocking poll); for exit paths. */
void  ipc_chan_flush(struct ipc_chan *c);
void  ipc_chan_free(struct ipc_chan *c);
void  ipc_chan_free_cb(void *c);
int   ipc_chan_fd(const struct ipc_chan *c);

/* Blocking one-shot send/receive, for simple synchronous children. */
int   ipc_send_now(int sock, struct ipc_msg *m);
/* Receives into buf (IPC_MAX_MSG bytes); 0 ok, -1 error/EOF, r->bad set
 * on a malformed header. */
int   ipc_recv_now(int sock, uint8_t *buf, struct ipc_reader *r);

#endif
