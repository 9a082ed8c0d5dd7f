/*
 * test_mime_corpus.c - golden-file tests of the message model: every
 * tests/corpus/NAME.eml is analyzed and each result listed in
 * NAME.expected must come out byte for byte.
 *
 * NAME.expected is a list of records, each "ITEM<TAB>VALUE\n" where
 * VALUE is either a byte count followed by "\n", the bytes and "\n", or
 * a word: NIL (no Date), nopart (MIME_NOPART), unknown-cte, invalid:N
 * (BINARY that decoded leniently to N bytes, which follow).  ITEMs are
 * ENVELOPE, BODY, BODYSTRUCTURE, DATE ("<unix time> <zone minutes>"),
 * BODY[section] (RFC 3501 section text), BINARY[part], BINARY.SIZE[part]
 * and "SEARCH KEY [FIELD] STRING" (value 1 or 0).
 *
 * With MIME_REGEN=1 in the environment the files are rewritten from
 * this code's output instead (a default list of items for the message's
 * parts, then the other items the file had, e.g. SEARCH ones): review
 * the diff, and compare with another server (the decisions where we
 * differ from Dovecot are listed in store/mime.h), before committing one.
 */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "tests/unit/mime/corpus.h"
#include "common/imap.h"
#include "store/mime.h"

#ifndef MK_CORPUS_DIR
#error MK_CORPUS_DIR must name tests/corpus
#endif


struct item {
	char  *name;
	char  *val;	/* NULL for a word value */
	size_t vlen;
	char   word[32];
};

/* A corpus file, NUL-terminated (test_preview.c reads the corpus too). */
char *
corpus_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char tmp[8192];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b, 0);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(&b, tmp, n);
	fclose(f);
	*len = buf_len(&b);
	buf_addc(&b, '\0');
	return b.data;
}

/* Reads NAME.expected; returns the number of items (0 if none). */
static size_t
read_items(const char *s, size_t n, struct item *it, size_t max)
{
	size_t i = 0, k = 0;

	while (i < n && k < max) {
		const char *tab = memchr(s + i, '\t', n - i);
		const char *nl = tab ? memchr(tab, '\n', (size_t)(s + n - tab)) : NULL;
		char *end;
		unsigned long len;

		if (tab == NULL || nl == NULL)
			break;
		it[k].name = strndup(s + i, (size_t)(tab - s - i));
		it[k].val = NULL;
		it[k].vlen = 0;
		snprintf(it[k].word, sizeof(it[k].word), "%.*s",
		    (int)(nl - tab - 1), tab + 1);
		i = (size_t)(nl - s) + 1;
		len = strtoul(strncmp(it[k].word, "invalid:", 8) == 0 ?
		    it[k].word + 8 : it[k].word, &end, 10);
		if (*end == '\0' && end != it[k].word &&
		    end != it[k].word + 8 && i + len < n + 1) {
			it[k].val = malloc(len + 1);	/* may hold NULs */
			memcpy(it[k].val, s + i, len);
			it[k].val[len] = '\0';
			it[k].vlen = len;
			i += len + 1;
		}
		k++;
	}
	return k;
}

/* "1.2.HEADER.FIELDS (A B)" -> fetch_section (pointers into a). */
static int
parse_section(struct arena *a, const char *s, struct fetch_section *sec)
{
	memset(sec, 0, sizeof(*sec));
	sec->part = arena_array(a, 64, sizeof(uint32_t));
	while (*s >= '0' && *s <= '9') {
		sec->part[sec->npart++] = (uint32_t)strtoul(s, (char **)&s, 10);
		if (*s == '.')
			s++;
	}
	if (*s == '\0')
		sec->spec = SEC_WHOLE;
	else if (strcmp(s, "HEADER") == 0)
		sec->spec = SEC_HEADER;
	else if (strcmp(s, "TEXT") == 0)
		sec->spec = SEC_TEXT;
	else if (strcmp(s, "MIME") == 0)
		sec->spec = SEC_MIME;
	else if (strncmp(s, "HEADER.FIELDS", 13) == 0) {
		const char *p = strchr(s, '(');
		char *list, *tok, *save;

		sec->spec = strncmp(s, "HEADER.FIELDS.NOT", 17) == 0 ?
		    SEC_HEADER_FIELDS_NOT : SEC_HEADER_FIELDS;
		if (p == NULL)
			return -1;
		list = arena_strdup(a, p + 1);
		list[strcspn(list, ")")] = '\0';
		sec->fields = arena_array(a, 32, sizeof(char *));
		for (tok = strtok_r(list, " ", &save); tok != NULL &&
		    sec->nfields < 32; tok = strtok_r(NULL, " ", &save))
			sec->fields[sec->nfields++] = tok;
	} else
		return -1;
	return 0;
}

