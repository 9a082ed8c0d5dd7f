/*
 * cluster_share.c (master) - shared folders across backends
 * (doc/cluster.md, "Shared folders across backends").
 *
 * Two things cross the link between backends, both carried by link
 * processes (daemon/cluster/linkd.c) that the master only talks to:
 *
 *   the share index   an owner's ACL change that concerns a user held
 *       by another backend (or "anyone") is passed to that backend
 *       (LINK_SHARE), which indexes it for the owner only if its own
 *       directory says the peer holds the owner.  Entries wait in a
 *       bounded queue per peer and are sent again until the peer has
 *       them (the index is last-writer-wins per entry).
 *   guest streams     a grantee's GUEST_OPEN for an owner held
 *       elsewhere makes a link process dial the owner's backend
 *       (LINK_GUEST_OPEN); that backend's master checks its own index
 *       (never the dialer's word on rights), that the peer holds the
 *       grantee, and its bounds, and starts a guest session in the
 *       owner's process whose bytes the two link processes relay.  The
 *       owner's process checks every command against its ACL, as for a
 *       grantee of its own machine.
 *
 * Bounds: CLUSTER_PEER_STREAMS streams per peer in each direction, and
 * a grantee's max_guest_channels counts remote streams with local
 * channels on both backends.
 */
#include "daemon/master/cluster_int.h"
#include "common/log.h"
#include "common/util.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Entries waiting for one peer, and how many go in one dial. */
#define SHARE_QUEUE_MAX  4096
#define SHARE_BATCH_MAX  32
#define SHARE_BATCH_SIZE (48 * 1024)
#define SHARE_RETRY_MS   2000	/* doubled after each failure ... */
#define SHARE_RETRY_MAX  60000	/* ... up to this */

struct share_item {
	struct share_item *next;
	struct link_share  e;
};

struct peer_queue {
	char               name[MK_BACKEND_MAX];
	struct share_item *head;
	unsigned           n;
	bool               busy;	/* a link process pushes a batch */
	unsigned           fails;	/* in a row: the retry's backoff */
	struct ev_timer    retry;
};

static struct peer_queue queues[MK_MAX_BACKENDS];

static void push_retry(struct ev_timer *t);

/* ---- counting streams ---- */

static unsigned
streams(const char *peer, bool dial, const char *grantee)
{
	unsigned n = 0;

	for (struct link_child *lk = cluster_links; lk; lk = lk->next)
		if (lk->stream && lk->dial == dial &&
		    (peer == NULL || strcmp(lk->peer, peer) == 0) &&
		    (grantee == NULL || strcmp(lk->grantee, grantee) == 0))
			n++;
	return n;
}

unsigned
cluster_streams_of(const char *grantee)
{
	return streams(NULL, true, grantee);
}

/* ---- serving a peer's grantee (this backend holds the owner) ---- */

static void
guest_reply(struct link_child *lk, enum link_code code, const char *text,
    int fd)
{
	cluster_link_answer(lk, IPC_LINK_GUEST_RESULT, code, text, fd);
}

/* An LDAP user's row was looked up for a peer that asks again. */
static void
row_made(void *arg, int found)
{
	(void)arg;
	(void)found;
}

/* Why peer's grantee may not have a session in owner's process here
 * (NULL: it may; u is the owner's row).  Refusals say nothing a peer
 * does not already know: its own users, and whether a share exists. */
static const char *
guest_refused(const char *owner, const char *grantee, const char *peer,
    struct dir_user *u, enum link_code *code)
{
	struct dir_user g;
	int rc;

	*code = LINK_LIMIT;
	if (streams(peer, false, NULL) >= CLUSTER_PEER_STREAMS)
		return "too many guest streams from your backend";
	if (guest_channels_of(grantee) >= master.cfg.max_guest_channels)
		return "the grantee has max_guest_channels open here";
	*code = LINK_TEMPFAIL;
	rc = dir_user_get(master.dir, grantee, &g);
	dir_user_forget_hash(&g);
	if (rc == -1)
		return "directory error";
	if (rc == MK_NOTFOUND && ldapdir_enabled()) {
		/* Granted through "anyone", an LDAP grantee may have no row
		 * here: made from LDAP now, for the next try. */
		ldapusers_known(grantee, row_made, NULL);
		return "looking the grantee up; try again";
	}
	*code = LINK_REFUSED;
	/* A backend speaks for the users it holds, none other. */
	if (rc != 0 || strcmp(g.backend, peer) != 0)
		return "the grantee is not held by your backend here";
	rc = dir_user_get(master.dir, owner, u);
	dir_user_forget_hash(u);
	if (rc != 0 || !config_backend_local(&master.cfg, u->backend))
		return "no such owner here";
	if ((rc = dir_share_exists(master.dir, u->id, grantee)) != 1) {
		*code = rc == 0 ? LINK_REFUSED : LINK_TEMPFAIL;
		return rc == 0 ? "the owner shares nothing with the grantee" :
		    "directory error";
	}
	return NULL;
}

