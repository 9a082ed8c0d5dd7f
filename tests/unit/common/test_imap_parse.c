/*
 * test_imap_parse.c - the parser's lexical layer (tags, atoms, quoted
 * strings, literals, literal8, NIL) and the typed output of every
 * command except FETCH, STORE and SEARCH (test_imap_parse_fetch.c,
 * test_imap_parse_search.c), with the BAD reasons for malformed input.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/imap.h"
#include "common/imap_frame.h"
#include "parse_helpers.h"

int
test_imap_parse_cleanup(void)
{
	arena_free(&ph_arena);
	return 0;
}

/* ---- tags and command names ---- */

void
test_parse_tags(void)
{
	OK("a1 NOOP");
	CU_ASSERT_STRING_EQUAL(C.tag, "a1");
	CU_ASSERT_EQUAL(C.id, CMD_NOOP);
	CU_ASSERT_STRING_EQUAL(C.name, "NOOP");
	OK("A]b.c-d NOOP");
	CU_ASSERT_STRING_EQUAL(C.tag, "A]b.c-d");
	OK("0123456789012345678901234567890123456789012345678901234567890123 NOOP");
	BAD("01234567890123456789012345678901234567890123456789012345678901234 NOOP",
	    "Invalid tag");
	CU_ASSERT_STRING_EQUAL(C.tag, "*");
	BAD("a+b NOOP", "Invalid tag");
	CU_ASSERT_STRING_EQUAL(C.tag, "*");
	BAD("+ NOOP", "Invalid tag");
	BAD("* NOOP", "Invalid tag");
	BAD("a(b NOOP", "Invalid tag");
	BAD("\"a\" NOOP", "Invalid tag");
	BAD("a{1} NOOP", "Invalid tag");
	BAD(" a NOOP", "Invalid tag");
	BAD("", "Invalid tag");
	BAD("abc", "Missing command name");
	CU_ASSERT_STRING_EQUAL(C.tag, "abc");
	BAD("abc ", "Missing command name");
	BAD("abc  NOOP", "Invalid command name");
}

void
test_parse_command_names(void)
{
	static const struct { const char *name; enum imap_cmd_id id; } all[] = {
		{ "CAPABILITY", CMD_CAPABILITY }, { "NOOP", CMD_NOOP },
		{ "LOGOUT", CMD_LOGOUT }, { "STARTTLS", CMD_STARTTLS },
		{ "NAMESPACE", CMD_NAMESPACE }, { "IDLE", CMD_IDLE },
		{ "CHECK", CMD_CHECK }, { "CLOSE", CMD_CLOSE },
		{ "UNSELECT", CMD_UNSELECT }, { "EXPUNGE", CMD_EXPUNGE },
	};
	char s[64];
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		snprintf(s, sizeof(s), "t %s", all[i].name);
		OK(s);
		CU_ASSERT_EQUAL(C.id, all[i].id);
		CU_ASSERT_STRING_EQUAL(C.name, all[i].name);
		CU_ASSERT_FALSE(C.uid);
		/* Extra arguments are BAD. */
		snprintf(s, sizeof(s), "t %s x", all[i].name);
		BAD(s, "Unexpected extra arguments");
		snprintf(s, sizeof(s), "t %s ", all[i].name);
		BAD(s, "Unexpected extra arguments");
		CU_ASSERT_EQUAL(C.id, all[i].id);
	}
	OK("t nOoP");
	CU_ASSERT_EQUAL(C.id, CMD_NOOP);
	CU_ASSERT_STRING_EQUAL(C.name, "NOOP");
	BAD("t FOO", "Unknown command FOO");
	CU_ASSERT_EQUAL(C.id, CMD_UNKNOWN);
	CU_ASSERT_STRING_EQUAL(C.tag, "t");
	BAD("t NOOPX", "Unknown command NOOPX");
	BAD("t NOOP(", "Unexpected character");
	BAD("t UID NOOP", "Unknown command UID NOOP");
	BAD("t UID APPEND x {1}\r\na", "Unknown command UID APPEND");
	BAD("t UID", "Missing command name after UID");
	BAD("t UID ", "Missing command name after UID");
	/* Long unknown names are cut in the reason. */
	BAD("t AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "Unknown command AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	CU_ASSERT_TRUE(strlen(E) < 64);
}

void
test_parse_cmd_lookup(void)
{
	CU_ASSERT_EQUAL(imap_cmd_lookup("fetch", 5), CMD_FETCH);
	CU_ASSERT_EQUAL(imap_cmd_lookup("FETCHX", 5), CMD_FETCH);
	CU_ASSERT_EQUAL(imap_cmd_lookup("FETCHX", 6), CMD_UNKNOWN);
	CU_ASSERT_EQUAL(imap_cmd_lookup("UID", 3), CMD_UNKNOWN);
	CU_ASSERT_EQUAL(imap_cmd_lookup("getquotaroot", 12), CMD_GETQUOTAROOT);
	CU_ASSERT_EQUAL(imap_cmd_lookup("", 0), CMD_UNKNOWN);
}

/* ---- strings ---- */

void
test_parse_astring_forms(void)
{
	OK("a LOGIN alice secret");
	CU_ASSERT_STRING_EQUAL(C.u.login.user, "alice");
	CU_ASSERT_STRING_EQUAL(C.u.login.pass, "secret");
	OK("a LOGIN \"al ice\" \"s\\\"e\\\\c\"");
	CU_ASSERT_STRING_EQUAL(C.u.login.user, "al ice");
	CU_ASSERT_STRING_EQUAL(C.u.login.pass, "s\"e\\c");
	OK("a LOGIN \"\" \"\"");
	CU_ASSERT_STRING_EQUAL(C.u.login.user, "");
	OK("a LOGIN {5}\r\nalice {6+}\r\nse cr\"");
	CU_ASSERT_STRING_EQUAL(C.u.login.user, "alice");
	CU_ASSERT_STRING_EQUAL(C.u.login.pass, "se cr\"");
	OK("a LOGIN {0}\r\n {0}\r\n");
	CU_ASSERT_STRING_EQUAL(C.u.login.user, "");
	CU_ASSERT_STRING_EQUAL(C.u.login.pass, "");
	/* A bare LF after the announcement is accepted too. */
	OK("a LOGIN {1}\nx y");
	CU_ASSERT_STRING_EQUAL(C.u.login.user, "x");
	/* ASTRING-CHAR includes ']'. */
	OK("a LOGIN a]b c");
	CU_ASSERT_STRING_EQUAL(C.u.login.user, "a]b");
	/* 8-bit bytes: in quoted strings (UTF-8) and literals. */
	OK("a LOGIN \"j\xc3\xb6rg\" {2}\r\n\xff\xfe");
	CU_ASSERT_STRING_EQUAL(C.u.login.user, "j\xc3\xb6rg");
	CU_ASSERT_STRING_EQUAL(C.u.login.pass, "\xff\xfe");
	/* NIL is an atom where an astring is expected. */
	OK("a LOGIN NIL nil");
	CU_ASSERT_STRING_EQUAL(C.u.login.user, "NIL");
}

void
test_parse_string_errors(void)
{
	BAD("a LOGIN \"abc", "Unterminated quoted user name");
	BAD("a LOGIN \"abc\\", "Unterminated quoted user name");
	BAD("a LOGIN \"a\\bc\" x", "Invalid escape in quoted user name");
	BAD("a LOGIN \"a\\n\" x", "Invalid escape");
	BAD("a LOGIN \"a\rb\" x", "CR or LF in quoted user name");
	BAD("a LOGIN \"a\nb\" x", "CR or LF");
	CU_ASSERT_EQUAL(parse_n("a LOGIN \"a\0b\" x", 15), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(E, "NUL in user name"));
	CU_ASSERT_EQUAL(parse_n("a LOGIN {3}\r\na\0b x", 19), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(E, "NUL in user name"));
	CU_ASSERT_EQUAL(parse_n("a LOGIN x\0 y", 12), -1);
	BAD("a LOGIN {5}\r\nabc", "Literal data missing");
	BAD("a LOGIN {5}abcde x", "Expected CRLF after literal");
	BAD("a LOGIN {5}\rabcde x", "Expected CRLF after literal");
	BAD("a LOGIN {x}\r\n x", "Invalid literal");
	BAD("a LOGIN {}\r\n x", "Invalid literal");
	BAD("a LOGIN {5 x", "Invalid literal");
	BAD("a LOGIN {99999999999999999999999}\r\n x", "Literal too large");
	BAD("a LOGIN ~{1}\r\nx y", "literal8 not allowed for user name");
	BAD("a LOGIN (x) y", "Invalid user name");
	BAD("a LOGIN x", "Missing password");
	BAD("a LOGIN", "Missing user name");
	BAD("a LOGIN x(y", "Expected SP after user name");
	BAD("a LOGIN x y z", "Unexpected extra arguments");
	BAD("a LOGIN x  y", "Invalid password");
}

