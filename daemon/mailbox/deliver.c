/*
 * deliver.c - LMTP delivery channels: the mailbox-process end of a
 * recipient accepted by an LMTP session process (doc/lmtp.md).
 *
 * The master opens the channel (a SEQPACKET socketpair) when the LMTP
 * process's RCPT TO names this process's user, and gives this end to us
 * as a session with method IPC_IMP_DELIVERY.  On it the LMTP process may
 * send IPC_LMTP_DELIVER: the envelope sender and the recipient address
 * as given, and a sealed memfd holding the message.  We check the memfd
 * (a sealed regular file, so reading it cannot block and its bytes
 * cannot change under us), prepend Return-Path: and Delivered-To:, and
 * store it into INBOX in one transaction with the quota check: the MIME
 * parse of store_msg_append() happens here, as the user's own uid.  The
 * answer (IPC_LMTP_DELIVER_RESULT) goes out after COMMIT; the sessions
 * viewing INBOX are told at once (an IDLE gets EXISTS).
 *
 * The LMTP process is less trusted than we are: anything malformed
 * closes the channel, which ends the session, and nothing else.
 */
#include "daemon/mailbox/mbox_int.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Room for our Received: and the header lines we add, above max_message. */
#define HEADER_ROOM 4096
#define SEALS_NEEDED (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)

struct delivery {
	struct user     *u;
	uint64_t         session;
	struct ipc_chan *chan;
	bool             ended;
};

static void
delivery_end(struct delivery *d, const char *why)
{
	struct ipc_msg m;

	if (d->ended)
		return;
	d->ended = true;
	if (why != NULL)
		log_warnx("delivery channel %016llx: %s",
		    (unsigned long long)d->session, why);
	ev_defer(d->u->loop, ipc_chan_free_cb, d->chan);
	ev_defer(d->u->loop, free, d);
	ipc_msg_init(&m, IPC_MBOX_SESSION_END);
	ipc_put_u64(&m, d->session);
	ipc_chan_send(d->u->master, &m);
}

/* An address fit for a header line: printable ASCII (or UTF-8), no
 * CR/LF, bounded. */
static bool
header_safe(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return n <= 512;
}

/* Would bytes more exceed the quota?  0 no, 1 yes (may fit after some
 * mail is deleted), 2 never (larger than the whole storage limit), -1
 * error.  Inside the transaction that adds the message. */
static int
over_quota(struct user *u, uint64_t bytes)
{
	struct quota_usage q;

	if (u->quota_storage == 0 && u->quota_messages == 0)
		return 0;
	if (u->quota_storage != 0 && (bytes + 1023) / 1024 > u->quota_storage)
		return 2;
	if (store_quota_usage(u->store, &q) != 0)
		return -1;
	/* In KiB, rounded up, as GETQUOTA and APPEND count it. */
	if (u->quota_storage != 0 &&
	    (q.storage + bytes + 1023) / 1024 > u->quota_storage)
		return 1;
	if (u->quota_messages != 0 && q.messages + 1 > u->quota_messages)
		return 1;
	return 0;
}

/* The message: our header lines, then the memfd's bytes.  NULL with
 * *res set if the memfd is not what the protocol promises. */
static char *
load_message(struct user *u, int fd, const char *from, const char *rcpt,
    size_t *len, enum ipc_dlv_result *res)
{
	struct stat st;
	char hdr[1200];
	int seals = fcntl(fd, F_GET_SEALS);
	int hl;

	*res = IPC_DLV_REJECTED;
	if (seals == -1 || (seals & SEALS_NEEDED) != SEALS_NEEDED ||
	    fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_warnx("delivery: the message is not a sealed memfd");
		return NULL;
	}
	if (st.st_size <= 0 ||
	    (uint64_t)st.st_size > u->cfg->max_message + HEADER_ROOM) {
		log_warnx("delivery: message of %lld bytes refused",
		    (long long)st.st_size);
		return NULL;
	}
	hl = snprintf(hdr, sizeof(hdr), "Return-Path: <%s>\r\n"
	    "Delivered-To: %s\r\n", from, rcpt);
	if (hl < 0 || (size_t)hl >= sizeof(hdr))
		return NULL;
	size_t n = (size_t)st.st_size;
	char *p = xmalloc((size_t)hl + n);
	memcpy(p, hdr, (size_t)hl);
	for (size_t done = 0; done < n;) {
		ssize_t r = pread(fd, p + hl + done, n - done, (off_t)done);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_warn("delivery: reading the message");
			free(p);
			*res = IPC_DLV_TEMPFAIL;
			return NULL;
		}
		done += (size_t)r;
	}
	*len = (size_t)hl + n;
	return p;
}

