"""test_unauthenticate.py - UNAUTHENTICATE (RFC 8437) against the real
daemon: the session goes back to the not-authenticated state through a
new login process, and a LOGIN as another user lands in that user's
process with nothing of the first session left.

Advertised after login only (and not at all with `unauthenticate = no`,
which answers it BAD).  From the authenticated and the selected state
(no EXPUNGE for the selection it closes), with commands pipelined behind
it, repeatedly on one connection, after PROXYAUTH; over plain TCP,
STARTTLS and implicit TLS (the relay stays, TLS is kept, the new login
process offers no STARTTLS and allows LOGIN as over TLS); with COMPRESS
active the compression ends after the OK (RFC 8437 4.1) and the next
session may compress again.  What must not leak: ENABLEd extensions,
the selection, the saved search result, the user's mailboxes; the
connection slot is kept (not counted twice, not lost).  Bad input:
UNAUTHENTICATE with arguments, before login, and the session remains
usable.

Python 3 standard library only."""
import os
import re
import sys
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import alive, quote, wait_for  # noqa: E402
from mkimap import ImapCase, message, parse, search_result  # noqa: E402
from test_compress import compress  # noqa: E402
from test_memory import mbox_pid  # noqa: E402
from test_tls import TLSCase, caps_of  # noqa: E402

OK_RE = r'^a\d+ OK '
BAD_RE = r'^a\d+ BAD '


def uncompress(c, plain):
    """Back to clear text on client c after the compression ended."""
    c.send, c._fill = plain
    c.enc = None


