/*
 * cmd_session.c - commands about the session rather than mail:
 * CAPABILITY, NOOP, CHECK, LOGOUT, ID (RFC 2971), ENABLE (RFC 5161),
 * NAMESPACE (RFC 2342) and IDLE (RFC 2177).
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>

enum cmd_result
cmd_capability(struct client *c)
{
	buf_adds(&c->out, "* CAPABILITY ");
	resp_capability_list(c, &c->out);
	buf_adds(&c->out, "\r\n");
	return resp_ok(c, "CAPABILITY completed");
}

enum cmd_result
cmd_noop(struct client *c)
{
	/* The point of NOOP is the untagged updates, sent on completion. */
	return resp_ok(c, "NOOP completed");
}

enum cmd_result
cmd_check(struct client *c)
{
	/* Every change is committed when its command completes. */
	return resp_ok(c, "CHECK completed");
}

enum cmd_result
cmd_logout(struct client *c)
{
	if (c->state == CS_SELECTED)
		view_close(c);
	resp_untagged(c, "BYE Logging out");
	c->state = CS_LOGOUT;
	return resp_ok(c, "LOGOUT completed");
}

enum cmd_result
cmd_id(struct client *c)
{
	const struct imap_cmd *cmd = c->cmd;

	/* Log what the client says about itself; answer name and version
	 * only (RFC 2971 7: nothing that helps an attacker). */
	if (cmd->u.id.kv != NULL && log_get_verbose() > 0) {
		for (size_t i = 0; i + 1 < cmd->u.id.nkv; i += 2)
			log_debug("session %016llx: ID %s=%s",
			    (unsigned long long)c->session_id, cmd->u.id.kv[i],
			    cmd->u.id.kv[i + 1] ? cmd->u.id.kv[i + 1] : "NIL");
	}
	resp_untagged(c, "ID (\"name\" \"Mailkeep\" \"version\" \"%s\")",
	    MK_VERSION);
	return resp_ok(c, "ID completed");
}

enum cmd_result
cmd_enable(struct client *c)
{
	const struct imap_cmd *cmd = c->cmd;
	struct buf *b = &c->out;
	unsigned before = c->enabled;

	for (size_t i = 0; i < cmd->u.enable.ncaps; i++) {
		const char *cap = cmd->u.enable.caps[i];
		if (str_ieq(cap, "CONDSTORE"))
			c->enabled |= CAP_CONDSTORE;
		else if (str_ieq(cap, "QRESYNC"))
			c->enabled |= CAP_QRESYNC | CAP_CONDSTORE;
		/* Anything else is not ours to enable; RFC 5161 says ignore. */
	}
	buf_adds(b, "* ENABLED");
	/* Only what this command newly enabled is listed. */
	if ((c->enabled & CAP_CONDSTORE) && !(before & CAP_CONDSTORE))
		buf_adds(b, " CONDSTORE");
	if ((c->enabled & CAP_QRESYNC) && !(before & CAP_QRESYNC))
		buf_adds(b, " QRESYNC");
	buf_adds(b, "\r\n");
	return resp_ok(c, "ENABLE completed");
}

enum cmd_result
cmd_namespace(struct client *c)
{
	/* Personal, then other users' mailboxes shared with this user
	 * (RFC 2342); no public namespace. */
	if (client_is_guest(c))
		resp_untagged(c, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	else
		resp_untagged(c, "NAMESPACE ((\"\" \"/\")) "
		    "((\"Other Users/\" \"/\")) NIL");
	return resp_ok(c, "NAMESPACE completed");
}

enum cmd_result
cmd_idle(struct client *c)
{
	if (c->state == CS_SELECTED && view_sync(c, true) == -1) {
		client_close(c, "Selected mailbox was deleted, have to disconnect");
		return resp_no(c, "Mailbox deleted");
	}
	buf_adds(&c->out, "+ idling\r\n");
	return RUN_IDLE;
}

/* Another session changed the selected mailbox: tell the idler now. */
void
idle_wake(struct client *c)
{
	/* Rights first: a guest who lost "r" is told of nothing more. */
	if (!rights_recheck(c)) {
		client_flush(c);
		return;
	}
	if (c->state == CS_SELECTED && view_sync(c, true) == -1) {
		client_close(c, "Selected mailbox was deleted, have to disconnect");
		return;
	}
	client_flush(c);
}

void
idle_line(struct client *c, const char *line, size_t len)
{
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
		resp_ok(c, "IDLE terminated");
	else
		resp_bad(c, "Expected DONE to end IDLE");
}
