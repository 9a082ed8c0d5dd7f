"""test_objectid.py - OBJECTID (RFC 8474), SAVEDATE (RFC 8514) and
PREVIEW (RFC 8970) against the real daemon.

OBJECTID: MAILBOXID in CREATE's OK, SELECT/EXAMINE and STATUS, the same
everywhere, kept by RENAME (children too), new for a re-created name
and for the mailbox a RENAME of INBOX makes; EMAILID and THREADID
fetched, kept by COPY and MOVE, new for a second APPEND of the same
bytes, a reply in its parent's thread; SEARCH EMAILID / THREADID, ids
that match nothing, malformed ids (BAD, the connection goes on).
SAVEDATE: the save moment, not the internal date; COPY and MOVE give a
new one; SAVEDBEFORE / SAVEDON / SAVEDSINCE / SAVEDATESUPPORTED.
PREVIEW: plain, quoted-printable, base64, HTML, multipart/alternative,
a Latin-1 part, no text at all, the 256-character bound, LAZY, a
CATENATE'd message; a bad modifier is BAD.
Migration: a store taken back to schema 10 (the version 11-13 columns,
tables and indexes dropped with SQLite's own ALTER TABLE) is upgraded
at the next start: ids appear and stay, SAVEDATE is NIL and the SAVED*
keys use the internal date, PREVIEW (LAZY) is NIL until a PREVIEW
computes it, and new ids never repeat old ones.

Python 3 standard library only."""
import base64
import datetime
import os
import re
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import (ImapCase, code, fetch_map, message, parse,  # noqa: E402
                    quote, search_result)
from mkharness import ctl_path, wait_for  # noqa: E402

OK_RE = r'^a\d+ OK '
# Back to version 10: what versions 13 (big-mailbox indexes), 12 (body
# chunks; the test's bodies are small, so none is in chunks) and 11 added
# goes.
DOWNGRADE_SQL = (
    'DROP TRIGGER index_msg_add; DROP TRIGGER index_msg_del;'
    'DROP TRIGGER index_msg_move; DROP TRIGGER index_recent;'
    'DROP TRIGGER index_mbox_gone; DROP TABLE uid_runs;'
    'DROP INDEX messages_unseen;'
    'ALTER TABLE mailboxes DROP COLUMN nrecent;'
    'DROP TRIGGER body_chunks_gone; DROP TABLE body_chunks;'
    'ALTER TABLE bodies DROP COLUMN chunk;'
    'DROP INDEX bodies_objid; DROP INDEX bodies_thread;'
    'DROP INDEX body_sort_msgid; DROP TABLE body_preview;'
    'ALTER TABLE mailboxes DROP COLUMN objid;'
    'ALTER TABLE bodies DROP COLUMN objid;'
    'ALTER TABLE bodies DROP COLUMN thread;'
    'ALTER TABLE messages DROP COLUMN savedate;'
    "DELETE FROM meta WHERE key IN ('objid_salt', 'objid_next');"
    'PRAGMA user_version = 10;')
OBJID_RE = r'^[A-Za-z0-9_-]{1,255}$'


def today():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%d-%b-%Y')


def day(offset):
    d = datetime.datetime.now(datetime.timezone.utc) + \
        datetime.timedelta(days=offset)
    return d.strftime('%d-%b-%Y')


def text(v):
    return v.decode('utf-8') if isinstance(v, bytes) else v


class ObjCase(ImapCase):

    def fetch(self, c, seqs, items, uid=False):
        tagged, unt = c.cmd_bytes('%sFETCH %s %s' % (
            'UID ' if uid else '', seqs, items))
        self.assertRegex(tagged.decode(), OK_RE)
        return fetch_map(unt)

    def ids(self, c, seq):
        d = self.fetch(c, str(seq), '(EMAILID THREADID)')[seq]
        return text(d['EMAILID'][0]), text(d['THREADID'][0])

    def search(self, c, crit):
        return search_result(self.ok(c.cmd('SEARCH ' + crit)))

    def mailboxid(self, c, name):
        unt = self.ok(c.cmd('STATUS %s (MAILBOXID)' % quote(name)))
        st = [l for l in unt if l.startswith('* STATUS ')]
        self.assertEqual(len(st), 1, unt)
        items = parse(st[0])[3]
        self.assertEqual(items[0].upper(), 'MAILBOXID')
        return items[1][0]

    def select_id(self, c, name, examine=False):
        r = c.cmd('%s %s' % ('EXAMINE' if examine else 'SELECT',
                             quote(name)))
        unt = self.ok(r)
        for l in unt:
            k = code(l)
            if k and k[0] == 'MAILBOXID':
                return parse(k[1])[0][0]
        self.fail('no MAILBOXID in %r' % unt)


