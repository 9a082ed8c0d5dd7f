/*
 * requests.c - what a mailbox process may ask of the master beyond its
 * sessions: setting quota limits (admins only), keeping the share index,
 * listing what others share with its user, and a channel to a sharing
 * user's mailbox process.
 *
 * Every decision uses the master's own record of which user a process
 * serves (mbox_user()), never a name the process sends about itself: a
 * compromised mailbox process can only share its own user's mail, and
 * reaches another user's process only where that user's ACL, as copied
 * into the directory's share index, grants its user something.  The
 * owner's process then enforces the ACL itself for every command.
 */
#include "daemon/master/master.h"
#include "store/store.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- quota ---- */

static void
push_quota(struct mbox *mb, const struct dir_user *u)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_QUOTA);
	ipc_put_u64(&m, u->quota_storage < 0 ? master.cfg.quota_storage :
	    (uint64_t)u->quota_storage);
	ipc_put_u64(&m, u->quota_messages < 0 ? master.cfg.quota_messages :
	    (uint64_t)u->quota_messages);
	mbox_send(mb, &m);
}

static void
setquota_answer(struct mbox *mb, uint64_t id, enum ipc_req_result res,
    const char *text)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_SETQUOTA_RESULT);
	ipc_put_u64(&m, id);
	ipc_put_u8(&m, (uint8_t)res);
	ipc_put_str(&m, text);
	mbox_send(mb, &m);
}

void
req_setquota(struct mbox *mb, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	const char *target = ipc_get_str(r);
	bool has_storage = ipc_get_u8(r) != 0;
	uint64_t storage = ipc_get_u64(r);
	bool has_messages = ipc_get_u8(r) != 0;
	uint64_t messages = ipc_get_u64(r);
	struct dir_user admin, u;
	struct mbox *tmb;
	int rc;

	if (!ipc_end(r) || r->fd != -1 || !mbox_has_session(mb, id) ||
	    storage > INT64_MAX || messages > INT64_MAX) {
		mbox_violation(mb, "bad SETQUOTA");
		return;
	}
	if (target[0] == '\0')
		target = mbox_user(mb);
	/* Limits set here would be overwritten by LDAP's at the next login:
	 * they are edited in the directory. */
	if (ldapdir_enabled()) {
		setquota_answer(mb, id, IPC_REQ_DENIED, "Quotas come from the "
		    "LDAP directory; change them there");
		return;
	}
	/* The admin is the process's user, and only in a session where that
	 * user logged in as themself: not a guest's, not an impersonation. */
	if (mbox_session_method(mb, id) != IPC_IMP_NONE) {
		log_warnx("SETQUOTA for %s refused: session %016llx in %s's "
		    "process is not %s's own login", target,
		    (unsigned long long)id, mbox_user(mb), mbox_user(mb));
		setquota_answer(mb, id, IPC_REQ_DENIED,
		    "SETQUOTA is for administrators only");
		return;
	}
	rc = dir_user_get(master.dir, mbox_user(mb), &admin);
	/* No password is checked here: the hashes go at once. */
	dir_user_forget_hash(&admin);
	if (rc != 0 || !admin.admin) {
		log_warnx("SETQUOTA for %s by %s refused: not an administrator",
		    target, mbox_user(mb));
		setquota_answer(mb, id, IPC_REQ_DENIED,
		    "SETQUOTA is for administrators only");
		return;
	}
	rc = dir_user_get(master.dir, target, &u);
	dir_user_forget_hash(&u);
	if (rc != 0) {
		setquota_answer(mb, id, rc == MK_NOTFOUND ? IPC_REQ_NOTFOUND :
		    IPC_REQ_FAILED, rc == MK_NOTFOUND ? "No such user" :
		    "Directory unavailable");
		return;
	}
	/* A resource not named becomes unlimited (0), as RFC 9208 says a
	 * SETQUOTA replaces the root's limits. */
	u.quota_storage = has_storage ? (int64_t)storage : 0;
	u.quota_messages = has_messages ? (int64_t)messages : 0;
	if (dir_user_set_quota(master.dir, u.name, u.quota_storage,
	    u.quota_messages) != 0) {
		setquota_answer(mb, id, IPC_REQ_FAILED, "Directory unavailable");
		return;
	}
	log_info("quota of %s set by %s: storage %lld KiB, messages %lld "
	    "(0 = unlimited)", u.name, admin.name, (long long)u.quota_storage,
	    (long long)u.quota_messages);
	if ((tmb = mbox_running(u.id)) != NULL)
		push_quota(tmb, &u);
	setquota_answer(mb, id, IPC_REQ_OK, "SETQUOTA completed");
}

