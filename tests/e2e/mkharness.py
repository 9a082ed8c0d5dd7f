"""mkharness.py - run the real mailkeepd for end-to-end tests.

Server(users={'alice': 'pw'}, admins=['root-admin'], config={...}) makes
a temporary instance with the built mailkeepctl (MK_BUILD_DIR, set by
meson), picks a free loopback port, starts `mailkeepd -f` and waits for
its greeting.  stop() sends SIGTERM and checks that the master exited
with status 0 and left no child process behind.  Run as root, the
instance directory is made traversable for the per-user uids.

Client(port) speaks IMAP as a client would: cmd('LOGIN alice pw')
returns (tagged line, [untagged lines]) with automatic tags; literals in
responses are read whole; every read has a timeout.  cmd_bytes() is the
same with bytes lines; append(mailbox, data, flags, date, literal_plus)
sends one APPEND, waiting for the "+" of a synchronizing literal.

Python 3 standard library only.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HOST = '127.0.0.1'


def build_dir():
    d = os.environ.get('MK_BUILD_DIR')
    if not d:
        here = os.path.dirname(os.path.abspath(__file__))
        d = os.path.join(here, '..', '..', 'build')
    return os.path.abspath(d)


def ctl_path():
    return os.path.join(build_dir(), 'daemon', 'mailkeepctl')


def daemon_path():
    return os.path.join(build_dir(), 'daemon', 'mailkeepd')


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def is_root():
    return os.geteuid() == 0


def children_of(pid):
    """Every live descendant of pid, from /proc."""
    parent = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                stat = f.read()
        except OSError:
            continue
        # comm may hold spaces: the fields after the last ')' are fixed
        fields = stat[stat.rindex(')') + 2:].split()
        if fields[0] == 'Z':
            continue
        parent[int(name)] = int(fields[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p:
                out.append(c)
                todo.append(c)
    return out


def proc_uid(pid):
    """[real, effective, saved, fs] uid of pid; None if it is gone."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('Uid:'):
                    return [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return None


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
        return stat[stat.rindex(')') + 2] != 'Z'
    except OSError:
        return False


def wait_for(probe, timeout=10, interval=0.05, what=None):
    """Polls probe() until it returns something true, and returns that.

    Process state (which children exist, under which uid) changes a
    moment after the event that causes it - a forked child drops its
    privileges when the scheduler lets it - so a test samples it until it
    holds, never once.  Raises AssertionError naming `what` and the last
    value seen if it does not hold within timeout seconds."""
    deadline = time.time() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.time() >= deadline:
            raise AssertionError('not within %gs: %s (last: %r)' %
                                 (timeout, what or probe, value))
        time.sleep(interval)


def settled(probe, quiet=0.5, timeout=10, interval=0.05, what=None):
    """probe() once it has returned the same value for `quiet` seconds:
    a count that earlier events still move (connections a relay lets go
    of after their clients closed them) taken as a baseline.  Raises
    AssertionError if it keeps moving for timeout seconds."""
    last, since = probe(), time.time()
    deadline = since + timeout
    while time.time() < deadline:
        time.sleep(interval)
        value = probe()
        if value != last:
            last, since = value, time.time()
        elif time.time() - since >= quiet:
            return value
    raise AssertionError('not settled within %gs: %s (last: %r)' %
                         (timeout, what or probe, last))


def settled_status(pid, secs=10):
    """/proc/PID/status once the process's set-up is done: one found
    just after its fork has its name, and maybe its uid, but not yet its
    seccomp filter, so a single sample can catch it half-way (CI did,
    with a hash worker).  Returns the last sample after secs anyway, for
    the caller's assertion to fail on."""
    deadline = time.time() + secs
    while True:
        with open('/proc/%d/status' % pid) as f:
            status = f.read()
        if 'Seccomp:\t2' in status or time.time() >= deadline:
            return status
        time.sleep(0.05)


def assert_login_confined(case, server, pid, what):
    """pid is confined as a login process is (the IMAP, POP3 and
    auth_http ones): a seccomp filter, no new privileges and, as root,
    uid mailkeep-login, chrooted into the empty directory, no database
    descriptor.  `what` names it in failures."""
    status = settled_status(pid)
    case.assertIn('Seccomp:\t2', status, what)
    case.assertIn('NoNewPrivs:\t1', status, what)
    if not is_root():
        return
    uid = server.uid_of('mailkeep-login')
    wait_for(lambda: proc_uid(pid) == [uid] * 4,
             what='%s as mailkeep-login' % what)
    case.assertEqual(os.readlink('/proc/%d/root' % pid),
                     server.path('empty'))
    targets = [os.readlink('/proc/%d/fd/%s' % (pid, fd))
               for fd in os.listdir('/proc/%d/fd' % pid)]
    case.assertFalse([t for t in targets if '.db' in t], targets)


class CtlError(Exception):
    pass


def run_ctl(conf, *args, stdin=None, check=True):
    """Runs mailkeepctl; returns the CompletedProcess (text mode)."""
    cmd = [ctl_path()]
    if conf is not None:
        cmd += ['-c', conf]
    cmd += list(args)
    env = dict(os.environ)
    env.pop('MAILKEEP_CONF', None)
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                       env=env, timeout=60)
    if check and p.returncode != 0:
        raise CtlError('%s: exit %d\n%s%s' % (' '.join(cmd), p.returncode,
                                              p.stdout, p.stderr))
    return p


