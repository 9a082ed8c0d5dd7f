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

/* ---- URLAUTH parts (RFC 4467) ---- */

void
test_url_urlauth_rump(void)
{
	const char *s = "imap://joe@example.com/INBOX/;uid=20/;section=1.2"
	    ";urlauth=submit+fred";

	CU_ASSERT_EQUAL_FATAL(parse(s), 0);
	CU_ASSERT(U.urlauth);
	CU_ASSERT_EQUAL(U.access, URL_ACCESS_SUBMIT);
	CU_ASSERT_STRING_EQUAL(U.access_user, "fred");
	CU_ASSERT_STRING_EQUAL(U.mech, "");
	CU_ASSERT_EQUAL(U.rump_len, strlen(s));
	CU_ASSERT_STRING_EQUAL(U.section, "1.2");
	CU_ASSERT_EQUAL(U.uid, 20);
	CU_ASSERT_FALSE(U.has_expire);
	CU_ASSERT_EQUAL_FATAL(parse("imap://joe@h/INBOX/;UID=1;URLAUTH=user+"
	    "a%40b"), 0);
	CU_ASSERT_EQUAL(U.access, URL_ACCESS_USER);
	CU_ASSERT_STRING_EQUAL(U.access_user, "a@b");
	CU_ASSERT_EQUAL_FATAL(parse("imap://joe@h/INBOX/;UID=1;URLAUTH="
	    "AuthUser"), 0);
	CU_ASSERT_EQUAL(U.access, URL_ACCESS_AUTHUSER);
	CU_ASSERT_EQUAL_FATAL(parse("imap://joe@h/INBOX/;UID=1/;PARTIAL=0.5"
	    ";URLAUTH=anonymous"), 0);
	CU_ASSERT_EQUAL(U.access, URL_ACCESS_ANONYMOUS);
	CU_ASSERT(U.partial && U.offset == 0 && U.length == 5);
}

void
test_url_urlauth_full(void)
{
	const char *s = "imap://joe@example.com/INBOX/;uid=20/;section=1.2"
	    ";urlauth=anonymous:internal:91354a473744909de610943775f92038";

	CU_ASSERT_EQUAL_FATAL(parse(s), 0);
	CU_ASSERT_STRING_EQUAL(U.mech, "internal");
	CU_ASSERT_STRING_EQUAL(U.token, "91354a473744909de610943775f92038");
	/* the rump: everything before ":internal:" */
	CU_ASSERT_EQUAL(U.rump_len, strlen(s) - strlen(":internal:"
	    "91354a473744909de610943775f92038"));
	CU_ASSERT_EQUAL(U.access, URL_ACCESS_ANONYMOUS);
}

void
test_url_expire(void)
{
	CU_ASSERT_EQUAL_FATAL(parse("imap://j@h/INBOX/;UID=1;EXPIRE="
	    "2026-12-03T10:00:00Z;URLAUTH=authuser"), 0);
	CU_ASSERT(U.has_expire);
	CU_ASSERT_EQUAL(U.expire, 1796292000);
	/* an offset and fractions: 12:00:00.5+02:00 is 10:00:00Z */
	CU_ASSERT_EQUAL_FATAL(parse("imap://j@h/INBOX/;UID=1;expire="
	    "2026-12-03t12:00:00.5+02:00;urlauth=authuser"), 0);
	CU_ASSERT_EQUAL(U.expire, 1796292000);
	CU_ASSERT_EQUAL_FATAL(parse("imap://j@h/INBOX/;UID=1;EXPIRE="
	    "1970-01-01T00:00:00-00:30;URLAUTH=authuser"), 0);
	CU_ASSERT_EQUAL(U.expire, 1800);
}

void
test_url_urlauth_refused(void)
{
	static const char *const bad[] = {
		/* EXPIRE needs a URLAUTH after it, and a real date-time */
		"imap://j@h/INBOX/;UID=1;EXPIRE=2026-12-03T10:00:00Z",
		"imap://j@h/INBOX/;UID=1;EXPIRE=2026-12-03;URLAUTH=authuser",
		"imap://j@h/INBOX/;UID=1;EXPIRE=2026-13-03T10:00:00Z;"
		    "URLAUTH=authuser",
		"imap://j@h/INBOX/;UID=1;EXPIRE=2026-12-03T10:00:00;"
		    "URLAUTH=authuser",
		"imap://j@h/INBOX/;UID=1;EXPIRE=2026-12-03T10:00:00Zx;"
		    "URLAUTH=authuser",
		/* access identifiers */
		"imap://j@h/INBOX/;UID=1;URLAUTH=", "imap://j@h/INBOX/;UID=1;"
		    "URLAUTH=everyone", "imap://j@h/INBOX/;UID=1;URLAUTH=user+",
		"imap://j@h/INBOX/;UID=1;URLAUTH=submit+",
		"imap://j@h/INBOX/;UID=1;URLAUTH=user+%00",
		/* mechanism and token */
		"imap://j@h/INBOX/;UID=1;URLAUTH=authuser:",
		"imap://j@h/INBOX/;UID=1;URLAUTH=authuser::"
		    "91354a473744909de610943775f92038",
		"imap://j@h/INBOX/;UID=1;URLAUTH=authuser:INTERNAL:",
		"imap://j@h/INBOX/;UID=1;URLAUTH=authuser:INTERNAL:abc",
		"imap://j@h/INBOX/;UID=1;URLAUTH=authuser:INTERNAL:"
		    "91354a473744909de610943775f9203g",
		"imap://j@h/INBOX/;UID=1;URLAUTH=authuser:IN/T:"
		    "91354a473744909de610943775f92038",
		/* URLAUTH is last */
		"imap://j@h/INBOX/;UID=1;URLAUTH=authuser/;SECTION=1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i]) != -1)
			CU_FAIL(bad[i]);
	}
}
