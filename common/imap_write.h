/*
 * imap_write.h - writing IMAP response syntax into a buffer.
 *
 * Each helper picks the smallest correct form: an atom where the grammar
 * allows one and the bytes are atom-safe, a quoted string when the bytes
 * are 7-bit, have no CR/LF/NUL and are short, else a literal {n}.
 * Buffers are the connection's output buffer; errors (ceiling reached)
 * are reported by the buffer's own return value where it matters and
 * otherwise caught by the caller checking the buffer once per response.
 */
#ifndef MK_IMAP_WRITE_H
#define MK_IMAP_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* astring: atom if possible (never the atom NIL), else string. */
void imapw_astring(struct buf *b, const char *s);
/* string: quoted or literal, never an atom. */
void imapw_string(struct buf *b, const char *s, size_t n);
void imapw_cstring(struct buf *b, const char *s);
/* nstring: NIL for s == NULL. */
void imapw_nstring(struct buf *b, const char *s, size_t n);
void imapw_literal(struct buf *b, const char *s, size_t n);
/* A mailbox name, quoted (or literal) always, as most servers do. */
void imapw_mailbox(struct buf *b, const char *name);
/* The same for a session that speaks UTF-8 names (RFC 6855, 9051):
 * quoted also when it holds UTF-8. */
void imapw_mailbox_utf8(struct buf *b, const char *name);
/* True if s can be sent as a quoted string. */
int  imapw_quotable(const char *s, size_t n);

#endif
