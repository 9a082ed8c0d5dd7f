#!/usr/bin/env python3
"""The TLS relay pool (auth/relaypool.c, daemon/master/relaypool.c):
many TLS connections on few relay processes, a relay that dies takes
only its own connections, and a relay cannot read another's memory.

A real mailkeepd with tls_relays = 2, real TLS clients on loopback."""
import ctypes
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import (Closed, is_root, proc_uid, settled,  # noqa: E402
                       wait_for)
from test_tls import (USERS, TLSCase, TLSClient, comm_of,  # noqa: E402
                      message)

N_RELAYS = 2


class Pool(TLSCase):
    config = {'tls_relays': N_RELAYS}

    def relays(self):
        return sorted(p for p in self.server.children()
                      if comm_of(p) == 'mk-relay')

    def connections_of(self, pid):
        """Two sockets per connection, besides the channels to the master
        and the key holder."""
        fds = os.listdir('/proc/%d/fd' % pid)
        socks = sum(os.readlink('/proc/%d/fd/%s' % (pid, fd))
                    .startswith('socket:') for fd in fds)
        return (socks - 2) // 2

    def wait_pool(self):
        wait_for(lambda: len(self.relays()) == N_RELAYS,
                 what='%d relays' % N_RELAYS)
        return self.relays()

    def idle(self, c):
        self.assertRegex(c.cmd('SELECT INBOX')[0], r' OK ')
        tag = c.next_tag()
        c.send('%s IDLE\r\n' % tag)
        self.assertEqual(c.readline(), '+ idling')
        return tag

    def test_many_connections_on_few_relays(self):
        relays = self.wait_pool()
        # the relays let go of earlier tests' connections a moment after
        # those were closed
        base = settled(lambda: sum(self.connections_of(p) for p in relays),
                       what="the relays' connections")
        n = 30
        conns = []
        for i in range(n):
            if i % 2:
                conns.append(self.implicit(login=('alice', USERS['alice'])))
            else:
                conns.append(self.starttls(login=('alice', USERS['alice'])))
        self.assertEqual(self.relays(), relays)
        per = [self.connections_of(p) for p in relays]
        self.assertEqual(sum(per), base + n, per)
        # least loaded first: the two share the load evenly
        self.assertLessEqual(max(per) - min(per), 1 + base, per)
        tags = [self.idle(c) for c in conns]
        other = self.implicit(login=('alice', USERS['alice']))
        t0 = time.monotonic()
        self.assertRegex(other.append('INBOX', message(500, 9))[0],
                         r'^a\d+ OK ')
        for c in conns:
            line = c.readline(timeout=10)
            while line.startswith('* ') and 'EXISTS' not in line:
                line = c.readline(timeout=10)
            self.assertRegex(line, r'^\* \d+ EXISTS$')
        took = time.monotonic() - t0
        print('%d IDLE connections on %d relays woken in %.1f ms'
              % (n, N_RELAYS, took * 1000), file=sys.stderr)
        for c, tag in zip(conns, tags):
            c.send('DONE\r\n')
            self.assertRegex(c.read_until_tagged(tag)[0], r' OK ')

    def test_killed_relay_takes_only_its_connections(self):
        relays = self.wait_pool()
        conns = [self.implicit(login=('bob', USERS['bob']))
                 for _ in range(6)]
        conns += [self.starttls(login=('bob', USERS['bob']))
                  for _ in range(2)]
        victim, survivor = relays
        lost = self.connections_of(victim)
        kept = self.connections_of(survivor)
        self.assertGreater(lost, 0)
        self.assertGreater(kept, 0)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in self.server.children(),
                 what='relay reaped')
        ok = dead = 0
        for c in conns:
            try:
                tagged = c.cmd('NOOP', timeout=5)[0]
                self.assertRegex(tagged, r' OK ')
                ok += 1
            except (Closed, OSError):
                dead += 1
        self.assertEqual(ok + dead, len(conns))
        # everything of the survivor goes on; the victim's connections
        # are over (some of the survivor's count may be other tests')
        self.assertGreaterEqual(ok, len(conns) - lost)
        self.assertGreater(dead, 0)
        # the master logs the end after it reaped the relay
        wait_for(lambda: 'TLS relay %d ended' % victim in
                 self.server.logtext(), what='the relay\'s end logged')
        # the pool is filled again, and new connections work
        new = self.wait_pool()
        self.assertNotIn(victim, new)
        self.assertIn(survivor, new)
        c = self.implicit(login=('bob', USERS['bob']))
        self.assertRegex(c.cmd('NOOP')[0], r' OK ')

    @unittest.skipUnless(is_root(), 'needs root: uids, ptrace rights')
    def test_relay_cannot_read_another_relay(self):
        """A relay compromised outright (its uid, without even its
        seccomp filter or chroot) cannot read another relay's memory:
        the relays are not dumpable, so /proc/PID/mem and ptrace are
        root's only, and they share no memory."""
        self.implicit(login=('alice', USERS['alice']))
        relays = self.wait_pool()
        uid = self.server.uid_of('mailkeep-login')
        for pid in relays:
            self.assertEqual(proc_uid(pid), [uid] * 4)
            self.assertEqual(os.stat('/proc/%d/mem' % pid).st_uid, 0)
        a, b = relays
        # no shared writable mapping between them
        for pid in relays:
            with open('/proc/%d/maps' % pid) as f:
                shared = [ln for ln in f.read().splitlines()
                          if ln.split()[1][3] == 's' and 'w' in ln.split()[1]]
            self.assertEqual(shared, [], (pid, shared))
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(r)
            out = []
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                try:
                    with open('/proc/%d/mem' % b, 'rb') as f:
                        f.read(1)
                    out.append('mem readable')
                except PermissionError:
                    out.append('mem denied')
                libc = ctypes.CDLL(None, use_errno=True)
                PTRACE_ATTACH = 16
                if libc.ptrace(PTRACE_ATTACH, b, None, None) == -1:
                    out.append('ptrace denied %d' % ctypes.get_errno())
                else:
                    out.append('ptrace attached')
            except Exception as e:      # noqa: BLE001 - report, don't hang
                out.append('error %r' % e)
            os.write(w, ' / '.join(out).encode())
            os._exit(0)
        os.close(w)
        os.waitpid(child, 0)
        with os.fdopen(r) as f:
            got = f.read()
        self.assertRegex(got, r'^mem denied / ptrace denied 1$', got)


if __name__ == '__main__':
    unittest.main(verbosity=2)
