/*
 * link.h - the link between backends: its wire format (link_proto.c)
 * and its mutually authenticated TLS (link_tls.c).
 *
 * One TLS connection from a client backend (mailkeepctl move on the
 * source; a backend's master dialing for shared folders) to another
 * backend's cluster_listen.  Both ends present a
 * certificate signed by cluster_ca; neither accepts a peer without one.
 * On it travel frames:
 *
 *     u32 length of what follows (at most LINK_FRAME_MAX)
 *     u32 type (enum link_type)
 *     fields, encoded as IPC fields are (common/ipc.h: big-endian
 *     integers, u32-prefixed byte strings, strings with their NUL)
 *
 * The client speaks first (LINK_HELLO with its version); the server
 * answers LINK_HELLO_OK with its own, and the lower of the two is the
 * conversation's.  Each request then gets one answer; a request of a
 * type the server does not know is answered LINK_RESULT
 * LINK_UNSUPPORTED and the connection stays usable, so new requests
 * (the shared-folder ones, 20-29) can be added without breaking older
 * peers.  A frame that is malformed (too long,
 * a field past its end, bytes left over, a bad string) ends the
 * connection: the peer is authenticated, so this is a bug or a
 * compromise, never an input to recover from.
 *
 * Who reads what: the server side runs in the link process
 * (linkd.c: unprivileged, chrooted, sandboxed), the client side in
 * mailkeepctl's link child (daemon/ctl/move.c: the same confinement)
 * or, for shared folders, in a link process dialing out (linkd.c).
 * The private key is in neither: a key holder (auth/keyholder.c) signs
 * for them.
 */
#ifndef MK_LINK_H
#define MK_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

#include "common/ipc.h"
#include "store/directory.h"

#define LINK_VERSION    2	/* 2: GUEST_OPEN, SHARE, the code LIMIT */
/* A frame's bytes after its length word; DATA chunks stay well below. */
#define LINK_FRAME_MAX  (96 * 1024)
#define LINK_CHUNK      (64 * 1024)
/* The largest store a move carries (the memfd it lands in on the
 * target is bounded by this too). */
#define LINK_STORE_MAX  (64ULL * 1024 * 1024 * 1024)
#define LINK_HASH_MAX   255
#define LINK_TEXT_MAX   512

enum link_type {
	/* client -> server: u32 version, str the client's backend name */
	LINK_HELLO = 1,
	/* server -> client: u32 version, str the server's backend name */
	LINK_HELLO_OK,
	/* server -> client, the answer to any other request:
	 * u32 code (enum link_code), str text (at most LINK_TEXT_MAX) */
	LINK_RESULT,

	/* Moving a user here (doc/move.md).  client -> server:
	 * str user, str password hash, u8 admin, u64 quota storage KiB + 1,
	 * u64 quota messages + 1 (0: the configured default), u64 bytes of
	 * the store copy that follows in DATA frames, bytes SHA-256 of it
	 * (32).  Answered LINK_RESULT: OK, go on; or a refusal. */
	LINK_MOVE_BEGIN = 10,
	/* client -> server: bytes the next piece of the copy (1 to
	 * LINK_CHUNK bytes).  Not answered. */
	LINK_MOVE_DATA,
	/* client -> server, no fields: the copy is complete.  Answered
	 * LINK_RESULT once the target has restored it as the user's uid
	 * and written the user's directory row (OK), or why not. */
	LINK_MOVE_END,
	/* client -> server: str user.  The source now points its directory
	 * here: the user restored by MOVE_END becomes held here.  Answered
	 * LINK_RESULT; repeating it is harmless (a retried move). */
	LINK_MOVE_COMMIT,

	/* 20-29: shared folders across backends (doc/cluster.md).
	 * client -> server: str owner, str grantee (folded user names).
	 * The grantee, held by the client backend, asks for a guest session
	 * in the owner's process, held by the server backend, which checks
	 * its own share index.  Answered LINK_RESULT; after OK the
	 * connection is no longer framed: it carries the guest session's
	 * IMAP bytes both ways until either end closes it. */
	LINK_GUEST_OPEN = 20,
	/* client -> server: str owner, str mailbox, str grantee ("anyone"
	 * or a folded user name), str rights ("" removes the entry).  The
	 * owner, held by the client backend, changed an ACL entry that
	 * concerns a user of the server backend: its share index follows.
	 * Answered LINK_RESULT. */
	LINK_SHARE,
};

