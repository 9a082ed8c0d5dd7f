"""test_append_path.py - what an APPEND writes: one commit per APPEND
command, also into the session's own selected mailbox (its \\Recent is
claimed in the APPEND's transaction, not in a second one by the sync
after it), and the \\Recent semantics stay as RFC 3501 2.3.2 says: the
appending session that has the mailbox selected read-write gets the
flag, another session does not, an EXAMINE shows it without taking it,
and a session that has another mailbox selected leaves it to the next
one.  Commits are counted from the store's -wal file: each frame that
ends a transaction says so in its header."""
import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import ImapCase, fetch_map, message  # noqa: E402


def wal_commits(path):
    """(salt, commits so far) of the -wal file's current generation."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        return None, 0
    if len(data) < 32:
        return None, 0
    psize = struct.unpack('>I', data[8:12])[0]
    salt, at, n = data[16:24], 32, 0
    while at + 24 + psize <= len(data) and data[at + 8:at + 16] == salt:
        n += struct.unpack('>I', data[at + 4:at + 8])[0] != 0
        at += 24 + psize
    return salt, n


class AppendPath(ImapCase):

    def wal(self, user):
        return os.path.join(self.server.data_dir, 'users', user,
                            'store.db-wal')

    def commits_of(self, user, fn):
        """The commits the store got while fn ran (None if the -wal file
        restarted meanwhile: a checkpoint; the caller tries again)."""
        salt0, n0 = wal_commits(self.wal(user))
        fn()
        salt1, n1 = wal_commits(self.wal(user))
        return n1 - n0 if salt0 == salt1 and salt0 is not None else None

    def counted(self, user, fn):
        for _ in range(5):
            n = self.commits_of(user, fn)
            if n is not None:
                return n
        self.fail('the -wal file restarted at every try')

    def recent_of(self, c):
        got = fetch_map(self.ok(c.cmd('FETCH 1:* (FLAGS)')))
        return {seq for seq, items in got.items()
                if '\\Recent' in items.get('FLAGS', '')}

    def test_append_to_selected_is_one_commit(self):
        user = self.new_user()
        a = self.connect(user)
        self.ok(a.append('INBOX', message(subject='first')))
        self.select(a, 'INBOX')
        for i in range(3):
            n = self.counted(user[0], lambda: self.ok(
                a.append('INBOX', message(subject='m%d' % i))))
            self.assertEqual(n, 1)
        # the session that appended holds the new ones as \Recent
        self.assertEqual(self.recent_of(a), {1, 2, 3, 4})
        b = self.connect(user)
        info = self.select(b, 'INBOX')
        self.assertEqual(info['exists'], 4)
        self.assertEqual(info['recent'], 0)
        self.assertEqual(self.recent_of(b), set())

    def test_recent_when_not_selected_or_examined(self):
        user = self.new_user()
        a = self.connect(user)
        self.ok(a.cmd('CREATE Other'))
        self.select(a, 'Other')
        # into a mailbox the session has not selected: the next one gets it
        self.ok(a.append('INBOX', message(subject='x')))
        e = self.connect(user)
        self.select(e, 'INBOX', examine=True)
        self.ok(e.append('INBOX', message(subject='y')))
        self.ok(e.cmd('NOOP'))
        self.assertEqual(self.recent_of(e), {1, 2})	# shown, not taken
        b = self.connect(user)
        info = self.select(b, 'INBOX')
        self.assertEqual(info['recent'], 2)
        self.assertEqual(self.recent_of(b), {1, 2})

    def test_examiner_sees_the_claim_of_an_append(self):
        """A session that has the mailbox selected read-write claims what
        it APPENDs; another session of the same user that EXAMINEs it
        shares the mailbox's state in the user's process and must see
        the claim (the message exists, not \\Recent), at once."""
        user = self.new_user()
        a = self.connect(user)
        self.select(a, 'INBOX')
        e = self.connect(user)
        self.select(e, 'INBOX', examine=True)
        self.ok(a.append('INBOX', message(subject='mine')))
        self.assertEqual(self.recent_of(a), {1})
        untagged = self.ok(e.cmd('NOOP'))
        self.assertIn('* 1 EXISTS', untagged)
        self.assertEqual(self.recent_of(e), set())

    def test_refused_append_claims_nothing(self):
        user = self.new_user()
        a = self.connect(user)
        self.select(a, 'INBOX')
        r = a.cmd('APPEND INBOX (\\Seen) {0+}\r\n')
        self.assertRegex(r[0], r'^a\d+ (NO|BAD) ')
        self.ok(a.append('INBOX', message(subject='ok')))
        self.assertEqual(self.recent_of(a), {1})
        b = self.connect(user)
        self.assertEqual(self.select(b, 'INBOX')['recent'], 0)


if __name__ == '__main__':
    unittest.main(verbosity=2)
