#!/usr/bin/env python3
"""bench_storage.py - compressed message bodies (store/store_body.c,
issue 11 item 4): the same real-shaped corpus stored with
`compress_bodies = yes` and `= no`, and for each the on-disk size of the
bodies and of the whole store, the fill rate, and FETCH BODY[]
throughput in MB/s (a whole mailbox; one 30 MB message whole and in
1 MiB partial fetches).  For the last it also times the layout of
before schema 12 (one blob per body, as stores filled by older versions
keep their old mail), whose partial fetches had to walk the blob from
its start.  A benchmark: it prints figures; it asserts nothing.

The corpus: the messages of bench_fts.py (plain, quoted-printable
Latin-1, multipart/alternative with HTML; ~2 KiB), the golden corpus
(tests/corpus), and messages with attachments of varied kinds in base64:
photos and archives (random bytes: what compression cannot shrink),
PDF-like documents (text streams with binary runs), CSV and log files
(text), and a few large ones (1-5 MB).  Deterministic.

Usage (from a build directory with mailkeepd; a release build for
figures worth comparing):
    MK_BUILD_DIR=build python3 tests/bench/bench_storage.py [MiB]
"""
import base64
import glob
import os
import random
import shutil
import socket
import sqlite3
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
sys.path.insert(0, HERE)
from mkharness import Server, proc_uid  # noqa: E402
from bench_fts import fill as multiappend  # noqa: E402
from bench_fts import message as text_message, paragraph, wrap  # noqa: E402

TARGET_MIB = int(sys.argv[1]) if len(sys.argv) > 1 else 64
CORPUS = os.path.join(HERE, '..', 'corpus')
HUGE = 30 * 1024 * 1024
PIECE = 1024 * 1024
BATCH_BYTES = 8 * 1024 * 1024


def b64(data):
    s = base64.b64encode(data).decode()
    return '\r\n'.join(s[i:i + 76] for i in range(0, len(s), 76)) + '\r\n'


def pdf_like(rnd, size):
    """Text streams and binary runs, as a PDF with fonts and images."""
    out, n = [], 0
    while n < size:
        if rnd.random() < 0.4:
            part = rnd.randbytes(rnd.randint(2000, 20000))
        else:
            part = ('BT /F1 12 Tf 72 %d Td (%s) Tj ET\n' % (
                rnd.randint(0, 800), paragraph(rnd, 400))).encode()
        out.append(part)
        n += len(part)
    return b'%PDF-1.7\n' + b''.join(out)[:size]


def csv_like(rnd, size):
    rows, n = ['date,account,amount,currency,description'], 0
    while n < size:
        r = '2025-%02d-%02d,%06d,%d.%02d,EUR,%s' % (
            rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(0, 999999),
            rnd.randint(0, 99999), rnd.randint(0, 99), paragraph(rnd, 30))
        rows.append(r)
        n += len(r) + 2
    return '\r\n'.join(rows).encode()


KINDS = [  # (share, content type, file name, maker, size range)
    (0.10, 'image/jpeg', 'photo.jpg', lambda r, n: r.randbytes(n),
     (30000, 400000)),
    (0.04, 'application/zip', 'files.zip', lambda r, n: r.randbytes(n),
     (20000, 300000)),
    (0.08, 'application/pdf', 'report.pdf', pdf_like, (40000, 600000)),
    (0.06, 'text/csv', 'ledger.csv', csv_like, (20000, 400000)),
    (0.02, 'application/pdf', 'scan.pdf', pdf_like, (1000000, 5000000)),
]


def with_attachment(i, rnd, ctype, name, data):
    text = wrap('Please find the file attached. ' + paragraph(rnd, 500))
    return ('From: Sender %d <sender%d@example.net>\r\n'
            'To: Team <team@example.org>\r\nSubject: %s %d\r\n'
            'Date: Tue, 4 Mar 2025 09:%02d:00 +0100\r\n'
            'Message-ID: <att%d@example.net>\r\nMIME-Version: 1.0\r\n'
            'Content-Type: multipart/mixed; boundary="a%d"\r\n\r\n'
            '--a%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n'
            '--a%d\r\nContent-Type: %s; name="%s"\r\n'
            'Content-Disposition: attachment; filename="%s"\r\n'
            'Content-Transfer-Encoding: base64\r\n\r\n%s--a%d--\r\n') % (
                i, i, name, i, i % 60, i, i, i, text, i, ctype, name, name,
                b64(data), i)


