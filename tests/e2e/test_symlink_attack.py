"""test_symlink_attack.py - root never works through a link a user planted.

data_dir/users/<name>/ belongs to the user's uid, so that user's mailbox
process can replace store.db, store.db-wal, store.db-shm (or, were users/
ever writable, users/<name> itself) with a symbolic link to a file under
/etc.  mailkeepctl runs as root; so does the master.  For every
mailkeepctl command, and for a login through the master, each such link
is planted in turn, pointing into a stand-in for /etc (a root-owned 0755
directory holding a 0644 file with content, an empty 0640 file - SQLite
would happily write a database into an empty file - and a name that does
not exist).  The command must refuse, or act on the link's own directory
entry only; the stand-in's files keep their content, owner, mode and
mtime, and nothing new appears in it.

A hand-over of a directory left by an earlier user of the name (userdel
--keep-mail, then useradd) must not chown a hard link to a root file.

Needs root (real uids); skipped with the reason printed otherwise.
"""
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import (Closed, Server, children_of, ctl_path, is_root,  # noqa: E402
                       proc_uid)

MESSAGE = 'From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n'
PASSWD = b'root:x:0:0:root:/root:/bin/bash\n'
SIDE = ('store.db', 'store.db-wal', 'store.db-shm')

# What the link points at, in the stand-in for /etc.
KINDS = ('passwd', 'shadow', 'absent')

# Every mailkeepctl command, as the argument lists run in order (the last
# one is judged).  'store': it works on alice's store and must refuse a
# link there; 'del': it removes alice's directory; else it must not care.
COMMANDS = [
    ('deliver', 'store', [['deliver', 'alice']]),
    ('deliver-mailbox', 'store', [['deliver', 'alice', '--mailbox',
                                   'Sent']]),
    ('quota', 'store', [['quota', 'alice']]),
    ('quota-set', 'other', [['quota', 'alice', '--storage', '2G']]),
    ('quota-check-one', 'store', [['quota-check', 'alice']]),
    ('quota-check-all', 'store', [['quota-check']]),
    ('acl-list', 'store', [['acl', 'alice']]),
    ('acl-list-one', 'store', [['acl', 'alice', 'INBOX']]),
    ('acl-set', 'store', [['acl', 'alice', 'INBOX', 'bob', 'lr']]),
    ('userdel', 'del', [['userdel', 'alice']]),
    ('userdel-keep', 'other', [['userdel', 'alice', '--keep-mail']]),
    # useradd of a name whose directory is still there, then the first
    # delivery, which hands the directory to the new uid
    ('useradd-existing', 'store', [['userdel', 'alice', '--keep-mail'],
                                   ['useradd', 'alice', '--password-stdin'],
                                   ['deliver', 'alice']]),
    ('passwd', 'other', [['passwd', 'alice', '--password-stdin']]),
    ('admin', 'other', [['admin', 'alice', 'on']]),
    ('users', 'other', [['users']]),
    ('audit', 'other', [['audit', '--user', 'alice']]),
]


def stdin_for(args):
    if args[0] == 'deliver':
        return MESSAGE
    if args[0] in ('useradd', 'passwd'):
        return 'pw\n'
    return None


class FakeEtc:
    """A root-owned stand-in for /etc, and a record of its state."""

    def __init__(self, parent):
        self.dir = os.path.join(parent, 'etc')
        self.reset()

    def reset(self):
        """Back to the known state (a case that failed may have written
        or created files here)."""
        if os.path.lexists(self.dir):
            shutil.rmtree(self.dir)
        os.mkdir(self.dir)
        os.chmod(self.dir, 0o755)
        self.make('passwd', PASSWD, 0o644)
        self.make('shadow', b'', 0o640)

    def make(self, name, data, mode):
        p = os.path.join(self.dir, name)
        with open(p, 'wb') as f:
            f.write(data)
        os.chmod(p, mode)
        # an mtime in the past, so a write now cannot hit the same value
        os.utime(p, ns=(10**18, 10**18))

    def path(self, name):
        return os.path.join(self.dir, name)

    def snapshot(self):
        out = {}
        for name in sorted(os.listdir(self.dir)):
            p = os.path.join(self.dir, name)
            st = os.lstat(p)
            with open(p, 'rb') as f:
                data = f.read()
            out[name] = (data, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode),
                         st.st_mtime_ns, st.st_nlink)
        return out


