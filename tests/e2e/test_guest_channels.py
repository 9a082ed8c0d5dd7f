"""test_guest_channels.py - a grantee can't crash or exhaust the owner's
mailbox process (issue 9, item 5; doc/sharing.md "Limits").

  - owner names are folded (ALICE is alice): 300 case variants of the
    owner's name in SELECT and STATUS use one channel, and the owner's
    process (same pid) keeps serving its own sessions and the grantee -
    even with its descriptor limit lowered below 300;
  - max_guest_channels bounds the channels one user's process holds:
    beyond it NO [LIMIT], the session stays usable, and a channel
    closed frees a place;
  - an owner's process out of descriptors refuses the sessions it can't
    receive (MSG_CTRUNC) - the grantee gets NO [UNAVAILABLE] - and
    survives, serving everyone else.
The daemon of the first and last classes starts with a low
RLIMIT_NOFILE (every process inherits it), so that running out is
quick; the old code's owner or grantee process exited at it with
"malformed message from the master".

Python 3 standard library only; run by meson (MK_BUILD_DIR)."""
import os
import re
import resource
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import alive  # noqa: E402
from mkimap import ImapCase, fetch_map, quote  # noqa: E402


def shared(owner, mbox):
    return 'Other Users/%s/%s' % (owner, mbox)


def case_variants(name, n):
    """n distinct spellings of name differing only in letter case."""
    letters = [i for i, ch in enumerate(name) if ch.isalpha()]
    if 2 ** len(letters) < n + 1:
        raise ValueError('name too short for %d variants' % n)
    out = []
    for k in range(1, n + 1):
        chars = list(name)
        for bit, pos in enumerate(letters):
            if k >> bit & 1:
                chars[pos] = chars[pos].upper()
        out.append(''.join(chars))
    return out


def open_fds(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


class ChannelCase(ImapCase):
    nofile = None       # the daemon's soft RLIMIT_NOFILE, if set

    @classmethod
    def setUpClass(cls):
        if cls.nofile is None:
            return super().setUpClass()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (cls.nofile, hard))
        try:
            super().setUpClass()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    def mailbox_pid(self, user, timeout=5):
        """The live mailbox process of user (its "client_new" log line)."""
        deadline = time.monotonic() + timeout
        pat = re.compile(r'mailbox\[(\d+)\] client_new: session \S+ '
                         r'user=%s ' % re.escape(user))
        while time.monotonic() < deadline:
            kids = set(self.server.children())
            for pid in reversed([int(p) for p in
                                 pat.findall(self.server.logtext())]):
                if pid in kids and alive(pid):
                    return pid
            time.sleep(0.05)
        raise AssertionError('no mailbox process for %s' % user)

    def share(self, owner_conn, owner, grantee, mbox='Proj', n=2):
        self.ok(owner_conn.cmd('CREATE %s' % mbox))
        self.fill(owner_conn, mbox, n, prefix=owner[0])
        self.ok(owner_conn.cmd('SETACL %s %s lrs' % (mbox, grantee[0])))
        return shared(owner[0], mbox)

    def owner_serves(self, a, bob_conn, name, apid, n=2):
        """alice's process is the same one and answers alice and bob."""
        self.assertTrue(alive(apid))
        self.assertEqual(self.mailbox_pid(self.alice[0]), apid)
        self.ok(a.cmd('NOOP'))
        self.assertEqual(self.select(a, 'Proj')['exists'], n)
        self.ok(a.cmd('UNSELECT'))
        self.assertEqual(self.select(bob_conn, name)['exists'], n)
        fm = fetch_map(bob_conn.cmd_bytes('FETCH 1:* BODY.PEEK[]')[1])
        self.assertEqual(len(fm), n)
        self.ok(bob_conn.cmd('UNSELECT'))
        self.assertNotIn('malformed message from the master',
                         self.server.logtext()[self._log_from:])


class CaseVariants(ChannelCase):
    nofile = 128

    def long_user(self, stem):
        """A user whose name has enough letters for 300 spellings."""
        name = '%s%s' % (stem, 'abcdefghij'[len(self.server.logtext()) % 10])
        name += str(next(self._ids))
        pw = 'pw-' + name
        self.server.ctl('useradd', name, '--password-stdin', stdin=pw + '\n')
        return name, pw

    def test_300_case_variants_one_channel(self):
        self.alice = alice = self.long_user('alicesharer')
        bob = self.new_user()
        a = self.connect(alice)
        name = self.share(a, alice, bob)
        b = self.connect(bob)
        apid = self.mailbox_pid(alice[0])
        # neither process could hold 300 channels (nofile), were each
        # spelling one: the old code hit EMFILE and exited
        fds = open_fds(apid)
        spelled = set()
        for v in case_variants(alice[0], 300):
            vname = shared(v, 'Proj')
            info = self.select(b, vname)
            self.assertEqual(info['exists'], 2)
            st = self.ok(b.cmd('STATUS %s (MESSAGES)' % quote(vname)))
            spelled.add(st[0])
        self.ok(b.cmd('UNSELECT'))
        # names come back in the owner's own spelling
        self.assertEqual(spelled,
                         {'* STATUS %s (MESSAGES 2)' % quote(name)})
        self.assertLessEqual(open_fds(apid), fds + 2)
        self.owner_serves(a, b, name, apid)
        # GETQUOTAROOT and GETQUOTA with another spelling reach alice too
        self.ok(b.cmd('GETQUOTAROOT %s' % quote(shared(alice[0].upper(),
                                                       'Proj'))))
        self.ok(b.cmd('GETQUOTA %s' % quote('user/' + alice[0].upper())))

    def test_case_variants_in_copy_stay_within_the_owner(self):
        # COPY between two spellings of one owner is within alice's store
        self.alice = alice = self.new_user()
        bob = self.new_user()
        a = self.connect(alice)
        name = self.share(a, alice, bob)
        self.ok(a.cmd('SETACL Proj %s lrsi' % bob[0]))
        b = self.connect(bob)
        self.select(b, shared(alice[0].upper(), 'Proj'))
        tagged, _ = b.cmd('COPY 1 %s' % quote(name))
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.ok(b.cmd('UNSELECT'))
        self.assertEqual(self.select(a, 'Proj')['exists'], 3)


