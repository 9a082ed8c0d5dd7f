"""test_privsep.py - what each process may hold, checked from /proc.

Run as root (CI): the login process runs as login_user inside its empty
chroot and holds no descriptor of a database; as that uid the directory
database cannot be opened; hash workers are confined the same way; a
mailbox process runs as its user's own uid.  Run as an ordinary user,
only the checks that hold in development mode run (no database
descriptor in the login process, the log line saying so)."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import (Server, daemon_path, is_root, proc_uid,  # noqa: E402
                       wait_for)


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


def fds(pid):
    out = {}
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            out[int(fd)] = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            pass
    return out


def nice_of(pid):
    """The nice value, field 19 of /proc/PID/stat (after the name,
    which may hold spaces and parentheses)."""
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[16])


def can_raise_priority():
    """Whether this root may lower a nice value (CAP_SYS_NICE: a
    container may run root without it, and then mailkeepd logs that its
    hash workers stay at the others' level)."""
    if not is_root():
        return False
    pid = os.fork()
    if pid == 0:
        try:
            os.nice(-1)
            os._exit(0)
        except OSError:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


class Privsep(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(users={'alice': 'apw'})

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.server.cleanup()

    def login_process(self, before):
        """The child that appeared after a connection was accepted."""
        deadline = time.time() + 5
        while time.time() < deadline:
            # The spawner forks through a middle process that exits at
            # once: only a child named as a login process will stay.
            new = [p for p in self.server.children()
                   if p not in before and comm(p) == 'mk-login']
            if new:
                return new[0]
            time.sleep(0.05)
        self.fail('no login process appeared')

    def connect_and_find_login(self):
        before = set(self.server.children())
        c = self.server.client()
        self.addCleanup(c.close)
        return c, self.login_process(before)

    def test_spawner_is_a_new_program(self):
        """The master runs its spawner anew (mailkeepd -S FD, spawn.c), so
        that glibc reads the tunables it is given; -S is refused on
        anything but a SOCK_SEQPACKET channel."""
        spawner = [p for p in self.server.children()
                   if comm(p) == 'mk-spawner']
        self.assertEqual(len(spawner), 1)
        with open('/proc/%d/cmdline' % spawner[0], 'rb') as f:
            self.assertEqual(f.read().split(b'\0')[:2],
                             [b'mailkeepd', b'-S'])
        for fd in ('0', '5', '3x'):
            p = subprocess.run([daemon_path(), '-S', fd], text=True,
                               stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=10)
            self.assertEqual((p.returncode, p.stderr),
                             (2, "mailkeepd: -S is the master's own "
                              "option\n"))

    def test_login_process_holds_no_database(self):
        c, pid = self.connect_and_find_login()
        # A freshly forked child closes what it must not keep before it
        # runs the login code: wait for that, not for a fixed moment.
        c.cmd('NOOP')
        wait_for(lambda: len([t for t in fds(pid).values()
                              if t.startswith('socket:')]) == 2,
                 what='login process with 2 sockets')
        for fd, target in fds(pid).items():
            self.assertFalse(target.endswith('.db') or '.db-' in target or
                             'directory' in target,
                             'login process fd %d -> %s' % (fd, target))
        sockets = [t for t in fds(pid).values() if t.startswith('socket:')]
        self.assertEqual(len(sockets), 2)   # the client, the master channel

    @unittest.skipUnless(is_root(), 'needs root: uids and chroot')
    def test_login_process_uid_and_chroot(self):
        c, pid = self.connect_and_find_login()
        uid = self.server.uid_of('mailkeep-login')
        # the child drops its privileges a moment after fork
        wait_for(lambda: proc_uid(pid) == [uid] * 4,
                 what='login process as mailkeep-login')
        root = os.readlink('/proc/%d/root' % pid)
        self.assertEqual(root, self.server.path('empty'))
        self.assertEqual(os.listdir(self.server.path('empty')), [])
        st = os.stat(self.server.path('empty'))
        self.assertEqual((st.st_uid, st.st_mode & 0o7777), (0, 0o755))

    @unittest.skipUnless(is_root(), 'needs root: uids')
    def test_login_uid_cannot_open_directory(self):
        uid = self.server.uid_of('mailkeep-login')
        db = os.path.join(self.server.data_dir, 'directory.db')
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                try:
                    open(db, 'rb').close()
                    code = 1
                except PermissionError:
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0,
                         'login uid could open directory.db')
        st = os.stat(db)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (0, 0o600))

    @unittest.skipUnless(is_root(), 'needs root: uids and chroot')
    def test_hash_workers_confined(self):
        workers = self.server.wait_hash_workers(2)   # hash_workers default
        for pid in workers:
            self.assertEqual(os.readlink('/proc/%d/root' % pid),
                             self.server.path('empty'))
            for fd, target in fds(pid).items():
                self.assertNotIn('.db', target)

    @unittest.skipUnless(can_raise_priority(),
                         'needs root with CAP_SYS_NICE: a raised priority')
    def test_hash_workers_run_ahead_of_sessions(self):
        """hash_priority (default 10): the workers run 10 nice levels
        above the master; a mailbox process and a login process do not."""
        base = nice_of(self.server.proc.pid)
        for pid in self.server.wait_hash_workers(2):
            self.assertEqual(nice_of(pid), max(-20, base - 10))
        c = self.server.client(login=('alice', 'apw'))
        self.addCleanup(c.close)
        waiting = self.server.client()
        self.addCleanup(waiting.close)
        others = [p for p in self.server.children()
                  if comm(p).startswith(('mk-mailbox', 'mk-login'))]
        self.assertTrue(any(comm(p) == 'mk-login' for p in others), others)
        self.assertTrue(any(comm(p).startswith('mk-mailbox')
                            for p in others), others)
        for pid in others:
            self.assertEqual(nice_of(pid), base, comm(pid))

    @unittest.skipUnless(is_root(), 'needs root: uids')
    def test_mailbox_process_uid(self):
        c = self.server.client(login=('alice', 'apw'))
        self.addCleanup(c.close)
        st = os.stat(os.path.join(self.server.data_dir, 'users', 'alice'))
        uid = st.st_uid
        self.assertGreater(uid, 200000)     # mail_uid_base + user id
        self.assertEqual((st.st_gid, st.st_mode & 0o777), (uid, 0o700))
        procs = wait_for(lambda: [p for p in self.server.children()
                                  if proc_uid(p) == [uid] * 4],
                         what='mailbox process as uid %d' % uid)
        self.assertEqual(len(procs), 1)
        for fd, target in fds(procs[0]).items():
            self.assertNotIn('directory.db', target)

    @unittest.skipIf(is_root(), 'development mode only')
    def test_development_mode_logged(self):
        self.assertIn('development mode: running as uid %d' % os.getuid(),
                      self.server.logtext())


