"""mkimap.py - shared helpers for the end-to-end tests of the
authenticated and selected states (test_session, test_mailboxes,
test_messages, test_concurrency, test_seeds, test_durability).

  parse(line)         an IMAP response line (bytes or str, literals inline
                      as Client.readline_bytes returns them) as nested
                      Python values: atoms and quoted strings are str,
                      literals are bytes, NIL is None, lists are lists.
  fetch_map(lines)    {seq: {ITEM: value}} from untagged FETCH responses.
  code(line)          the response code of a status line: ('NAME', 'args')
  select_info(...)    what SELECT/EXAMINE said, as a dict.
  message(...)        a small RFC 5322 message as bytes (CRLF).
  ImapCase            unittest base: one Server per class, a fresh user
                      per call of new_user(), logged-in clients that are
                      closed after the test, and a sanitizer check of the
                      server log after every test.

Python 3 standard library only.
"""
import itertools
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import Client, Closed, Server, quote  # noqa: E402,F401

OK_RE = r'^a\d+ OK '


# ---- response parsing ----

class ParseError(Exception):
    pass


def parse(line):
    """Tokens of one response line; see the module comment."""
    if isinstance(line, str):
        line = line.encode('utf-8')
    pos = 0
    n = len(line)

    def skip():
        nonlocal pos
        while pos < n and line[pos:pos + 1] == b' ':
            pos += 1

    def value():
        nonlocal pos
        skip()
        if pos >= n:
            raise ParseError('unexpected end: %r' % line)
        ch = line[pos:pos + 1]
        if ch == b'(':
            pos += 1
            out = []
            while True:
                skip()
                if pos >= n:
                    raise ParseError('unclosed list: %r' % line)
                if line[pos:pos + 1] == b')':
                    pos += 1
                    return out
                out.append(value())
        if ch == b'"':
            pos += 1
            out = bytearray()
            while True:
                if pos >= n:
                    raise ParseError('unclosed string: %r' % line)
                c = line[pos:pos + 1]
                if c == b'\\':
                    out += line[pos + 1:pos + 2]
                    pos += 2
                    continue
                pos += 1
                if c == b'"':
                    return out.decode('utf-8', 'replace')
                out += c
        if ch == b'{' or line[pos:pos + 2] == b'~{':
            end = line.index(b'}', pos)
            num = line[pos:end].lstrip(b'~{').rstrip(b'+')
            size = int(num)
            if line[end + 1:end + 3] != b'\r\n':
                raise ParseError('literal without CRLF: %r' % line)
            start = end + 3
            pos = start + size
            return bytes(line[start:pos])
        # atom; brackets (sections, response codes) may hold spaces
        start = pos
        depth = 0
        while pos < n:
            c = line[pos:pos + 1]
            if c == b'[':
                depth += 1
            elif c == b']':
                depth -= 1
            elif depth == 0 and c in (b' ', b'(', b')'):
                break
            pos += 1
        atom = line[start:pos].decode('utf-8', 'replace')
        if atom == '':
            raise ParseError('empty atom at %d: %r' % (pos, line))
        return None if atom.upper() == 'NIL' else atom

    out = []
    while True:
        skip()
        if pos >= n:
            return out
        out.append(value())


def as_bytes(v):
    """A string value (quoted or literal) as bytes; None stays None."""
    if v is None or isinstance(v, bytes):
        return v
    return v.encode('utf-8')


def fetch_map(lines):
    """{seq: {ITEM: value}} from the untagged FETCH responses in lines."""
    out = {}
    for line in lines:
        if isinstance(line, bytes):
            m = re.match(rb'^\* (\d+) FETCH ', line)
        else:
            m = re.match(r'^\* (\d+) FETCH ', line)
        if not m:
            continue
        toks = parse(line)
        items = toks[3]
        d = out.setdefault(int(m.group(1)), {})
        for i in range(0, len(items), 2):
            d[items[i].upper()] = items[i + 1]
    return out


def fetch_lines(lines):
    return [l for l in lines if re.match(r'^\* \d+ FETCH ', l)]


def code(line):
    """('NAME', 'args') of a status response's [code], or None."""
    m = re.match(r'^(?:\*|\+|\S+) (?:OK|NO|BAD|BYE|PREAUTH) \[([^\] ]+)'
                 r'(?: ([^\]]*))?\]', line)
    if not m:
        return None
    return (m.group(1).upper(), m.group(2) or '')


def untagged_code(lines, name):
    """args of the first untagged OK/NO/BAD carrying [name ...]."""
    for l in lines:
        c = code(l)
        if c and c[0] == name and l.startswith('* '):
            return c[1]
    return None


