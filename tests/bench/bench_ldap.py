#!/usr/bin/env python3
"""bench_ldap.py - logins per second with directory = ldap (doc/ldap.md),
against directory.db on the same machine.  A benchmark: it prints
figures, it asserts nothing.

A real slapd (tests/e2e/ldapharness.py: mdb, StartTLS) holds USERS users
with {CRYPT} yescrypt hashes; the same users are in a second instance's
directory.db.  Each phase runs CLIENTS processes logging in one after
the other (connect, greeting, LOGIN, tagged OK, close) for SECONDS:

  sqlite         directory.db, credentials cache off: every login hashed
  ldap hash      every login an LDAP search (ldap_cache_ttl = 0) and a hash
  ldap bind      every login an LDAP search and a bind as the user
  ldap cached    entry cache and credentials cache on, a user per client
                 logging in again and again: no LDAP, no hash

Also the latency of the LDAP round trips: the median time of a failed
LOGIN in bind mode (a known user, a wrong password: one search and one
bind, no hash; failure delays off).

Usage (as root, from a build directory):
    MK_BUILD_DIR=build python3 tests/bench/bench_ldap.py [seconds] [clients]
"""
import multiprocessing
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'e2e'))
from mkharness import HOST, Server  # noqa: E402
import ldapharness  # noqa: E402

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 4
USERS = 40


def login_once(port, source, user, pw):
    s = socket.create_connection((HOST, port), timeout=30,
                                 source_address=(source, 0))
    try:
        f = s.makefile('rb')
        f.readline()
        s.sendall(b'a LOGIN %s "%s"\r\n' % (user.encode(), pw.encode()))
        while True:
            line = f.readline()
            if not line or line.startswith(b'a '):
                return line.startswith(b'a OK')
    finally:
        s.close()


def client(port, n, same_user, deadline, q):
    source = '127.0.1.%d' % (n + 1)
    ok = bad = 0
    i = n
    while time.time() < deadline:
        u = 'user%d' % (n if same_user else i % USERS)
        if login_once(port, source, u, 'pw ' + u):
            ok += 1
        else:
            bad += 1
        i += CLIENTS
    q.put((ok, bad))


def phase(name, port, same_user=False):
    q = multiprocessing.Queue()
    deadline = time.time() + SECONDS
    procs = [multiprocessing.Process(target=client,
                                     args=(port, n, same_user, deadline, q))
             for n in range(CLIENTS)]
    t0 = time.time()
    for p in procs:
        p.start()
    res = [q.get() for _ in procs]
    for p in procs:
        p.join()
    took = time.time() - t0
    ok = sum(r[0] for r in res)
    bad = sum(r[1] for r in res)
    print('%-12s %7.1f logins/s  (%d ok, %d refused, %d clients, %.0f s)'
          % (name, ok / took, ok, bad, CLIENTS, took))


def lookup_latency(port, n=50):
    times = []
    for i in range(n):
        t = time.time()
        login_once(port, '127.0.2.1', 'user%d' % (i % USERS), 'wrong')
        times.append((time.time() - t) * 1000)
    return statistics.median(times)


BASE = {'max_connections_per_ip': 1000, 'auth_fail_limit': 1000000,
        'auth_delay_max_ms': 0, 'auth_account_fail_limit': 1000000}


def main():
    why = ldapharness.skip_reason()
    if why:
        print('skipped:', why)
        return
    users = {'user%d' % i: 'pw user%d' % i for i in range(USERS)}
    slapd = ldapharness.Slapd(users)
    try:
        load = os.getloadavg()[0]
        print('machine load (1 min) at start: %.2f on %d CPUs' %
              (load, os.cpu_count()))
        with Server(users=users, config=dict(BASE, auth_cache_ttl=0)) as s:
            phase('sqlite', s.port)
        for auth in ('hash', 'bind'):
            s = Server(users={}, start=False)
            try:
                s.configure(slapd.mailkeep_config(
                    os.path.join(s.tmp, 'pw'), auth=auth, ldap_cache_ttl=0,
                    auth_cache_ttl=0, **BASE))
                s.start()
                phase('ldap ' + auth, s.port)
                if auth == 'bind':
                    print('%-12s %7.2f ms median (a failed LOGIN: one '
                          'search, one bind, no hash)' %
                          ('ldap lookup', lookup_latency(s.port)))
                s.stop()
            finally:
                s.cleanup()
        s = Server(users={}, start=False)
        try:
            s.configure(slapd.mailkeep_config(os.path.join(s.tmp, 'pw'),
                                              **BASE))
            s.start()
            phase('ldap cached', s.port, same_user=True)
            s.stop()
        finally:
            s.cleanup()
        print('machine load (1 min) at end: %.2f' % os.getloadavg()[0])
    finally:
        slapd.cleanup()


if __name__ == '__main__':
    main()
