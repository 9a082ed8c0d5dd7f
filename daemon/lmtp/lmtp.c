/*
 * lmtp.c - the LMTP session process (see lmtp.h and doc/lmtp.md).
 *
 * A synchronous process: it reads a command, answers it, and reads the
 * next.  Answers are buffered and written only when no complete command
 * is waiting in the input, which is what PIPELINING (RFC 2920) asks of
 * a server.  Every read waits at most lmtp_timeout seconds; the only
 * other waits are for the master's answer to a RCPT and for the
 * mailbox processes' answers after DATA.
 *
 * Bounds: a command line is at most CMD_MAX bytes (longer: 500 5.5.2,
 * the rest of the line discarded); a message at most max_message bytes
 * (the DATA is read to its end and every recipient gets 552 5.3.4);
 * a transaction at most lmtp_max_recipients recipients (452 4.5.3); a
 * connection at most MAX_ERRORS bad commands (421 4.7.0).  Message lines
 * have no length limit of their own: a long line is written through in
 * pieces, so mail with long lines, which MTAs relay as it is, is stored
 * as it is.
 *
 * Once its few buffers are allocated it applies the LMTP role of
 * common/sandbox.c (lmtp_main): from then on it can use the descriptors
 * it holds, make the message's sealed memfd, dup it and pass it on, and
 * nothing else: no open(), no socket, no fork, no execve.
 */
#include "daemon/lmtp/lmtp.h"
#include "common/buf.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/sandbox.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* RFC 5321 4.5.3.1.4 allows 512; parameters of extensions need more. */
#define CMD_MAX      2048
#define INBUF        (64 * 1024)
#define OUT_MAX      (256 * 1024)
#define MAX_ERRORS   20
/* The master answers a RCPT from its own directory: fast, unless it is
 * wedged, in which case the MTA should try again later. */
#define RCPT_WAIT_MS (60 * 1000)
/* The Received: line written above the message: at most this. */
#define RECEIVED_MAX 512
/* RLIMIT_NOFILE is lmtp_max_recipients (one delivery channel each) plus
 * this: stdin/stdout/stderr, the log's socket, the client, the master's
 * channel; at DATA the memfd, its dup on its way to a recipient and a
 * descriptor arriving unasked with an answer; a sanitizer's report
 * opening /proc/self/maps; two spare.  Descriptors are numbered from the
 * lowest free one, so the count is what matters, not where the spawner
 * left the client and the channel. */
#define LMTP_FD_SLACK 12

struct rcpt {
	char addr[LMTP_MAX_PATH];	/* as given, without brackets */
	int  chan;			/* delivery channel, -1 if closed */
	bool relay;			/* chan: the holding backend's LMTP */
};

struct lmtp {
	const struct mk_config *cfg;
	const struct lmtp_params *p;
	int          fd, master;
	char         in[INBUF];
	size_t       off, len;		/* unread input: in[off, off + len) */
	struct buf   out;
	char         helo[128];
	bool         lhlo, mail;
	char         from[LMTP_MAX_PATH];
	struct rcpt *rcpts;
	size_t       nrcpt;
	unsigned     errors;
	bool         relayed;		/* the client is another backend */
	uint64_t     next_req;
	uint8_t     *ipcbuf;
};

__attribute__((noreturn)) static void lmtp_exit(struct lmtp *l);

/* ---- output ---- */

static void __attribute__((format(printf, 2, 3)))
reply(struct lmtp *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (buf_vprintf(&l->out, fmt, ap) == -1 ||
	    buf_adds(&l->out, "\r\n") == -1)
		fatalx("LMTP output over %d bytes", OUT_MAX);
	va_end(ap);
}

static void
flush(struct lmtp *l)
{
	while (buf_len(&l->out) > 0) {
		ssize_t n = send(l->fd, buf_ptr(&l->out), buf_len(&l->out),
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* SO_SNDTIMEO expired or the client is gone. */
			log_debug("client %s: write failed", l->p->peer);
			exit(0);
		}
		buf_consume(&l->out, (size_t)n);
	}
}

/* Says goodbye with a 421 and exits (timeouts, too many errors). */
__attribute__((noreturn)) static void
bye(struct lmtp *l, const char *text)
{
	reply(l, "421 %s", text);
	flush(l);
	lmtp_exit(l);
}

/* ---- input ---- */

/* Reads more input after what is buffered; output is flushed first,
 * since the client may be waiting for it.  0 on EOF. */
