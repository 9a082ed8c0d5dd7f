/*
 * test_store_nofollow.c - store_open_nofollow(), as mailkeepctl's
 * workers use it (a bare name, inside the user's directory): it opens
 * and creates a real store, and refuses a symbolic link as the database
 * file instead of following it.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store_support.h"

void
test_store_nofollow_refuses_a_link(void)
{
	char *dir = ts_dir(), err[256];
	struct store *s = NULL;
	struct stat st;
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	CU_ASSERT_FATAL(cwd >= 0);
	CU_ASSERT_EQUAL_FATAL(chdir(dir), 0);
	/* A real file, created by its bare name. */
	CU_ASSERT_EQUAL(store_open_nofollow("store.db", true, false, NULL, 0,
	    &s, err, sizeof(err)), 0);
	store_close(s);
	s = NULL;
	CU_ASSERT_EQUAL(store_open_nofollow("store.db", false, false, NULL, 0,
	    &s, err, sizeof(err)), 0);
	store_close(s);
	s = NULL;
	/* A link to it, or to a file that does not exist: refused, and the
	 * missing target is not created. */
	CU_ASSERT_EQUAL(symlink("store.db", "link.db"), 0);
	CU_ASSERT_EQUAL(store_open_nofollow("link.db", false, false, NULL, 0,
	    &s, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_EQUAL(symlink("absent.db", "dangling.db"), 0);
	CU_ASSERT_EQUAL(store_open_nofollow("dangling.db", true, false, NULL,
	    0, &s, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_EQUAL(lstat("absent.db", &st), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
	unlink("link.db");
	unlink("dangling.db");
	CU_ASSERT_EQUAL(fchdir(cwd), 0);
	close(cwd);
	ts_rmdir(dir);
}