static void
push_one(struct mbox *mb, void *arg)
{
	struct dir_user u;

	(void)arg;
	if (dir_user_get_by_id(master.dir, mbox_user_id(mb), &u) == 0)
		push_quota(mb, &u);
	dir_user_forget_hash(&u);
}

void
req_quota_push_all(void)
{
	mboxes_foreach(push_one, NULL);
}

/* ---- the share index ---- */

static bool
rights_valid(const char *s)
{
	return strspn(s, "lrswipkxteacd") == strlen(s) && strlen(s) <= 16;
}

static void
share_done(struct mbox *mb, enum ipc_req_result res)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_SHARE_DONE);
	ipc_put_u8(&m, (uint8_t)res);
	mbox_send(mb, &m);
}

/* A grantee as the owner's process canonicalized it: "anyone" or a
 * valid, already folded user name. */
static bool
grantee_valid(const char *g)
{
	char canon[MK_USER_MAX];
	const char *why;

	if (strcmp(g, "anyone") == 0)
		return true;
	return dir_name_canon(g, canon, sizeof(canon), &why) &&
	    strcmp(canon, g) == 0;
}

bool
share_entry_valid(const char *mailbox, const char *grantee,
    const char *rights)
{
	char canon[MK_MBOX_NAME_MAX];

	return store_mbox_canon(mailbox, canon, sizeof(canon)) == 0 &&
	    strcmp(canon, mailbox) == 0 && grantee_valid(grantee) &&
	    rights_valid(rights);
}

enum ipc_req_result
share_index_set(uint32_t owner_id, const char *owner, const char *mailbox,
    const char *grantee, const char *rights)
{
	unsigned n[2];
	bool exists;

	/* The bounds hold for the index whatever the owner's process does
	 * (it checks them itself first, to answer SETACL before writing). */
	if (rights[0] != '\0') {
		if (dir_share_count(master.dir, owner_id, mailbox, grantee, n,
		    &exists) != 0) {
			log_warnx("share index: %s", dir_errmsg(master.dir));
			return IPC_REQ_FAILED;
		}
		if (!exists && (n[0] >= master.cfg.acl_max_shares_per_user ||
		    n[1] >= master.cfg.acl_max_entries_per_mailbox)) {
			log_warnx("share index: %s may not grant %s on %s: %u "
			    "entries on it, %u in all (acl_max_entries_per_"
			    "mailbox %u, acl_max_shares_per_user %u)",
			    owner, grantee, mailbox, n[1], n[0],
			    master.cfg.acl_max_entries_per_mailbox,
			    master.cfg.acl_max_shares_per_user);
			return IPC_REQ_LIMIT;
		}
	}
	if (dir_share_set(master.dir, owner_id, mailbox, grantee,
	    rights) != 0) {
		log_warnx("share index: %s", dir_errmsg(master.dir));
		return IPC_REQ_FAILED;
	}
	shares_stale(grantee);
	log_info("share index: %s grants %s \"%s\" on %s", owner, grantee,
	    rights, mailbox);
	return IPC_REQ_OK;
}

static void
stale_one(struct mbox *mb, void *arg)
{
	const char *grantee = arg;

	if (grantee == NULL || strcasecmp(mbox_user(mb), grantee) == 0)
		mbox_shares_stale(mb);
}

/* The user processes keep the list SHARES gave them until told it is
 * stale (daemon/mailbox/proxy.c): every change to what dir_shares_for()
 * answers reaches here.  grantee NULL (a user's whole set of shares
 * went, or the directory was written by another program) or "anyone"
 * tells every process. */
void
shares_stale(const char *grantee)
{
	if (grantee != NULL && strcmp(grantee, "anyone") == 0)
		grantee = NULL;
	mboxes_foreach(stale_one, (void *)grantee);
}

/* Other programs (mailkeepctl acl, userdel, restore, move) change the
 * share index, and the users it names, without the master: their
 * commits move the directory's data_version, looked at once a second,
 * so a running process lists their change within that. */
#define SHARES_WATCH_MS 1000

static struct ev_timer shares_watch;
static int64_t         dir_version;

static void
shares_watch_cb(struct ev_timer *t)
{
	int64_t v;

	if (dir_data_version(master.dir, &v) == 0 && v != dir_version) {
		dir_version = v;
		shares_stale(NULL);
	}
	ev_timer_start(master.loop, t, SHARES_WATCH_MS);
}

void
shares_watch_start(void)
{
	ev_timer_init(&shares_watch, shares_watch_cb, NULL);
	if (dir_data_version(master.dir, &dir_version) != 0)
		log_warnx("share index: %s", dir_errmsg(master.dir));
	ev_timer_start(master.loop, &shares_watch, SHARES_WATCH_MS);
}

