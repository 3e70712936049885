// faceapp-web's web layer: what each route answers (see routes.hpp).
#include "web/routes.hpp"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "web/json.hpp"
#include "web/route_support.hpp"
#include "web/pages.hpp"
#include "web/search_request.hpp"
#include "web/status.hpp"

namespace faceapp_web {

std::optional<http::response> routes::check_head(http::request& req) const {
  auto m = match_route(req.method, req.path);  // first, so that /metrics counts a refusal under its route
  if (m.what != route::none && m.what != route::wrong_method) req.route = m;
  if (auto refused = security_.check_head(req)) {
    auto r = json::answer({{"error", refused->message}}, refused->status);
    if (refused->ask_for_password) r.set_header("WWW-Authenticate", "Basic realm=\"faceapp\", charset=\"UTF-8\"");
    if (refused->retry_after_s > 0) r.set_header("Retry-After", std::to_string(refused->retry_after_s));
    return r;
  }
  if (m.what == route::none) return error_answer(req, 404, "not found: " + req.path);
  if (m.what == route::wrong_method) return error_answer(req, 405, "method not allowed");
  if (is_cluster_upload(m.what)) {  // its photos are counted as they arrive (http/server.hpp)
    req.repeated_file_field = "image";
    req.max_files = o_.max_cluster_photos;
    req.too_many_files = "more than " + std::to_string(o_.max_cluster_photos) +
                         " photos in one request (the limit, --max-cluster-photos)";
  }
  return std::nullopt;
}

http::response routes::error_answer(const http::request& req, int status, const std::string& message) const {
  if (is_api_path(req.path)) return json::answer({{"error", message}}, status);
  return html_answer(pages::error_page(o_, status, message), status);
}

void routes::handle(const http::request& req, http::response& res) {
  const auto* m = std::any_cast<matched>(&req.route);
  if (m == nullptr) {  // no head check ran: nothing was matched
    res = error_answer(req, 404, "not found: " + req.path);
    return;
  }
  switch (m->what) {
    case route::main_page: return main_page(req, res);
    case route::add_face_form: return add_face_form(req, res);
    case route::delete_face_form: return delete_face_form(req, res, m->id);
    case route::thumbnail: return thumbnail(req, res, m->id);
    case route::faceapp_page: return faceapp_page(req, res);
    case route::faceapp_form: return faceapp_form(req, res);
    case route::api_compare: return api(req, res, [&] { api_compare(req, res); });
    case route::api_add_face: return api(req, res, [&] { api_add_face(req, res); });
    case route::api_list_faces: return api(req, res, [&] { api_list_faces(req, res); });
    case route::api_delete_face: return api(req, res, [&] { api_delete_face(res, m->id); });
    case route::api_recognize: return api(req, res, [&] { api_recognize(req, res); });
    case route::api_records: return api(req, res, [&] { api_records(req, res); });
    case route::api_search: return api(req, res, [&] { api_search(req, res); });
    case route::healthz: res = {200, "text/plain; charset=utf-8", "ok\n", {}}; return;
    case route::readyz: return readyz(res);
    case route::metrics: res = {200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render(s_), {}}; return;
    case route::api_list_people:
    case route::api_create_person:
    case route::api_get_person:
    case route::api_rename_person:
    case route::api_delete_person:
    case route::api_add_person_face:
    case route::api_delete_person_face:
    case route::api_merge_people: return api(req, res, [&] { people_api(req, res, *m); });
    case route::person_page: return person_page(req, res, *m);
    case route::person_add_face_form:
    case route::person_delete_face_form:
    case route::person_rename_form:
    case route::person_merge_form:
    case route::person_delete_form: return person_form(req, res, *m);
    case route::api_cluster:
    case route::api_list_clusters:
    case route::api_get_cluster:
    case route::api_delete_cluster:
    case route::api_enrol_cluster: return cluster_api(req, res, *m);
    case route::clusters_page: return clusters_page(req, res);
    case route::clusters_upload_form:
    case route::cluster_enrol_form:
    case route::cluster_delete_form: return cluster_form(req, res, *m);
    case route::none: res = error_answer(req, 404, "not found: " + req.path); return;
    case route::wrong_method: res = error_answer(req, 405, "method not allowed"); return;
  }
}

// ---- pages ----

void routes::page(const http::request& req, http::response& res, std::string html, int status) const {
  http::response out = html_answer({}, status);
  const auto token = security::session_token(req, out);
  out.body = pages::with_csrf_fields(std::move(html), token);
  res = std::move(out);
}

bool routes::refuse_without_token(const http::request& req, http::response& res) const {
  if (security::csrf_ok(req)) return false;
  res = error_answer(req, 403, "the form's security token is missing or stale: reload the page and try again");
  return true;
}

/// Runs an API handler: a service error -> its status and {"error": ...}; anything else -> 500 and a log line.
template <class F>
void routes::api(const http::request& req, http::response& res, F f) const {
  try {
    f();
  } catch (const std::exception& e) {
    const auto [status, message] = status_of(e, req);
    res = json::answer({{"error", message}}, status);
  }
}

void routes::main_page(const http::request& req, http::response& res) const {
  std::string message;
  try {
    if (const auto added = req.query.find("added"); added != req.query.end()) {
      if (const auto id = parse_id(added->second)) {
        if (const auto p = s_.find(*id)) message = "Remembered " + p->name + ".";
      }
    } else if (req.query.count("deleted") != 0) {
      message = "Deleted.";
    }
    page(req, res,
         pages::main_page(o_, s_.search_persons(query_value(req, "q"), query_value(req, "page")), message, false));
  } catch (const unavailable_error& e) {  // the list comes from the database
    const auto [status, message] = status_of(e, req);
    page(req, res, pages::main_page(o_, {}, message, true), status);
  }
}

/// The main page's first page of people for an error answer: empty when the database is away, so that the
/// error itself can still be shown.
persons_listing routes::first_page_or_empty() const {
  try {
    return s_.search_persons("", "");
  } catch (const unavailable_error&) {
    return {};
  }
}

void routes::add_face_form(const http::request& req, http::response& res) {
  if (refuse_without_token(req, res)) return;
  try {
    require_multipart(req);
    auto name = check_person_name(text_field(req, "name"));
    auto image = image_field(req, "image", true);
    const auto p = s_.add_face(std::move(name), std::move(*image));
    res = html_answer("", 303);
    res.set_header("Location", "/?added=" + std::to_string(p.id));
  } catch (const std::exception& e) {
    const auto [status, message] = status_of(e, req);
    page(req, res, pages::main_page(o_, first_page_or_empty(), message, true), status);
  }
}

void routes::delete_face_form(const http::request& req, http::response& res, const std::string& id_text) {
  if (refuse_without_token(req, res)) return;
  const auto id = parse_id(id_text);
  try {
    if (!id || !s_.remove(*id)) {
      page(req, res, pages::main_page(o_, first_page_or_empty(), "No such face (already deleted?)", true),
           http_status(errc::not_found));
      return;
    }
  } catch (const unavailable_error& e) {  // the database is away: nothing was deleted
    const auto [status, message] = status_of(e, req);
    page(req, res, pages::main_page(o_, {}, message, true), status);
    return;
  }
  res = html_answer("", 303);
  res.set_header("Location", "/?deleted=1");
}

/// Read from the database when asked. A face's thumbnail never changes and ids are never reused, so the id is a
/// strong validator.
void routes::thumbnail(const http::request& req, http::response& res, const std::string& id_text) const {
  const auto id = parse_id(id_text);
  auto jpeg = id ? s_.thumbnail(*id) : std::nullopt;
  if (!jpeg) {
    const int status = http_status(errc::not_found);
    res = html_answer(pages::error_page(o_, status, "no such face"), status);
    return;
  }
  const std::string etag = "\"face-" + std::to_string(*id) + "\"";
  if (const auto* match = req.header("If-None-Match"); match != nullptr && match->find(etag) != std::string::npos) {
    res = {304, "image/jpeg", "", security::thumbnail_headers(etag)};
    return;
  }
  res = {200, "image/jpeg", std::move(*jpeg), security::thumbnail_headers(etag)};
}

void routes::faceapp_page(const http::request& req, http::response& res) const {
  page(req, res, pages::faceapp_page(o_, faceapp::default_tolerance, "", "", false));
}

void routes::faceapp_form(const http::request& req, http::response& res) {
  if (refuse_without_token(req, res)) return;
  float tolerance = faceapp::default_tolerance;
  try {
    require_multipart(req);
    tolerance = parse_tolerance(text_field(req, "tolerance"));
    auto first = image_field(req, "a", true);
    auto second = image_field(req, "b", false);
    std::string result;
    if (second) {
      const auto name_a = first->file_name;
      const auto name_b = second->file_name;
      const auto c = s_.compare(std::move(*first), std::move(*second), tolerance, true);
      result = pages::comparison_result(c, name_a, name_b);
    } else {
      const auto size = s_.gallery_size();
      result = pages::recognition_result(s_.recognize(std::move(*first), tolerance, true), size);
    }
    page(req, res, pages::faceapp_page(o_, tolerance, result, "", false));
  } catch (const std::exception& e) {
    const auto [status, message] = status_of(e, req);
    page(req, res, pages::faceapp_page(o_, tolerance, "", message, true), status);
  }
}

// ---- API ----

void routes::api_compare(const http::request& req, http::response& res) {
  require_multipart(req);
  const float tolerance = parse_tolerance(text_field(req, "tolerance"));
  auto first = image_field(req, "a", true);
  auto second = image_field(req, "b", true);
  const auto c = s_.compare(std::move(*first), std::move(*second), tolerance);
  res = json::answer({{"distance", json::optional_number(c.distance)},
                      {"match", c.match},
                      {"similarity", json::optional_number(c.similarity)},
                      {"faces_a", c.a.faces.size()},
                      {"faces_b", c.b.faces.size()},
                      {"faces_found_a", c.a.found},
                      {"faces_found_b", c.b.found}});
}

void routes::api_add_face(const http::request& req, http::response& res) {
  require_multipart(req);
  if (req.form.count("name") == 0) throw service_error(errc::bad_input, "missing field 'name'");
  auto name = check_person_name(text_field(req, "name"));
  auto image = image_field(req, "image", true);
  res = json::answer(json::person(s_.add_face(std::move(name), std::move(*image))), 201);
}

void routes::api_list_faces(const http::request& req, http::response& res) const {
  const auto offset = parse_count(query_value(req, "offset"), "offset", 0, std::uint64_t{1} << 62);
  const auto limit = parse_count(query_value(req, "limit"), "limit", api_faces_default_limit, api_faces_max_limit);
  const auto after = keyset_after(req, offset);
  const auto page = after ? s_.list_after(*after, limit) : s_.list(offset, limit);
  nlohmann::json faces = nlohmann::json::array();
  for (const auto& p : page.people) faces.push_back(json::person(p));
  nlohmann::json answer = {{"faces", std::move(faces)}, {"total", page.total}, {"limit", limit}, {"next", nullptr}};
  if (page.next) answer["next"] = *page.next;
  if (after) answer["after"] = *after; else answer["offset"] = offset;
  res = json::answer(std::move(answer));
}

void routes::api_delete_face(http::response& res, const std::string& id_text) {
  const auto id = parse_id(id_text);
  if (!id || !s_.remove(*id)) throw service_error(errc::not_found, "no face with id " + id_text);
  res = json::answer({{"deleted", *id}});
}

void routes::api_recognize(const http::request& req, http::response& res) {
  require_multipart(req);
  const float tolerance = parse_tolerance(text_field(req, "tolerance"));
  auto image = image_field(req, "image", true);
  const auto r = s_.recognize(std::move(*image), tolerance);
  nlohmann::json faces = nlohmann::json::array();
  for (const auto& f : r.faces) {
    const bool known = f.match.value_or(false);
    faces.push_back({{"box", json::box(f.box)},
                     {"name", known ? nlohmann::json(f.name) : nlohmann::json(nullptr)},
                     {"distance", json::optional_number(f.distance)},
                     {"similarity", f.distance ? nlohmann::json(faceapp::similarity_percent(*f.distance, tolerance))
                                               : nlohmann::json(nullptr)}});
  }
  res = json::answer({{"faces", std::move(faces)}, {"faces_found", r.photo.found}, {"faces_used", r.faces.size()}});
}

void routes::answered(const http::request& req, int status, std::chrono::steady_clock::duration took, bool handled) {
  const auto* m = std::any_cast<matched>(&req.route);
  metrics_.observe(route_name(m != nullptr ? m->what : route::none), req.method, status, took, handled);
}

/// Ready: the store answers and the gallery is within --max-staleness of it; else 503 with why.
void routes::readyz(http::response& res) const {
  if (const auto why = s_.not_ready()) {
    res = {http_status(errc::unavailable), "text/plain; charset=utf-8", *why + "\n", {}};
    return;
  }
  res = {200, "text/plain; charset=utf-8", "ready\n", {}};
}

/// Streamed as it is read, never whole in memory; HEAD answers the head without reading the records.
void routes::api_records(const http::request& req, http::response& res) const {
  std::string since;
  if (const auto it = req.query.find("since"); it != req.query.end()) since = parse_since(it->second);
  s_.check_records_reachable();  // a database that is away: 503, before the head says 200
  res = {200, "text/csv; charset=utf-8", "", {}};
  res.stream = [this, since](const std::function<void(std::string_view)>& write) { s_.records(since, write); };
}

// ---- search by encoding ----

/// POST /api/search: {"encodings": [[128 numbers], ...], "k": 1} -> {"results": [[{"id", "name", "distance"},
/// ...], ...]}, one list per encoding, nearest first.
void routes::api_search(const http::request& req, http::response& res) {
  if (req.content_type != "application/json") {
    throw service_error(errc::unsupported, "send the search as application/json: {\"encodings\": [[128 numbers], "
                                           "...], \"k\": 1}");
  }
  auto q = parse_search_request(req.body, o_);
  const auto found = s_.search_encodings(std::move(q.encodings), q.k);
  nlohmann::json results = nlohmann::json::array();
  for (const auto& hits : found) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& h : hits) {
      list.push_back({{"id", h.id}, {"name", h.name}, {"distance", static_cast<double>(h.distance)}});
    }
    results.push_back(std::move(list));
  }
  res = json::answer({{"results", std::move(results)}});
}

