"""test_expunge.py - expunges by one session seen from the others
(RFC 2180 4.1.1, 4.2): until a session is told of an EXPUNGE, FETCH of
the expunged message answers its data and STORE on it is accepted and
changes nothing; the data leaves the store once no session sees the UID
(told, unselected, logged out, or its process restarted), and the quota
counts the message as gone at once.  Guest sessions in a shared mailbox
are sessions of the owner's process like any other.  Also: STORE with an
empty flag list is a no-op, not NOPERM (imaptest's "+FLAGS ()")."""
import os
import re
import signal
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import children_of  # noqa: E402
from mkimap import ImapCase, fetch_map, quote  # noqa: E402


def mbox_pid(server, user):
    """The mailbox process of user: the child holding its store open."""
    want = os.path.join('users', user, 'store.db')
    for pid in children_of(server.pid):
        try:
            for fd in os.listdir('/proc/%d/fd' % pid):
                if os.readlink('/proc/%d/fd/%s' % (pid, fd)).endswith(want):
                    return pid
        except OSError:
            continue
    raise AssertionError('no mailbox process for %s' % user)


class ExpungeCase(ImapCase):

    def db(self, user):
        path = os.path.join(self.server.data_dir, 'users', user, 'store.db')
        return sqlite3.connect('file:%s?mode=ro' % path, uri=True,
                               timeout=10)

    def held(self, user):
        """(held bodies, bodies) in the user's store."""
        db = self.db(user)
        try:
            held = db.execute('SELECT count(*), coalesce(sum(n), 0)'
                              ' FROM held').fetchone()
            bodies = db.execute('SELECT count(*) FROM bodies').fetchone()[0]
        finally:
            db.close()
        return held[1], bodies

    def pair(self, n=3):
        """Two sessions of a new user with INBOX (n messages) selected."""
        user = self.new_user()
        a, b = self.connect(user), self.connect(user)
        msgs = self.fill(a, 'INBOX', n)
        self.select(a)
        self.select(b)
        return user[0], a, b, msgs

    def expunge_2(self, a, recent=True):
        self.ok(a.cmd('STORE 2 +FLAGS.SILENT (\\Deleted)'))
        # when a holds the messages as \\Recent, the count goes down too
        self.assertEqual(self.ok(a.cmd('EXPUNGE')), ['* 2 EXPUNGE'] +
                         (['* 2 RECENT'] if recent else []))

    def no_expunge(self, lines):
        self.assertEqual([l for l in lines if b'EXPUNGE' in l
                          if isinstance(l, bytes)] +
                         [l for l in lines if isinstance(l, str) and
                          l.endswith(' EXPUNGE')], [], lines)


class EmptyFlagList(ExpungeCase):
    def test_store_empty_list_is_a_no_op_for_the_owner(self):
        # imaptest sends "+FLAGS ()" when its random pick is empty; it was
        # answered NO [NOPERM] You may not change flags here
        c = self.connect()
        self.fill(c, 'INBOX', 2, flags=['\\Flagged'])
        self.select(c)
        self.assertEqual(self.ok(c.cmd('STORE 1 +FLAGS ()')),
                         ['* 1 FETCH (FLAGS (\\Flagged \\Recent))'])
        self.assertEqual(self.ok(c.cmd('STORE 1:2 -FLAGS.SILENT ()')), [])
        self.assertEqual(self.ok(c.cmd('UID STORE 2 +FLAGS ()')),
                         ['* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))'])
        # FLAGS () still replaces
        self.assertEqual(self.ok(c.cmd('STORE 1 FLAGS ()')),
                         ['* 1 FETCH (FLAGS (\\Recent))'])
        # a named flag this session may not change is still refused
        # (a guest without "w": test_acl); here a read-only EXAMINE
        self.select(c, examine=True)
        self.assertTagged(c.cmd('STORE 1 +FLAGS ()'), 'NO', r'\[READ-ONLY\]')


