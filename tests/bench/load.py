#!/usr/bin/env python3
"""load.py - an IMAP load generator with a mix close to imaptest's.

N clients (asyncio connections) over M users run imaptest's default
stress cycle against any IMAP server and report commands per second,
per-command latency percentiles, errors, and (given the server's pid or
process name) the server's CPU and PSS over its whole process tree.

    python3 tests/bench/load.py --host 127.0.0.1 --port 143 \\
        --users 'user%d' --user-count 100 --password pass \\
        --clients 10 --duration 30 [--no-logout] [--server-name mailkeepd]

The cycle (as imaptest's default states, each taken with its weight in
percent, in this order; a connection goes through it once, then logs out
and a new connection starts, unless --no-logout):

    LOGIN 100, LIST 50, STATUS 50, SELECT 100, FETCH 100, FETCH2 100,
    STORE 50, DELETE 100, EXPUNGE 100, APPEND 100, LOGOUT 100

  FETCH    FETCH <range of up to 100> (1-4 random items of UID FLAGS
           ENVELOPE INTERNALDATE BODY BODYSTRUCTURE RFC822.SIZE
           BODY.PEEK[HEADER.FIELDS (...)])
  FETCH2   FETCH <n> (UID BODY.PEEK[] | BODY.PEEK[HEADER] |
           RFC822.HEADER | BODY.PEEK[1] | BODY.PEEK[TEXT])
  STORE    STORE <range> [+-]FLAGS[.SILENT] (random \\Seen \\Flagged
           \\Answered \\Draft $Label1-5)
  DELETE   STORE <range> +FLAGS[.SILENT] (\\Deleted) (a few messages)
  EXPUNGE  EXPUNGE
  APPEND   APPEND INBOX a message of the corpus, only while the mailbox
           holds fewer than --msgs (30) messages, as imaptest does

--mix changes weights: --mix 'list=0,status=0,store=100'.  Before the
run every user's INBOX is filled to --msgs messages (APPEND, not timed)
from a generated corpus (deterministic in --seed) or from --mbox.

Errors: every tagged NO or BAD (by command and response text), an
untagged BYE the client did not ask for, and connection failures
(refused, reset, timeout).  NO [EXPUNGEISSUED] and "no longer exist"
answers to FETCH/STORE of a message another session expunged are counted
as errors too, and also reported apart (imaptest ignores those texts).

Server figures: the process tree of --server-pid (or the oldest process
named --server-name whose parent is not so named): CPU is utime+stime of
the live processes plus cutime+cstime (the children already reaped),
before and after; PSS is the sum of Pss in /proc/PID/smaps_rollup over
the tree, before, sampled every 0.5 s during the run (peak) and after.
Reading other users' smaps_rollup needs root (or the same uid).

--check starts a Mailkeep instance with tests/e2e/mkharness.py
(MK_BUILD_DIR, default build/), runs 3 s of load against it and exits 1
unless it completed commands without errors.

Python 3 standard library only.
"""
import argparse
import asyncio
import collections
import math
import multiprocessing
import os
import random
import re
import ssl
import sys
import threading
import time

# imaptest's default states (client-state.c), in its order, with their
# default probabilities; COPY is off there unless copy_dest is given.
DEFAULT_MIX = collections.OrderedDict([
    ('login', 100), ('list', 50), ('status', 50), ('select', 100),
    ('fetch', 100), ('fetch2', 100), ('store', 50), ('delete', 100),
    ('expunge', 100), ('append', 100), ('logout', 100),
])
# second probability of APPEND (imaptest append=100,5): after each
# message, the chance that a MULTIAPPEND goes on with another
APPEND_MORE = 5
# and of FETCH2 (fetch2=100,30): the chance that FETCH2 comes again
FETCH2_AGAIN = 30
CMD_NAMES = ['LOGIN', 'LIST', 'STATUS', 'SELECT', 'FETCH', 'FETCH2',
             'STORE', 'DELETE', 'EXPUNGE', 'APPEND', 'LOGOUT']

FETCH_ITEMS = ['UID', 'FLAGS', 'ENVELOPE', 'INTERNALDATE', 'BODY',
               'BODYSTRUCTURE', 'RFC822.SIZE']
HEADER_FIELDS = ['From', 'To', 'Cc', 'Subject', 'References',
                 'In-Reply-To', 'Message-ID']
FETCH2_ITEMS = ['BODY.PEEK[HEADER]', 'RFC822.HEADER', 'BODY.PEEK[]',
                'BODY.PEEK[1]', 'BODY.PEEK[TEXT]']
STORE_FLAGS = ['\\Seen', '\\Flagged', '\\Answered', '\\Draft',
               '$Label1', '$Label2', '$Label3', '$Label4', '$Label5']

