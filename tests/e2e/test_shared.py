"""test_shared.py - shared folders across the per-user process boundary
(RFC 4314 + RFC 2342; issue 4, item 3).

alice shares a folder with bob; bob's process reaches it through a
channel the master grants from its share index (doc/sharing.md):
  NAMESPACE, LIST with the "Other Users" placeholders, STATUS;
  SELECT, FETCH byte-exact (a multi-megabyte message too), SEARCH;
  IDLE in bob's shared selection woken by alice's APPEND;
  alice and bob in the same folder see each other's changes;
  a read-only grant: bob reads and changes nothing of alice's;
  COPY / MOVE between bob's folders and the shared one, both ways, with
      COPYUID; within alice's folders; MOVE without "t"/"e" refused;
  the "anyone" identifier; revoking; alice's RENAME and DELETE;
  the owner's quota applies to what a grantee stores;
  as root: alice's and bob's processes run under different uids, and
      bob's uid cannot open alice's store.

Python 3 standard library only; run by meson (MK_BUILD_DIR)."""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import is_root, proc_uid  # noqa: E402
from mkimap import ImapCase, code, fetch_map, message, parse, quote, \
    search_result  # noqa: E402


def shared(owner, mbox):
    return 'Other Users/%s/%s' % (owner, mbox)


class SharedCase(ImapCase):
    def setup_share(self, rights='lr', n=3, mbox='Proj'):
        self.alice, self.bob = self.new_user(), self.new_user()
        self.a = self.connect(self.alice)
        self.ok(self.a.cmd('CREATE %s' % quote(mbox)))
        self.msgs = self.fill(self.a, mbox, n, prefix='shared')
        self.ok(self.a.cmd('SETACL %s %s %s' % (quote(mbox), self.bob[0],
                                                 rights)))
        self.b = self.connect(self.bob)
        self.mbox = mbox
        self.name = shared(self.alice[0], mbox)
        return self.a, self.b

    def listed(self, c, pattern='*'):
        out = {}
        for l in self.ok(c.cmd('LIST "" %s' % quote(pattern))):
            toks = parse(l)
            out[toks[4]] = toks[2]
        return out

    def state(self, c, mbox):
        """Everything a refused change must leave as it was."""
        st = self.ok(c.cmd('STATUS %s (MESSAGES UIDNEXT UIDVALIDITY UNSEEN '
                           'HIGHESTMODSEQ SIZE DELETED)' % quote(mbox)))
        if not self.select(c, mbox, examine=True)['exists']:
            self.ok(c.cmd('UNSELECT'))
            return st, []
        r = c.cmd_bytes('FETCH 1:* (UID FLAGS MODSEQ BODY.PEEK[])')
        self.assertRegex(r[0], rb'^a\d+ OK ')
        self.ok(c.cmd('UNSELECT'))
        # \Recent belongs to whichever session saw a message first
        return st, sorted(re.sub(rb' ?\\Recent', b'', l) for l in r[1]
                          if re.match(rb'^\* \d+ FETCH ', l))

    def bodies(self, c, mbox, seqs='1:*'):
        if not self.select(c, mbox, examine=True)['exists']:
            self.ok(c.cmd('UNSELECT'))
            return []
        r = c.cmd_bytes('FETCH %s BODY.PEEK[]' % seqs)
        self.assertRegex(r[0], rb'^a\d+ OK ')
        self.ok(c.cmd('UNSELECT'))
        fm = fetch_map(r[1])
        return [fm[i]['BODY[]'] for i in sorted(fm)]


