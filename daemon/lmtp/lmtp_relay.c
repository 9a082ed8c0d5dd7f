/*
 * lmtp_relay.c - the LMTP process as a client of another backend's
 * LMTP (doc/move.md, "Delivery to the right backend"): a recipient
 * whose directory row names another backend is relayed there, and that
 * backend's answers - to RCPT and after DATA - are passed through for
 * that recipient.
 *
 * The master resolves the recipient and connects (IPC_LMTP_RCPT_RESULT
 * with IPC_REQ_RELAY carries the connected, or connecting, socket): this
 * sandboxed process makes no socket of its own.  One connection per
 * relayed recipient, one transaction on it.  It introduces itself as
 * LHLO RELAY_HELO_PREFIX..., which is the loop protection: an LMTP
 * process greeted so tells its master (IPC_LMTP_RELAYED), which then
 * answers a recipient held elsewhere 451 instead of relaying it again,
 * so a message crosses at most one hop, whatever two directories say.
 * SIGPIPE is ignored in every child: a peer gone is an error here.
 * Replies read from the peer are bounded (REPLY_MAX a line, MAX_LINES
 * lines) and passed on only as printable ASCII.
 */
#include "daemon/lmtp/lmtp.h"
#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REPLY_MAX 512
#define MAX_LINES 64

struct peer_in {
	int    fd;
	int    timeout_ms;
	char   buf[REPLY_MAX * 2];
	size_t len;
};

/* One reply line (CRLF stripped), printable ASCII only.  -1 on EOF,
 * timeout, error or an over-long line. */
static int
read_line(struct peer_in *in, char *out, size_t outlen)
{
	for (;;) {
		char *nl = memchr(in->buf, '\n', in->len);
		if (nl != NULL) {
			size_t k = (size_t)(nl - in->buf), j = 0;
			for (size_t i = 0; i < k && j + 1 < outlen; i++)
				if (in->buf[i] >= 0x20 && in->buf[i] < 0x7f)
					out[j++] = in->buf[i];
			out[j] = '\0';
			memmove(in->buf, nl + 1, in->len - k - 1);
			in->len -= k + 1;
			return 0;
		}
		if (in->len == sizeof(in->buf))
			return -1;
		struct pollfd pfd = { .fd = in->fd, .events = POLLIN };
		if (poll(&pfd, 1, in->timeout_ms) != 1)
			return -1;
		ssize_t n = read(in->fd, in->buf + in->len,
		    sizeof(in->buf) - in->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		in->len += (size_t)n;
	}
}

/* A whole (possibly multi-line) reply: its code, its last line in out. */
static int
read_reply(struct peer_in *in, char *out, size_t outlen)
{
	for (int i = 0; i < MAX_LINES; i++) {
		if (read_line(in, out, outlen) == -1 || strlen(out) < 3 ||
		    out[0] < '2' || out[0] > '5')
			return -1;
		if (out[3] != '-')
			return (out[0] - '0') * 100 + (out[1] - '0') * 10 +
			    (out[2] - '0');
	}
	return -1;
}

static int
command(struct peer_in *in, const char *line, char *out, size_t outlen)
{
	char cmd[LMTP_MAX_PATH + 32];
	int n = snprintf(cmd, sizeof(cmd), "%s\r\n", line);

	if (n < 0 || (size_t)n >= sizeof(cmd) || mk_write_all(in->fd, cmd,
	    (size_t)n) == -1)
		return -1;
	return read_reply(in, out, outlen);
}

int
lmtp_relay_rcpt(int fd, const char *host, const char *from,
    const char *rcpt, int timeout_ms, char *reply, size_t replylen)
{
	struct peer_in in = { .fd = fd, .timeout_ms = timeout_ms };
	char line[LMTP_MAX_PATH + 32];
	int code;

	snprintf(line, sizeof(line), "LHLO %s%s", RELAY_HELO_PREFIX, host);
	if (read_reply(&in, reply, replylen) != 220 ||
	    command(&in, line, reply, replylen) != 250)
		return -1;
	snprintf(line, sizeof(line), "MAIL FROM:<%s>", from);
	if ((code = command(&in, line, reply, replylen)) != 250)
		return code == -1 ? -1 : 1;
	snprintf(line, sizeof(line), "RCPT TO:<%s>", rcpt);
	code = command(&in, line, reply, replylen);
	return code == -1 ? -1 : code / 100 == 2 ? 0 : 1;
}

/* The message, dot-stuffed again for the wire (it is kept unstuffed,
 * CRLF lines, in the memfd). */
static int
send_message(int fd, int mfd)
{
	char buf[65536], out[2 * sizeof(buf) + 8];
	bool bol = true;
	off_t off = 0;
	ssize_t n;

	while ((n = pread(mfd, buf, sizeof(buf), off)) > 0) {
		size_t k = 0;
		for (ssize_t i = 0; i < n; i++) {
			if (bol && buf[i] == '.')
				out[k++] = '.';
			out[k++] = buf[i];
			bol = buf[i] == '\n';
		}
		if (mk_write_all(fd, out, k) == -1)
			return -1;
		off += n;
	}
	if (n == -1)
		return -1;
	return mk_write_all(fd, bol ? ".\r\n" : "\r\n.\r\n", bol ? 3 : 5);
}

int
lmtp_relay_data(int fd, int mfd, int timeout_ms, char *reply,
    size_t replylen)
{
	struct peer_in in = { .fd = fd, .timeout_ms = timeout_ms };
	int code;

	if (command(&in, "DATA", reply, replylen) != 354 ||
	    send_message(fd, mfd) == -1 ||
	    (code = read_reply(&in, reply, replylen)) == -1)
		return -1;
	(void)mk_write_all(fd, "QUIT\r\n", 6);
	return code;
}
