/*
 * test_store_index.c - the big-mailbox indexes (schema 13, store_index.c):
 * after a fixed-seed random sequence of APPEND, STORE, EXPUNGE, MOVE,
 * COPY, \Recent claims, RENAME INBOX and DELETE, every mailbox's counters
 * (messages, unseen, deleted, bytes, recent), its UID runs, its first
 * unseen and SEARCH UNSEEN equal a full recount; a store migrated from
 * version 9 gets the same; the reads SELECT and STATUS make use an index
 * (EXPLAIN QUERY PLAN), never a scan of the mailbox; the triggers
 * (schema 14) build no ephemeral table; damaged runs are refused.
 */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/search.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store_support.h"
#include "common/util.h"

#define NBOX 3
static const char *const names[NBOX] = { "INBOX", "A", "B" };

static uint64_t rnd_state;

static uint32_t
rnd(uint32_t n)
{
	/* xorshift64: the same sequence everywhere, unlike rand(). */
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (uint32_t)(rnd_state % n);
}

static int64_t
q1(struct store *s, const char *sql, int64_t id)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(s->db.h, sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return v;
}

/* Every UID of m by a scan, ascending; *n of them. */
static uint32_t *
scan_uids(struct store *s, int64_t id, const char *cond, size_t *n)
{
	char sql[256];
	sqlite3_stmt *st = NULL;
	uint32_t *v = xreallocarray(NULL, 100000, sizeof(*v));

	snprintf(sql, sizeof(sql), "SELECT uid FROM messages NOT INDEXED"
	    " WHERE mailbox_id = ?1 AND %s ORDER BY uid", cond);
	*n = 0;
	CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(s->db.h, sql, -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW && *n < 100000)
		v[(*n)++] = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
check_uids(struct store *s, const struct mbox *m, uint32_t *all, size_t nall)
{
	uint32_t *uids = NULL;
	size_t n = 0;

	CU_ASSERT_EQUAL(store_msg_uids(s, m, &uids, &n), 0);
	CU_ASSERT_EQUAL(n, nall);
	if (n == nall && n > 0)
		CU_ASSERT_EQUAL(memcmp(uids, all, n * sizeof(*uids)), 0);
	free(uids);
}

static void
check_unseen(struct store *s, const struct mbox *m, uint32_t *all,
    size_t nall)
{
	struct search_key k = { .type = SK_UNSEEN };
	struct search_ctx ctx = { .view = all, .nview = nall };
	uint32_t *unseen, *hits = NULL, first = 1;
	size_t nunseen, nhits = 0;

	unseen = scan_uids(s, m->id, "flags & 1 = 0", &nunseen);
	CU_ASSERT_EQUAL(store_first_unseen(s, m, all, nall, &first), 0);
	CU_ASSERT_EQUAL(first, nunseen > 0 ? unseen[0] : 0);
	CU_ASSERT_EQUAL(store_search(s, m, &k, &ctx, &hits, &nhits), 0);
	CU_ASSERT_EQUAL(nhits, nunseen);
	if (nhits == nunseen && nhits > 0)
		CU_ASSERT_EQUAL(memcmp(hits, unseen, nhits * sizeof(*hits)), 0);
	free(hits);
	free(unseen);
}

/* Counters, runs, first unseen and SEARCH UNSEEN of every mailbox
 * against a recount. */
static void
check_all(struct store *s)
{
	for (size_t i = 0; i < NBOX; i++) {
		struct mbox m;
		struct mbox_status st;
		uint32_t *all;
		size_t nall;

		if (store_mbox_find(s, names[i], &m) != 0)
			continue;
		CU_ASSERT_EQUAL_FATAL(store_mbox_status(s, &m, &st), 0);
		all = scan_uids(s, m.id, "1", &nall);
		CU_ASSERT_EQUAL(st.messages, nall);
		CU_ASSERT_EQUAL(st.unseen, q1(s, "SELECT count(*) FROM messages"
		    " NOT INDEXED WHERE mailbox_id = ?1 AND flags & 1 = 0", m.id));
		CU_ASSERT_EQUAL(st.deleted, q1(s, "SELECT count(*) FROM messages"
		    " NOT INDEXED WHERE mailbox_id = ?1 AND flags & 8", m.id));
		CU_ASSERT_EQUAL((int64_t)st.size, q1(s, "SELECT total(size)"
		    " FROM messages NOT INDEXED WHERE mailbox_id = ?1", m.id));
		CU_ASSERT_EQUAL(st.recent, q1(s, "SELECT count(*) FROM messages"
		    " NOT INDEXED WHERE mailbox_id = ?1 AND uid >= (SELECT"
		    " recent_uid FROM mailboxes WHERE id = ?1)", m.id));
		check_uids(s, &m, all, nall);
		check_unseen(s, &m, all, nall);
		free(all);
	}
	/* No run of a mailbox that is gone. */
	CU_ASSERT_EQUAL(q1(s, "SELECT count(*) FROM uid_runs WHERE mailbox_id"
	    " NOT IN (SELECT id FROM mailboxes) AND ?1", 1), 0);
}

/* Up to max UIDs of m picked at random (ascending, may repeat). */
static size_t
pick(struct store *s, const struct mbox *m, uint32_t *out, size_t max)
{
	uint32_t *all;
	size_t nall, n = 0;

	all = scan_uids(s, m->id, "1", &nall);
	if (nall > 0) {
		size_t want = 1 + rnd((uint32_t)MK_MIN(max, nall));
		size_t from = rnd((uint32_t)nall);
		for (size_t i = from; i < nall && n < want; i += 1 + rnd(3))
			out[n++] = all[i];
	}
	free(all);
	return n;
}

static void
op_store(struct store *s, struct mbox *m)
{
	struct flag_change ch[64];
	uint32_t uids[64];
	uint64_t modseq;
	size_t n = pick(s, m, uids, 64);

	for (size_t i = 0; i < n; i++) {
		ch[i].uid = uids[i];
		ch[i].flags = rnd(4) == 0 ? MF_SEEN | MF_DELETED :
		    rnd(2) ? MF_SEEN : 0;
		ch[i].keywords = "";
	}
	if (n > 0)
		CU_ASSERT_EQUAL(store_msg_set_flags(s, m, ch, n, &modseq), 0);
}

static void
op_copy(struct store *s, struct mbox *src, struct mbox *dst, bool move)
{
	uint32_t uids[64], newuids[64];
	size_t n = pick(s, src, uids, 64);

	if (n == 0)
		return;
	CU_ASSERT_EQUAL_FATAL(store_begin(s), 0);
	CU_ASSERT_EQUAL(store_msg_copy(s, src, dst, uids, n, newuids), 0);
	if (move)
		CU_ASSERT_EQUAL(store_msg_expunge(s, src, uids, n), 0);
	CU_ASSERT_EQUAL(store_commit(s), 0);
}

static void
op_other(struct store *s, struct mbox *m, uint32_t r, int step)
{
	uint32_t uids[64], from, to;
	char name[32];
	size_t n;

	switch (r) {
	case 0:
		n = pick(s, m, uids, 64);
		if (n > 0)
			CU_ASSERT_EQUAL(store_msg_expunge(s, m, uids, n), 0);
		break;
	case 1:
		CU_ASSERT_EQUAL(store_mbox_claim_recent(s, m, &from, &to), 0);
		break;
	case 2:	/* INBOX's messages move to a new mailbox */
		snprintf(name, sizeof(name), "Old%d", step);
		CU_ASSERT_EQUAL(store_mbox_rename(s, "INBOX", name), 0);
		CU_ASSERT_EQUAL(store_mbox_delete(s, name), 0);
		break;
	default:
		if (strcmp(m->name, "INBOX") != 0) {
			CU_ASSERT_EQUAL(store_mbox_delete(s, m->name), 0);
			CU_ASSERT_EQUAL(store_mbox_create(s, m->name, 0, m), 0);
		}
	}
}

static void
op_random(struct store *s, int step)
{
	struct mbox m, dst;
	uint32_t r = rnd(100);

	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, names[rnd(NBOX)], &m), 0);
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, names[rnd(NBOX)], &dst), 0);
	if (r < 45) {
		CU_ASSERT_NOT_EQUAL(ts_append(s, &m, ts_msg(NULL, "x"),
		    rnd(3) ? 0 : MF_SEEN, "", 1000 + step, 0), 0);
	} else if (r < 65)
		op_store(s, &m);
	else if (r < 75)
		op_copy(s, &m, &dst, false);
	else if (r < 85)
		op_copy(s, &m, &dst, m.id != dst.id);
	else if (r < 98)
		op_other(s, &m, r < 92 ? 0 : 1, step);
	else
		op_other(s, &m, r == 98 ? 2 : 3, step);
}

