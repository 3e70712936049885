// faceapp-web's service layer: bulk enrolment by clusters (see service.hpp and store/cluster_store.hpp).
#include <chrono>
#include <future>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <faceapp/stages/cluster.hpp>

#include "service/service.hpp"

namespace faceapp_web {

namespace {

service_error no_cluster(std::uint64_t id) {
  return {errc::not_found, "no pending cluster with id " + std::to_string(id) + " (enrolled, discarded or expired)"};
}

/// The face ids of the gallery faces nearest to each face of `c` that is already known (face_is_known); none
/// for the others.
std::vector<std::optional<std::uint64_t>> known_as(const gallery_snapshot& view, const pending_cluster& c) {
  std::vector<faceapp::encoding> encodings;
  encodings.reserve(c.faces.size());
  for (const auto& f : c.faces) encodings.push_back(f.encoding);
  const auto nearest = view.nearest_each(encodings);
  std::vector<std::optional<std::uint64_t>> out(c.faces.size());
  for (std::size_t i = 0; i < nearest.size() && i < out.size(); ++i) {
    if (nearest[i] && face_is_known(nearest[i]->distance)) out[i] = view.key(nearest[i]->row);
  }
  return out;
}

}  // namespace

void face_service::mark_known(std::vector<pending_cluster>& clusters) const {
  if (clusters.empty()) return;
  store_.check_fresh();
  const auto view = store_.snapshot();
  for (auto& c : clusters) {
    const auto known = known_as(*view, c);
    for (std::size_t i = 0; i < c.faces.size(); ++i) c.faces[i].known = known[i].has_value();
  }
}

std::int64_t face_service::now_s() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

cluster_store& face_service::clusters() const {
  auto* c = dynamic_cast<cluster_store*>(&const_cast<face_store&>(store_).backend());
  if (c == nullptr) {
    throw service_error(errc::unsupported, "the store " + store_.backend().describe() + " keeps no pending clusters");
  }
  return *c;
}

cluster_upload face_service::cluster_photos(std::vector<upload> photos) {
  if (photos.empty()) throw service_error(errc::bad_input, "missing field 'image' (one or more image files)");
  if (photos.size() > options_.max_cluster_photos) {
    throw service_error(errc::too_large, std::to_string(photos.size()) + " photos, more than the limit of " +
                                             std::to_string(options_.max_cluster_photos) +
                                             " per request (--max-cluster-photos)");
  }
  auto& store = clusters();  // before the work: a store without clusters is not worth encoding for
  // One job a photo on the worker pool; a photo that fails (not an image, too large) fails the whole upload,
  // naming it, before anything is stored.
  std::vector<std::future<photo_faces>> jobs;
  jobs.reserve(photos.size());
  for (const auto& u : photos) jobs.push_back(pool_.submit([this, &u] { return enrolment_faces(u); }));
  std::vector<photo_faces> found;
  found.reserve(jobs.size());
  std::exception_ptr failed;
  for (auto& j : jobs) {  // every job is waited for: they borrow `photos`
    try {
      found.push_back(j.get());
    } catch (...) {
      if (!failed) failed = std::current_exception();
      found.emplace_back();
    }
  }
  if (failed) std::rethrow_exception(failed);

  cluster_upload out;
  std::vector<pending_face> faces;
  for (std::size_t i = 0; i < found.size(); ++i) {
    if (found[i].detected == 0) out.no_face.push_back(photos[i].file_name);
    for (auto& why : found[i].refused) out.refused.push_back({photos[i].file_name, std::move(why)});
    for (auto& f : found[i].faces) faces.push_back(std::move(f));
  }
  std::vector<faceapp::encoding> encodings;
  encodings.reserve(faces.size());
  for (const auto& f : faces) encodings.push_back(f.encoding);
  const auto ids = faceapp::cluster(encodings);  // the library's default tolerance

  const auto now = now_s();
  std::vector<pending_cluster> made;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    if (ids[i] >= made.size()) made.resize(ids[i] + 1);
    made[ids[i]].created_s = now;
    made[ids[i]].faces.push_back(std::move(faces[i]));
  }
  // The known person nearest to any face of a cluster, within the matching tolerance.
  if (!made.empty()) {
    store_.check_fresh();
    const auto view = store_.snapshot();
    const auto nearest = view->nearest_each(encodings);
    std::vector<float> best(made.size(), std::numeric_limits<float>::infinity());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const auto& m = nearest[i];
      if (!m || m->distance > faceapp::default_tolerance || m->distance >= best[ids[i]]) continue;
      best[ids[i]] = m->distance;
      made[ids[i]].suggested = std::string(view->name(m->row));
    }
  }
  const auto saved = store.save_clusters(made, now);
  for (std::size_t i = 0; i < made.size(); ++i) made[i].id = saved[i];
  mark_known(made);
  out.clusters = std::move(made);
  return out;
}

std::vector<pending_cluster> face_service::pending_clusters() const {
  const auto now = now_s();
  clusters().expire_clusters(now);  // the expired ones are deleted, not only hidden
  auto out = clusters().pending_clusters(now);
  mark_known(out);
  return out;
}

pending_cluster face_service::find_cluster(std::uint64_t id) const {
  const auto now = now_s();
  clusters().expire_clusters(now);
  auto c = clusters().find_cluster(id, now);
  if (!c) throw no_cluster(id);
  std::vector<pending_cluster> one{std::move(*c)};
  mark_known(one);
  return std::move(one.front());
}

void face_service::discard_cluster(std::uint64_t id) {
  if (!clusters().discard_cluster(id, now_s())) throw no_cluster(id);
}

person_detail face_service::enrol_cluster(std::uint64_t id, std::string name) {
  name = check_person_name(std::move(name));
  auto& store = clusters();
  const auto now = now_s();
  const auto before = store.find_cluster(id, now);  // its encodings, for the gallery: a cluster never changes
  if (!before) throw no_cluster(id);
  // The faces already known are left out; the others, in order, are what the gallery gets.
  store_.check_fresh();
  const auto known = known_as(*store_.snapshot(), *before);
  std::vector<bool> skip(known.size());
  std::vector<faceapp::encoding> encodings;
  for (std::size_t i = 0; i < before->faces.size(); ++i) {
    skip[i] = known[i].has_value();
    if (!skip[i]) encodings.push_back(before->faces[i].encoding);
  }
  const auto added = store_.add_written(
      [&] { return store.enrol_cluster(id, name, faceapp::utc_timestamp(), now, skip); }, encodings);
  if (!added) throw no_cluster(id);  // enrolled or discarded meanwhile
  if (!added->empty()) return find_person(added->front().person_id);
  // Every face was known: nothing enrolled, the cluster is gone; the answer is the person they are known as.
  for (const auto& k : known) {
    if (!k) continue;
    if (const auto face = store_.find(*k)) return find_person(face->person_id);
  }
  throw service_error(errc::not_found, "the faces of pending cluster " + std::to_string(id) +
                                           " were known, and their person has been deleted meanwhile");
}

}  // namespace faceapp_web
