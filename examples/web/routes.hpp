// faceapp-web: the routes (pages and JSON API) and the checks every request passes before its body is read:
// the Host is ours (DNS rebinding), the key is right (when one is set), a state change comes from our own pages
// (Origin / Sec-Fetch-Site, and a CSRF token in the forms).
#pragma once

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "app.hpp"
#include "http_server.hpp"
#include "listing.hpp"
#include "pages.hpp"
#include "util.hpp"

namespace faceapp_web {

/// Who may talk to the server.
struct access_options {
  std::string api_key;                     // empty: no authentication
  std::vector<std::string> allowed_hosts;  // names (or name:port) the Host header may carry, lower-case
};

class routes {
 public:
  routes(app& a, access_options access) : a_(a), o_(a.options()), access_(std::move(access)) {}

  // ---- answers in the right form ----

  static bool is_api(const http::request& req) { return req.path.rfind("/api/", 0) == 0; }

  /// JSON, with any invalid UTF-8 (a path of raw bytes, say) replaced rather than thrown over.
  static http::response json_answer(const nlohmann::json& body, int status = 200) {
    return {status, "application/json", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), {}};
  }

  static http::response html_answer(std::string body, int status = 200) {
    return {status, "text/html; charset=utf-8", std::move(body), {}};
  }

  /// An error: {"error": ...} for the API, a page otherwise.
  http::response error_answer(const http::request& req, int status, const std::string& message) const {
    if (is_api(req)) return json_answer({{"error", message}}, status);
    return html_answer(pages::error_page(o_, status, message), status);
  }

  // ---- before the body ----

  /// Host, key, origin and route checks on the head of a request. Refusals carry JSON bodies (pages too: a
  /// browser shows them as text, and nothing from the request is echoed as HTML).
  std::optional<http::response> check_head(const http::request& req) const {
    if (const auto* host = req.header("Host"); host != nullptr && !host_allowed(*host)) {
      return json_answer({{"error", "this server does not answer for the host name in the request (start it with "
                                    "--allowed-host NAME to add a name, e.g. behind a reverse proxy)"}},
                         421);
    }
    if (!access_.api_key.empty() && !authorized(req)) {
      auto r = json_answer({{"error", is_api(req) ? "missing or wrong API key: send it in the X-API-Key header"
                                                  : "this server needs its key: give it as the password"}},
                           401);
      if (!is_api(req)) r.set_header("WWW-Authenticate", "Basic realm=\"faceapp\", charset=\"UTF-8\"");
      return r;
    }
    const bool changes = req.method != "GET" && req.method != "HEAD";
    if (changes && !same_origin(req)) {
      return json_answer({{"error", "cross-site request refused: state-changing requests must come from this "
                                    "server's own pages (Origin / Sec-Fetch-Site)"}},
                         403);
    }
    const auto r = match(req);
    if (r.what == route::none) return error_answer(req, 404, "not found: " + req.path);
    if (r.what == route::wrong_method) return error_answer(req, 405, "method not allowed");
    return std::nullopt;
  }

  // ---- with the whole request ----

  void handle(const http::request& req, http::response& res) {
    const auto r = match(req);
    switch (r.what) {
      case route::main_page: return main_page(req, res);
      case route::add_face_form: return add_face_form(req, res);
      case route::delete_face_form: return delete_face_form(req, res, r.id);
      case route::thumbnail: return thumbnail(req, res, r.id);
      case route::faceapp_page: return faceapp_page(req, res);
      case route::faceapp_form: return faceapp_form(req, res);
      case route::api_compare: return api(req, res, [&] { api_compare(req, res); });
      case route::api_add_face: return api(req, res, [&] { api_add_face(req, res); });
      case route::api_list_faces: return api(req, res, [&] { api_list_faces(req, res); });
      case route::api_delete_face: return api(req, res, [&] { api_delete_face(res, r.id); });
      case route::api_recognize: return api(req, res, [&] { api_recognize(req, res); });
      case route::api_records: return api(req, res, [&] { api_records(res); });
      case route::none: res = error_answer(req, 404, "not found: " + req.path); return;
      case route::wrong_method: res = error_answer(req, 405, "method not allowed"); return;
    }
  }

