"""test_quota.py - quotas (RFC 9208, RFC 2087 clients kept working;
issue 4, item 2).

  capabilities QUOTA, QUOTA=RES-STORAGE, QUOTA=RES-MESSAGE, QUOTASET;
  one root per user, "" ("user/<name>" for administrators' SETQUOTA);
  GETQUOTAROOT / GETQUOTA numbers exact (STORAGE in KiB, rounded up);
  SETQUOTA by an administrator, seen at once by the user's running
      session; refused to everyone else, the directory unchanged;
  over the limit, APPEND (storage and message limits, MULTIAPPEND) and
      COPY answer NO [OVERQUOTA] and leave no trace;
  over the limit, MOVE, EXPUNGE, CLOSE and DELETE still work;
  usage exact after a mixed workload, against the sum of RFC822.SIZE of
      every message and against mailkeepctl quota / quota-check;
  quota-check reports drift after the counter is corrupted on disk.

Python 3 standard library only; run by meson (MK_BUILD_DIR)."""
import os
import re
import signal
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Server  # noqa: E402
from mkimap import ImapCase, fetch_map, message, parse, quote  # noqa: E402

ADMIN = ('root-admin', 'secret-root-admin')


def sized(size, subject='sized'):
    """A message of exactly size bytes."""
    head = message(subject=subject, body='')
    assert len(head) + 2 <= size
    fill = size - len(head) - 2
    return head + b'x' * fill + b'\r\n'


def kib(n):
    return (n + 1023) // 1024


class QuotaCase(ImapCase):
    admins = (ADMIN[0],)

    @classmethod
    def setUpClass(cls):
        cls.server = Server(admins=cls.admins, config=cls.config)

    def limited_user(self, storage=None, messages=None):
        """A new user with these limits (None: unlimited)."""
        user = self.new_user()
        self.server.ctl('quota', user[0],
                        '--storage', str(storage or 'unlimited'),
                        '--messages', str(messages or 'unlimited'))
        return user

    def quota(self, c, root='""'):
        """{'STORAGE': (usage, limit), ...} from GETQUOTA root."""
        untagged = self.ok(c.cmd('GETQUOTA %s' % root))
        self.assertEqual(len(untagged), 1, untagged)
        return self.quota_of(untagged[0])

    def quota_of(self, line):
        toks = parse(line)
        self.assertEqual(toks[:2], ['*', 'QUOTA'])
        res = toks[3]
        return {res[i].upper(): (int(res[i + 1]), int(res[i + 2]))
                for i in range(0, len(res), 3)}

    def status(self, c, mbox, items='MESSAGES UIDNEXT SIZE'):
        untagged = self.ok(c.cmd('STATUS %s (%s)' % (quote(mbox), items)))
        toks = parse(untagged[-1])
        vals = toks[3]
        return {vals[i].upper(): int(vals[i + 1])
                for i in range(0, len(vals), 2)}

    def admin(self):
        return self.connect(ADMIN)

    def multiappend(self, c, mbox, msgs):
        tag = c.next_tag()
        data = ('%s APPEND %s' % (tag, quote(mbox))).encode()
        for m in msgs:
            data += b' {%d+}\r\n' % len(m) + m
        c.send(data + b'\r\n')
        return c.read_until_tagged(tag)

    def messages_everywhere(self, c):
        """[(mailbox, RFC822.SIZE)] of every message of every mailbox."""
        out = []
        for line in self.ok(c.cmd('LIST "" *')):
            toks = parse(line)
            if '\\Noselect' in toks[2] or '\\NonExistent' in toks[2]:
                continue
            name = toks[4]
            info = self.select(c, name, examine=True)
            if info.get('exists', 0):
                fm = fetch_map(self.ok(c.cmd('FETCH 1:* RFC822.SIZE')))
                out += [(name, int(v['RFC822.SIZE'])) for v in fm.values()]
            self.ok(c.cmd('UNSELECT'))
        return out

    def ctl_quota(self, name):
        """(used KiB, messages) from `mailkeepctl quota NAME`."""
        out = self.server.ctl('quota', name).stdout
        m = re.search(r'^%s: storage (\d+) (KiB|MiB) used of ' % name, out,
                      re.M)
        self.assertIsNotNone(m, out)
        used = int(m.group(1)) * (1024 if m.group(2) == 'MiB' else 1)
        m2 = re.search(r'^%s: messages (\d+) of ' % name, out, re.M)
        self.assertIsNotNone(m2, out)
        return used, int(m2.group(1))

    def quota_check(self, name):
        out = self.server.ctl('quota-check', name).stdout
        m = re.match(r'^%s: ok \((\d+) bytes, (\d+) messages\)$' % name,
                     out.strip())
        self.assertIsNotNone(m, out)
        return int(m.group(1)), int(m.group(2))


