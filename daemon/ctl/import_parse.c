/*
 * import_parse.c - Maildir++ and mbox formats for mailkeepctl import.
 *
 * Every function reads bytes it is given and writes into buffers the
 * caller sized; nothing here allocates or opens a file.  The input comes
 * from a tree another user wrote, so every length is checked and every
 * malformed piece is skipped rather than trusted (see import_parse.h).
 */
#include "daemon/ctl/import_parse.h"
#include "store/store.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- Maildir ---- */

unsigned
maildir_info_flags(const char *name, uint32_t *kwmask)
{
	const char *info = strstr(name, ":2,");
	unsigned f = 0;

	*kwmask = 0;
	if (info == NULL)
		return 0;
	for (const char *p = info + 3; *p != '\0' && *p != ','; p++) {
		switch (*p) {
		case 'D': f |= MF_DRAFT; break;
		case 'F': f |= MF_FLAGGED; break;
		case 'R': f |= MF_ANSWERED; break;
		case 'S': f |= MF_SEEN; break;
		case 'T': f |= MF_DELETED; break;
		default:
			if (*p >= 'a' && *p <= 'z')
				*kwmask |= 1u << (*p - 'a');
			break;
		}
	}
	return f;
}

size_t
maildir_base_len(const char *name)
{
	return strcspn(name, ":");
}

bool
maildir_folder_name(const char *dirent, char *out, size_t len)
{
	size_t n = strlen(dirent);

	if (dirent[0] != '.' || n < 2 || n >= len || strcmp(dirent, "..") == 0)
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = dirent[i];
		/* An empty level (".a..b", ".a.") is no folder of ours. */
		if (c == '.' && (i == 1 || i + 1 == n || dirent[i + 1] == '.'))
			return false;
		out[i - 1] = c == '.' ? '/' : c;
	}
	out[n - 1] = '\0';
	return true;
}

/* A decimal u32 at *p (advanced); false if none or too large. */
static bool
num32(const char **p, const char *end, uint32_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s >= end || *s < '0' || *s > '9')
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*p = s;
	*out = (uint32_t)v;
	return true;
}

bool
uidlist_header(const char *line, size_t len, struct uidlist_hdr *h)
{
	const char *p = line, *end = line + len;
	uint32_t ver;

	memset(h, 0, sizeof(*h));
	if (!num32(&p, end, &ver))
		return false;
	h->version = ver;
	if (ver == 1) {
		/* "1 <uidvalidity> <nextuid>" (Dovecot 1, Courier) */
		if (p >= end || *p++ != ' ' || !num32(&p, end, &h->uidvalidity) ||
		    p >= end || *p++ != ' ' || !num32(&p, end, &h->nextuid))
			return false;
		return true;
	}
	if (ver != 2 && ver != 3)
		return false;
	/* "3 V<uidvalidity> N<nextuid> G<guid> ...": fields in any order */
	while (p < end) {
		if (*p == ' ') {
			p++;
			continue;
		}
		char key = *p++;
		if (key == 'V' && !num32(&p, end, &h->uidvalidity))
			return false;
		else if (key == 'N' && !num32(&p, end, &h->nextuid))
			return false;
		while (p < end && *p != ' ')
			p++;
	}
	return h->uidvalidity != 0;
}

bool
uidlist_record(const char *line, size_t len, unsigned version,
    uint32_t *uid, const char **base, size_t *baselen)
{
	const char *p = line, *end = line + len;

	if (!num32(&p, end, uid) || *uid == 0 || p >= end || *p != ' ')
		return false;
	if (version >= 2) {
		/* extensions, then " :" and the base name */
		const char *colon = NULL;
		for (const char *q = p; q + 1 < end; q++)
			if (q[0] == ' ' && q[1] == ':') {
				colon = q;
				break;
			}
		if (colon == NULL)
			return false;
		p = colon + 2;
	} else {
		p++;
	}
	if (p >= end || memchr(p, '/', (size_t)(end - p)) != NULL ||
	    memchr(p, '\0', (size_t)(end - p)) != NULL)
		return false;
	*base = p;
	*baselen = (size_t)(end - p);
	/* A trailing ":2,..." would not be part of the base. */
	const char *c = memchr(p, ':', *baselen);
	if (c != NULL)
		*baselen = (size_t)(c - p);
	return *baselen > 0;
}

