// The service on an SQLite store in a scratch folder, with the real models, on the photos of tests/data/faces:
// what it answers is checked against the manifest's ground truth and against the library's own pipeline.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <faceapp/faceapp.hpp>

#include "service/service.hpp"
#include "test_data.hpp"

using faceapp_web::errc;
using faceapp_web::face_service;
using faceapp_web::service_error;

namespace {

std::string bytes_of(const std::string& file) { return faceapp::test::data_bytes("faces/" + file); }

faceapp_web::upload upload_of(const std::string& file) {
  return faceapp_web::make_upload(bytes_of(file), file, "image");
}

faceapp_web::service_options options_in(const faceapp::test::scratch_dir& dir) {
  faceapp_web::service_options o;
  o.data_dir = dir.dir / "data";
  o.workers = 2;
  return o;
}

/// The code a call fails with (or nothing).
template <class F>
std::optional<errc> error_of(F f) {
  try {
    f();
  } catch (const service_error& e) {
    return e.code;
  }
  return std::nullopt;
}

/// What the library finds in a photo with the service's settings (HOG, photos fitted to 1600 px).
faceapp::encoded_faces library_faces(const std::string& file) {
  const auto pipeline = faceapp::read | faceapp::fit(1600) | faceapp::detect(faceapp::hog) | faceapp::encode;
  auto r = pipeline(faceapp::source::from_bytes(
      [&] {
        const auto b = bytes_of(file);
        return std::vector<std::uint8_t>(b.begin(), b.end());
      }(),
      file));
  REQUIRE(r);
  return *r;
}

/// The manifest's identities with at least two photos of one face each: (identity, first, second).
std::vector<std::array<std::string, 3>> identity_pairs() {
  std::map<std::string, std::vector<std::string>> photos;
  for (const auto& row : faceapp::test::manifest()) {
    if (!row.identity.empty() && row.faces == 1) photos[row.identity].push_back(row.file);
  }
  std::vector<std::array<std::string, 3>> out;
  for (const auto& [who, files] : photos) {
    if (files.size() >= 2) out.push_back({who, files[0], files[1]});
  }
  return out;
}

}  // namespace

TEST_CASE("the models are found") { CHECK_NOTHROW(face_service::check_models()); }

TEST_CASE("the gallery scans an int8 copy, split among the workers from gallery_parallel_min_rows faces on") {
  const faceapp::test::scratch_dir dir("web_unit_service");
  auto o = options_in(dir);
  std::filesystem::create_directories(o.data_dir);
  std::mt19937 rng(4);
  std::normal_distribution<float> value(0.0F, 0.09F);
  std::vector<faceapp::encoding> rows(9000);  // two chunks of 8192: a split needs two
  for (auto& e : rows) {
    for (auto& v : e) v = value(rng);
  }
  {
    faceapp_web::sqlite_store store(o.data_dir);
    std::size_t next = 0;
    store.add_all_or_nothing([&](faceapp_web::new_face& f) {
      if (next == rows.size()) return false;
      f = faceapp_web::new_face{"person " + std::to_string(next), std::nullopt, rows[next], "test", std::nullopt, "",
                                "2026-01-01T00:00:00.000Z"};
      ++next;
      return true;
    });
  }
  // The float32 brute force the answers must equal, row for row (ids are 1, 2, ... in import order).
  faceapp::gallery plain;
  for (std::size_t i = 0; i < rows.size(); ++i) plain.add(i + 1, "", rows[i]);
  std::vector<faceapp::encoding> queries;
  for (int i = 0; i < 6; ++i) {
    auto q = rows[static_cast<std::size_t>(i) * 1499];
    for (auto& v : q) v += 0.3F * value(rng);
    queries.push_back(q);
  }
  for (const std::size_t min_rows : {8999, 9000, 9001}) {
    CAPTURE(min_rows);
    o.gallery_parallel_min_rows = min_rows;
    face_service s(o);
    const auto view = s.store().snapshot();
    CHECK(view->codes() == faceapp::compact_codes::int8);
    CHECK(view->scan_threads_used() == (min_rows <= 9000 ? 2U : 1U));  // 9000 faces: at the limit, split
    const auto hits = s.search_encodings(queries, 5);
    REQUIRE(hits.size() == queries.size());
    for (std::size_t q = 0; q < queries.size(); ++q) {
      const auto expected = plain.snapshot()->top_k(queries[q], 5);
      REQUIRE(hits[q].size() == expected.size());
      for (std::size_t i = 0; i < expected.size(); ++i) {
        CHECK(hits[q][i].id == expected[i].key);
        CHECK(hits[q][i].distance == expected[i].distance);
        CHECK(hits[q][i].name == "person " + std::to_string(expected[i].key - 1));
      }
    }
  }
  o.gallery_codes = faceapp::compact_codes::none;
  face_service plain_service(o);
  CHECK(plain_service.store().snapshot()->codes() == faceapp::compact_codes::none);
  const auto nearest = plain_service.search_encodings({queries[0]}, 1);
  CHECK(nearest.front().front().id == plain.snapshot()->nearest(queries[0])->key);
}

