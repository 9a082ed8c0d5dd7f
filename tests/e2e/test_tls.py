"""test_tls.py - TLS against the real daemon, with real TLS clients:
Python's ssl module (OpenSSL) and gnutls-cli.

STARTTLS on the plain listener and implicit TLS on a listen_tls one:
capabilities before and after, LOGIN, SELECT, APPEND and FETCH of a
message of several MB byte for byte, and IDLE woken by another
connection's APPEND, all through the relay; TLS 1.0 and 1.1 refused
with a protocol_version alert; the STARTTLS command injection; a client
that drops mid-handshake leaves no process; plaintext_auth = never
(LOGINDISABLED, NO [PRIVACYREQUIRED], then fine after STARTTLS); SIGHUP
with a new certificate (new connections get it, a relayed session keeps
going) and with a broken one (refused, the old one stays); the relay
keeps the login process's uid and chroot (as root) and ends with its
connection; mailkeepctl init --tls-cert/--tls-key.

The loopback exemption (clear-text login allowed from 127.0.0.0/8 and
::1 by default) cannot be shown from a remote address here; the address
classifier and the policy are unit-tested (tests/unit/auth/test_tls.c),
and the refusal path is shown with plaintext_auth = never.

Certificates are made with certtool (gnutls-bin), as etc/run-local.sh
does.  Python 3 standard library only."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import (Client, Closed, Server, alive, free_port,  # noqa: E402
                       is_root, proc_uid, quote, run_ctl, settled,
                       wait_for)

USERS = {'alice': 'alice pw', 'bob': 'bob-pw'}
HAVE_CERTTOOL = shutil.which('certtool') is not None


def make_cert(d, name, cn='localhost'):
    """A self-signed ECDSA certificate for localhost and 127.0.0.1:
    (cert path, key path)."""
    key = os.path.join(d, name + '.key')
    crt = os.path.join(d, name + '.crt')
    tmpl = os.path.join(d, name + '.tmpl')
    with open(tmpl, 'w') as f:
        f.write('cn = "%s"\ndns_name = "localhost"\nip_address = "127.0.0.1"\n'
                'expiration_days = 30\ntls_www_server\nsigning_key\n' % cn)
    subprocess.run(['certtool', '--generate-privkey', '--key-type=ecdsa',
                    '--curve=secp256r1', '--outfile', key],
                   check=True, capture_output=True)
    subprocess.run(['certtool', '--generate-self-signed', '--load-privkey',
                    key, '--template', tmpl, '--outfile', crt],
                   check=True, capture_output=True)
    return crt, key


def der_of(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def context(cafile):
    """A client context that verifies the server as a client would."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def old_tls_context(version):
    """A client that offers only TLS 1.0 or 1.1 (and ciphers they use)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
    ctx.minimum_version = version
    ctx.maximum_version = version
    return ctx


class TLSClient(Client):
    """mkharness.Client over TLS: implicit, or upgraded by STARTTLS."""

    def __init__(self, port, ctx, timeout=10):
        super().__init__(port, timeout=timeout)
        self.ctx = ctx

    def connect_tls(self):
        raw = socket.create_connection(self.addr, timeout=self.timeout)
        self.sock = self.ctx.wrap_socket(raw, server_hostname='localhost')
        self.greeting = self.readline()
        return self.greeting

    def starttls(self):
        tagged, unt = self.cmd('STARTTLS')
        if ' OK ' not in tagged:
            raise AssertionError('STARTTLS refused: %r' % tagged)
        if self.buf:
            raise AssertionError('bytes after the STARTTLS OK: %r' % self.buf)
        self.sock = self.ctx.wrap_socket(self.sock, server_hostname='localhost')

    def peer_der(self):
        return self.sock.getpeercert(binary_form=True)


def caps_of(line):
    """Capability names of a '* CAPABILITY' line or a greeting."""
    if line.startswith('* CAPABILITY '):
        return line[len('* CAPABILITY '):].split()
    return line[line.index('[CAPABILITY ') + 12:line.index(']')].split()


def message(size, seed=0):
    """An RFC 5322 message of about size bytes, lines of varied bytes."""
    head = ('From: a@example.org\r\nTo: b@example.org\r\nSubject: big %d\r\n'
            'Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\n' % seed).encode()
    body = bytearray()
    i = 0
    while len(head) + len(body) < size:
        line = bytes((33 + (i * 7 + j + seed) % 94) for j in range(76))
        body += line + b'\r\n'
        i += 1
    return head + bytes(body)


def comm_of(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


class TLSCase(unittest.TestCase):
    """One server per class with a certificate, STARTTLS on the plain
    port and implicit TLS on a second one."""
    config = {}

    @classmethod
    def setUpClass(cls):
        if not HAVE_CERTTOOL:
            raise unittest.SkipTest('certtool (gnutls-bin) is not installed')
        cls.tls_port = free_port()
        cls.server = Server(users=USERS, start=False)
        cls.cert, cls.key = make_cert(cls.server.tmp, 'server')
        conf = dict(cls.config)
        conf.update({'listen_tls': '127.0.0.1:%d' % cls.tls_port,
                     'tls_cert': cls.cert, 'tls_key': cls.key})
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

    def ctx(self):
        return context(self.cert)

    def plain(self):
        c = self.server.client(timeout=10)
        self.addCleanup(c.close)
        return c

    def starttls(self, login=None):
        c = TLSClient(self.server.port, self.ctx())
        self.addCleanup(c.close)
        c.connect()
        c.starttls()
        if login:
            self.assertRegex(c.login(*login)[0], r'^a\d+ OK ')
        return c

    def implicit(self, login=None):
        c = TLSClient(self.tls_port, self.ctx())
        self.addCleanup(c.close)
        c.connect_tls()
        if login:
            self.assertRegex(c.login(*login)[0], r'^a\d+ OK ')
        return c

    def wait_gone(self, pids, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            left = [p for p in pids if alive(p)]
            if not left:
                return []
            time.sleep(0.05)
        return [p for p in pids if alive(p)]

    def new_children(self, before, timeout=5):
        """New login processes.  The spawner's short-lived middle process
        (and the child before it names itself) are descendants of the
        master too for a moment: only a process named mk-login counts."""
        def is_login(pid):
            try:
                with open('/proc/%d/comm' % pid) as f:
                    return f.read().startswith('mk-login')
            except OSError:
                return False
        deadline = time.time() + timeout
        while time.time() < deadline:
            new = [p for p in self.server.children()
                   if p not in before and is_login(p)]
            if new:
                return new
            time.sleep(0.02)
        return []


class Basics(TLSCase):

    def test_starttls_capabilities_login_logout(self):
        c = TLSClient(self.server.port, self.ctx())
        self.addCleanup(c.close)
        c.connect()
        before = caps_of(c.greeting)
        # loopback: clear-text login allowed, STARTTLS offered
        self.assertIn('STARTTLS', before)
        self.assertIn('AUTH=PLAIN', before)
        self.assertNotIn('LOGINDISABLED', before)
        c.starttls()
        self.assertEqual(c.sock.version() in ('TLSv1.3', 'TLSv1.2'), True)
        self.assertEqual(c.peer_der(), der_of(self.cert))
        # RFC 3501 6.2.1: nothing is sent after the handshake; the client
        # asks again and the list has changed
        tagged, unt = c.cmd('CAPABILITY')
        after = caps_of(unt[0])
        self.assertNotIn('STARTTLS', after)
        self.assertIn('AUTH=PLAIN', after)
        tagged, _ = c.cmd('STARTTLS')
        self.assertRegex(tagged, r'^a\d+ BAD TLS is already active')
        tagged, _ = c.login('alice', USERS['alice'])
        self.assertRegex(tagged, r'^a\d+ OK \[CAPABILITY ')
        self.assertNotIn('STARTTLS', tagged)
        self.assertRegex(c.cmd('SELECT INBOX')[0], r'^a\d+ OK \[READ-WRITE\]')
        tagged, unt = c.cmd('LOGOUT')
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertTrue(unt[0].startswith('* BYE'), unt)
        # the relay ends the session with close_notify: a clean EOF
        self.assertEqual(c.sock.recv(10), b'')

    def test_implicit_tls_greeting_after_handshake(self):
        c = TLSClient(self.tls_port, self.ctx())
        self.addCleanup(c.close)
        g = c.connect_tls()
        self.assertTrue(g.startswith('* OK [CAPABILITY '), g)
        caps = caps_of(g)
        self.assertIn('AUTH=PLAIN', caps)
        self.assertNotIn('STARTTLS', caps)
        self.assertEqual(c.peer_der(), der_of(self.cert))
        self.assertRegex(c.cmd('STARTTLS')[0], r'^a\d+ BAD TLS is already')
        self.assertRegex(c.login('bob', USERS['bob'])[0], r'^a\d+ OK ')
        self.assertRegex(c.cmd('NOOP')[0], r'^a\d+ OK ')
        self.assertRegex(c.cmd('LOGOUT')[0], r'^a\d+ OK ')

    def test_authenticate_plain_over_tls(self):
        import base64
        c = self.implicit()
        ir = base64.b64encode(b'\0alice\0' + USERS['alice'].encode()).decode()
        tagged, _ = c.cmd('AUTHENTICATE PLAIN ' + ir)
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertRegex(c.cmd('NOOP')[0], r'^a\d+ OK ')

    def test_pipelined_after_login_reaches_mailbox(self):
        """Commands sent with LOGIN in one record travel with the
        hand-off, the next ones through the relay."""
        c = self.implicit()
        c.send('a1 LOGIN alice %s\r\na2 SELECT INBOX\r\na3 NOOP\r\n'
               % quote(USERS['alice']))
        for tag in ('a1', 'a2', 'a3'):
            self.assertRegex(c.read_until_tagged(tag)[0], r'^%s OK ' % tag)

    def test_starttls_injection_discarded(self):
        c = TLSClient(self.server.port, self.ctx())
        self.addCleanup(c.close)
        c.connect()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.send(b'a STARTTLS\r\nb CAPABILITY\r\n')
        self.assertEqual(c.readline(), 'a OK Begin TLS negotiation now')
        time.sleep(0.2)
        # nothing else in clear either
        c.sock.setblocking(False)
        try:
            extra = c.sock.recv(100)
        except BlockingIOError:
            extra = b''
        c.sock.setblocking(True)
        c.sock.settimeout(c.timeout)
        self.assertEqual(extra + c.buf, b'')
        c.sock = c.ctx.wrap_socket(c.sock, server_hostname='localhost')
        c.send('c NOOP\r\n')
        tagged, unt = c.read_until_tagged('c')
        self.assertEqual(tagged, 'c OK NOOP completed')
        self.assertEqual(unt, [])

    def test_starttls_injected_login_not_run(self):
        c = TLSClient(self.server.port, self.ctx())
        self.addCleanup(c.close)
        c.connect()
        c.send(('a STARTTLS\r\nb LOGIN alice %s\r\n'
                % quote(USERS['alice'])).encode())
        self.assertEqual(c.readline(), 'a OK Begin TLS negotiation now')
        c.sock = c.ctx.wrap_socket(c.sock, server_hostname='localhost')
        # still not authenticated: a later state's command is refused
        tagged, unt = c.cmd('SELECT INBOX')
        self.assertRegex(tagged, r'BAD SELECT is not allowed in the '
                         r'not-authenticated state')
        self.assertFalse([l for l in unt if l.startswith('b ')], unt)

    def test_old_protocol_versions_refused(self):
        for port, starttls in ((self.tls_port, False),
                               (self.server.port, True)):
            for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
                with self.subTest(port=port, version=version.name):
                    c = Client(port, timeout=10)
                    self.addCleanup(c.close)
                    if starttls:
                        c.connect()
                        self.assertRegex(c.cmd('STARTTLS')[0], r' OK ')
                        raw = c.sock
                    else:
                        raw = socket.create_connection(c.addr, timeout=10)
                        c.sock = raw
                    with self.assertRaises(ssl.SSLError) as cm:
                        old_tls_context(version).wrap_socket(raw)
                    # the server's answer, not the client giving up
                    self.assertIn('PROTOCOL_VERSION', str(cm.exception))

    @unittest.skipUnless(shutil.which('gnutls-cli'), 'gnutls-cli missing')
    def test_gnutls_cli_old_version_refused(self):
        p = subprocess.run(
            ['gnutls-cli', '--insecure', '-p', str(self.tls_port),
             '--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0',
             '127.0.0.1'], input=b'', capture_output=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertNotIn(b'Handshake was completed', p.stdout)

    @unittest.skipUnless(shutil.which('gnutls-cli'), 'gnutls-cli missing')
    def test_gnutls_cli_starttls_session(self):
        """README's command: gnutls-cli --starttls-proto=imap --insecure."""
        p = subprocess.Popen(
            ['gnutls-cli', '--starttls-proto=imap', '--crlf', '--insecure',
             '-p', str(self.server.port), '127.0.0.1'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        try:
            time.sleep(1)
            p.stdin.write(('x1 LOGIN alice %s\n' % quote(USERS['alice']))
                          .encode())
            p.stdin.flush()
            time.sleep(1)
            p.stdin.write(b'x2 LOGOUT\n')
            p.stdin.flush()
            time.sleep(1)
            out, _ = p.communicate(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertIn(b'Handshake was completed', out)
        self.assertIn(b'x1 OK [CAPABILITY', out)
        self.assertIn(b'x2 OK LOGOUT', out)


class Relay(TLSCase):

    def big_roundtrip(self, c, mailbox, size, seed):
        msg = message(size, seed)
        self.assertRegex(c.cmd('CREATE %s' % mailbox)[0], r' OK ')
        tagged, _ = c.append(mailbox, msg, timeout=60)
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertRegex(c.cmd('SELECT %s' % mailbox)[0], r' OK ')
        tagged, unt = c.cmd_bytes('FETCH 1 BODY.PEEK[]', timeout=60)
        self.assertRegex(tagged, rb'^a\d+ OK ')
        self.assertEqual(len(unt), 1)
        head = b'* 1 FETCH (BODY[] {%d}\r\n' % len(msg)
        self.assertTrue(unt[0].startswith(head), unt[0][:80])
        self.assertEqual(unt[0][len(head):len(head) + len(msg)], msg)
        self.assertEqual(unt[0][len(head) + len(msg):], b')')

    def test_large_message_starttls(self):
        c = self.starttls(login=('alice', USERS['alice']))
        self.big_roundtrip(c, 'big-starttls', 6 * 1024 * 1024 + 123, 1)

    def test_large_message_implicit(self):
        c = self.implicit(login=('bob', USERS['bob']))
        self.big_roundtrip(c, 'big-implicit', 5 * 1024 * 1024 + 77, 2)

    def test_idle_woken_through_relay(self):
        a = self.implicit(login=('alice', USERS['alice']))
        b = self.starttls(login=('alice', USERS['alice']))
        self.assertRegex(a.cmd('CREATE idlebox')[0], r' OK ')
        self.assertRegex(a.cmd('SELECT idlebox')[0], r' OK ')
        tag = a.next_tag()
        a.send('%s IDLE\r\n' % tag)
        self.assertEqual(a.readline(), '+ idling')
        t0 = time.monotonic()
        self.assertRegex(b.append('idlebox', message(2000, 3))[0],
                         r'^a\d+ OK ')
        line = a.readline(timeout=5)
        took = time.monotonic() - t0
        self.assertEqual(line, '* 1 EXISTS')
        self.assertLess(took, 2.0)
        a.send('DONE\r\n')
        tagged, _ = a.read_until_tagged(tag)
        self.assertEqual(tagged, '%s OK IDLE terminated' % tag)

    def relays(self):
        """The pool relays (mk-relay) now running."""
        return [p for p in self.server.children() if comm_of(p) == 'mk-relay']

    def relay_sockets(self):
        """Sockets the relays hold: two per connection (client and
        plaintext end) plus their channels."""
        n = 0
        for pid in self.relays():
            try:
                n += sum(os.readlink('/proc/%d/fd/%s' % (pid, fd))
                         .startswith('socket:')
                         for fd in os.listdir('/proc/%d/fd' % pid))
            except OSError:
                pass
        return n

    def wait_relay_sockets(self, n):
        wait_for(lambda: self.relay_sockets() == n,
                 what='%d sockets in the relays (have %d)' %
                 (n, self.relay_sockets()))

    def test_relay_lets_go_with_logout(self):
        base = settled(self.relay_sockets, what="the relays' sockets")
        c = self.implicit(login=('bob', USERS['bob']))
        self.wait_relay_sockets(base + 2)
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')
        c.cmd('LOGOUT')
        self.wait_relay_sockets(base)

    def test_relay_lets_go_when_client_vanishes(self):
        base = settled(self.relay_sockets, what="the relays' sockets")
        c = TLSClient(self.tls_port, self.ctx())
        c.connect_tls()
        self.assertRegex(c.login('bob', USERS['bob'])[0], r'^a\d+ OK ')
        self.assertRegex(c.cmd('SELECT INBOX')[0], r' OK ')
        self.wait_relay_sockets(base + 2)
        c.sock.close()      # no LOGOUT, no close_notify
        c.sock = None
        self.wait_relay_sockets(base)

    def test_no_process_per_connection(self):
        """Twelve TLS connections, STARTTLS and implicit, logged in and
        not: the relays are the same processes, and no login process
        stays behind a logged-in connection."""
        before = sorted(self.relays())
        self.assertGreaterEqual(len(before), 1)
        conns = [self.implicit(login=('alice', USERS['alice']))
                 for _ in range(4)]
        conns += [self.starttls(login=('bob', USERS['bob']))
                  for _ in range(4)]
        conns += [self.implicit() for _ in range(2)]
        conns += [self.starttls() for _ in range(2)]
        self.assertEqual(sorted(self.relays()), before)
        logins = [p for p in self.server.children()
                  if comm_of(p) == 'mk-login']
        self.assertEqual(len(logins), 4, logins)
        for c in conns:
            self.assertRegex(c.cmd('NOOP')[0], r' OK ')

    @unittest.skipUnless(is_root(), 'needs root: uids and chroot')
    def test_relay_keeps_login_uid_and_chroot(self):
        c = self.starttls(login=('alice', USERS['alice']))
        uid = self.server.uid_of('mailkeep-login')
        for relay in self.relays():
            self.assertEqual(proc_uid(relay), [uid] * 4)
            self.assertEqual(os.readlink('/proc/%d/root' % relay),
                             self.server.path('empty'))
            with open('/proc/%d/status' % relay) as f:
                self.assertIn('Seccomp:\t2', f.read())
            fds = [os.readlink('/proc/%d/fd/%s' % (relay, fd))
                   for fd in os.listdir('/proc/%d/fd' % relay)
                   if int(fd) > 2]
            # besides stdio (the log): sockets (master, key holder,
            # connections), epoll, signalfd; no file
            self.assertFalse([f for f in fds if f.startswith('/')], fds)
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')

    def test_drop_mid_handshake_leaves_no_process(self):
        hello = bytes.fromhex('16030100c8010000c40303') + os.urandom(32)
        cases = (('implicit, partial ClientHello', self.tls_port, False, hello),
                 ('implicit, nothing sent', self.tls_port, False, b''),
                 ('STARTTLS, partial ClientHello', self.server.port, True,
                  hello))
        for name, port, starttls, data in cases:
            with self.subTest(name):
                before = set(self.server.children())
                c = Client(port, timeout=10)
                if starttls:
                    c.connect()
                    self.assertRegex(c.cmd('STARTTLS')[0], r' OK ')
                else:
                    c.sock = socket.create_connection(c.addr, timeout=10)
                if data:
                    c.send(data)
                new = self.new_children(before)
                self.assertEqual(len(new), 1)
                time.sleep(0.1)
                self.assertTrue(alive(new[0]))   # still waiting for more
                c.close()
                self.assertEqual(self.wait_gone(new), [])


class NoClearText(TLSCase):
    config = {'plaintext_auth': 'never'}

    def test_logindisabled_and_privacyrequired(self):
        c = self.plain()
        caps = caps_of(c.greeting)
        self.assertIn('STARTTLS', caps)
        self.assertIn('LOGINDISABLED', caps)
        self.assertFalse([x for x in caps if x.startswith('AUTH=')], caps)
        tagged, _ = c.login('alice', USERS['alice'])
        self.assertRegex(tagged, r'^a\d+ NO \[PRIVACYREQUIRED\] .*STARTTLS')
        tagged, _ = c.cmd('AUTHENTICATE PLAIN AGFsaWNlAGFsaWNlIHB3')
        self.assertRegex(tagged, r'^a\d+ NO \[PRIVACYREQUIRED\] ')
        tagged, _ = c.cmd('AUTHENTICATE PLAIN')
        self.assertRegex(tagged, r'^a\d+ NO \[PRIVACYREQUIRED\] ')
        self.assertRegex(c.cmd('NOOP')[0], r'^a\d+ OK ')

    def test_login_after_starttls(self):
        c = self.starttls()
        tagged, unt = c.cmd('CAPABILITY')
        caps = caps_of(unt[0])
        self.assertIn('AUTH=PLAIN', caps)
        self.assertNotIn('LOGINDISABLED', caps)
        self.assertNotIn('STARTTLS', caps)
        self.assertRegex(c.login('alice', USERS['alice'])[0], r'^a\d+ OK ')
        self.assertRegex(c.cmd('SELECT INBOX')[0], r' OK ')

    def test_login_on_implicit_tls(self):
        c = self.implicit()
        self.assertIn('AUTH=PLAIN', caps_of(c.greeting))
        self.assertRegex(c.login('bob', USERS['bob'])[0], r'^a\d+ OK ')


class Reload(TLSCase):

    def hup_and_wait(self, what):
        n = self.server.logtext().count(what)
        os.kill(self.server.pid, signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.server.logtext().count(what) > n:
                return
            time.sleep(0.05)
        self.fail('no %r after SIGHUP:\n%s' % (what, self.server.logtext()))

    def test_sighup_new_certificate(self):
        old_der = der_of(self.cert)
        old = self.implicit(login=('alice', USERS['alice']))
        self.assertRegex(old.cmd('SELECT INBOX')[0], r' OK ')
        ofresh = self.starttls(login=('bob', USERS['bob']))

        new_crt, new_key = make_cert(self.server.tmp, 'renewed', cn='renewed')
        new_der = der_of(new_crt)
        self.assertNotEqual(new_der, old_der)
        shutil.copy(new_key, self.key + '.tmp')
        shutil.copy(new_crt, self.cert + '.tmp')
        os.replace(self.key + '.tmp', self.key)
        os.replace(self.cert + '.tmp', self.cert)
        self.hup_and_wait('TLS certificate %s loaded' % self.cert)

        ctx = context(new_crt)
        for port, starttls in ((self.tls_port, False),
                               (self.server.port, True)):
            c = TLSClient(port, ctx)
            self.addCleanup(c.close)
            if starttls:
                c.connect()
                c.starttls()
            else:
                c.connect_tls()
            self.assertEqual(c.peer_der(), new_der)
            self.assertRegex(c.login('alice', USERS['alice'])[0], r' OK ')

        # the sessions relayed before the reload go on, with the old one
        for c in (old, ofresh):
            self.assertEqual(c.peer_der(), old_der)
            self.assertRegex(c.cmd('NOOP')[0], r'^a\d+ OK ')
            self.assertRegex(c.append('INBOX', message(300000, 5))[0],
                             r'^a\d+ OK ')

        # a broken pair is refused and the running one stays
        other_crt, other_key = make_cert(self.server.tmp, 'other')
        shutil.copy(other_key, self.key)
        self.hup_and_wait('reload failed')
        self.assertIn('do not match', self.server.logtext())
        c = TLSClient(self.tls_port, ctx)
        self.addCleanup(c.close)
        c.connect_tls()
        self.assertEqual(c.peer_der(), new_der)
        shutil.copy(new_key, self.key)
        self.hup_and_wait('TLS certificate %s loaded' % self.cert)


class CtlInit(unittest.TestCase):

    @unittest.skipUnless(HAVE_CERTTOOL, 'certtool missing')
    def test_init_with_certificate(self):
        s = Server(users={}, start=False)
        try:
            crt, key = make_cert(s.tmp, 'ctl')
            inst = os.path.join(s.tmp, 'inst2')
            port, tport = free_port(), free_port()
            run_ctl(None, 'init', inst, '--listen', '127.0.0.1:%d' % port,
                    '--listen-tls', '127.0.0.1:%d' % tport,
                    '--tls-cert', crt, '--tls-key', key)
            with open(os.path.join(inst, 'mailkeep.conf')) as f:
                text = f.read()
            self.assertIn('tls_cert = %s\n' % crt, text)
            self.assertIn('tls_key = %s\n' % key, text)
            p = run_ctl(None, 'init', os.path.join(s.tmp, 'inst3'),
                        '--tls-cert', crt, check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('--tls-key', p.stderr)
        finally:
            s.cleanup()


if __name__ == '__main__':
    unittest.main(verbosity=2)
