/*
 * test_proxyproto.c - the PROXY protocol parser (common/proxyproto.c):
 * v1 and v2 headers read the way the login process reads them (15
 * bytes, then exactly what proxy_parse() asks for), the addresses they
 * carry, the cases that keep the connection's own address, and
 * malformed headers of every kind, also cut at every length.
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/proxyproto.h"

/* Feeds hdr (n bytes) to the parser as the login process reads it;
 * returns the last result, *used the bytes consumed. */
static enum proxy_result
feed(const uint8_t *hdr, size_t n, struct proxy_addr *out, size_t *used)
{
	size_t have = 0, need = 0;
	const char *why;
	enum proxy_result r = proxy_parse(hdr, 0, out, &need, &why);

	while (r == PROXY_MORE) {
		CU_ASSERT_FATAL(need > 0);
		if (have + need > n) {
			*used = have;
			return PROXY_MORE;	/* the peer sent no more */
		}
		have += need;
		r = proxy_parse(hdr, have, out, &need, &why);
	}
	if (r == PROXY_DONE)
		CU_ASSERT_EQUAL(need, have);
	*used = have;
	return r;
}

static enum proxy_result
feed_str(const char *s, struct proxy_addr *out, size_t *used)
{
	return feed((const uint8_t *)s, strlen(s), out, used);
}

void
test_proxy_v1(void)
{
	struct proxy_addr a;
	size_t used;
	const char *h4 = "PROXY TCP4 192.0.2.7 10.0.0.1 56324 143\r\n";
	char buf[256];

	/* the header only, even with the client's bytes behind it */
	snprintf(buf, sizeof(buf), "%sa1 LOGIN x y\r\n", h4);
	CU_ASSERT_EQUAL(feed_str(buf, &a, &used), PROXY_DONE);
	CU_ASSERT_EQUAL(used, strlen(h4));
	CU_ASSERT_EQUAL(a.family, AF_INET);
	CU_ASSERT_STRING_EQUAL(a.addr, "192.0.2.7");
	CU_ASSERT_EQUAL(a.port, 56324);

	CU_ASSERT_EQUAL(feed_str("PROXY TCP6 2001:DB8::1 ::1 1 65535\r\n", &a,
	    &used), PROXY_DONE);
	CU_ASSERT_EQUAL(a.family, AF_INET6);
	CU_ASSERT_STRING_EQUAL(a.addr, "2001:db8::1");
	CU_ASSERT_EQUAL(a.port, 1);

	CU_ASSERT_EQUAL(feed_str("PROXY UNKNOWN\r\n", &a, &used), PROXY_DONE);
	CU_ASSERT_EQUAL(a.family, 0);
	CU_ASSERT_EQUAL(feed_str("PROXY UNKNOWN ffff::1 ::1 1 2\r\n", &a, &used),
	    PROXY_DONE);
	CU_ASSERT_EQUAL(a.family, 0);

	/* the longest the specification allows */
	CU_ASSERT_EQUAL(feed_str("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:"
	    "ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
	    &a, &used), PROXY_DONE);
	CU_ASSERT_EQUAL(used, 104);
}

void
test_proxy_v1_malformed(void)
{
	static const char *const bad[] = {
		"PROXY TCP4 192.0.2.7 10.0.0.1 56324\r\n",
		"PROXY TCP4 192.0.2.7 10.0.0.1 56324 143 9\r\n",
		"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n",
		"PROXY TCP6 192.0.2.7 ::1 1 2\r\n",
		"PROXY TCP4 192.0.2.7 10.0.0.1 65536 143\r\n",
		"PROXY TCP4 192.0.2.7 10.0.0.1 -1 143\r\n",
		"PROXY TCP4 192.0.2.7 10.0.0.1 0143 143\r\n",
		"PROXY TCP4 192.0.2.300 10.0.0.1 1 2\r\n",
		"PROXY TCP4  192.0.2.7 10.0.0.1 1 2\r\n",
		"PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n",
		"PROXY TCP4 192.0.2.7 10.0.0.1 1 2\n",
		"PROXY TCP4 192.0.2.7 10.0.0.1 1 2\r\r\n",
		"proxy TCP4 192.0.2.7 10.0.0.1 1 2\r\n",
		"a1 LOGIN alice secret\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n",
	};
	struct proxy_addr a;
	size_t used;
	char longline[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum proxy_result r = feed_str(bad[i], &a, &used);
		if (r != PROXY_BAD)
			fprintf(stderr, "accepted: %s", bad[i]);
		CU_ASSERT_EQUAL(r, PROXY_BAD);
	}
	/* a line with no end within 107 bytes */
	memset(longline, 'x', sizeof(longline) - 1);
	memcpy(longline, "PROXY ", 6);
	longline[sizeof(longline) - 1] = '\0';
	CU_ASSERT_EQUAL(feed_str(longline, &a, &used), PROXY_BAD);
	CU_ASSERT_TRUE(used <= PROXY_V1_MAX);
	/* a NUL inside */
	CU_ASSERT_EQUAL(feed((const uint8_t *)"PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n",
	    33, &a, &used), PROXY_BAD);
	/* cut short: never done, never reads past what is there */
	const char *h = "PROXY TCP4 192.0.2.7 10.0.0.1 56324 143\r\n";
	for (size_t n = 0; n < strlen(h); n++) {
		CU_ASSERT_EQUAL(feed((const uint8_t *)h, n, &a, &used), PROXY_MORE);
		CU_ASSERT_TRUE(used <= n);
	}
}

