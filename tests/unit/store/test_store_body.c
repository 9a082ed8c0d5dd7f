/*
 * test_store_body.c - message bodies stored in chunks, compressed or
 * not (store_body.c): reads of ranges within a chunk, across chunk
 * borders, of exactly one chunk and of an empty body; what is stored
 * (frames shorter than their text, incompressible text kept as it is,
 * sizes and quota of the text); a mixed store of one-blob and chunked
 * bodies; COPY and EXPUNGE of chunked bodies; damaged rows (a changed
 * frame, a missing, a too long chunk, a wild chunk size) answered with
 * MK_DAMAGED, never a crash, and only when the damage is under the read
 * range; a fuzz-ish pass of mutated frames; the header's frame of its
 * own, read without the rest; a reader's handle moved from body to body
 * inside a read transaction.
 */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <zstd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_int.h"
#include "store_support.h"
#include "common/util.h"

#define CH (64 * 1024)

static char *dir;
static struct store *S;
static struct mbox In;

static void
setup(bool compress)
{
	dir = ts_dir();
	S = ts_open(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(S);
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(S, "INBOX", &In), 0);
	store_set_compress(S, compress, 3, 0);
}

static void
teardown(void)
{
	store_close(S);
	S = NULL;
	ts_rmdir(dir);
	dir = NULL;
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

static void
x(const char *sql)
{
	CU_ASSERT_EQUAL(sqlite3_exec(S->db.h, sql, NULL, NULL, NULL),
	    SQLITE_OK);
}

/* A text message of exactly len bytes (len >= 64): CRLF lines that
 * differ from each other, as mail does, so they compress but not to
 * nothing. */
static char *
text_msg(size_t len)
{
	static const char hdr[] = "Subject: chunks\r\n\r\n";
	char *m = xmalloc(len + 1);
	size_t at = sizeof(hdr) - 1;
	unsigned n = 0;

	memcpy(m, hdr, at);
	while (at < len) {
		char line[96];
		int k = snprintf(line, sizeof(line), "line %u of the body, "
		    "word%u and %u more\r\n", n, n * 7919 % 10007, n % 97);
		size_t take = MK_MIN((size_t)k, len - at);
		memcpy(m + at, line, take);
		at += take;
		n++;
	}
	/* end on CRLF so the store keeps the length as it is */
	if (len >= 2) {
		m[len - 2] = '\r';
		m[len - 1] = '\n';
	}
	m[len] = '\0';
	return m;
}

static uint32_t
put(const char *m, size_t len)
{
	struct msg_new n = { .data = m, .len = len,
	    .internaldate = { 1700000000, 0 } };
	uint32_t uid = 0;

	CU_ASSERT_EQUAL(store_msg_append(S, &In, &n, &uid), 0);
	return uid;
}

static int64_t
body_of(uint32_t uid)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT body_id FROM messages WHERE "
	    "mailbox_id = %lld AND uid = %u", (long long)In.id, uid);
	return q(sql);
}

/* Reads [off, off + n) through a fresh reader and compares with m. */
static int
range_ok(int64_t body, const char *m, uint64_t off, size_t n)
{
	struct store_body *b;
	char *got = xmalloc(n + 1);
	int rc;

	if ((rc = store_body_open(S, body, &b, NULL)) == 0) {
		rc = store_body_read(b, off, got, n);
		store_body_close(b);
	}
	if (rc == 0 && memcmp(got, m + off, n) != 0)
		rc = 99;
	if (getenv("TB_DEBUG") && rc != 0)
		fprintf(stderr, "range %llu+%zu: %d %s\n",
		    (unsigned long long)off, n, rc, store_errmsg(S));
	free(got);
	return rc;
}

void
test_body_ranges_across_chunks(void)
{
	size_t len = 3 * CH + 12345;
	char *m;
	int64_t body;
	static const uint64_t offs[][2] = {
		{ 0, 1 }, { CH - 10, 20 }, { CH - 1, 2 }, { CH, CH },
		{ CH - 5, CH + 10 }, { 2 * CH + 7, CH }, { 0, 3 * CH + 12345 },
		{ 3 * CH + 12344, 1 }, { 3 * CH, 12345 }, { 100, 0 },
	};

	setup(true);
	m = text_msg(len);
	body = body_of(put(m, len));
	CU_ASSERT_EQUAL(q("SELECT chunk FROM bodies"), CH);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_chunks"), 4);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_data"), 0);
	/* every row is a frame, and they are much shorter than the text */
	CU_ASSERT(q("SELECT max(length(data)) FROM body_chunks") < CH / 2);
	CU_ASSERT(q("SELECT sum(length(data)) FROM body_chunks") <
	    (int64_t)len / 4);
	for (size_t i = 0; i < nitems(offs); i++)
		CU_ASSERT_EQUAL(range_ok(body, m, offs[i][0],
		    (size_t)offs[i][1]), 0);
	/* one reader, reading on piece by piece as FETCH streams */
	{
		struct store_body *b;
		uint64_t size = 0;
		char piece[7000];
		CU_ASSERT_EQUAL_FATAL(store_body_open(S, body, &b, &size), 0);
		CU_ASSERT_EQUAL(size, len);
		for (uint64_t off = 0; off < len; off += sizeof(piece)) {
			size_t n = (size_t)MK_MIN(len - off, sizeof(piece));
			CU_ASSERT_EQUAL_FATAL(store_body_read(b, off, piece, n),
			    0);
			CU_ASSERT_FATAL(memcmp(piece, m + off, n) == 0);
			store_body_rest(b);
		}
		CU_ASSERT_EQUAL(store_body_read(b, len, piece, 1),
		    MK_INVALID);
		store_body_close(b);
	}
	/* sizes are the text's */
	CU_ASSERT_EQUAL(q("SELECT size FROM messages"), (int64_t)len);
	CU_ASSERT_EQUAL(q("SELECT size FROM bodies"), (int64_t)len);
	CU_ASSERT_EQUAL(q("SELECT storage FROM quota_usage"), (int64_t)len);
	free(m);
	teardown();
}

