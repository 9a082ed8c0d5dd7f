"""test_fetch_flags.py - FETCH of only FLAGS, UID and MODSEQ, which the
server answers on a path of its own (daemon/mailbox/fetch_flags.c),
against the general FETCH path as the oracle: the same command with
RFC822.SIZE added goes the general way, and with that item taken out
its answer must be the same, line for line.  Over flags and keywords of
every kind, \\Recent, sparse and reversed sets, sequence numbers after
expunges, CHANGEDSINCE, messages another session expunged (ghosts, RFC
2180 4.1.1), answers large enough that the FETCH pauses and resumes,
and a keyword defined by another session while it is paused (announced
by * FLAGS before a FLAGS shows it)."""
import os
import random
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Client  # noqa: E402
from mkimap import ImapCase, message  # noqa: E402

SYSTEM = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft']
SIZE_RE = re.compile(r' RFC822\.SIZE \d+')


def multiappend(c, msgs, flags):
    """One MULTIAPPEND of msgs with LITERAL+; flags[i] for each."""
    tag = c.next_tag()
    parts = [tag.encode() + b' APPEND INBOX']
    for m, f in zip(msgs, flags):
        parts.append(b' (%s) {%d+}\r\n' % (' '.join(f).encode(), len(m)) + m)
    c.send(b''.join(parts) + b'\r\n')
    return c.read_until_tagged(tag, timeout=120)


