/*
 * config.h - the one configuration file, parsed and validated once by the
 * master (and by mailkeepctl).  The master sends the parsed struct to the
 * spawner (IPC_SPAWN_CONFIG); children inherit the spawner's copy across
 * fork and use only their part of it.
 *
 * Format: "key = value" lines, '#' comments, sizes with K/M/G suffixes,
 * durations in seconds.  Unknown keys are errors, so typos are caught.
 * See etc/mailkeep.conf for every key with its default.
 */
#ifndef MK_CONFIG_H
#define MK_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define MK_MAX_LISTEN 16
#define MK_MAX_BACKENDS 64
#ifndef MK_BACKEND_MAX
#define MK_BACKEND_MAX 65	/* a backend's name: 64 bytes + NUL */
#endif

/* What a listener speaks (travels as a u8 in IPC_SPAWN_LOGIN and the
 * session record). */
enum mk_proto {
	MK_PROTO_IMAP = 0,
	MK_PROTO_POP3 = 1,	/* listen_pop3, listen_pop3s (doc/pop3.md) */
	MK_PROTO_AUTHHTTP = 2,	/* auth_http_listen: nginx's auth_http */
};

#define MK_MAX_PROXIES 32

/* One entry of trusted_proxies: an address and a prefix length. */
struct cfg_cidr {
	int      family;	/* AF_INET or AF_INET6 */
	uint8_t  addr[16];
	unsigned prefix;
};

struct mk_listen {
	char     addr[64];	/* numeric address as written */
	uint16_t port;
	bool     tls;		/* implicit TLS (imaps, pop3s) */
	uint8_t  proto;		/* enum mk_proto */
	struct sockaddr_storage ss;
	socklen_t sslen;
};

/* The default tls_priority: TLS 1.3 and 1.2 only, forward-secret key
 * exchanges only, AEAD ciphers only (doc/tls.md says why). */
#define MK_TLS_DEFAULT_PRIORITY \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:" \
	"-AES-128-CBC:-AES-256-CBC:-SHA1:%SERVER_PRECEDENCE"

/* One backend of a cluster (doc/cluster.md): "backend = NAME HOST
 * IMAP_PORT [LMTP_PORT [CLUSTER_PORT]]".  ip is HOST resolved when the
 * configuration was loaded (nginx's Auth-Server must be an address). */
struct cfg_backend {
	char     name[MK_BACKEND_MAX];
	char     host[256];
	char     ip[64];
	uint16_t imap_port;
	uint16_t lmtp_port;	/* 0: none */
	uint16_t cluster_port;	/* backend-to-backend TLS link; 0: none */
};

enum mk_plaintext_auth {
	MK_PLAINTEXT_LOOPBACK,	/* clear-text auth only from loopback (default) */
	MK_PLAINTEXT_ALWAYS,
	MK_PLAINTEXT_NEVER,
};

/* Where users, passwords, admin flags and quotas come from
 * (doc/ldap.md). */
enum mk_directory {
	MK_DIR_SQLITE = 0,	/* directory.db (default) */
	MK_DIR_LDAP = 1,	/* an LDAP server, through the LDAP process */
};

/* How an LDAP user's password is checked. */
enum mk_ldap_auth {
	MK_LDAP_AUTH_HASH = 0,	/* read the {CRYPT} hash, hash workers compare */
	MK_LDAP_AUTH_BIND = 1,	/* bind to the server as the user's DN */
};

/* When a user store's commit waits for the disk (fsync; the numbers
 * are those of store.h's STORE_SYNC_*). */
enum mk_fsync {
	MK_FSYNC_NO = 0,	/* never: only checkpoints sync */
	MK_FSYNC_ALL = 1,	/* every commit (synchronous=FULL) */
	MK_FSYNC_MESSAGES = 2,	/* commits that add a message (default) */
};

struct mk_config {
	char     path[PATH_MAX];
	char     hostname[256];		/* greeting and ID */

	struct mk_listen listen[MK_MAX_LISTEN];
	int      nlisten;

	char     data_dir[PATH_MAX];	/* directory.db and users/ */
	char     login_chroot[PATH_MAX];/* empty directory for login processes */
	char     login_user[64];	/* unprivileged account for login */
	char     hash_user[64];		/* unprivileged account for hash workers */
	uint32_t mail_uid_base;		/* a user's uid = base + user id */
	unsigned hash_workers;
	unsigned hash_priority;		/* nice levels above the others' */

	/* Bounds on what a client may send. */
	size_t   max_line;		/* one command line, authenticated */
	size_t   max_preauth_line;	/* before login */
	size_t   max_literal;		/* a non-APPEND literal */
	size_t   max_message;		/* an APPENDed message */
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned max_auth_attempts;	/* per connection */
	unsigned auth_fail_window;	/* seconds over which failures count */
	unsigned auth_fail_limit;	/* failures per IP in the window */
	unsigned auth_delay_max_ms;	/* cap on the growing failure delay */

