/*
 * test_import_parse.c - the formats mailkeepctl import reads
 * (daemon/ctl/import_parse.c): Maildir file-name info and folder names,
 * dovecot-uidlist (versions 1 and 3), dovecot-keywords, subscription
 * files (Dovecot 1 and 2, Courier), and mbox: From_ lines, splitting,
 * the Status/X-Status/X-Keywords/X-UID/X-IMAPbase headers, mboxrd
 * unescaping and the removal of the mbox's own headers.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/ctl/import_parse.h"
#include "store/store.h"

/* ---- Maildir ---- */

void
test_info_flags(void)
{
	uint32_t kw;

	CU_ASSERT_EQUAL(maildir_info_flags("1.M2P3.h,S=5:2,DFRST", &kw),
	    MF_DRAFT | MF_FLAGGED | MF_ANSWERED | MF_SEEN | MF_DELETED);
	CU_ASSERT_EQUAL(kw, 0);
	CU_ASSERT_EQUAL(maildir_info_flags("1.M2P3.h:2,Sac", &kw), MF_SEEN);
	CU_ASSERT_EQUAL(kw, (1u << 0) | (1u << 2));
	CU_ASSERT_EQUAL(maildir_info_flags("1.M2P3.h:2,Pz", &kw), 0);
	CU_ASSERT_EQUAL(kw, 1u << 25);
	/* no info (a file in new/), an experimental ":1," info */
	CU_ASSERT_EQUAL(maildir_info_flags("1.M2P3.h,S=5,W=6", &kw), 0);
	CU_ASSERT_EQUAL(maildir_info_flags("1.M2P3.h:1,S", &kw), 0);
	/* Dovecot's extra fields after a comma are not flags */
	CU_ASSERT_EQUAL(maildir_info_flags("x:2,S,ZZZ", &kw), MF_SEEN);
}

void
test_base_len(void)
{
	CU_ASSERT_EQUAL(maildir_base_len("1.M2P3.h,S=5,W=6:2,S"), 16);
	CU_ASSERT_EQUAL(maildir_base_len("plain"), 5);
}

void
test_folder_names(void)
{
	char out[64];

	CU_ASSERT_TRUE(maildir_folder_name(".Work.Sub", out, sizeof(out)));
	CU_ASSERT_STRING_EQUAL(out, "Work/Sub");
	CU_ASSERT_TRUE(maildir_folder_name(".Sent", out, sizeof(out)));
	CU_ASSERT_STRING_EQUAL(out, "Sent");
	CU_ASSERT_TRUE(maildir_folder_name(".INBOX.x", out, sizeof(out)));
	CU_ASSERT_STRING_EQUAL(out, "INBOX/x");
	CU_ASSERT_TRUE(maildir_folder_name(".&AMk-t&AOk-", out, sizeof(out)));
	CU_ASSERT_STRING_EQUAL(out, "&AMk-t&AOk-");
	CU_ASSERT_FALSE(maildir_folder_name(".", out, sizeof(out)));
	CU_ASSERT_FALSE(maildir_folder_name("..", out, sizeof(out)));
	CU_ASSERT_FALSE(maildir_folder_name("cur", out, sizeof(out)));
	CU_ASSERT_FALSE(maildir_folder_name(".a..b", out, sizeof(out)));
	CU_ASSERT_FALSE(maildir_folder_name(".a.", out, sizeof(out)));
	CU_ASSERT_FALSE(maildir_folder_name("..a", out, sizeof(out)));
	CU_ASSERT_FALSE(maildir_folder_name(".toolong", out, 5));
}

static bool
hdr(const char *s, struct uidlist_hdr *h)
{
	return uidlist_header(s, strlen(s), h);
}

