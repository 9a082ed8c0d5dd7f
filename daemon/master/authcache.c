/*
 * authcache.c - the verified-credentials cache: a login whose (user,
 * password) pair was verified by a hash worker recently is decided
 * again without a hash.
 *
 * The password hash is what bounds logins per second (yescrypt: ~90 ms
 * of CPU each), and a mail client that keeps several connections and
 * reopens them pays it on every connection.  So after a successful
 * verification the master keeps
 *     cred = HMAC-SHA256(key, canonical user + NUL + password)
 * where key is 32 random bytes drawn when the cache is set up
 * (gnutls_rnd: at each start of the master, and again when a reload
 * resizes or re-enables it, which empties it anyway), together with the user's
 * id, the admin flag and hdig = HMAC-SHA256(key, NUL + stored hash
 * string) as they were when the password was verified.  No password and
 * no hash is kept; without the key (which never leaves this memory) an
 * entry does not even tell which user it belongs to.
 *
 * A later login is decided by the cache only if an entry with the same
 * cred exists, it was verified less than auth_cache_ttl seconds ago
 * (counted from the verification, not from the last use), and the
 * directory row read for this login still has the same id, hash and
 * admin flag.  The master reads that row for every login anyway, so
 * `mailkeepctl passwd`, `userdel` (and a new user of the same name: a
 * new id and salt) and `admin` take effect at the very next login with
 * no signal to the daemon; an entry found stale is dropped.  Only
 * successes are put in (authz.c); a wrong password never matches an
 * entry (a different cred), nor does another user's name.
 *
 * The cache lives in one anonymous mapping of the master, sized from
 * auth_cache_size: entries, hash buckets and the key.  It is marked
 * MADV_WIPEONFORK (were the master ever to fork, the child would see
 * zeros - it does not: children come from the spawner, forked before
 * the master read any secret) and MADV_DONTDUMP (not in a core file),
 * locked in memory when the system allows it (not written to swap), and
 * wiped (explicit_bzero) when it is emptied, resized or freed.
 *
 * Only what is used is touched: index 0 is "none", so the mapping's
 * zero pages are already an empty cache, entries are taken from the
 * never-used ones (fresh) before any is dropped, and the lock is taken
 * page by page as they are first written (MLOCK_ONFAULT).  A cache of
 * 10,000 entries used by a hundred users costs a few pages, not the
 * 1 MiB it would if it were laid out and locked at start-up
 * (doc/benchmarks.md, "Peak memory beside Dovecot").
 *
 * Bounded: at most auth_cache_size entries; a full cache drops the least
 * recently used.  Lookups are by the first bytes of cred (uniformly
 * random: the key is secret), and the whole digest is then compared in
 * constant time.
 */
#include "daemon/master/master.h"
#include "common/log.h"
#include "common/util.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NONE 0	/* entries are numbered from 1 */

struct ac_entry {
	uint8_t  cred[AUTHCACHE_DIGEST];
	uint8_t  hdig[AUTHCACHE_DIGEST];
	uint64_t verified;	/* clock ms of the verification */
	uint32_t uid;
	uint32_t hnext;		/* bucket chain, or the free list */
	uint32_t prev, next;	/* LRU list: head is the most recent */
	bool     used;
	bool     admin;
};

struct ac_arena {
	uint8_t  key[AUTHCACHE_DIGEST];
	uint32_t cap, nbuckets;	/* nbuckets: a power of two */
	uint32_t count, free, head, tail;
	uint32_t fresh;		/* entries[fresh..cap] were never used */
	/* then: struct ac_entry entries[1 + cap]; uint32_t buckets[nbuckets] */
};

/* Where the entries start in the mapping: after the header, aligned for
 * them. */
#define ENTRIES_AT ((sizeof(struct ac_arena) + _Alignof(struct ac_entry) - 1) \
	& ~(_Alignof(struct ac_entry) - 1))

static struct {
	struct ac_arena *a;
	size_t           maplen;
	struct ac_entry *e;
	uint32_t        *b;
	unsigned         ttl_s;
	uint32_t         gen;	/* of the key: probes made under another are void */
	uint64_t       (*clock)(void);
	struct authcache_stats st;
} C;

static uint64_t
clock_ms(void)
{
	return C.clock != NULL ? C.clock() : now_ms();
}

void
authcache_set_clock(uint64_t (*fn)(void))
{
	C.clock = fn;
}

static uint32_t
bucket_of(const uint8_t *cred)
{
	uint32_t h;

	memcpy(&h, cred, sizeof(h));
	return h & (C.a->nbuckets - 1);
}

