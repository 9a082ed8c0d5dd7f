/*
 * mailbox.c - the per-user mailbox process: its start, its channel to the
 * master, and its end.  See mailbox.h for the lifetime rules and
 * doc/architecture.md for where it sits.
 */
#include "daemon/mailbox/mailbox.h"
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"

#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <sys/inotify.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	int n = snprintf(line, sizeof(line),
	    "%s NO [UNAVAILABLE] Your mailbox can't be opened right now; "
	    "try again later\r\n* BYE Closing\r\n", s->tag);

	if (n > 0)
		(void)!write(fd, line, (size_t)MK_MIN((size_t)n, sizeof(line)));
	close(fd);
}

static void
on_session(struct user *u, struct ipc_reader *r)
{
	struct ipc_session s;
	int fd;

	ipc_get_session(r, &s);
	if (!ipc_end(r) || r->fd == -1)
		fatalx("malformed session from the master");
	fd = ipc_take_fd(r);
	if (strcmp(s.user, u->name) != 0 || s.user_id != u->id)
		fatalx("master sent a session for %s to %s's process",
		    s.user, u->name);
	u->quota_storage = s.quota_storage;
	u->quota_messages = s.quota_messages;
	if (u->store == NULL) {
		struct ipc_msg m;
		/* A delivery channel just closes: the LMTP process answers
		 * 451 for that recipient. */
		if (s.method == IPC_IMP_DELIVERY)
			close(fd);
		else
			refuse_session(fd, &s);
		ipc_msg_init(&m, IPC_MBOX_SESSION_END);
		ipc_put_u64(&m, s.id);
		ipc_chan_send(u->master, &m);
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
	case IPC_MBOX_GUEST_RESULT:
		guest_result(u, r);
		break;
	case IPC_MBOX_SHARES_RESULT:
		shares_result(u, r);
		break;
	case IPC_MBOX_SHARE_DONE:
		if (!ipc_end(r))
			fatalx("malformed SHARE_DONE from the master");
		share_index_done(u);
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
	if (store_open(path, true, cfg->fsync, use, n, &u->store, err,
	    sizeof(err)) == -1) {
		log_warnx("user %s: cannot open store %s: %s", u->name, path, err);
		u->store = NULL;
	}
}

/* Another process (mailkeepctl deliver, an admin tool) wrote the store:
 * the kernel says so, and the sessions viewing a changed mailbox are
 * told as if a session of ours had changed it (IDLE wakes up).  One
 * watch per user process; nothing is polled. */
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
}

static void
watch_store(struct user *u, const char *store_path)
{
	char dir[PATH_MAX];
	int fd;

	mk_strlcpy(dir, store_path, sizeof(dir));
	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    inotify_add_watch(fd, dirname(dir), IN_MODIFY | IN_CLOSE_WRITE) == -1) {
		log_warn("inotify on %s: deliveries by other processes will be "
		    "seen at the next command, not during IDLE", dir);
		if (fd != -1)
			close(fd);
		return;
	}
	ev_io_init(&u->watch, fd, store_written, u);
	if (ev_io_start(u->loop, &u->watch, EPOLLIN) == -1)
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
	u.loop = ev_loop_new();
	if (ev_signal(u.loop, SIGTERM, on_term, &u) == -1 ||
	    ev_signal(u.loop, SIGINT, on_term, &u) == -1)
		fatal("signals");
	signal(SIGHUP, SIG_IGN);
	u.master = ipc_chan_new(u.loop, master_fd, on_master, &u);
	open_store(&u, store_path);
	watch_store(&u, store_path);
	log_debug("serving %s from %s", u.name, store_path);
	ev_loop_run(u.loop);
	drain(&u);
	ipc_chan_flush(u.master);
	if (u.store)
		store_close(u.store);
	exit(0);
}
