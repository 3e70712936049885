// People in the service (a name and its faces), with the real models on the photos of tests/data/faces: a person
// enrolled from three photos is recognized from a fourth; rename, merge and delete reach the next recognize; the
// quality gate refuses small and blurred faces with its reason. And the migration of a schema-1 database (each
// face a person of its own) on SQLite and, through tests/web/with_postgres.py, on PostgreSQL, where a rename on
// one server reaches another through the change feed.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <faceapp/faceapp.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "service/service.hpp"
#include "store/face_store.hpp"
#include "store/sqlite_store.hpp"
#include "test_args.hpp"
#include "test_data.hpp"
#ifdef FACEAPP_WEB_POSTGRESQL
#include "store/pg_store.hpp"
#endif

using faceapp_web::errc;
using faceapp_web::face_service;
using faceapp_web::service_error;

namespace {

std::string bytes_of(const std::string& file) { return faceapp::test::data_bytes("faces/" + file); }

faceapp_web::upload upload_of(const std::string& file) { return faceapp_web::make_upload(bytes_of(file), file, "image"); }

faceapp_web::service_options options_in(const faceapp::test::scratch_dir& dir) {
  faceapp_web::service_options o;
  o.data_dir = dir.dir / "data";
  o.workers = 2;
  return o;
}

std::optional<errc> error_of(const auto& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const service_error& e) {
    if (message != nullptr) *message = e.what();
    return e.code;
  }
  return std::nullopt;
}

/// The one-face photos of each identity of the manifest.
std::map<std::string, std::vector<std::string>> photos_by_identity() {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& row : faceapp::test::manifest()) {
    if (!row.identity.empty() && row.faces == 1) out[row.identity].push_back(row.file);
  }
  return out;
}

/// The name recognize gives the photo's one face, or "" when it matches nobody.
std::string recognized(face_service& s, const std::string& file) {
  const auto r = s.recognize(upload_of(file), faceapp::default_tolerance);
  REQUIRE(r.faces.size() == 1);
  return r.faces[0].match.value_or(false) ? r.faces[0].name : std::string();
}

std::string png(const cv::Mat& bgr) {
  std::vector<std::uint8_t> out;
  cv::imencode(".png", bgr, out);
  return {out.begin(), out.end()};
}

/// The boxes the service's detector (HOG, photos fitted to 1600 px) finds in an image.
std::vector<faceapp::box> detected(const std::string& bytes) {
  const auto find = faceapp::read | faceapp::fit(1600) | faceapp::detect(faceapp::hog);
  auto r = find(faceapp::source::from_bytes(std::vector<std::uint8_t>(bytes.begin(), bytes.end()), "scaled"));
  REQUIRE(r);
  std::vector<faceapp::box> out;
  for (const auto& f : r->items) out.push_back(f.box);
  return out;
}

/// `file` scaled (as PNG) so that the detector finds one face whose box's shortest side is exactly `side` px, or
/// nothing when no scale near side / (the face's side) gives that.
std::optional<std::string> scaled_to_side(const std::string& file, int side) {
  const cv::Mat img = cv::imread(faceapp::test::data_file("faces/" + file).string(), cv::IMREAD_COLOR);
  const auto boxes = detected(bytes_of(file));
  REQUIRE(boxes.size() == 1);
  const double base = static_cast<double>(side) / std::min(boxes[0].width(), boxes[0].height());
  for (int step = 0; step <= 80; ++step) {  // 0, +0.5%, -0.5%, +1%, ...
    const double scale = base * (1 + (step % 2 == 0 ? 1 : -1) * 0.005 * ((step + 1) / 2));
    cv::Mat small;
    cv::resize(img, small, cv::Size(), scale, scale, cv::INTER_AREA);
    auto bytes = png(small);
    const auto found = detected(bytes);
    if (found.size() == 1 && std::min(found[0].width(), found[0].height()) == side) return bytes;
  }
  return std::nullopt;
}