struct msgctx {
	struct arena       a;
	const char        *msg;
	size_t             len;
	struct mime_result r;
};

static void
set_bytes(struct item *out, const char *p, size_t n)
{
	out->val = malloc(n + 1);
	memcpy(out->val, p, n);
	out->val[n] = '\0';
	out->vlen = n;
	snprintf(out->word, sizeof(out->word), "%zu", n);
}

static void
compute_section(struct msgctx *m, const char *spec, struct item *out)
{
	struct fetch_section sec;
	uint64_t off, len;
	int rc;

	if (parse_section(&m->a, spec, &sec) < 0) {
		snprintf(out->word, sizeof(out->word), "bad-item");
		return;
	}
	rc = mime_section(m->r.parts, m->r.parts_len, m->len, &sec, &off, &len);
	if (rc != 0) {
		snprintf(out->word, sizeof(out->word), rc < 0 ? "error" : "nopart");
		return;
	}
	if (sec.spec == SEC_HEADER_FIELDS || sec.spec == SEC_HEADER_FIELDS_NOT) {
		char *f;
		size_t fl;

		mime_header_fields(&m->a, m->msg + off, (size_t)len,
		    sec.fields, sec.nfields, sec.spec == SEC_HEADER_FIELDS_NOT,
		    &f, &fl);
		set_bytes(out, f, fl);
		return;
	}
	set_bytes(out, m->msg + off, (size_t)len);
}

static void
compute_binary(struct msgctx *m, const char *spec, bool size, struct item *out)
{
	struct fetch_section sec;
	const char *p;
	size_t n;
	uint64_t sz;
	int rc;

	parse_section(&m->a, spec, &sec);
	if (size) {
		rc = mime_binary_size(m->r.parts, m->r.parts_len, m->len,
		    sec.part, sec.npart, &sz);
		if (rc == MIME_DEC_OK || rc == MIME_DEC_INVALID) {
			char tmp[32];

			snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)sz);
			set_bytes(out, tmp, strlen(tmp));
			return;
		}
	} else {
		rc = mime_binary(&m->a, m->msg, m->len, m->r.parts,
		    m->r.parts_len, sec.part, sec.npart, &p, &n);
		if (rc == MIME_DEC_OK || rc == MIME_DEC_INVALID) {
			set_bytes(out, p, n);
			if (rc == MIME_DEC_INVALID)
				snprintf(out->word, sizeof(out->word),
				    "invalid:%zu", n);
			return;
		}
	}
	snprintf(out->word, sizeof(out->word), "%s",
	    rc == MIME_DEC_NOPART ? "nopart" : rc == MIME_DEC_UNKNOWN_CTE ?
	    "unknown-cte" : "error");
}

static void
compute_search(struct msgctx *m, const char *spec, struct item *out)
{
	static const struct { const char *n; enum search_key_type t; } keys[] = {
		{ "FROM", SK_FROM }, { "TO", SK_TO }, { "CC", SK_CC },
		{ "BCC", SK_BCC }, { "SUBJECT", SK_SUBJECT },
		{ "BODY", SK_BODY }, { "TEXT", SK_TEXT }, { "HEADER", SK_HEADER },
	};
	struct search_key k;
	const char *sp = strchr(spec, ' ');
	size_t i;
	int rc;

	memset(&k, 0, sizeof(k));
	k.type = SK_ALL;
	for (i = 0; sp != NULL && i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strncmp(spec, keys[i].n, (size_t)(sp - spec)) == 0 &&
		    strlen(keys[i].n) == (size_t)(sp - spec))
			k.type = keys[i].t;
	if (sp == NULL || k.type == SK_ALL) {
		snprintf(out->word, sizeof(out->word), "bad-item");
		return;
	}
	if (k.type == SK_HEADER) {
		const char *sp2 = strchr(sp + 1, ' ');

		if (sp2 == NULL) {
			snprintf(out->word, sizeof(out->word), "bad-item");
			return;
		}
		k.field = arena_strndup(&m->a, sp + 1, (size_t)(sp2 - sp - 1));
		sp = sp2;
	}
	k.str = sp + 1;
	rc = mime_search_match(m->msg, m->len, m->r.parts, m->r.parts_len, &k);
	set_bytes(out, rc == 1 ? "1" : rc == 0 ? "0" : "error", rc < 0 ? 5 : 1);
}

