/*
 * test_zstream.c - the COMPRESS=DEFLATE layer (common/zstream.c) against
 * zlib as the peer: every burst decodes whole after its flush, output
 * and input stay within their bounds, a decompression bomb stops at the
 * budget, corrupt data and data after the stream's end are refused.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/buf.h"
#include "common/zstream.h"

/* The peer's side of the wire: plain zlib, raw deflate. */
struct peer {
	z_stream def, inf;
};

static void
peer_init(struct peer *p)
{
	memset(p, 0, sizeof(*p));
	CU_ASSERT_EQUAL_FATAL(deflateInit2(&p->def, 6, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	CU_ASSERT_EQUAL_FATAL(inflateInit2(&p->inf, -15), Z_OK);
}

static void
peer_end(struct peer *p)
{
	deflateEnd(&p->def);
	inflateEnd(&p->inf);
}

/* Inflates everything in wire (consumed) onto out. */
static void
peer_inflate(struct peer *p, struct buf *wire, struct buf *out)
{
	char tmp[65536];

	p->inf.next_in = (Bytef *)buf_ptr(wire);
	p->inf.avail_in = (uInt)buf_len(wire);
	do {
		p->inf.next_out = (Bytef *)tmp;
		p->inf.avail_out = sizeof(tmp);
		int rc = inflate(&p->inf, Z_SYNC_FLUSH);
		CU_ASSERT(rc == Z_OK || rc == Z_BUF_ERROR);
		buf_add(out, tmp, sizeof(tmp) - p->inf.avail_out);
	} while (p->inf.avail_out == 0);
	CU_ASSERT_EQUAL(p->inf.avail_in, 0);
	buf_consume(wire, buf_len(wire));
}

/* Compresses n bytes of s with flush onto wire. */
static void
peer_deflate(struct peer *p, const void *s, size_t n, int flush,
    struct buf *wire)
{
	char tmp[65536];

	p->def.next_in = (Bytef *)s;
	p->def.avail_in = (uInt)n;
	do {
		p->def.next_out = (Bytef *)tmp;
		p->def.avail_out = sizeof(tmp);
		CU_ASSERT(deflate(&p->def, flush) != Z_STREAM_ERROR);
		buf_add(wire, tmp, sizeof(tmp) - p->def.avail_out);
	} while (p->def.avail_out == 0);
}

/* Moves as much of wire into z's input as it takes. */
static size_t
feed(struct zstream *z, struct buf *wire)
{
	size_t avail, n;
	char *p = zs_in_tail(z, &avail);

	if (p == NULL)
		return 0;
	n = buf_len(wire) < avail ? buf_len(wire) : avail;
	memcpy(p, buf_ptr(wire), n);
	zs_in_commit(z, n);
	buf_consume(wire, n);
	return n;
}

static void
fill_text(struct buf *b, size_t n, unsigned seed)
{
	static const char *const words[] = { "* ", "FETCH ", "(FLAGS ",
	    "(\\Seen)) ", "UID ", "Subject: ", "hello ", "\r\n", "BODY[] " };

	srand(seed);
	while (buf_len(b) < n)
		buf_adds(b, words[rand() % 9]);
}

/* What every test needs: our stream, the peer, and three buffers (the
 * clear text on our side, the wire, what the peer or consumer got). */
struct fx {
	struct zstream *z;
	struct peer     p;
	struct buf      plain, wire, got;
};

static void
fx_init(struct fx *f, size_t plain_max)
{
	f->z = zs_new(6);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->z);
	peer_init(&f->p);
	buf_init(&f->plain, plain_max);
	buf_init(&f->wire, 0);
	buf_init(&f->got, 0);
}

static void
fx_free(struct fx *f)
{
	buf_free(&f->plain);
	buf_free(&f->wire);
	buf_free(&f->got);
	peer_end(&f->p);
	zs_free(f->z);
}

void
test_zstream_bursts_decode_whole(void)
{
	struct fx f;

	fx_init(&f, 0);
	/* Each burst, once handed over, is all the peer can decode: the
	 * flush at the end of a burst leaves nothing inside the deflater. */
	for (int i = 0; i < 20; i++) {
		char line[64];
		int n = snprintf(line, sizeof(line), "* %d EXISTS\r\na%d OK done\r\n",
		    i, i);
		buf_add(&f.plain, line, (size_t)n);
		CU_ASSERT_EQUAL(zs_deflate(f.z, &f.plain), 0);
		CU_ASSERT_EQUAL(buf_len(&f.plain), 0);
		peer_inflate(&f.p, zs_wire_out(f.z), &f.got);
		CU_ASSERT_FALSE(zs_out_pending(f.z));
		CU_ASSERT_EQUAL(buf_len(&f.got), (size_t)n);
		CU_ASSERT(memcmp(buf_ptr(&f.got), line, (size_t)n) == 0);
		buf_reset(&f.got);
	}
	fx_free(&f);
}

void
test_zstream_raw_bytes_go_first(void)
{
	struct fx f;
	struct buf *w;

	fx_init(&f, 0);
	w = zs_wire_out(f.z);
	CU_ASSERT_EQUAL(zs_out_raw(f.z, "c OK DEFLATE active\r\n", 21), 0);
	buf_adds(&f.plain, "* OK compressed\r\n");
	zs_deflate(f.z, &f.plain);
	CU_ASSERT_FATAL(buf_len(w) > 21);
	CU_ASSERT(memcmp(buf_ptr(w), "c OK DEFLATE active\r\n", 21) == 0);
	buf_consume(w, 21);
	peer_inflate(&f.p, w, &f.got);
	CU_ASSERT_EQUAL(buf_len(&f.got), 17);
	CU_ASSERT(memcmp(buf_ptr(&f.got), "* OK compressed\r\n", 17) == 0);
	fx_free(&f);
}

/* A large response: the wire buffer stays bounded and the rest waits in
 * the caller's buffer; drained piece by piece, it arrives intact. */
void
test_zstream_output_bounded(void)
{
	struct fx f;
	size_t total = 4 * 1024 * 1024;
	unsigned char *noise = malloc(total);

	fx_init(&f, 0);
	srand(7);
	for (size_t i = 0; i < total; i++)	/* incompressible */
		noise[i] = (unsigned char)rand();
	buf_add(&f.plain, noise, total);
	while (buf_len(&f.plain) > 0 || zs_out_pending(f.z)) {
		CU_ASSERT_EQUAL_FATAL(zs_deflate(f.z, &f.plain), 0);
		CU_ASSERT(buf_len(zs_wire_out(f.z)) <= ZS_WIRE_HIGH + 40 * 1024);
		peer_inflate(&f.p, zs_wire_out(f.z), &f.got);
	}
	CU_ASSERT_EQUAL_FATAL(buf_len(&f.got), total);
	CU_ASSERT(memcmp(buf_ptr(&f.got), noise, total) == 0);
	free(noise);
	fx_free(&f);
}

/* Input: 20 MB of commands inflate only as far as the caller's bounded
 * buffer has room, and all of it arrives once the caller reads. */
void
test_zstream_input_bounded(void)
{
	struct fx f;
	struct buf text;

	fx_init(&f, 64 * 1024);
	buf_init(&text, 0);
	fill_text(&text, 20 * 1024 * 1024, 3);
	peer_deflate(&f.p, buf_ptr(&text), buf_len(&text), Z_SYNC_FLUSH,
	    &f.wire);
	while (buf_len(&f.wire) > 0 || zs_in_pending(f.z)) {
		feed(f.z, &f.wire);
		CU_ASSERT_FATAL(zs_inflate(f.z, &f.plain) >= 0);
		CU_ASSERT(buf_len(&f.plain) <= 64 * 1024);
		/* The consumer takes half of it: the rest waits. */
		size_t take = buf_len(&f.plain) / 2 + 1;
		if (take > buf_len(&f.plain))
			take = buf_len(&f.plain);
		buf_add(&f.got, buf_ptr(&f.plain), take);
		buf_consume(&f.plain, take);
	}
	buf_add(&f.got, buf_ptr(&f.plain), buf_len(&f.plain));
	CU_ASSERT_EQUAL_FATAL(buf_len(&f.got), buf_len(&text));
	CU_ASSERT(memcmp(buf_ptr(&f.got), buf_ptr(&text), buf_len(&text)) == 0);
	buf_free(&text);
	fx_free(&f);
}

/* 4 GB of "A" in about 4 MB of compressed data: the inflater stops at
 * its budget with a reason, having produced no more than the budget
 * (plus one step), however eagerly the consumer reads. */
void
test_zstream_bomb_stops_at_budget(void)
{
	struct fx f;
	static char block[1 << 20];
	uint64_t produced = 0, budget = 8 * 1024 * 1024;
	ssize_t n = 0;

	fx_init(&f, 64 * 1024);
	memset(block, 'A', sizeof(block));
	zs_set_budget(f.z, budget);
	for (int i = 0; i < 4096 && n >= 0; i++) {
		peer_deflate(&f.p, block, sizeof(block), Z_NO_FLUSH, &f.wire);
		while (buf_len(&f.wire) > 0 && n >= 0) {
			feed(f.z, &f.wire);
			while ((n = zs_inflate(f.z, &f.plain)) > 0) {
				produced += (uint64_t)n;
				buf_reset(&f.plain);
			}
		}
	}
	CU_ASSERT_EQUAL(n, -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(zs_error(f.z), "beyond"));
	CU_ASSERT(produced <= budget + 64 * 1024);
	CU_ASSERT(produced >= budget - 64 * 1024);
	fx_free(&f);
}

/* The budget counts from the last sign of progress: a long stream of
 * commands, each well within it, is never refused. */
void
test_zstream_budget_resets_on_progress(void)
{
	struct fx f;
	struct buf text;
	uint64_t produced = 0;

	fx_init(&f, 64 * 1024);
	buf_init(&text, 0);
	fill_text(&text, 16 * 1024 * 1024, 5);
	peer_deflate(&f.p, buf_ptr(&text), buf_len(&text), Z_SYNC_FLUSH,
	    &f.wire);
	zs_set_budget(f.z, 1024 * 1024);
	while (buf_len(&f.wire) > 0 || zs_in_pending(f.z)) {
		feed(f.z, &f.wire);
		ssize_t n = zs_inflate(f.z, &f.plain);
		CU_ASSERT_FATAL(n >= 0);
		produced += (uint64_t)n;
		buf_reset(&f.plain);
		zs_progress(f.z);		/* a command completed */
	}
	CU_ASSERT_EQUAL(produced, buf_len(&text));
	buf_free(&text);
	fx_free(&f);
}

void
test_zstream_corrupt_input(void)
{
	struct fx f;

	fx_init(&f, 64 * 1024);
	/* Block type 3 is reserved (RFC 1951 3.2.3). */
	buf_add(&f.wire, "\xff\xff\xff\xff", 4);
	feed(f.z, &f.wire);
	CU_ASSERT_EQUAL(zs_inflate(f.z, &f.plain), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(zs_error(f.z), "invalid compressed data"));
	fx_free(&f);
}

void
test_zstream_data_after_end(void)
{
	struct fx f;

	fx_init(&f, 64 * 1024);
	peer_deflate(&f.p, "a LOGOUT\r\n", 10, Z_FINISH, &f.wire);
	buf_add(&f.wire, "b NOOP\r\n", 8);
	feed(f.z, &f.wire);
	CU_ASSERT_EQUAL(zs_inflate(f.z, &f.plain), -1);
	CU_ASSERT_EQUAL(buf_len(&f.plain), 10);
	CU_ASSERT_PTR_NOT_NULL(strstr(zs_error(f.z), "after the end"));
	fx_free(&f);
}

/* A stream that ends cleanly (the client's last flush was Z_FINISH) and
 * then says nothing more is not an error. */
void
test_zstream_clean_end(void)
{
	struct fx f;

	fx_init(&f, 64 * 1024);
	peer_deflate(&f.p, "a LOGOUT\r\n", 10, Z_FINISH, &f.wire);
	feed(f.z, &f.wire);
	CU_ASSERT_EQUAL(zs_inflate(f.z, &f.plain), 10);
	CU_ASSERT_EQUAL(zs_inflate(f.z, &f.plain), 0);
	CU_ASSERT_FALSE(zs_in_pending(f.z));
	fx_free(&f);
}
