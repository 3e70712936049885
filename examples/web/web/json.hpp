// faceapp-web's web layer: the API's JSON.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "http/server.hpp"
#include "store/store.hpp"

namespace faceapp_web::json {

/// JSON, with any invalid UTF-8 (a path of raw bytes, say) replaced rather than thrown over.
inline http::response answer(const nlohmann::json& body, int status = 200) {
  return {status, "application/json", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), {}};
}

inline nlohmann::json box(const faceapp::box& b) {
  return {{"top", b.top}, {"right", b.right}, {"bottom", b.bottom}, {"left", b.left}};
}

inline nlohmann::json optional_number(const std::optional<float>& v) {
  return v ? nlohmann::json(static_cast<double>(*v)) : nlohmann::json(nullptr);
}

inline nlohmann::json person(const faceapp_web::person& p) {
  return {{"id", p.id}, {"name", p.name}, {"added", p.added}, {"box", box(p.box)},
          {"thumbnail", p.has_thumbnail ? nlohmann::json("/faces/" + std::to_string(p.id) + "/thumbnail.jpg")
                                        : nlohmann::json(nullptr)}};
}

}  // namespace faceapp_web::json
