/*
 * test_sasl.c - auth/sasl.c: RFC 4616 PLAIN messages and the LOGIN
 * "target*admin" split.
 */
#include "auth/login.h"

#include <CUnit/CUnit.h>
#include <string.h>

static int
decode(const char *b64, struct sasl_plain *sp, const char **err)
{
	return sasl_plain_decode(b64, strlen(b64), sp, err);
}

void
test_plain_without_authzid(void)
{
	struct sasl_plain sp;
	const char *err;

	/* "\0alice\0secret" */
	CU_ASSERT_EQUAL_FATAL(decode("AGFsaWNlAHNlY3JldA==", &sp, &err), 0);
	CU_ASSERT_STRING_EQUAL(sp.authzid, "");
	CU_ASSERT_STRING_EQUAL(sp.authcid, "alice");
	CU_ASSERT_EQUAL(sp.npasswd, 6);
	CU_ASSERT_EQUAL(memcmp(sp.passwd, "secret", 6), 0);
	sasl_plain_free(&sp);
	CU_ASSERT_PTR_NULL(sp.buf);
}

void
test_plain_with_authzid(void)
{
	struct sasl_plain sp;
	const char *err;

	/* "bob\0admin\0pw" */
	CU_ASSERT_EQUAL_FATAL(decode("Ym9iAGFkbWluAHB3", &sp, &err), 0);
	CU_ASSERT_STRING_EQUAL(sp.authzid, "bob");
	CU_ASSERT_STRING_EQUAL(sp.authcid, "admin");
	CU_ASSERT_EQUAL(sp.npasswd, 2);
	sasl_plain_free(&sp);
}

void
test_plain_malformed(void)
{
	struct sasl_plain sp;
	const char *err;

	/* not base64 */
	CU_ASSERT_EQUAL(decode("!!!!", &sp, &err), -1);
	CU_ASSERT_STRING_EQUAL(err, "Invalid base64 data");
	/* unpadded */
	CU_ASSERT_EQUAL(decode("AGFsaWNlAHNlY3JldA", &sp, &err), -1);
	/* empty ("=" initial response) */
	CU_ASSERT_EQUAL(sasl_plain_decode("", 0, &sp, &err), -1);
	/* "alice\0secret": one NUL only */
	CU_ASSERT_EQUAL(decode("YWxpY2UAc2VjcmV0", &sp, &err), -1);
	CU_ASSERT_STRING_EQUAL(err, "Malformed PLAIN message");
	/* "\0\0pw": empty authcid */
	CU_ASSERT_EQUAL(decode("AABwdw==", &sp, &err), -1);
	/* "\0alice\0": empty password */
	CU_ASSERT_EQUAL(decode("AGFsaWNlAA==", &sp, &err), -1);
	/* "\0a\0b\0c": a third NUL */
	CU_ASSERT_EQUAL(decode("AGEAYgBj", &sp, &err), -1);
}

void
test_split_login(void)
{
	char z[64], c[64];

	CU_ASSERT_TRUE(sasl_split_login("bob*admin", "*", z, sizeof(z), c,
	    sizeof(c)));
	CU_ASSERT_STRING_EQUAL(z, "bob");
	CU_ASSERT_STRING_EQUAL(c, "admin");
	CU_ASSERT_FALSE(sasl_split_login("bob", "*", z, sizeof(z), c, sizeof(c)));
	/* separator disabled */
	CU_ASSERT_FALSE(sasl_split_login("bob*admin", "", z, sizeof(z), c,
	    sizeof(c)));
	/* multi-byte separator */
	CU_ASSERT_TRUE(sasl_split_login("bob%%admin", "%%", z, sizeof(z), c,
	    sizeof(c)));
	CU_ASSERT_STRING_EQUAL(z, "bob");
	CU_ASSERT_STRING_EQUAL(c, "admin");
	/* too long for the output */
	CU_ASSERT_FALSE(sasl_split_login("bobbobbob*admin", "*", z, 4, c,
	    sizeof(c)));
}
