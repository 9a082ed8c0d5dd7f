/*
 * cmd_expunge.c - EXPUNGE and UID EXPUNGE (RFC 3501 6.4.3, RFC 4315).
 * Expunged UIDs are reported as EXPUNGE (highest sequence number first,
 * so each number is valid as sent) or, for a QRESYNC client, VANISHED.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/util.h"

#include <stdlib.h>

/* Reports and drops uids[] from the view after the session removed them. */
void
expunge_report(struct client *c, const uint32_t *uids, size_t n)
{
	struct view *v = &c->view;

	if (n == 0)
		return;
	/* RFC 5267 4.3.4: REMOVEFROM before the expunge it follows from */
	context_expunged(c, uids, n);
	if (c->enabled & CAP_QRESYNC) {
		struct seqset set;
		size_t len;
		char *text;

		seqset_from_sorted(&c->arena, uids, n, &set);
		len = seqset_format(&set, NULL, 0);
		text = xmalloc(len + 1);
		seqset_format(&set, text, len + 1);
		resp_untagged(c, "VANISHED %s", text);
		free(text);
		for (size_t i = 0; i < n; i++)
			view_remove_uid(v, uids[i]);
		return;
	}
	for (size_t i = n; i-- > 0;) {
		uint32_t seq = view_seq_of(v, uids[i]);
		if (seq == 0)
			continue;
		view_remove_uid(v, uids[i]);
		resp_untagged(c, "%u EXPUNGE", seq);
	}
}

enum cmd_result
cmd_expunge(struct client *c)
{
	struct search_key k = { .type = SK_DELETED };
	struct user *u = c->user;
	struct mbox *m = &c->view.ms->m;
	uint64_t before = m->highestmodseq;
	uint32_t *uids;
	size_t n, keep = 0;
	int rc;

	if (c->view.readonly)
		return resp_no(c, "[READ-ONLY] Mailbox is read-only");
	if (!(c->view.rights & RT_E))
		return resp_no(c, "[NOPERM] You lack the \"e\" right here");
	if (mbox_search(c, &k, &uids, &n) != 0)
		return resp_store_error(c, -1, "EXPUNGE");
	if (c->cmd->uid) {
		struct seqset set;
		/* UID EXPUNGE: only \Deleted messages in the given set. */
		view_uidset(c, &c->cmd->u.expunge.set, true, &set);
		for (size_t i = 0; i < n; i++)
			if (seqset_contains(&set, uids[i]))
				uids[keep++] = uids[i];
		n = keep;
	}
	if (n > 0) {
		struct ghost_batch gb;
		rc = ghost_expunge(c, uids, n, &gb);
		if (rc != 0) {
			ghost_batch_free(&gb);
			free(uids);
			mstates_refresh(u);
			return resp_store_error(c, rc, "EXPUNGE");
		}
		ghosts_take(u, &gb);
		expunge_report(c, uids, n);
		mbox_changed_to(u, m);
		view_own_change(c, before, m->highestmodseq);
	}
	free(uids);
	return resp_ok(c, "EXPUNGE completed");
}