/* Calls fn for each line of text (without its line end). */
static void
each_line(const char *text, size_t len,
    void (*fn)(const char *line, size_t n, void *arg), void *arg)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		fn(p, n, arg);
		p = nl ? nl + 1 : end;
	}
}

static void
keyword_line(const char *line, size_t n, void *arg)
{
	struct maildir_keywords *kw = arg;
	const char *p = line, *end = line + n;
	uint32_t idx;

	if (!num32(&p, end, &idx) || idx >= IMP_KW_MAX || p >= end ||
	    *p++ != ' ' || p >= end)
		return;
	size_t len = (size_t)(end - p);
	if (len >= IMP_KW_NAME_MAX || memchr(p, '\0', len) != NULL)
		return;
	memcpy(kw->name[idx], p, len);
	kw->name[idx][len] = '\0';
}

void
maildir_keywords_parse(const char *text, size_t len,
    struct maildir_keywords *kw)
{
	memset(kw, 0, sizeof(*kw));
	each_line(text, len, keyword_line, kw);
}

struct subs_state {
	void (*cb)(const char *name, void *arg);
	void  *arg;
	int    line;
	bool   v2;
};

static void
subs_line(const char *line, size_t n, void *arg)
{
	struct subs_state *st = arg;
	char name[1024];

	if (st->line++ == 0 && n == 3 && memcmp(line, "V\t2", 3) == 0) {
		st->v2 = true;
		return;
	}
	if (n == 0 || n >= sizeof(name) || memchr(line, '\0', n) != NULL)
		return;
	memcpy(name, line, n);
	name[n] = '\0';
	if (st->v2) {
		for (char *c = name; *c; c++)
			if (*c == '\t')
				*c = '/';
	} else if (strncmp(name, "INBOX.", 6) == 0) {
		/* Courier: every folder is under "INBOX." */
		memmove(name, name + 6, n - 5);
		for (char *c = name; *c; c++)
			if (*c == '.')
				*c = '/';
	}
	st->cb(name, st->arg);
}

void
subscriptions_parse(const char *text, size_t len,
    void (*cb)(const char *name, void *arg), void *arg)
{
	struct subs_state st = { .cb = cb, .arg = arg };

	each_line(text, len, subs_line, &st);
}

/* ---- mbox ---- */

static int
month_of(const char *m)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	for (int i = 0; i < 12; i++)
		if (strncmp(m, months + 3 * i, 3) == 0)
			return i;
	return -1;
}

static bool
is_weekday(const char *d)
{
	static const char days[] = "SunMonTueWedThuFriSat";

	for (int i = 0; i < 7; i++)
		if (strncmp(d, days + 3 * i, 3) == 0)
			return true;
	return false;
}

/* "Www Mmm dd hh:mm:ss yyyy[ zone]" at s (NUL-terminated). */
static bool
asctime_parse(const char *s, int64_t *t, int *tz)
{
	struct tm tm = { 0 };
	char mon[4], zone[8] = "";
	int day, h, mi, sec, year, n = 0;

	if (!is_weekday(s) || s[3] != ' ')
		return false;
	if (sscanf(s + 4, "%3s %d %d:%d:%d %d%n", mon, &day, &h, &mi, &sec,
	    &year, &n) != 6)
		return false;
	if ((tm.tm_mon = month_of(mon)) < 0 || day < 1 || day > 31 || h > 23 ||
	    mi > 59 || sec > 60 || h < 0 || mi < 0 || sec < 0 ||
	    year < 1970 || year > 9999)
		return false;
	tm.tm_mday = day;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	tm.tm_year = year - 1900;
	(void)sscanf(s + 4 + n, " %7s", zone);
	if ((zone[0] == '+' || zone[0] == '-') && strlen(zone) == 5 &&
	    strspn(zone + 1, "0123456789") == 4) {
		int off = ((zone[1] - '0') * 10 + (zone[2] - '0')) * 60 +
		    (zone[3] - '0') * 10 + (zone[4] - '0');
		*tz = zone[0] == '-' ? -off : off;
		*t = (int64_t)timegm(&tm) - (int64_t)*tz * 60;
		return true;
	}
	/* No zone: the local time of the system that wrote it, which we
	 * take to be ours. */
	tm.tm_isdst = -1;
	*t = (int64_t)mktime(&tm);
	*tz = (int)(tm.tm_gmtoff / 60);
	return true;
}

