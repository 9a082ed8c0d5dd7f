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

/* Loads a file holding "fsync = value" over the defaults; -1 if
 * config_load refused it (err says why). */
static int
load_fsync(const char *value, struct mk_config *c, char *err, size_t errlen)
{
	char path[] = "/tmp/mk-config-XXXXXX";
	int fd = mkstemp(path), rc;
	FILE *f;

	CU_ASSERT_FATAL(fd != -1);
	f = fdopen(fd, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f, "fsync = %s\n", value);
	fclose(f);
	config_defaults(c);
	rc = config_load(c, path, err, errlen);
	unlink(path);
	return rc;
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