static void
unmap(void)
{
	if (C.a == NULL)
		return;
	explicit_bzero(C.a, C.maplen);
	munlock(C.a, C.maplen);
	munmap(C.a, C.maplen);
	C.a = NULL;
	C.e = NULL;
	C.b = NULL;
	C.maplen = 0;
}

/* Back to all zeros, the empty cache, writing only the pages in use. */
static void
reset_lists(void)
{
	struct ac_arena *a = C.a;

	for (uint32_t i = 1; i < a->fresh; i++) {
		C.b[bucket_of(C.e[i].cred)] = NONE;
		explicit_bzero(&C.e[i], sizeof(C.e[i]));
	}
	a->count = 0;
	a->head = a->tail = a->free = NONE;
	a->fresh = 1;
}

static int
map(unsigned cap)
{
	uint32_t nb = 1;

	while (nb < cap && nb < (1u << 30))
		nb <<= 1;
	size_t len = ENTRIES_AT + (1 + (size_t)cap) * sizeof(struct ac_entry) +
	    (size_t)nb * sizeof(uint32_t);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_warn("credentials cache: mmap of %zu bytes", len);
		return -1;
	}
	/* The master never forks (the spawner does); should that change,
	 * a child still gets zeros here, not the key and the digests. */
	if (madvise(p, len, MADV_WIPEONFORK) == -1) {
		log_warn("credentials cache: MADV_WIPEONFORK");
		munmap(p, len);
		return -1;
	}
	(void)madvise(p, len, MADV_DONTDUMP);
	/* Kept out of swap where allowed. */
	(void)mlock2(p, len, MLOCK_ONFAULT);
	C.a = p;
	C.maplen = len;
	C.a->cap = cap;
	C.a->nbuckets = nb;
	C.e = (struct ac_entry *)(void *)((char *)p + ENTRIES_AT);
	C.b = (uint32_t *)(void *)(C.e + 1 + cap);
	/* The key is drawn straight into the mapping: it exists nowhere
	 * else. */
	if (gnutls_rnd(GNUTLS_RND_KEY, C.a->key, sizeof(C.a->key)) != 0) {
		log_warnx("credentials cache: no random key");
		unmap();
		return -1;
	}
	C.gen++;
	reset_lists();
	return 0;
}

int
authcache_configure(unsigned ttl_s, unsigned size)
{
	if (ttl_s == 0 || size == 0) {
		if (C.a != NULL)
			log_info("credentials cache off (%u entries dropped)",
			    C.a->count);
		unmap();
		C.ttl_s = 0;
		return 0;
	}
	if (C.a != NULL && C.a->cap != size) {
		log_info("credentials cache resized to %u entries (%u "
		    "entries dropped)", size, C.a->count);
		unmap();
	}
	if (C.a == NULL && map(size) == -1) {
		C.ttl_s = 0;
		return -1;
	}
	C.ttl_s = ttl_s;
	return 0;
}

bool
authcache_enabled(void)
{
	return C.a != NULL && C.ttl_s != 0;
}

/* HMAC-SHA256(key, a + b), with a copy of the input wiped after use. */
static void
hmac2(const void *x, size_t nx, const void *y, size_t ny, uint8_t *out)
{
	size_t n = nx + ny;
	uint8_t *buf = xmalloc(n ? n : 1);

	memcpy(buf, x, nx);
	if (ny)
		memcpy(buf + nx, y, ny);
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, C.a->key, sizeof(C.a->key),
	    buf, n, out) != 0)
		/* Not a digest anything was stored under. */
		gnutls_rnd(GNUTLS_RND_NONCE, out, AUTHCACHE_DIGEST);
	freezero(buf, n ? n : 1);
}

void
authcache_digest(const char *user, const uint8_t *pw, size_t npw,
    const char *hash, struct authcache_probe *p)
{
	uint8_t *buf;
	size_t nu = strlen(user) + 1;	/* the NUL separates */

	memset(p, 0, sizeof(*p));
	if (C.a == NULL)
		return;
	/* user + NUL + password */
	buf = xmalloc(nu);
	memcpy(buf, user, nu);
	hmac2(buf, nu, pw, npw, p->cred);
	freezero(buf, nu);
	/* NUL + stored hash: no user name starts with NUL, so the two
	 * kinds of digest never collide by construction. */
	hmac2("", 1, hash, strlen(hash), p->hdig);
	p->valid = true;
	p->gen = C.gen;
}