void
test_uidlist_header(void)
{
	struct uidlist_hdr h;

	CU_ASSERT_TRUE(hdr("3 V1796280889 N17 G4ac77c323912116b2254000083ecc375",
	    &h));
	CU_ASSERT_EQUAL(h.version, 3);
	CU_ASSERT_EQUAL(h.uidvalidity, 1796280889u);
	CU_ASSERT_EQUAL(h.nextuid, 17);
	/* fields in another order */
	CU_ASSERT_TRUE(hdr("3 N5 V7", &h));
	CU_ASSERT_EQUAL(h.uidvalidity, 7);
	CU_ASSERT_EQUAL(h.nextuid, 5);
	/* version 1 (Dovecot 1, and Courier's courierimapuiddb) */
	CU_ASSERT_TRUE(hdr("1 1234 56", &h));
	CU_ASSERT_EQUAL(h.version, 1);
	CU_ASSERT_EQUAL(h.uidvalidity, 1234);
	CU_ASSERT_EQUAL(h.nextuid, 56);
	CU_ASSERT_FALSE(hdr("3 N5", &h));		/* no UIDVALIDITY */
	CU_ASSERT_FALSE(hdr("4 V1 N2", &h));		/* unknown version */
	CU_ASSERT_FALSE(hdr("3 V99999999999 N2", &h));	/* beyond 32 bits */
	CU_ASSERT_FALSE(hdr("1 12", &h));
	CU_ASSERT_FALSE(hdr("", &h));
	CU_ASSERT_FALSE(hdr("V1 N2", &h));
}

static bool
rec(const char *s, unsigned v, uint32_t *uid, char *base)
{
	const char *b;
	size_t n;

	if (!uidlist_record(s, strlen(s), v, uid, &b, &n))
		return false;
	memcpy(base, b, n);
	base[n] = '\0';
	return true;
}

void
test_uidlist_record(void)
{
	char base[128];
	uint32_t uid;

	CU_ASSERT_TRUE(rec("1 :1796280889.M846813P21538.vm,S=30,W=34", 3, &uid,
	    base));
	CU_ASSERT_EQUAL(uid, 1);
	CU_ASSERT_STRING_EQUAL(base, "1796280889.M846813P21538.vm,S=30,W=34");
	/* extension fields before the name */
	CU_ASSERT_TRUE(rec("42 W1234 S1200 G0123 :b.x", 3, &uid, base));
	CU_ASSERT_EQUAL(uid, 42);
	CU_ASSERT_STRING_EQUAL(base, "b.x");
	/* an info part is not part of the base */
	CU_ASSERT_TRUE(rec("7 :b.y:2,S", 3, &uid, base));
	CU_ASSERT_STRING_EQUAL(base, "b.y");
	CU_ASSERT_TRUE(rec("9 c.z", 1, &uid, base));
	CU_ASSERT_EQUAL(uid, 9);
	CU_ASSERT_STRING_EQUAL(base, "c.z");
	CU_ASSERT_FALSE(rec("0 :a", 3, &uid, base));		/* UID 0 */
	CU_ASSERT_FALSE(rec("5 a", 3, &uid, base));		/* no " :" */
	CU_ASSERT_FALSE(rec("5 :../x", 3, &uid, base));	/* a path */
	CU_ASSERT_FALSE(rec("5 :", 3, &uid, base));
	CU_ASSERT_FALSE(rec("x :a", 3, &uid, base));
	CU_ASSERT_FALSE(rec("5", 1, &uid, base));
}

void
test_keywords(void)
{
	static const char text[] = "0 $Forwarded\n1 NonJunk\r\n25 Last\n"
	    "26 Beyond\nx Junk\n3\n4 \n";
	struct maildir_keywords kw;

	maildir_keywords_parse(text, sizeof(text) - 1, &kw);
	CU_ASSERT_STRING_EQUAL(kw.name[0], "$Forwarded");
	CU_ASSERT_STRING_EQUAL(kw.name[1], "NonJunk");
	CU_ASSERT_STRING_EQUAL(kw.name[25], "Last");
	CU_ASSERT_STRING_EQUAL(kw.name[2], "");
	CU_ASSERT_STRING_EQUAL(kw.name[3], "");
	CU_ASSERT_STRING_EQUAL(kw.name[4], "");
}

