/*
 * test_store_objid.c - schema 11 (store_objid.c): object ids that are
 * never handed out twice (not even when SQLite reuses a rowid), EMAILID
 * shared by COPY, THREADID from the references, MAILBOXID kept by
 * RENAME and new for a re-created name, save dates set by every save,
 * previews stored at APPEND and computed later for older bodies, the
 * SEARCH keys on them, and the migration from the version before.
 */
#include <CUnit/CUnit.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/imap.h"
#include "store/search.h"
#include "store/store_int.h"
#include "store_support.h"

/* The body of message uid of m, -1 if there is none. */
static int64_t
body_of(struct store *s, const struct mbox *m, uint32_t uid)
{
	int64_t body = -1;
	sqlite3_stmt *st;

	CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(s->db.h, "SELECT body_id FROM"
	    " messages WHERE mailbox_id = ?1 AND uid = ?2", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int64(st, 1, m->id);
	sqlite3_bind_int64(st, 2, uid);
	if (sqlite3_step(st) == SQLITE_ROW)
		body = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return body;
}

static void
ids_of(struct store *s, const struct mbox *m, uint32_t uid,
    struct msg_ids *out)
{
	CU_ASSERT_EQUAL_FATAL(store_msg_ids(s, m, uid, body_of(s, m, uid),
	    out), 0);
}

static const char *
msg_with(const char *subject, const char *extra, const char *body)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf), "From: a@example.org\r\nSubject: %s\r\n"
	    "%s\r\n%s", subject, extra, body);
	return buf;
}

static char *
mbox_id(struct store *s, const char *name)
{
	static char out[4][STORE_OBJID_MAX];
	static int k;
	struct mbox m;

	k = (k + 1) % 4;
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, name, &m), 0);
	CU_ASSERT_EQUAL_FATAL(store_mbox_objectid(s, &m, out[k],
	    sizeof(out[k])), 0);
	return out[k];
}

void
test_objid_mailboxes(void)
{
	char *dir = ts_dir(), a[STORE_OBJID_MAX], b[STORE_OBJID_MAX];
	struct store *s = ts_open(dir);
	int64_t n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_create(s, "x/y", 0, NULL), 0);
	strcpy(a, mbox_id(s, "x"));
	strcpy(b, mbox_id(s, "x/y"));
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	CU_ASSERT_STRING_NOT_EQUAL(a, mbox_id(s, "INBOX"));
	CU_ASSERT_EQUAL(a[0], 'F');
	CU_ASSERT_EQUAL(store_objid_parse(s, 'F', a, &n), 0);
	CU_ASSERT_EQUAL(store_mbox_rename(s, "x", "z"), 0);
	CU_ASSERT_STRING_EQUAL(mbox_id(s, "z"), a);
	CU_ASSERT_STRING_EQUAL(mbox_id(s, "z/y"), b);
	CU_ASSERT_EQUAL(store_mbox_delete(s, "z/y"), 0);
	CU_ASSERT_EQUAL(store_mbox_create(s, "z/y", 0, NULL), 0);
	CU_ASSERT_STRING_NOT_EQUAL(mbox_id(s, "z/y"), b);
	/* \Noselect placeholder revived: a new mailbox to clients */
	CU_ASSERT_EQUAL(store_mbox_delete(s, "z"), 0);
	CU_ASSERT_EQUAL(store_mbox_create(s, "z", 0, NULL), 0);
	CU_ASSERT_STRING_NOT_EQUAL(mbox_id(s, "z"), a);
	store_close(s);
	ts_rmdir(dir);
}

