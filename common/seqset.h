/*
 * seqset.h - IMAP sequence sets (RFC 3501 sequence-set, RFC 5182 "$").
 *
 * As parsed, a set keeps the client's ranges with 0 standing for '*'.
 * seqset_resolve() turns it into sorted, merged, non-overlapping ranges
 * against a concrete maximum (message count or highest UID), which is
 * what executors iterate and search.
 */
#ifndef MK_SEQSET_H
#define MK_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

#define SEQ_STAR 0u

struct seq_range {
	uint32_t lo, hi;	/* parsed: either may be SEQ_STAR, lo may exceed hi */
};

struct seqset {
	struct seq_range *r;
	size_t            n;
	bool              dollar;	/* "$": the saved SEARCHRES result */
};

/* Parses s[0..len) as a sequence-set or "$"; -1 on syntax error
 * (0 is not a valid number; ranges are "a:b", "*", "a:*"). */
int  seqset_parse(struct arena *a, const char *s, size_t len, struct seqset *out);

/* Normalized copy: '*' replaced by max, a:b ordered, sorted, merged.
 * With max == 0 ranges touching '*' are dropped (empty mailbox) and
 * numbers above max are kept (UID sets may name UIDs that don't exist). */
void seqset_resolve(struct arena *a, const struct seqset *in, uint32_t max,
	struct seqset *out);

/* On a resolved set. */
bool     seqset_contains(const struct seqset *s, uint32_t v);
uint64_t seqset_count(const struct seqset *s);
/* Builds a resolved set from sorted (not necessarily unique) values. */
void     seqset_from_sorted(struct arena *a, const uint32_t *v, size_t n,
	struct seqset *out);
/* The resolved set in, less the sorted values v[0..n), and at most max:
 * e.g. the UIDs a client may know of that no longer exist. */
void     seqset_minus_sorted(struct arena *a, const struct seqset *in,
	const uint32_t *v, size_t n, uint32_t max, struct seqset *out);
/* Writes a resolved set compactly, e.g. "1:3,7,9:12"; "" if empty.
 * Returns bytes that would be written (snprintf semantics). */
size_t   seqset_format(const struct seqset *s, char *out, size_t outlen);

#endif
