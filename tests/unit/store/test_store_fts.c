/*
 * test_store_fts.c - the full-text index (store/store_fts.c, schema 5)
 * and SEARCH through it (store/search.c): which keys it answers and how
 * (store_search_fts_plan), the texts it holds (mime_fts_doc), results
 * equal to the scan's on the golden corpus (tests/corpus) with the
 * index complete, partly built and absent, NOT / OR combinations, and
 * the index kept exact by APPEND, COPY, EXPUNGE (held bodies too),
 * DELETE, RENAME INBOX, a migration from the schema before, a SQLite
 * without FTS5 and messages too large to index.  The scan is the real matcher
 * (mime_search_match), as in the mailbox process.
 */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/imap.h"
#include "common/util.h"
#include "store/mime.h"
#include "store/search.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store_support.h"

static int text_calls;

/* What the mailbox process does (daemon/mailbox/msgdata.c). */
static int
real_match(struct store *s, const struct msg_row *r,
    const struct search_key *k, void *arg)
{
	struct body_struct bs;
	struct body_text t;
	struct arena a;
	int rc = -1;

	(void)arg;
	text_calls++;
	arena_init(&a, 0);
	if (store_body_struct(s, r->body_id, &a, &bs) == 0 &&
	    store_body_text(s, r->body_id, bs.parts, bs.parts_len, 0, 0,
	    &t) == 0) {
		if (t.over == 0)
			rc = mime_search_match(t.data, t.len, bs.parts,
			    bs.parts_len, k);
		store_body_text_free(&t);
	}
	arena_free(&a);
	return rc;
}

struct fx {
	char         *dir;
	struct store *s;
	struct mbox   m;
	uint32_t     *view;
	size_t        nview;
	struct arena  a;
};

static void
fx_open(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->dir = ts_dir();
	f->s = ts_open(f->dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->s);
	CU_ASSERT_EQUAL(store_mbox_find(f->s, "INBOX", &f->m), 0);
	arena_init(&f->a, 0);
}

static void
fx_view(struct fx *f)
{
	free(f->view);
	CU_ASSERT_EQUAL(store_msg_uids(f->s, &f->m, &f->view, &f->nview), 0);
}

static void
fx_close(struct fx *f)
{
	free(f->view);
	arena_free(&f->a);
	store_close(f->s);
	ts_rmdir(f->dir);
}

static uint32_t
add(struct fx *f, const char *msg, size_t len)
{
	struct msg_new n = { .data = msg, .len = len,
	    .internaldate = { 1700000000, 0 }, .keywords = "" };
	uint32_t uid = 0;

	CU_ASSERT_EQUAL(store_msg_append(f->s, &f->m, &n, &uid), 0);
	return uid;
}

/* The UIDs as "1,2,3", for a key tree, with or without the index. */
static char *
search_key(struct fx *f, const struct search_key *k, bool fts)
{
	struct search_ctx ctx = { .view = f->view, .nview = f->nview,
	    .now = 1700000000, .text_match = real_match, .fts = fts };
	uint32_t *uids = NULL;
	size_t n = 0, len = 0, i;
	char *out = malloc(16 * f->nview + 16);

	out[0] = '\0';
	if (store_search(f->s, &f->m, k, &ctx, &uids, &n) != 0) {
		fprintf(stderr, "\n  search: %s\n", store_errmsg(f->s));
		strcpy(out, "ERR");
		return out;
	}
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(out + len, "%s%u", i ? "," : "",
		    uids[i]);
	free(uids);
	return out;
}

static struct search_key *
parse_keys(struct fx *f, const char *keys)
{
	struct imap_cmd cmd;
	const char *err = NULL;
	char line[1024];

	snprintf(line, sizeof(line), "a SEARCH %s", keys);
	if (imap_parse(&f->a, line, strlen(line), &cmd, &err) != 0) {
		fprintf(stderr, "\n  parse %s: %s\n", keys, err);
		CU_FAIL_FATAL("parse");
	}
	return cmd.u.search.key;
}

/* Both ways; returns the indexed answer (caller frees). */
static char *
same_both_ways(struct fx *f, const struct search_key *k, const char *what)
{
	char *scan = search_key(f, k, false), *idx = search_key(f, k, true);

	if (strcmp(scan, idx) != 0) {
		fprintf(stderr, "\n  %s: scan \"%s\", index \"%s\"\n", what,
		    scan, idx);
		CU_FAIL("index and scan differ");
	} else
		CU_PASS("index and scan agree");
	free(scan);
	return idx;
}

#define EXPECT_BOTH(f, keys, want) do {					\
	char *got_ = same_both_ways((f), parse_keys((f), (keys)), (keys)); \
	if (strcmp(got_, (want)) != 0) {				\
		fprintf(stderr, "\n  SEARCH %s: got \"%s\", want \"%s\"\n", \
		    (keys), got_, (want));				\
		CU_FAIL("search result");				\
	}								\
	free(got_);							\
} while (0)

