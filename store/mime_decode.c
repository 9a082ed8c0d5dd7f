/*
 * mime_decode.c - turning transfer-encoded and charset-encoded bytes
 * back into what the sender wrote: base64 and quoted-printable (for
 * BINARY and for SEARCH BODY), RFC 2047 encoded words (for header
 * searches), conversion to UTF-8 with iconv, and the simple case
 * folding that SEARCH compares with.
 *
 * All decoders are lenient, as mail readers are: damaged input is
 * decoded as far as it goes and flagged, never refused, and the output
 * is never longer than the input (so callers size buffers by the input).
 */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/base64.h"
#include "common/buf.h"
#include "store/mime_int.h"

size_t
b64_dec(const char *s, size_t n, char *out, bool *invalid)
{
	uint32_t acc = 0;
	size_t i, o = 0;
	int bits = 0, q = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int v = base64_value(c);

		if (v < 0) {
			if (c == '=') {
				/* padding ends a quantum; more data may follow
				 * (concatenated encodings), so only reset */
				if (q == 1)
					*invalid = true;
				acc = 0;
				bits = q = 0;
			} else if (c != '\r' && c != '\n' && c != ' ' &&
			    c != '\t')
				*invalid = true;
			continue;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		q = (q + 1) & 3;
		if (bits >= 8) {
			bits -= 8;
			if (out != NULL)
				out[o] = (char)((acc >> bits) & 0xff);
			o++;
		}
	}
	if (q == 1)
		*invalid = true;	/* six bits cannot make a byte */
	return o;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Length of the line at s[i..] without trailing white space and line
 * end (transport may add trailing white space: RFC 2045 6.7 rule 3). */
static size_t
qp_line(const char *s, size_t n, size_t i, size_t *next)
{
	const char *lf = memchr(s + i, '\n', n - i);
	size_t end = lf == NULL ? n : (size_t)(lf - s);

	*next = lf == NULL ? n : end + 1;
	if (end > i && s[end - 1] == '\r' && lf != NULL)
		end--;
	while (end > i && (s[end - 1] == ' ' || s[end - 1] == '\t'))
		end--;
	return end - i;
}

size_t
qp_dec(const char *s, size_t n, char *out, bool *invalid)
{
	size_t i = 0, o = 0;

	while (i < n) {
		size_t next, len = qp_line(s, n, i, &next), j;
		bool soft = len > 0 && s[i + len - 1] == '=';
		const char *le = s + i + len;
		size_t lelen = 0;

		if (soft)
			len--;
		for (j = 0; j < len; j++) {
			unsigned char c = (unsigned char)s[i + j];
			int hi, lo;

			if (c == '=' && j + 2 < len &&
			    (hi = hexval((unsigned char)s[i + j + 1])) >= 0 &&
			    (lo = hexval((unsigned char)s[i + j + 2])) >= 0) {
				c = (unsigned char)(hi << 4 | lo);
				j += 2;
			} else if (c == '=')
				*invalid = true;	/* kept as is */
			if (out != NULL)
				out[o] = (char)c;
			o++;
		}
		if (!soft && next > i + len) {
			/* the line's own end, without the trimmed blanks */
			while (le < s + next && *le != '\r' && *le != '\n')
				le++;
			lelen = (size_t)(s + next - le);
			if (out != NULL)
				memcpy(out + o, le, lelen);
			o += lelen;
		}
		i = next;
	}
	return o;
}

int64_t
mime_decoded_size(enum mime_enc enc, const char *src, size_t len,
    bool *invalid)
{
	bool inv = false;
	int64_t n;

	switch (enc) {
	case MIME_ENC_BASE64:
		n = (int64_t)b64_dec(src, len, NULL, &inv);
		break;
	case MIME_ENC_QP:
		n = (int64_t)qp_dec(src, len, NULL, &inv);
		break;
	case MIME_ENC_UNKNOWN:
		return -1;
	default:
		n = (int64_t)len;
		break;
	}
	if (invalid != NULL)
		*invalid = inv;
	return n;
}

int
mime_decode(struct arena *a, enum mime_enc enc, const char *src, size_t len,
    const char **out, size_t *outlen)
{
	bool inv = false;
	char *p;

	*out = NULL;
	*outlen = 0;
	if (enc == MIME_ENC_UNKNOWN)
		return MIME_DEC_UNKNOWN_CTE;
	if (enc != MIME_ENC_BASE64 && enc != MIME_ENC_QP) {
		*out = src;
		*outlen = len;
		return MIME_DEC_OK;
	}
	if ((p = arena_alloc(a, len + 1)) == NULL)
		return -1;
	*outlen = enc == MIME_ENC_BASE64 ? b64_dec(src, len, p, &inv) :
	    qp_dec(src, len, p, &inv);
	*out = p;
	return inv ? MIME_DEC_INVALID : MIME_DEC_OK;
}

/* ---- charsets ---- */

static bool
passthrough_charset(const char *cs)
{
	static const char *const same[] = {
		"utf-8", "utf8", "us-ascii", "ascii", "unknown-8bit",
		"x-unknown", "x-user-defined", "default",
	};
	size_t i;

	if (cs == NULL || *cs == '\0')
		return true;
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (strcasecmp(cs, same[i]) == 0)
			return true;
	return false;
}

int
charset_to_utf8(struct buf *out, const char *charset, const char *s,
    size_t n)
{
	char tmp[4096];
	iconv_t cd;
	char *in = (char *)(uintptr_t)s;
	size_t left = n;

	if (passthrough_charset(charset) ||
	    (cd = iconv_open("UTF-8", charset)) == (iconv_t)-1)
		return buf_add(out, s, n);
	while (left > 0) {
		char *o = tmp;
		size_t room = sizeof(tmp);
		size_t r = iconv(cd, &in, &left, &o, &room);

		if (buf_add(out, tmp, (size_t)(o - tmp)) < 0)
			break;
		if (r == (size_t)-1 && errno != E2BIG) {
			/* a byte the charset does not have: keep it */
			if (buf_addc(out, *in) < 0)
				break;
			in++;
			left--;
		}
	}
	iconv_close(cd);
	return left == 0 ? 0 : -1;
}

/* ---- RFC 2047 ---- */

#define ENCODED_WORD_MAX 512

/* Decodes the encoded word at s[i] ("=?cs?e?text?="); appends UTF-8 to
 * out and returns the index after it, or 0 if it is not one. */
static size_t
encoded_word(struct buf *out, const char *s, size_t n, size_t i)
{
	size_t cs = i + 2, e, t, end, k, dl;
	char charset[64], *d;
	bool inv = false;

	if (i + 8 > n || s[i] != '=' || s[i + 1] != '?')
		return 0;
	for (e = cs; e < n && s[e] != '?' && e - cs < sizeof(charset) - 1; e++)
		if (s[e] == ' ' || s[e] == '\r' || s[e] == '\n')
			return 0;
	if (e >= n || s[e] != '?' || e == cs || e + 2 >= n || s[e + 2] != '?')
		return 0;
	t = e + 3;
	/* RFC 2047 allows 75 characters; a generous cap keeps a header full
	 * of unterminated "=?" linear to scan */
	for (end = t; end + 1 < n && !(s[end] == '?' && s[end + 1] == '='); end++)
		if (s[end] == ' ' || s[end] == '\r' || s[end] == '\n' ||
		    end - i > ENCODED_WORD_MAX)
			return 0;
	if (end + 1 >= n)
		return 0;
	memcpy(charset, s + cs, e - cs);
	charset[e - cs] = '\0';
	if ((d = strchr(charset, '*')) != NULL)	/* RFC 2231 language */
		*d = '\0';
	if ((d = malloc(end - t + 1)) == NULL)
		return 0;
	if (s[e + 1] == 'B' || s[e + 1] == 'b')
		dl = b64_dec(s + t, end - t, d, &inv);
	else if (s[e + 1] == 'Q' || s[e + 1] == 'q') {
		for (k = t, dl = 0; k < end; k++) {
			int hi, lo;

			if (s[k] == '_')
				d[dl++] = ' ';
			else if (s[k] == '=' && k + 2 < end &&
			    (hi = hexval((unsigned char)s[k + 1])) >= 0 &&
			    (lo = hexval((unsigned char)s[k + 2])) >= 0) {
				d[dl++] = (char)(hi << 4 | lo);
				k += 2;
			} else
				d[dl++] = s[k];
		}
	} else {
		free(d);
		return 0;
	}
	charset_to_utf8(out, charset, d, dl);
	free(d);
	return end + 2;
}

char *
mime_decode_words(struct arena *a, const char *s, size_t n, size_t *outlen)
{
	struct buf b;
	size_t i = 0;
	bool after_word = false;
	char *res;

	mbuf_init(&b);
	while (i < n) {
		size_t j = s[i] == '=' ? encoded_word(&b, s, n, i) : 0;

		if (j != 0) {
			/* white space between two encoded words vanishes */
			i = j;
			after_word = true;
			continue;
		}
		if (after_word && (s[i] == ' ' || s[i] == '\t' ||
		    s[i] == '\r' || s[i] == '\n')) {
			size_t k = i;

			while (k < n && (s[k] == ' ' || s[k] == '\t' ||
			    s[k] == '\r' || s[k] == '\n'))
				k++;
			if (k < n && s[k] == '=' && k + 1 < n && s[k + 1] == '?') {
				size_t save = buf_len(&b);
				size_t j2 = encoded_word(&b, s, n, k);

				if (j2 != 0) {
					i = j2;
					continue;
				}
				b.len = save;
			}
		}
		after_word = false;
		if (s[i] != '\r' && s[i] != '\n')
			buf_addc(&b, s[i]);
		i++;
	}
	res = arena_strndup(a, buf_ptr(&b), buf_len(&b));
	if (outlen != NULL)
		*outlen = buf_len(&b);
	buf_free(&b);
	return res;
}

/* ---- case folding ---- */

static uint32_t
fold_cp(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c >= 0xc0 && c <= 0xde && c != 0xd7)
		return c + 32;
	if (c >= 0x100 && c <= 0x17f) {
		if (c == 0x130)
			return 'i';
		if (c == 0x178)
			return 0xff;
		if (c == 0x17f)
			return 's';
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) ? c + 1 : c;
		if (c == 0x131 || c == 0x138 || c == 0x149)
			return c;
		return (c & 1) ? c : c + 1;
	}
	if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2)
		return c + 32;
	if (c == 0x3c2)
		return 0x3c3;	/* final sigma */
	if (c >= 0x410 && c <= 0x42f)
		return c + 32;
	if (c >= 0x400 && c <= 0x40f)
		return c + 80;
	return c;
}

