/*
 * cmd_acl.c - GETACL, SETACL, DELETEACL, LISTRIGHTS and MYRIGHTS
 * (RFC 4314 3), and keeping the master's share index in step with the
 * ACLs of this user's mailboxes.
 *
 * Identifiers are user names and "anyone".  The owner is implicit, always
 * holds every right and cannot be given or denied any; negative rights
 * ("-name") are not supported.  Rights are stored without the virtual
 * "c" and "d" (rights.c recomputes them on output).
 */
#include "daemon/mailbox/mbox_int.h"
#include "store/directory.h"
#include "common/imap_write.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* Rights as stored and sent to the share index: no virtual letters. */
static void
rights_plain(unsigned r, char out[RIGHTS_STRLEN])
{
	static const char order[] = "lrswipkxtea";
	size_t n = 0;

	for (size_t i = 0; order[i]; i++)
		if (r & (1u << i))
			out[n++] = order[i];
	out[n] = '\0';
}

int
share_index_send(struct user *u, const char *mailbox, const char *identifier,
    const char *rights)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_SHARE);
	ipc_put_str(&m, mailbox);
	ipc_put_str(&m, identifier);
	ipc_put_str(&m, rights);
	/* Every field was checked where it entered (a store name, a
	 * canonical identifier), so this goes; if it did not, no DONE
	 * would come for it and the command would wait for ever. */
	if (ipc_chan_send(u->master, &m) == -1)
		return -1;
	u->shares_sent++;
	return 0;
}

/* SETACL's entry as it was, to put back if the index refuses the new
 * one (the ACL and the index must agree: fail closed). */
struct acl_undo {
	int64_t mbox_id;
	char    identifier[MK_USER_MAX];
	char    rights[32];	/* "" : there was no entry */
};

static const char *
share_res_text(uint8_t res)
{
	switch (res) {
	case IPC_REQ_LIMIT:
		return "[LIMIT] Too many ACL entries (acl_max_entries_per_"
		    "mailbox, acl_max_shares_per_user)";
	default:
		return "[UNAVAILABLE] The share index can't be updated now; "
		    "nothing was changed";
	}
}

/* The command's index updates are all answered: OK, or for SETACL and
 * DELETEACL that the master refused one, the entry restored and NO. */
static enum cmd_result
share_answer(struct client *c)
{
	struct acl_undo *u = c->acl_undo;
	uint8_t res = c->share_res;
	char code[sizeof(c->ok_code)];

	c->acl_undo = NULL;
	c->share_res = IPC_REQ_OK;
	/* One command's: the next one starts without it. */
	memcpy(code, c->ok_code, sizeof(code));
	c->ok_code[0] = '\0';
	if (res == IPC_REQ_OK)
		return resp_ok(c, "%s%s completed", code, c->cmd->name);
	if (u == NULL) {
		/* CREATE, DELETE, RENAME: the mailbox change stands; the
		 * index lags (a grantee may see a name that is gone, the
		 * owner's process still checks every access). */
		log_warnx("user %s: %s done, the share index not updated",
		    c->user->name, c->cmd->name);
		return resp_ok(c, "%s%s completed (shared mailbox list not "
		    "updated)", code, c->cmd->name);
	}
	if (store_acl_set(c->user->store, u->mbox_id, u->identifier,
	    u->rights) != 0)
		log_warnx("user %s: restoring %s's ACL entry: %s; the ACL and "
		    "the share index disagree", c->user->name, u->identifier,
		    store_errmsg(c->user->store));
	/* Sessions that saw the refused entry read their rights again. */
	rights_changed(c->user);
	return resp_no(c, "%s", share_res_text(res));
}

enum cmd_result
share_index_ok(struct client *c)
{
	if (c->user->shares_done >= c->user->shares_sent)
		return share_answer(c);
	c->share_wait = c->user->shares_sent;
	return RUN_WAIT;
}

void
share_index_done(struct user *u, uint8_t res)
{
	struct client *c, *next, *owner = NULL;

	u->shares_done++;
	/* A command's updates are sent together, in order: this one is the
	 * waiting command's with the smallest end at or after it. */
	for (c = u->clients; c; c = c->next)
		if (c->share_wait != 0 && c->share_wait >= u->shares_done &&
		    (owner == NULL || c->share_wait < owner->share_wait))
			owner = c;
	if (owner != NULL && res != IPC_REQ_OK && owner->share_res !=
	    IPC_REQ_LIMIT)
		owner->share_res = res;
	for (c = u->clients; c; c = next) {
		next = c->next;
		if (c->share_wait != 0 && c->share_wait <= u->shares_done) {
			c->share_wait = 0;
			share_answer(c);
			client_resume(c);
		}
	}
}

