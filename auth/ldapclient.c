/*
 * ldapclient.c - the LDAP process (see ldapclient.h).
 *
 * Synchronous: one blocking receive from the master, the LDAP
 * operations it needs (each bounded by ldap_timeout), one answer.  The
 * searches' connection, bound as ldap_bind_dn, is opened on first use
 * and again after any error that says the link is gone; each user's
 * bind (ldap_auth = bind) gets a connection of its own, closed at once
 * (its buffers held the password), so a user's bind never changes who
 * the searches run as.  A server that is down or slow
 * costs one timeout and an UNAVAILABLE answer; the next request tries
 * again.  The master bounds the wait as well: it kills a process that
 * does not answer in time and starts another.
 *
 * Before its seccomp filter goes on, the process sets up what it
 * cannot do afterwards: the TLS context (the CA file is read now) and
 * the name service modules (one getaddrinfo() of the server's name).
 */
#include "auth/ldapclient.h"
#include "common/ipc.h"
#include "common/ldap_text.h"
#include "common/log.h"
#include "common/sandbox.h"
#include "common/util.h"

#include <ldap.h>
#include <malloc.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Descriptors: channel, log, two LDAP connections, a DNS socket, the
 * files name resolution reads, and room for libc. */
#define LDAP_NOFILE 32
#define LDAP_PW_MAX 1024
#define BACKEND_MAX 64
/* ldap_ca_file's default: Debian's bundle of the system's CAs (what its
 * /etc/ldap/ldap.conf names; libldap built with GnuTLS trusts nothing
 * by itself, and LDAPNOINIT keeps ldap.conf out). */
#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

static struct {
	const struct mk_config *cfg;
	int   fd;
	LDAP *ld;		/* searches, as ldap_bind_dn */
	LDAP *bld;		/* users' binds */
	char  pw[LDAP_PW_MAX];
	char  tls_err[256];	/* "" when the TLS context is usable */
} L;

struct entry {
	uint8_t  result;	/* ipc_ldap_result */
	char     dn[1024];
	char     hash[256];
	bool     admin;
	bool     has_storage, has_messages;
	uint64_t storage, messages;
	char     backend[BACKEND_MAX + 1];
	char     reason[256];
};

static bool
uses_starttls(void)
{
	return strncasecmp(L.cfg->ldap_uri, "ldap://", 7) == 0 &&
	    L.cfg->ldap_starttls;
}

static bool
uses_tls(void)
{
	return uses_starttls() || strncasecmp(L.cfg->ldap_uri, "ldaps://", 8) == 0;
}

/* Library-wide settings, then the TLS context all connections share. */
static void
global_setup(void)
{
	int demand = LDAP_OPT_X_TLS_DEMAND, zero = 0, rc;

	/* libldap frees its buffers - the encoded bind request with a
	 * user's password, search results with hashes - with plain free()
	 * (liblber's memory functions apply only to slapd's contexts):
	 * glibc's perturbation overwrites every freed byte, so nothing is
	 * left in the heap for a later request to find.  (Sanitizer builds
	 * have their own allocator, which ignores this.) */
	if (mallopt(M_PERTURB, 0x5a) != 1)
		log_warnx("mallopt(M_PERTURB) failed: freed LDAP buffers are "
		    "not overwritten");

	/* The operator's ldap.conf / .ldaprc must not change what the
	 * configuration says (TLS_REQCERT allow, say). */
	setenv("LDAPNOINIT", "1", 1);
	/* libldap starts Cyrus SASL (which reads its plugin directory and
	 * dlopen()s the plugins) on its first connection; asking for the
	 * mechanism list does it now, before the filter forbids both. */
	char **mechs = NULL;
	(void)ldap_get_option(NULL, LDAP_OPT_X_SASL_MECHLIST, &mechs);
	if (!uses_tls())
		return;
	const char *ca = L.cfg->ldap_ca_file[0] != '\0' ? L.cfg->ldap_ca_file :
	    SYSTEM_CA_FILE;
	(void)ldap_set_option(NULL, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
	(void)ldap_set_option(NULL, LDAP_OPT_X_TLS_CACERTFILE, ca);
	rc = ldap_set_option(NULL, LDAP_OPT_X_TLS_NEWCTX, &zero);
	if (rc != LDAP_OPT_SUCCESS) {
		snprintf(L.tls_err, sizeof(L.tls_err), "TLS set-up (CA file "
		    "'%.120s', read as hash_user): %s", ca, ldap_err2string(rc));
		log_warnx("%s", L.tls_err);
	}
}

/* Loads the name service modules while dlopen() may still map code. */
static void
warm_resolver(void)
{
	LDAPURLDesc *u = NULL;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;

	if (ldap_url_parse(L.cfg->ldap_uri, &u) != LDAP_URL_SUCCESS)
		return;
	if (u->lud_host != NULL && u->lud_host[0] != '\0' &&
	    getaddrinfo(u->lud_host, NULL, &hints, &ai) == 0)
		freeaddrinfo(ai);
	ldap_free_urldesc(u);
}

static void
ld_close(LDAP **ld)
{
	if (*ld != NULL)
		ldap_unbind_ext_s(*ld, NULL, NULL);
	*ld = NULL;
}

/* Errors after which the connection is not worth keeping. */
static bool
link_error(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT ||
	    rc == LDAP_CONNECT_ERROR || rc == LDAP_UNAVAILABLE ||
	    rc == LDAP_BUSY || rc == LDAP_LOCAL_ERROR || rc == LDAP_OTHER;
}

static int
simple_bind(LDAP *ld, const char *dn, const char *pw)
{
	struct berval cred = { .bv_len = strlen(pw), .bv_val = (char *)pw };

	return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
	    NULL);
}

