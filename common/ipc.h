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
#define IPC_VERSION   14
/*
 * The largest message, header included.  Linux refuses (EMSGSIZE) a
 * SOCK_SEQPACKET message larger than the sender's send buffer less a
 * small overhead; the default buffer (net.core.wmem_default) is 208 KiB.
 * A message may therefore never approach that: anything that can grow
 * without bound (the list of shares) travels in pages of at most
 * IPC_PAGE_MAX bytes, and every string field is capped where it enters.
 * ipc_chan_new() also raises SO_SNDBUF to hold two messages, so a host
 * with a smaller wmem_default still carries the largest one.
 */
#define IPC_MAX_MSG   (128 * 1024)
/* Pipelined client input that may travel with a session hand-off. */
#define IPC_MAX_PENDING (64 * 1024)
/* A paginated answer's page: its entries, below the message ceiling. */
#define IPC_PAGE_MAX  (64 * 1024)
/* Caps of string fields (bytes, without the NUL): user names are 64
 * bytes (MK_USER_MAX), an identifier - a user name or "anyone" - or a
 * name as a client typed it is refused above IPC_IDENT_MAX; mailbox
 * names are below 1 KiB (MK_MBOX_NAME_MAX). */
#define IPC_IDENT_MAX 256
#define IPC_MBOX_MAX  1024
/* Bytes a channel may hold queued for a peer that does not read: past
 * it, ipc_chan_send() refuses (ENOBUFS), so a stalled or hostile peer
 * costs the sender bounded memory (a paged answer per request it
 * never reads, say).  Legitimate traffic stays far below. */
#define IPC_QUEUE_MAX (16 * 1024 * 1024)
/* IPC_MBOX_STATE: sessions listed, and the bytes of a mailbox name in
 * it; an entry takes at most 8 + 4 + 4 + IPC_STATE_MBOX_MAX bytes. */
#define IPC_STATE_MAX_SESSIONS 256
#define IPC_STATE_MBOX_MAX     200
/* A password (LOGIN, AUTHENTICATE PLAIN) the login process forwards. */
#define IPC_SECRET_MAX 8192

_Static_assert(IPC_SECRET_MAX + 2 * IPC_IDENT_MAX + 64 < IPC_MAX_MSG,
    "credentials fit in a message");
_Static_assert(IPC_MAX_PENDING + 4 * IPC_IDENT_MAX + 256 < IPC_MAX_MSG,
    "a session hand-off (pending input + strings) fits in a message");
_Static_assert(IPC_PAGE_MAX + 3 * (IPC_MBOX_MAX + IPC_IDENT_MAX) + 64 <
    IPC_MAX_MSG, "a page plus one more entry fits in a message");
_Static_assert(IPC_STATE_MAX_SESSIONS * (IPC_STATE_MBOX_MAX + 17) + 64 <
    IPC_MAX_MSG, "a mailbox process's state fits in a message");
