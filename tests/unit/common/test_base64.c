/*
 * test_base64.c - RFC 4648 vectors, strict refusals (SASL) and the
 * tolerant decoder (MIME bodies).
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"

static const char *
enc(const char *s, size_t n)
{
	static char out[256];
	struct buf b;

	buf_init(&b, 0);
	CU_ASSERT_EQUAL(base64_encode(s, n, &b), 0);
	snprintf(out, sizeof(out), "%.*s", (int)b.len, b.len ? buf_ptr(&b) : "");
	buf_free(&b);
	return out;
}

/* Decodes; "ERR" on -1. */
static const char *
dec(const char *s, bool strict)
{
	static char out[256];
	struct buf b;
	int r;

	buf_init(&b, 0);
	r = base64_decode(s, strlen(s), &b, strict);
	if (r == -1)
		snprintf(out, sizeof(out), "ERR");
	else
		snprintf(out, sizeof(out), "%.*s", (int)b.len,
		    b.len ? buf_ptr(&b) : "");
	buf_free(&b);
	return out;
}

void
test_base64_rfc4648_vectors(void)
{
	static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
	    "Zm9vYmE=", "Zm9vYmFy" };
	size_t i;

	for (i = 0; i < 7; i++) {
		CU_ASSERT_STRING_EQUAL(enc(plain[i], strlen(plain[i])), coded[i]);
		CU_ASSERT_STRING_EQUAL(dec(coded[i], true), plain[i]);
		CU_ASSERT_STRING_EQUAL(dec(coded[i], false), plain[i]);
	}
}

void
test_base64_binary_roundtrip(void)
{
	unsigned char all[256];
	struct buf e, d;
	int i;

	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	buf_init(&e, 0);
	buf_init(&d, 0);
	CU_ASSERT_EQUAL(base64_encode(all, sizeof(all), &e), 0);
	CU_ASSERT_EQUAL(e.len, 344);
	CU_ASSERT_EQUAL(base64_decode(buf_ptr(&e), e.len, &d, true), 0);
	CU_ASSERT_EQUAL(d.len, 256);
	CU_ASSERT_EQUAL(memcmp(buf_ptr(&d), all, 256), 0);
	buf_free(&e);
	buf_free(&d);
}

void
test_base64_sasl_plain(void)
{
	struct buf d;

	buf_init(&d, 0);
	CU_ASSERT_EQUAL(base64_decode("AGFsaWNlAHNlY3JldA==", 20, &d, true), 0);
	CU_ASSERT_EQUAL(d.len, 13);
	CU_ASSERT_EQUAL(memcmp(buf_ptr(&d), "\0alice\0secret", 13), 0);
	buf_free(&d);
}

void
test_base64_strict_refuses(void)
{
	static const char *bad[] = {
		"Zg", "Zg=", "Zm9", "Z===", "====", "Zg==Zg==", "Zm 9v", "Zm9v\r\n",
		"Zm9v!", "Zm=v", "=Zm9", "Zm9vY", "Zm9vYg=a",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (strcmp(dec(bad[i], true), "ERR") != 0)
			fprintf(stderr, "\n  strict accepted \"%s\"\n", bad[i]);
		CU_ASSERT_STRING_EQUAL(dec(bad[i], true), "ERR");
	}
}

void
test_base64_loose_tolerates(void)
{
	CU_ASSERT_STRING_EQUAL(dec("Zm9v\r\nYmFy\r\n", false), "foobar");
	CU_ASSERT_STRING_EQUAL(dec("  Zm 9v Ym Fy  ", false), "foobar");
	CU_ASSERT_STRING_EQUAL(dec("Zm9v!!YmFy", false), "foobar");
	/* Missing padding, and two encodings glued together. */
	CU_ASSERT_STRING_EQUAL(dec("Zm9vYg", false), "foob");
	CU_ASSERT_STRING_EQUAL(dec("Zg==Zm8=", false), "ffo");
	/* A lone trailing sextet carries no whole byte. */
	CU_ASSERT_STRING_EQUAL(dec("Zm9vY", false), "foo");
	CU_ASSERT_STRING_EQUAL(dec("", false), "");
}

void
test_base64_ceiling(void)
{
	struct buf b;

	buf_init(&b, 4);
	CU_ASSERT_EQUAL(base64_encode("foobar", 6, &b), -1);
	buf_free(&b);
	buf_init(&b, 2);
	CU_ASSERT_EQUAL(base64_decode("Zm9vYmFy", 8, &b, true), -1);
	buf_free(&b);
}
