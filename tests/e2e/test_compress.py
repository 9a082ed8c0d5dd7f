"""test_compress.py - COMPRESS=DEFLATE (RFC 4978) against the real daemon,
with Python's zlib (raw deflate, wbits=-15) as the client's compressor,
over plain TCP and over TLS (STARTTLS and implicit; the mailbox process
compresses, the relay encrypts what it compressed).

Advertised after login only; COMPRESS before login, an unknown
mechanism, a second COMPRESS (NO [COMPRESSIONACTIVE]) and COMPRESS with
commands pipelined behind it are refused and the connection goes on;
after "OK" everything is compressed both ways, from the byte after the
OK's CRLF: several commands, a multi-MB APPEND literal and FETCH byte
for byte, IDLE woken by another session again and again; every burst of
responses is flushed (the client decodes each tagged answer without the
server sending more); sessions of one user (one process) each have their
own compressor; a shared folder's data, which comes from its owner's
process, goes out through the grantee's compressed stream (FETCH, IDLE);
a decompression bomb (megabytes that inflate to
gigabytes) ends with a BYE that says why and the mailbox process's
memory does not grow; corrupt data ends the session with a BYE, and the
user's other sessions go on; PROXYAUTH after COMPRESS is refused.

Python 3 standard library only."""
import os
import select
import sys
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Closed, Server, quote  # noqa: E402
from mkimap import ImapCase  # noqa: E402
from test_memory import mbox_pid, proc_mem, sanitized  # noqa: E402
from test_tls import (HAVE_CERTTOOL, TLSCase, caps_of,  # noqa: E402
                      message)

OK_RE = r'^a\d+ OK '


def compress(c, level=6):
    """Sends COMPRESS DEFLATE on client c and, on OK, turns its send and
    receive paths into raw deflate streams; returns the tagged answer.
    c.wire_in / c.wire_out count the compressed bytes."""
    tagged, _ = c.cmd('COMPRESS DEFLATE')
    if ' OK ' not in tagged:
        return tagged
    if c.buf:
        raise AssertionError('plain bytes after the COMPRESS OK: %r' % c.buf)
    enc = zlib.compressobj(level, zlib.DEFLATED, -15)
    dec = zlib.decompressobj(-15)
    c.wire_in = c.wire_out = 0
    c.raw_log = None
    c.enc = enc

    def send(data, flush=zlib.Z_SYNC_FLUSH):
        if isinstance(data, str):
            data = data.encode()
        z = enc.compress(data) + enc.flush(flush)
        c.wire_out += len(z)
        c.sock.sendall(z)

    def fill(timeout=None):
        c.sock.settimeout(c.timeout if timeout is None else timeout)
        data = c.sock.recv(65536)
        if not data:
            raise Closed('connection closed by the server')
        c.wire_in += len(data)
        if c.raw_log is not None:
            c.raw_log.append(data)
        c.buf += dec.decompress(data)

    c.send = send
    c._fill = fill
    return tagged


def fetch_body(testcase, c, seq, size):
    """FETCH seq BODY.PEEK[] of a message of size bytes: its bytes."""
    tagged, unt = c.cmd_bytes('FETCH %d BODY.PEEK[]' % seq, timeout=60)
    testcase.assertRegex(tagged, rb'^a\d+ OK ')
    head = b'* %d FETCH (BODY[] {%d}\r\n' % (seq, size)
    testcase.assertTrue(unt[-1].startswith(head), unt[-1][:80])
    testcase.assertEqual(unt[-1][len(head) + size:], b')')
    return unt[-1][len(head):len(head) + size]


