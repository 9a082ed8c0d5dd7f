/*
 * import.c - the writing side of mailkeepctl import, in the worker that
 * runs as the Mailkeep user's uid (doc/migration.md).
 *
 * It reads the reader's listing (import.h), drops what this store has
 * already got from the same source (the import_state rows of schema 5),
 * and appends the rest folder by folder, each message in the same
 * transaction as its import_state row, so that an import killed at any
 * instant is continued by running it again, and nothing is imported
 * twice.  Transactions hold a few hundred messages or a few MiB at
 * most: the running server's sessions and deliveries wait for the write
 * lock only that long, and its mailbox process sees each commit through
 * its inotify watch (doc/architecture.md, Delivery).
 *
 * A folder whose source UIDVALIDITY is known keeps it, and its messages
 * keep their UIDs, when the mailbox here has never held a message;
 * otherwise they get new UIDs.  What does not fit the quota, or is
 * larger than max_message, is left out and reported; the rest goes on.
 * Progress: a bar on a terminal, plain lines otherwise.
 */
#include "daemon/ctl/import.h"
#include "store/store.h"
#include "common/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MSGS   256
#define BATCH_BYTES  (8u << 20)
#define BATCH_MS     500
#define REPORT_MAX   20		/* messages named in the summary */
#define BUSY_TRIES   12		/* x the store's 5 s busy timeout */

struct imsg {
	char    *key;
	uint32_t uid, flags;
	char    *keywords;
	int64_t  date;
	int32_t  tz;
	uint64_t size;
	bool     done;		/* already imported by an earlier run */
};

struct ifolder {
	char        *name;
	uint32_t     uidvalidity, uidnext;
	struct imsg *msgs;
	size_t       n;
};

struct skipped {
	char    *what;
	uint64_t size;
};

struct imp {
	const struct import_opts *o;
	struct store   *s;
	int             chan;
	struct ifolder *f;
	size_t          nf;
	char          **subs;
	size_t          nsubs;
	char          **done;	/* import_state keys, sorted */
	size_t          ndone;
	/* planned: what this run will import (the source less what an
	 * earlier run brought in, already); done: imported so far. */
	uint64_t planned_msgs, planned_bytes, done_msgs, done_bytes, already;
	uint64_t uid_changed, failed;
	struct skipped *skip;
	size_t          nskip;
	uint64_t        skip_bytes;
	/* the open batch */
	size_t   batch_n;
	uint64_t batch_bytes, batch_start;
	/* progress */
	bool     tty;
	uint64_t t0, last_shown;
};