class Capabilities(ObjCase):

    def test_advertised(self):
        c = self.connect()
        caps = c.cmd('CAPABILITY')[1][0].split()
        for cap in ('OBJECTID', 'SAVEDATE', 'PREVIEW'):
            self.assertIn(cap, caps)


class MailboxId(ObjCase):

    def test_create_status_select_agree(self):
        c = self.connect()
        tagged, _ = c.cmd('CREATE Projects')
        self.assertRegex(tagged, OK_RE)
        k = code(tagged)
        self.assertEqual(k[0], 'MAILBOXID')
        mid = parse(k[1])[0][0]
        self.assertRegex(mid, OBJID_RE)
        self.assertEqual(self.mailboxid(c, 'Projects'), mid)
        self.assertEqual(self.select_id(c, 'Projects'), mid)
        self.assertEqual(self.select_id(c, 'Projects', examine=True), mid)
        self.assertNotEqual(self.mailboxid(c, 'INBOX'), mid)
        # LIST-STATUS carries it too
        unt = self.ok(c.cmd('LIST "" Projects RETURN (STATUS (MAILBOXID))'))
        self.assertTrue(any(mid in l for l in unt if l.startswith(
            '* STATUS')), unt)

    def test_rename_keeps_and_recreate_changes(self):
        c = self.connect()
        self.ok(c.cmd('CREATE a/b'))
        a, b = self.mailboxid(c, 'a'), self.mailboxid(c, 'a/b')
        self.ok(c.cmd('RENAME a z'))
        self.assertEqual(self.mailboxid(c, 'z'), a)
        self.assertEqual(self.mailboxid(c, 'z/b'), b)
        self.ok(c.cmd('DELETE z/b'))
        tagged, _ = c.cmd('CREATE z/b')
        nb = parse(code(tagged)[1])[0][0]
        self.assertNotIn(nb, (a, b))
        self.assertEqual(self.mailboxid(c, 'z/b'), nb)

    def test_rename_inbox(self):
        c = self.connect()
        inbox = self.mailboxid(c, 'INBOX')
        self.ok(c.append('INBOX', message('moved along')))
        self.ok(c.cmd('RENAME INBOX Old'))
        self.assertEqual(self.mailboxid(c, 'INBOX'), inbox)
        self.assertNotEqual(self.mailboxid(c, 'Old'), inbox)

    def test_noselect_revived_gets_new_id(self):
        c = self.connect()
        self.ok(c.cmd('CREATE p/q'))
        p = self.mailboxid(c, 'p')
        self.ok(c.cmd('DELETE p'))	# has a child: becomes \\Noselect
        tagged, _ = c.cmd('CREATE p')
        self.assertRegex(tagged, OK_RE)
        self.assertNotEqual(parse(code(tagged)[1])[0][0], p)


