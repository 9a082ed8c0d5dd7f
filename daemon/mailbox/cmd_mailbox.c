/*
 * cmd_mailbox.c - commands on the mailbox list: CREATE (with RFC 6154
 * USE), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE and STATUS
 * (RFC 3501 6.3.3-6.3.7, 6.3.10; STATUS SIZE RFC 8438, DELETED RFC 9208,
 * HIGHESTMODSEQ RFC 7162).
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/imap_write.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

/* The closest existing ancestor of name ("a" for "a/b/c" if "a/b" is
 * missing); false if none. */
static bool
nearest_parent(struct client *c, const char *name, struct mbox *out)
{
	char buf[MK_MBOX_NAME_MAX];
	char *slash;

	mk_strlcpy(buf, name, sizeof(buf));
	while ((slash = strrchr(buf, '/')) != NULL) {
		*slash = '\0';
		if (store_mbox_find(c->user->store, buf, out) == 0)
			return true;
	}
	return false;
}

struct inherit_ctx {
	struct user *u;
	const char  *name;
};

static int
inherit_one(const char *identifier, const char *rights, void *arg)
{
	struct inherit_ctx *x = arg;

	share_index_send(x->u, x->name, identifier, rights);
	return 0;
}

/* The share index learns the rights a new mailbox inherited. */
static void
share_inherited(struct client *c, const struct mbox *parent, const char *name)
{
	struct inherit_ctx x = { c->user, name };

	store_acl_foreach(c->user->store, parent->id, inherit_one, &x);
}

/* RFC 8474 4.1: CREATE's OK names the new mailbox's MAILBOXID. */
static void
mailboxid_code(struct client *c, const struct mbox *m)
{
	char id[STORE_OBJID_MAX];

	c->ok_code[0] = '\0';
	if (store_mbox_objectid(c->user->store, m, id, sizeof(id)) == 0)
		snprintf(c->ok_code, sizeof(c->ok_code), "[MAILBOXID (%s)] ",
		    id);
}

enum cmd_result
cmd_create(struct client *c)
{
	const char *arg = c->cmd->u.create.mailbox;
	char name[MK_MBOX_NAME_MAX], trimmed[MK_MBOX_NAME_MAX];
	struct mbox m, parent;
	size_t len = strlen(arg);
	bool has_parent;
	int rc;

	/* "foo/" asks for a mailbox that will hold children: create "foo"
	 * (RFC 3501 6.3.3). */
	mk_strlcpy(trimmed, arg, sizeof(trimmed));
	while (len > 1 && trimmed[len - 1] == '/')
		trimmed[--len] = '\0';
	if (!mbox_name_arg(c, trimmed, name, sizeof(name)))
		return RUN_DONE;
	if (strcmp(name, "INBOX") == 0)
		return resp_no(c, "[ALREADYEXISTS] INBOX always exists");
	if (c->cmd->u.create.use & SPECIAL_USE_UNKNOWN)
		return resp_no(c, "[USEATTR] Unknown special-use attribute; known: "
		    "\\All \\Archive \\Drafts \\Flagged \\Junk \\Sent \\Trash");
	has_parent = nearest_parent(c, name, &parent);
	if (client_is_guest(c)) {
		/* "k" on the nearest existing parent (RFC 4314 4). */
		if (!has_parent)
			return resp_no(c, "[NOPERM] Only %s can create mailboxes "
			    "at the top level", c->user->name);
		if (!rights_check(c, &parent, RT_K, parent.name))
			return RUN_DONE;
	}
	/* What the new mailbox inherits counts against the owner's bound
	 * on ACL entries (the share index refuses more anyway). */
	if (has_parent) {
		unsigned inherit, total;
		if (store_acl_count(c->user->store, parent.id, &inherit,
		    &total) != 0)
			return resp_store_error(c, -1, "CREATE");
		if (inherit > 0 && total + inherit >
		    c->user->cfg->acl_max_shares_per_user)
			return resp_no(c, "[LIMIT] %s would inherit %u ACL "
			    "entries beyond acl_max_shares_per_user", name,
			    inherit);
	}
	if ((rc = store_begin(c->user->store)) != 0)
		return resp_store_error(c, rc, "CREATE");
	rc = store_mbox_create(c->user->store, name, c->cmd->u.create.use, &m);
	/* A new mailbox starts with its parent's ACL (RFC 4314 4). */
	if (rc == 0 && has_parent)
		rc = store_acl_copy(c->user->store, parent.id, m.id);
	if (rc == 0)
		rc = store_commit(c->user->store);
	else
		store_rollback(c->user->store);
	if (rc == MK_EXISTS)
		return resp_no(c, "[ALREADYEXISTS] Mailbox already exists");
	if (rc == MK_INVALID)
		return resp_no(c, "[CANNOT] Can't create a mailbox of that name");
	if (rc != 0)
		return resp_store_error(c, rc, "CREATE");
	if (has_parent)
		share_inherited(c, &parent, name);
	notify_mailbox_name(c, name, NULL);
	mailboxid_code(c, &m);
	/* Inherited entries reach the share index before the OK. */
	return share_index_ok(c);
}

