/*
 * frontdoor.c - the master's side of the front door (doc/cluster.md):
 * nginx's mail auth_http protocol, and the PROXY protocol of trusted
 * proxies.
 *
 * The master reads no byte a client or nginx sent: the login process
 * (auth/login.c, auth/login_http.c) parses the HTTP request and the
 * PROXY header and sends typed messages, which this file checks.
 *
 *   IPC_LOGIN_PROXY: legal once, first, from a login process whose
 *     connection the master accepted from trusted_proxies (it decided
 *     that at accept(): the child's word is never what makes a peer
 *     trusted).  The named client becomes the connection's address for
 *     the throttles, logs, sessions and audit trail.  On an implicit-TLS
 *     listener the socket comes along and goes to a relay now, after
 *     the header and before the handshake.
 *   IPC_LOGIN_HTTP_AUTH: one request on the auth_http listener, decided
 *     by authz_login() like a LOGIN, but throttled as coming from its
 *     Client-IP; the answer (IPC_LOGIN_HTTP_RESULT) names the backend
 *     that holds the user - the target's for an administrator acting
 *     as a user - or carries the failure and how long nginx is to wait
 *     (Auth-Wait: the delay a direct login would have had).
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/net.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* The connection's client is addr (numeric, of family af) from now on:
 * its connection slot moves to that address's record. */