/// A face deleted under a person only while it is that person's (one statement in the store); a rename's and a
/// merge's answers are what their transactions wrote; a person's faces leave the gallery in one view. On new
/// persons in `store`, with made-up encodings (no model needed).
void check_person_changes(faceapp_web::face_store& store) {
  const auto rows = [](const std::vector<faceapp_web::person>& faces) {
    std::vector<std::string> out;
    for (const auto& f : faces) out.push_back(std::to_string(f.id) + " " + f.name + " " + std::to_string(f.person_id));
    return out;
  };
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0F, 0.09F);
  const auto enc = [&] {
    faceapp::encoding e;
    for (auto& v : e) v = dist(rng);
    return e;
  };
  const auto a = store.add("changes_a", enc(), "test", faceapp::box{0, 10, 10, 0}, "");
  const auto b = store.add("changes_b", enc(), "test", faceapp::box{0, 10, 10, 0}, "");
  const auto b2 = store.add("changes_b", enc(), "test", faceapp::box{0, 10, 10, 0}, "");
  REQUIRE(b2.person_id == b.person_id);
  const auto refs = [](const std::vector<faceapp_web::face_ref>& found) {
    std::vector<std::string> out;
    for (const auto& f : found) {
      out.push_back(std::to_string(f.person_id) + ":" + std::to_string(f.id) + (f.has_thumbnail ? "+" : ""));
    }
    return out;
  };
  const auto of = [](const faceapp_web::person& p) { return std::to_string(p.person_id) + ":" + std::to_string(p.id); };
  const std::vector<std::uint64_t> both{b.person_id, a.person_id, 999999};
  CHECK(refs(store.first_faces(both, 1)) == std::vector<std::string>{of(b), of(a)});  // in the order asked
  CHECK(refs(store.first_faces(both, 2)) == std::vector<std::string>{of(b), of(b2), of(a)});
  CHECK(store.first_faces({}, 6).empty());
  CHECK_FALSE(store.remove_person_face(a.person_id, b.id));  // b's face, asked under a: kept
  CHECK(store.find(b.id).has_value());
  CHECK(store.snapshot()->find(b.id).has_value());

  const auto merged = store.merge_persons(a.person_id, b.person_id);
  REQUIRE(merged.has_value());
  CHECK(merged->name == "changes_a");
  CHECK(merged->faces.size() == 3);
  CHECK(rows(merged->faces) == rows(store.find_person(a.person_id)->faces));
  // The face the merge moved, asked under the person it came from: not deleted (it is a's now).
  CHECK_FALSE(store.remove_person_face(b.person_id, b.id));
  CHECK(store.find(b.id)->person_id == a.person_id);
  CHECK(store.remove_person_face(a.person_id, b.id));
  CHECK_FALSE(store.find(b.id).has_value());
  CHECK_FALSE(store.snapshot()->find(b.id).has_value());
  CHECK_FALSE(store.remove_person_face(a.person_id, b.id));  // already gone

  const auto renamed = store.rename_person(a.person_id, "changes_c");
  REQUIRE(renamed.has_value());
  CHECK(renamed->name == "changes_c");
  REQUIRE(renamed->faces.size() == 2);
  CHECK(renamed->faces[0].name == "changes_c");
  CHECK(rows(renamed->faces) == rows(store.find_person(a.person_id)->faces));
  CHECK_FALSE(store.rename_person(b.person_id, "x").has_value());

  const auto before = store.snapshot();
  REQUIRE(store.remove_person(a.person_id));
  const auto after = store.snapshot();
  CHECK(before->size() == after->size() + 2);
  CHECK_FALSE(after->find(a.id).has_value());
  CHECK_FALSE(after->find(b2.id).has_value());
}

}  // namespace

TEST_CASE("a person enrolled from three photos is recognized from a fourth; rename, merge, delete act at once") {
  const faceapp::test::scratch_dir dir("web_unit_people");
  face_service s(options_in(dir));
  const auto photos = photos_by_identity();
  const auto four = std::find_if(photos.begin(), photos.end(), [](const auto& p) { return p.second.size() >= 4; });
  REQUIRE(four != photos.end());
  const auto& [who, files] = *four;
  CAPTURE(who);

  const auto p = s.create_person(who);
  CHECK(p.name == who);
  for (int i = 0; i < 3; ++i) {
    const auto f = s.add_person_face(p.id, upload_of(files[i]));
    CHECK(f.person_id == p.id);
    CHECK(f.name == who);
  }
  const auto other = s.add_face("obama", upload_of("obama_1.jpg"));  // POST /api/faces: a person of that name
  CHECK(other.person_id != p.id);
  CHECK(s.find_person(p.id).faces.size() == 3);
  CHECK(recognized(s, files[3]) == who);
  CHECK(recognized(s, "obama_2.jpg") == "obama");

  // The person of that exact name: a second "obama" face joins the first's person.
  CHECK(s.add_face("obama", upload_of("obama_2.jpg")).person_id == other.person_id);
  CHECK(s.find_person(other.person_id).faces.size() == 2);

  s.rename_person(p.id, "renamed");
  CHECK(recognized(s, files[3]) == "renamed");
  CHECK(s.list_persons("renam", 0, 10).people.at(0).face_count == 3);

  s.merge_persons(p.id, other.person_id);
  CHECK(recognized(s, "obama_3.jpg") == "renamed");  // obama's faces are the merged person's now
  CHECK(s.find_person(p.id).faces.size() == 5);
  CHECK(error_of([&] { (void)s.find_person(other.person_id); }) == errc::not_found);
  CHECK(error_of([&] { s.merge_persons(p.id, p.id); }) == errc::bad_input);
  CHECK(error_of([&] { s.merge_persons(p.id, 999); }) == errc::not_found);

  const auto face = s.find_person(p.id).faces.back().id;
  CHECK(error_of([&] { s.remove_person_face(p.id + 1000, face); }) == errc::not_found);
  s.remove_person_face(p.id, face);
  CHECK(s.find_person(p.id).faces.size() == 4);
  CHECK(error_of([&] { s.remove_person_face(p.id, face); }) == errc::not_found);

  s.remove_person(p.id);
  CHECK(recognized(s, files[3]).empty());
  CHECK(s.gallery_size() == 0);
  CHECK(error_of([&] { s.remove_person(p.id); }) == errc::not_found);
  CHECK(error_of([&] { s.add_person_face(p.id, upload_of(files[0])); }) == errc::not_found);
  CHECK(error_of([&] { s.rename_person(p.id, "x"); }) == errc::not_found);
}

