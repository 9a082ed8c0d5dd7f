/*
 * mbox_int.h - what the files of the mailbox process share.
 *
 * One process serves every connection of one user.  The pieces:
 *   struct user    the process-wide state: config, the store, the list of
 *                  connections, and a cache of the mailboxes that are
 *                  selected somewhere (struct mstate);
 *   struct client  one connection: its buffers, framer, command arena,
 *                  state (authenticated / selected / logout) and, when a
 *                  mailbox is selected, its view;
 *   struct view    a session's picture of the selected mailbox: UIDs by
 *                  sequence number, its \Recent UIDs, and how far it has
 *                  been told about changes (see view.c for the rules).
 * Commands are executed by the cmd_*.c files, dispatched from the table
 * in commands.c.
 */
#ifndef MK_MBOX_INT_H
#define MK_MBOX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/event.h"
#include "common/imap.h"
#include "common/imap_frame.h"
#include "common/ipc.h"
#include "store/store.h"

struct client;
struct user;

/* A mailbox selected by at least one session: the freshest row, shared. */
struct mstate {
	struct mbox     m;
	unsigned        refs;		/* sessions with it selected */
	bool            gone;		/* deleted while selected */
	/* Messages expunged while another session still had their UID in
	 * its view ("ghosts", RFC 2180 4.1.1): their last row (keywords
	 * malloc'd), ascending by UID; each holds its body in the store
	 * until no view has the UID (ghosts_gc). */
	struct msg_row *ghosts;
	size_t          nghosts;
	/* Expunges since the `expunged` window was last looked at
	 * (window_due): it is looked at after the first expunge here and
	 * then every eighth of expunged_keep, not at every EXPUNGE. */
	uint64_t        unwindowed;
	bool            windowed;
	struct mstate  *next;
};

/* Ghost rows an expunge produced, taken by the mailbox once its
 * transaction committed (ghosts_take) or dropped (ghost_batch_free). */
struct ghost_batch {
	struct client  *self;		/* the expunging session */
	struct mstate  *ms;
	struct msg_row *rows;
	size_t          n, cap;
	size_t          expunged;	/* UIDs the expunge was asked for */
};

/* UID ranges [lo, hi] this session announced as \Recent. */
struct recent_range {
	uint32_t lo, hi;
};

struct view {
	struct mstate *ms;
	bool           readonly;	/* EXAMINE, or no right to write */
	uint32_t      *uids;		/* seq n <-> uids[n-1], ascending */
	size_t         n, cap;
	struct recent_range *recent;
	size_t         nrecent;
	uint32_t       recent_sent;	/* the last RECENT response's count */
	size_t         recent_n;	/* ...and the view's size then */
	uint32_t       known_uidnext;	/* UIDs >= this are not in the view yet */
	uint64_t       known_modseq;	/* flag changes up to here were reported */
	uint64_t       expunge_modseq;	/* expunges up to here were reported */
	bool           dirty;		/* the mailbox changed since last sync */
	bool           condstore;	/* CONDSTORE enabled for this selection */
	unsigned       rights;		/* RT_* on this mailbox, as of... */
	uint64_t       rights_gen;	/* ...this user->acl_gen */
	bool           examined;	/* opened with EXAMINE */
	/* A guest without "s" has a \Seen of their own (guest_seen). */
	bool           own_seen;
	uint32_t      *seen;		/* their \Seen UIDs, ascending */
	size_t         nseen;
	struct seqset  searchres;	/* SEARCHRES "$": UIDs, resolved */
	size_t         nkeywords;	/* keywords in the last FLAGS sent */
	uint64_t       kw_gen;		/* store_keyword_gen() they were
					 * counted at (0: not yet) */
};

enum client_state {
	CS_AUTH,	/* authenticated, nothing selected */
	CS_SELECTED,
	CS_LOGOUT,	/* closing once output is flushed */
};

/* Result of a command handler. */
enum cmd_result {
	RUN_DONE,	/* the handler wrote the tagged response */
	RUN_PAUSE,	/* output is streaming; the handler's cont() resumes it */
	RUN_IDLE,	/* entered IDLE; input is read as bare lines */
	RUN_WAIT,	/* waiting for an answer from the master (or from
			 * another user's process); client_resume() ends it */
};

typedef enum cmd_result (*cmd_cont_fn)(struct client *c);

#define CAP_CONDSTORE 0x01
#define CAP_QRESYNC   0x02
#define CAP_UTF8      0x04	/* UTF-8 names (RFC 6855, RFC 9051) */
#define CAP_REV2      0x08	/* ENABLE IMAP4rev2 (RFC 9051) */
#define CAP_UTF8_ACCEPT 0x10	/* ENABLE UTF8=ACCEPT itself (RFC 6855) */

/* One message's bytes and stored structure during a FETCH (msgdata.c). */
struct msgdata {
	int64_t            body_id;
	uint64_t           size;
	bool               have_struct;
	struct body_struct bs;
};