def remove_entry(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


@unittest.skipUnless(is_root(), 'needs root: per-user uids')
class CtlAttack(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(users={'alice': 'pw', 'bob': 'pw'}, start=False)
        cls.etc = FakeEtc(cls.server.tmp)
        cls.users = os.path.join(cls.server.data_dir, 'users')

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def ctl(self, args):
        return self.server.ctl(*args, stdin=stdin_for(args), check=False)

    def fresh_alice(self):
        """alice exists, with a store of her own and no side files."""
        if 'alice' not in self.ctl(['users']).stdout.split():
            p = self.ctl(['useradd', 'alice', '--password-stdin'])
            self.assertEqual(p.returncode, 0, p.stderr)
        self.ctl(['admin', 'alice', 'off'])
        home = os.path.join(self.users, 'alice')
        remove_entry(home)
        p = self.ctl(['deliver', 'alice'])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for side in SIDE[1:]:
            remove_entry(os.path.join(home, side))
        st = os.stat(home)
        self.assertNotEqual(st.st_uid, 0)
        self.assertEqual(os.stat(os.path.join(home, 'store.db')).st_uid,
                         st.st_uid)
        return home, st.st_uid

    def plant(self, home, uid, entry, kind):
        """entry of alice's directory (or 'dir': the directory itself)
        becomes a link, owned by alice's uid as if she had made it."""
        if entry == 'dir':
            remove_entry(home)
            link, target = home, self.etc.dir
        else:
            link, target = os.path.join(home, entry), self.etc.path(kind)
            remove_entry(link)
        os.symlink(target, link)
        os.lchown(link, uid, uid)
        return link

    def check(self, name, what, steps, entry, kind):
        home, uid = self.fresh_alice()
        self.etc.reset()
        link = self.plant(home, uid, entry, kind)
        before = self.etc.snapshot()
        for args in steps:
            p = self.ctl(args)
        out = p.stdout + p.stderr
        self.assertEqual(self.etc.snapshot(), before,
                         'the target changed: %s' % out)
        self.assertFalse(os.path.lexists(self.etc.path('absent')),
                         'a file was created at the target: %s' % out)
        self.assertFalse(os.path.lexists(
            os.path.join(self.etc.dir, 'store.db')), out)
        if what == 'store':
            self.assertNotEqual(p.returncode, 0, out)
            self.assertIn('refused', p.stderr)
        elif what == 'del':
            # the link's own entry went, or the directory holding it
            self.assertFalse(os.path.lexists(link), out)
            self.assertFalse(os.path.lexists(home), out)
        else:
            self.assertEqual(p.returncode, 0, out)
        if entry != 'dir' and what != 'del':
            # nothing followed it, nothing replaced it
            self.assertTrue(os.path.islink(link), out)

    def run_command(self, name):
        what, steps = [(w, s) for n, w, s in COMMANDS if n == name][0]
        for entry in SIDE:
            for kind in KINDS:
                with self.subTest(entry=entry, target=kind):
                    self.check(name, what, steps, entry, kind)
        with self.subTest(entry='users/alice', target='etc'):
            self.check(name, what, steps, 'dir', None)


def add_tests():
    for name, _, _ in COMMANDS:
        def t(self, name=name):
            self.run_command(name)
        t.__name__ = 'test_' + name.replace('-', '_')
        setattr(CtlAttack, t.__name__, t)


add_tests()


@unittest.skipUnless(is_root(), 'needs root: per-user uids')
class MasterAttack(unittest.TestCase):
    """The master (root) prepares users/<name> before it spawns the
    user's mailbox process; a login with links planted changes nothing
    outside."""

    def setUp(self):
        self.users_list = ['u%d' % i for i in range(len(SIDE) + 1)]
        self.server = Server(users={u: 'pw' for u in self.users_list},
                             config={'mailbox_linger': 0})
        self.addCleanup(self.server.cleanup)
        self.etc = FakeEtc(self.server.tmp)
        self.users = os.path.join(self.server.data_dir, 'users')

    def deliver(self, user):
        p = self.server.ctl('deliver', user, stdin=MESSAGE, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        home = os.path.join(self.users, user)
        for side in SIDE[1:]:
            remove_entry(os.path.join(home, side))
        return home, os.stat(home).st_uid

    def login_and_use(self, user):
        """Logs in and appends; the server may refuse (a NO, or closing
        the connection when it cannot prepare the user's directory)."""
        try:
            with self.server.client() as c:
                tagged, _ = c.login(user, 'pw')
                if ' OK' in tagged:
                    c.cmd('SELECT INBOX')
                    c.append('INBOX', MESSAGE)
                    c.cmd('LOGOUT')
        except Closed:
            pass

    def test_login_with_links(self):
        for i, entry in enumerate(SIDE + ('dir',)):
            user = self.users_list[i]
            home, uid = self.deliver(user)
            if entry == 'dir':
                remove_entry(home)
                os.symlink(self.etc.dir, home)
            else:
                remove_entry(os.path.join(home, entry))
                os.symlink(self.etc.path('passwd'),
                           os.path.join(home, entry))
            before = self.etc.snapshot()
            self.login_and_use(user)
            with self.subTest(entry=entry):
                self.assertEqual(self.etc.snapshot(), before)
                self.assertFalse(os.path.lexists(
                    os.path.join(self.etc.dir, 'store.db')))
        self.server.stop()

    def test_handover_leaves_hard_links_alone(self):
        """A directory left by an earlier user of the name goes to the
        new uid, but a hard link in it to a root file, a link and what a
        link points to keep their owners."""
        user = self.users_list[0]
        home, old_uid = self.deliver(user)
        os.link(self.etc.path('passwd'), os.path.join(home, 'hard'))
        sub = os.path.join(home, 'sub')
        os.mkdir(sub)
        os.chown(sub, old_uid, old_uid)
        os.symlink(self.etc.path('shadow'), os.path.join(sub, 'soft'))
        os.lchown(os.path.join(sub, 'soft'), old_uid, old_uid)
        self.server.ctl('userdel', user, '--keep-mail')
        self.server.ctl('useradd', user, '--password-stdin', stdin='pw\n')
        before = self.etc.snapshot()
        self.login_and_use(user)
        after = self.etc.snapshot()
        self.assertEqual(after, before)
        st = os.stat(home)
        self.assertNotEqual(st.st_uid, old_uid)     # handed over
        self.assertEqual(os.stat(os.path.join(home, 'store.db')).st_uid,
                         st.st_uid)
        self.assertEqual(os.stat(sub).st_uid, st.st_uid)
        self.assertEqual(os.stat(self.etc.path('passwd')).st_uid, 0)
        self.server.stop()

    def test_ctl_handover_leaves_hard_links_alone(self):
        """The same hand-over, done by mailkeepctl deliver."""
        user = self.users_list[1]
        home, old_uid = self.deliver(user)
        os.link(self.etc.path('passwd'), os.path.join(home, 'hard'))
        self.server.ctl('userdel', user, '--keep-mail')
        self.server.ctl('useradd', user, '--password-stdin', stdin='pw\n')
        before = self.etc.snapshot()
        p = self.server.ctl('deliver', user, stdin=MESSAGE, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.etc.snapshot(), before)
        self.assertNotEqual(os.stat(home).st_uid, old_uid)
        self.server.stop()


@unittest.skipUnless(is_root(), 'needs root: per-user uids')
class WorkerUid(unittest.TestCase):
    """What a worker creates belongs to the user; userdel of a real tree
    removes it all."""

    def test_store_and_userdel(self):
        with Server(users={'erin': 'pw'}, start=False) as s:
            p = s.ctl('deliver', 'erin', stdin=MESSAGE, check=False)
            self.assertEqual(p.returncode, 0, p.stderr)
            home = os.path.join(s.data_dir, 'users', 'erin')
            uid = os.stat(home).st_uid
            self.assertNotEqual(uid, 0)
            for name in os.listdir(home):
                st = os.lstat(os.path.join(home, name))
                self.assertEqual((st.st_uid, st.st_gid), (uid, uid), name)
            os.makedirs(os.path.join(home, 'a', 'b'))
            with open(os.path.join(home, 'a', 'b', 'f'), 'w') as f:
                f.write('x')
            for d in (os.path.join(home, 'a'), os.path.join(home, 'a', 'b'),
                      os.path.join(home, 'a', 'b', 'f')):
                os.chown(d, uid, uid)
            p = s.ctl('userdel', 'erin', check=False)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertFalse(os.path.lexists(home))

    def test_worker_is_the_user_and_holds_no_hash(self):
        """While a delivery worker waits for the rest of the message on
        stdin: it runs as the user's uid (all four ids), holds no
        descriptor of directory.db, and no password hash is anywhere in
        its memory or its spawner's - while its root parent's memory does
        hold one (the control that the scan can see them)."""
        with Server(users={'erin': 'pw-erin', 'frank': 'pw-frank'},
                    start=False) as s:
            s.ctl('deliver', 'erin', stdin=MESSAGE)
            home = os.path.join(s.data_dir, 'users', 'erin')
            uid = os.stat(home).st_uid
            db = sqlite3.connect(os.path.join(s.data_dir, 'directory.db'))
            hashes = [h.encode() for (h,) in
                      db.execute('SELECT hash FROM users')]
            db.close()
            self.assertEqual(len(hashes), 2)
            p = subprocess.Popen([ctl_path(), '-c', s.conf, 'deliver', 'erin'],
                                 stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            try:
                p.stdin.write(b'Subject: slow\r\n')
                p.stdin.flush()
                worker = None
                deadline = time.time() + 10
                while worker is None and time.time() < deadline:
                    for k in children_of(p.pid):
                        if proc_uid(k) == [uid] * 4:
                            worker = k
                    time.sleep(0.02)
                self.assertIsNotNone(worker, 'no worker with uid %d' % uid)
                fds = {}
                for fd in os.listdir('/proc/%d/fd' % worker):
                    try:
                        fds[fd] = os.readlink('/proc/%d/fd/%s' % (worker, fd))
                    except OSError:
                        pass
                for fd, target in fds.items():
                    self.assertNotIn('directory.db', target)
                    self.assertTrue(target.startswith('pipe:') or
                                    target.startswith(s.data_dir), fds)
                self.assertEqual(scan(worker, hashes), [])
                # nor in the spawner that forked it (root, forked before
                # directory.db was opened)
                spawners = [k for k in children_of(p.pid)
                            if k != worker and proc_uid(k) == [0] * 4]
                self.assertEqual(len(spawners), 1)
                self.assertEqual(scan(spawners[0], hashes), [])
                self.assertNotEqual(scan(p.pid, hashes), [],
                                    'control: the root parent read a hash')
                p.stdin.write(b'\r\nbody\r\n')
                p.stdin.close()
                self.assertEqual(p.wait(timeout=30), 0, p.stderr.read())
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stdout.close()
                p.stderr.close()


def scan(pid, needles):
    """The needles found in pid's writable memory."""
    found = set()
    with open('/proc/%d/maps' % pid) as maps, \
            open('/proc/%d/mem' % pid, 'rb', 0) as mem:
        for line in maps:
            m = re.match(r'([0-9a-f]+)-([0-9a-f]+) (\S+)', line)
            if m is None or 'w' not in m.group(3) or 'r' not in m.group(3):
                continue
            lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            for n in needles:
                if n in data:
                    found.add(n)
    return sorted(found)


if __name__ == '__main__':
    if not is_root():
        print('test_symlink_attack: skipped: needs root (per-user uids, '
              'root-owned targets)', file=sys.stderr)
    unittest.main(verbosity=2)
