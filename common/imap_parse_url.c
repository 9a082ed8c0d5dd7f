/*
 * imap_parse_url.c - the URLAUTH commands (RFC 4467 9, RFC 5524 5):
 *
 *   resetkey   = "RESETKEY" [SP mailbox *(SP mechanism)]
 *   genurlauth = "GENURLAUTH" 1*(SP url-rump SP mechanism)
 *   urlfetch   = "URLFETCH" 1*(SP (url-full /
 *                "(" url-full *(SP ("BODY" / "BINARY" /
 *                "BODYPARTSTRUCTURE")) ")"))
 *
 * URLs are astrings here; what they say is imap_url.c's business.
 * Part of the parser (common/imap_parse.c holds the command table).
 */
#include "common/imap_parse_int.h"

#include <string.h>

#define IP_MAX_URLS 100

bool
ip_parse_resetkey(struct pstate *ps)
{
	struct imap_cmd *c = ps->cmd;
	size_t cap = 0, n;
	const char *s;

	if (ip_eof(ps))
		return true;
	if (!ip_sp(ps, "RESETKEY", "mailbox name") ||
	    !ip_mailbox(ps, &c->u.resetkey.mailbox))
		return false;
	while (!ip_eof(ps)) {
		if (!ip_sp(ps, "mailbox name", "mechanism") ||
		    !ip_atom(ps, &s, &n, "mechanism"))
			return false;
		char *m = ip_alloc(ps, n + 1);
		if (m == NULL)
			return false;
		memcpy(m, s, n);
		m[n] = '\0';
		if (!ip_push_str(ps, &c->u.resetkey.mechs, &c->u.resetkey.nmechs,
		    &cap, m, 16, "mechanisms"))
			return false;
	}
	return true;
}

/* Grows an arena array of n elements of size sz by one (cap doubles). */
static void *
grow(struct pstate *ps, void *arr, size_t n, size_t *cap, size_t sz)
{
	void *p;

	if (n == IP_MAX_URLS) {
		ip_fail(ps, "Too many URLs (at most %d)", IP_MAX_URLS);
		return NULL;
	}
	if (n < *cap)
		return arr;
	*cap = *cap ? *cap * 2 : 4;
	if ((p = ip_alloc(ps, *cap * sz)) == NULL)
		return NULL;
	if (n > 0)
		memcpy(p, arr, n * sz);
	return p;
}

bool
ip_parse_genurlauth(struct pstate *ps)
{
	struct imap_cmd *c = ps->cmd;
	struct genurlauth_arg *items = NULL;
	size_t n = 0, cap = 0, len;
	const char *s;

	do {
		if ((items = grow(ps, items, n, &cap, sizeof(*items))) == NULL)
			return false;
		if (!ip_sp(ps, n ? "mechanism" : "GENURLAUTH", "URL") ||
		    !ip_astring(ps, &items[n].url, "URL") ||
		    !ip_sp(ps, "URL", "mechanism") ||
		    !ip_atom(ps, &s, &len, "mechanism"))
			return false;
		char *m = ip_alloc(ps, len + 1);
		if (m == NULL)
			return false;
		memcpy(m, s, len);
		m[len] = '\0';
		items[n++].mech = m;
	} while (!ip_eof(ps));
	c->u.genurlauth.items = items;
	c->u.genurlauth.n = n;
	return true;
}

static bool
fetch_param(struct pstate *ps, struct urlfetch_arg *it)
{
	static const struct { const char *kw; unsigned bit; } params[] = {
		{ "BODYPARTSTRUCTURE", URLFETCH_BODYPARTSTRUCTURE },
		{ "BINARY", URLFETCH_BINARY },
		{ "BODY", URLFETCH_BODY },
	};
	const char *s;
	size_t n;

	if (!ip_atom(ps, &s, &n, "URLFETCH parameter"))
		return false;
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		if (!ip_eq(s, n, params[i].kw))
			continue;
		if (it->want & params[i].bit)
			return ip_fail(ps, "%s given twice", params[i].kw);
		it->want |= params[i].bit;
		if ((it->want & URLFETCH_BODY) && (it->want & URLFETCH_BINARY))
			return ip_fail(ps, "BODY and BINARY exclude each "
			    "other (RFC 5524 3.1)");
		return true;
	}
	return ip_fail(ps, "Unknown URLFETCH parameter %.*s",
	    (int)IP_SHOW(n), s);
}

/* One url-fetch-arg. */
static bool
fetch_arg(struct pstate *ps, struct urlfetch_arg *it)
{
	memset(it, 0, sizeof(*it));
	if (!ip_accept(ps, '('))
		return ip_astring(ps, &it->url, "URL");
	it->ext = true;
	if (!ip_astring(ps, &it->url, "URL"))
		return false;
	while (!ip_accept(ps, ')')) {
		if (!ip_sp(ps, "URL", "URLFETCH parameter") ||
		    !fetch_param(ps, it))
			return false;
	}
	return true;
}

bool
ip_parse_urlfetch(struct pstate *ps)
{
	struct imap_cmd *c = ps->cmd;
	struct urlfetch_arg *items = NULL;
	size_t n = 0, cap = 0;

	do {
		if ((items = grow(ps, items, n, &cap, sizeof(*items))) == NULL)
			return false;
		if (!ip_sp(ps, n ? "URL" : "URLFETCH", "URL") ||
		    !fetch_arg(ps, &items[n]))
			return false;
		n++;
	} while (!ip_eof(ps));
	c->u.urlfetch.items = items;
	c->u.urlfetch.n = n;
	return true;
}
