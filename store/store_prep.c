/*
 * store_prep.c - a message made ready for the store before its
 * transaction: rewritten into the stored form (RFC 3516 base64 for parts
 * holding NUL octets, bare LF made CRLF) and measured, so that APPEND's
 * quota check uses the size that will actually be stored.
 *
 * Offers store_msg_prepare() / store_msg_prep_size() /
 * store_msg_prep_free() of store.h, and msg_prep_view() /
 * msg_prep_release() to store_msg.c, which analyzes and inserts it.
 * Called by the mailbox process (APPEND) and, through
 * store_msg_append(), by everything else that adds a message.
 *
 * Memory: a message in memory stays in memory (a rewrite is a heap
 * copy).  A message in a file (the framer's spool, mapped read-only) is
 * scanned and copied in STEP pieces whose mapped pages are released
 * behind the reader (MADV_DONTNEED: file pages stay in the page cache,
 * not in this process's RSS), and a rewrite goes to an unnamed
 * temporary file, never to the heap.
 */
#include "store/store_int.h"
#include "store/mime.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define STEP  (4 * 1024 * 1024)		/* scanned or copied at a time */
#define STAGE (256 * 1024)		/* written to a file at a time */

/* Gives back the mapped pages of data[from, to) (whole pages inside
 * it); nothing for memory that is not a file mapping. */
void
msg_pages_release(const char *data, size_t from, size_t to, bool file)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)(data + from) + pg - 1) & ~(pg - 1);
	uintptr_t b = (uintptr_t)(data + to) & ~(pg - 1);

	if (!file || b <= a)
		return;
	(void)madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Where rewritten bytes go: a heap buffer, or a file through a small
 * staging buffer; bare LF becomes CRLF on the way if crlf is set. */
struct sink {
	struct buf *mem;
	int         fd;
	struct buf  stage;
	bool        crlf;
	char        prev;
	uint64_t    total;
};

