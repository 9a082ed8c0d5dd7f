#!/usr/bin/env python3
"""test_frontdoor.py - nginx's auth_http and the PROXY protocol, against
the real daemon with real sockets (doc/cluster.md).

auth_http (a server named b1 in a cluster of b1 and b2, auth_http_listen
on loopback): a right password answers Auth-Status OK with the address
and port of the user's backend (this one, or b2 for a user whose row
names b2, or b2 for an administrator acting as that user); a wrong one a
refusal with Auth-Wait; the Client-IP header is what the throttles
count (a network past auth_fail_limit is refused even with the right
password, another network is not); attempts past max_auth_attempts get
no Auth-Wait (nginx hangs up); nginx's URL-encoding is decoded; bad
requests get 400/405/431 and unsupported methods or protocols an
Auth-Status without Auth-Wait.

PROXY protocol (trusted_proxies = 127.0.0.2): v1 and v2 headers from
the trusted address make the named client the one the log, the
throttles, `mailkeepctl who` and the audit trail see; the same header
from an untrusted address is an IMAP command like any other (BAD, the
connection stays usable, the real address is used); a trusted peer that
sends no valid header is disconnected without a greeting.
"""
import os
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import (HOST, Client, Server,  # noqa: E402
                       assert_login_confined, free_port, wait_for)


def http_auth(port, user, pw, client='192.0.2.10', method='plain',
              proto='imap', attempt=1, raw=None):
    """One auth_http request as nginx sends it; (status line, headers)."""
    if raw is None:
        def enc(s):
            return ''.join(c if c.isalnum() or c in '.-_@*' else
                           '%%%02X' % ord(c) for c in s)
        raw = ('GET /auth HTTP/1.0\r\nHost: localhost\r\n'
               'Auth-Method: %s\r\nAuth-User: %s\r\nAuth-Pass: %s\r\n'
               'Auth-Protocol: %s\r\nAuth-Login-Attempt: %d\r\n'
               'Client-IP: %s\r\nClient-Host: [UNAVAILABLE]\r\n\r\n'
               % (method, enc(user), enc(pw), proto, attempt, client))
    s = socket.create_connection((HOST, port), timeout=10)
    s.sendall(raw.encode() if isinstance(raw, str) else raw)
    data = b''
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    head = data.decode().split('\r\n\r\n')[0].split('\r\n')
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(':')
        headers[k.strip()] = v.strip()
    return head[0], headers


