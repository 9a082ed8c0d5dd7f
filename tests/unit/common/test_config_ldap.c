/*
 * test_config_ldap.c - the ldap_* keys (common/config_ldap.c): a
 * complete LDAP configuration loads; each missing or malformed key is
 * refused with a message naming it; the SQLite directory ignores them;
 * the bind password file must be private (owner, mode, regular file)
 * and is read without its trailing newline.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "config_support.h"

static const char good[] =
    "directory = ldap\n"
    "ldap_uri = ldap://ldap.example.com\n"
    "ldap_base = \"ou=people,dc=example,dc=com\"\n"
    "ldap_user_filter = \"(&(objectClass=inetOrgPerson)(uid=%u))\"\n"
    "ldap_bind_dn = \"cn=mk,dc=example,dc=com\"\n"
    "ldap_bind_password_file = /etc/mailkeep/ldap.pw\n"
    "ldap_admin_group_attr = uniqueMember\n"
    "ldap_quota_storage_attr = mkQuotaStorage\n"
    "ldap_backend_attr = mailHost\n";

/* good, then extra lines (later lines win); -1 with err if refused. */
static int
load(const char *extra, struct mk_config *c, char *err, size_t errlen)
{
	return ts_config_load(good, extra, c, err, errlen);
}

void
test_config_ldap_complete(void)
{
	struct mk_config *c = malloc(sizeof(*c));
	char err[512];

	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(load("", c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c->directory, MK_DIR_LDAP);
	CU_ASSERT_EQUAL(c->ldap_auth, MK_LDAP_AUTH_HASH);
	CU_ASSERT(c->ldap_starttls);
	CU_ASSERT_STRING_EQUAL(c->ldap_password_attr, "userPassword");
	CU_ASSERT_EQUAL(c->ldap_cache_ttl, 300);
	CU_ASSERT_EQUAL(load("ldap_auth = bind\nldap_uri = ldaps://h:636\n",
	    c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c->ldap_auth, MK_LDAP_AUTH_BIND);
	free(c);
}

void
test_config_ldap_refusals(void)
{
	static const struct { const char *extra, *why; } cases[] = {
		{ "ldap_uri = ldapx://h\n", "ldap_uri" },
		{ "ldap_uri = http://h\n", "ldap_uri" },
		{ "ldap_uri = \"ldap://a ldap://b\"\n", "more than one" },
		{ "ldap_base = \"\"\n", "ldap_base" },
		{ "ldap_user_filter = \"(uid=alice)\"\n", "%u" },
		{ "ldap_user_filter = \"uid=%u\"\n", "parenthesized" },
		{ "ldap_user_filter = \"(uid=%u%s)\"\n", "no other" },
		{ "ldap_bind_dn = \"\"\n", "go together" },
		{ "ldap_admin_group_attr = owner\n", "memberUid" },
		{ "ldap_backend_attr = \"mail host\"\n", "ldap_backend_attr" },
		{ "ldap_password_attr = \"\"\n", "ldap_password_attr" },
		{ "ldap_auth = kerberos\n", "ldap_auth" },
		{ "directory = nis\n", "directory" },
		{ "ldap_timeout = 0\n", "ldap_timeout" },
	};
	struct mk_config *c = malloc(sizeof(*c));
	char err[512];

	CU_ASSERT_FATAL(c != NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL(load(cases[i].extra, c, err, sizeof(err)), -1);
		if (strstr(err, cases[i].why) == NULL)
			fprintf(stderr, "case %zu: %s\n", i, err);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].why));
	}
	/* With the SQLite directory the LDAP keys are not checked. */
	CU_ASSERT_EQUAL(load("directory = sqlite\nldap_base = \"\"\n", c, err,
	    sizeof(err)), 0);
	free(c);
}

/* Writes text to a fresh file of mode mode; its path goes to path. */
static void
pwfile(char *path, const char *text, mode_t mode)
{
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CU_ASSERT_FATAL(fchmod(fd, mode) == 0);
	close(fd);
}

void
test_config_ldap_password_file(void)
{
	struct mk_config *c = malloc(sizeof(*c));
	char path[] = "/tmp/mk-ldap-pw-XXXXXX", out[64], err[512];

	CU_ASSERT_FATAL(c != NULL);
	config_defaults(c);
	pwfile(path, "s3cret\n", 0600);
	snprintf(c->ldap_bind_password_file, sizeof(c->ldap_bind_password_file),
	    "%s", path);
	CU_ASSERT_EQUAL(config_ldap_password(c, out, sizeof(out), err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(out, "s3cret");
	/* group- or world-readable: refused, naming the mode */
	CU_ASSERT_FATAL(chmod(path, 0640) == 0);
	CU_ASSERT_EQUAL(config_ldap_password(c, out, sizeof(out), err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "group or others"));
	CU_ASSERT_FATAL(chmod(path, 0600) == 0);
	/* owned by someone else (as root: chown to nobody) */
	if (geteuid() == 0) {
		CU_ASSERT_FATAL(chown(path, 65534, 65534) == 0);
		CU_ASSERT_EQUAL(config_ldap_password(c, out, sizeof(out), err,
		    sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "must be owned"));
	}
	unlink(path);
	/* empty, or not a regular file */
	char empty[] = "/tmp/mk-ldap-pw-XXXXXX";
	pwfile(empty, "\n", 0600);
	snprintf(c->ldap_bind_password_file, sizeof(c->ldap_bind_password_file),
	    "%s", empty);
	CU_ASSERT_EQUAL(config_ldap_password(c, out, sizeof(out), err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "empty"));
	unlink(empty);
	snprintf(c->ldap_bind_password_file, sizeof(c->ldap_bind_password_file),
	    "/tmp");
	CU_ASSERT_EQUAL(config_ldap_password(c, out, sizeof(out), err,
	    sizeof(err)), -1);
	free(c);
}
