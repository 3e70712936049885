// `faceapp encode` as the map step of a batch job: --shard K/N splits the inputs between N tasks exactly, and
// --output FILE appears whole or not at all, with the inputs that failed in FILE.errors. Real models on
// tests/data/faces; the reference is always the same program's unsharded run over the same inputs.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_harness.hpp"
#include "test_data.hpp"

namespace {

namespace fs = std::filesystem;
using faceapp::test::data_file;
using namespace faceapp::test::cli;

/// The lines of `out` whose first CSV cell is one of `paths`, in their order.
std::vector<std::string> rows_about(const std::string& out, const std::set<std::string>& paths) {
  std::vector<std::string> rows;
  for (const auto& line : lines_of(out)) {
    if (paths.count(split(line).at(0)) != 0) rows.push_back(line);
  }
  return rows;
}

/// The cells of one CSV line, quoted ones (RFC 4180) unquoted.
std::vector<std::string> csv_cells(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cells.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  return cells;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("--shard K/N: N shards partition the inputs by position, and their rows are the unsharded run's") {
  // Inputs of every kind, in the order the program expands them: a file, a folder's images (sorted), the
  // lines of stdin, another file. Among them group photos (several rows) and photos without a face (none).
  const temp_folder tmp;
  const auto album = tmp.path / "album";
  fs::create_directories(album);
  for (const std::string file : {"group_1.jpg", "noface_1.png", "obama_1.jpg", "biden_1.jpg", "amy_1.png"}) {
    fs::create_symlink(data_file("faces/" + file), album / file);
  }
  const std::vector<std::string> from_stdin{path_of("group_3.jpg"), path_of("noface_2.jpg"), path_of("obama_2.jpg")};
  const std::vector<std::string> args_paths{path_of("tom_cruise_1.jpg"), album.string(), "-", path_of("amy_3.png")};
  std::vector<std::string> expanded{args_paths[0]};
  for (const std::string file : {"amy_1.png", "biden_1.jpg", "group_1.jpg", "noface_1.png", "obama_1.jpg"}) {
    expanded.push_back((album / file).string());
  }
  expanded.insert(expanded.end(), from_stdin.begin(), from_stdin.end());
  expanded.push_back(args_paths[3]);
  std::string stdin_text;
  for (const auto& p : from_stdin) stdin_text += p + '\n';

  std::vector<std::string> whole_args{"encode", "--jobs", "2"};
  whole_args.insert(whole_args.end(), args_paths.begin(), args_paths.end());
  const auto whole = run(whole_args, stdin_text);
  REQUIRE(whole.status == 0);
  const auto whole_rows = lines_of(whole.out);
  REQUIRE(whole_rows.size() > expanded.size());  // the group photos give several rows each

  constexpr std::size_t n = 3;
  std::vector<std::string> concatenated;
  for (std::size_t k = 0; k < n; ++k) {
    INFO("shard " << k << '/' << n);
    const auto file = tmp.path / ("part-" + std::to_string(k) + ".csv");
    // --jobs 1: the split, not the threads, is what differs from the unsharded run.
    std::vector<std::string> args{"encode", "--jobs", "1", "--shard", std::to_string(k) + '/' + std::to_string(n),
                                  "--output", file.string()};
    args.insert(args.end(), args_paths.begin(), args_paths.end());
    const auto r = run(args, stdin_text);
    CHECK(r.status == 0);
    CHECK(r.out.empty());  // the rows went to the file
    const auto rows = lines_of(read_text(file));
    // Exactly the inputs at positions k, k+n, k+2n, ... and every row the unsharded run has for them, in order.
    std::set<std::string> mine;
    for (std::size_t i = k; i < expanded.size(); i += n) mine.insert(expanded[i]);
    CHECK(rows == rows_about(whole.out, mine));
    CHECK(!rows.empty());
    concatenated.insert(concatenated.end(), rows.begin(), rows.end());
  }
  // Concatenated, the shards are the unsharded run: the same rows, values bit for bit (9 significant digits).
  CHECK(sorted(concatenated) == sorted(whole_rows));

  SUBCASE("a shard past the end of the list is empty, not an error") {
    const auto r = run({"encode", "--shard", "11/12", path_of("obama_1.jpg"), path_of("biden_1.jpg")});
    CHECK(r.status == 0);
    CHECK(r.out.empty());
  }
}

TEST_CASE("--shard takes K/N with 0 <= K < N and nothing else") {
  for (const std::string bad : {"3/3", "0/0", "4/3", "-1/2", "1", "a/b", "1/2/3", "/2", "1/", ""}) {
    INFO(bad);
    const auto r = run({"encode", "--shard", bad, path_of("obama_1.jpg")});
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(r.err.find("--shard") != std::string::npos);
  }
}

TEST_CASE("--output FILE appears whole or not at all") {
  const temp_folder tmp;
  const auto file = tmp.path / "encodings.csv";
  const auto partial = tmp.path / "encodings.csv.tmp";
  const auto errors = tmp.path / "encodings.csv.errors";
  // Twelve photos with faces: the first row is written long before the last.
  std::string list;
  for (const std::string f : {"obama_1.jpg", "biden_1.jpg", "obama_2.jpg", "amy_3.png", "group_1.jpg",
                              "group_2.jpg", "group_3.jpg", "tom_cruise_1.jpg", "amy_1.png", "obama_3.jpg",
                              "group_4.jpg", "amy_2.png"}) {
    list += path_of(f) + '\n';
  }

  SUBCASE("killed midway: no FILE, no FILE.errors; the rerun writes what stdout would have had") {
    {
      spawned task({"encode", "--jobs", "1", "--output", file.string(), "-"}, list);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
      std::error_code ec;
      while (task.running() && std::chrono::steady_clock::now() < deadline &&
             !(fs::exists(partial, ec) && fs::file_size(partial, ec) > 0)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      REQUIRE_MESSAGE(task.running(), "the run ended before it could be killed midway");
      REQUIRE(fs::file_size(partial) > 0);
      task.kill(SIGKILL);
      task.wait();
      CHECK(task.signal() == SIGKILL);
    }
    CHECK(fs::exists(partial));  // what it had written, left under the temporary name only
    CHECK(!fs::exists(file));
    CHECK(!fs::exists(errors));

    const auto rerun = run({"encode", "--jobs", "2", "--output", file.string(), "-"}, list);
    CHECK(rerun.status == 0);
    CHECK(!fs::exists(partial));
    const auto to_stdout = run({"encode", "--jobs", "2", "-"}, list);
    REQUIRE(to_stdout.status == 0);
    CHECK(read_text(file) == to_stdout.out);
    CHECK(lines_of(read_text(file)).size() > 12);
    CHECK(fs::exists(errors));
    CHECK(read_text(errors).empty());

    // Again: the same bytes (idempotent), over the complete FILE of the first run.
    const auto again = run({"encode", "--jobs", "1", "--output", file.string(), "-"}, list);
    CHECK(again.status == 0);
    CHECK(read_text(file) == to_stdout.out);
  }

  SUBCASE("a folder that does not exist: exit 2, naming the file, and nothing written") {
    const auto nowhere = tmp.path / "no_such_folder" / "encodings.csv";
    const auto r = run({"encode", "--output", nowhere.string(), path_of("obama_1.jpg")});
    CHECK(r.status == 2);
    CHECK(r.err.find(nowhere.string()) != std::string::npos);
    CHECK(!fs::exists(nowhere.parent_path()));
  }
}

TEST_CASE("--output FILE.errors lists the bad inputs as path,stage,reason, and the good ones' rows are in FILE") {
  const temp_folder tmp;
  const auto good_1 = path_of("obama_1.jpg");
  const auto good_2 = path_of("group_1.jpg");
  const auto not_image = (tmp.path / "notes.jpg").string();
  std::ofstream(not_image) << "these are not the bytes of an image\n";
  const auto truncated = (tmp.path / "truncated.jpg").string();
  {
    const auto bytes = read_text(good_1);
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  const auto missing = (tmp.path / "missing.jpg").string();
  const auto file = tmp.path / "out.csv";

  const auto r = run({"encode", "--jobs", "2", "--output", file.string(), good_1, not_image, truncated, missing, good_2});
  CHECK(r.status == 2);  // as without --output
  // stderr names them as before.
  const auto stderr_lines = lines_of(r.err);
  REQUIRE(stderr_lines.size() == 3);
  CHECK(stderr_lines[0].find(not_image) != std::string::npos);

  const auto rows = lines_of(read_text(file));
  const auto good_only = run({"encode", "--jobs", "2", good_1, good_2});
  CHECK(rows == lines_of(good_only.out));
  CHECK(rows.size() >= 3);  // obama_1's face and group_1's

  const auto listed = lines_of(read_text(tmp.path / "out.csv.errors"));
  REQUIRE(listed.size() == 3);
  const std::vector<std::pair<std::string, std::string>> why{
      {not_image, "not an image"}, {truncated, "truncated JPEG"}, {missing, "no such file"}};
  for (std::size_t i = 0; i < why.size(); ++i) {
    INFO(listed[i]);
    const auto cells = csv_cells(listed[i]);
    REQUIRE(cells.size() == 3);
    CHECK(cells[0] == why[i].first);
    CHECK(cells[1] == "read");
    CHECK(cells[2].find(why[i].second) != std::string::npos);
  }
}
