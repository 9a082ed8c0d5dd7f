"""test_seeds.py - the sessions of ../shared/seeds/ 000, 002, 003 and 004
that fall in the scope of the base server (LIST, LSUB, STATUS, EXAMINE,
SELECT, FETCH, APPEND, STORE, COPY, EXPUNGE, CLOSE, IDLE, subscriptions
across RENAME), replayed against Mailkeep.  Our hierarchy separator is
"/" where the seeds' servers used "."; each step is checked for the same
meaning as in the seed: the same counts, flags, sequence numbers, UIDs
and response codes.  Each scenario first builds the mailbox state the
seed's server had."""
import base64
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import (ImapCase, code, fetch_map, message, parse,  # noqa: E402
                    select_info)

# seed 000, section 7: the message APPENDed by telnet (RFC 3501's example)
RFC3501_MSG = (b'Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n'
               b'From: Fred Foobar <foobar@Blurdybloop.COM>\r\n'
               b'Subject: afternoon meeting\r\n'
               b'To: mooch@owatagu.siam.edu\r\n'
               b'Message-Id: <B27397-0100000@Blurdybloop.COM>\r\n'
               b'MIME-Version: 1.0\r\n'
               b'Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n'
               b'\r\n'
               b'Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n')

# seed 002: Cyrus's welcome message, multipart/mixed holding an
# alternative and an attachment
WELCOME = (
    b'Return-Path: <>\r\n'
    b'X-Attached: This_is_how_attachments_appear.txt\r\n'
    b'Content-Transfer-Encoding: 8bit\r\n'
    b'Content-Type: multipart/mixed; boundary="_----------=_1138801039165120"\r\n'
    b'MIME-Version: 1.0\r\n'
    b'Date: Wed, 1 Feb 2006 13:37:19 UT\r\n'
    b'From: "Email Administrator" <bounce@myserver.com>\r\n'
    b'Reply-To: webmaster@myserver.com\r\n'
    b'To: "Joe Bloggs" <accountname@myserver.com>\r\n'
    b'Subject: IMPORTANT: Click here to begin using your account\r\n'
    b'Message-ID: <1138801039.welcome@myserver.com>\r\n'
    b'\r\n'
    b'This is a multi-part message in MIME format.\r\n'
    b'--_----------=_1138801039165120\r\n'
    b'Content-Type: multipart/alternative; boundary="alt"\r\n'
    b'\r\n'
    b'--alt\r\n'
    b'Content-Type: text/plain\r\n'
    b'Content-Transfer-Encoding: 8bit\r\n'
    b'\r\n'
    b'Welcome to your new account.\r\n'
    b'--alt\r\n'
    b'Content-Type: text/html\r\n'
    b'Content-Transfer-Encoding: 8bit\r\n'
    b'\r\n'
    b'<p>Welcome to your new account.</p>\r\n'
    b'--alt--\r\n'
    b'\r\n'
    b'--_----------=_1138801039165120\r\n'
    b'Content-Type: text/plain; name="This_is_how_attachments_appear.txt"\r\n'
    b'Content-Disposition: attachment\r\n'
    b'Content-Transfer-Encoding: 8bit\r\n'
    b'\r\n'
    b'An attachment.\r\n'
    b'--_----------=_1138801039165120--\r\n')

# seed 003, 3-2-4-4: the header of message 6
TEST_IMAP = (b'Return-Path: <root@janus.nain-t.net>\r\n'
             b'Delivered-To: chris@maison.mrs\r\n'
             b'To: chris@maison.mrs\r\n'
             b'Subject: test IMAP\r\n'
             b'Message-Id: <20080720155817.C886740009C@janus.nain-t.net>\r\n'
             b'Date: Sun, 20 Jul 2008 17:58:17 +0200 (CEST)\r\n'
             b'From: root@janus.nain-t.net (root)\r\n'
             b'\r\n'
             b'Test.\r\n')


