#!/bin/sh
# run_fuzz.sh FUZZER SCRATCH SEEDS [libFuzzer options...]
#
# Runs a libFuzzer target for `meson test --suite fuzz`.  libFuzzer
# writes new inputs into the first corpus directory it is given and
# crash files into the working directory, so both go to SCRATCH (in the
# build tree); the committed seed corpus SEEDS is only read.
set -eu
fuzzer=$1
scratch=$2
seeds=$3
shift 3
mkdir -p "$scratch/corpus" "$scratch/artifacts"
# libFuzzer reports a crash with exit code 77 by default, which meson
# counts as a skipped test: make a finding a failure.
exec "$fuzzer" -artifact_prefix="$scratch/artifacts/" -error_exitcode=1 "$@" \
    "$scratch/corpus" "$seeds"
