"""test_impersonation.py - an administrator acting as another user, by
every route (issue 4, item 1), and everything a non-admin tries instead.

  PROXYAUTH (Oracle/Sun): authenticated state only, once per session,
      admins only, never to an admin; the session then is the target's
      (mail, quota root, rights); not advertised in CAPABILITY.
  AUTHENTICATE PLAIN with an authorization identity.
  LOGIN target*admin (impersonation_separator; "" turns it off).
  The audit trail: a directory row per impersonated session (start,
      end, admin, target, method, client) listed by `mailkeepctl audit`,
      and audit log lines that name both identities.
  impersonation_no_seen = yes: reading as someone else leaves \\Seen.

Python 3 standard library only; run by meson (MK_BUILD_DIR)."""
import base64
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Server, free_port  # noqa: E402
from mkimap import ImapCase, fetch_map, message, quote  # noqa: E402

ADMIN = ('root-admin', 'secret-root-admin')
ADMIN2 = ('admin2', 'secret-admin2')

AUDIT_ROW = re.compile(
    r'^(?P<start>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)  '
    r'(?P<end>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\(active\)) +'
    r'(?P<admin>\S+) +(?P<target>\S+) +(?P<method>\S+) +(?P<client>\S+) +'
    r'(?P<session>[0-9a-f]{16})$')


def plain(authzid, authcid, pw):
    raw = ('%s\0%s\0%s' % (authzid, authcid, pw)).encode()
    return base64.b64encode(raw).decode()


def local_time(text):
    return time.mktime(time.strptime(text, '%Y-%m-%d %H:%M:%S'))


