/*
 * mailbox.c - the per-user mailbox process: its start, its channel to the
 * master, and its end.  See mailbox.h for the lifetime rules and
 * doc/architecture.md for where it sits.
 */
#include "daemon/mailbox/mailbox.h"
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fsync setting is handed to the store as it is. */
_Static_assert((int)MK_FSYNC_NO == (int)STORE_SYNC_NONE &&
    (int)MK_FSYNC_ALL == (int)STORE_SYNC_ALL &&
    (int)MK_FSYNC_MESSAGES == (int)STORE_SYNC_MESSAGES,
    "enum mk_fsync and enum store_sync must agree");

static void
say_bye_all(struct user *u, const char *why)
{
	struct client *c, *next;

	for (c = u->clients; c != NULL; c = next) {
		next = c->next;
		client_close(c, why);
	}
}

/* The store could not be opened: answer the session and let it go. */
static void
refuse_session(int fd, const struct ipc_session *s)
{
	char line[512];
	int n = s->proto == MK_PROTO_POP3 ?
	    snprintf(line, sizeof(line), "-ERR [SYS/TEMP] Your maildrop can't "
	    "be opened right now; try again later\r\n") :
	    snprintf(line, sizeof(line),
	    "%s NO [UNAVAILABLE] Your mailbox can't be opened right now; "
	    "try again later\r\n* BYE Closing\r\n", s->tag);

	if (n > 0)
		(void)!write(fd, line, (size_t)MK_MIN((size_t)n, sizeof(line)));
	close(fd);
}

/* Tells the master that a session it sent is over (or never began). */
static void
end_session(struct user *u, uint64_t id)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_MBOX_SESSION_END);
	ipc_put_u64(&m, id);
	ipc_chan_send(u->master, &m);
}

static void
on_session(struct user *u, struct ipc_reader *r)
{
	struct ipc_session s;
	int fd;

	ipc_get_session(r, &s);
	if (!ipc_end(r) || (r->fd == -1 && !r->fd_lost))
		fatalx("malformed session from the master");
	if (strcmp(s.user, u->name) != 0 || s.user_id != u->id)
		fatalx("master sent a session for %s to %s's process",
		    s.user, u->name);
	if (r->fd_lost) {
		/* Out of descriptors (e.g. many guests' channels): this one
		 * session is refused - the master forgets it, the peer sees
		 * its end close - and every other session goes on. */
		log_warnx("session %016llx (%s%s%s): its connection could not "
		    "be received (too many open files): refused",
		    (unsigned long long)s.id, s.user,
		    s.method == IPC_IMP_GUEST ? ", guest " : "",
		    s.method == IPC_IMP_GUEST ? s.authcid : "");
		end_session(u, s.id);
		return;
	}
	fd = ipc_take_fd(r);
	u->quota_storage = s.quota_storage;
	u->quota_messages = s.quota_messages;
	if (u->store == NULL) {
		/* A delivery channel just closes: the LMTP process answers
		 * 451 for that recipient. */
		if (s.method == IPC_IMP_DELIVERY)
			close(fd);
		else
			refuse_session(fd, &s);
		end_session(u, s.id);
		return;
	}
	if (s.method == IPC_IMP_DELIVERY)
		delivery_new(u, fd, &s);
	else
		client_new(u, fd, &s);
}

static void
on_master(struct ipc_chan *ch, struct ipc_reader *r, void *arg)
{
	struct user *u = arg;

	(void)ch;
	if (r == NULL) {
		/* The master closed our channel: no session should remain;
		 * if the master died, say so to whoever is still here. */
		say_bye_all(u, "Server shutting down");
		ev_loop_break(u->loop);
		return;
	}
	if (r->bad)
		fatalx("malformed message from the master");
	switch (r->type) {
	case IPC_MBOX_SESSION:
		on_session(u, r);
		break;
	case IPC_MBOX_PROXYAUTH_RESULT:
		proxyauth_result(u, r);
		break;
	case IPC_MBOX_SETQUOTA_RESULT:
		setquota_result(u, r);
		break;
	case IPC_MBOX_URL_RESULT:
	case IPC_MBOX_GUEST_RESULT:
		guest_result(u, r);
		break;
	case IPC_MBOX_SHARES_RESULT:
		shares_result(u, r);
		break;
	case IPC_MBOX_SHARES_STALE:
		if (!ipc_end(r))
			fatalx("malformed SHARES_STALE from the master");
		shares_forget(u);
		break;
	case IPC_MBOX_SHARE_DONE: {
		uint8_t res = ipc_get_u8(r);
		if (!ipc_end(r))
			fatalx("malformed SHARE_DONE from the master");
		share_index_done(u, res);
		break;
	}
	case IPC_MBOX_STATE_REQ:
		admin_state(u, r);
		break;
	case IPC_MBOX_KICK:
		admin_kick(u, r);
		break;
	case IPC_MBOX_QUOTA:
		u->quota_storage = ipc_get_u64(r);
		u->quota_messages = ipc_get_u64(r);
		if (!ipc_end(r))
			fatalx("malformed QUOTA from the master");
		break;
	default:
		fatalx("unexpected %s from the master", ipc_type_name(r->type));
	}
}

