/*
 * login_pop3.c - the login process speaking POP3: the AUTHORIZATION
 * state (RFC 1939 4) of a connection accepted on listen_pop3 or
 * listen_pop3s.
 *
 * The master tells the process which protocol its listener speaks
 * (login_params.proto, from IPC_SPAWN_LOGIN); login.c keeps doing the
 * rest as for IMAP - the event loop, TLS and its relay, timeouts, the
 * channel to the master, wiping - and hands each line here.  The
 * commands: CAPA (RFC 2449), USER/PASS, AUTH PLAIN (RFC 5034, with or
 * without an initial response), STLS (RFC 2595) and QUIT.  APOP is not
 * offered: it needs the clear-text password on the server, and ours
 * are hashes.  Credentials go to the master exactly as IMAP's do
 * (IPC_LOGIN_AUTH: USER/PASS as LOGIN, with the "target*admin" split;
 * AUTH PLAIN with its authorization identity), so the hash workers,
 * the credentials cache and every throttle apply alike.  On an OK
 * verdict login.c hands the connection off; the user's mailbox process
 * answers the PASS or AUTH (+OK, or -ERR [IN-USE] when another POP3
 * session holds the maildrop: daemon/mailbox/pop3.c).
 */
#include "auth/login.h"
#include "common/pop3.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>

/* USER's name, waiting for PASS (one connection per process). */
static char user_name[POP3_ARG_MAX + 1];

bool
login_is_pop3(const struct login_conn *c)
{
	return c->p.proto == MK_PROTO_POP3;
}

void
pop3_login_greet(struct login_conn *c)
{
	/* No timestamp: APOP is not offered (RFC 1939 7). */
	login_reply(c, "+OK %s Mailkeep POP3 ready.", c->cfg->hostname);
}

static bool
starttls_offered(const struct login_conn *c)
{
	return c->p.tls != NULL && !c->secure;
}

/* RFC 2449 5: what works now, and nothing else. */
static void
cmd_capa(struct login_conn *c)
{
	login_reply(c, "+OK Capability list follows");
	login_reply(c, "TOP");
	login_reply(c, "UIDL");
	login_reply(c, "RESP-CODES");
	login_reply(c, "AUTH-RESP-CODE");
	login_reply(c, "PIPELINING");
	if (login_plaintext_ok(c)) {
		login_reply(c, "USER");
		login_reply(c, "SASL PLAIN");
	}
	if (starttls_offered(c))
		login_reply(c, "STLS");
	login_reply(c, "IMPLEMENTATION Mailkeep");
	login_reply(c, ".");
}

/* RFC 3206 [AUTH]: clear text is refused here; say how to go on. */
static bool
refuse_plaintext(struct login_conn *c)
{
	if (login_plaintext_ok(c))
		return false;
	login_reply(c, "-ERR [AUTH] Plaintext authentication is not allowed "
	    "on this connection%s", starttls_offered(c) ? "; use STLS first" :
	    "");
	return true;
}

static void
cmd_user(struct login_conn *c, const struct pop3_cmd *cmd)
{
	if (refuse_plaintext(c))
		return;
	mk_strlcpy(user_name, cmd->arg, sizeof(user_name));
	/* The same answer for every name: nothing tells who exists. */
	login_reply(c, "+OK Send your password");
}

static void
cmd_pass(struct login_conn *c, const struct pop3_cmd *cmd)
{
	char authzid[256], authcid[256];

	if (user_name[0] == '\0') {
		login_reply(c, "-ERR Send USER first");
		return;
	}
	if (refuse_plaintext(c))
		return;
	/* "target*admin": an administrator acting as target, as LOGIN. */
	if (!sasl_split_login(user_name, c->cfg->impersonation_separator,
	    authzid, sizeof(authzid), authcid, sizeof(authcid))) {
		authzid[0] = '\0';
		mk_strlcpy(authcid, user_name, sizeof(authcid));
	}
	/* A failed PASS goes back to the start (RFC 1939 7: USER again). */
	user_name[0] = '\0';
	login_send_auth(c, IPC_MECH_LOGIN, authzid, authcid, cmd->arg,
	    cmd->arglen);
}

static void
plain_response(struct login_conn *c, const char *b64, size_t len)
{
	struct sasl_plain sp;
	const char *err;

	if (sasl_plain_decode(b64, len, &sp, &err) == -1) {
		login_reply(c, "-ERR %s", err);
		return;
	}
	login_send_auth(c, IPC_MECH_PLAIN, sp.authzid, sp.authcid, sp.passwd,
	    sp.npasswd);
	sasl_plain_free(&sp);
}