class Ghosts(ExpungeCase):
    def test_fetch_answers_with_the_expunged_message(self):
        user, a, b, msgs = self.pair()
        self.expunge_2(a)
        r = b.cmd_bytes('FETCH 1:3 (UID FLAGS RFC822.SIZE BODY.PEEK[])')
        self.assertRegex(r[0], rb'^a\d+ OK ')
        self.no_expunge(r[1])
        fm = fetch_map(r[1])
        self.assertEqual(sorted(fm), [1, 2, 3])
        self.assertEqual([fm[i]['BODY[]'] for i in (1, 2, 3)], msgs)
        self.assertEqual(fm[2]['UID'], '2')
        self.assertEqual(int(fm[2]['RFC822.SIZE']), len(msgs[1]))
        # structure and sections come from the kept body too
        t, unt = b.cmd('FETCH 2 (ENVELOPE BODY.PEEK[HEADER.FIELDS '
                       '(SUBJECT)])')
        self.assertRegex(t, r'^a\d+ OK ')
        self.assertIn('"msg 2"', unt[0])
        # a FETCH that would set \Seen leaves the ghost alone
        t, unt = b.cmd('FETCH 2 BODY[TEXT]')
        self.assertRegex(t, r'^a\d+ OK ')
        self.assertNotIn('\\Seen', ' '.join(unt))
        # told at the next command that may carry it
        self.assertEqual(self.ok(b.cmd('NOOP')), ['* 2 EXPUNGE'])
        fm = fetch_map(self.ok(b.cmd('FETCH 1:2 UID')))
        self.assertEqual((fm[1]['UID'], fm[2]['UID']), ('1', '3'))

    def test_store_on_an_expunged_message_is_accepted(self):
        def norecent(lines):
            return [re.sub(r' ?\\Recent', '', l) for l in lines]
        user, a, b, _ = self.pair()
        self.expunge_2(a)
        # imaptest's STORE and "DELETE" (STORE +FLAGS \Deleted)
        self.assertEqual(self.ok(b.cmd('STORE 2 +FLAGS (\\Flagged)')), [])
        self.assertEqual(norecent(self.ok(b.cmd('STORE 1:3 +FLAGS '
                                                '(\\Seen)'))),
                         ['* 1 FETCH (FLAGS (\\Seen))',
                          '* 3 FETCH (FLAGS (\\Seen))'])
        self.assertEqual(self.ok(b.cmd('STORE 2:3 +FLAGS.SILENT '
                                       '(\\Deleted)')), [])
        # UID STORE may be told of the expunge (RFC 3501 7.4.1)
        t, unt = b.cmd('UID STORE 2 +FLAGS (\\Answered)')
        self.assertRegex(t, r'^a\d+ OK ')
        # nothing happened to the other session's mailbox
        self.ok(a.cmd('NOOP'))
        self.assertEqual(norecent(self.ok(a.cmd('FETCH 1:2 (UID FLAGS)'))),
                         ['* 1 FETCH (UID 1 FLAGS (\\Seen))',
                          '* 2 FETCH (UID 3 FLAGS (\\Deleted \\Seen))'])

    def test_data_goes_when_the_last_session_is_told(self):
        user, a, b, _ = self.pair()
        c = self.connect((user, 'pw-' + user))
        self.select(c)
        base = self.held(user)
        self.assertEqual(base, (0, 3))
        self.expunge_2(a)
        # b and c still see UID 2: its body is held once
        self.assertEqual(self.held(user), (1, 3))
        self.ok(b.cmd('FETCH 2 BODY.PEEK[]'))
        self.assertEqual(self.ok(b.cmd('NOOP')), ['* 2 EXPUNGE'])
        self.assertEqual(self.held(user), (1, 3))    # c still sees it
        self.assertEqual(self.ok(c.cmd('CHECK')), ['* 2 EXPUNGE'])
        self.assertEqual(self.held(user), (0, 2))

    def test_many_ghosts_go_together(self):
        # the bodies of several expunged messages are released in one
        # transaction once the last session that saw them is told
        user, a, b, _ = self.pair(6)
        c = self.connect((user, 'pw-' + user))
        self.select(c)
        self.ok(a.cmd('STORE 2:5 +FLAGS.SILENT (\\Deleted)'))
        self.ok(a.cmd('EXPUNGE'))
        self.assertEqual(self.held(user), (4, 6))
        self.ok(b.cmd('NOOP'))
        self.assertEqual(self.held(user), (4, 6))    # c still sees them
        self.assertEqual(self.ok(c.cmd('FETCH 3 (UID)')),
                         ['* 3 FETCH (UID 3)'])
        self.ok(c.cmd('CHECK'))
        self.assertEqual(self.held(user), (0, 2))
        self.assertEqual(self.ok(c.cmd('FETCH 1:* (UID)')),
                         ['* 1 FETCH (UID 1)', '* 2 FETCH (UID 6)'])

    def test_data_goes_when_sessions_leave(self):
        user, a, b, _ = self.pair()
        c = self.connect((user, 'pw-' + user))
        self.select(c)
        self.expunge_2(a)
        self.assertEqual(self.held(user), (1, 3))
        # one unselects, the other logs out: neither was told
        self.assertEqual(self.ok(b.cmd('UNSELECT')), [])
        self.assertEqual(self.held(user), (1, 3))
        c.send(b'x LOGOUT\r\n')
        c.expect_closed()
        time.sleep(0.3)
        self.assertEqual(self.held(user), (0, 2))

    def test_close_and_move_keep_ghosts_too(self):
        user, a, b, msgs = self.pair(4)
        self.ok(a.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)'))
        self.ok(a.cmd('CLOSE'))              # silent expunge
        self.select(a)
        self.ok(a.cmd('MOVE 1 Trash'))      # UID 2
        r = b.cmd_bytes('FETCH 1:2 BODY.PEEK[]')
        self.assertRegex(r[0], rb'^a\d+ OK ')
        fm = fetch_map(r[1])
        self.assertEqual([fm[1]['BODY[]'], fm[2]['BODY[]']], msgs[:2])
        self.assertEqual(self.held(user)[0], 2)
        self.assertEqual(self.ok(b.cmd('NOOP')),
                         ['* 2 EXPUNGE', '* 1 EXPUNGE'])
        # the moved message's body is still used by its copy in Trash
        self.assertEqual(self.held(user), (0, 3))

    def test_quota_counts_the_expunge_at_once(self):
        user, a, b, msgs = self.pair()
        self.expunge_2(a)
        out = self.server.ctl('quota-check', user).stdout
        self.assertIn('%s: ok (%d bytes, 2 messages)' %
                      (user, len(msgs[0]) + len(msgs[2])), out)
        self.ok(b.cmd('FETCH 2 BODY.PEEK[]'))
        self.ok(b.cmd('NOOP'))
        self.assertIn('%s: ok (%d bytes, 2 messages)' %
                      (user, len(msgs[0]) + len(msgs[2])),
                      self.server.ctl('quota-check', user).stdout)

    def test_holds_of_a_dead_process_are_dropped_at_restart(self):
        user, a, b, _ = self.pair()
        self.expunge_2(a)
        self.assertEqual(self.held(user), (1, 3))
        os.kill(mbox_pid(self.server, user), signal.SIGKILL)
        for c in (a, b):
            try:
                c.expect_closed()
            except Exception:
                pass
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                d = self.connect((user, 'pw-' + user))
                break
            except Exception:
                time.sleep(0.2)
        self.select(d)
        self.assertEqual(self.held(user), (0, 2))


