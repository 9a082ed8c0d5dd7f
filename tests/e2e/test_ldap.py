#!/usr/bin/env python3
"""test_ldap.py - directory = ldap against a real slapd (ldapharness.py).

One slapd (StartTLS with a generated CA) holds alice, bob (in the admin
group), carol, dave, erin and frank with {CRYPT} yescrypt hashes, an
{SSHA} user, quotas and mailHost values.  The tests run the real
mailkeepd against it:

  * ldap_auth = hash: logins verified by the hash workers against the
    LDAP hash; the local row is made once ("in LDAP" in mailkeepctl
    users) and reused; wrong password, unknown user and a non-{CRYPT}
    value all fail the same way;
  * quotas come from LDAP (GETQUOTAROOT), and SETQUOTA is refused;
  * admins are the group's members: LOGIN "target*admin" and PROXYAUTH
    for bob, AUTHORIZATIONFAILED for carol; the audit trail is written;
  * slapd stopped: NO [UNAVAILABLE] with the reason, at once, the
    connection still usable; slapd started again: logins work (the LDAP
    process reconnects);  slapd frozen (SIGSTOP): NO [UNAVAILABLE]
    within the timeout, never a hang;
  * the entry cache: a changed quota is seen after ldap_cache_ttl, or
    at once after SIGHUP;
  * LMTP delivers to an LDAP user who never logged in (the local row is
    made then), 67 for an unknown one, 75 (try again) while LDAP is down;
  * ldap_auth = bind: the LDAP process binds as the user; an empty
    password never passes (an unauthenticated bind would); the password
    is not left in the LDAP process's memory;
  * mailkeepctl: says which directory, refuses useradd, passwd, admin
    and quota changes (exit 8), allows userdel;
  * the LDAP process runs as hash_user, not dumpable;
  * a CA that did not sign slapd's certificate: UNAVAILABLE (StartTLS
    verifies); plain LDAP to a host name works inside the sandbox; a
    bind password file readable by others: mailkeepd refuses to start.
Skipped, with the reason, where slapd cannot run.
"""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import (Server, daemon_path, is_root, run_ctl,  # noqa: E402
                       settled_status, wait_for)
import ldapharness  # noqa: E402
from ldapharness import Slapd  # noqa: E402

SKIP = ldapharness.skip_reason()

USERS = {'alice': 'alice pw', 'bob': 'bob pw', 'carol': 'carol pw',
         'dave': 'dave pw', 'erin': 'erin pw', 'frank': 'frank pw',
         'gina': 'gina pw', 'henry': 'henry pw', 'ivan': 'ivan pw',
         'kim': 'kim pw',
         'sam': '{SSHA}c2FsdHlzYWx0eXNhbHR5c2FsdHk='}
QUOTAS = {'alice': (2048, 10), 'bob': (None, 5)}
HOSTS = {'alice': 'mx1.example.com', 'bob': 'mx2.example.com'}

slapd = None


def setUpModule():
    global slapd
    if SKIP:
        raise unittest.SkipTest(SKIP)
    slapd = Slapd(USERS, admins=['bob'], quotas=QUOTAS, hosts=HOSTS)


def tearDownModule():
    if slapd is not None:
        slapd.cleanup()


def ldap_server(auth='hash', **extra):
    s = Server(users={}, start=False)
    s.configure(slapd.mailkeep_config(os.path.join(s.tmp, 'ldap.pw'),
                                      auth=auth, **extra))
    s.start()
    return s


def open_comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


def login(s, user, pw, timeout=5):
    c = s.client(timeout=timeout)
    tagged, _ = c.cmd('LOGIN "%s" "%s"' % (user, pw))
    return c, tagged


class OneServer(unittest.TestCase):
    """One mailkeepd for the class, with ldap_auth = AUTH."""
    AUTH = 'hash'

    @classmethod
    def setUpClass(cls):
        cls.s = ldap_server(auth=cls.AUTH, verbose=2)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.s.stop()
        finally:
            cls.s.cleanup()


