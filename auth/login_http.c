/*
 * login_http.c - the login process answering nginx's mail auth_http
 * protocol (ngx_mail_auth_http_module) on auth_http_listen
 * (doc/cluster.md).
 *
 * One request per connection (nginx opens one per login; keep-alive is
 * not needed): "GET <uri> HTTP/1.0" and headers, of which Auth-Method
 * (plain or login), Auth-User and Auth-Pass (URL-encoded by nginx),
 * Auth-Protocol (imap or pop3), Auth-Login-Attempt and Client-IP count;
 * the rest (Host, Client-Host, Auth-Salt, Auth-SSL..., operator-added
 * headers) is ignored.  The head is bounded (HTTP_AUTH_MAX_HEADER); a
 * malformed one gets 400, another method 405, one too large 431, each
 * with a reason.  A well-formed request nginx cannot have meant for us
 * (APOP, CRAM-MD5, SMTP) gets "Auth-Status: <reason>" with no
 * Auth-Wait, so nginx ends that client's connection.
 *
 * Otherwise the credentials go to the master as IPC_LOGIN_HTTP_AUTH
 * with the Client-IP, whose throttles apply ("target*admin" split as
 * LOGIN's); the master's answer becomes "Auth-Status: OK" with
 * Auth-Server/Auth-Port, or the refusal with Auth-Wait.  Passwords are
 * wiped from every buffer that held them.  login.c does the rest: event
 * loop, timeouts, sandbox (the login role).
 */
#include "auth/login.h"
#include "common/log.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static struct http_auth_req hreq;

bool
login_is_http(const struct login_conn *c)
{
	return c->p.proto == MK_PROTO_AUTHHTTP;
}

