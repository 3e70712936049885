// detect(faceapp::cnn) on the real photos: face counts against the manifest, the hand-labelled PASCAL boxes,
// identity pairs at tolerance 0.6, and encodings through cnn boxes against encodings through HOG boxes.
// Run with -s to see the figures the README quotes (each case prints what it measured).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <faceapp/faceapp.hpp>
#include <test_data.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

using faceapp::test::data_file;

double iou(const faceapp::box& a, const faceapp::box& b) {
  const double iw = std::min(a.right, b.right) - std::max(a.left, b.left) + 1;
  const double ih = std::min(a.bottom, b.bottom) - std::max(a.top, b.top) + 1;
  if (iw <= 0 || ih <= 0) return 0;
  return iw * ih / (static_cast<double>(a.area()) + static_cast<double>(b.area()) - iw * ih);
}

std::map<std::string, std::vector<faceapp::box>> pascal_boxes() {
  std::ifstream in(data_file("faces/boxes.csv"));
  std::string line;
  std::getline(in, line);
  std::map<std::string, std::vector<faceapp::box>> truth;
  while (std::getline(in, line)) {
    const auto c = faceapp::test::split_csv_line(line);
    truth[c[0]].push_back({std::stoi(c[3]), std::stoi(c[4]), std::stoi(c[5]), std::stoi(c[2])});
  }
  return truth;
}

/// Images whose face count the detector gets right, of those the manifest is sure about.
template <class Pipe>
int agreeing_counts(const Pipe& pipe, std::ostringstream& report) {
  int agreeing = 0;
  for (const auto& row : faceapp::test::manifest()) {
    if (row.faces < 0) continue;
    const auto found = pipe(data_file("faces/" + row.file));
    if (!found) FAIL(found.error().what());
    CAPTURE(row.file);
    if (static_cast<int>(found->size()) == row.faces) {
      ++agreeing;
    } else {
      report << row.file << ": " << found->size() << " found, " << row.faces << " expected; ";
    }
    for (const auto& f : *found) {
      CHECK(f.box.top >= 0);
      CHECK(f.box.left >= 0);
      CHECK(f.box.right <= found->image.width());
      CHECK(f.box.bottom <= found->image.height());
      CHECK(f.box.left < f.box.right);
      CHECK(f.box.top < f.box.bottom);
    }
  }
  return agreeing;
}

/// Hand-labelled PASCAL faces matched by a detection with IoU >= 0.5.
template <class Pipe>
int pascal_recall(const Pipe& pipe) {
  int hits = 0;
  for (const auto& [file, boxes] : pascal_boxes()) {
    const auto found = pipe(data_file("faces/" + file));
    REQUIRE(found.has_value());
    for (const auto& t : boxes) {
      hits += std::any_of(found->begin(), found->end(), [&](const faceapp::face& f) { return iou(f.box, t) >= 0.5; });
    }
  }
  return hits;
}

}  // namespace

TEST_CASE("detect(cnn) finds as many faces as the manifest says on 64 of the 67 photos") {
  std::ostringstream report;
  const int cnn = agreeing_counts(faceapp::read | faceapp::detect(faceapp::cnn), report);
  MESSAGE("cnn: face counts agree on ", cnn, " of 67 images; ", report.str());
  // HOG at upsample 1 agrees on 66 (tests/stages/test_detect.cpp). The cnn misses a turned face in group_3 and a
  // face in group_10, and finds a dog's face in noface_2; it finds all 22 cropped face chips, but through its
  // context pass.
  CHECK(cnn >= 64);
}

TEST_CASE("figures: face counts and PASCAL recall of each detector") {
  const auto truth = pascal_boxes();
  int labelled = 0;
  for (const auto& [file, boxes] : truth) labelled += static_cast<int>(boxes.size());
  REQUIRE(labelled == 18);
  std::ostringstream ignored;
  const int hog0 = agreeing_counts(faceapp::read | faceapp::detect(0), ignored);
  const int hog1 = agreeing_counts(faceapp::read | faceapp::detect(1), ignored);
  const int cnn0 = agreeing_counts(faceapp::read | faceapp::detect(faceapp::cnn), ignored);
  const int cnn1 = agreeing_counts(faceapp::read | faceapp::detect(faceapp::cnn, 1), ignored);
  const int r_hog0 = pascal_recall(faceapp::read | faceapp::detect(0));
  const int r_hog1 = pascal_recall(faceapp::read | faceapp::detect(1));
  const int r_cnn0 = pascal_recall(faceapp::read | faceapp::detect(faceapp::cnn));
  const int r_cnn1 = pascal_recall(faceapp::read | faceapp::detect(faceapp::cnn, 1));
  MESSAGE("counts agreeing with manifest.csv (of 67): hog/0 ", hog0, ", hog/1 ", hog1, ", cnn ", cnn0, ", cnn tiles 1 ",
          cnn1, "; PASCAL faces found at IoU >= 0.5 (of ", labelled, "): hog/0 ", r_hog0, ", hog/1 ", r_hog1, ", cnn ",
          r_cnn0, ", cnn tiles 1 ", r_cnn1);
  CHECK(cnn0 > hog0);
  CHECK(r_cnn0 > r_hog0);
  CHECK(r_cnn1 >= r_hog1);  // with tiles, every hand-labelled PASCAL face, as HOG at upsample 1
  CHECK(r_cnn1 >= r_cnn0);
}

