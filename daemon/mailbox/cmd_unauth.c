/*
 * cmd_unauth.c - UNAUTHENTICATE (RFC 8437): the session goes back to
 * the not-authenticated state, so that an administrative client can log
 * in as another user on the same connection.
 *
 * Nothing of the session may survive it, and the not-authenticated
 * state is the login process's: so the session ends here, in this
 * user's process (its selection closed without an expunge, its
 * enabled extensions, saved search, guest channels gone with it), and
 * the connection goes back to the master (IPC_MBOX_UNAUTH), which hands
 * it to a fresh login process (daemon/master/sessions.c).  Over TLS the
 * socket is the relay's socketpair, and the relay stays: RFC 8437 3
 * keeps the TLS layer.  COMPRESS ends (RFC 8437 4.1): the tagged OK is
 * the last compressed output, and the client's compressed input ends
 * with the command's CRLF.
 */
#include "daemon/mailbox/mbox_int.h"

enum cmd_result
cmd_unauthenticate(struct client *c)
{
	/* A guest channel is another user's process speaking, not a
	 * client: it has no login to go back to. */
	if (client_is_guest(c))
		return resp_bad(c, "UNAUTHENTICATE is not available here");
	if (!c->user->cfg->unauthenticate)
		return resp_bad(c, "UNAUTHENTICATE is disabled on this server");
	c->unauth = true;
	c->handback_ready = true;
	return resp_ok(c, "UNAUTHENTICATE completed");
}