class Namespace(SharedCase):
    def test_namespace_and_list(self):
        a, b = self.setup_share('lr')
        self.ok(a.cmd('CREATE Proj/Sub'))          # inherits bob's rights
        self.ok(a.cmd('CREATE Private'))
        self.assertEqual(self.ok(b.cmd('NAMESPACE')),
                         ['* NAMESPACE (("" "/")) (("Other Users/" "/")) NIL'])
        al = self.alice[0]
        lst = self.listed(b)
        self.assertEqual(lst['Other Users'], ['\\Noselect', '\\HasChildren'])
        self.assertEqual(lst['Other Users/' + al], ['\\Noselect',
                                                    '\\HasChildren'])
        self.assertEqual(lst[self.name], ['\\HasChildren'])
        self.assertEqual(lst[self.name + '/Sub'], ['\\HasNoChildren'])
        self.assertNotIn(shared(al, 'Private'), lst)
        self.assertNotIn(shared(al, 'INBOX'), lst)
        self.assertIn('INBOX', lst)                # bob's own are there too
        self.assertEqual(list(self.listed(b, 'Other Users/%')),
                         ['Other Users/' + al])
        self.assertEqual(sorted(self.listed(b, 'Other Users/%/%')),
                         [self.name])
        self.assertEqual(sorted(self.listed(b, 'Other Users/*')),
                         sorted(['Other Users/' + al, self.name,
                                 self.name + '/Sub']))
        # alice's own view has no Other Users: nobody shares with her
        self.assertNotIn('Other Users', self.listed(a))
        # the placeholders are places, not mailboxes
        for p in ('Other Users', 'Other Users/' + al):
            self.assertRegex(b.cmd('SELECT %s' % quote(p))[0], r'^a\d+ NO ')
        # STATUS on the shared name, rewritten back
        self.assertEqual(self.ok(b.cmd('STATUS %s (MESSAGES UIDNEXT)' %
                                       quote(self.name))),
                         ['* STATUS %s (MESSAGES 3 UIDNEXT 4)' %
                          quote(self.name)])
        # the owner's quota root, under its user/ name
        untagged = self.ok(b.cmd('GETQUOTAROOT %s' % quote(self.name)))
        self.assertEqual(untagged[0], '* QUOTAROOT %s "user/%s"' %
                         (quote(self.name), al))
        self.assertTrue(untagged[1].startswith('* QUOTA "user/%s" (STORAGE '
                                               % al), untagged)


class Reading(SharedCase):
    def test_select_fetch_search(self):
        a, b = self.setup_share('lr')
        big = message(subject='big one', body=''.join(
            'line %07d of a large shared message ........................\r\n'
            % i for i in range(50000)))
        self.assertGreater(len(big), 3 * 1024 * 1024)
        self.ok(a.append('Proj', big))
        info = self.select(b, self.name)
        self.assertEqual((info['exists'], info['mode']), (4, 'READ-ONLY'))
        r = b.cmd_bytes('FETCH 1:4 (UID RFC822.SIZE BODY.PEEK[])', timeout=60)
        self.assertRegex(r[0], rb'^a\d+ OK ')
        fm = fetch_map(r[1])
        self.assertEqual([fm[i]['BODY[]'] for i in (1, 2, 3, 4)],
                         self.msgs + [big])
        self.assertEqual(int(fm[4]['RFC822.SIZE']), len(big))
        # partial, UID forms, structure: the owner's answers
        r = b.cmd_bytes('UID FETCH 4 (BODY.PEEK[]<1000000.20> BODYSTRUCTURE '
                        'ENVELOPE)')
        fm = fetch_map(r[1])
        self.assertEqual(fm[4]['BODY[]<1000000>'], big[1000000:1000020])
        self.select(a, 'Proj', examine=True)
        mine = fetch_map(a.cmd_bytes('UID FETCH 4 (BODYSTRUCTURE '
                                     'ENVELOPE)')[1])
        self.assertEqual(fm[4]['BODYSTRUCTURE'], mine[4]['BODYSTRUCTURE'])
        self.assertEqual(fm[4]['ENVELOPE'], mine[4]['ENVELOPE'])
        for crit, want in (('SUBJECT "big one"', [4]),
                           ('BODY "0049999"', [4]),
                           ('SUBJECT shared', [1, 2, 3]),
                           ('ALL', [1, 2, 3, 4]), ('LARGER 100000', [4])):
            self.assertEqual(search_result(self.ok(b.cmd('SEARCH %s' % crit))),
                             want, crit)
            self.assertEqual(search_result(self.ok(a.cmd('SEARCH %s' % crit))),
                             want, crit)
        self.ok(b.cmd('CLOSE'))

    def test_idle_woken_by_owner_append(self):
        a, b = self.setup_share('lr')
        self.select(b, self.name)
        b.send('i1 IDLE\r\n')
        self.assertTrue(b.readline().startswith('+'))
        start = time.monotonic()
        self.ok(a.append('Proj', message(subject='wake up')))
        lines = self.wait_lines(b, lambda ls: '* 4 EXISTS' in ls, timeout=1.0)
        self.assertLess(time.monotonic() - start, 1.0, lines)
        b.send('DONE\r\n')
        tagged, _ = b.read_until_tagged('i1')
        self.assertRegex(tagged, r'^i1 OK ')
        fm = fetch_map(self.ok(b.cmd('FETCH 4 BODY.PEEK[HEADER.FIELDS '
                                     '(SUBJECT)]')))
        self.assertIn(b'wake up', fm[4]['BODY[HEADER.FIELDS (SUBJECT)]'])

    def test_two_users_see_each_others_changes(self):
        a, b = self.setup_share('lrswite')
        self.select(a, 'Proj')
        self.select(b, self.name)
        # bob's flag change reaches alice
        self.ok(b.cmd('STORE 2 +FLAGS (\\Flagged)'))
        lines = self.ok(a.cmd('NOOP'))
        self.assertEqual(fetch_map(lines)[2]['FLAGS'], ['\\Flagged',
                                                        '\\Recent'])
        # alice's reaches bob
        self.ok(a.cmd('STORE 3 +FLAGS.SILENT (\\Answered)'))
        fm = fetch_map(self.ok(b.cmd('NOOP')))
        self.assertIn('\\Answered', fm[3]['FLAGS'])
        # alice appends: bob sees EXISTS
        self.ok(a.append('Proj', message(subject='from alice')))
        self.assertIn('* 4 EXISTS', self.ok(b.cmd('NOOP')))
        # bob appends: alice sees EXISTS, and bob (with the APPEND's own
        # answer, or at the next NOOP)
        said = self.ok(b.append(self.name, message(subject='from bob')))
        self.assertIn('* 5 EXISTS', self.ok(a.cmd('NOOP')))
        self.assertIn('* 5 EXISTS', said + self.ok(b.cmd('NOOP')))
        # alice expunges: bob hears of it
        self.ok(a.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)'))
        # (and her \\Recent count goes down with the mailbox's size)
        self.assertEqual(self.ok(a.cmd('EXPUNGE')), ['* 1 EXPUNGE',
                                                     '* 3 RECENT'])
        self.assertIn('* 1 EXPUNGE', self.ok(b.cmd('NOOP')))
        # bob expunges: alice hears of it
        self.ok(b.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)'))
        self.assertEqual(self.ok(b.cmd('EXPUNGE')), ['* 1 EXPUNGE'])
        self.assertIn('* 1 EXPUNGE', self.ok(a.cmd('NOOP')))
        self.assertEqual(self.ok(a.cmd('SEARCH ALL')), ['* SEARCH 1 2 3'])
        self.assertEqual(self.ok(b.cmd('SEARCH ALL')), ['* SEARCH 1 2 3'])


