/*
 * store_int.h - what the files of store/ share and nobody else sees.
 *
 * The SQLite plumbing used by both databases (a user's store and the
 * directory): opening with the right pragmas and file mode, a per-handle
 * cache of prepared statements, error recording, transactions that nest
 * as savepoints, and the schema migration runner.  Then the pieces of
 * struct store that store.c, store_schema.c, store_mbox.c, store_msg.c
 * and search.c pass between them.  Tests include it to drive the
 * migration runner with their own migration lists.
 */
#ifndef MK_STORE_INT_H
#define MK_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/mime.h"
#include "store/store.h"

#define DB_BUSY_TIMEOUT_MS 5000

/* Every system flag bit that messages.flags may hold. */
#define MF_ALL (MF_SEEN | MF_ANSWERED | MF_FLAGGED | MF_DELETED | MF_DRAFT)

struct db_slot {
	const char   *sql;	/* NULL: a free slot */
	sqlite3_stmt *st;
	uint32_t      used;	/* the batch (sqldb.epoch) it last ran in */
};

/* One SQLite connection with its statement cache. */
struct sqldb {
	sqlite3        *h;
	enum store_sync sync;		/* when a commit waits for the disk */
	bool            sync_due;	/* the open transaction adds a message */
	unsigned        group;		/* store_read_begin()s not yet ended */
	bool            group_open;	/* its read transaction is open */
	bool            batch;		/* writes share one transaction */
	bool            batch_open;	/* ... which is open */
	bool            batch_cmd;	/* a command's savepoint is open */
	bool            batch_sync;	/* a command asked for a sync */
	bool            batch_lost;	/* SQLite rolled it back itself */
	struct db_slot *slots;		/* open addressing, keyed by SQL pointer */
	size_t          nslots, nused;
	uint32_t        epoch;		/* batches ended, for the sweep */
	sqlite3_stmt  **transient;	/* copies made while the cached one runs */
	size_t          ntransient, maxtransient;
	/* A closed body's read handle, moved to the next body a command
	 * reads (sqlite3_blob_reopen, store_body.c); kept only inside
	 * the command's read transaction, closed when it ends. */
	sqlite3_blob   *spare_blob;
	char            err[256];
};

/* Opens path (0600 when created), WAL, synchronous FULL (STORE_SYNC_ALL)
 * or NORMAL, foreign keys on, busy timeout.  -1 with a message in err. */
int  db_open(struct sqldb *db, const char *path, bool create,
	enum store_sync sync, char *err, size_t errlen);
/* store_vfs.c: makes the unix VFS with gathered WAL writes the default. */
void store_vfs_install(void);
/* The most one write to the WAL carries: sixteen frames of 4 KiB pages
 * (a batch's commit in one or two writes) and the WAL's 32-byte header.
 * Below the mailbox process's mmap threshold (128 KiB), so the buffer
 * comes from the heap. */
#define STORE_WAL_RUN_MAX	(16 * (24 + 4096) + 32)

void db_close(struct sqldb *db);
void db_spare_blob_drop(struct sqldb *db);

/*
 * Statements: sql must be a string with static storage (a literal or a
 * static const array): its address is the cache key, so each statement
 * is prepared once per connection (SQLITE_PREPARE_PERSISTENT) and reset
 * by db_done().  If the cached statement is still running (a callback of
 * a foreach called back into the store), a private copy is prepared and
 * db_done() finalizes it.  NULL on failure, with db->err set.
 */
sqlite3_stmt *db_stmt(struct sqldb *db, const char *sql);
void db_done(struct sqldb *db, sqlite3_stmt *st);
/* Steps st once expecting no row, then db_done; 0 or db_fail(). */
int  db_run(struct sqldb *db, sqlite3_stmt *st, const char *what);
/* Records the connection's error as "what: message"; MK_BUSY for a
 * lock timeout, else -1.  Logged. */
