"""test_sort.py - SORT and THREAD over the network (RFC 5256, RFC 5957):
the capabilities; every sort key, REVERSE and several keys; sequence
numbers and UIDs after an expunge; the search criteria (SEARCH's keys,
a UTF-8 literal); charsets; empty results; THREAD ORDEREDSUBJECT and
REFERENCES on a conversation with a missing parent, a loop and subject
merging; copies sorting like their originals; malformed commands
answered BAD with the connection still usable."""
import imaplib
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import HOST  # noqa: E402
from mkimap import ImapCase  # noqa: E402


def msg(subject, frm='a@example.org', to='z@example.org', cc=None,
        date='Mon, 7 Feb 1994 21:52:25 -0800', msgid=None, refs=None,
        irt=None, body='Hello.\r\n'):
    lines = ['From: ' + frm, 'To: ' + to, 'Subject: ' + subject]
    if cc:
        lines.append('Cc: ' + cc)
    if date:
        lines.append('Date: ' + date)
    if msgid:
        lines.append('Message-ID: <%s>' % msgid)
    if refs:
        lines.append('References: ' + ' '.join('<%s>' % r for r in refs))
    if irt:
        lines.append('In-Reply-To: ' + irt)
    return ('\r\n'.join(lines) + '\r\n\r\n' + body).encode('utf-8')


# seq: subject, from, to, cc, date, size grows with the body
SORTABLE = [
    msg('Re: banana', frm='"Zoe" <zoe@example.org>', to='bo@example.org',
        cc='c3@example.org', date='Tue, 8 Feb 1994 10:00:00 +0000',
        body='x' * 300 + '\r\n'),
    msg('apple', frm='bob@example.org', to='"Ann" <ann@example.org>',
        cc='c1@example.org', date='Mon, 7 Feb 1994 10:00:00 +0000',
        body='x' * 100 + '\r\n'),
    msg('[list] Banana (fwd)', frm='=?utf-8?q?=C3=89mile?= <em@example.org>',
        to='al@example.org', date='Wed, 9 Feb 1994 08:00:00 +0100',
        body='x' * 200 + '\r\n'),
    msg('cherry', frm='al@example.org', to='cy@example.org',
        cc='c2@example.org', date=None, body='x' * 400 + '\r\n'),
]


