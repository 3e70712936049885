#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "faceapp/core/views.hpp"
#include "faceapp/faceapp.hpp"
#include "test_data.hpp"

using faceapp::test::data_file;

// Under ThreadSanitizer (CI runs this binary alone with it) detection is some 10x slower, under AddressSanitizer
// some 3x: the cases take fewer photos there. The threads, windows and early stops they exercise are the same.
#if defined(__SANITIZE_THREAD__)
constexpr bool under_tsan = true;
#else
constexpr bool under_tsan = false;
#endif
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

TEST_CASE("run_batch gives what the pipeline gives alone, in input order, each bad input its error") {
  std::vector<std::string> inputs;
  std::vector<int> expected;  // the manifest's face count, -1 for a bad input
  for (const auto& row : faceapp::test::manifest()) {
    // Small photos only, and fewer under the sanitizers.
    if (row.faces < 0 || inputs.size() >= (sanitized ? 6U : 14U) ||
        std::filesystem::file_size(data_file("faces/" + row.file)) > 60000) {
      continue;
    }
    inputs.push_back(data_file("faces/" + row.file).string());
    expected.push_back(row.faces);
    if (inputs.size() % 5 == 0) {  // a bad input every few
      inputs.push_back(data_file("faces/README.md").string());
      expected.push_back(-1);
    }
  }
  REQUIRE(inputs.size() >= (sanitized ? 6U : 14U));
  const auto pipe = faceapp::read | faceapp::encode;
  // The pipeline alone, on this thread, one input after the other: what every batch must reproduce exactly.
  std::vector<faceapp::result<faceapp::encoded_faces>> alone;
  for (const auto& input : inputs) alone.push_back(pipe(input));
  int faces = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    CAPTURE(inputs[i]);
    if (expected[i] < 0) {
      REQUIRE_FALSE(alone[i].has_value());
      CHECK(alone[i].error().stage == "read");
      CHECK(alone[i].error().input == inputs[i]);
    } else {
      REQUIRE_MESSAGE(alone[i].has_value(), alone[i].error().what());
      CHECK(static_cast<int>(alone[i]->size()) == expected[i]);  // these small photos have no known misses
      faces += static_cast<int>(alone[i]->size());
    }
  }
  CHECK(faces > 0);
  for (unsigned threads : {1U, 2U, 4U}) {
    if (under_tsan && threads == 1) continue;  // one worker has nothing to race with
    CAPTURE(threads);
    const auto results = faceapp::run_batch(pipe, inputs, {.threads = threads});
    REQUIRE(results.size() == inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      CAPTURE(inputs[i]);
      REQUIRE(results[i].has_value() == alone[i].has_value());
      if (!alone[i]) {
        CHECK(results[i].error().stage == alone[i].error().stage);
        CHECK(results[i].error().input == alone[i].error().input);
        CHECK(results[i].error().message == alone[i].error().message);
        continue;
      }
      CHECK(results[i]->source() == inputs[i]);
      REQUIRE(results[i]->size() == alone[i]->size());
      for (std::size_t k = 0; k < alone[i]->size(); ++k) {
        CAPTURE(k);
        const auto& a = alone[i]->at(k);
        const auto& b = results[i]->at(k);
        CHECK(b.box == a.box);
        CHECK(b.box_in_image == a.box_in_image);
        CHECK(b.score == a.score);
        CHECK(b.landmarks == a.landmarks);
        CHECK(b.encoding == a.encoding);  // bit for bit: each worker's own engine computes the same floats
      }
    }
  }
}

TEST_CASE("run_ordered streams results in input order from a single-pass range") {
  std::istringstream lines(data_file("faces/obama_1.jpg").string() + "\n" + "missing.jpg\n" +
                           data_file("faces/group_9.jpg").string() + "\n");
  std::vector<std::size_t> order;
  std::vector<std::size_t> counts;
  const auto started = faceapp::run_ordered(
      faceapp::read | faceapp::encode, std::ranges::istream_view<std::string>(lines),
      [&](std::size_t i, const faceapp::result<faceapp::encoded_faces>& r) {
        order.push_back(i);
        counts.push_back(r ? r->size() : 99);
      },
      {.threads = 2, .window = 2});
  CHECK(started.has_value());
  CHECK(order == std::vector<std::size_t>{0, 1, 2});
  CHECK(counts == std::vector<std::size_t>{1, 99, 2});
}

namespace {

// The processes and threads whose real user is `uid` (what RLIMIT_NPROC counts).
long tasks_of_user(uid_t uid) {
  long count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    long real_uid = -1;
    long threads = 0;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("Uid:", 0) == 0) real_uid = std::stol(line.substr(4));
      if (line.rfind("Threads:", 0) == 0) threads = std::stol(line.substr(8));
    }
    if (real_uid == static_cast<long>(uid)) count += threads;
  }
  return count;
}

