/*
 * imap.h - IMAP commands as typed values.
 *
 * The parser (common/imap_parse*.c) turns one framed command into a
 * struct imap_cmd whose strings and lists live in the command's arena.
 * It checks syntax only; whether a command is allowed in the current
 * state, and what it means, is the executor's business (auth/login for
 * the not-authenticated state, daemon/mailbox for the rest).
 *
 * Grammar: RFC 3501 section 9 and RFC 9051 section 9, with the extension
 * syntax of the capabilities Mailkeep offers (RFC 4466 collects most).
 * Strings are byte strings: they may contain anything a quoted string or
 * literal can carry, except NUL (which the parser rejects with BAD), so
 * they are also valid C strings.
 */
#ifndef MK_IMAP_H
#define MK_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/imapdate.h"
#include "common/seqset.h"

enum imap_cmd_id {
	CMD_UNKNOWN = 0,
	/* any state */
	CMD_CAPABILITY, CMD_NOOP, CMD_LOGOUT, CMD_ID,
	/* not authenticated */
	CMD_STARTTLS, CMD_AUTHENTICATE, CMD_LOGIN,
	/* authenticated */
	CMD_ENABLE, CMD_SELECT, CMD_EXAMINE, CMD_CREATE, CMD_DELETE, CMD_RENAME,
	CMD_SUBSCRIBE, CMD_UNSUBSCRIBE, CMD_LIST, CMD_LSUB, CMD_STATUS,
	CMD_APPEND, CMD_NAMESPACE, CMD_IDLE,
	CMD_GETQUOTA, CMD_GETQUOTAROOT, CMD_SETQUOTA,
	CMD_GETACL, CMD_SETACL, CMD_DELETEACL, CMD_LISTRIGHTS, CMD_MYRIGHTS,
	CMD_PROXYAUTH,
	CMD_COMPRESS,
	CMD_GETMETADATA, CMD_SETMETADATA,
	CMD_NOTIFY,
	CMD_RESETKEY, CMD_GENURLAUTH, CMD_URLFETCH,
	CMD_UNAUTHENTICATE,	/* RFC 8437: authenticated and selected */
	/* selected */
	CMD_CHECK, CMD_CLOSE, CMD_UNSELECT, CMD_EXPUNGE, CMD_SEARCH, CMD_FETCH,
	CMD_STORE, CMD_COPY, CMD_MOVE,
	CMD_SORT, CMD_THREAD,
	CMD_CANCELUPDATE,
	CMD_COUNT
};

/* ---- FETCH ---- */

enum fetch_item {
	FI_FLAGS, FI_UID, FI_INTERNALDATE, FI_RFC822_SIZE, FI_ENVELOPE,
	FI_BODY,		/* "BODY" alone: non-extensible structure */
	FI_BODYSTRUCTURE,
	FI_RFC822,		/* = BODY[] (sets \Seen) */
	FI_RFC822_HEADER,	/* = BODY.PEEK[HEADER] */
	FI_RFC822_TEXT,		/* = BODY[TEXT] (sets \Seen) */
	FI_BODY_SECTION,	/* BODY[...] and BODY.PEEK[...] */
	FI_BINARY,		/* BINARY[...] and BINARY.PEEK[...] (RFC 3516) */
	FI_BINARY_SIZE,		/* BINARY.SIZE[...] */
	FI_MODSEQ,		/* RFC 7162 */
	FI_EMAILID, FI_THREADID,	/* RFC 8474 */
	FI_SAVEDATE,		/* RFC 8514 */
	FI_PREVIEW,		/* RFC 8970; lazy: the LAZY modifier */
};

enum section_spec {
	SEC_WHOLE,		/* BODY[] or BODY[1.2]: the whole part */
	SEC_HEADER,		/* [HEADER], [1.2.HEADER] (message/rfc822 parts) */
	SEC_HEADER_FIELDS,
	SEC_HEADER_FIELDS_NOT,
	SEC_TEXT,
	SEC_MIME,		/* only after a part number */
};

#define MK_MAX_PART_DEPTH 64

