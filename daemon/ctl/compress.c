/*
 * compress.c - mailkeepctl compress NAME|--all: rewrite a user's bodies
 * kept as one blob (stored before compression existed, or while it was
 * off) into compressed chunks now, rather than waiting for the user's
 * mailbox process to do it while it idles (daemon/mailbox/compress_idle.c).
 *
 * The same store code and the same rules as the idle job:
 * store_body_recompress() in batches of STORE_RECOMPRESS_BATCH bodies
 * and STORE_RECOMPRESS_BUDGET bytes of text, one transaction each, sizes
 * and quota unchanged.  It runs in a worker as the user's uid (as
 * fts-rebuild and backup do: mailkeepctl.c, "working in a user's
 * directory") and goes through SQLite's locking: a batch never waits for
 * the write lock (another process holding it, the user's mailbox process
 * appending, is MK_BUSY, and the batch is tried again a moment later),
 * so the user's sessions go on meanwhile; a session reading a body that
 * is rewritten under it reads on in the new layout (store_body.c,
 * blob_attach()).
 */
#include "daemon/ctl/ctl.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define BUSY_WAIT_MS 200	/* between tries while the store is busy */
#define BUSY_GIVE_UP 300	/* tries in a row: a minute */

static void
pause_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
	    .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Every batch until none is left; *done counts the bodies rewritten. */
static int
compress_batches(struct store *s, const char *name, uint64_t total,
    uint64_t *done)
{
	bool tty = isatty(STDOUT_FILENO), more = true;
	unsigned n, last = 0, busy = 0;
	int64_t cursor = 0;
	int rc = 0;

	progress_line(name, 0, total, "bodies", tty, &last);
	while (more) {
		rc = store_body_recompress(s, STORE_RECOMPRESS_BATCH,
		    STORE_RECOMPRESS_BUDGET, &cursor, &n, &more);
		if (rc == MK_BUSY && ++busy < BUSY_GIVE_UP) {
			pause_ms(BUSY_WAIT_MS);
			continue;
		}
		if (rc != 0)
			break;
		busy = 0;
		*done += n;
		/* The user's process may rewrite some meanwhile too. */
		progress_line(name, MK_MIN(*done, total), total, "bodies", tty,
		    &last);
	}
	if (tty)
		printf("\n");
	if (rc == MK_BUSY)
		errmsg("%s: the store stayed busy for %u s; run it again "
		    "(what is done stays done)", name,
		    BUSY_WAIT_MS * BUSY_GIVE_UP / 1000);
	else if (rc != 0)
		errmsg("%s: %s (what is done stays done)", name,
		    store_errmsg(s));
	return rc;
}

/* In the worker, as the user's uid in users/<name>. */
int
compress_work(struct ctx *x, const struct work_req *q)
{
	uint64_t total, bytes, done = 0, left, left_bytes;
	struct store *s;
	int rc = user_store_open(x, q->name, false, &s);

	if (rc != 0)
		return rc < 0 ? EX_FAIL : W_NOSTORE;
	if (store_body_recompress_pending(s, &total, &bytes) != 0) {
		errmsg("%s: %s", q->name, store_errmsg(s));
		store_close(s);
		return EX_FAIL;
	}
	printf("%s: compressing %llu older bodies (%llu KiB of text)\n",
	    q->name, (unsigned long long)total,
	    (unsigned long long)(bytes + 1023) / 1024);
	rc = compress_batches(s, q->name, total, &done);
	if (rc == 0)
		rc = store_body_recompress_pending(s, &left, &left_bytes);
	if (rc != 0) {
		store_close(s);
		return EX_FAIL;
	}
	store_close(s);
	printf("%s: %llu bodies compressed", q->name,
	    (unsigned long long)done);
	/* A blob that does not match its size is left as it reads (and
	 * said by the store); one stored meanwhile waits for a next run. */
	if (left > 0)
		printf(", %llu left as they are", (unsigned long long)left);
	printf("\n");
	return EX_OK_;
}

int
cmd_compress(struct ctx *x)
{
	if (!x->cfg.compress_bodies) {
		errmsg("compress_bodies = no in %s: bodies are kept as sent; "
		    "turn it on first (doc/configuration.md)", x->conf);
		return EX_FAIL;
	}
	return work_user_or_all(x, "compress", WORK_COMPRESS);
}