// In a forked child: lets this process start exactly one more thread, then asks run_ordered for three workers
// and run_batch for three. Returns 0 when both behave, another code naming the first thing that did not.
int run_with_one_thread_to_spare(const std::vector<std::string>& inputs) {
  if (::geteuid() == 0) {
    // Root is exempt from RLIMIT_NPROC: become a user that owns no other process (this child is its only one).
    constexpr uid_t nobody_else = 54'321;
    const rlimit limit{2, 2};
    if (::setrlimit(RLIMIT_NPROC, &limit) != 0 || ::setgid(nobody_else) != 0 || ::setuid(nobody_else) != 0) return 2;
  } else {
    const auto mine = static_cast<rlim_t>(tasks_of_user(::getuid()));
    const rlimit limit{mine + 1, mine + 1};
    if (::setrlimit(RLIMIT_NPROC, &limit) != 0) return 2;
  }
  int called = 0;
  const auto started = faceapp::run_ordered(
      faceapp::read, inputs, [&](std::size_t, const faceapp::result<faceapp::image>&) { ++called; },
      {.threads = 3});
  if (started) return 3;  // the second worker must not have started
  if (started.error().message.find("cannot start a worker thread") == std::string::npos) return 4;
  if (called != 0) return 5;  // no input was read
  // run_batch gets every input done all the same, on the calling thread, in order.
  const auto results = faceapp::run_batch(faceapp::read, inputs, {.threads = 3});
  if (results.size() != inputs.size()) return 6;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!results[i] || results[i]->source != inputs[i] || results[i]->width() <= 0) return 7;
  }
  return 0;
}

// ThreadSanitizer cannot start threads in a child forked from a threaded process (it kills the child, and the
// parent then waits): this case runs in the other builds.
}  // namespace

TEST_CASE("run_ordered: a worker thread that cannot start stops and joins the others and gives the error" *
          doctest::skip(under_tsan)) {
  const std::vector<std::string> inputs{data_file("faces/obama_1.jpg").string(),
                                        data_file("faces/biden_1.jpg").string()};
  std::fflush(nullptr);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::alarm(60);               // a hang kills the child, and the parent sees the signal
    ::_exit(run_with_one_thread_to_spare(inputs));  // _exit: no leak check, which needs a thread of its own
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  INFO("child status " << status << " (exit codes: see run_with_one_thread_to_spare)");
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

namespace {

// Small photos with a known face count, and a bad input among them.
std::pair<std::vector<std::string>, std::vector<int>> photos_with_counts(std::size_t n) {
  std::vector<std::string> inputs;
  std::vector<int> expected;
  for (const auto& row : faceapp::test::manifest()) {
    if (inputs.size() >= n) break;
    if (row.faces < 0 || std::filesystem::file_size(data_file("faces/" + row.file)) > 60000) continue;
    inputs.push_back(data_file("faces/" + row.file).string());
    expected.push_back(row.faces);
    if (inputs.size() == 2) {
      inputs.push_back(data_file("faces/README.md").string());
      expected.push_back(-1);
    }
  }
  return {inputs, expected};
}

int count_of(const faceapp::result<faceapp::faces>& r) { return r ? static_cast<int>(r->size()) : -1; }

}  // namespace

TEST_CASE("run_ordered as a range: views::apply is lazy and in order, apply_parallel gives the same on workers") {
  const auto [inputs, expected] = photos_with_counts(sanitized ? 4 : 6);
  const auto pipe = faceapp::read | faceapp::detect;

  SUBCASE("apply: nothing runs until the range is read, then each result in input order") {
    std::vector<std::string> paths{data_file("faces/README.md").string()};
    auto lazy = paths | faceapp::views::apply(pipe);
    paths = inputs;  // the view reads the vector when iterated, not when made
    std::vector<int> counts;
    for (const auto& r : lazy) counts.push_back(count_of(r));
    CHECK(counts == expected);
  }
  SUBCASE("apply_parallel: the same results, in input order, on 2 workers with a window of 2") {
    std::vector<int> counts;
    std::vector<std::string> sources;
    for (const auto& r : inputs | faceapp::views::apply_parallel(pipe, {.threads = 2, .window = 2})) {
      counts.push_back(count_of(r));
      sources.push_back(r ? r->source() : r.error().input);
    }
    CHECK(counts == expected);
    CHECK(sources == inputs);
  }
  SUBCASE("apply_parallel over a single-pass range") {
    std::string lines;
    for (const auto& in : inputs) lines += in + '\n';
    std::istringstream stream(lines);
    std::vector<int> counts;
    for (const auto& r :
         std::ranges::istream_view<std::string>(stream) | faceapp::views::apply_parallel(pipe, {.threads = 2})) {
      counts.push_back(count_of(r));
    }
    CHECK(counts == expected);
  }
  SUBCASE("apply_parallel: leaving the loop early stops the workers") {
    std::vector<std::string> many;
    for (int i = 0; i < 50; ++i) many.push_back(inputs[static_cast<std::size_t>(i) % inputs.size()]);
    int seen = 0;
    for (const auto& r : many | faceapp::views::apply_parallel(pipe, {.threads = 2, .window = 4})) {
      CHECK(count_of(r) == expected[0]);
      if (++seen == 1) break;
    }
    CHECK(seen == 1);
  }
}