class Scenarios:
    """What every link (plain, STARTTLS, implicit TLS) must do once
    compressed; the subclass says how to get a logged-in client."""

    def login_client(self, user):
        raise NotImplementedError

    def test_commands_after_compress(self):
        user = self.make_user()
        c = self.login_client(user)
        self.assertRegex(compress(c), r'^a\d+ OK DEFLATE active')
        tagged, unt = c.cmd('CAPABILITY')
        self.assertRegex(tagged, OK_RE)
        self.assertIn('COMPRESS=DEFLATE', unt[0].split())
        self.assertRegex(c.cmd('CREATE "Sent Items/2026"')[0], OK_RE)
        tagged, unt = c.cmd('LIST "" "Sent Items*"')
        self.assertRegex(tagged, OK_RE)
        self.assertTrue(any('Sent Items/2026' in u for u in unt), unt)
        self.assertRegex(c.cmd('SELECT INBOX')[0], OK_RE)
        tagged, unt = c.cmd('STATUS "Sent Items/2026" (MESSAGES UIDNEXT)')
        self.assertRegex(tagged, OK_RE)
        self.assertIn('(MESSAGES 0 UIDNEXT 1)', unt[0])
        # a command the server refuses is refused inside the stream too
        self.assertRegex(c.cmd('FROB')[0], r'^a\d+ BAD ')
        self.assertRegex(c.cmd('NOOP')[0], OK_RE)
        self.assertGreater(c.wire_in, 0)
        tagged, unt = c.cmd('LOGOUT')
        self.assertRegex(tagged, OK_RE)
        self.assertEqual(unt, ['* BYE Logging out'])
        self.assertEqual(c.expect_closed(), [])

    def test_large_append_and_fetch(self):
        user = self.make_user()
        c = self.login_client(user)
        self.assertRegex(compress(c), OK_RE)
        msg = message(6 * 1024 * 1024 + 321, 4)
        self.assertRegex(c.cmd('CREATE big')[0], OK_RE)
        # a synchronizing literal: the "+" comes compressed, the
        # literal goes compressed
        sent0 = c.wire_out
        tagged, _ = c.append('big', msg, timeout=60)
        self.assertRegex(tagged, OK_RE)
        self.assertLess(c.wire_out - sent0, len(msg))
        self.assertRegex(c.append('big', msg[:200000], literal_plus=True,
                                  timeout=60)[0], OK_RE)
        self.assertRegex(c.cmd('SELECT big')[0], OK_RE)
        got0 = c.wire_in
        self.assertEqual(fetch_body(self, c, 1, len(msg)), msg)
        self.assertLess(c.wire_in - got0, len(msg))
        self.assertEqual(fetch_body(self, c, 2, 200000), msg[:200000])
        # the same bytes as a plain session sees
        p = self.login_client(user)
        self.assertRegex(p.cmd('SELECT big')[0], OK_RE)
        self.assertEqual(fetch_body(self, p, 1, len(msg)), msg)

    def test_idle_woken_again_and_again(self):
        user = self.make_user()
        a = self.login_client(user)
        b = self.login_client(user)
        self.assertRegex(compress(a), OK_RE)
        self.assertRegex(a.cmd('CREATE idlebox')[0], OK_RE)
        self.assertRegex(a.cmd('SELECT idlebox')[0], OK_RE)
        tag = a.next_tag()
        a.send('%s IDLE\r\n' % tag)
        self.assertEqual(a.readline(), '+ idling')
        for i in range(1, 4):
            t0 = time.monotonic()
            self.assertRegex(b.append('idlebox', message(3000, i))[0], OK_RE)
            line = a.readline(timeout=5)
            while line.endswith(" RECENT"):  # of the wake-up before
                line = a.readline(timeout=5)
            self.assertEqual(line, '* %d EXISTS' % i)
            self.assertLess(time.monotonic() - t0, 2.0)
        a.send('DONE\r\n')
        tagged, _ = a.read_until_tagged(tag)
        self.assertEqual(tagged, '%s OK IDLE terminated' % tag)
        self.assertRegex(a.cmd('NOOP')[0], OK_RE)