// HOG's boxes come in steps (on these photos: ... 37, 44, 45, 52 px ...), so through the detector the limit of
// 40 px is met at its nearest sides: the 37 px box is refused, the 44 px one taken. (The gate at exactly 39, 40
// and 41 px, on boxes cut to those sides: tests/people/test_quality.cpp.)
TEST_CASE("the quality gate of a person's faces: a 35 px face and a 37 px box refused, a 44 px box taken, blurred refused") {
  const faceapp::test::scratch_dir dir("web_unit_people");
  face_service s(options_in(dir));
  const auto p = s.create_person("obama");
  for (const int side : {37, 44}) {
    CAPTURE(side);
    const auto bytes = scaled_to_side("obama_1.jpg", side);
    REQUIRE(bytes.has_value());
    auto u = faceapp_web::make_upload(*bytes, "obama_" + std::to_string(side) + ".png", "image");
    std::string message;
    const auto code = error_of([&] { s.add_person_face(p.id, std::move(u)); }, &message);
    if (side < 40) {
      CHECK(code == errc::bad_input);
      CHECK(message == "quality: obama_37.png: face too small: 37 px < 40 px");
    } else {
      CHECK_MESSAGE(!code, message);
    }
  }
  CHECK(s.find_person(p.id).faces.size() == 1);

  // The photo scaled so that the face, 108 px wide at full size, is 35 px: refused.
  {
    const cv::Mat img = cv::imread(faceapp::test::data_file("faces/obama_1.jpg").string(), cv::IMREAD_COLOR);
    const auto boxes = detected(bytes_of("obama_1.jpg"));
    REQUIRE(boxes.size() == 1);
    const double scale = 35.0 / std::min(boxes[0].width(), boxes[0].height());
    cv::Mat small;
    cv::resize(img, small, cv::Size(), scale, scale, cv::INTER_AREA);
    std::string message;
    CHECK(error_of([&] { s.add_person_face(p.id, faceapp_web::make_upload(png(small), "obama_35.png", "image")); },
                   &message) == errc::bad_input);
    MESSAGE("a 35 px face: ", message);
    CHECK(message == "quality: obama_35.png: face too small: 37 px < 40 px");
  }

  // Blurred by a Gaussian of sigma 4% of the face's width.
  const cv::Mat img = cv::imread(faceapp::test::data_file("faces/obama_2.jpg").string(), cv::IMREAD_COLOR);
  const auto boxes = detected(bytes_of("obama_2.jpg"));
  REQUIRE(boxes.size() == 1);
  cv::Mat blurred;
  cv::GaussianBlur(img, blurred, cv::Size(0, 0), 0.04 * boxes[0].width());
  std::string message;
  CHECK(error_of([&] { s.add_person_face(p.id, faceapp_web::make_upload(png(blurred), "blurred.png", "image")); },
                 &message) == errc::bad_input);
  CHECK(message.find("quality: blurred.png: face too blurred: sharpness ") == 0);
  // The same photo sharp is taken.
  CHECK_NOTHROW(s.add_person_face(p.id, upload_of("obama_2.jpg")));
  CHECK(s.find_person(p.id).faces.size() == 2);
  // No face at all: the "no face" refusal as for any add.
  CHECK(error_of([&] { s.add_person_face(p.id, upload_of("noface_1.png")); }) == errc::bad_input);
}

