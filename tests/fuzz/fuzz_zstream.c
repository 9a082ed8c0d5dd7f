/*
 * fuzz_zstream.c - libFuzzer target for the COMPRESS=DEFLATE layer
 * (common/zstream.c) in both directions.
 *
 * The first byte is a seed.  Input: the rest is a client's plaintext,
 * compressed with zlib with flushes where the seed says, optionally with
 * one compressed byte flipped; it is fed in seed-sized reads through
 * zs_in_tail/zs_inflate into a bounded buffer that a consumer drains
 * unevenly, as the framer does.  Checks: the buffer never passes its
 * ceiling, inflated bytes never pass the budget by more than one step,
 * an intact stream comes out byte for byte, a failure has a reason.
 * Output: the same bytes go through zs_deflate in uneven pieces and must
 * decode byte for byte after the last flush.  A fuzzer mutating the
 * plaintext reaches the wrapper's paths that random "compressed" bytes
 * would not (zlib itself is not instrumented).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/buf.h"
#include "common/zstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PLAIN_MAX 4096
#define BUDGET    (256 * 1024)

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_zstream: invariant failed: %s\n", what);
		abort();
	}
}

/* The client's compressed stream of data, flushed every step bytes. */
static void
client_deflate(const uint8_t *data, size_t size, size_t step, struct buf *wire)
{
	z_stream s;
	unsigned char tmp[4096];

	memset(&s, 0, sizeof(s));
	check(deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK,
	    "deflateInit2");
	for (size_t off = 0; off < size || off == 0; off += step) {
		size_t n = size - off < step ? size - off : step;
		s.next_in = (Bytef *)(data + off);
		s.avail_in = (uInt)n;
		do {
			s.next_out = tmp;
			s.avail_out = sizeof(tmp);
			deflate(&s, Z_SYNC_FLUSH);
			buf_add(wire, tmp, sizeof(tmp) - s.avail_out);
		} while (s.avail_out == 0);
		if (size == 0)
			break;
	}
	deflateEnd(&s);
}

static void
fuzz_input(const uint8_t *data, size_t size, uint8_t seed)
{
	struct zstream *z = zs_new(6);
	struct buf wire, plain, got;
	size_t step = (size_t)(seed & 0x0f) * 97 + 1, rd = (seed >> 4) + 1;
	int corrupt = (seed & 0x80) && size > 0;
	ssize_t n = 0;

	check(z != NULL, "zs_new");
	buf_init(&wire, 0);
	buf_init(&plain, PLAIN_MAX);
	buf_init(&got, 0);
	client_deflate(data, size, step, &wire);
	if (corrupt && buf_len(&wire) > 0)
		buf_ptr(&wire)[data[0] % buf_len(&wire)] ^= (char)(seed | 1);
	zs_set_budget(z, BUDGET);
	while (n >= 0 && (buf_len(&wire) > 0 || zs_in_pending(z) ||
	    buf_len(&plain) > 0)) {
		size_t avail, take = 0;
		char *p = zs_in_tail(z, &avail);
		bool fed = p != NULL && buf_len(&wire) > 0;
		if (fed) {
			take = buf_len(&wire) < rd * 37 ? buf_len(&wire) : rd * 37;
			take = take < avail ? take : avail;
			memcpy(p, buf_ptr(&wire), take);
			zs_in_commit(z, take);
			buf_consume(&wire, take);
		}
		n = zs_inflate(z, &plain);
		check(buf_len(&plain) <= PLAIN_MAX, "plaintext within its ceiling");
		if (n < 0)
			check(strcmp(zs_error(z), "no error") != 0, "error has a reason");
		/* The consumer takes an uneven share, as the framer does. */
		take = buf_len(&plain) / (rd % 3 + 1) + 1;
		if (take > buf_len(&plain))
			take = buf_len(&plain);
		buf_add(&got, buf_ptr(&plain), take);
		buf_consume(&plain, take);
		if (n == 0 && take == 0 && !fed)
			break;	/* a broken stream that wants more input */
	}
	check(buf_len(&got) <= BUDGET + 64 * 1024, "budget held");
	if (!corrupt && size <= BUDGET) {
		check(n >= 0, "intact stream inflates");
		check(buf_len(&got) == size, "intact stream: every byte");
		check(size == 0 || memcmp(buf_ptr(&got), data, size) == 0,
		    "intact stream: the same bytes");
	}
	buf_free(&wire);
	buf_free(&plain);
	buf_free(&got);
	zs_free(z);
}

static void
fuzz_output(const uint8_t *data, size_t size, uint8_t seed)
{
	struct zstream *z = zs_new(seed % 10);
	struct buf plain, got;
	z_stream s;
	unsigned char tmp[8192];
	size_t off = 0, step = (size_t)seed * 13 + 1;

	check(z != NULL, "zs_new");
	memset(&s, 0, sizeof(s));
	check(inflateInit2(&s, -15) == Z_OK, "inflateInit2");
	buf_init(&plain, 0);
	buf_init(&got, 0);
	while (off < size || buf_len(&plain) > 0 || zs_out_pending(z)) {
		size_t n = size - off < step ? size - off : step;
		struct buf *w = zs_wire_out(z);
		buf_add(&plain, data + off, n);
		off += n;
		check(zs_deflate(z, &plain) == 0, "deflate");
		s.next_in = (Bytef *)buf_ptr(w);
		s.avail_in = (uInt)buf_len(w);
		do {
			s.next_out = tmp;
			s.avail_out = sizeof(tmp);
			int rc = inflate(&s, Z_SYNC_FLUSH);
			check(rc == Z_OK || rc == Z_BUF_ERROR, "our output inflates");
			buf_add(&got, tmp, sizeof(tmp) - s.avail_out);
		} while (s.avail_out == 0);
		buf_consume(w, buf_len(w));
	}
	check(buf_len(&got) == size, "output: every byte after the flush");
	check(size == 0 || memcmp(buf_ptr(&got), data, size) == 0,
	    "output: the same bytes");
	inflateEnd(&s);
	buf_free(&plain);
	buf_free(&got);
	zs_free(z);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	fuzz_input(data + 1, size - 1, data[0]);
	fuzz_output(data + 1, size - 1, data[0]);
	return 0;
}
