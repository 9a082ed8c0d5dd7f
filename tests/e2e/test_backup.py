"""test_backup.py - mailkeepctl backup and restore against the running
daemon: a backup taken while a client keeps appending holds every
message acknowledged before it began and passes PRAGMA integrity_check;
it restores to a new user name (who logs in with the old password) and,
with --force only, over the existing user, ending their mailbox process
(its IDLE session gets BYE); --all; a damaged backup is refused; in a
cluster, the backend that holds the user is kept; and, as root, the
destination cannot be redirected by a user's uid."""
import os
import re
import shutil
import sqlite3
import stat
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Server, free_port, is_root, wait_for  # noqa: E402

USERS = {'alice': 'alice pw', 'bob': 'bob pw'}


def message(i):
    return ('From: loop@example.org\r\nTo: alice@example.org\r\n'
            'Subject: loop %d\r\nMessage-ID: <loop-%d@example.org>\r\n\r\n'
            'body of message %d\r\n' % (i, i, i)) + 'x' * (i % 3000) + '\r\n'


class AppendLoop(threading.Thread):
    """Appends to INBOX until stopped, recording (uid, i) of every
    acknowledged APPEND, with the time of its acknowledgement."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.c = server.client(login=('alice', USERS['alice']), timeout=20)
        self.acked = []
        self.stop = threading.Event()
        self.error = None

    def run(self):
        i = 0
        try:
            while not self.stop.is_set():
                tagged, _ = self.c.append('INBOX', message(i))
                m = re.search(r'OK \[APPENDUID \d+ (\d+)\]', tagged)
                if not m:
                    raise AssertionError('APPEND %d: %r' % (i, tagged))
                self.acked.append((int(m.group(1)), i, time.time()))
                i += 1
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.c.close()


def integrity(path):
    """PRAGMA integrity_check of a copy (the file itself stays as is)."""
    d = tempfile.mkdtemp(prefix='mk-bk-check-')
    try:
        copy = os.path.join(d, 'copy.sqlite')
        shutil.copy(path, copy)
        db = sqlite3.connect(copy)
        try:
            return db.execute('PRAGMA integrity_check').fetchone()[0]
        finally:
            db.close()
    finally:
        shutil.rmtree(d, True)


def subjects(c, mailbox='INBOX'):
    """{uid: subject} of every message in mailbox."""
    tagged, _ = c.cmd('SELECT %s' % mailbox)
    assert ' OK' in tagged, tagged
    tagged, lines = c.cmd('UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS '
                          '(SUBJECT)])')
    assert ' OK' in tagged, tagged
    out = {}
    uid = None
    for line in lines:
        m = re.search(r'UID (\d+)', line)
        if m:
            uid = int(m.group(1))
        m = re.search(r'Subject: (.*)', line)
        if m and uid is not None:
            out[uid] = m.group(1).strip()
    return out


class Backup(unittest.TestCase):
    def setUp(self):
        self.s = Server(users=USERS)
        self.addCleanup(self.s.cleanup)
        self.dest = os.path.join(self.s.tmp, 'backups')

    def backup(self, *args, check=True):
        return self.s.ctl('backup', *args, check=check)

    def test_backup_during_append_loop_restores_every_ack(self):
        loop = AppendLoop(self.s)
        loop.start()
        wait_for(lambda: len(loop.acked) >= 30, 30, what='30 appends')
        started = time.time()
        p = self.backup('alice', self.dest)
        done = time.time()
        wait_for(lambda: [a for a in loop.acked if a[2] > done + 0.3], 30,
                 what='appends after the backup')
        loop.stop.set()
        loop.join(30)
        self.assertIsNone(loop.error)
        before = {uid: i for uid, i, t in loop.acked if t < started}
        during = {uid: i for uid, i, t in loop.acked if started <= t <= done}
        self.assertGreaterEqual(len(before), 30)
        self.assertIn('alice.manifest', p.stdout)

        store = os.path.join(self.dest, 'alice.sqlite')
        manifest = os.path.join(self.dest, 'alice.manifest')
        self.assertEqual(integrity(store), 'ok')
        for f in (store, manifest):
            st = os.stat(f)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
            self.assertEqual(st.st_uid, os.geteuid())
        with open(manifest) as f:
            text = f.read()
        self.assertIn('user = alice\n', text)
        self.assertRegex(text, r'password_hash = \$y\$')
        self.assertRegex(text, r'store_sha256 = [0-9a-f]{64}\n')

        # A new user from the backup: alice's password, alice's mail.
        p = self.s.ctl('restore', 'carol', manifest)
        self.assertIn('user carol restored', p.stdout)
        c = self.s.client(login=('carol', USERS['alice']))
        got = subjects(c)
        c.close()
        for uid, i in before.items():
            self.assertEqual(got.get(uid), 'loop %d' % i,
                             'acknowledged UID %d lost' % uid)
        # nothing but acknowledged messages (the loop stops only after an
        # answer), each whole; beyond those before it, only some of those
        # acknowledged while it ran
        acked = {uid: i for uid, i, _ in loop.acked}
        for uid, subj in got.items():
            self.assertIn(uid, acked)
            self.assertEqual(subj, 'loop %d' % acked[uid])
        self.assertLessEqual(set(got) - set(before), set(during))
        later = [uid for uid, i, t in loop.acked if t > done + 0.3]
        self.assertFalse(set(later) & set(got), 'a later message leaked in')

        # the restored store passes integrity_check (once nothing holds it)
        self.s.stop()
        carol = os.path.join(self.s.data_dir, 'users', 'carol')
        self.assertEqual(integrity(os.path.join(carol, 'store.db')), 'ok')
        if is_root():
            uid = os.stat(os.path.join(self.s.data_dir, 'users', 'alice')
                          ).st_uid
            self.assertNotEqual(os.stat(carol).st_uid, uid)
            self.assertEqual(os.stat(os.path.join(carol, 'store.db')).st_uid,
                             os.stat(carol).st_uid)

    def test_restore_refusals_and_force(self):
        c = self.s.client(login=('alice', USERS['alice']))
        for i in range(3):
            self.assertIn(' OK', c.append('INBOX', message(i))[0])
        c.close()
        self.backup('alice', self.dest)
        manifest = os.path.join(self.dest, 'alice.manifest')
        c = self.s.client(login=('alice', USERS['alice']))
        self.assertIn(' OK', c.append('INBOX', message(99))[0])
        self.assertEqual(len(subjects(c)), 4)

        # an existing user: refused without --force, nothing changed
        p = self.s.ctl('restore', 'alice', manifest, check=False)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn('--force', p.stderr)
        self.assertEqual(len(subjects(c)), 4)
        # a store left without a user (userdel --keep-mail) as well
        self.s.ctl('useradd', 'dave', stdin='dave pw\n')
        d = self.s.client(login=('dave', 'dave pw'))
        d.close()
        self.s.ctl('userdel', 'dave', '--keep-mail')
        p = self.s.ctl('restore', 'dave', manifest, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('already holds a store', p.stderr)
        p = self.s.ctl('users')
        self.assertNotIn('dave', p.stdout)    # taken back

        # --force over alice while she is in IDLE: BYE, then the backup
        tagged, _ = c.cmd('SELECT INBOX')
        c.send('%s IDLE\r\n' % c.next_tag())
        self.assertTrue(c.readline().startswith('+'))
        p = self.s.ctl('restore', 'alice', manifest, '--force')
        self.assertIn('ending mailbox process', p.stdout)
        lines = c.expect_closed(timeout=15)
        self.assertTrue(any(l.startswith('* BYE Your mailbox is being '
                                         'restored') for l in lines), lines)
        c.close()
        c = self.s.client(login=('alice', USERS['alice']))
        got = subjects(c)
        self.assertEqual(sorted(got.values()), ['loop 0', 'loop 1', 'loop 2'])
        # the restored store is a working store: appends go on after it
        self.assertIn(' OK', c.append('INBOX', message(7))[0])
        c.close()

    def test_backup_all_and_no_store(self):
        c = self.s.client(login=('alice', USERS['alice']))
        self.assertIn(' OK', c.append('INBOX', message(1))[0])
        c.close()
        p = self.backup('--all', self.dest)
        self.assertIn('alice: alice.manifest and alice.sqlite', p.stdout)
        self.assertIn('bob: bob.manifest (no mail stored yet)', p.stdout)
        self.assertEqual(sorted(os.listdir(self.dest)),
                         ['alice.manifest', 'alice.sqlite', 'bob.manifest'])
        p = self.s.ctl('restore', 'bobby',
                       os.path.join(self.dest, 'bob.manifest'))
        c = self.s.client(login=('bobby', USERS['bob']))
        self.assertEqual(subjects(c), {})
        c.close()
        # a second backup over the first replaces it
        self.backup('--all', self.dest)

    def test_damaged_backup_refused(self):
        c = self.s.client(login=('alice', USERS['alice']))
        self.assertIn(' OK', c.append('INBOX', message(1))[0])
        c.close()
        self.backup('alice', self.dest)
        store = os.path.join(self.dest, 'alice.sqlite')
        with open(store, 'r+b') as f:
            f.seek(200)
            b = f.read(1)
            f.seek(200)
            f.write(bytes([b[0] ^ 1]))
        p = self.s.ctl('restore', 'erin',
                       os.path.join(self.dest, 'alice.manifest'), check=False)
        self.assertEqual(p.returncode, 6, p.stderr)
        self.assertIn('does not match its manifest', p.stderr)
        self.assertNotIn('erin', self.s.ctl('users').stdout)
        bad = os.path.join(self.dest, 'bad.manifest')
        with open(bad, 'w') as f:
            f.write('format = 1\nuser = x\nrm -rf = /\n')
        p = self.s.ctl('restore', 'erin', bad, check=False)
        self.assertEqual(p.returncode, 6)
        self.assertIn('line 3', p.stderr)


@unittest.skipUnless(is_root(), 'needs root: real per-user uids')
class BackendKept(unittest.TestCase):
    """In a cluster (b1 here, b2 declared), a restore keeps which backend
    holds the user: a user held on b2 restored from a backup (the
    directory lost, or the user deleted) is still referred to b2, not
    served from the copy here; a user held here stays here; --force
    over an existing row keeps that row's backend."""

    def setUp(self):
        self.b2port = free_port()
        s = Server(users=USERS, start=False, config={'backend_name': 'b1'})
        self.addCleanup(s.cleanup)
        s.configure({'backend': 'b1 127.0.0.1 %d' % s.port})
        s.configure({'backend': 'b2 127.0.0.1 %d 24 0' % self.b2port})
        s.start()
        self.addCleanup(s.stop)
        self.s = s
        self.dest = os.path.join(s.tmp, 'backups')

    def referred(self, user):
        c = self.s.client()
        try:
            tagged, _ = c.login(user, USERS[user])
        finally:
            c.close()
        return ('NO [REFERRAL imap://%s@127.0.0.1:%d/]'
                % (user, self.b2port)) in tagged

    def test_restore_keeps_the_backend(self):
        c = self.s.client(login=('bob', USERS['bob']))
        self.assertIn(' OK', c.append('INBOX', message(1))[0])
        c.close()
        self.s.ctl('backend', 'bob', 'b2')      # bob moved on: held by b2
        self.s.ctl('backup', '--all', self.dest)
        with open(os.path.join(self.dest, 'bob.manifest')) as f:
            self.assertIn('\nbackend = b2\n', f.read())
        with open(os.path.join(self.dest, 'alice.manifest')) as f:
            self.assertNotIn('backend', f.read())
        self.assertTrue(self.referred('bob'))
        # the directory row is lost; the restore brings it back on b2
        self.s.ctl('userdel', 'bob')
        p = self.s.ctl('restore', 'bob',
                       os.path.join(self.dest, 'bob.manifest'))
        self.assertIn('bob: held by backend b2', p.stdout)
        self.assertEqual(self.s.ctl('backend', 'bob').stdout.strip(), 'b2')
        self.assertTrue(self.referred('bob'))
        # --force over the existing row keeps it, whatever the backup says
        self.s.ctl('backend', 'bob', 'b1')
        self.s.ctl('restore', 'bob', os.path.join(self.dest, 'bob.manifest'),
                   '--force')
        self.assertEqual(self.s.ctl('backend', 'bob').stdout.strip(), 'b1')
        c = self.s.client(login=('bob', USERS['bob']))
        self.assertEqual(list(subjects(c).values()), ['loop 1'])
        c.close()
        # a user held here is restored here
        self.s.ctl('restore', 'alice2',
                   os.path.join(self.dest, 'alice.manifest'))
        self.assertEqual(self.s.ctl('backend', 'alice2').stdout.strip(),
                         'b1')

    def test_undeclared_backend_refused_before_anything(self):
        self.s.ctl('backend', 'bob', 'b2')
        self.s.ctl('backup', 'bob', self.dest)
        path = os.path.join(self.dest, 'bob.manifest')
        with open(path) as f:
            text = f.read()
        with open(path, 'w') as f:
            f.write(text.replace('backend = b2', 'backend = b9'))
        p = self.s.ctl('restore', 'bob9', path, check=False)
        self.assertEqual(p.returncode, 6, p.stderr)
        self.assertIn('backend b9 is not declared', p.stderr)
        self.assertNotEqual(self.s.ctl('backend', 'bob9',
                                       check=False).returncode, 0)
        with open(path, 'w') as f:
            f.write(text.replace('backend = b2', 'backend = b/2'))
        p = self.s.ctl('restore', 'bob9', path, check=False)
        self.assertEqual(p.returncode, 6, p.stderr)
        self.assertIn('not a Mailkeep backup manifest line', p.stderr)


