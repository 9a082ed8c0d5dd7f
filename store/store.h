/*
 * store.h - one user's mail in one SQLite file.
 *
 * The mailbox process is the only writer of a user's store while it runs
 * (mailkeepctl may write while it does not); every state-changing IMAP
 * command is one transaction: store_begin(), the operations, store_commit().
 * Nothing is acknowledged to a client before the commit returns, and with
 * fsync on (synchronous=FULL, WAL) a commit survives kill -9 and power loss.
 *
 * Mailbox names are the IMAP names as the client sends them (modified
 * UTF-7), hierarchy separator '/', with "INBOX" canonical upper case.
 * UIDs, UIDVALIDITY and per-mailbox MODSEQ follow RFC 3501 and RFC 7162:
 * each committed change to a mailbox takes a new highest modseq, and
 * expunged UIDs are remembered with the modseq of their expunge.
 *
 * Return convention: 0 success, MK_NOTFOUND / MK_EXISTS / MK_INVALID
 * where listed, MK_BUSY when the database stayed locked for the busy
 * timeout (5 s), -1 on a database error (store_errmsg() says which).
 *
 * Transactions: a state-changing call made outside a transaction runs in
 * one of its own (BEGIN IMMEDIATE ... COMMIT); inside the caller's it
 * runs in a savepoint.  Either way a call that fails changes nothing, and
 * the caller's earlier work in the same transaction stays.  Structs the
 * caller passes (struct mbox *) are refreshed from the database only when
 * the call succeeds; after store_rollback() the caller re-reads them.
 */
#ifndef MK_STORE_H
#define MK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/imapdate.h"
#include "common/seqset.h"

#define MK_NOTFOUND 1
#define MK_EXISTS   2
#define MK_INVALID  3	/* e.g. DELETE of a \Noselect with children */
#define MK_BUSY     4	/* the database stayed locked past the timeout */
#define MK_DAMAGED  5	/* stored bytes fail their check (store_body.c) */

#define MK_MBOX_NAME_MAX 1024

/* System flags, as stored (messages.flags). \Recent is per session. */
#define MF_SEEN     0x01
#define MF_ANSWERED 0x02
#define MF_FLAGGED  0x04
#define MF_DELETED  0x08
#define MF_DRAFT    0x10

#define STORE_SCHEMA_VERSION 14

struct store;

struct store_init_folder {
	const char *name;
	unsigned    special_use;	/* SPECIAL_USE_* from common/imap.h */
};

/*
 * When a commit waits for the disk.  A commit is in the WAL file (the
 * page cache) when COMMIT returns, so a killed process loses nothing in
 * any mode; the modes differ on a crash of the machine itself:
 *   STORE_SYNC_NONE      only checkpoints sync (synchronous=NORMAL): the
 *                        last commits before a power loss may be lost;
 *   STORE_SYNC_ALL       every commit is synced (synchronous=FULL);
 *   STORE_SYNC_MESSAGES  a commit that adds a message (APPEND, COPY,
 *                        MOVE, delivery) is synced before it returns;
 *                        other commits (flags, expunges, \Recent) are
 *                        not, and a sync covers every commit before it.
 * false and true mean NONE and ALL.
 */
enum store_sync {
	STORE_SYNC_NONE = 0,
	STORE_SYNC_ALL = 1,
	STORE_SYNC_MESSAGES = 2,
};

/* Opens (creating when create is true) and migrates the store at path.
 * A new store gets INBOX plus the folders in init[] (subscribed).
 * On failure returns -1 with a message in err. */
int  store_open(const char *path, bool create, enum store_sync sync,
	const struct store_init_folder *init, size_t ninit,
	struct store **out, char *err, size_t errlen);
/* store_open() that refuses a symbolic link as the database file or in
 * its path (SQLITE_OPEN_NOFOLLOW; SQLite checks every component, so give
 * a path relative to a directory one has fchdir()ed into).  For code
 * that opens a user's store on the user's behalf (mailkeepctl). */
int  store_open_nofollow(const char *path, bool create, enum store_sync sync,
	const struct store_init_folder *init, size_t ninit,
	struct store **out, char *err, size_t errlen);
