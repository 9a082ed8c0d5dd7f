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

#include <string.h>

enum cmd_result
cmd_create(struct client *c)
{
	const char *arg = c->cmd->u.create.mailbox;
	char name[MK_MBOX_NAME_MAX], trimmed[MK_MBOX_NAME_MAX];
	struct mbox m;
	size_t len = strlen(arg);
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
	rc = store_mbox_create(c->user->store, name, c->cmd->u.create.use, &m);
	if (rc == MK_EXISTS)
		return resp_no(c, "[ALREADYEXISTS] Mailbox already exists");
	if (rc == MK_INVALID)
		return resp_no(c, "[CANNOT] Can't create a mailbox of that name");
	if (rc != 0)
		return resp_store_error(c, rc, "CREATE");
	return resp_ok(c, "CREATE completed");
}

enum cmd_result
cmd_delete(struct client *c)
{
	char name[MK_MBOX_NAME_MAX];
	struct mbox m;
	int rc;

	if (!mbox_name_arg(c, c->cmd->u.mbox.mailbox, name, sizeof(name)))
		return RUN_DONE;
	if (strcmp(name, "INBOX") == 0)
		return resp_no(c, "[CANNOT] INBOX can't be deleted");
	rc = store_mbox_find(c->user->store, name, &m);
	if (rc == MK_NOTFOUND)
		return resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", name);
	if (rc != 0)
		return resp_store_error(c, rc, "DELETE");
	rc = store_mbox_delete(c->user->store, name);
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
	return resp_ok(c, "DELETE completed");
}

enum cmd_result
cmd_rename(struct client *c)
{
	char from[MK_MBOX_NAME_MAX], to[MK_MBOX_NAME_MAX];
	struct mbox m;
	int rc;

	if (!mbox_name_arg(c, c->cmd->u.rename.from, from, sizeof(from)) ||
	    !mbox_name_arg(c, c->cmd->u.rename.to, to, sizeof(to)))
		return RUN_DONE;
	if (strcmp(to, "INBOX") == 0)
		return resp_no(c, "[ALREADYEXISTS] INBOX always exists");
	rc = store_mbox_find(c->user->store, from, &m);
	if (rc == MK_NOTFOUND)
		return resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", from);
	if (rc != 0)
		return resp_store_error(c, rc, "RENAME");
	rc = store_mbox_rename(c->user->store, from, to);
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
	return resp_ok(c, "RENAME completed");
}

enum cmd_result
cmd_subscribe(struct client *c)
{
	bool on = c->cmd->id == CMD_SUBSCRIBE;
	char name[MK_MBOX_NAME_MAX];
	int rc;

	if (!mbox_name_arg(c, c->cmd->u.mbox.mailbox, name, sizeof(name)))
		return RUN_DONE;
	/* A name may be subscribed before it exists, and stays subscribed
	 * after it is deleted or renamed (RFC 3501 6.3.6). */
	rc = store_sub_set(c->user->store, name, on);
	if (rc != 0)
		return resp_store_error(c, rc, on ? "SUBSCRIBE" : "UNSUBSCRIBE");
	return resp_ok(c, "%s completed", on ? "SUBSCRIBE" : "UNSUBSCRIBE");
}

/* Writes " (MESSAGES n ...)" for the STATUS items asked for. */
int
status_items(struct client *c, const struct mbox *m, unsigned items,
    struct buf *b)
{
	struct mbox_status st;
	const char *sep = "";

	if (store_mbox_status(c->user->store, m, &st) != 0)
		return -1;
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
#undef ITEM
	buf_addc(b, ')');
	return 0;
}

enum cmd_result
cmd_status(struct client *c)
{
	char name[MK_MBOX_NAME_MAX];
	struct mbox m;
	struct mstate *ms;
	int rc;

	if (!mbox_name_arg(c, c->cmd->u.status.mailbox, name, sizeof(name)))
		return RUN_DONE;
	rc = store_mbox_find(c->user->store, name, &m);
	if (rc == MK_NOTFOUND || (rc == 0 && (m.flags & MBOX_NOSELECT)))
		return resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", name);
	if (rc != 0)
		return resp_store_error(c, rc, "STATUS");
	/* A selected mailbox's row may be fresher in memory. */
	if ((ms = mstate_find(c->user, m.id)) != NULL && !ms->gone)
		m = ms->m;
	buf_adds(&c->out, "* STATUS ");
	imapw_mailbox(&c->out, name);
	buf_addc(&c->out, ' ');
	if (status_items(c, &m, c->cmd->u.status.items, &c->out) != 0)
		return resp_store_error(c, -1, "STATUS");
	buf_adds(&c->out, "\r\n");
	return resp_ok(c, "STATUS completed");
}