static size_t
fill(struct lmtp *l)
{
	struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
	ssize_t n;
	int r;

	flush(l);
	if (l->off > 0) {
		memmove(l->in, l->in + l->off, l->len);
		l->off = 0;
	}
	if (l->len == INBUF)
		fatalx("fill with a full buffer");
	do
		r = poll(&pfd, 1, (int)l->cfg->lmtp_timeout * 1000);
	while (r == -1 && errno == EINTR);
	if (r == 0)
		bye(l, "4.4.2 Timeout, closing connection");
	do
		n = read(l->fd, l->in + l->len, INBUF - l->len);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return 0;
	l->len += (size_t)n;
	return (size_t)n;
}

enum line_res { LINE_OK, LINE_LONG, LINE_EOF };

/* The next command line, NUL-terminated without its CRLF (or bare LF).
 * A line longer than CMD_MAX is read to its end and dropped. */
static enum line_res
read_cmd(struct lmtp *l, char **line, size_t *n)
{
	bool toolong = false;

	for (;;) {
		char *p = l->in + l->off;
		char *nl = memchr(p, '\n', l->len);
		if (nl != NULL) {
			size_t k = (size_t)(nl - p);
			l->off += k + 1;
			l->len -= k + 1;
			if (toolong || k + 1 > CMD_MAX)
				return LINE_LONG;
			if (k > 0 && p[k - 1] == '\r')
				k--;
			p[k] = '\0';
			*line = p;
			*n = k;
			return LINE_OK;
		}
		if (l->len >= CMD_MAX) {
			/* Keep nothing of an over-long line. */
			toolong = true;
			l->off += l->len;
			l->len = 0;
		}
		if (fill(l) == 0)
			return LINE_EOF;
	}
}

/* ---- the transaction ---- */

static void
reset(struct lmtp *l)
{
	for (size_t i = 0; i < l->nrcpt; i++)
		if (l->rcpts[i].chan != -1)
			close(l->rcpts[i].chan);
	l->nrcpt = 0;
	l->mail = false;
	l->from[0] = '\0';
}

__attribute__((noreturn)) static void
lmtp_exit(struct lmtp *l)
{
	reset(l);
	exit(0);
}

/* ---- the master ---- */

/* Waits for one message on fd; false on timeout, EOF or error. */
static bool
recv_wait(struct lmtp *l, int fd, int timeout_ms, struct ipc_reader *r)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int rc;

	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc == -1 && errno == EINTR);
	if (rc <= 0)
		return false;
	if (ipc_recv_now(fd, l->ipcbuf, r) == -1)
		return false;
	return !r->bad;
}

/* Asks the master about one recipient.  On OK *chan is the delivery
 * channel to the user's mailbox process. */
static enum ipc_req_result
ask_rcpt(struct lmtp *l, const char *local, const char *domain, int *chan)
{
	struct ipc_msg m;
	struct ipc_reader r;
	uint64_t id = ++l->next_req;

	*chan = -1;
	ipc_msg_init(&m, IPC_LMTP_RCPT);
	ipc_put_u64(&m, id);
	ipc_put_str(&m, local);
	ipc_put_str(&m, domain);
	if (ipc_send_now(l->master, &m) == -1)
		fatalx("the master closed the channel");
	if (!recv_wait(l, l->master, RCPT_WAIT_MS, &r)) {
		/* A late answer would be taken for the next request's. */
		fatalx("no answer from the master for a recipient");
	}
	if (r.type != IPC_LMTP_RCPT_RESULT)
		fatalx("unexpected %s from the master", ipc_type_name(r.type));
	uint64_t rid = ipc_get_u64(&r);
	uint8_t res = ipc_get_u8(&r);
	(void)ipc_get_str(&r);
	if (!ipc_end(&r) || rid != id || (res == IPC_REQ_OK ||
	    res == IPC_REQ_RELAY) != (r.fd != -1))
		fatalx("malformed LMTP_RCPT_RESULT from the master");
	*chan = ipc_take_fd(&r);
	return (enum ipc_req_result)res;
}

/* ---- commands ---- */

