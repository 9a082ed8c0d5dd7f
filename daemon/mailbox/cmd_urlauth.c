/*
 * cmd_urlauth.c - RESETKEY, GENURLAUTH and URLFETCH (RFC 4467), with
 * URLFETCH's BINARY, BODY and BODYPARTSTRUCTURE parameters (RFC 5524).
 *
 * A URLAUTH URL names a message (or part) of one mailbox, and carries a
 * token made with that mailbox's access key, which lives in the store
 * of the mailbox's owner (store_urlauth.c).  So a URL is validated in
 * its owner's process, wherever it is fetched:
 *
 *   imap://alice@host/INBOX/;UID=1;URLAUTH=...        owner alice
 *   imap://bob@host/Other%20Users/alice/f/;UID=1;...  owner alice (bob
 *       made it from alice's shared folder f; RFC 4467 lets the URL's
 *       user be the grantee)
 *
 * URLFETCH of a URL whose owner is another user goes to that user's
 * process over a URLAUTH channel (IPC_MBOX_URL_OPEN; proxy.c), a session
 * that serves URLFETCH alone, as the fetching user.  There the token
 * is checked with the owner's key, the access identifier against the
 * fetching user, and the data is read with the rights of the URL's user
 * now (RFC 4467: "the access of the userid in the server component"):
 * the owner has every right, a grantee what the ACL grants at this
 * moment, as for any shared access.  Anything that fails gives NIL, so
 * a URL reveals nothing about why it does not work.
 *
 * GENURLAUTH and RESETKEY of another user's shared mailbox are relayed
 * to the owner's process on the guest channel (proxy.c), where the
 * grantee needs "r" to make a URL and "a" to reset the key.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/imap_url.h"
#include "common/imap_write.h"
#include "common/log.h"
#include "common/util.h"
#include "store/directory.h"
#include "store/mime.h"

#include <string.h>
#include <strings.h>
#include <time.h>


bool
urlauth_channel_cmd(enum imap_cmd_id id)
{
	return id == CMD_URLFETCH || id == CMD_CAPABILITY || id == CMD_NOOP ||
	    id == CMD_LOGOUT;
}

/* Whose store holds the mailbox a URL names (see the top). */
static bool
url_owner(const struct imap_url *u, char *owner, size_t olen)
{
	const char *rest;

	if (shared_name(u->mailbox, owner, olen, &rest))
		return true;
	if (u->user[0] == '\0')
		return false;
	mk_strlcpy(owner, u->user, olen);
	return true;
}

/* The name in this store of mailbox (as the URL's user wrote it), if it
 * is one of this user's. */
static bool
local_name(struct client *c, const char *url_user, const char *mailbox,
    char *out, size_t outlen)
{
	char owner[MK_USER_MAX];
	const char *rest;

	if (shared_name(mailbox, owner, sizeof(owner), &rest)) {
		if (!str_ieq(owner, c->user->name))
			return false;
		mailbox = rest;
	} else if (!str_ieq(url_user, c->user->name))
		return false;
	return store_mbox_canon(mailbox, out, outlen) == 0;
}

/* The selectable mailbox of this store that u names. */
static bool
url_mailbox(struct client *c, const struct imap_url *u, struct mbox *m)
{
	char name[MK_MBOX_NAME_MAX];

	return u->user[0] != '\0' &&
	    local_name(c, u->user, u->mailbox, name, sizeof(name)) &&
	    store_mbox_find(c->user->store, name, m) == 0 &&
	    !(m->flags & MBOX_NOSELECT);
}

/* ---- RESETKEY ---- */

static enum cmd_result
resetkey_one(struct client *c, const char *mailbox)
{
	char name[MK_MBOX_NAME_MAX];
	struct mbox m;
	int rc;

	if (!local_name(c, client_identity(c), mailbox, name, sizeof(name)) ||
	    store_mbox_find(c->user->store, name, &m) != 0 ||
	    (m.flags & MBOX_NOSELECT) || !mbox_visible(c, &m))
		return resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s",
		    mailbox);
	if (!rights_check(c, &m, RT_A, mailbox))
		return RUN_DONE;
	if ((rc = store_urlkey_reset(c->user->store, m.id)) != 0)
		return resp_store_error(c, rc, "RESETKEY");
	return resp_ok(c, "[URLMECH INTERNAL] Key reset for %s", mailbox);
}

