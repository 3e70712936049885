// The composition laws on the real stages and models: `|` is associative wherever both groupings are
// well-formed (and they are well-formed together), a pipeline inside a pipeline takes what its first stage
// takes, then(f) is a stage like the others, and views::apply is lazy and ordered with range-v3 around it.
#include <doctest/doctest.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <range/v3/range/conversion.hpp>
#include <range/v3/view/filter.hpp>
#include <range/v3/view/take.hpp>
#include <range/v3/view/transform.hpp>

#include "faceapp/core/views.hpp"
#include "faceapp/faceapp.hpp"
#include "laws_support.hpp"
#include "test_data.hpp"

namespace fs = std::filesystem;
using faceapp::test::data_file;

using namespace faceapp::test::laws;  // NOLINT(google-build-using-namespace): the laws' helpers

TEST_CASE("the design card's expression, letter for letter, records one row per face") {
  const faceapp::test::scratch_dir dir("card");
  const auto results = dir.dir / "r.csv";
  {
    // Using-declarations, not `using namespace faceapp;`: POSIX's ::read would make a bare `read` ambiguous.
    using faceapp::distance_to, faceapp::encode, faceapp::read, faceapp::record, faceapp::resize;
    faceapp::csv_sink csv{results};
    const auto ref = (read | encode)(data_file("faces/obama_1.jpg")).value().at(0);
    auto compare = read | resize(0.5) | encode | distance_to(ref) | record(csv);
    const auto group = compare(data_file("faces/group_3.jpg"));  // Obama, Biden and a child: 3 in the manifest
    REQUIRE_MESSAGE(group.has_value(), group.error().what());
    CHECK(group->size() == 3);
    const auto same = compare(data_file("faces/obama_2.jpg"));
    REQUIRE(same.has_value());
    REQUIRE(same->size() == 1);
    CHECK(*same->at(0).match);
  }
  const auto lines = lines_of(results);
  REQUIRE(lines.size() == 1 + 3 + 1);  // the header, a row per face
  CHECK(lines[0] == faceapp::csv_sink::header);
  int matches = 0;
  for (std::size_t i = 1; i <= 3; ++i) {
    CHECK(lines[i].find("group_3.jpg," + std::to_string(i - 1) + ",") != std::string::npos);
    matches += lines[i].ends_with(",true") ? 1 : 0;
  }
  CHECK(matches == 1);
  CHECK(lines[4].ends_with(",true"));
}

TEST_CASE("record(csv_sink{...}) owns the sink it is given: it stays open as long as the stage") {
  const faceapp::test::scratch_dir dir("owned_sink");
  const auto results = dir.dir / "owned.csv";
  {
    const auto stage = faceapp::read | faceapp::detect | faceapp::record(faceapp::csv_sink{results});
    REQUIRE((stage)(data_file("faces/group_10.jpg")).has_value());
    REQUIRE((stage)(data_file("faces/noface_1.png")).has_value());
  }
  const auto lines = lines_of(results);
  REQUIRE(lines.size() == 1 + 3 + 1);  // three faces, then one row with empty face cells for the photo without
  CHECK(lines[4].find("noface_1.png,,") != std::string::npos);
}

