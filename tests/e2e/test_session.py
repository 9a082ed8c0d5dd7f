"""test_session.py - the authenticated session against the real daemon:
CAPABILITY after login, NOOP, LOGOUT, ID, ENABLE, NAMESPACE, UNSELECT,
CHECK; commands in the wrong state, unknown and malformed commands;
line, literal and message size limits (small limits configured here);
pipelined commands and input arriving byte by byte."""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import Closed, ImapCase, message, quote  # noqa: E402

CAPS = ['IMAP4rev1', 'LITERAL+', 'ID', 'ENABLE', 'IDLE', 'NAMESPACE',
        'UNSELECT', 'CHILDREN', 'UIDPLUS', 'MOVE', 'MULTIAPPEND', 'ESEARCH',
        'SEARCHRES', 'WITHIN', 'LIST-EXTENDED', 'LIST-STATUS', 'SPECIAL-USE',
        'CREATE-SPECIAL-USE', 'CONDSTORE', 'QRESYNC']
MAX_LINE = 4096
MAX_LITERAL = 2048
MAX_MESSAGE = 100 * 1024


class Session(ImapCase):
    config = {'max_line': '4K', 'max_literal': '2K', 'max_message': '100K'}

    def usable(self, c):
        """The connection still answers, in order."""
        self.assertRegex(c.cmd('NOOP')[0], r'^a\d+ OK NOOP completed$')

    # ---- CAPABILITY, NOOP, LOGOUT, ID, NAMESPACE ----

    def test_capability_after_login(self):
        user = self.new_user()
        c = self.server.client()
        self.addCleanup(c.close)
        tagged, unt = c.login(*user)
        self.assertEqual(unt, [])
        m = re.match(r'^a\d+ OK \[CAPABILITY ([^\]]*)\] LOGIN completed$',
                     tagged)
        self.assertTrue(m, tagged)
        caps = m.group(1).split()
        # every extension tested in this suite is advertised (others,
        # tested elsewhere, may be too), each once
        self.assertEqual(caps[0], 'IMAP4rev1')
        self.assertEqual([x for x in caps if x in CAPS], CAPS)
        self.assertEqual(len(set(caps)), len(caps))
        tagged, unt = c.cmd('CAPABILITY')
        self.assertEqual(tagged, 'a002 OK CAPABILITY completed')
        self.assertEqual(unt, ['* CAPABILITY ' + m.group(1)])
        # nothing of the not-authenticated state is left
        for gone in ('AUTH=PLAIN', 'SASL-IR', 'STARTTLS', 'LOGINDISABLED'):
            self.assertNotIn(gone, unt[0].split())
        # the same in the selected state
        self.select(c)
        self.assertEqual(c.cmd('CAPABILITY')[1], unt)

    def test_noop_quiet_and_selected(self):
        c = self.connect()
        self.assertEqual(c.cmd('NOOP'), ('a002 OK NOOP completed', []))
        self.select(c)
        self.assertEqual(c.cmd('NOOP')[1], [])
        self.assertEqual(c.cmd('noop')[0], 'a005 OK NOOP completed')

    def test_logout_authenticated(self):
        c = self.connect()
        tagged, unt = c.cmd('LOGOUT')
        self.assertEqual(unt, ['* BYE Logging out'])
        self.assertEqual(tagged, 'a002 OK LOGOUT completed')
        self.assertEqual(c.expect_closed(), [])

    def test_logout_selected_keeps_deleted(self):
        user = self.new_user()
        c = self.connect(user)
        self.ok(c.append('INBOX', message(), flags=['\\Deleted']))
        self.select(c)
        tagged, unt = c.cmd('LOGOUT')
        self.assertEqual((tagged, unt),
                         ('a004 OK LOGOUT completed', ['* BYE Logging out']))
        self.assertEqual(c.expect_closed(), [])
        # LOGOUT is not CLOSE: the \Deleted message is still there
        c = self.connect(user)
        self.assertEqual(self.select(c)['exists'], 1)

    def test_id(self):
        c = self.connect()
        for arg in ('NIL', '("name" "e2e" "version" "1.0")'):
            tagged, unt = c.cmd('ID ' + arg)
            self.assertRegex(tagged, r'^a\d+ OK ID completed$')
            self.assertEqual(len(unt), 1)
            self.assertRegex(unt[0], r'^\* ID \("name" "Mailkeep" "version" '
                             r'"[0-9][^"]*"\)$')
        self.assertRegex(c.cmd('ID (name e2e)')[0], r'^a\d+ BAD ')
        self.assertRegex(c.cmd('ID')[0], r'^a\d+ BAD ')
        self.usable(c)

    def test_namespace(self):
        # the personal namespace is fixed; other users' and shared ones
        # belong to the ACL work and are only checked for form here
        want = (r'^\* NAMESPACE \(\("" "/"\)\) (NIL|\(\(.*\)\)) '
                r'(NIL|\(\(.*\)\))$')
        c = self.connect()
        tagged, unt = c.cmd('NAMESPACE')
        self.assertEqual(tagged, 'a002 OK NAMESPACE completed')
        self.assertEqual(len(unt), 1)
        self.assertRegex(unt[0], want)
        self.select(c)
        self.assertEqual(c.cmd('NAMESPACE')[1], unt)

    # ---- ENABLE ----

    def test_enable(self):
        c = self.connect()
        self.assertEqual(c.cmd('ENABLE CONDSTORE'),
                         ('a002 OK ENABLE completed', ['* ENABLED CONDSTORE']))
        # only what is newly enabled is listed
        self.assertEqual(c.cmd('ENABLE CONDSTORE QRESYNC')[1],
                         ['* ENABLED QRESYNC'])
        self.assertEqual(c.cmd('ENABLE QRESYNC')[1], ['* ENABLED'])
        # unknown extensions are ignored (RFC 5161 3.1)
        self.assertEqual(c.cmd('ENABLE X-UNKNOWN UTF8=NONE'),
                         ('a005 OK ENABLE completed', ['* ENABLED']))
        self.assertRegex(c.cmd('ENABLE')[0], r'^a\d+ BAD ')
        info = self.select(c)
        self.assertIn('highestmodseq', info)
        # ENABLE belongs to the authenticated state
        self.assertEqual(c.cmd('ENABLE CONDSTORE')[0],
                         'a008 BAD ENABLE is not valid in the selected state')

    def test_enable_qresync_implies_condstore(self):
        c = self.connect()
        self.assertEqual(c.cmd('ENABLE QRESYNC')[1],
                         ['* ENABLED CONDSTORE QRESYNC'])
        self.ok(c.append('INBOX', message()))
        self.select(c)
        # an implicit \Seen is reported with UID and MODSEQ (RFC 7162 3.1)
        tagged, unt = c.cmd('FETCH 1 BODY[TEXT]')
        self.assertRegex(unt[0], r'^\* 1 FETCH \(UID 1 FLAGS \(\\Seen '
                         r'\\Recent\) MODSEQ \(\d+\) BODY\[TEXT\] \{8\}')

    # ---- UNSELECT, CHECK ----

    def test_unselect_does_not_expunge(self):
        c = self.connect()
        self.ok(c.append('INBOX', message(), flags=['\\Deleted']))
        self.select(c)
        self.assertEqual(c.cmd('UNSELECT'), ('a004 OK UNSELECT completed', []))
        self.assertEqual(c.cmd('FETCH 1 FLAGS')[0],
                         'a005 BAD FETCH is only valid in the selected state; '
                         'SELECT a mailbox first')
        self.assertEqual(self.select(c)['exists'], 1)
        self.assertEqual(c.cmd('UNSELECT')[0], 'a007 OK UNSELECT completed')
        self.assertEqual(c.cmd('UNSELECT')[0],
                         'a008 BAD UNSELECT is only valid in the selected '
                         'state; SELECT a mailbox first')

    def test_check(self):
        c = self.connect()
        self.assertEqual(c.cmd('CHECK')[0],
                         'a002 BAD CHECK is only valid in the selected state; '
                         'SELECT a mailbox first')
        self.select(c)
        self.assertEqual(c.cmd('CHECK'), ('a004 OK CHECK completed', []))

    # ---- wrong state, unknown, malformed ----

    def test_wrong_state(self):
        c = self.connect()
        for cmd in ('FETCH 1 FLAGS', 'UID FETCH 1 FLAGS', 'STORE 1 +FLAGS x',
                    'SEARCH ALL', 'UID SEARCH ALL', 'COPY 1 INBOX',
                    'MOVE 1 INBOX', 'EXPUNGE', 'UID EXPUNGE 1', 'CLOSE',
                    'UNSELECT', 'CHECK'):
            tagged, unt = c.cmd(cmd)
            name = ' '.join(cmd.split()[:2 if cmd.startswith('UID') else 1])
            self.assertEqual(unt, [])
            self.assertRegex(tagged, r'^a\d+ BAD %s is only valid in the '
                             r'selected state; SELECT a mailbox first$' % name)
        for cmd in ('LOGIN u p', 'AUTHENTICATE PLAIN'):
            self.assertRegex(c.cmd(cmd)[0], r'^a\d+ BAD Already authenticated$')
        self.assertRegex(c.cmd('STARTTLS')[0],
                         r'^a\d+ BAD STARTTLS is only valid before login$')
        self.select(c)
        self.assertRegex(c.cmd('LOGIN u p')[0], r'^a\d+ BAD Already '
                         r'authenticated$')
        self.usable(c)

    def test_unknown_commands(self):
        c = self.connect()
        self.assertEqual(c.cmd('FROBNICATE 1 2'),
                         ('a002 BAD Unknown command FROBNICATE', []))
        self.assertEqual(c.cmd('UID FROB 1')[0],
                         'a003 BAD Unknown command UID FROB')
        self.assertRegex(c.cmd('UID')[0], r'^a004 BAD ')
        self.usable(c)

    def test_malformed_commands(self):
        c = self.connect()
        self.select(c)
        bad = ['SELECT', 'SELECT INBOX extra', 'CREATE', 'LIST', 'LIST ""',
               'STATUS INBOX', 'STATUS INBOX (FOO)', 'STATUS INBOX (MESSAGES',
               'FETCH', 'FETCH x FLAGS', 'FETCH 1 (FLAGS', 'FETCH 1 BOGUS',
               'FETCH 1 BODY[', 'FETCH 1 BODY[HEADER.FIELDS]',
               'FETCH 1 BODY[]<5', 'FETCH 0 FLAGS', 'FETCH 1:0:2 FLAGS',
               'STORE 1 FLAGS', 'STORE 1 FOO (\\Seen)', 'STORE 1 +FLAGS (\\Seen',
               'SEARCH', 'SEARCH (', 'SEARCH FOO', 'SEARCH LARGER x',
               'SEARCH SINCE 32-Jan-2020', 'COPY 1', 'APPEND', 'APPEND INBOX',
               'APPEND INBOX (\\Seen', 'RENAME a', 'SUBSCRIBE',
               'SELECT "unterminated', 'EXAMINE INBOX (FOO)']
        for cmd in bad:
            tagged, unt = c.cmd(cmd)
            self.assertRegex(tagged, r'^a\d+ BAD \S', cmd)
            self.assertEqual(unt, [], cmd)
        # a line with only a tag, and one with no tag at all
        c.send('a900\r\n')
        self.assertRegex(c.readline(), r'^a900 BAD ')
        c.send('(\r\n')
        self.assertRegex(c.readline(), r'^(\*|\() BAD ')
        # empty lines are ignored, as a telnet user expects
        c.send('\r\n\r\n')
        self.usable(c)
        # still in the selected state
        self.assertRegex(c.cmd('CHECK')[0], r'^a\d+ OK CHECK completed$')

    # ---- limits ----

    def test_overlong_line(self):
        c = self.connect()
        c.send('a1 NOOP ' + 'x' * (MAX_LINE + 500) + '\r\n')
        tagged, unt = c.read_until_tagged('a1')
        self.assertEqual(tagged, 'a1 BAD Line too long')
        self.assertEqual(unt, [])
        self.usable(c)
        # an over-long line that announces a literal: the literal is not
        # awaited (no "+"), the next command is read normally
        c.send('a2 SELECT ' + 'y' * (MAX_LINE + 10) + ' {5}\r\n')
        tagged, unt = c.read_until_tagged('a2')
        self.assertRegex(tagged, r'^a2 BAD ')
        self.assertEqual(unt, [])
        self.usable(c)
        # a line just under the limit is served
        line = 'LIST "" ' + quote('n' * (MAX_LINE - 100))
        self.assertRegex(c.cmd(line)[0], r'^a\d+ OK LIST completed$')

    def test_literal_too_large(self):
        c = self.connect()
        c.send('a1 CREATE {%d}\r\n' % (MAX_LITERAL + 1))
        tagged, unt = c.read_until_tagged('a1')
        self.assertEqual(tagged, 'a1 BAD Literal too large')
        self.assertEqual(unt, [])   # no "+": the client must not send it
        self.usable(c)
        # a literal within the limit works
        c.send('a2 CREATE {5}\r\n')
        self.assertEqual(c.readline(), '+ Ready for literal data')
        c.send('Lit-1\r\n')
        tagged, unt = c.read_until_tagged('a2')
        self.assertRegex(tagged, r'^a2 OK \[MAILBOXID \([\w-]+\)\] '
                         r'CREATE completed$')
        self.assertEqual(unt, [])

    def test_append_too_big(self):
        c = self.connect()
        c.send('a1 APPEND INBOX {%d}\r\n' % (MAX_MESSAGE + 1))
        tagged, unt = c.read_until_tagged('a1')
        self.assertEqual(unt, [])
        self.assertEqual(tagged, 'a1 NO [TOOBIG] Literal too large')
        self.usable(c)
        # MULTIAPPEND: the second message too big, nothing stored
        data = message()
        c.send('a2 APPEND INBOX {%d}\r\n' % len(data))
        self.assertEqual(c.readline(), '+ Ready for literal data')
        c.send(data + (' {%d}\r\n' % (MAX_MESSAGE + 1)).encode())
        tagged, unt = c.read_until_tagged('a2')
        self.assertRegex(tagged, r'^a2 NO \[TOOBIG\] ')
        # one exactly at the limit is taken
        big = message(body='z' * 10)
        big = big + b'z' * (MAX_MESSAGE - len(big))
        self.assertEqual(len(big), MAX_MESSAGE)
        tagged, _ = c.append('INBOX', big)
        self.assertRegex(tagged, r'^a\d+ OK \[APPENDUID \d+ 1\] APPEND '
                         r'completed$')
        self.assertEqual(self.select(c)['exists'], 1)

    def test_nonsync_literal_too_large_closes(self):
        c = self.connect()
        c.send('a1 CREATE {%d+}\r\n' % (MAX_LITERAL + 1))
        lines = c.expect_closed()
        self.assertEqual(lines, ['* BYE Literal too large'])

    def test_nonsync_append_too_large_closes(self):
        c = self.connect()
        c.send('a1 APPEND INBOX {%d+}\r\n' % (MAX_MESSAGE + 1))
        lines = c.expect_closed()
        self.assertEqual(lines, ['* BYE Literal too large'])

    def test_bye_reaches_a_client_still_sending(self):
        """The server gives up on a connection while the client is still
        sending (here the rest of a literal it refused): the client reads
        the BYE and then an orderly end, not a reset that could have
        thrown the BYE away."""
        c = self.connect()
        rest = b'x' * (512 * 1024)
        c.sock.sendall(b'a1 APPEND INBOX {%d+}\r\n' % (MAX_MESSAGE + 1) +
                       rest)
        lines = c.expect_closed()
        self.assertEqual(lines, ['* BYE Literal too large'])

    # ---- pipelining and fragmented input ----

    def test_pipelined_commands(self):
        user = self.new_user()
        c = self.server.client()
        self.addCleanup(c.close)
        msg = message(subject='piped')
        # LOGIN and what follows it in one write
        c.send(b'p1 LOGIN ' + quote(user[0]).encode() + b' ' +
               quote(user[1]).encode() + b'\r\n'
               b'p2 APPEND INBOX {%d+}\r\n' % len(msg) + msg + b'\r\n'
               b'p3 SELECT INBOX\r\np4 FETCH 1 (UID RFC822.SIZE)\r\n'
               b'p5 STORE 1 +FLAGS.SILENT (\\Flagged)\r\n'
               b'p6 FETCH 1 FLAGS\r\np7 NOOP\r\n')
        seen = []
        for tag in ('p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'):
            tagged, unt = c.read_until_tagged(tag)
            self.assertRegex(tagged, '^%s OK ' % tag, unt)
            seen.append((tagged, unt))
        self.assertIn('* 1 EXISTS', seen[2][1])
        self.assertEqual(seen[3][1], ['* 1 FETCH (UID 1 RFC822.SIZE %d)' %
                                      len(msg)])
        self.assertEqual(seen[4][1], [])
        self.assertEqual(seen[5][1],
                         ['* 1 FETCH (FLAGS (\\Flagged \\Recent))'])
        # many commands in one write, answered in order
        c.send(''.join('q%d NOOP\r\n' % i for i in range(200)))
        for i in range(200):
            self.assertEqual(c.readline(), 'q%d OK NOOP completed' % i)

    def test_literal_byte_by_byte(self):
        c = self.connect()
        # the command line itself in single bytes
        for ch in b'b1 CREATE {6}\r\n':
            c.send(bytes([ch]))
            time.sleep(0.002)
        self.assertEqual(c.readline(), '+ Ready for literal data')
        for ch in b'Slow/1\r\n':
            c.send(bytes([ch]))
            time.sleep(0.01)
        tagged, unt = c.read_until_tagged('b1')
        self.assertRegex(tagged, r'^b1 OK \[MAILBOXID \([\w-]+\)\] '
                         r'CREATE completed$')
        self.assertEqual(unt, [])
        # an APPEND whose message arrives a byte at a time
        data = message(subject='slow', body='one\r\ntwo\r\n')
        c.send('b2 APPEND Slow/1 (\\Seen) {%d}\r\n' % len(data))
        self.assertEqual(c.readline(), '+ Ready for literal data')
        for i in range(len(data)):
            c.send(data[i:i + 1])
        c.send(b'\r')
        time.sleep(0.05)
        c.send(b'\n')
        tagged, unt = c.read_until_tagged('b2')
        self.assertRegex(tagged, r'^b2 OK \[APPENDUID \d+ 1\] ')
        self.select(c, 'Slow/1')
        tagged, unt = c.cmd_bytes('FETCH 1 (FLAGS BODY.PEEK[])')
        self.assertEqual(unt[0], b'* 1 FETCH (FLAGS (\\Seen \\Recent) '
                         b'BODY[] {%d}\r\n' % len(data) + data + b')')

    def test_client_closes_mid_literal(self):
        user = self.new_user()
        c = self.connect(user)
        c.send('a1 APPEND INBOX {500}\r\n')
        self.assertEqual(c.readline(), '+ Ready for literal data')
        c.send('x' * 100)
        c.close()
        # the server is fine and the message was not stored
        c = self.connect(user)
        self.assertEqual(self.select(c)['exists'], 0)


if __name__ == '__main__':
    unittest.main()
