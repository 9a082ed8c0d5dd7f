/*
 * cmd_copy.c - COPY, UID COPY (RFC 3501 6.4.7), MOVE and UID MOVE
 * (RFC 6851), with COPYUID (RFC 4315).
 *
 * Both are one transaction.  COPY checks the quota inside it; MOVE does
 * not, since the copies are paid for by the expunge in the same
 * transaction: "delete = move to Trash" works on a full account.
 * Messages shown in the view but already expunged by another session
 * make the command fail whole (RFC 2180 4.4.1).
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

struct copy_ctx {
	struct client *c;
	uint32_t      *uids;
	unsigned      *flags;
	const char   **keywords;
	size_t         n;
	uint64_t       bytes;
	unsigned       rights;	/* on the target */
};

static int
collect(const struct msg_row *r, void *arg)
{
	struct copy_ctx *x = arg;

	x->flags[x->n] = r->flags;
	x->keywords[x->n] = arena_strdup(&x->c->arena, r->keywords);
	x->uids[x->n++] = r->uid;
	x->bytes += r->size;
	return 0;
}

/* Copies keep only the flags the session may set in the target (RFC 4314
 * 4): \Seen needs "s", \Deleted "t", the rest (keywords too) "w". */
static int
filter_copies(struct client *c, struct mbox *dst, const struct copy_ctx *x,
    const uint32_t *newuids)
{
	bool kw = (x->rights & RT_W) != 0;
	struct flag_change *ch;
	uint64_t modseq;
	size_t n = 0;

	if ((x->rights & RT_ALL) == RT_ALL)
		return 0;
	if ((ch = arena_array(&c->arena, x->n + 1, sizeof(*ch))) == NULL)
		return -1;
	for (size_t i = 0; i < x->n; i++) {
		unsigned f = rights_filter_flags(x->rights, x->flags[i]);
		if (f == x->flags[i] && (kw || x->keywords[i][0] == '\0'))
			continue;
		ch[n].uid = newuids[i];
		ch[n].flags = f;
		ch[n].keywords = kw ? x->keywords[i] : "";
		n++;
	}
	return n ? store_msg_set_flags(c->user->store, dst, ch, n, &modseq) : 0;
}

static char *
format_set(struct client *c, const uint32_t *v, size_t n)
{
	struct seqset set;
	size_t len;
	char *text;

	seqset_from_sorted(&c->arena, v, n, &set);
	len = seqset_format(&set, NULL, 0);
	if ((text = arena_alloc(&c->arena, len + 1)) != NULL)
		seqset_format(&set, text, len + 1);
	return text;
}

/* COPYUID pairs source and destination UIDs in order, so the
 * destination list is written as given, not re-sorted. */
static char *
format_list(struct client *c, const uint32_t *v, size_t n)
{
	struct buf b;
	char *res;

	buf_init(&b, 0);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (i > 0)
			buf_addc(&b, ',');
		if (j > i)
			buf_printf(&b, "%u:%u", v[i], v[j]);
		else
			buf_printf(&b, "%u", v[i]);
		i = j + 1;
	}
	res = arena_strdup(&c->arena, buf_cstr(&b));
	buf_free(&b);
	return res;
}

static int
do_copy(struct client *c, struct mbox *dst, struct copy_ctx *x,
    uint32_t *newuids, bool move)
{
	struct user *u = c->user;
	struct mbox *src = &c->view.ms->m;
	struct ghost_batch gb = { 0 };
	int rc;

	if ((rc = store_begin(u->store)) != 0)
		return rc;
	if (!move && (rc = quota_check(c, x->bytes, x->n)) != 0) {
		store_rollback(u->store);
		return rc == 1 ? -2 : rc;
	}
	rc = store_msg_copy(u->store, src, dst, x->uids, x->n, newuids);
	if (rc == 0)
		rc = filter_copies(c, dst, x, newuids);
	if (rc == 0 && move)
		rc = ghost_expunge(c, x->uids, x->n, &gb);
	if (rc == 0)
		rc = store_commit(u->store);
	if (rc != 0) {
		/* The holds were rolled back with the rest. */
		ghost_batch_free(&gb);
		store_rollback(u->store);
		mstates_refresh(u);
		return rc;
	}
	ghosts_take(u, &gb);
	/* Copies of messages not yet indexed wait to be. */
	fts_idle_kick(u);
	return 0;
}

