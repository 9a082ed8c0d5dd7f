/*
 * userdir.h - root's few operations on data_dir/users/<name>, none of
 * which follows a link the user could have planted.
 *
 * users/ belongs to root (0711); users/<name>/ and everything in it
 * belong to the user's uid, whose mailbox process can replace any entry
 * in it with a symbolic link, a hard link or anything else at any
 * moment.  Root therefore never names a path inside users/<name>/:
 * it works on the entry users/<name> through a descriptor of users/,
 * and anything deeper goes through descriptors opened with O_NOFOLLOW,
 * one directory at a time.  Everything else done inside a user's
 * directory (opening the store) runs as the user's uid (mailkeepctl's
 * as_user(), the mailbox process).
 *
 * Called by the master (sessions.c, before spawning a mailbox process)
 * and mailkeepctl (deliver, userdel).
 */
#ifndef MK_USERDIR_H
#define MK_USERDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Opens data_dir/users (a directory root owns, with no write bit for
 * group or others, checked when root is true).  -1 with a message in
 * err. */
int  userdir_users_open(const char *users_path, bool root, char *err,
	size_t errlen);

/* users/<name> as a descriptor (O_NOFOLLOW | O_DIRECTORY): created 0700
 * when missing and create is set; when hand_over is set (root), given to
 * uid:gid if someone else owns it, with everything beneath it (a
 * directory left by an earlier user of that name), and made 0700.
 * A symbolic link in place of the directory is refused (ELOOP).
 * Returns the descriptor, or -1 with a message in err (and errno; ENOENT
 * when it is missing and create is false). */
int  userdir_open(int usersfd, const char *name, bool create, bool hand_over,
	uid_t uid, gid_t gid, char *err, size_t errlen);

/* Hands what belongs to the owner of the directory dfd (the earlier
 * user) beneath it to uid:gid without following a link: directories
 * are entered with O_NOFOLLOW, a regular file is changed through its
 * own descriptor and only if it has one link (a hard link to a file
 * elsewhere is left alone), and symbolic links, devices, FIFOs and
 * sockets are left alone.  Whatever belongs to someone else (root's
 * file, even with one link left: a hard link whose other names have
 * gone) is left alone, and so is what is beneath such a directory.
 * Call it before changing the directory itself.  Returns the number of
 * entries left alone or not changed (0: all done). */
int  userdir_chown_tree(int dfd, uid_t uid, gid_t gid);

/* Removes everything beneath the directory dfd, never following a link:
 * each entry is unlinked where it is, subdirectories are entered with
 * O_NOFOLLOW.  0, or -1 (a message is logged per entry that stayed). */
int  userdir_remove_contents(int dfd);

#endif