void
shares_watch_stop(void)
{
	ev_timer_stop(master.loop, &shares_watch);
}

void
req_share(struct mbox *mb, struct ipc_reader *r)
{
	const char *mailbox = ipc_get_str(r);
	const char *grantee = ipc_get_str(r);
	const char *rights = ipc_get_str(r);

	/* The owner's process sends only names its store accepted: one
	 * that is not (too long, control characters) is a lie. */
	if (!ipc_end(r) || r->fd != -1 ||
	    !share_entry_valid(mailbox, grantee, rights)) {
		mbox_violation(mb, "bad SHARE");
		return;
	}
	/* The owner is the process's user as the master knows it.  On a
	 * failure the owner undoes its ACL change and says NO, so the ACL
	 * and the index keep agreeing (fail closed). */
	enum ipc_req_result res = share_index_set(mbox_user_id(mb),
	    mbox_user(mb), mailbox, grantee, rights);
	if (res == IPC_REQ_OK)
		cluster_share_changed(mbox_user(mb), mailbox, grantee, rights);
	share_done(mb, res);
}

/* The answer to SHARES goes in pages: however many mailboxes others
 * share, and however long their names, no message comes near the
 * socket's limit (ipc.h, IPC_PAGE_MAX). */
struct share_list {
	struct mbox   *mb;
	uint64_t       id;
	struct ipc_msg m;	/* the page being filled: entries only */
	uint32_t       n;
	unsigned       pages;
	uint32_t       total;
	bool           failed;
	bool           truncated;
};

static void
page_send(struct share_list *l, enum ipc_shares_more more)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_SHARES_RESULT);
	ipc_put_u64(&m, l->id);
	ipc_put_u8(&m, (uint8_t)more);
	ipc_put_u32(&m, l->n);
	/* the entries, without the page buffer's own header */
	if (buf_add(&m.b, buf_ptr(&l->m.b) + 8, buf_len(&l->m.b) - 8) == -1)
		m.toobig = true;
	if (mbox_send(l->mb, &m) == -1)
		l->failed = true;
	ipc_msg_free(&l->m);
	ipc_msg_init(&l->m, IPC_MBOX_SHARES_RESULT);
	l->n = 0;
	l->pages++;
}

static int
add_share(const char *owner, const char *mailbox, const char *rights,
    void *arg)
{
	struct share_list *l = arg;

	/* The index holds only what req_share() let in; a row that is
	 * longer anyway (an older index) is left out, not sent. */
	if (strlen(owner) >= MK_USER_MAX || strlen(mailbox) >= IPC_MBOX_MAX ||
	    strlen(rights) > 16) {
		log_warnx("share index: entry of %s on a %zu-byte name skipped",
		    owner, strlen(mailbox));
		return 0;
	}
	if (buf_len(&l->m.b) >= IPC_PAGE_MAX) {
		/* The pages all wait in the channel until the process reads
		 * them; its queue is bounded (IPC_QUEUE_MAX).  Stop with
		 * room left for the last page, so the answer always ends. */
		if (mbox_queued(l->mb) + 3 * IPC_MAX_MSG > IPC_QUEUE_MAX) {
			l->truncated = true;
			return 1;
		}
		page_send(l, IPC_SHARES_MORE);
	}
	if (l->failed)
		return 1;
	ipc_put_str(&l->m, owner);
	ipc_put_str(&l->m, mailbox);
	ipc_put_str(&l->m, rights);
	l->n++;
	l->total++;
	return 0;
}

void
req_shares(struct mbox *mb, struct ipc_reader *r)
{
	struct share_list l = { .mb = mb, .n = 0 };

	l.id = ipc_get_u64(r);
	if (!ipc_end(r) || r->fd != -1) {
		mbox_violation(mb, "bad SHARES");
		return;
	}
	ipc_msg_init(&l.m, IPC_MBOX_SHARES_RESULT);
	if (dir_shares_for(master.dir, mbox_user(mb), add_share, &l) < 0)
		log_warnx("share index: %s", dir_errmsg(master.dir));
	/* The last page, possibly empty, ends the answer; after a page
	 * that could not go, an empty one still does, so the asking
	 * session gets an answer (shorter) rather than none. */
	if (l.failed) {
		ipc_msg_free(&l.m);
		ipc_msg_init(&l.m, IPC_MBOX_SHARES_RESULT);
		l.n = 0;
	}
	page_send(&l, l.failed || l.truncated ? IPC_SHARES_CUT :
	    IPC_SHARES_LAST);
	ipc_msg_free(&l.m);
	/* A page that could not go was logged by ipc_chan_send() (once
	 * per episode of a full queue: a process that asks without
	 * reading does not flood the log). */
	if (l.truncated && !l.failed) {
		static time_t said;	/* at most a line a minute */
		time_t now = time(NULL);
		if (now - said >= 60) {
			said = now;
			log_warnx("share list of %s cut at %u entries: its "
			    "process has not read what it asked before",
			    mbox_user(mb), l.total);
		}
	} else if (l.pages > 1)
		log_debug("share list of %s: %u pages", mbox_user(mb), l.pages);
}