static void
on_term(int signo, void *arg)
{
	struct user *u = arg;

	(void)signo;
	say_bye_all(u, "Server shutting down");
	ev_loop_break(u->loop);
}

/* SIGUSR1: mailkeepctl restore --force is about to replace the store
 * (sent from the user's own uid); the next login gets a fresh process
 * on the restored one. */
static void
on_restore(int signo, void *arg)
{
	struct user *u = arg;

	(void)signo;
	log_info("user %s: ending for a restore of the store", u->name);
	say_bye_all(u, "Your mailbox is being restored from a backup: log in "
	    "again in a moment");
	ev_loop_break(u->loop);
}

static void
open_store(struct user *u, const char *path)
{
	const struct mk_config *cfg = u->cfg;
	const struct store_init_folder init[] = {
		{ cfg->folder_drafts, SPECIAL_USE_DRAFTS },
		{ cfg->folder_sent, SPECIAL_USE_SENT },
		{ cfg->folder_trash, SPECIAL_USE_TRASH },
		{ cfg->folder_junk, SPECIAL_USE_JUNK },
	};
	struct store_init_folder use[nitems(init)];
	size_t n = 0;
	char err[256];

	/* An empty name in the config means: don't create that folder. */
	for (size_t i = 0; i < nitems(init); i++)
		if (init[i].name[0] != '\0')
			use[n++] = init[i];
	if (store_open(path, true, (enum store_sync)cfg->fsync, use, n, &u->store, err,
	    sizeof(err)) == -1) {
		log_warnx("user %s: cannot open store %s: %s", u->name, path, err);
		u->store = NULL;
		return;
	}
	store_set_compress(u->store, cfg->compress_bodies,
	    (int)cfg->compress_level, cfg->compress_min_size);
	/* Bodies held for sessions of an earlier process of this user (one
	 * that crashed before it let go of them): no session sees them now.
	 * Only this process takes holds, and one runs per user. */
	if (store_held_release_all(u->store) != 0)
		log_warnx("user %s: releasing held bodies: %s", u->name,
		    store_errmsg(u->store));
}

/* Another process (mailkeepctl deliver, an admin tool) wrote the store:
 * the kernel says so, and the sessions viewing a changed mailbox are
 * told as if a session of ours had changed it (IDLE wakes up).  One
 * watch per user process, there only while a session idles
 * (user_watch_update); nothing is polled. */
static void
store_written(struct ev_io *io, uint32_t revents)
{
	struct user *u = io->arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	(void)revents;
	while (read(io->fd, buf, sizeof(buf)) > 0)
		;
	if (u->store != NULL && store_changed_externally(u->store))
		mstates_refresh(u);
	user_rest_soon(u);
}

/* ---- at rest ---- */

#define REST_AFTER_MS 1000
#define STACK_MARGIN  (8 * 1024)	/* kept below the caller's frame */

/* The stack's lowest address now, from the [stack] line of
 * /proc/self/maps (it moves down as the stack grows), or 0. */
static uintptr_t
stack_floor(uintptr_t sp)
{
	unsigned long lo, hi;
	uintptr_t floor = 0;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "[stack]") != NULL &&
		    sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo < sp && sp < hi)
			floor = lo;
	fclose(f);
	return floor;
}

