/*
 * login_cmd.c - the IMAP commands of the not-authenticated state.
 *
 * Called by login.c with each parsed command.  The table below is the
 * whole of what a client may do before logging in: CAPABILITY, NOOP,
 * LOGOUT, ID, STARTTLS, LOGIN and AUTHENTICATE PLAIN (with or without an
 * initial response).  Any other command the grammar knows is answered
 * with a BAD naming the state; credentials go to the master and the
 * verdict comes back through login_verdict_received().
 */
#include "auth/login.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

const char *
login_capabilities(const struct login_conn *c)
{
	/* Only what works now.  STARTTLS needs a certificate and a link
	 * that is not TLS yet; where clear-text credentials are refused,
	 * LOGINDISABLED and no AUTH= (RFC 3501 6.2.3, RFC 9051 6.2.1). */
	bool starttls = c->p.tls != NULL && !c->secure;
	/* RFC 2221: a server that may refer a login elsewhere says so;
	 * only a cluster does (doc/cluster.md). */
	bool referrals = c->cfg->nbackends > 0;
	static char caps[160];

	snprintf(caps, sizeof(caps), "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR "
	    "ID%s%s%s", referrals ? " LOGIN-REFERRALS" : "",
	    starttls ? " STARTTLS" : "",
	    login_plaintext_ok(c) ? " AUTH=PLAIN" : " LOGINDISABLED");
	return caps;
}

static void
cmd_capability(struct login_conn *c, const struct imap_cmd *cmd)
{
	login_reply(c, "* CAPABILITY %s", login_capabilities(c));
	login_reply(c, "%s OK CAPABILITY completed", cmd->tag);
}

static void
cmd_noop(struct login_conn *c, const struct imap_cmd *cmd)
{
	login_reply(c, "%s OK NOOP completed", cmd->tag);
}

static void
cmd_logout(struct login_conn *c, const struct imap_cmd *cmd)
{
	login_reply(c, "* BYE Logging out");
	login_reply(c, "%s OK LOGOUT completed", cmd->tag);
	c->state = LST_CLOSING;
	login_finish(c);
}

static void
cmd_id(struct login_conn *c, const struct imap_cmd *cmd)
{
	/* RFC 2971: name and version only, nothing about the host. */
	login_reply(c, "* ID (\"name\" \"Mailkeep\" \"version\" \"%s\")",
	    MK_VERSION);
	login_reply(c, "%s OK ID completed", cmd->tag);
}

static void
cmd_starttls(struct login_conn *c, const struct imap_cmd *cmd)
{
	if (c->secure)
		login_reply(c, "%s BAD TLS is already active", cmd->tag);
	else if (c->p.tls == NULL)
		login_reply(c, "%s BAD STARTTLS is not supported (no certificate "
		    "configured)", cmd->tag);
	else
		login_starttls(c, cmd->tag);
}

static bool
refuse_plaintext(struct login_conn *c, const struct imap_cmd *cmd)
{
	if (login_plaintext_ok(c))
		return false;
	/* RFC 5530: the operation needs privacy the link does not have. */
	login_reply(c, "%s NO [PRIVACYREQUIRED] Clear-text authentication is "
	    "not allowed on this connection%s", cmd->tag,
	    c->p.tls != NULL ? "; use STARTTLS first" : "");
	return true;
}

static void
cmd_login(struct login_conn *c, const struct imap_cmd *cmd)
{
	char authzid[256], authcid[256];
	char *pass = (char *)(uintptr_t)cmd->u.login.pass;

	if (!refuse_plaintext(c, cmd)) {
		mk_strlcpy(c->tag, cmd->tag, sizeof(c->tag));
		/* "target*admin": an administrator acting as target. */
		if (!sasl_split_login(cmd->u.login.user,
		    c->cfg->impersonation_separator, authzid, sizeof(authzid),
		    authcid, sizeof(authcid))) {
			authzid[0] = '\0';
			mk_strlcpy(authcid, cmd->u.login.user, sizeof(authcid));
		}
		login_send_auth(c, IPC_MECH_LOGIN, authzid, authcid, pass,
		    strlen(pass));
	}
	explicit_bzero(pass, strlen(pass));
}

