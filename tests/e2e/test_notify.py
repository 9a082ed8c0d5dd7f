"""test_notify.py - NOTIFY (RFC 5465) against the real daemon.

Two sessions of one user: one asks to be told (NOTIFY SET), the other
changes things; the first reads what arrives without sending a command.
Covered: BAD with a reason for malformed filters and events (the
connection goes on), NO [BADEVENT (...)] for unsupported events, SET
STATUS's initial STATUS responses; STATUS for new, expunged and
flag-changed messages of non-selected mailboxes (HIGHESTMODSEQ once
CONDSTORE is on), only for the events asked for and never for the
session's own changes; the SELECTED filter: EXISTS with the MessageNew
FETCH attributes, FETCH FLAGS with UID, EXPUNGE, all at once outside any
command, and SELECTED-DELAYED holding the EXPUNGE until a command; IDLE
sending exactly what NOTIFY asks for; MailboxName (create, rename with
OLDNAME, delete with \\NonExistent); SubscriptionChange and the
SUBSCRIBED filter following the subscriptions; MailboxMetadataChange and
ServerMetadataChange; NOTIFY NONE; NOTIFICATIONOVERFLOW for a client
that stops reading; notifications wait for the end of a streamed
response; SELECTED on another user's shared mailbox (applied by the
owner's process, relayed through the guest channel).

Python 3 standard library only."""
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Client  # noqa: E402
from mkimap import ImapCase, code, message, parse  # noqa: E402

OK_RE = r'^a\d+ OK '


class SlowClient(Client):
    """A client with a tiny receive buffer, so that the server's output
    backs up as soon as it stops reading."""

    def connect(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.addr)
        self.greeting = self.readline()
        return self.greeting


class NotifyCase(ImapCase):

    def pair(self):
        """Two logged-in sessions of one new user: (watcher, actor)."""
        user = self.new_user()
        return self.connect(user), self.connect(user)

    def slow_pair(self):
        """pair(), the watcher a SlowClient."""
        user, pw = self.new_user()
        b = self.connect((user, pw))
        a = SlowClient(self.server.port, timeout=10)
        a.connect()
        self.addCleanup(a.close)
        self.ok(a.login(user, pw))
        return a, b

    def quiet(self, c, wait=0.4):
        """Asserts that nothing arrives unasked within wait seconds."""
        try:
            line = c.readline(timeout=wait)
        except socket.timeout:
            return
        self.fail('unexpected response %r' % line)

    def next_lines(self, c, n, timeout=3.0):
        return [c.readline(timeout=timeout) for _ in range(n)]

    def status_of(self, line):
        v = parse(line)
        self.assertEqual(v[:2], ['*', 'STATUS'], line)
        items = v[3]
        return v[2], {items[i].upper(): int(items[i + 1])
                      for i in range(0, len(items), 2)}