/* The assembled command survives any split of the input: framer plus
 * parser give the same typed result whatever the read sizes. */
void
test_parse_through_framer_every_split(void)
{
	static const char in[] =
	    "a LOGIN {5}\r\nal\"ce {4+}\r\np\r\nw\r\n"
	    "b APPEND INBOX (\\Seen) {3}\r\nxyz ~{2}\r\n\0\1\r\n";
	static const struct imap_frame_limits lim = {
		.max_line = 100, .max_literal = 100, .max_append = 100,
		.max_command = 1000, .literal_plus = true,
	};
	size_t n = sizeof(in) - 1, i, j;

	for (i = 1; i <= n; i++) {
		for (j = 0; j <= n - i; j += (j < 8 ? 1 : 7)) {
			struct imap_framer f;
			struct buf b;
			size_t off = 0, got = 0;
			const char *d;
			size_t dl;

			imap_framer_init(&f, &lim);
			buf_init(&b, 0);
			while (off < n) {
				/* first chunk i bytes, then j+1 at a time */
				size_t c = off == 0 ? i : j + 1;
				if (c > n - off)
					c = n - off;
				buf_add(&b, in + off, c);
				off += c;
				for (;;) {
					enum frame_result r = imap_frame(&f, &b);
					if (r == FRAME_MORE)
						break;
					if (r == FRAME_LITERAL_WAIT) {
						imap_frame_accept(&f);
						continue;
					}
					CU_ASSERT_EQUAL_FATAL(r, FRAME_COMMAND);
					d = imap_frame_data(&f, &dl);
					CU_ASSERT_EQUAL_FATAL(parse_n(d, dl), 0);
					if (got == 0) {
						CU_ASSERT_STRING_EQUAL(C.u.login.user, "al\"ce");
						CU_ASSERT_STRING_EQUAL(C.u.login.pass, "p\r\nw");
					} else {
						CU_ASSERT_EQUAL(C.u.append.nmsgs, 2);
						CU_ASSERT_EQUAL(C.u.append.msgs->len, 3);
						CU_ASSERT_EQUAL(memcmp(C.u.append.msgs->data, "xyz", 3), 0);
						CU_ASSERT_TRUE(C.u.append.msgs->next->binary);
						CU_ASSERT_EQUAL(memcmp(C.u.append.msgs->next->data, "\0\1", 2), 0);
					}
					got++;
					imap_frame_done(&f);
				}
			}
			CU_ASSERT_EQUAL(got, 2);
			imap_framer_free(&f);
			buf_free(&b);
		}
	}
}

/* ---- not authenticated ---- */

void
test_parse_authenticate(void)
{
	OK("a AUTHENTICATE plain");
	CU_ASSERT_EQUAL(C.id, CMD_AUTHENTICATE);
	CU_ASSERT_STRING_EQUAL(C.u.auth.mech, "PLAIN");
	CU_ASSERT_PTR_NULL(C.u.auth.ir);
	OK("a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==");
	CU_ASSERT_STRING_EQUAL(C.u.auth.ir, "AGFsaWNlAHNlY3JldA==");
	OK("a AUTHENTICATE PLAIN =");
	CU_ASSERT_STRING_EQUAL(C.u.auth.ir, "");
	OK("a AUTHENTICATE SCRAM-SHA-256 biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlx");
	CU_ASSERT_STRING_EQUAL(C.u.auth.mech, "SCRAM-SHA-256");
	BAD("a AUTHENTICATE", "Missing authentication mechanism");
	BAD("a AUTHENTICATE \"PLAIN\"", "Invalid authentication mechanism");
	BAD("a AUTHENTICATE PLAIN AGFsaWNl!", "Invalid base64 initial response");
	BAD("a AUTHENTICATE PLAIN abc", "Invalid base64");
	BAD("a AUTHENTICATE PLAIN ab=c", "Invalid base64");
	BAD("a AUTHENTICATE PLAIN a===", "Invalid base64");
	BAD("a AUTHENTICATE PLAIN ==", "Invalid base64");
	BAD("a AUTHENTICATE PLAIN = x", "Unexpected extra arguments");
	BAD("a AUTHENTICATE PLAIN Zm9v x", "Unexpected extra arguments");
	BAD("a AUTHENTICATE PLAIN ", "Missing initial response");
}

void
test_parse_login(void)
{
	OK("a login \"admin*alice\" {3+}\r\npw!");
	CU_ASSERT_EQUAL(C.id, CMD_LOGIN);
	CU_ASSERT_STRING_EQUAL(C.name, "LOGIN");
	CU_ASSERT_STRING_EQUAL(C.u.login.user, "admin*alice");
	CU_ASSERT_STRING_EQUAL(C.u.login.pass, "pw!");
}

void
test_parse_id(void)
{
	OK("a ID NIL");
	CU_ASSERT_EQUAL(C.id, CMD_ID);
	CU_ASSERT_PTR_NULL(C.u.id.kv);
	CU_ASSERT_EQUAL(C.u.id.nkv, 0);
	OK("a ID ()");
	CU_ASSERT_PTR_NOT_NULL(C.u.id.kv);
	CU_ASSERT_EQUAL(C.u.id.nkv, 0);
	OK("a ID (\"name\" \"Thunderbird\" \"version\" NIL \"os\" {5}\r\nLinux)");
	CU_ASSERT_EQUAL_FATAL(C.u.id.nkv, 6);
	CU_ASSERT_STRING_EQUAL(C.u.id.kv[0], "name");
	CU_ASSERT_STRING_EQUAL(C.u.id.kv[1], "Thunderbird");
	CU_ASSERT_STRING_EQUAL(C.u.id.kv[2], "version");
	CU_ASSERT_PTR_NULL(C.u.id.kv[3]);
	CU_ASSERT_STRING_EQUAL(C.u.id.kv[4], "os");
	CU_ASSERT_STRING_EQUAL(C.u.id.kv[5], "Linux");
	BAD("a ID", "Missing ID parameter list");
	BAD("a ID (name \"x\")", "Invalid ID field name");
	BAD("a ID (\"name\")", "Expected SP after ID field name");
	BAD("a ID (\"name\" x)", "Invalid ID field value");
	BAD("a ID (\"name\" \"x\"", "Missing ')' after ID fields");
	BAD("a ID (\"name\" \"x\")x", "Unexpected character");
	BAD("a ID x", "Expected '(' or NIL after ID");
}

void
test_parse_id_limit(void)
{
	char s[2000];
	size_t n;
	int i;

	n = (size_t)snprintf(s, sizeof(s), "a ID (");
	for (i = 0; i < 30; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%s\"k%d\" \"v\"",
		    i ? " " : "", i);
	snprintf(s + n, sizeof(s) - n, ")");
	OK(s);
	CU_ASSERT_EQUAL(C.u.id.nkv, 60);
	snprintf(s + n, sizeof(s) - n, " \"k30\" \"v\")");
	BAD(s, "Too many ID fields");
}

/* ---- authenticated ---- */

void
test_parse_enable(void)
{
	OK("a ENABLE CONDSTORE QRESYNC utf8=accept");
	CU_ASSERT_EQUAL(C.id, CMD_ENABLE);
	CU_ASSERT_EQUAL_FATAL(C.u.enable.ncaps, 3);
	CU_ASSERT_STRING_EQUAL(C.u.enable.caps[0], "CONDSTORE");
	CU_ASSERT_STRING_EQUAL(C.u.enable.caps[2], "utf8=accept");
	BAD("a ENABLE", "Missing capability name");
	BAD("a ENABLE \"X\"", "Invalid capability name");
	BAD("a ENABLE X ", "Missing capability name");
}

void
test_parse_enable_limit(void)
{
	char s[1024];
	size_t n;
	int i;

	n = (size_t)snprintf(s, sizeof(s), "a ENABLE");
	for (i = 0; i < 32; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, " X%d", i);
	OK(s);
	CU_ASSERT_EQUAL(C.u.enable.ncaps, 32);
	snprintf(s + n, sizeof(s) - n, " Y");
	BAD(s, "Too many capabilities");
}

