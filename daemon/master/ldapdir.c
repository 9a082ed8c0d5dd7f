/*
 * ldapdir.c - the master's side of the LDAP directory (directory =
 * ldap; doc/ldap.md): the LDAP process, its queue, and the cache.
 *
 * The master never parses an LDAP reply: the LDAP process
 * (auth/ldapclient.c) does, and answers typed IPC_LDAP_ENTRY /
 * IPC_LDAP_BIND_RESULT messages, which are checked here like any
 * message from a less privileged process (a malformed one, or an
 * answer to a request it does not hold, gets it killed).
 *
 * One request is in flight at a time; the others wait in a queue
 * bounded by auth_max_pending.  Every request has a deadline: a
 * process that has not answered by then (a server that accepts
 * connections and never replies, a hung library) is killed, and the
 * request answered UNAVAILABLE; so are queued requests whose deadline
 * passed.  A process that exits is restarted (at most once per
 * second).  The bind password, read from the root-only file, is sent
 * to each new process first (IPC_LDAP_CONFIG) and kept wiped-on-free.
 *
 * Entries that were found are cached for ldap_cache_ttl seconds
 * (0: never), at most CACHE_MAX of them; a SIGHUP empties the cache.
 * Callbacks run from the event loop, never inside ldapdir_lookup() /
 * ldapdir_bind(), so callers may finish setting up first.
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define RESTART_PAUSE_MS 1000
#define CACHE_MAX        10000
#define CACHE_BUCKETS    1024
#define PW_MAX           1024

enum lkind { LQ_LOOKUP, LQ_BIND };

struct lreq {
	uint64_t      id;
	enum lkind    kind;
	char          name[MK_USER_MAX];
	char         *dn;
	uint8_t      *secret;
	size_t        nsecret;
	ldap_entry_cb ecb;
	ldap_bind_cb  bcb;
	void         *arg;
	bool          cancelled;
	uint64_t      deadline;
	struct lreq  *next;
};

struct centry {
	char              name[MK_USER_MAX];
	struct ldap_entry e;
	uint64_t          at;		/* monotonic ms of the answer */
	struct centry    *next;
};

static struct {
	pid_t            pid;
	struct ipc_chan *chan;
	struct lreq     *busy;
	struct lreq     *qhead, *qtail;
	size_t           qlen;
	uint64_t         next_id;
	uint64_t         last_start;
	struct ev_timer  restart, timeout, later;
	struct lreq     *done;		/* answered, callbacks to run */
	char             pw[PW_MAX];
	bool             running;
	struct centry   *cache[CACHE_BUCKETS];
	size_t           ncache;
} D;

static void dispatch(void);
static void on_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg);

bool
ldapdir_enabled(void)
{
	return master.cfg.directory == MK_DIR_LDAP;
}

/* ---- the cache ---- */

static unsigned
bucket(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % CACHE_BUCKETS;
}

static void
centry_free(struct centry *c)
{
	explicit_bzero(c, sizeof(*c));
	free(c);
}

static bool
fresh(const struct centry *c)
{
	return now_ms() - c->at < (uint64_t)master.cfg.ldap_cache_ttl * 1000;
}

bool
ldapdir_cached(const char *name, struct ldap_entry *e)
{
	for (struct centry *c = D.cache[bucket(name)]; c; c = c->next)
		if (strcmp(c->name, name) == 0 && fresh(c)) {
			*e = c->e;
			return true;
		}
	return false;
}

/* Drops name's entry, or every stale one (name NULL). */
static void
cache_drop(const char *name)
{
	for (unsigned b = 0; b < CACHE_BUCKETS; b++)
		for (struct centry **pp = &D.cache[b]; *pp;) {
			struct centry *c = *pp;
			if (name != NULL ? strcmp(c->name, name) == 0 : !fresh(c)) {
				*pp = c->next;
				centry_free(c);
				D.ncache--;
			} else
				pp = &c->next;
		}
}

