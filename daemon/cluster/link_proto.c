/*
 * link_proto.c - the frames of the link between backends (link.h):
 * building them, finding one in a byte stream, and reading each type
 * with every field checked.  No I/O here: tests/unit/cluster feeds it
 * malformed input directly.
 */
#include "daemon/cluster/link.h"
#include "common/util.h"

#include <string.h>

#define HDR 8	/* length word + type */

void
link_frame_init(struct ipc_msg *m, enum link_type type)
{
	buf_init(&m->b, HDR + LINK_FRAME_MAX);
	m->fd = -1;
	m->toobig = false;
	ipc_put_u32(m, 0);	/* the length, filled in by finish */
	ipc_put_u32(m, (uint32_t)type);
}

int
link_frame_finish(struct ipc_msg *m)
{
	size_t n = buf_len(&m->b);
	uint8_t *p = (uint8_t *)buf_ptr(&m->b);

	if (m->toobig || n < HDR || n - 4 > LINK_FRAME_MAX)
		return -1;
	n -= 4;
	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
	return 0;
}

ssize_t
link_frame_parse(const uint8_t *p, size_t n, struct ipc_reader *r)
{
	uint32_t len;

	if (n < 4)
		return 0;
	len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	if (len < 4 || len > LINK_FRAME_MAX)
		return -1;
	if (n - 4 < len)
		return 0;
	memset(r, 0, sizeof(*r));
	r->type = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
	    (uint32_t)p[6] << 8 | p[7];
	r->p = p + HDR;
	r->len = len - 4;
	r->fd = -1;
	return (ssize_t)len + 4;
}

/* A string field into out: present, at most outlen - 1 bytes. */
static bool
get_str(struct ipc_reader *r, char *out, size_t outlen)
{
	const char *s = ipc_get_str(r);

	if (r->bad || strlen(s) >= outlen)
		return false;
	memcpy(out, s, strlen(s) + 1);
	return true;
}

bool
link_read_hello(struct ipc_reader *r, uint32_t *version, char *name,
    size_t namelen)
{
	if (r->type != LINK_HELLO && r->type != LINK_HELLO_OK)
		return false;
	*version = ipc_get_u32(r);
	return get_str(r, name, namelen) && ipc_end(r) && *version >= 1;
}

bool
link_read_result(struct ipc_reader *r, uint32_t *code, char *text,
    size_t textlen)
{
	if (r->type != LINK_RESULT)
		return false;
	*code = ipc_get_u32(r);
	return get_str(r, text, textlen) && ipc_end(r) &&
	    *code <= LINK_LIMIT;
}

/* u64 limit + 1 on the wire (0: the configured default, -1 here). */
static bool
get_limit(struct ipc_reader *r, int64_t *out)
{
	uint64_t v = ipc_get_u64(r);

	if (v > (uint64_t)INT64_MAX)
		return false;
	*out = (int64_t)v - 1;
	return true;
}

bool
link_read_move_begin(struct ipc_reader *r, struct link_move *mv)
{
	char raw[IPC_IDENT_MAX];
	const char *why;
	const uint8_t *sha;
	size_t nsha;

	memset(mv, 0, sizeof(*mv));
	if (r->type != LINK_MOVE_BEGIN || !get_str(r, raw, sizeof(raw)) ||
	    !get_str(r, mv->hash, sizeof(mv->hash)))
		return false;
	uint8_t admin = ipc_get_u8(r);
	if (!get_limit(r, &mv->quota_storage) ||
	    !get_limit(r, &mv->quota_messages))
		return false;
	mv->bytes = ipc_get_u64(r);
	sha = ipc_get_bytes(r, &nsha);
	if (!ipc_end(r) || admin > 1 || nsha != sizeof(mv->sha256) ||
	    mv->bytes > LINK_STORE_MAX || mv->hash[0] == '\0' ||
	    !dir_name_canon(raw, mv->user, sizeof(mv->user), &why) ||
	    strcmp(raw, mv->user) != 0 || dir_name_reserved(mv->user))
		return false;
	/* A hash is one printable token (libxcrypt strings are). */
	for (const char *h = mv->hash; *h; h++)
		if ((unsigned char)*h <= 0x20 || (unsigned char)*h >= 0x7f)
			return false;
	mv->admin = admin == 1;
	memcpy(mv->sha256, sha, sizeof(mv->sha256));
	return true;
}

bool
link_read_move_commit(struct ipc_reader *r, char *user, size_t len)
{
	char raw[IPC_IDENT_MAX];
	const char *why;

	return r->type == LINK_MOVE_COMMIT && get_str(r, raw, sizeof(raw)) &&
	    ipc_end(r) && dir_name_canon(raw, user, len, &why) &&
	    strcmp(raw, user) == 0;
}

bool
link_read_move_data(struct ipc_reader *r, const uint8_t **p, size_t *n)
{
	if (r->type != LINK_MOVE_DATA)
		return false;
	*p = ipc_get_bytes(r, n);
	return ipc_end(r) && *n >= 1 && *n <= LINK_CHUNK;
}

/* A user name as the sender must have folded it. */
static bool
get_user(struct ipc_reader *r, char *out, size_t len, bool anyone)
{
	char raw[IPC_IDENT_MAX];
	const char *why;

	if (!get_str(r, raw, sizeof(raw)))
		return false;
	if (anyone && strcmp(raw, "anyone") == 0) {
		mk_strlcpy(out, raw, len);
		return true;
	}
	return dir_name_canon(raw, out, len, &why) && strcmp(raw, out) == 0 &&
	    !dir_name_reserved(out);
}

bool
link_read_guest_open(struct ipc_reader *r, char *owner, char *grantee,
    size_t len)
{
	return r->type == LINK_GUEST_OPEN && get_user(r, owner, len, false) &&
	    get_user(r, grantee, len, false) && ipc_end(r) &&
	    strcmp(owner, grantee) != 0;
}

/* Printable (no control characters), not empty. */
static bool
printable(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

bool
link_read_share(struct ipc_reader *r, struct link_share *sh)
{
	memset(sh, 0, sizeof(*sh));
	if (r->type != LINK_SHARE ||
	    !get_user(r, sh->owner, sizeof(sh->owner), false) ||
	    !get_str(r, sh->mailbox, sizeof(sh->mailbox)) ||
	    !get_user(r, sh->grantee, sizeof(sh->grantee), true) ||
	    !get_str(r, sh->rights, sizeof(sh->rights)) || !ipc_end(r) ||
	    !printable(sh->mailbox) || strcmp(sh->owner, sh->grantee) == 0)
		return false;
	/* Rights are lower-case letters (RFC 4314 2.1). */
	for (const char *p = sh->rights; *p; p++)
		if (*p < 'a' || *p > 'z')
			return false;
	return true;
}

void
link_put_move_begin(struct ipc_msg *m, const struct link_move *mv)
{
	ipc_put_str(m, mv->user);
	ipc_put_str(m, mv->hash);
	ipc_put_u8(m, mv->admin ? 1 : 0);
	ipc_put_u64(m, (uint64_t)(mv->quota_storage + 1));
	ipc_put_u64(m, (uint64_t)(mv->quota_messages + 1));
	ipc_put_u64(m, mv->bytes);
	ipc_put_bytes(m, mv->sha256, sizeof(mv->sha256));
}
