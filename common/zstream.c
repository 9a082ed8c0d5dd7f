/*
 * zstream.c - raw DEFLATE in both directions of a connection, for IMAP
 * COMPRESS (RFC 4978); see zstream.h.
 */
#include "common/zstream.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Plaintext handed to one deflate() call, and the wire room it gets:
 * enough that a sync flush (at most 5 bytes past the data) completes. */
#define DEFLATE_CHUNK (32 * 1024)
#define DEFLATE_ROOM  (DEFLATE_CHUNK + 1024)
#define INFLATE_CHUNK (16 * 1024)

struct zstream {
	z_stream   def, inf;
	bool       def_ok, inf_ok;	/* initialized, so to be ended */
	struct buf out;			/* compressed, to send */
	struct buf in;			/* received, not inflated yet */
	bool       flush_due;		/* a sync flush did not fit: again */
	bool       inf_full;		/* inflate filled its room: may have more */
	bool       ended;		/* the peer finished its stream */
	uint64_t   budget, run;		/* inflated since zs_progress() */
	char       err[128];
};

struct zstream *
zs_new(int level)
{
	struct zstream *z = xcalloc(1, sizeof(*z));

	/* Raw deflate (negative windowBits): RFC 4978 has no zlib header
	 * or checksum.  The full 32 KiB window both ways: the peer may use
	 * it, and ours compresses better for the same CPU. */
	z->def_ok = deflateInit2(&z->def, level, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY) == Z_OK;
	z->inf_ok = inflateInit2(&z->inf, -15) == Z_OK;
	buf_init(&z->out, 0);
	buf_init(&z->in, ZS_WIRE_IN_MAX);
	if (!z->def_ok || !z->inf_ok) {
		zs_free(z);
		return NULL;
	}
	return z;
}

void
zs_free(struct zstream *z)
{
	if (z == NULL)
		return;
	if (z->def_ok)
		deflateEnd(&z->def);
	if (z->inf_ok)
		inflateEnd(&z->inf);
	buf_free(&z->out);
	buf_free(&z->in);
	free(z);
}

/* ---- output ---- */

/* One deflate() call on at most DEFLATE_CHUNK bytes of plain: -1 on a
 * zlib error, 0 if it could make no progress, 1 if it did. */
static int
deflate_step(struct zstream *z, struct buf *plain)
{
	size_t n = MK_MIN(buf_len(plain), (size_t)DEFLATE_CHUNK), room;
	/* Flush once the caller has nothing more to say: the end of a
	 * burst of responses, which the client must see whole. */
	int flush = n == buf_len(plain) || z->flush_due ? Z_SYNC_FLUSH :
	    Z_NO_FLUSH;
	char *p;
	int rc;

	if ((p = buf_tail(&z->out, DEFLATE_ROOM, &room)) == NULL)
		return -1;
	z->def.next_in = (Bytef *)(n > 0 ? buf_ptr(plain) : "");
	z->def.avail_in = (uInt)n;
	z->def.next_out = (Bytef *)p;
	z->def.avail_out = (uInt)room;
	rc = deflate(&z->def, flush);
	if (rc != Z_OK && rc != Z_BUF_ERROR)
		return -1;
	buf_consume(plain, n - z->def.avail_in);
	buf_commit(&z->out, room - z->def.avail_out);
	z->flush_due = flush == Z_SYNC_FLUSH &&
	    (z->def.avail_out == 0 || z->def.avail_in > 0);
	return rc == Z_BUF_ERROR ? 0 : 1;
}

int
zs_deflate(struct zstream *z, struct buf *plain)
{
	while (buf_len(&z->out) < ZS_WIRE_HIGH &&
	    (buf_len(plain) > 0 || z->flush_due)) {
		int r = deflate_step(z, plain);
		if (r == -1) {
			snprintf(z->err, sizeof(z->err), "compression failed");
			return -1;
		}
		if (r == 0)
			break;
	}
	return 0;
}

bool
zs_out_pending(const struct zstream *z)
{
	return buf_len(&z->out) > 0 || z->flush_due;
}

struct buf *
zs_wire_out(struct zstream *z)
{
	return &z->out;
}

int
zs_out_raw(struct zstream *z, const void *p, size_t n)
{
	return buf_add(&z->out, p, n);
}

/* ---- input ---- */

char *
zs_in_tail(struct zstream *z, size_t *avail)
{
	char *p = buf_tail(&z->in, ZS_WIRE_IN_MAX, avail);

	return *avail > 0 ? p : NULL;
}

void
zs_in_commit(struct zstream *z, size_t n)
{
	buf_commit(&z->in, n);
}

static ssize_t
inflate_fail(struct zstream *z, const char *what)
{
	snprintf(z->err, sizeof(z->err), "%s", what);
	return -1;
}

/* One inflate() call into plain's room: bytes produced, or -1. */
static ssize_t
inflate_step(struct zstream *z, struct buf *plain, bool *stuck)
{
	size_t have = buf_len(&z->in), room;
	char *p = buf_tail(plain, INFLATE_CHUNK, &room);
	int rc;

	*stuck = p == NULL || room == 0;
	if (*stuck)
		return 0;
	z->inf.next_in = (Bytef *)(have > 0 ? buf_ptr(&z->in) : "");
	z->inf.avail_in = (uInt)have;
	z->inf.next_out = (Bytef *)p;
	z->inf.avail_out = (uInt)room;
	rc = inflate(&z->inf, Z_SYNC_FLUSH);
	buf_consume(&z->in, have - z->inf.avail_in);
	buf_commit(plain, room - z->inf.avail_out);
	z->inf_full = z->inf.avail_out == 0;
	if (rc == Z_STREAM_END)
		z->ended = true;
	else if (rc == Z_BUF_ERROR)
		*stuck = true;	/* needs more input */
	else if (rc != Z_OK) {
		char why[96];
		snprintf(why, sizeof(why), "invalid compressed data (%s)",
		    z->inf.msg != NULL ? z->inf.msg : "zlib error");
		return inflate_fail(z, why);
	}
	return (ssize_t)(room - z->inf.avail_out);
}

ssize_t
zs_inflate(struct zstream *z, struct buf *plain)
{
	ssize_t total = 0;
	bool stuck = false;

	while (!stuck && (buf_len(&z->in) > 0 || z->inf_full)) {
		ssize_t n;
		if (z->ended) {
			if (buf_len(&z->in) > 0)
				return inflate_fail(z, "data after the end of "
				    "the compressed stream");
			break;
		}
		if ((n = inflate_step(z, plain, &stuck)) == -1)
			return -1;
		total += n;
		z->run += (uint64_t)n;
		if (z->budget > 0 && z->run > z->budget)
			return inflate_fail(z, "compressed input expands "
			    "beyond any command's size limit");
	}
	return total;
}

bool
zs_in_pending(const struct zstream *z)
{
	return buf_len(&z->in) > 0 || z->inf_full;
}

void
zs_set_budget(struct zstream *z, uint64_t budget)
{
	z->budget = budget;
}

void
zs_progress(struct zstream *z)
{
	z->run = 0;
}

const char *
zs_error(const struct zstream *z)
{
	return z->err[0] != '\0' ? z->err : "no error";
}
