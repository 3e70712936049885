// The route table: every path and method the pages and the API answer, and what is refused before the body.
#include <doctest/doctest.h>

#include <string>

#include "web/route_table.hpp"

using faceapp_web::match_route;
using faceapp_web::route;

namespace {

struct row {
  const char* method;
  std::string path;
  route expected;
  const char* id = "";
};

}  // namespace

TEST_CASE("each route is found for its method, and HEAD is taken wherever GET is") {
  const row table[] = {
      {"GET", "/", route::main_page},
      {"HEAD", "/", route::main_page},
      {"POST", "/faces", route::add_face_form},
      {"POST", "/faces/12/delete", route::delete_face_form, "12"},
      {"GET", "/faces/7/thumbnail.jpg", route::thumbnail, "7"},
      {"HEAD", "/faces/7/thumbnail.jpg", route::thumbnail, "7"},
      {"GET", "/faceapp", route::faceapp_page},
      {"POST", "/faceapp", route::faceapp_form},
      {"POST", "/api/compare", route::api_compare},
      {"POST", "/api/recognize", route::api_recognize},
      {"GET", "/api/records", route::api_records},
      {"POST", "/api/search", route::api_search},
      {"GET", "/api/faces", route::api_list_faces},
      {"POST", "/api/faces", route::api_add_face},
      {"DELETE", "/api/faces/3", route::api_delete_face, "3"},
      // the id is any one path segment: checked by the handler, not here
      {"DELETE", "/api/faces/abc", route::api_delete_face, "abc"},
  };
  for (const auto& r : table) {
    CAPTURE(r.method);
    CAPTURE(r.path);
    const auto m = match_route(r.method, r.path);
    CHECK(m.what == r.expected);
    CHECK(m.id == r.id);
  }
}

TEST_CASE("a known path with another method is a wrong method, before any body is read") {
  const row table[] = {
      {"POST", "/", route::wrong_method},
      {"DELETE", "/", route::wrong_method},
      {"GET", "/faces", route::wrong_method},
      {"GET", "/faces/1/delete", route::wrong_method},
      {"POST", "/faces/1/thumbnail.jpg", route::wrong_method},
      {"GET", "/api/compare", route::wrong_method},
      {"PUT", "/api/recognize", route::wrong_method},
      {"POST", "/api/records", route::wrong_method},
      {"GET", "/api/search", route::wrong_method},
      {"PUT", "/api/faces", route::wrong_method},
      {"GET", "/api/faces/1", route::wrong_method},
      {"PUT", "/faceapp", route::wrong_method},
  };
  for (const auto& r : table) {
    CAPTURE(r.method);
    CAPTURE(r.path);
    CHECK(match_route(r.method, r.path).what == r.expected);
  }
}

TEST_CASE("paths that only look like routes are not found") {
  const row table[] = {
      {"GET", "", route::none},
      {"GET", "/index.html", route::none},
      {"GET", "/api", route::none},
      {"GET", "/api/", route::none},
      {"GET", "/API/faces", route::none},
      {"GET", "/api/faces/", route::none},           // an empty id
      {"DELETE", "/api/faces/1/2", route::none},     // two segments
      {"POST", "/faces//delete", route::none},       // an empty id
      {"POST", "/faces/1/2/delete", route::none},
      {"GET", "/faces/thumbnail.jpg", route::none},
      {"GET", "/faceapp/", route::none},
      {"GET", std::string("/\0", 2), route::none},  // a percent-decoded NUL
      {"GET", "/%2e%2e/etc/passwd", route::none},
  };
  for (const auto& r : table) {
    CAPTURE(r.method);
    CAPTURE(r.path);
    CHECK(match_route(r.method, r.path).what == r.expected);
  }
}

TEST_CASE("the API is the paths under /api/") {
  CHECK(faceapp_web::is_api_path("/api/faces"));
  CHECK(faceapp_web::is_api_path("/api/"));
  CHECK_FALSE(faceapp_web::is_api_path("/api"));
  CHECK_FALSE(faceapp_web::is_api_path("/faces"));
  CHECK_FALSE(faceapp_web::is_api_path("/apiary/"));
}

