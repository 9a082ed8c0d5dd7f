/*
 * accttab.c - what the master remembers per account name: the failures
 * against it, and the queue that slows guessing at it.
 *
 * The per-address throttle (addrtab.c) does not stop a guesser who owns
 * many networks and spreads the guesses at one account over them.  So
 * failures are also counted per account name (canonical, whether or not
 * the user exists, so the throttle does not tell which names are real).
 * Below auth_account_fail_limit failures within auth_account_fail_window
 * nothing changes.  From there on the account is "slow":
 *   - its attempts are serialized: one is verified at a time, the others
 *     wait in a first-come queue here (their login processes see a login
 *     that takes a while);
 *   - every further failure is answered after a delay that doubles per
 *     failure, from 250 ms up to auth_account_delay_max_ms, and the next
 *     attempt starts only once that delay has passed, so the guessing
 *     rate against the account is bounded by one per delay, however
 *     many addresses take part;
 *   - a correct password still succeeds: nothing is locked.  A network
 *     (addr_key()) from which the account logged in successfully within
 *     ACCT_GOOD_TTL_S skips the queue, so the real user is not made to
 *     wait behind the guessers.
 * The table is bounded: names of real users are few (the directory's),
 * names that are not users get records only while fewer than
 * ACCT_UNKNOWN_MAX of them are kept; past that such names go unthrottled
 * (logged), which costs an attacker nothing it could use against a real
 * account.
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

#define NBUCKETS          1024
#define FIRST_DELAY_MS    250
#define NGOOD             4
#define ACCT_GOOD_TTL_S   (30 * 86400)
#define ACCT_UNKNOWN_MAX  16384

struct acct_rec {
	char             name[MK_USER_MAX];
	bool             known;
	unsigned         fails;		/* in the current window */
	uint64_t         window_start;
	unsigned         refs;		/* attempts holding this record */
	bool             busy;		/* a serialized attempt is running */
	uint64_t         free_at;	/* the next one may start then */
	struct acct_waiter *whead, *wtail;
	size_t           nwait;
	struct ev_timer  wake;
	struct {
		char     key[MK_ADDRSTRLEN];
		uint64_t when;		/* monotonic ms of the success */
	} good[NGOOD];
	struct acct_rec *next;
};

static struct acct_rec *buckets[NBUCKETS];
static size_t nunknown;
static uint64_t unknown_full_logged;

static size_t
bucket_of(const char *name)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h % NBUCKETS;
}

static void wake_cb(struct ev_timer *t);

