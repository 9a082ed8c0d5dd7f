/*
 * hashpool.c - the master's pool of hash workers (auth/hashworker.c).
 *
 * authz.c submits (stored hash, password) pairs; each goes to an idle
 * worker, or waits in a bounded queue.  A worker has at most one request
 * in flight, so its answer must carry that request's id: any other
 * message, or a malformed one, gets the worker killed.  Workers that die
 * are replaced (after a pause if they die young, so a crash loop cannot
 * spin the master); requests they held are answered "no answer".
 * Passwords are wiped as soon as they have been sent.
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

#define QUEUE_MAX       4096
#define RESTART_PAUSE_MS 1000

struct hreq {
	uint64_t      id;
	char         *hash;
	uint8_t      *secret;
	size_t        nsecret;
	hash_done_cb  cb;
	void         *arg;
	bool          cancelled;
	struct hreq  *next;
};

struct hworker {
	pid_t            pid;
	struct ipc_chan *chan;
	struct hreq     *busy;
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
} pool;

static void dispatch(void);
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
	struct hworker *w = xcalloc(1, sizeof(*w));
	w->pid = pid;
	w->started = now_ms();
	w->chan = ipc_chan_new(master.loop, chan, worker_msg, w);
	w->next = pool.workers;
	pool.workers = w;
	pool.alive++;
	pool.last_start = w->started;
	child_add(pid, CHILD_HASH, w);
	log_debug("hash worker %d started", (int)pid);
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
	dispatch();
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
	pool.want = n;
	fill_pool(false);
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
	if (w->busy) {
		struct hreq *q = w->busy;
		w->busy = NULL;
		hreq_done(q, -1);
	}
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
		if (w->chan != NULL && w->busy == NULL)
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
	/* From here on the password lives only in the message, which
	 * ipc_msg_free() wipes once it has been sent. */
	explicit_bzero(q->secret, q->nsecret);
	w->busy = q;
	ipc_chan_send(w->chan, &m);
}

static void
dispatch(void)
{
	for (struct hworker *w = pool.workers; w && pool.qhead; w = w->next) {
		if (w->chan == NULL || w->busy != NULL)
			continue;
		struct hreq *q = pool.qhead;
		pool.qhead = q->next;
		if (pool.qhead == NULL)
			pool.qtail = NULL;
		pool.qlen--;
		q->next = NULL;
		if (q->cancelled) {
			hreq_free(q);
			continue;
		}
		send_request(w, q);
	}
}

uint64_t
hashpool_submit(const char *hash, const uint8_t *secret, size_t nsecret,
    hash_done_cb cb, void *arg)
{
	struct hreq *q;

	if (pool.qlen >= QUEUE_MAX) {
		log_warnx("hash queue full (%d requests): refusing", QUEUE_MAX);
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
	if (pool.qtail)
		pool.qtail->next = q;
	else
		pool.qhead = q;
	pool.qtail = q;
	pool.qlen++;
	dispatch();
	return q->id;
}

void
hashpool_cancel(uint64_t id)
{
	for (struct hworker *w = pool.workers; w; w = w->next)
		if (w->busy && w->busy->id == id) {
			w->busy->cancelled = true;
			hreq_wipe(w->busy);
		}
	for (struct hreq *q = pool.qhead; q; q = q->next)
		if (q->id == id) {
			/* It stays queued (freed when its turn comes), but
			 * its secrets go now. */
			q->cancelled = true;
			hreq_wipe(q);
		}
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
	if (!ipc_end(r) || match > 1 || w->busy == NULL || w->busy->id != id) {
		worker_violation(w, "answer to a request it does not hold");
		return;
	}
	struct hreq *q = w->busy;
	w->busy = NULL;
	hreq_done(q, match);
	dispatch();
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
	while (pool.qhead) {
		struct hreq *q = pool.qhead;
		pool.qhead = q->next;
		hreq_done(q, -1);
	}
	pool.qtail = NULL;
	pool.qlen = 0;
}