 private:
  enum class route {
    none, wrong_method, main_page, add_face_form, delete_face_form, thumbnail, faceapp_page, faceapp_form,
    api_compare, api_add_face, api_list_faces, api_delete_face, api_recognize, api_records
  };
  struct matched {
    route what = route::none;
    std::string id;
  };

  static matched match(const http::request& req) {
    const std::string_view p = req.path;
    const bool get = req.method == "GET" || req.method == "HEAD";
    const bool post = req.method == "POST";
    const auto pick = [](bool ok, route r, std::string id = {}) {
      return ok ? matched{r, std::move(id)} : matched{route::wrong_method, {}};
    };
    // /faces/{id}/<rest> and /api/faces/{id}: the id is one path segment
    const auto segment_route = [&](std::string_view prefix, std::string_view suffix) -> std::optional<std::string> {
      if (p.size() <= prefix.size() + suffix.size() || p.substr(0, prefix.size()) != prefix ||
          p.substr(p.size() - suffix.size()) != suffix) {
        return std::nullopt;
      }
      const auto id = p.substr(prefix.size(), p.size() - prefix.size() - suffix.size());
      if (id.find('/') != std::string_view::npos) return std::nullopt;
      return std::string(id);
    };
    if (p == "/") return pick(get, route::main_page);
    if (p == "/faces") return pick(post, route::add_face_form);
    if (p == "/faceapp") return get ? matched{route::faceapp_page, {}} : pick(post, route::faceapp_form);
    if (p == "/api/compare") return pick(post, route::api_compare);
    if (p == "/api/recognize") return pick(post, route::api_recognize);
    if (p == "/api/records") return pick(get, route::api_records);
    if (p == "/api/faces") return get ? matched{route::api_list_faces, {}} : pick(post, route::api_add_face);
    if (auto id = segment_route("/faces/", "/delete")) return pick(post, route::delete_face_form, *id);
    if (auto id = segment_route("/faces/", "/thumbnail.jpg")) return pick(get, route::thumbnail, *id);
    if (auto id = segment_route("/api/faces/", "")) return pick(req.method == "DELETE", route::api_delete_face, *id);
    return {};
  }

  // ---- access checks ----

