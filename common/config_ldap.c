/*
 * config_ldap.c - the ldap_* configuration keys taken together, and the
 * bind password file (see config.h; doc/ldap.md).
 *
 * config_check() calls config_check_ldap() for the cross-key rules the
 * line-by-line parser cannot make; the master (and mailkeepctl) read
 * the bind password with config_ldap_password(), which refuses a file
 * anyone but root could have written or could read.
 */
#include "common/config.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* An attribute description as RFC 4512 names them: a keystring
 * (letter, then letters, digits, hyphens) or a numeric OID. */
static bool
attr_name_ok(const char *s)
{
	if (s[0] == '\0')
		return false;
	bool oid = s[0] >= '0' && s[0] <= '9';
	for (const char *p = s; *p; p++) {
		char ch = *p;
		bool digit = ch >= '0' && ch <= '9';
		bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
		if (oid ? !(digit || ch == '.') : !(digit || alpha || ch == '-'))
			return false;
	}
	return true;
}

/* Optional attributes may be empty; given ones must be names. */
static const char *
bad_attr(const struct mk_config *c)
{
	const struct { const char *key, *v; bool opt; } a[] = {
		{ "ldap_password_attr", c->ldap_password_attr, false },
		{ "ldap_quota_storage_attr", c->ldap_quota_storage_attr, true },
		{ "ldap_quota_messages_attr", c->ldap_quota_messages_attr, true },
		{ "ldap_backend_attr", c->ldap_backend_attr, true },
	};

	for (size_t i = 0; i < nitems(a); i++)
		if (!(a[i].opt && a[i].v[0] == '\0') && !attr_name_ok(a[i].v))
			return a[i].key;
	return NULL;
}

/* "(...%u...)": one filter, every '%' starts "%u". */
static bool
filter_template_ok(const char *f)
{
	size_t n = strlen(f);
	bool has_u = false;

	if (n < 2 || f[0] != '(' || f[n - 1] != ')')
		return false;
	for (const char *p = f; (p = strchr(p, '%')) != NULL; p += 2) {
		if (p[1] != 'u')
			return false;
		has_u = true;
	}
	return has_u;
}

static int
check_uri(const struct mk_config *c, char *err, size_t errlen)
{
	const char *u = c->ldap_uri;

	if (strncasecmp(u, "ldap://", 7) != 0 &&
	    strncasecmp(u, "ldaps://", 8) != 0) {
		snprintf(err, errlen, "%s: directory = ldap needs ldap_uri = "
		    "ldap://host[:port] (with StartTLS) or ldaps://host[:port], "
		    "not '%s'", c->path, u);
		return -1;
	}
	if (strpbrk(u, " \t,") != NULL) {
		snprintf(err, errlen, "%s: ldap_uri '%s' names more than one "
		    "server: give one URI", c->path, u);
		return -1;
	}
	return 0;
}

int
config_check_ldap(const struct mk_config *c, char *err, size_t errlen)
{
	const char *attr, *g = c->ldap_admin_group_attr;

	if (c->directory != MK_DIR_LDAP)
		return 0;
	if (check_uri(c, err, errlen) == -1)
		return -1;
	if (c->ldap_base[0] == '\0') {
		snprintf(err, errlen, "%s: directory = ldap needs ldap_base (the "
		    "DN under which users are searched)", c->path);
		return -1;
	}
	if (!filter_template_ok(c->ldap_user_filter)) {
		snprintf(err, errlen, "%s: ldap_user_filter '%s' must be one "
		    "parenthesized filter holding %%u (the user name) and no "
		    "other %% sequence", c->path, c->ldap_user_filter);
		return -1;
	}
	if ((c->ldap_bind_dn[0] == '\0') !=
	    (c->ldap_bind_password_file[0] == '\0')) {
		snprintf(err, errlen, "%s: ldap_bind_dn and "
		    "ldap_bind_password_file go together (neither: anonymous "
		    "searches)", c->path);
		return -1;
	}
	if ((attr = bad_attr(c)) != NULL) {
		snprintf(err, errlen, "%s: %s is not an attribute name",
		    c->path, attr);
		return -1;
	}
	if (strcasecmp(g, "member") != 0 && strcasecmp(g, "uniqueMember") != 0 &&
	    strcasecmp(g, "memberUid") != 0) {
		snprintf(err, errlen, "%s: ldap_admin_group_attr '%s' must be "
		    "member, uniqueMember or memberUid", c->path, g);
		return -1;
	}
	return 0;
}

/* Root's alone (the running user's in development mode), a regular
 * file, not readable or writable by group or others. */
static int
password_file_ok(const char *path, const struct stat *st, char *err,
    size_t errlen)
{
	uid_t want = geteuid() == 0 ? 0 : geteuid();

	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "ldap_bind_password_file %s is not a "
		    "regular file", path);
		return -1;
	}
	if (st->st_uid != want) {
		snprintf(err, errlen, "ldap_bind_password_file %s must be owned "
		    "by uid %u (it is uid %u's)", path, (unsigned)want,
		    (unsigned)st->st_uid);
		return -1;
	}
	if ((st->st_mode & 077) != 0) {
		snprintf(err, errlen, "ldap_bind_password_file %s is readable "
		    "or writable by group or others (mode %03o): chmod 600 it",
		    path, (unsigned)(st->st_mode & 0777));
		return -1;
	}
	return 0;
}

int
config_ldap_password(const struct mk_config *c, char *out, size_t outlen,
    char *err, size_t errlen)
{
	const char *path = c->ldap_bind_password_file;
	struct stat st;
	ssize_t n;

	out[0] = '\0';
	err[0] = '\0';
	if (path[0] == '\0')
		return 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		snprintf(err, errlen, "ldap_bind_password_file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || password_file_ok(path, &st, err,
	    errlen) == -1) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	do
		n = read(fd, out, outlen - 1);
	while (n == -1 && errno == EINTR);
	close(fd);
	if (n < 0 || (size_t)n >= outlen - 1) {
		explicit_bzero(out, outlen);
		snprintf(err, errlen, "ldap_bind_password_file %s: %s", path,
		    n < 0 ? strerror(errno) : "too long");
		return -1;
	}
	out[n] = '\0';
	if (n > 0 && out[n - 1] == '\n')
		out[--n] = '\0';
	if (n > 0 && out[n - 1] == '\r')
		out[--n] = '\0';
	if (n == 0 || memchr(out, '\0', (size_t)n) != NULL) {
		snprintf(err, errlen, "ldap_bind_password_file %s is empty or "
		    "holds a NUL byte", path);
		return -1;
	}
	return 0;
}
