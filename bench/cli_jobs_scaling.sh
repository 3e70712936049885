#!/usr/bin/env bash
# How `faceapp encode` scales with --jobs: encodes every image of the faces folder with --jobs 1 and with
# --jobs 2, best wall-clock time of 3 runs each, and prints the speed-up.
#
#   bench/cli_jobs_scaling.sh BUILD_DIR/examples/cli/faceapp [FACES_DIR] [RUNS]
#
# FACES_DIR defaults to $FACEAPP_TEST_DATA/faces, else tests/data/faces of the project. Run it on an
# otherwise idle machine with at least two cores: other load shows up directly in the ratio.
set -euo pipefail

if [[ $# -lt 1 || ! -x "$1" ]]; then
  echo "usage: $0 PATH/TO/faceapp [FACES_DIR] [RUNS]" >&2
  exit 2
fi
program=$1
here=$(cd "$(dirname "$0")" && pwd)
faces=${2:-${FACEAPP_TEST_DATA:-$here/../tests/data}/faces}
runs=${3:-3}
[[ -d $faces ]] || { echo "$0: no faces folder at $faces" >&2; exit 2; }

images=$(find "$faces" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | wc -l)

# seconds JOBS: the wall-clock time of one run.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$program" encode --jobs "$1" "$faces" >/dev/null
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }

"$program" encode --jobs 1 "$faces/obama_1.jpg" >/dev/null  # warm the file cache once

# The two settings take turns, so that a change in the machine's load hits both alike.
t1="" t2=""
for ((i = 0; i < runs; ++i)); do
  t1=$(min "$t1" "$(seconds 1)")
  t2=$(min "$t2" "$(seconds 2)")
done
printf 'faceapp encode over %d images, best of %d runs on %d cores\n' "$images" "$runs" "$(nproc)"
awk -v n="$images" -v t1="$t1" -v t2="$t2" 'BEGIN {
  printf "  --jobs 1: %6.2f s  (%5.2f images/s)\n", t1, n / t1
  printf "  --jobs 2: %6.2f s  (%5.2f images/s)\n", t2, n / t2
  printf "  speed-up: %.2fx\n", t1 / t2
}'
