/*
 * privsep.c - see privsep.h.
 */
#include "common/privsep.h"
#include "common/log.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

bool
priv_is_root(void)
{
	return geteuid() == 0;
}

int
priv_lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(user);

	if (pw == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

void
priv_drop(uid_t uid, gid_t gid, const char *root_dir)
{
	if (!priv_is_root())
		return;
	if (uid == 0)
		fatalx("refusing to 'drop' to uid 0");
	if (root_dir != NULL) {
		if (chroot(root_dir) == -1)
			fatal("chroot %s", root_dir);
		if (chdir("/") == -1)
			fatal("chdir /");
	}
	if (setgroups(1, &gid) == -1)
		fatal("setgroups");
	if (setresgid(gid, gid, gid) == -1)
		fatal("setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) == -1)
		fatal("setresuid %u", (unsigned)uid);
	/* Paranoia: the drop must be irreversible. */
	if (setuid(0) != -1 || seteuid(0) != -1)
		fatalx("could regain root after dropping privileges");
}

void
priv_drop_user(const char *user, const char *root_dir)
{
	uid_t uid;
	gid_t gid;

	if (!priv_is_root())
		return;
	if (priv_lookup(user, &uid, &gid) == -1)
		fatalx("unknown account '%s' (create it, or set another in the config)",
		    user);
	priv_drop(uid, gid, root_dir);
}
