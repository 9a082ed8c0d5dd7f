/*
 * import_src.c - the reader of mailkeepctl import for a local source:
 * a Maildir++ tree (Dovecot, Courier), one mbox file, or a directory of
 * mbox files.
 *
 * Forked by the worker while it is still root (import_reader_start).
 * The source tree belongs to someone else: the old server's user, who
 * may have put a link to /etc/shadow in it.  So the reader opens the
 * path from "/" one component at a time with O_NOFOLLOW (a symbolic
 * link anywhere in it is refused), then drops to the uid and gid that
 * own what it opened, and reads the rest as that owner: it can import
 * nothing the owner could not read.  If the owner is root (an
 * administrator's copy) it stays root, and then every file and
 * directory it reads must also be root's: anything another uid put
 * there is skipped with a warning.  Below the source it follows no link
 * either (openat with O_NOFOLLOW, fstatat with AT_SYMLINK_NOFOLLOW).
 *
 * It lists the source on the channel (import.h) and then serves the
 * bodies the worker asks for.  Formats: import_parse.c.
 */
#include "daemon/ctl/import.h"
#include "daemon/ctl/import_parse.h"
#include "common/privsep.h"
#include "common/util.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMALL_FILE_MAX (64u << 20)	/* uidlist, keywords, subscriptions */
#define MBOX_DEPTH_MAX 16

enum src_kind { SRC_MAILDIR, SRC_MBOX_FILE, SRC_MBOX_DIR };

struct src_msg {
	char    *file;		/* Maildir: "cur/<name>" in the folder */
	size_t   off, len;	/* mbox: the message in the file */
	uint64_t size;		/* as listed */
};

struct src_folder {
	char           *rel;	/* the folder's directory (Maildir) or file
				 * (mbox), relative to the source; "" is
				 * the source itself */
	struct src_msg *msgs;
	size_t          n;
};

struct reader {
	int                chan;
	int                root;	/* the source (directory or file) */
	enum src_kind      kind;
	bool               check_owner;	/* reading as root */
	struct src_folder *folders;
	size_t             nfolders;
	/* the mbox file mapped for bodies */
	size_t             mapped;	/* folder index, or SIZE_MAX */
	char              *map;
	size_t             maplen;
};

/* ---- opening without following links ---- */

/* Opens name in dir, refusing a link; a directory if want_dir.  Checks
 * the owner when reading as root.  -1 (errno, or EPERM for a foreign
 * owner). */
static int
open_in(struct reader *rd, int dir, const char *name, bool want_dir)
{
	struct stat st;
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK | O_NOCTTY | (want_dir ? O_DIRECTORY : 0));

	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || (!want_dir && !S_ISREG(st.st_mode)) ||
	    (rd->check_owner && st.st_uid != 0)) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* Opens rel ("a/b/c", or "" for the source itself) below the source,
 * one component at a time. */
static int
open_rel(struct reader *rd, const char *rel, bool want_dir)
{
	char part[PATH_MAX];
	int dir = rd->root, fd;
	const char *p = rel;

	if (*rel == '\0')
		return dup(rd->root);
	for (;;) {
		size_t n = strcspn(p, "/");
		bool last = p[n] == '\0';
		if (n == 0 || n >= sizeof(part))
			fd = -1;
		else {
			memcpy(part, p, n);
			part[n] = '\0';
			fd = open_in(rd, dir, part, last ? want_dir : true);
		}
		if (dir != rd->root)
			close(dir);
		if (fd == -1 || last)
			return fd;
		dir = fd;
		p += n + 1;
	}
}

/* A whole small file in dir; NULL if missing or unreadable. */
static char *
slurp(struct reader *rd, int dir, const char *name, size_t *len)
{
	int fd = open_in(rd, dir, name, false);
	struct stat st;
	char *buf;
	size_t n = 0;

	if (fd == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || (uint64_t)st.st_size > SMALL_FILE_MAX) {
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* ---- the listing ---- */

static struct src_folder *
folder_add(struct reader *rd, const char *rel)
{
	struct src_folder *f;

	rd->folders = xreallocarray(rd->folders, rd->nfolders + 1,
	    sizeof(*rd->folders));
	f = &rd->folders[rd->nfolders++];
	memset(f, 0, sizeof(*f));
	f->rel = xstrdup(rel);
	return f;
}

static struct src_msg *
msg_add(struct src_folder *f)
{
	if ((f->n & (f->n - 1)) == 0)
		f->msgs = xreallocarray(f->msgs, f->n ? f->n * 2 : 1,
		    sizeof(*f->msgs));
	memset(&f->msgs[f->n], 0, sizeof(f->msgs[0]));
	return &f->msgs[f->n++];
}

/* ---- Maildir ---- */

struct uid_ent {
	char    *base;
	uint32_t uid;
};

struct md_file {
	char    *file;		/* "cur/<name>" */
	uint32_t uid;
	uint64_t size;
	int64_t  mtime;
};

struct md_folder {
	struct uidlist_hdr      hdr;
	struct uid_ent         *uids;
	size_t                  nuids;
	struct maildir_keywords kw;
	struct md_file         *files;
	size_t                  nfiles;
};

static int
uid_ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct uid_ent *)a)->base,
	    ((const struct uid_ent *)b)->base);
}

