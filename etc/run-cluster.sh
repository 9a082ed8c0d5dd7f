#!/bin/sh
# run-cluster.sh - a Mailkeep cluster on loopback (doc/cluster.md):
# a slapd with a generated directory, nginx with the mail module in
# front, and two backends b1 and b2 reading that directory, with the
# cluster link between them, LMTP listeners, auth_http and the PROXY
# protocol; demo users on both backends and an administrator.
#
#   sh etc/run-cluster.sh                   runs it; Ctrl-C stops it
#   sh etc/run-cluster.sh --dir D --background
#                                           starts it in D, prints, returns
#   sh etc/run-cluster.sh --dir D --move USER BACKEND
#   sh etc/run-cluster.sh --stop D          stops it and removes D
#
# Everything lives in one temporary directory (D; by default a new
# /tmp/mk-cluster-<random suffix>) and on free loopback ports; nothing of the
# system's slapd or nginx is used or changed.  Installs what is missing
# (etc/install-deps.sh cluster) and builds into build/, as run-local.sh
# does; with MK_BUILD_DIR set (the tests) it uses that build and
# installs nothing.  Exit status 77: the cluster cannot run here (why is
# printed).  The work is done by tests/e2e/clusterharness.py, which the
# end-to-end test drives too.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "${MK_BUILD_DIR:-}" ]; then
	case " $* " in
	*" --stop "* | *" --move "* | *" --help "* | *" -h "*) ;;
	*)
		sh "$top/etc/install-deps.sh" cluster
		if [ ! -f "$top/build/build.ninja" ]; then
			meson setup "$top/build" "$top" >/dev/null
		fi
		ninja -C "$top/build" daemon/mailkeepd daemon/mailkeepctl \
		    >/dev/null ;;
	esac
	MK_BUILD_DIR="$top/build"
	export MK_BUILD_DIR
fi
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$top/tests/e2e/clusterharness.py" "$@"