class Command(NotifyCase):

    def test_capability(self):
        c = self.connect()
        self.assertIn('NOTIFY', c.cmd('CAPABILITY')[1][0].split())

    def test_bad_arguments(self):
        c = self.connect()
        cases = [
            ('NOTIFY', 'SET or NONE'),
            ('NOTIFY MAYBE', 'SET or NONE'),
            ('NOTIFY SET', 'event groups'),
            ('NOTIFY SET (selected (MessageNew))', 'together'),
            ('NOTIFY SET (selected (MessageExpunge))', 'together'),
            ('NOTIFY SET (personal (FlagChange))', 'need MessageNew'),
            ('NOTIFY SET (selected (MailboxName))', 'Only message events'),
            ('NOTIFY SET (personal (MessageNew (UID) MessageExpunge))',
             'only allowed with SELECTED'),
            ('NOTIFY SET (selected (MessageNew MessageExpunge)) '
             '(selected-delayed (MessageNew MessageExpunge))', 'Only one'),
            ('NOTIFY SET (everything (MessageNew MessageExpunge))',
             'Unknown NOTIFY mailbox filter'),
            ('NOTIFY SET (subtree)', 'SUBTREE'),
            ('NOTIFY SET (personal ())', 'event'),
            ('NOTIFY SET (selected (MessageNew (NOSUCHATT) MessageExpunge))',
             'Unknown FETCH attribute'),
            ('NOTIFY NONE extra', ''),
        ]
        for cmd, why in cases:
            tagged, _ = c.cmd(cmd)
            self.assertRegex(tagged, r'^a\d+ BAD ', cmd)
            self.assertIn(why, tagged, cmd)
        self.ok(c.cmd('NOOP'))

    def test_badevent(self):
        c = self.connect()
        for ev in ('MessageNew MessageExpunge AnnotationChange',
                   'NoSuchEvent'):
            tagged, _ = c.cmd('NOTIFY SET (personal (%s))' % ev)
            self.assertRegex(tagged, r'^a\d+ NO \[BADEVENT \(', ev)
            listed = code(tagged)[1].strip('()').split()
            for name in ('MessageNew', 'MessageExpunge', 'FlagChange',
                         'MailboxName', 'SubscriptionChange',
                         'MailboxMetadataChange', 'ServerMetadataChange'):
                self.assertIn(name, listed)
            self.assertNotIn('AnnotationChange', listed)
        self.ok(c.cmd('NOOP'))

    def test_set_status(self):
        c = self.connect()
        self.ok(c.cmd('CREATE box'))
        self.ok(c.append('box', message()))
        unt = self.ok(c.cmd('NOTIFY SET STATUS (mailboxes box '
                            '(MessageNew MessageExpunge))'))
        self.assertEqual(len(unt), 1, unt)
        name, st = self.status_of(unt[0])
        self.assertEqual(name, 'box')
        self.assertEqual(st['MESSAGES'], 1)
        self.assertEqual(st['UIDNEXT'], 2)
        self.assertIn('UIDVALIDITY', st)
        self.assertNotIn('HIGHESTMODSEQ', st)
        unt = self.ok(c.cmd('NOTIFY SET STATUS (mailboxes (box nosuch) '
                            '(MessageNew MessageExpunge FlagChange))'))
        self.assertEqual(len(unt), 1, unt)
        self.assertIn('HIGHESTMODSEQ', self.status_of(unt[0])[1])
        self.assertEqual(self.ok(c.cmd('NOTIFY SET (mailboxes box '
                                       '(MessageNew MessageExpunge))')), [])
        # personal, subtree: every selectable mailbox they take
        self.ok(c.cmd('CREATE box/sub'))
        unt = self.ok(c.cmd('NOTIFY SET STATUS (subtree box '
                            '(MessageNew MessageExpunge))'))
        self.assertEqual(sorted(self.status_of(l)[0] for l in unt),
                         ['box', 'box/sub'])
        unt = self.ok(c.cmd('NOTIFY SET STATUS (personal '
                            '(MessageNew MessageExpunge))'))
        listed = [parse(l)[4] for l in self.ok(c.cmd('LIST "" "*"'))]
        self.assertEqual(sorted(self.status_of(l)[0] for l in unt),
                         sorted(listed))
        self.assertIn('box/sub', listed)
        unt = self.ok(c.cmd('NOTIFY SET STATUS (inboxes '
                            '(MessageNew MessageExpunge))'))
        self.assertEqual([self.status_of(l)[0] for l in unt], ['INBOX'])


