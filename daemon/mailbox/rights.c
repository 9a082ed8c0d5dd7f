/*
 * rights.c - who may do what to a mailbox (RFC 4314).
 *
 * A mailbox process serves its own user, who owns every mailbox in the
 * store and always has every right, and guest sessions: other users
 * reaching a mailbox that this user shared (IPC_IMP_GUEST; the master
 * vouches for the guest's name).  A guest's rights are the union of the
 * ACL entries for their name and for "anyone".  Commands call
 * rights_check() before acting; a guest who may neither list nor read a
 * mailbox is told it does not exist, so ACL answers reveal nothing
 * (RFC 4314 6).
 *
 * A selection caches its rights (view.rights) and reads them again when
 * the user's ACL generation moved (rights_recheck, before every command
 * and on waking an IDLE): a revoked right stops working at the grantee's
 * next command, and losing "r" closes the mailbox (RFC 4314 5.1.1 lets a
 * server do either; closing, rather than a BYE, keeps the grantee's
 * session - and its other shared mailboxes - usable).
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>
#include <strings.h>

static const struct { char ch; unsigned bit; } letters[] = {
	{ 'l', RT_L }, { 'r', RT_R }, { 's', RT_S }, { 'w', RT_W },
	{ 'i', RT_I }, { 'p', RT_P }, { 'k', RT_K }, { 'x', RT_X },
	{ 't', RT_T }, { 'e', RT_E }, { 'a', RT_A },
};

unsigned
rights_parse(const char *s, bool *ok)
{
	unsigned r = 0;

	*ok = true;
	for (; *s; s++) {
		bool known = false;
		/* RFC 4314 2.1.1 virtual rights, as its examples expand
		 * them: "c" is "k" and "x", "d" is "e" and "t". */
		if (*s == 'c') {
			r |= RT_K | RT_X;
			continue;
		}
		if (*s == 'd') {
			r |= RT_E | RT_T;
			continue;
		}
		for (size_t i = 0; i < nitems(letters); i++)
			if (letters[i].ch == *s) {
				r |= letters[i].bit;
				known = true;
			}
		if (!known)
			*ok = false;
	}
	return r;
}

void
rights_format(unsigned r, char out[RIGHTS_STRLEN])
{
	size_t n = 0;

	for (size_t i = 0; i < nitems(letters) - 1; i++)
		if (r & letters[i].bit)
			out[n++] = letters[i].ch;
	/* Virtual rights for RFC 2086 clients, before "a". */
	if (r & (RT_K | RT_X))
		out[n++] = 'c';
	if (r & (RT_E | RT_T))
		out[n++] = 'd';
	if (r & RT_A)
		out[n++] = 'a';
	out[n] = '\0';
}

bool
client_is_guest(const struct client *c)
{
	return c->method == IPC_IMP_GUEST || c->method == IPC_IMP_URLAUTH;
}

const char *
client_identity(const struct client *c)
{
	return client_is_guest(c) ? c->authcid : c->user->name;
}

unsigned
rights_of(struct user *u, const struct mbox *m, const char *who)
{
	char buf[32];
	unsigned r = 0;
	bool ok;

	if (strcasecmp(who, u->name) == 0)
		return RT_ALL;
	if (store_acl_get(u->store, m->id, who, buf, sizeof(buf)) == 0)
		r |= rights_parse(buf, &ok);
	if (store_acl_get(u->store, m->id, "anyone", buf, sizeof(buf)) == 0)
		r |= rights_parse(buf, &ok);
	return r;
}

unsigned
rights_for(struct client *c, const struct mbox *m)
{
	if (!client_is_guest(c))
		return RT_ALL;
	return rights_of(c->user, m, c->authcid);
}

bool
mbox_visible(struct client *c, const struct mbox *m)
{
	return (rights_for(c, m) & (RT_L | RT_R)) != 0;
}

bool
rights_check(struct client *c, const struct mbox *m, unsigned need,
    const char *name)
{
	unsigned have = rights_for(c, m);
	char miss[RIGHTS_STRLEN];

	if ((have & need) == need)
		return true;
	if (!(have & (RT_L | RT_R)))
		resp_no(c, "[NONEXISTENT] Mailbox doesn't exist: %s", name);
	else {
		/* The letters themselves: "k", not "kc". */
		size_t n = 0;
		for (size_t i = 0; i < nitems(letters); i++)
			if (need & ~have & letters[i].bit)
				miss[n++] = letters[i].ch;
		miss[n] = '\0';
		resp_no(c, "[NOPERM] You lack the \"%s\" right on %s", miss, name);
	}
	return false;
}

unsigned
rights_filter_flags(unsigned rights, unsigned flags)
{
	if (!(rights & RT_S))
		flags &= ~MF_SEEN;
	if (!(rights & RT_T))
		flags &= ~MF_DELETED;
	if (!(rights & RT_W))
		flags &= MF_SEEN | MF_DELETED;
	return flags;
}

bool
rights_recheck(struct client *c)
{
	struct view *v = &c->view;
	unsigned r, was;

	if (!client_is_guest(c) || c->state != CS_SELECTED ||
	    v->rights_gen == c->user->acl_gen)
		return true;
	r = rights_for(c, &v->ms->m);
	v->rights_gen = c->user->acl_gen;
	if (!(r & RT_R)) {
		log_info("session %016llx: %s lost the \"r\" right on %s's "
		    "%s: mailbox closed", (unsigned long long)c->session_id,
		    c->authcid, c->user->name, v->ms->m.name);
		view_close(c);
		c->revoked = true;
		c->lost = false;
		resp_untagged(c, "OK [CLOSED] Access to this mailbox was "
		    "revoked; it is closed");
		return false;
	}
	was = v->rights;
	v->rights = r;
	/* RFC 4314 5.1.1: a server checking rights on each command SHOULD
	 * tell the client when what it may store changed. */
	if ((was ^ r) & (RT_S | RT_W | RT_T))
		select_send_flags(c, &v->ms->m, v->readonly);
	return true;
}

void
rights_changed(struct user *u)
{
	u->acl_gen++;
	/* The sessions running a command see it when their next begins;
	 * an idling one would not before DONE, so it is told now. */
	for (struct client *c = u->clients; c; c = c->next)
		if (!c->dead && c->idling && client_is_guest(c) &&
		    c->state == CS_SELECTED) {
			rights_recheck(c);
			client_flush(c);
		}
}