/* ---- a channel to a sharing user's process ---- */

void
guest_answer(struct mbox *mb, uint64_t id, enum ipc_req_result res, int fd,
    bool url)
{
	struct ipc_msg m;

	if (mb == NULL) {	/* the grantee's process went meanwhile */
		if (fd != -1)
			close(fd);
		return;
	}
	ipc_msg_init(&m, url ? IPC_MBOX_URL_RESULT : IPC_MBOX_GUEST_RESULT);
	ipc_put_u64(&m, id);
	ipc_put_u8(&m, (uint8_t)res);
	if (fd != -1)
		ipc_put_fd(&m, fd);
	mbox_send(mb, &m);
}

/* A guest channel, or (url) a URLAUTH one: the same but for who may
 * have one (the token is the URL's authority, and the owner's process
 * takes nothing but URLFETCH on it) and the session's method. */
void
req_guest_open(struct mbox *mb, struct ipc_reader *r, bool url)
{
	uint64_t id = ipc_get_u64(r);
	const char *owner = ipc_get_str(r);
	char canon[MK_USER_MAX];
	const char *why;
	struct dir_user u;
	struct peer none;
	unsigned open;
	int sp[2], rc;

	if (!ipc_end(r) || r->fd != -1) {
		mbox_violation(mb, url ? "bad URL_OPEN" : "bad GUEST_OPEN");
		return;
	}
	/* Names are folded as logins are: "ALICE" is alice, one owner. */
	if (!dir_name_canon(owner, canon, sizeof(canon), &why)) {
		guest_answer(mb, id, IPC_REQ_NOTFOUND, -1, url);
		return;
	}
	/* Each channel is a session and a descriptor in the owner's process
	 * and in this one: a process may hold only so many, so no grantee
	 * can run an owner's process out of descriptors by asking again and
	 * again (the cap counts the master's own record of the sessions). */
	if ((open = guest_channels_of(mbox_user(mb)) +
	    cluster_streams_of(mbox_user(mb))) >=
	    master.cfg.max_guest_channels) {
		log_warnx("%s asked for a channel to %s's mailboxes with %u "
		    "open (max_guest_channels): refused", mbox_user(mb), canon,
		    open);
		guest_answer(mb, id, IPC_REQ_LIMIT, -1, url);
		return;
	}
	rc = dir_user_get(master.dir, canon, &u);
	dir_user_forget_hash(&u);
	if (rc != 0) {
		guest_answer(mb, id, rc == MK_NOTFOUND ? IPC_REQ_NOTFOUND :
		    IPC_REQ_FAILED, -1, url);
		return;
	}
	rc = u.id == mbox_user_id(mb) ? 0 : url ? 1 :
	    dir_share_exists(master.dir, u.id, mbox_user(mb));
	if (rc != 1) {
		log_warnx("%s asked for %s's mailboxes, which share nothing "
		    "with them: refused", mbox_user(mb), u.name);
		guest_answer(mb, id, rc == 0 ? IPC_REQ_DENIED : IPC_REQ_FAILED,
		    -1, url);
		return;
	}
	/* The owner lives on another backend: its master decides again,
	 * by its own index, and its owner's process by the ACL. */
	if (!config_backend_local(&master.cfg, u.backend)) {
		cluster_guest_remote(mb, id, &u, url);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		guest_answer(mb, id, IPC_REQ_FAILED, -1, url);
		return;
	}
	/* An internal channel holds no client connection slot. */
	memset(&none, 0, sizeof(none));
	mk_strlcpy(none.addr, "internal", sizeof(none.addr));
	struct session_start s = {
		.user = &u, .authcid = mbox_user(mb), .authc_admin = false,
		.method = url ? IPC_IMP_URLAUTH : IPC_IMP_GUEST,
		.okverb = "", .tag = "",
		.peer = &none, .fd = sp[0],
	};
	if (session_start(&s) != 0) {
		close(sp[1]);
		guest_answer(mb, id, IPC_REQ_FAILED, -1, url);
		return;
	}
	log_info("%s opened a channel to %s's %s", mbox_user(mb), u.name,
	    url ? "URLAUTH URLs" : "shared mailboxes");
	guest_answer(mb, id, IPC_REQ_OK, sp[1], url);
}