static void
cache_put(const char *name, const struct ldap_entry *e)
{
	struct centry *c;

	if (master.cfg.ldap_cache_ttl == 0)
		return;
	for (c = D.cache[bucket(name)]; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			break;
	if (c == NULL) {
		if (D.ncache >= CACHE_MAX)
			cache_drop(NULL);
		if (D.ncache >= CACHE_MAX)
			return;		/* full of fresh entries: not kept */
		c = xcalloc(1, sizeof(*c));
		mk_strlcpy(c->name, name, sizeof(c->name));
		c->next = D.cache[bucket(name)];
		D.cache[bucket(name)] = c;
		D.ncache++;
	}
	c->e = *e;
	c->at = now_ms();
}

void
ldapdir_flush(void)
{
	for (unsigned b = 0; b < CACHE_BUCKETS; b++)
		while (D.cache[b] != NULL) {
			struct centry *c = D.cache[b];
			D.cache[b] = c->next;
			centry_free(c);
		}
	D.ncache = 0;
}

void
ldapdir_sweep(void)
{
	cache_drop(NULL);
}

size_t
ldapdir_cache_count(void)
{
	return D.ncache;
}

/* ---- requests ---- */

static void
lreq_free(struct lreq *q)
{
	if (q->secret != NULL)
		freezero(q->secret, q->nsecret ? q->nsecret : 1);
	if (q->dn != NULL)
		free(q->dn);
	free(q);
}

static void
answer(struct lreq *q, int result, const struct ldap_entry *e)
{
	if (!q->cancelled) {
		if (q->kind == LQ_LOOKUP)
			q->ecb(q->arg, result, e);
		else
			q->bcb(q->arg, result);
	}
	lreq_free(q);
}

/* Answers UNAVAILABLE from the loop, not from the caller's stack. */
static void
answer_later(struct lreq *q)
{
	q->next = D.done;
	D.done = q;
	if (!ev_timer_armed(&D.later))
		ev_timer_start(master.loop, &D.later, 0);
}

static void
later_cb(struct ev_timer *t)
{
	(void)t;
	while (D.done != NULL) {
		struct lreq *q = D.done;
		D.done = q->next;
		answer(q, IPC_LDAP_UNAVAILABLE, NULL);
	}
}

/* A request may wait for a slow server through its connection, its
 * StartTLS, its bind and two searches (the reconnection after a lost
 * link): then the process is killed. */
static uint64_t
deadline_ms(void)
{
	return now_ms() + (uint64_t)master.cfg.ldap_timeout * 1000 * 5 + 1000;
}

static uint64_t
submit(struct lreq *q)
{
	if (!D.running || D.qlen >= master.cfg.auth_max_pending) {
		log_warnx("LDAP %s: refused (%s)", q->kind == LQ_LOOKUP ?
		    "look-up" : "bind", D.running ? "queue full" :
		    "no LDAP process");
		lreq_free(q);
		return 0;
	}
	q->id = ++D.next_id;
	q->deadline = deadline_ms();
	if (D.qtail)
		D.qtail->next = q;
	else
		D.qhead = q;
	D.qtail = q;
	D.qlen++;
	dispatch();
	return q->id;
}

uint64_t
ldapdir_lookup(const char *name, ldap_entry_cb cb, void *arg)
{
	struct lreq *q = xcalloc(1, sizeof(*q));

	q->kind = LQ_LOOKUP;
	mk_strlcpy(q->name, name, sizeof(q->name));
	q->ecb = cb;
	q->arg = arg;
	return submit(q);
}

uint64_t
ldapdir_bind(const char *dn, const uint8_t *pw, size_t n, ldap_bind_cb cb,
    void *arg)
{
	struct lreq *q = xcalloc(1, sizeof(*q));

	q->kind = LQ_BIND;
	q->dn = xstrdup(dn);
	q->secret = xmalloc(n ? n : 1);
	memcpy(q->secret, pw, n);
	q->nsecret = n;
	q->bcb = cb;
	q->arg = arg;
	return submit(q);
}

void
ldapdir_cancel(uint64_t id)
{
	struct lreq **pp, *prev = NULL;

	if (D.busy != NULL && D.busy->id == id) {
		D.busy->cancelled = true;
		return;
	}
	/* One waiting for later_cb() is not called either. */
	for (struct lreq *q = D.done; q != NULL; q = q->next)
		if (q->id == id) {
			q->cancelled = true;
			return;
		}
	for (pp = &D.qhead; *pp; prev = *pp, pp = &(*pp)->next) {
		struct lreq *q = *pp;
		if (q->id != id)
			continue;
		*pp = q->next;
		if (D.qtail == q)
			D.qtail = prev;
		D.qlen--;
		lreq_free(q);
		return;
	}
}

static void
send_request(struct lreq *q)
{
	struct ipc_msg m;

	if (q->kind == LQ_LOOKUP) {
		ipc_msg_init(&m, IPC_LDAP_LOOKUP);
		ipc_put_u64(&m, q->id);
		ipc_put_str(&m, q->name);
	} else {
		ipc_msg_init(&m, IPC_LDAP_BIND);
		ipc_put_u64(&m, q->id);
		ipc_put_str(&m, q->dn);
		ipc_put_bytes(&m, q->secret, q->nsecret);
		/* Only the message holds it now; sending wipes that. */
		freezero(q->secret, q->nsecret ? q->nsecret : 1);
		q->secret = NULL;
	}
	D.busy = q;
	uint64_t now = now_ms();
	ev_timer_start(master.loop, &D.timeout,
	    q->deadline > now ? q->deadline - now : 1);
	if (ipc_chan_send(D.chan, &m) == -1) {
		D.busy = NULL;
		ev_timer_stop(master.loop, &D.timeout);
		answer_later(q);
	}
}

static void
dispatch(void)
{
	while (D.chan != NULL && D.busy == NULL && D.qhead != NULL) {
		struct lreq *q = D.qhead;
		D.qhead = q->next;
		if (D.qhead == NULL)
			D.qtail = NULL;
		D.qlen--;
		q->next = NULL;
		if (q->cancelled || now_ms() >= q->deadline) {
			answer_later(q);
			continue;
		}
		send_request(q);
	}
}

/* ---- the process ---- */

static void
send_config(void)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LDAP_CONFIG);
	ipc_put_bytes(&m, D.pw, strlen(D.pw));
	ipc_chan_send(D.chan, &m);
}

