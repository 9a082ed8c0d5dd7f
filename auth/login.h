/*
 * login.h - the login process: one client before it has authenticated.
 *
 * The spawner forks one per connection, at the master's request
 * (daemon/master/children.c, spawner.c), and calls login_main(), already chrooted into an empty directory as
 * login_user when running as root.  The process holds the client's
 * descriptor and its channel to the master, nothing else: no key, no
 * key holder channel, no TLS.  The descriptor is the accepted socket, or
 * over TLS the plaintext end of a socketpair to a pool relay
 * (auth/relaypool.c), which runs the handshake: at once on a listen_tls
 * connection, after STARTTLS otherwise (the socket goes to the relay
 * through the master).  It speaks the IMAP not-authenticated state,
 * forwards credentials to the master (IPC_LOGIN_AUTH), and on an OK
 * verdict hands the descriptor and whatever the client pipelined to
 * the master (IPC_LOGIN_HANDOFF) and exits.
 *
 *   login.c      the process: event loop, I/O, framing, timeouts, IPC,
 *                STARTTLS's switch to the relay
 *   login_cmd.c  the commands of the not-authenticated state
 *   login_pop3.c the POP3 personality: the AUTHORIZATION state of a
 *                listen_pop3/listen_pop3s connection (the master says
 *                which protocol the listener speaks: login_params.proto)
 *   sasl.c       SASL PLAIN messages and the LOGIN impersonation split
 *   tls.c        GnuTLS credentials and sessions (auth/tls.h)
 */
#ifndef MK_LOGIN_H
#define MK_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/event.h"
#include "common/imap.h"
#include "common/imap_frame.h"
#include "common/ipc.h"
#include "common/proxyproto.h"
#include "auth/tls.h"

/* What the master knows about the connection and tells the child. */
struct login_params {
	bool loopback;		/* the client is on a loopback address */
	bool implicit_tls;	/* accepted on listen_tls: handshake first */
	uint8_t proto;		/* enum mk_proto: IMAP, or POP3 (login_pop3.c) */
	/* The master's public credentials (inherited memory); not NULL
	 * means STARTTLS may be offered (a pool relay runs it). */
	struct tls_creds *tls;
	/* After UNAUTHENTICATE (RFC 8437): no greeting, and the master's
	 * IPC_LOGIN_RESUME (the client's pipelined input) is awaited before
	 * the socket is read; relayed: the socket is the plaintext end of a
	 * pool relay's socketpair (secure, and handed off as it is). */
	bool resumed, relayed;
	/* From trusted_proxies: a PROXY protocol header comes first
	 * (read here, before the greeting and, on implicit TLS, before the
	 * handshake: the socket is then the TCP one until a relay has it). */
	bool proxy;
};

/* Never returns: exits when the client is gone or handed off. */
__attribute__((noreturn))
void login_main(const struct mk_config *cfg, int client_fd, int master_fd,
	const struct login_params *p);

/* Commands a client may send before logging in, at most. */
#define LOGIN_MAX_COMMANDS 50

struct login_conn;

/* Raw byte I/O with the client (a socket in every case; tests may
 * replace it).  read and write return what read(2)/write(2) return,
 * with errno EAGAIN when the operation would block; pending says how
 * many bytes a layer holds that epoll cannot see (NULL: none). */
struct login_io {
	ssize_t (*read)(struct login_conn *c, void *p, size_t n);
	ssize_t (*write)(struct login_conn *c, const void *p, size_t n);
	size_t  (*pending)(struct login_conn *c);
	void    *ctx;
};

enum lconn_state {
	LST_COMMAND,		/* reading commands */
	LST_SASL,		/* reading an AUTHENTICATE response line */
	LST_WAIT,		/* credentials sent; waiting for the verdict */
	LST_HANDSHAKE,		/* STARTTLS: waiting for the relay's link */
	LST_CLOSING,		/* BYE sent; exiting */
	LST_PROXY,		/* reading a trusted proxy's PROXY header */
};

struct login_conn {
	const struct mk_config *cfg;
	struct login_params p;
	struct ev_loop   *loop;
	int               fd;
	struct ev_io      io;
	struct login_io   ops;
	struct ipc_chan  *master;
	struct buf        in, out;
	struct imap_framer fr;
	struct arena      arena;
	struct ev_timer   timeout;
	enum lconn_state  state;
	bool              secure;	/* TLS is established */
	bool              read_wants_out;	/* a read waits to write */
	unsigned          attempts;	/* credentials sent to the master */
	unsigned          ncommands;
	char              tag[128];	/* of the command being authenticated */
	uint8_t           mech;
	/* LST_PROXY: the header so far, and how many bytes to read next
	 * (never past its end: what follows may be a TLS handshake). */
	uint8_t           phdr[PROXY_MAX];
	size_t            phave, pneed;
	bool              greet_on_link;	/* proxied implicit TLS */
};