/* dovecot-uidlist, else courierimapuiddb: base name -> UID. */
static void
md_read_uidlist(struct reader *rd, int dir, struct md_folder *mf)
{
	size_t len = 0, n;
	char *text = slurp(rd, dir, "dovecot-uidlist", &len);
	const char *p, *end;

	if (text == NULL)
		text = slurp(rd, dir, "courierimapuiddb", &len);
	if (text == NULL)
		return;
	p = text;
	end = text + len;
	for (bool first = true; p < end; first = false) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *base;
		size_t bl;
		uint32_t uid;
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (first && !uidlist_header(p, n, &mf->hdr))
			break;
		if (!first && uidlist_record(p, n, mf->hdr.version, &uid, &base,
		    &bl)) {
			mf->uids = xreallocarray(mf->uids, mf->nuids + 1,
			    sizeof(*mf->uids));
			mf->uids[mf->nuids].base = xstrndup(base, bl);
			mf->uids[mf->nuids++].uid = uid;
		}
		p = nl ? nl + 1 : end;
	}
	free(text);
	if (mf->nuids > 0)
		qsort(mf->uids, mf->nuids, sizeof(*mf->uids), uid_ent_cmp);
}

static uint32_t
md_uid_of(const struct md_folder *mf, const char *name)
{
	size_t bl = maildir_base_len(name);
	char *base = xstrndup(name, bl);
	struct uid_ent key = { .base = base }, *hit;

	hit = mf->nuids ? bsearch(&key, mf->uids, mf->nuids, sizeof(key),
	    uid_ent_cmp) : NULL;
	free(base);
	return hit ? hit->uid : 0;
}

static void
md_scan_sub(struct reader *rd, int dir, const char *sub, struct md_folder *mf,
    const char *fname)
{
	int fd = open_in(rd, dir, sub, true);
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (fd == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (!S_ISREG(st.st_mode) || (rd->check_owner && st.st_uid != 0)) {
			imp_send_warn(rd->chan, "%s: %s/%s skipped (%s)", fname, sub,
			    de->d_name, S_ISLNK(st.st_mode) ? "a symbolic link" :
			    !S_ISREG(st.st_mode) ? "not a regular file" :
			    "not root's, while reading a tree of root's");
			continue;
		}
		/* What the owner cannot read is reported now, not as a
		 * failure in the middle of the import. */
		if (faccessat(fd, de->d_name, R_OK, AT_EACCESS) == -1) {
			imp_send_warn(rd->chan, "%s: %s/%s skipped (%s)", fname,
			    sub, de->d_name, strerror(errno));
			continue;
		}
		mf->files = xreallocarray(mf->files, mf->nfiles + 1,
		    sizeof(*mf->files));
		struct md_file *f = &mf->files[mf->nfiles++];
		f->file = xasprintf("%s/%s", sub, de->d_name);
		f->uid = md_uid_of(mf, de->d_name);
		f->size = (uint64_t)st.st_size;
		f->mtime = (int64_t)st.st_mtime;
	}
	closedir(d);
}

/* Compares two file names by their base names (before ':'). */
static int
base_cmp(const char *x, const char *y)
{
	size_t xl = maildir_base_len(x), yl = maildir_base_len(y);
	int c = memcmp(x, y, MK_MIN(xl, yl));

	return c != 0 ? c : xl < yl ? -1 : xl > yl;
}

/* Files with a UID first, in UID order (so UIDs can be kept), then the
 * ones the uidlist does not know yet, oldest name first; two names of
 * one message (its base) side by side. */