RACE_RE = re.compile(r'EXPUNGEISSUED|no longer exist|been expunged',
                     re.I)


# ---------------------------------------------------------------- corpus

WORDS = ('the of and to in is that it for on with as was be by this are '
         'or at from but not have an they which one you were all we there '
         'would their will when who been has more if out so said what up '
         'about into than them can only other new some could time these '
         'two may then first any now such like our over even most made '
         'after also did many before must through back years where much '
         'meeting report budget quarter release server mailbox invoice '
         'schedule draft review project deadline update attached please '
         'thanks regards').split()
NAMES = ['Alice Smith', 'Bob Jones', 'Carol Nguyen', 'Dave Miller',
         'Eve Brown', 'Frank Garcia', 'Grace Lee', 'Heidi Martin',
         'Ivan Petrov', 'Judy Wilson', 'Oscar Lewis', 'Peggy Walker']
DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']
MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep',
          'Oct', 'Nov', 'Dec']


def _addr(rng):
    n = rng.choice(NAMES)
    return '"%s" <%s@example.%s>' % (n, n.lower().replace(' ', '.'),
                                     rng.choice(['com', 'org', 'net']))


def _text(rng, size):
    lines, line, total = [], [], 0
    while total < size:
        w = rng.choice(WORDS)
        line.append(w)
        total += len(w) + 1
        if sum(len(x) + 1 for x in line) > 66:
            lines.append(' '.join(line))
            line = []
    if line:
        lines.append(' '.join(line))
    return '\r\n'.join(lines) + '\r\n'


