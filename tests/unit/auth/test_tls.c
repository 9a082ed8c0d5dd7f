/*
 * test_tls.c - auth/tls.c: loading credentials as the master does, the
 * default priority string against real GnuTLS clients of each protocol
 * version, and the clear-text policy together with the address
 * classifier that decides what "loopback" is (common/net.c).
 *
 * The loopback exemption cannot be tested end to end on a machine whose
 * only reachable addresses are loopback ones, so it is tested here on
 * the two functions that decide it; tests/e2e/test_tls.py checks the
 * refusal itself with plaintext_auth = never.
 */
#include "auth/tls.h"
#include "common/log.h"
#include "common/net.h"
#include "common/util.h"
#include "tests/unit/auth/tls_support.h"

#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/mk-tls-XXXXXX";
static char cert[PATH_MAX], key[PATH_MAX], cert2[PATH_MAX], key2[PATH_MAX];

int
test_tls_init(void)
{
	log_init("test_tls", true, 0);
	if (mkdtemp(dir) == NULL)
		return -1;
	if (tt_make_cert(dir, "a", cert, key) == -1 ||
	    tt_make_cert(dir, "b", cert2, key2) == -1)
		return -1;
	return 0;
}

int
test_tls_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- loading ---- */

void
test_creds_load_and_expiry(void)
{
	struct tls_creds *t;
	char err[256] = "";

	CU_ASSERT_EQUAL_FATAL(tls_creds_load(cert, key, "", &t, err,
	    sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(t->cert);
	CU_ASSERT_PTR_NOT_NULL(t->prio);
	/* tt_make_cert: valid for a day from now. */
	CU_ASSERT_TRUE(t->expires > time(NULL) + 3600);
	CU_ASSERT_TRUE(t->expires <= time(NULL) + 86400 + 60);
	tls_creds_free(t);
}

void
test_creds_missing_file_names_it(void)
{
	struct tls_creds *t = (struct tls_creds *)1;
	char err[512] = "", missing[PATH_MAX];

	snprintf(missing, sizeof(missing), "%s/nope.key", dir);
	CU_ASSERT_EQUAL(tls_creds_load(cert, missing, "", &t, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "tls_key"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, missing));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));
}

void
test_creds_key_of_another_cert_refused(void)
{
	struct tls_creds *t;
	char err[512] = "";

	CU_ASSERT_EQUAL(tls_creds_load(cert, key2, "", &t, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "tls_cert"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "do not match"));
}

void
test_creds_bad_priority_refused(void)
{
	struct tls_creds *t;
	char err[512] = "";

	CU_ASSERT_EQUAL(tls_creds_load(cert, key, "SECURE128:+NO-SUCH-THING",
	    &t, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "tls_priority"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "NO-SUCH-THING"));
}

/* ---- the default priority against clients ---- */

/* Does a client with priority cprio complete a handshake with a server
 * using the default priority (or sprio)?  *ver gets the version. */
static bool
handshake_with(const char *sprio, const char *cprio, gnutls_protocol_t *ver)
{
	struct tls_creds *t;
	char err[256];
	int sv[2];
	bool ok = false;

	if (tls_creds_load(cert, key, sprio, &t, err, sizeof(err)) != 0) {
		CU_FAIL(err);
		return false;
	}
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	gnutls_session_t s = tls_session_new(t, sv[0]);
	gnutls_session_t c = tt_client(sv[1], cprio);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	ok = tt_handshake_pair(s, c);
	if (ok && ver != NULL)
		*ver = gnutls_protocol_get_version(s);
	gnutls_deinit(s);
	gnutls_deinit(c);
	close(sv[0]);
	close(sv[1]);
	tls_creds_free(t);
	return ok;
}

void
test_default_priority_versions(void)
{
	gnutls_protocol_t v = GNUTLS_VERSION_UNKNOWN;

	CU_ASSERT_STRING_EQUAL(MK_TLS_DEFAULT_PRIORITY,
	    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:"
	    "-AES-128-CBC:-AES-256-CBC:-SHA1:%SERVER_PRECEDENCE");
	CU_ASSERT_TRUE(handshake_with("", "NORMAL", &v));
	CU_ASSERT_EQUAL(v, GNUTLS_TLS1_3);
	CU_ASSERT_TRUE(handshake_with("", "NORMAL:-VERS-ALL:+VERS-TLS1.2", &v));
	CU_ASSERT_EQUAL(v, GNUTLS_TLS1_2);
	CU_ASSERT_FALSE(handshake_with("", "NORMAL:-VERS-ALL:+VERS-TLS1.1", NULL));
	CU_ASSERT_FALSE(handshake_with("", "NORMAL:-VERS-ALL:+VERS-TLS1.0", NULL));
}