class Sort(ImapCase):

    def sort(self, c, args, uid=False):
        tagged, unt = c.cmd('%sSORT %s' % ('UID ' if uid else '', args))
        self.assertRegex(tagged, r'^a\d+ OK SORT completed$', unt)
        lines = [u for u in unt if u.startswith('* SORT')]
        self.assertEqual(len(lines), 1, unt)
        return [int(x) for x in lines[0].split()[2:]]

    def thread(self, c, args, uid=False):
        tagged, unt = c.cmd('%sTHREAD %s' % ('UID ' if uid else '', args))
        self.assertRegex(tagged, r'^a\d+ OK THREAD completed$', unt)
        lines = [u for u in unt if u.startswith('* THREAD')]
        self.assertEqual(len(lines), 1, unt)
        return lines[0][len('* THREAD'):]

    def setup_box(self, c, box='INBOX', msgs=SORTABLE):
        for m in msgs:
            self.ok(c.append(box, m))
        self.select(c, box)

    def test_capabilities(self):
        c = self.connect()
        unt = self.ok(c.cmd('CAPABILITY'))
        caps = unt[0].split()
        for cap in ('SORT', 'SORT=DISPLAY', 'THREAD=ORDEREDSUBJECT',
                    'THREAD=REFERENCES'):
            self.assertIn(cap, caps)

    def test_every_key(self):
        c = self.connect()
        self.setup_box(c)
        # base subjects: BANANA, APPLE, BANANA, CHERRY
        self.assertEqual(self.sort(c, '(SUBJECT) UTF-8 ALL'), [2, 1, 3, 4])
        # REVERSE leaves the tie (1, 3) in sequence order
        self.assertEqual(self.sort(c, '(REVERSE SUBJECT) UTF-8 ALL'),
                         [4, 1, 3, 2])
        self.assertEqual(self.sort(c, '(SUBJECT REVERSE SIZE) UTF-8 ALL'),
                         [2, 1, 3, 4])
        # 4 has no Date: its INTERNALDATE (now) is the latest
        self.assertEqual(self.sort(c, '(DATE) UTF-8 ALL'), [2, 1, 3, 4])
        self.assertEqual(self.sort(c, '(REVERSE DATE) US-ASCII ALL'),
                         [4, 3, 1, 2])
        self.assertEqual(self.sort(c, '(ARRIVAL) UTF-8 ALL'), [1, 2, 3, 4])
        self.assertEqual(self.sort(c, '(SIZE) UTF-8 ALL'), [2, 3, 1, 4])
        # addr-mailbox: zoe, bob, em, al
        self.assertEqual(self.sort(c, '(FROM) UTF-8 ALL'), [4, 2, 3, 1])
        self.assertEqual(self.sort(c, '(TO) UTF-8 ALL'), [3, 2, 1, 4])
        # no Cc sorts first
        self.assertEqual(self.sort(c, '(CC) UTF-8 ALL'), [3, 2, 4, 1])
        # display names, decoded: Zoe, bob@example.org, Emile, al@...
        self.assertEqual(self.sort(c, '(DISPLAYFROM) UTF-8 ALL'),
                         [4, 2, 3, 1])
        # Ann, bo@..., al@..., cy@...
        self.assertEqual(self.sort(c, '(DISPLAYTO) UTF-8 ALL'), [3, 2, 1, 4])

    def test_search_criteria_and_charset(self):
        c = self.connect()
        self.setup_box(c)
        self.ok(c.cmd('STORE 1,3 +FLAGS (\\Seen)'))
        self.assertEqual(self.sort(c, '(SUBJECT) UTF-8 UNSEEN'), [2, 4])
        self.assertEqual(self.sort(c, '(DATE) UTF-8 OR FROM bob TO cy'),
                         [2, 4])
        self.assertEqual(self.sort(c, '(DATE) UTF-8 SUBJECT nothing'), [])
        # a UTF-8 search string in a literal: the decoded display name
        word = 'Émile'.encode('utf-8')
        c.send(b'a100 SORT (SIZE) UTF-8 FROM {%d+}\r\n%s\r\n'
               % (len(word), word))
        tagged, unt = c.read_until_tagged('a100')
        self.assertEqual(tagged, 'a100 OK SORT completed')
        self.assertIn('* SORT 3', unt)
        tagged, _ = c.cmd('SORT (DATE) ISO-8859-1 ALL')
        self.assertRegex(tagged, r'^a\d+ NO \[BADCHARSET \(UTF-8 US-ASCII\)\]')
        tagged, _ = c.cmd('THREAD REFERENCES KOI8-R ALL')
        self.assertRegex(tagged, r'^a\d+ NO \[BADCHARSET')
        self.assertEqual(self.sort(c, '(DATE) "utf-8" ALL'), [2, 1, 3, 4])

    def test_uid_sort_after_expunge(self):
        c = self.connect()
        self.setup_box(c)
        self.ok(c.cmd('STORE 2 +FLAGS (\\Deleted)'))
        self.ok(c.cmd('EXPUNGE'))
        # UIDs 1 3 4 are now messages 1 2 3
        self.assertEqual(self.sort(c, '(SUBJECT) UTF-8 ALL'), [1, 2, 3])
        self.assertEqual(self.sort(c, '(SUBJECT) UTF-8 ALL', uid=True),
                         [1, 3, 4])
        self.assertEqual(self.sort(c, '(REVERSE SIZE) UTF-8 UID 3:4',
                                   uid=True), [4, 3])
        self.assertEqual(self.sort(c, '(SIZE) UTF-8 2:3'), [2, 3])

    def test_copies_sort_like_their_originals(self):
        c = self.connect()
        self.setup_box(c)
        self.ok(c.cmd('CREATE other'))
        self.ok(c.cmd('COPY 3,1 other'))
        self.select(c, 'other')
        self.assertEqual(self.sort(c, '(DISPLAYFROM) UTF-8 ALL'), [2, 1])
        self.assertEqual(self.sort(c, '(DATE) UTF-8 ALL'), [1, 2])

    def test_empty_mailbox_and_not_selected(self):
        c = self.connect()
        tagged, _ = c.cmd('SORT (DATE) UTF-8 ALL')
        self.assertRegex(tagged, r'^a\d+ (BAD|NO) ')
        self.select(c)
        self.assertEqual(self.sort(c, '(DATE) UTF-8 ALL'), [])
        self.assertEqual(self.thread(c, 'REFERENCES UTF-8 ALL'), '')
        self.assertEqual(self.thread(c, 'ORDEREDSUBJECT UTF-8 ALL'), '')

    def test_malformed_commands(self):
        c = self.connect()
        self.setup_box(c)
        for bad, why in [
                ('SORT DATE UTF-8 ALL', "Expected '\\(' before the sort"),
                ('SORT (NAME) UTF-8 ALL', 'Unknown sort key NAME'),
                ('SORT (DATE) ALL', ''),
                ('SORT (DATE) UTF-8', ''),
                ('SORT (DATE) UTF-8 NOSUCH', 'Unknown search key NOSUCH'),
                ('THREAD MYALG UTF-8 ALL', 'Unknown threading algorithm'),
                ('THREAD REFERENCES', ''),
                ('UID THREAD REFERENCES UTF-8 FOO', 'Unknown search key')]:
            tagged, _ = c.cmd(bad)
            self.assertRegex(tagged, r'^a\d+ BAD .*' + why, bad)
        # still usable
        self.assertEqual(self.sort(c, '(ARRIVAL) UTF-8 ALL'), [1, 2, 3, 4])

    def esort(self, c, args, uid=False):
        tagged, unt = c.cmd('%sSORT RETURN %s' % ('UID ' if uid else '', args))
        self.assertRegex(tagged, r'^a\d+ OK SORT completed$', unt)
        tag = tagged.split()[0]
        lines = [u for u in unt if u.startswith('* ESEARCH')]
        self.assertEqual(len(lines), 1, unt)
        head = '* ESEARCH (TAG "%s")%s' % (tag, ' UID' if uid else '')
        self.assertTrue(lines[0].startswith(head), lines[0])
        return lines[0][len(head):]

    def test_esort(self):
        c = self.connect()
        self.setup_box(c)
        caps = self.ok(c.cmd('CAPABILITY'))[0].split()
        self.assertIn('ESORT', caps)
        # sizes: 2 < 3 < 1 < 4; MIN and MAX are first and last in order
        self.assertEqual(self.esort(c, '(MIN MAX COUNT) (SIZE) UTF-8 ALL'),
                         ' MIN 2 MAX 4 COUNT 4')
        # ALL in sort order; ranges only where numbers ascend
        self.assertEqual(self.esort(c, '(ALL) (SIZE) UTF-8 ALL'),
                         ' ALL 2:3,1,4')
        self.assertEqual(self.esort(c, '() (REVERSE SIZE) UTF-8 ALL'),
                         ' ALL 4,1,3,2')
        self.assertEqual(self.esort(c, '(ALL) (ARRIVAL) UTF-8 ALL'),
                         ' ALL 1:4')
        self.assertEqual(self.esort(c, '(MIN) (REVERSE SUBJECT) UTF-8 ALL',
                                    uid=True), ' MIN 4')
        # no match: only COUNT says anything
        self.assertEqual(self.esort(c, '(MIN MAX ALL COUNT) (DATE) UTF-8 '
                                    'SUBJECT nothing'), ' COUNT 0')
        # SAVE: the first and last in sort order become "$"
        tagged, unt = c.cmd('SORT RETURN (SAVE MIN MAX) (SIZE) UTF-8 ALL')
        self.ok((tagged, unt))
        self.assertEqual(self.sort(c, '(ARRIVAL) UTF-8 $'), [2, 4])
        tagged, unt = c.cmd('SORT RETURN (SAVE) (SIZE) UTF-8 UID 1:2')
        self.ok((tagged, unt))
        self.assertEqual([u for u in unt if u.startswith('* ESEARCH')], [])
        self.assertEqual(self.sort(c, '(REVERSE SIZE) UTF-8 $'), [1, 2])
        # PARTIAL is CONTEXT=SORT's (test_context.py); a broken one is BAD
        tagged, unt = c.cmd('SORT RETURN (PARTIAL 1:2) (SIZE) UTF-8 ALL')
        self.ok((tagged, unt))
        tagged, _ = c.cmd('SORT RETURN (PARTIAL 1:*) (SIZE) UTF-8 ALL')
        self.assertRegex(tagged, r'^a\d+ BAD .*PARTIAL')

    def test_sort_modseq(self):
        c = self.connect()
        self.setup_box(c)
        self.ok(c.cmd('STORE 3 +FLAGS (\\Flagged)'))
        unt = self.ok(c.cmd('FETCH 3 (MODSEQ)'))
        modseq = int(re.search(r'MODSEQ \((\d+)\)', ' '.join(unt)).group(1))
        tagged, unt = c.cmd('SORT (SIZE) UTF-8 MODSEQ 1')
        self.assertIn('* SORT 2 3 1 4 (MODSEQ %d)' % modseq, unt)
        # MAX alone: the MODSEQ of that message (2, not the flagged 3)
        unt = self.ok(c.cmd('FETCH 2 (MODSEQ)'))
        mod2 = int(re.search(r'MODSEQ \((\d+)\)', ' '.join(unt)).group(1))
        self.assertLess(mod2, modseq)
        self.assertEqual(self.esort(c, '(MAX) (REVERSE SIZE) UTF-8 '
                                    'MODSEQ 1'), ' MAX 2 MODSEQ %d' % mod2)
        self.assertEqual(self.esort(c, '(COUNT) (SIZE) UTF-8 MODSEQ 1'),
                         ' COUNT 4 MODSEQ %d' % modseq)

    def test_shared_mailbox(self):
        # a grantee's SORT and THREAD run in the owner's process, on the
        # owner's stored keys; an ESORT answer carries the client's tag
        alice, bob = self.new_user(), self.new_user()
        a = self.connect(alice)
        self.ok(a.cmd('CREATE Proj'))
        for m in SORTABLE:
            self.ok(a.append('Proj', m))
        self.ok(a.cmd('SETACL Proj %s lrs' % bob[0]))
        b = self.connect(bob)
        self.select(b, 'Other Users/%s/Proj' % alice[0])
        self.assertEqual(self.sort(b, '(SUBJECT) UTF-8 ALL'), [2, 1, 3, 4])
        self.assertEqual(self.sort(b, '(DISPLAYFROM) UTF-8 ALL', uid=True),
                         [4, 2, 3, 1])
        self.ok(b.cmd('STORE 2 +FLAGS (\\Seen)'))
        self.assertEqual(self.sort(b, '(REVERSE DATE) UTF-8 UNSEEN'),
                         [4, 3, 1])
        self.assertEqual(self.esort(b, '(COUNT MIN) (SIZE) UTF-8 SEEN'),
                         ' MIN 2 COUNT 1')
        self.assertEqual(self.thread(b, 'ORDEREDSUBJECT UTF-8 ALL'),
                         ' (2)(1 3)(4)')
        # and the owner sorts the same stored keys
        self.select(a, 'Proj')
        self.assertEqual(self.sort(a, '(SUBJECT) UTF-8 ALL'), [2, 1, 3, 4])

    def test_shared_mailbox_large_answer(self):
        # 30,000 numbers are a line longer than the owner's channel
        # takes whole (64 KiB): it is relayed as it comes
        alice, bob = self.new_user(), self.new_user()
        a = self.connect(alice)
        self.ok(a.cmd('CREATE Big'))
        n = 30000
        for start in range(1, n + 1, 1000):
            parts = []
            for i in range(start, start + 1000):
                m = msg('m %05d' % (n + 1 - i))
                parts.append(b' {%d+}\r\n%s' % (len(m), m))
            tag = a.next_tag()
            a.send(b'%s APPEND Big' % tag.encode() + b''.join(parts) +
                   b'\r\n')
            self.assertIn(' OK ', a.read_until_tagged(tag, timeout=120)[0])
        self.ok(a.cmd('SETACL Big %s lr' % bob[0]))
        b = self.connect(bob, timeout=60)
        self.select(b, 'Other Users/%s/Big' % alice[0])
        self.assertEqual(self.sort(b, '(SUBJECT) UTF-8 ALL'),
                         list(range(n, 0, -1)))
        self.assertEqual(self.sort(b, '(ARRIVAL) UTF-8 ALL', uid=True),
                         list(range(1, n + 1)))
        head = self.esort(b, '(ALL) (REVERSE SUBJECT) UTF-8 ALL')
        self.assertEqual(head, ' ALL 1:%d' % n)
        tagged, unt = b.cmd('SEARCH ALL')
        self.assertEqual(len(unt[0].split()), n + 2)
        # the channel is still good
        self.assertEqual(self.sort(b, '(SUBJECT) UTF-8 1:2'), [2, 1])

    def test_thread_orderedsubject(self):
        c = self.connect()
        self.setup_box(c)
        # BANANA: 1 (Feb 8) and 3 (Feb 9); APPLE 2 (Feb 7); CHERRY 4
        self.assertEqual(self.thread(c, 'ORDEREDSUBJECT UTF-8 ALL'),
                         ' (2)(1 3)(4)')
        self.assertEqual(self.thread(c, 'ORDEREDSUBJECT UTF-8 ALL',
                                     uid=True), ' (2)(1 3)(4)')

    def test_thread_references(self):
        c = self.connect()
        d = 'Mon, %d Feb 1994 10:00:00 +0000'
        conv = [
            msg('Plans', msgid='p@x', date=d % 1),                    # 1
            msg('Re: Plans', msgid='r1@x', refs=['p@x'], date=d % 2),  # 2
            msg('Re: Plans', msgid='r2@x', refs=['p@x', 'r1@x'],
                date=d % 4),                                           # 3
            msg('Other', msgid='o@x', date=d % 3),                     # 4
            # replies to a message that is not here: a dummy parent
            msg('Lost', msgid='l1@x', refs=['gone@x'], date=d % 5),    # 5
            msg('Lost too', msgid='l2@x', irt='<gone@x>', date=d % 6),  # 6
            # a loop: each names the other as its parent
            msg('Loop a', msgid='la@x', refs=['lb@x'], date=d % 7),    # 7
            msg('Loop b', msgid='lb@x', refs=['la@x'], date=d % 8),    # 8
            # no references, but "Re:" of 4's subject: merged under it
            msg('Re: Other', msgid='o2@x', date=d % 9),                # 9
            # References header without a valid id: In-Reply-To counts
            msg('Late', msgid='late@x', date=d % 10,
                irt='<r2@x>', refs=None),                               # 10
        ]
        self.setup_box(c, msgs=conv)
        self.assertEqual(self.thread(c, 'REFERENCES UTF-8 ALL'),
                         ' (1 2 3 10)(4 9)((5)(6))(8 7)')
        # searched messages only: the parent 1 is not among them
        self.assertEqual(self.thread(c, 'REFERENCES UTF-8 2:3'), ' (2 3)')
        self.ok(c.cmd('STORE 1 +FLAGS (\\Deleted)'))
        self.ok(c.cmd('EXPUNGE'))
        # UIDs 2..10 are now messages 1..9; the dummy left by the
        # expunged parent has one child, which takes its place
        self.assertEqual(self.thread(c, 'REFERENCES UTF-8 ALL'),
                         ' (1 2 9)(3 8)((4)(5))(7 6)')
        self.assertEqual(self.thread(c, 'REFERENCES UTF-8 UID 2:4',
                                     uid=True), ' (2 3)(4)')
        self.assertEqual(self.thread(c, 'REFERENCES UTF-8 1:2', uid=True),
                         ' (2 3)')


