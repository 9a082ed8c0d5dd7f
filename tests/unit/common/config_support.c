/*
 * config_support.c - the config tests' one way to load a configuration
 * file: a real file, as the daemon reads one (config_support.h).
 */
#include "config_support.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int
ts_config_load(const char *head, const char *tail, struct mk_config *c,
    char *err, size_t errlen)
{
	char path[] = "/tmp/mk-config-XXXXXX";
	int fd = mkstemp(path), rc;
	FILE *f;

	CU_ASSERT_FATAL(fd != -1);
	f = fdopen(fd, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f, "%s%s", head, tail);
	CU_ASSERT_FATAL(fclose(f) == 0);
	config_defaults(c);
	if (errlen > 0)
		err[0] = '\0';
	rc = config_load(c, path, err, errlen);
	unlink(path);
	return rc;
}
