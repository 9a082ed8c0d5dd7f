/*
 * util.h - small helpers every process uses: allocation that cannot fail
 * silently, bounded string copies, file-descriptor hygiene.
 */
#ifndef MK_UTIL_H
#define MK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#define MK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define MK_UNUSED __attribute__((unused))

void  *xmalloc(size_t n);
void  *xcalloc(size_t n, size_t size);
void  *xreallocarray(void *p, size_t n, size_t size);
char  *xstrdup(const char *s);
char  *xstrndup(const char *s, size_t n);
/* n bytes of p (which need not hold a NUL), then a NUL. */
char  *xmemdup0(const void *p, size_t n);
char  *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Wipe then free: for passwords and anything derived from them. */
void   freezero(void *p, size_t len);

/* Copies at most size-1 bytes and always terminates; returns strlen(src). */
size_t mk_strlcpy(char *dst, const char *src, size_t size);

bool   str_ieq(const char *a, const char *b);
bool   str_iprefix(const char *s, const char *prefix);
/* Parses a decimal number in [0, max]; false on junk or overflow. */
bool   parse_u64(const char *s, uint64_t max, uint64_t *out);

int    set_nonblock(int fd);
int    set_cloexec(int fd);
/* A new temporary file in directory dirfd that has no name (O_TMPFILE,
 * or a random name unlinked at once where the file system lacks it), so
 * it vanishes with its last descriptor, crash or not.  Read-write,
 * close-on-exec; -1 and errno on failure. */
int    mk_tmpfile(int dirfd);
/* Close every descriptor >= lowfd except those listed in keep[]. */
void   close_all_fds_except(int lowfd, const int *keep, size_t nkeep);
/* Writes all n bytes (retrying short writes and EINTR); 0 or -1. */
int    mk_write_all(int fd, const void *p, size_t n);

/* Monotonic milliseconds, wall-clock seconds. */
uint64_t now_ms(void);

/* Read a whole small file (config, certificate) into a NUL-terminated
 * heap buffer; NULL and errno on failure or if it exceeds maxlen. */
char  *read_file(const char *path, size_t maxlen, size_t *lenp);

#endif