class Messages(NotifyCase):

    def test_other_mailbox(self):
        a, b = self.pair()
        self.ok(b.cmd('CREATE box'))
        self.ok(a.cmd('ENABLE CONDSTORE'))
        self.ok(a.cmd('NOTIFY SET (personal (MessageNew MessageExpunge '
                      'FlagChange))'))
        self.ok(b.append('box', message()))
        name, st = self.status_of(a.readline(timeout=3))
        self.assertEqual(name, 'box')
        self.assertEqual((st['MESSAGES'], st['UIDNEXT']), (1, 2))
        self.assertIn('HIGHESTMODSEQ', st)
        hms = st['HIGHESTMODSEQ']
        self.select(b, 'box')
        self.ok(b.cmd('STORE 1 +FLAGS (\\Flagged)'))
        name, st = self.status_of(a.readline(timeout=3))
        self.assertGreater(st['HIGHESTMODSEQ'], hms)
        self.assertIn('UIDVALIDITY', st)
        self.assertNotIn('UIDNEXT', st)
        self.ok(b.cmd('STORE 1 +FLAGS (\\Deleted)'))
        self.status_of(a.readline(timeout=3))
        self.ok(b.cmd('EXPUNGE'))
        name, st = self.status_of(a.readline(timeout=3))
        self.assertEqual(st['MESSAGES'], 0)
        # the session's own change is not told back to it
        tagged, unt = a.append('box', message())
        self.assertRegex(tagged, OK_RE)
        self.assertEqual(unt, [])
        self.quiet(a)

    def watched_box(self, events, more=''):
        """(watcher, actor): the actor has "box" (one message) selected,
        the watcher asked for events on it."""
        a, b = self.pair()
        self.ok(b.cmd('CREATE box'))
        self.ok(b.append('box', message()))
        self.ok(a.cmd('NOTIFY SET (mailboxes box (%s))%s' % (events, more)))
        self.select(b, 'box')
        return a, b

    def test_only_what_was_asked(self):
        a, b = self.watched_box('MessageNew MessageExpunge',
                                ' (mailboxes INBOX NONE)')
        self.ok(b.cmd('STORE 1 +FLAGS (\\Flagged)'))    # FlagChange: no
        self.ok(b.append('INBOX', message()))            # INBOX: no
        self.ok(b.append('box', message()))
        name, st = self.status_of(a.readline(timeout=3))
        self.assertEqual((name, st['MESSAGES'], st['UIDNEXT']), ('box', 2, 3))
        self.quiet(a)

    def test_flag_change_without_condstore(self):
        a, b = self.watched_box('MessageNew MessageExpunge FlagChange')
        self.ok(b.cmd('STORE 1 +FLAGS (\\Seen)'))
        name, st = self.status_of(a.readline(timeout=3))
        self.assertEqual(st, {'UNSEEN': 0})

    def test_selected_with_fetch(self):
        a, b = self.pair()
        self.select(a, 'INBOX')
        self.ok(a.cmd('NOTIFY SET (selected (MessageNew (UID FLAGS '
                      'BODY.PEEK[HEADER.FIELDS (SUBJECT)]) MessageExpunge '
                      'FlagChange)) (personal (MessageNew MessageExpunge))'))
        self.ok(b.append('INBOX', message(subject='hello there')))
        lines = self.next_lines(a, 3)
        self.assertEqual(lines[0], '* 1 EXISTS')
        self.assertEqual(lines[1], '* 1 RECENT')
        v = parse(lines[2])
        self.assertEqual(v[:3], ['*', '1', 'FETCH'], lines[2])
        items = dict(zip(v[3][::2], v[3][1::2]))
        self.assertEqual(items['UID'], '1')
        self.assertEqual(items['FLAGS'], ['\\Recent'])
        self.assertIn(b'Subject: hello there',
                      items['BODY[HEADER.FIELDS (SUBJECT)]'])
        # the selected mailbox is SELECTED's: no STATUS for it
        self.quiet(a)
        self.select(b, 'INBOX')
        self.ok(b.cmd('STORE 1 +FLAGS (\\Flagged \\Deleted)'))
        line = a.readline(timeout=3)
        self.assertRegex(line, r'^\* 1 FETCH \(UID 1 FLAGS \(')
        self.assertIn('\\Flagged', line)
        self.ok(b.cmd('EXPUNGE'))
        self.assertEqual(a.readline(timeout=3), '* 1 EXPUNGE')
        # its own APPEND: EXISTS at the end of the command, no FETCH
        tagged, unt = a.append('INBOX', message())
        self.assertRegex(tagged, OK_RE)
        self.assertEqual([l for l in unt if 'FETCH' in l], [], unt)
        self.quiet(a)

    def test_selected_delayed(self):
        a, b = self.pair()
        self.fill(b, 'INBOX', 2)
        self.select(a, 'INBOX')
        self.ok(a.cmd('NOTIFY SET (selected-delayed (MessageNew '
                      'MessageExpunge FlagChange))'))
        self.select(b, 'INBOX')
        self.ok(b.cmd('STORE 1 +FLAGS (\\Deleted)'))
        self.assertRegex(a.readline(timeout=3), r'^\* 1 FETCH \(UID 1 ')
        self.ok(b.cmd('EXPUNGE'))
        self.quiet(a)    # the EXPUNGE waits for a command that allows it
        unt = self.ok(a.cmd('NOOP'))
        self.assertIn('* 1 EXPUNGE', unt)

    def test_idle_sends_what_notify_asks(self):
        a, b = self.pair()
        self.ok(b.cmd('CREATE box'))
        self.select(a, 'INBOX')
        self.ok(a.cmd('NOTIFY SET (mailboxes box (MessageNew '
                      'MessageExpunge))'))
        a.send('i1 IDLE\r\n')
        self.assertTrue(a.readline(timeout=3).startswith('+'))
        self.ok(b.append('INBOX', message()))   # not asked for
        self.ok(b.append('box', message()))
        name, st = self.status_of(a.readline(timeout=3))
        self.assertEqual(name, 'box')
        a.send('DONE\r\n')
        tagged, unt = a.read_until_tagged('i1', timeout=3)
        self.assertRegex(tagged, r'^i1 OK ')

    def test_idle_with_fetch(self):
        a, b = self.pair()
        self.select(a, 'INBOX')
        self.ok(a.cmd('NOTIFY SET (selected (MessageNew (UID RFC822.SIZE) '
                      'MessageExpunge))'))
        a.send('i1 IDLE\r\n')
        self.assertTrue(a.readline(timeout=3).startswith('+'))
        data = message(subject='sized')
        self.ok(b.append('INBOX', data))
        lines = self.next_lines(a, 3)
        self.assertEqual(lines[:2], ['* 1 EXISTS', '* 1 RECENT'])
        self.assertEqual(lines[2], '* 1 FETCH (UID 1 RFC822.SIZE %d)'
                         % len(data))
        a.send('DONE\r\n')
        tagged, unt = a.read_until_tagged('i1', timeout=3)
        self.assertRegex(tagged, r'^i1 OK ')
        self.assertEqual(unt, [])

    def test_large_fetch_streams(self):
        """A FETCH of our own bigger than the output buffer streams, and
        the session's next command waits for it."""
        a, b = self.pair()
        self.select(a, 'INBOX')
        self.ok(a.cmd('NOTIFY SET (selected (MessageNew (BODY.PEEK[]) '
                      'MessageExpunge))'))
        body = ('x' * 998 + '\r\n') * 1500
        data = message(subject='big', body=body)
        self.ok(b.append('INBOX', data))
        a.send('n1 NOOP\r\n')
        lines = []
        while not lines or not lines[-1].startswith('n1 '):
            lines.append(a.readline(timeout=5))
        fetch = [l for l in lines if ' FETCH ' in l]
        self.assertEqual(len(fetch), 1)
        self.assertTrue(fetch[0].endswith(data.decode() + ')'))
        self.assertRegex(lines[-1], r'^n1 OK ')

    def test_notify_none(self):
        a, b = self.pair()
        self.ok(b.cmd('CREATE box'))
        self.select(a, 'INBOX')
        self.ok(a.cmd('NOTIFY SET (selected (MessageNew MessageExpunge)) '
                      '(personal (MessageNew MessageExpunge))'))
        self.ok(a.cmd('NOTIFY NONE'))
        self.ok(b.append('box', message()))
        self.ok(b.append('INBOX', message()))
        self.quiet(a)
        # back to RFC 3501: the selected mailbox's news come with a command
        unt = self.ok(a.cmd('NOOP'))
        self.assertIn('* 1 EXISTS', unt)
        self.assertEqual([l for l in unt if 'STATUS' in l], [])


