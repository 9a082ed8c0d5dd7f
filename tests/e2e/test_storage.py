"""test_storage.py - message bodies stored compressed in chunks
(store/store_body.c) against the real daemon: partial FETCH
BODY[]<offset.length> across chunk borders, sections and BINARY of big
parts, COPY and EXPUNGE, sizes (RFC822.SIZE, STATUS SIZE, quota) of the
text not of the disk, SEARCH scans, LMTP delivery, mailkeepctl import,
backup and restore, a store of old one-blob bodies and new compressed
ones side by side, old one-blob bodies rewritten compressed by the idle
job and by `mailkeepctl compress` with every byte and size unchanged, a
30 MB message fetched in pieces and whole, and a damaged row answered by
closing that FETCH only.

Python 3 standard library only; run by meson (MK_BUILD_DIR)."""
import hashlib
import os
import poplib
import random
import re
import shutil
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import HOST, ctl_path, free_port, wait_for  # noqa: E402
from mkimap import ImapCase, message  # noqa: E402

CH = 64 * 1024


def text_body(n, seed=1):
    """About n bytes of CRLF text lines that differ, as mail does."""
    r = random.Random(seed)
    words = ['mail', 'storage', 'chunk', 'frame', 'quota', 'server',
             'client', 'partial', 'offset', 'length', 'zstd', 'sqlite']
    out, size = [], 0
    while size < n:
        line = ' '.join(r.choice(words) for _ in range(10)) + \
            ' %d\r\n' % r.randrange(10 ** 6)
        out.append(line)
        size += len(line)
    return ''.join(out)


def b64_lines(data):
    import base64
    s = base64.b64encode(data).decode()
    return ''.join(s[i:i + 76] + '\r\n' for i in range(0, len(s), 76))


