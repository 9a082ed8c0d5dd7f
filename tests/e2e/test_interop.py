"""test_interop.py - real clients against the real server (issue 5 item 7).

* mbsync (isync, from Debian) synchronizes a folder both ways with a
  local Maildir: messages and flags travel down, a message written
  locally and flag changes travel up, and deletions propagate.
* Python's imaplib (the stdlib client) drives IDLE, MOVE and QRESYNC,
  with a second imaplib connection making the changes.
* mailkeepctl deliver wakes an IDLE in progress (delivery path).
"""
import imaplib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import HOST, Server  # noqa: E402

MSG = (b'From: Carol <carol@example.org>\r\nTo: alice@example.org\r\n'
       b'Subject: %s\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n'
       b'Message-ID: <%s@example.org>\r\n\r\n%s\r\n')


def crlf(data):
    """CRLF line ends, without mbsync's own X-TUID tracking header."""
    data = data.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
    return re.sub(rb'(?m)^X-TUID: [^\r]*\r\n', b'', data)


def subject_of(data):
    return crlf(data).split(b'Subject: ')[1].split(b'\r\n')[0]


def msg(subject, body='Hello.'):
    s = subject.encode()
    return MSG % (s, s.replace(b' ', b'-'), body.encode())


class Interop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users={'alice': 'pw-alice', 'bob': 'pw-bob'})

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            cls.srv.cleanup()

    def imap(self, user='alice'):
        m = imaplib.IMAP4(HOST, self.srv.port, timeout=10)
        m.login(user, 'pw-' + user)
        # imaplib keeps the pre-login list; real clients ask again.
        typ, data = m.capability()
        m.capabilities = tuple(data[-1].decode().upper().split())
        self.addCleanup(self._logout, m)
        return m

    @staticmethod
    def _logout(m):
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def append(self, m, mbox, data, flags=None):
        typ, resp = m.append(mbox, flags, None, data)
        self.assertEqual(typ, 'OK', resp)
        return resp