void
test_index_counts_match_recount(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct mbox m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_create(s, "A", 0, &m), 0);
	CU_ASSERT_EQUAL(store_mbox_create(s, "B", 0, &m), 0);
	rnd_state = 0x11c0ffee;
	for (int step = 0; step < 1500; step++) {
		op_random(s, step);
		if (step % 50 == 49)
			check_all(s);
	}
	check_all(s);
	store_close(s);
	ts_rmdir(dir);
}

/* What version 12 had: none of schema 13. */
static void
to_v12(struct store *s)
{
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(s->db.h,
	    "DROP TRIGGER index_msg_add; DROP TRIGGER index_msg_del;"
	    "DROP TRIGGER index_msg_move; DROP TRIGGER index_recent;"
	    "DROP TRIGGER index_mbox_gone; DROP TABLE uid_runs;"
	    "DROP INDEX messages_unseen;"
	    "ALTER TABLE mailboxes DROP COLUMN nrecent;"
	    "PRAGMA user_version = 12;", NULL, NULL, NULL), SQLITE_OK);
}

void
test_index_migration_from_v12(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	char err[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_create(s, "A", 0, NULL), 0);
	CU_ASSERT_EQUAL(store_mbox_create(s, "B", 0, NULL), 0);
	rnd_state = 0x5eed;
	for (int step = 0; step < 300; step++)
		op_random(s, step);
	to_v12(s);
	store_close(s);
	if (store_open(ts_path(dir, "store.db"), false, false, NULL, 0, &s, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "\n  migration: %s\n", err);
		CU_FAIL_FATAL("store_open after the migration");
	}
	CU_ASSERT_EQUAL(store_schema_version(s), STORE_SCHEMA_VERSION);
	CU_ASSERT(q1(s, "SELECT count(*) FROM uid_runs WHERE ?1", 1) > 0);
	check_all(s);
	/* and the triggers keep them from there on */
	for (int step = 300; step < 500; step++)
		op_random(s, step);
	check_all(s);
	store_close(s);
	ts_rmdir(dir);
}

