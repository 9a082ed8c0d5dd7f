/*
 * config.c - see config.h.
 */
#include "common/config.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void
config_defaults(struct mk_config *c)
{
	memset(c, 0, sizeof(*c));
	if (gethostname(c->hostname, sizeof(c->hostname)) == -1)
		mk_strlcpy(c->hostname, "localhost", sizeof(c->hostname));
	mk_strlcpy(c->data_dir, "/var/lib/mailkeep", sizeof(c->data_dir));
	mk_strlcpy(c->login_chroot, "/var/lib/mailkeep/empty",
	    sizeof(c->login_chroot));
	mk_strlcpy(c->login_user, "mailkeep-login", sizeof(c->login_user));
	mk_strlcpy(c->hash_user, "mailkeep-auth", sizeof(c->hash_user));
	c->mail_uid_base = 200000;
	c->hash_workers = 2;
	c->hash_priority = 10;
	c->max_line = 64 * 1024;
	/* RFC 2971 allows an ID of 30 pairs of 1024-byte strings. */
	c->max_preauth_line = 64 * 1024;
	c->max_literal = 64 * 1024;
	c->max_message = 64 * 1024 * 1024;
	c->max_connections = 20000;
	c->max_connections_per_ip = 200;
	c->max_auth_attempts = 3;
	c->auth_fail_window = 300;
	c->auth_fail_limit = 20;
	c->auth_delay_max_ms = 5000;
	c->login_timeout = 60;
	c->auth_throttle_ipv4_prefix = 32;
	c->auth_throttle_ipv6_prefix = 64;
	c->auth_max_pending_per_addr = 4;
	c->auth_max_pending = 4096;
	c->auth_account_fail_limit = 10;
	c->auth_account_fail_window = 900;
	c->auth_account_delay_max_ms = 10000;
	c->auth_cache_ttl = 3600;
	c->auth_cache_size = 10000;
	c->autologout = 1800;
	c->idle_keepalive = 240;
	c->mailbox_linger = 10;
	c->expunged_keep = 100000;
	c->tls_relay_max_conns = 10000;
	mk_strlcpy(c->tls_priority, MK_TLS_DEFAULT_PRIORITY,
	    sizeof(c->tls_priority));
	c->plaintext_auth = MK_PLAINTEXT_LOOPBACK;
	mk_strlcpy(c->impersonation_separator, "*",
	    sizeof(c->impersonation_separator));
	c->impersonation_no_seen = false;
	c->unauthenticate = true;
	c->quota_storage = 1024 * 1024;	/* 1 GiB */
	c->quota_messages = 0;
	mk_strlcpy(c->folder_drafts, "Drafts", sizeof(c->folder_drafts));
	mk_strlcpy(c->folder_sent, "Sent", sizeof(c->folder_sent));
	mk_strlcpy(c->folder_trash, "Trash", sizeof(c->folder_trash));
	mk_strlcpy(c->folder_junk, "Junk", sizeof(c->folder_junk));
	c->fsync = MK_FSYNC_MESSAGES;
	c->fts = true;
	/* Indexing in APPEND's transaction took three quarters of the
	 * server's CPU in imaptest's mix (doc/benchmarks.md): new messages
	 * are indexed when the user's process is idle instead. */
	c->fts_at_append = false;
	c->compress_bodies = true;
	/* zstd's default: most of the ratio of the higher levels at a
	 * fraction of their time (doc/benchmarks.md). */
	c->compress_level = 3;
	c->compress_min_size = 32 * 1024;	/* doc/benchmarks.md: why */
	c->acl_max_entries_per_mailbox = 100;
	c->acl_max_shares_per_user = 1000;
	c->max_guest_channels = 64;
	c->max_sessions_per_user = 50;
	/* Below max_literal, so that a value too big gets METADATA MAXSIZE
	 * rather than the framer's "Literal too large". */
	c->metadata_max_value = 16 * 1024;
	c->metadata_max_entries = 1000;
	c->metadata_max_total = 1024 * 1024;
	c->lmtp_socket_mode = 0666;
	c->lmtp_max_recipients = 50;
	c->lmtp_max_connections = 32;
	c->lmtp_timeout = 300;
	c->ldap_starttls = true;
	mk_strlcpy(c->ldap_user_filter, "(uid=%u)", sizeof(c->ldap_user_filter));
	mk_strlcpy(c->ldap_password_attr, "userPassword",
	    sizeof(c->ldap_password_attr));
	mk_strlcpy(c->ldap_admin_group_attr, "member",
	    sizeof(c->ldap_admin_group_attr));
	c->ldap_cache_ttl = 300;
	c->ldap_timeout = 5;
}

