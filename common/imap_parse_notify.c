/*
 * imap_parse_notify.c - NOTIFY (RFC 5465 section 8):
 *
 *   notify       = "NOTIFY" SP ("SET" [SP "STATUS"] SP event-groups / "NONE")
 *   event-group  = "(" filter-mailboxes SP events ")"
 *   filter-mailboxes = "selected" / "selected-delayed" / "inboxes" /
 *                  "personal" / "subscribed" /
 *                  ("subtree" SP one-or-more-mailbox) /
 *                  ("mailboxes" SP one-or-more-mailbox)
 *   events       = "(" event *(SP event) ")" / "NONE"
 *   event        = "MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"] /
 *                  "MessageExpunge" / "FlagChange" / "AnnotationChange" /
 *                  "MailboxName" / "SubscriptionChange" /
 *                  "MailboxMetadataChange" / "ServerMetadataChange" / atom
 *
 * The rules the RFC answers with BAD are checked here (sections 5 and
 * 6.1): MessageNew and MessageExpunge only together, FlagChange and
 * AnnotationChange only with both, one selected filter at most, only
 * message events for it, fetch attributes only for it.  An unknown event
 * atom is not a syntax error: the executor refuses it with NO [BADEVENT].
 *
 * Part of the parser (common/imap_parse.c holds the command table).
 */
#include "common/imap_parse_int.h"

#include <string.h>

static const struct {
	const char *name;
	unsigned    bit;
} events[] = {
	{ "MessageNew", NEV_MESSAGENEW },
	{ "MessageExpunge", NEV_MESSAGEEXPUNGE },
	{ "FlagChange", NEV_FLAGCHANGE },
	{ "AnnotationChange", NEV_ANNOTATIONCHANGE },
	{ "MailboxName", NEV_MAILBOXNAME },
	{ "SubscriptionChange", NEV_SUBSCRIPTIONCHANGE },
	{ "MailboxMetadataChange", NEV_MAILBOXMETADATA },
	{ "ServerMetadataChange", NEV_SERVERMETADATA },
};

static const struct {
	const char        *name;
	enum notify_filter f;
} filters[] = {
	{ "SELECTED", NF_SELECTED },
	{ "SELECTED-DELAYED", NF_SELECTED_DELAYED },
	{ "INBOXES", NF_INBOXES },
	{ "PERSONAL", NF_PERSONAL },
	{ "SUBSCRIBED", NF_SUBSCRIBED },
	{ "SUBTREE", NF_SUBTREE },
	{ "MAILBOXES", NF_MAILBOXES },
};

static bool
is_selected(enum notify_filter f)
{
	return f == NF_SELECTED || f == NF_SELECTED_DELAYED;
}

/* one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")" */
static bool
mailbox_list(struct pstate *ps, struct notify_group *g)
{
	bool list = ip_accept(ps, '(');
	size_t cap = 0;
	const char *name;

	for (;;) {
		if (!ip_mailbox(ps, &name) ||
		    !ip_push_str(ps, &g->mailboxes, &g->nmailboxes, &cap, name,
		    IP_MAX_NOTIFY_MAILBOXES, "mailbox names"))
			return false;
		if (!list || ip_accept(ps, ')'))
			return true;
		if (!ip_sp(ps, "mailbox name", "')' after mailbox names"))
			return false;
	}
}

static bool
filter(struct pstate *ps, struct notify_group *g)
{
	const char *s;
	size_t n;

	if (!ip_atom(ps, &s, &n, "mailbox filter"))
		return false;
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		if (ip_eq(s, n, filters[i].name)) {
			g->filter = filters[i].f;
			if (g->filter != NF_SUBTREE && g->filter != NF_MAILBOXES)
				return true;
			return ip_sp(ps, filters[i].name, "mailbox name") &&
			    mailbox_list(ps, g);
		}
	return ip_fail(ps, "Unknown NOTIFY mailbox filter %.*s",
	    (int)IP_SHOW(n), s);
}

