/*
 * fts_idle.c - the mailbox process keeps its user's full-text index
 * complete while nothing else is asked of it.
 *
 * New messages are indexed as they are stored; what is left pending
 * (a store just migrated to schema 5, or built anew, a copy of a
 * message not yet indexed) is indexed here, in batches of at most
 * FTS_BATCH messages or FTS_BUDGET_MS, each its own transaction, one per
 * turn of the event loop: a command that arrives meanwhile waits for
 * one batch at most.  When another process holds the store's write lock
 * the batch is not waited for but tried again later.  SEARCH is exact
 * meanwhile (it scans what is pending).  With fts_at_append = no every
 * new message is left pending, and indexing waits until no command has
 * added one for FTS_QUIET_MS: a bulk import runs at full speed and is
 * indexed after.  Called by mailbox.c at start and after each command
 * that adds messages (APPEND, COPY, MOVE, delivery); nothing here runs
 * with fts = no.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"

#define FTS_BATCH      256
#define FTS_BUDGET_MS  20
#define FTS_NEXT_MS    5	/* between batches: the loop serves others */
#define FTS_BUSY_MS    1000	/* the store was locked by someone else */
#define FTS_START_MS   500
#define FTS_QUIET_MS   1000	/* fts_at_append = no: idle this long */

static void
fts_turn(struct ev_timer *t)
{
	struct user *u = t->arg;
	unsigned done;
	uint64_t left;
	int rc;

	if (u->store == NULL)
		return;
	rc = store_fts_index(u->store, FTS_BATCH, FTS_BUDGET_MS, true, &done,
	    &left);
	if (rc == MK_BUSY) {
		ev_timer_start(u->loop, &u->fts_timer, FTS_BUSY_MS);
		return;
	}
	if (rc != 0) {
		/* Pending messages are still searched by reading them. */
		log_warnx("user %s: full-text indexing: %s", u->name,
		    store_errmsg(u->store));
		return;
	}
	if (left > 0)
		ev_timer_start(u->loop, &u->fts_timer, FTS_NEXT_MS);
	else {
		if (done > 0)
			log_debug("user %s: full-text index complete",
			    u->name);
		user_rest_soon(u);
	}
}

void
fts_idle_kick(struct user *u)
{
	unsigned wait = u->cfg->fts_at_append ? FTS_NEXT_MS : FTS_QUIET_MS;
	uint64_t left = 0;

	if (u->store == NULL || !u->cfg->fts)
		return;
	if (ev_timer_armed(&u->fts_timer)) {
		/* not while messages keep coming in */
		if (!u->cfg->fts_at_append)
			ev_timer_start(u->loop, &u->fts_timer, wait);
		return;
	}
	if (store_fts_pending(u->store, &left) == 0 && left > 0)
		ev_timer_start(u->loop, &u->fts_timer, wait);
}

void
fts_idle_start(struct user *u)
{
	uint64_t left = 0;

	ev_timer_init(&u->fts_timer, fts_turn, u);
	if (u->store == NULL)
		return;
	store_fts_write(u->store, u->cfg->fts && u->cfg->fts_at_append);
	if (!u->cfg->fts || store_fts_pending(u->store, &left) != 0 ||
	    left == 0)
		return;
	log_info("user %s: %llu messages to add to the full-text index",
	    u->name, (unsigned long long)left);
	ev_timer_start(u->loop, &u->fts_timer, FTS_START_MS);
}
