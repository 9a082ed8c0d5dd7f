#!/usr/bin/env python3
"""test_runcluster.py - etc/run-cluster.sh, driven as an operator would.

`sh etc/run-cluster.sh --dir D --background` starts a slapd, nginx with
the mail module and two backends (tests/e2e/clusterharness.py); the
test reads D/cluster.json and, with every client coming from 127.0.0.5
through nginx's one IMAP port:
  * users of both backends log in and land on their own backend (their
    store is made there and only there), seen from the client's address;
  * an administrator acts as a user of the other backend (LOGIN
    bob*boss): nginx is sent to bob's backend, whose audit trail has it;
  * PROXYAUTH to a user of another backend (dave) is referred there
    (NO [REFERRAL]), and served when the administrator follows it;
  * a folder of alice's (b1) shared with bob (b2) works for bob through
    nginx, over the link between the backends;
  * LMTP delivers to both backends, at each one's own port and relayed
    through the other's;
  * a user moved with `--move` (mailkeepctl move, mailHost in LDAP, a
    reload) keeps their mail and their login through nginx, and LMTP
    at either port reaches them on the new backend; so does one moved
    with mailkeepctl move alone, LDAP not changed yet; one who has no
    mail yet only gets a new mailHost;
  * `--stop D` ends every process and removes D.
Skipped, with the reason printed, where slapd or nginx cannot run.
"""
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clusterharness  # noqa: E402
from mkharness import Client, alive, run_ctl, wait_for  # noqa: E402
from test_move import lmtp_send  # noqa: E402

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
SCRIPT = os.path.join(TOP, 'etc', 'run-cluster.sh')
CLIENT = '127.0.0.5'


