/*
 * corpus.h - reading the MIME corpus files (test_mime_corpus.c), shared
 * by the tests of unit-mime.
 */
#ifndef MK_TEST_CORPUS_H
#define MK_TEST_CORPUS_H
#include <stddef.h>
/* The file at path, NUL-terminated, *len bytes without the NUL (free()
 * it), or NULL. */
char *corpus_slurp(const char *path, size_t *len);
#endif
