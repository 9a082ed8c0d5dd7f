"""ldapharness.py - a real slapd for the LDAP directory's tests.

Slapd(users=..., admins=..., tls=True) writes a slapd.conf (mdb backend,
the core, cosine, inetorgperson, nis and misc schemas and a small one of
Mailkeep's quota attributes) into a temporary directory, loads an LDIF
of generated entries with slapadd, and runs `slapd -d 0 -h
ldap://127.0.0.1:PORT/` on a free loopback port (and ldaps:// on
another).  Users get {CRYPT}
yescrypt hashes made with libxcrypt itself (crypt_gensalt + crypt, via
ctypes), quotas and a mailHost; admins are members of
cn=mailadmins,ou=groups.  With tls=True, certtool makes a CA and a
server certificate for 127.0.0.1 and slapd offers StartTLS.

stop() / start() stop and restart the same server (same port, same
data) for the outage tests; modify() changes an entry with ldapmodify.
skip_reason() says why slapd cannot run here (None when it can).
Python 3 standard library only.
"""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from mkharness import HOST, free_port

SLAPD = '/usr/sbin/slapd'
SCHEMA_DIR = '/etc/ldap/schema'
MODULE_DIR = '/usr/lib/ldap'
BASE = 'dc=example,dc=com'
ROOT_DN = 'cn=admin,' + BASE
ROOT_PW = 'root secret'
SEARCH_DN = 'cn=mailkeep,ou=services,' + BASE
SEARCH_PW = 'search secret'
ADMIN_GROUP = 'cn=mailadmins,ou=groups,' + BASE

MK_SCHEMA = """
attributetype ( 1.3.6.1.4.1.32473.1.1.1 NAME 'mkQuotaStorage'
    DESC 'Mailkeep storage quota, KiB'
    EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.32473.1.1.2 NAME 'mkQuotaMessages'
    DESC 'Mailkeep message count quota'
    EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.32473.1.2.1 NAME 'mkMailUser' SUP top AUXILIARY
    MAY ( mkQuotaStorage $ mkQuotaMessages ) )
"""


def skip_reason():
    for path in (SLAPD, '/usr/sbin/slapadd', '/usr/bin/ldapmodify'):
        if not os.path.exists(path):
            return '%s not installed (Debian: slapd, ldap-utils)' % path
    if not os.path.exists(os.path.join(MODULE_DIR, 'back_mdb.so')):
        return 'slapd has no back_mdb module'
    if shutil.which('certtool') is None:
        return 'certtool (gnutls-bin) not installed'
    return None


def crypt_hash(password, prefix=b'$y$'):
    """A libxcrypt hash of password (yescrypt by default)."""
    lib = ctypes.CDLL('libcrypt.so.1')
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong,
                                  ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(prefix, 0, None, 0)
    out = lib.crypt(password.encode(), salt)
    if not out or out.startswith(b'*'):
        raise RuntimeError('crypt failed')
    return out.decode()


def make_ca_and_cert(d):
    """(ca.crt, server.crt, server.key) for 127.0.0.1, made by certtool."""
    def tool(*args):
        subprocess.run(['certtool'] + list(args), check=True,
                       capture_output=True)
    ca_key, ca_crt = os.path.join(d, 'ca.key'), os.path.join(d, 'ca.crt')
    key, crt = os.path.join(d, 'server.key'), os.path.join(d, 'server.crt')
    with open(os.path.join(d, 'ca.tmpl'), 'w') as f:
        f.write('cn = "Mailkeep test CA"\nca\ncert_signing_key\n'
                'expiration_days = 30\n')
    with open(os.path.join(d, 'server.tmpl'), 'w') as f:
        f.write('cn = "127.0.0.1"\nip_address = "127.0.0.1"\n'
                'dns_name = "localhost"\ntls_www_server\nsigning_key\n'
                'encryption_key\nexpiration_days = 30\n')
    tool('--generate-privkey', '--key-type=ecdsa', '--outfile', ca_key)
    tool('--generate-self-signed', '--load-privkey', ca_key, '--template',
         os.path.join(d, 'ca.tmpl'), '--outfile', ca_crt)
    tool('--generate-privkey', '--key-type=ecdsa', '--outfile', key)
    tool('--generate-certificate', '--load-privkey', key,
         '--load-ca-certificate', ca_crt, '--load-ca-privkey', ca_key,
         '--template', os.path.join(d, 'server.tmpl'), '--outfile', crt)
    return ca_crt, crt, key


