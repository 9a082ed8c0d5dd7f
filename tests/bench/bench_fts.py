#!/usr/bin/env python3
"""bench_fts.py - the full-text index (doc/search.md, issue 11 item 1):
SEARCH BODY / TEXT / SUBJECT on a 100,000-message mailbox of ~2 KiB
messages with the index (`fts = yes`) and without it (`fts = no`, the
scan), the fill rate both ways, and what the index costs on disk, on
that mailbox and on the golden corpus (tests/corpus, copied until it is
a few thousand messages).  A benchmark: it prints figures and compares
them with the issue's goals; it asserts nothing.

The messages look like mail: a Received chain, Message-ID, a subject
and a body of words from a vocabulary, a third of them multipart with an
HTML alternative, a fifth quoted-printable with Latin-1 accents.  One
message holds a word no other has (BODY), every message holds one word
(TEXT), one subject holds a word no other has (SUBJECT).  Each search is
run 7 times after one warm-up; the median is reported.

Usage (from a build directory with mailkeepd):
    MK_BUILD_DIR=build python3 tests/bench/bench_fts.py [N]
"""
import glob
import os
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'e2e'))
from mkharness import Server  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
BATCH = 500
GOALS = {'BODY': 20.0, 'TEXT': 150.0, 'SUBJECT': 20.0}
CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                      'corpus')

WORDS = ('meeting report budget schedule review project customer invoice '
         'delivery update question answer team office quarter plan change '
         'release server client network storage backup policy contract '
         'draft summary agenda minutes proposal estimate order payment '
         'shipping account password request support ticket issue fix test '
         'build deploy monday tuesday thursday friday morning afternoon '
         'please thanks regards attached below above following previous '
         'next week month year today tomorrow yesterday').split()
ACCENTED = ['caf\xe9', 'r\xe9sum\xe9', 'na\xefve', 'fa\xe7ade', 'd\xe9j\xe0']


def sentence(rnd, n):
    return ' '.join(rnd.choice(WORDS) for _ in range(n)).capitalize() + '.'


def paragraph(rnd, size):
    out = []
    while sum(len(s) + 1 for s in out) < size:
        out.append(sentence(rnd, rnd.randint(6, 14)))
    return ' '.join(out)


def qp_latin1(text):
    out = []
    for ch in text.encode('latin-1'):
        out.append('=%02X' % ch if ch > 126 or ch == 61 else chr(ch))
    s = ''.join(out)
    return '=\r\n'.join(s[i:i + 72] for i in range(0, len(s), 72))


def wrap(text):
    words, line, out = text.split(' '), '', []
    for w in words:
        if len(line) + len(w) > 72:
            out.append(line)
            line = w
        else:
            line = (line + ' ' + w).strip()
    out.append(line)
    return '\r\n'.join(out)


def message(i, rnd, body_word='', subject_word=''):
    subj = sentence(rnd, rnd.randint(3, 7))[:-1] + subject_word
    head = ('Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])'
            '\r\n\tby mail.example.org with ESMTPS id %08x\r\n'
            '\tfor <team@example.org>; Mon, 3 Mar 2025 10:%02d:00 +0100\r\n'
            'From: Sender %d <sender%d@example.net>\r\n'
            'To: Team <team@example.org>\r\n'
            'Subject: %s\r\n'
            'Date: Mon, 3 Mar 2025 10:%02d:00 +0100\r\n'
            'Message-ID: <%d.%08x@example.net>\r\n'
            'MIME-Version: 1.0\r\n') % (
                i % 7, i % 7, i % 250, i, i % 60, i % 500, i % 500, subj,
                i % 60, i, rnd.getrandbits(32))
    text = 'Mailkeep ' + paragraph(rnd, 600) + ' ' + body_word + ' ' + \
        paragraph(rnd, 700)
    kind = i % 15
    if kind < 3:        # quoted-printable, Latin-1
        text += ' ' + ' '.join(rnd.sample(ACCENTED, 2))
        return (head + 'Content-Type: text/plain; charset=iso-8859-1\r\n'
                'Content-Transfer-Encoding: quoted-printable\r\n\r\n' +
                qp_latin1(text) + '\r\n')
    if kind < 8:        # multipart/alternative with HTML
        html = '<html><body><p>%s</p></body></html>' % text[:1000]
        return (head + 'Content-Type: multipart/alternative; '
                'boundary="b%d"\r\n\r\n--b%d\r\n'
                'Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n'
                '--b%d\r\nContent-Type: text/html; charset=utf-8\r\n\r\n'
                '%s\r\n--b%d--\r\n') % (i, i, wrap(text[:1000]), i,
                                        wrap(html), i)
    return (head + 'Content-Type: text/plain; charset=utf-8\r\n\r\n' +
            wrap(text) + '\r\n')


def messages(n):
    rnd = random.Random(11)
    one = n // 2
    for i in range(n):
        yield message(i, rnd, 'zebracrossing' if i == one else '',
                      ' quetzal' if i == one + 1 else '').encode('latin-1')


