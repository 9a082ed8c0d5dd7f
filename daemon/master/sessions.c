/*
 * sessions.c - mailbox processes and the sessions the master gave them.
 *
 * One mailbox process per user, started on the first session: its
 * directory data_dir/users/<name> is created 0700 for the user's own uid
 * (mail_uid_base + id), then the spawner forks the child, which drops to
 * that uid and runs mailbox_main().  The master counts the sessions it sent each process
 * (IPC_MBOX_SESSION) and those that ended (IPC_MBOX_SESSION_END); when a
 * process has had none for mailbox_linger seconds, the master closes its
 * channel and the process exits (mailbox.h).  A process that is on its
 * way out is never sent a session: the next one forks a fresh process.
 *
 * What a mailbox process may send depends on the session it names:
 *   SESSION_END   any session of its own;
 *   PROXYAUTH     an active session in which the process's own user
 *                 logged in as themself (not a guest's, not one already
 *                 acting as someone else); answered from the directory,
 *                 with that user (the master's record) as the admin;
 *   HANDBACK      only after an OK PROXYAUTH_RESULT for that session,
 *                 with that session's client socket; the session then
 *                 continues in the target's process (audited).
 *   UNAUTH        an active IMAP session of a client (not a guest
 *                 channel, not a delivery), with its client socket; the
 *                 connection goes back to a fresh login process
 *                 (UNAUTHENTICATE, RFC 8437).
 * Anything else, or a malformed message, kills the process.
 */
#include "daemon/master/master.h"
#include "daemon/mailbox/mailbox.h"
#include "common/log.h"
#include "common/userdir.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

enum sess_state { SS_ACTIVE, SS_PROXY_OK };

struct session {
	uint64_t         id;
	struct mbox     *mb;
	char             authcid[MK_USER_MAX];
	uint8_t          method;
	bool             audited;
	enum sess_state  state;
	bool             proxy_wait;	/* directory = ldap: rows refreshing */
	struct dir_user  proxy_target;	/* SS_PROXY_OK */
	uint64_t         proxy_id;	/* SS_PROXY_OK: the target session's
					 * id, its audit row written */
	struct peer      peer;		/* holds the connection's slot */
	time_t           started;	/* for mailkeepctl who */
	void           (*on_end)(void *arg);	/* session_start's hook */
	void            *end_arg;
	struct session  *next;
};

struct mbox {
	pid_t            pid;
	uint32_t         user_id;
	char             name[MK_USER_MAX];
	struct ipc_chan *chan;		/* NULL once closed */
	bool             reaped;
	struct session  *sessions;
	unsigned         nsess;
	struct ev_timer  linger;
	unsigned         state_pending;	/* IPC_MBOX_STATE_REQs unanswered */
	/* IPC_MBOX_SHARES_STALE sent, and no IPC_MBOX_SHARES asked since:
	 * whatever share list the process keeps goes when it reads that
	 * notice, so another would tell it nothing. */
	bool             shares_told;
	struct mbox     *next;
};

/* Requests for its state one process may owe at once (concurrent
 * `who`, `stats` and scrapes); more are not sent. */
#define MBOX_STATE_PENDING 4

static struct mbox *mboxes;
static size_t nsessions_total;

static void mbox_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg);
static void session_remove(struct session *se, bool keep_conn);
static bool is_client_session(const struct session *se);

size_t sessions_count(void) { return nsessions_total; }

size_t
mboxes_count(void)
{
	size_t n = 0;

	for (struct mbox *mb = mboxes; mb; mb = mb->next)
		n++;
	return n;
}

/* ---- the user's directory ---- */

/* data_dir/users/<name>, 0700, owned by the user's uid.  A directory left
 * by an earlier user of that name (userdel --keep-mail) is handed over to
 * the new uid.  The user's processes can replace anything inside it with
 * a link, so nothing here names a path below users/ (common/userdir.h):
 * the entry is opened with O_NOFOLLOW relative to users/, and a hand-over
 * walks descriptors, never following a link or chowning a hard link. */