static int
sink_flush(struct sink *k)
{
	const char *p = buf_ptr(&k->stage);
	size_t n = buf_len(&k->stage);

	while (n > 0) {
		ssize_t w = write(k->fd, p, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	buf_reset(&k->stage);
	return 0;
}

static int
sink_raw(struct sink *k, const char *p, size_t n)
{
	k->total += n;
	if (k->mem != NULL) {
		if (buf_add(k->mem, p, n) == -1) {
			errno = ENOMEM;
			return -1;
		}
		return 0;
	}
	while (n > 0) {
		size_t room = STAGE - buf_len(&k->stage);
		size_t t = n < room ? n : room;

		buf_add(&k->stage, p, t);
		p += t;
		n -= t;
		if (buf_len(&k->stage) == STAGE && sink_flush(k) == -1)
			return -1;
	}
	return 0;
}

/* mime_put_fn: the CRLF filter in front of sink_raw. */
static int
sink_put(void *arg, const char *p, size_t n)
{
	struct sink *k = arg;
	size_t start = 0;

	if (!k->crlf)
		return sink_raw(k, p, n);
	for (size_t i = 0; i < n; i++) {
		char prev = i > 0 ? p[i - 1] : k->prev;

		if (p[i] == '\n' && prev != '\r') {
			if (sink_raw(k, p + start, i - start) == -1 ||
			    sink_raw(k, "\r", 1) == -1)
				return -1;
			start = i;
		}
	}
	if (n > 0)
		k->prev = p[n - 1];
	return sink_raw(k, p + start, n - start);
}

/* Does msg hold a NUL octet, or a LF without CR before it? */
static void
scan(const struct msg_src *src, bool *nul, bool *bare)
{
	const char *m = src->data;

	*nul = *bare = false;
	for (size_t off = 0; off < src->len; off += STEP) {
		size_t end = src->len - off < STEP ? src->len : off + STEP;

		if (!*nul && memchr(m + off, '\0', end - off) != NULL)
			*nul = true;
		for (size_t i = off; !*bare && i < end; i++) {
			const char *lf = memchr(m + i, '\n', end - i);
			if (lf == NULL)
				break;
			i = (size_t)(lf - m);
			if (i == 0 || m[i - 1] != '\r')
				*bare = true;
		}
		msg_pages_release(m, off, end, src->file);
		if (*nul && *bare)
			break;
	}
}

/* The whole of src through the sink, without a NUL rewrite. */
static int
copy_all(const struct msg_src *src, struct sink *k)
{
	for (size_t off = 0; off < src->len; off += STEP) {
		size_t end = src->len - off < STEP ? src->len : off + STEP;

		if (sink_put(k, src->data + off, end - off) == -1)
			return -1;
		msg_pages_release(src->data, off, end, src->file);
	}
	return 0;
}

static int
rewrite(const struct msg_src *src, bool nul, struct sink *k)
{
	struct arena a;
	int rc;

	if (!nul)
		return copy_all(src, k);
	arena_init(&a, 0);
	rc = mime_encode_nul_parts_to(&a, src->data, src->len, sink_put, k);
	arena_free(&a);
	msg_pages_release(src->data, 0, src->len, src->file);
	if (rc != 0 && errno == 0)
		errno = ENOMEM;
	return rc;
}

/* The rewritten copy at [start, start + len) of fd, mapped read-only. */
static int
map_copy(struct msg_prep *p, int fd, uint64_t start, uint64_t len)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t base = start & ~(pg - 1);
	void *map;

	if (len > SIZE_MAX - (start - base)) {
		errno = EFBIG;
		return -1;
	}
	p->maplen = (size_t)(len + (start - base));
	map = mmap(NULL, p->maplen, PROT_READ, MAP_SHARED, fd, (off_t)base);
	if (map == MAP_FAILED)
		return -1;
	p->map = map;
	p->data = (const char *)map + (start - base);
	p->len = len;
	p->file = true;
	return 0;
}

int
store_msg_prepare(const struct msg_src *src, struct msg_tmp *tmp,
    struct msg_prep **out)
{
	struct msg_prep *p = xcalloc(1, sizeof(*p));
	struct sink k;
	struct buf mem;
	uint64_t start = 0;
	bool nul, bare;
	int rc;

	*out = NULL;
	scan(src, &nul, &bare);
	if (!nul && !bare) {
		/* Stored exactly as sent: no copy at all. */
		p->data = src->data;
		p->len = src->len;
		p->file = src->file;
		*out = p;
		return 0;
	}
	memset(&k, 0, sizeof(k));
	k.crlf = bare;
	k.fd = -1;
	buf_init(&mem, 0);
	buf_init(&k.stage, 0);
	if (src->file && tmp != NULL) {
		if (tmp->fd == -1 && (tmp->fd = mk_tmpfile(tmp->dirfd)) == -1) {
			free(p);
			return -1;
		}
		if (lseek(tmp->fd, (off_t)tmp->len, SEEK_SET) == -1) {
			free(p);
			return -1;
		}
		k.fd = tmp->fd;
		start = tmp->len;
	} else
		k.mem = &mem;
	errno = 0;
	rc = rewrite(src, nul, &k);
	if (rc == 0 && k.mem == NULL)
		rc = sink_flush(&k);
	buf_free(&k.stage);
	if (rc != 0) {
		int e = errno;
		buf_free(&mem);
		free(p);
		errno = e;
		return -1;
	}
	if (k.mem != NULL) {
		/* The buffer's bytes become ours (buf_add never offsets). */
		p->mem = mem.data;
		p->data = p->mem != NULL ? p->mem : "";
		p->len = k.total;
	} else {
		tmp->len += k.total;
		if (map_copy(p, tmp->fd, start, k.total) == -1) {
			int e = errno;
			free(p);
			errno = e;
			return -1;
		}
	}
	*out = p;
	return 0;
}

uint64_t
store_msg_prep_size(const struct msg_prep *p)
{
	return p->len;
}

void
store_msg_prep_free(struct msg_prep *p)
{
	if (p == NULL)
		return;
	if (p->map != NULL)
		munmap(p->map, p->maplen);
	free(p->mem);
	free(p);
}