static int
md_file_cmp(const void *a, const void *b)
{
	const struct md_file *x = a, *y = b;
	int c;

	if ((x->uid == 0) != (y->uid == 0))
		return x->uid == 0 ? 1 : -1;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	c = base_cmp(strchr(x->file, '/') + 1, strchr(y->file, '/') + 1);
	return c != 0 ? c : strcmp(x->file, y->file);
}

/* Keyword letters to names, space-separated. */
static void
md_keywords(const struct md_folder *mf, uint32_t mask, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < IMP_KW_MAX; i++) {
		const char *k = mf->kw.name[i];
		size_t n = strlen(k);
		if (!(mask & (1u << i)) || n == 0 || o + n + 2 > len)
			continue;
		if (o > 0)
			out[o++] = ' ';
		memcpy(out + o, k, n + 1);
		o += n;
	}
}

static int64_t
md_uidnext(const struct md_folder *mf)
{
	uint32_t next = mf->hdr.nextuid;

	for (size_t i = 0; i < mf->nfiles; i++)
		if (mf->files[i].uid >= next)
			next = mf->files[i].uid + 1;
	return next;
}

static void
md_send(struct reader *rd, struct src_folder *sf, struct md_folder *mf,
    const char *name)
{
	char key[IMP_KEY_MAX], kw[2048];
	const char *prev = NULL;
	struct tm tm;

	if (mf->nfiles > 0)
		qsort(mf->files, mf->nfiles, sizeof(*mf->files), md_file_cmp);
	imp_send_folder(rd->chan, name, mf->hdr.uidvalidity, (uint32_t)md_uidnext(mf));
	for (size_t i = 0; i < mf->nfiles; i++) {
		struct md_file *f = &mf->files[i];
		const char *fn = strchr(f->file, '/') + 1;
		time_t t = (time_t)f->mtime;
		uint32_t mask;
		/* Caught moving from new/ to cur/ (the old server still
		 * runs): one message, imported once. */
		if (prev != NULL && base_cmp(fn, prev) == 0) {
			imp_send_warn(rd->chan, "%s: %s: a second name of one "
			    "message, skipped", name, f->file);
			free(f->file);
			continue;
		}
		prev = fn;
		struct imp_meta m = { .key = key, .keywords = kw,
		    .uid = f->uid, .date = f->mtime, .size = f->size };
		m.flags = maildir_info_flags(fn, &mask);
		md_keywords(mf, mask, kw, sizeof(kw));
		snprintf(key, sizeof(key), "%s\t%.*s", name,
		    (int)maildir_base_len(fn), fn);
		localtime_r(&t, &tm);
		m.tz = (int32_t)(tm.tm_gmtoff / 60);
		imp_send_msg(rd->chan, &m);
		struct src_msg *sm = msg_add(sf);
		sm->file = f->file;
		sm->size = f->size;
	}
}

static void
md_free(struct md_folder *mf)
{
	for (size_t i = 0; i < mf->nuids; i++)
		free(mf->uids[i].base);
	free(mf->uids);
	free(mf->files);	/* the names went to the src_msgs */
}

