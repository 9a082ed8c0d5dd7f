/*
 * import_imap.c - the reader of mailkeepctl import for a remote IMAP
 * account: imap://USER@HOST[:PORT] (STARTTLS when the server offers
 * it) or imaps://USER@HOST[:PORT] (TLS from the start), the password
 * one line on standard input, never in the URL or argv.
 *
 * Forked by the worker after it has dropped to the user's uid: the
 * network and the remote server's answers are handled with nothing
 * more than that user's rights.  It logs in (AUTHENTICATE PLAIN, else
 * LOGIN), asks NAMESPACE so that only the personal folders are listed
 * and their prefix ("INBOX." on Courier or Cyrus) dropped, lists them
 * (LIST, LSUB), EXAMINEs each (UIDVALIDITY, UIDNEXT) and fetches UID,
 * FLAGS, INTERNALDATE and RFC822.SIZE of every message: that is the
 * listing (import.h).  Bodies are fetched one by one with
 * UID FETCH BODY.PEEK[] as the worker asks, so nothing on the source
 * changes (no \Seen set).  Every answer is bounded: a line by
 * IMP_REC_MAX, a literal by max_message.
 */
#include "daemon/ctl/import.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/imapdate.h"
#include "common/util.h"
#include "store/store.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define PW_MAX     1024
#define IO_TIMEOUT 120		/* seconds without a byte from the server */
#define BATCH_MAX  32		/* bodies fetched by one command */
#define BATCH_BYTES (4u << 20)	/* ... announcing at most this much */

struct iconn {
	int                              fd;
	gnutls_session_t                 tls;
	gnutls_certificate_credentials_t cred;
	char                             in[16384];
	size_t                           off, len;
	unsigned                         tag;
	size_t                           max_lit;
	struct buf                       resp;	/* the current response */
	char                             caps[2048];
};

struct rfolder {
	char     *remote;	/* the name on the server */
	char     *name;		/* ours, '/' between levels */
	uint32_t  uidvalidity, uidnext, exists;
	uint32_t *uids;		/* listed messages, ascending */
	uint64_t *sizes;
	size_t    n;
	uint32_t *want;		/* what the worker will ask for ('W') */
	size_t    nwant, wpos;
};

struct ireader {
	int             chan;
	struct iconn    c;
	char            delim;
	char            prefix[256];	/* personal namespace */
	char          **skip;		/* other namespaces' prefixes */
	size_t          nskip;
	struct rfolder *f;
	size_t          nf;
	size_t          selected;	/* folder index, or SIZE_MAX */
	int             sel_fail;
};

bool
import_source_is_url(const char *source)
{
	return strncmp(source, "imap://", 7) == 0 ||
	    strncmp(source, "imaps://", 8) == 0;
}

static void __attribute__((noreturn, format(printf, 2, 3)))
die(struct ireader *r, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	imp_send_warn(r->chan, "%s", text);
	_exit(1);
}

/* ---- the connection ---- */

static ssize_t
c_read(struct iconn *c, char *p, size_t n)
{
	ssize_t r;

	if (c->tls == NULL) {
		do
			r = read(c->fd, p, n);
		while (r == -1 && errno == EINTR);
		return r;
	}
	do
		r = gnutls_record_recv(c->tls, p, n);
	while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
	return r < 0 ? -1 : r;
}

