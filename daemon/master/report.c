/*
 * report.c - the text of `mailkeepctl who` and `stats`, and the
 * Prometheus exposition of the same counters, from the master's records
 * and a finished state poll (stats.c).  Called by control.c.
 *
 * Formats (doc/mailkeepctl.md): who and stats are lines for people,
 * with a header line; the metrics follow the Prometheus text format
 * 0.0.4 (HELP and TYPE before each family, label values escaped).
 */
#include "daemon/master/master.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *
method_name(uint8_t method)
{
	switch (method) {
	case IPC_IMP_NONE:      return "login";
	case IPC_IMP_PROXYAUTH: return "proxyauth";
	case IPC_IMP_AUTHZID:   return "authzid";
	case IPC_IMP_SEPARATOR: return "separator";
	default:                return "other";
	}
}

struct who_ctx {
	struct buf              *out;
	const struct state_poll *poll;
};

static void
who_line(const struct session_info *si, void *arg)
{
	struct who_ctx *w = arg;
	const struct sess_report *s = state_find_session(w->poll, si->id);
	char since[32], idle[16];
	struct tm tm;

	localtime_r(&si->started, &tm);
	strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S", &tm);
	if (s != NULL)
		snprintf(idle, sizeof(idle), "%us", s->idle);
	else
		mk_strlcpy(idle, "?", sizeof(idle));
	/* The mailbox goes last: its name may hold spaces. */
	buf_printf(w->out, "%016llx  %-16s %-16s %-10s %-3s %-15s %-7s %s  %s\n",
	    (unsigned long long)si->id, si->user, si->authcid,
	    method_name(si->method), si->tls ? "yes" : "no", si->addr, idle,
	    since, s == NULL ? "?" : s->mailbox[0] ? s->mailbox : "-");
}

void
report_who(struct buf *out, const struct state_poll *p)
{
	struct who_ctx w = { out, p };

	buf_printf(out, "%-16s  %-16s %-16s %-10s %-3s %-15s %-7s %-19s  %s\n",
	    "SESSION", "USER", "AUTHENTICATED", "METHOD", "TLS", "CLIENT",
	    "IDLE", "SINCE", "MAILBOX");
	sessions_foreach(who_line, &w);
}

void
report_stats(struct buf *out, const struct state_poll *p)
{
	struct master_counters c;
	struct hashpool_stats h;

	stats_counters(&c);
	hashpool_stats(&h);
	buf_printf(out, "connections: %u open, %llu accepted, %u in the last "
	    "minute\n", master.nconn, (unsigned long long)c.connections,
	    c.conns_minute);
	buf_printf(out, "logins: %llu ok, %llu failed; in the last minute: %u "
	    "ok, %u failed\n", (unsigned long long)c.logins_ok,
	    (unsigned long long)c.logins_failed, c.ok_minute, c.failed_minute);
	buf_printf(out, "hash workers: %u alive, %u busy, %zu queued "
	    "(about %llu ms each)\n", h.alive, h.busy, h.queued,
	    (unsigned long long)h.avg_ms);
	buf_printf(out, "mailbox processes: %zu, sessions: %zu\n",
	    mboxes_count(), sessions_count());
	buf_printf(out, "%-24s %-8s %-8s %s\n", "USER", "PID", "SESSIONS",
	    "STORE BYTES");
	for (size_t i = 0; i < p->n; i++) {
		const struct mbox_state *s = &p->st[i];
		char bytes[24];
		if (s->answered)
			snprintf(bytes, sizeof(bytes), "%llu",
			    (unsigned long long)s->store_bytes);
		else
			mk_strlcpy(bytes, "? (no answer)", sizeof(bytes));
		buf_printf(out, "%-24s %-8ld %-8u %s\n", s->user, (long)s->pid,
		    s->nsess, bytes);
	}
}

/* ---- Prometheus ---- */

static void
family(struct buf *out, const char *name, const char *type,
    const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

static void
sample(struct buf *out, const char *name, unsigned long long v)
{
	buf_printf(out, "%s %llu\n", name, v);
}

/* A label value: backslash, double quote and newline escaped. */
static void
label(struct buf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_addc(out, '\\');
		if (*v == '\n')
			buf_adds(out, "\\n");
		else
			buf_addc(out, *v);
	}
}

static void
per_user(struct buf *out, const struct state_poll *p, bool bytes)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct mbox_state *s = &p->st[i];
		if (bytes && !s->answered)
			continue;
		buf_adds(out, bytes ? "mailkeep_user_store_bytes{user=\"" :
		    "mailkeep_user_sessions{user=\"");
		label(out, s->user);
		buf_printf(out, "\"} %llu\n", bytes ?
		    (unsigned long long)s->store_bytes :
		    (unsigned long long)s->nsess);
	}
}

static void
metrics_logins(struct buf *out, const struct master_counters *c)
{
	family(out, "mailkeep_connections_accepted_total", "counter",
	    "Client connections accepted.");
	sample(out, "mailkeep_connections_accepted_total", c->connections);
	family(out, "mailkeep_connections", "gauge",
	    "Client connections open, before and after login.");
	sample(out, "mailkeep_connections", master.nconn);
	family(out, "mailkeep_logins_total", "counter",
	    "Login verdicts, by result (failed: refused for any reason).");
	buf_printf(out, "mailkeep_logins_total{result=\"ok\"} %llu\n"
	    "mailkeep_logins_total{result=\"failed\"} %llu\n",
	    (unsigned long long)c->logins_ok,
	    (unsigned long long)c->logins_failed);
}

static void
metrics_auth(struct buf *out)
{
	struct hashpool_stats h;
	struct authcache_stats a;

	hashpool_stats(&h);
	authcache_stats(&a);
	family(out, "mailkeep_hash_queue_length", "gauge",
	    "Password checks waiting for a hash worker.");
	sample(out, "mailkeep_hash_queue_length", h.queued);
	family(out, "mailkeep_hash_workers", "gauge",
	    "Hash workers, by state.");
	buf_printf(out, "mailkeep_hash_workers{state=\"alive\"} %u\n"
	    "mailkeep_hash_workers{state=\"busy\"} %u\n", h.alive, h.busy);
	family(out, "mailkeep_auth_cache_hits_total", "counter",
	    "Logins decided by the credentials cache without a hash.");
	sample(out, "mailkeep_auth_cache_hits_total", a.hits);
	family(out, "mailkeep_auth_cache_entries", "gauge",
	    "Entries in the credentials cache.");
	sample(out, "mailkeep_auth_cache_entries", a.entries);
}

void
report_metrics(struct buf *out, const struct state_poll *p)
{
	struct master_counters c;

	stats_counters(&c);
	metrics_logins(out, &c);
	metrics_auth(out);
	family(out, "mailkeep_mailbox_processes", "gauge",
	    "Per-user mailbox processes running.");
	sample(out, "mailkeep_mailbox_processes", mboxes_count());
	family(out, "mailkeep_sessions", "gauge",
	    "Sessions served by mailbox processes (deliveries and shared-"
	    "folder channels included).");
	sample(out, "mailkeep_sessions", sessions_count());
	family(out, "mailkeep_user_sessions", "gauge",
	    "Sessions of each running mailbox process.");
	per_user(out, p, false);
	family(out, "mailkeep_user_store_bytes", "gauge",
	    "Bytes of the store (database and WAL) of each running mailbox "
	    "process that answered.");
	per_user(out, p, true);
}
