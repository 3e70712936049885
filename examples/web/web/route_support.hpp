// faceapp-web's web layer: what the route handlers (routes.cpp, person_routes.cpp) share: reading a request's
// fields and ids, and turning an exception into a status and a message.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "http/server.hpp"
#include "service/service.hpp"
#include "web/status.hpp"

namespace faceapp_web {

inline http::response html_answer(std::string body, int status = 200) {
  return {status, "text/html; charset=utf-8", std::move(body), {}};
}

inline std::optional<std::uint64_t> parse_id(const std::string& text) {
  std::uint64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return id;
}

/// Requests with uploads must be multipart/form-data.
inline void require_multipart(const http::request& req) {
  if (!req.is_multipart()) {
    throw service_error(errc::unsupported, "send the fields as multipart/form-data (an HTML form with "
                                           "enctype=\"multipart/form-data\", or curl -F)");
  }
}

inline std::string text_field(const http::request& req, const std::string& name) {
  const auto it = req.form.find(name);
  return it != req.form.end() ? it->second.content : std::string();
}

/// The image in field `name`; nothing when the field is absent or an empty file input and `required` is false.
inline std::optional<upload> image_field(const http::request& req, const std::string& name, bool required) {
  const auto it = req.form.find(name);
  if (it == req.form.end() || (it->second.content.empty() && it->second.filename.empty())) {
    if (required) throw service_error(errc::bad_input, "missing field '" + name + "' (an image file)");
    return std::nullopt;
  }
  return make_upload(it->second.content, it->second.filename.empty() ? name : it->second.filename, name);
}

inline std::string query_value(const http::request& req, const std::string& name) {
  const auto it = req.query.find(name);
  return it != req.query.end() ? it->second : std::string();
}

/// A list's keyset cursor, `?after=<id>` (the `next` of the page before): none when absent; bad_input when it is
/// not a whole number or comes with a non-zero offset (a page starts at one or the other).
inline std::optional<std::uint64_t> keyset_after(const http::request& req, std::uint64_t offset) {
  const auto text = query_value(req, "after");
  if (text.empty()) return std::nullopt;
  const auto after = parse_count(text, "after", 0, std::uint64_t{1} << 62);
  if (offset != 0) throw service_error(errc::bad_input, "give after or offset, not both");
  return after;
}

/// The status and message of an exception from the service: its error's status, or 500 for anything that is not
/// a service error. A server error's details (database hosts, paths) go to the log; the client gets the
/// status's generic message (web/status.hpp).
inline std::pair<int, std::string> status_of(const std::exception& e, const http::request& req) {
  const auto* s = dynamic_cast<const service_error*>(&e);
  const int status = s != nullptr ? http_status(s->code) : 500;
  if (status < 500) return {status, e.what()};
  std::fprintf(stderr, "faceapp-web: %s %s: %d %s\n", req.method.c_str(), req.path.c_str(), status, e.what());
  return {status, public_message(status)};
}

}  // namespace faceapp_web
