/*
 * zstream.h - the DEFLATE layer of IMAP COMPRESS (RFC 4978): raw deflate
 * (RFC 1951, zlib windowBits -15) in both directions of one connection.
 *
 * The layer sits between a connection's plaintext buffers and its
 * socket.  Output: zs_deflate() takes plaintext from the caller's
 * buffer into the wire buffer (zs_wire_out), never letting that grow
 * past ZS_WIRE_HIGH, so the caller's own buffer keeps the backlog and
 * its flow control works as without compression; when the caller's
 * buffer runs empty, the stream is flushed (Z_SYNC_FLUSH), so that the
 * peer can decode every complete response it was sent.  Input: the
 * caller reads the socket into zs_in_tail(); zs_inflate() decodes into
 * the caller's (bounded) plaintext buffer, never more than fits.
 *
 * A decompression bomb cannot grow memory: nothing is inflated that the
 * plaintext buffer cannot hold, and the compressed bytes wait in a
 * buffer of ZS_WIRE_IN_MAX.  It cannot make the process work without
 * bound either: the caller sets a budget (zs_set_budget) of plaintext
 * bytes that may be inflated between two signs of progress
 * (zs_progress, e.g. a complete command); beyond it zs_inflate fails.
 * Used by the mailbox process (daemon/mailbox/client.c), one zstream per
 * session.
 */
#ifndef MK_ZSTREAM_H
#define MK_ZSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "common/buf.h"

/* Compressed output held at most (plus one deflate call's worth). */
#define ZS_WIRE_HIGH   (64 * 1024)
/* Compressed input read ahead of the inflater. */
#define ZS_WIRE_IN_MAX (16 * 1024)

struct zstream;

/* A new stream, or NULL (zlib could not allocate). */
struct zstream *zs_new(int level);
void zs_free(struct zstream *z);

/* ---- output ---- */

/* Compresses from plain (consumed) into the wire buffer while it is
 * below ZS_WIRE_HIGH; flushes when plain is empty.  -1 on a zlib error. */
int  zs_deflate(struct zstream *z, struct buf *plain);
/* Bytes that must reach the peer before it is up to date: the wire
 * buffer, or a flush still owed. */
bool zs_out_pending(const struct zstream *z);
/* The wire buffer: send from it, then buf_consume() what was sent. */
struct buf *zs_wire_out(struct zstream *z);
/* Bytes that go out as they are, ahead of anything compressed (what
 * was written before compression started). */
int  zs_out_raw(struct zstream *z, const void *p, size_t n);

/* ---- input ---- */

/* Room to read compressed bytes into (NULL when full); zs_in_commit(n)
 * after reading n. */
char *zs_in_tail(struct zstream *z, size_t *avail);
void  zs_in_commit(struct zstream *z, size_t n);
/* Inflates into plain as far as it has room (plain's own ceiling).
 * Returns the bytes added (0: nothing to do, or no room), or -1 with
 * zs_error() saying why: corrupt data, data after the stream's end, or
 * the budget exceeded. */
ssize_t zs_inflate(struct zstream *z, struct buf *plain);
/* Could zs_inflate produce more without reading the socket? */
bool zs_in_pending(const struct zstream *z);
/* Plaintext that may be inflated between two zs_progress() calls
 * (0 = no limit). */
void zs_set_budget(struct zstream *z, uint64_t budget);
void zs_progress(struct zstream *z);
const char *zs_error(const struct zstream *z);

#endif