bool
mbox_from_line(const char *line, size_t len, int64_t *t, int *tz)
{
	char buf[512];

	if (len < 5 || memcmp(line, "From ", 5) != 0)
		return false;
	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL)
		return false;
	/* The sender may itself hold spaces (a quoted local part): the
	 * date is the first "Www Mmm " that parses. */
	for (char *p = buf + 5; (p = strchr(p, ' ')) != NULL; p++)
		if (asctime_parse(p + 1, t, tz))
			return true;
	return false;
}

/* The From_ line at buf[pos] parses (pos at a line start). */
static bool
from_at(const char *buf, size_t n, size_t pos, int64_t *t, int *tz)
{
	const char *nl;
	size_t len;

	if (n - pos < 5 || memcmp(buf + pos, "From ", 5) != 0)
		return false;
	nl = memchr(buf + pos, '\n', n - pos);
	len = nl ? (size_t)(nl - (buf + pos)) : n - pos;
	if (len > 0 && buf[pos + len - 1] == '\r')
		len--;
	return mbox_from_line(buf + pos, len, t, tz);
}

bool
mbox_next(const char *buf, size_t n, size_t *pos, struct mbox_msg *m)
{
	size_t p = *pos, end;
	const char *nl;

	if (p >= n || !from_at(buf, n, p, &m->date, &m->tz))
		return false;
	m->from = p;
	nl = memchr(buf + p, '\n', n - p);
	m->off = nl ? (size_t)(nl - buf) + 1 : n;
	/* The next line starting "From " with a date is the next message. */
	for (end = m->off; end < n;) {
		int64_t t;
		int tz;
		if (from_at(buf, n, end, &t, &tz))
			break;
		nl = memchr(buf + end, '\n', n - end);
		end = nl ? (size_t)(nl - buf) + 1 : n;
	}
	m->len = end - m->off;
	/* The blank line mbox writers put before the next From_ line is
	 * not part of the message. */
	if (m->len >= 2 && buf[m->off + m->len - 1] == '\n' &&
	    buf[m->off + m->len - 2] == '\n')
		m->len--;
	else if (m->len >= 4 && memcmp(buf + m->off + m->len - 4, "\r\n\r\n",
	    4) == 0)
		m->len -= 2;
	*pos = end;
	return true;
}

/* Is the header line at h (of length n) the field name? */
static bool
field_is(const char *h, size_t n, const char *name)
{
	size_t k = strlen(name);

	return n > k && h[k] == ':' && strncasecmp(h, name, k) == 0;
}

static const char *const hidden[] = {
	"Status", "X-Status", "X-Keywords", "X-UID", "X-IMAP", "X-IMAPbase",
	"Content-Length",
};

static bool
hidden_field(const char *h, size_t n)
{
	for (size_t i = 0; i < nitems(hidden); i++)
		if (field_is(h, n, hidden[i]))
			return true;
	return false;
}

/* The value of a header line (after the colon, spaces skipped). */
static void
field_value(const char *h, size_t n, char *out, size_t outlen)
{
	const char *c = memchr(h, ':', n);
	size_t off = c ? (size_t)(c - h) + 1 : n, len;

	while (off < n && (h[off] == ' ' || h[off] == '\t'))
		off++;
	len = n - off;
	while (len > 0 && (h[off + len - 1] == '\r' || h[off + len - 1] == ' '))
		len--;
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, h + off, len);
	out[len] = '\0';
	for (char *p = out; *p; p++)
		if (*p == '\0' || *p == '\t' || *p == ',')
			*p = ' ';
}

