// faceapp-web's web layer: the route table. Every request is matched once, when its head arrives (the answer
// for an unknown path or a wrong method goes before any of the body is read); the handler gets the match.
#pragma once

#include <string>
#include <string_view>

namespace faceapp_web {

enum class route {
  none, wrong_method, main_page, add_face_form, delete_face_form, thumbnail, faceapp_page, faceapp_form,
  api_compare, api_add_face, api_list_faces, api_delete_face, api_recognize, api_records, healthz, readyz, metrics,
  api_search,
  // people (match_people_route)
  api_list_people, api_create_person, api_get_person, api_rename_person, api_delete_person, api_add_person_face,
  api_delete_person_face, api_merge_people,
  // a person's page and its forms (match_person_page_route)
  person_page, person_add_face_form, person_delete_face_form, person_rename_form, person_merge_form,
  person_delete_form,
  // bulk enrolment by clusters (match_cluster_route)
  api_cluster, api_list_clusters, api_get_cluster, api_delete_cluster, api_enrol_cluster, clusters_page,
  clusters_upload_form, cluster_enrol_form, cluster_delete_form
};

/// The route's name, as /metrics labels it ("unmatched" for none and wrong_method).
std::string_view route_name(route r) noexcept;

/// Routes that answer without the key: whether the process runs and can serve, for probes that carry none.
inline bool is_probe_path(std::string_view path) { return path == "/healthz" || path == "/readyz"; }

struct matched {
  route what = route::none;
  std::string id;  // the {id} of /faces/{id}/... and /api/faces/{id}: one path segment, not checked further
  std::string face;  // the {face} of /api/people/{id}/faces/{face} and /people/{id}/faces/{face}/delete
};

/// The route of `method` and `path` (percent-decoded): route::none when no route has this path,
/// route::wrong_method when one has it but not for this method. GET routes take HEAD too.
matched match_route(std::string_view method, std::string_view path);

/// Whether the path belongs to the JSON API (its errors are JSON; the pages' are HTML).
inline bool is_api_path(std::string_view path) { return path.rfind("/api/", 0) == 0; }

}  // namespace faceapp_web
