/*
 * test_imap_parse_fetch.c - FETCH (macros, every attribute, sections,
 * partials, BINARY, CONDSTORE/QRESYNC modifiers) and STORE.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/imap.h"
#include "parse_helpers.h"

int
test_imap_parse_fetch_cleanup(void)
{
	arena_free(&ph_arena);
	return 0;
}

static size_t
natts(void)
{
	size_t n = 0;
	const struct fetch_att *a;

	for (a = C.u.fetch.atts; a != NULL; a = a->next)
		n++;
	return n;
}

static const struct fetch_att *
att(size_t i)
{
	const struct fetch_att *a = C.u.fetch.atts;

	while (a != NULL && i-- > 0)
		a = a->next;
	return a;
}

/* The single attribute of "a FETCH 1 <s>". */
static const struct fetch_att *
one(const char *s)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "a FETCH 1 %s", s);
	if (parse(buf) != 0) {
		fprintf(stderr, "\n  %s: BAD %s\n", buf, E);
		return NULL;
	}
	CU_ASSERT_EQUAL(natts(), 1);
	return C.u.fetch.atts;
}

void
test_fetch_macros(void)
{
	OK("a FETCH 1:* ALL");
	CU_ASSERT_EQUAL(C.id, CMD_FETCH);
	CU_ASSERT_EQUAL_FATAL(natts(), 4);
	CU_ASSERT_EQUAL(att(0)->item, FI_FLAGS);
	CU_ASSERT_EQUAL(att(1)->item, FI_INTERNALDATE);
	CU_ASSERT_EQUAL(att(2)->item, FI_RFC822_SIZE);
	CU_ASSERT_EQUAL(att(3)->item, FI_ENVELOPE);
	OK("a FETCH 1 fast");
	CU_ASSERT_EQUAL(natts(), 3);
	OK("a FETCH 1 FULL");
	CU_ASSERT_EQUAL_FATAL(natts(), 5);
	CU_ASSERT_EQUAL(att(4)->item, FI_BODY);
	/* Macros stand alone, never inside a list. */
	BAD("a FETCH 1 (ALL)", "Unknown FETCH attribute ALL");
	BAD("a FETCH 1 (FLAGS FAST)", "Unknown FETCH attribute FAST");
	BAD("a FETCH 1 ALL FLAGS", "Expected '(' before FETCH modifiers");
}

void
test_fetch_simple_atts(void)
{
	static const struct { const char *s; enum fetch_item item; } t[] = {
		{ "FLAGS", FI_FLAGS }, { "uid", FI_UID },
		{ "INTERNALDATE", FI_INTERNALDATE }, { "RFC822.SIZE", FI_RFC822_SIZE },
		{ "ENVELOPE", FI_ENVELOPE }, { "BODY", FI_BODY },
		{ "BODYSTRUCTURE", FI_BODYSTRUCTURE }, { "RFC822", FI_RFC822 },
		{ "RFC822.HEADER", FI_RFC822_HEADER }, { "rfc822.text", FI_RFC822_TEXT },
		{ "MODSEQ", FI_MODSEQ },
	};
	const struct fetch_att *a;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		a = one(t[i].s);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_EQUAL(a->item, t[i].item);
		CU_ASSERT_FALSE(a->peek);
		CU_ASSERT_FALSE(a->partial);
	}
	OK("a FETCH 2:4 (FLAGS UID RFC822.SIZE BODYSTRUCTURE MODSEQ)");
	CU_ASSERT_EQUAL_FATAL(natts(), 5);
	CU_ASSERT_EQUAL(att(4)->item, FI_MODSEQ);
	CU_ASSERT_EQUAL(C.u.fetch.set.r[0].lo, 2);
	CU_ASSERT_EQUAL(C.u.fetch.set.r[0].hi, 4);
}

