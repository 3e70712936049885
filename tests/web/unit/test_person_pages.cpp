// The people pages through the routes, on an SQLite store in a scratch folder, mostly with made-up encodings (the
// models read one photo, for the quality gate's refusal; the browser test adds more): the main page's thumbnails
// per person at the limit of 6, names escaped, and each form of a person's page: its 303, its errors and their
// statuses, a 404 for a person that does not exist.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "service/service.hpp"
#include "test_data.hpp"
#include "web/routes.hpp"

namespace {

struct fixture {
  faceapp::test::scratch_dir dir{"web_unit_person_pages"};
  faceapp_web::face_service service{[&] {
    faceapp_web::service_options o;
    o.data_dir = dir.dir / "data";
    o.workers = 1;
    return o;
  }()};
  faceapp_web::routes routes{service, {"", {"127.0.0.1"}, {}, 20}};
  std::mt19937 rng{3};

  faceapp_web::http::response answer(faceapp_web::http::request req) {
    if (auto refused = routes.check_head(req)) return *refused;
    faceapp_web::http::response res;
    routes.handle(req, res);
    return res;
  }

  /// A face of the person of that name (created when there is none), with a thumbnail unless `thumbnail` is false.
  faceapp_web::person face(const std::string& name, bool thumbnail = true) {
    std::normal_distribution<float> dist(0.0F, 0.09F);
    faceapp::encoding e;
    for (auto& v : e) v = dist(rng);
    return service.store().add(name, e, "test", faceapp::box{0, 50, 50, 0}, thumbnail ? "jpeg bytes" : "");
  }
};

faceapp_web::http::request get(std::string path, std::map<std::string, std::string> query = {}) {
  faceapp_web::http::request r;
  r.method = "GET";
  r.path = std::move(path);
  r.query = std::move(query);
  r.headers = {{"Host", "127.0.0.1"}};
  return r;
}

/// A form post as a browser without JavaScript sends it (urlencoded text fields).
faceapp_web::http::request post(std::string path, const std::map<std::string, std::string>& fields = {}) {
  auto r = get(std::move(path));
  r.method = "POST";
  r.content_type = "application/x-www-form-urlencoded";
  r.form_parsed = true;
  for (const auto& [k, v] : fields) r.form[k].content = v;
  return r;
}

/// A form post with one file, as multipart/form-data.
faceapp_web::http::request upload(std::string path, const std::string& file, std::string bytes) {
  auto r = post(std::move(path));
  r.content_type = "multipart/form-data";
  auto& part = r.form["image"];
  part.filename = file;
  part.has_filename = true;
  part.content = std::move(bytes);
  return r;
}

std::string location(const faceapp_web::http::response& r) {
  for (const auto& [k, v] : r.headers) {
    if (k == "Location") return v;
  }
  return {};
}

/// The main page's row of a person: from its <li> to the next </li>.
std::string row_of(const std::string& page, std::uint64_t person) {
  const auto at = page.find("<li data-id=\"" + std::to_string(person) + "\"");
  REQUIRE(at != std::string::npos);
  return page.substr(at, page.find("</li>", at) - at);
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the main page lists people: a link to each, the face count, at most 6 thumbnails and then '+N more'") {
  fixture f;
  std::map<int, std::uint64_t> person;  // faces -> person id
  for (const int n : {1, 5, 6, 7, 9}) {
    for (int i = 0; i < n; ++i) person[n] = f.face("has " + std::to_string(n)).person_id;
  }
  const auto imported = f.face("imported", false).person_id;
  const auto page = f.answer(get("/"));
  REQUIRE(page.status == 200);
  CHECK(page.body.find("Known people (6)") != std::string::npos);
  for (const auto& [n, id] : person) {
    CAPTURE(n);
    const auto row = row_of(page.body, id);
    CHECK(count(row, "<img ") == static_cast<std::size_t>(std::min(n, 6)));
    CHECK(count(row, "href=\"/people/" + std::to_string(id) + "\"") == 2);  // the name and the thumbnails
    CHECK(row.find(std::to_string(n) + (n == 1 ? " face<" : " faces<")) != std::string::npos);
    const bool more = row.find("more</span>") != std::string::npos;
    CHECK(more == (n > 6));  // 5 and 6: none; 7: "+1 more"
    if (n > 6) CHECK(row.find("+" + std::to_string(n - 6) + " more") != std::string::npos);
  }
  const auto row = row_of(page.body, imported);
  CHECK(count(row, "class=\"nothumb\"") == 1);
  CHECK(row.find("<img") == std::string::npos);
}

TEST_CASE("names are escaped on the main page and on a person's page") {
  fixture f;
  const auto id = f.face("<b>\"Bob\" & co</b>").person_id;
  for (const auto& path : {std::string("/"), "/people/" + std::to_string(id)}) {
    CAPTURE(path);
    const auto r = f.answer(get(path));
    CHECK(r.status == 200);
    CHECK(r.body.find("<b>") == std::string::npos);
    CHECK(r.body.find("&lt;b&gt;&quot;Bob&quot; &amp; co&lt;/b&gt;") != std::string::npos);
  }
}

TEST_CASE("a person's page and its forms: 303 to the resulting page, errors shown with their status, 404s") {
  fixture f;
  const auto a = f.face("ann");
  const auto a2 = f.face("ann");
  const auto b = f.face("bea");
  const auto base = "/people/" + std::to_string(a.person_id);

  const auto page = f.answer(get(base));
  REQUIRE(page.status == 200);
  const auto heading = "<h1 id=\"person\" data-id=\"" + std::to_string(a.person_id) + "\">ann</h1>";
  CHECK(page.body.find(heading) != std::string::npos);
  CHECK(page.body.find("2 faces") != std::string::npos);
  CHECK(count(page.body, "aria-label=\"Remove face ") == 2);
  CHECK(f.answer(get(base, {{"done", "renamed"}})).body.find("Renamed.") != std::string::npos);
  for (const char* missing : {"/people/999", "/people/x", "/people/18446744073709551616"}) {
    CAPTURE(missing);
    const auto r = f.answer(get(missing));
    CHECK(r.status == 404);
    CHECK(r.body.find("Error 404") != std::string::npos);
  }

  SUBCASE("rename") {
    auto r = f.answer(post(base + "/rename", {{"name", "  "}}));
    CHECK(r.status == 400);
    CHECK(r.body.find("class=\"message error\"") != std::string::npos);
    CHECK(f.service.find_person(a.person_id).name == "ann");
    r = f.answer(post(base + "/rename", {{"name", "anna"}}));
    CHECK(r.status == 303);
    CHECK(location(r) == base + "?done=renamed");
    CHECK(f.service.find_person(a.person_id).name == "anna");
    CHECK(f.answer(post("/people/999/rename", {{"name", "x"}})).status == 404);
  }
  SUBCASE("merge: by id or by the one other person of that name; several of that name are refused with their ids") {
    const auto twin1 = f.face("twin").person_id;
    const auto twin2 = f.service.create_person("twin").id;
    auto r = f.answer(post(base + "/merge", {{"from", "twin"}}));
    CHECK(r.status == 400);
    CHECK(r.body.find("2 people are named &#39;twin&#39; (ids " + std::to_string(twin1) + ", " +
                      std::to_string(twin2) + ")") != std::string::npos);
    r = f.answer(post(base + "/merge", {{"from", std::to_string(twin1)}}));
    CHECK(r.status == 303);
    CHECK(location(r) == base + "?done=merged");
    CHECK(f.service.find_person(a.person_id).faces.size() == 3);
    r = f.answer(post(base + "/merge", {{"from", " bea "}}));  // the one person named bea, the name trimmed
    CHECK(r.status == 303);
    CHECK(f.service.find_person(a.person_id).faces.size() == 4);
    CHECK(f.answer(get("/people/" + std::to_string(b.person_id))).status == 404);
    r = f.answer(post(base + "/merge", {{"from", "bea"}}));
    CHECK(r.status == 404);
    CHECK(r.body.find("nobody else is named &#39;bea&#39;") != std::string::npos);
    CHECK(r.body.find("4 faces") != std::string::npos);  // the person's page, with the error
    CHECK(f.answer(post(base + "/merge", {{"from", std::to_string(a.person_id)}})).status == 400);  // itself
    CHECK(f.answer(post(base + "/merge", {{"from", ""}})).status == 400);
    CHECK(f.answer(post(base + "/merge", {{"from", "999"}})).status == 404);
  }
  SUBCASE("remove a face: only through its own person") {
    const auto other = "/people/" + std::to_string(b.person_id) + "/faces/" + std::to_string(a.id) + "/delete";
    auto r = f.answer(post(other));
    CHECK(r.status == 404);
    CHECK(f.service.find_person(a.person_id).faces.size() == 2);
    r = f.answer(post(base + "/faces/" + std::to_string(a2.id) + "/delete"));
    CHECK(r.status == 303);
    CHECK(location(r) == base + "?done=removed");
    CHECK(f.service.find_person(a.person_id).faces.size() == 1);
    CHECK(f.answer(post(base + "/faces/" + std::to_string(a2.id) + "/delete")).status == 404);
    CHECK(f.answer(post(base + "/faces/x/delete")).status == 404);
  }
  SUBCASE("add a photo: a face too small for the quality gate is refused on the person's page, with the reason") {
    // obama_1.jpg's face (108 px wide) scaled to about 35 px: the detector's box is 37 px (test_people.cpp)
    const cv::Mat img = cv::imread(faceapp::test::data_file("faces/obama_1.jpg").string(), cv::IMREAD_COLOR);
    cv::Mat small;
    cv::resize(img, small, cv::Size(), 35.0 / 108, 35.0 / 108, cv::INTER_AREA);
    std::vector<std::uint8_t> png;
    cv::imencode(".png", small, png);
    auto r = f.answer(upload(base + "/faces", "small.png", std::string(png.begin(), png.end())));
    CHECK(r.status == 400);
    CHECK(r.body.find("role=\"alert\">quality: small.png: face too small: ") != std::string::npos);
    CHECK(r.body.find("2 faces") != std::string::npos);
    r = f.answer(upload(base + "/faces", "obama_1.jpg", faceapp::test::data_bytes("faces/obama_1.jpg")));
    CHECK(r.status == 303);
    CHECK(location(r) == base + "?done=added");
    CHECK(f.service.find_person(a.person_id).faces.size() == 3);
  }
  SUBCASE("add a photo: a form that is not multipart is refused, on the person's page") {
    const auto r = f.answer(post(base + "/faces"));
    CHECK(r.status == 415);
    CHECK(r.body.find("multipart/form-data") != std::string::npos);
    CHECK(r.body.find("2 faces") != std::string::npos);
  }
  SUBCASE("delete: to the main page; then the person's page is a 404") {
    const auto r = f.answer(post(base + "/delete"));
    CHECK(r.status == 303);
    CHECK(location(r) == "/?deleted=1");
    CHECK(f.answer(get(base)).status == 404);
    CHECK(f.answer(post(base + "/delete")).status == 404);
    CHECK(f.service.gallery_size() == 1);  // bea's face
  }
}
