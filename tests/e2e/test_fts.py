"""test_fts.py - SEARCH through the full-text index (doc/search.md) on
the real daemon: the golden corpus (tests/corpus) appended over IMAP
gives the same answers to every search with `fts = yes` as with
`fts = no` (the scan); the index holds every message as it arrives and
loses them at EXPUNGE; messages stored while it was off, or with
`fts_at_append = no`, are indexed by the user's process when it is idle; `mailkeepctl fts-rebuild` builds it
anew while sessions run, with a progress bar on a terminal and lines
otherwise."""
import glob
import os
import pty
import re
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Server, ctl_path, wait_for  # noqa: E402
from mkimap import search_result  # noqa: E402

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                      'corpus')
KEYS = {'BODY', 'TEXT', 'SUBJECT', 'FROM', 'TO', 'CC', 'BCC', 'HEADER'}

# beyond the corpus's own: combinations, short strings, misses
EXTRA = [
    b'NOT BODY the', b'OR SUBJECT re FROM example', b'OR BODY hello TEXT mime',
    b'NOT OR TEXT example.org BODY zzz', b'SUBJECT a', b'BODY e',
    b'HEADER Message-ID @', b'HEADER Message-ID example',
    b'HEADER Content-Type multipart', b'HEADER Sender example',
    b'UID 1:10 BODY the', b'TEXT "content-type: text/plain"',
    b'BODY "nothing like this anywhere"', b'FROM "<"', b'TO "@example.org>"',
]


def corpus_messages():
    out = []
    for p in sorted(glob.glob(os.path.join(CORPUS, '*.eml'))):
        with open(p, 'rb') as f:
            data = f.read()
        if data:  # an empty message is refused by APPEND
            out.append(data)
    return out


def literal(s):
    return b'{%d+}\r\n' % len(s) + s


def corpus_searches():
    """The corpus's SEARCH items as IMAP search keys (bytes)."""
    keys = []
    for p in sorted(glob.glob(os.path.join(CORPUS, '*.expected'))):
        with open(p, 'rb') as f:
            for line in f:
                if not line.startswith(b'SEARCH '):
                    continue
                item = line[7:].split(b'\t')[0]
                key, _, rest = item.partition(b' ')
                if key.decode() not in KEYS:
                    continue
                if key == b'HEADER':
                    field, _, rest = rest.partition(b' ')
                    keys.append(b'HEADER ' + field + b' ' + literal(rest))
                else:
                    keys.append(key + b' ' + literal(rest))
    return keys + EXTRA


def set_fts(server, on):
    with open(server.conf) as f:
        text = re.sub(r'(?m)^fts = .*\n', '', f.read())
    with open(server.conf, 'w') as f:
        f.write(text + 'fts = %s\n' % ('yes' if on else 'no'))


def store_counts(server, user):
    """(messages, rows in the index, pending) read from the store."""
    db = sqlite3.connect('file:%s?mode=ro' % os.path.join(
        server.data_dir, 'users', user, 'store.db'), uri=True)
    try:
        q = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
        return (q('SELECT count(*) FROM messages'),
                q('SELECT count(*) FROM fts'),
                q('SELECT count(*) FROM fts_pending'))
    finally:
        db.close()


