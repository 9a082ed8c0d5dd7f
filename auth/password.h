/*
 * password.h - password hashes as libxcrypt strings (yescrypt by default).
 *
 * mailkeepctl hashes new passwords with password_hash(); the hash workers
 * (auth/hashworker.c) verify with password_verify(); the master hashes one
 * random password at start-up so that unknown users cost the same time as
 * known ones.  Nothing here ever compares plaintext.
 */
#ifndef MK_PASSWORD_H
#define MK_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/* Large enough for any libxcrypt output (CRYPT_OUTPUT_SIZE). */
#define PASSWORD_HASH_MAX 384

enum password_hash_status {
	PW_HASH_OK,		/* a current method: fine to keep */
	PW_HASH_LEGACY,		/* verifies, but should be re-hashed (DES, MD5...) */
	PW_HASH_INVALID,	/* not a hash libxcrypt can verify */
};

/* Hashes pw with yescrypt ("$y$") at the default cost and a fresh salt.
 * 0, or -1 (logged) if libxcrypt refused. */
int  password_hash(const char *pw, char *out, size_t outlen);

/* True if the pwlen bytes at pw match hash.  The comparison of the computed hash with the
 * stored one takes the same time wherever they differ. */
bool password_verify(const void *pw, size_t pwlen, const char *hash);

enum password_hash_status password_hash_status(const char *hash);

/* Constant-time equality of two byte strings of the same length. */
bool password_ct_equal(const void *a, const void *b, size_t n);

#endif
