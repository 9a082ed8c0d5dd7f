/*
 * net.h - socket helpers: listening sockets, peer addresses as text.
 */
#ifndef MK_NET_H
#define MK_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define MK_ADDRSTRLEN 64

/* A non-blocking, close-on-exec listening socket; -1 and errno on error. */
int  net_listen(const struct sockaddr *sa, socklen_t len);
/* Numeric "addr" (no port) of a socket address. */
void net_addr_str(const struct sockaddr *sa, char *out, size_t outlen);
bool net_is_loopback(const struct sockaddr *sa);
/* A numeric IPv4 or IPv6 address and a port as a socket address; -1 if
 * ip is neither. */
int  net_parse_addr(const char *ip, uint16_t port,
	struct sockaddr_storage *ss, socklen_t *len);
/* Enables TCP keepalive with a short probe schedule (for NAT'd phones). */
void net_keepalive(int fd);

#endif
