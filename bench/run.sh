#!/usr/bin/env bash
# Builds the benchmarks if needed, runs the whole suite and prints the ratio table.
#
#   bench/run.sh [google-benchmark flags...]
#
# Environment: FACEAPP_BENCH_BUILD (build directory, default build-bench in the project), FACEAPP_BENCH_OUT
# (where the JSON results go, default <build>/bench-results), JOBS (parallel compile jobs, default 2),
# PYTHON (a python3 with numpy; found automatically). Extra arguments go to every benchmark binary; without
# any, each benchmark runs 3 times, interleaved with the others in random order, and the table uses the
# medians: on a shared machine the load drifts, and interleaving spreads the drift over both sides of a ratio.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="$(dirname "$here")"
build="${FACEAPP_BENCH_BUILD:-$project/build-bench}"
out="${FACEAPP_BENCH_OUT:-$build/bench-results}"
jobs="${JOBS:-2}"
binaries=(bench_distance bench_detect bench_encode bench_pipeline)

if [[ -z "${PYTHON:-}" ]]; then
  for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import numpy' 2>/dev/null; then
      PYTHON="$candidate"
      break
    fi
  done
fi
if [[ -z "${PYTHON:-}" ]]; then
  echo "run.sh: no python3 with numpy found (install python3-numpy, or set PYTHON)" >&2
  exit 1
fi

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$project" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFACEAPP_BUILD_BENCHMARKS=ON \
        -DFACEAPP_BUILD_EXAMPLES=OFF -DFACEAPP_BUILD_TESTS=OFF
fi
cmake --build "$build" --target "${binaries[@]}" -j "$jobs"

args=("$@")
if [[ ${#args[@]} -eq 0 ]]; then
  args=(--benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_enable_random_interleaving=true)
fi

mkdir -p "$out"
rm -f "$out"/*.json  # a table from this run only
for b in "${binaries[@]}"; do
  echo "== $b"
  "$build/bench/$b" --benchmark_out="$out/$b.json" --benchmark_out_format=json "${args[@]}"
done
echo "== numpy_face_distance.py"
"$PYTHON" "$here/numpy_face_distance.py" --json "$out/numpy_face_distance.json"

echo
"$PYTHON" "$here/ratio_table.py" "$out"
