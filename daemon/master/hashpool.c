/*
 * hashpool.c - the master's pool of hash workers (auth/hashworker.c).
 *
 * authz.c submits (stored hash, password) pairs; each goes to a worker,
 * or waits in a bounded queue.  A worker holds at most WORKER_DEPTH
 * requests, answered in the order they were sent, so its answer must
 * carry the id of the oldest one it holds: any other message, or a
 * malformed one, gets the worker killed.  Workers that die are replaced
 * (after a pause if they die young, so a crash loop cannot spin the
 * master); requests they held are answered "no answer".  Passwords are
 * wiped as soon as they have been sent.
 *
 * Why two per worker: with one, a worker that has answered sleeps until
 * the master has read the answer and sent the next request, and the
 * master may be busy then (a spawner round trip for a new login process,
 * another login's hand-off) or not even running on a 2-core machine
 * whose cores the workers hold.  The second request waits in the
 * worker's socket, so the worker starts it the moment it has answered.
 * It goes to the worker whose current hash started first, the one most
 * likely to finish first, and only after every worker has one: a request
 * never waits behind another while a worker sleeps, as far as hashes
 * take equally long.
 *
 * The accounting must return to idle whatever happens: a cancelled
 * request leaves the queue at once (a login process that timed out
 * while queued must not keep a place, and the queue's length is what
 * the overload estimate reads), and a cancelled request a worker holds
 * frees that worker when its answer comes.  dispatch() fills every idle
 * worker while anything is queued.  (It used to give each idle worker
 * one look at the queue head and move on when that was a cancelled
 * request: after a burst of timed-out logins the workers slept with
 * thousands of dead requests queued before every new one.)
 *
 * The pool keeps a moving average of the time a worker takes per
 * request, so authz.c can tell how long a newly queued request would
 * wait (hashpool_expected_ms()) and refuse what cannot be served before
 * its login process gives up.
 */
#include "daemon/master/master.h"
#include "auth/hashworker.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESTART_PAUSE_MS 1000
/* Requests a worker holds at once: the one it computes, and the next. */
#define WORKER_DEPTH     2
/* Until a worker has answered, assume this much per request. */
#define INITIAL_HASH_MS  100

struct hreq {
	uint64_t      id;
	char         *hash;
	uint8_t      *secret;
	size_t        nsecret;
	hash_done_cb  cb;
	void         *arg;
	bool          cancelled;
	uint64_t      deadline;		/* 0, or when nobody waits any more */
	struct hreq  *next;
};

struct hworker {
	pid_t            pid;
	struct ipc_chan *chan;
	struct hreq     *held[WORKER_DEPTH];	/* [0]: the one it computes */
	unsigned         nheld;
	uint64_t         head_since;	/* when held[0]'s hash began */
	uint64_t         started;
	bool             reaped;
	struct hworker  *next;
};

static struct {
	struct hworker  *workers;
	unsigned         want, alive;
	struct hreq     *qhead, *qtail;
	size_t           qlen;
	uint64_t         next_id;
	struct ev_timer  restart;
	uint64_t         last_start;
	unsigned         busy;		/* workers holding a request */
	unsigned         held;		/* requests they hold, in all */
	uint64_t         avg_ms;	/* moving average of a request's time */
} pool;

static void dispatch(bool expire);
static void worker_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg);

/* The password and the stored hash go as soon as the request is done
 * with, answered or cancelled. */
static void
hreq_wipe(struct hreq *q)
{
	if (q->hash != NULL)
		explicit_bzero(q->hash, strlen(q->hash));
	explicit_bzero(q->secret, q->nsecret ? q->nsecret : 1);
}

static void
hreq_free(struct hreq *q)
{
	hreq_wipe(q);
	free(q->hash);
	free(q->secret);
	free(q);
}

static void
hreq_done(struct hreq *q, int result)
{
	if (!q->cancelled)
		q->cb(q->arg, result);
	hreq_free(q);
}

