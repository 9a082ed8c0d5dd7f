"""test_lmtp.py - LMTP delivery end to end (doc/lmtp.md).

Against the real mailkeepd: the LMTP unix socket and the loopback LMTP
port, several recipients in one transaction (an unknown one refused at
RCPT with 550 5.1.1, over-quota ones answered 452 4.2.2 / 552 5.2.3
after DATA, the others 250 and readable over IMAP with the exact
content: dot-unstuffed, bare LF stored as CRLF, Return-Path and
Delivered-To added), PIPELINING, bad commands, the size and recipient
limits, the timeout, an IDLE session told EXISTS, the LMTP process's
privileges and its sandbox (seccomp filter mode, no_new_privs, no
processes, RLIMIT_NOFILE from lmtp_max_recipients, seen in /proc while
it serves a full transaction), `mailkeepctl deliver` as an LMTP client
with its sysexits codes, and a message sent with Postfix's sendmail
through a private Postfix instance whose transport is our LMTP socket.
After every test the log must show no LMTP process killed (by its
sandbox's SIGSYS or any other signal) or failing.
"""
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from mkharness import HOST, Server, free_port, is_root, run_ctl
from mkimap import ImapCase, message

MAX_MESSAGE = 64 * 1024
# daemon/lmtp/lmtp.c: RLIMIT_NOFILE is lmtp_max_recipients + LMTP_FD_SLACK
LMTP_FD_SLACK = 12
KILLED_RE = re.compile(r'LMTP process \d+ (killed|exited with)')


