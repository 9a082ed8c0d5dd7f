/*
 * base64.h - RFC 4648 base64, for SASL (strict) and MIME (tolerant).
 *
 * auth/ uses the strict decoder on AUTHENTICATE responses and initial
 * responses, where anything but canonical base64 is a protocol error;
 * the MIME parser in store/ uses the tolerant one on message bodies,
 * which are wrapped into lines and sometimes carry junk.
 */
#ifndef MK_BASE64_H
#define MK_BASE64_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* Appends the encoding of p[0..n) (padded, no line breaks) to out.
 * 0, or -1 if out's ceiling was reached. */
int base64_encode(const void *p, size_t n, struct buf *out);
/* The sextet of one base64 character, or -1 (also used by store/mime). */
int base64_value(unsigned char c);

/* Appends the decoding of s[0..n) to out.  strict: only the alphabet,
 * length a multiple of 4, '=' only as final padding; anything else is
 * -1.  Not strict: whitespace and stray characters are skipped, and '='
 * ends a quantum (so concatenated encodings decode as each would).
 * -1 also if out's ceiling was reached. */
int base64_decode(const char *s, size_t n, struct buf *out, bool strict);

#endif