/* A connection, with StartTLS when configured.  LDAP_SUCCESS or the
 * error; why says what failed. */
static int
ld_open(LDAP **out, char *why, size_t whylen)
{
	struct timeval tv = { .tv_sec = (time_t)L.cfg->ldap_timeout };
	int v3 = LDAP_VERSION3, rc;
	LDAP *ld;

	*out = NULL;
	if (L.tls_err[0] != '\0' && uses_tls()) {
		snprintf(why, whylen, "%s", L.tls_err);
		return LDAP_LOCAL_ERROR;
	}
	if ((rc = ldap_initialize(&ld, L.cfg->ldap_uri)) != LDAP_SUCCESS) {
		snprintf(why, whylen, "ldap_uri: %s", ldap_err2string(rc));
		return rc;
	}
	(void)ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	(void)ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	(void)ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	(void)ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	if (uses_starttls() &&
	    (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		snprintf(why, whylen, "StartTLS with %.160s: %s", L.cfg->ldap_uri,
		    ldap_err2string(rc));
		ldap_unbind_ext_s(ld, NULL, NULL);
		return rc;
	}
	*out = ld;
	return LDAP_SUCCESS;
}

/* The search connection, bound as ldap_bind_dn (or anonymous). */
static int
search_link(char *why, size_t whylen)
{
	int rc;

	if (L.ld != NULL)
		return LDAP_SUCCESS;
	if ((rc = ld_open(&L.ld, why, whylen)) != LDAP_SUCCESS)
		return rc;
	if (L.cfg->ldap_bind_dn[0] != '\0' &&
	    (rc = simple_bind(L.ld, L.cfg->ldap_bind_dn, L.pw)) != LDAP_SUCCESS) {
		snprintf(why, whylen, "bind as ldap_bind_dn %.160s: %s",
		    L.cfg->ldap_bind_dn, ldap_err2string(rc));
		ld_close(&L.ld);
		if (rc == LDAP_INVALID_CREDENTIALS)
			rc = LDAP_UNAVAILABLE;	/* our fault, not the user's */
	}
	return rc;
}

/* One search on the search connection, reconnecting once if the link
 * was lost since the last request (a restarted server). */
static int
search(const char *base, int scope, const char *filter, char **attrs,
    int sizelimit, LDAPMessage **res, char *why, size_t whylen)
{
	struct timeval tv = { .tv_sec = (time_t)L.cfg->ldap_timeout };
	int rc = LDAP_SERVER_DOWN;

	*res = NULL;
	for (int tries = 0; tries < 2 && link_error(rc); tries++) {
		bool fresh = L.ld == NULL;
		if ((rc = search_link(why, whylen)) != LDAP_SUCCESS)
			return rc;
		rc = ldap_search_ext_s(L.ld, base, scope, filter, attrs, 0, NULL,
		    NULL, &tv, sizelimit, res);
		if (link_error(rc)) {
			snprintf(why, whylen, "search under %.160s: %s", base,
			    ldap_err2string(rc));
			if (*res != NULL)
				ldap_msgfree(*res);
			*res = NULL;
			ld_close(&L.ld);
			if (fresh)
				break;
		}
	}
	return rc;
}

/* The first value of attr, as a bounded C string ("" if none). */
static void
first_value(LDAPMessage *e, const char *attr, char *out, size_t outlen,
    bool *present)
{
	struct berval **v;

	out[0] = '\0';
	*present = false;
	if (attr[0] == '\0' || (v = ldap_get_values_len(L.ld, e, attr)) == NULL)
		return;
	if (v[0] != NULL && v[0]->bv_len < outlen &&
	    memchr(v[0]->bv_val, '\0', v[0]->bv_len) == NULL) {
		memcpy(out, v[0]->bv_val, v[0]->bv_len);
		out[v[0]->bv_len] = '\0';
		*present = true;
	}
	ldap_value_free_len(v);
}

static void
read_quota(LDAPMessage *e, const char *attr, bool *has, uint64_t *val,
    struct entry *en)
{
	char buf[32];
	bool present;

	first_value(e, attr, buf, sizeof(buf), &present);
	if (!present)
		return;
	if (!parse_u64(buf, UINT64_MAX / 1024, val)) {
		snprintf(en->reason, sizeof(en->reason), "%s is not a number: "
		    "ignored", attr);
		return;
	}
	*has = true;
}

/* The backend's name: printable ASCII, no blanks. */
static void
read_backend(LDAPMessage *e, struct entry *en)
{
	bool present;

	first_value(e, L.cfg->ldap_backend_attr, en->backend,
	    sizeof(en->backend), &present);
	for (const char *p = en->backend; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f) {
			en->backend[0] = '\0';
			snprintf(en->reason, sizeof(en->reason), "%s holds "
			    "bytes a host name has not: ignored",
			    L.cfg->ldap_backend_attr);
			return;
		}
}

/* The first {CRYPT} value of the password attribute. */
static void
read_hash(LDAPMessage *e, struct entry *en)
{
	struct berval **v = ldap_get_values_len(L.ld, e,
	    L.cfg->ldap_password_attr);
	char other[64] = "";

	en->result = IPC_LDAP_UNUSABLE;
	snprintf(en->reason, sizeof(en->reason), "no %s value",
	    L.cfg->ldap_password_attr);
	for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
		switch (ldap_password_crypt(v[i]->bv_val, v[i]->bv_len,
		    en->hash, sizeof(en->hash))) {
		case LDAP_PW_CRYPT:
			en->result = IPC_LDAP_OK;
			en->reason[0] = '\0';
			ldap_value_free_len(v);
			return;
		case LDAP_PW_SCHEME:
			mk_strlcpy(other, en->hash[0] ? en->hash : "clear text",
			    sizeof(other));
			snprintf(en->reason, sizeof(en->reason), "%s is %s%s%s, "
			    "not {CRYPT}: only {CRYPT} libxcrypt hashes are "
			    "accepted", L.cfg->ldap_password_attr,
			    en->hash[0] ? "{" : "", other, en->hash[0] ? "}" : "");
			break;
		case LDAP_PW_INVALID:
			snprintf(en->reason, sizeof(en->reason), "%s holds a "
			    "malformed {CRYPT} value", L.cfg->ldap_password_attr);
			break;
		}
		explicit_bzero(en->hash, sizeof(en->hash));
	}
	if (v != NULL)
		ldap_value_free_len(v);
}