class MbsyncTest(Interop):
    def mbsync(self, workdir):
        rc = os.path.join(workdir, 'mbsyncrc')
        with open(rc, 'w') as f:
            f.write(
                'IMAPAccount mk\nHost %s\nPort %d\nUser alice\nPass pw-alice\n'
                'SSLType None\nAuthMechs LOGIN\n\n'
                'IMAPStore remote\nAccount mk\n\n'
                'MaildirStore local\nPath %s/mail/\nInbox %s/mail/INBOX\n'
                'SubFolders Verbatim\n\n'
                'Channel sync\nFar :remote:\nNear :local:\nPatterns Work\n'
                'Create Both\nExpunge Both\nSyncState *\n'
                % (HOST, self.srv.port, workdir, workdir))
        p = subprocess.run(['mbsync', '-c', rc, '-a'], cwd=workdir,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def maildir_files(self, workdir):
        out = {}
        for sub in ('cur', 'new'):
            d = os.path.join(workdir, 'mail', 'Work', sub)
            for name in os.listdir(d):
                with open(os.path.join(d, name), 'rb') as f:
                    out[name] = f.read()
        return out

    def test_sync_both_ways(self):
        if shutil.which('mbsync') is None:
            self.fail('mbsync is not installed (sh etc/install-deps.sh test '
                      'installs isync)')
        work = tempfile.mkdtemp(prefix='mk-mbsync-')
        self.addCleanup(shutil.rmtree, work, True)
        os.makedirs(os.path.join(work, 'mail'))
        m = self.imap()
        m.create('Work')
        self.append(m, 'Work', msg('first'), r'(\Seen)')
        self.append(m, 'Work', msg('second'), r'(\Flagged)')

        # Down: both messages, with their flags as Maildir suffixes.
        self.mbsync(work)
        files = self.maildir_files(work)
        self.assertEqual(len(files), 2)
        by_subject = {subject_of(v): k for k, v in files.items()}
        self.assertIn('S', by_subject[b'first'].split(':2,')[1])
        self.assertIn('F', by_subject[b'second'].split(':2,')[1])
        # Maildir keeps LF line ends; the bytes are otherwise the same.
        for v in files.values():
            self.assertIn(crlf(v), (msg('first'), msg('second')))

        # Up: a new local message, a flag set locally, a local deletion.
        cur = os.path.join(work, 'mail', 'Work', 'cur')
        with open(os.path.join(cur, '%d.local.test:2,S' % time.time()),
                  'wb') as f:
            f.write(msg('written locally'))
        second = by_subject[b'second']
        sub = 'cur' if os.path.exists(os.path.join(cur, second)) else 'new'
        src = os.path.join(work, 'mail', 'Work', sub, second)
        os.rename(src, os.path.join(cur, second.split(':2,')[0] + ':2,FR'))
        first = by_subject[b'first']
        sub = 'cur' if os.path.exists(os.path.join(cur, first)) else 'new'
        src = os.path.join(work, 'mail', 'Work', sub, first)
        os.rename(src, os.path.join(cur, first.split(':2,')[0] + ':2,ST'))
        self.mbsync(work)

        m.select('Work')
        typ, data = m.fetch('1:*', '(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
        self.assertEqual(typ, 'OK')
        seen = {}
        for item in data:
            if isinstance(item, tuple):
                subj = item[1].split(b'Subject: ')[1].split(b'\r\n')[0]
                seen[subj] = item[0]
        self.assertEqual(set(seen), {b'second', b'written locally'},
                         'the locally deleted message is gone from the '
                         'server, the local one arrived')
        self.assertIn(b'\\Answered', seen[b'second'])
        self.assertIn(b'\\Flagged', seen[b'second'])
        self.assertIn(b'\\Seen', seen[b'written locally'])

        # Down again: a deletion on the server reaches the Maildir.
        typ, data = m.search(None, 'SUBJECT', '"written locally"')
        m.store(data[0].decode(), '+FLAGS', r'(\Deleted)')
        m.expunge()
        self.mbsync(work)
        names = [crlf(v) for v in self.maildir_files(work).values()]
        self.assertEqual(names, [msg('second')])


class ImaplibTest(Interop):
    def test_idle_sees_other_connection(self):
        m = self.imap()
        m.create('IdleBox')
        m.select('IdleBox')
        tag = m._new_tag().decode()
        m.send(('%s IDLE\r\n' % tag).encode())
        self.assertTrue(m.readline().startswith(b'+'))
        t0 = time.time()
        other = self.imap()
        self.append(other, 'IdleBox', msg('wake up'))
        m.sock.settimeout(3)
        line = m.readline()
        self.assertEqual(line.strip(), b'* 1 EXISTS')
        self.assertLess(time.time() - t0, 1.5, 'IDLE pushed within a second')
        self.assertEqual(m.readline().strip(), b'* 1 RECENT')
        m.send(b'DONE\r\n')
        self.assertTrue(m.readline().startswith(tag.encode() + b' OK'))

    def test_idle_sees_delivery(self):
        m = self.imap('bob')
        m.select('INBOX')
        tag = m._new_tag().decode()
        m.send(('%s IDLE\r\n' % tag).encode())
        self.assertTrue(m.readline().startswith(b'+'))
        t0 = time.time()
        self.srv.ctl('deliver', 'bob', stdin=msg('delivered').decode())
        m.sock.settimeout(3)
        self.assertRegex(m.readline().strip(), rb'^\* \d+ EXISTS$')
        self.assertLess(time.time() - t0, 1.5)
        m.send(b'DONE\r\n')
        while not m.readline().startswith(tag.encode()):
            pass

    def test_move(self):
        m = self.imap()
        m.create('From')
        m.create('To')
        for i in range(5):
            self.append(m, 'From', msg('move %d' % i))
        m.select('From')
        typ, data = m.uid('MOVE', '2:3', 'To')
        self.assertEqual(typ, 'OK', data)
        # RFC 6851: COPYUID comes in an untagged OK, then the expunges.
        copyuid = [d for d in m.untagged_responses.get('OK', [])
                   if b'COPYUID' in d]
        self.assertTrue(copyuid, m.untagged_responses)
        self.assertIn(b' 2:3 ', copyuid[-1])
        self.assertEqual(len(m.untagged_responses.get('EXPUNGE', [])), 2)
        typ, data = m.status('From', '(MESSAGES)')
        self.assertIn(b'MESSAGES 3', data[0])
        typ, data = m.status('To', '(MESSAGES)')
        self.assertIn(b'MESSAGES 2', data[0])

    def test_qresync(self):
        m = self.imap()
        m.create('Q')
        for i in range(6):
            self.append(m, 'Q', msg('q %d' % i))
        typ, data = m.enable('QRESYNC')
        self.assertEqual(typ, 'OK')
        typ, data = m.select('Q')
        validity = int(m.untagged_responses['UIDVALIDITY'][-1])
        modseq = int(m.untagged_responses['HIGHESTMODSEQ'][-1])
        m.close()

        # Another client changes the mailbox while this one is away.
        other = self.imap()
        other.select('Q')
        other.uid('STORE', '1', '+FLAGS', r'(\Flagged)')
        other.uid('STORE', '2,5', '+FLAGS', r'(\Deleted)')
        other.expunge()

        # One round trip brings this client up to date.
        typ, data = m._simple_command(
            'SELECT', 'Q (QRESYNC (%d %d 1:6))' % (validity, modseq))
        self.assertEqual(typ, 'OK', data)
        vanished = m.untagged_responses.get('VANISHED', [])
        self.assertEqual(vanished, [b'(EARLIER) 2,5'])
        fetches = m.untagged_responses.get('FETCH', [])
        self.assertTrue(any(b'UID 1 ' in f and b'\\Flagged' in f
                            for f in fetches), fetches)


if __name__ == '__main__':
    unittest.main(verbosity=2)
