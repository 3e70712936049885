#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "faceapp/stages/record.hpp"
#include "test_data.hpp"

namespace fs = std::filesystem;
using faceapp::test::data_file;

namespace {

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::string contents(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

faceapp::encoded_faces sample(const std::string& source, std::size_t n) {
  faceapp::encoded_faces f;
  f.image.source = source;
  for (std::size_t i = 0; i < n; ++i) {
    faceapp::encoded_face e;
    e.box = {10, 60, 70, 5};
    e.distance = 0.25F;
    e.match = true;
    e.name = "ann";
    f.items.push_back(e);
  }
  return f;
}

}  // namespace

TEST_CASE("csv cells are quoted per RFC 4180 and defused for spreadsheets") {
  CHECK(faceapp::detail::csv_cell("plain") == "plain");
  CHECK(faceapp::detail::csv_cell("a,b") == "\"a,b\"");
  CHECK(faceapp::detail::csv_cell("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(faceapp::detail::csv_cell("two\nlines") == "\"two\nlines\"");
  CHECK(faceapp::detail::csv_cell("=HYPERLINK(\"x\")") == "\"'=HYPERLINK(\"\"x\"\")\"");
  CHECK(faceapp::detail::csv_cell("+1") == "'+1");
  CHECK(faceapp::detail::csv_cell("-1") == "'-1");
  CHECK(faceapp::detail::csv_cell("@cmd") == "'@cmd");
  SUBCASE("semicolons and tabs, which spreadsheets in some locales split on, are quoted") {
    CHECK(faceapp::detail::csv_cell("ann;=1+1") == "\"ann;'=1+1\"");  // split on ;, no cell starts a formula
    CHECK(faceapp::detail::csv_cell("a, -b") == "\"a, -b\"");
    CHECK(faceapp::detail::csv_cell("a\tb") == "\"a\tb\"");
    CHECK(faceapp::detail::csv_cell("\t=1") == "\"'\t'=1\"");
  }
}

TEST_CASE("timestamps are UTC ISO-8601 with milliseconds, at fixed time points and now") {
  using namespace std::chrono;
  CHECK(faceapp::utc_timestamp(system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
  const sys_time<milliseconds> t = sys_days{year{2026} / November / 28} + hours{19} + minutes{20} + seconds{5} +
                                   milliseconds{123};
  CHECK(faceapp::utc_timestamp(t) == "2026-11-28T19:20:05.123Z");
  CHECK(faceapp::utc_timestamp(t + microseconds{999}) == "2026-11-28T19:20:05.123Z");  // truncated, not rounded
  CHECK(faceapp::utc_timestamp(sys_days{year{2000} / February / 29} + hours{23} + minutes{59} + seconds{59} +
                               milliseconds{999}) == "2000-02-29T23:59:59.999Z");
  CHECK(faceapp::utc_timestamp(sys_days{year{1969} / December / 31} + hours{23} + minutes{59} + seconds{59} +
                               milliseconds{500}) == "1969-12-31T23:59:59.500Z");
  CHECK(std::regex_match(faceapp::utc_timestamp(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
}

TEST_CASE("record writes the header once and one row per face") {
  const faceapp::test::scratch_dir tmp{"test_record"};
  const auto path = tmp.dir / "results.csv";
  {
    faceapp::csv_sink csv{path};
    REQUIRE(csv.ok());
    const auto rec = faceapp::record(std::ref(csv));
    CHECK(rec(sample("a.jpg", 2)).has_value());
    CHECK(rec(sample("no_face.png", 0)).has_value());
  }
  {
    faceapp::csv_sink again{path};  // reopening appends, without a second header
    CHECK(faceapp::record(std::ref(again))(sample("=evil(),\"name\".jpg", 1)).has_value());
  }
  const auto lines = lines_of(path);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] == "time,input,face,top,right,bottom,left,name,distance,match");
  CHECK(lines[1].substr(24) == ",a.jpg,0,10,60,70,5,ann,0.250000,true");
  CHECK(lines[2].substr(24) == ",a.jpg,1,10,60,70,5,ann,0.250000,true");
  CHECK(lines[3].substr(24) == ",no_face.png,,,,,,,,");
  CHECK(lines[4].substr(24) == ",\"'=evil(),\"\"name\"\".jpg\",0,10,60,70,5,ann,0.250000,true");
}

TEST_CASE("8 threads x 500 records into one csv_sink give exactly 4000 well-formed rows") {
  const faceapp::test::scratch_dir tmp{"test_record"};
  const auto path = tmp.dir / "results.csv";
  {
    faceapp::csv_sink csv{path, {.sync = false}};
    const auto rec = faceapp::record(std::ref(csv));
    std::vector<std::jthread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 500; ++i) {
          REQUIRE(rec(sample("thread_" + std::to_string(t) + "_" + std::to_string(i) + ".jpg", 1)).has_value());
        }
      });
    }
  }
  const auto lines = lines_of(path);
  REQUIRE(lines.size() == 4001);
  CHECK(lines[0] == faceapp::csv_sink::header);
  const std::regex row(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,thread_\d_\d+\.jpg,0,10,60,70,5,ann,0\.250000,true)");
  std::set<std::string> inputs;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    CHECK(std::regex_match(lines[i], row));
    inputs.insert(lines[i].substr(25, lines[i].find(',', 25) - 25));
  }
  CHECK(inputs.size() == 4000);  // every record exactly once
}