void
test_objid_parse(void)
{
	char *dir = ts_dir(), id[STORE_OBJID_MAX], bad[STORE_OBJID_MAX];
	struct store *s = ts_open(dir);
	int64_t n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_objid(s, 'M', 0x1234, id, sizeof(id)), 0);
	CU_ASSERT_EQUAL(strlen(id), 1 + 8 + 4);
	CU_ASSERT_EQUAL(store_objid_parse(s, 'M', id, &n), 0);
	CU_ASSERT_EQUAL(n, 0x1234);
	CU_ASSERT_EQUAL(store_objid_parse(s, 'T', id, &n), MK_NOTFOUND);
	strcpy(bad, id);
	bad[1] = bad[1] == '0' ? '1' : '0';	/* another store's salt */
	CU_ASSERT_EQUAL(store_objid_parse(s, 'M', bad, &n), MK_NOTFOUND);
	snprintf(bad, sizeof(bad), "%.9s01234", id);	/* leading zero */
	CU_ASSERT_EQUAL(store_objid_parse(s, 'M', bad, &n), MK_NOTFOUND);
	snprintf(bad, sizeof(bad), "%.9sABC", id);	/* upper case */
	CU_ASSERT_EQUAL(store_objid_parse(s, 'M', bad, &n), MK_NOTFOUND);
	snprintf(bad, sizeof(bad), "%.9s", id);		/* no number */
	CU_ASSERT_EQUAL(store_objid_parse(s, 'M', bad, &n), MK_NOTFOUND);
	CU_ASSERT_EQUAL(store_objid_parse(s, 'M', "", &n), MK_NOTFOUND);
	store_close(s);
	ts_rmdir(dir);
}

/* Expunging the newest body frees its rowid for the next one (no
 * AUTOINCREMENT); its EMAILID must not come back with it. */
void
test_objid_never_reused(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct msg_ids a, b;
	struct mbox in;
	uint32_t u1, u2;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &in), 0);
	u1 = ts_append(s, &in, ts_msg(NULL, "first"), 0, NULL, 1000, 0);
	ids_of(s, &in, u1, &a);
	CU_ASSERT_EQUAL(store_msg_expunge(s, &in, &u1, 1), 0);
	u2 = ts_append(s, &in, ts_msg(NULL, "second"), 0, NULL, 1000, 0);
	ids_of(s, &in, u2, &b);
	CU_ASSERT_STRING_NOT_EQUAL(a.emailid, b.emailid);
	CU_ASSERT_STRING_NOT_EQUAL(a.threadid, b.threadid);
	store_close(s);
	ts_rmdir(dir);
}

void
test_objid_copy_thread_savedate(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct msg_ids r, re, dup, other, cp;
	struct mbox in, dst;
	uint32_t u[5], nu = 0;
	int64_t before = (int64_t)time(NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &in), 0);
	CU_ASSERT_EQUAL(store_mbox_create(s, "Dst", 0, &dst), 0);
	u[0] = ts_append(s, &in, msg_with("root", "Message-ID: <r@x>\r\n",
	    "Root.\r\n"), 0, NULL, 1000, 0);
	/* a reply naming an unknown grandparent first, then the root */
	u[1] = ts_append(s, &in, msg_with("Re: root", "References: <gone@x>"
	    " <r@x>\r\nMessage-ID: <c@x>\r\n", "Reply.\r\n"), 0, NULL, 1000, 0);
	u[2] = ts_append(s, &in, msg_with("root", "Message-ID: <r@x>\r\n",
	    "Root.\r\n"), 0, NULL, 1000, 0);
	u[3] = ts_append(s, &in, msg_with("other", "In-Reply-To: <zz@x>\r\n",
	    "Other.\r\n"), 0, NULL, 1000, 0);
	ids_of(s, &in, u[0], &r);
	ids_of(s, &in, u[1], &re);
	ids_of(s, &in, u[2], &dup);
	ids_of(s, &in, u[3], &other);
	CU_ASSERT_STRING_EQUAL(r.threadid, re.threadid);
	CU_ASSERT_STRING_EQUAL(r.threadid, dup.threadid);
	CU_ASSERT_STRING_NOT_EQUAL(r.threadid, other.threadid);
	CU_ASSERT_STRING_NOT_EQUAL(r.emailid, dup.emailid);
	CU_ASSERT_EQUAL(r.emailid[0], 'M');
	CU_ASSERT_EQUAL(r.threadid[0], 'T');
	CU_ASSERT_TRUE(r.has_savedate);
	CU_ASSERT(r.savedate >= before && r.savedate <= time(NULL));
	CU_ASSERT_EQUAL(store_msg_copy(s, &in, &dst, &u[1], 1, &nu), 0);
	ids_of(s, &dst, nu, &cp);
	CU_ASSERT_STRING_EQUAL(cp.emailid, re.emailid);
	CU_ASSERT_STRING_EQUAL(cp.threadid, re.threadid);
	CU_ASSERT_TRUE(cp.has_savedate);
	CU_ASSERT(cp.savedate >= re.savedate);
	/* a body gone entirely */
	CU_ASSERT_EQUAL(store_msg_ids(s, &in, 99, 123456, &cp), MK_NOTFOUND);
	store_close(s);
	ts_rmdir(dir);
}