void
xshare_guest(struct link_child *lk, struct ipc_reader *r)
{
	const char *owner = ipc_get_str(r), *grantee = ipc_get_str(r);
	const char *peer = ipc_get_str(r), *why;
	char a[MK_USER_MAX], b[MK_USER_MAX];
	enum link_code code;
	struct dir_user u;
	struct peer none;
	int sp[2];

	if (!ipc_end(r) || r->fd != -1 || strlen(peer) >= MK_USER_MAX ||
	    !dir_name_canon(owner, a, sizeof(a), &why) || strcmp(a, owner) ||
	    !dir_name_canon(grantee, b, sizeof(b), &why) || strcmp(b, grantee)) {
		cluster_link_violation(lk, "malformed LINK_GUEST");
		return;
	}
	if ((why = guest_refused(a, b, peer, &u, &code)) != NULL) {
		log_warnx("cluster: %s of backend %s asked for %s's mailboxes: "
		    "%s", b, peer, a, why);
		guest_reply(lk, code, why, -1);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		guest_reply(lk, LINK_TEMPFAIL, "no resources", -1);
		return;
	}
	memset(&none, 0, sizeof(none));
	snprintf(none.addr, sizeof(none.addr), "backend %s", peer);
	struct session_start s = {
		.user = &u, .authcid = b, .authc_admin = false,
		.method = IPC_IMP_GUEST, .okverb = "", .tag = "",
		.peer = &none, .fd = sp[0],
	};
	if (session_start(&s) != 0) {
		close(sp[1]);
		guest_reply(lk, LINK_TEMPFAIL, "the owner can't be reached now",
		    -1);
		return;
	}
	lk->stream = true;
	mk_strlcpy(lk->peer, peer, sizeof(lk->peer));
	mk_strlcpy(lk->grantee, b, sizeof(lk->grantee));
	log_info("%s of backend %s opened a channel to %s's shared mailboxes",
	    b, peer, u.name);
	guest_reply(lk, LINK_OK, "guest session follows", sp[1]);
}

/* ---- a peer's index entry (the peer holds the owner) ---- */

void
xshare_share(struct link_child *lk, struct ipc_reader *r)
{
	const char *owner = ipc_get_str(r), *mailbox = ipc_get_str(r);
	const char *grantee = ipc_get_str(r), *rights = ipc_get_str(r);
	const char *peer = ipc_get_str(r), *why;
	char canon[MK_USER_MAX];
	struct dir_user u;
	int rc;

	if (!ipc_end(r) || r->fd != -1 || strlen(peer) >= MK_USER_MAX ||
	    !dir_name_canon(owner, canon, sizeof(canon), &why) ||
	    strcmp(canon, owner) != 0 ||
	    !share_entry_valid(mailbox, grantee, rights)) {
		cluster_link_violation(lk, "malformed LINK_SHARE");
		return;
	}
	rc = dir_user_get(master.dir, canon, &u);
	dir_user_forget_hash(&u);
	if (rc == MK_NOTFOUND && ldapdir_enabled()) {
		/* An LDAP owner held there has no row here yet: it is made
		 * from LDAP now, and the peer sends the entry again. */
		ldapusers_known(canon, row_made, NULL);
		cluster_link_answer(lk, IPC_LINK_MOVE_RESULT, LINK_TEMPFAIL,
		    "looking the owner up; send it again", -1);
		return;
	}
	if (rc != 0 || strcmp(u.backend, peer) != 0) {
		log_warnx("cluster: backend %s sent a share of %s, whom it does "
		    "not hold here: refused", peer, canon);
		cluster_link_answer(lk, IPC_LINK_MOVE_RESULT, rc == -1 ?
		    LINK_TEMPFAIL : LINK_REFUSED, "the owner is not held by "
		    "your backend here", -1);
		return;
	}
	enum ipc_req_result res = share_index_set(u.id, u.name, mailbox,
	    grantee, rights);
	cluster_link_answer(lk, IPC_LINK_MOVE_RESULT, res == IPC_REQ_OK ?
	    LINK_OK : res == IPC_REQ_LIMIT ? LINK_LIMIT : LINK_TEMPFAIL,
	    res == IPC_REQ_OK ? "indexed" : "not indexed", -1);
}