/* A FETCH section's content: a byte range of the stored message
 * (streamed), or bytes in memory (filtered headers, decoded BINARY). */
struct section_data {
	enum { SD_RANGE, SD_MEM } kind;
	uint64_t    off, len;
	const char *mem;
	size_t      memlen;
};

/* What another user shares with this one (asked of the master). */
struct share_entry {
	const char *owner, *mailbox, *rights;
};

struct guest;
struct pop3_sess;
struct update_ctx;
struct notify;

struct client {
	struct user      *user;
	struct client    *next;
	uint64_t          session_id;
	int               fd;
	struct ev_io      io;
	struct ev_timer   timer;		/* autologout, or IDLE keepalive */
	struct buf        in, out;
	struct imap_framer fr;
	struct arena      arena;		/* the current command's memory */
	enum client_state state;
	struct view       view;
	unsigned          enabled;		/* CAP_* turned on by ENABLE */
	bool              tls;
	bool              no_seen;		/* impersonated: never set \Seen */
	bool              admin;
	char              authcid[65];		/* who authenticated */
	char              client_addr[64];
	uint8_t           method;		/* ipc_imp_method */
	/* the command being executed */
	const struct imap_cmd *cmd;
	char              tagged[512];		/* "OK ..." set by resp_ok/no/bad */
	const struct cmd_def  *def;
	cmd_cont_fn       cont;		/* set while RUN_PAUSE */
	void             *cont_state;
	void            (*cont_free)(struct client *c);	/* if it dies paused */
	bool              idling;
	/* An IDLE at rest: its command, moved out of the arena (client_rest). */
	struct imap_cmd  *idle_cmd;
	bool              closing;		/* close once output drains */
	bool              dead;		/* freed at end of loop iteration */
	bool              again;		/* process_input queued to run again */
	bool              looked;		/* other programs' commits looked for
						 * in this batch of commands */
	/* shared mailboxes of other users (proxy.c) */
	struct guest     *guests;		/* channels to owners' processes */
	struct guest     *proxy;		/* the selected mailbox is there */
	bool              proxy_idle;		/* relaying an IDLE: DONE goes on */
	/* The selected mailbox was closed because this session's "r" right
	 * on it was revoked; until the next SELECT/EXAMINE, commands of the
	 * selected state get NO (not BAD) and CLOSE/UNSELECT get OK. */
	bool              revoked;
	/* ... or because the channel to its owner's process was lost (a
	 * backend gone, doc/cluster.md): the same, with UNAVAILABLE. */
	bool              lost;
	uint64_t          shares_req;
	struct share_entry *shares;		/* for LIST/LSUB, in the arena */
	size_t            nshares;
	struct {				/* SEARCH's last message read */
		int64_t   body_id;
		struct body_text text;		/* what the matcher reads */
		void     *parts;
		size_t    plen;
	} tcache;
	bool              handback;		/* the socket went back to the master */
	bool              handback_ready;	/* hand it back once output drains */
	bool              unauth;		/* ... for UNAUTHENTICATE, to login */
	bool              waiting;		/* RUN_WAIT: input paused */
	uint64_t          share_wait;		/* RUN_WAIT until shares_done
						 * reaches this (SETACL) */
	uint8_t           share_res;		/* worst IPC_MBOX_SHARE_DONE
						 * result for this command */
	struct acl_undo  *acl_undo;		/* SETACL's previous entry, in
						 * the arena: restored if the
						 * index refuses the change */
	char              ok_code[64];		/* "[MAILBOXID (..)] " for the
						 * OK of a waiting CREATE */
	size_t            shares_cap;		/* of shares[], paged answer */
	size_t            shares_total;		/* entries the master sent */
	/* The current APPEND's spooled literals (imap_frame.h), mapped
	 * read-only; closed and unmapped when the command ends. */
	int               spool_fd;
	void             *spool_map;
	size_t            spool_maplen;
	int               cat_fd;		/* CATENATE's assembled messages */
	void             *cat_map;
	size_t            cat_maplen;
	bool              trim;		/* give memory back after this command */
	/* A POP3 session (pop3.c): its input is POP3 lines, not IMAP. */
	bool              is_pop3;
	struct pop3_sess *pop3;		/* its maildrop, once opened */
	uint64_t          last_cmd;		/* ev_now() of its last command
						 * (IPC_MBOX_STATE's idle time) */
	/* COMPRESS=DEFLATE (RFC 4978): the stream between c->in/c->out and
	 * the socket once active; made by the command, started right after
	 * its tagged OK (finish_command). */
	struct zstream   *z;
	struct zstream   *z_next;
	/* CONTEXT=SEARCH/SORT update contexts of the selection (context.c);
	 * never on a guest session (its own \Seen moves no MODSEQ): the
	 * grantee's process answers NOUPDATE for those. */
	struct update_ctx *contexts;
	/* NOTIFY (notify.c): what the session asked for, or NULL. */
	struct notify    *notify;
	bool              notify_fetching;	/* its own FETCH runs */
	const char       *raw;			/* the current command's bytes */
	size_t            rawlen;
	/* URLFETCH (cmd_urlauth.c): the next URL, and whether one is with
	 * its owner's process (and whether we are still sending it). */
	size_t            uf_next;
	bool              uf_pending;
	bool              uf_insync;
};

