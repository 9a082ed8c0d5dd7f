/*
 * test_authcache.c - the master's verified-credentials cache
 * (daemon/master/authcache.c) on its own, with an injected clock:
 * an entry is found only for the same user, password, stored hash,
 * admin flag and user id, and only within the TTL; the LRU bound holds;
 * a reload to TTL 0 empties it.  How the login machinery uses it (no
 * hash for a hit, the throttles still apply) is in test_login_sm.c.
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/util.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t fake_now = 1000000;

static uint64_t
fake_clock(void)
{
	return fake_now;
}

static const char HASH_A[] = "$y$j9T$saltsaltsaltsalt$hashhashhashhashhashhashhashhashhashhash";
static const char HASH_B[] = "$y$j9T$othersaltothers$otherhashotherhashotherhashotherhashoth";

int
test_authcache_init(void)
{
	log_init("test_authcache", true, 0);
	authcache_set_clock(fake_clock);
	return 0;
}

int
test_authcache_cleanup(void)
{
	authcache_clear();
	authcache_set_clock(NULL);
	return 0;
}

static void
probe(const char *user, const char *pw, const char *hash,
    struct authcache_probe *p)
{
	authcache_digest(user, (const uint8_t *)pw, strlen(pw), hash, p);
	CU_ASSERT_TRUE_FATAL(p->valid);
}

/* Verified for (user, pw, hash) now. */
static void
put(const char *user, uint32_t uid, const char *pw, const char *hash,
    bool admin)
{
	struct authcache_probe p;

	probe(user, pw, hash, &p);
	authcache_put(&p, uid, admin);
}

static enum authcache_result
check(const char *user, uint32_t uid, const char *pw, const char *hash,
    bool admin)
{
	struct authcache_probe p;

	probe(user, pw, hash, &p);
	return authcache_check(&p, uid, admin);
}

void
test_hit_only_for_the_same_pair(void)
{
	CU_ASSERT_EQUAL_FATAL(authcache_configure(3600, 100), 0);
	authcache_flush();
	put("alice", 1, "right", HASH_A, false);
	CU_ASSERT_EQUAL(authcache_count(), 1);
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_HIT);
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_HIT);
	/* A wrong password never hits, however close. */
	CU_ASSERT_EQUAL(check("alice", 1, "wrong", HASH_A, false),
	    AUTHCACHE_MISS);
	CU_ASSERT_EQUAL(check("alice", 1, "righ", HASH_A, false),
	    AUTHCACHE_MISS);
	CU_ASSERT_EQUAL(check("alice", 1, "", HASH_A, false), AUTHCACHE_MISS);
	/* Another user never hits with alice's password, even one whose
	 * name and password run together the same way. */
	CU_ASSERT_EQUAL(check("bob", 1, "right", HASH_A, false),
	    AUTHCACHE_MISS);
	CU_ASSERT_EQUAL(check("alic", 1, "eright", HASH_A, false),
	    AUTHCACHE_MISS);
	CU_ASSERT_EQUAL(check("alicer", 1, "ight", HASH_A, false),
	    AUTHCACHE_MISS);
	/* Misses leave the entry alone. */
	CU_ASSERT_EQUAL(authcache_count(), 1);
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_HIT);
}

void
test_password_with_nul_is_its_own_pair(void)
{
	struct authcache_probe p, q;
	static const uint8_t pw1[] = { 'a', 0, 'b' }, pw2[] = { 'a' };

	CU_ASSERT_EQUAL_FATAL(authcache_configure(3600, 100), 0);
	authcache_flush();
	authcache_digest("alice", pw1, sizeof(pw1), HASH_A, &p);
	authcache_put(&p, 1, false);
	authcache_digest("alice", pw2, sizeof(pw2), HASH_A, &q);
	CU_ASSERT_EQUAL(authcache_check(&q, 1, false), AUTHCACHE_MISS);
	CU_ASSERT_EQUAL(authcache_check(&p, 1, false), AUTHCACHE_HIT);
}

