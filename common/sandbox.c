/*
 * sandbox.c - see sandbox.h.
 *
 * Each role's list is the system calls that role was seen to make
 * (strace -f through LOGIN, AUTHENTICATE, STARTTLS, implicit TLS, the
 * relay, yescrypt, LMTP deliveries, logging to stderr and to syslog), by
 * name, so that a name the architecture lacks is skipped rather than
 * mistaken.  Calls with a dangerous use are allowed only with safe
 * arguments: memory may not be made executable, fcntl may only read or
 * set status flags (the LMTP process: only seal its message),
 * memfd_create only the LMTP process's sealable kind.  glibc's syslog() reconnects
 * with socket(AF_UNIX) when syslogd restarts: that one call fails with
 * EACCES instead of killing the process (the chroot has no /dev/log
 * anyway); every other socket() kills.
 */
#include "common/sandbox.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#if defined(MK_SANITIZER_BUILD) || defined(__SANITIZE_ADDRESS__)
#define MK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define MK_SANITIZED 1
#endif
#endif

/* What every role does: memory, time (clock_gettime and friends are
 * vDSO calls, but fall back to the kernel on some clock sources),
 * GnuTLS's and libc's randomness, locks, its own pid (the log line, and
 * GnuTLS's fork check), reading and writing the descriptors it holds
 * (channels, client, log: stderr or syslog's connected socket), the
 * bounded waits of ipc_send_now() and flush_all(), and exit.  writev is
 * glibc's way of printing an abort message. */
static const char *const base_calls[] = {
	"read", "write", "writev", "close", "exit", "exit_group",
	"brk", "munmap", "mremap", "madvise",
	"clock_gettime", "gettimeofday", "time", "getrandom", "futex",
	"getpid", "rt_sigreturn", "rt_sigprocmask",
	"sendto", "recvfrom", "recvmsg", "sendmsg", "poll", "ppoll",
	NULL
};

/* Login process and relay: its event loop (the relay makes its own),
 * SIGTERM by signalfd, and the relay's half-close towards the mailbox
 * process. */
static const char *const login_calls[] = {
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"signalfd4", "shutdown",
	NULL
};

/* Hash worker: one blocking receive, crypt_rn() (yescrypt's memory is
 * mmap()ed), one send: nothing beyond the base. */
static const char *const hash_calls[] = {
	NULL
};

/* Key holder: its epoll loop over the channels. */
static const char *const keyholder_calls[] = {
	"epoll_ctl", "epoll_wait", "epoll_pwait",
	NULL
};

/* LMTP process (daemon/lmtp/lmtp.c): a synchronous loop of poll(),
 * read() and send() on the client, sendmsg()/recvmsg() on its channels,
 * write() into the message's memfd: all in the base.  Beyond it, dup()
 * of the sealed memfd, one copy per recipient's IPC_LMTP_DELIVER (the
 * message takes the descriptor it carries); memfd_create and the
 * sealing fcntl are allowed with their exact arguments below.  Seen
 * with strace -f through transactions of several recipients (unknown,
 * over quota, too big), messages up to max_message and over it, long
 * lines, pipelining, RSET, BDAT (refused), QUIT, the client vanishing
 * mid-DATA and after RCPT, the timeout, the master killed, Postfix's
 * lmtp client and mailkeepctl deliver.  pread64: a relayed recipient's
 * copy of the message is read from the sealed memfd (lmtp_relay.c),
 * and the link process and mailkeepctl's link worker, which run under
 * this role too (doc/move.md), read theirs. */
static const char *const lmtp_calls[] = {
	"dup", "pread64",
	NULL
};

/* LDAP process (auth/ldapclient.c): TCP connections to the LDAP server
 * (socket() only for AF_INET/AF_INET6, below), their options and
 * peer, and name resolution, which reads /etc/hosts, /etc/resolv.conf
 * and the like (open is allowed read-only, below) and queries DNS
 * (sendmmsg).  Taken from strace -f of look-ups and binds, by name and
 * by address, with and without StartTLS, the server stopped, frozen
 * and back; Cyrus SASL and the TLS context are set up before the
 * filter. */
static const char *const ldap_calls[] = {
	"connect", "setsockopt", "getpeername", "shutdown", "sendmmsg",
	"fstat", "newfstatat", "stat", "lstat", "statx", "lseek", "uname",
	NULL
};

#ifdef MK_SANITIZED
/* ASan/UBSan at run time and when they report: their allocator and
 * shadow memory, the alternate signal stack, reading /proc/self/maps
 * and the executable's name for the report, and its own threads'
 * bookkeeping.  Only in sanitizer builds. */
static const char *const sanitizer_calls[] = {
	"readlink", "readlinkat", "sigaltstack",
	"rt_sigaction", "sched_yield", "prctl", "getrlimit", "prlimit64",
	"mprotect", "getdents64", "pipe2", "ioctl", "uname",
	"getppid", "getuid", "geteuid", "gettid", "kill", "tgkill",
	NULL
};
#endif

