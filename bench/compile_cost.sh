#!/usr/bin/env bash
# What including faceapp costs a user's translation unit: compile seconds and the compiler's peak memory, with
# exactly the flags a consumer gets from `target_link_libraries(... faceapp::faceapp)` (Release, -O2 -DNDEBUG).
#
#   bench/compile_cost.sh            # prints the table; BUILD=<dir> keeps the scratch build there
#
# Cases:
#   call     a program that includes <faceapp/faceapp.hpp> and calls (read | encode)(path)
#   compose  a file that includes <faceapp/faceapp.hpp>, composes stages and passes results on, calling no stage
# Each case is compiled alone (one compiler at a time) under /usr/bin/time -v; "cpu s" is user + system time,
# which other load on the machine disturbs less than the wall clock.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=${BUILD:-$(mktemp -d /tmp/faceapp-compile-cost.XXXXXX)}
mkdir -p "$work/project"

cat > "$work/project/call.cpp" <<'CPP'
#include <faceapp/faceapp.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const auto r = (faceapp::read | faceapp::encode)(argv[1]);
  if (!r) {
    std::cerr << r.error().what() << '\n';
    return 1;
  }
  std::cout << r->size() << '\n';
  return 0;
}
CPP

cat > "$work/project/compose.cpp" <<'CPP'
#include <faceapp/faceapp.hpp>

// Builds pipelines and hands results around; never calls a stage.
auto make_pipeline(float tolerance) {
  return faceapp::read | faceapp::fit(1600) | faceapp::encode | faceapp::compare(tolerance);
}
static_assert(faceapp::composable<decltype(faceapp::read), decltype(faceapp::encode)>);

std::size_t faces_in(const faceapp::result<faceapp::encoded_faces>& r) { return r ? r->size() : 0; }

faceapp::result<faceapp::encoded_faces> keep_first(faceapp::result<faceapp::encoded_faces> r) {
  if (r && r->items.size() > 1) r->items.resize(1);
  return r;
}

std::size_t pipeline_size() { return sizeof(make_pipeline(0.6F)); }
CPP

cat > "$work/project/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.20)
project(faceapp_compile_cost LANGUAGES CXX)
add_subdirectory("$src" faceapp)
add_library(call OBJECT call.cpp)
target_link_libraries(call PRIVATE faceapp::faceapp)
add_library(compose OBJECT compose.cpp)
target_link_libraries(compose PRIVATE faceapp::faceapp)
CMAKE

cmake -S "$work/project" -B "$work/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
printf '| translation unit | wall s | cpu s | peak MB |\n| --- | --- | --- | --- |\n'
for case in call compose; do
  obj_dir="$work/build/CMakeFiles/$case.dir"
  rm -f "$obj_dir/$case.cpp.o"
  # The compile command CMake would run, under /usr/bin/time.
  cmd=$(cd "$work/build" && make -n "$case" 2>/dev/null | grep -E -- "-c .*$case\.cpp" | head -n 1)
  (cd "$work/build" && /usr/bin/time -v -o "$work/$case.time" bash -c "$cmd") >/dev/null
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$work/$case.time")
  cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.1f", u + s}' "$work/$case.time")
  mb=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$work/$case.time")
  printf '| %s | %.1f | %s | %s |\n' "$case" "$wall" "$cpu" "$mb"
done
[ -n "${BUILD:-}" ] || rm -rf "$work"
