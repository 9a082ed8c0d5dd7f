#!/usr/bin/env python3
"""test_authcache.py - the master's verified-credentials cache, end to end.

With the cache on (the default), a second login with the same user and
password is decided without a hash worker: the master logs it at debug
level ("verified by the cache") and not "goes to the hash workers", and
(as root, where the workers are found by uid) no hash worker even wakes
up: their context-switch counters do not move.  mailkeepctl passwd makes
the old password fail at the very next login and the new one work;
userdel makes the login fail; taking the admin flag away ends a cached
administrator's impersonation; no signal to the daemon is involved.
auth_cache_ttl = 0, at start or by a reload, makes every login hashed.
"""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Server, is_root  # noqa: E402

HASHED = 'goes to the hash workers'
CACHED = 'verified by the cache'


def ctx_switches(pid):
    """Voluntary + involuntary context switches of pid so far."""
    n = 0
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(('voluntary_ctxt_switches',
                                'nonvoluntary_ctxt_switches')):
                n += int(line.split()[1])
    return n


class Cache(unittest.TestCase):

    def setUp(self):
        self.server = Server(users={'alice': 'pw-a', 'bob': 'pw-b'},
                             admins=['boss'], config={'verbose': 1})
        self.addCleanup(self.server.cleanup)
        self.addCleanup(self.server.stop)

    def counts(self):
        log = self.server.logtext()
        return log.count(HASHED), log.count(CACHED)

    def login(self, user, pw):
        """LOGIN on a fresh connection; the tagged answer."""
        c = self.server.client()
        try:
            tagged, _ = c.login(user, pw)
            if ' OK' in tagged:
                c.cmd('LOGOUT')
            return tagged
        finally:
            c.close()

    def assert_login(self, user, pw, ok, hashed):
        """Logs in; checks the verdict and whether a worker was asked."""
        h0, c0 = self.counts()
        tagged = self.login(user, pw)
        if ok:
            self.assertRegex(tagged, r' OK ', tagged)
        else:
            self.assertRegex(tagged, r' NO ', tagged)
        # the debug lines are written before the verdict is sent
        h1, c1 = self.counts()
        self.assertEqual((h1 - h0, c1 - c0), (1, 0) if hashed else (0, 1),
                         '%s/%s: %s\n%s' % (user, pw, tagged,
                                            self.server.logtext()[-3000:]))

    def test_second_login_needs_no_hash_worker(self):
        self.assert_login('alice', 'pw-a', ok=True, hashed=True)
        workers = self.server.wait_hash_workers() if is_root() else []
        before = [ctx_switches(p) for p in workers]
        for _ in range(5):
            self.assert_login('alice', 'pw-a', ok=True, hashed=False)
        # timing-free: no worker was even woken up
        self.assertEqual([ctx_switches(p) for p in workers], before)
        # the name as the client spells it
        self.assert_login('ALICE', 'pw-a', ok=True, hashed=False)
        # wrong passwords and other users are hashed, every time
        for _ in range(2):
            self.assert_login('alice', 'pw-b', ok=False, hashed=True)
        self.assert_login('bob', 'pw-a', ok=False, hashed=True)
        self.assert_login('bob', 'pw-b', ok=True, hashed=True)
        self.assert_login('bob', 'pw-b', ok=True, hashed=False)
        self.server.check_log()

    def test_passwd_takes_effect_at_once(self):
        self.assert_login('alice', 'pw-a', ok=True, hashed=True)
        self.assert_login('alice', 'pw-a', ok=True, hashed=False)
        self.server.ctl('passwd', 'alice', '--password-stdin',
                        stdin='pw-new\n')
        self.assert_login('alice', 'pw-a', ok=False, hashed=True)
        self.assert_login('alice', 'pw-new', ok=True, hashed=True)
        self.assert_login('alice', 'pw-new', ok=True, hashed=False)
        self.assert_login('alice', 'pw-a', ok=False, hashed=True)

    def test_userdel_takes_effect_at_once(self):
        self.assert_login('bob', 'pw-b', ok=True, hashed=True)
        self.assert_login('bob', 'pw-b', ok=True, hashed=False)
        # bob's mailbox process may linger a moment after LOGOUT
        deadline = time.time() + 15
        while True:
            p = self.server.ctl('userdel', 'bob', check=False)
            if p.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assert_login('bob', 'pw-b', ok=False, hashed=True)
        # a new bob with the same password: verified anew
        self.server.ctl('useradd', 'bob', '--password-stdin',
                        stdin='pw-b\n')
        self.assert_login('bob', 'pw-b', ok=True, hashed=True)

    def test_admin_flag_change_takes_effect_at_once(self):
        target = 'alice*boss'
        self.assert_login(target, 'secret-boss', ok=True, hashed=True)
        self.assert_login(target, 'secret-boss', ok=True, hashed=False)
        # the administrator's own pair is what was cached
        self.assert_login('boss', 'secret-boss', ok=True, hashed=False)
        self.assert_login('alice', 'secret-boss', ok=False, hashed=True)
        self.server.ctl('admin', 'boss', 'off')
        h0, _ = self.counts()
        tagged = self.login(target, 'secret-boss')
        self.assertRegex(tagged, r' NO ')
        self.assertEqual(self.counts()[0], h0 + 1)
        self.assertIn('not an administrator', self.server.logtext())

    def test_reload_to_ttl_zero_disables(self):
        self.assert_login('alice', 'pw-a', ok=True, hashed=True)
        self.assert_login('alice', 'pw-a', ok=True, hashed=False)
        with open(self.server.conf, 'a') as f:
            f.write('auth_cache_ttl = 0\n')
        os.kill(self.server.pid, signal.SIGHUP)
        deadline = time.time() + 5
        while 'configuration reloaded' not in self.server.logtext():
            self.assertLess(time.time(), deadline, self.server.logtext())
            time.sleep(0.05)
        self.assertIn('reload: auth_cache_ttl 3600 -> 0',
                      self.server.logtext())
        for _ in range(2):
            self.assert_login('alice', 'pw-a', ok=True, hashed=True)


class CacheOff(unittest.TestCase):

    def test_ttl_zero_hashes_every_login(self):
        with Server(users={'alice': 'pw-a'},
                    config={'verbose': 1, 'auth_cache_ttl': 0}) as s:
            for i in range(3):
                c = s.client(login=('alice', 'pw-a'))
                c.cmd('LOGOUT')
                c.close()
            log = s.logtext()
            self.assertEqual(log.count(HASHED), 3, log)
            self.assertEqual(log.count(CACHED), 0, log)


if __name__ == '__main__':
    unittest.main(verbosity=2)
