"""test_acl.py - access control lists (RFC 4314; issue 4, item 3).

  The ACL commands on the owner's mailboxes, with exact responses:
      GETACL, SETACL (replace, +/- modifiers, the virtual "c" and "d"),
      DELETEACL, LISTRIGHTS, MYRIGHTS; the identifier "anyone".
  Refusals: no "a" (NO [NOPERM]); a mailbox the user may not see
      (NO [NONEXISTENT], the same answer as for no mailbox at all); the
      owner's own rights; an unknown right letter (BAD).
  Every right of RFC 4314 section 4 enforced for a grantee reaching the
      mailbox through "Other Users/<owner>/...": l r s w i k x t e a,
      each with and without it; READ-ONLY / READ-WRITE (RFC 4314 5.2)
      and PERMANENTFLAGS from the rights.
  \\Seen: shared when the grantee has "s", the grantee's own otherwise.
  mailkeepctl acl: list and set.

Python 3 standard library only; run by meson (MK_BUILD_DIR)."""
import os
import re
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkimap import ImapCase, fetch_map, message, parse, quote, \
    search_result  # noqa: E402

ALL = 'lrswipkxtecda'


def shared(owner, mbox):
    return 'Other Users/%s/%s' % (owner, mbox)


class AclCase(ImapCase):
    def share(self, rights, n=3, mbox='Proj'):
        """alice (a new user) creates mbox with n messages and grants bob
        (a new user) rights.  Returns a namespace with both clients."""
        class S:
            pass
        s = S()
        s.alice, s.bob = self.new_user(), self.new_user()
        s.a = self.connect(s.alice)
        s.mbox = mbox
        s.name = shared(s.alice[0], mbox)
        self.ok(s.a.cmd('CREATE %s' % quote(mbox)))
        s.msgs = self.fill(s.a, mbox, n, prefix=s.alice[0])
        self.ok(s.a.cmd('SETACL %s %s %s' % (quote(mbox), s.bob[0],
                                              quote(rights))))
        s.b = self.connect(s.bob)
        return s

    def flags(self, c, mbox, seqs='1:*', examine=True):
        """{seq: [flags]} of mbox, opened with EXAMINE (changes nothing)."""
        self.select(c, mbox, examine=examine)
        fm = fetch_map(self.ok(c.cmd('FETCH %s FLAGS' % seqs)))
        self.ok(c.cmd('UNSELECT'))
        return {k: [f for f in v['FLAGS'] if f != '\\Recent']
                for k, v in fm.items()}

    def count(self, c, mbox):
        untagged = self.ok(c.cmd('STATUS %s (MESSAGES)' % quote(mbox)))
        return int(parse(untagged[-1])[3][1])

    def listed(self, c, pattern='*'):
        return [parse(l)[4] for l in self.ok(c.cmd('LIST "" %s' %
                                                   quote(pattern)))]

    def no(self, result, code=None):
        tagged = result[0]
        if code is None:
            self.assertRegex(tagged, r'^a\d+ NO ')
        else:
            self.assertRegex(tagged, r'^a\d+ NO \[%s\] ' % code)
        return tagged


