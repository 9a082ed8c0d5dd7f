"""test_revoke.py - revoking rights takes effect on open selections
(issue 9, item 4; doc/sharing.md "Revoking rights").

bob has alice's folder Proj selected through the channel to alice's
process.  When alice takes rights away (SETACL, DELETEACL, or
mailkeepctl acl behind the daemon's back), alice's process re-reads
bob's rights before his next command:
  - without "r" the mailbox is closed: "* OK [CLOSED]", the command is
    refused with NO [NOPERM], and so is every command of the selected
    state until bob selects again; CLOSE / UNSELECT answer OK; his
    session stays usable for his own and other shared mailboxes;
  - in IDLE he is told at once and DONE ends the IDLE normally;
  - without "t" (or "e", "w") only what needs that right is refused,
    and PERMANENTFLAGS is sent again.
Each test checks alice's data is unchanged by the refused commands.

Python 3 standard library only; run by meson (MK_BUILD_DIR)."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import ImapCase, fetch_map, quote  # noqa: E402

NO_PERM = r'^a\d+ NO \[NOPERM\] '


def shared(owner, mbox):
    return 'Other Users/%s/%s' % (owner, mbox)


class RevokeCase(ImapCase):
    def setup_share(self, rights, n=3):
        self.alice, self.bob = self.new_user(), self.new_user()
        self.a = self.connect(self.alice)
        for mbox in ('Proj', 'Other'):
            self.ok(self.a.cmd('CREATE %s' % mbox))
            self.fill(self.a, mbox, n, prefix=mbox)
            self.ok(self.a.cmd('SETACL %s %s %s' % (mbox, self.bob[0],
                                                     rights)))
        self.b = self.connect(self.bob)
        self.name = shared(self.alice[0], 'Proj')
        return self.a, self.b

    def owner_state(self):
        """alice's own view of Proj: flags, MODSEQ and bodies."""
        a = self.a
        st = self.ok(a.cmd('STATUS Proj (MESSAGES UIDNEXT UNSEEN '
                           'HIGHESTMODSEQ DELETED)'))
        self.select(a, 'Proj', examine=True)
        r = a.cmd_bytes('FETCH 1:* (UID FLAGS MODSEQ BODY.PEEK[])')
        self.assertRegex(r[0], rb'^a\d+ OK ')
        self.ok(a.cmd('UNSELECT'))
        return st, sorted(re.sub(rb' ?\\Recent', b'', l) for l in r[1]
                          if re.match(rb'^\* \d+ FETCH ', l))

    def assert_refused_after_close(self, b):
        """Every selected-state command is a NO that says why."""
        for cmd in ('FETCH 1 (FLAGS BODY[])', 'UID FETCH 1:* (FLAGS)',
                    'STORE 1 +FLAGS (\\Deleted)', 'UID STORE 1 +FLAGS '
                    '(\\Flagged)', 'SEARCH ALL', 'EXPUNGE', 'COPY 1 INBOX',
                    'MOVE 1 INBOX'):
            tagged, unt = b.cmd(cmd)
            self.assertRegex(tagged, NO_PERM + r'.*revoked', cmd)
            self.assertFalse([l for l in unt if 'FETCH' in l or
                              'SEARCH' in l], (cmd, unt))

    def assert_session_usable(self, b):
        self.ok(b.cmd('NOOP'))
        self.ok(b.cmd('CLOSE'), r'already closed')
        # a second CLOSE is what it always is outside a selection
        self.assertRegex(b.cmd('CLOSE')[0], r'^a\d+ BAD ')
        self.select(b, 'INBOX')
        self.ok(b.cmd('UNSELECT'))
        other = shared(self.alice[0], 'Other')
        self.assertEqual(self.select(b, other)['exists'], 3)
        fm = fetch_map(b.cmd_bytes('FETCH 1:3 BODY.PEEK[]')[1])
        self.assertEqual(len(fm), 3)
        self.ok(b.cmd('UNSELECT'))
        # the revoked mailbox itself can't be selected again
        self.assertRegex(b.cmd('SELECT %s' % quote(self.name))[0],
                         r'^a\d+ NO \[(NONEXISTENT|NOPERM)\] ')