static int64_t
count_sql(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n = -1;

	if (sqlite3_prepare_v2(s->db.h, sql, -1, &st, NULL) != SQLITE_OK)
		return -2;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void
integrity(struct store *s)
{
	CU_ASSERT_EQUAL(sqlite3_exec(s->db.h, "INSERT INTO fts (fts)"
	    " VALUES ('integrity-check')", NULL, NULL, NULL), SQLITE_OK);
	/* every message is indexed or pending, never both */
	CU_ASSERT_EQUAL(count_sql(s, "SELECT count(*) FROM messages"),
	    count_sql(s, "SELECT (SELECT count(*) FROM fts) +"
	    " (SELECT count(*) FROM fts_pending)"));
	CU_ASSERT_EQUAL(count_sql(s, "SELECT count(*) FROM fts"
	    " WHERE rowid IN (SELECT id FROM fts_pending)"), 0);
}

/* ---- planning ---- */

static void
expect_plan(const char *keys, enum search_fts want, const char *query)
{
	struct arena a;
	struct imap_cmd cmd;
	const char *err = NULL;
	char line[512];
	struct buf q;
	enum search_fts got;

	arena_init(&a, 0);
	buf_init(&q, 0);
	snprintf(line, sizeof(line), "a SEARCH %s", keys);
	CU_ASSERT_EQUAL_FATAL(imap_parse(&a, line, strlen(line), &cmd, &err), 0);
	got = store_search_fts_plan(cmd.u.search.key->child, &q);
	if (got != want || strcmp(buf_cstr(&q), query) != 0) {
		fprintf(stderr, "\n  %s: plan %d \"%s\", want %d \"%s\"\n", keys,
		    (int)got, buf_cstr(&q), (int)want, query);
		CU_FAIL("plan");
	}
	buf_free(&q);
	arena_free(&a);
}

void
test_fts_plan_keys(void)
{
	expect_plan("SUBJECT abc", SEARCH_FTS_EXACT, "subject : \"abc\"");
	expect_plan("SUBJECT ABC", SEARCH_FTS_EXACT, "subject : \"abc\"");
	expect_plan("FROM joe", SEARCH_FTS_EXACT, "hfrom : \"joe\"");
	expect_plan("TO joe", SEARCH_FTS_EXACT, "hto : \"joe\"");
	expect_plan("CC joe", SEARCH_FTS_EXACT, "hcc : \"joe\"");
	expect_plan("BCC joe", SEARCH_FTS_EXACT, "hbcc : \"joe\"");
	expect_plan("BODY Hello", SEARCH_FTS_EXACT, "{body} : \"hello\"");
	expect_plan("TEXT Hello", SEARCH_FTS_EXACT,
	    "{headers body} : \"hello\"");
	/* HEADER of the five is theirs; another field filters */
	expect_plan("HEADER SUBJECT abc", SEARCH_FTS_EXACT, "subject : \"abc\"");
	expect_plan("HEADER from abc", SEARCH_FTS_EXACT, "hfrom : \"abc\"");
	expect_plan("HEADER Message-ID abc@x", SEARCH_FTS_FILTER,
	    "headers : \"abc@x\"");
	/* addresses rewritten "name <addr>" are not in the header block */
	expect_plan("HEADER Sender abc", SEARCH_FTS_NO, "");
	expect_plan("HEADER reply-to abc", SEARCH_FTS_NO, "");
	expect_plan("HEADER X-Foo \"\"", SEARCH_FTS_NO, "");
	/* quotes double inside the phrase */
	expect_plan("SUBJECT \"a\\\"b\"", SEARCH_FTS_EXACT,
	    "subject : \"a\"\"b\"");
}

void
test_fts_plan_short_strings(void)
{
	expect_plan("SUBJECT ab", SEARCH_FTS_NO, "");
	expect_plan("BODY \"\"", SEARCH_FTS_NO, "");
	/* header keys collapse white space: "a  b" is "a b", 3 characters */
	expect_plan("SUBJECT \"a  b\"", SEARCH_FTS_EXACT, "subject : \"a b\"");
	expect_plan("SUBJECT \"  b\"", SEARCH_FTS_NO, "");
	/* BODY does not: 4 characters */
	expect_plan("BODY \"a  b\"", SEARCH_FTS_EXACT, "{body} : \"a  b\"");
	/* characters, not bytes */
	expect_plan("SUBJECT \"\xc3\xa9t\"", SEARCH_FTS_NO, "");
	expect_plan("SUBJECT \"\xc3\x89t\xc3\xa9\"", SEARCH_FTS_EXACT,
	    "subject : \"\xc3\xa9t\xc3\xa9\"");
}

void
test_fts_needle_validity(void)
{
	CU_ASSERT_TRUE(mime_fts_needle("abc", 3));
	CU_ASSERT_FALSE(mime_fts_needle("ab", 2));
	/* not UTF-8: a byte substring the trigrams would not see */
	CU_ASSERT_FALSE(mime_fts_needle("\xa9" "abc", 4));
	CU_ASSERT_FALSE(mime_fts_needle("ab\xc3", 3));
	CU_ASSERT_FALSE(mime_fts_needle("\xc0\x80" "ab", 4));	/* overlong */
	CU_ASSERT_FALSE(mime_fts_needle("\xed\xa0\x80" "ab", 5)); /* surrogate */
	/* U+FFFD separates units; U+FFFE/F read as U+FFFD */
	CU_ASSERT_FALSE(mime_fts_needle("a\xef\xbf\xbd" "b", 5));
	CU_ASSERT_FALSE(mime_fts_needle("a\xef\xbf\xbe" "b", 5));
	CU_ASSERT_TRUE(mime_fts_needle("a\xef\xbf\xbc" "b", 5));
	CU_ASSERT_TRUE(mime_fts_needle("\xf0\x9f\x98\x80" "ab", 6));
}

/* ---- the texts ---- */

static const char MIXED[] =
	"From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>\r\n"
	"To: \"Bob B\" <bob@example.org>\r\n"
	"Subject: =?UTF-8?B?R3LDvMOfZQ==?= and  more\r\n"
	"X-Tag: Zebra\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=b\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Caf=E9 CR=C8ME \xff\r\n"
	"--b\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<p>Hello <b>World</b></p>\r\n"
	"--b\r\n"
	"Content-Type: application/octet-stream; name=report.pdf\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"U2VjcmV0UGF5bG9hZA==\r\n"
	"--b--\r\n";

static bool
col_has(const struct buf *b, const char *s)
{
	return memmem(buf_ptr(b), buf_len(b), s, strlen(s)) != NULL;
}

void
test_fts_doc_texts(void)
{
	struct mime_result r;
	struct buf col[MIME_FTS_NCOLS];
	struct arena a;
	int i;

	arena_init(&a, 0);
	for (i = 0; i < MIME_FTS_NCOLS; i++)
		buf_init(&col[i], 0);
	CU_ASSERT_EQUAL_FATAL(mime_analyze(&a, MIXED, strlen(MIXED), &r), 0);
	CU_ASSERT_EQUAL(mime_fts_doc(MIXED, strlen(MIXED), r.parts,
	    r.parts_len, 1 << 20, col), 0);
	/* RFC 2047 decoded, folded, white space as one */
	CU_ASSERT_TRUE(col_has(&col[MIME_FTS_SUBJECT], "gr\xc3\xbc\xc3\x9f" "e and more"));
	CU_ASSERT_TRUE(col_has(&col[MIME_FTS_FROM], "andr\xc3\xa9"));
	/* the plain address form as well as the value */
	CU_ASSERT_TRUE(col_has(&col[MIME_FTS_TO], "\"bob b\" <bob@example.org>"));
	CU_ASSERT_TRUE(col_has(&col[MIME_FTS_TO], "bob b <bob@example.org>"));
	CU_ASSERT_TRUE(col_has(&col[MIME_FTS_TO], "\xef\xbf\xbd"));
	CU_ASSERT_EQUAL(buf_len(&col[MIME_FTS_CC]), 0);
	CU_ASSERT_TRUE(col_has(&col[MIME_FTS_HEADERS], "x-tag: zebra"));
	/* quoted-printable Latin-1 to UTF-8, folded; 0xff is U+00FF there */
	CU_ASSERT_TRUE(col_has(&col[MIME_FTS_BODY], "caf\xc3\xa9 cr\xc3\xa8me \xc3\xbf"));
	/* HTML as the scan compares it: the source */
	CU_ASSERT_TRUE(col_has(&col[MIME_FTS_BODY], "<p>hello <b>world</b></p>"));
	/* an attachment's bytes are not text */
	CU_ASSERT_FALSE(col_has(&col[MIME_FTS_BODY], "secretpayload"));
	CU_ASSERT_FALSE(col_has(&col[MIME_FTS_BODY], "u2vjcmv0"));
	for (i = 0; i < MIME_FTS_NCOLS; i++)
		buf_free(&col[i]);
	arena_free(&a);
}

void
test_fts_doc_invalid_utf8(void)
{
	static const char msg[] = "Subject: ab\xc3 cd\xa9xy\x80\r\n\r\nx\r\n";
	struct mime_result r;
	struct buf col[MIME_FTS_NCOLS];
	struct arena a;
	int i;

	arena_init(&a, 0);
	for (i = 0; i < MIME_FTS_NCOLS; i++)
		buf_init(&col[i], 0);
	CU_ASSERT_EQUAL_FATAL(mime_analyze(&a, msg, strlen(msg), &r), 0);
	CU_ASSERT_EQUAL(mime_fts_doc(msg, strlen(msg), r.parts, r.parts_len,
	    1 << 20, col), 0);
	/* every stray byte one U+FFFD, the valid text around it kept */
	CU_ASSERT_EQUAL(buf_len(&col[MIME_FTS_SUBJECT]), 7 + 3 * 3);
	CU_ASSERT_TRUE(col_has(&col[MIME_FTS_SUBJECT],
	    "ab\xef\xbf\xbd cd\xef\xbf\xbdxy\xef\xbf\xbd"));
	/* too much text: nothing, and it says so */
	CU_ASSERT_EQUAL(mime_fts_doc(msg, strlen(msg), r.parts, r.parts_len,
	    4, col), 1);
	for (i = 0; i < MIME_FTS_NCOLS; i++)
		buf_free(&col[i]);
	arena_free(&a);
}

/* ---- the golden corpus: index and scan agree ---- */

struct corpus_msg {
	char  *data;
	size_t len;
};

static size_t
load_corpus(struct corpus_msg *out, size_t max)
{
	DIR *d = opendir(MK_CORPUS_DIR);
	struct dirent *e;
	size_t n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((e = readdir(d)) != NULL && n < max) {
		size_t l = strlen(e->d_name);
		char path[1024];
		FILE *fp;
		long sz;

		if (l < 5 || strcmp(e->d_name + l - 4, ".eml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", MK_CORPUS_DIR, e->d_name);
		if ((fp = fopen(path, "rb")) == NULL)
			continue;
		fseek(fp, 0, SEEK_END);
		sz = ftell(fp);
		rewind(fp);
		out[n].data = malloc((size_t)sz + 1);
		out[n].len = fread(out[n].data, 1, (size_t)sz, fp);
		fclose(fp);
		n++;
	}
	closedir(d);
	return n;
}

static const enum search_key_type rnd_keys[] = {
	SK_BODY, SK_TEXT, SK_SUBJECT, SK_FROM, SK_TO, SK_CC, SK_HEADER,
};

/* Needles cut from the messages' own bytes: hits and near-misses. */
static void
random_needles(struct fx *f, struct corpus_msg *cm, size_t n)
{
	static const char *const fields[] = { "Received", "Message-ID",
	    "Content-Type", "X-Mailer", "Reply-To" };
	unsigned seed = 12345;
	char needle[32], what[96];
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < 6 && cm[i].len > 40; j++) {
			struct search_key k = { 0 };
			size_t off, len;
			char *res;

			seed = seed * 1103515245 + 12345;
			len = 3 + (seed >> 16) % 10;
			off = (seed >> 8) % (cm[i].len - len);
			memcpy(needle, cm[i].data + off, len);
			needle[len] = '\0';
			if (strlen(needle) != len)
				continue;	/* a string holds no NUL */
			k.type = rnd_keys[(i + j) % nitems(rnd_keys)];
			k.str = needle;
			k.field = fields[j % nitems(fields)];
			snprintf(what, sizeof(what), "key %d \"%s\"",
			    (int)k.type, needle);
			struct search_key and = { .type = SK_AND, .child = &k };
			res = same_both_ways(f, &and, what);
			free(res);
		}
	}
}