void
test_body_exactly_one_chunk(void)
{
	char *m = text_msg(CH), *all;
	size_t n;
	int64_t body;

	setup(true);
	body = body_of(put(m, CH));
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_chunks"), 1);
	CU_ASSERT_EQUAL(range_ok(body, m, 0, CH), 0);
	CU_ASSERT_EQUAL(range_ok(body, m, CH - 1, 1), 0);
	CU_ASSERT_EQUAL(store_body_load(S, body, &all, &n), 0);
	CU_ASSERT_EQUAL(n, CH);
	CU_ASSERT(all != NULL && memcmp(all, m, CH) == 0);
	free(all);
	free(m);
	teardown();
}

void
test_body_empty_and_small(void)
{
	struct store_body *b;
	uint64_t size = 1;
	char c;
	int64_t body;

	setup(true);
	body = body_of(put("", 0));
	CU_ASSERT_EQUAL_FATAL(store_body_open(S, body, &b, &size), 0);
	CU_ASSERT_EQUAL(size, 0);
	CU_ASSERT_EQUAL(store_body_read(b, 0, &c, 0), 0);
	CU_ASSERT_EQUAL(store_body_read(b, 0, &c, 1), MK_INVALID);
	store_body_close(b);
	/* a few bytes: chunked (min size 0), kept as text (no gain) */
	body = body_of(put("a: b\r\n\r\nx\r\n", 11));
	CU_ASSERT_EQUAL(q("SELECT length(data) FROM body_chunks"), 11);
	CU_ASSERT_EQUAL(range_ok(body, "a: b\r\n\r\nx\r\n", 3, 8), 0);
	teardown();
}

/* Text that does not compress is stored as it is, chunk by chunk: the
 * path a failing compression takes too. */
void
test_body_incompressible_kept_as_text(void)
{
	size_t len = 2 * CH + 999;
	char *m = ts_noise_msg(len);
	int64_t body;

	setup(true);
	body = body_of(put(m, len));
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_chunks"), 3);
	CU_ASSERT_EQUAL(q("SELECT sum(length(data)) FROM body_chunks"),
	    (int64_t)len);
	CU_ASSERT_EQUAL(range_ok(body, m, CH - 3, CH + 100), 0);
	CU_ASSERT_EQUAL(range_ok(body, m, 0, len), 0);
	free(m);
	teardown();
}

/* Bodies stored before compression (or with it off) and after live side
 * by side; COPY shares a chunked body, the last EXPUNGE drops its
 * chunks. */
