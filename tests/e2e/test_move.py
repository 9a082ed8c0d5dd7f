"""test_move.py - moving a user between two real backends over the link
between backends (doc/move.md), with LMTP delivery to the right one.

Two mailkeepd instances on loopback, b1 and b2, each with a cluster
certificate signed by one test CA (certtool), cluster_listen, an LMTP
port, and both declared as backends.

  * a move while an APPEND loop (IMAP) and LMTP deliveries run: every
    acknowledged message is on b2 exactly once, nothing twice;
  * while a user is frozen: logins NO [UNAVAILABLE], LMTP 451 4.3.0;
  * a move stopped dead after each step, run again, ends with the same
    mail on b2 (and the refusals that must hold in between);
  * the link refuses a peer whose certificate cluster_ca did not sign,
    or that has none, or whose name is not its certificate's;
  * LMTP to the old backend after the move reaches the new one.
"""
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import (HOST, Client, Closed, Server,  # noqa: E402
                       ctl_path, free_port, is_root, wait_for)
from mkimap import message  # noqa: E402
from test_keyholder import comm, key_needles, scan  # noqa: E402

HAVE_CERTTOOL = shutil.which('certtool') is not None
PW = 'alice pw'


def certtool(*args):
    subprocess.run(['certtool'] + list(args), check=True,
                   capture_output=True)


def make_ca(d, name):
    key, crt = os.path.join(d, name + '.key'), os.path.join(d, name + '.crt')
    tmpl = os.path.join(d, name + '.tmpl')
    with open(tmpl, 'w') as f:
        f.write('cn = "%s"\nca\ncert_signing_key\nexpiration_days = 30\n'
                % name)
    certtool('--generate-privkey', '--key-type=ecdsa', '--outfile', key)
    certtool('--generate-self-signed', '--load-privkey', key, '--template',
             tmpl, '--outfile', crt)
    return crt, key


def make_cert(d, name, ca):
    """A backend's certificate, CN = its name, signed by ca."""
    key, crt = os.path.join(d, name + '.key'), os.path.join(d, name + '.crt')
    tmpl = os.path.join(d, name + '.tmpl')
    with open(tmpl, 'w') as f:
        f.write('cn = "%s"\nexpiration_days = 30\ntls_www_server\n'
                'tls_www_client\nsigning_key\n' % name)
    certtool('--generate-privkey', '--key-type=ecdsa', '--outfile', key)
    certtool('--generate-certificate', '--load-privkey', key,
             '--load-ca-certificate', ca[0], '--load-ca-privkey', ca[1],
             '--template', tmpl, '--outfile', crt)
    return crt, key


