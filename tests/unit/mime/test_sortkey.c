/*
 * test_sortkey.c - the sort keys of SORT and THREAD: the base subject
 * of RFC 5256 section 2.1 (its leaders, blobs, trailers and [fwd: ]
 * wrappers, nested, with RFC 2047 words), the i;unicode-casemap
 * collation of RFC 5051, Message-ID normalization (RFC 5256 section
 * 4), and the keys mime_analyze() derives from a whole header.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "store/casemap.h"
#include "store/mime.h"

static struct arena A;

int
test_sortkey_init(void)
{
	arena_init(&A, 0);
	return 0;
}

int
test_sortkey_cleanup(void)
{
	arena_free(&A);
	return 0;
}

/* Base subject of s must be want, with reply as said. */
static void
base_is(const char *s, const char *want, bool want_reply)
{
	bool reply = !want_reply;
	const char *got = mime_base_subject(&A, s, strlen(s), &reply);

	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	if (strcmp(got, want) != 0 || reply != want_reply) {
		fprintf(stderr, "\n  subject \"%s\": got \"%s\" reply %d, want "
		    "\"%s\" reply %d\n", s, got, reply, want, want_reply);
		CU_FAIL("base subject");
	}
}

void
test_base_subject_plain(void)
{
	base_is("Hello", "HELLO", false);
	base_is("  spaced \t  out\r\n folded  ", "SPACED OUT FOLDED", false);
	base_is("", "", false);
	base_is("Ref: hello", "REF: HELLO", false);	/* not a refwd */
	base_is("Reply all", "REPLY ALL", false);
	base_is("Re hello", "RE HELLO", false);		/* no colon */
}

void
test_base_subject_leaders(void)
{
	base_is("Re: Hello", "HELLO", true);
	base_is("re:RE: Re : Hello", "HELLO", true);
	base_is("Fwd: Hello", "HELLO", true);
	base_is("Fw: Hello", "HELLO", true);
	base_is("FWD:Hello", "HELLO", true);
	base_is("Re[2]: Hello", "HELLO", true);
	base_is("Re [list]: Hello", "HELLO", true);
	base_is("Re: ", "", true);
	base_is("Re: Re:", "", true);
}

void
test_base_subject_blobs(void)
{
	base_is("[list] Hello", "HELLO", false);
	base_is("[list] Re: Hello", "HELLO", true);
	base_is("[a][b] Re: Hello", "HELLO", true);
	base_is("Re: [list] Re: [list] Hello", "HELLO", true);
	/* a blob is the base when nothing else would be left */
	base_is("[list]", "[LIST]", false);
	base_is("Re: [blob]", "[BLOB]", true);
	base_is("[a] [b]", "[B]", false);
	/* not a blob: brackets unclosed or nested */
	base_is("[open Hello", "[OPEN HELLO", false);
}

void
test_base_subject_trailers(void)
{
	base_is("Hello (fwd)", "HELLO", true);
	base_is("Hello (FWD) (fwd)  ", "HELLO", true);
	base_is("Hello(fwd)", "HELLO", true);
	base_is("Hello (fw)", "HELLO (FW)", false);
}

void
test_base_subject_fwd_wrapper(void)
{
	base_is("[Fwd: Hello]", "HELLO", true);
	base_is("[fwd: Re: [list] Hello (fwd)]", "HELLO", true);
	base_is("Re: [Fwd: [FWD: Hello]]", "HELLO", true);
	/* only around the whole of what is left */
	base_is("[fwd: a] b", "B", false);
}

void
test_base_subject_encoded_words(void)
{
	bool r1, r2;
	const char *a = mime_base_subject(&A,
	    "Re: =?iso-8859-1?q?R=E9union?=", 30, &r1);
	const char *b = mime_base_subject(&A, "=?utf-8?q?r=C3=A9union?=",
	    24, &r2);

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_STRING_EQUAL(a, b);
	/* E, U+0301 COMBINING ACUTE ACCENT, UNION */
	CU_ASSERT_STRING_EQUAL(a, "RE\xcc\x81UNION");
	CU_ASSERT_TRUE(r1);
	CU_ASSERT_FALSE(r2);
	/* an encoded "Re:" is a leader like any other */
	base_is("=?utf-8?q?Re=3A_Hi?=", "HI", true);
}