namespace {

/// Schema 1 as faceapp-web wrote it before people (every face a person of its own).
constexpr const char* sqlite_schema_1 =
    "CREATE TABLE schema_version (version INTEGER NOT NULL);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE people (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, added TEXT NOT NULL);"
    "CREATE TABLE encodings (person_id INTEGER PRIMARY KEY, encoding BLOB NOT NULL);"
    "CREATE TABLE boxes (person_id INTEGER PRIMARY KEY, box_top INTEGER NOT NULL, box_right INTEGER NOT NULL, "
    "  box_bottom INTEGER NOT NULL, box_left INTEGER NOT NULL);"
    "CREATE TABLE sources (person_id INTEGER PRIMARY KEY, source TEXT NOT NULL);"
    "CREATE TABLE thumbnails (person_id INTEGER PRIMARY KEY, jpeg BLOB NOT NULL);"
    "INSERT INTO schema_version (version) VALUES (1);";

struct old_face {
  std::uint64_t id;
  std::string name;
  std::string file;
  faceapp::encoding encoding;
};

/// Faces of the test data under ids with a gap (a face deleted before the migration) and two "penny"s.
std::vector<old_face> old_faces() {
  std::vector<old_face> out{{1, "obama", "obama_1.jpg", {}},
                            {2, "penny", "penny_1.png", {}},
                            {4, "biden", "biden_1.jpg", {}},
                            {5, "penny", "penny_2.png", {}}};
  for (auto& f : out) {
    const auto pipeline = faceapp::read | faceapp::detect(faceapp::hog) | faceapp::encode;
    auto r = pipeline(faceapp::test::data_file("faces/" + f.file).string());
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    f.encoding = (*r)[0].encoding;
  }
  return out;
}

/// What the migration must give, on either store: every old face a person with that one face, under its id and
/// name; the encodings recognized; a new "penny" face joins the lowest-id penny.
void check_migrated(faceapp_web::face_store& store, const std::vector<old_face>& faces) {
  const auto all = store.list_persons("", 0, 100);
  REQUIRE(all.total == faces.size());
  for (std::size_t i = 0; i < faces.size(); ++i) {
    CAPTURE(faces[i].file);
    CHECK(all.people[i].id == faces[i].id);
    CHECK(all.people[i].name == faces[i].name);
    CHECK(all.people[i].face_count == 1);
    const auto d = store.find_person(faces[i].id);
    REQUIRE(d);
    REQUIRE(d->faces.size() == 1);
    CHECK(d->faces[0].id == faces[i].id);
    CHECK(d->faces[0].person_id == faces[i].id);
    const auto hit = store.snapshot()->nearest(faces[i].encoding);
    REQUIRE(hit);
    CHECK(hit->key == faces[i].id);
    CHECK(hit->distance < 1e-6F);
  }
  CHECK(store.list_persons("PEN", 0, 100).total == 2);
  const auto added = store.add("penny", faces[3].encoding, "again", faceapp::box{1, 2, 3, 0}, "");
  CHECK(added.person_id == 2);
  CHECK(added.id > 5);
  const auto fresh = store.create_person("new");
  CHECK(fresh.id > 5);
}

}  // namespace

TEST_CASE("a face is deleted under its own person only; rename and merge answer what they wrote (SQLite)") {
  const faceapp::test::scratch_dir dir("web_unit_people_changes");
  faceapp_web::face_store store(dir.dir);
  check_person_changes(store);
}