def subjects(server, user=('alice', PW)):
    """Subjects of every message in INBOX, in UID order."""
    c = server.client(login=user)
    c.cmd('SELECT INBOX')
    _, untagged = c.cmd('UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    c.close()
    return re.findall(r'Subject: (\S+)', '\n'.join(untagged))


def lmtp_send(port, rcpt, subject):
    """One LMTP delivery: the reply code (250, 451...)."""
    try:
        with smtplib.LMTP(HOST, port, timeout=20) as s:
            s.sendmail('sender@example.net', [rcpt],
                       message(subject=subject))
            return 250
    except smtplib.SMTPRecipientsRefused as e:
        return list(e.recipients.values())[0][0]
    except smtplib.SMTPDataError as e:
        return e.smtp_code
    except (OSError, smtplib.SMTPException):
        return 0


@unittest.skipUnless(HAVE_CERTTOOL, 'certtool (gnutls-bin) not installed')
class MoveTest(unittest.TestCase):
    def setUp(self):
        self.certs = tempfile.mkdtemp(prefix='mk-move-')
        self.addCleanup(shutil.rmtree, self.certs, True)
        self.ca = make_ca(self.certs, 'cluster-ca')
        self.servers = {}
        ports = {n: (free_port(), free_port()) for n in ('b1', 'b2')}
        for n in ('b1', 'b2'):
            users = {'bob': 'bob pw'}
            if n == 'b1':
                users['alice'] = PW
            s = Server(users=users, start=False)
            self.addCleanup(s.cleanup)
            self.servers[n] = s
        for n, s in self.servers.items():
            crt, key = make_cert(self.certs, n, self.ca)
            cfg = {'backend_name': n, 'cluster_cert': crt,
                   'cluster_key': key, 'cluster_ca': self.ca[0],
                   'cluster_listen': '%s:%d' % (HOST, ports[n][1]),
                   'lmtp_listen': '%s:%d' % (HOST, ports[n][0])}
            s.configure(cfg)
            for o, os_ in self.servers.items():
                s.configure({'backend': '%s %s %d %d %d' % (
                    o, HOST, os_.port, ports[o][0], ports[o][1])})
            s.lmtp_port, s.cluster_port = ports[n]
        for s in self.servers.values():
            s.start()
        self.b1, self.b2 = self.servers['b1'], self.servers['b2']

    def tearDown(self):
        for s in self.servers.values():
            s.check_log()

    def move(self, crash=None, check=True):
        env = dict(os.environ)
        if crash:
            env['MAILKEEP_MOVE_CRASH_AFTER'] = crash
        env.pop('MAILKEEP_CONF', None)
        p = subprocess.run([ctl_path(), '-c', self.b1.conf,
                            'move', 'alice', 'b2'], capture_output=True,
                           text=True, env=env, timeout=120)
        if check and p.returncode != 0:
            self.fail('move: exit %d\n%s%s' % (p.returncode, p.stdout,
                                              p.stderr))
        return p

    def control(self, server, line):
        s = socket.socket(socket.AF_UNIX)
        s.connect(os.path.join(server.data_dir, 'control'))
        s.sendall(line.encode() + b'\n')
        out = b''
        while True:
            b = s.recv(4096)
            if not b:
                break
            out += b
        s.close()
        return out.decode()

    def fill(self, n, prefix='before'):
        c = self.b1.client(login=('alice', PW))
        for i in range(n):
            tagged, _ = c.append('INBOX', message(subject='%s-%d' %
                                                  (prefix, i)))
            self.assertIn(' OK', tagged)
        c.close()

    # ---- the freeze ----

    def test_frozen_user_is_refused_everything(self):
        c = self.b1.client(login=('alice', PW))
        c.cmd('SELECT INBOX')
        self.assertIn('OK', self.control(self.b1, 'freeze alice 30'))
        # the open session got BYE
        self.assertTrue(any('BYE' in l for l in c.expect_closed(5)))
        d = self.b1.client()
        tagged, _ = d.login('alice', PW)
        self.assertIn('NO [UNAVAILABLE]', tagged)
        d.close()
        with smtplib.LMTP(HOST, self.b1.lmtp_port, timeout=10) as s:
            s.ehlo_or_helo_if_needed()
            s.mail('sender@example.net')
            code, text = s.rcpt('alice')
            self.assertEqual(code, 451)
            self.assertIn(b'4.3.0', text)
        self.assertIn('sessions 0', self.control(self.b1, 'frozen alice'))
        self.assertIn('OK', self.control(self.b1, 'thaw alice'))
        self.b1.client(login=('alice', PW)).close()
        self.assertIn('ERR', self.control(self.b1, 'freeze alice 0'))
        self.assertIn('ERR', self.control(self.b1, 'freeze alice'))

    # ---- a move under load ----

    def test_move_under_load(self):
        self.fill(20)
        acked, stop = [], threading.Event()
        refusals = {'imap': 0, 'lmtp': 0}

        def append_loop():
            i, c = 0, None
            while not stop.is_set():
                try:
                    if c is None:
                        for srv in (self.b1, self.b2):
                            c = Client(srv.port, timeout=10)
                            c.connect()
                            t, _ = c.login('alice', PW)
                            if ' OK' in t:
                                break
                            refusals['imap'] += 1
                            c.close()
                            c = None
                        if c is None:
                            time.sleep(0.05)
                            continue
                    subj = 'imap-%d' % i
                    i += 1
                    t, _ = c.append('INBOX', message(subject=subj))
                    if ' OK' in t:
                        acked.append(subj)
                    else:
                        refusals['imap'] += 1
                except (Closed, OSError):
                    refusals['imap'] += 1
                    c = None

        def lmtp_loop():
            i = 0
            while not stop.is_set():
                subj = 'lmtp-%d' % i
                i += 1
                code = lmtp_send(self.b1.lmtp_port, 'alice', subj)
                if code == 250:
                    acked.append(subj)
                else:
                    refusals['lmtp'] += 1
                    time.sleep(0.05)

        threads = [threading.Thread(target=append_loop),
                   threading.Thread(target=lmtp_loop)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            p = self.move()
            time.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertIn('moved to b2', p.stdout)
        got = subjects(self.b2)
        want = ['before-%d' % i for i in range(20)] + acked
        for s in want:
            self.assertEqual(got.count(s), 1, '%s on b2 %d times' %
                             (s, got.count(s)))
        self.assertEqual(len(got), len(set(got)), 'a message twice')
        self.assertGreater(len([s for s in acked if s.startswith('imap')]),
                           0)
        print('\nmove under load: %d acknowledged, refused: %s' %
              (len(acked), refusals), file=sys.stderr)

    # ---- a move stopped at each step, then run again ----

    def test_retry_after_each_step(self):
        self.fill(5)
        p = self.move(crash='copy', check=False)
        self.assertEqual(p.returncode, 9)
        p = self.move(crash='send', check=False)
        self.assertEqual(p.returncode, 9, p.stdout + p.stderr +
                         self.b2.logtext())
        # restored on b2, but b2 holds it for b1 until the commit: no
        # login there yet; b1 still has the mail
        d = self.b2.client()
        t, _ = d.login('alice', PW)
        d.close()
        self.assertIn('NO [REFERRAL', t)
        p = self.move(crash='switch', check=False)
        self.assertEqual(p.returncode, 9)
        # the two directories point at each other: one hop, then 451
        self.assertEqual(lmtp_send(self.b1.lmtp_port, 'alice', 'loop'), 451)
        self.assertEqual(lmtp_send(self.b2.lmtp_port, 'alice', 'loop'), 451)
        p = self.move()
        self.assertIn('finishing the move', p.stdout)
        self.assertEqual(subjects(self.b2),
                         ['before-%d' % i for i in range(5)])
        # once more: nothing to do, nothing broken
        self.move()
        self.assertEqual(len(subjects(self.b2)), 5)

    def test_retry_after_kill_mid_transfer(self):
        """kill -9 of mailkeepctl and all its processes while the copy
        travels; then the same command again."""
        c = self.b1.client(login=('alice', PW))
        body = ('y' * 76 + '\r\n') * 400
        for i in range(300):
            c.append('INBOX', message(subject='big-%d' % i, body=body))
        c.close()
        env = dict(os.environ)
        env.pop('MAILKEEP_CONF', None)
        p = subprocess.Popen([ctl_path(), '-c', self.b1.conf, 'move',
                              'alice', 'b2'], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)
        line = p.stdout.readline()
        while line and 'copy taken' not in line:
            line = p.stdout.readline()
        self.assertIn('copy taken', line)
        time.sleep(0.05)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        p.stdout.close()
        p.stderr.close()
        print('\nkilled; b2 saw: %s' % re.findall(
            r'link from b1: .*|cluster: .*', self.b2.logtext()),
            file=sys.stderr)
        # b1 still serves alice once the freeze is lifted by the retry
        p = self.move()
        self.assertIn('moved to b2', p.stdout)
        self.assertEqual(subjects(self.b2),
                         ['big-%d' % i for i in range(300)])

    def test_move_checks_the_targets_name(self):
        """A backend line that sends b3 to b2's address: b2's certificate
        names b2, so the move is refused before anything is sent."""
        self.fill(1)
        self.b1.configure({'backend': 'b3 %s %d %d %d' % (
            HOST, self.b2.port, self.b2.lmtp_port, self.b2.cluster_port)})
        env = dict(os.environ)
        env.pop('MAILKEEP_CONF', None)
        p = subprocess.run([ctl_path(), '-c', self.b1.conf, 'move', 'alice',
                            'b3'], capture_output=True, text=True, env=env,
                           timeout=120)
        self.assertEqual(p.returncode, 77, p.stdout + p.stderr)
        self.assertIn('its certificate names b2', p.stderr)
        self.assertNotIn('cluster: alice', self.b2.logtext())
        # alice is still b1's, and thawed
        self.b1.client(login=('alice', PW)).close()

    def test_shares_follow_the_move(self):
        """The share index follows the store: bob on b2 sees alice's
        folder after the move; b1's index forgets it."""
        a = self.b1.client(login=('alice', PW))
        self.assertIn(' OK', a.cmd('CREATE Team')[0])
        self.assertIn(' OK', a.cmd('SETACL Team bob lr')[0])
        a.close()

        def shared(server):
            c = server.client(login=('bob', 'bob pw'))
            _, lines = c.cmd('LIST "" "Other Users/*"')
            c.close()
            return [l for l in lines if 'Other Users/alice/Team' in l]

        self.assertEqual(len(shared(self.b1)), 1)
        self.assertEqual(shared(self.b2), [])
        self.move()
        self.assertEqual(len(shared(self.b2)), 1)
        self.assertEqual(shared(self.b1), [])
        self.assertIn('cluster: alice moved in', self.b2.logtext())

    # ---- delivery after the move ----

    def test_lmtp_to_old_backend_after_move(self):
        self.fill(2)
        self.move()
        code = lmtp_send(self.b1.lmtp_port, 'alice', 'after-move')
        self.assertEqual(code, 250, self.b1.logtext()[-2000:])
        self.assertEqual(subjects(self.b2).count('after-move'), 1)
        self.assertEqual(subjects(self.b2).count('before-1'), 1)
        # b2 delivers its own; b1 still knows who it does not know
        self.assertEqual(lmtp_send(self.b2.lmtp_port, 'alice', 'direct'),
                         250)
        self.assertEqual(lmtp_send(self.b1.lmtp_port, 'nobody', 'x'), 550)

    def test_backups_after_the_move_keep_the_backend(self):
        """A backup taken on either side after the move, restored there,
        keeps where alice lives: b1's row (restored after its directory
        row was lost) still points at b2, so b1 relays her mail there;
        on b2 she is held by b2."""
        self.fill(2)
        self.move()
        dest1 = os.path.join(self.b1.tmp, 'backups')
        dest2 = os.path.join(self.b2.tmp, 'backups')
        self.b1.ctl('backup', '--all', dest1)
        self.b2.ctl('backup', 'alice', dest2)
        with open(os.path.join(dest1, 'alice.manifest')) as f:
            self.assertIn('\nbackend = b2\n', f.read())
        with open(os.path.join(dest2, 'alice.manifest')) as f:
            self.assertNotIn('backend', f.read())
        self.b1.ctl('userdel', 'alice')
        p = self.b1.ctl('restore', 'alice',
                        os.path.join(dest1, 'alice.manifest'))
        self.assertIn('alice: held by backend b2', p.stdout)
        self.assertEqual(self.b1.ctl('backend', 'alice').stdout.strip(),
                         'b2')
        self.assertEqual(lmtp_send(self.b1.lmtp_port, 'alice',
                                   'after-restore'), 250)
        self.assertEqual(subjects(self.b2).count('after-restore'), 1)
        self.b2.ctl('restore', 'alice2', os.path.join(dest2,
                                                      'alice.manifest'))
        self.assertEqual(self.b2.ctl('backend', 'alice2').stdout.strip(),
                         'b2')

    # ---- the link's peer checks ----

    def frame(self, typ, payload):
        return struct.pack('>II', len(payload) + 4, typ) + payload

    def hello(self, name):
        n = name.encode() + b'\0'
        return self.frame(1, struct.pack('>II', 1, len(n)) + n)

    def link_client(self, cert):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(self.ca[0])
        if cert is not None:
            ctx.load_cert_chain(*cert)
        raw = socket.create_connection((HOST, self.b2.cluster_port), 10)
        return ctx.wrap_socket(raw)

    def refused(self, cert, name):
        try:
            s = self.link_client(cert)
            s.sendall(self.hello(name))
            data = s.recv(4096)
            s.close()
            return data == b''
        except (ssl.SSLError, OSError):
            return True

    def test_link_refuses_foreign_peers(self):
        rogue_ca = make_ca(self.certs, 'rogue-ca')
        rogue = make_cert(self.certs, 'b1x', rogue_ca)
        good = (os.path.join(self.certs, 'b1.crt'),
                os.path.join(self.certs, 'b1.key'))
        before = len(self.b2.logtext())
        self.assertTrue(self.refused(rogue, 'b1x'))
        self.assertTrue(self.refused(None, 'b1'))
        # a good certificate with another name than the one it gives
        self.assertTrue(self.refused(good, 'b3'))
        # the good one gets its HELLO answered
        s = self.link_client(good)
        s.sendall(self.hello('b1'))
        self.assertEqual(struct.unpack('>I', s.recv(8)[4:8])[0], 2)
        s.close()
        log = self.b2.logtext()[before:]
        self.assertRegex(log, r'(not signed by cluster_ca|TLS handshake)')
        self.assertIn('calls itself b3', log)

    def read_frame(self, s):
        data = b''
        while len(data) < 4 or len(data) < 4 + struct.unpack(
                '>I', data[:4])[0]:
            b = s.recv(4096)
            if not b:
                return None
            data += b
        return struct.unpack('>I', data[4:8])[0], data[8:]

    def test_link_requests_unknown_and_malformed(self):
        good = (os.path.join(self.certs, 'b1.crt'),
                os.path.join(self.certs, 'b1.key'))
        s = self.link_client(good)
        s.sendall(self.hello('b1'))
        self.assertEqual(self.read_frame(s)[0], 2)     # HELLO_OK
        # a request this server does not know: UNSUPPORTED, link usable
        for _ in range(2):
            s.sendall(self.frame(29, b''))
            typ, body = self.read_frame(s)
            self.assertEqual((typ, struct.unpack('>I', body[:4])[0]), (3, 3))
        # COMMIT for a user the target does not have: REFUSED
        name = b'alice\0'
        s.sendall(self.frame(13, struct.pack('>I', len(name)) + name))
        typ, body = self.read_frame(s)
        self.assertEqual((typ, struct.unpack('>I', body[:4])[0]), (3, 2))
        # DATA before any BEGIN, then an impossible length: dropped
        s.sendall(self.frame(11, struct.pack('>I', 1) + b'x'))
        self.assertIsNone(self.read_frame(s))
        s.close()
        s = self.link_client(good)
        s.sendall(self.hello('b1'))
        self.read_frame(s)
        s.sendall(struct.pack('>II', 0x7fffffff, 10))
        self.assertIsNone(self.read_frame(s))
        s.close()
        log = self.b2.logtext()
        self.assertIn('DATA out of place', log)
        self.assertIn('a frame longer than', log)

    def status_of(self, pid):
        with open('/proc/%d/status' % pid) as f:
            return dict(l.split(':', 1) for l in f.read().splitlines()
                        if ':' in l)

    @unittest.skipUnless(is_root(), 'uids, chroots and /proc/PID/mem: root')
    def test_link_process_is_confined(self):
        good = (os.path.join(self.certs, 'b1.crt'),
                os.path.join(self.certs, 'b1.key'))
        s = self.link_client(good)
        s.sendall(self.hello('b1'))
        s.recv(64)
        link = wait_for(lambda: [p for p in self.b2.children()
                                 if comm(p) == 'mk-link'], what='mk-link')[0]
        keys = [p for p in self.b2.children() if comm(p) == 'mk-cluster-keys']
        self.assertEqual(len(keys), 1)
        for pid, account in ((link, 'mailkeep-login'),
                             (keys[0], 'mailkeep-auth')):
            st = self.status_of(pid)
            uid = str(self.b2.uid_of(account))
            self.assertEqual(st['Uid'].split(), [uid] * 4)
            self.assertEqual(st['Seccomp'].strip(), '2')
            self.assertEqual(st['NoNewPrivs'].strip(), '1')
            self.assertEqual(os.readlink('/proc/%d/root' % pid),
                             self.b2.path('empty'))
        # the key is in the key holder's memory, not the link process's
        needles = key_needles(os.path.join(self.certs, 'b2.key'))
        self.assertEqual(scan(link, needles), [])
        self.assertNotEqual(scan(keys[0], needles), [])
        s.close()
        # a cluster key holder that dies is replaced; links work again
        os.kill(keys[0], signal.SIGKILL)
        wait_for(lambda: [p for p in self.b2.children()
                          if comm(p) == 'mk-cluster-keys' and
                          p != keys[0]], what='a new cluster key holder')
        s = self.link_client(good)
        s.sendall(self.hello('b1'))
        self.assertEqual(self.read_frame(s)[0], 2)
        s.close()


if __name__ == '__main__':
    unittest.main()
