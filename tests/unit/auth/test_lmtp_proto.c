/*
 * test_lmtp_proto.c - the parsing of LMTP arguments (daemon/lmtp/
 * lmtp_proto.c): paths with source routes and quoted local parts, the
 * address split, MAIL FROM parameters, and what must be refused.
 */
#include "daemon/lmtp/lmtp.h"

#include <CUnit/CUnit.h>
#include <string.h>

static int
path(const char *in, char *out, const char **rest)
{
	return lmtp_parse_path(in, rest, out, LMTP_MAX_PATH);
}

void
test_lmtp_path(void)
{
	char out[LMTP_MAX_PATH];
	const char *rest;

	CU_ASSERT_EQUAL(path("<alice@example.org> SIZE=10", out, &rest), 0);
	CU_ASSERT_STRING_EQUAL(out, "alice@example.org");
	CU_ASSERT_STRING_EQUAL(rest, " SIZE=10");
	CU_ASSERT_EQUAL(path("<>", out, &rest), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(path("<@a.example,@b.example:bob@c.example>", out,
	    &rest), 0);
	CU_ASSERT_STRING_EQUAL(out, "bob@c.example");
	/* '>' and blanks inside a quoted local part belong to it */
	CU_ASSERT_EQUAL(path("<\"a >b\"@x>", out, &rest), 0);
	CU_ASSERT_STRING_EQUAL(out, "\"a >b\"@x");
	CU_ASSERT_EQUAL(path("alice@x", out, &rest), -1);
	CU_ASSERT_EQUAL(path("<alice@x", out, &rest), -1);
	CU_ASSERT_EQUAL(path("<a b@x>", out, &rest), -1);
	CU_ASSERT_EQUAL(path("<a\rb@x>", out, &rest), -1);
	CU_ASSERT_EQUAL(path("<@a.example>", out, &rest), -1);

	char big[LMTP_MAX_PATH + 8];
	memset(big, 'a', sizeof(big));
	big[0] = '<';
	big[LMTP_MAX_PATH - 1] = '>';
	big[LMTP_MAX_PATH] = '\0';
	CU_ASSERT_EQUAL(path(big, out, &rest), 0);	/* 256 with brackets */
	big[LMTP_MAX_PATH - 1] = 'a';
	big[LMTP_MAX_PATH] = '>';
	big[LMTP_MAX_PATH + 1] = '\0';
	CU_ASSERT_EQUAL(path(big, out, &rest), -1);	/* 257 */
}

void
test_lmtp_split(void)
{
	char local[LMTP_MAX_LOCAL + 1], domain[LMTP_MAX_PATH];

	CU_ASSERT_EQUAL(lmtp_split_addr("alice@example.org", local,
	    sizeof(local), domain, sizeof(domain)), 0);
	CU_ASSERT_STRING_EQUAL(local, "alice");
	CU_ASSERT_STRING_EQUAL(domain, "example.org");
	CU_ASSERT_EQUAL(lmtp_split_addr("postmaster", local, sizeof(local),
	    domain, sizeof(domain)), 0);
	CU_ASSERT_STRING_EQUAL(local, "postmaster");
	CU_ASSERT_STRING_EQUAL(domain, "");
	/* the last '@' outside quotes splits */
	CU_ASSERT_EQUAL(lmtp_split_addr("\"a@b\"@x", local, sizeof(local),
	    domain, sizeof(domain)), 0);
	CU_ASSERT_STRING_EQUAL(local, "\"a@b\"");
	CU_ASSERT_STRING_EQUAL(domain, "x");
	CU_ASSERT_EQUAL(lmtp_split_addr("@x", local, sizeof(local), domain,
	    sizeof(domain)), -1);
	CU_ASSERT_EQUAL(lmtp_split_addr("a@", local, sizeof(local), domain,
	    sizeof(domain)), -1);
	CU_ASSERT_EQUAL(lmtp_split_addr("", local, sizeof(local), domain,
	    sizeof(domain)), -1);

	char big[80];
	memset(big, 'a', 65);
	strcpy(big + 65, "@x");
	CU_ASSERT_EQUAL(lmtp_split_addr(big, local, sizeof(local), domain,
	    sizeof(domain)), -1);	/* 65-octet local part */
	big[64] = '@';
	big[65] = '\0';
	strcat(big, "x");
	CU_ASSERT_EQUAL(lmtp_split_addr(big, local, sizeof(local), domain,
	    sizeof(domain)), 0);
}

void
test_lmtp_mail_params(void)
{
	struct lmtp_mail_params mp;
	const char *why;

	CU_ASSERT_EQUAL(lmtp_mail_params("", &mp, &why), 0);
	CU_ASSERT_FALSE(mp.has_size);
	CU_ASSERT_EQUAL(lmtp_mail_params(" SIZE=1234 body=8bitmime", &mp,
	    &why), 0);
	CU_ASSERT_TRUE(mp.has_size);
	CU_ASSERT_EQUAL(mp.size, 1234);
	CU_ASSERT_TRUE(mp.body_8bit);
	CU_ASSERT_EQUAL(lmtp_mail_params(" BODY=7BIT", &mp, &why), 0);
	CU_ASSERT_FALSE(mp.body_8bit);
	CU_ASSERT_EQUAL(lmtp_mail_params(" SIZE=", &mp, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "501 5.5.4 Bad SIZE parameter");
	CU_ASSERT_EQUAL(lmtp_mail_params(" SIZE=1 SIZE=2", &mp, &why), -1);
	CU_ASSERT_EQUAL(lmtp_mail_params(" SIZE=99999999999999999999999", &mp,
	    &why), -1);
	CU_ASSERT_EQUAL(lmtp_mail_params(" BODY=BINARYMIME", &mp, &why), -1);
	CU_ASSERT_EQUAL(lmtp_mail_params(" SMTPUTF8", &mp, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "555 5.5.4 Unsupported MAIL FROM parameter");
	CU_ASSERT_EQUAL(lmtp_mail_params("SIZE=1", &mp, &why), -1);
	CU_ASSERT_EQUAL(lmtp_mail_params(" SIZEX=1", &mp, &why), -1);
}
