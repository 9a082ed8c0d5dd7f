#!/usr/bin/env python3
"""bench_message_model.py - what FETCH of structure and SEARCH cost on a
10,000-message mailbox (issue 3, item 6).  A benchmark: it prints
figures, it asserts nothing.

Two mailboxes hold the same 10,000 multipart messages, one with ~1 KiB
bodies and one with ~64 KiB bodies.  If FETCH ENVELOPE BODYSTRUCTURE read
message bodies, its time and the bytes the mailbox process reads would
grow with the body size; they don't, because the structure is computed
at APPEND and stored.  The bytes read are the mailbox process's rchar
from /proc/PID/io (every read(2)/pread(2) SQLite makes).  The SEARCH
figures compare indexed keys (flags, UID, size, date) with a BODY search,
which has to decode bodies.

Usage (from a build directory with mailkeepd):
    MK_BUILD_DIR=build python3 tests/bench/bench_message_model.py [N]
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'e2e'))
from mkharness import Server, children_of  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
BATCH = 200


def message(i, body_kib):
    filler = ('%06d ' % i) * (body_kib * 1024 // 7)
    return ('From: Sender %d <s%d@example.org>\r\n'
            'To: Team <team@example.org>\r\n'
            'Subject: Report %d\r\n'
            'Date: Mon, %d Mar 2025 10:%02d:00 +0100\r\n'
            'Message-ID: <%d.%d@example.org>\r\n'
            'MIME-Version: 1.0\r\n'
            'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n'
            '--b%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
            'Summary of report %d.\r\n'
            '--b%d\r\nContent-Type: application/octet-stream; name="r.bin"\r\n'
            'Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b%d--\r\n'
            % (i, i, i, 1 + i % 28, i % 60, i, body_kib, i, i, i, i,
               filler, i)).encode()


def fill(c, mbox, body_kib):
    c.cmd('CREATE %s' % mbox)
    for start in range(0, N, BATCH):
        parts = []
        for i in range(start, min(N, start + BATCH)):
            m = message(i, body_kib)
            flags = '(\\Seen)' if i % 3 else '(\\Flagged)'
            parts.append(b' %s {%d+}\r\n%s' % (flags.encode(), len(m), m))
        tag = c.next_tag()
        c.send(b'%s APPEND %s' % (tag.encode(), mbox.encode()) +
               b''.join(parts) + b'\r\n')
        tagged, _ = c.read_until_tagged(tag, timeout=600)
        assert ' OK ' in tagged, tagged


def mailbox_pid(srv):
    """The user's mailbox process: named mk-mailbox/<user> (spawn.c)."""
    for pid in children_of(srv.pid):
        try:
            with open('/proc/%d/comm' % pid) as f:
                if f.read().startswith('mk-mailbox'):
                    return pid
        except OSError:
            continue
    raise RuntimeError('no mailbox process found')


def rchar(pid):
    with open('/proc/%d/io' % pid) as f:
        for line in f:
            if line.startswith('rchar:'):
                return int(line.split()[1])
    return 0


def timed(c, command):
    """Sends command and reads its whole answer: (wall ms, response
    bytes).  Also bench_sort.py's."""
    t0 = time.perf_counter()
    tag = c.next_tag()
    c.send('%s %s\r\n' % (tag, command))
    size = 0
    while True:
        line = c.readline_bytes(timeout=600)
        size += len(line) + 2
        if line.startswith(tag.encode() + b' '):
            break
    return (time.perf_counter() - t0) * 1000, size


def measure(c, pid, command, repeat=3):
    """Best wall time of repeat runs (ms), bytes read, response bytes."""
    best = None
    for _ in range(repeat):
        before = rchar(pid)
        ms, size = timed(c, command)
        read = rchar(pid) - before
        if best is None or ms < best[0]:
            best = (ms, read, size)
    return best


def main():
    srv = Server(users={'bench': 'pw'}, config={'fsync': 'no'})
    try:
        c = srv.client(login=('bench', 'pw'), timeout=600)
        t0 = time.time()
        fill(c, 'Small', 1)
        fill(c, 'Large', 64)
        print('filled 2 x %d messages in %.1f s' % (N, time.time() - t0))
        pid = mailbox_pid(srv)
        print('\n%-44s %10s %14s %12s' % ('command (%d messages)' % N, 'ms',
                                          'bytes read', 'response'))
        for mbox in ('Small', 'Large'):
            c.cmd('SELECT %s' % mbox)
            for cmd in ('UID FETCH 1:* (FLAGS)',
                        'FETCH 1:* (ENVELOPE)',
                        'FETCH 1:* (BODYSTRUCTURE)',
                        'FETCH 1:* (ENVELOPE BODYSTRUCTURE RFC822.SIZE)',
                        'SEARCH FLAGGED',
                        'SEARCH UNSEEN',
                        'SEARCH LARGER 30000',
                        'SEARCH SINCE 20-Mar-2025',
                        'UID SEARCH UID 5000:5100',
                        'SEARCH BODY "report 4242"'):
                ms, read, size = measure(c, pid, cmd,
                                         repeat=1 if 'BODY' in cmd else 3)
                print('%-44s %10.1f %14d %12d' % ('%s: %s' % (mbox, cmd), ms,
                                                  read, size))
        print('\nA structure FETCH reads about the same bytes for 1 KiB and '
              '64 KiB bodies:\nit reads the stored structure, not the '
              'messages.  SEARCH BODY reads every body.')
        c.cmd('LOGOUT')
    finally:
        srv.stop()
        srv.cleanup()


if __name__ == '__main__':
    main()