int
config_parse_listen(struct mk_listen *l, const char *spec, bool tls)
{
	char host[64];
	const char *colon;
	uint64_t port;

	memset(l, 0, sizeof(*l));
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (end == NULL || end[1] != ':' ||
		    (size_t)(end - spec - 1) >= sizeof(host))
			return -1;
		memcpy(host, spec + 1, (size_t)(end - spec - 1));
		host[end - spec - 1] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL || (size_t)(colon - spec) >= sizeof(host))
			return -1;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
	}
	if (!parse_u64(colon + 1, 65535, &port) || port == 0)
		return -1;
	struct sockaddr_in *sin = (struct sockaddr_in *)&l->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		l->sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		l->sslen = sizeof(*sin6);
	} else
		return -1;
	mk_strlcpy(l->addr, host, sizeof(l->addr));
	l->port = (uint16_t)port;
	l->tls = tls;
	return 0;
}

static bool
parse_size(const char *v, uint64_t *out)
{
	char num[32];
	size_t n = strlen(v);
	uint64_t mult = 1;

	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, v, n + 1);
	switch (toupper((unsigned char)num[n - 1])) {
	case 'K': mult = 1024; break;
	case 'M': mult = 1024 * 1024; break;
	case 'G': mult = 1024ULL * 1024 * 1024; break;
	default: break;
	}
	if (mult != 1)
		num[n - 1] = '\0';
	if (!parse_u64(num, UINT64_MAX / mult, out))
		return false;
	*out *= mult;
	return true;
}

static bool
parse_bool(const char *v, bool *out)
{
	if (str_ieq(v, "yes") || str_ieq(v, "true") || str_ieq(v, "on") ||
	    strcmp(v, "1") == 0)
		*out = true;
	else if (str_ieq(v, "no") || str_ieq(v, "false") ||
	    str_ieq(v, "off") || strcmp(v, "0") == 0)
		*out = false;
	else
		return false;
	return true;
}

enum kind { K_STR, K_PATH, K_UINT, K_SIZE, K_BOOL, K_U64, K_SPECIAL };

struct key {
	const char *name;
	enum kind   kind;
	size_t      off;
	size_t      len;	/* string capacity, or 0 */
	uint64_t    min, max;
};

#define OFF(f) offsetof(struct mk_config, f)
#define STR(k, f)  { k, K_STR, OFF(f), sizeof(((struct mk_config *)0)->f), 0, 0 }
#define PATHK(k, f) { k, K_PATH, OFF(f), sizeof(((struct mk_config *)0)->f), 0, 0 }
#define UINTK(k, f, lo, hi) { k, K_UINT, OFF(f), 0, lo, hi }
#define SIZEK(k, f, lo, hi) { k, K_SIZE, OFF(f), 0, lo, hi }
#define U64K(k, f, lo, hi) { k, K_U64, OFF(f), 0, lo, hi }
#define BOOLK(k, f) { k, K_BOOL, OFF(f), 0, 0, 0 }

