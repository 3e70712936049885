// The one mapping from the service's errors to HTTP statuses, and the answers the routes give for them: the
// status docs/web.md documents for each kind of error, in JSON for the API and in a page for the forms.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "service/service.hpp"
#include "test_data.hpp"
#include "web/routes.hpp"
#include "web/status.hpp"

using faceapp_web::errc;
using faceapp_web::http_status;

TEST_CASE("each service error has the status docs/web.md gives it") {
  const std::pair<errc, int> table[] = {
      {errc::bad_input, 400}, {errc::too_large, 413}, {errc::unsupported, 415}, {errc::not_found, 404},
      {errc::unavailable, 503}, {errc::no_space, 507}, {errc::internal, 500},
  };
  for (const auto& [code, status] : table) {
    CAPTURE(faceapp_web::to_string(code));
    CHECK(http_status(code) == status);
  }
  CHECK(http_status(faceapp_web::unavailable_error("away").code) == 503);
}

namespace {

/// A service on an empty SQLite store in a scratch folder, and its routes, without the models (nothing here
/// decodes an image).
struct fixture {
  faceapp::test::scratch_dir dir{"web_unit_errors"};
  faceapp_web::face_service service{[&] {
    faceapp_web::service_options o;
    o.data_dir = dir.dir / "data";
    o.workers = 1;
    return o;
  }()};
  faceapp_web::routes routes{service, {"", {"127.0.0.1"}, {}, 20}};

  /// The answer to a request, through the head check (as the server runs it) and the handler.
  faceapp_web::http::response answer(faceapp_web::http::request req) {
    if (auto refused = routes.check_head(req)) return *refused;
    faceapp_web::http::response res;
    routes.handle(req, res);
    return res;
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

std::string error_of(const faceapp_web::http::response& r) {
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : std::string();
}

}  // namespace

TEST_CASE("the API answers a service's errors with their status and a JSON message") {
  fixture f;
  SUBCASE("no such face: 404") {
    faceapp_web::http::request r = get("/api/faces/41");
    r.method = "DELETE";
    const auto res = f.answer(r);
    CHECK(res.status == 404);
    CHECK(res.content_type == "application/json");
    CHECK(error_of(res).find("41") != std::string::npos);
  }
  SUBCASE("an id that is not a number: 404") {
    faceapp_web::http::request r = get("/api/faces/x1");
    r.method = "DELETE";
    CHECK(f.answer(r).status == 404);
  }
  SUBCASE("limit at, below and above its maximum of 1000") {
    CHECK(f.answer(get("/api/faces", {{"limit", "999"}})).status == 200);
    CHECK(f.answer(get("/api/faces", {{"limit", "1000"}})).status == 200);
    const auto above = f.answer(get("/api/faces", {{"limit", "1001"}}));
    CHECK(above.status == 400);
    CHECK(error_of(above).find("limit") != std::string::npos);
    CHECK(f.answer(get("/api/faces", {{"limit", "-1"}})).status == 400);
    CHECK(f.answer(get("/api/faces", {{"offset", "ten"}})).status == 400);
  }
  SUBCASE("an upload that is not multipart: 415") {
    faceapp_web::http::request r = get("/api/recognize");
    r.method = "POST";
    CHECK(f.answer(r).status == 415);
  }
  SUBCASE("a missing image: 400") {
    faceapp_web::http::request r = get("/api/recognize");
    r.method = "POST";
    r.content_type = "multipart/form-data";
    r.form_parsed = true;
    const auto res = f.answer(r);
    CHECK(res.status == 400);
    CHECK(error_of(res).find("image") != std::string::npos);
  }
  SUBCASE("a file that is not an image: 415") {
    faceapp_web::http::request r = get("/api/recognize");
    r.method = "POST";
    r.content_type = "multipart/form-data";
    r.form_parsed = true;
    r.form["image"] = {"notes.txt", true, "just some text"};
    CHECK(f.answer(r).status == 415);
  }
  SUBCASE("a tolerance out of range: 400") {
    faceapp_web::http::request r = get("/api/compare");
    r.method = "POST";
    r.content_type = "multipart/form-data";
    r.form_parsed = true;
    r.form["tolerance"] = {"", false, "1.5"};
    CHECK(f.answer(r).status == 400);
  }
  SUBCASE("unknown path and wrong method, before the body") {
    faceapp_web::http::request r = get("/api/nothing");
    CHECK(f.routes.check_head(r)->status == 404);
    r = get("/api/compare");
    CHECK(f.routes.check_head(r)->status == 405);
  }
}

TEST_CASE("the forms answer the same errors with the same statuses, as pages") {
  fixture f;
  faceapp_web::http::request r = get("/faces");
  r.method = "POST";
  r.content_type = "multipart/form-data";
  r.form_parsed = true;
  r.form["name"] = {"", false, std::string(101, 'n')};
  r.form["image"] = {"a.jpg", true, "\xFF\xD8\xFF"};
  const auto res = f.answer(r);
  CHECK(res.status == 400);
  CHECK(res.content_type.rfind("text/html", 0) == 0);
  CHECK(res.body.find("101 bytes") != std::string::npos);

  faceapp_web::http::request del = get("/faces/9/delete");
  del.method = "POST";
  CHECK(f.answer(del).status == 404);
  CHECK(f.answer(get("/faces/9/thumbnail.jpg")).status == 404);
}

TEST_CASE("the records answer is the CSV header alone before any record, streamed") {
  fixture f;
  const auto res = f.answer(get("/api/records"));
  CHECK(res.status == 200);
  CHECK(res.body.empty());  // written as it is read, not built first
  REQUIRE(res.stream);
  std::string body;
  res.stream([&](std::string_view piece) { body += piece; });
  CHECK(body == std::string(faceapp::csv_sink::header) + "\n");
  CHECK(f.answer(get("/api/records", {{"since", "soon"}})).status == 400);
}
