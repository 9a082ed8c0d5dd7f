/*
 * names.c - mailbox names as a session speaks them.
 *
 * The store keeps every name in modified UTF-7, as IMAP4rev1 clients
 * send them.  A session that enabled UTF8=ACCEPT (RFC 6855) or
 * IMAP4rev2 (RFC 9051) speaks UTF-8 names instead: names_in() turns the
 * names of a parsed command into the stored form before the command
 * runs (so every command, the relay to a shared mailbox's owner
 * included, sees stored names), and name_out() turns a stored name into
 * what the session is sent.  LIST patterns stay UTF-8 and are matched
 * against decoded names (cmd_list.c): modified UTF-7 runs do not split
 * where characters do, so a pattern cannot be encoded once for all.
 * Guest sessions (another user's process speaking to this one) always
 * use the stored form; their user's process converts for its client.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/imap_url.h"
#include "common/imap_write.h"
#include "common/mutf7.h"

#include <string.h>

bool
client_utf8_names(const struct client *c)
{
	return (c->enabled & CAP_UTF8) && !client_is_guest(c);
}

/* One UTF-8 name to its stored form, in the command's arena. */
static bool
name_in(struct client *c, const char **name)
{
	size_t len;
	char *out;

	if (*name == NULL)
		return true;
	if (!utf8_valid(*name))
		return false;
	len = strlen(*name);
	/* '&' takes 2 bytes, a lone 2-byte character 5: at most 3 per byte. */
	if ((out = arena_alloc(&c->arena, 3 * len + 4)) == NULL ||
	    imap_utf8_to_mutf7(*name, out, 3 * len + 4) != 0)
		return false;
	*name = out;
	return true;
}

/* The mailbox arguments of cmd, by command. */
static bool
cmd_names_in(struct client *c, struct imap_cmd *cmd)
{
	switch (cmd->id) {
	case CMD_SELECT:
	case CMD_EXAMINE:
		return name_in(c, &cmd->u.select.mailbox);
	case CMD_CREATE:
		return name_in(c, &cmd->u.create.mailbox);
	case CMD_DELETE:
	case CMD_SUBSCRIBE:
	case CMD_UNSUBSCRIBE:
	case CMD_GETQUOTAROOT:
	case CMD_MYRIGHTS:
	case CMD_GETACL:
		return name_in(c, &cmd->u.mbox.mailbox);
	case CMD_SETACL:
	case CMD_DELETEACL:
	case CMD_LISTRIGHTS:
		return name_in(c, &cmd->u.acl.mailbox);
	case CMD_RENAME:
		return name_in(c, &cmd->u.rename.from) &&
		    name_in(c, &cmd->u.rename.to);
	case CMD_STATUS:
		return name_in(c, &cmd->u.status.mailbox);
	case CMD_APPEND:
		return name_in(c, &cmd->u.append.mailbox);
	case CMD_COPY:
	case CMD_MOVE:
		return name_in(c, &cmd->u.copy.mailbox);
	case CMD_GETMETADATA:
		return name_in(c, &cmd->u.getmeta.mailbox);
	case CMD_SETMETADATA:
		return name_in(c, &cmd->u.setmeta.mailbox);
	case CMD_LIST:
	case CMD_LSUB:
		/* Matched in UTF-8 (see above); only checked here. */
		for (size_t i = 0; i < cmd->u.list.npatterns; i++)
			if (!utf8_valid(cmd->u.list.patterns[i]))
				return false;
		return cmd->u.list.ref == NULL || utf8_valid(cmd->u.list.ref);
	default:
		return true;
	}
}

bool
names_in(struct client *c, struct imap_cmd *cmd)
{
	if (!client_utf8_names(c))
		return true;
	return cmd_names_in(c, cmd);
}

const char *
name_out(struct client *c, const char *stored)
{
	size_t len;
	char *out;

	if (!client_utf8_names(c))
		return stored;
	len = strlen(stored);
	/* A name that is not modified UTF-7 (a rev1 client may have made it
	 * of any bytes) is sent as it is stored: the best a client can get. */
	if ((out = arena_alloc(&c->arena, 2 * len + 1)) == NULL ||
	    mutf7_to_utf8(stored, out, 2 * len + 1) != 0)
		return stored;
	return out;
}

void
resp_mailbox(struct client *c, struct buf *b, const char *stored)
{
	if (client_utf8_names(c))
		imapw_mailbox_utf8(b, name_out(c, stored));
	else
		imapw_mailbox(b, stored);
}