/* The corpus's own SEARCH lines: "KEY [FIELD] STRING<TAB>1". */
static void
expected_needles(struct fx *f)
{
	static const struct { const char *name; enum search_key_type t; }
	    names[] = { { "BODY", SK_BODY }, { "TEXT", SK_TEXT },
	    { "SUBJECT", SK_SUBJECT }, { "FROM", SK_FROM }, { "TO", SK_TO },
	    { "CC", SK_CC }, { "BCC", SK_BCC }, { "HEADER", SK_HEADER } };
	char cmd[2048];
	FILE *p;
	int count = 0;

	/* the value is a 1-byte record: "1\n" then the byte */
	snprintf(cmd, sizeof(cmd), "cat %s/*.expected |"
	    " grep -a -A1 '^SEARCH ' | grep -a -v '^--'", MK_CORPUS_DIR);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p = popen(cmd, "r"));
	char line[1024];
	while (fgets(line, sizeof(line), p) != NULL) {
		struct search_key k = { 0 };
		char *rest = line + 7, *tab = strrchr(line, '\t'), *sp;
		char val[16] = "";
		int want;
		size_t i;

		if (fgets(val, sizeof(val), p) == NULL)
			break;
		want = atoi(val);

		if (tab != NULL)
			*tab = '\0';
		if ((sp = strchr(rest, ' ')) == NULL)
			continue;
		*sp = '\0';
		for (i = 0; i < nitems(names); i++)
			if (strcmp(rest, names[i].name) == 0)
				k.type = names[i].t;
		rest = sp + 1;
		if (k.type == SK_HEADER) {
			k.field = rest;
			if ((sp = strchr(rest, ' ')) == NULL)
				continue;
			*sp = '\0';
			rest = sp + 1;
		}
		k.str = rest;
		struct search_key and = { .type = SK_AND, .child = &k };
		char *res = same_both_ways(f, &and, line);
		/* a hit in its own message at least */
		if (want == 1 && res[0] == '\0') {
			fprintf(stderr, "\n  no hit: %s|%s|%s\n", line,
			    k.field ? k.field : "", k.str);
			CU_FAIL("a corpus hit");
		}
		free(res);
		count++;
	}
	pclose(p);
	CU_ASSERT_TRUE(count > 100);
}