  /// "Host" without its port, lower-case; the port separately ("" when none).
  static std::pair<std::string, std::string> split_host(std::string_view host) {
    std::string h;
    for (char ch : host) h += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!h.empty() && h.front() == '[') {  // [v6]:port
      const auto close = h.find(']');
      if (close == std::string::npos) return {h, ""};
      const auto port = close + 1 < h.size() && h[close + 1] == ':' ? h.substr(close + 2) : std::string();
      return {h.substr(0, close + 1), port};
    }
    const auto colon = h.rfind(':');
    if (colon == std::string::npos || h.find(':') != colon) return {h, ""};
    return {h.substr(0, colon), h.substr(colon + 1)};
  }

  /// The Host header names this server: one of the allowed names (with or without a port; an entry with a port
  /// allows that port only).
  bool host_allowed(std::string_view host) const {
    const auto [name, port] = split_host(host);
    for (const auto& allowed : access_.allowed_hosts) {
      const auto [a_name, a_port] = split_host(allowed);
      if (a_name == name && (a_port.empty() || a_port == port)) return true;
    }
    return false;
  }

  /// With a key: X-API-Key, or HTTP Basic with the key as the password (any user name).
  bool authorized(const http::request& req) const {
    if (const auto* key = req.header("X-API-Key"); key != nullptr && same_secret(*key, access_.api_key)) return true;
    if (const auto* auth = req.header("Authorization"); auth != nullptr && auth->size() > 6 &&
                                                        http::iequals(std::string_view(*auth).substr(0, 6), "basic ")) {
      std::string_view b64 = std::string_view(*auth).substr(6);
      while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
      if (const auto decoded = base64_decode(b64)) {
        const auto colon = decoded->find(':');
        if (colon != std::string::npos && same_secret(decoded->substr(colon + 1), access_.api_key)) return true;
      }
    }
    return false;
  }

  /// A state change from a browser must come from our own pages. Requests that carry neither Origin nor
  /// Sec-Fetch-Site (curl, scripts) are not a browser's and pass.
  bool same_origin(const http::request& req) const {
    if (const auto* site = req.header("Sec-Fetch-Site"); site != nullptr && *site != "same-origin" && *site != "none") {
      return false;
    }
    const auto* origin = req.header("Origin");
    if (origin == nullptr) return true;
    std::string_view authority = *origin;
    if (authority.rfind("http://", 0) == 0) {
      authority.remove_prefix(7);
    } else if (authority.rfind("https://", 0) == 0) {
      authority.remove_prefix(8);
    } else {
      return false;  // "null" (sandboxed frames, file: pages) and anything else
    }
    const auto* host = req.header("Host");
    if (host != nullptr && split_host(authority) == split_host(*host)) return true;
    // Behind a reverse proxy the Host may be the proxy's target: the names given with --allowed-host count too.
    const auto [name, port] = split_host(authority);
    for (const auto& allowed : access_.allowed_hosts) {
      const auto [a_name, a_port] = split_host(allowed);
      if (a_name == name && a_port == port) return true;
    }
    return false;
  }

  // ---- CSRF token of the pages' forms ----

  static constexpr const char* csrf_cookie = "faceapp_csrf";

  static bool well_formed_token(const std::string& t) {
    return t.size() == 64 && t.find_first_not_of("0123456789abcdef") == std::string::npos;
  }

  /// The session's token (its cookie's), or a new one, which the answer then sets.
  static std::string session_token(const http::request& req, http::response& res) {
    if (const auto it = req.cookies.find(csrf_cookie); it != req.cookies.end() && well_formed_token(it->second)) {
      return it->second;
    }
    auto token = random_hex(32);
    res.set_header("Set-Cookie", std::string(csrf_cookie) + "=" + token + "; Path=/; SameSite=Strict; HttpOnly");
    return token;
  }

  /// A form post from a browser (it sends Origin, Sec-Fetch-Site or Referer, or has our cookie) must carry the
  /// session's token in the field `csrf`, equal to the cookie's. Scripts that send none of these pass, as for
  /// the API.
  static bool csrf_ok(const http::request& req) {
    const auto cookie = req.cookies.find(csrf_cookie);
    const auto field = req.form.find("csrf");
    const bool browser = req.header("Origin") != nullptr || req.header("Sec-Fetch-Site") != nullptr ||
                         req.header("Referer") != nullptr || cookie != req.cookies.end() || field != req.form.end();
    if (!browser) return true;
    return cookie != req.cookies.end() && field != req.form.end() && well_formed_token(cookie->second) &&
           same_secret(cookie->second, field->second.content);
  }

  void page(const http::request& req, http::response& res, std::string html, int status = 200) const {
    http::response out = html_answer({}, status);
    const auto token = session_token(req, out);
    out.body = pages::with_csrf_fields(std::move(html), token);
    res = std::move(out);
  }

  bool refuse_without_token(const http::request& req, http::response& res) const {
    if (csrf_ok(req)) return false;
    res = error_answer(req, 403, "the form's security token is missing or stale: reload the page and try again");
    return true;
  }

  // ---- helpers ----

  static std::optional<std::uint64_t> parse_id(const std::string& text) {
    std::uint64_t id = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return id;
  }

  static nlohmann::json box_json(const faceapp::box& b) {
    return {{"top", b.top}, {"right", b.right}, {"bottom", b.bottom}, {"left", b.left}};
  }

  static nlohmann::json optional_number(const std::optional<float>& v) {
    return v ? nlohmann::json(static_cast<double>(*v)) : nlohmann::json(nullptr);
  }

  static nlohmann::json person_json(const person& p) {
    return {{"id", p.id}, {"name", p.name}, {"added", p.added}, {"box", box_json(p.box)},
            {"thumbnail", p.has_thumbnail ? nlohmann::json("/faces/" + std::to_string(p.id) + "/thumbnail.jpg")
                                          : nlohmann::json(nullptr)}};
  }

  /// Requests with uploads must be multipart/form-data (415 otherwise).
  static void require_multipart(const http::request& req) {
    if (!req.is_multipart()) {
      throw http_error(415, "send the fields as multipart/form-data (an HTML form with enctype=\"multipart/form-data\", "
                            "or curl -F)");
    }
  }

  static std::string text_field(const http::request& req, const std::string& name) {
    const auto it = req.form.find(name);
    return it != req.form.end() ? it->second.content : std::string();
  }

  /// The image in field `name`; nothing when the field is absent or an empty file input and `required` is false.
  static std::optional<upload> image_field(const http::request& req, const std::string& name, bool required) {
    const auto it = req.form.find(name);
    if (it == req.form.end() || (it->second.content.empty() && it->second.filename.empty())) {
      if (required) throw http_error(400, "missing field '" + name + "' (an image file)");
      return std::nullopt;
    }
    return make_upload(it->second.content, it->second.filename.empty() ? name : it->second.filename, name);
  }

  /// Runs an API handler: http_error -> its status and {"error": ...}; anything else -> 500 and a log line.
  template <class F>
  void api(const http::request& req, http::response& res, F f) const {
    try {
      f();
    } catch (const http_error& e) {
      if (e.status >= 500) std::fprintf(stderr, "faceapp-web: %s API: %d %s\n", req.method.c_str(), e.status, e.what());
      res = json_answer({{"error", e.what()}}, e.status);
    } catch (const unavailable_error& e) {  // the database is away: nothing was changed
      res = json_answer({{"error", e.what()}}, 503);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "faceapp-web: internal error on %s API: %s\n", req.method.c_str(), e.what());
      res = json_answer({{"error", std::string("internal error: ") + e.what()}}, 500);
    }
  }

  // ---- pages ----

  /// The query parameter `name`, or empty.
  static std::string query_value(const http::request& req, const std::string& name) {
    const auto it = req.query.find(name);
    return it != req.query.end() ? it->second : std::string();
  }

  void main_page(const http::request& req, http::response& res) const {
    std::string message;
    if (const auto added = req.query.find("added"); added != req.query.end()) {
      if (const auto id = parse_id(added->second)) {
        if (const auto p = a_.store().find(*id)) message = "Remembered " + p->name + ".";
      }
    } else if (req.query.count("deleted") != 0) {
      message = "Deleted.";
    }
    try {
      const auto list = list_people(a_.store(), query_value(req, "q"), query_value(req, "page"));
      page(req, res, pages::main_page(o_, list, message, false));
    } catch (const unavailable_error& e) {  // the list comes from the database
      page(req, res, pages::main_page(o_, {}, e.what(), true), 503);
    }
  }

  /// The main page's first page of people for an error answer: empty when the database is away, so that the
  /// error itself can still be shown.
  [[nodiscard]] people_listing first_page_or_empty() const {
    try {
      return list_people(a_.store(), "", "");
    } catch (const unavailable_error&) {
      return {};
    }
  }

  void add_face_form(const http::request& req, http::response& res) {
    if (refuse_without_token(req, res)) return;
    try {
      require_multipart(req);
      auto name = app::check_person_name(text_field(req, "name"));
      auto image = image_field(req, "image", true);
      const auto p = a_.add_face(std::move(name), std::move(*image));
      res = html_answer("", 303);
      res.set_header("Location", "/?added=" + std::to_string(p.id));
    } catch (const http_error& e) {
      page(req, res, pages::main_page(o_, first_page_or_empty(), e.what(), true), e.status);
    } catch (const unavailable_error& e) {  // the database is away: nothing was added
      page(req, res, pages::main_page(o_, first_page_or_empty(), e.what(), true), 503);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "faceapp-web: internal error on POST /faces: %s\n", e.what());
      page(req, res, pages::main_page(o_, first_page_or_empty(), e.what(), true), 500);
    }
  }

  void delete_face_form(const http::request& req, http::response& res, const std::string& id_text) {
    if (refuse_without_token(req, res)) return;
    const auto id = parse_id(id_text);
    try {
      if (!id || !a_.store().remove(*id)) {
        page(req, res, pages::main_page(o_, first_page_or_empty(), "No such face (already deleted?)", true), 404);
        return;
      }
    } catch (const unavailable_error& e) {  // the database is away: nothing was deleted
      page(req, res, pages::main_page(o_, {}, e.what(), true), 503);
      return;
    }
    res = html_answer("", 303);
    res.set_header("Location", "/?deleted=1");
  }

  /// Read from the database when asked. A face's thumbnail never changes and ids are never reused, so the id is a
  /// strong validator.
  void thumbnail(const http::request& req, http::response& res, const std::string& id_text) const {
    const auto id = parse_id(id_text);
    auto jpeg = id ? a_.store().thumbnail(*id) : std::nullopt;
    if (!jpeg) {
      res = html_answer(pages::error_page(o_, 404, "no such face"), 404);
      return;
    }
    const std::string etag = "\"face-" + std::to_string(*id) + "\"";
    if (const auto* match = req.header("If-None-Match"); match != nullptr && match->find(etag) != std::string::npos) {
      res = {304, "image/jpeg", "", {{"Cache-Control", "private, max-age=86400"}, {"ETag", etag}}};
      return;
    }
    res = {200, "image/jpeg", std::move(*jpeg), {{"Cache-Control", "private, max-age=86400"}, {"ETag", etag}}};
  }

  void faceapp_page(const http::request& req, http::response& res) const {
    page(req, res, pages::faceapp_page(o_, faceapp::default_tolerance, "", "", false));
  }

  void faceapp_form(const http::request& req, http::response& res) {
    if (refuse_without_token(req, res)) return;
    float tolerance = faceapp::default_tolerance;
    try {
      require_multipart(req);
      tolerance = app::parse_tolerance(text_field(req, "tolerance"));
      auto first = image_field(req, "a", true);
      auto second = image_field(req, "b", false);
      std::string result;
      if (second) {
        const auto name_a = first->file_name;
        const auto name_b = second->file_name;
        const auto c = a_.compare(std::move(*first), std::move(*second), tolerance);
        result = pages::comparison_result(c, name_a, name_b);
      } else {
        const auto size = a_.store().size();
        result = pages::recognition_result(a_.recognize(std::move(*first), tolerance), size);
      }
      page(req, res, pages::faceapp_page(o_, tolerance, result, "", false));
    } catch (const http_error& e) {
      page(req, res, pages::faceapp_page(o_, tolerance, "", e.what(), true), e.status);
    } catch (const unavailable_error& e) {  // the database is away, or the gallery is too stale to answer from
      page(req, res, pages::faceapp_page(o_, tolerance, "", e.what(), true), 503);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "faceapp-web: internal error on POST /faceapp: %s\n", e.what());
      page(req, res, pages::faceapp_page(o_, tolerance, "", e.what(), true), 500);
    }
  }

  // ---- API ----

  void api_compare(const http::request& req, http::response& res) {
    require_multipart(req);
    const float tolerance = app::parse_tolerance(text_field(req, "tolerance"));
    auto first = image_field(req, "a", true);
    auto second = image_field(req, "b", true);
    const auto c = a_.compare(std::move(*first), std::move(*second), tolerance);
    res = json_answer({{"distance", optional_number(c.distance)},
                       {"match", c.match},
                       {"similarity", optional_number(c.similarity)},
                       {"faces_a", c.a.faces.size()},
                       {"faces_b", c.b.faces.size()},
                       {"faces_found_a", c.a.found},
                       {"faces_found_b", c.b.found}});
  }

  void api_add_face(const http::request& req, http::response& res) {
    require_multipart(req);
    if (req.form.count("name") == 0) throw http_error(400, "missing field 'name'");
    auto name = app::check_person_name(text_field(req, "name"));
    auto image = image_field(req, "image", true);
    res = json_answer(person_json(a_.add_face(std::move(name), std::move(*image))), 201);
  }

  void api_list_faces(const http::request& req, http::response& res) const {
    const auto offset = parse_count(query_value(req, "offset"), "offset", 0, std::uint64_t{1} << 62);
    const auto limit = parse_count(query_value(req, "limit"), "limit", api_faces_default_limit, api_faces_max_limit);
    const auto page = a_.store().list("", offset, limit);
    nlohmann::json faces = nlohmann::json::array();
    for (const auto& p : page.people) faces.push_back(person_json(p));
    res = json_answer({{"faces", std::move(faces)}, {"total", page.total}, {"offset", offset}, {"limit", limit}});
  }

  void api_delete_face(http::response& res, const std::string& id_text) {
    const auto id = parse_id(id_text);
    if (!id || !a_.store().remove(*id)) throw http_error(404, "no face with id " + id_text);
    res = json_answer({{"deleted", *id}});
  }

  void api_recognize(const http::request& req, http::response& res) {
    require_multipart(req);
    const float tolerance = app::parse_tolerance(text_field(req, "tolerance"));
    auto image = image_field(req, "image", true);
    const auto r = a_.recognize(std::move(*image), tolerance);
    nlohmann::json faces = nlohmann::json::array();
    for (const auto& f : r.photo.faces) {
      const bool known = f.match.value_or(false);
      faces.push_back({{"box", box_json(f.box)},
                       {"name", known ? nlohmann::json(f.name) : nlohmann::json(nullptr)},
                       {"distance", optional_number(f.distance)},
                       {"similarity", f.distance ? nlohmann::json(faceapp::similarity_percent(*f.distance, tolerance))
                                                 : nlohmann::json(nullptr)}});
    }
    res = json_answer({{"faces", std::move(faces)}, {"faces_found", r.photo.found},
                       {"faces_used", r.photo.faces.size()}});
  }

  /// The records as CSV. When results.csv was removed, the answer is the header alone (the next record creates
  /// the file again, with that header): never an empty body.
  void api_records(http::response& res) const {
    if (a_.records_in_database()) {  // every server's records, from the results table
      std::string body = std::string(faceapp::csv_sink::header) + "\n";
      a_.read_records([&](const std::string& lines) { body += lines; });
      res = {200, "text/csv; charset=utf-8", std::move(body), {}};
      return;
    }
    std::ifstream in(a_.records_file(), std::ios::binary);
    if (!in) {
      if (errno != ENOENT) throw http_error(500, "cannot read " + a_.records_file().string());
      res = {200, "text/csv; charset=utf-8", std::string(faceapp::csv_sink::header) + "\n", {}};
      return;
    }
    std::stringstream text;
    text << in.rdbuf();
    std::string body = text.str();
    if (body.empty()) body = std::string(faceapp::csv_sink::header) + "\n";
    res = {200, "text/csv; charset=utf-8", std::move(body), {}};
  }

  app& a_;
  const app_options& o_;
  access_options access_;
};

}  // namespace faceapp_web