_Static_assert(IPC_MAX_MSG + 1024 <= 212992 - 32,
    "the largest message leaves room under the default 208 KiB send "
    "buffer of an AF_UNIX socket (net.core.wmem_default)");

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
	 *   str tag ("" from a POP3 login process: POP3 has no tags),
	 *   bytes pending input, u32 flags (IPC_SESS_*),
	 *   u32 enabled-before-login capabilities (unused: 0)
	 * The master uses neither flags nor capabilities as facts: it
	 * derives the session's flags from its own records. */
	IPC_LOGIN_HANDOFF,
	/* Not sent any more (IPC 10: the login process ran STARTTLS
	 * itself); the master kills a process that sends it.  See
	 * IPC_LOGIN_STARTTLS_REQ. */
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
	/* master -> mailbox: one page of the answer: u64 request id,
	 * u8 more (IPC_SHARES_*), u32 n, n x (str owner, str mailbox,
	 * str rights).  Entries of a page take at most IPC_PAGE_MAX bytes
	 * (plus the one that crossed it); the receiver joins the pages
	 * until one says the answer ends. */
	IPC_MBOX_SHARES_RESULT,
	/* mailbox -> master: u64 request id, str owner.  Asks for a channel
	 * to owner's mailbox process; granted only if the index says owner
	 * (folded as logins are) shares something with this process's user
	 * or with "anyone", and while that process holds fewer than
	 * max_guest_channels guest sessions (else IPC_REQ_LIMIT).  The
	 * owner's process then gets an IPC_MBOX_SESSION with method
	 * IPC_IMP_GUEST and authcid = this process's user. */
	IPC_MBOX_GUEST_OPEN,
	/* master -> mailbox: u64 request id, u8 result (ipc_req_result),
	 * + our end of the channel on OK (fd_lost if it could not be
	 * received: the channel is lost, the request failed) */
	IPC_MBOX_GUEST_RESULT,
	/* master -> mailbox: u8 result (ipc_req_result); one per
	 * IPC_MBOX_SHARE, in order, once the index holds it (OK) or the
	 * master refused it (LIMIT: acl_max_*; FAILED: the directory could
	 * not be written).  SETACL and DELETEACL answer their client only
	 * then, so the grantee's next LIST sees the change; on a refusal
	 * they undo the owner's change and answer NO. */
	IPC_MBOX_SHARE_DONE,
	/* master -> mailbox, no fields: what SHARES would answer this
	 * process's user may have changed (a grant to it or to "anyone", a
	 * user's shares dropped, the directory written by another program):
	 * a share list it kept is stale.  Sent, for a grant made by an
	 * owner's process, before that owner's SHARE_DONE. */
	IPC_MBOX_SHARES_STALE,

	/* LMTP delivery (doc/lmtp.md).  lmtp -> master: u64 request id,
	 * str local part, str domain ("" if none) of one RCPT TO.  The
	 * master looks the local part up in the directory (case-insensitive)
	 * and checks the domain against lmtp_domains. */
	IPC_LMTP_RCPT = 60,
	/* master -> lmtp: u64 request id, u8 result (ipc_req_result:
	 * OK, NOTFOUND = no such user, DENIED = not one of our domains,
	 * FAILED = try later, RELAY = held by another backend), str the
	 * user's canonical name ("" unless OK or RELAY),
	 * + on OK one end of a SEQPACKET delivery channel whose other end
	 * is a session (method IPC_IMP_DELIVERY) of that user's mailbox
	 * process.  Closing the channel ends that session.  On RELAY a TCP
	 * socket (its connect possibly still in progress) to the LMTP port
	 * of the backend that holds the user. */
	IPC_LMTP_RCPT_RESULT,
	/* lmtp -> mailbox, on a delivery channel, + a sealed memfd holding
	 * the message (CRLF lines, dot-unstuffed): str return path (without
	 * <>), str recipient address as given in RCPT TO.  The mailbox
	 * process stores it into INBOX in one transaction with the quota
	 * check and answers once COMMIT has returned. */
	IPC_LMTP_DELIVER,
	/* mailbox -> lmtp: u8 result (ipc_dlv_result), str detail for logs */
	IPC_LMTP_DELIVER_RESULT,

	/* The spawner (daemon/master/spawner.c) forks every child on the
	 * master's request.  It was forked before the master read any
	 * secret, and it trusts the master wholly (its parent, as root): a
	 * malformed request is a bug and ends the spawner.
	 * master -> spawner: bytes struct mk_config (the running
	 * configuration, laid out by this same binary; sent at start and on
	 * every reload). */
	IPC_SPAWN_CONFIG = 70,
	/* spawner -> master: u8 ok, str error (why the config was refused) */
	IPC_SPAWN_CONFIG_RESULT,
	/* master -> spawner, + the client socket (the accepted one, or for
	 * implicit TLS the plaintext end of its relay socketpair): a login
	 * process.  u8 loopback, u8 implicit_tls, u8 proto (enum mk_proto:
	 * which protocol the listener speaks, IMAP or POP3), u8 resumed (1:
	 * after UNAUTHENTICATE; no greeting, IMAP only, and IPC_LOGIN_RESUME
	 * comes first on its channel), u8 relayed (resumed on the plaintext
	 * end of a pool relay's socketpair: the link is secure), u8
	 * starttls: the process may offer STARTTLS (a pool relay runs it;
	 * the process keeps the public credentials, no key channel), u8
	 * proxy: the peer is a trusted proxy, whose PROXY protocol header
	 * comes first (then on implicit TLS the socket is the TCP one). */
	IPC_SPAWN_LOGIN,
	/* master -> spawner, no fields: a hash worker. */
	IPC_SPAWN_HASH,
	/* master -> spawner: u32 user id, str user name: that user's
	 * mailbox process (the master has made data_dir/users/<name>). */
	IPC_SPAWN_MBOX,
	/* master -> spawner, + the accepted LMTP connection: an LMTP
	 * process.  str peer ("local", or the client's address) */
	IPC_SPAWN_LMTP,
	/* master -> spawner, no fields: a TLS key holder.  The child opens
	 * tls_cert and tls_key as root, then drops to hash_user in
	 * login_chroot; the master reads its IPC_KEY_READY. */
	IPC_SPAWN_KEYHOLDER,
	/* master -> spawner, + a descriptor, no fields: a relay's channel
	 * to the key holder, see SPAWN_RELAY. */
	IPC_SPAWN_KEYCHAN,
	/* master -> spawner: bytes certificate chain (PEM, as the current
	 * key holder read it; empty: no TLS).  Answered with
	 * IPC_SPAWN_CONFIG_RESULT. */
	IPC_SPAWN_TLS,
	/* spawner -> master, the answer to each SPAWN_LOGIN/HASH/MBOX/LMTP/
	 * KEYHOLDER:
	 *   u32 pid (0: failed), u32 errno (when failed),
	 *   + the master's end of the child's channel when pid != 0.
	 * The child is the master's own (PR_SET_CHILD_SUBREAPER): the
	 * master reaps it, as any other. */
	IPC_SPAWN_RESULT,

	/* The TLS key holder (auth/keyholder.c), the only process that
	 * holds the private key.
	 * key holder -> master, once, after reading the key and chain:
	 *   u8 ok, str error for the operator ("" when ok),
	 *   bytes certificate chain (PEM; public) */
	IPC_KEY_READY = 90,
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

	/* Live administration (daemon/master/control.c): what the control
	 * socket's who, stats and the metrics need from the mailbox
	 * processes, and kick.
	 * master -> mailbox: u64 request id.  Asked only when an
	 * administrator (or the metrics scraper) asks; one at a time per
	 * process. */
	IPC_MBOX_STATE_REQ = 110,
	/* mailbox -> master: u64 request id, u64 store bytes (the database
	 * and its WAL), u32 sessions in all, u32 n (at most
	 * IPC_STATE_MAX_SESSIONS), n x (u64 session id, str selected
	 * mailbox ("" if none; at most IPC_STATE_MBOX_MAX bytes), u32
	 * seconds since the session's last command) */
	IPC_MBOX_STATE,
	/* master -> mailbox: u64 session id, str text: end that session
	 * with "* BYE text" (an administrator's kick). */
	IPC_MBOX_KICK,

	/* UNAUTHENTICATE (RFC 8437): the session goes back to the
	 * not-authenticated state, in a new login process.
	 * mailbox -> master, + the session's client socket: u64 session id,
	 * bytes pending input (what the client pipelined after the command;
	 * the tagged OK was written already).  Valid for an active session
	 * of a client (not a guest channel or a delivery); it ends the
	 * session in the sender (no SESSION_END follows), and the master
	 * hands the socket, which must be the session's own (as for
	 * HANDBACK), to a fresh login process (IPC_SPAWN_LOGIN, resumed). */
	IPC_MBOX_UNAUTH = 120,
	/* master -> login, the first message to a resumed login process
	 * (IPC_SPAWN_LOGIN): bytes pending input, what the client sent
	 * after UNAUTHENTICATE (at most IPC_MAX_PENDING); the process reads
	 * it before its socket.  It goes through this channel, not the
	 * spawner, which never holds a client's bytes. */
	IPC_LOGIN_RESUME,
	/* URLAUTH (RFC 4467; daemon/mailbox/cmd_urlauth.c).
	 * mailbox -> master: u64 request id, str owner.  Asks for a channel
	 * to owner's mailbox process on which to URLFETCH URLs that name
	 * owner's mailboxes.  Granted for any user (the URL's token, checked
	 * by the owner's process with the owner's key, is the authority),
	 * within max_guest_channels as for IPC_MBOX_GUEST_OPEN.  The
	 * owner's process gets an IPC_MBOX_SESSION with method
	 * IPC_IMP_URLAUTH and authcid = this process's user, on which it
	 * accepts URLFETCH (and CAPABILITY, NOOP, LOGOUT) only. */
	IPC_MBOX_URL_OPEN = 130,
	/* master -> mailbox: as IPC_MBOX_GUEST_RESULT */
	IPC_MBOX_URL_RESULT,
	/* The TLS relay pool (auth/relaypool.c, daemon/master/relaypool.c).
	 * master -> spawner, no fields: a pool relay; followed by
	 * IPC_SPAWN_KEYCHAN with its channel to the key holder. */
	IPC_SPAWN_RELAY = 150,
	/* master -> relay, + the client's TCP socket: u32 connection id,
	 * u8 implicit (1: implicit TLS, 0: after STARTTLS).  Followed at
	 * once by IPC_RELAY_PLAIN with the same id. */
	IPC_RELAY_CONN,
	/* master -> relay, + the relay's end of the plaintext socketpair
	 * whose other end the login process, then the mailbox process,
	 * serves: u32 connection id (that of the IPC_RELAY_CONN before). */
	IPC_RELAY_PLAIN,
	/* relay -> master: u32 connection id; that connection is over (the
	 * master's count of the relay's load goes down). */
	IPC_RELAY_DONE,
	/* login -> master, + the client's TCP socket, no fields: STARTTLS
	 * was asked; the socket goes to a relay, which runs the handshake.
	 * Legal once, before credentials, on a plain listener with TLS. */
	IPC_LOGIN_STARTTLS_REQ,
	/* master -> login: u8 ok, + (when ok) the login process's end of
	 * the plaintext socketpair: from now on its client. */
	IPC_LOGIN_TLS_LINK,
	/* master -> key holder, + one end of a SEQPACKET socketpair, no
	 * fields: a pool relay's channel, which serves the handshakes of
	 * many connections and so has no per-channel operation cap. */
	IPC_KEY_POOL_CHANNEL,

	/* The LDAP directory (doc/ldap.md): the LDAP process
	 * (auth/ldapclient.c) is the only one that speaks to the LDAP
	 * server; the master (daemon/master/ldapdir.c) reads its typed
	 * answers, never an LDAP reply.  One request at a time.
	 * master -> ldap, first and once: bytes bind password (of
	 * ldap_bind_dn; empty: anonymous).  The master read it from the
	 * root-only ldap_bind_password_file. */
	IPC_LDAP_CONFIG = 160,
	/* master -> ldap: u64 request id, str user (canonical name) */
	IPC_LDAP_LOOKUP,
	/* ldap -> master: u64 request id, u8 result (ipc_ldap_result),
	 * str dn, str hash (the libxcrypt string of a {CRYPT} value, ""
	 * when unusable; in ldap_auth = bind mode the entry's
	 * modifyTimestamp instead), u8 admin,
	 * u8 has_storage, u64 storage KiB, u8 has_messages, u64 messages,
	 * str backend ("" if none), str reason (for the log; "" when OK) */
	IPC_LDAP_ENTRY,
	/* master -> ldap: u64 request id, str dn, bytes password: verify
	 * by binding as dn (ldap_auth = bind); wiped once used. */
	IPC_LDAP_BIND,
	/* ldap -> master: u64 request id, u8 result (ipc_ldap_result:
	 * OK = the bind succeeded, NOTFOUND = invalid credentials,
	 * UNAVAILABLE = the server could not say), str reason */
	IPC_LDAP_BIND_RESULT,
	/* master -> spawner, no fields: the LDAP process. */
	IPC_SPAWN_LDAP,

	/* The link between backends (daemon/cluster/, doc/move.md).
	 * master -> spawner, no fields: the cluster key holder, a key
	 * holder (auth/keyholder.c) that opens cluster_cert and cluster_key
	 * instead of tls_cert and tls_key; answered as SPAWN_KEYHOLDER. */
	IPC_SPAWN_CLUSTER_KH = 170,
	/* master -> spawner, + a connection accepted on cluster_listen, no
	 * fields: a link process (uid login_user, chrooted, sandboxed);
	 * followed by IPC_SPAWN_KEYCHAN with its channel to the cluster
	 * key holder. */
	IPC_SPAWN_LINK,
	/* master -> spawner, + a sealed memfd holding a store copy:
	 * u32 user id, str user name.  A restore worker as that user's uid
	 * in data_dir/users/<name> (which the master has prepared); it
	 * answers IPC_RESTORE_RESULT on its channel and exits. */
	IPC_SPAWN_RESTORE,
	/* master -> link, the first message on its channel: bytes the
	 * cluster certificate chain (PEM, as the cluster key holder read
	 * it), bytes cluster_ca (PEM), str this backend's name. */
	IPC_LINK_SETUP,
	/* link -> master, + a sealed memfd holding the copy of the store
	 * (its size and SHA-256 checked by the link process): str user,
	 * str password hash, u8 admin, u64 quota storage KiB + 1, u64 quota
	 * messages + 1 (0: the default), str the peer's certificate name
	 * (for logs).  A user moved here; at most one at a time per link. */
	IPC_LINK_MOVE_IN,
	/* master -> link: u32 code (enum link_code), str text; the answer
	 * to IPC_LINK_MOVE_IN, passed on to the peer as LINK_RESULT. */
	IPC_LINK_MOVE_RESULT,
	/* restore worker -> master: u8 ok, str why not (for the log and the
	 * peer). */
	IPC_RESTORE_RESULT,
	/* link -> master: str user, str the peer's certificate name.  The
	 * source has pointed its directory here: the user, restored by an
	 * earlier MOVE_IN from that same peer, is now held here.  Answered
	 * IPC_LINK_MOVE_RESULT. */
	IPC_LINK_COMMIT,
	/* lmtp -> master, no fields: the client greeted as another
	 * backend's relay (LHLO mailkeep-relay.*, daemon/lmtp/
	 * lmtp_relay.c): its recipients are never relayed again (451
	 * instead), so a message crosses at most one hop. */
	IPC_LMTP_RELAYED,
	/* restore worker -> master, before its RESTORE_RESULT, one per ACL
	 * entry of the restored store: str mailbox, str grantee, str
	 * rights.  The master indexes them for the moved user, as the
	 * user's own process would with IPC_MBOX_SHARE (same checks, at
	 * most acl_max_shares_per_user). */
	IPC_RESTORE_SHARE,
	/* The front door (doc/cluster.md).  login -> master: u8 family (4,
	 * 6, or 0: the connection's own address stands), str address
	 * (numeric), u32 port, + on an implicit-TLS listener the client's
	 * TCP socket (it goes to a relay; IPC_LOGIN_TLS_LINK answers).  The
	 * PROXY protocol header of a trusted proxy: the process was told to
	 * expect one (u8 proxy of IPC_SPAWN_LOGIN), and it comes first. */
	IPC_LOGIN_PROXY = 180,
	/* auth_http login process -> master: str client address (Client-IP,
	 * numeric), u8 protocol (enum mk_proto), u32 Auth-Login-Attempt,
	 * u8 mech, str authzid, str authcid, bytes secret: one nginx
	 * auth_http request, decided as IPC_LOGIN_AUTH is, throttled as
	 * coming from the client address. */
	IPC_LOGIN_HTTP_AUTH,
	/* master -> auth_http login process: u8 result (ipc_auth_result),
	 * str text, str server address, u32 port (OK only), u32 wait (the
	 * seconds nginx waits before answering the client; 0: none, the
	 * client is disconnected). */
	IPC_LOGIN_HTTP_RESULT,

	/* Shared folders across backends (doc/cluster.md).  master -> link
	 * process, its first message instead of IPC_LINK_SETUP: dial out.
	 * + the TCP socket connecting to the peer came with SPAWN_LINK;
	 * bytes chain, bytes cluster_ca, str this backend's name, str the
	 * peer's (its certificate must bear it), u8 job: 1, a guest stream
	 * (str owner, str grantee, + the stream's end for the grantee's
	 * process); 2, share index entries (u32 n, n x (str owner, str
	 * mailbox, str grantee, str rights)). */
	IPC_LINK_DIAL = 190,
	/* link process -> master: u32 code (enum link_code), str text: how
	 * the job went (a guest stream: OK once the peer opened it). */
	IPC_LINK_DIAL_RESULT,
	/* link process -> master: str owner, str grantee, str the peer's
	 * certificate name.  The peer asks a guest session of its user
	 * grantee in owner's process here; IPC_LINK_GUEST_RESULT answers. */
	IPC_LINK_GUEST,
	/* master -> link process: u32 code, str text, + on OK the guest
	 * session's end to relay. */
	IPC_LINK_GUEST_RESULT,
	/* link process -> master: str owner, str mailbox, str grantee,
	 * str rights, str the peer's certificate name: an entry of the
	 * share index of an owner the peer holds.  Answered
	 * IPC_LINK_MOVE_RESULT. */
	IPC_LINK_SHARE,

	IPC_TYPE_MAX
};