def script(*args, check=True):
    p = subprocess.run(['sh', SCRIPT] + list(args), capture_output=True,
                       text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError('run-cluster.sh %s: exit %d\n%s%s' % (
            ' '.join(args), p.returncode, p.stdout, p.stderr))
    return p


def new_dir():
    """A path for --dir that does not exist yet, under /tmp (searchable
    by the users' uids)."""
    return os.path.join(tempfile.gettempdir(),
                        'mk-runcluster-' + secrets.token_hex(4))


def start_cluster(case):
    why = clusterharness.skip_reason()
    if why is not None:
        print('SKIP test_runcluster: %s' % why, file=sys.stderr)
        raise unittest.SkipTest(why)
    d = new_dir()
    p = script('--dir', d, '--background', check=False)
    if p.returncode == 77:
        print('SKIP test_runcluster: %s' % p.stderr.strip(), file=sys.stderr)
        raise unittest.SkipTest(p.stderr.strip())
    if p.returncode != 0:
        raise AssertionError('run-cluster.sh: exit %d\n%s%s' % (
            p.returncode, p.stdout, p.stderr))
    return d, p.stdout


class Cluster(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir, cls.banner = start_cluster(cls)
        cls.addClassCleanup(script, '--stop', cls.dir, check=False)
        cls.reload_state()

    @classmethod
    def reload_state(cls):
        with open(os.path.join(cls.dir, 'cluster.json')) as f:
            cls.state = json.load(f)
        cls.users = cls.state['users']

    # -- what the tests use --

    def pw(self, user):
        return self.users[user]['password']

    def imap(self, login, pw, port=None):
        """(client, tagged reply) of a LOGIN through nginx (or port)."""
        c = Client(port or self.state['nginx']['port'], source=CLIENT,
                   timeout=20)
        c.connect()
        tagged, _ = c.login(login, pw)
        self.addCleanup(c.close)
        return c, tagged

    def session(self, user):
        c, tagged = self.imap(user, self.pw(user))
        self.assertIn(' OK', tagged, self.errlog())
        return c

    def subjects(self, user):
        c = self.session(user)
        c.cmd('SELECT INBOX')
        _, lines = c.cmd('UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS '
                         '(SUBJECT)])')
        c.cmd('LOGOUT')
        return re.findall(r'Subject: (\S+)', '\n'.join(lines))

    def lmtp(self, backend, rcpt, subject):
        """One delivery at backend's LMTP port: 250, or the refusal."""
        return lmtp_send(self.state['backends'][backend]['lmtp'], rcpt,
                         subject)

    def backend_log(self, name):
        with open(self.state['backends'][name]['log'], 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def errlog(self):
        with open(self.state['nginx']['log']) as f:
            return f.read()[-2000:]

    def has_store(self, backend, user):
        return os.path.isdir(os.path.join(
            self.state['backends'][backend]['tmp'], 'instance', 'data',
            'users', user))

    # -- the checks --

    def test_banner_says_how_to_connect(self):
        self.assertIn('127.0.0.1 port %d' % self.state['nginx']['port'],
                      self.banner)
        for n, u in self.users.items():
            self.assertRegex(self.banner, r'%s +%s +%s' % (
                n, u['password'], u['backend']))
        for b in self.state['backends'].values():
            self.assertIn('LMTP %d' % b['lmtp'], self.banner)
        self.assertIn('--stop %s' % self.dir, self.banner)

    def test_users_of_both_backends_log_in_through_nginx(self):
        for user, home, other in (('alice', 'b1', 'b2'),
                                  ('bob', 'b2', 'b1')):
            c = self.session(user)
            self.assertIn(' OK', c.cmd('SELECT INBOX')[0])
            c.cmd('LOGOUT')
            self.assertTrue(self.has_store(home, user))
            self.assertFalse(self.has_store(other, user))
            wait_for(lambda: 'user %s logged in from %s' % (user, CLIENT)
                     in self.backend_log(home), what=user + ' on ' + home)
        c, tagged = self.imap('bob', 'wrong')
        self.assertIn(' NO', tagged)

    def test_admin_acts_as_user_of_other_backend(self):
        """boss lives on b1; bob*boss through nginx is served by b2."""
        c, tagged = self.imap('bob*boss', self.pw('boss'))
        self.assertIn(' OK', tagged, self.errlog())
        self.assertIn(' OK', c.cmd('SELECT INBOX')[0])
        c.cmd('LOGOUT')
        wait_for(lambda: 'impersonation end: admin=boss target=bob' in
                 self.backend_log('b2'), what='the audit trail on b2')
        self.assertIn('impersonation start: admin=boss target=bob '
                      'method=SEPARATOR client=%s' % CLIENT,
                      self.backend_log('b2'))
        self.assertNotIn('target=bob', self.backend_log('b1'))
        self.assertFalse(self.has_store('b1', 'bob'))

    def test_proxyauth_to_user_of_other_backend(self):
        """PROXYAUTH dave (held by b2) in boss's session on b1 is referred
        to b2 (RFC 2221, doc/cluster.md) as dave*boss, which b2 serves;
        no store of dave's is made on b1."""
        c = self.session('boss')
        tagged, _ = c.cmd('PROXYAUTH dave')
        b2 = self.state['backends']['b2']['imap']
        self.assertIn('NO [REFERRAL imap://dave%%2Aboss@127.0.0.1:%d/]' % b2,
                      tagged)
        # the administrator's own session goes on
        self.assertIn(' OK', c.cmd('SELECT INBOX')[0])
        c.cmd('LOGOUT')
        self.assertFalse(self.has_store('b1', 'dave'))
        # followed, the referral is served on b2, and audited there
        c, tagged = self.imap('dave*boss', self.pw('boss'), port=b2)
        self.assertIn(' OK', tagged)
        self.assertIn(' OK', c.cmd('SELECT INBOX')[0])
        c.cmd('LOGOUT')
        wait_for(lambda: 'impersonation start: admin=boss target=dave '
                 'method=SEPARATOR' in self.backend_log('b2'),
                 what='the audit trail on b2')
        self.assertFalse(self.has_store('b1', 'dave'))

    def test_folder_shared_across_backends(self):
        """alice (b1) shares Proj with bob (b2): bob, through nginx on
        b2, lists, reads and (with 'lrsw') flags it; alice sees it."""
        a = self.session('alice')
        self.assertIn(' OK', a.cmd('CREATE Xshare')[0])
        msg = ('From: alice@example.org\r\nSubject: across\r\n\r\n'
               'shared across backends\r\n')
        tagged, _ = a.append('Xshare', msg)
        self.assertIn(' OK', tagged)
        self.assertIn(' OK', a.cmd('SETACL Xshare bob lrsw')[0])
        name = '"Other Users/alice/Xshare"'
        b = self.session('bob')
        wait_for(lambda: name in '\n'.join(b.cmd('LIST "" "*"')[1]),
                 what="alice's folder in bob's LIST on b2")
        self.assertIn(' OK', b.cmd('SELECT %s' % name)[0])
        _, lines = b.cmd('FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
        self.assertIn('Subject: across', '\n'.join(lines))
        self.assertIn(' OK', b.cmd('STORE 1 +FLAGS (\\Flagged)')[0])
        self.assertIn(' NO', b.cmd('EXPUNGE')[0])  # no 'e' right
        b.cmd('LOGOUT')
        self.assertIn(' OK', a.cmd('SELECT Xshare')[0])
        _, lines = a.cmd('FETCH 1 FLAGS')
        self.assertIn('\\Flagged', '\n'.join(lines))
        a.cmd('LOGOUT')
        wait_for(lambda: 'user=alice by=bob' in self.backend_log('b1'),
                 what="bob's guest session in alice's process on b1")
        self.assertFalse(self.has_store('b2', 'alice'))

    def test_lmtp_delivers_to_both_backends(self):
        """alice (b1) and bob (b2), each at their own backend's LMTP and
        at the other's, which relays."""
        for user in ('alice', 'bob'):
            for port_of in ('b1', 'b2'):
                self.assertEqual(self.lmtp(port_of, user, 'to-%s-at-%s' %
                                           (user, port_of)), 250)
        for user, home, other in (('alice', 'b1', 'b2'),
                                  ('bob', 'b2', 'b1')):
            got = self.subjects(user)
            for port_of in ('b1', 'b2'):
                self.assertEqual(got.count('to-%s-at-%s' % (user, port_of)),
                                 1, got)
            # relayed: the other backend holds no store of the user
            self.assertFalse(self.has_store(other, user))
        self.assertEqual(self.lmtp('b1', 'nobody', 'x'), 550)

    def test_moved_user_keeps_working(self):
        """carol: b1 -> b2 with --move; her mail and her login follow."""
        self.assertEqual(self.lmtp('b2', 'carol', 'carol-before'), 250)
        self.assertEqual(self.subjects('carol'), ['carol-before'])
        p = script('--dir', self.dir, '--move', 'carol', 'b2')
        self.assertIn('moved to b2', p.stdout)
        self.reload_state()
        self.assertEqual(self.users['carol']['backend'], 'b2')
        self.assertEqual(self.lmtp('b1', 'carol', 'carol-after-b1'), 250)
        self.assertEqual(self.lmtp('b2', 'carol', 'carol-after-b2'), 250)
        self.assertEqual(self.subjects('carol'),
                         ['carol-before', 'carol-after-b1', 'carol-after-b2'])
        wait_for(lambda: 'user carol logged in from %s' % CLIENT in
                 self.backend_log('b2'), what='carol served by b2')
        # b1 refers a direct login there
        c, tagged = self.imap('carol', self.pw('carol'),
                              port=self.state['backends']['b1']['imap'])
        self.assertIn('NO [REFERRAL imap://carol@127.0.0.1:%d/]' %
                      self.state['backends']['b2']['imap'], tagged)

    def test_move_before_ldap_changes(self):
        """erin: b2 -> b1 with mailkeepctl move alone; LDAP still says
        b2, and both backends have it cached.  A backend with a store
        keeps its row's backend (b2's old store is never served again,
        b1 never refers erin back), so nothing waits for the LDAP
        change."""
        self.assertEqual(self.lmtp('b1', 'erin', 'erin-before'), 250)
        self.assertEqual(self.subjects('erin'), ['erin-before'])
        src = self.state['backends']['b2']['conf']
        p = run_ctl(src, 'move', 'erin', 'b1', check=False)
        self.assertIn('moved to b1', p.stdout, p.stderr)
        for at in ('b1', 'b2'):
            self.assertEqual(self.lmtp(at, 'erin', 'erin-at-' + at), 250)
        self.assertEqual(self.subjects('erin'),
                         ['erin-before', 'erin-at-b1', 'erin-at-b2'])
        wait_for(lambda: 'user erin logged in from %s' % CLIENT in
                 self.backend_log('b1'), what='erin served by b1')
        self.assertIn('LDAP user erin: mailHost says b2, the row b1, and a '
                      'store is here', self.backend_log('b2'))

    def test_move_of_user_without_mail(self):
        """fred never logged in: no row, no store; --move only changes
        mailHost, and his first login lands on b2."""
        p = script('--dir', self.dir, '--move', 'fred', 'b2')
        self.assertIn('fred has no mail on b1 yet: only mailHost changes',
                      p.stdout)
        self.assertIn(' OK', self.session('fred').cmd('SELECT INBOX')[0])
        self.assertTrue(self.has_store('b2', 'fred'))
        self.assertFalse(self.has_store('b1', 'fred'))


class Lifecycle(unittest.TestCase):

    def test_stop_ends_everything(self):
        d, _ = start_cluster(self)
        try:
            with open(os.path.join(d, 'cluster.json')) as f:
                pids = json.load(f)['pids']
            self.assertEqual(sorted(pids), ['mailkeepd-b1', 'mailkeepd-b2',
                                            'nginx', 'slapd'])
            for pid in pids.values():
                self.assertTrue(alive(pid))
            # a directory that exists is not taken over
            p = script('--dir', d, '--background', check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('exists: give a new directory', p.stderr)
        finally:
            p = script('--stop', d, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(d))
        for pid in pids.values():
            wait_for(lambda: not alive(pid), what='%d gone' % pid)


if __name__ == '__main__':
    unittest.main()