class Plain(Scenarios, ImapCase):
    """Compression on a plain TCP link, served directly by the mailbox
    process."""

    def make_user(self):
        return self.new_user()

    def login_client(self, user):
        return self.connect(user)

    def test_advertised_after_login_only(self):
        user = self.new_user()
        c = self.server.client(timeout=10)
        self.addCleanup(c.close)
        self.assertNotIn('COMPRESS', c.greeting)
        tagged, unt = c.cmd('CAPABILITY')
        self.assertNotIn('COMPRESS=DEFLATE', unt[0])
        # before login, the login process refuses it as any command of
        # a later state
        tagged, _ = c.cmd('COMPRESS DEFLATE')
        self.assertRegex(tagged, r'^a\d+ BAD COMPRESS is not allowed in the '
                         r'not-authenticated state')
        tagged, _ = c.login(*user)
        self.assertRegex(tagged, OK_RE)
        self.assertIn('COMPRESS=DEFLATE', caps_of(tagged))

    def test_plain_bytes_end_at_the_ok(self):
        """The server's first compressed byte follows the OK's CRLF: read
        on the raw socket, the reply to a compressed NOOP is not text."""
        c = self.connect()
        tag = c.next_tag()
        c.send('%s COMPRESS DEFLATE\r\n' % tag)
        raw = b''
        while not raw.endswith(b'\r\n'):
            raw += c.sock.recv(1)
        self.assertEqual(raw, b'%s OK DEFLATE active\r\n' % tag.encode())
        enc = zlib.compressobj(6, zlib.DEFLATED, -15)
        c.sock.sendall(enc.compress(b'n1 NOOP\r\n') +
                       enc.flush(zlib.Z_SYNC_FLUSH))
        data = b''
        dec = zlib.decompressobj(-15)
        plain = b''
        while b'n1 OK' not in plain:
            chunk = c.sock.recv(4096)
            self.assertTrue(chunk)
            data += chunk
            plain += dec.decompress(chunk)
        self.assertNotIn(b'NOOP', data)
        # ends with a sync flush: the empty stored block
        self.assertTrue(data.endswith(b'\x00\x00\xff\xff'), data)
        self.assertEqual(plain, b'n1 OK NOOP completed\r\n')

    def test_compress_pipelined_behind_a_command(self):
        """COMPRESS may follow another command in the same packet (as
        imaptest sends it); only what comes after COMPRESS must wait."""
        c = self.connect()
        c.send('p1 LIST "" ""\r\np2 COMPRESS DEFLATE\r\n')
        self.assertRegex(c.read_until_tagged('p1')[0], r'^p1 OK ')
        self.assertRegex(c.read_until_tagged('p2')[0], r'^p2 OK DEFLATE')
        self.assertEqual(c.buf, b'')
        enc = zlib.compressobj(6, zlib.DEFLATED, -15)
        dec = zlib.decompressobj(-15)
        c.sock.sendall(enc.compress(b'p3 NOOP\r\n') +
                       enc.flush(zlib.Z_SYNC_FLUSH))
        plain = b''
        while not plain.endswith(b'\r\n'):
            chunk = c.sock.recv(4096)
            self.assertTrue(chunk)
            plain += dec.decompress(chunk)
        self.assertEqual(plain, b'p3 OK NOOP completed\r\n')

    def test_refusals_keep_the_connection(self):
        c = self.connect()
        self.assertRegex(c.cmd('COMPRESS ZSTD')[0],
                         r'^a\d+ BAD Unknown compression mechanism')
        self.assertRegex(c.cmd('COMPRESS')[0], r'^a\d+ BAD ')
        self.assertRegex(c.cmd('COMPRESS DEFLATE extra')[0], r'^a\d+ BAD ')
        # pipelined behind COMPRESS: refused, and the next command runs
        # in clear
        c.send('p1 COMPRESS DEFLATE\r\np2 NOOP\r\n')
        tagged, _ = c.read_until_tagged('p1')
        self.assertRegex(tagged, r'^p1 BAD COMPRESS must not be pipelined')
        self.assertRegex(c.read_until_tagged('p2')[0], r'^p2 OK ')
        self.assertRegex(compress(c), r'^a\d+ OK DEFLATE active')
        tagged, _ = c.cmd('COMPRESS DEFLATE')
        self.assertRegex(tagged, r'^a\d+ NO \[COMPRESSIONACTIVE\] ')
        tagged, _ = c.cmd('compress deflate')
        self.assertRegex(tagged, r'^a\d+ NO \[COMPRESSIONACTIVE\] ')
        self.assertRegex(c.cmd('NOOP')[0], OK_RE)

    def test_sessions_of_one_user_have_their_own_streams(self):
        """One process serves all three: if the compressor state were
        shared, the interleaved streams would not decode."""
        user = self.new_user()
        a, b, p = (self.connect(user) for _ in range(3))
        self.assertRegex(compress(a, level=9), OK_RE)
        self.assertRegex(compress(b, level=1), OK_RE)
        for i in range(5):
            self.assertRegex(a.cmd('CREATE a%d' % i)[0], OK_RE)
            self.assertRegex(b.cmd('CREATE b%d' % i)[0], OK_RE)
            self.assertRegex(p.cmd('CREATE p%d' % i)[0], OK_RE)
            tagged, unt = b.cmd('LIST "" "a%d"' % i)
            self.assertRegex(tagged, OK_RE)
            self.assertEqual(len(unt), 1)
        # pipelined inside the stream: several commands in one burst
        a.send(''.join('q%d NOOP\r\n' % i for i in range(20)))
        for i in range(20):
            self.assertRegex(a.read_until_tagged('q%d' % i)[0], r'^q\d+ OK ')

    def test_client_finishing_its_stream(self):
        """A client may end its stream (Z_FINISH) with its last command."""
        c = self.connect()
        self.assertRegex(compress(c), OK_RE)
        c.send('z1 LOGOUT\r\n', flush=zlib.Z_FINISH)
        tagged, unt = c.read_until_tagged('z1')
        self.assertRegex(tagged, r'^z1 OK ')
        self.assertEqual(c.expect_closed(), [])

    def test_corrupt_stream_ends_that_session_only(self):
        user = self.new_user()
        bad = self.connect(user)
        other = self.connect(user)
        self.assertRegex(compress(other), OK_RE)
        self.assertRegex(compress(bad), OK_RE)
        pid = mbox_pid(self.server, user[0])
        bad.sock.sendall(b'\xff\xff\xff\xff garbage')
        lines = bad.expect_closed()
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r'^\* BYE Compression error: invalid '
                         r'compressed data')
        self.assertRegex(other.cmd('NOOP')[0], OK_RE)
        self.assertEqual(mbox_pid(self.server, user[0]), pid)
        self.assertIn('COMPRESS: invalid compressed data',
                      self.server.logtext())

    def test_decompression_bomb(self):
        """About 4 MB on the wire would inflate to 4 GB of one line with
        no end: the session ends when its input has inflated past what
        any command may be (max_message and its lines), with a BYE that
        says so, and the process's memory does not grow with it."""
        user = self.new_user()
        c = self.connect(user, timeout=30)
        other = self.connect(user)
        self.assertRegex(compress(c), OK_RE)
        pid = mbox_pid(self.server, user[0])
        rss0 = proc_mem(pid)['VmRSS']
        block = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = b'A' * (1 << 20)
        sent = peak = 0
        t0 = time.monotonic()
        for _ in range(4096):
            z = block.compress(chunk) + block.flush(zlib.Z_SYNC_FLUSH)
            try:
                c.sock.sendall(z)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            if sent % 8 == 0:
                peak = max(peak, proc_mem(pid)['VmRSS'])
            # paced by the server: stop as soon as it has answered
            if select.select([c.sock], [], [], 0.002)[0]:
                break
        lines = c.expect_closed(timeout=30)
        took = time.monotonic() - t0
        self.assertEqual(lines, ['* BYE Compression error: compressed input '
                                 "expands beyond any command's size limit"])
        # it stopped soon after max_message (64 MB by default) had
        # inflated, not after 4 GB
        self.assertLess(sent, 200, 'MB of "A" sent before the BYE')
        self.assertLess(took, 30)
        if not sanitized():
            self.assertLess(peak - rss0, 16 * 1024 * 1024,
                            (rss0, peak))
        self.assertRegex(other.cmd('NOOP')[0], OK_RE)
        self.assertEqual(mbox_pid(self.server, user[0]), pid)