void store_close(struct store *s);
/* Frees the page cache pages not in use, and with statements the
 * prepared statements too (only when no caller holds one: every session
 * of the process is between commands); what is freed is read or
 * prepared again when needed. */
void store_release_memory(struct store *s, bool statements);
/* At the end of each batch of commands: now and then finalizes the
 * statements that have not run for a while.  between: no command is
 * paused or waiting (one may hold a statement between its steps). */
void store_batch_ended(struct store *s, bool between);
/* For a process that keeps a store open for hours and mostly rests (the
 * user's mailbox process): SQLite gives each connection's page cache no
 * up-front block, so the pages store_release_memory() frees go back to
 * malloc.  Before the process's first SQLite call; 0, or -1 if SQLite
 * was in use already. */
int  store_memory_lean(void);

/* A larger page cache for a command that writes nmsgs messages of bytes
 * in all when they would not fit the usual small one (else nothing),
 * then the small one again. */
void store_cache_for(struct store *s, uint64_t nmsgs, uint64_t bytes);
void store_cache_small(struct store *s);
const char *store_errmsg(struct store *s);
int  store_schema_version(struct store *s);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK.  Nesting is not supported
 * (store_begin() inside a transaction returns -1). */
int  store_begin(struct store *s);
int  store_commit(struct store *s);
void store_rollback(struct store *s);
bool store_in_transaction(struct store *s);
/* A batch: from here to store_batch_end(), the writes of successive
 * store_begin()/store_commit() pairs (and of the store_* calls that
 * write) share one write transaction, each in a savepoint that
 * store_rollback() undoes alone.  store_commit() then commits nothing:
 * store_batch_commit() does, for all of them (with the sync that any
 * of them asked for), and the batch goes on; store_batch_end() commits
 * and ends it.  Both return -1 when the writes could not be committed
 * (then none of them was, the earlier ones included, if SQLite rolled
 * the transaction back itself): the caller must not have told anyone
 * of them yet.  The batch's reads share one read transaction too
 * (store_read_begin).  For the commands of one read from a client:
 * nothing may wait in between. */
void store_batch_begin(struct store *s);
int  store_batch_commit(struct store *s);
int  store_batch_end(struct store *s);
/* Between these, reads share one read transaction (one snapshot, one
 * set of locks) instead of one each; a write transaction (store_begin,
 * any store_* call that writes) ends it first and a new one follows the
 * commit.  For one command's work: nothing may wait in between.  Pairs
 * nest; the outermost one begins and ends the transaction. */
void store_read_begin(struct store *s);
void store_read_end(struct store *s);
/* True if another connection (e.g. mailkeepctl) committed since the last
 * call; the caller then re-reads what it caches. */
bool store_changed_externally(struct store *s);

/* ---- whole-store copies (store_backup.c; mailkeepctl backup/restore) ----
 * Through SQLite's online backup API, never a file copy of the WAL
 * database. */
/* Removes the database file path (relative to the current directory)
 * and its -journal, -wal and -shm: a scratch copy and what SQLite left
 * beside it. */
void store_files_remove(const char *path);
/* Copies s, as one consistent snapshot taken while other connections
 * keep committing, into a new database file at path, then runs
 * PRAGMA integrity_check on the copy.  0, MK_BUSY, or -1; err says why. */
int  store_backup_into(struct store *s, const char *path, char *err,
	size_t errlen);
/* Replaces everything in s by the content of from, in one write
 * transaction of s (page sizes must match), then checks s's integrity.
 * 0, MK_BUSY or -1 with err. */
int  store_restore_from(struct store *s, struct store *from, char *err,
	size_t errlen);
/* PRAGMA integrity_check: 0 if "ok", else -1 and the first problem. */
int  store_integrity_check(struct store *s, char *err, size_t errlen);

/* ---- mailboxes ---- */

#define MBOX_NOSELECT 0x01	/* kept only because it has children */

struct mbox {
	int64_t  id;
	char     name[MK_MBOX_NAME_MAX];
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t recent_uid;	/* UIDs >= this were never announced \Recent */
	unsigned special_use;
	unsigned flags;		/* MBOX_* */
};

