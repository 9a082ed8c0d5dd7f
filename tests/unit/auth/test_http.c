/*
 * test_http.c - the auth_http request parser (auth/login_http.c):
 * nginx's request as it sends it, URL-decoding of user and password,
 * header names in any case, the defaults, and every refusal with its
 * status (400, 405, 431), plus random damage to a good request that
 * must never crash or read past the request.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/login.h"

static struct http_auth_req req;

static const char good[] =
	"GET /auth HTTP/1.0\r\n"
	"Host: 127.0.0.1\r\n"
	"Auth-Method: plain\r\n"
	"Auth-User: alice%40example.org\r\n"
	"Auth-Pass: p%25w%20d+x\r\n"
	"Auth-Protocol: imap\r\n"
	"Auth-Login-Attempt: 2\r\n"
	"Client-IP: 192.0.2.7\r\n"
	"Client-Host: [UNAVAILABLE]\r\n"
	"\r\n";

static int
parse(const char *s, const char **why)
{
	return http_auth_parse(s, strlen(s), &req, why);
}

void
test_http_nginx_request(void)
{
	const char *why = NULL;

	CU_ASSERT_EQUAL_FATAL(parse(good, &why), 0);
	CU_ASSERT_STRING_EQUAL(req.method, "plain");
	CU_ASSERT_STRING_EQUAL(req.protocol, "imap");
	CU_ASSERT_STRING_EQUAL(req.user, "alice@example.org");
	CU_ASSERT_EQUAL(req.npass, 7);
	CU_ASSERT_EQUAL(memcmp(req.pass, "p%w d+x", 7), 0);
	CU_ASSERT_EQUAL(req.attempt, 2);
	CU_ASSERT_STRING_EQUAL(req.client_ip, "192.0.2.7");

	/* names in any case, LF only, no attempt header, IPv6, HTTP/1.1,
	 * a password with a NUL and an empty one */
	CU_ASSERT_EQUAL(parse("GET / HTTP/1.1\nauth-method: LOGIN\n"
	    "AUTH-USER: bob\nauth-pass: a%00b\nAuth-Protocol: POP3\n"
	    "client-ip: 2001:db8::1\n\n", &why), 0);
	CU_ASSERT_STRING_EQUAL(req.method, "login");
	CU_ASSERT_STRING_EQUAL(req.protocol, "pop3");
	CU_ASSERT_EQUAL(req.attempt, 1);
	CU_ASSERT_EQUAL(req.npass, 3);
	CU_ASSERT_EQUAL(memcmp(req.pass, "a\0b", 3), 0);
	CU_ASSERT_EQUAL(parse("GET / HTTP/1.0\r\nAuth-Method: plain\r\n"
	    "Auth-User: bob\r\nAuth-Pass:\r\nAuth-Protocol: imap\r\n"
	    "Client-IP: 192.0.2.1\r\n\r\n", &why), 0);
	CU_ASSERT_EQUAL(req.npass, 0);
}

void
test_http_refusals(void)
{
	static const char hdrs[] = "Auth-Method: plain\r\nAuth-User: a\r\n"
	    "Auth-Pass: b\r\nAuth-Protocol: imap\r\nClient-IP: 192.0.2.1\r\n";
	static const struct {
		const char *pre, *post;
		int status;
	} cases[] = {
		{ "POST / HTTP/1.0\r\n", "", 405 },
		{ "GETT / HTTP/1.0\r\n", "", 405 },
		{ "GET / HTTP/2.0\r\n", "", 400 },
		{ "GET /\r\n", "", 400 },
		{ "\r\n", "", 400 },
		{ "GET / HTTP/1.0\r\n", "Auth-User: b\r\n", 400 },
		{ "GET / HTTP/1.0\r\n", " folded\r\n", 400 },
		{ "GET / HTTP/1.0\r\n", "no colon\r\n", 400 },
		{ "GET / HTTP/1.0\r\n", ": empty name\r\n", 400 },
		{ "GET / HTTP/1.0\r\n", "X: a\x01" "b\r\n", 400 },
		{ "GET / HTTP/1.0\r\nAuth-Login-Attempt: 0\r\n", "", 400 },
		{ "GET / HTTP/1.0\r\nAuth-Login-Attempt: x\r\n", "", 400 },
	};
	char buf[1024];
	const char *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s%s\r\n", cases[i].pre, hdrs,
		    cases[i].post);
		why = NULL;
		int rc = parse(buf, &why);
		if (rc != cases[i].status)
			fprintf(stderr, "case %zu: %d\n", i, rc);
		CU_ASSERT_EQUAL(rc, cases[i].status);
		CU_ASSERT_PTR_NOT_NULL(why);
	}
	/* a missing required header, each in turn */
	static const char *const need[] = { "Auth-Method", "Auth-User",
	    "Auth-Pass", "Auth-Protocol", "Client-IP" };
	for (size_t i = 0; i < 5; i++) {
		snprintf(buf, sizeof(buf), "GET / HTTP/1.0\r\n%s\r\n", hdrs);
		char *h = strstr(buf, need[i]);
		memcpy(h, "X-Skip", 6);
		CU_ASSERT_EQUAL(parse(buf, &why), 400);
	}
	/* bad encodings and values */
	CU_ASSERT_EQUAL(parse("GET / HTTP/1.0\r\nAuth-Method: plain\r\n"
	    "Auth-User: a%4\r\nAuth-Pass: b\r\nAuth-Protocol: imap\r\n"
	    "Client-IP: 192.0.2.1\r\n\r\n", &why), 400);
	CU_ASSERT_EQUAL(parse("GET / HTTP/1.0\r\nAuth-Method: plain\r\n"
	    "Auth-User: a%00b\r\nAuth-Pass: b\r\nAuth-Protocol: imap\r\n"
	    "Client-IP: 192.0.2.1\r\n\r\n", &why), 400);
	CU_ASSERT_EQUAL(parse("GET / HTTP/1.0\r\nAuth-Method: plain\r\n"
	    "Auth-User: a\r\nAuth-Pass: %zz\r\nAuth-Protocol: imap\r\n"
	    "Client-IP: 192.0.2.1\r\n\r\n", &why), 400);
	CU_ASSERT_EQUAL(parse("GET / HTTP/1.0\r\nAuth-Method: plain\r\n"
	    "Auth-User: a\r\nAuth-Pass: b\r\nAuth-Protocol: imap\r\n"
	    "Client-IP: 192.0.2.1, 10.0.0.1\r\n\r\n", &why), 400);
	/* too large */
	char *big = malloc(HTTP_AUTH_MAX_HEADER + 100);
	CU_ASSERT_FATAL(big != NULL);
	memset(big, 'a', HTTP_AUTH_MAX_HEADER + 99);
	big[HTTP_AUTH_MAX_HEADER + 99] = '\0';
	CU_ASSERT_EQUAL(parse(big, &why), 431);
	free(big);
}

/* Random damage: any status, never a crash (ASan watches the reads). */
void
test_http_damaged(void)
{
	size_t n = strlen(good);
	char *buf = malloc(n);
	const char *why;

	CU_ASSERT_FATAL(buf != NULL);
	srand(14);
	for (int i = 0; i < 20000; i++) {
		memcpy(buf, good, n);
		for (int k = rand() % 6; k >= 0; k--)
			buf[rand() % n] = (char)rand();
		size_t len = (size_t)rand() % (n + 1);
		int rc = http_auth_parse(buf, len, &req, &why);
		CU_ASSERT(rc == 0 || rc == 400 || rc == 405 || rc == 431);
	}
	free(buf);
}
