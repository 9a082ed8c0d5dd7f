/*
 * test_mime.c - unit tests of store/mime*.c beyond the golden corpus
 * (test_mime_corpus.c): limits on nesting and part count, damaged part
 * tables, section rules, HEADER.FIELDS, the decoders, search keys, CRLF
 * normalization and the Date: header.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "store/mime.h"

static struct arena A;

int
test_mime_init(void)
{
	arena_init(&A, 0);
	return 0;
}

int
test_mime_cleanup(void)
{
	arena_free(&A);
	return 0;
}

static struct mime_result
analyze(const char *msg)
{
	struct mime_result r;

	CU_ASSERT_EQUAL_FATAL(mime_analyze(&A, msg, strlen(msg), &r), 0);
	return r;
}

static bool
bs_is(const struct mime_result *r, const char *want)
{
	if (r->bodystructure_len == strlen(want) &&
	    memcmp(r->bodystructure, want, r->bodystructure_len) == 0)
		return true;
	fprintf(stderr, "\nBODYSTRUCTURE %.*s\n     expected %s\n",
	    (int)r->bodystructure_len, r->bodystructure, want);
	return false;
}

/* BODY[section] as a string ("<nopart>" when there is none). */
static char *
section(const char *msg, const struct mime_result *r, const char *spec)
{
	struct fetch_section sec;
	uint32_t path[8];
	uint64_t off, len;
	int rc;

	memset(&sec, 0, sizeof(sec));
	sec.part = path;
	while (*spec >= '0' && *spec <= '9') {
		path[sec.npart++] = (uint32_t)strtoul(spec, (char **)&spec, 10);
		if (*spec == '.')
			spec++;
	}
	sec.spec = strcmp(spec, "HEADER") == 0 ? SEC_HEADER :
	    strcmp(spec, "TEXT") == 0 ? SEC_TEXT :
	    strcmp(spec, "MIME") == 0 ? SEC_MIME : SEC_WHOLE;
	rc = mime_section(r->parts, r->parts_len, strlen(msg), &sec, &off, &len);
	if (rc == MIME_NOPART)
		return arena_strdup(&A, "<nopart>");
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	return arena_strndup(&A, msg + off, (size_t)len);
}

