/*
 * stats.c - the master's counters, and asking the mailbox processes for
 * the state of their sessions.
 *
 * Counters: connections accepted, logins that succeeded and failed
 * (totals for the metrics, and a ring of per-second buckets for "in the
 * last minute"), kept by master.c and children.c as things happen.
 *
 * State polls: `mailkeepctl who`, `stats` and a metrics scrape need
 * what only the mailbox processes know (each session's selected
 * mailbox and idle time, the store's size).  A poll sends every running
 * mailbox process one IPC_MBOX_STATE_REQ and collects the answers
 * (sessions.c hands them here) until all have come or POLL_TIMEOUT_MS
 * passed; a process that did not answer in time is shown as such.  No
 * process is asked anything per command, and each holds at most
 * MBOX_STATE_PENDING requests (sessions.c), so a poll costs one small
 * message per process, only when someone asks.
 *
 * Used by control.c (the control socket and the metrics); kept apart
 * from it so that the master's unit tests link without the sockets.
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_TIMEOUT_MS 2000
#define RING 60			/* seconds in "the last minute" */

struct bucket {
	time_t   sec;
	unsigned conns, ok, failed;
};

static struct master_counters totals;
static struct bucket ring[RING];
static struct state_poll *polls;
static uint64_t next_req;

/* ---- counters ---- */

static struct bucket *
bucket_now(void)
{
	time_t now = time(NULL);
	struct bucket *b = &ring[(size_t)now % RING];

	if (b->sec != now) {
		memset(b, 0, sizeof(*b));
		b->sec = now;
	}
	return b;
}

void
stats_connection(void)
{
	totals.connections++;
	bucket_now()->conns++;
}

void
stats_login(bool ok)
{
	if (ok) {
		totals.logins_ok++;
		bucket_now()->ok++;
	} else {
		totals.logins_failed++;
		bucket_now()->failed++;
	}
}

void
stats_counters(struct master_counters *c)
{
	time_t now = time(NULL);

	*c = totals;
	c->conns_minute = c->ok_minute = c->failed_minute = 0;
	for (size_t i = 0; i < RING; i++)
		if (ring[i].sec > now - RING && ring[i].sec <= now) {
			c->conns_minute += ring[i].conns;
			c->ok_minute += ring[i].ok;
			c->failed_minute += ring[i].failed;
		}
}

/* ---- state polls ---- */

static void
poll_finish(struct state_poll *p)
{
	if (p->done)
		return;
	p->done = true;
	ev_timer_stop(master.loop, &p->timer);
	/* Off the list first: the callback may cancel (free) the poll. */
	for (struct state_poll **pp = &polls; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	p->cb(p, p->arg);
}

static void
poll_timeout(struct ev_timer *t)
{
	poll_finish(t->arg);
}

static void
poll_check(struct state_poll *p)
{
	if (p->waiting == 0)
		poll_finish(p);
}

static void
poll_ask(struct mbox *mb, void *arg)
{
	struct state_poll *p = arg;
	struct mbox_state *s;

	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 16;
		p->st = xreallocarray(p->st, p->cap, sizeof(*p->st));
	}
	s = &p->st[p->n++];
	memset(s, 0, sizeof(*s));
	mk_strlcpy(s->user, mbox_user(mb), sizeof(s->user));
	s->pid = mbox_pid(mb);
	s->nsess = mbox_nsess(mb);
	s->req = ++next_req;
	if (mbox_state_ask(mb, s->req) == 0)
		p->waiting++;
	else
		s->req = 0;	/* not asked: shown as not answering */
}

struct state_poll *
state_poll_start(void (*cb)(struct state_poll *p, void *arg), void *arg)
{
	struct state_poll *p = xcalloc(1, sizeof(*p));

	p->cb = cb;
	p->arg = arg;
	ev_timer_init(&p->timer, poll_timeout, p);
	p->next = polls;
	polls = p;
	mboxes_foreach(poll_ask, p);
	/* Nothing to wait for: done at the next turn of the loop, never
	 * inside the caller's call. */
	ev_timer_start(master.loop, &p->timer, p->waiting == 0 ? 0 :
	    POLL_TIMEOUT_MS);
	return p;
}

void
state_poll_free(struct state_poll *p)
{
	if (p == NULL)
		return;
	if (!p->done) {
		/* Still asked for: it must not call back any more. */
		p->cb = NULL;
		p->done = true;
		ev_timer_stop(master.loop, &p->timer);
		for (struct state_poll **pp = &polls; *pp; pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				break;
			}
	}
	for (size_t i = 0; i < p->n; i++)
		free(p->st[i].sess);
	free(p->st);
	free(p);
}

static struct mbox_state *
slot_of(uint64_t req, pid_t pid, struct state_poll **pp)
{
	for (struct state_poll *p = polls; p; p = p->next)
		for (size_t i = 0; i < p->n; i++)
			if (p->st[i].req == req && p->st[i].pid == pid &&
			    !p->st[i].answered) {
				*pp = p;
				return &p->st[i];
			}
	return NULL;
}

/* Reads the entries of an answer into s (or, for a poll that is over,
 * nowhere).  False if malformed. */
static bool
read_entries(struct ipc_reader *r, struct mbox_state *s, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t id = ipc_get_u64(r);
		const char *mbox = ipc_get_str(r);
		uint32_t idle = ipc_get_u32(r);
		if (r->bad || strlen(mbox) > IPC_STATE_MBOX_MAX)
			return false;
		if (s == NULL)
			continue;
		struct sess_report *e = &s->sess[i];
		e->id = id;
		e->idle = idle;
		mk_strlcpy(e->mailbox, mbox, sizeof(e->mailbox));
	}
	return ipc_end(r);
}

bool
stats_state_answer(struct mbox *mb, uint64_t req, struct ipc_reader *r)
{
	struct state_poll *p = NULL;
	struct mbox_state *s = slot_of(req, mbox_pid(mb), &p);
	uint64_t bytes = ipc_get_u64(r);
	uint32_t total = ipc_get_u32(r), n = ipc_get_u32(r);

	if (r->bad || n > IPC_STATE_MAX_SESSIONS || n > total)
		return false;
	if (s != NULL)
		s->sess = xcalloc(n ? n : 1, sizeof(*s->sess));
	if (!read_entries(r, s, n))
		return false;
	if (s != NULL) {
		s->answered = true;
		s->store_bytes = bytes;
		s->total = total;
		s->nlisted = n;
		p->waiting--;
		poll_check(p);
	}
	return true;
}

void
stats_state_lost(pid_t pid)
{
	struct state_poll *next;

	for (struct state_poll *p = polls; p; p = next) {
		next = p->next;
		for (size_t i = 0; i < p->n; i++)
			if (p->st[i].pid == pid && !p->st[i].answered &&
			    p->st[i].req != 0) {
				p->st[i].req = 0;
				p->waiting--;
			}
		poll_check(p);
	}
}

const struct sess_report *
state_find_session(const struct state_poll *p, uint64_t id)
{
	for (size_t i = 0; p != NULL && i < p->n; i++)
		for (uint32_t j = 0; j < p->st[i].nlisted; j++)
			if (p->st[i].sess[j].id == id)
				return &p->st[i].sess[j];
	return NULL;
}
