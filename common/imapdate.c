/*
 * imapdate.c - IMAP date and date-time syntax, and RFC 5322 Date: headers.
 *
 * The parser uses imapdate_parse_date/_datetime for SEARCH and APPEND;
 * the store uses imapdate_parse_rfc5322 on Date: headers at delivery and
 * imapdate_format_datetime for INTERNALDATE.  Calendar arithmetic is done
 * here (proleptic Gregorian, no libc time zone state), so results do not
 * depend on the process's TZ or locale.
 */
#include "common/imapdate.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned
days_in_month(int64_t y, unsigned m)
{
	static const unsigned char dm[12] =
	    { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

static int
month_index(const char *s, size_t n)
{
	int i;

	if (n != 3)
		return -1;
	for (i = 0; i < 12; i++)
		if (strncasecmp(s, months[i], 3) == 0)
			return i + 1;
	return -1;
}

/* Reads exactly n digits. */
static bool
digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

static bool
valid_date(int64_t y, unsigned m, unsigned d)
{
	return m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

int
imapdate_parse_date(const char *s, size_t len, int32_t *days)
{
	unsigned d, y;
	size_t dl;
	int m;

	/* d-Mon-yyyy or dd-Mon-yyyy */
	if (len == 10)
		dl = 1;
	else if (len == 11)
		dl = 2;
	else
		return -1;
	if (!digits(s, dl, &d) || s[dl] != '-' || s[dl + 4] != '-')
		return -1;
	if ((m = month_index(s + dl + 1, 3)) < 0)
		return -1;
	if (!digits(s + dl + 5, 4, &y) || !valid_date(y, (unsigned)m, d))
		return -1;
	*days = (int32_t)days_from_civil(y, (unsigned)m, d);
	return 0;
}

static bool
parse_zone_num(const char *s, int *tz)
{
	unsigned hh, mm;

	if ((s[0] != '+' && s[0] != '-') || !digits(s + 1, 2, &hh) ||
	    !digits(s + 3, 2, &mm) || mm > 59)
		return false;
	*tz = (int)(hh * 60 + mm) * (s[0] == '-' ? -1 : 1);
	return true;
}

static bool
valid_time(unsigned hh, unsigned mi, unsigned ss)
{
	/* 60 allows a leap second, as RFC 5322 does. */
	return hh <= 23 && mi <= 59 && ss <= 60;
}

static int64_t
to_epoch(int64_t y, unsigned m, unsigned d, unsigned hh, unsigned mi,
    unsigned ss, int tz)
{
	return days_from_civil(y, m, d) * 86400 + hh * 3600 + mi * 60 + ss -
	    (int64_t)tz * 60;
}

int
imapdate_parse_datetime(const char *s, size_t len, struct mk_time *out)
{
	unsigned d, y, hh, mi, ss;
	int m, tz;

	/* "dd-Mon-yyyy hh:mm:ss +zzzz"; also " d-" and, leniently, "d-". */
	if (len == 25) {
		if (!digits(s, 1, &d))
			return -1;
	} else if (len == 26) {
		if (s[0] == ' ') {
			if (!digits(s + 1, 1, &d))
				return -1;
		} else if (!digits(s, 2, &d))
			return -1;
		s++;
	} else
		return -1;
	/* From here s is positioned as if the day took one char. */
	if (s[1] != '-' || s[5] != '-' || s[10] != ' ' || s[13] != ':' ||
	    s[16] != ':' || s[19] != ' ')
		return -1;
	if ((m = month_index(s + 2, 3)) < 0 || !digits(s + 6, 4, &y) ||
	    !digits(s + 11, 2, &hh) || !digits(s + 14, 2, &mi) ||
	    !digits(s + 17, 2, &ss) || !parse_zone_num(s + 20, &tz))
		return -1;
	if (!valid_date(y, (unsigned)m, d) || !valid_time(hh, mi, ss))
		return -1;
	out->tz = tz;
	out->t = to_epoch(y, (unsigned)m, d, hh, mi, ss, tz);
	return 0;
}

/* t->t shifted into its own zone, kept far from int64 overflow (beyond
 * year 9999 nothing is meaningful anyway). */
static int64_t
local_time(const struct mk_time *t)
{
	const int64_t lim = (int64_t)1 << 50;
	int64_t v = t->t;

	if (v > lim)
		v = lim;
	if (v < -lim)
		v = -lim;
	return v + (int64_t)t->tz * 60;
}

int32_t
imapdate_day(const struct mk_time *t)
{
	int64_t local = local_time(t);
	int64_t d = local / 86400;

	if (local % 86400 < 0)
		d--;
	return (int32_t)d;
}

void
imapdate_format_datetime(const struct mk_time *t, char out[32])
{
	/* Years outside 0000..9999 cannot be written as date-year. */
	const int64_t lo = -62167219200LL, hi = 253402300799LL;
	int64_t local, y, secs, days;
	int tz = t->tz;
	unsigned m, d;

	if (tz < -5999 || tz > 5999)
		tz = 0;
	local = local_time(&(struct mk_time){ .t = t->t, .tz = tz });
	if (local < lo)
		local = lo;
	if (local > hi)
		local = hi;
	days = local / 86400;
	secs = local % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	int atz = tz < 0 ? -tz : tz;
	snprintf(out, 32, "%02u-%s-%04d %02d:%02d:%02d %c%02d%02d", d,
	    months[m - 1], (int)y, (int)(secs / 3600), (int)(secs / 60 % 60),
	    (int)(secs % 60), tz < 0 ? '-' : '+', atz / 60, atz % 60);
}

/* ---- RFC 5322 ---- */

struct rd {
	const char *p, *end;
};

/* Skips whitespace and (nested) comments: CFWS. */
static void
skip_cfws(struct rd *r)
{
	int depth = 0;

	while (r->p < r->end) {
		char c = *r->p;

		if (c == '(')
			depth++;
		else if (c == ')' && depth > 0)
			depth--;
		else if (c == '\\' && depth > 0 && r->p + 1 < r->end)
			r->p++;
		else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' &&
		    c != '\n')
			return;
		r->p++;
	}
}

static size_t
take_digits(struct rd *r, unsigned *v, size_t maxn)
{
	size_t n = 0;

	*v = 0;
	while (r->p < r->end && n < maxn && isdigit((unsigned char)*r->p)) {
		*v = *v * 10 + (unsigned)(*r->p - '0');
		r->p++;
		n++;
	}
	return n;
}

static size_t
take_alpha(struct rd *r, const char **s)
{
	*s = r->p;
	while (r->p < r->end && isalpha((unsigned char)*r->p))
		r->p++;
	return (size_t)(r->p - *s);
}

static const struct {
	const char *name;
	int         tz;
} named_zones[] = {
	{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
	{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 }, { "CDT", -300 },
	{ "MST", -420 }, { "MDT", -360 }, { "PST", -480 }, { "PDT", -420 },
};

/* Named and military zones; anything unknown counts as +0000, the
 * RFC 5322 4.3 reading of zones whose meaning is not known. */
static int
zone_by_name(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(named_zones) / sizeof(named_zones[0]); i++)
		if (strlen(named_zones[i].name) == n &&
		    strncasecmp(s, named_zones[i].name, n) == 0)
			return named_zones[i].tz;
	return 0;
}

static void
read_zone(struct rd *r, int *tz)
{
	const char *s;
	unsigned v;
	size_t n;

	*tz = 0;
	skip_cfws(r);
	if (r->p >= r->end)
		return;
	if (*r->p == '+' || *r->p == '-') {
		int sign = *r->p == '-' ? -1 : 1;
		r->p++;
		n = take_digits(r, &v, 4);
		if (n == 4 && v % 100 < 60)
			*tz = sign * (int)(v / 100 * 60 + v % 100);
		else if (n == 2)	/* "+01": hours only, seen in the wild */
			*tz = sign * (int)v * 60;
		return;
	}
	if ((n = take_alpha(r, &s)) > 0)
		*tz = zone_by_name(s, n);
}

/* obs-year (RFC 5322 4.3): 2 digits < 50 are 20xx, else 19xx; 3 digits
 * add 1900. */
static int64_t
fix_year(unsigned y, size_t ndig)
{
	if (ndig == 2)
		return y < 50 ? 2000 + y : 1900 + y;
	if (ndig == 3)
		return 1900 + y;
	return y;
}

int
imapdate_parse_rfc5322(const char *s, size_t len, struct mk_time *out)
{
	struct rd r = { s, s + len };
	unsigned d, y, hh, mi, ss = 0;
	const char *w;
	size_t n, yn;
	int m, tz;

	skip_cfws(&r);
	/* Optional day-of-week, with or without its comma. */
	if ((n = take_alpha(&r, &w)) > 0) {
		skip_cfws(&r);
		if (r.p < r.end && *r.p == ',')
			r.p++;
		skip_cfws(&r);
	}
	if (take_digits(&r, &d, 2) == 0)
		return -1;
	skip_cfws(&r);
	if (r.p < r.end && *r.p == '-')	/* "1-Jan-2020" */
		r.p++;
	/* Full month names ("January") occur too. */
	if ((n = take_alpha(&r, &w)) < 3 || (m = month_index(w, 3)) < 0)
		return -1;
	skip_cfws(&r);
	if (r.p < r.end && *r.p == '-')
		r.p++;
	if ((yn = take_digits(&r, &y, 4)) < 2)
		return -1;
	int64_t year = fix_year(y, yn);
	skip_cfws(&r);
	if (take_digits(&r, &hh, 2) == 0 || r.p >= r.end || *r.p != ':')
		return -1;
	r.p++;
	if (take_digits(&r, &mi, 2) == 0)
		return -1;
	if (r.p < r.end && *r.p == ':') {
		r.p++;
		if (take_digits(&r, &ss, 2) == 0)
			return -1;
	}
	if (!valid_date(year, (unsigned)m, d) || !valid_time(hh, mi, ss))
		return -1;
	read_zone(&r, &tz);
	out->tz = tz;
	out->t = to_epoch(year, (unsigned)m, d, hh, mi, ss, tz);
	return 0;
}
