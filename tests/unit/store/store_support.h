/*
 * store_support.h - helpers shared by the store unit tests: a private
 * temporary directory per test, a store opened in it, appending a
 * message in one call.  No test functions here.
 */
#ifndef MK_TEST_STORE_SUPPORT_H
#define MK_TEST_STORE_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* A fresh directory under $TMPDIR (or /tmp); ts_rmdir() removes it and
 * every file in it, and frees the name. */
char *ts_dir(void);
void  ts_rmdir(char *dir);
/* dir + "/" + file, in a static buffer (one at a time). */
const char *ts_path(const char *dir, const char *file);

/* Opens (creating) dir/store.db without fsync; NULL (and a CUnit
 * failure) on error. */
struct store *ts_open(const char *dir);

/* Appends msg with the given flags, keywords and internal date; returns
 * the UID, 0 on failure. */
uint32_t ts_append(struct store *s, struct mbox *m, const char *msg,
	unsigned flags, const char *keywords, int64_t t, int tz);

/* A small message whose Date: header says date (none if NULL). */
const char *ts_msg(const char *date, const char *subject);

/* A message of len bytes (len >= 32) that no compressor can shorten:
 * "Subject: noise", then one long line of bytes none of which is NUL,
 * CR or LF, ending in CRLF.  malloc'd, NUL-terminated. */
char *ts_noise_msg(size_t len);

#endif