static void
cmd_lhlo(struct lmtp *l, const char *arg)
{
	size_t k = 0;

	if (*arg == '\0') {
		reply(l, "501 5.5.4 Syntax: LHLO hostname");
		l->errors++;
		return;
	}
	/* Kept for the Received: header: only what a host name or address
	 * literal may contain, so nothing can break the header. */
	for (const char *p = arg; *p != '\0' && *p != ' ' &&
	    k + 1 < sizeof(l->helo); p++)
		if (isalnum((unsigned char)*p) || strchr(".-_:[]", *p))
			l->helo[k++] = *p;
	l->helo[k] = '\0';
	reset(l);
	if (!l->relayed && strncasecmp(arg, RELAY_HELO_PREFIX,
	    strlen(RELAY_HELO_PREFIX)) == 0) {
		struct ipc_msg m;
		ipc_msg_init(&m, IPC_LMTP_RELAYED);
		if (ipc_send_now(l->master, &m) == -1)
			fatalx("the master closed the channel");
		l->relayed = true;
	}
	l->lhlo = true;
	reply(l, "250-%s", l->cfg->hostname);
	reply(l, "250-PIPELINING");
	reply(l, "250-ENHANCEDSTATUSCODES");
	reply(l, "250-8BITMIME");
	reply(l, "250 SIZE %zu", l->cfg->max_message);
}

/* "FROM:" / "TO:" and optional blanks (which some clients send). */
static const char *
after_keyword(const char *arg, const char *kw)
{
	size_t n = strlen(kw);

	if (strncasecmp(arg, kw, n) != 0)
		return NULL;
	arg += n;
	return arg + strspn(arg, " ");
}

static void
cmd_mail(struct lmtp *l, const char *arg)
{
	struct lmtp_mail_params mp;
	const char *p, *end, *why;

	if (!l->lhlo) {
		reply(l, "503 5.5.1 Send LHLO first");
		return;
	}
	if (l->mail) {
		reply(l, "503 5.5.1 Nested MAIL command");
		return;
	}
	if ((p = after_keyword(arg, "FROM:")) == NULL ||
	    lmtp_parse_path(p, &end, l->from, sizeof(l->from)) == -1) {
		reply(l, "501 5.1.7 Bad sender address syntax");
		l->errors++;
		return;
	}
	if (lmtp_mail_params(end, &mp, &why) == -1) {
		reply(l, "%s", why);
		l->errors++;
		return;
	}
	if (mp.has_size && mp.size > l->cfg->max_message) {
		reply(l, "552 5.3.4 Message size exceeds fixed maximum message "
		    "size (%zu)", l->cfg->max_message);
		return;
	}
	l->mail = true;
	reply(l, "250 2.1.0 Sender OK");
}

/* A recipient held by another backend: its answer to our RCPT on the
 * socket the master opened is the answer we give. */
static void
rcpt_relay(struct lmtp *l, const char *addr, int fd)
{
	char text[512];
	int rc = lmtp_relay_rcpt(fd, l->cfg->hostname, l->from, addr,
	    (int)l->cfg->lmtp_timeout * 1000, text, sizeof(text));

	if (rc != 0) {
		close(fd);
		if (rc == 1)
			reply(l, "%s", text);
		else
			reply(l, "451 4.4.1 <%s> The backend holding this "
			    "user does not answer, try again later", addr);
		return;
	}
	mk_strlcpy(l->rcpts[l->nrcpt].addr, addr,
	    sizeof(l->rcpts[l->nrcpt].addr));
	l->rcpts[l->nrcpt].relay = true;
	l->rcpts[l->nrcpt++].chan = fd;
	reply(l, "%s", text);
}

