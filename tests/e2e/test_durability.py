"""test_durability.py - nothing acknowledged is lost: APPEND in a loop,
counting every tagged OK, while the user's mailbox process is killed
with SIGKILL at a random moment; then reconnect and find every
acknowledged message intact, and nothing half-written.  The same with
APPENDs pipelined four at a time (one batch: one write transaction), and
with the master killed (its children must go too) and the server started
again on the same instance."""
import os
import random
import re
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import alive, children_of  # noqa: E402
from mkimap import Closed, ImapCase, code, fetch_map, message  # noqa: E402

ROUNDS = 4


def payload(n, rnd):
    size = rnd.choice((200, 2000, 20000, 120000))
    line = ('%06d ' % n) * 10 + '\r\n'
    body = (line * (size // len(line) + 1))[:size]
    return message(subject='durable %d' % n, body=body + '\r\n')


class Appender(threading.Thread):
    """APPENDs numbered messages until the connection drops or stop is
    set; acked[n] = UID for each tagged OK, sent = every message sent."""

    def __init__(self, client, first, rnd):
        super().__init__(daemon=True)
        self.c = client
        self.n = first
        self.rnd = rnd
        self.acked = {}
        self.sent = {}
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                data = payload(self.n, self.rnd)
                self.sent[self.n] = data
                tagged, _ = self.c.append('INBOX', data, literal_plus=True)
                c = code(tagged)
                if not tagged.split()[1] == 'OK' or c is None or \
                        c[0] != 'APPENDUID':
                    self.error = tagged
                    return
                self.acked[self.n] = int(c[1].split()[1])
                self.n += 1
        except (Closed, OSError):
            pass


class PipelinedAppender(Appender):
    """The same, four APPENDs at a time in one write: the server runs
    them as one batch, in one write transaction (client.c run_batch)."""

    def run(self):
        try:
            while not self.stop.is_set():
                out, tags = b'', []
                for _ in range(4):
                    data = payload(self.n, self.rnd)
                    self.sent[self.n] = data
                    tag = 'b%d' % self.n
                    out += b'%s APPEND INBOX {%d+}\r\n' % (
                        tag.encode(), len(data)) + data + b'\r\n'
                    tags.append((tag, self.n))
                    self.n += 1
                self.c.send(out)
                for tag, n in tags:
                    tagged, _ = self.c.read_until_tagged(tag)
                    c = code(tagged)
                    if tagged.split()[1] != 'OK' or c is None or \
                            c[0] != 'APPENDUID':
                        self.error = tagged
                        return
                    self.acked[n] = int(c[1].split()[1])
        except (Closed, OSError):
            pass


class Durability(ImapCase):

    def mailbox_pid(self, user, timeout=5):
        """The live mailbox process of user, from the master's children
        and the mailbox process's "client_new" log line."""
        deadline = time.monotonic() + timeout
        pat = re.compile(r'mailbox\[(\d+)\] client_new: session \S+ '
                         r'user=%s ' % re.escape(user))
        while time.monotonic() < deadline:
            kids = set(self.server.children())
            pids = [int(p) for p in pat.findall(self.server.logtext())]
            for pid in reversed(pids):
                if pid in kids and alive(pid):
                    if os.geteuid() == 0:
                        # a mailbox process runs as the user's own uid
                        with open('/proc/%d/status' % pid) as f:
                            uid = [l for l in f if l.startswith('Uid:')][0]
                        self.assertNotEqual(uid.split()[1], '0')
                    return pid
            time.sleep(0.05)
        raise AssertionError('no mailbox process for %s:\n%s'
                             % (user, self.server.logtext()))

    def verify(self, user, acked, sent):
        """Every acknowledged message is there, byte for byte; nothing
        else but complete copies of what was sent."""
        c = self.connect(user, timeout=30)
        info = self.select(c, examine=True)
        self.assertGreaterEqual(info['exists'], len(acked))
        tagged, unt = c.cmd_bytes('FETCH 1:* (UID BODY.PEEK[])', timeout=30)
        self.assertEqual(tagged[5:], b'OK FETCH completed')
        got = {int(v['UID']): v['BODY[]'] for v in fetch_map(unt).values()}
        self.assertEqual(len(got), info['exists'])
        for n, uid in acked.items():
            self.assertIn(uid, got, 'acknowledged message %d lost' % n)
            self.assertEqual(got[uid], sent[n], 'message %d damaged' % n)
        known = set(sent.values())
        for uid, data in got.items():
            self.assertIn(data, known, 'UID %d holds no message sent' % uid)
        c.close()
        return len(got)

    def test_kill_mailbox_process_while_appending(self):
        self.kill_while(Appender, random.Random(os.getpid()))

    def test_kill_mailbox_process_while_pipelining(self):
        self.kill_while(PipelinedAppender, random.Random(os.getpid() + 2))

    def kill_while(self, appender, rnd):
        user = self.new_user()
        acked, sent, n = {}, {}, 1
        total_acked = 0
        for rnd_no in range(ROUNDS):
            c = self.connect(user, timeout=10)
            pid = self.mailbox_pid(user[0])
            app = appender(c, n, rnd)
            app.start()
            time.sleep(rnd.uniform(0.15, 0.6))
            os.kill(pid, signal.SIGKILL)
            app.join(10)
            self.assertFalse(app.is_alive(), 'appender did not notice the kill')
            self.assertIsNone(app.error)
            self.assertGreater(len(app.acked), 0, 'nothing appended in time')
            acked.update(app.acked)
            sent.update(app.sent)
            total_acked += len(app.acked)
            n = app.n + 1
            deadline = time.monotonic() + 5
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertFalse(alive(pid))
            self.verify(user, acked, sent)
        self.assertEqual(len(acked), total_acked)
        # the user's store is consistent: STATUS agrees with SELECT
        c = self.connect(user)
        st = c.cmd('STATUS INBOX (MESSAGES)')[1][0]
        self.assertEqual(st, '* STATUS "INBOX" (MESSAGES %d)'
                         % self.select(c)['exists'])

    def test_kill_master_and_restart(self):
        user = self.new_user()
        rnd = random.Random(os.getpid() + 1)
        c = self.connect(user, timeout=10)
        self.mailbox_pid(user[0])
        app = Appender(c, 1, rnd)
        app.start()
        time.sleep(rnd.uniform(0.2, 0.6))
        kids = self.server.children()
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.proc.wait()
        app.join(10)
        self.assertFalse(app.is_alive())
        self.assertIsNone(app.error)
        self.assertGreater(len(app.acked), 0)
        # the children see their master gone and leave
        deadline = time.monotonic() + 10
        left = [k for k in kids if alive(k)]
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [k for k in kids if alive(k)]
        for k in left:
            os.kill(k, signal.SIGKILL)
        self.assertEqual(left, [], 'children outlived the master')
        # the same instance starts again and has everything
        self.server.proc = None
        self.server.log.close()
        self.server.start()
        count = self.verify(user, app.acked, app.sent)
        self.assertGreaterEqual(count, len(app.acked))


if __name__ == '__main__':
    unittest.main()
