/*
 * casemap.h - the i;unicode-casemap collation (RFC 5051), for the sort
 * keys of SORT and THREAD (store_sort.c, mime_sortkey.c).
 */
#ifndef MK_CASEMAP_H
#define MK_CASEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Appends the canonical form of the UTF-8 string s[0..n) to out (a
 * buffer without ceiling); strings collate as the memcmp order of their
 * canonical forms, and are equal when the forms are. */
void casemap_utf8(struct buf *out, const char *s, size_t n);

#endif