class Mailboxes(NotifyCase):

    def test_mailbox_name(self):
        a, b = self.pair()
        self.ok(a.cmd('NOTIFY SET (personal (MailboxName))'))
        self.ok(b.cmd('CREATE top/child'))
        lines = self.next_lines(a, 2)
        self.assertEqual(lines[0], '* LIST (\\HasNoChildren) "/" "top/child"')
        self.assertEqual(lines[1], '* LIST (\\HasChildren) "/" "top"')
        self.ok(b.cmd('RENAME top/child top/other'))
        self.assertEqual(a.readline(timeout=3),
                         '* LIST (\\HasNoChildren) "/" "top/other" '
                         '("OLDNAME" ("top/child"))')
        self.ok(b.cmd('DELETE top/other'))
        lines = self.next_lines(a, 2)
        self.assertEqual(lines[0], '* LIST (\\NonExistent) "/" "top/other"')
        self.assertEqual(lines[1], '* LIST (\\HasNoChildren) "/" "top"')
        # its own CREATE is not told back
        self.assertEqual(self.ok(a.cmd('CREATE mine')), [])
        self.quiet(a)

    def test_not_inside_a_streamed_response(self):
        """A session busy streaming a FETCH is told after it."""
        a, b = self.slow_pair()
        body = ('y' * 998 + '\r\n') * 8000
        data = message(subject='big', body=body)
        self.ok(b.append('INBOX', data))
        self.select(a, 'INBOX')
        self.ok(a.cmd('NOTIFY SET (personal (MailboxName))'))
        a.send('f1 FETCH 1 BODY.PEEK[]\r\n')
        time.sleep(0.3)        # a reads nothing: its FETCH pauses
        self.ok(b.cmd('CREATE during'))
        lines = []
        while not lines or not lines[-1].startswith(b'f1 '):
            lines.append(a.readline_bytes(timeout=5))
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].endswith(data + b')'))
        self.assertEqual(a.readline(timeout=3),
                         '* LIST (\\HasNoChildren) "/" "during"')

    def test_mailbox_name_filtered(self):
        a, b = self.pair()
        self.ok(a.cmd('NOTIFY SET (subtree work (MailboxName))'))
        self.ok(b.cmd('CREATE play'))
        self.ok(b.cmd('CREATE work'))
        self.assertEqual(a.readline(timeout=3),
                         '* LIST (\\HasNoChildren) "/" "work"')
        self.quiet(a)

    def test_subscription_change(self):
        a, b = self.pair()
        self.ok(b.cmd('CREATE box'))
        self.ok(a.cmd('NOTIFY SET (personal (SubscriptionChange))'))
        self.ok(b.cmd('SUBSCRIBE box'))
        self.assertEqual(a.readline(timeout=3),
                         '* LIST (\\HasNoChildren \\Subscribed) "/" "box"')
        self.ok(b.cmd('UNSUBSCRIBE box'))
        self.assertEqual(a.readline(timeout=3),
                         '* LIST (\\HasNoChildren) "/" "box"')
        self.ok(b.cmd('SUBSCRIBE gone'))
        self.assertEqual(a.readline(timeout=3),
                         '* LIST (\\NonExistent \\Subscribed) "/" "gone"')

    def test_subscribed_filter_follows(self):
        a, b = self.pair()
        self.ok(b.cmd('CREATE box'))
        self.ok(a.cmd('NOTIFY SET (subscribed (MessageNew MessageExpunge))'))
        self.ok(b.append('box', message()))      # not subscribed: nothing
        self.ok(b.cmd('SUBSCRIBE box'))
        self.ok(b.append('box', message()))
        name, st = self.status_of(a.readline(timeout=3))
        self.assertEqual((name, st['MESSAGES']), ('box', 2))
        self.ok(b.cmd('UNSUBSCRIBE box'))
        self.ok(b.append('box', message()))      # no longer taken
        self.quiet(a)

    def test_new_mailbox_is_watched(self):
        a, b = self.pair()
        self.ok(a.cmd('NOTIFY SET (personal (MessageNew MessageExpunge))'))
        self.ok(b.cmd('CREATE later'))
        self.ok(b.append('later', message()))
        name, st = self.status_of(a.readline(timeout=3))
        self.assertEqual((name, st['MESSAGES'], st['UIDNEXT']),
                         ('later', 1, 2))

    def test_metadata(self):
        a, b = self.pair()
        self.ok(a.cmd('NOTIFY SET (mailboxes INBOX (MailboxMetadataChange '
                      'ServerMetadataChange))'))
        self.ok(b.cmd('SETMETADATA INBOX (/shared/comment "hi" '
                      '/private/x NIL)'))
        self.assertEqual(a.readline(timeout=3),
                         '* METADATA "INBOX" (/shared/comment /private/x)')
        self.ok(b.cmd('SETMETADATA "" (/shared/comment "server")'))
        self.assertEqual(a.readline(timeout=3),
                         '* METADATA "" (/shared/comment)')
        self.ok(b.cmd('CREATE other'))
        self.ok(b.cmd('SETMETADATA other (/shared/comment "no")'))
        self.quiet(a)


