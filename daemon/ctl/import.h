/*
 * import.h - mailkeepctl import: its two processes and the channel
 * between them (doc/migration.md).
 *
 * The reader (import_src.c) is forked by the worker of mailkeepctl
 * while it is still root.  It opens the source without following any
 * symbolic link, drops to the uid and gid of the source's owner, lists
 * what it holds, and then answers requests for message bodies.  The
 * worker (import.c) drops to the Mailkeep user's uid and writes the
 * user's store.  So each side holds only one side's rights: the reader
 * can read nothing its owner could not, the worker can write nothing
 * but the user's store.
 *
 * The channel (a stream socketpair) carries records: one type byte, a
 * 32-bit payload length, the payload.  Payload fields are u32/u64/i64
 * in host order (both ends are this program) and strings as a u32
 * length and the bytes.  Reader to worker, first the listing:
 *   'S' str name                       a subscription
 *   'F' str name, u32 uidvalidity, u32 uidnext     a folder (0: unknown)
 *   'M' str key, u32 uid, u32 flags, str keywords, i64 date, i32 tz,
 *       u64 size                        a message of the last folder
 *   'W' str text                        a warning for the administrator
 *   'E'                                 end of the listing
 * then, for each request 'B' (u32 folder, u32 message, counted from 0
 * in listing order) from the worker, 'D' (the bytes) or 'X' (str why).
 * Before a folder's first 'B' the worker sends 'W' (u32 folder, u32
 * count, then count u32 message indexes, ascending): the messages it
 * will ask for, in that order, so a reader may fetch them in batches
 * (IMAP); a reader may also ignore it.  The worker ends with 'Q' or by
 * closing.  The worker trusts nothing
 * from the reader: every length is bounded, every index checked.
 */
#ifndef MK_IMPORT_H
#define MK_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IMP_REC_MAX   (64 * 1024)	/* a listing record */
#define IMP_KEY_MAX   1400		/* folder + '\t' + file name */

/* Exit statuses of import beyond mailkeepctl's. */
#define IMP_EX_PARTIAL 7	/* some messages did not fit (quota, size) */

struct store;

struct import_opts {
	const char *user;
	const char *source;	/* as given: an absolute path or a URL */
	uint64_t    quota_kib;	/* effective limits, 0 unlimited */
	uint64_t    quota_msgs;
	uint64_t    max_message;
};

/* ---- the reader's end of the channel (import_chan.c) ---- */

struct imp_meta {
	const char *key;
	uint32_t    uid, flags;
	const char *keywords;
	int64_t     date;
	int32_t     tz;
	uint64_t    size;
};
void imp_write_all(int fd, const void *p, size_t n);
bool imp_read_all(int fd, void *p, size_t n);
void imp_send_warn(int chan, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void imp_send_folder(int chan, const char *name, uint32_t uidvalidity,
	uint32_t uidnext);
void imp_send_msg(int chan, const struct imp_meta *m);
void imp_send_sub(int chan, const char *name);
void imp_send_end(int chan);
void imp_send_err(int chan, const char *why);
void imp_send_body(int chan, const char *p, size_t n);
/* The next request: 'B' (a folder, b message), 'W' (a folder, b count;
 * that many message indexes follow: read them, or imp_skip_want()), or
 * 0 at the end ('Q', the worker gone, anything else). */
char imp_next_request(int chan, uint32_t *a, uint32_t *b);
bool imp_skip_want(int chan, uint32_t count);
/* Forks a reader: 0 in the child (*chan its end; every descriptor but
 * stdio and *chan closed), its pid in the parent (*chan ours), -1 with
 * a message printed. */
pid_t imp_fork(int *chan);

/* In the worker while still root: forks the reader for a local source
 * (an absolute path), which walks it without following links and drops
 * to its owner.  Returns the worker's end of the channel and the
 * reader's pid, or -1 (message printed). */
int  import_reader_start(const char *path, pid_t *pid);
/* The same for a remote IMAP account (imap:// or imaps://): the reader
 * runs as the worker's own uid, after the worker dropped to it; the
 * password is read from standard input before anything else.  ca: a
 * PEM file of trusted authorities, or NULL/"" for the system's. */
int  import_imap_reader_start(const char *url, const char *ca,
	size_t max_message, pid_t *pid);
bool import_source_is_url(const char *source);

/* In the worker as the user: imports everything the reader lists that
 * the store has not yet got from this source.  Returns an exit status
 * (0, IMP_EX_PARTIAL, or 1). */
int  import_run(const struct import_opts *o, struct store *s, int chan);

#endif