static size_t
put_utf8(char *o, uint32_t c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	o[0] = (char)(0xe0 | c >> 12);
	o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[2] = (char)(0x80 | (c & 0x3f));
	return 3;
}

int
utf8_fold(struct buf *out, const char *s, size_t n)
{
	size_t i = 0;
	char *o;

	/* folding never makes a character longer, so n bytes are enough */
	if (buf_reserve(out, n) < 0)
		return -1;
	o = buf_ptr(out) + buf_len(out);
	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x80) {
			*o++ = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			i++;
		} else if ((c & 0xe0) == 0xc0 && i + 1 < n &&
		    (s[i + 1] & 0xc0) == 0x80) {
			uint32_t cp = (uint32_t)(c & 0x1f) << 6 |
			    ((unsigned char)s[i + 1] & 0x3f);

			/* a 2-byte letter folds to 1 or 2 bytes */
			o += put_utf8(o, fold_cp(cp));
			i += 2;
		} else {
			*o++ = (char)c;	/* other sequences as they are */
			i++;
		}
	}
	out->len = (size_t)(o - buf_ptr(out));
	return 0;
}

bool
mem_contains(const char *hay, size_t hn, const char *needle, size_t nn)
{
	if (nn == 0)
		return true;
	return memmem(hay, hn, needle, nn) != NULL;
}
