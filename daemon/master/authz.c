/*
 * authz.c - who may log in, and as whom: the master's decisions.
 *
 * authz_login() takes one IPC_LOGIN_AUTH (already accepted as legal by
 * children.c) to a verdict:
 *   - a client network (addrtab.c: the address cut to its prefix) whose
 *     failures plus pending logins reach auth_fail_limit in its window,
 *     or that has auth_max_pending_per_addr logins being verified, is
 *     refused at once, with no hash computed (THROTTLED);
 *   - when the hash queue is longer than the workers can serve before
 *     this login process's login_timeout, the login is refused at once
 *     (UNAVAILABLE) rather than queued to time out: load is shed early
 *     and visibly, and the workers spend no time on logins nobody will
 *     be waiting for;
 *   - the authentication identity is looked up in the directory; an
 *     unknown or invalid name is checked against a dummy hash, so the
 *     answer takes as long as for a real user (no user enumeration);
 *   - a pair (authentication identity, password) that a hash worker
 *     verified within auth_cache_ttl, for the same stored hash and admin
 *     flag as the row just read, is decided by the credentials cache
 *     (authcache.c) without a hash; it has passed the throttles above
 *     and still takes its turn at a slow account like any other login;
 *     only the load shedding, which protects the hash workers, does not
 *     apply to it;
 *   - otherwise a hash worker compares (hashpool.c); a match is put in
 *     the cache (the pair of the authentication identity, so for an
 *     administrator acting as another user, the administrator's);
 *   - with an authorization identity (SASL authzid, or LOGIN target*admin
 *     split by the login process), the authenticated user must be an
 *     admin and the target must exist and not be one;
 *   - failures are answered after a delay that doubles per failure from
 *     the same address (addrtab.c);
 *   - a user (or target) whose directory row names another backend of
 *     the cluster gets, once the password matched and never before, a
 *     referral there (RFC 2221) instead of a session.
 * The verdict and the identities it established go into the login
 * child's record; the hand-off later uses that record only.
 *
 * authz_proxy() decides PROXYAUTH for sessions.c, and authz_audit_*()
 * keep the impersonation trail (directory audit table + audit log).
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/util.h"
#include "store/store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct auth_attempt {
	struct acct_waiter w;		/* its place at a slow account */
	struct login_child *lc;
	struct acct_rec *acct;		/* NULL: the name is not counted */
	bool            serial;		/* holds the account's slot */
	bool            counted;	/* pending at its network */
	const char     *hash;		/* authc.hash or the dummy hash */
	uint8_t        *secret;		/* kept only while it waits */
	size_t          nsecret;
	uint8_t         method;		/* ipc_imp_method */
	uint8_t         mech;		/* ipc_auth_mech */
	bool            known;		/* authc names an existing user */
	bool            target_ok;	/* authzid is a valid name */
	bool            cached;		/* decided by the credentials cache */
	struct authcache_probe probe;	/* the pair's digests (cache on) */
	struct dir_user authc;
	char            authcid[MK_USER_MAX];	/* as sent, for logs */
	char            target[MK_USER_MAX];	/* canonical authzid */
	/* directory = ldap */
	char            canon[MK_USER_MAX];	/* authcid folded; "" if invalid */
	uint64_t        ldap_req;	/* a look-up or bind in flight */
	bool            ldap_found;	/* le holds authc's entry */
	bool            ldap_target;	/* te holds the target's entry */
	bool            ldap_asked_target;	/* the look-up is the target's */
	struct ldap_entry le, te;
};

