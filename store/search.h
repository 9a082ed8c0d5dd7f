/*
 * search.h - evaluating an IMAP SEARCH key tree over one mailbox.
 *
 * The executor of SEARCH / UID SEARCH (daemon/mailbox) hands over the
 * parsed key tree (common/imap.h) with its session's view of the mailbox;
 * store_search() answers the matching UIDs.  Flag, keyword, UID, sequence,
 * size, date and modseq keys are answered by SQLite on indexed columns
 * without reading a message; BCC CC FROM TO SUBJECT BODY TEXT HEADER are
 * asked of ctx->text_match, and only for messages that every other key
 * already admits (MIME decoding and charsets are the caller's business).
 *
 * Semantics (RFC 3501 6.4.4, RFC 5032, RFC 7162, RFC 5182):
 * - sequence numbers are positions in ctx->view: message n is UID
 *   view[n-1]; '*' is the last message of the view, and for UID sets the
 *   highest UID of the view;  "$" is ctx->saved (resolved UIDs; none if
 *   NULL);
 * - BEFORE / ON / SINCE compare the calendar day of INTERNALDATE in its
 *   own zone; SENTBEFORE / SENTON / SENTSINCE the day of the Date: header
 *   in its own zone, and never match a message without a readable one;
 * - OLDER n: INTERNALDATE <= now - n;  YOUNGER n: INTERNALDATE >= now - n;
 * - LARGER / SMALLER compare RFC822.SIZE strictly;  MODSEQ n: modseq >= n;
 * - KEYWORD / UNKEYWORD are case-insensitive;  RECENT asks ctx->is_recent
 *   (none is recent without it);  NEW = RECENT UNSEEN;  OLD = NOT RECENT.
 */
#ifndef MK_SEARCH_H
#define MK_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/imap.h"
#include "store/store.h"

struct search_ctx {
	const uint32_t      *view;	/* the session's UIDs, ascending */
	size_t               nview;
	bool               (*is_recent)(uint32_t uid, void *arg);
	void                *arg;	/* for is_recent */
	int64_t              now;	/* for OLDER / YOUNGER */
	const struct seqset *saved;	/* "$": resolved UIDs, or NULL */
	/* BCC CC FROM TO SUBJECT BODY TEXT HEADER: 1 match, 0 no, -1 error.
	 * Called after the store's own statements are reset, so it may read
	 * the body (store_body_open) or anything else of the store.  r is
	 * valid during the call only. */
	int                (*text_match)(struct store *s,
	                         const struct msg_row *r,
	                         const struct search_key *k, void *text_arg);
	void                *text_arg;
	/* Answer text keys from the full-text index where it can
	 * (store_search_fts_plan()); messages it does not hold yet are
	 * still asked of text_match, so results are the same either way. */
	bool                 fts;
};

/* Matching UIDs, ascending, all of them in the view (malloc'd array,
 * NULL when *n is 0).  0; MK_INVALID for a tree nested deeper than
 * SEARCH_MAX_DEPTH or an OR / NOT without its operands; -1 on a
 * database error or a failing (or missing) text_match. */
#define SEARCH_MAX_DEPTH 128

/* How the full-text index answers text key k: not at all (a string of
 * fewer than 3 characters after folding, one the index cannot hold, a
 * HEADER Sender / Reply-To, whose addresses are also compared
 * rewritten), exactly (BODY, TEXT, SUBJECT, FROM, TO, CC, BCC and
 * HEADER of those five), or as a filter whose candidates text_match
 * confirms (HEADER of any other field: its value is part of the header
 * block the index holds).  *query receives the FTS5 query. */
enum search_fts { SEARCH_FTS_NO, SEARCH_FTS_EXACT, SEARCH_FTS_FILTER };
struct buf;
enum search_fts store_search_fts_plan(const struct search_key *k,
	struct buf *query);
int store_search(struct store *s, const struct mbox *m,
	const struct search_key *key, const struct search_ctx *ctx,
	uint32_t **uids, size_t *n);

#endif
