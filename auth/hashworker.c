/*
 * hashworker.c - the hash worker: IPC_HASH_CHECK in, IPC_HASH_RESULT out.
 *
 * Forked by the spawner for the master (daemon/master/hashpool.c),
 * chrooted into an empty directory as hash_user when running as root.
 * It is synchronous: one blocking receive, one crypt_rn(), one send.
 * The master is the only peer and is more privileged, so a malformed
 * request is a broken invariant and ends the worker.
 */
#include "auth/hashworker.h"
#include "auth/password.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/sandbox.h"
#include "common/util.h"

#include <string.h>
#include <unistd.h>

/* Descriptors: its channel, the log, and a few for libc's own use. */
#define HASH_NOFILE 8

static void
answer(int fd, uint64_t id, bool match)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_HASH_RESULT);
	ipc_put_u64(&m, id);
	ipc_put_u8(&m, match ? 1 : 0);
	if (ipc_send_now(fd, &m) == -1)
		fatal("send to master");
}

/* Verifies one request; the message buffer is wiped by the caller. */
static void
handle(int fd, struct ipc_reader *r)
{
	uint64_t id;
	const char *hash;
	const uint8_t *secret;
	size_t nsecret;

	if (r->bad || r->type != IPC_HASH_CHECK)
		fatalx("unexpected message %s from master", ipc_type_name(r->type));
	id = ipc_get_u64(r);
	hash = ipc_get_str(r);
	secret = ipc_get_bytes(r, &nsecret);
	if (!ipc_end(r))
		fatalx("malformed HASH_CHECK from master");
	answer(fd, id, password_verify(secret, nsecret, hash));
}

void
hashworker_main(int master_fd)
{
	uint8_t *buf = xmalloc(IPC_MAX_MSG);

	/* The channel and the log are all it has: keep it so. */
	sandbox_apply(SANDBOX_HASH, HASH_NOFILE);
	log_debug("ready");
	for (;;) {
		struct ipc_reader r;

		if (ipc_recv_now(master_fd, buf, &r) == -1) {
			/* EOF: the master is gone or retired us. */
			freezero(buf, IPC_MAX_MSG);
			_exit(0);
		}
		if (r.fd != -1)
			fatalx("descriptor on a HASH_CHECK");
		handle(master_fd, &r);
		explicit_bzero(buf, r.len);
	}
}