class AdminCase(ImapCase):
    """ImapCase with two administrators in the instance."""
    admins = (ADMIN[0], ADMIN2[0])

    @classmethod
    def setUpClass(cls):
        cls.server = Server(admins=cls.admins, config=cls.config)

    def raw_client(self):
        c = self.server.client(timeout=10)
        self.addCleanup(c.close)
        return c

    def user_with_mail(self, subject):
        """A new user whose INBOX holds one message; (user, message)."""
        user = self.new_user()
        c = self.connect(user)
        data = message(subject=subject, body='Only %s sees this.\r\n' %
                       user[0])
        self.ok(c.append('INBOX', data))
        self.ok(c.cmd('CREATE %s' % quote('Folder-' + user[0])))
        self.ok(c.cmd('LOGOUT'))
        c.close()
        return user, data

    def inbox_bodies(self, c):
        """[BODY[] of each message] of c's INBOX, selected read-only."""
        info = self.select(c, 'INBOX', examine=True)
        if info.get('exists', 0) == 0:
            return []
        r = c.cmd_bytes('FETCH 1:* BODY.PEEK[]')
        self.assertRegex(r[0], rb'^a\d+ OK ')
        fm = fetch_map(r[1])
        return [fm[i]['BODY[]'] for i in sorted(fm)]

    def audit_rows(self, target):
        out = self.server.ctl('audit', '--user', target).stdout
        rows = []
        for line in out.splitlines()[1:]:
            m = AUDIT_ROW.match(line)
            self.assertIsNotNone(m, 'unparsable audit row %r' % line)
            rows.append(m.groupdict())
        return rows

    def wait_audit_ended(self, target, n, timeout=5.0):
        """The n audit rows of target, once all have an end time."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.audit_rows(target)
            if len(rows) == n and all(r['end'] != '(active)' for r in rows):
                return rows
            if time.monotonic() > deadline:
                self.fail('audit rows of %s: %r' % (target, rows))
            time.sleep(0.05)

    def capabilities(self, c):
        untagged = self.ok(c.cmd('CAPABILITY'))
        caps = [l for l in untagged if l.startswith('* CAPABILITY ')]
        self.assertEqual(len(caps), 1, untagged)
        return caps[0].split()[2:]


class Proxyauth(AdminCase):
    def proxied(self, target):
        c = self.connect(ADMIN)
        tagged, untagged = c.cmd('PROXYAUTH %s' % target)
        self.assertRegex(tagged, r'^a\d+ OK \[CAPABILITY IMAP4rev1 .*\] '
                         r'PROXYAUTH completed$')
        self.assertEqual(untagged, [])
        return c

    def test_session_becomes_the_target(self):
        (alice, _), data = self.user_with_mail('for alice only')
        self.server.ctl('quota', alice, '--storage', '777', '--messages', '55')
        mine = self.connect(ADMIN)
        self.ok(mine.append('INBOX', message(subject='admin mail')))
        c = self.proxied(alice)
        self.assertEqual(self.inbox_bodies(c), [data])
        self.ok(c.cmd('UNSELECT'))
        listed = self.ok(c.cmd('LIST "" *'))
        self.assertIn('* LIST (\\HasNoChildren) "/" "Folder-%s"' % alice,
                      listed)
        # the target's quota root and limits, not the admin's
        untagged = self.ok(c.cmd('GETQUOTAROOT INBOX'))
        self.assertEqual(untagged, [
            '* QUOTAROOT "INBOX" ""',
            '* QUOTA "" (STORAGE %d 777 MESSAGE 1 55)' %
            ((len(data) + 1023) // 1024)])
        # the owner's rights on the target's mailboxes
        self.assertEqual(self.ok(c.cmd('MYRIGHTS INBOX')),
                         ['* MYRIGHTS "INBOX" lrswipkxtecda'])
        # what it writes lands in the target's store
        self.ok(c.append('INBOX', message(subject='written as alice')))
        own = self.connect((alice, 'pw-' + alice))
        self.assertEqual(len(self.inbox_bodies(own)), 2)
        self.assertEqual(len(self.inbox_bodies(mine)), 1)

    def test_not_advertised(self):
        c = self.raw_client()
        self.assertNotIn('PROXYAUTH', c.greeting)
        self.assertNotIn('PROXYAUTH', self.capabilities(c))
        tagged, _ = c.login(*ADMIN)
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertNotIn('PROXYAUTH', tagged)
        self.assertNotIn('PROXYAUTH', self.capabilities(c))
        # and yet it works
        user, _ = self.user_with_mail('x')
        self.ok(c.cmd('PROXYAUTH %s' % user[0]))

    def test_twice_is_bad(self):
        (alice, _), _ = self.user_with_mail('a')
        (bob, _), bob_data = self.user_with_mail('b')
        c = self.proxied(alice)
        self.assertTagged(c.cmd('PROXYAUTH %s' % bob), 'BAD')
        # still alice, not bob
        self.assertNotEqual(self.inbox_bodies(c), [bob_data])
        self.assertEqual(len(self.audit_rows(bob)), 0)

    def test_after_other_impersonation_is_bad(self):
        (alice, _), _ = self.user_with_mail('a')
        (bob, _), _ = self.user_with_mail('b')
        c = self.raw_client()
        self.ok(c.login('%s*%s' % (alice, ADMIN[0]), ADMIN[1]))
        self.assertTagged(c.cmd('PROXYAUTH %s' % bob), 'BAD')
        c = self.raw_client()
        self.ok(c.cmd('AUTHENTICATE PLAIN %s' % plain(alice, *ADMIN)))
        self.assertTagged(c.cmd('PROXYAUTH %s' % bob), 'BAD')

    def test_selected_state_is_bad(self):
        (alice, _), alice_data = self.user_with_mail('a')
        c = self.connect(ADMIN)
        self.select(c, 'INBOX')
        self.assertTagged(c.cmd('PROXYAUTH %s' % alice), 'BAD')
        # the session stays the admin's, still selected
        self.assertNotEqual(self.inbox_bodies(c), [alice_data])
        self.ok(c.cmd('UNSELECT'))
        self.ok(c.cmd('PROXYAUTH %s' % alice))
        self.assertEqual(self.inbox_bodies(c), [alice_data])

    def test_before_login_is_bad(self):
        (alice, _), _ = self.user_with_mail('a')
        c = self.raw_client()
        self.assertTagged(c.cmd('PROXYAUTH %s' % alice), 'BAD')
        # the connection is still usable
        self.ok(c.login(*ADMIN))

    def test_non_admin_is_refused(self):
        (alice, _), alice_data = self.user_with_mail('a')
        (bob, _), bob_data = self.user_with_mail('b')
        c = self.connect((bob, 'pw-' + bob))
        tagged, _ = c.cmd('PROXYAUTH %s' % alice)
        self.assertRegex(tagged, r'^a\d+ NO ')
        self.assertEqual(self.inbox_bodies(c), [bob_data])
        # nor towards an administrator; the session is still bob's
        self.assertTagged(c.cmd('UNSELECT'), 'OK')
        self.assertRegex(c.cmd('PROXYAUTH %s' % ADMIN[0])[0], r'^a\d+ NO ')
        self.assertEqual(self.audit_rows(alice), [])
        self.assertIn('PROXYAUTH by %s to \'%s\' refused: not an '
                      'administrator' % (bob, alice), self.server.logtext())

    def test_unknown_user_then_retry(self):
        (alice, _), alice_data = self.user_with_mail('a')
        c = self.connect(ADMIN)
        tagged, _ = c.cmd('PROXYAUTH nosuchuser')
        self.assertRegex(tagged, r'^a\d+ NO ')
        tagged, _ = c.cmd('PROXYAUTH "bad name!"')
        self.assertRegex(tagged, r'^a\d+ NO ')
        # a refusal changes nothing: a later attempt may succeed
        self.ok(c.cmd('PROXYAUTH %s' % alice))
        self.assertEqual(self.inbox_bodies(c), [alice_data])

    def test_admin_cannot_become_admin(self):
        (alice, _), alice_data = self.user_with_mail('a')
        c = self.connect(ADMIN)
        tagged, _ = c.cmd('PROXYAUTH %s' % ADMIN2[0])
        self.assertRegex(tagged, r'^a\d+ NO ')
        self.assertEqual(self.audit_rows(ADMIN2[0]), [])
        self.ok(c.cmd('PROXYAUTH %s' % alice))
        self.assertEqual(self.inbox_bodies(c), [alice_data])

    def test_pipelined_command_runs_as_target(self):
        (alice, _), alice_data = self.user_with_mail('a')
        c = self.connect(ADMIN)
        c.send('p1 PROXYAUTH %s\r\np2 EXAMINE INBOX\r\n' % alice)
        tagged, _ = c.read_until_tagged('p1')
        self.assertRegex(tagged, r'^p1 OK ')
        tagged, untagged = c.read_until_tagged('p2')
        self.assertRegex(tagged, r'^p2 OK ')
        self.assertIn('* 1 EXISTS', untagged)


class AuthorizationIdentity(AdminCase):
    def test_admin_logs_in_as_target(self):
        (alice, _), alice_data = self.user_with_mail('a')
        c = self.raw_client()
        tagged, _ = c.cmd('AUTHENTICATE PLAIN %s' % plain(alice, *ADMIN))
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertEqual(self.inbox_bodies(c), [alice_data])
        # also with the response in a continuation round
        c = self.raw_client()
        c.send('x1 AUTHENTICATE PLAIN\r\n')
        self.assertTrue(c.readline().startswith('+'))
        c.send(plain(alice, *ADMIN) + '\r\n')
        self.assertRegex(c.read_until_tagged('x1')[0], r'^x1 OK ')
        self.assertEqual(self.inbox_bodies(c), [alice_data])

    def test_non_admin_authzid_is_refused(self):
        (alice, _), _ = self.user_with_mail('a')
        (bob, bpw), _ = self.user_with_mail('b')
        c = self.raw_client()
        tagged, _ = c.cmd('AUTHENTICATE PLAIN %s' % plain(alice, bob,
                                                           'pw-' + bob))
        self.assertRegex(tagged, r'^a\d+ NO \[AUTHORIZATIONFAILED\] ')
        # the connection stays in the not-authenticated state
        self.assertTagged(c.cmd('SELECT INBOX'), 'BAD')
        self.assertEqual(self.audit_rows(alice), [])

    def test_own_name_as_authzid_is_no_impersonation(self):
        (bob, _), bob_data = self.user_with_mail('b')
        c = self.raw_client()
        self.ok(c.cmd('AUTHENTICATE PLAIN %s' % plain(bob, bob, 'pw-' + bob)))
        self.assertEqual(self.inbox_bodies(c), [bob_data])
        self.assertEqual(self.audit_rows(bob), [])

    def test_admin_as_admin_is_refused(self):
        c = self.raw_client()
        tagged, _ = c.cmd('AUTHENTICATE PLAIN %s' % plain(ADMIN2[0], *ADMIN))
        self.assertRegex(tagged, r'^a\d+ NO \[AUTHORIZATIONFAILED\] ')

    def test_unknown_target_is_refused(self):
        c = self.raw_client()
        tagged, _ = c.cmd('AUTHENTICATE PLAIN %s' %
                          plain('nosuchuser', *ADMIN))
        self.assertRegex(tagged, r'^a\d+ NO \[AUTHORIZATIONFAILED\] ')

    def test_wrong_password_is_authentication_failure(self):
        (alice, _), _ = self.user_with_mail('a')
        c = self.raw_client()
        tagged, _ = c.cmd('AUTHENTICATE PLAIN %s' % plain(alice, ADMIN[0],
                                                           'wrong'))
        self.assertRegex(tagged, r'^a\d+ NO \[AUTHENTICATIONFAILED\] ')


class LoginSeparator(AdminCase):
    def test_admin_logs_in_as_target(self):
        (alice, _), alice_data = self.user_with_mail('a')
        c = self.raw_client()
        self.ok(c.login('%s*%s' % (alice, ADMIN[0]), ADMIN[1]))
        self.assertEqual(self.inbox_bodies(c), [alice_data])

    def test_non_admin_is_refused(self):
        (alice, _), _ = self.user_with_mail('a')
        (bob, _), _ = self.user_with_mail('b')
        c = self.raw_client()
        tagged, _ = c.login('%s*%s' % (alice, bob), 'pw-' + bob)
        self.assertRegex(tagged, r'^a\d+ NO \[AUTHORIZATIONFAILED\] ')
        self.assertEqual(self.audit_rows(alice), [])

    def test_admin_as_admin_is_refused(self):
        c = self.raw_client()
        tagged, _ = c.login('%s*%s' % (ADMIN2[0], ADMIN[0]), ADMIN[1])
        self.assertRegex(tagged, r'^a\d+ NO \[AUTHORIZATIONFAILED\] ')
        self.assertEqual(self.audit_rows(ADMIN2[0]), [])


class SeparatorDisabled(AdminCase):
    config = {'impersonation_separator': '""'}

    def test_separator_is_an_ordinary_character(self):
        (alice, _), _ = self.user_with_mail('a')
        c = self.raw_client()
        tagged, _ = c.login('%s*%s' % (alice, ADMIN[0]), ADMIN[1])
        self.assertRegex(tagged, r'^a\d+ NO \[AUTHENTICATIONFAILED\] ')
        self.assertEqual(self.audit_rows(alice), [])
        # the other routes are unaffected
        c = self.raw_client()
        self.ok(c.cmd('AUTHENTICATE PLAIN %s' % plain(alice, *ADMIN)))


class Audit(AdminCase):
    def impersonate(self, method, target):
        c = self.raw_client()
        if method == 'PROXYAUTH':
            self.ok(c.login(*ADMIN))
            self.ok(c.cmd('PROXYAUTH %s' % target))
        elif method == 'AUTHZID':
            self.ok(c.cmd('AUTHENTICATE PLAIN %s' % plain(target, *ADMIN)))
        else:
            self.ok(c.login('%s*%s' % (target, ADMIN[0]), ADMIN[1]))
        self.ok(c.cmd('NOOP'))
        return c

    def check_route(self, method):
        (target, _), _ = self.user_with_mail('a')
        before = time.time()
        c = self.impersonate(method, target)
        rows = self.audit_rows(target)
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]['end'], '(active)')
        time.sleep(1.1)                  # the end is a later second
        self.ok(c.cmd('LOGOUT'))
        c.close()
        row = self.wait_audit_ended(target, 1)[0]
        # the master records the end when it learns of it, which on a
        # loaded machine can be a second after the client closed
        after = time.time()
        self.assertEqual((row['admin'], row['target'], row['method'],
                          row['client']),
                         (ADMIN[0], target, method, '127.0.0.1'))
        start, end = local_time(row['start']), local_time(row['end'])
        self.assertTrue(int(before) <= start <= end <= after, row)
        self.assertGreater(end, start)
        # the audit log names both identities, at the start and the end
        log = self.server.logtext()
        self.assertIn('impersonation start: admin=%s target=%s method=%s '
                      'client=127.0.0.1 session=%s' %
                      (ADMIN[0], target, method, row['session']), log)
        ends = [l for l in log.splitlines()
                if 'impersonation end:' in l and row['session'] in l]
        self.assertEqual(len(ends), 1, log)
        self.assertIn('admin=%s' % ADMIN[0], ends[0])
        self.assertIn('target=%s' % target, ends[0])
        self.assertRegex(ends[0], r'^audit\[\d+\]: ')

    def test_proxyauth_is_audited(self):
        self.check_route('PROXYAUTH')

    def test_authzid_is_audited(self):
        self.check_route('AUTHZID')

    def test_separator_is_audited(self):
        self.check_route('SEPARATOR')

    def test_dropped_connection_ends_the_row(self):
        (target, _), _ = self.user_with_mail('a')
        c = self.impersonate('SEPARATOR', target)
        c.close()                        # no LOGOUT
        self.wait_audit_ended(target, 1)

    def test_refusals_are_not_audited_as_sessions(self):
        (target, _), _ = self.user_with_mail('a')
        (other, _), _ = self.user_with_mail('b')
        c = self.connect((other, 'pw-' + other))
        self.assertRegex(c.cmd('PROXYAUTH %s' % target)[0], r' NO ')
        c = self.raw_client()
        self.assertRegex(c.login('%s*%s' % (target, other),
                                 'pw-' + other)[0], r' NO ')
        c = self.raw_client()
        tagged, _ = c.cmd('AUTHENTICATE PLAIN %s' %
                          plain(target, other, 'pw-' + other))
        self.assertRegex(tagged, r' NO ')
        self.assertEqual(self.audit_rows(target), [])
        self.assertEqual(self.audit_rows(other), [])

    def test_ordinary_login_is_not_audited(self):
        (target, pw), _ = self.user_with_mail('a')
        c = self.connect((target, 'pw-' + target))
        self.ok(c.cmd('NOOP'))
        self.assertEqual(self.audit_rows(target), [])


class NoSeen(AdminCase):
    config = {'impersonation_no_seen': 'yes'}

    def unseen_after_reading(self, c, target):
        self.select(c, 'INBOX')
        r = c.cmd('FETCH 1 (BODY[] RFC822.TEXT BODY[TEXT])')
        self.ok(r)
        fm = fetch_map(r[1])
        self.assertNotIn('\\Seen', fm[1].get('FLAGS', []))
        self.assertNotIn('\\Seen', fetch_map(self.ok(c.cmd('FETCH 1 FLAGS')))
                         [1]['FLAGS'])
        own = self.connect((target, 'pw-' + target))
        self.select(own, 'INBOX', examine=True)
        flags = fetch_map(self.ok(own.cmd('FETCH 1 FLAGS')))[1]['FLAGS']
        self.assertNotIn('\\Seen', flags)

    def test_proxyauth_reads_leave_seen(self):
        (target, _), _ = self.user_with_mail('a')
        c = self.connect(ADMIN)
        self.ok(c.cmd('PROXYAUTH %s' % target))
        self.unseen_after_reading(c, target)

    def test_separator_reads_leave_seen(self):
        (target, _), _ = self.user_with_mail('a')
        c = self.raw_client()
        self.ok(c.login('%s*%s' % (target, ADMIN[0]), ADMIN[1]))
        self.unseen_after_reading(c, target)

    def test_authzid_reads_leave_seen(self):
        (target, _), _ = self.user_with_mail('a')
        c = self.raw_client()
        self.ok(c.cmd('AUTHENTICATE PLAIN %s' % plain(target, *ADMIN)))
        self.unseen_after_reading(c, target)

    def test_the_user_still_sets_seen(self):
        (target, _), _ = self.user_with_mail('a')
        c = self.connect((target, 'pw-' + target))
        self.select(c, 'INBOX')
        fm = fetch_map(self.ok(c.cmd('FETCH 1 BODY[]')))
        self.assertIn('\\Seen', fm[1]['FLAGS'])


class OverTLS(AdminCase):
    """PROXYAUTH on a TLS connection: the socket handed back and passed to
    the target's process is the relay's socketpair, not the TCP one."""

    @classmethod
    def setUpClass(cls):
        from test_tls import HAVE_CERTTOOL, make_cert
        if not HAVE_CERTTOOL:
            raise unittest.SkipTest('certtool (gnutls-bin) is not installed')
        cls.tls_port = free_port()
        cls.server = Server(admins=cls.admins, start=False)
        cls.cert, key = make_cert(cls.server.tmp, 'server')
        with open(cls.server.conf, 'a') as f:
            f.write('listen_tls = 127.0.0.1:%d\ntls_cert = %s\n'
                    'tls_key = %s\n' % (cls.tls_port, cls.cert, key))
        cls.server.start()

    def tls_client(self, implicit):
        from test_tls import TLSClient, context
        c = TLSClient(self.tls_port if implicit else self.server.port,
                      context(self.cert))
        self.addCleanup(c.close)
        if implicit:
            c.connect_tls()
        else:
            c.connect()
            c.starttls()
        return c

    def check(self, implicit):
        (alice, _), alice_data = self.user_with_mail('over tls')
        c = self.tls_client(implicit)
        self.ok(c.login(*ADMIN))
        c.send('p1 PROXYAUTH %s\r\np2 NOOP\r\n' % alice)
        self.assertRegex(c.read_until_tagged('p1')[0],
                         r'^p1 OK \[CAPABILITY IMAP4rev1 ')
        self.assertRegex(c.read_until_tagged('p2')[0], r'^p2 OK ')
        self.assertEqual(self.inbox_bodies(c), [alice_data])
        self.ok(c.cmd('LOGOUT'))
        c.close()
        row = self.wait_audit_ended(alice, 1)[0]
        self.assertEqual((row['admin'], row['method'], row['client']),
                         (ADMIN[0], 'PROXYAUTH', '127.0.0.1'))

    def test_proxyauth_after_starttls(self):
        self.check(implicit=False)

    def test_proxyauth_on_implicit_tls(self):
        self.check(implicit=True)


class SeenByDefault(AdminCase):
    def test_impersonated_read_sets_seen(self):
        (target, _), _ = self.user_with_mail('a')
        c = self.connect(ADMIN)
        self.ok(c.cmd('PROXYAUTH %s' % target))
        self.select(c, 'INBOX')
        fm = fetch_map(self.ok(c.cmd('FETCH 1 BODY[]')))
        self.assertIn('\\Seen', fm[1]['FLAGS'])


if __name__ == '__main__':
    unittest.main(verbosity=2)
