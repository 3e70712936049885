#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "faceapp/faceapp.hpp"
#include "test_data.hpp"

namespace fs = std::filesystem;
using faceapp::test::data_file;

TEST_CASE("the design card's pipeline compiles and runs on real images") {
  const auto dir = fs::temp_directory_path() / ("faceapp_design_card_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto csv_path = dir / "results.csv";
  {
    faceapp::csv_sink csv{csv_path};
    auto ref = (faceapp::read | faceapp::encode)(data_file("faces/obama_1.jpg"));
    auto pipe = faceapp::read | faceapp::resize(0.5) | faceapp::encode |
                faceapp::distance_to(ref.value().at(0)) | faceapp::record(csv);
    auto same = pipe(data_file("faces/obama_2.jpg"));
    auto other = pipe(data_file("faces/biden_1.jpg"));
    auto group = pipe(data_file("faces/group_3.jpg"));  // Obama and Biden together, and a child
    REQUIRE(same.has_value());
    REQUIRE(other.has_value());
    REQUIRE(group.has_value());
    REQUIRE(same->size() == 1);
    CHECK(*same->at(0).distance <= 0.6F);
    CHECK(*same->at(0).match);
    CHECK(*other->at(0).distance > 0.6F);
    CHECK_FALSE(*other->at(0).match);
    REQUIRE(group->size() == 3);
    int matches = 0;
    for (const auto& f : *group) matches += *f.match ? 1 : 0;
    CHECK(matches == 1);
  }
  std::ifstream in(csv_path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  REQUIRE(lines.size() == 1 + 1 + 1 + 3);  // header, one row per face
  CHECK(lines[0] == faceapp::csv_sink::header);
  CHECK(lines[1].find("obama_2.jpg,0,") != std::string::npos);
  CHECK(lines[1].substr(lines[1].size() - 5) == ",true");
  fs::remove_all(dir);
}

TEST_CASE("largest-face encodings separate identities at tolerance 0.6: every one of the 1326 pairs right") {
  struct item {
    std::string file, identity;
    faceapp::encoding enc;
  };
  std::vector<item> items;
  std::vector<std::string> no_face;
  std::vector<faceapp::source> sources;
  std::vector<faceapp::test::manifest_row> rows;
  for (const auto& row : faceapp::test::manifest()) {
    if (row.identity.empty()) continue;
    rows.push_back(row);
    sources.emplace_back(data_file("faces/" + row.file));
  }
  const auto results = faceapp::run_batch(faceapp::read | faceapp::encode, sources, {.threads = 2});
  REQUIRE(results.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    REQUIRE_MESSAGE(results[i].has_value(), results[i].error().what());
    if (const auto largest = results[i]->largest()) {
      items.push_back({rows[i].file, rows[i].identity, results[i]->at(*largest).encoding});
    } else {
      no_face.push_back(rows[i].file);
    }
  }
  int pairs = 0;
  int wrong = 0;
  std::ostringstream report;
  // An image whose face was not found cannot match its own identity: each of its same-identity pairs counts wrong.
  for (const auto& file : no_face) {
    report << file << ": no face; ";
    const auto identity = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.file == file; })->identity;
    for (const auto& r : rows) {
      if (r.file != file && r.identity == identity) ++wrong;
    }
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    for (std::size_t j = i + 1; j < items.size(); ++j) {
      ++pairs;
      const float d = faceapp::distance(items[i].enc, items[j].enc);
      const bool same = items[i].identity == items[j].identity;
      if (same != (d <= faceapp::default_tolerance)) {
        ++wrong;
        report << items[i].file << " ~ " << items[j].file << " = " << d << (same ? " (same)" : " (different)")
               << "; ";
      }
    }
  }
  const int all_pairs = static_cast<int>(rows.size() * (rows.size() - 1) / 2);
  MESSAGE(wrong, " of ", all_pairs, " pairs wrong: ", report.str());
  CHECK(all_pairs == 52 * 51 / 2);
  CHECK(pairs == all_pairs);
  // No pair is known to be wrong with these photos: a pair that goes wrong (or a face no longer found) fails here,
  // and must then be named in this test with its reason rather than hidden in an allowance.
  CHECK(no_face.empty());
  CHECK(wrong == 0);
}