bool
sandbox_sanitizer_build(void)
{
#ifdef MK_SANITIZED
	return true;
#else
	return false;
#endif
}

const char *
sandbox_role_name(enum sandbox_role role)
{
	switch (role) {
	case SANDBOX_LOGIN: return "login";
	case SANDBOX_HASH: return "hash";
	case SANDBOX_KEYHOLDER: return "keyholder";
	case SANDBOX_LMTP: return "lmtp";
	case SANDBOX_LDAP: return "ldap";
	}
	return "unknown";
}

static void
allow_list(scmp_filter_ctx ctx, const char *const *names)
{
	for (; *names != NULL; names++) {
		int nr = seccomp_syscall_resolve_name(*names);
		if (nr == __NR_SCMP_ERROR)
			continue;	/* not a call of this architecture */
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0)
			fatalx("seccomp: allowing %s: %s", *names, strerror(-rc));
	}
}

static void
rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
    const struct scmp_arg_cmp *args)
{
	int nr = seccomp_syscall_resolve_name(name);
	int rc;

	if (nr == __NR_SCMP_ERROR)
		return;
	rc = seccomp_rule_add_array(ctx, action, nr, n, args);
	if (rc < 0)
		fatalx("seccomp: rule for %s: %s", name, strerror(-rc));
}

/* The LDAP process: sockets of the internet families only (the
 * AF_UNIX rule below answers the rest), close-on-exec flags, and
 * read-only opens (no write, creation or truncation) for name
 * resolution.  Under the sanitizers the same opens are added again;
 * libseccomp takes the duplicate. */
static void
allow_ldap(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp inet = SCMP_A0(SCMP_CMP_EQ, AF_INET);
	struct scmp_arg_cmp inet6 = SCMP_A0(SCMP_CMP_EQ, AF_INET6);
	struct scmp_arg_cmp getfd = SCMP_A1(SCMP_CMP_EQ, F_GETFD);
	struct scmp_arg_cmp setfd = SCMP_A1(SCMP_CMP_EQ, F_SETFD);
	struct scmp_arg_cmp ro1 = SCMP_A1(SCMP_CMP_MASKED_EQ,
	    O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY);
	struct scmp_arg_cmp ro2 = SCMP_A2(SCMP_CMP_MASKED_EQ,
	    O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY);

	rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &inet);
	rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &inet6);
	rule(ctx, SCMP_ACT_ALLOW, "fcntl", 1, &getfd);
	rule(ctx, SCMP_ACT_ALLOW, "fcntl", 1, &setfd);
#ifndef MK_SANITIZED
	rule(ctx, SCMP_ACT_ALLOW, "open", 1, &ro1);
	rule(ctx, SCMP_ACT_ALLOW, "openat", 1, &ro2);
#else
	(void)ro1;
	(void)ro2;
#endif
}

