/*
 * test_store_mbox.c - mailboxes: name rules, CREATE with parents, DELETE
 * and RENAME per RFC 3501 (children, \Noselect, INBOX), listing, STATUS
 * counters, \Recent hand-out, special-use, UIDVALIDITY that never
 * repeats, keywords and subscriptions.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/imap.h"
#include "store/store.h"
#include "store_support.h"

static char *dir;
static struct store *S;

static void
setup(void)
{
	dir = ts_dir();
	S = ts_open(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(S);
}

static void
teardown(void)
{
	store_close(S);
	S = NULL;
	ts_rmdir(dir);
	dir = NULL;
}

static bool
exists(const char *name)
{
	struct mbox m;
	return store_mbox_find(S, name, &m) == 0;
}

static unsigned
mflags(const char *name)
{
	struct mbox m;
	return store_mbox_find(S, name, &m) == 0 ? m.flags : 0xffff;
}

static struct mbox
mb(const char *name)
{
	struct mbox m;

	memset(&m, 0, sizeof(m));
	CU_ASSERT_EQUAL(store_mbox_find(S, name, &m), 0);
	return m;
}

void
test_mbox_canon(void)
{
	char out[MK_MBOX_NAME_MAX], big[MK_MBOX_NAME_MAX + 1];

	CU_ASSERT_EQUAL(store_mbox_canon("inbox", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "INBOX");
	CU_ASSERT_EQUAL(store_mbox_canon("Inbox/x", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "INBOX/x");
	CU_ASSERT_EQUAL(store_mbox_canon("InboxFoo", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "InboxFoo");
	CU_ASSERT_EQUAL(store_mbox_canon("a/b/c", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "a/b/c");
	CU_ASSERT_EQUAL(store_mbox_canon("&AOQ-rger", out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(store_mbox_canon("", out, sizeof(out)), MK_INVALID);
	CU_ASSERT_EQUAL(store_mbox_canon("/a", out, sizeof(out)), MK_INVALID);
	CU_ASSERT_EQUAL(store_mbox_canon("a/", out, sizeof(out)), MK_INVALID);
	CU_ASSERT_EQUAL(store_mbox_canon("a//b", out, sizeof(out)), MK_INVALID);
	CU_ASSERT_EQUAL(store_mbox_canon("a*", out, sizeof(out)), MK_INVALID);
	CU_ASSERT_EQUAL(store_mbox_canon("a%b", out, sizeof(out)), MK_INVALID);
	CU_ASSERT_EQUAL(store_mbox_canon("a\rb", out, sizeof(out)), MK_INVALID);
	CU_ASSERT_EQUAL(store_mbox_canon("a\nb", out, sizeof(out)), MK_INVALID);
	CU_ASSERT_EQUAL(store_mbox_canon("abc", out, 3), MK_INVALID);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(store_mbox_canon(big, out, sizeof(out)), MK_INVALID);
	big[MK_MBOX_NAME_MAX - 1] = '\0';
	CU_ASSERT_EQUAL(store_mbox_canon(big, out, sizeof(out)), 0);
}

void
test_mbox_create_parents_and_exists(void)
{
	struct mbox m, p;

	setup();
	CU_ASSERT_EQUAL(store_mbox_create(S, "a/b/c", SPECIAL_USE_ARCHIVE, &m), 0);
	CU_ASSERT_STRING_EQUAL(m.name, "a/b/c");
	CU_ASSERT_EQUAL(m.special_use, SPECIAL_USE_ARCHIVE);
	CU_ASSERT_EQUAL(m.uidnext, 1);
	CU_ASSERT_EQUAL(m.highestmodseq, 1);
	CU_ASSERT_EQUAL(m.flags, 0);
	p = mb("a");
	CU_ASSERT_EQUAL(p.flags, 0);		/* parents are real mailboxes */
	CU_ASSERT_EQUAL(p.special_use, 0);
	CU_ASSERT(exists("a/b"));
	CU_ASSERT_EQUAL(store_mbox_create(S, "a/b/c", 0, &m), MK_EXISTS);
	CU_ASSERT_EQUAL(store_mbox_create(S, "inbox", 0, &m), MK_EXISTS);
	CU_ASSERT_EQUAL(store_mbox_create(S, "a//b", 0, &m), MK_INVALID);
	CU_ASSERT_EQUAL(store_mbox_create(S, "inbox/sub", 0, &m), 0);
	CU_ASSERT_STRING_EQUAL(m.name, "INBOX/sub");
	CU_ASSERT_EQUAL(store_mbox_get(S, m.id, &p), 0);
	CU_ASSERT_STRING_EQUAL(p.name, "INBOX/sub");
	CU_ASSERT_EQUAL(store_mbox_get(S, 99999, &p), MK_NOTFOUND);
	CU_ASSERT_EQUAL(store_mbox_find(S, "nothing", &p), MK_NOTFOUND);
	teardown();
}