struct user {
	const struct mk_config *cfg;
	struct ev_loop   *loop;
	struct ipc_chan  *master;
	struct store     *store;
	uint32_t          id;
	char              name[65];
	struct client    *clients;
	struct mstate    *mstates;
	uint64_t          quota_storage;	/* KiB, 0 = unlimited */
	uint64_t          quota_messages;
	uint64_t          next_req;		/* ids of requests to the master */
	/* The master's last whole answer to SHARES, for the next LIST
	 * until the master says it is stale (proxy.c, shares_kept). */
	struct share_entry *kept_shares;
	size_t            nkept_shares;
	bool              shares_kept;
	uint64_t          shares_sent;		/* IPC_MBOX_SHARE messages */
	uint64_t          shares_done;		/* ...the master has applied */
	struct ev_io      watch;		/* inotify on the store's directory */
	char             *watch_dir;		/* ...that directory, or NULL */
	int               watch_wd;		/* -1: not watched (no IDLE) */
	/* Moves whenever an ACL may have changed (SETACL, DELETEACL, a
	 * write by another program): a guest's selection re-reads its
	 * rights at its next command (rights_recheck). */
	uint64_t          acl_gen;
	int               spool_dir;		/* <user dir>/tmp, or -1 */
	/* The POP3 session holding the maildrop lock (RFC 1939 8), or NULL:
	 * one at a time per user; IMAP sessions are not affected. */
	struct client    *pop3_lock;
	char              store_path[PATH_MAX];
	struct ev_timer   fts_timer;		/* the idle indexer (fts_idle.c) */
	/* The session whose command is running, if any: NOTIFY does not
	 * tell a session of its own changes (RFC 5465 5). */
	struct client    *actor;
	struct ev_timer   preview_timer;	/* older previews (preview_idle.c) */
	int64_t           preview_cursor;	/* bodies below it remain */
	uint64_t          preview_done;
	struct ev_timer   rest_timer;		/* user_rest_soon() */
	struct ev_timer   compress_timer;	/* older bodies (compress_idle.c) */
	int64_t           compress_cursor;	/* bodies above it remain */
	uint64_t          compress_done;
};

/* ---- URLAUTH (cmd_urlauth.c, proxy.c; RFC 4467, RFC 5524) ---- */

enum cmd_result cmd_resetkey(struct client *c);
enum cmd_result cmd_genurlauth(struct client *c);
enum cmd_result cmd_urlfetch(struct client *c);
/* May a URLAUTH channel (IPC_IMP_URLAUTH session) run this command? */
bool urlauth_channel_cmd(enum imap_cmd_id id);
/* GENURLAUTH or RESETKEY naming another user's shared mailbox: routed
 * to the owner's process.  1 with *res if it was, 0 to run it here. */
int  urlauth_route(struct client *c, const char *raw, size_t len,
	enum cmd_result *res);
/* Relays the client's command to owner's process on a guest channel. */
enum cmd_result proxy_forward(struct client *c, const char *owner,
	const char *raw, size_t len);
/* Sends "URLFETCH " body to owner's process on a URLAUTH channel; its
 * untagged answer goes to the client, then urlfetch_next(c, ok). */
void proxy_urlfetch(struct client *c, const char *owner,
	const struct buf *body);
void urlfetch_next(struct client *c, bool ok);

/* ---- rights (rights.c, RFC 4314) ---- */

#define RT_L 0x001	/* lookup: LIST */
#define RT_R 0x002	/* read: SELECT, EXAMINE, STATUS, FETCH */
#define RT_S 0x004	/* keep \Seen */
#define RT_W 0x008	/* write other flags */
#define RT_I 0x010	/* insert: APPEND, COPY into */
#define RT_P 0x020	/* post */
#define RT_K 0x040	/* create mailboxes below */
#define RT_X 0x080	/* delete (and rename) the mailbox */
#define RT_T 0x100	/* \Deleted */
#define RT_E 0x200	/* expunge */
#define RT_A 0x400	/* administer: the ACL commands */
#define RT_ALL 0x7ff
#define RIGHTS_STRLEN 16

unsigned rights_parse(const char *s, bool *ok);
void     rights_format(unsigned r, char out[RIGHTS_STRLEN]);
bool     client_is_guest(const struct client *c);
/* The name rights are checked for: the guest's, or the owner's. */
const char *client_identity(const struct client *c);
/* The session's rights on m: every right for the owner; for a guest the
 * ACL entries for their name and "anyone" together. */
