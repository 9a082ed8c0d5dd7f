/*
 * store_support.c - see store_support.h.
 */
#include "store_support.h"

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

char *
ts_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = xasprintf("%s/mk-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return dir;
}

void
ts_rmdir(char *dir)
{
	struct dirent *e;
	DIR *d;

	if (dir == NULL)
		return;
	if ((d = opendir(dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			unlink(ts_path(dir, e->d_name));
		}
		closedir(d);
	}
	rmdir(dir);
	free(dir);
}

const char *
ts_path(const char *dir, const char *file)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return path;
}

struct store *
ts_open(const char *dir)
{
	struct store *s = NULL;
	char err[512];

	if (store_open(ts_path(dir, "store.db"), true, false, NULL, 0, &s,
	    err, sizeof(err)) != 0) {
		fprintf(stderr, "store_open: %s\n", err);
		CU_FAIL("store_open");
		return NULL;
	}
	return s;
}

uint32_t
ts_append(struct store *s, struct mbox *m, const char *msg, unsigned flags,
    const char *keywords, int64_t t, int tz)
{
	struct msg_new n = {
		.data = msg, .len = strlen(msg),
		.internaldate = { t, tz }, .flags = flags,
		.keywords = keywords ? keywords : "",
	};
	uint32_t uid = 0;

	if (store_msg_append(s, m, &n, &uid) != 0) {
		fprintf(stderr, "append: %s\n", store_errmsg(s));
		return 0;
	}
	return uid;
}

const char *
ts_msg(const char *date, const char *subject)
{
	static char buf[1024];

	if (date != NULL)
		snprintf(buf, sizeof(buf), "From: a@example.org\r\n"
		    "Date: %s\r\nSubject: %s\r\n\r\nHello.\r\n", date, subject);
	else
		snprintf(buf, sizeof(buf), "From: a@example.org\r\n"
		    "Subject: %s\r\n\r\nHello.\r\n", subject);
	return buf;
}

/* Bytes no compressor can shorten: no NUL, CR or LF (stored as they
 * are), one long line. */
char *
ts_noise_msg(size_t len)
{
	static const char hdr[] = "Subject: noise\r\n\r\n";
	char *m = xmalloc(len + 1);
	uint64_t r = 88172645463325252ULL;

	memcpy(m, hdr, sizeof(hdr) - 1);
	for (size_t i = sizeof(hdr) - 1; i < len; i++) {
		unsigned char c;
		do {
			r ^= r << 13;
			r ^= r >> 7;
			r ^= r << 17;
			c = (unsigned char)r;
		} while (c == 0 || c == '\r' || c == '\n');
		m[i] = (char)c;
	}
	m[len - 2] = '\r';
	m[len - 1] = '\n';
	m[len] = '\0';
	return m;
}
