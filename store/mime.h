/*
 * mime.h - the message model: what FETCH and SEARCH need from a
 * message's bytes, computed once when the message is stored.
 *
 * mime_analyze() parses a message (RFC 5322 + MIME, tolerant of what
 * real mail does wrong) and returns, ready to send, the IMAP ENVELOPE,
 * BODY and BODYSTRUCTURE values, the Date: header as an instant, and a
 * compact serialized part table.  The store keeps all of it beside the
 * message, so FETCH never parses MIME again: mime_section() maps a
 * section of BODY[...] to a byte range of the stored message using the
 * part table alone, mime_header_fields() filters a header block for
 * HEADER.FIELDS[.NOT], mime_decode() does the BINARY decoding of one
 * part, and mime_search_match() evaluates the text keys of SEARCH.
 *
 * Callers: store/ at APPEND/COPY/delivery (mime_analyze), the mailbox
 * process for FETCH and SEARCH (everything else).
 *
 * Offsets refer to exactly the bytes given to mime_analyze(): the store
 * must keep those bytes unchanged.  IMAP sizes assume CRLF line ends, so
 * a caller that accepts bare-LF mail should pass it through
 * mime_normalize_crlf() first and store the result (as Dovecot counts
 * its "virtual" sizes); mime_analyze() itself handles LF-only input and
 * then reports the sizes of the bytes as they are.
 *
 * Decisions where the RFCs leave room.  The golden corpus
 * (tests/corpus) was compared item by item with Dovecot 2.3.19; we
 * follow it except where marked (*), for the reason given.
 * - Sections: a part that does not exist, and HEADER/TEXT/HEADER.FIELDS
 *   of a part that is not message/rfc822, give MIME_NOPART, and FETCH
 *   then answers "" (BINARY.SIZE 0), not NIL and not an error.  [1] of
 *   a non-multipart message is its body, [1.MIME] its header; [n.MIME]
 *   of a message/rfc822 part is that part's own MIME header.
 * - HEADER.FIELDS[.NOT] always end with the blank line (*Dovecot omits
 *   it for .NOT when the header block has none).
 * - ENVELOPE: duplicate address fields are merged into one list; of
 *   duplicate Date/Subject/In-Reply-To/Message-ID the last counts; a
 *   missing mailbox or host is "MISSING_MAILBOX"/"MISSING_DOMAIN";
 *   subjects and display names have folding removed and white space
 *   collapsed, encoded words are not decoded.  (*) A quoted local part
 *   keeps its quotes ("john q"), so mailbox@host stays a valid
 *   address; Date/Message-ID/In-Reply-To are trimmed.
 * - BODYSTRUCTURE: types, parameters and encodings as the message
 *   spells them (*Dovecot lowercases a bare "TEXT/PLAIN; CHARSET=
 *   US-ASCII"); defaults in lower case; "charset" "us-ascii" appended to
 *   text parts without a charset; RFC 2231 continuations joined into
 *   "name*" with the raw values concatenated.  (*) A Content-Type
 *   without "type/subtype" means text/plain (RFC 2045 5.2); a CTE
 *   written with a comment or folded is still understood; message/global
 *   is encapsulated like message/rfc822 (RFC 6532); a message/rfc822
 *   with a base64/QP encoding is not parsed (empty envelope and body,
 *   as Dovecot sends, but BINARY decodes it).
 * - Multipart: first Content-* field of each name counts; a multipart
 *   without boundary or without any part gets one empty text/plain part.
 *   (*) A delimiter line is "--boundary" followed only by white space or
 *   "--" (Dovecot also takes "--boundaryXYZ", mistaking other lines and
 *   longer inner boundaries for delimiters); the line end before a
 *   delimiter belongs to the delimiter, also right after an inner close
 *   delimiter (Dovecot then counts it into the inner part, 2 bytes more).
 * - BINARY (RFC 3516) decodes leaves; a multipart or message part,
 *   whose own encoding can only be an identity, is returned as stored
 *   (*Dovecot also decodes the leaves inside it).  Damaged base64/QP
 *   decodes leniently with MIME_DEC_INVALID, and the caller chooses
 *   (Dovecot answers NO [PARSE]).
 * - Sizes and line counts are those of the stored bytes (*with bare LF
 *   input Dovecot counts CRLF; hence mime_normalize_crlf() at APPEND).
 * - Limits: MIME_MAX_DEPTH levels of nesting and MIME_MAX_PARTS parts
 *   (Dovecot: 100 and 10000); a multipart or message/rfc822 entity past
 *   a limit is reported as an application/octet-stream leaf (its bytes
 *   stay reachable by section) and mime_result.truncated is set.
 */
#ifndef MK_MIME_H
#define MK_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/imap.h"
#include "common/imapdate.h"

struct arena;
struct buf;

