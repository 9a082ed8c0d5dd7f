#!/usr/bin/env python3
"""bench_append_pages.py - what one APPEND writes (issue 10 item 3,
issue 11 item 2): the store's WAL frames per APPEND, by table or index,
and the server's CPU per message.  A benchmark: it prints figures, it
asserts nothing.

A session selects INBOX (as imaptest's sessions do) and then, ROUNDS
times, APPENDs one ~2 KiB message (bench_fts.py's) and sends NOOP (the
session sees the message and, before schema 14's branch, claimed its
\\Recent there or at the end of the APPEND).  Around each command the
benchmark reads the store's -wal file: every frame SQLite added (a page
written) is attributed, by its page number, to the table or index that
holds the page (SQLite's dbstat, read after the run), and a frame that
ends a transaction counts one commit.  A command of two transactions
is undercounted when a checkpoint falls between them (the second
restarts the file).  Then, once the idle full-text indexer has finished
(its writes would be counted too), for the first 100 messages a UID
STORE +FLAGS (\\Seen) each, and a STORE +FLAGS (\\Deleted) and EXPUNGE
each.  Then it fills BATCHES MULTIAPPENDs of 500 messages and reports
the same per message.

Usage (from a build directory with mailkeepd):
    MK_BUILD_DIR=build python3 tests/bench/bench_append_pages.py \
        [ROUNDS] [BATCHES]
With MK_PERF=FILE (MK_PERF_FILL=FILE) in the environment, `perf record`
samples the mailbox process during the single APPENDs (the MULTIAPPENDs)
into FILE (call graphs by MK_PERF_CG: fp, the default, or dwarf).
"""
import collections
import os
import sqlite3
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
sys.path.insert(0, HERE)
from mkharness import Server  # noqa: E402
from bench_fts import messages, fill, store_path  # noqa: E402
from bench_message_model import mailbox_pid  # noqa: E402
from bench_bigmbox import wait_fts  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
BATCHES = int(sys.argv[2]) if len(sys.argv) > 2 else 4


def cpu_ms(pid):
    """The time the process has run on a CPU, in ms, from schedstat (in
    ns: the clock ticks of /proc/PID/stat are 10 ms, too coarse for a
    few hundred commands)."""
    with open('/proc/%d/schedstat' % pid) as f:
        return int(f.read().split()[0]) / 1e6


