"""test_imap4rev2.py - IMAP4rev2 (RFC 9051) and UTF8=ACCEPT (RFC 6855)
against the real daemon.

Both are advertised beside IMAP4rev1.  A session that enables neither
sees IMAP4rev1 exactly as before (RECENT, \\Recent, SEARCH responses,
[UNSEEN n], modified UTF-7 names, 8-bit headers refused only because
UTF8=ACCEPT is offered).  After ENABLE IMAP4rev2: no RECENT response and
no \\Recent anywhere (SELECT, FETCH, STORE, IDLE updates), RECENT/NEW/OLD
search keys and the STATUS RECENT item are BAD, SEARCH answers in
ESEARCH form (ALL, UID, empty results, SAVE), SELECT carries the
mailbox's LIST line and no [UNSEEN], unsolicited FETCH carries UID,
STATUS DELETED and SIZE, LIST's \\NonExistent, \\Subscribed and
CHILDINFO, LIST-STATUS, LITERAL-, UTF-8 mailbox names.  After ENABLE
UTF8=ACCEPT: UTF-8 names in every command that takes one, stored so
that a rev1 session sees the same mailbox in modified UTF-7; APPEND
UTF8 (~{n}); SEARCH CHARSET refused; bad UTF-8 refused with BAD and the
connection usable.

Python 3 standard library only."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import (ImapCase, esearch_result, fetch_map,  # noqa: E402
                    message, parse, search_result)

OK_RE = r'^a\d+ OK '
EACUTE = 'Entw\u00fcrfe'                 # "Entwuerfe" with u-umlaut
EACUTE_MUTF7 = 'Entw&APw-rfe'
JAPANESE = '\u65e5\u672c\u8a9e'          # RFC 3501 5.1.3's example
JAPANESE_MUTF7 = '&ZeVnLIqe-'


def qutf8(s):
    """A quoted string with UTF-8 inside."""
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


class Rev2Case(ImapCase):
    def enable(self, c, *caps):
        tagged, unt = c.cmd('ENABLE ' + ' '.join(caps))
        self.assertRegex(tagged, OK_RE)
        return unt

    def cmd_utf8(self, c, text):
        """cmd() with UTF-8 bytes on the wire; lines decoded as UTF-8."""
        tag = c.next_tag()
        c.sock.sendall(('%s %s\r\n' % (tag, text)).encode('utf-8'))
        return c.read_until_tagged(tag)


class Capabilities(Rev2Case):
    def test_advertised_before_and_after_login(self):
        with self.server.client() as c:
            tagged, unt = c.cmd('CAPABILITY')
            caps = unt[0].split()
            self.assertIn('IMAP4rev1', caps)
            self.assertIn('IMAP4rev2', caps)
        c = self.connect()
        tagged, unt = c.cmd('CAPABILITY')
        caps = unt[0].split()
        for cap in ('IMAP4rev1', 'IMAP4rev2', 'UTF8=ACCEPT', 'LITERAL+',
                    'ENABLE', 'NAMESPACE', 'UNSELECT', 'UIDPLUS', 'ESEARCH',
                    'SEARCHRES', 'IDLE', 'LIST-EXTENDED', 'LIST-STATUS',
                    'MOVE', 'STATUS=SIZE', 'BINARY', 'SPECIAL-USE'):
            self.assertIn(cap, caps)

    def test_enable_lists_what_it_turned_on(self):
        c = self.connect()
        unt = self.enable(c, 'IMAP4rev2')
        self.assertEqual(unt, ['* ENABLED IMAP4rev2'])
        # Again: nothing new.
        self.assertEqual(self.enable(c, 'IMAP4rev2'), ['* ENABLED'])
        c2 = self.connect()
        self.assertEqual(self.enable(c2, 'UTF8=ACCEPT', 'IMAP4rev2',
                                     'X-UNKNOWN'),
                         ['* ENABLED IMAP4rev2 UTF8=ACCEPT'])
        # ENABLE is not valid while selected (RFC 5161), as before.
        c2.cmd('SELECT INBOX')
        tagged, _ = c2.cmd('ENABLE UTF8=ACCEPT')
        self.assertRegex(tagged, r'^a\d+ BAD ')

    def test_enable_before_login_refused(self):
        with self.server.client() as c:
            tagged, _ = c.cmd('ENABLE IMAP4rev2')
            self.assertRegex(tagged, r'^a\d+ BAD ')
            tagged, _ = c.cmd('NOOP')
            self.assertRegex(tagged, OK_RE)


class Rev1Unchanged(Rev2Case):
    """Without ENABLE a session is IMAP4rev1 as it always was."""

    def test_recent_search_and_unseen(self):
        user = self.new_user()
        c = self.server.client(login=user)
        c.append('INBOX', message(subject='one'), flags=['\\Seen'])
        c.append('INBOX', message(subject='two'))
        tagged, unt = c.cmd('SELECT INBOX')
        self.assertIn('* 2 RECENT', unt)
        self.assertTrue(any('[UNSEEN 2]' in l for l in unt))
        self.assertFalse(any(l.startswith('* LIST ') for l in unt))
        tagged, unt = c.cmd('FETCH 2 FLAGS')
        self.assertIn('\\Recent', unt[0])
        tagged, unt = c.cmd('SEARCH RECENT')
        self.assertEqual(search_result(unt), [1, 2])
        tagged, unt = c.cmd('SEARCH UNSEEN')
        self.assertEqual(search_result(unt), [2])
        tagged, unt = c.cmd('UID SEARCH NEW')
        self.assertRegex(tagged, OK_RE)
        tagged, unt = c.cmd('STATUS INBOX (RECENT MESSAGES)')
        self.assertRegex(tagged, OK_RE)
        c.close()

    def test_mutf7_names_as_sent(self):
        c = self.connect()
        tagged, _ = c.cmd('CREATE "%s"' % EACUTE_MUTF7)
        self.assertRegex(tagged, OK_RE)
        tagged, unt = c.cmd('LIST "" "Entw*"')
        self.assertEqual(parse(unt[0])[4], EACUTE_MUTF7)

    def test_utf8_append_refused_without_enable(self):
        c = self.connect()
        tag = c.next_tag()
        data = b'Subject: \xc3\xa9t\xc3\xa9\r\n\r\nbody\r\n'
        c.send(b'%s APPEND INBOX UTF8 (~{%d+}\r\n%s)\r\n' %
               (tag.encode(), len(data), data))
        tagged, _ = c.read_until_tagged(tag)
        self.assertRegex(tagged, r'^a\d+ BAD .*ENABLE UTF8=ACCEPT')
        # RFC 6855: 8-bit header bytes in a plain APPEND are refused too.
        tagged, _ = c.append('INBOX', data)
        self.assertRegex(tagged, r'^a\d+ NO .*8-bit header')
        # 8-bit bytes in the body are fine, as they always were.
        tagged, _ = c.append('INBOX', b'Subject: x\r\n\r\n\xc3\xa9\r\n')
        self.assertRegex(tagged, OK_RE)
        tagged, unt = c.cmd('STATUS INBOX (MESSAGES)')
        self.assertIn('MESSAGES 1', unt[0])


class Rev2Session(Rev2Case):
    def rev2(self, user=None):
        c = self.connect(user)
        self.enable(c, 'IMAP4rev2')
        return c

    def test_no_recent_anywhere(self):
        user = self.new_user()
        c = self.rev2(user)
        c.append('INBOX', message(subject='one'))
        c.append('INBOX', message(subject='two'), flags=['\\Seen'])
        tagged, unt = c.cmd('SELECT INBOX')
        self.assertRegex(tagged, OK_RE)
        self.assertFalse(any('RECENT' in l for l in unt), unt)
        self.assertFalse(any('\\Recent' in l for l in unt), unt)
        self.assertFalse(any('[UNSEEN' in l for l in unt), unt)
        self.assertIn('* 2 EXISTS', unt)
        # The LIST line of the selected mailbox (RFC 9051 6.3.2).
        lists = [l for l in unt if l.startswith('* LIST ')]
        self.assertEqual(len(lists), 1)
        self.assertEqual(parse(lists[0])[4], 'INBOX')
        self.assertIn('\\HasNoChildren', parse(lists[0])[2])
        tagged, unt = c.cmd('FETCH 1:* FLAGS')
        self.assertFalse(any('\\Recent' in l for l in unt), unt)
        tagged, unt = c.cmd('STORE 1 +FLAGS (\\Flagged)')
        self.assertFalse(any('\\Recent' in l for l in unt), unt)
        self.assertIn('UID 1', unt[0])
        # New mail from another session: EXISTS, no RECENT.
        other = self.server.client(login=user)
        other.append('INBOX', message(subject='three'))
        tagged, unt = c.cmd('NOOP')
        self.assertIn('* 3 EXISTS', unt)
        self.assertFalse(any('RECENT' in l for l in unt), unt)
        # Flags changed elsewhere: the unsolicited FETCH carries UID.
        other.cmd('SELECT INBOX')
        other.cmd('STORE 2 +FLAGS (\\Answered)')
        tagged, unt = c.cmd('NOOP')
        fl = [l for l in unt if 'FETCH' in l]
        self.assertEqual(len(fl), 1, unt)
        self.assertIn('UID 2', fl[0])
        self.assertNotIn('\\Recent', fl[0])
        other.close()

    def test_recent_keys_and_status_item_are_bad(self):
        c = self.rev2()
        c.append('INBOX', message())
        c.cmd('SELECT INBOX')
        for key in ('RECENT', 'NEW', 'OLD', 'NOT (OR RECENT SEEN)'):
            tagged, unt = c.cmd('SEARCH ' + key)
            self.assertRegex(tagged, r'^a\d+ BAD .*IMAP4rev2', key)
        tagged, _ = c.cmd('UID SORT (DATE) UTF-8 RECENT')
        self.assertRegex(tagged, r'^a\d+ BAD ')
        tagged, _ = c.cmd('STATUS INBOX (MESSAGES RECENT)')
        self.assertRegex(tagged, r'^a\d+ BAD .*RECENT')
        tagged, _ = c.cmd('LIST "" "*" RETURN (STATUS (RECENT))')
        self.assertRegex(tagged, r'^a\d+ BAD ')
        # The connection is still usable, and APPEND with \Recent is
        # refused as in rev1.
        tagged, unt = c.cmd('SEARCH ALL')
        self.assertRegex(tagged, OK_RE)
        tagged, _ = c.append('INBOX', message(), flags=['\\Recent'])
        self.assertRegex(tagged, r'^a\d+ BAD ')

    def test_search_answers_esearch(self):
        c = self.rev2()
        for i in range(5):
            c.append('INBOX', message(subject='m%d' % i),
                     flags=['\\Seen'] if i % 2 else [])
        tagged, unt = c.cmd('SELECT INBOX')
        tagged, unt = c.cmd('SEARCH UNSEEN')
        self.assertRegex(tagged, OK_RE)
        self.assertFalse(any(l.startswith('* SEARCH') for l in unt), unt)
        r = esearch_result(unt)
        self.assertEqual(r['TAG'], tagged.split()[0])
        self.assertEqual(r['ALL'], '1,3,5')
        self.assertNotIn('UID', r)
        tagged, unt = c.cmd('UID SEARCH SEEN')
        r = esearch_result(unt)
        self.assertTrue(r['UID'])
        self.assertEqual(r['ALL'], '2,4')
        # Nothing found: an ESEARCH with no ALL.
        tagged, unt = c.cmd('SEARCH SUBJECT nothing-like-this')
        self.assertEqual(unt, ['* ESEARCH (TAG "%s")' % tagged.split()[0]])
        # RETURN still works as ESEARCH defines, SAVE included.
        tagged, unt = c.cmd('SEARCH RETURN (MIN COUNT) ALL')
        r = esearch_result(unt)
        self.assertEqual((r['MIN'], r['COUNT']), ('1', '5'))
        tagged, unt = c.cmd('SEARCH RETURN (SAVE) SEEN')
        self.assertEqual(unt, [])
        tagged, unt = c.cmd('FETCH $ (UID)')
        self.assertEqual(sorted(fetch_map(unt)), [2, 4])
        # SEARCH with CHARSET is still IMAP4rev2 (UTF8=ACCEPT not on).
        tagged, unt = c.cmd('SEARCH CHARSET UTF-8 SUBJECT m1')
        self.assertEqual(esearch_result(unt)['ALL'], '2')

    def test_status_deleted_and_size(self):
        c = self.rev2()
        m = message(subject='sized')
        c.append('INBOX', m, flags=['\\Deleted'])
        c.append('INBOX', m)
        tagged, unt = c.cmd('STATUS INBOX (MESSAGES DELETED SIZE UNSEEN)')
        self.assertRegex(tagged, OK_RE)
        items = parse(unt[0])[3]
        got = dict(zip(items[::2], items[1::2]))
        self.assertEqual(got['MESSAGES'], '2')
        self.assertEqual(got['DELETED'], '1')
        self.assertEqual(got['SIZE'], str(2 * len(m)))

    def test_list_extended_rules(self):
        c = self.rev2()
        for name in ('a', 'a/b', 'gone', 'sub/x'):
            c.cmd('CREATE %s' % name)
        c.cmd('SUBSCRIBE gone')
        c.cmd('SUBSCRIBE sub/x')
        c.cmd('DELETE gone')
        tagged, unt = c.cmd('LIST (SUBSCRIBED) "" "*"')
        got = {parse(l)[4]: parse(l)[2] for l in unt}
        self.assertIn('\\NonExistent', got['gone'])
        self.assertIn('\\Subscribed', got['gone'])
        self.assertIn('\\Subscribed', got['sub/x'])
        tagged, unt = c.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
        sub = [l for l in unt if parse(l)[4] == 'sub']
        self.assertEqual(len(sub), 1)
        self.assertIn('CHILDINFO', sub[0])
        tagged, unt = c.cmd('LIST "" "a*" RETURN (CHILDREN STATUS '
                            '(MESSAGES SIZE DELETED))')
        self.assertRegex(tagged, OK_RE)
        got = {parse(l)[4]: parse(l)[2] for l in unt if l.startswith('* LIST')}
        self.assertIn('\\HasChildren', got['a'])
        self.assertIn('\\HasNoChildren', got['a/b'])
        st = [l for l in unt if l.startswith('* STATUS')]
        self.assertEqual(len(st), 2)
        self.assertIn('SIZE 0', st[0])

    def test_literal_minus_and_folded_commands(self):
        c = self.rev2()
        data = message(subject='literal-', body='x' * 3000)
        self.assertLessEqual(len(data), 4096)
        tagged, _ = c.append('INBOX', data, literal_plus=True)
        self.assertRegex(tagged, OK_RE)
        c.cmd('CREATE dst')
        c.cmd('SELECT INBOX')
        tagged, unt = c.cmd('UID MOVE 1 dst')
        self.assertRegex(tagged, OK_RE)
        self.assertTrue(any('COPYUID' in l for l in unt + [tagged]))
        tagged, _ = c.cmd('UNSELECT')
        self.assertRegex(tagged, OK_RE)
        tagged, unt = c.cmd('NAMESPACE')
        self.assertRegex(tagged, OK_RE)
        c.cmd('SELECT dst')
        tagged, unt = c.cmd_bytes('FETCH 1 BINARY.PEEK[1]')
        self.assertRegex(tagged, rb'^a\d+ OK ')
        tagged, unt = c.cmd('FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
        self.assertIn('literal-', ''.join(unt))


class Utf8Names(Rev2Case):
    def test_names_in_and_out(self):
        user = self.new_user()
        c = self.connect(user)
        self.enable(c, 'UTF8=ACCEPT')
        tagged, _ = self.cmd_utf8(c, 'CREATE %s' % qutf8(EACUTE))
        self.assertRegex(tagged, OK_RE)
        tagged, _ = self.cmd_utf8(c, 'CREATE %s' % qutf8(
            EACUTE + '/' + JAPANESE))
        self.assertRegex(tagged, OK_RE)
        tagged, _ = self.cmd_utf8(c, 'CREATE "Tom & Jerry"')
        self.assertRegex(tagged, OK_RE)
        tagged, unt = self.cmd_utf8(c, 'LIST "" "*"')
        names = [parse(l)[4] for l in unt]
        self.assertIn(EACUTE, names)
        self.assertIn(EACUTE + '/' + JAPANESE, names)
        self.assertIn('Tom & Jerry', names)
        # Patterns are UTF-8 and match characters, not encodings.
        tagged, unt = self.cmd_utf8(c, 'LIST "" %s' % qutf8('Entw\u00fc%'))
        self.assertEqual([parse(l)[4] for l in unt], [EACUTE])
        tagged, unt = self.cmd_utf8(c, 'LIST %s %s' % (qutf8(EACUTE + '/'),
                                                       qutf8('\u65e5*')))
        self.assertEqual([parse(l)[4] for l in unt],
                         [EACUTE + '/' + JAPANESE])
        # Every command that names a mailbox.
        box = qutf8(EACUTE + '/' + JAPANESE)
        for cmd in ('SUBSCRIBE %s', 'STATUS %s (MESSAGES)',
                    'GETQUOTAROOT %s', 'MYRIGHTS %s', 'GETACL %s',
                    'GETMETADATA %s /private/comment', 'EXAMINE %s'):
            tagged, unt = self.cmd_utf8(c, cmd % box)
            self.assertRegex(tagged, OK_RE, cmd)
            for l in unt:
                if l.startswith(('* STATUS', '* MYRIGHTS', '* ACL',
                                 '* QUOTAROOT', '* METADATA')):
                    self.assertIn(JAPANESE, l, cmd)
        tagged, _ = c.cmd('UNSELECT')
        tag = c.next_tag()
        body = message(subject='utf8 name')
        c.sock.sendall(('%s APPEND %s {%d+}\r\n' % (
            tag, box, len(body))).encode() + body + b'\r\n')
        tagged, _ = c.read_until_tagged(tag)
        self.assertRegex(tagged, OK_RE)
        c.cmd('SELECT INBOX')
        c.append('INBOX', message(subject='to move'))
        tagged, _ = self.cmd_utf8(c, 'COPY 1 %s' % box)
        self.assertRegex(tagged, OK_RE)
        tagged, _ = self.cmd_utf8(c, 'RENAME %s %s' % (
            qutf8(EACUTE), qutf8('\u00e9t\u00e9')))
        self.assertRegex(tagged, OK_RE)
        # Subscriptions stay as made (RENAME does not move them).
        tagged, unt = self.cmd_utf8(c, 'LSUB "" "Entw*"')
        self.assertEqual([parse(l)[4] for l in unt], [EACUTE + '/' + JAPANESE])
        tagged, unt = self.cmd_utf8(c, 'STATUS %s (MESSAGES)' %
                                    qutf8('\u00e9t\u00e9/' + JAPANESE))
        self.assertIn('MESSAGES 2', unt[0])
        # A rev1 session of the same user sees modified UTF-7.
        r1 = self.connect(user)
        tagged, unt = r1.cmd('LIST "" "*"')
        names = [parse(l)[4] for l in unt]
        self.assertIn('&AOk-t&AOk-/' + JAPANESE_MUTF7, names)
        self.assertIn('Tom &- Jerry', names)
        tagged, _ = self.cmd_utf8(c, 'DELETE %s' % qutf8(
            '\u00e9t\u00e9/' + JAPANESE))
        self.assertRegex(tagged, OK_RE)

    def test_rev2_turns_utf8_names_on(self):
        c = self.connect()
        c.cmd('CREATE "%s"' % EACUTE_MUTF7)
        self.enable(c, 'IMAP4rev2')
        tagged, unt = self.cmd_utf8(c, 'LIST "" "*"')
        self.assertIn(EACUTE, [parse(l)[4] for l in unt])
        tagged, unt = self.cmd_utf8(c, 'SELECT %s' % qutf8(EACUTE))
        self.assertRegex(tagged, OK_RE)
        lists = [l for l in unt if l.startswith('* LIST ')]
        self.assertEqual(parse(lists[0])[4], EACUTE)

    def test_bad_utf8_is_bad(self):
        c = self.connect()
        self.enable(c, 'UTF8=ACCEPT')
        for cmd in (b'CREATE "a\xffb"', b'SELECT "\xc3"',
                    b'LIST "" "\xed\xa0\x80*"', b'RENAME INBOX "\xc0\xaf"'):
            tag = c.next_tag()
            c.sock.sendall(tag.encode() + b' ' + cmd + b'\r\n')
            tagged, _ = c.read_until_tagged(tag)
            self.assertRegex(tagged, r'^a\d+ BAD .*not valid UTF-8', cmd)
        tagged, _ = c.cmd('NOOP')
        self.assertRegex(tagged, OK_RE)

    def test_utf8_append_and_search_charset(self):
        c = self.connect()
        self.enable(c, 'UTF8=ACCEPT')
        data = ('Subject: \u00e9t\u00e9 \u65e5\u672c\r\nFrom: '
                '\u00e9@example.org\r\n\r\nbody\r\n').encode()
        tag = c.next_tag()
        c.send(b'%s APPEND INBOX (\\Seen) UTF8 (~{%d}\r\n' %
               (tag.encode(), len(data)))
        self.assertTrue(c.readline().startswith('+'))
        c.send(data + b')\r\n')
        tagged, _ = c.read_until_tagged(tag)
        self.assertRegex(tagged, OK_RE)
        # After ENABLE the plain literal is taken too (RFC 6855 4 tells
        # the client to use UTF8, and the server is not asked to refuse).
        tagged, _ = c.append('INBOX', data)
        self.assertRegex(tagged, OK_RE)
        c.cmd('SELECT INBOX')
        tagged, unt = c.cmd_bytes('FETCH 1 BODY.PEEK[]')
        self.assertIn(data, b''.join(unt))
        tagged, unt = self.cmd_utf8(c, 'SEARCH SUBJECT %s' % qutf8('\u65e5'))
        self.assertEqual(search_result(unt), [1, 2])
        # RFC 6855 3: no CHARSET once UTF8=ACCEPT is on.
        tagged, _ = c.cmd('SEARCH CHARSET UTF-8 ALL')
        self.assertRegex(tagged, r'^a\d+ BAD .*CHARSET')
        tagged, _ = c.cmd('SEARCH CHARSET US-ASCII ALL')
        self.assertRegex(tagged, r'^a\d+ BAD ')
        # Malformed UTF8 items.
        for bad in (b'UTF8 {4}\r\nabcd', b'UTF8 ({4}\r\nabcd)',
                    b'UTF8 (~{4}\r\nabcd'):
            tag = c.next_tag()
            c.send(tag.encode() + b' APPEND INBOX ' + bad.replace(
                b'}', b'+}') + b'\r\n')
            tagged, _ = c.read_until_tagged(tag)
            self.assertRegex(tagged, r'^a\d+ BAD ', bad)
        tagged, unt = c.cmd('STATUS INBOX (MESSAGES)')
        self.assertIn('MESSAGES 2', unt[0])


class SharedRev2(Rev2Case):
    """Another user's folder: its owner's process answers, in IMAP4rev2
    form, and the names reach the grantee in UTF-8."""

    def test_grantee_in_rev2(self):
        alice, bob = self.new_user(), self.new_user()
        a = self.connect(alice)
        self.assertRegex(a.cmd('CREATE "%s"' % EACUTE_MUTF7)[0], OK_RE)
        for i in range(3):
            a.append(EACUTE_MUTF7, message(subject='s%d' % i),
                     flags=['\\Seen'] if i == 1 else [])
        self.assertRegex(a.cmd('SETACL "%s" %s lrs' % (EACUTE_MUTF7,
                                                     bob[0]))[0], OK_RE)
        b = self.connect(bob)
        self.enable(b, 'IMAP4rev2')
        full = 'Other Users/%s/%s' % (alice[0], EACUTE)
        tagged, unt = self.cmd_utf8(b, 'LIST "" "Other Users/*"')
        self.assertIn(full, [parse(l)[4] for l in unt])
        tagged, unt = self.cmd_utf8(b, 'STATUS %s (MESSAGES UNSEEN)' %
                                    qutf8(full))
        self.assertRegex(tagged, OK_RE)
        self.assertIn(full, unt[0])
        tagged, unt = self.cmd_utf8(b, 'SELECT %s' % qutf8(full))
        self.assertRegex(tagged, OK_RE)
        self.assertIn('* 3 EXISTS', unt)
        self.assertFalse(any('RECENT' in l for l in unt), unt)
        lists = [l for l in unt if l.startswith('* LIST ')]
        self.assertEqual([parse(l)[4] for l in lists], [full])
        tagged, unt = b.cmd('SEARCH UNSEEN')
        self.assertEqual(esearch_result(unt)['ALL'], '1,3')
        tagged, unt = b.cmd('FETCH 1:* FLAGS')
        self.assertFalse(any('\\Recent' in l for l in unt), unt)
        tagged, _ = b.cmd('SEARCH RECENT')
        self.assertRegex(tagged, r'^a\d+ BAD ')

    def test_utf8_append_and_copy_into_shared(self):
        alice, bob = self.new_user(), self.new_user()
        a = self.connect(alice)
        self.assertRegex(a.cmd('CREATE drop')[0], OK_RE)
        self.assertRegex(a.cmd('SETACL drop %s lri' % bob[0])[0], OK_RE)
        b = self.connect(bob)
        self.enable(b, 'UTF8=ACCEPT')
        full = 'Other Users/%s/drop' % alice[0]
        data = 'Subject: \u00e9t\u00e9\r\n\r\nbody\r\n'.encode()
        for box in ('INBOX', full):
            tag = b.next_tag()
            b.send(b'%s APPEND %s UTF8 (~{%d+}\r\n%s)\r\n' % (
                tag.encode(), qutf8(box).encode(), len(data), data))
            tagged, _ = b.read_until_tagged(tag)
            self.assertRegex(tagged, OK_RE, box)
        # A copy into another user's store goes as an APPEND on the
        # channel: the header it has is kept.
        b.cmd('SELECT INBOX')
        self.assertRegex(self.cmd_utf8(b, 'COPY 1 %s' % qutf8(full))[0],
                         OK_RE)
        a.cmd('SELECT drop')
        tagged, unt = a.cmd_bytes('FETCH 1:* BODY.PEEK[HEADER.FIELDS '
                                  '(SUBJECT)]')
        got = b''.join(unt)
        self.assertEqual(got.count('\u00e9t\u00e9'.encode()), 2, got)


if __name__ == '__main__':
    unittest.main()
