/*
 * sandbox.h - the last step of a child's privilege drop: resource
 * limits, no new privileges, not dumpable, and a seccomp-bpf allow-list
 * of system calls per role.
 *
 * Called by the process itself once it holds every descriptor it will
 * ever use (after privsep.c's uid drop and chroot, after its event loop
 * exists): login processes and their TLS relays, hash workers, the TLS
 * key holder and LMTP session processes.  Any call outside the role's list kills the process
 * (SIGSYS), so a compromised child can use the descriptors it holds and
 * nothing else: no open(), no execve(), no new socket, no fork, no
 * ptrace, no memory made executable.
 *
 * The lists (common/sandbox.c) were taken from strace -f of real
 * sessions (LOGIN, AUTHENTICATE, STARTTLS, implicit TLS, relaying,
 * yescrypt, LMTP deliveries), plus what sanitizer builds need for their
 * reports.
 */
#ifndef MK_SANDBOX_H
#define MK_SANDBOX_H

#include <stdbool.h>
#include <sys/resource.h>

enum sandbox_role {
	SANDBOX_LOGIN,		/* login process, then TLS relay */
	SANDBOX_HASH,		/* hash worker */
	SANDBOX_KEYHOLDER,	/* TLS key holder */
	SANDBOX_LMTP,		/* LMTP session process */
	SANDBOX_LDAP,		/* the LDAP process (auth/ldapclient.c) */
};

/* Sets, for the calling process: PR_SET_DUMPABLE 0, RLIMIT_CORE 0,
 * RLIMIT_NPROC 0 (no fork), RLIMIT_FSIZE 0 (unless its log is a
 * regular file, which the limit would kill it for writing),
 * RLIMIT_NOFILE nofile, PR_SET_NO_NEW_PRIVS, then loads the role's
 * filter.  Fatal on any failure: a child that cannot be confined must
 * not serve.  In dev mode (not root) the same applies. */
void sandbox_apply(enum sandbox_role role, unsigned nofile);

/* The same with RLIMIT_FSIZE fsize instead of 0, for a process that
 * writes a file of its own: the LMTP process's message memfd, which
 * the limit covers like any file (a write past it raises SIGXFSZ, which
 * kills).  A regular-file log still lifts the limit altogether. */
void sandbox_apply_fsize(enum sandbox_role role, unsigned nofile,
	rlim_t fsize);

/* The hard RLIMIT_NOFILE inherited from the master: an unprivileged
 * child cannot raise it, so a larger nofile is cut to it. */
rlim_t sandbox_nofile_max(void);

/* True in a sanitizer build (ASan/UBSan), whose filters also allow
 * what the sanitizers need, read-only opens included, to report. */
bool sandbox_sanitizer_build(void);

/* The role's name, for logs and tests. */
const char *sandbox_role_name(enum sandbox_role role);

#endif