static void
cmd_rcpt(struct lmtp *l, const char *arg)
{
	char addr[LMTP_MAX_PATH], local[LMTP_MAX_LOCAL + 1], domain[LMTP_MAX_PATH];
	const char *p, *end;
	int chan;

	if (!l->mail) {
		reply(l, "503 5.5.1 Need MAIL command");
		return;
	}
	if ((p = after_keyword(arg, "TO:")) == NULL ||
	    lmtp_parse_path(p, &end, addr, sizeof(addr)) == -1 ||
	    lmtp_split_addr(addr, local, sizeof(local), domain,
	    sizeof(domain)) == -1) {
		reply(l, "501 5.1.3 Bad recipient address syntax");
		l->errors++;
		return;
	}
	if (end[strspn(end, " ")] != '\0') {
		/* No RCPT parameter is advertised (no DSN). */
		reply(l, "555 5.5.4 Unsupported RCPT TO parameter");
		l->errors++;
		return;
	}
	if (l->nrcpt >= l->cfg->lmtp_max_recipients) {
		reply(l, "452 4.5.3 Too many recipients");
		return;
	}
	switch (ask_rcpt(l, local, domain, &chan)) {
	case IPC_REQ_OK:
		mk_strlcpy(l->rcpts[l->nrcpt].addr, addr,
		    sizeof(l->rcpts[l->nrcpt].addr));
		l->rcpts[l->nrcpt].relay = false;
		l->rcpts[l->nrcpt++].chan = chan;
		reply(l, "250 2.1.5 Recipient OK");
		break;
	case IPC_REQ_RELAY:
		rcpt_relay(l, addr, chan);
		break;
	case IPC_REQ_NOTFOUND:
		reply(l, "550 5.1.1 <%s> User unknown", addr);
		break;
	case IPC_REQ_DENIED:
		reply(l, "550 5.1.2 <%s> Domain not handled here", addr);
		break;
	default:
		reply(l, "451 4.3.0 <%s> Temporary failure, try again later",
		    addr);
		break;
	}
}

/* ---- DATA ---- */

struct sink {
	int      fd;
	char     buf[INBUF];
	size_t   n;
	uint64_t size;		/* message bytes, without our header */
	bool     toobig, failed;
	size_t   max;
};

static void
sink_flush(struct sink *s)
{
	size_t done = 0;

	while (done < s->n && !s->failed) {
		ssize_t w = write(s->fd, s->buf + done, s->n - done);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_warn("writing the message");
			s->failed = true;
			break;
		}
		done += (size_t)w;
	}
	s->n = 0;
}

static void
sink_add(struct sink *s, const char *p, size_t n, bool count)
{
	if (count) {
		if (s->toobig || s->size + n > s->max) {
			s->toobig = true;
			return;
		}
		s->size += n;
	}
	while (n > 0) {
		size_t k = MK_MIN(n, sizeof(s->buf) - s->n);
		memcpy(s->buf + s->n, p, k);
		s->n += k;
		p += k;
		n -= k;
		if (s->n == sizeof(s->buf))
			sink_flush(s);
	}
}

/* Reads the message up to the lone "." into the sink: dot-stuffing
 * undone, line ends written as CRLF whether they came as CRLF or as a
 * bare LF.  False if the client went away. */
static bool
read_data(struct lmtp *l, struct sink *s)
{
	bool bol = true;	/* at the beginning of a line */

	for (;;) {
		char *p = l->in + l->off;
		char *nl = memchr(p, '\n', l->len);
		if (nl == NULL) {
			if (l->len < INBUF) {
				if (fill(l) == 0)
					return false;
				continue;
			}
			/* A line longer than the buffer: write it through,
			 * keeping a final CR that may belong to a CRLF. */
			size_t k = l->len - (p[l->len - 1] == '\r' ? 1 : 0);
			size_t skip = bol && p[0] == '.' ? 1 : 0;
			sink_add(s, p + skip, k - skip, true);
			l->off += k;
			l->len -= k;
			bol = false;
			continue;
		}
		size_t k = (size_t)(nl - p), used = k + 1;
		if (k > 0 && p[k - 1] == '\r')
			k--;
		if (bol && k == 1 && p[0] == '.') {
			l->off += used;
			l->len -= used;
			return true;
		}
		size_t skip = bol && k > 0 && p[0] == '.' ? 1 : 0;
		sink_add(s, p + skip, k - skip, true);
		sink_add(s, "\r\n", 2, true);
		l->off += used;
		l->len -= used;
		bol = true;
	}
}

static void
received_header(struct lmtp *l, struct sink *s)
{
	char date[64], hdr[RECEIVED_MAX];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	/* No zone files in the chroot: the date is written in UTC. */
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	n = snprintf(hdr, sizeof(hdr), "Received: from %s (%s)\r\n"
	    "\tby %s (Mailkeep) with LMTP;\r\n\t%s\r\n",
	    l->helo[0] ? l->helo : "unknown", l->p->peer, l->cfg->hostname,
	    date);
	if (n > 0 && (size_t)n < sizeof(hdr))
		sink_add(s, hdr, (size_t)n, false);
}

/* One reply per recipient for an outcome that concerns them all. */
static void
reply_all(struct lmtp *l, const char *text)
{
	for (size_t i = 0; i < l->nrcpt; i++)
		reply(l, "%s", text);
}

