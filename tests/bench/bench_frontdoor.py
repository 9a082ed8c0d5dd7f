#!/usr/bin/env python3
"""bench_frontdoor.py - what nginx's mail proxy in front of Mailkeep
costs (issue 14, doc/cluster.md).  A benchmark: it prints figures, it
asserts nothing.

One mailkeepd with auth_http_listen and trusted_proxies, and nginx (the
configuration of tests/e2e/test_nginx.py: auth_http, proxy_protocol on)
in front of it.  Two figures, each direct and through nginx:
  logins/s   CLIENTS processes, each a loop of connect, greeting, LOGIN,
             tagged OK, close, for SECONDS (credentials cache warm: the
             hash is not what is measured); through nginx a login costs
             nginx's auth_http request to Mailkeep (a login process per
             request) plus its own connection to the backend;
  NOOP       round trips on one logged-in session (median and 99th
             percentile): the latency nginx adds to every command.
The machine's load is printed too: on a shared machine figures move.

--cluster: the same figures on the cluster of etc/run-cluster.sh (slapd,
nginx, backends b1 and b2 with directory = ldap, tests/e2e/
clusterharness.py): through nginx, the clients' users alternate between
b1 and b2; directly, each client logs in at its user's own backend.

Usage (from a build directory with mailkeepd and mailkeepctl, as root):
    MK_BUILD_DIR=build python3 tests/bench/bench_frontdoor.py [--cluster] [SECONDS] [CLIENTS]
"""
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'e2e'))
from mkharness import Client, Server, free_port, wait_for  # noqa: E402
from test_nginx import CONF, find_nginx  # noqa: E402
import clusterharness  # noqa: E402

USERS = {'u%d' % i: 'pw-%d' % i for i in range(8)}


def login_loop(port, user, pw, seconds, source, out):
    n = 0
    end = time.time() + seconds
    while time.time() < end:
        c = Client(port, source=source, timeout=30)
        c.connect()
        tagged, _ = c.login(user, pw)
        if ' OK' not in tagged:
            out.put(-1)
            return
        c.close()
        n += 1
    out.put(n)


def logins_per_s(targets, seconds, clients):
    """targets: [(port, user, password)], taken in turn by the clients."""
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=login_loop, args=(
        targets[i % len(targets)] + (seconds, '127.0.2.%d' % (i + 1), q)))
        for i in range(clients)]
    t0 = time.time()
    for p in ps:
        p.start()
    counts = [q.get() for _ in ps]
    for p in ps:
        p.join()
    if -1 in counts:
        return None
    return sum(counts) / (time.time() - t0)


def noop_latency(port, user, pw, n=2000):
    c = Client(port, source='127.0.2.100', timeout=30)
    c.connect()
    c.login(user, pw)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        c.cmd('NOOP')
        times.append(time.perf_counter() - t0)
    c.cmd('LOGOUT')
    c.close()
    times.sort()
    return times[len(times) // 2] * 1e6, times[len(times) * 99 // 100] * 1e6


def report(paths, seconds, clients):
    """paths: [(name, login targets, (port, user, pw) for NOOP)]"""
    print('load average before: %s' % open('/proc/loadavg').read().strip())
    for name, targets, noop in paths:
        # warm the credentials cache (and, in the cluster, LDAP's)
        for port, user, pw in targets:
            c = Client(port, source='127.0.2.201', timeout=30)
            c.connect()
            c.login(user, pw)
            c.close()
        rate = logins_per_s(targets, seconds, clients)
        med, p99 = noop_latency(*noop)
        print('%-22s logins/s %7.1f   NOOP median %6.0f us  p99 %6.0f us'
              % (name, rate or 0, med, p99))
    print('load average after:  %s' % open('/proc/loadavg').read().strip())


LIMITS = {'max_connections_per_ip': 10000, 'auth_max_pending_per_addr': 1000,
          'auth_fail_limit': 100000}


def cluster_main(seconds, clients):
    why = clusterharness.skip_reason()
    if why is not None:
        print('the cluster cannot run here: %s' % why)
        return 1
    d = tempfile.mkdtemp(prefix='mk-bench-cluster-')
    os.chmod(d, 0o711)
    c = clusterharness.Cluster(d, config=LIMITS)
    try:
        c.start()
        st = c.state
        users = [(n, u['password'], st['backends'][u['backend']]['imap'])
                 for n, u in sorted(st['users'].items()) if not u['admin']]
        nport = st['nginx']['port']
        direct = [(port, n, pw) for n, pw, port in users]
        nginx = [(nport, n, pw) for n, pw, _ in users]
        report([('direct (own backend)', direct, direct[0]),
                ('through nginx', nginx, nginx[0])], seconds, clients)
    finally:
        clusterharness.stop(d)
    return 0


def main():
    args = sys.argv[1:]
    cluster = '--cluster' in args
    args = [a for a in args if a != '--cluster']
    seconds = float(args[0]) if len(args) > 0 else 5
    clients = int(args[1]) if len(args) > 1 else 4
    if cluster:
        return cluster_main(seconds, clients)
    nginx, load = find_nginx()
    if nginx is None:
        print('nginx is not usable: %s' % load)
        return 1
    hport, nport = free_port(), free_port()
    s = Server(users=USERS, config=dict(
        LIMITS, auth_http_listen='127.0.0.1:%d' % hport))
    ng = None
    try:
        s.configure({'trusted_proxies': '127.0.0.1'})
        s.ctl('reload')
        d = os.path.join(s.tmp, 'nginx')
        os.mkdir(d)
        conf = os.path.join(d, 'nginx.conf')
        with open(conf, 'w') as f:
            f.write(CONF % {'load': load, 'dir': d, 'hport': hport,
                            'nport': nport})
        ng = subprocess.Popen([nginx, '-p', d, '-c', conf, '-e',
                               os.path.join(d, 'error.log')],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT)

        def up():
            try:
                c = Client(nport, source='127.0.2.200')
                c.connect()
                c.close()
                return True
            except OSError:
                return False
        wait_for(up, 10, what='nginx')
        users = sorted(USERS.items())
        report([(name, [(port, u, pw) for u, pw in users],
                 (port, 'u0', USERS['u0']))
                for name, port in (('direct', s.port),
                                   ('through nginx', nport))],
               seconds, clients)
    finally:
        if ng is not None:
            ng.terminate()
            ng.wait()
        s.stop()
        s.cleanup()
    return 0


if __name__ == '__main__':
    sys.exit(main())