void
test_mbox_delete_leaf_and_noselect(void)
{
	struct mbox a, m;

	setup();
	CU_ASSERT_EQUAL(store_mbox_create(S, "a/b", 0, &m), 0);
	a = mb("a");
	CU_ASSERT_NOT_EQUAL(ts_append(S, &a, ts_msg(NULL, "in a"), 0, "$x",
	    100, 0), 0);
	/* With children: loses its messages and becomes \Noselect. */
	CU_ASSERT_EQUAL(store_mbox_delete(S, "a"), 0);
	CU_ASSERT_EQUAL(mflags("a"), MBOX_NOSELECT);
	CU_ASSERT(exists("a/b"));
	CU_ASSERT_EQUAL(store_msg_append(S, &a, &(struct msg_new){ "x", 1,
	    { 1, 0 }, 0, "" }, &(uint32_t){ 0 }), MK_INVALID);
	/* A \Noselect with children can't be deleted. */
	CU_ASSERT_EQUAL(store_mbox_delete(S, "a"), MK_INVALID);
	/* Re-creating it makes a new incarnation. */
	CU_ASSERT_EQUAL(store_mbox_create(S, "a", 0, &m), 0);
	CU_ASSERT_EQUAL(m.flags, 0);
	CU_ASSERT(m.uidvalidity > a.uidvalidity);
	CU_ASSERT_EQUAL(m.uidnext, 1);
	CU_ASSERT_EQUAL(store_mbox_delete(S, "a"), 0);
	/* Deleting the last child takes the \Noselect parent with it. */
	CU_ASSERT_EQUAL(store_mbox_delete(S, "a/b"), 0);
	CU_ASSERT_FALSE(exists("a/b"));
	CU_ASSERT_FALSE(exists("a"));
	CU_ASSERT_EQUAL(store_mbox_delete(S, "a"), MK_NOTFOUND);
	CU_ASSERT_EQUAL(store_mbox_delete(S, "INBOX"), MK_INVALID);
	CU_ASSERT_EQUAL(store_mbox_delete(S, "inbox"), MK_INVALID);
	/* A selectable parent stays when its child goes. */
	CU_ASSERT_EQUAL(store_mbox_create(S, "p/q", 0, &m), 0);
	CU_ASSERT_EQUAL(store_mbox_delete(S, "p/q"), 0);
	CU_ASSERT(exists("p"));
	teardown();
}

void
test_mbox_rename_with_children(void)
{
	struct mbox m, before, after;

	setup();
	CU_ASSERT_EQUAL(store_mbox_create(S, "a/b/c", 0, &m), 0);
	CU_ASSERT_EQUAL(store_mbox_create(S, "ab", 0, &m), 0);
	before = mb("a/b");
	CU_ASSERT_NOT_EQUAL(ts_append(S, &before, ts_msg(NULL, "x"), 0, "",
	    5, 0), 0);
	CU_ASSERT_EQUAL(store_mbox_rename(S, "a", "z/y"), 0);
	CU_ASSERT_FALSE(exists("a"));
	CU_ASSERT_FALSE(exists("a/b"));
	CU_ASSERT_FALSE(exists("a/b/c"));
	CU_ASSERT(exists("z"));
	CU_ASSERT(exists("z/y"));
	CU_ASSERT(exists("z/y/b/c"));
	CU_ASSERT(exists("ab"));		/* a sibling, not a child */
	after = mb("z/y/b");
	/* Same mailbox: UIDs stay valid. */
	CU_ASSERT_EQUAL(after.id, before.id);
	CU_ASSERT_EQUAL(after.uidvalidity, before.uidvalidity);
	CU_ASSERT_EQUAL(after.uidnext, 2);
	CU_ASSERT_EQUAL(store_mbox_rename(S, "z/y", "ab"), MK_EXISTS);
	CU_ASSERT_EQUAL(store_mbox_rename(S, "z/y", "inbox"), MK_EXISTS);
	CU_ASSERT_EQUAL(store_mbox_rename(S, "z/y", "z/y/b/d"), MK_INVALID);
	CU_ASSERT_EQUAL(store_mbox_rename(S, "nope", "x"), MK_NOTFOUND);
	CU_ASSERT_EQUAL(store_mbox_rename(S, "z/y", "z//q"), MK_INVALID);
	/* Renaming away the only child of a \Noselect parent removes it. */
	CU_ASSERT_EQUAL(store_mbox_create(S, "n/k", 0, &m), 0);
	CU_ASSERT_EQUAL(store_mbox_delete(S, "n"), 0);
	CU_ASSERT_EQUAL(mflags("n"), MBOX_NOSELECT);
	CU_ASSERT_EQUAL(store_mbox_rename(S, "n/k", "k"), 0);
	CU_ASSERT_FALSE(exists("n"));
	CU_ASSERT(exists("k"));
	teardown();
}

