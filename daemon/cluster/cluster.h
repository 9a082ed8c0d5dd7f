/*
 * cluster.h - the processes of the link between backends (doc/move.md),
 * forked by the spawner:
 *
 *   linkd.c    the link process: one connection accepted on
 *              cluster_listen, or dialed to another backend for shared
 *              folders, TLS (key operations asked of the cluster key
 *              holder), the link protocol (link.h); uid login_user,
 *              chrooted, sandboxed.  It receives a moved user's store
 *              into a sealed memfd and hands it to the master, passes
 *              share index entries on, and relays guest streams.
 *   restore.c  the restore worker: as the moved user's uid, in
 *              users/<name>, turns that memfd into the user's store
 *              (the restore code of mailkeepctl restore, store/).
 */
#ifndef MK_CLUSTER_H
#define MK_CLUSTER_H

#include "common/config.h"

/* Link processes (connections from other backends) at once; also the
 * cluster key holder's channel limit. */
#define CLUSTER_MAX_LINKS 16
/* How long a link may stay silent (seconds) before it is dropped. */
#define CLUSTER_IDLE_S    60

__attribute__((noreturn))
void linkd_main(const struct mk_config *cfg, int client, int master_fd,
	int kh_fd);

__attribute__((noreturn))
void restore_main(const struct mk_config *cfg, int master_fd, int copy_fd,
	const char *user);

#endif