static size_t
fill_corpus(struct fx *f, struct corpus_msg *cm, size_t max)
{
	size_t n = load_corpus(cm, max), i;

	for (i = 0; i < n; i++)
		add(f, cm[i].data, cm[i].len);
	fx_view(f);
	return n;
}

static void
free_corpus(struct corpus_msg *cm, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(cm[i].data);
}

void
test_fts_corpus_same_results(void)
{
	struct corpus_msg cm[256];
	struct fx f;
	size_t n;
	uint64_t left;

	fx_open(&f);
	CU_ASSERT_TRUE_FATAL(store_fts_on(f.s));
	n = fill_corpus(&f, cm, nitems(cm));
	CU_ASSERT_TRUE(n > 30);
	CU_ASSERT_EQUAL(store_fts_pending(f.s, &left), 0);
	CU_ASSERT_EQUAL(left, 0);
	integrity(f.s);
	expected_needles(&f);
	random_needles(&f, cm, n);
	free_corpus(cm, n);
	fx_close(&f);
}

/* Half the corpus indexed, half pending: still the scan's answers. */
void
test_fts_corpus_partly_indexed(void)
{
	struct corpus_msg cm[256];
	unsigned done;
	uint64_t left;
	struct fx f;
	size_t n;

	fx_open(&f);
	store_fts_write(f.s, false);
	n = fill_corpus(&f, cm, nitems(cm));
	CU_ASSERT_EQUAL(store_fts_pending(f.s, &left), 0);
	CU_ASSERT_EQUAL(left, n);
	CU_ASSERT_EQUAL(store_fts_index(f.s, (unsigned)n / 2, 0, false, &done,
	    &left), 0);
	CU_ASSERT_EQUAL(done, n / 2);
	CU_ASSERT_EQUAL(left, n - n / 2);
	integrity(f.s);
	expected_needles(&f);
	random_needles(&f, cm, n);
	free_corpus(cm, n);
	fx_close(&f);
}

/* ---- combinations, and when the matcher is asked ---- */

