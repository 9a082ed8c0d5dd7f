"""test_login.py - the not-authenticated state against the real daemon:
greeting, CAPABILITY, NOOP, LOGOUT, ID; LOGIN and AUTHENTICATE PLAIN in
every form; failures, delays, throttling, attempt limits; wrong-state
and malformed commands; size limits; pipelined input after LOGIN."""
import base64
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Client, Closed, Server, wait_for  # noqa: E402

USERS = {'alice': 'pw with space', 'bob': 'b0b', 'root-admin': 'adminpw'}
PREAUTH_CAPS = ['IMAP4rev1', 'IMAP4rev2', 'LITERAL+', 'SASL-IR', 'ID',
                'AUTH=PLAIN']


def plain(authzid, authcid, pw):
    return base64.b64encode(('%s\0%s\0%s' % (authzid, authcid, pw))
                            .encode()).decode()


class Common(unittest.TestCase):
    server = None
    config = {}

    @classmethod
    def setUpClass(cls):
        cls.server = Server(users=USERS, admins=['root-admin'],
                            config=cls.config)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.server.cleanup()

    def client(self, timeout=5):
        c = self.server.client(timeout=timeout)
        self.addCleanup(c.close)
        return c


class PreAuth(Common):
    # many failures happen here on purpose: keep the throttle out of it
    config = {'auth_fail_limit': 1000, 'auth_delay_max_ms': 400,
              'max_preauth_line': '8K'}

    def test_greeting(self):
        c = self.client()
        g = c.greeting
        self.assertTrue(g.startswith('* OK [CAPABILITY '), g)
        caps = g[len('* OK [CAPABILITY '):g.index(']')].split()
        self.assertEqual(caps, PREAUTH_CAPS)
        self.assertNotIn('STARTTLS', caps)
        self.assertTrue(g.endswith('] mk-test Mailkeep ready.'), g)

    def test_capability_noop_id_logout(self):
        c = self.client()
        tagged, unt = c.cmd('CAPABILITY')
        self.assertEqual(unt, ['* CAPABILITY ' + ' '.join(PREAUTH_CAPS)])
        self.assertRegex(tagged, r'^a\d+ OK ')
        tagged, unt = c.cmd('noop')
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertEqual(unt, [])
        tagged, unt = c.cmd('ID ("name" "e2e" "version" "1")')
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertEqual(len(unt), 1)
        self.assertTrue(unt[0].startswith('* ID ("name" "Mailkeep" "version" "'),
                        unt[0])
        tagged, unt = c.cmd('ID NIL')
        self.assertRegex(tagged, r'^a\d+ OK ')
        tagged, unt = c.cmd('LOGOUT')
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertTrue(unt and unt[0].startswith('* BYE'), unt)
        self.assertEqual(c.expect_closed(), [])

    def test_starttls_refused(self):
        c = self.client()
        tagged, _ = c.cmd('STARTTLS')
        self.assertIn('BAD STARTTLS is not supported', tagged)
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')

    def test_wrong_state_commands(self):
        c = self.client()
        for cmd in ('SELECT INBOX', 'LIST "" *', 'FETCH 1 FLAGS',
                    'ENABLE CONDSTORE', 'UID FETCH 1 FLAGS', 'EXPUNGE',
                    'PROXYAUTH bob', 'SELECT'):
            tagged, _ = c.cmd(cmd)
            name = ' '.join(cmd.split()[:2 if cmd.startswith('UID') else 1])
            self.assertRegex(tagged, r'^a\d+ BAD %s is not allowed in the '
                             r'not-authenticated state; log in first$' % name)
        tagged, _ = c.cmd('FROBNICATE')
        self.assertRegex(tagged, r'^a\d+ BAD ')
        tagged, _ = c.cmd('LOGIN onlyuser')
        self.assertRegex(tagged, r'^a\d+ BAD ')
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')

    def test_wrong_password_delayed(self):
        c = self.client()
        t0 = time.monotonic()
        tagged, _ = c.login('bob', 'wrong')
        took = time.monotonic() - t0
        self.assertRegex(tagged, r'^a\d+ NO \[AUTHENTICATIONFAILED\] ')
        self.assertGreaterEqual(took, 0.2)
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')

    def test_unknown_user_same_answer(self):
        c = self.client()
        t0 = time.monotonic()
        unknown, _ = c.login('nosuchuser', 'whatever')
        took = time.monotonic() - t0
        wrong, _ = c.login('bob', 'whatever')
        self.assertEqual(unknown.split(' ', 1)[1], wrong.split(' ', 1)[1])
        self.assertGreaterEqual(took, 0.2)
        invalid, _ = c.login('Not A Valid Name!', 'x')
        self.assertEqual(invalid.split(' ', 1)[1], wrong.split(' ', 1)[1])

    def test_max_attempts_then_bye(self):
        c = self.client()
        for i in range(3):   # max_auth_attempts defaults to 3
            tagged, _ = c.login('bob', 'nope%d' % i)
            self.assertIn('NO [AUTHENTICATIONFAILED]', tagged)
        lines = c.expect_closed()
        self.assertTrue(lines and lines[0].startswith('* BYE'), lines)

    def test_authenticate_cancel_and_bad_base64(self):
        c = self.client()
        tag = c.next_tag()
        c.send('%s AUTHENTICATE PLAIN\r\n' % tag)
        self.assertEqual(c.readline(), '+ ')
        c.send('*\r\n')
        tagged, _ = c.read_until_tagged(tag)
        self.assertEqual(tagged, tag + ' BAD AUTHENTICATE cancelled')
        tag = c.next_tag()
        c.send('%s AUTHENTICATE PLAIN\r\n' % tag)
        self.assertEqual(c.readline(), '+ ')
        c.send('not*base64!\r\n')
        tagged, _ = c.read_until_tagged(tag)
        self.assertRegex(tagged, r' BAD .*base64')
        tagged, _ = c.cmd('AUTHENTICATE PLAIN ' +
                          base64.b64encode(b'no-nuls-here').decode())
        self.assertRegex(tagged, r' BAD Malformed PLAIN')
        tagged, _ = c.cmd('AUTHENTICATE PLAIN =')
        self.assertRegex(tagged, r' BAD ')
        tagged, _ = c.cmd('AUTHENTICATE CRAM-MD5')
        self.assertRegex(tagged, r' NO ')
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')

    def test_authenticate_wrong_password(self):
        c = self.client()
        tagged, _ = c.cmd('AUTHENTICATE PLAIN ' + plain('', 'bob', 'nope'))
        self.assertRegex(tagged, r' NO \[AUTHENTICATIONFAILED\] ')

    def test_authzid_rules(self):
        c = self.client()
        # a non-admin may not act as someone else
        tagged, _ = c.cmd('AUTHENTICATE PLAIN ' + plain('alice', 'bob', 'b0b'))
        self.assertRegex(tagged, r' NO \[AUTHORIZATIONFAILED\] ')
        # an admin may not act as another admin, nor as nobody
        c = self.client()
        tagged, _ = c.cmd('AUTHENTICATE PLAIN ' +
                          plain('root-admin', 'root-admin', 'wrong'))
        self.assertRegex(tagged, r' NO \[AUTHENTICATIONFAILED\] ')
        tagged, _ = c.cmd('AUTHENTICATE PLAIN ' +
                          plain('nosuchuser', 'root-admin', 'adminpw'))
        self.assertRegex(tagged, r' NO \[AUTHORIZATIONFAILED\] ')
        c = self.client()
        tagged, _ = c.login('nosuchuser*root-admin', 'adminpw')
        self.assertRegex(tagged, r' NO \[AUTHORIZATIONFAILED\] ')
        tagged, _ = c.login('alice*bob', 'b0b')
        self.assertRegex(tagged, r' NO \[AUTHORIZATIONFAILED\] ')

    def test_overlong_line_then_usable(self):
        c = self.client()
        c.send('a1 NOOP ' + 'x' * 9000 + '\r\n')
        tagged, _ = c.read_until_tagged('a1')
        self.assertRegex(tagged, r'^a1 BAD .*too long')
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')

    def test_literal_too_large(self):
        c = self.client()
        c.send('a1 LOGIN {100000}\r\n')
        tagged, _ = c.read_until_tagged('a1')
        self.assertRegex(tagged, r'^a1 BAD .*Literal too large')
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')
        # non-synchronizing: the bytes would follow at once; beyond the
        # limit the stream cannot be resynchronized
        c.send('a2 LOGIN {100000+}\r\n')
        lines = c.expect_closed()
        self.assertTrue(lines and lines[-1].startswith('* BYE'), lines)

    def test_bye_reaches_a_client_still_sending(self):
        """The login process gives up while the client is still sending
        the literal it announced: the client reads the BYE, then an
        orderly end, not a reset that could have thrown the BYE away."""
        c = self.client()
        c.sock.sendall(b'a1 LOGIN {100000+}\r\n' + b'x' * (256 * 1024))
        lines = c.expect_closed()
        self.assertTrue(lines and lines[-1].startswith('* BYE'), lines)

    def test_too_many_commands(self):
        c = self.client()
        c.send(''.join('n%d NOOP\r\n' % i for i in range(60)))
        lines = c.expect_closed()
        self.assertTrue(lines[-1].startswith('* BYE'), lines[-1])
        self.assertEqual(sum(1 for l in lines if ' OK ' in l), 50)

    def test_garbage_never_kills_server(self):
        c = self.client()
        c.send(b'\x00\xff\r\n((((\r\n"unterminated\r\n{x}\r\n\r\n')
        for _ in range(4):
            line = c.readline()
            self.assertIn(' BAD ', line)
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')


