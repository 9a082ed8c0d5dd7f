/*
 * test_mutf7.c - mailbox names between modified UTF-7 and UTF-8
 * (common/mutf7.c, and imap_utf8_to_mutf7() the other way): RFC 3501
 * 5.1.3's own example, surrogate pairs, "&-", and every malformed form
 * a stored rev1 name may take.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "common/imap_url.h"
#include "common/mutf7.h"

static void
both_ways(const char *mutf7, const char *utf8)
{
	char out[256];

	CU_ASSERT_EQUAL_FATAL(mutf7_to_utf8(mutf7, out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, utf8);
	CU_ASSERT_EQUAL_FATAL(imap_utf8_to_mutf7(utf8, out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, mutf7);
}

void
test_mutf7_round_trip(void)
{
	both_ways("INBOX", "INBOX");
	both_ways("", "");
	/* RFC 3501 5.1.3's example. */
	both_ways("~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	    "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	both_ways("Entw&APw-rfe", "Entw\xc3\xbcrfe");
	both_ways("Tom &- Jerry", "Tom & Jerry");
	both_ways("&-&-", "&&");
	/* Outside the BMP: a surrogate pair. */
	both_ways("&2D3c5w-", "\xf0\x9f\x93\xa7");
	both_ways("a/&AOkA6QDp-/b", "a/\xc3\xa9\xc3\xa9\xc3\xa9/b");
}

void
test_mutf7_malformed(void)
{
	char out[64];
	static const char *const bad[] = {
		"&",		/* unterminated */
		"&AOk",		/* no '-' */
		"&-x&AOk-&",	/* trailing '&' */
		"&AGE-",	/* "a": printable ASCII must be itself */
		"&2D0-",	/* a lone high surrogate */
		"&3KcA6Q-",	/* a lone low surrogate */
		"&AOl-",	/* non-zero padding bits */
		"&AOkA-",	/* a partial 16-bit unit */
		"&A!-",		/* not base64 */
		"a\xc3\xa9",	/* 8-bit bytes: UTF-8 is not modified UTF-7 */
		"a\tb",		/* control character */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(mutf7_to_utf8(bad[i], out, sizeof(out)), -1);
	/* Too small an output buffer is an error, never a truncation. */
	CU_ASSERT_EQUAL(mutf7_to_utf8("Entw&APw-rfe", out, 9), -1);
	CU_ASSERT_EQUAL(mutf7_to_utf8("Entw&APw-rfe", out, 10), 0);
	CU_ASSERT_EQUAL(mutf7_to_utf8("abc", out, 3), -1);
}

void
test_utf8_valid(void)
{
	CU_ASSERT_TRUE(utf8_valid(""));
	CU_ASSERT_TRUE(utf8_valid("plain"));
	CU_ASSERT_TRUE(utf8_valid("\xc3\xa9\xe6\x97\xa5\xf0\x9f\x93\xa7"));
	CU_ASSERT_FALSE(utf8_valid("\xc3"));		/* truncated */
	CU_ASSERT_FALSE(utf8_valid("\xc0\xaf"));	/* overlong */
	CU_ASSERT_FALSE(utf8_valid("\xed\xa0\x80"));	/* surrogate */
	CU_ASSERT_FALSE(utf8_valid("\xf4\x90\x80\x80"));	/* > U+10FFFF */
	CU_ASSERT_FALSE(utf8_valid("\xff"));
	CU_ASSERT_FALSE(utf8_valid("&\x80"));
}
