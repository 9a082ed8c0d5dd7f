/*
 * cmd_proxyauth.c - PROXYAUTH, as Oracle/Sun Messaging Server defines it:
 * "tag PROXYAUTH <user>" in the authenticated state, at most once per
 * session, turns an administrator's session into the target user's.
 * Not advertised in CAPABILITY (Oracle doesn't either).
 *
 * This process only asks; the master decides from the directory (is this
 * process's user an admin? does the target exist, and is it not an
 * admin?), writes the audit trail, and on OK takes the socket back to
 * give it to the target's process, which answers the tagged OK.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>

enum cmd_result
cmd_proxyauth(struct client *c)
{
	struct ipc_msg m;

	/* Once per session: a session that already acts as someone else
	 * (PROXYAUTH, authzid, login separator) can't do it again.  A
	 * refused attempt changes nothing, so it may be retried. */
	if (c->method == IPC_IMP_GUEST)
		return resp_bad(c, "PROXYAUTH is not available here");
	if (c->method != IPC_IMP_NONE)
		return resp_bad(c, "PROXYAUTH may be used once per session; this "
		    "session already acts as %s", c->user->name);
	/* The socket moves to the target's process, which could not know
	 * this connection's compressor state. */
	if (c->z != NULL)
		return resp_no(c, "PROXYAUTH is not possible after COMPRESS; "
		    "use it before COMPRESS");
	/* Bounded where it enters: no user name is that long. */
	if (strlen(c->cmd->u.proxyauth.user) > IPC_IDENT_MAX)
		return resp_no(c, "No such user.");
	ipc_msg_init(&m, IPC_MBOX_PROXYAUTH);
	ipc_put_u64(&m, c->session_id);
	ipc_put_str(&m, c->cmd->u.proxyauth.user);
	if (ipc_chan_send(c->user->master, &m) == -1)
		return resp_no(c, "[UNAVAILABLE] PROXYAUTH can't be asked now");
	return RUN_WAIT;
}

void
proxyauth_result(struct user *u, struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	uint8_t res = ipc_get_u8(r);
	const char *text = ipc_get_str(r);
	struct client *c;

	if (!ipc_end(r))
		fatalx("malformed PROXYAUTH_RESULT from the master");
	/* The client may have gone while the master decided. */
	if ((c = client_by_session(u, id)) == NULL || !c->waiting)
		return;
	switch (res) {
	case IPC_AUTH_OK:
		log_info("session %016llx: PROXYAUTH to %s granted",
		    (unsigned long long)id, c->cmd->u.proxyauth.user);
		client_hand_back(c);
		return;
	case IPC_AUTH_NO_SUCH_USER:
		resp_no(c, "[NONEXISTENT] %s", text);
		break;
	case IPC_AUTH_UNAVAILABLE:
		resp_no(c, "[UNAVAILABLE] %s", text);
		break;
	case IPC_AUTH_REFERRAL:	/* the code is in the master's text */
		resp_no(c, "%s", text);
		break;
	default:
		resp_no(c, "[NOPERM] %s", text);
		break;
	}
	client_resume(c);
}
