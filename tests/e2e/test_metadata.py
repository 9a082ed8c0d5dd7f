"""test_metadata.py - METADATA and METADATA-SERVER (RFC 5464) against the
real daemon.

Server entries ("") and mailbox entries, /shared and /private: set,
replace, NIL to delete, multi-line and binary (literal8) values, NIL for
an entry that does not exist, DEPTH 0/1/infinity, MAXSIZE with
[METADATA LONGENTRIES]; /shared/admin is read-only; invalid entry names
are BAD and the connection goes on; limits answer [METADATA MAXSIZE n]
and [METADATA TOOMANY] and a refused SETMETADATA changes none of its
entries; values count in the storage quota ([OVERQUOTA]); entries go
with DELETE, follow RENAME, and are copied when INBOX is renamed; the
store survives a restart; another user's shared mailbox: the ACL decides
(l and r to read, w to set /shared), a grantee's /private entries are
their own.

Python 3 standard library only."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import ImapCase, code, parse, quote  # noqa: E402

OK_RE = r'^a\d+ OK '


def metadata(untagged, mailbox):
    """{entry: value} of the METADATA responses for mailbox (values as
    str, bytes for literals, None for NIL)."""
    out = {}
    for line in untagged:
        v = parse(line)
        if v[:2] != ['*', 'METADATA']:
            continue
        name = v[2].decode() if isinstance(v[2], bytes) else v[2]
        if name != mailbox:
            continue
        pairs = v[3]
        for i in range(0, len(pairs), 2):
            val = pairs[i + 1]
            if isinstance(val, bytes):
                try:
                    val = val.decode()
                except UnicodeDecodeError:
                    pass
            out[pairs[i]] = val
    return out


def as_bytes(v):
    return v.encode() if isinstance(v, str) else v


class MetadataCase(ImapCase):

    def get(self, c, mailbox, entries, options=''):
        tagged, unt = c.cmd_bytes('GETMETADATA %s%s %s' % (
            options + ' ' if options else '', quote(mailbox), entries))
        tagged = tagged.decode()
        self.assertRegex(tagged, OK_RE)
        return metadata(unt, mailbox), tagged

    def set(self, c, mailbox, pairs):
        return c.cmd('SETMETADATA %s (%s)' % (quote(mailbox), pairs))[0]


class Basics(MetadataCase):

    def test_capabilities(self):
        c = self.connect()
        caps = c.cmd('CAPABILITY')[1][0].split()
        self.assertIn('METADATA', caps)
        self.assertIn('METADATA-SERVER', caps)

    def test_server_entries(self):
        c = self.connect()
        self.assertRegex(self.set(c, '', '/shared/comment "Hello there" '
                                  '/private/vendor/mk/x "1"'), OK_RE)
        got, _ = self.get(c, '', '(/shared/comment /private/vendor/mk/x)')
        self.assertEqual(got, {'/shared/comment': 'Hello there',
                               '/private/vendor/mk/x': '1'})
        # an entry that does not exist is NIL
        got, _ = self.get(c, '', '/shared/nothing')
        self.assertEqual(got, {'/shared/nothing': None})
        # entry names are case-insensitive
        got, _ = self.get(c, '', '/SHARED/Comment')
        self.assertEqual(got, {'/shared/comment': 'Hello there'})
        tagged = self.set(c, '', '/shared/admin "mailto:x@example.org"')
        self.assertRegex(tagged, r'^a\d+ NO \[NOPERM\] /shared/admin is '
                         r'read-only')

    def test_mailbox_entries_values_and_delete(self):
        c = self.connect()
        tag = c.next_tag()
        value = b'My new comment across\r\ntwo lines.\r\n'
        c.send(b'%s SETMETADATA INBOX (/private/comment {%d}\r\n' %
               (tag.encode(), len(value)))
        self.assertTrue(c.readline().startswith('+'))
        c.send(value + b' /shared/vendor/mk/bin ~{4+}\r\na\x00b\xff)\r\n')
        self.assertRegex(c.read_until_tagged(tag)[0], r'^a\d+ OK ')
        got, _ = self.get(c, 'INBOX', '(/private/comment '
                          '/shared/vendor/mk/bin)')
        self.assertEqual(as_bytes(got['/private/comment']), value)
        self.assertEqual(as_bytes(got['/shared/vendor/mk/bin']),
                         b'a\x00b\xff')
        # replace, then NIL deletes
        self.assertRegex(self.set(c, 'INBOX', '/private/comment "short"'),
                         OK_RE)
        got, _ = self.get(c, 'INBOX', '/private/comment')
        self.assertEqual(got, {'/private/comment': 'short'})
        self.assertRegex(self.set(c, 'INBOX', '/private/comment NIL'), OK_RE)
        got, _ = self.get(c, 'INBOX', '/private/comment')
        self.assertEqual(got, {'/private/comment': None})

    def test_depth_and_maxsize(self):
        c = self.connect()
        self.assertRegex(c.cmd('CREATE Work')[0], OK_RE)
        self.assertRegex(self.set(
            c, 'Work', '/private/filters/values/small "SMALLER 5000" '
            '/private/filters/values/boss "FROM \\"boss@example.com\\"" '
            '/private/filters/values/boss/deep "x" '
            '/private/filtersx "not below"'), OK_RE)
        # RFC 5464 4.2.2's example: the children, no NIL for the parent
        got, _ = self.get(c, 'Work', '/private/filters/values', '(DEPTH 1)')
        self.assertEqual(got, {
            '/private/filters/values/boss': 'FROM "boss@example.com"',
            '/private/filters/values/small': 'SMALLER 5000'})
        got, _ = self.get(c, 'Work', '/private/filters',
                          '(DEPTH infinity)')
        self.assertEqual(len(got), 3, got)
        self.assertNotIn('/private/filtersx', got)
        # the RFC's examples put the options after the mailbox
        got, tagged = self.get(c, 'Work', '(MAXSIZE 5 DEPTH infinity) '
                               '/private')
        self.assertRegex(tagged, r'^a\d+ OK \[METADATA LONGENTRIES 23\] ')
        self.assertEqual(got, {'/private/filters/values/boss/deep': 'x'})
        # and in the grammar's place, before the mailbox
        got2, _ = self.get(c, '', '/private', '(MAXSIZE 5 DEPTH infinity)')
        self.assertEqual(got2, {})
        # the scope alone is no entry: nothing, not NIL
        got, _ = self.get(c, 'Work', '/shared', '(DEPTH infinity)')
        self.assertEqual(got, {})

    def test_invalid_names_and_mailboxes(self):
        c = self.connect()
        for bad in ('/comment', '"/shared//x"', '/shared/x/', '"/shared/*"'):
            tagged = c.cmd('GETMETADATA INBOX %s' % bad)[0]
            self.assertRegex(tagged, r'^a\d+ BAD ', bad)
        self.assertRegex(self.set(c, 'INBOX', '/shared "x"'), r'^a\d+ BAD ')
        tagged = c.cmd('GETMETADATA Nowhere /shared/comment')[0]
        self.assertRegex(tagged, r'^a\d+ NO \[NONEXISTENT\] ')
        self.assertRegex(self.set(c, 'Nowhere', '/shared/comment "x"'),
                         r'^a\d+ NO \[NONEXISTENT\] ')
        self.assertRegex(c.cmd('NOOP')[0], OK_RE)

    def test_delete_rename_and_inbox_rename(self):
        c = self.connect()
        self.assertRegex(c.cmd('CREATE Old')[0], OK_RE)
        self.assertRegex(self.set(c, 'Old', '/shared/comment "travels"'),
                         OK_RE)
        self.assertRegex(c.cmd('RENAME Old New')[0], OK_RE)
        got, _ = self.get(c, 'New', '/shared/comment')
        self.assertEqual(got, {'/shared/comment': 'travels'})
        self.assertRegex(c.cmd('CREATE Old')[0], OK_RE)
        got, _ = self.get(c, 'Old', '/shared/comment')
        self.assertEqual(got, {'/shared/comment': None})
        self.assertRegex(c.cmd('DELETE New')[0], OK_RE)
        self.assertRegex(c.cmd('CREATE New')[0], OK_RE)
        got, _ = self.get(c, 'New', '/shared/comment')
        self.assertEqual(got, {'/shared/comment': None})
        # RFC 5464 4.1: INBOX's entries are copied, and INBOX keeps them
        self.assertRegex(self.set(c, 'INBOX', '/private/comment "inbox"'),
                         OK_RE)
        self.assertRegex(c.cmd('RENAME INBOX Archive')[0], OK_RE)
        for box in ('INBOX', 'Archive'):
            got, _ = self.get(c, box, '/private/comment')
            self.assertEqual(got, {'/private/comment': 'inbox'}, box)


class Limits(MetadataCase):
    config = {'metadata_max_value': '1K', 'metadata_max_entries': '12',
              'metadata_max_total': '4K'}

    def test_maxsize_toomany_and_atomic(self):
        c = self.connect()
        tagged = self.set(c, 'INBOX', '/shared/a "ok" /shared/big "%s"'
                          % ('x' * 1025))
        self.assertRegex(tagged, r'^a\d+ NO \[METADATA MAXSIZE 1024\] ')
        got, _ = self.get(c, 'INBOX', '/shared/a')
        self.assertEqual(got, {'/shared/a': None})   # nothing was set
        # entries: 12 at most, one command's worth of them all or nothing
        self.assertRegex(self.set(c, 'INBOX', '/shared/big "%s"'
                                  % ('x' * 1024)), OK_RE)
        tagged = self.set(c, '', ' '.join('/private/e%d "v"' % i
                                          for i in range(12)))
        self.assertRegex(tagged, r'^a\d+ NO \[METADATA TOOMANY\] ')
        got, _ = self.get(c, '', '/private', '(DEPTH 1)')
        self.assertEqual(got, {})
        self.assertRegex(self.set(c, '', ' '.join(
            '/private/e%d "v"' % i for i in range(11))), OK_RE)
        tagged = self.set(c, '', '/private/one-more "v"')
        self.assertRegex(tagged, r'^a\d+ NO \[METADATA TOOMANY\] ')
        # replacing an entry adds none
        self.assertRegex(self.set(c, '', '/private/e0 "w"'), OK_RE)

    def test_total_bytes(self):
        c = self.connect()
        self.assertRegex(self.set(c, 'INBOX', ' '.join(
            '/shared/k%d "%s"' % (i, 'y' * 1024) for i in range(4))), OK_RE)
        tagged = self.set(c, 'INBOX', '/shared/k4 "z"')
        self.assertRegex(tagged, r'^a\d+ NO \[METADATA TOOMANY\] ')
        # smaller is always allowed, and then there is room again
        self.assertRegex(self.set(c, 'INBOX', '/shared/k0 "short"'), OK_RE)
        self.assertRegex(self.set(c, 'INBOX', '/shared/k4 "z"'), OK_RE)

    def test_quota_counts_values(self):
        user = self.new_user()
        self.server.ctl('quota', user[0], '--storage', '3')
        c = self.connect(user)
        self.assertRegex(self.set(c, 'INBOX', '/shared/a "%s"' % ('a' * 1000)),
                         OK_RE)
        tagged, unt = c.cmd('GETQUOTAROOT INBOX')
        self.assertIn('* QUOTA "" (STORAGE 1 3)', unt)
        self.assertRegex(self.set(c, 'INBOX', '/shared/b "%s"' % ('b' * 1000)),
                         OK_RE)
        tagged = self.set(c, 'INBOX', '/shared/c "%s"' % ('c' * 1000) +
                          ' /shared/d "%s"' % ('d' * 1000))
        self.assertRegex(tagged, r'^a\d+ NO \[OVERQUOTA\] ')
        tagged, unt = c.cmd('GETQUOTAROOT INBOX')
        self.assertIn('* QUOTA "" (STORAGE 2 3)', unt)
        # deleting gives it back
        self.assertRegex(self.set(c, 'INBOX', '/shared/a NIL /shared/b NIL'),
                         OK_RE)
        tagged, unt = c.cmd('GETQUOTAROOT INBOX')
        self.assertIn('* QUOTA "" (STORAGE 0 3)', unt)
        out = self.server.ctl('quota-check', user[0]).stdout
        self.assertIn('ok', out)


class Shared(MetadataCase):

    def test_acl_decides_and_private_is_own(self):
        alice, bob = self.new_user(), self.new_user()
        a = self.connect(alice)
        self.assertRegex(a.cmd('CREATE Proj')[0], OK_RE)
        self.assertRegex(a.cmd('CREATE Secret')[0], OK_RE)
        self.assertRegex(self.set(a, 'Proj', '/shared/comment "team" '
                                  '/private/comment "alice only"'), OK_RE)
        self.assertRegex(a.cmd('SETACL Proj %s lr' % bob[0])[0], OK_RE)
        b = self.connect(bob)
        name = 'Other Users/%s/Proj' % alice[0]
        got, _ = self.get(b, name, '(/shared/comment /private/comment)')
        self.assertEqual(got, {'/shared/comment': 'team',
                               '/private/comment': None})
        # "lr": /private of his own yes, /shared no
        self.assertRegex(self.set(b, name, '/private/comment "bob\'s"'),
                         OK_RE)
        tagged = self.set(b, name, '/shared/comment "bob was here"')
        self.assertRegex(tagged, r'^a\d+ NO \[NOPERM\] .*"w"')
        got, _ = self.get(a, 'Proj', '(/shared/comment /private/comment)')
        self.assertEqual(got, {'/shared/comment': 'team',
                               '/private/comment': 'alice only'})
        got, _ = self.get(b, name, '/private/comment')
        self.assertEqual(got, {'/private/comment': "bob's"})
        # with "w" he may; alice sees it
        self.assertRegex(a.cmd('SETACL Proj %s lrw' % bob[0])[0], OK_RE)
        self.assertRegex(self.set(b, name, '/shared/comment "agreed"'),
                         OK_RE)
        got, _ = self.get(a, 'Proj', '/shared/comment')
        self.assertEqual(got, {'/shared/comment': 'agreed'})
        # a mailbox not shared with him does not exist for him
        tagged = b.cmd('GETMETADATA %s /shared/comment' %
                       quote('Other Users/%s/Secret' % alice[0]))[0]
        self.assertRegex(tagged, r'^a\d+ NO ')
        # revoked: "l" alone is not enough
        self.assertRegex(a.cmd('SETACL Proj %s l' % bob[0])[0], OK_RE)
        tagged = b.cmd('GETMETADATA %s /shared/comment' % quote(name))[0]
        self.assertRegex(tagged, r'^a\d+ NO \[NOPERM\] ')


class Restart(MetadataCase):

    def test_entries_survive_restart(self):
        user = self.new_user()
        c = self.connect(user)
        self.assertRegex(self.set(c, '', '/shared/comment "kept"'), OK_RE)
        c.close()
        self.server.stop()
        self.server.start()
        c = self.connect(user)
        got, _ = self.get(c, '', '/shared/comment')
        self.assertEqual(got, {'/shared/comment': 'kept'})


if __name__ == '__main__':
    unittest.main(verbosity=2)
