/*
 * live.c - mailkeepctl who, kick, reload and stats: a client of the
 * running daemon's control socket (daemon/master/control.c).
 *
 * It sends one request line to data_dir/control and prints the answer:
 * "OK" then text (exit 0), or "ERR reason" (exit 1).  The socket is
 * root's and 0600, and the master checks the peer's uid as well, so
 * these commands work as root (or as the owner of a development
 * instance).  They open no database and no user's file.
 */
#include "daemon/ctl/ctl.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LIVE_TIMEOUT_S 15

static int
control_connect_quiet(struct ctx *x, bool quiet)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = LIVE_TIMEOUT_S };
	char err[512], path[PATH_MAX];
	int fd;

	if (!quiet) {
		config_defaults(&x->cfg);
		if (config_load(&x->cfg, x->conf, err, sizeof(err)) == -1) {
			errmsg("%s", err);
			return -1;
		}
	}
	if (config_path(&x->cfg, path, sizeof(path), "control") == -1 ||
	    strlen(path) >= sizeof(sun.sun_path)) {
		errmsg("data_dir too long for the control socket's path");
		return -1;
	}
	mk_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (!quiet)
			errmsg("%s: %s (is mailkeepd running? the control "
			    "socket is root's)", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int
control_connect(struct ctx *x)
{
	return control_connect_quiet(x, false);
}

/* The master is the peer of its control socket: the kernel says which
 * process that is.  (x->cfg is loaded: the instance is open.) */
pid_t
control_master_pid(struct ctx *x)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd = control_connect_quiet(x, true);
	pid_t pid = 0;

	if (fd == -1)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
		pid = cr.pid;
	close(fd);
	return pid;
}

/* Prints the answer after its first line; the exit status from it. */
static int
print_answer(int fd)
{
	char buf[65536];
	bool first = true, ok = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			errmsg("control socket: %s", strerror(errno));
			return EX_FAIL;
		}
		size_t off = 0;
		if (first) {
			char *nl = memchr(buf, '\n', (size_t)n);
			size_t len = nl ? (size_t)(nl - buf) : (size_t)n;
			ok = len >= 2 && strncmp(buf, "OK", 2) == 0;
			if (!ok)
				errmsg("%.*s", (int)(len > 4 ? len - 4 : 0),
				    buf + 4);
			else if (len > 3)	/* "OK text": the text */
				printf("%.*s\n", (int)(len - 3), buf + 3);
			off = nl ? len + 1 : (size_t)n;
			first = false;
		}
		fwrite(buf + off, 1, (size_t)n - off, ok ? stdout : stderr);
	}
	if (first)
		errmsg("control socket: no answer");
	return ok ? EX_OK_ : EX_FAIL;
}

static int
live_request(struct ctx *x, const char *line)
{
	int fd = control_connect(x), rc;
	size_t len = strlen(line);

	if (fd == -1)
		return EX_FAIL;
	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len) {
		errmsg("control socket: %s", strerror(errno));
		close(fd);
		return EX_FAIL;
	}
	rc = print_answer(fd);
	close(fd);
	return rc;
}

static int
ask_on(int fd, const char *line, char *out, size_t outlen)
{
	size_t len = strlen(line), got = 0;
	ssize_t n;
	char *nl;

	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	while (got + 1 < outlen && (n = read(fd, out + got,
	    outlen - 1 - got)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		got += (size_t)n;
	}
	close(fd);
	out[got] = '\0';
	if ((nl = strchr(out, '\n')) != NULL)
		*nl = '\0';
	if (strncmp(out, "OK ", 3) != 0)
		return -1;
	memmove(out, out + 3, strlen(out + 3) + 1);
	return 0;
}

int
live_ask(struct ctx *x, const char *line, char *out, size_t outlen)
{
	int fd = control_connect_quiet(x, true);

	if (fd == -1) {
		errmsg("the control socket does not answer (is mailkeepd "
		    "running?)");
		return -1;
	}
	if (ask_on(fd, line, out, outlen) != 0) {
		errmsg("control socket: %s", out);
		return -1;
	}
	return 0;
}

/* After a change to the share index, or to the users it names: the
 * running daemon's user processes drop the share lists they keep, so
 * their next LIST shows it (the master would notice within a second
 * anyway).  Quiet: with no daemon running there is nothing to tell. */
void
live_shares_changed(struct ctx *x)
{
	char out[256];
	int fd = control_connect_quiet(x, true);

	if (fd != -1 && ask_on(fd, "shares\n", out, sizeof(out)) != 0)
		errmsg("the running daemon did not take the share change "
		    "(%s): its sessions list it within a second", out);
}

int
cmd_who(struct ctx *x)
{
	if (x->argc != 0)
		return usage_of(find_command("who"));
	return live_request(x, "who\n");
}

int
cmd_stats(struct ctx *x)
{
	if (x->argc != 0)
		return usage_of(find_command("stats"));
	return live_request(x, "stats\n");
}

int
cmd_reload(struct ctx *x)
{
	if (x->argc != 0)
		return usage_of(find_command("reload"));
	return live_request(x, "reload\n");
}

int
cmd_kick(struct ctx *x)
{
	char name[MK_USER_MAX], line[MK_USER_MAX + 8];

	if (has_stray_option(x) || x->argc != 1)
		return usage_of(find_command("kick"));
	if (!user_name(x->argv[0], name))
		return EX_BADINPUT;
	snprintf(line, sizeof(line), "kick %s\n", name);
	return live_request(x, line);
}