class Seeds(ImapCase):

    def expect(self, c, cmd, untagged, status='OK', text=None):
        """Runs cmd: asserts the tagged status (and text, if given) and
        the exact untagged lines (a list), or returns them (None)."""
        tagged, unt = c.cmd(cmd)
        self.assertRegex(tagged, r'^a\d+ %s ' % status, (cmd, unt))
        if text is not None:
            self.assertEqual(tagged.split(' ', 2)[2], text, cmd)
        if untagged is not None:
            self.assertEqual(unt, untagged, cmd)
        return unt

    def only_mailboxes(self, c, keep):
        """Makes the user's mailbox list what a seed's server had."""
        for name in ('Drafts', 'Sent', 'Junk', 'Trash'):
            if name not in keep:
                self.expect(c, 'DELETE %s' % name, [])
                self.expect(c, 'UNSUBSCRIBE %s' % name, [])
        for name in keep:
            if name not in ('Drafts', 'Sent', 'Junk', 'Trash', 'INBOX'):
                self.expect(c, 'CREATE "%s"' % name, [])

    # ---- seed 000: Oracle Communications Messaging Server ----

    def test_000_oracle(self):
        user = self.new_user()
        c = self.connect(user)
        self.only_mailboxes(c, ['Drafts', 'Sent', 'Sent Messages', 'Trash'])
        # 21 messages, the first four \Seen, none \Recent any more
        for i in range(21):
            self.ok(c.append('INBOX', message(subject='m%d' % (i + 1)),
                             flags=['\\Seen'] if i < 4 else None))
        self.select(c)
        c.cmd('CLOSE')
        # 4) LIST "" "*"
        self.expect(c, 'LIST "" "*"', [
            '* LIST (\\HasNoChildren) "/" "INBOX"',
            '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
            '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
            '* LIST (\\HasNoChildren) "/" "Sent Messages"',
            '* LIST (\\HasNoChildren \\Trash) "/" "Trash"'])
        # 5) EXAMINE INBOX
        tagged, unt = c.cmd('EXAMINE INBOX')
        self.assertEqual(tagged[5:], 'OK [READ-ONLY] EXAMINE completed')
        info = select_info(tagged, unt)
        self.assertEqual(info['permanentflags'], [])
        self.assertEqual((info['exists'], info['recent'], info['unseen'],
                          info['uidnext']), (21, 0, 5, 22))
        uv = info['uidvalidity']
        # 6) FETCH 1 BODY[] (read-only: no \Seen, no FLAGS)
        tagged, unt = c.cmd_bytes('FETCH 1 BODY[]')
        m1 = message(subject='m1')
        self.assertEqual(unt, [b'* 1 FETCH (BODY[] {%d}\r\n' % len(m1) + m1 +
                               b')'])
        # 7) APPEND INBOX (\Seen) {n}: the next UID, announced to us
        tagged, unt = c.append('INBOX', RFC3501_MSG, flags=['\\Seen'])
        self.assertEqual(tagged[5:], 'OK [APPENDUID %d 22] APPEND completed'
                         % uv)
        self.assertEqual(unt, ['* 22 EXISTS', '* 1 RECENT'])
        got = fetch_map(c.cmd_bytes('FETCH 22 (FLAGS RFC822.SIZE BODY[])')[1])
        self.assertEqual(got[22]['BODY[]'], RFC3501_MSG)
        self.assertEqual(got[22]['FLAGS'], ['\\Seen', '\\Recent'])
        self.assertEqual(int(got[22]['RFC822.SIZE']), len(RFC3501_MSG))

    # ---- seed 002: Cyrus (bobpeers.com) ----

    def cyrus_setup(self, c):
        self.only_mailboxes(c, [])
        for name in ('INBOX/Drafts', 'INBOX/Sent Items', 'INBOX/Trash',
                     'INBOX/test1', 'INBOX/test2'):
            self.expect(c, 'CREATE "%s"' % name, [])
            self.expect(c, 'SUBSCRIBE "%s"' % name, [])
        for data in (WELCOME, message(subject='second', body='more text\r\n')):
            self.ok(c.append('INBOX', data, flags=['\\Seen', 'hasatt'],
                             date=' 1-Feb-2006 08:37:23 -0500'))
        self.select(c)   # the messages are not \Recent any more
        c.cmd('CLOSE')

    def test_002_cyrus_listing_and_status(self):
        c = self.connect()
        self.cyrus_setup(c)
        self.expect(c, 'list "" "*"', [
            '* LIST (\\HasChildren) "/" "INBOX"',
            '* LIST (\\HasNoChildren) "/" "INBOX/Drafts"',
            '* LIST (\\HasNoChildren) "/" "INBOX/Sent Items"',
            '* LIST (\\HasNoChildren) "/" "INBOX/Trash"',
            '* LIST (\\HasNoChildren) "/" "INBOX/test1"',
            '* LIST (\\HasNoChildren) "/" "INBOX/test2"'])
        self.expect(c, 'status INBOX (messages)',
                    ['* STATUS "INBOX" (MESSAGES 2)'])
        self.expect(c, 'status INBOX (recent)', ['* STATUS "INBOX" (RECENT 0)'])
        self.expect(c, 'status INBOX (unseen)', ['* STATUS "INBOX" (UNSEEN 0)'])
        # examine and select of an empty folder: only READ-ONLY/READ-WRITE
        # and PERMANENTFLAGS differ
        ex = select_info(*c.cmd('examine INBOX/test2'))
        sel = select_info(*c.cmd('select INBOX/test2'))
        self.assertEqual((ex['mode'], sel['mode']), ('READ-ONLY', 'READ-WRITE'))
        self.assertEqual(ex['permanentflags'], [])
        self.assertIn('\\*', sel['permanentflags'])
        for info in (ex, sel):
            self.assertEqual((info['exists'], info['recent'], info['uidnext']),
                             (0, 0, 1))
        self.assertEqual(ex['uidvalidity'], sel['uidvalidity'])
        # create, delete, rename (the session shows its own LIST after each)
        self.expect(c, 'create INBOX/test3', [])
        self.assertIn('* LIST (\\HasNoChildren) "/" "INBOX/test3"',
                      self.expect(c, 'list "" "*"', None))
        self.expect(c, 'delete INBOX/test3', [])
        self.assertNotIn('* LIST (\\HasNoChildren) "/" "INBOX/test3"',
                         self.expect(c, 'list "" "*"', None))
        self.expect(c, 'rename INBOX/test1 INBOX/linux', [])
        names = [parse(l)[4] for l in self.expect(c, 'list "" "*"', None)]
        self.assertEqual(names, ['INBOX', 'INBOX/Drafts', 'INBOX/Sent Items',
                                 'INBOX/Trash', 'INBOX/linux', 'INBOX/test2'])
        # lsub, subscribe, unsubscribe
        subs = [parse(l)[4] for l in self.expect(c, 'lsub "" "*"', None)]
        self.assertEqual(subs, ['INBOX', 'INBOX/Drafts', 'INBOX/Sent Items',
                                'INBOX/Trash', 'INBOX/test1', 'INBOX/test2'])
        self.expect(c, 'subscribe INBOX/test3', [])
        self.expect(c, 'unsubscribe INBOX/test3', [])
        self.assertEqual(len(self.expect(c, 'lsub "" "*"', None)), 6)
        # logout
        tagged, unt = c.cmd('logout')
        self.assertEqual((tagged[5:], unt), ('OK LOGOUT completed',
                                             ['* BYE Logging out']))

    def test_002_cyrus_fetch_store_expunge_copy_idle(self):
        c = self.connect()
        self.cyrus_setup(c)
        self.select(c)
        got = fetch_map(self.expect(c, 'fetch 1 fast', None))
        self.assertEqual(list(got[1]), ['FLAGS', 'INTERNALDATE',
                                        'RFC822.SIZE'])
        self.assertEqual(got[1]['FLAGS'], ['\\Seen', 'hasatt'])
        self.assertIn(got[1]['INTERNALDATE'], (' 1-Feb-2006 08:37:23 -0500',
                                               '01-Feb-2006 08:37:23 -0500'))
        self.assertEqual(got[1]['RFC822.SIZE'], str(len(WELCOME)))
        got = fetch_map(self.expect(c, 'fetch 1 all', None))[1]
        self.assertEqual(list(got), ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE',
                                     'ENVELOPE'])
        admin = [['Email Administrator', None, 'bounce', 'myserver.com']]
        self.assertEqual(got['ENVELOPE'][:7], [
            'Wed, 1 Feb 2006 13:37:19 UT',
            'IMPORTANT: Click here to begin using your account', admin, admin,
            [[None, None, 'webmaster', 'myserver.com']],
            [['Joe Bloggs', None, 'accountname', 'myserver.com']], None])
        body = fetch_map(self.expect(c, 'fetch 1 full', None))[1]['BODY']
        # ((TEXT PLAIN)(TEXT HTML) ALTERNATIVE)(TEXT PLAIN name) MIXED
        self.assertEqual([p.upper() for p in body[0][0][:2]], ['TEXT', 'PLAIN'])
        self.assertEqual([p.upper() for p in body[0][1][:2]], ['TEXT', 'HTML'])
        self.assertEqual(body[0][2].upper(), 'ALTERNATIVE')
        self.assertEqual([p.upper() for p in body[1][:2]], ['TEXT', 'PLAIN'])
        self.assertEqual([p.upper() for p in body[1][2][:2]],
                         ['NAME', 'THIS_IS_HOW_ATTACHMENTS_APPEAR.TXT'])
        self.assertEqual(body[2].upper(), 'MIXED')
        self.assertEqual(fetch_map(self.expect(c, 'fetch 1:2 flags', None)), {
            1: {'FLAGS': ['\\Seen', 'hasatt']},
            2: {'FLAGS': ['\\Seen', 'hasatt']}})
        hdr = WELCOME[:WELCOME.index(b'\r\n\r\n') + 4]
        tagged, unt = c.cmd_bytes('fetch 1 rfc822.header')
        self.assertEqual(unt, [b'* 1 FETCH (RFC822.HEADER {%d}\r\n' % len(hdr)
                               + hdr + b')'])
        tagged, unt = c.cmd_bytes('fetch 1 (body[header.fields (from to '
                                  'subject date)])')
        self.assertEqual(fetch_map(unt)[1]['BODY[HEADER.FIELDS (FROM TO '
                                           'SUBJECT DATE)]'],
                         b'Date: Wed, 1 Feb 2006 13:37:19 UT\r\n'
                         b'From: "Email Administrator" <bounce@myserver.com>'
                         b'\r\nTo: "Joe Bloggs" <accountname@myserver.com>\r\n'
                         b'Subject: IMPORTANT: Click here to begin using your '
                         b'account\r\n\r\n')
        got = fetch_map(c.cmd_bytes('fetch 2 rfc822.text')[1])
        self.assertEqual(got[2]['RFC822.TEXT'], b'more text\r\n')
        # store: replace, then add, reported with every flag
        self.expect(c, 'store 1:2 flags \\Deleted', [
            '* 1 FETCH (FLAGS (\\Deleted))', '* 2 FETCH (FLAGS (\\Deleted))'])
        # a new keyword is announced by FLAGS and PERMANENTFLAGS first,
        # as in the seed
        self.expect(c, 'store 1:* flags $label1', [
            '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $label1 '
            'hasatt)',
            '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen '
            '\\Draft $label1 hasatt \\*)] Flags permitted',
            '* 1 FETCH (FLAGS ($label1))', '* 2 FETCH (FLAGS ($label1))'])
        self.expect(c, 'store 1:* +flags NonJunk', [
            '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $label1 '
            'hasatt NonJunk)',
            '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen '
            '\\Draft $label1 hasatt NonJunk \\*)] Flags permitted',
            '* 1 FETCH (FLAGS ($label1 NonJunk))',
            '* 2 FETCH (FLAGS ($label1 NonJunk))'])
        # copy then expunge; both gone ("* 1 EXPUNGE" twice in the seed:
        # the same two messages, numbered as each response is sent)
        tagged, _ = c.cmd('copy 1:2 inbox/test2')
        self.assertEqual(code(tagged)[1].split()[1:], ['1:2', '1:2'])
        self.expect(c, 'store 1:2 +flags \\Deleted', None)
        self.expect(c, 'expunge', ['* 2 EXPUNGE', '* 1 EXPUNGE'])
        self.expect(c, 'noop', [])
        self.expect(c, 'status INBOX (messages)', ['* STATUS "INBOX" '
                                                   '(MESSAGES 0)'])
        # select inbox.test2: two copies, \Recent for us
        info = select_info(*c.cmd('select inbox/test2'))
        self.assertEqual((info['exists'], info['recent'], info['uidnext']),
                         (2, 2, 3))
        self.assertEqual(info['flags'][5:], ['$label1', 'NonJunk'])
        # idle, done
        tag = c.next_tag()
        c.send('%s idle\r\n' % tag)
        self.assertEqual(c.readline(), '+ idling')
        c.send('done\r\n')
        self.assertEqual(c.read_until_tagged(tag)[0], '%s OK IDLE terminated'
                         % tag)

    # ---- seed 002 (second part) and 004: Exchange ----

    def test_004_exchange_session(self):
        user = self.new_user()
        c = self.connect(user)
        for i in range(7):
            self.ok(c.append('INBOX', message(subject='m%d' % (i + 1)),
                             flags=['\\Seen'] if i < 3 else None))
        self.select(c)
        c.cmd('LOGOUT')
        self.fill(self.connect(user), 'INBOX', 2, prefix='new')
        c = self.connect(user)
        info = select_info(*c.cmd('select inbox'))
        self.assertEqual((info['exists'], info['recent'], info['unseen'],
                          info['mode']), (9, 2, 4, 'READ-WRITE'))
        # a003 fetch 8 body[header] (sets \Seen, says so)
        m8 = message(subject='new 1', body='Body of new 1.\r\n')
        hdr = m8[:m8.index(b'\r\n\r\n') + 4]
        tagged, unt = c.cmd_bytes('fetch 8 body[header]')
        self.assertEqual(unt, [b'* 8 FETCH (FLAGS (\\Seen \\Recent) '
                               b'BODY[HEADER] {%d}\r\n' % len(hdr) + hdr +
                               b')'])
        # a004 store 8 +flags \deleted
        self.expect(c, 'store 8 +flags \\deleted',
                    ['* 8 FETCH (FLAGS (\\Deleted \\Seen \\Recent))'])
        # a002 fetch 1:9 ALL: an ENVELOPE per message
        got = fetch_map(self.expect(c, 'fetch 1:9 ALL', None))
        self.assertEqual(sorted(got), list(range(1, 10)))
        self.assertEqual([got[i]['ENVELOPE'][1] for i in range(1, 10)],
                         ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'new 1',
                          'new 2'])
        # a005 logout (no CLOSE: the \Deleted message stays)
        tagged, unt = c.cmd('logout')
        self.assertEqual(unt, ['* BYE Logging out'])
        c = self.connect(user)
        self.assertEqual(c.cmd('STATUS INBOX (MESSAGES UNSEEN)')[1],
                         ['* STATUS "INBOX" (MESSAGES 9 UNSEEN 5)'])

    # ---- seed 003: Dovecot and Thunderbird ----

    def test_003_thunderbird_first_seconds(self):
        user = self.new_user()
        c = self.server.client()
        self.addCleanup(c.close)
        self.expect(c, 'capability', None)
        tag = c.next_tag()
        c.send('%s authenticate plain\r\n' % tag)
        self.assertEqual(c.readline(), '+ ')
        c.send(base64.b64encode(b'\0' + user[0].encode() + b'\0' +
                                user[1].encode()) + b'\r\n')
        tagged, _ = c.read_until_tagged(tag)
        self.assertRegex(tagged, r'^%s OK ' % tag)
        self.only_mailboxes(c, ['Trash'])
        self.ok(c.append('INBOX', message(), flags=['\\Seen']))
        self.assertRegex(self.expect(c, 'namespace', None)[0],
                         r'^\* NAMESPACE \(\("" "/"\)\) ')
        self.expect(c, 'lsub "" "*"', ['* LSUB () "/" "INBOX"',
                                       '* LSUB () "/" "Trash"'])
        self.expect(c, 'list "" "INBOX"', ['* LIST (\\HasNoChildren) "/" '
                                           '"INBOX"'])
        info = select_info(*c.cmd('select "INBOX"'))
        self.assertEqual(info['exists'], 1)
        self.expect(c, 'UID fetch 1:* (FLAGS)',
                    ['* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))'])
        tag = c.next_tag()
        c.send('%s IDLE\r\n' % tag)
        self.assertEqual(c.readline(), '+ idling')
        c.send('DONE\r\n')
        self.assertEqual(c.read_until_tagged(tag),
                         ('%s OK IDLE terminated' % tag, []))
        self.expect(c, 'close', [])
        tagged, unt = c.cmd('logout')
        self.assertEqual(unt, ['* BYE Logging out'])
        self.assertEqual(c.expect_closed(), [])

    def test_003_lsub_list_unsubscribe(self):
        c = self.connect()
        self.only_mailboxes(c, ['Trash'])
        self.expect(c, 'unsubscribe INBOX', [])
        self.expect(c, 'lsub "*" "*"', ['* LSUB () "/" "Trash"'])
        self.expect(c, 'list "*" "*"', ['* LIST (\\HasNoChildren) "/" "INBOX"',
                                        '* LIST (\\HasNoChildren \\Trash) "/" '
                                        '"Trash"'])
        self.expect(c, 'unsubscribe "Trash"', [])
        self.expect(c, 'lsub "*" "*"', [])
        self.assertEqual(len(self.expect(c, 'list "*" "*"', None)), 2)
        tagged, unt = c.cmd('logout')
        self.assertEqual(unt, ['* BYE Logging out'])

    def test_003_recent_seen_deleted(self):
        user = self.new_user()
        c = self.connect(user)
        for i in range(4):
            self.ok(c.append('INBOX', message(subject='old %d' % i),
                             flags=['\\Seen']))
        self.ok(c.append('INBOX', message(subject='unread')))
        self.select(c)
        c.cmd('LOGOUT')
        self.ok(self.connect(user).append('INBOX', TEST_IMAP))
        # 20 select INBOX: 6 EXISTS, 1 RECENT, UNSEEN 5, UIDNEXT 7
        c = self.connect(user)
        info = select_info(*c.cmd('select INBOX'))
        self.assertEqual((info['exists'], info['recent'], info['unseen'],
                          info['uidnext'], info['mode']),
                         (6, 1, 5, 7, 'READ-WRITE'))
        uv = info['uidvalidity']
        want = ['* %d FETCH (UID %d FLAGS (\\Seen))' % (i, i)
                for i in range(1, 5)]
        self.expect(c, 'uid fetch 1:* (FLAGS)', want + [
            '* 5 FETCH (UID 5 FLAGS ())', '* 6 FETCH (UID 6 FLAGS (\\Recent))'])
        c.cmd('logout')
        # a new session: message 6 is no longer \Recent, still unseen
        c = self.connect(user)
        info = select_info(*c.cmd('select "INBOX"'))
        self.assertEqual((info['exists'], info['recent'], info['unseen'],
                          info['uidvalidity'], info['uidnext']),
                         (6, 0, 5, uv, 7))
        self.expect(c, 'uid fetch 1:* (FLAGS)', want + [
            '* 5 FETCH (UID 5 FLAGS ())', '* 6 FETCH (UID 6 FLAGS ())'])
        # 40 uid FETCH 6 BODY[HEADER]: sets \Seen, reported with UID
        hdr = TEST_IMAP[:TEST_IMAP.index(b'\r\n\r\n') + 4]
        tagged, unt = c.cmd_bytes('uid FETCH 6 BODY[HEADER]')
        self.assertEqual(unt, [b'* 6 FETCH (UID 6 FLAGS (\\Seen) BODY[HEADER] '
                               b'{%d}\r\n' % len(hdr) + hdr + b')'])
        self.expect(c, 'uid fetch 1:* (FLAGS)', want + [
            '* 5 FETCH (UID 5 FLAGS ())', '* 6 FETCH (UID 6 FLAGS (\\Seen))'])
        # 50 store 6 +FLAGS (\Deleted)
        self.expect(c, 'store 6 +FLAGS (\\Deleted)',
                    ['* 6 FETCH (FLAGS (\\Deleted \\Seen))'])
        self.expect(c, 'uid fetch 6 (FLAGS)',
                    ['* 6 FETCH (UID 6 FLAGS (\\Deleted \\Seen))'])
        # 70 close: silent; 80 select: 5 EXISTS, UNSEEN 5, UIDNEXT 7
        self.expect(c, 'close', [])
        info = select_info(*c.cmd('select "INBOX"'))
        self.assertEqual((info['exists'], info['recent'], info['unseen'],
                          info['uidnext']), (5, 0, 5, 7))
        self.expect(c, 'uid fetch 1:* (FLAGS)', want + [
            '* 5 FETCH (UID 5 FLAGS ())'])

    def test_003_dossier_archive(self):
        user = self.new_user()
        c = self.connect(user)
        self.only_mailboxes(c, ['Trash'])
        # INBOX holds UIDs 7, 8 and 9, unseen, not \Recent
        self.fill(c, 'INBOX', 9)
        self.select(c)
        c.cmd('STORE 1:6 +FLAGS.SILENT (\\Deleted)')
        c.cmd('CLOSE')
        bodies = {}
        self.select(c, examine=True)
        got = fetch_map(c.cmd_bytes('UID FETCH 7:9 BODY.PEEK[]')[1])
        for v in got.values():
            bodies[int(v['UID'])] = v['BODY[]']
        c.cmd('LOGOUT')
        c = self.connect(user)
        # 20 list "*" "*"
        self.expect(c, 'list "*" "*"', [
            '* LIST (\\HasNoChildren) "/" "INBOX"',
            '* LIST (\\HasNoChildren \\Trash) "/" "Trash"'])
        for cmd in ('create Dossier_1', 'create Dossier_1/SousDossier_1',
                    'create INBOX/Rangement', 'subscribe INBOX/Rangement',
                    'subscribe Dossier_1', 'subscribe Dossier_1/SousDossier_1'):
            self.expect(c, cmd, [])
        # 90 select INBOX
        info = select_info(*c.cmd('select INBOX'))
        self.assertEqual((info['exists'], info['recent'], info['unseen'],
                          info['uidnext']), (3, 0, 1, 10))
        # 100 rename Dossier_1 Archive, 110 list
        self.expect(c, 'rename Dossier_1 Archive', [])
        self.expect(c, 'list "*" "*"', [
            '* LIST (\\HasChildren) "/" "INBOX"',
            '* LIST (\\HasNoChildren) "/" "INBOX/Rangement"',
            '* LIST (\\HasChildren) "/" "Archive"',
            '* LIST (\\HasNoChildren) "/" "Archive/SousDossier_1"',
            '* LIST (\\HasNoChildren \\Trash) "/" "Trash"'])
        # 120 rename Archive/SousDossier_1 Archive/2007-2008
        self.expect(c, 'rename Archive/SousDossier_1 Archive/2007-2008', [])
        # 130 uid fetch 1:* (FLAGS)
        self.expect(c, 'uid fetch 1:* (FLAGS)', [
            '* 1 FETCH (UID 7 FLAGS ())', '* 2 FETCH (UID 8 FLAGS ())',
            '* 3 FETCH (UID 9 FLAGS ())'])
        # 140 copy 1:2 Archive/2007-2008, 150 copy 3 INBOX/Rangement
        tagged, unt = c.cmd('copy 1:2 Archive/2007-2008')
        self.assertEqual(unt, [])
        self.assertEqual(code(tagged)[1].split()[1:], ['7:8', '1:2'])
        tagged, unt = c.cmd('copy 3 INBOX/Rangement')
        self.assertEqual(code(tagged)[1].split()[1:], ['9', '1'])
        # 160 store 1:3 +FLAGS (\Deleted), 170 expunge
        self.expect(c, 'store 1:3 +FLAGS (\\Deleted)', [
            '* 1 FETCH (FLAGS (\\Deleted))', '* 2 FETCH (FLAGS (\\Deleted))',
            '* 3 FETCH (FLAGS (\\Deleted))'])
        self.expect(c, 'expunge', ['* 3 EXPUNGE', '* 2 EXPUNGE',
                                   '* 1 EXPUNGE'])
        tagged, unt = c.cmd('logout')
        self.assertEqual(unt, ['* BYE Logging out'])
        # The trap: the subscriptions still name the old mailboxes
        c = self.connect(user)
        lines = self.expect(c, 'lsub "*" "*"', None)
        self.assertEqual([parse(l)[4] for l in lines],
                         ['INBOX', 'INBOX/Rangement', 'Dossier_1',
                          'Dossier_1/SousDossier_1', 'Trash'])
        self.expect(c, 'unsubscribe Dossier_1', [])
        self.expect(c, 'unsubscribe Dossier_1/SousDossier_1', [])
        self.expect(c, 'list "*" "*"', [
            '* LIST (\\HasChildren) "/" "INBOX"',
            '* LIST (\\HasNoChildren) "/" "INBOX/Rangement"',
            '* LIST (\\HasChildren) "/" "Archive"',
            '* LIST (\\HasNoChildren) "/" "Archive/2007-2008"',
            '* LIST (\\HasNoChildren \\Trash) "/" "Trash"'])
        self.expect(c, 'subscribe Archive', [])
        self.expect(c, 'subscribe Archive/2007-2008', [])
        self.expect(c, 'lsub "*" "*"', [
            '* LSUB () "/" "INBOX"', '* LSUB () "/" "INBOX/Rangement"',
            '* LSUB () "/" "Archive"', '* LSUB () "/" "Archive/2007-2008"',
            '* LSUB () "/" "Trash"'])
        tagged, unt = c.cmd('logout')
        self.assertEqual(unt, ['* BYE Logging out'])
        # What Thunderbird finds next time: the messages where they went
        c = self.connect(user)
        self.assertEqual(self.select(c)['exists'], 0)
        for box, uids in (('Archive/2007-2008', (7, 8)),
                          ('INBOX/Rangement', (9,))):
            info = self.select(c, box)
            self.assertEqual(info['exists'], len(uids))
            got = fetch_map(c.cmd_bytes('FETCH 1:* BODY.PEEK[]')[1])
            self.assertEqual([got[i + 1]['BODY[]'] for i in range(len(uids))],
                             [bodies[u] for u in uids])


if __name__ == '__main__':
    unittest.main()
