/*
 * cmd_session.c - commands about the session rather than mail:
 * CAPABILITY, NOOP, CHECK, LOGOUT, ID (RFC 2971), ENABLE (RFC 5161),
 * NAMESPACE (RFC 2342), IDLE (RFC 2177) and COMPRESS (RFC 4978; the
 * stream itself is client.c's).
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"
#include "common/zstream.h"

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

/* UTF8=ACCEPT is listed when asked for by name and newly on (IMAP4rev2
 * alone turns UTF-8 names on without naming it). */
static bool
enabled_utf8_now(const struct imap_cmd *cmd, unsigned before, unsigned now)
{
	if ((before & CAP_UTF8) || !(now & CAP_UTF8))
		return false;
	for (size_t i = 0; i < cmd->u.enable.ncaps; i++)
		if (str_ieq(cmd->u.enable.caps[i], "UTF8=ACCEPT"))
			return true;
	return false;
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
		else if (str_ieq(cap, "IMAP4rev2"))
			/* RFC 9051 names are UTF-8 (5.1), as with UTF8=ACCEPT. */
			c->enabled |= CAP_REV2 | CAP_UTF8;
		else if (str_ieq(cap, "UTF8=ACCEPT"))
			c->enabled |= CAP_UTF8 | CAP_UTF8_ACCEPT;
		/* Anything else is not ours to enable; RFC 5161 says ignore. */
	}
	buf_adds(b, "* ENABLED");
	/* Only what this command newly enabled is listed. */
	if ((c->enabled & CAP_CONDSTORE) && !(before & CAP_CONDSTORE))
		buf_adds(b, " CONDSTORE");
	if ((c->enabled & CAP_QRESYNC) && !(before & CAP_QRESYNC))
		buf_adds(b, " QRESYNC");
	if ((c->enabled & CAP_REV2) && !(before & CAP_REV2))
		buf_adds(b, " IMAP4rev2");
	if (enabled_utf8_now(cmd, before, c->enabled))
		buf_adds(b, " UTF8=ACCEPT");
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
	/* NOTIFY's own FETCH is streaming: it catches up when done. */
	if (c->notify_fetching)
		return;
	/* Rights first: a guest who lost "r" is told of nothing more. */
	if (!rights_recheck(c)) {
		client_flush(c);
		return;
	}
	if (!notify_wants_selected(c)) {
		client_flush(c);
		return;
	}
	if (c->state == CS_SELECTED && view_sync(c, true) == -1) {
		client_close(c, "Selected mailbox was deleted, have to disconnect");
		return;
	}
	notify_fetch_new(c);
	notify_check_overflow(c);
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

/* Measured on IMAP responses (doc/capabilities.md): zlib's default
 * level 6 takes 2-5 times level 1's CPU for 2-6 points less output; the
 * server compresses for every client, so it takes the cheap level (RFC
 * 4978 4 suggests 1-5). */
#define COMPRESS_LEVEL 1

enum cmd_result
cmd_compress(struct client *c)
{
	if (!str_ieq(c->cmd->u.compress.mech, "DEFLATE"))
		return resp_bad(c, "Unknown compression mechanism; DEFLATE is "
		    "the one offered");
	if (c->z != NULL)
		return resp_no(c, "[COMPRESSIONACTIVE] DEFLATE is already "
		    "active on this connection");
	/* A channel from another user's process is not a client link. */
	if (client_is_guest(c))
		return resp_bad(c, "COMPRESS is not available here");
	/* The client must wait for our answer (RFC 4978 3): whatever it
	 * sent meanwhile is neither plain nor compressed for sure. */
	if (buf_len(&c->in) > 0)
		return resp_bad(c, "COMPRESS must not be pipelined: wait for "
		    "its answer before sending compressed commands");
	if ((c->z_next = zs_new(COMPRESS_LEVEL)) == NULL)
		return resp_no(c, "[SERVERBUG] Compression can't start now");
	return resp_ok(c, "DEFLATE active");
}
