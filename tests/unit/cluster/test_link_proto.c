/*
 * test_link_proto.c - the link's frames (daemon/cluster/link_proto.c):
 * what is built reads back the same, and every malformed frame - cut
 * short anywhere, too long, with bytes left over, with a field out of
 * its bounds - is refused rather than half-read.
 */
#include "daemon/cluster/link.h"
#include "common/util.h"

#include <CUnit/CUnit.h>
#include <string.h>

/* The frame in m, finished; its bytes and length. */
static const uint8_t *
finish(struct ipc_msg *m, size_t *n)
{
	CU_ASSERT_EQUAL_FATAL(link_frame_finish(m), 0);
	*n = buf_len(&m->b);
	return (const uint8_t *)buf_ptr(&m->b);
}

static void
sample_move(struct link_move *mv)
{
	memset(mv, 0, sizeof(*mv));
	mk_strlcpy(mv->user, "alice", sizeof(mv->user));
	mk_strlcpy(mv->hash, "$y$j9T$salt$hash", sizeof(mv->hash));
	mv->admin = true;
	mv->quota_storage = -1;
	mv->quota_messages = 500;
	mv->bytes = 123456;
	for (int i = 0; i < 32; i++)
		mv->sha256[i] = (uint8_t)i;
}

void
test_hello_round_trip(void)
{
	struct ipc_msg m;
	struct ipc_reader r;
	uint32_t v;
	char name[MK_USER_MAX];
	size_t n;

	link_frame_init(&m, LINK_HELLO);
	ipc_put_u32(&m, LINK_VERSION);
	ipc_put_str(&m, "b1");
	const uint8_t *p = finish(&m, &n);
	CU_ASSERT_EQUAL(link_frame_parse(p, n, &r), (ssize_t)n);
	CU_ASSERT_TRUE(link_read_hello(&r, &v, name, sizeof(name)));
	CU_ASSERT_EQUAL(v, LINK_VERSION);
	CU_ASSERT_STRING_EQUAL(name, "b1");
	/* Every prefix is "more, please", never a frame. */
	for (size_t k = 0; k < n; k++)
		CU_ASSERT_EQUAL(link_frame_parse(p, k, &r), 0);
	ipc_msg_free(&m);
}

void
test_frame_length_bounds(void)
{
	struct ipc_reader r;
	uint8_t big[8] = { 0, 0x01, 0x80, 0x01, 0, 0, 0, 1 };
	uint8_t small[8] = { 0, 0, 0, 3, 0, 0, 0, 1 };
	uint8_t max[8] = { 0, (LINK_FRAME_MAX >> 16) & 0xff,
	    (LINK_FRAME_MAX >> 8) & 0xff, LINK_FRAME_MAX & 0xff, 0, 0, 0, 1 };

	CU_ASSERT_EQUAL(link_frame_parse(big, sizeof(big), &r), -1);
	CU_ASSERT_EQUAL(link_frame_parse(small, sizeof(small), &r), -1);
	/* The largest legal length: only a wait for its bytes. */
	CU_ASSERT_EQUAL(link_frame_parse(max, sizeof(max), &r), 0);
}

void
test_two_frames_in_one_read(void)
{
	struct ipc_msg a, b;
	struct ipc_reader r;
	uint8_t both[256];
	size_t na, nb;
	uint32_t code;
	char text[64];

	link_frame_init(&a, LINK_RESULT);
	ipc_put_u32(&a, LINK_TEMPFAIL);
	ipc_put_str(&a, "later");
	link_frame_init(&b, LINK_MOVE_END);
	const uint8_t *pa = finish(&a, &na), *pb = finish(&b, &nb);
	memcpy(both, pa, na);
	memcpy(both + na, pb, nb);
	CU_ASSERT_EQUAL(link_frame_parse(both, na + nb, &r), (ssize_t)na);
	CU_ASSERT_TRUE(link_read_result(&r, &code, text, sizeof(text)));
	CU_ASSERT_EQUAL(code, LINK_TEMPFAIL);
	CU_ASSERT_EQUAL(link_frame_parse(both + na, nb, &r), (ssize_t)nb);
	CU_ASSERT_EQUAL(r.type, LINK_MOVE_END);
	CU_ASSERT_TRUE(ipc_end(&r));
	ipc_msg_free(&a);
	ipc_msg_free(&b);
}