static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static void __attribute__((format(printf, 1, 2)))
complain(const char *fmt, ...)
{
	va_list ap;

	fputs("mailkeepctl: import: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- the channel ---- */

struct rd {
	const char *p, *end;
	bool        bad;
};

static void
get(struct rd *r, void *out, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		memset(out, 0, n);
		return;
	}
	memcpy(out, r->p, n);
	r->p += n;
}

static uint32_t
get_u32(struct rd *r)
{
	uint32_t v;

	get(r, &v, sizeof(v));
	return v;
}

/* A string of the record, NUL-terminated, no NUL inside. */
static char *
get_str(struct rd *r)
{
	uint32_t n = get_u32(r);

	if (r->bad || n > (size_t)(r->end - r->p) ||
	    memchr(r->p, '\0', n) != NULL) {
		r->bad = true;
		return xstrdup("");
	}
	r->p += n;
	return xmemdup0(r->p - n, n);
}

/* One record into buf (at most max bytes of payload); its type, or 0
 * if the channel ended or the record is too large. */
static char
read_rec(int fd, char *buf, size_t max, size_t *len)
{
	char h[5];
	uint32_t n;

	if (!imp_read_all(fd, h, sizeof(h)))
		return 0;
	memcpy(&n, h + 1, sizeof(n));
	if (n > max || !imp_read_all(fd, buf, n))
		return 0;
	*len = n;
	return h[0];
}

/* ---- the listing ---- */

static bool
on_folder(struct imp *im, struct rd *r)
{
	struct ifolder *f;

	im->f = xreallocarray(im->f, im->nf + 1, sizeof(*im->f));
	f = &im->f[im->nf++];
	memset(f, 0, sizeof(*f));
	f->name = get_str(r);
	f->uidvalidity = get_u32(r);
	f->uidnext = get_u32(r);
	return !r->bad;
}

static bool
on_msg(struct imp *im, struct rd *r)
{
	struct ifolder *f = im->nf ? &im->f[im->nf - 1] : NULL;
	struct imsg *m;

	if (f == NULL)
		return false;
	if ((f->n & (f->n - 1)) == 0)
		f->msgs = xreallocarray(f->msgs, f->n ? f->n * 2 : 1,
		    sizeof(*f->msgs));
	m = &f->msgs[f->n++];
	memset(m, 0, sizeof(*m));
	m->key = get_str(r);
	m->uid = get_u32(r);
	m->flags = get_u32(r);
	m->keywords = get_str(r);
	get(r, &m->date, sizeof(m->date));
	get(r, &m->tz, sizeof(m->tz));
	get(r, &m->size, sizeof(m->size));
	return !r->bad && strlen(m->key) < IMP_KEY_MAX;
}

/* Reads the listing up to 'E'; false (message printed) if the reader
 * failed or sent something malformed. */
static bool
read_listing(struct imp *im)
{
	char *buf = xmalloc(IMP_REC_MAX);
	bool ok = true;
	size_t len;
	char t;

	while (ok && (t = read_rec(im->chan, buf, IMP_REC_MAX, &len)) != 'E') {
		struct rd r = { buf, buf + len, false };
		char *s;
		switch (t) {
		case 'F': ok = on_folder(im, &r); break;
		case 'M': ok = on_msg(im, &r); break;
		case 'S':
			im->subs = xreallocarray(im->subs, im->nsubs + 1,
			    sizeof(*im->subs));
			im->subs[im->nsubs++] = get_str(&r);
			ok = !r.bad;
			break;
		case 'W':
			s = get_str(&r);
			complain("%s", s);
			free(s);
			break;
		default:
			ok = false;
			break;
		}
		if (!ok)
			complain("the source could not be read%s", t == 0 ? "" :
			    " (malformed listing)");
	}
	free(buf);
	return ok;
}

/* ---- what earlier runs imported ---- */

static int
collect_done(const char *key, void *arg)
{
	struct imp *im = arg;

	if ((im->ndone & (im->ndone - 1)) == 0)
		im->done = xreallocarray(im->done, im->ndone ? im->ndone * 2 : 1,
		    sizeof(*im->done));
	im->done[im->ndone++] = xstrdup(key);
	return 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
is_done(const struct imp *im, const char *key)
{
	return im->ndone > 0 && bsearch(&key, im->done, im->ndone,
	    sizeof(*im->done), str_cmp) != NULL;
}

static int
load_done(struct imp *im)
{
	if (store_import_foreach(im->s, im->o->source, collect_done, im) != 0) {
		complain("reading the import state: %s", store_errmsg(im->s));
		return -1;
	}
	if (im->ndone > 0)
		qsort(im->done, im->ndone, sizeof(*im->done), str_cmp);
	for (size_t i = 0; i < im->nf; i++)
		for (size_t j = 0; j < im->f[i].n; j++) {
			struct imsg *m = &im->f[i].msgs[j];
			m->done = is_done(im, m->key);
			if (m->done)
				im->already++;
			else {
				im->planned_msgs++;
				im->planned_bytes += m->size;
			}
		}
	return 0;
}

/* ---- progress ---- */

static void
fmt_bytes(uint64_t b, char *out, size_t len)
{
	if (b < 1024 * 1024)
		snprintf(out, len, "%.1f KiB", (double)b / 1024);
	else if (b < 1024ull * 1024 * 1024)
		snprintf(out, len, "%.1f MiB", (double)b / (1024 * 1024));
	else
		snprintf(out, len, "%.2f GiB", (double)b / (1024 * 1024 * 1024));
}

static void
fmt_secs(uint64_t s, char *out, size_t len)
{
	if (s >= 3600)
		snprintf(out, len, "%lluh%02llum", (unsigned long long)s / 3600,
		    (unsigned long long)s % 3600 / 60);
	else
		snprintf(out, len, "%llum%02llus", (unsigned long long)s / 60,
		    (unsigned long long)s % 60);
}

/* Messages and bytes done of the total, the rate, the time left:
 * redrawn in place on a terminal at most 10 times a second, a plain
 * line every 5 seconds otherwise. */
static void
progress(struct imp *im, bool last)
{
	uint64_t now = now_ms(), el = now - im->t0;
	uint64_t done = im->done_bytes + im->skip_bytes;
	char db[32], tb[32], rate[32], left[32], bar[31];
	double frac, bps;

	if (!last && now - im->last_shown < (im->tty ? 100u : 5000u))
		return;
	im->last_shown = now;
	frac = im->planned_bytes ? (double)done / (double)im->planned_bytes : 1.0;
	bps = el > 0 ? (double)im->done_bytes * 1000.0 / (double)el : 0;
	fmt_bytes(im->done_bytes + im->skip_bytes, db, sizeof(db));
	fmt_bytes(im->planned_bytes, tb, sizeof(tb));
	fmt_bytes((uint64_t)bps, rate, sizeof(rate));
	if (bps > 0 && im->planned_bytes > done)
		fmt_secs((uint64_t)((double)(im->planned_bytes - done) / bps), left,
		    sizeof(left));
	else
		snprintf(left, sizeof(left), "%s", last ? "0m00s" : "?");
	if (!im->tty) {
		say("import: %llu/%llu messages, %s/%s, %s/s, %s left",
		    (unsigned long long)(im->done_msgs + im->nskip),
		    (unsigned long long)im->planned_msgs, db, tb, rate, left);
		return;
	}
	size_t fill = (size_t)(frac * 30 + 0.5);
	for (size_t i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r[%s] %3d%% %llu/%llu msgs %s/%s %s/s %s left \033[K",
	    bar, (int)(frac * 100), (unsigned long long)(im->done_msgs +
	    im->nskip), (unsigned long long)im->planned_msgs, db, tb, rate, left);
	if (last)
		fputc('\n', stderr);
	fflush(stderr);
}

/* ---- writing ---- */

static void
skip(struct imp *im, const struct ifolder *f, const struct imsg *m,
    const char *why)
{
	im->skip = xreallocarray(im->skip, im->nskip + 1, sizeof(*im->skip));
	im->skip[im->nskip].what = xasprintf("%s: %s (%llu bytes): %s",
	    f->name, strchr(m->key, '\t') ? strchr(m->key, '\t') + 1 : m->key,
	    (unsigned long long)m->size, why);
	im->skip[im->nskip++].size = m->size;
	im->skip_bytes += m->size;
}

/* BEGIN, waiting out a busy server a while. */
static int
begin(struct imp *im)
{
	int rc;

	for (int i = 0; i < BUSY_TRIES; i++)
		if ((rc = store_begin(im->s)) != MK_BUSY)
			break;
	if (rc != 0)
		complain("%s", store_errmsg(im->s));
	return rc;
}

static int
batch_commit(struct imp *im)
{
	int rc;

	if (!store_in_transaction(im->s))
		return 0;
	if ((rc = store_commit(im->s)) != 0) {
		complain("commit: %s", store_errmsg(im->s));
		store_rollback(im->s);
		return rc;
	}
	im->batch_n = 0;
	im->batch_bytes = 0;
	return 0;
}

static int
batch_open(struct imp *im)
{
	if (store_in_transaction(im->s))
		return 0;
	im->batch_start = now_ms();
	return begin(im);
}

static int
batch_maybe_commit(struct imp *im)
{
	if (im->batch_n >= BATCH_MSGS || im->batch_bytes >= BATCH_BYTES ||
	    now_ms() - im->batch_start >= BATCH_MS)
		return batch_commit(im);
	return 0;
}

/* 0 fits, 1 not now, 2 never; inside the batch's transaction, so the
 * messages it added count. */
static int
over_quota(struct imp *im, uint64_t bytes)
{
	struct quota_usage q;

	if (im->o->quota_kib == 0 && im->o->quota_msgs == 0)
		return 0;
	if (im->o->quota_kib != 0 && (bytes + 1023) / 1024 > im->o->quota_kib)
		return 2;
	if (store_quota_usage(im->s, &q) != 0)
		return -1;
	if (im->o->quota_kib != 0 &&
	    (q.storage + bytes + 1023) / 1024 > im->o->quota_kib)
		return 1;
	if (im->o->quota_msgs != 0 && q.messages + 1 > im->o->quota_msgs)
		return 1;
	return 0;
}

/* Keywords the store would refuse (not atoms) are dropped. */
static void
clean_keywords(const char *in, char *out, size_t len)
{
	size_t o = 0;

	while (*in != '\0') {
		size_t n = strcspn(in, " ");
		bool ok = n > 0 && in[0] != '\\' && n < 200;
		for (size_t i = 0; ok && i < n; i++) {
			unsigned char c = (unsigned char)in[i];
			if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c))
				ok = false;
		}
		if (ok && o + n + 2 <= len) {
			if (o > 0)
				out[o++] = ' ';
			memcpy(out + o, in, n);
			o += n;
		}
		in += n;
		in += strspn(in, " ");
	}
	out[o] = '\0';
}

/* The header of the reader's next reply, after printing the warnings
 * that come before it (a reader that gives up says why first). */
static bool
next_reply(struct imp *im, char h[5])
{
	uint32_t n;

	for (;;) {
		if (!imp_read_all(im->chan, h, 5))
			return false;
		if (h[0] != 'W')
			return true;
		memcpy(&n, h + 1, sizeof(n));
		if (n >= IMP_REC_MAX)
			return false;
		char *buf = xmalloc((size_t)n + 1);
		if (!imp_read_all(im->chan, buf, n)) {
			free(buf);
			return false;
		}
		struct rd r = { buf, buf + n, false };
		char *s = get_str(&r);
		complain("%s", s);
		free(s);
		free(buf);
	}
}

/* Asks the reader for message mi of folder fi; the bytes (malloc'd) or
 * NULL with *why set.  *fatal when the channel is unusable. */
static char *
fetch_body(struct imp *im, size_t fi, size_t mi, size_t *len,
    const char **why, bool *fatal)
{
	char req[9] = { 'B' }, h[5];
	uint32_t f = (uint32_t)fi, m = (uint32_t)mi, n;
	static char reason[256];
	char *buf;

	memcpy(req + 1, &f, 4);
	memcpy(req + 5, &m, 4);
	*fatal = true;
	*why = "the source reader stopped";
	if (send(im->chan, req, sizeof(req), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(req))
		return NULL;
	if (!next_reply(im, h))
		return NULL;
	memcpy(&n, h + 1, sizeof(n));
	if ((h[0] != 'D' && h[0] != 'X') || n > im->o->max_message + 4096 ||
	    (h[0] == 'X' && n >= IMP_REC_MAX))
		return NULL;
	buf = xmalloc((size_t)n + 1);
	if (!imp_read_all(im->chan, buf, n)) {
		free(buf);
		return NULL;
	}
	*fatal = false;
	if (h[0] == 'D') {
		*len = n;
		return buf;
	}
	struct rd r = { buf, buf + n, false };
	char *s = get_str(&r);
	snprintf(reason, sizeof(reason), "%s", s);
	free(s);
	free(buf);
	*why = reason;
	return NULL;
}

/* The mailbox for f, created if missing, with the source's UIDVALIDITY
 * if it never held a message.  *keep: its UIDs can be the source's. */
static int
target_mbox(struct imp *im, const struct ifolder *f, struct mbox *m,
    bool *keep)
{
	int rc = store_mbox_find(im->s, f->name, m);

	*keep = false;
	if (rc == MK_NOTFOUND)
		rc = store_mbox_create(im->s, f->name, 0, m);
	if (rc == 0 && (m->flags & MBOX_NOSELECT))
		rc = store_mbox_create(im->s, f->name, 0, m);
	if (rc != 0) {
		complain("mailbox %s: %s", f->name, store_errmsg(im->s));
		return rc;
	}
	if (f->uidvalidity != 0 && m->uidnext == 1 &&
	    m->uidvalidity != f->uidvalidity &&
	    store_mbox_adopt_uidvalidity(im->s, m, f->uidvalidity) != 0)
		complain("%s: keeping UIDVALIDITY %u: %s", f->name,
		    f->uidvalidity, store_errmsg(im->s));
	*keep = f->uidvalidity != 0 && m->uidvalidity == f->uidvalidity;
	return 0;
}

/* Appends one message with its import_state row, in the open batch.
 * -1 only for what must stop the import. */
static int
import_one(struct imp *im, size_t fi, size_t mi, struct mbox *mb, bool keep)
{
	const struct ifolder *f = &im->f[fi];
	const struct imsg *m = &f->msgs[mi];
	struct msg_new nm = { .internaldate = { m->date, m->tz },
	    .flags = m->flags };
	struct msg_src src;
	struct msg_prep *prep;
	char kw[2048];
	const char *why;
	bool fatal;
	size_t len;
	uint32_t uid;
	int rc, q;
	char *body = fetch_body(im, fi, mi, &len, &why, &fatal);

	if (body == NULL) {
		if (fatal) {
			complain("%s", why);
			return -1;
		}
		skip(im, f, m, why);
		return 0;
	}
	src = (struct msg_src){ .data = body, .len = len };
	if (store_msg_prepare(&src, NULL, &prep) != 0) {
		free(body);
		complain("out of memory");
		return -1;
	}
	clean_keywords(m->keywords, kw, sizeof(kw));
	nm.keywords = kw;
	if (m->tz < -5999 || m->tz > 5999)
		nm.internaldate.tz = 0;
	if ((rc = batch_open(im)) != 0)
		goto out;
	if ((q = over_quota(im, store_msg_prep_size(prep))) != 0) {
		rc = q < 0 ? -1 : 0;
		if (q > 0)
			skip(im, f, m, q == 2 ? "larger than the whole quota" :
			    "over quota");
		goto out;
	}
	/* Messages the source never gave a UID come after its UIDNEXT,
	 * where no client can have seen a UID already. */
	if (keep && m->uid == 0 && f->uidnext > mb->uidnext &&
	    (rc = store_mbox_raise_uidnext(im->s, mb, f->uidnext)) != 0)
		goto out;
	nm.uid = keep ? m->uid : 0;
	if ((rc = store_msg_append_prep(im->s, mb, &nm, prep, &uid)) == 0)
		rc = store_import_mark(im->s, im->o->source, m->key, mb, uid);
	if (rc == MK_INVALID) {
		/* this message (the call changed nothing), not the import */
		skip(im, f, m, store_errmsg(im->s));
		rc = 0;
		goto out;
	}
	if (rc != 0) {
		complain("%s: %s", f->name, store_errmsg(im->s));
		goto out;
	}
	if (keep && m->uid != 0 && uid != m->uid)
		im->uid_changed++;
	im->done_msgs++;
	im->done_bytes += m->size;
	im->batch_n++;
	im->batch_bytes += len;
out:
	store_msg_prep_free(prep);
	free(body);
	return rc == 0 ? batch_maybe_commit(im) : -1;
}

/* Tells the reader which messages of folder fi will be asked for, in
 * order ('W'), so that it may fetch them in batches. */
static int
send_want(struct imp *im, size_t fi)
{
	const struct ifolder *f = &im->f[fi];
	char *buf = xmalloc(9 + f->n * 4), *p = buf;
	uint32_t n = 0, v = (uint32_t)fi;
	size_t len;
	int rc = 0;

	for (size_t i = 0; i < f->n; i++)
		if (!f->msgs[i].done && f->msgs[i].size <= im->o->max_message) {
			v = (uint32_t)i;
			memcpy(buf + 9 + 4 * n++, &v, 4);
		}
	buf[0] = 'W';
	v = (uint32_t)fi;
	memcpy(buf + 1, &v, 4);
	memcpy(buf + 5, &n, 4);
	for (len = 9 + (size_t)n * 4; len > 0;) {
		ssize_t k = send(im->chan, p, len, MSG_NOSIGNAL);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0) {
			complain("the source reader stopped");
			rc = -1;
			break;
		}
		p += k;
		len -= (size_t)k;
	}
	free(buf);
	return rc;
}

static int
import_folder(struct imp *im, size_t fi)
{
	struct ifolder *f = &im->f[fi];
	struct mbox mb;
	size_t pending = 0;
	bool keep;
	int rc;

	for (size_t i = 0; i < f->n; i++)
		pending += !f->msgs[i].done;
	if ((rc = target_mbox(im, f, &mb, &keep)) == MK_INVALID) {
		/* a name the store refuses: this folder, not the import */
		for (size_t i = 0; i < f->n; i++)
			if (!f->msgs[i].done)
				skip(im, f, &f->msgs[i], "the folder's name cannot "
				    "be a mailbox name here");
		return 0;
	}
	if (rc != 0 || (rc = send_want(im, fi)) != 0)
		return rc;
	if (!im->tty)
		say("import: folder %s: %zu message%s to import, %zu already "
		    "imported%s", f->name, pending, pending == 1 ? "" : "s",
		    f->n - pending, keep ? ", UIDs kept" : "");
	for (size_t i = 0; i < f->n; i++) {
		const struct imsg *m = &f->msgs[i];
		if (m->done)
			continue;
		if (m->size > im->o->max_message)
			skip(im, f, m, "larger than max_message");
		else if (import_one(im, fi, i, &mb, keep) != 0) {
			/* What the batch holds so far is whole: keep it. */
			if (batch_commit(im) != 0)
				store_rollback(im->s);
			return -1;
		}
		progress(im, false);
	}
	if ((rc = batch_commit(im)) != 0)
		return rc;
	/* A client that saw the old server's UIDNEXT finds it again. */
	if (keep && f->uidnext > mb.uidnext &&
	    store_mbox_raise_uidnext(im->s, &mb, f->uidnext) != 0)
		complain("%s: UIDNEXT: %s", f->name, store_errmsg(im->s));
	return 0;
}

static void
subscribe_all(struct imp *im)
{
	for (size_t i = 0; i < im->nsubs; i++)
		if (store_sub_set(im->s, im->subs[i], true) != 0)
			complain("subscription %s: %s", im->subs[i],
			    store_errmsg(im->s));
}

static void
report(struct imp *im)
{
	char b[32];

	fmt_bytes(im->done_bytes, b, sizeof(b));
	say("import: %llu message%s (%s) imported into %zu folder%s; %llu "
	    "already imported before; %zu subscription%s",
	    (unsigned long long)im->done_msgs, im->done_msgs == 1 ? "" : "s", b,
	    im->nf, im->nf == 1 ? "" : "s", (unsigned long long)im->already,
	    im->nsubs, im->nsubs == 1 ? "" : "s");
	if (im->uid_changed)
		say("import: %llu message%s got a new UID (the mailbox received "
		    "other mail during the import)",
		    (unsigned long long)im->uid_changed,
		    im->uid_changed == 1 ? "" : "s");
	if (im->nskip == 0)
		return;
	fmt_bytes(im->skip_bytes, b, sizeof(b));
	say("import: NOT imported: %zu message%s (%s):", im->nskip,
	    im->nskip == 1 ? "" : "s", b);
	for (size_t i = 0; i < im->nskip && i < REPORT_MAX; i++)
		say("  %s", im->skip[i].what);
	if (im->nskip > REPORT_MAX)
		say("  ... and %zu more", im->nskip - REPORT_MAX);
	say("import: raise the quota (mailkeepctl quota) or max_message and run "
	    "the same import again: it continues with what is missing");
}

static void
imp_free(struct imp *im)
{
	for (size_t i = 0; i < im->nf; i++) {
		for (size_t j = 0; j < im->f[i].n; j++) {
			free(im->f[i].msgs[j].key);
			free(im->f[i].msgs[j].keywords);
		}
		free(im->f[i].msgs);
		free(im->f[i].name);
	}
	free(im->f);
	for (size_t i = 0; i < im->nsubs; i++)
		free(im->subs[i]);
	free(im->subs);
	for (size_t i = 0; i < im->ndone; i++)
		free(im->done[i]);
	free(im->done);
	for (size_t i = 0; i < im->nskip; i++)
		free(im->skip[i].what);
	free(im->skip);
}

int
import_run(const struct import_opts *o, struct store *s, int chan)
{
	struct imp im = { .o = o, .s = s, .chan = chan };
	int rc = 1;

	im.tty = isatty(STDERR_FILENO);
	if (!read_listing(&im) || load_done(&im) != 0)
		goto out;
	say("import: %s into %s: %zu folder%s, %llu message%s to import, %llu "
	    "already imported", o->source, o->user, im.nf, im.nf == 1 ? "" :
	    "s", (unsigned long long)im.planned_msgs, im.planned_msgs == 1 ? "" : "s",
	    (unsigned long long)im.already);
	im.t0 = im.last_shown = now_ms();
	rc = 0;
	for (size_t i = 0; rc == 0 && i < im.nf; i++)
		rc = import_folder(&im, i);
	if (rc == 0)
		subscribe_all(&im);
	progress(&im, true);
	report(&im);
	rc = rc != 0 ? 1 : im.nskip > 0 ? IMP_EX_PARTIAL : 0;
out:
	(void)send(chan, "Q", 1, MSG_NOSIGNAL);
	imp_free(&im);
	return rc;
}
