"""test_symlink_attack.py - root never works through a link a user planted.

data_dir/users/<name>/ belongs to the user's uid, so that user's mailbox
process can replace store.db, store.db-wal or store.db-shm with a
symbolic link to a file under /etc (or to a name that does not exist
there), or, where the system lets users make them, a hard link to one;
were users/ ever writable, users/<name> itself could be a link to /etc.
Root must never open, create, write, chown or chmod anything through
such a link.  Root deals with users/<name> in two places
(doc/mailkeepctl.md, "What runs as which uid"):

* mailkeepctl: quota NAME, quota-check, acl, fts-rebuild and compress
  work on the user's store (through a worker that runs as the user),
  userdel removes the directory (a worker running as its owner empties
  it); every other command must leave it alone.
* the master, before it spawns a user's mailbox process - at an IMAP
  login, and at an LMTP delivery (over the socket, or by `mailkeepctl
  deliver`, a client of that socket) - creates users/<name>, or hands
  over a directory left by an earlier user of the name (userdel
  --keep-mail, then useradd: a new id, so a new uid).

Each case plants one link pointing into a stand-in for /etc: a
root-owned 0755 directory holding passwd (0644, with content) and
shadow (an empty 0640 file: SQLite run as root would write a database
into it, or create one where a link to a missing name points, while the
user's uid can do neither).  Then it runs the command or the server
path, and checks that the stand-in is unchanged - its names, and the
content, owner, group, mode and mtime of each file and of itself - and
that the command refused (store commands), removed the link itself and
nothing else (userdel) or left it alone, and that the master prepared
the directory (0700 and the user's afterwards, handed over from the
earlier uid) or refused a link in its place.  A hand-over also finds
links to files the earlier user owns outside the directory, which must
keep their owner too.  A case with no link planted is the control: the
same steps succeed.

Also: a hand-over leaves alone a file root owns even when one link is
left (a hard link whose other name has gone), and a worker, caught
while it waits for a lock the user holds on their store, runs as the
user and holds no password hash.

Needs root (real uids); skipped with the reason printed otherwise.
"""
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import (Closed, Server, children_of, ctl_path, is_root,  # noqa: E402
                       proc_uid, wait_for)

MESSAGE = 'From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n'
PASSWD = b'root:x:0:0:root:/root:/bin/bash\n'
SIDE = ('store.db', 'store.db-wal', 'store.db-shm')
MAIL_UID_BASE = 200000          # the default mail_uid_base

# What replaces an entry of the user's directory: a symbolic link to
# the stand-in's passwd, shadow or to a name missing there, or a hard
# link to passwd or shadow.
KINDS = ('passwd', 'shadow', 'absent', 'hard:passwd', 'hard:shadow')


def cases():
    """(entry, kind): None, None is the control (nothing planted);
    'dir' is users/<name> itself replaced by a link to the stand-in."""
    out = [(None, None)]
    out += [(e, k) for e in SIDE for k in KINDS]
    out.append(('dir', 'etc'))
    return out