class Commands(QuotaCase):
    def test_capabilities(self):
        c = self.connect()
        caps = self.ok(c.cmd('CAPABILITY'))[0].split()
        for cap in ('QUOTA', 'QUOTA=RES-STORAGE', 'QUOTA=RES-MESSAGE',
                    'QUOTASET'):
            self.assertIn(cap, caps)

    def test_getquotaroot_and_getquota_exact(self):
        user = self.limited_user(storage=100, messages=10)
        c = self.connect(user)
        sizes = [700, 1500, 2049]
        for i, n in enumerate(sizes):
            self.ok(c.append('INBOX', sized(n, 'q%d' % i)))
        expect = '* QUOTA "" (STORAGE %d 100 MESSAGE 3 10)' % kib(sum(sizes))
        self.assertEqual(self.ok(c.cmd('GETQUOTAROOT INBOX')),
                         ['* QUOTAROOT "INBOX" ""', expect])
        self.assertEqual(self.ok(c.cmd('GETQUOTA ""')), [expect])
        # the same root under the name administrators use
        self.assertEqual(self.ok(c.cmd('GETQUOTA %s' % quote('user/' +
                                                                 user[0]))),
                         [expect])
        # every mailbox is under that one root
        self.ok(c.cmd('CREATE Sub/Deeper'))
        self.assertEqual(self.ok(c.cmd('GETQUOTAROOT Sub/Deeper'))[0],
                         '* QUOTAROOT "Sub/Deeper" ""')
        # the STATUS items RFC 9208 ties to the STORAGE resource
        st = self.status(c, 'INBOX', 'MESSAGES SIZE DELETED')
        self.assertEqual(st, {'MESSAGES': 3, 'SIZE': sum(sizes),
                              'DELETED': 0})
        # only the storage limit
        user2 = self.limited_user(storage=5)
        c2 = self.connect(user2)
        self.assertEqual(self.ok(c2.cmd('GETQUOTA ""')),
                         ['* QUOTA "" (STORAGE 0 5)'])

    def test_unknown_roots_and_mailboxes(self):
        user = self.limited_user(storage=100)
        other = self.new_user()
        c = self.connect(user)
        for root in ('"nosuchroot"', '"User quota"'):
            tagged, _ = c.cmd('GETQUOTA %s' % root)
            self.assertRegex(tagged, r'^a\d+ NO \[NONEXISTENT\] ')
        tagged, _ = c.cmd('GETQUOTA %s' % quote('user/' + other[0]))
        self.assertRegex(tagged, r'^a\d+ NO \[NONEXISTENT\] ')
        tagged, _ = c.cmd('GETQUOTAROOT NoSuchMailbox')
        self.assertRegex(tagged, r'^a\d+ NO \[NONEXISTENT\] ')

    def test_no_limits_no_root(self):
        user = self.limited_user()
        c = self.connect(user)
        self.assertEqual(self.ok(c.cmd('GETQUOTAROOT INBOX')),
                         ['* QUOTAROOT "INBOX"'])
        self.assertRegex(c.cmd('GETQUOTA ""')[0], r'^a\d+ NO ')

    def test_setquota_by_admin(self):
        bob = self.limited_user(storage=100, messages=10)
        b = self.connect(bob)
        self.ok(b.append('INBOX', sized(3000)))
        a = self.admin()
        # another user's root: bob's running session sees it at once
        self.ok(a.cmd('SETQUOTA %s (STORAGE 40 MESSAGE 7)' %
                      quote('user/' + bob[0])))
        self.assertEqual(self.quota(b), {'STORAGE': (3, 40),
                                         'MESSAGE': (1, 7)})
        # a resource left out becomes unlimited (RFC 9208 4.1.3)
        self.ok(a.cmd('SETQUOTA %s (MESSAGE 9)' % quote('user/' + bob[0])))
        self.assertEqual(self.quota(b), {'MESSAGE': (1, 9)})
        self.assertIn('%s: messages 1 of 9' % bob[0],
                      self.server.ctl('quota', bob[0]).stdout)
        # RFC 2087 form: "()" removes every limit
        self.ok(a.cmd('SETQUOTA %s ()' % quote('user/' + bob[0])))
        self.assertEqual(self.ok(b.cmd('GETQUOTAROOT INBOX')),
                         ['* QUOTAROOT "INBOX"'])
        # the admin's own root, by its short name
        self.ok(a.cmd('SETQUOTA "" (STORAGE 12345)'))
        self.assertEqual(self.quota(a), {'STORAGE': (0, 12345)})
        self.assertIn('%s: storage 0 KiB used of 12345 KiB' % ADMIN[0],
                      self.server.ctl('quota', ADMIN[0]).stdout)

    def test_huge_limit_is_not_a_tiny_one(self):
        # 2^54 KiB is 2^64 bytes: the check must not wrap around to 0
        bob = self.limited_user()
        a = self.admin()
        self.ok(a.cmd('SETQUOTA %s (STORAGE %d)' % (quote('user/' + bob[0]),
                                                    2 ** 54)))
        b = self.connect(bob)
        self.ok(b.append('INBOX', sized(1000)))
        p = self.server.ctl('deliver', bob[0], stdin='Subject: d\r\n\r\nx\r\n')
        self.assertIn('delivered to %s/INBOX' % bob[0], p.stdout)
        self.ok(a.cmd('SETQUOTA %s (STORAGE %d)' % (quote('user/' + bob[0]),
                                                    2 ** 63 - 1)))
        self.ok(b.append('INBOX', sized(1000)))
        # 2 x 1000 bytes and the delivered copy, which carries the
        # Return-Path:, Delivered-To: and Received: lines of LMTP
        self.assertEqual(self.quota(b), {'STORAGE': (3, 2 ** 63 - 1)})

    def test_setquota_refusals(self):
        a = self.admin()
        tagged, _ = a.cmd('SETQUOTA "user/nosuchuser" (STORAGE 1)')
        self.assertRegex(tagged, r'^a\d+ NO \[NONEXISTENT\] ')
        tagged, _ = a.cmd('SETQUOTA "user/%s" (FILES 1)' % ADMIN[0])
        self.assertRegex(tagged, r'^a\d+ NO ')
        tagged, _ = a.cmd('SETQUOTA "elsewhere" (STORAGE 1)')
        self.assertRegex(tagged, r'^a\d+ NO ')
        tagged, _ = a.cmd('SETQUOTA "" STORAGE 1')
        self.assertRegex(tagged, r'^a\d+ BAD ')

    def test_setquota_by_non_admin_changes_nothing(self):
        bob = self.limited_user(storage=100, messages=10)
        carol = self.limited_user(storage=200)
        before = self.server.ctl('users').stdout
        b = self.connect(bob)
        for root in ('""', quote('user/' + bob[0]), quote('user/' + carol[0])):
            tagged, _ = b.cmd('SETQUOTA %s (STORAGE 999999 MESSAGE 99999)'
                              % root)
            self.assertRegex(tagged, r'^a\d+ NO \[NOPERM\] ')
        self.assertEqual(self.quota(b), {'STORAGE': (0, 100),
                                         'MESSAGE': (0, 10)})
        self.assertEqual(self.server.ctl('users').stdout, before)

    def test_setquota_in_impersonated_session_is_refused(self):
        bob = self.limited_user(storage=100)
        c = self.admin()
        self.ok(c.cmd('PROXYAUTH %s' % bob[0]))
        tagged, _ = c.cmd('SETQUOTA "" (STORAGE 999999)')
        self.assertRegex(tagged, r'^a\d+ NO \[NOPERM\] ')
        self.assertEqual(self.quota(c), {'STORAGE': (0, 100)})

    def test_ctl_limit_reaches_running_session_on_sighup(self):
        bob = self.limited_user(storage=100)
        b = self.connect(bob)
        self.assertEqual(self.quota(b), {'STORAGE': (0, 100)})
        self.server.ctl('quota', bob[0], '--storage', '321')
        os.kill(self.server.pid, signal.SIGHUP)
        deadline = time.monotonic() + 5
        while self.quota(b) != {'STORAGE': (0, 321)}:
            self.assertLess(time.monotonic(), deadline, self.quota(b))
            time.sleep(0.05)