/* Finds a mailbox the session may administer; answers NO otherwise. */
static bool
acl_target(struct client *c, const char *arg, unsigned need, struct mbox *m)
{
	char name[MK_MBOX_NAME_MAX];
	int rc;

	if (!mbox_name_arg(c, arg, name, sizeof(name)))
		return false;
	rc = store_mbox_find(c->user->store, name, m);
	if (rc != 0 && rc != MK_NOTFOUND) {
		resp_store_error(c, rc, "ACL");
		return false;
	}
	/* MYRIGHTS (need 0) takes any of "l r i k x a" (RFC 4314 4): a
	 * drop box's "i" alone is enough.  The others need "a", and who may
	 * not see the mailbox learns nothing about it (RFC 4314 6). */
	if (rc == MK_NOTFOUND || (need == 0 ? !(rights_for(c, m) &
	    (RT_L | RT_R | RT_I | RT_K | RT_X | RT_A)) : !mbox_visible(c, m))) {
		resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", name);
		return false;
	}
	return need == 0 || rights_check(c, m, need, name);
}

/* "anyone" or a user name, canonical; else answers and returns false. */
static bool
identifier_arg(struct client *c, const char *id, char *out, size_t outlen)
{
	const char *why;

	if (id[0] == '-') {
		resp_no(c, "[CANNOT] Negative rights are not supported");
		return false;
	}
	if (str_ieq(id, "anyone")) {
		mk_strlcpy(out, "anyone", outlen);
		return true;
	}
	if (!dir_name_canon(id, out, outlen, &why)) {
		resp_bad(c, "Invalid identifier: %s", why);
		return false;
	}
	if (strcmp(out, c->user->name) == 0) {
		resp_no(c, "[CANNOT] The owner always has every right on their "
		    "own mailboxes");
		return false;
	}
	return true;
}

struct acl_out {
	struct buf *b;
};

static int
write_entry(const char *identifier, const char *rights, void *arg)
{
	struct acl_out *o = arg;
	char full[RIGHTS_STRLEN];
	bool ok;

	rights_format(rights_parse(rights, &ok), full);
	buf_addc(o->b, ' ');
	imapw_astring(o->b, identifier);
	buf_addc(o->b, ' ');
	imapw_astring(o->b, full);
	return 0;
}

enum cmd_result
cmd_getacl(struct client *c)
{
	struct acl_out o = { &c->out };
	char all[RIGHTS_STRLEN];
	struct mbox m;

	if (!acl_target(c, c->cmd->u.mbox.mailbox, RT_A, &m))
		return RUN_DONE;
	rights_format(RT_ALL, all);
	buf_adds(&c->out, "* ACL ");
	resp_mailbox(c, &c->out, m.name);
	buf_addc(&c->out, ' ');
	imapw_astring(&c->out, c->user->name);
	buf_printf(&c->out, " %s", all);
	if (store_acl_foreach(c->user->store, m.id, write_entry, &o) != 0)
		return resp_store_error(c, -1, "GETACL");
	buf_adds(&c->out, "\r\n");
	return resp_ok(c, "GETACL completed");
}

static enum cmd_result
set_rights(struct client *c, const struct mbox *m, const char *id,
    const char *rights)
{
	const struct mk_config *cfg = c->user->cfg;
	struct acl_undo *u = arena_alloc(&c->arena, sizeof(*u));
	unsigned on_mbox, total;
	int rc;

	if (u == NULL)
		return resp_no(c, "[LIMIT] Out of memory for this command");
	u->mbox_id = m->id;
	mk_strlcpy(u->identifier, id, sizeof(u->identifier));
	rc = store_acl_get(c->user->store, m->id, id, u->rights,
	    sizeof(u->rights));
	if (rc == MK_NOTFOUND)
		u->rights[0] = '\0';
	else if (rc != 0)
		return resp_store_error(c, rc, "SETACL");
	/* A new entry must fit the bounds; changing or removing one
	 * always may (the master checks the index the same way). */
	if (rights[0] != '\0' && u->rights[0] == '\0') {
		if (store_acl_count(c->user->store, m->id, &on_mbox,
		    &total) != 0)
			return resp_store_error(c, -1, "SETACL");
		if (on_mbox >= cfg->acl_max_entries_per_mailbox)
			return resp_no(c, "[LIMIT] The mailbox already has %u "
			    "ACL entries (acl_max_entries_per_mailbox)",
			    on_mbox);
		if (total >= cfg->acl_max_shares_per_user)
			return resp_no(c, "[LIMIT] Your mailboxes already have "
			    "%u ACL entries (acl_max_shares_per_user)", total);
	}
	rc = store_acl_set(c->user->store, m->id, id, rights);
	if (rc != 0)
		return resp_store_error(c, rc, "SETACL");
	c->acl_undo = u;
	c->share_res = IPC_REQ_OK;
	if (share_index_send(c->user, m->name, id, rights) == -1)
		c->share_res = IPC_REQ_FAILED;	/* undone below */
	rights_changed(c->user);
	log_info("user %s: %s now has \"%s\" on %s (set by %s)", c->user->name,
	    id, rights, m->name, client_identity(c));
	return share_index_ok(c);
}

