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
	if (use_stderr) {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
		fprintf(stderr, "%s %s[%d] %s: %s\n", ts, role, (int)getpid(),
		    func, msg);
	} else
		syslog(pri, "%s: %s: %s", role, func, msg);
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
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
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
