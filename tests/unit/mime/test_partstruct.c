/*
 * test_partstruct.c - one part's BODYSTRUCTURE cut from the message's
 * (store/mime_partstruct.c, URLFETCH's BODYPARTSTRUCTURE): parts of a
 * multipart, of a message/rfc822 inside one, the message itself, parts
 * that do not exist, literals in the structure, and the structure of a
 * decoded part (RFC 5524 3.2).
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "store/mime.h"

static struct arena A;

int
test_partstruct_init(void)
{
	arena_init(&A, 0);
	return 0;
}

int
test_partstruct_cleanup(void)
{
	arena_free(&A);
	return 0;
}

static const char MSG[] =
    "From: a@example.org\r\n"
    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\none\r\n"
    "--b\r\nContent-Type: message/rfc822\r\n\r\n"
    "Subject: inner\r\n"
    "Content-Type: multipart/alternative; boundary=\"c\"\r\n\r\n"
    "--c\r\nContent-Type: text/x-myown; charset=us-ascii\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n"
    "--c\r\nContent-Type: image/png\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n"
    "--c--\r\n"
    "--b\r\nContent-Type: message/rfc822\r\n\r\n"
    "Subject: single\r\n\r\nplain body\r\n"
    "--b--\r\n";

/* The structure of path (as "1.2"), or "<nopart>". */
static const char *
part(const char *spec)
{
	static char out[2048];
	struct mime_result r;
	uint32_t path[8];
	size_t n = 0, len;
	const char *s;
	int rc;

	CU_ASSERT_EQUAL_FATAL(mime_analyze(&A, MSG, strlen(MSG), &r), 0);
	for (const char *p = spec; *p; ) {
		path[n++] = (uint32_t)strtoul(p, (char **)&p, 10);
		if (*p == '.')
			p++;
	}
	rc = mime_part_structure(r.bodystructure, r.bodystructure_len, path, n,
	    &s, &len);
	if (rc == MIME_NOPART)
		return "<nopart>";
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	snprintf(out, sizeof(out), "%.*s", (int)len, s);
	return out;
}

void
test_partstruct_parts(void)
{
	CU_ASSERT_STRING_EQUAL(part("1"), "(\"text\" \"plain\" "
	    "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL)");
	CU_ASSERT_STRING_EQUAL(part("2.1"), "(\"text\" \"x-myown\" "
	    "(\"charset\" \"us-ascii\") NIL NIL \"base64\" 10 1 NIL NIL NIL "
	    "NIL)");
	CU_ASSERT_EQUAL(strncmp(part("2.2"), "(\"image\" \"png\" NIL NIL NIL "
	    "\"base64\" 4 ", 37), 0);
	/* the message/rfc822 part itself, and its non-multipart body */
	CU_ASSERT_EQUAL(strncmp(part("2"), "(\"message\" \"rfc822\" ", 20), 0);
	CU_ASSERT_EQUAL(strncmp(part("3.1"), "(\"text\" \"plain\" ", 16), 0);
	/* the whole message */
	CU_ASSERT_EQUAL(strncmp(part(""), "((\"text\" \"plain\"", 16), 0);
	CU_ASSERT_STRING_EQUAL(part("4"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(part("1.1"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(part("2.3"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(part("3.2"), "<nopart>");
	CU_ASSERT_STRING_EQUAL(part("0"), "<nopart>");
}

void
test_partstruct_literals_and_damage(void)
{
	/* a parameter value that needed a literal holds "(" and ")" */
	static const char bs[] = "((\"text\" \"plain\" (\"name\" {2}\r\n()) "
	    "NIL NIL \"7bit\" 1 1 NIL NIL NIL NIL)(\"text\" \"html\" NIL NIL "
	    "NIL \"7bit\" 2 1 NIL NIL NIL NIL) \"mixed\" NIL NIL NIL NIL)";
	uint32_t two = 2;
	const char *s;
	size_t len;

	CU_ASSERT_EQUAL_FATAL(mime_part_structure(bs, strlen(bs), &two, 1, &s,
	    &len), 0);
	CU_ASSERT_EQUAL(len, strlen("(\"text\" \"html\" NIL NIL NIL \"7bit\" 2 "
	    "1 NIL NIL NIL NIL)"));
	CU_ASSERT_EQUAL(strncmp(s, "(\"text\" \"html\"", 14), 0);
	/* cut short before the part ends: an error, never a read past the
	 * end (the sanitizer build watches); after it, the same part */
	size_t end = (size_t)(s - bs) + len;
	for (size_t n = 0; n < strlen(bs); n++) {
		const char *s2;
		size_t len2;
		int rc = mime_part_structure(bs, n, &two, 1, &s2, &len2);
		if (n < end) {
			CU_ASSERT(rc != 0);
		} else {
			CU_ASSERT(rc == 0 && s2 == s && len2 == len);
		}
	}
}

void
test_partstruct_decoded(void)
{
	static const char leaf[] = "(\"text\" \"x-myown\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"base64\" 22 3 NIL NIL NIL NIL)";
	static const char img[] = "(\"image\" \"png\" NIL NIL NIL \"base64\" "
	    "8 NIL NIL NIL NIL)";
	const char *s;
	size_t len;

	CU_ASSERT_EQUAL_FATAL(mime_part_structure_decoded(&A, leaf,
	    strlen(leaf), "hello world", 11, &s, &len), 0);
	CU_ASSERT_EQUAL(len, strlen(s));
	CU_ASSERT_STRING_EQUAL(s, "(\"text\" \"x-myown\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 11 0 NIL NIL NIL NIL)");
	CU_ASSERT_EQUAL_FATAL(mime_part_structure_decoded(&A, img, strlen(img),
	    "\x89PNG\0\x01", 6, &s, &len), 0);
	CU_ASSERT_STRING_EQUAL(s, "(\"image\" \"png\" NIL NIL NIL \"binary\" 6 "
	    "NIL NIL NIL NIL)");
	CU_ASSERT_EQUAL_FATAL(mime_part_structure_decoded(&A, img, strlen(img),
	    "\xc3\xa9", 2, &s, &len), 0);
	CU_ASSERT_EQUAL(strncmp(s, "(\"image\" \"png\" NIL NIL NIL \"8bit\" 2 ",
	    36), 0);
}
