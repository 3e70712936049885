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
    case route::api_search: return "api_search";
    case route::api_list_people: return "api_list_people";
    case route::api_create_person: return "api_create_person";
    case route::api_get_person: return "api_get_person";
    case route::api_rename_person: return "api_rename_person";
    case route::api_delete_person: return "api_delete_person";
    case route::api_add_person_face: return "api_add_person_face";
    case route::api_delete_person_face: return "api_delete_person_face";
    case route::api_merge_people: return "api_merge_people";
    case route::person_page: return "person_page";
    case route::person_add_face_form: return "person_add_face_form";
    case route::person_delete_face_form: return "person_delete_face_form";
    case route::person_rename_form: return "person_rename_form";
    case route::person_merge_form: return "person_merge_form";
    case route::person_delete_form: return "person_delete_form";
    case route::api_cluster: return "api_cluster";
    case route::api_list_clusters: return "api_list_clusters";
    case route::api_get_cluster: return "api_get_cluster";
    case route::api_delete_cluster: return "api_delete_cluster";
    case route::api_enrol_cluster: return "api_enrol_cluster";
    case route::clusters_page: return "clusters_page";
    case route::clusters_upload_form: return "clusters_upload_form";
    case route::cluster_enrol_form: return "cluster_enrol_form";
    case route::cluster_delete_form: return "cluster_delete_form";
  }
  return "unmatched";
}

