#!/usr/bin/env python3
"""clusterharness.py - a whole cluster on loopback: what etc/run-cluster.sh
runs and what tests/e2e/test_runcluster.py drives.

One directory D holds everything:
  a slapd with a generated directory (ldapharness.Slapd: users with
    {CRYPT} hashes, a mailHost naming their backend, an admin group);
  two Mailkeep backends, b1 and b2 (mkharness.Server), both reading that
    directory (directory = ldap), each declaring both backends, with an
    LMTP listener, the cluster link (certificates from one CA made by
    certtool, test_move.make_ca/make_cert), an auth_http listener and
    trusted_proxies = 127.0.0.1 (nginx's address: the PROXY protocol);
  nginx with the mail module (the configuration of test_nginx.py:
    auth_http to b1, proxy_protocol on), the cluster's one IMAP door.
D/cluster.json says where everything is (ports, users, passwords,
process ids); the test reads it, --stop uses it.

Usage (MK_BUILD_DIR: a build with daemon/mailkeepd and mailkeepctl):
  clusterharness.py [--dir D]               start; Ctrl-C stops, removes D
  clusterharness.py --dir D --background    start, print, return
  clusterharness.py --stop D                stop what D runs, remove D
  clusterharness.py --dir D --move USER BACKEND
                                            move a user (mailkeepctl move,
                                            then mailHost in LDAP, then a
                                            reload of both backends)
Exit status: 0 done, 1 failed, 77 cannot run here (the reason printed).

DEMO_USERS is the one table of who lives where; a check that needs
another kind of user (a share across backends: an owner on b1, a grantee
on b2 - alice and bob) takes them from it.
Python 3 standard library only.
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ldapharness  # noqa: E402
from mkharness import HOST, Client, Server, free_port, run_ctl  # noqa: E402
from test_move import make_ca, make_cert  # noqa: E402
from test_nginx import CONF as NGINX_CONF, find_nginx  # noqa: E402

BACKENDS = ('b1', 'b2')
# name: (backend, administrator)
DEMO_USERS = {'alice': ('b1', False), 'bob': ('b2', False),
              'carol': ('b1', False), 'dave': ('b2', False),
              'erin': ('b2', False), 'fred': ('b1', False),
              'boss': ('b1', True)}
STATE = 'cluster.json'


def skip_reason():
    """Why the cluster cannot run here, or None."""
    why = ldapharness.skip_reason()
    if why is None:
        nginx, why = find_nginx()
        if nginx is not None:
            why = None
    return why


def searchable(path):
    """Whether every directory from / to path can be searched by others
    (the mailbox processes run as the users' own uids)."""
    path = os.path.abspath(path)
    while True:
        if os.stat(path).st_mode & 0o001 == 0:
            return False
        if path == '/':
            return True
        path = os.path.dirname(path)


class CannotRun(Exception):
    """slapd or nginx is installed but would not start here."""


class Cluster:
    """Starts the pieces in self.dir; self.state is what cluster.json
    holds."""

    def __init__(self, d, config=None):
        """config: more keys for both backends (a benchmark's limits)."""
        self.dir = d
        self.config = dict(config or {})
        self.state = {'dir': d, 'users': {}, 'backends': {}, 'pids': {}}
        self.servers = {}
        self.slapd = None

    def start(self):
        # every harness makes its temporary directory inside D
        tempfile.tempdir = self.dir
        for name, (backend, admin) in DEMO_USERS.items():
            self.state['users'][name] = {
                'password': secrets.token_hex(6), 'backend': backend,
                'admin': admin}
        try:
            self.start_slapd()
        except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
            raise CannotRun('slapd could not be started: %s' % e)
        self.start_backends()
        try:
            self.start_nginx()
        except (OSError, RuntimeError) as e:
            raise CannotRun('nginx could not be started: %s' % e)
        self.save()

    def users(self, key):
        return {n: u[key] for n, u in self.state['users'].items()}

    def start_slapd(self):
        admins = [n for n, u in self.state['users'].items() if u['admin']]
        self.slapd = ldapharness.Slapd(self.users('password'), admins=admins,
                                       hosts=self.users('backend'))
        self.state['slapd'] = {'uri': self.slapd.uri,
                               'root_dn': ldapharness.ROOT_DN,
                               'root_pw': ldapharness.ROOT_PW,
                               'dir': self.slapd.tmp}
        self.state['pids']['slapd'] = self.slapd.proc.pid

    def start_backends(self):
        certs = os.path.join(self.dir, 'certs')
        os.mkdir(certs)
        ca = make_ca(certs, 'cluster-ca')
        ports = {n: {'imap': None, 'lmtp': free_port(),
                     'cluster': free_port(), 'auth_http': free_port()}
                 for n in BACKENDS}
        for n in BACKENDS:
            s = Server(users={}, start=False)
            self.servers[n] = s
            ports[n]['imap'] = s.port
            crt, key = make_cert(certs, n, ca)
            s.configure(self.slapd.mailkeep_config(
                os.path.join(s.tmp, 'ldap.pw')))
            p = ports[n]
            s.configure({'backend_name': n, 'cluster_cert': crt,
                         'cluster_key': key, 'cluster_ca': ca[0],
                         'cluster_listen': '%s:%d' % (HOST, p['cluster']),
                         'lmtp_listen': '%s:%d' % (HOST, p['lmtp']),
                         'auth_http_listen': '%s:%d' % (HOST, p['auth_http'])})
            s.configure(self.config)
        for s in self.servers.values():
            for n in BACKENDS:
                p = ports[n]
                s.configure({'backend': '%s %s %d %d %d' % (
                    n, HOST, p['imap'], p['lmtp'], p['cluster'])})
        for n, s in self.servers.items():
            s.start()
            # nginx connects from 127.0.0.1: trusted from now on (the
            # harness's start-up probe came from there too)
            s.configure({'trusted_proxies': '127.0.0.1'})
            s.ctl('reload')
            self.state['backends'][n] = dict(ports[n], conf=s.conf,
                                             log=s.logpath, tmp=s.tmp)
            self.state['pids']['mailkeepd-' + n] = s.pid

    def start_nginx(self):
        nginx, load = find_nginx()
        d = os.path.join(self.dir, 'nginx')
        os.mkdir(d)
        port = free_port()
        conf = os.path.join(d, 'nginx.conf')
        with open(conf, 'w') as f:
            f.write(NGINX_CONF % {
                'load': load, 'dir': d, 'nport': port,
                'hport': self.state['backends']['b1']['auth_http']})
        proc = subprocess.Popen(
            [nginx, '-p', d, '-c', conf, '-e', os.path.join(d, 'error.log')],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT)
        self.state['nginx'] = {'port': port, 'conf': conf,
                               'log': os.path.join(d, 'error.log')}
        self.state['pids']['nginx'] = proc.pid
        deadline = time.time() + 10
        while time.time() < deadline:
            if proc.poll() is not None:
                with open(self.state['nginx']['log']) as f:
                    raise RuntimeError('nginx exited: ' + f.read()[-500:])
            try:
                Client(port, source='127.0.0.2').connect()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('nginx did not listen on %d' % port)

    def save(self):
        path = os.path.join(self.dir, STATE)
        fd = os.open(path + '.new', os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
        with os.fdopen(fd, 'w') as f:
            json.dump(self.state, f, indent=1)
        os.rename(path + '.new', path)


def load_state(d):
    with open(os.path.join(d, STATE)) as f:
        return json.load(f)


# ---- stopping: by the process ids in cluster.json ----

def ours(pid, d):
    """pid still runs, and with D on its command line (not a reused id)."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return d.encode() in f.read()
    except OSError:
        return False


def stop(d):
    """SIGTERM to nginx, the backends, slapd (in that order), SIGKILL after
    10 s; then D is removed.  Returns 0, or 1 if something had to be
    killed."""
    d = os.path.abspath(d)
    state = load_state(d)
    status = 0
    for name in ('nginx', 'mailkeepd-b1', 'mailkeepd-b2', 'slapd'):
        pid = state['pids'].get(name)
        if pid is None or not ours(pid, d):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 10
        while ours(pid, d) and time.time() < deadline:
            reap(pid)
            time.sleep(0.05)
        if ours(pid, d):
            print('%s (%d) did not stop: killed' % (name, pid),
                  file=sys.stderr)
            os.kill(pid, signal.SIGKILL)
            status = 1
    shutil.rmtree(d, ignore_errors=True)
    return status


def reap(pid):
    """Collects pid if it is our own child (the foreground mode)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# ---- moving a user ----

def move(d, user, backend):
    """mailkeepctl move on the user's backend, then the user's mailHost
    in LDAP, then a reload of every backend (which empties their LDAP
    entry caches): see doc/cluster.md, "Moving a user in an LDAP
    cluster"."""
    state = load_state(d)
    u = state['users'][user]
    src = state['backends'][u['backend']]
    rows = run_ctl(src['conf'], 'users').stdout.splitlines()
    if any(r.split()[:1] == [user] for r in rows):
        p = run_ctl(src['conf'], 'move', user, backend, check=False)
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr)
        if p.returncode != 0:
            return 1
    else:
        # an LDAP user gets a row (and a store) at the first login or
        # delivery: before that there is nothing to copy
        print('%s has no mail on %s yet: only mailHost changes' %
              (user, u['backend']))
    ldif = ('dn: %s\nchangetype: modify\nreplace: mailHost\nmailHost: %s\n'
            % (ldapharness.Slapd.user_dn(user), backend))
    subprocess.run(['/usr/bin/ldapmodify', '-x', '-H', state['slapd']['uri'],
                    '-D', state['slapd']['root_dn'], '-w',
                    state['slapd']['root_pw']], input=ldif, text=True,
                   check=True, capture_output=True)
    for b in state['backends'].values():
        run_ctl(b['conf'], 'reload')
    u['backend'] = backend
    c = Cluster(d)
    c.state = state
    c.save()
    print('%s: mailHost is %s in LDAP; both backends reloaded' %
          (user, backend))
    return 0


# ---- what to tell the operator ----

def describe(state):
    ng = state['nginx']['port']
    b = state['backends']
    lines = ['', 'A Mailkeep cluster runs on 127.0.0.1, in %s' % state['dir'],
             '', 'IMAP, through nginx (the front door): 127.0.0.1 port %d'
             % ng, '  users (name, password, backend):']
    for n, u in sorted(state['users'].items()):
        lines.append('    %-6s %-14s %s%s' % (n, u['password'], u['backend'],
                                           '  administrator' if u['admin']
                                           else ''))
    boss = [n for n, u in state['users'].items() if u['admin']][0]
    lines += [
        '  try:    telnet 127.0.0.1 %d    then   a LOGIN alice %s' %
        (ng, state['users']['alice']['password']),
        '  an administrator acting as a user of the other backend:',
        '          a LOGIN bob*%s %s' % (boss,
                                         state['users'][boss]['password']),
        '', 'Backends (127.0.0.1 is nginx, trusted to send the PROXY '
        'protocol: connect', 'to a backend directly from another loopback '
        'address, e.g. telnet -b 127.0.0.2):']
    for n in sorted(b):
        lines.append('  %s  IMAP %d  LMTP %d  cluster link %d  auth_http %d'
                     % (n, b[n]['imap'], b[n]['lmtp'], b[n]['cluster'],
                        b[n]['auth_http']))
        lines.append('      mailkeepctl -c %s ...   log %s' %
                     (b[n]['conf'], b[n]['log']))
    lines += [
        'LMTP: either backend\'s port takes mail for every user (a user of '
        'the other', 'backend is relayed there).',
        'LDAP: %s (root DN "%s", password "%s")' % (
            state['slapd']['uri'], state['slapd']['root_dn'],
            state['slapd']['root_pw']),
        'Move a user: sh etc/run-cluster.sh --dir %s --move carol b2' %
        state['dir'],
        'Stop:        sh etc/run-cluster.sh --stop %s' % state['dir'], '']
    return '\n'.join(lines)


# ---- the modes ----

def make_dir(d):
    if d is None:
        d = tempfile.mkdtemp(prefix='mk-cluster-')
    else:
        d = os.path.abspath(d)
        try:
            os.mkdir(d)
        except FileExistsError:
            raise SystemExit('%s exists: give a new directory (--stop '
                             'removes the one a cluster runs in)' % d)
    os.chmod(d, 0o711)
    if os.geteuid() == 0 and not searchable(os.path.dirname(d)):
        shutil.rmtree(d)
        raise SystemExit('%s: a directory above it cannot be searched by '
                         'other users (the mailbox processes run as their '
                         'own uids); use --dir under /tmp' % d)
    return d


def run(d, background):
    """Starts the cluster in d; in the background, returns once it runs
    (the processes in a session of their own); in the foreground, waits
    for SIGINT or SIGTERM and stops it."""
    if background:
        rfd, wfd = os.pipe()
        if os.fork() != 0:
            os.close(wfd)
            with os.fdopen(rfd) as r:
                word = r.read()
            if word != 'ok':
                code, _, why = word.partition(' ')
                print(why or 'the cluster did not start', file=sys.stderr)
                return int(code) if code.isdigit() else 1
            print(describe(load_state(d)))
            return 0
        os.close(rfd)
        os.setsid()
    cluster = Cluster(d)
    code = 0
    try:
        cluster.start()
    except CannotRun as e:
        code, why = 77, 'cannot run the cluster: %s' % e
    except Exception as e:  # noqa: BLE001 - reported, then cleaned up
        code, why = 1, 'the cluster did not start: %s' % e
    if code != 0:
        cluster.save()
        stop(d)
        if background:
            os.write(wfd, ('%d %s' % (code, why)).encode())
            os._exit(code)
        print(why, file=sys.stderr)
        return code
    if background:
        os.write(wfd, b'ok')
        os._exit(0)
    print(describe(cluster.state))
    print('Ctrl-C stops it and removes %s.' % d)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    signal.pause()
    print('stopping')
    return stop(d)


def main():
    ap = argparse.ArgumentParser(prog='run-cluster.sh',
        description='A Mailkeep cluster on loopback: slapd, nginx, two '
        'backends.')
    ap.add_argument('--dir', help='the directory to make and run in '
                    '(default: a new one under $TMPDIR or /tmp)')
    ap.add_argument('--background', action='store_true',
                    help='start, print how to connect, return')
    ap.add_argument('--stop', metavar='D', help='stop the cluster in D '
                    'and remove D')
    ap.add_argument('--move', nargs=2, metavar=('USER', 'BACKEND'),
                    help='move a user of the cluster in --dir')
    a = ap.parse_args()
    if a.stop:
        return stop(a.stop)
    if a.move:
        if not a.dir:
            ap.error('--move needs --dir')
        return move(os.path.abspath(a.dir), *a.move)
    why = skip_reason()
    if why is not None:
        print('cannot run the cluster: %s' % why, file=sys.stderr)
        return 77
    return run(make_dir(a.dir), a.background)


if __name__ == '__main__':
    sys.exit(main())
