"""test_xshare.py - shared folders across backends, and PROXYAUTH to a
user of another backend (doc/cluster.md).

Two mailkeepd instances on loopback, b1 and b2, with the real link
between backends (cluster certificates made by certtool, as in
test_move.py).  alice is held by b2; bob, carol and the administrator
root1 by b1.  alice shares Proj with bob:

  * her SETACL reaches b1's share index over the link: bob's LIST on b1
    shows Other Users/alice/Proj, and her DELETEACL takes it away;
  * bob selects, fetches, searches, stores and appends there through a
    guest stream (b1 dials b2, b2's master checks its own index, alice's
    process checks her ACL); MYRIGHTS answers his rights;
  * "lr" cannot STORE; a revoked share refuses a new SELECT;
  * bob's IDLE sees alice's APPEND;
  * no share, no such user, b2 down, b2 going away under an open stream:
    refusals, and bob's session goes on;
  * PROXYAUTH to alice on b1 answers NO [REFERRAL imap://...b2...];
  * the link processes of a stream are confined as link processes are.
"""
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import HOST, Server, free_port, is_root, wait_for  # noqa: E402
from mkimap import message  # noqa: E402
from test_keyholder import comm  # noqa: E402
from test_move import HAVE_CERTTOOL, make_ca, make_cert  # noqa: E402

PROJ = '"Other Users/alice/Proj"'
USERS = {'alice': 'alice pw', 'bob': 'bob pw', 'carol': 'carol pw',
         'root1': 'root1 pw'}
HOME = {'alice': 'b2', 'bob': 'b1', 'carol': 'b1', 'root1': 'b1'}