void
test_empty_message(void)
{
	struct mime_result r = analyze("");

	CU_ASSERT_EQUAL(r.envelope_len, strlen("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"));
	CU_ASSERT(bs_is(&r, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"));
	CU_ASSERT_FALSE(r.has_date);
	CU_ASSERT_EQUAL(r.nparts, 2);	/* the root and its part 1 */
	CU_ASSERT_STRING_EQUAL(section("", &r, "1"), "");
	CU_ASSERT_STRING_EQUAL(section("", &r, "2"), "<nopart>");
}

static char *
nested(int depth)
{
	struct buf b;
	int i;

	buf_init(&b, 0);
	buf_adds(&b, "Content-Type: multipart/mixed; boundary=b0\r\n\r\n");
	for (i = 0; i < depth; i++)
		buf_printf(&b, "--b%d\r\nContent-Type: multipart/mixed; "
		    "boundary=b%d\r\n\r\n", i, i + 1);
	buf_printf(&b, "--b%d\r\n\r\ndeep\r\n", depth);
	for (i = depth; i >= 0; i--)
		buf_printf(&b, "--b%d--\r\n", i);
	return buf_cstr(&b);
}

void
test_depth_limit(void)
{
	char *ok = nested(MIME_MAX_DEPTH - 2), *deep = nested(1000);
	struct mime_result r;
	struct mime_part p;
	int n, i;

	r = analyze(ok);
	CU_ASSERT_FALSE(r.truncated);
	r = analyze(deep);
	CU_ASSERT_TRUE(r.truncated);
	/* the structure stops at the limit with a leaf standing in */
	CU_ASSERT_PTR_NOT_NULL(memmem(r.bodystructure, r.bodystructure_len,
	    "\"application\" \"octet-stream\"", 28));
	n = mime_parts_count(r.parts, r.parts_len);
	CU_ASSERT(n > MIME_MAX_DEPTH && n < MIME_MAX_DEPTH + 4);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL_FATAL(mime_parts_get(r.parts, r.parts_len,
		    (unsigned)i, &p), 0);
		CU_ASSERT(p.npath <= MIME_MAX_DEPTH + 1);
	}
	free(ok);
	free(deep);
}

void
test_part_count_limit(void)
{
	struct buf b;
	struct mime_result r;
	int i;

	buf_init(&b, 0);
	buf_adds(&b, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (i = 0; i < MIME_MAX_PARTS + 500; i++)
		buf_adds(&b, "--x\r\n\r\np\r\n");
	buf_adds(&b, "--x--\r\n");
	r = analyze(buf_cstr(&b));
	CU_ASSERT_TRUE(r.truncated);
	CU_ASSERT(r.nparts <= MIME_MAX_PARTS + 1);
	CU_ASSERT_EQUAL(mime_parts_count(r.parts, r.parts_len), (int)r.nparts);
	buf_free(&b);
}

void
test_damaged_table(void)
{
	const char *msg = "Content-Type: multipart/mixed; boundary=x\r\n\r\n"
	    "--x\r\n\r\none\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: in\r\n\r\ninner\r\n--x--\r\n";
	struct mime_result r = analyze(msg);
	struct fetch_section sec = { NULL, 0, SEC_WHOLE, NULL, 0 };
	struct mime_part p;
	unsigned char *t = malloc(r.parts_len);
	uint64_t off, len;
	uint32_t two = 2;
	size_t cut;

	memcpy(t, r.parts, r.parts_len);
	t[0] = MIME_PARTS_VERSION + 1;
	CU_ASSERT_EQUAL(mime_parts_count(t, r.parts_len), -1);
	CU_ASSERT_EQUAL(mime_section(t, r.parts_len, strlen(msg), &sec,
	    &off, &len), -1);
	/* every truncation is refused somewhere, never read past */
	for (cut = 0; cut < r.parts_len; cut++) {
		int n = mime_parts_count(r.parts, cut), i, bad = 0;

		for (i = 0; n > 0 && i < n; i++)
			if (mime_parts_get(r.parts, cut, (unsigned)i, &p) < 0)
				bad = 1;
		CU_ASSERT(n < 0 || bad);
	}
	/* a table that points outside the message is corrupt, not a part */
	sec.part = &two;
	sec.npart = 1;
	CU_ASSERT_EQUAL(mime_section(r.parts, r.parts_len, 10, &sec, &off,
	    &len), -1);
	free(t);
}

void
test_section_rules(void)
{
	const char *msg =
	    "Subject: outer\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
	    "--x\r\nContent-Type: text/plain\r\n\r\none\r\n"
	    "--x\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: in\r\n\r\ninner\r\n"
	    "--x\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: in2\r\nContent-Type: multipart/alternative; boundary=y\r\n\r\n"
	    "--y\r\n\r\nalt1\r\n--y\r\n\r\nalt2\r\n--y--\r\n"
	    "--x--\r\n";
	struct mime_result r = analyze(msg);

	CU_ASSERT_STRING_EQUAL(section(msg, &r, "1"), "one");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "1.MIME"),
	    "Content-Type: text/plain\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "1.HEADER"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "1.TEXT"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "1.1"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "2"),
	    "Subject: in\r\n\r\ninner");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "2.HEADER"), "Subject: in\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "2.TEXT"), "inner");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "2.1"), "inner");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "2.1.MIME"), "Subject: in\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "2.2"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "3.1"), "alt1");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "3.2"), "alt2");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "3.3"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "4"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "0"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "MIME"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "HEADER"),
	    "Subject: outer\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, ""), msg);
}