/* IPC_MBOX_SHARES_RESULT's "more": another page follows, or this page
 * ends the answer - whole, or cut short (a page the asking process had
 * not read filled its queue: its list is shorter than the index's). */
enum ipc_shares_more {
	IPC_SHARES_LAST = 0,
	IPC_SHARES_MORE = 1,
	IPC_SHARES_CUT = 2,
};

/* Answers to mailbox-process requests. */
enum ipc_req_result {
	IPC_REQ_OK = 0,
	IPC_REQ_DENIED,		/* not allowed: NO [NOPERM] */
	IPC_REQ_NOTFOUND,	/* no such user: NO [NONEXISTENT] */
	IPC_REQ_FAILED,		/* internal trouble: NO [UNAVAILABLE] */
	IPC_REQ_LIMIT,		/* a configured bound (acl_max_*,
				 * max_guest_channels): NO [LIMIT] */
	IPC_REQ_RELAY,		/* LMTP_RCPT: the user is held by another
				 * backend; the descriptor is a socket to
				 * its LMTP (doc/move.md) */
};

/* Outcome of one IPC_LMTP_DELIVER, mapped to LMTP replies by the LMTP
 * process (doc/lmtp.md has the table). */
enum ipc_dlv_result {
	IPC_DLV_OK = 0,		/* committed: 250 2.0.0 */
	IPC_DLV_OVERQUOTA,	/* mailbox full, may fit later: 452 4.2.2 */
	IPC_DLV_TOOBIG,		/* larger than the whole quota: 552 5.2.3 */
	IPC_DLV_TEMPFAIL,	/* store trouble: 451 4.3.0 */
	IPC_DLV_REJECTED,	/* unusable message (size, seals): 554 5.6.0 */
};