class Commands(AclCase):
    def test_getacl_setacl_modifiers(self):
        alice, bob = self.new_user(), self.new_user()
        a = self.connect(alice)
        self.ok(a.cmd('CREATE Proj'))

        def acl():
            untagged = self.ok(a.cmd('GETACL Proj'))
            self.assertEqual(len(untagged), 1, untagged)
            return untagged[0]
        own = '* ACL "Proj" %s %s' % (alice[0], ALL)
        self.assertEqual(acl(), own)
        steps = [
            ('lrs', 'lrs'),
            ('+wk', 'lrswkc'),          # k brings the virtual c
            ('-c', 'lrsw'),             # c takes k and x away
            ('+d', 'lrswted'),          # d is t and e
            ('-t', 'lrswed'),           # any member keeps d
            ('lrswida', 'lrswiteda'),   # RFC 4314 2.1.1 example
            ('c', 'kxc'),
            ('-k', 'xc'),
            ('+', 'xc'),
            ('-', 'xc'),
        ]
        for arg, want in steps:
            self.ok(a.cmd('SETACL Proj %s %s' % (bob[0], quote(arg))))
            self.assertEqual(acl(), own + ' %s %s' % (bob[0], want), arg)
        # identifiers are user names, folded as logins are
        self.ok(a.cmd('SETACL Proj %s lr' % bob[0].upper()))
        self.assertEqual(acl(), own + ' %s lr' % bob[0])
        self.ok(a.cmd('SETACL Proj anyone l'))
        self.assertEqual(acl(), own + ' anyone l %s lr' % bob[0])
        # DELETEACL, and SETACL to nothing, both remove the entry
        self.ok(a.cmd('DELETEACL Proj anyone'))
        self.assertEqual(acl(), own + ' %s lr' % bob[0])
        self.ok(a.cmd('SETACL Proj %s ""' % bob[0]))
        self.assertEqual(acl(), own)
        self.ok(a.cmd('DELETEACL Proj %s' % bob[0]))    # nothing to remove
        self.assertEqual(acl(), own)

    def test_listrights_myrights(self):
        alice, bob = self.new_user(), self.new_user()
        a = self.connect(alice)
        self.ok(a.cmd('CREATE Proj'))
        self.assertEqual(self.ok(a.cmd('LISTRIGHTS Proj %s' % bob[0])),
                         ['* LISTRIGHTS "Proj" %s "" l r s w i p k x t e c '
                          'd a' % bob[0]])
        self.assertEqual(self.ok(a.cmd('LISTRIGHTS Proj anyone')),
                         ['* LISTRIGHTS "Proj" anyone "" l r s w i p k x t '
                          'e c d a'])
        self.assertEqual(self.ok(a.cmd('LISTRIGHTS Proj %s' % alice[0])),
                         ['* LISTRIGHTS "Proj" %s %s' % (alice[0], ALL)])
        self.assertEqual(self.ok(a.cmd('MYRIGHTS Proj')),
                         ['* MYRIGHTS "Proj" %s' % ALL])
        self.assertEqual(self.ok(a.cmd('MYRIGHTS inbox')),
                         ['* MYRIGHTS "INBOX" %s' % ALL])

    def test_list_myrights(self):
        """RFC 8440: LIST RETURN (MYRIGHTS) gives a MYRIGHTS response
        after the LIST line of each selectable mailbox: all rights on
        the user's own, the granted ones (the union of the grantee's and
        "anyone"'s entries) on another user's, none for \\Noselect."""
        s = self.share('lr')
        self.ok(s.a.cmd('SETACL Proj anyone lw'))
        self.ok(s.a.cmd('CREATE Other'))
        self.ok(s.a.cmd('SETACL Other anyone ls'))
        self.ok(s.b.cmd('CREATE Par/Kid'))
        self.ok(s.b.cmd('DELETE Par'))
        lines = self.ok(s.b.cmd('LIST "" * RETURN (MYRIGHTS)'))
        mine = {}
        for i, l in enumerate(lines):
            if l.startswith('* MYRIGHTS '):
                toks = parse(l)
                mine[toks[2]] = toks[3]
                # right after the mailbox's own LIST line
                self.assertEqual(parse(lines[i - 1])[4], toks[2])
        self.assertEqual(mine['INBOX'], ALL)
        self.assertEqual(mine['Par/Kid'], ALL)
        self.assertNotIn('Par', mine)
        self.assertEqual(mine[s.name], 'lrw')
        self.assertEqual(mine[shared(s.alice[0], 'Other')], 'ls')
        self.assertNotIn('Other Users', mine)
        # the same as MYRIGHTS itself asks the owner's process
        self.assertEqual(self.ok(s.b.cmd('MYRIGHTS %s' % quote(s.name))),
                         ['* MYRIGHTS %s lrw' % quote(s.name)])
        # with STATUS: LIST, then STATUS, then MYRIGHTS
        lines = self.ok(s.b.cmd('LIST "" INBOX RETURN (STATUS (MESSAGES) '
                                'MYRIGHTS)'))
        self.assertEqual(lines, ['* LIST (\\HasNoChildren) "/" "INBOX"',
                                 '* STATUS "INBOX" (MESSAGES 0)',
                                 '* MYRIGHTS "INBOX" %s' % ALL])
        caps = self.ok(s.b.cmd('CAPABILITY'))[0].split()
        self.assertIn('LIST-MYRIGHTS', caps)

    def test_capabilities(self):
        c = self.connect()
        caps = self.ok(c.cmd('CAPABILITY'))[0].split()
        self.assertIn('ACL', caps)
        self.assertIn('RIGHTS=texk', caps)

    def test_owner_refusals(self):
        alice, bob = self.new_user(), self.new_user()
        a = self.connect(alice)
        self.ok(a.cmd('CREATE Proj'))
        # the owner's own rights are fixed
        self.no(a.cmd('SETACL Proj %s lr' % alice[0]), 'CANNOT')
        self.no(a.cmd('SETACL Proj %s -a' % alice[0]), 'CANNOT')
        self.no(a.cmd('DELETEACL Proj %s' % alice[0]), 'CANNOT')
        # unknown rights letters
        for bad in ('lrz', '+9', '-X', 'lr w'):
            self.assertTagged(a.cmd('SETACL Proj %s %s' %
                                    (bob[0], quote(bad))), 'BAD')
        # a bad identifier
        self.assertTagged(a.cmd('SETACL Proj "" lr'), 'BAD')
        # no such mailbox
        for cmd in ('GETACL NoSuch', 'SETACL NoSuch %s lr' % bob[0],
                    'DELETEACL NoSuch %s' % bob[0], 'MYRIGHTS NoSuch',
                    'LISTRIGHTS NoSuch %s' % bob[0]):
            self.no(a.cmd(cmd), 'NONEXISTENT')
        # nothing changed
        self.assertEqual(self.ok(a.cmd('GETACL Proj')),
                         ['* ACL "Proj" %s %s' % (alice[0], ALL)])

    def test_ctl_acl(self):
        alice, bob = self.new_user(), self.new_user()
        a = self.connect(alice)
        self.ok(a.cmd('CREATE Proj'))
        self.ok(a.cmd('SETACL Proj %s lrs' % bob[0]))
        out = self.server.ctl('acl', alice[0]).stdout
        self.assertRegex(out, r'(?m)^Proj +%s +lrs$' % bob[0])
        p = self.server.ctl('acl', alice[0], 'Proj', bob[0], 'lrc')
        self.assertIn('%s now has "lrkx" on Proj' % bob[0], p.stdout)
        self.assertEqual(self.ok(a.cmd('GETACL Proj')),
                         ['* ACL "Proj" %s %s %s lrkxc' % (alice[0], ALL,
                                                           bob[0])])
        b = self.connect(bob)
        self.assertIn(shared(alice[0], 'Proj'), self.listed(b))
        self.server.ctl('acl', alice[0], 'Proj', bob[0], 'none')
        self.assertNotIn(shared(alice[0], 'Proj'), self.listed(b))
        self.assertIn('shares nothing',
                      self.server.ctl('acl', alice[0]).stdout)
        p = self.server.ctl('acl', alice[0], 'Proj', alice[0], 'lr',
                            check=False)
        self.assertNotEqual(p.returncode, 0)
        p = self.server.ctl('acl', alice[0], 'Proj', bob[0], 'lrz',
                            check=False)
        self.assertNotEqual(p.returncode, 0)