class Steps:
    """What every link must do; the subclass says how to connect."""

    def names(self, c):
        tagged, unt = c.cmd('LIST "" "*"')
        self.assertRegex(tagged, OK_RE)
        return sorted(parse(l)[4] for l in unt)

    def setup_users(self):
        a, b = self.make_user(), self.make_user()
        ca = self.login_client(a)
        self.assertRegex(ca.cmd('CREATE only-%s' % a[0])[0], OK_RE)
        ca.append('INBOX', message(subject='for a'))
        ca.append('INBOX', message(subject='for a, 2'))
        ca.close()
        return a, b

    def check_is(self, c, user, other):
        """c is user's session and nothing of other's."""
        names = self.names(c)
        self.assertIn('INBOX', names)
        self.assertNotIn('only-%s' % other[0], names)
        tagged, unt = c.cmd('STATUS INBOX (MESSAGES)')
        self.assertRegex(tagged, OK_RE)
        return int(parse(unt[0])[3][1])

    def test_back_to_login_and_in_as_another(self):
        a, b = self.setup_users()
        c = self.login_client(a)
        caps = caps_of(c.cmd('CAPABILITY')[1][0])
        self.assertIn('UNAUTHENTICATE', caps)
        self.assertRegex(c.cmd('ENABLE IMAP4rev2 CONDSTORE')[0], OK_RE)
        self.assertRegex(c.cmd('SELECT INBOX')[0], OK_RE)
        self.assertRegex(c.cmd('SEARCH RETURN (SAVE) ALL')[0], OK_RE)
        # Another session expunges: the UNAUTHENTICATE answer carries no
        # EXPUNGE for the selection it closes (RFC 8437 3).
        other = self.login_client(a)
        other.cmd('SELECT INBOX')
        other.cmd('STORE 1 +FLAGS (\\Deleted)')
        self.assertRegex(other.cmd('EXPUNGE')[0], OK_RE)
        tagged, unt = c.cmd('UNAUTHENTICATE')
        self.assertRegex(tagged, OK_RE)
        self.assertEqual([l for l in unt if 'EXPUNGE' in l or
                          'VANISHED' in l], [])
        # Not authenticated: the login process answers.
        tagged, unt = c.cmd('CAPABILITY')
        caps = caps_of(unt[0])
        self.assertIn('AUTH=PLAIN', caps)
        self.assertNotIn('UNAUTHENTICATE', caps)
        self.assertNotIn('STARTTLS', caps)
        self.assertRegex(c.cmd('SELECT INBOX')[0], BAD_RE)
        self.assertRegex(c.cmd('NOOP')[0], OK_RE)
        tagged, _ = c.login(*b)
        self.assertRegex(tagged, OK_RE)
        self.assertEqual(self.check_is(c, b, a), 0)
        # Nothing enabled, nothing selected, no saved result.
        self.assertRegex(c.cmd('FETCH 1 FLAGS')[0], BAD_RE)
        c.append('INBOX', message(subject='for b'))
        c.cmd('SELECT INBOX')
        tagged, unt = c.cmd('SEARCH ALL')
        self.assertEqual(search_result(unt), [1])      # rev1 form again
        self.assertNotIn('MODSEQ', c.cmd('FETCH 1 FLAGS')[1][0])
        self.assertRegex(c.cmd('FETCH $ FLAGS')[0], r'^a\d+ (BAD|OK) ')
        # And back to the first user, on the same connection.
        self.assertRegex(c.cmd('UNAUTHENTICATE')[0], OK_RE)
        self.assertRegex(c.login(*a)[0], OK_RE)
        self.assertEqual(self.check_is(c, a, b), 1)
        other.close()

    def test_pipelined_login(self):
        a, b = self.setup_users()
        c = self.login_client(a)
        c.send('p1 UNAUTHENTICATE\r\np2 LOGIN %s %s\r\np3 LIST "" "only-*"'
               '\r\n' % (quote(b[0]), quote(b[1])))
        t1, _ = c.read_until_tagged('p1')
        t2, _ = c.read_until_tagged('p2')
        t3, unt = c.read_until_tagged('p3')
        self.assertRegex(t1, r'^p1 OK ')
        self.assertRegex(t2, r'^p2 OK ')
        self.assertRegex(t3, r'^p3 OK ')
        self.assertEqual(unt, [])          # b has no only-a

    def test_many_rounds_keep_one_slot(self):
        a, b = self.setup_users()
        c = self.login_client(a)
        for i in range(6):
            self.assertRegex(c.cmd('UNAUTHENTICATE')[0], OK_RE)
            user, other = (b, a) if i % 2 == 0 else (a, b)
            self.assertRegex(c.login(*user)[0], OK_RE)
            self.check_is(c, user, other)
        out = self.server.ctl('who').stdout
        self.assertEqual(len([l for l in out.splitlines()
                              if re.search(r'\b%s\b' % user[0], l)]), 1, out)

    def test_bad_input(self):
        a, b = self.setup_users()
        c = self.login_client(a)
        self.assertRegex(c.cmd('UNAUTHENTICATE now')[0], BAD_RE)
        self.assertRegex(c.cmd('NOOP')[0], OK_RE)
        self.assertRegex(c.cmd('UNAUTHENTICATE')[0], OK_RE)
        # Not authenticated any more: a second one is BAD, not a crash.
        self.assertRegex(c.cmd('UNAUTHENTICATE')[0], BAD_RE)
        self.assertRegex(c.login(a[0], 'wrong')[0], r'^a\d+ NO ')
        self.assertRegex(c.login(*a)[0], OK_RE)
        self.assertEqual(self.check_is(c, a, b), 2)

    def test_compress_ends_with_it(self):
        a, b = self.setup_users()
        c = self.login_client(a)
        plain = (c.send, c._fill)
        self.assertRegex(compress(c), OK_RE)
        self.assertRegex(c.cmd('SELECT INBOX')[0], OK_RE)
        tag = c.next_tag()
        c.send('%s UNAUTHENTICATE\r\n' % tag, flush=zlib.Z_FULL_FLUSH)
        tagged, _ = c.read_until_tagged(tag)
        self.assertRegex(tagged, OK_RE)
        self.assertEqual(c.buf, b'')
        uncompress(c, plain)
        caps = caps_of(c.cmd('CAPABILITY')[1][0])
        self.assertNotIn('COMPRESS=DEFLATE', caps)
        self.assertRegex(c.login(*b)[0], OK_RE)
        self.assertIn('COMPRESS=DEFLATE', caps_of(c.cmd('CAPABILITY')[1][0]))
        self.assertEqual(self.check_is(c, b, a), 0)
        # A new session may compress again, with a new stream.
        self.assertRegex(compress(c), OK_RE)
        self.assertEqual(self.check_is(c, b, a), 0)

    def test_compress_refuses_pipelining_across(self):
        a, b = self.setup_users()
        c = self.login_client(a)
        self.assertRegex(compress(c), OK_RE)
        c.send('x1 UNAUTHENTICATE\r\nx2 NOOP\r\n')
        lines = c.expect_closed()
        self.assertTrue(any(l.startswith('x1 OK') for l in lines), lines)
        self.assertTrue(any('BYE' in l and 'UNAUTHENTICATE' in l
                            for l in lines), lines)
        # The user's other sessions are not affected.
        d = self.login_client(a)
        self.assertRegex(d.cmd('NOOP')[0], OK_RE)