TEST_CASE("the people routes: /api/people, {id}, {id}/faces, {id}/faces/{face}, {id}/merge") {
  struct people_row {
    const char* method;
    const char* path;
    route expected;
    const char* id;
    const char* face;
  };
  const people_row table[] = {
      {"GET", "/api/people", route::api_list_people, "", ""},
      {"HEAD", "/api/people", route::api_list_people, "", ""},
      {"POST", "/api/people", route::api_create_person, "", ""},
      {"GET", "/api/people/4", route::api_get_person, "4", ""},
      {"PATCH", "/api/people/4", route::api_rename_person, "4", ""},
      {"DELETE", "/api/people/4", route::api_delete_person, "4", ""},
      {"POST", "/api/people/4/faces", route::api_add_person_face, "4", ""},
      {"DELETE", "/api/people/4/faces/9", route::api_delete_person_face, "4", "9"},
      {"POST", "/api/people/4/merge", route::api_merge_people, "4", ""},
      {"PUT", "/api/people", route::wrong_method, "", ""},
      {"POST", "/api/people/4", route::wrong_method, "", ""},
      {"GET", "/api/people/4/faces", route::wrong_method, "", ""},
      {"POST", "/api/people/4/faces/9", route::wrong_method, "", ""},
      {"GET", "/api/people/4/merge", route::wrong_method, "", ""},
      {"GET", "/api/peoplex", route::none, "", ""},
      {"GET", "/api/people/", route::none, "", ""},
      {"GET", "/api/people//faces", route::none, "", ""},
      {"DELETE", "/api/people/4/faces/", route::none, "", ""},
      {"DELETE", "/api/people/4/faces/9/x", route::none, "", ""},
      {"POST", "/api/people/4/other", route::none, "", ""},
  };
  for (const auto& r : table) {
    CAPTURE(r.method);
    CAPTURE(r.path);
    const auto m = match_route(r.method, r.path);
    CHECK(m.what == r.expected);
    CHECK(m.id == r.id);
    CHECK(m.face == r.face);
  }
}

TEST_CASE("a person's page and its forms: /people/{id}, {id}/faces, {id}/faces/{face}/delete, rename, merge, delete") {
  struct page_row {
    const char* method;
    const char* path;
    route expected;
    const char* id;
    const char* face;
  };
  const page_row table[] = {
      {"GET", "/people/4", route::person_page, "4", ""},
      {"HEAD", "/people/4", route::person_page, "4", ""},
      {"POST", "/people/4/faces", route::person_add_face_form, "4", ""},
      {"POST", "/people/4/faces/9/delete", route::person_delete_face_form, "4", "9"},
      {"POST", "/people/4/rename", route::person_rename_form, "4", ""},
      {"POST", "/people/4/merge", route::person_merge_form, "4", ""},
      {"POST", "/people/4/delete", route::person_delete_form, "4", ""},
      {"GET", "/people/x", route::person_page, "x", ""},  // not a number: the handler's 404
      {"POST", "/people/4", route::wrong_method, "", ""},
      {"GET", "/people/4/rename", route::wrong_method, "", ""},
      {"GET", "/people/4/faces/9/delete", route::wrong_method, "", ""},
      {"GET", "/people", route::none, "", ""},
      {"GET", "/people/", route::none, "", ""},
      {"GET", "/peoplex/4", route::none, "", ""},
      {"POST", "/people//rename", route::none, "", ""},
      {"POST", "/people/4/faces/9", route::none, "", ""},
      {"POST", "/people/4/faces/9/delete/x", route::none, "", ""},
      {"POST", "/people/4/other", route::none, "", ""},
  };
  for (const auto& r : table) {
    CAPTURE(r.method);
    CAPTURE(r.path);
    const auto m = match_route(r.method, r.path);
    CHECK(m.what == r.expected);
    CHECK(m.id == r.id);
    CHECK(m.face == r.face);
  }
}

TEST_CASE("the cluster routes: /api/cluster, /api/clusters, {id}, {id}/enrol, and the page /clusters with its forms") {
  const row table[] = {
      {"POST", "/api/cluster", route::api_cluster},
      {"GET", "/api/cluster", route::wrong_method},
      {"GET", "/api/clusters", route::api_list_clusters},
      {"HEAD", "/api/clusters", route::api_list_clusters},
      {"POST", "/api/clusters", route::wrong_method},
      {"GET", "/api/clusters/5", route::api_get_cluster, "5"},
      {"DELETE", "/api/clusters/5", route::api_delete_cluster, "5"},
      {"PATCH", "/api/clusters/5", route::wrong_method},
      {"POST", "/api/clusters/5/enrol", route::api_enrol_cluster, "5"},
      {"GET", "/api/clusters/5/enrol", route::wrong_method},
      {"GET", "/clusters", route::clusters_page},
      {"HEAD", "/clusters", route::clusters_page},
      {"POST", "/clusters", route::clusters_upload_form},
      {"PUT", "/clusters", route::wrong_method},
      {"POST", "/clusters/7/enrol", route::cluster_enrol_form, "7"},
      {"POST", "/clusters/7/delete", route::cluster_delete_form, "7"},
      {"GET", "/clusters/7/delete", route::wrong_method},
      // not routes: an empty id, extra segments, other suffixes
      {"GET", "/api/clusters/", route::none},
      {"POST", "/api/clusters//enrol", route::none},
      {"POST", "/api/clusters/5/enrol/x", route::none},
      {"POST", "/api/clusters/5/other", route::none},
      {"GET", "/api/clustersx", route::none},
      {"GET", "/clusters/", route::none},
      {"GET", "/clusters/7", route::none},
      {"POST", "/clusters//enrol", route::none},
      {"POST", "/clusters/7/enrol/x", route::none},
  };
  for (const auto& r : table) {
    CAPTURE(r.method);
    CAPTURE(r.path);
    const auto m = match_route(r.method, r.path);
    CHECK(m.what == r.expected);
    CHECK(m.id == r.id);
  }
}