enum cmd_result
cmd_delete(struct client *c)
{
	char name[MK_MBOX_NAME_MAX];
	struct shared_list *shares;
	struct mbox m;
	int rc;

	if (!mbox_name_arg(c, c->cmd->u.mbox.mailbox, name, sizeof(name)))
		return RUN_DONE;
	if (strcmp(name, "INBOX") == 0)
		return resp_no(c, "[CANNOT] INBOX can't be deleted");
	rc = store_mbox_find(c->user->store, name, &m);
	if (rc == MK_NOTFOUND || (rc == 0 && !mbox_visible(c, &m)))
		return resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", name);
	if (rc != 0)
		return resp_store_error(c, rc, "DELETE");
	if (!rights_check(c, &m, RT_X, name))
		return RUN_DONE;
	shared_snapshot(c, name, &shares);
	rc = store_mbox_delete(c->user->store, name);
	if (rc == 0)
		shared_moved(c, shares, name, NULL);
	shared_free(shares);
	if (rc == MK_INVALID)
		return resp_no(c, "[HASCHILDREN] Mailbox has children and no "
		    "messages to delete; delete the children first");
	if (rc == MK_NOTFOUND)
		return resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", name);
	if (rc != 0)
		return resp_store_error(c, rc, "DELETE");
	/* Our own selection of it ends quietly; other sessions that have
	 * it selected are told at their next sync. */
	if (c->state == CS_SELECTED && c->view.ms->m.id == m.id)
		view_close(c);
	mbox_changed(c->user, m.id);
	notify_mailbox_name(c, name, NULL);
	return share_index_ok(c);
}

enum cmd_result
cmd_rename(struct client *c)
{
	char from[MK_MBOX_NAME_MAX], to[MK_MBOX_NAME_MAX];
	struct shared_list *shares;
	struct mbox m;
	int rc;

	if (!mbox_name_arg(c, c->cmd->u.rename.from, from, sizeof(from)) ||
	    !mbox_name_arg(c, c->cmd->u.rename.to, to, sizeof(to)))
		return RUN_DONE;
	if (strcmp(to, "INBOX") == 0)
		return resp_no(c, "[ALREADYEXISTS] INBOX always exists");
	rc = store_mbox_find(c->user->store, from, &m);
	if (rc == MK_NOTFOUND || (rc == 0 && !mbox_visible(c, &m)))
		return resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", from);
	if (rc != 0)
		return resp_store_error(c, rc, "RENAME");
	if (!rights_check(c, &m, RT_X, from))
		return RUN_DONE;
	if (client_is_guest(c)) {
		struct mbox parent;
		if (strcmp(from, "INBOX") == 0 || !nearest_parent(c, to, &parent))
			return resp_no(c, "[NOPERM] Only %s can rename that",
			    c->user->name);
		if (!rights_check(c, &parent, RT_K, parent.name))
			return RUN_DONE;
	}
	shared_snapshot(c, from, &shares);
	rc = store_mbox_rename(c->user->store, from, to);
	/* INBOX keeps its ACL: its messages move, the mailbox stays. */
	if (rc == 0 && strcmp(from, "INBOX") != 0)
		shared_moved(c, shares, from, to);
	shared_free(shares);
	if (rc == MK_EXISTS)
		return resp_no(c, "[ALREADYEXISTS] Mailbox already exists: %s", to);
	if (rc == MK_NOTFOUND)
		return resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", from);
	if (rc == MK_INVALID)
		return resp_no(c, "[CANNOT] Can't rename a mailbox into itself");
	if (rc != 0)
		return resp_store_error(c, rc, "RENAME");
	/* Renaming INBOX moved its messages away: its viewers must hear. */
	mbox_changed(c->user, m.id);
	notify_mailbox_name(c, to, from);
	return share_index_ok(c);
}

enum cmd_result
cmd_subscribe(struct client *c)
{
	bool on = c->cmd->id == CMD_SUBSCRIBE;
	char name[MK_MBOX_NAME_MAX];
	int rc;

	if (!mbox_name_arg(c, c->cmd->u.mbox.mailbox, name, sizeof(name)))
		return RUN_DONE;
	/* A grantee's subscriptions are kept by their own process. */
	if (client_is_guest(c))
		return resp_no(c, "[CANNOT] Subscriptions belong to your own "
		    "mailboxes");
	/* A name may be subscribed before it exists, and stays subscribed
	 * after it is deleted or renamed (RFC 3501 6.3.6). */
	rc = store_sub_set(c->user->store, name, on);
	if (rc != 0)
		return resp_store_error(c, rc, on ? "SUBSCRIBE" : "UNSUBSCRIBE");
	notify_subscription(c, name);
	return resp_ok(c, "%s completed", on ? "SUBSCRIBE" : "UNSUBSCRIBE");
}