void
test_parse_select(void)
{
	OK("a SELECT inbox");
	CU_ASSERT_EQUAL(C.id, CMD_SELECT);
	CU_ASSERT_STRING_EQUAL(C.u.select.mailbox, "INBOX");
	CU_ASSERT_FALSE(C.u.select.condstore);
	CU_ASSERT_FALSE(C.u.select.qresync);
	OK("a EXAMINE \"Sent Items\"");
	CU_ASSERT_EQUAL(C.id, CMD_EXAMINE);
	CU_ASSERT_STRING_EQUAL(C.name, "EXAMINE");
	CU_ASSERT_STRING_EQUAL(C.u.select.mailbox, "Sent Items");
	OK("a SELECT INBOX.Sub");
	CU_ASSERT_STRING_EQUAL(C.u.select.mailbox, "INBOX.Sub");
	OK("a select box (condstore)");
	CU_ASSERT_TRUE(C.u.select.condstore);
	BAD("a SELECT", "Missing mailbox name");
	BAD("a SELECT box x", "Expected '(' before SELECT parameters");
	BAD("a SELECT box ()", "Invalid SELECT parameter");
	BAD("a SELECT box (FOO)", "Unknown SELECT parameter FOO");
	BAD("a SELECT box (CONDSTORE CONDSTORE)", "Duplicate SELECT parameter");
	BAD("a SELECT box (CONDSTORE", "Missing ')' after SELECT parameters");
	BAD("a SELECT box\"x\"", "Expected SP after mailbox name");
}

void
test_parse_select_qresync(void)
{
	char buf[64];

	OK("a SELECT INBOX (QRESYNC (67890007 20050715194045000))");
	CU_ASSERT_TRUE(C.u.select.qresync);
	CU_ASSERT_EQUAL(C.u.select.uidvalidity, 67890007);
	CU_ASSERT_EQUAL(C.u.select.modseq, 20050715194045000ULL);
	CU_ASSERT_FALSE(C.u.select.has_known_uids);
	CU_ASSERT_FALSE(C.u.select.has_seq_match);
	OK("a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541) CONDSTORE)");
	CU_ASSERT_TRUE(C.u.select.condstore);
	CU_ASSERT_TRUE(C.u.select.has_known_uids);
	CU_ASSERT_EQUAL(C.u.select.known_uids.n, 2);
	CU_ASSERT_EQUAL(C.u.select.known_uids.r[1].hi, 541);
	OK("a EXAMINE INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979:29997)))");
	CU_ASSERT_TRUE(C.u.select.has_seq_match);
	CU_ASSERT_EQUAL(C.u.select.match_seqs.n, 4);
	CU_ASSERT_EQUAL(C.u.select.match_uids.n, 7);
	seqset_format(&C.u.select.match_seqs, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "5000,7500,9000,9990:9999");
	/* seq-match-data without known-uids */
	OK("a SELECT INBOX (QRESYNC (1 2 (1:2 5:6)))");
	CU_ASSERT_FALSE(C.u.select.has_known_uids);
	CU_ASSERT_TRUE(C.u.select.has_seq_match);
	BAD("a SELECT INBOX (QRESYNC (0 5))", "Invalid UIDVALIDITY: 0");
	BAD("a SELECT INBOX (QRESYNC (1))", "Expected SP after UIDVALIDITY");
	BAD("a SELECT INBOX (QRESYNC (1 x))", "Invalid mod-sequence");
	BAD("a SELECT INBOX (QRESYNC (1 9223372036854775808))",
	    "mod-sequence out of range");
	OK("a SELECT INBOX (QRESYNC (1 9223372036854775807))");
	BAD("a SELECT INBOX (QRESYNC (1 2 1:x))", "Invalid sequence set");
	BAD("a SELECT INBOX (QRESYNC (1 2 (1:2)))", "Expected SP after known sequence set");
	BAD("a SELECT INBOX (QRESYNC (1 2 1 (1 2) 3))", "Expected ')' after QRESYNC");
	BAD("a SELECT INBOX (QRESYNC 1 2)", "Expected '(' after QRESYNC");
	BAD("a SELECT INBOX (QRESYNC (1 2) QRESYNC (1 2))", "Duplicate");
}

void
test_parse_create(void)
{
	OK("a CREATE Archive/2024");
	CU_ASSERT_EQUAL(C.id, CMD_CREATE);
	CU_ASSERT_STRING_EQUAL(C.u.create.mailbox, "Archive/2024");
	CU_ASSERT_EQUAL(C.u.create.use, 0);
	OK("a CREATE MyDrafts (USE (\\Drafts \\sent))");
	CU_ASSERT_EQUAL(C.u.create.use, SPECIAL_USE_DRAFTS | SPECIAL_USE_SENT);
	OK("a CREATE x (USE (\\All \\Archive \\Flagged \\Junk \\Trash))");
	CU_ASSERT_EQUAL(C.u.create.use, SPECIAL_USE_ALL | SPECIAL_USE_ARCHIVE |
	    SPECIAL_USE_FLAGGED | SPECIAL_USE_JUNK | SPECIAL_USE_TRASH);
	OK("a CREATE x (USE ())");
	CU_ASSERT_EQUAL(C.u.create.use, 0);
	/* Well formed but unknown: parsed, and answered NO [USEATTR]. */
	OK("a CREATE x (USE (\\Important \\Drafts))");
	CU_ASSERT_EQUAL(C.u.create.use, SPECIAL_USE_UNKNOWN | SPECIAL_USE_DRAFTS);
	BAD("a CREATE x (USE (Drafts))", "Invalid special-use attribute");
	BAD("a CREATE x (FOO)", "Unknown CREATE parameter FOO");
	BAD("a CREATE x (USE (\\Drafts) USE (\\Sent))", "Duplicate CREATE parameter");
	BAD("a CREATE x (USE \\Drafts)", "Expected '(' after USE");
	BAD("a CREATE", "Missing mailbox name");
}

void
test_parse_mailbox_commands(void)
{
	static const struct { const char *name; enum imap_cmd_id id; } c[] = {
		{ "DELETE", CMD_DELETE }, { "SUBSCRIBE", CMD_SUBSCRIBE },
		{ "UNSUBSCRIBE", CMD_UNSUBSCRIBE }, { "GETQUOTAROOT", CMD_GETQUOTAROOT },
		{ "GETACL", CMD_GETACL }, { "MYRIGHTS", CMD_MYRIGHTS },
	};
	char s[128];
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		snprintf(s, sizeof(s), "a %s {6}\r\nfoo ba", c[i].name);
		OK(s);
		CU_ASSERT_EQUAL(C.id, c[i].id);
		CU_ASSERT_STRING_EQUAL(C.u.mbox.mailbox, "foo ba");
		snprintf(s, sizeof(s), "a %s InBoX", c[i].name);
		OK(s);
		CU_ASSERT_STRING_EQUAL(C.u.mbox.mailbox, "INBOX");
		snprintf(s, sizeof(s), "a %s", c[i].name);
		BAD(s, "Missing mailbox name");
		snprintf(s, sizeof(s), "a %s a b", c[i].name);
		BAD(s, "Unexpected extra arguments");
	}
}

void
test_parse_rename(void)
{
	OK("a RENAME old \"new name\"");
	CU_ASSERT_EQUAL(C.id, CMD_RENAME);
	CU_ASSERT_STRING_EQUAL(C.u.rename.from, "old");
	CU_ASSERT_STRING_EQUAL(C.u.rename.to, "new name");
	BAD("a RENAME old", "Missing new mailbox name");
	BAD("a RENAME old\"x\"", "Expected SP after mailbox name");
}

void
test_parse_list_basic(void)
{
	OK("a LIST \"\" *");
	CU_ASSERT_EQUAL(C.id, CMD_LIST);
	CU_ASSERT_STRING_EQUAL(C.u.list.ref, "");
	CU_ASSERT_EQUAL_FATAL(C.u.list.npatterns, 1);
	CU_ASSERT_STRING_EQUAL(C.u.list.patterns[0], "*");
	CU_ASSERT_FALSE(C.u.list.extended);
	OK("a LIST ~/Mail/ %");
	CU_ASSERT_STRING_EQUAL(C.u.list.ref, "~/Mail/");
	CU_ASSERT_STRING_EQUAL(C.u.list.patterns[0], "%");
	OK("a LIST \"\" INBOX.%.*]");
	CU_ASSERT_STRING_EQUAL(C.u.list.patterns[0], "INBOX.%.*]");
	OK("a LIST \"\" \"Sent Items\"");
	CU_ASSERT_STRING_EQUAL(C.u.list.patterns[0], "Sent Items");
	OK("a LIST {0}\r\n {1}\r\n%");
	CU_ASSERT_STRING_EQUAL(C.u.list.patterns[0], "%");
	/* inbox is not normalized in patterns or references */
	OK("a LIST inbox inbox");
	CU_ASSERT_STRING_EQUAL(C.u.list.ref, "inbox");
	CU_ASSERT_STRING_EQUAL(C.u.list.patterns[0], "inbox");
	BAD("a LIST \"\"", "Missing mailbox pattern");
	BAD("a LIST", "Missing reference name");
	BAD("a LIST * *", "Invalid reference name");
	BAD("a LIST \"\" * x", "Expected RETURN after mailbox pattern");
}