unsigned rights_for(struct client *c, const struct mbox *m);
/* The rights of user who on m in u's store: every right for u itself,
 * else its ACL entries and "anyone"'s together. */
unsigned rights_of(struct user *u, const struct mbox *m, const char *who);
/* May the session know that m exists ("l" or "r")? */
bool     mbox_visible(struct client *c, const struct mbox *m);
/* True if the session has all of need on m; else answers NO
 * ([NONEXISTENT] if it may not see m, [NOPERM] if it may) and false. */
bool     rights_check(struct client *c, const struct mbox *m, unsigned need,
	const char *name);
/* The system flags (MF_*) these rights allow storing (RFC 4314 4). */
unsigned rights_filter_flags(unsigned rights, unsigned flags);
/* Before each command of a session with a mailbox selected, and when an
 * idling one is woken: a guest's rights on the selection are read again
 * if the ACL may have changed.  Without "r" the mailbox is closed
 * ("* OK [CLOSED]", c->revoked); otherwise the new rights apply from
 * this command on (FLAGS and PERMANENTFLAGS are sent if they changed).
 * False if the selection was closed. */
bool     rights_recheck(struct client *c);
/* An ACL of this user's changed: bump acl_gen and tell idling guests. */
void     rights_changed(struct user *u);

/* ---- command table (commands.c) ---- */

#define ST_AUTH     0x01
#define ST_SELECTED 0x02
#define ST_ANY      (ST_AUTH | ST_SELECTED)

/* When untagged EXPUNGE may follow this command (RFC 3501 7.4.1): not
 * after FETCH, STORE or SEARCH by sequence number. */
#define CF_NO_EXPUNGE 0x01
/* The command changes the mailbox list or messages: it must see the
 * freshest store (external changes are picked up first). */
#define CF_WRITES     0x02

struct cmd_def {
	enum imap_cmd_id  id;
	unsigned          states;
	unsigned          flags;
	enum cmd_result (*run)(struct client *c);
};

const struct cmd_def *cmd_find(enum imap_cmd_id id);

/* ---- responses (respond.c) ---- */