/* The plan of sql (parameters unbound) as one string. */
static void
plan_of(struct store *s, const char *sql, char *out, size_t len)
{
	char eqp[1024];
	sqlite3_stmt *st = NULL;

	snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sql);
	out[0] = '\0';
	CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(s->db.h, eqp, -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 3);
		size_t at = strlen(out);
		snprintf(out + at, len - at, "%s; ", d ? d : "");
	}
	sqlite3_finalize(st);
}

/* Each read SELECT and STATUS make, and each trigger's lookup, searches
 * an index; none scans a table. */
void
test_index_reads_use_indexes(void)
{
	static const char *const reads[] = {
		"SELECT lo, hi FROM uid_runs WHERE mailbox_id = ?1 ORDER BY lo",
		"SELECT uid FROM messages INDEXED BY messages_unseen"
		" WHERE mailbox_id = ?1 AND flags & 1 = 0 ORDER BY uid",
		"SELECT nmsgs, nunseen, ndeleted, bytes, deleted_bytes, nrecent"
		" FROM mailboxes WHERE id = ?1",
		"SELECT max(lo) FROM uid_runs WHERE mailbox_id = ?1 AND lo <= ?2",
		"SELECT count(*) FROM messages WHERE mailbox_id = ?1"
		" AND uid >= ?2",
	};
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	char plan[1024];

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (size_t i = 0; i < nitems(reads); i++) {
		plan_of(s, reads[i], plan, sizeof(plan));
		if (strncmp(plan, "SEARCH ", 7) != 0 || strstr(plan, "SCAN"))
			fprintf(stderr, "\n  %s\n  plan: %s\n", reads[i], plan);
		CU_ASSERT(strncmp(plan, "SEARCH ", 7) == 0);
		CU_ASSERT_PTR_NULL(strstr(plan, "SCAN"));
	}
	store_close(s);
	ts_rmdir(dir);
}

