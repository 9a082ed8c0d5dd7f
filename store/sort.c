/*
 * sort.c - ordering loaded messages for SORT (RFC 5256 section 3, RFC
 * 5957) and writing the answers' numbers; THREAD is thread.c's.
 *
 * Strings are compared as the octets of their stored canonical forms
 * (i;unicode-casemap, casemap.c); dates and sizes as numbers; every tie
 * goes to the lower sequence number.
 */
#include "store/sort.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* ---- SORT ---- */

#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b))

static int
cmp_key(const struct sort_msg *a, const struct sort_msg *b,
    enum sort_crit_type t)
{
	switch (t) {
	case SORT_ARRIVAL:
		return CMP(a->arrival, b->arrival);
	case SORT_DATE:
		return CMP(a->date, b->date);
	case SORT_SIZE:
		return CMP(a->size, b->size);
	case SORT_SUBJECT:
		return strcmp(a->k.subject, b->k.subject);
	case SORT_FROM:
		return strcmp(a->k.from, b->k.from);
	case SORT_TO:
		return strcmp(a->k.to, b->k.to);
	case SORT_CC:
		return strcmp(a->k.cc, b->k.cc);
	case SORT_DISPLAYFROM:
		return strcmp(a->k.dfrom, b->k.dfrom);
	case SORT_DISPLAYTO:
		return strcmp(a->k.dto, b->k.dto);
	}
	return 0;
}

struct crits {
	const struct sort_crit *c;
	size_t                  n;
};

static int
cmp_msgs(const void *pa, const void *pb, void *arg)
{
	const struct sort_msg *a = *(struct sort_msg *const *)pa;
	const struct sort_msg *b = *(struct sort_msg *const *)pb;
	const struct crits *cr = arg;

	for (size_t i = 0; i < cr->n; i++) {
		int r = cmp_key(a, b, cr->c[i].type);

		if (r != 0)
			return cr->c[i].reverse ? -r : r;
	}
	return CMP(a->seq, b->seq);
}

int
sort_cmp(const struct sort_msg *a, const struct sort_msg *b,
    const struct sort_crit *c, size_t nc)
{
	struct crits cr = { c, nc };

	return cmp_msgs(&a, &b, &cr);
}

bool
sort_needs_keys(const struct sort_crit *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].type != SORT_ARRIVAL && c[i].type != SORT_DATE &&
		    c[i].type != SORT_SIZE)
			return true;
	return false;
}

void
sort_msgs(struct sort_msg **msgs, size_t n, const struct sort_crit *c,
    size_t nc)
{
	struct crits cr = { c, nc };

	qsort_r(msgs, n, sizeof(*msgs), cmp_msgs, &cr);
}

/* "123" or " 123": what the answers are made of, 100,000 times
 * (faster than printf). */
void
sort_put_num(struct buf *out, uint32_t v, bool sp)
{
	char d[11], *p = d + sizeof(d);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (sp)
		*--p = ' ';
	buf_add(out, p, (size_t)(d + sizeof(d) - p));
}

void
sort_write(struct buf *out, struct sort_msg *const *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sort_put_num(out, msgs[i]->num, true);
}

void
sort_write_set(struct buf *out, struct sort_msg *const *msgs, size_t n)
{
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && msgs[j]->num == msgs[j - 1]->num + 1;
		    j++)
			;
		if (i > 0)
			buf_addc(out, ',');
		sort_put_num(out, msgs[i]->num, false);
		if (j - i > 1) {
			buf_addc(out, ':');
			sort_put_num(out, msgs[j - 1]->num, false);
		}
	}
}