static void
spawn_worker(void)
{
	int chan;
	pid_t pid = spawn_hash(&chan);

	if (pid == -1)
		return;
	hashpool_attach(pid, chan);
	log_debug("hash worker %d started", (int)pid);
}

void
hashpool_attach(pid_t pid, int chan_fd)
{
	struct hworker *w = xcalloc(1, sizeof(*w));

	w->pid = pid;
	w->started = now_ms();
	w->chan = ipc_chan_new(master.loop, chan_fd, worker_msg, w);
	w->next = pool.workers;
	pool.workers = w;
	pool.alive++;
	pool.last_start = w->started;
	child_add(pid, CHILD_HASH, w);
	dispatch(true);
}

/* Brings the pool up to its size.  Replacements for workers that died
 * are started at most once per RESTART_PAUSE_MS, so a worker that dies
 * on start cannot make the master fork in a tight loop. */
static void
fill_pool(bool paced)
{
	while (!master.stopping && pool.alive < pool.want) {
		if (paced && now_ms() - pool.last_start < RESTART_PAUSE_MS) {
			if (!ev_timer_armed(&pool.restart))
				ev_timer_start(master.loop, &pool.restart,
				    RESTART_PAUSE_MS);
			break;
		}
		unsigned before = pool.alive;
		spawn_worker();
		if (pool.alive == before)
			break;
	}
	dispatch(true);
}

static void
restart_cb(struct ev_timer *t)
{
	(void)t;
	fill_pool(true);
}

void
hashpool_start(unsigned n)
{
	ev_timer_init(&pool.restart, restart_cb, NULL);
	if (pool.avg_ms == 0)
		pool.avg_ms = INITIAL_HASH_MS;
	pool.want = n;
	fill_pool(false);
}

/* Takes the oldest request a worker holds off it. */
static struct hreq *
worker_pop(struct hworker *w)
{
	struct hreq *q = w->held[0];

	memmove(&w->held[0], &w->held[1],
	    (WORKER_DEPTH - 1) * sizeof(w->held[0]));
	w->held[WORKER_DEPTH - 1] = NULL;
	w->nheld--;
	pool.held--;
	if (w->nheld == 0)
		pool.busy--;
	return q;
}

/* The worker's channel is closed; the worker itself is killed and reaped
 * separately. */
static void
worker_close(struct hworker *w)
{
	if (w->chan == NULL)
		return;
	ev_defer(master.loop, ipc_chan_free_cb, w->chan);
	w->chan = NULL;
	pool.alive--;
	while (w->nheld > 0)
		hreq_done(worker_pop(w), -1);
}

static void
worker_free_if_done(struct hworker *w)
{
	struct hworker **pp;

	if (w->chan != NULL || !w->reaped)
		return;
	for (pp = &pool.workers; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	/* Deferred: an event of the current batch may still name it. */
	ev_defer(master.loop, free, w);
}

void
hashpool_resize(unsigned n)
{
	pool.want = n;
	/* Retire idle workers beyond the new size by closing their channel:
	 * they exit on EOF. */
	for (struct hworker *w = pool.workers; w && pool.alive > pool.want;
	    w = w->next)
		if (w->chan != NULL && w->nheld == 0)
			worker_close(w);
	fill_pool(false);
}

static void
send_request(struct hworker *w, struct hreq *q)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_HASH_CHECK);
	ipc_put_u64(&m, q->id);
	ipc_put_str(&m, q->hash);
	ipc_put_bytes(&m, q->secret, q->nsecret);
	/* From here on the password and the hash live only in the message,
	 * which ipc_msg_free() wipes once it has been sent. */
	hreq_wipe(q);
	if (w->nheld == 0) {
		pool.busy++;
		w->head_since = now_ms();
	}
	w->held[w->nheld++] = q;
	pool.held++;
	ipc_chan_send(w->chan, &m);
}