@unittest.skipUnless(HAVE_CERTTOOL, 'certtool (gnutls-bin) not installed')
class CrossBackendShareTest(unittest.TestCase):
    def setUp(self):
        self.certs = tempfile.mkdtemp(prefix='mk-xshare-')
        self.addCleanup(shutil.rmtree, self.certs, True)
        ca = make_ca(self.certs, 'cluster-ca')
        ports = {n: free_port() for n in ('b1', 'b2')}
        self.servers = {}
        for n in ('b1', 'b2'):
            s = Server(users=USERS, admins=['root1'], start=False)
            self.addCleanup(s.cleanup)
            self.servers[n] = s
        for n, s in self.servers.items():
            crt, key = make_cert(self.certs, n, ca)
            s.configure({'backend_name': n, 'cluster_cert': crt,
                         'cluster_key': key, 'cluster_ca': ca[0],
                         'cluster_listen': '%s:%d' % (HOST, ports[n])})
            for o, os_ in self.servers.items():
                s.configure({'backend': '%s %s %d 0 %d' % (
                    o, HOST, os_.port, ports[o])})
            for user, home in HOME.items():
                if home != n:
                    s.ctl('backend', user, home)
        for s in self.servers.values():
            s.start()
        self.b1, self.b2 = self.servers['b1'], self.servers['b2']
        self.alice = self.b2.client(login=('alice', USERS['alice']))
        self.assertIn(' OK', self.alice.cmd('CREATE Proj')[0])
        for i in range(3):
            self.assertIn(' OK', self.alice.append(
                'Proj', message(subject='proj-%d' % i))[0])

    def tearDown(self):
        for s in self.servers.values():
            if s.proc is not None and s.proc.poll() is None:
                s.check_log()

    def bob(self, server=None):
        return (server or self.b1).client(login=('bob', USERS['bob']))

    def share(self, rights):
        if rights:
            tagged, _ = self.alice.cmd('SETACL Proj bob %s' % rights)
        else:
            tagged, _ = self.alice.cmd('DELETEACL Proj bob')
        self.assertIn(' OK', tagged)

    def listed(self, c):
        _, untagged = c.cmd('LIST "" "*"')
        return any('Other Users/alice/Proj' in l for l in untagged)

    def wait_listed(self, c, want=True):
        wait_for(lambda: self.listed(c) == want, timeout=10,
                 what='Proj %slisted on b1' % ('' if want else 'not '))

    # ---- the share index follows, and the guest stream works ----

    def test_grantee_on_other_backend_works_in_the_folder(self):
        bob = self.bob()
        self.assertFalse(self.listed(bob))
        self.share('lrswi')
        self.wait_listed(bob)
        _, untagged = bob.cmd('MYRIGHTS %s' % PROJ)
        self.assertTrue(any(re.search(r'MYRIGHTS .*Proj"? lrswi', l)
                            for l in untagged), untagged)
        tagged, untagged = bob.cmd('SELECT %s' % PROJ)
        self.assertIn(' OK [READ-WRITE]', tagged)
        self.assertIn('* 3 EXISTS', untagged)
        tagged, untagged = bob.cmd('FETCH 2 (BODY.PEEK[HEADER.FIELDS '
                                   '(SUBJECT)])')
        self.assertIn(' OK', tagged)
        self.assertIn('proj-1', '\n'.join(untagged))
        tagged, untagged = bob.cmd('SEARCH SUBJECT proj-2')
        self.assertIn('* SEARCH 3', untagged)
        self.assertIn(' OK', bob.cmd('STORE 1 +FLAGS (\\Flagged)')[0])
        tagged, _ = bob.append(PROJ.strip('"'), message(subject='from-bob'))
        self.assertIn(' OK', tagged)
        # GETACL needs "a": the owner's process says no
        self.assertIn(' NO', bob.cmd('GETACL %s' % PROJ)[0])
        # alice sees what bob did, in her own store on b2
        self.alice.cmd('SELECT Proj')
        _, untagged = self.alice.cmd('FETCH 1:* (FLAGS BODY.PEEK[HEADER.'
                                     'FIELDS (SUBJECT)])')
        text = '\n'.join(untagged)
        self.assertIn('from-bob', text)
        self.assertRegex(untagged[0], r'\\Flagged')
        self.assertIn('opened a channel to alice', self.b2.logtext())
        bob.close()

    def test_read_only_grantee_cannot_store_and_revoke_holds(self):
        bob = self.bob()
        self.share('lr')
        self.wait_listed(bob)
        tagged, _ = bob.cmd('SELECT %s' % PROJ)
        self.assertIn(' OK [READ-ONLY]', tagged)
        tagged, _ = bob.cmd('STORE 1 +FLAGS (\\Flagged)')
        self.assertIn(' NO', tagged)
        tagged, _ = bob.append(PROJ.strip('"'), message(subject='nope'))
        self.assertIn(' NO', tagged)
        bob.cmd('CLOSE')
        self.share('')
        self.wait_listed(bob, False)
        c = self.bob()
        tagged, _ = c.cmd('SELECT %s' % PROJ)
        self.assertIn(' NO [NONEXISTENT]', tagged)
        self.assertIn(' OK', c.cmd('NOOP')[0])
        c.close()
        bob.close()

    def test_b2_checks_its_own_index(self):
        """b1's index says bob may (written behind b2's back); b2's does
        not: refused there, and bob's session goes on."""
        db = sqlite3.connect(os.path.join(self.b1.data_dir, 'directory.db'),
                             timeout=10)
        db.execute("INSERT INTO shares SELECT id, 'Proj', 'bob', 'lr' "
                   "FROM users WHERE name = 'alice'")
        db.commit()
        db.close()
        bob = self.bob()
        self.assertTrue(self.listed(bob))
        tagged, _ = bob.cmd('SELECT %s' % PROJ)
        self.assertIn(' NO', tagged)
        self.assertIn(' OK', bob.cmd('NOOP')[0])
        self.assertIn('shares nothing with the grantee', self.b2.logtext())
        bob.close()

    def test_idle_sees_the_owners_append(self):
        self.share('lr')
        bob = self.bob()
        self.wait_listed(bob)
        bob.cmd('SELECT %s' % PROJ)
        bob.send(b'i1 IDLE\r\n')
        self.assertTrue(bob.readline(5).startswith('+'))
        self.alice.append('Proj', message(subject='while-idle'))
        line = bob.readline(10)
        self.assertEqual(line.strip(), '* 4 EXISTS')
        bob.send(b'DONE\r\n')
        tagged, _ = bob.read_until_tagged('i1')
        self.assertIn('i1 OK', tagged)
        bob.close()

    # ---- refusals ----

    def test_refusals_leave_the_session_usable(self):
        self.share('lr')
        carol = self.b1.client(login=('carol', USERS['carol']))
        tagged, _ = carol.cmd('SELECT %s' % PROJ)
        self.assertIn(' NO [NONEXISTENT]', tagged)
        tagged, _ = carol.cmd('SELECT "Other Users/nobody/x"')
        self.assertIn(' NO [NONEXISTENT]', tagged)
        self.assertIn(' OK', carol.cmd('SELECT INBOX')[0])
        carol.close()
        # b2 going away under an open stream, then b2 down
        bob = self.bob()
        self.wait_listed(bob)
        self.assertIn(' OK', bob.cmd('SELECT %s' % PROJ)[0])
        self.alice.close()
        self.b2.stop()
        tagged, untagged = bob.cmd('FETCH 1 (FLAGS)')
        self.assertIn(' NO [UNAVAILABLE]', tagged)
        self.assertFalse([l for l in untagged if 'BYE' in l], untagged)
        tagged, _ = bob.cmd('SELECT %s' % PROJ)
        self.assertIn(' NO [UNAVAILABLE]', tagged)
        self.assertIn(' OK', bob.cmd('SELECT INBOX')[0])
        self.assertIn(' OK', bob.cmd('NOOP')[0])
        bob.close()

    def restart_with(self, server, config):
        server.stop()
        server.configure(config)
        server.start()

    def limited(self, refuser, log_line):
        """bob's second stream is refused (NO [LIMIT]) by refuser, his
        session goes on, and once the first is gone a stream is had."""
        first, second = self.bob(), self.bob()
        self.assertIn(' OK', first.cmd('SELECT %s' % PROJ)[0])
        tagged, _ = second.cmd('SELECT %s' % PROJ)
        self.assertIn(' NO [LIMIT]', tagged)
        self.assertIn(' OK', second.cmd('SELECT INBOX')[0])
        self.assertIn(log_line, refuser.logtext())
        first.close()
        wait_for(lambda: ' OK' in second.cmd('EXAMINE %s' % PROJ)[0],
                 timeout=10, what='a stream once the first is gone')
        second.close()

    def test_streams_are_bounded_per_user_on_both_backends(self):
        self.share('lr')
        self.wait_listed(self.bob())
        self.alice.close()
        # the owner's backend counts the grantee's sessions there
        self.restart_with(self.b2, {'max_guest_channels': '1'})
        self.limited(self.b2, 'has max_guest_channels open here')
        # the grantee's backend counts its streams out
        self.restart_with(self.b1, {'max_guest_channels': '1'})
        self.limited(self.b1, '(max_guest_channels)')

    def test_owner_backend_restart_passes_entries_on_again(self):
        """An entry acknowledged by alice's SETACL while bob's backend is
        down waits in b2's memory; b2 restarts before b1 is back: at its
        start b2 passes its owners' entries on again."""
        self.b1.stop()
        self.share('lr')
        self.alice.close()
        self.b2.stop()
        self.b2.start()
        self.b1.start()
        self.wait_listed(self.bob())
        wait_for(lambda: 'share entry of this backend' in self.b2.logtext()
                 or 'share entries of this backend' in self.b2.logtext(),
                 what='the entries looked at again at start')

    def test_ctl_acl_reaches_the_peer_at_reload(self):
        """mailkeepctl acl writes b2's index without the daemon; b2's
        reload passes its entries on again, so b1 lists the folder."""
        # no process of alice's runs (it would take the change itself)
        self.alice.close()
        self.restart_with(self.b2, {'mailbox_linger': '0'})
        # past the pass made 2 s after the start
        time.sleep(3)
        bob = self.bob()
        self.b2.ctl('acl', 'alice', 'Proj', 'bob', 'lr')
        time.sleep(1)
        self.assertFalse(self.listed(bob))
        self.b2.ctl('reload')
        self.wait_listed(bob)

    # ---- PROXYAUTH ----

    def test_proxyauth_to_another_backend_is_referred(self):
        c = self.b1.client(login=('root1', USERS['root1']))
        tagged, _ = c.cmd('PROXYAUTH alice')
        # root1 is held by b1, so b2 would refer root1's own login back:
        # the URL logs in as alice*root1, which b2 serves
        self.assertRegex(tagged, r'NO \[REFERRAL imap://alice%%2Aroot1@%s:%d/\]'
                         % (re.escape(HOST), self.b2.port))
        self.assertIn(' OK', c.cmd('NOOP')[0])
        # a user of this backend still works
        tagged, _ = c.cmd('PROXYAUTH bob')
        self.assertIn(' OK', tagged)
        c.close()
        # followed, the referral gives alice's session on b2
        c = self.b2.client(login=('alice*root1', USERS['root1']))
        self.assertIn(' OK', c.cmd('SELECT Proj')[0])
        c.close()
        wait_for(lambda: 'impersonation start: admin=root1 target=alice '
                 'method=SEPARATOR' in self.b2.logtext(),
                 what="the audit row on alice's backend")

    def test_proxyauth_referral_without_a_separator(self):
        """With impersonation_separator "" the referral asks for SASL
        PLAIN with alice as authorization identity."""
        self.restart_with(self.b1, {'impersonation_separator': '""'})
        c = self.b1.client(login=('root1', USERS['root1']))
        tagged, _ = c.cmd('PROXYAUTH alice')
        self.assertRegex(tagged, r'NO \[REFERRAL imap://root1;AUTH=PLAIN@'
                         r'%s:%d/\] .*authorization identity alice'
                         % (re.escape(HOST), self.b2.port))
        c.close()

    # ---- confinement ----

    @unittest.skipUnless(is_root(), 'uids and chroots: root')
    def test_stream_link_processes_are_confined(self):
        self.share('lr')
        bob = self.bob()
        self.wait_listed(bob)
        self.assertIn(' OK', bob.cmd('SELECT %s' % PROJ)[0])
        for s in (self.b1, self.b2):
            links = wait_for(lambda: [p for p in s.children()
                                      if comm(p) == 'mk-link'],
                             what='mk-link')
            for pid in links:
                with open('/proc/%d/status' % pid) as f:
                    st = dict(l.split(':', 1) for l in f.read().splitlines()
                              if ':' in l)
                uid = str(s.uid_of('mailkeep-login'))
                self.assertEqual(st['Uid'].split(), [uid] * 4)
                self.assertEqual(st['Seccomp'].strip(), '2')
                self.assertEqual(os.readlink('/proc/%d/root' % pid),
                                 s.path('empty'))
                fds = [os.readlink('/proc/%d/fd/%s' % (pid, fd))
                       for fd in os.listdir('/proc/%d/fd' % pid)]
                self.assertFalse([t for t in fds if '.db' in t], fds)
        bob.close()


if __name__ == '__main__':
    unittest.main()