static const char *const COMBO_MSGS[] = {
	"Subject: alpha report\r\nFrom: Ann <ann@a.example>\r\n\r\nzebra crossing\r\n",
	"Subject: beta\r\nFrom: Bob <bob@b.example>\r\nX-Code: K77\r\n\r\nno animals\r\n",
	"Subject: Alpha again\r\nFrom: ann@a.example\r\n\r\nZEBRA and lion\r\n",
	"Subject: gamma\r\nFrom: Cy <cy@c.example>\r\nX-Code: Q12\r\n\r\nlion only\r\n",
};

static void
combo_fill(struct fx *f)
{
	for (size_t i = 0; i < nitems(COMBO_MSGS); i++)
		add(f, COMBO_MSGS[i], strlen(COMBO_MSGS[i]));
	fx_view(f);
}

void
test_fts_combinations(void)
{
	struct fx f;

	fx_open(&f);
	combo_fill(&f);
	EXPECT_BOTH(&f, "BODY zebra", "1,3");
	EXPECT_BOTH(&f, "NOT BODY zebra", "2,4");
	EXPECT_BOTH(&f, "OR BODY zebra SUBJECT gamma", "1,3,4");
	EXPECT_BOTH(&f, "NOT OR BODY zebra SUBJECT gamma", "2");
	EXPECT_BOTH(&f, "BODY lion NOT SUBJECT alpha", "4");
	EXPECT_BOTH(&f, "OR SUBJECT al FROM bob", "1,2,3");	/* short: scan */
	EXPECT_BOTH(&f, "NOT OR SUBJECT al TEXT k77", "4");
	EXPECT_BOTH(&f, "TEXT \"x-code: q\"", "4");
	EXPECT_BOTH(&f, "HEADER X-Code k77", "2");
	EXPECT_BOTH(&f, "NOT HEADER X-Code 12", "1,2,3");
	EXPECT_BOTH(&f, "FROM \"ann <ann@\"", "1");
	EXPECT_BOTH(&f, "UID 2:3 OR BODY lion BODY animals", "2,3");
	EXPECT_BOTH(&f, "BODY zebra BODY lion", "3");
	EXPECT_BOTH(&f, "BODY nowhere-at-all", "");
	fx_close(&f);
}

static int
calls_for(struct fx *f, const char *keys, const char *want)
{
	char *got;

	text_calls = 0;
	got = search_key(f, parse_keys(f, keys), true);
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "\n  %s: got \"%s\", want \"%s\"\n", keys, got,
		    want);
		CU_FAIL("result");
	}
	free(got);
	return text_calls;
}

/* The index decides without reading a message where it can; a short
 * string, a filter's candidates and pending messages are read. */
void
test_fts_matcher_asked_only_when_needed(void)
{
	struct fx f;

	fx_open(&f);
	combo_fill(&f);
	CU_ASSERT_EQUAL(calls_for(&f, "BODY zebra", "1,3"), 0);
	CU_ASSERT_EQUAL(calls_for(&f, "NOT OR BODY zebra SUBJECT gamma", "2"), 0);
	CU_ASSERT_EQUAL(calls_for(&f, "TEXT lion", "3,4"), 0);
	CU_ASSERT_EQUAL(calls_for(&f, "SUBJECT al", "1,3"), 4);
	/* HEADER X-Code: only the block's candidates are read */
	CU_ASSERT_EQUAL(calls_for(&f, "HEADER X-Code q12", "4"), 1);
	/* fts off in the context: every message read */
	text_calls = 0;
	free(search_key(&f, parse_keys(&f, "BODY zebra"), false));
	CU_ASSERT_EQUAL(text_calls, 4);
	/* one message pending: only it is read */
	store_fts_write(f.s, false);
	add(&f, COMBO_MSGS[0], strlen(COMBO_MSGS[0]));
	fx_view(&f);
	CU_ASSERT_EQUAL(calls_for(&f, "BODY zebra", "1,3,5"), 1);
	integrity(f.s);
	fx_close(&f);
}

/* ---- keeping the index exact ---- */

static bool
hold_odd(uint32_t uid, void *arg)
{
	(void)arg;
	return uid & 1;
}

static int
keep_none(const struct msg_row *r, void *arg)
{
	(void)r;
	(void)arg;
	return 0;
}

void
test_fts_expunge_copy_delete_rename(void)
{
	struct mbox other;
	uint32_t uids[4] = { 1, 2, 3, 4 }, newuids[4];
	struct fx f;

	fx_open(&f);
	combo_fill(&f);
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT count(*) FROM fts"), 4);
	/* COPY: the copies are indexed (from the originals' rows) */
	CU_ASSERT_EQUAL(store_mbox_create(f.s, "Other", 0, &other), 0);
	CU_ASSERT_EQUAL(store_msg_copy(f.s, &f.m, &other, uids, 4, newuids), 0);
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT count(*) FROM fts"), 8);
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT count(*) FROM fts_pending"), 0);
	integrity(f.s);
	/* EXPUNGE, plain and with held bodies: rows go in the same call */
	CU_ASSERT_EQUAL(store_msg_expunge(f.s, &f.m, &uids[0], 1), 0);
	CU_ASSERT_EQUAL(store_msg_expunge_held(f.s, &f.m, &uids[1], 2,
	    hold_odd, keep_none, NULL), 0);
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT count(*) FROM fts"), 5);
	fx_view(&f);
	EXPECT_BOTH(&f, "BODY lion", "4");
	integrity(f.s);
	/* a failed transaction takes its index rows back with it */
	CU_ASSERT_EQUAL(store_begin(f.s), 0);
	CU_ASSERT_EQUAL(store_msg_expunge(f.s, &f.m, &uids[3], 1), 0);
	store_rollback(f.s);
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT count(*) FROM fts"), 5);
	/* RENAME INBOX: its rows follow its messages */
	CU_ASSERT_EQUAL(store_mbox_rename(f.s, "INBOX", "Old"), 0);
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT count(*) FROM fts"), 5);
	integrity(f.s);
	CU_ASSERT_EQUAL(store_mbox_find(f.s, "Old", &f.m), 0);
	fx_view(&f);
	EXPECT_BOTH(&f, "BODY lion", "4");
	/* DELETE: a mailbox's rows go with it */
	CU_ASSERT_EQUAL(store_mbox_delete(f.s, "Other"), 0);
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT count(*) FROM fts"), 1);
	integrity(f.s);
	fx_close(&f);
}