class Shared(ImapCase):
    """A folder another user shares: its data comes from the owner's
    process over a plain channel and goes out through the grantee's
    compressed stream."""

    def test_shared_folder_through_compressed_session(self):
        alice, bob = self.new_user(), self.new_user()
        a = self.connect(alice)
        self.assertRegex(a.cmd('CREATE Proj')[0], OK_RE)
        msg = message(300000, 9)
        self.assertRegex(a.append('Proj', msg)[0], OK_RE)
        self.assertRegex(a.cmd('SETACL Proj %s lrswi' % bob[0])[0], OK_RE)
        b = self.connect(bob)
        self.assertRegex(compress(b), OK_RE)
        name = quote('Other Users/%s/Proj' % alice[0])
        self.assertRegex(b.cmd('SELECT %s' % name)[0], OK_RE)
        self.assertEqual(fetch_body(self, b, 1, len(msg)), msg)
        tag = b.next_tag()
        b.send('%s IDLE\r\n' % tag)
        self.assertEqual(b.readline(), '+ idling')
        self.assertRegex(a.append('Proj', message(2000, 10))[0], OK_RE)
        self.assertEqual(b.readline(timeout=5), '* 2 EXISTS')
        b.send('DONE\r\n')
        self.assertRegex(b.read_until_tagged(tag)[0], OK_RE)


