/*
 * cmd_catenate.c - APPEND ... CATENATE (RFC 4469).
 *
 * Before an APPEND with CATENATE runs, each catenated message is put
 * together - its TEXT literals and the messages or sections its URLs
 * (RFC 5092) name - in an unnamed file of the user's spool directory,
 * which is then mapped and handed to APPEND as if the framer had spooled
 * the message: cmd_append.c, and the relay to a shared mailbox's owner,
 * see an ordinary message.  Nothing is stored unless every URL resolves
 * (NO [BADURL], RFC 4469 5) and the result fits max_message (NO
 * [TOOBIG]).
 *
 * URLs name this user's own mailboxes.  One of another user's shared
 * mailboxes is refused with BADURL: reading it would need the owner's
 * process in the middle of assembling.  So is a URL with URLAUTH parts
 * (RFC 4467): those are for URLFETCH (cmd_urlauth.c).
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/imap_url.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <strings.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct assembly {
	struct client *c;
	int            fd;
	uint64_t       len;		/* bytes in the file */
	uint64_t       msg_len;		/* of the message being assembled */
};

static int
put(struct assembly *as, const void *p, size_t n)
{
	const char *s = p;

	if (as->msg_len + n > as->c->user->cfg->max_message)
		return 1;
	as->msg_len += n;
	as->len += n;
	while (n > 0) {
		ssize_t w = write(as->fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies [off, off+len) of a stored body, a piece at a time. */
static int
put_range(struct assembly *as, int64_t body_id, uint64_t off, uint64_t len)
{
	struct store_body *b;
	uint64_t size;
	char piece[65536];
	int rc = 0;

	if (len > as->c->user->cfg->max_message - as->msg_len)
		return 1;
	if (store_body_open(as->c->user->store, body_id, &b, &size) != 0)
		return -1;
	if (off > size || len > size - off)
		rc = -1;
	while (rc == 0 && len > 0) {
		size_t n = len > sizeof(piece) ? sizeof(piece) : (size_t)len;
		if (store_body_read(b, off, piece, n) != 0)
			rc = -1;
		else
			rc = put(as, piece, n);
		off += n;
		len -= n;
	}
	store_body_close(b);
	return rc;
}

static int
take_row(const struct msg_row *r, void *arg)
{
	*(struct msg_row *)arg = *r;
	return 0;
}

/* The message a URL names, in this user's own store; NULL and *why. */
static bool
url_message(struct client *c, const struct imap_url *u, struct msg_row *row,
    const char **why)
{
	char name[MK_MBOX_NAME_MAX];
	struct seq_range r = { u->uid, u->uid };
	struct seqset one = { &r, 1, false };
	struct mbox m;

	if (u->user[0] != '\0' && strcasecmp(u->user, c->user->name) != 0) {
		*why = "URL names another user";
		return false;
	}
	if (store_mbox_canon(u->mailbox, name, sizeof(name)) != 0 ||
	    strncmp(name, "Other Users", 11) == 0 ||
	    store_mbox_find(c->user->store, name, &m) != 0 ||
	    (m.flags & MBOX_NOSELECT) || !(rights_for(c, &m) & RT_R)) {
		*why = "URL names no mailbox of this user";
		return false;
	}
	if (u->uidvalidity != 0 && u->uidvalidity != m.uidvalidity) {
		*why = "URL's UIDVALIDITY is not the mailbox's";
		return false;
	}
	row->uid = 0;
	if (store_msg_foreach(c->user->store, &m, &one, take_row, row) != 0 ||
	    row->uid != u->uid) {
		*why = "URL names no message";
		return false;
	}
	return true;
}

/* Appends what url names; 0, 1 (too big), -1 (I/O), or -2 with *why. */
static int
put_url(struct assembly *as, const char *url, const char **why)
{
	struct client *c = as->c;
	struct imap_url u;
	struct msg_row row;
	struct fetch_section sec;
	struct msgdata md;
	struct section_data sd;
	uint64_t off, len;

	if (imap_url_parse(url, &u, why) != 0)
		return -2;
	/* A URLAUTH URL is for URLFETCH; here the session's own rights
	 * decide, and a token that would not be checked is refused. */
	if (u.urlauth) {
		*why = "URLAUTH URLs are for URLFETCH, not CATENATE";
		return -2;
	}
	if (!url_message(c, &u, &row, why))
		return -2;
	if (imap_parse_section(&c->arena, u.section, &sec, why) != 0) {
		*why = "URL's SECTION is not a section";
		return -2;
	}
	memset(&md, 0, sizeof(md));
	md.body_id = row.body_id;
	md.size = row.size;
	if (msgdata_section(c, &md, &c->arena, &sec, &sd) != 0)
		return -1;
	if (sd.kind == SD_MEM) {
		off = 0;
		len = sd.memlen;
	} else {
		off = sd.off;
		len = sd.len;
	}
	/* RFC 5092 ;PARTIAL=offset.length, like FETCH's <offset.length>:
	 * past the end is empty. */
	if (u.partial) {
		uint64_t skip = MK_MIN((uint64_t)u.offset, len);
		off += skip;
		len -= skip;
		if (u.has_length)
			len = MK_MIN(len, (uint64_t)u.length);
	}
	if (sd.kind == SD_MEM)
		return put(as, sd.mem + off, (size_t)len);
	return put_range(as, row.body_id, off, len);
}

static enum cmd_result
refuse(struct client *c, int rc, const char *why)
{
	if (rc == 1)
		return resp_no(c, "[TOOBIG] Catenated message exceeds %zu bytes",
		    c->user->cfg->max_message);
	if (rc == -2)
		return resp_no(c, "[BADURL] %s", why);
	log_warn("user %s: assembling a CATENATE message", c->user->name);
	return resp_no(c, "[SERVERBUG] Can't assemble the message now");
}

/* One message's parts into the file; sets m->spool_off and m->len. */
static int
assemble_one(struct assembly *as, struct append_msg *m, const char **why)
{
	int rc = 0;

	m->spool_off = as->len;
	as->msg_len = 0;
	for (const struct append_part *p = m->parts; rc == 0 && p; p = p->next) {
		if (p->url != NULL)
			rc = put_url(as, p->url, why);
		else {
			rc = put(as, p->data, p->len);
			m->binary |= p->binary;
		}
	}
	m->len = (size_t)as->msg_len;
	return rc;
}

static bool
has_catenate(const struct imap_cmd *cmd)
{
	if (cmd->id != CMD_APPEND)
		return false;
	for (const struct append_msg *m = cmd->u.append.msgs; m; m = m->next)
		if (m->nparts > 0)
			return true;
	return false;
}

static bool
map_assembly(struct client *c, struct assembly *as, struct imap_cmd *cmd)
{
	void *map;

	if (as->len == 0) {
		close(as->fd);
		return true;	/* all empty: APPEND refuses them */
	}
	map = mmap(NULL, (size_t)as->len, PROT_READ, MAP_SHARED, as->fd, 0);
	if (map == MAP_FAILED) {
		log_warn("user %s: mapping a CATENATE message", c->user->name);
		close(as->fd);
		resp_no(c, "[SERVERBUG] Can't read the message back");
		return false;
	}
	c->cat_fd = as->fd;
	c->cat_map = map;
	c->cat_maplen = (size_t)as->len;
	for (struct append_msg *m = cmd->u.append.msgs; m; m = m->next)
		if (m->nparts > 0) {
			m->data = (const char *)map + m->spool_off;
			m->spooled = true;
		}
	return true;
}

bool
catenate_assemble(struct client *c, struct imap_cmd *cmd)
{
	struct assembly as = { .c = c };
	const char *why = NULL;
	int rc = 0;

	if (!has_catenate(cmd))
		return true;
	/* A missing target is TRYCREATE whatever the URLs say (RFC 4469
	 * 5); another user's mailbox is for its owner's process to check. */
	if (strncmp(cmd->u.append.mailbox, "Other Users", 11) != 0) {
		char name[MK_MBOX_NAME_MAX];
		struct mbox m;
		if (!append_target(c, cmd->u.append.mailbox, name, sizeof(name),
		    &m))
			return false;
	}
	if (c->user->spool_dir == -1 ||
	    (as.fd = mk_tmpfile(c->user->spool_dir)) == -1) {
		refuse(c, -1, NULL);
		return false;
	}
	for (struct append_msg *m = cmd->u.append.msgs; rc == 0 && m;
	    m = m->next)
		if (m->nparts > 0)
			rc = assemble_one(&as, m, &why);
	if (rc != 0) {
		close(as.fd);
		refuse(c, rc, why);
		return false;
	}
	return map_assembly(c, &as, cmd);
}

void
catenate_release(struct client *c)
{
	if (c->cat_map != NULL)
		munmap(c->cat_map, c->cat_maplen);
	if (c->cat_fd != -1)
		close(c->cat_fd);
	c->cat_map = NULL;
	c->cat_maplen = 0;
	c->cat_fd = -1;
}
