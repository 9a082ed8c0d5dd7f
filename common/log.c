/*
 * log.c - see log.h.
 */
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static bool        use_stderr = true;
static int         verbosity;
static char        role[32] = "mailkeep";
static const char *syslog_ident = "mailkeep";

void
log_init(const char *ident, bool to_stderr, int verbose)
{
	use_stderr = to_stderr;
	verbosity = verbose;
	syslog_ident = ident;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	tzset();
}

void
log_set_role(const char *r)
{
	snprintf(role, sizeof(role), "%s", r);
}

void log_set_verbose(int v) { verbosity = v; }
int  log_get_verbose(void) { return verbosity; }
bool log_to_stderr(void) { return use_stderr; }

size_t
log_escape(char *out, size_t outlen, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t n = 0;

	if (outlen == 0)
		return 0;
	for (; *p; p++) {
		bool c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
		if (*p < 0x20 || *p == 0x7f || c1) {
			size_t need = c1 ? 8 : 4;
			if (n + need >= outlen)
				break;
			for (int i = 0; i < (c1 ? 2 : 1); i++) {
				out[n++] = '\\';
				out[n++] = 'x';
				out[n++] = hex[p[i] >> 4];
				out[n++] = hex[p[i] & 15];
			}
			if (c1)
				p++;
			continue;
		}
		if (n + 1 >= outlen)
			break;
		out[n++] = (char)*p;
	}
	out[n] = '\0';
	return n;
}

static void
vlog(int pri, const char *func, bool with_errno, const char *fmt, va_list ap)
{
	char msg[2048];
	int saved = errno;
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	if (n < 0)
		msg[0] = '\0';
	if (with_errno) {
		size_t len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(saved));
	}
	/* Names and text in a line may come from clients and from less
	 * privileged processes: none of their control characters pass. */
	char esc[sizeof(msg) * 2];
	log_escape(esc, sizeof(esc), msg);
	if (use_stderr) {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
		fprintf(stderr, "%s %s[%d] %s: %s\n", ts, role, (int)getpid(),
		    func, esc);
	} else
		syslog(pri, "%s: %s: %s", role, func, esc);
	errno = saved;
}

void
mk_log(int pri, const char *func, bool with_errno, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(pri, func, with_errno, fmt, ap);
	va_end(ap);
}

void
mk_fatal(const char *func, bool with_errno, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_CRIT, func, with_errno, fmt, ap);
	va_end(ap);
	_exit(1);
}

void
log_audit(const char *fmt, ...)
{
	char raw[1024], msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	log_escape(msg, sizeof(msg), raw);
	if (use_stderr) {
		fprintf(stderr, "audit[%d]: %s\n", (int)getpid(), msg);
		return;
	}
	/* A separate tag lets syslog route the audit trail to its own file. */
	closelog();
	openlog("mailkeep-audit", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
	syslog(LOG_NOTICE, "%s", msg);
	closelog();
	openlog(syslog_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}
