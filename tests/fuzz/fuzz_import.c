/*
 * fuzz_import.c - libFuzzer target for the formats mailkeepctl import
 * reads (daemon/ctl/import_parse.c), which come from a tree another
 * user wrote.
 *
 * Each input is read as every format at once: each of its lines as a
 * dovecot-uidlist header and record (versions 1 and 3), the whole as a
 * dovecot-keywords and a subscriptions file, its start as a Maildir
 * file and folder name, and the whole as an mbox split into messages,
 * each parsed for its flags and unescaped.  Every message must lie
 * inside the input and unescaping must never lengthen it; ASan/UBSan
 * catch the rest.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/ctl/import_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
on_name(const char *name, void *arg)
{
	size_t *n = arg;

	*n += strlen(name);
}

static void
lines(const char *p, size_t size)
{
	const char *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct uidlist_hdr h;
		const char *base;
		size_t bl;
		uint32_t uid;

		(void)uidlist_header(p, n, &h);
		for (unsigned v = 1; v <= 3; v += 2)
			if (uidlist_record(p, n, v, &uid, &base, &bl) &&
			    (base < p || base + bl > p + n || uid == 0))
				abort();
		p = nl ? nl + 1 : end;
	}
}

static void
mbox(const char *p, size_t size)
{
	struct mbox_msg m;
	struct mbox_meta meta;
	size_t pos = 0;

	while (mbox_next(p, size, &pos, &m)) {
		if (m.off > size || m.len > size - m.off || pos > size)
			abort();
		mbox_meta_parse(p + m.off, m.len, &meta);
		if (memchr(meta.keywords, '\0', sizeof(meta.keywords)) == NULL)
			abort();
		char *out = malloc(m.len + 1);
		if (out == NULL)
			return;
		if (mbox_unescape(p + m.off, m.len, out) > m.len)
			abort();
		free(out);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct maildir_keywords kw;
	char name[256], folder[64];
	size_t n = 0;
	uint32_t mask;

	lines(p, size);
	maildir_keywords_parse(p, size, &kw);
	for (int i = 0; i < IMP_KW_MAX; i++)
		if (memchr(kw.name[i], '\0', sizeof(kw.name[i])) == NULL)
			abort();
	subscriptions_parse(p, size, on_name, &n);
	memcpy(name, p, size < sizeof(name) - 1 ? size : sizeof(name) - 1);
	name[size < sizeof(name) - 1 ? size : sizeof(name) - 1] = '\0';
	(void)maildir_info_flags(name, &mask);
	if (maildir_base_len(name) > strlen(name))
		abort();
	if (maildir_folder_name(name, folder, sizeof(folder)) &&
	    strlen(folder) >= sizeof(folder))
		abort();
	mbox(p, size);
	return 0;
}