class ChannelCap(ChannelCase):
    config = {'max_guest_channels': 3}

    def test_cap_refuses_cleanly(self):
        bob = self.new_user()
        owners, names = [], []
        for i in range(4):
            o = self.new_user()
            conn = self.connect(o)
            names.append(self.share(conn, o, bob))
            owners.append((o, conn))
        self.alice = owners[0][0]
        b = self.connect(bob)
        self.assertEqual(self.select(b, names[0])['exists'], 2)
        for name in names[1:3]:
            self.ok(b.cmd('STATUS %s (MESSAGES)' % quote(name)))
        # a fourth owner: refused, for this process, not for bob's rights
        for cmd in ('STATUS %s (MESSAGES)', 'EXAMINE %s', 'GETACL %s'):
            self.assertRegex(b.cmd(cmd % quote(names[3]))[0],
                             r'^a\d+ NO \[LIMIT\] ', cmd)
        # the session is fine (the failed EXAMINE left no mailbox
        # selected, as a failed SELECT does: RFC 3501 6.3.1)
        self.assertEqual(self.select(b, names[0])['exists'], 2)
        self.assertEqual(len(fetch_map(self.ok(b.cmd('FETCH 1:* FLAGS')))),
                         2)
        self.ok(b.cmd('STATUS INBOX (MESSAGES)'))
        # the cap is the process's: another session of bob's is refused
        b2 = self.connect(bob)
        self.assertRegex(b2.cmd('STATUS %s (MESSAGES)' % quote(names[0]))[0],
                         r'^a\d+ NO \[LIMIT\] ')
        self.ok(b2.cmd('SELECT INBOX'))
        # ... until the first session ends and its channels close
        b.cmd('LOGOUT')
        b.close()
        deadline = time.monotonic() + 5
        while True:
            tagged = b2.cmd('STATUS %s (MESSAGES)' % quote(names[3]))[0]
            if not re.match(r'^a\d+ NO \[LIMIT\]', tagged) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertIn('max_guest_channels',
                      self.server.logtext()[self._log_from:])


class DescriptorExhaustion(ChannelCase):
    # 12 channels, under the default max_guest_channels (64)
    nofile = 48

    def test_owner_out_of_descriptors_refuses_and_survives(self):
        self.alice = alice = self.new_user()
        bob = self.new_user()
        a = self.connect(alice)
        name = self.share(a, alice, bob)
        apid = self.mailbox_pid(alice[0])
        # alice's own sessions fill her process up to a few free
        # descriptors (bob's process, with two per session of his, stays
        # well below the limit)
        mine = []
        while open_fds(apid) < self.nofile - 5:
            mine.append(self.connect(alice))
        clients, answers = [], []
        for i in range(12):
            c = self.connect(bob)
            clients.append(c)
            answers.append(c.cmd('EXAMINE %s' % quote(name))[0])
        ok = [t for t in answers if re.match(r'^a\d+ OK ', t)]
        refused = [t for t in answers
                   if re.match(r'^a\d+ NO \[UNAVAILABLE\] ', t)]
        self.assertTrue(ok, answers)
        self.assertTrue(refused, answers)
        self.assertEqual(len(ok) + len(refused), len(answers), answers)
        self.assertTrue(alive(apid))
        self.assertIn('could not be received',
                      self.server.logtext()[self._log_from:])
        # alice's own session goes on; the channels that work, work
        self.ok(a.cmd('NOOP'))
        self.assertEqual(self.select(a, 'Proj')['exists'], 2)
        self.ok(a.cmd('UNSELECT'))
        for c, t in zip(clients, answers):
            if t in ok:
                self.assertEqual(len(fetch_map(self.ok(
                    c.cmd('FETCH 1:* FLAGS')))), 2)
        # the refused sessions of bob's are usable for his own mail
        for c, t in zip(clients, answers):
            if t in refused:
                self.ok(c.cmd('SELECT INBOX'))
        # descriptors freed: everything works again, same process
        for c in clients:
            c.close()
        deadline = time.monotonic() + 5
        b = self.connect(bob)
        while True:
            tagged = b.cmd('EXAMINE %s' % quote(name))[0]
            if tagged.split()[1] == 'OK' or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.ok(b.cmd('UNSELECT'))
        self.owner_serves(a, b, name, apid)


if __name__ == '__main__':
    unittest.main(verbosity=2)
