/*
 * store_body.c - a message body's bytes: how they lie on disk and the one
 * reader every consumer goes through.
 *
 * Offers (store.h) store_set_compress(), store_body_open() / _read() /
 * _rest() / _close(), and to store_msg.c body_bytes_put().  Called by
 * APPEND and every path that stores a body (LMTP, import, CATENATE,
 * cross-user COPY), and by FETCH, BINARY, SEARCH, the full-text index,
 * POP3, CATENATE and URLFETCH for reading.
 *
 * Two layouts (schema 12):
 *   bodies.chunk = 0   the body is one blob in body_data: every body
 *                      stored before version 12, and small ones since
 *                      when compression is off or they are below
 *                      compress_min_size.
 *   bodies.chunk = C   the body is in body_chunks, C bytes of text per
 *                      row (the last one shorter), row n of body b at
 *                      rowid b << 24 | n: the plain offset of a chunk
 *                      is n * C, so no index is needed to find the
 *                      chunks under a range.  A row shorter than its
 *                      text is zstd frames of it (one, or for chunk 0
 *                      since 2026-12-03 two: the message's header, then
 *                      the rest); a row as long as its text is the text
 *                      itself (what did not compress, or was stored
 *                      with compression off); any other length is
 *                      damage.
 * Each chunk is compressed on its own, so a partial FETCH decompresses
 * the chunks its range touches and no others: at most the range plus
 * one chunk at each end.  The header has a frame of its own because
 * clients read it far more often than the rest (message lists fetch
 * HEADER.FIELDS of every message): that read decodes only the header.  Each chunk is its own row, so reading one
 * costs one b-tree lookup wherever it lies, where a read at offset X
 * of one big blob walks X / page-size overflow pages first; and the
 * reader holds no statement between reads, so a slow client of a
 * streamed FETCH pins no read snapshot.  Sizes (RFC822.SIZE, quota,
 * STATUS SIZE) come from bodies.size and messages.size, always the
 * text's.
 */
#include "store/store_int.h"
#include "store/mime.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zstd.h>

#include "common/log.h"
#include "common/util.h"

#define CHUNK_TEXT   (64 * 1024)	/* what we write */
#define CHUNK_SHIFT  24
#define CHUNK_NMAX   ((uint64_t)1 << CHUNK_SHIFT)
/* What we accept reading: a damaged bodies.chunk must not make us
 * allocate wildly. */
#define CHUNK_LO     512
#define CHUNK_HI     (16 * 1024 * 1024)

/* Blob I/O moves this much at a time. */
#define BLOB_PIECE (256 * 1024)

struct store_body {
	struct store  *s;
	int64_t        id;
	uint64_t       size;
	uint32_t       chunk;	/* text bytes per chunk; 0: one blob */
	sqlite3_blob  *blob;	/* the one blob, while not resting */
	uint64_t       have;	/* the chunk held in text, + 1; 0: none */
	size_t         avail;	/* how much of it is decoded (a prefix) */
	unsigned char *text;	/* one chunk's text */
};

void
store_set_compress(struct store *s, bool on, int level, uint64_t min_size)
{
	s->z_on = on;
	s->z_level = level;
	s->z_min = min_size;
}

/* ---- writing ---- */

static const char SQL_BODY_DATA[] =
	"INSERT INTO body_data (id, data) VALUES (?1, ?2)";
static const char SQL_CHUNK_PUT[] =
	"INSERT INTO body_chunks (id, data) VALUES (?1, ?2)";
static const char SQL_CHUNK_SET[] =
	"UPDATE bodies SET chunk = ?2 WHERE id = ?1";

/* Fills the zeroblob of body_data row body_id from p in pieces, so that
 * SQLite never builds the whole record in memory, and releases the
 * mapped pages behind. */
static int
blob_fill(struct store *s, int64_t body_id, const struct msg_prep *p)
{
	sqlite3_blob *blob = NULL;
	int rc;

	rc = sqlite3_blob_open(s->db.h, "main", "body_data", "data", body_id,
	    1, &blob);
	for (uint64_t off = 0; rc == SQLITE_OK && off < p->len;
	    off += BLOB_PIECE) {
		uint64_t n = p->len - off < BLOB_PIECE ? p->len - off :
		    BLOB_PIECE;

		rc = sqlite3_blob_write(blob, p->data + off, (int)n, (int)off);
		msg_pages_release(p->data, (size_t)off, (size_t)(off + n),
		    p->file);
	}
	if (blob != NULL && sqlite3_blob_close(blob) != SQLITE_OK &&
	    rc == SQLITE_OK)
		rc = SQLITE_ERROR;
	if (rc != SQLITE_OK)
		return db_fail(&s->db, "body data");
	return 0;
}

