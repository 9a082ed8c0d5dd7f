"""test_secrets.py - no child holds secrets it was not given.

Run as root (it reads other processes' memory through /proc/PID/mem);
as an ordinary user every test is skipped, saying why.

The server has an administrator and many users with known, distinctive
passwords.  Some log in (so the master has looked up their directory
rows and SQLite has cached the users table); then many LOGINs are sent
at once to a single hash worker, so that passwords wait in the master's
queue.  While they wait, a fresh login process is started and a second
hash worker is added (SIGHUP, hash_workers = 2).  Each process's
readable memory (every readable mapping in /proc/PID/maps, read through
/proc/PID/mem) must contain no plaintext password and no password hash
string ($y$...) of the directory, nor the checksum part of one:

  - the fresh login process, read while the passwords are queued;
  - both hash workers, read once the queue has drained: a worker sees
    the pair it is computing, and must have wiped it afterwards;
  - a logged-in user's mailbox process.

Before the spawner (daemon/master/spawner.c) these were forks of the
master and held the SQLite page cache with every hash, the queued
passwords and the directory rows of recent logins.
"""
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import (Client, Server, alive, children_of,  # noqa: E402
                       daemon_path, is_root)

NQUEUED = 40
HUGE_MAPPING = 1 << 32


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


def memory(pid):
    """The readable memory of pid, as a list of bytes objects: one
    snapshot, taken with the process stopped (a hash worker reading its
    next request while we read would show two jobs at once)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        return read_memory(pid)
    finally:
        os.kill(pid, signal.SIGCONT)


def read_memory(pid):
    chunks = []
    with open('/proc/%d/maps' % pid) as f:
        maps = f.read().splitlines()
    with open('/proc/%d/mem' % pid, 'rb', buffering=0) as mem:
        for line in maps:
            fields = line.split()
            if fields[1][0] != 'r':
                continue
            name = fields[5] if len(fields) > 5 else ''
            if name in ('[vvar]', '[vsyscall]', '[vvar_vclock]'):
                continue
            lo, hi = (int(x, 16) for x in fields[0].split('-'))
            if hi - lo > HUGE_MAPPING:
                # AddressSanitizer's shadow (terabytes reserved, never
                # populated): shadow bytes, not program data
                continue
            try:
                mem.seek(lo)
                chunks.append(mem.read(hi - lo))
            except (OSError, ValueError, OverflowError):
                pass
    return chunks


def ppid(pid):
    with open('/proc/%d/stat' % pid) as f:
        stat = f.read()
    return int(stat[stat.rindex(')') + 2:].split()[1])


def pending(clients):
    """How many of clients have no answer to their a1 LOGIN yet."""
    n = 0
    for c in clients:
        c.sock.setblocking(False)
        try:
            data = c.sock.recv(4096, socket.MSG_PEEK)
        except BlockingIOError:
            data = b''
        c.sock.setblocking(True)
        if b'a1 ' not in data:
            n += 1
    return n


def found(chunks, needles):
    """The needles (name -> bytes) present in chunks."""
    return sorted(name for name, n in needles.items()
                  if any(n in c for c in chunks))


@unittest.skipUnless(is_root(), 'needs root: reads /proc/PID/mem of '
                     'processes running under other uids')
class Secrets(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.pw = {'boss': 'adminpw-' + secrets.token_hex(12),
                  'alice': 'alicepw-' + secrets.token_hex(12),
                  'bob': 'bobpw-' + secrets.token_hex(12)}
        for i in range(NQUEUED):
            cls.pw['q%02d' % i] = 'queuedpw-%02d-%s' % (
                i, secrets.token_hex(12))
        cls.server = Server(users=cls.pw, admins=['boss'],
                            config={'hash_workers': 1,
                                    'auth_fail_limit': 1000,
                                    # all queued at once from 127.0.0.1
                                    'auth_max_pending_per_addr': 1000})
        db = sqlite3.connect(os.path.join(cls.server.data_dir,
                                          'directory.db'))
        cls.hashes = dict(db.execute('SELECT name, hash FROM users'))
        db.close()
        cls.needles = {}
        for name, pw in cls.pw.items():
            cls.needles['password of ' + name] = pw.encode()
        for name, h in cls.hashes.items():
            assert h.startswith('$y$'), h
            cls.needles['hash of ' + name] = h.encode()
            # the checksum alone: what an offline attack needs with the salt
            cls.needles['hash checksum of ' + name] = \
                h.rsplit('$', 1)[1].encode()
        cls.run_scenario()

    @classmethod
    def tearDownClass(cls):
        try:
            for c in cls.keep:
                c.close()
            cls.server.stop()
        finally:
            cls.server.cleanup()

    @classmethod
    def mk_procs(cls, prefix):
        out = []
        for pid in cls.server.children():
            if comm(pid).startswith(prefix):
                out.append(pid)
        return out

    @classmethod
    def run_scenario(cls):
        s = cls.server
        cls.keep = []
        # Logins that put directory rows (and the page cache) in the master.
        for name in ('boss', 'alice', 'bob'):
            c = s.client(login=(name, cls.pw[name]))
            cls.keep.append(c)
        # An admin impersonation: one more lookup of both rows.
        c = s.client(login=('alice*boss', cls.pw['boss']))
        c.close()
        cls.mailbox = [p for p in cls.mk_procs('mk-mailbox/alic')]
        # Many LOGINs at once for one hash worker: they queue in the master.
        queued = []
        for i in range(NQUEUED):
            c = Client(s.port, timeout=60)
            c.connect()
            queued.append(c)
        for i, c in enumerate(queued):
            name = 'q%02d' % i
            c.send(('a1 LOGIN %s %s\r\n' % (name, cls.pw[name])).encode())
        time.sleep(0.2)   # the master has read them all and queued them
        # A second hash worker, started while the passwords wait.
        workers_before = set(cls.mk_procs('mk-hash'))
        with open(s.conf, 'a') as f:
            f.write('hash_workers = 2\n')
        os.kill(s.pid, signal.SIGHUP)
        deadline = time.time() + 10
        while (len(cls.mk_procs('mk-hash')) < 2 and
               time.time() < deadline):
            time.sleep(0.01)
        cls.new_workers = [p for p in cls.mk_procs('mk-hash')
                           if p not in workers_before]
        # Still queued when the worker was forked?
        cls.pending_at_reload = pending(queued)
        # A fresh login process, forked while the passwords wait.
        before = set(cls.mk_procs('mk-login'))
        fresh = s.client()
        cls.keep.append(fresh)
        deadline = time.time() + 5
        new = []
        while not new and time.time() < deadline:
            new = [p for p in cls.mk_procs('mk-login') if p not in before]
            time.sleep(0.01)
        assert len(new) == 1, new
        cls.fresh_login = new[0]
        cls.pending_at_fresh_login = pending(queued)
        # Their memory is read now (slowly under a sanitizer), while
        # the worker works on the queue; the login process has been
        # idle since its fork.
        cls.new_worker_mem = {p: memory(p) for p in cls.new_workers}
        cls.fresh_login_mem = memory(cls.fresh_login)
        # Let every queued login finish.
        cls.results = []
        for c in queued:
            tagged, _ = c.read_until_tagged('a1', timeout=120)
            cls.results.append(tagged)
            c.close()
        cls.workers = cls.mk_procs('mk-hash')
        cls.workers_mem = {p: memory(p) for p in cls.workers}
        cls.mailbox_mem = {p: memory(p) for p in cls.mailbox}
        cls.spawner = cls.mk_procs('mk-spawner')
        cls.spawner_mem = {p: memory(p) for p in cls.spawner}

    def test_0_scenario(self):
        """The set-up did what the other tests rely on."""
        self.assertEqual(len(self.hashes), NQUEUED + 3)
        self.assertEqual(len(self.mailbox), 1)
        self.assertEqual(len(self.new_workers), 1, self.server.logtext())
        self.assertEqual(len(self.workers), 2)
        self.assertTrue(all(re.match(r'a1 OK', t) for t in self.results),
                        self.results)
        # the reload and the fresh login came while logins still waited
        self.assertGreater(self.pending_at_reload, 0, 'queue drained '
                           'before the second hash worker started')
        self.assertGreater(self.pending_at_fresh_login, 0, 'queue drained '
                           'before the fresh login process started')

    def test_fresh_login_process(self):
        self.assertEqual(found(self.fresh_login_mem, self.needles), [])

    def test_new_hash_worker_during_the_queue(self):
        """A worker may hold the pair it is computing, nothing more."""
        for pid, mem in self.new_worker_mem.items():
            users = {n.rsplit(' ', 1)[1] for n in found(mem, self.needles)}
            self.assertLessEqual(len(users), 1,
                                 'hash worker %d: %s' % (pid, sorted(users)))

    def test_hash_workers_after_their_jobs(self):
        for pid, mem in self.workers_mem.items():
            self.assertEqual(found(mem, self.needles), [],
                             'hash worker %d' % pid)

    def test_mailbox_process(self):
        for pid, mem in self.mailbox_mem.items():
            self.assertEqual(found(mem, self.needles), [],
                             'mailbox process %d' % pid)

    def test_spawner(self):
        """The spawner itself: one, the master's child, holding nothing."""
        self.assertEqual(len(self.spawner), 1)
        self.assertEqual(ppid(self.spawner[0]), self.server.pid)
        for pid, mem in self.spawner_mem.items():
            self.assertEqual(found(mem, self.needles), [],
                             'spawner %d' % pid)

    def test_children_are_the_masters(self):
        """Re-parented to the master (its subreaper), which reaps them."""
        for pid in [self.fresh_login] + self.workers + self.mailbox:
            self.assertEqual(ppid(pid), self.server.pid, comm(pid))

    def test_children_not_dumpable(self):
        # the spawner keeps root's uid, so only an explicit
        # PR_SET_DUMPABLE makes it non-dumpable
        pids = ([self.fresh_login] + list(self.workers_mem) +
                list(self.mailbox_mem) + self.spawner)
        self.assertEqual(len(self.spawner), 1)
        for pid in pids:
            with open('/proc/%d/status' % pid) as f:
                status = f.read()
            # a non-dumpable process's /proc files belong to root
            st = os.stat('/proc/%d/mem' % pid)
            self.assertEqual(st.st_uid, 0, (pid, comm(pid)))
            self.assertIn('mk-', comm(pid), status)


