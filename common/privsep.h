/*
 * privsep.h - the one place where a process gives up privileges.
 *
 * The sequence is the classic one: look the account up, chroot, chdir("/"),
 * setgroups, setresgid, setresuid, then verify that root cannot be regained.
 * When the master runs as an ordinary user (development mode) nothing can
 * be dropped and every call here is a logged no-op.
 */
#ifndef MK_PRIVSEP_H
#define MK_PRIVSEP_H

#include <stdbool.h>
#include <sys/types.h>

/* True when running as root, i.e. privilege separation by uid is active. */
bool priv_is_root(void);

/* Resolves an account name; -1 if unknown. */
int  priv_lookup(const char *user, uid_t *uid, gid_t *gid);

/* Drops to uid/gid; chroots first if root_dir is non-NULL.  Fatal on any
 * failure: a process that cannot drop must not go on. */
void priv_drop(uid_t uid, gid_t gid, const char *root_dir);

/* Same, by account name. */
void priv_drop_user(const char *user, const char *root_dir);

#endif
