"""bench_move.py - how long `mailkeepctl move` takes, and how long the
user is frozen, for a store of N messages (doc/move.md).

Two backends on loopback as tests/e2e/test_move.py makes them; alice
gets N messages of SIZE bytes (APPEND over IMAP); then `move alice b2`
runs while a client tries to log in to b1 every 20 ms and an LMTP client
delivers every 20 ms: the figures are the move's wall time, the longest
stretch of refusals each saw (the freeze as a client sees it), and the
store's size.

    MK_BUILD_DIR=build python3 tests/bench/bench_move.py [N] [SIZE]

Run as root on a quiet machine for figures worth keeping.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'e2e'))
import test_move  # noqa: E402
from mkharness import Client, Closed  # noqa: E402
from mkimap import message  # noqa: E402


class Bench(test_move.MoveTest):
    def runTest(self):
        pass


def longest_gap(events):
    """Longest stretch of consecutive refusals, in seconds."""
    worst, start = 0.0, None
    for t, ok in events:
        if not ok and start is None:
            start = t
        elif ok and start is not None:
            worst = max(worst, t - start)
            start = None
    return worst


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
    b = Bench()
    b.setUp()
    try:
        c = b.b1.client(login=('alice', test_move.PW))
        body = 'x' * 76 + '\r\n'
        for i in range(n):
            c.append('INBOX', message(subject='m-%d' % i,
                                      body=body * (size // 78)))
        c.close()
        stop = threading.Event()
        imap, lmtp = [], []

        def login_loop():
            while not stop.is_set():
                ok = False
                try:
                    d = Client(b.b1.port, timeout=10)
                    d.connect()
                    t, _ = d.login('alice', test_move.PW)
                    ok = ' OK' in t or 'REFERRAL' in t
                    d.close()
                except (OSError, Closed):
                    pass
                imap.append((time.time(), ok))
                time.sleep(0.02)

        def lmtp_loop():
            i = 0
            while not stop.is_set():
                code = test_move.lmtp_send(b.b1.lmtp_port, 'alice',
                                           'l-%d' % i)
                i += 1
                lmtp.append((time.time(), code == 250))
                time.sleep(0.02)

        th = [threading.Thread(target=login_loop),
              threading.Thread(target=lmtp_loop)]
        for t in th:
            t.start()
        time.sleep(0.5)
        t0 = time.time()
        p = b.move()
        took = time.time() - t0
        time.sleep(0.5)
        stop.set()
        for t in th:
            t.join()
        print(p.stdout)
        print('messages %d of %d bytes; move took %.2f s; logins refused '
              'for at most %.2f s, LMTP for at most %.2f s' %
              (n, size, took, longest_gap(imap), longest_gap(lmtp)))
    finally:
        b.doCleanups()


if __name__ == '__main__':
    main()