static int
collect_expunged(uint32_t uid, uint64_t modseq, void *arg)
{
	uint32_t *n = arg;

	(void)modseq;
	n[0]++;
	n[n[0]] = uid;
	return 0;
}

void
test_mbox_rename_inbox(void)
{
	struct mbox in, m, old, in2;
	struct mbox_status st;
	uint32_t *uids, exp[8] = { 0 };
	size_t n;

	setup();
	in = mb("INBOX");
	CU_ASSERT_EQUAL(store_mbox_create(S, "INBOX/child", 0, &m), 0);
	CU_ASSERT_EQUAL(ts_append(S, &in, ts_msg(NULL, "1"), MF_SEEN, "$Work",
	    10, 0), 1);
	CU_ASSERT_EQUAL(ts_append(S, &in, ts_msg(NULL, "2"), 0, "", 20, 0), 2);
	CU_ASSERT_EQUAL(store_mbox_rename(S, "inbox", "Old/Inbox"), 0);
	/* INBOX stays, empty, same UIDVALIDITY, UIDs not reused. */
	in2 = mb("INBOX");
	CU_ASSERT_EQUAL(in2.id, in.id);
	CU_ASSERT_EQUAL(in2.uidvalidity, in.uidvalidity);
	CU_ASSERT_EQUAL(in2.uidnext, 3);
	CU_ASSERT(in2.highestmodseq > in.highestmodseq);
	CU_ASSERT_EQUAL(store_mbox_status(S, &in2, &st), 0);
	CU_ASSERT_EQUAL(st.messages, 0);
	CU_ASSERT_EQUAL(st.size, 0);
	CU_ASSERT(exists("INBOX/child"));
	/* Its messages went to a new mailbox, in order, with their flags. */
	old = mb("Old/Inbox");
	CU_ASSERT(exists("Old"));
	CU_ASSERT_NOT_EQUAL(old.id, in.id);
	CU_ASSERT_NOT_EQUAL(old.uidvalidity, in.uidvalidity);
	CU_ASSERT_EQUAL(old.uidnext, 3);
	CU_ASSERT_EQUAL(store_msg_uids(S, &old, &uids, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	if (n == 2)
		CU_ASSERT(uids[0] == 1 && uids[1] == 2);
	free(uids);
	CU_ASSERT_EQUAL(store_mbox_status(S, &old, &st), 0);
	CU_ASSERT_EQUAL(st.messages, 2);
	CU_ASSERT_EQUAL(st.unseen, 1);
	/* INBOX's QRESYNC clients learn both UIDs vanished. */
	CU_ASSERT_EQUAL(store_expunged_since(S, &in2, in.highestmodseq,
	    collect_expunged, exp), 0);
	CU_ASSERT_EQUAL(exp[0], 2);
	CU_ASSERT(exp[1] == 1 && exp[2] == 2);
	/* New mail to INBOX continues above the old UIDs. */
	CU_ASSERT_EQUAL(ts_append(S, &in2, ts_msg(NULL, "3"), 0, "", 30, 0), 3);
	CU_ASSERT_EQUAL(store_mbox_rename(S, "INBOX", "Old/Inbox"), MK_EXISTS);
	teardown();
}

static int
names_cb(const struct mbox *m, void *arg)
{
	char *out = arg;

	strcat(out, m->name);
	strcat(out, ",");
	return 0;
}

static int
stop_cb(const struct mbox *m, void *arg)
{
	(void)m;
	return ++*(int *)arg == 2 ? 42 : 0;
}

void
test_mbox_foreach_and_children(void)
{
	char names[256] = "";
	struct mbox m;
	int calls = 0;

	setup();
	CU_ASSERT_EQUAL(store_mbox_create(S, "b/x", 0, &m), 0);
	CU_ASSERT_EQUAL(store_mbox_create(S, "a", 0, &m), 0);
	CU_ASSERT_EQUAL(store_mbox_create(S, "b.x", 0, &m), 0);
	CU_ASSERT_EQUAL(store_mbox_foreach(S, names_cb, names), 0);
	CU_ASSERT_STRING_EQUAL(names, "INBOX,a,b,b.x,b/x,");
	CU_ASSERT_EQUAL(store_mbox_foreach(S, stop_cb, &calls), 42);
	CU_ASSERT_EQUAL(calls, 2);
	CU_ASSERT(store_mbox_has_children(S, "b"));
	CU_ASSERT_FALSE(store_mbox_has_children(S, "a"));
	CU_ASSERT_FALSE(store_mbox_has_children(S, "b.x"));
	CU_ASSERT_FALSE(store_mbox_has_children(S, "b/x"));
	CU_ASSERT_FALSE(store_mbox_has_children(S, "INBOX"));
	teardown();
}

void
test_mbox_status_counters(void)
{
	struct mbox in, t;
	struct mbox_status st;
	struct flag_change ch;
	uint32_t newuid;
	uint64_t ms;

	setup();
	in = mb("INBOX");
	CU_ASSERT_EQUAL(store_mbox_create(S, "t", 0, &t), 0);
	CU_ASSERT_EQUAL(ts_append(S, &in, "12345", MF_SEEN, "", 1, 0), 1);
	CU_ASSERT_EQUAL(ts_append(S, &in, "1234567", MF_DELETED, "", 1, 0), 2);
	CU_ASSERT_EQUAL(ts_append(S, &in, "123", 0, "", 1, 0), 3);
	CU_ASSERT_EQUAL(store_mbox_status(S, &in, &st), 0);
	CU_ASSERT_EQUAL(st.messages, 3);
	CU_ASSERT_EQUAL(st.unseen, 2);
	CU_ASSERT_EQUAL(st.deleted, 1);
	CU_ASSERT_EQUAL(st.size, 15);
	CU_ASSERT_EQUAL(st.deleted_size, 7);
	CU_ASSERT_EQUAL(st.recent, 3);
	ch = (struct flag_change){ 3, MF_SEEN | MF_DELETED, "" };
	CU_ASSERT_EQUAL(store_msg_set_flags(S, &in, &ch, 1, &ms), 0);
	CU_ASSERT_EQUAL(store_mbox_status(S, &in, &st), 0);
	CU_ASSERT_EQUAL(st.unseen, 1);
	CU_ASSERT_EQUAL(st.deleted, 2);
	CU_ASSERT_EQUAL(st.deleted_size, 10);
	CU_ASSERT_EQUAL(store_msg_copy(S, &in, &t, &(uint32_t){ 2 }, 1,
	    &newuid), 0);
	CU_ASSERT_EQUAL(store_msg_expunge(S, &in, (uint32_t[]){ 2, 3 }, 2), 0);
	CU_ASSERT_EQUAL(store_mbox_status(S, &in, &st), 0);
	CU_ASSERT_EQUAL(st.messages, 1);
	CU_ASSERT_EQUAL(st.unseen, 0);
	CU_ASSERT_EQUAL(st.deleted, 0);
	CU_ASSERT_EQUAL(st.size, 5);
	CU_ASSERT_EQUAL(st.deleted_size, 0);
	CU_ASSERT_EQUAL(store_mbox_status(S, &t, &st), 0);
	CU_ASSERT_EQUAL(st.messages, 1);
	CU_ASSERT_EQUAL(st.deleted, 1);
	CU_ASSERT_EQUAL(st.deleted_size, 7);
	CU_ASSERT_EQUAL(st.recent, 1);
	teardown();
}

void
test_mbox_claim_recent(void)
{
	struct mbox in, other;
	uint32_t from, to;

	setup();
	in = mb("INBOX");
	ts_append(S, &in, "a", 0, "", 1, 0);
	ts_append(S, &in, "b", 0, "", 1, 0);
	CU_ASSERT_EQUAL(store_mbox_claim_recent(S, &in, &from, &to), 0);
	CU_ASSERT_EQUAL(from, 1);
	CU_ASSERT_EQUAL(to, 3);
	CU_ASSERT_EQUAL(in.recent_uid, 3);
	/* A second session gets nothing... */
	other = mb("INBOX");
	CU_ASSERT_EQUAL(store_mbox_claim_recent(S, &other, &from, &to), 0);
	CU_ASSERT_EQUAL(from, to);
	/* ...until new mail arrives, which goes to whoever claims first. */
	ts_append(S, &in, "c", 0, "", 1, 0);
	CU_ASSERT_EQUAL(store_mbox_claim_recent(S, &other, &from, &to), 0);
	CU_ASSERT_EQUAL(from, 3);
	CU_ASSERT_EQUAL(to, 4);
	CU_ASSERT_EQUAL(store_mbox_claim_recent(S, &in, &from, &to), 0);
	CU_ASSERT_EQUAL(from, to);
	teardown();
}

void
test_mbox_special_use(void)
{
	struct mbox m;

	setup();
	CU_ASSERT_EQUAL(store_mbox_create(S, "Junk", 0, &m), 0);
	CU_ASSERT_EQUAL(store_mbox_set_special_use(S, &m, SPECIAL_USE_JUNK), 0);
	CU_ASSERT_EQUAL(m.special_use, SPECIAL_USE_JUNK);
	CU_ASSERT_EQUAL(mb("Junk").special_use, SPECIAL_USE_JUNK);
	m.id = 424242;
	CU_ASSERT_EQUAL(store_mbox_set_special_use(S, &m, 0), MK_NOTFOUND);
	teardown();
}

void
test_mbox_uidvalidity_never_repeats(void)
{
	uint32_t seen[40];
	struct mbox m;
	int i, j;

	setup();
	/* Far faster than one per second: values still never repeat. */
	for (i = 0; i < 40; i++) {
		CU_ASSERT_EQUAL(store_mbox_create(S, "again", 0, &m), 0);
		seen[i] = m.uidvalidity;
		CU_ASSERT_EQUAL(store_mbox_delete(S, "again"), 0);
	}
	for (i = 1; i < 40; i++)
		CU_ASSERT(seen[i] > seen[i - 1]);
	for (i = 0; i < 40; i++)
		for (j = i + 1; j < 40; j++)
			CU_ASSERT_NOT_EQUAL(seen[i], seen[j]);
	/* Also across reopening. */
	store_close(S);
	S = ts_open(dir);
	CU_ASSERT_EQUAL(store_mbox_create(S, "again", 0, &m), 0);
	CU_ASSERT(m.uidvalidity > seen[39]);
	teardown();
}

static int
kw_cb(const char *kw, void *arg)
{
	strcat(arg, kw);
	strcat(arg, ",");
	return 0;
}

void
test_mbox_keywords(void)
{
	struct mbox in, t;
	char out[64], list[256] = "";

	setup();
	in = mb("INBOX");
	CU_ASSERT_EQUAL(store_mbox_create(S, "t", 0, &t), 0);
	CU_ASSERT_EQUAL(store_keyword_canon(S, &in, "$Label1", out,
	    sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "$Label1");
	/* Case-insensitive, first spelling kept. */
	CU_ASSERT_EQUAL(store_keyword_canon(S, &in, "$LABEL1", out,
	    sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "$Label1");
	CU_ASSERT_EQUAL(store_keyword_canon(S, &in, "NonJunk", out,
	    sizeof(out)), 0);
	/* Per mailbox. */
	CU_ASSERT_EQUAL(store_keyword_canon(S, &t, "$label1", out,
	    sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "$label1");
	CU_ASSERT_EQUAL(store_keyword_canon(S, &in, "bad kw", out,
	    sizeof(out)), MK_INVALID);
	CU_ASSERT_EQUAL(store_keyword_canon(S, &in, "\\Seen", out,
	    sizeof(out)), MK_INVALID);
	CU_ASSERT_EQUAL(store_keyword_canon(S, &in, "", out, sizeof(out)),
	    MK_INVALID);
	CU_ASSERT_EQUAL(store_keyword_canon(S, &in, "$Label1", out, 4),
	    MK_INVALID);
	CU_ASSERT_EQUAL(store_keywords(S, &in, kw_cb, list), 0);
	CU_ASSERT_STRING_EQUAL(list, "$Label1,NonJunk,");
	/* Appending defines keywords and stores their defined spelling. */
	CU_ASSERT_EQUAL(ts_append(S, &in, "m", 0, "nonjunk $new $LABEL1 $New",
	    1, 0), 1);
	list[0] = '\0';
	CU_ASSERT_EQUAL(store_keywords(S, &in, kw_cb, list), 0);
	CU_ASSERT_STRING_EQUAL(list, "$Label1,$new,NonJunk,");
	teardown();
}

/* store_keyword_gen() moves whenever a count of keywords may differ
 * (sessions recount only then), and stays put otherwise. */
void
test_mbox_keyword_gen(void)
{
	struct store *other = NULL;
	struct mbox in, t;
	char out[64], err[256];
	uint64_t g;
	size_t n;

	setup();
	in = mb("INBOX");
	g = store_keyword_gen(S);
	CU_ASSERT_NOT_EQUAL(g, 0);	/* 0 is a view's "never counted" */
	CU_ASSERT_EQUAL(store_keyword_canon(S, &in, "$Label1", out,
	    sizeof(out)), 0);
	CU_ASSERT_NOT_EQUAL(store_keyword_gen(S), g);
	/* Looking up a keyword already defined changes nothing. */
	g = store_keyword_gen(S);
	CU_ASSERT_EQUAL(store_keyword_canon(S, &in, "$label1", out,
	    sizeof(out)), 0);
	CU_ASSERT_EQUAL(store_keyword_gen(S), g);
	CU_ASSERT_FALSE(store_changed_externally(S));
	CU_ASSERT_EQUAL(store_keyword_gen(S), g);
	/* Another connection's commit: it may have defined one. */
	CU_ASSERT_EQUAL_FATAL(store_open(ts_path(dir, "store.db"), false,
	    STORE_SYNC_NONE, NULL, 0, &other, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_mbox_find(other, "INBOX", &t), 0);
	CU_ASSERT_EQUAL(store_keyword_canon(other, &t, "$Other", out,
	    sizeof(out)), 0);
	store_close(other);
	CU_ASSERT_TRUE(store_changed_externally(S));
	CU_ASSERT_NOT_EQUAL(store_keyword_gen(S), g);
	CU_ASSERT_EQUAL(store_keyword_count(S, &in, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	/* A mailbox removed with its keywords. */
	CU_ASSERT_EQUAL(store_mbox_create(S, "t", 0, &t), 0);
	g = store_keyword_gen(S);
	CU_ASSERT_EQUAL(store_mbox_delete(S, "t"), 0);
	CU_ASSERT_NOT_EQUAL(store_keyword_gen(S), g);
	teardown();
}

void
test_mbox_subscriptions(void)
{
	char list[256] = "";

	setup();
	CU_ASSERT_EQUAL(store_sub_set(S, "b", true), 0);
	CU_ASSERT_EQUAL(store_sub_set(S, "a/x", true), 0);
	CU_ASSERT_EQUAL(store_sub_set(S, "a/x", true), 0);	/* idempotent */
	CU_ASSERT_EQUAL(store_sub_set(S, "inbox", true), 0);
	CU_ASSERT(store_sub_has(S, "INBOX"));
	CU_ASSERT(store_sub_has(S, "a/x"));
	/* A name needn't exist to be subscribed. */
	CU_ASSERT_FALSE(store_mbox_has_children(S, "a"));
	CU_ASSERT_EQUAL(store_sub_foreach(S, (int (*)(const char *, void *))
	    kw_cb, list), 0);
	CU_ASSERT_STRING_EQUAL(list, "INBOX,a/x,b,");
	CU_ASSERT_EQUAL(store_sub_set(S, "b", false), 0);
	CU_ASSERT_FALSE(store_sub_has(S, "b"));
	CU_ASSERT_EQUAL(store_sub_set(S, "b", false), 0);
	CU_ASSERT_EQUAL(store_sub_set(S, "a*", true), MK_INVALID);
	/* Deleting a mailbox leaves its subscription (RFC 3501 6.3.6). */
	CU_ASSERT_EQUAL(store_mbox_create(S, "c", 0, &(struct mbox){ 0 }), 0);
	CU_ASSERT_EQUAL(store_sub_set(S, "c", true), 0);
	CU_ASSERT_EQUAL(store_mbox_delete(S, "c"), 0);
	CU_ASSERT(store_sub_has(S, "c"));
	teardown();
}