enum cmd_result
cmd_resetkey(struct client *c)
{
	const struct imap_cmd *cmd = c->cmd;
	int rc;

	for (size_t i = 0; i < cmd->u.resetkey.nmechs; i++)
		if (strcasecmp(cmd->u.resetkey.mechs[i], "INTERNAL") != 0)
			return resp_bad(c, "Unknown URLAUTH mechanism %.40s",
			    cmd->u.resetkey.mechs[i]);
	if (cmd->u.resetkey.mailbox != NULL)
		return resetkey_one(c, cmd->u.resetkey.mailbox);
	if (client_is_guest(c))
		return resp_no(c, "[NOPERM] Only %s may remove all of %s's keys",
		    c->user->name, c->user->name);
	if ((rc = store_urlkey_reset(c->user->store, 0)) != 0)
		return resp_store_error(c, rc, "RESETKEY");
	return resp_ok(c, "All keys removed");
}

/* ---- GENURLAUTH ---- */

/* Checks one rump and makes its URL in the arena; NULL after a BAD. */
static const char *
genurlauth_one(struct client *c, const struct genurlauth_arg *it)
{
	char token[URLAUTH_TOKEN_LEN + 1];
	uint8_t key[STORE_URLKEY_LEN];
	struct imap_url u;
	struct mbox m;
	const char *why, *out;
	int rc;

	if (imap_url_parse(it->url, &u, &why) != 0) {
		resp_bad(c, "%s", why);
		return NULL;
	}
	if (!u.urlauth || u.mech[0] != '\0') {
		resp_bad(c, "%s", !u.urlauth ? "Missing access identifier "
		    "(;URLAUTH=) in URL" : "URL already has a URLAUTH token");
		return NULL;
	}
	if (strcasecmp(it->mech, "INTERNAL") != 0) {
		resp_bad(c, "Unknown URLAUTH mechanism %.40s", it->mech);
		return NULL;
	}
	/* RFC 4467 6.3 (2): the key table is the URL's user's, and a
	 * session may use only its own. */
	if (u.user[0] == '\0' || !str_ieq(u.user, client_identity(c))) {
		resp_bad(c, "URL must name you (%s) as its user",
		    client_identity(c));
		return NULL;
	}
	if (!url_mailbox(c, &u, &m) || !(rights_for(c, &m) & RT_R)) {
		resp_bad(c, "URL names no mailbox you may read");
		return NULL;
	}
	if ((rc = store_urlkey_get(c->user->store, m.id, true, key)) != 0 ||
	    urlauth_token(key, it->url, u.rump_len, token) != 0) {
		explicit_bzero(key, sizeof(key));
		resp_store_error(c, rc ? rc : -1, "GENURLAUTH");
		return NULL;
	}
	explicit_bzero(key, sizeof(key));
	out = arena_printf(&c->arena, "%s:INTERNAL:%s", it->url, token);
	if (out == NULL)
		resp_no(c, "[LIMIT] URL too long");
	return out;
}

enum cmd_result
cmd_genurlauth(struct client *c)
{
	const struct imap_cmd *cmd = c->cmd;
	size_t n = cmd->u.genurlauth.n;
	const char **urls = arena_alloc(&c->arena, n * sizeof(*urls));

	if (urls == NULL)
		return resp_no(c, "[LIMIT] Too many URLs");
	/* All are made before any is shown: a BAD leaves no half answer. */
	for (size_t i = 0; i < n; i++)
		if ((urls[i] = genurlauth_one(c, &cmd->u.genurlauth.items[i]))
		    == NULL)
			return RUN_DONE;
	buf_adds(&c->out, "* GENURLAUTH");
	for (size_t i = 0; i < n; i++) {
		buf_addc(&c->out, ' ');
		imapw_cstring(&c->out, urls[i]);
	}
	buf_adds(&c->out, "\r\n");
	return resp_ok(c, "GENURLAUTH completed");
}