void
test_section_single_part(void)
{
	const char *msg = "Subject: s\r\n\r\nbody\r\n";
	struct mime_result r = analyze(msg);

	CU_ASSERT_STRING_EQUAL(section(msg, &r, "1"), "body\r\n");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "1.MIME"), "Subject: s\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "TEXT"), "body\r\n");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "2"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(section(msg, &r, "1.1"), "<nopart>");
}

static char *
fields(const char *hdr, const char *const *names, size_t n, bool not_)
{
	char *out;
	size_t len;

	CU_ASSERT_EQUAL_FATAL(mime_header_fields(&A, hdr, strlen(hdr), names,
	    n, not_, &out, &len), 0);
	CU_ASSERT_EQUAL(strlen(out), len);
	return out;
}

void
test_header_fields(void)
{
	const char *hdr = "From: a@b\r\nSubject: one\r\n  two\r\nTo: c@d\r\n"
	    "X-Subject: no\r\nsubject: again\r\n\r\n";
	static const char *const subj[] = { "SUBJECT" };
	static const char *const none[] = { "X-Nothing" };
	static const char *const two[] = { "to", "from" };

	CU_ASSERT_STRING_EQUAL(fields(hdr, subj, 1, false),
	    "Subject: one\r\n  two\r\nsubject: again\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(fields(hdr, subj, 1, true),
	    "From: a@b\r\nTo: c@d\r\nX-Subject: no\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(fields(hdr, none, 1, false), "\r\n");
	CU_ASSERT_STRING_EQUAL(fields(hdr, two, 2, false),
	    "From: a@b\r\nTo: c@d\r\n\r\n");
	/* a last line without its line end still ends as a line */
	CU_ASSERT_STRING_EQUAL(fields("To: x", two, 2, false), "To: x\r\n\r\n");
}

static int
decode(enum mime_enc enc, const char *in, char **out)
{
	const char *o;
	size_t n;
	int rc = mime_decode(&A, enc, in, strlen(in), &o, &n);

	*out = rc == MIME_DEC_UNKNOWN_CTE ? NULL : arena_strndup(&A, o, n);
	CU_ASSERT_EQUAL(mime_decoded_size(enc, in, strlen(in), NULL),
	    rc == MIME_DEC_UNKNOWN_CTE ? -1 : (int64_t)n);
	return rc;
}

void
test_decode_base64(void)
{
	char *o;

	CU_ASSERT_EQUAL(decode(MIME_ENC_BASE64, "aGVsbG8gd29ybGQ=", &o), MIME_DEC_OK);
	CU_ASSERT_STRING_EQUAL(o, "hello world");
	CU_ASSERT_EQUAL(decode(MIME_ENC_BASE64, "aGVs\r\nbG8=\r\n", &o), MIME_DEC_OK);
	CU_ASSERT_STRING_EQUAL(o, "hello");
	CU_ASSERT_EQUAL(decode(MIME_ENC_BASE64, "aGV*sbG8=", &o), MIME_DEC_INVALID);
	CU_ASSERT_STRING_EQUAL(o, "hello");
	CU_ASSERT_EQUAL(decode(MIME_ENC_BASE64, "aGVsbG8gd", &o), MIME_DEC_INVALID);
	CU_ASSERT_EQUAL(decode(MIME_ENC_BASE64, "", &o), MIME_DEC_OK);
	CU_ASSERT_STRING_EQUAL(o, "");
	CU_ASSERT_EQUAL(decode(MIME_ENC_UNKNOWN, "x", &o), MIME_DEC_UNKNOWN_CTE);
	CU_ASSERT_EQUAL(decode(MIME_ENC_8BIT, "\xe9t\xe9", &o), MIME_DEC_OK);
	CU_ASSERT_STRING_EQUAL(o, "\xe9t\xe9");
}

void
test_decode_qp(void)
{
	char *o;

	CU_ASSERT_EQUAL(decode(MIME_ENC_QP, "caf=C3=A9 =3d ok", &o), MIME_DEC_OK);
	CU_ASSERT_STRING_EQUAL(o, "caf\xc3\xa9 = ok");
	CU_ASSERT_EQUAL(decode(MIME_ENC_QP, "soft=\r\nbreak  \r\nend=  \r\nx", &o),
	    MIME_DEC_OK);
	CU_ASSERT_STRING_EQUAL(o, "softbreak\r\nendx");
	CU_ASSERT_EQUAL(decode(MIME_ENC_QP, "bad =ZZ and =4", &o), MIME_DEC_INVALID);
	CU_ASSERT_STRING_EQUAL(o, "bad =ZZ and =4");
	CU_ASSERT_EQUAL(decode(MIME_ENC_QP, "lf=\nonly\n", &o), MIME_DEC_OK);
	CU_ASSERT_STRING_EQUAL(o, "lfonly\n");
}

void
test_encoded_words(void)
{
	static const struct { const char *in, *out; } v[] = {
		{ "=?utf-8?q?a?= =?utf-8?q?b?=", "ab" },
		{ "=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b" },
		{ "=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard" },
		{ "=?utf-8?B?SsO8cmdlbg==?=", "J\xc3\xbcrgen" },
		{ "=?utf-8*en?q?lang?=", "lang" },
		{ "=?x-unknown-cs?q?raw=41?=", "rawA" },
		{ "=?utf-8?x?bad?=", "=?utf-8?x?bad?=" },
		{ "=?utf-8?q?no end", "=?utf-8?q?no end" },
		{ "plain =? text ?=", "plain =? text ?=" },
	};
	size_t i, n;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *d = mime_decode_words(&A, v[i].in, strlen(v[i].in), &n);

		CU_ASSERT_PTR_NOT_NULL_FATAL(d);
		if (strcmp(d, v[i].out) != 0)
			fprintf(stderr, "\n%s -> %s\n", v[i].in, d);
		CU_ASSERT_STRING_EQUAL(d, v[i].out);
	}
}