const char *
authz_result_text(enum ipc_auth_result res)
{
	switch (res) {
	case IPC_AUTH_OK:
		return "Logged in.";
	case IPC_AUTH_FAILED:
		return "Authentication failed.";
	case IPC_AUTH_AUTHZ_FAILED:
		return "Not authorized to act as that user.";
	case IPC_AUTH_THROTTLED:
		return "Too many failed logins from your address; try again later.";
	case IPC_AUTH_UNAVAILABLE:
		return "Authentication is temporarily unavailable.";
	case IPC_AUTH_NOT_ADMIN:
		return "PROXYAUTH is for administrators only.";
	case IPC_AUTH_NO_SUCH_USER:
		return "No such user.";
	case IPC_AUTH_TARGET_ADMIN:
		return "Administrators cannot be impersonated.";
	case IPC_AUTH_BUSY:
		return "Too many logins from your address are being verified "
		    "at once; try again in a moment.";
	case IPC_AUTH_DIR_DOWN:
		return "The user directory (LDAP) is not answering; try again "
		    "later.";
	case IPC_AUTH_REFERRAL:
		return "Your mailbox is on another server.";
	}
	return "Authentication failed.";
}

const char *
authz_method_name(uint8_t method)
{
	switch (method) {
	case IPC_IMP_PROXYAUTH:
		return "PROXYAUTH";
	case IPC_IMP_AUTHZID:
		return "AUTHZID";
	case IPC_IMP_SEPARATOR:
		return "SEPARATOR";
	default:
		return "NONE";
	}
}