class Refusals(AclCase):
    def test_no_admin_right(self):
        s = self.share('lrswite')
        for cmd in ('GETACL %s' % quote(s.name),
                    'SETACL %s %s lr' % (quote(s.name), s.bob[0]),
                    'DELETEACL %s %s' % (quote(s.name), s.bob[0]),
                    'LISTRIGHTS %s anyone' % quote(s.name)):
            self.no(s.b.cmd(cmd), 'NOPERM')
        self.assertEqual(self.ok(s.b.cmd('MYRIGHTS %s' % quote(s.name))),
                         ['* MYRIGHTS %s lrswited' % quote(s.name)])
        self.assertEqual(self.ok(s.a.cmd('GETACL Proj')),
                         ['* ACL "Proj" %s %s %s lrswited' %
                          (s.alice[0], ALL, s.bob[0])])

    def test_invisible_mailbox_is_nonexistent(self):
        s = self.share('lr')
        self.ok(s.a.cmd('CREATE Private'))
        hidden = shared(s.alice[0], 'Private')
        missing = shared(s.alice[0], 'NoSuchMailbox')
        for verb in ('GETACL %s', 'MYRIGHTS %s', 'SELECT %s', 'EXAMINE %s',
                     'STATUS %s (MESSAGES)', 'DELETE %s',
                     'SETACL %%s %s lr' % s.bob[0],
                     'LISTRIGHTS %%s %s' % s.bob[0]):
            t1 = self.no(s.b.cmd(verb % quote(hidden)), 'NONEXISTENT')
            t2 = self.no(s.b.cmd(verb % quote(missing)), 'NONEXISTENT')
            # the same words for both: nothing about existence leaks
            self.assertEqual(re.sub(r'Private|NoSuchMailbox', '', t1[5:]),
                             re.sub(r'Private|NoSuchMailbox', '', t2[5:]),
                             verb)
        # nor for INBOX, nor for a user who shares nothing
        self.no(s.b.cmd('GETACL %s' % quote(shared(s.alice[0], 'INBOX'))),
                'NONEXISTENT')
        carol = self.new_user()
        self.no(s.b.cmd('MYRIGHTS %s' % quote(shared(carol[0], 'INBOX'))),
                'NONEXISTENT')
        self.no(s.b.cmd('SELECT %s' % quote(shared('nosuchuser', 'INBOX'))),
                'NONEXISTENT')

    def test_grantee_cannot_touch_owner_rights(self):
        s = self.share('lra')
        self.no(s.b.cmd('SETACL %s %s lr' % (quote(s.name), s.alice[0])),
                'CANNOT')
        self.no(s.b.cmd('DELETEACL %s %s' % (quote(s.name), s.alice[0])),
                'CANNOT')
        self.assertTagged(s.b.cmd('SETACL %s %s lrq' % (quote(s.name),
                                                         s.bob[0])), 'BAD')


