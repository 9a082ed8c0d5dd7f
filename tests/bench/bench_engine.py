#!/usr/bin/env python3
"""bench_engine.py - the command engine under imaptest's stress mix
without logouts (issue 10 item 3), one build or two side by side.  A
benchmark: it prints figures, it asserts nothing.

For each build directory given, and each client count, a fresh instance
(users user1..user100 / pass, the login throttles opened as the
benchmarks in doc/benchmarks.md have them) is started and imaptest's
stress mode runs against it through the instruments' runner
(run-imaptest-stress, which prints the server tree's CPU seconds per
1000 commands and its peak PSS).  Builds take turns within each round,
so on a busy machine they share the same conditions; compare them within
a round, and read CPU per 1000 commands rather than commands per second.
With --together the builds run at the same time instead, each under its
own imaptest, so that they share the load minute by minute.

Usage (as root, so the mailbox processes get their users' uids):
    python3 tests/bench/bench_engine.py BUILD [BUILD...] \\
        [--clients 10,50] [--secs 30] [--rounds 1] [--args logout=0] \\
        [--together] [--ab-env NAME=VALUE] [--dovecot CTL]

--dovecot CTL adds the reference Dovecot of the instruments (CTL is its
ctl.sh, e.g. /tmp/peer/dovecot-base/ctl.sh) to every round, after the
builds: once in its `perf` configuration and once in its default one,
each started on empty mailboxes (ctl.sh reset-mail) as Mailkeep's
instances are, and stopped after its run.  So the ratio of doc/
benchmarks.md is taken from turns of the same minutes.  It may be
given more than once: a copy of that instance whose passwd-file holds
Mailkeep's own yescrypt hashes (`{CRYPT}$y$...`, doc/benchmarks.md)
pays the same hash per LOGIN, where the instruments' users have
`{PLAIN}` passwords.  Each listens on 127.0.0.1:14300, one at a time.

--ab-env NAME=VALUE runs each build twice in each round, in turns: as it
is, then with NAME=VALUE in the server's environment (the tcache A/B of
doc/benchmarks.md: --ab-env GLIBC_TUNABLES=glibc.malloc.tcache_count=7
gives the spawner's children glibc's default tcache back).

A BUILD is a build directory of this tree (its daemon/mailkeepd), or
DIR=SRC to run the build DIR with the e2e harness of another source tree
SRC (for a build of an older commit).  RUNNER (the runner's path) defaults
to /tmp/peer/bin/run-imaptest-stress.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.environ.get('RUNNER', '/tmp/peer/bin/run-imaptest-stress')
CONFIG = {'auth_max_pending_per_addr': '1000', 'auth_fail_limit': '100000',
          'auth_max_pending': '100000'}
KEEP = ('commands/second', 'errors:', 'server pid', 'server PSS', 'machine')

# Started in a child of its own: the harness of each source tree is
# imported there, and stopping the instance is that child's job.
SERVE = r'''
import os, sys, time
sys.path.insert(0, os.path.join(sys.argv[1], 'tests', 'e2e'))
from mkharness import Server
s = Server(users=[('user%d' % i, 'pass') for i in range(1, 101)],
           config=dict(a.split('=', 1) for a in sys.argv[2:]))
print(s.port, s.proc.pid, flush=True)
try:
    sys.stdin.read()
finally:
    s.stop()
'''


def serve(build, src, server_env=None):
    env = dict(os.environ, MK_BUILD_DIR=build, **(server_env or {}))
    return subprocess.Popen([sys.executable, '-c', SERVE, src] +
                            ['%s=%s' % kv for kv in CONFIG.items()],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env, text=True)


def stress(srv, clients, secs, args):
    port, pid = srv.stdout.readline().split()
    return subprocess.Popen(
        [RUNNER, '127.0.0.1', port, 'user%d', 'pass', str(clients),
         str(secs)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env=dict(os.environ, SERVER_PID=pid, IMAPTEST_ARGS=args))


def kept(out):
    return [l for l in out.splitlines() if l.startswith(KEEP)]


def run_one(build, src, clients, secs, args, server_env=None):
    srv = serve(build, src, server_env)
    try:
        out = stress(srv, clients, secs, args).communicate()[0]
    finally:
        srv.stdin.close()
        srv.wait()
    return kept(out)


def run_dovecot(ctl, conf, clients, secs, args):
    """The reference Dovecot (port 14300), fresh mail, one run."""
    subprocess.run([ctl, 'reset-mail'], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([ctl, 'start'] + ([conf] if conf else []), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid = subprocess.run([ctl, 'pid'], check=True, text=True,
                             stdout=subprocess.PIPE).stdout.strip()
        out = subprocess.run(
            [RUNNER, '127.0.0.1', '14300', 'user%d', 'pass', str(clients),
             str(secs)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=dict(os.environ, SERVER_PID=pid,
                                IMAPTEST_ARGS=args)).stdout
    finally:
        subprocess.run([ctl, 'stop'], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return kept(out)


def run_together(builds, clients, secs, args):
    """Every build under its own imaptest at the same time: on a busy
    machine they share the same load, minute by minute."""
    srvs = [serve(b, s) for b, s in builds]
    try:
        runs = [stress(v, clients, secs, args) for v in srvs]
        return [kept(p.communicate()[0]) for p in runs]
    finally:
        for v in srvs:
            v.stdin.close()
            v.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('builds', nargs='+')
    ap.add_argument('--clients', default='10,50')
    ap.add_argument('--secs', type=int, default=30)
    ap.add_argument('--rounds', type=int, default=1)
    ap.add_argument('--args', default='logout=0')
    ap.add_argument('--together', action='store_true',
                    help='run the builds at the same time, not in turns')
    ap.add_argument('--ab-env', metavar='NAME=VALUE',
                    help='run each build twice per round, as is and with '
                    'this in the server\'s environment (e.g. GLIBC_TUNABLES='
                    'glibc.malloc.tcache_count=7, glibc\'s default tcache '
                    'for the spawner\'s children)')
    ap.add_argument('--dovecot', metavar='CTL', action='append',
                    default=[],
                    help='also run the instruments\' Dovecot (its ctl.sh) '
                    'in each round, perf then default configuration; '
                    'repeatable (one instance after the other)')
    a = ap.parse_args()
    envs = [{}]
    if a.ab_env:
        k, _, v = a.ab_env.partition('=')
        envs.append({k: v})
    src_default = os.path.dirname(os.path.dirname(HERE))
    builds = [(os.path.abspath(b.partition('=')[0]),
               b.partition('=')[2] or src_default) for b in a.builds]
    for r in range(1, a.rounds + 1):
        for n in (int(c) for c in a.clients.split(',')):
            if a.together:
                for (build, _), lines in zip(builds, run_together(
                        builds, n, a.secs, a.args)):
                    print('round %d, %d clients, %s (together):' %
                          (r, n, build))
                    for line in lines:
                        print('   ', line, flush=True)
                continue
            for b in a.builds:
                build, _, src = b.partition('=')
                for extra in envs:
                    print('round %d, %d clients, %s%s:' % (
                        r, n, build, ''.join(' ' + k + '=' + v
                                             for k, v in extra.items())),
                          flush=True)
                    for line in run_one(os.path.abspath(build),
                                        src or src_default, n, a.secs,
                                        a.args, extra):
                        print('   ', line, flush=True)
            for ctl in a.dovecot:
                for conf in ('perf', ''):
                    print('round %d, %d clients, Dovecot %s%s:' % (
                        r, n, conf or 'default', '' if len(a.dovecot) == 1
                        else ' (%s)' % os.path.dirname(ctl)), flush=True)
                    for line in run_dovecot(ctl, conf, n, a.secs, a.args):
                        print('   ', line, flush=True)


if __name__ == '__main__':
    main()