TEST_CASE("a gallery of one photo per identity recognizes each identity's second photo") {
  const faceapp::test::scratch_dir dir("web_unit_service");
  face_service s(options_in(dir));
  const auto pairs = identity_pairs();
  REQUIRE(pairs.size() >= 10);
  for (const auto& [who, first, second] : pairs) {
    const auto p = s.add_face(who, upload_of(first));
    CHECK(p.name == who);
    CHECK(p.has_thumbnail);
  }
  CHECK(s.gallery_size() == pairs.size());
  std::size_t recognized = 0;
  for (const auto& [who, first, second] : pairs) {
    CAPTURE(second);
    const auto r = s.recognize(upload_of(second), faceapp::default_tolerance);
    REQUIRE(r.faces.size() == 1);  // the manifest says one face
    CHECK(r.photo.found == 1);
    const auto& f = r.faces[0];
    REQUIRE(f.distance.has_value());
    if (f.name == who && f.match.value_or(false)) ++recognized;
  }
  // Every identity but at most one: the encoder separates these photos (tests/stages checks the same data).
  CHECK(recognized + 1 >= pairs.size());
  // One record per face recognized, each naming its photo by content hash.
  const auto records = s.records_csv();
  CHECK(std::count(records.begin(), records.end(), '\n') == static_cast<long>(pairs.size() + 1));
  CHECK(records.find("sha256:") != std::string::npos);
}

TEST_CASE("compare takes the largest face of each photo, as the library's largest face gives it") {
  const faceapp::test::scratch_dir dir("web_unit_service");
  face_service s(options_in(dir));
  SUBCASE("the same person") {
    const auto c = s.compare(upload_of("obama_1.jpg"), upload_of("obama_2.jpg"), 0.6F);
    REQUIRE(c.distance.has_value());
    CHECK(c.match);
    const auto a = library_faces("obama_1.jpg");
    const auto b = library_faces("obama_2.jpg");
    const float expected = faceapp::distance(a[*a.largest()].encoding, b[*b.largest()].encoding);
    CHECK(*c.distance == doctest::Approx(expected).epsilon(1e-4));
  }
  SUBCASE("two people") {
    const auto c = s.compare(upload_of("obama_1.jpg"), upload_of("biden_1.jpg"), 0.6F);
    REQUIRE(c.distance.has_value());
    CHECK_FALSE(c.match);
  }
  SUBCASE("a group photo: every face kept, the largest used") {
    const auto c = s.compare(upload_of("group_3.jpg"), upload_of("obama_1.jpg"), 0.6F);
    const auto lib = library_faces("group_3.jpg");
    CHECK(c.a.found == lib.size());
    CHECK(c.a.faces.size() == lib.size());
    REQUIRE(c.face_a.has_value());
    CHECK(c.a.faces[*c.face_a].box == lib[*lib.largest()].box);
    const auto b = library_faces("obama_1.jpg");
    CHECK(*c.distance == doctest::Approx(faceapp::distance(lib[*lib.largest()].encoding, b[*b.largest()].encoding))
                             .epsilon(1e-4));
  }
  SUBCASE("a photo without a face: no distance, no match, still recorded") {
    const auto c = s.compare(upload_of("noface_2.jpg"), upload_of("obama_1.jpg"), 0.6F);
    CHECK_FALSE(c.distance.has_value());
    CHECK_FALSE(c.face_a.has_value());
    CHECK_FALSE(c.match);
    CHECK(s.records_csv().find(" vs ") != std::string::npos);
  }
}

TEST_CASE("max_faces keeps the largest faces, at the boundary") {
  const faceapp::test::scratch_dir dir("web_unit_service");
  const auto lib = library_faces("group_4.jpg");
  const std::size_t n = lib.size();
  REQUIRE(n >= 3);
  for (const std::size_t max : {n - 1, n, n + 1}) {
    CAPTURE(max);
    auto o = options_in(dir);
    o.data_dir = dir.dir / ("data" + std::to_string(max));
    o.max_faces = max;
    face_service s(o);
    const auto r = s.recognize(upload_of("group_4.jpg"), 0.6F);
    CHECK(r.photo.found == n);
    CHECK(r.faces.size() == std::min(max, n));
  }
}