void
test_fts_too_large_is_scanned(void)
{
	size_t len = (5u << 20) + 64;
	char *big = malloc(len + 1);
	uint64_t idx, never, left;
	struct fx f;

	fx_open(&f);
	memcpy(big, "Subject: huge\r\n\r\n", 17);
	memset(big + 17, 'q', len - 17);
	memcpy(big + len - 12, "needle123\r\n", 11);
	big[len - 1] = '\0';
	add(&f, big, strlen(big));
	combo_fill(&f);
	CU_ASSERT_EQUAL(store_fts_counts(f.s, &idx, &never), 0);
	CU_ASSERT_EQUAL(idx, 4);
	CU_ASSERT_EQUAL(never, 1);
	CU_ASSERT_EQUAL(store_fts_pending(f.s, &left), 0);
	CU_ASSERT_EQUAL(left, 0);
	EXPECT_BOTH(&f, "BODY needle123", "1");
	EXPECT_BOTH(&f, "BODY zebra", "2,4");
	free(big);
	fx_close(&f);
}

/* A store of the schema before the index's with mail: the migration
 * only creates the bookkeeping; the next open builds an empty index,
 * every message pending, and batches fill it. */
void
test_fts_migration_from_before(void)
{
	char *dir = ts_dir(), err[256];
	struct store *s;
	struct mbox m;
	unsigned done;
	uint64_t left;
	struct fx f;
	size_t before = 0;

	while (before < store_nmigrations &&
	    store_migrations[before].sql != store_schema_fts)
		before++;
	CU_ASSERT_FATAL(before > 0 && before < store_nmigrations);
	CU_ASSERT_EQUAL_FATAL(store_open_with(ts_path(dir, "store.db"), true,
	    false, NULL, 0, store_migrations, before, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_mbox_find(s, "INBOX", &m), 0);
	for (size_t i = 0; i < nitems(COMBO_MSGS); i++)
		CU_ASSERT_NOT_EQUAL(ts_append(s, &m, COMBO_MSGS[i], 0, "",
		    1700000000, 0), 0);
	CU_ASSERT_EQUAL(store_schema_version(s),
	    store_migrations[before - 1].version);
	store_close(s);
	memset(&f, 0, sizeof(f));
	f.dir = dir;
	f.s = ts_open(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.s);
	arena_init(&f.a, 0);
	CU_ASSERT_EQUAL(store_schema_version(f.s), STORE_SCHEMA_VERSION);
	CU_ASSERT_EQUAL(store_mbox_find(f.s, "INBOX", &f.m), 0);
	fx_view(&f);
	CU_ASSERT_EQUAL(store_fts_pending(f.s, &left), 0);
	CU_ASSERT_EQUAL(left, 4);
	EXPECT_BOTH(&f, "BODY zebra", "1,3");
	CU_ASSERT_EQUAL(store_fts_index(f.s, 3, 0, true, &done, &left), 0);
	CU_ASSERT_EQUAL(done, 3);
	CU_ASSERT_EQUAL(left, 1);
	EXPECT_BOTH(&f, "BODY zebra", "1,3");
	CU_ASSERT_EQUAL(store_fts_index(f.s, 3, 0, true, &done, &left), 0);
	CU_ASSERT_EQUAL(left, 0);
	CU_ASSERT_EQUAL(calls_for(&f, "BODY zebra", "1,3"), 0);
	integrity(f.s);
	fx_close(&f);
}

/* A SQLite without FTS5 trigram: no index, SEARCH scans; changes made
 * meanwhile are not lost when an able SQLite builds it anew. */
void
test_fts_unavailable_then_back(void)
{
	uint32_t one = 1;
	uint64_t left;
	unsigned done;
	struct fx f;

	fx_open(&f);
	combo_fill(&f);
	store_close(f.s);
	store_fts_unavailable = true;
	f.s = ts_open(f.dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.s);
	CU_ASSERT_FALSE(store_fts_on(f.s));
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT value FROM meta"
	    " WHERE key = 'fts'"), 0);
	/* changes the index does not see */
	CU_ASSERT_EQUAL(store_msg_expunge(f.s, &f.m, &one, 1), 0);
	add(&f, COMBO_MSGS[0], strlen(COMBO_MSGS[0]));
	fx_view(&f);
	CU_ASSERT_EQUAL(calls_for(&f, "BODY zebra", "3,5"), 4);
	CU_ASSERT_EQUAL(store_fts_reset(f.s), MK_INVALID);
	store_close(f.s);
	store_fts_unavailable = false;
	f.s = ts_open(f.dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.s);
	CU_ASSERT_TRUE(store_fts_on(f.s));
	CU_ASSERT_EQUAL(store_fts_pending(f.s, &left), 0);
	CU_ASSERT_EQUAL(left, 4);
	CU_ASSERT_EQUAL(store_fts_index(f.s, 100, 0, false, &done, &left), 0);
	CU_ASSERT_EQUAL(done, 4);
	CU_ASSERT_EQUAL(calls_for(&f, "BODY zebra", "3,5"), 0);
	integrity(f.s);
	fx_close(&f);
}