TEST_CASE("a CSV that is not ours, or cannot be opened, is an error and nothing recorded is lost") {
  const faceapp::test::scratch_dir tmp{"test_record"};
  SUBCASE("an existing file with another header is left untouched") {
    const auto path = tmp.dir / "other.csv";
    std::ofstream(path) << "name,amount\nann,3\n";
    const auto before = contents(path);
    faceapp::csv_sink csv{path};
    CHECK_FALSE(csv.ok());
    const auto r = faceapp::record(std::ref(csv))(sample("a.jpg", 1));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().stage == "record");
    CHECK(r.error().input == "a.jpg");
    CHECK(r.error().message.find("other.csv") != std::string::npos);
    CHECK(r.error().message.find("not a faceapp results file") != std::string::npos);
    CHECK(contents(path) == before);
  }
  SUBCASE("a binary file is refused too") {
    const auto path = tmp.dir / "binary.csv";
    std::ofstream(path, std::ios::binary) << std::string("\x00\x01\x02\xff", 4);
    const auto before = contents(path);
    faceapp::csv_sink csv{path};
    CHECK_FALSE(csv.ok());
    CHECK(contents(path) == before);
  }
  SUBCASE("an empty file gets the header") {
    const auto path = tmp.dir / "empty.csv";
    std::ofstream{path};
    faceapp::csv_sink csv{path};
    CHECK(csv.ok());
    CHECK(faceapp::record(std::ref(csv))(sample("a.jpg", 1)).has_value());
    CHECK(lines_of(path).size() == 2);
  }
  SUBCASE("a path in a missing folder, or a folder, cannot be opened") {
    for (const auto& path : {tmp.dir / "missing" / "r.csv", tmp.dir}) {
      faceapp::csv_sink csv{path};
      CHECK_FALSE(csv.ok());
      const auto r = faceapp::record(std::ref(csv))(sample("a.jpg", 1));
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().message.find(path.string()) != std::string::npos);
    }
  }
  SUBCASE("a row torn by a crash is closed off; the rows before it stay") {
    const auto path = tmp.dir / "torn.csv";
    {
      faceapp::csv_sink csv{path};
      CHECK(faceapp::record(std::ref(csv))(sample("a.jpg", 1)).has_value());
    }
    std::ofstream(path, std::ios::app) << "2026-01-01T00:00:00.000Z,b.jp";  // a write cut short
    {
      faceapp::csv_sink csv{path};
      CHECK(faceapp::record(std::ref(csv))(sample("c.jpg", 1)).has_value());
    }
    const auto lines = lines_of(path);
    REQUIRE(lines.size() == 4);
    CHECK(lines[1].find(",a.jpg,") != std::string::npos);
    CHECK(lines[2] == "2026-01-01T00:00:00.000Z,b.jp");
    CHECK(lines[3].find(",c.jpg,") != std::string::npos);
  }
}

TEST_CASE("records go to the file that is at the path now") {
  const faceapp::test::scratch_dir tmp{"test_record"};
  const auto path = tmp.dir / "results.csv";
  faceapp::csv_sink csv{path};
  REQUIRE(csv.ok());
  const auto rec = faceapp::record(std::ref(csv));
  CHECK(rec(sample("a.jpg", 1)).has_value());
  SUBCASE("a removed file is created again, with its header") {
    fs::remove(path);
    CHECK(rec(sample("b.jpg", 1)).has_value());
    const auto lines = lines_of(path);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] == faceapp::csv_sink::header);
    CHECK(lines[1].find(",b.jpg,") != std::string::npos);
  }
  SUBCASE("a file renamed away keeps what it had; the new one gets the next rows") {
    fs::rename(path, tmp.dir / "old.csv");
    CHECK(rec(sample("b.jpg", 1)).has_value());
    CHECK(lines_of(tmp.dir / "old.csv").size() == 2);
    CHECK(lines_of(path).size() == 2);
  }
  SUBCASE("a file replaced by one that is not ours is refused and left alone") {
    fs::remove(path);
    std::ofstream(path) << "name,amount\n";
    const auto r = rec(sample("b.jpg", 1));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("not a faceapp results file") != std::string::npos);
    CHECK(contents(path) == "name,amount\n");
  }
}

TEST_CASE("a write that finds the disk full leaves no partial row, and the next row starts clean") {
  // A file size limit (RLIMIT_FSIZE, with SIGXFSZ ignored: EFBIG) stands in for a full disk (ENOSPC): both cut a
  // write short at the same point, and neither needs a special file system.
  const faceapp::test::scratch_dir tmp{"test_record"};
  const auto path = tmp.dir / "results.csv";
  faceapp::csv_sink csv{path};
  REQUIRE(csv.ok());
  const auto rec = faceapp::record(std::ref(csv));
  REQUIRE(rec(sample("a.jpg", 1)).has_value());
  const auto before = contents(path);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit old_limit{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  rlimit small = old_limit;
  small.rlim_cur = before.size() + 20;  // room for part of a row only
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  const auto r = rec(sample("b.jpg", 2));
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == faceapp::errc::no_space);
  CHECK(contents(path) == before);
  CHECK(rec(sample("c.jpg", 1)).has_value());
  const auto lines = lines_of(path);
  REQUIRE(lines.size() == 3);
  CHECK(lines[2].find(",c.jpg,") != std::string::npos);
}