class FakeEtc:
    """A root-owned stand-in for /etc, and a record of its state."""

    def __init__(self, parent):
        self.dir = os.path.join(parent, 'etc')
        self.reset()

    def reset(self):
        """Back to the known state (a failed case may have changed it)."""
        if os.path.islink(self.dir):
            os.unlink(self.dir)
        elif os.path.lexists(self.dir):
            shutil.rmtree(self.dir)
        os.mkdir(self.dir)
        os.chmod(self.dir, 0o755)
        self.make('passwd', PASSWD, 0o644)
        self.make('shadow', b'', 0o640)
        # in the past, so a change now cannot keep the same value
        os.utime(self.dir, ns=(10**18, 10**18))

    def make(self, name, data, mode):
        p = os.path.join(self.dir, name)
        with open(p, 'wb') as f:
            f.write(data)
        os.chmod(p, mode)
        os.utime(p, ns=(10**18, 10**18))

    def path(self, name):
        return os.path.join(self.dir, name)

    def snapshot(self):
        """Names, and (content, uid, gid, mode, type, mtime) of the
        directory and of each file in it.  Not the link count: a hard
        link planted elsewhere changes it; see nlink()."""
        st = os.lstat(self.dir)
        out = {'.': (None, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode),
                     stat.S_IFMT(st.st_mode), st.st_mtime_ns)}
        for name in sorted(os.listdir(self.dir)):
            p = os.path.join(self.dir, name)
            st = os.lstat(p)
            data = None
            if stat.S_ISREG(st.st_mode):
                with open(p, 'rb') as f:
                    data = f.read()
            out[name] = (data, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode),
                         stat.S_IFMT(st.st_mode), st.st_mtime_ns)
        return out

    def nlink(self, name):
        return os.lstat(self.path(name)).st_nlink

    def assert_untouched(self, case, before, why):
        after = self.snapshot()
        if after != before:
            case.fail('the stand-in for /etc changed: %s\n%s' %
                      ('; '.join(changes(before, after)), why))
        for name in ('absent', 'store.db', 'store.db-wal', 'store.db-shm'):
            case.assertFalse(os.path.lexists(self.path(name)),
                             'created at a link target: %s: %s' % (name, why))


FIELDS = ('content', 'uid', 'gid', 'mode', 'type', 'mtime')


def changes(before, after):
    """What differs between two snapshots, briefly."""
    out = ['%s appeared' % n for n in sorted(set(after) - set(before))]
    out += ['%s went' % n for n in sorted(set(before) - set(after))]
    for n in sorted(set(before) & set(after)):
        for f, a, b in zip(FIELDS, before[n], after[n]):
            if a != b:
                if f == 'content':
                    a, b = '%d bytes' % len(a), '%d bytes' % len(b)
                out.append('%s: %s %s -> %s' % (n, f, a, b))
    return out