static int
user_dir(const struct dir_user *u, char *out, size_t outlen)
{
	char rel[MK_USER_MAX + 16], users[PATH_MAX], err[PATH_MAX + 128];
	uid_t uid = master.cfg.mail_uid_base + u->id;
	int usersfd, fd;

	snprintf(rel, sizeof(rel), "users/%s", u->name);
	if (config_path(&master.cfg, out, outlen, rel) == -1 ||
	    config_path(&master.cfg, users, sizeof(users), "users") == -1) {
		log_warnx("path of %s's directory is too long", u->name);
		return -1;
	}
	if ((usersfd = userdir_users_open(users, master.root, err,
	    sizeof(err))) == -1) {
		log_warnx("%s", err);
		return -1;
	}
	fd = userdir_open(usersfd, u->name, true, master.root, uid, uid, err,
	    sizeof(err));
	close(usersfd);
	if (fd == -1) {
		log_warnx("%s", err);
		return -1;
	}
	close(fd);
	return 0;
}

int
user_dir_prepare(const struct dir_user *u)
{
	char dir[PATH_MAX];

	return user_dir(u, dir, sizeof(dir));
}

/* ---- mailbox processes ---- */

static void
linger_cb(struct ev_timer *t)
{
	struct mbox *mb = t->arg;

	if (mb->nsess == 0 && mb->chan != NULL) {
		log_debug("closing idle mailbox process of %s", mb->name);
		ev_defer(master.loop, ipc_chan_free_cb, mb->chan);
		mb->chan = NULL;
	}
}

static struct mbox *
mbox_spawn(const struct dir_user *u)
{
	char dir[PATH_MAX];
	int chan;

	if (user_dir(u, dir, sizeof(dir)) == -1)
		return NULL;
	/* The spawner forks it, as u's uid, in dir: only the id and the
	 * name leave the master (never u's hash). */
	pid_t pid = spawn_mbox(u->id, u->name, &chan);
	if (pid == -1)
		return NULL;
	log_debug("mailbox process %d started for %s", (int)pid, u->name);
	return mbox_attach(pid, chan, u);
}

struct mbox *
mbox_attach(pid_t pid, int chan_fd, const struct dir_user *u)
{
	struct mbox *mb = xcalloc(1, sizeof(*mb));

	mb->pid = pid;
	mb->user_id = u->id;
	mk_strlcpy(mb->name, u->name, sizeof(mb->name));
	ev_timer_init(&mb->linger, linger_cb, mb);
	mb->chan = ipc_chan_new(master.loop, chan_fd, mbox_msg, mb);
	mb->next = mboxes;
	mboxes = mb;
	child_add(pid, CHILD_MBOX, mb);
	return mb;
}

static struct mbox *
mbox_for(const struct dir_user *u)
{
	for (struct mbox *mb = mboxes; mb; mb = mb->next)
		if (mb->chan != NULL && mb->user_id == u->id &&
		    strcmp(mb->name, u->name) == 0)
			return mb;
	return mbox_spawn(u);
}

/* ---- sessions ---- */

static uint64_t
new_session_id(void)
{
	uint64_t id = 0;

	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			fatal("getrandom");
	return id;
}

/* A session that is another user's process reaching this one: a guest
 * (a grantee at a shared mailbox) or a URLAUTH channel. */
static bool
is_channel(uint8_t method)
{
	return method == IPC_IMP_GUEST || method == IPC_IMP_URLAUTH;
}

/* A guest session (a grantee reaching a shared mailbox) acts as the
 * grantee with the grantee's rights: not an impersonation. */
static bool
is_impersonation(uint8_t method)
{
	return method != IPC_IMP_NONE && !is_channel(method) &&
	    method != IPC_IMP_DELIVERY;
}

static uint32_t
session_flags(const struct session_start *s)
{
	uint32_t f = 0;

	if (s->peer->tls)
		f |= IPC_SESS_TLS;
	if (s->peer->loopback)
		f |= IPC_SESS_LOOPBACK;
	if (s->authc_admin)
		f |= IPC_SESS_ADMIN;
	if (is_impersonation(s->method) && master.cfg.impersonation_no_seen)
		f |= IPC_SESS_NO_SEEN;
	return f;
}

/* One user's own sessions (logins, and administrators acting as the
 * user) are bounded: each holds descriptors and buffers in the user's
 * process, and a TLS one a relay process too.  Guest channels are not
 * counted against the owner: each is one of a grantee's sessions,
 * already counted for the grantee, and counting it here would let any
 * grantee lock the owner out. */