// ---- API: people ----

namespace {

/// The JSON object a request's body holds; unsupported when it is not application/json, bad_input when it is not
/// an object.
nlohmann::json json_object(const http::request& req) {
  if (req.content_type != "application/json") {
    throw service_error(errc::unsupported, "send the fields as a JSON object (Content-Type: application/json)");
  }
  auto j = nlohmann::json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw service_error(errc::bad_input, "the body is not a JSON object");
  return j;
}

/// The string member `name` of a JSON object; bad_input when it is missing or not a string.
std::string json_string(const nlohmann::json& j, const std::string& name) {
  const auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    throw service_error(errc::bad_input, "missing field '" + name + "' (a string)");
  }
  return it->get<std::string>();
}

/// A person's or face's id from the path; not_found when it is not a number (there is no such one).
std::uint64_t path_id(const std::string& text, const char* what) {
  const auto id = parse_id(text);
  if (!id) throw service_error(errc::not_found, std::string("no ") + what + " with id " + text);
  return *id;
}

}  // namespace

void routes::api_list_people(const http::request& req, http::response& res) const {
  const auto offset = parse_count(query_value(req, "offset"), "offset", 0, std::uint64_t{1} << 62);
  const auto limit = parse_count(query_value(req, "limit"), "limit", api_faces_default_limit, api_faces_max_limit);
  const auto after = keyset_after(req, offset);
  const auto page = after ? s_.list_persons_after(query_value(req, "q"), *after, limit)
                          : s_.list_persons(query_value(req, "q"), offset, limit);
  nlohmann::json people = nlohmann::json::array();
  for (const auto& p : page.people) people.push_back(json::person_summary(p));
  nlohmann::json answer = {{"people", std::move(people)}, {"total", page.total}, {"count_capped", page.total_capped},
                           {"limit", limit}, {"next", nullptr}};
  if (page.next) answer["next"] = *page.next;
  if (after) answer["after"] = *after; else answer["offset"] = offset;
  res = json::answer(std::move(answer));
}

