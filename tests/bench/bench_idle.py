#!/usr/bin/env python3
"""bench_idle.py - many IDLE connections (issue 11 item 3).  A benchmark:
it prints figures beside the goals, it asserts nothing.

Opens USERS x PER connections (default 1,000 x 10 = 10,000), each logged
in, INBOX selected and in IDLE, first over plain IMAP, then over TLS
(implicit TLS, through the relay pool), and prints for each:
  PSS       total proportional set size of mailkeepd's processes (master,
            spawner, key holder, relays, mailbox processes...) from
            /proc/PID/smaps_rollup              goal <= 500 MiB plain, 1 GiB TLS
  latency   a message APPENDed by another session: time until every IDLE
            connection of that user has its EXISTS (median and worst over
            SAMPLES users)                      goal <= 50 ms
  CPU       the server's CPU time over REST seconds with every connection
            idle, in % of one core              goal < 1 %
Clients spread over 127.0.x.y source addresses (a source address has
about 28,000 ephemeral ports); RLIMIT_NOFILE is raised to what is needed.

Usage (as root, from a build directory with mailkeepd and mailkeepctl):
    MK_BUILD_DIR=build python3 tests/bench/bench_idle.py [users] [per] [rest_s]
"""
import os
import resource
import socket
import ssl
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
from mkharness import HOST, Server, children_of, free_port  # noqa: E402
from test_tls import context, make_cert  # noqa: E402

USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
PER = int(sys.argv[2]) if len(sys.argv) > 2 else 10
REST = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
SAMPLES = 10
PER_SOURCE = 20000      # connections per source address


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    if hard != resource.RLIM_INFINITY and want > hard:
        hard = want     # root may raise the hard limit too
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def source(i):
    k = i // PER_SOURCE
    return '127.0.%d.%d' % (1 + k // 250, 1 + k % 250)


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b''

    def line(self, timeout=60):
        self.sock.settimeout(timeout)
        while b'\r\n' not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError('connection closed')
            self.buf += d
        ln, self.buf = self.buf.split(b'\r\n', 1)
        return ln.decode('utf-8', 'replace')

    def until(self, prefix):
        while True:
            ln = self.line()
            if ln.startswith(prefix):
                return ln

    def send(self, s):
        self.sock.sendall(s.encode() if isinstance(s, str) else s)


def open_idle(port, i, user, pw, ctx):
    s = socket.create_connection((HOST, port), timeout=60,
                                 source_address=(source(i), 0))
    if ctx is not None:
        s = ctx.wrap_socket(s, server_hostname='localhost')
    c = Conn(s)
    c.line()
    # pipelined: LOGIN, SELECT, IDLE
    c.send('a LOGIN %s "%s"\r\nb SELECT INBOX\r\nc IDLE\r\n' % (user, pw))
    ln = c.until('a ')
    if ' OK ' not in ln:
        raise RuntimeError('login %s: %s' % (user, ln))
    c.until('b ')
    c.until('+ ')
    c.sock.settimeout(None)
    return c


def pids_of(server):
    return [server.pid] + children_of(server.pid)


def pss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open('/proc/%d/smaps_rollup' % pid) as f:
                for ln in f:
                    if ln.startswith('Pss:'):
                        total += int(ln.split()[1])
                        break
        except OSError:
            pass
    return total


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open('/proc/%d/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def latency(server, conns, users):
    """ms until every IDLE connection of a user sees the new EXISTS."""
    out = []
    step = max(1, len(users) // SAMPLES)
    for u in users[::step][:SAMPLES]:
        mine = conns[u]
        w = socket.create_connection((HOST, server.port), timeout=30)
        c = Conn(w)
        c.line()
        c.send('a LOGIN %s "%s"\r\n' % (u, server.users[u]))
        c.until('a ')
        msg = b'Subject: bench\r\n\r\nhello\r\n'
        c.send(b'b APPEND INBOX {%d+}\r\n' % len(msg) + msg + b'\r\n')
        t0 = time.monotonic()
        for ic in mine:
            # "* N EXISTS" (RECENT may follow); when opening took longer
            # than idle_keepalive, its "* OK" lines come first.
            while not ic.until('* ').endswith(' EXISTS'):
                pass
        out.append((time.monotonic() - t0) * 1000)
        c.until('b ')
        w.close()
    return out


def run(server, port, ctx, label):
    users = sorted(server.users)
    conns = {u: [] for u in users}
    t0 = time.monotonic()
    i = 0
    for u in users:
        for _ in range(PER):
            conns[u].append(open_idle(port, i, u, server.users[u], ctx))
            i += 1
    took = time.monotonic() - t0
    time.sleep(2)
    pids = pids_of(server)
    pss = pss_kib(pids) / 1024
    hz = os.sysconf('SC_CLK_TCK')
    c0 = cpu_ticks(pids)
    time.sleep(REST)
    cpu = (cpu_ticks(pids) - c0) / hz / REST * 100
    lat = latency(server, conns, users)
    goal = 500 if ctx is None else 1024
    print('%s: %d IDLE connections (%d users x %d) opened in %.1f s; '
          '%d server processes' % (label, i, len(users), PER, took,
                                   len(pids)))
    print('  PSS total      %8.1f MiB   goal <= %d MiB  %s'
          % (pss, goal, 'met' if pss <= goal else 'NOT met'))
    print('  APPEND->IDLE   median %.1f ms, worst %.1f ms over %d users   '
          'goal <= 50 ms  %s' % (statistics.median(lat), max(lat), len(lat),
                                 'met' if max(lat) <= 50 else 'NOT met'))
    print('  CPU at rest    %8.2f %% of a core over %.0f s   goal < 1 %%  %s'
          % (cpu, REST, 'met' if cpu < 1 else 'NOT met'))
    sys.stdout.flush()
    for cs in conns.values():
        for c in cs:
            c.sock.close()
    time.sleep(2)


def main():
    n = USERS * PER
    raise_nofile(n + 1024)
    users = {'u%04d' % k: 'pw-%04d' % k for k in range(USERS)}
    tls_port = free_port()
    server = Server(users=users, start=False)
    cert, key = make_cert(server.tmp, 'server')
    with open(server.conf, 'a') as f:
        f.write('listen_tls = %s:%d\ntls_cert = %s\ntls_key = %s\n'
                'max_connections = %d\nmax_connections_per_ip = %d\n'
                'autologout = 3600\n'
                % (HOST, tls_port, cert, key, 2 * n + 100, 2 * n + 100))
    server.start()
    try:
        print('bench_idle: %s, %d CPUs, load average %s' %
              (time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
               os.cpu_count(), os.getloadavg()))
        run(server, server.port, None, 'plain')
        run(server, tls_port, context(cert), 'TLS (implicit, relay pool)')
    finally:
        server.stop()
        server.cleanup()


if __name__ == '__main__':
    main()