static void
reply_result(struct lmtp *l, const struct rcpt *rc, int res)
{
	switch (res) {
	case IPC_DLV_OK:
		reply(l, "250 2.0.0 <%s> Delivered", rc->addr);
		break;
	case IPC_DLV_OVERQUOTA:
		reply(l, "452 4.2.2 <%s> Mailbox is full", rc->addr);
		break;
	case IPC_DLV_TOOBIG:
		reply(l, "552 5.2.3 <%s> Message is larger than the "
		    "recipient's quota", rc->addr);
		break;
	case IPC_DLV_REJECTED:
		reply(l, "554 5.6.0 <%s> Message refused", rc->addr);
		break;
	default:
		reply(l, "451 4.3.0 <%s> Temporary failure, try again later",
		    rc->addr);
		break;
	}
}

/* A relayed recipient: the holding backend's answer after DATA. */
static void
relay_result(struct lmtp *l, const struct rcpt *rc, int mfd)
{
	char text[512];

	if (lmtp_relay_data(rc->chan, mfd, (int)l->cfg->lmtp_timeout * 1000,
	    text, sizeof(text)) > 0)
		reply(l, "%s", text);
	else
		reply(l, "451 4.4.1 <%s> The backend holding this user did not "
		    "answer, try again later", rc->addr);
}

/* Hands the sealed message to every recipient's mailbox process, then
 * collects their answers in recipient order. */
static void
deliver_all(struct lmtp *l, int mfd)
{
	bool *sent = xcalloc(l->nrcpt, sizeof(*sent));

	for (size_t i = 0; i < l->nrcpt; i++) {
		struct ipc_msg m;
		int dfd;
		sent[i] = false;
		if (l->rcpts[i].relay)
			continue;
		dfd = dup(mfd);
		if (dfd == -1) {
			log_warn("dup");
			continue;
		}
		ipc_msg_init(&m, IPC_LMTP_DELIVER);
		ipc_put_str(&m, l->from);
		ipc_put_str(&m, l->rcpts[i].addr);
		ipc_put_fd(&m, dfd);
		sent[i] = ipc_send_now(l->rcpts[i].chan, &m) == 0;
	}
	for (size_t i = 0; i < l->nrcpt; i++) {
		struct ipc_reader r;
		int res = IPC_DLV_TEMPFAIL;
		if (l->rcpts[i].relay) {
			relay_result(l, &l->rcpts[i], mfd);
			continue;
		}
		if (sent[i] && recv_wait(l, l->rcpts[i].chan,
		    (int)l->cfg->lmtp_timeout * 1000, &r)) {
			uint8_t v = ipc_get_u8(&r);
			(void)ipc_get_str(&r);
			if (r.type == IPC_LMTP_DELIVER_RESULT && ipc_end(&r) &&
			    r.fd == -1)
				res = v;
			else
				log_warnx("malformed answer from the mailbox "
				    "process of <%s>", l->rcpts[i].addr);
			if (r.fd != -1)
				close(r.fd);
		} else
			log_warnx("no answer from the mailbox process of <%s>",
			    l->rcpts[i].addr);
		reply_result(l, &l->rcpts[i], res);
	}
	free(sent);
}