struct mbox_status {
	uint32_t messages, recent, unseen, deleted;
	uint64_t size;		/* sum of RFC822.SIZE */
	uint64_t deleted_size;
};

/* Case rules for INBOX: "inbox" -> "INBOX", "Inbox/x" -> "INBOX/x".
 * Validates (no empty levels, no control characters, no '*' '%', length)
 * and writes the canonical form; MK_INVALID if the name can't be a
 * mailbox.  The functions below that take a name apply it themselves. */
int  store_mbox_canon(const char *name, char *out, size_t outlen);

int  store_mbox_find(struct store *s, const char *name, struct mbox *out);
int  store_mbox_get(struct store *s, int64_t id, struct mbox *out);
/* Creates name and any missing parents.  MK_EXISTS if it exists and is
 * selectable; a \Noselect placeholder of that name becomes selectable
 * (with a fresh UIDVALIDITY). */
int  store_mbox_create(struct store *s, const char *name, unsigned special_use,
	struct mbox *out);
/* RFC 3501 DELETE: with children it loses its messages and becomes
 * \Noselect; a \Noselect with children is MK_INVALID; INBOX is MK_INVALID.
 * Quota usage drops by what is removed.  A \Noselect parent left without
 * children goes too.  Subscriptions are not touched (RFC 3501 6.3.6). */
int  store_mbox_delete(struct store *s, const char *name);
/* RFC 3501 RENAME, children included.  Renaming INBOX moves its messages
 * to a new mailbox "to" and leaves INBOX empty (its children stay).
 * MK_NOTFOUND, MK_EXISTS (target exists), MK_INVALID (into itself).
 * A renamed mailbox keeps its UIDVALIDITY and UIDs; missing parents of
 * "to" are created.  INBOX's moved UIDs count as expunged from INBOX (with
 * a new modseq), and the new mailbox gets a fresh UIDVALIDITY. */
int  store_mbox_rename(struct store *s, const char *from, const char *to);
/* Visits every mailbox in name order; stop by returning non-zero (which
 * is returned).  Callbacks may call other store functions. */
int  store_mbox_foreach(struct store *s,
	int (*cb)(const struct mbox *m, void *arg), void *arg);
bool store_mbox_has_children(struct store *s, const char *name);
/* From counters kept with every change: O(1) however large m is.
 * recent: messages never yet claimed by store_mbox_claim_recent(). */
int  store_mbox_status(struct store *s, const struct mbox *m,
	struct mbox_status *st);
/* Takes the UIDs never yet announced as \Recent: [*from, *to) is this
 * caller's to report; the mailbox's recent_uid moves to uidnext. */
int  store_mbox_claim_recent(struct store *s, struct mbox *m,
	uint32_t *from, uint32_t *to);
int  store_mbox_set_special_use(struct store *s, struct mbox *m, unsigned use);

/* Keywords defined in a mailbox (for the FLAGS response), in the spelling
 * first used.  store_keyword_canon() finds the defined spelling of kw
 * case-insensitively, defining it if new; MK_INVALID if kw is not an atom
 * (or is a \system flag) or does not fit in out.  Appending or storing a
 * keyword defines it as well. */
int  store_keywords(struct store *s, const struct mbox *m,
	int (*cb)(const char *kw, void *arg), void *arg);
/* How many keywords are defined in m (they are only ever added). */
int  store_keyword_count(struct store *s, const struct mbox *m, size_t *n);
/* Changes whenever the count above may have (for any mailbox). */
uint64_t store_keyword_gen(const struct store *s);
int  store_keyword_canon(struct store *s, const struct mbox *m, const char *kw,
	char *out, size_t outlen);

/* ---- subscriptions ---- */

int  store_sub_set(struct store *s, const char *name, bool on);
bool store_sub_has(struct store *s, const char *name);
int  store_sub_foreach(struct store *s,
	int (*cb)(const char *name, void *arg), void *arg);

/* ---- messages ---- */