class EmailThreadId(ObjCase):

    def test_distinct_and_copy_move_keep(self):
        c = self.connect()
        self.ok(c.cmd('CREATE Dst'))
        self.ok(c.cmd('CREATE Moved'))
        m1 = message('one')
        self.ok(c.append('INBOX', m1))
        self.ok(c.append('INBOX', m1))		# the same bytes again
        self.ok(c.append('INBOX', message('two')))
        self.select(c, 'INBOX')
        e1, t1 = self.ids(c, 1)
        e2, t2 = self.ids(c, 2)
        e3, t3 = self.ids(c, 3)
        for v in (e1, t1, e2, e3, t3):
            self.assertRegex(v, OBJID_RE)
        self.assertEqual(len({e1, e2, e3}), 3)
        # the same Message-ID: the same conversation
        self.assertEqual(t1, t2)
        self.assertNotEqual(t1, t3)
        self.ok(c.cmd('COPY 1 Dst'))
        self.ok(c.cmd('MOVE 3 Moved'))
        self.select(c, 'Dst')
        self.assertEqual(self.ids(c, 1), (e1, t1))
        self.assertEqual(self.search(c, 'EMAILID ' + e1), [1])
        self.select(c, 'Moved')
        self.assertEqual(self.ids(c, 1), (e3, t3))
        self.select(c, 'INBOX')
        self.assertEqual(self.search(c, 'EMAILID ' + e1), [1])
        self.assertEqual(self.search(c, 'EMAILID ' + e3), [])
        self.assertEqual(self.search(c, 'THREADID ' + t1), [1, 2])
        self.assertEqual(self.search(c, 'NOT THREADID ' + t1), [])
        self.assertEqual(self.search(c, 'OR EMAILID %s EMAILID %s'
                                     % (e1, e2)), [1, 2])
        # UID FETCH and ESEARCH forms
        self.assertIn('EMAILID', self.fetch(c, '1:*', 'EMAILID',
                                            uid=True)[1])

    def test_reply_joins_thread(self):
        c = self.connect()
        root = message('plan', headers=('Message-ID: <root@x>',))
        root = re.sub(rb'Message-ID: <plan@example.org>\r\n', b'', root)
        reply = message('Re: plan', headers=(
            'In-Reply-To: <root@x>', 'References: <root@x>'))
        deep = message('Re: Re: plan', headers=(
            'References: <root@x> <Re..plan@example.org>',))
        other = message('unrelated')
        for m in (root, reply, deep, other):
            self.ok(c.append('INBOX', m))
        self.select(c, 'INBOX')
        t = [self.ids(c, i)[1] for i in (1, 2, 3, 4)]
        self.assertEqual(t[0], t[1])
        self.assertEqual(t[0], t[2])
        self.assertNotEqual(t[0], t[3])
        self.assertEqual(self.search(c, 'THREADID ' + t[0]), [1, 2, 3])

    def test_unknown_and_malformed_ids(self):
        c = self.connect()
        self.ok(c.append('INBOX', message('x')))
        self.select(c, 'INBOX')
        e, t = self.ids(c, 1)
        self.assertEqual(self.search(c, 'EMAILID M00000000ff'), [])
        self.assertEqual(self.search(c, 'EMAILID ' + t), [])
        self.assertEqual(self.search(c, 'THREADID ' + e), [])
        # Ids are case-sensitive.  The prefix makes the lower-case form
        # always another id; the upper-case one is only when the hex
        # part has a letter (1 store in 100 or so has none: CI met one).
        self.assertEqual(self.search(c, 'EMAILID ' + e.lower()), [])
        if e.upper() != e:
            self.assertEqual(self.search(c, 'EMAILID ' + e.upper()), [])
        self.assertEqual(self.search(c, 'EMAILID ' + 'x' * 255), [])
        for bad in ('EMAILID', 'EMAILID M$1', 'EMAILID ' + 'x' * 256,
                    'THREADID "T1"'):
            tagged, _ = c.cmd('SEARCH ' + bad)
            self.assertRegex(tagged, r'^a\d+ BAD ', bad)
        self.assertEqual(self.search(c, 'EMAILID ' + e), [1])


class SaveDate(ObjCase):

    def savedate(self, c, seq):
        v = self.fetch(c, str(seq), 'SAVEDATE')[seq]['SAVEDATE']
        if v is None:
            return None
        return datetime.datetime.strptime(text(v), '%d-%b-%Y %H:%M:%S %z')

    def test_savedate_items_and_keys(self):
        c = self.connect()
        self.ok(c.cmd('CREATE Dst'))
        self.ok(c.append('INBOX', message('old one'),
                         date='01-Jan-2001 10:00:00 +0200'))
        self.select(c, 'INBOX')
        now = datetime.datetime.now(datetime.timezone.utc)
        sd = self.savedate(c, 1)
        self.assertLess(abs((sd - now).total_seconds()), 30)
        d = self.fetch(c, '1', '(INTERNALDATE SAVEDATE)')[1]
        self.assertEqual(text(d['INTERNALDATE']), '01-Jan-2001 10:00:00 +0200')
        self.assertEqual(self.search(c, 'SAVEDON ' + today()), [1])
        self.assertEqual(self.search(c, 'SAVEDSINCE ' + today()), [1])
        self.assertEqual(self.search(c, 'SAVEDBEFORE ' + today()), [])
        self.assertEqual(self.search(c, 'SAVEDSINCE ' + day(2)), [])
        self.assertEqual(self.search(c, 'SAVEDBEFORE ' + day(2)), [1])
        self.assertEqual(self.search(c, 'SAVEDON 01-Jan-2001'), [])
        self.assertEqual(self.search(c, 'ON 01-Jan-2001'), [1])
        self.assertEqual(self.search(c, 'SAVEDATESUPPORTED'), [1])
        # a copy and a move are saved anew
        time.sleep(1.1)
        self.ok(c.cmd('COPY 1 Dst'))
        self.ok(c.cmd('MOVE 1 Dst'))
        self.select(c, 'Dst')
        a, b = self.savedate(c, 1), self.savedate(c, 2)
        self.assertGreater(a, sd)
        self.assertGreater(b, sd)
        tagged, _ = c.cmd('SEARCH SAVEDON 32-Jan-2020')
        self.assertRegex(tagged, r'^a\d+ BAD ')
        tagged, _ = c.cmd('SEARCH SAVEDBEFORE')
        self.assertRegex(tagged, r'^a\d+ BAD ')
        self.ok(c.cmd('NOOP'))


