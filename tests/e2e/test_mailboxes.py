"""test_mailboxes.py - the mailbox list over the network: CREATE (with
parents, trailing separator, USE), DELETE and RENAME as RFC 3501 defines
them (children, \\Noselect, INBOX), SUBSCRIBE/UNSUBSCRIBE/LSUB, LIST with
wildcards and references, CHILDREN, SPECIAL-USE, LIST-EXTENDED,
LIST-STATUS and STATUS with every item."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import ImapCase, message, parse  # noqa: E402

DEFAULT = ['* LIST (\\HasNoChildren) "/" "INBOX"',
           '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
           '* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
           '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
           '* LIST (\\HasNoChildren \\Trash) "/" "Trash"']


class Mailboxes(ImapCase):

    def listing(self, c, args='"" *'):
        tagged, unt = c.cmd('LIST ' + args)
        self.assertRegex(tagged, r'^a\d+ OK LIST completed$')
        return unt

    def lsub(self, c, args='"" *'):
        tagged, unt = c.cmd('LSUB ' + args)
        self.assertRegex(tagged, r'^a\d+ OK LSUB completed$')
        return unt

    def names(self, lines):
        return [parse(l)[4] for l in lines]

    def bare(self, lines):
        """lines without \\HasChildren/\\HasNoChildren: RFC 5258 leaves
        them to the server unless RETURN (CHILDREN) asks for them."""
        return [re.sub(r'\\Has(No)?Children ?', '', l).replace(' )', ')')
                for l in lines]

    def create(self, c, *names):
        for n in names:
            self.assertRegex(c.cmd('CREATE "%s"' % n)[0],
                             r'^a\d+ OK (\[MAILBOXID \([\w-]+\)\] )?'
                             r'CREATE completed$')

    def status(self, c, name, items='MESSAGES'):
        tagged, unt = c.cmd('STATUS "%s" (%s)' % (name, items))
        self.assertRegex(tagged, r'^a\d+ OK STATUS completed$')
        self.assertEqual(len(unt), 1)
        toks = parse(unt[0])
        self.assertEqual(toks[:3], ['*', 'STATUS', name])
        vals = toks[3]
        return {vals[i]: int(vals[i + 1]) for i in range(0, len(vals), 2)}

    # ---- a new user ----

    def test_new_user_folders(self):
        c = self.connect()
        self.assertEqual(self.listing(c), DEFAULT)
        self.assertEqual(self.lsub(c), [
            '* LSUB () "/" "INBOX"', '* LSUB () "/" "Drafts"',
            '* LSUB () "/" "Junk"', '* LSUB () "/" "Sent"',
            '* LSUB () "/" "Trash"'])
        self.assertEqual(self.listing(c, '"" ""'),
                         ['* LIST (\\Noselect) "/" ""'])
        self.assertEqual(self.lsub(c, '"" ""'),
                         ['* LSUB (\\Noselect) "/" ""'])

    # ---- CREATE ----

    def test_create(self):
        c = self.connect()
        self.create(c, 'a/b/c')
        self.assertEqual(self.listing(c, '"" a*'), [
            '* LIST (\\HasChildren) "/" "a"',
            '* LIST (\\HasChildren) "/" "a/b"',
            '* LIST (\\HasNoChildren) "/" "a/b/c"'])
        # the parents made on the way are real, selectable mailboxes
        self.assertEqual(self.select(c, 'a/b')['exists'], 0)
        for name in ('a', 'a/b', 'a/b/c', 'a/'):
            self.assertEqual(c.cmd('CREATE "%s"' % name)[0][5:],
                             'NO [ALREADYEXISTS] Mailbox already exists')
        # a trailing separator asks for a mailbox that will hold children
        self.create(c, 'holder/')
        self.assertEqual(self.listing(c, '"" holder*'),
                         ['* LIST (\\HasNoChildren) "/" "holder"'])
        for name in ('INBOX', 'inbox', 'InBoX'):
            self.assertRegex(c.cmd('CREATE %s' % name)[0],
                             r'^a\d+ NO \[ALREADYEXISTS\] ')
        # names that can't be mailboxes
        for name in ('a//b', '/lead', 'st*r', 'per%cent', ''):
            tagged, unt = c.cmd('CREATE "%s"' % name)
            self.assertRegex(tagged, r'^a\d+ (NO|BAD) ', name)
        self.assertEqual(self.names(self.listing(c, '"" *'))[5:],
                         ['a', 'a/b', 'a/b/c', 'holder'])
        # INBOX may have children; names are case-sensitive otherwise
        self.create(c, 'inbox/Sub', 'Holder')
        self.assertEqual(self.listing(c, '"" INBOX*'), [
            '* LIST (\\HasChildren) "/" "INBOX"',
            '* LIST (\\HasNoChildren) "/" "INBOX/Sub"'])
        self.assertEqual(self.names(self.listing(c, '"" %older')),
                         ['Holder', 'holder'])

    def test_create_special_use(self):
        c = self.connect()
        self.assertRegex(c.cmd('CREATE Arch (USE (\\Archive))')[0],
                         r'^a002 OK \[MAILBOXID \([\w-]+\)\] '
                         r'CREATE completed$')
        self.assertEqual(self.listing(c, '"" Arch'),
                         ['* LIST (\\HasNoChildren \\Archive) "/" "Arch"'])
        tagged, _ = c.cmd('CREATE Odd (USE (\\NotAUse))')
        self.assertRegex(tagged, r"^a\d+ NO \[USEATTR\] ")
        self.assertEqual(self.listing(c, '"" Odd'), [])

    # ---- DELETE ----

    def test_delete(self):
        c = self.connect()
        self.create(c, 'leaf', 'p/q')
        self.ok(c.append('p', message()))
        self.assertEqual(c.cmd('DELETE leaf')[0][5:], 'OK DELETE completed')
        self.assertEqual(self.listing(c, '"" leaf'), [])
        self.assertEqual(c.cmd('SELECT leaf')[0][5:],
                         'NO [NONEXISTENT] Mailbox doesn\'t exist: leaf')
        self.assertEqual(c.cmd('DELETE leaf')[0][5:],
                         'NO [NONEXISTENT] Mailbox doesn\'t exist: leaf')
        # a parent loses its messages and becomes \Noselect
        uv = self.status(c, 'p', 'UIDVALIDITY')['UIDVALIDITY']
        self.assertEqual(c.cmd('DELETE p')[0][5:], 'OK DELETE completed')
        self.assertEqual(self.listing(c, '"" p*'), [
            '* LIST (\\Noselect \\HasChildren) "/" "p"',
            '* LIST (\\HasNoChildren) "/" "p/q"'])
        self.assertRegex(c.cmd('SELECT p')[0], r'^a\d+ NO \[NONEXISTENT\] ')
        self.assertRegex(c.cmd('STATUS p (MESSAGES)')[0],
                         r'^a\d+ NO \[NONEXISTENT\] ')
        self.assertRegex(c.append('p', message())[0],
                         r'^a\d+ NO \[(CANNOT|TRYCREATE)\] ')
        # a \Noselect with children can't be deleted
        self.assertRegex(c.cmd('DELETE p')[0], r'^a\d+ NO \[HASCHILDREN\] ')
        # CREATE makes it selectable again, empty, with a new UIDVALIDITY
        self.create(c, 'p')
        st = self.status(c, 'p', 'MESSAGES UIDVALIDITY')
        self.assertEqual(st['MESSAGES'], 0)
        self.assertNotEqual(st['UIDVALIDITY'], uv)
        # the \Noselect parent goes with its last child
        self.assertEqual(c.cmd('DELETE p')[0][5:], 'OK DELETE completed')
        self.assertEqual(c.cmd('DELETE p/q')[0][5:], 'OK DELETE completed')
        self.assertEqual(self.listing(c, '"" p*'), [])
        self.assertEqual(self.listing(c), DEFAULT)
        # INBOX can't be deleted, in any case spelling
        for name in ('INBOX', 'inbox'):
            self.assertEqual(c.cmd('DELETE %s' % name)[0][5:],
                             'NO [CANNOT] INBOX can\'t be deleted')

    def test_delete_selected_mailbox(self):
        c = self.connect()
        self.create(c, 'gone')
        self.select(c, 'gone')
        self.assertEqual(c.cmd('DELETE gone')[0][5:], 'OK DELETE completed')
        # our own selection ended with it
        self.assertRegex(c.cmd('FETCH 1 FLAGS')[0],
                         r'^a\d+ BAD FETCH is only valid in the selected ')

    # ---- RENAME ----

    def test_rename(self):
        c = self.connect()
        self.create(c, 'r/s/t')
        self.ok(c.append('r/s', message(subject='in s')))
        uv = self.status(c, 'r/s', 'UIDVALIDITY')['UIDVALIDITY']
        self.assertEqual(c.cmd('RENAME r n/m')[0][5:], 'OK RENAME completed')
        self.assertEqual(self.listing(c, '"" *')[5:], [
            '* LIST (\\HasChildren) "/" "n"',
            '* LIST (\\HasChildren) "/" "n/m"',
            '* LIST (\\HasChildren) "/" "n/m/s"',
            '* LIST (\\HasNoChildren) "/" "n/m/s/t"'])
        # messages and UIDVALIDITY move with the mailbox
        st = self.status(c, 'n/m/s', 'MESSAGES UIDVALIDITY UIDNEXT')
        self.assertEqual(st, {'MESSAGES': 1, 'UIDVALIDITY': uv, 'UIDNEXT': 2})
        self.assertRegex(c.cmd('RENAME n/m/s Trash')[0],
                         r'^a\d+ NO \[ALREADYEXISTS\] ')
        self.assertRegex(c.cmd('RENAME nothere x')[0],
                         r'^a\d+ NO \[NONEXISTENT\] ')
        self.assertRegex(c.cmd('RENAME n n/m/s/t/u')[0], r'^a\d+ NO ')
        self.assertRegex(c.cmd('RENAME n INBOX')[0],
                         r'^a\d+ NO \[ALREADYEXISTS\] ')
        self.assertEqual(self.names(self.listing(c))[5:],
                         ['n', 'n/m', 'n/m/s', 'n/m/s/t'])
        # a special-use folder keeps its use under a new name
        self.assertEqual(c.cmd('RENAME Junk Spam')[0][5:],
                             'OK RENAME completed')
        self.assertEqual(self.listing(c, '"" Spam'),
                         ['* LIST (\\HasNoChildren \\Junk) "/" "Spam"'])

    def test_rename_inbox(self):
        c = self.connect()
        self.create(c, 'INBOX/Kid')
        bodies = self.fill(c, 'INBOX', 2)
        before = self.status(c, 'INBOX', 'MESSAGES UIDNEXT UIDVALIDITY')
        self.assertEqual(c.cmd('RENAME INBOX Old')[0][5:], 'OK RENAME completed')
        old = self.status(c, 'Old', 'MESSAGES UIDNEXT')
        self.assertEqual(old['MESSAGES'], 2)
        now = self.status(c, 'INBOX', 'MESSAGES UIDNEXT UIDVALIDITY')
        self.assertEqual(now['MESSAGES'], 0)
        # INBOX stays the same mailbox: UIDs are never reused
        self.assertEqual(now['UIDVALIDITY'], before['UIDVALIDITY'])
        self.assertGreaterEqual(now['UIDNEXT'], before['UIDNEXT'])
        # its children stay where they are
        self.assertEqual(self.listing(c, '"" INBOX*'), [
            '* LIST (\\HasChildren) "/" "INBOX"',
            '* LIST (\\HasNoChildren) "/" "INBOX/Kid"'])
        self.select(c, 'Old')
        tagged, unt = c.cmd_bytes('FETCH 1:2 BODY.PEEK[]')
        got = [l[l.index(b'}\r\n') + 3:-1] for l in unt]
        self.assertEqual(got, bodies)

    # ---- subscriptions ----

    def test_subscribe_lsub(self):
        c = self.connect()
        self.create(c, 'z/b', 'w')
        for name in ('z/b', 'foo/bar', 'w'):
            self.assertEqual(c.cmd('SUBSCRIBE "%s"' % name)[0][5:],
                             'OK SUBSCRIBE completed')
        self.assertEqual(c.cmd('UNSUBSCRIBE w')[0][5:],
                         'OK UNSUBSCRIBE completed')
        self.assertEqual(self.names(self.lsub(c)),
                         ['INBOX', 'Drafts', 'Junk', 'Sent', 'Trash',
                          'foo/bar', 'z/b'])
        # '%' shows the unsubscribed parents of subscribed names as
        # \Noselect (RFC 3501 6.3.9)
        self.assertEqual(self.lsub(c, '"" %')[5:], [
            '* LSUB (\\Noselect) "/" "foo"', '* LSUB (\\Noselect) "/" "z"'])
        self.assertEqual(self.names(self.lsub(c, '"" z/%')), ['z/b'])
        self.assertEqual(self.names(self.lsub(c, 'z/ %')), ['z/b'])
        # a subscribed parent is shown as it is
        self.assertEqual(c.cmd('SUBSCRIBE z')[0][5:], 'OK SUBSCRIBE completed')
        self.assertEqual(self.lsub(c, '"" z'), ['* LSUB () "/" "z"'])
        # subscriptions outlive DELETE
        self.create(c, 'tmp')
        c.cmd('SUBSCRIBE tmp')
        self.assertEqual(c.cmd('DELETE tmp')[0][5:], 'OK DELETE completed')
        self.assertEqual(self.names(self.lsub(c, '"" tmp')), ['tmp'])
        # UNSUBSCRIBE of a name not subscribed is not an error
        self.assertRegex(c.cmd('UNSUBSCRIBE never')[0], r'^a\d+ (OK|NO) ')
        self.assertEqual(c.cmd('UNSUBSCRIBE Junk')[0][5:],
                         'OK UNSUBSCRIBE completed')
        self.assertNotIn('Junk', self.names(self.lsub(c)))

    def test_lsub_star_lists_only_subscribed(self):
        c = self.connect()
        self.create(c, 'top/mid/leaf')
        c.cmd('SUBSCRIBE top/mid/leaf')
        # '*' reaches the subscribed name itself: no unsubscribed parent
        self.assertEqual(self.lsub(c, '"" top*'),
                         ['* LSUB () "/" "top/mid/leaf"'])
        self.assertEqual(self.lsub(c, '"" top/%'),
                         ['* LSUB (\\Noselect) "/" "top/mid"'])
        self.assertEqual(self.lsub(c, '"" top/*'),
                         ['* LSUB () "/" "top/mid/leaf"'])

    def test_subscriptions_survive_rename(self):
        # seed 003: renaming doesn't carry the subscriptions along
        c = self.connect()
        self.create(c, 'Dossier_1', 'Dossier_1/SousDossier_1')
        c.cmd('SUBSCRIBE Dossier_1')
        c.cmd('SUBSCRIBE Dossier_1/SousDossier_1')
        self.assertEqual(c.cmd('RENAME Dossier_1 Archive')[0][5:],
                         'OK RENAME completed')
        # (a name that is no mailbox any more may be marked \Noselect)
        lines = self.lsub(c, '"" Dossier*')
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(lines[0], r'^\* LSUB \((\\Noselect)?\) "/" '
                         r'"Dossier_1"$')
        self.assertRegex(lines[1], r'^\* LSUB \((\\Noselect)?\) "/" '
                         r'"Dossier_1/SousDossier_1"$')
        self.assertEqual(self.lsub(c, '"" Archive*'), [])
        self.assertEqual(self.listing(c, '"" Archive*'), [
            '* LIST (\\HasChildren) "/" "Archive"',
            '* LIST (\\HasNoChildren) "/" "Archive/SousDossier_1"'])

    # ---- LIST ----

    def test_list_wildcards(self):
        c = self.connect()
        self.create(c, 'a/b/c', 'a/x', 'ab', 'b')
        n = lambda args: self.names(self.listing(c, args))  # noqa: E731
        self.assertEqual(n('"" %')[5:], ['a', 'ab', 'b'])
        self.assertEqual(n('"" *')[5:], ['a', 'a/b', 'a/b/c', 'a/x', 'ab', 'b'])
        self.assertEqual(n('"" a/%'), ['a/b', 'a/x'])
        self.assertEqual(n('"" a/*'), ['a/b', 'a/b/c', 'a/x'])
        self.assertEqual(n('"" a%'), ['a', 'ab'])
        self.assertEqual(n('"" a*'), ['a', 'a/b', 'a/b/c', 'a/x', 'ab'])
        self.assertEqual(n('"" %/%'), ['a/b', 'a/x'])
        self.assertEqual(n('"" *c'), ['a/b/c'])
        self.assertEqual(n('"" %b'), ['ab', 'b'])
        # the reference is prefixed to the pattern
        self.assertEqual(n('a/ %'), ['a/b', 'a/x'])
        self.assertEqual(n('a/ *'), ['a/b', 'a/b/c', 'a/x'])
        self.assertEqual(n('a %'), ['a', 'ab'])
        self.assertEqual(n('a/b/ %'), ['a/b/c'])
        # INBOX matches case-insensitively, other names do not
        self.assertEqual(n('"" inbox'), ['INBOX'])
        self.assertEqual(n('"" InBo%'), ['INBOX'])
        self.assertEqual(n('"" A'), [])
        self.assertEqual(n('"" nothing'), [])
        # the hierarchy delimiter and root of a reference
        self.assertEqual(self.listing(c, 'a/b ""'),
                         ['* LIST (\\Noselect) "/" ""'])
        self.assertEqual(self.listing(c, '"" a/b'),
                         ['* LIST (\\HasChildren) "/" "a/b"'])
        # quoted, literal and atom forms of the same arguments
        c.send('l1 LIST {0}\r\n')
        self.assertEqual(c.readline(), '+ Ready for literal data')
        c.send(' {3}\r\n')
        self.assertEqual(c.readline(), '+ Ready for literal data')
        c.send('a/%\r\n')
        tagged, unt = c.read_until_tagged('l1')
        self.assertEqual(self.names(unt), ['a/b', 'a/x'])

    def test_children_attributes(self):
        c = self.connect()
        self.create(c, 'p/c')
        self.assertEqual(self.listing(c, '"" p*'), [
            '* LIST (\\HasChildren) "/" "p"',
            '* LIST (\\HasNoChildren) "/" "p/c"'])
        c.cmd('DELETE p/c')
        self.assertEqual(self.listing(c, '"" p*'),
                         ['* LIST (\\HasNoChildren) "/" "p"'])

    def test_special_use(self):
        c = self.connect()
        self.create(c, 'Plain')
        self.assertEqual(self.bare(self.listing(c, '(SPECIAL-USE) "" *')),
                         self.bare(DEFAULT[1:]))
        self.assertEqual(self.listing(c, '(SPECIAL-USE) "" * RETURN '
                                      '(CHILDREN)'), DEFAULT[1:])
        lines = self.listing(c, '"" * RETURN (SPECIAL-USE)')
        self.assertEqual(lines, DEFAULT[:3] +
                         ['* LIST (\\HasNoChildren) "/" "Plain"'] +
                         DEFAULT[3:])
        self.assertEqual(self.bare(self.listing(c, '(SPECIAL-USE) "" %rash')),
                         ['* LIST (\\Trash) "/" "Trash"'])

    def test_list_extended(self):
        c = self.connect()
        self.create(c, 'Foo/Baz', 'Moo')
        for name in ('INBOX', 'Drafts', 'Junk', 'Sent', 'Trash'):
            c.cmd('UNSUBSCRIBE ' + name)
        c.cmd('SUBSCRIBE Foo/Baz')
        c.cmd('SUBSCRIBE Gone/Sub')
        # RFC 5258 5, example 8 A, with our hierarchy
        self.assertEqual(self.bare(self.listing(c, '(SUBSCRIBED) "" *')), [
            '* LIST (\\Subscribed) "/" "Foo/Baz"',
            '* LIST (\\NonExistent \\Subscribed) "/" "Gone/Sub"'])
        self.assertEqual(self.listing(c, '(SUBSCRIBED) "" Foo/* '
                                      'RETURN (CHILDREN)'),
                         ['* LIST (\\HasNoChildren \\Subscribed) "/" '
                          '"Foo/Baz"'])
        self.assertEqual(self.listing(c, '(SUBSCRIBED) "" %'), [])
        lines = self.bare(self.listing(c, '(SUBSCRIBED RECURSIVEMATCH) "" %'))
        self.assertEqual(lines, [
            '* LIST () "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))',
            '* LIST (\\NonExistent) "/" "Gone" ("CHILDINFO" ("SUBSCRIBED"))'])
        # with "*" the subscribed children are listed themselves; a
        # CHILDINFO for their parents would be redundant (RFC 5258 3.5)
        lines = self.bare(self.listing(c, '(SUBSCRIBED RECURSIVEMATCH) "" *'))
        self.assertIn('* LIST (\\Subscribed) "/" "Foo/Baz"', lines)
        self.assertIn('* LIST (\\NonExistent \\Subscribed) "/" "Gone/Sub"',
                      lines)
        c.cmd('SUBSCRIBE Moo')
        lines = self.listing(c, '(SUBSCRIBED RECURSIVEMATCH) "" % '
                                'RETURN (CHILDREN)')
        self.assertIn('* LIST (\\HasNoChildren \\Subscribed) "/" "Moo"', lines)
        # RECURSIVEMATCH alone is refused (RFC 5258 3)
        self.assertRegex(c.cmd('LIST (RECURSIVEMATCH) "" *')[0], r'^a\d+ BAD ')
        self.assertRegex(c.cmd('LIST (BOGUS) "" *')[0], r'^a\d+ BAD ')
        self.assertRegex(c.cmd('LIST "" * RETURN (BOGUS)')[0], r'^a\d+ BAD ')
        # RETURN (SUBSCRIBED CHILDREN) on a plain selection
        lines = self.listing(c, '"" % RETURN (SUBSCRIBED CHILDREN)')
        self.assertIn('* LIST (\\HasChildren) "/" "Foo"', lines)
        self.assertIn('* LIST (\\HasNoChildren \\Subscribed) "/" "Moo"', lines)
        self.assertIn('* LIST (\\HasNoChildren) "/" "INBOX"', lines)
        # several patterns, and REMOTE (nothing remote here)
        self.assertEqual(self.names(self.listing(c, '"" (Moo "Foo/*")')),
                         ['Foo/Baz', 'Moo'])
        self.assertEqual(self.listing(c, '(REMOTE) "" Moo'),
                         ['* LIST (\\HasNoChildren) "/" "Moo"'])

    def test_list_status(self):
        c = self.connect()
        self.create(c, 'S/T')
        self.fill(c, 'S', 3)
        c.cmd('DELETE S')   # \Noselect: listed, but no STATUS for it
        self.fill(c, 'S/T', 2)
        self.ok(c.append('INBOX', message(), flags=['\\Seen']))
        lines = self.listing(c, '"" * RETURN (STATUS (MESSAGES UNSEEN '
                                'UIDNEXT RECENT))')
        st = {}
        for l in lines:
            if l.startswith('* STATUS '):
                toks = parse(l)
                st[toks[2]] = toks[3]
        self.assertEqual(st['INBOX'], ['MESSAGES', '1', 'RECENT', '1',
                                       'UIDNEXT', '2', 'UNSEEN', '0'])
        self.assertEqual(st['S/T'], ['MESSAGES', '2', 'RECENT', '2',
                                     'UIDNEXT', '3', 'UNSEEN', '2'])
        self.assertNotIn('S', st)
        self.assertEqual(set(st), {'INBOX', 'Drafts', 'Junk', 'Sent', 'Trash',
                                   'S/T'})
        # each STATUS follows its LIST line
        i = lines.index('* LIST (\\HasNoChildren) "/" "S/T"')
        self.assertTrue(lines[i + 1].startswith('* STATUS "S/T" '))

    # ---- STATUS ----

    def test_status_every_item(self):
        c = self.connect()
        self.create(c, 'box')
        data = self.fill(c, 'box', 3)
        self.ok(c.append('box', message(subject='seen one'),
                         flags=['\\Seen', '\\Deleted']))
        seen_size = len(message(subject='seen one'))
        st = self.status(c, 'box', 'MESSAGES RECENT UIDNEXT UIDVALIDITY '
                         'UNSEEN HIGHESTMODSEQ SIZE DELETED DELETED-STORAGE')
        self.assertEqual(st['MESSAGES'], 4)
        self.assertEqual(st['RECENT'], 4)
        self.assertEqual(st['UIDNEXT'], 5)
        self.assertEqual(st['UNSEEN'], 3)
        self.assertEqual(st['SIZE'], sum(map(len, data)) + seen_size)
        self.assertEqual(st['DELETED'], 1)
        # RFC 9208: KiB, rounded up
        self.assertEqual(st['DELETED-STORAGE'], (seen_size + 1023) // 1024)
        self.assertGreater(st['UIDVALIDITY'], 0)
        self.assertGreater(st['HIGHESTMODSEQ'], 0)
        # each item asked for comes back once, in the server's order
        tagged, unt = c.cmd('STATUS box (UNSEEN MESSAGES)')
        self.assertEqual(unt, ['* STATUS "box" (MESSAGES 4 UNSEEN 3)'])
        # SELECT claims \Recent; STATUS of the selected mailbox is current
        info = self.select(c, 'box')
        self.assertEqual(info['recent'], 4)
        self.assertEqual(self.status(c, 'box', 'RECENT MESSAGES'),
                         {'RECENT': 0, 'MESSAGES': 4})
        self.assertEqual(c.cmd('EXPUNGE')[1], ['* 4 EXPUNGE', '* 3 RECENT'])
        st2 = self.status(c, 'box', 'MESSAGES SIZE DELETED HIGHESTMODSEQ '
                          'UIDNEXT')
        self.assertEqual(st2['MESSAGES'], 3)
        self.assertEqual(st2['SIZE'], sum(map(len, data)))
        self.assertEqual(st2['DELETED'], 0)
        self.assertEqual(st2['UIDNEXT'], 5)
        self.assertGreater(st2['HIGHESTMODSEQ'], st['HIGHESTMODSEQ'])
        self.assertRegex(c.cmd('STATUS nope (MESSAGES)')[0],
                         r'^a\d+ NO \[NONEXISTENT\] ')
        self.assertRegex(c.cmd('STATUS box ()')[0], r'^a\d+ (BAD|OK) ')
        self.assertRegex(c.cmd('STATUS box (FOO)')[0], r'^a\d+ BAD ')


if __name__ == '__main__':
    unittest.main()
