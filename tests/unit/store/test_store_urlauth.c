/*
 * test_store_urlauth.c - URLAUTH's mailbox access keys (schema 10) on
 * real SQLite files and the INTERNAL mechanism's tokens
 * (store/store_urlauth.c): a token made with a key verifies, and fails
 * once tampered with, after RESETKEY (one mailbox or all), after its
 * EXPIRE, for a user its access identifier excludes, with another
 * mechanism, or when the mailbox was deleted and made again.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "common/imap_url.h"
#include "store/store.h"
#include "tests/unit/store/store_support.h"

#define NOW 1796292000	/* 2026-12-03T10:00:00Z */

/* rump + ":INTERNAL:" + its token with key, parsed into u (static). */
static const char *
authorize(const uint8_t key[STORE_URLKEY_LEN], const char *rump,
    struct imap_url *u)
{
	static char url[1024];
	char tok[URLAUTH_TOKEN_LEN + 1];
	const char *err;

	CU_ASSERT_EQUAL_FATAL(urlauth_token(key, rump, strlen(rump), tok), 0);
	CU_ASSERT_EQUAL(strlen(tok), URLAUTH_TOKEN_LEN);
	CU_ASSERT_EQUAL(strncmp(tok, "01", 2), 0);
	snprintf(url, sizeof(url), "%s:INTERNAL:%s", rump, tok);
	CU_ASSERT_EQUAL_FATAL(imap_url_parse(url, u, &err), 0);
	return url;
}

static int64_t
mbox_id(struct store *s, const char *name)
{
	struct mbox m;

	CU_ASSERT_EQUAL_FATAL(store_mbox_find(s, name, &m), 0);
	return m.id;
}

void
test_urlauth_key_lifecycle(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	uint8_t k1[STORE_URLKEY_LEN], k2[STORE_URLKEY_LEN], k3[STORE_URLKEY_LEN];
	int64_t in;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	in = mbox_id(s, "INBOX");
	/* none until asked for with create */
	CU_ASSERT_EQUAL(store_urlkey_get(s, in, false, k1), MK_NOTFOUND);
	CU_ASSERT_EQUAL(store_urlkey_get(s, in, true, k1), 0);
	CU_ASSERT_EQUAL(store_urlkey_get(s, in, false, k2), 0);
	CU_ASSERT_EQUAL(memcmp(k1, k2, sizeof(k1)), 0);
	/* RESETKEY of the mailbox: a new key */
	CU_ASSERT_EQUAL(store_urlkey_reset(s, in), 0);
	CU_ASSERT_EQUAL(store_urlkey_get(s, in, false, k2), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(k1, k2, sizeof(k1)), 0);
	/* RESETKEY alone: no key left */
	CU_ASSERT_EQUAL(store_mbox_create(s, "Work", 0, NULL), 0);
	CU_ASSERT_EQUAL(store_urlkey_get(s, mbox_id(s, "Work"), true, k3), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(k2, k3, sizeof(k2)), 0);
	CU_ASSERT_EQUAL(store_urlkey_reset(s, 0), 0);
	CU_ASSERT_EQUAL(store_urlkey_get(s, in, false, k1), MK_NOTFOUND);
	CU_ASSERT_EQUAL(store_urlkey_get(s, mbox_id(s, "Work"), false, k1),
	    MK_NOTFOUND);
	store_close(s);
	ts_rmdir(dir);
}

void
test_urlauth_key_goes_with_mailbox(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	uint8_t key[STORE_URLKEY_LEN];
	int64_t id;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_mbox_create(s, "Box", 0, NULL), 0);
	id = mbox_id(s, "Box");
	CU_ASSERT_EQUAL(store_urlkey_get(s, id, true, key), 0);
	CU_ASSERT_EQUAL(store_mbox_delete(s, "Box"), 0);
	CU_ASSERT_EQUAL(store_urlkey_get(s, id, false, key), MK_NOTFOUND);
	/* a parent that becomes \Noselect loses its key too */
	CU_ASSERT_EQUAL(store_mbox_create(s, "P/child", 0, NULL), 0);
	id = mbox_id(s, "P");
	CU_ASSERT_EQUAL(store_urlkey_get(s, id, true, key), 0);
	CU_ASSERT_EQUAL(store_mbox_delete(s, "P"), 0);
	CU_ASSERT_EQUAL(store_urlkey_get(s, id, false, key), MK_NOTFOUND);
	store_close(s);
	ts_rmdir(dir);
}