static const struct key keys[] = {
	STR("hostname", hostname),
	PATHK("data_dir", data_dir),
	PATHK("login_chroot", login_chroot),
	STR("login_user", login_user),
	STR("hash_user", hash_user),
	UINTK("mail_uid_base", mail_uid_base, 1000, 4000000000U),
	UINTK("hash_workers", hash_workers, 1, 64),
	UINTK("hash_priority", hash_priority, 0, 20),
	SIZEK("max_line", max_line, 1024, 16 * 1024 * 1024),
	SIZEK("max_preauth_line", max_preauth_line, 512, 1024 * 1024),
	SIZEK("max_literal", max_literal, 1024, 64 * 1024 * 1024),
	SIZEK("max_message", max_message, 1024, 2047ULL * 1024 * 1024),
	UINTK("max_connections", max_connections, 1, 1000000),
	UINTK("max_connections_per_ip", max_connections_per_ip, 1, 1000000),
	UINTK("max_auth_attempts", max_auth_attempts, 1, 100),
	UINTK("auth_fail_window", auth_fail_window, 1, 86400),
	UINTK("auth_fail_limit", auth_fail_limit, 1, 1000000),
	UINTK("auth_delay_max_ms", auth_delay_max_ms, 0, 60000),
	UINTK("login_timeout", login_timeout, 1, 3600),
	UINTK("autologout", autologout, 60, 86400),
	UINTK("idle_keepalive", idle_keepalive, 1, 3600),
	UINTK("mailbox_linger", mailbox_linger, 0, 3600),
	UINTK("expunged_keep", expunged_keep, 0, 100000000),
	PATHK("tls_cert", tls_cert),
	PATHK("tls_key", tls_key),
	STR("tls_priority", tls_priority),
	UINTK("tls_relay_max_conns", tls_relay_max_conns, 1, 1000000),
	UINTK("tls_relays", tls_relays, 0, 256),
	{ "plaintext_auth", K_SPECIAL, 0, 0, 0, 0 },
	{ "auth_http_listen", K_SPECIAL, 0, 0, 0, 0 },
	{ "backend", K_SPECIAL, 0, 0, 0, 0 },
	STR("backend_name", backend_name),
	{ "listen", K_SPECIAL, 0, 0, 0, 0 },
	{ "listen_tls", K_SPECIAL, 0, 0, 0, 0 },
	{ "listen_pop3", K_SPECIAL, 0, 0, 0, 0 },
	{ "listen_pop3s", K_SPECIAL, 0, 0, 0, 0 },
	STR("impersonation_separator", impersonation_separator),
	BOOLK("impersonation_no_seen", impersonation_no_seen),
	BOOLK("unauthenticate", unauthenticate),
	U64K("quota_storage", quota_storage, 0, UINT64_MAX / 1024),
	U64K("quota_messages", quota_messages, 0, UINT64_MAX),
	STR("folder_drafts", folder_drafts),
	STR("folder_sent", folder_sent),
	STR("folder_trash", folder_trash),
	STR("folder_junk", folder_junk),
	{ "fsync", K_SPECIAL, 0, 0, 0, 0 },
	BOOLK("fts", fts),
	BOOLK("fts_at_append", fts_at_append),
	BOOLK("compress_bodies", compress_bodies),
	UINTK("compress_level", compress_level, 1, 19),
	SIZEK("compress_min_size", compress_min_size, 0, 2047ULL * 1024 * 1024),
	UINTK("verbose", verbose, 0, 3),
	UINTK("auth_throttle_ipv4_prefix", auth_throttle_ipv4_prefix, 8, 32),
	UINTK("auth_throttle_ipv6_prefix", auth_throttle_ipv6_prefix, 16, 128),
	UINTK("auth_max_pending_per_addr", auth_max_pending_per_addr, 1, 1000000),
	UINTK("auth_max_pending", auth_max_pending, 1, 1000000),
	UINTK("auth_account_fail_limit", auth_account_fail_limit, 1, 1000000),
	UINTK("auth_account_fail_window", auth_account_fail_window, 1, 86400),
	UINTK("auth_account_delay_max_ms", auth_account_delay_max_ms, 0, 60000),
	UINTK("auth_cache_ttl", auth_cache_ttl, 0, 7 * 86400),
	UINTK("auth_cache_size", auth_cache_size, 1, 1000000),
	UINTK("acl_max_entries_per_mailbox", acl_max_entries_per_mailbox, 1,
	    100000),
	UINTK("acl_max_shares_per_user", acl_max_shares_per_user, 1, 1000000),
	UINTK("max_guest_channels", max_guest_channels, 1, 100000),
	UINTK("max_sessions_per_user", max_sessions_per_user, 1, 100000),
	{ "metrics_listen", K_SPECIAL, 0, 0, 0, 0 },
	{ "trusted_proxies", K_SPECIAL, 0, 0, 0, 0 },
	SIZEK("metadata_max_value", metadata_max_value, 1024, 64 * 1024 * 1024),
	UINTK("metadata_max_entries", metadata_max_entries, 10, 1000000),
	SIZEK("metadata_max_total", metadata_max_total, 1024,
	    1024ULL * 1024 * 1024),
	STR("urlauth_submit_users", urlauth_submit_users),
	STR("lmtp_socket", lmtp_socket),
	{ "lmtp_socket_mode", K_SPECIAL, 0, 0, 0, 0 },
	STR("lmtp_socket_group", lmtp_socket_group),
	{ "lmtp_listen", K_SPECIAL, 0, 0, 0, 0 },
	{ "cluster_listen", K_SPECIAL, 0, 0, 0, 0 },
	PATHK("cluster_cert", cluster_cert),
	PATHK("cluster_key", cluster_key),
	PATHK("cluster_ca", cluster_ca),
	STR("lmtp_domains", lmtp_domains),
	UINTK("lmtp_max_recipients", lmtp_max_recipients, 1, 1000),
	UINTK("lmtp_max_connections", lmtp_max_connections, 1, 10000),
	UINTK("lmtp_timeout", lmtp_timeout, 10, 3600),
	{ "directory", K_SPECIAL, 0, 0, 0, 0 },
	STR("ldap_uri", ldap_uri),
	BOOLK("ldap_starttls", ldap_starttls),
	PATHK("ldap_ca_file", ldap_ca_file),
	STR("ldap_bind_dn", ldap_bind_dn),
	PATHK("ldap_bind_password_file", ldap_bind_password_file),
	STR("ldap_base", ldap_base),
	STR("ldap_user_filter", ldap_user_filter),
	{ "ldap_auth", K_SPECIAL, 0, 0, 0, 0 },
	STR("ldap_password_attr", ldap_password_attr),
	STR("ldap_admin_group", ldap_admin_group),
	STR("ldap_admin_group_attr", ldap_admin_group_attr),
	STR("ldap_quota_storage_attr", ldap_quota_storage_attr),
	STR("ldap_quota_messages_attr", ldap_quota_messages_attr),
	STR("ldap_backend_attr", ldap_backend_attr),
	UINTK("ldap_cache_ttl", ldap_cache_ttl, 0, 86400),
	UINTK("ldap_timeout", ldap_timeout, 1, 60),
};

