"""test_import.py - mailkeepctl import (issue 13, item 2; doc/migration.md).

  a Maildir++ tree written the way Dovecot writes it (dovecot-uidlist
      version 3 with extension fields, dovecot-keywords, a version 2
      subscriptions file, files in new/ and cur/, one the uidlist does
      not know yet), compared message by message over IMAP: bodies
      byte-exact (CRLF), flags, keywords, internal dates (the files'
      mtimes), UIDVALIDITY and UIDs kept, subscriptions; a second run
      imports nothing; as root the tree belongs to another uid and is
      read as that uid (a root-only file in it stays out), and a
      symbolic link in it or in the path is never followed; a folder
      whose name cannot be a mailbox here is left out and listed;
  a message caught moving from new/ to cur/ comes once;
  a tree made by the real Dovecot (doveadm save / flags / subscribe),
      when doveadm is installed (skipped otherwise);
  an mbox file (>From unescaping, Status/X-Status/X-Keywords flags,
      From_ line dates, the mbox's own headers removed) while a session
      of the user idles in INBOX and is told EXISTS; a directory of mbox
      files with a subfolder and .subscriptions;
  an IMAP account on a second Mailkeep instance: folders, flags,
      keywords, internal dates, subscriptions, UIDVALIDITY and UIDs;
      the password only on standard input; imaps:// and STARTTLS with
      the certificate checked; a real Dovecot IMAP server (when
      installed) with Courier's "INBOX." namespace and "." separator;
  resume: an import killed (SIGKILL, the whole process group) midway,
      then run again: every message once, none missing;
  quota: what does not fit is listed and the exit status is 7; after
      the quota is raised the same import brings the rest; a message
      over max_message is left out the same way;
  progress: plain lines without a terminal, a bar on one (a pty).

Python 3 standard library only; run by meson (MK_BUILD_DIR)."""
import calendar
import os
import pty
import pwd
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Server, ctl_path, is_root  # noqa: E402
from mkimap import ImapCase, fetch_map, parse, quote  # noqa: E402

DOVEADM = shutil.which('doveadm')


def crlf(data):
    """What the store keeps of a message: every line end CRLF."""
    return re.sub(rb'\r?\n', b'\r\n', data)


def imap_epoch(s):
    """INTERNALDATE "dd-Mon-yyyy hh:mm:ss +zzzz" -> seconds (UTC)."""
    t = time.strptime(s[:20], '%d-%b-%Y %H:%M:%S')
    sign = 1 if s[21] == '+' else -1
    off = sign * (int(s[22:24]) * 3600 + int(s[24:26]) * 60)
    return calendar.timegm(t) - off


def dump(server, user, pw):
    """Everything a client sees: {'folders': {name: {'uidvalidity': n,
    'msgs': {uid: (flags, internaldate, body)}}}, 'subs': set}."""
    c = server.client(login=(user, pw), timeout=30)
    try:
        out = {'folders': {}, 'subs': set()}
        _, lines = c.cmd('LIST "" "*"')
        names = []
        for l in lines:
            if l.startswith('* LIST '):
                t = parse(l)
                if '\\Noselect' not in t[2]:
                    names.append(t[4])
        _, lines = c.cmd('LSUB "" "*"')
        for l in lines:
            if l.startswith('* LSUB '):
                out['subs'].add(parse(l)[4])
        for name in names:
            _, lines = c.cmd('EXAMINE %s' % quote(name))
            uv = [int(re.search(r'UIDVALIDITY (\d+)', l).group(1))
                  for l in lines if 'UIDVALIDITY' in l][0]
            tag = c.next_tag()
            c.send('%s UID FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[])'
                   '\r\n' % tag)
            _, blines = c.read_until_tagged_bytes(tag, timeout=30)
            msgs = {}
            for d in fetch_map(blines).values():
                msgs[int(d['UID'])] = (
                    set(f for f in d['FLAGS'] if f != '\\Recent'),
                    d['INTERNALDATE'], d['BODY[]'])
            out['folders'][name] = {'uidvalidity': uv, 'msgs': msgs}
        return out
    finally:
        c.close()