/* Valid during the callback that receives it. */
struct msg_row {
	int64_t        id;		/* (mailbox id << 32) | uid */
	uint32_t       uid;
	int64_t        body_id;
	uint64_t       size;
	struct mk_time internaldate;
	unsigned       flags;		/* MF_* */
	const char    *keywords;	/* space-separated, "" if none:
					 * defined spellings, sorted */
	uint64_t       modseq;
};

struct msg_new {
	const char    *data;
	size_t         len;
	struct mk_time internaldate;
	unsigned       flags;
	const char    *keywords;	/* space-separated canonical, or "" */
	uint32_t       uid;		/* 0: UIDNEXT; else this UID when it
					 * is not below UIDNEXT (an import
					 * keeping the source's UIDs) */
};

/* Appends to m (updated in place); *uid receives the new UID.  MK_INVALID
 * for a zone beyond +-99:59, an invalid keyword, or a \Noselect m;
 * MK_NOTFOUND if m was deleted.  The Date: header is parsed here for
 * SENT* search. */
int  store_msg_append(struct store *s, struct mbox *m, const struct msg_new *n,
	uint32_t *uid);

/* A message turned into the form it is stored in (parts with NUL octets
 * base64-encoded, RFC 3516; bare LF made CRLF) before the transaction, so
 * that the quota check can use the size that will be stored.  A large
 * message is read, rewritten and stored in pieces: from a file mapping
 * whose pages are released behind the reader, into an unnamed temporary
 * file, and into the database by incremental blob I/O; only the MIME
 * analysis sees it whole (through the mapping, never a heap copy). */
struct msg_src {
	const char *data;	/* the message: in memory, or a mapping of fd */
	size_t      len;
	bool        file;	/* data is a file mapping (pages are released) */
};
/* Where store_msg_prepare() writes rewritten file-backed messages. */
struct msg_tmp {
	int      dirfd;		/* directory for unnamed temporary files */
	int      fd;		/* -1 until needed; the caller closes it */
	uint64_t len;		/* bytes in it so far */
};
struct msg_prep;
/* -1 (errno set) if memory or the temporary file failed. */
int  store_msg_prepare(const struct msg_src *src, struct msg_tmp *tmp,
	struct msg_prep **out);
/* The size the message will have in the store (its RFC822.SIZE). */
uint64_t store_msg_prep_size(const struct msg_prep *p);
/* store_msg_append() of a prepared message (n->data and n->len unused). */
int  store_msg_append_prep(struct store *s, struct mbox *m,
	const struct msg_new *n, const struct msg_prep *p, uint32_t *uid);
/* store_msg_append_prep() inside the caller's transaction (store_begin)
 * without a savepoint of its own: after a failure the caller must roll
 * the whole transaction back.  For MULTIAPPEND.  The mailbox's row
 * (UIDNEXT, HIGHESTMODSEQ, counters) and the quota are written by
 * store_msg_append_end() (or store_commit()): call it before any other
 * store call that reads them. */
int  store_msg_append_in(struct store *s, struct mbox *m,
	const struct msg_new *n, const struct msg_prep *p, uint32_t *uid);
int  store_msg_append_end(struct store *s);
void store_msg_prep_free(struct msg_prep *p);
/* All UIDs of a mailbox, ascending (malloc'd). */
int  store_msg_uids(struct store *s, const struct mbox *m, uint32_t **uids,
	size_t *n);
/* The lowest UID without \Seen among view's (sorted), or 0: reads the
 * unseen index, never the mailbox. */
int  store_first_unseen(struct store *s, const struct mbox *m,
	const uint32_t *view, size_t nview, uint32_t *uid);
/* Rows whose UID is in the resolved set, ascending by UID.  The callback
 * may call other store functions, including changing the flags of the
 * row it is given (FETCH setting \Seen). */
int  store_msg_foreach(struct store *s, const struct mbox *m,
	const struct seqset *uids,
	int (*cb)(const struct msg_row *r, void *arg), void *arg);
/* Rows with UIDs lo..hi, ascending, with only uid, id, flags, keywords
 * and modseq read (FETCH of FLAGS, UID and MODSEQ).  Stops at the
 * callback's non-zero and returns it. */