#define MIME_PARTS_VERSION 1	/* first byte of every part table */
#define MIME_MAX_DEPTH     64	/* nesting of multipart and message/rfc822 */
#define MIME_MAX_PARTS     5000	/* entities per message */
#define MIME_CHARSET_MAX   40	/* longer charset names are not kept */

enum mime_enc {
	MIME_ENC_7BIT, MIME_ENC_8BIT, MIME_ENC_BINARY,
	MIME_ENC_BASE64, MIME_ENC_QP,
	MIME_ENC_UNKNOWN	/* BINARY answers NO [UNKNOWN-CTE] */
};

enum mime_class {
	MIME_CLASS_OTHER,	/* any leaf that is not text/ */
	MIME_CLASS_TEXT,	/* text/ leaf: has body-fld-lines, searched */
	MIME_CLASS_MULTIPART,
	MIME_CLASS_MESSAGE,	/* message/rfc822 or message/global */
};

/* Part flags */
#define MIME_PF_DECODED_SIZE 0x01	/* decoded_size is known */
#define MIME_PF_INVALID      0x02	/* content does not decode cleanly */
#define MIME_PF_TEXTLIKE     0x04	/* a message/ leaf (delivery-status,
					 * ...): searched as text, as Dovecot */

/* One IMAP body part, as read back from a part table.  The root
 * (npath == 0) is the message itself. */
struct mime_part {
	uint32_t        path[MIME_MAX_DEPTH + 1];
	unsigned        npath;
	enum mime_class cls;
	enum mime_enc   enc;
	unsigned        flags;		/* MIME_PF_* */
	uint64_t        hdr_off, hdr_len;	/* MIME header, blank line included */
	uint64_t        body_off, body_len;	/* body, in its transfer encoding */
	uint64_t        lines;		/* body-fld-lines */
	uint64_t        decoded_size;	/* BINARY.SIZE, if MIME_PF_DECODED_SIZE */
	/* MIME_CLASS_MESSAGE: the encapsulated message's header and body */
	uint64_t        msg_hdr_off, msg_hdr_len, msg_body_off, msg_body_len;
	char            charset[MIME_CHARSET_MAX + 1];	/* "" if none given */
};

/* What mime_analyze() returns; everything lives in the caller's arena.
 * The three structure strings are complete IMAP values (parenthesised
 * lists; strings that need it are literals "{n}\r\n...").  They are not
 * NUL-terminated: use the lengths. */
/* What SORT and THREAD need of a message (RFC 5256, RFC 5957), from its
 * header (mime_sortkey.c).  Strings are in the canonical form of the
 * i;unicode-casemap collation (memcmp order), "" when absent. */
#define SORT_MAX_REFS 1000	/* References ids kept per message */
struct sort_keys {
	const char *subject;	/* base subject */
	bool        reply;	/* the subject said reply or forward */
	const char *from, *to, *cc;	/* addr-mailbox of the first address */
	const char *dfrom, *dto;	/* display values (RFC 5957) */
	const char *msgid;	/* normalized Message-ID, "" if none valid */
	const char *refs;	/* the references of RFC 5256 section 4,
				 * normalized ids separated by SP */
};

struct mime_result {
	const char          *envelope;
	size_t               envelope_len;
	const char          *body;		/* FETCH BODY (non-extensible) */
	size_t               body_len;
	const char          *bodystructure;
	size_t               bodystructure_len;
	bool                 has_date;		/* Date: was present and readable */
	struct mk_time       date;
	const unsigned char *parts;		/* serialized part table */
	size_t               parts_len;
	unsigned             nparts;		/* records in the table */
	bool                 truncated;		/* a limit was reached */
	struct sort_keys     sort;
};

/* Analyzes msg[0..len).  Never fails on bad MIME; -1 only when the arena
 * ceiling is reached (out of memory for the structure). */
int  mime_analyze(struct arena *a, const char *msg, size_t len,
	struct mime_result *out);

/* Bare LF -> CRLF (a lone CR is left alone).  *out is msg itself when
 * nothing needed changing.  -1 when the arena ceiling is reached. */
int  mime_normalize_crlf(struct arena *a, const char *msg, size_t len,
	const char **out, size_t *outlen);

/* A message with NUL octets, with every part whose body holds one stored
 * base64-encoded instead (RFC 3516 4.4); *out is msg itself when there
 * is no NUL.  -1 on the arena ceiling. */
int  mime_encode_nul_parts(struct arena *a, const char *msg, size_t len,
	const char **out, size_t *outlen);
/* The same, written piecewise through put (which returns -1 to stop),
 * so that a large message need not be rebuilt in memory; writes msg
 * unchanged when it has no NUL.  The structure is analyzed in a. */
