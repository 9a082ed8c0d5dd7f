/*
 * test_preview.c - the PREVIEW text (RFC 8970) mime_preview() computes:
 * each MIME shape it must read (plain, quoted-printable, base64, HTML,
 * multipart/alternative, a non-UTF-8 charset, attachments skipped,
 * empty), the 256-character bound counted in characters, and over the
 * whole golden corpus the invariants every preview keeps (valid UTF-8,
 * no control characters, white space collapsed, trimmed, bounded), with
 * the expected text of the corpus messages that show a shape best.
 */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "tests/unit/mime/corpus.h"
#include "store/mime.h"

/* The preview of msg[0..len), NUL-terminated (malloc'd). */
static char *
preview_n(const char *msg, size_t len)
{
	struct mime_result r;
	struct arena a;
	struct buf b;
	char *out;

	arena_init(&a, 0);
	buf_init(&b, 0);
	CU_ASSERT_EQUAL_FATAL(mime_analyze(&a, msg, len, &r), 0);
	CU_ASSERT_EQUAL(mime_preview(&a, msg, len, r.parts, r.parts_len, &b),
	    0);
	/* not strndup(): the buffer has no NUL for it to look for */
	out = malloc(buf_len(&b) + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	if (buf_len(&b) > 0)
		memcpy(out, buf_ptr(&b), buf_len(&b));
	out[buf_len(&b)] = '\0';
	buf_free(&b);
	arena_free(&a);
	return out;
}

static void
preview_is(const char *msg, const char *want)
{
	char *got = preview_n(msg, strlen(msg));

	if (strcmp(got, want) != 0) {
		fprintf(stderr, "\n  got  \"%s\"\n  want \"%s\"\n", got, want);
		CU_FAIL("preview");
	}
	free(got);
}

#define HDR "From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"

void
test_preview_plain(void)
{
	preview_is(HDR "\r\nHello   there,\r\n\r\n\tsecond\fline \r\n",
	    "Hello there, second line");
	preview_is(HDR "Content-Type: text/plain\r\n\r\n  \r\n lead\r\n",
	    "lead");
	/* no MIME header at all: text/plain us-ascii */
	preview_is("Subject: x\r\n\r\nbare body\r\n", "bare body");
}

void
test_preview_transfer_encodings(void)
{
	preview_is(HDR "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Caf=C3=A9 soft=\r\nbreak =3D sign\r\n", "Café softbreak = sign");
	preview_is(HDR "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "R3LDvMOfZSBhdXMg\r\nWsO8cmljaAo=\r\n", "Grüße aus Zürich");
	/* an encoding nobody knows: nothing readable, no preview */
	preview_is(HDR "Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: x-unknown\r\n\r\nabc\r\n", "");
}

void
test_preview_charsets(void)
{
	preview_is(HDR "Content-Type: text/plain; charset=iso-8859-1\r\n\r\n"
	    "Voil\xe0 d\xe9j\xe0\r\n", "Voilà déjà");
	preview_is(HDR "Content-Type: text/plain; charset=windows-1252\r\n"
	    "\r\n\x93quoted\x94 \x80" "5\r\n", "\xe2\x80\x9cquoted\xe2\x80\x9d "
	    "\xe2\x82\xac" "5");
	/* bytes that are not UTF-8 in a UTF-8 part: U+FFFD each */
	preview_is(HDR "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	    "a\xff" "b\xc3\r\n", "a\xef\xbf\xbd" "b\xef\xbf\xbd");
	/* control characters are white space */
	preview_is(HDR "\r\na\x01\x02" "b\x7f" "c\r\n", "a b c");
}

void
test_preview_html(void)
{
	preview_is(HDR "Content-Type: text/html\r\n\r\n"
	    "<html><head><title>T</title><style>p{}</style></head>"
	    "<body><p>Hi&nbsp;<b>you</b> &amp; me</p><!-- hidden -->"
	    "<script type=x>bad()</script><p>&#233;t&#xE9; &lt;3 &unknown; "
	    "a < b</p><br/>end</body></html>\r\n",
	    "Hi you & me été <3 &unknown; a < b end");
	/* tags separate words; an unterminated tag or comment ends it */
	preview_is(HDR "Content-Type: text/html\r\n\r\n"
	    "<td>one</td><td>two</td><!-- open", "one two");
	preview_is(HDR "Content-Type: TEXT/HTML; charset=iso-8859-1\r\n\r\n"
	    "<p>caf\xe9</p><img src=x", "café");
	/* numeric references out of range become U+FFFD */
	preview_is(HDR "Content-Type: text/html\r\n\r\n&#0;&#x110000;&#55296;",
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

void
test_preview_multipart(void)
{
	/* alternative: the plain side even when HTML comes first */
	preview_is(HDR "Content-Type: multipart/alternative; boundary=B\r\n"
	    "\r\n--B\r\nContent-Type: text/html\r\n\r\n<p>html side</p>\r\n"
	    "--B\r\nContent-Type: text/plain\r\n\r\nplain side\r\n--B--\r\n",
	    "plain side");
	/* HTML only: its text */
	preview_is(HDR "Content-Type: multipart/mixed; boundary=B\r\n\r\n"
	    "--B\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: "
	    "base64\r\n\r\niVBORw0K\r\n--B\r\nContent-Type: text/html\r\n\r\n"
	    "<b>only html</b>\r\n--B--\r\n", "only html");
	/* attachments are not the message's text */
	preview_is(HDR "Content-Type: multipart/mixed; boundary=B\r\n\r\n"
	    "--B\r\nContent-Type: text/plain\r\nContent-Disposition: "
	    "attachment; filename=a.txt\r\n\r\nattached\r\n--B\r\n"
	    "Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\n--B--\r\n",
	    "");
	preview_is(HDR "Content-Type: multipart/mixed; boundary=B\r\n\r\n"
	    "--B\r\nContent-Type: text/plain\r\nContent-Disposition: "
	    "inline\r\n\r\nshown\r\n--B--\r\n", "shown");
}

void
test_preview_empty(void)
{
	preview_is("", "");
	preview_is(HDR "\r\n", "");
	preview_is(HDR "Content-Type: text/plain\r\n\r\n \r\n\t\r\n", "");
	preview_is(HDR "Content-Type: application/octet-stream\r\n\r\nxyz", "");
}

/* Characters in UTF-8 s (valid). */
static size_t
nchars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

void
test_preview_bound(void)
{
	struct buf m;
	char *got;

	buf_init(&m, 0);
	buf_adds(&m, HDR "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	for (int i = 0; i < 2000; i++)
		buf_adds(&m, "\xe2\x82\xac");	/* U+20AC, 3 bytes */
	got = preview_n(buf_ptr(&m), buf_len(&m));
	CU_ASSERT_EQUAL(nchars(got), MIME_PREVIEW_MAX);
	CU_ASSERT_EQUAL(strlen(got), 3 * MIME_PREVIEW_MAX);
	free(got);
	/* a cut that would end on a space ends before it */
	buf_reset(&m);
	buf_adds(&m, HDR "\r\n");
	for (int i = 0; i < 255; i++)
		buf_addc(&m, 'x');
	buf_adds(&m, "  \r\n  tail");
	got = preview_n(buf_ptr(&m), buf_len(&m));
	CU_ASSERT_EQUAL(strlen(got), 255);
	free(got);
	/* a part far larger than what is read still gives its start */
	buf_reset(&m);
	buf_adds(&m, HDR "\r\nstart ");
	for (int i = 0; i < 400000; i++)
		buf_addc(&m, 'y');
	got = preview_n(buf_ptr(&m), buf_len(&m));
	CU_ASSERT_EQUAL(strncmp(got, "start yyy", 9), 0);
	CU_ASSERT_EQUAL(nchars(got), MIME_PREVIEW_MAX);
	free(got);
	buf_free(&m);
}

/* ---- the golden corpus ---- */

static bool
utf8_ok(const unsigned char *s)
{
	while (*s) {
		size_t n = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 :
		    (*s & 0xf0) == 0xe0 ? 3 : (*s & 0xf8) == 0xf0 ? 4 : 0;
		if (n == 0 || (n == 1 && (*s < 0x20 || *s == 0x7f)))
			return false;
		for (size_t i = 1; i < n; i++)
			if ((s[i] & 0xc0) != 0x80)
				return false;
		s += n;
	}
	return true;
}

static const struct {
	const char *file, *want;
} corpus_want[] = {
	{ "apple-mail-inline", "Here it is \xf0\x9f\x93\xb7" },
	{ "html-only-8bit-iso2022", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ "latin1-qp-search", "\xe2\x80\x9cNa\xc3\xafve\xe2\x80\x9d co\xc3\xb6"
	    "perate \xe2\x82\xac" "100, \xc3\x80 bient\xc3\xb4t, \xc3\x89T\xc3"
	    "\x89." },
	{ "nested-related", "Hello Bob, the chart is attached. Caf\xc3\xa9 at "
	    "10?" },
	{ "qp-no-content-type", "Soft break and = sign, trailing spaces A bad "
	    "escape =ZZ stays." },
	{ "bounce-report", "This is the mail system at host mx.example.net. "
	    "<nobody@example.net>: user unknown" },
	{ "forward-rfc822", "See below." },
	{ "utf8-headers", "Liebe Gr\xc3\xbc\xc3\x9f" "e, J\xc3\xbcrgen. "
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82!" },
	{ "empty", "" },
	{ "headers-only", "" },
};

static void
corpus_one(const char *name, size_t nlen)
{
	char path[1024], *msg, *got;
	size_t len = 0, n;

	snprintf(path, sizeof(path), "%s/%s", MK_CORPUS_DIR, name);
	CU_ASSERT_PTR_NOT_NULL_FATAL(msg = corpus_slurp(path, &len));
	got = preview_n(msg, len);
	n = strlen(got);
	if (!utf8_ok((const unsigned char *)got) ||
	    nchars(got) > MIME_PREVIEW_MAX || strstr(got, "  ") != NULL ||
	    (n > 0 && (got[0] == ' ' || got[n - 1] == ' '))) {
		fprintf(stderr, "\n  %s: \"%s\"\n", name, got);
		CU_FAIL("preview invariant");
	}
	for (size_t i = 0; i < sizeof(corpus_want) / sizeof(corpus_want[0]);
	    i++) {
		if (strlen(corpus_want[i].file) == nlen - 4 &&
		    strncmp(corpus_want[i].file, name, nlen - 4) == 0 &&
		    strcmp(got, corpus_want[i].want) != 0) {
			fprintf(stderr, "\n  %s: got \"%s\"\n", name, got);
			CU_FAIL("corpus preview");
		}
	}
	free(got);
	free(msg);
}

void
test_preview_corpus(void)
{
	DIR *d = opendir(MK_CORPUS_DIR);
	struct dirent *de;
	unsigned count = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".eml") != 0)
			continue;
		corpus_one(de->d_name, n);
		count++;
	}
	closedir(d);
	CU_ASSERT(count >= 30);
}
