/*
 * util.c - see util.h.
 */
#include "common/util.h"
#include "common/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		fatal("malloc %zu", n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		fatal("calloc %zu*%zu", n, size);
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	void *q = reallocarray(p, n ? n : 1, size ? size : 1);
	if (q == NULL)
		fatal("reallocarray %zu*%zu", n, size);
	return q;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		fatal("strdup");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (p == NULL)
		fatal("strndup");
	return p;
}

char *
xmemdup0(const void *p, size_t n)
{
	char *s = xmalloc(n + 1);

	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		fatal("vasprintf");
	va_end(ap);
	return s;
}

void
freezero(void *p, size_t len)
{
	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

size_t
mk_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

bool
str_ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

bool
str_iprefix(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

bool
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl == -1)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl == -1)
		return -1;
	return fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

int
mk_tmpfile(int dirfd)
{
	int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd != -1 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return fd;
	for (int tries = 0; tries < 16; tries++) {
		uint64_t r;
		char name[32];

		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return -1;
		snprintf(name, sizeof(name), ".tmp.%016llx",
		    (unsigned long long)r);
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (fd == -1 && errno == EEXIST)
			continue;
		if (fd != -1 && unlinkat(dirfd, name, 0) == -1) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		return fd;
	}
	errno = EEXIST;
	return -1;
}

static bool
in_list(int fd, const int *keep, size_t nkeep)
{
	for (size_t i = 0; i < nkeep; i++)
		if (keep[i] == fd)
			return true;
	return false;
}

void
close_all_fds_except(int lowfd, const int *keep, size_t nkeep)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int fds[4096];
	size_t n = 0;

	if (d == NULL) {
		/* No /proc: fall back to a bounded sweep. */
		long max = sysconf(_SC_OPEN_MAX);
		for (int fd = lowfd; fd < (max > 0 ? max : 1024); fd++)
			if (!in_list(fd, keep, nkeep))
				close(fd);
		return;
	}
	/* Collect first: closing while iterating would close the DIR fd. */
	while ((de = readdir(d)) != NULL && n < nitems(fds)) {
		uint64_t v;
		if (parse_u64(de->d_name, INT32_MAX, &v))
			fds[n++] = (int)v;
	}
	int dfd = dirfd(d);
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= lowfd && fds[i] != dfd &&
		    !in_list(fds[i], keep, nkeep))
			close(fds[i]);
	closedir(d);
}

uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

char *
read_file(const char *path, size_t maxlen, size_t *lenp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t off = 0;

	if (fd == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || (size_t)st.st_size > maxlen) {
		if (errno == 0 || (size_t)st.st_size > maxlen)
			errno = EFBIG;
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			break;
		}
		off += (size_t)r;
	}
	close(fd);
	buf[off] = '\0';
	if (lenp)
		*lenp = off;
	return buf;
}

int
mk_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}
