/*
 * test_imapdate.c - IMAP date and date-time, and the tolerant reading of
 * RFC 5322 Date: headers as real mail writes them.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "common/imapdate.h"

static int
dt(const char *s, struct mk_time *t)
{
	return imapdate_parse_datetime(s, strlen(s), t);
}

static int
r5322(const char *s, struct mk_time *t)
{
	return imapdate_parse_rfc5322(s, strlen(s), t);
}

static int32_t
day(const char *s)
{
	int32_t d;

	if (imapdate_parse_date(s, strlen(s), &d) == -1)
		return -99999;
	return d;
}

void
test_date_parse(void)
{
	CU_ASSERT_EQUAL(day("1-Jan-1970"), 0);
	CU_ASSERT_EQUAL(day("01-Jan-1970"), 0);
	CU_ASSERT_EQUAL(day("2-jan-1970"), 1);
	CU_ASSERT_EQUAL(day("31-DEC-1969"), -1);
	CU_ASSERT_EQUAL(day("29-Feb-2000"), 11016);
	CU_ASSERT_EQUAL(day("1-Mar-2000"), 11017);
	CU_ASSERT_EQUAL(day("9-Sep-2001"), 11574);
	CU_ASSERT_EQUAL(day("29-Feb-2024"), 19782);
}

void
test_date_parse_errors(void)
{
	static const char *bad[] = {
		"", "1-Jan-70", "1-Jan-19700", "32-Jan-2020", "0-Jan-2020",
		"29-Feb-2001", "29-Feb-1900", "31-Apr-2020", "1-Foo-2020",
		"1 Jan 2020", "1-Jan-2020 ", " 1-Jan-2020", "111-Jan-2020",
		"a-Jan-2020", "1-January-2020", "1-Jan-20x0",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(day(bad[i]), -99999);
}

void
test_datetime_parse(void)
{
	struct mk_time t;

	CU_ASSERT_EQUAL(dt("17-Jul-1996 02:44:25 -0700", &t), 0);
	CU_ASSERT_EQUAL(t.t, 837596665);
	CU_ASSERT_EQUAL(t.tz, -420);
	CU_ASSERT_EQUAL(dt(" 1-Jan-1970 00:00:00 +0000", &t), 0);
	CU_ASSERT_EQUAL(t.t, 0);
	CU_ASSERT_EQUAL(dt("1-Jan-1970 01:00:00 +0100", &t), 0);
	CU_ASSERT_EQUAL(t.t, 0);
	CU_ASSERT_EQUAL(t.tz, 60);
	CU_ASSERT_EQUAL(dt("31-Dec-2023 23:59:60 +0530", &t), 0);
	CU_ASSERT_EQUAL(t.tz, 330);
}

void
test_datetime_parse_errors(void)
{
	static const char *bad[] = {
		"", "17-Jul-1996 02:44:25", "17-Jul-1996 02:44:25 0700",
		"17-Jul-1996 24:00:00 +0000", "17-Jul-1996 02:60:00 +0000",
		"17-Jul-1996 02:44:61 +0000", "17-Jul-1996 02:44:25 +0760",
		"17-Jul-1996 2:44:25 +0000", "17-Jul-96 02:44:25 +0000",
		"17-Jul-1996T02:44:25 +0000", "32-Jul-1996 02:44:25 +0000",
		"17-Jul-1996 02:44:25 +00000", "17 Jul 1996 02:44:25 +0000",
	};
	struct mk_time t;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dt(bad[i], &t) != -1)
			fprintf(stderr, "\n  accepted \"%s\"\n", bad[i]);
		CU_ASSERT_EQUAL(dt(bad[i], &t), -1);
	}
}

void
test_datetime_format_roundtrip(void)
{
	static const char *in[] = {
		"17-Jul-1996 02:44:25 -0700", "01-Jan-1970 00:00:00 +0000",
		"29-Feb-2024 12:34:56 +1400", "31-Dec-9999 23:59:59 -1200",
		"05-Mar-2001 00:00:01 +0545",
	};
	struct mk_time t;
	char out[32];
	size_t i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(dt(in[i], &t), 0);
		imapdate_format_datetime(&t, out);
		CU_ASSERT_EQUAL(strlen(out), 26);
		CU_ASSERT_STRING_EQUAL(out, in[i]);
	}
	/* Out of range instants are clamped, still 26 chars. */
	t.t = INT64_MAX / 2;
	t.tz = 0;
	imapdate_format_datetime(&t, out);
	CU_ASSERT_STRING_EQUAL(out, "31-Dec-9999 23:59:59 +0000");
	t.t = -INT64_MAX / 2;
	imapdate_format_datetime(&t, out);
	CU_ASSERT_STRING_EQUAL(out, "01-Jan-0000 00:00:00 +0000");
	/* No overflow at the extremes, whatever the zone. */
	t.t = INT64_MAX;
	t.tz = 600;
	imapdate_format_datetime(&t, out);
	CU_ASSERT_STRING_EQUAL(out, "31-Dec-9999 23:59:59 +1000");
	(void)imapdate_day(&t);
	t.t = INT64_MIN;
	t.tz = -600;
	imapdate_format_datetime(&t, out);
	CU_ASSERT_STRING_EQUAL(out, "01-Jan-0000 00:00:00 -1000");
	(void)imapdate_day(&t);
	t.tz = 100000;
	imapdate_format_datetime(&t, out);
	CU_ASSERT_EQUAL(strlen(out), 26);
}

