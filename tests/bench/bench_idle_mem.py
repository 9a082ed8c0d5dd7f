#!/usr/bin/env python3
"""bench_idle_mem.py - where a resting user's process spends its memory
(issue 11 item 3).  A benchmark: it prints figures, it asserts nothing.

Opens USERS x PER plain IMAP connections (default 100 x 10), each logged
in with INBOX selected and in IDLE, waits SETTLE seconds (the idle jobs
run and the processes come to rest), then prints for the mailbox
processes (mk-mailbox) the mean of /proc/PID/smaps_rollup's lines and,
from /proc/PID/smaps, the mean PSS and private dirty memory of each kind
of mapping ([heap], [stack], anonymous, each library's segments), and
the PSS of every other mailkeepd process.  bench_idle.py measures the
total at 10,000 connections; this says where it goes.

Usage (as root, from a build directory with mailkeepd and mailkeepctl):
    MK_BUILD_DIR=build-rel python3 tests/bench/bench_idle_mem.py \
        [users] [per] [settle_s] [tls]

With "tls" the server has a certificate (and an implicit-TLS listener)
as in bench_idle.py; the connections stay plain.
"""
import collections
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
sys.path.insert(0, HERE)
from mkharness import HOST, Server, free_port  # noqa: E402
from test_memory import rollup  # noqa: E402
from test_tls import make_cert  # noqa: E402
from bench_idle import open_idle, pids_of, raise_nofile  # noqa: E402

USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
PER = int(sys.argv[2]) if len(sys.argv) > 2 else 10
SETTLE = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
# "tls": a certificate configured (as in bench_idle.py), plain connections
WITH_CERT = len(sys.argv) > 4 and sys.argv[4] == 'tls'


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return '?'


def mapping_kind(header):
    parts = header.split()
    name = parts[5] if len(parts) > 5 else '[anon]'
    perms = parts[1]
    if name.startswith('/'):
        name = os.path.basename(name)
        return '%s %s' % (name, perms)
    return name


def by_mapping(pid):
    """{kind: [pss, private_dirty]} in kB."""
    out = collections.defaultdict(lambda: [0, 0])
    kind = None
    with open('/proc/%d/smaps' % pid) as f:
        for ln in f:
            first = ln.split(None, 1)[0]
            if '-' in first and not first.endswith(':'):
                kind = mapping_kind(ln)
            elif first == 'Pss:':
                out[kind][0] += int(ln.split()[1])
            elif first == 'Private_Dirty:':
                out[kind][1] += int(ln.split()[1])
    return out


def report(server):
    pids = pids_of(server)
    mboxes = [p for p in pids if comm(p).startswith('mk-mailbox')]
    others = [p for p in pids if p not in mboxes]
    n = len(mboxes)
    tot = collections.Counter()
    kinds = collections.defaultdict(lambda: [0, 0])
    for p in mboxes:
        tot.update(rollup(p))
        for k, (pss, pd) in by_mapping(p).items():
            kinds[k][0] += pss
            kinds[k][1] += pd
    print('%d mailbox processes, mean of smaps_rollup (kB):' % n)
    for k in ('Rss', 'Pss', 'Pss_Anon', 'Pss_File', 'Shared_Clean',
              'Shared_Dirty', 'Private_Clean', 'Private_Dirty'):
        print('  %-14s %8.1f' % (k, tot[k] / n))
    print('  mean PSS and private dirty by mapping (kB), largest first:')
    for k, (pss, pd) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
        if pss / n >= 1.0:
            print('    %-40s %7.1f %7.1f' % (k, pss / n, pd / n))
    print('other mailkeepd processes (PSS kB):')
    for p in others:
        print('  %-16s %8d' % (comm(p), rollup(p).get('Pss', 0)))
    total = sum(rollup(p).get('Pss', 0) for p in pids)
    print('PSS of all mailkeepd processes: %.1f MiB; %.1f kB per user'
          % (total / 1024, total / USERS))


def main():
    raise_nofile(USERS * PER + 1024)
    users = {'u%04d' % k: 'pw-%04d' % k for k in range(USERS)}
    server = Server(users=users, start=False)
    with open(server.conf, 'a') as f:
        n = USERS * PER + 100
        f.write('max_connections = %d\nmax_connections_per_ip = %d\n'
                'autologout = 3600\n' % (n, n))
        if WITH_CERT:
            cert, key = make_cert(server.tmp, 'server')
            f.write('listen_tls = %s:%d\ntls_cert = %s\ntls_key = %s\n'
                    % (HOST, free_port(), cert, key))
    server.start()
    conns = []
    try:
        print('bench_idle_mem: %s, load average %s' %
              (time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
               os.getloadavg()))
        i = 0
        for u in sorted(users):
            for _ in range(PER):
                conns.append(open_idle(server.port, i, u, users[u], None))
                i += 1
        time.sleep(SETTLE)
        print('%d IDLE connections (%d users x %d)' % (i, USERS, PER))
        report(server)
    finally:
        for c in conns:
            c.sock.close()
        server.stop()
        server.cleanup()


if __name__ == '__main__':
    main()