struct fetch_section {
	uint32_t         *part;		/* part numbers, e.g. 1.2.3 -> {1,2,3} */
	size_t            npart;
	enum section_spec spec;
	const char      **fields;	/* HEADER.FIELDS[.NOT] names, as sent */
	size_t            nfields;
};

struct fetch_att {
	enum fetch_item      item;
	bool                 peek;	/* .PEEK variants */
	bool                 lazy;	/* PREVIEW (LAZY) */
	struct fetch_section sec;	/* BODY[..], BINARY[..], BINARY.SIZE[..] */
	bool                 partial;	/* <offset.count> given */
	uint32_t             offset, count;
	struct fetch_att    *next;
};

struct fetch_args {
	struct seqset     set;
	struct fetch_att *atts;		/* macros ALL/FAST/FULL already expanded */
	bool              changedsince_set;
	uint64_t          changedsince;	/* CHANGEDSINCE modifier (RFC 7162) */
	bool              vanished;	/* VANISHED modifier (UID FETCH only) */
};

/* ---- SEARCH ---- */

enum search_key_type {
	SK_ALL, SK_ANSWERED, SK_DELETED, SK_DRAFT, SK_FLAGGED, SK_NEW, SK_OLD,
	SK_RECENT, SK_SEEN, SK_UNANSWERED, SK_UNDELETED, SK_UNDRAFT,
	SK_UNFLAGGED, SK_UNSEEN,
	SK_KEYWORD, SK_UNKEYWORD,			/* str */
	SK_BCC, SK_CC, SK_FROM, SK_TO, SK_SUBJECT,	/* str */
	SK_BODY, SK_TEXT,				/* str */
	SK_HEADER,					/* field, str */
	SK_BEFORE, SK_ON, SK_SINCE,			/* date (internal) */
	SK_SENTBEFORE, SK_SENTON, SK_SENTSINCE,		/* date (Date:) */
	SK_LARGER, SK_SMALLER,				/* num */
	SK_OLDER, SK_YOUNGER,				/* num: seconds (RFC 5032) */
	SK_SEQSET,					/* set */
	SK_UID,						/* set */
	SK_MODSEQ,					/* num (RFC 7162) */
	SK_AND,						/* child list */
	SK_OR,						/* exactly two children */
	SK_NOT,						/* exactly one child */
	SK_EMAILID, SK_THREADID,			/* str (RFC 8474) */
	SK_SAVEDBEFORE, SK_SAVEDON, SK_SAVEDSINCE,	/* date (RFC 8514) */
	SK_SAVEDATESUPPORTED,				/* RFC 8514 */
};

struct search_key {
	enum search_key_type type;
	const char          *str;
	const char          *field;
	uint64_t             num;
	int32_t              date;	/* days since 1970-01-01 */
	struct seqset        set;
	struct search_key   *child;	/* first child */
	struct search_key   *next;	/* next sibling */
};

/* ESEARCH RETURN options (RFC 4731, RFC 5182) */
#define SEARCH_RET_MIN   0x01
#define SEARCH_RET_MAX   0x02
#define SEARCH_RET_ALL   0x04
#define SEARCH_RET_COUNT 0x08
#define SEARCH_RET_SAVE  0x10
/* CONTEXT=SEARCH / CONTEXT=SORT (RFC 5267 4.3, 4.4; RFC 9394) */
#define SEARCH_RET_UPDATE  0x20
#define SEARCH_RET_PARTIAL 0x40

/* PARTIAL lo:hi, |lo| <= |hi|, both of one sign: positions in the
 * result counted from its start (1 is the first), or from its end
 * when negative (-1 is the last, RFC 9394). */
struct search_partial {
	int64_t lo, hi;
};

struct search_args {
	const char        *charset;	/* NULL if not given */
	bool               esearch;	/* RETURN (...) was given */
	unsigned           ret;		/* SEARCH_RET_*; RETURN () means ALL */
	struct search_partial partial;	/* with SEARCH_RET_PARTIAL */
	struct search_key *key;		/* an SK_AND of the top-level keys */
};

/* ---- SORT and THREAD (RFC 5256, RFC 5957) ---- */