int  db_fail(struct sqldb *db, const char *what);
/* Records a message of ours; returns rc. */
int  db_err(struct sqldb *db, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Transactions.  db_txn_enter() starts BEGIN IMMEDIATE when no
 * transaction is open, else a savepoint inside the caller's, so that
 * every state-changing store call is all or nothing either way.
 * db_txn_leave() commits (or releases) when rc == 0, else rolls back
 * to where db_txn_enter() was, and returns rc (or the commit's error).
 */
enum db_txn { TXN_NONE, TXN_OWN, TXN_SAVEPOINT };
int  db_begin(struct sqldb *db);
int  db_commit(struct sqldb *db);
/* Under STORE_SYNC_MESSAGES: the open transaction adds a message, so its
 * COMMIT syncs the WAL before it returns (db_commit). */
void db_sync_at_commit(struct sqldb *db);
void db_rollback(struct sqldb *db);
int  db_txn_enter(struct sqldb *db, enum db_txn *t);
int  db_txn_leave(struct sqldb *db, enum db_txn t, int rc);

/*
 * Schema migrations.  A database's user_version is the last migration
 * applied; db_migrate() applies the missing ones in order, each in its
 * own transaction: first sql (may hold several statements), then run()
 * (C code over existing rows, may be NULL), then user_version = version.
 * A database newer than the list refuses to open.  *from receives the
 * version found (0: a new file).
 */
struct db_migration {
	int         version;
	const char *what;
	const char *sql;
	int       (*run)(struct sqldb *db);
};
int  db_migrate(struct sqldb *db, const struct db_migration *m, size_t n,
	int *from);
int  db_user_version(struct sqldb *db, int *v);

/* ---- the user store ---- */

/* What a message operation changes in its mailbox's counters. */
struct mbox_delta {
	int64_t msgs, unseen, deleted, bytes, deleted_bytes;
};

/* The messages a MULTIAPPEND has added so far in its transaction: its
 * mailbox row (as store_msg_append_in() left it) and the counters not
 * yet written (store_msg.c). */
struct append_run {
	bool              open;
	struct mbox       m;
	struct mbox_delta d;
};

struct store {
	struct sqldb db;
	int64_t      data_version;
	/* Moves whenever the keywords table may have changed (a keyword
	 * defined or dropped here, a commit of another connection): a
	 * session recounts its mailbox's keywords only then. */
	uint64_t     kw_gen;
	bool         fts;		/* the full-text index is kept */
	bool         fts_write;	/* index new messages as they come */
	bool         objids;	/* schema 11's columns exist (tests open
				 * stores of earlier versions) */
	struct fts_queued *fq;	/* rows waiting for the caller's COMMIT */
	size_t       nfq, capfq, fq_bytes;
	bool         z_on;	/* compress bodies (store_body.c) */
	int          z_level;
	uint64_t     z_min;
	/* The compression context and its buffer are kept while bodies
	 * that need them keep coming (store_body.c cctx_get()), the
	 * decompression context while the process works;
	 * store_release_memory() frees both when its sessions rest. */
	struct ZSTD_CCtx_s *z_cctx;
	uint64_t     z_used_ms;	/* now_ms() when z_cctx last compressed */
	struct ZSTD_DCtx_s *z_dctx;	/* one-shot frames: handles share it */
	unsigned char *z_buf;
	unsigned     nreaders;	/* store_body handles open */
	bool         cache_big;	/* store_cache_for() enlarged the cache */
	struct append_run run;
};
/* Writes (store_commit) or forgets (store_rollback) what an append run
 * left to write (store_msg.c). */
int  append_run_flush(struct store *s);
void append_run_drop(struct store *s);
/* Frees the compression contexts and buffer (store_body.c). */
void body_zfree(struct store *s);
/* Frees the compression context if it has not been used for a while. */
void body_zexpire(struct store *s);

/* A message in its stored form (store_prep.c). */
struct msg_prep {
	const char *data;
	uint64_t    len;
	bool        file;	/* data is a file mapping */
	void       *map;	/* our mapping of a rewritten copy, or NULL */
	size_t      maplen;
	char       *mem;	/* our rewritten copy on the heap, or NULL */
};
/* Releases the mapped pages of data[from, to) if file (store_prep.c). */
void msg_pages_release(const char *data, size_t from, size_t to, bool file);
/* Stores the bytes of body body_id (its bodies row exists), compressed
 * or not as store_set_compress() says (store_body.c). */
int  body_bytes_put(struct store *s, int64_t body_id,
	const struct msg_prep *p);

extern const struct db_migration store_migrations[];
extern const size_t store_nmigrations;

/* store_open() with a chosen migration list (tests simulate upgrades). */
int  store_open_with(const char *path, bool create, enum store_sync sync,
	const struct store_init_folder *init, size_t ninit,
	const struct db_migration *mig, size_t nmig,
	struct store **out, char *err, size_t errlen);

/* A UIDVALIDITY never handed out before in this store. */
int  store_uidvalidity_next(struct store *s, uint32_t *out);

/* Changes to a mailbox row that a message operation makes at once. */
void mbox_delta_row(struct mbox_delta *d, unsigned flags, uint64_t size,
	int sign);
/* Re-reads m by id: MK_NOTFOUND if it is gone, MK_INVALID if \Noselect. */
int  mbox_reload(struct store *s, struct mbox *m);
/* Writes uidnext, highestmodseq and the counters of mailbox id. */
int  mbox_update(struct store *s, int64_t id, uint32_t uidnext,
	uint64_t modseq, const struct mbox_delta *d);
int  quota_add(struct store *s, int64_t bytes, int64_t msgs);

/* Keywords: the defined spelling of kw in mailbox id (defining it when
 * define is true; MK_NOTFOUND otherwise), and a whole keyword list made
 * canonical: spellings as defined, duplicates dropped, sorted.  The
 * result is malloc'd. */
#define MK_KEYWORD_MAX 256
int  kw_lookup(struct store *s, int64_t mbox_id, const char *kw, bool define,
	char *out, size_t outlen);
int  kw_normalize(struct store *s, int64_t mbox_id, const char *in,
	char **out);

/* The columns every message query selects, and their decoding. */
#define MSG_COLS "uid, body_id, size, internaldate, tz, flags, keywords, modseq"
void msg_row_read(sqlite3_stmt *st, int64_t mbox_id, struct msg_row *r);

/* Schema 2: message structure (store_struct.c). */
struct mime_result;
extern const char store_schema_v2[];
int  body_struct_put(struct sqldb *db, int64_t body_id,
	const struct mime_result *r);
int  store_migrate_struct(struct sqldb *db);
/* For migrations that compute something per stored body: runs fn on
 * each row of sql (a static string) with a scratch arena reset per
 * row, stops at the first error; logs how many were done ("computed
 * the <what> of N stored messages"). */
struct arena;
typedef int (*body_row_fn)(struct sqldb *db, struct arena *a,
	sqlite3_stmt *row);
int  body_migrate_each(struct sqldb *db, const char *sql, body_row_fn fn,
	const char *what);
/* Schema 3: ACLs and per-user \Seen (store_acl.c). */
extern const char store_schema_v3[];
/* Schema 5: sort keys (store_sort.c). */
struct sort_keys;
extern const char store_schema_v5[];
int  body_sort_put(struct sqldb *db, int64_t body_id,
	const struct sort_keys *k);
int  store_migrate_sort(struct sqldb *db);
/* Schema 11: object ids, save dates, previews (store_objid.c). */
extern const char store_schema_v11[];
int  store_migrate_objid(struct sqldb *db);
/* A number never handed out before in this store. */
int  objid_take(struct sqldb *db, int64_t *out);
/* A new MAILBOXID for mailbox id (created, or revived). */
int  mbox_objid_new(struct store *s, int64_t mbox_id);
/* A new body's EMAILID and THREADID (from its Message-ID and
 * references, struct sort_keys), and its PREVIEW text. */
int  body_ids_new(struct store *s, const char *msgid, const char *refs,
	int64_t *objid, int64_t *thread);
int  body_preview_put(struct sqldb *db, int64_t body_id, const char *text,
	size_t len);
/* Schema 8: METADATA entries (store_meta.c). */
extern const char store_schema_v8[];
/* Schema 10: URLAUTH access keys (store_urlauth.c). */
extern const char store_schema_v10[];
/* Schema 13: UID runs, \Recent count, unseen index (store_index.c). */
extern const char store_schema_index[];
extern const char store_schema_index14[];

/* Schema 5: the full-text index (store_fts.c).  store_fts_open() runs
 * at every open, after the migrations: it builds the index where SQLite
 * can and none is kept, and stops keeping it where SQLite cannot. */
extern const char store_schema_fts[];
extern const char *const store_fts_cols[MIME_FTS_NCOLS];
/* Test hook: behave as a SQLite without FTS5 trigram would. */
extern bool store_fts_unavailable;
int  store_fts_open(struct store *s);
/* One message's texts, computed before its row is written. */
struct fts_doc {
	struct buf col[MIME_FTS_NCOLS];
	int        rc;		/* mime_fts_doc()'s */
	bool       on;		/* to be indexed at all */
};
void fts_doc_init(struct store *s, struct fts_doc *d);
void fts_doc_make(struct fts_doc *d, const char *msg, size_t len,
	const void *parts, size_t plen);
/* In the message's transaction, after its row: indexes it (or marks
 * it unindexable); without d->on it stays pending. */
int  fts_doc_put(struct store *s, int64_t id, const struct fts_doc *d);
void fts_doc_free(struct fts_doc *d);
/* fts_doc_put() at the caller's COMMIT (store_commit), for messages
 * stored inside a transaction of the caller's: FTS5 writes out what it
 * has gathered at every SAVEPOINT, and each store call inside a caller's
 * transaction is one, so a row per message would cost a segment per
 * message (a MULTIAPPEND three times slower).  Takes d's texts. */
int  fts_doc_defer(struct store *s, int64_t id, struct fts_doc *d);
int  fts_queue_flush(struct store *s);
void fts_queue_drop(struct store *s);
/* COPY: the copy's row from the original's (pending if that is). */
int  fts_copy(struct store *s, int64_t from, int64_t to);
/* Rows of an expunged message, of a purged mailbox; RENAME INBOX. */
int  fts_drop(struct store *s, int64_t id);
int  fts_drop_mbox(struct store *s, int64_t mbox_id);
int  fts_move_mbox(struct store *s, int64_t from, int64_t to);

#endif
