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
Each phase also prints the server's CPU time per login (all its
processes, login processes and spawner forks included) and how busy the
whole machine was, since other work on the machine changes the rates.
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
        [off,cold,warm]
The third argument picks phases (default all three; the raw hash rate
is always measured, and the comparisons need "off").
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
from mkharness import HOST, Server, children_of  # noqa: E402

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 8
PHASES = sys.argv[3].split(',') if len(sys.argv) > 3 else ['off', 'cold',
                                                           'warm']
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


def at(start, snap):
    """Calls snap() at time start (the clients' start), if given."""
    if snap is not None:
        time.sleep(max(0.0, start - time.time()))
        snap()


def run_clients(port, per_client, seconds, snap=None):
    """Each client goes once through its users list; returns (logins
    ok, failed, wall s of the slowest).  snap() is called as the clients
    start and once they have all finished."""
    q = multiprocessing.Queue()
    start = time.time() + 0.5
    procs = [multiprocessing.Process(
        target=one_pass, args=(port, i, per_client[i], start, q))
        for i in range(CLIENTS)]
    for p in procs:
        p.start()
    at(start, snap)
    res = [q.get() for _ in procs]
    at(0, snap)
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


def timed(port, per_client, seconds, snap=None):
    """Each client logs in over and over (its users round robin) for
    seconds; returns (logins ok, failed, seconds).  snap() as in
    run_clients()."""
    q = multiprocessing.Queue()
    start = time.time() + 0.5
    procs = [multiprocessing.Process(
        target=client_timed, args=(port, i, per_client[i], seconds, start, q))
        for i in range(CLIENTS)]
    for p in procs:
        p.start()
    at(start, snap)
    res = [q.get() for _ in procs]
    at(0, snap)
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
    return n / wall, n


def stored_hash(server, user):
    db = sqlite3.connect('file:%s?mode=ro' %
                         server.path('data', 'directory.db'), uri=True)
    try:
        return db.execute('SELECT hash FROM users WHERE name = ?',
                          (user,)).fetchone()[0].encode()
    finally:
        db.close()


TCK = os.sysconf('SC_CLK_TCK')


def server_cpu(server):
    """CPU seconds used so far by the server's processes: the master,
    the spawner, the hash workers, mailbox processes, and (through the
    master's and the spawner's counts of reaped children) every login
    process and every spawner middle process that has ended."""
    total = 0
    for pid in [server.pid] + children_of(server.pid):
        try:
            with open('/proc/%d/stat' % pid) as f:
                x = f.read()
        except OSError:
            continue
        x = x[x.rindex(')') + 2:].split()
        total += sum(int(v) for v in x[11:15])
    return total / TCK