static void
md_folder(struct reader *rd, const char *rel, const char *name)
{
	struct md_folder mf = { 0 };
	struct src_folder *sf;
	size_t len;
	char *kw;
	int dir = open_rel(rd, rel, true);

	if (dir == -1) {
		imp_send_warn(rd->chan, "%s: cannot open %s: %s", name, *rel ? rel : ".",
		    strerror(errno));
		return;
	}
	md_read_uidlist(rd, dir, &mf);
	if ((kw = slurp(rd, dir, "dovecot-keywords", &len)) != NULL) {
		maildir_keywords_parse(kw, len, &mf.kw);
		free(kw);
	}
	md_scan_sub(rd, dir, "new", &mf, name);
	md_scan_sub(rd, dir, "cur", &mf, name);
	close(dir);
	sf = folder_add(rd, rel);
	md_send(rd, sf, &mf, name);
	md_free(&mf);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of the directory fd (which stays open), sorted: those
 * whose name starts with '.' ("." and ".." aside) if dots, else the
 * others.  -1 if it cannot be read. */
static ssize_t
dir_names(int fd, bool dots, char ***out)
{
	int dfd = dup(fd);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;
	DIR *d;

	*out = NULL;
	if (dfd == -1 || (d = fdopendir(dfd)) == NULL) {
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if ((de->d_name[0] == '.') != dots ||
		    strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), str_cmp);
	*out = v;
	return (ssize_t)n;
}

/* The folder directories of the tree, sorted (parents before children). */
static size_t
md_folder_dirs(struct reader *rd, char ***out)
{
	char name[MK_MBOX_NAME_MAX];
	struct stat st;
	ssize_t n = dir_names(rd->root, true, out);
	size_t k = 0;

	for (ssize_t i = 0; i < n; i++) {
		if (maildir_folder_name((*out)[i], name, sizeof(name)) &&
		    fstatat(rd->root, (*out)[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode))
			(*out)[k++] = (*out)[i];
		else
			free((*out)[i]);
	}
	return k;
}

struct sub_ctx {
	struct reader *rd;
	char         **dirs;	/* Maildir++ folder directories, or NULL */
	size_t         ndirs;
};

/* A name of an older subscriptions file uses the namespace's
 * separator, '.' or '/': where the '.' form names a folder we found,
 * it is that folder. */
static void
on_sub(const char *name, void *arg)
{
	struct sub_ctx *sc = arg;
	char dotted[MK_MBOX_NAME_MAX + 2], mapped[MK_MBOX_NAME_MAX];

	if (strchr(name, '/') == NULL && strchr(name, '.') != NULL) {
		snprintf(dotted, sizeof(dotted), ".%s", name);
		for (size_t i = 0; i < sc->ndirs; i++)
			if (strcmp(sc->dirs[i], dotted) == 0 &&
			    maildir_folder_name(dotted, mapped, sizeof(mapped))) {
				imp_send_sub(sc->rd->chan, mapped);
				return;
			}
	}
	imp_send_sub(sc->rd->chan, name);
}

static void
read_subscriptions(struct reader *rd, const char *file, char **dirs,
    size_t ndirs)
{
	struct sub_ctx sc = { rd, dirs, ndirs };
	size_t len;
	char *text = slurp(rd, rd->root, file, &len);

	if (text == NULL)
		return;
	subscriptions_parse(text, len, on_sub, &sc);
	free(text);
}

static void
list_maildir(struct reader *rd)
{
	char **dirs, name[MK_MBOX_NAME_MAX];
	size_t n = md_folder_dirs(rd, &dirs);

	read_subscriptions(rd, "subscriptions", dirs, n);
	read_subscriptions(rd, "courierimapsubscribed", dirs, n);
	md_folder(rd, "", "INBOX");
	for (size_t i = 0; i < n; i++) {
		if (maildir_folder_name(dirs[i], name, sizeof(name)))
			md_folder(rd, dirs[i], name);
		free(dirs[i]);
	}
	free(dirs);
}

/* ---- mbox ---- */

struct mb_scan {
	struct src_folder *sf;
	char              *name;
	uint32_t           uidvalidity, uidnext, lastuid;
	bool               uids_ok;
};

static char *
map_file(int fd, size_t *len)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) == -1 || st.st_size <= 0)
		return NULL;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	*len = (size_t)st.st_size;
	return p;
}

/* The messages of one mapped mbox file, with what their own headers
 * say; the UIDs of X-IMAPbase / X-UID (Dovecot, UW-IMAP) only if every
 * message has one and they ascend (else *uidvalidity is 0). */
static size_t
mb_scan(const char *map, size_t len, const char *name, struct src_folder *sf,
    struct imp_meta **out, uint32_t *uidvalidity, uint32_t *uidnext)
{
	struct imp_meta *ms = NULL;
	struct mbox_meta meta;
	struct mbox_msg mm;
	char key[IMP_KEY_MAX];
	uint32_t last = 0;
	bool uids_ok = true;
	size_t n = 0, pos = 0;

	*uidvalidity = *uidnext = 0;
	while (map != NULL && mbox_next(map, len, &pos, &mm)) {
		mbox_meta_parse(map + mm.off, mm.len, &meta);
		if (n == 0) {
			*uidvalidity = meta.uidvalidity;
			*uidnext = meta.uidnext;
		}
		uids_ok = uids_ok && meta.uid > last;
		last = meta.uid;
		if ((n & (n - 1)) == 0)
			ms = xreallocarray(ms, n ? n * 2 : 1, sizeof(*ms));
		snprintf(key, sizeof(key), "%s\t%zu", name, mm.from);
		ms[n++] = (struct imp_meta){ .key = xstrdup(key),
		    .uid = meta.uid, .flags = meta.flags,
		    .keywords = xstrdup(meta.keywords), .date = mm.date,
		    .tz = mm.tz, .size = mm.len };
		struct src_msg *sm = msg_add(sf);
		sm->off = mm.off;
		sm->len = sm->size = mm.len;
	}
	if (!uids_ok || *uidvalidity == 0)
		*uidvalidity = 0;
	*uidnext = *uidvalidity == 0 ? 0 : MK_MAX(*uidnext, last + 1);
	for (size_t i = 0; *uidvalidity == 0 && i < n; i++)
		ms[i].uid = 0;
	*out = ms;
	return n;
}