void
test_date_day_in_own_zone(void)
{
	struct mk_time t;

	/* 23:30 at -0100 is already the next day in UTC, but not locally. */
	CU_ASSERT_EQUAL(dt("01-Jan-1970 23:30:00 -0100", &t), 0);
	CU_ASSERT_EQUAL(imapdate_day(&t), 0);
	CU_ASSERT_EQUAL(dt("01-Jan-1970 00:30:00 +0100", &t), 0);
	CU_ASSERT_EQUAL(t.t, -1800);
	CU_ASSERT_EQUAL(imapdate_day(&t), 0);
	t.tz = 0;
	CU_ASSERT_EQUAL(imapdate_day(&t), -1);
}

/* Parses an RFC 5322 date and writes it back as an IMAP date-time. */
static const char *
hdr(const char *s)
{
	static char out[32];
	struct mk_time t;

	if (r5322(s, &t) == -1)
		return "ERR";
	imapdate_format_datetime(&t, out);
	return out;
}

void
test_rfc5322_dates(void)
{
	CU_ASSERT_STRING_EQUAL(hdr("Tue, 1 Jul 2003 10:52:37 +0200"),
	    "01-Jul-2003 10:52:37 +0200");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jul 2003 10:52:37 +0200"),
	    "01-Jul-2003 10:52:37 +0200");
	CU_ASSERT_STRING_EQUAL(hdr("Fri, 21 Nov 1997 09:55:06 -0600"),
	    "21-Nov-1997 09:55:06 -0600");
	/* Trailing comment, extra whitespace, folding. */
	CU_ASSERT_STRING_EQUAL(hdr("  Mon,  7 Jan 2019\r\n 08:00:00 +0100 (CET)  "),
	    "07-Jan-2019 08:00:00 +0100");
	CU_ASSERT_STRING_EQUAL(hdr("Thu, 13 Feb 1969 23:32 -0330 (Newfoundland Time)"),
	    "13-Feb-1969 23:32:00 -0330");
	/* Comments anywhere. */
	CU_ASSERT_STRING_EQUAL(hdr("(x) Mon (y), 7 (z) Jan 2019 08:00:00 +0000"),
	    "07-Jan-2019 08:00:00 +0000");
}

void
test_rfc5322_obsolete_years(void)
{
	CU_ASSERT_STRING_EQUAL(hdr("21 Nov 97 09:55:06 GMT"),
	    "21-Nov-1997 09:55:06 +0000");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 49 00:00:00 +0000"),
	    "01-Jan-2049 00:00:00 +0000");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 50 00:00:00 +0000"),
	    "01-Jan-1950 00:00:00 +0000");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 103 00:00:00 +0000"),
	    "01-Jan-2003 00:00:00 +0000");
}

void
test_rfc5322_zones(void)
{
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 UT"), "01-Jan-2000 12:00:00 +0000");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 EST"), "01-Jan-2000 12:00:00 -0500");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 EDT"), "01-Jan-2000 12:00:00 -0400");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 CST"), "01-Jan-2000 12:00:00 -0600");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 CDT"), "01-Jan-2000 12:00:00 -0500");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 MST"), "01-Jan-2000 12:00:00 -0700");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 MDT"), "01-Jan-2000 12:00:00 -0600");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 pst"), "01-Jan-2000 12:00:00 -0800");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 PDT"), "01-Jan-2000 12:00:00 -0700");
	/* Military letters and unknown names: +0000 (RFC 5322 4.3). */
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 Z"), "01-Jan-2000 12:00:00 +0000");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 A"), "01-Jan-2000 12:00:00 +0000");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 CET"), "01-Jan-2000 12:00:00 +0000");
	/* No zone at all. */
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00"), "01-Jan-2000 12:00:00 +0000");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00"), "01-Jan-2000 12:00:00 +0000");
	CU_ASSERT_STRING_EQUAL(hdr("1 Jan 2000 12:00:00 -0000"), "01-Jan-2000 12:00:00 +0000");
}

void
test_rfc5322_instant(void)
{
	struct mk_time t;

	CU_ASSERT_EQUAL(r5322("Thu, 01 Jan 1970 01:00:00 +0100", &t), 0);
	CU_ASSERT_EQUAL(t.t, 0);
	CU_ASSERT_EQUAL(t.tz, 60);
	CU_ASSERT_EQUAL(r5322("Wed, 31 Dec 1969 19:00:00 EST", &t), 0);
	CU_ASSERT_EQUAL(t.t, 0);
}

void
test_rfc5322_garbage(void)
{
	static const char *bad[] = {
		"", "   ", "(comment only)", "Mon,", "yesterday", "1 Foo 2000 12:00",
		"32 Jan 2000 12:00:00", "1 Jan 2000", "1 Jan 2000 25:00",
		"1 Jan 2000 12", "1 Jan 2000 12:61", "29 Feb 1900 00:00", "Jan 2000",
		"1 Jan 7 12:00",
	};
	struct mk_time t;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (r5322(bad[i], &t) != -1)
			fprintf(stderr, "\n  accepted \"%s\"\n", bad[i]);
		CU_ASSERT_EQUAL(r5322(bad[i], &t), -1);
	}
}
