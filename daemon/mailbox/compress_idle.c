/*
 * compress_idle.c - the mailbox process rewrites its user's bodies kept
 * as one blob (stored before compression existed, or while it was off)
 * into compressed chunks while nothing else is asked of it.
 *
 * New bodies are stored compressed at APPEND (store_body.c), so this only
 * has work in a store written before schema 12 or with compress_bodies =
 * no: batches of at most STORE_RECOMPRESS_BATCH bodies and _BUDGET bytes
 * of text (a bigger body is one batch alone) and 4096 body ids, oldest
 * first, one transaction each, one batch per turn of the event loop, so
 * a command that arrives waits for one batch at most.  A crash loses at
 * most the batch in progress, which leaves the old blobs as they were.
 * Not while one of the process's sessions is reading a body (a FETCH
 * streamed to a slow client), nor while another process holds the
 * store's write lock: tried again later.  What clients read, RFC822.SIZE
 * and the quota stay the same.  Started by mailbox.c once the store is
 * open, only with compress_bodies = yes.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"

#define COMPRESS_NEXT_MS  5	/* between batches: the loop serves others */
#define COMPRESS_BUSY_MS  1000
#define COMPRESS_START_MS 1500

static void
compress_turn(struct ev_timer *t)
{
	struct user *u = t->arg;
	unsigned done;
	bool more;
	int rc;

	if (u->store == NULL)
		return;
	rc = store_body_recompress(u->store, STORE_RECOMPRESS_BATCH,
	    STORE_RECOMPRESS_BUDGET, &u->compress_cursor, &done, &more);
	if (rc == MK_BUSY) {
		ev_timer_start(u->loop, &u->compress_timer, COMPRESS_BUSY_MS);
		return;
	}
	if (rc != 0) {
		/* The old bodies still read as they are. */
		log_warnx("user %s: compressing older bodies: %s", u->name,
		    store_errmsg(u->store));
		return;
	}
	u->compress_done += done;
	if (more) {
		ev_timer_start(u->loop, &u->compress_timer, COMPRESS_NEXT_MS);
		return;
	}
	if (u->compress_done > 0)
		log_info("user %s: %llu older bodies compressed", u->name,
		    (unsigned long long)u->compress_done);
	user_rest_soon(u);
}

void
compress_idle_start(struct user *u)
{
	ev_timer_init(&u->compress_timer, compress_turn, u);
	u->compress_cursor = 0;
	u->compress_done = 0;
	if (u->store != NULL && u->cfg->compress_bodies)
		ev_timer_start(u->loop, &u->compress_timer, COMPRESS_START_MS);
}