/* ---- dialing out: a grantee of ours reaches an owner elsewhere ---- */

void
cluster_guest_remote(struct mbox *mb, uint64_t id, const struct dir_user *u,
    bool url)
{
	const struct cfg_backend *b = config_backend(&master.cfg, u->backend);
	struct link_child *lk;
	struct ipc_msg m;
	int sp[2];

	if (url || b == NULL) {
		/* URLAUTH URLs are fetched on the owner's backend. */
		log_warnx("%s asked for %s's %s on backend %s: %s",
		    mbox_user(mb), u->name, url ? "URLAUTH URLs" : "mailboxes",
		    u->backend, url ? "not across backends" : "no such backend "
		    "in the configuration");
		guest_answer(mb, id, IPC_REQ_FAILED, -1, url);
		return;
	}
	if (streams(b->name, true, NULL) >= CLUSTER_PEER_STREAMS) {
		log_warnx("%s asked for %s's mailboxes: %u streams to backend "
		    "%s open: refused", mbox_user(mb), u->name,
		    CLUSTER_PEER_STREAMS, b->name);
		guest_answer(mb, id, IPC_REQ_LIMIT, -1, false);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		guest_answer(mb, id, IPC_REQ_FAILED, -1, false);
		return;
	}
	if ((lk = cluster_dial(b)) == NULL) {
		close(sp[0]);
		close(sp[1]);
		guest_answer(mb, id, IPC_REQ_FAILED, -1, false);
		return;
	}
	lk->stream = true;
	mk_strlcpy(lk->grantee, mbox_user(mb), sizeof(lk->grantee));
	lk->mb_uid = mbox_user_id(mb);
	lk->req = id;
	lk->sp = sp[0];
	cluster_dial_msg(&m, b->name, 1);
	ipc_put_str(&m, u->name);
	ipc_put_str(&m, mbox_user(mb));
	ipc_put_fd(&m, sp[1]);
	ipc_chan_send(lk->chan, &m);
}

/* The peer's verdict on a stream: the grantee's process gets its end,
 * or the reason as GUEST_RESULT would give it on one machine. */
static void
stream_answer(struct link_child *lk, uint32_t code)
{
	struct mbox *mb = mbox_running(lk->mb_uid);
	enum ipc_req_result res = code == LINK_OK ? IPC_REQ_OK :
	    code == LINK_REFUSED ? IPC_REQ_DENIED :
	    code == LINK_LIMIT ? IPC_REQ_LIMIT : IPC_REQ_FAILED;
	int fd = lk->sp;

	lk->answered = true;
	lk->sp = -1;
	if (res != IPC_REQ_OK) {
		close(fd);
		fd = -1;
		lk->stream = false;	/* not counted while it exits */
	}
	guest_answer(mb, lk->req, res, fd, false);
}

/* ---- dialing out: pushing index entries ---- */

static struct peer_queue *
queue_of(const char *peer)
{
	struct peer_queue *free_q = NULL;

	for (size_t i = 0; i < MK_MAX_BACKENDS; i++) {
		if (strcmp(queues[i].name, peer) == 0)
			return &queues[i];
		if (queues[i].name[0] == '\0' && free_q == NULL)
			free_q = &queues[i];
	}
	if (free_q != NULL) {
		mk_strlcpy(free_q->name, peer, sizeof(free_q->name));
		ev_timer_init(&free_q->retry, push_retry, free_q);
	}
	return free_q;
}