def mime(headers, body):
    return ('From: a@example.org\r\nTo: b@example.org\r\n'
            'Subject: preview\r\nMIME-Version: 1.0\r\n' + headers +
            '\r\n' + body).encode('latin-1')


CASES = [
    ('plain', mime('Content-Type: text/plain\r\n',
                   'Hello   there,\r\n\r\n\tthis is\r\nthe text.\r\n'),
     'Hello there, this is the text.'),
    ('qp', mime('Content-Type: text/plain; charset=utf-8\r\n'
                'Content-Transfer-Encoding: quoted-printable\r\n',
                'Caf=C3=A9 au lait, soft=\r\nbreak.\r\n'),
     'Café au lait, softbreak.'),
    ('base64', mime('Content-Type: text/plain; charset=utf-8\r\n'
                    'Content-Transfer-Encoding: base64\r\n',
                    base64.b64encode('Grüße aus Zürich\n'.encode())
                    .decode() + '\r\n'),
     'Grüße aus Zürich'),
    ('html', mime('Content-Type: text/html\r\n',
                  '<html><head><title>T</title><style>p {color:red}</style>'
                  '</head><body><p>Hi&nbsp;<b>you</b> &amp; me</p>'
                  '<!-- no --><script>x()</script><p>&#233;t&#xe9;'
                  '</p></body></html>\r\n'),
     'Hi you & me été'),
    ('alternative', mime(
        'Content-Type: multipart/alternative; boundary=BB\r\n',
        '--BB\r\nContent-Type: text/html\r\n\r\n<p>The HTML side</p>\r\n'
        '--BB\r\nContent-Type: text/plain\r\n\r\nThe plain side\r\n'
        '--BB--\r\n'),
     'The plain side'),
    ('latin1', mime('Content-Type: text/plain; charset=iso-8859-1\r\n'
                    'Content-Transfer-Encoding: 8bit\r\n',
                    'Voil\xe0 d\xe9j\xe0.\r\n'),
     'Voilà déjà.'),
    ('attachment-only', mime(
        'Content-Type: multipart/mixed; boundary=BB\r\n',
        '--BB\r\nContent-Type: application/pdf\r\n'
        'Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n'
        '--BB\r\nContent-Type: text/plain\r\n'
        'Content-Disposition: attachment; filename=a.txt\r\n\r\n'
        'attached text\r\n--BB--\r\n'),
     ''),
    ('empty', mime('Content-Type: text/plain\r\n', ''), ''),
]