class Server:
    def __init__(self, users=None, admins=(), config=None, start=True):
        self.users = dict(users or {})
        self.admins = list(admins)
        for a in self.admins:
            self.users.setdefault(a, 'secret-' + a)
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix='mk-e2e-')
        if is_root():
            # per-user uids must reach instance/data/users/<name>
            os.chmod(self.tmp, 0o711)
        self.dir = os.path.join(self.tmp, 'instance')
        self.conf = os.path.join(self.dir, 'mailkeep.conf')
        self.logpath = os.path.join(self.tmp, 'mailkeepd.log')
        self.proc = None
        run_ctl(None, 'init', self.dir, '--listen', '%s:%d' % (HOST, self.port),
                '--hostname', 'mk-test')
        self.configure(config or {})
        for name, pw in self.users.items():
            self.ctl('useradd', name, '--password-stdin', stdin=pw + '\n')
        for a in self.admins:
            self.ctl('admin', a, 'on')
        if start:
            self.start()

    # -- instance --

    def configure(self, config):
        """Appends `key = value` lines (later lines win); takes effect
        at the next start or reload."""
        with open(self.conf, 'a') as f:
            for k, v in config.items():
                f.write('%s = %s\n' % (k, v))

    def ctl(self, *args, stdin=None, check=True):
        return run_ctl(self.conf, *args, stdin=stdin, check=check)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def data_dir(self):
        return self.path('data')

    # -- process --

    def start(self, timeout=15, port_tries=5):
        self.log = open(self.logpath, 'ab')
        self.proc = subprocess.Popen([daemon_path(), '-f', '-c', self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                if port_tries > 1 and self.lost_port():
                    self.log.close()
                    return self.start(timeout, port_tries - 1)
                raise RuntimeError('mailkeepd exited with %d:\n%s' %
                                   (self.proc.returncode, self.logtext()))
            try:
                c = Client(self.port, timeout=5)
                c.connect()
                c.close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('mailkeepd did not greet within %ds:\n%s' %
                           (timeout, self.logtext()))

    @property
    def pid(self):
        return self.proc.pid

    def children(self):
        return children_of(self.proc.pid)

    def children_as(self, account):
        """The master's children running as account (all four uids)."""
        uid = self.uid_of(account)
        return [p for p in self.children() if proc_uid(p) == [uid] * 4]

    def wait_hash_workers(self, n=2, timeout=10):
        """Waits until n hash workers run with their privileges dropped
        (right after start-up they may still be forking, or be root for
        the moment before their drop); returns their pids."""
        return wait_for(lambda: (lambda w: w if len(w) == n else None)(
            self.children_as('mailkeep-auth')), timeout,
            what='%d hash workers as mailkeep-auth' % n)

    def lost_port(self):
        """The port free_port() found was taken by another test running
        beside this one before mailkeepd bound it: move the listener
        (`listen` may be given more than once, so the line is replaced,
        not added to) to a new one."""
        tail = self.logtext().splitlines()[-3:]
        if not any('port %d: Address already in use' % self.port in l
                   for l in tail):
            return False
        old = 'listen = %s:%d\n' % (HOST, self.port)
        self.port = free_port()
        with open(self.conf) as f:
            lines = f.readlines()
        with open(self.conf, 'w') as f:
            f.writelines('listen = %s:%d\n' % (HOST, self.port)
                         if l == old else l for l in lines)
        return True

    def logtext(self):
        try:
            with open(self.logpath, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer',
                       'runtime error:')

    def check_log(self):
        """Fails if any process of the server reported a sanitizer error."""
        text = self.logtext()
        for mark in self.SANITIZER_MARKS:
            if mark in text:
                raise AssertionError('sanitizer report in the log:\n' + text)

    def stop(self, timeout=15):
        """SIGTERM; asserts a clean exit and no child left behind."""
        if self.proc is None:
            return
        kids = self.children()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError('mailkeepd did not stop on SIGTERM:\n' +
                                 self.logtext())
        finally:
            self.proc = None
            self.log.close()
        if rc != 0:
            raise AssertionError('mailkeepd exited with %d:\n%s' %
                                 (rc, self.logtext()))
        self.check_log()
        deadline = time.time() + 5
        left = [k for k in kids if alive(k)]
        while left and time.time() < deadline:
            time.sleep(0.05)
            left = [k for k in kids if alive(k)]
        if left:
            for k in left:
                try:
                    os.kill(k, signal.SIGKILL)
                except OSError:
                    pass
            raise AssertionError('processes left after stop: %s\n%s' %
                                 (left, self.logtext()))

    def kill_and_clean(self):
        if self.proc is not None:
            for k in self.children():
                try:
                    os.kill(k, signal.SIGKILL)
                except OSError:
                    pass
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self.log.close()

    def cleanup(self):
        self.kill_and_clean()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                self.stop()
        finally:
            self.cleanup()
        return False

    def client(self, login=None, timeout=5, source=None):
        """A connected Client; logged in as login=(user, pw) if given."""
        c = Client(self.port, timeout=timeout, source=source)
        c.connect()
        if login is not None:
            tagged, _ = c.login(*login)
            if ' OK' not in tagged:
                raise AssertionError('login failed: %r' % tagged)
        return c

    def uid_of(self, account):
        return pwd.getpwnam(account).pw_uid


class Closed(Exception):
    """The server closed the connection."""


class Client:
    def __init__(self, port, host=HOST, timeout=5, source=None):
        self.addr = (host, port)
        # source: the local address to connect from (any 127.x.y.z is
        # loopback, so tests can play clients of several networks)
        self.source = (source, 0) if source else None
        self.timeout = timeout
        self.sock = None
        self.buf = b''
        self.greeting = None
        self.ntag = 0

    def connect(self):
        self.sock = socket.create_connection(self.addr, timeout=self.timeout,
                                             source_address=self.source)
        self.greeting = self.readline()
        return self.greeting

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        data = self.sock.recv(65536)
        if not data:
            raise Closed('connection closed by the server')
        self.buf += data

    def _rawline(self, timeout=None):
        while b'\r\n' not in self.buf:
            self._fill(timeout)
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def _take(self, n, timeout=None):
        while len(self.buf) < n:
            self._fill(timeout)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def readline_bytes(self, timeout=None):
        """One response, literals included, without the final CRLF."""
        line = self._rawline(timeout)
        out = line
        while line.endswith(b'}') and b'{' in line:
            num = line[line.rindex(b'{') + 1:-1].rstrip(b'+')
            if not num.isdigit():
                break
            out += b'\r\n' + self._take(int(num), timeout)
            line = self._rawline(timeout)
            out += line
        return out

    def readline(self, timeout=None):
        return self.readline_bytes(timeout).decode('utf-8', 'replace')

    def next_tag(self):
        self.ntag += 1
        return 'a%03d' % self.ntag

    def read_until_tagged(self, tag, timeout=None):
        """(tagged line, [untagged and continuation lines before it])"""
        untagged = []
        while True:
            line = self.readline(timeout)
            if line.startswith(tag + ' '):
                return line, untagged
            untagged.append(line)

    def cmd(self, text, timeout=None):
        tag = self.next_tag()
        self.send('%s %s\r\n' % (tag, text))
        return self.read_until_tagged(tag, timeout)

    def login(self, user, pw):
        return self.cmd('LOGIN %s %s' % (quote(user), quote(pw)))

    def read_until_tagged_bytes(self, tag, timeout=None):
        """read_until_tagged, with every line as bytes (literals exact)."""
        untagged = []
        tagb = tag.encode() + b' '
        while True:
            line = self.readline_bytes(timeout)
            if line.startswith(tagb):
                return line, untagged
            untagged.append(line)

    def cmd_bytes(self, text, timeout=None):
        """cmd() that returns bytes: for byte-exact FETCH results."""
        tag = self.next_tag()
        self.send('%s %s\r\n' % (tag, text))
        return self.read_until_tagged_bytes(tag, timeout)

    def append(self, mailbox, data, flags=None, date=None,
               literal_plus=False, timeout=None):
        """APPEND one message: (tagged, [untagged]).  A synchronizing
        literal waits for the "+" continuation; if the server answers
        the tag instead, the data is not sent."""
        if isinstance(data, str):
            data = data.encode()
        tag = self.next_tag()
        head = '%s APPEND %s' % (tag, quote(mailbox))
        if flags is not None:
            head += ' (%s)' % ' '.join(flags)
        if date is not None:
            head += ' ' + quote(date)
        if literal_plus:
            self.send(('%s {%d+}\r\n' % (head, len(data))).encode() +
                      data + b'\r\n')
            return self.read_until_tagged(tag, timeout)
        self.send('%s {%d}\r\n' % (head, len(data)))
        untagged = []
        while True:
            line = self.readline(timeout)
            if line.startswith('+'):
                break
            if line.startswith(tag + ' '):
                return line, untagged
            untagged.append(line)
        self.send(data + b'\r\n')
        tagged, more = self.read_until_tagged(tag, timeout)
        return tagged, untagged + more

    def expect_closed(self, timeout=None):
        """Reads until EOF; returns the lines seen before it."""
        lines = []
        try:
            while True:
                lines.append(self.readline(timeout))
        except Closed:
            return lines


def quote(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'
