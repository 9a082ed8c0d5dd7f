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
encode_body(struct buf *out, const char *p, size_t n)
{
	struct buf b64;
	int rc;

	buf_init(&b64, 0);
	rc = base64_encode(p, n, &b64);
	for (size_t i = 0; rc == 0 && i < buf_len(&b64); i += B64_LINE) {
		size_t k = buf_len(&b64) - i < B64_LINE ? buf_len(&b64) - i : B64_LINE;
		buf_add(out, buf_ptr(&b64) + i, k);
		buf_adds(out, "\r\n");
	}
	buf_free(&b64);
	return rc;
}

int
mime_encode_nul_parts(struct arena *a, const char *msg, size_t len,
    const char **out, size_t *outlen)
{
	struct mime_result r;
	struct mime_parts_iter it;
	struct mime_part p;
	struct buf b;
	uint64_t pos = 0, last_body = UINT64_MAX;
	int rc;
	char *res;

	*out = msg;
	*outlen = len;
	if (memchr(msg, '\0', len) == NULL)
		return 0;
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
		buf_add(&b, msg + pos, (size_t)(p.hdr_off - pos));
		rewrite_header(&b, msg + p.hdr_off, (size_t)p.hdr_len);
		if (encode_body(&b, msg + p.body_off, (size_t)p.body_len) != 0) {
			buf_free(&b);
			return -1;
		}
		pos = p.body_off + p.body_len;
	}
	if (rc < 0) {
		buf_free(&b);
		return -1;
	}
	buf_add(&b, msg + pos, len - (size_t)pos);
	res = arena_alloc(a, buf_len(&b) + 1);
	if (res == NULL) {
		buf_free(&b);
		return -1;
	}
	memcpy(res, buf_ptr(&b), buf_len(&b));
	*out = res;
	*outlen = buf_len(&b);
	buf_free(&b);
	return 0;
}