static bool
event(struct pstate *ps, struct notify_group *g)
{
	const char *s;
	size_t n;
	unsigned bit = NEV_UNKNOWN;

	if (!ip_atom(ps, &s, &n, "event"))
		return false;
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		if (ip_eq(s, n, events[i].name))
			bit = events[i].bit;
	g->events |= bit;
	if (bit != NEV_MESSAGENEW || ip_peek(ps) != ' ' || ps->p + 1 >= ps->end ||
	    ps->p[1] != '(')
		return true;
	ps->p++;	/* SP before the fetch attributes */
	if (!is_selected(g->filter))
		return ip_fail(ps, "FETCH attributes after MessageNew are only "
		    "allowed with SELECTED or SELECTED-DELAYED");
	return ip_fetch_att_list(ps, &g->fetch);
}

/* The rules of RFC 5465 5 and 6.1 that make a group BAD. */
static bool
check_events(struct pstate *ps, const struct notify_group *g)
{
	unsigned ev = g->events;
	bool both = (ev & NEV_MESSAGENEW) && (ev & NEV_MESSAGEEXPUNGE);

	if ((ev & (NEV_MESSAGENEW | NEV_MESSAGEEXPUNGE)) && !both)
		return ip_fail(ps, "MessageNew and MessageExpunge must be "
		    "given together");
	if ((ev & (NEV_FLAGCHANGE | NEV_ANNOTATIONCHANGE)) && !both)
		return ip_fail(ps, "FlagChange and AnnotationChange need "
		    "MessageNew and MessageExpunge");
	if (is_selected(g->filter) &&
	    (ev & ~(NEV_MESSAGE | NEV_UNKNOWN)) != 0)
		return ip_fail(ps, "Only message events are allowed with "
		    "SELECTED and SELECTED-DELAYED");
	return true;
}

static bool
events_list(struct pstate *ps, struct notify_group *g)
{
	if (ip_keyword(ps, "NONE"))
		return true;
	if (!ip_expect(ps, '(', "Expected '(' or NONE for the events"))
		return false;
	for (;;) {
		if (!event(ps, g))
			return false;
		if (ip_accept(ps, ')'))
			return check_events(ps, g);
		if (!ip_sp(ps, "event", "')' after events"))
			return false;
	}
}

static bool
group(struct pstate *ps, struct notify_group **out)
{
	struct notify_group *g = ip_alloc(ps, sizeof(*g));
	const char *start = ps->p;
	char *text;

	if (g == NULL)
		return false;
	*out = g;
	if (!ip_expect(ps, '(', "Expected '(' before an event group") ||
	    !filter(ps, g) || !ip_sp(ps, "mailbox filter", "events") ||
	    !events_list(ps, g) ||
	    !ip_expect(ps, ')', "Expected ')' after the events"))
		return false;
	/* A shared mailbox's selected filter is passed on as written. */
	if ((text = ip_alloc(ps, (size_t)(ps->p - start) + 1)) == NULL)
		return false;
	memcpy(text, start, (size_t)(ps->p - start));
	g->text = text;
	return true;
}

bool
ip_parse_notify(struct pstate *ps)
{
	struct notify_args *na = &ps->cmd->u.notify;
	struct notify_group **tail = &na->groups;
	size_t n = 0;
	bool selected = false;

	if (!ip_sp(ps, "NOTIFY", "SET or NONE"))
		return false;
	if (ip_keyword(ps, "NONE")) {
		na->none = true;
		return true;
	}
	if (!ip_keyword(ps, "SET"))
		return ip_fail(ps, "NOTIFY takes SET or NONE");
	if (!ip_sp(ps, "SET", "event groups"))
		return false;
	if (ip_keyword(ps, "STATUS")) {
		na->status = true;
		if (!ip_sp(ps, "STATUS", "event groups"))
			return false;
	}
	for (;;) {
		if (n++ == IP_MAX_NOTIFY_GROUPS)
			return ip_fail(ps, "Too many NOTIFY event groups");
		if (!group(ps, tail))
			return false;
		if (is_selected((*tail)->filter)) {
			if (selected)
				return ip_fail(ps, "Only one of SELECTED and "
				    "SELECTED-DELAYED may be given");
			selected = true;
		}
		tail = &(*tail)->next;
		if (ip_eof(ps))
			return true;
		if (!ip_sp(ps, "event group", "event group"))
			return false;
	}
}
