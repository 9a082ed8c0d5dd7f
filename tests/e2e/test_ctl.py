"""test_ctl.py - mailkeepctl: init, useradd (password on stdin),
duplicate and invalid names, a missing instance, userdel, users, passwd,
admin, quota, audit (after a real impersonated login), help."""
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Server, ctl_path, is_root, run_ctl  # noqa: E402


class Instance(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='mk-ctl-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.dir = os.path.join(self.tmp, 'inst')
        self.conf = os.path.join(self.dir, 'mailkeep.conf')
        p = run_ctl(None, 'init', self.dir, '--listen', '127.0.0.1:11430',
                    '--hostname', 'mail.example.org')
        self.assertIn('next steps', p.stdout)

    def ctl(self, *args, stdin=None):
        return run_ctl(self.conf, *args, stdin=stdin, check=False)

    def test_init_layout(self):
        with open(self.conf) as f:
            text = f.read()
        self.assertIn('listen = 127.0.0.1:11430', text)
        self.assertIn('hostname = mail.example.org', text)
        self.assertIn('data_dir = %s/data' % os.path.realpath(self.dir), text)
        self.assertIn('login_chroot = %s/empty' % os.path.realpath(self.dir),
                      text)
        db = os.path.join(self.dir, 'data', 'directory.db')
        self.assertEqual(stat.S_IMODE(os.stat(db).st_mode), 0o600)
        self.assertTrue(os.path.isdir(os.path.join(self.dir, 'data', 'users')))
        self.assertEqual(os.listdir(os.path.join(self.dir, 'empty')), [])
        if is_root():
            self.assertEqual(stat.S_IMODE(os.stat(self.dir).st_mode), 0o711)
        # a second init of the same directory is refused
        p = run_ctl(None, 'init', self.dir, check=False)
        self.assertEqual(p.returncode, 4)
        self.assertIn('already', p.stderr)

    def test_useradd_users_userdel(self):
        p = self.ctl('useradd', 'alice', stdin='secret one\n')
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.ctl('useradd', 'Bob', '--admin', '--password-stdin',
                     stdin='pw2\n')
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.ctl('users')
        self.assertEqual(p.returncode, 0)
        rows = {l.split()[0]: l.split() for l in p.stdout.splitlines()[1:]}
        self.assertEqual(sorted(rows), ['alice', 'bob'])   # names folded
        self.assertEqual(rows['alice'][1], 'no')
        self.assertEqual(rows['bob'][1], 'yes')
        self.assertIn('1 GiB (default)', p.stdout)
        # duplicate
        p = self.ctl('useradd', 'alice', stdin='x\n')
        self.assertEqual(p.returncode, 4)
        self.assertIn('already exists', p.stderr)
        # delete, with the mail directory
        os.makedirs(os.path.join(self.dir, 'data', 'users', 'alice'))
        p = self.ctl('userdel', 'alice')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(
            os.path.join(self.dir, 'data', 'users', 'alice')))
        self.assertNotIn('alice', self.ctl('users').stdout)
        p = self.ctl('userdel', 'alice')
        self.assertEqual(p.returncode, 5)
        self.assertIn('no such user', p.stderr)

    def test_userdel_keep_mail(self):
        self.ctl('useradd', 'carol', stdin='pw\n')
        mail = os.path.join(self.dir, 'data', 'users', 'carol')
        os.makedirs(mail)
        p = self.ctl('userdel', 'carol', '--keep-mail')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.isdir(mail))

    def test_bad_input(self):
        for name in ('bad name', '-x', '', 'a/b', 'x' * 65, '.dot'):
            p = self.ctl('useradd', name, stdin='pw\n')
            self.assertIn(p.returncode, (2, 6), (name, p.stderr))
        p = self.ctl('useradd', 'emptypw', stdin='\n')
        self.assertEqual(p.returncode, 6)
        self.assertIn('empty password', p.stderr)
        p = self.ctl('useradd', 'x', 'extra', stdin='pw\n')
        self.assertEqual(p.returncode, 2)
        p = self.ctl('admin', 'nobody', 'on')
        self.assertEqual(p.returncode, 5)
        p = self.ctl('admin', 'nobody', 'maybe')
        self.assertEqual(p.returncode, 2)
        p = self.ctl('passwd', 'nobody', stdin='x\n')
        self.assertEqual(p.returncode, 5)
        p = self.ctl('frobnicate')
        self.assertEqual(p.returncode, 2)

    def test_missing_instance(self):
        p = run_ctl(os.path.join(self.tmp, 'nope.conf'), 'users', check=False)
        self.assertEqual(p.returncode, 3)
        self.assertIn('mailkeepctl init', p.stderr)
        # MAILKEEP_CONF names the instance when -c is absent
        env = dict(os.environ, MAILKEEP_CONF=self.conf)
        p = subprocess.run([ctl_path(), 'users'], env=env, text=True,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith('NAME'))

    def test_admin_quota_passwd(self):
        self.ctl('useradd', 'dave', stdin='pw\n')
        self.assertEqual(self.ctl('admin', 'dave', 'on').returncode, 0)
        self.assertIn('yes', self.ctl('users').stdout.splitlines()[1])
        self.assertEqual(self.ctl('admin', 'dave', 'off').returncode, 0)
        self.assertIn(' no ', self.ctl('users').stdout.splitlines()[1])
        p = self.ctl('quota', 'dave', '--storage', '2G', '--messages', '500')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('2 GiB', p.stdout)
        self.assertIn('500', p.stdout)
        p = self.ctl('quota', 'dave', '--storage', 'default')
        self.assertIn('1 GiB (default)', p.stdout)
        p = self.ctl('passwd', 'dave', '--password-stdin', stdin='new\n')
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_help(self):
        p = run_ctl(None, '--help', check=False)
        self.assertEqual(p.returncode, 0)
        self.assertIn('Scripted deployment', p.stdout)
        for cmd in ('init', 'useradd', 'userdel', 'users', 'passwd', 'admin',
                    'audit'):
            self.assertIn(cmd, p.stdout)
        p = run_ctl(None, 'help', 'useradd', check=False)
        self.assertEqual(p.returncode, 0)
        self.assertIn('--password-stdin', p.stdout)
        p = run_ctl(None, 'useradd', '--help', check=False)
        self.assertEqual(p.returncode, 0)
        self.assertIn('usage: mailkeepctl', p.stdout)