static const char *
cm(const char *s)
{
	struct buf b;
	const char *r;

	buf_init(&b, 0);
	buf_reserve(&b, 1);	/* storage even for "" */
	casemap_utf8(&b, s, strlen(s));
	r = arena_strndup(&A, buf_ptr(&b), buf_len(&b));
	buf_free(&b);
	return r;
}

void
test_casemap_rfc5051(void)
{
	/* the RFC's example: U+01C4, U+01C5, U+01C6 all become U+0044
	 * U+007A U+030C (titlecase U+01C5, then its decomposition) */
	CU_ASSERT_STRING_EQUAL(cm("\xc7\x84"), "Dz\xcc\x8c");
	CU_ASSERT_STRING_EQUAL(cm("\xc7\x85"), "Dz\xcc\x8c");
	CU_ASSERT_STRING_EQUAL(cm("\xc7\x86"), "Dz\xcc\x8c");
	CU_ASSERT_STRING_EQUAL(cm("abcXYZ 09!"), "ABCXYZ 09!");
	/* precomposed and decomposed forms are the same string */
	CU_ASSERT_STRING_EQUAL(cm("\xc3\xa9"), cm("e\xcc\x81"));
	CU_ASSERT_STRING_EQUAL(cm("\xc3\x89"), "E\xcc\x81");
	/* Greek sigma in all three forms */
	CU_ASSERT_STRING_EQUAL(cm("\xcf\x83"), cm("\xce\xa3"));
	CU_ASSERT_STRING_EQUAL(cm("\xcf\x82"), cm("\xce\xa3"));
	/* Cyrillic, and a compatibility form: fullwidth A */
	CU_ASSERT_STRING_EQUAL(cm("\xd0\xb4"), "\xd0\x94");
	CU_ASSERT_STRING_EQUAL(cm("\xef\xbd\x81"), "A");
	/* Hangul GA: U+1100 U+1161 */
	CU_ASSERT_STRING_EQUAL(cm("\xea\xb0\x80"), "\xe1\x84\x80\xe1\x85\xa1");
	/* a 4-byte letter: U+1D400 MATHEMATICAL BOLD CAPITAL A -> A */
	CU_ASSERT_STRING_EQUAL(cm("\xf0\x9d\x90\x80"), "A");
	/* bytes that are not UTF-8 stay as they are */
	CU_ASSERT_STRING_EQUAL(cm("a\xff" "b\xc3"), "A\xff" "B\xc3");
	CU_ASSERT_STRING_EQUAL(cm("\xed\xa0\x80"), "\xed\xa0\x80");
}

void
test_casemap_orders(void)
{
	/* the empty string first; then octet order of the forms */
	CU_ASSERT_TRUE(strcmp(cm(""), cm("a")) < 0);
	CU_ASSERT_TRUE(strcmp(cm("apple"), cm("Banana")) < 0);
	CU_ASSERT_TRUE(strcmp(cm("banana"), cm("APPLE")) > 0);
	CU_ASSERT_TRUE(strcmp(cm("\xc3\xa9t\xc3\xa9"), cm("ETE")) > 0);
	CU_ASSERT_STRING_EQUAL(cm("\xc3\xa9t\xc3\xa9"), cm("E\xcc\x81TE\xcc\x81"));
}

static const char *
next_id(const char *s, size_t *pos)
{
	struct buf b;
	const char *r = NULL;

	buf_init(&b, 0);
	buf_reserve(&b, 1);
	if (mime_next_msgid(s, strlen(s), pos, &b))
		r = arena_strndup(&A, buf_ptr(&b), buf_len(&b));
	buf_free(&b);
	return r;
}

void
test_msgid_normalized(void)
{
	size_t pos = 0;
	const char *s = "<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>";

	/* RFC 5256 section 4's example: quoting does not matter */
	CU_ASSERT_STRING_EQUAL(next_id(s, &pos), "01KF8JCEOCBS0045PS@xxx.yyy.com");
	pos = 0;
	CU_ASSERT_STRING_EQUAL(next_id("< a.b (note) @ c.d >", &pos), "a.b@c.d");
	pos = 0;
	CU_ASSERT_STRING_EQUAL(next_id("<\"a b\"@c>", &pos), "ab@c");
	pos = 0;
	/* case is kept: Message-IDs compare case-sensitively */
	CU_ASSERT_STRING_EQUAL(next_id("<AbC@Host>", &pos), "AbC@Host");
}