class AppendLimit(QuotaCase):
    config = {'max_message': '1M'}

    def test_appendlimit(self):
        """RFC 7889: STATUS APPENDLIMIT is max_message, or the whole
        storage quota when that is smaller; a shared mailbox reports its
        owner's; APPEND above it is refused."""
        c = self.connect(self.limited_user())
        caps = self.ok(c.cmd('CAPABILITY'))[0].split()
        self.assertIn('APPENDLIMIT', caps)
        max_message = 1024 * 1024
        self.assertEqual(self.status(c, 'INBOX', 'APPENDLIMIT'),
                         {'APPENDLIMIT': max_message})
        bob = self.limited_user(storage=20)
        b = self.connect(bob)
        self.assertEqual(self.status(b, 'INBOX', 'APPENDLIMIT MESSAGES'),
                         {'APPENDLIMIT': 20 * 1024, 'MESSAGES': 0})
        tagged, _ = b.append('INBOX', sized(20 * 1024 + 1))
        self.assertRegex(tagged, r'^a\d+ NO \[OVERQUOTA\] ')
        # LIST-STATUS carries it too
        lines = self.ok(b.cmd('LIST "" INBOX RETURN (STATUS (APPENDLIMIT))'))
        self.assertIn('* STATUS "INBOX" (APPENDLIMIT %d)' % (20 * 1024),
                      lines)
        # a grantee sees the owner's limit on the owner's mailbox
        self.ok(b.cmd('CREATE Drop'))
        alice = self.limited_user()
        self.ok(b.cmd('SETACL Drop %s lri' % alice[0]))
        a = self.connect(alice)
        name = 'Other Users/%s/Drop' % bob[0]
        self.assertEqual(self.status(a, name, 'APPENDLIMIT'),
                         {'APPENDLIMIT': 20 * 1024})
        self.assertEqual(self.status(a, 'INBOX', 'APPENDLIMIT'),
                         {'APPENDLIMIT': max_message})


