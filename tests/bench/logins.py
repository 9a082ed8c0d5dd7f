#!/usr/bin/env python3
"""logins.py - logins per second, with and without the credentials cache
(issue 10 item 2).  A benchmark: it prints figures, it asserts nothing.

Four figures, on one machine:
  raw hash rate  hash_workers processes calling crypt(3) (libcrypt, via
                 ctypes) on a real stored hash of the instance, nothing
                 else running: what the hash workers can compute at most;
  cache off      logins/s with auth_cache_ttl = 0: every login hashed;
  cold cache     the cache on, every login the first of its user (so a
                 miss, then stored);
  warm cache     the cache on, a few users logging in again and again
                 (a mail client reopening its connections).
A login is: connect, read the greeting, LOGIN, read the tagged OK (which
the user's mailbox process writes after the hand-off), close - the
whole path, a login process forked per connection included.  Clients are
CLIENTS processes, each a loop of logins one after the other from its
own loopback address (127.0.1.N: the per-network throttles count each
one separately, as for distinct client hosts); each warm client logs in
as its own user, like a mail client's connections.

Usage (from a build directory with mailkeepd and mailkeepctl; as root,
so the server runs with its real privilege separation):
    MK_BUILD_DIR=build python3 tests/bench/logins.py [seconds] [clients]
"""
import ctypes
import multiprocessing
import os
import socket
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'e2e'))
from mkharness import HOST, Server  # noqa: E402

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 8
WORKERS = 2            # hash_workers (the default)
COLD_USERS = 300       # distinct users for the cold-cache pass

CONFIG = {
    'hash_workers': WORKERS,
    # a client machine is one network: the bench's clients are CLIENTS
    'max_connections_per_ip': 1000,
}


def login_once(port, source, user, pw):
    """One full login; True if it ended in a tagged OK."""
    s = socket.create_connection((HOST, port), timeout=30,
                                 source_address=(source, 0))
    try:
        buf = b''
        while b'\r\n' not in buf:
            d = s.recv(4096)
            if not d:
                return False
            buf += d
        s.sendall(b'a LOGIN %s %s\r\n' % (user.encode(), pw.encode()))
        buf = b''
        while True:
            d = s.recv(4096)
            if not d:
                return False
            buf += d
            for line in buf.split(b'\r\n'):
                if line.startswith(b'a '):
                    return line.startswith(b'a OK')
    finally:
        s.close()


def run_clients(port, per_client, seconds):
    """Each client goes once through its users list; returns (logins
    ok, failed, wall s of the slowest)."""
    q = multiprocessing.Queue()
    start = time.time() + 0.5
    procs = [multiprocessing.Process(
        target=one_pass, args=(port, i, per_client[i], start, q))
        for i in range(CLIENTS)]
    for p in procs:
        p.start()
    res = [q.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in res), sum(r[1] for r in res), \
        max(r[2] for r in res)


def one_pass(port, i, users, start, out):
    source = '127.0.1.%d' % (i + 1)
    ok = bad = 0
    while time.time() < start:
        time.sleep(0.001)
    for user, pw in users:
        if login_once(port, source, user, pw):
            ok += 1
        else:
            bad += 1
    out.put((ok, bad, time.time() - start))


def client_timed(port, i, users, seconds, start, out):
    source = '127.0.1.%d' % (i + 1)
    ok = bad = n = 0
    while time.time() < start:
        time.sleep(0.001)
    end = start + seconds
    while time.time() < end:
        user, pw = users[n % len(users)]
        n += 1
        if login_once(port, source, user, pw):
            ok += 1
        else:
            bad += 1
    out.put((ok, bad, seconds))


def timed(port, per_client, seconds):
    """Each client logs in over and over (its users round robin) for
    seconds; returns (logins ok, failed, seconds)."""
    q = multiprocessing.Queue()
    start = time.time() + 0.5
    procs = [multiprocessing.Process(
        target=client_timed, args=(port, i, per_client[i], seconds, start, q))
        for i in range(CLIENTS)]
    for p in procs:
        p.start()
    res = [q.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in res), sum(r[1] for r in res), seconds


def hasher(setting, seconds, out):
    lib = ctypes.CDLL('libcrypt.so.1')
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    n = 0
    end = time.time() + seconds
    while time.time() < end:
        r = lib.crypt(b'not-the-password', setting)
        assert r is not None and r.startswith(b'$')
        n += 1
    out.put(n)


def raw_hash_rate(setting, seconds):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=hasher,
                                     args=(setting, seconds, q))
             for _ in range(WORKERS)]
    t0 = time.time()
    for p in procs:
        p.start()
    n = sum(q.get() for _ in procs)
    wall = time.time() - t0
    for p in procs:
        p.join()
    return n / wall


def stored_hash(server, user):
    db = sqlite3.connect('file:%s?mode=ro' %
                         server.path('data', 'directory.db'), uri=True)
    try:
        return db.execute('SELECT hash FROM users WHERE name = ?',
                          (user,)).fetchone()[0].encode()
    finally:
        db.close()


def report(what, ok, bad, wall):
    print('%-12s %8.1f logins/s  (%d ok, %d failed, %.1f s)'
          % (what, ok / wall, ok, bad, wall), flush=True)
    return ok / wall


def main():
    warm_users = {'w%d' % i: 'pw-w%d' % i for i in range(CLIENTS)}
    cold_users = {'c%d' % i: 'pw-c%d' % i for i in range(COLD_USERS)}
    print('setting up %d users...' % (len(warm_users) + len(cold_users)),
          flush=True)

    # cache off
    off = Server(users=warm_users,
                 config=dict(CONFIG, auth_cache_ttl=0))
    try:
        setting = stored_hash(off, 'w0')
        print('hash: %s' % setting.decode()[:12], flush=True)
        per = [[('w%d' % i, 'pw-w%d' % i)] for i in range(CLIENTS)]
        r_off = report('cache off', *timed(off.port, per, SECONDS))
    finally:
        off.stop()
        off.cleanup()

    on = Server(users=dict(warm_users, **cold_users), config=CONFIG)
    try:
        # cold: each client goes once through its share of new users
        per = [[('c%d' % j, 'pw-c%d' % j)
                for j in range(i, COLD_USERS, CLIENTS)]
               for i in range(CLIENTS)]
        r_cold = report('cold cache', *run_clients(on.port, per, 0))
        per = [[('w%d' % i, 'pw-w%d' % i)] for i in range(CLIENTS)]
        run_clients(on.port, per, 0)            # warm them up
        r_warm = report('warm cache', *timed(on.port, per, SECONDS))
    finally:
        on.stop()
        on.cleanup()

    raw = raw_hash_rate(setting, SECONDS)
    print('%-12s %8.1f hashes/s (%d processes calling crypt(3))'
          % ('raw hash', raw, WORKERS))
    print('cache off / raw hash rate: %.0f %%' % (100 * r_off / raw))
    print('warm / cache off: x%.0f' % (r_warm / r_off))
    print('cold / raw hash rate: %.0f %%' % (100 * r_cold / raw))


if __name__ == '__main__':
    main()
