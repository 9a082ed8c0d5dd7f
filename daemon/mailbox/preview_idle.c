/*
 * preview_idle.c - the mailbox process computes the PREVIEW text of
 * messages stored before schema 11 while nothing else is asked of it.
 *
 * New messages get their preview at APPEND (store_msg.c), so this only
 * ever has work after a store was migrated: batches of PREVIEW_BATCH
 * bodies, newest first (what clients show first), one transaction each,
 * one batch per turn of the event loop.  A store locked by another
 * process is tried again later.  Meanwhile FETCH PREVIEW computes what
 * it is asked for and PREVIEW (LAZY) answers NIL for what is not done
 * yet (RFC 8970 4).  Started by mailbox.c once the store is open.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"

#include <stdint.h>

#define PREVIEW_BATCH    32
#define PREVIEW_NEXT_MS  5	/* between batches: the loop serves others */
#define PREVIEW_BUSY_MS  1000
#define PREVIEW_START_MS 1000

static void
preview_turn(struct ev_timer *t)
{
	struct user *u = t->arg;
	unsigned done;
	int rc;

	if (u->store == NULL)
		return;
	rc = store_preview_backfill(u->store, PREVIEW_BATCH,
	    &u->preview_cursor, &done);
	if (rc == MK_BUSY) {
		ev_timer_start(u->loop, &u->preview_timer, PREVIEW_BUSY_MS);
		return;
	}
	if (rc != 0) {
		/* FETCH PREVIEW still computes each one it is asked for. */
		log_warnx("user %s: previews of older messages: %s", u->name,
		    store_errmsg(u->store));
		return;
	}
	u->preview_done += done;
	if (done > 0)
		ev_timer_start(u->loop, &u->preview_timer, PREVIEW_NEXT_MS);
	else {
		if (u->preview_done > 0)
			log_info("user %s: previews of %llu older messages "
			    "computed", u->name,
			    (unsigned long long)u->preview_done);
		user_rest_soon(u);
	}
}

void
preview_idle_start(struct user *u)
{
	ev_timer_init(&u->preview_timer, preview_turn, u);
	u->preview_cursor = INT64_MAX;
	u->preview_done = 0;
	if (u->store != NULL)
		ev_timer_start(u->loop, &u->preview_timer, PREVIEW_START_MS);
}