class OverQuota(QuotaCase):
    def trace(self, c, mbox='INBOX'):
        """What a refused change must not alter."""
        return (self.quota(c), self.status(c, mbox),
                self.quota_check(self.user_name))

    def user_at(self, storage=None, messages=None):
        user = self.limited_user(storage, messages)
        self.user_name = user[0]
        return self.connect(user)

    def test_append_over_storage_leaves_no_trace(self):
        c = self.user_at(storage=4)
        self.ok(c.append('INBOX', sized(3000)))
        before = self.trace(c)
        tagged, _ = c.append('INBOX', sized(1200, 'too much'))
        self.assertRegex(tagged, r'^a\d+ NO \[OVERQUOTA\] ')
        self.assertEqual(self.trace(c), before)
        self.select(c, 'INBOX')
        self.assertEqual(self.ok(c.cmd('SEARCH SUBJECT "too much"')),
                         ['* SEARCH'])
        # exactly at the limit is still allowed
        self.ok(c.append('INBOX', sized(4096 - 3000, 'fits')))
        self.assertEqual(self.quota(c), {'STORAGE': (4, 4)})

    def test_append_over_message_limit_leaves_no_trace(self):
        c = self.user_at(messages=2)
        self.ok(c.append('INBOX', sized(500)))
        self.ok(c.append('INBOX', sized(500)))
        before = self.trace(c)
        tagged, _ = c.append('INBOX', sized(500), literal_plus=True)
        self.assertRegex(tagged, r'^a\d+ NO \[OVERQUOTA\] ')
        self.assertEqual(self.trace(c), before)

    def test_multiappend_over_quota_stores_none(self):
        c = self.user_at(messages=3)
        self.ok(c.append('INBOX', sized(500)))
        before = self.trace(c)
        tagged, _ = self.multiappend(c, 'INBOX', [sized(400, 'm%d' % i)
                                                  for i in range(3)])
        self.assertRegex(tagged, r'^a\d+ NO \[OVERQUOTA\] ')
        self.assertEqual(self.trace(c), before)
        tagged, _ = self.multiappend(c, 'INBOX', [sized(400, 'm%d' % i)
                                                  for i in range(2)])
        self.assertRegex(tagged, r'^a\d+ OK \[APPENDUID \d+ 2:3\] ')

    def test_copy_over_quota_leaves_no_trace(self):
        c = self.user_at(storage=8)
        self.ok(c.cmd('CREATE Archive'))
        for i in range(2):
            self.ok(c.append('INBOX', sized(2500, 'c%d' % i)))
        before = self.trace(c, 'Archive')
        self.select(c, 'INBOX')
        tagged, _ = c.cmd('COPY 1:2 Archive')
        self.assertRegex(tagged, r'^a\d+ NO \[OVERQUOTA\] ')
        tagged, _ = c.cmd('UID COPY 1:* Archive')
        self.assertRegex(tagged, r'^a\d+ NO \[OVERQUOTA\] ')
        self.assertEqual(self.trace(c, 'Archive'), before)
        # one of them fits
        self.assertRegex(c.cmd('COPY 1 Archive')[0],
                         r'^a\d+ OK \[COPYUID \d+ 1 1\] ')

    def test_cleanup_works_over_quota(self):
        user = self.limited_user(messages=10)
        self.user_name = user[0]
        c = self.connect(user)
        self.ok(c.cmd('CREATE Old'))
        for i in range(4):
            self.ok(c.append('INBOX', sized(1000, 'i%d' % i)))
        for i in range(2):
            self.ok(c.append('Old', sized(1000, 'o%d' % i)))
        a = self.admin()
        self.ok(a.cmd('SETQUOTA %s (MESSAGE 1 STORAGE 1)' %
                      quote('user/' + user[0])))
        self.assertEqual(self.quota(c), {'STORAGE': (6, 1), 'MESSAGE': (6, 1)})
        self.select(c, 'INBOX')
        # COPY would grow usage: refused
        self.assertRegex(c.cmd('COPY 1 Trash')[0], r'^a\d+ NO \[OVERQUOTA\] ')
        # "delete" as clients do it: MOVE to Trash
        tagged, untagged = c.cmd('MOVE 1 Trash')
        self.assertRegex(tagged, r'^a\d+ OK ')
        self.assertIn('* 1 EXPUNGE', untagged)
        self.assertEqual(self.quota(c), {'STORAGE': (6, 1), 'MESSAGE': (6, 1)})
        self.assertRegex(c.cmd('UID MOVE 2 Trash')[0], r'^a\d+ OK ')
        self.assertEqual(self.status(c, 'Trash')['MESSAGES'], 2)
        # EXPUNGE
        self.ok(c.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)'))
        self.assertIn('* 1 EXPUNGE', self.ok(c.cmd('EXPUNGE')))
        self.assertEqual(self.quota(c)['MESSAGE'], (5, 1))
        # CLOSE expunges too
        self.select(c, 'Trash')
        self.ok(c.cmd('STORE 1:* +FLAGS.SILENT (\\Deleted)'))
        self.ok(c.cmd('CLOSE'))
        self.assertEqual(self.quota(c)['MESSAGE'], (3, 1))
        # DELETE of a mailbox with mail
        self.ok(c.cmd('DELETE Old'))
        self.assertEqual(self.quota(c), {'STORAGE': (1, 1), 'MESSAGE': (1, 1)})
        # still full: nothing new comes in
        self.assertRegex(c.append('INBOX', sized(500))[0],
                         r'^a\d+ NO \[OVERQUOTA\] ')
        self.quota_check(user[0])


