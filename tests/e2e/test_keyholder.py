"""test_keyholder.py - the TLS private key lives in the key holder alone,
and the network-facing processes are confined, against the real daemon.

KeyOutOfReach (ECDSA and RSA keys): the memory of a login process after
a STARTTLS handshake, of TLS relays after STARTTLS and after implicit
TLS (IMAPS), of a plain login process, of the hash workers, the mailbox
process and the master holds no byte string of the private key: not
its PEM text, not its DER, not the private scalar / exponent / primes
in big-endian (as the file has them) nor little-endian (as GMP limbs
hold them in memory).  The key holder's memory does (the search works).
Read through /proc/PID/mem: needs root.

Confinement: login processes, relays, hash workers, the key holder and
LMTP processes show Seccomp: 2 and NoNewPrivs: 1 in /proc/PID/status,
are not dumpable (their /proc files belong to root), and have the
limits of common/sandbox.c in /proc/PID/limits (no processes, no file
size, few descriptors; an LMTP process may write max_message plus its
Received: line, into its message memfd, and has descriptors for
lmtp_max_recipients channels plus a few).  The server's log is a pipe
here, as under syslog, so RLIMIT_FSIZE applies (with the log a regular
file it cannot).  A confined LMTP process still delivers.

Lifecycle: the key holder runs as hash_user in the empty chroot; killed,
it is restarted and STARTTLS works again; SIGHUP replaces it and the
old one ends.

Certificates are made with certtool (gnutls-bin), as test_tls.py does.
Python 3 standard library only."""
import base64
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import (Client, Server, alive, daemon_path, is_root,  # noqa: E402
                       proc_uid, settled_status)
from test_lmtp import Lmtp, lmtp_pid, no_lmtp_deaths, wait_gone  # noqa: E402
from test_tls import TLSClient, context  # noqa: E402

USERS = {'alice': 'alice pw'}
HAVE_CERTTOOL = shutil.which('certtool') is not None


def make_cert(d, name, keytype):
    """A self-signed certificate for localhost: (cert path, key path)."""
    key = os.path.join(d, name + '.key')
    crt = os.path.join(d, name + '.crt')
    tmpl = os.path.join(d, name + '.tmpl')
    with open(tmpl, 'w') as f:
        f.write('cn = "localhost"\ndns_name = "localhost"\n'
                'ip_address = "127.0.0.1"\nexpiration_days = 30\n'
                'tls_www_server\nsigning_key\nencryption_key\n')
    args = (['--key-type=ecdsa', '--curve=secp256r1'] if keytype == 'ecdsa'
            else ['--key-type=rsa', '--bits=2048'])
    subprocess.run(['certtool', '--generate-privkey'] + args +
                   ['--outfile', key], check=True, capture_output=True)
    subprocess.run(['certtool', '--generate-self-signed', '--load-privkey',
                    key, '--template', tmpl, '--outfile', crt],
                   check=True, capture_output=True)
    return crt, key


SECRET_LABELS = ('private key', 'private exponent', 'prime1', 'prime2',
                 'coefficient', 'exp1', 'exp2')


def key_needles(key_path):
    """{name: bytes} of the private key's material as it can sit in a
    process's memory: PEM text, DER, and each secret number big- and
    little-endian (GMP keeps limbs least significant first)."""
    with open(key_path, 'rb') as f:
        text = f.read()
    # certtool writes a textual description before the PEM block
    m = re.search(rb'-----BEGIN [A-Z ]+-----\n(.*?)-----END', text, re.S)
    lines = m.group(1).split()
    needles = {'PEM line': lines[0], 'DER': base64.b64decode(b''.join(lines))}
    info = subprocess.run(['certtool', '--key-info', '--infile', key_path],
                          check=True, capture_output=True, text=True).stdout
    label, hexes = None, {}
    for line in info.splitlines():
        m = re.match(r'^([a-z][a-z0-9 ]*):\s*$', line)
        if m:
            label = m.group(1) if m.group(1) in SECRET_LABELS else None
            if label:
                hexes[label] = ''
            continue
        if label and re.match(r'^\s+[0-9a-f]{2}(:[0-9a-f]{2})*:?\s*$', line):
            hexes[label] += line.strip().replace(':', '')
        elif label and line.strip() == '':
            label = None
    for name, h in hexes.items():
        v = bytes.fromhex(h).lstrip(b'\0')
        if len(v) < 16:
            continue
        needles[name + ' (big-endian)'] = v
        needles[name + ' (little-endian)'] = v[::-1]
    if not any(k.startswith(('private key', 'private exponent'))
               for k in needles):
        raise AssertionError('no secret number found in:\n' + info)
    return needles