/* The one-blob layout.  A file-backed body goes in by incremental blob
 * I/O (blob_fill). */
static int
blob_put(struct store *s, int64_t body_id, const struct msg_prep *p)
{
	sqlite3_stmt *st = db_stmt(&s->db, SQL_BODY_DATA);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	if (p->len == 0 || p->file)
		sqlite3_bind_zeroblob64(st, 2, p->file ? p->len : 0);
	else
		sqlite3_bind_blob64(st, 2, p->data, p->len, SQLITE_STATIC);
	if ((rc = db_run(&s->db, st, "body data")) != 0 || !p->file ||
	    p->len == 0)
		return rc;
	return blob_fill(s, body_id, p);
}

/* Where the first chunk's header frame ends: after the header's blank
 * line, if it lies inside the chunk with text after it; else 0. */
static size_t
header_end(const char *text, size_t len)
{
	const char *e = memmem(text, len, "\r\n\r\n", 4);

	return e != NULL && (size_t)(e - text) + 4 < len ?
	    (size_t)(e - text) + 4 : 0;
}

/* Compresses text into zbuf (cap bytes at most): the first h bytes and
 * the rest as two frames when h > 0.  Returns the length, or 0 when
 * that does not fit (then the text is kept as it is). */
static size_t
frames_put(ZSTD_CCtx *cctx, unsigned char *zbuf, size_t cap,
    const char *text, size_t len, size_t h)
{
	size_t r1 = 0, r2;

	if (h > 0) {
		r1 = ZSTD_compress2(cctx, zbuf, cap, text, h);
		if (ZSTD_isError(r1))
			return 0;
	}
	r2 = ZSTD_compress2(cctx, zbuf + r1, cap - r1, text + h, len - h);
	return ZSTD_isError(r2) ? 0 : r1 + r2;
}

/* Stores chunk n of body_id: compressed when cctx is given and the
 * frames come out shorter than the text; else the text itself.  zstd
 * reports frames that would not be shorter by failing to fit them into
 * len - 1 bytes, as it reports any other failure: either way the text is
 * kept as it is, so a compression failure never loses a message. */
static int
chunk_put(struct store *s, ZSTD_CCtx *cctx, unsigned char *zbuf,
    int64_t body_id, uint64_t n, const char *text, size_t len)
{
	sqlite3_stmt *st;
	const void *data = text;
	size_t dlen = len;

	if (cctx != NULL) {
		size_t r = frames_put(cctx, zbuf, len - 1, text, len,
		    n == 0 ? header_end(text, len) : 0);
		if (r > 0) {
			data = zbuf;
			dlen = r;
		}
	}
	if ((st = db_stmt(&s->db, SQL_CHUNK_PUT)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)((uint64_t)body_id << CHUNK_SHIFT |
	    n));
	sqlite3_bind_blob64(st, 2, data, dlen, SQLITE_STATIC);
	return db_run(&s->db, st, "body chunk");
}

/* A compression context at the store's level, kept while its user keeps
 * storing bodies from compress_min_size up: some 350 KiB at level 3,
 * and a new one gets every page of that fresh from the kernel, which
 * cost more than the compression itself, about 1 ms a body here
 * (doc/benchmarks.md, "eighth look").  Kept for good in every user's
 * process it would be most of the process's memory, so one unused for
 * CCTX_KEEP_MS is freed at the next batch's end (body_zexpire()), and
 * any when the sessions rest (store_release_memory()).
 * Frames carry a checksum of their text (4 bytes per frame): damage on
 * disk is then reported as damage, never served as mail. */
#define CCTX_KEEP_MS 200
/* A frame holds at most one chunk, 64 KiB of text: zstd's tables for
 * inputs that size hold 2^15 to 2^17 entries from level 2 up, 2^14 are
 * enough.  On imaptest's mbox that made the output 0.3-0.4 % larger at
 * levels 2 to 19 and the context a half to a third of its size (at
 * level 1 zstd's own are smaller). */