class HashMode(OneServer):

    def test_login_makes_the_local_row_once(self):
        c, tagged = login(self.s, 'alice', 'alice pw')
        self.assertIn(' OK ', tagged)
        c.close()
        users = self.s.ctl('users').stdout
        self.assertIn('directory: ldap', users.splitlines()[0])
        row = [ln for ln in users.splitlines() if ln.startswith('alice ')]
        self.assertEqual(len(row), 1, users)
        self.assertIn('in LDAP', row[0])
        c, tagged = login(self.s, 'ALICE', 'alice pw')
        self.assertIn(' OK ', tagged)
        c.close()
        self.assertEqual(self.s.logtext().count(
            'LDAP user alice: local row made'), 1)

    def test_failures_look_alike(self):
        for user, pw in (('alice', 'wrong'), ('nosuchuser', 'x'),
                         ('sam', 'saltysaltysalty'), ('alice', '')):
            c, tagged = login(self.s, user, pw)
            self.assertIn('NO [AUTHENTICATIONFAILED]', tagged, user)
            # the connection stays usable
            self.assertIn(' OK ', c.cmd('NOOP')[0])
            c.close()
        self.assertIn('userPassword is {SSHA}, not {CRYPT}',
                      self.s.logtext())

    def test_quota_from_ldap_and_setquota_refused(self):
        c, tagged = login(self.s, 'alice', 'alice pw')
        self.assertIn(' OK ', tagged)
        tagged, untagged = c.cmd('GETQUOTAROOT INBOX')
        self.assertIn(' OK ', tagged)
        self.assertIn('(STORAGE 0 2048 MESSAGE 0 10)', ' '.join(untagged))
        c.close()
        c, tagged = login(self.s, 'bob', 'bob pw')
        tagged, untagged = c.cmd('SETQUOTA "" (STORAGE 1)')
        self.assertIn('NO', tagged)
        self.assertIn('LDAP', tagged)
        tagged, untagged = c.cmd('GETQUOTAROOT INBOX')
        self.assertIn('MESSAGE 0 5)', ' '.join(untagged))
        c.close()

    def test_admin_from_group(self):
        c, tagged = login(self.s, 'carol*bob', 'bob pw')
        self.assertIn(' OK ', tagged)
        tagged, untagged = c.cmd('GETQUOTAROOT INBOX')
        # carol has no LDAP quota: the configured default
        self.assertNotIn('MESSAGE 0 5', ' '.join(untagged))
        c.close()
        c, tagged = login(self.s, 'alice*carol', 'carol pw')
        self.assertIn('NO [AUTHORIZATIONFAILED]', tagged)
        c.close()
        c, tagged = login(self.s, 'bob', 'bob pw')
        self.assertIn(' OK ', c.cmd('PROXYAUTH dave')[0])
        c.close()
        c, tagged = login(self.s, 'carol', 'carol pw')
        self.assertIn('NO', c.cmd('PROXYAUTH alice')[0])
        # a non-administrator's attempts make no row for kim (who
        # never logged in)
        self.assertIn('NO', c.cmd('PROXYAUTH kim')[0])
        c.close()
        c, tagged = login(self.s, 'kim*carol', 'carol pw')
        self.assertIn('NO [AUTHORIZATIONFAILED]', tagged)
        c.close()
        self.assertNotIn('kim ', self.s.ctl('users').stdout)
        audit = self.s.logtext()
        self.assertIn('impersonation start: admin=bob target=carol', audit)
        self.assertIn('impersonation start: admin=bob target=dave '
                      'method=PROXYAUTH', audit)

    def test_delivery_before_the_first_login(self):
        msg = 'From: a@example.org\r\nSubject: welcome\r\n\r\nhi\r\n'
        p = self.s.ctl('deliver', 'henry', stdin=msg, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = self.s.ctl('deliver', 'nosuchuser', stdin=msg, check=False)
        self.assertEqual(p.returncode, 67)
        c, tagged = login(self.s, 'henry', 'henry pw')
        self.assertIn(' OK ', tagged)
        _, untagged = c.cmd('SELECT INBOX')
        self.assertIn('* 1 EXISTS', untagged)
        c.close()
        self.assertEqual(self.s.logtext().count(
            'LDAP user henry: local row made'), 1)

    def test_ldap_process_is_unprivileged(self):
        if not is_root():
            self.skipTest('uids are only dropped as root')
        def comm(pid):
            with open('/proc/%d/comm' % pid) as f:
                return f.read().strip()
        pids = wait_for(lambda: [p for p in self.s.children_as(
            'mailkeep-auth') if comm(p) == 'mk-ldap'],
            what='mk-ldap as mailkeep-auth')
        status = settled_status(pids[0])
        self.assertIn('Seccomp:\t2', status)
        self.assertIn('NoNewPrivs:\t1', status)
        # not dumpable: /proc/PID/mem and fd are root's
        self.assertEqual(os.stat('/proc/%d/fd' % pids[0]).st_uid, 0)

    def test_ctl(self):
        p = self.s.ctl('directory')
        self.assertIn('directory: ldap', p.stdout)
        self.assertIn('(StartTLS)', p.stdout)
        for args in (('useradd', 'zed', '--password-stdin'),
                     ('passwd', 'alice', '--password-stdin'),
                     ('admin', 'alice', 'on'),
                     ('quota', 'alice', '--storage', '10M')):
            p = self.s.ctl(*args, stdin='pw\n', check=False)
            self.assertEqual(p.returncode, 8, args)
            self.assertIn('LDAP directory', p.stderr)
        # showing a quota is fine (once the row exists), and so is
        # removing a local row
        c, tagged = login(self.s, 'alice', 'alice pw')
        self.assertIn(' OK ', tagged)
        c.close()
        p = self.s.ctl('quota', 'alice', check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('2 MiB', p.stdout)
        c, tagged = login(self.s, 'erin', 'erin pw')
        self.assertIn(' OK ', tagged)
        c.cmd('LOGOUT')
        c.close()
        wait_for(lambda: self.s.ctl('userdel', 'erin',
                                    check=False).returncode == 0,
                 what='userdel erin')
        self.assertNotIn('erin ', self.s.ctl('users').stdout)
        c, tagged = login(self.s, 'erin', 'erin pw')
        self.assertIn(' OK ', tagged)   # a new row, a new store
        c.close()


class Outage(unittest.TestCase):
    """slapd stopped, frozen and back; the entry cache and SIGHUP."""

    def setUp(self):
        self.s = ldap_server(ldap_cache_ttl=2, auth_cache_ttl=0)

    def tearDown(self):
        slapd.resume()
        if slapd.proc is None:
            slapd.start()
        try:
            self.s.stop()
        finally:
            self.s.cleanup()

    def test_stopped_then_back(self):
        slapd.stop()
        c = self.s.client()
        t = time.time()
        tagged, _ = c.cmd('LOGIN frank "frank pw"')
        self.assertIn('NO [UNAVAILABLE]', tagged)
        self.assertIn('directory', tagged)
        self.assertLess(time.time() - t, 3)
        self.assertIn(' OK ', c.cmd('NOOP')[0])
        slapd.start()
        tagged, _ = c.cmd('LOGIN frank "frank pw"')
        self.assertIn(' OK ', tagged)
        self.assertIn("Can't contact LDAP server", self.s.logtext())

    def test_admin_removed_from_group_loses_proxyauth(self):
        group = 'dn: %s\nchangetype: modify\n%%s: member\nmember: %s\n' % (
            ldapharness.ADMIN_GROUP, slapd.user_dn('bob'))
        c, tagged = login(self.s, 'bob', 'bob pw')
        self.assertIn(' OK ', c.cmd('PROXYAUTH dave')[0])
        c.close()
        slapd.modify(group % 'delete')
        try:
            time.sleep(2.2)     # past ldap_cache_ttl
            c, tagged = login(self.s, 'bob', 'bob pw')
            self.assertIn(' OK ', tagged)
            self.assertIn('NO', c.cmd('PROXYAUTH dave')[0])
            c.close()
            c, tagged = login(self.s, 'dave*bob', 'bob pw')
            self.assertIn('NO [AUTHORIZATIONFAILED]', tagged)
            c.close()
        finally:
            slapd.modify(group % 'add')

    def test_reload_refuses_a_readable_password_file(self):
        pw = os.path.join(self.s.tmp, 'ldap.pw')
        os.chmod(pw, 0o644)
        try:
            self.s.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: 'reload failed' in self.s.logtext(),
                     what='reload refused')
            self.assertIn('readable or writable by group or others',
                          self.s.logtext())
        finally:
            os.chmod(pw, 0o600)
        # the running configuration and LDAP process still serve
        c, tagged = login(self.s, 'carol', 'carol pw')
        self.assertIn(' OK ', tagged)
        c.close()

    def test_delivery_waits_while_ldap_is_down(self):
        msg = 'Subject: later\r\n\r\nhi\r\n'
        slapd.stop()
        p = self.s.ctl('deliver', 'ivan', stdin=msg, check=False)
        self.assertEqual(p.returncode, 75)      # EX_TEMPFAIL: try again
        slapd.start()
        p = self.s.ctl('deliver', 'ivan', stdin=msg, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_frozen_server_times_out(self):
        c, tagged = login(self.s, 'dave', 'dave pw')
        self.assertIn(' OK ', tagged)
        c.close()
        time.sleep(2.2)     # past ldap_cache_ttl
        slapd.pause()
        c = self.s.client(timeout=30)
        t = time.time()
        tagged, _ = c.cmd('LOGIN dave "dave pw"', timeout=30)
        took = time.time() - t
        self.assertIn('NO [UNAVAILABLE]', tagged)
        # ldap_timeout = 2: a search or a reconnection, not a hang
        self.assertLess(took, 12)
        slapd.resume()
        tagged, _ = c.cmd('LOGIN dave "dave pw"', timeout=30)
        self.assertIn(' OK ', tagged, self.s.logtext()[-3000:])

    def quota_of(self, user, pw):
        c, tagged = login(self.s, user, pw)
        self.assertIn(' OK ', tagged)
        _, untagged = c.cmd('GETQUOTAROOT INBOX')
        c.close()
        return ' '.join(untagged)

    def test_cache_ttl_and_sighup(self):
        self.s.stop()
        self.s.configure({'ldap_cache_ttl': 3600})
        self.s.start()
        self.assertIn('MESSAGE 0 10)', self.quota_of('alice', 'alice pw'))
        change = ('dn: %s\nchangetype: modify\nreplace: mkQuotaMessages\n'
                  'mkQuotaMessages: %%d\n' % slapd.user_dn('alice'))
        slapd.modify(change % 11)
        try:
            # cached: the old value still
            self.assertIn('MESSAGE 0 10)', self.quota_of('alice', 'alice pw'))
            self.s.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: 'configuration reloaded' in self.s.logtext(),
                     what='reload')
            self.assertIn('MESSAGE 0 11)',
                          self.quota_of('alice', 'alice pw'))
        finally:
            slapd.modify(change % 10)

    def test_cache_expires(self):
        change = ('dn: %s\nchangetype: modify\nreplace: mkQuotaMessages\n'
                  'mkQuotaMessages: %%d\n' % slapd.user_dn('bob'))
        self.assertIn('MESSAGE 0 5)', self.quota_of('bob', 'bob pw'))
        slapd.modify(change % 6)
        try:
            wait_for(lambda: 'MESSAGE 0 6)' in self.quota_of('bob', 'bob pw'),
                     timeout=6, interval=0.5, what='new quota after TTL')
        finally:
            slapd.modify(change % 5)


class BindMode(OneServer):
    AUTH = 'bind'

    def test_bind(self):
        c, tagged = login(self.s, 'carol', 'carol pw')
        self.assertIn(' OK ', tagged)
        c.close()
        self.assertIn('LDAP bind as uid=carol', self.s.logtext())
        for pw in ('wrong', ''):
            c, tagged = login(self.s, 'carol', pw)
            self.assertIn('NO [AUTHENTICATIONFAILED]', tagged, pw)
            c.close()
        c, tagged = login(self.s, 'alice*bob', 'bob pw')
        self.assertIn(' OK ', tagged)
        c.close()

    def test_password_wiped_in_the_ldap_process(self):
        if not is_root():
            self.skipTest('reading a non-dumpable process needs root')
        with open(daemon_path(), 'rb') as f:
            if b'__asan_init' in f.read():
                self.skipTest("ASan's allocator ignores M_PERTURB (the "
                              "LDAP process's wiping of freed memory)")
        from test_secrets import read_memory, found
        pw = 'Zq8-uniq-pass-%d' % os.getpid()
        slapd.modify('dn: %s\nchangetype: modify\nreplace: userPassword\n'
                     'userPassword: {CRYPT}%s\n' % (slapd.user_dn('ivan'),
                     ldapharness.crypt_hash(pw)))
        c, tagged = login(self.s, 'ivan', pw)
        self.assertIn(' OK ', tagged)
        c.close()
        c, tagged = login(self.s, 'ivan', pw + '-wrong')
        self.assertIn('NO', tagged)
        c.close()
        pids = [p for p in self.s.children_as('mailkeep-auth')
                if open_comm(p) == 'mk-ldap']
        self.assertEqual(len(pids), 1)
        leaks = found(read_memory(pids[0]), {'password': pw.encode()})
        self.assertEqual(leaks, [], 'the password is still in the LDAP '
                         'process: %r' % leaks)

    def test_password_change_beats_the_credentials_cache(self):
        c, tagged = login(self.s, 'gina', 'gina pw')
        self.assertIn(' OK ', tagged)
        c.close()
        slapd.modify('dn: %s\nchangetype: modify\nreplace: userPassword\n'
                     'userPassword: {CRYPT}%s\n' % (slapd.user_dn('gina'),
                     ldapharness.crypt_hash('gina new')))
        self.s.proc.send_signal(signal.SIGHUP)   # drop the entry cache
        wait_for(lambda: 'configuration reloaded' in self.s.logtext(),
                 what='reload')
        # the credentials cache still holds (gina, "gina pw"), but for
        # the entry's old modifyTimestamp: a bind decides
        c, tagged = login(self.s, 'gina', 'gina pw')
        self.assertIn('NO [AUTHENTICATIONFAILED]', tagged)
        c.close()
        c, tagged = login(self.s, 'gina', 'gina new')
        self.assertIn(' OK ', tagged)
        c.close()


class Backends(unittest.TestCase):
    """In a cluster the entry's ldap_backend_attr decides where the user
    is served: this backend's own name serves here, another declared
    backend gets a referral after the password (doc/cluster.md) - unless
    this backend has a store for the user: then only mailkeepctl move
    changes it."""

    def cluster_member(self):
        s = Server(users={}, start=False)
        self.addCleanup(s.cleanup)
        s.configure(slapd.mailkeep_config(os.path.join(s.tmp, 'ldap.pw')))
        s.configure({'backend_name': 'mx1.example.com'})
        s.configure({'backend': 'mx1.example.com 127.0.0.1 143'})
        s.configure({'backend': 'mx2.example.com 127.0.0.2 1143'})
        s.start()
        return s

    def set_host(self, user, host):
        slapd.modify('dn: %s\nchangetype: modify\nreplace: mailHost\n'
                     'mailHost: %s\n' % (Slapd.user_dn(user), host))

    def test_store_here_outweighs_ldap(self):
        s = self.cluster_member()
        c, tagged = login(s, 'alice', 'alice pw')
        self.assertIn(' OK ', tagged, s.logtext())
        c.cmd('SELECT INBOX')
        c.close()
        self.addCleanup(self.set_host, 'alice', HOSTS['alice'])
        self.set_host('alice', 'mx2.example.com')
        s.ctl('reload')		# the entry cache is emptied
        c, tagged = login(s, 'alice', 'alice pw')
        self.assertIn(' OK ', tagged, s.logtext())
        c.close()
        self.assertIn('LDAP user alice: mailHost says mx2.example.com, the '
                      'row mx1.example.com, and a store is here: the row '
                      'stands', s.logtext())
        s.stop()

    def test_backend_from_ldap(self):
        s = self.cluster_member()
        c, tagged = login(s, 'alice', 'alice pw')
        self.assertIn(' OK ', tagged, s.logtext())
        c.close()
        c, tagged = login(s, 'bob', 'bob pw')
        self.assertIn('NO [REFERRAL imap://bob@127.0.0.2:1143/]', tagged,
                      s.logtext())
        self.assertIn(' OK ', c.cmd('NOOP')[0])
        c.close()
        c, tagged = login(s, 'bob', 'wrong')
        self.assertIn('NO [AUTHENTICATIONFAILED]', tagged)
        c.close()
        s.stop()


class Config(unittest.TestCase):

    def test_wrong_ca_is_unavailable(self):
        d = Server(users={}, start=False)
        try:
            other = ldapharness.make_ca_and_cert(
                os.path.join(d.tmp))[0]
            d.configure(slapd.mailkeep_config(os.path.join(d.tmp, 'pw'),
                                              ldap_ca_file=other))
            d.start()
            c, tagged = login(d, 'alice', 'alice pw')
            self.assertIn('NO [UNAVAILABLE]', tagged)
            c.close()
            self.assertIn('StartTLS', d.logtext())
            d.stop()
        finally:
            d.cleanup()

    def test_ldaps(self):
        d = Server(users={}, start=False)
        try:
            d.configure(slapd.mailkeep_config(
                os.path.join(d.tmp, 'pw'), ldap_uri=slapd.ldaps_uri))
            d.start()
            c, tagged = login(d, 'alice', 'alice pw')
            self.assertIn(' OK ', tagged, d.logtext())
            c.close()
            d.stop()
        finally:
            d.cleanup()

    def test_plain_ldap_by_host_name(self):
        # ldap_starttls = no, and a name to resolve: the paths where
        # libldap starts Cyrus SASL and reads /etc/hosts inside the
        # sandbox (both must be set up before it, or allowed)
        d = Server(users={}, start=False)
        try:
            d.configure(slapd.mailkeep_config(
                os.path.join(d.tmp, 'pw'), starttls=False,
                ldap_uri='ldap://localhost:%d/' % slapd.port))
            d.start()
            for _ in range(2):
                c, tagged = login(d, 'alice', 'alice pw')
                self.assertIn(' OK ', tagged, d.logtext())
                c.close()
            self.assertNotIn('killed by its sandbox', d.logtext())
            d.stop()
        finally:
            d.cleanup()

    def test_password_file_must_be_private(self):
        d = Server(users={}, start=False)
        try:
            pw = os.path.join(d.tmp, 'pw')
            d.configure(slapd.mailkeep_config(pw))
            os.chmod(pw, 0o644)
            with self.assertRaises(RuntimeError) as cm:
                d.start()
            self.assertIn('readable or writable by group or others',
                          str(cm.exception))
            p = run_ctl(d.conf, 'directory', check=False)
            self.assertEqual(p.returncode, 0)
        finally:
            d.cleanup()

    def test_bad_keys_refused(self):
        d = Server(users={}, start=False)
        try:
            base = slapd.mailkeep_config(os.path.join(d.tmp, 'pw'))
            for key, value, why in (
                    ('ldap_uri', 'http://x/', 'ldap://'),
                    ('ldap_user_filter', '"(uid=%s)"', '%u'),
                    ('ldap_admin_group_attr', 'owner', 'memberUid')):
                conf = os.path.join(d.tmp, 'bad.conf')
                with open(d.conf) as f, open(conf, 'w') as g:
                    g.write(f.read())
                    for k, v in dict(base, **{key: value}).items():
                        g.write('%s = %s\n' % (k, v))
                p = run_ctl(conf, 'directory', check=False)
                self.assertNotEqual(p.returncode, 0, key)
                self.assertIn(why, p.stderr, key)
        finally:
            d.cleanup()


if __name__ == '__main__':
    unittest.main(verbosity=2)