class Preview(ObjCase):

    def previews(self, c, items='PREVIEW'):
        got = self.fetch(c, '1:*', items)
        return {seq: (None if d['PREVIEW'] is None else
                      text(d['PREVIEW'])) for seq, d in got.items()}

    def test_shapes(self):
        c = self.connect()
        for _, data, _ in CASES:
            self.ok(c.append('INBOX', data))
        self.select(c, 'INBOX')
        got = self.previews(c)
        lazy = self.previews(c, 'PREVIEW (LAZY)')
        for i, (name, _, want) in enumerate(CASES, 1):
            self.assertEqual(got[i], want, name)
            self.assertEqual(lazy[i], want, name)

    def test_bound_and_with_other_items(self):
        c = self.connect()
        # character 257 is a space: exactly 256 kept
        body = 'x' + ' '.join('word%d' % i for i in range(200)) + '\r\n'
        self.ok(c.append('INBOX', mime('', body)))
        self.ok(c.append('INBOX', mime('Content-Type: text/plain; '
                                       'charset=iso-8859-1\r\n', 'é' * 300)))
        self.select(c, 'INBOX')
        got = self.fetch(c, '1:2', '(UID PREVIEW (LAZY) FLAGS)')
        p1, p2 = text(got[1]['PREVIEW']), text(got[2]['PREVIEW'])
        self.assertEqual(p1, body[:256])
        self.assertEqual(p2, 'é' * 256)
        self.assertIn('FLAGS', got[1])
        # a lone PREVIEW before FETCH modifiers
        tagged, _ = c.cmd('FETCH 1 PREVIEW (CHANGEDSINCE 1)')
        self.assertRegex(tagged, OK_RE)

    def test_bad_modifiers(self):
        c = self.connect()
        self.ok(c.append('INBOX', mime('', 'x\r\n')))
        self.select(c, 'INBOX')
        for bad in ('PREVIEW (LAZY LAZY)', '(PREVIEW (LAZY FUZZY))',
                    '(PREVIEW (LAZY)'):
            tagged, _ = c.cmd('FETCH 1 ' + bad)
            self.assertRegex(tagged, r'^a\d+ BAD ', bad)
        self.assertEqual(self.previews(c)[1], 'x')

    def test_catenate_and_copy(self):
        c = self.connect()
        part = mime('Content-Type: text/plain\r\n', 'Built from parts.\r\n')
        tag = c.next_tag()
        c.send(('%s APPEND INBOX CATENATE (TEXT {%d+}\r\n' % (
            tag, len(part))).encode() + part + b')\r\n')
        self.assertRegex(c.read_until_tagged(tag)[0], OK_RE)
        self.ok(c.cmd('CREATE Dst'))
        self.select(c, 'INBOX')
        self.ok(c.cmd('COPY 1 Dst'))
        self.select(c, 'Dst')
        self.assertEqual(self.previews(c)[1], 'Built from parts.')


