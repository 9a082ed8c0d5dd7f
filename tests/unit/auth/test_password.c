/*
 * test_password.c - auth/password.c: hashing, verifying, hash status.
 */
#include "auth/password.h"

#include <CUnit/CUnit.h>
#include <string.h>

void
test_hash_is_yescrypt_and_verifies(void)
{
	char h[PASSWORD_HASH_MAX];

	CU_ASSERT_EQUAL_FATAL(password_hash("correct horse", h, sizeof(h)), 0);
	CU_ASSERT_EQUAL(strncmp(h, "$y$", 3), 0);
	CU_ASSERT_TRUE(password_verify("correct horse", 13, h));
	CU_ASSERT_FALSE(password_verify("correct hors", 12, h));
	CU_ASSERT_FALSE(password_verify("correct horsf", 13, h));
	CU_ASSERT_FALSE(password_verify("", 0, h));
	CU_ASSERT_EQUAL(password_hash_status(h), PW_HASH_OK);
}

void
test_salts_differ(void)
{
	char a[PASSWORD_HASH_MAX], b[PASSWORD_HASH_MAX];

	CU_ASSERT_EQUAL_FATAL(password_hash("pw", a, sizeof(a)), 0);
	CU_ASSERT_EQUAL_FATAL(password_hash("pw", b, sizeof(b)), 0);
	CU_ASSERT_NOT_EQUAL(strcmp(a, b), 0);
	CU_ASSERT_TRUE(password_verify("pw", 2, a));
	CU_ASSERT_TRUE(password_verify("pw", 2, b));
}

void
test_secret_with_nul_never_matches(void)
{
	char h[PASSWORD_HASH_MAX];

	CU_ASSERT_EQUAL_FATAL(password_hash("ab", h, sizeof(h)), 0);
	/* "ab\0cd": crypt would see "ab" if the NUL were passed through. */
	CU_ASSERT_FALSE(password_verify("ab\0cd", 5, h));
	/* Not NUL-terminated input is fine: length is what counts. */
	CU_ASSERT_TRUE(password_verify("abX", 2, h));
}

void
test_unusable_hashes_never_match(void)
{
	CU_ASSERT_FALSE(password_verify("x", 1, ""));
	CU_ASSERT_FALSE(password_verify("x", 1, "!"));
	CU_ASSERT_FALSE(password_verify("x", 1, "*"));
	CU_ASSERT_FALSE(password_verify("x", 1, "$y$garbage"));
	CU_ASSERT_EQUAL(password_hash_status(""), PW_HASH_INVALID);
	CU_ASSERT_EQUAL(password_hash_status("!"), PW_HASH_INVALID);
}

void
test_legacy_hash_flagged_but_verifies(void)
{
	/* MD5-crypt of "password" with salt "saltsalt". */
	const char *md5 = "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/";

	CU_ASSERT_EQUAL(password_hash_status(md5), PW_HASH_LEGACY);
	CU_ASSERT_TRUE(password_verify("password", 8, md5));
	CU_ASSERT_FALSE(password_verify("Password", 8, md5));
}

void
test_ct_equal(void)
{
	CU_ASSERT_TRUE(password_ct_equal("abc", "abc", 3));
	CU_ASSERT_FALSE(password_ct_equal("abc", "abd", 3));
	CU_ASSERT_FALSE(password_ct_equal("xbc", "abc", 3));
	CU_ASSERT_TRUE(password_ct_equal("", "", 0));
}