TEST_CASE("encodings through cnn boxes separate identities at 0.6 as HOG's do (at most 0.5% of pairs wrong)") {
  std::vector<faceapp::test::manifest_row> rows;
  std::vector<faceapp::source> sources;
  for (const auto& row : faceapp::test::manifest()) {
    if (row.identity.empty()) continue;
    rows.push_back(row);
    sources.emplace_back(data_file("faces/" + row.file));
  }
  const auto results = faceapp::run_batch(faceapp::read | faceapp::detect(faceapp::cnn) | faceapp::encode, sources,
                                          {.threads = 2});
  REQUIRE(results.size() == rows.size());
  struct item {
    std::string file, identity;
    faceapp::encoding enc;
  };
  std::vector<item> items;
  int wrong = 0;
  std::ostringstream report;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!results[i]) FAIL(results[i].error().what());
    if (const auto largest = results[i]->largest()) {
      items.push_back({rows[i].file, rows[i].identity, results[i]->at(*largest).encoding});
    } else {  // no face: each of its same-identity pairs counts wrong
      report << rows[i].file << ": no face; ";
      for (const auto& r : rows) wrong += r.file != rows[i].file && r.identity == rows[i].identity;
    }
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    for (std::size_t j = i + 1; j < items.size(); ++j) {
      const float d = faceapp::distance(items[i].enc, items[j].enc);
      const bool same = items[i].identity == items[j].identity;
      if (same != (d <= faceapp::default_tolerance)) {
        ++wrong;
        report << items[i].file << " ~ " << items[j].file << " = " << d << "; ";
      }
    }
  }
  const int all_pairs = static_cast<int>(rows.size() * (rows.size() - 1) / 2);
  MESSAGE("cnn: ", wrong, " of ", all_pairs, " pairs wrong: ", report.str());
  CHECK(all_pairs == 52 * 51 / 2);
  CHECK(wrong <= all_pairs * 5 / 1000);
}

TEST_CASE("a face found by both detectors gets nearly the same encoding through either box") {
  std::vector<double> distances;
  std::vector<double> overlaps;
  for (const auto& row : faceapp::test::manifest()) {
    const auto path = data_file("faces/" + row.file);
    const auto by_hog = (faceapp::read | faceapp::detect(faceapp::hog) | faceapp::encode)(path);
    const auto by_cnn = (faceapp::read | faceapp::detect(faceapp::cnn) | faceapp::encode)(path);
    REQUIRE(by_hog.has_value());
    REQUIRE(by_cnn.has_value());
    for (const auto& h : *by_hog) {
      const auto best = std::max_element(by_cnn->begin(), by_cnn->end(), [&](const auto& a, const auto& b) {
        return iou(a.box, h.box) < iou(b.box, h.box);
      });
      if (best == by_cnn->end() || iou(best->box, h.box) < 0.3) continue;
      overlaps.push_back(iou(best->box, h.box));
      distances.push_back(faceapp::distance(h.encoding, best->encoding));
    }
  }
  REQUIRE(distances.size() >= 60);
  std::sort(distances.begin(), distances.end());
  std::sort(overlaps.begin(), overlaps.end());
  const double median = distances[distances.size() / 2];
  MESSAGE(distances.size(), " faces found by both: encoding distance median ", median, ", max ", distances.back(),
          "; box IoU median ", overlaps[overlaps.size() / 2], ", min ", overlaps.front());
  CHECK(median < 0.05);
  CHECK(overlaps[overlaps.size() / 2] > 0.8);
}

TEST_CASE("detect(cnn) reports boxes in the coordinates of the image as read, and refuses bad tile counts") {
  const auto path = data_file("faces/alex_lacamoire_3.jpg");
  const auto full = (faceapp::read | faceapp::detect(faceapp::cnn))(path);
  const auto half = (faceapp::read | faceapp::resize(0.5) | faceapp::detect(faceapp::cnn))(path);
  REQUIRE(full.has_value());
  REQUIRE(half.has_value());
  REQUIRE(full->size() == 1);
  REQUIRE(half->size() == 1);
  CHECK(iou(full->at(0).box, half->at(0).box) > 0.8);
  CHECK(half->at(0).box_in_image.width() < full->at(0).box.width());
  const auto bad = (faceapp::read | faceapp::detect(faceapp::cnn, 5))(path);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().stage == "detect");
}