def remove_entry(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def plant(etc, home, uid, entry, kind):
    """entry of the user's directory (or 'dir': the directory itself)
    becomes a link: a symbolic one owned by uid, as if the user had made
    it, or a hard link (the target's inode, root's).  Returns its path."""
    if entry == 'dir':
        remove_entry(home)
        os.symlink(etc.dir, home)
        os.lchown(home, uid, uid)
        return home
    link = os.path.join(home, entry)
    remove_entry(link)
    if kind.startswith('hard:'):
        os.link(etc.path(kind[5:]), link)
    else:
        os.symlink(etc.path(kind), link)
        os.lchown(link, uid, uid)
    return link


def entry_state(path):
    """What identifies the entry itself (not what it points to)."""
    st = os.lstat(path)
    target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
    return (stat.S_IFMT(st.st_mode), st.st_dev, st.st_ino, st.st_uid,
            st.st_gid, target)


def user_id(server, name):
    """The user's id in directory.db, or None."""
    db = sqlite3.connect(os.path.join(server.data_dir, 'directory.db'),
                         timeout=10)
    try:
        row = db.execute('SELECT id FROM users WHERE name = ?',
                         (name,)).fetchone()
    finally:
        db.close()
    return None if row is None else row[0]


def user_uid(server, name):
    i = user_id(server, name)
    return None if i is None else MAIL_UID_BASE + i


def make_template(server, user, dest):
    """A store written by the server: delivered to user, copied once the
    user's mailbox process is gone (its WAL checkpointed and removed)."""
    p = server.ctl('deliver', user, stdin=MESSAGE, check=False)
    if p.returncode != 0:
        raise AssertionError('deliver: %d %s' % (p.returncode, p.stderr))
    home = os.path.join(server.data_dir, 'users', user)
    uid = user_uid(server, user)
    if os.stat(home).st_uid != uid:
        raise AssertionError('users/%s is uid %d, not %d: mail_uid_base?' %
                             (user, os.stat(home).st_uid, uid))
    wait_gone(server, {uid})
    left = sorted(os.listdir(home))
    if left != ['store.db', 'tmp']:
        raise AssertionError('after the mailbox process: %s' % left)
    shutil.copyfile(os.path.join(home, 'store.db'), dest)


def server_uids(server, uids):
    """The master's children (mailbox processes are) running as uids."""
    pid = server.pid
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            kids = [int(k) for k in f.read().split()]
    except FileNotFoundError:       # a kernel without CONFIG_PROC_CHILDREN
        kids = server.children()
    return [k for k in kids if (proc_uid(k) or [None])[0] in uids]


def wait_gone(server, uids):
    """Until no mailbox process of these uids is left (mailbox_linger is
    0, so it ends with its last session)."""
    wait_for(lambda: not server_uids(server, uids), 10, interval=0.01,
             what='mailbox processes of uids %s gone' % sorted(uids))


def fill_home(home, template, uid):
    """users/<name>: a directory with a store, as the user would have."""
    remove_entry(home)
    os.mkdir(home, 0o700)
    store = os.path.join(home, 'store.db')
    shutil.copyfile(template, store)
    os.chmod(store, 0o600)
    os.chown(store, uid, uid)
    os.chown(home, uid, uid)


# ---------------------------------------------------------------------
# mailkeepctl

# (name, expect, steps): the steps run in order and the last one is
# judged.  'refuse': it works on alice's store and must refuse a link
# there; 'del': it removes alice's directory; 'ok': it must not care.
# 'earlier-*': alice was deleted with --keep-mail and added again (a new
# uid), so her directory still belongs to her earlier uid: the store
# commands refuse it, userdel removes it.  earlier-useradd runs that
# deletion and addition itself, in every case; for the others alice has
# been deleted and added again once (an earlier uid is known), and each
# case fills her directory as that earlier uid's (the same state, with
# no password hashed per case).
KEEP = ['userdel', 'alice', '--keep-mail']
READD = ['useradd', 'alice', '--password-stdin']
EARLIER = 'earlier'
CTL = [
    ('quota', 'refuse', [['quota', 'alice']]),
    ('quota-set', 'ok', [['quota', 'alice', '--storage', '2G']]),
    ('quota-check-one', 'refuse', [['quota-check', 'alice']]),
    ('quota-check-all', 'refuse', [['quota-check']]),
    ('acl-list', 'refuse', [['acl', 'alice']]),
    ('acl-list-one', 'refuse', [['acl', 'alice', 'INBOX']]),
    ('acl-set', 'refuse', [['acl', 'alice', 'INBOX', 'bob', 'lr']]),
    ('fts-rebuild-one', 'refuse', [['fts-rebuild', 'alice']]),
    ('fts-rebuild-all', 'refuse', [['fts-rebuild', '--all']]),
    ('compress-one', 'refuse', [['compress', 'alice']]),
    ('compress-all', 'refuse', [['compress', '--all']]),
    ('userdel', 'del', [['userdel', 'alice']]),
    ('userdel-keep', 'ok', [KEEP]),
    ('passwd', 'ok', [['passwd', 'alice', '--password-stdin']]),
    ('admin', 'ok', [['admin', 'alice', 'on']]),
    ('users', 'ok', [['users']]),
    ('audit', 'ok', [['audit', '--user', 'alice']]),
    ('earlier-useradd', 'ok', [KEEP, READD]),
    ('earlier-quota', 'refuse', [EARLIER, ['quota', 'alice']]),
    ('earlier-quota-check', 'refuse', [EARLIER, ['quota-check']]),
    ('earlier-acl-set', 'refuse', [EARLIER,
                                   ['acl', 'alice', 'INBOX', 'bob', 'lr']]),
    ('earlier-fts-rebuild', 'refuse', [EARLIER, ['fts-rebuild', 'alice']]),
    ('earlier-compress', 'refuse', [EARLIER, ['compress', 'alice']]),
    ('earlier-userdel', 'del', [EARLIER, ['userdel', 'alice']]),
]


def stdin_for(args):
    if args[0] in ('useradd', 'passwd'):
        return 'pw\n'
    return None


@unittest.skipUnless(is_root(), 'needs root: per-user uids')
class CtlAttack(unittest.TestCase):
    """Every mailkeepctl command, run as root with no server running,
    against each link in alice's directory."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(users={'alice': 'pw', 'bob': 'pw'},
                            config={'mailbox_linger': 0})
        try:
            cls.template = os.path.join(cls.server.tmp, 'template.db')
            make_template(cls.server, 'alice', cls.template)
            cls.server.stop()
        except BaseException:
            cls.server.cleanup()
            raise
        cls.etc = FakeEtc(cls.server.tmp)
        cls.users = os.path.join(cls.server.data_dir, 'users')
        cls.earlier_uid = None

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def ctl(self, args):
        return self.server.ctl(*args, stdin=stdin_for(args), check=False)

    def fresh_alice(self, earlier):
        """alice exists, with a directory and a store (one message) and
        no side files, of her own uid or (earlier) of an earlier uid
        of hers.  Returns the directory and its owner."""
        uid = user_uid(self.server, 'alice')
        if uid is None:
            p = self.ctl(READD)
            self.assertEqual(p.returncode, 0, p.stderr)
            uid = user_uid(self.server, 'alice')
        if earlier and self.earlier_uid in (None, uid):
            self.ctl(KEEP)
            self.ctl(READD)
            CtlAttack.earlier_uid = uid
            uid = user_uid(self.server, 'alice')
        if earlier:
            uid = self.earlier_uid
        home = os.path.join(self.users, 'alice')
        fill_home(home, self.template, uid)
        return home, uid

    def check(self, expect, steps, entry, kind):
        prepared = steps[0] == EARLIER
        earlier = prepared or (steps[0] == KEEP and len(steps) > 1)
        if prepared:
            steps = steps[1:]
        home, uid = self.fresh_alice(prepared)
        self.etc.reset()
        link = None
        if entry is not None:
            link = plant(self.etc, home, uid, entry, kind)
            planted = entry_state(link)
        before = self.etc.snapshot()
        for args in steps:
            p = self.ctl(args)
        out = 'exit %d: %s%s' % (p.returncode, p.stdout, p.stderr)
        self.etc.assert_untouched(self, before, out)
        hard = kind[5:] if kind and kind.startswith('hard:') else None
        if entry is None and expect == 'refuse' and not earlier:
            # the control: with no link the same command works
            self.assertEqual(p.returncode, 0, out)
            self.assertNotIn('refused', p.stderr)
            if steps[-1][0] == 'quota':
                self.assertIn('alice: messages 1 of', p.stdout)
        elif expect == 'refuse':
            self.assertNotEqual(p.returncode, 0, out)
            self.assertIn('refused', p.stderr)
            if earlier and entry != 'dir':
                self.assertIn('users/alice belongs to uid %d, not %d: '
                              'refused' % (uid, user_uid(self.server,
                                                         'alice')),
                              p.stderr)
        elif expect == 'del':
            self.assertEqual(p.returncode, 0, out)
            # the link's own entry went with the directory holding it
            self.assertFalse(os.path.lexists(home), out)
            if hard:
                self.assertEqual(self.etc.nlink(hard), 1, out)
        else:
            self.assertEqual(p.returncode, 0, out)
        if link is not None and expect != 'del':
            # nothing replaced it, nothing changed its owner
            self.assertEqual(entry_state(link), planted, out)
            if hard:
                self.assertEqual(self.etc.nlink(hard), 2, out)

    def run_command(self, name):
        expect, steps = [(e, s) for n, e, s in CTL if n == name][0]
        for entry, kind in cases():
            with self.subTest(entry=entry, target=kind):
                self.check(expect, steps, entry, kind)


def add_ctl_tests():
    for name, _, _ in CTL:
        def t(self, name=name):
            self.run_command(name)
        t.__name__ = 'test_' + name.replace('-', '_')
        setattr(CtlAttack, t.__name__, t)


add_ctl_tests()


# ---------------------------------------------------------------------
# the master: login and LMTP delivery

class Lmtp:
    """Just enough of an LMTP client."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b''
        self.greeting = self.reply()

    def reply(self):
        while True:
            while b'\r\n' not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError('LMTP connection closed')
                self.buf += data
            line, self.buf = self.buf.split(b'\r\n', 1)
            line = line.decode()
            if line[3:4] != '-':
                return line

    def cmd(self, text):
        self.sock.sendall(text.encode() + b'\r\n')
        return self.reply()

    def close(self):
        self.sock.close()


def lmtp_deliver(server, user):
    """One message to user over the LMTP socket; True if delivered."""
    c = Lmtp(os.path.join(server.data_dir, 'lmtp'))
    try:
        assert c.greeting.startswith('220 '), c.greeting
        assert c.cmd('LHLO test.example.org').startswith('250'), 'LHLO'
        assert c.cmd('MAIL FROM:<a@example.org>').startswith('250'), 'MAIL'
        if not c.cmd('RCPT TO:<%s>' % user).startswith('250'):
            c.cmd('QUIT')
            return False
        assert c.cmd('DATA').startswith('354'), 'DATA'
        ok = c.cmd(MESSAGE + '.').startswith('250')
        c.cmd('QUIT')
        return ok
    finally:
        c.close()


def ctl_deliver(server, user):
    p = server.ctl('deliver', user, stdin=MESSAGE, check=False)
    return p.returncode == 0


def imap_login(server, user):
    """Logs in, selects and appends; True if all of it worked.  The
    server may refuse (a NO, or a BYE when it cannot prepare the user's
    directory or the store cannot be opened)."""
    try:
        with server.client(timeout=10) as c:
            tagged, _ = c.login(user, 'pw')
            if ' OK' not in tagged:
                return False
            tagged, _ = c.cmd('SELECT INBOX')
            if ' OK' not in tagged:
                return False
            tagged, _ = c.append('INBOX', MESSAGE)
            c.cmd('LOGOUT')
            return ' OK' in tagged
    except (Closed, OSError):
        return False


TRIGGERS = {'login': imap_login, 'lmtp': lmtp_deliver,
            'deliver': ctl_deliver}


@unittest.skipUnless(is_root(), 'needs root: per-user uids')
class MasterAttack(unittest.TestCase):
    """The master (root) prepares users/<name> before it spawns the
    user's mailbox process, at a login and at an LMTP delivery.  With a
    link planted, nothing changes outside the directory; a directory of
    an earlier user of the name is handed over to the new uid without
    following a link or chowning a hard-linked file."""

    USER = 'carol'

    @classmethod
    def setUpClass(cls):
        cls.server = Server(users={cls.USER: 'pw'},
                            config={'mailbox_linger': 0})
        try:
            cls.template = os.path.join(cls.server.tmp, 'template.db')
            make_template(cls.server, cls.USER, cls.template)
        except BaseException:
            cls.server.cleanup()
            raise
        cls.etc = FakeEtc(cls.server.tmp)
        cls.home = os.path.join(cls.server.data_dir, 'users', cls.USER)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.server.cleanup()

    def readd(self):
        """userdel --keep-mail, useradd: the same name, a new uid."""
        self.server.ctl('userdel', self.USER, '--keep-mail')
        self.server.ctl('useradd', self.USER, '--password-stdin',
                        stdin='pw\n')
        return user_uid(self.server, self.USER)

    def check(self, trigger, earlier, entry, kind):
        user, home = self.USER, self.home
        self.etc.reset()
        uid = user_uid(self.server, user)
        fill_home(home, self.template, uid)
        extra, outside = {}, {}
        if earlier:
            # more of what the earlier user may have left: a directory
            # holding a symbolic link and a hard link into /etc, and a
            # symbolic and a hard link to files of the earlier user's
            # own outside users/<name> (these would be handed over by a
            # walk that followed links or chowned hard links, even one
            # that changes nothing root owns)
            sub = os.path.join(home, 'sub')
            os.mkdir(sub, 0o700)
            os.chown(sub, uid, uid)
            os.symlink(self.etc.path('shadow'), os.path.join(sub, 'soft'))
            os.lchown(os.path.join(sub, 'soft'), uid, uid)
            os.link(self.etc.path('passwd'), os.path.join(sub, 'hard'))
            out = os.path.join(self.server.tmp, 'outside')
            remove_entry(out)
            os.mkdir(out, 0o755)
            for name in ('mine-soft', 'mine-hard'):
                with open(os.path.join(out, name), 'w') as f:
                    f.write('the earlier user\'s\n')
                os.chown(os.path.join(out, name), uid, uid)
            os.symlink(os.path.join(out, 'mine-soft'),
                       os.path.join(sub, 'soft-mine'))
            os.lchown(os.path.join(sub, 'soft-mine'), uid, uid)
            os.link(os.path.join(out, 'mine-hard'),
                    os.path.join(sub, 'hard-mine'))
            extra = {os.path.join(sub, n): entry_state(os.path.join(sub, n))
                     for n in ('soft', 'hard', 'soft-mine', 'hard-mine')}
            outside = {os.path.join(out, n): entry_state(os.path.join(out, n))
                       for n in ('mine-soft', 'mine-hard')}
        link = None
        if entry is not None:
            link = plant(self.etc, home, uid, entry, kind)
            extra[link] = entry_state(link)
        if entry != 'dir':
            # the master makes it 0700: the sign that it prepared it
            os.chmod(home, 0o755)
        before = self.etc.snapshot()
        old_uid, new_uid = uid, uid
        if earlier:
            new_uid = self.readd()
            self.assertNotEqual(new_uid, old_uid)
        logpos = len(self.server.logtext())
        ok = TRIGGERS[trigger](self.server, user)
        wait_gone(self.server, {old_uid, new_uid})
        log = self.server.logtext()[logpos:]
        why = '%s returned %s; log:\n%s' % (trigger, ok, log)

        self.etc.assert_untouched(self, before, why)
        if entry == 'dir':
            # refused, and the link left as it was
            self.assertFalse(ok, why)
            self.assertEqual(entry_state(home), extra[home], why)
            self.assertIn('users/%s: not a directory (a link or a file is '
                          'in its place): refused' % user, log)
            return
        st = os.lstat(home)
        self.assertTrue(stat.S_ISDIR(st.st_mode), why)
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)),
                         (new_uid, new_uid, 0o700), why)
        if entry is None:
            self.assertTrue(ok, why)
        if entry != 'store.db':
            # a real store, with one link, handed over
            self.assertEqual(os.lstat(os.path.join(home, 'store.db')).st_uid,
                             new_uid, why)
        if earlier:
            self.assertEqual(os.lstat(os.path.join(home, 'sub')).st_uid,
                             new_uid, why)
        for p, state in outside.items():
            self.assertEqual(entry_state(p), state, '%s: %s' % (p, why))
        for p, state in extra.items():
            # The hand-over left the links alone: not chowned, not
            # replaced.  (The user's own process may have removed one:
            # SQLite deletes a -wal or -shm file it closes.)
            if os.path.lexists(p) and entry_state(p)[:3] == state[:3]:
                self.assertEqual(entry_state(p), state, '%s: %s' % (p, why))

    def run_trigger(self, trigger, earlier):
        for entry, kind in cases():
            with self.subTest(entry=entry, target=kind):
                self.check(trigger, earlier, entry, kind)

    def test_login(self):
        self.run_trigger('login', False)

    def test_lmtp(self):
        self.run_trigger('lmtp', False)

    def test_deliver(self):
        self.run_trigger('deliver', False)

    def test_login_hands_over(self):
        self.run_trigger('login', True)

    def test_lmtp_hands_over(self):
        self.run_trigger('lmtp', True)

    def test_deliver_hands_over(self):
        self.run_trigger('deliver', True)

    def test_handover_leaves_root_files_alone(self):
        """A file root owns, in a directory left by an earlier user, is
        not handed over even with a single link left: a hard link to
        /etc/shadow, say, whose original name went away when shadow was
        replaced (by rename, as passwd(1) does) is the only name of the
        old shadow.  Nor is a directory root owns, or what is in it."""
        for trigger in ('login', 'lmtp'):
            with self.subTest(trigger=trigger):
                self.etc.reset()
                uid = user_uid(self.server, self.USER)
                fill_home(self.home, self.template, uid)
                self.etc.make('shadow-', b'root:$y$old-hash:::\n', 0o600)
                old = os.path.join(self.home, 'old-shadow')
                os.link(self.etc.path('shadow-'), old)
                os.unlink(self.etc.path('shadow-'))
                self.assertEqual(os.lstat(old).st_nlink, 1)
                rootdir = os.path.join(self.home, 'rootdir')
                os.mkdir(rootdir, 0o755)
                with open(os.path.join(rootdir, 'f'), 'w') as f:
                    f.write('root\n')
                before = {p: entry_state(p) for p in
                          (old, rootdir, os.path.join(rootdir, 'f'))}
                new_uid = self.readd()
                ok = TRIGGERS[trigger](self.server, self.USER)
                wait_gone(self.server, {uid, new_uid})
                self.assertTrue(ok, self.server.logtext()[-2000:])
                self.assertEqual(os.stat(self.home).st_uid, new_uid)
                self.assertEqual(os.stat(os.path.join(
                    self.home, 'store.db')).st_uid, new_uid)
                for p, state in before.items():
                    self.assertEqual(entry_state(p), state, p)
                self.assertEqual(stat.S_IMODE(os.lstat(old).st_mode), 0o600)