/* How many ephemeral tables the index triggers' programs of sql open:
 * EXPLAIN lists each trigger's program after the statement's own, each
 * from address 0 again and named by its first instruction. */
static int
trigger_ephemerals(struct store *s, const char *sql)
{
	char ex[512], prog[128] = "";
	sqlite3_stmt *st = NULL;
	int seen = 0, n = 0;

	snprintf(ex, sizeof(ex), "EXPLAIN %s", sql);
	CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(s->db.h, ex, -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *op = (const char *)sqlite3_column_text(st, 1);
		const char *p4 = (const char *)sqlite3_column_text(st, 5);
		if (sqlite3_column_int(st, 0) == 0) {
			snprintf(prog, sizeof(prog), "%s", p4 ? p4 : "");
			seen += strstr(prog, "TRIGGER index_msg_") != NULL;
		}
		if (strstr(prog, "TRIGGER index_msg_") != NULL &&
		    op != NULL && strcmp(op, "OpenEphemeral") == 0) {
			fprintf(stderr, "\n  %s: ephemeral table in %s\n",
			    sql, prog);
			n++;
		}
	}
	sqlite3_finalize(st);
	CU_ASSERT(seen > 0);	/* the triggers were there to look at */
	return n;
}

/* Schema 14: no trigger of a message's insert, delete or move copies
 * rows into an ephemeral table (one built per message before). */
void
test_index_triggers_no_ephemeral(void)
{
	static const char *const writes[] = {
		("INSERT INTO messages (mailbox_id, uid, body_id, size,"
		" internaldate, tz, flags, modseq) VALUES (1, 1, 1, 1, 0, 0,"
		" 0, 2)"),
		"DELETE FROM messages WHERE mailbox_id = 1 AND uid = 1",
		("UPDATE messages SET mailbox_id = 2, uid = 7"
		" WHERE mailbox_id = 1 AND uid = 1"),
	};
	char *dir = ts_dir();
	struct store *s = ts_open(dir);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (size_t i = 0; i < nitems(writes); i++)
		CU_ASSERT_EQUAL(trigger_ephemerals(s, writes[i]), 0);
	store_close(s);
	ts_rmdir(dir);
}

/* Runs that overlap (a damaged store) are refused, not expanded. */
void
test_index_bad_runs_refused(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct mbox in;
	uint32_t *uids = NULL;
	size_t n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, "INBOX", &in), 0);
	CU_ASSERT_NOT_EQUAL(ts_append(s, &in, ts_msg(NULL, "x"), 0, "", 1, 0),
	    0);
	CU_ASSERT_EQUAL(store_msg_uids(s, &in, &uids, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	free(uids);
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(s->db.h, "INSERT INTO uid_runs"
	    " (mailbox_id, lo, hi) SELECT id, 0, 5 FROM mailboxes"
	    " WHERE name = 'INBOX'", NULL, NULL, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL(store_msg_uids(s, &in, &uids, &n), -1);
	CU_ASSERT_PTR_NULL(uids);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(store_errmsg(s), "bad run"));
	store_close(s);
	ts_rmdir(dir);
}