class Shared(NotifyCase):
    """SELECTED on another user's shared mailbox: the owner's process
    applies it, and what it sends comes through the guest channel."""

    def share(self):
        alice, bob = self.new_user(), self.new_user()
        a = self.connect(alice)
        self.ok(a.cmd('CREATE Proj'))
        self.fill(a, 'Proj', 2)
        self.ok(a.cmd('SETACL Proj %s lrs' % bob[0]))
        return a, self.connect(bob), 'Other Users/%s/Proj' % alice[0]

    def until_fetch(self, c):
        lines = []
        while not lines or ' FETCH ' not in lines[-1]:
            lines.append(c.readline(timeout=3))
        return lines

    def test_selected_shared(self):
        a, b, name = self.share()
        self.select(b, name)
        self.ok(b.cmd('NOTIFY SET (selected (MessageNew (UID '
                      'BODY.PEEK[HEADER.FIELDS (SUBJECT)]) MessageExpunge '
                      'FlagChange)) (personal (MailboxName))'))
        self.ok(a.append('Proj', message(subject='from alice')))
        lines = self.until_fetch(b)
        self.assertIn('* 3 EXISTS', lines)
        v = parse(lines[-1])
        items = dict(zip(v[3][::2], v[3][1::2]))
        self.assertEqual((v[1], items['UID']), ('3', '3'))
        self.assertIn(b'from alice', items['BODY[HEADER.FIELDS (SUBJECT)]'])
        self.ok(a.cmd('SELECT Proj'))
        self.ok(a.cmd('STORE 1 +FLAGS (\\Deleted)'))
        self.assertRegex(b.readline(timeout=3), r'^\* 1 FETCH \(UID 1 FLAGS ')
        self.ok(a.cmd('EXPUNGE'))
        self.assertEqual(b.readline(timeout=3), '* 1 EXPUNGE')
        self.ok(b.cmd('NOTIFY NONE'))
        self.ok(a.append('Proj', message()))
        self.quiet(b)
        self.assertIn('* 3 EXISTS', self.ok(b.cmd('NOOP')))

    def test_set_before_select(self):
        a, b, name = self.share()
        self.ok(b.cmd('NOTIFY SET (selected (MessageNew (UID) '
                      'MessageExpunge))'))
        self.select(b, name)
        self.ok(a.append('Proj', message()))
        lines = self.until_fetch(b)
        self.assertIn('* 3 EXISTS', lines)
        self.assertEqual(lines[-1], '* 3 FETCH (UID 3)')


