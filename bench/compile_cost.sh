#!/usr/bin/env bash
# What including faceapp costs: seconds and peak compiler memory of a few translation units, compiled the way a
# user's project compiles them (g++ -std=c++20 -O2, the installed headers' include paths, no ccache).
#
#   bench/compile_cost.sh [--baseline GIT_REV] [--repeat N]
#
# Cases: `program` includes <faceapp/faceapp.hpp> and calls `(read | encode)(path)`; `compose` includes the
# umbrella, builds pipelines and passes results around without calling a stage; then each major header alone;
# then the runtime library's sources (src/*.cpp), which a build compiles once, not per including file.
# With --baseline, the headers of that revision (e.g. main) are measured in the same run, each case right
# after the current tree's, and the table shows both and their ratio. With --repeat N every compile runs N times
# and the table shows the medians and the largest peak memory. One compile runs at a time. Each case shows the
# wall-clock seconds (%e) and the compiler's CPU seconds (user + system): on a busy machine the wall clock
# includes waiting for a core, the CPU seconds do not, so read the CPU column when the load average is above the
# core count (the script prints it).
#
# Environment: CXX (default g++), CXXFLAGS_EXTRA (appended to the compile line).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="$(dirname "$here")"
cxx="${CXX:-g++}"
baseline=""
repeat=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --baseline) baseline="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compile_cost.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [[ ! -x /usr/bin/time ]]; then
  echo "compile_cost.sh: /usr/bin/time is missing (apt-get install time)" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [[ -n "$baseline" ]]; then
  mkdir -p "$work/baseline"
  git -C "$project" archive "$baseline" include | tar -x -C "$work/baseline"
fi

opencv_flags="$(pkg-config --cflags opencv4 2>/dev/null || echo -I/usr/include/opencv4)"

# The cases: name, then the translation unit.
declare -a names=()
declare -A sources=()
add_case() { names+=("$1"); sources["$1"]="$2"; }

add_case program '#include <faceapp/faceapp.hpp>
int main(int argc, char** argv) {
  if (argc < 2) return 2;
  auto r = (faceapp::read | faceapp::encode)(argv[1]);
  return r && !r->empty() ? 0 : 1;
}'
add_case compose '#include <faceapp/faceapp.hpp>
#include <cstddef>
// Builds pipelines and hands results around; calls no stage.
auto make_pipeline(const faceapp::encoding& ref) {
  return faceapp::read | faceapp::resize(0.5) | faceapp::encode | faceapp::distance_to(ref);
}
std::size_t faces_in(const faceapp::result<faceapp::encoded_faces>& r) { return r ? r->size() : 0; }
int main() {
  faceapp::encoding ref{};
  auto pipe = make_pipeline(ref);
  auto again = pipe;
  faceapp::result<faceapp::encoded_faces> r = faceapp::encoded_faces{};
  return static_cast<int>(faces_in(r)) + static_cast<int>(sizeof(again) == 0);
}'
for header in faceapp.hpp stages/read.hpp stages/resize.hpp stages/detect.hpp stages/landmarks.hpp \
              stages/encode.hpp stages/distance.hpp stages/record.hpp models/models.hpp models/network.hpp \
              core/stage.hpp; do
  add_case "$header" "#include <faceapp/$header>"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# measure INCLUDE_DIR NAME -> "wall cpu kilobytes" (median seconds, largest peak memory over the repeats)
measure() {
  local include="$1" name="$2" i secs=() cpus=() mem=0
  local src="$work/case.cpp"
  printf '%s\n' "${sources[$name]}" >"$src"
  for ((i = 0; i < repeat; ++i)); do
    # shellcheck disable=SC2086
    if ! /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$cxx" -std=c++20 -O2 -I"$include" $opencv_flags \
        ${CXXFLAGS_EXTRA:-} -c "$src" -o "$work/case.o" 2>"$work/err"; then
      echo "compile_cost.sh: case '$name' does not compile with $include:" >&2
      head -20 "$work/err" >&2
      exit 1
    fi
    read -r s u k m <"$work/time"
    secs+=("$s")
    cpus+=("$(awk -v u="$u" -v k="$k" 'BEGIN { print u + k }')")
    ((m > mem)) && mem=$m
  done
  echo "$(median "${secs[@]}") $(median "${cpus[@]}") $mem"
}

echo "compiler: $("$cxx" --version | head -1); flags: -std=c++20 -O2; repeats: $repeat"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
if [[ -n "$baseline" ]]; then
  printf '| %-20s | %-22s | %-22s | %-9s |\n' "translation unit" "$baseline: s / CPU s / MB" "now: s / CPU s / MB" "CPU ratio"
  printf '|%s|%s|%s|%s|\n' "----------------------" "------------------------" "------------------------" "-----------"
else
  printf '| %-20s | %7s | %7s | %7s |\n' "translation unit" "seconds" "CPU s" "peak MB"
  printf '|%s|%s|%s|%s|\n' "----------------------" "---------" "---------" "---------"
fi
for name in "${names[@]}"; do
  now="$(measure "$project/include" "$name")"
  read -r now_s now_c now_k <<<"$now"
  if [[ -n "$baseline" ]]; then
    base="$(measure "$work/baseline/include" "$name")"
    read -r base_s base_c base_k <<<"$base"
    awk -v n="$name" -v bs="$base_s" -v bc="$base_c" -v bk="$base_k" -v ns="$now_s" -v nc="$now_c" -v nk="$now_k" 'BEGIN {
      printf "| %-20s | %6.1f / %6.1f / %6.0f | %6.1f / %6.1f / %6.0f | %8.1fx |\n", n, bs, bc, bk / 1024, ns, nc, nk / 1024,
             (nc > 0 ? bc / nc : 0) }'
  else
    awk -v n="$name" -v ns="$now_s" -v nc="$now_c" -v nk="$now_k" 'BEGIN {
      printf "| %-20s | %7.1f | %7.1f | %7.0f |\n", n, ns, nc, nk / 1024 }'
  fi
done
# The runtime library's sources (src/), compiled once per build tree rather than in every including file.
if compgen -G "$project/src/*.cpp" >/dev/null; then
  for src in "$project"/src/*.cpp; do
    name="src/$(basename "$src")"
    sources["$name"]="$(cat "$src")"
    now="$(measure "$project/include" "$name")"
    read -r now_s now_c now_k <<<"$now"
    if [[ -n "$baseline" ]]; then
      awk -v n="$name" -v ns="$now_s" -v nc="$now_c" -v nk="$now_k" 'BEGIN {
        printf "| %-20s | %22s | %6.1f / %6.1f / %6.0f | %9s |\n", n, "(once per build)", ns, nc, nk / 1024, "" }'
    else
      awk -v n="$name" -v ns="$now_s" -v nc="$now_c" -v nk="$now_k" 'BEGIN {
        printf "| %-20s | %7.1f | %7.1f | %7.0f |\n", n, ns, nc, nk / 1024 }'
    fi
  done
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