# ---------------------------------------------------------------------
# the workers

@unittest.skipUnless(is_root(), 'needs root: per-user uids')
class WorkerUid(unittest.TestCase):
    """What a delivery creates belongs to the user; userdel of a real
    tree removes it all; a worker is the user and holds no hash."""

    def test_store_and_userdel(self):
        with Server(users={'erin': 'pw'}, config={'mailbox_linger': 0}) as s:
            p = s.ctl('deliver', 'erin', stdin=MESSAGE, check=False)
            self.assertEqual(p.returncode, 0, p.stderr)
            home = os.path.join(s.data_dir, 'users', 'erin')
            uid = user_uid(s, 'erin')
            wait_gone(s, {uid})
            self.assertEqual(os.stat(home).st_uid, uid)
            self.assertIn('store.db', os.listdir(home))
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
        """An acl worker, caught while it waits for a write lock that a
        process of the user holds on the store: it runs as the user's
        uid (all four ids), holds no descriptor of directory.db, and no
        password hash is anywhere in its memory or its spawner's - while
        its root parent's memory does hold one (the control that the
        scan can see them)."""
        with Server(users={'erin': 'pw-erin', 'frank': 'pw-frank'},
                    config={'mailbox_linger': 0}) as s:
            s.ctl('deliver', 'erin', stdin=MESSAGE)
            home = os.path.join(s.data_dir, 'users', 'erin')
            uid = user_uid(s, 'erin')
            wait_gone(s, {uid})
            db = sqlite3.connect(os.path.join(s.data_dir, 'directory.db'))
            hashes = [h.encode() for (h,) in
                      db.execute('SELECT hash FROM users')]
            db.close()
            self.assertEqual(len(hashes), 2)
            store = os.path.join(home, 'store.db')
            lock = WriteLock(store, uid)
            p = stopped = None
            try:
                p = subprocess.Popen([ctl_path(), '-c', s.conf, 'acl', 'erin',
                                      'INBOX', 'frank', 'lr'],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
                worker = wait_for(lambda: next(
                    (k for k in children_of(p.pid)
                     if proc_uid(k) == [uid] * 4), None), 10,
                    what='a worker with uid %d' % uid)
                # it has the store open and waits for the lock; stopped
                # there, so that however long the scans below take its
                # busy timeout cannot run out (SQLite counts the time
                # it slept, not the time that passed)
                fds = wait_for(lambda: (lambda f: f if store in f.values()
                                        else None)(open_fds(worker)), 10,
                               what='the worker has the store open')
                os.kill(worker, signal.SIGSTOP)
                stopped = worker
                self.assertIsNone(p.poll())
                for fd, target in fds.items():
                    self.assertNotIn('directory.db', target)
                    self.assertTrue(target.startswith('pipe:') or
                                    target == '/dev/null' or
                                    target == home or
                                    target.startswith(store), fds)
                self.assertNotEqual(scan(p.pid, hashes), [],
                                    'control: the root parent read a hash')
                self.assertEqual(scan(worker, hashes), [])
                # nor in the spawner that forked it (root, forked before
                # directory.db was opened)
                spawners = [k for k in children_of(p.pid)
                            if k != worker and proc_uid(k) == [0] * 4]
                self.assertEqual(len(spawners), 1)
                self.assertEqual(scan(spawners[0], hashes), [])
                self.assertIsNone(p.poll())
                lock.release()
                os.kill(worker, signal.SIGCONT)
                stopped = None
                out, err = p.communicate(timeout=30)
                self.assertEqual(p.returncode, 0, err)
            finally:
                if stopped is not None:
                    os.kill(stopped, signal.SIGCONT)
                lock.release()
                if p is not None and p.poll() is None:
                    p.kill()
                if p is not None:
                    p.communicate()
            out = s.ctl('acl', 'erin', 'INBOX').stdout
            self.assertRegex(out, r'INBOX\s+frank\s+lr\b')


def open_fds(pid):
    """{descriptor: what it names} of a process."""
    fds = {}
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            fds[fd] = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            pass
    return fds


class WriteLock:
    """A process of the user's uid (a fork of this one: it need not
    exec anything the uid can reach) holding the store's write lock
    until release()."""

    def __init__(self, path, uid):
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.close(r1)
                os.close(w2)
                os.setgroups([uid])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                db = sqlite3.connect(path, isolation_level=None, timeout=10)
                db.execute('BEGIN IMMEDIATE')
                os.write(w1, b'L')
                os.read(r2, 1)
                db.execute('ROLLBACK')
                db.close()
                os._exit(0)
            except BaseException:
                os._exit(1)
        os.close(w1)
        os.close(r2)
        self.wake = w2
        got = os.read(r1, 1)
        os.close(r1)
        if got != b'L':
            self.release()
            raise AssertionError('the lock was not taken')

    def release(self):
        if self.pid is None:
            return
        os.close(self.wake)
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        if status != 0:
            raise AssertionError('the lock holder failed: %d' % status)


def scan(pid, needles, chunk=1 << 22, largest=1 << 30):
    """The needles found in pid's readable and writable memory (regions
    larger than `largest`, such as a sanitizer's shadow, are skipped)."""
    found = set()
    longest = max(len(n) for n in needles)
    with open('/proc/%d/maps' % pid) as maps, \
            open('/proc/%d/mem' % pid, 'rb', 0) as mem:
        for line in maps:
            m = re.match(r'([0-9a-f]+)-([0-9a-f]+) (\S+)', line)
            if m is None or 'w' not in m.group(3) or 'r' not in m.group(3):
                continue
            lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            if hi - lo > largest:
                continue
            tail = b''
            for at in range(lo, hi, chunk):
                try:
                    mem.seek(at)
                    data = tail + mem.read(min(chunk, hi - at))
                except (OSError, ValueError, OverflowError):
                    tail = b''
                    continue
                for n in needles:
                    if n in data:
                        found.add(n)
                tail = data[-longest:]
    return sorted(found)


if __name__ == '__main__':
    if not is_root():
        print('test_symlink_attack: skipped: needs root (per-user uids, '
              'root-owned targets)', file=sys.stderr)
    unittest.main(verbosity=2)