class Sessions(Common):
    """Successful logins: the tagged OK comes from the mailbox process."""

    def assert_logged_in(self, c, tagged):
        self.assertRegex(tagged, r'^a\d+ OK ')
        t2, _ = c.cmd('SELECT INBOX')
        self.assertRegex(t2, r'^a\d+ OK ')

    def test_login_quoted(self):
        c = self.client()
        self.assert_logged_in(c, c.login('alice', 'pw with space')[0])

    def test_login_atoms_case_insensitive(self):
        c = self.client()
        self.assert_logged_in(c, c.cmd('login BOB b0b')[0])

    def test_login_synchronizing_literals(self):
        c = self.client()
        c.send('a1 LOGIN {5}\r\n')
        self.assertTrue(c.readline().startswith('+'))
        c.send('alice {13}\r\n')
        self.assertTrue(c.readline().startswith('+'))
        c.send('pw with space\r\n')
        tagged, _ = c.read_until_tagged('a1')
        self.assert_logged_in(c, tagged)

    def test_login_nonsync_literals(self):
        c = self.client()
        c.send('a1 LOGIN {5+}\r\nalice {13+}\r\npw with space\r\n')
        tagged, _ = c.read_until_tagged('a1')
        self.assert_logged_in(c, tagged)

    def test_authenticate_sasl_ir(self):
        c = self.client()
        tagged, _ = c.cmd('AUTHENTICATE PLAIN ' +
                          plain('', 'alice', 'pw with space'))
        self.assert_logged_in(c, tagged)

    def test_authenticate_continuation(self):
        c = self.client()
        c.send('a1 AUTHENTICATE PLAIN\r\n')
        self.assertEqual(c.readline(), '+ ')
        c.send(plain('', 'bob', 'b0b') + '\r\n')
        tagged, _ = c.read_until_tagged('a1')
        self.assert_logged_in(c, tagged)

    def test_authzid_self_is_plain_login(self):
        c = self.client()
        tagged, _ = c.cmd('AUTHENTICATE PLAIN ' + plain('bob', 'bob', 'b0b'))
        self.assert_logged_in(c, tagged)

    def test_admin_impersonation(self):
        c = self.client()
        tagged, _ = c.cmd('AUTHENTICATE PLAIN ' +
                          plain('alice', 'root-admin', 'adminpw'))
        self.assert_logged_in(c, tagged)
        c = self.client()
        self.assert_logged_in(c, c.login('bob*root-admin', 'adminpw')[0])

    def test_pipelined_after_login(self):
        c = self.client()
        c.send('a1 LOGIN alice "pw with space"\r\na2 SELECT INBOX\r\n'
               'a3 NOOP\r\na4 LOGOUT\r\n')
        for tag in ('a1', 'a2', 'a3', 'a4'):
            tagged, _ = c.read_until_tagged(tag)
            self.assertRegex(tagged, r'^%s OK ' % tag)
        c.expect_closed()

    def test_failed_then_pipelined_success(self):
        c = self.client()
        c.send('a1 LOGIN bob wrong\r\na2 LOGIN bob b0b\r\na3 SELECT INBOX\r\n')
        tagged, _ = c.read_until_tagged('a1')
        self.assertIn('NO [AUTHENTICATIONFAILED]', tagged)
        for tag in ('a2', 'a3'):
            tagged, _ = c.read_until_tagged(tag)
            self.assertRegex(tagged, r'^%s OK ' % tag)