void
test_fts_reset_rebuilds(void)
{
	uint64_t left, idx, never;
	unsigned done;
	struct fx f;

	fx_open(&f);
	combo_fill(&f);
	CU_ASSERT_EQUAL(store_fts_reset(f.s), 0);
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT count(*) FROM fts"), 0);
	CU_ASSERT_EQUAL(store_fts_pending(f.s, &left), 0);
	CU_ASSERT_EQUAL(left, 4);
	EXPECT_BOTH(&f, "TEXT lion", "3,4");
	CU_ASSERT_EQUAL(store_fts_index(f.s, 2, 0, false, &done, &left), 0);
	CU_ASSERT_EQUAL(left, 2);
	CU_ASSERT_EQUAL(store_fts_index(f.s, 2, 0, false, &done, &left), 0);
	CU_ASSERT_EQUAL(left, 0);
	CU_ASSERT_EQUAL(store_fts_optimize(f.s), 0);
	CU_ASSERT_EQUAL(store_fts_counts(f.s, &idx, &never), 0);
	CU_ASSERT_EQUAL(idx, 4);
	CU_ASSERT_EQUAL(calls_for(&f, "TEXT lion", "3,4"), 0);
	integrity(f.s);
	fx_close(&f);
}

/* Inside a caller's transaction (MULTIAPPEND, LMTP) rows are written at
 * its COMMIT; what was expunged or rolled back meanwhile is not. */
void
test_fts_rows_at_callers_commit(void)
{
	uint32_t uid2 = 2;
	struct fx f;

	fx_open(&f);
	CU_ASSERT_EQUAL(store_begin(f.s), 0);
	combo_fill(&f);
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT count(*) FROM fts"), 0);
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT count(*) FROM fts_pending"), 4);
	CU_ASSERT_EQUAL(store_msg_expunge(f.s, &f.m, &uid2, 1), 0);
	CU_ASSERT_EQUAL(store_commit(f.s), 0);
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT count(*) FROM fts"), 3);
	integrity(f.s);
	CU_ASSERT_EQUAL(store_begin(f.s), 0);
	add(&f, COMBO_MSGS[0], strlen(COMBO_MSGS[0]));
	store_rollback(f.s);
	CU_ASSERT_EQUAL(store_begin(f.s), 0);
	CU_ASSERT_EQUAL(store_commit(f.s), 0);
	CU_ASSERT_EQUAL(count_sql(f.s, "SELECT count(*) FROM fts"), 3);
	integrity(f.s);
	fx_view(&f);
	CU_ASSERT_EQUAL(calls_for(&f, "BODY zebra", "1,3"), 0);
	fx_close(&f);
}

/* ---- big bodies: only what the index reads is read ---- */

static int
span_copy(void *arg, uint64_t off, uint64_t len)
{
	const char **pair = arg;	/* { source, destination } */

	memcpy((char *)pair[1] + off, pair[0] + off, (size_t)len);
	return 0;
}

/* The scan (mime_search_match) on the spans alone answers as on the
 * whole message, for needles taken from the message's own texts. */
static void
same_search(const char *msg, const char *sparse, size_t len,
    const struct mime_result *r, const struct buf cols[MIME_FTS_NCOLS])
{
	static const struct { int col; enum search_key_type t; } k[] = {
		{ MIME_FTS_SUBJECT, SK_SUBJECT }, { MIME_FTS_FROM, SK_FROM },
		{ MIME_FTS_HEADERS, SK_TEXT }, { MIME_FTS_BODY, SK_BODY },
		{ MIME_FTS_BODY, SK_TEXT },
	};

	for (size_t i = 0; i < nitems(k); i++) {
		const struct buf *b = &cols[k[i].col];
		struct search_key key = { .type = k[i].t };
		char needle[8];
		size_t at;

		if (buf_len(b) < 2 * sizeof(needle))
			continue;
		at = buf_len(b) / 2;
		memcpy(needle, buf_ptr(b) + at, sizeof(needle) - 1);
		needle[sizeof(needle) - 1] = '\0';
		if (strlen(needle) < sizeof(needle) - 1 ||
		    strstr(needle, "\xef\xbf\xbd") != NULL)
			continue;
		key.str = needle;
		CU_ASSERT_EQUAL(mime_search_match(sparse, len, r->parts,
		    r->parts_len, &key), mime_search_match(msg, len, r->parts,
		    r->parts_len, &key));
	}
}

/* mime_fts_spans() names every byte mime_fts_doc() reads: over the
 * golden corpus, the texts from a copy holding only those spans (zeros
 * elsewhere) are the texts from the whole message. */