void
test_move_begin_round_trip(void)
{
	struct link_move in, out;
	struct ipc_msg m;
	struct ipc_reader r;
	size_t n;

	sample_move(&in);
	link_frame_init(&m, LINK_MOVE_BEGIN);
	link_put_move_begin(&m, &in);
	const uint8_t *p = finish(&m, &n);
	CU_ASSERT_EQUAL(link_frame_parse(p, n, &r), (ssize_t)n);
	CU_ASSERT_TRUE_FATAL(link_read_move_begin(&r, &out));
	CU_ASSERT_STRING_EQUAL(out.user, "alice");
	CU_ASSERT_STRING_EQUAL(out.hash, in.hash);
	CU_ASSERT_TRUE(out.admin);
	CU_ASSERT_EQUAL(out.quota_storage, -1);
	CU_ASSERT_EQUAL(out.quota_messages, 500);
	CU_ASSERT_EQUAL(out.bytes, 123456);
	CU_ASSERT_EQUAL(memcmp(out.sha256, in.sha256, 32), 0);
	ipc_msg_free(&m);
}

/* A MOVE_BEGIN whose fields are set by hand; true if it reads. */
static bool
begin_reads(const char *user, const char *hash, uint8_t admin,
    uint64_t qs, uint64_t bytes, size_t nsha, bool extra)
{
	uint8_t sha[33] = { 0 };
	struct link_move mv;
	struct ipc_msg m;
	struct ipc_reader r;
	size_t n;
	bool ok;

	link_frame_init(&m, LINK_MOVE_BEGIN);
	ipc_put_str(&m, user);
	ipc_put_str(&m, hash);
	ipc_put_u8(&m, admin);
	ipc_put_u64(&m, qs);
	ipc_put_u64(&m, 0);
	ipc_put_u64(&m, bytes);
	ipc_put_bytes(&m, sha, nsha);
	if (extra)
		ipc_put_u8(&m, 0);
	const uint8_t *p = finish(&m, &n);
	ok = link_frame_parse(p, n, &r) == (ssize_t)n &&
	    link_read_move_begin(&r, &mv);
	ipc_msg_free(&m);
	return ok;
}

void
test_move_begin_malformed(void)
{
	const char *h = "$y$j9T$s$h";

	CU_ASSERT_TRUE(begin_reads("bob", h, 0, 0, 10, 32, false));
	CU_ASSERT_FALSE(begin_reads("bob", h, 0, 0, 10, 32, true));
	CU_ASSERT_FALSE(begin_reads("Bob", h, 0, 0, 10, 32, false));
	CU_ASSERT_FALSE(begin_reads("../etc", h, 0, 0, 10, 32, false));
	CU_ASSERT_FALSE(begin_reads("", h, 0, 0, 10, 32, false));
	CU_ASSERT_FALSE(begin_reads("anyone", h, 0, 0, 10, 32, false));
	CU_ASSERT_FALSE(begin_reads("bob", "", 0, 0, 10, 32, false));
	CU_ASSERT_FALSE(begin_reads("bob", "a b", 0, 0, 10, 32, false));
	CU_ASSERT_FALSE(begin_reads("bob", h, 2, 0, 10, 32, false));
	CU_ASSERT_FALSE(begin_reads("bob", h, 0, (uint64_t)INT64_MAX + 1, 10,
	    32, false));
	CU_ASSERT_FALSE(begin_reads("bob", h, 0, 0, LINK_STORE_MAX + 1, 32,
	    false));
	CU_ASSERT_FALSE(begin_reads("bob", h, 0, 0, 10, 31, false));
	CU_ASSERT_FALSE(begin_reads("bob", h, 0, 0, 10, 33, false));
}