class AuthHttp(unittest.TestCase):

    def setUp(self):
        self.b2port = free_port()
        self.hport = free_port()
        s = Server(users={'alice': 'pw a%b'}, admins=['boss'], start=False,
                   config={'backend_name': 'b1', 'auth_fail_limit': 3,
                           'auth_http_listen': '127.0.0.1:%d' % self.hport})
        self.addCleanup(s.cleanup)
        s.configure({'backend': 'b1 127.0.0.1 %d' % s.port})
        s.configure({'backend': 'b2 localhost %d' % self.b2port})
        s.ctl('useradd', 'bob', '--password-stdin', '--backend', 'b2',
              stdin='pw-b\n')
        s.start()
        self.addCleanup(s.stop)
        self.server = s

    def auth(self, *a, **kw):
        return http_auth(self.hport, *a, **kw)

    def test_right_password_routes_to_the_backend(self):
        st, h = self.auth('alice', 'pw a%b')
        self.assertEqual(st, 'HTTP/1.0 200 OK')
        self.assertEqual(h['Auth-Status'], 'OK')
        self.assertEqual(h['Auth-Server'], '127.0.0.1')
        self.assertEqual(h['Auth-Port'], str(self.server.port))
        # another backend's user: that backend, as an address
        st, h = self.auth('bob', 'pw-b', method='login')
        self.assertEqual(h['Auth-Status'], 'OK')
        self.assertIn(h['Auth-Server'], ('127.0.0.1', '::1'))
        self.assertEqual(h['Auth-Port'], str(self.b2port))
        # an administrator acting as bob: bob's backend
        st, h = self.auth('bob*boss', 'secret-boss')
        self.assertEqual(h['Auth-Status'], 'OK')
        self.assertEqual(h['Auth-Port'], str(self.b2port))
        # acting as a user who is no administrator's to act as: refused,
        # as at a direct LOGIN
        self.server.ctl('useradd', 'boss2', '--admin', '--password-stdin',
                        stdin='pw-2\n')
        st, h = self.auth('boss2*boss', 'secret-boss')
        self.assertEqual(h['Auth-Status'], 'Not authorized to act as that '
                         'user.')
        self.assertNotIn('Auth-Server', h)
        st, h = self.auth('alice*alice', 'pw a%b')
        self.assertEqual(h['Auth-Status'], 'OK')
        log = self.server.logtext()
        self.assertIn('auth_http: alice from 192.0.2.10 goes to 127.0.0.1',
                      log)
        # nothing was started for anyone
        self.assertFalse(os.path.exists(
            os.path.join(self.server.data_dir, 'users', 'alice')))

    def test_wrong_password_and_throttling(self):
        st, h = self.auth('alice', 'wrong', client='192.0.2.20')
        self.assertEqual(st, 'HTTP/1.0 200 OK')
        self.assertNotEqual(h['Auth-Status'], 'OK')
        self.assertNotIn('Auth-Server', h)
        self.assertGreaterEqual(int(h['Auth-Wait']), 1)
        for _ in range(2):
            self.auth('alice', 'wrong', client='192.0.2.20')
        # the network is throttled now, even with the right password
        st, h = self.auth('alice', 'pw a%b', client='192.0.2.20')
        self.assertIn('Too many failed logins', h['Auth-Status'])
        self.assertGreaterEqual(int(h['Auth-Wait']), 1)
        # the same proxy, another client network: fine
        st, h = self.auth('alice', 'pw a%b', client='2001:db8::7')
        self.assertEqual(h['Auth-Status'], 'OK')
        log = self.server.logtext()
        self.assertIn("authentication failed for 'alice' from 192.0.2.20",
                      log)
        self.assertIn('refusing login from 192.0.2.20', log)
        # an unknown user: the same refusal, nothing about the name
        st, h = self.auth('nobody', 'x', client='192.0.2.21')
        self.assertEqual(h['Auth-Status'], 'Authentication failed.')
        # nginx's attempt counter past max_auth_attempts: no Auth-Wait
        st, h = self.auth('alice', 'pw a%b', client='192.0.2.22', attempt=4)
        self.assertNotEqual(h['Auth-Status'], 'OK')
        self.assertNotIn('Auth-Wait', h)

    def test_auth_http_process_confined(self):
        """The process that parses nginx's request is a login process:
        seccomp, no new privileges, login_user, the empty chroot, no
        database descriptor."""
        sk = socket.create_connection((HOST, self.hport), timeout=10)
        sk.sendall(b'GET /auth HTTP/1.0\r\n')	# and waits for more

        def find():
            for pid in self.server.children():
                try:
                    with open('/proc/%d/comm' % pid) as f:
                        if f.read().strip() == 'mk-auth-http':
                            return pid
                except OSError:
                    pass
            return None
        pid = wait_for(find, what='an mk-auth-http process')
        assert_login_confined(self, self.server, pid, 'the auth_http process')
        sk.close()

    def test_bad_requests(self):
        base = ('Auth-Method: plain\r\nAuth-User: alice\r\n'
                'Auth-Pass: x\r\nAuth-Protocol: imap\r\n'
                'Client-IP: 192.0.2.30\r\n')
        st, _ = self.auth(None, None, raw='POST /auth HTTP/1.0\r\n' + base +
                          '\r\n')
        self.assertTrue(st.startswith('HTTP/1.0 405'))
        st, _ = self.auth(None, None, raw='GET /auth HTTP/1.0\r\n'
                          'Auth-User: alice\r\n\r\n')
        self.assertTrue(st.startswith('HTTP/1.0 400'))
        st, _ = self.auth(None, None, raw='GET /auth HTTP/1.0\r\n' + base +
                          'Auth-User: bob\r\n\r\n')
        self.assertTrue(st.startswith('HTTP/1.0 400'))
        st, _ = self.auth(None, None, raw='GET /auth HTTP/1.0\r\n' +
                          base.replace('x\r', '%4\r') + '\r\n')
        self.assertTrue(st.startswith('HTTP/1.0 400'))
        st, _ = self.auth(None, None, raw='GET /auth HTTP/1.0\r\n' +
                          base.replace('192.0.2.30', 'evil') + '\r\n')
        self.assertTrue(st.startswith('HTTP/1.0 400'))
        st, _ = self.auth(None, None, raw='GET /auth HTTP/1.0\r\n' +
                          'X-Pad: %s\r\n' % ('a' * 9000) + base + '\r\n')
        self.assertTrue(st.startswith('HTTP/1.0 431'))
        st, h = self.auth('alice', 'x', method='cram-md5')
        self.assertEqual(h['Auth-Status'], 'Unsupported authentication '
                         'method')
        self.assertNotIn('Auth-Wait', h)
        st, h = self.auth('alice', 'x', proto='smtp')
        self.assertEqual(h['Auth-Status'], 'Unsupported protocol')
        # no POP3 listener here: POP3 is not served
        st, h = self.auth('alice', 'pw a%b', proto='pop3')
        self.assertEqual(h['Auth-Status'], 'Unsupported protocol')
        # the listener still serves
        st, h = self.auth('alice', 'pw a%b', client='192.0.2.31')
        self.assertEqual(h['Auth-Status'], 'OK')