static bool
too_many_sessions(const struct mbox *mb, uint8_t method)
{
	unsigned n = 0;

	if (is_channel(method))
		return false;
	for (const struct session *se = mb->sessions; se; se = se->next)
		if (!is_channel(se->method))
			n++;
	return n >= master.cfg.max_sessions_per_user;
}

static uint64_t
quota_or_default(int64_t v, uint64_t dflt)
{
	return v < 0 ? dflt : (uint64_t)v;
}

/* An impersonation whose audit row could not be written: refused, as
 * the tagged answer to the command that asked for it (the master
 * writes it: no mailbox process was involved), then closed. */
static void
refuse_unaudited(const struct session_start *s)
{
	char line[IPC_IDENT_MAX + 160];
	int n = s->peer->proto == MK_PROTO_POP3 ?
	    snprintf(line, sizeof(line), "-ERR [SYS/TEMP] Impersonation "
	    "refused: the audit trail can't be written\r\n") :
	    snprintf(line, sizeof(line), "%s NO [UNAVAILABLE] %s refused: "
	    "the audit trail can't be written\r\n", s->tag[0] ? s->tag : "*",
	    s->okverb[0] ? s->okverb : "Impersonation");

	if (n > 0 && (size_t)n < sizeof(line))
		(void)!send(s->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(s->fd);
}

int
session_start(const struct session_start *s)
{
	uint64_t id = s->id != 0 ? s->id : new_session_id();
	bool audited = is_impersonation(s->method);
	struct mbox *mb;
	struct ipc_msg m;

	/* A user being moved gets no session of any kind (freeze.c): an
	 * LMTP recipient is then answered 451, a guest channel refused. */
	if (freeze_active(s->user->name)) {
		peer_refuse(s->fd, s->peer->proto, "[UNAVAILABLE] This user "
		    "is being moved, please try again later");
		peer_release(s->peer);
		return -1;
	}
	/* Fail closed: the trail is written before anything of the
	 * target's is touched (not even its process started); without the
	 * row there is no session.  PROXYAUTH wrote it before its OK. */
	if (audited && !s->audited && authz_audit_start(s->authcid,
	    s->user->name, s->method, s->peer->addr, id) != 0) {
		log_warnx("%s of %s as %s from %s refused: no audit row",
		    authz_method_name(s->method), s->authcid, s->user->name,
		    s->peer->addr);
		refuse_unaudited(s);
		peer_release(s->peer);
		return -1;
	}
	if ((mb = mbox_for(s->user)) == NULL) {
		if (audited)
			authz_audit_end(s->authcid, s->user->name, id);
		/* The session could not be placed: say so rather than just
		 * hang up. */
		peer_refuse(s->fd, s->peer->proto, "Internal error, please try "
		    "again later");
		peer_release(s->peer);
		return -1;
	}
	if (too_many_sessions(mb, s->method)) {
		log_info("%s: refused a session: max_sessions_per_user (%u) "
		    "reached", s->user->name, master.cfg.max_sessions_per_user);
		peer_refuse(s->fd, s->peer->proto, "Too many sessions for this "
		    "user");
		peer_release(s->peer);
		return -1;
	}
	struct session *se = xcalloc(1, sizeof(*se));
	se->id = id;
	se->mb = mb;
	se->audited = audited;
	mk_strlcpy(se->authcid, s->authcid, sizeof(se->authcid));
	se->method = s->method;
	se->peer = *s->peer;
	se->started = time(NULL);
	se->on_end = s->on_end;
	se->end_arg = s->end_arg;
	s->peer->rec = NULL;	/* the slot is the session's now */

	struct ipc_session is = {
		.id = se->id, .user_id = s->user->id, .user = s->user->name,
		.authcid = s->authcid, .method = s->method,
		.flags = session_flags(s), .client = se->peer.addr,
		.tag = s->tag, .okverb = s->okverb, .proto = s->peer->proto,
		.pending = s->pending, .npending = s->npending,
		.quota_storage = quota_or_default(s->user->quota_storage,
		    master.cfg.quota_storage),
		.quota_messages = quota_or_default(s->user->quota_messages,
		    master.cfg.quota_messages),
	};
	ipc_msg_init(&m, IPC_MBOX_SESSION);
	ipc_put_session(&m, &is);
	ipc_put_fd(&m, s->fd);

	se->next = mb->sessions;
	mb->sessions = se;
	mb->nsess++;
	nsessions_total++;
	ev_timer_stop(master.loop, &mb->linger);
	/* Unsendable (it cannot be: every field is bounded) or the process
	 * just went: the client's socket went with the message. */
	if (ipc_chan_send(mb->chan, &m) == -1) {
		log_warn("session for %s not passed", s->user->name);
		session_remove(se, false);
		return -1;
	}
	log_debug("session %016llx for %s from %s",
	    (unsigned long long)se->id, s->user->name, se->peer.addr);
	return 0;
}

unsigned
guest_channels_of(const char *grantee)
{
	unsigned n = 0;

	/* A guest session is a channel its grantee's process holds: the
	 * master's own record, whatever that process says. */
	for (struct mbox *mb = mboxes; mb; mb = mb->next)
		for (struct session *se = mb->sessions; se; se = se->next)
			if (is_channel(se->method) &&
			    strcmp(se->authcid, grantee) == 0)
				n++;
	return n;
}

static struct session *
session_find(struct mbox *mb, uint64_t id)
{
	for (struct session *se = mb->sessions; se; se = se->next)
		if (se->id == id)
			return se;
	return NULL;
}

/* Removes se from its process; the connection's slot is released unless
 * the connection lives on elsewhere (keep_conn). */
static void
session_remove(struct session *se, bool keep_conn)
{
	struct mbox *mb = se->mb;

	for (struct session **pp = &mb->sessions; *pp; pp = &(*pp)->next)
		if (*pp == se) {
			*pp = se->next;
			break;
		}
	mb->nsess--;
	nsessions_total--;
	if (se->audited)
		authz_audit_end(se->authcid, mb->name, se->id);
	/* PROXYAUTH said OK (its row is written) but the socket never came
	 * back: the row ends here, with no session behind it. */
	if (se->state == SS_PROXY_OK && !keep_conn)
		authz_audit_end(mb->name, se->proxy_target.name, se->proxy_id);
	if (!keep_conn)
		peer_release(&se->peer);
	if (se->on_end != NULL)
		se->on_end(se->end_arg);
	free(se);
	if (mb->nsess == 0 && mb->chan != NULL) {
		if (master.cfg.mailbox_linger == 0)
			linger_cb(&mb->linger);
		else
			ev_timer_start(master.loop, &mb->linger,
			    (uint64_t)master.cfg.mailbox_linger * 1000);
	}
}

/* The process is gone or unusable: every session it had has ended. */
static void
mbox_close(struct mbox *mb)
{
	if (mb->chan != NULL) {
		ev_defer(master.loop, ipc_chan_free_cb, mb->chan);
		mb->chan = NULL;
	}
	ev_timer_stop(master.loop, &mb->linger);
	if (mb->state_pending > 0) {
		mb->state_pending = 0;
		stats_state_lost(mb->pid);
	}
	while (mb->sessions)
		session_remove(mb->sessions, false);
}

static void
mbox_free_if_done(struct mbox *mb)
{
	if (mb->chan != NULL || !mb->reaped)
		return;
	for (struct mbox **pp = &mboxes; *pp; pp = &(*pp)->next)
		if (*pp == mb) {
			*pp = mb->next;
			break;
		}
	/* Deferred: an event of the current batch may still name it. */
	ev_defer(master.loop, free, mb);
}

void
mbox_violation(struct mbox *mb, const char *why)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s (user %s)", why, mb->name);
	child_kill(mb->pid, "mailbox process", msg);
	mbox_close(mb);
}