/* The first live request of the queue, or NULL; cancelled ones met on
 * the way are freed (hashpool_cancel() unlinks them already, so this is
 * only a second line). */
static struct hreq *
queue_pop(void)
{
	while (pool.qhead) {
		struct hreq *q = pool.qhead;
		pool.qhead = q->next;
		if (pool.qhead == NULL)
			pool.qtail = NULL;
		pool.qlen--;
		q->next = NULL;
		if (!q->cancelled)
			return q;
		hreq_free(q);
	}
	return NULL;
}

/* The worker the next request should go to, or NULL if all are full:
 * one that holds fewest, and among busy ones the one whose hash started
 * first (so, for hashes of equal cost, the first to be free). */
static struct hworker *
next_worker(void)
{
	struct hworker *best = NULL;

	for (struct hworker *w = pool.workers; w; w = w->next) {
		if (w->chan == NULL || w->nheld >= WORKER_DEPTH)
			continue;
		if (best == NULL || w->nheld < best->nheld ||
		    (w->nheld == best->nheld && w->nheld > 0 &&
		    w->head_since < best->head_since))
			best = w;
	}
	return best;
}

/* When a request given to w now would most likely be answered. */
static uint64_t
expected_answer(const struct hworker *w, uint64_t now)
{
	uint64_t start = w->head_since + pool.avg_ms * w->nheld;

	return (w->nheld == 0 || start < now ? now : start) + pool.avg_ms;
}

/* A login answered UNAVAILABLE because its hash would come too late is
 * load shed: said, at most once a second, like authz.c's refusals. */
static void
shed_said(void)
{
	static uint64_t last_log;
	static unsigned long shed;
	uint64_t now = now_ms();

	shed++;
	if (now - last_log < 1000)
		return;
	log_warnx("overloaded: refusing logins (%lu so far in the hash "
	    "queue): %zu queued for %u hash workers at ~%llu ms each, their "
	    "answers would come past the login timeout", shed, pool.qlen,
	    pool.alive, (unsigned long long)pool.avg_ms);
	last_log = now;
}

/* expire: answer requests past their deadline (never from
 * hashpool_submit(), whose caller is not ready for its callback yet). */
static void
dispatch(bool expire)
{
	struct hworker *w;

	while (pool.qhead && (w = next_worker()) != NULL) {
		unsigned nheld = w->nheld;
		struct hreq *q;
		/* A request whose answer would come after its deadline is
		 * answered "no answer" now: its login is told at once instead
		 * of timing out, and the worker serves one that can still
		 * make it.  (The callback may submit, which dispatches.) */
		while ((q = queue_pop()) != NULL && expire && q->deadline != 0 &&
		    expected_answer(w, now_ms()) > q->deadline) {
			shed_said();
			hreq_done(q, -1);
		}
		if (q == NULL)
			break;
		if (w->chan == NULL || w->nheld != nheld) {
			/* the callback used this worker: put q back first and
			 * choose again */
			q->next = pool.qhead;
			pool.qhead = q;
			if (pool.qtail == NULL)
				pool.qtail = q;
			pool.qlen++;
			continue;
		}
		send_request(w, q);
	}
}

uint64_t
hashpool_submit(const char *hash, const uint8_t *secret, size_t nsecret,
    uint64_t deadline, hash_done_cb cb, void *arg)
{
	struct hreq *q;

	if (deadline != 0 && now_ms() + pool.avg_ms > deadline) {
		shed_said();
		return 0;
	}
	if (pool.qlen >= master.cfg.auth_max_pending) {
		log_warnx("hash queue full (%u requests): refusing",
		    master.cfg.auth_max_pending);
		return 0;
	}
	q = xcalloc(1, sizeof(*q));
	q->id = ++pool.next_id;	/* never 0: 0 means "refused" */
	q->hash = xstrdup(hash);
	q->secret = xmalloc(nsecret ? nsecret : 1);
	memcpy(q->secret, secret, nsecret);
	q->nsecret = nsecret;
	q->cb = cb;
	q->arg = arg;
	q->deadline = deadline;
	if (pool.qtail)
		pool.qtail->next = q;
	else
		pool.qhead = q;
	pool.qtail = q;
	pool.qlen++;
	dispatch(false);
	return q->id;
}