def v2_header(src, sport, dst='127.0.0.1', dport=143):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack('!HH', sport, dport)
    return b'\r\n\r\n\x00\r\nQUIT\n' + bytes([0x21, 0x11]) + \
        struct.pack('!H', len(body)) + body


class ProxyProtocol(unittest.TestCase):

    def setUp(self):
        s = Server(users={'alice': 'pw-a'}, admins=['boss'],
                   config={'trusted_proxies': '127.0.0.2, 10.9.0.0/16',
                           'auth_fail_limit': 2, 'verbose': 1})
        self.addCleanup(s.cleanup)
        self.addCleanup(s.stop)
        self.server = s

    def proxied(self, header):
        c = Client(self.server.port, source='127.0.0.2')
        c.sock = socket.create_connection(c.addr, timeout=c.timeout,
                                          source_address=c.source)
        c.sock.sendall(header)
        c.greeting = c.readline()
        return c

    def test_v1_from_trusted_proxy(self):
        c = self.proxied(b'PROXY TCP4 192.0.2.77 127.0.0.1 5555 143\r\n')
        self.assertTrue(c.greeting.startswith('* OK'))
        tagged, _ = c.login('alice', 'pw-a')
        self.assertIn(' OK', tagged)
        who = self.server.ctl('who').stdout
        self.assertIn('192.0.2.77', who)
        c.cmd('LOGOUT')
        c.close()
        log = self.server.logtext()
        self.assertIn('connection from 192.0.2.77 port 5555 through proxy '
                      '127.0.0.2', log)
        self.assertIn('user alice logged in from 192.0.2.77', log)

    def test_v2_and_throttling_by_forwarded_address(self):
        for _ in range(2):
            c = self.proxied(v2_header('192.0.2.80', 1000))
            tagged, _ = c.login('alice', 'wrong')
            self.assertIn('AUTHENTICATIONFAILED', tagged)
            c.close()
        c = self.proxied(v2_header('192.0.2.80', 1001))
        tagged, _ = c.login('alice', 'pw-a')
        self.assertIn('NO [UNAVAILABLE]', tagged)
        c.close()
        # the proxy's other clients are not throttled
        c = self.proxied(v2_header('192.0.2.81', 1002))
        tagged, _ = c.login('alice', 'pw-a')
        self.assertIn(' OK', tagged)
        c.close()
        self.assertIn("authentication failed for 'alice' from 192.0.2.80",
                      self.server.logtext())

    def test_audit_sees_the_client(self):
        c = self.proxied(b'PROXY TCP6 2001:db8::82 ::1 4000 143\r\n')
        tagged, _ = c.login('alice*boss', 'secret-boss')
        self.assertIn(' OK', tagged)
        c.cmd('LOGOUT')
        c.close()
        out = wait_for(lambda: (lambda o: o if '2001:db8::82' in o else None)(
            self.server.ctl('audit', '--user', 'alice').stdout),
            what='audit row with the client address')
        self.assertIn('boss', out)

    def test_header_from_untrusted_peer_is_a_command(self):
        c = self.server.client()		# from 127.0.0.1: not trusted
        tagged, _ = c.cmd_raw(b'PROXY TCP4 192.0.2.90 127.0.0.1 1 2\r\n')
        self.assertIn('PROXY BAD', tagged)
        tagged, _ = c.login('alice', 'pw-a')
        self.assertIn(' OK', tagged)
        c.cmd('LOGOUT')
        c.close()
        log = self.server.logtext()
        self.assertNotIn('192.0.2.90', log)
        self.assertIn('user alice logged in from 127.0.0.1', log)

    def test_trusted_peer_without_header_is_dropped(self):
        for junk in (b'a1 LOGIN alice pw-a\r\n', b'PROXY TCP4 x y 1 2\r\n',
                     b'\r\n\r\n\x00\r\nQUIT\n\x99\x11\x00\x0c' + b'\0' * 12):
            s = socket.create_connection((HOST, self.server.port), timeout=5,
                                         source_address=('127.0.0.2', 0))
            s.sendall(junk)
            try:
                got = s.recv(100)
            except ConnectionResetError:
                got = b''
            self.assertEqual(got, b'')	# no greeting, closed
            s.close()
        self.assertIn('bad PROXY header', self.server.logtext())