class RevokeRead(RevokeCase):
    def revoke_while_selected(self, revoke):
        a, b = self.setup_share('lrswited')
        self.assertEqual(self.select(b, self.name)['exists'], 3)
        before = self.owner_state()
        revoke()
        tagged, unt = b.cmd('FETCH 1:* (FLAGS BODY[])')
        self.assertRegex(tagged, NO_PERM + r'.*revoked')
        self.assertTrue([l for l in unt if l.startswith('* OK [CLOSED] ')],
                        unt)
        self.assertFalse([l for l in unt if 'FETCH' in l], unt)
        self.assert_refused_after_close(b)
        self.assertEqual(self.owner_state(), before)
        self.assert_session_usable(b)
        self.assertEqual(self.owner_state(), before)

    def test_deleteacl_closes_the_selection(self):
        self.revoke_while_selected(
            lambda: self.ok(self.a.cmd('DELETEACL Proj %s' % self.bob[0])))

    def test_removing_r_alone_closes_the_selection(self):
        # "l" stays: bob may still see the name, but not read it
        def revoke():
            self.ok(self.a.cmd('SETACL Proj %s -r' % self.bob[0]))
        self.revoke_while_selected(revoke)

    def test_mailkeepctl_acl_closes_the_selection(self):
        # written to the store by another program: the process learns of
        # it from the store (data_version), not from a command of its own
        self.revoke_while_selected(
            lambda: self.server.ctl('acl', self.alice[0], 'Proj',
                                    self.bob[0], 'none'))

    def test_store_and_expunge_refused_after_revocation(self):
        a, b = self.setup_share('lrswited')
        self.select(b, self.name)
        # bob marks a message while he may; alice then revokes
        self.ok(b.cmd('STORE 2 +FLAGS.SILENT (\\Deleted)'))
        before = self.owner_state()
        self.ok(a.cmd('DELETEACL Proj %s' % self.bob[0]))
        tagged, unt = b.cmd('EXPUNGE')
        self.assertRegex(tagged, NO_PERM + r'.*revoked')
        self.assertFalse([l for l in unt if l.endswith(' EXPUNGE')], unt)
        self.assertRegex(b.cmd('STORE 1:* +FLAGS (\\Deleted)')[0], NO_PERM)
        self.assertRegex(b.cmd('UID EXPUNGE 1:*')[0], NO_PERM)
        after = self.owner_state()
        self.assertEqual(after, before)
        self.assertEqual(len(after[1]), 3)

    def test_revoke_during_idle(self):
        a, b = self.setup_share('lr')
        self.select(b, self.name)
        b.send('i1 IDLE\r\n')
        self.assertTrue(b.readline().startswith('+ '))
        before = self.owner_state()
        self.ok(a.cmd('DELETEACL Proj %s' % self.bob[0]))
        lines = self.wait_lines(b, lambda ls: any(
            l.startswith('* OK [CLOSED] ') for l in ls))
        self.assertIn(quote(self.name), lines[-1])
        # nothing more about the mailbox reaches him, even as it changes
        self.fill(a, 'Proj', 1, prefix='later')
        b.send('DONE\r\n')
        tagged, unt = b.read_until_tagged('i1')
        self.assertRegex(tagged, r'^i1 OK ')
        self.assertFalse([l for l in unt if 'EXISTS' in l], unt)
        self.assert_refused_after_close(b)
        self.assertEqual(len(self.owner_state()[1]), len(before[1]) + 1)
        self.assert_session_usable(b)

    def test_revoke_during_idle_by_mailkeepctl(self):
        a, b = self.setup_share('lr')
        self.select(b, self.name)
        b.send('i1 IDLE\r\n')
        self.assertTrue(b.readline().startswith('+ '))
        self.server.ctl('acl', self.alice[0], 'Proj', self.bob[0], 'none')
        self.wait_lines(b, lambda ls: any(
            l.startswith('* OK [CLOSED] ') for l in ls), timeout=5)
        b.send('DONE\r\n')
        self.assertRegex(b.read_until_tagged('i1')[0], r'^i1 OK ')
        self.assert_session_usable(b)

    def test_owner_and_other_grantees_unaffected(self):
        a, b = self.setup_share('lr')
        carol = self.new_user()
        self.ok(a.cmd('SETACL Proj %s lr' % carol[0]))
        c = self.connect(carol)
        self.select(b, self.name)
        self.select(c, self.name)
        self.select(a, 'Proj')
        self.ok(a.cmd('DELETEACL Proj %s' % self.bob[0]))
        self.assertRegex(b.cmd('FETCH 1 FLAGS')[0], NO_PERM)
        self.assertEqual(len(fetch_map(self.ok(c.cmd('FETCH 1:* FLAGS')))), 3)
        self.assertEqual(len(fetch_map(self.ok(a.cmd('FETCH 1:* FLAGS')))), 3)

    def test_regrant_then_select_again(self):
        a, b = self.setup_share('lr')
        self.select(b, self.name)
        self.ok(a.cmd('DELETEACL Proj %s' % self.bob[0]))
        self.assertRegex(b.cmd('NOOP')[0], r'^a\d+ OK ')
        self.assertRegex(b.cmd('FETCH 1 FLAGS')[0], NO_PERM)
        self.ok(a.cmd('SETACL Proj %s lr' % self.bob[0]))
        self.assertEqual(self.select(b, self.name)['exists'], 3)
        self.assertEqual(len(fetch_map(self.ok(b.cmd('FETCH 1:* FLAGS')))), 3)