int  store_msg_flags_each(struct store *s, const struct mbox *m,
	uint32_t lo, uint32_t hi,
	int (*cb)(const struct msg_row *r, void *arg), void *arg);
/* Rows changed after modseq (flag changes and new messages). */
int  store_msg_changed_since(struct store *s, const struct mbox *m,
	uint64_t modseq, int (*cb)(const struct msg_row *r, void *arg), void *arg);
/* UIDs expunged after modseq, ascending.  Complete only for modseq at
 * or above store_expunged_floor(): older rows may have been pruned. */
int  store_expunged_since(struct store *s, const struct mbox *m,
	uint64_t modseq, int (*cb)(uint32_t uid, uint64_t modseq, void *arg),
	void *arg);
/* The highest MODSEQ of an expunged UID no longer remembered (0: none
 * pruned). */
int  store_expunged_floor(struct store *s, const struct mbox *m,
	uint64_t *floor);
/* Forgets m's expunged UIDs beyond the newest keep of them, but none
 * with a MODSEQ above below (what a live session has still to be
 * told); raises the floor.  Prunes only once keep is exceeded by an
 * eighth, so that it costs one write now and then.  0 or -1. */
int  store_expunged_prune(struct store *s, const struct mbox *m,
	uint32_t keep, uint64_t below);

struct flag_change {
	uint32_t    uid;
	unsigned    flags;
	const char *keywords;
};
/* Writes new flags for each message (all get one new modseq, returned).
 * Keywords are made canonical (defined spellings, no duplicates).  A row
 * whose flags and keywords are already as given keeps its modseq (RFC
 * 7162 3.1.3), and UIDs no longer present are skipped; if nothing
 * changes, *modseq is the mailbox's current HIGHESTMODSEQ. */
int  store_msg_set_flags(struct store *s, struct mbox *m,
	const struct flag_change *ch, size_t n, uint64_t *modseq);
/* Removes the messages, remembers their UIDs as expunged, adjusts quota.
 * UIDs no longer present are skipped. */
int  store_msg_expunge(struct store *s, struct mbox *m, const uint32_t *uids,
	size_t n);
/* store_msg_expunge() that keeps the bodies of the messages hold(uid)
 * picks (RFC 2180 4.1.1: other sessions may still FETCH them until they
 * are told of the expunge).  Each such row is handed to keep() inside the
 * transaction (take it only once the transaction commits); the message
 * is gone from its mailbox, the counters and the quota as usual, but its
 * body stays (one hold, in the held table) until store_body_release().
 * hold and keep run with the store in a transaction: they must not call
 * store functions. */
int  store_msg_expunge_held(struct store *s, struct mbox *m,
	const uint32_t *uids, size_t n, bool (*hold)(uint32_t uid, void *arg),
	int (*keep)(const struct msg_row *r, void *arg), void *arg);
/* Drops one hold on a body (deleting it if nothing else uses it). */
int  store_body_release(struct store *s, int64_t body_id);
/* Drops every hold: for the one process that takes holds, at start-up,
 * so a crash leaves no body held for ever. */
int  store_held_release_all(struct store *s);
/* Copies (sharing bodies) into dst; newuids[i] is the UID of uids[i]'s
 * copy, 0 if uids[i] no longer exists.  Flags and internal date are kept;
 * keywords take dst's defined spellings.  src == dst is allowed. */
int  store_msg_copy(struct store *s, struct mbox *src, struct mbox *dst,
	const uint32_t *uids, size_t n, uint32_t *newuids);

/* Reading a message's bytes without loading all of it, whether stored
 * compressed or not (store_body.c).  MK_NOTFOUND for a body that is
 * gone; store_body_read() is MK_INVALID beyond the end, MK_DAMAGED
 * (logged) for a body whose stored bytes do not decode.  An open handle may pin a read snapshot:
 * store_body_rest() lets go of it until the next read (a handle kept
 * across waits for a client), store_body_close() when the read is done. */
struct store_body;
int  store_body_open(struct store *s, int64_t body_id, struct store_body **b,
	uint64_t *size);
