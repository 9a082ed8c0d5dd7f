/*
 * mime_sortkey.c - the sort keys of SORT and THREAD (RFC 5256, RFC
 * 5957) from a message's header, computed once at APPEND and kept by
 * store_sort.c, so that sorting never reads a message.
 *
 * Strings are kept in their i;unicode-casemap canonical form
 * (casemap.c): comparing them is memcmp.  Message-IDs are kept
 * normalized (quoting, comments and white space removed) and compared
 * as octets, as RFC 5256 section 4 says.
 *
 * Offers mime_sortkeys() and mime_base_subject() (tests use the second
 * alone) and mime_next_msgid().
 */
#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "common/buf.h"
#include "store/casemap.h"
#include "store/mime_int.h"

/* ---- base subject (RFC 5256 section 2.1) ---- */

struct subj {
	const char *s;
	size_t      b, e;	/* the text left: s[b..e) */
	bool        reply;	/* a subj-refwd, "(fwd)" or [fwd: ] went */
};

static bool
wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Step 2: subj-trailer = "(fwd)" / WSP, as often as they match. */
static void
strip_trailers(struct subj *x)
{
	for (;;) {
		if (x->e > x->b && wsp(x->s[x->e - 1]))
			x->e--;
		else if (x->e - x->b >= 5 &&
		    strncasecmp(x->s + x->e - 5, "(fwd)", 5) == 0) {
			x->e -= 5;
			x->reply = true;
		} else
			return;
	}
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP at i: its end, or 0. */
static size_t
blob_at(const struct subj *x, size_t i)
{
	if (i >= x->e || x->s[i] != '[')
		return 0;
	for (i++; i < x->e && x->s[i] != ']'; i++)
		if (x->s[i] == '[')
			return 0;
	if (i >= x->e)
		return 0;
	for (i++; i < x->e && wsp(x->s[i]); i++)
		;
	return i;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" at i: its
 * end, or 0. */
static size_t
refwd_at(const struct subj *x, size_t i)
{
	size_t j;

	if (x->e - i >= 2 && strncasecmp(x->s + i, "re", 2) == 0)
		i += 2;
	else if (x->e - i >= 2 && strncasecmp(x->s + i, "fw", 2) == 0) {
		i += 2;
		if (i < x->e && (x->s[i] == 'd' || x->s[i] == 'D'))
			i++;
	} else
		return 0;
	while (i < x->e && wsp(x->s[i]))
		i++;
	if ((j = blob_at(x, i)) != 0)
		i = j;
	return i < x->e && x->s[i] == ':' ? i + 1 : 0;
}

/* Step 3: subj-leader = (*subj-blob subj-refwd) / WSP, as often as
 * they match; true if anything went. */
static bool
strip_leaders(struct subj *x)
{
	bool any = false;

	for (;;) {
		size_t i = x->b, j;

		if (i < x->e && wsp(x->s[i])) {
			x->b++;
			any = true;
			continue;
		}
		while ((j = blob_at(x, i)) != 0)
			i = j;
		if ((j = refwd_at(x, i)) == 0)
			return any;
		x->b = j;
		x->reply = any = true;
	}
}

/* Step 4: a leading subj-blob goes if text is left after it. */
static bool
strip_blob(struct subj *x)
{
	size_t j = blob_at(x, x->b);

	if (j == 0 || j >= x->e)
		return false;
	x->b = j;
	return true;
}

/* Step 6: "[fwd:" ... "]" around the whole. */
static bool
strip_fwd(struct subj *x)
{
	if (x->e - x->b < 6 || strncasecmp(x->s + x->b, "[fwd:", 5) != 0 ||
	    x->s[x->e - 1] != ']')
		return false;
	x->b += 5;
	x->e--;
	x->reply = true;
	return true;
}

char *
mime_base_subject(struct arena *a, const char *v, size_t n, bool *reply)
{
	struct subj x;
	size_t dl;
	char *d;
	struct buf out;

	/* step 1: encoded words decoded, white space runs as one SP */
	if ((d = mime_decode_words(a, v, n, &dl)) == NULL ||
	    (d = hdr_unfold(a, d, dl, true, &dl)) == NULL)
		return NULL;
	x.s = d;
	x.b = 0;
	x.e = dl;
	x.reply = false;
	do {
		strip_trailers(&x);
		while (strip_leaders(&x) || strip_blob(&x))
			;
	} while (strip_fwd(&x));
	*reply = x.reply;
	mbuf_init(&out);
	casemap_utf8(&out, x.s + x.b, x.e - x.b);
	d = arena_strndup(a, buf_ptr(&out), buf_len(&out));
	buf_free(&out);
	return d;
}

/* ---- Message-IDs ---- */

/* The quoted string at s[i] (s[i] is '"') unquoted into out; the index
 * after it. */
static size_t
unquote(const char *s, size_t n, size_t i, struct buf *out)
{
	for (i++; i < n && s[i] != '"'; i++) {
		if (s[i] == '\\' && i + 1 < n)
			i++;
		if (!wsp(s[i]) && s[i] != '\r' && s[i] != '\n')
			buf_addc(out, s[i]);
	}
	return i < n ? i + 1 : i;
}

/* One "<...>" starting at s[i] == '<' normalized into out; false if it
 * is not a msg-id (no '>', or not "left@right"). */
static bool
msgid_at(const char *s, size_t n, size_t i, size_t *end, struct buf *out)
{
	const char *at;

	buf_reset(out);
	for (i++; i < n && s[i] != '>'; ) {
		size_t j = skip_cfws(s, n, i);

		if (j != i) {
			i = j;
			continue;
		}
		if (s[i] == '<')
			return false;
		if (s[i] == '"')
			i = unquote(s, n, i, out);
		else
			buf_addc(out, s[i++]);
	}
	*end = i;
	if (i >= n)
		return false;
	*end = i + 1;
	at = memchr(buf_ptr(out), '@', buf_len(out));
	return at != NULL && at != buf_ptr(out) &&
	    at != buf_ptr(out) + buf_len(out) - 1;
}

bool
mime_next_msgid(const char *s, size_t n, size_t *pos, struct buf *out)
{
	size_t i = *pos, end;

	while (i < n) {
		const char *lt = memchr(s + i, '<', n - i);

		if (lt == NULL)
			break;
		i = (size_t)(lt - s);
		if (msgid_at(s, n, i, &end, out)) {
			*pos = end;
			return true;
		}
		i++;
	}
	*pos = n;
	return false;
}

/* All valid msg-ids of value v, space-separated, into out; how many. */
static size_t
msgid_list(const char *v, size_t n, struct buf *out, size_t max)
{
	struct buf one;
	size_t pos = 0, count = 0;

	mbuf_init(&one);
	while (count < max && mime_next_msgid(v, n, &pos, &one)) {
		if (count++ > 0)
			buf_addc(out, ' ');
		buf_add(out, buf_ptr(&one), buf_len(&one));
	}
	buf_free(&one);
	return count;
}

/* ---- the keys of one header ---- */

static const char *
mapped(struct arena *a, const char *s, size_t n)
{
	struct buf b;
	const char *r;

	mbuf_init(&b);
	casemap_utf8(&b, s, n);
	r = arena_strndup(a, buf_ptr(&b), buf_len(&b));
	buf_free(&b);
	return r;
}

/* addr-mailbox of the first address of the field, and its display
 * value of RFC 5957 section 3: the decoded display name, else
 * "mailbox@host", else empty. */
static bool
addr_keys(struct arena *a, const char *h, size_t hlen, const char *name,
    const char **mbox, const char **disp)
{
	struct mime_addr ad;
	size_t dl;
	char *d;

	*mbox = *disp = "";
	if (!mime_first_addr(a, h, hlen, name, &ad))
		return true;
	if ((d = mime_decode_words(a, ad.name, strlen(ad.name), &dl)) == NULL ||
	    (d = hdr_unfold(a, d, dl, true, &dl)) == NULL)
		return false;
	if (dl == 0 && *ad.mbox != '\0')
		d = arena_printf(a, "%s%s%s", ad.mbox, *ad.host ? "@" : "",
		    ad.host);
	if (d == NULL)
		return false;
	*mbox = mapped(a, ad.mbox, strlen(ad.mbox));
	*disp = mapped(a, d, strlen(d));
	return *mbox != NULL && *disp != NULL;
}

static const char *
refs_of(struct arena *a, const char *h, size_t hlen)
{
	struct hfield f;
	struct buf b;
	const char *r;

	mbuf_init(&b);
	/* RFC 5256 4: References, else the first id of In-Reply-To */
	if (!hdr_find(h, hlen, "References", &f) ||
	    msgid_list(f.val, f.vlen, &b, SORT_MAX_REFS) == 0) {
		buf_reset(&b);
		if (hdr_find(h, hlen, "In-Reply-To", &f))
			msgid_list(f.val, f.vlen, &b, 1);
	}
	r = arena_strndup(a, buf_ptr(&b), buf_len(&b));
	buf_free(&b);
	return r;
}

int
mime_sortkeys(struct arena *a, const char *h, size_t hlen,
    struct sort_keys *k)
{
	struct hfield f;
	struct buf b;
	const char *unused;

	memset(k, 0, sizeof(*k));
	k->subject = "";
	if (hdr_find(h, hlen, "Subject", &f) &&
	    (k->subject = mime_base_subject(a, f.val, f.vlen, &k->reply)) ==
	    NULL)
		return -1;
	if (!addr_keys(a, h, hlen, "From", &k->from, &k->dfrom) ||
	    !addr_keys(a, h, hlen, "To", &k->to, &k->dto) ||
	    !addr_keys(a, h, hlen, "Cc", &k->cc, &unused))
		return -1;
	mbuf_init(&b);
	if (hdr_find(h, hlen, "Message-ID", &f))
		msgid_list(f.val, f.vlen, &b, 1);
	k->msgid = arena_strndup(a, buf_ptr(&b), buf_len(&b));
	buf_free(&b);
	k->refs = refs_of(a, h, hlen);
	return k->msgid != NULL && k->refs != NULL ? 0 : -1;
}
