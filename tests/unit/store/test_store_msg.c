/*
 * test_store_msg.c - messages: APPEND, UIDs and rows, MODSEQ per call,
 * CHANGEDSINCE and expunged UIDs, flags and keywords, EXPUNGE, COPY with
 * shared bodies (refcount and deletion of the last copy), streaming a
 * body at offsets, the Date: header, exact quota usage after a mixed
 * workload and its recount; messages prepared from a file mapping
 * (rewritten file to file, blob I/O) stored as the memory path stores them.
 */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/mime.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store_support.h"
#include "common/arena.h"
#include "common/util.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

static char *dir;
static struct store *S;

static void
setup(void)
{
	dir = ts_dir();
	S = ts_open(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(S);
}

static void
teardown(void)
{
	store_close(S);
	S = NULL;
	ts_rmdir(dir);
	dir = NULL;
}

static struct mbox
mb(const char *name)
{
	struct mbox m;

	memset(&m, 0, sizeof(m));
	CU_ASSERT_EQUAL(store_mbox_find(S, name, &m), 0);
	return m;
}

static int64_t
q(const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(S->db.h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

struct rows {
	struct msg_row r[16];
	char           kw[16][64];
	size_t         n;
};

static int
rows_cb(const struct msg_row *r, void *arg)
{
	struct rows *x = arg;

	if (x->n < 16) {
		x->r[x->n] = *r;
		snprintf(x->kw[x->n], sizeof(x->kw[0]), "%s", r->keywords);
		x->r[x->n].keywords = x->kw[x->n];
		x->n++;
	}
	return 0;
}

static struct seqset
set2(struct seq_range *r, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	r[0].lo = a;
	r[0].hi = b;
	r[1].lo = c;
	r[1].hi = d;
	return (struct seqset){ r, 2, false };
}

void
test_msg_append_rows(void)
{
	struct mbox in;
	struct seq_range rr[2];
	struct seqset set;
	struct rows rows = { .n = 0 };
	uint32_t *uids;
	size_t n;

	setup();
	in = mb("INBOX");
	CU_ASSERT_EQUAL(ts_append(S, &in, "first", MF_SEEN, "$a", 1000, 120), 1);
	CU_ASSERT_EQUAL(in.uidnext, 2);
	CU_ASSERT_EQUAL(in.highestmodseq, 2);
	CU_ASSERT_EQUAL(ts_append(S, &in, "second!", 0, "", 2000, -300), 2);
	CU_ASSERT_EQUAL(ts_append(S, &in, "3", MF_FLAGGED | MF_DRAFT, "", 3000,
	    0), 3);
	CU_ASSERT_EQUAL(in.highestmodseq, 4);
	CU_ASSERT_EQUAL(store_msg_uids(S, &in, &uids, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT(n == 3 && uids[0] == 1 && uids[1] == 2 && uids[2] == 3);
	free(uids);
	set = set2(rr, 1, 1, 3, 9);
	CU_ASSERT_EQUAL(store_msg_foreach(S, &in, &set, rows_cb, &rows), 0);
	CU_ASSERT_EQUAL_FATAL(rows.n, 2);
	CU_ASSERT_EQUAL(rows.r[0].uid, 1);
	CU_ASSERT_EQUAL(rows.r[0].size, 5);
	CU_ASSERT_EQUAL(rows.r[0].internaldate.t, 1000);
	CU_ASSERT_EQUAL(rows.r[0].internaldate.tz, 120);
	CU_ASSERT_EQUAL(rows.r[0].flags, MF_SEEN);
	CU_ASSERT_STRING_EQUAL(rows.r[0].keywords, "$a");
	CU_ASSERT_EQUAL(rows.r[0].modseq, 2);
	CU_ASSERT_EQUAL(rows.r[0].id, (int64_t)(((uint64_t)in.id << 32) | 1));
	CU_ASSERT_EQUAL(rows.r[1].uid, 3);
	CU_ASSERT_EQUAL(rows.r[1].flags, MF_FLAGGED | MF_DRAFT);
	CU_ASSERT_STRING_EQUAL(rows.r[1].keywords, "");
	CU_ASSERT_EQUAL(rows.r[1].modseq, 4);
	CU_ASSERT_NOT_EQUAL(rows.r[0].body_id, rows.r[1].body_id);
	teardown();
}

void
test_msg_append_refused(void)
{
	struct mbox in, gone;
	struct msg_new n = { "x", 1, { 1, 6000 }, 0, "" };
	struct quota_usage u;
	uint32_t uid = 0;

	setup();
	in = mb("INBOX");
	/* A zone beyond +-99:59 can't come from IMAP. */
	CU_ASSERT_EQUAL(store_msg_append(S, &in, &n, &uid), MK_INVALID);
	n.internaldate.tz = 0;
	n.keywords = "ok (bad";
	CU_ASSERT_EQUAL(store_msg_append(S, &in, &n, &uid), MK_INVALID);
	CU_ASSERT_EQUAL(in.uidnext, 1);
	CU_ASSERT_EQUAL(mb("INBOX").uidnext, 1);
	CU_ASSERT_EQUAL(store_quota_usage(S, &u), 0);
	CU_ASSERT_EQUAL(u.messages, 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies"), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM keywords"), 0);
	CU_ASSERT_EQUAL(store_mbox_create(S, "gone", 0, &gone), 0);
	CU_ASSERT_EQUAL(store_mbox_delete(S, "gone"), 0);
	n.keywords = "";
	CU_ASSERT_EQUAL(store_msg_append(S, &gone, &n, &uid), MK_NOTFOUND);
	teardown();
}

void
test_msg_body_read_offsets(void)
{
	static const char text[] = "0123456789abcdefghij";
	struct store_body *b;
	struct mbox in;
	struct rows rows = { .n = 0 };
	struct seq_range r = { 1, 2 };
	struct seqset set = { &r, 1, false };
	uint64_t size = 0;
	char buf[32];

	setup();
	in = mb("INBOX");
	CU_ASSERT_EQUAL(ts_append(S, &in, text, 0, "", 1, 0), 1);
	CU_ASSERT_EQUAL(ts_append(S, &in, "", 0, "", 1, 0), 2);
	CU_ASSERT_EQUAL(store_msg_foreach(S, &in, &set, rows_cb, &rows), 0);
	CU_ASSERT_EQUAL_FATAL(rows.n, 2);
	CU_ASSERT_EQUAL_FATAL(store_body_open(S, rows.r[0].body_id, &b,
	    &size), 0);
	CU_ASSERT_EQUAL(size, 20);
	CU_ASSERT_EQUAL(store_body_read(b, 0, buf, 20), 0);
	CU_ASSERT_EQUAL(memcmp(buf, text, 20), 0);
	CU_ASSERT_EQUAL(store_body_read(b, 10, buf, 5), 0);
	CU_ASSERT_EQUAL(memcmp(buf, "abcde", 5), 0);
	CU_ASSERT_EQUAL(store_body_read(b, 19, buf, 1), 0);
	CU_ASSERT_EQUAL(buf[0], 'j');
	CU_ASSERT_EQUAL(store_body_read(b, 20, buf, 0), 0);
	CU_ASSERT_EQUAL(store_body_read(b, 15, buf, 6), MK_INVALID);
	CU_ASSERT_EQUAL(store_body_read(b, 21, buf, 0), MK_INVALID);
	store_body_close(b);
	/* An empty message is a body of zero bytes. */
	CU_ASSERT_EQUAL_FATAL(store_body_open(S, rows.r[1].body_id, &b,
	    &size), 0);
	CU_ASSERT_EQUAL(size, 0);
	CU_ASSERT_EQUAL(store_body_read(b, 0, buf, 0), 0);
	store_body_close(b);
	CU_ASSERT_EQUAL(store_body_open(S, 987654, &b, &size), MK_NOTFOUND);
	CU_ASSERT_PTR_NULL(b);
	teardown();
}

void
test_msg_modseq_and_changed_since(void)
{
	struct flag_change ch[3];
	struct rows rows = { .n = 0 };
	struct mbox in;
	uint64_t ms = 0;

	setup();
	in = mb("INBOX");
	ts_append(S, &in, "a", 0, "", 1, 0);	/* modseq 2 */
	ts_append(S, &in, "b", 0, "", 1, 0);	/* 3 */
	ts_append(S, &in, "c", 0, "", 1, 0);	/* 4 */
	/* One call, one modseq for every row it changes; absent UIDs and
	 * rows that don't change are left alone (RFC 7162 3.1.3). */
	ch[0] = (struct flag_change){ 1, MF_SEEN, "" };
	ch[1] = (struct flag_change){ 2, 0, "" };
	ch[2] = (struct flag_change){ 3, MF_FLAGGED, "$x" };
	CU_ASSERT_EQUAL(store_msg_set_flags(S, &in, ch, 3, &ms), 0);
	CU_ASSERT_EQUAL(ms, 5);
	CU_ASSERT_EQUAL(in.highestmodseq, 5);
	CU_ASSERT_EQUAL(store_msg_changed_since(S, &in, 4, rows_cb, &rows), 0);
	CU_ASSERT_EQUAL_FATAL(rows.n, 2);
	CU_ASSERT(rows.r[0].uid == 1 && rows.r[0].modseq == 5 &&
	    rows.r[0].flags == MF_SEEN);
	CU_ASSERT(rows.r[1].uid == 3 && rows.r[1].modseq == 5 &&
	    rows.r[1].flags == MF_FLAGGED);
	CU_ASSERT_STRING_EQUAL(rows.r[1].keywords, "$x");
	rows.n = 0;
	CU_ASSERT_EQUAL(store_msg_changed_since(S, &in, 0, rows_cb, &rows), 0);
	CU_ASSERT_EQUAL(rows.n, 3);
	CU_ASSERT(rows.r[1].uid == 2 && rows.r[1].modseq == 3);
	/* Nothing changes: no new modseq. */
	ch[0] = (struct flag_change){ 1, MF_SEEN, "" };
	ch[1] = (struct flag_change){ 77, MF_SEEN, "" };
	CU_ASSERT_EQUAL(store_msg_set_flags(S, &in, ch, 2, &ms), 0);
	CU_ASSERT_EQUAL(ms, 5);
	CU_ASSERT_EQUAL(mb("INBOX").highestmodseq, 5);
	/* A keyword alone is a change; spelling and order are not. */
	ch[0] = (struct flag_change){ 3, MF_FLAGGED, "$X" };
	CU_ASSERT_EQUAL(store_msg_set_flags(S, &in, ch, 1, &ms), 0);
	CU_ASSERT_EQUAL(ms, 5);
	ch[0] = (struct flag_change){ 3, MF_FLAGGED, "$x $y" };
	CU_ASSERT_EQUAL(store_msg_set_flags(S, &in, ch, 1, &ms), 0);
	CU_ASSERT_EQUAL(ms, 6);
	ch[0] = (struct flag_change){ 3, MF_FLAGGED, "$Y  $X" };
	CU_ASSERT_EQUAL(store_msg_set_flags(S, &in, ch, 1, &ms), 0);
	CU_ASSERT_EQUAL(ms, 6);
	rows.n = 0;
	CU_ASSERT_EQUAL(store_msg_changed_since(S, &in, 5, rows_cb, &rows), 0);
	CU_ASSERT_EQUAL_FATAL(rows.n, 1);
	CU_ASSERT_STRING_EQUAL(rows.r[0].keywords, "$x $y");
	/* Appends advance it too, and other mailboxes have their own. */
	ts_append(S, &in, "d", 0, "", 1, 0);
	CU_ASSERT_EQUAL(in.highestmodseq, 7);
	teardown();
}

static int
exp_cb(uint32_t uid, uint64_t modseq, void *arg)
{
	uint64_t *v = arg;

	v[0]++;
	v[2 * v[0] - 1] = uid;
	v[2 * v[0]] = modseq;
	return 0;
}

void
test_msg_expunge(void)
{
	struct mbox in;
	uint64_t v[16] = { 0 };
	uint32_t *uids;
	size_t n;

	setup();
	in = mb("INBOX");
	ts_append(S, &in, "a", 0, "", 1, 0);
	ts_append(S, &in, "b", 0, "", 1, 0);
	ts_append(S, &in, "c", 0, "", 1, 0);	/* highestmodseq 4 */
	CU_ASSERT_EQUAL(store_msg_expunge(S, &in, (uint32_t[]){ 3, 1, 99 }, 3),
	    0);
	CU_ASSERT_EQUAL(in.highestmodseq, 5);
	CU_ASSERT_EQUAL(store_msg_uids(S, &in, &uids, &n), 0);
	CU_ASSERT(n == 1 && uids[0] == 2);
	free(uids);
	CU_ASSERT_EQUAL(store_expunged_since(S, &in, 4, exp_cb, v), 0);
	CU_ASSERT_EQUAL(v[0], 2);
	CU_ASSERT(v[1] == 1 && v[2] == 5 && v[3] == 3 && v[4] == 5);
	v[0] = 0;
	CU_ASSERT_EQUAL(store_expunged_since(S, &in, 5, exp_cb, v), 0);
	CU_ASSERT_EQUAL(v[0], 0);
	/* Nothing to expunge: no modseq. */
	CU_ASSERT_EQUAL(store_msg_expunge(S, &in, (uint32_t[]){ 1 }, 1), 0);
	CU_ASSERT_EQUAL(in.highestmodseq, 5);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies"), 1);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_data"), 1);
	/* UIDs are never reused. */
	CU_ASSERT_EQUAL(ts_append(S, &in, "d", 0, "", 1, 0), 4);
	teardown();
}

/* The expunged window (QRESYNC, RFC 7162 3.2.5.2): rows beyond the
 * newest `keep` go once there is an eighth more, never one a live
 * session has yet to be told of, and the floor says what is gone. */
void
test_expunged_prune(void)
{
	struct mbox in;
	uint64_t v[64] = { 0 }, floor;

	setup();
	in = mb("INBOX");
	for (int i = 0; i < 20; i++)
		ts_append(S, &in, "m", 0, "", 1, 0);	/* modseq 2..21 */
	for (uint32_t uid = 1; uid <= 18; uid++)	/* modseq 22..39 */
		CU_ASSERT_EQUAL(store_msg_expunge(S, &in, &uid, 1), 0);
	CU_ASSERT_EQUAL(store_expunged_floor(S, &in, &floor), 0);
	CU_ASSERT_EQUAL(floor, 0);
	/* 18 rows, keep 17: under 17 + 17 / 8, nothing yet */
	CU_ASSERT_EQUAL(store_expunged_prune(S, &in, 17, UINT64_MAX), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM expunged"), 18);
	/* keep 8 but a session still owes UIDs from modseq 25 on */
	CU_ASSERT_EQUAL(store_expunged_prune(S, &in, 8, 24), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM expunged"), 15);
	CU_ASSERT_EQUAL(store_expunged_floor(S, &in, &floor), 0);
	CU_ASSERT_EQUAL(floor, 24);
	/* everyone told: down to the newest 8 (the cut is the 9th newest) */
	CU_ASSERT_EQUAL(store_expunged_prune(S, &in, 8, UINT64_MAX), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM expunged"), 8);
	CU_ASSERT_EQUAL(store_expunged_floor(S, &in, &floor), 0);
	CU_ASSERT_EQUAL(floor, 31);
	/* what is left above the floor is complete */
	CU_ASSERT_EQUAL(store_expunged_since(S, &in, floor, exp_cb, v), 0);
	CU_ASSERT_EQUAL(v[0], 8);
	CU_ASSERT(v[1] == 11 && v[2] == 32);
	/* keep 0: keep everything */
	CU_ASSERT_EQUAL(store_expunged_prune(S, &in, 0, UINT64_MAX), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM expunged"), 8);
	/* the floor never goes down */
	CU_ASSERT_EQUAL(store_expunged_prune(S, &in, 1, 5), 0);
	CU_ASSERT_EQUAL(store_expunged_floor(S, &in, &floor), 0);
	CU_ASSERT_EQUAL(floor, 31);
	teardown();
}

void
test_msg_copy_shares_body(void)
{
	struct mbox in, t;
	struct rows rows = { .n = 0 };
	struct seq_range r = { 1, 10 };
	struct seqset all = { &r, 1, false };
	struct store_body *b;
	uint32_t nu[3];
	uint64_t size;

	setup();
	in = mb("INBOX");
	CU_ASSERT_EQUAL(store_mbox_create(S, "t", 0, &t), 0);
	ts_append(S, &in, "shared body", MF_SEEN | MF_DELETED, "$Fwd", 50, 60);
	ts_append(S, &in, "other", 0, "", 1, 0);
	CU_ASSERT_EQUAL(store_keyword_canon(S, &t, "$FWD", (char[16]){ 0 }, 16),
	    0);
	CU_ASSERT_EQUAL(store_msg_copy(S, &in, &t, (uint32_t[]){ 1, 42, 1 }, 3,
	    nu), 0);
	CU_ASSERT(nu[0] == 1 && nu[1] == 0 && nu[2] == 2);
	CU_ASSERT_EQUAL(t.uidnext, 3);
	CU_ASSERT_EQUAL(t.highestmodseq, 2);	/* one modseq for the call */
	CU_ASSERT_EQUAL(in.highestmodseq, 3);	/* the source is unchanged */
	CU_ASSERT_EQUAL(store_msg_foreach(S, &t, &all, rows_cb, &rows), 0);
	CU_ASSERT_EQUAL_FATAL(rows.n, 2);
	CU_ASSERT_EQUAL(rows.r[0].flags, MF_SEEN | MF_DELETED);
	CU_ASSERT_EQUAL(rows.r[0].internaldate.t, 50);
	CU_ASSERT_EQUAL(rows.r[0].internaldate.tz, 60);
	CU_ASSERT_EQUAL(rows.r[0].size, 11);
	CU_ASSERT_EQUAL(rows.r[0].modseq, 2);
	CU_ASSERT_STRING_EQUAL(rows.r[0].keywords, "$FWD");	/* t's spelling */
	CU_ASSERT_EQUAL(rows.r[0].body_id, rows.r[1].body_id);
	/* Stored once, used three times. */
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies"), 2);
	CU_ASSERT_EQUAL(q("SELECT max(refs) FROM bodies"), 3);
	/* Copy within the same mailbox. */
	CU_ASSERT_EQUAL(store_msg_copy(S, &in, &in, (uint32_t[]){ 2 }, 1, nu),
	    0);
	CU_ASSERT_EQUAL(nu[0], 3);
	CU_ASSERT_EQUAL(in.uidnext, 4);
	/* The body outlives the original... */
	CU_ASSERT_EQUAL(store_msg_expunge(S, &in, (uint32_t[]){ 1 }, 1), 0);
	CU_ASSERT_EQUAL(store_msg_expunge(S, &t, (uint32_t[]){ 1 }, 1), 0);
	CU_ASSERT_EQUAL_FATAL(store_body_open(S, rows.r[1].body_id, &b, &size),
	    0);
	CU_ASSERT_EQUAL(size, 11);
	store_body_close(b);
	/* ...and goes with its last message. */
	CU_ASSERT_EQUAL(store_msg_expunge(S, &t, (uint32_t[]){ 2 }, 1), 0);
	CU_ASSERT_EQUAL(store_body_open(S, rows.r[1].body_id, &b, &size),
	    MK_NOTFOUND);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies"), 1);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_data"), 1);
	CU_ASSERT_EQUAL(q("SELECT refs FROM bodies"), 2);
	teardown();
}

void
test_msg_sent_date_stored(void)
{
	struct mbox in;

	setup();
	in = mb("INBOX");
	ts_append(S, &in, ts_msg("Tue, 1 Jul 2003 10:52:37 +0200", "s"), 0, "",
	    1, 0);
	ts_append(S, &in, ts_msg(NULL, "s"), 0, "", 1, 0);
	CU_ASSERT_EQUAL(q("SELECT sent_t FROM bodies WHERE has_sent"),
	    1057049557);
	CU_ASSERT_EQUAL(q("SELECT sent_tz FROM bodies WHERE has_sent"), 120);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies WHERE NOT has_sent"), 1);
	teardown();
}

static void
assert_quota(uint64_t storage, uint64_t msgs)
{
	struct quota_usage u = { 0, 0 }, kept, actual;

	CU_ASSERT_EQUAL(store_quota_usage(S, &u), 0);
	CU_ASSERT_EQUAL(u.storage, storage);
	CU_ASSERT_EQUAL(u.messages, msgs);
	CU_ASSERT_EQUAL(store_quota_recompute(S, &kept, &actual), 0);
	CU_ASSERT(kept.storage == actual.storage &&
	    kept.messages == actual.messages);
}

void
test_msg_quota_exact(void)
{
	struct quota_usage kept, actual, u;
	struct mbox in, a, b;
	uint32_t nu[4];

	setup();
	in = mb("INBOX");
	CU_ASSERT_EQUAL(store_mbox_create(S, "a/b", 0, &b), 0);
	a = mb("a");
	ts_append(S, &in, "1234567890", 0, "", 1, 0);	/* 10 */
	ts_append(S, &in, "12345", 0, "", 1, 0);	/* 5 */
	ts_append(S, &a, "123", 0, "", 1, 0);		/* 3 */
	ts_append(S, &b, "1234567", 0, "", 1, 0);	/* 7 */
	assert_quota(25, 4);
	/* Copies count in full. */
	CU_ASSERT_EQUAL(store_msg_copy(S, &in, &b, (uint32_t[]){ 1, 2 }, 2, nu),
	    0);
	assert_quota(40, 6);
	CU_ASSERT_EQUAL(store_msg_expunge(S, &in, (uint32_t[]){ 1 }, 1), 0);
	assert_quota(30, 5);
	/* DELETE with children keeps the name, drops the messages. */
	CU_ASSERT_EQUAL(store_mbox_delete(S, "a"), 0);
	assert_quota(27, 4);
	/* A move (copy + expunge in one transaction). */
	CU_ASSERT_EQUAL(store_begin(S), 0);
	CU_ASSERT_EQUAL(store_msg_copy(S, &b, &in, (uint32_t[]){ 1 }, 1, nu), 0);
	CU_ASSERT_EQUAL(store_msg_expunge(S, &b, (uint32_t[]){ 1 }, 1), 0);
	CU_ASSERT_EQUAL(store_commit(S), 0);
	assert_quota(27, 4);
	/* RENAME INBOX moves, it doesn't add. */
	CU_ASSERT_EQUAL(store_mbox_rename(S, "INBOX", "old"), 0);
	assert_quota(27, 4);
	CU_ASSERT_EQUAL(store_mbox_delete(S, "a/b"), 0);
	assert_quota(12, 2);
	/* A rolled-back append leaves the counters as they were. */
	CU_ASSERT_EQUAL(store_begin(S), 0);
	ts_append(S, &in, "123456789", 0, "", 1, 0);
	store_rollback(S);
	assert_quota(12, 2);
	/* The recount repairs counters that drifted, and says what they
	 * were. */
	CU_ASSERT_EQUAL(sqlite3_exec(S->db.h, "UPDATE quota_usage SET "
	    "storage = 999, messages = 99", NULL, NULL, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL(store_quota_recompute(S, &kept, &actual), 0);
	CU_ASSERT(kept.storage == 999 && kept.messages == 99);
	CU_ASSERT(actual.storage == 12 && actual.messages == 2);
	CU_ASSERT_EQUAL(store_quota_usage(S, &u), 0);
	CU_ASSERT(u.storage == 12 && u.messages == 2);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies"), 2);
	teardown();
}

void
test_msg_mailbox_counters_recount(void)
{
	struct quota_usage kept, actual;
	struct mbox_status st;
	struct mbox in;

	setup();
	in = mb("INBOX");
	ts_append(S, &in, "123", MF_DELETED, "", 1, 0);
	ts_append(S, &in, "12", MF_SEEN, "", 1, 0);
	CU_ASSERT_EQUAL(sqlite3_exec(S->db.h, "UPDATE mailboxes SET nmsgs = 7,"
	    " nunseen = 7, ndeleted = 7, bytes = 7, deleted_bytes = 7", NULL,
	    NULL, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL(store_quota_recompute(S, &kept, &actual), 0);
	CU_ASSERT_EQUAL(store_mbox_status(S, &in, &st), 0);
	CU_ASSERT(st.messages == 2 && st.unseen == 1 && st.deleted == 1 &&
	    st.size == 5 && st.deleted_size == 3);
	teardown();
}

/* A foreach callback may change the row it visits and read its body. */
struct reenter {
	struct mbox *m;
	int          visits;
	int          bad;
};

static int
reenter_cb(const struct msg_row *r, void *arg)
{
	struct reenter *x = arg;
	struct flag_change ch = { r->uid, r->flags | MF_SEEN, r->keywords };
	struct store_body *b;
	uint64_t size, ms;
	char c;

	x->visits++;
	if (store_msg_set_flags(S, x->m, &ch, 1, &ms) != 0)
		x->bad++;
	if (store_body_open(S, r->body_id, &b, &size) != 0)
		x->bad++;
	else {
		if (size != r->size || store_body_read(b, 0, &c, 1) != 0 ||
		    c != 'm')
			x->bad++;
		store_body_close(b);
	}
	return 0;
}

void
test_msg_foreach_reentrant(void)
{
	struct mbox in;
	struct seq_range r = { 1, 100 };
	struct seqset all = { &r, 1, false };
	struct reenter x = { &in, 0, 0 };
	struct mbox_status st;
	int i;

	setup();
	in = mb("INBOX");
	for (i = 0; i < 20; i++)
		ts_append(S, &in, "msg", 0, "", i, 0);
	CU_ASSERT_EQUAL(store_begin(S), 0);
	CU_ASSERT_EQUAL(store_msg_foreach(S, &in, &all, reenter_cb, &x), 0);
	CU_ASSERT_EQUAL(store_commit(S), 0);
	CU_ASSERT_EQUAL(x.visits, 20);
	CU_ASSERT_EQUAL(x.bad, 0);
	CU_ASSERT_EQUAL(store_mbox_status(S, &in, &st), 0);
	CU_ASSERT_EQUAL(st.unseen, 0);
	CU_ASSERT_EQUAL(S->db.ntransient, 0);
	teardown();
}

/* ---- messages prepared from a file (store_prep.c) ---- */

/* A multipart message with bare LF line ends in its text part and a
 * binary part holding NULs, larger than one base64 piece. */
static char *
mixed_message(size_t binlen, size_t *len)
{
	static const char head[] =
	    "Subject: mixed\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n"
	    "Content-Type: text/plain\n\nline one\nline two\r\n--b\n"
	    "Content-Type: application/octet-stream\n"
	    "Content-Transfer-Encoding: binary\n\n";
	static const char tail[] = "\n--b--\n";
	char *m = malloc(sizeof(head) + binlen + sizeof(tail));
	size_t n = 0;

	memcpy(m, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	for (size_t i = 0; i < binlen; i++)
		m[n++] = (char)(i * 7 % 251);	/* NULs, CRs, LFs */
	memcpy(m + n, tail, sizeof(tail) - 1);
	*len = n + sizeof(tail) - 1;
	return m;
}

static bool
body_is(int64_t body_id, const char *want, size_t n)
{
	struct store_body *b;
	uint64_t size;
	char *got;
	bool ok;

	if (store_body_open(S, body_id, &b, &size) != 0)
		return false;
	got = malloc(n + 1);
	ok = size == n && store_body_read(b, 0, got, n) == 0 &&
	    memcmp(got, want, n) == 0;
	free(got);
	store_body_close(b);
	return ok;
}

static void
check_file_prepared(const char *msg, size_t len)
{
	struct arena a;
	const char *ref, *ref2;
	size_t reflen, reflen2;
	struct mbox in;
	struct msg_prep *p;
	struct rows rows = { .n = 0 };
	struct seq_range r = { 1, 10 };
	struct seqset set = { &r, 1, false };
	uint32_t uid;
	int fd, dirfd;
	void *map;

	/* What the in-memory path has always stored. */
	arena_init(&a, 0);
	CU_ASSERT_EQUAL_FATAL(mime_encode_nul_parts(&a, msg, len, &ref,
	    &reflen), 0);
	CU_ASSERT_EQUAL_FATAL(mime_normalize_crlf(&a, ref, reflen, &ref2,
	    &reflen2), 0);

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = mk_tmpfile(dirfd);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL_FATAL(write(fd, msg, len), (ssize_t)len);
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(map != MAP_FAILED);

	struct msg_src src = { .data = map, .len = len, .file = true };
	struct msg_tmp tmp = { .dirfd = dirfd, .fd = -1, .len = 0 };
	struct msg_new n = { .internaldate = { 1, 0 }, .keywords = "" };

	in = mb("INBOX");
	CU_ASSERT_EQUAL_FATAL(store_msg_prepare(&src, &tmp, &p), 0);
	CU_ASSERT_EQUAL(store_msg_prep_size(p), reflen2);
	/* A rewrite went to the temporary file, never to the heap. */
	CU_ASSERT_EQUAL(tmp.fd != -1, reflen2 != len || ref != msg);
	CU_ASSERT_PTR_NULL(p->mem);
	CU_ASSERT_EQUAL_FATAL(store_msg_append_prep(S, &in, &n, p, &uid), 0);
	store_msg_prep_free(p);
	/* The same through memory (store_msg_append). */
	n.data = msg;
	n.len = len;
	CU_ASSERT_EQUAL_FATAL(store_msg_append(S, &in, &n, &uid), 0);

	CU_ASSERT_EQUAL(store_msg_foreach(S, &in, &set, rows_cb, &rows), 0);
	CU_ASSERT_EQUAL_FATAL(rows.n, 2);
	CU_ASSERT_EQUAL(rows.r[0].size, reflen2);
	CU_ASSERT_EQUAL(rows.r[1].size, reflen2);
	CU_ASSERT_TRUE(body_is(rows.r[0].body_id, ref2, reflen2));
	CU_ASSERT_TRUE(body_is(rows.r[1].body_id, ref2, reflen2));
	/* Same structure computed both ways. */
	CU_ASSERT_EQUAL(q("SELECT count(DISTINCT bodystructure) FROM "
	    "body_struct"), 1);
	CU_ASSERT_EQUAL(q("SELECT count(DISTINCT parts) FROM body_struct"), 1);
	CU_ASSERT_EQUAL(q("SELECT storage FROM quota_usage"),
	    (int64_t)(2 * reflen2));
	munmap(map, len);
	close(fd);
	if (tmp.fd != -1)
		close(tmp.fd);
	close(dirfd);
	arena_free(&a);
}

void
test_msg_prepare_from_file_rewrites_like_memory(void)
{
	size_t len;
	char *m = mixed_message(500000, &len);

	setup();
	check_file_prepared(m, len);
	teardown();
	free(m);
}

void
test_msg_prepare_from_file_unchanged(void)
{
	size_t len = 300000;
	char *m = malloc(len);

	/* CRLF text without NUL: stored straight from the mapping. */
	memcpy(m, "Subject: plain\r\n\r\n", 18);
	for (size_t i = 18; i < len; i++)
		m[i] = i % 40 == 38 ? '\r' : i % 40 == 39 ? '\n' : 'p';
	setup();
	check_file_prepared(m, len);
	teardown();
	free(m);
}

/* ---- held bodies (store_msg_expunge_held, schema 4) ---- */

static bool
hold_odd(uint32_t uid, void *arg)
{
	(void)arg;
	return uid % 2 == 1;
}

static int
keep_row(const struct msg_row *r, void *arg)
{
	struct rows *x = arg;

	x->r[x->n] = *r;
	x->r[x->n].keywords = "";	/* the row's text is gone after this */
	x->n++;
	return 0;
}

void
test_msg_expunge_held(void)
{
	struct mbox in;
	struct rows kept = { .n = 0 };
	struct store_body *b;
	struct quota_usage qu;
	uint64_t size;
	uint32_t nu[1];

	setup();
	in = mb("INBOX");
	ts_append(S, &in, "one", MF_FLAGGED, "", 7, 0);
	ts_append(S, &in, "two", 0, "", 8, 0);
	ts_append(S, &in, "three", 0, "", 9, 0);
	ts_append(S, &in, "four", 0, "", 10, 0);
	/* message 3's body is shared with a copy */
	CU_ASSERT_EQUAL(store_msg_copy(S, &in, &in, (uint32_t[]){ 3 }, 1, nu),
	    0);
	CU_ASSERT_EQUAL(store_msg_expunge_held(S, &in, (uint32_t[]){ 1, 2, 3 },
	    3, hold_odd, keep_row, &kept), 0);
	/* Held: 1 and 3, with their rows; gone from the mailbox and quota. */
	CU_ASSERT_EQUAL_FATAL(kept.n, 2);
	CU_ASSERT(kept.r[0].uid == 1 && kept.r[1].uid == 3);
	CU_ASSERT_EQUAL(kept.r[0].flags, MF_FLAGGED);
	CU_ASSERT_EQUAL(kept.r[0].size, 3);
	CU_ASSERT_EQUAL(kept.r[0].internaldate.t, 7);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM messages"), 2);
	CU_ASSERT_EQUAL(store_quota_usage(S, &qu), 0);
	CU_ASSERT(qu.messages == 2 && qu.storage == 4 + 5);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM held"), 2);
	/* 2's body went; 1's is readable; 3's is held and copied */
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies"), 3);
	CU_ASSERT_EQUAL_FATAL(store_body_open(S, kept.r[0].body_id, &b, &size),
	    0);
	CU_ASSERT_EQUAL(size, 3);
	store_body_close(b);
	/* Releasing 1 deletes its body; releasing 3 leaves the copy's. */
	CU_ASSERT_EQUAL(store_body_release(S, kept.r[0].body_id), 0);
	CU_ASSERT_EQUAL(store_body_open(S, kept.r[0].body_id, &b, &size),
	    MK_NOTFOUND);
	CU_ASSERT_EQUAL(store_body_release(S, kept.r[1].body_id), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM held"), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies"), 2);
	CU_ASSERT_EQUAL(q("SELECT refs FROM bodies WHERE id = (SELECT body_id"
	    " FROM messages WHERE uid = 5)"), 1);
	/* A second release of the same hold is a no-op. */
	CU_ASSERT_EQUAL(store_body_release(S, kept.r[1].body_id), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies"), 2);
	/* Holds left by a process that died: dropped all at once. */
	kept.n = 0;
	CU_ASSERT_EQUAL(store_msg_expunge_held(S, &in, (uint32_t[]){ 4, 5 }, 2,
	    hold_odd, keep_row, &kept), 0);
	CU_ASSERT_EQUAL(kept.n, 1);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM held"), 1);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies"), 1);
	CU_ASSERT_EQUAL(store_held_release_all(S), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM held"), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies"), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_data"), 0);
	teardown();
}

/* MULTIAPPEND's form: several messages in the caller's transaction with
 * no savepoint each; refused outside one; a rollback leaves nothing of
 * any of them (rows, bodies, runs, counters, quota). */
static int
append_in(struct mbox *m, const char *text, uint32_t *uid)
{
	struct msg_src src = { .data = text, .len = strlen(text) };
	struct msg_new n = { .internaldate = { 1000, 0 }, .keywords = "" };
	struct msg_prep *p;
	int rc;

	CU_ASSERT_EQUAL_FATAL(store_msg_prepare(&src, NULL, &p), 0);
	rc = store_msg_append_in(S, m, &n, p, uid);
	store_msg_prep_free(p);
	return rc;
}

void
test_msg_append_in_transaction(void)
{
	struct quota_usage u;
	struct mbox in;
	uint32_t uid = 0;

	setup();
	in = mb("INBOX");
	CU_ASSERT_NOT_EQUAL(append_in(&in, ts_msg(NULL, "alone"), &uid), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM messages"), 0);
	CU_ASSERT_EQUAL(store_begin(S), 0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(append_in(&in, ts_msg(NULL, "gone"), &uid), 0);
	CU_ASSERT_EQUAL(uid, 3);
	store_rollback(S);
	in = mb("INBOX");
	CU_ASSERT_EQUAL(in.uidnext, 1);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM messages"), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies"), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM uid_runs"), 0);
	CU_ASSERT_EQUAL(store_quota_usage(S, &u), 0);
	CU_ASSERT_EQUAL(u.messages, 0);
	CU_ASSERT_EQUAL(store_begin(S), 0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(append_in(&in, ts_msg(NULL, "kept"), &uid), 0);
	CU_ASSERT_EQUAL(store_commit(S), 0);
	CU_ASSERT_EQUAL(uid, 3);
	CU_ASSERT_EQUAL(mb("INBOX").uidnext, 4);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM messages"), 3);
	CU_ASSERT_EQUAL(q("SELECT lo * 10 + hi FROM uid_runs"), 13);
	CU_ASSERT_EQUAL(store_quota_usage(S, &u), 0);
	CU_ASSERT_EQUAL(u.messages, 3);
	teardown();
}

/* A MULTIAPPEND writes its mailbox's row and the quota once, before
 * the COMMIT: interleaved mailboxes, and an ordinary APPEND in the same
 * transaction, still get their own UIDs, and every counter equals a
 * recount afterwards. */
void
test_msg_append_run_counters(void)
{
	struct mbox in, a, in2;
	struct mbox_status st;
	struct quota_usage u, kept, actual;
	struct msg_new n = { .internaldate = { 1000, 0 }, .keywords = "" };
	uint32_t uid = 0;
	int64_t bytes;

	setup();
	CU_ASSERT_EQUAL_FATAL(store_mbox_create(S, "A", 0, NULL), 0);
	in = mb("INBOX");
	a = mb("A");
	CU_ASSERT_EQUAL_FATAL(store_begin(S), 0);
	CU_ASSERT_EQUAL(append_in(&in, ts_msg(NULL, "one"), &uid), 0);
	CU_ASSERT_EQUAL(uid, 1);
	CU_ASSERT_EQUAL(append_in(&a, ts_msg(NULL, "two"), &uid), 0);
	CU_ASSERT_EQUAL(uid, 1);
	CU_ASSERT_EQUAL(append_in(&in, ts_msg(NULL, "three"), &uid), 0);
	CU_ASSERT_EQUAL(uid, 2);
	/* not via append_in: a savepoint of its own, reading the row */
	in2 = in;
	n.data = ts_msg(NULL, "four");
	n.len = strlen(n.data);
	CU_ASSERT_EQUAL(store_msg_append(S, &in2, &n, &uid), 0);
	CU_ASSERT_EQUAL(uid, 3);
	CU_ASSERT_EQUAL(append_in(&in, ts_msg(NULL, "five"), &uid), 0);
	CU_ASSERT_EQUAL(uid, 4);
	CU_ASSERT_EQUAL(store_commit(S), 0);
	CU_ASSERT_EQUAL(mb("INBOX").uidnext, 5);
	CU_ASSERT_EQUAL(mb("A").uidnext, 2);
	CU_ASSERT_EQUAL(mb("INBOX").highestmodseq,
	    (uint64_t)q("SELECT max(modseq) FROM messages WHERE mailbox_id"
	    " = (SELECT id FROM mailboxes WHERE name = 'INBOX')"));
	CU_ASSERT_EQUAL(store_mbox_status(S, &in, &st), 0);
	CU_ASSERT_EQUAL(st.messages, 4);
	CU_ASSERT_EQUAL(st.unseen, 4);
	bytes = q("SELECT sum(size) FROM messages WHERE mailbox_id"
	    " = (SELECT id FROM mailboxes WHERE name = 'INBOX')");
	CU_ASSERT_EQUAL((int64_t)st.size, bytes);
	CU_ASSERT_EQUAL(store_quota_usage(S, &u), 0);
	CU_ASSERT_EQUAL(u.messages, 5);
	CU_ASSERT_EQUAL((int64_t)u.storage, q("SELECT sum(size) FROM messages"));
	CU_ASSERT_EQUAL(store_quota_recompute(S, &kept, &actual), 0);
	CU_ASSERT_EQUAL(kept.messages, actual.messages);
	CU_ASSERT_EQUAL(kept.storage, actual.storage);
	teardown();
}

struct flag_rows {
	uint32_t uid[8];
	unsigned flags[8];
	size_t   n, stop;
};

static int
flag_row(const struct msg_row *r, void *arg)
{
	struct flag_rows *x = arg;

	x->uid[x->n] = r->uid;
	x->flags[x->n] = r->flags;
	return ++x->n == x->stop ? 7 : 0;
}

/* FETCH FLAGS's read: UIDs lo..hi only, in order, and it stops with the
 * callback's answer. */
void
test_msg_flags_each(void)
{
	struct flag_rows x = { .stop = 8 };
	struct mbox in;

	setup();
	in = mb("INBOX");
	for (unsigned i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(ts_append(S, &in, "m", i, "", 1000, 0), i + 1);
	CU_ASSERT_EQUAL(store_msg_flags_each(S, &in, 2, 4, flag_row, &x), 0);
	CU_ASSERT_EQUAL_FATAL(x.n, 3);
	CU_ASSERT(x.uid[0] == 2 && x.uid[1] == 3 && x.uid[2] == 4);
	CU_ASSERT(x.flags[0] == 1 && x.flags[2] == 3);
	memset(&x, 0, sizeof(x));
	x.stop = 2;
	CU_ASSERT_EQUAL(store_msg_flags_each(S, &in, 1, 5, flag_row, &x), 7);
	CU_ASSERT_EQUAL(x.n, 2);
	memset(&x, 0, sizeof(x));
	x.stop = 8;
	CU_ASSERT_EQUAL(store_msg_flags_each(S, &in, 6, 9, flag_row, &x), 0);
	CU_ASSERT_EQUAL(x.n, 0);
	teardown();
}