struct acct_rec *
acct_get(const char *name, bool known)
{
	size_t b = bucket_of(name);
	struct acct_rec *a;

	for (a = buckets[b]; a; a = a->next)
		if (strcmp(a->name, name) == 0) {
			if (known && !a->known) {
				a->known = true;
				nunknown--;
			}
			return a;
		}
	if (!known && nunknown >= ACCT_UNKNOWN_MAX) {
		uint64_t now = now_ms();
		if (now - unknown_full_logged >= 60000) {
			unknown_full_logged = now;
			log_warnx("%d names that are not users have failures: "
			    "not throttling further ones", ACCT_UNKNOWN_MAX);
		}
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	mk_strlcpy(a->name, name, sizeof(a->name));
	a->known = known;
	if (!known)
		nunknown++;
	ev_timer_init(&a->wake, wake_cb, a);
	a->next = buckets[b];
	buckets[b] = a;
	return a;
}

static void
expire_window(struct acct_rec *a, uint64_t now)
{
	if (a->fails > 0 && now - a->window_start >=
	    (uint64_t)master.cfg.auth_account_fail_window * 1000)
		a->fails = 0;
}

bool
acct_slow(struct acct_rec *a)
{
	expire_window(a, now_ms());
	return a->fails >= master.cfg.auth_account_fail_limit;
}

unsigned
acct_fails(const struct acct_rec *a)
{
	return a->fails;
}

size_t
acct_waiting(const struct acct_rec *a)
{
	return a->nwait;
}

static bool
is_good(const struct acct_rec *a, const char *key, uint64_t now)
{
	for (size_t i = 0; i < NGOOD; i++)
		if (a->good[i].when != 0 &&
		    now - a->good[i].when < (uint64_t)ACCT_GOOD_TTL_S * 1000 &&
		    strcmp(a->good[i].key, key) == 0)
			return true;
	return false;
}

/* Remembers key as a network the account logged in from (the oldest of
 * NGOOD makes room). */
static void
remember_good(struct acct_rec *a, const char *key, uint64_t now)
{
	size_t slot = 0;

	for (size_t i = 0; i < NGOOD; i++) {
		if (a->good[i].when != 0 && strcmp(a->good[i].key, key) == 0) {
			slot = i;
			break;
		}
		if (a->good[i].when < a->good[slot].when)
			slot = i;
	}
	mk_strlcpy(a->good[slot].key, key, sizeof(a->good[slot].key));
	a->good[slot].when = now;
}

/* Arms the wake-up for the first waiter, if the account is free. */
static void
schedule(struct acct_rec *a)
{
	uint64_t now = now_ms();

	if (a->busy || a->whead == NULL)
		return;
	ev_timer_start(master.loop, &a->wake,
	    a->free_at > now ? a->free_at - now : 0);
}

static void
wake_cb(struct ev_timer *t)
{
	struct acct_rec *a = t->arg;
	struct acct_waiter *w = a->whead;

	if (a->busy || w == NULL)
		return;
	if (now_ms() < a->free_at) {
		schedule(a);
		return;
	}
	a->whead = w->next;
	if (a->whead)
		a->whead->prev = NULL;
	else
		a->wtail = NULL;
	a->nwait--;
	w->next = w->prev = NULL;
	w->queued = false;
	a->busy = true;
	/* May end at once (e.g. the hash queue is full) and call
	 * acct_done(), which reschedules through the timer, not by
	 * recursion. */
	w->start(w);
}

enum acct_gate
acct_enter(struct acct_rec *a, const char *key, struct acct_waiter *w)
{
	uint64_t now = now_ms();

	a->refs++;
	if (!acct_slow(a) || is_good(a, key, now))
		return ACCT_GO;
	if (!a->busy && a->whead == NULL && now >= a->free_at) {
		a->busy = true;
		return ACCT_GO_SERIAL;
	}
	w->prev = a->wtail;
	w->next = NULL;
	if (a->wtail)
		a->wtail->next = w;
	else
		a->whead = w;
	a->wtail = w;
	a->nwait++;
	w->queued = true;
	schedule(a);
	return ACCT_WAIT;
}

void
acct_cancel(struct acct_rec *a, struct acct_waiter *w)
{
	if (w->queued) {
		if (w->prev)
			w->prev->next = w->next;
		else
			a->whead = w->next;
		if (w->next)
			w->next->prev = w->prev;
		else
			a->wtail = w->prev;
		a->nwait--;
		w->queued = false;
		w->next = w->prev = NULL;
	}
	if (a->refs > 0)
		a->refs--;
	if (a->whead == NULL)
		ev_timer_stop(master.loop, &a->wake);
}

unsigned
acct_done(struct acct_rec *a, bool serial, enum acct_outcome how,
    const char *key)
{
	uint64_t now = now_ms(), delay = 0;

	if (a->refs > 0)
		a->refs--;
	expire_window(a, now);
	if (how == ACCT_FAILED) {
		if (a->fails == 0)
			a->window_start = now;
		if (a->fails < UINT32_MAX)
			a->fails++;
		if (a->fails > master.cfg.auth_account_fail_limit) {
			delay = FIRST_DELAY_MS;
			for (unsigned i = master.cfg.auth_account_fail_limit + 1;
			    i < a->fails &&
			    delay < master.cfg.auth_account_delay_max_ms; i++)
				delay *= 2;
			delay = MK_MIN(delay,
			    (uint64_t)master.cfg.auth_account_delay_max_ms);
		}
	} else if (how == ACCT_SUCCEEDED)
		remember_good(a, key, now);
	if (serial) {
		a->busy = false;
		a->free_at = now + delay;
		schedule(a);
	}
	return (unsigned)delay;
}

bool
acct_idle(void)
{
	for (size_t b = 0; b < NBUCKETS; b++)
		for (struct acct_rec *a = buckets[b]; a; a = a->next)
			if (a->refs != 0 || a->busy || a->nwait != 0)
				return false;
	return true;
}

static bool
unneeded(struct acct_rec *a, uint64_t now)
{
	expire_window(a, now);
	if (a->refs != 0 || a->busy || a->nwait != 0 || a->fails != 0)
		return false;
	for (size_t i = 0; i < NGOOD; i++)
		if (a->good[i].when != 0 &&
		    now - a->good[i].when < (uint64_t)ACCT_GOOD_TTL_S * 1000)
			return false;
	return true;
}

static void
drop(struct acct_rec **pp)
{
	struct acct_rec *a = *pp;

	*pp = a->next;
	ev_timer_stop(master.loop, &a->wake);
	if (!a->known)
		nunknown--;
	free(a);
}

void
acct_sweep(void)
{
	uint64_t now = now_ms();

	for (size_t b = 0; b < NBUCKETS; b++) {
		struct acct_rec **pp = &buckets[b];
		while (*pp) {
			if (unneeded(*pp, now))
				drop(pp);
			else
				pp = &(*pp)->next;
		}
	}
}

void
acct_clear(void)
{
	for (size_t b = 0; b < NBUCKETS; b++)
		while (buckets[b])
			drop(&buckets[b]);
	nunknown = 0;
}