class ProxyBeforeTLS(unittest.TestCase):
    """IMAPS from a trusted proxy: the header precedes the handshake."""

    def test_v1_then_tls(self):
        import shutil
        import ssl
        if shutil.which('certtool') is None:
            raise unittest.SkipTest('certtool (gnutls-bin) is not installed')
        from test_tls import context, make_cert
        tls_port = free_port()
        s = Server(users={'alice': 'pw-a'}, start=False)
        self.addCleanup(s.cleanup)
        cert, key = make_cert(s.tmp, 'server')
        s.configure({'listen_tls': '127.0.0.1:%d' % tls_port,
                     'tls_cert': cert, 'tls_key': key,
                     'trusted_proxies': '127.0.0.2'})
        s.start()
        self.addCleanup(s.stop)
        raw = socket.create_connection((HOST, tls_port), timeout=10,
                                       source_address=('127.0.0.2', 0))
        raw.sendall(b'PROXY TCP4 192.0.2.99 127.0.0.1 7777 993\r\n')
        c = Client(tls_port)
        c.sock = context(cert).wrap_socket(raw, server_hostname='localhost')
        c.greeting = c.readline()
        self.assertTrue(c.greeting.startswith('* OK'), c.greeting)
        tagged, _ = c.login('alice', 'pw-a')
        self.assertIn(' OK', tagged)
        who = s.ctl('who').stdout
        self.assertIn('192.0.2.99', who)
        c.cmd('LOGOUT')
        c.close()
        self.assertIn('user alice logged in from 192.0.2.99', s.logtext())
        # implicit TLS from the proxy without a header: dropped
        raw = socket.create_connection((HOST, tls_port), timeout=10,
                                       source_address=('127.0.0.2', 0))
        with self.assertRaises((ssl.SSLError, OSError)):
            context(cert).wrap_socket(raw, server_hostname='localhost')
        raw.close()


class Pop3(unittest.TestCase):
    """The front door on POP3: auth_http routes to the POP3 listener,
    the PROXY header names the client, a user on another backend is
    told where (POP3 has no referral)."""

    def test_pop3(self):
        hport, pport = free_port(), free_port()
        s = Server(users={'alice': 'pw-a'}, start=False, config={
            'backend_name': 'b1', 'auth_http_listen': '127.0.0.1:%d' % hport,
            'trusted_proxies': '127.0.0.2'})
        self.addCleanup(s.cleanup)
        s.configure({'listen_pop3': '127.0.0.1:%d' % pport})
        s.configure({'backend': 'b1 127.0.0.1 %d' % s.port})
        s.configure({'backend': 'b2 127.0.0.1 %d' % free_port()})
        s.ctl('useradd', 'bob', '--password-stdin', '--backend', 'b2',
              stdin='pw-b\n')
        s.start()
        self.addCleanup(s.stop)
        st, h = http_auth(hport, 'alice', 'pw-a', proto='pop3')
        self.assertEqual(h['Auth-Status'], 'OK')
        self.assertEqual(h['Auth-Port'], str(pport))
        st, h = http_auth(hport, 'bob', 'pw-b', proto='pop3')
        self.assertEqual(h['Auth-Status'], 'OK')
        self.assertEqual(h['Auth-Port'], str(pport))	# b2's, alike

        def pop3(source, header, cmds):
            sk = socket.create_connection((HOST, pport), timeout=10,
                                          source_address=(source, 0))
            if header:
                sk.sendall(header)
            f = sk.makefile('rb')
            out = [f.readline().decode()]
            for cmd in cmds:
                sk.sendall(cmd.encode() + b'\r\n')
                out.append(f.readline().decode())
            sk.close()
            return out
        out = pop3('127.0.0.2', b'PROXY TCP4 192.0.2.111 127.0.0.1 9 110\r\n',
                   ['USER alice', 'PASS pw-a', 'QUIT'])
        self.assertTrue(out[0].startswith('+OK'), out)
        self.assertTrue(out[2].startswith('+OK'), out)
        self.assertIn('user alice logged in from 192.0.2.111', s.logtext())
        out = pop3('127.0.0.1', None, ['USER bob', 'PASS pw-b'])
        self.assertIn('-ERR [SYS/PERM] Your mailbox is on backend b2', out[2])
        out = pop3('127.0.0.1', None, ['PROXY TCP4 1.2.3.4 1.2.3.4 1 2'])
        self.assertTrue(out[1].startswith('-ERR'), out)


# Client.cmd() adds a tag; the PROXY line is sent as it is.
def _cmd_raw(self, data):
    self.send(data)
    line = self.readline()
    return line, []


Client.cmd_raw = _cmd_raw

if __name__ == '__main__':
    unittest.main()