enum sort_crit_type {
	SORT_ARRIVAL, SORT_CC, SORT_DATE, SORT_FROM, SORT_SIZE, SORT_SUBJECT,
	SORT_TO, SORT_DISPLAYFROM, SORT_DISPLAYTO,
};

#define SORT_MAX_CRIT 16	/* more would only repeat a key */

struct sort_crit {
	enum sort_crit_type type;
	bool                reverse;
};

enum thread_alg { THREAD_ORDEREDSUBJECT, THREAD_REFERENCES };

struct sort_args {
	struct sort_crit   crit[SORT_MAX_CRIT];	/* SORT */
	size_t             ncrit;
	bool               esearch;	/* SORT RETURN (...) (ESORT) */
	unsigned           ret;		/* SEARCH_RET_*, as for SEARCH */
	struct search_partial partial;
	enum thread_alg    alg;			/* THREAD */
	const char        *charset;
	struct search_key *key;		/* an SK_AND, as for SEARCH */
};

/* ---- STORE ---- */

enum store_op { STORE_REPLACE, STORE_ADD, STORE_REMOVE };

struct store_args {
	struct seqset  set;
	enum store_op  op;
	bool           silent;
	const char   **flags;		/* "\Seen", "$Label" ... as sent */
	size_t         nflags;
	bool           unchangedsince_set;
	uint64_t       unchangedsince;
};

/* ---- APPEND ---- */

/* One part of a CATENATE message (RFC 4469): a literal, or an IMAP URL
 * (RFC 5092) of a message or section whose bytes are put in its place. */
struct append_part {
	const char        *url;		/* NULL: a TEXT literal */
	const char        *data;	/* the literal, as for append_msg */
	size_t             len;
	bool               binary;
	bool               spooled;
	uint64_t           spool_off;
	struct append_part *next;
};

struct append_msg {
	const char       **flags;
	size_t             nflags;
	bool               has_date;
	struct mk_time     date;
	const char        *data;	/* the literal, not NUL-terminated */
	size_t             len;
	bool               binary;	/* literal8 ~{n} */
	bool               utf8;	/* RFC 6855 "UTF8 (~{n}...)" */
	/* The literal was spooled to a file by the framer, at spool_off;
	 * data is NULL until the caller maps that file. */
	bool               spooled;
	uint64_t           spool_off;
	/* CATENATE: the parts, assembled into data/len (as if spooled)
	 * before the command runs; nothing else sees them. */
	struct append_part *parts;
	size_t             nparts;
	struct append_msg *next;	/* MULTIAPPEND (RFC 3502) */
};

struct append_args {
	const char        *mailbox;
	struct append_msg *msgs;
	size_t             nmsgs;
};

/* ---- LIST / LSUB ---- */

#define LIST_SEL_SUBSCRIBED     0x01
#define LIST_SEL_REMOTE         0x02
#define LIST_SEL_RECURSIVEMATCH 0x04
#define LIST_SEL_SPECIAL_USE    0x08

#define LIST_RET_SUBSCRIBED     0x01
#define LIST_RET_CHILDREN       0x02
#define LIST_RET_SPECIAL_USE    0x04
#define LIST_RET_STATUS         0x08
#define LIST_RET_MYRIGHTS       0x10	/* RFC 8440 */

/* STATUS items, also used by LIST RETURN (STATUS (...)) */
#define STATUS_MESSAGES      0x001
#define STATUS_RECENT        0x002
#define STATUS_UIDNEXT       0x004
#define STATUS_UIDVALIDITY   0x008
#define STATUS_UNSEEN        0x010
#define STATUS_HIGHESTMODSEQ 0x020
#define STATUS_SIZE          0x040
#define STATUS_DELETED       0x080
#define STATUS_DELETED_STORAGE 0x100	/* RFC 9208 */
#define STATUS_APPENDLIMIT   0x200	/* RFC 7889 */
#define STATUS_MAILBOXID     0x400	/* RFC 8474 */

struct list_args {
	const char  *ref;
	const char **patterns;
	size_t       npatterns;
	bool         extended;	/* selection or return options, or a pattern list */
	unsigned     sel;	/* LIST_SEL_* */
	unsigned     ret;	/* LIST_RET_* */
	unsigned     status;	/* STATUS_* when LIST_RET_STATUS */
};