static void
on_session_end(struct mbox *mb, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	struct session *se;

	if (!ipc_end(r) || r->fd != -1 || (se = session_find(mb, id)) == NULL) {
		mbox_violation(mb, "bad SESSION_END");
		return;
	}
	session_remove(se, false);
}

static void
proxy_answer(struct mbox *mb, uint64_t id, enum ipc_auth_result res,
    const char *text)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_PROXYAUTH_RESULT);
	ipc_put_u64(&m, id);
	ipc_put_u8(&m, (uint8_t)res);
	ipc_put_str(&m, text);
	ipc_chan_send(mb->chan, &m);
}

static void proxy_decide(struct mbox *mb, struct session *se, uint64_t id,
    const char *target);

/* directory = ldap: PROXYAUTH waits until both rows hold what LDAP
 * says now (admin flags within ldap_cache_ttl; the target's row made
 * if it has none yet). */
struct proxy_wait {
	uint32_t user_id;
	uint64_t session;	/* also the request's id */
	char     target[IPC_IDENT_MAX + 1];
};

static void
proxy_refreshed(void *arg, bool ok)
{
	struct proxy_wait *w = arg;
	struct mbox *mb = mbox_running(w->user_id);
	struct session *se = mb != NULL && mb->chan != NULL ?
	    session_find(mb, w->session) : NULL;

	if (se != NULL && se->proxy_wait) {
		se->proxy_wait = false;
		if (ok)
			proxy_decide(mb, se, w->session, w->target);
		else
			proxy_answer(mb, w->session, IPC_AUTH_DIR_DOWN,
			    authz_result_text(IPC_AUTH_DIR_DOWN));
	}
	free(w);
}