static int
fail(const char **why, int status, const char *msg)
{
	*why = msg;
	return status;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* %XX-decodes n bytes of in into out (cap bytes); -1 if malformed or
 * too long.  '+' stays '+': nginx escapes URI-style, not forms. */
static ssize_t
url_decode(const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (ch == '%') {
			if (i + 2 >= n)
				return -1;
			int hi = hexval(in[i + 1]);
			int lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			ch = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = ch;
	}
	out[o] = '\0';
	return (ssize_t)o;
}

static void
lower_copy(char *out, size_t cap, const char *in, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < cap; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

enum { H_METHOD, H_USER, H_PASS, H_PROTO, H_ATTEMPT, H_CLIENT, H_N };

static const char *const hnames[H_N] = {
	"Auth-Method", "Auth-User", "Auth-Pass", "Auth-Protocol",
	"Auth-Login-Attempt", "Client-IP",
};

/* One header's value into the request. */
static int
take(int h, const char *v, size_t n, struct http_auth_req *out,
    const char **why)
{
	ssize_t len;
	uint64_t num;
	char tmp[64];
	uint8_t raw[16];

	switch (h) {
	case H_METHOD:
	case H_PROTO:
		if (n >= sizeof(out->method))
			return fail(why, 400, "Auth-Method or Auth-Protocol too "
			    "long");
		lower_copy(h == H_METHOD ? out->method : out->protocol,
		    sizeof(out->method), v, n);
		return 0;
	case H_USER:
		len = url_decode(v, n, out->user, sizeof(out->user));
		if (len <= 0 || strlen(out->user) != (size_t)len)
			return fail(why, 400, "Auth-User empty, too long or badly "
			    "encoded");
		return 0;
	case H_PASS:
		len = url_decode(v, n, out->pass, sizeof(out->pass));
		if (len < 0)
			return fail(why, 400, "Auth-Pass badly encoded");
		out->npass = (size_t)len;
		return 0;
	case H_ATTEMPT:
		if (n == 0 || n >= sizeof(tmp))
			return fail(why, 400, "bad Auth-Login-Attempt");
		memcpy(tmp, v, n);
		tmp[n] = '\0';
		if (!parse_u64(tmp, 1000000, &num) || num == 0)
			return fail(why, 400, "bad Auth-Login-Attempt");
		out->attempt = (unsigned)num;
		return 0;
	case H_CLIENT:
		if (n == 0 || n >= sizeof(out->client_ip))
			return fail(why, 400, "bad Client-IP");
		memcpy(out->client_ip, v, n);
		out->client_ip[n] = '\0';
		if (inet_pton(AF_INET, out->client_ip, raw) != 1 &&
		    inet_pton(AF_INET6, out->client_ip, raw) != 1)
			return fail(why, 400, "Client-IP is not an address");
		return 0;
	}
	return 0;
}

/* "Name: value" (n bytes, no CRLF). */
static int
header(const char *line, size_t n, struct http_auth_req *out, bool seen[],
    const char **why)
{
	const char *colon = memchr(line, ':', n);

	if (n > 0 && (line[0] == ' ' || line[0] == '\t'))
		return fail(why, 400, "folded header lines are not accepted");
	if (colon == NULL || colon == line)
		return fail(why, 400, "header line without a name");
	size_t nl = (size_t)(colon - line);
	const char *v = colon + 1, *end = line + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *p = line; p < end; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return fail(why, 400, "control character in a header");
	for (int h = 0; h < H_N; h++) {
		if (strlen(hnames[h]) != nl ||
		    strncasecmp(line, hnames[h], nl) != 0)
			continue;
		if (seen[h])
			return fail(why, 400, "a header sent twice");
		seen[h] = true;
		return take(h, v, (size_t)(end - v), out, why);
	}
	return 0;
}

int
http_auth_parse(const char *req, size_t len, struct http_auth_req *out,
    const char **why)
{
	bool seen[H_N] = { false };
	const char *p = req, *end = req + len;
	int rc;

	memset(out, 0, sizeof(*out));
	out->attempt = 1;
	if (len > HTTP_AUTH_MAX_HEADER)
		return fail(why, 431, "request header too large");
	const char *eol = memchr(p, '\n', len);
	if (eol == NULL)
		return fail(why, 400, "no request line");
	size_t rl = (size_t)(eol - p);
	if (rl > 0 && p[rl - 1] == '\r')
		rl--;
	if (rl < 4 || memcmp(p, "GET ", 4) != 0) {
		const char *sp = memchr(p, ' ', rl);
		return fail(why, sp != NULL && sp > p ? 405 : 400,
		    "only GET is served");
	}
	if (rl < 13 || (memcmp(p + rl - 9, " HTTP/1.0", 9) != 0 &&
	    memcmp(p + rl - 9, " HTTP/1.1", 9) != 0))
		return fail(why, 400, "not an HTTP/1.0 or 1.1 request line");
	for (p = eol + 1; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			return fail(why, 400, "header line without an end");
		size_t n = (size_t)(eol - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break;	/* the end of the head */
		if ((rc = header(p, n, out, seen, why)) != 0)
			return rc;
	}
	if (!seen[H_METHOD] || !seen[H_USER] || !seen[H_PASS] ||
	    !seen[H_PROTO] || !seen[H_CLIENT])
		return fail(why, 400, "Auth-Method, Auth-User, Auth-Pass, "
		    "Auth-Protocol and Client-IP are required");
	return 0;
}

static void
wipe_request(struct login_conn *c)
{
	explicit_bzero(&hreq, sizeof(hreq));
	if (c->in.data != NULL)
		explicit_bzero(c->in.data, c->in.cap);
	buf_reset(&c->in);
}

void
http_login_error(struct login_conn *c, int status, const char *text)
{
	const char *reason = status == 400 ? "Bad Request" :
	    status == 405 ? "Method Not Allowed" :
	    status == 408 ? "Request Timeout" :
	    "Request Header Fields Too Large";

	wipe_request(c);
	c->state = LST_CLOSING;
	login_reply(c, "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\n"
	    "Connection: close\r\n\r\n%s", status, reason, text);
	login_finish(c);
}

/* Well-formed, but nothing nginx should send us: refused for good. */
static void
refuse(struct login_conn *c, const char *status)
{
	wipe_request(c);
	c->state = LST_CLOSING;
	login_reply(c, "HTTP/1.0 200 OK\r\nAuth-Status: %s\r\n", status);
	login_finish(c);
}

/* POP3 through nginx only where this server speaks POP3. */
static bool
serves_pop3(const struct login_conn *c)
{
	for (int i = 0; i < c->cfg->nlisten; i++)
		if (c->cfg->listen[i].proto == MK_PROTO_POP3)
			return true;
	return false;
}

void
http_login_process(struct login_conn *c)
{
	const char *why = "";
	char authzid[IPC_IDENT_MAX + 1] = "", authcid[IPC_IDENT_MAX + 1];

	if (c->state != LST_COMMAND)
		return;
	size_t len = buf_len(&c->in);
	const char *data = buf_ptr(&c->in);
	const char *end = len >= 4 ? memmem(data, len, "\r\n\r\n", 4) : NULL;
	if (end == NULL && len > 2 && memmem(data, len, "\n\n", 2) != NULL)
		end = (const char *)memmem(data, len, "\n\n", 2) - 2;
	if (end == NULL) {
		if (len > HTTP_AUTH_MAX_HEADER)
			http_login_error(c, 431, "request header too large");
		return;
	}
	int rc = http_auth_parse(data, (size_t)(end - data) + 4, &hreq, &why);
	if (rc != 0) {
		log_info("auth_http: %d: %s", rc, why);
		http_login_error(c, rc, why);
	}
	if (strcmp(hreq.method, "plain") != 0 && strcmp(hreq.method, "login") != 0)
		refuse(c, "Unsupported authentication method");
	if (strcmp(hreq.protocol, "imap") != 0 && (strcmp(hreq.protocol,
	    "pop3") != 0 || !serves_pop3(c)))
		refuse(c, "Unsupported protocol");
	if (!sasl_split_login(hreq.user, c->cfg->impersonation_separator,
	    authzid, sizeof(authzid), authcid, sizeof(authcid)))
		mk_strlcpy(authcid, hreq.user, sizeof(authcid));
	if (hreq.npass > IPC_SECRET_MAX)
		refuse(c, "Invalid login or password");
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_LOGIN_HTTP_AUTH);
	ipc_put_str(&m, hreq.client_ip);
	ipc_put_u8(&m, strcmp(hreq.protocol, "pop3") == 0 ? MK_PROTO_POP3 :
	    MK_PROTO_IMAP);
	ipc_put_u32(&m, hreq.attempt);
	ipc_put_u8(&m, strcmp(hreq.method, "plain") == 0 ? IPC_MECH_PLAIN :
	    IPC_MECH_LOGIN);
	ipc_put_str(&m, authzid);
	ipc_put_str(&m, authcid);
	ipc_put_bytes(&m, hreq.pass, hreq.npass);
	/* The message is wiped by ipc_msg_free() once it is sent. */
	ipc_chan_send(c->master, &m);
	wipe_request(c);
	c->attempts++;
	c->state = LST_WAIT;
}

void
http_login_verdict(struct login_conn *c, struct ipc_reader *r)
{
	uint8_t result = ipc_get_u8(r);
	const char *text = ipc_get_str(r);
	const char *ip = ipc_get_str(r);
	uint32_t port = ipc_get_u32(r);
	uint32_t wait = ipc_get_u32(r);

	if (!ipc_end(r) || port > 65535)
		fatalx("malformed LOGIN_HTTP_RESULT");
	c->state = LST_CLOSING;
	if (result == IPC_AUTH_OK)
		login_reply(c, "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\n"
		    "Auth-Server: %s\r\nAuth-Port: %u\r\n", ip, port);
	else if (wait > 0)
		login_reply(c, "HTTP/1.0 200 OK\r\nAuth-Status: %s\r\n"
		    "Auth-Wait: %u\r\n", text, wait);
	else
		login_reply(c, "HTTP/1.0 200 OK\r\nAuth-Status: %s\r\n", text);
	login_finish(c);
}