class ReadOnlyGrant(SharedCase):
    def test_bob_reads_but_changes_nothing(self):
        a, b = self.setup_share('lr')
        self.ok(a.cmd('CREATE Other'))
        self.ok(a.cmd('SETACL Other %s lr' % self.bob[0]))
        self.ok(b.append('INBOX', message(subject='bob own')))
        before = self.state(a, 'Proj'), self.state(a, 'Other')
        info = self.select(b, self.name)
        self.assertEqual(info['mode'], 'READ-ONLY')
        self.assertEqual(self.bodies(b, self.name), self.msgs)
        self.select(b, self.name)
        self.ok(b.cmd('FETCH 1:* (FLAGS BODY[])'))   # his own \Seen only
        for cmd, want in (('STORE 1 +FLAGS (\\Flagged)', 'NO'),
                          ('STORE 1 +FLAGS (\\Deleted)', 'NO'),
                          ('UID STORE 1:* FLAGS ()', 'OK'),   # his own \Seen
                          ('EXPUNGE', 'NO'),
                          ('UID EXPUNGE 1:*', 'NO'),
                          ('MOVE 1 INBOX', 'NO'),
                          ('MOVE 1 %s' % quote(shared(self.alice[0], 'Other')),
                           'NO'),
                          ('COPY 1 %s' % quote(shared(self.alice[0], 'Other')),
                           'NO')):
            tagged, _ = b.cmd(cmd)
            self.assertRegex(tagged, r'^a\d+ %s ' % want, cmd)
        self.ok(b.cmd('CLOSE'))
        self.select(b, 'INBOX')
        for cmd in ('COPY 1 %s' % quote(self.name),
                    'MOVE 1 %s' % quote(self.name)):
            self.assertRegex(b.cmd(cmd)[0], r'^a\d+ NO ', cmd)
        self.assertRegex(b.append(self.name, message(subject='x'))[0],
                         r'^a\d+ NO ')
        for cmd in ('DELETE %s' % quote(self.name),
                    'RENAME %s %s' % (quote(self.name),
                                      quote(self.name + '2')),
                    'CREATE %s' % quote(self.name + '/Sub'),
                    'SETACL %s %s lrswi' % (quote(self.name), self.bob[0]),
                    'DELETEACL %s %s' % (quote(self.name), self.bob[0])):
            self.assertRegex(b.cmd(cmd)[0], r'^a\d+ NO ', cmd)
        self.assertEqual((self.state(a, 'Proj'), self.state(a, 'Other')),
                         before)
        # bob's own INBOX kept its message: nothing moved anywhere
        self.assertEqual(len(self.bodies(b, 'INBOX')), 1)


