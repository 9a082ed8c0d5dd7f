/*
 * userdir.c - see userdir.h.
 */
#include "common/userdir.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A mail store is flat (store.db and its side files); anything deeper
 * than this was not made by Mailkeep and is left alone. */
#define USERDIR_MAX_DEPTH 16

int
userdir_users_open(const char *users_path, bool root, char *err,
    size_t errlen)
{
	struct stat st;
	int fd;

	/* Every component of this path belongs to root or the admin: the
	 * plain open is safe.  Below it, nothing is opened by path. */
	if ((fd = open(users_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", users_path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", users_path, strerror(errno));
		close(fd);
		return -1;
	}
	/* If a user could write users/ they could swap users/<name> itself
	 * between our checks: then nothing below would hold. */
	if (root && (st.st_uid != 0 || (st.st_mode & 022) != 0)) {
		snprintf(err, errlen, "%s must belong to root and be writable by "
		    "root only (it is uid %u, mode %04o)", users_path,
		    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

int
userdir_open(int usersfd, const char *name, bool create, bool hand_over,
    uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (create && mkdirat(usersfd, name, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir users/%s: %s", name, strerror(errno));
		return -1;
	}
	/* O_NOFOLLOW: a link in place of the directory is refused (ELOOP),
	 * never entered. */
	fd = openat(usersfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1) {
		int e = errno;
		snprintf(err, errlen, "users/%s: %s", name, e == ELOOP ||
		    e == ENOTDIR ? "not a directory (a link or a file is in its "
		    "place): refused" : strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "users/%s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	if (hand_over && (st.st_uid != uid || st.st_gid != gid)) {
		/* Left by an earlier user of that name (userdel --keep-mail):
		 * its contents go to the new owner, link by link never
		 * followed. */
		if (userdir_chown_tree(fd, uid, gid) != 0)
			log_warnx("users/%s: some entries were not handed to uid "
			    "%u (see above)", name, (unsigned)uid);
		if (fchown(fd, uid, gid) == -1) {
			snprintf(err, errlen, "chown users/%s: %s", name,
			    strerror(errno));
			close(fd);
			return -1;
		}
	}
	/* Through the descriptor: chmod by name would follow a link. */
	if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) == -1)
		log_warn("chmod users/%s", name);
	return fd;
}

/* A fresh descriptor of the same directory, for readdir: its offset is
 * its own. */
static DIR *
dir_stream(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL)
		close(fd);
	return d;
}

static bool
dot_or_dotdot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

/* Hands what belongs to uid `from' (the directory's earlier owner)
 * beneath dfd to uid:gid. */
static int
chown_tree(int dfd, uid_t from, uid_t uid, gid_t gid, int depth)
{
	struct dirent *de;
	struct stat st;
	int left = 0;
	DIR *d;

	if (depth > USERDIR_MAX_DEPTH) {
		log_warnx("directory tree deeper than %d: left alone",
		    USERDIR_MAX_DEPTH);
		return 1;
	}
	if ((d = dir_stream(dfd)) == NULL) {
		log_warn("opendir");
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (dot_or_dotdot(n))
			continue;
		/* O_PATH | O_NOFOLLOW names the entry itself, whatever it is;
		 * what we check is then what we change. */
		int fd = openat(dfd, n, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1 || fstat(fd, &st) == -1) {
			log_warn("%s", n);
			left++;
		} else if (st.st_uid != from && st.st_uid != uid) {
			/* Not the earlier user's: root's, say, which a hard
			 * link may have brought here - one whose other names
			 * have gone has a single link left, and is still not
			 * the user's to be given. */
			log_warnx("%s belongs to uid %u, not to the directory's "
			    "owner: left alone", n, (unsigned)st.st_uid);
			left++;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dfd, n, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			struct stat st2;
			/* Same inode as checked, or it was swapped meanwhile. */
			if (sub == -1 || fstat(sub, &st2) == -1 ||
			    st2.st_ino != st.st_ino || st2.st_dev != st.st_dev) {
				log_warnx("%s: changed while being handed over: "
				    "left alone", n);
				left++;
			} else {
				left += chown_tree(sub, from, uid, gid,
				    depth + 1);
				if (fchown(sub, uid, gid) == -1) {
					log_warn("chown %s", n);
					left++;
				}
			}
			if (sub != -1)
				close(sub);
		} else if (S_ISREG(st.st_mode) && st.st_nlink == 1) {
			if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) == -1) {
				log_warn("chown %s", n);
				left++;
			}
		} else if (st.st_uid != uid) {
			/* A hard link may be another name of a file outside;
			 * a symbolic link, device or FIFO is nothing a store
			 * holds.  Changing them could only hand over
			 * something that is not the user's. */
			log_warnx("%s: not a regular file with one link: left "
			    "alone", n);
			left++;
		}
		if (fd != -1)
			close(fd);
	}
	closedir(d);
	return left;
}

int
userdir_chown_tree(int dfd, uid_t uid, gid_t gid)
{
	struct stat st;

	/* Whose the tree is to be handed over from: the directory's owner,
	 * still (the caller changes the directory itself afterwards). */
	if (fstat(dfd, &st) == -1) {
		log_warn("fstat");
		return 1;
	}
	return chown_tree(dfd, st.st_uid, uid, gid, 0);
}

static int
remove_contents(int dfd, int depth)
{
	struct dirent *de;
	int rc = 0;
	DIR *d;

	if (depth > USERDIR_MAX_DEPTH) {
		log_warnx("directory tree deeper than %d: not removed",
		    USERDIR_MAX_DEPTH);
		return -1;
	}
	if ((d = dir_stream(dfd)) == NULL) {
		log_warn("opendir");
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (dot_or_dotdot(n))
			continue;
		/* The entry itself goes, whatever it points to. */
		if (unlinkat(dfd, n, 0) == 0)
			continue;
		if (errno != EISDIR && errno != EPERM) {
			log_warn("remove %s", n);
			rc = -1;
			continue;
		}
		int sub = openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (sub == -1) {
			log_warn("remove %s", n);
			rc = -1;
			continue;
		}
		if (remove_contents(sub, depth + 1) != 0)
			rc = -1;
		close(sub);
		if (unlinkat(dfd, n, AT_REMOVEDIR) == -1) {
			log_warn("remove %s", n);
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

int
userdir_remove_contents(int dfd)
{
	return remove_contents(dfd, 0);
}