class OtherPaths(ObjCase):
    """Mail that comes in other ways than APPEND: LMTP delivery, an mbox
    import, a backup restored as another user."""
    config = {'lmtp_domains': 'example.org, mk-test'}

    def only(self, c, mailbox='INBOX'):
        self.select(c, mailbox)
        return self.fetch(c, '1:*', '(EMAILID THREADID SAVEDATE PREVIEW '
                          '(LAZY))')

    def test_lmtp_delivery(self):
        user = self.new_user()
        data = mime('Content-Type: text/plain\r\nMessage-ID: <l@x>\r\n',
                    'Delivered   by LMTP.\r\n')
        p = self.server.ctl('deliver', user[0], stdin=data.decode(),
                            check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        c = self.connect(user)
        got = self.only(c)[1]
        self.assertEqual(text(got['PREVIEW']), 'Delivered by LMTP.')
        self.assertIsNotNone(got['SAVEDATE'])
        self.assertRegex(text(got['EMAILID'][0]), OBJID_RE)

    def test_mbox_import(self):
        user = self.new_user()
        path = os.path.join(self.server.tmp, 'in-%s.mbox' % user[0])
        with open(path, 'wb') as fh:
            fh.write(b'From a@example.org Thu Nov  4 12:34:56 2004\n'
                     b'Subject: imported\nMessage-ID: <i1@x>\n\n'
                     b'Imported text.\n\n'
                     b'From a@example.org Thu Nov  4 12:35:56 2004\n'
                     b'Subject: Re: imported\nReferences: <i1@x>\n\n'
                     b'Its reply.\n')
        p = subprocess.run([ctl_path(), '-c', self.server.conf, 'import',
                            user[0], path], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        c = self.connect(user)
        got = self.only(c)
        self.assertEqual(text(got[1]['PREVIEW']), 'Imported text.')
        self.assertEqual(text(got[2]['PREVIEW']), 'Its reply.')
        self.assertEqual(got[1]['THREADID'], got[2]['THREADID'])
        self.assertNotEqual(got[1]['EMAILID'], got[2]['EMAILID'])
        self.assertIsNotNone(got[1]['SAVEDATE'])

    def test_backup_restore_keeps_ids(self):
        user = self.new_user()
        c = self.connect(user)
        self.ok(c.cmd('CREATE Kept'))
        self.ok(c.append('Kept', mime('', 'Backed up.\r\n')))
        before = self.only(c, 'Kept')[1]
        box = self.mailboxid(c, 'Kept')
        dest = os.path.join(self.server.tmp, 'bk-' + user[0])
        self.server.ctl('backup', user[0], dest)
        manifest = [f for f in os.listdir(dest) if f.endswith('.manifest')]
        self.assertEqual(len(manifest), 1)
        copy = user[0][:6] + 'copy'
        self.server.ctl('restore', copy, os.path.join(dest, manifest[0]))
        c2 = self.connect((copy, user[1]))
        self.assertEqual(self.mailboxid(c2, 'Kept'), box)
        after = self.only(c2, 'Kept')[1]
        for item in ('EMAILID', 'THREADID', 'SAVEDATE', 'PREVIEW'):
            self.assertEqual(after[item], before[item], item)


class Migration(ObjCase):
    """A store from before schema 11, upgraded at start."""

    def downgrade(self, path):
        db = sqlite3.connect(path)
        db.executescript(DOWNGRADE_SQL)
        db.commit()
        db.close()

    def test_upgrade(self):
        user = self.new_user()
        c = self.server.client(login=user)
        self.ok(c.cmd('CREATE Archive'))
        self.ok(c.append('INBOX', mime('Content-Type: text/plain\r\n',
                                       'Stored before.\r\n'),
                         date='02-Feb-2002 12:00:00 +0000'))
        self.ok(c.append('INBOX', message('Re: x', headers=(
            'References: <nothing@here>',))))
        self.ok(c.cmd('LOGOUT'))
        c.close()
        self.server.stop()
        path = os.path.join(self.server.data_dir, 'users', user[0],
                            'store.db')
        self.downgrade(path)
        db = sqlite3.connect(path)
        self.assertEqual(db.execute('PRAGMA user_version').fetchone()[0], 10)
        db.close()
        self.server.start()
        c = self.connect(user)
        arch = self.mailboxid(c, 'Archive')
        self.assertNotEqual(arch, self.mailboxid(c, 'INBOX'))
        self.select(c, 'INBOX')
        d = self.fetch(c, '1:2', '(EMAILID THREADID SAVEDATE PREVIEW (LAZY))')
        self.assertIsNone(d[1]['SAVEDATE'])
        # NIL until computed (the idle backfill starts a second after
        # the process: it may already have been here)
        self.assertIn(d[1]['PREVIEW'], (None, b'Stored before.',
                                        'Stored before.'))
        e1 = text(d[1]['EMAILID'][0])
        self.assertNotEqual(e1, text(d[2]['EMAILID'][0]))
        # the date keys fall back on the internal date
        self.assertEqual(self.search(c, 'SAVEDON 02-Feb-2002'), [1])
        self.assertEqual(self.search(c, 'EMAILID ' + e1), [1])
        # computed on demand, then kept for LAZY
        self.assertEqual(self.previews(c, 1, 'PREVIEW'), 'Stored before.')
        self.assertEqual(self.previews(c, 1, 'PREVIEW (LAZY)'),
                         'Stored before.')
        # message 2, never asked without LAZY: the idle backfill did it
        wait_for(lambda: self.fetch(c, '2', 'PREVIEW (LAZY)')[2][
            'PREVIEW'] is not None, what='the preview backfill')
        self.assertEqual(self.previews(c, 2, 'PREVIEW (LAZY)'), 'Hello.')
        # new objects never reuse an old number
        tagged, _ = c.cmd('CREATE New')
        new = parse(code(tagged)[1])[0][0]
        self.assertNotIn(new, (arch, self.mailboxid(c, 'INBOX')))
        self.ok(c.append('INBOX', message('after')))
        self.select(c, 'INBOX')
        e3 = text(self.fetch(c, '3', 'EMAILID')[3]['EMAILID'][0])
        self.assertNotIn(e3, (e1, text(d[2]['EMAILID'][0])))
        self.assertIsNotNone(self.fetch(c, '3', 'SAVEDATE')[3]['SAVEDATE'])
        # and survive another restart unchanged
        self.ok(c.cmd('LOGOUT'))
        self.server.stop()
        self.server.start()
        c = self.connect(user)
        self.assertEqual(self.mailboxid(c, 'Archive'), arch)
        self.select(c, 'INBOX')
        self.assertEqual(self.search(c, 'EMAILID ' + e1), [1])

    def previews(self, c, seq, items):
        return text(self.fetch(c, str(seq), items)[seq]['PREVIEW'])


if __name__ == '__main__':
    unittest.main()
