/*
 * mime_binary.c - keeping binary content fetchable (RFC 3516 4.4 and 6).
 *
 * A message APPENDed with NUL octets (a literal8) cannot be sent back by
 * BODY[]: no IMAP string may carry NUL, and BODYSTRUCTURE must describe
 * the content "as though the binary-encoded sections are encoded in a
 * CTE acceptable to the IMAP4 base specification".  So each part whose
 * body holds a NUL is stored base64-encoded, its Content-Transfer-Encoding
 * field replaced.  Nothing is lost: BINARY[] decodes it back to the
 * original octets.  Messages without NUL are stored exactly as sent.
 *
 * Called by store_msg_append() before line ends are normalized, so the
 * binary octets are never touched by that.
 */
#include "store/mime.h"
#include "store/mime_int.h"

#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "common/base64.h"
#include "common/buf.h"

#define B64_LINE 76

/* Bodies are encoded this many input octets at a time: a multiple of
 * 57, so every piece but the last gives whole 76-character lines and
 * the output is that of encoding the body at once. */
#define B64_PIECE (57 * 4096)

/* Copies the header block hdr[0..n) without its Content-Transfer-Encoding
 * field(s), adding "Content-Transfer-Encoding: base64" before the blank
 * line that ends it. */
static void
rewrite_header(struct buf *out, const char *hdr, size_t n)
{
	size_t i = 0;
	bool skipping = false;

	while (i < n) {
		const char *lf = memchr(hdr + i, '\n', n - i);
		size_t len = lf ? (size_t)(lf - (hdr + i)) + 1 : n - i;
		const char *line = hdr + i;
		bool blank = len == 1 || (len == 2 && line[0] == '\r');

		if (blank) {
			buf_adds(out, "Content-Transfer-Encoding: base64\r\n");
			buf_add(out, line, n - i);	/* the blank line */
			return;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			if (!skipping)
				buf_add(out, line, len);
		} else {
			skipping = len >= 26 &&
			    strncasecmp(line, "Content-Transfer-Encoding", 25) == 0 &&
			    (line[25] == ':' || line[25] == ' ' || line[25] == '\t');
			if (!skipping)
				buf_add(out, line, len);
		}
		i += len;
	}
	/* No blank line (a header-only part): end the block ourselves. */
	buf_adds(out, "Content-Transfer-Encoding: base64\r\n\r\n");
}

static int
encode_body(struct buf *tmp, const char *p, size_t n, mime_put_fn put,
    void *arg)
{
	for (size_t off = 0; off < n; off += B64_PIECE) {
		size_t k = n - off < B64_PIECE ? n - off : B64_PIECE;
		struct buf b64;
		int rc;

		buf_init(&b64, 0);
		rc = base64_encode(p + off, k, &b64);
		buf_reset(tmp);
		for (size_t i = 0; rc == 0 && i < buf_len(&b64); i += B64_LINE) {
			size_t l = buf_len(&b64) - i < B64_LINE ?
			    buf_len(&b64) - i : B64_LINE;
			buf_add(tmp, buf_ptr(&b64) + i, l);
			buf_adds(tmp, "\r\n");
		}
		buf_free(&b64);
		if (rc != 0 || put(arg, buf_ptr(tmp), buf_len(tmp)) != 0)
			return -1;
	}
	return 0;
}

int
mime_encode_nul_parts_to(struct arena *a, const char *msg, size_t len,
    mime_put_fn put, void *arg)
{
	struct mime_result r;
	struct mime_parts_iter it;
	struct mime_part p;
	struct buf b;
	uint64_t pos = 0, last_body = UINT64_MAX;
	int rc;

	if (memchr(msg, '\0', len) == NULL)
		return put(arg, msg, len);
	if (mime_analyze(a, msg, len, &r) != 0 ||
	    mime_parts_first(&it, r.parts, r.parts_len) != 0)
		return -1;
	buf_init(&b, 0);
	while ((rc = mime_parts_next(&it, &p)) == 1) {
		if (p.cls == MIME_CLASS_MULTIPART || p.cls == MIME_CLASS_MESSAGE)
			continue;
		/* The root of a one-part message and its part 1 share a body. */
		if (p.body_off == last_body || p.body_off < pos ||
		    p.body_off + p.body_len > len ||
		    memchr(msg + p.body_off, '\0', (size_t)p.body_len) == NULL)
			continue;
		last_body = p.body_off;
		buf_reset(&b);
		rewrite_header(&b, msg + p.hdr_off, (size_t)p.hdr_len);
		if (put(arg, msg + pos, (size_t)(p.hdr_off - pos)) != 0 ||
		    put(arg, buf_ptr(&b), buf_len(&b)) != 0 ||
		    encode_body(&b, msg + p.body_off, (size_t)p.body_len, put,
		    arg) != 0) {
			buf_free(&b);
			return -1;
		}
		pos = p.body_off + p.body_len;
	}
	buf_free(&b);
	if (rc < 0)
		return -1;
	return put(arg, msg + pos, len - (size_t)pos);
}

static int
put_buf(void *arg, const char *p, size_t n)
{
	return buf_add(arg, p, n);
}

int
mime_encode_nul_parts(struct arena *a, const char *msg, size_t len,
    const char **out, size_t *outlen)
{
	struct buf b;
	char *res;

	*out = msg;
	*outlen = len;
	if (memchr(msg, '\0', len) == NULL)
		return 0;
	buf_init(&b, 0);
	if (mime_encode_nul_parts_to(a, msg, len, put_buf, &b) != 0 ||
	    (res = arena_alloc(a, buf_len(&b) + 1)) == NULL) {
		buf_free(&b);
		return -1;
	}
	memcpy(res, buf_ptr(&b), buf_len(&b));
	*out = res;
	*outlen = buf_len(&b);
	buf_free(&b);
	return 0;
}
