// Pending clusters (bulk enrolment): the store's tables on SQLite (and, through tests/web/with_postgres.py, on
// PostgreSQL when it keeps them): what is saved reads back byte for byte, a cluster is there at 24 h - 1 s and
// gone at 24 h, a save deletes the expired ones, a reopened store keeps them, an enrolment adds every face to the
// named person (but the faces it is told to skip) and deletes the cluster at once, expire_clusters deletes the
// rows at exactly 24 h. A face is known at a gallery distance of 1e-6 and below. And the service with its clock
// moved: the clusters of real photos of tests/data/faces expire at exactly 24 h, and a service opened at 24 h
// deletes them. Through the routes: a 35 px face is answered in `refused` with the gate's reason, and a bad part
// is named by its place among all the parts.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "service/service.hpp"
#include "store/cluster_store.hpp"
#include "store/sqlite_store.hpp"
#include "test_args.hpp"
#include "test_data.hpp"
#include "web/routes.hpp"
#ifdef FACEAPP_WEB_POSTGRESQL
#include "store/pg_store.hpp"
#endif

using faceapp_web::errc;
using faceapp_web::pending_cluster;
using faceapp_web::pending_cluster_lifetime_s;
using faceapp_web::service_error;

namespace {

constexpr std::int64_t t0 = 1'800'000'000;  // 2027-01-15, any time will do

pending_cluster cluster_of(std::size_t faces, float seed, std::optional<std::string> suggested) {
  pending_cluster c;
  c.created_s = t0;
  c.suggested = std::move(suggested);
  for (std::size_t i = 0; i < faces; ++i) {
    faceapp_web::pending_face f;
    f.photo = "photo " + std::to_string(i) + ".jpg";
    f.source = "sha256:" + std::string(64, 'a') + " (" + f.photo + ")";
    f.box = faceapp::box{10 + static_cast<int>(i), 90, 80, 20};
    for (std::size_t k = 0; k < f.encoding.size(); ++k) f.encoding[k] = seed + 0.001F * static_cast<float>(k + i);
    f.thumbnail = std::string("\xff\xd8 jpeg ") + std::to_string(i) + std::string(1, '\0') + "end";
    c.faces.push_back(std::move(f));
  }
  return c;
}

bool same_faces(const pending_cluster& a, const pending_cluster& b) {
  if (a.faces.size() != b.faces.size() || a.suggested != b.suggested || a.created_s != b.created_s) return false;
  for (std::size_t i = 0; i < a.faces.size(); ++i) {
    const auto& x = a.faces[i];
    const auto& y = b.faces[i];
    if (x.photo != y.photo || x.source != y.source || !(x.box == y.box) || x.encoding != y.encoding ||
        x.thumbnail != y.thumbnail) {
      return false;
    }
  }
  return true;
}

/// The checks every store that keeps pending clusters passes; `reopen` gives the store afresh (a restart).
void check_cluster_store(const std::function<std::unique_ptr<faceapp_web::store_backend>()>& open) {
  auto backend = open();
  auto* store = dynamic_cast<faceapp_web::cluster_store*>(backend.get());
  REQUIRE(store != nullptr);
  const std::vector<pending_cluster> made{cluster_of(3, 0.1F, std::nullopt), cluster_of(1, -0.2F, "Penny")};
  const auto ids = store->save_clusters(made, t0);
  REQUIRE(ids.size() == 2);
  CHECK(ids[0] < ids[1]);

  SUBCASE("saved clusters read back as they were, and survive a reopen") {
    for (int round = 0; round < 2; ++round) {
      CAPTURE(round);
      const auto read = store->pending_clusters(t0);
      REQUIRE(read.size() == 2);
      CHECK(read[0].id == ids[0]);
      CHECK(same_faces(read[0], made[0]));
      CHECK(same_faces(read[1], made[1]));
      const auto one = store->find_cluster(ids[1], t0);
      REQUIRE(one.has_value());
      CHECK(same_faces(*one, made[1]));
      CHECK_FALSE(store->find_cluster(ids[1] + 1000, t0).has_value());
      backend.reset();
      backend = open();
      store = dynamic_cast<faceapp_web::cluster_store*>(backend.get());
    }
  }
  SUBCASE("a cluster is there at 24 h - 1 s and gone at 24 h and after; a save then deletes it") {
    CHECK(store->pending_clusters(t0 + pending_cluster_lifetime_s - 1).size() == 2);
    CHECK(store->find_cluster(ids[0], t0 + pending_cluster_lifetime_s - 1).has_value());
    CHECK(store->pending_clusters(t0 + pending_cluster_lifetime_s).empty());
    CHECK(store->pending_clusters(t0 + pending_cluster_lifetime_s + 1).empty());
    CHECK_FALSE(store->find_cluster(ids[0], t0 + pending_cluster_lifetime_s).has_value());
    CHECK_FALSE(store->discard_cluster(ids[0], t0 + pending_cluster_lifetime_s));
    CHECK_FALSE(store->enrol_cluster(ids[0], "x", "2027-01-16T08:00:00.000Z", t0 + pending_cluster_lifetime_s, {}));
    // A save 1 s before the expiry keeps them; one at the expiry deletes them (read with an earlier clock: gone).
    auto later = cluster_of(2, 0.3F, std::nullopt);
    later.created_s = t0 + pending_cluster_lifetime_s - 1;
    store->save_clusters({&later, 1}, t0 + pending_cluster_lifetime_s - 1);
    CHECK(store->pending_clusters(t0).size() == 3);
    later.created_s = t0 + pending_cluster_lifetime_s;
    store->save_clusters({&later, 1}, t0 + pending_cluster_lifetime_s);
    const auto left = store->pending_clusters(t0);
    REQUIRE(left.size() == 2);
    CHECK(left[0].created_s == t0 + pending_cluster_lifetime_s - 1);
    CHECK(left[1].created_s == t0 + pending_cluster_lifetime_s);
  }
  SUBCASE("an enrolment adds every face to the person of that name and deletes the cluster") {
    const auto added = store->enrol_cluster(ids[0], "Amy", "2027-01-15T08:00:00.000Z", t0, {});
    REQUIRE(added.has_value());
    REQUIRE(added->size() == 3);
    const auto person = backend->find_person(added->front().person_id);
    REQUIRE(person.has_value());
    CHECK(person->name == "Amy");
    REQUIRE(person->faces.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(person->faces[i].id == (*added)[i].id);
      CHECK(person->faces[i].box == made[0].faces[i].box);
      CHECK(person->faces[i].source == made[0].faces[i].source);
      CHECK(backend->thumbnail((*added)[i].id) == made[0].faces[i].thumbnail);
    }
    CHECK_FALSE(store->find_cluster(ids[0], t0).has_value());
    CHECK_FALSE(store->enrol_cluster(ids[0], "Amy", "2027-01-15T08:00:00.000Z", t0, {}).has_value());
    // The second joins the same person (that exact name), not a new one.
    const auto more = store->enrol_cluster(ids[1], "Amy", "2027-01-15T08:00:01.000Z", t0, {});
    REQUIRE(more.has_value());
    CHECK(more->front().person_id == added->front().person_id);
    CHECK(backend->find_person(added->front().person_id)->faces.size() == 4);
    CHECK(store->pending_clusters(t0).empty());
  }
  SUBCASE("an enrolment leaves out the faces to skip, and still deletes the cluster") {
    const auto added = store->enrol_cluster(ids[0], "Amy", "2027-01-15T08:00:00.000Z", t0, {true, false, true});
    REQUIRE(added.has_value());
    REQUIRE(added->size() == 1);
    CHECK((*added)[0].source == made[0].faces[1].source);
    CHECK((*added)[0].box == made[0].faces[1].box);
    CHECK_FALSE(store->find_cluster(ids[0], t0).has_value());
    const auto none = store->enrol_cluster(ids[1], "Amy", "2027-01-15T08:00:01.000Z", t0, {true});
    REQUIRE(none.has_value());
    CHECK(none->empty());
    CHECK(store->pending_clusters(t0).empty());
  }
  SUBCASE("expire_clusters deletes at exactly 24 h, not at 24 h - 1 s; a reopened store has no rows of them") {
    store->expire_clusters(t0 + pending_cluster_lifetime_s - 1);
    CHECK(store->pending_clusters(t0).size() == 2);
    store->expire_clusters(t0 + pending_cluster_lifetime_s);
    backend.reset();
    backend = open();
    store = dynamic_cast<faceapp_web::cluster_store*>(backend.get());
    CHECK(store->pending_clusters(t0).empty());  // read as of t0: deleted, not only hidden
    CHECK_FALSE(store->find_cluster(ids[0], t0).has_value());
  }
  SUBCASE("a discard deletes it, once") {
    CHECK(store->discard_cluster(ids[0], t0));
    CHECK_FALSE(store->discard_cluster(ids[0], t0));
    CHECK(store->pending_clusters(t0).size() == 1);
    CHECK(backend->list_persons("", 0, 10).total == 0);
  }
}

}  // namespace

