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
  return {{"id", p.id}, {"name", p.name}, {"person", p.person_id}, {"added", p.added}, {"box", box(p.box)},
          {"thumbnail", p.has_thumbnail ? nlohmann::json("/faces/" + std::to_string(p.id) + "/thumbnail.jpg")
                                        : nlohmann::json(nullptr)}};
}

/// A person in a list: {"id", "name", "faces": its face count}.
inline nlohmann::json person_summary(const faceapp_web::person_summary& p) {
  return {{"id", p.id}, {"name", p.name}, {"faces", p.face_count}};
}

/// A person with its faces: {"id", "name", "faces": [{"id", "box", "thumbnail", "added"}]}.
inline nlohmann::json person_detail(const faceapp_web::person_detail& d) {
  nlohmann::json faces = nlohmann::json::array();
  for (const auto& f : d.faces) {
    auto j = person(f);
    j.erase("name");
    j.erase("person");
    faces.push_back(std::move(j));
  }
  return {{"id", d.id}, {"name", d.name}, {"faces", std::move(faces)}};
}

}  // namespace faceapp_web::json
