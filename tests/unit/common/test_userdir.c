/*
 * test_userdir.c - root's operations on users/<name> never follow a
 * link: opening the entry, handing a tree over, removing a tree.  Real
 * directories under /tmp; the chown cases need root and return early
 * otherwise.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/userdir.h"

static char base[64];

/* base/users (the instance's users/) and base/etc (what an attacker
 * aims at), both fresh. */
static void
setup(void)
{
	char p[128];

	snprintf(base, sizeof(base), "/tmp/mk-userdir-XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(base));
	snprintf(p, sizeof(p), "%s/users", base);
	CU_ASSERT_EQUAL_FATAL(mkdir(p, 0711), 0);
	snprintf(p, sizeof(p), "%s/etc", base);
	CU_ASSERT_EQUAL_FATAL(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/etc/passwd", base);
	FILE *f = fopen(p, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("root:x:0:0\n", f);
	fclose(f);
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

/* base/rel; four buffers in turn, so one call may take two. */
static const char *
at(const char *rel)
{
	static char p[4][256];
	static unsigned n;
	char *out = p[n++ % 4];

	snprintf(out, sizeof(p[0]), "%s/%s", base, rel);
	return out;
}

static int
users_fd(void)
{
	char err[256];
	int fd = userdir_users_open(at("users"), false, err, sizeof(err));

	CU_ASSERT_FATAL(fd >= 0);
	return fd;
}

void
test_userdir_open_creates_and_refuses_links(void)
{
	char err[256];
	struct stat st;
	int u, fd;

	setup();
	u = users_fd();
	fd = userdir_open(u, "alice", true, false, 0, 0, err, sizeof(err));
	CU_ASSERT(fd >= 0);
	CU_ASSERT_EQUAL(stat(at("users/alice"), &st), 0);
	CU_ASSERT(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
	close(fd);
	/* Missing and not to be created. */
	CU_ASSERT_EQUAL(userdir_open(u, "nobody", false, false, 0, 0, err,
	    sizeof(err)), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
	/* A link in the directory's place is refused, and nothing is made
	 * or changed where it points. */
	CU_ASSERT_EQUAL(symlink(at("etc"), at("users/bob")), 0);
	CU_ASSERT_EQUAL(userdir_open(u, "bob", true, geteuid() == 0, 12345,
	    12345, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "refused"));
	CU_ASSERT_EQUAL(stat(at("etc"), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0755);
	CU_ASSERT_EQUAL(st.st_uid, geteuid());
	close(u);
	teardown();
}

void
test_userdir_remove_contents_keeps_link_targets(void)
{
	struct stat st;
	int u, fd;
	char err[256];

	setup();
	u = users_fd();
	fd = userdir_open(u, "alice", true, false, 0, 0, err, sizeof(err));
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(mkdir(at("users/alice/sub"), 0700), 0);
	CU_ASSERT_EQUAL(mkdir(at("users/alice/sub/deeper"), 0700), 0);
	CU_ASSERT_EQUAL(symlink(at("etc/passwd"), at("users/alice/store.db")),
	    0);
	CU_ASSERT_EQUAL(symlink(at("etc"), at("users/alice/sub/etc")), 0);
	CU_ASSERT_EQUAL(close(open(at("users/alice/sub/deeper/f"),
	    O_CREAT | O_WRONLY, 0600)), 0);
	CU_ASSERT_EQUAL(userdir_remove_contents(fd), 0);
	close(fd);
	CU_ASSERT_EQUAL(unlinkat(u, "alice", AT_REMOVEDIR), 0);
	/* What the links named is all still there. */
	CU_ASSERT_EQUAL(stat(at("etc/passwd"), &st), 0);
	CU_ASSERT_EQUAL(st.st_size, 11);
	CU_ASSERT_EQUAL(stat(at("etc"), &st), 0);
	close(u);
	teardown();
}

void
test_userdir_chown_tree_never_follows(void)
{
	struct stat st;
	char err[256];
	int u, fd;

	if (geteuid() != 0)
		return;		/* chown needs root */
	setup();
	u = users_fd();
	fd = userdir_open(u, "alice", true, false, 0, 0, err, sizeof(err));
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	CU_ASSERT_EQUAL(close(open(at("users/alice/store.db"),
	    O_CREAT | O_WRONLY, 0600)), 0);
	CU_ASSERT_EQUAL(mkdir(at("users/alice/sub"), 0700), 0);
	CU_ASSERT_EQUAL(symlink(at("etc"), at("users/alice/sub/etc")), 0);
	CU_ASSERT_EQUAL(symlink(at("etc/passwd"), at("users/alice/soft")), 0);
	CU_ASSERT_EQUAL(link(at("etc/passwd"), at("users/alice/hard")), 0);
	/* A directory someone else owns goes to uid 5000. */
	fd = userdir_open(u, "alice", true, true, 5000, 5000, err, sizeof(err));
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	CU_ASSERT_EQUAL(lstat(at("users/alice"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 5000);
	CU_ASSERT_EQUAL(lstat(at("users/alice/store.db"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 5000);
	CU_ASSERT_EQUAL(lstat(at("users/alice/sub"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 5000);
	/* Links, and whatever they name, keep their owners. */
	CU_ASSERT_EQUAL(lstat(at("users/alice/soft"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 0);
	CU_ASSERT_EQUAL(stat(at("etc/passwd"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 0);
	CU_ASSERT_EQUAL(stat(at("etc"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 0);
	close(u);
	teardown();
}

/* Only what the earlier owner owned is handed over: a file root owns
 * stays root's even with a single link left (a hard link to a root file
 * whose other name went away, as /etc/shadow's old inode does when the
 * file is replaced by rename), and a directory root owns is neither
 * changed nor entered. */
void
test_userdir_chown_tree_only_the_earlier_owners(void)
{
	struct stat st;
	char err[256];
	int u, fd;

	if (geteuid() != 0)
		return;		/* chown needs root */
	setup();
	u = users_fd();
	fd = userdir_open(u, "alice", true, false, 0, 0, err, sizeof(err));
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	/* alice's, as uid 4000 */
	CU_ASSERT_EQUAL(close(open(at("users/alice/store.db"),
	    O_CREAT | O_WRONLY, 0600)), 0);
	CU_ASSERT_EQUAL(mkdir(at("users/alice/sub"), 0700), 0);
	CU_ASSERT_EQUAL(close(open(at("users/alice/sub/f"),
	    O_CREAT | O_WRONLY, 0600)), 0);
	CU_ASSERT_EQUAL(chown(at("users/alice/sub/f"), 4000, 4000), 0);
	CU_ASSERT_EQUAL(chown(at("users/alice/sub"), 4000, 4000), 0);
	CU_ASSERT_EQUAL(chown(at("users/alice/store.db"), 4000, 4000), 0);
	/* root's: the only name left of an old etc/shadow, and a
	 * directory holding a file of uid 4000 */
	CU_ASSERT_EQUAL(close(open(at("etc/shadow"), O_CREAT | O_WRONLY,
	    0600)), 0);
	CU_ASSERT_EQUAL(link(at("etc/shadow"), at("users/alice/old-shadow")),
	    0);
	CU_ASSERT_EQUAL(unlink(at("etc/shadow")), 0);
	CU_ASSERT_EQUAL(lstat(at("users/alice/old-shadow"), &st), 0);
	CU_ASSERT_EQUAL(st.st_nlink, 1);
	CU_ASSERT_EQUAL(mkdir(at("users/alice/rootdir"), 0755), 0);
	CU_ASSERT_EQUAL(close(open(at("users/alice/rootdir/f"),
	    O_CREAT | O_WRONLY, 0600)), 0);
	CU_ASSERT_EQUAL(chown(at("users/alice/rootdir/f"), 4000, 4000), 0);
	CU_ASSERT_EQUAL(chown(at("users/alice"), 4000, 4000), 0);

	fd = userdir_open(u, "alice", true, true, 5000, 5000, err, sizeof(err));
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	CU_ASSERT_EQUAL(lstat(at("users/alice"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 5000);
	CU_ASSERT_EQUAL(lstat(at("users/alice/store.db"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 5000);
	CU_ASSERT_EQUAL(lstat(at("users/alice/sub"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 5000);
	CU_ASSERT_EQUAL(lstat(at("users/alice/sub/f"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 5000);
	CU_ASSERT_EQUAL(lstat(at("users/alice/old-shadow"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 0);
	CU_ASSERT_EQUAL(st.st_gid, 0);
	CU_ASSERT_EQUAL(lstat(at("users/alice/rootdir"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 0);
	CU_ASSERT_EQUAL(lstat(at("users/alice/rootdir/f"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 4000);
	close(u);
	teardown();
}
