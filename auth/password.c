/*
 * password.c - hashing and verifying passwords with libxcrypt.
 *
 * Offers password_hash() (mailkeepctl, the master's dummy hash),
 * password_verify() (the hash workers) and password_hash_status()
 * (mailkeepctl flags hashes it would not create today).  See password.h.
 */
#include "auth/password.h"
#include "common/log.h"
#include "common/util.h"

#include <crypt.h>
#include <string.h>

/* yescrypt, libxcrypt's default and Debian's since bullseye. */
#define HASH_PREFIX "$y$"

int
password_hash(const char *pw, char *out, size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data data;
	int rc = -1;

	/* count 0 = the method's default cost; NULL rbytes = libxcrypt
	 * reads the salt from the kernel's random source itself. */
	if (crypt_gensalt_rn(HASH_PREFIX, 0, NULL, 0, salt, sizeof(salt)) == NULL) {
		log_warn("crypt_gensalt_rn");
		return -1;
	}
	memset(&data, 0, sizeof(data));
	if (crypt_rn(pw, salt, &data, sizeof(data)) == NULL ||
	    data.output[0] == '*')
		log_warn("crypt_rn");
	else if (strlen(data.output) >= outlen)
		log_warnx("hash does not fit in %zu bytes", outlen);
	else {
		memcpy(out, data.output, strlen(data.output) + 1);
		rc = 0;
	}
	explicit_bzero(&data, sizeof(data));
	return rc;
}

bool
password_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

bool
password_verify(const void *pw, size_t pwlen, const char *hash)
{
	struct crypt_data data;
	char *phrase;
	bool ok;

	/* A NUL inside the secret would make crypt see a shorter password. */
	if (memchr(pw, '\0', pwlen) != NULL)
		return false;
	/* crypt_checksalt also rejects "" and the "*"/"!" locked markers. */
	if (crypt_checksalt(hash) == CRYPT_SALT_INVALID)
		return false;
	phrase = xmalloc(pwlen + 1);
	memcpy(phrase, pw, pwlen);
	phrase[pwlen] = '\0';
	memset(&data, 0, sizeof(data));
	ok = crypt_rn(phrase, hash, &data, sizeof(data)) != NULL &&
	    data.output[0] != '*' && strlen(data.output) == strlen(hash) &&
	    password_ct_equal(data.output, hash, strlen(hash));
	explicit_bzero(&data, sizeof(data));
	freezero(phrase, pwlen + 1);
	return ok;
}

enum password_hash_status
password_hash_status(const char *hash)
{
	switch (crypt_checksalt(hash)) {
	case CRYPT_SALT_OK:
		return PW_HASH_OK;
	case CRYPT_SALT_METHOD_LEGACY:
		return PW_HASH_LEGACY;
	default:
		return PW_HASH_INVALID;
	}
}