int  store_body_read(struct store_body *b, uint64_t off, void *buf, size_t n);
void store_body_rest(struct store_body *b);	/* NULL: nothing */
void store_body_close(struct store_body *b);
/* The whole body in *data (malloc'd, NUL-terminated, *len bytes). */
int  store_body_load(struct store *s, int64_t body_id, char **data,
	size_t *len);
/* What the text walks of mime.h (SEARCH's scan, the full-text index)
 * read of a body with part table parts: a buffer of the body's length
 * in which those spans (mime_fts_spans(): the headers, every text part)
 * hold the body's bytes.  A body up to 1 MiB is read whole; of a bigger
 * one only the spans, into a mapping whose other pages are never
 * touched, so that a message with a 60 MB photo costs its text.  With
 * max_part or max_spans (0: none) exceeded, or a corrupt part table,
 * t->over is 1 or -1 and nothing is read (the index leaves such a
 * message to the scan).  0, or the reader's error. */
struct body_text {
	char   *data;
	size_t  len;
	bool    mapped;
	int     over;
};
int  store_body_text(struct store *s, int64_t body_id, const void *parts,
	size_t plen, size_t max_part, uint64_t max_spans, struct body_text *t);
void store_body_text_free(struct body_text *t);
/* Bodies stored from now on: those of at least min_size bytes are kept
 * as zstd frames of 64 KiB of text each, at level (1-19).  Off until
 * called; sizes are the text's either way. */
void store_set_compress(struct store *s, bool on, int level,
	uint64_t min_size);
/* Rewrites bodies kept as one blob (all those stored before schema 12,
 * and those stored while compression was off) that store_set_compress()
 * would now store in chunks: up to max bodies above *cursor (start at
 * 0) and past the first, at most budget bytes of text, in one
 * transaction, looking at no more than 4096 body ids (a batch is short
 * even where there is nothing to do); sizes, quota and every byte read
 * stay the same.  *cursor moves past the ids looked at, *done says how
 * many bodies were rewritten, *more whether any may be left.  MK_BUSY
 * at once if another process holds the write lock or a body is open for
 * reading here (the caller tries again later). */
int  store_body_recompress(struct store *s, unsigned max, uint64_t budget,
	int64_t *cursor, unsigned *done, bool *more);
/* The batch bounds the mailbox process's idle job and mailkeepctl
 * compress share: bodies and bytes of text per transaction. */
#define STORE_RECOMPRESS_BATCH  16
#define STORE_RECOMPRESS_BUDGET (1024 * 1024)
/* How many bodies store_body_recompress() has left to rewrite, and
 * their bytes of text. */
int  store_body_recompress_pending(struct store *s, uint64_t *bodies,
	uint64_t *bytes);

/* The structure computed when a body was stored (store/mime.h): the
 * ENVELOPE, BODY and BODYSTRUCTURE values ready to send, and the part
 * table for mime_section().  Copied into a; MK_NOTFOUND if missing. */
struct arena;
struct body_struct {
	const char *envelope, *body, *bodystructure;
	size_t      envelope_len, body_len, bodystructure_len;
	const void *parts;
	size_t      parts_len;
};
int  store_body_struct(struct store *s, int64_t body_id, struct arena *a,
	struct body_struct *out);

/* ---- access control (RFC 4314), schema 3 ---- */

/* The rights string stored for identifier on a mailbox (the owner is
 * never stored: the owner has every right).  MK_NOTFOUND if none. */
int  store_acl_get(struct store *s, int64_t mbox_id, const char *identifier,
	char *rights, size_t len);
/* rights "" removes the entry. */
int  store_acl_set(struct store *s, int64_t mbox_id, const char *identifier,
	const char *rights);
int  store_acl_foreach(struct store *s, int64_t mbox_id,
	int (*cb)(const char *identifier, const char *rights, void *arg),
	void *arg);
/* Entries on one mailbox, and on all of them (acl_max_* bounds). */
int  store_acl_count(struct store *s, int64_t mbox_id, unsigned *on_mbox,
	unsigned *total);
/* A new mailbox inherits its parent's ACL (RFC 4314 4, CREATE). */
int  store_acl_copy(struct store *s, int64_t from_id, int64_t to_id);

