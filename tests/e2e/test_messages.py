"""test_messages.py - messages over the network: APPEND (synchronizing and
non-synchronizing literals, flags, internal date, MULTIAPPEND, APPENDUID,
TRYCREATE); SELECT and EXAMINE responses; FETCH of every RFC 3501 item,
partials, macros, the MIME items and BINARY; \\Seen rules; STORE; COPY
and MOVE with COPYUID; EXPUNGE, UID EXPUNGE and CLOSE; SEARCH keys,
ESEARCH and SEARCHRES; the UID forms; a 3 MB message byte for byte."""
import base64
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import (ImapCase, as_bytes, code, esearch_result,  # noqa: E402
                    fetch_map, message, search_result, select_info)

BLOB = bytes(range(256)) * 2
B64 = base64.encodebytes(BLOB).replace(b'\n', b'\r\n')
MULTIPART = (
    b'From: "Fred Foobar" <foobar@Blurdybloop.example>\r\n'
    b'To: mooch@owatagu.example, "Joe Q." <joe@example.org>\r\n'
    b'Cc: Group: a@b.example;\r\n'
    b'Subject: afternoon meeting\r\n'
    b'Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n'
    b'Message-ID: <B27397-0100000@Blurdybloop.example>\r\n'
    b'MIME-Version: 1.0\r\n'
    b'Content-Type: multipart/mixed; boundary="XX"\r\n'
    b'\r\n'
    b'preamble\r\n'
    b'--XX\r\n'
    b'Content-Type: text/plain; charset=us-ascii\r\n'
    b'\r\n'
    b'Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n'
    b'\r\n'
    b'--XX\r\n'
    b'Content-Type: application/octet-stream; name="b.bin"\r\n'
    b'Content-Transfer-Encoding: base64\r\n'
    b'\r\n' + B64 +
    b'--XX--\r\n')
PART1 = b'Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n'
PART1_MIME = b'Content-Type: text/plain; charset=us-ascii\r\n\r\n'


def header_of(data):
    return data[:data.index(b'\r\n\r\n') + 4]


def text_of(data):
    return data[data.index(b'\r\n\r\n') + 4:]


