/*
 * ctl.h - what the files of mailkeepctl share.
 *
 * mailkeepctl.c holds the tool's frame (options, the command table,
 * the instance, the users' commands) and the workers that run as a
 * user's uid; backup.c holds backup and restore, which use both;
 * live.c the requests to the running daemon (who, kick, reload, stats);
 * compress.c mailkeepctl compress.
 */
#ifndef MK_CTL_H
#define MK_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "store/directory.h"
#include "store/store.h"

enum {
	EX_OK_ = 0, EX_FAIL = 1, EX_USAGE_ = 2, EX_NOINSTANCE = 3,
	EX_EXISTS = 4, EX_NOUSER = 5, EX_BADINPUT = 6, EX_LDAP = 8,
};

/* Worker exit statuses beyond the command's own (EX_*, DX_*). */
#define W_NOSTORE 40	/* the user has no store yet (message printed) */
#define W_DRIFT   41	/* quota-check: counters corrected */
#define W_BROKEN  42	/* the worker could not become the user */
#define W_RUNNING 43	/* restore: the user's mailbox process runs */

struct ctx {
	const char       *conf;		/* -c, $MAILKEEP_CONF or the default */
	struct mk_config  cfg;
	struct directory *dir;
	int               argc;
	char            **argv;		/* the command's arguments */
	int               usersfd;	/* data_dir/users, or -1 until needed */
	int               udir;		/* in a worker: users/<name>, or -1 */
	pid_t             spawner;	/* of the workers, or -1 */
	int               wsock;	/* to the spawner, or -1 */
	int               xfd;		/* in a worker: the descriptor root
					 * handed it (backup, restore), or -1 */
};

enum work_op {
	WORK_QUOTA = 1,		/* print the quota usage */
	WORK_CHECK,		/* quota-check one user */
	WORK_ACL,		/* list, or set one entry */
	WORK_REMOVE,		/* empty users/<name> (userdel) */
	WORK_BACKUP,		/* copy the store into xfd */
	WORK_RESTORE,		/* replace the store by the copy in xfd */
	WORK_IMPORT,		/* import mail from source */
	WORK_FTS,		/* rebuild the full-text index */
	WORK_LINK,		/* move: a step over the link (move.c) */
	WORK_COMPRESS,		/* rewrite old one-blob bodies compressed */
};

enum link_step { LINK_STEP_COPY = 1, LINK_STEP_COMMIT };

struct work_req {
	uint32_t op;			/* enum work_op */
	uint32_t uid;			/* the worker runs as uid:uid */
	char     name[MK_USER_MAX];	/* users/<name> */
	int64_t  quota_storage;		/* QUOTA: the user's limits */
	int64_t  quota_messages;
	bool     has_mailbox;		/* ACL: one mailbox */
	char     mailbox[MK_MBOX_NAME_MAX];
	char     ident[MK_USER_MAX];	/* ACL: "" lists, else sets */
	char     rights[16];
	bool     force;			/* RESTORE: replace a store, end the
					 * user's mailbox process */
	int32_t  master_pid;		/* RESTORE: the running daemon's
					 * master (0: none runs) */
	char     source[PATH_MAX];	/* IMPORT: absolute path or URL */
	char     tls_ca[PATH_MAX];	/* IMPORT: trusted CAs, or "" */
	/* LINK (move.c): the target, the step, and the row that travels */
	char     link_backend[65];
	char     link_ip[64];
	uint16_t link_port;
	uint8_t  link_step;		/* enum link_step */
	char     link_hash[256];
	bool     link_admin;
	uint64_t link_bytes;		/* of the copy in the descriptor */
	uint8_t  link_sha256[32];
};

struct command;

void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int  usage_of(const struct command *c);
const struct command *find_command(const char *name);
bool take_flag(struct ctx *x, const char *flag);
bool has_stray_option(const struct ctx *x);
bool user_name(const char *in, char *out);
bool new_user_ok(struct ctx *x, const char *name);
/* A backend a user may be put on: a declared one, or this server (else
 * false, said). */
bool backend_ok(const struct ctx *x, const char *backend);
int  get_user(struct ctx *x, const char *name, struct dir_user *u);
int  users_fd(struct ctx *x);
uid_t mail_uid(const struct ctx *x, const struct dir_user *u);
void work_init(struct ctx *x, struct work_req *q, enum work_op op,
	const struct dir_user *u);
/* Has a worker carry out q, handing it fd (-1: none; the caller keeps
 * its own); the worker's status, or -1 (message printed). */
int  as_user_fd(struct ctx *x, const struct work_req *q, int fd);
int  user_store_open(struct ctx *x, const char *name, bool create,
	struct store **s);
/* A command's "NAME|--all": a worker of op for that user, or for every
 * user (a user with no store yet is said and passed over); exit 1 if
 * any failed. */
int  work_user_or_all(struct ctx *x, const char *cmd, enum work_op op);
/* A long job's progress (fts-rebuild, compress): a bar on a terminal,
 * else a line per tenth; *last is the percentage printed before. */
void progress_line(const char *name, uint64_t done, uint64_t total,
	const char *what, bool tty, unsigned *last);
/* Removes users/<name> (unless keep), by a worker as its owner. */
int  remove_user_dir(struct ctx *x, const char *name, bool keep);

/* live.c: requests to the running daemon's control socket */
int  cmd_who(struct ctx *x);
int  cmd_kick(struct ctx *x);
int  cmd_reload(struct ctx *x);
int  cmd_stats(struct ctx *x);
/* Sends one request line; 0 with the text after "OK " of the answer's
 * first line in out, or -1 (message printed). */
int  live_ask(struct ctx *x, const char *line, char *out, size_t outlen);
void live_shares_changed(struct ctx *x);
/* The pid of the running daemon's master (the control socket's peer),
 * or 0 if none answers there. */
pid_t control_master_pid(struct ctx *x);

/* backup.c (the commands, as root), backup_work.c (the workers) */
int  cmd_backup(struct ctx *x);
int  cmd_restore(struct ctx *x);
int  backup_work(struct ctx *x, const struct work_req *q);
int  restore_work(struct ctx *x, const struct work_req *q);

/* compress.c (the command, as root; the worker, as the user) */
int  cmd_compress(struct ctx *x);
int  compress_work(struct ctx *x, const struct work_req *q);

/* move.c (the command, as root; the link worker, see there) */
int  cmd_move(struct ctx *x);
int  link_work(struct ctx *x, const struct work_req *q);

#endif
