#!/usr/bin/env python3
"""bench_context.py - what CONTEXT=SEARCH / CONTEXT=SORT cost on a large
mailbox (issue 12, item 2).  A benchmark: it prints figures, it asserts
nothing.

The mailbox is bench_sort.py's (N messages in conversations).  First
PARTIAL pages of SEARCH and SORT; then a session holding two update
contexts (SEARCH UNSEEN and SORT (DATE) UNSEEN) is told of another
session's changes, and what is timed is that session's NOOP, which
carries the EXISTS / FETCH / EXPUNGE and the ADDTO / REMOVEFROM: one
APPEND, 1,000 flag changes, every message's flag changed (the SORT
context then takes the merge path), an expunge of 1,000.  Beside it, the
same NOOP of a third session without contexts: what the updates add.  Wall time
from sending to the tagged answer, and the mailbox process's CPU time
(/proc/PID/stat, 10 ms resolution), best of 3 for the pages.

Usage (from a build directory with mailkeepd):
    MK_BUILD_DIR=build python3 tests/bench/bench_context.py [N]
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'e2e'))
from bench_message_model import mailbox_pid  # noqa: E402
from bench_message_model import timed as timed_answer  # noqa: E402
from bench_sort import cpu_ms, fill, measure, messages  # noqa: E402
from mkharness import Server  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000


def timed(c, pid, command):
    """One run: wall ms, CPU ms, response bytes."""
    cpu0 = cpu_ms(pid)
    ms, size = timed_answer(c, command)
    return ms, cpu_ms(pid) - cpu0, size


def row(what, ms, cpu, size):
    print('%-52s %8.1f %8.0f %10d' % (what, ms, cpu, size))


def main():
    srv = Server(users={'bench': 'pw'}, config={'fsync': 'no'})
    try:
        a = srv.client(login=('bench', 'pw'), timeout=600)
        t0 = time.time()
        fill(a, 'Big', messages(N, random.Random(12)))
        print('filled %d messages in %.1f s' % (N, time.time() - t0))
        pid = mailbox_pid(srv)
        a.cmd('SELECT Big')
        b = srv.client(login=('bench', 'pw'), timeout=600)
        b.cmd('SELECT Big')
        plain = srv.client(login=('bench', 'pw'), timeout=600)
        plain.cmd('SELECT Big')
        print('load average %.1f %.1f %.1f on %d CPUs' % (
            os.getloadavg() + (os.cpu_count(),)))
        print('\n%-52s %8s %8s %10s' % ('command (%d messages)' % N,
                                        'wall ms', 'CPU ms', 'response'))
        for cmd in ('SEARCH RETURN (PARTIAL 1:100) ALL',
                    'SEARCH RETURN (PARTIAL -1:-100) UNSEEN',
                    'UID SEARCH RETURN (PARTIAL 5001:5100 COUNT) ALL',
                    'SORT RETURN (PARTIAL 1:50) (DATE) UTF-8 ALL',
                    'SORT RETURN (PARTIAL -1:-50) (SUBJECT) UTF-8 ALL'):
            ms, cpu, _, size = measure(a, pid, cmd, repeat=3)
            row(cmd, ms, cpu, size)
        for cmd in ('SEARCH RETURN (UPDATE COUNT) UNSEEN',
                    'SORT RETURN (UPDATE COUNT) (DATE) UTF-8 UNSEEN'):
            row(cmd, *timed(a, pid, cmd))
        row('NOOP, nothing changed', *timed(a, pid, 'NOOP'))
        steps = (
            ('APPEND of 1 message', lambda: b.append(
                'Big', b'Subject: new\r\nDate: 1 Jan 2026 10:00:00 +0000'
                b'\r\n\r\nnew\r\n')),
            ('STORE 1:1000 +FLAGS (\\Seen)', lambda: b.cmd(
                'STORE 1:1000 +FLAGS (\\Seen)')),
            ('STORE 1:* +FLAGS (\\Seen)', lambda: b.cmd(
                'STORE 1:* +FLAGS (\\Seen)')),
            ('STORE 1:* -FLAGS (\\Seen)', lambda: b.cmd(
                'STORE 1:* -FLAGS (\\Seen)')),
            ('EXPUNGE of 1,000', lambda: (
                b.cmd('STORE 1:1000 +FLAGS (\\Deleted)'),
                b.cmd('EXPUNGE'))),
        )
        for what, step in steps:
            step()
            row('NOOP after ' + what, *timed(a, pid, 'NOOP'))
            row('  the same without contexts', *timed(plain, pid, 'NOOP'))
        a.cmd('LOGOUT')
        b.cmd('LOGOUT')
    finally:
        srv.stop()
        srv.cleanup()


if __name__ == '__main__':
    main()