/* Is the user (DN, or name for memberUid) in ldap_admin_group? */
static int
admin_check(const char *user, struct entry *en)
{
	const char *attr = L.cfg->ldap_admin_group_attr;
	char value[2048], filter[2200];
	LDAPMessage *res;
	char *attrs[] = { (char *)"1.1", NULL };

	if (L.cfg->ldap_admin_group[0] == '\0')
		return LDAP_SUCCESS;
	bool by_uid = strcasecmp(attr, "memberUid") == 0;
	if (ldap_filter_escape(by_uid ? user : en->dn, value, sizeof(value)) < 0)
		return LDAP_SUCCESS;	/* too long to be a member */
	snprintf(filter, sizeof(filter), "(%s=%s)", attr, value);
	int rc = search(L.cfg->ldap_admin_group, LDAP_SCOPE_BASE, filter, attrs,
	    1, &res, en->reason, sizeof(en->reason));
	if (rc == LDAP_SUCCESS)
		en->admin = ldap_count_entries(L.ld, res) > 0;
	else if (rc == LDAP_NO_SUCH_OBJECT) {
		snprintf(en->reason, sizeof(en->reason), "ldap_admin_group %.160s "
		    "does not exist", L.cfg->ldap_admin_group);
		rc = LDAP_SUCCESS;
	}
	if (res != NULL)
		ldap_msgfree(res);
	return rc;
}