void
test_ttl_counts_from_verification(void)
{
	CU_ASSERT_EQUAL_FATAL(authcache_configure(60, 100), 0);
	authcache_flush();
	put("alice", 1, "right", HASH_A, false);
	fake_now += 59 * 1000;
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_HIT);
	/* The hit did not extend it. */
	fake_now += 999;
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_HIT);
	fake_now += 1;
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_EXPIRED);
	CU_ASSERT_EQUAL(authcache_count(), 0);
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_MISS);
	/* A new verification starts a new TTL. */
	put("alice", 1, "right", HASH_A, false);
	fake_now += 30 * 1000;
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_HIT);
	/* Lowering the TTL (a reload) applies to entries already kept. */
	CU_ASSERT_EQUAL_FATAL(authcache_configure(10, 100), 0);
	CU_ASSERT_EQUAL(authcache_count(), 1);
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_EXPIRED);
	/* The sweep drops what expired, and only that. */
	put("alice", 1, "right", HASH_A, false);
	fake_now += 5000;
	put("bob", 2, "pw", HASH_B, false);
	fake_now += 6000;
	authcache_sweep();
	CU_ASSERT_EQUAL(authcache_count(), 1);
	CU_ASSERT_EQUAL(check("bob", 2, "pw", HASH_B, false), AUTHCACHE_HIT);
	/* A clock that went backwards does not make entries immortal. */
	fake_now -= 60000;
	CU_ASSERT_EQUAL(check("bob", 2, "pw", HASH_B, false),
	    AUTHCACHE_EXPIRED);
	fake_now += 120000;
}

void
test_stale_after_passwd_admin_or_userdel(void)
{
	CU_ASSERT_EQUAL_FATAL(authcache_configure(3600, 100), 0);
	authcache_flush();
	/* mailkeepctl passwd: the row has another hash (even for the same
	 * password: a new salt).  The entry is dropped at the first look. */
	put("alice", 1, "right", HASH_A, false);
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_B, false),
	    AUTHCACHE_STALE);
	CU_ASSERT_EQUAL(authcache_count(), 0);
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_MISS);
	/* mailkeepctl admin on / off. */
	put("alice", 1, "right", HASH_A, false);
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, true),
	    AUTHCACHE_STALE);
	put("boss", 7, "bosspw", HASH_B, true);
	CU_ASSERT_EQUAL(check("boss", 7, "bosspw", HASH_B, false),
	    AUTHCACHE_STALE);
	CU_ASSERT_EQUAL(check("boss", 7, "bosspw", HASH_B, true),
	    AUTHCACHE_MISS);
	/* userdel, then useradd of the same name: a new id (never reused). */
	put("alice", 1, "right", HASH_A, false);
	CU_ASSERT_EQUAL(check("alice", 2, "right", HASH_A, false),
	    AUTHCACHE_STALE);
	CU_ASSERT_EQUAL(authcache_count(), 0);
	/* One user's change leaves the others' entries alone. */
	put("alice", 1, "right", HASH_A, false);
	put("bob", 2, "pw", HASH_B, false);
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_B, false),
	    AUTHCACHE_STALE);
	CU_ASSERT_EQUAL(check("bob", 2, "pw", HASH_B, false), AUTHCACHE_HIT);
}

void
test_lru_bound(void)
{
	char name[32];

	CU_ASSERT_EQUAL_FATAL(authcache_configure(3600, 8), 0);
	authcache_flush();
	for (unsigned i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "user%u", i);
		put(name, i + 1, "pw", HASH_A, false);
	}
	CU_ASSERT_EQUAL(authcache_count(), 8);
	/* user0 is used again: user1 is now the least recently used. */
	CU_ASSERT_EQUAL(check("user0", 1, "pw", HASH_A, false), AUTHCACHE_HIT);
	put("user8", 9, "pw", HASH_A, false);
	CU_ASSERT_EQUAL(authcache_count(), 8);
	CU_ASSERT_EQUAL(check("user1", 2, "pw", HASH_A, false),
	    AUTHCACHE_MISS);
	CU_ASSERT_EQUAL(check("user0", 1, "pw", HASH_A, false), AUTHCACHE_HIT);
	CU_ASSERT_EQUAL(check("user8", 9, "pw", HASH_A, false), AUTHCACHE_HIT);
	/* Many more: never above the bound, the newest kept. */
	for (unsigned i = 100; i < 1100; i++) {
		snprintf(name, sizeof(name), "user%u", i);
		put(name, i, "pw", HASH_A, false);
		CU_ASSERT(authcache_count() <= 8);
	}
	for (unsigned i = 1092; i < 1100; i++) {
		snprintf(name, sizeof(name), "user%u", i);
		CU_ASSERT_EQUAL(check(name, i, "pw", HASH_A, false),
		    AUTHCACHE_HIT);
	}
	/* Verifying the same pair again replaces its entry. */
	put("user1099", 1099, "pw", HASH_A, false);
	CU_ASSERT_EQUAL(authcache_count(), 8);
	struct authcache_stats st;
	authcache_stats(&st);
	CU_ASSERT_EQUAL(st.capacity, 8);
	CU_ASSERT(st.evicted >= 1000);
}

