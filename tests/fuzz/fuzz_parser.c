/*
 * fuzz_parser.c - libFuzzer target for the IMAP framer and parser.
 *
 * The first input byte chooses how the rest is cut into reads (and a
 * few framer options); the stream then goes through the framer exactly
 * as a connection would feed it, every literal is accepted (or, by the
 * seed, rejected), and each assembled command is parsed with a bounded
 * arena.  On success a few cross-checks run: sequence sets resolve and
 * format, and strings written back by imap_write.h parse to themselves.
 * Run: meson test -C <build> --suite fuzz (see tests/fuzz/meson.build).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/imap.h"
#include "common/imap_frame.h"
#include "common/imap_url.h"
#include "common/imap_write.h"
#include "common/seqset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct arena A;	/* parse trees, bounded like a real session's */
static struct arena R;	/* round-trip checks */

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_parser: invariant failed: %s\n", what);
		abort();
	}
}

static void
check_set(const struct seqset *s)
{
	struct seqset r;
	char out[64];
	size_t i;

	seqset_resolve(&A, s, 1000, &r);
	for (i = 1; i < r.n; i++)
		check(r.r[i].lo > r.r[i - 1].hi, "resolved ranges ordered");
	for (i = 0; i < r.n; i++)
		check(r.r[i].lo <= r.r[i].hi && r.r[i].lo > 0, "resolved range");
	(void)seqset_format(&r, out, sizeof(out));
}

/* A string written by imapw_astring must parse back to itself. */
static void
roundtrip(const char *s)
{
	struct imap_cmd c;
	struct buf b;
	const char *err;

	buf_init(&b, 0);
	buf_adds(&b, "t LOGIN ");
	imapw_astring(&b, s);
	buf_adds(&b, " x");
	arena_reset(&R);
	check(imap_parse(&R, buf_ptr(&b), buf_len(&b), &c, &err) == 0,
	    "written astring parses");
	check(strcmp(c.u.login.user, s) == 0, "written astring round-trips");
	buf_free(&b);
}

/* CATENATE's URLs go through the URL and section parsers, as the
 * mailbox process will take them. */
static void
catenate_urls(const struct append_msg *m)
{
	struct imap_url u;
	struct fetch_section sec;
	const char *err;

	arena_reset(&R);
	for (const struct append_part *p = m->parts; p; p = p->next) {
		if (p->url == NULL || imap_url_parse(p->url, &u, &err) != 0)
			continue;
		check(u.uid > 0 && u.mailbox[0] != '\0', "URL names a message");
		(void)imap_parse_section(&R, u.section, &sec, &err);
	}
}

static void
parsed(const struct imap_cmd *c)
{
	check(c->tag != NULL && c->name != NULL, "tag and name set");
	switch (c->id) {
	case CMD_LOGIN:
		roundtrip(c->u.login.user);
		roundtrip(c->u.login.pass);
		break;
	case CMD_FETCH:
		check(c->u.fetch.atts != NULL, "FETCH has attributes");
		check_set(&c->u.fetch.set);
		break;
	case CMD_STORE:
		check_set(&c->u.store.set);
		break;
	case CMD_COPY:
	case CMD_MOVE:
		check_set(&c->u.copy.set);
		break;
	case CMD_SEARCH:
		check(c->u.search.key != NULL &&
		    c->u.search.key->type == SK_AND, "SEARCH top is AND");
		break;
	case CMD_APPEND:
		check(c->u.append.nmsgs > 0, "APPEND has a message");
		for (const struct append_msg *m = c->u.append.msgs; m; m = m->next)
			catenate_urls(m);
		break;
	default:
		break;
	}
}

/* Drives the framer over what is in in; false after FATAL. */
static int
drain(struct imap_framer *f, struct buf *in, uint8_t seed, int *bare)
{
	struct imap_cmd c;
	const char *d, *err;
	size_t n;

	for (;;) {
		enum frame_result r = *bare ? imap_frame_line(f, in) :
		    imap_frame(f, in);

		switch (r) {
		case FRAME_MORE:
			return 1;
		case FRAME_LITERAL_WAIT:
			check(f->literal_size <= f->lim.max_append, "literal within limit");
			if ((seed & 0x40) && f->literal_size > 100)
				imap_frame_reject(f);
			else
				imap_frame_accept(f);
			break;
		case FRAME_COMMAND:
			d = imap_frame_data(f, &n);
			check(n <= f->lim.max_command, "command within limit");
			if (*bare) {
				*bare = 0;
			} else {
				arena_reset(&A);
				if (imap_parse(&A, d, n, &c, &err) == 0) {
					parsed(&c);
					/* IDLE and AUTHENTICATE read a bare line next. */
					*bare = c.id == CMD_IDLE ||
					    (c.id == CMD_AUTHENTICATE && c.u.auth.ir == NULL);
				} else
					check(err != NULL && *err != '\0', "BAD has a reason");
			}
			imap_frame_done(f);
			break;
		case FRAME_BAD:
			check(f->err_text[0] != '\0', "BAD has text");
			*bare = 0;
			break;
		case FRAME_FATAL:
			return 0;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_frame_limits lim = {
		.max_line = 1024, .max_literal = 4096, .max_append = 65536,
		.max_command = 70000, .literal_plus = true,
	};
	struct imap_framer f;
	struct buf in;
	size_t off = 0, chunk;
	uint8_t seed;
	int bare = 0;

	if (size == 0)
		return 0;
	seed = data[0];
	data++;
	size--;
	lim.literal_plus = !(seed & 0x80);
	if (seed & 0x20)
		lim.max_line = 64;
	arena_init(&A, 256 * 1024);
	arena_init(&R, 0);
	imap_framer_init(&f, &lim);
	buf_init(&in, 0);
	/* Chunk sizes: 1..32 bytes, varying with the seed and position. */
	while (off < size) {
		chunk = ((seed & 0x1f) + 1 + off * (seed & 7)) % 32 + 1;
		if ((seed & 0x18) == 0x18)
			chunk = size;
		if (chunk > size - off)
			chunk = size - off;
		buf_add(&in, data + off, chunk);
		off += chunk;
		if (!drain(&f, &in, seed, &bare))
			break;
	}
	imap_framer_free(&f);
	buf_free(&in);
	arena_free(&A);
	arena_free(&R);
	return 0;
}