bool
config_backend_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= MK_BACKEND_MAX || !(isdigit((unsigned char)name[0]) ||
	    (name[0] >= 'a' && name[0] <= 'z')))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static bool
parse_port(const char *s, bool zero_ok, uint16_t *out)
{
	uint64_t n;

	if (s == NULL || !parse_u64(s, 65535, &n) || (n == 0 && !zero_ok))
		return false;
	*out = (uint16_t)n;
	return true;
}

/* HOST to a numeric address: nginx takes only an address in
 * Auth-Server, and a name resolved once here cannot change under a
 * running cluster between two logins. */
static bool
resolve_host(const char *host, char *ip, size_t iplen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;

	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return false;
	bool ok = getnameinfo(res->ai_addr, res->ai_addrlen, ip,
	    (socklen_t)iplen, NULL, 0, NI_NUMERICHOST) == 0;
	freeaddrinfo(res);
	return ok;
}

/* "NAME HOST IMAP_PORT [LMTP_PORT [CLUSTER_PORT]]" */
static int
add_backend(struct mk_config *c, const char *v)
{
	char copy[512], *save = NULL, *f[6];
	int n = 0;

	if (c->nbackends >= MK_MAX_BACKENDS || strlen(v) >= sizeof(copy))
		return -1;
	mk_strlcpy(copy, v, sizeof(copy));
	for (char *t = strtok_r(copy, " \t", &save); t != NULL && n < 6;
	    t = strtok_r(NULL, " \t", &save))
		f[n++] = t;
	struct cfg_backend *b = &c->backends[c->nbackends];
	memset(b, 0, sizeof(*b));
	if (n < 3 || n > 5 || !config_backend_name_ok(f[0]) ||
	    strlen(f[1]) >= sizeof(b->host) ||
	    !parse_port(f[2], false, &b->imap_port) ||
	    (n > 3 && !parse_port(f[3], true, &b->lmtp_port)) ||
	    (n > 4 && !parse_port(f[4], true, &b->cluster_port)))
		return -1;
	mk_strlcpy(b->name, f[0], sizeof(b->name));
	mk_strlcpy(b->host, f[1], sizeof(b->host));
	if (!resolve_host(b->host, b->ip, sizeof(b->ip)))
		return -1;
	c->nbackends++;
	return 0;
}

/* "ADDR" or "ADDR/PREFIX" */
static bool
parse_cidr(const char *s, struct cfg_cidr *out)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t prefix;

	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6;
	else
		return false;
	unsigned max = out->family == AF_INET ? 32 : 128;
	if (slash == NULL)
		prefix = max;
	else if (!parse_u64(slash + 1, max, &prefix))
		return false;
	out->prefix = (unsigned)prefix;
	return true;
}