class ProxyAuth(ImapCase):
    """PROXYAUTH moves the socket to another process, which could not
    continue this connection's compressed streams."""

    def test_proxyauth_after_compress_refused(self):
        admin = self.new_user()
        self.server.ctl('admin', admin[0], 'on')
        target = self.new_user()
        c = self.connect(admin)
        self.assertRegex(compress(c), OK_RE)
        tagged, _ = c.cmd('PROXYAUTH %s' % quote(target[0]))
        self.assertRegex(tagged, r'^a\d+ NO PROXYAUTH is not possible after '
                         r'COMPRESS')
        self.assertRegex(c.cmd('NOOP')[0], OK_RE)
        # before COMPRESS it works, and the target's process can then
        # compress the moved connection itself
        d = self.connect(admin)
        tagged, _ = d.cmd('PROXYAUTH %s' % quote(target[0]))
        self.assertRegex(tagged, OK_RE)
        self.assertRegex(compress(d), OK_RE)
        self.assertRegex(d.cmd('SELECT INBOX')[0], OK_RE)


class OverTLS(TLSCase):
    """The same over STARTTLS and implicit TLS: the relay encrypts what
    the mailbox process compressed."""
    _n = 0

    def make_user(self):
        OverTLS._n += 1
        name, pw = 'z%d' % OverTLS._n, 'pw-z%d' % OverTLS._n
        self.server.ctl('useradd', name, '--password-stdin', stdin=pw + '\n')
        return name, pw


class OverSTARTTLS(Scenarios, OverTLS):
    def login_client(self, user):
        return self.starttls(login=user)


class OverImplicitTLS(Scenarios, OverTLS):
    def login_client(self, user):
        return self.implicit(login=user)

    def test_compressed_inside_tls(self):
        """What the client decrypts is deflate data, not IMAP text."""
        c = self.login_client(self.make_user())
        self.assertRegex(compress(c), OK_RE)
        c.raw_log = []
        tagged, unt = c.cmd('LIST "" "*"')
        self.assertRegex(tagged, OK_RE)
        self.assertTrue(c.raw_log)
        self.assertNotIn(b'LIST', b''.join(c.raw_log))


if __name__ == '__main__':
    unittest.main(verbosity=2)