/* The LDAP process's answers. */
enum ipc_ldap_result {
	IPC_LDAP_OK = 0,
	IPC_LDAP_NOTFOUND,	/* no such entry / invalid credentials */
	IPC_LDAP_UNAVAILABLE,	/* the server is down, slow or refused us */
	IPC_LDAP_UNUSABLE,	/* found, but its password value cannot be
				 * used (not {CRYPT}); reason says why */
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
	IPC_AUTH_BUSY,		/* auth_max_pending_per_addr logins from this
				 * address are being verified: [UNAVAILABLE] */
	IPC_AUTH_DIR_DOWN,	/* the LDAP directory did not answer:
				 * [UNAVAILABLE] */
	IPC_AUTH_REFERRAL,	/* right password, but the user's store is on
				 * another backend: NO [REFERRAL url] (RFC
				 * 2221); the text carries the code */
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
	IPC_IMP_DELIVERY,	/* not a client: an LMTP delivery channel
				 * (SEQPACKET, IPC_LMTP_DELIVER messages) */
	IPC_IMP_URLAUTH,	/* another user's process fetching URLAUTH
				 * URLs of this user's mailboxes: authcid is
				 * that user; URLFETCH only */
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
	uint8_t     proto;	/* enum mk_proto of the listener (the master's
				 * record): IMAP, or a POP3 session of INBOX */
	const uint8_t *pending;	/* pipelined client bytes already read */
	size_t      npending;
	uint64_t    quota_storage;	/* KiB; 0 = unlimited */
	uint64_t    quota_messages;	/* 0 = unlimited */
};

