/*
 * test_ipc_fdlost.c - a descriptor that can't be received (the receiver
 * is at its RLIMIT_NOFILE: the kernel sets MSG_CTRUNC) makes a message
 * with fd_lost, not a malformed one: its fields read back whole, so the
 * receiver can refuse what the descriptor was for and keep its channel
 * (issue 9, item 5).
 */
#include "common/ipc.h"

#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static uint8_t buf[IPC_MAX_MSG];

static void
send_with_devnull(int sock)
{
	struct ipc_msg m;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	CU_ASSERT_FATAL(fd != -1);
	ipc_msg_init(&m, IPC_MBOX_GUEST_RESULT);
	ipc_put_u64(&m, 42);
	ipc_put_u8(&m, IPC_REQ_OK);
	ipc_put_fd(&m, fd);
	CU_ASSERT_FATAL(ipc_send_now(sock, &m) == 0);
}

static void
check_fields(struct ipc_reader *r)
{
	CU_ASSERT_EQUAL(r->type, IPC_MBOX_GUEST_RESULT);
	CU_ASSERT_EQUAL(ipc_get_u64(r), 42);
	CU_ASSERT_EQUAL(ipc_get_u8(r), IPC_REQ_OK);
	CU_ASSERT_TRUE(ipc_end(r));
}

void
test_ipc_fd_received(void)
{
	struct ipc_reader r;
	int sp[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sp) == 0);
	send_with_devnull(sp[0]);
	CU_ASSERT_FATAL(ipc_recv_now(sp[1], buf, &r) == 0);
	CU_ASSERT_FALSE(r.bad);
	CU_ASSERT_FALSE(r.fd_lost);
	CU_ASSERT_TRUE(r.fd != -1);
	check_fields(&r);
	close(ipc_take_fd(&r));
	close(sp[0]);
	close(sp[1]);
}

void
test_ipc_fd_lost_at_emfile(void)
{
	struct ipc_reader r;
	struct rlimit was, low;
	int sp[2], probe, rc;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sp) == 0);
	send_with_devnull(sp[0]);
	/* Every number below the lowest free one is taken: with the limit
	 * there, no descriptor can be made, as in a process at EMFILE. */
	CU_ASSERT_FATAL((probe = dup(0)) != -1);
	close(probe);
	CU_ASSERT_FATAL(getrlimit(RLIMIT_NOFILE, &was) == 0);
	low = was;
	low.rlim_cur = (rlim_t)probe;
	CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &low) == 0);
	rc = ipc_recv_now(sp[1], buf, &r);
	CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &was) == 0);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_FALSE(r.bad);
	CU_ASSERT_TRUE(r.fd_lost);
	CU_ASSERT_EQUAL(r.fd, -1);
	check_fields(&r);
	/* The channel is still good: the next message arrives whole. */
	send_with_devnull(sp[0]);
	CU_ASSERT_FATAL(ipc_recv_now(sp[1], buf, &r) == 0);
	CU_ASSERT_FALSE(r.bad || r.fd_lost);
	CU_ASSERT_TRUE(r.fd != -1);
	check_fields(&r);
	close(ipc_take_fd(&r));
	close(sp[0]);
	close(sp[1]);
}