class Plain(Steps, ImapCase):
    config = {'mailbox_linger': '0'}

    def make_user(self):
        return self.new_user()

    def login_client(self, user):
        return self.connect(user)

    def test_not_before_login(self):
        with self.server.client() as c:
            caps = caps_of(c.greeting)
            self.assertNotIn('UNAUTHENTICATE', caps)
            self.assertRegex(c.cmd('UNAUTHENTICATE')[0], BAD_RE)
            self.assertRegex(c.cmd('NOOP')[0], OK_RE)

    def test_state_of_the_first_user_is_gone(self):
        a, b = self.setup_users()
        c = self.login_client(a)
        pid_a = self.user_pid(a[0])
        self.assertRegex(c.cmd('UNAUTHENTICATE')[0], OK_RE)
        self.assertRegex(c.login(*b)[0], OK_RE)
        c.cmd('LIST "" "*"')
        pid_b = self.user_pid(b[0])
        self.assertNotEqual(pid_a, pid_b)
        # a's process has no session left and goes (mailbox_linger 0).
        wait_for(lambda: not alive(pid_a), what='first user process gone')
        self.assertTrue(alive(pid_b))

    def user_pid(self, name):
        return mbox_pid(self.server, name)

    def test_after_proxyauth(self):
        admin = ('mkadmin', 'secret-mkadmin')
        try:
            self.server.ctl('useradd', admin[0], '--password-stdin',
                            stdin=admin[1] + '\n')
            self.server.ctl('admin', admin[0], 'on')
        except Exception:
            pass
        a, b = self.setup_users()
        c = self.connect(admin)
        self.assertRegex(c.cmd('PROXYAUTH %s' % a[0])[0], OK_RE)
        self.assertEqual(self.check_is(c, a, b), 2)
        self.assertRegex(c.cmd('UNAUTHENTICATE')[0], OK_RE)
        self.assertRegex(c.login(*b)[0], OK_RE)
        self.assertEqual(self.check_is(c, b, a), 0)


class Disabled(ImapCase):
    config = {'unauthenticate': 'no'}

    def test_not_offered(self):
        c = self.connect()
        self.assertNotIn('UNAUTHENTICATE', caps_of(c.cmd('CAPABILITY')[1][0]))
        self.assertRegex(c.cmd('UNAUTHENTICATE')[0], r'^a\d+ BAD .*disabled')
        self.assertRegex(c.cmd('NOOP')[0], OK_RE)


class OverTLS(TLSCase):
    config = {'mailbox_linger': '0'}
    _n = 0

    def make_user(self):
        OverTLS._n += 1
        name, pw = 'ua%d' % OverTLS._n, 'pw-ua%d' % OverTLS._n
        self.server.ctl('useradd', name, '--password-stdin', stdin=pw + '\n')
        return name, pw


class OverSTARTTLS(Steps, OverTLS):
    def login_client(self, user):
        return self.starttls(login=user)

    def test_still_tls_and_relay_kept(self):
        a, b = self.setup_users()
        c = self.login_client(a)
        der = c.peer_der()
        self.assertRegex(c.cmd('UNAUTHENTICATE')[0], OK_RE)
        # STARTTLS again would be a second TLS layer: not offered.
        caps = caps_of(c.cmd('CAPABILITY')[1][0])
        self.assertNotIn('STARTTLS', caps)
        self.assertNotIn('LOGINDISABLED', caps)
        self.assertRegex(c.cmd('STARTTLS')[0], r'^a\d+ (BAD|NO) ')
        self.assertRegex(c.login(*b)[0], OK_RE)
        self.assertEqual(c.peer_der(), der)
        self.assertEqual(self.check_is(c, b, a), 0)


class OverImplicitTLS(Steps, OverTLS):
    def login_client(self, user):
        return self.implicit(login=user)


if __name__ == '__main__':
    unittest.main()