/* Resident bytes of this process (statm's second field). */
static size_t
rss_bytes(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(fscanf(f, "%lu %lu", &size, &res), 2);
	fclose(f);
	return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* A cache sized for a million entries (some 100 MiB of mapping) costs
 * the pages its entries use, not its size: made, filled with a hundred,
 * flushed and filled again, this process grows by under 2 MiB.  Entries
 * dropped go back to use before new ones are taken. */
void
test_a_big_cache_costs_what_it_holds(void)
{
	char name[32];
	size_t before = rss_bytes();

	CU_ASSERT_EQUAL_FATAL(authcache_configure(3600, 1000000), 0);
	for (unsigned i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "user%u", i);
		put(name, i + 1, "pw", HASH_A, false);
	}
	CU_ASSERT_EQUAL(authcache_count(), 100);
	authcache_flush();
	CU_ASSERT_EQUAL(authcache_count(), 0);
	CU_ASSERT_EQUAL(check("user7", 8, "pw", HASH_A, false),
	    AUTHCACHE_MISS);
	for (unsigned i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "user%u", i);
		put(name, i + 1, "pw", HASH_A, false);
	}
	/* Expired entries are dropped by the sweep; their places are used
	 * again. */
	fake_now += 3600 * 1000;
	authcache_sweep();
	CU_ASSERT_EQUAL(authcache_count(), 0);
	for (unsigned i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "other%u", i);
		put(name, i + 1, "pw", HASH_B, false);
	}
	CU_ASSERT_EQUAL(authcache_count(), 100);
	CU_ASSERT_EQUAL(check("other42", 43, "pw", HASH_B, false),
	    AUTHCACHE_HIT);
	CU_ASSERT_EQUAL(check("user42", 43, "pw", HASH_A, false),
	    AUTHCACHE_MISS);
	size_t after = rss_bytes();
	CU_ASSERT(after < before + 2 * 1024 * 1024);
	if (after >= before + 2 * 1024 * 1024)
		fprintf(stderr, "RSS grew by %zu KiB\n", (after - before) / 1024);
	authcache_clear();
}

void
test_reload_off_and_resize_empty_it(void)
{
	struct authcache_probe p;

	CU_ASSERT_EQUAL_FATAL(authcache_configure(3600, 16), 0);
	authcache_flush();
	put("alice", 1, "right", HASH_A, false);
	probe("alice", "right", HASH_A, &p);
	/* Off: empty, nothing found, nothing stored. */
	CU_ASSERT_EQUAL(authcache_configure(0, 16), 0);
	CU_ASSERT_FALSE(authcache_enabled());
	CU_ASSERT_EQUAL(authcache_count(), 0);
	CU_ASSERT_EQUAL(authcache_check(&p, 1, false), AUTHCACHE_MISS);
	authcache_put(&p, 1, false);
	CU_ASSERT_EQUAL(authcache_count(), 0);
	struct authcache_probe off;
	authcache_digest("alice", (const uint8_t *)"right", 5, HASH_A, &off);
	CU_ASSERT_FALSE(off.valid);
	/* On again: a new key, so a digest made before is no use. */
	CU_ASSERT_EQUAL(authcache_configure(3600, 16), 0);
	authcache_put(&p, 1, false);
	CU_ASSERT_EQUAL(authcache_count(), 0);
	put("alice", 1, "right", HASH_A, false);
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_HIT);
	/* Another size: emptied. */
	CU_ASSERT_EQUAL(authcache_configure(3600, 32), 0);
	CU_ASSERT_EQUAL(authcache_count(), 0);
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_MISS);
	/* The same size and another TTL: kept. */
	put("alice", 1, "right", HASH_A, false);
	CU_ASSERT_EQUAL(authcache_configure(1800, 32), 0);
	CU_ASSERT_EQUAL(check("alice", 1, "right", HASH_A, false),
	    AUTHCACHE_HIT);
}

/* Were the master to fork, the child would not see the cache: its
 * mapping is wiped on fork (the master does not fork: the spawner does). */
void
test_child_sees_no_cache(void)
{
	CU_ASSERT_EQUAL_FATAL(authcache_configure(3600, 16), 0);
	authcache_flush();
	put("alice", 1, "right", HASH_A, false);
	CU_ASSERT_EQUAL(authcache_count(), 1);
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		/* count lives in the mapping: zero here */
		_exit(authcache_count() == 0 ? 0 : 1);
	}
	int status;
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(authcache_count(), 1);
	authcache_clear();
	CU_ASSERT_EQUAL(authcache_count(), 0);
}