TEST_CASE("encode after detect, after landmarks, and from the image give the same encodings") {
  const auto path = data_file("faces/group_6.jpg");
  const auto direct = (faceapp::read | faceapp::encode)(path);
  const auto staged = (faceapp::read | faceapp::detect | faceapp::landmarks | faceapp::encode)(path);
  const auto detected = (faceapp::read | faceapp::detect | faceapp::encode)(path);
  REQUIRE(direct.has_value());
  REQUIRE(staged.has_value());
  REQUIRE(detected.has_value());
  REQUIRE(direct->size() == 5);
  REQUIRE(staged->size() == 5);
  REQUIRE(detected->size() == 5);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(faceapp::distance(direct->at(i).encoding, staged->at(i).encoding) < 1e-5F);
    CHECK(faceapp::distance(direct->at(i).encoding, detected->at(i).encoding) < 1e-5F);
    CHECK(direct->at(i).box == staged->at(i).box);
  }
  SUBCASE("a batch of five gives what five single faces give") {
    for (std::size_t i = 0; i < 5; ++i) {
      faceapp::faces one;
      one.image = staged->image;
      one.items.push_back(staged->at(i));
      const auto single = faceapp::encode(one);
      REQUIRE(single.has_value());
      CHECK(faceapp::distance(single->at(0).encoding, direct->at(i).encoding) < 1e-5F);
    }
  }
}

TEST_CASE("jitters average several jittered chips: close to, not equal to, the plain encoding") {
  const auto path = data_file("faces/obama_2.jpg");
  const auto plain = (faceapp::read | faceapp::encode)(path);
  const auto jittered = (faceapp::read | faceapp::encode(5))(path);
  const auto again = (faceapp::read | faceapp::encode(5))(path);
  REQUIRE(plain.has_value());
  REQUIRE(jittered.has_value());
  REQUIRE(again.has_value());
  const float d = faceapp::distance(plain->at(0).encoding, jittered->at(0).encoding);
  CHECK(d > 0.0F);
  CHECK(d < 0.2F);
  CHECK(jittered->at(0).encoding == again->at(0).encoding);  // reproducible
  CHECK_FALSE((faceapp::read | faceapp::encode(0))(path).has_value());
}

TEST_CASE("explicit model handles work like the defaults") {
  const auto models = faceapp::load_models();
  REQUIRE_MESSAGE(models.has_value(), models.error().what());
  const auto path = data_file("faces/kit_harington_1.jpeg");
  const auto a = (faceapp::read | faceapp::encode(*models))(path);
  const auto b = (faceapp::read | faceapp::detect | faceapp::landmarks(*models) | faceapp::encode)(path);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a->at(0).encoding == b->at(0).encoding);

  const auto missing = faceapp::load_models(fs::temp_directory_path() / "faceapp_no_models_here");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message.find("not found; looked in:") != std::string::npos);
  CHECK(missing.error().message.find("faceapp_no_models_here") != std::string::npos);
}

TEST_CASE("distance_to a gallery names the nearest known person") {
  faceapp::gallery known;
  for (const char* id : {"obama", "biden", "kit_harington", "rose_leslie"}) {
    const auto r = (faceapp::read | faceapp::encode)(data_file(std::string("faces/") + id + "_1." +
                                                               (std::string(id) == "kit_harington" ? "jpeg" : "jpg")));
    REQUIRE(r.has_value());
    known.add(id, r->at(0).encoding);
  }
  const auto pipe = faceapp::read | faceapp::encode | faceapp::distance_to(std::cref(known)) | faceapp::compare(0.6);
  const auto group = pipe(data_file("faces/group_2.jpg"));  // Kit Harington with Rose Leslie
  REQUIRE(group.has_value());
  REQUIRE(group->size() == 2);
  std::vector<std::string> names;
  for (const auto& f : *group) {
    CHECK(*f.match);
    names.push_back(f.name);
  }
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"kit_harington", "rose_leslie"});

  const auto strict = (pipe | faceapp::compare(0.1))(data_file("faces/group_2.jpg"));
  REQUIRE(strict.has_value());
  for (const auto& f : *strict) CHECK_FALSE(*f.match);

  const faceapp::gallery empty;
  const auto none = (faceapp::read | faceapp::encode | faceapp::distance_to(std::cref(empty)))(data_file("faces/obama_2.jpg"));
  REQUIRE(none.has_value());
  CHECK_FALSE(none->at(0).distance.has_value());
  CHECK_FALSE(*none->at(0).match);
}