def fill(c, msgs):
    """MULTIAPPEND in batches; returns messages per second."""
    start = time.monotonic()
    batch, count = [], 0

    def flush():
        tag = c.next_tag()
        parts = [tag.encode() + b' APPEND INBOX']
        for m in batch:
            parts.append(b' {%d+}\r\n' % len(m) + m)
        c.send(b''.join(parts) + b'\r\n')
        t, u = c.read_until_tagged(tag, timeout=300)
        if ' OK' not in t:
            raise RuntimeError('APPEND: %s' % t)
        batch.clear()

    for m in msgs:
        batch.append(m)
        count += 1
        if len(batch) == BATCH:
            flush()
    if batch:
        flush()
    return count / (time.monotonic() - start)


def timed(c, cmd, runs=7):
    c.cmd(cmd, timeout=600)
    times, hits = [], 0
    for _ in range(runs):
        t0 = time.monotonic()
        t, u = c.cmd(cmd, timeout=600)
        times.append((time.monotonic() - t0) * 1000)
        hits = sum(len(l.split()) - 2 for l in u if l.startswith('* SEARCH'))
    return statistics.median(times), hits


SEARCHES = [('BODY', 'UID SEARCH BODY zebracrossing'),
            ('TEXT', 'UID SEARCH TEXT mailkeep'),
            ('SUBJECT', 'UID SEARCH SUBJECT quetzal')]


def store_path(server, user):
    return os.path.join(server.data_dir, 'users', user, 'store.db')


def sizes(server, user):
    """(store bytes, index bytes): both after VACUUM of a copy; the index
    is what dropping it gives back."""
    tmp = tempfile.mkdtemp(prefix='mk-fts-size-')
    try:
        src = sqlite3.connect(store_path(server, user))
        dst = os.path.join(tmp, 'copy.db')
        src.execute("VACUUM INTO ?", (dst,))
        src.close()
        total = os.path.getsize(dst)
        db = sqlite3.connect(dst)
        db.execute('DROP TABLE IF EXISTS fts')
        db.commit()
        db.execute('VACUUM')
        db.close()
        return total, total - os.path.getsize(dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def restart(server, fts):
    server.stop()
    with open(server.conf) as f:
        text = re.sub(r'(?m)^fts = .*\n', '', f.read())
    with open(server.conf, 'w') as f:
        f.write(text + 'fts = %s\n' % fts)
    server.start()


def corpus_overhead():
    msgs = []
    for p in sorted(glob.glob(os.path.join(CORPUS, '*.eml'))):
        with open(p, 'rb') as f:
            d = f.read()
        if d:
            msgs.append(d)
    copies = max(1, 3000 // len(msgs))
    with Server(users={'c': 'pw'},
                config={'fts': 'yes', 'fts_at_append': 'yes'}) as s:
        c = s.client(login=('c', 'pw'), timeout=300)
        fill(c, (m for _ in range(copies) for m in msgs))
        c.close()
        n = copies * len(msgs)
        raw = copies * sum(len(m) for m in msgs)
        total, idx = sizes(s, 'c')
    print('corpus (tests/corpus x%d = %d messages, %.1f MiB as sent):' %
          (copies, n, raw / 2**20))
    print('  store %.1f MiB, of which the index %.1f MiB: %.0f%% of the '
          'messages\' size, %.0f%% of the store without it' %
          (total / 2**20, idx / 2**20, 100.0 * idx / raw,
           100.0 * idx / (total - idx)))


def main():
    print('bench_fts: %d messages of ~2 KiB, %s' % (N, time.strftime(
        '%Y-%m-%d')))
    with Server(users={'alice': 'pw', 'bob': 'pw'},
                config={'fts': 'yes', 'fts_at_append': 'yes'}) as s:
        c = s.client(login=('alice', 'pw'), timeout=600)
        rate_on = fill(c, messages(N))
        c.cmd('SELECT INBOX', timeout=600)
        raw = sum(len(m) for m in messages(N))
        print('fill with the index: %.0f msg/s (MULTIAPPEND, %d per '
              'command)' % (rate_on, BATCH))
        with_idx = {k: timed(c, cmd) for k, cmd in SEARCHES}
        c.close()
        total, idx = sizes(s, 'alice')
        print('mailbox %.1f MiB as sent; store %.1f MiB, of which the index '
              '%.1f MiB (%.0f%% of the messages\' size, %.0f%% of the store '
              'without it)' % (raw / 2**20, total / 2**20, idx / 2**20,
                               100.0 * idx / raw,
                               100.0 * idx / (total - idx)))
        restart(s, 'no')
        c = s.client(login=('alice', 'pw'), timeout=600)
        c.cmd('SELECT INBOX', timeout=600)
        scan = {k: timed(c, cmd, runs=3) for k, cmd in SEARCHES}
        c.close()
        c = s.client(login=('bob', 'pw'), timeout=600)
        rate_off = fill(c, messages(N))
        c.close()
        print('fill without the index: %.0f msg/s' % rate_off)
    print('%-8s %12s %12s %8s %6s' % ('SEARCH', 'index (ms)', 'scan (ms)',
                                      'goal', 'hits'))
    for k, _ in SEARCHES:
        print('%-8s %12.1f %12.1f %8s %6d %s' % (
            k, with_idx[k][0], scan[k][0], '<= %d' % GOALS[k],
            with_idx[k][1], 'met' if with_idx[k][0] <= GOALS[k] else
            'NOT met'))
        if with_idx[k][1] != scan[k][1]:
            print('  (hits differ from the scan: %d vs %d!)' %
                  (with_idx[k][1], scan[k][1]))
    corpus_overhead()


if __name__ == '__main__':
    main()