typedef int (*mime_put_fn)(void *arg, const char *p, size_t n);
int  mime_encode_nul_parts_to(struct arena *a, const char *msg, size_t len,
	mime_put_fn put, void *arg);

/* ---- the part table ---- */

#define MIME_NOPART 1	/* no such part (sections, BINARY) */

/* Walks the records in order (cheaper than mime_parts_get() per i). */
struct mime_parts_iter {
	const unsigned char *p;
	size_t               n, i;
	unsigned             left;
};
/* 0, or -1 if the blob is not a part table this code can read. */
int  mime_parts_first(struct mime_parts_iter *it, const void *parts,
	size_t plen);
/* 1 and the next record in *out, 0 after the last, -1 corrupt. */
int  mime_parts_next(struct mime_parts_iter *it, struct mime_part *out);

/* Number of records, or -1 if the blob is not a part table this code
 * can read (wrong version, truncated). */
int  mime_parts_count(const void *parts, size_t plen);
/* Record i (0 = the root message, then IMAP parts in pre-order).
 * 0, or -1 if i is out of range or the blob is corrupt. */
int  mime_parts_get(const void *parts, size_t plen, unsigned i,
	struct mime_part *out);
/* The record whose section path is path[0..npath); npath 0 = the root.
 * 0 found, MIME_NOPART if no such part, -1 corrupt blob. */
int  mime_parts_find(const void *parts, size_t plen, const uint32_t *path,
	size_t npath, struct mime_part *out);

/* ---- sections ---- */

/* Where BODY[section] is in the message of msglen bytes: *off and *len.
 * For SEC_HEADER_FIELDS[_NOT] the range is the header block to give to
 * mime_header_fields().  0 found, MIME_NOPART (answer ""), -1 corrupt. */
int  mime_section(const void *parts, size_t plen, uint64_t msglen,
	const struct fetch_section *sec, uint64_t *off, uint64_t *len);

/* HEADER.FIELDS (not_ false) or HEADER.FIELDS.NOT (not_ true) of the
 * header block hdr[0..hlen): the matching fields whole (folded lines
 * kept), in message order, then the blank line (CRLF) that RFC 3501
 * requires, even when the block itself has none.  Names match
 * case-insensitively.  Allocated in a; -1 only on the arena ceiling. */
int  mime_header_fields(struct arena *a, const char *hdr, size_t hlen,
	const char *const *fields, size_t nfields, bool not_,
	char **out, size_t *outlen);

/* The BODYSTRUCTURE of part path[0..npath) (npath 0: the message),
 * cut from the message's stored one bs[0..len): *out points into bs.
 * 0, MIME_NOPART, or -1 if bs is malformed. */
int  mime_part_structure(const char *bs, size_t len, const uint32_t *path,
	size_t npath, const char **out, size_t *outlen);
/* A leaf part's structure bs[0..len) as BINARY gives it, decoded to
 * data[0..dlen): identity encoding, decoded size (RFC 5524 3.2);
 * containers unchanged.  *out may be bs or in a.  0, or -1. */
int  mime_part_structure_decoded(struct arena *a, const char *bs,
	size_t len, const char *data, size_t dlen, const char **out,
	size_t *outlen);

/* ---- BINARY (RFC 3516) ---- */

enum mime_decode_status {
	MIME_DEC_OK = 0,
	MIME_DEC_NOPART = MIME_NOPART,	/* answer "" as for BODY[] */
	MIME_DEC_INVALID = 2,	/* decoded leniently; the input was damaged */
	MIME_DEC_UNKNOWN_CTE = 3,	/* nothing decoded: NO [UNKNOWN-CTE] */
};

/* BINARY[path]: the part's body with its transfer encoding removed.  A
 * leaf is decoded (base64, quoted-printable; identity encodings are
 * returned as they are); a multipart or message/rfc822 part, whose
 * encoding can only be an identity one, is returned as stored; the
 * empty path is the whole message as stored.  *out points into msg or
 * into a.  Returns a MIME_DEC_* status, or -1 (corrupt table, arena
 * ceiling).  On MIME_DEC_INVALID the lenient decoding is in *out. */
int  mime_binary(struct arena *a, const char *msg, size_t len,
	const void *parts, size_t plen, const uint32_t *path, size_t npath,
	const char **out, size_t *outlen);
/* BINARY.SIZE[path] from the part table alone: the length mime_binary()
 * would return.  Same statuses. */
int  mime_binary_size(const void *parts, size_t plen, uint64_t msglen,
	const uint32_t *path, size_t npath, uint64_t *size);

/* Decodes src[0..len) from transfer encoding enc.  For identity
 * encodings *out is src itself; for an unknown one, NULL.  Returns
 * MIME_DEC_OK, MIME_DEC_INVALID or MIME_DEC_UNKNOWN_CTE, or -1 on the
 * arena ceiling. */
