// faceapp-web's web layer: the route table (see route_table.hpp).
#include "web/route_table.hpp"

#include <optional>
#include <utility>
#include <vector>

namespace faceapp_web {

std::string_view route_name(route r) noexcept {
  switch (r) {
    case route::none:
    case route::wrong_method: return "unmatched";
    case route::main_page: return "main_page";
    case route::add_face_form: return "add_face_form";
    case route::delete_face_form: return "delete_face_form";
    case route::thumbnail: return "thumbnail";
    case route::faceapp_page: return "faceapp_page";
    case route::faceapp_form: return "faceapp_form";
    case route::api_compare: return "api_compare";
    case route::api_add_face: return "api_add_face";
    case route::api_list_faces: return "api_list_faces";
    case route::api_delete_face: return "api_delete_face";
    case route::api_recognize: return "api_recognize";
    case route::api_records: return "api_records";
    case route::healthz: return "healthz";
    case route::readyz: return "readyz";
    case route::metrics: return "metrics";
    case route::api_list_people: return "api_list_people";
    case route::api_create_person: return "api_create_person";
    case route::api_get_person: return "api_get_person";
    case route::api_rename_person: return "api_rename_person";
    case route::api_delete_person: return "api_delete_person";
    case route::api_add_person_face: return "api_add_person_face";
    case route::api_delete_person_face: return "api_delete_person_face";
    case route::api_merge_people: return "api_merge_people";
  }
  return "unmatched";
}

namespace {

/// The routes under /api/people: /api/people, /api/people/{id}, /api/people/{id}/faces,
/// /api/people/{id}/faces/{face} and /api/people/{id}/merge ({id} and {face}: one path segment each).
std::optional<matched> match_people_route(std::string_view method, std::string_view p) {
  constexpr std::string_view prefix = "/api/people";
  if (p.substr(0, prefix.size()) != prefix) return std::nullopt;
  const auto pick = [](bool ok, route r, std::string_view id = {}, std::string_view face = {}) {
    return ok ? matched{r, std::string(id), std::string(face)} : matched{route::wrong_method, {}, {}};
  };
  if (p == prefix) {
    if (method == "GET" || method == "HEAD") return matched{route::api_list_people, {}, {}};
    return pick(method == "POST", route::api_create_person);
  }
  if (p[prefix.size()] != '/') return std::nullopt;
  std::vector<std::string_view> parts;
  for (std::string_view rest = p.substr(prefix.size() + 1);;) {
    const auto slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  for (const auto part : parts) {
    if (part.empty()) return std::nullopt;
  }
  if (parts.size() == 1) {
    if (method == "GET" || method == "HEAD") return matched{route::api_get_person, std::string(parts[0]), {}};
    if (method == "PATCH") return matched{route::api_rename_person, std::string(parts[0]), {}};
    return pick(method == "DELETE", route::api_delete_person, parts[0]);
  }
  if (parts.size() == 2 && parts[1] == "faces") return pick(method == "POST", route::api_add_person_face, parts[0]);
  if (parts.size() == 2 && parts[1] == "merge") return pick(method == "POST", route::api_merge_people, parts[0]);
  if (parts.size() == 3 && parts[1] == "faces") {
    return pick(method == "DELETE", route::api_delete_person_face, parts[0], parts[2]);
  }
  return std::nullopt;
}

}  // namespace

matched match_route(std::string_view method, std::string_view p) {
  const bool get = method == "GET" || method == "HEAD";
  const bool post = method == "POST";
  const auto pick = [](bool ok, route r, std::string id = {}) {
    return ok ? matched{r, std::move(id), {}} : matched{route::wrong_method, {}, {}};
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
  if (p == "/faceapp") return get ? matched{route::faceapp_page, {}, {}} : pick(post, route::faceapp_form);
  if (p == "/api/compare") return pick(post, route::api_compare);
  if (p == "/api/recognize") return pick(post, route::api_recognize);
  if (p == "/api/records") return pick(get, route::api_records);
  if (p == "/healthz") return pick(get, route::healthz);
  if (p == "/readyz") return pick(get, route::readyz);
  if (p == "/metrics") return pick(get, route::metrics);
  if (p == "/api/faces") return get ? matched{route::api_list_faces, {}, {}} : pick(post, route::api_add_face);
  if (auto id = segment_route("/faces/", "/delete")) return pick(post, route::delete_face_form, *id);
  if (auto id = segment_route("/faces/", "/thumbnail.jpg")) return pick(get, route::thumbnail, *id);
  if (auto id = segment_route("/api/faces/", "")) return pick(method == "DELETE", route::api_delete_face, *id);
  if (auto m = match_people_route(method, p)) return *m;
  return {};
}

}  // namespace faceapp_web