static int
search(const char *msg, enum search_key_type t, const char *field,
    const char *str)
{
	struct mime_result r = analyze(msg);
	struct search_key k;

	memset(&k, 0, sizeof(k));
	k.type = t;
	k.field = field;
	k.str = str;
	return mime_search_match(msg, strlen(msg), r.parts, r.parts_len, &k);
}

void
test_search_keys(void)
{
	const char *m = "From: =?utf-8?q?=CE=A3=CE=BF=CF=86=CE=AF=CE=B1?= <s@x>\r\n"
	    "Subject: =?koi8-r?b?8NLJ18XU?=\r\nX-Empty:\r\n"
	    "Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Stra=DFe =C4RGER\r\n";

	CU_ASSERT_EQUAL(search(m, SK_FROM, NULL, "\xcf\x83\xce\xbf\xcf\x86"), 1);
	CU_ASSERT_EQUAL(search(m, SK_FROM, NULL, "\xce\xa3\xce\x9f\xce\xa6"), 1);
	CU_ASSERT_EQUAL(search(m, SK_SUBJECT, NULL, "\xd0\xbf\xd1\x80\xd0\xb8"), 1);
	CU_ASSERT_EQUAL(search(m, SK_SUBJECT, NULL, "\xd0\x9f\xd0\xa0\xd0\x98"), 1);
	CU_ASSERT_EQUAL(search(m, SK_BODY, NULL, "stra\xc3\x9f" "e"), 1);
	CU_ASSERT_EQUAL(search(m, SK_BODY, NULL, "\xc3\xa4rger"), 1);
	CU_ASSERT_EQUAL(search(m, SK_BODY, NULL, "=C4"), 0);
	CU_ASSERT_EQUAL(search(m, SK_HEADER, "x-empty", ""), 1);
	CU_ASSERT_EQUAL(search(m, SK_HEADER, "x-missing", ""), 0);
	CU_ASSERT_EQUAL(search(m, SK_HEADER, "content-type", "ISO-8859"), 1);
	CU_ASSERT_EQUAL(search(m, SK_TEXT, NULL, "transfer-encoding"), 1);
	CU_ASSERT_EQUAL(search(m, SK_TEXT, NULL, "\xc3\x84RGER"), 1);
	CU_ASSERT_EQUAL(search(m, SK_TO, NULL, "s@x"), 0);
	CU_ASSERT_EQUAL(search(m, SK_SEEN, NULL, "x"), -1);
	CU_ASSERT_EQUAL(search(m, SK_BODY, NULL, ""), 1);
}