class NewKeywords(ExpungeCase):
    """imaptest: "Keyword used without being in FLAGS": a FETCH FLAGS
    naming a keyword the session was never sent in FLAGS."""

    def test_a_new_keyword_is_announced_before_it_is_shown(self):
        user, a, b, _ = self.pair(2)
        flags = '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s)'
        unt = self.ok(a.cmd('STORE 1 +FLAGS (Kw1)'))
        self.assertEqual(unt[0], flags % ' Kw1')
        self.assertRegex(unt[1], r'^\* OK \[PERMANENTFLAGS \(.* Kw1 ')
        self.assertRegex(unt[2], r'^\* 1 FETCH \(FLAGS \(.*Kw1\)\)$')
        self.assertEqual(len(unt), 3)
        # known now: no FLAGS again
        self.assertEqual(len(self.ok(a.cmd('STORE 2 +FLAGS (Kw1)'))), 1)
        # another session: at its FETCH (no sync there), at its NOOP
        unt = self.ok(b.cmd('FETCH 1 FLAGS'))
        self.assertEqual(unt[0], flags % ' Kw1')
        self.assertTrue(unt[2].startswith('* 1 FETCH (FLAGS ('), unt)
        self.ok(a.cmd('STORE 2 +FLAGS.SILENT (Kw2)'))
        unt = self.ok(b.cmd('NOOP'))
        self.assertEqual(unt[0], flags % ' Kw1 Kw2')
        self.assertIn('* 2 FETCH (FLAGS (Kw1 Kw2))', unt)


class GuestGhosts(ExpungeCase):
    def test_guest_sessions_keep_their_ghosts(self):
        alice, bob = self.new_user(), self.new_user()
        a = self.connect(alice)
        self.ok(a.cmd('CREATE Proj'))
        msgs = self.fill(a, 'Proj', 3)
        self.ok(a.cmd('SETACL Proj %s lrswite' % bob[0]))
        b = self.connect(bob)
        name = quote('Other Users/%s/Proj' % alice[0])
        self.select(b, 'Other Users/%s/Proj' % alice[0])
        self.select(a, 'Proj')
        self.expunge_2(a, recent=False)  # b selected first: b holds them
        self.assertEqual(self.held(alice[0]), (1, 3))
        r = b.cmd_bytes('FETCH 2 (UID BODY.PEEK[])')
        self.assertRegex(r[0], rb'^a\d+ OK ')
        self.assertEqual(fetch_map(r[1])[2]['BODY[]'], msgs[1])
        self.assertEqual(self.ok(b.cmd('STORE 2 +FLAGS (\\Flagged)')), [])
        self.assertEqual(self.ok(b.cmd('NOOP')), ['* 2 EXPUNGE', '* 2 RECENT'])
        self.assertEqual(self.held(alice[0]), (0, 2))
        self.ok(b.cmd('STATUS %s (MESSAGES)' % name))


if __name__ == '__main__':
    unittest.main()
