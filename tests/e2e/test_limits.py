"""test_limits.py - bounds on what crosses a process boundary, and what
happens when one is hit (issue 9, items 3 and 8).

  A user who shares 300 mailboxes with 1 KiB names with "anyone" (and
      one with a name of the largest size) leaves every other user's
      LIST working and their sessions alive: the master's list of shares
      travels in pages, never as one message larger than a socket takes.
  SETACL beyond acl_max_entries_per_mailbox / acl_max_shares_per_user
      answers NO [LIMIT] and changes nothing.
  Fail closed: a share index that cannot be written makes SETACL answer
      NO with the owner's ACL as it was; an audit row that cannot be
      written refuses PROXYAUTH and LOGIN target*admin.
  Reserved and colliding names: useradd refuses "anyone", "anonymous";
      a mail_uid_base whose users' uids are taken by system accounts
      stops the master from starting and useradd from adding.
  Strings from clients reach the log with control characters escaped.

Python 3 standard library only; run by meson (MK_BUILD_DIR)."""
import base64
import os
import pwd
import re
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Closed, Server  # noqa: E402
from mkimap import ImapCase, parse, quote  # noqa: E402

ADMIN = ('root-admin', 'secret-root-admin')


def shared(owner, mbox):
    return 'Other Users/%s/%s' % (owner, mbox)


class Case(ImapCase):
    def listed(self, c, pattern='*'):
        out = {}
        for line in self.ok(c.cmd('LIST "" %s' % quote(pattern),
                                  timeout=30)):
            toks = parse(line)
            name = toks[4]      # a long name comes as a literal
            out[name.decode() if isinstance(name, bytes) else name] = toks[2]
        return out

    def alive(self, c):
        self.ok(c.cmd('NOOP'))

    def directory(self):
        """A connection to the live directory (the master holds it open
        in WAL mode; a trigger added here applies to its next write)."""
        db = sqlite3.connect(os.path.join(self.server.data_dir,
                                          'directory.db'), timeout=10)
        self.addCleanup(db.close)
        return db


class ShareFlood(Case):
    def test_300_long_shares_leave_others_working(self):
        owner = self.new_user()
        a = self.connect(owner)
        names = ['F%03d-%s' % (i, 'x' * 1015) for i in range(300)]
        for n in names:
            self.ok(a.cmd('CREATE %s' % quote(n)))
            self.ok(a.cmd('SETACL %s anyone lr' % quote(n)))
        # two other users, each with two sessions
        for _ in range(2):
            user = self.new_user()
            c1, c2 = self.connect(user), self.connect(user)
            lst = self.listed(c1)
            got = sorted(k for k in lst if k.startswith(
                shared(owner[0], '')))
            self.assertEqual(got, sorted(shared(owner[0], n) for n in names))
            self.alive(c1)
            self.alive(c2)
            # a pattern that needs the whole list too, from the other one
            self.assertIn(shared(owner[0], names[-1]),
                          self.listed(c2, 'Other Users/*'))
            self.alive(c1)
        self.alive(a)
        self.assertNotIn('closed its channel', self.server.logtext())


class LongestName(Case):
    def test_one_share_with_the_longest_name(self):
        owner = self.new_user()
        a = self.connect(owner)
        longest = 'L' + 'y' * 1022              # MK_MBOX_NAME_MAX - 1
        self.ok(a.cmd('CREATE %s' % quote(longest)))
        self.assertRegex(a.cmd('CREATE %s' % quote(longest + 'z'))[0],
                         r'^a\d+ NO ')
        self.ok(a.cmd('SETACL %s anyone lr' % quote(longest)))
        reader = self.new_user()
        b, b2 = self.connect(reader), self.connect(reader)
        self.assertIn(shared(owner[0], longest), self.listed(b))
        st = self.ok(b.cmd('STATUS %s (MESSAGES)' %
                           quote(shared(owner[0], longest))))
        self.assertEqual(len(st), 1)
        self.alive(b2)


class AclLimits(Case):
    config = {'acl_max_entries_per_mailbox': 3,
              'acl_max_shares_per_user': 5}

    def test_entries_per_mailbox(self):
        owner = self.new_user()
        a = self.connect(owner)
        others = [self.new_user()[0] for _ in range(4)]
        self.ok(a.cmd('CREATE Team'))
        for o in others[:3]:
            self.ok(a.cmd('SETACL Team %s lr' % o))
        r = a.cmd('SETACL Team %s lr' % others[3])
        self.assertRegex(r[0], r'^a\d+ NO \[LIMIT\] ')
        acl = self.ok(a.cmd('GETACL Team'))[0]
        self.assertNotIn(others[3], acl)
        # changing or removing an existing entry is not a new one
        self.ok(a.cmd('SETACL Team %s lrs' % others[0]))
        self.ok(a.cmd('DELETEACL Team %s' % others[1]))
        self.ok(a.cmd('SETACL Team %s lr' % others[3]))
        self.alive(a)

    def test_shares_per_user(self):
        owner = self.new_user()
        a = self.connect(owner)
        grantee = self.new_user()[0]
        for i in range(5):
            self.ok(a.cmd('CREATE S%d' % i))
            self.ok(a.cmd('SETACL S%d %s lr' % (i, grantee)))
        self.ok(a.cmd('CREATE S5'))
        r = a.cmd('SETACL S5 anyone lr')
        self.assertRegex(r[0], r'^a\d+ NO \[LIMIT\] ')
        self.assertNotIn('anyone', self.ok(a.cmd('GETACL S5'))[0])
        b = self.connect((grantee, 'pw-' + grantee))
        got = [k for k in self.listed(b) if k.startswith('Other Users/')
               and k.count('/') == 2]
        self.assertEqual(len(got), 5, got)