/* ---- SELECT / EXAMINE ---- */

struct select_args {
	const char   *mailbox;
	bool          condstore;
	bool          qresync;
	uint32_t      uidvalidity;	/* QRESYNC */
	uint64_t      modseq;
	bool          has_known_uids;
	struct seqset known_uids;
	bool          has_seq_match;
	struct seqset match_seqs, match_uids;
};

/* ---- METADATA (RFC 5464) ---- */

/* Entry names come back lower-case (they are case-insensitive), valid
 * (RFC 5464 3.2: "/private/..." or "/shared/...", no "//", no trailing
 * "/", no "*", "%", control or non-ASCII characters).  GETMETADATA also
 * takes "/private" and "/shared" alone, as roots for DEPTH. */
#define META_DEPTH_INFINITY UINT32_MAX

struct meta_entry {
	const char *name;
	const char *value;	/* NULL for NIL; may hold NUL (literal8) */
	size_t      len;
};

struct getmetadata_args {
	const char  *mailbox;	/* "" for server entries */
	bool         has_maxsize;
	uint32_t     maxsize;
	uint32_t     depth;	/* 0, 1 or META_DEPTH_INFINITY */
	const char **entries;
	size_t       nentries;
};

struct setmetadata_args {
	const char        *mailbox;
	struct meta_entry *entries;
	size_t             nentries;
};

/* ---- NOTIFY (RFC 5465) ---- */

/* Events, as bits.  NEV_UNKNOWN: an event-ext atom the server doesn't
 * know, or AnnotationChange (no ANNOTATE here); the command answers NO
 * [BADEVENT ...] for them (RFC 5465 3.1), so they are kept apart. */
#define NEV_MESSAGENEW        0x001
#define NEV_MESSAGEEXPUNGE    0x002
#define NEV_FLAGCHANGE        0x004
#define NEV_ANNOTATIONCHANGE  0x008
#define NEV_MAILBOXNAME       0x010
#define NEV_SUBSCRIPTIONCHANGE 0x020
#define NEV_MAILBOXMETADATA   0x040	/* MailboxMetadataChange */
#define NEV_SERVERMETADATA    0x080	/* ServerMetadataChange */
#define NEV_UNKNOWN           0x100
#define NEV_MESSAGE (NEV_MESSAGENEW | NEV_MESSAGEEXPUNGE | NEV_FLAGCHANGE | \
	NEV_ANNOTATIONCHANGE)

enum notify_filter {
	NF_SELECTED, NF_SELECTED_DELAYED, NF_INBOXES, NF_PERSONAL,
	NF_SUBSCRIBED, NF_SUBTREE, NF_MAILBOXES,
};

struct notify_group {
	enum notify_filter   filter;
	const char         **mailboxes;	/* SUBTREE, MAILBOXES */
	size_t               nmailboxes;
	unsigned             events;	/* NEV_*; 0 for NONE */
	struct fetch_att    *fetch;	/* MessageNew's, selected filters only */
	const char          *text;	/* the group as written, "(...)" */
	struct notify_group *next;
};

struct notify_args {
	bool                 none;	/* NOTIFY NONE */
	bool                 status;	/* SET STATUS */
	struct notify_group *groups;
};

/* ---- URLAUTH (RFC 4467) and URLFETCH's parameters (RFC 5524) ---- */

struct genurlauth_arg {
	const char *url;	/* the rump, as sent */
	const char *mech;	/* as sent */
};

#define URLFETCH_BODY              0x01
#define URLFETCH_BINARY            0x02
#define URLFETCH_BODYPARTSTRUCTURE 0x04

struct urlfetch_arg {
	const char *url;
	bool        ext;	/* "(" url [params] ")": RFC 5524's answer */
	unsigned    want;	/* URLFETCH_*; never BODY with BINARY */
};

/* ---- the rest ---- */

#define SPECIAL_USE_ALL      0x01
#define SPECIAL_USE_ARCHIVE  0x02
#define SPECIAL_USE_DRAFTS   0x04
#define SPECIAL_USE_FLAGGED  0x08
#define SPECIAL_USE_JUNK     0x10
#define SPECIAL_USE_SENT     0x20
#define SPECIAL_USE_TRASH    0x40
#define SPECIAL_USE_UNKNOWN  0x80	/* CREATE named an attribute we don't know */