TEST_CASE("| is associative on read, detect, encode and record(csv): both groupings, the same faces and rows") {
  const faceapp::test::scratch_dir dir("laws");
  faceapp::csv_sink left_csv{dir.dir / "left.csv"};
  faceapp::csv_sink right_csv{dir.dir / "right.csv"};
  const auto read = faceapp::read;
  const auto detect = faceapp::detect;
  const auto encode = faceapp::encode;
  const auto photo = data_file("faces/group_10.jpg").string();

  SUBCASE("a | (b | c) against (a | b) | c for each three in a row") {
    const auto l1 = (read | detect) | encode;
    const auto r1 = read | (detect | encode);
    const auto l2 = (detect | encode) | faceapp::record(left_csv);
    const auto r2 = detect | (encode | faceapp::record(right_csv));
    static_assert(std::is_same_v<decltype(l1(photo)), decltype(r1(photo))>);
    const auto a = l1(photo);
    const auto b = r1(photo);
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK(a->size() == 3);
    check_same(*a, *b);
    const auto img = faceapp::read(photo).value();
    const auto c = l2(img);
    const auto d = r2(img);
    REQUIRE(c.has_value());
    REQUIRE(d.has_value());
    check_same(*c, *d);
  }
  SUBCASE("all four, grouped every way, give the same faces and write the same rows") {
    const auto rec_l = faceapp::record(left_csv);
    const auto rec_r = faceapp::record(right_csv);
    const auto flat = read | detect | encode | rec_l;                  // ((a | b) | c) | d
    const auto nested = read | (detect | (encode | rec_r));            // a | (b | (c | d))
    const auto middle = (read | (detect | encode)) | rec_r;            // (a | (b | c)) | d
    const auto pairs = (read | detect) | (encode | rec_r);             // (a | b) | (c | d)
    const auto f = flat(photo);
    REQUIRE(f.has_value());
    const auto n = nested(photo);
    REQUIRE(n.has_value());
    check_same(*f, *n);
    const auto m = middle(photo);
    REQUIRE(m.has_value());
    check_same(*f, *m);
    const auto p = pairs(photo);
    REQUIRE(p.has_value());
    check_same(*f, *p);
    const auto left = lines_of(dir.dir / "left.csv");
    const auto right = lines_of(dir.dir / "right.csv");
    REQUIRE(left.size() == 1 + 3);
    REQUIRE(right.size() == 1 + 3 * 3);
    for (std::size_t run = 0; run < 3; ++run) {
      for (std::size_t i = 1; i < left.size(); ++i) CHECK(without_time(right[run * 3 + i]) == without_time(left[i]));
    }
  }
  SUBCASE("an error passes through either grouping the same way") {
    const auto missing = (dir.dir / "no_such_photo.jpg").string();
    const auto a = ((read | detect) | encode)(missing);
    const auto b = (read | (detect | encode))(missing);
    REQUIRE_FALSE(a.has_value());
    REQUIRE_FALSE(b.has_value());
    CHECK(a.error() == b.error());
    CHECK(a.error().stage == "read");
  }
}

TEST_CASE("quality and assign compose where their types fit, and nowhere else") {
  using faceapp::assign_stage;
  using faceapp::quality_fn;
  static_assert(pipes<faceapp::detect_fn, quality_fn> && pipes<faceapp::landmarks_fn, quality_fn>);
  static_assert(pipes<quality_fn, faceapp::encode_fn> && pipes<quality_fn, faceapp::landmarks_fn>);
  static_assert(!pipes<faceapp::read_fn, quality_fn> && !pipes<faceapp::encode_fn, quality_fn>);
  static_assert(pipes<faceapp::encode_fn, assign_stage> && pipes<assign_stage, faceapp::compare_fn>);
  static_assert(!pipes<faceapp::detect_fn, assign_stage> && !pipes<assign_stage, faceapp::encode_fn>);
  static_assert(left_grouping<faceapp::detect_fn, quality_fn, faceapp::encode_fn> &&
                right_grouping<faceapp::detect_fn, quality_fn, faceapp::encode_fn>);
  faceapp::face_clusters people;
  const auto pipe = faceapp::read | faceapp::detect | faceapp::quality | faceapp::encode | faceapp::assign(people);
  static_assert(std::is_same_v<decltype(pipe)::output_type, faceapp::encoded_faces>);
  const auto r = pipe(data_file("faces/obama_1.jpg").string());
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 1);
  CHECK(r->at(0).cluster == 0);
}