#define CCTX_TABLE_LOG 14
/* And matches reach back 32 KiB, not the whole 64: zstd then works in
 * blocks of 32 KiB, and its buffers for a block's literals and
 * sequences shrink with them.  At level 3 the context went from 392 to
 * 272 KiB, and imaptest's mbox came out 0.18 % larger (a 16 KiB reach:
 * 60 KiB less again, but 4.6 % larger).  doc/benchmarks.md, "Peak memory
 * beside Dovecot". */
#define CCTX_WINDOW_LOG 15

static bool
cctx_set(ZSTD_CCtx *c, ZSTD_cParameter p, int v)
{
	return !ZSTD_isError(ZSTD_CCtx_setParameter(c, p, v));
}

/* The frames' output buffer (CHUNK_TEXT) is a mapping of its own, as
 * zstd's context is (it is above malloc's mmap threshold), so freeing
 * both gives their pages back at once.  From the heap, it took a trim
 * of the whole heap at each expiry (a brk, and an madvise per free
 * page run): some 20 ms of CPU a second across 40 busy processes, for
 * 64 KiB.  doc/benchmarks.md, "Peak memory beside Dovecot". */
static unsigned char *
zbuf_new(void)
{
	void *p = mmap(NULL, CHUNK_TEXT, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void
zbuf_free(struct store *s)
{
	if (s->z_buf != NULL && munmap(s->z_buf, CHUNK_TEXT) == -1)
		log_warn("munmap");
	s->z_buf = NULL;
}

static ZSTD_CCtx *
cctx_get(struct store *s)
{
	ZSTD_CCtx *c;
	bool ok;

	if (s->z_cctx == NULL && (s->z_cctx = ZSTD_createCCtx()) == NULL)
		return NULL;
	if (s->z_buf == NULL && (s->z_buf = zbuf_new()) == NULL)
		return NULL;
	c = s->z_cctx;
	/* A frame that did not fit (a chunk that does not compress) leaves
	 * the context mid-frame, where it refuses new parameters. */
	ok = !ZSTD_isError(ZSTD_CCtx_reset(c, ZSTD_reset_session_only)) &&
	    cctx_set(c, ZSTD_c_compressionLevel, s->z_level) &&
	    cctx_set(c, ZSTD_c_checksumFlag, 1) &&
	    cctx_set(c, ZSTD_c_windowLog, CCTX_WINDOW_LOG);
	if (ok && s->z_level >= 2)
		ok = cctx_set(c, ZSTD_c_hashLog, CCTX_TABLE_LOG) &&
		    cctx_set(c, ZSTD_c_chainLog, CCTX_TABLE_LOG);
	if (!ok) {
		body_zfree(s);
		return NULL;
	}
	return c;
}

static void
cctx_free(struct store *s)
{
	ZSTD_freeCCtx(s->z_cctx);
	s->z_cctx = NULL;
	zbuf_free(s);
}

void
body_zfree(struct store *s)
{
	ZSTD_freeCCtx(s->z_cctx);
	ZSTD_freeDCtx(s->z_dctx);
	s->z_cctx = NULL;
	s->z_dctx = NULL;
	zbuf_free(s);
}

/* The chunked layout. */
static int
chunks_put(struct store *s, int64_t body_id, const struct msg_prep *p,
    bool compress)
{
	uint64_t nchunks = (p->len + CHUNK_TEXT - 1) / CHUNK_TEXT;
	ZSTD_CCtx *cctx = NULL;
	sqlite3_stmt *st;
	int rc;

	if (nchunks >= CHUNK_NMAX)
		return db_err(&s->db, MK_INVALID, "message too large to store");
	if (compress && (cctx = cctx_get(s)) == NULL)
		log_warnx("cannot set up compression: body stored as it is");
	if ((st = db_stmt(&s->db, SQL_CHUNK_SET)) == NULL)
		rc = -1;
	else {
		sqlite3_bind_int64(st, 1, body_id);
		sqlite3_bind_int(st, 2, CHUNK_TEXT);
		rc = db_run(&s->db, st, "body layout");
	}
	for (uint64_t n = 0; rc == 0 && n < nchunks; n++) {
		uint64_t off = n * CHUNK_TEXT;
		size_t len = (size_t)MK_MIN(p->len - off, (uint64_t)CHUNK_TEXT);

		rc = chunk_put(s, cctx, s->z_buf, body_id, n, p->data + off,
		    len);
		msg_pages_release(p->data, (size_t)off, (size_t)off + len,
		    p->file);
	}
	if (cctx != NULL)
		s->z_used_ms = now_ms();
	return rc;
}

/* Freed, the context's pages stay with malloc (in the middle of its
 * heap, or above what it gives back by itself): they go to the kernel
 * now, else the process would keep them as if it kept the context. */
void
body_zexpire(struct store *s)
{
	if (s->z_cctx == NULL || now_ms() - s->z_used_ms < CCTX_KEEP_MS)
		return;
	cctx_free(s);
}

int
body_bytes_put(struct store *s, int64_t body_id, const struct msg_prep *p)
{
	bool compress = s->z_on && p->len > 0 && p->len >= s->z_min;

	/* A body bigger than one chunk is chunked even uncompressed: FETCH
	 * then streams it at one lookup per chunk.  A rowid too big to
	 * shift (never reached by counting) keeps the one-blob layout. */
	if ((!compress && p->len <= CHUNK_TEXT) ||
	    body_id >= (int64_t)1 << (62 - CHUNK_SHIFT))
		return blob_put(s, body_id, p);
	return chunks_put(s, body_id, p, compress);
}

/* ---- reading ---- */

static const char SQL_BODY_LAYOUT[] =
	"SELECT size, chunk FROM bodies WHERE id = ?1";
static const char SQL_CHUNK_GET[] =
	"SELECT data FROM body_chunks WHERE id = ?1";

static int layout_read(struct store *s, int64_t body_id, uint64_t *size,
    int64_t *chunk);

/* Opens the one blob unless it is open already.  The reader holds no
 * statement while it rests, so another process (mailkeepctl compress)
 * may have rewritten the body into chunks since it was opened: the
 * same text, of the same size, which it then reads in chunks
 * (b->chunk set) instead of failing a FETCH half sent. */
static int
blob_attach(struct store_body *b)
{
	char why[160];
	uint64_t sz = 0;
	int64_t chunk = 0;
	int code;

	if (b->blob != NULL)
		return 0;
	/* Moving an open handle skips compiling the one sqlite3_blob_open()
	 * makes, once per message of a FETCH of many bodies; any failure
	 * (the row is gone) is told by a fresh open below. */
	if ((b->blob = b->s->db.spare_blob) != NULL) {
		b->s->db.spare_blob = NULL;
		if (sqlite3_blob_reopen(b->blob, b->id) == SQLITE_OK) {
			b->size = (uint64_t)sqlite3_blob_bytes(b->blob);
			return 0;
		}
		(void)sqlite3_blob_close(b->blob);
		b->blob = NULL;
	}
	if (sqlite3_blob_open(b->s->db.h, "main", "body_data", "data", b->id,
	    0, &b->blob) == SQLITE_OK) {
		b->size = (uint64_t)sqlite3_blob_bytes(b->blob);
		return 0;
	}
	code = sqlite3_errcode(b->s->db.h);
	mk_strlcpy(why, sqlite3_errmsg(b->s->db.h), sizeof(why));
	sqlite3_blob_close(b->blob);
	b->blob = NULL;
	if (code != SQLITE_BUSY && code != SQLITE_LOCKED &&
	    layout_read(b->s, b->id, &sz, &chunk) == 0 &&
	    chunk >= CHUNK_LO && chunk <= CHUNK_HI && sz == b->size) {
		b->chunk = (uint32_t)chunk;
		return 0;
	}
	log_warnx("body open: %s", why);
	return db_err(&b->s->db, code == SQLITE_BUSY || code == SQLITE_LOCKED ?
	    MK_BUSY : -1, "body open: %s", why);
}

static int
layout_read(struct store *s, int64_t body_id, uint64_t *size,
    int64_t *chunk)
{
	sqlite3_stmt *st = db_stmt(&s->db, SQL_BODY_LAYOUT);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, body_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*size = (uint64_t)sqlite3_column_int64(st, 0);
		*chunk = sqlite3_column_int64(st, 1);
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = db_err(&s->db, MK_NOTFOUND, "no body %lld",
		    (long long)body_id);
	else
		rc = db_fail(&s->db, "body layout");
	db_done(&s->db, st);
	return rc;
}

int
store_body_open(struct store *s, int64_t body_id, struct store_body **b,
    uint64_t *size)
{
	uint64_t sz = 0;
	int64_t chunk = 0;
	int rc;

	*b = NULL;
	if ((rc = layout_read(s, body_id, &sz, &chunk)) != 0)
		return rc;
	if (chunk != 0 && (chunk < CHUNK_LO || chunk > CHUNK_HI)) {
		log_warnx("body %lld: chunk size %lld is damage",
		    (long long)body_id, (long long)chunk);
		return db_err(&s->db, MK_DAMAGED, "body %lld is damaged",
		    (long long)body_id);
	}
	*b = xcalloc(1, sizeof(**b));
	s->nreaders++;
	(*b)->s = s;
	(*b)->id = body_id;
	(*b)->size = sz;
	(*b)->chunk = (uint32_t)chunk;
	if (chunk == 0 && (rc = blob_attach(*b)) != 0) {
		store_body_close(*b);
		*b = NULL;
		return rc;
	}
	if (size != NULL)
		*size = (*b)->size;
	return 0;
}

static int
damaged(struct store_body *b, uint64_t n, const char *why)
{
	log_warnx("body %lld chunk %llu: %s", (long long)b->id,
	    (unsigned long long)n, why);
	return db_err(&b->s->db, MK_DAMAGED, "body %lld is damaged (chunk "
	    "%llu: %s)", (long long)b->id, (unsigned long long)n, why);
}

/* How much of a row of dlen bytes to decode for the first need bytes of
 * its text: its first frame alone when that holds them (the header frame
 * of chunk 0), else all of it.  Sets *out to the text that yields. */
static size_t
frames_for(const void *data, size_t dlen, size_t len, size_t need,
    size_t *out)
{
	unsigned long long fcs = ZSTD_getFrameContentSize(data, dlen);
	size_t c;

	*out = len;
	if (need >= len || fcs == ZSTD_CONTENTSIZE_UNKNOWN ||
	    fcs == ZSTD_CONTENTSIZE_ERROR || fcs < need || fcs >= len)
		return dlen;
	c = ZSTD_findFrameCompressedSize(data, dlen);
	if (ZSTD_isError(c) || c >= dlen)
		return dlen;
	*out = (size_t)fcs;
	return c;
}

/* Puts the text of chunk n (len bytes) at dst, at least its first need
 * bytes; *got says how many are there. */
static int
chunk_get(struct store_body *b, uint64_t n, unsigned char *dst, size_t len,
    size_t need, size_t *got)
{
	struct sqldb *db = &b->s->db;
	sqlite3_stmt *st = db_stmt(db, SQL_CHUNK_GET);
	const void *data;
	size_t dlen, r, want = len;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)((uint64_t)b->id << CHUNK_SHIFT |
	    n));
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? damaged(b, n, "missing") :
		    db_fail(db, "body chunk");
		db_done(db, st);
		return rc;
	}
	data = sqlite3_column_blob(st, 0);
	dlen = (size_t)sqlite3_column_bytes(st, 0);
	rc = 0;
	if (dlen == len)
		memcpy(dst, data, len);
	else if (dlen > len || data == NULL)
		rc = damaged(b, n, "longer than its text");
	else if (b->s->z_dctx == NULL &&
	    (b->s->z_dctx = ZSTD_createDCtx()) == NULL)
		rc = db_err(db, -1, "out of memory decompressing a body");
	else if (ZSTD_isError(r = ZSTD_decompressDCtx(b->s->z_dctx, dst, len,
	    data, frames_for(data, dlen, len, need, &want))))
		rc = damaged(b, n, ZSTD_getErrorName(r));
	else if (r != want)
		rc = damaged(b, n, "short text");
	db_done(db, st);
	*got = rc == 0 ? want : 0;
	return rc;
}

