"""test_control.py - live administration of the running daemon through
its control socket (mailkeepctl who, kick, reload, stats) and the
Prometheus metrics port: who shows each session's user, method
(impersonation included), client, TLS, selected mailbox and idle time;
kick ends an IDLE session with BYE; stats and the metrics counters move
with logins; /metrics parses as the Prometheus text format; a slow
metrics client does not block the master; and (as root) no other uid
can use the control socket."""
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import (Client, Server, daemon_path, free_port,  # noqa: E402
                       is_root, wait_for)

USERS = {'alice': 'alice pw', 'bob': 'bob pw'}
HAVE_CERTTOOL = shutil.which('certtool') is not None


# ---- the Prometheus text format (0.0.4), checked strictly ----

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r'^(%s)(\{%s(?:,%s)*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)'
                    r'( -?[0-9]+)?$' % (NAME, LABEL, LABEL))


def parse_prometheus(text):
    """{family: (type, {labels-string: value})}; raises AssertionError
    on anything the text format does not allow."""
    assert text.endswith('\n'), 'must end with a newline'
    families, current = {}, None
    for n, line in enumerate(text.split('\n')[:-1], 1):
        if line.startswith('# HELP '):
            name = line.split(' ')[2]
            assert re.fullmatch(NAME, name), (n, line)
            continue
        if line.startswith('# TYPE '):
            parts = line.split(' ')
            assert len(parts) == 4, (n, line)
            assert parts[3] in ('counter', 'gauge', 'untyped', 'summary',
                                'histogram'), (n, line)
            assert parts[2] not in families, ('TYPE twice', n, line)
            current = parts[2]
            families[current] = (parts[3], {})
            continue
        assert not line.startswith('#') or line.startswith('# '), (n, line)
        if line.startswith('#') or line == '':
            continue
        m = SAMPLE.match(line)
        assert m, ('not a sample line', n, line)
        assert m.group(1) == current, ('sample outside its family', n, line)
        labels = m.group(2) or ''
        assert labels not in families[current][1], ('duplicate', n, line)
        families[current][1][labels] = float(m.group(3))
    for name, (typ, samples) in families.items():
        if typ == 'counter':
            assert name.endswith('_total'), name
    return families


def http_get(port, request, timeout=10):
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    s.sendall(request)
    data = b''
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    head, _, body = data.partition(b'\r\n\r\n')
    return head.decode(), body.decode()


def who(server):
    """{session id: {field: value}} from mailkeepctl who."""
    out = server.ctl('who').stdout.splitlines()
    assert out[0].split()[:3] == ['SESSION', 'USER', 'AUTHENTICATED'], out
    rows = {}
    for line in out[1:]:
        f = line.split(None, 8)
        rows[f[0]] = dict(user=f[1], authcid=f[2], method=f[3], tls=f[4],
                          client=f[5], idle=f[6], since=f[7] + ' ' +
                          f[8].split('  ')[0], mailbox=f[8].split('  ', 1)[1])
    return rows


def stats_logins(server):
    m = re.search(r'logins: (\d+) ok, (\d+) failed',
                  server.ctl('stats').stdout)
    return int(m.group(1)), int(m.group(2))