class RevokePartial(RevokeCase):
    def test_without_t_and_e(self):
        a, b = self.setup_share('lrswited')
        self.select(b, self.name)
        # alice marks message 3 herself: only "e" would let bob expunge it
        self.ok(a.cmd('SELECT Proj'))
        self.ok(a.cmd('STORE 3 +FLAGS.SILENT (\\Deleted)'))
        self.ok(a.cmd('UNSELECT'))
        self.ok(a.cmd('SETACL Proj %s -te' % self.bob[0]))
        before = self.owner_state()
        tagged, unt = b.cmd('STORE 1 +FLAGS (\\Deleted)')
        self.assertRegex(tagged, NO_PERM)
        # the rights changed: PERMANENTFLAGS again, without \Deleted
        perm = [l for l in unt if 'PERMANENTFLAGS' in l]
        self.assertTrue(perm, unt)
        self.assertNotIn('\\Deleted', perm[-1])
        self.assertIn('\\Flagged', perm[-1])
        self.assertRegex(b.cmd('EXPUNGE')[0], NO_PERM + r'.*"e"')
        self.assertRegex(b.cmd('UID EXPUNGE 1:*')[0], NO_PERM)
        self.assertRegex(b.cmd('MOVE 1 INBOX')[0], NO_PERM)
        self.assertEqual(self.owner_state(), before)
        # CLOSE closes and expunges nothing without "e" (RFC 4314 4)
        # - but first: what bob still may do works
        fm = fetch_map(self.ok(b.cmd('FETCH 1:* FLAGS')))
        self.assertEqual(len(fm), 3)
        self.ok(b.cmd('STORE 1 +FLAGS (\\Flagged)'))
        self.ok(b.cmd('CLOSE'))
        st = self.owner_state()
        self.assertEqual(len(st[1]), 3)
        self.assertIn(b'\\Flagged', st[1][0])
        self.assertNotIn(b'\\Deleted', st[1][0])

    def test_without_w(self):
        a, b = self.setup_share('lrswited')
        self.select(b, self.name)
        self.ok(a.cmd('SETACL Proj %s -w' % self.bob[0]))
        before = self.owner_state()
        self.assertRegex(b.cmd('STORE 1 +FLAGS (\\Flagged)')[0],
                         r'^a\d+ NO \[NOPERM\] ')
        self.assertRegex(b.cmd('STORE 1 +FLAGS ($Label)')[0],
                         r'^a\d+ NO \[NOPERM\] ')
        self.assertEqual(self.owner_state(), before)
        # "t" is still there
        self.ok(b.cmd('STORE 1 +FLAGS (\\Deleted)'))

    def test_rights_given_back_work_without_reselect(self):
        a, b = self.setup_share('lrswited')
        self.select(b, self.name)
        self.ok(a.cmd('SETACL Proj %s -t' % self.bob[0]))
        self.assertRegex(b.cmd('STORE 1 +FLAGS (\\Deleted)')[0], NO_PERM)
        self.ok(a.cmd('SETACL Proj %s +t' % self.bob[0]))
        self.ok(b.cmd('STORE 1 +FLAGS (\\Deleted)'))
        self.ok(b.cmd('EXPUNGE'))
        self.assertEqual(len(self.owner_state()[1]), 2)


if __name__ == '__main__':
    unittest.main(verbosity=2)