class IndexFailClosed(Case):
    def test_setacl_is_refused_when_the_index_cannot_be_written(self):
        owner = self.new_user()
        a = self.connect(owner)
        bob = self.new_user()
        self.ok(a.cmd('CREATE Proj'))
        self.ok(a.cmd('SETACL Proj %s lr' % bob[0]))
        db = self.directory()
        db.executescript(
            'CREATE TRIGGER no_share_ins BEFORE INSERT ON shares BEGIN '
            "SELECT RAISE(ABORT, 'test: index unwritable'); END;"
            'CREATE TRIGGER no_share_del BEFORE DELETE ON shares BEGIN '
            "SELECT RAISE(ABORT, 'test: index unwritable'); END;")
        try:
            r = a.cmd('SETACL Proj %s lrswi' % bob[0])
            self.assertRegex(r[0], r'^a\d+ NO ')
            r = a.cmd('SETACL Proj anyone lr')
            self.assertRegex(r[0], r'^a\d+ NO ')
            r = a.cmd('DELETEACL Proj %s' % bob[0])
            self.assertRegex(r[0], r'^a\d+ NO ')
            # the owner's ACL is what the index still says
            acl = parse(self.ok(a.cmd('GETACL Proj'))[0])
            self.assertEqual(dict(zip(acl[3::2], acl[4::2])),
                             {owner[0]: 'lrswipkxtecda', bob[0]: 'lr'})
        finally:
            db.executescript('DROP TRIGGER no_share_ins;'
                             'DROP TRIGGER no_share_del;')
        self.alive(a)
        rows = db.execute('SELECT grantee, rights FROM shares s JOIN users u'
                          ' ON u.id = s.owner_id WHERE u.name = ?',
                          (owner[0],)).fetchall()
        self.assertEqual(rows, [(bob[0], 'lr')])
        self.ok(a.cmd('SETACL Proj %s lrs' % bob[0]))


class AuditFailClosed(Case):
    config = {'impersonation_separator': '*'}

    @classmethod
    def setUpClass(cls):
        cls.server = Server(admins=[ADMIN[0]], config=cls.config)

    def audit_rows(self, db):
        return db.execute('SELECT admin, target FROM audit').fetchall()

    def test_impersonation_refused_without_audit_row(self):
        target = self.new_user()
        db = self.directory()
        before = self.audit_rows(db)
        db.execute("CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN "
                   "SELECT RAISE(ABORT, 'test: audit unwritable'); END")
        db.commit()
        try:
            # PROXYAUTH: NO before anything moves; the admin's session
            # goes on as the admin's
            adm = self.connect(ADMIN)
            r = adm.cmd('PROXYAUTH %s' % target[0])
            self.assertRegex(r[0], r'^a\d+ NO \[UNAVAILABLE\] .*audit')
            self.alive(adm)
            self.assertNotIn('continues as %s' % target[0],
                             self.server.logtext())
            # LOGIN target*admin: NO, no session
            c = self.server.client()
            self.addCleanup(c.close)
            r = c.cmd('LOGIN %s %s' % (quote(target[0] + '*' + ADMIN[0]),
                                       quote(ADMIN[1])))
            self.assertRegex(r[0], r'^a\d+ NO \[UNAVAILABLE\] .*audit')
            try:
                r = c.cmd('SELECT INBOX')
                self.assertNotRegex(r[0], r'^a\d+ OK ')
            except (Closed, OSError):
                pass
            # AUTHENTICATE PLAIN with an authorization identity: the same
            raw = ('%s\0%s\0%s' % (target[0], ADMIN[0], ADMIN[1])).encode()
            c = self.server.client()
            self.addCleanup(c.close)
            r = c.cmd('AUTHENTICATE PLAIN %s' %
                      base64.b64encode(raw).decode())
            self.assertRegex(r[0], r'^a\d+ NO \[UNAVAILABLE\] ')
            # no process was started for the target
            log = self.server.logtext()
            self.assertNotIn('serving %s ' % target[0], log)
            self.assertNotRegex(log, r'session \S+: user=%s ' % target[0])
        finally:
            db.execute('DROP TRIGGER no_audit')
            db.commit()
        self.assertEqual(self.audit_rows(db), before)
        # with the trail writable again, the same session may retry: it
        # works and is recorded
        self.ok(adm.cmd('PROXYAUTH %s' % target[0]))
        self.assertEqual(len(self.audit_rows(db)), len(before) + 1)