class Supervision(unittest.TestCase):
    def test_reload_applies_limits(self):
        with Server(users={'alice': 'apw'}) as s:
            held = s.client()
            other = s.client()
            self.assertRegex(other.cmd('NOOP')[0], r' OK ')
            other.close()
            with open(s.conf, 'a') as f:
                f.write('max_connections_per_ip = 1\nlisten = 127.0.0.1:1\n')
            os.kill(s.pid, 1)
            deadline = time.time() + 5
            while 'configuration reloaded' not in s.logtext():
                self.assertLess(time.time(), deadline, s.logtext())
                time.sleep(0.05)
            log = s.logtext()
            self.assertIn('reload: max_connections_per_ip 200 -> 1', log)
            self.assertIn('listen addresses changed', log)
            c = s.client()   # the listener was kept; the limit applies
            self.assertEqual(c.greeting, '* BYE Too many connections')
            held.close()

    def test_bad_reload_keeps_running(self):
        with Server(users={'alice': 'apw'}) as s:
            with open(s.conf, 'a') as f:
                f.write('no_such_key = 1\n')
            os.kill(s.pid, 1)
            deadline = time.time() + 5
            while 'reload failed' not in s.logtext():
                self.assertLess(time.time(), deadline, s.logtext())
                time.sleep(0.05)
            self.assertIn("unknown key 'no_such_key'", s.logtext())
            c = s.client()
            self.assertRegex(c.cmd('NOOP')[0], r' OK ')
            c.close()

    @unittest.skipUnless(is_root(), 'needs root: hash workers found by uid')
    def test_hash_worker_replaced(self):
        with Server(users={'alice': 'apw'}) as s:
            # Right after start-up the workers may not have dropped their
            # privileges yet (a loaded machine counted 0): wait for them.
            workers = s.wait_hash_workers(2)
            os.kill(workers[0], 9)
            wait_for(lambda: (lambda now: len(now) == 2 and
                              workers[0] not in now)(
                         s.children_as('mailkeep-auth')),
                     timeout=10, what='a replacement hash worker')
            self.assertIn('killed by signal 9', s.logtext())
            # The replacement is as far ahead as the first ones were.
            for pid in s.children_as('mailkeep-auth'):
                self.assertEqual(nice_of(pid), nice_of(workers[1]))
            if can_raise_priority():
                self.assertLess(nice_of(workers[1]), nice_of(s.proc.pid))
            c = s.client(login=('alice', 'apw'))
            c.close()

    @unittest.skipUnless(is_root(), 'needs root: hash workers found by uid')
    def test_hash_priority_zero_keeps_workers_level(self):
        with Server(users={'alice': 'apw'},
                    config={'hash_priority': '0'}) as s:
            for pid in s.wait_hash_workers(2):
                self.assertEqual(nice_of(pid), nice_of(s.proc.pid))


class ForgedHandoff(unittest.TestCase):
    """The master's refusal of a hand-off without authentication is shown
    with a fake login process in tests/unit/auth/test_authz.c; here: a
    killed login process does not take the master down."""

    def test_killed_login_process_is_reaped(self):
        with Server(users={'alice': 'apw'}) as s:
            before = set(s.children())
            c = s.client()
            new = []
            deadline = time.time() + 5
            while not new and time.time() < deadline:
                new = [p for p in s.children() if p not in before]
                time.sleep(0.05)
            os.kill(new[0], 9)
            c.expect_closed()
            c.close()
            wait_for(lambda: new[0] not in s.children(),
                     what='the killed login process reaped')
            c2 = s.client()
            self.assertRegex(c2.cmd('NOOP')[0], r' OK ')
            c2.close()


if __name__ == '__main__':
    unittest.main(verbosity=2)