/* A PLAIN response, from SASL-IR or from the continuation round. */
static void
plain_response(struct login_conn *c, const char *b64, size_t len)
{
	struct sasl_plain sp;
	const char *err;

	if (sasl_plain_decode(b64, len, &sp, &err) == -1) {
		login_reply(c, "%s BAD %s", c->tag, err);
		return;
	}
	login_send_auth(c, IPC_MECH_PLAIN, sp.authzid, sp.authcid, sp.passwd,
	    sp.npasswd);
	sasl_plain_free(&sp);
}

static void
cmd_authenticate(struct login_conn *c, const struct imap_cmd *cmd)
{
	char *ir = (char *)(uintptr_t)cmd->u.auth.ir;

	if (!str_ieq(cmd->u.auth.mech, "PLAIN"))
		login_reply(c, "%s NO Unsupported authentication mechanism",
		    cmd->tag);
	else if (!refuse_plaintext(c, cmd)) {
		mk_strlcpy(c->tag, cmd->tag, sizeof(c->tag));
		if (ir != NULL)
			plain_response(c, ir, strlen(ir));
		else {
			c->state = LST_SASL;
			login_reply(c, "+ ");
		}
	}
	if (ir != NULL)
		explicit_bzero(ir, strlen(ir));
}

void
login_sasl_line(struct login_conn *c, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*')
		login_reply(c, "%s BAD AUTHENTICATE cancelled", c->tag);
	else
		plain_response(c, line, len);
}

static const struct {
	enum imap_cmd_id id;
	void (*fn)(struct login_conn *, const struct imap_cmd *);
} commands[] = {
	{ CMD_CAPABILITY,   cmd_capability },
	{ CMD_NOOP,         cmd_noop },
	{ CMD_LOGOUT,       cmd_logout },
	{ CMD_ID,           cmd_id },
	{ CMD_STARTTLS,     cmd_starttls },
	{ CMD_LOGIN,        cmd_login },
	{ CMD_AUTHENTICATE, cmd_authenticate },
};

void
login_command(struct login_conn *c, const struct imap_cmd *cmd, int parse_rc,
    const char *parse_err)
{
	size_t i;

	for (i = 0; i < nitems(commands); i++)
		if (commands[i].id == cmd->id)
			break;
	/* A command of a later state is refused whatever its arguments. */
	if (i == nitems(commands) && cmd->id != CMD_UNKNOWN) {
		login_reply(c, "%s BAD %s%s is not allowed in the "
		    "not-authenticated state; log in first", cmd->tag,
		    cmd->uid ? "UID " : "", cmd->name);
		return;
	}
	if (parse_rc == -1) {
		login_reply(c, "%s BAD %s", cmd->tag, parse_err);
		return;
	}
	commands[i].fn(c, cmd);
}

void
login_verdict_received(struct login_conn *c, uint8_t result, const char *text)
{
	const char *code;

	switch (result) {
	case IPC_AUTH_FAILED:
		code = "[AUTHENTICATIONFAILED] ";
		break;
	case IPC_AUTH_AUTHZ_FAILED:
		code = "[AUTHORIZATIONFAILED] ";
		break;
	case IPC_AUTH_THROTTLED:
	case IPC_AUTH_BUSY:
	case IPC_AUTH_UNAVAILABLE:
		code = "[UNAVAILABLE] ";
		break;
	default:
		code = "";
		break;
	}
	login_reply(c, "%s NO %s%s", c->tag, code, text);
	if (c->attempts >= c->cfg->max_auth_attempts)
		login_bye(c, "Too many failed authentication attempts");
}