class HugeFields(Case):
    """Lines and literals may be larger than an IPC message; the fields
    that travel to another process are capped where they enter."""
    config = {'max_preauth_line': '1M', 'max_line': '1M',
              'max_literal': '1M'}

    def send_literal(self, c, head, data, tail=b''):
        tag = c.next_tag()
        c.send(b'%s %s {%d}\r\n' % (tag.encode(), head, len(data)))
        line = c.readline()
        if not line.startswith('+'):
            return line, []
        c.send(data + tail + b'\r\n')
        return c.read_until_tagged(tag, timeout=20)

    def test_huge_password_is_refused_not_crashed(self):
        user = self.new_user()
        c = self.server.client(timeout=20)
        self.addCleanup(c.close)
        r = self.send_literal(c, b'LOGIN %s' % user[0].encode(),
                              b'p' * (300 * 1024))
        self.assertRegex(r[0], r'^a\d+ NO \[AUTHENTICATIONFAILED\]')
        self.ok(c.cmd('NOOP'))
        self.ok(c.login(*user))

    def test_huge_proxyauth_name_is_refused(self):
        user = self.new_user()
        c, other = self.connect(user), self.connect(user)
        r = self.send_literal(c, b'PROXYAUTH', b'u' * (300 * 1024))
        self.assertRegex(r[0], r'^a\d+ (NO|BAD) ')
        self.alive(c)
        self.alive(other)


class Names(unittest.TestCase):
    def test_reserved_names_refused(self):
        with Server(start=False) as s:
            for name in ('anyone', 'Anyone', 'anonymous'):
                p = s.ctl('useradd', name, '--password-stdin',
                          stdin='pw\n', check=False)
                self.assertNotEqual(p.returncode, 0, name)
                self.assertIn('reserved', p.stderr + p.stdout)
            s.ctl('useradd', 'anyone2', '--password-stdin', stdin='pw\n')

    def test_separator_that_is_a_name_character_refused(self):
        for sep in ('.', '-', 'a', '@'):
            with Server(start=False,
                        config={'impersonation_separator': sep}) as s:
                p = s.ctl('useradd', 'x1', '--password-stdin', stdin='pw\n',
                          check=False)
                self.assertNotEqual(p.returncode, 0, sep)
                self.assertIn('impersonation_separator', p.stderr)

    def test_mail_uid_base_below_1000_refused(self):
        with Server(start=False, config={'mail_uid_base': 999}) as s:
            p = s.ctl('users', check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('mail_uid_base', p.stderr)
            with self.assertRaises(RuntimeError):
                s.start(timeout=10)
            s.proc = None
            s.log.close()

    def test_uid_range_collision(self):
        # the first user's id is 1: base + 1 is the uid of "nobody"
        nobody = pwd.getpwnam('nobody').pw_uid
        with Server(start=False) as s:
            s.ctl('useradd', 'u1', '--password-stdin', stdin='pw\n')
        with Server(start=False,
                    config={'mail_uid_base': nobody - 2}) as s:
            # id 1 -> nobody - 1: free on Debian; id 2 -> nobody
            s.ctl('useradd', 'u1', '--password-stdin', stdin='pw\n')
            p = s.ctl('useradd', 'u2', '--password-stdin', stdin='pw\n',
                      check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('nobody', p.stderr)
            self.assertNotIn('u2', s.ctl('users').stdout)
        with Server(start=False) as s:
            s.ctl('useradd', 'u1', '--password-stdin', stdin='pw\n')
            s.ctl('useradd', 'u2', '--password-stdin', stdin='pw\n')
            with open(s.conf, 'a') as f:
                f.write('mail_uid_base = %d\n' % (nobody - 2))
            with self.assertRaises(RuntimeError) as cm:
                s.start(timeout=10)
            s.proc = None       # it exited: nothing to stop
            s.log.close()
            self.assertIn('belongs to the system account nobody',
                          str(cm.exception))


class LogEscaping(Case):
    config = {'verbose': 1}

    def test_control_characters_never_reach_the_log(self):
        c = self.connect()
        evil = b'\x1b[2J\x07x\ry\x7f\x00'[:-1]
        tag = c.next_tag()
        c.send(b'%s ID ("name" {%d}\r\n' % (tag.encode(), len(evil)))
        line = c.readline()
        self.assertTrue(line.startswith('+'), line)
        c.send(evil + b')\r\n')
        self.ok(c.read_until_tagged(tag))
        tag = c.next_tag()
        c.send(b'%s CREATE {%d}\r\n' % (tag.encode(), len(evil)))
        line = c.readline()
        if line.startswith('+'):
            c.send(evil + b'\r\n')
            r = c.read_until_tagged(tag)
        else:
            r = (line, [])
        self.assertRegex(r[0], r'^a\d+ (NO|BAD) ')
        self.alive(c)
        with open(self.server.logpath, 'rb') as f:
            log = f.read()
        self.assertIn(b'\\x1b[2J\\x07x\\x0dy\\x7f', log)
        self.assertIsNone(re.search(rb'[\x00-\x08\x0b-\x1f\x7f]', log))


if __name__ == '__main__':
    unittest.main(verbosity=2)