class Exactness(QuotaCase):
    def test_usage_exact_after_mixed_workload(self):
        user = self.limited_user(storage=1000000, messages=100000)
        name = user[0]
        c = self.connect(user)
        sizes = iter([517, 2048, 70001, 1024, 333, 9000, 4097, 800, 1200,
                      650, 12345, 777])

        def add(mbox, n=1):
            for _ in range(n):
                self.ok(c.append(mbox, sized(next(sizes))))

        add('INBOX', 4)
        for m in ('A', 'B/C', 'P/Q'):
            self.ok(c.cmd('CREATE %s' % m))
        tagged, _ = self.multiappend(c, 'A', [sized(next(sizes)),
                                              sized(next(sizes))])
        self.assertRegex(tagged, r'^a\d+ OK ')
        add('P', 1)
        add('P/Q', 1)
        self.select(c, 'INBOX')
        self.ok(c.cmd('COPY 1:2 A'))
        self.ok(c.cmd('UID COPY 3 B/C'))
        self.ok(c.cmd('MOVE 1 B'))
        self.ok(c.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)'))
        self.ok(c.cmd('EXPUNGE'))
        self.select(c, 'A')
        self.ok(c.cmd('STORE 2 +FLAGS.SILENT (\\Deleted)'))
        self.ok(c.cmd('CLOSE'))
        self.ok(c.cmd('DELETE B/C'))
        self.ok(c.cmd('DELETE P'))       # keeps P/Q, P's mail goes
        self.ok(c.cmd('RENAME A A2'))
        self.ok(c.cmd('RENAME INBOX Old'))
        add('INBOX', 2)
        self.select(c, 'A2')
        self.ok(c.cmd('COPY 1:* INBOX'))
        self.ok(c.cmd('UNSELECT'))

        msgs = self.messages_everywhere(c)
        total = sum(s for _, s in msgs)
        self.assertEqual(self.quota(c), {'STORAGE': (kib(total), 1000000),
                                         'MESSAGE': (len(msgs), 100000)})
        self.assertEqual(self.ctl_quota(name), (kib(total), len(msgs)))
        self.assertEqual(self.quota_check(name), (total, len(msgs)))
        # every user of the instance: no drift anywhere
        out = self.server.ctl('quota-check').stdout
        self.assertNotIn('DRIFT', out)
        self.assertIn('%s: ok (%d bytes, %d messages)' % (name, total,
                                                         len(msgs)), out)