namespace {

/// The routes under /api/people. The path is matched as a template: its {id} (the segment after /api/people/)
/// and {face} (after /api/people/{id}/faces/) are one non-empty path segment each.
std::optional<matched> match_people_route(std::string_view method, std::string_view p) {
  constexpr std::string_view prefix = "/api/people";
  if (p.substr(0, prefix.size()) != prefix || (p.size() > prefix.size() && p[prefix.size()] != '/')) {
    return std::nullopt;
  }
  std::vector<std::string_view> parts;  // the segments after /api/people
  for (std::string_view rest = p.substr(prefix.size()); !rest.empty();) {
    rest.remove_prefix(1);  // the '/'
    const auto slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (parts.back().empty()) return std::nullopt;
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  std::string t(prefix);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    t += '/';
    t += i == 0 ? std::string_view("{id}") : i == 2 && parts[1] == "faces" ? std::string_view("{face}") : parts[i];
  }
  const std::string id = parts.empty() ? std::string() : std::string(parts[0]);
  const std::string face_id = parts.size() > 2 ? std::string(parts[2]) : std::string();
  const bool get = method == "GET" || method == "HEAD";
  const bool post = method == "POST";
  const auto to = [&](route r) { return matched{r, id, face_id}; };
  const auto pick = [&](bool ok, route r) { return ok ? to(r) : matched{route::wrong_method, {}, {}}; };
  if (t == "/api/people") return get ? to(route::api_list_people) : pick(post, route::api_create_person);
  if (t == "/api/people/{id}" && method == "PATCH") return to(route::api_rename_person);
  if (t == "/api/people/{id}" && method == "DELETE") return to(route::api_delete_person);
  if (t == "/api/people/{id}") return pick(get, route::api_get_person);
  if (t == "/api/people/{id}/faces") return pick(post, route::api_add_person_face);
  if (t == "/api/people/{id}/faces/{face}") return pick(method == "DELETE", route::api_delete_person_face);
  if (t == "/api/people/{id}/merge") return pick(post, route::api_merge_people);
  return std::nullopt;
}

/// A person's page, GET /people/{id}, and the forms it posts: /people/{id}/faces, /people/{id}/rename,
/// /people/{id}/merge, /people/{id}/delete and /people/{id}/faces/{face}/delete ({id} and {face}: one non-empty
/// path segment each).
std::optional<matched> match_person_page_route(std::string_view method, std::string_view p) {
  constexpr std::string_view prefix = "/people";
  if (p.substr(0, prefix.size()) != prefix || p.size() <= prefix.size() + 1 || p[prefix.size()] != '/') {
    return std::nullopt;
  }
  std::vector<std::string_view> parts;  // the segments after /people
  for (std::string_view rest = p.substr(prefix.size()); !rest.empty();) {
    rest.remove_prefix(1);  // the '/'
    const auto slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (parts.back().empty()) return std::nullopt;
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  const std::string id(parts[0]);
  const bool post = method == "POST";
  const auto pick = [&](bool ok, route r, std::string face = {}) {
    return ok ? matched{r, id, std::move(face)} : matched{route::wrong_method, {}, {}};
  };
  if (parts.size() == 1) return pick(method == "GET" || method == "HEAD", route::person_page);
  if (parts.size() == 2 && parts[1] == "faces") return pick(post, route::person_add_face_form);
  if (parts.size() == 2 && parts[1] == "rename") return pick(post, route::person_rename_form);
  if (parts.size() == 2 && parts[1] == "merge") return pick(post, route::person_merge_form);
  if (parts.size() == 2 && parts[1] == "delete") return pick(post, route::person_delete_form);
  if (parts.size() == 4 && parts[1] == "faces" && parts[3] == "delete") {
    return pick(post, route::person_delete_face_form, std::string(parts[2]));
  }
  return std::nullopt;
}

/// Bulk enrolment: POST /api/cluster, /api/clusters, /api/clusters/{id}, /api/clusters/{id}/enrol, and the
/// page /clusters with its forms /clusters/{id}/enrol and /clusters/{id}/delete ({id}: one non-empty segment).
std::optional<matched> match_cluster_route(std::string_view method, std::string_view p) {
  const bool get = method == "GET" || method == "HEAD";
  const bool post = method == "POST";
  const auto pick = [](bool ok, route r, std::string id = {}) {
    return ok ? matched{r, std::move(id), {}} : matched{route::wrong_method, {}, {}};
  };
  if (p == "/api/cluster") return pick(post, route::api_cluster);
  if (p == "/api/clusters") return pick(get, route::api_list_clusters);
  if (p == "/clusters") return get ? matched{route::clusters_page, {}, {}} : pick(post, route::clusters_upload_form);
  const std::string_view prefix = p.starts_with("/api/clusters/") ? "/api/clusters/"
                                  : p.starts_with("/clusters/")   ? "/clusters/"
                                                                  : "";
  if (prefix.empty()) return std::nullopt;
  const auto rest = p.substr(prefix.size());
  const auto slash = rest.find('/');
  const std::string id(rest.substr(0, slash));
  const auto tail = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (id.empty() || tail.find('/', 1) != std::string_view::npos) return std::nullopt;
  const std::string t = std::string(prefix) + "{id}" + std::string(tail);
  if (t == "/api/clusters/{id}" && method == "DELETE") return matched{route::api_delete_cluster, id, {}};
  if (t == "/api/clusters/{id}") return pick(get, route::api_get_cluster, id);
  if (t == "/api/clusters/{id}/enrol") return pick(post, route::api_enrol_cluster, id);
  if (t == "/clusters/{id}/enrol") return pick(post, route::cluster_enrol_form, id);
  if (t == "/clusters/{id}/delete") return pick(post, route::cluster_delete_form, id);
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
  if (p == "/api/search") return pick(post, route::api_search);
  if (p == "/healthz") return pick(get, route::healthz);
  if (p == "/readyz") return pick(get, route::readyz);
  if (p == "/metrics") return pick(get, route::metrics);
  if (p == "/api/faces") return get ? matched{route::api_list_faces, {}, {}} : pick(post, route::api_add_face);
  if (auto id = segment_route("/faces/", "/delete")) return pick(post, route::delete_face_form, *id);
  if (auto id = segment_route("/faces/", "/thumbnail.jpg")) return pick(get, route::thumbnail, *id);
  if (auto id = segment_route("/api/faces/", "")) return pick(method == "DELETE", route::api_delete_face, *id);
  if (auto m = match_people_route(method, p)) return *m;
  if (auto m = match_person_page_route(method, p)) return *m;
  if (auto m = match_cluster_route(method, p)) return *m;
  return {};
}

}  // namespace faceapp_web