void
test_parse_list_extended(void)
{
	OK("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %");
	CU_ASSERT_TRUE(C.u.list.extended);
	CU_ASSERT_EQUAL(C.u.list.sel, LIST_SEL_SUBSCRIBED | LIST_SEL_RECURSIVEMATCH);
	OK("a LIST () \"\" %");
	CU_ASSERT_TRUE(C.u.list.extended);
	CU_ASSERT_EQUAL(C.u.list.sel, 0);
	OK("a LIST (remote special-use) \"\" %");
	CU_ASSERT_EQUAL(C.u.list.sel, LIST_SEL_REMOTE | LIST_SEL_SPECIAL_USE);
	OK("a LIST (SPECIAL-USE RECURSIVEMATCH) \"\" *");
	OK("a LIST \"\" (INBOX \"Sent Items\" Drafts/%)");
	CU_ASSERT_TRUE(C.u.list.extended);
	CU_ASSERT_EQUAL_FATAL(C.u.list.npatterns, 3);
	CU_ASSERT_STRING_EQUAL(C.u.list.patterns[1], "Sent Items");
	CU_ASSERT_STRING_EQUAL(C.u.list.patterns[2], "Drafts/%");
	OK("a LIST \"\" % RETURN (CHILDREN SUBSCRIBED special-use)");
	CU_ASSERT_TRUE(C.u.list.extended);
	CU_ASSERT_EQUAL(C.u.list.ret, LIST_RET_CHILDREN | LIST_RET_SUBSCRIBED |
	    LIST_RET_SPECIAL_USE);
	OK("a LIST \"\" % RETURN ()");
	CU_ASSERT_TRUE(C.u.list.extended);
	CU_ASSERT_EQUAL(C.u.list.ret, 0);
	OK("a LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN HIGHESTMODSEQ))");
	CU_ASSERT_EQUAL(C.u.list.ret, LIST_RET_STATUS);
	CU_ASSERT_EQUAL(C.u.list.status, STATUS_MESSAGES | STATUS_UNSEEN |
	    STATUS_HIGHESTMODSEQ);
	OK("a LIST (SUBSCRIBED) \"\" (a b) RETURN (CHILDREN STATUS (SIZE))");
	CU_ASSERT_EQUAL(C.u.list.npatterns, 2);
	CU_ASSERT_EQUAL(C.u.list.status, STATUS_SIZE);
	OK("a LIST \"\" * RETURN (MyRights STATUS (APPENDLIMIT SIZE))");
	CU_ASSERT_EQUAL(C.u.list.ret, LIST_RET_MYRIGHTS | LIST_RET_STATUS);
	CU_ASSERT_EQUAL(C.u.list.status, STATUS_APPENDLIMIT | STATUS_SIZE);
	BAD("a LIST (RECURSIVEMATCH) \"\" %", "RECURSIVEMATCH needs another selection option");
	BAD("a LIST (REMOTE RECURSIVEMATCH) \"\" %", "RECURSIVEMATCH needs");
	BAD("a LIST (FOO) \"\" %", "Unknown LIST selection option FOO");
	BAD("a LIST (SUBSCRIBED)\"\" %", "Expected SP after selection options");
	BAD("a LIST \"\" ()", "Invalid mailbox pattern");
	BAD("a LIST \"\" (a b", "Missing ')'");
	BAD("a LIST \"\" % RETURN (FOO)", "Unknown LIST return option FOO");
	BAD("a LIST \"\" % RETURN (STATUS ())", "Invalid status item");
	BAD("a LIST \"\" % RETURN (STATUS (FOO))", "Unknown STATUS item FOO");
	BAD("a LIST \"\" % RETURN CHILDREN", "Expected '(' after RETURN");
	BAD("a LIST \"\" % RETURN", "Missing return options");
	BAD("a LIST \"\" % RETURN () x", "Unexpected extra arguments");
}