TEST_CASE("max_pixels holds at the image's own pixel count") {
  const faceapp::test::scratch_dir dir("web_unit_service");
  const auto lib = library_faces("obama_1.jpg");
  const std::int64_t pixels = std::int64_t{lib.image.original_width} * lib.image.original_height;
  for (const std::int64_t max : {pixels - 1, pixels, pixels + 1}) {
    CAPTURE(max);
    auto o = options_in(dir);
    o.data_dir = dir.dir / ("data" + std::to_string(max));
    o.max_pixels = max;
    face_service s(o);
    const auto failed = error_of([&] { (void)s.recognize(upload_of("obama_1.jpg"), 0.6F); });
    CHECK(failed == (max < pixels ? std::optional(errc::too_large) : std::nullopt));
  }
}

TEST_CASE("bad uploads fail with the code that names what is wrong") {
  const faceapp::test::scratch_dir dir("web_unit_service");
  face_service s(options_in(dir));
  CHECK(error_of([] { (void)faceapp_web::make_upload("", "a.jpg", "image"); }) == errc::bad_input);
  CHECK(error_of([] { (void)faceapp_web::make_upload("GIF89a....", "a.gif", "image"); }) == errc::unsupported);
  const auto jpeg = bytes_of("obama_1.jpg");
  SUBCASE("a truncated JPEG") {
    try {
      (void)s.recognize(faceapp_web::make_upload(jpeg.substr(0, 200), "cut.jpg", "image"), 0.6F);
      FAIL("a truncated JPEG was read");
    } catch (const service_error& e) {
      CHECK(e.code == errc::bad_input);
      CHECK(std::string(e.what()).find("cut.jpg") != std::string::npos);  // the message names the input
    }
  }
  SUBCASE("a photo without a face cannot be added") {
    CHECK(error_of([&] { (void)s.add_face("dog", upload_of("noface_2.jpg")); }) == errc::bad_input);
    CHECK(s.gallery_size() == 0);
  }
}

TEST_CASE("a deleted face is gone from the gallery, the list and the thumbnails") {
  const faceapp::test::scratch_dir dir("web_unit_service");
  face_service s(options_in(dir));
  const auto p = s.add_face("Barack Obama", upload_of("obama_1.jpg"));
  CHECK(s.list(0, 10).total == 1);
  CHECK(s.thumbnail(p.id).has_value());
  CHECK(s.recognize(upload_of("obama_2.jpg"), 0.6F).faces[0].name == "Barack Obama");
  CHECK(s.remove(p.id));
  CHECK_FALSE(s.remove(p.id));
  CHECK(s.gallery_size() == 0);
  CHECK(s.list(0, 10).people.empty());
  CHECK_FALSE(s.thumbnail(p.id).has_value());
  CHECK_FALSE(s.recognize(upload_of("obama_2.jpg"), 0.6F).faces[0].distance.has_value());
}

TEST_CASE("a name is 1 to 100 bytes of UTF-8 after trimming: at, below and above the limit") {
  CHECK(faceapp_web::check_person_name(std::string(99, 'a')).size() == 99);
  CHECK(faceapp_web::check_person_name(std::string(100, 'a')).size() == 100);
  CHECK(error_of([] { (void)faceapp_web::check_person_name(std::string(101, 'a')); }) == errc::bad_input);
  CHECK(faceapp_web::check_person_name(" \t" + std::string(100, 'a') + "\t ").size() == 100);  // trimmed first
  CHECK(error_of([] { (void)faceapp_web::check_person_name(" \t "); }) == errc::bad_input);
  CHECK(error_of([] { (void)faceapp_web::check_person_name("ab\ncd"); }) == errc::bad_input);
  CHECK(error_of([] { (void)faceapp_web::check_person_name("\xC0\xAF"); }) == errc::bad_input);  // overlong
  CHECK(faceapp_web::check_person_name("Zoë Ångström") == "Zoë Ångström");
}

TEST_CASE("a tolerance is a number from 0 to 1: at, inside and just outside the ends") {
  CHECK(faceapp_web::parse_tolerance("") == faceapp::default_tolerance);
  CHECK(faceapp_web::parse_tolerance("0") == 0.0F);
  CHECK(faceapp_web::parse_tolerance("1") == 1.0F);
  CHECK(faceapp_web::parse_tolerance("0.999999") == doctest::Approx(0.999999));
  CHECK(error_of([] { (void)faceapp_web::parse_tolerance("1.000001"); }) == errc::bad_input);
  CHECK(error_of([] { (void)faceapp_web::parse_tolerance("-0.000001"); }) == errc::bad_input);
  CHECK(error_of([] { (void)faceapp_web::parse_tolerance("0.5x"); }) == errc::bad_input);
  CHECK(error_of([] { (void)faceapp_web::parse_tolerance("nan"); }) == errc::bad_input);
}