class Messages(ImapCase):

    def fetch(self, c, args, uid=False):
        """{seq: {ITEM: value}} of a FETCH that must succeed."""
        tagged, unt = c.cmd_bytes('%sFETCH %s' % ('UID ' if uid else '', args))
        self.assertRegex(tagged, rb'^a\d+ OK FETCH completed$', unt)
        return fetch_map(unt)

    def flags(self, c, seq):
        return self.fetch(c, '%d FLAGS' % seq)[seq]['FLAGS']

    # ---- APPEND ----

    def test_append_forms(self):
        c = self.connect()
        uv = self.select(c, 'Drafts', examine=True)['uidvalidity']
        c.cmd('UNSELECT')
        m1 = message(subject='sync')
        tagged, unt = c.append('Drafts', m1)
        self.assertEqual(tagged, 'a004 OK [APPENDUID %d 1] APPEND completed'
                         % uv)
        self.assertEqual(unt, [])
        m2 = message(subject='plus')
        tagged, unt = c.append('Drafts', m2, literal_plus=True)
        self.assertEqual(tagged, 'a005 OK [APPENDUID %d 2] APPEND completed'
                         % uv)
        m3 = message(subject='flags and date')
        tagged, _ = c.append('Drafts', m3, flags=['\\Seen', '\\Draft', 'Todo'],
                             date=' 7-Feb-1994 21:52:25 -0800')
        self.assertEqual(code(tagged), ('APPENDUID', '%d 3' % uv))
        # a date-time with a two-digit day, and a zone east of UTC
        tagged, _ = c.append('Drafts', message(subject='d2'),
                             date='17-Jul-1996 02:44:25 +0530')
        self.assertEqual(code(tagged), ('APPENDUID', '%d 4' % uv))
        self.select(c, 'Drafts')
        got = self.fetch(c, '1:4 (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])')
        self.assertEqual(got[1]['BODY[]'], m1)
        self.assertEqual(got[2]['BODY[]'], m2)
        self.assertEqual(got[3]['BODY[]'], m3)
        self.assertEqual(int(got[1]['RFC822.SIZE']), len(m1))
        self.assertEqual(got[3]['FLAGS'], ['\\Seen', '\\Draft', '\\Recent',
                                           'Todo'])
        self.assertEqual(got[1]['FLAGS'], ['\\Recent'])
        # date-day-fixed is (SP DIGIT) / 2DIGIT
        self.assertIn(got[3]['INTERNALDATE'], (' 7-Feb-1994 21:52:25 -0800',
                                               '07-Feb-1994 21:52:25 -0800'))
        self.assertEqual(got[4]['INTERNALDATE'], '17-Jul-1996 02:44:25 +0530')
        self.assertRegex(got[1]['INTERNALDATE'],
                         r'^[ 0-3]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d '
                         r'[-+]\d{4}$')
        # the keyword is now defined in the mailbox
        info = self.select(c, 'Drafts')
        self.assertIn('Todo', info['flags'])
        self.assertIn('Todo', info['permanentflags'])

    def test_multiappend(self):
        c = self.connect()
        uv = self.select(c, 'Sent', examine=True)['uidvalidity']
        a, b = message(subject='first'), message(subject='second')
        c.send(b'm1 APPEND Sent (\\Seen) {%d}\r\n' % len(a))
        self.assertEqual(c.readline(), '+ Ready for literal data')
        c.send(a + b' (\\Flagged) "01-Jan-2020 10:00:00 +0000" {%d}\r\n'
               % len(b))
        self.assertEqual(c.readline(), '+ Ready for literal data')
        c.send(b + b'\r\n')
        tagged, unt = c.read_until_tagged('m1')
        self.assertEqual(tagged, 'm1 OK [APPENDUID %d 1:2] APPEND completed'
                         % uv)
        # our EXAMINE of Sent was live: the new messages are announced,
        # as \Recent here since no session has claimed them
        self.assertEqual(unt, ['* 2 EXISTS', '* 2 RECENT'])
        got = self.fetch(c, '1:2 (FLAGS INTERNALDATE BODY.PEEK[])')
        self.assertEqual([got[1]['BODY[]'], got[2]['BODY[]']], [a, b])
        self.assertEqual(got[2]['FLAGS'], ['\\Flagged', '\\Recent'])
        self.assertEqual(got[2]['INTERNALDATE'], '01-Jan-2020 10:00:00 +0000')
        # a bad second message stores neither
        c.send(b'm2 APPEND Sent {%d+}\r\n' % len(a) + a +
               b' (\\Bogus) {%d+}\r\n' % len(b) + b + b'\r\n')
        self.assertRegex(c.read_until_tagged('m2')[0], r'^m2 (BAD|NO) ')
        self.assertEqual(c.cmd('STATUS Sent (MESSAGES)')[1],
                         ['* STATUS "Sent" (MESSAGES 2)'])

    def test_append_errors(self):
        c = self.connect()
        tagged, unt = c.append('NoSuchBox', message())
        self.assertEqual(tagged[5:], 'NO [TRYCREATE] Mailbox doesn\'t exist: '
                                     'NoSuchBox')
        self.assertEqual(unt, [])
        self.assertRegex(c.append('INBOX', message(), date='31-Feb-2020 '
                                  '00:00:00 +0000')[0], r'^a\d+ BAD ')
        self.assertRegex(c.append('INBOX', message(), date='yesterday')[0],
                         r'^a\d+ BAD ')
        self.assertRegex(c.append('INBOX', message(), flags=['\\Recent'])[0],
                         r'^a\d+ (BAD|NO) ')
        self.assertRegex(c.append('INBOX', b'')[0], r'^a\d+ (NO|BAD) ')
        self.assertEqual(c.cmd('STATUS INBOX (MESSAGES)')[1],
                         ['* STATUS "INBOX" (MESSAGES 0)'])

    def test_append_to_selected_announces_exists(self):
        c = self.connect()
        self.select(c)
        tagged, unt = c.append('INBOX', message())
        self.assertRegex(tagged, r'^a\d+ OK \[APPENDUID \d+ 1\] ')
        self.assertEqual(unt, ['* 1 EXISTS', '* 1 RECENT'])

    # ---- SELECT / EXAMINE ----

    def test_select_examine_responses(self):
        c = self.connect()
        self.fill(c, 'INBOX', 2, flags=['\\Seen'])
        self.fill(c, 'INBOX', 1)
        self.ok(c.append('INBOX', message(), flags=['$Label1']))
        tagged, unt = c.cmd('SELECT INBOX')
        self.assertEqual(tagged, 'a006 OK [READ-WRITE] SELECT completed')
        self.assertEqual(len(unt), 9, unt)
        self.assertEqual(unt[0], '* FLAGS (\\Answered \\Flagged \\Deleted '
                                 '\\Seen \\Draft $Label1)')
        self.assertEqual(unt[1], '* OK [PERMANENTFLAGS (\\Answered \\Flagged '
                                 '\\Deleted \\Seen \\Draft $Label1 \\*)] Flags '
                                 'permitted')
        self.assertEqual(unt[2:4], ['* 4 EXISTS', '* 4 RECENT'])
        self.assertEqual(code(unt[4]), ('UNSEEN', '3'))
        self.assertEqual(code(unt[5])[0], 'UIDVALIDITY')
        self.assertEqual(code(unt[6]), ('UIDNEXT', '5'))
        self.assertEqual(code(unt[7])[0], 'HIGHESTMODSEQ')
        self.assertEqual(code(unt[8])[0], 'MAILBOXID')	# RFC 8474 4.2
        uv = int(code(unt[5])[1])
        hms = int(code(unt[7])[1])
        # EXAMINE: read-only, nothing permanent, \Recent already claimed
        tagged, unt = c.cmd('EXAMINE INBOX')
        self.assertEqual(tagged, 'a007 OK [READ-ONLY] EXAMINE completed')
        info = select_info(tagged, unt)
        self.assertEqual(unt[0], '* OK [CLOSED] Previous mailbox closed')
        self.assertEqual(info['permanentflags'], [])
        self.assertEqual((info['exists'], info['recent'], info['unseen'],
                          info['uidvalidity'], info['uidnext'],
                          info['highestmodseq']), (4, 0, 3, uv, 5, hms))
        # a mailbox with nothing unseen has no UNSEEN response
        c.cmd('UNSELECT')
        info = self.select(c, 'Trash')
        self.assertNotIn('unseen', info)
        self.assertEqual((info['exists'], info['recent'], info['uidnext']),
                         (0, 0, 1))
        # a failed SELECT leaves no mailbox selected
        self.assertEqual(c.cmd('SELECT nonesuch')[0][5:],
                         'NO [NONEXISTENT] Mailbox doesn\'t exist: nonesuch')
        self.assertRegex(c.cmd('FETCH 1 FLAGS')[0], r'^a\d+ BAD ')

    def test_examine_is_read_only(self):
        c = self.connect()
        self.fill(c, 'INBOX', 2)
        self.select(c, examine=True)
        got = self.fetch(c, '1 (BODY[] RFC822.TEXT BODY[HEADER])')
        self.assertNotIn('FLAGS', got[1])
        self.assertEqual(self.flags(c, 1), ['\\Recent'])
        for cmd in ('STORE 1 +FLAGS (\\Seen)', 'UID STORE 1 +FLAGS (\\Seen)',
                    'EXPUNGE', 'UID EXPUNGE 1', 'MOVE 1 Trash'):
            self.assertRegex(c.cmd(cmd)[0], r'^a\d+ NO \[READ-ONLY\] ', cmd)
        # COPY out of a read-only mailbox is allowed
        self.assertRegex(c.cmd('COPY 1 Trash')[0], r'^a\d+ OK \[COPYUID ')
        self.assertEqual(c.cmd('CLOSE')[1], [])
        info = self.select(c)
        self.assertEqual(info['exists'], 2)
        self.assertEqual(info['unseen'], 1)

    # ---- FETCH ----

    def test_fetch_items(self):
        c = self.connect()
        m = message(subject='items', body='line one\r\nline two\r\n')
        self.ok(c.append('INBOX', m, date='05-Mar-2021 08:09:10 +0100'))
        self.select(c)
        got = self.fetch(c, '1 (FLAGS UID INTERNALDATE RFC822.SIZE)')
        self.assertEqual(got, {1: {'FLAGS': ['\\Recent'], 'UID': '1',
                                   'INTERNALDATE': '05-Mar-2021 08:09:10 '
                                                   '+0100',
                                   'RFC822.SIZE': str(len(m))}})
        got = self.fetch(c, '1 (BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] '
                            'RFC822.HEADER)')[1]
        self.assertEqual(got['BODY[]'], m)
        self.assertEqual(got['BODY[HEADER]'], header_of(m))
        self.assertEqual(got['BODY[TEXT]'], text_of(m))
        self.assertEqual(as_bytes(got['RFC822.HEADER']), header_of(m))
        self.assertEqual(self.flags(c, 1), ['\\Recent'])
        # partials: within, across and past the end
        got = self.fetch(c, '1 (BODY.PEEK[]<0.4> BODY.PEEK[TEXT]<5.3> '
                            'BODY.PEEK[]<%d.100> BODY.PEEK[]<%d.1>)'
                         % (len(m) - 6, len(m) + 10))[1]
        self.assertEqual(got['BODY[]<0>'], m[:4])
        self.assertEqual(got['BODY[TEXT]<5>'], b'one')
        self.assertEqual(as_bytes(got['BODY[]<%d>' % (len(m) - 6)]), m[-6:])
        self.assertEqual(got['BODY[]<%d>' % (len(m) + 10)], '')
        # the response names the section as the client spelled it
        tagged, unt = c.cmd_bytes('FETCH 1 body.peek[text]<0.4>')
        self.assertEqual(unt, [b'* 1 FETCH (BODY[TEXT]<0> {4}\r\nline)'])
        # RFC822 and RFC822.TEXT set \Seen and say so
        tagged, unt = c.cmd_bytes('FETCH 1 RFC822')
        self.assertEqual(unt, [b'* 1 FETCH (FLAGS (\\Seen \\Recent) RFC822 {%d}'
                               b'\r\n' % len(m) + m + b')'])
        c.cmd('STORE 1 -FLAGS.SILENT (\\Seen)')
        got = self.fetch(c, '1 RFC822.TEXT')[1]
        self.assertEqual(got['RFC822.TEXT'], text_of(m))
        self.assertEqual(got['FLAGS'], ['\\Seen', '\\Recent'])

    def test_seen_by_body_not_by_peek(self):
        c = self.connect()
        self.fill(c, 'INBOX', 3)
        self.select(c)
        self.fetch(c, '1:3 (BODY.PEEK[] BODY.PEEK[HEADER] BINARY.PEEK[1])')
        self.assertEqual(c.cmd('SEARCH UNSEEN')[1], ['* SEARCH 1 2 3'])
        tagged, unt = c.cmd('FETCH 2 BODY[HEADER.FIELDS (SUBJECT)]')
        self.assertEqual(unt, ['* 2 FETCH (FLAGS (\\Seen \\Recent) '
                               'BODY[HEADER.FIELDS (SUBJECT)] {18}\r\n'
                               'Subject: msg 2\r\n\r\n)'])
        # asked for FLAGS too: reported once, with \Seen
        tagged, unt = c.cmd('FETCH 3 (FLAGS BODY[TEXT])')
        self.assertEqual(unt, ['* 3 FETCH (FLAGS (\\Seen \\Recent) BODY[TEXT] '
                               '{16}\r\nBody of msg 3.\r\n)'])
        # already \Seen: no FLAGS of its own accord
        tagged, unt = c.cmd('FETCH 3 BODY[TEXT]')
        self.assertEqual(unt, ['* 3 FETCH (BODY[TEXT] {16}\r\nBody of msg 3.'
                               '\r\n)'])
        self.assertEqual(c.cmd('SEARCH SEEN')[1], ['* SEARCH 2 3'])
        # it lasts: another session sees it
        c.cmd('CLOSE')
        self.assertEqual(c.cmd('STATUS INBOX (UNSEEN)')[1],
                         ['* STATUS "INBOX" (UNSEEN 1)'])

    def test_fetch_macros(self):
        c = self.connect()
        self.ok(c.append('INBOX', message()))
        self.select(c)
        keys = lambda r: [k for k in r[1]]  # noqa: E731
        tagged, unt = c.cmd('FETCH 1 FAST')
        self.assertEqual(keys(fetch_map(unt)),
                         ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'])
        tagged, unt = c.cmd('FETCH 1 ALL')
        self.assertEqual(keys(fetch_map(unt)),
                         ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'])
        tagged, unt = c.cmd('FETCH 1 FULL')
        self.assertEqual(keys(fetch_map(unt)),
                         ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE',
                          'BODY'])
        self.assertRegex(c.cmd('FETCH 1 (ALL)')[0], r'^a\d+ BAD ')

    def test_fetch_mime_items(self):
        c = self.connect()
        self.ok(c.append('INBOX', MULTIPART))
        self.select(c)
        got = self.fetch(c, '1 (ENVELOPE BODYSTRUCTURE BODY)')[1]
        env = got['ENVELOPE']
        fred = [['Fred Foobar', None, 'foobar', 'Blurdybloop.example']]
        self.assertEqual(env, [
            'Mon, 7 Feb 1994 21:52:25 -0800', 'afternoon meeting', fred, fred,
            fred, [[None, None, 'mooch', 'owatagu.example'],
                   ['Joe Q.', None, 'joe', 'example.org']],
            [[None, None, 'Group', None], [None, None, 'a', 'b.example'],
             [None, None, None, None]],
            None, None, '<B27397-0100000@Blurdybloop.example>'])
        bs = got['BODYSTRUCTURE']
        text, binp = bs[0], bs[1]
        self.assertEqual([x.lower() if isinstance(x, str) else x
                          for x in text[:7]],
                         ['text', 'plain', ['charset', 'us-ascii'], None, None,
                          '7bit', str(len(PART1))])
        self.assertEqual(text[7], '1')
        self.assertEqual([x.lower() if isinstance(x, str) else x
                          for x in binp[:7]],
                         ['application', 'octet-stream', ['name', 'b.bin'],
                          None, None, 'base64', str(len(B64) - 2)])
        self.assertEqual(bs[2].lower(), 'mixed')
        self.assertEqual(bs[3], ['boundary', 'XX'])
        self.assertEqual(got['BODY'][:2], [text[:8], binp[:7]])
        got = self.fetch(c, '1 (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2] '
                            'BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] '
                            'BODY.PEEK[HEADER.FIELDS.NOT (FROM SUBJECT)])')[1]
        self.assertEqual(got['BODY[1]'], PART1)
        self.assertEqual(got['BODY[1.MIME]'], PART1_MIME)
        self.assertEqual(got['BODY[2]'], B64[:-2])
        self.assertEqual(got['BODY[HEADER.FIELDS (FROM SUBJECT)]'],
                         b'From: "Fred Foobar" <foobar@Blurdybloop.example>\r\n'
                         b'Subject: afternoon meeting\r\n\r\n')
        lines = header_of(MULTIPART).split(b'\r\n')
        self.assertEqual(got['BODY[HEADER.FIELDS.NOT (FROM SUBJECT)]'],
                         b'\r\n'.join(l for l in lines
                                      if not l.startswith((b'From:',
                                                           b'Subject:'))))
        # BINARY decodes the base64 part (RFC 3516); literal8 for NUL bytes
        tagged, unt = c.cmd_bytes('FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2] '
                                  'BINARY.SIZE[1] BINARY.PEEK[1])')
        self.assertEqual(unt, [b'* 1 FETCH (BINARY.SIZE[2] %d BINARY[2] ~{%d}'
                               b'\r\n' % (len(BLOB), len(BLOB)) + BLOB +
                               b' BINARY.SIZE[1] %d BINARY[1] {%d}\r\n'
                               % (len(PART1), len(PART1)) + PART1 + b')'])
        tagged, unt = c.cmd_bytes('FETCH 1 BINARY.PEEK[2]<10.5>')
        self.assertRegex(unt[0], rb'^\* 1 FETCH \(BINARY\[2\]<10> ~?\{5\}')
        self.assertEqual(fetch_map(unt)[1]['BINARY[2]<10>'], BLOB[10:15])
        tagged, unt = c.cmd_bytes('FETCH 1 BINARY.PEEK[2]<250.10>')
        self.assertEqual(unt, [b'* 1 FETCH (BINARY[2]<250> ~{10}\r\n' +
                               BLOB[250:260] + b')'])
        self.assertEqual(self.flags(c, 1), ['\\Recent'])

    def test_fetch_bad_sets(self):
        c = self.connect()
        self.fill(c, 'INBOX', 2)
        self.select(c)
        for s in ('3', '1:3', '0', '*:4'):
            self.assertRegex(c.cmd('FETCH %s FLAGS' % s)[0], r'^a\d+ BAD ', s)
        got = self.fetch(c, '2:1 UID')
        self.assertEqual(sorted(got), [1, 2])
        got = self.fetch(c, '* UID')
        self.assertEqual(got, {2: {'UID': '2'}})
        got = self.fetch(c, '1,1,2:2,* UID')
        self.assertEqual(sorted(got), [1, 2])

    # ---- STORE ----

    def test_store(self):
        c = self.connect()
        self.fill(c, 'INBOX', 3)
        self.select(c)
        run = lambda cmd: c.cmd(cmd)  # noqa: E731
        # $Work is new: FLAGS and PERMANENTFLAGS announce it first
        self.assertEqual(run('STORE 1 +FLAGS (\\Flagged $Work)'),
                         ('a006 OK STORE completed',
                          ['* FLAGS (\\Answered \\Flagged \\Deleted \\Seen '
                           '\\Draft $Work)',
                           '* OK [PERMANENTFLAGS (\\Answered \\Flagged '
                           '\\Deleted \\Seen \\Draft $Work \\*)] Flags permitted',
                           '* 1 FETCH (FLAGS (\\Flagged \\Recent $Work))']))
        self.assertEqual(run('STORE 1:2 +FLAGS (\\Seen $work)')[1],
                         ['* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent $Work))',
                          '* 2 FETCH (FLAGS (\\Seen \\Recent $Work))'])
        self.assertEqual(run('STORE 1 -FLAGS (\\Flagged $WORK)')[1],
                         ['* 1 FETCH (FLAGS (\\Seen \\Recent))'])
        self.assertEqual(run('STORE 2 FLAGS (\\Answered Later)')[1][2:],
                         ['* 2 FETCH (FLAGS (\\Answered \\Recent Later))'])
        self.assertEqual(run('STORE 3 FLAGS ()')[1],
                         ['* 3 FETCH (FLAGS (\\Recent))'])
        # .SILENT: nothing echoed, but the change is made
        for cmd in ('STORE 1:3 +FLAGS.SILENT (\\Deleted)',
                    'STORE 3 -FLAGS.SILENT (\\Deleted)',
                    'STORE 2 FLAGS.SILENT (\\Draft)'):
            self.assertEqual(run(cmd)[1], [], cmd)
        got = self.fetch(c, '1:3 FLAGS')
        self.assertEqual([got[i]['FLAGS'] for i in (1, 2, 3)],
                         [['\\Deleted', '\\Seen', '\\Recent'],
                          ['\\Draft', '\\Recent'], ['\\Recent']])
        # system flags are case-insensitive; unchanged messages stay quiet
        self.assertEqual(run('STORE 3 +FLAGS (\\DRAFT)')[1],
                         ['* 3 FETCH (FLAGS (\\Draft \\Recent))'])
        self.assertRegex(run('STORE 1 +FLAGS (\\Recent)')[0], r'^a\d+ BAD ')
        self.assertRegex(run('STORE 1 +FLAGS (\\Unknown)')[0], r'^a\d+ BAD ')
        self.assertRegex(run('STORE 1 +FLAGS (bad]kw)')[0], r'^a\d+ (BAD|NO) ')
        self.assertRegex(run('STORE 4 +FLAGS (\\Seen)')[0], r'^a\d+ BAD ')
        # keywords are listed in FLAGS at the next SELECT
        info = self.select(c)
        self.assertEqual(info['flags'][5:], ['$Work', 'Later'])

    # ---- COPY / MOVE ----

    def test_copy(self):
        c = self.connect()
        bodies = self.fill(c, 'INBOX', 4)
        c.cmd('CREATE Dest')
        uv = self.select(c, 'Dest', examine=True)['uidvalidity']
        self.select(c)
        c.cmd('STORE 2 +FLAGS.SILENT (\\Answered Kw)')
        tagged, unt = c.cmd('COPY 2:3 Dest')
        self.assertEqual(tagged[5:], 'OK [COPYUID %d 2:3 1:2] COPY completed'
                         % uv)
        self.assertEqual(unt, [])
        tagged, _ = c.cmd('UID COPY 4,1 Dest')
        self.assertEqual(code(tagged), ('COPYUID', '%d 1,4 3:4' % uv))
        self.assertEqual(c.cmd('COPY 1 Nowhere')[0][5:],
                         'NO [TRYCREATE] Mailbox doesn\'t exist: Nowhere')
        self.assertRegex(c.cmd('COPY 9 Dest')[0], r'^a\d+ BAD ')
        # the source is untouched
        self.assertEqual(len(self.fetch(c, '1:* UID')), 4)
        info = self.select(c, 'Dest')
        self.assertEqual((info['exists'], info['recent']), (4, 4))
        got = self.fetch(c, '1:4 (UID FLAGS INTERNALDATE BODY.PEEK[])')
        self.assertEqual([got[i]['BODY[]'] for i in (1, 2, 3, 4)],
                         [bodies[1], bodies[2], bodies[0], bodies[3]])
        self.assertEqual(got[1]['FLAGS'], ['\\Answered', '\\Recent', 'Kw'])
        # a copy to the selected mailbox itself is announced
        tagged, unt = c.cmd('COPY 1 Dest')
        self.assertEqual(code(tagged), ('COPYUID', '%d 1 5' % uv))
        self.assertEqual(unt, ['* 5 EXISTS', '* 5 RECENT'])

    def test_move(self):
        c = self.connect()
        bodies = self.fill(c, 'INBOX', 6)
        uv = self.select(c, 'Trash', examine=True)['uidvalidity']
        self.select(c)
        # a set with holes (issue 5): 2, 4, 5
        tagged, unt = c.cmd('MOVE 2,4:5 Trash')
        self.assertEqual(tagged, 'a010 OK MOVE completed')
        self.assertEqual(unt[0], '* OK [COPYUID %d 2,4:5 1:3] Moved' % uv)
        seqs = list(range(1, 7))
        self.assertEqual(unt[-1], '* 3 RECENT')
        for l in unt[1:-1]:
            m = re.match(r'^\* (\d+) EXPUNGE$', l)
            self.assertTrue(m, l)
            del seqs[int(m.group(1)) - 1]
        self.assertEqual(seqs, [1, 3, 6])
        got = self.fetch(c, '1:* UID')
        self.assertEqual({k: v['UID'] for k, v in got.items()},
                         {1: '1', 2: '3', 3: '6'})
        # UID MOVE
        tagged, unt = c.cmd('UID MOVE 6 Trash')
        self.assertEqual(unt, ['* OK [COPYUID %d 6 4] Moved' % uv,
                               '* 3 EXPUNGE', '* 2 RECENT'])
        self.assertRegex(c.cmd('MOVE 1 Nowhere')[0], r'^a\d+ NO \[TRYCREATE\]')
        self.assertEqual(c.cmd('NOOP')[1], [])
        info = self.select(c, 'Trash')
        self.assertEqual(info['exists'], 4)
        got = self.fetch(c, '1:4 BODY.PEEK[]')
        self.assertEqual([got[i]['BODY[]'] for i in (1, 2, 3, 4)],
                         [bodies[1], bodies[3], bodies[4], bodies[5]])

    # ---- EXPUNGE / CLOSE ----

    def test_expunge(self):
        c = self.connect()
        self.fill(c, 'INBOX', 6)
        self.select(c)
        c.cmd('STORE 2,3,5 +FLAGS.SILENT (\\Deleted)')
        tagged, unt = c.cmd('EXPUNGE')
        self.assertEqual(tagged[5:], 'OK EXPUNGE completed')
        # RECENT: the size changed (RFC 3501 7.3.2), and 3 of the 6
        # messages this session holds as \\Recent are left
        self.assertEqual(unt, ['* 5 EXPUNGE', '* 3 EXPUNGE', '* 2 EXPUNGE',
                               '* 3 RECENT'])
        self.assertEqual(c.cmd('EXPUNGE')[1], [])
        got = self.fetch(c, '1:* UID')
        self.assertEqual([got[i]['UID'] for i in (1, 2, 3)], ['1', '4', '6'])
        # UID EXPUNGE removes only \Deleted messages of its set
        c.cmd('STORE 1:3 +FLAGS.SILENT (\\Deleted)')
        tagged, unt = c.cmd('UID EXPUNGE 4:6')
        self.assertEqual(unt, ['* 3 EXPUNGE', '* 2 EXPUNGE', '* 1 RECENT'])
        self.assertEqual(self.fetch(c, '1:* (UID FLAGS)'),
                         {1: {'UID': '1', 'FLAGS': ['\\Deleted', '\\Recent']}})
        self.assertEqual(c.cmd('UID EXPUNGE 100')[1], [])

    def test_close_expunges_silently(self):
        user = self.new_user()
        c = self.connect(user)
        self.fill(c, 'INBOX', 3)
        self.select(c)
        c.cmd('STORE 1,3 +FLAGS.SILENT (\\Deleted)')
        self.assertEqual(c.cmd('CLOSE'), ('a007 OK CLOSE completed', []))
        self.assertRegex(c.cmd('FETCH 1 FLAGS')[0], r'^a\d+ BAD ')
        info = self.select(c)
        self.assertEqual(info['exists'], 1)
        self.assertEqual(self.fetch(c, '1 UID'), {1: {'UID': '2'}})

    # ---- SEARCH ----

    def setup_search(self, c):
        specs = [  # flags, internal date, Date: header, body size
            (['\\Seen'], '01-Jan-2000 00:00:00 +0000',
             'Mon, 7 Feb 1994 21:52:25 -0800', 10),
            ([], '15-Jun-2010 12:00:00 +0200',
             'Tue, 1 Mar 2005 10:00:00 +0000', 200),
            (['\\Flagged', '$Work'], '01-Jan-2000 00:00:00 +0000',
             'Mon, 7 Feb 1994 21:52:25 -0800', 400),
            (['\\Deleted'], '15-Jun-2010 12:00:00 +0200',
             'Tue, 1 Mar 2005 10:00:00 +0000', 600),
            (['\\Answered'], '01-Jan-2000 00:00:00 +0000',
             'Mon, 7 Feb 1994 21:52:25 -0800', 800),
            (['\\Draft', 'Junk'], '15-Jun-2010 12:00:00 +0200',
             'Tue, 1 Mar 2005 10:00:00 +0000', 1000),
        ]
        sizes = []
        for i, (flags, idate, hdate, size) in enumerate(specs):
            data = message(subject='m%d' % (i + 1), body='x' * size + '\r\n',
                           date=hdate)
            sizes.append(len(data))
            self.ok(c.append('INBOX', data, flags=flags, date=idate))
        self.select(c)
        return sizes

    def test_search_keys(self):
        c = self.connect()
        sizes = self.setup_search(c)
        over = lambda n: [i + 1 for i, z in enumerate(sizes) if z > n]  # noqa
        under = lambda n: [i + 1 for i, z in enumerate(sizes) if z < n]  # noqa
        self.assertEqual(over(sizes[3]), [5, 6])
        self.assertEqual(under(sizes[2]), [1, 2])
        cases = {
            'ALL': [1, 2, 3, 4, 5, 6], 'SEEN': [1], 'UNSEEN': [2, 3, 4, 5, 6],
            'FLAGGED': [3], 'UNFLAGGED': [1, 2, 4, 5, 6], 'DELETED': [4],
            'UNDELETED': [1, 2, 3, 5, 6], 'ANSWERED': [5],
            'UNANSWERED': [1, 2, 3, 4, 6], 'DRAFT': [6],
            'UNDRAFT': [1, 2, 3, 4, 5], 'KEYWORD $Work': [3],
            'KEYWORD $WORK': [3], 'UNKEYWORD Junk': [1, 2, 3, 4, 5],
            'KEYWORD Never': [], 'RECENT': [1, 2, 3, 4, 5, 6],
            'NEW': [2, 3, 4, 5, 6], 'OLD': [],
            'LARGER %d' % sizes[3]: [5, 6], 'SMALLER %d' % sizes[2]: [1, 2],
            'LARGER %d' % (sizes[3] - 1): [4, 5, 6],
            'UID 2:4': [2, 3, 4], 'UID 5:*': [5, 6], 'UID 100:*': [6],
            '2:4': [2, 3, 4], '2,4:*': [2, 4, 5, 6], '*': [6], '$': [],
            'OR SEEN FLAGGED': [1, 3], 'NOT SEEN': [2, 3, 4, 5, 6],
            'NOT LARGER %d' % sizes[1]: [1, 2],
            'NOT NOT SEEN': [1], 'OR (SEEN) (OR DELETED DRAFT)': [1, 4, 6],
            '(SEEN FLAGGED)': [],
            'UNSEEN UNDELETED LARGER %d' % sizes[0]: [2, 3, 5, 6],
            'BEFORE 1-Jan-2005': [1, 3, 5], 'SINCE 1-Jan-2005': [2, 4, 6],
            'ON 15-Jun-2010': [2, 4, 6], 'ON 1-Jan-2000': [1, 3, 5],
            'SENTBEFORE 1-Jan-2000': [1, 3, 5], 'SENTSINCE 1-Mar-2005':
            [2, 4, 6], 'SENTON 1-Mar-2005': [2, 4, 6], 'SENTON 8-Feb-1994': [],
            'SUBJECT m3': [3], 'SUBJECT M3': [3], 'FROM alice': [1, 2, 3, 4, 5, 6],
            'TO bob@example.org': [1, 2, 3, 4, 5, 6], 'BODY ' + 'x' * 20: [2, 3, 4, 5, 6],
            'HEADER Subject m5': [5], 'TEXT m6': [6], 'CC anyone': [],
            'CHARSET UTF-8 SUBJECT m2': [2], 'CHARSET US-ASCII SEEN': [1],
            'OLDER 86400': [1, 2, 3, 4, 5, 6], 'YOUNGER 86400': [],
        }
        for key, want in cases.items():
            tagged, unt = c.cmd('SEARCH ' + key)
            self.assertRegex(tagged, r'^a\d+ OK SEARCH completed$', key)
            self.assertEqual(search_result(unt), want, key)
            self.assertEqual(unt, ['* SEARCH' + ''.join(' %d' % n
                                                        for n in want)], key)
        tagged, unt = c.cmd('SEARCH CHARSET KOI8-R SUBJECT m3')
        self.assertEqual(tagged[5:], 'NO [BADCHARSET (UTF-8 US-ASCII)] '
                                     'Unsupported charset KOI8-R')
        self.assertEqual(unt, [])
        # UID SEARCH answers UIDs (UIDs 2 3 5 6 are left)
        c.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')
        self.assertEqual(c.cmd('EXPUNGE')[1], ['* 4 EXPUNGE', '* 1 EXPUNGE',
                                               '* 4 RECENT'])
        self.assertEqual(c.cmd('UID SEARCH SEEN')[1], ['* SEARCH'])
        self.assertEqual(c.cmd('UID SEARCH UNSEEN')[1], ['* SEARCH 2 3 5 6'])
        self.assertEqual(c.cmd('SEARCH UID 3')[1], ['* SEARCH 2'])
        self.assertEqual(c.cmd('UID SEARCH 1')[1], ['* SEARCH 2'])
        # a UTF-8 literal as the search string
        c.send('s1 SEARCH CHARSET UTF-8 SUBJECT {2}\r\n')
        self.assertEqual(c.readline(), '+ Ready for literal data')
        c.send('m5\r\n')
        self.assertEqual(c.read_until_tagged('s1'),
                         ('s1 OK SEARCH completed', ['* SEARCH 3']))

    def test_search_utf8_subject(self):
        c = self.connect()
        self.ok(c.append('INBOX', message(subject='=?UTF-8?Q?na=C3=AFve_caf?= '
                                          '=?UTF-8?B?w6k=?=')))
        self.ok(c.append('INBOX', message(subject='plain')))
        self.select(c)
        word = 'naïve café'.encode('utf-8')
        c.send(b's1 SEARCH CHARSET UTF-8 SUBJECT {%d}\r\n' % len(word))
        self.assertEqual(c.readline(), '+ Ready for literal data')
        c.send(word + b'\r\n')
        self.assertEqual(c.read_until_tagged('s1'),
                         ('s1 OK SEARCH completed', ['* SEARCH 1']))

    def test_esearch_and_searchres(self):
        c = self.connect()
        self.setup_search(c)
        tagged, unt = c.cmd('SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN')
        self.assertEqual(unt, ['* ESEARCH (TAG "%s") MIN 2 MAX 6 COUNT 5 ALL '
                               '2:6' % tagged.split()[0]])
        tagged, unt = c.cmd('UID SEARCH RETURN (COUNT MIN) OR SEEN FLAGGED')
        self.assertEqual(unt, ['* ESEARCH (TAG "%s") UID MIN 1 COUNT 2'
                               % tagged.split()[0]])
        tagged, unt = c.cmd('SEARCH RETURN () OR SEEN DRAFT')
        self.assertEqual(esearch_result(unt)['ALL'], '1,6')
        tagged, unt = c.cmd('SEARCH RETURN (MIN MAX ALL) KEYWORD Never')
        self.assertEqual(unt, ['* ESEARCH (TAG "%s")' % tagged.split()[0]])
        tagged, unt = c.cmd('SEARCH RETURN (COUNT) KEYWORD Never')
        self.assertEqual(esearch_result(unt)['COUNT'], '0')
        # SEARCHRES: SAVE, then $ in FETCH, STORE, COPY, SEARCH
        tagged, unt = c.cmd('SEARCH RETURN (SAVE) OR FLAGGED DRAFT')
        self.assertEqual((tagged[5:], unt), ('OK SEARCH completed', []))
        self.assertEqual(sorted(self.fetch(c, '$ UID')), [3, 6])
        self.assertEqual(sorted(self.fetch(c, '$ UID', uid=True)), [3, 6])
        self.assertEqual(c.cmd('SEARCH $ SMALLER 600')[1], ['* SEARCH 3'])
        self.assertEqual(c.cmd('STORE $ +FLAGS (Saved)')[1][2:],
                         ['* 3 FETCH (FLAGS (\\Flagged \\Recent $Work Saved))',
                          '* 6 FETCH (FLAGS (\\Draft \\Recent Junk Saved))'])
        self.assertEqual(code(c.cmd('COPY $ Trash')[0])[1].split()[1:],
                         ['3,6', '1:2'])
        # SAVE with MIN alone saves only the minimum (RFC 5182 2.4)
        tagged, unt = c.cmd('SEARCH RETURN (SAVE MIN) UNSEEN')
        self.assertEqual(esearch_result(unt)['MIN'], '2')
        self.assertEqual(sorted(self.fetch(c, '$ UID')), [2])
        # a search with no match saves the empty set
        c.cmd('SEARCH RETURN (SAVE) KEYWORD Never')
        self.assertEqual(self.fetch(c, '$ UID'), {})

    # ---- UID commands ----

    def test_uid_commands(self):
        c = self.connect()
        self.fill(c, 'INBOX', 5)
        self.select(c)
        c.cmd('STORE 1:2 +FLAGS.SILENT (\\Deleted)')
        c.cmd('EXPUNGE')   # UIDs 3 4 5 are left, as seq 1 2 3
        tagged, unt = c.cmd('UID FETCH 4:* FLAGS')
        self.assertEqual(unt, ['* 2 FETCH (UID 4 FLAGS (\\Recent))',
                               '* 3 FETCH (UID 5 FLAGS (\\Recent))'])
        self.assertEqual(c.cmd('UID FETCH 1:2 FLAGS')[1], [])
        self.assertEqual(c.cmd('UID FETCH 100:* UID')[1],
                         ['* 3 FETCH (UID 5)'])
        self.assertEqual(c.cmd('UID FETCH 100 UID')[1], [])
        self.assertEqual(c.cmd('UID STORE 3,5 +FLAGS (\\Seen)')[1],
                         ['* 1 FETCH (UID 3 FLAGS (\\Seen \\Recent))',
                          '* 3 FETCH (UID 5 FLAGS (\\Seen \\Recent))'])
        self.assertEqual(c.cmd('UID STORE 3 +FLAGS.SILENT (\\Flagged)')[1], [])
        self.assertEqual(c.cmd('UID STORE 1:2 +FLAGS (\\Seen)')[1], [])
        tagged, unt = c.cmd('UID COPY 4:5 Trash')
        self.assertEqual(code(tagged)[1].split()[1:], ['4:5', '1:2'])
        self.assertEqual(c.cmd('UID SEARCH SEEN')[1], ['* SEARCH 3 5'])
        self.assertEqual(c.cmd('UID SEARCH UID 4:100')[1], ['* SEARCH 4 5'])

    # ---- a large message ----

    def test_large_message(self):
        c = self.connect(timeout=30)
        line = bytes(range(32, 127)) + b'\r\n'
        body = (line * (3 * 1024 * 1024 // len(line) + 1))[:3 * 1024 * 1024]
        data = message(subject='big', body='') + body
        tagged, _ = c.append('INBOX', data, timeout=30)
        self.assertRegex(tagged, r'^a\d+ OK \[APPENDUID ')
        self.select(c)
        tagged, unt = c.cmd_bytes('FETCH 1 (RFC822.SIZE BODY.PEEK[])', timeout=30)
        self.assertEqual(tagged[5:], b'OK FETCH completed')
        self.assertEqual(unt, [b'* 1 FETCH (RFC822.SIZE %d BODY[] {%d}\r\n'
                               % (len(data), len(data)) + data + b')'])
        for off, n in ((0, 1000), (1048576, 65536), (len(data) - 100, 1000),
                       (2000000, 1048577)):
            got = self.fetch(c, '1 BODY.PEEK[]<%d.%d>' % (off, n))[1]
            self.assertEqual(as_bytes(got['BODY[]<%d>' % off]),
                             data[off:off + n], (off, n))
        got = self.fetch(c, '1 (BODY.PEEK[TEXT]<5.10> BODY.PEEK[HEADER])')[1]
        self.assertEqual(text_of(data), body)
        self.assertEqual(got['BODY[TEXT]<5>'], body[5:15])
        self.assertEqual(got['BODY[HEADER]'], header_of(data))
        # the whole thing again with RFC822, setting \Seen
        got = self.fetch(c, '1 RFC822')[1]
        self.assertEqual(got['RFC822'], data)
        self.assertEqual(got['FLAGS'], ['\\Seen', '\\Recent'])


if __name__ == '__main__':
    unittest.main()