def corpus():
    """The messages, about TARGET_MIB MiB in all."""
    rnd = random.Random(4)
    golden = []
    for p in sorted(glob.glob(os.path.join(CORPUS, '*.eml'))):
        with open(p, 'rb') as f:
            d = f.read()
        if d:
            golden.append(d)
    out, total, i = [], 0, 0
    while total < TARGET_MIB * 2**20:
        x = rnd.random()
        m = None
        for share, ctype, name, make, (lo, hi) in KINDS:
            if x < share:
                m = with_attachment(i, rnd, ctype, name,
                                    make(rnd, rnd.randint(lo, hi))).encode()
                break
            x -= share
        if m is None:
            m = golden[i % len(golden)] if i % 10 == 0 else \
                text_message(i, rnd).encode('latin-1')
        out.append(m)
        total += len(m)
        i += 1
    return out


def huge_message():
    rnd = random.Random(30)
    parts, n = [], 0
    while n < HUGE:
        p = wrap(paragraph(rnd, 4000)) + '\r\n'
        parts.append(p)
        n += len(p)
    return ('From: big@example.net\r\nTo: team@example.org\r\n'
            'Subject: huge\r\n\r\n' + ''.join(parts)).encode()[:HUGE - 2] \
        + b'\r\n'


def fill(c, msgs):
    """MULTIAPPEND in batches of about BATCH_BYTES (bench_fts.fill does
    each); seconds taken."""
    start = time.monotonic()
    batch, size = [], 0
    for m in msgs:
        batch.append(m)
        size += len(m)
        if size >= BATCH_BYTES:
            multiappend(c, batch)
            batch, size = [], 0
    if batch:
        multiappend(c, batch)
    return time.monotonic() - start


def cpu_of(server):
    """CPU seconds (user + system) of the user's mailbox process: what
    the server spent, whatever the load of the machine."""
    tck = os.sysconf('SC_CLK_TCK')
    uid = os.stat(os.path.join(server.data_dir, 'users', 'u',
                               'store.db')).st_uid
    total = 0
    for pid in [p for p in server.children() if proc_uid(p) == [uid] * 4]:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tck


def raw_fetch(server, cmds):
    """Logs in, selects INBOX, sends each command and reads its whole
    answer as bytes; returns (bytes received, seconds, server CPU
    seconds) over cmds."""
    s = socket.create_connection(('127.0.0.1', server.port), timeout=600)
    buf = bytearray()

    def until(end):
        while not buf.endswith(end) and end not in buf[-4096:]:
            d = s.recv(1 << 20)
            if not d:
                raise RuntimeError('closed')
            buf.extend(d)

    until(b'\r\n')
    for line in (b'l LOGIN u pw', b's EXAMINE INBOX'):
        buf.clear()
        s.sendall(line + b'\r\n')
        until(line.split()[0] + b' OK')
    got, t0, cpu0 = 0, time.monotonic(), cpu_of(server)
    for cmd in cmds:
        buf.clear()
        s.sendall(b'zq9 ' + cmd + b'\r\n')
        while True:
            d = s.recv(1 << 20)
            if not d:
                raise RuntimeError('closed')
            got += len(d)
            buf[:] = buf[-64:] + d
            if b'\r\nzq9 OK' in buf or buf.startswith(b'zq9 OK'):
                break
            if b'\r\nzq9 NO' in buf or b'\r\nzq9 BAD' in buf:
                raise RuntimeError(bytes(buf))
    dt = time.monotonic() - t0
    cpu = cpu_of(server) - cpu0
    s.close()
    return got, dt, cpu


def disk(server):
    """(body bytes stored, store file bytes after VACUUM INTO a copy)."""
    path = os.path.join(server.data_dir, 'users', 'u', 'store.db')
    tmp = tempfile.mkdtemp(prefix='mk-storage-')
    try:
        db = sqlite3.connect(path)
        q = lambda sql: db.execute(sql).fetchone()[0] or 0  # noqa: E731
        body = q('SELECT sum(length(data)) FROM body_data') + \
            q('SELECT sum(length(data)) FROM body_chunks')
        db.execute('VACUUM INTO ?', (os.path.join(tmp, 'c.db'),))
        db.close()
        return body, os.path.getsize(os.path.join(tmp, 'c.db'))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(compress, msgs, huge):
    cfg = {'compress_bodies': compress, 'fts': 'no',
           'max_message': '64M'}
    with Server(users={'u': 'pw'}, config=cfg) as s:
        c = s.client(login=('u', 'pw'), timeout=600)
        secs = fill(c, msgs)
        body, store = disk(s)
        fill(c, [huge])
        c.close()
        n = len(msgs)
        ranges = [b'UID FETCH %d BODY.PEEK[]<%d.%d>' % (n + 1, off, PIECE)
                  for off in range(0, len(huge), PIECE)]
        res = {
            'fill': secs,
            'body': body, 'store': store,
            'all': raw_fetch(s, [b'UID FETCH 1:%d BODY.PEEK[]' % n]),
            'huge': raw_fetch(s, [b'UID FETCH %d BODY.PEEK[]' %
                                       (n + 1)]),
            'pieces': raw_fetch(s, ranges),
        }
        if compress == 'no':
            one_blob(s, n + 1)
            res['blob_huge'] = raw_fetch(s, [b'UID FETCH %d BODY.PEEK[]'
                                                  % (n + 1)])
            res['blob_pieces'] = raw_fetch(s, ranges)
    return res