class Destination(unittest.TestCase):
    """Root writes DEST; a user's uid must not be able to point it
    elsewhere."""

    def setUp(self):
        self.s = Server(users=USERS)
        self.addCleanup(self.s.cleanup)
        c = self.s.client(login=('alice', USERS['alice']))
        self.assertIn(' OK', c.append('INBOX', message(1))[0])
        c.close()
        self.uid = os.stat(os.path.join(self.s.data_dir, 'users',
                                        'alice')).st_uid

    def test_dest_owned_or_writable_by_a_user_is_refused(self):
        dest = os.path.join(self.s.tmp, 'userdest')
        os.mkdir(dest, 0o700)
        os.chown(dest, self.uid, self.uid)
        p = self.s.ctl('backup', 'alice', dest, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('another uid could redirect', p.stderr)
        self.assertEqual(os.listdir(dest), [])
        # a root-owned DEST below a directory the user can write
        parent = os.path.join(self.s.tmp, 'userparent')
        os.mkdir(parent, 0o755)
        os.chown(parent, self.uid, self.uid)
        inner = os.path.join(parent, 'b')
        os.mkdir(inner, 0o700)
        p = self.s.ctl('backup', 'alice', inner, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('userparent', p.stderr)
        self.assertEqual(os.listdir(inner), [])
        # world-writable (even sticky) DEST itself
        os.chmod(inner, 0o1777)
        os.chown(parent, 0, 0)
        p = self.s.ctl('backup', 'alice', inner, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(os.listdir(inner), [])

    def test_links_in_dest_are_replaced_not_followed(self):
        dest = os.path.join(self.s.tmp, 'dest')
        os.mkdir(dest, 0o700)
        victim = os.path.join(self.s.tmp, 'victim')
        with open(victim, 'w') as f:
            f.write('precious\n')
        os.chmod(victim, 0o644)
        for name in ('alice.sqlite', 'alice.manifest', '.alice.sqlite.tmp',
                     '.alice.manifest.tmp'):
            os.symlink(victim, os.path.join(dest, name))
        self.s.ctl('backup', 'alice', dest)
        with open(victim) as f:
            self.assertEqual(f.read(), 'precious\n')
        self.assertEqual(stat.S_IMODE(os.stat(victim).st_mode), 0o644)
        for name in ('alice.sqlite', 'alice.manifest'):
            st = os.lstat(os.path.join(dest, name))
            self.assertTrue(stat.S_ISREG(st.st_mode))
            self.assertEqual(st.st_uid, 0)
        self.assertEqual(sorted(os.listdir(dest)),
                         ['alice.manifest', 'alice.sqlite'])

    def test_store_links_refused_by_the_worker(self):
        # the user's uid puts a link to a root file in place of store.db:
        # the worker (the user's uid) refuses it; root never opened it
        udir = os.path.join(self.s.data_dir, 'users', 'alice')
        self.s.stop()
        secret = os.path.join(self.s.tmp, 'secret')
        with open(secret, 'w') as f:
            f.write('root only\n')
        os.chmod(secret, 0o600)
        os.rename(os.path.join(udir, 'store.db'),
                  os.path.join(udir, 'store.db.real'))
        os.symlink(secret, os.path.join(udir, 'store.db'))
        dest = os.path.join(self.s.tmp, 'dest')
        p = self.s.ctl('backup', 'alice', dest, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('not a regular file', p.stderr)
        self.assertEqual(os.listdir(dest), [])


if __name__ == '__main__':
    unittest.main(verbosity=2)