static void
spawn_process(void)
{
	int chan;

	if (master.stopping || D.pid != 0 || !D.running)
		return;
	D.last_start = now_ms();
	pid_t pid = spawn_ldap(&chan);
	if (pid == -1) {
		ev_timer_start(master.loop, &D.restart, RESTART_PAUSE_MS);
		return;
	}
	ldapdir_attach(pid, chan);
	log_debug("LDAP process %d started", (int)pid);
}

void
ldapdir_attach(pid_t pid, int chan_fd)
{
	ev_timer_stop(master.loop, &D.restart);
	D.running = true;
	D.pid = pid;
	D.last_start = now_ms();
	D.chan = ipc_chan_new(master.loop, chan_fd, on_msg, NULL);
	/* The pid as the record's object: a retired process's exit is
	 * told apart from the current one's. */
	child_add(pid, CHILD_LDAP, (void *)(uintptr_t)pid);
	send_config();
	dispatch();
}

static void
restart_cb(struct ev_timer *t)
{
	(void)t;
	spawn_process();
}

/* The channel is gone (EOF, a violation, a reload): the request in
 * flight has no answer coming; queued ones wait for the next process. */
static void
chan_close(void)
{
	if (D.chan == NULL)
		return;
	ev_defer(master.loop, ipc_chan_free_cb, D.chan);
	D.chan = NULL;
	ev_timer_stop(master.loop, &D.timeout);
	if (D.busy != NULL) {
		struct lreq *q = D.busy;
		D.busy = NULL;
		answer_later(q);
	}
}

static void
violation(const char *why)
{
	if (D.pid > 0)
		child_kill(D.pid, "LDAP process", why);
	chan_close();
}

static void
timeout_cb(struct ev_timer *t)
{
	(void)t;
	log_warnx("LDAP process %d did not answer within %u s: killing it "
	    "(the LDAP server may be hung)", (int)D.pid,
	    master.cfg.ldap_timeout * 5 + 1);
	violation("no answer in time");
}

void
ldapdir_exited(void *obj, int status)
{
	(void)status;
	if ((pid_t)(uintptr_t)obj != D.pid)
		return;		/* retired by a reload */
	D.pid = 0;
	chan_close();
	if (!D.running || master.stopping)
		return;
	uint64_t since = now_ms() - D.last_start;
	if (since >= RESTART_PAUSE_MS)
		spawn_process();
	else
		ev_timer_start(master.loop, &D.restart, RESTART_PAUSE_MS - since);
}

/* ---- answers ---- */

static bool
printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Reads an IPC_LDAP_ENTRY into e; false if it is malformed. */
static bool
read_entry(struct ipc_reader *r, uint8_t *result, struct ldap_entry *e,
    const char **reason)
{
	memset(e, 0, sizeof(*e));
	*result = ipc_get_u8(r);
	const char *dn = ipc_get_str(r), *hash = ipc_get_str(r);
	uint8_t admin = ipc_get_u8(r), hs = ipc_get_u8(r);
	uint64_t st = ipc_get_u64(r);
	uint8_t hm = ipc_get_u8(r);
	uint64_t msgs = ipc_get_u64(r);
	const char *backend = ipc_get_str(r);
	*reason = ipc_get_str(r);
	if (!ipc_end(r) || *result > IPC_LDAP_UNUSABLE || admin > 1 ||
	    hs > 1 || hm > 1 || strlen(dn) >= sizeof(e->dn) ||
	    strlen(hash) >= sizeof(e->hash) ||
	    strlen(backend) >= sizeof(e->backend) || strlen(*reason) > 512 ||
	    st > INT64_MAX / 1024 || msgs > INT64_MAX || !printable(backend) ||
	    !printable(*reason))
		return false;
	mk_strlcpy(e->dn, dn, sizeof(e->dn));
	mk_strlcpy(e->hash, hash, sizeof(e->hash));
	e->admin = admin;
	e->quota_storage = hs ? (int64_t)st : -1;
	e->quota_messages = hm ? (int64_t)msgs : -1;
	mk_strlcpy(e->backend, backend, sizeof(e->backend));
	return true;
}