static void
compute(struct msgctx *m, const char *name, struct item *out)
{
	size_t n = strlen(name);

	memset(out, 0, sizeof(*out));
	out->name = strdup(name);
	if (strcmp(name, "ENVELOPE") == 0)
		set_bytes(out, m->r.envelope, m->r.envelope_len);
	else if (strcmp(name, "BODY") == 0)
		set_bytes(out, m->r.body, m->r.body_len);
	else if (strcmp(name, "BODYSTRUCTURE") == 0)
		set_bytes(out, m->r.bodystructure, m->r.bodystructure_len);
	else if (strcmp(name, "DATE") == 0) {
		char tmp[64];

		if (!m->r.has_date) {
			snprintf(out->word, sizeof(out->word), "NIL");
			return;
		}
		snprintf(tmp, sizeof(tmp), "%lld %d",
		    (long long)m->r.date.t, m->r.date.tz);
		set_bytes(out, tmp, strlen(tmp));
	} else if (strncmp(name, "BODY[", 5) == 0 && name[n - 1] == ']') {
		char *spec = strndup(name + 5, n - 6);

		compute_section(m, spec, out);
		free(spec);
	} else if (strncmp(name, "BINARY.SIZE[", 12) == 0) {
		char *spec = strndup(name + 12, n - 13);

		compute_binary(m, spec, true, out);
		free(spec);
	} else if (strncmp(name, "BINARY[", 7) == 0) {
		char *spec = strndup(name + 7, n - 8);

		compute_binary(m, spec, false, out);
		free(spec);
	} else if (strncmp(name, "SEARCH ", 7) == 0)
		compute_search(m, name + 7, out);
	else
		snprintf(out->word, sizeof(out->word), "bad-item");
}

static char *
path_str(const struct mime_part *p, const char *suffix)
{
	char buf[512];
	size_t o = 0;
	unsigned i;

	for (i = 0; i < p->npath; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%u",
		    i ? "." : "", p->path[i]);
	snprintf(buf + o, sizeof(buf) - o, "%s%s", *suffix && o ? "." : "",
	    suffix);
	return strdup(buf);
}

/* The items a new corpus message gets. */
static size_t
default_items(struct msgctx *m, char **names, size_t max)
{
	static const char *const fixed[] = {
		"ENVELOPE", "BODY", "BODYSTRUCTURE", "DATE",
		"BODY[HEADER]", "BODY[TEXT]",
		"BODY[HEADER.FIELDS (From Subject)]",
		"BODY[HEADER.FIELDS.NOT (Received Subject)]",
		"BODY[9]", "BINARY.SIZE[9]",
	};
	size_t k = 0, i;
	int np = mime_parts_count(m->r.parts, m->r.parts_len);
	struct mime_part p;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		names[k++] = strdup(fixed[i]);
	for (i = 1; np > 0 && i < (size_t)np && k + 8 < max; i++) {
		char *ps;

		mime_parts_get(m->r.parts, m->r.parts_len, (unsigned)i, &p);
		ps = path_str(&p, "");
		names[k++] = path_str(&p, "MIME");
		asprintf(&names[k++], "BODY[%s]", ps);
		asprintf(&names[k++], "BINARY.SIZE[%s]", ps);
		asprintf(&names[k++], "BINARY[%s]", ps);
		if (p.cls == MIME_CLASS_MESSAGE) {
			names[k++] = path_str(&p, "HEADER");
			names[k++] = path_str(&p, "TEXT");
		}
		free(ps);
	}
	/* the path_str() results above still need their BODY[...] */
	for (i = 0; i < k; i++) {
		if (strchr(names[i], '[') == NULL && strcmp(names[i], "ENVELOPE") &&
		    strcmp(names[i], "BODY") && strcmp(names[i], "BODYSTRUCTURE") &&
		    strcmp(names[i], "DATE")) {
			char *t;

			asprintf(&t, "BODY[%s]", names[i]);
			free(names[i]);
			names[i] = t;
		}
	}
	return k;
}

