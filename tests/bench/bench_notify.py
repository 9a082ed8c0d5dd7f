#!/usr/bin/env python3
"""bench_notify.py - what NOTIFY (RFC 5465) costs the session that
changes things, and how soon the watchers hear of it.  A benchmark: it
prints figures, it asserts nothing.

One user; W watcher sessions, each with INBOX selected and
    NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge
    FlagChange)) (personal (MessageNew MessageExpunge FlagChange))
read by a thread each.  An actor session appends N messages to INBOX
and N to another mailbox, then stores a flag on all of them.  Printed
for W = 0 and W = the given number: the actor's wall time, the mailbox
process's CPU time (/proc/PID/stat, 10 ms resolution: on a loaded
machine the wall time includes waiting for a CPU, the CPU time does
not), and the median and worst delay from an APPEND's tagged OK to the
first watcher's unsolicited EXISTS (INBOX) or STATUS (the other one).

Usage (from a build directory with mailkeepd):
    MK_BUILD_DIR=build python3 tests/bench/bench_notify.py [N] [W]
"""
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'e2e'))
from bench_message_model import mailbox_pid  # noqa: E402
from mkharness import Closed, Server  # noqa: E402
from mkimap import message  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
W = int(sys.argv[2]) if len(sys.argv) > 2 else 10
NOTIFY = ('NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge '
          'FlagChange)) (personal (MessageNew MessageExpunge FlagChange))')


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


class Watcher(threading.Thread):
    """Reads a session's unsolicited lines; notes when the first of each
    kind arrives after mark()."""

    def __init__(self, c):
        super().__init__(daemon=True)
        self.c = c
        self.seen = {}
        self.lock = threading.Lock()

    def run(self):
        try:
            while True:
                line = self.c.readline(timeout=600)
                kind = ('exists' if line.endswith(' EXISTS') else
                        'status' if line.startswith('* STATUS ') else None)
                if kind:
                    with self.lock:
                        self.seen.setdefault(kind, time.perf_counter())
        except (Closed, OSError):
            pass

    def mark(self):
        with self.lock:
            self.seen = {}

    def first(self, kind, timeout=5.0):
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            with self.lock:
                if kind in self.seen:
                    return self.seen[kind]
            time.sleep(0.0005)
        return None


def run(srv, user, w):
    watchers = []
    for _ in range(w):
        c = srv.client(login=user)
        c.cmd('SELECT INBOX')
        c.cmd(NOTIFY)
        t = Watcher(c)
        t.start()
        watchers.append(t)
    actor = srv.client(login=user)
    box = 'box%d' % w
    actor.cmd('CREATE %s' % box)
    pid = mailbox_pid(srv)
    data = message(subject='bench', body='x' * 2000 + '\r\n')
    delays = []
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    for i in range(N):
        for mbox, kind in (('INBOX', 'exists'), (box, 'status')):
            if watchers:
                watchers[0].mark()
            actor.append(mbox, data)
            ok = time.perf_counter()
            if watchers and i % 10 == 0:
                got = watchers[0].first(kind)
                if got is not None:
                    delays.append(max(0.0, got - ok) * 1000)
    actor.cmd('SELECT INBOX')
    actor.cmd('STORE 1:* +FLAGS.SILENT (\\Flagged)')
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    for t in watchers:
        t.c.close()
    actor.close()
    return wall, cpu, delays


def main():
    with Server() as srv:
        user = ('bench', 'pw-bench')
        srv.ctl('useradd', user[0], '--password-stdin', stdin=user[1] + '\n')
        print('N = %d appends per mailbox, then STORE 1:* on INBOX' % N)
        print('load average before: %s' % open('/proc/loadavg').read().split()[0])
        for w in (0, W):
            wall, cpu, delays = run(srv, user, w)
            line = '%2d watchers: actor %.2f s wall, mailbox process %.2f s CPU' % (
                w, wall, cpu)
            if delays:
                line += '; delay to first watcher: median %.2f ms, worst %.2f ms' % (
                    statistics.median(delays), max(delays))
            print(line)
        print('load average after: %s' % open('/proc/loadavg').read().split()[0])


if __name__ == '__main__':
    main()