enum cmd_result
cmd_copy(struct client *c)
{
	bool move = c->cmd->id == CMD_MOVE;
	const char *verb = move ? "MOVE" : "COPY";
	struct user *u = c->user;
	struct mbox *src = &c->view.ms->m, dst;
	char name[MK_MBOX_NAME_MAX];
	struct seqset uidset, inview;
	struct copy_ctx x = { .c = c };
	uint32_t *uids, *newuids;
	uint64_t before = src->highestmodseq;
	size_t n;
	int rc;

	if (view_uidset(c, &c->cmd->u.copy.set, c->cmd->uid, &uidset) != 0)
		return resp_bad(c, "Invalid message sequence number");
	if (!mbox_name_arg(c, c->cmd->u.copy.mailbox, name, sizeof(name)))
		return RUN_DONE;
	if (move && c->view.readonly)
		return resp_no(c, "[READ-ONLY] Mailbox is read-only");
	rc = store_mbox_find(u->store, name, &dst);
	if (rc == MK_NOTFOUND || (rc == 0 && (dst.flags & MBOX_NOSELECT)))
		return resp_no(c, "[TRYCREATE] Mailbox doesn't exist: %s", name);
	if (rc != 0)
		return resp_store_error(c, rc, verb);
	if (dst.id == src->id)
		dst = *src;
	if (!rights_check(c, &dst, RT_I, name))
		return RUN_DONE;
	if (move && !(c->view.rights & RT_T && c->view.rights & RT_E))
		return resp_no(c, "[NOPERM] MOVE needs the \"t\" and \"e\" "
		    "rights on this mailbox");
	x.rights = rights_for(c, &dst);
	n = view_uids_in(c, &uidset, &uids);
	if (n == 0)
		return resp_ok(c, "%s completed", verb);
	seqset_from_sorted(&c->arena, uids, n, &inview);
	x.uids = arena_array(&c->arena, n, sizeof(*x.uids));
	x.flags = arena_array(&c->arena, n, sizeof(*x.flags));
	x.keywords = arena_array(&c->arena, n, sizeof(*x.keywords));
	newuids = arena_array(&c->arena, n, sizeof(*newuids));
	if (x.uids == NULL || x.flags == NULL || x.keywords == NULL ||
	    newuids == NULL)
		return resp_no(c, "[LIMIT] Too many messages");
	if ((rc = store_msg_foreach(u->store, src, &inview, collect, &x)) != 0)
		return resp_store_error(c, rc, verb);
	if (x.n < n)
		return resp_no(c, "[EXPUNGEISSUED] Some of the messages were "
		    "expunged by another session; nothing was copied");
	rc = do_copy(c, dst.id == src->id ? src : &dst, &x, newuids, move);
	if (rc == -2)
		return resp_no(c, "[OVERQUOTA] Quota exceeded; nothing was copied");
	if (rc != 0)
		return resp_store_error(c, rc, verb);
	mbox_changed(u, dst.id);
	{
		const char *code = arena_printf(&c->arena, "COPYUID %u %s %s",
		    dst.id == src->id ? src->uidvalidity : dst.uidvalidity,
		    format_set(c, x.uids, x.n), format_list(c, newuids, x.n));
		if (!move)
			return resp_ok(c, "[%s] COPY completed", code);
		/* RFC 6851 4.3: COPYUID in an untagged OK before the expunges. */
		resp_untagged(c, "OK [%s] Moved", code);
	}
	expunge_report(c, x.uids, x.n);
	if (dst.id != src->id)
		mbox_changed(u, src->id);
	view_own_change(c, before, src->highestmodseq);
	return resp_ok(c, "MOVE completed");
}