def make_corpus(count, seed):
    """count deterministic messages, 1-50 KB (log-uniform), CRLF: plain
    text (60 %), multipart/alternative (25 %), multipart/mixed with a
    base64 attachment (15 %); a third are replies."""
    import base64
    rng = random.Random('corpus-%s' % seed)
    out = []
    for i in range(count):
        size = int(math.exp(rng.uniform(math.log(1000), math.log(50000))))
        subj = ' '.join(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))
        mid = '<%d.%d@load.example>' % (i, seed if isinstance(seed, int)
                                        else 0)
        hdr = [
            'From: ' + _addr(rng),
            'To: ' + _addr(rng),
            'Subject: ' + ('Re: ' if i % 3 == 1 else '') + subj,
            'Date: %s, %02d %s 2025 %02d:%02d:%02d +0000' % (
                DAYS[rng.randrange(7)], rng.randint(1, 28),
                MONTHS[rng.randrange(12)], rng.randrange(24),
                rng.randrange(60), rng.randrange(60)),
            'Message-ID: ' + mid,
            'MIME-Version: 1.0',
        ]
        if rng.random() < 0.3:
            hdr.append('Cc: ' + _addr(rng))
        if i % 3 == 1 and i > 0:
            ref = '<%d.%d@load.example>' % (i - 1, seed if isinstance(
                seed, int) else 0)
            hdr += ['In-Reply-To: ' + ref, 'References: ' + ref]
        kind = rng.random()
        if kind < 0.60:
            hdr.append('Content-Type: text/plain; charset=us-ascii')
            body = _text(rng, size)
        elif kind < 0.85:
            b = 'alt-%d' % i
            hdr.append('Content-Type: multipart/alternative; boundary="%s"'
                       % b)
            t = _text(rng, size // 2)
            body = ('--%s\r\nContent-Type: text/plain; charset=us-ascii'
                    '\r\n\r\n%s--%s\r\nContent-Type: text/html; '
                    'charset=us-ascii\r\n\r\n<html><body><p>%s</p>'
                    '</body></html>\r\n--%s--\r\n' % (b, t, b, t, b))
        else:
            b = 'mix-%d' % i
            hdr.append('Content-Type: multipart/mixed; boundary="%s"' % b)
            blob = bytes(rng.randrange(256) for _ in range(size // 2))
            enc = base64.encodebytes(blob).decode().replace('\n', '\r\n')
            body = ('--%s\r\nContent-Type: text/plain; charset=us-ascii'
                    '\r\n\r\n%s--%s\r\nContent-Type: application/'
                    'octet-stream; name="data%d.bin"\r\nContent-Transfer-'
                    'Encoding: base64\r\nContent-Disposition: attachment; '
                    'filename="data%d.bin"\r\n\r\n%s--%s--\r\n' % (
                        b, _text(rng, 300), b, i, i, enc, b))
        out.append(('\r\n'.join(hdr) + '\r\n\r\n' + body).encode('ascii'))
    return out


def read_mbox(path, limit):
    """Messages of an mbox file ("From " separated), CRLF line ends."""
    msgs, cur = [], None
    with open(path, 'rb') as f:
        for line in f:
            if line.startswith(b'From '):
                if cur is not None:
                    msgs.append(b''.join(cur))
                    if len(msgs) >= limit:
                        return msgs
                cur = []
                continue
            if cur is None:
                continue
            line = line.rstrip(b'\r\n')
            if line.startswith(b'>From ') or re.match(rb'^>+From ', line):
                line = line[1:]
            cur.append(line + b'\r\n')
    if cur:
        msgs.append(b''.join(cur))
    return msgs


# ---------------------------------------------------------------- IMAP

class ImapError(Exception):
    """A connection or protocol failure (not a tagged NO/BAD)."""


LITERAL_RE = re.compile(rb'\{(\d+)\+?\}\r\n$')


class Conn:
    def __init__(self, reader, writer, timeout):
        self.r, self.w = reader, writer
        self.timeout = timeout
        self.tagn = 0
        self.caps = set()
        self.exists = 0
        self.bye = False

    @classmethod
    async def open(cls, a):
        ctx = None
        if a.tls:
            ctx = ssl.create_default_context(cafile=a.cafile)
            if not a.cafile:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
        try:
            r, w = await asyncio.wait_for(
                asyncio.open_connection(a.host, a.port, ssl=ctx,
                                        limit=1 << 20), a.timeout)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
            raise ImapError('connect: %s' % (type(e).__name__))
        c = cls(r, w, a.timeout)
        line = await c.readline()
        if not line.startswith(b'* OK'):
            c.close()
            raise ImapError('greeting: %s' % line[:60].decode(
                'ascii', 'replace').strip())
        m = re.search(rb'\[CAPABILITY ([^\]]*)\]', line)
        if m:
            c.caps = set(m.group(1).upper().split())
        return c

    async def readline(self):
        try:
            line = await asyncio.wait_for(self.r.readline(), self.timeout)
        except asyncio.TimeoutError:
            raise ImapError('timeout')
        except (OSError, ssl.SSLError) as e:
            raise ImapError('read: %s' % type(e).__name__)
        except ValueError:
            raise ImapError('line too long')
        if not line.endswith(b'\n'):
            raise ImapError('connection closed')
        return line

    async def response_line(self):
        """One whole response line, literals read and replaced by
        their size."""
        line = await self.readline()
        while True:
            m = LITERAL_RE.search(line)
            if not m:
                return line
            n = int(m.group(1))
            try:
                await asyncio.wait_for(self.r.readexactly(n), self.timeout)
            except asyncio.TimeoutError:
                raise ImapError('timeout')
            except (asyncio.IncompleteReadError, OSError, ssl.SSLError):
                raise ImapError('connection closed')
            line = line[:m.start()] + b'{%d}' % n + await self.readline()

    def _untagged(self, line):
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[1].isdigit():
            what = parts[2].upper()
            if what == b'EXISTS':
                self.exists = int(parts[1])
            elif what == b'EXPUNGE':
                self.exists -= 1
        elif len(parts) >= 2:
            what = parts[1].upper()
            if what == b'CAPABILITY':
                self.caps = set(line.upper().split()[2:])
            elif what == b'OK' and b'[CAPABILITY ' in line.upper():
                m = re.search(rb'\[CAPABILITY ([^\]]*)\]', line.upper())
                self.caps = set(m.group(1).split())
            elif what == b'BYE':
                self.bye = True

    async def command(self, line, literals=()):
        """Sends a command (literals: byte strings that follow it, the
        command text holding a {n} marker before each); returns
        (status, text) of the tagged reply."""
        self.tagn += 1
        tag = b'a%d' % self.tagn
        plus = b'LITERAL+' in self.caps
        parts = line.split('\0')        # '\0' marks a literal
        out = [tag, b' ']
        try:
            for k, part in enumerate(parts):
                out.append(part.encode())
                if k < len(literals):
                    n = len(literals[k])
                    out.append(b'{%d%s}\r\n' % (n, b'+' if plus else b''))
                    if not plus:
                        self.w.write(b''.join(out))
                        out = []
                        while True:
                            resp = await self.response_line()
                            if resp.startswith(b'+'):
                                break
                            if resp.startswith(tag + b' '):
                                return self._tagged(resp, tag)
                            self._untagged(resp)
                    out.append(literals[k])
            out.append(b'\r\n')
            self.w.write(b''.join(out))
        except (OSError, ssl.SSLError) as e:
            raise ImapError('write: %s' % type(e).__name__)
        while True:
            resp = await self.response_line()
            if resp.startswith(tag + b' '):
                return self._tagged(resp, tag)
            if resp.startswith(b'*'):
                self._untagged(resp)
            elif resp.startswith(b'+'):
                raise ImapError('unexpected continuation')

    async def pipeline(self, cmds):
        """Sends all of cmds [(line, literals)] at once (literals as
        LITERAL+ non-synchronizing ones), then reads until each has its
        tagged reply; returns [(status, text, time of the reply)]."""
        tags, out = [], []
        for line, literals in cmds:
            self.tagn += 1
            tag = b'a%d' % self.tagn
            tags.append(tag)
            out.append(tag + b' ')
            for k, part in enumerate(line.split('\0')):
                out.append(part.encode())
                if k < len(literals):
                    out.append(b'{%d+}\r\n' % len(literals[k]))
                    out.append(literals[k])
            out.append(b'\r\n')
        try:
            self.w.write(b''.join(out))
        except (OSError, ssl.SSLError) as e:
            raise ImapError('write: %s' % type(e).__name__)
        done, pending = {}, set(tags)
        while pending:
            resp = await self.response_line()
            if resp.startswith(b'*'):
                self._untagged(resp)
                continue
            if resp.startswith(b'+'):
                raise ImapError('unexpected continuation')
            tag = resp.split(b' ', 1)[0]
            if tag in pending:
                pending.discard(tag)
                done[tag] = self._tagged(resp, tag) + (time.monotonic(),)
        return [done[t] for t in tags]

    def _tagged(self, resp, tag):
        rest = resp[len(tag) + 1:].rstrip(b'\r\n').decode('utf-8',
                                                          'replace')
        status, _, text = rest.partition(' ')
        return status.upper(), text

    def close(self):
        try:
            self.w.close()
        except Exception:
            pass


# ---------------------------------------------------------------- load

class Stats:
    def __init__(self):
        self.lat = collections.defaultdict(list)   # cmd -> [seconds]
        self.errors = collections.Counter()        # (cmd, text) -> n
        self.races = 0
        self.conn_errors = collections.Counter()   # text -> n
        self.untagged_bye = 0
        self.connections = 0
        self.appended = 0


def rand_range(rng, msgs, count):
    """A random range of `count` (>=1) sequence numbers within 1..msgs."""
    count = max(1, min(count, msgs))
    start = rng.randint(1, msgs - count + 1)
    return '%d' % start if count == 1 else '%d:%d' % (start,
                                                      start + count - 1)


async def run_client(idx, a, users, corpus, mix, stats, deadline, rng):
    mailbox = a.mailbox
    while time.monotonic() < deadline:
        if a.fixed_users:
            user, pw = users[idx % len(users)]
        else:
            user, pw = users[rng.randrange(len(users))]
        conn = None
        now = time.monotonic

        def record(name, status, text, t0, t1):
            if t1 <= deadline:
                stats.lat[name].append(t1 - t0)
                if status != 'OK':
                    stats.errors[(name, status + ' ' + text[:100])] += 1
                    if name in ('FETCH', 'FETCH2', 'STORE', 'DELETE') and \
                            RACE_RE.search(text):
                        stats.races += 1

        async def timed(name, line, literals=()):
            t0 = now()
            status, text = await conn.command(line, literals)
            record(name, status, text, t0, now())
            return status, text

        queued = []

        async def queue(name, line, literals=(), on_ok=None):
            """timed(), or with --pipeline (and LITERAL+) kept for
            flush(), which sends all that was queued at once."""
            if a.pipeline and b'LITERAL+' in conn.caps:
                queued.append((name, line, literals, on_ok))
                return
            status, _ = await timed(name, line, literals)
            if status == 'OK' and on_ok:
                on_ok()

        async def flush():
            if not queued:
                return
            cmds = list(queued)
            del queued[:]
            t0 = now()
            res = await conn.pipeline([(c[1], c[2]) for c in cmds])
            for (name, _, _, on_ok), (status, text, t1) in zip(cmds, res):
                record(name, status, text, t0, t1)
                if status == 'OK' and on_ok:
                    on_ok()

        try:
            conn = await Conn.open(a)
            stats.connections += 1
            status, _ = await timed('LOGIN', 'LOGIN "%s" "%s"' % (user, pw))
            if status != 'OK':
                conn.close()
                await asyncio.sleep(0.05)
                continue
            selected = False
            while time.monotonic() < deadline:
                if rng.randrange(100) < mix['list']:
                    await queue('LIST', 'LIST "" "*"')
                if rng.randrange(100) < mix['status']:
                    await queue('STATUS', 'STATUS %s (MESSAGES UNSEEN '
                                'RECENT)' % mailbox)
                # the server may report expunges after these: the
                # sequence numbers below are taken from the view after
                await flush()
                if not selected and rng.randrange(100) < mix['select']:
                    status, _ = await timed('SELECT', 'SELECT ' + mailbox)
                    selected = status == 'OK'
                if selected:
                    await selected_cycle(conn, queue, rng, mix, a, corpus,
                                         stats, mailbox)
                elif rng.randrange(100) < mix['append']:
                    await append(conn, queue, rng, corpus, stats, mailbox)
                await flush()
                if conn.bye:
                    stats.untagged_bye += 1
                    break
                if a.no_logout:
                    continue
                if rng.randrange(100) < mix['logout']:
                    await timed('LOGOUT', 'LOGOUT')
                    break
        except ImapError as e:
            if time.monotonic() < deadline:
                stats.conn_errors[str(e)] += 1
        finally:
            if conn is not None:
                if time.monotonic() >= deadline and not conn.bye:
                    try:
                        await asyncio.wait_for(conn.command('LOGOUT'), 2)
                    except Exception:
                        pass
                conn.close()


async def append(conn, queue, rng, corpus, stats, mailbox):
    msgs = [corpus[rng.randrange(len(corpus))]]
    if b'MULTIAPPEND' in conn.caps:
        while rng.randrange(100) < APPEND_MORE and len(msgs) < 10:
            msgs.append(corpus[rng.randrange(len(corpus))])
    line = 'APPEND ' + mailbox + ''.join(' \0' for _ in msgs)

    def ok():
        stats.appended += len(msgs)
    await queue('APPEND', line, msgs, ok)


async def selected_cycle(conn, timed, rng, mix, a, corpus, stats, mailbox):
    """FETCH, FETCH2, STORE, DELETE, EXPUNGE, APPEND.  With --pipeline,
    `timed` only queues, and every sequence number comes from the view
    before the batch: the server reports no expunge while it answers
    FETCH or STORE, and EXPUNGE is the last command that uses them."""
    def msgs():
        return conn.exists

    if msgs() and rng.randrange(100) < mix['fetch']:
        items = []
        for _ in range(rng.randrange(4) + 1):
            if rng.randrange(4):
                items.append(rng.choice(FETCH_ITEMS))
            else:
                hf = [rng.choice(HEADER_FIELDS)
                      for _ in range(rng.randrange(4) + 1)]
                items.append('BODY.PEEK[HEADER.FIELDS (%s)]' % ' '.join(hf))
        await timed('FETCH', 'FETCH %s (%s)' % (
            rand_range(rng, msgs(), min(msgs(), 100)), ' '.join(items)))
    if msgs() and rng.randrange(100) < mix['fetch2']:
        while True:
            await timed('FETCH2', 'FETCH %d (UID %s)' % (
                rng.randint(1, msgs()), rng.choice(FETCH2_ITEMS)))
            if not msgs() or rng.randrange(100) >= FETCH2_AGAIN:
                break
    if msgs() and rng.randrange(100) < mix['store']:
        n = msgs()
        count = rng.randrange(n if n < 10 else min(n // 5, 50)) + 1
        flags = sorted(set(rng.choice(STORE_FLAGS)
                           for _ in range(rng.randrange(3) + 1)))
        await timed('STORE', 'STORE %s %sFLAGS%s (%s)' % (
            rand_range(rng, n, count), rng.choice(['+', '-', '']),
            '.SILENT' if rng.randrange(2) else '', ' '.join(flags)))
    if msgs() and rng.randrange(100) < mix['delete']:
        # imaptest: a bound that balances the appends, more when the
        # mailbox has grown past the threshold
        bound = 1 + (mix['append'] + mix['delete'] // 2) // max(
            1, mix['delete'])
        if msgs() > a.msgs + 5:
            bound += msgs() - a.msgs
        count = rng.randrange(bound)
        if count or rng.randrange(10) == 0:
            await timed('DELETE', 'STORE %s +FLAGS%s (\\Deleted)' % (
                rand_range(rng, msgs(), max(count, 1)),
                '.SILENT' if rng.randrange(2) else ''))
    if rng.randrange(100) < mix['expunge']:
        await timed('EXPUNGE', 'EXPUNGE')
    if rng.randrange(100) < mix['append'] and \
            msgs() - (msgs() >> 3) < a.msgs:
        await append(conn, timed, rng, corpus, stats, mailbox)


async def fill_users(a, users, corpus):
    """Brings every user's mailbox to a.msgs messages (untimed)."""
    # 4 at a time: Mailkeep's auth_max_pending_per_addr default
    sem = asyncio.Semaphore(min(4, max(1, len(users))))
    done = collections.Counter()

    async def one(k, user, pw):
        async with sem:
            c = await Conn.open(a)
            try:
                for _ in range(50):
                    st, text = await c.command('LOGIN "%s" "%s"' % (user,
                                                                    pw))
                    if st == 'OK' or '[UNAVAILABLE]' not in text:
                        break
                    await asyncio.sleep(0.2)      # throttled: try again
                if st != 'OK':
                    raise ImapError('fill: LOGIN %s: %s %s' % (user, st,
                                                               text))
                st, text = await c.command('SELECT ' + a.mailbox)
                if st != 'OK':
                    raise ImapError('fill: SELECT %s: %s %s' % (
                        a.mailbox, st, text))
                j = k * a.msgs
                while c.exists < a.msgs:
                    st, text = await c.command(
                        'APPEND %s \0' % a.mailbox,
                        [corpus[j % len(corpus)]])
                    if st != 'OK':
                        raise ImapError('fill: APPEND: %s %s' % (st, text))
                    j += 1
                    done['appended'] += 1
                    await c.command('NOOP')
                await c.command('LOGOUT')
            finally:
                c.close()

    await asyncio.gather(*(one(k, u, p) for k, (u, p) in enumerate(users)))
    return done['appended']


def worker(a, users, corpus, mix, first, count, start_at, q):
    """One process: clients first..first+count-1, until start_at +
    duration; puts its Stats (as a dict) and CPU seconds on q."""
    stats = Stats()
    deadline = start_at + a.duration

    async def main():
        while time.monotonic() < start_at:
            await asyncio.sleep(min(0.05, start_at - time.monotonic()))
        await asyncio.gather(*(
            run_client(first + i, a, users, corpus, mix, stats, deadline,
                       random.Random('%s-%d' % (a.seed, first + i)))
            for i in range(count)))

    t0 = os.times()
    asyncio.run(main())
    t1 = os.times()
    q.put({'lat': dict(stats.lat), 'errors': dict(stats.errors),
           'races': stats.races, 'conn_errors': dict(stats.conn_errors),
           'bye': stats.untagged_bye, 'connections': stats.connections,
           'appended': stats.appended,
           'cpu': (t1.user + t1.system) - (t0.user + t0.system)})


# ---------------------------------------------------------------- server

HZ = os.sysconf('SC_CLK_TCK')


def _stat(pid):
    """(comm, ppid, own ticks, reaped children's ticks, start time) or
    None."""
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            data = f.read().decode('ascii', 'replace')
    except OSError:
        return None
    comm = data[data.index('(') + 1:data.rindex(')')]
    f = data[data.rindex(')') + 2:].split()
    return (comm, int(f[1]), int(f[11]) + int(f[12]),
            int(f[13]) + int(f[14]), int(f[19]))


def _all_stats():
    out = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                out[int(d)] = st
    return out


def find_server(name):
    """The oldest process named `name` whose parent has another name,
    and how many such processes there are."""
    stats = _all_stats()
    roots = [p for p, st in stats.items() if st[0] == name and
             stats.get(st[1], ('',))[0] != name]
    if not roots:
        return None, 0
    return min(roots, key=lambda p: (stats[p][4], p)), len(roots)


def process_tree(root, stats=None):
    stats = stats or _all_stats()
    kids = collections.defaultdict(list)
    for p, st in stats.items():
        kids[st[1]].append(p)
    tree, todo = {}, [root]
    while todo:
        p = todo.pop()
        if p in stats and p not in tree:
            tree[p] = stats[p]
            todo.extend(kids[p])
    return tree


def tree_cpu(root):
    tree = process_tree(root)
    return sum(st[2] + st[3] for st in tree.values()) / HZ, len(tree)


def tree_pss_kib(root):
    total, n = 0, 0
    for p in process_tree(root):
        try:
            with open('/proc/%d/smaps_rollup' % p) as f:
                for line in f:
                    if line.startswith('Pss:'):
                        total += int(line.split()[1])
                        n += 1
                        break
        except OSError:
            pass
    return total, n


class PssSampler(threading.Thread):
    def __init__(self, root, interval=0.5):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.stop = threading.Event()
        self.peak = (0, 0)

    def run(self):
        while not self.stop.is_set():
            pss, n = tree_pss_kib(self.root)
            if pss > self.peak[0]:
                self.peak = (pss, n)
            self.stop.wait(self.interval)


# ---------------------------------------------------------------- main

def percentile(sorted_vals, p):
    if not sorted_vals:
        return float('nan')
    # nearest rank
    k = min(len(sorted_vals) - 1,
            max(0, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def parse_mix(text):
    mix = dict(DEFAULT_MIX)
    if text:
        for item in text.split(','):
            k, _, v = item.strip().partition('=')
            k = k.lower()
            if k not in mix or not v.isdigit():
                raise SystemExit('--mix: unknown or bad item %r (known: %s)'
                                 % (item, ', '.join(mix)))
            mix[k] = int(v)
    return mix


def load_users(a):
    if a.users_file:
        users = []
        with open(a.users_file) as f:
            for line in f:
                line = line.rstrip('\n')
                if line and not line.startswith('#'):
                    u, _, p = line.partition(':')
                    users.append((u, p))
        return users
    if '%d' in a.users:
        return [(a.users % i, a.password)
                for i in range(1, a.user_count + 1)]
    return [(a.users, a.password)]


def run(a):
    mix = parse_mix(a.mix)
    if a.no_logout:
        mix['logout'] = 0
    users = load_users(a)
    if a.mbox:
        corpus = read_mbox(a.mbox, 10000)
        if not corpus:
            raise SystemExit('%s: no messages' % a.mbox)
    else:
        corpus = make_corpus(a.corpus, a.seed)
    out = []

    def emit(s=''):
        print(s, flush=True)
        out.append(s)

    emit('load.py: %s:%d%s, %d clients over %d users, %g s, seed %s, '
         'mix %s%s%s' % (a.host, a.port, ' (TLS)' if a.tls else '',
                         a.clients, len(users), a.duration, a.seed,
                         ','.join('%s=%d' % kv for kv in mix.items()),
                         ', no logout' if a.no_logout else '',
                         ', pipelined' if a.pipeline else ''))
    if a.msgs and not a.no_fill:
        t0 = time.monotonic()
        try:
            n = asyncio.run(fill_users(a, users, corpus))
        except ImapError as e:
            raise SystemExit('filling the mailboxes: %s' % e)
        emit('filled %d mailboxes to %d messages: %d appended in %.1f s '
             '(corpus: %d messages, %.1f KB average)' % (
                 len(users), a.msgs, n, time.monotonic() - t0, len(corpus),
                 sum(map(len, corpus)) / len(corpus) / 1024))

    server = a.server_pid
    if server is None and a.server_name:
        server, n = find_server(a.server_name)
        if server is None:
            raise SystemExit('no process named %s' % a.server_name)
        if n > 1:
            emit('note: %d process trees named %s; measuring the oldest, '
                 'pid %d (use --server-pid to choose)' % (
                     n, a.server_name, server))
    if server is not None:
        cpu0, n0 = tree_cpu(server)
        pss0, _ = tree_pss_kib(server)
        sampler = PssSampler(server)
        sampler.start()

    procs = max(1, min(a.procs, a.clients))
    q = multiprocessing.get_context('fork').Queue()
    start_at = time.monotonic() + 0.2
    workers, first = [], 0
    for k in range(procs):
        count = a.clients // procs + (1 if k < a.clients % procs else 0)
        p = multiprocessing.get_context('fork').Process(
            target=worker, args=(a, users, corpus, mix, first, count,
                                 start_at, q))
        p.start()
        workers.append(p)
        first += count
    results = [q.get() for _ in workers]
    for p in workers:
        p.join()
    wall = time.monotonic() - start_at

    lat = collections.defaultdict(list)
    errors = collections.Counter()
    conn_errors = collections.Counter()
    races = byes = conns = appended = 0
    client_cpu = 0.0
    for r in results:
        for k, v in r['lat'].items():
            lat[k].extend(v)
        errors.update(r['errors'])
        conn_errors.update(r['conn_errors'])
        races += r['races']
        byes += r['bye']
        conns += r['connections']
        appended += r['appended']
        client_cpu += r['cpu']

    total = sum(len(v) for v in lat.values())
    emit('')
    emit('%-8s %9s %9s %9s %9s %9s' % ('command', 'count', 'cmd/s',
                                       'p50 ms', 'p99 ms', 'errors'))
    per_cmd_err = collections.Counter()
    for (cmd, _), n in errors.items():
        per_cmd_err[cmd] += n
    for name in CMD_NAMES:
        v = sorted(lat.get(name, []))
        if not v:
            continue
        emit('%-8s %9d %9.1f %9.2f %9.2f %9d' % (
            name, len(v), len(v) / a.duration, 1000 * percentile(v, 50),
            1000 * percentile(v, 99), per_cmd_err[name]))
    allv = sorted(x for v in lat.values() for x in v)
    emit('%-8s %9d %9.1f %9.2f %9.2f %9d' % (
        'all', total, total / a.duration, 1000 * percentile(allv, 50),
        1000 * percentile(allv, 99), sum(errors.values())))
    emit('')
    nerr = sum(errors.values()) + sum(conn_errors.values()) + byes
    emit('commands/second: %.1f  (%d commands in %g s; %d connections, '
         '%d messages appended)' % (total / a.duration, total, a.duration,
                                    conns, appended))
    emit('errors: %d  (tagged NO/BAD %d, of which expunge races %d; '
         'connection %d; unexpected BYE %d)' % (
             nerr, sum(errors.values()), races, sum(conn_errors.values()),
             byes))
    top = [('%s %s' % k, n) for k, n in errors.items()] + \
        [('connection: ' + k, n) for k, n in conn_errors.items()]
    for text, n in sorted(top, key=lambda kv: -kv[1])[:10]:
        emit('  %7d x %s' % (n, text))
    if server is not None:
        cpu1, n1 = tree_cpu(server)
        sampler.stop.set()
        sampler.join()
        pss1, np1 = tree_pss_kib(server)
        cpu = cpu1 - cpu0
        emit('server pid %d: CPU %.2f s (%.0f %% of one core), %.3f s per '
             '1000 commands' % (server, cpu, 100 * cpu / wall,
                                1000 * cpu / total if total else
                                float('nan')))
        emit('server PSS: before %.1f MiB, peak %.1f MiB (%d procs), '
             'after %.1f MiB (%d procs)' % (
                 pss0 / 1024, sampler.peak[0] / 1024, sampler.peak[1],
                 pss1 / 1024, np1))
    emit('load.py CPU: %.2f s in %d process%s (%.0f %% of one core)' % (
        client_cpu, procs, '' if procs == 1 else 'es',
        100 * client_cpu / wall))
    return {'total': total, 'errors': nerr, 'lines': out}


def self_check(a):
    """Starts Mailkeep (tests/e2e/mkharness.py), runs 3 s against it."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, '..', 'e2e'))
    import mkharness
    users = {'user%d' % i: 'pass' for i in range(1, 5)}
    srv = mkharness.Server(users=users)
    try:
        a.host, a.port = mkharness.HOST, srv.port
        a.users, a.user_count, a.password, a.users_file = \
            'user%d', len(users), 'pass', None
        a.clients, a.duration, a.fixed_users = 4, 3, True
        a.server_pid = srv.proc.pid
        a.server_name = None
        a.msgs = min(a.msgs, 20)
        r = run(a)
    finally:
        srv.stop()
    ok = r['total'] > 0 and r['errors'] == 0
    print('check: %s (%d commands, %d errors)' % (
        'ok' if ok else 'FAILED', r['total'], r['errors']))
    return 0 if ok else 1


def main(argv=None):
    p = argparse.ArgumentParser(
        description='IMAP load generator (a mix close to imaptest\'s)')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=143)
    p.add_argument('--tls', action='store_true',
                   help='implicit TLS (certificate not verified unless '
                   '--cafile)')
    p.add_argument('--cafile')
    p.add_argument('--users', default='user%d',
                   help="user name, or a pattern with %%d (default user%%d)")
    p.add_argument('--user-count', type=int, default=100,
                   help='M: users 1..M of the pattern (default 100)')
    p.add_argument('--password', default='pass')
    p.add_argument('--users-file',
                   help='a file of user:password lines instead')
    p.add_argument('--fixed-users', action='store_true',
                   help='client i always logs in as user i mod M '
                   '(default: a random user per connection)')
    p.add_argument('--clients', type=int, default=10)
    p.add_argument('--duration', type=float, default=30)
    p.add_argument('--seed', default='1')
    p.add_argument('--mix', help='weights in percent, e.g. '
                   '"list=0,status=0" (%s)' % ','.join(
                       '%s=%d' % kv for kv in DEFAULT_MIX.items()))
    p.add_argument('--no-logout', action='store_true',
                   help='log in once per client and keep the connection '
                   '(imaptest logout=0)')
    p.add_argument('--pipeline', action='store_true',
                   help='send each cycle\'s commands at once, several in '
                   'flight per connection, as imaptest does (needs '
                   'LITERAL+; latency then counts from the batch\'s send)')
    p.add_argument('--mailbox', default='INBOX')
    p.add_argument('--msgs', type=int, default=30,
                   help='keep mailboxes around this many messages; fill '
                   'them to it first (default 30, imaptest\'s)')
    p.add_argument('--no-fill', action='store_true')
    p.add_argument('--corpus', type=int, default=300,
                   help='messages in the generated corpus (default 300)')
    p.add_argument('--mbox', help='take APPENDed messages from this mbox')
    p.add_argument('--server-pid', type=int)
    p.add_argument('--server-name',
                   help='e.g. mailkeepd or dovecot: its oldest process')
    p.add_argument('--procs', type=int, default=1,
                   help='client processes (default 1)')
    p.add_argument('--timeout', type=float, default=30,
                   help='seconds to wait for any response')
    p.add_argument('--check', action='store_true',
                   help='self-test against a Mailkeep started here')
    a = p.parse_args(argv)
    if a.check:
        return self_check(a)
    r = run(a)
    return 0 if r['total'] > 0 else 1


if __name__ == '__main__':
    sys.exit(main())