/* Up to a batch of q's entries into lk's DIAL message. */
static void
batch_take(struct peer_queue *q, struct link_child *lk, struct ipc_msg *m)
{
	struct share_item **tail = &lk->batch;
	uint32_t n = 0;
	size_t size = 0;

	while (q->head != NULL && n < SHARE_BATCH_MAX &&
	    size < SHARE_BATCH_SIZE) {
		struct share_item *it = q->head;
		q->head = it->next;
		q->n--;
		it->next = NULL;
		*tail = it;
		tail = &it->next;
		size += strlen(it->e.mailbox) + 3 * MK_USER_MAX;
		n++;
	}
	ipc_put_u32(m, n);
	for (struct share_item *it = lk->batch; it; it = it->next) {
		ipc_put_str(m, it->e.owner);
		ipc_put_str(m, it->e.mailbox);
		ipc_put_str(m, it->e.grantee);
		ipc_put_str(m, it->e.rights);
	}
}

/* A peer that is down is asked again less and less often. */
static void
push_later(struct peer_queue *q)
{
	uint64_t ms = (uint64_t)SHARE_RETRY_MS << MK_MIN(q->fails, 5u);

	q->fails++;
	ev_timer_start(master.loop, &q->retry, MK_MIN(ms, SHARE_RETRY_MAX));
}

static void
push_start(struct peer_queue *q)
{
	const struct cfg_backend *b = config_backend(&master.cfg, q->name);
	struct link_child *lk;
	struct ipc_msg m;

	if (q->busy || q->head == NULL || master.stopping)
		return;
	if (b == NULL || (lk = cluster_dial(b)) == NULL) {
		push_later(q);
		return;
	}
	q->busy = true;
	cluster_dial_msg(&m, b->name, 2);
	batch_take(q, lk, &m);
	ipc_chan_send(lk->chan, &m);
}

static void
push_retry(struct ev_timer *t)
{
	push_start(t->arg);
}

/* A batch that did not arrive goes back in front, in order: a later
 * change of the same entry stays later. */
static void
push_failed(struct link_child *lk)
{
	struct peer_queue *q = queue_of(lk->peer);
	struct share_item *last = lk->batch;

	if (q == NULL || last == NULL)
		return;
	while (last->next != NULL) {
		last = last->next;
		q->n++;
	}
	q->n++;
	last->next = q->head;
	q->head = lk->batch;
	lk->batch = NULL;
	q->busy = false;
	push_later(q);
}

static void
push_done(struct link_child *lk)
{
	struct peer_queue *q = queue_of(lk->peer);

	while (lk->batch != NULL) {
		struct share_item *it = lk->batch;
		lk->batch = it->next;
		free(it);
	}
	if (q != NULL) {
		q->busy = false;
		q->fails = 0;
		push_start(q);
	}
}

static void
enqueue(const char *peer, const char *owner, const char *mailbox,
    const char *grantee, const char *rights)
{
	struct peer_queue *q = queue_of(peer);

	if (q == NULL || q->n >= SHARE_QUEUE_MAX) {
		log_warnx("cluster: share of %s's %s with %s not passed to "
		    "backend %s: %u changes wait for it already", owner, mailbox,
		    grantee, peer, SHARE_QUEUE_MAX);
		return;
	}
	struct share_item *it = xcalloc(1, sizeof(*it));
	mk_strlcpy(it->e.owner, owner, sizeof(it->e.owner));
	mk_strlcpy(it->e.mailbox, mailbox, sizeof(it->e.mailbox));
	mk_strlcpy(it->e.grantee, grantee, sizeof(it->e.grantee));
	mk_strlcpy(it->e.rights, rights, sizeof(it->e.rights));
	struct share_item **pp = &q->head;
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = it;
	q->n++;
	push_start(q);
}

static void
grantee_known(void *arg, int found)
{
	struct share_item *it = arg;
	struct dir_user g;

	if (found == -1)
		log_warnx("cluster: share of %s's %s with %s not passed on: "
		    "the LDAP directory did not answer", it->e.owner,
		    it->e.mailbox, it->e.grantee);
	else if (found == 1 && dir_user_get(master.dir, it->e.grantee,
	    &g) == 0) {
		dir_user_forget_hash(&g);
		if (!config_backend_local(&master.cfg, g.backend))
			enqueue(g.backend, it->e.owner, it->e.mailbox,
			    it->e.grantee, it->e.rights);
	}
	free(it);
}

