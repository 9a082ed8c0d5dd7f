/*
 * cmd_append.c - APPEND (RFC 3501 6.3.11) with MULTIAPPEND (RFC 3502),
 * binary literals (RFC 3516), APPENDUID (RFC 4315) and quota enforcement
 * (RFC 9208: NO [OVERQUOTA], nothing stored).
 *
 * All messages of one command go in one transaction: the tagged OK is
 * written after COMMIT, so an acknowledged message survives any crash,
 * and a failure stores none of them.  Each message is first turned into
 * its stored form (store_msg_prepare), so the quota check counts what
 * will be stored, not the literal.  Large literals arrive spooled to a
 * file by the framer (client.c) and go to the store without a heap copy.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct mk_time
now_local(void)
{
	struct mk_time t;
	struct tm tm;
	time_t now = time(NULL);

	localtime_r(&now, &tm);
	t.t = now;
	t.tz = (int)(tm.tm_gmtoff / 60);
	return t;
}

static uint64_t
bytes_of(struct msg_prep **preps, size_t n, uint64_t *sum)
{
	*sum = 0;
	for (size_t i = 0; i < n; i++)
		*sum += store_msg_prep_size(preps[i]);
	return *sum;
}

/* Would adding count messages of bytes total exceed the user's quota?
 * Must be called inside the transaction that adds them. */
int
quota_check(struct client *c, uint64_t bytes, uint64_t count)
{
	struct user *u = c->user;
	struct quota_usage q;

	if (u->quota_storage == 0 && u->quota_messages == 0)
		return 0;
	if (store_quota_usage(u->store, &q) != 0)
		return -1;
	/* In KiB, rounded up, as GETQUOTA reports it: a limit near 2^64
	 * bytes must not overflow into a tiny one. */
	if (u->quota_storage != 0 &&
	    (q.storage + bytes + 1023) / 1024 > u->quota_storage)
		return 1;
	if (u->quota_messages != 0 && q.messages + count > u->quota_messages)
		return 1;
	return 0;
}

/* Every message of the command in its stored form, before the
 * transaction: the quota check must see the size that will be stored,
 * which a binary APPEND (NUL parts in base64, about 4/3) or bare-LF mail
 * (CRLF) makes larger than the literal.  Spooled literals are rewritten
 * file to file (store_prep.c), never into memory. */
static int
prepare_all(struct client *c, struct msg_prep **preps, struct msg_tmp *tmp,
    uint64_t *bytes)
{
	const struct append_args *a = &c->cmd->u.append;
	size_t i = 0;

	*bytes = 0;
	for (const struct append_msg *am = a->msgs; am; am = am->next, i++) {
		struct msg_src src = {
			.data = am->data, .len = am->len, .file = am->spooled,
		};

		if (store_msg_prepare(&src, am->spooled ? tmp : NULL,
		    &preps[i]) != 0) {
			log_warn("user %s: preparing an APPENDed message",
			    c->user->name);
			return -1;
		}
		*bytes += store_msg_prep_size(preps[i]);
	}
	return 0;
}

static enum cmd_result
append_all(struct client *c, struct mbox *m, uint32_t *uids,
    struct msg_prep **preps)
{
	const struct append_args *a = &c->cmd->u.append;
	struct user *u = c->user;
	unsigned rights = rights_for(c, m);
	uint64_t bytes;
	uint32_t rfrom, rto;
	size_t i = 0;
	int rc;

	if ((rc = store_begin(u->store)) != 0)
		return resp_store_error(c, rc, "APPEND");
	rc = quota_check(c, bytes_of(preps, a->nmsgs, &bytes), a->nmsgs);
	if (rc == 1) {
		store_rollback(u->store);
		return resp_no(c, "[OVERQUOTA] Quota exceeded; nothing was stored");
	}
	store_cache_for(u->store, a->nmsgs, bytes);
	for (const struct append_msg *am = a->msgs; rc == 0 && am; am = am->next) {
		struct msg_new n = {
			.internaldate = am->has_date ? am->date : now_local(),
		};
		rc = flags_parse(c, m, am->flags, am->nflags, &n.flags,
		    &n.keywords, false);
		if (rc != 0) {
			store_rollback(u->store);
			store_cache_small(u->store);
			return RUN_DONE;	/* flags_parse answered */
		}
		/* Flags the session may not set are dropped, not refused
		 * (RFC 4314 4). */
		n.flags = rights_filter_flags(rights, n.flags);
		if (!(rights & RT_W))
			n.keywords = "";
		rc = store_msg_append_in(u->store, m, &n, preps[i], &uids[i]);
		i++;
	}
	if (rc == 0)
		rc = store_msg_append_end(u->store);
	if (rc == 0)
		rc = view_claim_in(c, m, &rfrom, &rto);
	if (rc == 0)
		rc = store_commit(u->store);
	if (rc != 0)
		store_rollback(u->store);
	store_cache_small(u->store);
	if (rc != 0)
		return resp_store_error(c, rc, "APPEND");
	view_claimed(c, rfrom, rto);
	fts_idle_kick(u);
	return RUN_DONE;
}