void
test_body_mixed_store_copy_expunge(void)
{
	size_t big = CH + 500, small = 3000;
	char *mb = text_msg(big), *ms = text_msg(small);
	uint32_t u1, u2, u3, nu = 0;
	struct mbox arch;

	setup(false);
	u1 = put(ms, small);		/* one blob, as before version 12 */
	u2 = put(mb, big);		/* off, but big: chunks as text */
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_data"), 1);
	CU_ASSERT_EQUAL(q("SELECT sum(length(data)) FROM body_chunks"),
	    (int64_t)big);
	store_set_compress(S, true, 19, 1024);
	u3 = put(mb, big);
	CU_ASSERT(q("SELECT sum(length(data)) FROM body_chunks") <
	    (int64_t)big + (int64_t)big / 4);
	CU_ASSERT_EQUAL(range_ok(body_of(u1), ms, 0, small), 0);
	CU_ASSERT_EQUAL(range_ok(body_of(u2), mb, 10, big - 10), 0);
	CU_ASSERT_EQUAL(range_ok(body_of(u3), mb, CH - 1, 501), 0);
	CU_ASSERT_EQUAL(q("SELECT storage FROM quota_usage"),
	    (int64_t)(small + 2 * big));
	CU_ASSERT_EQUAL_FATAL(store_mbox_create(S, "Archive", 0, &arch), 0);
	CU_ASSERT_EQUAL(store_msg_copy(S, &In, &arch, &u3, 1, &nu), 0);
	CU_ASSERT_EQUAL(q("SELECT refs FROM bodies WHERE chunk != 0 AND id ="
	    " (SELECT max(id) FROM bodies)"), 2);
	CU_ASSERT_EQUAL(store_msg_expunge(S, &In, &u3, 1), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_chunks"), 4);
	CU_ASSERT_EQUAL(store_msg_expunge(S, &arch, &nu, 1), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_chunks"), 2);
	CU_ASSERT_EQUAL(store_msg_expunge(S, &In, &u2, 1), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_chunks"), 0);
	CU_ASSERT_EQUAL(range_ok(body_of(u1), ms, 0, small), 0);
	free(mb);
	free(ms);
	teardown();
}

static int
read_rc(int64_t body, uint64_t off, size_t n)
{
	struct store_body *b;
	char *buf = xmalloc(n + 1);
	int rc;

	if ((rc = store_body_open(S, body, &b, NULL)) == 0) {
		rc = store_body_read(b, off, buf, n);
		store_body_close(b);
	}
	free(buf);
	return rc;
}

/* A damaged chunk is an error for the reads that need it, and no others:
 * a read decodes only the chunks under its range. */
void
test_body_damaged_chunks(void)
{
	size_t len = 4 * CH;
	char *m = text_msg(len), sql[256];
	int64_t body;

	setup(true);
	body = body_of(put(m, len));
	/* chunk 1: a byte of the frame changed (the checksum catches it) */
	snprintf(sql, sizeof(sql), "UPDATE body_chunks SET data = "
	    "substr(data, 1, 200) || x'00' || substr(data, 202) "
	    "WHERE id = %lld", (long long)(body << 24 | 1));
	x(sql);
	/* chunk 3: gone */
	snprintf(sql, sizeof(sql), "DELETE FROM body_chunks WHERE id = %lld",
	    (long long)(body << 24 | 3));
	x(sql);
	CU_ASSERT_EQUAL(read_rc(body, CH + 5, 10), MK_DAMAGED);
	CU_ASSERT_EQUAL(read_rc(body, CH - 5, 10), MK_DAMAGED);
	CU_ASSERT_EQUAL(read_rc(body, 3 * CH, 1), MK_DAMAGED);
	CU_ASSERT_EQUAL(read_rc(body, 0, len), MK_DAMAGED);
	CU_ASSERT_EQUAL(range_ok(body, m, 0, CH), 0);
	CU_ASSERT_EQUAL(range_ok(body, m, 2 * CH, CH), 0);
	CU_ASSERT_EQUAL(range_ok(body, m, 2 * CH + 1, 100), 0);
	/* chunk 2 longer than its text */
	snprintf(sql, sizeof(sql), "UPDATE body_chunks SET data = "
	    "zeroblob(%d) WHERE id = %lld", CH + 1,
	    (long long)(body << 24 | 2));
	x(sql);
	CU_ASSERT_EQUAL(read_rc(body, 2 * CH, 1), MK_DAMAGED);
	/* chunk 0 empty */
	snprintf(sql, sizeof(sql), "UPDATE body_chunks SET data = x'' "
	    "WHERE id = %lld", (long long)(body << 24));
	x(sql);
	CU_ASSERT_EQUAL(read_rc(body, 0, 1), MK_DAMAGED);
	/* a wild chunk size */
	x("UPDATE bodies SET chunk = 3");
	CU_ASSERT_EQUAL(read_rc(body, 0, 1), MK_DAMAGED);
	x("UPDATE bodies SET chunk = 1099511627776");
	CU_ASSERT_EQUAL(read_rc(body, 0, 1), MK_DAMAGED);
	free(m);
	teardown();
}

/* Mutated frames (bytes flipped, truncated, spliced from another chunk)
 * are either refused as damage or, with the checksum, decode to the
 * original; the reader never crashes nor reports success on wrong
 * bytes. */
void
test_body_fuzz_damaged_frames(void)
{
	size_t len = 3 * CH;
	char *m = text_msg(len);
	int64_t body;
	uint64_t r = 0x9E3779B97F4A7C15ULL;
	sqlite3_stmt *get = NULL, *set = NULL;
	unsigned char *orig, *mut;
	int olen, damaged = 0;

	setup(true);
	body = body_of(put(m, len));
	CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(S->db.h, "SELECT data FROM "
	    "body_chunks WHERE id = ?1", -1, &get, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(S->db.h, "UPDATE body_chunks"
	    " SET data = ?2 WHERE id = ?1", -1, &set, NULL), SQLITE_OK);
	sqlite3_bind_int64(get, 1, body << 24 | 1);
	CU_ASSERT_EQUAL_FATAL(sqlite3_step(get), SQLITE_ROW);
	olen = sqlite3_column_bytes(get, 0);
	orig = xmalloc((size_t)olen);
	mut = xmalloc((size_t)olen);
	memcpy(orig, sqlite3_column_blob(get, 0), (size_t)olen);
	sqlite3_finalize(get);
	for (int i = 0; i < 400; i++) {
		int mlen = olen, rc;
		memcpy(mut, orig, (size_t)olen);
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		switch (i % 4) {
		case 0:	/* one byte */
			mut[r % (uint64_t)olen] ^= (unsigned char)(1 + (r >> 32) % 255);
			break;
		case 1:	/* several bytes */
			for (int k = 0; k < 8; k++)
				mut[(r >> (k * 5)) % (uint64_t)olen] =
				    (unsigned char)(r >> (k * 7));
			break;
		case 2:	/* truncated */
			mlen = (int)(r % (uint64_t)olen);
			break;
		default:	/* the frame header kept, the rest shifted */
			memmove(mut + 6, mut + 7, (size_t)olen - 7);
			mlen = olen - 1 - (int)(r % 50);
			break;
		}
		sqlite3_bind_int64(set, 1, body << 24 | 1);
		sqlite3_bind_blob(set, 2, mut, mlen, SQLITE_STATIC);
		CU_ASSERT_EQUAL_FATAL(sqlite3_step(set), SQLITE_DONE);
		sqlite3_reset(set);
		rc = range_ok(body, m, CH, CH);
		CU_ASSERT(rc == 0 || rc == MK_DAMAGED);
		damaged += rc == MK_DAMAGED;
		/* the chunks around it are untouched */
		CU_ASSERT_EQUAL(range_ok(body, m, 0, CH), 0);
	}
	CU_ASSERT(damaged > 350);
	sqlite3_finalize(set);
	free(orig);
	free(mut);
	free(m);
	teardown();
}

/* The full-text index reads a compressed body through the reader; a
 * damaged one is set aside, not retried for ever. */
void
test_body_fts_indexes_compressed(void)
{
	size_t len = 3 * CH;
	char *m = text_msg(len), sql[160];
	unsigned done = 0;
	uint64_t left = 9;
	int64_t b2;

	setup(true);
	if (!store_fts_on(S)) {
		free(m);
		teardown();
		return;	/* this SQLite has no FTS5 trigram */
	}
	store_fts_write(S, false);
	memcpy(m + 2 * CH + 100, " quetzalcoatl ", 14);
	put(m, len);
	memcpy(m + 2 * CH + 100, " axolotlplain ", 14);
	b2 = body_of(put(m, len));
	snprintf(sql, sizeof(sql), "DELETE FROM body_chunks WHERE id = %lld",
	    (long long)(b2 << 24 | 1));
	x(sql);
	CU_ASSERT_EQUAL(store_fts_index(S, 10, 0, false, &done, &left), 0);
	CU_ASSERT_EQUAL(left, 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM fts WHERE fts MATCH "
	    "'quetzalcoatl'"), 1);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM fts WHERE fts MATCH "
	    "'axolotlplain'"), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM fts_pending WHERE state = 1"),
	    1);
	free(m);
	teardown();
}