static void
lru_unlink(uint32_t i)
{
	struct ac_entry *e = &C.e[i];

	if (e->prev != NONE)
		C.e[e->prev].next = e->next;
	else
		C.a->head = e->next;
	if (e->next != NONE)
		C.e[e->next].prev = e->prev;
	else
		C.a->tail = e->prev;
	e->prev = e->next = NONE;
}

static void
lru_push(uint32_t i)
{
	struct ac_entry *e = &C.e[i];

	e->prev = NONE;
	e->next = C.a->head;
	if (C.a->head != NONE)
		C.e[C.a->head].prev = i;
	C.a->head = i;
	if (C.a->tail == NONE)
		C.a->tail = i;
}

static void
drop(uint32_t i)
{
	struct ac_entry *e = &C.e[i];
	uint32_t *pp = &C.b[bucket_of(e->cred)];

	while (*pp != i)
		pp = &C.e[*pp].hnext;
	*pp = e->hnext;
	lru_unlink(i);
	explicit_bzero(e, sizeof(*e));
	e->prev = e->next = NONE;
	e->hnext = C.a->free;
	C.a->free = i;
	C.a->count--;
}

static uint32_t
find(const uint8_t *cred)
{
	uint32_t found = NONE;

	/* Every entry of the bucket is compared, found or not. */
	for (uint32_t i = C.b[bucket_of(cred)]; i != NONE; i = C.e[i].hnext)
		if (password_ct_equal(C.e[i].cred, cred, AUTHCACHE_DIGEST))
			found = i;
	return found;
}

static bool
expired(const struct ac_entry *e, uint64_t now)
{
	return now < e->verified ||
	    now - e->verified >= (uint64_t)C.ttl_s * 1000;
}

enum authcache_result
authcache_check(const struct authcache_probe *p, uint32_t uid, bool admin)
{
	if (!authcache_enabled() || !p->valid || p->gen != C.gen) {
		C.st.misses++;
		return AUTHCACHE_MISS;
	}
	uint32_t i = find(p->cred);
	if (i == NONE) {
		C.st.misses++;
		return AUTHCACHE_MISS;
	}
	struct ac_entry *e = &C.e[i];
	if (expired(e, clock_ms())) {
		drop(i);
		C.st.expired++;
		return AUTHCACHE_EXPIRED;
	}
	/* The same name and password, but not the same account any more:
	 * the password, the admin flag or the user itself changed. */
	if (e->uid != uid || e->admin != admin ||
	    !password_ct_equal(e->hdig, p->hdig, AUTHCACHE_DIGEST)) {
		drop(i);
		C.st.stale++;
		return AUTHCACHE_STALE;
	}
	lru_unlink(i);
	lru_push(i);
	C.st.hits++;
	return AUTHCACHE_HIT;
}

void
authcache_put(const struct authcache_probe *p, uint32_t uid, bool admin)
{
	uint32_t i;

	if (!authcache_enabled() || !p->valid || p->gen != C.gen)
		return;
	if ((i = find(p->cred)) != NONE)
		drop(i);
	if (C.a->free == NONE && C.a->fresh <= C.a->cap)
		i = C.a->fresh++;
	else {
		if (C.a->free == NONE) {
			drop(C.a->tail);
			C.st.evicted++;
		}
		i = C.a->free;
		C.a->free = C.e[i].hnext;
	}
	struct ac_entry *e = &C.e[i];
	memcpy(e->cred, p->cred, AUTHCACHE_DIGEST);
	memcpy(e->hdig, p->hdig, AUTHCACHE_DIGEST);
	e->verified = clock_ms();
	e->uid = uid;
	e->admin = admin;
	e->used = true;
	uint32_t *head = &C.b[bucket_of(e->cred)];
	e->hnext = *head;
	*head = i;
	lru_push(i);
	C.a->count++;
	C.st.stored++;
}

void
authcache_sweep(void)
{
	uint64_t now = clock_ms();

	if (!authcache_enabled())
		return;
	for (uint32_t i = 1; i < C.a->fresh; i++)
		if (C.e[i].used && expired(&C.e[i], now)) {
			drop(i);
			C.st.expired++;
		}
}

void
authcache_flush(void)
{
	if (C.a != NULL)
		reset_lists();
}

size_t
authcache_count(void)
{
	return C.a != NULL ? C.a->count : 0;
}

void
authcache_stats(struct authcache_stats *st)
{
	*st = C.st;
	st->entries = authcache_count();
	st->capacity = C.a != NULL ? C.a->cap : 0;
}

void
authcache_clear(void)
{
	unmap();
	C.ttl_s = 0;
	memset(&C.st, 0, sizeof(C.st));
}