void
hashpool_cancel(uint64_t id)
{
	struct hreq **pp, *prev = NULL;

	/* One a worker holds stays until its answer frees its place. */
	for (struct hworker *w = pool.workers; w; w = w->next)
		for (unsigned i = 0; i < w->nheld; i++)
			if (w->held[i]->id == id) {
				w->held[i]->cancelled = true;
				return;
			}
	for (pp = &pool.qhead; *pp; prev = *pp, pp = &(*pp)->next) {
		struct hreq *q = *pp;
		if (q->id != id)
			continue;
		*pp = q->next;
		if (pool.qtail == q)
			pool.qtail = prev;
		pool.qlen--;
		hreq_free(q);
		return;
	}
}

uint64_t
hashpool_expected_ms(void)
{
	unsigned alive = pool.alive ? pool.alive : 1;
	uint64_t avg = pool.avg_ms ? pool.avg_ms : INITIAL_HASH_MS;
	uint64_t now = now_ms();

	/* The average lags when the machine slows down all at once (a
	 * burst): a request a worker has held for longer says more. */
	for (struct hworker *w = pool.workers; w; w = w->next)
		if (w->nheld > 0 && now - w->head_since > avg)
			avg = now - w->head_since;

	/* Everything ahead of it, spread over the workers, then its own. */
	return ((uint64_t)pool.qlen + pool.held) * avg / alive + avg;
}

void
hashpool_stats(struct hashpool_stats *st)
{
	st->alive = pool.alive;
	st->busy = pool.busy;
	st->queued = pool.qlen;
	st->avg_ms = pool.avg_ms;
}

static void
worker_violation(struct hworker *w, const char *why)
{
	child_kill(w->pid, "hash worker", why);
	worker_close(w);
}

static void
worker_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg)
{
	struct hworker *w = arg;
	uint64_t id;
	uint8_t match;

	(void)c;
	if (w->chan == NULL)
		return;
	if (r == NULL) {
		worker_close(w);
		worker_free_if_done(w);
		return;
	}
	if (r->bad || r->type != IPC_HASH_RESULT || r->fd != -1) {
		worker_violation(w, "unexpected or malformed message");
		return;
	}
	id = ipc_get_u64(r);
	match = ipc_get_u8(r);
	if (!ipc_end(r) || match > 1 || w->nheld == 0 || w->held[0]->id != id) {
		worker_violation(w, "answer to a request it does not hold");
		return;
	}
	uint64_t now = now_ms();
	struct hreq *q = worker_pop(w);
	uint64_t took = now - w->head_since;
	/* The next one it holds began as it answered. */
	w->head_since = now;
	pool.avg_ms = pool.avg_ms ? (pool.avg_ms * 7 + took) / 8 : took;
	if (pool.avg_ms == 0)
		pool.avg_ms = 1;
	hreq_done(q, match);
	dispatch(true);
}

void
hashpool_exited(void *obj, int status)
{
	struct hworker *w = obj;

	(void)status;	/* children.c logged it */
	w->reaped = true;
	worker_close(w);
	worker_free_if_done(w);
	fill_pool(true);
}

void
hashpool_stop(void)
{
	pool.want = 0;
	ev_timer_stop(master.loop, &pool.restart);
	for (struct hworker *w = pool.workers; w; w = w->next)
		worker_close(w);
	/* Callbacks never submit directly (a throttled account's next
	 * attempt starts from a timer), but were one to, it would only
	 * queue, and be popped here in turn. */
	struct hreq *q;
	while ((q = queue_pop()) != NULL)
		hreq_done(q, -1);
}
