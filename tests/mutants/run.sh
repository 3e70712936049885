#!/usr/bin/env bash
# Mutation check: plants each bug of tests/mutants/*.mutant in a copy of the source tree, builds only the test
# targets the mutant names, runs its test commands, and reports whether they caught it (some command failed).
# Every mutant must be caught. Not part of CI: each mutant rebuilds its tests, so a full run takes about an hour.
#
#   tests/mutants/run.sh                 every mutant
#   tests/mutants/run.sh chip_padding    only the named ones
#
# Environment: FACEAPP_MUTANT_DIR (default $TMPDIR/faceapp-mutants, kept between runs so that ccache and make
# rebuild little), FACEAPP_MUTANT_JOBS (build jobs, default 2), FACEAPP_MUTANT_TIMEOUT (seconds per build or test
# command, default 7200), FACEAPP_MODEL_DIR (a folder with the models: the copy then skips the model step),
# FACEAPP_MUTANT_BASELINE=0 (skip building and running the unmutated tree first: only when its tests were
# just run and passed).
# Exit status: 0 when every mutant was caught; 1 when one survived, was stale (its snippet is gone) or did not build.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(git -C "$here" rev-parse --show-toplevel)
work=${FACEAPP_MUTANT_DIR:-${TMPDIR:-/tmp}/faceapp-mutants}
jobs=${FACEAPP_MUTANT_JOBS:-2}
limit=${FACEAPP_MUTANT_TIMEOUT:-7200}
tree=$work/tree
build=$tree/build
logs=$work/logs
mutate() { python3 "$here/mutate.py" "$@"; }

specs=()
if [ $# -gt 0 ]; then
  for name in "$@"; do
    [ -f "$here/$name.mutant" ] || { echo "no such mutant: $here/$name.mutant" >&2; exit 1; }
    specs+=("$here/$name.mutant")
  done
else
  mapfile -t specs < <(mutate list "$here")
fi
[ ${#specs[@]} -gt 0 ] || { echo "no mutants in $here" >&2; exit 1; }

echo "== copying the source tree to $tree"
mkdir -p "$tree" "$logs"
mutate copy "$src" "$tree"

# Every spec must still apply to this tree: a stale one stops the run before anything is built.
stale=0
for spec in "${specs[@]}"; do
  if mutate apply "$spec" "$tree"; then
    mutate restore "$spec" "$src" "$tree"
  else
    stale=1
  fi
done
if [ $stale -ne 0 ]; then
  echo "FAILED: stale mutants (see above); update their snippets to the current code" >&2
  exit 1
fi

echo "== configuring $build"
export CCACHE_BASEDIR=$work
options=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DFACEAPP_BUILD_EXAMPLES=OFF
         -DFACEAPP_BUILD_BENCHMARKS=OFF -DFACEAPP_INSTALL=OFF)
if [ -n "${FACEAPP_MODEL_DIR:-}" ]; then options+=(-DFACEAPP_FETCH_MODELS=OFF); fi
cmake -S "$tree" -B "$build" "${options[@]}" > "$logs/configure.log" 2>&1 ||
  { cat "$logs/configure.log"; echo "FAILED: configure" >&2; exit 1; }

# build_and_run LOG TARGETS... -- COMMANDS...: builds, then runs each command in the build folder.
# Sets `built` (0/1), `failed_by` (the first command that failed, empty when all passed) and `ran_nothing` (a
# command whose test filter selected no test case).
build_and_run() {
  local log=$1; shift
  local targets=() commands=()
  while [ "$1" != "--" ]; do targets+=("$1"); shift; done
  shift
  commands=("$@")
  built=1
  failed_by=
  ran_nothing=
  if ! timeout "$limit" nice cmake --build "$build" -j"$jobs" --target "${targets[@]}" >> "$log" 2>&1; then
    built=0
    return
  fi
  for command in "${commands[@]}"; do
    echo "\$ $command" >> "$log"
    if ! (cd "$build" && timeout "$limit" bash -c "$command") > "$log.out" 2>&1; then
      cat "$log.out" >> "$log"
      failed_by=$command
      return
    fi
    cat "$log.out" >> "$log"
    # A filter that selects no test case passes without testing anything: that is a broken mutant, not a pass.
    if grep -q "test cases: *0 |" "$log.out"; then
      ran_nothing=$command
      return
    fi
  done
}

# The unmutated tree must pass every command, or a "caught" would mean nothing.
if [ "${FACEAPP_MUTANT_BASELINE:-1}" = 0 ]; then
  echo "== baseline skipped (FACEAPP_MUTANT_BASELINE=0)"
else
  echo "== baseline: every mutant's tests on the unmutated tree"
  all_targets=()
  all_commands=()
  for spec in "${specs[@]}"; do
    eval "$(mutate show "$spec")"
    all_targets+=("${mutant_build[@]}")
    all_commands+=("${mutant_run[@]}")
  done
  mapfile -t all_targets < <(printf '%s\n' "${all_targets[@]}" | sort -u)
  mapfile -t all_commands < <(printf '%s\n' "${all_commands[@]}" | awk '!seen[$0]++')
  : > "$logs/baseline.log"
  start=$SECONDS
  build_and_run "$logs/baseline.log" "${all_targets[@]}" -- "${all_commands[@]}"
  if [ $built -eq 0 ] || [ -n "$failed_by" ] || [ -n "$ran_nothing" ]; then
    tail -50 "$logs/baseline.log"
    echo "FAILED: the unmutated tree does not pass (${failed_by:-${ran_nothing:-build failed}}); see $logs/baseline.log" >&2
    exit 1
  fi
  echo "baseline passes ($((SECONDS - start)) s)"
fi

echo "== mutants"
caught=0
problems=0
for spec in "${specs[@]}"; do
  eval "$(mutate show "$spec")"
  log=$logs/$mutant_name.log
  : > "$log"
  start=$SECONDS
  mutate apply "$spec" "$tree"
  # Without ccache: it was seen to hand back the unmutated object for a mutant that keeps the file's size (a
  # false "SURVIVED"); the baseline above still uses it.
  CCACHE_DISABLE=1 build_and_run "$log" "${mutant_build[@]}" -- "${mutant_run[@]}"
  mutate restore "$spec" "$src" "$tree"
  took=$((SECONDS - start))
  if [ $built -eq 0 ]; then
    printf 'NOT BUILT  %-22s %s (%d s; see %s)\n' "$mutant_name" "$mutant_file" "$took" "$log"
    problems=$((problems + 1))
  elif [ -n "$ran_nothing" ]; then
    printf 'NO TEST    %-22s %s: ran no test case: %s\n' "$mutant_name" "$mutant_file" "$ran_nothing"
    problems=$((problems + 1))
  elif [ -n "$failed_by" ]; then
    printf 'caught     %-22s %s, by: %s (%d s)\n' "$mutant_name" "$mutant_file" "$failed_by" "$took"
    caught=$((caught + 1))
  else
    printf 'SURVIVED   %-22s %s (%d s; see %s)\n' "$mutant_name" "$mutant_file" "$took" "$log"
    problems=$((problems + 1))
  fi
done
echo "== $caught of ${#specs[@]} mutants caught"
[ $problems -eq 0 ]
