/*
 * addrtab.c - what the master remembers per client address.
 *
 * One record per client network that has a connection open, a login
 * being verified, or failed logins in the current window: the connection
 * count (max_connections_per_ip), the verifications pending
 * (auth_max_pending_per_addr) and the failures (the growing delay and the
 * throttle of auth_fail_limit per auth_fail_window).
 *
 * A "network" is the client address cut to auth_throttle_ipv4_prefix or
 * auth_throttle_ipv6_prefix bits (addr_key()): one host usually owns a
 * whole IPv6 /64, so counting single IPv6 addresses would give it 2^64
 * budgets.  An IPv4-mapped IPv6 address is an IPv4 client.
 *
 * A login counts as a failure from the moment it is submitted until it
 * succeeds: addr_throttled() adds the pending verifications to the
 * failures, so firing many guesses at once gains nothing over waiting
 * for each answer.
 *
 * Addresses always come from the master's own accept().  Records nobody
 * needs any more are dropped by addr_sweep(), which master.c runs on a
 * timer, so the table is bounded by the number of connections plus the
 * networks that failed recently.
 */
#include "daemon/master/master.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 4096
/* The first failure is answered after this, each next one after twice
 * the previous delay, up to auth_delay_max_ms. */
#define FIRST_DELAY_MS 250

static struct addr_rec *buckets[NBUCKETS];

static size_t
bucket_of(const char *addr)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *addr; addr++)
		h = (h ^ (unsigned char)*addr) * 16777619u;
	return h % NBUCKETS;
}

/* Clears the bits of addr (len bytes) past the first bits. */
static void
mask_bits(uint8_t *addr, size_t len, unsigned bits)
{
	for (size_t i = 0; i < len; i++) {
		if (bits >= 8)
			bits -= 8;
		else {
			addr[i] &= (uint8_t)(0xff00u >> bits);
			bits = 0;
		}
	}
}

void
addr_key(const struct sockaddr *sa, char *out, size_t outlen)
{
	char txt[INET6_ADDRSTRLEN];
	uint8_t b[16];
	unsigned bits;
	int af;

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			af = AF_INET;
			memcpy(b, &s6->sin6_addr.s6_addr[12], 4);
			bits = master.cfg.auth_throttle_ipv4_prefix;
		} else {
			af = AF_INET6;
			memcpy(b, &s6->sin6_addr, 16);
			bits = master.cfg.auth_throttle_ipv6_prefix;
		}
	} else if (sa->sa_family == AF_INET) {
		af = AF_INET;
		memcpy(b, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		bits = master.cfg.auth_throttle_ipv4_prefix;
	} else {
		net_addr_str(sa, out, outlen);
		return;
	}
	unsigned full = af == AF_INET ? 32 : 128;
	if (bits == 0 || bits > full)
		bits = full;	/* a config the parser never lets through */
	mask_bits(b, full / 8, bits);
	if (inet_ntop(af, b, txt, sizeof(txt)) == NULL)
		mk_strlcpy(txt, "?", sizeof(txt));
	if (bits == full)
		mk_strlcpy(out, txt, outlen);
	else
		snprintf(out, outlen, "%s/%u", txt, bits);
}

struct addr_rec *
addr_get(const char *addr)
{
	size_t b = bucket_of(addr);
	struct addr_rec *r;

	for (r = buckets[b]; r; r = r->next)
		if (strcmp(r->addr, addr) == 0)
			return r;
	r = xcalloc(1, sizeof(*r));
	mk_strlcpy(r->addr, addr, sizeof(r->addr));
	r->next = buckets[b];
	buckets[b] = r;
	return r;
}

void
addr_conn_done(struct addr_rec *r)
{
	if (r->conns > 0)
		r->conns--;
}

static void
expire_window(struct addr_rec *r, uint64_t now)
{
	if (r->fails > 0 &&
	    now - r->window_start >= (uint64_t)master.cfg.auth_fail_window * 1000)
		r->fails = 0;
}

bool
addr_throttled(struct addr_rec *r)
{
	expire_window(r, now_ms());
	return (uint64_t)r->fails + r->pending >= master.cfg.auth_fail_limit;
}

bool
addr_pending_full(const struct addr_rec *r)
{
	return r->pending >= master.cfg.auth_max_pending_per_addr;
}

void
addr_begin(struct addr_rec *r)
{
	r->pending++;
}

unsigned
addr_end(struct addr_rec *r, bool failed)
{
	if (r->pending > 0)
		r->pending--;
	return failed ? addr_fail(r) : 0;
}

unsigned
addr_fail(struct addr_rec *r)
{
	uint64_t now = now_ms(), delay = FIRST_DELAY_MS;

	expire_window(r, now);
	if (r->fails == 0)
		r->window_start = now;
	if (r->fails < UINT32_MAX)
		r->fails++;
	for (unsigned i = 1; i < r->fails && delay < master.cfg.auth_delay_max_ms; i++)
		delay *= 2;
	return (unsigned)MK_MIN(delay, (uint64_t)master.cfg.auth_delay_max_ms);
}

void
addr_sweep(void)
{
	uint64_t now = now_ms();

	for (size_t b = 0; b < NBUCKETS; b++) {
		struct addr_rec **pp = &buckets[b];
		while (*pp) {
			struct addr_rec *r = *pp;
			expire_window(r, now);
			if (r->conns == 0 && r->fails == 0 && r->pending == 0) {
				*pp = r->next;
				free(r);
			} else
				pp = &r->next;
		}
	}
}

void
addr_clear(void)
{
	for (size_t b = 0; b < NBUCKETS; b++) {
		while (buckets[b]) {
			struct addr_rec *r = buckets[b];
			buckets[b] = r->next;
			free(r);
		}
	}
}