/* Printable, bounded copy of a client-chosen name for the log. */
static void
log_name(char *out, size_t outlen, const char *in)
{
	size_t i;

	for (i = 0; i + 1 < outlen && in[i]; i++)
		out[i] = (in[i] > 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[i] = '\0';
}

/* 1 found, 0 not found or not a valid name, -1 directory error. */
static int
lookup(const char *name, struct dir_user *u)
{
	char canon[MK_USER_MAX];
	const char *why;

	if (!dir_name_canon(name, canon, sizeof(canon), &why))
		return 0;
	switch (dir_user_get(master.dir, canon, u)) {
	case 0:
		return 1;
	case MK_NOTFOUND:
		return 0;
	default:
		log_warnx("directory lookup of '%s': %s", canon,
		    dir_errmsg(master.dir));
		return -1;
	}
}

static void
attempt_free(struct auth_attempt *a)
{
	if (a->secret != NULL)
		freezero(a->secret, a->nsecret);
	explicit_bzero(a, sizeof(*a));
	free(a);
}

/* Gives back what the attempt holds; for a failure, counts it at its
 * network and account and returns the delay before answering it. */
static unsigned
attempt_end(struct auth_attempt *a, enum acct_outcome how)
{
	struct addr_rec *rec = a->lc->peer.rec;
	unsigned delay = 0, d;

	if (a->w.queued)
		acct_cancel(a->acct, &a->w);
	else if (a->acct != NULL) {
		d = acct_done(a->acct, a->serial, how, rec ? rec->addr : "");
		delay = MK_MAX(delay, d);
	}
	a->acct = NULL;
	a->serial = false;
	if (a->counted && rec != NULL) {
		d = addr_end(rec, how == ACCT_FAILED);
		delay = MK_MAX(delay, d);
	}
	a->counted = false;
	return delay;
}

void
authz_abandon(struct login_child *lc)
{
	if (lc->hash_req != 0)
		hashpool_cancel(lc->hash_req);
	lc->hash_req = 0;
	if (lc->attempt != NULL) {
		if (lc->attempt->ldap_req != 0)
			ldapdir_cancel(lc->attempt->ldap_req);
		attempt_end(lc->attempt, ACCT_NO_ANSWER);
		attempt_free(lc->attempt);
	}
	lc->attempt = NULL;
}

/* The attempt ends without a verdict on the password. */
static void
give_up(struct auth_attempt *a, enum ipc_auth_result res)
{
	struct login_child *lc = a->lc;

	lc->attempt = NULL;
	attempt_end(a, ACCT_NO_ANSWER);
	attempt_free(a);
	login_verdict(lc, res);
}

static bool
ldap_bind_mode(void)
{
	return ldapdir_enabled() && master.cfg.ldap_auth == MK_LDAP_AUTH_BIND;
}

static void
fail(struct login_child *lc, const struct auth_attempt *a, unsigned delay)
{
	log_info("authentication failed for '%s' from %s (%u in window, "
	    "answering in %u ms)", a->authcid, lc->peer.addr,
	    lc->peer.rec ? lc->peer.rec->fails : 0, delay);
	login_verdict_later(lc, IPC_AUTH_FAILED, delay);
}

/* OK, unless the user is being moved (freeze.c): then UNAVAILABLE,
 * and the client tries again once the move is over. */
static void
verdict_ok(struct login_child *lc)
{
	if (freeze_active(lc->user.name)) {
		log_info("login of %s from %s refused: being moved",
		    lc->user.name, lc->peer.addr);
		login_verdict(lc, IPC_AUTH_UNAVAILABLE);
		return;
	}
	login_verdict(lc, IPC_AUTH_OK);
}

/* Percent-encodes s for the user part of an IMAP URL (RFC 5092
 * enc-user): everything but RFC 3986's unreserved characters. */
static void
url_user(char *out, size_t outlen, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0' && o + 4 <= outlen; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || strchr("-._~", ch) != NULL)
			out[o++] = (char)ch;
		else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

void
authz_referral_text(const struct login_child *lc, const char *login,
    const struct cfg_backend *b, char *out, size_t outlen)
{
	char user[3 * (2 * MK_USER_MAX + 8)];
	bool v6 = strchr(b->host, ':') != NULL;

	if (lc->peer.proto == MK_PROTO_POP3) {
		/* POP3 has no referrals: say where, in words (RFC 3206). */
		snprintf(out, outlen, "[SYS/PERM] Your mailbox is on backend "
		    "%s (%s); connect there.", b->name, b->host);
		return;
	}
	url_user(user, sizeof(user), login);
	/* RFC 2221: ";AUTH=" names the mechanism to use there, so that
	 * a client does not fall back to an anonymous login. */
	int n = snprintf(out, outlen, "[REFERRAL imap://%s%s@%s%s%s:%u/] "
	    "Your mailbox is on backend %s; log in there.", user,
	    lc->mech == IPC_MECH_PLAIN ? ";AUTH=PLAIN" : "", v6 ? "[" : "",
	    b->host, v6 ? "]" : "", b->imap_port, b->name);
	/* A cut URL would send the client somewhere else: no referral
	 * then, only the words. */
	if (n < 0 || (size_t)n >= outlen)
		snprintf(out, outlen, "Your mailbox is on backend %.64s "
		    "(%.128s); log in there.", b->name, b->host);
}

bool
authz_proxy_referral(const char *admin, const struct dir_user *t, char *out,
    size_t outlen)
{
	char user[3 * (2 * MK_USER_MAX + 8)];

	if (config_backend_local(&master.cfg, t->backend))
		return false;
	const struct cfg_backend *b = config_backend(&master.cfg, t->backend);
	if (b == NULL) {
		log_warnx("user %s is on backend '%s', which the configuration "
		    "does not declare", t->name, t->backend);
		snprintf(out, outlen, "[UNAVAILABLE] %s",
		    authz_result_text(IPC_AUTH_UNAVAILABLE));
		return true;
	}
	bool v6 = strchr(b->host, ':') != NULL;
	/* The administrator becomes the target there: the session, its
	 * audit row and the target's store are all on that backend.  Not
	 * as themself and PROXYAUTH again: that backend refers the
	 * administrator's own login back here. */
	const char *sep = master.cfg.impersonation_separator;
	char login[2 * MK_USER_MAX + 8];
	if (sep[0] != '\0') {
		snprintf(login, sizeof(login), "%s%s%s", t->name, sep, admin);
		url_user(user, sizeof(user), login);
		snprintf(out, outlen, "[REFERRAL imap://%s@%s%s%s:%u/] %s's "
		    "mailbox is on backend %s; log in there as %s.", user,
		    v6 ? "[" : "", b->host, v6 ? "]" : "", b->imap_port,
		    t->name, b->name, login);
	} else {
		url_user(user, sizeof(user), admin);
		snprintf(out, outlen, "[REFERRAL imap://%s;AUTH=PLAIN@%s%s%s:%u/]"
		    " %s's mailbox is on backend %s; authenticate there with "
		    "authorization identity %s.", user, v6 ? "[" : "", b->host,
		    v6 ? "]" : "", b->imap_port, t->name, b->name, t->name);
	}
	log_info("PROXYAUTH by %s to %s referred to backend %s", admin,
	    t->name, b->name);
	return true;
}

/* The password matched, and u (the user or the target) lives on another
 * backend: refer the client there (RFC 2221) and start no session.  The
 * URL's user is what to log in with there. */
static bool
referred(struct login_child *lc, const struct auth_attempt *a,
    const struct dir_user *u)
{
	char login[2 * MK_USER_MAX + 8], text[512];

	if (config_backend_local(&master.cfg, u->backend))
		return false;
	const struct cfg_backend *b = config_backend(&master.cfg, u->backend);
	if (b == NULL) {
		log_warnx("user %s is on backend '%s', which the configuration "
		    "does not declare", u->name, u->backend);
		login_verdict(lc, IPC_AUTH_UNAVAILABLE);
		return true;
	}
	if (a->method == IPC_IMP_SEPARATOR)
		snprintf(login, sizeof(login), "%s%s%s", u->name,
		    master.cfg.impersonation_separator, a->authc.name);
	else
		mk_strlcpy(login, a->authc.name, sizeof(login));
	authz_referral_text(lc, login, b, text, sizeof(text));
	log_info("user %s (authenticated as %s) from %s referred to backend "
	    "%s", u->name, a->authc.name, lc->peer.addr, b->name);
	login_verdict_text(lc, IPC_AUTH_REFERRAL, text);
	return true;
}

/* The password matched a real user: is the impersonation (if any) legal? */
static void
succeed(struct login_child *lc, const struct auth_attempt *a)
{
	struct dir_user target;

	mk_strlcpy(lc->authcid, a->authc.name, sizeof(lc->authcid));
	lc->authc_admin = a->authc.admin;
	lc->method = a->method;
	if (a->method == IPC_IMP_NONE) {
		if (lc->peer.proto == MK_PROTO_AUTHHTTP) {
			frontdoor_route(lc, &a->authc);
			return;
		}
		if (referred(lc, a, &a->authc))
			return;
		lc->user = a->authc;
		/* The session needs the row, not the hash. */
		dir_user_forget_hash(&lc->user);
		log_info("user %s logged in from %s", a->authc.name,
		    lc->peer.addr);
		verdict_ok(lc);
		return;
	}
	int found;
	if (ldapdir_enabled())
		/* Only an administrator's login makes the target's row. */
		found = a->ldap_target ? ldapusers_row(a->target, &a->te,
		    a->authc.admin, &target) : 0;
	else
		found = a->target_ok ? lookup(a->target, &target) : 0;
	dir_user_forget_hash(&target);
	const char *why = NULL;
	if (found == -1) {
		login_verdict(lc, IPC_AUTH_UNAVAILABLE);
		return;
	}
	if (!a->authc.admin)
		why = "not an administrator";
	else if (found == 0)
		why = "no such target user";
	else if (target.admin)
		why = "target is an administrator";
	if (why != NULL) {
		log_warnx("%s from %s: %s may not act as '%s': %s",
		    authz_method_name(a->method), lc->peer.addr, a->authc.name,
		    a->target, why);
		login_verdict(lc, IPC_AUTH_AUTHZ_FAILED);
		return;
	}
	if (lc->peer.proto == MK_PROTO_AUTHHTTP) {
		frontdoor_route(lc, &target);
		return;
	}
	if (referred(lc, a, &target))
		return;
	lc->user = target;
	log_info("administrator %s logged in as %s from %s (%s)",
	    a->authc.name, target.name, lc->peer.addr,
	    authz_method_name(a->method));
	verdict_ok(lc);
}

static void
hash_done(void *arg, int result)
{
	struct auth_attempt *a = arg;
	struct login_child *lc = a->lc;

	lc->hash_req = 0;
	lc->attempt = NULL;
	if (result == 1 && a->known && a->ldap_found && a->authc.id == 0 &&
	    ldapusers_row(a->authc.name, &a->le, true, &a->authc) != 1)
		result = -1;	/* no local row: no uid to run as */
	if (result < 0) {
		attempt_end(a, ACCT_NO_ANSWER);
		login_verdict(lc, result == -2 ? IPC_AUTH_DIR_DOWN :
		    IPC_AUTH_UNAVAILABLE);
	} else if (result == 1 && a->known) {
		/* A verified pair, whatever the authorization check below
		 * decides: that is answered anew at every login. */
		if (!a->cached)
			authcache_put(&a->probe, a->authc.id, a->authc.admin);
		attempt_end(a, ACCT_SUCCEEDED);
		succeed(lc, a);
	} else
		fail(lc, a, attempt_end(a, ACCT_FAILED));
	attempt_free(a);
}

static void
bind_done(void *arg, int result)
{
	struct auth_attempt *a = arg;

	a->ldap_req = 0;
	hash_done(a, result == IPC_LDAP_OK ? 1 : result == IPC_LDAP_NOTFOUND ?
	    0 : -2);
}

/* ldap_auth = bind: the LDAP process binds as the user's DN with the
 * password (wiped there once used), instead of a hash worker. */
static void
start_bind(struct auth_attempt *a)
{
	log_debug("login of '%s' from %s: LDAP bind as %s", a->authcid,
	    a->lc->peer.addr, a->le.dn);
	a->lc->attempt = a;
	a->ldap_req = ldapdir_bind(a->le.dn, a->secret, a->nsecret, bind_done,
	    a);
	freezero(a->secret, a->nsecret);
	a->secret = NULL;
	a->nsecret = 0;
	a->hash = NULL;
	dir_user_forget_hash(&a->authc);
	if (a->ldap_req == 0)
		give_up(a, IPC_AUTH_DIR_DOWN);
}

/* Hands the attempt to the hash pool; the verdict follows in
 * hash_done().  One the cache decided is answered now, as a match. */
static void
start_hash(struct auth_attempt *a)
{
	struct login_child *lc = a->lc;

	if (a->cached) {
		log_debug("credentials of %s from %s verified by the cache "
		    "(no hash)", a->authc.name, lc->peer.addr);
		hash_done(a, 1);
		return;
	}
	if (ldap_bind_mode() && a->known) {
		start_bind(a);
		return;
	}
	log_debug("login of '%s' from %s goes to the hash workers", a->authcid,
	    lc->peer.addr);
	lc->hash_req = hashpool_submit(a->hash, a->secret, a->nsecret,
	    lc->started + (uint64_t)master.cfg.login_timeout * 1000,
	    hash_done, a);
	/* The pool has its own copies now (wiped when done); the attempt
	 * needs only the rest of the row. */
	freezero(a->secret, a->nsecret);
	a->secret = NULL;
	a->nsecret = 0;
	a->hash = NULL;
	dir_user_forget_hash(&a->authc);
	if (lc->hash_req == 0) {
		lc->attempt = NULL;
		attempt_end(a, ACCT_NO_ANSWER);
		attempt_free(a);
		login_verdict(lc, IPC_AUTH_UNAVAILABLE);
	}
}

/* Its turn at a slow account has come. */
static void
waiter_start(struct acct_waiter *w)
{
	struct auth_attempt *a = (struct auth_attempt *)w;

	a->serial = true;
	start_hash(a);
}

/* True if a login submitted now would likely wait in the hash queue
 * past the moment its login process gives up. */
static bool
overloaded(const struct login_child *lc)
{
	static uint64_t last_log;
	static unsigned long shed;
	uint64_t now = now_ms();
	uint64_t deadline = lc->started + (uint64_t)master.cfg.login_timeout * 1000;
	uint64_t expect = hashpool_expected_ms();

	/* A quarter of the time left is kept as a margin: the estimate is
	 * an average, and the client must still be answered. */
	if (now < deadline && expect <= (deadline - now) * 3 / 4)
		return false;
	shed++;
	if (now - last_log >= 1000) {
		struct hashpool_stats st;
		hashpool_stats(&st);
		log_warnx("overloaded: refusing logins (%lu so far): %zu "
		    "queued for %u hash workers at ~%llu ms each would take "
		    "~%llu ms, past the login timeout", shed, st.queued,
		    st.alive, (unsigned long long)st.avg_ms,
		    (unsigned long long)expect);
		last_log = now;
	}
	return true;
}

/* The row is read (found: 1, 0, or -1 on a directory error): the rest
 * of the decision, the same for both directories. */
static void
resolved(struct auth_attempt *a, int found)
{
	struct login_child *lc = a->lc;
	struct addr_rec *rec = lc->peer.rec;

	if (found == -1) {
		give_up(a, IPC_AUTH_UNAVAILABLE);
		return;
	}
	a->known = found == 1 && (ldap_bind_mode() ?
	    a->ldap_found : password_hash_status(a->authc.hash) !=
	    PW_HASH_INVALID);
	/* "alice" acting as "alice" is no impersonation. */
	if (a->target[0] != '\0' && (!a->known || !a->target_ok ||
	    strcmp(a->target, a->authc.name) != 0))
		a->method = a->mech == IPC_MECH_LOGIN ? IPC_IMP_SEPARATOR :
		    IPC_IMP_AUTHZID;
	/* The pair of the authentication identity, checked against the row
	 * just read (its id, hash and admin flag).  An unknown name takes
	 * the same steps (it can only find the entry of a deleted user,
	 * which is then dropped). */
	if (authcache_enabled()) {
		authcache_digest(a->known ? a->authc.name : a->authcid,
		    a->secret, a->nsecret, a->known ? a->authc.hash :
		    master.dummy_hash, &a->probe);
		switch (authcache_check(&a->probe, a->known ? a->authc.id : 0,
		    a->known && a->authc.admin)) {
		case AUTHCACHE_HIT:
			a->cached = a->known;
			break;
		case AUTHCACHE_STALE:
			log_debug("cached credentials of '%s' dropped: the user's "
			    "password, admin flag or account changed",
			    a->authcid);
			break;
		default:
			break;
		}
	}
	/* Load shedding spares the hash workers; a login the cache decides
	 * needs none. */
	if (!a->cached && overloaded(lc)) {
		give_up(a, IPC_AUTH_UNAVAILABLE);
		return;
	}
	if (a->cached) {
		/* Nothing left to compare: neither password nor hash is
		 * kept. */
		freezero(a->secret, a->nsecret);
		a->secret = NULL;
		a->nsecret = 0;
		dir_user_forget_hash(&a->authc);
	} else {
		/* Unknown users cost the same crypt_rn() as known ones. */
		a->hash = a->known && !ldap_bind_mode() ? a->authc.hash :
		    master.dummy_hash;
	}
	lc->attempt = a;
	/* From here the attempt counts against its network until it ends
	 * (an LDAP one counts from its look-up on). */
	if (rec != NULL && !a->counted) {
		addr_begin(rec);
		a->counted = true;
	}
	/* Names that are not even valid cannot be anyone's account. */
	if (a->canon[0] != '\0')
		a->acct = acct_get(a->known ? a->authc.name : a->canon, a->known);
	if (a->acct != NULL) {
		switch (acct_enter(a->acct, rec ? rec->addr : "", &a->w)) {
		case ACCT_GO:
			break;
		case ACCT_GO_SERIAL:
			a->serial = true;
			break;
		case ACCT_WAIT:
			log_info("login for '%s' from %s waits its turn: %u "
			    "failures for the account (%zu waiting)",
			    a->authcid, lc->peer.addr, acct_fails(a->acct),
			    acct_waiting(a->acct));
			return;
		}
	}
	start_hash(a);
}

/* ---- directory = ldap: the entries before the decision ---- */

static void got_entry(void *arg, int result, const struct ldap_entry *e);

/* name's entry, from the cache at once or from the LDAP process. */
static void
ldap_fetch(struct auth_attempt *a, const char *name)
{
	struct ldap_entry e;

	if (ldapdir_cached(name, &e)) {
		got_entry(a, IPC_LDAP_OK, &e);
		explicit_bzero(&e, sizeof(e));
		return;
	}
	a->ldap_req = ldapdir_lookup(name, got_entry, a);
	if (a->ldap_req == 0)
		got_entry(a, IPC_LDAP_UNAVAILABLE, NULL);
}

/* Both entries are known: the row as the decision reads it (LDAP's
 * hash, admin flag and quotas; the local id, 0 until the first
 * successful login makes the row). */
static void
ldap_resolved(struct auth_attempt *a)
{
	int found = 0;

	if (a->ldap_found) {
		found = ldapusers_row(a->canon, &a->le, false, &a->authc);
		if (found == 0) {
			memset(&a->authc, 0, sizeof(a->authc));
			mk_strlcpy(a->authc.name, a->canon, sizeof(a->authc.name));
			mk_strlcpy(a->authc.hash, a->le.hash,
			    sizeof(a->authc.hash));
			a->authc.admin = a->le.admin;
			a->authc.quota_storage = a->le.quota_storage;
			a->authc.quota_messages = a->le.quota_messages;
			mk_strlcpy(a->authc.backend, ldapusers_backend(&a->le),
			    sizeof(a->authc.backend));
			found = 1;
		}
		/* What the credentials cache compares as "the stored hash"
		 * when LDAP binds: the DN and the entry's modifyTimestamp,
		 * which a password change moves (seen within
		 * ldap_cache_ttl). */
		if (found == 1 && ldap_bind_mode())
			snprintf(a->authc.hash, sizeof(a->authc.hash),
			    "{LDAP-BIND}%.200s#%.40s", a->le.dn, a->le.hash);
	}
	resolved(a, found);
}

/* The authentication identity's entry, then (with an authorization
 * identity) the target's. */
static void
got_entry(void *arg, int result, const struct ldap_entry *e)
{
	struct auth_attempt *a = arg;
	bool target = a->ldap_asked_target;

	a->ldap_req = 0;
	if (result == IPC_LDAP_UNAVAILABLE) {
		give_up(a, IPC_AUTH_DIR_DOWN);
		return;
	}
	if (result == IPC_LDAP_OK) {
		*(target ? &a->te : &a->le) = *e;
		*(target ? &a->ldap_target : &a->ldap_found) = true;
	}
	if (!target && a->ldap_found && a->target_ok &&
	    strcmp(a->target, a->canon) != 0) {
		a->ldap_asked_target = true;
		ldap_fetch(a, a->target);
		return;
	}
	ldap_resolved(a);
}

/* The look-ups count against the client's network from the start: a
 * client cannot keep the LDAP server busy past its pending bound. */
static void
ldap_begin(struct auth_attempt *a)
{
	struct addr_rec *rec = a->lc->peer.rec;

	a->lc->attempt = a;
	if (rec != NULL) {
		addr_begin(rec);
		a->counted = true;
	}
	if (a->canon[0] == '\0') {
		ldap_resolved(a);
		return;
	}
	ldap_fetch(a, a->canon);
}

void
authz_login(struct login_child *lc, uint8_t mech, const char *authzid,
    const char *authcid, const uint8_t *secret, size_t nsecret)
{
	struct auth_attempt *a;
	struct addr_rec *rec = lc->peer.rec;
	const char *why;

	if (rec != NULL && addr_throttled(rec)) {
		log_warnx("refusing login from %s: %u failures and %u pending "
		    "within %u s", lc->peer.addr, rec->fails, rec->pending,
		    master.cfg.auth_fail_window);
		login_verdict(lc, IPC_AUTH_THROTTLED);
		return;
	}
	if (rec != NULL && addr_pending_full(rec)) {
		log_warnx("refusing login from %s: %u logins from %s are "
		    "being verified", lc->peer.addr, rec->pending, rec->addr);
		login_verdict(lc, IPC_AUTH_BUSY);
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->lc = lc;
	a->w.start = waiter_start;
	a->mech = mech;
	log_name(a->authcid, sizeof(a->authcid), authcid);
	/* Kept until a worker, the LDAP process or the cache decides. */
	a->secret = xmalloc(nsecret ? nsecret : 1);
	memcpy(a->secret, secret, nsecret);
	a->nsecret = nsecret;
	if (!dir_name_canon(authcid, a->canon, sizeof(a->canon), &why))
		a->canon[0] = '\0';
	if (*authzid != '\0') {
		a->target_ok = dir_name_canon(authzid, a->target,
		    sizeof(a->target), &why);
		if (!a->target_ok)
			log_name(a->target, sizeof(a->target), authzid);
	}
	if (ldapdir_enabled()) {
		ldap_begin(a);
		return;
	}
	resolved(a, lookup(authcid, &a->authc));
}

enum ipc_auth_result
authz_proxy(const char *admin, const char *target, struct dir_user *t)
{
	struct dir_user u;
	char shown[MK_USER_MAX];

	log_name(shown, sizeof(shown), target);
	int found = lookup(admin, &u);
	dir_user_forget_hash(&u);
	if (found == -1)
		return IPC_AUTH_UNAVAILABLE;
	if (found == 0 || !u.admin) {
		log_warnx("PROXYAUTH by %s to '%s' refused: not an administrator",
		    admin, shown);
		return IPC_AUTH_NOT_ADMIN;
	}
	found = lookup(target, t);
	dir_user_forget_hash(t);
	if (found == -1)
		return IPC_AUTH_UNAVAILABLE;
	if (found == 0) {
		log_info("PROXYAUTH by %s to '%s' refused: no such user", admin,
		    shown);
		return IPC_AUTH_NO_SUCH_USER;
	}
	if (t->admin) {
		log_warnx("PROXYAUTH by %s to %s refused: target is an "
		    "administrator", admin, t->name);
		return IPC_AUTH_TARGET_ADMIN;
	}
	return IPC_AUTH_OK;
}

int
authz_audit_start(const char *admin, const char *target, uint8_t method,
    const char *client, uint64_t session)
{
	struct dir_audit a = {
		.start = (int64_t)time(NULL), .admin = admin, .target = target,
		.client = client, .method = authz_method_name(method),
		.session = session,
	};
	int64_t row;

	/* The row first: without it the impersonation is refused, and
	 * the log says so instead of announcing a start. */
	if (dir_audit_start(master.dir, &a, &row) != 0) {
		log_warnx("audit row for session %016llx: %s",
		    (unsigned long long)session, dir_errmsg(master.dir));
		log_audit("impersonation refused (audit row not written): "
		    "admin=%s target=%s method=%s client=%s", admin, target,
		    a.method, client);
		return -1;
	}
	log_audit("impersonation start: admin=%s target=%s method=%s "
	    "client=%s session=%016llx", admin, target, a.method, client,
	    (unsigned long long)session);
	return 0;
}

void
authz_audit_end(const char *admin, const char *target, uint64_t session)
{
	/* Like the start line, the end names both identities: a log reader
	 * need not pair lines by session id to see who acted as whom. */
	log_audit("impersonation end: admin=%s target=%s session=%016llx",
	    admin, target, (unsigned long long)session);
	if (dir_audit_end(master.dir, session, (int64_t)time(NULL)) != 0)
		log_warnx("closing audit row of session %016llx: %s",
		    (unsigned long long)session, dir_errmsg(master.dir));
}
