/*
 * core.c - the master's shared state and its set-up.
 *
 * master_core_init() fills struct master (config copy, event loop,
 * directory, account ids, the dummy hash, the credentials cache) and wires SIGCHLD to the
 * children table.  main() calls it after its start-up checks; the unit
 * tests call it to run the real state machines without listeners.
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/privsep.h"
#include "common/util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

struct master master;

static void
sigchld(int signo, void *arg)
{
	(void)signo;
	(void)arg;
	children_reap();
	if (master.stopping && children_count() == 0)
		ev_loop_break(master.loop);
}

/* A hash of a random password, with the same method and cost as real
 * ones: what unknown users are checked against. */
static int
make_dummy_hash(void)
{
	uint8_t rnd[18];
	char pw[sizeof(rnd) * 2 + 1];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
	int rc = password_hash(pw, master.dummy_hash, sizeof(master.dummy_hash));
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(rnd, sizeof(rnd));
	return rc;
}

int
master_core_init(const struct mk_config *cfg, struct ev_loop *loop,
    struct directory *dir)
{
	master.cfg = *cfg;
	master.loop = loop;
	master.dir = dir;
	master.root = priv_is_root();
	master.stopping = false;
	if (master.root) {
		/* main() has checked that both accounts exist; were one to
		 * vanish, uid 0 would make priv_drop() refuse, not run as root. */
		if (priv_lookup(cfg->login_user, &master.login_uid,
		    &master.login_gid) == -1)
			master.login_uid = 0;
		if (priv_lookup(cfg->hash_user, &master.hash_uid,
		    &master.hash_gid) == -1)
			master.hash_uid = 0;
	}
	/* Off (and logged) if it cannot be set up: logins still work. */
	(void)authcache_configure(cfg->auth_cache_ttl, cfg->auth_cache_size);
	if (make_dummy_hash() == -1) {
		log_warnx("cannot make the dummy hash");
		return -1;
	}
	children_init();
	if (ev_signal(loop, SIGCHLD, sigchld, NULL) == -1) {
		log_warn("signal handler");
		return -1;
	}
	return 0;
}
