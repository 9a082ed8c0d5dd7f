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
 * Anything else, or a malformed message, kills the process.
 */
#include "daemon/master/master.h"
#include "daemon/mailbox/mailbox.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
	struct dir_user  proxy_target;	/* SS_PROXY_OK */
	struct peer      peer;		/* holds the connection's slot */
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
	struct mbox     *next;
};

static struct mbox *mboxes;
static size_t nsessions_total;

static void mbox_msg(struct ipc_chan *c, struct ipc_reader *r, void *arg);

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

static uid_t fix_uid;

static int
fix_owner(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (st->st_uid != fix_uid && lchown(path, fix_uid, fix_uid) == -1)
		log_warn("chown %s", path);
	return 0;
}

/* data_dir/users/<name>, 0700, owned by the user's uid.  A directory left
 * by an earlier user of that name (userdel --keep-mail) is handed over to
 * the new uid. */
static int
user_dir(const struct dir_user *u, char *out, size_t outlen)
{
	char rel[MK_USER_MAX + 16];
	uid_t uid = master.cfg.mail_uid_base + u->id;
	struct stat st;

	snprintf(rel, sizeof(rel), "users/%s", u->name);
	if (config_path(&master.cfg, out, outlen, rel) == -1) {
		log_warnx("path of %s's directory is too long", u->name);
		return -1;
	}
	if (mkdir(out, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", out);
		return -1;
	}
	if (lstat(out, &st) == -1 || !S_ISDIR(st.st_mode)) {
		log_warnx("%s is not a directory", out);
		return -1;
	}
	if (master.root && st.st_uid != uid) {
		fix_uid = uid;
		if (nftw(out, fix_owner, 16, FTW_PHYS) == -1) {
			log_warn("chown %s", out);
			return -1;
		}
	}
	if ((st.st_mode & 07777) != 0700 && chmod(out, 0700) == -1)
		log_warn("chmod %s", out);
	return 0;
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

/* The session could not be placed: say so rather than just hang up. */
static void
refuse(int fd)
{
	static const char bye[] = "* BYE Internal error, please try again later\r\n";

	(void)!send(fd, bye, sizeof(bye) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

/* A guest session (a grantee reaching a shared mailbox) acts as the
 * grantee with the grantee's rights: not an impersonation. */
static bool
is_impersonation(uint8_t method)
{
	return method != IPC_IMP_NONE && method != IPC_IMP_GUEST;
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

static uint64_t
quota_or_default(int64_t v, uint64_t dflt)
{
	return v < 0 ? dflt : (uint64_t)v;
}

int
session_start(const struct session_start *s)
{
	struct mbox *mb = mbox_for(s->user);
	struct ipc_msg m;

	if (mb == NULL) {
		refuse(s->fd);
		peer_release(s->peer);
		return -1;
	}
	struct session *se = xcalloc(1, sizeof(*se));
	se->id = new_session_id();
	se->mb = mb;
	mk_strlcpy(se->authcid, s->authcid, sizeof(se->authcid));
	se->method = s->method;
	se->peer = *s->peer;
	s->peer->rec = NULL;	/* the slot is the session's now */

	struct ipc_session is = {
		.id = se->id, .user_id = s->user->id, .user = s->user->name,
		.authcid = s->authcid, .method = s->method,
		.flags = session_flags(s), .client = se->peer.addr,
		.tag = s->tag, .okverb = s->okverb,
		.pending = s->pending, .npending = s->npending,
		.quota_storage = quota_or_default(s->user->quota_storage,
		    master.cfg.quota_storage),
		.quota_messages = quota_or_default(s->user->quota_messages,
		    master.cfg.quota_messages),
	};
	/* The trail is written before the session can do anything. */
	if (is_impersonation(s->method)) {
		se->audited = true;
		authz_audit_start(s->authcid, s->user->name, s->method,
		    se->peer.addr, se->id);
	}
	ipc_msg_init(&m, IPC_MBOX_SESSION);
	ipc_put_session(&m, &is);
	ipc_put_fd(&m, s->fd);
	ipc_chan_send(mb->chan, &m);

	se->next = mb->sessions;
	mb->sessions = se;
	mb->nsess++;
	nsessions_total++;
	ev_timer_stop(master.loop, &mb->linger);
	log_debug("session %016llx for %s from %s",
	    (unsigned long long)se->id, s->user->name, se->peer.addr);
	return 0;
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
	if (!keep_conn)
		peer_release(&se->peer);
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
on_proxyauth(struct mbox *mb, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	const char *target = ipc_get_str(r);
	struct session *se;
	struct ipc_msg m;

	if (!ipc_end(r) || r->fd != -1 || (se = session_find(mb, id)) == NULL ||
	    se->state != SS_ACTIVE || se->method != IPC_IMP_NONE) {
		mbox_violation(mb, "bad PROXYAUTH");
		return;
	}
	/* The admin is this process's user as the master knows it. */
	enum ipc_auth_result res = authz_proxy(mb->name, target,
	    &se->proxy_target);
	if (res == IPC_AUTH_OK)
		se->state = SS_PROXY_OK;
	ipc_msg_init(&m, IPC_MBOX_PROXYAUTH_RESULT);
	ipc_put_u64(&m, id);
	ipc_put_u8(&m, (uint8_t)res);
	ipc_put_str(&m, authz_result_text(res));
	ipc_chan_send(mb->chan, &m);
}

static void
on_handback(struct mbox *mb, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	const char *tag = ipc_get_str(r);
	size_t npending;
	const uint8_t *pending = ipc_get_bytes(r, &npending);
	struct session *se;

	if (!ipc_end(r) || r->fd == -1 || npending > IPC_MAX_PENDING ||
	    (se = session_find(mb, id)) == NULL || se->state != SS_PROXY_OK) {
		mbox_violation(mb, "bad HANDBACK");
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
		.fd = ipc_take_fd(r),
	};
	log_info("PROXYAUTH: %s's session %016llx continues as %s",
	    mb->name, (unsigned long long)id, target.name);
	/* The connection is not over: its slot moves to the new session. */
	session_remove(se, true);
	session_start(&s);
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
	case IPC_MBOX_SETQUOTA:
		req_setquota(mb, r);
		break;
	case IPC_MBOX_SHARE:
		req_share(mb, r);
		break;
	case IPC_MBOX_SHARES:
		req_shares(mb, r);
		break;
	case IPC_MBOX_GUEST_OPEN:
		req_guest_open(mb, r);
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

void
mbox_send(struct mbox *mb, struct ipc_msg *m)
{
	if (mb->chan == NULL) {
		ipc_msg_free(m);
		return;
	}
	ipc_chan_send(mb->chan, m);
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
