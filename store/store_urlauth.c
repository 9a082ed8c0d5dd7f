/*
 * store_urlauth.c - URLAUTH (RFC 4467): the mailbox access keys of a
 * user's store (schema 10) and the INTERNAL mechanism's tokens.
 *
 * url_keys(mailbox_id, key): one 32-byte key from gnutls_rnd() per
 * mailbox, made by the first GENURLAUTH that needs it.  RESETKEY of a
 * mailbox replaces it, RESETKEY alone deletes them all; either way
 * every URL made with the old key stops validating.  A key lives with
 * its mailbox's id: RENAME keeps it (the old URLs name the old name and
 * find nothing), DELETE or becoming \Noselect drops it (triggers), so a
 * mailbox made again under the name never validates an old URL.
 *
 * The token of a URL is "01" (this algorithm; a later one gets another
 * prefix) followed by the hex of HMAC-SHA256(key, rump URL), the rump
 * being the URL's exact bytes up to and including ";URLAUTH=<access>"
 * (RFC 4467 7: removing ":mech:token" is the only change a client may
 * make).  Everything the URL says - mailbox, UID, section, expiry,
 * access identifier - is under the HMAC.
 */
#include "store/store_int.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <strings.h>

#include "common/imap_url.h"
#include "common/log.h"
#include "common/util.h"

const char store_schema_v10[] =
	"CREATE TABLE url_keys ("
	"  mailbox_id INTEGER PRIMARY KEY,"
	"  key BLOB NOT NULL"
	");"
	"CREATE TRIGGER url_keys_mbox_gone AFTER DELETE ON mailboxes BEGIN"
	"  DELETE FROM url_keys WHERE mailbox_id = old.id;"
	"END;"
	"CREATE TRIGGER url_keys_mbox_noselect AFTER UPDATE OF flags"
	"  ON mailboxes WHEN (new.flags & 1) AND NOT (old.flags & 1) BEGIN"
	"  DELETE FROM url_keys WHERE mailbox_id = old.id;"
	"END;";

#define TOKEN_PREFIX "01"

static int
key_read(struct store *s, int64_t mbox_id, uint8_t key[STORE_URLKEY_LEN])
{
	sqlite3_stmt *st = db_stmt(&s->db,
	    "SELECT key FROM url_keys WHERE mailbox_id = ?1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == STORE_URLKEY_LEN) {
		memcpy(key, sqlite3_column_blob(st, 0), STORE_URLKEY_LEN);
		rc = 0;
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = MK_NOTFOUND;
	else
		rc = db_fail(&s->db, "url_keys");
	db_done(&s->db, st);
	return rc;
}

static int
key_write(struct store *s, int64_t mbox_id, uint8_t key[STORE_URLKEY_LEN])
{
	sqlite3_stmt *st;

	if (gnutls_rnd(GNUTLS_RND_KEY, key, STORE_URLKEY_LEN) != 0) {
		log_warnx("gnutls_rnd failed: no URLAUTH key made");
		return -1;
	}
	st = db_stmt(&s->db, "INSERT OR REPLACE INTO url_keys (mailbox_id, key)"
	    " VALUES (?1, ?2)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox_id);
	sqlite3_bind_blob(st, 2, key, STORE_URLKEY_LEN, SQLITE_STATIC);
	return db_run(&s->db, st, "url_keys");
}

int
store_urlkey_get(struct store *s, int64_t mbox_id, bool create,
    uint8_t key[STORE_URLKEY_LEN])
{
	enum db_txn t;
	int rc;

	if (!create)
		return key_read(s, mbox_id, key);
	if ((rc = db_txn_enter(&s->db, &t)) != 0)
		return rc;
	if ((rc = key_read(s, mbox_id, key)) == MK_NOTFOUND)
		rc = key_write(s, mbox_id, key);
	return db_txn_leave(&s->db, t, rc);
}

int
store_urlkey_reset(struct store *s, int64_t mbox_id)
{
	uint8_t key[STORE_URLKEY_LEN];
	enum db_txn t;
	sqlite3_stmt *st;
	int rc;

	if (mbox_id != 0) {
		if ((rc = db_txn_enter(&s->db, &t)) != 0)
			return rc;
		rc = key_write(s, mbox_id, key);
		explicit_bzero(key, sizeof(key));
		return db_txn_leave(&s->db, t, rc);
	}
	if ((st = db_stmt(&s->db, "DELETE FROM url_keys")) == NULL)
		return -1;
	return db_run(&s->db, st, "url_keys");
}

int
urlauth_token(const uint8_t key[STORE_URLKEY_LEN], const char *rump,
    size_t len, char out[URLAUTH_TOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t mac[32];

	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, STORE_URLKEY_LEN, rump,
	    len, mac) != 0)
		return -1;
	memcpy(out, TOKEN_PREFIX, 2);
	for (size_t i = 0; i < sizeof(mac); i++) {
		out[2 + 2 * i] = hex[mac[i] >> 4];
		out[3 + 2 * i] = hex[mac[i] & 15];
	}
	out[URLAUTH_TOKEN_LEN] = '\0';
	return 0;
}

/* Compares hex tokens, case-insensitively, in time that does not depend
 * on where they differ: a guesser learns nothing from the answer's
 * timing. */
static bool
token_eq(const char *a, const char *b)
{
	unsigned d = 0;
	size_t n = strlen(a);

	if (n != strlen(b))
		return false;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned)((a[i] | 0x20) ^ (b[i] | 0x20));
	return d == 0;
}

bool
urlauth_access_ok(const struct imap_url *u, const char *requester,
    bool submitter)
{
	switch (u->access) {
	case URL_ACCESS_ANONYMOUS:
		return true;
	case URL_ACCESS_AUTHUSER:
		return requester[0] != '\0';
	case URL_ACCESS_USER:
		return requester[0] != '\0' &&
		    strcasecmp(u->access_user, requester) == 0;
	case URL_ACCESS_SUBMIT:
		/* Only a message submission entity may use these, and it
		 * vouches for the user named (RFC 4467 3). */
		return requester[0] != '\0' && submitter;
	}
	return false;
}

enum urlauth_verdict
urlauth_verify(const struct imap_url *u, const uint8_t key[STORE_URLKEY_LEN],
    const char *requester, bool submitter, int64_t now)
{
	char want[URLAUTH_TOKEN_LEN + 1];
	bool ok;

	if (!u->urlauth || u->mech[0] == '\0')
		return URLAUTH_NOT_AUTHORIZED;
	if (strcasecmp(u->mech, "INTERNAL") != 0)
		return URLAUTH_BAD_MECH;
	if (urlauth_token(key, u->url, u->rump_len, want) != 0)
		return URLAUTH_BAD_TOKEN;
	ok = token_eq(want, u->token);
	explicit_bzero(want, sizeof(want));
	if (!ok)
		return URLAUTH_BAD_TOKEN;
	if (u->has_expire && now > u->expire)
		return URLAUTH_EXPIRED;
	if (!urlauth_access_ok(u, requester, submitter))
		return URLAUTH_BAD_ACCESS;
	return URLAUTH_OK;
}