/* Where a shared mailbox's GENURLAUTH or RESETKEY runs. */
static bool
route_owner(const struct imap_cmd *cmd, char *owner, size_t olen,
    const char **why)
{
	char o[MK_USER_MAX];
	const char *rest;
	struct imap_url u;

	owner[0] = '\0';
	if (cmd->id == CMD_RESETKEY)
		return cmd->u.resetkey.mailbox != NULL &&
		    shared_name(cmd->u.resetkey.mailbox, owner, olen, &rest);
	for (size_t i = 0; i < cmd->u.genurlauth.n; i++) {
		if (imap_url_parse(cmd->u.genurlauth.items[i].url, &u, why) != 0 ||
		    !shared_name(u.mailbox, o, sizeof(o), &rest))
			o[0] = '\0';
		if (i > 0 && strcmp(o, owner) != 0) {
			*why = "URLs of one GENURLAUTH must name the mailboxes "
			    "of one owner";
			return true;
		}
		mk_strlcpy(owner, o, olen);
	}
	return owner[0] != '\0';
}

int
urlauth_route(struct client *c, const char *raw, size_t len,
    enum cmd_result *res)
{
	char owner[MK_USER_MAX];
	const char *why = NULL;

	if (!route_owner(c->cmd, owner, sizeof(owner), &why) ||
	    str_ieq(owner, c->user->name))
		return 0;
	if (why != NULL)
		*res = resp_bad(c, "%s", why);
	else
		*res = proxy_forward(c, owner, raw, len);
	return 1;
}

/* ---- URLFETCH ---- */

static int
take_row(const struct msg_row *r, void *arg)
{
	*(struct msg_row *)arg = *r;
	return 0;
}

/* Is u valid for this session's user, and which message does it name? */
static bool
url_valid(struct client *c, const struct imap_url *u, struct msg_row *row)
{
	uint8_t key[STORE_URLKEY_LEN];
	struct seq_range r = { u->uid, u->uid };
	struct seqset one = { &r, 1, false };
	enum urlauth_verdict v;
	struct mbox m;

	if (!url_mailbox(c, u, &m) ||
	    store_urlkey_get(c->user->store, m.id, false, key) != 0)
		return false;
	v = urlauth_verify(u, key, client_identity(c),
	    config_urlauth_submitter(c->user->cfg, client_identity(c)),
	    (int64_t)time(NULL));
	explicit_bzero(key, sizeof(key));
	if (v != URLAUTH_OK ||
	    !(rights_of(c->user, &m, u->user) & RT_R) ||
	    (u->uidvalidity != 0 && u->uidvalidity != m.uidvalidity))
		return false;
	row->uid = 0;
	return store_msg_foreach(c->user->store, &m, &one, take_row, row) == 0 &&
	    row->uid == u->uid;
}

/* data[0..len) as a literal, literal8 if it holds NUL (RFC 3516). */
static void
put_data(struct client *c, const char *p, size_t len, bool binary)
{
	bool nul = binary && memchr(p, '\0', len) != NULL;

	buf_printf(&c->out, "%s{%zu}\r\n", nul ? "~" : "", len);
	buf_add(&c->out, p, len);
}

/* The section's bytes as FETCH BODY[] would give them; NULL on error. */
static const char *
section_bytes(struct client *c, struct msgdata *md,
    const struct fetch_section *sec, size_t *len)
{
	struct section_data sd;
	struct store_body *b;
	uint64_t size;
	char *p;

	if (msgdata_section(c, md, &c->arena, sec, &sd) != 0)
		return NULL;
	if (sd.kind == SD_MEM) {
		*len = sd.memlen;
		return sd.mem;
	}
	if (store_body_open(c->user->store, md->body_id, &b, &size) != 0)
		return NULL;
	p = arena_alloc(&c->arena, (size_t)sd.len + 1);
	if (p == NULL || sd.off > size || sd.len > size - sd.off ||
	    store_body_read(b, sd.off, p, (size_t)sd.len) != 0)
		p = NULL;
	store_body_close(b);
	*len = (size_t)sd.len;
	return p;
}