/* Lists one mbox file. */
static void
mb_file(struct reader *rd, const char *rel, const char *name)
{
	int fd = open_rel(rd, rel, false);
	const char *shown = *rel ? rel : name;
	struct src_folder *sf;
	struct imp_meta *ms;
	struct mbox_msg mm;
	uint32_t uidvalidity, uidnext;
	size_t len = 0, pos = 0, n;
	char *map;

	if (fd == -1) {
		imp_send_warn(rd->chan, "%s: cannot open: %s", shown,
		    strerror(errno));
		return;
	}
	map = map_file(fd, &len);
	close(fd);
	if (map != NULL && !mbox_next(map, len, &pos, &mm)) {
		imp_send_warn(rd->chan, "%s: not an mbox (no From_ line at its "
		    "start): skipped", shown);
		munmap(map, len);
		return;
	}
	sf = folder_add(rd, rel);
	n = mb_scan(map, len, name, sf, &ms, &uidvalidity, &uidnext);
	imp_send_folder(rd->chan, name, uidvalidity, uidnext);
	for (size_t i = 0; i < n; i++) {
		imp_send_msg(rd->chan, &ms[i]);
		free((char *)(uintptr_t)ms[i].key);
		free((char *)(uintptr_t)ms[i].keywords);
	}
	free(ms);
	if (map != NULL)
		munmap(map, len);
}

/* A directory of mbox files: each file a folder named by its path, the
 * top-level "inbox" (any case) INBOX. */
static void
mb_dir(struct reader *rd, const char *rel, int depth)
{
	int fd = open_rel(rd, rel, true);
	char **names = NULL, child[PATH_MAX];
	struct stat st;
	ssize_t n = fd == -1 ? -1 : dir_names(fd, false, &names);

	if (n == -1) {
		imp_send_warn(rd->chan, "%s: cannot open: %s", rel, strerror(errno));
		if (fd != -1)
			close(fd);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "",
		    names[i]);
		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == -1)
			;
		else if (S_ISDIR(st.st_mode) && depth < MBOX_DEPTH_MAX)
			mb_dir(rd, child, depth + 1);
		else if (S_ISREG(st.st_mode))
			mb_file(rd, child, depth == 0 &&
			    strcasecmp(names[i], "inbox") == 0 ? "INBOX" : child);
		else
			imp_send_warn(rd->chan, "%s skipped (%s)", child,
			    S_ISLNK(st.st_mode) ? "a symbolic link" :
			    "not a regular file or directory");
		free(names[i]);
	}
	free(names);
	close(fd);
}

static void
list_mbox(struct reader *rd)
{
	if (rd->kind == SRC_MBOX_FILE) {
		mb_file(rd, "", "INBOX");
		return;
	}
	read_subscriptions(rd, ".subscriptions", NULL, 0);
	read_subscriptions(rd, ".mailboxlist", NULL, 0);
	mb_dir(rd, "", 0);
}

/* ---- bodies ---- */

static void
body_maildir(struct reader *rd, const struct src_folder *f,
    const struct src_msg *m)
{
	char path[PATH_MAX];
	char *buf;
	size_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "%s%s%s", f->rel, *f->rel ? "/" : "",
	    m->file);
	if ((fd = open_rel(rd, path, false)) == -1) {
		imp_send_err(rd->chan, errno == ENOENT ? "the file is gone (moved by a "
		    "flag change? run the import again)" : strerror(errno));
		return;
	}
	/* At most what was listed, and one byte to see it did not grow. */
	buf = xmalloc(m->size + 1);
	for (;;) {
		ssize_t r = read(fd, buf + n, m->size + 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0 || (n += (size_t)r) > m->size)
			break;
	}
	close(fd);
	if (n != m->size)
		imp_send_err(rd->chan, "the file changed since it was listed");
	else
		imp_send_body(rd->chan, buf, n);
	free(buf);
}