static size_t
chunk_len(const struct store_body *b, uint64_t n)
{
	return (size_t)MK_MIN(b->size - n * b->chunk, (uint64_t)b->chunk);
}

/* Copies [off, off + n) of a chunked body: whole chunks straight into
 * buf, the partial ones at either end through the one held chunk (so
 * reading on where the last read stopped decompresses nothing twice). */
static int
chunks_read(struct store_body *b, uint64_t off, unsigned char *buf, size_t n)
{
	int rc;

	while (n > 0) {
		uint64_t k = off / b->chunk;
		size_t at = (size_t)(off % b->chunk), len = chunk_len(b, k);
		size_t take = MK_MIN(n, len - at);

		size_t got;

		if (at == 0 && take == len && b->have != k + 1)
			rc = chunk_get(b, k, buf, len, len, &got);
		else {
			if (b->text == NULL)
				b->text = xmalloc(b->chunk);
			if (b->have != k + 1 || b->avail < at + take) {
				b->have = 0;
				if ((rc = chunk_get(b, k, b->text, len,
				    at + take, &b->avail)) != 0)
					return rc;
				b->have = k + 1;
			}
			memcpy(buf, b->text + at, take);
			rc = 0;
		}
		if (rc != 0)
			return rc;
		off += take;
		buf += take;
		n -= take;
	}
	return 0;
}