void
test_move_begin_cut_anywhere(void)
{
	struct link_move in, out;
	struct ipc_msg m;
	struct ipc_reader r;
	uint8_t cut[1024];
	size_t n;

	sample_move(&in);
	link_frame_init(&m, LINK_MOVE_BEGIN);
	link_put_move_begin(&m, &in);
	const uint8_t *p = finish(&m, &n);
	CU_ASSERT_FATAL(n <= sizeof(cut));
	/* The frame's own length shortened to every point inside it: the
	 * fields then run past the end. */
	for (size_t k = 8; k < n; k++) {
		memcpy(cut, p, k);
		uint32_t len = (uint32_t)(k - 4);
		cut[0] = (uint8_t)(len >> 24);
		cut[1] = (uint8_t)(len >> 16);
		cut[2] = (uint8_t)(len >> 8);
		cut[3] = (uint8_t)len;
		CU_ASSERT_EQUAL(link_frame_parse(cut, k, &r), (ssize_t)k);
		CU_ASSERT_FALSE(link_read_move_begin(&r, &out));
	}
	ipc_msg_free(&m);
}

void
test_data_and_result_bounds(void)
{
	static uint8_t chunk[LINK_CHUNK + 1];
	struct ipc_msg m;
	struct ipc_reader r;
	const uint8_t *p;
	size_t n, len;
	uint32_t code;
	char text[8];

	link_frame_init(&m, LINK_MOVE_DATA);
	ipc_put_bytes(&m, chunk, LINK_CHUNK);
	p = finish(&m, &n);
	CU_ASSERT_EQUAL(link_frame_parse(p, n, &r), (ssize_t)n);
	CU_ASSERT_TRUE(link_read_move_data(&r, &p, &len));
	CU_ASSERT_EQUAL(len, LINK_CHUNK);
	ipc_msg_free(&m);
	link_frame_init(&m, LINK_MOVE_DATA);
	ipc_put_bytes(&m, chunk, LINK_CHUNK + 1);
	p = finish(&m, &n);
	CU_ASSERT_EQUAL(link_frame_parse(p, n, &r), (ssize_t)n);
	CU_ASSERT_FALSE(link_read_move_data(&r, &p, &len));
	ipc_msg_free(&m);
	link_frame_init(&m, LINK_MOVE_DATA);
	ipc_put_bytes(&m, chunk, 0);
	p = finish(&m, &n);
	CU_ASSERT_EQUAL(link_frame_parse(p, n, &r), (ssize_t)n);
	CU_ASSERT_FALSE(link_read_move_data(&r, &p, &len));
	ipc_msg_free(&m);
	/* A code beyond the known ones; a text longer than asked for. */
	link_frame_init(&m, LINK_RESULT);
	ipc_put_u32(&m, LINK_LIMIT + 1);
	ipc_put_str(&m, "x");
	p = finish(&m, &n);
	CU_ASSERT_EQUAL(link_frame_parse(p, n, &r), (ssize_t)n);
	CU_ASSERT_FALSE(link_read_result(&r, &code, text, sizeof(text)));
	ipc_msg_free(&m);
	link_frame_init(&m, LINK_RESULT);
	ipc_put_u32(&m, LINK_OK);
	ipc_put_str(&m, "longer than eight");
	p = finish(&m, &n);
	CU_ASSERT_EQUAL(link_frame_parse(p, n, &r), (ssize_t)n);
	CU_ASSERT_FALSE(link_read_result(&r, &code, text, sizeof(text)));
	ipc_msg_free(&m);
}