static void
on_proxyauth(struct mbox *mb, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	const char *target = ipc_get_str(r);
	struct session *se;

	if (!ipc_end(r) || r->fd != -1 || (se = session_find(mb, id)) == NULL ||
	    se->state != SS_ACTIVE || se->method != IPC_IMP_NONE ||
	    se->proxy_wait) {
		mbox_violation(mb, "bad PROXYAUTH");
		return;
	}
	if (ldapdir_enabled()) {
		struct proxy_wait *w = xcalloc(1, sizeof(*w));
		w->user_id = mb->user_id;
		w->session = id;
		mk_strlcpy(w->target, target, sizeof(w->target));
		se->proxy_wait = true;
		ldapusers_refresh(mb->name, target, true, proxy_refreshed, w);
		return;
	}
	proxy_decide(mb, se, id, target);
}

static void
proxy_decide(struct mbox *mb, struct session *se, uint64_t id,
    const char *target)
{
	/* The admin is this process's user as the master knows it. */
	enum ipc_auth_result res = authz_proxy(mb->name, target,
	    &se->proxy_target);
	const char *text = authz_result_text(res);
	char referral[512];

	/* A target on another backend: no session here (doc/cluster.md). */
	if (res == IPC_AUTH_OK && authz_proxy_referral(mb->name,
	    &se->proxy_target, referral, sizeof(referral))) {
		proxy_answer(mb, id, IPC_AUTH_REFERRAL, referral);
		return;
	}
	/* Fail closed, and before the OK: the target session's audit row
	 * is written now, so a directory that can't take it leaves the
	 * administrator's session as it was, with a NO. */
	if (res == IPC_AUTH_OK) {
		se->proxy_id = new_session_id();
		if (authz_audit_start(mb->name, se->proxy_target.name,
		    IPC_IMP_PROXYAUTH, se->peer.addr, se->proxy_id) != 0) {
			log_warnx("PROXYAUTH by %s to %s refused: no audit row",
			    mb->name, se->proxy_target.name);
			res = IPC_AUTH_UNAVAILABLE;
			text = "The audit trail can't be written; PROXYAUTH "
			    "refused.";
		} else
			se->state = SS_PROXY_OK;
	}
	proxy_answer(mb, id, res, text);
}

static void
on_handback(struct mbox *mb, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	const char *tag = ipc_get_str(r);
	size_t npending;
	const uint8_t *pending = ipc_get_bytes(r, &npending);
	struct session *se;

	if (!ipc_end(r) || (r->fd == -1 && !r->fd_lost) ||
	    npending > IPC_MAX_PENDING || strlen(tag) > IPC_IDENT_MAX ||
	    (se = session_find(mb, id)) == NULL || se->state != SS_PROXY_OK) {
		mbox_violation(mb, "bad HANDBACK");
		return;
	}
	if (r->fd_lost) {
		/* The master is out of descriptors: this connection is lost
		 * (the sender let go of it), not the process that sent it. */
		log_warnx("PROXYAUTH: %s's session %016llx: the connection "
		    "could not be received (too many open files)", mb->name,
		    (unsigned long long)id);
		session_remove(se, false);
		return;
	}
	if (!peer_matches(r->fd, &se->peer)) {
		mbox_violation(mb, "handed back a socket that is not the session's");
		return;
	}
	struct dir_user target = se->proxy_target;
	struct peer peer = se->peer;
	struct session_start s = {
		.user = &target, .authcid = mb->name, .authc_admin = true,
		.method = IPC_IMP_PROXYAUTH, .okverb = "PROXYAUTH", .tag = tag,
		.pending = pending, .npending = npending, .peer = &peer,
		.fd = ipc_take_fd(r), .id = se->proxy_id, .audited = true,
	};
	log_info("PROXYAUTH: %s's session %016llx continues as %s",
	    mb->name, (unsigned long long)id, target.name);
	/* The connection is not over: its slot moves to the new session
	 * (and the audit row written at the OK with it). */
	session_remove(se, true);
	session_start(&s);
}