def one_blob(server, uid):
    """Rewrites message uid's body as stores of schema 9 held it: one
    blob in body_data (the server reads whichever layout it finds)."""
    path = os.path.join(server.data_dir, 'users', 'u', 'store.db')
    db = sqlite3.connect(path, timeout=30)
    bid = db.execute('SELECT body_id FROM messages WHERE uid = ? AND '
                     'mailbox_id = (SELECT id FROM mailboxes WHERE name = '
                     "'INBOX')", (uid,)).fetchone()[0]
    lo, hi = bid << 24, (bid << 24) + (1 << 24) - 1
    data = b''.join(r[0] for r in db.execute(
        'SELECT data FROM body_chunks WHERE id BETWEEN ? AND ? ORDER BY id',
        (lo, hi)))
    db.execute('INSERT INTO body_data (id, data) VALUES (?, ?)', (bid, data))
    db.execute('UPDATE bodies SET chunk = 0 WHERE id = ?', (bid,))
    db.execute('DELETE FROM body_chunks WHERE id BETWEEN ? AND ?', (lo, hi))
    db.commit()
    db.close()


def mbs(r):
    """'wall MB/s (MB per server CPU second)'."""
    got, dt, cpu = r
    return '%.1f (%s)' % (got / 1e6 / dt, '%.0f' % (got / 1e6 / cpu)
                          if cpu > 0 else '-')


def main():
    msgs = corpus()
    huge = huge_message()
    raw = sum(len(m) for m in msgs)
    print('bench_storage: %d messages, %.1f MiB as sent, plus one of %d MiB;'
          ' %s' % (len(msgs), raw / 2**20, len(huge) >> 20,
                   time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())))
    print('machine load at start: %s' % ' '.join(
        open('/proc/loadavg').read().split()[:3]))
    on = run('yes', msgs, huge)
    off = run('no', msgs, huge)
    total = raw
    print('FETCH figures: MB/s of wall time (in brackets: MB per CPU second'
          ' of the user\'s mailbox process, which the load of the machine'
          ' moves less)')
    print('%-40s %16s %16s' % ('', 'compressed', 'as sent'))
    print('the corpus (without the 30 MiB message):')
    print('%-40s %16.1f %16.1f' % ('bodies on disk (MiB)', on['body'] / 2**20,
                                   off['body'] / 2**20))
    print('%-40s %16.2f %16.2f' % ('  ratio to the text', on['body'] / total,
                                   off['body'] / total))
    print('%-40s %16.1f %16.1f' % ('store after VACUUM (MiB)',
                                   on['store'] / 2**20, off['store'] / 2**20))
    print('%-40s %16.1f %16.1f' % ('fill, MULTIAPPEND (MB/s)',
                                   raw / 1e6 / on['fill'],
                                   raw / 1e6 / off['fill']))
    print('%-40s %16s %16s' % ('FETCH 1:* BODY[] (MB/s)', mbs(on['all']),
                                   mbs(off['all'])))
    print('%-40s %16s %16s' % ('FETCH BODY[] of 30 MiB (MB/s)',
                                   mbs(on['huge']), mbs(off['huge'])))
    print('%-40s %16s %16s' % ('FETCH BODY[]<o.1MiB> x30 of it (MB/s)',
                                   mbs(on['pieces']), mbs(off['pieces'])))
    print('the same 30 MiB as one blob (stores before schema 12):')
    print('%-40s %16s' % ('  FETCH BODY[] (MB/s)', mbs(off['blob_huge'])))
    print('%-40s %16s' % ('  FETCH BODY[]<o.1MiB> x30 (MB/s)',
                            mbs(off['blob_pieces'])))


if __name__ == '__main__':
    main()