	unsigned login_timeout;		/* seconds to authenticate */
	unsigned autologout;		/* seconds idle before BYE (>= 1800) */
	unsigned idle_keepalive;	/* seconds between "* OK Still here" */
	unsigned mailbox_linger;	/* seconds a user process outlives its last session */
	unsigned expunged_keep;		/* expunged UIDs kept per mailbox for QRESYNC */

	char     tls_cert[PATH_MAX];
	char     tls_key[PATH_MAX];
	char     tls_priority[256];	/* GnuTLS priority string; "" = default */
	unsigned tls_relays;		/* pool relay processes; 0 = one per CPU */
	unsigned tls_relay_max_conns;	/* TLS connections per pool relay */
	enum mk_plaintext_auth plaintext_auth;

	char     impersonation_separator[8];	/* "" disables LOGIN t*admin */
	bool     impersonation_no_seen;
	bool     unauthenticate;	/* offer UNAUTHENTICATE (RFC 8437) */

	uint64_t quota_storage;		/* default, KiB; 0 = unlimited */
	uint64_t quota_messages;	/* default; 0 = unlimited */

	char     folder_drafts[64], folder_sent[64], folder_trash[64],
	         folder_junk[64];

	enum mk_fsync fsync;		/* user stores; directory: always */
	bool     fts;			/* keep and use the full-text index */
	bool     fts_at_append;		/* index in the message's transaction */
	/* Message bodies stored compressed (store/store_body.c). */
	bool     compress_bodies;
	unsigned compress_level;	/* zstd's, 1-19 */
	size_t   compress_min_size;	/* smaller bodies are stored as sent */
	int      verbose;

	/* Password guessing (daemon/master/addrtab.c, accttab.c): client
	 * addresses are counted by these prefixes (IPv4-mapped IPv6 as
	 * IPv4); verifications pending per prefix and in all are capped;
	 * failures per account slow that account down. */
	unsigned auth_throttle_ipv4_prefix;
	unsigned auth_throttle_ipv6_prefix;
	unsigned auth_max_pending_per_addr;
	unsigned auth_max_pending;	/* the hash queue's bound */
	unsigned auth_account_fail_limit;
	unsigned auth_account_fail_window;	/* seconds */
	unsigned auth_account_delay_max_ms;
	/* The master's verified-credentials cache (daemon/master/
	 * authcache.c): how long a verified (user, password) pair is
	 * trusted without a hash (seconds; 0: no cache), and how many
	 * pairs are kept (least recently used first out). */
	unsigned auth_cache_ttl;
	unsigned auth_cache_size;
	/* Shared folders (doc/sharing.md): ACL entries other than the
	 * owner's, per mailbox and over all of one user's mailboxes. */
	unsigned acl_max_entries_per_mailbox;
	unsigned acl_max_shares_per_user;
	/* Channels to other users' mailbox processes (shared folders) one
	 * user's process may hold open at once; the master enforces it. */
	unsigned max_guest_channels;
	unsigned max_sessions_per_user;	/* one user's own sessions at once */
	/* METADATA (RFC 5464, doc/capabilities.md): one value's bytes, and
	 * entries and value bytes over all of one user's store. */
	size_t   metadata_max_value;
	unsigned metadata_max_entries;
	size_t   metadata_max_total;
	/* URLAUTH (RFC 4467): the accounts that are message submission
	 * entities, whose sessions may use "submit+" URLs; "" = none. */
	char     urlauth_submit_users[1024];
	/* LMTP delivery (doc/lmtp.md). */
	char     lmtp_socket[PATH_MAX];	/* "" = data_dir/lmtp, "none" = off */
	unsigned lmtp_socket_mode;	/* permission bits of the socket */
	char     lmtp_socket_group[64];	/* "" = leave root's group */
	struct mk_listen lmtp_listen;	/* port 0: no TCP listener */
	char     lmtp_domains[1024];	/* "" = any domain; else a list */
	unsigned lmtp_max_recipients;	/* RCPTs per transaction */
	unsigned lmtp_max_connections;
	unsigned lmtp_timeout;		/* seconds waiting for a client */
	/* Live administration (doc/mailkeepctl.md): Prometheus metrics on
	 * a loopback HTTP port; port 0: off (the default). */
	struct mk_listen metrics_listen;
	/* The LDAP directory (doc/ldap.md).  The bind password is not
	 * here: the master reads ldap_bind_password_file and hands it to
	 * the LDAP process over its channel only. */
	enum mk_directory directory;
	char     ldap_uri[512];		/* ldap://host[:port] or ldaps:// */
	bool     ldap_starttls;		/* ldap://: StartTLS (default yes) */
	char     ldap_ca_file[PATH_MAX];/* "" = the system's trust store */
	char     ldap_bind_dn[512];	/* "" = anonymous searches */
	char     ldap_bind_password_file[PATH_MAX];
	char     ldap_base[512];
	char     ldap_user_filter[512];	/* %u = the user name, escaped */
	enum mk_ldap_auth ldap_auth;
	char     ldap_password_attr[64];
	char     ldap_admin_group[512];	/* a group's DN; "" = no admins */
	char     ldap_admin_group_attr[64];	/* member, uniqueMember, memberUid */
	char     ldap_quota_storage_attr[64];	/* KiB; "" = quota_storage */
	char     ldap_quota_messages_attr[64];
	char     ldap_backend_attr[64];	/* e.g. mailHost; "" = none */
	unsigned ldap_cache_ttl;	/* seconds an entry is reused */
	unsigned ldap_timeout;		/* seconds for a connect or a search */
	/* The link between backends (doc/move.md): where this backend
	 * accepts other backends (port 0: nowhere), its certificate and
	 * key, and the CA that signs every backend's certificate. */
	struct mk_listen cluster_listen;
	char     cluster_cert[PATH_MAX];
	char     cluster_key[PATH_MAX];
	char     cluster_ca[PATH_MAX];
	/* A cluster (doc/cluster.md): this server's name, "" = a single
	 * machine, and every backend, this one included. */
	char     backend_name[MK_BACKEND_MAX];
	struct cfg_backend backends[MK_MAX_BACKENDS];
	unsigned nbackends;
	/* The front door: nginx's auth_http on an internal listener (port
	 * 0: off), and the proxies whose PROXY protocol header is believed
	 * (addresses or CIDRs, commas or blanks; parsed into proxies). */
	struct mk_listen auth_http_listen;
	char     trusted_proxies[1024];
	struct cfg_cidr proxies[MK_MAX_PROXIES];
	unsigned nproxies;
};

