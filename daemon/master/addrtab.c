/*
 * addrtab.c - what the master remembers per client address.
 *
 * One record per address that has a connection open or failed logins in
 * the current window: the connection count (max_connections_per_ip) and
 * the failures (the growing delay and the throttle of auth_fail_limit
 * per auth_fail_window).  Addresses always come from the master's own
 * accept().  Records nobody needs any more are dropped by addr_sweep(),
 * which master.c runs on a timer, so the table is bounded by the number
 * of connections plus the addresses that failed recently.
 */
#include "daemon/master/master.h"
#include "common/util.h"

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
	return r->fails >= master.cfg.auth_fail_limit;
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
			if (r->conns == 0 && r->fails == 0) {
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