void
test_fetch_body_sections(void)
{
	const struct fetch_att *a;

	a = one("BODY[]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->item, FI_BODY_SECTION);
	CU_ASSERT_FALSE(a->peek);
	CU_ASSERT_EQUAL(a->sec.spec, SEC_WHOLE);
	CU_ASSERT_EQUAL(a->sec.npart, 0);

	a = one("BODY.PEEK[HEADER]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_TRUE(a->peek);
	CU_ASSERT_EQUAL(a->sec.spec, SEC_HEADER);

	a = one("body[text]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->sec.spec, SEC_TEXT);

	a = one("BODY[1.2.3]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->sec.spec, SEC_WHOLE);
	CU_ASSERT_EQUAL_FATAL(a->sec.npart, 3);
	CU_ASSERT_EQUAL(a->sec.part[0], 1);
	CU_ASSERT_EQUAL(a->sec.part[2], 3);

	a = one("BODY[4.2.MIME]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->sec.spec, SEC_MIME);
	CU_ASSERT_EQUAL(a->sec.npart, 2);

	a = one("BODY[3.HEADER]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->sec.spec, SEC_HEADER);
	CU_ASSERT_EQUAL(a->sec.npart, 1);

	a = one("BODY[2.1.TEXT]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->sec.spec, SEC_TEXT);

	a = one("BODY.PEEK[HEADER.FIELDS (DATE FROM \"Subject\" {2}\r\nTo)]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->sec.spec, SEC_HEADER_FIELDS);
	CU_ASSERT_EQUAL_FATAL(a->sec.nfields, 4);
	CU_ASSERT_STRING_EQUAL(a->sec.fields[0], "DATE");
	CU_ASSERT_STRING_EQUAL(a->sec.fields[2], "Subject");
	CU_ASSERT_STRING_EQUAL(a->sec.fields[3], "To");

	a = one("BODY[1.HEADER.FIELDS.NOT (Received)]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->sec.spec, SEC_HEADER_FIELDS_NOT);
	CU_ASSERT_EQUAL(a->sec.npart, 1);
	CU_ASSERT_EQUAL(a->sec.nfields, 1);

	a = one("BODY[4294967295]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->sec.part[0], 4294967295u);
}

void
test_fetch_partials(void)
{
	const struct fetch_att *a;

	a = one("BODY[]<0.2048>");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_TRUE(a->partial);
	CU_ASSERT_EQUAL(a->offset, 0);
	CU_ASSERT_EQUAL(a->count, 2048);
	a = one("BODY.PEEK[1.TEXT]<100.4294967295>");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->offset, 100);
	CU_ASSERT_EQUAL(a->count, 4294967295u);
	a = one("BINARY.PEEK[1]<5.10>");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_TRUE(a->partial);
	BAD("a FETCH 1 BODY[]<0.0>", "Invalid partial length: 0");
	BAD("a FETCH 1 BODY[]<0>", "Expected '.' in partial range");
	BAD("a FETCH 1 BODY[]<0.5", "Expected '>' after partial range");
	BAD("a FETCH 1 BODY[]<.5>", "Invalid partial offset");
	BAD("a FETCH 1 BODY[]<4294967296.1>", "partial offset out of range");
	BAD("a FETCH 1 BINARY.SIZE[1]<0.5>", "Expected SP after FETCH attributes");
}

void
test_fetch_binary(void)
{
	const struct fetch_att *a;

	a = one("BINARY[]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->item, FI_BINARY);
	CU_ASSERT_FALSE(a->peek);
	CU_ASSERT_EQUAL(a->sec.npart, 0);
	a = one("BINARY.PEEK[1.2]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->item, FI_BINARY);
	CU_ASSERT_TRUE(a->peek);
	CU_ASSERT_EQUAL(a->sec.npart, 2);
	a = one("BINARY.SIZE[3]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->item, FI_BINARY_SIZE);
	CU_ASSERT_EQUAL(a->sec.part[0], 3);
	BAD("a FETCH 1 BINARY[HEADER]", "Invalid BINARY section");
	BAD("a FETCH 1 BINARY[1.MIME]", "Expected ']' after section");
	BAD("a FETCH 1 BINARY", "Expected section after BINARY");
	BAD("a FETCH 1 BINARY.PEEK", "Expected section after BINARY.PEEK");
	BAD("a FETCH 1 BINARY.SIZE", "Expected section after BINARY.SIZE");
}

void
test_fetch_errors(void)
{
	BAD("a FETCH 1 FOO", "Unknown FETCH attribute FOO");
	BAD("a FETCH 1 (FLAGS FOO)", "Unknown FETCH attribute FOO");
	BAD("a FETCH 1 BODY.PEEK", "Expected section after BODY.PEEK");
	BAD("a FETCH 1 BODY[MIME]", "Invalid section MIME");
	BAD("a FETCH 1 BODY[HEADER.FIELDS]", "Expected SP after HEADER.FIELDS");
	BAD("a FETCH 1 BODY[HEADER.FIELDS ()]", "Invalid header field name");
	/* "A]" is an astring: the list never closes */
	BAD("a FETCH 1 BODY[HEADER.FIELDS (A]", "Missing ')'");
	BAD("a FETCH 1 BODY[HEADER.FIELDS (A)", "Expected ']' after section");
	BAD("a FETCH 1 BODY[FOO]", "Invalid section FOO");
	BAD("a FETCH 1 BODY[0]", "Invalid section part number: 0");
	BAD("a FETCH 1 BODY[1.]", "Invalid section");
	BAD("a FETCH 1 BODY[1..2]", "Invalid section");
	BAD("a FETCH 1 BODY[1.2", "Expected ']' after section");
	BAD("a FETCH 1 BODY[", "Invalid section");
	BAD("a FETCH 1 BODY[4294967296]", "section part number out of range");
	BAD("a FETCH 1 BODY[HEADER]x", "Expected SP after FETCH attributes");
	BAD("a FETCH 1 ()", "Invalid FETCH attribute");
	BAD("a FETCH 1 (FLAGS", "Missing ')' after FETCH attributes");
	BAD("a FETCH 1 (FLAGS  UID)", "Invalid FETCH attribute");
	BAD("a FETCH 1", "Missing FETCH attributes");
	BAD("a FETCH", "Missing sequence set");
	BAD("a FETCH 1,2: FLAGS", "Invalid sequence set");
	BAD("a FETCH 1 FLAGS)", "Expected SP after FETCH attributes");
}

void
test_fetch_part_depth_limit(void)
{
	char s[1024];
	size_t n;
	int i;

	n = (size_t)snprintf(s, sizeof(s), "a FETCH 1 BODY[1");
	for (i = 1; i < 64; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, ".1");
	snprintf(s + n, sizeof(s) - n, "]");
	OK(s);
	CU_ASSERT_EQUAL(C.u.fetch.atts->sec.npart, 64);
	snprintf(s + n, sizeof(s) - n, ".1]");
	BAD(s, "Section part numbers nested too deep");
}

void
test_fetch_att_limits(void)
{
	char s[8192];
	size_t n;
	int i;

	n = (size_t)snprintf(s, sizeof(s), "a FETCH 1 (");
	for (i = 0; i < 64; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%sFLAGS", i ? " " : "");
	snprintf(s + n, sizeof(s) - n, ")");
	OK(s);
	CU_ASSERT_EQUAL(natts(), 64);
	snprintf(s + n, sizeof(s) - n, " UID)");
	BAD(s, "Too many FETCH attributes");

	n = (size_t)snprintf(s, sizeof(s), "a FETCH 1 BODY[HEADER.FIELDS (");
	for (i = 0; i < 256; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%sH%d", i ? " " : "", i);
	snprintf(s + n, sizeof(s) - n, ")]");
	OK(s);
	CU_ASSERT_EQUAL(C.u.fetch.atts->sec.nfields, 256);
	snprintf(s + n, sizeof(s) - n, " X)]");
	BAD(s, "Too many header field names");
}

void
test_fetch_modifiers(void)
{
	OK("a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)");
	CU_ASSERT_TRUE(C.u.fetch.changedsince_set);
	CU_ASSERT_EQUAL(C.u.fetch.changedsince, 12345);
	CU_ASSERT_FALSE(C.u.fetch.vanished);
	OK("a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)");
	CU_ASSERT_TRUE(C.uid);
	CU_ASSERT_TRUE(C.u.fetch.vanished);
	OK("a UID FETCH 1:* FLAGS (vanished changedsince 1)");
	CU_ASSERT_TRUE(C.u.fetch.vanished);
	CU_ASSERT_EQUAL(C.u.fetch.changedsince, 1);
	OK("a FETCH 1 ALL (CHANGEDSINCE 0)");
	CU_ASSERT_TRUE(C.u.fetch.changedsince_set);
	BAD("a FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)", "VANISHED requires UID FETCH");
	BAD("a UID FETCH 1:* (FLAGS) (VANISHED)", "VANISHED requires CHANGEDSINCE");
	BAD("a FETCH 1 FLAGS (CHANGEDSINCE)", "Expected SP after CHANGEDSINCE");
	BAD("a FETCH 1 FLAGS (CHANGEDSINCE x)", "Invalid mod-sequence");
	BAD("a FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)", "Duplicate FETCH modifier");
	BAD("a FETCH 1 FLAGS (FOO)", "Unknown FETCH modifier FOO");
	BAD("a FETCH 1 FLAGS ()", "Invalid FETCH modifier");
	BAD("a FETCH 1 FLAGS (CHANGEDSINCE 1", "Missing ')'");
	BAD("a FETCH 1 FLAGS (CHANGEDSINCE 1) x", "Unexpected extra arguments");
}

void
test_fetch_uid_and_sets(void)
{
	OK("a UID FETCH 1:4,7,9:* (UID FLAGS)");
	CU_ASSERT_TRUE(C.uid);
	CU_ASSERT_STRING_EQUAL(C.name, "FETCH");
	CU_ASSERT_EQUAL_FATAL(C.u.fetch.set.n, 3);
	CU_ASSERT_EQUAL(C.u.fetch.set.r[2].hi, SEQ_STAR);
	OK("a FETCH $ FLAGS");
	CU_ASSERT_TRUE(C.u.fetch.set.dollar);
	BAD("a UID FETCH 1:4,$ FLAGS", "Invalid sequence set");
	BAD("a FETCH * FLAGS(", "Expected SP after FETCH attributes");
}

/* ---- STORE ---- */

void
test_store_forms(void)
{
	OK("a STORE 2:4 +FLAGS (\\Deleted)");
	CU_ASSERT_EQUAL(C.id, CMD_STORE);
	CU_ASSERT_EQUAL(C.u.store.op, STORE_ADD);
	CU_ASSERT_FALSE(C.u.store.silent);
	CU_ASSERT_EQUAL_FATAL(C.u.store.nflags, 1);
	CU_ASSERT_STRING_EQUAL(C.u.store.flags[0], "\\Deleted");
	CU_ASSERT_FALSE(C.u.store.unchangedsince_set);
	OK("a STORE 1 -FLAGS.SILENT (\\Seen $Forwarded)");
	CU_ASSERT_EQUAL(C.u.store.op, STORE_REMOVE);
	CU_ASSERT_TRUE(C.u.store.silent);
	CU_ASSERT_EQUAL(C.u.store.nflags, 2);
	CU_ASSERT_STRING_EQUAL(C.u.store.flags[1], "$Forwarded");
	OK("a STORE 1 FLAGS ()");
	CU_ASSERT_EQUAL(C.u.store.op, STORE_REPLACE);
	CU_ASSERT_EQUAL(C.u.store.nflags, 0);
	OK("a UID STORE 1:* flags.silent \\Answered \\Flagged Junk");
	CU_ASSERT_TRUE(C.uid);
	CU_ASSERT_TRUE(C.u.store.silent);
	CU_ASSERT_EQUAL_FATAL(C.u.store.nflags, 3);
	CU_ASSERT_STRING_EQUAL(C.u.store.flags[2], "Junk");
	/* Extension flags are kept as sent. */
	OK("a STORE 1 +FLAGS (\\Xyz)");
	CU_ASSERT_STRING_EQUAL(C.u.store.flags[0], "\\Xyz");
	OK("a STORE 1 +FLAGS \\seen");
	CU_ASSERT_STRING_EQUAL(C.u.store.flags[0], "\\seen");
}

void
test_store_unchangedsince(void)
{
	OK("a STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)");
	CU_ASSERT_TRUE(C.u.store.unchangedsince_set);
	CU_ASSERT_EQUAL(C.u.store.unchangedsince, 320162338);
	CU_ASSERT_TRUE(C.u.store.silent);
	OK("a UID STORE 1 (unchangedsince 0) FLAGS ()");
	CU_ASSERT_EQUAL(C.u.store.unchangedsince, 0);
	BAD("a STORE 1 (UNCHANGEDSINCE) FLAGS ()", "Expected SP after UNCHANGEDSINCE");
	BAD("a STORE 1 (FOO 1) FLAGS ()", "Unknown STORE modifier FOO");
	BAD("a STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) FLAGS ()", "Duplicate STORE modifier");
	BAD("a STORE 1 (UNCHANGEDSINCE 1)FLAGS ()", "Expected SP after STORE modifiers");
	BAD("a STORE 1 (UNCHANGEDSINCE 1", "Missing ')'");
}

void
test_store_errors(void)
{
	BAD("a STORE 1 +FLAGS (\\Recent)", "\\Recent cannot be set");
	BAD("a STORE 1 +FLAGS \\Recent", "\\Recent cannot be set");
	BAD("a STORE 1 FLAGS (\\*)", "\\* is not a flag");
	BAD("a STORE 1 FLAGS \\*", "\\* is not a flag");
	BAD("a STORE 1 FLAGS (\\)", "Invalid flag");
	BAD("a STORE 1 FLAGS (\"x\")", "Invalid flag");
	BAD("a STORE 1 FLAGS (a b", "Missing ')' after flags");
	BAD("a STORE 1 FLAGS (a) b", "Unexpected extra arguments");
	BAD("a STORE 1 FLAGS a ", "Missing flag");
	BAD("a STORE 1 FLAGS", "Missing flags");
	BAD("a STORE 1 LABELS (a)", "Unknown STORE data item LABELS");
	BAD("a STORE 1 *FLAGS (a)", "Invalid STORE data item");
	BAD("a STORE 1 +FLAGS.LOUD (a)", "Unknown STORE data item FLAGS.LOUD");
	BAD("a STORE 1", "Missing STORE data item");
	BAD("a STORE x FLAGS (a)", "Invalid sequence set");
}

void
test_store_flag_limit(void)
{
	char s[8192];
	size_t n;
	int i;

	n = (size_t)snprintf(s, sizeof(s), "a STORE 1 FLAGS (");
	for (i = 0; i < 256; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%sk%d", i ? " " : "", i);
	snprintf(s + n, sizeof(s) - n, ")");
	OK(s);
	CU_ASSERT_EQUAL(C.u.store.nflags, 256);
	snprintf(s + n, sizeof(s) - n, " x)");
	BAD(s, "Too many flags");
}

/* RFC 8474, RFC 8514 and RFC 8970 items; PREVIEW's LAZY modifier. */
void
test_fetch_objectid_savedate_preview(void)
{
	CU_ASSERT_EQUAL(one("EMAILID")->item, FI_EMAILID);
	CU_ASSERT_EQUAL(one("threadid")->item, FI_THREADID);
	CU_ASSERT_EQUAL(one("SAVEDATE")->item, FI_SAVEDATE);
	CU_ASSERT_EQUAL(one("PREVIEW")->item, FI_PREVIEW);
	CU_ASSERT_FALSE(C.u.fetch.atts->lazy);
	CU_ASSERT_TRUE(one("PREVIEW (LAZY)")->lazy);
	CU_ASSERT_TRUE(one("(PREVIEW (lazy))")->lazy);
	OK("a FETCH 1 (UID PREVIEW (LAZY) EMAILID SAVEDATE THREADID)");
	CU_ASSERT_EQUAL(natts(), 5);
	CU_ASSERT_EQUAL(att(1)->item, FI_PREVIEW);
	CU_ASSERT_TRUE(att(1)->lazy);
	CU_ASSERT_EQUAL(att(2)->item, FI_EMAILID);
	CU_ASSERT_EQUAL(att(4)->item, FI_THREADID);
	/* a lone PREVIEW, then FETCH modifiers */
	OK("a FETCH 1 PREVIEW (CHANGEDSINCE 5)");
	CU_ASSERT_EQUAL(natts(), 1);
	CU_ASSERT_FALSE(C.u.fetch.atts->lazy);
	CU_ASSERT_TRUE(C.u.fetch.changedsince_set);
	OK("a FETCH 1 PREVIEW (LAZY) (CHANGEDSINCE 5)");
	CU_ASSERT_TRUE(C.u.fetch.atts->lazy);
	CU_ASSERT_TRUE(C.u.fetch.changedsince_set);
}

void
test_fetch_preview_errors(void)
{
	BAD("a FETCH 1 PREVIEW (LAZY LAZY)", "Duplicate PREVIEW modifier LAZY");
	BAD("a FETCH 1 (PREVIEW (LAZY FUZZY))", "Unknown PREVIEW modifier FUZZY");
	BAD("a FETCH 1 (PREVIEW (LAZY)", "Missing ')'");
	BAD("a FETCH 1 (PREVIEW (LAZY ))", "PREVIEW modifier");
	BAD("a FETCH 1 PREVIEW (FOO)", "Unknown FETCH modifier FOO");
	BAD("a FETCH 1 EMAILID[]", "Unknown FETCH attribute EMAILID");
}