/* The deepest a command went (SQLite preparing a statement, a MIME
 * walk) stays resident in the stack, some 40 KiB, after it returned:
 * what lies below this frame (less a margin) is dead, and the kernel
 * gives zero pages back if the stack grows there again.  Nothing is
 * done where a sanitizer keeps locals off the stack (the address of a
 * local is then not in [stack]). */
static void __attribute__((noinline))
stack_release(void)
{
	volatile char here = 0;
	uintptr_t sp = (uintptr_t)&here, lo = stack_floor(sp), top;
	long pg = sysconf(_SC_PAGESIZE);

	if (lo == 0 || pg <= 0 || sp - lo <= STACK_MARGIN)
		return;
	top = (sp - STACK_MARGIN) & ~((uintptr_t)pg - 1);
	if (top > lo && madvise((void *)lo, top - lo, MADV_DONTNEED) == -1)
		log_warn("madvise stack");
}

/* No session is inside a command: a paused or waiting one may hold a
 * prepared statement. */
static bool
sessions_between(const struct user *u)
{
	for (const struct client *c = u->clients; c != NULL; c = c->next)
		if (c->cont != NULL || c->waiting)
			return false;
	return true;
}

void
user_rest(struct user *u)
{
	ev_timer_stop(u->loop, &u->rest_timer);
	for (struct client *c = u->clients; c != NULL; c = c->next)
		client_rest(c);
	store_release_memory(u->store, sessions_between(u));
	malloc_trim(0);
	stack_release();
}

/* The batch's writes are not in the store, and answers and wake-ups
 * that tell of them sit in the sessions' buffers: none of them may go
 * out.  Sessions and the store then disagree, so the process ends, as
 * on a crash; clients reconnect to what the store holds. */
