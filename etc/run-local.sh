#!/bin/sh
# run-local.sh - README's "run" command: a working Mailkeep on 127.0.0.1.
#
#   sh etc/run-local.sh
#
# Installs the missing build dependencies (apt-get, via etc/install-deps.sh),
# builds into build/, creates an instance in ./local on first use
# (127.0.0.1:1143, a user "demo" with a random password, printed and kept
# in local/demo-password), and runs mailkeepd in the foreground; Ctrl-C
# stops it.  Safe to run again: it rebuilds and reuses the instance.
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

if [ ! -f "$conf" ]; then
	init_args="--listen 127.0.0.1:1143 --hostname localhost"
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

Mailkeep is starting on 127.0.0.1 port 1143 (Ctrl-C stops it).
  user:     demo
  password: $(cat local/demo-password)
Try:  telnet 127.0.0.1 1143   then   a LOGIN demo $(cat local/demo-password)
Admin: build/daemon/mailkeepctl -c local/mailkeep.conf --help

MSG
exec "$top/build/daemon/mailkeepd" -f -c "$conf"