def wal_frames(path):
    """(salt, [(page, commit)]) of the -wal file's current generation:
    the frames, from the start, whose salt is the header's."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        return None, []
    if len(data) < 32:
        return None, []
    psize = struct.unpack('>I', data[8:12])[0]
    salt = data[16:24]
    out, at = [], 32
    while at + 24 + psize <= len(data):
        page, commit = struct.unpack('>II', data[at:at + 8])
        if data[at + 8:at + 16] != salt:
            break
        out.append((page, commit != 0))
        at += 24 + psize
    return salt, out


class Wal:
    """The frames written since the last look."""

    def __init__(self, path):
        self.path = path
        self.salt, frames = wal_frames(path)
        self.n = len(frames)

    def new(self):
        salt, frames = wal_frames(self.path)
        # A checkpoint, then a new writer, restarts the file with a new
        # salt: everything in it is new.
        start = self.n if salt == self.salt else 0
        self.salt, self.n = salt, len(frames)
        return frames[start:]


def page_owners(db_path):
    db = sqlite3.connect('file:%s?mode=ro' % db_path, uri=True)
    try:
        return {p: n for n, p in db.execute(
            'SELECT name, pageno FROM dbstat')}
    finally:
        db.close()


def tally(frames, into):
    commits = 0
    for page, commit in frames:
        into[page] += 1
        commits += commit
    return commits


def report(title, counts, owners, per, commits, cpu_us):
    by = collections.Counter()
    for page, n in counts.items():
        by[owners.get(page, '(freed or new)' if page > 1 else
                      '(header page)')] += n
    total = sum(by.values())
    print('%s: %.2f pages written per message, %.2f commits, '
          '%.0f us server CPU per message' % (title, total / per,
                                               commits / per, cpu_us))
    for name, n in by.most_common():
        print('  %-24s %6.2f' % (name, n / per))


def singles(c, wal, pid, msgs):
    counts = {'APPEND': collections.Counter(),
              'NOOP': collections.Counter()}
    commits = collections.Counter()
    cpu0 = cpu_ms(pid)
    for m in msgs:
        wal.new()
        c.append("INBOX", m, literal_plus=True)
        commits['APPEND'] += tally(wal.new(), counts['APPEND'])
        c.cmd('NOOP')
        commits['NOOP'] += tally(wal.new(), counts['NOOP'])
    return counts, commits, (cpu_ms(pid) - cpu0) * 1000.0 / len(msgs)


def stores(c, wal, pid, uids):
    """UID STORE +FLAGS (\\Seen) of one message at a time, then the same
    messages' \\Deleted and an EXPUNGE each: (pages, commits, us CPU)
    per command, by command."""
    out = {}
    for name, fmt in (('STORE +FLAGS (\\Seen)',
                       'UID STORE %d +FLAGS (\\Seen)'),
                      ('STORE +FLAGS (\\Deleted) + EXPUNGE',
                       'UID STORE %d +FLAGS (\\Deleted)')):
        counts, commits = collections.Counter(), 0
        cpu0 = cpu_ms(pid)
        for u in uids:
            wal.new()
            c.cmd(fmt % u)
            if 'EXPUNGE' in name:
                c.cmd('EXPUNGE')
            commits += tally(wal.new(), counts)
        out[name] = (counts, commits,
                     (cpu_ms(pid) - cpu0) * 1000.0 / len(uids))
    return out


def perf_start(var, pid):
    if not os.environ.get(var):
        return None
    perf = subprocess.Popen(['perf', 'record', '-q', '--call-graph',
                             os.environ.get('MK_PERF_CG', 'fp'), '-o',
                             os.environ[var], '-p', str(pid)])
    time.sleep(1)
    return perf


def perf_stop(perf):
    if perf is not None:
        perf.send_signal(2)
        perf.wait()


def main():
    print('bench_append_pages: %d single APPENDs, %d x 500 MULTIAPPEND, '
          '%s, load average %s' % (ROUNDS, BATCHES,
                                   time.strftime('%Y-%m-%d %H:%M'),
                                   ' '.join(open('/proc/loadavg')
                                            .read().split()[:3])))
    msgs = list(messages(ROUNDS + 500 * BATCHES + 500))
    with Server(users={'alice': 'pw'}) as s:
        c = s.client(login=('alice', 'pw'), timeout=600)
        c.cmd('SELECT INBOX')
        fill(c, msgs[:500])		# a mailbox of some size first
        c.cmd('NOOP')
        pid = mailbox_pid(s)
        wal = Wal(store_path(s, 'alice') + '-wal')
        perf = perf_start('MK_PERF', pid)
        counts, commits, cpu = singles(c, wal, pid, msgs[500:500 + ROUNDS])
        perf_stop(perf)
        # the idle full-text indexer would write in the same minutes
        wait_fts(s, 'alice')
        flagged = stores(c, wal, pid, range(1, 1 + min(ROUNDS, 100)))
        perf = perf_start('MK_PERF_FILL', pid)
        batch = collections.Counter()
        wal.new()
        cpu0 = cpu_ms(pid)
        bcommits = 0
        for i in range(BATCHES):
            at = 500 + ROUNDS + 500 * i
            fill(c, msgs[at:at + 500])
            bcommits += tally(wal.new(), batch)
        bcpu = (cpu_ms(pid) - cpu0) * 1000.0 / max(1, 500 * BATCHES)
        perf_stop(perf)
        c.cmd('LOGOUT')
        owners = page_owners(store_path(s, 'alice'))
    report('single APPEND', counts['APPEND'], owners, ROUNDS,
           commits['APPEND'], cpu)
    report('NOOP after it (\\Recent claim)', counts['NOOP'], owners,
           ROUNDS, commits['NOOP'], 0)
    for name, (cnt, com, cpu) in flagged.items():
        report(name, cnt, owners, min(ROUNDS, 100), com, cpu)
    if BATCHES:
        report("MULTIAPPEND x500", batch, owners, 500 * BATCHES, bcommits,
           bcpu)


if __name__ == '__main__':
    main()