/* Fills in every default. */
void config_defaults(struct mk_config *c);
/* Reads path over the defaults.  On error writes a message naming the file
 * and line to err and returns -1. */
int  config_load(struct mk_config *c, const char *path, char *err, size_t errlen);
/* Parses "addr:port" / "[v6]:port" into l; -1 on error. */
int  config_parse_listen(struct mk_listen *l, const char *spec, bool tls);
/* Cross-key checks config_load() cannot make line by line (also run by
 * the master and mailkeepctl on the defaults): -1 with a message. */
int  config_check(const struct mk_config *c, char *err, size_t errlen);
/* The uid the mailbox process of user id runs as (mail_uid_base + id).
 * Returns 0 if no account has it, 1 if a system account does (its name
 * in owner), -1 if base + id leaves the uid space. */
int  config_mail_uid(const struct mk_config *c, uint32_t user_id,
	uint32_t *uid, char *owner, size_t ownerlen);
/* The LMTP socket's path (lmtp_socket, or data_dir/lmtp by default);
 * -1 if LMTP over a unix socket is off or the path does not fit. */
int  config_lmtp_socket(const struct mk_config *c, char *out, size_t outlen);
/* True if domain is one of lmtp_domains (case-insensitive), or the
 * list is empty. */
bool config_lmtp_domain_ok(const struct mk_config *c, const char *domain);
/* True if user is one of urlauth_submit_users (case-insensitive). */
bool config_urlauth_submitter(const struct mk_config *c, const char *user);
/* The ldap_* keys together, for config_check() (exposed for tests):
 * -1 with a message. */
int  config_check_ldap(const struct mk_config *c, char *err, size_t errlen);
/* Reads ldap_bind_password_file into out (NUL-terminated, one trailing
 * newline dropped), refusing a file that is not a regular file owned by
 * root (by the running user in development mode) or that its group or
 * others may read.  0, or -1 with a message. */
int  config_ldap_password(const struct mk_config *c, char *out, size_t outlen,
	char *err, size_t errlen);
/* The declared backend called name, or NULL. */
const struct cfg_backend *config_backend(const struct mk_config *c,
	const char *name);
/* True if a user whose directory row names backend is served here:
 * "" (every user of a single machine) or backend_name. */
bool config_backend_local(const struct mk_config *c, const char *backend);
/* Backend names: 1-64 bytes of [a-z0-9._-] starting with a letter or
 * digit. */
bool config_backend_name_ok(const char *name);
/* True if sa (the peer of an accepted connection) is one of
 * trusted_proxies (an IPv4-mapped IPv6 address as IPv4). */
bool config_proxy_trusted(const struct mk_config *c,
	const struct sockaddr *sa);
/* Joins data_dir with a relative path. */
int  config_path(const struct mk_config *c, char *out, size_t outlen,
	const char *rel);

#endif
