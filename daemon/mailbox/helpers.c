/*
 * helpers.c - argument handling shared by several commands: mailbox
 * names, flag lists, keyword set arithmetic.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/util.h"

#include <string.h>

bool
mbox_name_arg(struct client *c, const char *name, char *out, size_t outlen)
{
	if (store_mbox_canon(name, out, outlen) != 0) {
		resp_no(c, "[CANNOT] Invalid mailbox name");
		return false;
	}
	return true;
}

static const struct { const char *name; unsigned bit; } sysflags[] = {
	{ "\\Seen", MF_SEEN }, { "\\Answered", MF_ANSWERED },
	{ "\\Flagged", MF_FLAGGED }, { "\\Deleted", MF_DELETED },
	{ "\\Draft", MF_DRAFT },
};

static bool
kw_in(const char *list, const char *kw, size_t kwlen)
{
	const char *p = list;

	while (*p) {
		const char *e = strchr(p, ' ');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == kwlen && strncasecmp(p, kw, n) == 0)
			return true;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return false;
}

int
flags_parse(struct client *c, const struct mbox *m, const char **flags,
    size_t n, unsigned *sys, const char **keywords, bool allow_recent)
{
	struct buf kw;
	char canon[256];

	*sys = 0;
	buf_init(&kw, 0);
	for (size_t i = 0; i < n; i++) {
		const char *f = flags[i];
		bool found = false;
		if (f[0] == '\\') {
			for (size_t j = 0; j < nitems(sysflags); j++)
				if (str_ieq(f, sysflags[j].name)) {
					*sys |= sysflags[j].bit;
					found = true;
				}
			if (!found && allow_recent && str_ieq(f, "\\Recent"))
				found = true;
			if (!found) {
				buf_free(&kw);
				resp_bad(c, "Unknown system flag %s", f);
				return -1;
			}
			continue;
		}
		if (store_keyword_canon(c->user->store, m, f, canon,
		    sizeof(canon)) != 0) {
			buf_free(&kw);
			resp_store_error(c, -1, "keyword");
			return -1;
		}
		if (kw_in(buf_cstr(&kw), canon, strlen(canon)))
			continue;
		if (buf_len(&kw) > 0)
			buf_addc(&kw, ' ');
		buf_adds(&kw, canon);
	}
	*keywords = arena_strdup(&c->arena, buf_cstr(&kw));
	buf_free(&kw);
	return 0;
}

const char *
keywords_apply(struct arena *a, const char *cur, const char *arg,
    enum store_op op)
{
	struct buf out;
	const char *p, *res;

	if (op == STORE_REPLACE)
		return arg;
	buf_init(&out, 0);
	/* Keep the current ones (minus removed ones), in order. */
	for (p = cur; *p;) {
		const char *e = strchr(p, ' ');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (!(op == STORE_REMOVE && kw_in(arg, p, n))) {
			if (buf_len(&out) > 0)
				buf_addc(&out, ' ');
			buf_add(&out, p, n);
		}
		if (e == NULL)
			break;
		p = e + 1;
	}
	if (op == STORE_ADD)
		for (p = arg; *p;) {
			const char *e = strchr(p, ' ');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			if (!kw_in(buf_cstr(&out), p, n)) {
				if (buf_len(&out) > 0)
					buf_addc(&out, ' ');
				buf_add(&out, p, n);
			}
			if (e == NULL)
				break;
			p = e + 1;
		}
	res = arena_strdup(a, buf_cstr(&out));
	buf_free(&out);
	return res;
}