static int
set_proxies(struct mk_config *c, const char *v)
{
	char copy[sizeof(c->trusted_proxies)], *save = NULL;

	if (strlen(v) >= sizeof(copy))
		return -1;
	mk_strlcpy(copy, v, sizeof(copy));
	c->nproxies = 0;
	for (char *t = strtok_r(copy, ", \t", &save); t != NULL;
	    t = strtok_r(NULL, ", \t", &save)) {
		if (c->nproxies >= MK_MAX_PROXIES ||
		    !parse_cidr(t, &c->proxies[c->nproxies]))
			return -1;
		c->nproxies++;
	}
	mk_strlcpy(c->trusted_proxies, v, sizeof(c->trusted_proxies));
	return 0;
}

static bool
prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool
config_proxy_trusted(const struct mk_config *c, const struct sockaddr *sa)
{
	const uint8_t *a;
	int family = sa->sa_family;

	if (family == AF_INET)
		a = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
	else if (family == AF_INET6) {
		a = (const uint8_t *)&((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)
		    (const void *)a)) {
			a += 12;
			family = AF_INET;
		}
	} else
		return false;
	for (unsigned i = 0; i < c->nproxies && i < MK_MAX_PROXIES; i++)
		if (c->proxies[i].family == family &&
		    prefix_match(a, c->proxies[i].addr, c->proxies[i].prefix))
			return true;
	return false;
}

static int
set_special(struct mk_config *c, const char *k, const char *v)
{
	if (strcmp(k, "backend") == 0)
		return add_backend(c, v);
	if (strcmp(k, "plaintext_auth") == 0) {
		if (str_ieq(v, "loopback"))
			c->plaintext_auth = MK_PLAINTEXT_LOOPBACK;
		else if (str_ieq(v, "yes") || str_ieq(v, "always"))
			c->plaintext_auth = MK_PLAINTEXT_ALWAYS;
		else if (str_ieq(v, "no") || str_ieq(v, "never"))
			c->plaintext_auth = MK_PLAINTEXT_NEVER;
		else
			return -1;
		return 0;
	}
	if (strcmp(k, "fsync") == 0) {
		bool b;
		if (str_ieq(v, "messages"))
			c->fsync = MK_FSYNC_MESSAGES;
		else if (str_ieq(v, "all") || (parse_bool(v, &b) && b))
			c->fsync = MK_FSYNC_ALL;
		else if (parse_bool(v, &b))
			c->fsync = MK_FSYNC_NO;
		else
			return -1;
		return 0;
	}
	if (strcmp(k, "directory") == 0) {
		if (str_ieq(v, "sqlite"))
			c->directory = MK_DIR_SQLITE;
		else if (str_ieq(v, "ldap"))
			c->directory = MK_DIR_LDAP;
		else
			return -1;
		return 0;
	}
	if (strcmp(k, "ldap_auth") == 0) {
		if (str_ieq(v, "hash"))
			c->ldap_auth = MK_LDAP_AUTH_HASH;
		else if (str_ieq(v, "bind"))
			c->ldap_auth = MK_LDAP_AUTH_BIND;
		else
			return -1;
		return 0;
	}
	if (strcmp(k, "lmtp_socket_mode") == 0) {
		char *end;
		errno = 0;
		unsigned long mode = strtoul(v, &end, 8);
		if (*v == '\0' || *end != '\0' || errno != 0 || mode > 0777)
			return -1;
		c->lmtp_socket_mode = (unsigned)mode;
		return 0;
	}
	if (strcmp(k, "trusted_proxies") == 0)
		return set_proxies(c, v);
	if (strcmp(k, "lmtp_listen") == 0 || strcmp(k, "metrics_listen") == 0 ||
	    strcmp(k, "auth_http_listen") == 0 ||
	    strcmp(k, "cluster_listen") == 0) {
		struct mk_listen *l = k[0] == 'l' ? &c->lmtp_listen :
		    k[0] == 'm' ? &c->metrics_listen :
		    k[0] == 'a' ? &c->auth_http_listen : &c->cluster_listen;
		/* "" or "none": no TCP listener (the default). */
		if (*v == '\0' || str_ieq(v, "none")) {
			memset(l, 0, sizeof(*l));
			return 0;
		}
		return config_parse_listen(l, v, false);
	}
	/* listen / listen_tls / listen_pop3 / listen_pop3s */
	if (c->nlisten >= MK_MAX_LISTEN)
		return -1;
	if (config_parse_listen(&c->listen[c->nlisten], v,
	    strcmp(k, "listen_tls") == 0 || strcmp(k, "listen_pop3s") == 0) == -1)
		return -1;
	if (strncmp(k, "listen_pop3", 11) == 0)
		c->listen[c->nlisten].proto = MK_PROTO_POP3;
	c->nlisten++;
	return 0;
}