static void
body_mbox(struct reader *rd, size_t fi, const struct src_msg *m)
{
	char *out;
	size_t n;

	if (rd->mapped != fi) {
		int fd;
		if (rd->map != NULL)
			munmap(rd->map, rd->maplen);
		rd->map = NULL;
		rd->mapped = SIZE_MAX;
		if ((fd = open_rel(rd, rd->folders[fi].rel, false)) == -1) {
			imp_send_err(rd->chan, strerror(errno));
			return;
		}
		rd->map = map_file(fd, &rd->maplen);
		close(fd);
		rd->mapped = fi;
	}
	if (rd->map == NULL || m->off + m->len > rd->maplen) {
		imp_send_err(rd->chan, "the mbox file changed since it was listed");
		return;
	}
	out = xmalloc(m->len + 1);
	n = mbox_unescape(rd->map + m->off, m->len, out);
	imp_send_body(rd->chan, out, n);
	free(out);
}

static void __attribute__((noreturn))
serve(struct reader *rd)
{
	uint32_t fi, mi;
	char t;

	while ((t = imp_next_request(rd->chan, &fi, &mi)) != 0) {
		if (fi >= rd->nfolders || mi > rd->folders[fi].n ||
		    (t == 'B' && mi == rd->folders[fi].n))
			_exit(1);
		/* Reading a file costs no round trip: no batches here. */
		if (t == 'W') {
			if (!imp_skip_want(rd->chan, mi))
				_exit(1);
			continue;
		}
		if (rd->kind == SRC_MAILDIR)
			body_maildir(rd, &rd->folders[fi],
			    &rd->folders[fi].msgs[mi]);
		else
			body_mbox(rd, fi, &rd->folders[fi].msgs[mi]);
	}
	_exit(0);
}

/* ---- start ---- */

/* Opens the absolute path from "/" one component at a time, refusing
 * links; the source's fd and its stat, or -1 with a message. */
static int
open_source(const char *path, struct stat *st, char *err, size_t errlen)
{
	struct reader tmp = { .root = -1 };
	int fd;

	if (path[0] != '/') {
		snprintf(err, errlen, "%s: not an absolute path", path);
		return -1;
	}
	if (strcmp(path, "/") == 0 || strstr(path, "/../") != NULL) {
		snprintf(err, errlen, "%s: refused", path);
		return -1;
	}
	if ((tmp.root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "/: %s", strerror(errno));
		return -1;
	}
	/* The last component may be a file (mbox) or a directory. */
	fd = open_rel(&tmp, path + 1, true);
	if (fd == -1 && errno == ENOTDIR)
		fd = open_rel(&tmp, path + 1, false);
	close(tmp.root);
	if (fd == -1 || fstat(fd, st) == -1) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, e == ELOOP || e == ENOTDIR ?
		    "a symbolic link is in the path (give the real path; "
		    "links are never followed)" : strerror(e));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

static enum src_kind
source_kind(int fd, const struct stat *st)
{
	struct stat sub;

	if (!S_ISDIR(st->st_mode))
		return SRC_MBOX_FILE;
	if ((fstatat(fd, "cur", &sub, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(sub.st_mode)) || (fstatat(fd, "new", &sub,
	    AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sub.st_mode)))
		return SRC_MAILDIR;
	return SRC_MBOX_DIR;
}

static void __attribute__((noreturn))
reader_main(int chan, const char *path)
{
	struct reader rd = { .chan = chan, .mapped = SIZE_MAX };
	char err[PATH_MAX + 128];
	struct stat st;

	if ((rd.root = open_source(path, &st, err, sizeof(err))) == -1) {
		imp_send_warn(rd.chan, "%s", err);
		_exit(1);
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		imp_send_warn(rd.chan, "%s: neither a directory nor a file", path);
		_exit(1);
	}
	rd.kind = source_kind(rd.root, &st);
	/* Read as the owner of the source: nothing the owner could not. */
	if (geteuid() == 0 && st.st_uid != 0)
		priv_drop(st.st_uid, st.st_gid, NULL);
	rd.check_owner = geteuid() == 0;
	if (rd.kind == SRC_MAILDIR)
		list_maildir(&rd);
	else
		list_mbox(&rd);
	imp_send_end(chan);
	serve(&rd);
}

int
import_reader_start(const char *path, pid_t *pid)
{
	int chan;

	if ((*pid = imp_fork(&chan)) == 0) {
		/* It needs no standard input (the worker's). */
		close(STDIN_FILENO);
		reader_main(chan, path);
	}
	return *pid == -1 ? -1 : chan;
}