void
test_fts_spans_are_all_the_doc_reads(void)
{
	struct corpus_msg cm[256];
	size_t n = load_corpus(cm, nitems(cm)), checked = 0;

	CU_ASSERT_TRUE(n > 30);
	for (size_t i = 0; i < n; i++) {
		struct buf whole[MIME_FTS_NCOLS], part[MIME_FTS_NCOLS];
		char *sparse = calloc(1, cm[i].len + 1);
		const char *pair[2] = { cm[i].data, sparse };
		struct mime_result r;
		struct arena a;
		int rw, rs, rc;

		arena_init(&a, 0);
		for (int c = 0; c < MIME_FTS_NCOLS; c++) {
			buf_init(&whole[c], 0);
			buf_init(&part[c], 0);
		}
		if (mime_analyze(&a, cm[i].data, cm[i].len, &r) != 0)
			goto next;
		rc = mime_fts_spans(r.parts, r.parts_len, cm[i].len, 1 << 20,
		    span_copy, pair);
		rw = mime_fts_doc(cm[i].data, cm[i].len, r.parts, r.parts_len,
		    1 << 20, whole);
		CU_ASSERT_EQUAL(rc, 0);
		rs = mime_fts_doc(sparse, cm[i].len, r.parts, r.parts_len,
		    1 << 20, part);
		CU_ASSERT_EQUAL(rs, rw);
		same_search(cm[i].data, sparse, cm[i].len, &r, whole);
		for (int c = 0; c < MIME_FTS_NCOLS; c++)
			if (buf_len(&whole[c]) != buf_len(&part[c]) ||
			    (buf_len(&whole[c]) > 0 && memcmp(buf_ptr(&whole[c]), buf_ptr(&part[c]),
			    buf_len(&whole[c])) != 0)) {
				fprintf(stderr, "\n  corpus message %zu: column %d"
				    " differs\n", i, c);
				CU_FAIL("texts from the spans");
			}
		checked++;
next:
		for (int c = 0; c < MIME_FTS_NCOLS; c++) {
			buf_free(&whole[c]);
			buf_free(&part[c]);
		}
		arena_free(&a);
		free(sparse);
	}
	CU_ASSERT_TRUE(checked > 30);
	free_corpus(cm, n);
}

/* The value of a line of /proc/self/status (VmRSS:, VmHWM:), in kB. */
static long
kb_of(const char *key)
{
	char line[256];
	long v = -1;
	FILE *fp = fopen("/proc/self/status", "r");

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtol(line + strlen(key), NULL, 10);
	fclose(fp);
	return v;
}

/* Starts a measure of peak memory; returns the RSS (kB) it starts
 * from.  What storing left free goes back first, or reading a body
 * whole could reuse it unseen; then (Linux) 5 resets the peak (VmHWM)
 * to the RSS of now. */
static long
peak_start(void)
{
	int fd;

	malloc_trim(0);
	fd = open("/proc/self/clear_refs", O_WRONLY);
	CU_ASSERT_TRUE_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, "5", 1), 1);
	close(fd);
	return kb_of("VmRSS:");
}

/* The peak since peak_start() rose by less than bound kB above rss. */
static void
peak_below(long rss, long bound, const char *what)
{
	long hwm = kb_of("VmHWM:");

	if (hwm - rss >= bound)
		fprintf(stderr, "\n  %s: peak RSS %ld KiB above %ld\n", what,
		    hwm - rss, rss);
	CU_ASSERT_TRUE(rss > 0 && hwm - rss < bound);
}

/* A 40 MB message whose text is a few lines beside an attachment: the
 * batch indexer (which runs while the mailbox process is otherwise
 * idle) indexes its text, searchable like any other, and its memory
 * rises by what it read, not by the message. */
void
test_fts_big_message_indexed_from_its_text(void)
{
	static const char head[] =
	    "Subject: quarterly photos\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nzebra crossing first\r\n"
	    "--b\r\nContent-Type: image/jpeg\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n";
	static const char tail[] =
	    "\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: inner walrus\r\n\r\nhippo inside\r\n"
	    "--b\r\nContent-Type: text/html\r\n\r\n<p>okapi last</p>\r\n"
	    "--b--\r\n";
	size_t att = 40u << 20, len = strlen(head) + att + strlen(tail);
	char *msg = malloc(len + 1), *p;
	uint64_t idx, never, left;
	unsigned done;
	long rss;
	struct fx f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
	p = msg + strlen(head);
	memcpy(msg, head, strlen(head));
	for (size_t i = 0; i < att; i += 78) {	/* 76 base64, CRLF */
		size_t k = att - i < 78 ? att - i : 78;
		memset(p + i, 'Q', k);
		if (k == 78)
			memcpy(p + i + 76, "\r\n", 2);
	}
	memcpy(p + att, tail, strlen(tail) + 1);
	fx_open(&f);
	store_fts_write(f.s, false);	/* fts_at_append = no, the default */
	add(&f, msg, len);
	add(&f, COMBO_MSGS[0], strlen(COMBO_MSGS[0]));
	free(msg);
	fx_view(&f);
	rss = peak_start();
	CU_ASSERT_EQUAL(store_fts_index(f.s, 10, 0, false, &done, &left), 0);
	peak_below(rss, 8 * 1024, "indexing");
	CU_ASSERT_EQUAL(left, 0);
	CU_ASSERT_EQUAL(store_fts_counts(f.s, &idx, &never), 0);
	CU_ASSERT_EQUAL(idx, 2);
	CU_ASSERT_EQUAL(never, 0);
	/* The scan (with a needle the index cannot answer) likewise. */
	rss = peak_start();
	EXPECT_BOTH(&f, "BODY ok", "1");
	peak_below(rss, 8 * 1024, "scan");
	EXPECT_BOTH(&f, "BODY zebra", "1,2");
	EXPECT_BOTH(&f, "BODY hippo", "1");
	EXPECT_BOTH(&f, "BODY okapi", "1");
	EXPECT_BOTH(&f, "SUBJECT walrus", "");
	EXPECT_BOTH(&f, "TEXT walrus", "1");
	EXPECT_BOTH(&f, "SUBJECT quarterly", "1");
	EXPECT_BOTH(&f, "BODY QQQQQQQQ", "");
	integrity(f.s);
	fx_close(&f);
}