struct names {
	char v[8][64];
	int  n;
};

static void
collect(const char *name, void *arg)
{
	struct names *ns = arg;

	if (ns->n < 8)
		strcpy(ns->v[ns->n++], name);
}

static void
subs(const char *text, struct names *ns)
{
	memset(ns, 0, sizeof(*ns));
	subscriptions_parse(text, strlen(text), collect, ns);
}

void
test_subscriptions(void)
{
	struct names ns;

	subs("V\t2\n\nWork\tSub\nINBOX\n", &ns);	/* Dovecot 2.3 */
	CU_ASSERT_EQUAL(ns.n, 2);
	CU_ASSERT_STRING_EQUAL(ns.v[0], "Work/Sub");
	CU_ASSERT_STRING_EQUAL(ns.v[1], "INBOX");
	subs("Work.Sub\nSent\n", &ns);			/* older: as written */
	CU_ASSERT_EQUAL(ns.n, 2);
	CU_ASSERT_STRING_EQUAL(ns.v[0], "Work.Sub");
	subs("INBOX.Work.Sub\nINBOX\n", &ns);		/* Courier */
	CU_ASSERT_EQUAL(ns.n, 2);
	CU_ASSERT_STRING_EQUAL(ns.v[0], "Work/Sub");
	CU_ASSERT_STRING_EQUAL(ns.v[1], "INBOX");
}

/* ---- mbox ---- */

void
test_from_line(void)
{
	static const char with_zone[] = "From a@b Fri Nov  5 01:02:03 2004 +0200";
	static const char remote[] = "From a@b Fri Nov  5 01:02:03 2004 "
	    "remote from x";
	static const char spaced[] = "From \"a b\"@c Fri Nov  5 01:02:03 2004";
	int64_t t;
	int tz;

	CU_ASSERT_TRUE(mbox_from_line(with_zone, strlen(with_zone), &t, &tz));
	CU_ASSERT_EQUAL(tz, 120);
	CU_ASSERT_EQUAL(t, 1099609323);	/* 2004-11-04 23:02:03Z */
	setenv("TZ", "UTC", 1);
	tzset();
	CU_ASSERT_TRUE(mbox_from_line(remote, strlen(remote), &t, &tz));
	CU_ASSERT_EQUAL(t, 1099609323 + 7200);
	CU_ASSERT_EQUAL(tz, 0);
	CU_ASSERT_TRUE(mbox_from_line(spaced, strlen(spaced), &t, &tz));
	CU_ASSERT_EQUAL(t, 1099609323 + 7200);
	CU_ASSERT_FALSE(mbox_from_line("From here on", 12, &t, &tz));
	CU_ASSERT_FALSE(mbox_from_line("From a Fri Nov 35 01:02:03 2004", 31, &t,
	    &tz));
	CU_ASSERT_FALSE(mbox_from_line("from a Fri Nov  5 01:02:03 2004", 31, &t,
	    &tz));
	CU_ASSERT_FALSE(mbox_from_line("From ", 5, &t, &tz));
}

static const char MBOX[] =
	"From a@b Mon Jan  1 00:00:00 2001\n"
	"Subject: one\n"
	"\n"
	"From here on, no From_ line\n"
	"\n"
	"From c@d Tue Jan  2 00:00:00 2001\n"
	"Subject: two\n"
	"\n"
	"body\n"
	"\n"
	"From e@f Wed Jan  3 00:00:00 2001\n"
	"Subject: three, no final newline";

