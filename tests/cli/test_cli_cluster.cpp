// `faceapp cluster`, driven as a user drives it, on the identity photos of tests/data/faces: its clusters checked
// against the manifest's identities, its chips and their modes, and a bad input among good ones.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "faceapp/faceapp.hpp"
#include "cli_harness.hpp"
#include "test_data.hpp"

namespace {

namespace fs = std::filesystem;
using namespace faceapp::test::cli;

struct cluster_row {
  std::string path;
  std::size_t cluster = 0;
  faceapp::box box;
};

std::vector<cluster_row> parse_cluster_csv(const std::string& text) {
  std::vector<cluster_row> rows;
  for (const auto& line : lines_of(text)) {
    const auto cells = split(line);
    REQUIRE(cells.size() == 6);
    rows.push_back({cells[0], std::stoul(cells[1]),
                    {std::stoi(cells[2]), std::stoi(cells[3]), std::stoi(cells[4]), std::stoi(cells[5])}});
  }
  return rows;
}

unsigned mode_of(const fs::path& p) {
  struct ::stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777U;
}

/// Three people, three photos each, and one more of the first: the manifest's identity for each path.
std::map<std::string, std::string> some_people() {
  std::map<std::string, std::string> identity;
  for (const auto& row : faceapp::test::manifest()) {
    if (row.identity == "obama" || row.identity == "kit_harington" || row.identity == "rose_leslie") {
      identity[path_of(row.file)] = row.identity;
    }
  }
  return identity;
}

}  // namespace

TEST_CASE("cluster groups the identities, writes their chips, and names a bad input while the others print") {
  const temp_folder tmp;
  const auto identity = some_people();
  REQUIRE(identity.size() == 9);
  std::vector<std::string> args{"cluster", "--jobs", "2", "--output", (tmp.path / "chips").string()};
  for (const auto& [path, who] : identity) args.push_back(path);
  const auto not_image = (tmp.path / "notes.jpg").string();
  std::ofstream(not_image) << "these are not the bytes of an image\n";
  args.insert(args.begin() + 6, not_image);  // among the good ones

  const auto r = run(args);
  CHECK(r.status == 2);  // one input failed
  const auto rows = parse_cluster_csv(r.out);
  REQUIRE(rows.size() == 9);

  SUBCASE("one row per face, in input order, one cluster per identity, numbered by first appearance") {
    std::map<std::string, std::set<std::size_t>> clusters_of;
    std::map<std::size_t, std::set<std::string>> people_in;
    std::size_t next = 0;
    auto path = identity.begin();
    for (const auto& row : rows) {
      CHECK(row.path == path++->first);
      clusters_of[identity.at(row.path)].insert(row.cluster);
      people_in[row.cluster].insert(identity.at(row.path));
      CHECK(row.cluster <= next);
      if (row.cluster == next) ++next;
    }
    CHECK(rows.front().cluster == 0);
    CHECK(people_in.size() == 3);
    for (const auto& [who, ids] : clusters_of) CHECK_MESSAGE(ids.size() == 1, who);
    for (const auto& [id, who] : people_in) CHECK(who.size() == 1);
    // The boxes are the library's.
    const auto found = (faceapp::read | faceapp::encode)(rows.front().path);
    REQUIRE(found.has_value());
    CHECK(found->at(0).box == rows.front().box);
  }
  SUBCASE("the bad input gets the usual line naming it and the stage") {
    const auto errors = lines_of(r.err);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find(not_image) != std::string::npos);
    CHECK(errors[0].find("read") != std::string::npos);
    CHECK(errors[0].find("not an image") != std::string::npos);
  }
  SUBCASE("--output: DIR/<cluster>/<n>.jpg for every face, 150x150, files 0600 in folders 0700") {
    const auto chips = tmp.path / "chips";
    CHECK(mode_of(chips) == 0700U);
    std::map<std::size_t, std::size_t> per_cluster;
    for (const auto& row : rows) ++per_cluster[row.cluster];
    std::size_t files = 0;
    for (const auto& [id, count] : per_cluster) {
      const auto folder = chips / std::to_string(id);
      CHECK(mode_of(folder) == 0700U);
      for (std::size_t n = 0; n < count; ++n) {
        const auto chip = folder / (std::to_string(n) + ".jpg");
        CAPTURE(chip.string());
        REQUIRE(fs::exists(chip));
        CHECK(mode_of(chip) == 0600U);
        const auto img = faceapp::read(chip.string());
        REQUIRE(img.has_value());
        CHECK(img->width() == 150);
        CHECK(img->height() == 150);
        ++files;
      }
      CHECK_FALSE(fs::exists(folder / (std::to_string(count) + ".jpg")));
    }
    CHECK(files == rows.size());
  }
}

TEST_CASE("cluster's --tolerance: 0 keeps every face apart, the default joins two photos of one person") {
  const auto obama = path_of("obama_1.jpg");
  const auto again = path_of("obama_2.jpg");
  const auto apart = parse_cluster_csv(run({"cluster", "--tolerance", "0", obama, again}).out);
  REQUIRE(apart.size() == 2);
  CHECK(apart[0].cluster == 0);
  CHECK(apart[1].cluster == 1);
  const auto together = run({"cluster", obama, again});
  CHECK(together.status == 0);
  CHECK(together.err.empty());
  const auto rows = parse_cluster_csv(together.out);
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].cluster == 0);
  CHECK(run({"cluster", "--tolerance", "-1", obama}).status == 2);
}
