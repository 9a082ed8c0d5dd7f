#!/usr/bin/env python3
"""test_cluster.py - a backend of a cluster refers users it does not hold.

A server named b1 in a cluster of b1 and b2 (backend_name, backend lines)
holds alice; bob's directory row names b2 (mailkeepctl useradd --backend,
mailkeepctl backend).  Before login it advertises LOGIN-REFERRALS (RFC
2221); a single machine does not.  bob's right password gets NO
[REFERRAL imap://bob@HOST:PORT/] (";AUTH=PLAIN" after AUTHENTICATE), the
connection stays usable, and no mailbox process or store is made for
him; a wrong password gets the usual failure, with nothing about where
bob lives.  An administrator acting as bob is referred to bob's backend
with the login to use there.  mailkeepctl refuses undeclared backends,
and moving bob's row back to b1 lets him in.
"""
import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Server, free_port  # noqa: E402


def plain(authz, user, pw):
    return base64.b64encode(('%s\0%s\0%s' % (authz, user, pw))
                            .encode()).decode()


class Referral(unittest.TestCase):

    def setUp(self):
        self.b2port = free_port()
        s = Server(users={'alice': 'pw-a'}, admins=['boss'], start=False,
                   config={'backend_name': 'b1'})
        self.addCleanup(s.cleanup)
        s.configure({'backend': 'b1 127.0.0.1 %d' % s.port})
        s.configure({'backend': 'b2 127.0.0.1 %d 24 0' % self.b2port})
        s.ctl('useradd', 'bob', '--password-stdin', '--backend', 'b2',
              stdin='pw-b\n')
        s.start()
        self.addCleanup(s.stop)
        self.server = s

    def test_capability(self):
        c = self.server.client()
        _, untagged = c.cmd('CAPABILITY')
        self.assertIn('LOGIN-REFERRALS', untagged[0].split())
        c.close()

    def test_right_password_is_referred(self):
        c = self.server.client()
        tagged, _ = c.login('bob', 'pw-b')
        self.assertIn(' NO [REFERRAL imap://bob@127.0.0.1:%d/] '
                      % self.b2port, tagged)
        tagged, _ = c.cmd('AUTHENTICATE PLAIN %s' % plain('', 'bob', 'pw-b'))
        self.assertIn(' NO [REFERRAL imap://bob;AUTH=PLAIN@127.0.0.1:%d/]'
                      % self.b2port, tagged)
        # the connection stays usable: alice logs in on it
        tagged, _ = c.login('alice', 'pw-a')
        self.assertIn(' OK', tagged)
        c.cmd('LOGOUT')
        c.close()
        # no store, no process was made for bob
        self.assertFalse(os.path.exists(
            os.path.join(self.server.data_dir, 'users', 'bob')))
        self.assertIn('referred to backend b2', self.server.logtext())

    def test_wrong_password_reveals_nothing(self):
        c = self.server.client()
        tagged, _ = c.login('bob', 'wrong')
        self.assertIn(' NO [AUTHENTICATIONFAILED]', tagged)
        self.assertNotIn('REFERRAL', tagged)
        self.assertNotIn('b2', tagged)
        c.close()

    def test_admin_acting_as_remote_user(self):
        c = self.server.client()
        tagged, _ = c.login('bob*boss', 'secret-boss')
        self.assertIn('[REFERRAL imap://bob%%2Aboss@127.0.0.1:%d/]'
                      % self.b2port, tagged)
        c.close()

    def test_ctl_backend(self):
        s = self.server
        self.assertEqual(s.ctl('backend', 'bob').stdout.strip(), 'b2')
        self.assertEqual(s.ctl('backend', 'alice').stdout.strip(), 'b1')
        p = s.ctl('backend', 'bob', 'b9', check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('b9 is not declared', p.stderr)
        p = s.ctl('useradd', 'carol', '--password-stdin', '--backend', 'b9',
                  stdin='pw-c\n', check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('b9 is not declared', p.stderr)
        self.assertNotEqual(s.ctl('backend', 'nobody', 'b2',
                                  check=False).returncode, 0)
        # back on this backend: bob gets a session
        s.ctl('backend', 'bob', 'b1')
        self.assertEqual(s.ctl('backend', 'bob').stdout.strip(), 'b1')
        c = s.client(login=('bob', 'pw-b'))
        c.cmd('LOGOUT')
        c.close()


class SingleMachine(unittest.TestCase):

    def test_no_referrals_advertised_or_settable(self):
        with Server(users={'alice': 'pw-a'}) as s:
            c = s.client()
            _, untagged = c.cmd('CAPABILITY')
            self.assertNotIn('LOGIN-REFERRALS', untagged[0])
            c.close()
            p = s.ctl('backend', 'alice', 'b2', check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('declares no backends', p.stderr)
            self.assertIn('this server', s.ctl('backend', 'alice').stdout)


if __name__ == '__main__':
    unittest.main()
