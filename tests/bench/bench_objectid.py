#!/usr/bin/env python3
"""bench_objectid.py - what OBJECTID, SAVEDATE and PREVIEW cost (issue
12, item 7).  A benchmark: it prints figures, it asserts nothing.

Fills a mailbox with N messages in conversations (bench_sort.py's
messages()), then times over the network, best of 5, with the mailbox
process's CPU time: FETCH 1:* of each new item, SEARCH by EMAILID,
THREADID and save date, and APPEND throughput is printed as the fill
time (every APPEND now also computes a preview and a thread).  Then the
store is taken back to schema 9 (as test_objectid.py's Migration does),
and the time of the version 11 migration at the next login (ids and
threads of N bodies) and of the idle preview backfill is printed.

Usage (from a build directory with mailkeepd):
    MK_BUILD_DIR=build python3 tests/bench/bench_objectid.py [N]
"""
import os
import random
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'e2e'))
from bench_message_model import mailbox_pid  # noqa: E402
from bench_sort import fill, measure, messages  # noqa: E402
from mkharness import Server, wait_for  # noqa: E402
from mkimap import fetch_map  # noqa: E402
from test_objectid import DOWNGRADE_SQL  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000



def one_fetch(c, seq, item):
    tagged, unt = c.cmd_bytes('FETCH %d %s' % (seq, item))
    return fetch_map(unt)[seq]


def main():
    srv = Server(users={'bench': 'pw'}, config={'fsync': 'no'})
    try:
        c = srv.client(login=('bench', 'pw'), timeout=600)
        msgs = messages(N, random.Random(12))
        t0 = time.time()
        fill(c, 'Big', msgs)
        print('filled %d messages (%.1f MB) in %.1f s' % (
            N, sum(len(m) for m in msgs) / 1e6, time.time() - t0))
        pid = mailbox_pid(srv)
        c.cmd('SELECT Big')
        email = one_fetch(c, N // 2, 'EMAILID')['EMAILID'][0]
        thread = one_fetch(c, N // 2, 'THREADID')['THREADID'][0]
        print('load average %.1f %.1f %.1f on %d CPUs' % (
            os.getloadavg() + (os.cpu_count(),)))
        print('\n%-44s %8s %8s %10s' % ('command (%d messages)' % N,
                                        'wall ms', 'CPU ms', 'response'))
        for cmd in ('FETCH 1:* (UID)',
                    'FETCH 1:* (EMAILID)',
                    'FETCH 1:* (THREADID)',
                    'FETCH 1:* (SAVEDATE)',
                    'FETCH 1:* (PREVIEW)',
                    'SEARCH EMAILID ' + email,
                    'SEARCH THREADID ' + thread,
                    'SEARCH SAVEDSINCE 1-Jan-2020',
                    'SEARCH SAVEDBEFORE 1-Jan-2020'):
            ms, cpu, _, size = measure(c, pid, cmd)
            print('%-44s %8.1f %8.0f %10d' % (cmd, ms, cpu, size))
        c.cmd('LOGOUT')
        srv.stop()
        path = os.path.join(srv.data_dir, 'users', 'bench', 'store.db')
        db = sqlite3.connect(path)
        db.executescript(DOWNGRADE_SQL)
        db.close()
        srv.start()
        t0 = time.time()
        c = srv.client(login=('bench', 'pw'), timeout=600)
        c.cmd('SELECT Big')
        print('\nmigration to schema 11 of %d bodies, at login: %.1f s' % (
            N, time.time() - t0))
        wait_for(lambda: one_fetch(c, 1, 'PREVIEW (LAZY)')['PREVIEW']
                 is not None, timeout=3600, interval=0.5,
                 what='the preview backfill')
        print('idle preview backfill done %.1f s after login' % (
            time.time() - t0))
        c.cmd('LOGOUT')
    finally:
        srv.stop()
        srv.cleanup()


if __name__ == '__main__':
    main()
