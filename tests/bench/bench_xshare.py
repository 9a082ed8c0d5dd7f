#!/usr/bin/env python3
"""bench_xshare.py - what a shared folder on another backend costs
(doc/cluster.md, "Shared folders across backends").  A benchmark: it
prints figures, it asserts nothing.

Two backends b1 and b2 on loopback with the real link (the set-up of
tests/e2e/test_xshare.py).  alice, held by b2, shares Proj (N messages)
with bob, held by b2 too, and with carol, held by b1.  For each of bob
(the owner's process is on his backend) and carol (across the link):
  open      SELECT of the shared folder on a fresh session (the first
            one opens the channel: on b1 a TLS link and two link
            processes), median of REPEAT;
  NOOP      round trips on the selected folder, median and 99th
            percentile;
  FETCH     `FETCH 1:N (FLAGS)` round trips, median.
The machine's load is printed too: on a shared machine figures move.

Usage (from a build directory with mailkeepd and mailkeepctl, as root):
    MK_BUILD_DIR=build python3 tests/bench/bench_xshare.py [N] [REPEAT]
"""
import os
import shutil
import statistics
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'e2e'))
from mkharness import HOST, Server, free_port, wait_for  # noqa: E402
from mkimap import message  # noqa: E402
from test_move import make_ca, make_cert  # noqa: E402

USERS = {'alice': 'alice pw', 'bob': 'bob pw', 'carol': 'carol pw'}
HOME = {'alice': 'b2', 'bob': 'b2', 'carol': 'b1'}
PROJ = '"Other Users/alice/Proj"'


def cluster(certs):
    ca = make_ca(certs, 'cluster-ca')
    ports = {n: free_port() for n in ('b1', 'b2')}
    servers = {n: Server(users=USERS, start=False) for n in ('b1', 'b2')}
    for n, s in servers.items():
        crt, key = make_cert(certs, n, ca)
        s.configure({'backend_name': n, 'cluster_cert': crt,
                     'cluster_key': key, 'cluster_ca': ca[0],
                     'cluster_listen': '%s:%d' % (HOST, ports[n])})
        for o, os_ in servers.items():
            s.configure({'backend': '%s %s %d 0 %d' % (o, HOST, os_.port,
                                                       ports[o])})
        for user, home in HOME.items():
            if home != n:
                s.ctl('backend', user, home)
    for s in servers.values():
        s.start()
    return servers


def timed(c, cmd):
    t0 = time.perf_counter()
    tagged, _ = c.cmd(cmd, timeout=60)
    dt = time.perf_counter() - t0
    if ' OK' not in tagged:
        raise RuntimeError('%s: %s' % (cmd, tagged))
    return dt


def measure(server, user, n, repeat):
    opens = []
    for _ in range(repeat):
        c = server.client(login=(user, USERS[user]))
        opens.append(timed(c, 'SELECT %s' % PROJ))
        c.close()
    c = server.client(login=(user, USERS[user]))
    timed(c, 'SELECT %s' % PROJ)
    noops = sorted(timed(c, 'NOOP') for _ in range(repeat * 20))
    fetches = [timed(c, 'FETCH 1:%d (FLAGS)' % n) for _ in range(repeat)]
    c.close()
    return (statistics.median(opens), statistics.median(noops),
            noops[int(len(noops) * 0.99) - 1], statistics.median(fetches))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    certs = tempfile.mkdtemp(prefix='mk-bench-xshare-')
    servers = cluster(certs)
    try:
        a = servers['b2'].client(login=('alice', USERS['alice']))
        a.cmd('CREATE Proj')
        for i in range(n):
            a.append('Proj', message(subject='m%d' % i))
        a.cmd('SETACL Proj bob lr')
        a.cmd('SETACL Proj carol lr')
        c = servers['b1'].client(login=('carol', USERS['carol']))
        wait_for(lambda: any('Proj' in l for l in c.cmd('LIST "" "*"')[1]),
                 what='the share on b1')
        c.close()
        print('load average: %s' % ' '.join(
            '%.2f' % x for x in os.getloadavg()))
        print('%d messages, %d repeats' % (n, repeat))
        print('| grantee | open (SELECT) | NOOP median | NOOP p99 | '
              'FETCH 1:%d (FLAGS) |' % n)
        print('|---|---|---|---|---|')
        for label, server, user in (('same backend', servers['b2'], 'bob'),
                                    ('other backend', servers['b1'],
                                     'carol')):
            o, med, p99, f = measure(server, user, n, repeat)
            print('| %s | %.2f ms | %.0f us | %.0f us | %.2f ms |' % (
                label, o * 1e3, med * 1e6, p99 * 1e6, f * 1e3))
        a.close()
    finally:
        for s in servers.values():
            s.cleanup()
        shutil.rmtree(certs, True)


if __name__ == '__main__':
    main()