/* RFC 7889: the largest message an APPEND to this user's mailboxes can
 * store - max_message, or less when the whole storage quota is smaller
 * (such a message could never fit).  A guest's STATUS runs in the
 * owner's process, so a shared mailbox reports its owner's quota. */
static uint64_t
append_limit(const struct user *u)
{
	uint64_t lim = u->cfg->max_message;

	if (u->quota_storage != 0 && u->quota_storage < lim / 1024)
		lim = u->quota_storage * 1024;
	return lim;
}

/* Writes " (MESSAGES n ...)" for the STATUS items asked for. */
int
status_items(struct client *c, const struct mbox *m, unsigned items,
    struct buf *b)
{
	struct mbox_status st;
	char id[STORE_OBJID_MAX];
	const char *sep = "";

	if (store_mbox_status(c->user->store, m, &st) != 0)
		return -1;
	if (client_is_guest(c) && !(rights_for(c, m) & RT_S)) {
		/* Their own \Seen, not the owner's. */
		uint32_t seen;
		if (store_gseen_count(c->user->store, m, c->authcid, &seen) != 0)
			return -1;
		st.unseen = st.messages > seen ? st.messages - seen : 0;
	}
	buf_addc(b, '(');
#define ITEM(bit, fmt, val) do { if (items & (bit)) { \
	buf_printf(b, "%s" fmt, sep, val); sep = " "; } } while (0)
	ITEM(STATUS_MESSAGES, "MESSAGES %u", st.messages);
	ITEM(STATUS_RECENT, "RECENT %u", st.recent);
	ITEM(STATUS_UIDNEXT, "UIDNEXT %u", m->uidnext);
	ITEM(STATUS_UIDVALIDITY, "UIDVALIDITY %u", m->uidvalidity);
	ITEM(STATUS_UNSEEN, "UNSEEN %u", st.unseen);
	ITEM(STATUS_HIGHESTMODSEQ, "HIGHESTMODSEQ %llu",
	    (unsigned long long)m->highestmodseq);
	ITEM(STATUS_SIZE, "SIZE %llu", (unsigned long long)st.size);
	ITEM(STATUS_DELETED, "DELETED %u", st.deleted);
	ITEM(STATUS_DELETED_STORAGE, "DELETED-STORAGE %llu",
	    (unsigned long long)(st.deleted_size + 1023) / 1024);
	ITEM(STATUS_APPENDLIMIT, "APPENDLIMIT %llu",
	    (unsigned long long)append_limit(c->user));
	if ((items & STATUS_MAILBOXID) && store_mbox_objectid(c->user->store,
	    m, id, sizeof(id)) == 0)
		ITEM(STATUS_MAILBOXID, "MAILBOXID (%s)", id);
#undef ITEM
	buf_addc(b, ')');
	return 0;
}

bool
status_items_ok(struct client *c, unsigned items)
{
	/* RFC 9051 6.3.11 has no RECENT: \Recent is gone. */
	if ((c->enabled & CAP_REV2) && (items & STATUS_RECENT)) {
		resp_bad(c, "RECENT is not an IMAP4rev2 STATUS item");
		return false;
	}
	return true;
}

enum cmd_result
cmd_status(struct client *c)
{
	char name[MK_MBOX_NAME_MAX];
	struct mbox m;
	struct mstate *ms;
	int rc;

	if (!status_items_ok(c, c->cmd->u.status.items) ||
	    !mbox_name_arg(c, c->cmd->u.status.mailbox, name, sizeof(name)))
		return RUN_DONE;
	rc = store_mbox_find(c->user->store, name, &m);
	if (rc == MK_NOTFOUND || (rc == 0 && (m.flags & MBOX_NOSELECT)))
		return resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", name);
	if (rc != 0)
		return resp_store_error(c, rc, "STATUS");
	if (!rights_check(c, &m, RT_R, name))
		return RUN_DONE;
	/* A selected mailbox's row may be fresher in memory. */
	if ((ms = mstate_find(c->user, m.id)) != NULL && !ms->gone)
		m = ms->m;
	buf_adds(&c->out, "* STATUS ");
	resp_mailbox(c, &c->out, name);
	buf_addc(&c->out, ' ');
	if (status_items(c, &m, c->cmd->u.status.items, &c->out) != 0)
		return resp_store_error(c, -1, "STATUS");
	buf_adds(&c->out, "\r\n");
	return resp_ok(c, "STATUS completed");
}