static int
all_match(struct store *s, const struct msg_row *r,
    const struct search_key *k, void *arg)
{
	(void)s; (void)r; (void)k; (void)arg;
	return 1;
}

/* UIDs store_search() gives for one key over all of m. */
static size_t
search1(struct store *s, const struct mbox *m, enum search_key_type t,
    const char *str, int32_t date, uint32_t *out)
{
	struct search_key k = { .type = t, .str = str, .date = date };
	struct search_key top = { .type = SK_AND, .child = &k };
	struct search_ctx ctx = { .now = time(NULL), .text_match = all_match };
	uint32_t *uids = NULL, *view = NULL;
	size_t n = 0, nview = 0;

	CU_ASSERT_EQUAL_FATAL(store_msg_uids(s, m, &view, &nview), 0);
	ctx.view = view;
	ctx.nview = nview;
	CU_ASSERT_EQUAL_FATAL(store_search(s, m, &top, &ctx, &uids, &n), 0);
	if (n > 0)
		memcpy(out, uids, n * sizeof(*uids));
	free(uids);
	free(view);
	return n;
}

void
test_objid_search_keys(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct msg_ids a, b;
	struct mbox in;
	uint32_t u[3], got[8];
	int32_t today = (int32_t)(time(NULL) / 86400);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &in), 0);
	/* internal dates in 1970: only the save date is today */
	u[0] = ts_append(s, &in, msg_with("a", "Message-ID: <a@x>\r\n", "A"),
	    0, NULL, 1000, 0);
	u[1] = ts_append(s, &in, msg_with("b", "References: <a@x>\r\n", "B"),
	    0, NULL, 1000, 0);
	u[2] = ts_append(s, &in, msg_with("c", "", "C"), 0, NULL, 1000, 0);
	ids_of(s, &in, u[0], &a);
	ids_of(s, &in, u[2], &b);
	CU_ASSERT_EQUAL(search1(s, &in, SK_EMAILID, a.emailid, 0, got), 1);
	CU_ASSERT_EQUAL(got[0], u[0]);
	CU_ASSERT_EQUAL(search1(s, &in, SK_THREADID, a.threadid, 0, got), 2);
	CU_ASSERT_EQUAL(got[1], u[1]);
	CU_ASSERT_EQUAL(search1(s, &in, SK_THREADID, b.threadid, 0, got), 1);
	CU_ASSERT_EQUAL(search1(s, &in, SK_EMAILID, a.threadid, 0, got), 0);
	CU_ASSERT_EQUAL(search1(s, &in, SK_EMAILID, "nonsense", 0, got), 0);
	CU_ASSERT_EQUAL(search1(s, &in, SK_SAVEDON, NULL, today, got), 3);
	CU_ASSERT_EQUAL(search1(s, &in, SK_SAVEDSINCE, NULL, today, got), 3);
	CU_ASSERT_EQUAL(search1(s, &in, SK_SAVEDBEFORE, NULL, today, got), 0);
	CU_ASSERT_EQUAL(search1(s, &in, SK_SAVEDON, NULL, 0, got), 0);
	CU_ASSERT_EQUAL(search1(s, &in, SK_ON, NULL, 0, got), 3);
	CU_ASSERT_EQUAL(search1(s, &in, SK_SAVEDATESUPPORTED, NULL, 0, got),
	    3);
	store_close(s);
	ts_rmdir(dir);
}

static void
preview_is(struct store *s, const struct mbox *m, uint32_t uid, bool lazy,
    bool want_have, const char *want)
{
	struct buf b;
	bool have;

	buf_init(&b, 0);
	CU_ASSERT_EQUAL(store_body_preview(s, body_of(s, m, uid), lazy, &b,
	    &have), 0);
	CU_ASSERT_EQUAL(have, want_have);
	buf_addc(&b, '\0');
	if (want_have)
		CU_ASSERT_STRING_EQUAL(buf_ptr(&b), want);
	buf_free(&b);
}

