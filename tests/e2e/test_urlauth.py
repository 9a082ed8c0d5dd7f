"""test_urlauth.py - URLAUTH (RFC 4467) and URLFETCH's BINARY and
BODYPARTSTRUCTURE (RFC 5524) against the real daemon.

GENURLAUTH and URLFETCH of whole messages, sections and PARTIAL; several
URLs in one command; RESETKEY of one mailbox and of all; the access
identifiers (user+, authuser, anonymous, submit+); EXPIRE; tampered
tokens and URLs; keys surviving a restart and dying with their mailbox;
another user's URLs fetched through the owner's process, and URLs of a
shared folder made by a grantee, which work only while the ACL grants
the grantee "r"; BINARY, BODY and BODYPARTSTRUCTURE; bad input answered
BAD (or NIL, for URLFETCH) with the connection still usable.

Python 3 standard library only; run by meson (MK_BUILD_DIR)."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import ImapCase, parse, quote  # noqa: E402

MULTI = (b'From: a@example.org\r\nSubject: multi\r\n'
         b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
         b'--b\r\nContent-Type: text/plain\r\n\r\npart one\r\n'
         b'--b\r\nContent-Type: text/x-two; charset=us-ascii\r\n'
         b'Content-Transfer-Encoding: base64\r\n\r\n'
         b'aGVsbG8gd29y\r\nbGQ=\r\n'
         b'--b\r\nContent-Type: application/x-odd\r\n'
         b'Content-Transfer-Encoding: x-unknown\r\n\r\nodd\r\n--b--\r\n')
PLAIN = (b'From: a@example.org\r\nSubject: plain\r\n\r\n'
         b'Just a plain body.\r\n')


def url_of(user, mailbox, uid, rest='', access='authuser'):
    return 'imap://%s@mk-test/%s/;UID=%d%s;URLAUTH=%s' % (
        user, mailbox.replace(' ', '%20'), uid, rest, access)


def urlfetch(untagged):
    """[(url, [values...])] of the URLFETCH responses."""
    out = []
    for line in untagged:
        v = parse(line)
        if v[:2] == ['*', 'URLFETCH']:
            out.append((v[2], v[3:]))
    return out


def as_bytes(v):
    return v.encode() if isinstance(v, str) else v


class Urlauth(ImapCase):

    def setUp(self):
        super().setUp()
        self.alice = self.new_user()
        self.a = self.connect(self.alice)
        self.ok(self.a.append('INBOX', MULTI))
        self.ok(self.a.append('INBOX', PLAIN))

    def gen(self, c, *rumps, mech='INTERNAL'):
        args = ' '.join('%s %s' % (quote(r), mech) for r in rumps)
        unt = self.ok(c.cmd('GENURLAUTH ' + args))
        self.assertEqual(len(unt), 1, unt)
        v = parse(unt[0])
        self.assertEqual(v[:2], ['*', 'GENURLAUTH'])
        urls = v[2:]
        for rump, url in zip(rumps, urls):
            self.assertTrue(url.startswith(rump + ':INTERNAL:'), url)
            self.assertRegex(url, r':INTERNAL:01[0-9a-f]{64}$')
        return urls

    def fetch(self, c, *args):
        """The data (or None) URLFETCH gives for each argument."""
        unt = self.ok(c.cmd('URLFETCH ' + ' '.join(args)))
        got = urlfetch(unt)
        self.assertEqual(len(got), len(args), unt)
        return [as_bytes(vals[0]) if len(vals) == 1 and
                not isinstance(vals[0], list) else vals for _, vals in got]

    def fetch_one(self, c, url):
        return self.fetch(c, quote(url))[0]

    # ---- one user ----

    def test_whole_message_section_partial(self):
        me = self.alice[0]
        whole, text, part2, part = self.gen(
            self.a, url_of(me, 'INBOX', 1), url_of(me, 'INBOX', 2,
                                                   '/;SECTION=TEXT'),
            url_of(me, 'INBOX', 1, '/;SECTION=2'),
            url_of(me, 'INBOX', 2, '/;PARTIAL=5.5'))
        data = self.fetch(self.a, quote(whole), quote(text), quote(part2),
                          quote(part))
        self.assertEqual(as_bytes(data[0]), MULTI)
        self.assertEqual(as_bytes(data[1]), b'Just a plain body.\r\n')
        self.assertEqual(as_bytes(data[2]), b'aGVsbG8gd29y\r\nbGQ=')
        self.assertEqual(as_bytes(data[3]), PLAIN[5:10])
        # works with no mailbox selected, and does not change the
        # selection or the \Seen flag
        self.select(self.a, 'INBOX', examine=True)
        unt = self.ok(self.a.cmd('FETCH 1 FLAGS'))
        self.assertNotIn('\\Seen', unt[0])

    def test_resetkey(self):
        me = self.alice[0]
        self.ok(self.a.cmd('CREATE Other'))
        self.ok(self.a.append('Other', PLAIN))
        u_in, u_other = self.gen(self.a, url_of(me, 'INBOX', 2),
                                 url_of(me, 'Other', 1))
        self.ok(self.a.cmd('RESETKEY INBOX'), r'\[URLMECH INTERNAL\]')
        self.assertIsNone(self.fetch_one(self.a, u_in))
        self.assertEqual(as_bytes(self.fetch_one(self.a, u_other)), PLAIN)
        # a new one for INBOX works
        (again,) = self.gen(self.a, url_of(me, 'INBOX', 2))
        self.assertNotEqual(again, u_in)
        self.assertEqual(as_bytes(self.fetch_one(self.a, again)), PLAIN)
        self.ok(self.a.cmd('RESETKEY INBOX INTERNAL'))
        self.ok(self.a.cmd('RESETKEY'), 'All keys removed')
        self.assertEqual(self.fetch(self.a, quote(again), quote(u_other)),
                         [None, None])
        self.assertTagged(self.a.cmd('RESETKEY INBOX XSAMPLE'), 'BAD',
                          'Unknown URLAUTH mechanism')
        self.assertTagged(self.a.cmd('RESETKEY Nowhere'), 'NO',
                          r'\[NONEXISTENT\]')

    def test_access_identifiers(self):
        me = self.alice[0]
        bob = self.new_user()
        b = self.connect(bob)
        mine, bobs, anyone, submit, auth = self.gen(
            self.a, url_of(me, 'INBOX', 2, access='user+' + me),
            url_of(me, 'INBOX', 2, access='user+' + bob[0]),
            url_of(me, 'INBOX', 2, access='anonymous'),
            url_of(me, 'INBOX', 2, access='submit+' + me),
            url_of(me, 'INBOX', 2, access='authuser'))
        self.assertEqual(self.fetch(self.a, *map(quote, (mine, bobs, anyone,
                                                          submit, auth))),
                         [PLAIN, None, PLAIN, None,
                          PLAIN])
        self.assertEqual(self.fetch(b, *map(quote, (mine, bobs, anyone,
                                                     submit, auth))),
                         [None, PLAIN, PLAIN, None,
                          PLAIN])
        # user names are case-insensitive, as at login
        (upper,) = self.gen(self.a, url_of(me.upper(), 'INBOX', 2,
                                           access='user+' + me.upper()))
        self.assertEqual(as_bytes(self.fetch_one(self.a, upper)), PLAIN)

    def test_expire(self):
        me = self.alice[0]
        past, future = self.gen(
            self.a, url_of(me, 'INBOX', 2,
                           ';EXPIRE=2001-01-01T00:00:00Z'),
            url_of(me, 'INBOX', 2, ';EXPIRE=2099-01-01T00:00:00+02:00'))
        self.assertEqual(self.fetch(self.a, quote(past), quote(future)),
                         [None, PLAIN])

    def test_tampered(self):
        me = self.alice[0]
        (good,) = self.gen(self.a, url_of(me, 'INBOX', 1))
        flipped = good[:-1] + ('0' if good[-1] != '0' else '1')
        other_uid = good.replace(';UID=1;', ';UID=2;')
        other_access = good.replace('URLAUTH=authuser:',
                                    'URLAUTH=anonymous:')
        other_box = good.replace('/INBOX/', '/inbox/')
        rump = good.split(':INTERNAL:')[0]
        self.assertEqual(self.fetch(self.a, *map(quote, (
            flipped, other_uid, other_access, other_box, rump))),
            [None] * 5)
        # the token's hex case is no change
        upper = good.split(':INTERNAL:')[0] + ':internal:' + \
            good.split(':INTERNAL:')[1].upper()
        self.assertEqual(as_bytes(self.fetch_one(self.a, upper)), MULTI)

    def test_key_dies_with_mailbox_and_survives_restart(self):
        me = self.alice[0]
        self.ok(self.a.cmd('CREATE Tmp'))
        self.ok(self.a.append('Tmp', PLAIN))
        u_tmp, u_in = self.gen(self.a, url_of(me, 'Tmp', 1),
                               url_of(me, 'INBOX', 2))
        self.ok(self.a.cmd('DELETE Tmp'))
        self.ok(self.a.cmd('CREATE Tmp'))
        self.ok(self.a.append('Tmp', PLAIN))
        self.assertIsNone(self.fetch_one(self.a, u_tmp))
        self.a.close()
        self.server.stop()
        self.server.start()
        a = self.connect(self.alice)
        self.assertEqual(as_bytes(self.fetch_one(a, u_in)), PLAIN)

    def test_binary_and_bodypartstructure(self):
        me = self.alice[0]
        p2, p3, whole = self.gen(self.a, url_of(me, 'INBOX', 1,
                                                '/;SECTION=2'),
                                 url_of(me, 'INBOX', 1, '/;SECTION=3'),
                                 url_of(me, 'INBOX', 2))
        unt = self.ok(self.a.cmd(
            'URLFETCH (%s BINARY BODYPARTSTRUCTURE) (%s BODYPARTSTRUCTURE) '
            '(%s BODY) (%s BINARY BODYPARTSTRUCTURE) (%s) %s' % (
                quote(p2), quote(p2), quote(p2), quote(p3), quote(whole),
                quote(whole))))
        got = urlfetch(unt)
        self.assertEqual(len(got), 6, unt)
        # decoded: identity encoding and the decoded size
        self.assertEqual(got[0][1][0][0], 'BODYPARTSTRUCTURE')
        bps = got[0][1][0][1]
        self.assertEqual([bps[0], bps[1], bps[5], bps[6]],
                         ['text', 'x-two', '7bit', '11'])
        self.assertEqual(got[0][1][1], ['BINARY', b'hello world'])
        # as stored
        bps = got[1][1][0][1]
        self.assertEqual([bps[5], bps[6]], ['base64', '18'])
        self.assertEqual(len(got[1][1]), 1)
        self.assertEqual(got[2][1], [['BODY', b'aGVsbG8gd29y\r\nbGQ=']])
        # an encoding we can't undo: BINARY NIL, structure as stored
        self.assertEqual(got[3][1][0][1][5], 'x-unknown')
        self.assertEqual(got[3][1][1], ['BINARY', None])
        # no parameters: the plain answer
        self.assertEqual(as_bytes(got[4][1][0]), PLAIN)
        self.assertEqual(as_bytes(got[5][1][0]), PLAIN)
        # a part that does not exist is NIL, whatever was asked
        (p9,) = self.gen(self.a, url_of(me, 'INBOX', 1, '/;SECTION=9'))
        got = urlfetch(self.ok(self.a.cmd(
            'URLFETCH (%s BODYPARTSTRUCTURE BODY) %s' % (quote(p9),
                                                         quote(p9)))))
        self.assertEqual([g[1] for g in got], [[None], [None]])

    def test_binary_nul_is_literal8(self):
        me = self.alice[0]
        msg = (b'Subject: nul\r\nContent-Type: application/octet-stream\r\n'
               b'Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n')
        self.ok(self.a.append('INBOX', msg))
        (u,) = self.gen(self.a, url_of(me, 'INBOX', 3, '/;SECTION=1'))
        tag = self.a.next_tag()
        self.a.send(('%s URLFETCH (%s BINARY)\r\n' % (tag, quote(u))).encode())
        raw = b''
        while True:
            line = self.a.readline_bytes()
            raw += line
            if line.startswith(tag.encode()):
                break
        self.assertIn(b'(BINARY ~{3}\r\n\x00\x01\x02)', raw)

    def test_bad_input(self):
        me = self.alice[0]
        a = self.a
        cases = [
            ('GENURLAUTH %s INTERNAL' % quote(
                'imap://%s@mk-test/INBOX/;UID=1' % me), 'BAD',
             'Missing access identifier'),
            ('GENURLAUTH %s INTERNAL' % quote(url_of('someoneelse', 'INBOX',
                                                     1)), 'BAD',
             'must name you'),
            ('GENURLAUTH %s INTERNAL' % quote(
                '/INBOX/;UID=1;URLAUTH=authuser'), 'BAD', 'must name you'),
            ('GENURLAUTH %s XSAMPLE' % quote(url_of(me, 'INBOX', 1)), 'BAD',
             'Unknown URLAUTH mechanism'),
            ('GENURLAUTH %s INTERNAL' % quote(url_of(me, 'Nowhere', 1)),
             'BAD', 'no mailbox'),
            ('GENURLAUTH %s INTERNAL' % quote(url_of(me, 'INBOX', 1) +
                                               ':INTERNAL:' + '0' * 32),
             'BAD', 'already has'),
            ('GENURLAUTH %s INTERNAL' % quote(url_of(me, 'INBOX', 1,
                                                     access='everyone')),
             'BAD', 'access identifier'),
            ('GENURLAUTH', 'BAD', 'Missing URL'),
            ('URLFETCH', 'BAD', 'Missing URL'),
            ('URLFETCH ("x" BINARY BODY)', 'BAD', 'exclude each other'),
            ('URLFETCH ("x" SIZE)', 'BAD', 'Unknown URLFETCH parameter'),
            ('RESETKEY INBOX (x)', 'BAD', ''),
        ]
        for cmd, status, text in cases:
            self.assertTagged(a.cmd(cmd), status, '.*' + re.escape(text))
        # a GENURLAUTH with one bad URL makes none
        r = a.cmd('GENURLAUTH %s INTERNAL %s INTERNAL' % (
            quote(url_of(me, 'INBOX', 1)), quote(url_of(me, 'No', 1))))
        self.assertTagged(r, 'BAD')
        self.assertEqual(r[1], [])
        # URLFETCH answers NIL for what is not a valid URL, and OK
        self.assertEqual(self.fetch(a, '"junk"', quote(url_of(
            me, 'INBOX', 1) + ':INTERNAL:' + '0' * 66), '"/INBOX/;UID=1"',
            quote('imap://mk-test/INBOX/;UID=1;URLAUTH=anonymous:INTERNAL:'
                  + '0' * 66)), [None] * 4)
        # CATENATE takes no URLAUTH URL (its token would go unchecked)
        (u,) = self.gen(a, url_of(me, 'INBOX', 2))
        self.assertTagged(a.cmd('APPEND INBOX CATENATE (URL %s)' % quote(u)),
                          'NO', r'\[BADURL\]')
        self.ok(a.cmd('NOOP'))

    # ---- other users ----

    def test_other_users_url_through_owner(self):
        me = self.alice[0]
        bob = self.new_user()
        b = self.connect(bob)
        (u,) = self.gen(self.a, url_of(me, 'INBOX', 1, '/;SECTION=1'))
        self.assertEqual(as_bytes(self.fetch_one(b, u)), b'part one')
        # bob's own mailboxes are untouched and his session goes on;
        # the fetch went through alice's process
        self.ok(b.cmd('SELECT INBOX'))
        self.assertIn('opened a channel to %s\'s URLAUTH URLs' % me,
                      self.server.logtext())
        # BINARY through the owner too
        got = urlfetch(self.ok(b.cmd('URLFETCH (%s BINARY)' % quote(
            self.gen(self.a, url_of(me, 'INBOX', 1, '/;SECTION=2'))[0]))))
        self.assertEqual(got[0][1], [['BINARY', b'hello world']])
        # after alice's RESETKEY, bob gets NIL
        self.ok(self.a.cmd('RESETKEY INBOX'))
        self.assertIsNone(self.fetch_one(b, u))
        # no such owner: NIL, and OK
        self.assertIsNone(self.fetch_one(b, url_of('nosuchuser', 'INBOX',
                                                    1) + ':INTERNAL:' +
                                          '0' * 66))
        # a mix of owners in one command keeps the order
        (mine,) = self.gen(b, url_of(bob[0], 'INBOX', 1))
        (hers,) = self.gen(self.a, url_of(me, 'INBOX', 2))
        self.ok(b.append('INBOX', b'Subject: bob\r\n\r\nbob\r\n'))
        self.assertEqual(self.fetch(b, quote(hers), quote(mine), quote(hers)),
                         [PLAIN, b'Subject: bob\r\n\r\nbob\r\n',
                          PLAIN])

    def test_shared_folder_url_follows_acl(self):
        alice = self.alice[0]
        bob, carol = self.new_user(), self.new_user()
        b, c = self.connect(bob), self.connect(carol)
        self.ok(self.a.cmd('CREATE Proj'))
        self.ok(self.a.append('Proj', PLAIN))
        # without a right bob can make no URL of it
        shared = 'Other Users/%s/Proj' % alice
        self.assertTagged(b.cmd('GENURLAUTH %s INTERNAL' % quote(
            url_of(bob[0], shared, 1))), 'NO')
        self.ok(self.a.cmd('SETACL Proj %s lr' % bob[0]))
        (u,) = self.gen(b, url_of(bob[0], shared, 1))
        # carol (no right of her own) fetches with bob's rights
        self.assertEqual(as_bytes(self.fetch_one(c, u)), PLAIN)
        self.assertEqual(as_bytes(self.fetch_one(b, u)), PLAIN)
        self.assertEqual(as_bytes(self.fetch_one(self.a, u)), PLAIN)
        # bob may not reset alice's key without "a"
        self.assertTagged(b.cmd('RESETKEY %s' % quote(shared)), 'NO',
                          r'\[NOPERM\]')
        # revoked: the URL stops working at once
        self.ok(self.a.cmd('DELETEACL Proj %s' % bob[0]))
        self.assertIsNone(self.fetch_one(c, u))
        self.assertIsNone(self.fetch_one(b, u))
        # granted again (read only through "anyone"): it works again
        self.ok(self.a.cmd('SETACL Proj anyone r'))
        self.assertEqual(as_bytes(self.fetch_one(c, u)), PLAIN)
        # bob's URL can't claim alice's mailbox as his own
        forged = u.replace('/Other%%20Users/%s/Proj/' % alice, '/Proj/')
        self.assertIsNone(self.fetch_one(c, forged))


class SubmitEntity(ImapCase):
    """submit+ URLs: only for the accounts in urlauth_submit_users."""
    config = {'urlauth_submit_users': 'other, Smtp-Relay'}

    def test_submit_access(self):
        self.server.ctl('useradd', 'smtp-relay', '--password-stdin',
                        stdin='relay-pw\n')
        alice = self.new_user()
        a = self.connect(alice)
        relay = self.connect(('smtp-relay', 'relay-pw'))
        self.ok(a.append('INBOX', PLAIN))
        unt = self.ok(a.cmd('GENURLAUTH %s INTERNAL' % quote(url_of(
            alice[0], 'INBOX', 1, access='submit+' + alice[0]))))
        url = parse(unt[0])[2]
        fetch = 'URLFETCH %s' % quote(url)
        # the submission server's account: yes; alice herself: no
        got = urlfetch(self.ok(relay.cmd(fetch)))
        self.assertEqual(as_bytes(got[0][1][0]), PLAIN)
        self.assertEqual(urlfetch(self.ok(a.cmd(fetch)))[0][1], [None])


if __name__ == '__main__':
    unittest.main(verbosity=2)