void
test_mbox_split(void)
{
	size_t n = sizeof(MBOX) - 1, pos = 0;
	struct mbox_msg m;

	CU_ASSERT_TRUE(mbox_next(MBOX, n, &pos, &m));
	CU_ASSERT_EQUAL(m.from, 0);
	CU_ASSERT_EQUAL(m.len, strlen("Subject: one\n\nFrom here on, no From_ "
	    "line\n"));
	CU_ASSERT_EQUAL(memcmp(MBOX + m.off, "Subject: one\n", 13), 0);
	CU_ASSERT_EQUAL(m.date, 978307200);
	CU_ASSERT_TRUE(mbox_next(MBOX, n, &pos, &m));
	CU_ASSERT_EQUAL(m.len, strlen("Subject: two\n\nbody\n"));
	CU_ASSERT_TRUE(mbox_next(MBOX, n, &pos, &m));
	CU_ASSERT_EQUAL(m.off + m.len, n);
	CU_ASSERT_FALSE(mbox_next(MBOX, n, &pos, &m));
	/* not an mbox */
	pos = 0;
	CU_ASSERT_FALSE(mbox_next("Subject: x\n", 11, &pos, &m));
}

void
test_mbox_split_crlf(void)
{
	static const char crlf[] = "From a@b Mon Jan  1 00:00:00 2001\r\n"
	    "Subject: one\r\n\r\nx\r\n\r\n"
	    "From c@d Tue Jan  2 00:00:00 2001\r\nSubject: two\r\n\r\ny\r\n";
	size_t pos = 0;
	struct mbox_msg m;

	CU_ASSERT_TRUE(mbox_next(crlf, sizeof(crlf) - 1, &pos, &m));
	CU_ASSERT_EQUAL(m.len, strlen("Subject: one\r\n\r\nx\r\n"));
	CU_ASSERT_TRUE(mbox_next(crlf, sizeof(crlf) - 1, &pos, &m));
	CU_ASSERT_EQUAL(m.len, strlen("Subject: two\r\n\r\ny\r\n"));
}

void
test_mbox_meta(void)
{
	static const char msg[] =
	    "X-IMAPbase: 1234567 42 $Label1\n"
	    "Status: RO\n"
	    "X-Status: AFT\n"
	    "X-Keywords: $Label1, Work\n"
	    "X-UID: 17\n"
	    "Subject: s\n"
	    "\n"
	    "Status: D\n";
	struct mbox_meta meta;

	mbox_meta_parse(msg, sizeof(msg) - 1, &meta);
	CU_ASSERT_EQUAL(meta.flags, MF_SEEN | MF_ANSWERED | MF_FLAGGED |
	    MF_DRAFT);
	CU_ASSERT_STRING_EQUAL(meta.keywords, "$Label1  Work");
	CU_ASSERT_EQUAL(meta.uid, 17);
	CU_ASSERT_EQUAL(meta.uidvalidity, 1234567);
	CU_ASSERT_EQUAL(meta.uidnext, 42);
	mbox_meta_parse("X-Status: D\n\n", 13, &meta);
	CU_ASSERT_EQUAL(meta.flags, MF_DELETED);
	CU_ASSERT_EQUAL(meta.uid, 0);
}

static char *
unescaped(const char *in)
{
	static char out[1024];
	size_t n = mbox_unescape(in, strlen(in), out);

	CU_ASSERT(n <= strlen(in));
	out[n] = '\0';
	return out;
}

void
test_mbox_unescape(void)
{
	CU_ASSERT_STRING_EQUAL(unescaped(
	    "Status: RO\n"
	    "Subject: s\n"
	    "X-Keywords: a\n"
	    " b folded\n"
	    "content-length: 5\n"
	    "X-UID: 3\n"
	    "\n"
	    ">From a\n"
	    ">>From b\n"
	    ">Fromage\n"
	    "From\n"
	    "Status: in the body\n"
	    ">From"),
	    "Subject: s\n"
	    "\n"
	    "From a\n"
	    ">From b\n"
	    ">Fromage\n"
	    "From\n"
	    "Status: in the body\n"
	    ">From");
	/* headers only, no blank line */
	CU_ASSERT_STRING_EQUAL(unescaped("Status: O\nSubject: x\n"),
	    "Subject: x\n");
	CU_ASSERT_STRING_EQUAL(unescaped(""), "");
	CU_ASSERT_STRING_EQUAL(unescaped("\r\n>From x\r\n"), "\r\nFrom x\r\n");
}
