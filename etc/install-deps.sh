#!/bin/sh
# Installs, with apt-get, the Debian 12 packages Mailkeep needs that are
# missing.  Used by README's two commands.
#   sh etc/install-deps.sh build   what building and running needs
#   sh etc/install-deps.sh test    that, plus what the test suite uses
#   sh etc/install-deps.sh cluster build, plus slapd and nginx's mail module
#                                  (etc/run-cluster.sh)
set -eu

build_pkgs="gcc pkg-config meson ninja-build python3 libgnutls28-dev \
libsqlite3-dev libcrypt-dev libcunit1-dev libseccomp-dev zlib1g-dev libzstd-dev gnutls-bin \
libldap-dev passwd"
test_pkgs="$build_pkgs clang libclang-rt-14-dev llvm isync procps iproute2 postfix \
fetchmail slapd ldap-utils nginx libnginx-mod-mail"
cluster_pkgs="$build_pkgs slapd ldap-utils nginx libnginx-mod-mail"

case "${1:-build}" in
build) want=$build_pkgs ;;
test) want=$test_pkgs ;;
cluster) want=$cluster_pkgs ;;
*) echo "usage: $0 build|test|cluster" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "missing packages:$missing (run as root or install sudo)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# slapd: no directory of its own (the LDAP tests start one in a
# temporary directory on a free port), and its system service neither
# running nor enabled, so it never holds port 389.
case " $missing " in
*" slapd "*)
	echo "slapd slapd/no_configuration boolean true" |
		$sudo debconf-set-selections ;;
esac
$sudo apt-get update -qq
# RUNLEVEL=1: invoke-rc.d starts no service the packages bring (nginx
# would take port 80); the tests start nginx themselves, in a temporary
# directory (tests/e2e/test_nginx.py).
# shellcheck disable=SC2086
$sudo env RUNLEVEL=1 apt-get install -y -qq --no-install-recommends $missing \
	>/dev/null
case " $missing " in
*" slapd "*)
	$sudo service slapd stop >/dev/null 2>&1 || true
	if command -v systemctl >/dev/null 2>&1 &&
	    $sudo systemctl disable slapd >/dev/null 2>&1; then
		:
	else
		$sudo update-rc.d slapd disable >/dev/null 2>&1 || true
	fi ;;
esac
case " $missing " in
*" nginx "*)
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		$sudo systemctl disable --now nginx >/dev/null 2>&1 || true
	fi
	;;
esac