struct quota_resource {
	const char *name;	/* "STORAGE", "MESSAGE", ... as sent */
	uint64_t    limit;
};

struct imap_cmd {
	const char       *tag;
	enum imap_cmd_id  id;
	const char       *name;	/* canonical upper-case command name */
	bool              uid;	/* UID FETCH / STORE / COPY / MOVE / SEARCH / EXPUNGE */
	union {
		struct { const char *user, *pass; } login;
		struct { const char *mech; const char *ir; } auth; /* ir: NULL if absent, "" for "=" */
		struct { const char **kv; size_t nkv; } id;	/* pairs; values may be NULL (NIL); kv NULL for "ID NIL" */
		/* id.nkv counts entries: kv[0] field, kv[1] value, ... */
		struct { const char **caps; size_t ncaps; } enable;
		struct select_args select;
		struct { const char *mailbox; unsigned use; } create; /* use: SPECIAL_USE_* (RFC 6154) */
		struct { const char *mailbox; } mbox;	/* DELETE SUBSCRIBE UNSUBSCRIBE GETQUOTAROOT GETACL MYRIGHTS */
		struct { const char *from, *to; } rename;
		struct list_args list;		/* LIST and LSUB */
		struct { const char *mailbox; unsigned items; } status;
		struct append_args append;
		struct { const char *root; } getquota;
		struct { const char *root; struct quota_resource *res; size_t nres; } setquota;
		struct { const char *mailbox, *identifier, *rights; } acl; /* SETACL DELETEACL(rights NULL) LISTRIGHTS(rights NULL) */
		struct { const char *user; } proxyauth;
		struct { const char *mech; } compress;	/* RFC 4978: as sent */
		struct getmetadata_args getmeta;
		struct setmetadata_args setmeta;
		struct notify_args notify;
		struct { const char *mailbox; const char **mechs; size_t nmechs; } resetkey; /* mailbox NULL: every key */
		struct { struct genurlauth_arg *items; size_t n; } genurlauth;
		struct { struct urlfetch_arg *items; size_t n; } urlfetch;
		struct search_args search;
		struct sort_args sort;		/* SORT and THREAD */
		struct { const char **tags; size_t ntags; } cancelupdate;
		struct fetch_args fetch;
		struct store_args store;
		struct { struct seqset set; const char *mailbox; } copy;	/* COPY and MOVE */
		struct { bool has_set; struct seqset set; } expunge;	/* UID EXPUNGE */
	} u;
};

/* Parses one complete command, as assembled by the framer (line plus any
 * literals inline).  Returns 0, or -1 with a short human-readable reason
 * in *err (for "tag BAD <reason>").  cmd->tag is set whenever a tag could
 * be read, else to "*".  Everything is allocated in a.
 * Also: on error, cmd->id and cmd->name are set if the command name was
 * known; a mailbox name "INBOX" in any case comes back as "INBOX"; the
 * AUTHENTICATE mechanism comes back upper-case. */
struct arena;
int  imap_parse(struct arena *a, const char *buf, size_t len,
	struct imap_cmd *cmd, const char **err);
/* A FETCH section-spec without its brackets ("1.2.MIME", "HEADER.FIELDS
 * (SUBJECT)", "" for the whole message), as an IMAP URL's ;SECTION=
 * names one (RFC 5092).  0, or -1 with *err. */
int  imap_parse_section(struct arena *a, const char *text,
	struct fetch_section *sec, const char **err);
/* The same for a command some of whose APPEND literals the framer
 * spooled (imap_frame_spooled()): they come back with spooled set.  A
 * spooled literal anywhere but as an APPEND message is "too long". */
struct imap_spooled;
int  imap_parse_spooled(struct arena *a, const char *buf, size_t len,
	const struct imap_spooled *sp, size_t nsp, struct imap_cmd *cmd,
	const char **err);

/* Name lookup for command tables; CMD_UNKNOWN if not a command. */
enum imap_cmd_id imap_cmd_lookup(const char *name, size_t len);

#endif