/* Reads the one entry the search found into en. */
static int
read_entry(const char *user, LDAPMessage *e, struct entry *en)
{
	char *dn = ldap_get_dn(L.ld, e);
	bool present;

	if (dn == NULL || strlen(dn) >= sizeof(en->dn)) {
		ldap_memfree(dn);
		en->result = IPC_LDAP_NOTFOUND;
		snprintf(en->reason, sizeof(en->reason), "entry without a "
		    "usable DN");
		return LDAP_SUCCESS;
	}
	mk_strlcpy(en->dn, dn, sizeof(en->dn));
	ldap_memfree(dn);
	en->result = IPC_LDAP_OK;
	if (L.cfg->ldap_auth == MK_LDAP_AUTH_HASH)
		read_hash(e, en);
	else
		first_value(e, "modifyTimestamp", en->hash, sizeof(en->hash),
		    &present);
	read_quota(e, L.cfg->ldap_quota_storage_attr, &en->has_storage,
	    &en->storage, en);
	read_quota(e, L.cfg->ldap_quota_messages_attr, &en->has_messages,
	    &en->messages, en);
	read_backend(e, en);
	return admin_check(user, en);
}

static void
lookup(const char *user, struct entry *en)
{
	char filter[1024];
	char *attrs[6];
	size_t na = 0;
	LDAPMessage *res = NULL;

	/* bind mode: the entry's version stands for its password in the
	 * master's credentials cache (a changed password changes it). */
	attrs[na++] = L.cfg->ldap_auth == MK_LDAP_AUTH_HASH ?
	    (char *)L.cfg->ldap_password_attr : (char *)"modifyTimestamp";
	if (L.cfg->ldap_quota_storage_attr[0] != '\0')
		attrs[na++] = (char *)L.cfg->ldap_quota_storage_attr;
	if (L.cfg->ldap_quota_messages_attr[0] != '\0')
		attrs[na++] = (char *)L.cfg->ldap_quota_messages_attr;
	if (L.cfg->ldap_backend_attr[0] != '\0')
		attrs[na++] = (char *)L.cfg->ldap_backend_attr;
	attrs[na] = NULL;
	if (ldap_filter_build(L.cfg->ldap_user_filter, user, filter,
	    sizeof(filter)) == -1) {
		en->result = IPC_LDAP_NOTFOUND;
		snprintf(en->reason, sizeof(en->reason), "filter too long");
		return;
	}
	int rc = search(L.cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, 2,
	    &res, en->reason, sizeof(en->reason));
	int n = rc == LDAP_SUCCESS ? ldap_count_entries(L.ld, res) : 0;
	if (rc == LDAP_SIZELIMIT_EXCEEDED || n > 1) {
		en->result = IPC_LDAP_NOTFOUND;
		snprintf(en->reason, sizeof(en->reason), "ldap_user_filter "
		    "matches more than one entry");
	} else if (rc == LDAP_SUCCESS && n == 0)
		en->result = IPC_LDAP_NOTFOUND;
	else if (rc == LDAP_SUCCESS)
		rc = read_entry(user, ldap_first_entry(L.ld, res), en);
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		en->result = IPC_LDAP_UNAVAILABLE;
		if (en->reason[0] == '\0')
			snprintf(en->reason, sizeof(en->reason), "search: %s",
			    ldap_err2string(rc));
	}
	if (res != NULL)
		ldap_msgfree(res);
}

static void
answer_entry(uint64_t id, const struct entry *en)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_LDAP_ENTRY);
	ipc_put_u64(&m, id);
	ipc_put_u8(&m, en->result);
	ipc_put_str(&m, en->dn);
	ipc_put_str(&m, en->hash);
	ipc_put_u8(&m, en->admin);
	ipc_put_u8(&m, en->has_storage);
	ipc_put_u64(&m, en->storage);
	ipc_put_u8(&m, en->has_messages);
	ipc_put_u64(&m, en->messages);
	ipc_put_str(&m, en->backend);
	ipc_put_str(&m, en->reason);
	if (ipc_send_now(L.fd, &m) == -1)
		fatal("send to master");
}