static bool
peer_set_client(struct peer *p, int af, const char *addr)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	char key[MK_ADDRSTRLEN];

	memset(&ss, 0, sizeof(ss));
	if (af == AF_INET && inet_pton(AF_INET, addr, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (af == AF_INET6 &&
	    inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		return false;
	mk_strlcpy(p->via, p->addr, sizeof(p->via));
	net_addr_str((struct sockaddr *)&ss, p->addr, sizeof(p->addr));
	addr_key((struct sockaddr *)&ss, key, sizeof(key));
	struct addr_rec *rec = addr_get(key);
	if (p->rec != NULL) {
		addr_conn_done(p->rec);
		rec->conns++;
		p->rec = rec;
	}
	return true;
}

void
frontdoor_on_proxy(struct login_child *lc, struct ipc_reader *r)
{
	uint8_t fam = ipc_get_u8(r);
	const char *addr = ipc_get_str(r);
	uint32_t port = ipc_get_u32(r);
	bool tls = lc->peer.implicit_tls;
	int af = fam == 4 ? AF_INET : fam == 6 ? AF_INET6 : 0;

	if (!ipc_end(r) || (r->fd != -1) != tls || (fam != 0 && af == 0) ||
	    strlen(addr) >= MK_ADDRSTRLEN || port > 65535) {
		login_violation(lc, "malformed LOGIN_PROXY");
		return;
	}
	if (!lc->peer.proxy || lc->attempts > 0) {
		login_violation(lc, "LOGIN_PROXY from a connection that is not "
		    "a trusted proxy's");
		return;
	}
	if (tls && !peer_matches(r->fd, &lc->peer)) {
		login_violation(lc, "LOGIN_PROXY with a socket that is not its "
		    "client");
		return;
	}
	lc->peer.proxy = false;
	char proxy[MK_ADDRSTRLEN];
	mk_strlcpy(proxy, lc->peer.addr, sizeof(proxy));
	if (af != 0 && !peer_set_client(&lc->peer, af, addr)) {
		login_violation(lc, "LOGIN_PROXY with a bad address");
		return;
	}
	log_info("connection from %s port %u through proxy %s", lc->peer.addr,
	    port, proxy);
	if (!tls)
		return;
	int fd = -1;
	if (relaypool_assign(ipc_take_fd(r), true, &fd, &lc->peer.link) == -1)
		login_tls_link(lc, -1);
	else {
		lc->peer.tls = true;
		login_tls_link(lc, fd);
	}
}

void
frontdoor_on_http_auth(struct login_child *lc, struct ipc_reader *r)
{
	const char *client = ipc_get_str(r);
	uint8_t proto = ipc_get_u8(r);
	uint32_t attempt = ipc_get_u32(r);
	uint8_t mech = ipc_get_u8(r);
	const char *authzid = ipc_get_str(r);
	const char *authcid = ipc_get_str(r);
	size_t nsecret;
	const uint8_t *secret = ipc_get_bytes(r, &nsecret);
	int af = strchr(client, ':') != NULL ? AF_INET6 : AF_INET;

	if (!ipc_end(r) || r->fd != -1 ||
	    lc->peer.proto != MK_PROTO_AUTHHTTP)
		login_violation(lc, "malformed LOGIN_HTTP_AUTH");
	else if (strlen(authzid) > IPC_IDENT_MAX ||
	    strlen(authcid) > IPC_IDENT_MAX || nsecret > IPC_SECRET_MAX ||
	    (proto != MK_PROTO_IMAP && proto != MK_PROTO_POP3) ||
	    (mech != IPC_MECH_LOGIN && mech != IPC_MECH_PLAIN) ||
	    (*authzid != '\0' && master.cfg.impersonation_separator[0] == '\0'))
		login_violation(lc, "bad LOGIN_HTTP_AUTH");
	else if (++lc->attempts > 1)
		login_violation(lc, "a second request on one auth_http "
		    "connection");
	else if (!peer_set_client(&lc->peer, af, client))
		login_violation(lc, "LOGIN_HTTP_AUTH with a bad Client-IP");
	else {
		lc->state = LS_CHECKING;
		lc->mech = mech;
		lc->http_proto = proto;
		/* nginx counts a client's attempts on its connection, as the
		 * login process does on a direct one. */
		if (attempt > master.cfg.max_auth_attempts) {
			log_info("auth_http: attempt %u for '%.64s' from %s: more "
			    "than max_auth_attempts", attempt, authcid,
			    lc->peer.addr);
			lc->http_close = true;
			login_verdict_text(lc, IPC_AUTH_FAILED, "Too many failed "
			    "authentication attempts");
		} else
			authz_login(lc, mech, authzid, authcid, secret, nsecret);
	}
	explicit_bzero((void *)(uintptr_t)r->p, r->len);
}

/* The address nginx is to reach this server on: its own backend line,
 * or (a single machine) its first plain listener of the protocol, the
 * wildcard address read as loopback. */
static bool
own_address(uint8_t proto, char *ip, size_t iplen, uint16_t *port)
{
	const struct cfg_backend *b =
	    config_backend(&master.cfg, master.cfg.backend_name);

	if (b != NULL && proto == MK_PROTO_IMAP) {
		mk_strlcpy(ip, b->ip, iplen);
		*port = b->imap_port;
		return true;
	}
	for (int i = 0; i < master.cfg.nlisten; i++) {
		const struct mk_listen *l = &master.cfg.listen[i];
		if (l->tls || l->proto != proto)
			continue;
		if (strcmp(l->addr, "0.0.0.0") == 0)
			mk_strlcpy(ip, "127.0.0.1", iplen);
		else if (strcmp(l->addr, "::") == 0)
			mk_strlcpy(ip, "::1", iplen);
		else
			mk_strlcpy(ip, l->addr, iplen);
		*port = l->port;
		return true;
	}
	return false;
}

void
frontdoor_route(struct login_child *lc, const struct dir_user *u)
{
	char ip[64];
	uint16_t port = 0;
	const char *what = lc->http_proto == MK_PROTO_POP3 ? "POP3" : "IMAP";

	if (config_backend_local(&master.cfg, u->backend)) {
		if (!own_address(lc->http_proto, ip, sizeof(ip), &port)) {
			log_warnx("auth_http: no plain %s listener to send %s "
			    "to", what, u->name);
			login_verdict(lc, IPC_AUTH_UNAVAILABLE);
			return;
		}
	} else {
		const struct cfg_backend *b =
		    config_backend(&master.cfg, u->backend);
		if (b == NULL) {
			log_warnx("user %s is on backend '%s', which the "
			    "configuration does not declare", u->name,
			    u->backend);
			login_verdict(lc, IPC_AUTH_UNAVAILABLE);
			return;
		}
		/* Backends are configured alike: the POP3 port of the other
		 * backend is this one's (the login process checked that
		 * this one has a POP3 listener). */
		if (lc->http_proto == MK_PROTO_POP3 &&
		    !own_address(MK_PROTO_POP3, ip, sizeof(ip), &port)) {
			login_verdict(lc, IPC_AUTH_UNAVAILABLE);
			return;
		}
		mk_strlcpy(ip, b->ip, sizeof(ip));
		if (lc->http_proto == MK_PROTO_IMAP)
			port = b->imap_port;
	}
	log_info("auth_http: %s from %s goes to %s port %u", u->name,
	    lc->peer.addr, ip, port);
	ev_timer_stop(master.loop, &lc->delay);
	frontdoor_http_verdict(lc, IPC_AUTH_OK, "OK", ip, port);
	lc->state = LS_NEW;
	stats_login(true);
}

void
frontdoor_http_verdict(struct login_child *lc, enum ipc_auth_result res,
    const char *text, const char *ip, uint16_t port)
{
	struct ipc_msg m;
	uint32_t wait = 0;

	/* nginx closes the client's connection on a refusal without
	 * Auth-Wait: a wrong password, a throttled network or a passing
	 * trouble keep it open, as a direct connection stays open. */
	switch (res) {
	case IPC_AUTH_OK:
		break;
	case IPC_AUTH_FAILED:
	case IPC_AUTH_AUTHZ_FAILED:
		wait = lc->http_close ? 0 : MK_MAX(lc->http_wait, 1u);
		break;
	case IPC_AUTH_THROTTLED:
	case IPC_AUTH_BUSY:
		wait = MK_MAX((master.cfg.auth_delay_max_ms + 999) / 1000, 1u);
		break;
	default:
		wait = 1;
		break;
	}
	ipc_msg_init(&m, IPC_LOGIN_HTTP_RESULT);
	ipc_put_u8(&m, (uint8_t)res);
	ipc_put_str(&m, text);
	ipc_put_str(&m, ip);
	ipc_put_u32(&m, port);
	ipc_put_u32(&m, wait);
	ipc_chan_send(lc->chan, &m);
}