void routes::people_api(const http::request& req, http::response& res, const matched& m) {
  switch (m.what) {
    case route::api_list_people: return api_list_people(req, res);
    case route::api_create_person: {
      const auto p = s_.create_person(json_string(json_object(req), "name"));
      res = json::answer({{"id", p.id}, {"name", p.name}}, 201);
      return;
    }
    case route::api_get_person:
      res = json::answer(json::person_detail(s_.find_person(path_id(m.id, "person"))));
      return;
    case route::api_rename_person: {
      const auto id = path_id(m.id, "person");
      res = json::answer(json::person_detail(s_.rename_person(id, json_string(json_object(req), "name"))));
      return;
    }
    case route::api_delete_person: {
      const auto id = path_id(m.id, "person");
      s_.remove_person(id);
      res = json::answer({{"deleted", id}});
      return;
    }
    case route::api_add_person_face: {
      const auto id = path_id(m.id, "person");
      require_multipart(req);
      res = json::answer(json::person(s_.add_person_face(id, std::move(*image_field(req, "image", true)))), 201);
      return;
    }
    case route::api_delete_person_face: {
      const auto id = path_id(m.id, "person");
      const auto face = path_id(m.face, "face");
      s_.remove_person_face(id, face);
      res = json::answer({{"deleted", face}});
      return;
    }
    case route::api_merge_people: {
      const auto id = path_id(m.id, "person");
      const auto body = json_object(req);
      const auto from = body.find("from");
      if (from == body.end() || !from->is_number_unsigned()) {
        throw service_error(errc::bad_input, "missing field 'from' (the id of the person to merge into this one)");
      }
      res = json::answer(json::person_detail(s_.merge_persons(id, from->get<std::uint64_t>())));
      return;
    }
    default: throw service_error(errc::internal, "not a people route");
  }
}

}  // namespace faceapp_web
