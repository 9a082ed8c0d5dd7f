/*
 * test_config.c - config_load() of the fsync key: its three modes, the
 * boolean spellings it still accepts, its default, and a clear refusal
 * of anything else.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "config_support.h"

/* Loads a file holding "fsync = value" over the defaults; -1 if
 * config_load refused it (err says why). */
static int
load_fsync(const char *value, struct mk_config *c, char *err, size_t errlen)
{
	char line[128];

	snprintf(line, sizeof(line), "fsync = %s\n", value);
	return ts_config_load(line, "", c, err, errlen);
}

void
test_config_fsync_values(void)
{
	static const struct {
		const char   *value;
		enum mk_fsync want;
	} cases[] = {
		{ "messages", MK_FSYNC_MESSAGES }, { "MESSAGES", MK_FSYNC_MESSAGES },
		{ "all", MK_FSYNC_ALL }, { "yes", MK_FSYNC_ALL },
		{ "on", MK_FSYNC_ALL }, { "1", MK_FSYNC_ALL },
		{ "no", MK_FSYNC_NO }, { "off", MK_FSYNC_NO },
		{ "false", MK_FSYNC_NO }, { "0", MK_FSYNC_NO },
	};
	struct mk_config *c = malloc(sizeof(*c));
	char err[512];

	CU_ASSERT_FATAL(c != NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL(load_fsync(cases[i].value, c, err,
		    sizeof(err)), 0);
		CU_ASSERT_EQUAL(c->fsync, cases[i].want);
	}
	free(c);
}

void
test_config_fsync_default_and_refusal(void)
{
	struct mk_config *c = malloc(sizeof(*c));
	char err[512] = "";

	CU_ASSERT_FATAL(c != NULL);
	config_defaults(c);
	CU_ASSERT_EQUAL(c->fsync, MK_FSYNC_MESSAGES);
	CU_ASSERT_EQUAL(load_fsync("sometimes", c, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad value for fsync"));
	free(c);
}

/* Loads text as a whole configuration file over the defaults. */
static int
load_text(const char *text, struct mk_config *c, char *err, size_t errlen)
{
	return ts_config_load(text, "", c, err, errlen);
}

/* "backend = NAME HOST IMAP [LMTP [CLUSTER]]": parsed, hosts resolved
 * to addresses, found by name; this server's name is local. */
void
test_config_backends(void)
{
	struct mk_config *c = malloc(sizeof(*c));
	char err[512] = "";
	const struct cfg_backend *b;

	CU_ASSERT_FATAL(c != NULL);
	config_defaults(c);
	CU_ASSERT_EQUAL(c->nbackends, 0);
	CU_ASSERT_STRING_EQUAL(c->backend_name, "");
	CU_ASSERT_TRUE(config_backend_local(c, ""));
	CU_ASSERT_PTR_NULL(config_backend(c, "b1"));

	CU_ASSERT_EQUAL_FATAL(load_text("backend_name = b1\n"
	    "backend = b1 127.0.0.1 143 24 4190\n"
	    "backend = b2  localhost\t1143 0\n"
	    "backend = mail-3.x ::1 993\n", c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c->nbackends, 3);
	b = config_backend(c, "b1");
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT_STRING_EQUAL(b->ip, "127.0.0.1");
	CU_ASSERT_EQUAL(b->imap_port, 143);
	CU_ASSERT_EQUAL(b->lmtp_port, 24);
	CU_ASSERT_EQUAL(b->cluster_port, 4190);
	b = config_backend(c, "b2");
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT_STRING_EQUAL(b->host, "localhost");
	/* a name resolved to a number (nginx needs one) */
	CU_ASSERT_TRUE(strcmp(b->ip, "127.0.0.1") == 0 ||
	    strcmp(b->ip, "::1") == 0);
	CU_ASSERT_EQUAL(b->imap_port, 1143);
	CU_ASSERT_EQUAL(b->lmtp_port, 0);
	CU_ASSERT_EQUAL(b->cluster_port, 0);
	b = config_backend(c, "mail-3.x");
	CU_ASSERT_FATAL(b != NULL);
	CU_ASSERT_STRING_EQUAL(b->ip, "::1");
	CU_ASSERT_PTR_NULL(config_backend(c, "b4"));
	CU_ASSERT_TRUE(config_backend_local(c, ""));
	CU_ASSERT_TRUE(config_backend_local(c, "b1"));
	CU_ASSERT_FALSE(config_backend_local(c, "b2"));
	free(c);
}

/* Each malformed or inconsistent cluster is refused with its reason. */
void
test_config_backends_refused(void)
{
	static const struct {
		const char *text, *why;
	} cases[] = {
		{ "backend = b1 127.0.0.1\n", "bad value for backend" },
		{ "backend = b1 127.0.0.1 0\n", "bad value for backend" },
		{ "backend = b1 127.0.0.1 70000\n", "bad value for backend" },
		{ "backend = b1 127.0.0.1 143 24 25 26\n",
		  "bad value for backend" },
		{ "backend = B1 127.0.0.1 143\n", "bad value for backend" },
		{ "backend = .b 127.0.0.1 143\n", "bad value for backend" },
		{ "backend = b1 no-such-host.invalid 143\n",
		  "bad value for backend" },
		{ "backend_name = b1\nbackend = b1 127.0.0.1 143\n"
		  "backend = b1 127.0.0.2 143\n", "declared twice" },
		{ "backend = b1 127.0.0.1 143\n", "not among the declared" },
		{ "backend_name = b9\nbackend = b1 127.0.0.1 143\n",
		  "not among the declared" },
		{ "backend_name = Bad Name\n", "backend_name" },
	};
	struct mk_config *c = malloc(sizeof(*c));
	char err[512];

	CU_ASSERT_FATAL(c != NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(load_text(cases[i].text, c, err, sizeof(err)), -1);
		if (strstr(err, cases[i].why) == NULL)
			fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, err,
			    cases[i].why);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].why));
	}
	/* a name alone, with no cluster declared, is a single machine */
	CU_ASSERT_EQUAL(load_text("backend_name = b1\n", c, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(config_backend_local(c, "b1"));
	free(c);
}

/* The link between backends (doc/move.md): cluster_listen needs its
 * certificate, key, CA and this backend's name; each is read. */
void
test_config_cluster_link(void)
{
	struct mk_config *c = malloc(sizeof(*c));
	char err[512] = "";

	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(load_text("cluster_listen = 127.0.0.1:4190\n", c, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cluster_listen needs"));
	CU_ASSERT_EQUAL(load_text("backend_name = b1\n"
	    "backend = b1 127.0.0.1 143 24 4190\n"
	    "cluster_listen = 127.0.0.1:4190\ncluster_cert = /c.crt\n"
	    "cluster_key = /c.key\ncluster_ca = /ca.crt\n", c, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(c->cluster_listen.port, 4190);
	CU_ASSERT_STRING_EQUAL(c->cluster_cert, "/c.crt");
	CU_ASSERT_STRING_EQUAL(c->cluster_key, "/c.key");
	CU_ASSERT_STRING_EQUAL(c->cluster_ca, "/ca.crt");
	CU_ASSERT_EQUAL(load_text("cluster_listen = nowhere\n", c, err,
	    sizeof(err)), -1);
	free(c);
}