def proc_cpu(pid):
    """(comm, own CPU s, reaped children's CPU s, s on a CPU, s runnable
    but waiting for one) of a live process, or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            x = f.read()
        with open('/proc/%d/schedstat' % pid) as f:
            run_ns, wait_ns = (int(v) for v in f.read().split()[:2])
    except OSError:
        return None
    comm = x[x.index('(') + 1:x.rindex(')')]
    x = x[x.rindex(')') + 2:].split()
    return (comm, (int(x[11]) + int(x[12])) / TCK,
            (int(x[13]) + int(x[14])) / TCK, run_ns / 1e9, wait_ns / 1e9)


def role_of(pid, comm, server):
    if pid == server.pid:
        return 'master'
    if comm.startswith('mk-mailbox'):
        return 'mailbox'
    return {'mk-hash': 'hash', 'mk-spawner': 'spawner',
            'mk-login': 'login'}.get(comm, 'other')


def roles_cpu(server):
    """CPU seconds by role.  Ended processes count with whoever reaped
    them: the master reaps every child (it is their subreaper), so its
    'reaped' share is mostly login processes; the spawner reaps its
    middle forks.  For the hash workers also the seconds on a CPU and
    waiting for one (schedstat), by pid."""
    out = {'reaped by master': 0.0}
    hashers = {}
    for pid in [server.pid] + children_of(server.pid):
        st = proc_cpu(pid)
        if st is None:
            continue
        comm, own, reaped, run, wait = st
        role = role_of(pid, comm, server)
        out[role] = out.get(role, 0.0) + own
        if role == 'master':
            out['reaped by master'] += reaped
        else:
            out[role] += reaped
        if role == 'hash':
            hashers[pid] = (run, wait)
    return out, hashers


def roles_report(before, after, logins, wall):
    """Per login CPU by role, and how the hash workers spent the wall
    time: computing, runnable but without a CPU (others had it), or
    asleep (waiting for a request: the pipeline starved them)."""
    (r0, h0), (r1, h1) = before, after
    n = max(1, logins)
    parts = ['%s %.2f' % (k, 1000 * (r1.get(k, 0) - r0.get(k, 0)) / n)
             for k in sorted(r1) if r1.get(k, 0) - r0.get(k, 0) > 0.0005]
    print('%12s ms CPU/login by role: %s' % ('', ', '.join(parts)))
    common = [p for p in h1 if p in h0]
    if not common:
        return
    run = sum(h1[p][0] - h0[p][0] for p in common)
    wait = sum(h1[p][1] - h0[p][1] for p in common)
    span = wall * len(common)
    print('%12s hash workers (%d): %.0f %% on a CPU, %.0f %% waiting for '
          'a CPU, %.0f %% asleep (no request)'
          % ('', len(common), 100 * run / span, 100 * wait / span,
             100 * max(0.0, span - run - wait) / span))
    hash_cpu = r1.get('hash', 0) - r0.get('hash', 0)
    busy_total = sum(r1.get(k, 0) - r0.get(k, 0) for k in r1)
    print('%12s hashing: %.2f ms CPU per login, %.0f %% of the server\'s '
          'CPU' % ('', 1000 * hash_cpu / n, 100 * hash_cpu / max(1e-9,
                                                                busy_total)))
    return hash_cpu / n


def machine_busy():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def measured(server, fn, *args):
    """Runs fn(*args) -> (ok, bad, wall); adds the server's CPU seconds
    and the whole machine's busy fraction over that time, and keeps the
    CPU by role for roles_report() (server.roles)."""
    snaps = []

    def snap():
        # exactly the clients' time: the hash workers' sleep is the time
        # they had no request while clients were trying to log in
        snaps.append((roles_cpu(server), time.time()))

    c0, (b0, t0), k0 = server_cpu(server), machine_busy(), clients_cpu()
    ok, bad, wall = fn(*args, snap=snap)
    c1, (b1, t1), k1 = server_cpu(server), machine_busy(), clients_cpu()
    (r0, w0), (r1, w1) = snaps
    server.roles = (r0, r1, ok, w1 - w0)
    return ok, bad, wall, c1 - c0, k1 - k0, (b1 - b0) / max(1, t1 - t0)


def clients_cpu():
    """CPU seconds of this script's ended child processes (clients,
    hashers)."""
    t = os.times()
    return t.children_user + t.children_system


def report(what, ok, bad, wall, cpu, kcpu, busy):
    """Prints a phase; returns (logins/s, server CPU s per login,
    client CPU s per login)."""
    n = max(1, ok)
    print('%-12s %8.1f logins/s  (%d ok, %d failed, %.1f s)\n'
          '%12s server CPU %.2f ms/login, clients %.2f ms/login; machine '
          '%.0f %% busy, load %.1f'
          % (what, ok / wall, ok, bad, wall, '', 1000 * cpu / n,
             1000 * kcpu / n, 100 * busy, os.getloadavg()[0]), flush=True)
    return ok / wall, cpu / n, kcpu / n


def phase_off(warm_users):
    """Cache off; returns (report, hash CPU s per login, stored hash)."""
    off = Server(users=warm_users,
                 config=dict(CONFIG, auth_cache_ttl=0))
    try:
        setting = stored_hash(off, 'w0')
        print('hash: %s' % setting.decode()[:12], flush=True)
        per = [[('w%d' % i, 'pw-w%d' % i)] for i in range(CLIENTS)]
        r_off = report('cache off',
                       *measured(off, timed, off.port, per, SECONDS))
        return r_off, roles_report(*off.roles), setting
    finally:
        off.stop()
        off.cleanup()


def phases_on(warm_users):
    """Cold and warm cache; returns their reports and the stored hash."""
    cold_users = {'c%d' % i: 'pw-c%d' % i for i in range(COLD_USERS)} \
        if 'cold' in PHASES else {}
    on = Server(users=dict(warm_users, **cold_users), config=CONFIG)
    r_cold = r_warm = None
    try:
        if cold_users:
            # each client goes once through its share of new users
            per = [[('c%d' % j, 'pw-c%d' % j)
                    for j in range(i, COLD_USERS, CLIENTS)]
                   for i in range(CLIENTS)]
            r_cold = report('cold cache',
                            *measured(on, run_clients, on.port, per, 0))
            roles_report(*on.roles)
        if 'warm' in PHASES:
            per = [[('w%d' % i, 'pw-w%d' % i)] for i in range(CLIENTS)]
            run_clients(on.port, per, 0)            # warm them up
            r_warm = report('warm cache',
                            *measured(on, timed, on.port, per, SECONDS))
            roles_report(*on.roles)
        return r_cold, r_warm, stored_hash(on, 'w0')
    finally:
        on.stop()
        on.cleanup()


def main():
    warm_users = {'w%d' % i: 'pw-w%d' % i for i in range(CLIENTS)}
    print('phases: %s, %g s, %d clients' % (','.join(PHASES), SECONDS,
                                             CLIENTS), flush=True)
    r_off = r_cold = r_warm = hash_off = None
    if 'off' in PHASES:
        r_off, hash_off, setting = phase_off(warm_users)
    if 'cold' in PHASES or 'warm' in PHASES:
        r_cold, r_warm, setting = phases_on(warm_users)

    (b0, t0), k0 = machine_busy(), clients_cpu()
    raw, nhash = raw_hash_rate(setting, SECONDS)
    (b1, t1), k1 = machine_busy(), clients_cpu()
    per_hash = (k1 - k0) / max(1, nhash)
    print('%-12s %8.1f hashes/s (%d processes calling crypt(3))\n'
          '%12s %.2f ms CPU/hash; machine %.0f %% busy, load %.1f'
          % ('raw hash', raw, WORKERS, '', 1000 * per_hash,
             100 * (b1 - b0) / max(1, t1 - t0), os.getloadavg()[0]))
    print()
    print('measured rates (depend on what else the machine runs):')
    if r_off:
        print('  cache off / raw hash rate:  %.0f %%'
              % (100 * r_off[0] / raw))
    if r_cold:
        print('  cold cache / raw hash rate: %.0f %%'
              % (100 * r_cold[0] / raw))
    if r_off and r_warm:
        print('  warm / cache off:           x%.0f' % (r_warm[0] / r_off[0]))
    ncpu = os.cpu_count()
    print('from CPU time (what %d otherwise idle cores would do):' % ncpu)
    if r_off:
        print('  cache off: a hash is %.0f %% of the server CPU of a login'
              % (100 * per_hash / r_off[1]))
    if r_warm:
        print('  warm cache: %.0f logins/s (server + these clients), %.0f '
              '(server alone)' % (ncpu / (r_warm[1] + r_warm[2]),
                                   ncpu / r_warm[1]))
    if hash_off:
        # Outside load changes the rates, much less the CPU per login:
        # on a machine that runs nothing else the clients and the server
        # share the cores, so the share of their CPU that is hashing,
        # times how fast a hash runs in a worker against a bare one, is
        # what the cache-off rate can reach of the raw rate.
        share = hash_off / (r_off[1] + r_off[2])
        speed = per_hash / hash_off
        print('cache off, from CPU accounting (independent of other load):')
        print('  hash workers\' CPU / server CPU: %.0f %%; / (server + '
              'clients) CPU: %.0f %%' % (100 * hash_off / r_off[1],
                                         100 * share))
        print('  a hash in a worker costs %.0f %% of a bare crypt(3)'
              % (100 / speed))
        print('  so on an otherwise idle machine: cache off / raw hash '
              'rate = %.0f %%' % (100 * share * speed))


if __name__ == '__main__':
    main()