void
cluster_share_changed(const char *owner, const char *mailbox,
    const char *grantee, const char *rights)
{
	struct dir_user g;

	if (master.cfg.nbackends == 0)
		return;
	if (strcmp(grantee, "anyone") == 0) {
		for (unsigned i = 0; i < master.cfg.nbackends; i++) {
			const struct cfg_backend *b = &master.cfg.backends[i];
			if (!config_backend_local(&master.cfg, b->name) &&
			    b->cluster_port != 0)
				enqueue(b->name, owner, mailbox, grantee, rights);
		}
		return;
	}
	int rc = dir_user_get(master.dir, grantee, &g);
	dir_user_forget_hash(&g);
	if (rc == 0 && !config_backend_local(&master.cfg, g.backend))
		enqueue(g.backend, owner, mailbox, grantee, rights);
	else if (rc == MK_NOTFOUND && ldapdir_enabled()) {
		/* An LDAP grantee who never logged in here has no row: LDAP
		 * says where they are held. */
		struct share_item *it = xcalloc(1, sizeof(*it));
		mk_strlcpy(it->e.owner, owner, sizeof(it->e.owner));
		mk_strlcpy(it->e.mailbox, mailbox, sizeof(it->e.mailbox));
		mk_strlcpy(it->e.grantee, grantee, sizeof(it->e.grantee));
		mk_strlcpy(it->e.rights, rights, sizeof(it->e.rights));
		ldapusers_known(grantee, grantee_known, it);
	}
}

/* ---- what dialing link processes report ---- */

void
xshare_dial_result(struct link_child *lk, struct ipc_reader *r)
{
	uint32_t code = ipc_get_u32(r);
	const char *text = ipc_get_str(r);

	if (!ipc_end(r) || r->fd != -1 || code > LINK_LIMIT || lk->answered) {
		cluster_link_violation(lk, "malformed LINK_DIAL_RESULT");
		return;
	}
	if (lk->batch == NULL) {
		if (code != LINK_OK)
			log_warnx("cluster: %s's stream to backend %s: %s",
			    lk->grantee, lk->peer, text);
		stream_answer(lk, code);
		return;
	}
	lk->answered = true;
	if (code == LINK_TEMPFAIL) {
		log_warnx("cluster: shares to backend %s: %s; trying again",
		    lk->peer, text);
		push_failed(lk);
		return;
	}
	if (code != LINK_OK)
		log_warnx("cluster: backend %s refused shares: %s", lk->peer,
		    text);
	push_done(lk);
}

void
xshare_exited(struct link_child *lk)
{
	if (!lk->dial)
		return;
	if (lk->batch != NULL)
		push_failed(lk);
	else if (!lk->answered && lk->stream)
		stream_answer(lk, LINK_TEMPFAIL);
	if (lk->sp != -1)
		close(lk->sp);
	lk->sp = -1;
}

/* ---- passing every entry on again at start ---- */

#define RESYNC_AFTER_MS 2000	/* the LDAP process, if any, is up */

static struct ev_timer resync_timer;
static unsigned resync_count;

static int
resync_entry(const char *mailbox, const char *grantee, const char *rights,
    void *arg)
{
	cluster_share_changed(arg, mailbox, grantee, rights);
	resync_count++;
	return 0;
}

static int
resync_owner(const struct dir_user *u, void *arg)
{
	(void)arg;
	if (config_backend_local(&master.cfg, u->backend) &&
	    dir_shares_of(master.dir, u->id, resync_entry, (void *)u->name) ==
	    -1)
		log_warnx("cluster: shares of %s not passed on again: %s",
		    u->name, dir_errmsg(master.dir));
	return 0;
}

static void
resync_due(struct ev_timer *t)
{
	(void)t;
	resync_count = 0;
	if (dir_user_foreach(master.dir, resync_owner, NULL) == -1)
		log_warnx("cluster: share entries not passed on again: %s",
		    dir_errmsg(master.dir));
	if (resync_count > 0)
		log_info("cluster: %u share entr%s of this backend's users "
		    "looked at again for other backends", resync_count,
		    resync_count == 1 ? "y" : "ies");
}

void
cluster_share_resync_soon(void)
{
	bool peers = false;

	for (unsigned i = 0; i < master.cfg.nbackends; i++)
		peers |= !config_backend_local(&master.cfg,
		    master.cfg.backends[i].name) &&
		    master.cfg.backends[i].cluster_port != 0;
	if (!peers || ev_timer_armed(&resync_timer))
		return;
	ev_timer_init(&resync_timer, resync_due, NULL);
	ev_timer_start(master.loop, &resync_timer, RESYNC_AFTER_MS);
}
