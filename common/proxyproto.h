/*
 * proxyproto.h - the PROXY protocol header (HAProxy's specification,
 * versions 1 and 2) that a trusted proxy (nginx's "proxy_protocol on")
 * sends before the client's first byte, naming the real client.
 *
 * Read by the login process (auth/login.c) on connections from
 * trusted_proxies only, exactly to the header's last byte (the bytes
 * after it may be a TLS handshake that a relay must see whole); the
 * address goes to the master as IPC_LOGIN_PROXY.  Pure functions, so
 * the unit tests drive them with any input.
 */
#ifndef MK_PROXYPROTO_H
#define MK_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>

/* v1: at most 107 bytes (the specification's bound).  v2: 16 bytes and
 * the announced length; TLVs beyond what fits here are refused. */
#define PROXY_V1_MAX 107
#define PROXY_MAX    (16 + 1024)

enum proxy_result {
	PROXY_MORE,	/* need more bytes: read exactly *need more */
	PROXY_DONE,	/* a whole header of *need bytes (all of len) */
	PROXY_BAD,	/* not a PROXY header, or a malformed one */
};

struct proxy_addr {
	int      family;	/* AF_INET, AF_INET6, or 0: keep the
				 * connection's own (v1 UNKNOWN, v2 LOCAL,
				 * other protocols) */
	char     addr[64];	/* numeric, as inet_ntop writes it */
	uint16_t port;
};

/* Looks at the first len bytes of a connection.  On PROXY_MORE *need is
 * how many more bytes to read (never past the header's end); on
 * PROXY_DONE the header was exactly len bytes and *out holds the
 * source; on PROXY_BAD *why says what is wrong. */
enum proxy_result proxy_parse(const uint8_t *buf, size_t len,
	struct proxy_addr *out, size_t *need, const char **why);

#endif