int  mime_decode(struct arena *a, enum mime_enc enc, const char *src,
	size_t len, const char **out, size_t *outlen);
/* Decoded size without keeping the result; -1 for an unknown encoding. */
int64_t mime_decoded_size(enum mime_enc enc, const char *src, size_t len,
	bool *invalid);

/* ---- SEARCH ---- */

/* Evaluates one text key (SK_FROM, SK_TO, SK_CC, SK_BCC, SK_SUBJECT,
 * SK_HEADER, SK_BODY, SK_TEXT) against a message and its part table;
 * k->str is UTF-8 (the executor refuses other SEARCH CHARSETs).  1 match, 0 no match, -1 for another key type or a corrupt
 * part table.  Header values are matched after RFC 2047 decoding, bodies
 * of text parts after transfer decoding and conversion to UTF-8; the
 * comparison is a case-insensitive substring match (ASCII, Latin-1
 * supplement, Latin Extended-A, Greek and Cyrillic letters folded).
 * HEADER with an empty string matches when the field is present. */
int  mime_search_match(const char *msg, size_t len, const void *parts,
	size_t plen, const struct search_key *k);
/* The folded needle mime_search_match() looks for (header keys: runs of
 * white space as one SP). */
void mime_search_needle(struct buf *out, const struct search_key *k);

/* The texts of the full-text index (store_fts.c): per column, the units
 * mime_search_match() compares with, folded, made valid UTF-8 (a byte
 * that is not becomes U+FFFD) and joined by U+FFFD.  A needle that
 * mime_fts_needle() accepts is found in a column exactly when the
 * matcher finds it in one of the column's units.  Columns: the five
 * header keys, every header block (TEXT's headers), every text part
 * (BODY).  0; 1 when more than max bytes (nothing usable); -1 for a
 * corrupt part table.  cols[] are initialized buffers, appended to. */
enum {
	MIME_FTS_SUBJECT, MIME_FTS_FROM, MIME_FTS_TO, MIME_FTS_CC,
	MIME_FTS_BCC, MIME_FTS_HEADERS, MIME_FTS_BODY, MIME_FTS_NCOLS
};
int  mime_fts_doc(const char *msg, size_t len, const void *parts, size_t plen,
	size_t max, struct buf cols[MIME_FTS_NCOLS]);
/* The spans of a message of msglen bytes that mime_fts_doc() reads: the
 * root's header, every encapsulated message's header, every text part's
 * body; fn(arg, off, len) for each, in the part table's order.  0; 1
 * when a text part is longer than max (mime_fts_doc() gives 1 for it,
 * having read no more); -1 for a corrupt table, or when fn gives -1. */
int  mime_fts_spans(const void *parts, size_t plen, uint64_t msglen,
	size_t max, int (*fn)(void *arg, uint64_t off, uint64_t len),
	void *arg);
/* Whether the index can answer needle s[0..n) (folded) exactly: valid
 * UTF-8 of 3 characters or more (trigrams), no U+FFFD-U+FFFF. */
bool mime_fts_needle(const char *s, size_t n);

/* ---- helpers shared with the rest of the store ---- */

/* RFC 2047 decoding of a header value into UTF-8; the bytes of a word
 * in a charset iconv does not know are kept as they decode, a malformed
 * word is kept as written.  Line ends are dropped.  Allocated in a;
 * NULL on the arena ceiling. */
char *mime_decode_words(struct arena *a, const char *s, size_t len,
	size_t *outlen);

/* ---- PREVIEW (RFC 8970; mime_preview.c) ---- */

#define MIME_PREVIEW_MAX 256	/* characters (RFC 8970 3: at most 256) */
/* Appends to out the preview of the message: the text of its first
 * plain (else HTML) text part, decoded, white space collapsed, at most
 * MIME_PREVIEW_MAX characters of valid UTF-8; nothing when it has no
 * such part.  0, or -1 when memory ran out. */
int  mime_preview(struct arena *a, const char *msg, size_t len,
	const void *parts, size_t plen, struct buf *out);

/* ---- sort keys (mime_sortkey.c) ---- */

/* The keys of the header block h[0..hlen); -1 on the arena ceiling. */
int   mime_sortkeys(struct arena *a, const char *h, size_t hlen,
	struct sort_keys *k);
/* The base subject (RFC 5256 2.1) of a raw Subject value, canonical
 * (i;unicode-casemap); *reply as RFC 5256 section 4 defines a reply or
 * forward.  NULL on the arena ceiling. */
char *mime_base_subject(struct arena *a, const char *v, size_t n,
	bool *reply);
/* The next valid msg-id of s[*pos..n) normalized into out (reset
 * first): brackets, quoting, comments and white space removed; false
 * when there is none left. */
bool  mime_next_msgid(const char *s, size_t n, size_t *pos, struct buf *out);

#endif