/* --- building --- */
struct ipc_msg {
	struct buf b;
	int        fd;	/* -1: none */
	bool       toobig;	/* a field did not fit: unsendable */
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
	/* The message came with a descriptor the kernel could not give us
	 * (MSG_CTRUNC: this process is at its RLIMIT_NOFILE).  The fields
	 * are intact and fd is -1: the receiver refuses what the
	 * descriptor was for, and the channel stays up. */
	bool           fd_lost;
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
/* Queue for sending; takes ownership of m's buffer and descriptor.
 * Returns 0, or -1 (errno EMSGSIZE; ENOBUFS when IPC_QUEUE_MAX bytes
 * wait already; EPIPE on a dead channel) if this message cannot go: the
 * caller answers its request as failed.  One
 * message that cannot be sent never kills a channel; only a broken
 * connection does (the handler then gets r == NULL). */
int   ipc_chan_send(struct ipc_chan *c, struct ipc_msg *m);
/* Bytes queued and not yet taken by the peer (at most IPC_QUEUE_MAX). */
/* fn(arg) runs before each message is queued: the mailbox process
 * commits what the message may tell of (mailbox.c user_commit). */
void ipc_chan_before_send(struct ipc_chan *c, void (*fn)(void *),
	void *arg);
size_t ipc_chan_queued(const struct ipc_chan *c);
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