def run_import(server, user, source, stdin=None, extra=(), env=None):
    cmd = [ctl_path(), '-c', server.conf, 'import', user, source] + \
        list(extra)
    e = dict(os.environ)
    e.pop('MAILKEEP_CONF', None)
    e.update(env or {})
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                          env=e, timeout=300)


def other_uid():
    """An unprivileged uid that is not one of the instance's."""
    return pwd.getpwnam('nobody').pw_uid, pwd.getpwnam('nobody').pw_gid


def chown_tree(top, uid, gid):
    for d, dirs, files in os.walk(top):
        os.lchown(d, uid, gid)
        for f in files:
            os.lchown(os.path.join(d, f), uid, gid)


class Maildir:
    """A Maildir++ tree in the layout and file formats of Dovecot 2.3."""
    counter = 0

    def __init__(self, top):
        self.top = top
        self.folders = {}   # name -> dict
        self.subs = []

    def folder(self, name, uidvalidity, keywords=()):
        path = self.top if name == 'INBOX' else os.path.join(
            self.top, '.' + name.replace('/', '.'))
        for sub in ('cur', 'new', 'tmp'):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        if name != 'INBOX':
            open(os.path.join(path, 'maildirfolder'), 'w').close()
        self.folders[name] = {'path': path, 'uv': uidvalidity, 'msgs': [],
                              'kw': list(keywords), 'next': 1}
        return self

    def add(self, name, body, flags='', uid=True, new=False, mtime=None):
        """A message; flags are Maildir info letters ('FS', 'Sab')."""
        f = self.folders[name]
        Maildir.counter += 1
        base = '%d.M%dP%d.mkhost,S=%d,W=%d' % (
            1700000000 + Maildir.counter, Maildir.counter, 4242, len(body),
            len(crlf(body)))
        fn = base + (':2,' + flags if (flags or not new) else '')
        path = os.path.join(f['path'], 'new' if new else 'cur', fn)
        with open(path, 'wb') as fh:
            fh.write(body)
        mtime = mtime or (1600000000 + Maildir.counter * 3600)
        os.utime(path, (mtime, mtime))
        u = None
        if uid:
            u = f['next'] + (2 if Maildir.counter % 3 == 0 else 0)
            f['next'] = u + 1
        f['msgs'].append({'base': base, 'uid': u, 'flags': flags,
                          'body': body, 'mtime': mtime, 'path': path})
        return self

    def write(self):
        for name, f in self.folders.items():
            lines = ['3 V%d N%d G%032x' % (f['uv'], f['next'], f['uv'])]
            for i, m in enumerate(f['msgs']):
                if m['uid'] is not None:
                    ext = ' W%d' % len(crlf(m['body'])) if i % 2 else ''
                    lines.append('%d%s :%s' % (m['uid'], ext, m['base']))
            with open(os.path.join(f['path'], 'dovecot-uidlist'), 'w') as fh:
                fh.write('\n'.join(lines) + '\n')
            if f['kw']:
                with open(os.path.join(f['path'], 'dovecot-keywords'),
                          'w') as fh:
                    for i, k in enumerate(f['kw']):
                        fh.write('%d %s\n' % (i, k))
        with open(os.path.join(self.top, 'subscriptions'), 'w') as fh:
            fh.write('V\t2\n\n')
            for s in self.subs:
                fh.write(s.replace('/', '\t') + '\n')

    def expected_flags(self, name, m):
        kw = self.folders[name]['kw']
        out = set()
        for ch in m['flags']:
            if ch in 'DFRST':
                out.add({'D': '\\Draft', 'F': '\\Flagged', 'R': '\\Answered',
                         'S': '\\Seen', 'T': '\\Deleted'}[ch])
            elif 'a' <= ch <= 'z' and ord(ch) - 97 < len(kw):
                out.add(kw[ord(ch) - 97])
        return out


def body(n, extra=''):
    return ('From: Old Server <old@example.org>\nTo: alice@example.org\n'
            'Subject: message %d\nMessage-ID: <m%d@example.org>\n\n'
            'Line one of %d.%s\nLine two.\n' % (n, n, n, extra)).encode()