/* The request in flight has its answer. */
static void
busy_answered(void)
{
	D.busy = NULL;
	ev_timer_stop(master.loop, &D.timeout);
}

static void
on_entry(struct lreq *q, struct ipc_reader *r)
{
	struct ldap_entry e;
	uint8_t result;
	const char *reason;

	if (q->kind != LQ_LOOKUP || !read_entry(r, &result, &e, &reason)) {
		violation("malformed LDAP_ENTRY");
		return;
	}
	busy_answered();
	if (result == IPC_LDAP_UNAVAILABLE)
		log_warnx("LDAP look-up of %s: %s", q->name, reason);
	else if (reason[0] != '\0')
		log_warnx("LDAP entry of %s: %s", q->name, reason);
	if (result == IPC_LDAP_OK)
		cache_put(q->name, &e);
	answer(q, result, result == IPC_LDAP_OK ? &e : NULL);
	explicit_bzero(&e, sizeof(e));
	dispatch();
}

static void
on_bind_result(struct lreq *q, struct ipc_reader *r)
{
	uint8_t result = ipc_get_u8(r);
	const char *reason = ipc_get_str(r);

	if (q->kind != LQ_BIND || !ipc_end(r) || result > IPC_LDAP_UNAVAILABLE ||
	    strlen(reason) > 512 || !printable(reason)) {
		violation("malformed LDAP_BIND_RESULT");
		return;
	}
	busy_answered();
	if (result == IPC_LDAP_UNAVAILABLE)
		log_warnx("LDAP bind as %s: %s", q->dn, reason);
	answer(q, result, NULL);
	dispatch();
}

static void
on_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg)
{
	(void)arg;
	if (c != D.chan)
		return;		/* a retired process's last words */
	if (r == NULL) {
		chan_close();
		return;
	}
	if (r->bad || r->fd != -1 || D.busy == NULL ||
	    ipc_get_u64(r) != D.busy->id) {
		violation("unexpected message or answer to a request it does "
		    "not hold");
		return;
	}
	if (r->type == IPC_LDAP_ENTRY)
		on_entry(D.busy, r);
	else if (r->type == IPC_LDAP_BIND_RESULT)
		on_bind_result(D.busy, r);
	else
		violation("unexpected message");
}

/* ---- start, reload, stop ---- */

static int
read_password(char *err, size_t errlen)
{
	char pw[PW_MAX];

	if (config_ldap_password(&master.cfg, pw, sizeof(pw), err,
	    errlen) == -1) {
		explicit_bzero(pw, sizeof(pw));
		return -1;
	}
	explicit_bzero(D.pw, sizeof(D.pw));
	mk_strlcpy(D.pw, pw, sizeof(D.pw));
	explicit_bzero(pw, sizeof(pw));
	return 0;
}

int
ldapdir_start(char *err, size_t errlen)
{
	ev_timer_init(&D.restart, restart_cb, NULL);
	ev_timer_init(&D.timeout, timeout_cb, NULL);
	ev_timer_init(&D.later, later_cb, NULL);
	if (!ldapdir_enabled())
		return 0;
	if (read_password(err, errlen) == -1)
		return -1;
	D.running = true;
	spawn_process();
	log_info("directory: LDAP at %s (ldap_auth = %s)", master.cfg.ldap_uri,
	    master.cfg.ldap_auth == MK_LDAP_AUTH_BIND ? "bind" : "hash");
	return 0;
}

/* The running process goes (it exits on EOF); the next one starts with
 * the new configuration.  A request in flight is answered UNAVAILABLE. */
static void
retire(void)
{
	ev_timer_stop(master.loop, &D.restart);
	chan_close();
	D.pid = 0;	/* reaped as an ordinary child; nothing to restart */
}

int
ldapdir_reload(char *err, size_t errlen)
{
	ldapdir_flush();
	if (!ldapdir_enabled())
		return 0;
	if (read_password(err, errlen) == -1)
		return -1;
	retire();
	spawn_process();
	return 0;
}

void
ldapdir_stop(void)
{
	D.running = false;
	retire();
	while (D.qhead != NULL) {
		struct lreq *q = D.qhead;
		D.qhead = q->next;
		answer(q, IPC_LDAP_UNAVAILABLE, NULL);
	}
	D.qtail = NULL;
	D.qlen = 0;
	later_cb(NULL);
	ldapdir_flush();
	explicit_bzero(D.pw, sizeof(D.pw));
}