static void
commit_failed(struct user *u)
{
	static const char bye[] =
	    "* BYE Server error: changes could not be saved\r\n";

	log_warnx("%s: a commit failed (%s): ending the user's sessions",
	    u->name, store_errmsg(u->store));
	for (struct client *c = u->clients; c != NULL; c = c->next) {
		if (c->dead || c->z != NULL || c->is_pop3 || c->fd == -1)
			continue;
		/* Best effort, once: the socket may be full. */
		(void)!send(c->fd, bye, sizeof(bye) - 1,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	fatalx("%s: changes could not be saved", u->name);
}

void
user_commit(struct user *u)
{
	if (u->store != NULL && store_batch_commit(u->store) != 0)
		commit_failed(u);
}

void
user_batch_end(struct user *u)
{
	if (u->store != NULL && store_batch_end(u->store) != 0)
		commit_failed(u);
	store_batch_ended(u->store, sessions_between(u));
}

static void
before_master_send(void *arg)
{
	user_commit(arg);
}

static void
rest_due(struct ev_timer *t)
{
	user_rest(t->arg);
}

void
user_rest_soon(struct user *u)
{
	ev_timer_start(u->loop, &u->rest_timer, REST_AFTER_MS);
}

/*
 * The watch on the store's directory is there only while some session
 * idles.  Every other session checks the store's data_version at its
 * next command (client.c execute), which is when RFC 3501 lets it be
 * told; and with the watch on, each write of our own commits to the WAL
 * queued an event for ourselves, some 6 % of a busy process's CPU.
 * When the watch comes back, whatever another program committed in the
 * meantime is looked for at once.
 */
void
user_watch_update(struct user *u)
{
	bool want = false;

	if (u->watch_dir == NULL)
		return;
	for (struct client *c = u->clients; c && !want; c = c->next)
		want = c->idling && !c->dead;
	if (want && u->watch_wd == -1) {
		u->watch_wd = inotify_add_watch(u->watch.fd, u->watch_dir,
		    IN_MODIFY | IN_CLOSE_WRITE);
		if (u->watch_wd == -1)
			log_warn("inotify on %s: changes by other processes "
			    "will be seen at the next command, not during IDLE",
			    u->watch_dir);
		else if (u->store != NULL && store_changed_externally(u->store))
			mstates_refresh(u);
	} else if (!want && u->watch_wd != -1) {
		(void)inotify_rm_watch(u->watch.fd, u->watch_wd);
		u->watch_wd = -1;
	}
}

static void
watch_store(struct user *u, const char *store_path)
{
	char dir[PATH_MAX];
	int fd;

	u->watch_wd = -1;
	mk_strlcpy(dir, store_path, sizeof(dir));
	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		log_warn("inotify: changes by other processes will be seen at "
		    "the next command, not during IDLE");
		return;
	}
	ev_io_init(&u->watch, fd, store_written, u);
	if (ev_io_start(u->loop, &u->watch, EPOLLIN) == -1) {
		close(fd);
		return;
	}
	u->watch_dir = xstrdup(dirname(dir));
}

/* <user dir>/tmp holds the unnamed temporary files of APPENDs being
 * received (client.c) or rewritten (store_prep.c).  A directory of its
 * own, because the inotify watch on the store's directory must not wake
 * for every chunk written.  Only this process uses it: a name found
 * there is a leftover of a crash (where O_TMPFILE is unsupported). */
static void
open_spool_dir(struct user *u, const char *store_path)
{
	char dir[PATH_MAX];
	int dfd, fd;
	DIR *d;
	struct dirent *e;

	u->spool_dir = -1;
	mk_strlcpy(dir, store_path, sizeof(dir));
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1 ||
	    (mkdirat(dfd, "tmp", 0700) == -1 && errno != EEXIST) ||
	    (fd = openat(dfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1) {
		log_warn("user %s: no spool directory in %s; large APPENDs "
		    "are held in memory", u->name, dir);
		if (dfd != -1)
			close(dfd);
		return;
	}
	close(dfd);
	u->spool_dir = fd;
	if ((fd = dup(u->spool_dir)) != -1 && (d = fdopendir(fd)) != NULL) {
		while ((e = readdir(d)) != NULL)
			if (strncmp(e->d_name, ".tmp.", 5) == 0)
				(void)unlinkat(u->spool_dir, e->d_name, 0);
		closedir(d);
	} else if (fd != -1)
		close(fd);
}

/* Flush what can be flushed to clients still closing, briefly. */
static void
drain(struct user *u)
{
	for (int i = 0; i < 20 && u->clients != NULL; i++) {
		for (struct client *c = u->clients; c; c = c->next)
			client_flush(c);
		if (u->clients != NULL)
			usleep(50 * 1000);
	}
}

void
mailbox_main(const struct mk_config *cfg, int master_fd, uint32_t user_id,
    const char *user, const char *store_path)
{
	struct user u;

	memset(&u, 0, sizeof(u));
	log_set_role("mailbox");
	signal(SIGPIPE, SIG_IGN);
	u.cfg = cfg;
	u.id = user_id;
	mk_strlcpy(u.name, user, sizeof(u.name));
	mk_strlcpy(u.store_path, store_path, sizeof(u.store_path));
	u.loop = ev_loop_new();
	if (ev_signal(u.loop, SIGTERM, on_term, &u) == -1 ||
	    ev_signal(u.loop, SIGINT, on_term, &u) == -1 ||
	    ev_signal(u.loop, SIGUSR1, on_restore, &u) == -1)
		fatal("signals");
	signal(SIGHUP, SIG_IGN);
	/* Allocations from 128 KiB up get their own mapping, returned to
	 * the system on free(): a fixed threshold, since glibc's sliding
	 * one would otherwise keep a big command's buffers in the heap. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (store_memory_lean() != 0)
		log_warnx("SQLite was set up before the store: its page cache "
		    "keeps its first block");
	ev_timer_init(&u.rest_timer, rest_due, &u);
	u.master = ipc_chan_new(u.loop, master_fd, on_master, &u);
	ipc_chan_before_send(u.master, before_master_send, &u);
	open_store(&u, store_path);
	fts_idle_start(&u);
	preview_idle_start(&u);
	compress_idle_start(&u);
	open_spool_dir(&u, store_path);
	watch_store(&u, store_path);
	log_debug("serving %s from %s", u.name, store_path);
	ev_loop_run(u.loop);
	ev_timer_stop(u.loop, &u.fts_timer);
	ev_timer_stop(u.loop, &u.preview_timer);
	ev_timer_stop(u.loop, &u.compress_timer);
	ev_timer_stop(u.loop, &u.rest_timer);
	drain(&u);
	ipc_chan_flush(u.master);
	if (u.store)
		store_close(u.store);
	shares_forget(&u);
	exit(0);
}