/* Address keys also match the parsed address (imaptest search-addresses):
 * comments and white space inside an address don't hide it. */
void
test_search_parsed_addresses(void)
{
	const char *m = "From: <user-from (comment)@ (comment) domain.org>\r\n"
	    "To: \"Real To\" <user-to@domain.org>, g: a@b.c, d@e.f;\r\n"
	    "Cc: user-cc@domain.org (Real Cc)\r\n\r\nbody\r\n";

	CU_ASSERT_EQUAL(search(m, SK_FROM, NULL, "user-from@domain.org"), 1);
	CU_ASSERT_EQUAL(search(m, SK_FROM, NULL, "ser-fro"), 1);
	CU_ASSERT_EQUAL(search(m, SK_FROM, NULL, "comment"), 1);
	CU_ASSERT_EQUAL(search(m, SK_TO, NULL, "real to"), 1);
	CU_ASSERT_EQUAL(search(m, SK_TO, NULL, "user-to@domain.org"), 1);
	CU_ASSERT_EQUAL(search(m, SK_TO, NULL, "d@e.f"), 1);
	CU_ASSERT_EQUAL(search(m, SK_CC, NULL, "real cc"), 1);
	CU_ASSERT_EQUAL(search(m, SK_CC, NULL, "user-to"), 0);
	CU_ASSERT_EQUAL(search(m, SK_FROM, NULL, "user-from@domain.org.uk"), 0);
}

void
test_normalize_crlf(void)
{
	const char *out;
	size_t n;
	const char *same = "a\r\nb\r\n";

	CU_ASSERT_EQUAL(mime_normalize_crlf(&A, same, strlen(same), &out, &n), 0);
	CU_ASSERT_PTR_EQUAL(out, same);
	CU_ASSERT_EQUAL(mime_normalize_crlf(&A, "\na\nb\r\nc\rd\n", 10, &out, &n), 0);
	CU_ASSERT_EQUAL(n, 13);
	CU_ASSERT_EQUAL(memcmp(out, "\r\na\r\nb\r\nc\rd\r\n", 13), 0);
}

void
test_sent_date(void)
{
	struct mime_result r;

	r = analyze("Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\r\n");
	CU_ASSERT_TRUE(r.has_date);
	CU_ASSERT_EQUAL(r.date.t, 760686745);
	CU_ASSERT_EQUAL(r.date.tz, -480);
	r = analyze("Date: someday\r\n\r\n");
	CU_ASSERT_FALSE(r.has_date);
	r = analyze("Subject: no date\r\n\r\n");
	CU_ASSERT_FALSE(r.has_date);
}