static void
cmd_auth(struct login_conn *c, const struct pop3_cmd *cmd)
{
	if (cmd->arg == NULL) {
		/* The mechanism list some clients ask for (RFC 1734 style). */
		login_reply(c, "+OK");
		if (login_plaintext_ok(c))
			login_reply(c, "PLAIN");
		login_reply(c, ".");
		return;
	}
	if (!str_ieq(cmd->arg, "PLAIN")) {
		login_reply(c, "-ERR Unsupported authentication mechanism");
		return;
	}
	if (refuse_plaintext(c))
		return;
	user_name[0] = '\0';
	if (cmd->arg2 == NULL) {
		c->state = LST_SASL;
		login_reply(c, "+ ");
	} else if (strcmp(cmd->arg2, "=") == 0)
		/* RFC 5034 4: "=" is an empty initial response. */
		plain_response(c, "", 0);
	else
		plain_response(c, cmd->arg2, strlen(cmd->arg2));
}

static void
cmd_stls(struct login_conn *c)
{
	if (c->secure)
		login_reply(c, "-ERR TLS is already active");
	else if (c->p.tls == NULL)
		login_reply(c, "-ERR STLS is not available (no certificate "
		    "configured)");
	else
		login_starttls(c, "");
}

static void
cmd_quit(struct login_conn *c)
{
	login_reply(c, "+OK Bye");
	c->state = LST_CLOSING;
	login_finish(c);
}

static void
run(struct login_conn *c, const struct pop3_cmd *cmd)
{
	switch (cmd->id) {
	case POP3_CAPA: cmd_capa(c); break;
	case POP3_USER: cmd_user(c, cmd); break;
	case POP3_PASS: cmd_pass(c, cmd); break;
	case POP3_AUTH: cmd_auth(c, cmd); break;
	case POP3_STLS: cmd_stls(c); break;
	case POP3_QUIT: cmd_quit(c); break;
	case POP3_APOP:
		login_reply(c, "-ERR APOP is not offered; use USER and PASS "
		    "or AUTH PLAIN");
		break;
	default:
		login_reply(c, "-ERR %s is not valid before authentication; "
		    "log in first", cmd->name);
		break;
	}
}

static void
sasl_line(struct login_conn *c, const char *line, size_t len)
{
	c->state = LST_COMMAND;
	if (len == 1 && line[0] == '*')
		login_reply(c, "-ERR Authentication cancelled");
	else
		plain_response(c, line, len);
}

void
pop3_login_line(struct login_conn *c, const char *line, size_t len)
{
	struct pop3_cmd cmd;
	const char *err;

	if (c->state == LST_SASL) {
		sasl_line(c, line, len);
		return;
	}
	if (pop3_parse(&c->arena, line, len, &cmd, &err) == -1) {
		if (cmd.id == POP3_UNKNOWN)
			login_reply(c, "-ERR %s%s%s", err,
			    cmd.name != NULL ? ": " : "",
			    cmd.name != NULL ? cmd.name : "");
		else
			login_reply(c, "-ERR %s: %s", cmd.name, err);
	} else
		run(c, &cmd);
	if (cmd.arg != NULL && cmd.id == POP3_PASS)
		explicit_bzero((char *)(uintptr_t)cmd.arg, cmd.arglen);
}

void
pop3_login_refused(struct login_conn *c)
{
	login_reply(c, "-ERR [AUTH] Authentication failed.");
}

void
pop3_login_verdict(struct login_conn *c, uint8_t result, const char *text)
{
	const char *code;

	/* RFC 3206: [AUTH] the credentials; [SYS/TEMP] a passing problem
	 * of ours (throttled, busy, unavailable): try again later. */
	switch (result) {
	case IPC_AUTH_FAILED:
	case IPC_AUTH_AUTHZ_FAILED:
	case IPC_AUTH_TARGET_ADMIN:
		code = "[AUTH] ";
		break;
	case IPC_AUTH_THROTTLED:
	case IPC_AUTH_BUSY:
	case IPC_AUTH_UNAVAILABLE:
	case IPC_AUTH_DIR_DOWN:
		code = "[SYS/TEMP] ";
		break;
	default:
		code = "";
		break;
	}
	login_reply(c, "-ERR %s%s", code, text);
	if (c->attempts >= c->cfg->max_auth_attempts)
		login_bye(c, "Too many failed authentication attempts");
}