enum cmd_result
cmd_setacl(struct client *c)
{
	const char *arg = c->cmd->u.acl.rights;
	char id[MK_USER_MAX], cur[32], out[RIGHTS_STRLEN];
	unsigned have = 0, r;
	struct mbox m;
	bool ok;

	if (!acl_target(c, c->cmd->u.acl.mailbox, RT_A, &m) ||
	    !identifier_arg(c, c->cmd->u.acl.identifier, id, sizeof(id)))
		return RUN_DONE;
	r = rights_parse(arg[0] == '+' || arg[0] == '-' ? arg + 1 : arg, &ok);
	if (!ok)
		return resp_bad(c, "Unknown right in \"%s\" (known: "
		    "lrswipkxtecda)", arg);
	if (store_acl_get(c->user->store, m.id, id, cur, sizeof(cur)) == 0)
		have = rights_parse(cur, &ok);
	if (arg[0] == '+')
		r = have | r;
	else if (arg[0] == '-')
		r = have & ~r;
	rights_plain(r, out);
	return set_rights(c, &m, id, out);
}

enum cmd_result
cmd_deleteacl(struct client *c)
{
	char id[MK_USER_MAX];
	struct mbox m;

	if (!acl_target(c, c->cmd->u.acl.mailbox, RT_A, &m) ||
	    !identifier_arg(c, c->cmd->u.acl.identifier, id, sizeof(id)))
		return RUN_DONE;
	return set_rights(c, &m, id, "");
}

enum cmd_result
cmd_listrights(struct client *c)
{
	const char *id = c->cmd->u.acl.identifier;
	char all[RIGHTS_STRLEN];
	struct mbox m;

	if (!acl_target(c, c->cmd->u.acl.mailbox, RT_A, &m))
		return RUN_DONE;
	buf_adds(&c->out, "* LISTRIGHTS ");
	resp_mailbox(c, &c->out, m.name);
	buf_addc(&c->out, ' ');
	imapw_astring(&c->out, id);
	if (strcmp(id, c->user->name) == 0) {
		/* The owner's rights are fixed: all required, none optional. */
		rights_format(RT_ALL, all);
		buf_printf(&c->out, " %s\r\n", all);
	} else
		buf_adds(&c->out, " \"\" l r s w i p k x t e c d a\r\n");
	return resp_ok(c, "LISTRIGHTS completed");
}

enum cmd_result
cmd_myrights(struct client *c)
{
	char mine[RIGHTS_STRLEN];
	struct mbox m;

	if (!acl_target(c, c->cmd->u.mbox.mailbox, 0, &m))
		return RUN_DONE;
	rights_format(rights_for(c, &m), mine);
	buf_adds(&c->out, "* MYRIGHTS ");
	resp_mailbox(c, &c->out, m.name);
	buf_printf(&c->out, " %s\r\n", mine);
	return resp_ok(c, "MYRIGHTS completed");
}

/* ---- the share index across DELETE and RENAME ---- */

struct shared_box {
	char *name;
	char *identifier;
	char *rights;
};

struct shared_list {
	struct store      *s;
	const char        *prefix;	/* the mailbox, and everything below */
	struct shared_box *v;
	size_t             n, cap;
	const char        *cur;
};

static int
collect_acl(const char *identifier, const char *rights, void *arg)
{
	struct shared_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].name = xstrdup(l->cur);
	l->v[l->n].identifier = xstrdup(identifier);
	l->v[l->n].rights = xstrdup(rights);
	l->n++;
	return 0;
}

static int
collect_mbox(const struct mbox *m, void *arg)
{
	struct shared_list *l = arg;
	size_t n = strlen(l->prefix);

	if (strcmp(m->name, l->prefix) != 0 &&
	    !(strncmp(m->name, l->prefix, n) == 0 && m->name[n] == '/'))
		return 0;
	l->cur = m->name;
	return store_acl_foreach(l->s, m->id, collect_acl, l);
}

void
shared_snapshot(struct client *c, const char *name, struct shared_list **out)
{
	struct shared_list *l = xcalloc(1, sizeof(*l));

	l->s = c->user->store;
	l->prefix = name;
	if (store_mbox_foreach(c->user->store, collect_mbox, l) != 0)
		log_warnx("user %s: reading ACLs under %s: %s", c->user->name,
		    name, store_errmsg(c->user->store));
	*out = l;
}

/* After DELETE (to == NULL) or RENAME of the snapshot's mailbox. */
void
shared_moved(struct client *c, struct shared_list *l, const char *from,
    const char *to)
{
	size_t nfrom = strlen(from);

	for (size_t i = 0; i < l->n; i++) {
		struct shared_box *b = &l->v[i];
		struct mbox m;
		share_index_send(c->user, b->name, b->identifier, "");
		if (to != NULL) {
			char *now = xasprintf("%s%s", to, b->name + nfrom);
			share_index_send(c->user, now, b->identifier, b->rights);
			free(now);
		} else if (store_mbox_find(c->user->store, b->name, &m) == 0) {
			/* Kept as a \Noselect parent: still shared. */
			share_index_send(c->user, b->name, b->identifier,
			    b->rights);
		}
	}
}

void
shared_free(struct shared_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].identifier);
		free(l->v[i].rights);
	}
	free(l->v);
	free(l);
}
