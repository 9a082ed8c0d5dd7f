/*
 * cmd_quota.c - GETQUOTA, GETQUOTAROOT and SETQUOTA (RFC 9208, which
 * keeps RFC 2087 clients working).
 *
 * Each user has one quota root, named "" (as Dovecot's default and the
 * Thunderbird capture in the seeds show); administrators may also name a
 * user's root "user/<name>" in SETQUOTA.  Resources: STORAGE (KiB, the
 * sum of message sizes, copies counted) and MESSAGE.  Usage is kept by
 * the store inside the same transaction as every change, so it never
 * drifts; limits live in the directory and only the master writes them.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/imap_write.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>

static bool
has_limits(const struct user *u)
{
	return u->quota_storage != 0 || u->quota_messages != 0;
}

static int
write_quota(struct client *c, const char *root)
{
	struct user *u = c->user;
	struct quota_usage q;
	const char *sep = "";

	if (store_quota_usage(u->store, &q) != 0)
		return -1;
	buf_adds(&c->out, "* QUOTA ");
	imapw_cstring(&c->out, root);
	buf_adds(&c->out, " (");
	if (u->quota_storage != 0) {
		buf_printf(&c->out, "STORAGE %llu %llu",
		    (unsigned long long)((q.storage + 1023) / 1024),
		    (unsigned long long)u->quota_storage);
		sep = " ";
	}
	if (u->quota_messages != 0)
		buf_printf(&c->out, "%sMESSAGE %llu %llu", sep,
		    (unsigned long long)q.messages,
		    (unsigned long long)u->quota_messages);
	buf_adds(&c->out, ")\r\n");
	return 0;
}

/* "" or "user/<own name>" name the session's own root; a guest sees
 * the owner's root as "user/<owner>". */
static bool
own_root(struct client *c, const char *root)
{
	if (client_is_guest(c))
		return strncmp(root, "user/", 5) == 0 &&
		    strcmp(root + 5, c->user->name) == 0;
	return root[0] == '\0' || (strncmp(root, "user/", 5) == 0 &&
	    strcmp(root + 5, c->user->name) == 0);
}

static const char *
root_name(struct client *c)
{
	return client_is_guest(c) ? arena_printf(&c->arena, "user/%s",
	    c->user->name) : "";
}

enum cmd_result
cmd_getquota(struct client *c)
{
	const char *root = c->cmd->u.getquota.root;

	if (!own_root(c, root) || !has_limits(c->user))
		return resp_no(c, "[NONEXISTENT] No such quota root");
	if (write_quota(c, root_name(c)) != 0)
		return resp_store_error(c, -1, "GETQUOTA");
	return resp_ok(c, "GETQUOTA completed");
}

enum cmd_result
cmd_getquotaroot(struct client *c)
{
	char name[MK_MBOX_NAME_MAX];
	struct mbox m;
	int rc;

	if (!mbox_name_arg(c, c->cmd->u.mbox.mailbox, name, sizeof(name)))
		return RUN_DONE;
	rc = store_mbox_find(c->user->store, name, &m);
	if (rc == MK_NOTFOUND || (rc == 0 && !mbox_visible(c, &m)))
		return resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", name);
	if (rc != 0)
		return resp_store_error(c, rc, "GETQUOTAROOT");
	buf_adds(&c->out, "* QUOTAROOT ");
	resp_mailbox(c, &c->out, name);
	/* Without limits there is no root to report (RFC 9208 4.1.2). */
	if (has_limits(c->user)) {
		buf_addc(&c->out, ' ');
		imapw_cstring(&c->out, root_name(c));
	}
	buf_adds(&c->out, "\r\n");
	if (has_limits(c->user) && write_quota(c, root_name(c)) != 0)
		return resp_store_error(c, -1, "GETQUOTAROOT");
	return resp_ok(c, "GETQUOTAROOT completed");
}

enum cmd_result
cmd_setquota(struct client *c)
{
	const char *root = c->cmd->u.setquota.root;
	const char *target;
	bool has_storage = false, has_messages = false;
	uint64_t storage = 0, messages = 0;
	struct ipc_msg m;

	if (!c->admin || c->method != IPC_IMP_NONE)
		return resp_no(c, "[NOPERM] SETQUOTA is for administrators only");
	if (root[0] == '\0')
		target = "";
	else if (strncmp(root, "user/", 5) == 0 && root[5] != '\0' &&
	    strlen(root + 5) <= IPC_IDENT_MAX)
		target = root + 5;
	else
		return resp_no(c, "[NONEXISTENT] No such quota root; use \"\" "
		    "or \"user/<name>\"");
	for (size_t i = 0; i < c->cmd->u.setquota.nres; i++) {
		const struct quota_resource *r = &c->cmd->u.setquota.res[i];
		if (str_ieq(r->name, "STORAGE")) {
			has_storage = true;
			storage = r->limit;
		} else if (str_ieq(r->name, "MESSAGE")) {
			has_messages = true;
			messages = r->limit;
		} else
			return resp_no(c, "[LIMIT] Unsupported resource %s "
			    "(STORAGE and MESSAGE are)", r->name);
	}
	ipc_msg_init(&m, IPC_MBOX_SETQUOTA);
	ipc_put_u64(&m, c->session_id);
	ipc_put_str(&m, target);
	ipc_put_u8(&m, has_storage);
	ipc_put_u64(&m, storage);
	ipc_put_u8(&m, has_messages);
	ipc_put_u64(&m, messages);
	if (ipc_chan_send(c->user->master, &m) == -1)
		return resp_no(c, "[UNAVAILABLE] SETQUOTA can't be asked now");
	return RUN_WAIT;
}

void
setquota_result(struct user *u, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	uint8_t res = ipc_get_u8(r);
	const char *text = ipc_get_str(r);
	struct client *c;

	if (!ipc_end(r))
		fatalx("malformed SETQUOTA_RESULT from the master");
	if ((c = client_by_session(u, id)) == NULL || !c->waiting)
		return;
	switch (res) {
	case IPC_REQ_OK:
		resp_ok(c, "%s", text);
		break;
	case IPC_REQ_NOTFOUND:
		resp_no(c, "[NONEXISTENT] %s", text);
		break;
	case IPC_REQ_DENIED:
		resp_no(c, "[NOPERM] %s", text);
		break;
	default:
		resp_no(c, "[UNAVAILABLE] %s", text);
		break;
	}
	client_resume(c);
}
