#!/usr/bin/env python3
"""bench_bigmbox.py - a 100,000-message mailbox (issue 11 item 2): the
fill rate by MULTIAPPEND in batches of 500, then SELECT, STATUS,
UID FETCH 1:* (FLAGS) and SEARCH UNSEEN, each printed beside its goal.
A benchmark: it prints figures, it asserts nothing.

The messages are bench_fts.py's (~2 KiB, mail-shaped).  The server runs
with its defaults (fsync = messages: every APPEND's commit is synced
before its OK; fts_at_append = no).  After the fill, two messages in
three are marked \\Seen (the first two thirds), so SEARCH UNSEEN
answers a third of the mailbox and the first unseen is far from the
start.  Each
command runs 7 times after one warm-up; the median is reported.  STATUS
is timed on a mailbox that is not selected.  Before the commands, the
benchmark waits for the idle full-text indexer (which indexes what was
appended once no command has added any for a second) to finish, since it
runs in the same process; it prints how long that took.  Each figure is
the wall time seen by the client and the CPU time the mailbox process
spent (from /proc): on a loaded machine the first includes waiting for a
core.  For the fill, the second figure is the rate the mailbox process's
CPU time alone would allow (messages per second of its CPU).

Usage (from a release build directory with mailkeepd):
    MK_BUILD_DIR=build python3 tests/bench/bench_bigmbox.py [N]
"""
import os
import sqlite3
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
sys.path.insert(0, HERE)
from mkharness import Server  # noqa: E402
from bench_fts import messages, fill, store_path  # noqa: E402
from bench_message_model import mailbox_pid  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
GOALS = [('SELECT', 'SELECT INBOX', 5.0),
         ('EXAMINE', 'EXAMINE INBOX', 5.0),
         ('STATUS', 'STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY '
          'UNSEEN HIGHESTMODSEQ SIZE)', 5.0),
         ('UID FETCH 1:* (FLAGS)', 'UID FETCH 1:* (FLAGS)', 40.0),
         ('SEARCH UNSEEN', 'SEARCH UNSEEN', 10.0)]
FILL_GOAL = 10000.0


def raw_cmd(c, cmd):
    """Sends cmd and reads its whole answer as bytes, without splitting
    it into lines (the harness's line reader costs more than the server
    on 100,000 lines); returns the tagged line."""
    tag = c.next_tag().encode()
    c.send(b'%s %s\r\n' % (tag, cmd.encode()))
    data = bytearray(c.buf)
    c.buf = b''
    end = b'\r\n' + tag + b' '
    c.sock.settimeout(600)
    while True:
        at = data.find(end, max(0, len(data) - 65536 - len(end)))
        if data.startswith(end[2:]):
            at = -2
        if at != -1 and data.endswith(b'\r\n') and at + 2 < len(data):
            return bytes(data[at + 2:]).decode()
        chunk = c.sock.recv(1 << 20)
        if not chunk:
            raise RuntimeError('connection closed')
        data += chunk


def cpu_ms(pid):
    """User + system CPU time of a process so far, in ms."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / \
        os.sysconf('SC_CLK_TCK')


def timed(c, pid, cmd, runs=7):
    """Median wall time (ms) and the mailbox process's CPU time per run
    (ms): on a loaded machine the wall time includes waiting for a core,
    the CPU time does not."""
    raw_cmd(c, cmd)
    times = []
    cpu0 = cpu_ms(pid)
    for _ in range(runs):
        t0 = time.monotonic()
        t = raw_cmd(c, cmd)
        times.append((time.monotonic() - t0) * 1000)
        if ' OK' not in t:
            raise RuntimeError('%s: %s' % (cmd, t))
    return statistics.median(times), (cpu_ms(pid) - cpu0) / runs


def wait_fts(s, user, timeout=900):
    """Waits until the idle full-text indexer has taken every message
    (fts_at_append = no): until then it shares the process with the
    commands measured.  Returns the seconds waited."""
    t0 = time.monotonic()
    db = sqlite3.connect('file:%s?mode=ro' % store_path(s, user), uri=True)
    try:
        while time.monotonic() - t0 < timeout:
            try:
                left = db.execute('SELECT count(*) FROM fts_pending WHERE'
                                  ' state = 0').fetchone()[0]
            except sqlite3.OperationalError:
                left = 1
            if left == 0:
                break
            time.sleep(1)
    finally:
        db.close()
    return time.monotonic() - t0


def main():
    print('bench_bigmbox: %d messages of ~2 KiB, %s, load average %s' % (
        N, time.strftime('%Y-%m-%d %H:%M'),
        ' '.join(open('/proc/loadavg').read().split()[:3])))
    with Server(users={'alice': 'pw'}) as s:
        c = s.client(login=('alice', 'pw'), timeout=600)
        msgs = list(messages(N))	# made before the clock starts
        pid = mailbox_pid(s)
        cpu0 = cpu_ms(pid)
        rate = fill(c, msgs)
        fill_cpu = (cpu_ms(pid) - cpu0) * 1000.0 / N	# us per message
        del msgs
        c.cmd('SELECT INBOX', timeout=600)
        c.cmd('STORE 1:%d +FLAGS.SILENT (\\Seen)' % (N * 2 // 3),
              timeout=600)
        c.cmd('CREATE Other')
        print('the idle full-text indexer took %.0f s more' % wait_fts(
            s, 'alice'))
        res = []
        for name, cmd, goal in GOALS:
            if name == 'STATUS':
                c.cmd('SELECT Other')
            elif name == 'UID FETCH 1:* (FLAGS)':
                c.cmd('SELECT INBOX', timeout=600)
            res.append((name, timed(c, pid, cmd), goal))
        c.cmd('LOGOUT')
    print('%-28s %14s %14s %10s' % ('operation', 'wall', 'server CPU',
                                    'goal'))
    cpu_rate = 1e6 / fill_cpu if fill_cpu > 0 else float('inf')
    print('%-28s %8.0f msg/s %8.0f msg/s %4s %5.0f %s' % (
        'fill (MULTIAPPEND x500)', rate, cpu_rate, '>=', FILL_GOAL,
        'met' if rate >= FILL_GOAL else 'NOT met' +
        (' (CPU within)' if cpu_rate >= FILL_GOAL else '')))
    print('  (fill: the server CPU column is messages per second of the '
          'mailbox process\'s CPU, %.0f us per message)' % fill_cpu)
    for name, (ms, cpu), goal in res:
        print('%-28s %11.1f ms %11.1f ms %4s %5.0f %s' % (
            name, ms, cpu, '<=', goal, 'met' if ms <= goal else
            'NOT met' + (' (CPU within)' if cpu <= goal else '')))


if __name__ == '__main__':
    main()