TEST_CASE("then(f): a plain function is a stage; its exceptions become errors that name it") {
  const auto photo = data_file("faces/group_10.jpg").string();
  const auto pipe = faceapp::read | faceapp::encode | faceapp::then(keep_largest);
  static_assert(faceapp::stage<decltype(pipe)>);
  static_assert(std::is_same_v<decltype(pipe)::output_type, faceapp::encoded_faces>);
  const auto r = pipe(photo);
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 1);
  const auto all = (faceapp::read | faceapp::encode)(photo);
  REQUIRE(all.has_value());
  CHECK(r->at(0).encoding == all->at(*all->largest()).encoding);

  SUBCASE("a function that returns a result: its error is the pipeline's") {
    const auto at_most_two = faceapp::then("at most two faces", [](const faceapp::faces& f) -> faceapp::result<int> {
      if (f.size() > 2) return faceapp::fail("at most two faces", f.source(), "too many faces", faceapp::errc::too_large);
      return static_cast<int>(f.size());
    });
    const auto counted = (faceapp::read | faceapp::detect | at_most_two)(photo);
    REQUIRE_FALSE(counted.has_value());
    CHECK(counted.error().code == faceapp::errc::too_large);
    CHECK(*(faceapp::read | faceapp::detect | at_most_two)(data_file("faces/obama_1.jpg")) == 1);
  }
  SUBCASE("an exception becomes a stage_error with the name given, or then") {
    const auto throws = [](const faceapp::faces&) -> int { throw std::runtime_error("no room"); };
    const auto named = (faceapp::read | faceapp::detect | faceapp::then("count", throws))(photo);
    REQUIRE_FALSE(named.has_value());
    CHECK(named.error().what() == "count: " + photo + ": no room");
    const auto plain = (faceapp::read | faceapp::detect | faceapp::then(throws))(photo);
    REQUIRE_FALSE(plain.has_value());
    CHECK(plain.error().stage == "then");
  }
  SUBCASE("then composes on either side of a group, like any stage") {
    const auto a = ((faceapp::read | faceapp::encode) | faceapp::then(keep_largest))(photo);
    const auto b = (faceapp::read | (faceapp::encode | faceapp::then(keep_largest)))(photo);
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    check_same(*a, *b);
  }
}

TEST_CASE("detect(models, cnn) uses the cnn of a loaded model_set, as encode(models) its encoder") {
  const auto models = faceapp::load_models();
  REQUIRE_MESSAGE(models.has_value(), models.error().what());
  REQUIRE_MESSAGE(models->cnn.has_value(), models->cnn.error().what());
  const auto photo = data_file("faces/group_10.jpg").string();
  const auto with_set = (faceapp::read | faceapp::detect(*models, faceapp::cnn))(photo);
  const auto with_default = (faceapp::read | faceapp::detect(faceapp::cnn))(photo);
  REQUIRE(with_set.has_value());
  REQUIRE(with_default.has_value());
  check_same(*with_set, *with_default);
  REQUIRE(with_set->size() == 3);
  for (const auto& f : *with_set) {
    CHECK(f.score.detector == faceapp::cnn);
    CHECK(f.score.value > 0.0);
    CHECK(f.score.value <= 1.0);  // a probability, unlike HOG's margin
  }
  SUBCASE("a set without the cnn: detect(set, cnn) fails naming why, detect(set) (HOG) works") {
    faceapp::model_set without{models->landmarks, models->encoder};
    const auto r = (faceapp::read | faceapp::detect(without, faceapp::cnn))(photo);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().stage == "detect");
    CHECK(r.error().code == faceapp::errc::not_found);
    CHECK(r.error().message.find("no cnn face detector") != std::string::npos);
    const auto hog = (faceapp::read | faceapp::detect(without))(photo);
    REQUIRE(hog.has_value());
    CHECK(hog->size() == 3);
    CHECK(hog->at(0).score.detector == faceapp::hog);
  }
}

TEST_CASE("views::apply is lazy and ordered, with range-v3 adaptors before and after it") {
  std::vector<std::string> paths;
  for (const char* f : {"obama_1.jpg", "biden_1.jpg", "noface_1.png", "group_10.jpg", "obama_2.jpg"}) {
    paths.push_back(data_file(std::string("faces/") + f).string());
  }
  int calls = 0;
  const auto counting = faceapp::read | faceapp::detect | faceapp::then("count", [&calls](faceapp::faces f) {
                          ++calls;
                          return f;
                        });
  auto lazy = paths | ranges::views::take(4) | faceapp::views::apply(counting) |
              ranges::views::filter([](const auto& r) { return r.has_value() && !r->empty(); }) |
              ranges::views::transform([](const auto& r) { return r->size(); });
  CHECK(calls == 0);  // nothing runs until the range is read
  const auto counts = lazy | ranges::to<std::vector>();
  CHECK(counts == std::vector<std::size_t>{1, 1, 3});  // in input order; noface_1 filtered out; obama_2 not taken
  CHECK(calls >= 4);  // filter reads each element it passes twice (once to test it, once to transform it)
  static_assert(applies<std::vector<std::string>, decltype(faceapp::views::apply(counting))>);
  static_assert(!applies<std::vector<int>, decltype(faceapp::views::apply(counting))>,
                "a range whose elements the pipeline does not take must not compile");
}