void
test_parse_list_pattern_limit(void)
{
	char s[512];
	size_t n;
	int i;

	n = (size_t)snprintf(s, sizeof(s), "a LIST \"\" (");
	for (i = 0; i < 32; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%sp%d", i ? " " : "", i);
	snprintf(s + n, sizeof(s) - n, ")");
	OK(s);
	CU_ASSERT_EQUAL(C.u.list.npatterns, 32);
	snprintf(s + n, sizeof(s) - n, " x)");
	BAD(s, "Too many mailbox patterns");
}

void
test_parse_lsub(void)
{
	OK("a LSUB \"#news.\" \"comp.mail.*\"");
	CU_ASSERT_EQUAL(C.id, CMD_LSUB);
	CU_ASSERT_STRING_EQUAL(C.u.list.ref, "#news.");
	CU_ASSERT_EQUAL(C.u.list.npatterns, 1);
	CU_ASSERT_STRING_EQUAL(C.u.list.patterns[0], "comp.mail.*");
	BAD("a LSUB \"\" (a b)", "Invalid mailbox pattern");
	BAD("a LSUB \"\" % RETURN ()", "Unexpected extra arguments");
}

void
test_parse_status(void)
{
	OK("a STATUS blurdybloop (UIDNEXT MESSAGES)");
	CU_ASSERT_EQUAL(C.id, CMD_STATUS);
	CU_ASSERT_STRING_EQUAL(C.u.status.mailbox, "blurdybloop");
	CU_ASSERT_EQUAL(C.u.status.items, STATUS_UIDNEXT | STATUS_MESSAGES);
	OK("a STATUS INBOX (messages recent uidnext uidvalidity unseen "
	    "highestmodseq size deleted deleted-storage)");
	CU_ASSERT_EQUAL(C.u.status.items, 0x1ff);
	BAD("a STATUS INBOX ()", "Invalid status item");
	BAD("a STATUS INBOX (FOO)", "Unknown STATUS item FOO");
	BAD("a STATUS INBOX MESSAGES", "Expected '(' before status items");
	BAD("a STATUS INBOX (MESSAGES", "Missing ')' after status items");
	BAD("a STATUS INBOX", "Missing status items");
	BAD("a STATUS INBOX (MESSAGES) x", "Unexpected extra arguments");
}

void
test_parse_append(void)
{
	struct append_msg *m;
	char d[32];

	OK("a APPEND saved-messages (\\Seen) {5}\r\nhello");
	CU_ASSERT_EQUAL(C.id, CMD_APPEND);
	CU_ASSERT_STRING_EQUAL(C.u.append.mailbox, "saved-messages");
	CU_ASSERT_EQUAL_FATAL(C.u.append.nmsgs, 1);
	m = C.u.append.msgs;
	CU_ASSERT_EQUAL_FATAL(m->nflags, 1);
	CU_ASSERT_STRING_EQUAL(m->flags[0], "\\Seen");
	CU_ASSERT_FALSE(m->has_date);
	CU_ASSERT_FALSE(m->binary);
	CU_ASSERT_EQUAL(m->len, 5);
	CU_ASSERT_EQUAL(memcmp(m->data, "hello", 5), 0);
	CU_ASSERT_PTR_NULL(m->next);

	OK("a APPEND INBOX {3+}\r\nabc");
	m = C.u.append.msgs;
	CU_ASSERT_EQUAL(m->nflags, 0);
	CU_ASSERT_EQUAL(m->len, 3);

	OK("a APPEND INBOX () \"17-Jul-1996 02:44:25 -0700\" {0}\r\n");
	m = C.u.append.msgs;
	CU_ASSERT_EQUAL(m->nflags, 0);
	CU_ASSERT_TRUE(m->has_date);
	imapdate_format_datetime(&m->date, d);
	CU_ASSERT_STRING_EQUAL(d, "17-Jul-1996 02:44:25 -0700");
	CU_ASSERT_EQUAL(m->len, 0);

	OK("a APPEND INBOX \" 5-Jan-2020 10:00:00 +0000\" {1}\r\nx");
	CU_ASSERT_TRUE(C.u.append.msgs->has_date);
}

void
test_parse_append_multi_and_binary(void)
{
	static const char s[] =
	    "a APPEND Drafts (\\Draft $Label1) {2}\r\nab (\\Seen) ~{4}\r\n\0\1\2\3"
	    " \"01-Feb-2021 00:00:00 +0100\" {1+}\r\nz";
	struct append_msg *m;

	CU_ASSERT_EQUAL_FATAL(parse_n(s, sizeof(s) - 1), 0);
	CU_ASSERT_EQUAL_FATAL(C.u.append.nmsgs, 3);
	m = C.u.append.msgs;
	CU_ASSERT_EQUAL(m->nflags, 2);
	CU_ASSERT_STRING_EQUAL(m->flags[1], "$Label1");
	m = m->next;
	CU_ASSERT_TRUE(m->binary);
	CU_ASSERT_EQUAL(m->len, 4);
	CU_ASSERT_EQUAL(memcmp(m->data, "\0\1\2\3", 4), 0);
	m = m->next;
	CU_ASSERT_TRUE(m->has_date);
	CU_ASSERT_EQUAL(m->nflags, 0);
	CU_ASSERT_EQUAL(m->len, 1);
	CU_ASSERT_PTR_NULL(m->next);
}

void
test_parse_append_data_outlives_input(void)
{
	static const char src[] = "a APPEND INBOX {5}\r\nhello {3+}\r\nbye";
	char *copy = strdup(src);

	/* A paused APPEND keeps its tree after the framer reuses its buffer. */
	CU_ASSERT_EQUAL_FATAL(parse_n(copy, sizeof(src) - 1), 0);
	memset(copy, 'X', sizeof(src) - 1);
	free(copy);
	CU_ASSERT_EQUAL(memcmp(C.u.append.msgs->data, "hello", 5), 0);
	CU_ASSERT_EQUAL(memcmp(C.u.append.msgs->next->data, "bye", 3), 0);
}

void
test_parse_append_message_limit(void)
{
	static char s[8192];
	size_t n;
	int i;

	n = (size_t)snprintf(s, sizeof(s), "a APPEND INBOX");
	for (i = 0; i < 1000; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, " {0}\r\n");
	OK(s);
	CU_ASSERT_EQUAL(C.u.append.nmsgs, 1000);
	snprintf(s + n, sizeof(s) - n, " {0}\r\n");
	BAD(s, "Too many messages");
}

void
test_parse_append_errors(void)
{
	BAD("a APPEND INBOX", "Missing message literal");
	BAD("a APPEND INBOX hello", "Invalid message literal");
	BAD("a APPEND INBOX \"hello\"", "Invalid date-time");
	BAD("a APPEND INBOX (\\Seen)", "Missing message literal");
	BAD("a APPEND INBOX (\\Seen){1}\r\nx", "Expected SP after flag list");
	BAD("a APPEND INBOX (\\Recent) {1}\r\nx", "\\Recent cannot be set");
	BAD("a APPEND INBOX (\\*) {1}\r\nx", "\\* is not a flag");
	BAD("a APPEND INBOX (\\Seen {1}\r\nx", "Invalid flag");
	BAD("a APPEND INBOX \"17-Jul-1996 02:44:25\" {1}\r\nx", "Invalid date-time");
	BAD("a APPEND INBOX \"17-Jul-1996 02:44:25 -0700\"{1}\r\nx",
	    "Expected SP after date-time");
	BAD("a APPEND INBOX {1}\r\nx ", "Missing message literal");
	BAD("a APPEND INBOX {1}\r\nxy", "Expected SP after message literal");
	BAD("a APPEND INBOX {5}\r\nx", "Literal data missing");
	BAD("a APPEND INBOX \"17-Jul-1996 02:44:25 -0700\" (\\Seen) {1}\r\nx",
	    "Invalid message literal");
}

void
test_parse_quota(void)
{
	OK("a GETQUOTA \"\"");
	CU_ASSERT_EQUAL(C.id, CMD_GETQUOTA);
	CU_ASSERT_STRING_EQUAL(C.u.getquota.root, "");
	OK("a GETQUOTAROOT INBOX");
	CU_ASSERT_STRING_EQUAL(C.u.mbox.mailbox, "INBOX");
	OK("a SETQUOTA \"\" (STORAGE 512 message 1000)");
	CU_ASSERT_EQUAL(C.id, CMD_SETQUOTA);
	CU_ASSERT_STRING_EQUAL(C.u.setquota.root, "");
	CU_ASSERT_EQUAL_FATAL(C.u.setquota.nres, 2);
	CU_ASSERT_STRING_EQUAL(C.u.setquota.res[0].name, "STORAGE");
	CU_ASSERT_EQUAL(C.u.setquota.res[0].limit, 512);
	CU_ASSERT_STRING_EQUAL(C.u.setquota.res[1].name, "message");
	CU_ASSERT_EQUAL(C.u.setquota.res[1].limit, 1000);
	OK("a SETQUOTA alice ()");
	CU_ASSERT_EQUAL(C.u.setquota.nres, 0);
	OK("a SETQUOTA alice (STORAGE 9223372036854775807)");
	BAD("a SETQUOTA alice (STORAGE)", "Expected SP after resource name");
	BAD("a SETQUOTA alice (STORAGE x)", "Invalid resource limit");
	BAD("a SETQUOTA alice (STORAGE 99999999999999999999)", "resource limit out of range");
	BAD("a SETQUOTA alice STORAGE 5", "Expected '(' before resource limits");
	BAD("a SETQUOTA alice (A 1 B 2 C 3 D 4 E 5 F 6 G 7 H 8 I 9 J 10 K 11 "
	    "L 12 M 13 N 14 O 15 P 16 Q 17)", "Too many quota resources");
	BAD("a GETQUOTA", "Missing quota root");
}

void
test_parse_acl(void)
{
	OK("a SETACL INBOX/Drafts Chris +cda");
	CU_ASSERT_EQUAL(C.id, CMD_SETACL);
	CU_ASSERT_STRING_EQUAL(C.u.acl.mailbox, "INBOX/Drafts");
	CU_ASSERT_STRING_EQUAL(C.u.acl.identifier, "Chris");
	CU_ASSERT_STRING_EQUAL(C.u.acl.rights, "+cda");
	OK("a SETACL inbox \"-group\" \"\"");
	CU_ASSERT_STRING_EQUAL(C.u.acl.mailbox, "INBOX");
	CU_ASSERT_STRING_EQUAL(C.u.acl.identifier, "-group");
	CU_ASSERT_STRING_EQUAL(C.u.acl.rights, "");
	OK("a DELETEACL INBOX Fred");
	CU_ASSERT_EQUAL(C.id, CMD_DELETEACL);
	CU_ASSERT_STRING_EQUAL(C.u.acl.identifier, "Fred");
	CU_ASSERT_PTR_NULL(C.u.acl.rights);
	OK("a LISTRIGHTS ~/Mail/saved smith");
	CU_ASSERT_EQUAL(C.id, CMD_LISTRIGHTS);
	CU_ASSERT_STRING_EQUAL(C.u.acl.identifier, "smith");
	CU_ASSERT_PTR_NULL(C.u.acl.rights);
	OK("a GETACL INBOX");
	CU_ASSERT_EQUAL(C.id, CMD_GETACL);
	OK("a MYRIGHTS INBOX");
	CU_ASSERT_EQUAL(C.id, CMD_MYRIGHTS);
	BAD("a SETACL INBOX Fred", "Missing access rights");
	BAD("a DELETEACL INBOX", "Missing identifier");
	BAD("a DELETEACL INBOX Fred lrs", "Unexpected extra arguments");
	BAD("a LISTRIGHTS INBOX Fred x", "Unexpected extra arguments");
}

void
test_parse_proxyauth(void)
{
	OK("a PROXYAUTH alice");
	CU_ASSERT_EQUAL(C.id, CMD_PROXYAUTH);
	CU_ASSERT_STRING_EQUAL(C.u.proxyauth.user, "alice");
	OK("a PROXYAUTH {3}\r\nb b");
	CU_ASSERT_STRING_EQUAL(C.u.proxyauth.user, "b b");
	BAD("a PROXYAUTH", "Missing user name");
	BAD("a PROXYAUTH a b", "Unexpected extra arguments");
}

void
test_parse_getmetadata(void)
{
	OK("a GETMETADATA \"\" /shared/comment");
	CU_ASSERT_EQUAL(C.id, CMD_GETMETADATA);
	CU_ASSERT_STRING_EQUAL(C.u.getmeta.mailbox, "");
	CU_ASSERT_EQUAL(C.u.getmeta.nentries, 1);
	CU_ASSERT_STRING_EQUAL(C.u.getmeta.entries[0], "/shared/comment");
	CU_ASSERT_FALSE(C.u.getmeta.has_maxsize);
	CU_ASSERT_EQUAL(C.u.getmeta.depth, 0);
	OK("a GETMETADATA inbox (MAXSIZE 1024 DEPTH infinity) "
	    "(/Private/Comment /shared/Vendor/x)");
	CU_ASSERT_STRING_EQUAL(C.u.getmeta.mailbox, "INBOX");
	CU_ASSERT(C.u.getmeta.has_maxsize);
	CU_ASSERT_EQUAL(C.u.getmeta.maxsize, 1024);
	CU_ASSERT_EQUAL(C.u.getmeta.depth, META_DEPTH_INFINITY);
	CU_ASSERT_EQUAL(C.u.getmeta.nentries, 2);
	CU_ASSERT_STRING_EQUAL(C.u.getmeta.entries[0], "/private/comment");
	CU_ASSERT_STRING_EQUAL(C.u.getmeta.entries[1], "/shared/vendor/x");
	OK("a GETMETADATA Work (DEPTH 1) /shared");
	CU_ASSERT_EQUAL(C.u.getmeta.depth, 1);
	/* the grammar's order: options before the mailbox */
	OK("a GETMETADATA (depth 1 maxsize 5) Work /shared");
	CU_ASSERT_STRING_EQUAL(C.u.getmeta.mailbox, "Work");
	CU_ASSERT_EQUAL(C.u.getmeta.depth, 1);
	CU_ASSERT_EQUAL(C.u.getmeta.maxsize, 5);
	BAD("a GETMETADATA INBOX /comment", "must begin with /private");
	BAD("a GETMETADATA INBOX /shared//x", "\"//\"");
	BAD("a GETMETADATA INBOX /shared/x/", "must not end");
	BAD("a GETMETADATA INBOX \"/shared/*\"", "Invalid character");
	BAD("a GETMETADATA INBOX \"/shared/a%\"", "Invalid character");
	BAD("a GETMETADATA INBOX \"/shared/\xc3\xa9\"", "Invalid character");
	BAD("a GETMETADATA (DEPTH 2) INBOX /shared/x", "DEPTH must be");
	BAD("a GETMETADATA (FOO) INBOX /shared/x", "Unknown GETMETADATA option");
	BAD("a GETMETADATA (MAXSIZE 1 MAXSIZE 2) INBOX /shared/x", "twice");
	BAD("a GETMETADATA INBOX", "Missing entry names");
	BAD("a GETMETADATA INBOX (/shared/a", "Missing entry name or ')'");
}

void
test_parse_setmetadata(void)
{
	OK("a SETMETADATA INBOX (/private/comment \"My comment\" "
	    "/shared/comment NIL)");
	CU_ASSERT_EQUAL(C.id, CMD_SETMETADATA);
	CU_ASSERT_EQUAL(C.u.setmeta.nentries, 2);
	CU_ASSERT_STRING_EQUAL(C.u.setmeta.entries[0].name, "/private/comment");
	CU_ASSERT_EQUAL(C.u.setmeta.entries[0].len, 10);
	CU_ASSERT(memcmp(C.u.setmeta.entries[0].value, "My comment", 10) == 0);
	CU_ASSERT_PTR_NULL(C.u.setmeta.entries[1].value);
	/* a literal8 may carry NUL */
	{
		static const char lit8[] =
		    "a SETMETADATA \"\" (/shared/vendor/x/bin ~{3}\r\na\0b)";
		CU_ASSERT_EQUAL_FATAL(parse_n(lit8, sizeof(lit8) - 1), 0);
	}
	CU_ASSERT_EQUAL(C.u.setmeta.entries[0].len, 3);
	CU_ASSERT(memcmp(C.u.setmeta.entries[0].value, "a\0b", 3) == 0);
	OK("a SETMETADATA INBOX (/shared/comment {0}\r\n)");
	CU_ASSERT_EQUAL(C.u.setmeta.entries[0].len, 0);
	CU_ASSERT_PTR_NOT_NULL(C.u.setmeta.entries[0].value);
	BAD("a SETMETADATA INBOX (/shared \"x\")", "needs a component");
	BAD("a SETMETADATA INBOX /shared/comment \"x\"", "Expected '('");
	BAD("a SETMETADATA INBOX (/shared/comment)", "Expected SP after entry");
	BAD("a SETMETADATA INBOX (/other/comment \"x\")", "must begin with");
}

void
test_parse_compress(void)
{
	OK("a COMPRESS DEFLATE");
	CU_ASSERT_EQUAL(C.id, CMD_COMPRESS);
	CU_ASSERT_STRING_EQUAL(C.u.compress.mech, "DEFLATE");
	/* Any atom: the mailbox process says which ones it knows. */
	OK("a compress zstd");
	CU_ASSERT_STRING_EQUAL(C.u.compress.mech, "zstd");
	BAD("a COMPRESS", "Missing compression mechanism");
	BAD("a COMPRESS \"DEFLATE\"", "compression mechanism");
	BAD("a COMPRESS DEFLATE x", "Unexpected extra arguments");
}

void
test_parse_notify_groups(void)
{
	const struct notify_group *g;

	OK("a notify none");
	CU_ASSERT_EQUAL(C.id, CMD_NOTIFY);
	CU_ASSERT_TRUE(C.u.notify.none);
	CU_ASSERT_PTR_NULL(C.u.notify.groups);
	OK("a NOTIFY SET STATUS (selected (MessageNew (UID "
	    "BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)]) MessageExpunge)) "
	    "(subtree (Lists \"Other Lists\") (MessageNew MessageExpunge "
	    "FlagChange)) (mailboxes inbox NONE) (personal (MailboxName "
	    "SubscriptionChange MailboxMetadataChange ServerMetadataChange))");
	CU_ASSERT_FALSE(C.u.notify.none);
	CU_ASSERT_TRUE(C.u.notify.status);
	g = C.u.notify.groups;
	CU_ASSERT_EQUAL_FATAL(g->filter, NF_SELECTED);
	CU_ASSERT_EQUAL(g->events, NEV_MESSAGENEW | NEV_MESSAGEEXPUNGE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g->fetch);
	CU_ASSERT_EQUAL(g->fetch->item, FI_UID);
	CU_ASSERT_EQUAL_FATAL(g->fetch->next->item, FI_BODY_SECTION);
	CU_ASSERT_TRUE(g->fetch->next->peek);
	CU_ASSERT_EQUAL(g->fetch->next->sec.nfields, 3);
	g = g->next;
	CU_ASSERT_EQUAL_FATAL(g->filter, NF_SUBTREE);
	CU_ASSERT_EQUAL_FATAL(g->nmailboxes, 2);
	CU_ASSERT_STRING_EQUAL(g->mailboxes[1], "Other Lists");
	CU_ASSERT_EQUAL(g->events,
	    NEV_MESSAGENEW | NEV_MESSAGEEXPUNGE | NEV_FLAGCHANGE);
	g = g->next;
	CU_ASSERT_EQUAL_FATAL(g->filter, NF_MAILBOXES);
	CU_ASSERT_STRING_EQUAL(g->mailboxes[0], "INBOX");
	CU_ASSERT_EQUAL(g->events, 0);
	g = g->next;
	CU_ASSERT_EQUAL_FATAL(g->filter, NF_PERSONAL);
	CU_ASSERT_EQUAL(g->events, NEV_MAILBOXNAME | NEV_SUBSCRIPTIONCHANGE |
	    NEV_MAILBOXMETADATA | NEV_SERVERMETADATA);
	CU_ASSERT_PTR_NULL(g->next);
	OK("a NOTIFY SET (selected-delayed (messagenew messageexpunge)) "
	    "(inboxes (MessageNew MessageExpunge)) (subscribed NONE)");
	g = C.u.notify.groups;
	CU_ASSERT_FALSE(C.u.notify.status);
	CU_ASSERT_EQUAL(g->filter, NF_SELECTED_DELAYED);
	/* as written: a shared mailbox's owner gets it so */
	CU_ASSERT_STRING_EQUAL(g->text,
	    "(selected-delayed (messagenew messageexpunge))");
	CU_ASSERT_STRING_EQUAL(g->next->next->text, "(subscribed NONE)");
	CU_ASSERT_PTR_NULL(g->fetch);
	CU_ASSERT_EQUAL(g->next->filter, NF_INBOXES);
	CU_ASSERT_EQUAL(g->next->next->filter, NF_SUBSCRIBED);
	/* Unknown events and AnnotationChange parse: the executor answers
	 * NO [BADEVENT] (RFC 5465 3.1), not BAD. */
	OK("a NOTIFY SET (personal (MessageNew MessageExpunge "
	    "AnnotationChange x-Future))");
	CU_ASSERT_EQUAL(C.u.notify.groups->events, NEV_MESSAGENEW |
	    NEV_MESSAGEEXPUNGE | NEV_ANNOTATIONCHANGE | NEV_UNKNOWN);
}

void
test_parse_notify_bad(void)
{
	BAD("a NOTIFY", "Missing SET or NONE");
	BAD("a NOTIFY GET", "NOTIFY takes SET or NONE");
	BAD("a NOTIFY NONE (personal NONE)", "Unexpected extra arguments");
	BAD("a NOTIFY SET", "Missing event groups");
	BAD("a NOTIFY SET STATUS", "Missing event groups");
	BAD("a NOTIFY SET personal", "Expected '(' before an event group");
	BAD("a NOTIFY SET (personal)", "Expected SP after mailbox filter");
	BAD("a NOTIFY SET (personal ())", "event");
	BAD("a NOTIFY SET (personal (MailboxName)", "Expected ')' after");
	BAD("a NOTIFY SET (personal MessageNew)", "Expected '(' or NONE");
	BAD("a NOTIFY SET (all (MailboxName))", "Unknown NOTIFY mailbox filter");
	BAD("a NOTIFY SET (subtree (MailboxName))", "Expected SP");
	BAD("a NOTIFY SET (mailboxes () (MailboxName))", "mailbox name");
	/* RFC 5465 5: the pairs */
	BAD("a NOTIFY SET (personal (MessageNew))", "given together");
	BAD("a NOTIFY SET (personal (MessageExpunge MailboxName))",
	    "given together");
	BAD("a NOTIFY SET (personal (FlagChange))", "need MessageNew");
	BAD("a NOTIFY SET (personal (AnnotationChange MessageNew))",
	    "given together");
	/* 6.1: one selected filter, message events only */
	BAD("a NOTIFY SET (selected (MessageNew MessageExpunge)) "
	    "(selected (MessageNew MessageExpunge))", "Only one");
	BAD("a NOTIFY SET (selected NONE) (selected-delayed NONE)", "Only one");
	BAD("a NOTIFY SET (selected (MailboxName))", "Only message events");
	BAD("a NOTIFY SET (selected-delayed (SubscriptionChange))",
	    "Only message events");
	/* fetch attributes: only after MessageNew of a selected filter */
	BAD("a NOTIFY SET (personal (MessageNew (UID) MessageExpunge))",
	    "only allowed with SELECTED");
	BAD("a NOTIFY SET (selected (MessageNew (FOO) MessageExpunge))",
	    "Unknown FETCH attribute");
	BAD("a NOTIFY SET (selected (MessageNew (UID MessageExpunge))",
	    "Unknown FETCH attribute");
	BAD("a NOTIFY SET (selected (MessageNew () MessageExpunge))",
	    "FETCH attribute");
	BAD("a NOTIFY SET (personal (MailboxName)) ",
	    "Expected '(' before an event group");
}

/* ---- selected ---- */

void
test_parse_copy_move(void)
{
	OK("a COPY 2:4 MEETING");
	CU_ASSERT_EQUAL(C.id, CMD_COPY);
	CU_ASSERT_FALSE(C.uid);
	CU_ASSERT_EQUAL(C.u.copy.set.n, 1);
	CU_ASSERT_EQUAL(C.u.copy.set.r[0].lo, 2);
	CU_ASSERT_STRING_EQUAL(C.u.copy.mailbox, "MEETING");
	OK("a UID MOVE 42,*:50 \"Deleted Items\"");
	CU_ASSERT_EQUAL(C.id, CMD_MOVE);
	CU_ASSERT_STRING_EQUAL(C.name, "MOVE");
	CU_ASSERT_TRUE(C.uid);
	CU_ASSERT_EQUAL(C.u.copy.set.n, 2);
	CU_ASSERT_EQUAL(C.u.copy.set.r[1].lo, SEQ_STAR);
	CU_ASSERT_STRING_EQUAL(C.u.copy.mailbox, "Deleted Items");
	OK("a uid copy $ inbox");
	CU_ASSERT_TRUE(C.u.copy.set.dollar);
	CU_ASSERT_STRING_EQUAL(C.u.copy.mailbox, "INBOX");
	BAD("a COPY 0 x", "Invalid sequence set");
	BAD("a COPY 1:x x", "Invalid sequence set");
	BAD("a COPY x y", "Invalid sequence set");
	BAD("a COPY 1", "Missing mailbox name");
	BAD("a COPY", "Missing sequence set");
	BAD("a MOVE 1 a b", "Unexpected extra arguments");
}

void
test_parse_expunge(void)
{
	OK("a EXPUNGE");
	CU_ASSERT_EQUAL(C.id, CMD_EXPUNGE);
	CU_ASSERT_FALSE(C.u.expunge.has_set);
	OK("a UID EXPUNGE 3000:3002");
	CU_ASSERT_TRUE(C.uid);
	CU_ASSERT_TRUE(C.u.expunge.has_set);
	CU_ASSERT_EQUAL(C.u.expunge.set.r[0].hi, 3002);
	BAD("a UID EXPUNGE", "Missing sequence set");
	BAD("a EXPUNGE 1", "Unexpected extra arguments");
}

void
test_parse_null_and_empty_buffer(void)
{
	CU_ASSERT_EQUAL(imap_parse(&ph_arena, NULL, 0, &C, &E), -1);
	CU_ASSERT_STRING_EQUAL(C.tag, "*");
	CU_ASSERT_PTR_NOT_NULL(E);
	CU_ASSERT_EQUAL(parse(""), -1);
}

void
test_parse_arena_ceiling(void)
{
	struct arena small;
	struct imap_cmd c;
	const char *err;
	char s[4096];
	size_t n;
	int i;

	/* A command that needs more memory than allowed is BAD, not a crash. */
	n = (size_t)snprintf(s, sizeof(s), "a STORE 1 FLAGS (");
	for (i = 0; i < 200; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%sfl%d", i ? " " : "", i);
	snprintf(s + n, sizeof(s) - n, ")");
	arena_init(&small, 2048);
	CU_ASSERT_EQUAL(imap_parse(&small, s, strlen(s), &c, &err), -1);
	CU_ASSERT_STRING_EQUAL(err, "Command too complex");
	CU_ASSERT_STRING_EQUAL(c.tag, "a");
	arena_free(&small);
	arena_init(&small, 0);
	CU_ASSERT_EQUAL(imap_parse(&small, s, strlen(s), &c, &err), 0);
	CU_ASSERT_EQUAL(c.u.store.nflags, 200);
	arena_free(&small);
}

/* CATENATE (RFC 4469 section 5): TEXT literals and URLs, with flags and
 * date before, mixed with plain messages in MULTIAPPEND. */
void
test_parse_append_catenate(void)
{
	const struct append_msg *m;
	const struct append_part *p;

	static const char src[] = "a APPEND Drafts (\\Seen) "
	    "\"17-Jul-1996 02:44:25 -0700\" CATENATE "
	    "(URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" "
	    "TEXT {5}\r\nhello URL /INBOX/;UID=1 text ~{2}\r\n\0\1) {3}\r\nabc";

	CU_ASSERT_EQUAL_FATAL(parse_n(src, sizeof(src) - 1), 0);
	m = C.u.append.msgs;
	CU_ASSERT_EQUAL(C.u.append.nmsgs, 2);
	CU_ASSERT_EQUAL(m->nflags, 1);
	CU_ASSERT_TRUE(m->has_date);
	CU_ASSERT_EQUAL_FATAL(m->nparts, 4);
	p = m->parts;
	CU_ASSERT_STRING_EQUAL(p->url,
	    "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER");
	p = p->next;
	CU_ASSERT_PTR_NULL(p->url);
	CU_ASSERT(p->len == 5 && memcmp(p->data, "hello", 5) == 0);
	p = p->next;
	CU_ASSERT_STRING_EQUAL(p->url, "/INBOX/;UID=1");
	p = p->next;
	CU_ASSERT(p->binary && p->len == 2 && memcmp(p->data, "\0\1", 2) == 0);
	CU_ASSERT_PTR_NULL(p->next);
	m = m->next;
	CU_ASSERT_EQUAL(m->nparts, 0);
	CU_ASSERT(m->len == 3 && memcmp(m->data, "abc", 3) == 0);
	OK("a APPEND x catenate (url \"/x/;uid=1\") catenate (text {0}\r\n)");
	CU_ASSERT_EQUAL(C.u.append.nmsgs, 2);
	BAD("a APPEND x CATENATE ()", "Invalid CATENATE part");
	BAD("a APPEND x CATENATE", "Invalid message literal");
	BAD("a APPEND x CATENATE (TEXT \"x\")", "Invalid TEXT literal");
	BAD("a APPEND x CATENATE (URL {1}\r\nx", "Expected ')' after CATENATE");
	BAD("a APPEND x CATENATE (FOO x)", "Unknown CATENATE part FOO");
	BAD("a APPEND x CATENATE (URL)", "Expected SP after CATENATE part");
	BAD("a APPEND x CATENATE (URL ", "Missing URL");
	BAD("a APPEND x CATENATE URL /x/;uid=1", "Expected '(' after CATENATE");
	BAD("a APPEND x CATENATE (URL /x/;uid=1 )", "Invalid CATENATE part");
}

void
test_parse_append_catenate_limit(void)
{
	static char s[8192];
	size_t n;

	n = (size_t)snprintf(s, sizeof(s), "a APPEND x CATENATE (URL /x/;UID=1");
	for (int i = 1; i < 100; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, " TEXT {0}\r\n");
	snprintf(s + n, sizeof(s) - n, ")");
	OK(s);
	CU_ASSERT_EQUAL(C.u.append.msgs->nparts, 100);
	snprintf(s + n, sizeof(s) - n, " TEXT {0}\r\n)");
	BAD(s, "Too many CATENATE parts");
}

/* ---- URLAUTH (RFC 4467, RFC 5524) ---- */

void
test_parse_urlauth_commands(void)
{
	OK("a RESETKEY");
	CU_ASSERT_EQUAL(C.id, CMD_RESETKEY);
	CU_ASSERT_PTR_NULL(C.u.resetkey.mailbox);
	OK("a RESETKEY inbox INTERNAL xsample");
	CU_ASSERT_STRING_EQUAL(C.u.resetkey.mailbox, "INBOX");
	CU_ASSERT_EQUAL_FATAL(C.u.resetkey.nmechs, 2);
	CU_ASSERT_STRING_EQUAL(C.u.resetkey.mechs[1], "xsample");

	OK("a GENURLAUTH \"imap://j@h/INBOX/;UID=1;URLAUTH=authuser\" "
	    "INTERNAL \"imap://j@h/x/;UID=2;URLAUTH=anonymous\" internal");
	CU_ASSERT_EQUAL(C.id, CMD_GENURLAUTH);
	CU_ASSERT_EQUAL_FATAL(C.u.genurlauth.n, 2);
	CU_ASSERT_STRING_EQUAL(C.u.genurlauth.items[1].url,
	    "imap://j@h/x/;UID=2;URLAUTH=anonymous");
	CU_ASSERT_STRING_EQUAL(C.u.genurlauth.items[1].mech, "internal");

	OK("a URLFETCH \"imap://j@h/INBOX/;UID=1\" (\"imap://j@h/x/;UID=2\" "
	    "binary BODYPARTSTRUCTURE) (\"imap://j@h/y/;UID=3\")");
	CU_ASSERT_EQUAL(C.id, CMD_URLFETCH);
	CU_ASSERT_EQUAL_FATAL(C.u.urlfetch.n, 3);
	CU_ASSERT_FALSE(C.u.urlfetch.items[0].ext);
	CU_ASSERT(C.u.urlfetch.items[1].ext);
	CU_ASSERT_EQUAL(C.u.urlfetch.items[1].want,
	    URLFETCH_BINARY | URLFETCH_BODYPARTSTRUCTURE);
	CU_ASSERT(C.u.urlfetch.items[2].ext);
	CU_ASSERT_EQUAL(C.u.urlfetch.items[2].want, 0);

	BAD("a GENURLAUTH", "Missing URL");
	BAD("a GENURLAUTH \"imap://j@h/INBOX/;UID=1;URLAUTH=authuser\"",
	    "Missing mechanism");
	BAD("a URLFETCH", "Missing URL");
	BAD("a URLFETCH (\"u\" BODY BINARY)", "exclude each other");
	BAD("a URLFETCH (\"u\" BINARY BINARY)", "given twice");
	BAD("a URLFETCH (\"u\" TEXT)", "Unknown URLFETCH parameter");
	BAD("a URLFETCH (\"u\" BINARY", "");
	BAD("a RESETKEY INBOX (x)", "");
}

void
test_parse_urlfetch_limit(void)
{
	char buf[8192];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "a URLFETCH");

	for (int i = 0; i < 101; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, " u%d", i);
	BAD(buf, "Too many URLs");
}

/* RFC 6855 4: APPEND ... UTF8 (literal8), also within MULTIAPPEND;
 * whether the session may use it is the mailbox process's decision. */
void
test_parse_append_utf8(void)
{
	static const char s[] =
	    "a APPEND INBOX (\\Seen) UTF8 (~{4}\r\n\xc3\xa9t\xc3) {1}\r\nz";
	struct append_msg *m;

	CU_ASSERT_EQUAL_FATAL(parse_n(s, sizeof(s) - 1), 0);
	CU_ASSERT_EQUAL_FATAL(C.u.append.nmsgs, 2);
	m = C.u.append.msgs;
	CU_ASSERT_TRUE(m->utf8);
	CU_ASSERT_TRUE(m->binary);
	CU_ASSERT_EQUAL(m->nflags, 1);
	CU_ASSERT_EQUAL(m->len, 4);
	CU_ASSERT_EQUAL(memcmp(m->data, "\xc3\xa9t\xc3", 4), 0);
	CU_ASSERT_FALSE(m->next->utf8);
	OK("a APPEND INBOX utf8 (~{2+}\r\nab)");
	CU_ASSERT_TRUE(C.u.append.msgs->utf8);
	OK("a APPEND INBOX \"17-Jul-1996 02:44:25 -0700\" UTF8 (~{0}\r\n)");
	CU_ASSERT_TRUE(C.u.append.msgs->has_date);
	CU_ASSERT_TRUE(C.u.append.msgs->utf8);

	BAD("a APPEND INBOX UTF8 {2}\r\nab", "Expected '(' after UTF8");
	BAD("a APPEND INBOX UTF8 ({2}\r\nab)", "UTF8 needs a literal8 (~{n})");
	BAD("a APPEND INBOX UTF8 (~{2}\r\nab", "Expected ')' after UTF8 literal8");
	BAD("a APPEND INBOX UTF8 (~{2}\r\nab) ", "Missing message literal");
	BAD("a APPEND INBOX UTF8 (\"ab\")", "UTF8 needs a literal8 (~{n})");
	BAD("a APPEND INBOX UTF8", "Invalid message literal");
}

/* UTF-8 mailbox names (RFC 6855 3, RFC 9051 5.1) come as quoted strings
 * or literals; the parser passes their bytes on unchanged (the mailbox
 * process checks and converts them).  An atom stays 7-bit. */
void
test_parse_utf8_mailbox_names(void)
{
	OK("a SELECT \"Entw\xc3\xbcrfe\"");
	CU_ASSERT_STRING_EQUAL(C.u.select.mailbox, "Entw\xc3\xbcrfe");
	OK("a CREATE {6}\r\n\xe6\x97\xa5\xe6\x9c\xac");
	CU_ASSERT_STRING_EQUAL(C.u.create.mailbox, "\xe6\x97\xa5\xe6\x9c\xac");
	OK("a RENAME \"\xf0\x9f\x93\xa7\" \"x/\xc3\xa9\"");
	CU_ASSERT_STRING_EQUAL(C.u.rename.from, "\xf0\x9f\x93\xa7");
	CU_ASSERT_STRING_EQUAL(C.u.rename.to, "x/\xc3\xa9");
	OK("a LIST \"\" \"\xc3\xa9*\"");
	CU_ASSERT_STRING_EQUAL(C.u.list.patterns[0], "\xc3\xa9*");
	BAD("a SELECT Entw\xc3\xbcrfe", "Expected SP after mailbox name");
}

/* LITERAL- (RFC 7888, part of IMAP4rev2): a non-synchronizing literal
 * of up to 4096 octets; LITERAL+ takes any size the limits allow, so
 * {4096+} and larger both parse. */
void
test_parse_literal_minus(void)
{
	static char s[8300];
	size_t n;

	n = (size_t)snprintf(s, sizeof(s), "a APPEND INBOX {4096+}\r\n");
	memset(s + n, 'x', 4096);
	CU_ASSERT_EQUAL_FATAL(parse_n(s, n + 4096), 0);
	CU_ASSERT_EQUAL(C.u.append.msgs->len, 4096);
	n = (size_t)snprintf(s, sizeof(s), "a APPEND INBOX {4097+}\r\n");
	memset(s + n, 'y', 4097);
	CU_ASSERT_EQUAL_FATAL(parse_n(s, n + 4097), 0);
	CU_ASSERT_EQUAL(C.u.append.msgs->len, 4097);
}

/* UNAUTHENTICATE (RFC 8437 6): a bare command, no arguments. */
void
test_parse_unauthenticate(void)
{
	OK("a UNAUTHENTICATE");
	CU_ASSERT_EQUAL(C.id, CMD_UNAUTHENTICATE);
	CU_ASSERT_STRING_EQUAL(C.name, "UNAUTHENTICATE");
	OK("a unauthenticate");
	CU_ASSERT_EQUAL(C.id, CMD_UNAUTHENTICATE);
	BAD("a UNAUTHENTICATE x", "Unexpected extra arguments");
	BAD("a UNAUTHENTICATE ", "Unexpected extra arguments");
	BAD("a UID UNAUTHENTICATE", "Unknown command UID UNAUTHENTICATE");
}