void
test_binary_sizes(void)
{
	const char *msg = "Content-Type: multipart/mixed; boundary=x\r\n\r\n"
	    "--x\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n"
	    "--x\r\nContent-Transfer-Encoding: x-gzip\r\n\r\nzz\r\n"
	    "--x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db=\r\nc\r\n"
	    "--x--\r\n";
	struct mime_result r = analyze(msg);
	uint32_t p1 = 1, p2 = 2, p3 = 3, p9 = 9;
	const char *o;
	size_t n;
	uint64_t sz;

	CU_ASSERT_EQUAL(mime_binary(&A, msg, strlen(msg), r.parts, r.parts_len,
	    &p1, 1, &o, &n), MIME_DEC_OK);
	CU_ASSERT(n == 5 && memcmp(o, "hello", 5) == 0);
	CU_ASSERT_EQUAL(mime_binary_size(r.parts, r.parts_len, strlen(msg),
	    &p1, 1, &sz), MIME_DEC_OK);
	CU_ASSERT_EQUAL(sz, 5);
	CU_ASSERT_EQUAL(mime_binary(&A, msg, strlen(msg), r.parts, r.parts_len,
	    &p2, 1, &o, &n), MIME_DEC_UNKNOWN_CTE);
	CU_ASSERT_EQUAL(mime_binary_size(r.parts, r.parts_len, strlen(msg),
	    &p2, 1, &sz), MIME_DEC_UNKNOWN_CTE);
	CU_ASSERT_EQUAL(mime_binary(&A, msg, strlen(msg), r.parts, r.parts_len,
	    &p3, 1, &o, &n), MIME_DEC_OK);
	CU_ASSERT(n == 4 && memcmp(o, "a=bc", 4) == 0);
	CU_ASSERT_EQUAL(mime_binary_size(r.parts, r.parts_len, strlen(msg),
	    &p9, 1, &sz), MIME_DEC_NOPART);
}

void
test_nul_bytes(void)
{
	static const char msg[] = "From: \"a\0b\" <\"x\0y\"@[1\0.2]>\r\n"
	    "Subject: s\0t\r\nContent-Type: text/plain; name=\"n\0m\"\r\n\r\n"
	    "body\0with nul\r\n";
	struct mime_result r;

	CU_ASSERT_EQUAL_FATAL(mime_analyze(&A, msg, sizeof(msg) - 1, &r), 0);
	/* no IMAP string may carry NUL: it becomes 0x80, as in Dovecot */
	CU_ASSERT_PTR_NULL(memchr(r.envelope, '\0', r.envelope_len));
	CU_ASSERT_PTR_NULL(memchr(r.bodystructure, '\0', r.bodystructure_len));
	CU_ASSERT_PTR_NOT_NULL(memmem(r.envelope, r.envelope_len, "s\x80t", 3));
}

/* RFC 3516 4.4: parts with NUL are stored base64, other bytes untouched,
 * and BINARY gives back the original octets. */
void
test_encode_nul_parts(void)
{
	static const char m[] =
	    "From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
	    "--x\r\nContent-Type: text/plain\r\n\r\nplain text\r\n"
	    "--x\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: binary\r\n\r\n\0\1\2-\xff\r\n"
	    "--x--\r\n";
	const char *out, *dec;
	size_t n, dl;
	struct mime_result r;
	struct mime_part p;
	uint32_t path[1] = { 2 };

	CU_ASSERT_EQUAL(mime_encode_nul_parts(&A, "no nul\r\n", 8, &out, &n), 0);
	CU_ASSERT_EQUAL(n, 8);
	CU_ASSERT_EQUAL(mime_encode_nul_parts(&A, m, sizeof(m) - 1, &out, &n), 0);
	CU_ASSERT_PTR_NULL(memchr(out, '\0', n));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "plain text\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Content-Transfer-Encoding: base64\r\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "Content-Transfer-Encoding: binary"));
	CU_ASSERT_EQUAL(mime_analyze(&A, out, n, &r), 0);
	CU_ASSERT_EQUAL_FATAL(mime_parts_find(r.parts, r.parts_len, path, 1, &p), 0);
	CU_ASSERT_EQUAL(p.enc, MIME_ENC_BASE64);
	CU_ASSERT_EQUAL(mime_decode(&A, p.enc, out + p.body_off,
	    (size_t)p.body_len, &dec, &dl), MIME_DEC_OK);
	/* The CRLF before "--x--" belongs to the delimiter (RFC 2046). */
	CU_ASSERT_EQUAL(dl, 5);
	CU_ASSERT_EQUAL(memcmp(dec, "\0\1\2-\xff", 5), 0);
}