class SpawnerLife(unittest.TestCase):
    """What the master does around its spawner; runs as any user."""

    def spawner_of(self, master):
        for pid in children_of(master):
            if comm(pid) == 'mk-spawner' and ppid(pid) == master:
                return pid
        self.fail('no spawner under %d' % master)

    def test_lost_spawner_stops_the_master(self):
        s = Server(users={'alice': 'apw'})
        try:
            c = s.client(login=('alice', 'apw'))
            kids = [p for p in s.children()]
            os.kill(self.spawner_of(s.pid), signal.SIGKILL)
            rc = s.proc.wait(timeout=15)
            s.proc = None
            s.log.close()
            self.assertEqual(rc, 1, s.logtext())
            self.assertIn('no new process can be started; stopping',
                          s.logtext())
            self.assertIn('stopped: the spawner was lost', s.logtext())
            c.expect_closed()
            c.close()
            deadline = time.time() + 5
            while any(alive(k) for k in kids) and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual([k for k in kids if alive(k)], [])
        finally:
            s.cleanup()

    def test_daemon_mode(self):
        """Without -f: the command returns once the server is ready, and
        the spawner and children are the detached master's."""
        s = Server(users={'alice': 'apw'}, start=False)
        try:
            p = subprocess.run([daemon_path(), '-c', s.conf],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            c = s.client(login=('alice', 'apw'))
            master = None
            for name in os.listdir('/proc'):
                if not name.isdigit():
                    continue
                try:
                    with open('/proc/%s/cmdline' % name, 'rb') as f:
                        argv = f.read().split(b'\0')
                except OSError:
                    continue
                if (s.conf.encode() in argv and comm(int(name)) ==
                        'mailkeepd'):
                    master = int(name)
            self.assertIsNotNone(master)
            spawner = self.spawner_of(master)
            kids = children_of(master)
            self.assertIn(spawner, kids)
            self.assertTrue(any(comm(k).startswith('mk-mailbox') and
                                ppid(k) == master for k in kids))
            c.close()
            os.kill(master, signal.SIGTERM)
            deadline = time.time() + 15
            while (alive(master) or any(alive(k) for k in kids)) and \
                    time.time() < deadline:
                time.sleep(0.05)
            self.assertFalse(alive(master))
            self.assertEqual([k for k in kids if alive(k)], [])
        finally:
            s.cleanup()

    def test_daemon_mode_start_failure(self):
        """A start-up error after detaching still fails the command."""
        s = Server(users={'alice': 'apw'}, start=False)
        try:
            os.remove(os.path.join(s.data_dir, 'directory.db'))
            p = subprocess.run([daemon_path(), '-c', s.conf],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn('start-up failed', p.stderr)
        finally:
            s.cleanup()


if __name__ == '__main__':
    unittest.main(verbosity=2)