static size_t
v2(uint8_t *b, uint8_t vercmd, uint8_t fam, const uint8_t *body,
    uint16_t blen)
{
	static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

	memcpy(b, sig, 12);
	b[12] = vercmd;
	b[13] = fam;
	b[14] = (uint8_t)(blen >> 8);
	b[15] = (uint8_t)blen;
	memcpy(b + 16, body, blen);
	return 16 + (size_t)blen;
}

void
test_proxy_v2(void)
{
	uint8_t b[2048], body[1100];
	struct proxy_addr a;
	size_t used, n;

	memset(body, 0, sizeof(body));
	/* TCP4 192.0.2.9:40000 -> 10.0.0.1:993, then a TLS ClientHello */
	memcpy(body, "\xc0\x00\x02\x09\x0a\x00\x00\x01\x9c\x40\x03\xe1", 12);
	n = v2(b, 0x21, 0x11, body, 12);
	memcpy(b + n, "\x16\x03\x01", 3);
	CU_ASSERT_EQUAL(feed(b, n + 3, &a, &used), PROXY_DONE);
	CU_ASSERT_EQUAL(used, n);
	CU_ASSERT_EQUAL(a.family, AF_INET);
	CU_ASSERT_STRING_EQUAL(a.addr, "192.0.2.9");
	CU_ASSERT_EQUAL(a.port, 40000);
	/* with TLVs after the addresses */
	n = v2(b, 0x21, 0x11, body, 12 + 40);
	CU_ASSERT_EQUAL(feed(b, n, &a, &used), PROXY_DONE);
	CU_ASSERT_STRING_EQUAL(a.addr, "192.0.2.9");
	/* TCP6 */
	memset(body, 0, 36);
	body[0] = 0x20; body[1] = 0x01; body[2] = 0x0d; body[3] = 0xb8;
	body[15] = 5;
	body[32] = 0x12; body[33] = 0x34;
	n = v2(b, 0x21, 0x21, body, 36);
	CU_ASSERT_EQUAL(feed(b, n, &a, &used), PROXY_DONE);
	CU_ASSERT_EQUAL(a.family, AF_INET6);
	CU_ASSERT_STRING_EQUAL(a.addr, "2001:db8::5");
	CU_ASSERT_EQUAL(a.port, 0x1234);
	/* LOCAL, UDP, unix, unspecified: the connection's own address */
	n = v2(b, 0x20, 0x00, body, 0);
	CU_ASSERT_EQUAL(feed(b, n, &a, &used), PROXY_DONE);
	CU_ASSERT_EQUAL(a.family, 0);
	n = v2(b, 0x21, 0x12, body, 12);
	CU_ASSERT_EQUAL(feed(b, n, &a, &used), PROXY_DONE);
	CU_ASSERT_EQUAL(a.family, 0);
	n = v2(b, 0x21, 0x31, body, 216);
	CU_ASSERT_EQUAL(feed(b, n, &a, &used), PROXY_DONE);
	CU_ASSERT_EQUAL(a.family, 0);
}

void
test_proxy_v2_malformed(void)
{
	uint8_t b[70000], body[200];
	struct proxy_addr a;
	size_t used, n;

	memset(body, 0, sizeof(body));
	n = v2(b, 0x11, 0x11, body, 12);	/* version 1 */
	CU_ASSERT_EQUAL(feed(b, n, &a, &used), PROXY_BAD);
	n = v2(b, 0x22, 0x11, body, 12);	/* command 2 */
	CU_ASSERT_EQUAL(feed(b, n, &a, &used), PROXY_BAD);
	n = v2(b, 0x21, 0x11, body, 8);		/* addresses cut */
	CU_ASSERT_EQUAL(feed(b, n, &a, &used), PROXY_BAD);
	n = v2(b, 0x21, 0x21, body, 20);
	CU_ASSERT_EQUAL(feed(b, n, &a, &used), PROXY_BAD);
	/* a length beyond the bound: refused before it is read */
	n = v2(b, 0x21, 0x11, body, 12);
	b[14] = 0xff;
	b[15] = 0xff;
	CU_ASSERT_EQUAL(feed(b, sizeof(b), &a, &used), PROXY_BAD);
	CU_ASSERT_EQUAL(used, 16);
	/* a signature that goes wrong part-way */
	n = v2(b, 0x21, 0x11, body, 12);
	b[7] = 'X';
	CU_ASSERT_EQUAL(feed(b, n, &a, &used), PROXY_BAD);
	/* cut at every length: more, never done */
	n = v2(b, 0x21, 0x11, body, 12);
	for (size_t k = 0; k < n; k++)
		CU_ASSERT_EQUAL(feed(b, k, &a, &used), PROXY_MORE);
	/* random bytes: never a crash, never read past the header */
	srand(14);
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand() % 64);
		n = v2(b, (uint8_t)rand(), (uint8_t)rand(), body, (uint16_t)len);
		for (size_t k = 12; k < n; k++)
			if (rand() % 4 == 0)
				b[k] = (uint8_t)rand();
		(void)feed(b, n, &a, &used);
		CU_ASSERT_TRUE(used <= n);
	}
}
