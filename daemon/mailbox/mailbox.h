/*
 * mailbox.h - the per-user mailbox process.
 *
 * One process per user serves every connection of that user with one
 * event loop.  The master forks it, drops it to the user's uid and calls
 * mailbox_main(); from then on it receives sessions (client descriptors
 * with an ipc_session record) over the master channel and serves them
 * from the user's store.
 *
 * The master alone decides its lifetime, so a session can never be sent
 * to a process that is on its way out: the master counts sessions (one
 * per IPC_MBOX_SESSION, minus one per IPC_MBOX_SESSION_END), and when the
 * count has been zero for mailbox_linger seconds it closes the channel.
 * On EOF from the master the process says BYE to any session it still
 * has (only possible if the master died) and exits.
 */
#ifndef MK_MAILBOX_H
#define MK_MAILBOX_H

#include <stdint.h>

#include "common/config.h"

/* master_fd: this process's end of its channel to the master.
 * store_path: the user's store file (created if missing). */
__attribute__((noreturn))
void mailbox_main(const struct mk_config *cfg, int master_fd,
	uint32_t user_id, const char *user, const char *store_path);

#endif
