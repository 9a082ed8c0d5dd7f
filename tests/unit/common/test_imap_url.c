/*
 * test_imap_url.c - IMAP URLs of RFC 5092 as CATENATE takes them, and
 * UTF-8 mailbox names into modified UTF-7 (RFC 3501 5.1.3).
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "common/imap_url.h"

static struct imap_url U;

static int
parse(const char *s)
{
	const char *err = NULL;
	int rc = imap_url_parse(s, &U, &err);

	CU_ASSERT((rc == 0) == (err == NULL));
	return rc;
}

void
test_url_relative(void)
{
	CU_ASSERT_EQUAL_FATAL(parse("/INBOX/;UID=20"), 0);
	CU_ASSERT_STRING_EQUAL(U.mailbox, "INBOX");
	CU_ASSERT_EQUAL(U.uid, 20);
	CU_ASSERT_EQUAL(U.uidvalidity, 0);
	CU_ASSERT_STRING_EQUAL(U.section, "");
	CU_ASSERT_FALSE(U.partial);
	CU_ASSERT_STRING_EQUAL(U.user, "");
	/* keys in any case, as imaptest writes them */
	CU_ASSERT_EQUAL_FATAL(parse("/box;uidvalidity=385759045/;uid=7/"
	    ";section=1.2.MIME"), 0);
	CU_ASSERT_STRING_EQUAL(U.mailbox, "box");
	CU_ASSERT_EQUAL(U.uidvalidity, 385759045u);
	CU_ASSERT_EQUAL(U.uid, 7);
	CU_ASSERT_STRING_EQUAL(U.section, "1.2.MIME");
	CU_ASSERT_EQUAL_FATAL(parse("/a%20b/c/;UID=1/;SECTION=HEADER.FIELDS%20"
	    "(SUBJECT%20FROM)/;PARTIAL=10.20"), 0);
	CU_ASSERT_STRING_EQUAL(U.mailbox, "a b/c");
	CU_ASSERT_STRING_EQUAL(U.section, "HEADER.FIELDS (SUBJECT FROM)");
	CU_ASSERT(U.partial && U.offset == 10 && U.has_length && U.length == 20);
	CU_ASSERT_EQUAL_FATAL(parse("/x/;uid=1/;partial=0"), 0);
	CU_ASSERT(U.partial && U.offset == 0 && !U.has_length);
}

void
test_url_absolute(void)
{
	CU_ASSERT_EQUAL_FATAL(parse("imap://fred;AUTH=*@mail.example.org:143/"
	    "INBOX;UIDVALIDITY=1/;UID=2/;SECTION=TEXT"), 0);
	CU_ASSERT_STRING_EQUAL(U.user, "fred");
	CU_ASSERT_STRING_EQUAL(U.mailbox, "INBOX");
	CU_ASSERT_EQUAL(U.uid, 2);
	CU_ASSERT_STRING_EQUAL(U.section, "TEXT");
	CU_ASSERT_EQUAL_FATAL(parse("IMAP://host/INBOX/;UID=2"), 0);
	CU_ASSERT_STRING_EQUAL(U.user, "");
	CU_ASSERT_EQUAL_FATAL(parse("imap://a%40b@host/INBOX/;UID=2"), 0);
	CU_ASSERT_STRING_EQUAL(U.user, "a@b");
}

void
test_url_refused(void)
{
	static const char *const bad[] = {
		"", "INBOX/;UID=1", "http://x/INBOX/;UID=1", "imap://",
		"imap://host", "imap://@/INBOX/;UID=1", "imap:///INBOX/;UID=1",
		"/INBOX", "/INBOX/", "/INBOX/;UID=0", "/INBOX/;UID=x",
		"/INBOX/;UID=4294967296", "/INBOX;UIDVALIDITY=0/;UID=1",
		"/INBOX;UIDVALIDITY=/;UID=1", "//;UID=1", "/%zz/;UID=1",
		"/a%00b/;UID=1", "/a%4/;UID=1", "/INBOX/;UID=1/;SECTION=",
		"/INBOX/;UID=1/;PARTIAL=", "/INBOX/;UID=1/;PARTIAL=1.0",
		"/INBOX/;UID=1/;PARTIAL=1.", "/INBOX/;UID=1;EXPIRE=2000",
		"/INBOX/;UID=1/;URLAUTH=anonymous", "/INBOX?SUBJECT%20x",
		"/INBOX/;UID=1/;SECTION=1/;UID=2", "/%FF/;UID=1",
		"/%C0%80/;UID=1", "/%ED%A0%80/;UID=1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i]) != -1)
			CU_FAIL(bad[i]);
	}
}

static const char *
m7(const char *in)
{
	static char out[256];

	if (imap_utf8_to_mutf7(in, out, sizeof(out)) != 0)
		return "ERR";
	return out;
}

void
test_mutf7(void)
{
	/* RFC 3501 5.1.3's examples */
	CU_ASSERT_STRING_EQUAL(m7("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"),
	    "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	CU_ASSERT_STRING_EQUAL(m7("A&B"), "A&-B");
	CU_ASSERT_STRING_EQUAL(m7("Entw\xc3\xbcrfe"), "Entw&APw-rfe");
	CU_ASSERT_STRING_EQUAL(m7("\xf0\x9f\x98\x80"), "&2D3eAA-");
	CU_ASSERT_STRING_EQUAL(m7("plain"), "plain");
	CU_ASSERT_STRING_EQUAL(m7(""), "");
	CU_ASSERT_STRING_EQUAL(m7("a\tb"), "a&AAk-b");
	CU_ASSERT_STRING_EQUAL(m7("\xc3"), "ERR");
	char small[4];
	CU_ASSERT_EQUAL(imap_utf8_to_mutf7("abcd", small, sizeof(small)), -1);
	CU_ASSERT_EQUAL(imap_utf8_to_mutf7("abc", small, sizeof(small)), 0);
}