TEST_CASE("a face is known at a gallery distance of exactly 1e-6 and below, not just above") {
  using faceapp_web::face_is_known;
  using faceapp_web::known_face_distance;
  CHECK(known_face_distance == 1e-6F);
  CHECK(face_is_known(known_face_distance));
  CHECK(face_is_known(std::nextafter(known_face_distance, 0.0F)));
  CHECK(face_is_known(0.0F));
  CHECK_FALSE(face_is_known(std::nextafter(known_face_distance, 1.0F)));
  CHECK_FALSE(face_is_known(0.3F));  // two photos of one person are about this far apart
}

TEST_CASE("pending clusters in SQLite: kept, expired at exactly 24 h, reopened, enrolled, discarded") {
  const faceapp::test::scratch_dir dir("clusters_sqlite");
  check_cluster_store([&] { return std::make_unique<faceapp_web::sqlite_store>(dir.dir); });
}

TEST_CASE("pending clusters in PostgreSQL: kept, expired at exactly 24 h, reopened, enrolled, discarded") {
#ifdef FACEAPP_WEB_POSTGRESQL
  const auto& args = faceapp::test::args();
  if (args.empty()) {
    MESSAGE("no database URL given: run through tests/web/with_postgres.py (ctest -R web_unit_clusters_postgres)");
    return;
  }
  const std::string& url = args.front();
  {  // every subcase on an empty database
    auto c = faceapp_web::pg::connect(url);
    faceapp_web::pg::run_script(c.get(), url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
  }
  check_cluster_store([&] { return std::make_unique<faceapp_web::pg_store>(url); });
#else
  MESSAGE("built without libpq: no PostgreSQL store");
#endif
}

TEST_CASE("the service's clusters of real photos expire at exactly 24 h by its clock") {
  const faceapp::test::scratch_dir dir("clusters_service");
  std::int64_t now = t0;
  faceapp_web::service_options o;
  o.data_dir = dir.dir / "data";
  o.workers = 2;
  o.clock = [&now] { return now; };
  faceapp_web::face_service s(o);
  std::vector<faceapp_web::upload> photos;
  for (const char* f : {"deepface_p07_1.jpg", "deepface_p07_2.jpg", "deepface_p07_3.jpg", "deepface_p07_4.jpg",
                        "noface_2.jpg"}) {
    photos.push_back(faceapp_web::make_upload(faceapp::test::data_bytes(std::string("faces/") + f), f, "image"));
  }
  const auto made = s.cluster_photos(photos);
  REQUIRE(made.clusters.size() == 1);
  CHECK(made.clusters[0].faces.size() == 4);
  CHECK(made.no_face == std::vector<std::string>{"noface_2.jpg"});
  const auto id = made.clusters[0].id;

  const auto code = [](const auto& f) -> std::optional<errc> {
    try {
      f();
    } catch (const service_error& e) {
      return e.code;
    }
    return std::nullopt;
  };
  now = t0 + pending_cluster_lifetime_s - 1;
  CHECK(s.pending_clusters().size() == 1);
  CHECK(s.find_cluster(id).faces.size() == 4);
  now = t0 + pending_cluster_lifetime_s;
  CHECK(s.pending_clusters().empty());
  CHECK(code([&] { (void)s.find_cluster(id); }) == errc::not_found);
  CHECK(code([&] { (void)s.enrol_cluster(id, "deepface_p07"); }) == errc::not_found);
  CHECK(code([&] { s.discard_cluster(id); }) == errc::not_found);
  CHECK(s.list_persons("", 0, 10).total == 0);
}

TEST_CASE("a service opened at 24 h deletes the clusters that expired while it was down; at 24 h - 1 s it keeps them") {
  const faceapp::test::scratch_dir dir("clusters_reopen");
  std::int64_t now = t0;
  faceapp_web::service_options o;
  o.data_dir = dir.dir / "data";
  o.workers = 2;
  o.clock = [&now] { return now; };
  {
    faceapp_web::face_service s(o);
    const char* f = "deepface_p07_1.jpg";
    const auto made =
        s.cluster_photos({faceapp_web::make_upload(faceapp::test::data_bytes(std::string("faces/") + f), f, "image")});
    REQUIRE(made.clusters.size() == 1);
  }
  const auto rows_as_of_t0 = [&] {  // what the tables hold, read as of t0 (where nothing looks expired)
    const faceapp_web::sqlite_store db(o.data_dir);
    return db.pending_clusters(t0).size();
  };
  now = t0 + pending_cluster_lifetime_s - 1;
  { const faceapp_web::face_service s(o); }
  CHECK(rows_as_of_t0() == 1);
  now = t0 + pending_cluster_lifetime_s;
  { const faceapp_web::face_service s(o); }
  CHECK(rows_as_of_t0() == 0);
}

TEST_CASE("the service's limit of photos a call: one under it and at it taken, one over refused before any work") {
  const faceapp::test::scratch_dir dir("clusters_limit");
  faceapp_web::service_options o;
  o.data_dir = dir.dir / "data";
  o.workers = 2;
  o.max_cluster_photos = 2;
  faceapp_web::face_service s(o);
  const auto photo = [](const char* f) {
    return faceapp_web::make_upload(faceapp::test::data_bytes(std::string("faces/") + f), f, "image");
  };
  CHECK(s.cluster_photos({photo("obama_1.jpg")}).clusters.size() == 1);
  CHECK(s.cluster_photos({photo("obama_1.jpg"), photo("obama_2.jpg")}).clusters.size() == 1);
  std::string message;
  try {
    (void)s.cluster_photos({photo("obama_1.jpg"), photo("obama_2.jpg"), photo("obama_3.jpg")});
  } catch (const service_error& e) {
    CHECK(e.code == errc::too_large);
    message = e.what();
  }
  CHECK(message == "3 photos, more than the limit of 2 per request (--max-cluster-photos)");
  CHECK(s.pending_clusters().size() == 2);
  try {
    (void)s.cluster_photos({});
    FAIL("no photo is taken");
  } catch (const service_error& e) {
    CHECK(e.code == errc::bad_input);
  }
}

TEST_CASE("POST /api/cluster answers each face the quality gate refused, with its reason, apart from no_face") {
  const faceapp::test::scratch_dir dir("clusters_refused");
  faceapp_web::service_options o;
  o.data_dir = dir.dir / "data";
  o.workers = 2;
  faceapp_web::face_service s(o);
  faceapp_web::routes routes{s, {"", {"127.0.0.1"}, {}, 20}};
  // obama_1.jpg's face (108 px wide) scaled to about 35 px: the detector's box is then under the gate's 40 px.
  const auto bytes = faceapp::test::data_bytes("faces/obama_1.jpg");
  const cv::Mat img = cv::imdecode(std::vector<unsigned char>(bytes.begin(), bytes.end()), cv::IMREAD_COLOR);
  cv::Mat small;
  cv::resize(img, small, cv::Size(), 35.0 / 108, 35.0 / 108, cv::INTER_AREA);
  std::vector<unsigned char> png;
  cv::imencode(".png", small, png);

  faceapp_web::http::request req;
  req.method = "POST";
  req.path = "/api/cluster";
  req.headers = {{"Host", "127.0.0.1"}};
  req.content_type = "multipart/form-data";
  req.form_parsed = true;
  const auto part = [](std::string name, std::string content) {
    faceapp_web::http::form_part p;
    p.filename = std::move(name);
    p.has_filename = true;
    p.content = std::move(content);
    return p;
  };
  req.files = {part("deepface_p07_1.jpg", faceapp::test::data_bytes("faces/deepface_p07_1.jpg")),
               part("small.png", std::string(png.begin(), png.end())),
               part("noface_2.jpg", faceapp::test::data_bytes("faces/noface_2.jpg"))};
  faceapp_web::http::response res;
  if (auto refused = routes.check_head(req)) {
    res = *refused;
  } else {
    routes.handle(req, res);
  }
  REQUIRE(res.status == 201);
  const auto body = nlohmann::json::parse(res.body);
  CHECK(body["clusters"].size() == 1);
  CHECK(body["clusters"][0]["faces"][0]["photo"] == "deepface_p07_1.jpg");
  CHECK(body["no_face"] == nlohmann::json::array({"noface_2.jpg"}));
  REQUIRE(body["refused"].size() == 1);
  CHECK(body["refused"][0]["photo"] == "small.png");
  const auto reason = body["refused"][0]["reason"].get<std::string>();
  CAPTURE(reason);
  const std::string head = "face too small: ";
  const std::string tail = " px < 40 px";
  REQUIRE(reason.starts_with(head));
  REQUIRE(reason.ends_with(tail));
  const int side = std::stoi(reason.substr(head.size(), reason.size() - head.size() - tail.size()));
  CHECK(side >= 30);
  CHECK(side < 40);
}

TEST_CASE("a part of POST /api/cluster that is not an image is named by its place among all the parts") {
  const faceapp::test::scratch_dir dir("clusters_part_number");
  faceapp_web::service_options o;
  o.data_dir = dir.dir / "data";
  o.workers = 1;
  faceapp_web::face_service s(o);
  faceapp_web::routes routes{s, {"", {"127.0.0.1"}, {}, 20}};
  faceapp_web::http::request req;
  req.method = "POST";
  req.path = "/api/cluster";
  req.headers = {{"Host", "127.0.0.1"}};
  req.content_type = "multipart/form-data";
  req.form_parsed = true;
  const auto part = [](std::string name, std::string content) {
    faceapp_web::http::form_part p;
    p.filename = std::move(name);
    p.has_filename = !p.filename.empty();
    p.content = std::move(content);
    return p;
  };
  // An empty file input first (a browser sends one for a file field left empty): skipped, but still a part.
  req.files = {part("", ""), part("obama_1.jpg", faceapp::test::data_bytes("faces/obama_1.jpg")),
               part("notes.txt", "not an image")};
  faceapp_web::http::response res;
  if (auto refused = routes.check_head(req)) {
    res = *refused;
  } else {
    routes.handle(req, res);
  }
  CHECK(res.status == 415);
  const auto error = nlohmann::json::parse(res.body)["error"].get<std::string>();
  CAPTURE(error);
  CHECK(error.starts_with("notes.txt (photo 3): "));
  CHECK(s.pending_clusters().empty());
}