static int
set_key(struct mk_config *c, const struct key *k, const char *v)
{
	char *base = (char *)c;
	uint64_t n;
	bool b;

	switch (k->kind) {
	case K_STR:
	case K_PATH:
		if (strlen(v) >= k->len)
			return -1;
		if (k->kind == K_PATH && v[0] != '/')
			return -1;
		mk_strlcpy(base + k->off, v, k->len);
		return 0;
	case K_UINT:
		if (!parse_u64(v, k->max, &n) || n < k->min)
			return -1;
		*(unsigned *)(base + k->off) = (unsigned)n;
		return 0;
	case K_SIZE:
		if (!parse_size(v, &n) || n < k->min || n > k->max)
			return -1;
		*(size_t *)(base + k->off) = (size_t)n;
		return 0;
	case K_U64:
		if (!parse_size(v, &n) || n < k->min || n > k->max)
			return -1;
		*(uint64_t *)(base + k->off) = n;
		return 0;
	case K_BOOL:
		if (!parse_bool(v, &b))
			return -1;
		*(bool *)(base + k->off) = b;
		return 0;
	case K_SPECIAL:
		return set_special(c, k->name, v);
	}
	return -1;
}

static char *
trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

int
config_load(struct mk_config *c, const char *path, char *err, size_t errlen)
{
	size_t len;
	char *text = read_file(path, 1024 * 1024, &len);
	char *line, *save = NULL;
	int lineno = 0, rc = 0;
	bool listen_seen = false;

	if (text == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (realpath(path, c->path) == NULL)
		mk_strlcpy(c->path, path, sizeof(c->path));
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (*s == '\0')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "%s:%d: expected key = value",
			    path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *k = trim(s), *v = trim(eq + 1);
		/* Quotes are optional around values (for empty strings). */
		size_t vl = strlen(v);
		if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
			v[vl - 1] = '\0';
			v++;
		}
		const struct key *key = NULL;
		for (size_t i = 0; i < nitems(keys); i++)
			if (strcmp(keys[i].name, k) == 0)
				key = &keys[i];
		if (key == NULL) {
			snprintf(err, errlen, "%s:%d: unknown key '%s'", path,
			    lineno, k);
			rc = -1;
			break;
		}
		if (!listen_seen && strncmp(k, "listen", 6) == 0) {
			/* The first listen line replaces the default set. */
			c->nlisten = 0;
			listen_seen = true;
		}
		if (set_key(c, key, v) == -1) {
			snprintf(err, errlen, "%s:%d: bad value for %s: '%s'",
			    path, lineno, k, v);
			rc = -1;
			break;
		}
	}
	free(text);
	if (rc == 0)
		rc = config_check(c, err, errlen);
	return rc;
}

/* Backend names are unique, and this server is one of them. */
static int
check_backends(const struct mk_config *c, char *err, size_t errlen)
{
	if (c->backend_name[0] != '\0' &&
	    !config_backend_name_ok(c->backend_name)) {
		snprintf(err, errlen, "%s: backend_name '%s': a name of 1-64 "
		    "characters a-z 0-9 . _ - is expected", c->path,
		    c->backend_name);
		return -1;
	}
	for (unsigned i = 0; i < c->nbackends; i++)
		for (unsigned j = i + 1; j < c->nbackends; j++)
			if (strcmp(c->backends[i].name, c->backends[j].name) == 0) {
				snprintf(err, errlen, "%s: backend %s is declared "
				    "twice", c->path, c->backends[i].name);
				return -1;
			}
	if (c->nbackends > 0 && config_backend(c, c->backend_name) == NULL) {
		snprintf(err, errlen, "%s: backend_name '%s' is not among the "
		    "declared backends (a cluster's servers each need their "
		    "own name)", c->path, c->backend_name);
		return -1;
	}
	return 0;
}