def select_info(tagged, untagged):
    """What SELECT or EXAMINE reported."""
    info = {'tagged': tagged}
    for l in untagged:
        m = re.match(r'^\* (\d+) (EXISTS|RECENT)$', l)
        if m:
            info[m.group(2).lower()] = int(m.group(1))
            continue
        if l.startswith('* FLAGS '):
            info['flags'] = parse(l)[2]
            continue
        c = code(l)
        if c is None:
            continue
        name, args = c
        if name == 'PERMANENTFLAGS':
            info['permanentflags'] = parse(args)[0]
        elif name in ('UNSEEN', 'UIDVALIDITY', 'UIDNEXT', 'HIGHESTMODSEQ'):
            info[name.lower()] = int(args)
        elif name == 'NOMODSEQ':
            info['nomodseq'] = True
    c = code(tagged)
    info['mode'] = c[0] if c else None
    return info


def search_result(untagged):
    """The numbers of the untagged SEARCH response."""
    for l in untagged:
        if l == '* SEARCH' or l.startswith('* SEARCH '):
            return [int(x) for x in l.split()[2:] if x.isdigit()]
    raise AssertionError('no SEARCH response in %r' % untagged)


def esearch_result(untagged):
    """{'TAG': ..., 'UID': True, 'MIN': ..} of the ESEARCH response."""
    for l in untagged:
        if l.startswith('* ESEARCH'):
            toks = parse(l)[2:]
            out = {}
            i = 0
            while i < len(toks):
                t = toks[i]
                if isinstance(t, list):
                    out['TAG'] = t[1]
                    i += 1
                elif t.upper() == 'UID':
                    out['UID'] = True
                    i += 1
                else:
                    out[t.upper()] = toks[i + 1]
                    i += 2
            return out
    raise AssertionError('no ESEARCH response in %r' % untagged)


def expand_set(text):
    """'1:3,7' -> [1, 2, 3, 7]"""
    out = []
    for part in text.split(','):
        if ':' in part:
            a, b = part.split(':')
            a, b = int(a), int(b)
            out.extend(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out


# ---- messages ----

def message(subject='test', body='Hello.\r\n', frm='Alice <alice@example.org>',
            to='Bob <bob@example.org>', date='Mon, 7 Feb 1994 21:52:25 -0800',
            headers=()):
    """A small message with CRLF line ends, as bytes."""
    lines = ['From: %s' % frm, 'To: %s' % to, 'Subject: %s' % subject,
             'Date: %s' % date, 'Message-ID: <%s@example.org>' %
             re.sub(r'[^A-Za-z0-9]', '.', subject)]
    lines += list(headers)
    text = '\r\n'.join(lines) + '\r\n\r\n' + body
    return text.encode('utf-8')


# ---- test base ----

class ImapCase(unittest.TestCase):
    """One Server per test class; a fresh user for each new_user()."""
    server = None
    config = {}
    _ids = itertools.count(1)

    @classmethod
    def setUpClass(cls):
        cls.server = Server(config=cls.config)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
        finally:
            cls.server.cleanup()

    def setUp(self):
        self._log_from = len(self.server.logtext())

    def tearDown(self):
        # only this test's part of the log: one report fails one test
        text = self.server.logtext()[self._log_from:]
        for mark in Server.SANITIZER_MARKS:
            if mark in text:
                raise AssertionError('sanitizer report in the log:\n' + text)

    def new_user(self):
        """(name, password) of a user made for this test."""
        name = 'u%d%s' % (next(self._ids), self.id().rsplit('.', 1)[-1][5:13]
                          .replace('_', '').lower())
        pw = 'pw-' + name
        self.server.ctl('useradd', name, '--password-stdin', stdin=pw + '\n')
        return name, pw

    def connect(self, user=None, timeout=10):
        """A Client logged in as user (a new user if None), closed after
        the test."""
        if user is None:
            user = self.new_user()
        c = self.server.client(login=user, timeout=timeout)
        self.addCleanup(c.close)
        return c

    # -- assertions --

    def ok(self, result, pattern=None):
        tagged, untagged = result
        self.assertRegex(tagged, OK_RE, untagged)
        if pattern is not None:
            self.assertRegex(tagged, pattern)
        return untagged

    def assertTagged(self, result, status, text_re=''):
        tagged = result[0]
        self.assertRegex(tagged, r'^a\d+ %s %s' % (status, text_re))
        return result[1]

    def select(self, c, mbox='INBOX', examine=False, extra=''):
        r = c.cmd('%s %s%s' % ('EXAMINE' if examine else 'SELECT',
                                quote(mbox), extra))
        self.ok(r)
        return select_info(*r)

    def fill(self, c, mbox, n, prefix='msg', flags=None):
        """Appends n messages; returns their bodies in order."""
        out = []
        for i in range(n):
            data = message(subject='%s %d' % (prefix, i + 1),
                           body='Body of %s %d.\r\n' % (prefix, i + 1))
            self.ok(c.append(mbox, data, flags=flags))
            out.append(data)
        return out

    def wait_lines(self, c, pred, timeout=3.0):
        """Reads untagged lines until pred(lines) is true; returns them."""
        lines = []
        deadline = time.monotonic() + timeout
        while not pred(lines):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('timed out; got %r' % lines)
            lines.append(c.readline(timeout=left))
        return lines