/* UNAUTHENTICATE: the session ends here and its connection, slot and
 * all, goes to a new login process, as if just accepted but without a
 * greeting.  Nothing of the session follows it: the login process
 * starts from the spawner's clean memory and the master's record of
 * who authenticated went with the session. */
static void
on_unauth(struct mbox *mb, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	size_t npending;
	const uint8_t *pending = ipc_get_bytes(r, &npending);
	struct session *se;

	if (!ipc_end(r) || (r->fd == -1 && !r->fd_lost) ||
	    npending > IPC_MAX_PENDING ||
	    (se = session_find(mb, id)) == NULL || se->state != SS_ACTIVE ||
	    !is_client_session(se) || se->peer.proto != MK_PROTO_IMAP) {
		mbox_violation(mb, "bad UNAUTH");
		return;
	}
	if (r->fd_lost) {
		log_warnx("UNAUTHENTICATE: %s's session %016llx: the connection "
		    "could not be received (too many open files)", mb->name,
		    (unsigned long long)id);
		session_remove(se, false);
		return;
	}
	if (!peer_matches(r->fd, &se->peer)) {
		mbox_violation(mb, "gave back a socket that is not the session's");
		return;
	}
	struct peer peer = se->peer;
	struct login_resume res = {
		.relayed = peer.link != 0, .pending = pending,
		.npending = npending,
	};
	log_info("UNAUTHENTICATE: %s's session %016llx goes back to login",
	    mb->name, (unsigned long long)id);
	session_remove(se, true);
	login_resume(ipc_take_fd(r), &peer, &res);
	/* What was pipelined may be a LOGIN with its password. */
	explicit_bzero((void *)(uintptr_t)r->p, r->len);
}

/* Answers only what was asked (a count per process): an unasked or
 * malformed one is a violation. */
static void
on_state(struct mbox *mb, struct ipc_reader *r)
{
	uint64_t req = ipc_get_u64(r);

	if (r->fd != -1 || mb->state_pending == 0 ||
	    !stats_state_answer(mb, req, r)) {
		mbox_violation(mb, "bad STATE");
		return;
	}
	mb->state_pending--;
}

static void
mbox_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg)
{
	struct mbox *mb = arg;

	(void)c;
	if (mb->chan == NULL)
		return;
	if (r == NULL) {
		if (mb->nsess > 0 && !master.stopping)
			log_warnx("mailbox process of %s closed its channel "
			    "with %u sessions", mb->name, mb->nsess);
		mbox_close(mb);
		mbox_free_if_done(mb);
		return;
	}
	if (r->bad) {
		mbox_violation(mb, "malformed message");
		return;
	}
	switch (r->type) {
	case IPC_MBOX_SESSION_END:
		on_session_end(mb, r);
		break;
	case IPC_MBOX_PROXYAUTH:
		on_proxyauth(mb, r);
		break;
	case IPC_MBOX_HANDBACK:
		on_handback(mb, r);
		break;
	case IPC_MBOX_UNAUTH:
		on_unauth(mb, r);
		break;
	case IPC_MBOX_SETQUOTA:
		req_setquota(mb, r);
		break;
	case IPC_MBOX_SHARE:
		req_share(mb, r);
		break;
	case IPC_MBOX_SHARES:
		mb->shares_told = false;
		req_shares(mb, r);
		break;
	case IPC_MBOX_GUEST_OPEN:
		req_guest_open(mb, r, false);
		break;
	case IPC_MBOX_URL_OPEN:
		req_guest_open(mb, r, true);
		break;
	case IPC_MBOX_STATE:
		on_state(mb, r);
		break;
	default:
		mbox_violation(mb, "unexpected message");
		break;
	}
}

/* ---- for requests.c ---- */

const char *mbox_user(const struct mbox *mb) { return mb->name; }
uint32_t mbox_user_id(const struct mbox *mb) { return mb->user_id; }

