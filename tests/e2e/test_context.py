"""test_context.py - CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 section 4,
with RFC 9394's negative PARTIAL ranges) over the network: PARTIAL for
SEARCH, UID SEARCH and SORT (in sort order, past the end, from the end,
with SAVE); UPDATE contexts told ADDTO / REMOVEFROM when another session
APPENDs, STOREs and EXPUNGEs (REMOVEFROM before the EXPUNGE, ADDTO after
the EXISTS), during IDLE, with UIDs, with sequence numbers of the search
program frozen; SORT contexts with positions; CANCELUPDATE; tag reuse,
NOUPDATE past the limit and on another user's mailbox; contexts ending
with the selection; malformed commands answered BAD with a reason and
the connection still usable."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import quote  # noqa: E402
from mkimap import ImapCase, esearch_result, expand_set, message  # noqa: E402

CONTEXT_MAX = 10


def esearches(lines, tag=None):
    """The ESEARCH lines (of one tag) in lines."""
    return [l for l in lines if l.startswith('* ESEARCH') and
            (tag is None or '(TAG "%s")' % tag in l)]


class Context(ImapCase):

    def box(self, n=5, flags=None):
        """A session with n messages in INBOX, selected."""
        user = self.new_user()
        c = self.connect(user)
        self.fill(c, 'INBOX', n, flags=flags)
        self.select(c)
        return user, c

    def other(self, user):
        c = self.connect(user)
        self.select(c)
        return c

    def update(self, c, args):
        """Sends a searching command with UPDATE; (its tag, untagged)."""
        tagged, unt = c.cmd(args)
        self.assertRegex(tagged, r'^a\d+ OK ', unt)
        return tagged.split()[0], unt

    def noop(self, c):
        return self.ok(c.cmd('NOOP'))

    # ---- capabilities ----

    def test_capabilities(self):
        c = self.connect()
        caps = self.ok(c.cmd('CAPABILITY'))[0].split()
        for cap in ('CONTEXT=SEARCH', 'CONTEXT=SORT', 'ESORT', 'ESEARCH'):
            self.assertIn(cap, caps)

    # ---- PARTIAL ----

    def partial(self, c, cmd):
        unt = self.ok(c.cmd(cmd))
        return esearch_result(unt)['PARTIAL']

    def test_partial_search(self):
        _, c = self.box(6)
        self.ok(c.cmd('STORE 3 +FLAGS (\\Deleted)'))
        p = lambda r, k='UNDELETED': self.partial(   # noqa: E731
            c, 'SEARCH RETURN (PARTIAL %s) %s' % (r, k))
        self.assertEqual(p('1:2'), ['1:2', '1:2'])
        # the 3rd and 4th results are messages 4 and 5
        self.assertEqual(p('3:4'), ['3:4', '4:5'])
        self.assertEqual(p('4:3'), ['3:4', '4:5'])
        # past the end: what there is, then nothing
        self.assertEqual(p('4:100'), ['4:100', '5:6'])
        self.assertEqual(p('6:9'), ['6:9', None])
        # RFC 9394: counted from the end
        self.assertEqual(p('-1:-2'), ['-1:-2', '5:6'])
        self.assertEqual(p('-2:-1'), ['-1:-2', '5:6'])
        self.assertEqual(p('-4:-9'), ['-4:-9', '1:2'])
        self.assertEqual(p('-6:-7'), ['-6:-7', None])
        # COUNT stays the whole result's
        r = esearch_result(self.ok(c.cmd(
            'SEARCH RETURN (COUNT PARTIAL 1:1) UNDELETED')))
        self.assertEqual(r['COUNT'], '5')
        self.assertEqual(r['PARTIAL'], ['1:1', '1'])

    def test_partial_uid_search_and_save(self):
        _, c = self.box(5)
        self.ok(c.cmd('STORE 1 +FLAGS (\\Deleted)'))
        self.ok(c.cmd('EXPUNGE'))
        unt = self.ok(c.cmd('UID SEARCH RETURN (PARTIAL 2:3) ALL'))
        r = esearch_result(unt)
        self.assertTrue(r['UID'])
        self.assertEqual(r['PARTIAL'], ['2:3', '3:4'])
        # SAVE keeps what PARTIAL returned
        self.ok(c.cmd('SEARCH RETURN (SAVE PARTIAL -1:-2) ALL'))
        unt = self.ok(c.cmd('UID FETCH $ (UID)'))
        self.assertEqual(sorted(int(re.search(r'UID (\d+)', l).group(1))
                                for l in unt if 'FETCH' in l), [4, 5])

    def test_partial_sort(self):
        user = self.new_user()
        c = self.connect(user)
        for subj in ('delta', 'alpha', 'echo', 'charlie', 'bravo'):
            self.ok(c.append('INBOX', message(subject=subj)))
        self.select(c)
        p = lambda r, k='(SUBJECT)': self.partial(   # noqa: E731
            c, 'SORT RETURN (PARTIAL %s) %s UTF-8 ALL' % (r, k))
        # sort order: 2 alpha, 5 bravo, 4 charlie, 1 delta, 3 echo
        self.assertEqual(p('1:3'), ['1:3', '2,5,4'])
        self.assertEqual(p('4:9'), ['4:9', '1,3'])
        self.assertEqual(p('-1:-2'), ['-1:-2', '1,3'])
        self.assertEqual(p('2:3', '(REVERSE SUBJECT)'), ['2:3', '1,4'])
        self.assertEqual(p('7:8'), ['7:8', None])
        unt = self.ok(c.cmd('UID SORT RETURN (PARTIAL 1:2 COUNT) (SUBJECT) '
                            'UTF-8 ALL'))
        r = esearch_result(unt)
        self.assertEqual((r['COUNT'], r['PARTIAL']), ('5', ['1:2', '2,5']))
        # SAVE: the two returned, as a set
        self.ok(c.cmd('SORT RETURN (SAVE PARTIAL 1:2) (SUBJECT) UTF-8 ALL'))
        unt = self.ok(c.cmd('FETCH $ (UID)'))
        self.assertEqual(sorted(int(l.split()[1]) for l in unt
                                if 'FETCH' in l), [2, 5])

    def test_partial_bad(self):
        _, c = self.box(2)
        for args, why in (
                ('(PARTIAL 1) ALL', 'PARTIAL needs a range'),
                ('(PARTIAL 1:*) ALL', 'PARTIAL range'),
                ('(PARTIAL *:1) ALL', 'PARTIAL range'),
                ('(PARTIAL 0:3) ALL', 'PARTIAL range'),
                ('(PARTIAL 1:-3) ALL', 'same sign'),
                ('(PARTIAL 1:2 ALL) ALL', 'PARTIAL and ALL'),
                ('(PARTIAL 1:2 PARTIAL 1:2) ALL', 'only once'),
                ('(UPDATE UPDATE) ALL', 'only once')):
            tagged, unt = c.cmd('SEARCH RETURN ' + args)
            self.assertRegex(tagged, r'^a\d+ BAD .*' + re.escape(why))
            self.assertEqual(esearches(unt), [])
        tagged, _ = c.cmd('SORT RETURN (PARTIAL 2) (DATE) UTF-8 ALL')
        self.assertRegex(tagged, r'^a\d+ BAD .*PARTIAL')
        # still usable
        r = esearch_result(self.ok(c.cmd('SEARCH RETURN (PARTIAL 1:1) ALL')))
        self.assertEqual(r['PARTIAL'], ['1:1', '1'])

    # ---- UPDATE ----

    def test_update_from_another_session(self):
        user, a = self.box(4)
        b = self.other(user)
        tag, unt = self.update(a, 'SEARCH RETURN (UPDATE ALL) FLAGGED')
        self.assertEqual(esearch_result(unt), {'TAG': tag})
        # a flag change elsewhere: ADDTO with the FETCH
        self.ok(b.cmd('STORE 2,4 +FLAGS (\\Flagged)'))
        unt = self.noop(a)
        self.assertIn('* ESEARCH (TAG "%s") ADDTO (0 2,4)' % tag, unt)
        # a delivery: ADDTO after the EXISTS that makes 5 valid
        self.ok(b.append('INBOX', message('new'), flags=['\\Flagged']))
        self.ok(b.append('INBOX', message('plain')))
        unt = self.noop(a)
        added = '* ESEARCH (TAG "%s") ADDTO (0 5)' % tag
        self.assertIn(added, unt)
        self.assertLess(unt.index('* 6 EXISTS'), unt.index(added))
        # no longer matching
        self.ok(b.cmd('STORE 4 -FLAGS (\\Flagged)'))
        unt = self.noop(a)
        self.assertIn('* ESEARCH (TAG "%s") REMOVEFROM (0 4)' % tag, unt)
        # expunged: REMOVEFROM before the EXPUNGE, in the old numbering
        self.ok(b.cmd('STORE 2 +FLAGS (\\Deleted)'))
        self.ok(b.cmd('EXPUNGE'))
        unt = self.noop(a)
        removed = '* ESEARCH (TAG "%s") REMOVEFROM (0 2)' % tag
        self.assertIn(removed, unt)
        self.assertLess(unt.index(removed), unt.index('* 2 EXPUNGE'))
        # what is left matches a fresh search
        fresh = esearch_result(self.ok(a.cmd('SEARCH RETURN (ALL) FLAGGED')))
        self.assertEqual(fresh['ALL'], '4')
        # nothing when nothing relevant changed
        self.ok(b.cmd('STORE 1 +FLAGS (\\Seen)'))
        self.assertEqual(esearches(self.noop(a)), [])

    def test_update_own_changes_and_uids(self):
        user, a = self.box(5)
        tag, unt = self.update(a, 'UID SEARCH RETURN (UPDATE COUNT) UNSEEN')
        self.assertEqual(esearch_result(unt)['COUNT'], '5')
        tagged, unt = a.cmd('STORE 1:2 +FLAGS (\\Seen)')
        self.assertIn('* ESEARCH (TAG "%s") UID REMOVEFROM (0 1:2)' % tag,
                      unt)
        # EXPUNGE of its own: REMOVEFROM first
        self.ok(a.cmd('STORE 3 +FLAGS (\\Deleted)'))
        unt = self.ok(a.cmd('EXPUNGE'))
        removed = '* ESEARCH (TAG "%s") UID REMOVEFROM (0 3)' % tag
        self.assertIn(removed, unt)
        self.assertLess(unt.index(removed), unt.index('* 3 EXPUNGE'))
        unt = self.ok(a.append('INBOX', message('six')))
        unt += self.noop(a)
        self.assertIn('* ESEARCH (TAG "%s") UID ADDTO (0 6)' % tag, unt)

    def test_update_in_idle(self):
        user, a = self.box(3)
        b = self.other(user)
        tag, _ = self.update(a, 'SEARCH RETURN (UPDATE) SEEN')
        a.send('a900 IDLE\r\n')
        self.assertTrue(a.readline().startswith('+'))
        self.ok(b.cmd('STORE 3 +FLAGS (\\Seen)'))
        want = '* ESEARCH (TAG "%s") ADDTO (0 3)' % tag
        self.wait_lines(a, lambda ls: want in ls)
        a.send('DONE\r\n')
        tagged, _ = a.read_until_tagged('a900')
        self.assertRegex(tagged, '^a900 OK')

    def test_sequence_numbers_frozen(self):
        # RFC 5267 4.3: "1:3" means the messages that were 1 to 3
        user, a = self.box(5)
        b = self.other(user)
        tag, unt = self.update(a, 'SEARCH RETURN (UPDATE ALL) 1:3 FLAGGED')
        self.ok(b.cmd('STORE 1 +FLAGS (\\Deleted)'))
        self.ok(b.cmd('EXPUNGE'))
        self.noop(a)
        # old 4 is now 3: outside the program; old 3 (now 2) inside
        self.ok(b.cmd('STORE 2:3 +FLAGS (\\Flagged)'))
        unt = self.noop(a)
        self.assertEqual(esearches(unt, tag),
                         ['* ESEARCH (TAG "%s") ADDTO (0 2)' % tag])
        # "$" is the saved result of then, whatever is saved later
        self.ok(a.cmd('SEARCH RETURN (SAVE) 3:4'))
        t2, unt = self.update(a, 'UID SEARCH RETURN (UPDATE) $ SEEN')
        self.ok(a.cmd('SEARCH RETURN (SAVE) 1'))
        self.ok(b.cmd('STORE 1:4 +FLAGS (\\Seen)'))
        self.assertEqual(esearches(self.noop(a), t2),
                         ['* ESEARCH (TAG "%s") UID ADDTO (0 4:5)' % t2])
        # numbers past the end are nothing, as in the search itself
        t3, unt = self.update(a, 'SEARCH RETURN (UPDATE COUNT) 2:10 DRAFT')
        self.assertFalse([l for l in unt if 'NOUPDATE' in l])
        self.ok(b.cmd('STORE 1:* +FLAGS (\\Draft)'))
        self.assertEqual(esearches(self.noop(a), t3),
                         ['* ESEARCH (TAG "%s") ADDTO (0 2:4)' % t3])

    def test_sort_update_positions(self):
        user = self.new_user()
        a = self.connect(user)
        for subj in ('bravo', 'delta', 'foxtrot'):
            self.ok(a.append('INBOX', message(subject=subj)))
        self.select(a)
        b = self.other(user)
        tag, unt = self.update(
            a, 'UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNDELETED')
        self.assertEqual(esearch_result(unt)['ALL'], '1:3')
        order = [1, 2, 3]
        # new messages go where SUBJECT puts them: alpha first, charlie
        # after bravo; positions ascending, each valid after the last
        self.ok(b.append('INBOX', message(subject='charlie')))
        self.ok(b.append('INBOX', message(subject='alpha')))
        unt = self.noop(a)
        adds = esearches(unt, tag)
        self.assertEqual(adds, ['* ESEARCH (TAG "%s") UID ADDTO '
                                '(1 5 3 4)' % tag])
        order[0:0] = [5]
        order[2:2] = [4]
        # REMOVEFROM names the position the message had
        self.ok(b.cmd('UID STORE 2 +FLAGS (\\Deleted)'))
        unt = self.noop(a)
        pos = order.index(2) + 1
        self.assertIn('* ESEARCH (TAG "%s") UID REMOVEFROM (%d 2)'
                      % (tag, pos), unt)
        order.remove(2)
        # the client's list matches a fresh SORT
        fresh = esearch_result(self.ok(a.cmd(
            'UID SORT RETURN (ALL) (SUBJECT) UTF-8 UNDELETED')))
        self.assertEqual(fresh['ALL'], ','.join(map(str, order)))
        # sequence-number form: REVERSE, an expunge
        tag2, unt = self.update(a, 'SORT RETURN (UPDATE) (REVERSE SUBJECT) '
                                   'UTF-8 ALL')
        self.ok(b.cmd('EXPUNGE'))
        unt = self.noop(a)
        # reverse: foxtrot delta charlie bravo alpha; delta (seq 2) 2nd
        removed = '* ESEARCH (TAG "%s") REMOVEFROM (2 2)' % tag2
        self.assertIn(removed, unt)
        self.assertLess(unt.index(removed), unt.index('* 2 EXPUNGE'))

    def apply_sort(self, lines, tag, have):
        """Applies the UID ADDTO / REMOVEFROM pairs of tag to have."""
        for l in esearches(lines, tag):
            m = re.match(r'\* ESEARCH \(TAG "[^"]+"\) UID '
                         r'(ADDTO|REMOVEFROM) \((.*)\)$', l)
            self.assertIsNotNone(m, l)
            toks = m.group(2).split()
            for pos, nums in zip(toks[0::2], toks[1::2]):
                pos, nums = int(pos), expand_set(nums)
                if m.group(1) == 'ADDTO':
                    have[pos - 1:pos - 1] = nums
                else:
                    self.assertEqual(have[pos - 1:pos - 1 + len(nums)],
                                     nums, l)
                    del have[pos - 1:pos - 1 + len(nums)]

    def test_sort_update_beside_unreported_expunge(self):
        """New matches placed while an expunged message is still in the
        session's view (FETCH by sequence number holds EXPUNGE back)."""
        user = self.new_user()
        a = self.connect(user)
        for w in ('d', 'b', 'f'):
            self.ok(a.append('INBOX', message(subject=w)))
        self.select(a)
        b = self.other(user)
        crit = '(SUBJECT) UTF-8 ALL'
        tag, unt = self.update(a, 'UID SORT RETURN (UPDATE ALL) ' + crit)
        have = expand_set(esearch_result(unt)['ALL'])
        self.ok(b.cmd('STORE 1 +FLAGS (\\Deleted)'))
        self.ok(b.cmd('EXPUNGE'))
        for n, few in ((20, False), (2, True)):
            for i in range(n):
                self.ok(b.append('INBOX', message(
                    subject='%s%02d' % ('ca'[few], i))))
            unt = self.ok(a.cmd('FETCH 1 (FLAGS)'))
            self.assertFalse([l for l in unt if 'EXPUNGE' in l])
            self.apply_sort(unt, tag, have)
        unt = self.noop(a)
        self.assertIn('* 1 EXPUNGE', unt)
        self.apply_sort(unt, tag, have)
        fresh = esearch_result(self.ok(a.cmd('UID SORT RETURN (ALL) ' +
                                             crit)))
        self.assertEqual(have, expand_set(fresh['ALL']))
        self.assertEqual(len(have), 24)

    def test_sort_update_many(self):
        """More than a few changes at once (the merge path): the list a
        client keeps from the pairs alone equals a fresh SORT."""
        user = self.new_user()
        a = self.connect(user)
        words = ['w%02d' % ((i * 7) % 23) for i in range(23)]
        for w in words:
            self.ok(a.append('INBOX', message(subject=w), flags=['\\Seen']))
        self.select(a)
        b = self.other(user)
        crit = '(REVERSE SUBJECT) UTF-8 UNSEEN'
        tag, unt = self.update(a, 'UID SORT RETURN (UPDATE ALL) ' + crit)
        have = []

        def apply(lines):
            self.apply_sort(lines, tag, have)

        def fresh():
            r = esearch_result(self.ok(a.cmd('UID SORT RETURN (ALL) ' +
                                             crit)))
            return expand_set(r['ALL']) if 'ALL' in r else []
        for step in ('STORE 1:* -FLAGS (\\Seen)', 'STORE 3:9 +FLAGS (\\Seen)',
                     'STORE 2,5,11:20 +FLAGS (\\Seen)',
                     'STORE 4:15 -FLAGS (\\Seen)'):
            self.ok(b.cmd(step))
            apply(self.noop(a))
            want = fresh()
            self.assertEqual(have, want, step)
        self.assertGreater(len(have), 10)

    def test_cancelupdate(self):
        user, a = self.box(3)
        b = self.other(user)
        t1, _ = self.update(a, 'SEARCH RETURN (UPDATE) FLAGGED')
        t2, _ = self.update(a, 'SEARCH RETURN (UPDATE) SEEN')
        self.ok(a.cmd('CANCELUPDATE "%s"' % t1),
                r'CANCELUPDATE completed')
        self.ok(b.cmd('STORE 1 +FLAGS (\\Flagged \\Seen)'))
        unt = self.noop(a)
        self.assertEqual(esearches(unt, t1), [])
        self.assertEqual(len(esearches(unt, t2)), 1)
        # unknown tag, unquoted tag: BAD with a reason, nothing cancelled
        tagged, _ = a.cmd('CANCELUPDATE "%s" "nosuch"' % t2)
        self.assertRegex(tagged, r'^a\d+ BAD No update context has the tag '
                                 r'"nosuch"')
        tagged, _ = a.cmd('CANCELUPDATE %s' % t2)
        self.assertRegex(tagged, r'^a\d+ BAD CANCELUPDATE takes quoted tags')
        tagged, _ = a.cmd('CANCELUPDATE')
        self.assertRegex(tagged, r'^a\d+ BAD ')
        self.ok(b.cmd('STORE 2 +FLAGS (\\Seen)'))
        self.assertEqual(len(esearches(self.noop(a), t2)), 1)
        # the tag is free again once cancelled
        self.ok(a.cmd('CANCELUPDATE "%s"' % t2))
        tagged, _ = a.cmd('CANCELUPDATE "%s"' % t2)
        self.assertRegex(tagged, r'^a\d+ BAD ')
        # not in the authenticated state
        self.ok(a.cmd('UNSELECT'))
        tagged, _ = a.cmd('CANCELUPDATE "x"')
        self.assertRegex(tagged, r'^a\d+ BAD .*selected state')

    def test_tag_reuse_is_bad(self):
        _, a = self.box(2)
        a.send('dup SEARCH RETURN (UPDATE) ALL\r\n')
        tagged, _ = a.read_until_tagged('dup')
        self.assertRegex(tagged, '^dup OK')
        a.send('dup SORT RETURN (UPDATE) (DATE) UTF-8 ALL\r\n')
        tagged, unt = a.read_until_tagged('dup')
        self.assertRegex(tagged, r'^dup BAD Tag dup already names an update')
        self.assertEqual(esearches(unt), [])
        # without UPDATE the tag may be reused, as before
        a.send('dup SEARCH RETURN (COUNT) ALL\r\n')
        tagged, _ = a.read_until_tagged('dup')
        self.assertRegex(tagged, '^dup OK')

    def test_noupdate_past_the_limit(self):
        user, a = self.box(2)
        b = self.other(user)
        tags = [self.update(a, 'SEARCH RETURN (UPDATE) SEEN')[0]
                for _ in range(CONTEXT_MAX)]
        tagged, unt = a.cmd('SORT RETURN (UPDATE COUNT) (DATE) UTF-8 ALL')
        tag = tagged.split()[0]
        self.assertRegex(tagged, r'^a\d+ OK ')
        # the other options are still answered
        self.assertEqual(esearch_result(unt)['COUNT'], '2')
        self.assertIn('* NO [NOUPDATE "%s"] Too many update contexts '
                      '(at most %d): CANCELUPDATE one first'
                      % (tag, CONTEXT_MAX), unt)
        self.ok(b.cmd('STORE 1 +FLAGS (\\Seen)'))
        unt = self.noop(a)
        self.assertEqual(len(esearches(unt)), CONTEXT_MAX)
        self.assertEqual(esearches(unt, tag), [])
        # one cancelled: room for one more
        self.ok(a.cmd('CANCELUPDATE "%s"' % tags[0]))
        tagged, unt = a.cmd('SEARCH RETURN (UPDATE) SEEN')
        self.assertFalse([l for l in unt if 'NOUPDATE' in l])

    def test_contexts_end_with_the_selection(self):
        user, a = self.box(2)
        b = self.other(user)
        self.ok(a.cmd('CREATE Other'))
        tag, _ = self.update(a, 'SEARCH RETURN (UPDATE) SEEN')
        self.select(a, 'Other')
        self.select(a)
        self.ok(b.cmd('STORE 1 +FLAGS (\\Seen)'))
        self.assertEqual(esearches(self.noop(a)), [])
        tagged, _ = a.cmd('CANCELUPDATE "%s"' % tag)
        self.assertRegex(tagged, r'^a\d+ BAD No update context')

    def test_shared_mailbox_says_noupdate(self):
        owner, o = self.box(3)
        guest = self.new_user()
        self.ok(o.cmd('SETACL INBOX %s lrsw' % guest[0]))
        g = self.connect(guest)
        self.select(g, 'Other Users/%s/INBOX' % owner[0])
        tagged, unt = g.cmd('SEARCH RETURN (UPDATE COUNT) ALL')
        tag = tagged.split()[0]
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertEqual(esearch_result(unt), {'TAG': tag, 'COUNT': '3'})
        self.assertIn('* NO [NOUPDATE "%s"] Updates are not available for '
                      "other users' mailboxes" % tag, unt)
        self.ok(o.cmd('STORE 1 +FLAGS (\\Flagged)'))
        self.assertEqual(esearches(self.ok(g.cmd('NOOP'))), [])
        # PARTIAL works there all the same
        r = esearch_result(self.ok(g.cmd('SEARCH RETURN (PARTIAL 2:3) ALL')))
        self.assertEqual(r['PARTIAL'], ['2:3', '2:3'])

    def test_update_matches_fresh_search_after_churn(self):
        """Random-ish churn by another session: the client's result,
        kept from ADDTO / REMOVEFROM alone, equals a fresh search."""
        user, a = self.box(12)
        b = self.other(user)
        tag, unt = self.update(a, 'UID SEARCH RETURN (UPDATE ALL) '
                                  'OR FLAGGED SUBJECT "msg 1"')
        have = set(expand_set(esearch_result(unt)['ALL']))

        def apply(lines):
            for l in esearches(lines, tag):
                m = re.match(r'\* ESEARCH \(TAG "[^"]+"\) UID '
                             r'(ADDTO|REMOVEFROM) \(0 ([\d:,]+)\)$', l)
                self.assertIsNotNone(m, l)
                uids = set(expand_set(m.group(2)))
                if m.group(1) == 'ADDTO':
                    self.assertFalse(have & uids, l)
                    have.update(uids)
                else:
                    self.assertEqual(have & uids, uids, l)
                    have.difference_update(uids)
        steps = ['STORE 2,5,7 +FLAGS (\\Flagged)', 'STORE 1 +FLAGS (\\Deleted)',
                 'EXPUNGE', 'STORE 5 -FLAGS (\\Flagged)',
                 'STORE 3:4 +FLAGS (\\Flagged \\Deleted)', 'EXPUNGE',
                 'STORE 1:* -FLAGS (\\Flagged)', 'STORE 2 +FLAGS (\\Flagged)']
        for i, s in enumerate(steps):
            self.ok(b.cmd(s))
            apply(self.noop(a))
            self.ok(b.append('INBOX', message('msg 1%d' % i)))
        apply(self.noop(a))
        fresh = esearch_result(self.ok(a.cmd(
            'UID SEARCH RETURN (ALL) OR FLAGGED SUBJECT "msg 1"')))
        self.assertEqual(have, set(expand_set(fresh['ALL'])))
        self.assertGreater(len(have), 5)

if __name__ == '__main__':
    unittest.main()