/* The mailbox an APPEND goes to, checked as RFC 3501 6.3.11 and RFC
 * 4314 ask; false if it answered. */
bool
append_target(struct client *c, const char *mailbox, char *name,
    size_t namelen, struct mbox *m)
{
	int rc;

	if (!mbox_name_arg(c, mailbox, name, namelen))
		return false;
	rc = store_mbox_find(c->user->store, name, m);
	if (rc == MK_NOTFOUND) {
		resp_no(c, "[TRYCREATE] Mailbox doesn't exist: %s", name);
		return false;
	}
	if (rc != 0) {
		resp_store_error(c, rc, "APPEND");
		return false;
	}
	if (m->flags & MBOX_NOSELECT) {
		resp_no(c, "[CANNOT] %s can't hold messages", name);
		return false;
	}
	return rights_check(c, m, RT_I, name);
}

/* Does the header section (up to the first empty line) hold a byte
 * above 0x7f? */
static bool
header_8bit(const char *data, size_t len)
{
	if (len > 0 && (data[0] == '\n' || (data[0] == '\r' && len > 1 &&
	    data[1] == '\n')))
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)data[i] >= 0x80)
			return true;
		if (data[i] == '\n' && (i + 1 == len || data[i + 1] == '\n' ||
		    (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n')))
			return false;
	}
	return false;
}

/* RFC 6855 4: UTF-8 in a message's header only from a session that
 * enabled UTF-8, and the UTF8 data item only from one.  False after
 * answering. */
static bool
utf8_rules_ok(struct client *c, const struct append_msg *am)
{
	/* A guest channel is a grantee's process, which applied these rules
	 * to its client; a copy between two users' stores comes this way
	 * too, with whatever header the message already had. */
	if (client_is_guest(c))
		return true;
	if (am->utf8 && !(c->enabled & CAP_UTF8)) {
		resp_bad(c, "APPEND UTF8 needs ENABLE UTF8=ACCEPT (or IMAP4rev2)");
		return false;
	}
	/* RFC 6855 4: before ENABLE, 8-bit header bytes are refused with
	 * NO.  After it a client should use the UTF8 item, but the plain
	 * literal is taken too (the RFC binds only the client there). */
	if (!(c->enabled & CAP_UTF8) && am->parts == NULL &&
	    am->data != NULL && header_8bit(am->data, am->len)) {
		resp_no(c, "8-bit header bytes need ENABLE UTF8=ACCEPT (and "
		    "APPEND ... UTF8 (~{n}...))");
		return false;
	}
	return true;
}

enum cmd_result
cmd_append(struct client *c)
{
	const struct append_args *a = &c->cmd->u.append;
	char name[MK_MBOX_NAME_MAX], set[64];
	struct seqset uidset;
	struct mbox m;
	uint32_t *uids;
	struct msg_prep **preps;
	struct msg_tmp tmp;
	uint64_t bytes;

	for (const struct append_msg *am = a->msgs; am; am = am->next) {
		if (!utf8_rules_ok(c, am))
			return RUN_DONE;
		if (am->len == 0)
			return resp_no(c, "Can't store an empty message");
		if (am->len > c->user->cfg->max_message)
			return resp_no(c, "[TOOBIG] Message exceeds %zu bytes",
			    c->user->cfg->max_message);
	}
	if (!append_target(c, a->mailbox, name, sizeof(name), &m))
		return RUN_DONE;
	uids = arena_array(&c->arena, a->nmsgs, sizeof(*uids));
	preps = arena_array(&c->arena, a->nmsgs, sizeof(*preps));
	if (uids == NULL || preps == NULL)
		return resp_no(c, "[LIMIT] Too many messages in one APPEND");
	tmp.dirfd = c->user->spool_dir;
	tmp.fd = -1;
	tmp.len = 0;
	if (prepare_all(c, preps, &tmp, &bytes) != 0)
		resp_no(c, "[SERVERBUG] Can't store the message now");
	else
		append_all(c, &m, uids, preps);
	for (size_t i = 0; i < a->nmsgs; i++)
		store_msg_prep_free(preps[i]);
	if (tmp.fd != -1)
		close(tmp.fd);
	if (c->tagged[0] != '\0')
		return RUN_DONE;	/* an error was answered */
	/* m is the row as the APPEND's commit wrote it, the claim of
	 * \Recent included. */
	mbox_changed_to(c->user, &m);
	seqset_from_sorted(&c->arena, uids, a->nmsgs, &uidset);
	if (seqset_format(&uidset, set, sizeof(set)) >= sizeof(set))
		snprintf(set, sizeof(set), "%u:%u", uids[0], uids[a->nmsgs - 1]);
	return resp_ok(c, "[APPENDUID %u %s] APPEND completed", m.uidvalidity,
	    set);
}