# Larger mappings are address-space reservations, not data: ASan's
# shadow memory (terabytes, never touched where nothing lives).
REGION_MAX = 1 << 30
CHUNK = 1 << 20


def scan(pid, needles):
    """Names of the needles found in pid's readable memory."""
    found = set()
    overlap = max(len(n) for n in needles.values())
    with open('/proc/%d/maps' % pid) as f:
        maps = f.read().splitlines()
    with open('/proc/%d/mem' % pid, 'rb', buffering=0) as mem:
        for line in maps:
            fields = line.split()
            if 'r' not in fields[1] or line.endswith(('[vvar]',
                                                      '[vsyscall]')):
                continue
            start, end = (int(x, 16) for x in fields[0].split('-'))
            if end - start > REGION_MAX:
                continue
            tail = b''
            for at in range(start, end, CHUNK):
                try:
                    mem.seek(at)
                    data = tail + mem.read(min(CHUNK, end - at))
                except (OSError, ValueError, OverflowError):
                    break
                for name, n in needles.items():
                    if name not in found and n in data:
                        found.add(name)
                tail = data[-overlap:]
    return sorted(found)


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return None


class PipeLogServer(Server):
    """The harness's server with its log behind a pipe (copied to the
    usual file), as a daemon logging to syslog has it."""

    def start(self, timeout=15):
        self.log = open(self.logpath, 'ab')
        self.proc = subprocess.Popen([daemon_path(), '-f', '-c', self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        out = open(self.logpath, 'ab', buffering=0)
        pipe = self.proc.stdout

        def copy():
            with out:
                for chunk in iter(lambda: pipe.read1(65536), b''):
                    out.write(chunk)
        threading.Thread(target=copy, daemon=True).start()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('mailkeepd exited with %d:\n%s' %
                                   (self.proc.returncode, self.logtext()))
            try:
                c = Client(self.port, timeout=5)
                c.connect()
                c.close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('mailkeepd did not greet:\n' + self.logtext())

    def stop(self, timeout=15):
        pipe = self.proc.stdout if self.proc is not None else None
        try:
            super().stop(timeout)
        finally:
            if pipe is not None:
                pipe.close()


class KeyCase(unittest.TestCase):
    keytype = 'ecdsa'
    extra_conf = ''

    @classmethod
    def setUpClass(cls):
        if not HAVE_CERTTOOL:
            raise unittest.SkipTest('certtool (gnutls-bin) is not installed')
        from mkharness import free_port
        cls.tls_port = free_port()
        cls.server = PipeLogServer(users=USERS, start=False)
        cls.cert, cls.key = make_cert(cls.server.tmp, 'server', cls.keytype)
        with open(cls.server.conf, 'a') as f:
            f.write('listen_tls = 127.0.0.1:%d\ntls_cert = %s\n'
                    'tls_key = %s\n' % (cls.tls_port, cls.cert, cls.key))
            f.write(cls.extra_conf)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.server.cleanup()

    def tearDown(self):
        self.server.check_log()

    def by_comm(self, name, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pids = [p for p in self.server.children() if comm(p) == name]
            if pids:
                return pids
            time.sleep(0.05)
        self.fail('no %s process among %s' % (name, self.server.children()))

    def keyholder(self):
        pids = self.by_comm('mk-keyholder')
        self.assertEqual(len(pids), 1, pids)
        return pids[0]

    def new_login(self, before, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            new = [p for p in self.server.children()
                   if p not in before and comm(p) == 'mk-login']
            if new:
                return new[0]
            time.sleep(0.02)
        self.fail('no new login process')

    def relays(self):
        """The pool relays: the processes that hold TLS connections."""
        return self.by_comm('mk-relay')

    def starttls(self, login):
        """A STARTTLS connection and, before the login, its login
        process; after it, None (the login process is gone: the relays
        hold the connection)."""
        before = set(self.server.children())
        c = TLSClient(self.server.port, context(self.cert))
        self.addCleanup(c.close)
        c.connect()
        pid = self.new_login(before)
        c.starttls()
        self.assertRegex(c.cmd('CAPABILITY')[0], r' OK ')
        if login:
            self.assertRegex(c.login('alice', USERS['alice'])[0], r' OK ')
            self.assertRegex(c.cmd('SELECT INBOX')[0], r' OK ')
            pid = None
        return c, pid

    def implicit(self):
        c = TLSClient(self.tls_port, context(self.cert))
        self.addCleanup(c.close)
        c.connect_tls()
        self.assertRegex(c.login('alice', USERS['alice'])[0], r' OK ')
        self.assertRegex(c.cmd('SELECT INBOX')[0], r' OK ')
        return c, None


@unittest.skipUnless(is_root(), 'needs root: reads other processes\' memory '
                     'through /proc/PID/mem')
class KeyOutOfReach(KeyCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.needles = key_needles(cls.key)

    def assertNoKey(self, pid, what):
        self.assertTrue(alive(pid), what)
        found = scan(pid, self.needles)
        self.assertEqual(found, [], '%s %d holds key material: %s' %
                         (what, pid, found))

    def test_keyholder_holds_the_key(self):
        """The positive control: the search finds the key where it is."""
        c, _ = self.starttls(login=False)
        found = scan(self.keyholder(), self.needles)
        print('key holder:', found, file=sys.stderr)
        # GnuTLS keeps the numbers (as GMP limbs), not the file's text
        self.assertTrue([n for n in found if n.endswith('(little-endian)')],
                        found)

    def test_login_process_after_starttls(self):
        c, pid = self.starttls(login=False)
        self.assertNoKey(pid, 'login process after STARTTLS')

    def test_relay_after_starttls(self):
        c, _ = self.starttls(login=True)
        for pid in self.relays():
            self.assertNoKey(pid, 'relay (STARTTLS)')
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')

    def test_relay_after_imaps(self):
        c, _ = self.implicit()
        for pid in self.relays():
            self.assertNoKey(pid, 'relay (implicit TLS)')
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')

    def test_plain_login_process(self):
        before = set(self.server.children())
        c = self.server.client()
        self.addCleanup(c.close)
        self.assertNoKey(self.new_login(before), 'login process (plain)')

    def test_master_hash_workers_and_mailbox(self):
        c, _ = self.implicit()
        self.assertNoKey(self.server.pid, 'master')
        # The spawner forks the key holder but never opens the key.
        spawner = self.by_comm('mk-spawner')
        self.assertEqual(len(spawner), 1)
        self.assertNoKey(spawner[0], 'spawner')
        for pid in self.by_comm('mk-hash'):
            self.assertNoKey(pid, 'hash worker')
        mbox = [p for p in self.server.children()
                if (comm(p) or '').startswith('mk-mailbox')]
        self.assertTrue(mbox)
        for pid in mbox:
            self.assertNoKey(pid, 'mailbox process')


class KeyOutOfReachRSA(KeyOutOfReach):
    keytype = 'rsa'


# daemon/lmtp/lmtp.c: RLIMIT_NOFILE lmtp_max_recipients + LMTP_FD_SLACK,
# RLIMIT_FSIZE max_message + RECEIVED_MAX
LMTP_MAX_RECIPIENTS = 7
LMTP_MAX_MESSAGE = 100000
LMTP_FD_SLACK = 12
RECEIVED_MAX = 512


class Confinement(KeyCase):
    extra_conf = ('lmtp_max_recipients = %d\nmax_message = %d\n'
                  % (LMTP_MAX_RECIPIENTS, LMTP_MAX_MESSAGE))

    def status(self, pid):
        with open('/proc/%d/status' % pid) as f:
            return f.read()

    def limits(self, pid):
        with open('/proc/%d/limits' % pid) as f:
            out = {}
            for line in f.read().splitlines()[1:]:
                m = re.match(r'^(.*?)\s{2,}(\S+)\s+(\S+)', line)
                if m:
                    out[m.group(1)] = (m.group(2), m.group(3))
            return out

    def assertConfined(self, pid, what, nofile_max, fsize=0):
        st = settled_status(pid)
        self.assertIn('\nSeccomp:\t2\n', st, what)
        self.assertIn('\nNoNewPrivs:\t1\n', st, what)
        lim = self.limits(pid)
        self.assertEqual(lim['Max processes'], ('0', '0'), what)
        self.assertEqual(lim['Max file size'], (str(fsize), str(fsize)), what)
        self.assertEqual(lim['Max core file size'], ('0', '0'), what)
        self.assertLessEqual(int(lim['Max open files'][1]), nofile_max, what)
        if is_root():
            # not dumpable: its /proc files are root's, not its own uid's
            self.assertNotEqual(proc_uid(pid)[0], 0, what)
            self.assertEqual(os.stat('/proc/%d/mem' % pid).st_uid, 0, what)

    def test_login_process_and_relay(self):
        before = set(self.server.children())
        c = self.server.client()
        self.addCleanup(c.close)
        self.assertConfined(self.new_login(before), 'login process', 16)
        c, _ = self.starttls(login=True)
        for relay in self.relays():
            # two per connection of tls_relay_max_conns (10000), and its
            # channels, epoll, signalfd, the log
            self.assertConfined(relay, 'relay', 2 * 10000 + 16)
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')

    def test_hash_workers(self):
        pids = self.by_comm('mk-hash')
        self.assertTrue(pids)
        for pid in pids:
            self.assertConfined(pid, 'hash worker', 8)
        # and they still work
        c = self.server.client(login=('alice', USERS['alice']))
        c.close()

    def test_keyholder(self):
        self.assertConfined(self.keyholder(), 'key holder', 1 << 20)

    def test_lmtp_process(self):
        log_from = len(self.server.logtext())
        bob = 'lmtpbob'
        self.server.ctl('useradd', bob, '--password-stdin', stdin='bob pw\n')
        before = set(self.server.children())
        c = Lmtp(path=os.path.join(self.server.data_dir, 'lmtp'))
        self.addCleanup(c.close)
        pids = lmtp_pid(self.server, before)
        self.assertEqual(len(pids), 1, pids)
        nofile = LMTP_MAX_RECIPIENTS + LMTP_FD_SLACK
        self.assertConfined(pids[0], 'LMTP process', nofile,
                            fsize=LMTP_MAX_MESSAGE + RECEIVED_MAX)
        self.assertEqual(self.limits(pids[0])['Max open files'],
                         (str(nofile), str(nofile)))
        # and it delivers: the memfd fits under its RLIMIT_FSIZE
        self.assertRegex(c.cmd('LHLO k.example'), r'^250 ')
        self.assertEqual(c.cmd('MAIL FROM:<a@b>'), '250 2.1.0 Sender OK')
        for rcpt in ('alice', bob):
            self.assertEqual(c.cmd('RCPT TO:<%s>' % rcpt),
                             '250 2.1.5 Recipient OK')
        self.assertRegex(c.cmd('RCPT TO:<nobody>'), r'^550 5\.1\.1 ')
        self.assertRegex(c.cmd('DATA'), r'^354 ')
        line = b'k' * 998 + b'\r\n'
        c.send(b'Subject: k\r\n\r\n' + line * (LMTP_MAX_MESSAGE // 1000 - 1)
               + b'.\r\n')
        self.assertRegex(c.reply(), r'^250 2\.0\.0 <alice> ')
        self.assertRegex(c.reply(), r'^250 2\.0\.0 <%s> ' % bob)
        self.assertEqual(c.cmd('QUIT'), '221 2.0.0 Bye')
        self.assertTrue(wait_gone(pids[0]))
        time.sleep(0.2)
        no_lmtp_deaths(self, self.server.logtext()[log_from:])

    @unittest.skipUnless(is_root(), 'needs root: uids and chroot')
    def test_keyholder_account_and_chroot(self):
        pid = self.keyholder()
        with open(self.server.conf) as f:
            conf = f.read()
        m = re.search(r'^hash_user\s*=\s*(\S+)', conf, re.M)
        uid = self.server.uid_of(m.group(1) if m else 'mailkeep-auth')
        self.assertEqual(proc_uid(pid), [uid] * 4)
        self.assertEqual(os.readlink('/proc/%d/root' % pid),
                         self.server.path('empty'))
        fds = [os.readlink('/proc/%d/fd/%s' % (pid, fd))
               for fd in os.listdir('/proc/%d/fd' % pid)]
        self.assertFalse([f for f in fds if f.endswith(('.key', '.crt'))],
                         fds)


class Lifecycle(KeyCase):

    def hup_and_wait(self, what):
        n = self.server.logtext().count(what)
        os.kill(self.server.pid, signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.server.logtext().count(what) > n:
                return
            time.sleep(0.05)
        self.fail('no %r after SIGHUP:\n%s' % (what, self.server.logtext()))

    def test_killed_keyholder_is_restarted(self):
        old = self.keyholder()
        os.kill(old, signal.SIGKILL)
        deadline = time.time() + 10
        new = None
        while time.time() < deadline:
            pids = [p for p in self.server.children()
                    if comm(p) == 'mk-keyholder' and p != old]
            if pids:
                new = pids[0]
                break
            time.sleep(0.05)
        self.assertIsNotNone(new, self.server.logtext())
        self.assertIn('TLS key holder %d ended' % old, self.server.logtext())
        c, _ = self.starttls(login=True)
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')

    def test_sighup_replaces_keyholder(self):
        old = self.keyholder()
        # a relayed session from before the reload goes on
        c, _ = self.implicit()
        self.hup_and_wait('TLS certificate %s loaded' % self.cert)
        deadline = time.time() + 10
        while time.time() < deadline and alive(old):
            time.sleep(0.05)
        self.assertFalse(alive(old), 'the retired key holder is still there')
        self.assertNotEqual(self.keyholder(), old)
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')
        c2, _ = self.starttls(login=True)
        self.assertRegex(c2.cmd('NOOP')[0], r' OK ')


if __name__ == '__main__':
    unittest.main(verbosity=2)