class Imaplib(ImapCase):
    """Python's imaplib, as webmail glue and scripts call it."""

    def test_sort_and_thread_with_imaplib(self):
        user, pw = self.new_user()
        c = self.connect((user, pw))
        for m in SORTABLE:
            self.ok(c.append('INBOX', m))
        m = imaplib.IMAP4(HOST, self.server.port, timeout=10)
        self.addCleanup(m.logout)
        m.login(user, pw)
        typ, caps = m.capability()
        self.assertIn(b'THREAD=REFERENCES', caps[0].split())
        m.select('INBOX')
        typ, data = m.sort('(REVERSE SIZE)', 'UTF-8', 'ALL')
        self.assertEqual((typ, data), ('OK', [b'4 1 3 2']))
        typ, data = m.uid('SORT', '(DISPLAYFROM)', 'UTF-8', 'ALL')
        self.assertEqual((typ, data), ('OK', [b'4 2 3 1']))
        typ, data = m.thread('ORDEREDSUBJECT', 'UTF-8', 'ALL')
        self.assertEqual((typ, data), ('OK', [b'(2)(1 3)(4)']))
        # both say reply or forward ("Re:", "(fwd)"): merged under a
        # dummy, neither is the other's parent
        typ, data = m.uid('THREAD', 'REFERENCES', 'UTF-8', 'SUBJECT',
                          'banana')
        self.assertEqual((typ, data), ('OK', [b'((1)(3))']))


if __name__ == '__main__':
    unittest.main()