bool
mbox_has_session(struct mbox *mb, uint64_t id)
{
	return session_find(mb, id) != NULL;
}

int
mbox_session_method(struct mbox *mb, uint64_t id)
{
	struct session *se = session_find(mb, id);

	return se == NULL ? -1 : se->method;
}

/* -1 if the message could not be queued (the process is gone, or the
 * message is too large): the caller's request failed, the channel is
 * as it was. */
int
mbox_send(struct mbox *mb, struct ipc_msg *m)
{
	if (mb->chan == NULL) {
		ipc_msg_free(m);
		return -1;
	}
	return ipc_chan_send(mb->chan, m);
}

/* One notice per process until it asks again, however many changes:
 * a user who toggles a grant to "anyone" in a loop costs the master a
 * walk of its list per change, not a message to every process. */
void
mbox_shares_stale(struct mbox *mb)
{
	struct ipc_msg m;

	if (mb->shares_told || mb->chan == NULL)
		return;
	ipc_msg_init(&m, IPC_MBOX_SHARES_STALE);
	/* A process whose queue is full reads nothing any more: it is
	 * told at the next change after it reads (ipc_chan_send() logs
	 * the episode). */
	if (ipc_chan_send(mb->chan, &m) == 0)
		mb->shares_told = true;
}

size_t
mbox_queued(const struct mbox *mb)
{
	return mb->chan != NULL ? ipc_chan_queued(mb->chan) : 0;
}

struct mbox *
mbox_running(uint32_t user_id)
{
	for (struct mbox *mb = mboxes; mb; mb = mb->next)
		if (mb->chan != NULL && mb->user_id == user_id)
			return mb;
	return NULL;
}

void
mboxes_foreach(void (*cb)(struct mbox *mb, void *arg), void *arg)
{
	for (struct mbox *mb = mboxes; mb; mb = mb->next)
		if (mb->chan != NULL)
			cb(mb, arg);
}

/* ---- for control.c and stats.c ---- */

pid_t mbox_pid(const struct mbox *mb) { return mb->pid; }
unsigned mbox_nsess(const struct mbox *mb) { return mb->nsess; }

int
mbox_state_ask(struct mbox *mb, uint64_t req)
{
	struct ipc_msg m;

	if (mb->chan == NULL || mb->state_pending >= MBOX_STATE_PENDING)
		return -1;
	ipc_msg_init(&m, IPC_MBOX_STATE_REQ);
	ipc_put_u64(&m, req);
	if (ipc_chan_send(mb->chan, &m) == -1)
		return -1;
	mb->state_pending++;
	return 0;
}

static bool
is_client_session(const struct session *se)
{
	return !is_channel(se->method) && se->method != IPC_IMP_DELIVERY;
}

void
sessions_foreach(void (*cb)(const struct session_info *si, void *arg),
    void *arg)
{
	for (struct mbox *mb = mboxes; mb; mb = mb->next)
		for (struct session *se = mb->sessions; se; se = se->next) {
			if (mb->chan == NULL || !is_client_session(se))
				continue;
			struct session_info si = {
				.id = se->id, .user = mb->name,
				.authcid = se->authcid, .method = se->method,
				.addr = se->peer.addr, .tls = se->peer.tls,
				.pid = mb->pid, .started = se->started,
			};
			cb(&si, arg);
		}
}

unsigned
sessions_kick(const char *user, const char *text)
{
	unsigned n = 0;

	for (struct mbox *mb = mboxes; mb; mb = mb->next)
		for (struct session *se = mb->sessions; se; se = se->next) {
			if (mb->chan == NULL || !is_client_session(se) ||
			    (strcmp(mb->name, user) != 0 &&
			    strcmp(se->authcid, user) != 0))
				continue;
			struct ipc_msg m;
			ipc_msg_init(&m, IPC_MBOX_KICK);
			ipc_put_u64(&m, se->id);
			ipc_put_str(&m, text);
			if (ipc_chan_send(mb->chan, &m) == 0)
				n++;
		}
	return n;
}

void
sessions_exited(void *obj, int status)
{
	struct mbox *mb = obj;

	(void)status;	/* children.c logged it */
	mb->reaped = true;
	mbox_close(mb);
	mbox_free_if_done(mb);
}

void
sessions_stop(void)
{
	for (struct mbox *mb = mboxes; mb; mb = mb->next)
		mbox_close(mb);
}