int
store_body_read(struct store_body *b, uint64_t off, void *buf, size_t n)
{
	int rc;

	if (off > b->size || n > b->size - off)
		return db_err(&b->s->db, MK_INVALID, "body read %llu+%zu "
		    "beyond %llu bytes", (unsigned long long)off, n,
		    (unsigned long long)b->size);
	if (n == 0)
		return 0;
	if (b->chunk == 0 && (rc = blob_attach(b)) != 0)
		return rc;
	if (b->chunk != 0)
		return chunks_read(b, off, buf, n);
	/* Bodies are far below 2 GiB (APPEND limits them), so int fits. */
	if (sqlite3_blob_read(b->blob, buf, (int)n, (int)off) != SQLITE_OK)
		return db_fail(&b->s->db, "body read");
	return 0;
}

void
store_body_rest(struct store_body *b)
{
	if (b == NULL)
		return;
	if (b->blob != NULL && b->s->db.group_open &&
	    b->s->db.spare_blob == NULL)
		b->s->db.spare_blob = b->blob;
	else if (b->blob != NULL)
		sqlite3_blob_close(b->blob);
	b->blob = NULL;
}

void
store_body_close(struct store_body *b)
{
	if (b == NULL)
		return;
	store_body_rest(b);
	b->s->nreaders--;
	free(b->text);
	free(b);
}

