"""test_catenate.py - APPEND ... CATENATE (RFC 4469) against the real
daemon: TEXT literals and IMAP URLs (RFC 5092) of whole messages and of
sections (HEADER, TEXT, part numbers, .MIME, HEADER.FIELDS), PARTIAL,
UIDVALIDITY, absolute URLs, UTF-8 mailbox names in a URL; MULTIAPPEND
mixing catenated and plain messages; NO [BADURL] and NO [TOOBIG] with
nothing stored and the connection usable; literals spooled to disk; a
catenated message into another user's shared mailbox.

Python 3 standard library only; run by meson (MK_BUILD_DIR)."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import ImapCase, fetch_map, message, quote  # noqa: E402

MULTI = (b'From: a@example.org\r\nSubject: multi\r\n'
         b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
         b'--b\r\nContent-Type: text/plain\r\n\r\npart one\r\n'
         b'--b\r\nContent-Type: text/x-two\r\n\r\npart two\r\n--b--\r\n')


class Catenate(ImapCase):
    config = {'max_message': '256K'}

    def send_cat(self, c, mailbox, spec, literal_plus=True):
        """APPEND mailbox spec, where spec is a list of items: bytes
        (a literal, written {n+} or {n}), or str (written as is)."""
        tag = c.next_tag()
        out = [('%s APPEND %s ' % (tag, quote(mailbox))).encode()]
        for item in spec:
            if isinstance(item, bytes):
                if literal_plus:
                    out.append(b'{%d+}\r\n' % len(item) + item)
                    continue
                c.send(b''.join(out) + b'{%d}\r\n' % len(item))
                out = []
                line = c.readline()
                if not line.startswith('+'):
                    self.assertTrue(line.startswith(tag + ' '), line)
                    return line, []
                out.append(item)
            else:
                out.append(item.encode())
        c.send(b''.join(out) + b'\r\n')
        return c.read_until_tagged(tag)

    def body(self, c, mbox, uid):
        self.select(c, mbox, examine=True)
        tagged, unt = c.cmd_bytes('UID FETCH %d BODY.PEEK[]' % uid)
        self.assertTrue(tagged.endswith(b'OK FETCH completed'), tagged)
        m = re.search(rb'BODY\[\] \{(\d+)\}\r\n', unt[0])
        start = m.end()
        return unt[0][start:start + int(m.group(1))]

    def appenduid(self, tagged):
        m = re.search(r'\[APPENDUID (\d+) ([\d:,]+)\]', tagged)
        self.assertIsNotNone(m, tagged)
        return int(m.group(1)), m.group(2)

    def setup_source(self, c):
        self.ok(c.cmd('CREATE Src'))
        uv, _ = self.appenduid(self.ok_tagged(c.append('Src', message(
            subject='first', body='Hello world\r\n'))))
        self.ok(c.append('Src', MULTI))
        self.ok(c.cmd('CREATE Dst'))
        return uv

    def ok_tagged(self, result):
        tagged, _ = result
        self.assertRegex(tagged, r'^a\d+ OK ')
        return tagged

    def test_text_and_urls(self):
        user = self.new_user()
        c = self.connect(user)
        uv = self.setup_source(c)
        first = message(subject='first', body='Hello world\r\n')
        hdr, text = first.split(b'\r\n\r\n', 1)
        cases = [
            (['(\\Seen) CATENATE (TEXT ', b'Subject: t\r\n\r\nbody\r\n', ')'],
             b'Subject: t\r\n\r\nbody\r\n'),
            (['CATENATE (URL "/Src/;UID=1")'], first),
            (['CATENATE (URL "/Src;UIDVALIDITY=%d/;uid=1/;section=header" '
              'TEXT ' % uv, b'new body\r\n', ')'],
             hdr + b'\r\n\r\n' + b'new body\r\n'),
            (['CATENATE (TEXT ', b'X: 1\r\n\r\n', ' URL "/Src/;UID=1/;'
              'SECTION=TEXT")'], b'X: 1\r\n\r\n' + text),
            (['CATENATE (URL "/Src/;UID=2/;SECTION=2" TEXT ', b'|', ' URL '
              '"/Src/;UID=2/;SECTION=1.MIME")'],
             b'part two|Content-Type: text/plain\r\n\r\n'),
            (['CATENATE (URL "/Src/;UID=1/;SECTION=HEADER.FIELDS%20'
              '(SUBJECT)")'], b'Subject: first\r\n\r\n'),
            (['CATENATE (URL "/Src/;UID=1/;SECTION=TEXT/;PARTIAL=6.5")'],
             b'world'),
            (['CATENATE (TEXT ', b'Y: 2\r\n\r\n', ' URL "/Src/;UID=1/;'
              'PARTIAL=100000.1")'], b'Y: 2\r\n\r\n'),
            (['CATENATE (URL "imap://%s@localhost/Src/;UID=1/;SECTION=TEXT")'
              % user[0]], text),
        ]
        for spec, want in cases:
            tagged, _ = self.send_cat(c, 'Dst', spec)
            self.assertRegex(tagged, r'^a\d+ OK \[APPENDUID ', spec)
            uid = int(self.appenduid(tagged)[1])
            self.assertEqual(self.body(c, 'Dst', uid), want, spec)
        # flags and date go with the catenated message
        self.select(c, 'Dst', examine=True)
        fm = fetch_map(self.ok(c.cmd('UID FETCH 1 FLAGS')))
        self.assertIn('\\Seen', fm[1]['FLAGS'])
        # synchronizing literals work the same
        tagged, _ = self.send_cat(c, 'Dst', [
            'CATENATE (TEXT ', b'Z: 3\r\n\r\n', ' URL "/Src/;UID=1/;SECTION='
            'TEXT")'], literal_plus=False)
        self.assertRegex(tagged, r'^a\d+ OK \[APPENDUID ')
        self.assertIn('CATENATE', self.ok(c.cmd('CAPABILITY'))[0].split())

    def test_multiappend(self):
        c = self.connect()
        self.setup_source(c)
        tagged, _ = self.send_cat(c, 'Dst', [
            'CATENATE (URL "/Src/;UID=1/;SECTION=HEADER" TEXT ', b'one\r\n',
            ') (\\Flagged) ', b'Subject: plain\r\n\r\ntwo\r\n',
            ' CATENATE (URL "/Src/;UID=2")'])
        self.assertRegex(tagged, r'^a\d+ OK \[APPENDUID \d+ 1:3\]')
        self.assertTrue(self.body(c, 'Dst', 1).endswith(b'\r\n\r\none\r\n'))
        self.assertEqual(self.body(c, 'Dst', 2),
                         b'Subject: plain\r\n\r\ntwo\r\n')
        self.assertEqual(self.body(c, 'Dst', 3), MULTI)

    def test_bad_urls_store_nothing(self):
        user = self.new_user()
        other = self.new_user()
        c = self.connect(user)
        uv = self.setup_source(c)
        o = self.connect(other)
        self.ok(o.append('INBOX', message()))
        bad = [
            '/Src;UIDVALIDITY=%d/;UID=1' % (uv + 1),
            '/Src/;UID=99', '/Nope/;UID=1', '/Src/;UID=1/;SECTION=BOGUS',
            '/Src', 'http://x/Src/;UID=1', '/Src/;UID=1/;URLAUTH=x',
            'imap://%s@localhost/INBOX/;UID=1' % other[0],
            '/Other%%20Users/%s/INBOX/;UID=1' % other[0],
        ]
        for url in bad:
            for spec in (['CATENATE (URL %s)' % quote(url)],
                         ['CATENATE (TEXT ', b'H: 1\r\n\r\n', ' URL %s TEXT '
                          % quote(url), b'after\r\n', ')'],
                         ['CATENATE (URL "/Src/;UID=1") CATENATE (URL %s)'
                          % quote(url)]):
                tagged, _ = self.send_cat(c, 'Dst', spec)
                self.assertRegex(tagged, r'^a\d+ NO \[BADURL\] ', url)
        self.assertEqual(self.select(c, 'Dst')['exists'], 0)
        self.ok(c.cmd('NOOP'))
        # a URL is not an APPEND target's way into another user's store
        self.assertEqual(self.select(o, 'INBOX')['exists'], 1)

    def test_toobig_and_spooled(self):
        c = self.connect()
        self.ok(c.cmd('CREATE Dst'))
        big = b'Subject: big\r\n\r\n' + b'x' * (150 * 1024) + b'\r\n'
        # a TEXT literal large enough to be spooled to disk
        tagged, _ = self.send_cat(c, 'Dst', ['CATENATE (TEXT ', big, ')'])
        self.assertRegex(tagged, r'^a\d+ OK \[APPENDUID \d+ 1\]')
        self.assertEqual(self.body(c, 'Dst', 1), big)
        # the message, and it again: over max_message (256K)
        tagged, _ = self.send_cat(c, 'Dst', [
            'CATENATE (URL "/Dst/;UID=1" URL "/Dst/;UID=1/;SECTION=TEXT")'])
        self.assertRegex(tagged, r'^a\d+ NO \[TOOBIG\] ')
        tagged, _ = self.send_cat(c, 'Dst', [
            'CATENATE (URL "/Dst/;UID=1" TEXT ', big, ')'])
        self.assertRegex(tagged, r'^a\d+ NO \[TOOBIG\] ')
        self.assertEqual(self.select(c, 'Dst')['exists'], 1)
        # an empty result is refused like an empty literal
        tagged, _ = self.send_cat(c, 'Dst', [
            'CATENATE (URL "/Dst/;UID=1/;PARTIAL=999999")'])
        self.assertRegex(tagged, r'^a\d+ NO ')
        self.ok(c.cmd('NOOP'))

    def test_utf8_mailbox_in_url(self):
        c = self.connect()
        # "Entwürfe" in modified UTF-7, and percent-encoded UTF-8 in a URL
        self.ok(c.cmd('CREATE Entw&APw-rfe'))
        self.ok(c.append('Entw&APw-rfe', message(subject='umlaut')))
        self.ok(c.cmd('CREATE Dst'))
        tagged, _ = self.send_cat(c, 'Dst', [
            'CATENATE (URL "/Entw%C3%BCrfe/;UID=1/;SECTION=HEADER.FIELDS'
            '%20(SUBJECT)")'])
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertEqual(self.body(c, 'Dst', 1), b'Subject: umlaut\r\n\r\n')

    def test_into_shared_mailbox(self):
        owner, grantee = self.new_user(), self.new_user()
        a = self.connect(owner)
        self.ok(a.cmd('CREATE Drop'))
        self.ok(a.cmd('SETACL Drop %s lri' % grantee[0]))
        b = self.connect(grantee)
        self.ok(b.append('INBOX', message(subject='mine', body='text\r\n')))
        tagged, _ = self.send_cat(b, 'Other Users/%s/Drop' % owner[0], [
            'CATENATE (URL "/INBOX/;UID=1/;SECTION=HEADER" TEXT ',
            b'forwarded\r\n', ')'])
        self.assertRegex(tagged, r'^a\d+ OK ')
        got = self.body(a, 'Drop', 1)
        self.assertTrue(got.startswith(b'From: '), got)
        self.assertTrue(got.endswith(b'Subject: mine\r\nDate: Mon, 7 Feb '
                                     b'1994 21:52:25 -0800\r\nMessage-ID: '
                                     b'<mine@example.org>\r\n\r\n'
                                     b'forwarded\r\n'), got)


if __name__ == '__main__':
    unittest.main()