static bool
c_write(struct iconn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w;
		if (c->tls == NULL)
			w = write(c->fd, p, n);
		else
			w = gnutls_record_send(c->tls, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static int
c_getc(struct iconn *c)
{
	if (c->len == 0) {
		ssize_t r = c_read(c, c->in, sizeof(c->in));
		if (r <= 0)
			return -1;
		c->off = 0;
		c->len = (size_t)r;
	}
	c->len--;
	return (unsigned char)c->in[c->off++];
}

/* A literal's announced size at the end of the line so far, or -1. */
static long long
literal_at_end(const struct buf *b, size_t line_start)
{
	const char *s = buf_ptr(b) + line_start;
	size_t n = buf_len(b) - line_start, i;

	if (n < 3 || s[n - 1] != '}')
		return -1;
	for (i = n - 1; i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9'; i--)
		;
	if (i == 0 || i == n - 1 || s[i - 1] != '{' || n - 1 - i > 12)
		return -1;
	return strtoll(s + i, NULL, 10);
}

/* One whole response into c->resp: its lines and literals as sent,
 * without the final CRLF.  false if the connection failed or the
 * response exceeds its bounds. */
static bool
read_resp(struct iconn *c)
{
	size_t line_start = 0;
	long long lit;
	int ch;

	buf_reset(&c->resp);
	for (;;) {
		while ((ch = c_getc(c)) != '\n') {
			if (ch < 0 || buf_addc(&c->resp, (char)ch) == -1 ||
			    buf_len(&c->resp) - line_start > IMP_REC_MAX)
				return false;
		}
		if (buf_len(&c->resp) > line_start &&
		    buf_ptr(&c->resp)[buf_len(&c->resp) - 1] == '\r')
			c->resp.len--;
		if ((lit = literal_at_end(&c->resp, line_start)) < 0) {
			/* NUL-terminated, so numbers at its end parse safely */
			if (buf_addc(&c->resp, '\0') == -1)
				return false;
			c->resp.len--;
			return true;
		}
		if ((unsigned long long)lit > c->max_lit ||
		    buf_add(&c->resp, "\r\n", 2) == -1 ||
		    buf_reserve(&c->resp, (size_t)lit) == -1)
			return false;
		for (long long i = 0; i < lit; i++) {
			if ((ch = c_getc(c)) < 0)
				return false;
			buf_ptr(&c->resp)[c->resp.len++] = (char)ch;
		}
		line_start = buf_len(&c->resp);
	}
}

/* ---- tokens of a response ---- */

enum tk { TK_END, TK_ATOM, TK_STR, TK_OPEN, TK_CLOSE, TK_BAD };

struct tok {
	const char *p, *end;
};

/* The next token; strings and literals give their contents in s and n
 * (a quoted string still holds its backslashes: see unquote()). */
static enum tk
next(struct tok *t, const char **s, size_t *n)
{
	while (t->p < t->end && *t->p == ' ')
		t->p++;
	if (t->p >= t->end)
		return TK_END;
	*s = t->p;
	if (*t->p == '(' || *t->p == ')') {
		*n = 1;
		return *t->p++ == '(' ? TK_OPEN : TK_CLOSE;
	}
	if (*t->p == '"') {
		const char *q = ++t->p;
		while (q < t->end && *q != '"')
			q += *q == '\\' && q + 1 < t->end ? 2 : 1;
		if (q >= t->end)
			return TK_BAD;
		*s = t->p;
		*n = (size_t)(q - t->p);
		t->p = q + 1;
		return TK_STR;
	}
	if (*t->p == '{') {
		char *e;
		unsigned long long len = strtoull(t->p + 1, &e, 10);
		if (e >= t->end || *e != '}' || (size_t)(t->end - e) < 3 ||
		    len > (size_t)(t->end - e - 3))
			return TK_BAD;
		*s = e + 3;
		*n = (size_t)len;
		t->p = e + 3 + len;
		return TK_STR;
	}
	/* An atom; a bracketed part of it may hold spaces. */
	while (t->p < t->end && *t->p != ' ' && *t->p != '(' && *t->p != ')') {
		if (*t->p == '[') {
			const char *close = memchr(t->p, ']', (size_t)(t->end -
			    t->p));
			t->p = close != NULL ? close : t->end - 1;
		}
		t->p++;
	}
	*n = (size_t)(t->p - *s);
	return TK_ATOM;
}

/* A string token as a C string (backslash escapes removed), bounded. */
static void
unquote(const char *s, size_t n, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < len; i++) {
		if (s[i] == '\\' && i + 1 < n)
			i++;
		out[o++] = s[i] == '\0' ? ' ' : s[i];
	}
	out[o] = '\0';
}

static bool
tok_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* ---- commands ---- */

/* Sends a command and reads responses up to its tagged one, handing
 * each untagged one to cb.  0 for OK, 1 for NO/BAD (*text says why),
 * and the connection failing is fatal. */
static int __attribute__((format(printf, 5, 6)))
command(struct ireader *r, void (*cb)(struct ireader *, struct tok *),
    char *text, size_t tlen, const char *fmt, ...)
{
	struct iconn *c = &r->c;
	char line[2048], tag[16];
	va_list ap;
	int n, tl;

	tl = snprintf(tag, sizeof(tag), "i%u", ++c->tag);
	memcpy(line, tag, (size_t)tl + 1);
	line[tl++] = ' ';
	va_start(ap, fmt);
	n = vsnprintf(line + tl, sizeof(line) - (size_t)tl - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - (size_t)tl - 2)
		die(r, "internal error: command too long");
	/* One write per command: pieces would wait on delayed ACKs. */
	memcpy(line + tl + n, "\r\n", 3);
	if (!c_write(c, line, (size_t)(tl + n) + 2))
		die(r, "the IMAP server closed the connection");
	for (;;) {
		if (!read_resp(c))
			die(r, "the IMAP server closed the connection, or sent "
			    "an answer beyond our limits");
		struct tok t = { buf_ptr(&c->resp), buf_ptr(&c->resp) +
		    buf_len(&c->resp) };
		const char *s;
		size_t len;
		if (next(&t, &s, &len) != TK_ATOM)
			continue;
		if (len == 1 && *s == '*') {
			if (cb != NULL)
				cb(r, &t);
			continue;
		}
		if (!tok_is(s, len, tag))
			continue;	/* a continuation we never asked for */
		bool ok = next(&t, &s, &len) == TK_ATOM && tok_is(s, len, "OK");
		if (text != NULL)
			snprintf(text, tlen, "%.*s", (int)MK_MIN((size_t)
			    (t.end - t.p), 300), t.p);
		return ok ? 0 : 1;
	}
}

/* A mailbox name as an IMAP quoted string. */
static void
quoted(const char *in, char *out, size_t len)
{
	size_t o = 0;

	out[o++] = '"';
	for (; *in && o + 4 < len; in++) {
		if (*in == '"' || *in == '\\')
			out[o++] = '\\';
		out[o++] = *in;
	}
	out[o++] = '"';
	out[o] = '\0';
}

static void
on_caps(struct ireader *r, struct tok *t)
{
	const char *s;
	size_t n;

	if (next(t, &s, &n) == TK_ATOM && tok_is(s, n, "CAPABILITY"))
		snprintf(r->c.caps, sizeof(r->c.caps), " %.*s ",
		    (int)(t->end - t->p), t->p);
}

static bool
has_cap(const struct ireader *r, const char *cap)
{
	char want[64];

	snprintf(want, sizeof(want), " %s ", cap);
	return strcasestr(r->c.caps, want) != NULL;
}

/* ---- connecting and logging in ---- */

struct url {
	bool tls;
	char user[256], host[256], port[8];
};

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
	    c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* imap[s]://user@host[:port][/]; the user may be %-encoded. */
static bool
parse_url(const char *s, struct url *u, const char **why)
{
	const char *at, *rest, *colon;
	size_t o = 0;

	memset(u, 0, sizeof(*u));
	u->tls = strncmp(s, "imaps://", 8) == 0;
	s += u->tls ? 8 : 7;
	*why = "expected imap://USER@HOST[:PORT] or imaps://...";
	if ((at = strrchr(s, '@')) == NULL || at == s)
		return false;
	for (const char *p = s; p < at && o + 1 < sizeof(u->user); p++) {
		if (*p == ':') {
			*why = "a password in the URL is refused: give it on "
			    "standard input";
			return false;
		}
		if (*p == '%' && p + 2 < at && hexval(p[1]) >= 0 &&
		    hexval(p[2]) >= 0) {
			u->user[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 2;
		} else
			u->user[o++] = *p;
	}
	rest = at + 1;
	size_t hl = strcspn(rest, "/");
	if (hl == 0 || hl >= sizeof(u->host))
		return false;
	memcpy(u->host, rest, hl);
	if (u->host[0] == '[') {	/* [v6]:port */
		char *e = strchr(u->host, ']');
		if (e == NULL)
			return false;
		colon = e[1] == ':' ? e + 1 : NULL;
		memmove(u->host, u->host + 1, (size_t)(e - u->host) - 1);
		u->host[e - u->host - 1] = '\0';
		if (colon)
			snprintf(u->port, sizeof(u->port), "%s", colon + 1);
	} else if ((colon = strrchr(u->host, ':')) != NULL) {
		snprintf(u->port, sizeof(u->port), "%s", colon + 1);
		u->host[colon - u->host] = '\0';
	}
	if (u->port[0] == '\0')
		snprintf(u->port, sizeof(u->port), "%s", u->tls ? "993" : "143");
	return u->user[0] != '\0' && strspn(u->port, "0123456789") ==
	    strlen(u->port);
}

static void
tcp_connect(struct ireader *r, const struct url *u)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *a;
	struct timeval tv = { .tv_sec = IO_TIMEOUT };
	int rc, one = 1;

	if ((rc = getaddrinfo(u->host, u->port, &hints, &res)) != 0)
		die(r, "%s: %s", u->host, gai_strerror(rc));
	r->c.fd = -1;
	for (a = res; a != NULL && r->c.fd == -1; a = a->ai_next) {
		r->c.fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
		    a->ai_protocol);
		if (r->c.fd != -1 && connect(r->c.fd, a->ai_addr,
		    a->ai_addrlen) == -1) {
			close(r->c.fd);
			r->c.fd = -1;
		}
	}
	freeaddrinfo(res);
	if (r->c.fd == -1)
		die(r, "%s port %s: %s", u->host, u->port, strerror(errno));
	(void)setsockopt(r->c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(r->c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(r->c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* TLS with the server's certificate checked against the system's
 * trusted authorities (or ca), for the host name of the URL. */
static void
tls_start(struct ireader *r, const struct url *u, const char *ca)
{
	struct iconn *c = &r->c;
	int rc;

	if (gnutls_certificate_allocate_credentials(&c->cred) < 0)
		die(r, "TLS: out of memory");
	rc = ca != NULL && *ca ? gnutls_certificate_set_x509_trust_file(c->cred,
	    ca, GNUTLS_X509_FMT_PEM) :
	    gnutls_certificate_set_x509_system_trust(c->cred);
	if (rc <= 0)
		die(r, "TLS: no trusted certificate authority (%s)",
		    ca != NULL && *ca ? ca : "the system's store");
	if (gnutls_init(&c->tls, GNUTLS_CLIENT) < 0 ||
	    gnutls_set_default_priority(c->tls) < 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred) < 0)
		die(r, "TLS: cannot set up a session");
	if (strspn(u->host, "0123456789.:abcdefABCDEF") != strlen(u->host))
		(void)gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, u->host,
		    strlen(u->host));
	gnutls_session_set_verify_cert(c->tls, u->host, 0);
	gnutls_transport_set_int(c->tls, c->fd);
	gnutls_handshake_set_timeout(c->tls, IO_TIMEOUT * 1000);
	do
		rc = gnutls_handshake(c->tls);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0)
		die(r, "TLS with %s: %s", u->host, gnutls_strerror(rc));
}

static void
greeting(struct ireader *r)
{
	struct tok t;
	const char *s;
	size_t n;

	if (!read_resp(&r->c))
		die(r, "no greeting from the IMAP server");
	t = (struct tok){ buf_ptr(&r->c.resp), buf_ptr(&r->c.resp) +
	    buf_len(&r->c.resp) };
	if (next(&t, &s, &n) != TK_ATOM || n != 1 || *s != '*' ||
	    next(&t, &s, &n) != TK_ATOM || !tok_is(s, n, "OK"))
		die(r, "the server's greeting is not OK: %.200s",
		    buf_ptr(&r->c.resp));
}

static void
login(struct ireader *r, const struct url *u, const char *pw)
{
	char text[512], uq[600], pq[2 * PW_MAX + 8];
	struct buf b;
	int rc;

	if (has_cap(r, "AUTH=PLAIN") && has_cap(r, "SASL-IR")) {
		size_t ul = strlen(u->user), pl = strlen(pw);
		char *raw = xmalloc(ul + pl + 2);
		raw[0] = '\0';
		memcpy(raw + 1, u->user, ul);
		raw[ul + 1] = '\0';
		memcpy(raw + ul + 2, pw, pl);
		buf_init(&b, 4 * PW_MAX);
		rc = base64_encode(raw, ul + pl + 2, &b) == -1 || buf_addc(&b,
		    '\0') == -1 ? -1 : command(r, on_caps, text, sizeof(text),
		    "AUTHENTICATE PLAIN %s", buf_ptr(&b));
		explicit_bzero(b.data, b.cap);
		freezero(raw, ul + pl + 2);
		buf_free(&b);
	} else {
		quoted(u->user, uq, sizeof(uq));
		quoted(pw, pq, sizeof(pq));
		rc = command(r, on_caps, text, sizeof(text), "LOGIN %s %s", uq,
		    pq);
		explicit_bzero(pq, sizeof(pq));
	}
	if (rc != 0)
		die(r, "login as %s refused: %s", u->user, text);
	/* Capabilities may change after login. */
	(void)command(r, on_caps, NULL, 0, "CAPABILITY");
}

static void
read_password(struct ireader *r, char *pw, size_t len)
{
	size_t n = 0;

	for (;;) {
		char ch;
		ssize_t k = read(STDIN_FILENO, &ch, 1);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0 || ch == '\n')
			break;
		if (n + 1 >= len)
			die(r, "password longer than %zu bytes", len - 2);
		pw[n++] = ch;
	}
	if (n > 0 && pw[n - 1] == '\r')
		n--;
	pw[n] = '\0';
	if (n == 0 || strpbrk(pw, "\r") != NULL)
		die(r, "no password on standard input (one line)");
}

/* ---- the listing ---- */

/* NAMESPACE: (("prefix" "delim") ...) for personal, other, shared. */
static void
on_namespace(struct ireader *r, struct tok *t)
{
	const char *s;
	size_t n;
	char pfx[256];

	if (next(t, &s, &n) != TK_ATOM || !tok_is(s, n, "NAMESPACE"))
		return;
	for (int group = 0; group < 3; group++) {
		enum tk k = next(t, &s, &n);
		if (k != TK_OPEN)
			continue;	/* NIL */
		while ((k = next(t, &s, &n)) == TK_OPEN) {
			if (next(t, &s, &n) != TK_STR)
				return;
			unquote(s, n, pfx, sizeof(pfx));
			if (group == 0 && r->prefix[0] == '\0' && r->nskip == 0 &&
			    r->delim == 0) {
				snprintf(r->prefix, sizeof(r->prefix), "%s", pfx);
				if (next(t, &s, &n) == TK_STR && n >= 1)
					r->delim = *s == '\\' && n > 1 ? s[1] : *s;
			} else if (pfx[0] != '\0') {
				r->skip = xreallocarray(r->skip, r->nskip + 1,
				    sizeof(*r->skip));
				r->skip[r->nskip++] = xstrdup(pfx);
			}
			/* the rest of this namespace's description */
			for (int depth = 1; depth > 0;) {
				k = next(t, &s, &n);
				if (k == TK_END || k == TK_BAD)
					return;
				depth += k == TK_OPEN ? 1 : k == TK_CLOSE ? -1 : 0;
			}
		}
	}
}

static bool
other_namespace(const struct ireader *r, const char *remote)
{
	for (size_t i = 0; i < r->nskip; i++)
		if (strncmp(remote, r->skip[i], strlen(r->skip[i])) == 0)
			return true;
	return false;
}

/* A server name to ours: the personal prefix off, '/' between levels.
 * false for a folder of another namespace, or one we cannot name. */
static bool
our_name(const struct ireader *r, const char *remote, char delim, char *out,
    size_t len)
{
	const char *p = remote;
	size_t pl = strlen(r->prefix);

	if (other_namespace(r, remote))
		return false;
	if (pl > 0 && strncmp(remote, r->prefix, pl) == 0 && remote[pl] != '\0')
		p = remote + pl;
	if (strlen(p) >= len || (delim != '/' && strchr(p, '/') != NULL))
		return false;
	for (size_t i = 0; ; i++) {
		out[i] = delim != 0 && p[i] == delim ? '/' : p[i];
		if (p[i] == '\0')
			break;
	}
	return out[0] != '\0';
}

/* LIST/LSUB (flags) delim name */
static bool
parse_list(struct tok *t, const char *what, bool *noselect, char *delim,
    char *name, size_t len)
{
	const char *s;
	size_t n;
	enum tk k;

	if (next(t, &s, &n) != TK_ATOM || !tok_is(s, n, what) ||
	    next(t, &s, &n) != TK_OPEN)
		return false;
	*noselect = false;
	while ((k = next(t, &s, &n)) == TK_ATOM)
		if (tok_is(s, n, "\\Noselect") || tok_is(s, n, "\\NonExistent"))
			*noselect = true;
	if (k != TK_CLOSE)
		return false;
	k = next(t, &s, &n);
	*delim = k == TK_STR && n >= 1 ? (*s == '\\' && n > 1 ? s[1] : *s) : 0;
	if ((k = next(t, &s, &n)) != TK_STR && k != TK_ATOM)
		return false;
	if (k == TK_STR)
		unquote(s, n, name, len);
	else
		snprintf(name, len, "%.*s", (int)n, s);
	return true;
}

static void
on_list(struct ireader *r, struct tok *t)
{
	char remote[MK_MBOX_NAME_MAX], ours[MK_MBOX_NAME_MAX], delim;
	bool noselect;

	if (!parse_list(t, "LIST", &noselect, &delim, remote, sizeof(remote)) ||
	    noselect || other_namespace(r, remote))
		return;
	if (strcasecmp(remote, "INBOX") == 0)
		snprintf(ours, sizeof(ours), "INBOX");
	else if (!our_name(r, remote, delim, ours, sizeof(ours))) {
		imp_send_warn(r->chan, "folder %s: its name cannot be kept "
		    "here (a '/' in it): skipped", remote);
		return;
	}
	r->f = xreallocarray(r->f, r->nf + 1, sizeof(*r->f));
	memset(&r->f[r->nf], 0, sizeof(r->f[0]));
	r->f[r->nf].remote = xstrdup(remote);
	r->f[r->nf++].name = xstrdup(ours);
}

static void
on_lsub(struct ireader *r, struct tok *t)
{
	char remote[MK_MBOX_NAME_MAX], ours[MK_MBOX_NAME_MAX], delim;
	bool noselect;

	if (!parse_list(t, "LSUB", &noselect, &delim, remote, sizeof(remote)))
		return;
	if (strcasecmp(remote, "INBOX") == 0)
		imp_send_sub(r->chan, "INBOX");
	else if (our_name(r, remote, delim, ours, sizeof(ours)))
		imp_send_sub(r->chan, ours);
}

/* Untagged responses of EXAMINE: [UIDVALIDITY n], [UIDNEXT n], n EXISTS. */
static void
on_select(struct ireader *r, struct tok *t)
{
	struct rfolder *f = &r->f[r->selected];
	const char *s;
	size_t n;

	if (next(t, &s, &n) != TK_ATOM)
		return;
	if (tok_is(s, n, "OK")) {
		if (next(t, &s, &n) != TK_ATOM)
			return;
		if (n > 13 && strncasecmp(s, "[UIDVALIDITY ", 13) == 0)
			f->uidvalidity = (uint32_t)strtoul(s + 13, NULL, 10);
		else if (n > 9 && strncasecmp(s, "[UIDNEXT ", 9) == 0)
			f->uidnext = (uint32_t)strtoul(s + 9, NULL, 10);
		return;
	}
	const char *num = s;
	if (next(t, &s, &n) == TK_ATOM && tok_is(s, n, "EXISTS"))
		f->exists = (uint32_t)strtoul(num, NULL, 10);
}

static bool
select_folder(struct ireader *r, size_t fi)
{
	char q[MK_MBOX_NAME_MAX * 2 + 4], text[400];

	if (r->selected == fi)
		return r->sel_fail == 0;
	r->selected = fi;
	quoted(r->f[fi].remote, q, sizeof(q));
	r->sel_fail = command(r, on_select, text, sizeof(text), "EXAMINE %s", q);
	if (r->sel_fail != 0)
		imp_send_warn(r->chan, "folder %s: EXAMINE refused: %s",
		    r->f[fi].remote, text);
	return r->sel_fail == 0;
}

/* The items of one FETCH response: (name value ...). */
struct fetch_items {
	uint32_t       uid, flags;
	char           keywords[1024];
	struct mk_time date;
	uint64_t       size;
	const char    *body;
	size_t         body_len;
	bool           has_body;
};

static void
parse_flags(struct tok *t, struct fetch_items *fi)
{
	static const struct { const char *n; unsigned f; } sys[] = {
		{ "\\Seen", MF_SEEN }, { "\\Answered", MF_ANSWERED },
		{ "\\Flagged", MF_FLAGGED }, { "\\Deleted", MF_DELETED },
		{ "\\Draft", MF_DRAFT },
	};
	size_t o = 0, n;
	const char *s;

	while (next(t, &s, &n) == TK_ATOM) {
		bool known = false;
		for (size_t i = 0; i < nitems(sys); i++)
			if (tok_is(s, n, sys[i].n)) {
				fi->flags |= sys[i].f;
				known = true;
			}
		if (known || *s == '\\' || o + n + 2 > sizeof(fi->keywords))
			continue;	/* \Recent and the like */
		if (o > 0)
			fi->keywords[o++] = ' ';
		memcpy(fi->keywords + o, s, n);
		o += n;
		fi->keywords[o] = '\0';
	}
}

static bool
parse_fetch(struct tok *t, struct fetch_items *fi)
{
	const char *s;
	size_t n;
	enum tk k;

	memset(fi, 0, sizeof(*fi));
	if (next(t, &s, &n) != TK_ATOM ||	/* the sequence number */
	    next(t, &s, &n) != TK_ATOM || !tok_is(s, n, "FETCH") ||
	    next(t, &s, &n) != TK_OPEN)
		return false;
	while ((k = next(t, &s, &n)) == TK_ATOM) {
		const char *item = s;
		size_t il = n;
		const char *v;
		size_t vn;
		if (tok_is(item, il, "FLAGS")) {
			if (next(t, &v, &vn) != TK_OPEN)
				return false;
			parse_flags(t, fi);
			continue;
		}
		k = next(t, &v, &vn);
		if (tok_is(item, il, "UID"))
			fi->uid = (uint32_t)strtoul(v, NULL, 10);
		else if (tok_is(item, il, "RFC822.SIZE"))
			fi->size = strtoull(v, NULL, 10);
		else if (tok_is(item, il, "INTERNALDATE") && k == TK_STR)
			(void)imapdate_parse_datetime(v, vn, &fi->date);
		else if (tok_is(item, il, "BODY[]") && k == TK_STR) {
			fi->body = v;
			fi->body_len = vn;
			fi->has_body = true;
		} else if (k == TK_OPEN)
			for (int depth = 1; depth > 0;) {
				k = next(t, &v, &vn);
				if (k == TK_END || k == TK_BAD)
					return false;
				depth += k == TK_OPEN ? 1 : k == TK_CLOSE ? -1 : 0;
			}
	}
	return true;
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static struct fetch_items *metas;
static size_t nmetas;

static void
on_meta(struct ireader *r, struct tok *t)
{
	struct fetch_items fi;

	(void)r;
	if (!parse_fetch(t, &fi) || fi.uid == 0)
		return;
	if ((nmetas & (nmetas - 1)) == 0)
		metas = xreallocarray(metas, nmetas ? nmetas * 2 : 1,
		    sizeof(*metas));
	metas[nmetas++] = fi;
}

static int
meta_cmp(const void *a, const void *b)
{
	return uid_cmp(&((const struct fetch_items *)a)->uid,
	    &((const struct fetch_items *)b)->uid);
}

static void
list_folder(struct ireader *r, size_t fi)
{
	struct rfolder *f = &r->f[fi];
	char key[IMP_KEY_MAX], text[400];

	nmetas = 0;
	if (!select_folder(r, fi))
		return;
	if (f->exists > 0 && command(r, on_meta, text, sizeof(text),
	    "UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)") != 0)
		imp_send_warn(r->chan, "folder %s: FETCH refused: %s", f->remote,
		    text);
	if (nmetas > 0)
		qsort(metas, nmetas, sizeof(*metas), meta_cmp);
	imp_send_folder(r->chan, f->name, f->uidvalidity, f->uidnext);
	f->uids = xreallocarray(NULL, nmetas ? nmetas : 1, sizeof(*f->uids));
	f->sizes = xreallocarray(NULL, nmetas ? nmetas : 1, sizeof(*f->sizes));
	for (size_t i = 0; i < nmetas; i++) {
		struct fetch_items *m = &metas[i];
		if (i > 0 && m->uid == metas[i - 1].uid)
			continue;
		snprintf(key, sizeof(key), "%s\t%u:%u", f->name,
		    f->uidvalidity, m->uid);
		struct imp_meta im = { .key = key, .uid = m->uid,
		    .flags = m->flags, .keywords = m->keywords,
		    .date = m->date.t, .tz = m->date.tz, .size = m->size };
		imp_send_msg(r->chan, &im);
		f->sizes[f->n] = m->size;
		f->uids[f->n++] = m->uid;
	}
}

/* ---- bodies ---- */

/*
 * Bodies come in batches: one UID FETCH for up to BATCH_MAX of the
 * messages the worker said it will ask for next (its 'W' list), so a
 * migration over a long network path pays one round trip per batch,
 * not per message.  Each body is copied out of the response buffer
 * (the next response is read into it) and kept until asked for.
 */
static struct batch {
	size_t   fi, n;
	uint32_t mi[BATCH_MAX];
	char    *data[BATCH_MAX];
	size_t   len[BATCH_MAX];
} B;

static void
batch_clear(void)
{
	for (size_t i = 0; i < B.n; i++)
		free(B.data[i]);
	memset(&B, 0, sizeof(B));
}

static void
on_body(struct ireader *r, struct tok *t)
{
	struct fetch_items fi;

	if (!parse_fetch(t, &fi) || !fi.has_body)
		return;
	for (size_t i = 0; i < B.n; i++)
		if (r->f[B.fi].uids[B.mi[i]] == fi.uid && B.data[i] == NULL) {
			B.data[i] = xmemdup0(fi.body, fi.body_len);
			B.len[i] = fi.body_len;
		}
}

/* The batch starting with message mi: it and the wanted ones after it. */
static void
batch_plan(struct rfolder *f, size_t fi, uint32_t mi)
{
	uint64_t bytes = f->sizes[mi];

	batch_clear();
	B.fi = fi;
	B.mi[B.n++] = mi;
	while (f->wpos < f->nwant && f->want[f->wpos] <= mi)
		f->wpos++;
	for (size_t w = f->wpos; w < f->nwant && B.n < BATCH_MAX; w++) {
		if (bytes + f->sizes[f->want[w]] > BATCH_BYTES)
			break;
		bytes += f->sizes[f->want[w]];
		B.mi[B.n++] = f->want[w];
	}
}

static int
batch_fetch(struct ireader *r, char *text, size_t tlen)
{
	struct rfolder *f = &r->f[B.fi];
	char set[BATCH_MAX * 11 + 1];
	size_t o = 0;

	for (size_t i = 0; i < B.n; i++)
		o += (size_t)snprintf(set + o, sizeof(set) - o, "%s%u",
		    i ? "," : "", f->uids[B.mi[i]]);
	return command(r, on_body, text, tlen, "UID FETCH %s (UID BODY.PEEK[])",
	    set);
}

static void
send_one_body(struct ireader *r, uint32_t fi, uint32_t mi)
{
	char text[400];
	size_t i;

	for (i = 0; i < B.n && !(B.fi == fi && B.mi[i] == mi); i++)
		;
	if (i == B.n) {
		if (!select_folder(r, fi)) {
			imp_send_err(r->chan, "the folder cannot be examined");
			return;
		}
		batch_plan(&r->f[fi], fi, mi);
		if (batch_fetch(r, text, sizeof(text)) != 0) {
			batch_clear();
			imp_send_err(r->chan, text);
			return;
		}
		i = 0;
	}
	if (B.data[i] == NULL)
		imp_send_err(r->chan, "gone from the source");
	else
		imp_send_body(r->chan, B.data[i], B.len[i]);
	free(B.data[i]);
	B.data[i] = NULL;
	B.mi[i] = UINT32_MAX;	/* asked for once */
}

/* 'W': the messages of folder fi the worker will ask for, in order. */
static void
read_want(struct ireader *r, uint32_t fi, uint32_t count)
{
	struct rfolder *f = &r->f[fi];

	free(f->want);
	f->want = xreallocarray(NULL, count ? count : 1, sizeof(*f->want));
	if (!imp_read_all(r->chan, f->want, count * sizeof(*f->want)))
		_exit(1);
	for (uint32_t i = 0; i < count; i++)
		if (f->want[i] >= f->n || (i > 0 && f->want[i] <= f->want[i - 1]))
			_exit(1);	/* not the protocol: the worker is ours */
	f->nwant = count;
	f->wpos = 0;
}

static void __attribute__((noreturn))
imap_main(int chan, const char *url, const char *ca, size_t max_message)
{
	struct ireader r = { .chan = chan, .selected = SIZE_MAX };
	char pw[PW_MAX], text[400];
	const char *why;
	struct url u;
	uint32_t fi, mi;
	char t;

	if (!parse_url(url, &u, &why))
		die(&r, "%s: %s", url, why);
	read_password(&r, pw, sizeof(pw));
	r.c.max_lit = max_message + 4096;
	buf_init(&r.c.resp, max_message + IMP_REC_MAX + 8192);
	tcp_connect(&r, &u);
	if (u.tls)
		tls_start(&r, &u, ca);
	greeting(&r);
	(void)command(&r, on_caps, NULL, 0, "CAPABILITY");
	if (!u.tls && has_cap(&r, "STARTTLS")) {
		if (command(&r, NULL, text, sizeof(text), "STARTTLS") != 0)
			die(&r, "STARTTLS refused: %s", text);
		tls_start(&r, &u, ca);
		(void)command(&r, on_caps, NULL, 0, "CAPABILITY");
	}
	login(&r, &u, pw);
	explicit_bzero(pw, sizeof(pw));
	if (has_cap(&r, "NAMESPACE"))
		(void)command(&r, on_namespace, NULL, 0, "NAMESPACE");
	if (command(&r, on_list, text, sizeof(text), "LIST \"\" \"*\"") != 0)
		die(&r, "LIST refused: %s", text);
	(void)command(&r, on_lsub, NULL, 0, "LSUB \"\" \"*\"");
	for (size_t i = 0; i < r.nf; i++)
		list_folder(&r, i);
	free(metas);
	imp_send_end(chan);
	while ((t = imp_next_request(chan, &fi, &mi)) != 0) {
		if (fi >= r.nf || mi > r.f[fi].n || (t == 'B' && mi == r.f[fi].n))
			_exit(1);
		if (t == 'W')
			read_want(&r, fi, mi);
		else
			send_one_body(&r, fi, mi);
	}
	(void)command(&r, NULL, NULL, 0, "LOGOUT");
	_exit(0);
}

int
import_imap_reader_start(const char *url, const char *ca, size_t max_message,
    pid_t *pid)
{
	int chan;

	if ((*pid = imp_fork(&chan)) == 0)
		imap_main(chan, url, ca, max_message);
	return *pid == -1 ? -1 : chan;
}