/* Binds as dn on the users' connection; 0 no, 1 yes, -1 unavailable. */
static int
user_bind(const char *dn, const char *pw, char *why, size_t whylen)
{
	int rc = LDAP_SERVER_DOWN;

	/* An empty password is an unauthenticated bind (RFC 4513 5.1.2),
	 * which servers accept: it proves nothing. */
	if (dn[0] == '\0' || pw[0] == '\0')
		return 0;
	if ((rc = ld_open(&L.bld, why, whylen)) != LDAP_SUCCESS)
		return -1;
	rc = simple_bind(L.bld, dn, pw);
	/* The connection's buffers still hold the encoded request with the
	 * password: closing it frees (and so wipes) them.  A bind costs a
	 * connection (and a TLS handshake) more, not a password left in
	 * memory until the next one. */
	ld_close(&L.bld);
	if (rc == LDAP_SUCCESS)
		return 1;
	if (rc == LDAP_INVALID_CREDENTIALS)
		return 0;
	snprintf(why, whylen, "bind as %.160s: %s", dn, ldap_err2string(rc));
	return -1;
}

static void
on_bind(struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	const char *dn = ipc_get_str(r);
	size_t n;
	const uint8_t *pw = ipc_get_bytes(r, &n);
	char secret[IPC_SECRET_MAX + 1], why[256] = "";
	struct ipc_msg m;

	if (!ipc_end(r) || n > IPC_SECRET_MAX)
		fatalx("malformed LDAP_BIND from master");
	memcpy(secret, pw, n);
	secret[n] = '\0';
	/* A NUL inside would cut the password short: no match. */
	int ok = memchr(pw, '\0', n) != NULL ? 0 :
	    user_bind(dn, secret, why, sizeof(why));
	explicit_bzero(secret, sizeof(secret));
	ipc_msg_init(&m, IPC_LDAP_BIND_RESULT);
	ipc_put_u64(&m, id);
	ipc_put_u8(&m, ok == 1 ? IPC_LDAP_OK : ok == 0 ? IPC_LDAP_NOTFOUND :
	    IPC_LDAP_UNAVAILABLE);
	ipc_put_str(&m, why);
	if (ipc_send_now(L.fd, &m) == -1)
		fatal("send to master");
}

static void
on_lookup(struct ipc_reader *r)
{
	uint64_t id = ipc_get_u64(r);
	const char *user = ipc_get_str(r);
	struct entry en;

	if (!ipc_end(r) || strlen(user) >= 65)
		fatalx("malformed LDAP_LOOKUP from master");
	memset(&en, 0, sizeof(en));
	lookup(user, &en);
	answer_entry(id, &en);
	explicit_bzero(&en, sizeof(en));
}

static void
read_config(uint8_t *buf)
{
	struct ipc_reader r;
	size_t n;

	if (ipc_recv_now(L.fd, buf, &r) == -1)
		_exit(0);
	const uint8_t *pw = ipc_get_bytes(&r, &n);
	if (r.bad || r.type != IPC_LDAP_CONFIG || !ipc_end(&r) || r.fd != -1 ||
	    n >= sizeof(L.pw))
		fatalx("malformed LDAP_CONFIG from master");
	memcpy(L.pw, pw, n);
	L.pw[n] = '\0';
	explicit_bzero(buf, r.len);
}

void
ldapclient_main(const struct mk_config *cfg, int master_fd)
{
	uint8_t *buf = xmalloc(IPC_MAX_MSG);

	L.cfg = cfg;
	L.fd = master_fd;
	global_setup();
	warm_resolver();
	read_config(buf);
	sandbox_apply(SANDBOX_LDAP, LDAP_NOFILE);
	log_debug("ready (%s)", cfg->ldap_uri);
	for (;;) {
		struct ipc_reader r;

		if (ipc_recv_now(master_fd, buf, &r) == -1) {
			/* EOF: the master is gone or retired us. */
			ld_close(&L.ld);
			ld_close(&L.bld);
			explicit_bzero(L.pw, sizeof(L.pw));
			_exit(0);
		}
		if (r.bad || r.fd != -1)
			fatalx("malformed message from master");
		if (r.type == IPC_LDAP_LOOKUP)
			on_lookup(&r);
		else if (r.type == IPC_LDAP_BIND)
			on_bind(&r);
		else
			fatalx("unexpected %s from master", ipc_type_name(r.type));
		explicit_bzero(buf, r.len);
	}
}
