/*
 * imap_parse_int.h - private to the IMAP parser (common/imap_parse*.c).
 *
 * The cursor over one assembled command, and the lexical primitives the
 * command grammars share: atoms, strings (quoted, literal, literal8),
 * numbers, sequence sets, flags, dates.  Every primitive either consumes
 * what it read and returns true, or records the first error in the
 * cursor and returns false; callers just propagate false.
 */
#ifndef MK_IMAP_PARSE_INT_H
#define MK_IMAP_PARSE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/imap.h"
#include "common/imap_frame.h"

/* Bounds on everything a client controls, so that a hostile command
 * costs at most linear time and memory in its length. */
#define IP_MAX_TAG		64
#define IP_MAX_DEPTH		64	/* SEARCH nesting: ( ), NOT, OR */
#define IP_MAX_SEARCH_KEYS	1024
#define IP_MAX_CANCEL		64	/* CANCELUPDATE tags */
#define IP_MAX_FETCH_ATTS	64
#define IP_MAX_HEADER_FIELDS	256
#define IP_MAX_LIST_PATTERNS	32
#define IP_MAX_ID_PAIRS		30
#define IP_MAX_FLAGS		256
#define IP_MAX_ENABLE		32
#define IP_MAX_QUOTA_RES	16
#define IP_MAX_APPEND_MSGS	1000
#define IP_MAX_CATENATE_PARTS	100	/* per message (RFC 4469) */
#define IP_MAX_META_ENTRIES	256
#define IP_MAX_NOTIFY_GROUPS	64
#define IP_MAX_NOTIFY_MAILBOXES	256	/* per SUBTREE / MAILBOXES */

#define IP_MODSEQ_MAX		INT64_MAX	/* RFC 7162: 63-bit */

/* Client text echoed in an error reason is cut to this many bytes. */
#define IP_SHOW(n)		((n) > 40 ? 40 : (n))

struct pstate {
	struct arena    *a;
	const char      *p;		/* cursor */
	const char      *end;
	const char      *err;		/* first error, NULL while fine */
	struct imap_cmd *cmd;
	size_t           nkeys;		/* SEARCH keys allocated so far */
	/* Literals the framer spooled to a file (imap_frame.h): their
	 * bytes are not in the buffer.  Entries ascend, read in order. */
	const char      *base;		/* start of the buffer */
	const struct imap_spooled *sp;
	size_t           nsp, nextsp;
	const struct imap_spooled *lit_spooled;	/* set by ip_literal */
};

/* Errors: the first one recorded wins; both return false. */
bool ip_fail(struct pstate *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool ip_oom(struct pstate *ps);
void *ip_alloc(struct pstate *ps, size_t n);

/* Character classes of RFC 3501 section 9. */
bool ip_atom_char(unsigned char c);
bool ip_astring_char(unsigned char c);
bool ip_list_char(unsigned char c);

static inline bool ip_eof(const struct pstate *ps) { return ps->p >= ps->end; }
static inline int  ip_peek(const struct pstate *ps)
{
	return ps->p < ps->end ? (unsigned char)*ps->p : -1;
}

/* Consumes c if it is next. */
bool ip_accept(struct pstate *ps, char c);
/* Expects SP then an argument: "Missing <next>" at the end of the
 * command, "Expected SP after <prev>" otherwise. */
bool ip_sp(struct pstate *ps, const char *prev, const char *next);
bool ip_expect(struct pstate *ps, char c, const char *msg);
/* The command must end here. */
bool ip_end(struct pstate *ps);

/* 1*ATOM-CHAR; pointer into the buffer, not terminated. */
bool ip_atom(struct pstate *ps, const char **s, size_t *n, const char *what);
/* Consumes kw (case-insensitively) if the next atom is exactly kw. */
bool ip_keyword(struct pstate *ps, const char *kw);
/* Same test without consuming. */
bool ip_next_is(const struct pstate *ps, const char *kw);
/* Equality of a lexed atom and a keyword, case-insensitive. */
bool ip_eq(const char *s, size_t n, const char *kw);

bool ip_number(struct pstate *ps, uint32_t *v, const char *what);
bool ip_nz_number(struct pstate *ps, uint32_t *v, const char *what);
bool ip_number64(struct pstate *ps, uint64_t max, uint64_t *v, const char *what);

/* Strings become NUL-terminated arena copies; NUL inside is an error. */
bool ip_astring(struct pstate *ps, const char **out, const char *what);
bool ip_string(struct pstate *ps, const char **out, const char *what);
bool ip_nstring(struct pstate *ps, const char **out, const char *what);
bool ip_mailbox(struct pstate *ps, const char **out);
bool ip_list_mailbox(struct pstate *ps, const char **out);
/* A literal or literal8 (only if allow8); data points into the buffer. */
bool ip_literal(struct pstate *ps, const char **data, size_t *len,
	bool *binary, bool allow8, const char *what);

bool ip_seqset(struct pstate *ps, struct seqset *out);
/* A flag (system, keyword or extension); \Recent and \* are refused,
 * as neither can be set by a client. */
bool ip_flag(struct pstate *ps, const char **out);
/* "(" [flag *(SP flag)] ")" */
bool ip_flag_list(struct pstate *ps, const char ***flags, size_t *n);
/* Appends to a growing arena array of strings, bounded by max. */
bool ip_push_str(struct pstate *ps, const char ***arr, size_t *n,
	size_t *cap, const char *s, size_t max, const char *what);

/* date: d-Mon-yyyy, bare or quoted; date-time: always quoted. */
bool ip_date(struct pstate *ps, int32_t *days);
bool ip_datetime(struct pstate *ps, struct mk_time *t);

/* The command grammars living in their own files. */
bool ip_parse_fetch(struct pstate *ps);
bool ip_parse_store(struct pstate *ps);
bool ip_parse_search(struct pstate *ps);
/* search-key *(SP search-key) up to the end, as one SK_AND (SEARCH,
 * SORT, THREAD). */
bool ip_search_criteria(struct pstate *ps, struct search_key **out);
/* "RETURN" was read: SP "(" [option *(SP option)] ")" (RFC 4731). */
bool ip_return_opts(struct pstate *ps, bool *esearch, unsigned *ret,
	struct search_partial *partial);
bool ip_parse_cancelupdate(struct pstate *ps);
bool ip_parse_sort(struct pstate *ps);
bool ip_parse_thread(struct pstate *ps);
bool ip_parse_getmetadata(struct pstate *ps);
bool ip_parse_setmetadata(struct pstate *ps);
bool ip_parse_notify(struct pstate *ps);
/* "(" fetch-att *(SP fetch-att) ")" (NOTIFY's MessageNew). */
bool ip_fetch_att_list(struct pstate *ps, struct fetch_att **atts);
bool ip_parse_resetkey(struct pstate *ps);
bool ip_parse_genurlauth(struct pstate *ps);
bool ip_parse_urlfetch(struct pstate *ps);

#endif