def lmtp_pid(server, before, timeout=5):
    """The one mk-lmtp process among server's children not in before."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = []
        for p in server.children():
            if p in before:
                continue
            try:
                with open('/proc/%d/comm' % p) as f:
                    if f.read().strip() == 'mk-lmtp':
                        found.append(p)
            except OSError:
                pass
        if found:
            return found
        time.sleep(0.02)
    return []


def proc_limits(pid):
    """{limit name: (soft, hard)} from /proc/PID/limits."""
    out = {}
    with open('/proc/%d/limits' % pid) as f:
        for line in f.read().splitlines()[1:]:
            m = re.match(r'^(.*?)\s{2,}(\S+)\s+(\S+)', line)
            if m:
                out[m.group(1)] = (m.group(2), m.group(3))
    return out


def wait_gone(pid, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open('/proc/%d/stat' % pid) as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    time.sleep(0.05)
                    continue
        except OSError:
            return True
        time.sleep(0.05)
    return False


def no_lmtp_deaths(test, text):
    """Fails test if the log text shows an LMTP process killed (by its
    sandbox's SIGSYS, SIGXFSZ...) or exiting with an error status."""
    bad = [l for l in text.splitlines() if KILLED_RE.search(l)]
    test.assertEqual(bad, [], 'LMTP process died:\n' + text[-3000:])


class Lmtp:
    """A raw LMTP client: send() bytes, reply() one (multi-line) reply."""

    def __init__(self, path=None, port=None, timeout=10):
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection((HOST, port), timeout)
        self.buf = b''
        self.greeting = self.reply()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b'\n' not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError('connection closed; have %r' % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        return line.rstrip(b'\r').decode()

    def reply(self):
        """The last line of the next reply ("250 2.1.0 ..."), after
        checking that its lines are well formed."""
        lines = [self.line()]
        while lines[-1][3:4] == '-':
            lines.append(self.line())
        self.lines = lines
        return lines[-1]

    def cmd(self, text):
        self.send(text.encode() + b'\r\n')
        return self.reply()

    def closed(self):
        try:
            return self.sock.recv(1) == b''
        except OSError:
            return True


def stuffed(body):
    """Dot-stuffs CRLF text as an LMTP client must."""
    return re.sub(rb'(?m)^\.', b'..', body)


class LmtpCase(ImapCase):
    config = {
        'max_message': str(MAX_MESSAGE),
        'lmtp_domains': 'example.org, mk-test',
        'lmtp_max_recipients': '5',
    }

    @classmethod
    def setUpClass(cls):
        cls.lmtp_port = free_port()
        cls.config = dict(cls.config,
                          lmtp_listen='%s:%d' % (HOST, cls.lmtp_port))
        super().setUpClass()

    @property
    def sock_path(self):
        return os.path.join(self.server.data_dir, 'lmtp')

    def tearDown(self):
        # the master logs a child's death when it reaps it: let it
        time.sleep(0.2)
        no_lmtp_deaths(self, self.server.logtext()[self._log_from:])
        super().tearDown()

    def lmtp(self, tcp=False):
        c = Lmtp(port=self.lmtp_port) if tcp else Lmtp(path=self.sock_path)
        self.addCleanup(c.close)
        self.assertRegex(c.greeting, r'^220 mk-test ')
        return c

    def lhlo(self, c):
        self.assertEqual(c.cmd('LHLO client.example.org'), '250 SIZE %d'
                         % MAX_MESSAGE)
        return c.lines

    def bodies(self, user):
        c = self.connect(user)
        self.select(c)
        _, untagged = c.cmd_bytes('UID FETCH 1:* (BODY.PEEK[])')
        c.close()
        out = []
        for u in untagged:
            m = re.search(rb'BODY\[\] \{(\d+)\}\r\n', u)
            if m:
                out.append(u[m.end():m.end() + int(m.group(1))])
        return out

    def limited_user(self, storage_kib):
        user = self.new_user()
        self.server.ctl('quota', user[0], '--storage', str(storage_kib))
        return user

    # ---- the transaction ----

    def transaction(self, tcp):
        alice, bob = self.new_user(), self.new_user()
        tiny = self.limited_user(1)	# smaller than the message: 552
        full = self.limited_user(8)	# 6 KiB used already: 452
        self.ok(self.connect(full).append('INBOX', message(
            body='x' * 6000 + '\r\n')))
        body = (b'First line\r\n.leading dot\r\n.\r\n'
                b'..\r\nbare LF line\nlast\r\n')
        msg = message(subject='via LMTP', body='') + body
        msg = msg + b'p' * (2000 - len(msg)) + b'\r\n'
        c = self.lmtp(tcp)
        caps = self.lhlo(c)
        for ext in ('PIPELINING', 'ENHANCEDSTATUSCODES', '8BITMIME'):
            self.assertIn('250-' + ext, caps)
        self.assertEqual(c.cmd('MAIL FROM:<sender@example.net> SIZE=%d'
                               % len(msg)), '250 2.1.0 Sender OK')
        self.assertEqual(c.cmd('RCPT TO:<%s@example.org>' % alice[0]),
                         '250 2.1.5 Recipient OK')
        self.assertRegex(c.cmd('RCPT TO:<nosuchuser@example.org>'),
                         r'^550 5\.1\.1 ')
        # case-insensitive local part, the configured domains only
        self.assertEqual(c.cmd('RCPT TO:<%s@MK-Test>' % bob[0].upper()),
                         '250 2.1.5 Recipient OK')
        self.assertRegex(c.cmd('RCPT TO:<%s@elsewhere.test>' % bob[0]),
                         r'^550 5\.1\.2 ')
        self.assertEqual(c.cmd('RCPT TO:<%s@example.org>' % tiny[0]),
                         '250 2.1.5 Recipient OK')
        self.assertEqual(c.cmd('RCPT TO:<%s>' % full[0]),
                         '250 2.1.5 Recipient OK')
        self.assertRegex(c.cmd('DATA'), r'^354 ')
        c.send(stuffed(msg) + b'.\r\n')
        replies = [c.reply() for _ in range(4)]
        self.assertEqual(replies[0], '250 2.0.0 <%s@example.org> Delivered'
                         % alice[0])
        self.assertEqual(replies[1], '250 2.0.0 <%s@MK-Test> Delivered'
                         % bob[0].upper())
        self.assertRegex(replies[2], r'^552 5\.2\.3 <%s@example.org> '
                         % tiny[0])
        self.assertRegex(replies[3], r'^452 4\.2\.2 <%s> ' % full[0])
        self.assertEqual(c.cmd('QUIT'), '221 2.0.0 Bye')
        stored_as = msg.replace(b'bare LF line\nlast', b'bare LF line\r\nlast')
        for user, rcpt in ((alice, alice[0] + '@example.org'),
                           (bob, bob[0].upper() + '@MK-Test')):
            got = self.bodies(user)
            self.assertEqual(len(got), 1)
            head, rest = got[0].split(b'\r\nReceived: ', 1)
            self.assertEqual(head, b'Return-Path: <sender@example.net>\r\n'
                             b'Delivered-To: ' + rcpt.encode())
            self.assertRegex(rest, rb'^from client\.example\.org \((local|'
                             rb'127\.0\.0\.1)\)\r\n\tby mk-test \(Mailkeep\) '
                             rb'with LMTP;\r\n\t[^\r\n]+\r\n')
            self.assertTrue(rest.endswith(b'\r\n' + stored_as),
                            rest[-300:])
            self.assertIn(b'\r\n.leading dot\r\n.\r\n..\r\nbare LF line\r\n',
                          rest)
        self.assertEqual(self.bodies(tiny), [])
        self.assertEqual(len(self.bodies(full)), 1)

    def test_transaction_unix_socket(self):
        self.transaction(tcp=False)

    def test_transaction_tcp_port(self):
        self.transaction(tcp=True)

    def test_socket_mode(self):
        st = os.stat(self.sock_path)
        self.assertEqual(st.st_mode & 0o777, 0o666)

    # ---- protocol ----

    def test_pipelining(self):
        alice, bob = self.new_user(), self.new_user()
        c = self.lmtp()
        c.send(('LHLO pipe.example.org\r\nMAIL FROM:<>\r\n'
                'RCPT TO:<%s>\r\nRCPT TO:<nobody>\r\nRCPT TO:<%s>\r\n'
                'DATA\r\n' % (alice[0], bob[0])).encode())
        self.assertEqual(c.reply(), '250 SIZE %d' % MAX_MESSAGE)
        self.assertEqual([c.reply() for _ in range(5)][:4],
                         ['250 2.1.0 Sender OK', '250 2.1.5 Recipient OK',
                          '550 5.1.1 <nobody> User unknown',
                          '250 2.1.5 Recipient OK'])
        # a second transaction pipelined after the first one's data
        c.send(message(subject='one') + b'.\r\n' +
               ('MAIL FROM:<a@b>\r\nRCPT TO:<%s>\r\nDATA\r\n'
                % alice[0]).encode())
        self.assertEqual(c.reply(), '250 2.0.0 <%s> Delivered' % alice[0])
        self.assertEqual(c.reply(), '250 2.0.0 <%s> Delivered' % bob[0])
        self.assertEqual(c.reply(), '250 2.1.0 Sender OK')
        self.assertEqual(c.reply(), '250 2.1.5 Recipient OK')
        self.assertRegex(c.reply(), r'^354 ')
        c.send(message(subject='two') + b'.\r\nRSET\r\nNOOP\r\nQUIT\r\n')
        self.assertEqual([c.reply() for _ in range(4)],
                         ['250 2.0.0 <%s> Delivered' % alice[0],
                          '250 2.0.0 OK', '250 2.0.0 OK', '221 2.0.0 Bye'])
        self.assertEqual(len(self.bodies(alice)), 2)
        self.assertEqual(len(self.bodies(bob)), 1)

    def test_bad_commands(self):
        alice = self.new_user()
        c = self.lmtp()
        self.assertRegex(c.cmd('MAIL FROM:<a@b>'), r'^503 5\.5\.1 ')
        self.assertRegex(c.cmd('HELO x'), r'^500 5\.5\.1 ')
        self.assertRegex(c.cmd('EHLO x'), r'^500 5\.5\.1 ')
        self.assertRegex(c.cmd('LHLO'), r'^501 5\.5\.4 ')
        self.lhlo(c)
        self.assertRegex(c.cmd('RCPT TO:<%s>' % alice[0]), r'^503 5\.5\.1 ')
        self.assertRegex(c.cmd('DATA'), r'^503 5\.5\.1 ')
        self.assertRegex(c.cmd('MAIL FROM:a@b'), r'^501 5\.1\.7 ')
        self.assertRegex(c.cmd('MAIL FROM:<a@b> FOO=1'), r'^555 5\.5\.4 ')
        self.assertRegex(c.cmd('MAIL FROM:<a@b> SIZE=x'), r'^501 5\.5\.4 ')
        self.assertEqual(c.cmd('MAIL FROM:<a@b> BODY=8BITMIME'),
                         '250 2.1.0 Sender OK')
        self.assertRegex(c.cmd('MAIL FROM:<a@b>'), r'^503 5\.5\.1 ')
        self.assertRegex(c.cmd('DATA'), r'^503 5\.5\.1 No valid recipients')
        self.assertRegex(c.cmd('RCPT TO:<>'), r'^501 5\.1\.3 ')
        self.assertRegex(c.cmd('RCPT TO:<a b@c>'), r'^501 5\.1\.3 ')
        self.assertRegex(c.cmd('RCPT TO:<%s> NOTIFY=NEVER' % alice[0]),
                         r'^555 5\.5\.4 ')
        self.assertRegex(c.cmd('VRFY %s' % alice[0]), r'^252 2\.5\.2 ')
        self.assertRegex(c.cmd('EXPN staff'),
                         r'^502 5\.5\.1 EXPN is not offered')
        self.assertRegex(c.cmd('XYZZY'), r'^500 5\.5\.1 ')
        self.assertRegex(c.cmd('NOOP\x00x'), r'^500 5\.5\.2 ')
        self.assertRegex(c.cmd('NOOP ' + 'x' * 5000), r'^500 5\.5\.2 Line too long')
        # still usable after all that
        self.assertEqual(c.cmd('RSET'), '250 2.0.0 OK')
        self.assertEqual(c.cmd('MAIL FROM:<@relay.example:a@b>'),
                         '250 2.1.0 Sender OK')
        self.assertEqual(c.cmd('RCPT TO:<%s>' % alice[0]),
                         '250 2.1.5 Recipient OK')
        self.assertRegex(c.cmd('DATA'), r'^354 ')
        c.send(b'Subject: after errors\r\n\r\nok\r\n.\r\n')
        self.assertRegex(c.reply(), r'^250 2\.0\.0 ')
        self.assertEqual(self.bodies(alice)[0].split(b'\r\n', 1)[0],
                         b'Return-Path: <a@b>')

    def test_too_many_errors(self):
        c = self.lmtp()
        for _ in range(21):
            self.assertRegex(c.cmd('BOGUS'), r'^500 ')
        self.assertRegex(c.reply(), r'^421 4\.7\.0 ')
        self.assertTrue(c.closed())

    def test_size_limit(self):
        alice, bob = self.new_user(), self.new_user()
        c = self.lmtp()
        self.lhlo(c)
        self.assertRegex(c.cmd('MAIL FROM:<a@b> SIZE=%d' % (MAX_MESSAGE + 1)),
                         r'^552 5\.3\.4 ')
        # SIZE= understated: the DATA itself is measured
        self.assertEqual(c.cmd('MAIL FROM:<a@b> SIZE=100'),
                         '250 2.1.0 Sender OK')
        c.cmd('RCPT TO:<%s>' % alice[0])
        c.cmd('RCPT TO:<%s>' % bob[0])
        self.assertRegex(c.cmd('DATA'), r'^354 ')
        line = b'y' * 998 + b'\r\n'
        c.send(b'Subject: big\r\n\r\n' + line * (MAX_MESSAGE // 1000 + 1) +
               b'.\r\n')
        self.assertRegex(c.reply(), r'^552 5\.3\.4 ')
        self.assertRegex(c.reply(), r'^552 5\.3\.4 ')
        self.assertEqual(c.cmd('NOOP'), '250 2.0.0 OK')
        self.assertEqual(self.bodies(alice), [])
        # a line longer than the input buffer is stored whole
        c.cmd('MAIL FROM:<a@b>')
        c.cmd('RCPT TO:<%s>' % alice[0])
        self.assertRegex(c.cmd('DATA'), r'^354 ')
        long_line = b'.' + b'z' * 60000 + b'\r\n'
        c.send(b'Subject: long\r\n\r\n' + long_line + b'.\r\n')
        self.assertRegex(c.reply(), r'^250 2\.0\.0 ')
        self.assertTrue(self.bodies(alice)[0].endswith(
            b'\r\n\r\n' + b'z' * 60000 + b'\r\n'))

    def test_recipient_limit(self):
        users = [self.new_user() for _ in range(6)]
        c = self.lmtp()
        self.lhlo(c)
        c.cmd('MAIL FROM:<a@b>')
        for u in users[:5]:
            self.assertEqual(c.cmd('RCPT TO:<%s>' % u[0]),
                             '250 2.1.5 Recipient OK')
        self.assertRegex(c.cmd('RCPT TO:<%s>' % users[5][0]),
                         r'^452 4\.5\.3 ')
        self.assertRegex(c.cmd('DATA'), r'^354 ')
        c.send(b'Subject: five\r\n\r\nx\r\n.\r\n')
        self.assertEqual([c.reply()[:3] for _ in range(5)], ['250'] * 5)
        self.assertEqual(self.bodies(users[5]), [])

    def test_idle_sees_exists(self):
        alice = self.new_user()
        m = self.connect(alice)
        self.select(m)
        tag = m.next_tag()
        m.send(('%s IDLE\r\n' % tag).encode())
        self.assertTrue(m.readline().startswith('+'))
        t0 = time.time()
        c = self.lmtp()
        self.lhlo(c)
        c.cmd('MAIL FROM:<a@b>')
        c.cmd('RCPT TO:<%s>' % alice[0])
        c.cmd('DATA')
        c.send(message(subject='idle') + b'.\r\n')
        self.assertRegex(c.reply(), r'^250 2\.0\.0 ')
        self.assertEqual(m.readline(timeout=3), '* 1 EXISTS')
        self.assertLess(time.time() - t0, 2)
        m.send(b'DONE\r\n')
        while not m.readline().startswith(tag):
            pass

    def test_lmtp_process_privileges(self):
        """The process that reads the MTA's bytes is the login account,
        chrooted into the empty login_chroot, with no file open."""
        before = set(self.server.children())
        c = self.lmtp()
        self.lhlo(c)
        new = []
        for _ in range(50):
            new = [p for p in self.server.children() if p not in before]
            if new:
                break
            time.sleep(0.05)
        lmtp = []
        for p in new:
            with open('/proc/%d/comm' % p) as f:
                if f.read().strip() == 'mk-lmtp':
                    lmtp.append(p)
        self.assertEqual(len(lmtp), 1, new)
        pid = lmtp[0]
        # 0-2 are the daemon's stdio (the log file under -f)
        fds = [os.readlink('/proc/%d/fd/%s' % (pid, fd))
               for fd in os.listdir('/proc/%d/fd' % pid) if int(fd) > 2]
        self.assertFalse([f for f in fds if f.startswith('/')
                          and f != '/dev/null'], fds)
        if is_root():
            with open('/proc/%d/status' % pid) as f:
                uids = [l.split()[1:] for l in f if l.startswith('Uid:')][0]
            login = pwd.getpwnam('mailkeep-login').pw_uid
            self.assertEqual(set(int(u) for u in uids), {login})
            self.assertEqual(os.readlink('/proc/%d/root' % pid),
                             self.server.path('empty'))

    def test_lmtp_process_sandbox(self):
        """Under common/sandbox.c's LMTP role: seccomp filter, no new
        privileges, no processes, descriptors for lmtp_max_recipients
        channels and a few more; and so confined it serves a full
        transaction (several recipients, an unknown one, over quota, a
        message near max_message and one over it, RSET, BDAT refused),
        then ends by itself, not by a signal."""
        users = [self.new_user() for _ in range(3)]
        tiny = self.limited_user(1)
        before = set(self.server.children())
        c = self.lmtp()
        pids = lmtp_pid(self.server, before)
        self.assertEqual(len(pids), 1, pids)
        pid = pids[0]
        with open('/proc/%d/status' % pid) as f:
            st = f.read()
        self.assertIn('\nSeccomp:\t2\n', st)
        self.assertIn('\nNoNewPrivs:\t1\n', st)
        lim = proc_limits(pid)
        self.assertEqual(lim['Max processes'], ('0', '0'))
        self.assertEqual(lim['Max core file size'], ('0', '0'))
        nofile = str(int(self.config['lmtp_max_recipients']) + LMTP_FD_SLACK)
        self.assertEqual(lim['Max open files'], (nofile, nofile))
        # the whole protocol, inside the filter
        self.lhlo(c)
        self.assertRegex(c.cmd('BDAT 10 LAST'),
                         r'^502 5\.5\.1 BDAT is not offered')
        self.assertEqual(c.cmd('MAIL FROM:<a@b>'), '250 2.1.0 Sender OK')
        self.assertEqual(c.cmd('RCPT TO:<%s>' % users[0][0]),
                         '250 2.1.5 Recipient OK')
        self.assertEqual(c.cmd('RSET'), '250 2.0.0 OK')
        self.assertEqual(c.cmd('MAIL FROM:<a@b>'), '250 2.1.0 Sender OK')
        for u in users + [tiny]:
            self.assertEqual(c.cmd('RCPT TO:<%s@example.org>' % u[0]),
                             '250 2.1.5 Recipient OK')
        self.assertRegex(c.cmd('RCPT TO:<nosuchuser>'), r'^550 5\.1\.1 ')
        self.assertRegex(c.cmd('RCPT TO:<x@elsewhere.test>'), r'^550 5\.1\.2 ')
        self.assertRegex(c.cmd('DATA'), r'^354 ')
        line = b'n' * 998 + b'\r\n'
        big = b'Subject: near the limit\r\n\r\n' + line * (MAX_MESSAGE // 1000 - 2)
        c.send(big + b'.\r\n')
        replies = [c.reply() for _ in range(4)]
        self.assertEqual([r[:3] for r in replies], ['250'] * 3 + ['552'],
                         replies)
        self.assertEqual(c.cmd('MAIL FROM:<a@b>'), '250 2.1.0 Sender OK')
        self.assertEqual(c.cmd('RCPT TO:<%s>' % users[0][0]),
                         '250 2.1.5 Recipient OK')
        self.assertRegex(c.cmd('DATA'), r'^354 ')
        c.send(b'Subject: over\r\n\r\n' + line * (MAX_MESSAGE // 1000 + 1)
               + b'.\r\n')
        self.assertRegex(c.reply(), r'^552 5\.3\.4 ')
        self.assertEqual(c.cmd('QUIT'), '221 2.0.0 Bye')
        self.assertTrue(wait_gone(pid))
        for u in users:
            got = self.bodies(u)
            self.assertEqual(len(got), 1)
            self.assertTrue(got[0].endswith(big), got[0][-100:])
        # the client vanishing in the middle of DATA, channels held
        before = set(self.server.children())
        c = self.lmtp()
        pid = lmtp_pid(self.server, before)[0]
        self.lhlo(c)
        c.cmd('MAIL FROM:<a@b>')
        c.cmd('RCPT TO:<%s>' % users[1][0])
        self.assertRegex(c.cmd('DATA'), r'^354 ')
        c.send(b'Subject: cut\r\n\r\n' + line * 10)
        c.close()
        self.assertTrue(wait_gone(pid))
        self.assertEqual(len(self.bodies(users[1])), 1)

    # ---- mailkeepctl deliver ----

    def deliver(self, user, data, conf=None, sender=None):
        args = ['deliver', user] + (['--from', sender] if sender else [])
        if conf is None:
            return self.server.ctl(*args, stdin=data, check=False)
        return run_ctl(conf, *args, stdin=data, check=False)

    def test_ctl_deliver(self):
        alice = self.new_user()
        p = self.deliver(alice[0], 'Subject: ctl\n\n.dot\nend\n',
                         sender='s@example.net')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, 'delivered to %s/INBOX\n' % alice[0])
        got = self.bodies(alice)[0]
        self.assertTrue(got.startswith(b'Return-Path: <s@example.net>\r\n'
                                       b'Delivered-To: ' + alice[0].encode()))
        self.assertTrue(got.endswith(b'\r\nSubject: ctl\r\n\r\n.dot\r\nend\r\n'))
        self.assertEqual(self.deliver('nosuchuser', 'x\n').returncode, 67)
        self.assertEqual(self.deliver(alice[0], '').returncode, 65)
        self.assertEqual(self.deliver(alice[0], 'x' * (MAX_MESSAGE + 10))
                         .returncode, 65)
        tiny = self.limited_user(1)
        self.assertEqual(self.deliver(tiny[0], 'y' * 3000).returncode, 73)
        full = self.limited_user(4)
        self.assertEqual(self.deliver(full[0], 'z' * 3000).returncode, 0)
        p = self.deliver(full[0], 'z' * 3000)
        self.assertEqual(p.returncode, 75)
        self.assertIn('452 4.2.2', p.stderr)
        # no server at the socket: try again later; none configured: 78
        conf = os.path.join(self.server.tmp, 'other.conf')
        with open(self.server.conf) as f:
            text = f.read()
        with open(conf, 'w') as f:
            f.write(text + 'lmtp_socket = %s/absent\n' % self.server.tmp)
        self.assertEqual(self.deliver(alice[0], 'x\n', conf).returncode, 75)
        with open(conf, 'w') as f:
            f.write(text + 'lmtp_socket = none\n')
        self.assertEqual(self.deliver(alice[0], 'x\n', conf).returncode, 78)
        self.assertEqual(len(self.bodies(alice)), 1)


class LmtpTimeout(unittest.TestCase):
    def test_idle_client_is_dropped(self):
        with Server(config={'lmtp_timeout': '10'}) as s:
            c = Lmtp(path=os.path.join(s.data_dir, 'lmtp'), timeout=20)
            t0 = time.time()
            self.assertRegex(c.reply(), r'^421 4\.4\.2 ')
            self.assertGreaterEqual(time.time() - t0, 9)
            self.assertTrue(c.closed())
            c.close()


POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mk-test
mydomain = example.org
myorigin = example.org
mydestination = example.org
inet_interfaces = loopback-only
inet_protocols = ipv4
local_transport = lmtp:unix:{sock}
local_recipient_maps =
alias_maps =
alias_database =
relayhost =
maillog_file = {dir}/postfix.log
maillog_file_prefixes = {dir}
"""

# Only what a local submission needs: no smtp listener at all.
POSTFIX_MASTER = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixToLmtp(ImapCase):
    """A private Postfix instance delivers to our LMTP socket."""

    def setUp(self):
        super().setUp()
        if not is_root():
            self.skipTest('Postfix test needs root (postfix start)')
        if shutil.which('postfix') is None or not os.path.exists(
                '/usr/sbin/sendmail'):
            self.skipTest('postfix is not installed')
        try:
            pwd.getpwnam('postfix')
        except KeyError:
            self.skipTest('no postfix account')

    def test_sendmail_through_postfix(self):
        alice = self.new_user()
        pdir = tempfile.mkdtemp(prefix='mk-postfix-')
        self.addCleanup(shutil.rmtree, pdir, True)
        os.chmod(pdir, 0o755)
        sock = os.path.join(self.server.data_dir, 'lmtp')
        with open(os.path.join(pdir, 'main.cf'), 'w') as f:
            f.write(POSTFIX_MAIN.format(dir=pdir, sock=sock))
        with open(os.path.join(pdir, 'master.cf'), 'w') as f:
            f.write(POSTFIX_MASTER)
        env = dict(os.environ, MAIL_CONFIG=pdir)
        # postfix-script makes the queue's subdirectories; these two it
        # expects to exist (queue owned by root, data by mail_owner)
        os.mkdir(os.path.join(pdir, 'queue'), 0o755)
        os.mkdir(os.path.join(pdir, 'data'), 0o700)
        os.chown(os.path.join(pdir, 'data'), pwd.getpwnam('postfix').pw_uid, -1)

        def postfix(*args):
            return subprocess.run(['postfix', '-c', pdir] + list(args),
                                  env=env, capture_output=True, text=True,
                                  timeout=60)
        p = postfix('start')
        if p.returncode != 0:
            # postfix writes its errors to the terminal or the log only
            with open(os.path.join(pdir, 'postfix.log')) as f:
                self.fail('postfix start failed:\n' + f.read())
        self.addCleanup(postfix, 'stop')
        body = 'Sent through Postfix.\n.\n..two dots\n'
        msg = ('From: root@example.org\nTo: %s@example.org\n'
               'Subject: through postfix\n\n' % alice[0]) + body
        p = subprocess.run(['/usr/sbin/sendmail', '-C', pdir, '-i', '-f',
                            'root@example.org', '%s@example.org' % alice[0]],
                           input=msg, env=env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = []
        deadline = time.time() + 60
        while time.time() < deadline and not got:
            postfix('flush')
            time.sleep(0.5)
            got = self.bodies(alice)
        log = ''
        if os.path.exists(os.path.join(pdir, 'postfix.log')):
            with open(os.path.join(pdir, 'postfix.log')) as f:
                log = f.read()
        self.assertEqual(len(got), 1, 'not delivered; postfix log:\n' + log)
        self.assertTrue(got[0].startswith(
            b'Return-Path: <root@example.org>\r\nDelivered-To: %s@example.org'
            b'\r\n' % alice[0].encode()), got[0][:200])
        self.assertIn(b'\r\nSubject: through postfix\r\n', got[0])
        self.assertTrue(got[0].endswith(
            b'\r\n\r\nSent through Postfix.\r\n.\r\n..two dots\r\n'),
            got[0][-200:])
        self.assertRegex(log, r'status=sent')
        time.sleep(0.2)
        no_lmtp_deaths(self, self.server.logtext()[self._log_from:])

    bodies = LmtpCase.bodies


if __name__ == '__main__':
    unittest.main()
