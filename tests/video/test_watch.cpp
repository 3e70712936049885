// `faceapp watch` on the test videos (video_files.hpp): rows, windows, tracks and exit codes, from a file, a
// truncated file, a non-video file and a live TCP stream stopped by SIGINT.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_harness.hpp"
#include "video_files.hpp"

namespace tv = faceapp::test::video;
namespace cli = faceapp::test::cli;

namespace {

struct row {
  double time;
  long frame;
  long track;
  std::string name;
};

std::vector<row> rows_of(const std::string& csv) {
  const auto lines = cli::lines_of(csv);
  REQUIRE(!lines.empty());
  CHECK(lines[0] == "time,frame,track,name,distance,top,right,bottom,left");
  std::vector<row> rows;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto cells = cli::split(lines[i]);
    REQUIRE(cells.size() == 9);
    CHECK(cells[0].find('.') == cells[0].size() - 4);  // 3 decimals
    rows.push_back({std::stod(cells[0]), std::stol(cells[1]), std::stol(cells[2]), cells[3]});
  }
  return rows;
}

/// Each segment before `until` seconds: its person's name in each of its analysed frames (every second), one
/// track per person, nobody in the gray segment.
void check_rows(const std::vector<row>& rows, double until) {
  std::map<std::size_t, std::vector<row>> by_segment;
  for (const auto& r : rows) by_segment[tv::segment_at(r.time)].push_back(r);
  std::set<long> tracks;
  for (std::size_t i = 0; i < tv::segments().size() && (i + 1) * tv::segment_seconds <= until; ++i) {
    CAPTURE(i);
    const auto expected = tv::expected_name(tv::segments()[i]);
    if (!expected) {
      CHECK(by_segment[i].empty());
      continue;
    }
    REQUIRE(by_segment[i].size() == 2);
    for (const auto& r : by_segment[i]) CHECK(r.name == *expected);
    CHECK(by_segment[i][0].track == by_segment[i][1].track);
    CHECK(tracks.insert(by_segment[i][0].track).second);
  }
}

/// The time of the last whole row of a file being written (-1 before the first).
double latest_time(const std::string& text) {
  double latest = -1;
  const auto lines = cli::lines_of(text.substr(0, text.rfind('\n') + 1));
  for (std::size_t i = 1; i < lines.size(); ++i) latest = std::stod(cli::split(lines[i])[0]);
  return latest;
}

std::vector<std::string> watch_args(const std::string& source, const std::string& output) {
  std::vector<std::string> args{"watch", source, "--known", tv::shared_files().known.string(), "--every", "25"};
  if (!output.empty()) args.insert(args.end(), {"--output", output});
  return args;
}

}  // namespace

TEST_CASE("watch names the people of each segment of a video, one track each, and exits 0") {
  const cli::temp_folder out;
  const auto file = (out.path / "people.csv").string();
  const auto r = cli::run(watch_args(tv::shared_files().mp4.string(), file));
  CHECK_MESSAGE(r.status == 0, r.err);
  CHECK(r.out.empty());
  CHECK(!std::filesystem::exists(file + ".tmp"));
  const auto rows = rows_of(cli::read_text(file));
  CHECK(rows.size() == 8);  // 4 people x 2 analysed frames
  check_rows(rows, 10);
  // The summary on stderr: one line per track, with its name.
  for (const char* line : {"track 0: 0.000 to 1.000 s, obama", "track 1: 4.000 to 5.000 s, rose_leslie",
                           "track 2: 6.000 to 7.000 s, unknown", "track 3: 8.000 to 9.000 s, alex_lacamoire"}) {
    CHECK_MESSAGE(r.err.find(line) != std::string::npos, r.err);
  }
  SUBCASE("without --output the rows go to stdout") {
    const auto to_stdout = cli::run(watch_args(tv::shared_files().mp4.string(), ""));
    CHECK(to_stdout.status == 0);
    CHECK(to_stdout.out == cli::read_text(file));
  }
}

TEST_CASE("watch exits 2 naming a source that is not a video, or is missing") {
  const auto& files = tv::shared_files();
  for (const auto& source : {files.text.string(), (files.dir.dir / "missing.mp4").string(), files.known.string()}) {
    CAPTURE(source);
    const auto r = cli::run(watch_args(source, ""));
    CHECK(r.status == 2);
    CHECK(r.err.find("video: " + source + ": ") != std::string::npos);
  }
  SUBCASE("--every below 1 is refused") {
    auto args = watch_args(files.mp4.string(), "");
    args[5] = "0";
    const auto r = cli::run(args);
    CHECK(r.status == 2);
    CHECK(r.err.find("every") != std::string::npos);
  }
}

TEST_CASE("watch on a truncated video writes the rows up to the cut and exits 1") {
  const cli::temp_folder out;
  const auto file = (out.path / "cut.csv").string();
  const auto r = cli::run(watch_args(tv::shared_files().truncated.string(), file));
  CHECK(r.status == 1);
  CHECK(r.err.find("truncated") != std::string::npos);
  const auto rows = rows_of(cli::read_text(file));
  REQUIRE(!rows.empty());
  check_rows(rows, 2);  // the cut is beyond the first segment (60% of the bytes)
}

TEST_CASE("watch on a live TCP stream writes the rows as it goes, and leaves a whole file on SIGINT") {
  const tv::live_stream live(tv::shared_files().mp4);
  const cli::temp_folder out;
  const auto file = (out.path / "live.csv").string();
  cli::spawned watch(watch_args(live.url(), file));
  // Wait for the rows of the third segment (rose_leslie, from 4 s) in FILE.tmp, then interrupt.
  // (A deadline, not a count of polls: starting, loading the models and encoding the known folder take a
  // loaded machine much longer than an idle one.)
  bool third = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!third && watch.running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    third = latest_time(cli::read_text(file + ".tmp")) >= 4;
  }
  REQUIRE(third);
  watch.kill(SIGINT);
  const auto r = watch.wait();
  CHECK_MESSAGE(r.status == 0, r.err);
  CHECK(!std::filesystem::exists(file + ".tmp"));
  const auto rows = rows_of(cli::read_text(file));
  check_rows(rows, 4);
  CHECK(r.err.find("track 0: 0.000 to 1.000 s, obama") != std::string::npos);
}