static void
write_item(FILE *f, const struct item *it)
{
	fprintf(f, "%s\t%s\n", it->name, it->word);
	if (strncmp(it->word, "invalid:", 8) == 0 ||
	    (it->word[0] >= '0' && it->word[0] <= '9')) {
		fwrite(it->val, 1, it->vlen, f);
		fputc('\n', f);
	}
}

static bool
same(const struct item *a, const struct item *b)
{
	if (strcmp(a->word, b->word) != 0)
		return false;
	if ((a->val == NULL) != (b->val == NULL))
		return false;
	return a->val == NULL ||
	    (a->vlen == b->vlen && memcmp(a->val, b->val, a->vlen) == 0);
}

/* Every record's ranges lie inside the message. */
static void
check_table(struct msgctx *m, const char *name)
{
	int n = mime_parts_count(m->r.parts, m->r.parts_len), i;
	struct mime_part p;

	CU_ASSERT_EQUAL(n, (int)m->r.nparts);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL_FATAL(mime_parts_get(m->r.parts,
		    m->r.parts_len, (unsigned)i, &p), 0);
		if (p.hdr_off + p.hdr_len > m->len ||
		    p.body_off + p.body_len > m->len ||
		    p.msg_body_off + p.msg_body_len > m->len) {
			fprintf(stderr, "%s: record %d out of range\n", name, i);
			CU_FAIL("part out of range");
		}
	}
}

static void
run_one(const char *dir, const char *base, bool regen)
{
	char path[1024];
	struct msgctx m;
	struct item items[512], got;
	char *names[512];
	char *exp = NULL, *msg;
	size_t elen = 0, nitems, i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.eml", dir, base);
	msg = corpus_slurp(path, &m.len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
	m.msg = msg;
	arena_init(&m.a, 0);
	CU_ASSERT_EQUAL_FATAL(mime_analyze(&m.a, m.msg, m.len, &m.r), 0);
	check_table(&m, base);
	snprintf(path, sizeof(path), "%s/%s.expected", dir, base);
	exp = corpus_slurp(path, &elen);
	nitems = exp ? read_items(exp, elen, items, 512) : 0;
	if (!regen && nitems == 0) {
		fprintf(stderr, "%s: no expected results\n", base);
		CU_FAIL("corpus message without .expected");
	}
	if (regen) {
		size_t nn = 0;

		size_t j, nd;

		nd = nn = default_items(&m, names, 512);
		for (i = 0; i < nitems && nn < 512; i++) {
			for (j = 0; j < nd; j++)
				if (strcmp(names[j], items[i].name) == 0)
					break;
			if (j == nd)
				names[nn++] = strdup(items[i].name);
		}
		f = fopen(path, "wb");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		for (i = 0; i < nn; i++) {
			compute(&m, names[i], &got);
			write_item(f, &got);
			free(got.name);
			free(got.val);
			free(names[i]);
		}
		fclose(f);
	}
	for (i = 0; !regen && i < nitems; i++) {
		compute(&m, items[i].name, &got);
		if (!same(&got, &items[i])) {
			fprintf(stderr, "\n%s: %s\n  expected %s: %.*s\n"
			    "  got      %s: %.*s\n", base, items[i].name,
			    items[i].word, (int)items[i].vlen,
			    items[i].val ? items[i].val : "",
			    got.word, (int)got.vlen, got.val ? got.val : "");
			CU_FAIL("corpus mismatch");
		}
		free(got.name);
		free(got.val);
	}
	for (i = 0; i < nitems; i++) {
		free(items[i].name);
		free(items[i].val);
	}
	arena_free(&m.a);
	free(exp);
	free(msg);
}

void
test_corpus(void)
{
	DIR *d = opendir(MK_CORPUS_DIR);
	struct dirent *de;
	bool regen = getenv("MIME_REGEN") != NULL;
	unsigned count = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char *base;

		if (n < 5 || strcmp(de->d_name + n - 4, ".eml") != 0)
			continue;
		base = strndup(de->d_name, n - 4);
		run_one(MK_CORPUS_DIR, base, regen);
		free(base);
		count++;
	}
	closedir(d);
	CU_ASSERT(count >= 30);
}