/* RFC 5092 ;PARTIAL=offset.length, as FETCH's <offset.length>. */
static void
clip(const struct imap_url *u, const char **p, size_t *len)
{
	if (!u->partial)
		return;
	size_t skip = MK_MIN((size_t)u->offset, *len);
	*p += skip;
	*len -= skip;
	if (u->has_length)
		*len = MK_MIN(*len, (size_t)u->length);
}

struct fetched {
	const char *data;	/* NULL: NIL (BINARY of an unknown CTE) */
	size_t      len;
	const char *bs;		/* BODYPARTSTRUCTURE, if asked */
	size_t      bslen;
};

/* BINARY[section] and, if asked, the part's structure as decoded. */
static int
fetch_binary(struct client *c, struct msgdata *md,
    const struct fetch_section *sec, struct fetched *f)
{
	struct section_data sd;
	bool unknown;
	size_t len;

	if (msgdata_binary(c, md, &c->arena, sec, &sd, &unknown) != 0)
		return -1;
	if (unknown) {
		f->data = NULL;
		return 0;
	}
	if (sd.kind == SD_MEM) {
		f->data = sd.mem;
		f->len = sd.memlen;
	} else {
		struct fetch_section whole = *sec;
		whole.spec = SEC_WHOLE;
		if ((f->data = section_bytes(c, md, &whole, &len)) == NULL)
			return -1;
		f->len = len;
	}
	if (f->bs != NULL && mime_part_structure_decoded(&c->arena, f->bs,
	    f->bslen, f->data, f->len, &f->bs, &f->bslen) != 0)
		return -1;
	return 0;
}

/* What one URL gives; 1 for NIL, -1 on a store error. */
static int
fetch_url(struct client *c, const struct urlfetch_arg *it,
    const struct imap_url *u, struct fetched *f)
{
	struct fetch_section sec;
	struct msgdata md;
	struct msg_row row;
	const char *why;

	memset(f, 0, sizeof(*f));
	if (!url_valid(c, u, &row) ||
	    imap_parse_section(&c->arena, u->section, &sec, &why) != 0)
		return 1;
	memset(&md, 0, sizeof(md));
	md.body_id = row.body_id;
	md.size = row.size;
	if (msgdata_struct(c, &md, &c->arena) != 0)
		return -1;
	/* A part that does not exist is an invalid URL, not "". */
	if (sec.npart > 0 || (it->want & URLFETCH_BODYPARTSTRUCTURE)) {
		if (sec.spec != SEC_WHOLE && (it->want &
		    URLFETCH_BODYPARTSTRUCTURE))
			return 1;
		int rc = mime_part_structure(md.bs.bodystructure,
		    md.bs.bodystructure_len, sec.part, sec.npart, &f->bs,
		    &f->bslen);
		if (rc != 0)
			return rc == MIME_NOPART ? 1 : -1;
		if (!(it->want & URLFETCH_BODYPARTSTRUCTURE))
			f->bs = NULL;
	}
	if (it->want & URLFETCH_BINARY) {
		if (fetch_binary(c, &md, &sec, f) != 0)
			return -1;
	} else if ((f->data = section_bytes(c, &md, &sec, &f->len)) == NULL)
		return -1;
	if (f->data != NULL)
		clip(u, &f->data, &f->len);
	return 0;
}

static void
write_nil(struct client *c, const struct urlfetch_arg *it)
{
	buf_adds(&c->out, "* URLFETCH ");
	imapw_cstring(&c->out, it->url);
	buf_adds(&c->out, " NIL\r\n");
}

