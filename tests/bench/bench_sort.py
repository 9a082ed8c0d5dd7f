#!/usr/bin/env python3
"""bench_sort.py - what SORT and THREAD cost on a 100,000-message mailbox
(issue 12, item 1; goal: SORT (DATE) ALL and THREAD=REFERENCES ALL under
300 ms).  A benchmark: it prints figures, it asserts nothing.

The mailbox holds N messages in conversations of 1 to 12 messages (a
reply names its thread's earlier messages in References, some only in
In-Reply-To, some by subject alone), 500 senders with display names,
dates spread over a year and arriving out of order.  Each command is
timed over the network, from sending it to reading its tagged answer
(the answer itself is some 600 KB for 100,000 numbers), best of 5, and
the CPU time the mailbox process spent on it is read from
/proc/PID/stat (10 ms resolution): on a loaded machine the wall time
includes waiting for a CPU, the CPU time does not.
"bytes read" is the mailbox process's rchar (/proc/PID/io): the sort
keys come from rows written at APPEND, so the figure stays far below
the size of the messages (which a sort that parsed them would read
whole).

Usage (from a build directory with mailkeepd):
    MK_BUILD_DIR=build python3 tests/bench/bench_sort.py [N]
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'e2e'))
from bench_message_model import mailbox_pid, rchar, timed  # noqa: E402
from mkharness import Server  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
BATCH = 500
MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep',
          'Oct', 'Nov', 'Dec']


def messages(n, rnd):
    """n messages as bytes, in conversations."""
    out = []
    topic = 0
    while len(out) < n:
        topic += 1
        ids = []
        for k in range(min(rnd.randint(1, 12), n - len(out))):
            sender = rnd.randrange(500)
            mid = '%d.%d@bench.example' % (topic, k)
            hdr = ['From: Person %d <p%d@example.org>' % (sender, sender),
                   'To: list-%d@example.org' % (topic % 40),
                   'Subject: %sTopic number %d' % ('Re: ' if k else '',
                                                   topic),
                   'Date: %d %s 2025 %02d:%02d:%02d +0100' % (
                       rnd.randint(1, 28), rnd.choice(MONTHS),
                       rnd.randrange(24), rnd.randrange(60),
                       rnd.randrange(60)),
                   'Message-ID: <%s>' % mid]
            if ids and k % 5 != 4:
                hdr.append('References: ' + ' '.join(
                    '<%s>' % i for i in ids[-8:]))
            elif ids and k % 10 == 4:
                hdr.append('In-Reply-To: <%s>' % ids[-1])
            ids.append(mid)
            body = 'Message %d of topic %d.\r\n' % (k, topic) * 20
            out.append(('\r\n'.join(hdr) + '\r\n\r\n' + body).encode())
    rnd.shuffle(out)
    return out


def cpu_ms(pid):
    """CPU time (user + system) the process has used, in ms."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / \
        os.sysconf('SC_CLK_TCK')


def measure(c, pid, command, repeat=5):
    """Best of repeat runs: wall ms (client side), the mailbox process's
    CPU ms, bytes it read, response bytes."""
    best = None
    for _ in range(repeat):
        before, cpu0 = rchar(pid), cpu_ms(pid)
        ms, size = timed(c, command)
        run = (ms, cpu_ms(pid) - cpu0, rchar(pid) - before, size)
        if best is None or run[:2] < best[:2]:
            best = run
    return best


def fill(c, mbox, msgs):
    c.cmd('CREATE %s' % mbox)
    for start in range(0, len(msgs), BATCH):
        parts = [b' {%d+}\r\n%s' % (len(m), m)
                 for m in msgs[start:start + BATCH]]
        tag = c.next_tag()
        c.send(b'%s APPEND %s' % (tag.encode(), mbox.encode()) +
               b''.join(parts) + b'\r\n')
        tagged, _ = c.read_until_tagged(tag, timeout=600)
        assert ' OK ' in tagged, tagged


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
        print('load average %.1f %.1f %.1f on %d CPUs' % (
            os.getloadavg() + (os.cpu_count(),)))
        print('\n%-44s %8s %8s %12s %10s' % (
            'command (%d messages)' % N, 'wall ms', 'CPU ms', 'bytes read',
            'response'))
        for cmd in ('SEARCH ALL',
                    'SORT (DATE) UTF-8 ALL',
                    'SORT (ARRIVAL) UTF-8 ALL',
                    'UID SORT (REVERSE DATE) UTF-8 ALL',
                    'SORT (SUBJECT) UTF-8 ALL',
                    'SORT (FROM) UTF-8 ALL',
                    'SORT (DISPLAYFROM REVERSE SIZE) UTF-8 ALL',
                    'SORT (DATE) UTF-8 UNSEEN SINCE 1-Jun-2025',
                    'THREAD REFERENCES UTF-8 ALL',
                    'THREAD ORDEREDSUBJECT UTF-8 ALL',
                    'UID THREAD REFERENCES UTF-8 ALL'):
            ms, cpu, read, size = measure(c, pid, cmd)
            print('%-44s %8.1f %8.0f %12d %10d' % (cmd, ms, cpu, read, size))
        c.cmd('LOGOUT')
    finally:
        srv.stop()
        srv.cleanup()


if __name__ == '__main__':
    main()