class Overflow(NotifyCase):

    def test_overflow(self):
        a, b = self.slow_pair()
        self.fill(b, 'INBOX', 400)
        self.select(a, 'INBOX')
        self.ok(a.cmd('NOTIFY SET (selected (MessageNew MessageExpunge '
                      'FlagChange))'))
        self.select(b, 'INBOX')
        # a reads nothing while b changes every flag, again and again
        deadline = time.monotonic() + 60
        i = 0
        while 'NOTIFY overflow' not in self.server.logtext():
            self.assertLess(time.monotonic(), deadline, 'no overflow')
            self.ok(b.cmd('STORE 1:* %sFLAGS.SILENT (\\Flagged)'
                          % '+-'[i % 2]))
            i += 1
        # everything before the overflow arrives, then the notice
        seen = False
        while not seen:
            line = a.readline(timeout=10)
            if line.startswith('* OK [NOTIFICATIONOVERFLOW]'):
                seen = True
            else:
                self.assertRegex(line, r'^\* \d+ FETCH \(UID \d+ FLAGS ')
        # and from then on, as after NOTIFY NONE
        self.ok(b.cmd('STORE 1 +FLAGS (\\Seen)'))
        self.quiet(a)
        self.ok(a.cmd('NOOP'))


if __name__ == '__main__':
    unittest.main()