/* The refusals above are the server's doing: the same clients get in
 * when the server's priority allows their version. */
void
test_old_versions_work_when_allowed(void)
{
	const char *old = "NORMAL:+VERS-TLS1.1:+VERS-TLS1.0";

	CU_ASSERT_TRUE(handshake_with(old, "NORMAL:-VERS-ALL:+VERS-TLS1.1", NULL));
	CU_ASSERT_TRUE(handshake_with(old, "NORMAL:-VERS-ALL:+VERS-TLS1.0", NULL));
}

/* TLS 1.2 without forward secrecy or with CBC: refused by default,
 * accepted by a server that allows them (so the client is able). */
void
test_default_priority_ciphers(void)
{
	const char *cbc = "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:"
	    "+AES-128-CBC:+AES-256-CBC:-MAC-ALL:+SHA1:+SHA256";

	CU_ASSERT_FALSE(handshake_with("", cbc, NULL));
	CU_ASSERT_TRUE(handshake_with("NORMAL", cbc, NULL));
}

/* ---- clear-text policy and the address classifier ---- */

static bool
loopback4(const char *a)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	CU_ASSERT_FATAL(inet_pton(AF_INET, a, &sin.sin_addr) == 1);
	return net_is_loopback((struct sockaddr *)&sin);
}

static bool
loopback6(const char *a)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	CU_ASSERT_FATAL(inet_pton(AF_INET6, a, &sin6.sin6_addr) == 1);
	return net_is_loopback((struct sockaddr *)&sin6);
}

void
test_address_classifier(void)
{
	struct sockaddr_un sun;

	CU_ASSERT_TRUE(loopback4("127.0.0.1"));
	CU_ASSERT_TRUE(loopback4("127.255.255.254"));
	CU_ASSERT_FALSE(loopback4("10.0.0.1"));
	CU_ASSERT_FALSE(loopback4("192.0.2.1"));
	CU_ASSERT_FALSE(loopback4("0.0.0.0"));
	CU_ASSERT_FALSE(loopback4("128.0.0.1"));
	CU_ASSERT_FALSE(loopback4("126.255.255.255"));
	CU_ASSERT_TRUE(loopback6("::1"));
	CU_ASSERT_TRUE(loopback6("::ffff:127.0.0.1"));
	CU_ASSERT_FALSE(loopback6("::ffff:192.0.2.1"));
	CU_ASSERT_FALSE(loopback6("::"));
	CU_ASSERT_FALSE(loopback6("::2"));
	CU_ASSERT_FALSE(loopback6("fe80::1"));
	CU_ASSERT_FALSE(loopback6("2001:db8::1"));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	CU_ASSERT_TRUE(net_is_loopback((struct sockaddr *)&sun));
}

void
test_plaintext_policy(void)
{
	/* loopback (the default): loopback clients, or anyone over TLS */
	CU_ASSERT_TRUE(tls_plaintext_allowed(MK_PLAINTEXT_LOOPBACK, true, false));
	CU_ASSERT_FALSE(tls_plaintext_allowed(MK_PLAINTEXT_LOOPBACK, false, false));
	CU_ASSERT_TRUE(tls_plaintext_allowed(MK_PLAINTEXT_LOOPBACK, false, true));
	/* never: TLS only, loopback or not */
	CU_ASSERT_FALSE(tls_plaintext_allowed(MK_PLAINTEXT_NEVER, true, false));
	CU_ASSERT_FALSE(tls_plaintext_allowed(MK_PLAINTEXT_NEVER, false, false));
	CU_ASSERT_TRUE(tls_plaintext_allowed(MK_PLAINTEXT_NEVER, false, true));
	/* always */
	CU_ASSERT_TRUE(tls_plaintext_allowed(MK_PLAINTEXT_ALWAYS, false, false));
	/* the two together, as the master decides for a remote client */
	CU_ASSERT_FALSE(tls_plaintext_allowed(MK_PLAINTEXT_LOOPBACK,
	    loopback4("198.51.100.20"), false));
	CU_ASSERT_TRUE(tls_plaintext_allowed(MK_PLAINTEXT_LOOPBACK,
	    loopback6("::ffff:127.0.0.2"), false));
}
