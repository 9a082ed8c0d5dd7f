"""test_concurrency.py - two (or more) connections of one user: each sees
the other's APPEND, STORE and EXPUNGE at the points RFC 3501 allows
(never an EXPUNGE during FETCH, STORE or SEARCH), \\Recent goes to one
session only, EXAMINE leaves it alone, IDLE is woken within a second;
and CONDSTORE/QRESYNC across sessions: MODSEQ, UNCHANGEDSINCE and
[MODIFIED], CHANGEDSINCE, VANISHED (EARLIER)."""
import os
import re
import sqlite3
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import Closed, ImapCase, code, fetch_map, message, \
    search_result  # noqa: E402


class Concurrency(ImapCase):

    def pair(self, n=2, mailbox=None):
        """n clients of one new user; with mailbox, all have it selected
        (after n messages were put in it by the first)."""
        user = self.new_user()
        cs = [self.connect(user) for _ in range(n)]
        return user, cs

    def no_expunge(self, lines):
        self.assertEqual([l for l in lines if l.endswith(' EXPUNGE')], [],
                         lines)

    # ---- new messages, flags, expunges ----

    def test_append_seen_at_noop(self):
        _, (a, b) = self.pair()
        self.fill(a, 'INBOX', 2)
        self.assertEqual(self.select(b)['exists'], 2)
        self.fill(a, 'INBOX', 1)
        tagged, unt = b.cmd('NOOP')
        self.assertEqual((tagged[5:], unt), ('OK NOOP completed',
                                             ['* 3 EXISTS', '* 3 RECENT']))
        self.assertEqual(b.cmd('NOOP')[1], [])
        # announced before the tagged response of any command
        self.fill(a, 'INBOX', 1)
        tagged, unt = b.cmd('FETCH 1 UID')
        self.assertEqual(unt, ['* 1 FETCH (UID 1)', '* 4 EXISTS',
                               '* 4 RECENT'])

    def test_store_seen_by_other(self):
        _, (a, b) = self.pair()
        self.fill(a, 'INBOX', 3)
        self.select(a)
        self.select(b)
        # a new keyword: FLAGS (and PERMANENTFLAGS) say so first, to
        # every session (RFC 3501 7.2.6)
        kw = ['* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Kw)',
              '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen '
              '\\Draft Kw \\*)] Flags permitted']
        self.assertEqual(a.cmd('STORE 2 +FLAGS (\\Flagged Kw)')[1],
                         kw + ['* 2 FETCH (FLAGS (\\Flagged \\Recent Kw))'])
        # B did not claim \Recent: A did, at its SELECT
        self.assertEqual(b.cmd('NOOP')[1],
                         kw + ['* 2 FETCH (FLAGS (\\Flagged Kw))'])
        a.cmd('STORE 1,3 +FLAGS.SILENT (\\Seen)')
        self.assertEqual(b.cmd('CHECK')[1],
                         ['* 1 FETCH (FLAGS (\\Seen))',
                          '* 3 FETCH (FLAGS (\\Seen))'])
        # B's own STORE isn't echoed back to it as someone else's change
        b.cmd('STORE 1 -FLAGS.SILENT (\\Seen)')
        self.assertEqual(b.cmd('NOOP')[1], [])
        self.assertEqual(a.cmd('NOOP')[1],
                         ['* 1 FETCH (FLAGS (\\Recent))'])

    def test_no_expunge_during_fetch_store_search(self):
        _, (a, b) = self.pair()
        self.fill(a, 'INBOX', 4)
        self.select(a)
        self.select(b)
        a.cmd('STORE 2,3 +FLAGS.SILENT (\\Deleted)')
        self.assertEqual(a.cmd('EXPUNGE')[1], ['* 3 EXPUNGE', '* 2 EXPUNGE',
                                               '* 2 RECENT'])
        # B still numbers 4 messages: FETCH, STORE and SEARCH by sequence
        # number must not shift them under it
        tagged, unt = b.cmd('FETCH 4 UID')
        self.assertEqual(tagged[5:], 'OK FETCH completed')
        self.assertEqual(unt[0], '* 4 FETCH (UID 4)')
        self.no_expunge(unt)
        tagged, unt = b.cmd('FETCH 1:4 UID')
        self.no_expunge(unt)
        self.assertRegex(tagged, r'^a\d+ (OK|NO) ')
        got = fetch_map(unt)
        self.assertEqual(got[1]['UID'], '1')
        self.assertEqual(got[4]['UID'], '4')
        tagged, unt = b.cmd('STORE 4 +FLAGS (\\Answered)')
        self.no_expunge(unt)
        self.assertIn('* 4 FETCH (FLAGS (\\Answered))', unt)
        tagged, unt = b.cmd('SEARCH ANSWERED')
        self.no_expunge(unt)
        self.assertIn('* SEARCH 4', unt)
        self.assertEqual(code(tagged), None)
        # NOOP tells it, highest first, with the numbers valid as sent
        tagged, unt = b.cmd('NOOP')
        self.assertEqual([l for l in unt if l.endswith('EXPUNGE')],
                         ['* 3 EXPUNGE', '* 2 EXPUNGE'])
        got = fetch_map(b.cmd('FETCH 1:* UID')[1])
        self.assertEqual({k: v['UID'] for k, v in got.items()},
                         {1: '1', 2: '4'})

    def test_uid_commands_may_report_expunge(self):
        _, (a, b) = self.pair()
        self.fill(a, 'INBOX', 3)
        self.select(a)
        self.select(b)
        a.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')
        a.cmd('EXPUNGE')
        tagged, unt = b.cmd('UID FETCH 3 UID')
        self.assertEqual(unt, ['* 3 FETCH (UID 3)', '* 1 EXPUNGE'])

    def test_fetch_of_expunged_ghost(self):
        _, (a, b) = self.pair()
        self.fill(a, 'INBOX', 2)
        self.select(a)
        self.select(b)
        a.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')
        a.cmd('EXPUNGE')
        # RFC 2180 4.1.1: B, not yet told, still reads the expunged
        # message (kept until B hears of the expunge), without an EXPUNGE
        # here
        tagged, unt = b.cmd('FETCH 1:2 (UID BODY.PEEK[HEADER.FIELDS '
                            '(SUBJECT)])')
        self.no_expunge(unt)
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertTrue(any(l.startswith('* 1 FETCH (UID 1 ') for l in unt))
        self.assertTrue(any(l.startswith('* 2 FETCH (UID 2 ') for l in unt))
        # COPY of a set holding the ghost fails whole (RFC 2180 4.4.1);
        # COPY may be followed by the EXPUNGE
        tagged, unt = b.cmd('COPY 1:2 Trash')
        self.assertRegex(tagged, r'^a\d+ NO \[EXPUNGEISSUED\] ')
        self.assertEqual(unt, ['* 1 EXPUNGE'])
        self.assertEqual(b.cmd('STATUS Trash (MESSAGES)')[1],
                         ['* STATUS "Trash" (MESSAGES 0)'])
        self.assertEqual(b.cmd('NOOP')[1], [])

    def test_mailbox_deleted_or_renamed_under_a_session(self):
        _, (a, b, c) = self.pair(3)
        a.cmd('CREATE Doomed')
        a.cmd('CREATE Moving')
        self.fill(a, 'Moving', 2)
        self.select(b, 'Doomed')
        self.select(c, 'Moving')
        self.assertEqual(a.cmd('DELETE Doomed')[0][5:], 'OK DELETE completed')
        b.send('n1 NOOP\r\n')
        self.assertEqual(b.expect_closed(), ['* BYE Selected mailbox was '
                                             'deleted, have to disconnect'])
        # a renamed mailbox stays selected, with its messages
        self.assertEqual(a.cmd('RENAME Moving Moved')[0][5:],
                         'OK RENAME completed')
        tagged, unt = c.cmd('FETCH 1:* UID')
        self.assertEqual(unt, ['* 1 FETCH (UID 1)', '* 2 FETCH (UID 2)'])
        self.assertRegex(c.cmd('NOOP')[0], r'^a\d+ OK ')

    def test_concurrent_logins_all_served(self):
        # a login process exits right after handing its client over; the
        # master must still pass that client on (once lost ~1 in 100)
        user = self.new_user()
        results = []

        def one():
            c = self.server.client(timeout=10)
            try:
                tagged, _ = c.login(*user)
                results.append(tagged.split(' ', 2)[1])
                results.append(c.cmd('NOOP')[0].split(' ', 2)[1])
            except (Closed, OSError) as e:
                results.append(repr(e))
            finally:
                c.close()
        for _ in range(60):
            ts = [threading.Thread(target=one) for _ in range(2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        self.assertEqual([r for r in results if r != 'OK'], [])
        self.assertEqual(len(results), 240)

    # ---- \Recent ----

    def test_recent_to_one_session(self):
        _, (a, b, c) = self.pair(3)
        self.select(a)
        self.select(b)
        self.fill(c, 'INBOX', 2)
        ra = a.cmd('NOOP')[1]
        rb = b.cmd('NOOP')[1]
        self.assertEqual(ra, ['* 2 EXISTS', '* 2 RECENT'])
        self.assertEqual(rb, ['* 2 EXISTS', '* 0 RECENT'])
        self.assertEqual(a.cmd('FETCH 1:2 FLAGS')[1],
                         ['* 1 FETCH (FLAGS (\\Recent))',
                          '* 2 FETCH (FLAGS (\\Recent))'])
        self.assertEqual(b.cmd('FETCH 1:2 FLAGS')[1],
                         ['* 1 FETCH (FLAGS ())', '* 2 FETCH (FLAGS ())'])
        self.assertEqual(a.cmd('SEARCH RECENT')[1], ['* SEARCH 1 2'])
        self.assertEqual(b.cmd('SEARCH RECENT')[1], ['* SEARCH'])
        # a later SELECT sees none; STATUS RECENT counts unclaimed ones
        self.assertEqual(self.select(c)['recent'], 0)
        self.assertEqual(c.cmd('STATUS INBOX (RECENT)')[1],
                         ['* STATUS "INBOX" (RECENT 0)'])

    def test_recent_count_follows_expunges(self):
        # RFC 3501 7.3.2: RECENT whenever the mailbox's size changes, so
        # a session whose \Recent messages are expunged hears the lower
        # count, by another session's EXPUNGE or its own (as Dovecot
        # does; imaptest's checkpoint adds the counts up).
        _, (a, b, c) = self.pair(3)
        self.select(a)
        self.select(b)
        self.fill(c, 'INBOX', 3)
        self.assertEqual(a.cmd('NOOP')[1], ['* 3 EXISTS', '* 3 RECENT'])
        self.assertEqual(b.cmd('NOOP')[1], ['* 3 EXISTS', '* 0 RECENT'])
        b.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')
        self.assertEqual(b.cmd('EXPUNGE')[1], ['* 1 EXPUNGE'])
        self.assertEqual(a.cmd('NOOP')[1], ['* 1 EXPUNGE', '* 2 RECENT'])
        a.cmd('STORE 2 +FLAGS.SILENT (\\Deleted)')
        self.assertEqual(a.cmd('EXPUNGE')[1] + a.cmd('NOOP')[1],
                         ['* 2 EXPUNGE', '* 1 RECENT'])
        self.assertEqual(b.cmd('NOOP')[1], ['* 2 EXPUNGE'])
        self.assertEqual(a.cmd('SEARCH RECENT')[1], ['* SEARCH 1'])

    def test_examine_keeps_recent(self):
        user, (a, b) = self.pair()
        self.fill(a, 'INBOX', 2)
        for _ in range(2):
            info = self.select(b, examine=True)
            self.assertEqual(info['recent'], 2)
            self.assertEqual(b.cmd('FETCH 1 FLAGS')[1],
                             ['* 1 FETCH (FLAGS (\\Recent))'])
            b.cmd('CLOSE')
        self.assertEqual(a.cmd('STATUS INBOX (RECENT)')[1],
                         ['* STATUS "INBOX" (RECENT 2)'])
        self.assertEqual(self.select(a)['recent'], 2)
        self.assertEqual(self.select(b)['recent'], 0)
        c = self.connect(user)
        self.assertEqual(self.select(c, examine=True)['recent'], 0)

    # ---- IDLE ----

    def idle(self, c):
        tag = c.next_tag()
        c.send('%s IDLE\r\n' % tag)
        self.assertEqual(c.readline(), '+ idling')
        return tag

    def test_idle_woken(self):
        _, (a, b) = self.pair()
        self.fill(a, 'INBOX', 2)
        self.select(a)
        self.select(b)
        tag = self.idle(b)
        t0 = time.monotonic()
        own = self.ok(a.append('INBOX', message(subject='wake')))
        got = self.wait_lines(b, lambda l: len(l) == 2, timeout=1.0)
        self.assertLess(time.monotonic() - t0, 1.0)
        # \Recent goes to exactly one of the two sessions (A holds the
        # first two already)
        self.assertEqual(got[0], '* 3 EXISTS')
        self.assertEqual(own[0], '* 3 EXISTS')
        self.assertIn((own[1], got[1]), [('* 3 RECENT', '* 0 RECENT'),
                                         ('* 2 RECENT', '* 1 RECENT')])
        a.cmd('STORE 1 +FLAGS.SILENT (\\Flagged)')
        got = self.wait_lines(b, lambda l: len(l) >= 1, timeout=1.0)
        self.assertEqual(got, ['* 1 FETCH (FLAGS (\\Flagged))'])
        a.cmd('STORE 2 +FLAGS.SILENT (\\Deleted)')
        self.wait_lines(b, lambda l: len(l) >= 1, timeout=1.0)
        t0 = time.monotonic()
        a.cmd('EXPUNGE')
        got = self.wait_lines(b, lambda l: len(l) >= 1, timeout=1.0)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(got, ['* 2 EXPUNGE'])
        b.send('DONE\r\n')
        self.assertEqual(b.read_until_tagged(tag),
                         ('%s OK IDLE terminated' % tag, []))
        self.assertEqual(b.cmd('NOOP')[1], [])
        got = fetch_map(b.cmd('FETCH 1:* UID')[1])
        self.assertEqual({k: v['UID'] for k, v in got.items()},
                         {1: '1', 2: '3'})

    def test_idle_across_rests(self):
        """A second after the last command the user's process rests: an
        IDLE's command moves out of its arena, which is freed with the
        session's buffers (daemon/mailbox/client.c client_rest).  Woken
        and ended after such rests, it answers with its own tag."""
        _, (a, b) = self.pair()
        self.select(a)
        self.select(b)
        tag = 'rest' + 'x' * 50
        b.send('%s IDLE\r\n' % tag)
        self.assertEqual(b.readline(), '+ idling')
        for n in (1, 2):
            time.sleep(1.5)             # the process rests
            self.ok(a.append('INBOX', message(subject='wake %d' % n)))
            got = self.wait_lines(b, lambda l: len(l) == 2, timeout=2.0)
            self.assertEqual(got[0], '* %d EXISTS' % n)
        time.sleep(1.5)
        b.send('DONE\r\n')
        self.assertEqual(b.read_until_tagged(tag),
                         ('%s OK IDLE terminated' % tag, []))
        self.assertEqual(search_result(b.cmd('SEARCH SUBJECT wake')[1]),
                         [1, 2])

    def test_idle_in_authenticated_state_and_bad_continuation(self):
        _, (a, b) = self.pair()
        tag = self.idle(b)
        self.fill(a, 'INBOX', 1)
        b.send('done\r\n')
        self.assertEqual(b.read_until_tagged(tag)[0], '%s OK IDLE terminated'
                         % tag)
        self.select(b)
        tag = self.idle(b)
        b.send('NOOP\r\n')
        self.assertRegex(b.read_until_tagged(tag)[0], '^%s BAD ' % tag)
        self.assertRegex(b.cmd('NOOP')[0], r'^a\d+ OK ')

    def test_idle_keepalive(self):
        # idle_keepalive is not set small here; the server's own
        # configuration test covers the interval.  An idler that was told
        # of a change still answers DONE at once.
        _, (a, b) = self.pair()
        self.select(b)
        tag = self.idle(b)
        a.cmd('CREATE Other')
        self.fill(a, 'Other', 1)
        with self.assertRaises(OSError):
            b.readline(timeout=0.3)
        b.send('DONE\r\n')
        self.assertEqual(b.read_until_tagged(tag)[1], [])

    # ---- CONDSTORE / QRESYNC ----

    # ---- a pipelined batch (one write transaction per read) ----

    def store_rows(self, user):
        """(uid, flags) of INBOX as another connection to the store
        sees them: what is committed."""
        path = os.path.join(self.server.data_dir, 'users', user[0],
                            'store.db')
        db = sqlite3.connect('file:%s?mode=ro' % path, uri=True)
        try:
            return db.execute(
                'SELECT uid, flags FROM messages WHERE mailbox_id ='
                ' (SELECT id FROM mailboxes WHERE name = \'INBOX\')'
                ' ORDER BY uid').fetchall()
        finally:
            db.close()

    def test_pipelined_commands_commit_before_answers(self):
        """Commands sent in one write run as one batch: each answers as
        if sent alone, and every write is committed (seen by another
        connection to the store) when the answers arrive; an idling
        session of the same user is told of each change."""
        user, (a, b) = self.pair()
        self.fill(a, 'INBOX', 3)
        self.select(a)
        self.select(b)
        tag = self.idle(b)
        new = message(subject='piped', body='Piped.\r\n')
        a.send(b'p1 STORE 1 +FLAGS (\\Flagged)\r\n'
               b'p2 APPEND INBOX {%d+}\r\n' % len(new) + new + b'\r\n'
               b'p3 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n'
               b'p4 EXPUNGE\r\n'
               b'p5 UID STORE 1 +FLAGS (\\Seen)\r\n'
               b'p6 STORE 3 +FLAGS (\\Answered)\r\n'
               b'p7 NOOP\r\n')
        got = {}
        for t in ('p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'):
            got[t] = a.read_until_tagged(t)
            self.assertRegex(got[t][0], r'^%s OK ' % t, got[t][1])
        # (a selected first: \\Recent is its own)
        self.assertEqual(got['p1'][1],
                         ['* 1 FETCH (FLAGS (\\Flagged \\Recent))'])
        self.assertRegex(got['p2'][0], r'APPENDUID \d+ 4\]')
        self.assertEqual(got['p2'][1], ['* 4 EXISTS', '* 4 RECENT'])
        self.assertEqual(got['p4'][1], ['* 2 EXPUNGE', '* 3 RECENT'])
        self.assertEqual(got['p5'][1], ['* 1 FETCH (UID 1 FLAGS '
                                        '(\\Flagged \\Seen \\Recent))'])
        self.assertEqual(got['p6'][1],
                         ['* 3 FETCH (FLAGS (\\Answered \\Recent))'])
        self.assertEqual(self.store_rows(user),
                         [(1, 0x01 | 0x04), (3, 0), (4, 0x02)])
        lines = self.wait_lines(b, lambda l: '* 2 EXPUNGE' in l and
                                any(x.startswith('* 3 FETCH') for x in l))
        self.assertIn('* 4 EXISTS', lines)
        b.send('DONE\r\n')
        b.read_until_tagged(tag)
        got = fetch_map(b.cmd('FETCH 1:* (UID FLAGS)')[1])
        self.assertEqual({k: (v['UID'], v['FLAGS']) for k, v in got.items()},
                         {1: ('1', ['\\Flagged', '\\Seen']), 2: ('3', []),
                          3: ('4', ['\\Answered'])})
        # A batch that ends the session: its writes are committed too.
        a.send(b'q1 STORE 1 -FLAGS (\\Seen)\r\nq2 LOGOUT\r\n')
        self.assertEqual(a.read_until_tagged('q1')[1],
                         ['* 1 FETCH (FLAGS (\\Flagged \\Recent))'])
        self.assertIn('q2 OK', ' '.join(a.expect_closed()))
        self.assertEqual(self.store_rows(user)[0], (1, 0x04))

    def test_condstore(self):
        _, (a, b) = self.pair()
        self.fill(a, 'INBOX', 3)
        info = self.select(a, extra=' (CONDSTORE)')
        hms = info['highestmodseq']
        got = fetch_map(a.cmd('FETCH 1:3 (UID MODSEQ)')[1])
        mods = {k: int(v['MODSEQ'][0]) for k, v in got.items()}
        self.assertTrue(all(0 < m <= hms for m in mods.values()), mods)
        # STORE reports the new MODSEQ, with UID (RFC 7162 3.1)
        tagged, unt = a.cmd('STORE 1 +FLAGS (\\Seen)')
        m = re.match(r'^\* 1 FETCH \(UID 1 FLAGS \(\\Seen \\Recent\) '
                     r'MODSEQ \((\d+)\)\)$', unt[0])
        self.assertTrue(m, unt)
        m1 = int(m.group(1))
        self.assertGreater(m1, hms)
        # UNCHANGEDSINCE: message 1 changed after hms, 2 didn't
        tagged, unt = a.cmd('STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)'
                            % hms)
        self.assertEqual(code(tagged), ('MODIFIED', '1'))
        self.assertEqual(len(unt), 1)
        self.assertRegex(unt[0], r'^\* 2 FETCH \(UID 2 FLAGS \(\\Flagged '
                         r'\\Recent\) MODSEQ \(\d+\)\)$')
        tagged, unt = a.cmd('UID STORE 1 (UNCHANGEDSINCE %d) -FLAGS.SILENT '
                            '(\\Seen)' % m1)
        self.assertRegex(tagged, r'^a\d+ OK STORE completed$')
        self.assertRegex(unt[0], r'^\* 1 FETCH \(UID 1 MODSEQ \(\d+\)\)$')
        # CHANGEDSINCE lists only what changed after the given modseq
        got = fetch_map(a.cmd('FETCH 1:* (FLAGS) (CHANGEDSINCE %d)' % hms)[1])
        self.assertEqual(sorted(got), [1, 2])
        self.assertIn('MODSEQ', got[1])
        got = fetch_map(a.cmd('UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)'
                              % m1)[1])
        self.assertEqual(sorted(got), [1, 2])
        # another session's change reaches a CONDSTORE session with MODSEQ
        self.select(b)
        b.cmd('STORE 3 +FLAGS.SILENT (\\Answered)')
        unt = a.cmd('NOOP')[1]
        self.assertEqual(len(unt), 1)
        self.assertRegex(unt[0], r'^\* 3 FETCH \(UID 3 FLAGS \(\\Answered '
                         r'\\Recent\) MODSEQ \(\d+\)\)$')
        # SEARCH MODSEQ and STATUS HIGHESTMODSEQ agree
        top = int(re.search(r'MODSEQ \((\d+)\)', unt[0]).group(1))
        self.assertEqual(a.cmd('SEARCH MODSEQ %d' % top)[1],
                         ['* SEARCH 3 (MODSEQ %d)' % top])
        self.assertEqual(b.cmd('STATUS INBOX (HIGHESTMODSEQ)')[1],
                         ['* STATUS "INBOX" (HIGHESTMODSEQ %d)' % top])

    def test_qresync(self):
        user, (a, b) = self.pair()
        self.fill(a, 'INBOX', 6)
        info = self.select(a)
        uv, hms = info['uidvalidity'], info['highestmodseq']
        a.cmd('STORE 2,4,5 +FLAGS.SILENT (\\Deleted)')
        a.cmd('EXPUNGE')
        a.cmd('UID STORE 6 +FLAGS.SILENT (\\Seen)')
        self.assertEqual(b.cmd('ENABLE QRESYNC')[1],
                         ['* ENABLED CONDSTORE QRESYNC'])
        tagged, unt = b.cmd('SELECT INBOX (QRESYNC (%d %d))' % (uv, hms))
        self.assertEqual(tagged[5:], 'OK [READ-WRITE] SELECT completed')
        self.assertIn('* VANISHED (EARLIER) 2,4:5', unt)
        changed = [l for l in unt if ' FETCH ' in l]
        self.assertEqual(len(changed), 1, unt)
        self.assertRegex(changed[0], r'^\* 3 FETCH \(UID 6 FLAGS \(\\Seen\) '
                         r'MODSEQ \(\d+\)\)$')
        self.assertIn('* 3 EXISTS', unt)
        # known UIDs limit what is reported
        tagged, unt = b.cmd('SELECT INBOX (QRESYNC (%d %d 1:3))' % (uv, hms))
        self.assertIn('* OK [CLOSED] Previous mailbox closed', unt)
        self.assertIn('* VANISHED (EARLIER) 2', unt)
        self.assertEqual([l for l in unt if ' FETCH ' in l], [])
        # a wrong UIDVALIDITY gets the plain SELECT answer
        tagged, unt = b.cmd('SELECT INBOX (QRESYNC (%d %d))' % (uv + 1, hms))
        self.assertEqual([l for l in unt if 'VANISHED' in l or ' FETCH ' in l],
                         [])
        # UID FETCH ... (CHANGEDSINCE m VANISHED)
        tagged, unt = b.cmd('UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)'
                            % hms)
        self.assertEqual(unt[0], '* VANISHED (EARLIER) 2,4:5')
        self.assertEqual(len(unt), 2)
        self.assertRegex(unt[1], r'^\* 3 FETCH \(UID 6 MODSEQ \(\d+\) FLAGS '
                         r'\(\\Seen\)\)$')
        # VANISHED needs QRESYNC enabled, UID FETCH and CHANGEDSINCE
        self.assertRegex(b.cmd('FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)')
                         [0], r'^a\d+ BAD ')
        self.assertRegex(a.cmd('UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 '
                               'VANISHED)')[0], r'^a\d+ BAD ')
        self.assertRegex(a.cmd('SELECT INBOX (QRESYNC (%d 1))' % uv)[0],
                         r'^a\d+ BAD ')
        # expunges by another session reach a QRESYNC client as VANISHED
        self.select(a)
        a.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')
        self.assertEqual(a.cmd('EXPUNGE')[1], ['* 1 EXPUNGE'])
        tagged, unt = b.cmd('NOOP')
        self.assertEqual(unt, ['* VANISHED 1'])
        # and its own expunges too
        b.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')
        self.assertEqual(b.cmd('EXPUNGE')[1], ['* VANISHED 3'])

    def test_qresync_after_long_absence(self):
        user, (a,) = self.pair(1)
        self.fill(a, 'INBOX', 30)
        info = self.select(a)
        uv, old = info['uidvalidity'], info['highestmodseq']
        for rnd in range(5):
            a.cmd('STORE %d +FLAGS.SILENT (\\Deleted)' % (rnd + 1))
            a.cmd('EXPUNGE')
            self.fill(a, 'INBOX', 1)
        b = self.connect(user)
        b.cmd('ENABLE QRESYNC')
        tagged, unt = b.cmd('SELECT INBOX (QRESYNC (%d %d))' % (uv, old))
        self.assertIn('* VANISHED (EARLIER) 1,3,5,7,9', unt)
        news = [l for l in unt if ' FETCH ' in l]
        self.assertEqual([re.search(r'UID (\d+)', l).group(1) for l in news],
                         ['31', '32', '33', '34', '35'])



def uidset(uids):
    """"1:3,5" of sorted UIDs, as the server writes a set."""
    out, i = [], 0
    while i < len(uids):
        j = i
        while j + 1 < len(uids) and uids[j + 1] == uids[j] + 1:
            j += 1
        out.append(str(uids[i]) if i == j else '%d:%d' % (uids[i], uids[j]))
        i = j + 1
    return ','.join(out)


class ExpungedWindow(ImapCase):
    """QRESYNC past the window of expunged UIDs the store keeps
    (expunged_keep): RFC 7162 3.2.5.2's full VANISHED list from the UIDs
    that still exist, and never a lost EXPUNGE for a live session."""
    config = {'expunged_keep': '8'}

    def test_window(self):
        user = self.new_user()
        a, b = self.connect(user), self.connect(user)
        self.fill(a, 'INBOX', 40)
        info = self.select(a)
        uv, old = info['uidvalidity'], info['highestmodseq']
        b.cmd('ENABLE QRESYNC')
        self.select(b)
        gone = list(range(2, 41, 2)) + [1, 3, 5]
        for uid in gone:
            self.ok(a.cmd('UID STORE %d +FLAGS.SILENT (\\Deleted)' % uid))
            self.ok(a.cmd('EXPUNGE'))
        # b was selected all along: told of all 23, whatever the window
        self.assertEqual(self.ok(b.cmd('NOOP')),
                         ['* VANISHED %s' % uidset(sorted(gone))])
        recent = int(re.search(r'HIGHESTMODSEQ (\d+)', self.ok(
            a.cmd('STATUS INBOX (HIGHESTMODSEQ)'))[0]).group(1))
        self.ok(a.cmd('UID STORE 7 +FLAGS.SILENT (\\Deleted)'))
        self.ok(a.cmd('EXPUNGE'))
        gone.append(7)
        self.assertEqual(b.cmd('NOOP')[1], ['* VANISHED 7'])
        left = [u for u in range(1, 41) if u not in gone]
        c = self.connect(user)
        c.cmd('ENABLE QRESYNC')
        # within the window: only what the table says
        unt = self.ok(c.cmd('SELECT INBOX (QRESYNC (%d %d))' % (uv, recent)))
        self.assertIn('* VANISHED (EARLIER) 7', unt)
        # older than the window: every UID below UIDNEXT not there
        unt = self.ok(c.cmd('SELECT INBOX (QRESYNC (%d %d))' % (uv, old)))
        vanished = [l for l in unt if 'VANISHED' in l]
        self.assertEqual(vanished, ['* VANISHED (EARLIER) %s' %
                                    uidset(sorted(gone))])
        self.assertIn('* %d EXISTS' % len(left), unt)
        # limited to the known UIDs
        unt = self.ok(c.cmd('SELECT INBOX (QRESYNC (%d %d 1:9,39:45))'
                            % (uv, old)))
        self.assertIn('* VANISHED (EARLIER) 1:8,40', unt)
        # and UID FETCH ... VANISHED, within the set asked for
        unt = self.ok(c.cmd('UID FETCH 4:12 (FLAGS) (CHANGEDSINCE %d '
                            'VANISHED)' % old))
        self.assertEqual(unt[0], '* VANISHED (EARLIER) 4:8,10,12')
        # the store kept its window, not every expunged UID
        path = os.path.join(self.server.data_dir, 'users', user[0],
                            'store.db')
        db = sqlite3.connect('file:%s?mode=ro' % path, uri=True)
        self.addCleanup(db.close)
        self.assertLessEqual(db.execute('SELECT count(*) FROM expunged')
                             .fetchone()[0], 9)


class ExpungedWindowInSteps(ImapCase):
    """The window is looked at every eighth of expunged_keep expunges,
    not at each one: it still holds the newest expunged_keep rows, and
    never more than a quarter more."""
    config = {'expunged_keep': '16'}

    def test_window_bounded(self):
        user = self.new_user()
        a = self.connect(user)
        self.fill(a, 'INBOX', 60)
        self.select(a)
        path = os.path.join(self.server.data_dir, 'users', user[0],
                            'store.db')
        db = sqlite3.connect('file:%s?mode=ro' % path, uri=True)
        self.addCleanup(db.close)
        for uid in range(1, 61):
            self.ok(a.cmd('UID STORE %d +FLAGS.SILENT (\\Deleted)' % uid))
            self.ok(a.cmd('EXPUNGE'))
            n = db.execute('SELECT count(*) FROM expunged').fetchone()[0]
            self.assertLessEqual(n, 20, 'after UID %d' % uid)
        self.assertGreaterEqual(n, 16)

if __name__ == '__main__':
    unittest.main()
