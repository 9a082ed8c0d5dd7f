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
#include <sys/socket.h>
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

void
req_share(struct mbox *mb, struct ipc_reader *r)
{
	const char *mailbox = ipc_get_str(r);
	const char *grantee = ipc_get_str(r);
	const char *rights = ipc_get_str(r);
	struct ipc_msg m;

	if (!ipc_end(r) || r->fd != -1 || mailbox[0] == '\0' ||
	    grantee[0] == '\0' || !rights_valid(rights)) {
		mbox_violation(mb, "bad SHARE");
		return;
	}
	/* The owner is the process's user as the master knows it. */
	if (dir_share_set(master.dir, mbox_user_id(mb), mailbox, grantee,
	    rights) != 0)
		log_warnx("share index: %s", dir_errmsg(master.dir));
	else
		log_info("share index: %s grants %s \"%s\" on %s", mbox_user(mb),
		    grantee, rights, mailbox);
	ipc_msg_init(&m, IPC_MBOX_SHARE_DONE);
	mbox_send(mb, &m);
}

struct share_list {
	struct ipc_msg m;
	uint32_t       n;
	size_t         count_at;
	bool           full;
};

static int
add_share(const char *owner, const char *mailbox, const char *rights,
    void *arg)
{
	struct share_list *l = arg;
	size_t need = strlen(owner) + strlen(mailbox) + strlen(rights) + 32;

	/* A message has a ceiling; a user with more shares than fit sees
	 * the first ones (logged). */
	if (buf_len(&l->m.b) + need > IPC_MAX_MSG - 64) {
		l->full = true;
		return 1;
	}
	ipc_put_str(&l->m, owner);
	ipc_put_str(&l->m, mailbox);
	ipc_put_str(&l->m, rights);
	l->n++;
	return 0;
}

void
req_shares(struct mbox *mb, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	struct share_list l = { .n = 0 };
	struct ipc_msg m;
	char *p;

	if (!ipc_end(r) || r->fd != -1) {
		mbox_violation(mb, "bad SHARES");
		return;
	}
	ipc_msg_init(&l.m, IPC_MBOX_SHARES_RESULT);
	if (dir_shares_for(master.dir, mbox_user(mb), add_share, &l) < 0)
		log_warnx("share index: %s", dir_errmsg(master.dir));
	if (l.full)
		log_warnx("share list of %s truncated to %u entries",
		    mbox_user(mb), l.n);
	/* Header first: id and count, then the entries gathered above. */
	ipc_msg_init(&m, IPC_MBOX_SHARES_RESULT);
	ipc_put_u64(&m, id);
	ipc_put_u32(&m, l.n);
	p = buf_ptr(&l.m.b) + 8;	/* skip the entries message's header */
	if (buf_add(&m.b, p, buf_len(&l.m.b) - 8) == -1)
		fatalx("share list exceeds an IPC message");
	ipc_msg_free(&l.m);
	mbox_send(mb, &m);
}

/* ---- a channel to a sharing user's process ---- */

static void
guest_answer(struct mbox *mb, uint64_t id, enum ipc_req_result res, int fd)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_GUEST_RESULT);
	ipc_put_u64(&m, id);
	ipc_put_u8(&m, (uint8_t)res);
	if (fd != -1)
		ipc_put_fd(&m, fd);
	mbox_send(mb, &m);
}

void
req_guest_open(struct mbox *mb, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	const char *owner = ipc_get_str(r);
	struct dir_user u;
	struct peer none;
	int sp[2], rc;

	if (!ipc_end(r) || r->fd != -1) {
		mbox_violation(mb, "bad GUEST_OPEN");
		return;
	}
	rc = dir_user_get(master.dir, owner, &u);
	dir_user_forget_hash(&u);
	if (rc != 0) {
		guest_answer(mb, id, rc == MK_NOTFOUND ? IPC_REQ_NOTFOUND :
		    IPC_REQ_FAILED, -1);
		return;
	}
	rc = u.id == mbox_user_id(mb) ? 0 :
	    dir_share_exists(master.dir, u.id, mbox_user(mb));
	if (rc != 1) {
		log_warnx("%s asked for %s's mailboxes, which share nothing "
		    "with them: refused", mbox_user(mb), u.name);
		guest_answer(mb, id, rc == 0 ? IPC_REQ_DENIED : IPC_REQ_FAILED, -1);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		guest_answer(mb, id, IPC_REQ_FAILED, -1);
		return;
	}
	/* An internal channel holds no client connection slot. */
	memset(&none, 0, sizeof(none));
	mk_strlcpy(none.addr, "internal", sizeof(none.addr));
	struct session_start s = {
		.user = &u, .authcid = mbox_user(mb), .authc_admin = false,
		.method = IPC_IMP_GUEST, .okverb = "", .tag = "",
		.peer = &none, .fd = sp[0],
	};
	if (session_start(&s) != 0) {
		close(sp[1]);
		guest_answer(mb, id, IPC_REQ_FAILED, -1);
		return;
	}
	log_info("%s opened a channel to %s's shared mailboxes", mbox_user(mb),
	    u.name);
	guest_answer(mb, id, IPC_REQ_OK, sp[1]);
}