void
test_urlauth_verify(void)
{
	char *dir = ts_dir();
	struct store *s = ts_open(dir);
	uint8_t key[STORE_URLKEY_LEN], other[STORE_URLKEY_LEN];
	struct imap_url u;
	const char *url, *err;
	char bad[1024];
	int64_t in;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	in = mbox_id(s, "INBOX");
	CU_ASSERT_EQUAL_FATAL(store_urlkey_get(s, in, true, key), 0);
	url = authorize(key, "imap://joe@h/INBOX/;UID=1;URLAUTH=user+fred", &u);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "fred", false, NOW),
	    URLAUTH_OK);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "FRED", false, NOW),
	    URLAUTH_OK);
	/* the wrong user, or none */
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "joe", false, NOW),
	    URLAUTH_BAD_ACCESS);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "", false, NOW),
	    URLAUTH_BAD_ACCESS);
	/* a token in upper case is the same token */
	snprintf(bad, sizeof(bad), "%s", url);
	for (char *p = strstr(bad, ":INTERNAL:") + 10; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	CU_ASSERT_EQUAL_FATAL(imap_url_parse(bad, &u, &err), 0);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "fred", false, NOW),
	    URLAUTH_OK);
	/* tampered: the token, then the URL under it (another UID) */
	snprintf(bad, sizeof(bad), "%s", url);
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
	CU_ASSERT_EQUAL_FATAL(imap_url_parse(bad, &u, &err), 0);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "fred", false, NOW),
	    URLAUTH_BAD_TOKEN);
	snprintf(bad, sizeof(bad), "%s", url);
	*strstr(bad, "UID=1") = 'u';	/* the case of a key is no change */
	CU_ASSERT_EQUAL_FATAL(imap_url_parse(bad, &u, &err), 0);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "fred", false, NOW),
	    URLAUTH_BAD_TOKEN);
	snprintf(bad, sizeof(bad), "%s", url);
	strstr(bad, "UID=1")[4] = '2';
	CU_ASSERT_EQUAL_FATAL(imap_url_parse(bad, &u, &err), 0);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "fred", false, NOW),
	    URLAUTH_BAD_TOKEN);
	/* another access identifier with the same token */
	snprintf(bad, sizeof(bad), "imap://joe@h/INBOX/;UID=1;URLAUTH=user+"
	    "eve%s", strchr(strstr(url, "user+"), ':'));
	CU_ASSERT_EQUAL_FATAL(imap_url_parse(bad, &u, &err), 0);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "eve", false, NOW),
	    URLAUTH_BAD_TOKEN);
	/* another mechanism, and a rump */
	snprintf(bad, sizeof(bad), "imap://joe@h/INBOX/;UID=1;URLAUTH=user+"
	    "fred:XSAMPLE%s", strstr(url, ":INTERNAL:") + 9);
	CU_ASSERT_EQUAL_FATAL(imap_url_parse(bad, &u, &err), 0);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "fred", false, NOW),
	    URLAUTH_BAD_MECH);
	CU_ASSERT_EQUAL_FATAL(imap_url_parse("imap://joe@h/INBOX/;UID=1;"
	    "URLAUTH=anonymous", &u, &err), 0);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "fred", false, NOW),
	    URLAUTH_NOT_AUTHORIZED);
	/* after RESETKEY the old URL fails; one made anew works */
	CU_ASSERT_EQUAL_FATAL(imap_url_parse(url, &u, &err), 0);
	CU_ASSERT_EQUAL(store_urlkey_reset(s, in), 0);
	CU_ASSERT_EQUAL_FATAL(store_urlkey_get(s, in, false, other), 0);
	CU_ASSERT_EQUAL(urlauth_verify(&u, other, "fred", false, NOW),
	    URLAUTH_BAD_TOKEN);
	authorize(other, "imap://joe@h/INBOX/;UID=1;URLAUTH=user+fred", &u);
	CU_ASSERT_EQUAL(urlauth_verify(&u, other, "fred", false, NOW),
	    URLAUTH_OK);
	store_close(s);
	ts_rmdir(dir);
}

void
test_urlauth_access_and_expiry(void)
{
	uint8_t key[STORE_URLKEY_LEN];
	struct imap_url u;

	memset(key, 7, sizeof(key));
	authorize(key, "imap://joe@h/INBOX/;UID=1;EXPIRE=2026-12-03T10:00:00Z"
	    ";URLAUTH=authuser", &u);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "any", false, NOW), URLAUTH_OK);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "any", false, NOW + 1),
	    URLAUTH_EXPIRED);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "", false, NOW),
	    URLAUTH_BAD_ACCESS);
	authorize(key, "imap://joe@h/INBOX/;UID=1;URLAUTH=anonymous", &u);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "", false, NOW), URLAUTH_OK);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "any", false, NOW), URLAUTH_OK);
	/* submit+: a submission entity only, whoever the URL names */
	authorize(key, "imap://joe@h/INBOX/;UID=1;URLAUTH=submit+joe", &u);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "joe", false, NOW),
	    URLAUTH_BAD_ACCESS);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "smtp", true, NOW), URLAUTH_OK);
	CU_ASSERT_EQUAL(urlauth_verify(&u, key, "", true, NOW),
	    URLAUTH_BAD_ACCESS);
	/* tokens differ per key */
	const char *a = authorize(key, "imap://joe@h/INBOX/;UID=1;URLAUTH="
	    "anonymous", &u);
	char first[1024];
	snprintf(first, sizeof(first), "%s", a);
	key[0] ^= 1;
	CU_ASSERT_STRING_NOT_EQUAL(authorize(key, "imap://joe@h/INBOX/;UID=1;"
	    "URLAUTH=anonymous", &u), first);
}