class Rights(AclCase):
    def test_l_lookup(self):
        s = self.share('l')
        self.assertIn(s.name, self.listed(s.b))
        self.assertIn('* LIST (\\Noselect \\HasChildren) "/" "Other Users"',
                      self.ok(s.b.cmd('LIST "" "Other Users"')))
        self.no(s.b.cmd('SELECT %s' % quote(s.name)), 'NOPERM')
        self.no(s.b.cmd('STATUS %s (MESSAGES)' % quote(s.name)), 'NOPERM')
        self.assertEqual(self.ok(s.b.cmd('MYRIGHTS %s' % quote(s.name))),
                         ['* MYRIGHTS %s l' % quote(s.name)])
        # "r" without "l": readable, not listed
        self.ok(s.a.cmd('SETACL Proj %s r' % s.bob[0]))
        self.assertNotIn(s.name, self.listed(s.b))
        self.assertEqual(self.select(s.b, s.name)['exists'], 3)

    def test_r_read(self):
        s = self.share('lr')
        info = self.select(s.b, s.name, examine=True)
        self.assertEqual((info['exists'], info['mode']), (3, 'READ-ONLY'))
        r = s.b.cmd_bytes('FETCH 1:* BODY.PEEK[]')
        self.assertRegex(r[0], rb'^a\d+ OK ')
        fm = fetch_map(r[1])
        self.assertEqual([fm[i]['BODY[]'] for i in (1, 2, 3)], s.msgs)
        self.ok(s.b.cmd('UNSELECT'))
        self.assertEqual(self.ok(s.b.cmd('STATUS %s (MESSAGES UNSEEN)' %
                                         quote(s.name))),
                         ['* STATUS %s (MESSAGES 3 UNSEEN 3)' % quote(s.name)])
        # without "r"
        self.ok(s.a.cmd('SETACL Proj %s -r' % s.bob[0]))
        self.no(s.b.cmd('SELECT %s' % quote(s.name)), 'NOPERM')
        self.no(s.b.cmd('EXAMINE %s' % quote(s.name)), 'NOPERM')
        self.no(s.b.cmd('STATUS %s (MESSAGES)' % quote(s.name)), 'NOPERM')

    def test_s_shared_seen(self):
        s = self.share('lrs')
        self.select(s.b, s.name)
        fm = fetch_map(self.ok(s.b.cmd('FETCH 1 BODY[]')))
        self.assertIn('\\Seen', fm[1]['FLAGS'])
        self.assertEqual(self.flags(s.a, 'Proj')[1], ['\\Seen'])
        # the owner's \Seen is the grantee's too
        self.ok(s.a.cmd('SELECT Proj'))
        self.ok(s.a.cmd('STORE 2 +FLAGS.SILENT (\\Seen)'))
        self.ok(s.a.cmd('UNSELECT'))
        self.assertIn('\\Seen', fetch_map(self.ok(s.b.cmd('FETCH 2 FLAGS')))
                      [2]['FLAGS'])
        self.ok(s.b.cmd('STORE 1:2 -FLAGS.SILENT (\\Seen)'))
        self.assertEqual(self.flags(s.a, 'Proj'), {1: [], 2: [], 3: []})

    def test_s_missing_gives_own_seen(self):
        s = self.share('lr', n=4)
        self.select(s.b, s.name)
        fm = fetch_map(self.ok(s.b.cmd('FETCH 1 BODY[]')))
        self.assertIn('\\Seen', fm[1]['FLAGS'])
        self.ok(s.b.cmd('STORE 3 +FLAGS (\\Seen)'))
        # the owner's flags are untouched
        self.assertEqual(self.flags(s.a, 'Proj'), {1: [], 2: [], 3: [],
                                                   4: []})
        # the owner reads message 2: not \Seen for the grantee
        self.ok(s.a.cmd('SELECT Proj'))
        self.ok(s.a.cmd('FETCH 2 BODY[]'))
        self.ok(s.a.cmd('UNSELECT'))
        self.assertEqual(self.flags(s.b, s.name), {1: ['\\Seen'], 2: [],
                                                   3: ['\\Seen'], 4: []})
        # the grantee's \Seen outlives the session
        s.b.close()
        b2 = self.connect(s.bob)
        self.assertEqual(self.flags(b2, s.name), {1: ['\\Seen'], 2: [],
                                                  3: ['\\Seen'], 4: []})
        self.select(b2, s.name)
        self.assertEqual(search_result(self.ok(b2.cmd('SEARCH UNSEEN'))),
                         [2, 4])
        self.assertEqual(search_result(self.ok(b2.cmd('SEARCH SEEN'))),
                         [1, 3])
        self.ok(b2.cmd('UNSELECT'))
        self.assertEqual(self.ok(b2.cmd('STATUS %s (UNSEEN)' % quote(s.name))),
                         ['* STATUS %s (UNSEEN 2)' % quote(s.name)])
        self.assertEqual(self.ok(s.a.cmd('STATUS Proj (UNSEEN)')),
                         ['* STATUS "Proj" (UNSEEN 3)'])
        # a third user has a \Seen of their own again
        carol = self.new_user()
        self.ok(s.a.cmd('SETACL Proj %s lr' % carol[0]))
        c = self.connect(carol)
        self.assertEqual(self.flags(c, s.name), {1: [], 2: [], 3: [], 4: []})

    def test_w_write(self):
        s = self.share('lrw')
        self.select(s.b, s.name)
        self.ok(s.b.cmd('STORE 1 +FLAGS (\\Flagged $Work \\Answered)'))
        self.assertEqual(sorted(self.flags(s.a, 'Proj')[1]),
                         sorted(['\\Flagged', '$Work', '\\Answered']))
        # without "w": only what other rights allow
        self.ok(s.a.cmd('SETACL Proj %s lrs' % s.bob[0]))
        self.select(s.b, s.name)
        self.no(s.b.cmd('STORE 2 +FLAGS (\\Flagged)'), 'NOPERM')
        self.no(s.b.cmd('STORE 2 +FLAGS ($Work)'), 'NOPERM')
        self.ok(s.b.cmd('STORE 2 +FLAGS (\\Seen \\Flagged)'))
        self.assertEqual(self.flags(s.a, 'Proj')[2], ['\\Seen'])

    def test_i_insert(self):
        s = self.share('lri')
        data = message(subject='from bob')
        tagged, _ = s.b.append(s.name, data, flags=['\\Seen', '\\Flagged',
                                                     '\\Deleted', '$K'])
        self.assertRegex(tagged, r'^a\d+ OK \[APPENDUID \d+ 4\] ')
        # flags the grantee may not set are dropped, not refused
        self.assertEqual(self.flags(s.a, 'Proj')[4], [])
        self.select(s.b, 'INBOX')
        self.ok(s.b.append('INBOX', message(subject='bob own')))
        self.ok(s.b.cmd('NOOP'))
        tagged, _ = s.b.cmd('COPY 1 %s' % quote(s.name))
        self.assertRegex(tagged, r'^a\d+ OK \[COPYUID \d+ 1 5\] ')
        self.assertEqual(self.count(s.a, 'Proj'), 5)
        # without "i"
        self.ok(s.a.cmd('SETACL Proj %s lr' % s.bob[0]))
        self.no(s.b.append(s.name, data), 'NOPERM')
        self.no(s.b.cmd('COPY 1 %s' % quote(s.name)), 'NOPERM')
        self.assertEqual(self.count(s.a, 'Proj'), 5)

    def test_k_create(self):
        s = self.share('lrk')
        sub = s.name + '/Sub'
        self.ok(s.b.cmd('CREATE %s' % quote(sub)))
        self.assertIn('Proj/Sub', self.listed(s.a))
        # the new mailbox starts with its parent's ACL
        self.assertEqual(self.ok(s.b.cmd('MYRIGHTS %s' % quote(sub))),
                         ['* MYRIGHTS %s lrkc' % quote(sub)])
        self.assertIn(sub, self.listed(s.b))
        # not at the owner's top level
        self.no(s.b.cmd('CREATE %s' % quote(shared(s.alice[0], 'Top'))),
                'NOPERM')
        # without "k"
        self.ok(s.a.cmd('SETACL Proj %s lr' % s.bob[0]))
        tagged = self.no(s.b.cmd('CREATE %s' % quote(s.name + '/Other')),
                         'NOPERM')
        self.assertIn('lack the "k" right', tagged)
        self.assertNotIn('Proj/Other', self.listed(s.a))

    def test_x_delete_and_rename(self):
        s = self.share('lr')
        self.ok(s.a.cmd('CREATE Proj/Sub'))
        self.ok(s.a.cmd('SETACL Proj/Sub %s lr' % s.bob[0]))
        sub = s.name + '/Sub'
        # without "x"
        self.no(s.b.cmd('DELETE %s' % quote(sub)), 'NOPERM')
        self.no(s.b.cmd('RENAME %s %s' % (quote(sub), quote(sub + '2'))),
                'NOPERM')
        self.assertIn('Proj/Sub', self.listed(s.a))
        # "x" on the mailbox, but no "k" on the new parent
        self.ok(s.a.cmd('SETACL Proj/Sub %s +x' % s.bob[0]))
        self.no(s.b.cmd('RENAME %s %s' % (quote(sub), quote(sub + '2'))),
                'NOPERM')
        # both
        self.ok(s.a.cmd('SETACL Proj %s +k' % s.bob[0]))
        self.ok(s.b.cmd('RENAME %s %s' % (quote(sub), quote(sub + '2'))))
        self.assertIn('Proj/Sub2', self.listed(s.a))
        self.assertNotIn('Proj/Sub', self.listed(s.a))
        # the renamed mailbox keeps its ACL
        self.assertEqual(self.ok(s.a.cmd('GETACL Proj/Sub2')),
                         ['* ACL "Proj/Sub2" %s %s %s lrxc' %
                          (s.alice[0], ALL, s.bob[0])])
        self.ok(s.b.cmd('DELETE %s' % quote(sub + '2')))
        self.assertNotIn('Proj/Sub2', self.listed(s.a))

    def test_t_deleted_flag(self):
        s = self.share('lrt')
        self.select(s.b, s.name)
        self.ok(s.b.cmd('STORE 1 +FLAGS (\\Deleted)'))
        self.assertEqual(self.flags(s.a, 'Proj')[1], ['\\Deleted'])
        self.ok(s.a.cmd('SETACL Proj %s lrw' % s.bob[0]))
        self.select(s.b, s.name)
        self.no(s.b.cmd('STORE 2 +FLAGS (\\Deleted)'), 'NOPERM')
        self.no(s.b.cmd('STORE 1 -FLAGS (\\Deleted)'), 'NOPERM')
        self.assertEqual(self.flags(s.a, 'Proj'), {1: ['\\Deleted'], 2: [],
                                                   3: []})

    def test_e_expunge(self):
        s = self.share('lrt')
        self.select(s.b, s.name)
        self.ok(s.b.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)'))
        self.no(s.b.cmd('EXPUNGE'), 'NOPERM')
        self.no(s.b.cmd('UID EXPUNGE 1'), 'NOPERM')
        # CLOSE without "e" closes and silently expunges nothing
        self.ok(s.b.cmd('CLOSE'))
        self.assertEqual(self.count(s.a, 'Proj'), 3)
        self.ok(s.a.cmd('SETACL Proj %s +e' % s.bob[0]))
        self.select(s.b, s.name)
        self.assertEqual(self.ok(s.b.cmd('EXPUNGE')), ['* 1 EXPUNGE'])
        self.ok(s.b.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)'))
        self.ok(s.b.cmd('CLOSE'))
        self.assertEqual(self.count(s.a, 'Proj'), 1)

    def test_a_administer(self):
        s = self.share('lra')
        carol = self.new_user()
        q = quote(s.name)
        self.assertEqual(self.ok(s.b.cmd('GETACL %s' % q)),
                         ['* ACL %s %s %s %s lra' % (q, s.alice[0], ALL,
                                                     s.bob[0])])
        self.assertEqual(self.ok(s.b.cmd('LISTRIGHTS %s %s' % (q, carol[0]))),
                         ['* LISTRIGHTS %s %s "" l r s w i p k x t e c d a' %
                          (q, carol[0])])
        self.ok(s.b.cmd('SETACL %s %s lr' % (q, carol[0])))
        c = self.connect(carol)
        self.assertIn(s.name, self.listed(c))
        self.ok(s.b.cmd('DELETEACL %s %s' % (q, carol[0])))
        self.assertNotIn(s.name, self.listed(c))
        # the grantee may take their own rights away
        self.ok(s.b.cmd('SETACL %s %s l' % (q, s.bob[0])))
        self.no(s.b.cmd('GETACL %s' % q), 'NOPERM')

    def test_myrights_with_insert_only(self):
        # a drop box: MYRIGHTS needs any right (RFC 4314 4)
        s = self.share('i')
        self.assertEqual(self.ok(s.b.cmd('MYRIGHTS %s' % quote(s.name))),
                         ['* MYRIGHTS %s i' % quote(s.name)])
        self.ok(s.b.append(s.name, message(subject='dropped')))
        self.no(s.b.cmd('GETACL %s' % quote(s.name)), 'NONEXISTENT')
        self.no(s.b.cmd('SELECT %s' % quote(s.name)), 'NONEXISTENT')
        self.assertNotIn(s.name, self.listed(s.b))
        self.assertEqual(self.count(s.a, 'Proj'), 4)


