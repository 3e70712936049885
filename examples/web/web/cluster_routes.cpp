// faceapp-web's web layer: bulk enrolment by clusters, the JSON routes (/api/cluster, /api/clusters...) and the
// page /clusters with its forms (see clusters_page.hpp). Each form calls the same service function as its JSON
// route and answers 303 to the page with a message, or the page with the error and its status.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "util.hpp"
#include "web/clusters_page.hpp"
#include "web/json.hpp"
#include "web/route_support.hpp"
#include "web/routes.hpp"

namespace faceapp_web {

namespace {

/// Every photo of the upload (the parts of the repeated field `image`), checked as one upload each.
std::vector<upload> photos_of(const http::request& req) {
  require_multipart(req);
  std::vector<upload> out;
  for (std::size_t n = 0; n < req.files.size(); ++n) {
    const auto& part = req.files[n];
    if (part.content.empty() && part.filename.empty()) continue;  // an empty file input
    const auto name = part.filename.empty() ? std::string("image") : part.filename;
    try {
      out.push_back(make_upload(part.content, name, "image"));
    } catch (const service_error& e) {  // many files in one field: say which, by its place among all the parts
      throw service_error(e.code, clean_file_name(name) + " (photo " + std::to_string(n + 1) + "): " + e.what());
    }
  }
  return out;
}

nlohmann::json cluster_json(const pending_cluster& c) {
  nlohmann::json faces = nlohmann::json::array();
  for (const auto& f : c.faces) {
    faces.push_back({{"photo", f.photo},
                     {"box", json::box(f.box)},
                     {"thumbnail", pages::pending_thumbnail_url(f)},
                     {"known", f.known}});
  }
  return {{"id", c.id},
          {"faces", std::move(faces)},
          {"suggested", c.suggested ? nlohmann::json(*c.suggested) : nlohmann::json(nullptr)}};
}

std::uint64_t cluster_id(const std::string& text) {
  const auto id = parse_id(text);
  if (!id) throw service_error(errc::not_found, "no pending cluster with id " + text);
  return *id;
}

/// The "name" of a JSON object body (as the people routes read theirs).
std::string name_of_body(const http::request& req) {
  if (req.content_type != "application/json") {
    throw service_error(errc::unsupported, "send the fields as a JSON object (Content-Type: application/json)");
  }
  const auto body = nlohmann::json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) throw service_error(errc::bad_input, "the body is not a JSON object");
  const auto it = body.find("name");
  if (it == body.end() || !it->is_string()) throw service_error(errc::bad_input, "missing field 'name' (a string)");
  return it->get<std::string>();
}

std::string done_message(const std::string& done) {
  if (done == "uploaded") return "Grouped the photos' faces: name each group below.";
  if (done == "enrolled") return "Enrolled.";
  if (done == "discarded") return "Discarded.";
  return {};
}

http::response see_other(const std::string& location) {
  auto res = html_answer("", 303);
  res.set_header("Location", location);
  return res;
}

}  // namespace

bool is_cluster_upload(route r) { return r == route::api_cluster || r == route::clusters_upload_form; }

void routes::cluster_api(const http::request& req, http::response& res, const matched& m) {
  try {
    switch (m.what) {
      case route::api_cluster: {
        const auto done = s_.cluster_photos(photos_of(req));
        nlohmann::json clusters = nlohmann::json::array();
        for (const auto& c : done.clusters) clusters.push_back(cluster_json(c));
        nlohmann::json refused = nlohmann::json::array();
        for (const auto& r : done.refused) refused.push_back({{"photo", r.photo}, {"reason", r.reason}});
        res = json::answer({{"clusters", std::move(clusters)}, {"no_face", done.no_face}, {"refused", std::move(refused)}},
                           done.clusters.empty() ? 200 : 201);
        return;
      }
      case route::api_list_clusters: {
        nlohmann::json clusters = nlohmann::json::array();
        for (const auto& c : s_.pending_clusters()) clusters.push_back(cluster_json(c));
        res = json::answer({{"clusters", std::move(clusters)}});
        return;
      }
      case route::api_get_cluster: res = json::answer(cluster_json(s_.find_cluster(cluster_id(m.id)))); return;
      case route::api_delete_cluster: {
        const auto id = cluster_id(m.id);
        s_.discard_cluster(id);
        res = json::answer({{"deleted", id}});
        return;
      }
      case route::api_enrol_cluster: {
        const auto id = cluster_id(m.id);
        res = json::answer(json::person_detail(s_.enrol_cluster(id, name_of_body(req))));
        return;
      }
      default: throw service_error(errc::internal, "not a cluster route");
    }
  } catch (const std::exception& e) {
    const auto [status, message] = status_of(e, req);
    res = json::answer({{"error", message}}, status);
  }
}

void routes::clusters_page(const http::request& req, http::response& res, const std::string& message, bool error,
                           int status) const {
  std::vector<pending_cluster> pending;
  std::string shown = message.empty() ? done_message(query_value(req, "done")) : message;
  try {
    pending = s_.pending_clusters();
  } catch (const std::exception& e) {
    const auto [failed, why] = status_of(e, req);
    if (status == 200) status = failed;
    shown = why;
    error = true;
  }
  page(req, res, pages::clusters_page(o_, pending, shown, error), status);
}

void routes::cluster_form(const http::request& req, http::response& res, const matched& m) {
  if (refuse_without_token(req, res)) return;
  try {
    switch (m.what) {
      case route::clusters_upload_form:
        s_.cluster_photos(photos_of(req));
        res = see_other("/clusters?done=uploaded");
        return;
      case route::cluster_enrol_form:
        s_.enrol_cluster(cluster_id(m.id), text_field(req, "name"));
        res = see_other("/clusters?done=enrolled");
        return;
      case route::cluster_delete_form:
        s_.discard_cluster(cluster_id(m.id));
        res = see_other("/clusters?done=discarded");
        return;
      default: throw service_error(errc::internal, "not a cluster form");
    }
  } catch (const std::exception& e) {
    const auto [status, message] = status_of(e, req);
    clusters_page(req, res, message, true, status);
  }
}

}  // namespace faceapp_web