class Drift(QuotaCase):
    def test_quota_check_reports_a_corrupted_counter(self):
        user = self.limited_user(storage=1000)
        c = self.connect(user)
        for n in (1000, 2000):
            self.ok(c.append('INBOX', sized(n)))
        self.assertEqual(self.quota_check(user[0]), (3000, 2))
        c.close()
        self.server.stop()
        db = os.path.join(self.server.data_dir, 'users', user[0], 'store.db')
        st = os.stat(db)
        conn = sqlite3.connect(db)
        with conn:
            conn.execute('UPDATE quota_usage SET storage = 123, messages = 7')
        conn.close()
        for side in ('-wal', '-shm'):
            if os.path.exists(db + side):
                os.chown(db + side, st.st_uid, st.st_gid)
        out = self.server.ctl('quota-check').stdout
        self.assertIn('%s: DRIFT: kept 123 bytes / 7 messages, actual 3000 '
                      'bytes / 2 messages (corrected)' % user[0], out)
        self.assertIn('1 user had drifted; counters corrected', out)
        # corrected: the next check is clean, and the server agrees
        self.assertEqual(self.quota_check(user[0]), (3000, 2))
        self.server.start()
        c = self.connect(user)
        self.assertEqual(self.quota(c), {'STORAGE': (3, 1000)})


if __name__ == '__main__':
    unittest.main(verbosity=2)
