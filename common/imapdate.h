/*
 * imapdate.h - dates in IMAP and in message headers.
 */
#ifndef MK_IMAPDATE_H
#define MK_IMAPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* An instant plus the zone it was written in, in minutes east of UTC. */
struct mk_time {
	int64_t t;	/* seconds since the epoch, UTC */
	int     tz;	/* e.g. +0200 -> 120 */
};

/* date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (day may be " d").  -1 on error. */
int   imapdate_parse_datetime(const char *s, size_t len, struct mk_time *out);
/* Formats as above, 26 chars + NUL, without quotes. */
void  imapdate_format_datetime(const struct mk_time *t, char out[32]);
/* date: "d-Mon-yyyy" or "dd-Mon-yyyy" (optionally quoted by the caller's
 * lexer).  Returns days since 1970-01-01; -1 on error. */
int   imapdate_parse_date(const char *s, size_t len, int32_t *days);
/* Days since 1970-01-01 of an instant as seen in its own zone. */
int32_t imapdate_day(const struct mk_time *t);
/* RFC 5322 date (tolerant of the obsolete forms real mail has, like
 * "UT", named zones and missing seconds).  -1 if it can't be read. */
int   imapdate_parse_rfc5322(const char *s, size_t len, struct mk_time *out);

#endif