class ImportCase(ImapCase):

    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.tmp = tempfile.mkdtemp(prefix='mk-import-')
        os.chmod(cls.tmp, 0o755)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def mkdir(self, name):
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        return d

    def import_ok(self, user, source, **kw):
        p = run_import(self.server, user, source, **kw)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p

    # ---- Maildir, the way Dovecot writes it ----

    def make_maildir(self, top):
        md = Maildir(top)
        md.folder('INBOX', 1500000001, ['$Forwarded', 'NonJunk', 'Work'])
        md.folder('Work', 1500000002)
        md.folder('Work/Sub', 1500000003, ['$Label1'])
        md.add('INBOX', body(1), 'FS')
        md.add('INBOX', body(2, ' >From here\n>From there'), 'RSab')
        md.add('INBOX', body(3), 'S', new=False)
        md.add('INBOX', body(4), '', new=True)
        md.add('INBOX', body(5), 'DTc')
        md.add('INBOX', body(6), 'S', uid=False)   # not yet in the uidlist
        md.add('Work/Sub', body(7), 'a')
        md.add('Work/Sub', body(8).replace(b'\n', b'\r\n'), 'S')
        md.subs = ['INBOX', 'Work/Sub']
        md.write()
        # caught moving from new/ to cur/ by a running server: the cur/
        # name (with its flags) is the one imported, once
        moving = md.folders['INBOX']['msgs'][3]
        cur = os.path.join(top, 'cur', moving['base'] + ':2,S')
        shutil.copy2(moving['path'], cur)
        moving['flags'] = 'S'
        return md

    def check_maildir(self, md, got, keep_uids=True):
        for name, f in md.folders.items():
            self.assertIn(name, got['folders'])
            g = got['folders'][name]
            self.assertEqual(g['uidvalidity'], f['uv'], name)
            self.assertEqual(len(g['msgs']), len(f['msgs']), name)
            by_body = {v[2]: (uid, v) for uid, v in g['msgs'].items()}
            for m in f['msgs']:
                uid, (flags, date, data) = by_body[crlf(m['body'])]
                self.assertEqual(flags, md.expected_flags(name, m),
                                 (name, m['flags']))
                self.assertEqual(imap_epoch(date), m['mtime'])
                if m['uid'] is not None and keep_uids:
                    self.assertEqual(uid, m['uid'], name)
                else:
                    # after the source's UIDNEXT: no client saw it
                    self.assertGreaterEqual(uid, f['next'])
        self.assertTrue({'INBOX', 'Work/Sub'} <= got['subs'], got['subs'])
        self.assertNotIn('Work', got['subs'])

    def test_maildir_dovecot_layout(self):
        user, pw = self.new_user()
        top = self.mkdir('md1')
        md = self.make_maildir(top)
        # a link to a file outside, which must never be read
        os.symlink('/etc/passwd', os.path.join(top, 'cur',
                                               '1.M1P1.evil:2,S'))
        if is_root():
            chown_tree(top, *other_uid())
            # root's own file in the user's tree: the reader (as the
            # owner) cannot read it, so it cannot come along
            secret = os.path.join(top, 'cur', '1999999999.M1P1.x:2,S')
            with open(secret, 'wb') as fh:
                fh.write(b'Subject: root only\n\nsecret\n')
            os.chmod(secret, 0o600)
        p = self.import_ok(user, top)
        self.assertIn('a symbolic link', p.stderr)
        self.assertIn('a second name of one message', p.stderr)
        got = dump(self.server, user, pw)
        self.check_maildir(md, got)
        for f in got['folders'].values():
            for (_, _, data) in f['msgs'].values():
                self.assertNotIn(b'root:', data)
                self.assertNotIn(b'secret', data)
        # a second run finds everything done and changes nothing
        p = self.import_ok(user, top)
        self.assertRegex(p.stdout, r'0 messages to import, 8 already')
        self.assertEqual(dump(self.server, user, pw), got)

    def test_folder_name_refused(self):
        user, pw = self.new_user()
        top = self.mkdir('badname')
        md = Maildir(top).folder('INBOX', 1500000300)
        md.folder('Bad%Name', 1500000301)
        md.add('INBOX', body(1), 'S')
        md.add('Bad%Name', body(2), 'S')
        md.write()
        p = run_import(self.server, user, top)
        self.assertEqual(p.returncode, 7, p.stdout + p.stderr)
        self.assertIn("Bad%Name: ", p.stdout)
        self.assertIn("cannot be a mailbox name here", p.stdout)
        got = dump(self.server, user, pw)['folders']
        self.assertEqual(len(got['INBOX']['msgs']), 1)
        self.assertNotIn('Bad%Name', got)

    def test_symlink_in_path_refused(self):
        user, _ = self.new_user()
        top = self.mkdir('md-real')
        self.make_maildir(top)
        link = os.path.join(self.tmp, 'md-link')
        os.symlink(top, link)
        p = run_import(self.server, user, link)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn('symbolic link', p.stderr)
        p = run_import(self.server, user, os.path.join(link, 'cur'))
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)

    @unittest.skipUnless(DOVEADM, 'doveadm (dovecot-core) is not installed')
    def test_maildir_real_dovecot(self):
        user, pw = self.new_user()
        home = self.mkdir('dovecot-home')
        uid, gid = other_uid() if is_root() else (os.getuid(), os.getgid())
        os.chown(home, uid, gid)
        conf = os.path.join(self.tmp, 'dovecot.conf')
        with open(conf, 'w') as fh:
            fh.write('base_dir = %s/dv-run\nssl = no\n'
                     'namespace inbox {\n  inbox = yes\n  separator = /\n}\n'
                     % self.tmp)
        env = dict(os.environ, HOME=home, USER=pwd.getpwuid(uid).pw_name)
        dv = [DOVEADM, '-c', conf, '-o', 'mail_location=maildir:~/Maildir',
              '-o', 'mail_uid=%d' % uid, '-o', 'mail_gid=%d' % gid,
              '-o', 'first_valid_uid=%d' % min(uid, 1), '-o',
              'first_valid_gid=%d' % min(gid, 1)]

        def doveadm(*args, data=None):
            r = subprocess.run(dv + list(args), input=data, env=env,
                               capture_output=True, timeout=60)
            if r.returncode != 0:
                self.skipTest('doveadm failed: %r' % r.stderr)
            return r.stdout.decode()
        msgs = {'INBOX': [body(i) for i in range(1, 5)],
                'Work/Sub': [body(i) for i in range(5, 7)]}
        doveadm('mailbox', 'create', 'Work/Sub')
        for box, bodies in msgs.items():
            for b in bodies:
                doveadm('save', '-m', box, data=b)
        doveadm('flags', 'add', '\\Seen $Forwarded NonJunk', 'mailbox',
                'INBOX', 'uid', '1:2')
        doveadm('flags', 'add', '\\Flagged', 'mailbox', 'INBOX', 'uid', '2')
        doveadm('flags', 'add', '\\Answered $Label1', 'mailbox', 'Work/Sub',
                'all')
        doveadm('mailbox', 'subscribe', 'Work/Sub')
        want = {}
        for box in msgs:
            uv = int(re.search(r'uidvalidity=(\d+)', doveadm(
                'mailbox', 'status', 'uidvalidity', box)).group(1))
            text = doveadm('fetch', 'uid flags date.received', 'mailbox', box)
            rows = re.findall(r'uid: (\d+)\nflags: ?([^\n]*)\n'
                              r'date.received: ([^\n]*)', text)
            want[box] = (uv, {int(u): set(f.split()) - {'\\Recent'}
                              for u, f, _ in rows})
        self.import_ok(user, os.path.join(home, 'Maildir'))
        got = dump(self.server, user, pw)
        for box, (uv, flags) in want.items():
            g = got['folders'][box]
            self.assertEqual(g['uidvalidity'], uv)
            self.assertEqual({u: v[0] for u, v in g['msgs'].items()}, flags)
            self.assertEqual(sorted(v[2] for v in g['msgs'].values()),
                             sorted(crlf(b) for b in msgs[box]))
        self.assertIn('Work/Sub', got['subs'])

    # ---- mbox ----

    MBOX = (b'From alice@example.org Thu Nov  4 12:34:56 2004\n'
            b'Status: RO\n'
            b'X-Status: AF\n'
            b'X-Keywords: $Label1 Work\n'
            b'Content-Length: 999\n'
            b'From: alice@example.org\n'
            b'Subject: first\n'
            b'\n'
            b'>From the start\n'
            b'>>From deeper\n'
            b'>Fromage stays\n'
            b'\n'
            b'From bob@example.org Fri Nov  5 01:02:03 2004 +0200\n'
            b'Status: O\n'
            b'X-UID: 7\n'
            b'Subject: second\n'
            b'\n'
            b'From here on a line that is not a From_ line\n'
            b'last line\n'
            b'\n'
            b'From carol@example.org Sat Nov  6 10:00:00 2004 -0500\n'
            b'X-Status: DT\n'
            b'Subject: third\n'
            b'\n'
            b'body\n')

    def test_mbox_file(self):
        user, pw = self.new_user()
        path = os.path.join(self.tmp, 'inbox.mbox')
        with open(path, 'wb') as fh:
            fh.write(self.MBOX)
        # a session idles in INBOX while the import runs
        c = self.connect((user, pw))
        self.select(c, 'INBOX')
        c.send('i1 IDLE\r\n')
        self.assertTrue(c.readline().startswith('+'))
        self.import_ok(user, path)
        self.wait_lines(c, lambda ls: any(l == '* 3 EXISTS' for l in ls),
                        timeout=10)
        c.send('DONE\r\n')
        got = dump(self.server, user, pw)['folders']['INBOX']['msgs']
        msgs = [got[u] for u in sorted(got)]
        self.assertEqual(len(msgs), 3)
        self.assertEqual(msgs[0][2], crlf(
            b'From: alice@example.org\nSubject: first\n\n'
            b'From the start\n>From deeper\n>Fromage stays\n'))
        self.assertEqual(msgs[0][0], {'\\Seen', '\\Answered', '\\Flagged',
                                      '$Label1', 'Work'})
        self.assertEqual(imap_epoch(msgs[0][1]),
                         calendar.timegm((2004, 11, 4, 12, 34, 56)) -
                         time.localtime(1099571696).tm_gmtoff)
        self.assertEqual(msgs[1][2], crlf(
            b'Subject: second\n\nFrom here on a line that is not a From_ '
            b'line\nlast line\n'))
        self.assertEqual(msgs[1][0], set())
        self.assertEqual(msgs[1][1], '05-Nov-2004 01:02:03 +0200')
        self.assertEqual(msgs[2][0], {'\\Deleted', '\\Draft'})
        self.assertEqual(msgs[2][1], '06-Nov-2004 10:00:00 -0500')
        self.assertEqual(msgs[2][2], crlf(b'Subject: third\n\nbody\n'))

    def test_mbox_directory(self):
        user, pw = self.new_user()
        top = self.mkdir('mboxes')
        os.makedirs(os.path.join(top, 'Lists'))
        one = (b'From a@b Mon Jan  1 00:00:00 2001\nSubject: %s\n\n'
               b'text\n\n')
        with open(os.path.join(top, 'INBOX'), 'wb') as fh:
            fh.write(one % b'in1' + one % b'in2')
        with open(os.path.join(top, 'Sent'), 'wb') as fh:
            fh.write(one % b'sent1')
        with open(os.path.join(top, 'Lists', 'dev'), 'wb') as fh:
            fh.write(one % b'dev1' + one % b'dev2' + one % b'dev3')
        with open(os.path.join(top, '.subscriptions'), 'w') as fh:
            fh.write('Sent\nLists/dev\n')
        self.import_ok(user, top)
        got = dump(self.server, user, pw)
        count = {n: len(f['msgs']) for n, f in got['folders'].items()}
        self.assertEqual(count['INBOX'], 2)
        self.assertEqual(count['Sent'], 1)
        self.assertEqual(count['Lists/dev'], 3)
        self.assertTrue({'Sent', 'Lists/dev'} <= got['subs'])

    # ---- IMAP ----

    def test_imap_account(self):
        src = Server(users={'old': 'old-secret'})
        self.addCleanup(src.cleanup)
        c = src.client(login=('old', 'old-secret'), timeout=10)
        self.addCleanup(c.close)
        self.ok(c.cmd('CREATE "Work/Sub"'))
        self.ok(c.cmd('CREATE "Archive"'))
        self.ok(c.cmd('SUBSCRIBE "Work/Sub"'))
        sent = []
        for i in range(1, 8):
            box = ['INBOX', 'Work/Sub', 'Archive'][i % 3]
            flags = [['\\Seen'], ['\\Flagged', '$Forwarded'], []][i % 3]
            date = '%02d-Mar-2020 10:%02d:00 +0130' % (i, i)
            data = body(i).replace(b'\n', b'\r\n')
            self.ok(c.append(box, data, flags=flags, date=date))
            sent.append(box)
        # a gap in INBOX's UIDs, which must survive
        self.select(c, 'INBOX')
        self.ok(c.cmd('UID STORE 1 +FLAGS (\\Deleted)'))
        self.ok(c.cmd('EXPUNGE'))
        want = dump(src, 'old', 'old-secret')
        user, pw = self.new_user()
        url = 'imap://old@127.0.0.1:%d' % src.port
        p = run_import(self.server, user, url + '/', stdin='old-secret\n')
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn('old-secret', p.stdout + p.stderr)
        got = dump(self.server, user, pw)
        for name, f in want['folders'].items():
            self.assertEqual(got['folders'][name], f, name)
        self.assertEqual(got['subs'] & {'Work/Sub', 'Archive'}, {'Work/Sub'})
        # again: nothing new; then a new message at the source comes alone
        self.ok(c.append('Archive', body(99).replace(b'\n', b'\r\n')))
        p = run_import(self.server, user, url, stdin='old-secret\n')
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('1 message to import, 6 already', p.stdout)
        self.assertEqual(dump(self.server, user, pw)['folders']['Archive'],
                         dump(src, 'old', 'old-secret')['folders']['Archive'])
        # a wrong password is a clear failure
        p = run_import(self.server, user, url, stdin='wrong\n')
        self.assertEqual(p.returncode, 1)
        self.assertIn('refused', p.stderr)
        p = run_import(self.server, user, 'imap://old:pw@127.0.0.1:1',
                       stdin='')
        self.assertEqual(p.returncode, 1)
        self.assertIn('standard input', p.stderr)

    @unittest.skipUnless(shutil.which('certtool'), 'certtool missing')
    def test_imap_tls(self):
        from test_tls import make_cert
        from mkharness import free_port
        tls_port = free_port()
        src = Server(users={'old': 'old-secret'}, start=False)
        self.addCleanup(src.cleanup)
        crt, key = make_cert(src.tmp, 'server')
        os.chmod(crt, 0o644)
        with open(src.conf, 'a') as f:
            f.write('listen_tls = 127.0.0.1:%d\ntls_cert = %s\n'
                    'tls_key = %s\n' % (tls_port, crt, key))
        src.start()
        c = src.client(login=('old', 'old-secret'), timeout=10)
        self.addCleanup(c.close)
        self.ok(c.append('INBOX', body(1).replace(b'\n', b'\r\n'),
                         flags=['\\Seen']))
        user, pw = self.new_user()
        # imaps://, and imap:// (STARTTLS, since the server offers it):
        # the certificate is checked, so only --tls-ca makes them work
        for url in ('imaps://old@127.0.0.1:%d' % tls_port,
                    'imap://old@127.0.0.1:%d' % src.port):
            p = run_import(self.server, user, url, stdin='old-secret\n')
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn('TLS with 127.0.0.1', p.stderr)
        p = run_import(self.server, user, 'imaps://old@127.0.0.1:%d' %
                       tls_port, stdin='old-secret\n', extra=['--tls-ca', crt])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        want = dump(src, 'old', 'old-secret')['folders']['INBOX']
        self.assertEqual(dump(self.server, user, pw)['folders']['INBOX'], want)
        user2, pw2 = self.new_user()
        p = run_import(self.server, user2, 'imap://old@127.0.0.1:%d' %
                       src.port, stdin='old-secret\n', extra=['--tls-ca', crt])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(dump(self.server, user2, pw2)['folders']['INBOX'],
                         want)

    @unittest.skipUnless(shutil.which('dovecot') and is_root(),
                         'dovecot (dovecot-imapd) is not installed, or not '
                         'root')
    def test_imap_dovecot_server(self):
        """A real Dovecot IMAP server with Courier's namespace: folders
        under "INBOX." with "." between levels, which become Work/Sub."""
        from mkharness import Client, free_port
        import grp
        port = free_port()
        d = self.mkdir('dovecot-imap')
        os.makedirs(os.path.join(d, 'home'))
        os.chown(os.path.join(d, 'home'), *other_uid())
        group = grp.getgrgid(other_uid()[1]).gr_name
        with open(os.path.join(d, 'users'), 'w') as fh:
            fh.write('old:{PLAIN}old-secret\n')
        conf = os.path.join(d, 'dovecot.conf')
        with open(conf, 'w') as fh:
            fh.write("""base_dir = %(d)s/run
state_dir = %(d)s/state
instance_name = mk-import-%(port)d
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
log_path = %(d)s/log
default_internal_user = nobody
default_login_user = nobody
default_internal_group = %(group)s
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:%(d)s/home/%%u/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN %(d)s/users
}
userdb {
  driver = static
  args = uid=nobody gid=%(group)s home=%(d)s/home/%%u
}
namespace inbox {
  inbox = yes
  separator = .
  prefix = INBOX.
}
service imap-login {
  chroot =
  inet_listener imap {
    port = %(port)d
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
""" % {'d': d, 'port': port, 'group': group})
        dv = subprocess.Popen(['dovecot', '-F', '-c', conf],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)

        def stop():
            dv.terminate()
            dv.wait(30)
        self.addCleanup(stop)

        class Dovecot:
            def client(self, login, timeout=10):
                c = Client(port, timeout=timeout)
                c.connect()
                tagged, _ = c.login(*login)
                assert ' OK' in tagged, tagged
                return c
        deadline = time.monotonic() + 30
        while True:
            try:
                c = Dovecot().client(('old', 'old-secret'))
                break
            except (OSError, AssertionError):
                if time.monotonic() > deadline or dv.poll() is not None:
                    self.skipTest('dovecot did not start')
                time.sleep(0.1)
        self.addCleanup(c.close)
        self.ok(c.cmd('CREATE INBOX.Work.Sub'))
        self.ok(c.cmd('SUBSCRIBE INBOX.Work.Sub'))
        for i, (box, flags) in enumerate([
                ('INBOX', ['\\Seen']), ('INBOX', ['\\Answered', 'NonJunk']),
                ('INBOX.Work.Sub', ['\\Flagged', '$Label1']),
                ('INBOX.Work.Sub', [])]):
            self.ok(c.append(box, body(i).replace(b'\n', b'\r\n') +
                             b'x' * (200 * i), flags=flags,
                             date='0%d-Feb-2021 08:00:00 +0000' % (i + 1)))
        want = dump(Dovecot(), 'old', 'old-secret')
        user, pw = self.new_user()
        p = run_import(self.server, user, 'imap://old@127.0.0.1:%d' % port,
                       stdin='old-secret\n')
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        got = dump(self.server, user, pw)
        for name, f in want['folders'].items():
            ours = name if name == 'INBOX' else \
                name[len('INBOX.'):].replace('.', '/')
            self.assertEqual(got['folders'][ours], f, name)
        self.assertIn('Work/Sub', got['subs'])

    # ---- resume, quota, progress ----

    def big_maildir(self, name, n, size):
        top = self.mkdir(name)
        md = Maildir(top).folder('INBOX', 1500000100)
        pad = ('x' * 76 + '\n') * (size // 77)
        for i in range(n):
            md.add('INBOX', body(i, '\n' + pad), 'S')
        md.write()
        return md

    def status_messages(self, c):
        _, lines = c.cmd('STATUS INBOX (MESSAGES)')
        for l in lines:
            m = re.search(r'MESSAGES (\d+)', l)
            if m:
                return int(m.group(1))
        return 0

    def test_resume_after_kill(self):
        user, pw = self.new_user()
        n = 400
        md = self.big_maildir('big', n, 60000)
        c = self.connect((user, pw))
        cmd = [ctl_path(), '-c', self.server.conf, 'import', user, md.top]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while self.status_messages(c) == 0:
                self.assertLess(time.monotonic(), deadline)
                self.assertIsNone(proc.poll(), 'the import ended too soon')
                time.sleep(0.01)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        first = self.status_messages(c)
        self.assertGreater(first, 0)
        self.assertLess(first, n, 'the import was not interrupted')
        p = self.import_ok(user, md.top)
        self.assertIn('%d already imported' % first, p.stdout)
        got = dump(self.server, user, pw)['folders']['INBOX']['msgs']
        self.assertEqual(len(got), n)
        self.assertEqual(sorted(v[2] for v in got.values()),
                         sorted(crlf(m['body']) for m in
                                md.folders['INBOX']['msgs']))
        self.assertEqual(sorted(got), sorted(
            m['uid'] for m in md.folders['INBOX']['msgs']))

    def test_quota(self):
        user, pw = self.new_user()
        md = self.big_maildir('quota', 10, 3000)
        sizes = [len(crlf(m['body'])) for m in md.folders['INBOX']['msgs']]
        limit = (sum(sizes[:4]) + 1023) // 1024
        self.server.ctl('quota', user, '--storage', str(limit))
        p = run_import(self.server, user, md.top)
        self.assertEqual(p.returncode, 7, p.stdout + p.stderr)
        self.assertIn('NOT imported: 6 messages', p.stdout)
        self.assertIn('over quota', p.stdout)
        got = dump(self.server, user, pw)['folders']['INBOX']['msgs']
        self.assertEqual(len(got), 4)
        used = sum(len(v[2]) for v in got.values())
        self.assertLessEqual((used + 1023) // 1024, limit)
        self.server.ctl('quota', user, '--storage', 'unlimited')
        p = self.import_ok(user, md.top)
        self.assertIn('6 messages to import, 4 already', p.stdout)
        got = dump(self.server, user, pw)['folders']['INBOX']['msgs']
        self.assertEqual(len(got), 10)
        self.assertEqual(len(set(v[2] for v in got.values())), 10)

    def test_max_message(self):
        srv = Server(users={'small': 'pw-small'},
                     config={'max_message': '20000'}, start=False)
        self.addCleanup(srv.cleanup)
        top = self.mkdir('maxmsg')
        md = Maildir(top).folder('INBOX', 1500000200)
        md.add('INBOX', body(1), 'S')
        md.add('INBOX', body(2, '\n' + 'z' * 30000), 'S')
        md.add('INBOX', body(3), '')
        md.write()
        p = run_import(srv, 'small', top)
        self.assertEqual(p.returncode, 7, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r'NOT imported: 1 message .*\n.*larger '
                         r'than max_message')
        srv.start()
        got = dump(srv, 'small', 'pw-small')['folders']['INBOX']['msgs']
        msgs = md.folders['INBOX']['msgs']
        self.assertEqual(sorted(got), [msgs[0]['uid'], msgs[2]['uid']])

    def test_progress_lines_and_bar(self):
        user, _ = self.new_user()
        md = self.big_maildir('progress', 20, 2000)
        p = self.import_ok(user, md.top)
        self.assertRegex(p.stdout, r'import: 20/20 messages, [\d.]+ KiB/'
                         r'[\d.]+ KiB, [\d.]+ [KMG]iB/s, 0m00s left')
        # on a terminal: a bar redrawn in place
        user2, _ = self.new_user()
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(ctl_path(), [ctl_path(), '-c', self.server.conf,
                                  'import', user2, md.top])
        out = b''
        while True:
            r, _, _ = select.select([fd], [], [], 60)
            if not r:
                break
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, out)
        self.assertIn(b'\r[##############################] 100% 20/20 msgs',
                      out)
        self.assertRegex(out, rb'/s 0m00s left')


if __name__ == '__main__':
    unittest.main(verbosity=2)