void resp_untagged(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "tag OK text" etc. */
enum cmd_result resp_ok(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
enum cmd_result resp_no(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
enum cmd_result resp_bad(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A store error: "NO [SERVERBUG] ..." logged with the store's message,
 * or "NO [INUSE]" when the database stayed locked. */
enum cmd_result resp_store_error(struct client *c, int rc, const char *what);
void resp_capability_list(struct client *c, struct buf *b);
void resp_flags(struct buf *b, unsigned flags, const char *keywords,
	bool recent);
/* The list "(\\Answered ... \\Recent keywords)" at p, which has room for
 * RESP_FLAGS_MAX + kwlen bytes; returns its end. */
#define RESP_FLAGS_MAX 64
char *resp_flags_put(char *p, unsigned flags, const char *keywords,
	size_t kwlen, bool recent);

/* ---- connections (client.c) ---- */

/* Finishes a command that returned RUN_WAIT (its tagged answer set with
 * resp_ok/no/bad) and goes on with the client's input. */
void client_resume(struct client *c);
struct client *client_by_session(struct user *u, uint64_t id);
/* PROXYAUTH granted: the socket returns to the master once the output
 * queued before it is written. */
void client_hand_back(struct client *c);

void client_new(struct user *u, int fd, const struct ipc_session *s);
/* An LMTP delivery channel (IPC_IMP_DELIVERY session, deliver.c). */
void delivery_new(struct user *u, int fd, const struct ipc_session *s);
void client_close(struct client *c, const char *bye);
/* Push output and (re)arm write interest. */
void client_flush(struct client *c);
/* Gives back what a session in IDLE or between commands holds only for
 * a command: its arena, empty buffers, a search's loaded message. */
void client_rest(struct client *c);
/* The process at rest (mailbox.c): every session's client_rest(), the
 * store's page cache, statements and zstd contexts, freed heap and the
 * stack below the event loop go back to the system.  user_rest_soon()
 * does it REST_AFTER_MS after the last call, which every command, IDLE
 * wake-up and idle job makes. */
void user_rest(struct user *u);
void user_rest_soon(struct user *u);
/* A client's batch of commands (client.c process_input) writes in one
 * transaction (store_batch_begin).  user_commit() commits what it wrote
 * so far: called before anything leaves the process (a session's
 * output, a message to the master), since that may tell of it.
 * user_batch_end() commits and ends the batch.  A commit that fails
 * ends the process, sending none of the answers that counted on it. */
void user_commit(struct user *u);
void user_batch_end(struct user *u);
/* High-water mark: a streaming command pauses above this. */
#define CLIENT_OUT_HIGH (256 * 1024)
bool client_out_full(const struct client *c);
int64_t client_now(struct client *c);

/* ---- selected mailbox (view.c) ---- */

struct mstate *mstate_get(struct user *u, const struct mbox *m);
void mstate_put(struct user *u, struct mstate *ms);
struct mstate *mstate_find(struct user *u, int64_t id);
/* After committing a change to mailbox id, mark every session viewing it
 * and wake the idling ones. */
void mbox_changed(struct user *u, int64_t id);
/* The same for a caller whose store call left m as its commit wrote it
 * (store_msg_set_flags, store_msg_expunge_held reload the row inside
 * their transaction): the row is not read again.  That read, the first
 * of a new read transaction after the commit, was 1.8 % of the mailbox
 * processes' CPU in imaptest's mix. */
void mbox_changed_to(struct user *u, const struct mbox *m);
/* Re-read every cached mailbox row (after an external change). */
void mstates_refresh(struct user *u);
/* Watches the store's directory while a session idles (mailbox.c);
 * called whenever a session starts or stops idling. */
void user_watch_update(struct user *u);
/* store_msg_expunge() of the selected mailbox for session c that keeps,
 * as ghosts, the messages another session's view still holds; b is
 * filled for ghosts_take() after the commit (or ghost_batch_free()). */
int  ghost_expunge(struct client *c, const uint32_t *uids, size_t n,
	struct ghost_batch *b);
void ghosts_take(struct user *u, struct ghost_batch *b);
void ghost_batch_free(struct ghost_batch *b);
/* The ghost row of uid in ms, or NULL. */
const struct msg_row *ghost_find(const struct mstate *ms, uint32_t uid);

int  view_open(struct client *c, struct mstate *ms, bool readonly);
void view_close(struct client *c);
/* Tell the session what changed: EXPUNGE (if allowed), FETCH FLAGS,
 * EXISTS, RECENT.  Returns -1 if the mailbox vanished (caller says BYE). */
int  view_sync(struct client *c, bool allow_expunge);
/* An APPEND into the session's own read-write selection claims the
 * \Recent of what it adds inside its own transaction (which the sync
 * after it would do in a second one): view_claim_in() before the
 * commit, view_claimed() once it succeeded, with what the first gave.
 * A claim leaves m as the row now is (for mbox_changed_to()). */
int  view_claim_in(struct client *c, struct mbox *m, uint32_t *from,
	uint32_t *to);
void view_claimed(struct client *c, uint32_t from, uint32_t to);
/* The session made a change itself from before_modseq to after_modseq:
 * if it was up to date, it stays so without echoing its own change. */
void view_own_change(struct client *c, uint64_t before, uint64_t after);
uint32_t view_seq_of(const struct view *v, uint32_t uid);	/* 0 if absent */
/* view_seq_of() for UIDs asked in ascending order: *hint (start at 0)
 * remembers where the last one was, so a run costs no search. */
uint32_t view_seq_next(const struct view *v, uint32_t uid, size_t *hint);
void view_enable_condstore(struct client *c);
/* Before a FETCH FLAGS that may name a keyword defined since the
 * session's last FLAGS response: sends FLAGS (and PERMANENTFLAGS) again,
 * so that every keyword it is shown was announced (RFC 3501 7.2.6). */
void view_check_keywords(struct client *c);
/* A guest without "s": their own \Seen (guest_seen), loaded at SELECT. */
int  view_load_seen(struct client *c);
/* The flags this session sees on a message (own \Seen applied). */
unsigned view_flags(const struct client *c, const struct msg_row *r);
int  view_set_seen(struct client *c, const uint32_t *uids, size_t n, bool on);
/* Their \Seen UIDs as a set in the command's arena (for SEARCH). */
const struct seqset *view_seen_set(struct client *c);
uint32_t view_recent_count(const struct view *v);
/* Sends "* N RECENT" (not in IMAP4rev2) and notes it as sent. */
void     view_send_recent(struct client *c);
bool view_is_recent(const struct view *v, uint32_t uid);
bool client_recent(const struct client *c, uint32_t uid);
void view_remove_uid(struct view *v, uint32_t uid);
/* Resolve a client's set (sequence numbers or UIDs) to a UID set,
 * restricted to the view for sequence numbers.  $ uses the SEARCHRES.
 * -1 if a sequence number exceeds the message count (caller says BAD). */
int  view_uidset(struct client *c, const struct seqset *in, bool uid,
	struct seqset *out);
/* UIDs of the view that are in a resolved UID set, into an arena array. */
size_t view_uids_in(struct client *c, const struct seqset *uids,
	uint32_t **out);

/* ---- update contexts (context.c, RFC 5267 4.3) ---- */

/* Per session; RFC 5267 4.3.1 asks for at least one. */
#define CONTEXT_MAX 10

/* A SEARCH or SORT with RETURN (UPDATE) answered: keep its program and
 * result (UIDs: ascending for SEARCH; in sort order for SORT, crit set),
 * or write "* NO [NOUPDATE ...]" when the session has CONTEXT_MAX. */
void context_add(struct client *c, const struct search_key *key,
	const struct sort_crit *crit, size_t ncrit, const uint32_t *uids,
	size_t n);
/* Does a live context have this tag (a new UPDATE with it is BAD)? */
bool context_tag_used(struct client *c, const char *tag);
/* Before uids[0..n) (ascending) leave the view as EXPUNGE or VANISHED:
 * REMOVEFROM for the contexts that held them. */
void context_expunged(struct client *c, const uint32_t *uids, size_t n);
/* At the end of view_sync(): ADDTO / REMOVEFROM for what changed. */
void context_sync(struct client *c);
/* The selection ends: so do its contexts. */
void context_free_all(struct client *c);
enum cmd_result cmd_cancelupdate(struct client *c);

/* ---- POP3 sessions (pop3.c) ---- */

/* RFC 1939 3: an inactivity autologout timer of at least 10 minutes. */
#define POP3_AUTOLOGOUT_MIN 600

/* Takes the maildrop lock and opens INBOX, answering the client's PASS
 * or AUTH ("+OK", or "-ERR [IN-USE]" and the session closes). */
void pop3_start(struct client *c);
/* Reads and runs one line of input (client.c's process_input()). */
void pop3_step(struct client *c, bool *progress);
/* A streamed answer (RUN_PAUSE) finished. */
void pop3_cmd_done(struct client *c);
/* The session ends (QUIT or not): lock and state go; the view is
 * client.c's to close. */
void pop3_end(struct client *c);

/* ---- helpers shared by commands ---- */

/* Runs a search over the selected mailbox for this session; UIDs
 * ascending, malloc'd (cmd_search.c). */
int  mbox_search(struct client *c, const struct search_key *key,
	uint32_t **uids, size_t *n);
/* Text keys (FROM, SUBJECT, BODY...) on one message (msgdata.c). */
int  mbox_text_match(struct store *s, const struct msg_row *r,
	const struct search_key *k, void *arg);
void msgdata_search_done(struct client *c);
/* SEARCHRES: uids[0..n) (ascending) become "$"; with ret MIN and/or
 * MAX alone, only the first and last of them (cmd_search.c). */
void mbox_save_result(struct client *c, const uint32_t *uids, size_t n,
	unsigned ret);
/* "* ESEARCH (TAG ...) [UID] [MIN min] [MAX max] [COUNT n]" of the
 * current command (RFC 4731; ESORT, RFC 5267); the caller adds ALL,
 * MODSEQ and the line end. */
/* SEARCH, SORT and THREAD criteria the session may use: false after
 * answering BAD (CHARSET after UTF8=ACCEPT; RECENT, NEW, OLD in rev2). */
bool mbox_search_keys_ok(struct client *c, const char *charset,
	const struct search_key *key);
void mbox_esearch_head(struct client *c, unsigned ret, size_t n,
	uint32_t min, uint32_t max);
/* PARTIAL (RFC 5267 4.4, RFC 9394): the indexes [*from, *to) of a
 * result of n that p names; false if it names none of them. */
bool mbox_partial_span(const struct search_partial *p, size_t n,
	size_t *from, size_t *to);
/* " PARTIAL (lo:hi " of an ESEARCH; the caller adds the set or NIL. */
void mbox_partial_head(struct client *c, const struct search_partial *p);
/* ids[0..n) (ascending) as a sequence-set. */
void mbox_write_set(struct client *c, const uint32_t *ids, size_t n);
/* False, having answered BAD, when ret has UPDATE and the command's tag
 * already names an update context (RFC 5267 4.3). */
bool mbox_update_ok(struct client *c, unsigned ret);
/* RFC 7162 3.1.5: the highest mod-sequence of uids[0..n) (ascending)
 * when key uses MODSEQ (CONDSTORE is then enabled), else 0. */
uint64_t mbox_search_modseq(struct client *c, const struct search_key *key,
	const uint32_t *uids, size_t n);
/* The full-text index's idle batches (fts_idle.c). */
void fts_idle_start(struct user *u);
void fts_idle_kick(struct user *u);
/* Previews of messages stored before schema 11 (preview_idle.c). */
void preview_idle_start(struct user *u);
/* A connection the server ended, closed once the peer has stopped
 * sending (linger.c). */
void linger_close(struct ev_loop *loop, int fd);
/* One-blob bodies rewritten compressed (compress_idle.c). */
void compress_idle_start(struct user *u);
int  msgdata_struct(struct client *c, struct msgdata *md, struct arena *a);
int  msgdata_section(struct client *c, struct msgdata *md, struct arena *a,
	const struct fetch_section *sec, struct section_data *out);
int  msgdata_binary(struct client *c, struct msgdata *md, struct arena *a,
	const struct fetch_section *sec, struct section_data *out,
	bool *unknown_cte);
int  msgdata_binary_size(struct client *c, struct msgdata *md,
	struct arena *a, const struct fetch_section *sec, uint64_t *size,
	bool *unknown_cte);

/* Canonical mailbox name, or writes "NO ..." and returns false. */
bool mbox_name_arg(struct client *c, const char *name, char *out, size_t outlen);

/* names.c: mailbox names as the session speaks them (UTF-8 once
 * UTF8=ACCEPT or IMAP4rev2 is enabled, else as stored). */
bool client_utf8_names(const struct client *c);
/* The command's mailbox names to their stored form; false if one is
 * not valid UTF-8 (the caller answers BAD). */
bool names_in(struct client *c, struct imap_cmd *cmd);
/* A stored name as the session is sent it (in the command's arena). */
const char *name_out(struct client *c, const char *stored);
void resp_mailbox(struct client *c, struct buf *b, const char *stored);
/* cmd_mailbox.c: STATUS items this session may ask for; false after
 * answering BAD. */
bool status_items_ok(struct client *c, unsigned items);
/* cmd_list.c: the LIST line of the mailbox an IMAP4rev2 SELECT opens. */
void list_selected(struct client *c, const char *name);
/* Flag names -> MF_* bits and a canonical keyword list for mailbox m. */
int  flags_parse(struct client *c, const struct mbox *m, const char **flags,
	size_t n, unsigned *sys, const char **keywords, bool allow_recent);
/* Reports expunged uids to the session and drops them from its view
 * (cmd_expunge.c). */
void expunge_report(struct client *c, const uint32_t *uids, size_t n);
/* 1 if adding bytes/count would exceed the quota, 0 if not, -1 on
 * error; call inside the transaction that adds them (cmd_append.c). */
int  quota_check(struct client *c, uint64_t bytes, uint64_t count);
/* " (MESSAGES n ...)" for STATUS and LIST-STATUS (cmd_mailbox.c). */
int  status_items(struct client *c, const struct mbox *m, unsigned items,
	struct buf *b);
/* Merge keyword lists: op add/remove/replace. */
const char *keywords_apply(struct arena *a, const char *cur, const char *arg,
	enum store_op op);

/* Commands. */
enum cmd_result cmd_capability(struct client *c);
enum cmd_result cmd_noop(struct client *c);
enum cmd_result cmd_logout(struct client *c);
enum cmd_result cmd_id(struct client *c);
enum cmd_result cmd_enable(struct client *c);
enum cmd_result cmd_namespace(struct client *c);
enum cmd_result cmd_check(struct client *c);
/* APPEND's target mailbox, checked; false if it answered (cmd_append.c). */
bool append_target(struct client *c, const char *mailbox, char *name,
	size_t namelen, struct mbox *m);
/* APPEND ... CATENATE (cmd_catenate.c): assembles the catenated
 * messages of cmd into a mapped file, as if spooled; false if it
 * answered the command (BADURL, TOOBIG).  Released with the spool. */
bool catenate_assemble(struct client *c, struct imap_cmd *cmd);
void catenate_release(struct client *c);
enum cmd_result cmd_select(struct client *c);
/* VANISHED (EARLIER) of the UIDs in range (NULL: all) expunged after
 * since, for QRESYNC and UID FETCH ... VANISHED (cmd_select.c). */
void vanished_since(struct client *c, const struct seqset *range,
	uint64_t since);
void resp_vanished_earlier(struct client *c, const struct seqset *set);
/* FLAGS and PERMANENTFLAGS of the selected mailbox (cmd_select.c). */
void            select_send_flags(struct client *c, const struct mbox *m,
	bool readonly);
enum cmd_result cmd_close(struct client *c);
enum cmd_result cmd_unselect(struct client *c);
enum cmd_result cmd_create(struct client *c);
enum cmd_result cmd_delete(struct client *c);
enum cmd_result cmd_rename(struct client *c);
enum cmd_result cmd_subscribe(struct client *c);
enum cmd_result cmd_list(struct client *c);
enum cmd_result cmd_status(struct client *c);
enum cmd_result cmd_append(struct client *c);
enum cmd_result cmd_expunge(struct client *c);
enum cmd_result cmd_search(struct client *c);
enum cmd_result cmd_sort(struct client *c);
enum cmd_result cmd_thread(struct client *c);
enum cmd_result cmd_fetch(struct client *c);
/* fetch_flags.c: whether a FETCH asks only FLAGS, UID and MODSEQ, and
 * that FETCH of the n UIDs of the view (ascending). */
bool fetch_flags_only(const struct fetch_att *atts);
enum cmd_result fetch_flags(struct client *c, const uint32_t *uids, size_t n,
	bool want_uid, bool want_modseq);
enum cmd_result cmd_store(struct client *c);
enum cmd_result cmd_copy(struct client *c);
enum cmd_result cmd_idle(struct client *c);
enum cmd_result cmd_compress(struct client *c);
enum cmd_result cmd_getmetadata(struct client *c);
enum cmd_result cmd_setmetadata(struct client *c);
void            idle_line(struct client *c, const char *line, size_t len);
void            idle_wake(struct client *c);
enum cmd_result cmd_getacl(struct client *c);
enum cmd_result cmd_setacl(struct client *c);
enum cmd_result cmd_deleteacl(struct client *c);
enum cmd_result cmd_listrights(struct client *c);
enum cmd_result cmd_myrights(struct client *c);
/* The share index (cmd_acl.c): tell the master what this user grants.
 * -1 if the message could not be sent (no answer will come for it). */
int  share_index_send(struct user *u, const char *mailbox,
	const char *identifier, const char *rights);
/* The master applied one more of them, or refused it (res, an
 * ipc_req_result) (IPC_MBOX_SHARE_DONE). */
void share_index_done(struct user *u, uint8_t res);
/* "OK <command> completed" once the master has applied every update
 * sent so far (RUN_WAIT until then), so that other users' LIST agrees
 * with what this command changed. */
enum cmd_result share_index_ok(struct client *c);
struct shared_list;
/* ACL entries of name and its children, before a DELETE or RENAME. */
void shared_snapshot(struct client *c, const char *name,
	struct shared_list **out);
/* ...and the index updates after it (to NULL for DELETE). */
void shared_moved(struct client *c, struct shared_list *l, const char *from,
	const char *to);
void shared_free(struct shared_list *l);
/* proxy.c: other users' shared mailboxes */
bool shared_name(const char *name, char *owner, size_t olen,
	const char **rest);
bool shared_placeholder(const char *name);
/* Routes a command that concerns a shared mailbox; 1 if it did (*res
 * set), 0 if the command is for this process's own store. */
int  proxy_command(struct client *c, const char *raw, size_t len,
	enum cmd_result *res);
void proxy_enabled(struct client *c);
/* The session's NOTIFY changed, or a shared mailbox was selected: the
 * selection's channel gets the selected filter (or NOTIFY NONE). */
bool proxy_notify(struct client *c, bool answer);
void proxy_free_all(struct client *c);
void proxy_client_drained(struct client *c);
void proxy_idle_line(struct client *c, const char *line, size_t len);
void guest_result(struct user *u, struct ipc_reader *r);
void shares_result(struct user *u, struct ipc_reader *r);
/* IPC_MBOX_SHARES_STALE, and the process's end. */
void shares_forget(struct user *u);

/* ---- NOTIFY (notify.c, RFC 5465) ---- */

enum cmd_result cmd_notify(struct client *c);
void notify_free(struct client *c);
/* A mailbox's messages changed (mbox_changed), or any may have
 * (mstates_refresh: another program wrote the store). */
void notify_mbox_changed(struct user *u, int64_t id);
void notify_all_changed(struct user *u);
/* After a command's tagged answer: what waited for it. */
void notify_after_command(struct client *c);
/* view_sync announced UIDs from "from" on: their MessageNew FETCH is
 * due (notify_fetch_new); notify_forget_new: not for the session's own
 * APPEND or COPY (RFC 5465 5.2). */
void notify_new_uids(struct client *c, uint32_t from);
void notify_forget_new(struct client *c);
void notify_fetch_new(struct client *c);
/* The FETCH of notify_fetch_new ended (client.c's finish_command). */
void notify_fetch_done(struct client *c);
bool notify_any_event(const struct client *c, unsigned ev);
/* Output past NOTIFY's bound: NOTIFICATIONOVERFLOW, notifications off. */
void notify_check_overflow(struct client *c);
/* False if NOTIFY asked for no events of the selected mailbox (then
 * IDLE doesn't send them either, RFC 5465 4). */
bool notify_wants_selected(const struct client *c);
/* The SELECTED or SELECTED-DELAYED group as the client wrote it, or
 * NULL: a shared mailbox's owner process applies it (proxy_notify). */
const char *notify_selected_group(const struct client *c);
/* Done by self: name created or deleted (oldname NULL) or renamed. */
void notify_mailbox_name(struct client *self, const char *name,
	const char *oldname);
void notify_subscription(struct client *self, const char *name);
void notify_metadata(struct client *self, const char *mailbox,
	const struct meta_entry *e, size_t n);

/* ---- live administration (admin.c) ---- */

/* IPC_MBOX_STATE_REQ: answers IPC_MBOX_STATE. */
void admin_state(struct user *u, struct ipc_reader *r);
/* IPC_MBOX_KICK: ends one session with a BYE. */
void admin_kick(struct user *u, struct ipc_reader *r);
enum cmd_result cmd_proxyauth(struct client *c);
enum cmd_result cmd_unauthenticate(struct client *c);
void            proxyauth_result(struct user *u, struct ipc_reader *r);
enum cmd_result cmd_getquota(struct client *c);
enum cmd_result cmd_getquotaroot(struct client *c);
enum cmd_result cmd_setquota(struct client *c);
void            setquota_result(struct user *u, struct ipc_reader *r);

#endif