static void
write_fetched(struct client *c, const struct urlfetch_arg *it,
    const struct fetched *f)
{
	buf_adds(&c->out, "* URLFETCH ");
	imapw_cstring(&c->out, it->url);
	if (!it->ext || it->want == 0) {
		buf_addc(&c->out, ' ');
		put_data(c, f->data, f->len, false);
	}
	if (it->want & URLFETCH_BODYPARTSTRUCTURE) {
		buf_adds(&c->out, " (BODYPARTSTRUCTURE ");
		buf_add(&c->out, f->bs, f->bslen);
		buf_addc(&c->out, ')');
	}
	if (it->want & (URLFETCH_BINARY | URLFETCH_BODY)) {
		buf_adds(&c->out, it->want & URLFETCH_BINARY ? " (BINARY " :
		    " (BODY ");
		if (f->data == NULL)
			buf_adds(&c->out, "NIL");
		else
			put_data(c, f->data, f->len,
			    (it->want & URLFETCH_BINARY) != 0);
		buf_addc(&c->out, ')');
	}
	buf_adds(&c->out, "\r\n");
}

/* "URLFETCH" and the argument as the client gave it, for the owner. */
static void
remote_arg(struct buf *b, const struct urlfetch_arg *it)
{
	buf_adds(b, "URLFETCH ");
	if (!it->ext) {
		imapw_cstring(b, it->url);
		return;
	}
	buf_addc(b, '(');
	imapw_cstring(b, it->url);
	if (it->want & URLFETCH_BODYPARTSTRUCTURE)
		buf_adds(b, " BODYPARTSTRUCTURE");
	if (it->want & URLFETCH_BINARY)
		buf_adds(b, " BINARY");
	if (it->want & URLFETCH_BODY)
		buf_adds(b, " BODY");
	buf_addc(b, ')');
}

/* One URL: answered here, or (1) sent to its owner's process. */
static int
urlfetch_one(struct client *c, const struct urlfetch_arg *it)
{
	char owner[MK_USER_MAX];
	struct imap_url u;
	struct fetched f;
	const char *why;
	int rc;

	if (imap_url_parse(it->url, &u, &why) != 0 || !u.urlauth ||
	    !url_owner(&u, owner, sizeof(owner))) {
		write_nil(c, it);
		return 0;
	}
	if (!str_ieq(owner, c->user->name)) {
		struct buf b;
		/* A URLAUTH channel is the end of the road: the owner's
		 * process does not pass URLs on. */
		if (client_is_guest(c)) {
			write_nil(c, it);
			return 0;
		}
		buf_init(&b, 0);
		remote_arg(&b, it);
		c->uf_pending = true;
		proxy_urlfetch(c, owner, &b);
		buf_free(&b);
		return 1;
	}
	if ((rc = fetch_url(c, it, &u, &f)) < 0)
		log_warnx("user %s: URLFETCH: %s", c->user->name,
		    store_errmsg(c->user->store));
	if (rc != 0)
		write_nil(c, it);
	else
		write_fetched(c, it, &f);
	return 0;
}

static enum cmd_result
urlfetch_run(struct client *c)
{
	const struct imap_cmd *cmd = c->cmd;

	while (c->uf_next < cmd->u.urlfetch.n) {
		c->uf_insync = true;
		int remote = urlfetch_one(c, &cmd->u.urlfetch.items[c->uf_next++]);
		c->uf_insync = false;
		if (remote && c->uf_pending)
			return RUN_WAIT;
	}
	return resp_ok(c, "URLFETCH completed");
}

void
urlfetch_next(struct client *c, bool ok)
{
	c->uf_pending = false;
	/* The owner's process answered nothing useful: no such user, no
	 * channel, a failure there.  The URL is as good as invalid. */
	if (!ok)
		write_nil(c, &c->cmd->u.urlfetch.items[c->uf_next - 1]);
	if (c->uf_insync)
		return;		/* urlfetch_run goes on by itself */
	if (urlfetch_run(c) != RUN_WAIT)
		client_resume(c);
}

enum cmd_result
cmd_urlfetch(struct client *c)
{
	c->uf_next = 0;
	c->uf_pending = false;
	return urlfetch_run(c);
}
