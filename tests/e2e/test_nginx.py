#!/usr/bin/env python3
"""test_nginx.py - real nginx (mail module) in front of two backends.

Two mailkeepd instances, b1 and b2, each declaring both; alice lives on
b1, bob on b2 (each backend's directory says so).  nginx, started in a
temporary directory with a generated configuration (mail { auth_http to
b1's auth_http_listen; proxy_protocol on; an IMAP server on a free
port }), is the only door: a client logs in through it and lands on its
own backend (its store is made there and only there), and both backends
see the client's address (127.0.0.5, through the PROXY protocol from
nginx's 127.0.0.1) in their logs; a wrong password is refused through
nginx too.  Skipped, with the reason printed, when nginx or its mail
module is not installed (etc/install-deps.sh test installs them).
"""
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mkharness import HOST, Client, Server, free_port, wait_for  # noqa: E402

MODULE_DIRS = ('/usr/lib/nginx/modules', '/usr/lib64/nginx/modules',
               '/usr/share/nginx/modules')


def find_nginx():
    """(binary, load_module line or '') or (None, why)."""
    nginx = shutil.which('nginx') or ('/usr/sbin/nginx' if os.path.exists(
        '/usr/sbin/nginx') else None)
    if nginx is None:
        return None, 'nginx is not installed (Debian: nginx)'
    v = subprocess.run([nginx, '-V'], capture_output=True, text=True).stderr
    if '--with-mail=dynamic' in v:
        for d in MODULE_DIRS:
            so = os.path.join(d, 'ngx_mail_module.so')
            if os.path.exists(so):
                return nginx, 'load_module %s;' % so
        return None, ('nginx has no mail module installed (Debian: '
                      'libnginx-mod-mail)')
    if '--with-mail' in v:
        return nginx, ''
    return None, 'nginx was built without the mail module'


CONF = '''%(load)s
daemon off;
master_process off;
worker_processes 1;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log info;
events { worker_connections 64; }
mail {
    auth_http 127.0.0.1:%(hport)d/auth;
    proxy_protocol on;
    imap_auth login plain;
    server {
        listen 127.0.0.1:%(nport)d;
        protocol imap;
    }
}
'''


class Nginx(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.nginx, cls.load = find_nginx()
        if cls.nginx is None:
            print('SKIP test_nginx: %s' % cls.load, file=sys.stderr)
            raise unittest.SkipTest(cls.load)

    def setUp(self):
        self.hport = free_port()
        b1 = Server(users={'alice': 'pw-a'}, start=False,
                    config={'backend_name': 'b1', 'auth_http_listen':
                            '127.0.0.1:%d' % self.hport})
        self.addCleanup(b1.cleanup)
        b2 = Server(users={'bob': 'pw-b'}, start=False,
                    config={'backend_name': 'b2'})
        self.addCleanup(b2.cleanup)
        for s in (b1, b2):
            s.configure({'backend': 'b1 127.0.0.1 %d' % b1.port})
            s.configure({'backend': 'b2 127.0.0.1 %d' % b2.port})
        b1.ctl('useradd', 'bob', '--password-stdin', '--backend', 'b2',
               stdin='pw-b\n')
        for s in (b1, b2):
            s.start()
            self.addCleanup(s.stop)
            # nginx connects from 127.0.0.1: trusted from now on (the
            # harness's own start-up probe came from there too)
            s.configure({'trusted_proxies': '127.0.0.1'})
            s.ctl('reload')
        self.b1, self.b2 = b1, b2
        self.nport = free_port()
        self.dir = os.path.join(b1.tmp, 'nginx')
        os.mkdir(self.dir)
        conf = os.path.join(self.dir, 'nginx.conf')
        with open(conf, 'w') as f:
            f.write(CONF % {'load': self.load, 'dir': self.dir,
                            'hport': self.hport, 'nport': self.nport})
        self.proc = subprocess.Popen(
            [self.nginx, '-p', self.dir, '-c', conf, '-e',
             os.path.join(self.dir, 'error.log')],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_nginx)
        wait_for(self.nginx_up, 10, what='nginx listening')

    def nginx_up(self):
        if self.proc.poll() is not None:
            raise AssertionError('nginx exited: %s' % self.errlog())
        try:
            c = Client(self.nport, source='127.0.0.5')
            c.connect()
            c.close()
            return True
        except OSError:
            return False

    def errlog(self):
        try:
            with open(os.path.join(self.dir, 'error.log')) as f:
                return f.read()
        except OSError:
            return ''

    def stop_nginx(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def through_nginx(self, user, pw):
        c = Client(self.nport, source='127.0.0.5', timeout=15)
        c.connect()
        tagged, _ = c.login(user, pw)
        return c, tagged

    def test_users_land_on_their_backend(self):
        for user, pw, home, other in (('alice', 'pw-a', self.b1, self.b2),
                                      ('bob', 'pw-b', self.b2, self.b1)):
            c, tagged = self.through_nginx(user, pw)
            self.assertIn(' OK', tagged, self.errlog())
            tagged, _ = c.cmd('SELECT INBOX')
            self.assertIn(' OK', tagged)
            c.cmd('LOGOUT')
            c.close()
            self.assertTrue(os.path.isdir(os.path.join(home.data_dir,
                                                       'users', user)))
            self.assertFalse(os.path.exists(os.path.join(other.data_dir,
                                                         'users', user)))
            wait_for(lambda: 'user %s logged in from 127.0.0.5' % user in
                     home.logtext(), what='%s logged in on its backend' % user)
            self.assertIn('through proxy 127.0.0.1', home.logtext())
        # b1 answered nginx for both
        log = self.b1.logtext()
        self.assertIn('auth_http: alice from 127.0.0.5 goes to 127.0.0.1 '
                      'port %d' % self.b1.port, log)
        self.assertIn('auth_http: bob from 127.0.0.5 goes to 127.0.0.1 '
                      'port %d' % self.b2.port, log)

    def test_wrong_password_through_nginx(self):
        t0 = time.time()
        c, tagged = self.through_nginx('bob', 'wrong')
        self.assertIn(' NO', tagged)
        self.assertGreaterEqual(time.time() - t0, 0.9)	# Auth-Wait
        # nginx keeps the connection for another attempt
        tagged, _ = c.login('bob', 'pw-b')
        self.assertIn(' OK', tagged, self.errlog())
        c.cmd('LOGOUT')
        c.close()
        self.assertIn("authentication failed for 'bob' from 127.0.0.5",
                      self.b1.logtext())


if __name__ == '__main__':
    unittest.main()