class FetchFlagsCase(ImapCase):

    def answer(self, c, cmd):
        """The untagged lines and the tagged status word of cmd, without
        the HIGHESTMODSEQ that the first MODSEQ item brings."""
        tagged, untagged = c.cmd(cmd, timeout=120)
        return ([l for l in untagged if '[HIGHESTMODSEQ ' not in l],
                tagged.split()[1])

    def same_as_general(self, c, cmd, items, mods=''):
        """cmd (items)mods answers what the general path answers for
        items plus RFC822.SIZE, that item taken out; returns the lines."""
        fast, st1 = self.answer(c, '%s (%s)%s' % (cmd, items, mods))
        slow, st2 = self.answer(c, '%s (%s RFC822.SIZE)%s' % (cmd, items,
                                                             mods))
        self.assertEqual(st1, st2, cmd)
        self.assertEqual(fast, [SIZE_RE.sub('', l) for l in slow],
                         '%s (%s)%s' % (cmd, items, mods))
        return fast

    def flagged_mailbox(self, n=60, seed=7):
        """A user whose INBOX holds n messages with random system flags
        and keywords, a few expunged (UID gaps), and a session that saw
        the last third arrive (so they are \\Recent for it)."""
        user = self.new_user()
        a = self.connect(user)
        b = self.connect(user)
        rnd = random.Random(seed)
        kws = ['$Forwarded', 'Junk', 'work', 'x-%s' % ('k' * 40)]
        flags = []
        for i in range(n):
            f = [s for s in SYSTEM if rnd.random() < 0.4]
            f += [k for k in kws if rnd.random() < 0.3]
            flags.append(f)
        msgs = [message(subject='m %d' % i) for i in range(n)]
        first = n * 2 // 3
        self.ok(multiappend(a, msgs[:first], flags[:first]))
        self.select(a)
        self.ok(multiappend(b, msgs[first:], flags[first:]))
        self.ok(a.cmd('NOOP'))
        # gaps: expunge a few messages whose \Deleted was not random
        self.ok(a.cmd('STORE 1:* -FLAGS.SILENT (\\Deleted)'))
        self.ok(a.cmd('UID STORE 3,10:12,40 +FLAGS.SILENT (\\Deleted)'))
        self.ok(a.cmd('EXPUNGE'))
        self.ok(a.cmd('STORE 5:20 +FLAGS.SILENT (\\Deleted)'))
        return user, a, b

    def test_same_answers_as_general_fetch(self):
        user, a, b = self.flagged_mailbox()
        lines = self.same_as_general(a, 'FETCH 1:*', 'FLAGS')
        self.assertEqual(len(lines), 55)
        self.assertTrue(any('\\Recent' in l for l in lines))
        self.assertTrue(any(' x-kkkk' in l for l in lines))
        for cmd, items, mods in [
                ('UID FETCH 1:*', 'FLAGS', ''),
                ('FETCH 1:*', 'UID FLAGS', ''),
                ('FETCH 1:*', 'FLAGS UID', ''),
                ('FETCH 7', 'UID', ''),
                ('FETCH 1:*', 'MODSEQ FLAGS', ''),
                ('UID FETCH 1:*', 'FLAGS MODSEQ', ''),
                ('FETCH 2,9,30:35,50:*', 'FLAGS', ''),
                ('UID FETCH 1,2,3,4,200,41:*', 'FLAGS', ''),
                ('UID FETCH 60:5', 'FLAGS', ''),
                ('FETCH *:50', 'FLAGS FLAGS', ''),
                ('UID FETCH 1:*', 'FLAGS', ' (CHANGEDSINCE 1)'),
                ('FETCH 1:*', 'UID', ' (CHANGEDSINCE 50)')]:
            self.same_as_general(a, cmd, items, mods)
        # the messages b appended are \Recent for a, none is for b
        self.assertIn('\\Recent', self.answer(a, 'FETCH * (FLAGS)')[0][0])
        self.select(b)
        lines = self.same_as_general(b, 'FETCH 1:*', 'FLAGS')
        self.assertFalse(any('\\Recent' in l for l in lines))

    def test_every_flag_spelled(self):
        user = self.new_user()
        a = self.connect(user)
        self.ok(multiappend(a, [message(), message(), message()],
                            [SYSTEM + ['kw1', 'kw2'], [], ['\\Seen']]))
        self.select(a)
        lines, status = self.answer(a, 'FETCH 1:* (FLAGS)')
        self.assertEqual(status, 'OK')
        self.assertEqual(lines, [
            '* 1 FETCH (FLAGS (\\Answered \\Flagged \\Deleted \\Seen '
            '\\Draft \\Recent kw1 kw2))',
            '* 2 FETCH (FLAGS (\\Recent))',
            '* 3 FETCH (FLAGS (\\Seen \\Recent))'])
        lines, _ = self.answer(a, 'UID FETCH 2 (FLAGS MODSEQ)')
        self.assertRegex(lines[0],
                         r'^\* 2 FETCH \(UID 2 FLAGS \(\\Recent\) '
                         r'MODSEQ \(\d+\)\)$')

    def test_changedsince_skips_unchanged(self):
        user, a, b = self.flagged_mailbox()
        lines = self.answer(a, 'UID FETCH 1:* (MODSEQ)')[0]
        modseqs = sorted(int(re.search(r'MODSEQ \((\d+)\)', l).group(1))
                         for l in lines)
        since = modseqs[len(modseqs) // 2]
        lines = self.same_as_general(a, 'UID FETCH 1:*', 'FLAGS',
                                     ' (CHANGEDSINCE %d)' % since)
        self.assertEqual(len(lines), sum(m > since for m in modseqs))

    def test_ghosts_answered_until_told(self):
        """Messages b expunged: a, not told yet (FETCH may not tell it),
        still gets their flags, as from the general path."""
        user, a, b = self.flagged_mailbox()
        self.select(b)
        self.ok(b.cmd('STORE 1:* -FLAGS.SILENT (\\Deleted)'))
        self.ok(b.cmd('STORE 2,4,30:33,* +FLAGS.SILENT (\\Deleted)'))
        self.ok(b.cmd('EXPUNGE'))
        # b's flag changes reach a at the end of a command that may not
        # tell of expunges
        self.ok(a.cmd('FETCH 1 (FLAGS)'))
        lines = self.same_as_general(a, 'FETCH 1:*', 'FLAGS')
        self.assertEqual(len(lines), 55)
        self.assertFalse(any('EXPUNGE' in l for l in lines))
        # not UID FETCH: at its end expunges may be told
        self.same_as_general(a, 'FETCH 1:*', 'UID FLAGS MODSEQ')
        self.same_as_general(a, 'FETCH 3:5,*', 'FLAGS')
        # CHANGEDSINCE: the ghosts were changed (\Deleted) by b
        self.same_as_general(a, 'FETCH 1:*', 'FLAGS', ' (CHANGEDSINCE 1)')
        lines = self.ok(a.cmd('NOOP'))
        self.assertEqual(sum(l.endswith(' EXPUNGE') for l in lines), 7)

    def big_mailbox(self):
        """Messages with 40 long keywords each (8 KB a FLAGS line): an
        answer of 12 MB or more, more than the server's output buffer
        and twice what a socket's send buffer may grow to (tcp_wmem's
        maximum, 4 MB by default) hold, so the FETCH must pause."""
        with open('/proc/sys/net/ipv4/tcp_wmem') as f:
            wmem_max = int(f.read().split()[2])
        n = max(1500, (2 * wmem_max + (1 << 20)) // 8000 + 1)
        user = self.new_user()
        a = self.connect(user)
        kws = ['kw%02d-%s' % (i, 'y' * 195) for i in range(40)]
        for lo in range(0, n, 250):
            k = min(250, n - lo)
            self.ok(multiappend(a, [message(subject='b %d' % (lo + i))
                                    for i in range(k)], [kws] * k))
        return user, a, kws, n

    def test_large_answer_pauses_and_resumes(self):
        user, a, kws, n = self.big_mailbox()
        self.select(a)
        lines = self.same_as_general(a, 'UID FETCH 1:*', 'FLAGS')
        self.assertEqual(len(lines), n)
        self.assertEqual(lines[-1],
                         '* %d FETCH (UID %d FLAGS (\\Recent %s))' %
                         (n, n, ' '.join(kws)))

    def small_window(self, user):
        """A session whose socket takes little before it is read: the
        server's FETCH pauses soon."""
        c = Client(self.server.port, timeout=60)
        c.sock = socket.socket()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.sock.settimeout(60)
        c.sock.connect(c.addr)
        self.addCleanup(c.close)
        c.greeting = c.readline()
        self.ok(c.login(*user))
        return c

    def test_keyword_defined_while_paused(self):
        """b defines a keyword while a's FETCH waits for a to read: the
        rest of a's answer announces it (* FLAGS) before any FLAGS shows
        it, and the last message's FLAGS does show it."""
        user, a, kws, n = self.big_mailbox()
        a = self.small_window(user)
        self.select(a)
        b = self.connect(user)
        self.select(b)
        tag = a.next_tag()
        a.send('%s FETCH 1:* (FLAGS)\r\n' % tag)
        time.sleep(0.5)		# a's FETCH fills the socket and pauses
        self.ok(b.cmd('STORE * +FLAGS.SILENT (brandnew)'))
        tagged, lines = a.read_until_tagged(tag, timeout=60)
        self.assertRegex(tagged, r' OK ')
        announced = [i for i, l in enumerate(lines)
                     if l.startswith('* FLAGS ') and 'brandnew' in l]
        shown = [i for i, l in enumerate(lines)
                 if 'FETCH' in l and 'brandnew' in l]
        self.assertTrue(announced, 'no * FLAGS with the new keyword')
        # (then the flag change is told once more after the FETCH)
        self.assertLess(announced[0], shown[0])
        self.assertTrue(lines[shown[0]].startswith('* %d FETCH' % n))
        # before the pause the answer had begun: it was not all after
        self.assertGreater(announced[0], 0)


if __name__ == '__main__':
    unittest.main()