class Control(unittest.TestCase):
    def setUp(self):
        self.mport = free_port()
        self.s = Server(users=USERS, admins=['boss'],
                        config={'metrics_listen': '127.0.0.1:%d' % self.mport})
        self.addCleanup(self.s.cleanup)

    def test_who_shows_sessions(self):
        a = self.s.client(login=('alice', USERS['alice']))
        self.assertIn(' OK', a.cmd('SELECT "INBOX"')[0])
        b = self.s.client(login=('alice*boss', 'secret-boss'))
        c = self.s.client(login=('bob', USERS['bob']))
        time.sleep(2.2)
        self.assertIn(' OK', c.cmd('NOOP')[0])
        rows = who(self.s)
        self.assertEqual(len(rows), 3, rows)
        by = {(r['user'], r['authcid']): r for r in rows.values()}
        r = by[('alice', 'alice')]
        self.assertEqual((r['method'], r['tls'], r['client'], r['mailbox']),
                         ('login', 'no', '127.0.0.1', 'INBOX'))
        self.assertGreaterEqual(int(r['idle'].rstrip('s')), 2)
        r = by[('alice', 'boss')]
        self.assertEqual((r['method'], r['mailbox']), ('separator', '-'))
        r = by[('bob', 'bob')]
        self.assertLess(int(r['idle'].rstrip('s')), 2)
        self.assertRegex(r['since'], r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$')
        # a session that ends leaves the list
        c.cmd('LOGOUT')
        c.close()
        wait_for(lambda: len(who(self.s)) == 2, 10, what='two sessions')
        a.close()
        b.close()

    def test_kick_ends_idle_session_with_bye(self):
        a = self.s.client(login=('alice', USERS['alice']))
        a.cmd('SELECT INBOX')
        a.send('%s IDLE\r\n' % a.next_tag())
        self.assertTrue(a.readline().startswith('+'))
        b = self.s.client(login=('bob', USERS['bob']))
        p = self.s.ctl('kick', 'Alice')
        self.assertIn('1 session of alice ended', p.stdout)
        lines = a.expect_closed(timeout=10)
        self.assertIn('* BYE Disconnected by the administrator', lines)
        a.close()
        # bob's session goes on; a user with none is no error
        self.assertIn(' OK', b.cmd('NOOP')[0])
        self.assertIn('0 sessions of carol ended',
                      self.s.ctl('kick', 'carol').stdout)
        p = self.s.ctl('kick', check=False)
        self.assertEqual(p.returncode, 2)
        b.close()
        self.assertIn('ended by the administrator', self.s.logtext())

    def test_stats_and_metrics_move_with_logins(self):
        ok0, failed0 = stats_logins(self.s)
        _, body = http_get(self.mport, b'GET /metrics HTTP/1.0\r\n\r\n')
        m0 = parse_prometheus(body)
        a = self.s.client(login=('alice', USERS['alice']))
        x = self.s.client()
        self.assertIn(' NO', x.cmd('LOGIN alice wrong')[0])
        x.close()
        ok1, failed1 = stats_logins(self.s)
        self.assertEqual((ok1 - ok0, failed1 - failed0), (1, 1))
        text = self.s.ctl('stats').stdout
        self.assertRegex(text, r'in the last minute: [1-9]\d* ok, [1-9]\d* '
                         r'failed')
        self.assertRegex(text, r'hash workers: 2 alive')
        self.assertRegex(text, r'\nalice +\d+ +1 +\d+\n')
        head, body = http_get(self.mport, b'GET /metrics HTTP/1.1\r\n'
                              b'Host: x\r\n\r\n')
        self.assertTrue(head.startswith('HTTP/1.0 200 OK'), head)
        self.assertIn('Content-Type: text/plain; version=0.0.4', head)
        m1 = parse_prometheus(body)
        logins = m1['mailkeep_logins_total']
        self.assertEqual(logins[0], 'counter')
        self.assertEqual(logins[1]['{result="ok"}'] -
                         m0['mailkeep_logins_total'][1]['{result="ok"}'], 1)
        self.assertEqual(logins[1]['{result="failed"}'] -
                         m0['mailkeep_logins_total'][1]['{result="failed"}'],
                         1)
        self.assertGreater(m1['mailkeep_connections_accepted_total'][1][''],
                           m0['mailkeep_connections_accepted_total'][1][''])
        self.assertEqual(m1['mailkeep_user_sessions'][1]['{user="alice"}'], 1)
        self.assertGreater(
            m1['mailkeep_user_store_bytes'][1]['{user="alice"}'], 0)
        self.assertIn('mailkeep_hash_queue_length', m1)
        a.close()

    def test_metrics_http_edges_and_slow_client(self):
        head, _ = http_get(self.mport, b'GET / HTTP/1.0\r\n\r\n')
        self.assertTrue(head.startswith('HTTP/1.0 404'), head)
        head, _ = http_get(self.mport, b'POST /metrics HTTP/1.0\r\n\r\n')
        self.assertTrue(head.startswith('HTTP/1.0 405'), head)
        head, _ = http_get(self.mport, b'GET /metrics HTTP/1.0\r\nX: ' +
                           b'a' * 5000 + b'\r\n\r\n')
        self.assertTrue(head.startswith('HTTP/1.0 431'), head)
        # a client that sends half a request and stalls holds nothing up
        slow = socket.create_connection(('127.0.0.1', self.mport))
        slow.sendall(b'GET /metr')
        start = time.time()
        c = self.s.client(login=('alice', USERS['alice']))
        head, body = http_get(self.mport, b'GET /metrics HTTP/1.0\r\n\r\n')
        self.assertTrue(head.startswith('HTTP/1.0 200'))
        self.assertIn('hash workers', self.s.ctl('stats').stdout)
        self.assertLess(time.time() - start, 5)
        c.close()
        # ...and is dropped after the timeout
        slow.settimeout(20)
        self.assertEqual(slow.recv(100), b'')
        slow.close()
        self.assertIn('took longer than', self.s.logtext())

    def test_reload(self):
        with open(self.s.conf, 'a') as f:
            f.write('autologout = 1234\n')
        p = self.s.ctl('reload')
        self.assertIn('configuration reloaded', p.stdout)
        self.assertIn('reload: autologout 1800 -> 1234', self.s.logtext())
        # parses, but the daemon refuses it: the running one stays
        with open(self.s.conf, 'a') as f:
            f.write('tls_cert = /nonexistent.pem\n')
        p = self.s.ctl('reload', check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('reload failed', p.stderr)
        self.assertIn('tls_cert and tls_key go together', p.stderr)
        # still serving with the old configuration
        self.s.client(login=('bob', USERS['bob'])).close()

    def test_control_socket_file(self):
        path = os.path.join(self.s.data_dir, 'control')
        st = os.lstat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.geteuid())
        # unknown and oversized requests get an ERR
        for req, want in ((b'frobnicate\n', 'ERR unknown request'),
                          (b'x' * 600, 'ERR request too long')):
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.sendall(req)
            self.assertTrue(s.recv(200).decode().startswith(want))
            s.close()
        self.s.stop()
        self.assertFalse(os.path.exists(path))

    @unittest.skipUnless(is_root() and os.path.exists('/usr/bin/python3'),
                         'needs root (another uid) and /usr/bin/python3')
    def test_other_uid_cannot_use_control_socket(self):
        path = os.path.join(self.s.data_dir, 'control')
        uid = self.s.uid_of('mailkeep-login')
        probe = ('import socket,sys\n'
                 's=socket.socket(socket.AF_UNIX)\n'
                 'try:\n'
                 '    s.connect(sys.argv[1])\n'
                 'except PermissionError:\n'
                 '    print("EACCES"); sys.exit(0)\n'
                 'print(s.recv(200).decode().strip())\n')

        def as_other():
            return subprocess.run(['/usr/bin/python3', '-c', probe, path],
                                  capture_output=True, text=True, timeout=20,
                                  user=uid, group=uid, extra_groups=[]
                                  ).stdout.strip()
        self.assertEqual(as_other(), 'EACCES')
        # were the mode ever wrong, the peer's uid is still checked
        os.chmod(path, 0o666)
        self.assertEqual(as_other(), 'ERR permission denied')
        self.assertIn('refused a connection from uid %d' % uid,
                      self.s.logtext())


@unittest.skipUnless(HAVE_CERTTOOL, 'certtool (gnutls-bin) not installed')
class TLSSession(unittest.TestCase):
    def test_who_shows_tls(self):
        from test_tls import TLSClient, context, make_cert
        d = tempfile.mkdtemp(prefix='mk-ctl-tls-')
        self.addCleanup(shutil.rmtree, d, True)
        if is_root():
            os.chmod(d, 0o755)
        crt, key = make_cert(d, 'srv')
        tport = free_port()
        s = Server(users=USERS, config={
            'tls_cert': crt, 'tls_key': key,
            'listen_tls': '127.0.0.1:%d' % tport})
        self.addCleanup(s.cleanup)
        c = TLSClient(tport, context(crt))
        c.connect_tls()
        self.assertIn(' OK', c.login('alice', USERS['alice'])[0])
        rows = list(who(s).values())
        self.assertEqual([(r['user'], r['tls']) for r in rows],
                         [('alice', 'yes')])
        c.close()
        s.stop()


class Config(unittest.TestCase):
    def test_metrics_listen_must_be_loopback(self):
        s = Server(users=USERS, start=False)
        self.addCleanup(s.cleanup)
        with open(s.conf, 'a') as f:
            f.write('metrics_listen = 0.0.0.0:%d\n' % free_port())
        p = subprocess.run([daemon_path(), '-f', '-c', s.conf],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn('metrics_listen 0.0.0.0 must be a loopback address',
                      p.stderr)


if __name__ == '__main__':
    unittest.main(verbosity=2)
