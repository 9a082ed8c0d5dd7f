/*
 * config_support.h - shared by the config tests (test_config.c,
 * test_config_ldap.c): load a configuration written on the spot.
 */
#ifndef MK_TEST_CONFIG_SUPPORT_H
#define MK_TEST_CONFIG_SUPPORT_H

#include <stddef.h>

#include "common/config.h"

/* Writes head then tail (either may be "") into a temporary file and
 * loads it over the defaults; config_load()'s result: -1 with err
 * saying why if it refused the file. */
int ts_config_load(const char *head, const char *tail, struct mk_config *c,
	char *err, size_t errlen);

#endif