void
test_preview_stored_at_append(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	struct mbox in;
	uint32_t u;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &in), 0);
	u = ts_append(s, &in, msg_with("p", "Content-Type: text/html\r\n",
	    "<p>Stored   <i>at</i> append</p>"), 0, NULL, 1000, 0);
	preview_is(s, &in, u, true, true, "Stored at append");
	preview_is(s, &in, u, false, true, "Stored at append");
	store_close(s);
	ts_rmdir(dir);
}

/* A store of the version before (10) with messages: opening it gives
 * every mailbox and body its ids and threads; save dates stay unknown,
 * previews come on demand (or by the backfill), and numbers handed out
 * afterwards are new. */
void
test_objid_migration_from_previous(void)
{
	char *dir = ts_dir(), inbox[STORE_OBJID_MAX];
	struct store *s = NULL;
	struct msg_ids a, b, c;
	struct mbox in;
	uint32_t u[3], got[4];
	int64_t cursor;
	unsigned done;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(store_open_with(ts_path(dir, "store.db"), true,
	    false, NULL, 0, store_migrations, 10, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_schema_version(s), 10);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &in), 0);
	CU_ASSERT_EQUAL(store_mbox_create(s, "Old", 0, NULL), 0);
	u[0] = ts_append(s, &in, msg_with("a", "Message-ID: <a@x>\r\n",
	    "First body."), 0, NULL, 86400 * 3, 0);
	u[1] = ts_append(s, &in, msg_with("b", "In-Reply-To: <a@x>\r\n",
	    "Second body."), 0, NULL, 86400 * 3, 0);
	store_close(s);
	s = ts_open(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_schema_version(s), STORE_SCHEMA_VERSION);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &in), 0);
	strcpy(inbox, mbox_id(s, "INBOX"));
	CU_ASSERT_STRING_NOT_EQUAL(inbox, mbox_id(s, "Old"));
	ids_of(s, &in, u[0], &a);
	ids_of(s, &in, u[1], &b);
	CU_ASSERT_STRING_NOT_EQUAL(a.emailid, b.emailid);
	CU_ASSERT_STRING_EQUAL(a.threadid, b.threadid);
	CU_ASSERT_FALSE(a.has_savedate);
	/* the save-date keys use the internal date of these */
	CU_ASSERT_EQUAL(search1(s, &in, SK_SAVEDON, NULL, 3, got), 2);
	preview_is(s, &in, u[0], true, false, NULL);
	preview_is(s, &in, u[0], false, true, "First body.");
	preview_is(s, &in, u[0], true, true, "First body.");
	cursor = INT64_MAX;
	CU_ASSERT_EQUAL(store_preview_backfill(s, 64, &cursor, &done), 0);
	CU_ASSERT_EQUAL(done, 1);
	preview_is(s, &in, u[1], true, true, "Second body.");
	CU_ASSERT_EQUAL(store_preview_backfill(s, 64, &cursor, &done), 0);
	CU_ASSERT_EQUAL(done, 0);
	/* new numbers are above every old one */
	CU_ASSERT_EQUAL(store_mbox_create(s, "New", 0, NULL), 0);
	CU_ASSERT_STRING_NOT_EQUAL(mbox_id(s, "New"), inbox);
	CU_ASSERT_STRING_NOT_EQUAL(mbox_id(s, "New"), mbox_id(s, "Old"));
	u[2] = ts_append(s, &in, msg_with("c", "References: <a@x>\r\n", "C"),
	    0, NULL, 1000, 0);
	ids_of(s, &in, u[2], &c);
	CU_ASSERT_STRING_NOT_EQUAL(c.emailid, a.emailid);
	CU_ASSERT_STRING_NOT_EQUAL(c.emailid, b.emailid);
	CU_ASSERT_STRING_EQUAL(c.threadid, a.threadid);
	CU_ASSERT_TRUE(c.has_savedate);
	store_close(s);
	ts_rmdir(dir);
}