static enum ipc_dlv_result
store_it(struct user *u, const char *msg, size_t len, uint32_t *uid)
{
	struct msg_new nm = { .data = msg, .len = len, .keywords = "" };
	struct msg_src src = { .data = msg, .len = len, .file = false };
	struct msg_prep *prep;
	uint64_t stored;
	time_t now = time(NULL);
	struct mbox m;
	struct tm tm;
	int rc, q;

	/* The quota counts the stored form (NUL parts base64, RFC 3516),
	 * which may be larger than what the LMTP process passed. */
	if (store_msg_prepare(&src, NULL, &prep) != 0) {
		log_warn("delivery to %s: preparing the message", u->name);
		return IPC_DLV_TEMPFAIL;
	}
	stored = store_msg_prep_size(prep);
	localtime_r(&now, &tm);
	nm.internaldate.t = now;
	nm.internaldate.tz = (int)(tm.tm_gmtoff / 60);
	/* Changes by other writers must be seen before ours is added. */
	if (store_changed_externally(u->store))
		mstates_refresh(u);
	if ((rc = store_mbox_find(u->store, "INBOX", &m)) != 0 ||
	    (rc = store_begin(u->store)) != 0) {
		log_warnx("delivery to %s: %s", u->name, store_errmsg(u->store));
		store_msg_prep_free(prep);
		return IPC_DLV_TEMPFAIL;
	}
	if ((q = over_quota(u, stored)) != 0) {
		store_rollback(u->store);
		store_msg_prep_free(prep);
		if (q < 0)
			return IPC_DLV_TEMPFAIL;
		log_info("delivery to %s refused: over quota (%llu bytes%s)",
		    u->name, (unsigned long long)stored,
		    q == 2 ? ", more than the whole limit" : "");
		return q == 2 ? IPC_DLV_TOOBIG : IPC_DLV_OVERQUOTA;
	}
	rc = store_msg_append_prep(u->store, &m, &nm, prep, uid);
	store_msg_prep_free(prep);
	if (rc == 0)
		rc = store_commit(u->store);
	if (rc != 0) {
		log_warnx("delivery to %s: %s", u->name, store_errmsg(u->store));
		store_rollback(u->store);
		return IPC_DLV_TEMPFAIL;
	}
	mbox_changed(u, m.id);
	fts_idle_kick(u);
	user_rest_soon(u);
	return IPC_DLV_OK;
}

static void
on_deliver(struct delivery *d, struct ipc_reader *r)
{
	struct user *u = d->u;
	const char *from = ipc_get_str(r);
	const char *rcpt = ipc_get_str(r);
	enum ipc_dlv_result res;
	struct ipc_msg m;
	uint32_t uid = 0;
	size_t len = 0;
	char *msg;
	int fd;

	if (!ipc_end(r) || r->fd == -1 || !header_safe(from) ||
	    !header_safe(rcpt)) {
		delivery_end(d, "malformed LMTP_DELIVER");
		return;
	}
	fd = ipc_take_fd(r);
	msg = load_message(u, fd, from, rcpt, &len, &res);
	close(fd);
	if (msg != NULL) {
		res = u->store == NULL ? IPC_DLV_TEMPFAIL :
		    store_it(u, msg, len, &uid);
		free(msg);
	}
	if (res == IPC_DLV_OK)
		log_info("delivered to %s/INBOX uid %u: %zu bytes from <%s> "
		    "for <%s>", u->name, uid, len, from, rcpt);
	ipc_msg_init(&m, IPC_LMTP_DELIVER_RESULT);
	ipc_put_u8(&m, (uint8_t)res);
	ipc_put_str(&m, res == IPC_DLV_OK ? "delivered" : "not delivered");
	ipc_chan_send(d->chan, &m);
}

static void
on_channel(struct ipc_chan *c, struct ipc_reader *r, void *arg)
{
	struct delivery *d = arg;

	(void)c;
	if (d->ended)
		return;
	if (r == NULL) {
		delivery_end(d, NULL);
		return;
	}
	if (r->bad || r->type != IPC_LMTP_DELIVER) {
		delivery_end(d, "unexpected message on a delivery channel");
		return;
	}
	on_deliver(d, r);
}

void
delivery_new(struct user *u, int fd, const struct ipc_session *s)
{
	struct delivery *d = xcalloc(1, sizeof(*d));

	d->u = u;
	d->session = s->id;
	set_cloexec(fd);
	d->chan = ipc_chan_new(u->loop, fd, on_channel, d);
	log_debug("delivery channel %016llx for %s", (unsigned long long)s->id,
	    u->name);
}
