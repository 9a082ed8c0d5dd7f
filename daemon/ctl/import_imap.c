/*
 * import_imap.c - the reader of mailkeepctl import for a remote IMAP
 * account (imap://user@host:port, imaps://...).
 */
#include "daemon/ctl/import.h"

#include <stdio.h>
#include <string.h>

bool
import_source_is_url(const char *source)
{
	return strncmp(source, "imap://", 7) == 0 ||
	    strncmp(source, "imaps://", 8) == 0;
}

int
import_imap_reader_start(const char *url, pid_t *pid)
{
	(void)url;
	*pid = -1;
	fprintf(stderr, "mailkeepctl: import from IMAP: not built\n");
	return -1;
}