class SelectMode(AclCase):
    CASES = [
        # rights, SELECT mode, PERMANENTFLAGS
        ('lr', 'READ-ONLY', ['\\Seen']),
        ('lrs', 'READ-WRITE', ['\\Seen']),
        ('lrw', 'READ-WRITE', ['\\Answered', '\\Flagged', '\\Seen', '\\Draft',
                               '\\*']),
        ('lrt', 'READ-WRITE', ['\\Deleted', '\\Seen']),
        ('lri', 'READ-WRITE', ['\\Seen']),
        ('lre', 'READ-WRITE', ['\\Seen']),
        ('lrswite', 'READ-WRITE', ['\\Answered', '\\Flagged', '\\Deleted',
                                   '\\Seen', '\\Draft', '\\*']),
    ]

    def test_select_mode_and_permanentflags(self):
        s = self.share('lr')
        for rights, mode, perm in self.CASES:
            self.ok(s.a.cmd('SETACL Proj %s %s' % (s.bob[0], rights)))
            info = self.select(s.b, s.name)
            self.assertEqual((info['mode'], info['permanentflags']),
                             (mode, perm), rights)
            # EXAMINE is read-only whatever the rights
            info = self.select(s.b, s.name, examine=True)
            self.assertEqual((info['mode'], info['permanentflags']),
                             ('READ-ONLY', []), rights)
        # the owner has every right
        info = self.select(s.a, 'Proj')
        self.assertEqual((info['mode'], info['permanentflags']),
                         ('READ-WRITE', ['\\Answered', '\\Flagged',
                                         '\\Deleted', '\\Seen', '\\Draft',
                                         '\\*']))

    def test_examine_sets_no_own_seen(self):
        s = self.share('lr')
        self.select(s.b, s.name, examine=True)
        fm = fetch_map(self.ok(s.b.cmd('FETCH 1 (FLAGS BODY[])')))
        self.assertNotIn('\\Seen', fm[1]['FLAGS'])
        self.no(s.b.cmd('STORE 1 +FLAGS (\\Seen)'), 'READ-ONLY')
        self.assertEqual(self.flags(s.b, s.name)[1], [])