int
store_body_load(struct store *s, int64_t body_id, char **data, size_t *len)
{
	struct store_body *b;
	uint64_t size;
	int rc;

	*data = NULL;
	*len = 0;
	if ((rc = store_body_open(s, body_id, &b, &size)) != 0)
		return rc;
	*data = xmalloc((size_t)size + 1);
	if ((rc = store_body_read(b, 0, *data, (size_t)size)) != 0) {
		free(*data);
		*data = NULL;
	} else {
		(*data)[size] = '\0';
		*len = (size_t)size;
	}
	store_body_close(b);
	return rc;
}

/* ---- the spans a text walk reads ---- */

/* Bodies up to this are read whole: one read beats several, and the
 * memory is small anyway. */
#define TEXT_WHOLE_MAX (1u << 20)

struct spans {
	struct store_body *b;
	char              *map;
	uint64_t           total;
	int                rc;	/* the reader's error */
};

static int
span_sum(void *arg, uint64_t off, uint64_t len)
{
	(void)off;
	((struct spans *)arg)->total += len;
	return 0;
}

static int
span_read(void *arg, uint64_t off, uint64_t len)
{
	struct spans *sp = arg;

	if (len == 0)
		return 0;
	sp->rc = store_body_read(sp->b, off, sp->map + off, (size_t)len);
	return sp->rc == 0 ? 0 : -1;
}

static int
text_from_spans(struct store *s, struct store_body *b, uint64_t size,
    const void *parts, size_t plen, size_t max_part, uint64_t max_spans,
    struct body_text *t)
{
	struct spans sp = { b, NULL, 0, 0 };
	int rc;

	rc = mime_fts_spans(parts, plen, size, max_part, span_sum, &sp);
	if (rc != 0 || (max_spans > 0 && sp.total > max_spans)) {
		t->over = rc < 0 ? -1 : 1;
		return 0;
	}
	sp.map = mmap(NULL, (size_t)size + 1, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sp.map == MAP_FAILED)
		return db_err(&s->db, -1, "out of memory reading a message");
	if (mime_fts_spans(parts, plen, size, max_part, span_read, &sp) != 0) {
		munmap(sp.map, (size_t)size + 1);
		/* only a read can fail now: the table passed once */
		return sp.rc != 0 ? sp.rc : -1;
	}
	t->data = sp.map;
	t->len = (size_t)size;
	t->mapped = true;
	return 0;
}

