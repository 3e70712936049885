// detect(faceapp::cnn) on the real photos: face counts against the manifest (with the second look at doubtful
// candidates, the whole-image pass alone, and tiles), the hand-labelled PASCAL boxes, identity pairs at tolerance
// 0.6, and encodings through cnn boxes against encodings through HOG boxes.
// Run with -s to see the figures the README quotes (each case prints what it measured).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <faceapp/detail/detect_impl.hpp>
#include <faceapp/faceapp.hpp>
#include <test_data.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
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
    if (static_cast<int>(found->size()) == row.faces) {
      ++agreeing;
    } else {
      report << row.file << ": " << found->size() << " found, " << row.faces << " expected; ";
    }
  }
  return agreeing;
}

/// Every photo's count equals the manifest's but for the known misses, which find exactly the count given (as
/// tests/stages/test_detect.cpp holds HOG); every box lies inside the image.
template <class Pipe>
void check_counts(const Pipe& pipe, const std::map<std::string, std::pair<int, const char*>>& known_misses) {
  int with_count = 0;
  std::size_t missed = 0;
  for (const auto& row : faceapp::test::manifest()) {
    if (row.faces < 0) continue;
    ++with_count;
    CAPTURE(row.file);
    const auto found = pipe(data_file("faces/" + row.file));
    if (!found) FAIL(found.error().what());
    if (const auto miss = known_misses.find(row.file); miss == known_misses.end()) {
      CHECK(static_cast<int>(found->size()) == row.faces);
    } else {
      INFO("known miss: ", miss->second.second);
      CHECK(static_cast<int>(found->size()) == miss->second.first);
      ++missed;
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
  CHECK(with_count == 67);
  CHECK(missed == known_misses.size());  // every known miss is in the manifest
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

/// The cnn's whole-image pass alone, without the second look at doubtful candidates.
faceapp::result<faceapp::faces> cnn_one_pass(const std::filesystem::path& path) {
  const auto img = faceapp::read(path);
  if (!img) return faceapp::unexpected(img.error());
  return faceapp::detail::cnn_detect_faces(*img, 0, "detect", false);
}

}  // namespace

TEST_CASE("detect(cnn) finds as many faces as the manifest says, but for the dog") {
  // The whole-image 512x512 pass (face-api.js's own threshold, 0.5), and a second look at candidates scoring 0.25
  // to 0.5 on a crop where they are 1.6x larger. HOG at upsample 1 misses one photo (group_5); the cnn finds
  // group_5's three faces, group_3's and group_10's turned faces (by the second look, next case) and all 22
  // cropped face chips (through its context pass), but:
  check_counts(faceapp::read | faceapp::detect(faceapp::cnn),
               {{"noface_2.jpg", {1, "a dog's face: WIDER FACE's detector takes it for a face (0.79)"}}});
}

TEST_CASE("the cnn's whole-image pass alone misses two turned faces, which the second look finds") {
  // Under face-api.js's 0.5 in the whole pass; seen 1.6x larger by the second look, they score 0.78 and 0.98.
  check_counts(cnn_one_pass,
               {{"group_3.jpg", {2, "the third face, turned away and small in a 2000 px photo, scores 0.33"}},
                {"group_10.jpg", {2, "the turned face in the middle scores 0.45, under face-api.js's 0.5"}},
                {"noface_2.jpg", {1, "a dog's face: WIDER FACE's detector takes it for a face (0.79)"}}});
}

TEST_CASE("the second look runs on few photos: at most one extra pass on any, under 15% more passes in all") {
  // Its cost: most photos have no doubtful candidate apart from a face; a face chip's candidate is large, left
  // to the context pass. Which photos get a look, and what each finds, is printed; the false faces a lower
  // threshold alone would add (noface_3, group_9, deepface_p06_*) are looked at and not confirmed.
  auto& engine = faceapp::default_cnn_detector_model()->for_this_thread();
  int photos = 0;
  int looks = 0;
  std::ostringstream report;
  for (const auto& row : faceapp::test::manifest()) {
    const auto img = faceapp::read(data_file("faces/" + row.file));
    REQUIRE(img.has_value());
    auto found = engine.detect(img->pixels.data, img->pixels.cols, img->pixels.rows, img->pixels.step,
                               faceapp::detail::cnn_doubtful_score);
    const std::size_t before = found.size();
    const int n = faceapp::detail::cnn_second_look(img->pixels, engine, found);
    CAPTURE(row.file);
    CHECK(n <= 1);
    if (n > 0) report << row.file << " (" << before << " candidates -> " << found.size() << " faces); ";
    looks += n;
    ++photos;
  }
  MESSAGE("second look: ", looks, " extra passes over ", photos, " photos: ", report.str());
  CHECK(photos == 71);
  CHECK(looks * 100 <= photos * 15);
}

TEST_CASE("detect(cnn, 1) with tiles finds as many faces as HOG: all but the dogs") {
  // The tiles also see group_3's and group_10's faces 1.6x larger; the dog photo gets two dog faces. 66 of 67
  // photos right, as HOG at upsample 1, at 4 to 6 passes a photo.
  check_counts(faceapp::read | faceapp::detect(faceapp::cnn, 1),
               {{"noface_2.jpg", {2, "two dogs' faces: WIDER FACE's detector takes them for faces (0.92, 0.86)"}}});
}

TEST_CASE("figures: face counts and PASCAL recall of each detector") {
  const auto truth = pascal_boxes();
  int labelled = 0;
  for (const auto& [file, boxes] : truth) labelled += static_cast<int>(boxes.size());
  REQUIRE(labelled == 18);
  std::ostringstream ignored;
  const int hog0 = agreeing_counts(faceapp::read | faceapp::detect(0), ignored);
  const int hog1 = agreeing_counts(faceapp::read | faceapp::detect(1), ignored);
  const int one = agreeing_counts(cnn_one_pass, ignored);
  const int cnn0 = agreeing_counts(faceapp::read | faceapp::detect(faceapp::cnn), ignored);
  const int cnn1 = agreeing_counts(faceapp::read | faceapp::detect(faceapp::cnn, 1), ignored);
  const int r_hog0 = pascal_recall(faceapp::read | faceapp::detect(0));
  const int r_hog1 = pascal_recall(faceapp::read | faceapp::detect(1));
  const int r_one = pascal_recall(cnn_one_pass);
  const int r_cnn0 = pascal_recall(faceapp::read | faceapp::detect(faceapp::cnn));
  const int r_cnn1 = pascal_recall(faceapp::read | faceapp::detect(faceapp::cnn, 1));
  MESSAGE("counts agreeing with manifest.csv (of 67): hog/0 ", hog0, ", hog/1 ", hog1, ", cnn whole pass alone ", one,
          ", cnn (second look) ", cnn0, ", cnn tiles 1 ", cnn1, "; PASCAL faces found at IoU >= 0.5 (of ", labelled,
          "): hog/0 ", r_hog0, ", hog/1 ", r_hog1, ", cnn whole pass alone ", r_one, ", cnn (second look) ", r_cnn0,
          ", cnn tiles 1 ", r_cnn1);
  CHECK(one > hog0);
  CHECK(cnn0 >= hog1);  // the second look: as many photos right as HOG at upsample 1
  CHECK(cnn0 > one);
  CHECK(cnn1 >= hog1);
  CHECK(r_one > r_hog0);
  CHECK(r_cnn0 >= r_one);
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
  // The fit (detail::cnn_to_hog) maps the cnn box onto HOG's as it sits on most faces; refitting it (means or
  // medians of the pairs below) moves the median by 0.003 and makes the worst face worse. The faces whose two
  // encodings differ by more than a third of the tolerance are small faces of group photos, where a few pixels
  // of box move the landmarks: in group_5 and group_7 turned faces, which dlib's HOG boxes off their centre
  // towards the side they turn to (by 16-24% of the width), where the cnn boxes the head; no fit of a box alone
  // can tell which way a face turns. Each of these photos is named; a face elsewhere that far fails the test.
  const std::map<std::string, const char*> known_far = {
      {"group_3.jpg", "the child's face turned away, found by the second look (HOG's box 25% of the width off)"},
      {"group_4.jpg", "a face of about 100 px"},
      {"group_5.jpg", "turned faces of 70-90 px"},
      {"group_7.jpg", "turned faces of 25-45 px"},
      {"group_8.jpg", "faces of 30-50 px"},
  };
  struct pair_of {
    std::string file;
    double distance, overlap, sideways;
  };
  std::vector<pair_of> pairs;
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
      const double sideways = ((h.box.left + h.box.right) - (best->box.left + best->box.right)) / 2.0 /
                              static_cast<double>(best->box.width());
      pairs.push_back({row.file, faceapp::distance(h.encoding, best->encoding), iou(best->box, h.box), sideways});
    }
  }
  REQUIRE(pairs.size() >= 60);
  std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.distance < b.distance; });
  std::vector<double> overlaps;
  for (const auto& p : pairs) overlaps.push_back(p.overlap);
  std::sort(overlaps.begin(), overlaps.end());
  const double median = pairs[pairs.size() / 2].distance;
  std::ostringstream far;
  int far_count = 0;
  for (const auto& p : pairs) {
    if (p.distance <= faceapp::default_tolerance / 3) continue;
    far << p.file << " " << p.distance << " (HOG box " << p.sideways << " of the width sideways); ";
    CAPTURE(p.file);
    CAPTURE(p.distance);
    CHECK(known_far.count(p.file) == 1);
    ++far_count;
  }
  MESSAGE(pairs.size(), " faces found by both: encoding distance median ", median, ", max ", pairs.back().distance,
          "; box IoU median ", overlaps[overlaps.size() / 2], ", min ", overlaps.front(), "; ", far_count,
          " beyond a third of the tolerance: ", far.str());
  CHECK(median < 0.05);
  CHECK(overlaps[overlaps.size() / 2] > 0.8);
  CHECK(pairs.back().distance < faceapp::default_tolerance * 1.25);  // never far beyond the tolerance
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
