/*
 * cluster_int.h - what the master's two files of the link between
 * backends share: cluster.c (the listener, the key holder, moves) and
 * cluster_share.c (shared folders across backends).
 */
#ifndef MK_CLUSTER_INT_H
#define MK_CLUSTER_INT_H

#include "daemon/master/master.h"
#include "daemon/cluster/link.h"

/* Guest streams at once between this backend and one peer, in each
 * direction (dialed out, served). */
#define CLUSTER_PEER_STREAMS 64

struct share_item;

/* One link process: accepted on cluster_listen, or dialed out. */
struct link_child {
	pid_t              pid;
	struct ipc_chan   *chan;		/* NULL once closed */
	/* A move in progress: the restore worker, and the row to write. */
	pid_t              rpid;
	struct ipc_chan   *rchan;
	char               user[MK_USER_MAX];
	uint32_t           uid;		/* its directory id */
	unsigned           shares;	/* index entries made for it */
	/* Shared folders (cluster_share.c) */
	bool               dial;	/* dialed out (IPC_LINK_DIAL) */
	bool               stream;	/* carries a guest stream */
	bool               answered;	/* a dial's result came */
	char               peer[MK_USER_MAX];
	char               grantee[MK_USER_MAX];
	uint32_t           mb_uid;	/* dial: the grantee's process */
	uint64_t           req;		/* dial: its GUEST_OPEN request */
	int                sp;		/* dial: the stream's end for it */
	struct share_item *batch;	/* dial: entries being pushed */
	struct link_child *next;
};

/* cluster.c */
extern struct link_child *cluster_links;
/* A link process dialing backend b (TCP connect under way), with its
 * channel; NULL if it cannot be had now (logged). */
struct link_child *cluster_dial(const struct cfg_backend *b);
/* Starts an IPC_LINK_DIAL message with the credentials and names. */
void cluster_dial_msg(struct ipc_msg *m, const char *peer, uint8_t job);
void cluster_link_violation(struct link_child *lk, const char *why);
void cluster_link_answer(struct link_child *lk, uint32_t type,
	enum link_code code, const char *text, int fd);

/* cluster_share.c */
void xshare_guest(struct link_child *lk, struct ipc_reader *r);
void xshare_share(struct link_child *lk, struct ipc_reader *r);
void xshare_dial_result(struct link_child *lk, struct ipc_reader *r);
void xshare_exited(struct link_child *lk);

#endif
