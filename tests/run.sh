#!/bin/sh
# README's test command.  On a fresh Debian 12 machine: installs what is
# missing, then builds and tests twice:
#   build/      gcc, -Werror: every unit and end-to-end test
#   build-san/  clang, -Werror, ASan + UBSan: every test again, plus the
#               libFuzzer targets for a short run each
# and ends with the line "N passed, M failed" summed over both.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

sh etc/install-deps.sh test || exit 1

setup() {	# dir, then meson options
	dir=$1; shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null || return 1
	else
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
}

status=0
CC=gcc setup build -Dwerror=true -Dbuildtype=debugoptimized || exit 1
ninja -C build || exit 1
meson test -C build --print-errorlogs --num-processes 2 || status=1

# Under ASan, leaks in forked children that exit on purpose are not
# findings; everything else (overflows, UAF, UB) aborts the test.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
CC=clang setup build-san -Dwerror=true -Db_sanitize=address,undefined \
	-Db_lundef=false -Dfuzz=true -Dbuildtype=debug || exit 1
ninja -C build-san || exit 1
meson test -C build-san --print-errorlogs --num-processes 2 \
	--timeout-multiplier 3 || status=1

python3 "$top/tests/summary.py" build/meson-logs/testlog.json \
	build-san/meson-logs/testlog.json
exit $status