void
test_wrong_type_and_bad_string(void)
{
	struct ipc_msg m;
	struct ipc_reader r;
	char name[MK_USER_MAX];
	uint32_t v;
	size_t n;

	/* A HELLO read as a RESULT, and a COMMIT for an invalid name. */
	link_frame_init(&m, LINK_HELLO);
	ipc_put_u32(&m, 1);
	ipc_put_str(&m, "b1");
	const uint8_t *p = finish(&m, &n);
	CU_ASSERT_EQUAL(link_frame_parse(p, n, &r), (ssize_t)n);
	CU_ASSERT_FALSE(link_read_result(&r, &v, name, sizeof(name)));
	ipc_msg_free(&m);
	link_frame_init(&m, LINK_MOVE_COMMIT);
	ipc_put_str(&m, "a/b");
	p = finish(&m, &n);
	CU_ASSERT_EQUAL(link_frame_parse(p, n, &r), (ssize_t)n);
	CU_ASSERT_FALSE(link_read_move_commit(&r, name, sizeof(name)));
	ipc_msg_free(&m);
	/* A string without its NUL, and version 0. */
	link_frame_init(&m, LINK_HELLO);
	ipc_put_u32(&m, 1);
	ipc_put_bytes(&m, "b1", 2);
	p = finish(&m, &n);
	CU_ASSERT_EQUAL(link_frame_parse(p, n, &r), (ssize_t)n);
	CU_ASSERT_FALSE(link_read_hello(&r, &v, name, sizeof(name)));
	ipc_msg_free(&m);
	link_frame_init(&m, LINK_HELLO);
	ipc_put_u32(&m, 0);
	ipc_put_str(&m, "b1");
	p = finish(&m, &n);
	CU_ASSERT_EQUAL(link_frame_parse(p, n, &r), (ssize_t)n);
	CU_ASSERT_FALSE(link_read_hello(&r, &v, name, sizeof(name)));
	ipc_msg_free(&m);
}

/* A frame of type t with string fields f[0..nf), parsed into r; the
 * caller frees m. */
static void
strings_frame(struct ipc_msg *m, struct ipc_reader *r, enum link_type t,
    const char *const *f, size_t nf)
{
	const uint8_t *p;
	size_t n;

	link_frame_init(m, t);
	for (size_t i = 0; i < nf; i++)
		ipc_put_str(m, f[i]);
	p = finish(m, &n);
	CU_ASSERT_EQUAL_FATAL(link_frame_parse(p, n, r), (ssize_t)n);
}

static bool
guest_open_reads(const char *owner, const char *grantee)
{
	const char *f[] = { owner, grantee };
	char o[MK_USER_MAX], g[MK_USER_MAX];
	struct ipc_msg m;
	struct ipc_reader r;

	strings_frame(&m, &r, LINK_GUEST_OPEN, f, 2);
	bool ok = link_read_guest_open(&r, o, g, sizeof(o));
	if (ok) {
		CU_ASSERT_STRING_EQUAL(o, owner);
		CU_ASSERT_STRING_EQUAL(g, grantee);
	}
	ipc_msg_free(&m);
	return ok;
}

void
test_guest_open_frames(void)
{
	char o[MK_USER_MAX], g[MK_USER_MAX];
	struct ipc_msg m;
	struct ipc_reader r;
	const uint8_t *p;
	size_t n;

	CU_ASSERT_TRUE(guest_open_reads("alice", "bob"));
	/* Names as the sender must have folded them, real users only,
	 * and no one is their own guest. */
	CU_ASSERT_FALSE(guest_open_reads("Alice", "bob"));
	CU_ASSERT_FALSE(guest_open_reads("alice", "anyone"));
	CU_ASSERT_FALSE(guest_open_reads("alice", "alice"));
	CU_ASSERT_FALSE(guest_open_reads("", "bob"));
	CU_ASSERT_FALSE(guest_open_reads("a/b", "bob"));
	CU_ASSERT_FALSE(guest_open_reads("alice", "bo\nb"));
	/* A field missing, one left over, the frame cut anywhere. */
	const char *one[] = { "alice" };
	strings_frame(&m, &r, LINK_GUEST_OPEN, one, 1);
	CU_ASSERT_FALSE(link_read_guest_open(&r, o, g, sizeof(o)));
	ipc_msg_free(&m);
	const char *three[] = { "alice", "bob", "carol" };
	strings_frame(&m, &r, LINK_GUEST_OPEN, three, 3);
	CU_ASSERT_FALSE(link_read_guest_open(&r, o, g, sizeof(o)));
	ipc_msg_free(&m);
	link_frame_init(&m, LINK_GUEST_OPEN);
	ipc_put_str(&m, "alice");
	ipc_put_str(&m, "bob");
	p = finish(&m, &n);
	for (size_t k = 8; k < n; k++) {
		struct ipc_reader cut;
		CU_ASSERT_EQUAL_FATAL(link_frame_parse(p, n, &cut), (ssize_t)n);
		cut.len = k - 8;
		CU_ASSERT_FALSE(link_read_guest_open(&cut, o, g, sizeof(o)));
	}
	ipc_msg_free(&m);
	/* Another request's frame is not a GUEST_OPEN. */
	const char *two[] = { "alice", "bob" };
	strings_frame(&m, &r, LINK_SHARE, two, 2);
	CU_ASSERT_FALSE(link_read_guest_open(&r, o, g, sizeof(o)));
	ipc_msg_free(&m);
}