class KeptShareLists(AclCase):
    """A user's process keeps the master's list of what others share
    with it for the next LIST, until the master says it is stale
    (daemon/mailbox/proxy.c, daemon/master/requests.c).  Each LIST below
    follows a LIST that filled that list: without the notices, it would
    show the old one."""

    def test_grants_seen_by_the_next_list(self):
        alice, bob = self.new_user(), self.new_user()
        a, b = self.connect(alice), self.connect(bob)
        name = shared(alice[0], 'Proj')
        self.ok(a.cmd('CREATE Proj'))
        self.assertNotIn(name, self.listed(b))
        self.ok(a.cmd('SETACL Proj %s lr' % bob[0]))
        self.assertIn(name, self.listed(b))
        b2 = self.connect(bob)      # the same process, another session
        self.assertIn(name, self.listed(b2))
        self.ok(a.cmd('DELETEACL Proj %s' % bob[0]))
        self.assertNotIn(name, self.listed(b))
        self.assertNotIn(name, self.listed(b2))
        # "anyone": every process is told
        self.ok(a.cmd('SETACL Proj anyone lr'))
        self.assertIn(name, self.listed(b))
        self.ok(a.cmd('RENAME Proj Proj2'))
        self.assertNotIn(name, self.listed(b))
        self.assertIn(shared(alice[0], 'Proj2'), self.listed(b))
        self.ok(a.cmd('DELETE Proj2'))
        self.assertNotIn(shared(alice[0], 'Proj2'), self.listed(b))

    def test_directory_written_by_another_program(self):
        """A program that writes the share index without telling the
        daemon: the master sees the directory change within a second."""
        alice, bob = self.new_user(), self.new_user()
        a, b = self.connect(alice), self.connect(bob)
        name = shared(alice[0], 'Proj')
        self.ok(a.cmd('CREATE Proj'))
        self.ok(a.cmd('SETACL Proj %s lr' % bob[0]))
        self.assertIn(name, self.listed(b))
        db = sqlite3.connect(os.path.join(self.server.data_dir,
                                          'directory.db'), timeout=10)
        with db:
            n = db.execute('DELETE FROM shares WHERE grantee = ?',
                           (bob[0],)).rowcount
        db.close()
        self.assertEqual(n, 1)
        deadline = time.monotonic() + 10
        while name in self.listed(b) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertNotIn(name, self.listed(b))


if __name__ == '__main__':
    unittest.main(verbosity=2)