class AgainstServer(unittest.TestCase):
    def test_passwd_and_audit(self):
        with Server(users={'alice': 'old', 'eve': 'evepw'},
                    admins=['root-admin']) as s:
            c = s.client()
            self.assertRegex(c.login('alice', 'old')[0], r' OK ')
            c.close()
            s.ctl('passwd', 'alice', stdin='new\n')
            c = s.client()
            self.assertIn('AUTHENTICATIONFAILED', c.login('alice', 'old')[0])
            self.assertRegex(c.login('alice', 'new')[0], r' OK ')
            c.close()
            # an impersonated session leaves an audit row
            c = s.client()
            self.assertRegex(c.login('alice*root-admin', 'secret-root-admin')[0],
                             r' OK ')
            c.cmd('LOGOUT')
            c.close()
            rows = s.ctl('audit').stdout.splitlines()[1:]
            self.assertEqual(len(rows), 1, rows)
            self.assertIn('root-admin', rows[0])
            self.assertIn('alice', rows[0])
            self.assertIn('SEPARATOR', rows[0])
            self.assertIn('127.0.0.1', rows[0])
            self.assertEqual(s.ctl('audit', '--user', 'eve').stdout
                             .splitlines()[1:], [])
            self.assertIn('impersonation start: admin=root-admin target=alice',
                          s.logtext())


if __name__ == '__main__':
    unittest.main(verbosity=2)