int
store_body_text(struct store *s, int64_t body_id, const void *parts,
    size_t plen, size_t max_part, uint64_t max_spans, struct body_text *t)
{
	struct store_body *b;
	uint64_t size;
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = store_body_open(s, body_id, &b, &size)) != 0)
		return rc;
	if (size > TEXT_WHOLE_MAX) {
		rc = text_from_spans(s, b, size, parts, plen, max_part,
		    max_spans, t);
		store_body_close(b);
		return rc;
	}
	t->data = xmalloc((size_t)size + 1);
	if ((rc = store_body_read(b, 0, t->data, (size_t)size)) != 0) {
		free(t->data);
		t->data = NULL;
	} else {
		t->data[size] = '\0';
		t->len = (size_t)size;
	}
	store_body_close(b);
	return rc;
}

void
store_body_text_free(struct body_text *t)
{
	if (t->mapped)
		munmap(t->data, t->len + 1);
	else
		free(t->data);
	memset(t, 0, sizeof(*t));
}

/* ---- rewriting bodies of the one-blob layout ---- */

#define RECHUNK_MAX  64		/* bodies per batch, at most */
/* Body ids looked at per batch, at most: a store with nothing (more) to
 * rewrite is walked in short steps, not in one long scan. */
#define RECHUNK_SPAN 4096
#define RECHUNK_LAST (((int64_t)1 << (62 - CHUNK_SHIFT)) - 1)

static const char SQL_BLOB_BODIES[] =
	"SELECT id, size FROM bodies WHERE id > ?1 AND id <= ?2 AND chunk = 0"
	" AND size >= ?3 ORDER BY id LIMIT ?4";
static const char SQL_BODY_LAST[] = "SELECT max(id) FROM bodies";
static const char SQL_BODY_DATA_DROP[] =
	"DELETE FROM body_data WHERE id = ?1";

/* The smallest body body_bytes_put() would now store in chunks. */
static uint64_t
chunked_from(const struct store *s)
{
	if (!s->z_on)
		return CHUNK_TEXT + 1;
	return MK_MAX(MK_MIN(s->z_min, (uint64_t)CHUNK_TEXT + 1), 1);
}

/* Up to max one-blob bodies in (cursor, hi] that would now be chunked. */
static int
blob_bodies(struct store *s, int64_t cursor, int64_t hi, unsigned max,
    int64_t *ids, uint64_t *sizes, size_t *n)
{
	sqlite3_stmt *st = db_stmt(&s->db, SQL_BLOB_BODIES);
	int rc;

	*n = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, cursor);
	sqlite3_bind_int64(st, 2, hi);
	sqlite3_bind_int64(st, 3, (int64_t)chunked_from(s));
	sqlite3_bind_int(st, 4, (int)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		ids[*n] = sqlite3_column_int64(st, 0);
		sizes[(*n)++] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    db_fail(&s->db, "bodies to rewrite");
	db_done(&s->db, st);
	return rc;
}

/* Copies the one blob of body id into chunks, 64 KiB of text at a time
 * through text (never the whole body in memory), then drops the blob. */
static int
blob_rechunk(struct store *s, int64_t id, uint64_t size, unsigned char *text)
{
	bool compress = s->z_on && size >= s->z_min;
	ZSTD_CCtx *cctx = compress ? cctx_get(s) : NULL;
	sqlite3_blob *blob = NULL;
	sqlite3_stmt *st;
	int rc;

	if (compress && cctx == NULL)
		return db_err(&s->db, -1, "cannot set up compression");
	if (sqlite3_blob_open(s->db.h, "main", "body_data", "data", id, 0,
	    &blob) != SQLITE_OK) {
		sqlite3_blob_close(blob);
		return db_fail(&s->db, "body open");
	}
	rc = (uint64_t)sqlite3_blob_bytes(blob) == size ? 0 :
	    db_err(&s->db, MK_DAMAGED, "body %lld: %d bytes stored for a size "
	    "of %llu", (long long)id, sqlite3_blob_bytes(blob),
	    (unsigned long long)size);
	if (rc == 0 && (st = db_stmt(&s->db, SQL_CHUNK_SET)) != NULL) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, CHUNK_TEXT);
		rc = db_run(&s->db, st, "body layout");
	} else if (rc == 0)
		rc = -1;
	for (uint64_t n = 0; rc == 0 && n * CHUNK_TEXT < size; n++) {
		size_t len = (size_t)MK_MIN(size - n * CHUNK_TEXT,
		    (uint64_t)CHUNK_TEXT);

		if (sqlite3_blob_read(blob, text, (int)len,
		    (int)(n * CHUNK_TEXT)) != SQLITE_OK)
			rc = db_fail(&s->db, "body read");
		else
			rc = chunk_put(s, cctx, s->z_buf, id, n, (char *)text,
			    len);
	}
	sqlite3_blob_close(blob);
	if (rc == 0 && (st = db_stmt(&s->db, SQL_BODY_DATA_DROP)) != NULL) {
		sqlite3_bind_int64(st, 1, id);
		rc = db_run(&s->db, st, "body data");
	} else if (rc == 0)
		rc = -1;
	return rc;
}