static void
cmd_data(struct lmtp *l, const char *arg)
{
	struct sink *s;

	if (*arg != '\0') {
		reply(l, "501 5.5.4 DATA takes no argument");
		l->errors++;
		return;
	}
	if (!l->mail) {
		reply(l, "503 5.5.1 Need MAIL command");
		return;
	}
	if (l->nrcpt == 0) {
		/* RFC 2033 4.2: DATA without a valid recipient fails. */
		reply(l, "503 5.5.1 No valid recipients");
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->max = l->cfg->max_message;
	s->fd = memfd_create("lmtp-message", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->fd == -1) {
		log_warn("memfd_create");
		reply(l, "451 4.3.0 Temporary failure, try again later");
		free(s);
		return;
	}
	reply(l, "354 Start mail input; end with <CRLF>.<CRLF>");
	received_header(l, s);
	if (!read_data(l, s)) {
		close(s->fd);
		free(s);
		lmtp_exit(l);
	}
	sink_flush(s);
	if (s->toobig)
		reply_all(l, "552 5.3.4 Message size exceeds fixed maximum "
		    "message size");
	else if (s->failed || fcntl(s->fd, F_ADD_SEALS, F_SEAL_WRITE |
	    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == -1) {
		if (!s->failed)
			log_warn("sealing the message");
		reply_all(l, "451 4.3.0 Temporary failure, try again later");
	} else
		deliver_all(l, s->fd);
	log_debug("message from <%s>: %llu bytes, %zu recipients", l->from,
	    (unsigned long long)s->size, l->nrcpt);
	close(s->fd);
	free(s);
	reset(l);
}

/* ---- the loop ---- */

static void
command(struct lmtp *l, char *line, size_t n)
{
	char *arg;
	size_t vl;

	if (memchr(line, '\0', n) != NULL) {
		reply(l, "500 5.5.2 NUL in command line");
		l->errors++;
		return;
	}
	vl = strcspn(line, " ");
	arg = line + vl;
	if (*arg == ' ')
		*arg++ = '\0';
#define IS(v) (strcasecmp(line, v) == 0)
	if (IS("LHLO"))
		cmd_lhlo(l, arg);
	else if (IS("MAIL"))
		cmd_mail(l, arg);
	else if (IS("RCPT"))
		cmd_rcpt(l, arg);
	else if (IS("DATA"))
		cmd_data(l, arg);
	else if (IS("RSET")) {
		reset(l);
		reply(l, "250 2.0.0 OK");
	} else if (IS("NOOP"))
		reply(l, "250 2.0.0 OK");
	else if (IS("QUIT")) {
		reply(l, "221 2.0.0 Bye");
		flush(l);
		lmtp_exit(l);
	} else if (IS("VRFY"))
		/* RFC 5321 3.5.3: no address verification here. */
		reply(l, "252 2.5.2 Cannot VRFY user; try RCPT to attempt "
		    "delivery");
	else if (IS("HELO") || IS("EHLO")) {
		reply(l, "500 5.5.1 This is LMTP: say LHLO");
		l->errors++;
	} else if (IS("EXPN") || IS("HELP") || IS("TURN") || IS("BDAT")) {
		/* Known, and deliberately not offered (RFC 5321 4.2.4: 502
		 * for a recognized command the server does not provide):
		 * EXPN would list who a name reaches, a delivery agent has no
		 * lists and no help text, TURN is obsolete (RFC 2821), and
		 * BDAT needs CHUNKING, which LHLO does not advertise. */
		reply(l, "502 5.5.1 %s is not offered by this server",
		    IS("EXPN") ? "EXPN" : IS("HELP") ? "HELP" :
		    IS("TURN") ? "TURN" : "BDAT");
		l->errors++;
	} else {
		reply(l, "500 5.5.1 Unknown command");
		l->errors++;
	}
#undef IS
}

void
lmtp_main(const struct mk_config *cfg, int client_fd, int master_fd,
    const struct lmtp_params *p)
{
	static struct lmtp l;
	struct timeval tv = { .tv_sec = cfg->lmtp_timeout };

	log_set_role("lmtp");
	memset(&l, 0, sizeof(l));
	l.cfg = cfg;
	l.p = p;
	l.fd = client_fd;
	l.master = master_fd;
	buf_init(&l.out, OUT_MAX);
	l.rcpts = xcalloc(cfg->lmtp_max_recipients, sizeof(*l.rcpts));
	l.ipcbuf = xmalloc(IPC_MAX_MSG);
	/* A client that stops reading cannot hold us forever. */
	if (setsockopt(client_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		log_warn("SO_SNDTIMEO");
	/* Everything it will open is open: from here on, the calls of this
	 * file only.  The message memfd is the one file it writes: at most
	 * the Received: line and max_message bytes (sink_add() stops
	 * there), which RLIMIT_FSIZE allows and no more. */
	sandbox_apply_fsize(SANDBOX_LMTP, cfg->lmtp_max_recipients +
	    LMTP_FD_SLACK, (rlim_t)cfg->max_message + RECEIVED_MAX);
	reply(&l, "220 %s LMTP Mailkeep ready", cfg->hostname);
	for (;;) {
		char *line;
		size_t n;
		switch (read_cmd(&l, &line, &n)) {
		case LINE_EOF:
			lmtp_exit(&l);
		case LINE_LONG:
			reply(&l, "500 5.5.2 Line too long");
			l.errors++;
			break;
		case LINE_OK:
			command(&l, line, n);
			break;
		}
		if (l.errors > MAX_ERRORS)
			bye(&l, "4.7.0 Too many errors, closing connection");
	}
}
