/*
 * test_imap_write.c - response string forms: atom, quoted, literal, NIL.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "common/buf.h"
#include "common/imap_write.h"

static struct buf B;

int
test_imap_write_init(void)
{
	buf_init(&B, 0);
	return 0;
}

int
test_imap_write_cleanup(void)
{
	buf_free(&B);
	return 0;
}

static const char *
out(void)
{
	const char *s = buf_cstr(&B);
	return s;
}

#define W(call, want) do {				\
	buf_reset(&B);					\
	call;						\
	CU_ASSERT_STRING_EQUAL(out(), (want));		\
} while (0)

void
test_write_astring(void)
{
	W(imapw_astring(&B, "INBOX"), "INBOX");
	W(imapw_astring(&B, "a]b"), "a]b");
	W(imapw_astring(&B, "two words"), "\"two words\"");
	W(imapw_astring(&B, ""), "\"\"");
	W(imapw_astring(&B, "NIL"), "\"NIL\"");
	W(imapw_astring(&B, "nil"), "\"nil\"");
	W(imapw_astring(&B, "a%b"), "\"a%b\"");
	W(imapw_astring(&B, "a*"), "\"a*\"");
	W(imapw_astring(&B, "(x)"), "\"(x)\"");
	W(imapw_astring(&B, "{5}"), "\"{5}\"");
	W(imapw_astring(&B, "say \"hi\""), "\"say \\\"hi\\\"\"");
	W(imapw_astring(&B, "back\\slash"), "\"back\\\\slash\"");
	W(imapw_astring(&B, "caf\xc3\xa9"), "{5}\r\ncaf\xc3\xa9");
	W(imapw_astring(&B, "a\r\nb"), "{4}\r\na\r\nb");
	W(imapw_astring(&B, "tab\there"), "\"tab\there\"");
}

void
test_write_string_never_atom(void)
{
	W(imapw_cstring(&B, "INBOX"), "\"INBOX\"");
	W(imapw_string(&B, "a\"b\\", 4), "\"a\\\"b\\\\\"");
	W(imapw_string(&B, "x\ny", 3), "{3}\r\nx\ny");
	W(imapw_string(&B, "x\ry", 3), "{3}\r\nx\ry");
	W(imapw_string(&B, "x\0y", 3), "{3}\r\nx");	/* NUL ends the C view */
	CU_ASSERT_EQUAL(B.len, 8);
	W(imapw_string(&B, "", 0), "\"\"");
}

void
test_write_long_string_is_literal(void)
{
	char s[1100];

	memset(s, 'a', sizeof(s));
	buf_reset(&B);
	imapw_string(&B, s, 1024);
	CU_ASSERT_EQUAL(B.len, 1026);
	CU_ASSERT_EQUAL(buf_ptr(&B)[0], '"');
	buf_reset(&B);
	imapw_string(&B, s, 1025);
	CU_ASSERT_EQUAL(strncmp(buf_ptr(&B), "{1025}\r\naaa", 11), 0);
	CU_ASSERT_EQUAL(B.len, 1025 + 8);
	s[1099] = '\0';
	buf_reset(&B);
	imapw_astring(&B, s);
	CU_ASSERT_EQUAL(strncmp(buf_ptr(&B), "{1099}\r\n", 8), 0);
}

void
test_write_nstring_literal_mailbox(void)
{
	W(imapw_nstring(&B, NULL, 0), "NIL");
	W(imapw_nstring(&B, "NIL", 3), "\"NIL\"");
	W(imapw_nstring(&B, "abc", 2), "\"ab\"");
	W(imapw_literal(&B, "abc", 3), "{3}\r\nabc");
	W(imapw_literal(&B, "", 0), "{0}\r\n");
	W(imapw_mailbox(&B, "INBOX"), "\"INBOX\"");
	W(imapw_mailbox(&B, "Sent Items"), "\"Sent Items\"");
	W(imapw_mailbox(&B, "\xe2\x82\xac"), "{3}\r\n\xe2\x82\xac");
}

void
test_write_quotable(void)
{
	CU_ASSERT_TRUE(imapw_quotable("abc", 3));
	CU_ASSERT_TRUE(imapw_quotable("", 0));
	CU_ASSERT_TRUE(imapw_quotable("a\"\\", 3));
	CU_ASSERT_FALSE(imapw_quotable("a\rb", 3));
	CU_ASSERT_FALSE(imapw_quotable("a\nb", 3));
	CU_ASSERT_FALSE(imapw_quotable("a\0b", 3));
	CU_ASSERT_FALSE(imapw_quotable("\x80", 1));
	CU_ASSERT_FALSE(imapw_quotable("\xff", 1));
}