static unsigned
status_flags(const char *v)
{
	unsigned f = 0;

	for (; *v; v++)
		switch (*v) {
		case 'R': f |= MF_SEEN; break;
		case 'A': f |= MF_ANSWERED; break;
		case 'F': f |= MF_FLAGGED; break;
		case 'T': f |= MF_DRAFT; break;
		case 'D': f |= MF_DELETED; break;
		default: break;	/* 'O': not \Recent, which we never store */
		}
	return f;
}

static void
meta_field(const char *h, size_t n, struct mbox_meta *meta)
{
	char v[sizeof(meta->keywords)];
	const char *p, *end;

	if (!field_is(h, n, "Status") && !field_is(h, n, "X-Status") &&
	    !field_is(h, n, "X-Keywords") && !field_is(h, n, "X-UID") &&
	    !field_is(h, n, "X-IMAPbase"))
		return;
	field_value(h, n, v, sizeof(v));
	p = v;
	end = v + strlen(v);
	if (field_is(h, n, "Status") || field_is(h, n, "X-Status"))
		meta->flags |= status_flags(v);
	else if (field_is(h, n, "X-Keywords"))
		memcpy(meta->keywords, v, sizeof(v));
	else if (field_is(h, n, "X-UID"))
		(void)num32(&p, end, &meta->uid);
	else if (num32(&p, end, &meta->uidvalidity) && p < end && *p++ == ' ')
		(void)num32(&p, end, &meta->uidnext);
}

/* Calls fn for each header line (continuations included) of msg;
 * returns where the blank line that ends the header starts (len if
 * there is none). */
static size_t
each_header(const char *msg, size_t len,
    void (*fn)(const char *h, size_t n, size_t start, size_t next, void *arg),
    void *arg)
{
	size_t p = 0;

	while (p < len) {
		size_t start = p, n;
		const char *nl = memchr(msg + p, '\n', len - p);
		n = nl ? (size_t)(nl - (msg + p)) : len - p;
		if (n == 0 || (n == 1 && msg[p] == '\r'))
			return p;	/* the blank line */
		p += n + (nl ? 1 : 0);
		/* folded continuation lines belong to this field */
		while (p < len && (msg[p] == ' ' || msg[p] == '\t')) {
			nl = memchr(msg + p, '\n', len - p);
			p = nl ? (size_t)(nl - msg) + 1 : len;
		}
		fn(msg + start, n, start, p, arg);
	}
	return len;
}

static void
meta_cb(const char *h, size_t n, size_t start, size_t next, void *arg)
{
	(void)start;
	(void)next;
	meta_field(h, n, arg);
}

void
mbox_meta_parse(const char *msg, size_t len, struct mbox_meta *meta)
{
	memset(meta, 0, sizeof(*meta));
	(void)each_header(msg, len, meta_cb, meta);
}

struct unesc {
	const char *msg;
	char       *out;
	size_t      o;
};

/* Copies msg[from, to) with one '>' removed from lines ^>+From . */
static void
copy_unescaped(struct unesc *u, size_t from, size_t to)
{
	size_t p = from;

	while (p < to) {
		const char *nl = memchr(u->msg + p, '\n', to - p);
		size_t e = nl ? (size_t)(nl - u->msg) + 1 : to;
		size_t q = p;
		while (q < e && u->msg[q] == '>')
			q++;
		if (q > p && e - q >= 5 && memcmp(u->msg + q, "From ", 5) == 0)
			p++;
		memcpy(u->out + u->o, u->msg + p, e - p);
		u->o += e - p;
		p = e;
	}
}

static void
unesc_header(const char *h, size_t n, size_t start, size_t next, void *arg)
{
	if (!hidden_field(h, n))
		copy_unescaped(arg, start, next);
}

size_t
mbox_unescape(const char *msg, size_t len, char *out)
{
	struct unesc u = { .msg = msg, .out = out };
	size_t blank = each_header(msg, len, unesc_header, &u);

	copy_unescaped(&u, blank, len);
	return u.o;
}