int
config_check(const struct mk_config *c, char *err, size_t errlen)
{
	const char *sep = c->impersonation_separator;
	const struct mk_listen *ml = &c->metrics_listen;

	/* The metrics are not authenticated: they name the users logged
	 * in.  Only local monitoring (or a local proxy) may read them. */
	if (ml->port != 0 && !((ml->ss.ss_family == AF_INET &&
	    (ntohl(((const struct sockaddr_in *)&ml->ss)->sin_addr.s_addr) >>
	    24) == 127) || (ml->ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)
	    &ml->ss)->sin6_addr)))) {
		snprintf(err, errlen, "%s: metrics_listen %s must be a loopback "
		    "address (127.0.0.0/8 or ::1): the metrics are not "
		    "authenticated", c->path, ml->addr);
		return -1;
	}

	if (c->cluster_listen.port != 0 && (c->cluster_cert[0] == '\0' ||
	    c->cluster_key[0] == '\0' || c->cluster_ca[0] == '\0' ||
	    c->backend_name[0] == '\0')) {
		snprintf(err, errlen, "%s: cluster_listen needs cluster_cert, "
		    "cluster_key, cluster_ca and backend_name (doc/move.md)",
		    c->path);
		return -1;
	}

	/* "target*admin" is split at the separator: a character that may
	 * appear in a user name would make some names mean an
	 * impersonation (and the split ambiguous).  User names are
	 * [a-z0-9._@+-] with upper case folded (store/directory.c). */
	for (const char *p = sep; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (isalnum(ch) || strchr("._@+-", ch) != NULL || ch <= 0x20 ||
		    ch >= 0x7f) {
			snprintf(err, errlen, "%s: impersonation_separator '%s' "
			    "holds '%c', which user names may contain (or a "
			    "space or non-ASCII byte); use e.g. '*'", c->path,
			    sep, ch > 0x20 && ch < 0x7f ? ch : '?');
			return -1;
		}
	}
	if (config_check_ldap(c, err, errlen) < 0)
		return -1;
	return check_backends(c, err, errlen);
}

int
config_mail_uid(const struct mk_config *c, uint32_t user_id, uint32_t *uid,
    char *owner, size_t ownerlen)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	uint64_t u = (uint64_t)c->mail_uid_base + user_id;

	/* (uid_t)-1 means "no change" to setresuid(): never a user's. */
	if (u >= UINT32_MAX)
		return -1;
	*uid = (uint32_t)u;
	if (getpwuid_r((uid_t)u, &pw, buf, sizeof(buf), &res) != 0 ||
	    res == NULL)
		return 0;
	mk_strlcpy(owner, pw.pw_name, ownerlen);
	return 1;
}

int
config_path(const struct mk_config *c, char *out, size_t outlen,
    const char *rel)
{
	int n = snprintf(out, outlen, "%s/%s", c->data_dir, rel);
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

int
config_lmtp_socket(const struct mk_config *c, char *out, size_t outlen)
{
	if (str_ieq(c->lmtp_socket, "none"))
		return -1;
	if (c->lmtp_socket[0] == '\0')
		return config_path(c, out, outlen, "lmtp");
	if (c->lmtp_socket[0] != '/' || strlen(c->lmtp_socket) >= outlen)
		return -1;
	mk_strlcpy(out, c->lmtp_socket, outlen);
	return 0;
}

/* Is s in list (entries separated by commas and/or blanks)? */
static bool
list_has(const char *p, const char *s)
{
	size_t dl = strlen(s);

	while (*p != '\0') {
		p += strspn(p, ", \t");
		size_t n = strcspn(p, ", \t");
		if (n > 0 && n == dl && strncasecmp(p, s, n) == 0)
			return true;
		p += n;
	}
	return false;
}

bool
config_urlauth_submitter(const struct mk_config *c, const char *user)
{
	return user[0] != '\0' && list_has(c->urlauth_submit_users, user);
}

bool
config_lmtp_domain_ok(const struct mk_config *c, const char *domain)
{
	return c->lmtp_domains[0] == '\0' || list_has(c->lmtp_domains, domain);
}

const struct cfg_backend *
config_backend(const struct mk_config *c, const char *name)
{
	for (unsigned i = 0; i < c->nbackends && i < MK_MAX_BACKENDS; i++)
		if (strcmp(c->backends[i].name, name) == 0)
			return &c->backends[i];
	return NULL;
}

bool
config_backend_local(const struct mk_config *c, const char *backend)
{
	return backend[0] == '\0' || strcmp(backend, c->backend_name) == 0;
}