class Copies(SharedCase):
    def copyuid(self, tagged_or_line):
        c = code(tagged_or_line)
        self.assertIsNotNone(c, tagged_or_line)
        self.assertEqual(c[0], 'COPYUID', tagged_or_line)
        validity, src, dst = c[1].split()
        return int(validity), src, dst

    def uidvalidity(self, c, mbox):
        st = self.ok(c.cmd('STATUS %s (UIDVALIDITY)' % quote(mbox)))
        return int(parse(st[-1])[3][1])

    def test_own_to_shared_and_back(self):
        a, b = self.setup_share('lrswipkxtea')
        mine = [message(subject='bob %d' % i) for i in range(3)]
        for m in mine:
            self.ok(b.append('INBOX', m, flags=['\\Flagged']))
        proj_validity = self.uidvalidity(a, 'Proj')
        inbox_validity = self.uidvalidity(b, 'INBOX')
        # own -> shared: COPY
        self.select(b, 'INBOX')
        tagged, _ = b.cmd('COPY 1:2 %s' % quote(self.name))
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertEqual(self.copyuid(tagged), (proj_validity, '1:2', '4:5'))
        # own -> shared: MOVE
        tagged, untagged = b.cmd('UID MOVE 3 %s' % quote(self.name))
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertEqual(self.copyuid(untagged[0]), (proj_validity, '3', '6'))
        self.assertIn('* 3 EXPUNGE', untagged)
        self.ok(b.cmd('CLOSE'))
        self.assertEqual(self.bodies(a, 'Proj'), self.msgs + mine)
        self.assertEqual(self.bodies(b, 'INBOX'), mine[:2])
        self.select(a, 'Proj', examine=True)
        fm = fetch_map(self.ok(a.cmd('FETCH 4:6 FLAGS')))
        self.assertTrue(all('\\Flagged' in v['FLAGS'] for v in fm.values()))
        self.ok(a.cmd('UNSELECT'))
        # shared -> own: COPY and MOVE
        self.select(b, self.name)
        tagged, _ = b.cmd('COPY 1 INBOX')
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertEqual(self.copyuid(tagged), (inbox_validity, '1', '4'))
        tagged, untagged = b.cmd('MOVE 2:3 INBOX')
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertEqual(self.copyuid(untagged[0]),
                         (inbox_validity, '2:3', '5:6'))
        # sequence numbers 2 and 3 went, in either order
        self.assertIn([l for l in untagged if l.endswith('EXPUNGE')],
                      (['* 2 EXPUNGE', '* 2 EXPUNGE'],
                       ['* 3 EXPUNGE', '* 2 EXPUNGE']))
        self.ok(b.cmd('CLOSE'))
        self.assertEqual(self.bodies(b, 'INBOX'), mine[:2] + self.msgs)
        self.assertEqual(self.bodies(a, 'Proj'), [self.msgs[0]] + mine)

    def test_within_the_owner(self):
        a, b = self.setup_share('lrswipkxtea')
        self.ok(a.cmd('CREATE Other'))
        self.ok(a.cmd('SETACL Other %s lrswipkxtea' % self.bob[0]))
        other_validity = self.uidvalidity(a, 'Other')
        self.select(b, self.name)
        tagged, _ = b.cmd('COPY 1:2 %s' % quote(shared(self.alice[0],
                                                        'Other')))
        self.assertEqual(self.copyuid(tagged), (other_validity, '1:2', '1:2'))
        tagged, untagged = b.cmd('MOVE 3 %s' % quote(shared(self.alice[0],
                                                            'Other')))
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertEqual(self.copyuid(untagged[0]), (other_validity, '3', '3'))
        self.assertEqual(self.bodies(a, 'Other'), self.msgs)
        self.assertEqual(self.bodies(a, 'Proj'), self.msgs[:2])

    def test_move_out_needs_t_and_e(self):
        a, b = self.setup_share('lrsi')
        before = self.state(a, 'Proj')
        self.select(b, self.name)
        self.assertRegex(b.cmd('MOVE 1 INBOX')[0], r'^a\d+ NO \[NOPERM\] ')
        self.assertRegex(b.cmd('UID MOVE 1:* %s' % quote(self.name))[0],
                         r'^a\d+ NO \[NOPERM\] ')
        self.ok(b.cmd('CLOSE'))
        self.assertEqual(self.bodies(b, 'INBOX'), [])
        self.assertEqual(self.state(a, 'Proj'), before)