enum link_code {
	LINK_OK = 0,
	LINK_TEMPFAIL,		/* try again later (the same move may be
				 * retried as a whole) */
	LINK_REFUSED,		/* will not be done (the text says why) */
	LINK_UNSUPPORTED,	/* a request type this server does not know */
	LINK_LIMIT,		/* a bound was reached (streams per peer or
				 * per user, share index entries) */
};

/* One entry of a share index (LINK_SHARE); rights "" removes it. */
struct link_share {
	char owner[MK_USER_MAX];
	char mailbox[IPC_MBOX_MAX];
	char grantee[MK_USER_MAX];
	char rights[32];
};

struct link_move {
	char     user[MK_USER_MAX];
	char     hash[LINK_HASH_MAX + 1];
	bool     admin;
	int64_t  quota_storage, quota_messages;	/* -1: default */
	uint64_t bytes;
	uint8_t  sha256[32];
};

/* ---- link_proto.c: frames (pure functions, unit-tested) ---- */

/* A frame under construction: m's buffer holds the length word and the
 * type; fields are added with ipc_put_*; link_frame_finish() fills the
 * length in.  -1 if a field did not fit (nothing may be sent). */
void link_frame_init(struct ipc_msg *m, enum link_type type);
int  link_frame_finish(struct ipc_msg *m);

/* Looks for one whole frame at the start of p[0..n): its total size
 * (length word included) with r set to read its fields, 0 if more
 * bytes are needed, -1 if the length word is impossible. */
ssize_t link_frame_parse(const uint8_t *p, size_t n, struct ipc_reader *r);

/* Typed readers: true if the frame is that message, well formed and
 * complete (r is consumed).  Everything is checked here, once. */
bool link_read_hello(struct ipc_reader *r, uint32_t *version,
	char *name, size_t namelen);
bool link_read_result(struct ipc_reader *r, uint32_t *code,
	char *text, size_t textlen);
bool link_read_move_begin(struct ipc_reader *r, struct link_move *mv);
bool link_read_move_commit(struct ipc_reader *r, char *user, size_t len);
bool link_read_move_data(struct ipc_reader *r, const uint8_t **p,
	size_t *n);

bool link_read_guest_open(struct ipc_reader *r, char *owner,
	char *grantee, size_t len);
bool link_read_share(struct ipc_reader *r, struct link_share *sh);

void link_put_move_begin(struct ipc_msg *m, const struct link_move *mv);

/* ---- link_tls.c: the TLS session on a connected socket ---- */

struct link_conn;

/* A session over fd (blocking), as server or client, with the
 * certificate chain chain (PEM, public), a private key whose operations
 * are requests on kh_fd (the key holder's channel), and the CA that
 * must have signed the peer's certificate.  Runs the handshake within
 * timeout_ms and checks the peer's certificate.  NULL on failure, with
 * why in err. */
struct link_conn *link_open(int fd, bool server, const gnutls_datum_t *chain,
	const gnutls_datum_t *ca, int kh_fd, int timeout_ms, char *err,
	size_t errlen);
/* Sends the frame (finished or not); 0 or -1. */
int  link_send(struct link_conn *c, struct ipc_msg *m);
/* Receives the next frame into r (valid until the next call): 0, or -1
 * on EOF, timeout, a TLS failure or an impossible frame (err says). */
int  link_recv(struct link_conn *c, struct ipc_reader *r, int timeout_ms,
	char *err, size_t errlen);
/* Relays bytes between the connection (no longer framed: whatever
 * followed the last frame read goes first) and fd, both ways, until
 * either side ends; then returns. */
void link_relay(struct link_conn *c, int fd);
/* The common name of the peer's certificate (for logs). */
const char *link_peer_name(const struct link_conn *c);
void link_close(struct link_conn *c);

#endif
