/*
 * sort.h - SORT and THREAD over one mailbox (RFC 5256, RFC 5957).
 *
 * The sort keys of every body are computed at APPEND (mime_sortkey.c)
 * and kept in body_sort (store_sort.c, schema version 5), so ordering
 * 100,000 messages reads rows, never a message.  The mailbox process
 * searches (store/search.h), loads the rows of the matching UIDs with
 * store_sort_load(), and orders them with sort_msgs() (sort.c) or
 * writes the threads with thread_write() (thread.c).
 */
#ifndef MK_SORT_H
#define MK_SORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/imap.h"
#include "store/mime.h"
#include "store/store.h"

struct arena;

struct sort_msg {
	uint32_t         uid;
	uint32_t         num;	/* what the answer shows: seq or UID */
	uint32_t         seq;	/* position: the final tie-breaker */
	int64_t          arrival;	/* INTERNALDATE, UTC */
	int64_t          date;	/* sent date, UTC; INTERNALDATE without one */
	uint64_t         size;
	struct sort_keys k;
};

/* What store_sort_load() must read: the dates and size only; with the
 * keys of SORT (subject and addresses); or with those of THREAD
 * (subject, Message-ID, references).  What is not read is "". */
enum sort_need { SORT_NEED_ROWS, SORT_NEED_KEYS, SORT_NEED_THREAD };

/* The messages of m whose UIDs are uids[0..n) (ascending), in that
 * order, with seq = index in uids + 1 and num = uid; strings in a.
 * A UID with no message (any more) is left out: *nout <= n.  0;
 * MK_INVALID when a cannot hold them (its ceiling); -1. */
int  store_sort_load(struct store *s, const struct mbox *m,
	const uint32_t *uids, size_t n, enum sort_need need, struct arena *a,
	struct sort_msg **out, size_t *nout);

/* Whether a criterion list needs the header keys. */
bool sort_needs_keys(const struct sort_crit *c, size_t n);
/* Orders the pointers msgs[0..n) by the criteria, ties by seq (RFC
 * 5256 section 3). */
void sort_msgs(struct sort_msg **msgs, size_t n, const struct sort_crit *c,
	size_t nc);
/* The order of sort_msgs(): <0, 0 or >0 as a comes before b. */
int  sort_cmp(const struct sort_msg *a, const struct sort_msg *b,
	const struct sort_crit *c, size_t nc);
/* "123", or " 123" with sp: the answers' numbers (faster than printf,
 * 100,000 times). */
void sort_put_num(struct buf *out, uint32_t v, bool sp);
/* The SORT response's data (after "* SORT"): " 3 1 2" ... */
void sort_write(struct buf *out, struct sort_msg *const *msgs, size_t n);
/* The same as an ESORT sequence-set (RFC 5267 3.2): in sort order,
 * with ranges for ascending runs only: "5,3:4,2,1". */
void sort_write_set(struct buf *out, struct sort_msg *const *msgs,
	size_t n);
/* The THREAD response's data (after "* THREAD") for msgs[0..n) in
 * sequence order: " (1 2)(3)" ..., nothing when n is 0. */
void thread_write(struct buf *out, struct sort_msg *msgs, size_t n,
	enum thread_alg alg);

#endif