TEST_CASE("a schema-1 SQLite database is migrated: every face a person with that one face") {
  const faceapp::test::scratch_dir dir("web_unit_people_migrate");
  const auto faces = old_faces();
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir.dir / "faceapp.db").c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, sqlite_schema_1, nullptr, nullptr, nullptr) == SQLITE_OK);
    for (const auto& f : faces) {
      sqlite3_stmt* s = nullptr;
      const auto run = [&](const char* sql, const auto& bind) {
        REQUIRE(sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK);
        sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(f.id));
        bind();
        CHECK(sqlite3_step(s) == SQLITE_DONE);
        sqlite3_finalize(s);
      };
      run("INSERT INTO people (id, name, added) VALUES (?, ?, '2026-01-01T00:00:00Z')",
          [&] { sqlite3_bind_text(s, 2, f.name.c_str(), -1, SQLITE_TRANSIENT); });
      run("INSERT INTO encodings (person_id, encoding) VALUES (?, ?)",
          [&] { sqlite3_bind_blob(s, 2, f.encoding.data(), 512, SQLITE_TRANSIENT); });
      run("INSERT INTO sources (person_id, source) VALUES (?, ?)",
          [&] { sqlite3_bind_text(s, 2, f.file.c_str(), -1, SQLITE_TRANSIENT); });
    }
    sqlite3_close(db);
  }
  faceapp_web::face_store store(dir.dir);
  check_migrated(store, faces);
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((dir.dir / "faceapp.db").c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &s, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  CHECK(sqlite3_column_int(s, 0) == faceapp_web::sqlite_store::schema_version);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST_CASE("a schema-1 PostgreSQL database is migrated; a rename on one server reaches another") {
#ifdef FACEAPP_WEB_POSTGRESQL
  const auto& args = faceapp::test::args();
  if (args.empty()) {
    MESSAGE("no database URL given: run through tests/web/with_postgres.py (ctest -R web_unit_people_postgres)");
    return;
  }
  const std::string& url = args.front();
  const auto faces = old_faces();
  {
    auto c = faceapp_web::pg::connect(url);
    faceapp_web::pg::run_script(
        c.get(), url,
        "CREATE TABLE schema_version (version integer NOT NULL);"
        "CREATE SEQUENCE people_id_seq;"
        "CREATE SEQUENCE change_seq;"
        "CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, added text NOT NULL, "
        "  source text NOT NULL, box_top integer, box_right integer, box_bottom integer, box_left integer, "
        "  encoding bytea NOT NULL CHECK (length(encoding) = 512), thumbnail bytea);"
        "CREATE TABLE changes (seq bigint PRIMARY KEY, kind char(1) NOT NULL "
        "  CHECK (kind IN ('a', 'd')), person_id bigint NOT NULL);"
        "CREATE TABLE results (id bigserial PRIMARY KEY, time text NOT NULL, input text NOT NULL, "
        "  face integer, box_top integer, box_right integer, box_bottom integer, box_left integer, "
        "  name text NOT NULL, distance real, match boolean);"
        "SELECT setval('people_id_seq', 5);"
        "INSERT INTO schema_version (version) VALUES (1);");
    for (const auto& f : faces) {
      const std::string id = std::to_string(f.id);
      const char* params[] = {id.c_str(), f.name.c_str(), f.file.c_str(), reinterpret_cast<const char*>(f.encoding.data())};
      const int lengths[] = {0, 0, 0, 512};
      const int formats[] = {0, 0, 0, 1};
      faceapp_web::pg::run(c.get(), url,
                           "INSERT INTO people (id, name, added, source, encoding) VALUES ($1::bigint, $2, "
                           "'2026-01-01T00:00:00Z', $3, $4::bytea)",
                           params, lengths, formats);
      faceapp_web::pg::run(c.get(), url,
                           "INSERT INTO changes (seq, kind, person_id) VALUES (nextval('change_seq'), 'a', $1::bigint)",
                           std::span<const char* const>(params, 1));
    }
  }
  faceapp_web::face_store a(std::make_unique<faceapp_web::pg_store>(url));
  check_migrated(a, faces);
  faceapp_web::face_store b(std::make_unique<faceapp_web::pg_store>(url));
  CHECK(b.snapshot()->name(*b.snapshot()->find(1)) == "obama");

  // A rename, a merge and a person's delete on a reach b within its staleness bound (5 s).
  const auto name_on_b = [&](std::uint64_t face) -> std::string {
    const auto v = b.snapshot();
    const auto row = v->find(face);
    return row ? std::string(v->name(*row)) : std::string("(gone)");
  };
  const auto within_bound = [&](const auto& done) {
    const auto start = std::chrono::steady_clock::now();
    while (!done() && std::chrono::steady_clock::now() - start < std::chrono::duration<double>(b.max_staleness_seconds())) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
  };
  REQUIRE(a.rename_person(1, "barack").has_value());
  CHECK(within_bound([&] { return name_on_b(1) == "barack"; }));
  REQUIRE(a.merge_persons(1, 4).has_value());
  CHECK(within_bound([&] { return name_on_b(4) == "barack"; }));
  CHECK_FALSE(b.find_person(4));
  CHECK(b.find_person(1)->faces.size() == 2);
  REQUIRE(a.remove_person(1));
  CHECK(within_bound([&] { return name_on_b(1) == "(gone)" && name_on_b(4) == "(gone)"; }));
  CHECK(name_on_b(2) == "penny");
  check_person_changes(a);
#else
  MESSAGE("built without libpq: no PostgreSQL store");
#endif
}
