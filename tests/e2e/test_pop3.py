"""test_pop3.py - POP3 (RFC 1939, 2449, 2595, 5034) against the real
daemon, with Python's poplib, raw sockets and fetchmail.

One server listens for IMAP, POP3 (STLS offered) and POP3S.  Messages
are APPENDed over IMAP and read over POP3: STAT, LIST, UIDL, TOP and
RETR agree byte for byte with IMAP's RFC822.SIZE and BODY[] (the wire
carries the dot-stuffing); UIDL is the UID and UIDVALIDITY, stable
across sessions and IMAP changes; DELE + QUIT expunges (and RETR sets
\\Seen), DELE + RSET and a dropped connection do not; a second POP3
session of the user gets -ERR [IN-USE] while IMAP goes on; an IMAP
client in IDLE gets the EXPUNGE of a POP3 QUIT; a message IMAP expunges
during a POP3 session stays retrievable in it.  Bad input gets -ERR and
the session goes on; AUTH PLAIN (both forms, with an administrator's
authorization identity), failures with [AUTH], pipelining, STLS and
POP3S; the POP3 login process is confined as the IMAP one (as root).
fetchmail (if installed) fetches everything into an MDA over STLS
with the certificate checked, and deletes it from the server.  With
plaintext_auth = never, USER and AUTH wait for STLS; login_timeout ends
a session that does not log in."""
import base64
import os
import poplib
import shutil
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import (Server, assert_login_confined,  # noqa: E402
                       free_port, wait_for)
from mkimap import fetch_map  # noqa: E402
from test_tls import HAVE_CERTTOOL, make_cert  # noqa: E402

HOST = '127.0.0.1'
# One user per test: each test's maildrop is its own.
USERS = {name: name + ' pw' for name in (
    'alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank', 'ivy',
    'isaac', 'sam', 'sue', 'uma', 'wendy', 'xena')}


def msg(subject, body):
    return ('From: a@example.org\r\nTo: b@example.org\r\nSubject: %s\r\n'
            'Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\n%s' %
            (subject, body)).encode()


# Lines starting with ".", an 8-bit line, and one long message (several
# pieces of the server's 64 KiB reads, so RETR streams).
MESSAGES = [
    msg('one', 'Hello.\r\n'),
    msg('dots', '.\r\n..two dots\r\n.leading\r\nlast\r\n'),
    msg('eight', 'caf\xe9 line\r\n'),
    msg('big', ''.join('line %06d %s\r\n' % (i, 'x' * (i % 70))
                       for i in range(6000))),
]


