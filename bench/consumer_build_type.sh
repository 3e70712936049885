#!/usr/bin/env bash
# How fast faceapp runs in another project whatever that project's build type: installs this build's faceapp into
# a scratch prefix, builds bench/consumer against it three times (no CMAKE_BUILD_TYPE, as CMake defaults to;
# Debug; Release), and runs `(read | encode)(photo)` in each, Release last and first, so that the ratios compare
# runs of one quiet stretch.
#
#   bench/consumer_build_type.sh [BUILD_DIR] [PHOTO]     (defaults: build, tests/data/faces/obama_1.jpg)
#
# Prints each build type's median time and its ratio to Release's (the faceapp runtime is compiled at -O2 in all
# three; the consumer's own code is not).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="$(dirname "$here")"
build="$(cd "${1:-$project/build}" && pwd)"
photo="$(realpath "${2:-$project/tests/data/faces/obama_1.jpg}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
export FACEAPP_BENCH_PHOTO="$photo" FACEAPP_MODEL_DIR=
for type in none Debug Release; do
  flags=(-DCMAKE_PREFIX_PATH="$work/prefix")
  [[ $type != none ]] && flags+=(-DCMAKE_BUILD_TYPE="$type")
  cmake -S "$here/consumer" -B "$work/$type" "${flags[@]}" >/dev/null
  cmake --build "$work/$type" -j"$(nproc)" >/dev/null
done
median() {  # the median of BM_read_encode's real time over 3 repetitions, in ms
  "$work/$1/consumer_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_format=csv 2>/dev/null | awk -F, '/_median"/ {print $3}'
}
release_before=$(median Release)
none=$(median none)
debug=$(median Debug)
release_after=$(median Release)
release=$(awk -v a="$release_before" -v b="$release_after" 'BEGIN {print (a + b) / 2}')
echo "read | encode on $(basename "$photo"), median of 3 runs of at least 2 s, in ms:"
printf '  %-28s %8.1f ms  (runs before and after: %.1f, %.1f)\n' "Release" "$release" "$release_before" "$release_after"
printf '  %-28s %8.1f ms  %.2fx Release\n' "no CMAKE_BUILD_TYPE" "$none" "$(awk -v a="$none" -v b="$release" 'BEGIN {print a / b}')"
printf '  %-28s %8.1f ms  %.2fx Release\n' "Debug" "$debug" "$(awk -v a="$debug" -v b="$release" 'BEGIN {print a / b}')"
