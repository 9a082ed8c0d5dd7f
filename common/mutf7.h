/*
 * mutf7.h - mailbox names between modified UTF-7 (RFC 3501 5.1.3), the
 * form the store keeps, and UTF-8, the form a session that enabled
 * UTF8=ACCEPT (RFC 6855) or IMAP4rev2 (RFC 9051) speaks.  The other
 * direction is imap_utf8_to_mutf7() in common/imap_url.h.
 */
#ifndef MK_MUTF7_H
#define MK_MUTF7_H

#include <stddef.h>
#include <stdint.h>

/* Modified UTF-7 (NUL-terminated) to UTF-8 in out; -1 if in is not
 * valid modified UTF-7 (bad base64, an unpaired surrogate, a run that
 * encodes printable ASCII, a bare 8-bit byte) or out is too small. */
int mutf7_to_utf8(const char *in, char *out, size_t outlen);

/* True if s (NUL-terminated) is well-formed UTF-8 without surrogates. */
int utf8_valid(const char *s);
/* One code point from UTF-8 at *p (advanced); -1 if malformed (*p is
 * then left alone).  Reads no further than a NUL. */
int32_t utf8_next(const unsigned char **p);

#endif