/* Per-user \Seen of a grantee who lacks the "s" right. */
int  store_gseen_uids(struct store *s, const struct mbox *m, const char *user,
	uint32_t **uids, size_t *n);
int  store_gseen_set(struct store *s, const struct mbox *m, const char *user,
	const uint32_t *uids, size_t n, bool on);
int  store_gseen_count(struct store *s, const struct mbox *m,
	const char *user, uint32_t *n);

/* ---- METADATA (RFC 5464; store_meta.c) ---- */

/* The mailbox id of server entries (the "" mailbox). */
#define STORE_META_SERVER 0
/* Sets (value != NULL) or deletes one entry; user is "" for /shared
 * entries, the setter's name for /private ones.  Quota usage follows. */
int  store_meta_set(struct store *s, int64_t mbox_id, const char *user,
	const char *name, const void *value, size_t len);
/* Visits root and the entries up to depth levels below it (depth
 * UINT32_MAX: all), in name order; stop by returning non-zero. */
int  store_meta_foreach(struct store *s, int64_t mbox_id, const char *user,
	const char *root, uint32_t depth,
	int (*cb)(const char *name, const void *value, size_t len, void *arg),
	void *arg);
/* Entries and value bytes over the whole store (the per-user limits). */
int  store_meta_usage(struct store *s, uint64_t *count, uint64_t *bytes);
/* INBOX renamed: its entries are copied to the new mailbox too. */
int  store_meta_copy(struct store *s, int64_t from_id, int64_t to_id);

/* ---- URLAUTH (RFC 4467; schema 10, store_urlauth.c) ---- */

#define STORE_URLKEY_LEN  32
#define URLAUTH_TOKEN_LEN 66	/* "01" + hex of HMAC-SHA256 */

/* The mailbox's access key; made (gnutls_rnd) if create and there is
 * none, else MK_NOTFOUND. */
int  store_urlkey_get(struct store *s, int64_t mbox_id, bool create,
	uint8_t key[STORE_URLKEY_LEN]);
/* A new key for mbox_id, or (mbox_id 0) no key for any mailbox. */
int  store_urlkey_reset(struct store *s, int64_t mbox_id);

struct imap_url;
enum urlauth_verdict {
	URLAUTH_OK,
	URLAUTH_NOT_AUTHORIZED,	/* no ";URLAUTH=...:mech:token" */
	URLAUTH_BAD_MECH,	/* not INTERNAL */
	URLAUTH_BAD_TOKEN,	/* not made with this key (tampered, reset) */
	URLAUTH_EXPIRED,
	URLAUTH_BAD_ACCESS,	/* the access identifier excludes requester */
};
/* The INTERNAL token of rump[0..len): 0, or -1 if GnuTLS failed. */
int  urlauth_token(const uint8_t key[STORE_URLKEY_LEN], const char *rump,
	size_t len, char out[URLAUTH_TOKEN_LEN + 1]);
/* May requester (the session's user; "" for none) use u's access
 * identifier?  submitter: requester is a message submission entity
 * (urlauth_submit_users), the only one "submit+" URLs admit. */
bool urlauth_access_ok(const struct imap_url *u, const char *requester,
	bool submitter);
/* Is u (parsed, with its verifier) valid with key, for requester, at
 * now (seconds since the epoch)? */
enum urlauth_verdict urlauth_verify(const struct imap_url *u,
	const uint8_t key[STORE_URLKEY_LEN], const char *requester,
	bool submitter, int64_t now);

/* ---- the full-text index (schema 9, store_fts.c, doc/search.md) ---- */

/* Whether the index is kept in this store (SQLite has FTS5 trigram). */
bool store_fts_on(struct store *s);
/* Whether new messages are indexed as they are stored (default yes;
 * the config's fts = no turns it off): if not they wait, pending. */
void store_fts_write(struct store *s, bool on);
/* Messages waiting to be indexed (unindexable ones not counted). */
int  store_fts_pending(struct store *s, uint64_t *left);
/* Indexes up to max pending messages in one transaction, stopping after
 * budget_ms (0: no limit); nowait: MK_BUSY at once if another process
 * holds the write lock.  *done indexed, *left still pending after. */
