/*
 * proxyproto.c - see proxyproto.h.
 */
#include "common/proxyproto.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static enum proxy_result
bad(const char **why, const char *msg)
{
	*why = msg;
	return PROXY_BAD;
}

/* A v1 address of family af, written back in inet_ntop's form. */
static bool
v1_addr(int af, const char *s, char *out, size_t outlen)
{
	uint8_t raw[16];

	return inet_pton(af, s, raw) == 1 &&
	    inet_ntop(af, raw, out, (socklen_t)outlen) != NULL;
}

static bool
v1_port(const char *s, uint16_t *port)
{
	uint64_t n;

	/* No sign, no leading zero (the specification's form). */
	if (s[0] == '0' && s[1] != '\0')
		return false;
	if (!parse_u64(s, 65535, &n))
		return false;
	*port = (uint16_t)n;
	return true;
}

/* "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY UNKNOWN...\r\n" */
static enum proxy_result
parse_v1(const uint8_t *buf, size_t len, struct proxy_addr *out,
    size_t *need, const char **why)
{
	char line[PROXY_V1_MAX + 1], *f[7], *save = NULL, dst[64];
	int n = 0;
	uint16_t dport;

	const uint8_t *lf = memchr(buf, '\n', len);
	if (lf == NULL) {
		if (len >= PROXY_V1_MAX)
			return bad(why, "PROXY v1 line longer than 107 bytes");
		if (memchr(buf, '\0', len) != NULL)
			return bad(why, "NUL in a PROXY v1 line");
		*need = 1;	/* its end is unknown: a byte at a time */
		return PROXY_MORE;
	}
	if ((size_t)(lf - buf) + 1 != len)
		return bad(why, "bytes after the PROXY v1 line");
	if (len < 2 || buf[len - 2] != '\r')
		return bad(why, "PROXY v1 line not ended by CRLF");
	memcpy(line, buf, len - 2);
	line[len - 2] = '\0';
	if (strlen(line) != len - 2)
		return bad(why, "NUL in a PROXY v1 line");
	/* Single spaces only: strtok_r would take runs of them. */
	if (strstr(line, "  ") != NULL)
		return bad(why, "PROXY v1 fields must be separated by one space");
	for (char *t = strtok_r(line, " ", &save); t != NULL && n < 7;
	    t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	memset(out, 0, sizeof(*out));
	*need = len;
	if (n >= 2 && strcmp(f[1], "UNKNOWN") == 0)
		return PROXY_DONE;	/* the connection's own address */
	if (n != 6)
		return bad(why, "PROXY v1 needs protocol, two addresses and two "
		    "ports");
	int af = strcmp(f[1], "TCP4") == 0 ? AF_INET :
	    strcmp(f[1], "TCP6") == 0 ? AF_INET6 : 0;
	if (af == 0)
		return bad(why, "PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
	if (!v1_addr(af, f[2], out->addr, sizeof(out->addr)) ||
	    !v1_addr(af, f[3], dst, sizeof(dst)))
		return bad(why, "PROXY v1 address does not match its protocol");
	if (!v1_port(f[4], &out->port) || !v1_port(f[5], &dport))
		return bad(why, "bad PROXY v1 port");
	out->family = af;
	return PROXY_DONE;
}

static enum proxy_result
parse_v2(const uint8_t *buf, size_t len, struct proxy_addr *out,
    size_t *need, const char **why)
{
	if (len < 16) {
		*need = 16 - len;
		return PROXY_MORE;
	}
	size_t total = 16 + ((size_t)buf[14] << 8 | buf[15]);
	if ((buf[12] & 0xf0) != 0x20)
		return bad(why, "PROXY v2 version is not 2");
	if ((buf[12] & 0x0f) > 1)
		return bad(why, "PROXY v2 command is neither LOCAL nor PROXY");
	if (total > PROXY_MAX)
		return bad(why, "PROXY v2 header too long");
	if (len < total) {
		*need = total - len;
		return PROXY_MORE;
	}
	if (len > total)
		return bad(why, "bytes after the PROXY v2 header");
	memset(out, 0, sizeof(*out));
	*need = total;
	/* LOCAL (the proxy's own health check), UDP, unix sockets and
	 * unspecified: the connection's endpoints stand (the spec's rule). */
	uint8_t fam = buf[13];
	if ((buf[12] & 0x0f) == 0 || (fam != 0x11 && fam != 0x21))
		return PROXY_DONE;
	size_t alen = fam == 0x11 ? 12 : 36;
	if (total - 16 < alen)
		return bad(why, "PROXY v2 address block too short");
	int af = fam == 0x11 ? AF_INET : AF_INET6;
	size_t a = fam == 0x11 ? 4 : 16;
	if (inet_ntop(af, buf + 16, out->addr, sizeof(out->addr)) == NULL)
		return bad(why, "PROXY v2 address");
	out->port = (uint16_t)(buf[16 + 2 * a] << 8 | buf[16 + 2 * a + 1]);
	out->family = af;
	return PROXY_DONE;
}

enum proxy_result
proxy_parse(const uint8_t *buf, size_t len, struct proxy_addr *out,
    size_t *need, const char **why)
{
	static const char v1sig[] = "PROXY ";
	size_t n = MK_MIN(len, sizeof(v2sig));

	*why = "";
	if (len == 0) {
		/* The shortest v1 header is 15 bytes, v2's fixed part 16. */
		*need = 15;
		return PROXY_MORE;
	}
	if (memcmp(buf, v2sig, n) == 0) {
		if (len < sizeof(v2sig)) {
			*need = 16 - len;
			return PROXY_MORE;
		}
		return parse_v2(buf, len, out, need, why);
	}
	if (memcmp(buf, v1sig, MK_MIN(len, sizeof(v1sig) - 1)) == 0) {
		if (len < 15) {
			*need = 15 - len;
			return PROXY_MORE;
		}
		return parse_v1(buf, len, out, need, why);
	}
	return bad(why, "no PROXY protocol header from a trusted proxy");
}