class Throttle(Common):
    # login_timeout well above how long a loaded machine takes to open
    # the connections a test holds (LoginTimeout tests the timeout)
    config = {'auth_fail_limit': 3, 'auth_delay_max_ms': 300,
              'max_connections_per_ip': 4, 'login_timeout': 60}

    def test_1_throttled_after_limit(self):
        for i in range(3):
            c = self.client()
            tagged, _ = c.login('bob', 'wrong%d' % i)
            self.assertIn('NO [AUTHENTICATIONFAILED]', tagged)
            c.close()
        c = self.client()
        t0 = time.monotonic()
        tagged, _ = c.login('bob', 'b0b')   # even the right password
        self.assertRegex(tagged, r' NO \[UNAVAILABLE\] ')
        self.assertLess(time.monotonic() - t0, 0.2)

    def first_line(self, source):
        """The first line a new connection from source is sent, or b''
        if it is closed before one."""
        s = socket.create_connection(('127.0.0.1', self.server.port),
                                     timeout=10, source_address=(source, 0))
        data = b''
        try:
            while b'\r\n' not in data:
                chunk = s.recv(1000)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        return data.split(b'\r\n', 1)[0] + b'\r\n' if data else b''

    def test_2_connections_per_ip(self):
        # an address of its own: no connection of another test still
        # counted (a closed one is forgotten when its login process ends)
        src = '127.0.0.42'
        held = []
        for _ in range(4):
            c = self.server.client(timeout=10, source=src)
            self.addCleanup(c.close)
            held.append(c)
        s = socket.create_connection(('127.0.0.1', self.server.port),
                                     timeout=10, source_address=(src, 0))
        data = b''
        while True:
            chunk = s.recv(1000)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertEqual(data, b'* BYE Too many connections\r\n')
        for c in held:
            c.close()
        # the slots come back once the master has seen the four end;
        # a refused probe's own slot lasts until its login process ends,
        # so the connection that is greeted is the one used
        def greeted():
            c = self.server.client(timeout=10, source=src)
            if c.greeting.startswith('* OK '):
                return c
            self.assertEqual(c.greeting, '* BYE Too many connections')
            c.close()
            return None
        c = wait_for(greeted, timeout=30, what='a connection accepted again')
        self.addCleanup(c.close)
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')


class LoginTimeout(Common):
    config = {'login_timeout': 2}

    def test_login_timeout(self):
        c = self.client()
        lines = c.expect_closed(timeout=6)
        self.assertTrue(lines and lines[0].startswith('* BYE'), lines)


if __name__ == '__main__':
    unittest.main(verbosity=2)