class Grants(SharedCase):
    def test_anyone(self):
        a, b = self.setup_share('lr')
        carol = self.new_user()
        c = self.connect(carol)
        self.assertNotIn(self.name, self.listed(c))
        self.assertRegex(c.cmd('SELECT %s' % quote(self.name))[0],
                         r'^a\d+ NO \[NONEXISTENT\] ')
        self.ok(a.cmd('SETACL Proj anyone lr'))
        self.assertIn(self.name, self.listed(c))
        self.assertEqual(self.select(c, self.name)['exists'], 3)
        self.assertEqual(self.ok(c.cmd('MYRIGHTS %s' % quote(self.name))),
                         ['* MYRIGHTS %s lr' % quote(self.name)])
        # "anyone" adds to a user's own entry
        self.ok(a.cmd('SETACL Proj anyone s'))
        self.assertEqual(self.ok(b.cmd('MYRIGHTS %s' % quote(self.name))),
                         ['* MYRIGHTS %s lrs' % quote(self.name)])
        self.ok(a.cmd('DELETEACL Proj anyone'))
        self.ok(c.cmd('UNSELECT'))
        self.assertNotIn(self.name, self.listed(c))
        self.assertRegex(c.cmd('SELECT %s' % quote(self.name))[0],
                         r'^a\d+ NO \[NONEXISTENT\] ')

    def test_revoke(self):
        a, b = self.setup_share('lr')
        self.assertEqual(self.select(b, self.name)['exists'], 3)
        self.ok(b.cmd('UNSELECT'))
        self.ok(a.cmd('DELETEACL Proj %s' % self.bob[0]))
        lst = self.listed(b)
        self.assertFalse([n for n in lst if n.startswith('Other Users')], lst)
        self.assertRegex(b.cmd('SELECT %s' % quote(self.name))[0],
                         r'^a\d+ NO \[NONEXISTENT\] ')
        self.assertRegex(b.cmd('STATUS %s (MESSAGES)' % quote(self.name))[0],
                         r'^a\d+ NO \[NONEXISTENT\] ')
        # a new session of bob's as well
        b2 = self.connect(self.bob)
        self.assertRegex(b2.cmd('EXAMINE %s' % quote(self.name))[0],
                         r'^a\d+ NO \[NONEXISTENT\] ')

    def test_refusals_leave_the_session_usable(self):
        a, b = self.setup_share('lr')
        carol = self.new_user()
        for i in range(100):
            for name in (shared(carol[0], 'INBOX'), shared('nosuchuser', 'X')):
                self.assertRegex(b.cmd('EXAMINE %s' % quote(name))[0],
                                 r'^a\d+ NO \[NONEXISTENT\] ')
        self.assertEqual(self.select(b, self.name)['exists'], 3)
        self.ok(b.append('INBOX', message(subject='mine')))
        self.select(b, 'INBOX')
        target = quote(shared(carol[0], 'X'))
        for cmd in ('COPY 1 %s', 'MOVE 1 %s'):
            self.assertRegex(b.cmd(cmd % target)[0],
                             r'^a\d+ NO \[NONEXISTENT\] ')
        self.assertEqual(self.select(b, 'INBOX')['exists'], 1)

    def test_owner_rename_and_delete(self):
        a, b = self.setup_share('lr')
        self.ok(a.cmd('CREATE Proj/Sub'))
        al = self.alice[0]
        self.ok(a.cmd('RENAME Proj Renamed'))
        lst = self.listed(b)
        self.assertIn(shared(al, 'Renamed'), lst)
        self.assertIn(shared(al, 'Renamed/Sub'), lst)
        self.assertNotIn(self.name, lst)
        self.assertNotIn(self.name + '/Sub', lst)
        self.assertEqual(self.select(b, shared(al, 'Renamed'))['exists'], 3)
        self.ok(b.cmd('UNSELECT'))
        self.assertRegex(b.cmd('SELECT %s' % quote(self.name))[0],
                         r'^a\d+ NO \[NONEXISTENT\] ')
        self.ok(a.cmd('DELETE Renamed/Sub'))
        self.ok(a.cmd('DELETE Renamed'))
        lst = self.listed(b)
        self.assertFalse([n for n in lst if n.startswith('Other Users')], lst)
        self.assertRegex(b.cmd('SELECT %s' % quote(shared(al, 'Renamed')))[0],
                         r'^a\d+ NO \[NONEXISTENT\] ')
        # a new mailbox of the same name is not shared
        self.ok(a.cmd('CREATE Renamed'))
        self.assertNotIn(shared(al, 'Renamed'), self.listed(b))