class POP3Case(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pop3_port = free_port()
        cls.pop3s_port = free_port()
        cls.server = Server(users=USERS, admins=['boss'], start=False)
        conf = {'listen_pop3': '%s:%d' % (HOST, cls.pop3_port)}
        cls.cert = None
        if HAVE_CERTTOOL:
            cls.cert, key = make_cert(cls.server.tmp, 'server')
            conf.update({'listen_pop3s': '%s:%d' % (HOST, cls.pop3s_port),
                         'tls_cert': cls.cert, 'tls_key': key})
        cls.server.configure(conf)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.server.cleanup()

    def tearDown(self):
        self.server.check_log()

    # -- helpers --

    def imap(self, user):
        c = self.server.client(login=(user, USERS[user]), timeout=10)
        self.addCleanup(c.close)
        return c

    def fill(self, user, messages=MESSAGES):
        c = self.imap(user)
        for m in messages:
            tagged, _ = c.append('INBOX', m)
            self.assertIn(' OK ', tagged)
        return c

    def pop(self, user=None, password=None):
        p = poplib.POP3(HOST, self.pop3_port, timeout=10)
        self.addCleanup(self.close_pop, p)
        if user is not None:
            p.user(user)
            p.pass_(password if password is not None else USERS[user])
        return p

    @staticmethod
    def close_pop(p):
        if p.sock is not None:
            p.close()

    def raw(self, port=None):
        s = socket.create_connection((HOST, port or self.pop3_port),
                                     timeout=10)
        self.addCleanup(s.close)
        f = s.makefile('rb')
        self.addCleanup(f.close)
        return s, f

    def imap_bodies(self, c):
        """{uid: (size, bytes)} of INBOX, from IMAP."""
        c.cmd('SELECT INBOX')
        tagged, unt = c.cmd_bytes('UID FETCH 1:* (RFC822.SIZE '
                                  'BODY.PEEK[])')
        self.assertIn(b' OK ', tagged)
        out = {}
        for v in fetch_map(unt).values():
            out[int(v['UID'])] = (int(v['RFC822.SIZE']), v['BODY[]'])
        return out

    def uidvalidity(self, c):
        _, unt = c.cmd('STATUS INBOX (UIDVALIDITY)')
        return int(unt[0].split('UIDVALIDITY ')[1].rstrip(')'))

    def wait_unlocked(self, user):
        """A new POP3 session succeeds once the old one has ended."""
        def attempt():
            p = poplib.POP3(HOST, self.pop3_port, timeout=10)
            try:
                p.user(user)
                p.pass_(USERS[user])
                return p
            except poplib.error_proto:
                self.close_pop(p)
                return None
        p = wait_for(attempt, what='maildrop of %s unlocked' % user)
        self.addCleanup(self.close_pop, p)
        return p

    # -- the AUTHORIZATION state --

    def test_greeting_and_capa(self):
        p = self.pop()
        welcome = p.getwelcome()
        self.assertTrue(welcome.startswith(b'+OK '), welcome)
        self.assertNotIn(b'<', welcome)     # no APOP timestamp
        caps = p.capa()
        for cap in ('TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE',
                    'PIPELINING', 'USER'):
            self.assertIn(cap, caps)
        self.assertEqual(caps['SASL'], ['PLAIN'])
        self.assertEqual('STLS' in caps, HAVE_CERTTOOL)
        p.user('alice')
        p.pass_(USERS['alice'])
        caps = p.capa()
        self.assertNotIn('USER', caps)
        self.assertNotIn('STLS', caps)
        self.assertIn('UIDL', caps)
        p.quit()

    def test_login_failures_and_bad_commands_before_login(self):
        s, f = self.raw()
        self.assertTrue(f.readline().startswith(b'+OK'))

        def say(line):
            s.sendall(line + b'\r\n')
            return f.readline()
        self.assertTrue(say(b'STAT').startswith(b'-ERR STAT is not valid'))
        self.assertTrue(say(b'PASS x').startswith(b'-ERR Send USER first'))
        self.assertTrue(say(b'XYZZY').startswith(b'-ERR Unknown command'))
        self.assertTrue(say(b'APOP alice 0123').startswith(
            b'-ERR APOP is not offered'))
        self.assertTrue(say(b'AUTH CRAM-MD5').startswith(b'-ERR Unsupported'))
        self.assertTrue(say(b'USER ' + b'u' * 300).startswith(b'-ERR USER: '))
        self.assertTrue(say(b'USER alice').startswith(b'+OK'))
        self.assertEqual(say(b'PASS wrong'),
                         b'-ERR [AUTH] Authentication failed.\r\n')
        self.assertTrue(say(b'USER alice').startswith(b'+OK'))
        self.assertEqual(say(b'PASS wrong 2'),
                         b'-ERR [AUTH] Authentication failed.\r\n')
        self.assertTrue(say(b'AUTH PLAIN').startswith(b'+ '))
        self.assertTrue(say(b'*').startswith(b'-ERR Authentication cancelled'))
        self.assertTrue(say(b'AUTH PLAIN ' + base64.b64encode(
            b'\0alice\0nope')).startswith(b'-ERR [AUTH]'))
        # max_auth_attempts (3): the last failure ends the connection
        self.assertTrue(f.readline().startswith(b'-ERR Too many'))
        self.assertEqual(f.readline(), b'')

    def test_auth_plain_both_forms(self):
        self.fill('carol', MESSAGES[:1])
        s, f = self.raw()
        f.readline()
        s.sendall(b'AUTH PLAIN\r\n')
        self.assertEqual(f.readline(), b'+ \r\n')
        s.sendall(base64.b64encode(b'\0carol\0' + USERS['carol'].encode()) +
                  b'\r\n')
        self.assertTrue(f.readline().startswith(b'+OK Logged in'))
        s.sendall(b'STAT\r\nQUIT\r\n')
        self.assertRegex(f.readline(), rb'^\+OK 1 \d+\r\n$')
        self.assertTrue(f.readline().startswith(b'+OK Bye'))
        # the initial-response form, as an administrator acting as carol
        p = self.pop()
        ir = base64.b64encode(b'carol\0boss\0secret-boss').decode()
        self.assertTrue(p._shortcmd('AUTH PLAIN ' + ir).startswith(
            b'+OK Logged in; maildrop has 1 message'))
        self.assertEqual(p.stat()[0], 1)
        p.quit()
        audit = self.server.ctl('audit').stdout
        self.assertIn('carol', audit)
        self.assertIn('boss', audit)

    def test_pipelined_commands_after_pass(self):
        self.fill('dave', MESSAGES[:2])
        s, f = self.raw()
        f.readline()
        s.sendall(b'USER dave\r\nPASS dave pw\r\nSTAT\r\nLIST 2\r\n'
                  b'NOOP\r\nQUIT\r\n')
        lines = [f.readline() for _ in range(6)]
        self.assertTrue(lines[0].startswith(b'+OK'))
        self.assertTrue(lines[1].startswith(b'+OK Logged in'))
        self.assertRegex(lines[2], rb'^\+OK 2 \d+\r\n$')
        self.assertRegex(lines[3], rb'^\+OK 2 \d+\r\n$')
        self.assertEqual(lines[4], b'+OK\r\n')
        self.assertTrue(lines[5].startswith(b'+OK Bye'))
        self.assertEqual(f.readline(), b'')

    # -- TRANSACTION: what is read --

    def test_stat_list_uidl_top_retr_match_imap(self):
        c = self.fill('alice')
        bodies = self.imap_bodies(c)
        uidvalidity = self.uidvalidity(c)
        uids = sorted(bodies)
        p = self.pop('alice')
        count, total = p.stat()
        self.assertEqual(count, len(MESSAGES))
        self.assertEqual(total, sum(b[0] for b in bodies.values()))
        _, lines, _ = p.list()
        self.assertEqual(lines, [b'%d %d' % (i + 1, bodies[u][0])
                                 for i, u in enumerate(uids)])
        _, lines, _ = p.uidl()
        self.assertEqual(lines, [b'%d %08X%08X' % (i + 1, u, uidvalidity)
                                 for i, u in enumerate(uids)])
        self.assertEqual(p.uidl(2), b'+OK 2 %08X%08X' % (uids[1], uidvalidity))
        self.assertEqual(p.list(3), b'+OK 3 %d' % bodies[uids[2]][0])
        for i, u in enumerate(uids):
            size, data = bodies[u]
            self.assertEqual(data, MESSAGES[i])
            resp, lines, octets = p.retr(i + 1)
            self.assertEqual(resp, b'+OK %d octets' % size)
            self.assertEqual(b'\r\n'.join(lines) + b'\r\n', data)
            head, body = data.split(b'\r\n\r\n', 1)
            _, lines, _ = p.top(i + 1, 0)
            self.assertEqual(b'\r\n'.join(lines) + b'\r\n', head + b'\r\n\r\n')
            _, lines, _ = p.top(i + 1, 2)
            blines = body[:-2].split(b'\r\n')
            self.assertEqual(b'\r\n'.join(lines) + b'\r\n', head +
                             b'\r\n\r\n' + b''.join(l + b'\r\n'
                                                  for l in blines[:2]))
        p.quit()

    def test_wire_is_dot_stuffed(self):
        self.fill('wendy', MESSAGES[1:2])
        s, f = self.raw()
        f.readline()
        s.sendall(b'USER wendy\r\nPASS wendy pw\r\nRETR 1\r\n')
        f.readline()
        f.readline()
        self.assertEqual(f.readline(), b'+OK %d octets\r\n' % len(MESSAGES[1]))
        got = b''
        while not got.endswith(b'\r\n.\r\n'):
            line = f.readline()
            self.assertTrue(line)
            got += line
        head, body = MESSAGES[1].split(b'\r\n\r\n', 1)
        self.assertEqual(got, head + b'\r\n\r\n..\r\n...two dots\r\n'
                         b'..leading\r\nlast\r\n.\r\n')

    def test_bad_commands_keep_the_session(self):
        self.fill('erin', MESSAGES[:1])
        s, f = self.raw()
        f.readline()

        def say(line):
            s.sendall(line + b'\r\n')
            return f.readline()
        say(b'USER erin')
        say(b'PASS erin pw')
        for line, want in ((b'XYZZY', b'-ERR Unknown command: XYZZY'),
                           (b'RETR', b'-ERR RETR: Missing argument'),
                           (b'RETR abc', b'-ERR RETR: Invalid message number'),
                           (b'RETR 0', b'-ERR RETR: Invalid message number'),
                           (b'RETR 9', b'-ERR No such message'),
                           (b'TOP 1', b'-ERR TOP: Missing argument'),
                           (b'STAT 1', b'-ERR STAT: This command takes no'),
                           (b'USER erin', b'-ERR USER: already authenticated'),
                           (b'STLS', b'-ERR STLS is only valid before'),
                           (b'LIST ' + b'9' * 400, b'-ERR '),
                           (b'', b'-ERR Empty command')):
            self.assertTrue(say(line).startswith(want), (line, want))
        self.assertEqual(say(b'NOOP'), b'+OK\r\n')
        self.assertRegex(say(b'STAT'), rb'^\+OK 1 \d+\r\n$')
        self.assertTrue(say(b'QUIT').startswith(b'+OK Bye; 0 messages'))

    # -- TRANSACTION and UPDATE: what changes --

    def test_uidl_stable_across_sessions_and_imap_changes(self):
        c = self.fill('uma')
        p = self.pop('uma')
        first = p.uidl()[1]
        p.quit()
        # IMAP changes: flags, a new message, an expunge, a new folder
        self.assertIn(' OK ', c.cmd('SELECT INBOX')[0])
        c.cmd('STORE 1 +FLAGS (\\Flagged \\Seen)')
        c.append('INBOX', msg('later', 'x\r\n'))
        c.cmd('STORE 2 +FLAGS (\\Deleted)')
        c.cmd('EXPUNGE')
        c.cmd('CREATE Archive')
        c.cmd('COPY 1 Archive')
        p = self.wait_unlocked('uma')
        second = p.uidl()[1]
        p.quit()
        uidls = [l.split()[1] for l in first]
        again = [l.split()[1] for l in second]
        self.assertEqual(again[:1] + again[1:3], [uidls[0]] + uidls[2:])
        self.assertEqual(len(again), len(MESSAGES))
        self.assertNotIn(again[-1], uidls)

    def test_dele_quit_expunges_and_retr_sets_seen(self):
        c = self.fill('gina')
        before = self.imap_bodies(c)
        uids = sorted(before)
        p = self.pop('gina')
        p.retr(1)
        self.assertTrue(p.dele(2).startswith(b'+OK'))
        self.assertTrue(p.dele(4).startswith(b'+OK'))
        self.assertEqual(p.stat(), (2, before[uids[0]][0] +
                                    before[uids[2]][0]))
        with self.assertRaises(poplib.error_proto) as e:
            p.retr(2)
        self.assertIn(b'is deleted', e.exception.args[0])
        with self.assertRaises(poplib.error_proto):
            p.dele(2)
        _, lines, _ = p.list()
        self.assertEqual([l.split()[0] for l in lines], [b'1', b'3'])
        self.assertEqual(p.quit(), b'+OK Bye; 2 messages deleted')
        after = self.imap_bodies(c)
        self.assertEqual(sorted(after), [uids[0], uids[2]])
        _, unt = c.cmd('FETCH 1:* (UID FLAGS)')
        flags = {int(v['UID']): v['FLAGS'] for v in fetch_map(unt).values()}
        self.assertIn('\\Seen', flags[uids[0]])
        self.assertNotIn('\\Seen', flags[uids[2]])

    def test_dele_rset_and_dropped_connection_keep_everything(self):
        c = self.fill('hank')
        uids = sorted(self.imap_bodies(c))
        p = self.pop('hank')
        p.dele(1)
        p.dele(2)
        self.assertTrue(p.rset().startswith(b'+OK Maildrop has 4 messages'))
        self.assertEqual(p.stat()[0], 4)
        p.dele(3)
        p.quit()
        self.assertEqual(sorted(self.imap_bodies(c)),
                         [uids[0], uids[1], uids[3]])
        # DELE, then the connection drops without QUIT
        p = self.wait_unlocked('hank')
        p.dele(1)
        p.retr(2)
        p.close()
        p = self.wait_unlocked('hank')
        self.assertEqual(p.stat()[0], 3)
        p.quit()
        self.assertEqual(sorted(self.imap_bodies(c)),
                         [uids[0], uids[1], uids[3]])
        _, unt = c.cmd('FETCH 1:* FLAGS')
        self.assertFalse([v for v in fetch_map(unt).values()
                          if '\\Deleted' in v['FLAGS'] or
                          '\\Seen' in v['FLAGS']])

    def test_second_session_is_in_use_and_imap_goes_on(self):
        c = self.fill('ivy', MESSAGES[:2])
        p = self.pop('ivy')
        q = self.pop()
        q.user('ivy')
        with self.assertRaises(poplib.error_proto) as e:
            q.pass_(USERS['ivy'])
        self.assertTrue(e.exception.args[0].startswith(b'-ERR [IN-USE] '))
        # IMAP sessions of the user are not locked out
        self.assertIn(' OK ', c.cmd('SELECT INBOX')[0])
        self.assertIn(' OK ', c.append('INBOX', msg('more', 'x\r\n'))[0])
        # the POP3 session's numbers are fixed: it does not see the new one
        self.assertEqual(p.stat()[0], 2)
        p.quit()
        p = self.wait_unlocked('ivy')
        self.assertEqual(p.stat()[0], 3)
        p.quit()

    def test_imap_idle_gets_the_expunge_of_a_pop3_quit(self):
        c = self.fill('isaac', MESSAGES[:3])
        idler = self.imap('isaac')
        n = len(self.imap_bodies(idler))
        tag = idler.next_tag()
        idler.send('%s IDLE\r\n' % tag)
        self.assertEqual(idler.readline(), '+ idling')
        p = self.wait_unlocked('isaac')
        self.assertEqual(p.stat()[0], n)
        p.dele(2)
        p.quit()
        self.assertEqual(idler.readline(timeout=5), '* 2 EXPUNGE')
        idler.send('DONE\r\n')
        self.assertEqual(idler.read_until_tagged(tag)[0],
                         '%s OK IDLE terminated' % tag)
        self.assertEqual(len(self.imap_bodies(c)), n - 1)

    def test_message_expunged_by_imap_stays_retrievable(self):
        c = self.fill('xena', MESSAGES[:3])
        bodies = self.imap_bodies(c)
        p = self.wait_unlocked('xena')
        n = p.stat()[0]
        c.cmd('STORE 1:* +FLAGS (\\Deleted)')
        self.assertIn(' OK ', c.cmd('EXPUNGE')[0])
        self.assertEqual(self.imap_bodies(c), {})
        # numbers, sizes and bytes as when the session began
        self.assertEqual(p.stat()[0], n)
        _, lines, _ = p.retr(n)
        self.assertEqual(b'\r\n'.join(lines) + b'\r\n',
                         bodies[max(bodies)][1])
        p.dele(1)
        self.assertEqual(p.quit(), b'+OK Bye; 1 message deleted')

    # -- TLS --

    def tls_context(self):
        return ssl.create_default_context(cafile=self.cert)

    @unittest.skipUnless(HAVE_CERTTOOL, 'certtool (gnutls-bin) is not installed')
    def test_stls(self):
        self.fill('sam', MESSAGES[3:4])
        p = self.pop()
        self.assertTrue(p.stls(self.tls_context()).startswith(b'+OK'))
        self.assertNotIn('STLS', p.capa())
        p.user('sam')
        p.pass_(USERS['sam'])
        n = p.stat()[0]
        _, lines, _ = p.retr(n)
        self.assertEqual(b'\r\n'.join(lines) + b'\r\n', MESSAGES[3])
        p.quit()

    @unittest.skipUnless(HAVE_CERTTOOL, 'certtool (gnutls-bin) is not installed')
    def test_stls_drops_what_was_sent_in_clear_after_it(self):
        # CVE-2011-0411: a command injected behind STLS in clear text
        # must not run inside the TLS session.
        s, f = self.raw()
        f.readline()
        s.sendall(b'STLS\r\nUSER alice\r\n')
        self.assertEqual(f.readline(), b'+OK Begin TLS negotiation now\r\n')
        t = self.tls_context().wrap_socket(s, server_hostname='localhost')
        self.addCleanup(t.close)
        t.sendall(b'PASS %s\r\n' % USERS['alice'].encode())
        self.assertEqual(t.recv(4096), b'-ERR Send USER first\r\n')
        t.sendall(b'QUIT\r\n')
        self.assertTrue(t.recv(4096).startswith(b'+OK'))

    @unittest.skipUnless(HAVE_CERTTOOL, 'certtool (gnutls-bin) is not installed')
    def test_pop3s(self):
        self.fill('sue', MESSAGES[3:4])
        p = poplib.POP3_SSL(HOST, self.pop3s_port, timeout=10,
                            context=self.tls_context())
        self.addCleanup(self.close_pop, p)
        self.assertTrue(p.getwelcome().startswith(b'+OK'))
        self.assertNotIn('STLS', p.capa())
        p.user('sue')
        p.pass_(USERS['sue'])
        n = p.stat()[0]
        _, lines, _ = p.retr(n)
        self.assertEqual(b'\r\n'.join(lines) + b'\r\n', MESSAGES[3])
        p.quit()

    # -- the POP3 login process --

    def pop3_login_pid(self):
        def find():
            for pid in self.server.children():
                try:
                    with open('/proc/%d/comm' % pid) as f:
                        if f.read().strip() == 'mk-pop3-login':
                            return pid
                except OSError:
                    pass
            return None
        return wait_for(find, what='an mk-pop3-login process')

    def test_pop3_login_process_confined(self):
        p = self.pop()
        p.capa()
        pid = self.pop3_login_pid()
        assert_login_confined(self, self.server, pid, 'the POP3 login process')
        p.quit()

    # -- fetchmail --

    @unittest.skipUnless(shutil.which('fetchmail') and HAVE_CERTTOOL,
                         'fetchmail or certtool is not installed')
    def test_fetchmail_into_an_mda(self):
        c = self.fill('frank', MESSAGES)
        n = len(self.imap_bodies(c))
        d = os.path.join(self.server.tmp, 'fetchmail')
        os.makedirs(os.path.join(d, 'out'))
        mda = os.path.join(d, 'mda.sh')
        with open(mda, 'w') as f:
            f.write('#!/bin/sh\nexec cat > "$(mktemp %s/out/msg.XXXXXX)"\n' % d)
        os.chmod(mda, 0o755)
        rc = os.path.join(d, 'fetchmailrc')
        with open(rc, 'w') as f:
            f.write('poll localhost protocol pop3 port %d\n'
                    '  user "frank" password "%s"\n'
                    '  sslproto "auto" sslcertck sslcertfile "%s"\n'
                    '  mda "%s"\n' % (self.pop3_port, USERS['frank'],
                                      self.cert, mda))
        os.chmod(rc, 0o600)
        env = dict(os.environ, FETCHMAILHOME=d, HOME=d)
        args = ['fetchmail', '-f', rc, '--nosyslog', '-v']
        # let go of the maildrop of earlier tests' sessions
        self.wait_unlocked('frank').quit()
        r = subprocess.run(args, env=env, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('STLS', r.stdout + r.stderr)
        got = []
        for name in sorted(os.listdir(os.path.join(d, 'out'))):
            with open(os.path.join(d, 'out', name), 'rb') as f:
                got.append(f.read())
        self.assertEqual(len(got), n)
        # fetchmail hands the MDA LF lines, with a Received: of its own
        for m in MESSAGES:
            want = m.split(b'\r\n\r\n', 1)[1].replace(b'\r\n', b'\n')
            self.assertEqual(len([g for g in got if g.endswith(want)]),
                             len([x for x in MESSAGES if x.endswith(
                                 m.split(b'\r\n\r\n', 1)[1])]), m[:80])
        self.assertEqual(self.imap_bodies(c), {})
        # nothing left: fetchmail's "no mail" status
        r = subprocess.run(args, env=env, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)


@unittest.skipUnless(HAVE_CERTTOOL, 'certtool (gnutls-bin) is not installed')
class POP3Strict(unittest.TestCase):
    """plaintext_auth = never and a short login_timeout: clear-text
    credentials are refused until STLS, and a client that does not log
    in in time is told and disconnected."""

    @classmethod
    def setUpClass(cls):
        cls.pop3_port = free_port()
        cls.server = Server(users={'alice': 'alice pw'}, start=False)
        cls.cert, key = make_cert(cls.server.tmp, 'server')
        with open(cls.server.conf, 'a') as f:
            f.write('listen_pop3 = %s:%d\ntls_cert = %s\ntls_key = %s\n'
                    'plaintext_auth = never\nlogin_timeout = 2\n' %
                    (HOST, cls.pop3_port, cls.cert, key))
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.server.cleanup()

    def test_clear_text_refused_until_stls(self):
        p = poplib.POP3(HOST, self.pop3_port, timeout=10)
        self.addCleanup(p.close)
        caps = p.capa()
        self.assertIn('STLS', caps)
        self.assertNotIn('USER', caps)
        self.assertNotIn('SASL', caps)
        for cmd in ('USER alice', 'AUTH PLAIN'):
            with self.assertRaises(poplib.error_proto) as e:
                p._shortcmd(cmd)
            self.assertTrue(e.exception.args[0].startswith(
                b'-ERR [AUTH] Plaintext authentication is not allowed'))
        p.stls(ssl.create_default_context(cafile=self.cert))
        caps = p.capa()
        self.assertIn('USER', caps)
        self.assertEqual(caps['SASL'], ['PLAIN'])
        p.user('alice')
        self.assertTrue(p.pass_('alice pw').startswith(b'+OK Logged in'))
        p.quit()

    def test_login_timeout(self):
        s = socket.create_connection((HOST, self.pop3_port), timeout=10)
        self.addCleanup(s.close)
        f = s.makefile('rb')
        self.addCleanup(f.close)
        self.assertTrue(f.readline().startswith(b'+OK'))
        t0 = time.monotonic()
        self.assertEqual(f.readline(), b'-ERR Autologout; authentication '
                         b'took too long\r\n')
        self.assertEqual(f.readline(), b'')
        self.assertGreater(time.monotonic() - t0, 1)


class POP3TurnedAway(unittest.TestCase):
    """What the master itself answers a POP3 client it turns away is
    POP3 too (-ERR [SYS/TEMP]), not IMAP's BYE."""

    def test_too_many_connections(self):
        port = free_port()
        with Server(users={}, config={'listen_pop3': '%s:%d' % (HOST, port),
                                      'max_connections_per_ip': 1}) as srv:
            def greeted():
                s = socket.create_connection((HOST, port), timeout=10)
                line = s.makefile('rb').readline()
                if line.startswith(b'+OK'):
                    return s
                s.close()
                return None
            # the harness's own probe may hold the slot for a moment
            held = wait_for(greeted, what='a POP3 greeting')
            self.addCleanup(held.close)
            s = socket.create_connection((HOST, port), timeout=10)
            self.addCleanup(s.close)
            self.assertEqual(s.makefile('rb').readline(),
                             b'-ERR [SYS/TEMP] Too many connections\r\n')
            srv.check_log()


if __name__ == '__main__':
    unittest.main()