class Slapd:
    def __init__(self, users, admins=(), quotas=None, hosts=None, tls=True,
                 extra_ldif=''):
        """users: {name: password}; admins: names in the admin group;
        quotas: {name: (storage KiB or None, messages or None)};
        hosts: {name: mailHost}."""
        self.tmp = tempfile.mkdtemp(prefix='mk-slapd-')
        os.chmod(self.tmp, 0o755)
        self.port = free_port()
        self.uri = 'ldap://%s:%d/' % (HOST, self.port)
        self.ldaps_uri = ('ldaps://%s:%d/' % (HOST, free_port())
                          if tls else None)
        self.db = os.path.join(self.tmp, 'db')
        os.mkdir(self.db)
        self.tls = tls
        if tls:
            self.ca, self.crt, self.key = make_ca_and_cert(self.tmp)
        self.conf = os.path.join(self.tmp, 'slapd.conf')
        self.proc = None
        self.write_conf()
        self.load(self.ldif(users, admins, quotas or {}, hosts or {}) +
                  extra_ldif)
        self.start()

    # -- configuration and data --

    def write_conf(self):
        schema = os.path.join(self.tmp, 'mailkeep.schema')
        with open(schema, 'w') as f:
            f.write(MK_SCHEMA)
        lines = ['include %s/%s.schema' % (SCHEMA_DIR, s) for s in
                 ('core', 'cosine', 'inetorgperson', 'nis', 'misc')]
        lines += ['include ' + schema,
                  'pidfile %s/slapd.pid' % self.tmp,
                  'modulepath ' + MODULE_DIR, 'moduleload back_mdb']
        if self.tls:
            lines += ['TLSCACertificateFile ' + self.ca,
                      'TLSCertificateFile ' + self.crt,
                      'TLSCertificateKeyFile ' + self.key]
        lines += ['database mdb', 'suffix "%s"' % BASE,
                  'rootdn "%s"' % ROOT_DN, 'rootpw "%s"' % ROOT_PW,
                  'directory ' + self.db, 'maxsize 104857600',
                  # users may bind (auth), the search account reads
                  # everything, nobody else anything
                  'access to attrs=userPassword by dn.exact="%s" read '
                  'by anonymous auth by * none' % SEARCH_DN,
                  'access to * by dn.exact="%s" read by * none' % SEARCH_DN]
        with open(self.conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')

    @staticmethod
    def user_dn(name):
        return 'uid=%s,ou=people,%s' % (name, BASE)

    def ldif(self, users, admins, quotas, hosts):
        out = ['dn: %s\nobjectClass: dcObject\nobjectClass: organization\n'
               'o: Example\ndc: example\n' % BASE]
        for ou in ('people', 'groups', 'services'):
            out.append('dn: ou=%s,%s\nobjectClass: organizationalUnit\n'
                       'ou: %s\n' % (ou, BASE, ou))
        out.append('dn: %s\nobjectClass: simpleSecurityObject\n'
                   'objectClass: organizationalRole\ncn: mailkeep\n'
                   'userPassword: %s\n' % (SEARCH_DN, SEARCH_PW))
        for name, pw in users.items():
            out.append(self.user_entry(name, pw, quotas.get(name),
                                       hosts.get(name)))
        # groupOfNames needs a member even when every admin is removed
        members = 'member: cn=placeholder,%s\n' % BASE + ''.join(
            'member: %s\n' % self.user_dn(a) for a in admins)
        out.append('dn: %s\nobjectClass: groupOfNames\ncn: mailadmins\n%s'
                   % (ADMIN_GROUP, members))
        return '\n'.join(out)

    def user_entry(self, name, pw, quota=None, host=None):
        e = ('dn: %s\nobjectClass: inetOrgPerson\nobjectClass: '
             'inetLocalMailRecipient\nobjectClass: mkMailUser\nuid: %s\n'
             'cn: %s\nsn: %s\nmail: %s@example.com\n' %
             (self.user_dn(name), name, name, name, name))
        if pw is not None:
            e += 'userPassword: %s\n' % (pw if pw.startswith('{')
                                         else '{CRYPT}' + crypt_hash(pw))
        if quota is not None:
            if quota[0] is not None:
                e += 'mkQuotaStorage: %d\n' % quota[0]
            if quota[1] is not None:
                e += 'mkQuotaMessages: %d\n' % quota[1]
        if host is not None:
            e += 'mailHost: %s\n' % host
        return e

    def load(self, ldif):
        path = os.path.join(self.tmp, 'data.ldif')
        with open(path, 'w') as f:
            f.write(ldif)
        subprocess.run(['/usr/sbin/slapadd', '-f', self.conf, '-l', path],
                       check=True, capture_output=True)

    # -- process --

    def start(self, timeout=15):
        self.log = open(os.path.join(self.tmp, 'slapd.log'), 'ab')
        urls = self.uri + (' ' + self.ldaps_uri if self.tls else '')
        self.proc = subprocess.Popen(
            [SLAPD, '-d', '0', '-f', self.conf, '-h', urls],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('slapd exited with %d:\n%s' %
                                   (self.proc.returncode, self.logtext()))
            try:
                socket.create_connection((HOST, self.port), 1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('slapd did not listen:\n' + self.logtext())

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.log.close()

    def pause(self, timeout=5):
        """SIGSTOP: connections are accepted by the kernel, never answered.
        Returns once every thread of slapd is stopped (the signal takes
        effect when each is next scheduled)."""
        self.proc.send_signal(signal.SIGSTOP)
        tasks = '/proc/%d/task' % self.proc.pid
        deadline = time.time() + timeout
        while time.time() < deadline:
            states = []
            for t in os.listdir(tasks):
                try:
                    with open('%s/%s/stat' % (tasks, t)) as f:
                        st = f.read()
                    states.append(st[st.rindex(')') + 2])
                except OSError:
                    pass
            if states and all(x in 'Tt' for x in states):
                return
            time.sleep(0.02)
        raise RuntimeError('slapd did not stop')

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def logtext(self):
        try:
            with open(os.path.join(self.tmp, 'slapd.log'), 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def modify(self, ldif):
        """Applies an LDIF change as the root DN (over plain LDAP on
        loopback)."""
        subprocess.run(['/usr/bin/ldapmodify', '-x', '-H', self.uri, '-D',
                        ROOT_DN, '-w', ROOT_PW], input=ldif, text=True,
                       check=True, capture_output=True)

    def mailkeep_config(self, pwfile, auth='hash', starttls=None, **extra):
        """The mailkeep.conf keys for this server; writes the search
        account's password to pwfile (mode 600)."""
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(SEARCH_PW + '\n')
        cfg = {'directory': 'ldap', 'ldap_uri': self.uri,
               'ldap_bind_dn': '"%s"' % SEARCH_DN,
               'ldap_bind_password_file': pwfile,
               'ldap_base': '"ou=people,%s"' % BASE,
               'ldap_user_filter': '"(&(objectClass=inetOrgPerson)(uid=%u))"',
               'ldap_auth': auth, 'ldap_admin_group': '"%s"' % ADMIN_GROUP,
               'ldap_quota_storage_attr': 'mkQuotaStorage',
               'ldap_quota_messages_attr': 'mkQuotaMessages',
               'ldap_backend_attr': 'mailHost', 'ldap_timeout': 2}
        use_tls = self.tls if starttls is None else starttls
        cfg['ldap_starttls'] = 'yes' if use_tls else 'no'
        if use_tls:
            cfg['ldap_ca_file'] = self.ca
        cfg.update(extra)
        return cfg

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