class FtsTest(unittest.TestCase):
    def setUp(self):
        self.server = Server(users={'alice': 'pw', 'bob': 'pw2'},
                             config={'fts': 'yes', 'fts_at_append': 'yes'})
        self.addCleanup(self.server.cleanup)
        self.msgs = corpus_messages()
        self.keys = corpus_searches()

    def login(self, user='alice', pw='pw'):
        c = self.server.client(login=(user, pw), timeout=30)
        self.addCleanup(c.close)
        return c

    def fill(self, c):
        # Some corpus messages have 8-bit header bytes: RFC 6855 4 has
        # them stored only by a session that enabled UTF8=ACCEPT (one of
        # its own: c goes on searching with CHARSET).
        d = self.login()
        self.assertIn(' OK', d.cmd('ENABLE UTF8=ACCEPT')[0])
        for m in self.msgs:
            t, u = d.append('INBOX', m, literal_plus=True)
            self.assertIn(' OK', t, u)
        d.close()
        self.assertIn(' OK', c.cmd('SELECT INBOX')[0])

    def search_all(self, c):
        out = []
        for k in self.keys:
            tag = c.next_tag()
            c.send(tag.encode() + b' UID SEARCH CHARSET UTF-8 ' + k + b'\r\n')
            t, u = c.read_until_tagged(tag)
            self.assertIn(' OK', t, (k, u))
            out.append(search_result(u))
        return out

    def restart(self, fts):
        self.server.stop()
        set_fts(self.server, fts)
        self.server.start()

    def test_same_results_with_index_and_without(self):
        c = self.login()
        self.fill(c)
        n = len(self.msgs)
        self.assertEqual(store_counts(self.server, 'alice'), (n, n, 0))
        with_index = self.search_all(c)
        # the corpus's hits are found (not everything empty)
        self.assertGreater(sum(1 for r in with_index if r), 100)
        c.close()
        self.restart(False)
        c = self.login()
        self.assertIn(' OK', c.cmd('SELECT INBOX')[0])
        scan = self.search_all(c)
        for k, a, b in zip(self.keys, with_index, scan):
            self.assertEqual(a, b, k)

    def test_expunge_removes_rows(self):
        c = self.login()
        self.fill(c)
        n = len(self.msgs)
        before = self.search_all(c)
        self.assertIn(' OK', c.cmd('UID STORE 1:10 +FLAGS (\\Deleted)')[0])
        # another session selected: the expunged bodies are held for it
        d = self.login()
        self.assertIn(' OK', d.cmd('SELECT INBOX')[0])
        self.assertIn(' OK', c.cmd('EXPUNGE')[0])
        self.assertEqual(store_counts(self.server, 'alice'),
                         (n - 10, n - 10, 0))
        after = self.search_all(c)
        for k, a, b in zip(self.keys, before, after):
            self.assertEqual([u for u in a if u > 10], b, k)
        # MOVE: the moved copies are indexed in the other mailbox
        self.assertIn(' OK', c.cmd('CREATE Archive')[0])
        self.assertIn(' OK', c.cmd('UID MOVE 11:20 Archive')[0])
        self.assertEqual(store_counts(self.server, 'alice'),
                         (n - 10, n - 10, 0))
        self.assertIn(' OK', c.cmd('SELECT Archive')[0])
        r = c.cmd('UID SEARCH TEXT example')
        self.assertIn(' OK', r[0])
        self.assertTrue(search_result(r[1]))

    def test_idle_indexing_of_what_was_stored_without(self):
        self.restart(False)
        c = self.login()
        self.fill(c)
        n = len(self.msgs)
        self.assertEqual(store_counts(self.server, 'alice'), (n, 0, n))
        scan = self.search_all(c)
        c.close()
        self.restart(True)
        c = self.login()
        self.assertIn(' OK', c.cmd('SELECT INBOX')[0])
        wait_for(lambda: store_counts(self.server, 'alice') == (n, n, 0),
                 timeout=30)
        self.assertEqual(self.search_all(c), scan)

    def test_index_after_the_appends(self):
        self.server.stop()
        with open(self.server.conf, 'a') as f:
            f.write('fts_at_append = no\n')
        self.server.start()
        c = self.login()
        self.fill(c)
        n = len(self.msgs)
        # nothing indexed while messages keep coming (1 s of quiet first)
        m, rows, pending = store_counts(self.server, 'alice')
        self.assertEqual((m, rows + pending), (n, n))
        self.assertGreater(pending, 0)
        early = self.search_all(c)
        wait_for(lambda: store_counts(self.server, 'alice') == (n, n, 0),
                 timeout=30)
        self.assertEqual(self.search_all(c), early)

    def test_fts_rebuild(self):
        c = self.login()
        self.fill(c)
        n = len(self.msgs)
        before = self.search_all(c)
        p = self.server.ctl('fts-rebuild', 'alice')
        self.assertIn('alice: indexing %d messages' % n, p.stdout)
        self.assertIn('alice: 100%% (%d of %d messages)' % (n, n), p.stdout)
        self.assertIn('alice: %d messages indexed' % n, p.stdout)
        self.assertEqual(store_counts(self.server, 'alice'), (n, n, 0))
        # the session goes on, with the same answers
        self.assertEqual(self.search_all(c), before)
        # every user; bob has no mail yet
        p = self.server.ctl('fts-rebuild', '--all')
        self.assertIn('alice: %d messages indexed' % n, p.stdout)
        self.assertIn('bob has no mail stored yet', p.stdout)
        p = self.server.ctl('fts-rebuild', 'nobody', check=False)
        self.assertEqual(p.returncode, 5)
        p = self.server.ctl('fts-rebuild', check=False)
        self.assertEqual(p.returncode, 2)

    def test_fts_rebuild_progress_bar_on_a_terminal(self):
        c = self.login()
        self.fill(c)
        master, slave = pty.openpty()
        p = subprocess.Popen([ctl_path(), '-c', self.server.conf,
                              'fts-rebuild', 'alice'], stdout=slave,
                             stderr=subprocess.PIPE)
        os.close(slave)
        out = b''
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        err = p.stderr.read()
        p.stderr.close()
        self.assertEqual(p.wait(timeout=60), 0, err)
        text = out.decode()
        self.assertIn('\r', text)
        self.assertRegex(text, r'alice: \[#{40}\] 100% \d+/\d+')
        self.assertNotIn('% (', text)


if __name__ == '__main__':
    unittest.main()