/* The highest body id, 0 for none. */
static int
body_last(struct store *s, int64_t *last)
{
	sqlite3_stmt *st = db_stmt(&s->db, SQL_BODY_LAST);
	int rc;

	if (st == NULL)
		return -1;
	*last = 0;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*last = sqlite3_column_int64(st, 0);
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    db_fail(&s->db, "last body");
	db_done(&s->db, st);
	return rc;
}

/* One batch inside the caller's transaction: the bodies to rewrite among
 * the next RECHUNK_SPAN ids.  A body whose blob does not match its size
 * is left as it is (it reads as it always did). */
static int
rechunk_batch(struct store *s, unsigned max, uint64_t budget, int64_t *last,
    unsigned *done, bool *more)
{
	int64_t ids[RECHUNK_MAX], hi, top;
	uint64_t sizes[RECHUNK_MAX], bytes = 0;
	unsigned char *text;
	size_t n, i;
	int rc;

	max = MK_MAX(MK_MIN(max, (unsigned)RECHUNK_MAX), 1);
	hi = *last < RECHUNK_LAST - RECHUNK_SPAN ? *last + RECHUNK_SPAN :
	    RECHUNK_LAST;
	if ((rc = body_last(s, &top)) != 0 ||
	    (rc = blob_bodies(s, *last, hi, max, ids, sizes, &n)) != 0)
		return rc;
	text = xmalloc(CHUNK_TEXT);
	for (i = 0; rc == 0 && i < n && (i == 0 || bytes < budget); i++) {
		rc = blob_rechunk(s, ids[i], sizes[i], text);
		if (rc == MK_DAMAGED) {
			log_warnx("%s: left as it is", s->db.err);
			rc = 0;
		} else if (rc == 0)
			(*done)++;
		bytes += sizes[i];
		*last = ids[i];
	}
	free(text);
	cctx_free(s);	/* a rewrite's batches are seconds apart */
	/* The whole span was looked at unless a bound stopped us first. */
	if (i == n && n < max)
		*last = hi;
	*more = *last < MK_MIN(top, RECHUNK_LAST);
	return rc;
}

int
store_body_recompress(struct store *s, unsigned max, uint64_t budget,
    int64_t *cursor, unsigned *done, bool *more)
{
	int64_t last = *cursor;
	enum db_txn t;
	int rc;

	*done = 0;
	*more = true;
	if (s->nreaders > 0)
		return db_err(&s->db, MK_BUSY, "a body is being read");
	/* Never waits for another process's write lock. */
	sqlite3_busy_timeout(s->db.h, 0);
	if ((rc = db_txn_enter(&s->db, &t)) == 0)
		rc = db_txn_leave(&s->db, t, rechunk_batch(s, max, budget,
		    &last, done, more));
	sqlite3_busy_timeout(s->db.h, DB_BUSY_TIMEOUT_MS);
	if (rc == 0)
		*cursor = last;
	else
		*done = 0;
	return rc;
}

static const char SQL_BLOB_PENDING[] =
	"SELECT count(*), coalesce(sum(size), 0) FROM bodies WHERE chunk = 0"
	" AND size >= ?1 AND id <= ?2";

int
store_body_recompress_pending(struct store *s, uint64_t *bodies,
    uint64_t *bytes)
{
	sqlite3_stmt *st = db_stmt(&s->db, SQL_BLOB_PENDING);
	int rc;

	*bodies = *bytes = 0;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)chunked_from(s));
	sqlite3_bind_int64(st, 2, RECHUNK_LAST);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*bodies = (uint64_t)sqlite3_column_int64(st, 0);
		*bytes = (uint64_t)sqlite3_column_int64(st, 1);
	}
	rc = rc == SQLITE_ROW ? 0 : db_fail(&s->db, "bodies to rewrite");
	db_done(&s->db, st);
	return rc;
}