void
test_msgid_lists_and_junk(void)
{
	const char *s = "junk <no-at-sign> <a@b>\r\n\t<c@d> <@x> <y@> <e@f";
	size_t pos = 0;

	CU_ASSERT_STRING_EQUAL(next_id(s, &pos), "a@b");
	CU_ASSERT_STRING_EQUAL(next_id(s, &pos), "c@d");
	CU_ASSERT_PTR_NULL(next_id(s, &pos));
	pos = 0;
	CU_ASSERT_PTR_NULL(next_id("", &pos));
	pos = 0;
	CU_ASSERT_PTR_NULL(next_id("<<<>>>", &pos));
}

static struct sort_keys
keys_of(const char *hdr)
{
	struct sort_keys k;

	CU_ASSERT_EQUAL_FATAL(mime_sortkeys(&A, hdr, strlen(hdr), &k), 0);
	return k;
}

void
test_sortkeys_addresses(void)
{
	struct sort_keys k = keys_of(
	    "From: =?utf-8?q?J=C3=B6rg?= Smith <joerg@example.org>, b@c\r\n"
	    "To: undisclosed: a@b.example, c@d.example;\r\n"
	    "Cc: (comment) Carl@Example.ORG\r\n"
	    "\r\n");

	CU_ASSERT_STRING_EQUAL(k.from, "JOERG");
	CU_ASSERT_STRING_EQUAL(k.dfrom, "JO\xcc\x88RG SMITH");
	/* a group first: its name is what sorts */
	CU_ASSERT_STRING_EQUAL(k.to, "UNDISCLOSED");
	CU_ASSERT_STRING_EQUAL(k.dto, "UNDISCLOSED");
	CU_ASSERT_STRING_EQUAL(k.cc, "CARL");
	k = keys_of("To: bob@example.org\r\nFrom: \"\" <x@y>\r\n\r\n");
	/* without a display name: mailbox@host (RFC 5957) */
	CU_ASSERT_STRING_EQUAL(k.dto, "BOB@EXAMPLE.ORG");
	CU_ASSERT_STRING_EQUAL(k.dfrom, "X@Y");
	CU_ASSERT_STRING_EQUAL(k.cc, "");
	k = keys_of("Subject: x\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(k.from, "");
	CU_ASSERT_STRING_EQUAL(k.dfrom, "");
	CU_ASSERT_STRING_EQUAL(k.to, "");
	CU_ASSERT_STRING_EQUAL(k.msgid, "");
	CU_ASSERT_STRING_EQUAL(k.refs, "");
}

void
test_sortkeys_references(void)
{
	struct sort_keys k = keys_of(
	    "Message-ID: <m1@x> <m2@x>\r\n"
	    "In-Reply-To: <p@x>\r\n"
	    "References: <a@x>\r\n <b@x> junk <c@x>\r\n"
	    "Subject: Re: [list] Hi\r\n\r\n");

	CU_ASSERT_STRING_EQUAL(k.msgid, "m1@x");
	CU_ASSERT_STRING_EQUAL(k.refs, "a@x b@x c@x");
	CU_ASSERT_STRING_EQUAL(k.subject, "HI");
	CU_ASSERT_TRUE(k.reply);
	/* References without a valid id: the first of In-Reply-To */
	k = keys_of("References: nothing here\r\n"
	    "In-Reply-To: <p@x> (message of Monday) <q@x>\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(k.refs, "p@x");
	k = keys_of("In-Reply-To: your message <p@x>\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(k.refs, "p@x");
	k = keys_of("Message-ID: no brackets@x\r\n\r\n");
	CU_ASSERT_STRING_EQUAL(k.msgid, "");
}

void
test_sortkeys_from_analyze(void)
{
	const char *msg = "Subject: [Fwd: Report]\r\nFrom: a@b\r\n"
	    "Message-ID: <id@host>\r\n\r\nbody\r\n";
	struct mime_result r;

	CU_ASSERT_EQUAL_FATAL(mime_analyze(&A, msg, strlen(msg), &r), 0);
	CU_ASSERT_STRING_EQUAL(r.sort.subject, "REPORT");
	CU_ASSERT_TRUE(r.sort.reply);
	CU_ASSERT_STRING_EQUAL(r.sort.from, "A");
	CU_ASSERT_STRING_EQUAL(r.sort.msgid, "id@host");
}
