/*
 * log.h - error and diagnostic logging for every Mailkeep process.
 *
 * Two families, as in OpenSMTPD: the _warn variants append strerror(errno),
 * the _warnx variants do not.  fatal()/fatalx() log and exit: use them for
 * what must never happen (a broken invariant, a malformed message from a
 * more privileged process), never for bad client input.  Every line names
 * the process role and the function it came from.  Never log a secret.
 */
#ifndef MK_LOG_H
#define MK_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define MK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define MK_NORETURN __attribute__((noreturn))

/* to_stderr: foreground mode; otherwise syslog(LOG_MAIL).  ident is the
 * syslog tag, role the process role printed in each line ("master"...). */
void log_init(const char *ident, bool to_stderr, int verbose);
void log_set_role(const char *role);
void log_set_verbose(int verbose);
int  log_get_verbose(void);
bool log_to_stderr(void);

void mk_log(int pri, const char *func, bool with_errno, const char *fmt, ...)
	MK_PRINTF(4, 5);
MK_NORETURN void mk_fatal(const char *func, bool with_errno, const char *fmt, ...)
	MK_PRINTF(3, 4);

/* Copies in to out (always NUL-terminated), writing every control
 * character - C0, DEL, and C1 as UTF-8 (0xc2 0x80-0x9f) - as \xNN, so
 * that a string another process or a client chose cannot forge log
 * lines or drive a terminal.  Every log line goes through it.  Returns
 * the length written; a truncated copy never ends inside an escape. */
size_t log_escape(char *out, size_t outlen, const char *in);

/* A second syslog stream with its own tag, for the impersonation audit. */
void log_audit(const char *fmt, ...) MK_PRINTF(1, 2);

#define log_warn(...)  mk_log(4, __func__, true, __VA_ARGS__)
#define log_warnx(...) mk_log(4, __func__, false, __VA_ARGS__)
#define log_info(...)  mk_log(6, __func__, false, __VA_ARGS__)
#define log_debug(...) do { if (log_get_verbose() > 0) \
	mk_log(7, __func__, false, __VA_ARGS__); } while (0)
#define fatal(...)     mk_fatal(__func__, true, __VA_ARGS__)
#define fatalx(...)    mk_fatal(__func__, false, __VA_ARGS__)

#endif
