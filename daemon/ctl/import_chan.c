/*
 * import_chan.c - the reader's end of the import channel (import.h):
 * records of the listing, message bodies and errors, written in full
 * or not at all (a worker that went away ends the reader).
 *
 * Used by both readers, import_src.c (local trees) and import_imap.c.
 */
#include "daemon/ctl/import.h"
#include "common/util.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rec {
	char   b[IMP_REC_MAX + 5];
	size_t n;
};

void
imp_write_all(int fd, const void *p, size_t n)
{
	if (mk_write_all(fd, p, n) == -1)
		_exit(1);	/* the worker went away */
}

bool
imp_read_all(int fd, void *p, size_t n)
{
	char *c = p;

	while (n > 0) {
		ssize_t r = read(fd, c, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		c += r;
		n -= (size_t)r;
	}
	return true;
}

static struct rec *
rec_new(char type)
{
	struct rec *r = xmalloc(sizeof(*r));

	r->b[0] = type;
	r->n = 5;
	return r;
}

static void
rec_put(struct rec *r, const void *p, size_t n)
{
	if (r->n + n > sizeof(r->b))
		n = 0;	/* every field is bounded below the record size */
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

static void
rec_u32(struct rec *r, uint32_t v)
{
	rec_put(r, &v, sizeof(v));
}

static void
rec_str(struct rec *r, const char *s)
{
	/* strlen, not strnlen(s, 4096): the callers' strings are C strings,
	 * some in buffers smaller than the bound (gcc -O3 objects). */
	size_t len = strlen(s);
	uint32_t n = (uint32_t)(len > 4096 ? 4096 : len);

	rec_u32(r, n);
	rec_put(r, s, n);
}

static void
rec_send(int chan, struct rec *r)
{
	uint32_t len = (uint32_t)(r->n - 5);

	memcpy(r->b + 1, &len, sizeof(len));
	imp_write_all(chan, r->b, r->n);
	free(r);
}

void
imp_send_warn(int chan, const char *fmt, ...)
{
	struct rec *r = rec_new('W');
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	rec_str(r, text);
	rec_send(chan, r);
}

void
imp_send_folder(int chan, const char *name, uint32_t uidvalidity,
    uint32_t uidnext)
{
	struct rec *r = rec_new('F');

	rec_str(r, name);
	rec_u32(r, uidvalidity);
	rec_u32(r, uidnext);
	rec_send(chan, r);
}

void
imp_send_msg(int chan, const struct imp_meta *m)
{
	struct rec *r = rec_new('M');

	rec_str(r, m->key);
	rec_u32(r, m->uid);
	rec_u32(r, m->flags);
	rec_str(r, m->keywords);
	rec_put(r, &m->date, sizeof(m->date));
	rec_put(r, &m->tz, sizeof(m->tz));
	rec_put(r, &m->size, sizeof(m->size));
	rec_send(chan, r);
}

void
imp_send_sub(int chan, const char *name)
{
	struct rec *r = rec_new('S');

	rec_str(r, name);
	rec_send(chan, r);
}

void
imp_send_end(int chan)
{
	imp_write_all(chan, "E\0\0\0\0", 5);
}

void
imp_send_err(int chan, const char *why)
{
	struct rec *r = rec_new('X');

	rec_str(r, why);
	rec_send(chan, r);
}

void
imp_send_body(int chan, const char *p, size_t n)
{
	char h[5] = { 'D' };
	uint32_t len = (uint32_t)n;

	memcpy(h + 1, &len, sizeof(len));
	imp_write_all(chan, h, sizeof(h));
	imp_write_all(chan, p, n);
}

char
imp_next_request(int chan, uint32_t *a, uint32_t *b)
{
	char req[9];

	if (!imp_read_all(chan, req, sizeof(req)) ||
	    (req[0] != 'B' && req[0] != 'W'))
		return 0;
	memcpy(a, req + 1, 4);
	memcpy(b, req + 5, 4);
	return req[0];
}

bool
imp_skip_want(int chan, uint32_t count)
{
	uint32_t idx[256];

	while (count > 0) {
		uint32_t n = count < 256 ? count : 256;
		if (!imp_read_all(chan, idx, n * sizeof(*idx)))
			return false;
		count -= n;
	}
	return true;
}

pid_t
imp_fork(int *chan)
{
	int sp[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		fprintf(stderr, "mailkeepctl: socketpair: %s\n", strerror(errno));
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		fprintf(stderr, "mailkeepctl: fork: %s\n", strerror(errno));
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	if (pid == 0) {
		/* Nothing of the worker's but stdio: not users/. */
		close_all_fds_except(3, &sp[1], 1);
		*chan = sp[1];
		return 0;
	}
	close(sp[1]);
	*chan = sp[0];
	return pid;
}
