/*
 * cmd_sort.c - SORT, UID SORT, THREAD and UID THREAD (RFC 5256, with
 * the DISPLAYFROM / DISPLAYTO keys of RFC 5957).
 *
 * The search is SEARCH's (mbox_search(), every key and charset rule
 * alike); the matching messages' sort keys come from the store's rows
 * (store/sort.h: computed at APPEND), so no message is read here
 * unless a text search key asks for it.
 */
#include "daemon/mailbox/mbox_int.h"
#include "store/sort.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* The criteria are ALL and nothing else (what webmail sends). */
static bool
only_all(const struct search_key *k)
{
	if (k->type != SK_AND || k->child == NULL)
		return false;
	for (k = k->child; k != NULL; k = k->next)
		if (k->type != SK_ALL)
			return false;
	return true;
}

/* Searches, then loads the matches; *msgs in the command's arena with
 * num set to what the answer shows.  0, or -1 after answering NO. */
static int
load(struct client *c, enum sort_need need, struct sort_msg **msgs,
    size_t *n, const char *what)
{
	const struct sort_args *a = &c->cmd->u.sort;
	uint32_t *uids;
	size_t nu;
	int rc;

	if (!str_ieq(a->charset, "UTF-8") && !str_ieq(a->charset, "US-ASCII")) {
		resp_no(c, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset "
		    "%s", a->charset);
		return -1;
	}
	if (only_all(a->key)) {
		/* the view is the answer: no search (store_sort_load leaves
		 * out what has no row any more, as the search would) */
		nu = c->view.n;
		uids = xreallocarray(NULL, nu + 1, sizeof(*uids));
		memcpy(uids, c->view.uids, nu * sizeof(*uids));
	} else if (mbox_search(c, a->key, &uids, &nu) != 0) {
		resp_store_error(c, -1, what);
		return -1;
	}
	rc = store_sort_load(c->user->store, &c->view.ms->m, uids, nu, need,
	    &c->arena, msgs, n);
	free(uids);
	if (rc == MK_INVALID)
		resp_no(c, "[LIMIT] %s: too many messages match; narrow the "
		    "search", what);
	else if (rc != 0)
		resp_store_error(c, rc, what);
	if (rc != 0)
		return -1;
	for (size_t i = 0; i < *n; i++)
		if (!c->cmd->uid)
			(*msgs)[i].num = view_seq_of(&c->view, (*msgs)[i].uid);
	return 0;
}

enum cmd_result
cmd_sort(struct client *c)
{
	const struct sort_args *a = &c->cmd->u.sort;
	enum sort_need need = sort_needs_keys(a->crit, a->ncrit) ?
	    SORT_NEED_KEYS : SORT_NEED_ROWS;
	struct sort_msg *msgs, **p = NULL;
	size_t n;

	if (load(c, need, &msgs, &n, "SORT") != 0)
		return RUN_DONE;
	if (n > 0 && (p = arena_array(&c->arena, n, sizeof(*p))) == NULL)
		return resp_no(c, "[LIMIT] Result too large");
	for (size_t i = 0; i < n; i++)
		p[i] = &msgs[i];
	if (n > 0)
		sort_msgs(p, n, a->crit, a->ncrit);
	buf_adds(&c->out, "* SORT");
	sort_write(&c->out, p, n);
	buf_adds(&c->out, "\r\n");
	return resp_ok(c, "SORT completed");
}

enum cmd_result
cmd_thread(struct client *c)
{
	struct sort_msg *msgs;
	size_t n;

	if (load(c, SORT_NEED_THREAD, &msgs, &n, "THREAD") != 0)
		return RUN_DONE;
	buf_adds(&c->out, "* THREAD");
	thread_write(&c->out, msgs, n, c->cmd->u.sort.alg);
	buf_adds(&c->out, "\r\n");
	return resp_ok(c, "THREAD completed");
}
