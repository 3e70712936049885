// faceapp-web's web layer: what each route answers. The head of a request passes the security layer and is
// matched once (check_head); the whole request is then handled on an HTTP handler thread (handle), which calls
// the service and turns its results into JSON or pages, and its errors into statuses (web/status.hpp).
#pragma once

#include <optional>
#include <string>

#include "http/server.hpp"
#include "service/service.hpp"
#include "web/metrics.hpp"
#include "web/route_table.hpp"
#include "web/security.hpp"

namespace faceapp_web {

/// Whether `r` uploads many photos in the repeated field `image` (POST /api/cluster, POST /clusters).
bool is_cluster_upload(route r);

class routes {
 public:
  routes(face_service& s, access_options access) : s_(s), o_(s.options()), security_(std::move(access)) {}

  /// Security and route checks on the head of a request; notes the route in `req.route` for handle(). Refusals
  /// carry JSON bodies (pages too: a browser shows them as text, and nothing from the request is echoed as HTML).
  std::optional<http::response> check_head(http::request& req) const;

  /// Answers the whole request.
  void handle(const http::request& req, http::response& res);

  /// Counts an answer for /metrics (the HTTP layer's observer).
  void answered(const http::request& req, int status, std::chrono::steady_clock::duration took, bool handled);

  /// An error: {"error": ...} for the API, a page otherwise.
  [[nodiscard]] http::response error_answer(const http::request& req, int status, const std::string& message) const;

 private:
  void page(const http::request& req, http::response& res, std::string html, int status = 200) const;
  bool refuse_without_token(const http::request& req, http::response& res) const;
  template <class F>
  void api(const http::request& req, http::response& res, F f) const;

  void main_page(const http::request& req, http::response& res) const;
  void add_face_form(const http::request& req, http::response& res);
  void delete_face_form(const http::request& req, http::response& res, const std::string& id_text);
  void thumbnail(const http::request& req, http::response& res, const std::string& id_text) const;
  void faceapp_page(const http::request& req, http::response& res) const;
  void faceapp_form(const http::request& req, http::response& res);
  void api_compare(const http::request& req, http::response& res);
  void api_add_face(const http::request& req, http::response& res);
  void api_list_faces(const http::request& req, http::response& res) const;
  void api_delete_face(http::response& res, const std::string& id_text);
  void api_recognize(const http::request& req, http::response& res);
  void api_records(const http::request& req, http::response& res) const;
  void api_search(const http::request& req, http::response& res);
  void readyz(http::response& res) const;
  // people
  void people_api(const http::request& req, http::response& res, const matched& m);
  void api_list_people(const http::request& req, http::response& res) const;
  [[nodiscard]] persons_listing first_page_or_empty() const;
  // a person's page and its forms (person_routes.cpp)
  void person_page(const http::request& req, http::response& res, const matched& m) const;
  void person_form(const http::request& req, http::response& res, const matched& m);

  // bulk enrolment by clusters (cluster_routes.cpp)
  void cluster_api(const http::request& req, http::response& res, const matched& m);
  void clusters_page(const http::request& req, http::response& res, const std::string& message = {},
                     bool error = false, int status = 200) const;
  void cluster_form(const http::request& req, http::response& res, const matched& m);

  face_service& s_;
  const service_options& o_;
  security security_;
  request_metrics metrics_;
};

}  // namespace faceapp_web
