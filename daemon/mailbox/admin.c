/*
 * admin.c - what the master's live administration asks of a mailbox
 * process (daemon/master/control.c): the state of its sessions for
 * `mailkeepctl who`, `stats` and the metrics, and ending one session
 * for `mailkeepctl kick`.
 *
 * The master asks only when an administrator (or the metrics scraper)
 * does, at most one request at a time per process; nothing is sent
 * per command.  The answer is bounded (IPC_STATE_MAX_SESSIONS entries
 * of at most IPC_STATE_MBOX_MAX bytes of mailbox name).
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The database and its WAL: what the store takes on disk now. */
static uint64_t
store_bytes(const struct user *u)
{
	char wal[PATH_MAX + 8];
	struct stat st;
	uint64_t n = 0;

	if (stat(u->store_path, &st) == 0)
		n += (uint64_t)st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", u->store_path);
	if (stat(wal, &st) == 0)
		n += (uint64_t)st.st_size;
	return n;
}

static const char *
selected_name(const struct client *c)
{
	if (c->proxy != NULL)
		return "(a shared mailbox)";
	if (c->state == CS_SELECTED && c->view.ms != NULL)
		return c->view.ms->m.name;
	return "";
}

void
admin_state(struct user *u, struct ipc_reader *r)
{
	uint64_t req = ipc_get_u64(r), now = ev_now(u->loop);
	char name[IPC_STATE_MBOX_MAX + 1];
	struct ipc_msg m;
	uint32_t total = 0, n = 0;

	if (!ipc_end(r))
		fatalx("malformed STATE_REQ from the master");
	for (struct client *c = u->clients; c != NULL; c = c->next)
		if (!c->dead)
			total++;
	ipc_msg_init(&m, IPC_MBOX_STATE);
	ipc_put_u64(&m, req);
	ipc_put_u64(&m, store_bytes(u));
	ipc_put_u32(&m, total);
	ipc_put_u32(&m, MK_MIN(total, IPC_STATE_MAX_SESSIONS));
	for (struct client *c = u->clients; c != NULL &&
	    n < IPC_STATE_MAX_SESSIONS; c = c->next) {
		if (c->dead)
			continue;
		/* Cut at a byte count: the name is shown, never used. */
		mk_strlcpy(name, selected_name(c), sizeof(name));
		ipc_put_u64(&m, c->session_id);
		ipc_put_str(&m, name);
		ipc_put_u32(&m, (uint32_t)((now - MK_MIN(now, c->last_cmd)) /
		    1000));
		n++;
	}
	if (ipc_chan_send(u->master, &m) == -1)
		log_warn("answering the master's state request");
}

void
admin_kick(struct user *u, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	const char *text = ipc_get_str(r);

	if (!ipc_end(r) || text == NULL || strlen(text) > 200 ||
	    strpbrk(text, "\r\n") != NULL)
		fatalx("malformed KICK from the master");
	for (struct client *c = u->clients; c != NULL; c = c->next)
		if (c->session_id == id && !c->dead) {
			log_info("session %016llx of %s: ended by the "
			    "administrator", (unsigned long long)id, u->name);
			client_close(c, text);
			return;
		}
}