int  store_fts_index(struct store *s, unsigned max, unsigned budget_ms,
	bool nowait, unsigned *done, uint64_t *left);
/* Drops the index and starts it anew, every message pending; MK_INVALID
 * if SQLite cannot hold one. */
int  store_fts_reset(struct store *s);
/* Merges the index's segments into one (after a rebuild). */
int  store_fts_optimize(struct store *s);
/* Messages the index holds, and those it never will (too large). */
int  store_fts_counts(struct store *s, uint64_t *indexed,
	uint64_t *unindexable);

/* ---- OBJECTID, SAVEDATE, PREVIEW (schema 11, store_objid.c) ---- */

/* RFC 8474 objectid of object number n: prefix 'F' (MAILBOXID), 'M'
 * (EMAILID) or 'T' (THREADID), the store's salt, n in hex.  out needs
 * STORE_OBJID_MAX bytes. */
#define STORE_OBJID_MAX 32
int  store_objid(struct store *s, char prefix, int64_t n, char *out,
	size_t len);
/* The number of an objectid with that prefix; MK_NOTFOUND if id is not
 * one this store could have handed out. */
int  store_objid_parse(struct store *s, char prefix, const char *id,
	int64_t *n);
/* The MAILBOXID of m. */
int  store_mbox_objectid(struct store *s, const struct mbox *m, char *out,
	size_t len);
struct msg_ids {
	char    emailid[STORE_OBJID_MAX];
	char    threadid[STORE_OBJID_MAX];
	bool    has_savedate;	/* false: saved before schema 11 */
	int64_t savedate;	/* seconds since the epoch, UTC */
};
/* The ids of message uid of m, whose body is body_id (which may still
 * be held after the message's expunge: then no save date).
 * MK_NOTFOUND if the body is gone. */
int  store_msg_ids(struct store *s, const struct mbox *m, uint32_t uid,
	int64_t body_id, struct msg_ids *out);
/* Appends the PREVIEW text of a body to out (*have true).  A body
 * stored before schema 11 has none yet: lazy leaves *have false, else
 * it is computed now and kept.  MK_NOTFOUND for a body that is gone. */
struct buf;
int  store_body_preview(struct store *s, int64_t body_id, bool lazy,
	struct buf *out, bool *have);
/* Computes the previews of up to max (at most 64) bodies below *cursor
 * (start at INT64_MAX) that lack one, newest first, and keeps them in
 * one transaction; *cursor moves past them, *done says how many (0:
 * none left).  MK_BUSY at once if another process holds the write
 * lock. */
int  store_preview_backfill(struct store *s, unsigned max, int64_t *cursor,
	unsigned *done);

/* ---- quota usage (limits live in the directory) ---- */

struct quota_usage {
	uint64_t storage;	/* bytes: sum of message sizes, copies counted */
	uint64_t messages;
};
int  store_quota_usage(struct store *s, struct quota_usage *u);
/* Recounts from the messages; reports what the kept counters said, and
 * stores the recount (and repairs the per-mailbox STATUS counters). */
int  store_quota_recompute(struct store *s, struct quota_usage *kept,
	struct quota_usage *actual);

/* ---- migration imports (mailkeepctl import), schema 5 ---- */

/* Gives m, which must never have held a message (UIDNEXT 1), the
 * UIDVALIDITY of the mailbox it is imported from, so that clients keep
 * their caches; later UIDVALIDITYs of this store stay above it.
 * MK_INVALID if m has had messages. */
int  store_mbox_adopt_uidvalidity(struct store *s, struct mbox *m,
	uint32_t uidvalidity);
/* Raises m's UIDNEXT to uidnext (no-op if it is already there). */
int  store_mbox_raise_uidnext(struct store *s, struct mbox *m,
	uint32_t uidnext);
/* What an import already brought in: one row per (source, key), written
 * in the transaction that appends the message, so a re-run skips it. */
int  store_import_mark(struct store *s, const char *source, const char *key,
	const struct mbox *m, uint32_t uid);
int  store_import_foreach(struct store *s, const char *source,
	int (*cb)(const char *key, void *arg), void *arg);

#endif
