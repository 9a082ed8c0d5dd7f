/*
 * seqset.c - IMAP sequence sets: parsing, resolving against a mailbox,
 * membership, counting and compact formatting.
 *
 * Used by the parser (every set a client sends), by the mailbox process
 * (resolving sets against message counts and UIDs, SEARCHRES "$") and by
 * response writers (COPYUID, ESEARCH ALL, VANISHED).
 */
#include "common/seqset.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One seq-number: nz-number (32-bit) or "*".  Returns chars used, 0 on
 * error. */
static size_t
parse_seqnum(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return 0;
	if (s[0] == '*') {
		*out = SEQ_STAR;
		return 1;
	}
	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return 0;
	}
	if (i == 0 || v == 0)
		return 0;
	*out = (uint32_t)v;
	return i;
}

int
seqset_parse(struct arena *a, const char *s, size_t len, struct seqset *out)
{
	size_t i, n = 1, k = 0, used;

	memset(out, 0, sizeof(*out));
	if (len == 1 && s[0] == '$') {
		out->dollar = true;
		return 0;
	}
	for (i = 0; i < len; i++)
		if (s[i] == ',')
			n++;
	if ((out->r = arena_array(a, n, sizeof(*out->r))) == NULL)
		return -1;
	for (i = 0; i < len; ) {
		struct seq_range *r = &out->r[k++];

		if ((used = parse_seqnum(s + i, len - i, &r->lo)) == 0)
			return -1;
		i += used;
		r->hi = r->lo;
		if (i < len && s[i] == ':') {
			i++;
			if ((used = parse_seqnum(s + i, len - i, &r->hi)) == 0)
				return -1;
			i += used;
		}
		if (i == len)
			break;
		/* A separator must be followed by another element. */
		if (s[i] != ',' || i + 1 == len)
			return -1;
		i++;
	}
	if (k != n)
		return -1;
	out->n = n;
	return 0;
}

static int
range_cmp(const void *x, const void *y)
{
	const struct seq_range *a = x, *b = y;

	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	return 0;
}

/* Sorts and merges overlapping or adjacent ranges in place. */
static size_t
merge_ranges(struct seq_range *r, size_t n)
{
	size_t i, k = 0;

	if (n == 0)
		return 0;
	qsort(r, n, sizeof(*r), range_cmp);
	for (i = 1; i < n; i++) {
		/* Adjacent: hi + 1 == lo, written to avoid overflow. */
		if (r[i].lo <= r[k].hi || r[i].lo - 1 == r[k].hi) {
			if (r[i].hi > r[k].hi)
				r[k].hi = r[i].hi;
		} else
			r[++k] = r[i];
	}
	return k + 1;
}

void
seqset_resolve(struct arena *a, const struct seqset *in, uint32_t max,
    struct seqset *out)
{
	size_t i, k = 0;

	memset(out, 0, sizeof(*out));
	out->dollar = in->dollar;
	if (in->n == 0)
		return;
	if ((out->r = arena_array(a, in->n, sizeof(*out->r))) == NULL)
		return;
	for (i = 0; i < in->n; i++) {
		uint32_t lo = in->r[i].lo, hi = in->r[i].hi;

		if (lo == SEQ_STAR || hi == SEQ_STAR) {
			/* '*' means nothing in an empty mailbox. */
			if (max == 0)
				continue;
			if (lo == SEQ_STAR)
				lo = max;
			if (hi == SEQ_STAR)
				hi = max;
		}
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		out->r[k].lo = lo;
		out->r[k].hi = hi;
		k++;
	}
	out->n = merge_ranges(out->r, k);
}

bool
seqset_contains(const struct seqset *s, uint32_t v)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v < s->r[mid].lo)
			hi = mid;
		else if (v > s->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

uint64_t
seqset_count(const struct seqset *s)
{
	uint64_t c = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		c += (uint64_t)s->r[i].hi - s->r[i].lo + 1;
	return c;
}

void
seqset_from_sorted(struct arena *a, const uint32_t *v, size_t n,
    struct seqset *out)
{
	size_t i, k = 0;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	/* Count runs first so the array is exact. */
	size_t runs = 1;
	for (i = 1; i < n; i++)
		if (v[i] != v[i - 1] && v[i] - 1 != v[i - 1])
			runs++;
	if ((out->r = arena_array(a, runs, sizeof(*out->r))) == NULL)
		return;
	out->r[0].lo = out->r[0].hi = v[0];
	for (i = 1; i < n; i++) {
		if (v[i] == out->r[k].hi)
			continue;
		if (v[i] - 1 == out->r[k].hi)
			out->r[k].hi = v[i];
		else {
			k++;
			out->r[k].lo = out->r[k].hi = v[i];
		}
	}
	out->n = k + 1;
}

void
seqset_minus_sorted(struct arena *a, const struct seqset *in,
    const uint32_t *v, size_t n, uint32_t max, struct seqset *out)
{
	size_t j = 0, k = 0;

	memset(out, 0, sizeof(*out));
	/* Each value removed splits at most one range in two. */
	if ((out->r = arena_array(a, in->n + n + 1, sizeof(*out->r))) == NULL)
		return;
	for (size_t i = 0; i < in->n && in->r[i].lo <= max; i++) {
		uint32_t lo = in->r[i].lo, hi = MK_MIN(in->r[i].hi, max);
		while (j < n && v[j] < lo)
			j++;
		for (; j < n && v[j] <= hi; j++) {
			if (v[j] > lo)
				out->r[k++] = (struct seq_range){ lo, v[j] - 1 };
			if (v[j] == hi)
				break;
			lo = v[j] + 1;
		}
		if (j < n && v[j] == hi)
			continue;
		out->r[k++] = (struct seq_range){ lo, hi };
	}
	out->n = k;
}

size_t
seqset_format(const struct seqset *s, char *out, size_t outlen)
{
	size_t i, total = 0;
	char tmp[32];

	if (outlen > 0)
		out[0] = '\0';
	for (i = 0; i < s->n; i++) {
		int w;

		if (s->r[i].lo == s->r[i].hi)
			w = snprintf(tmp, sizeof(tmp), "%s%u", i ? "," : "",
			    s->r[i].lo);
		else
			w = snprintf(tmp, sizeof(tmp), "%s%u:%u", i ? "," : "",
			    s->r[i].lo, s->r[i].hi);
		if (w < 0)
			w = 0;
		/* Copy what fits, keep counting what would have been. */
		if (total + 1 < outlen) {
			size_t room = outlen - total - 1;
			size_t c = (size_t)w < room ? (size_t)w : room;
			memcpy(out + total, tmp, c);
			out[total + c] = '\0';
		}
		total += (size_t)w;
	}
	return total;
}