static bool
share_reads(const char *owner, const char *mailbox, const char *grantee,
    const char *rights)
{
	const char *f[] = { owner, mailbox, grantee, rights };
	struct link_share sh;
	struct ipc_msg m;
	struct ipc_reader r;

	strings_frame(&m, &r, LINK_SHARE, f, 4);
	bool ok = link_read_share(&r, &sh);
	if (ok) {
		CU_ASSERT_STRING_EQUAL(sh.owner, owner);
		CU_ASSERT_STRING_EQUAL(sh.mailbox, mailbox);
		CU_ASSERT_STRING_EQUAL(sh.grantee, grantee);
		CU_ASSERT_STRING_EQUAL(sh.rights, rights);
	}
	ipc_msg_free(&m);
	return ok;
}

void
test_share_frames(void)
{
	static char longname[IPC_MBOX_MAX + 1];
	struct link_share sh;
	struct ipc_msg m;
	struct ipc_reader r;
	const uint8_t *p;
	size_t n;

	CU_ASSERT_TRUE(share_reads("alice", "Proj", "bob", "lrs"));
	CU_ASSERT_TRUE(share_reads("alice", "Proj/Sub", "anyone", "l"));
	CU_ASSERT_TRUE(share_reads("alice", "Proj", "bob", ""));  /* removal */
	CU_ASSERT_FALSE(share_reads("anyone", "Proj", "bob", "l"));
	CU_ASSERT_FALSE(share_reads("ALICE", "Proj", "bob", "l"));
	CU_ASSERT_FALSE(share_reads("alice", "Proj", "alice", "l"));
	CU_ASSERT_FALSE(share_reads("alice", "", "bob", "l"));
	CU_ASSERT_FALSE(share_reads("alice", "Pr\roj", "bob", "l"));
	CU_ASSERT_FALSE(share_reads("alice", "Proj", "bob", "LR"));
	CU_ASSERT_FALSE(share_reads("alice", "Proj", "bob", "l r"));
	CU_ASSERT_FALSE(share_reads("alice", "Proj", "bob",
	    "abcdefghijklmnopqrstuvwxyzabcdefgh"));
	memset(longname, 'x', IPC_MBOX_MAX);
	CU_ASSERT_FALSE(share_reads("alice", longname, "bob", "l"));
	longname[IPC_MBOX_MAX - 1] = '\0';
	CU_ASSERT_TRUE(share_reads("alice", longname, "bob", "l"));
	/* Cut anywhere, or with a byte left over. */
	link_frame_init(&m, LINK_SHARE);
	ipc_put_str(&m, "alice");
	ipc_put_str(&m, "Proj");
	ipc_put_str(&m, "bob");
	ipc_put_str(&m, "lr");
	p = finish(&m, &n);
	for (size_t k = 8; k < n; k++) {
		CU_ASSERT_EQUAL_FATAL(link_frame_parse(p, n, &r), (ssize_t)n);
		r.len = k - 8;
		CU_ASSERT_FALSE(link_read_share(&r, &sh));
	}
	ipc_msg_free(&m);
	link_frame_init(&m, LINK_SHARE);
	ipc_put_str(&m, "alice");
	ipc_put_str(&m, "Proj");
	ipc_put_str(&m, "bob");
	ipc_put_str(&m, "lr");
	ipc_put_u8(&m, 0);
	p = finish(&m, &n);
	CU_ASSERT_EQUAL(link_frame_parse(p, n, &r), (ssize_t)n);
	CU_ASSERT_FALSE(link_read_share(&r, &sh));
	ipc_msg_free(&m);
}