class OwnersQuota(SharedCase):
    def test_grantee_stores_under_the_owners_quota(self):
        alice, bob = self.new_user(), self.new_user()
        self.server.ctl('quota', alice[0], '--messages', '4')
        a = self.connect(alice)
        self.ok(a.cmd('CREATE Proj'))
        self.fill(a, 'Proj', 3)
        self.ok(a.cmd('SETACL Proj %s lri' % bob[0]))
        b = self.connect(bob)
        name = shared(alice[0], 'Proj')
        self.ok(b.append(name, message(subject='fits')))
        tagged, _ = b.append(name, message(subject='over'))
        self.assertRegex(tagged, r'^a\d+ NO \[OVERQUOTA\] ')
        self.ok(b.append('INBOX', message(subject='own')))
        self.select(b, 'INBOX')
        self.assertRegex(b.cmd('COPY 1 %s' % quote(name))[0],
                         r'^a\d+ NO \[OVERQUOTA\] ')
        self.assertEqual(self.ok(a.cmd('GETQUOTA ""')),
                         ['* QUOTA "" (STORAGE 1 1048576 MESSAGE 4 4)'])
        self.assertEqual(self.ok(b.cmd('GETQUOTA ""'))[0],
                         '* QUOTA "" (STORAGE 1 1048576)')


@unittest.skipUnless(is_root(), 'needs root: per-user uids')
class Privsep(SharedCase):
    def test_processes_and_stores_are_apart(self):
        a, b = self.setup_share('lr')
        self.select(b, self.name)               # both processes are busy
        users = os.path.join(self.server.data_dir, 'users')
        uid_a = os.stat(os.path.join(users, self.alice[0])).st_uid
        uid_b = os.stat(os.path.join(users, self.bob[0])).st_uid
        self.assertNotEqual(uid_a, uid_b)
        self.assertNotIn(0, (uid_a, uid_b))
        procs = {}
        for pid in self.server.children():
            ids = proc_uid(pid)
            if ids and ids[0] in (uid_a, uid_b):
                self.assertEqual(ids, [ids[0]] * 4)
                procs.setdefault(ids[0], []).append(pid)
        self.assertEqual(sorted(len(v) for v in procs.values()), [1, 1], procs)
        store = os.path.join(users, self.alice[0], 'store.db')
        self.assertEqual(os.stat(store).st_uid, uid_a)
        for path in (store, os.path.join(users, self.alice[0])):
            pid = os.fork()
            if pid == 0:
                code_ = 3
                try:
                    os.setgroups([])
                    os.setresgid(uid_b, uid_b, uid_b)
                    os.setresuid(uid_b, uid_b, uid_b)
                    try:
                        if os.path.isdir(path):
                            os.listdir(path)
                        else:
                            open(path, 'rb').close()
                        code_ = 1
                    except PermissionError:
                        code_ = 0
                finally:
                    os._exit(code_)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0,
                             "bob's uid could open %s" % path)


if __name__ == '__main__':
    unittest.main(verbosity=2)