/* ---- login.c, for login_cmd.c ---- */

/* Appends one response line (CRLF added) and tries to send it. */
void login_reply(struct login_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Ends the process once the pending output is written. */
__attribute__((noreturn))
void login_finish(struct login_conn *c);
/* Sends "* BYE text" and ends the process once it is written. */
__attribute__((noreturn))
void login_bye(struct login_conn *c, const char *text);
/* Sends IPC_LOGIN_AUTH and waits for the verdict; wipes nothing itself. */
void login_send_auth(struct login_conn *c, uint8_t mech, const char *authzid,
	const char *authcid, const char *secret, size_t nsecret);
/* True if clear-text credentials are allowed on this connection. */
bool login_plaintext_ok(const struct login_conn *c);
/* STARTTLS was accepted: answers OK with tag, then (once the command is
 * done) drops every byte the client sent after it and starts the
 * handshake.  Answers NO itself if no session can be made. */
void login_starttls(struct login_conn *c, const char *tag);

/* ---- login_cmd.c ---- */

/* The CAPABILITY list for the greeting and the CAPABILITY command. */
const char *login_capabilities(const struct login_conn *c);
/* Executes one parsed command (or answers its parse error). */
void login_command(struct login_conn *c, const struct imap_cmd *cmd,
	int parse_rc, const char *parse_err);
/* One line answering an AUTHENTICATE continuation. */
void login_sasl_line(struct login_conn *c, const char *line, size_t len);
/* The master's verdict on the credentials sent last. */
void login_verdict_received(struct login_conn *c, uint8_t result,
	const char *text);

/* ---- login_pop3.c: the same process speaking POP3 ---- */

bool login_is_pop3(const struct login_conn *c);
void pop3_login_greet(struct login_conn *c);
/* One complete line: a command, or the response to AUTH's "+ ". */
void pop3_login_line(struct login_conn *c, const char *line, size_t len);
void pop3_login_verdict(struct login_conn *c, uint8_t result,
	const char *text);
/* The "-ERR" for credentials refused before they reach the master. */
void pop3_login_refused(struct login_conn *c);

/* ---- login_http.c: the same process answering nginx's auth_http ---- */

bool login_is_http(const struct login_conn *c);
/* Reads the request once it is whole; answers 4xx itself for a bad
 * one, else asks the master (IPC_LOGIN_HTTP_AUTH). */
void http_login_process(struct login_conn *c);
/* IPC_LOGIN_HTTP_RESULT: writes the answer and ends the process. */
__attribute__((noreturn))
void http_login_verdict(struct login_conn *c, struct ipc_reader *r);
/* An error answer (timeout, framing) and the end of the process. */
__attribute__((noreturn))
void http_login_error(struct login_conn *c, int status, const char *text);

/* One auth_http request, parsed (pure: tests/unit/auth/test_http.c).
 * User and password are URL-decoded as nginx encodes them. */
#define HTTP_AUTH_MAX_HEADER 8192
struct http_auth_req {
	char     method[16];	/* Auth-Method, lower case */
	char     protocol[16];	/* Auth-Protocol, lower case */
	char     user[IPC_IDENT_MAX + 1];
	char     pass[HTTP_AUTH_MAX_HEADER];
	size_t   npass;
	char     client_ip[64];	/* numeric */
	unsigned attempt;	/* Auth-Login-Attempt; 1 if absent */
};
/* req: the request's head (request line and headers, up to and
 * including the empty line), len bytes.  0, or the HTTP status to
 * answer (400, 405, 431) with *why. */
int  http_auth_parse(const char *req, size_t len, struct http_auth_req *out,
	const char **why);

/* ---- sasl.c ---- */

struct sasl_plain {
	char  *buf;		/* decoded message; wiped by sasl_plain_free */
	size_t len;
	const char *authzid, *authcid, *passwd;
	size_t npasswd;
};

/* Decodes a base64 PLAIN response (RFC 4616: authzid NUL authcid NUL
 * passwd).  0, or -1 with *err set to the reason for a BAD. */
int  sasl_plain_decode(const char *b64, size_t n, struct sasl_plain *sp,
	const char **err);
void sasl_plain_free(struct sasl_plain *sp);

/* LOGIN "target<sep>admin": splits user at the separator into authzid
 * (target) and authcid (admin).  False if sep is empty or absent. */
bool sasl_split_login(const char *user, const char *sep, char *authzid,
	size_t zlen, char *authcid, size_t clen);

#endif
