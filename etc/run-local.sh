#!/bin/sh
# run-local.sh - README's "run" command: a working Mailkeep on 127.0.0.1.
#
#   sh etc/run-local.sh
#
# Installs the missing build dependencies (apt-get, via etc/install-deps.sh),
# builds into build/, creates an instance in ./local on first use
# (127.0.0.1:1143 with STARTTLS, 127.0.0.1:1993 with implicit TLS, POP3
# on 127.0.0.1:1110 with STLS and 127.0.0.1:1995 with implicit TLS, a
# self-signed certificate for localhost and 127.0.0.1 made with certtool
# in local/tls/, a user "demo" with a random password, printed and kept
# in local/demo-password), and runs mailkeepd in the foreground; Ctrl-C
# stops it.  Safe to run again: it rebuilds and reuses the instance (and
# adds TLS and POP3 to an instance made before they existed).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

sh etc/install-deps.sh build

if [ ! -f build/build.ninja ]; then
	meson setup build >/dev/null
fi
ninja -C build daemon/mailkeepd daemon/mailkeepctl >/dev/null

ctl="$top/build/daemon/mailkeepctl"
conf="$top/local/mailkeep.conf"
cert="$top/local/tls/localhost.crt"
key="$top/local/tls/localhost.key"

# A self-signed certificate naming the host as clients will dial it:
# DNS:localhost and IP:127.0.0.1 (mbsync and others check the name even
# when the certificate itself is pinned).
if [ ! -f "$cert" ] || [ ! -f "$key" ]; then
	mkdir -p local/tls
	tmpl=$(mktemp)
	cat > "$tmpl" <<TMPL
organization = "Mailkeep local instance"
cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
expiration_days = 365
tls_www_server
signing_key
TMPL
	(umask 077 && certtool --generate-privkey --key-type=ecdsa \
	    --curve=secp256r1 --outfile "$key" 2>/dev/null)
	certtool --generate-self-signed --load-privkey "$key" \
	    --template "$tmpl" --outfile "$cert" 2>/dev/null
	rm -f "$tmpl"
	chmod 600 "$key"
	chmod 644 "$cert"
fi

if [ ! -f "$conf" ]; then
	init_args="--listen 127.0.0.1:1143 --listen-tls 127.0.0.1:1993"
	init_args="$init_args --tls-cert $cert --tls-key $key --hostname localhost"
	if [ "$(id -u)" -eq 0 ]; then
		# Each user's mailbox process runs as that user's own uid and must
		# reach local/data/users/<name>: when the checkout sits under a
		# directory others cannot search (such as /root), the data
		# directory goes where they can.
		probe="$top"
		while [ "$probe" != "/" ]; do
			if [ "$(( $(stat -c '%a' "$probe") % 2 ))" -eq 0 ]; then
				init_args="$init_args --data-dir /var/lib/mailkeep-local"
				echo "note: $probe is not searchable by other users;" \
				    "mail data goes to /var/lib/mailkeep-local" >&2
				break
			fi
			probe=$(dirname "$probe")
		done
	fi
	# shellcheck disable=SC2086
	"$ctl" init "$top/local" $init_args >/dev/null
elif ! grep -q '^tls_cert' "$conf"; then
	printf 'listen_tls = 127.0.0.1:1993\ntls_cert = %s\ntls_key = %s\n' \
	    "$cert" "$key" >> "$conf"
fi
if ! grep -q '^listen_pop3' "$conf"; then
	printf 'listen_pop3 = 127.0.0.1:1110\nlisten_pop3s = 127.0.0.1:1995\n' \
	    >> "$conf"
fi

if [ ! -f local/demo-password ]; then
	pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	if ! "$ctl" -c "$conf" users | grep -q '^demo '; then
		printf '%s\n' "$pw" | "$ctl" -c "$conf" useradd demo >/dev/null
	else
		printf '%s\n' "$pw" | "$ctl" -c "$conf" passwd demo >/dev/null
	fi
	(umask 077 && printf '%s\n' "$pw" > local/demo-password)
fi

cat <<MSG

Mailkeep is starting on 127.0.0.1: port 1143 (STARTTLS) and port 1993
(IMAPS, implicit TLS); POP3 on port 1110 (STLS) and 1995 (POP3S).
Ctrl-C stops it.
  user:     demo
  password: $(cat local/demo-password)
  TLS certificate (self-signed, for localhost and 127.0.0.1):
            $cert
            SHA-256 $(certtool --fingerprint --hash sha256 --infile "$cert")
Try:  telnet 127.0.0.1 1143   then   a LOGIN demo $(cat local/demo-password)
      gnutls-cli --starttls-proto=imap -p 1143 --insecure 127.0.0.1
      gnutls-cli -p 1993 --x509cafile $cert localhost      (IMAPS)
      telnet 127.0.0.1 1110   then   USER demo   PASS $(cat local/demo-password)
      gnutls-cli -p 1995 --x509cafile $cert localhost      (POP3S)
Admin: build/daemon/mailkeepctl -c local/mailkeep.conf --help

MSG
exec "$top/build/daemon/mailkeepd" -f -c "$conf"