/* A store of schema 11 (every body one blob) opens at 13 with its bodies
 * read as before, and takes compressed ones beside them. */
void
test_body_migration_from_v11(void)
{
	char *big = text_msg(2 * CH + 3), *got, err[256];
	const char *small = "Subject: old\r\n\r\nold body\r\n";
	size_t n;
	uint32_t u1, u2, u3;

	setup(false);
	u1 = put(small, strlen(small));
	u2 = put(big, 2 * CH + 3);
	/* as version 11 (before chunks) stored them: one blob each */
	x("INSERT INTO body_data (id, data) SELECT 2, CAST('' AS BLOB)");
	store_close(S);
	{
		sqlite3 *h;
		sqlite3_stmt *st;
		CU_ASSERT_EQUAL_FATAL(sqlite3_open(ts_path(dir, "store.db"), &h),
		    SQLITE_OK);
		CU_ASSERT_EQUAL(sqlite3_prepare_v2(h, "UPDATE body_data SET "
		    "data = ?1 WHERE id = 2", -1, &st, NULL), SQLITE_OK);
		sqlite3_bind_blob(st, 1, big, 2 * CH + 3, SQLITE_STATIC);
		CU_ASSERT_EQUAL(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
		CU_ASSERT_EQUAL(sqlite3_exec(h, /* versions 13 and 12 */
		    "DROP TRIGGER index_msg_add; DROP TRIGGER index_msg_del;"
		    "DROP TRIGGER index_msg_move; DROP TRIGGER index_recent;"
		    "DROP TRIGGER index_mbox_gone; DROP TABLE uid_runs;"
		    "DROP INDEX messages_unseen;"
		    "ALTER TABLE mailboxes DROP COLUMN nrecent;"
		    "DROP TRIGGER body_chunks_gone;"
		    "DROP TABLE body_chunks; ALTER TABLE bodies DROP COLUMN chunk;"
		    "PRAGMA user_version = 11;", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(h);
	}
	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(dir, "store.db"), false,
	    STORE_SYNC_NONE, NULL, 0, &S, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_schema_version(S), STORE_SCHEMA_VERSION);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies WHERE chunk = 0"), 2);
	store_set_compress(S, true, 3, 0);
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(S, "INBOX", &In), 0);
	u3 = put(big, 2 * CH + 3);
	CU_ASSERT_EQUAL(store_body_load(S, body_of(u1), &got, &n), 0);
	CU_ASSERT(n == strlen(small) && memcmp(got, small, n) == 0);
	free(got);
	CU_ASSERT_EQUAL(range_ok(body_of(u2), big, CH - 7, CH + 9), 0);
	CU_ASSERT_EQUAL(range_ok(body_of(u3), big, CH - 7, CH + 9), 0);
	CU_ASSERT(q("SELECT sum(length(data)) FROM body_chunks") < CH);
	/* the old blob goes with its message as before */
	CU_ASSERT_EQUAL(store_msg_expunge(S, &In, &u2, 1), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_data"), 1);
	free(big);
	teardown();
}

/* ---- rewriting one-blob bodies (store_body_recompress) ---- */

/* Puts body id back into the one-blob layout of schema < 12, as a store
 * written before compression existed holds it. */
static void
as_old_blob(int64_t id, const char *m, size_t len)
{
	char sql[256];
	sqlite3_stmt *st = NULL;

	snprintf(sql, sizeof(sql), "DELETE FROM body_chunks WHERE id BETWEEN "
	    "%lld AND %lld; UPDATE bodies SET chunk = 0 WHERE id = %lld;"
	    "DELETE FROM body_data WHERE id = %lld", (long long)id << 24,
	    ((long long)id << 24) + 16777215, (long long)id, (long long)id);
	x(sql);
	CU_ASSERT_EQUAL(sqlite3_prepare_v2(S->db.h, "INSERT INTO body_data "
	    "(id, data) VALUES (?1, ?2)", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_blob(st, 2, m, (int)len, SQLITE_STATIC);
	CU_ASSERT_EQUAL(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

/* Every batch until none is left; returns the bodies rewritten. */
static unsigned
recompress_all(unsigned max, unsigned *batches)
{
	int64_t cursor = 0;
	unsigned done, total = 0;
	bool more = true;

	*batches = 0;
	while (more && *batches < 100) {
		int rc = store_body_recompress(S, max, 1 << 20, &cursor,
		    &done, &more);
		if (rc != 0)
			fprintf(stderr, "recompress: %d %s\n", rc,
			    store_errmsg(S));
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		total += done;
		(*batches)++;
	}
	return total;
}

/* Old bodies above the threshold go into compressed chunks in batches;
 * small ones stay; every byte, size and the quota read the same after;
 * a second pass finds nothing. */
void
test_body_recompress_old_blobs(void)
{
	char *mid = text_msg(40 * 1024), *big = text_msg(3 * CH + 5);
	char *noise = ts_noise_msg(2 * CH + 1);
	const char *small = "Subject: old\r\n\r\nold body\r\n";
	struct quota_usage q0, q1;
	struct mbox other;
	uint32_t us, um, ub, un, copy;
	int64_t sizes0, bytes0;
	unsigned batches;
	char sql[256];

	setup(false);
	us = put(small, strlen(small));
	um = put(mid, 40 * 1024);
	ub = put(big, 3 * CH + 5);
	un = put(noise, 2 * CH + 1);
	as_old_blob(body_of(ub), big, 3 * CH + 5);
	as_old_blob(body_of(un), noise, 2 * CH + 1);
	CU_ASSERT_EQUAL(store_mbox_create(S, "Other", 0, &other), 0);
	CU_ASSERT_EQUAL(store_msg_copy(S, &In, &other, &ub, 1, &copy), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies WHERE chunk = 0"), 4);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_chunks"), 0);
	CU_ASSERT_EQUAL(store_quota_usage(S, &q0), 0);
	sizes0 = q("SELECT sum(size) FROM messages");
	bytes0 = q("SELECT sum(bytes) FROM mailboxes");

	store_set_compress(S, true, 3, 32 * 1024);
	CU_ASSERT_EQUAL(recompress_all(2, &batches), 3);
	CU_ASSERT(batches >= 2);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_data"), 1);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies WHERE chunk = 0"), 1);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_chunks"), 1 + 4 + 3);
	/* text compresses, noise is kept as it is */
	snprintf(sql, sizeof(sql), "SELECT sum(length(data)) FROM body_chunks"
	    " WHERE id >> 24 IN (%lld, %lld)", (long long)body_of(um),
	    (long long)body_of(ub));
	CU_ASSERT(q(sql) < (40 * 1024 + 3 * CH + 5) / 4);
	snprintf(sql, sizeof(sql), "SELECT sum(length(data)) FROM body_chunks"
	    " WHERE id >> 24 = %lld", (long long)body_of(un));
	CU_ASSERT_EQUAL(q(sql), 2 * CH + 1);

	CU_ASSERT_EQUAL(range_ok(body_of(us), small, 0, strlen(small)), 0);
	CU_ASSERT_EQUAL(range_ok(body_of(um), mid, 0, 40 * 1024), 0);
	CU_ASSERT_EQUAL(range_ok(body_of(ub), big, 0, 3 * CH + 5), 0);
	CU_ASSERT_EQUAL(range_ok(body_of(ub), big, CH - 7, CH + 9), 0);
	CU_ASSERT_EQUAL(range_ok(body_of(ub), big, 3 * CH, 5), 0);
	CU_ASSERT_EQUAL(range_ok(body_of(un), noise, 0, 2 * CH + 1), 0);
	CU_ASSERT_EQUAL(range_ok(body_of(un), noise, 2 * CH - 3, 4), 0);
	CU_ASSERT_EQUAL(store_quota_usage(S, &q1), 0);
	CU_ASSERT_EQUAL(q1.storage, q0.storage);
	CU_ASSERT_EQUAL(q1.messages, q0.messages);
	CU_ASSERT_EQUAL(q("SELECT sum(size) FROM messages"), sizes0);
	CU_ASSERT_EQUAL(q("SELECT sum(bytes) FROM mailboxes"), bytes0);
	CU_ASSERT_EQUAL(q("SELECT sum(size) FROM bodies"),
	    (int64_t)(strlen(small) + 40 * 1024 + 3 * CH + 5 + 2 * CH + 1));

	/* nothing left; the shared body goes with its last message */
	CU_ASSERT_EQUAL(recompress_all(64, &batches), 0);
	CU_ASSERT_EQUAL(batches, 1);
	CU_ASSERT_EQUAL(store_msg_expunge(S, &In, &ub, 1), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_chunks"), 8);
	CU_ASSERT_EQUAL(store_msg_expunge(S, &other, &copy, 1), 0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_chunks"), 4);
	free(mid);
	free(big);
	free(noise);
	teardown();
}

/* Not while a body is open for reading here, nor while another process
 * holds the write lock: MK_BUSY, nothing changed, and the next try
 * does the work.  A blob that does not match its size is left as it
 * reads. */
void
test_body_recompress_busy_and_mismatch(void)
{
	char *big = text_msg(2 * CH + 9), *odd = text_msg(CH + 100);
	struct store_body *b;
	int64_t cursor = 0;
	unsigned done = 7;
	bool more = false;
	uint32_t ub, uo;
	sqlite3 *h;

	setup(false);
	ub = put(big, 2 * CH + 9);
	uo = put(odd, CH + 100);
	as_old_blob(body_of(ub), big, 2 * CH + 9);
	as_old_blob(body_of(uo), odd, CH + 50);	/* 50 bytes short */
	store_set_compress(S, true, 3, 0);

	CU_ASSERT_EQUAL_FATAL(store_body_open(S, body_of(ub), &b, NULL), 0);
	CU_ASSERT_EQUAL(store_body_recompress(S, 8, 1 << 20, &cursor, &done,
	    &more), MK_BUSY);
	CU_ASSERT(done == 0 && more && cursor == 0);
	store_body_close(b);

	CU_ASSERT_EQUAL_FATAL(sqlite3_open(ts_path(dir, "store.db"), &h),
	    SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	CU_ASSERT_EQUAL(store_body_recompress(S, 8, 1 << 20, &cursor, &done,
	    &more), MK_BUSY);
	CU_ASSERT(done == 0 && cursor == 0);
	CU_ASSERT_EQUAL(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM bodies WHERE chunk = 0"), 2);

	CU_ASSERT_EQUAL(store_body_recompress(S, 8, 1 << 20, &cursor, &done,
	    &more), 0);
	CU_ASSERT(done == 1 && !more && cursor >= body_of(uo));
	CU_ASSERT_EQUAL(range_ok(body_of(ub), big, 0, 2 * CH + 9), 0);
	/* the mismatched one still reads its 50-short blob */
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_data"), 1);
	CU_ASSERT_EQUAL(range_ok(body_of(uo), odd, 0, CH + 50), 0);
	free(big);
	free(odd);
	teardown();
}

/* A reader of a one-blob body that rests between reads (a FETCH
 * streamed to a slow client) while another process - mailkeepctl
 * compress - rewrites that body into chunks reads on, the same bytes,
 * from the chunks; a count of what is left to rewrite follows. */
void
test_body_recompress_by_another_process_under_a_reader(void)
{
	char *big = text_msg(3 * CH + 21), piece[5000];
	struct store_body *b;
	struct store *other;
	uint64_t size = 0, nb, bytes;
	int64_t cursor = 0;
	unsigned done;
	bool more;
	uint32_t u;

	setup(false);
	u = put(big, 3 * CH + 21);
	as_old_blob(body_of(u), big, 3 * CH + 21);
	store_set_compress(S, true, 3, 0);
	CU_ASSERT_EQUAL(store_body_recompress_pending(S, &nb, &bytes), 0);
	CU_ASSERT(nb == 1 && bytes == 3 * CH + 21);
	CU_ASSERT_EQUAL_FATAL(store_body_open(S, body_of(u), &b, &size), 0);
	CU_ASSERT_EQUAL(store_body_read(b, 0, piece, sizeof(piece)), 0);
	CU_ASSERT(memcmp(piece, big, sizeof(piece)) == 0);
	store_body_rest(b);

	other = ts_open(dir);
	CU_ASSERT_FATAL(other != NULL);
	store_set_compress(other, true, 3, 0);
	CU_ASSERT_EQUAL(store_body_recompress(other, 8, 1 << 20, &cursor,
	    &done, &more), 0);
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_data"), 0);

	for (uint64_t off = sizeof(piece); off < size; off += sizeof(piece)) {
		size_t n = (size_t)MK_MIN(size - off, sizeof(piece));
		CU_ASSERT_EQUAL_FATAL(store_body_read(b, off, piece, n), 0);
		CU_ASSERT_FATAL(memcmp(piece, big + off, n) == 0);
		store_body_rest(b);
	}
	store_body_close(b);
	CU_ASSERT_EQUAL(store_body_recompress_pending(other, &nb, &bytes), 0);
	CU_ASSERT(nb == 0 && bytes == 0);
	CU_ASSERT_EQUAL(range_ok(body_of(u), big, CH - 3, CH + 6), 0);
	store_close(other);
	free(big);
	teardown();
}

/* A body whose last chunk did not compress (a few bytes) leaves zstd's
 * context mid-frame: the next body is compressed all the same. */
void
test_body_compress_after_incompressible_tail(void)
{
	char *first = text_msg(CH + 5), *next = text_msg(2 * CH);
	char sql[160];
	uint32_t u;

	setup(true);
	(void)put(first, CH + 5);
	u = put(next, 2 * CH);
	snprintf(sql, sizeof(sql), "SELECT sum(length(data)) FROM body_chunks"
	    " WHERE id >> 24 = %lld", (long long)body_of(u));
	CU_ASSERT(q(sql) < CH / 2);
	CU_ASSERT_EQUAL(range_ok(body_of(u), next, 0, 2 * CH), 0);
	free(first);
	free(next);
	teardown();
}

/* The compression context outlives its body while bodies keep coming:
 * the next one, after a body that did not compress (which leaves the
 * context mid-frame), reuses it and compresses.  A batch's end frees
 * one unused for a while, and rest frees any. */
void
test_body_compress_context_kept_while_used(void)
{
	char *a = text_msg(CH), *noise = ts_noise_msg(CH), *b = text_msg(2 * CH);
	struct ZSTD_CCtx_s *kept;
	char sql[160];
	uint32_t u;

	setup(true);
	(void)put(a, CH);
	CU_ASSERT_PTR_NOT_NULL_FATAL(kept = S->z_cctx);
	(void)put(noise, CH);
	u = put(b, 2 * CH);
	CU_ASSERT_PTR_EQUAL(S->z_cctx, kept);
	snprintf(sql, sizeof(sql), "SELECT sum(length(data)) FROM body_chunks"
	    " WHERE id >> 24 = %lld", (long long)body_of(u));
	CU_ASSERT(q(sql) < CH / 2);
	CU_ASSERT_EQUAL(range_ok(body_of(u), b, 0, 2 * CH), 0);

	/* Used a moment ago: a batch's end keeps it. */
	store_batch_begin(S);
	CU_ASSERT_EQUAL(store_batch_end(S), 0);
	CU_ASSERT_PTR_EQUAL(S->z_cctx, kept);
	/* Unused for a second: the next batch's end frees it. */
	S->z_used_ms = now_ms() - 1000;
	store_batch_begin(S);
	CU_ASSERT_EQUAL(store_batch_end(S), 0);
	CU_ASSERT_PTR_NULL(S->z_cctx);
	CU_ASSERT_PTR_NULL(S->z_buf);

	/* A new one after that, freed at rest however fresh. */
	u = put(a, CH);
	CU_ASSERT_PTR_NOT_NULL(S->z_cctx);
	CU_ASSERT_EQUAL(range_ok(body_of(u), a, 0, CH), 0);
	store_release_memory(S, true);
	CU_ASSERT_PTR_NULL(S->z_cctx);
	free(a);
	free(noise);
	free(b);
	teardown();
}

/* The compression context a user's process keeps between bodies is
 * sized for a 32 KiB reach: measured at 176, 272, 240 and 575 KiB at
 * levels 1, 3, 9 and 19, where zstd's own choice for 64 KiB frames
 * took 296, 392, 360 and 853 KiB; and the text still comes back
 * whole. */
void
test_body_compress_context_is_small(void)
{
	char *t = text_msg(3 * CH);
	static const struct { int level; size_t kib; } lv[] = {
		{ 1, 240 }, { 3, 320 }, { 9, 300 }, { 19, 700 },
	};
	uint32_t u;

	setup(true);
	for (size_t i = 0; i < sizeof(lv) / sizeof(lv[0]); i++) {
		store_set_compress(S, true, lv[i].level, 0);
		u = put(t, 3 * CH);
		CU_ASSERT_PTR_NOT_NULL_FATAL(S->z_cctx);
		size_t sz = ZSTD_sizeof_CCtx(S->z_cctx);
		fprintf(stderr, "level %d: context of %zu KiB\n", lv[i].level,
		    sz / 1024);
		CU_ASSERT(sz <= lv[i].kib * 1024);
		CU_ASSERT_EQUAL(range_ok(body_of(u), t, 0, 3 * CH), 0);
		body_zfree(S);
	}
	free(t);
	teardown();
}

/* A batch looks at 4096 body ids at most: a store whose old bodies lie
 * far apart is walked in short steps, and every one is found. */
void
test_body_recompress_walks_in_spans(void)
{
	char *big = text_msg(CH + 77);
	unsigned batches;
	uint32_t u1, u2;

	setup(false);
	u1 = put(big, CH + 77);
	/* the next body gets id 10001 */
	x("INSERT INTO bodies (id, refs, size) VALUES (10000, 0, 0)");
	u2 = put(big, CH + 77);
	x("DELETE FROM bodies WHERE id = 10000");
	CU_ASSERT_EQUAL(body_of(u2), 10001);
	as_old_blob(body_of(u1), big, CH + 77);
	as_old_blob(body_of(u2), big, CH + 77);
	store_set_compress(S, true, 3, 0);
	CU_ASSERT_EQUAL(recompress_all(64, &batches), 2);
	CU_ASSERT_EQUAL(batches, 3);	/* (0, 4096], (4096, 8192], (8192, ...] */
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM body_data"), 0);
	CU_ASSERT_EQUAL(range_ok(body_of(u1), big, 0, CH + 77), 0);
	CU_ASSERT_EQUAL(range_ok(body_of(u2), big, 0, CH + 77), 0);
	free(big);
	teardown();
}

/* Chunk 0 holds the header and the rest as two frames: a read of the
 * header decodes the first alone (damage in the second does not touch
 * it), a read past it decodes both. */
void
test_body_header_frame(void)
{
	/* a header as mail has it, a few lines long */
	static const char hdr[] = "From: a@example.org\r\nTo: b@example.org"
	    "\r\nSubject: frames\r\nMessage-ID: <1@example.org>\r\n\r\n";
	size_t len = CH + 5000, hlen;
	char *m = text_msg(len), sql[256];
	const char *e;
	const void *row;
	sqlite3_stmt *st = NULL;
	int64_t body;
	int rlen;

	setup(true);
	memcpy(m, hdr, sizeof(hdr) - 1);
	e = strstr(m, "\r\n\r\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	hlen = (size_t)(e - m) + 4;
	body = body_of(put(m, len));
	snprintf(sql, sizeof(sql), "SELECT data FROM body_chunks WHERE id = "
	    "%lld", (long long)(body << 24));
	CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(S->db.h, sql, -1, &st, NULL),
	    SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_step(st), SQLITE_ROW);
	row = sqlite3_column_blob(st, 0);
	rlen = sqlite3_column_bytes(st, 0);
	CU_ASSERT(rlen < CH / 2);
	CU_ASSERT_EQUAL(ZSTD_getFrameContentSize(row, (size_t)rlen), hlen);
	CU_ASSERT(ZSTD_findFrameCompressedSize(row, (size_t)rlen) <
	    (size_t)rlen);
	sqlite3_finalize(st);
	CU_ASSERT_EQUAL(range_ok(body, m, 0, hlen), 0);
	CU_ASSERT_EQUAL(range_ok(body, m, 10, hlen - 10), 0);
	CU_ASSERT_EQUAL(range_ok(body, m, 0, hlen + 1), 0);
	CU_ASSERT_EQUAL(range_ok(body, m, hlen, 100), 0);
	CU_ASSERT_EQUAL(range_ok(body, m, 0, len), 0);
	/* one reader: the header, then on into the rest */
	{
		struct store_body *b;
		char *got = xmalloc(len);
		CU_ASSERT_EQUAL_FATAL(store_body_open(S, body, &b, NULL), 0);
		CU_ASSERT_EQUAL(store_body_read(b, 0, got, hlen), 0);
		CU_ASSERT_EQUAL(store_body_read(b, hlen, got + hlen, 200), 0);
		CU_ASSERT_EQUAL(store_body_read(b, 0, got, len), 0);
		CU_ASSERT(memcmp(got, m, len) == 0);
		store_body_close(b);
		free(got);
	}
	/* a byte of the second frame's checksum changed */
	snprintf(sql, sizeof(sql), "UPDATE body_chunks SET data = "
	    "substr(data, 1, length(data) - 1) || CASE WHEN substr(data, -1) "
	    "= x'00' THEN x'01' ELSE x'00' END WHERE id = %lld",
	    (long long)(body << 24));
	x(sql);
	CU_ASSERT_EQUAL(range_ok(body, m, 0, hlen), 0);
	CU_ASSERT_EQUAL(read_rc(body, 0, hlen + 1), MK_DAMAGED);
	CU_ASSERT_EQUAL(read_rc(body, 0, len), MK_DAMAGED);
	free(m);
	teardown();
}

/* Within a command's read transaction a closed reader's blob handle is
 * moved to the next body (sqlite3_blob_reopen): each read returns its
 * own body, a row gone under the handle is an error and not another
 * body's bytes, and the handle is closed when the reads end, so the
 * snapshot does not outlive them (another connection's commit is seen
 * at once). */
void
test_body_reader_handle_moves(void)
{
	char *m1 = text_msg(3000), *m2 = text_msg(4000), *m3 = text_msg(5000);
	int64_t b1, b2, b3;
	struct store *t = NULL;
	struct store_body *b;
	struct mbox tin;
	char err[256];

	setup(false);
	m2[10] = 'Y';
	m3[10] = 'Z';
	b1 = body_of(put(m1, 3000));
	b2 = body_of(put(m2, 4000));
	b3 = body_of(put(m3, 5000));
	store_read_begin(S);
	CU_ASSERT_EQUAL(range_ok(b1, m1, 0, 3000), 0);
	CU_ASSERT_PTR_NOT_NULL(S->db.spare_blob);
	CU_ASSERT_EQUAL(range_ok(b2, m2, 0, 4000), 0);
	CU_ASSERT_EQUAL(range_ok(b3, m3, 0, 5000), 0);
	CU_ASSERT_EQUAL(range_ok(b1, m1, 2990, 10), 0);
	/* The row the handle moves to is gone: an error, then reads go on. */
	x("DELETE FROM body_data WHERE id = (SELECT max(id) FROM body_data)");
	CU_ASSERT_PTR_NOT_NULL(S->db.spare_blob);
	CU_ASSERT_NOT_EQUAL(store_body_open(S, b3, &b, NULL), 0);
	CU_ASSERT_EQUAL(range_ok(b2, m2, 0, 4000), 0);
	store_read_end(S);
	CU_ASSERT_PTR_NULL(S->db.spare_blob);
	CU_ASSERT_TRUE(sqlite3_get_autocommit(S->db.h));
	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(dir, "store.db"), false,
	    STORE_SYNC_NONE, NULL, 0, &t, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_mbox_find(t, "INBOX", &tin), 0);
	CU_ASSERT_NOT_EQUAL(ts_append(t, &tin, ts_msg(NULL, "t"), 0, "", 0, 0),
	    0);
	CU_ASSERT_EQUAL(q("SELECT count(*) FROM messages"), 4);
	/* Outside a read transaction nothing is kept. */
	CU_ASSERT_EQUAL(range_ok(b1, m1, 0, 3000), 0);
	CU_ASSERT_PTR_NULL(S->db.spare_blob);
	store_close(t);
	free(m1);
	free(m2);
	free(m3);
	teardown();
}