def multipart(text, blob):
    """text/plain and an application/octet-stream part in base64."""
    return message(subject='multipart', headers=[
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="zz"']) + (
        '--zz\r\nContent-Type: text/plain\r\n\r\n' + text +
        '--zz\r\nContent-Type: application/octet-stream\r\n'
        'Content-Transfer-Encoding: base64\r\n\r\n' + b64_lines(blob) +
        '--zz--\r\n').encode()


def literal_of(untagged, item):
    """The bytes of the first literal after item in a FETCH response."""
    for u in untagged:
        m = re.search(re.escape(item.encode()) + rb' ~?\{(\d+)\}\r\n', u)
        if m:
            return u[m.end():m.end() + int(m.group(1))]
    raise AssertionError('no %s in %r' % (item, untagged[:1]))


def store_path(server, user):
    return os.path.join(server.data_dir, 'users', user, 'store.db')


def store_q(server, user, sql):
    db = sqlite3.connect('file:%s?mode=ro' % store_path(server, user),
                         uri=True)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def set_conf(server, key, value):
    with open(server.conf) as f:
        text = re.sub(r'(?m)^%s = .*\n' % key, '', f.read())
    with open(server.conf, 'w') as f:
        f.write(text + '%s = %s\n' % (key, value))


POP3_PORT = free_port()


class Storage(ImapCase):
    config = {'compress_bodies': 'yes', 'compress_min_size': '1K',
              'fts': 'no', 'lmtp_domains': 'example.org',
              'listen_pop3': '%s:%d' % (HOST, POP3_PORT)}

    def fetch(self, c, uid, item):
        tagged, untagged = c.cmd_bytes('UID FETCH %d (%s)' % (uid, item))
        self.assertTrue(tagged.endswith(b'OK FETCH completed'), tagged)
        return untagged

    def put(self, c, data, mbox='INBOX'):
        tagged, _ = c.append(mbox, data, literal_plus=True, timeout=120)
        m = re.search(r'\[APPENDUID \d+ (\d+)\]', tagged)
        self.assertIsNotNone(m, tagged)
        return int(m.group(1))

    def test_partial_fetches_across_chunks(self):
        user = self.new_user()
        c = self.connect(user)
        msg = message(subject='big text', body=text_body(5 * CH + 777))
        uid = self.put(c, msg)
        self.select(c, examine=True)
        # stored in frames much shorter than the text
        self.assertEqual(store_q(self.server, user[0],
                                 'SELECT count(*) FROM body_chunks'), 6)
        self.assertLess(store_q(self.server, user[0], 'SELECT sum(length('
                                'data)) FROM body_chunks'), len(msg) // 2)
        for off, n in ((0, 1), (CH - 3, 6), (CH, CH), (CH - 1, 2 * CH + 2),
                       (3 * CH + 5, 100), (len(msg) - 10, 10),
                       (len(msg) - 10, 1000), (0, len(msg))):
            got = literal_of(self.fetch(
                c, uid, 'BODY.PEEK[]<%d.%d>' % (off, n)), 'BODY[]<%d>' % off)
            self.assertEqual(got, msg[off:off + n], (off, n))
        self.assertEqual(literal_of(self.fetch(c, uid, 'BODY.PEEK[]'),
                                    'BODY[]'), msg)
        text = msg[msg.index(b'\r\n\r\n') + 4:]
        self.assertEqual(literal_of(self.fetch(c, uid, 'BODY.PEEK[TEXT]'),
                                    'BODY[TEXT]'), text)
        got = literal_of(self.fetch(c, uid, 'BODY.PEEK[TEXT]<70000.5000>'),
                         'BODY[TEXT]<70000>')
        self.assertEqual(got, text[70000:75000])
        # a range past the end is empty, not an error
        tagged, unt = c.cmd_bytes('UID FETCH %d BODY.PEEK[]<%d.10>'
                                  % (uid, len(msg) + 5))
        self.assertTrue(tagged.endswith(b'OK FETCH completed'))
        self.assertIn(b'BODY[]<%d> ""' % (len(msg) + 5), unt[0])
        # SEARCH scans read the text through the same reader
        word = text[4 * CH + 100:].split(b' ')[3].decode()
        tagged, unt = c.cmd('UID SEARCH BODY "%s"' % word)
        self.assertIn('* SEARCH %d' % uid, unt)

    def test_binary_and_sections_of_big_parts(self):
        c = self.connect()
        blob = bytes(random.Random(7).randrange(256) for _ in range(200000))
        text = text_body(150000, seed=3)
        msg = multipart(text, blob)
        uid = self.put(c, msg)
        self.select(c, examine=True)
        self.assertEqual(literal_of(self.fetch(c, uid, 'BINARY.PEEK[2]'),
                                    'BINARY[2]'), blob)
        unt = self.fetch(c, uid, 'BINARY.SIZE[2]')
        self.assertIn(b'BINARY.SIZE[2] %d' % len(blob), unt[0])
        self.assertEqual(literal_of(self.fetch(
            c, uid, 'BINARY.PEEK[2]<65000.70000>'), 'BINARY[2]<65000>'),
            blob[65000:135000])
        # the CRLF before the boundary belongs to the boundary
        self.assertEqual(literal_of(self.fetch(c, uid, 'BODY.PEEK[1]'),
                                    'BODY[1]'), text.encode()[:-2])
        b64 = b64_lines(blob).encode()
        self.assertEqual(literal_of(self.fetch(
            c, uid, 'BODY.PEEK[2]<100000.3000>'), 'BODY[2]<100000>'),
            b64[100000:103000])

    def test_copy_expunge_and_sizes(self):
        user = self.new_user()
        c = self.connect(user)
        msg = message(subject='copied', body=text_body(3 * CH))
        small = message(subject='small', body=text_body(3000, seed=9))
        uid = self.put(c, msg)
        self.put(c, small)
        self.ok(c.cmd('CREATE Archive'))
        self.select(c)
        self.ok(c.cmd('UID COPY %d Archive' % uid))
        # RFC822.SIZE, STATUS SIZE and the quota count the text
        unt = self.fetch(c, uid, 'RFC822.SIZE')
        self.assertIn(b'RFC822.SIZE %d' % len(msg), unt[0])
        _, unt = c.cmd('STATUS INBOX (SIZE MESSAGES)')
        self.assertIn('SIZE %d' % (len(msg) + len(small)), unt[0])
        _, unt = c.cmd('GETQUOTAROOT INBOX')
        kib = (2 * len(msg) + len(small) + 1023) // 1024
        self.assertTrue(any('STORAGE %d ' % kib in u for u in unt), unt)
        on_disk = store_q(self.server, user[0],
                          'SELECT sum(length(data)) FROM body_chunks')
        self.assertLess(on_disk, (len(msg) + len(small)) // 2)
        self.ok(c.cmd('UID STORE %d +FLAGS.SILENT (\\Deleted)' % uid))
        self.ok(c.cmd('EXPUNGE'))
        self.select(c, 'Archive')
        self.assertEqual(literal_of(self.fetch(c, 1, 'BODY.PEEK[]'),
                                    'BODY[]'), msg)
        _, unt = c.cmd('GETQUOTAROOT INBOX')
        kib = (len(msg) + len(small) + 1023) // 1024
        self.assertTrue(any('STORAGE %d ' % kib in u for u in unt), unt)
        self.ok(c.cmd('UID STORE 1 +FLAGS.SILENT (\\Deleted)'))
        self.ok(c.cmd('CLOSE'))
        # the last copy gone, its chunks are gone: small's one is left
        self.assertEqual(store_q(self.server, user[0], 'SELECT count(*) '
                                 'FROM body_chunks'), 1)

    def test_huge_message_in_pieces(self):
        c = self.connect(timeout=120)
        body = text_body(30 * 1024 * 1024, seed=11)
        msg = message(subject='huge', body=body)
        del body
        uid = self.put(c, msg)
        self.select(c, examine=True)
        piece = 1024 * 1024 + 17
        got = []
        for off in range(0, len(msg), piece):
            got.append(literal_of(self.fetch(
                c, uid, 'BODY.PEEK[]<%d.%d>' % (off, piece)),
                'BODY[]<%d>' % off))
        self.assertEqual(hashlib.sha256(b''.join(got)).hexdigest(),
                         hashlib.sha256(msg).hexdigest())
        whole = literal_of(self.fetch(c, uid, 'BODY.PEEK[]'), 'BODY[]')
        self.assertEqual(len(whole), len(msg))
        self.assertTrue(whole == msg)

    def test_lmtp_catenate_and_import_read_through(self):
        user = self.new_user()
        msg = message(subject='delivered', body=text_body(2 * CH + 10))
        lm = smtplib.LMTP(os.path.join(self.server.data_dir, 'lmtp'))
        try:
            lm.sendmail('s@example.net', ['%s@example.org' % user[0]], msg)
        finally:
            lm.quit()
        c = self.connect(user)
        self.select(c)
        delivered = literal_of(self.fetch(c, 1, 'BODY.PEEK[]'), 'BODY[]')
        # with the Return-Path and Delivered-To LMTP puts on top
        self.assertTrue(delivered.endswith(msg))
        self.assertGreater(len(delivered), len(msg))
        # CATENATE of a URL to the compressed message
        tag = c.next_tag()
        c.send(('%s APPEND INBOX CATENATE (URL "/INBOX/;UID=1" '
                'TEXT {5+}\r\nmore\n)\r\n' % tag).encode())
        tagged, _ = c.read_until_tagged(tag)
        self.assertIn('OK', tagged)
        self.select(c)
        self.assertEqual(literal_of(self.fetch(c, 2, 'BODY.PEEK[]'),
                                    'BODY[]'), delivered + b'more\r\n')
        # mailkeepctl import of a Maildir
        top = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, top)
        for d in ('cur', 'new', 'tmp'):
            os.mkdir(os.path.join(top, d))
        imported = message(subject='imported', body=text_body(CH * 2, 5))
        with open(os.path.join(top, 'cur', '1.host:2,S'), 'wb') as f:
            f.write(imported)
        os.chmod(top, 0o755)
        for root, dirs, files in os.walk(top):
            for n in dirs + files:
                os.chmod(os.path.join(root, n), 0o755)
        p = subprocess.run([ctl_path(), '-c', self.server.conf, 'import',
                            user[0], top], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.select(c)
        _, unt = c.cmd_bytes('UID SEARCH SUBJECT imported')
        uid = int(unt[0].split()[-1])
        self.assertEqual(literal_of(self.fetch(c, uid, 'BODY.PEEK[]'),
                                    'BODY[]'), imported)

    def test_pop3_retr_streams_compressed(self):
        user = self.new_user()
        c = self.connect(user)
        body = text_body(3 * 1024 * 1024, 8).replace('\r\nmail ',
                                                     '\r\n.mail ')
        msgs = [message(subject='by pop3', body=body),
                message(subject='second', body=text_body(200000, 9))]
        for m in msgs:
            self.put(c, m)
        c.close()
        p = poplib.POP3(HOST, POP3_PORT, timeout=60)
        try:
            p.user(user[0])
            p.pass_(user[1])
            for i, m in enumerate(msgs):
                _, lines, octets = p.retr(i + 1)
                self.assertEqual(b'\r\n'.join(lines) + b'\r\n', m)
        finally:
            p.quit()

    def test_backup_restore_keeps_compressed_bodies(self):
        user = self.new_user()
        c = self.connect(user)
        msg = message(subject='kept', body=text_body(3 * CH, 21))
        self.put(c, msg)
        c.close()
        dest = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, dest)
        self.server.ctl('backup', user[0], dest)
        self.server.ctl('restore', user[0] + 'r',
                        os.path.join(dest, user[0] + '.manifest'))
        c = self.connect((user[0] + 'r', user[1]))
        self.select(c, examine=True)
        self.assertEqual(literal_of(self.fetch(c, 1, 'BODY.PEEK[]<70000.'
                                               '100000>'), 'BODY[]<70000>'),
                         msg[70000:170000])

    def test_damaged_row_closes_that_fetch_only(self):
        user = self.new_user()
        c = self.connect(user)
        msg = message(subject='damaged', body=text_body(3 * CH, 4))
        uid = self.put(c, msg)
        c.close()
        db = sqlite3.connect(store_path(self.server, user[0]))
        db.execute("UPDATE body_chunks SET data = substr(data, 1, 100) || "
                   "x'00' || substr(data, 102) WHERE id % 16777216 = 1")
        db.commit()
        db.close()
        c = self.connect(user)
        self.select(c, examine=True)
        # ranges in sound chunks are served
        self.assertEqual(literal_of(self.fetch(
            c, uid, 'BODY.PEEK[]<10.1000>'), 'BODY[]<10>'), msg[10:1010])
        self.assertEqual(literal_of(self.fetch(
            c, uid, 'BODY.PEEK[]<%d.1000>' % (2 * CH)),
            'BODY[]<%d>' % (2 * CH)), msg[2 * CH:2 * CH + 1000])
        # SEARCH needs the whole text: a clear NO
        tagged, _ = c.cmd('UID SEARCH BODY nosuchwordanywhere')
        self.assertRegex(tagged, r'^a\d+ NO ')
        # the damaged range: the half-written response can't be
        # finished, so this connection is closed with a reason
        c.send(b'a99 UID FETCH %d BODY.PEEK[]\r\n' % uid)
        c.expect_closed(timeout=10)
        log = self.server.logtext()[self._log_from:]
        self.assertIn('FETCH failed: body', log)
        self.assertIn('is damaged (chunk 1', log)
        c = self.connect(user)
        self.select(c, examine=True)
        unt = self.fetch(c, uid, 'RFC822.SIZE')
        self.assertIn(b'RFC822.SIZE %d' % len(msg), unt[0])


def as_old_blobs(server, user):
    """Puts every body of user's store into the one-blob layout of schema
    < 12, as a store written before compression existed holds it."""
    db = sqlite3.connect(store_path(server, user))
    rows = db.execute('SELECT id, data FROM body_chunks ORDER BY id')
    blobs = {}
    for rid, data in rows.fetchall():
        blobs.setdefault(rid >> 24, []).append(data)
    for bid, parts in blobs.items():
        db.execute('INSERT INTO body_data (id, data) VALUES (?, ?)',
                   (bid, b''.join(parts)))
    db.execute('UPDATE bodies SET chunk = 0')
    db.execute('DELETE FROM body_chunks')
    db.commit()
    db.close()


class MixedStore(ImapCase):
    """Bodies stored with compression off, then on, in one store."""
    config = {'compress_bodies': 'no', 'fts': 'no'}

    def test_old_and_new_bodies_side_by_side(self):
        user = self.new_user()
        c = self.connect(user)
        old_small = message(subject='old small', body=text_body(5000, 1))
        old_big = message(subject='old big', body=text_body(CH * 2, 2))
        for m in (old_small, old_big):
            self.ok(c.append('INBOX', m))
        c.close()
        q = lambda sql: store_q(self.server, user[0], sql)  # noqa: E731
        self.assertEqual(q('SELECT count(*) FROM body_data'), 1)
        self.assertEqual(q('SELECT sum(length(data)) FROM body_chunks'),
                         len(old_big))
        # as a store of schema 9 had them: every body one blob
        as_old_blobs(self.server, user[0])
        self.assertEqual(q('SELECT count(*) FROM body_data'), 2)
        self.server.stop()
        set_conf(self.server, 'compress_bodies', 'yes')
        self.server.start()
        c = self.connect(user)
        new = message(subject='new', body=text_body(CH * 2, 3))
        self.ok(c.append('INBOX', new))
        self.assertLess(q('SELECT sum(length(data)) FROM body_chunks WHERE '
                          'id >> 24 = (SELECT max(id) FROM bodies)'),
                        len(new) // 2)
        self.select(c)
        for uid, m in ((1, old_small), (2, old_big), (3, new)):
            self.assertEqual(literal_of(self.fetch_peek(c, uid), 'BODY[]'),
                             m, uid)
            got = literal_of(c.cmd_bytes('UID FETCH %d BODY.PEEK[]<%d.%d>'
                                         % (uid, 4000, 70000))[1],
                             'BODY[]<4000>')
            self.assertEqual(got, m[4000:74000], uid)
        # one FETCH streaming the three in a row, each through its reader
        _, unt = c.cmd_bytes('UID FETCH 1:3 BODY.PEEK[]')
        self.assertEqual([literal_of([u], 'BODY[]') for u in unt],
                         [old_small, old_big, new])
        self.ok(c.cmd('UID COPY 1:3 INBOX'))
        self.select(c)
        for uid, m in ((4, old_small), (5, old_big), (6, new)):
            self.assertEqual(literal_of(self.fetch_peek(c, uid), 'BODY[]'),
                             m, uid)
        _, unt = c.cmd('STATUS INBOX (SIZE)')
        self.assertIn('SIZE %d' % (2 * (len(old_small) + len(old_big) +
                                        len(new))), unt[0])

    def fetch_peek(self, c, uid):
        tagged, untagged = c.cmd_bytes('UID FETCH %d BODY.PEEK[]' % uid)
        self.assertTrue(tagged.endswith(b'OK FETCH completed'), tagged)
        return untagged


def four_messages():
    """5 and 40 KB of text (within one chunk), three chunks of text, and
    a text with a random attachment (which does not compress)."""
    return [message(subject='small', body=text_body(5000, 4)),
            message(subject='mid', body=text_body(40 * 1024, 5)),
            message(subject='big', body=text_body(CH * 3 + 11, 6)),
            multipart(text_body(3000, 7), os.urandom(CH + 999))]


class OldBodiesRewritten(ImapCase):
    """Bodies stored before compression are rewritten compressed by the
    user's process while it idles (daemon/mailbox/compress_idle.c); what
    clients read and every size stay the same."""
    config = {'compress_bodies': 'no', 'fts': 'no'}

    def snapshot(self, c, uids):
        """Every byte and size a client can see of uids."""
        out = {}
        for uid in uids:
            _, unt = c.cmd_bytes('UID FETCH %d (RFC822.SIZE BODY.PEEK[])'
                                 % uid)
            whole = literal_of(unt, 'BODY[]')
            size = re.search(rb'RFC822.SIZE (\d+)', unt[0]).group(1)
            parts = []
            for off, n in ((0, 100), (CH - 10, 20), (CH * 2 - 7, 70000),
                           (len(whole) - 5, 50)):
                if off >= len(whole):
                    continue
                _, u = c.cmd_bytes('UID FETCH %d BODY.PEEK[]<%d.%d>'
                                   % (uid, off, n))
                parts.append(literal_of(u, 'BODY[]<%d>' % off))
            binary = None
            if uid == 4:
                _, u = c.cmd_bytes('UID FETCH 4 BINARY.PEEK[2]')
                binary = literal_of(u, 'BINARY[2]')
            out[uid] = (whole, size, parts, binary)
        _, unt = c.cmd('GETQUOTAROOT INBOX')
        quota = [u for u in unt if u.startswith('* QUOTA ')]
        _, unt = c.cmd('STATUS INBOX (SIZE MESSAGES)')
        return out, quota, unt

    def test_idle_rewrite_keeps_every_byte_and_size(self):
        user = self.new_user()
        c = self.connect(user)
        msgs = four_messages()
        for m in msgs:
            self.ok(c.append('INBOX', m))
        self.select(c)
        before = self.snapshot(c, range(1, 5))
        self.assertEqual([before[0][u][0] for u in range(1, 5)], msgs)
        c.close()
        self.server.stop()
        as_old_blobs(self.server, user[0])
        q = lambda sql: store_q(self.server, user[0], sql)  # noqa: E731
        self.assertEqual(q('SELECT count(*) FROM body_data'), 4)
        set_conf(self.server, 'compress_bodies', 'yes')
        set_conf(self.server, 'compress_min_size', '1K')
        self.server.start()
        c = self.connect(user)      # starts the user's process
        self.select(c)
        wait_for(lambda: q('SELECT count(*) FROM bodies WHERE chunk = 0')
                 == 0, timeout=60, what='old bodies rewritten')
        self.assertEqual(q('SELECT count(*) FROM body_data'), 0)
        total = sum(len(m) for m in msgs)
        self.assertEqual(q('SELECT sum(size) FROM bodies'), total)
        # text compresses; the random attachment is kept as it is
        self.assertLess(q('SELECT sum(length(data)) FROM body_chunks'),
                        total - CH * 2)
        after = self.snapshot(c, range(1, 5))
        self.assertEqual(after, before)
        with open(self.server.logpath, 'rb') as f:
            self.assertIn(b'older bodies compressed', f.read())
        # and once more after a restart: nothing left to do, same bytes
        self.assertEqual(self.after_restart(c, user), before)

    def after_restart(self, c, user):
        """What snapshot() sees on a new session after a restart."""
        c.close()
        self.server.stop()
        self.server.start()
        c = self.connect(user)
        self.select(c)
        return self.snapshot(c, range(1, 5))


class CtlCompress(ImapCase):
    """mailkeepctl compress rewrites the old one-blob bodies now, with the
    store code of the idle job, while a session of the user stays open;
    what clients read and every size stay the same."""
    config = {'compress_bodies': 'no', 'fts': 'no'}
    snapshot = OldBodiesRewritten.snapshot
    after_restart = OldBodiesRewritten.after_restart

    def old_store(self, user):
        """Four messages in one-blob bodies, a session of the user on them
        (its process runs with compress_bodies = no: no idle job), and the
        configuration mailkeepctl reads asking for compression."""
        # as the class began: an earlier test turned compression on
        self.server.stop()
        set_conf(self.server, 'compress_bodies', 'no')
        self.server.start()
        c = self.connect(user)
        msgs = four_messages()
        for m in msgs:
            self.ok(c.append('INBOX', m))
        c.close()
        self.server.stop()
        as_old_blobs(self.server, user[0])
        self.server.start()
        set_conf(self.server, 'compress_bodies', 'yes')
        set_conf(self.server, 'compress_min_size', '1K')
        c = self.connect(user)
        self.select(c)
        return c, msgs

    def test_compress_now_keeps_every_byte_and_size(self):
        user = self.new_user()
        c, msgs = self.old_store(user)
        q = lambda sql: store_q(self.server, user[0], sql)  # noqa: E731
        before = self.snapshot(c, range(1, 5))
        self.assertEqual([before[0][u][0] for u in range(1, 5)], msgs)
        self.assertEqual(q('SELECT count(*) FROM body_data'), 4)
        p = self.server.ctl('compress', user[0])
        self.assertIn('%s: compressing 4 older bodies' % user[0], p.stdout)
        self.assertIn('%s: 100%% (4 of 4 bodies)' % user[0], p.stdout)
        self.assertIn('%s: 4 bodies compressed\n' % user[0], p.stdout)
        self.assertEqual(q('SELECT count(*) FROM bodies WHERE chunk = 0'), 0)
        self.assertEqual(q('SELECT count(*) FROM body_data'), 0)
        total = sum(len(m) for m in msgs)
        self.assertEqual(q('SELECT sum(size) FROM bodies'), total)
        self.assertLess(q('SELECT sum(length(data)) FROM body_chunks'),
                        total - CH * 2)
        # the session that was open all along reads the same
        self.assertEqual(self.snapshot(c, range(1, 5)), before)
        # a second run finds nothing
        p = self.server.ctl('compress', user[0])
        self.assertIn('%s: compressing 0 older bodies' % user[0], p.stdout)
        self.assertIn('%s: 0 bodies compressed' % user[0], p.stdout)
        # and after a restart, the same bytes
        self.assertEqual(self.after_restart(c, user), before)

    def test_compress_waits_for_the_write_lock(self):
        """Another process holding the store's write lock (the user's
        process in an APPEND) makes batches wait, never fail or block it."""
        user = self.new_user()
        c, msgs = self.old_store(user)
        q = lambda sql: store_q(self.server, user[0], sql)  # noqa: E731
        db = sqlite3.connect(store_path(self.server, user[0]),
                             isolation_level=None)
        db.execute('BEGIN IMMEDIATE')
        p = subprocess.Popen([ctl_path(), '-c', self.server.conf, 'compress',
                              user[0]], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1.5)
            self.assertIsNone(p.poll(), 'compress did not wait')
            db.execute('COMMIT')
        finally:
            db.close()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn('%s: 4 bodies compressed' % user[0], out, err)
        self.assertEqual(q('SELECT count(*) FROM body_data'), 0)
        # the session appends and reads on
        self.ok(c.append('INBOX', msgs[2]))
        _, unt = c.cmd_bytes('UID FETCH 3 BODY.PEEK[]')
        self.assertEqual(literal_of(unt, 'BODY[]'), msgs[2])

    def test_compress_all_and_refusals(self):
        user = self.new_user()
        c, _ = self.old_store(user)
        other = self.new_user()
        p = self.server.ctl('compress', '--all')
        self.assertIn('%s: 4 bodies compressed' % user[0], p.stdout)
        self.assertIn('%s has no mail stored yet' % other[0], p.stdout)
        self.assertEqual(self.server.ctl('compress', 'nobody',
                                         check=False).returncode, 5)
        self.assertEqual(self.server.ctl('compress',
                                         check=False).returncode, 2)
        self.assertEqual(self.server.ctl('compress', user[0], '--all',
                                         check=False).returncode, 2)
        set_conf(self.server, 'compress_bodies', 'no')
        p = self.server.ctl('compress', user[0], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('compress_bodies = no', p.stderr)


if __name__ == '__main__':
    unittest.main()