/* Calls allowed with some arguments only. */
static void
allow_conditional(scmp_filter_ctx ctx, enum sandbox_role role)
{
	/* Memory, but never executable: no code can be added. */
	struct scmp_arg_cmp noexec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	rule(ctx, SCMP_ACT_ALLOW, "mmap", 1, &noexec);
#ifndef MK_SANITIZED
	rule(ctx, SCMP_ACT_ALLOW, "mprotect", 1, &noexec);
#endif
	if (role == SANDBOX_LMTP) {
		/* The message: one memfd of the kind lmtp.c makes, sealed
		 * with the one set of seals it applies, and no other fcntl
		 * command (it sets no flag; F_GET_SEALS is the mailbox
		 * process's check, not its own). */
		struct scmp_arg_cmp memfd = SCMP_A1(SCMP_CMP_EQ,
		    MFD_CLOEXEC | MFD_ALLOW_SEALING);
		rule(ctx, SCMP_ACT_ALLOW, "memfd_create", 1, &memfd);
		struct scmp_arg_cmp seal[2] = {
			SCMP_A1(SCMP_CMP_EQ, F_ADD_SEALS),
			SCMP_A2(SCMP_CMP_EQ, F_SEAL_WRITE | F_SEAL_SHRINK |
			    F_SEAL_GROW | F_SEAL_SEAL),
		};
		rule(ctx, SCMP_ACT_ALLOW, "fcntl", 2, seal);
	} else {
		/* O_NONBLOCK and friends, nothing that makes or moves a
		 * descriptor. */
		struct scmp_arg_cmp getfl = SCMP_A1(SCMP_CMP_EQ, F_GETFL);
		struct scmp_arg_cmp setfl = SCMP_A1(SCMP_CMP_EQ, F_SETFL);
		rule(ctx, SCMP_ACT_ALLOW, "fcntl", 1, &getfl);
		rule(ctx, SCMP_ACT_ALLOW, "fcntl", 1, &setfl);
	}
	if (role == SANDBOX_LDAP)
		allow_ldap(ctx);
#ifdef MK_SANITIZED
	/* The sanitizers read /proc/self/maps and the like for a report:
	 * read-only opens, never a write or a creation. */
	struct scmp_arg_cmp rdonly1 = SCMP_A1(SCMP_CMP_MASKED_EQ,
	    O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY);
	struct scmp_arg_cmp rdonly2 = SCMP_A2(SCMP_CMP_MASKED_EQ,
	    O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY);
	rule(ctx, SCMP_ACT_ALLOW, "open", 1, &rdonly1);
	rule(ctx, SCMP_ACT_ALLOW, "openat", 1, &rdonly2);
	/* They look for llvm-symbolizer by path, then would fork and exec
	 * it: not found, the report is printed unsymbolized (addresses and
	 * module offsets).  fstat() of a descriptor stays possible. */
	static const char *const lookups[] = {
		"stat", "lstat", "access", "faccessat", "faccessat2", "statx",
	};
	for (size_t i = 0; i < nitems(lookups); i++)
		rule(ctx, SCMP_ACT_ERRNO(ENOENT), lookups[i], 0, NULL);
	struct scmp_arg_cmp by_fd = SCMP_A3(SCMP_CMP_EQ, AT_EMPTY_PATH);
	struct scmp_arg_cmp by_path = SCMP_A3(SCMP_CMP_NE, AT_EMPTY_PATH);
	rule(ctx, SCMP_ACT_ALLOW, "newfstatat", 1, &by_fd);
	rule(ctx, SCMP_ACT_ERRNO(ENOENT), "newfstatat", 1, &by_path);
	rule(ctx, SCMP_ACT_ALLOW, "fstat", 0, NULL);
#endif
	/* syslog()'s reconnection: refused quietly (see the top). */
	struct scmp_arg_cmp unix_dom = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
	rule(ctx, SCMP_ACT_ERRNO(EACCES), "socket", 1, &unix_dom);
	if (role == SANDBOX_LOGIN) {
		/* No socketpair: the master makes the relays' pairs. */
		/* The relay's TCP_NODELAY on the client socket (relay.c). */
		struct scmp_arg_cmp nodelay[2] = {
			SCMP_A1(SCMP_CMP_EQ, IPPROTO_TCP),
			SCMP_A2(SCMP_CMP_EQ, TCP_NODELAY),
		};
		rule(ctx, SCMP_ACT_ALLOW, "setsockopt", 2, nodelay);
	}
}

static void
set_limit(int resource, rlim_t v, const char *name)
{
	struct rlimit rl = { .rlim_cur = v, .rlim_max = v };

	if (setrlimit(resource, &rl) == -1)
		fatal("setrlimit %s", name);
}

/* RLIMIT_FSIZE applies to every regular file the process writes, its
 * inherited log included (mailkeepd -f 2>>file): with a limit of 0 the
 * first log line would kill it.  The filter forbids opening anything,
 * so such a log is the only file it could write. */
static bool
log_is_file(void)
{
	struct stat st;

	return fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode);
}

rlim_t
sandbox_nofile_max(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit RLIMIT_NOFILE");
	return rl.rlim_max;
}

static const char *const *
role_calls(enum sandbox_role role)
{
	switch (role) {
	case SANDBOX_LOGIN: return login_calls;
	case SANDBOX_HASH: return hash_calls;
	case SANDBOX_KEYHOLDER: return keyholder_calls;
	case SANDBOX_LMTP: return lmtp_calls;
	case SANDBOX_LDAP: return ldap_calls;
	}
	fatalx("sandbox: unknown role %d", (int)role);
}

void
sandbox_apply(enum sandbox_role role, unsigned nofile)
{
	sandbox_apply_fsize(role, nofile, 0);
}

void
sandbox_apply_fsize(enum sandbox_role role, unsigned nofile, rlim_t fsize)
{
	const char *const *extra = role_calls(role);
	scmp_filter_ctx ctx;
	int rc;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("PR_SET_DUMPABLE");
	set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
	set_limit(RLIMIT_NPROC, 0, "RLIMIT_NPROC");
	if (!log_is_file()) {
		struct rlimit cur;
		if (getrlimit(RLIMIT_FSIZE, &cur) == -1)
			fatal("getrlimit RLIMIT_FSIZE");
		set_limit(RLIMIT_FSIZE, MK_MIN(fsize, cur.rlim_max),
		    "RLIMIT_FSIZE");
	}
	if (nofile > 0)
		set_limit(RLIMIT_NOFILE, MK_MIN((rlim_t)nofile,
		    sandbox_nofile_max()), "RLIMIT_NOFILE");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("PR_SET_NO_NEW_PRIVS");

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		fatalx("seccomp_init failed");
	allow_list(ctx, base_calls);
	allow_list(ctx, extra);
#ifdef MK_SANITIZED
	allow_list(ctx, sanitizer_calls);
#endif
	allow_conditional(ctx, role);
	if ((rc = seccomp_load(ctx)) < 0)
		fatalx("seccomp_load: %s", strerror(-rc));
	seccomp_release(ctx);
	log_debug("sandboxed (%s)", sandbox_role_name(role));
}
