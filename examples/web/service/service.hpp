// faceapp-web's service layer: what the pages and the API do, as plain C++: read uploads, find and encode their
// faces on the worker pool, search the gallery, compare, add and delete faces, list them, and record every
// result through the library's `record` stage. Errors are service_error with an errc (service/errors.hpp); this
// layer knows nothing of HTTP statuses, JSON or HTML.
//
// Threads: every call may come from any thread (the HTTP layer's handler threads). The heavy work of a call
// (decode, detect, encode, the 1:N scan, the JPEGs of a result) runs as one job on the worker pool, which has
// one thread per core; the calling thread waits for it and then does only the database's part.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <faceapp/faces.hpp>
#include <faceapp/stages/detect.hpp>
#include <faceapp/stages/distance.hpp>
#include <faceapp/stages/record.hpp>

#include "service/errors.hpp"
#include "service/listing.hpp"
#include "service/person_listing.hpp"
#include "service/stats.hpp"
#include "store/cluster_store.hpp"
#include "store/face_store.hpp"
#include "work_pool.hpp"

namespace faceapp_web {

/// How the service was started.
struct service_options {
  std::filesystem::path data_dir = "faceapp-data";
  bool keep_uploads = false;
  std::size_t max_body_bytes = 10U << 20;  // the largest upload (the HTTP layer's body limit)
  std::int64_t max_pixels = 25'000'000;
  int max_side = 1600;          // larger photos are shrunk before detection (face_recognition's CLI does the same)
  unsigned workers = 0;         // 0: one per core
  std::size_t max_faces = 100;  // faces kept (and, for a recognize, encoded) per image, the largest first
  std::string db;               // empty: the embedded store in data_dir; sqlite:PATH; postgresql://...
  double max_staleness_s = 5;   // a shared database: longest a recognize may lag behind it
  faceapp::detector_model detector = faceapp::hog;  // HOG upsampled once, or the cnn without tiles
  std::size_t max_search_encodings = 100;  // the HTTP layer's limits of a search by encoding (http/limits.hpp)
  std::size_t max_search_k = 100;
  std::size_t max_cluster_photos = 50;  // photos in one POST /api/cluster (the HTTP layer counts them)
  // The gallery's compact copy, scanned before the exact float32 re-score (136 bytes a face more for int8); the
  // answers are the float32 scan's whatever it is. A large gallery's scan is split among the workers.
  faceapp::compact_codes gallery_codes = faceapp::compact_codes::int8;
  // With a compact copy: the float32 rows in an unnamed file in data_dir, mapped, mostly not resident (the
  // re-score reads a few a query); false, or a directory that cannot hold one, keeps them on the heap.
  bool gallery_rows_in_file = true;
  std::size_t gallery_parallel_min_rows = 65536;  // a smaller gallery is scanned by its query's worker alone
  std::function<std::int64_t()> clock;  // seconds since the epoch, for pending clusters' expiry; empty: the system's
};

/// An uploaded image, checked to be one of the types `read` accepts.
struct upload {
  std::string bytes;
  std::string file_name;  // cleaned; a label only
  std::string sha256;
  std::string type;       // jpg, png, bmp or webp, from the magic bytes

  /// How the upload is named in records: its content hash and the name it was uploaded under.
  [[nodiscard]] std::string label() const { return "sha256:" + sha256 + " (" + file_name + ")"; }
};

/// Checks an uploaded file from form field `field`: empty -> bad_input; not JPEG/PNG/BMP/WebP by its magic
/// bytes -> unsupported.
upload make_upload(std::string bytes, const std::string& original_name, const std::string& field);

/// A person's name as typed (examples/common/names.hpp's rule), trimmed; bad_input saying what is wrong.
std::string check_person_name(std::string name);

/// A tolerance field: empty -> the default; otherwise a number in [0, 1], else bad_input.
float parse_tolerance(const std::string& text);

/// The faces found in one upload.
struct analysed {
  std::string label;
  faceapp::faces faces;   // the faces kept (at most max_faces, the largest), in the detector's order; the image
                          // keeps its size and scale but not its pixels once the job is done
  std::size_t found = 0;  // faces detected, before the max_faces cut
  std::string display_jpeg;  // the photo as a result page shows it, when asked for
};

/// A recognized photo: every face kept, encoded, with the nearest known person.
struct recognition {
  analysed photo;
  faceapp::encoded_faces faces;
  float tolerance = faceapp::default_tolerance;
};

/// Two photos compared by their largest faces (only those two are encoded).
struct comparison {
  analysed a;
  analysed b;
  std::optional<std::size_t> face_a;  // index in a.faces of the face used, when a has one
  std::optional<std::size_t> face_b;
  std::optional<float> distance;
  bool match = false;
  std::optional<float> similarity;
  float tolerance = faceapp::default_tolerance;
};

/// A known face a search by encoding found (service/search.cpp).
struct search_hit {
  std::uint64_t id = 0;
  std::string name;
  float distance = 0;
};

/// A `since` of the records: an ISO-8601 UTC time, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.fraction]] then Z or
/// +00:00, in the records' own form (YYYY-MM-DDTHH:MM:SS.mmmZ; a fraction finer than milliseconds rounds up, so
/// that "at or after" keeps its meaning); bad_input naming the value otherwise (service/records.cpp).
std::string parse_since(std::string_view text);

/// A search of `encodings` encodings for `k` matches each: bad_input when there are none or more than
/// max_search_encodings, or k is not from 1 to max_search_k.
void check_search_bounds(std::size_t encodings, std::int64_t k, const service_options& o);

/// A bulk upload clustered (service/clusters.cpp): the clusters stored as pending, the photos where no face was
/// found, and the faces the quality gate refused.
struct cluster_upload {
  struct refusal {
    std::string photo;   // the uploaded file name
    std::string reason;  // the quality gate's ("face too small: 35 px < 40 px"), "face 2 of 3: " first in a group
  };
  std::vector<pending_cluster> clusters;
  std::vector<std::string> no_face;  // uploaded file names of the photos where no face was found, in upload order
  std::vector<refusal> refused;      // each face the quality gate refused, in upload order
};

/// The faces of one photo of a bulk upload: those fit to enrol, and why each other one was refused.
struct photo_faces {
  std::size_t detected = 0;
  std::vector<pending_face> faces;
  std::vector<std::string> refused;
};

class face_service {
 public:
  /// Opens the store `options.db` names and the records; throws std::runtime_error naming what failed.
  explicit face_service(service_options options);
  face_service(const face_service&) = delete;
  face_service& operator=(const face_service&) = delete;
  ~face_service();

  /// Loads the models once, so that a missing model stops a server at start; throws std::runtime_error.
  static void check_models(faceapp::detector_model detector = faceapp::hog);

  /// Every face of the photo against the gallery, recorded. `display`: also make the result page's JPEG.
  recognition recognize(upload u, float tolerance, bool display = false);
  /// The largest face of each photo, compared; one record row (see service.cpp).
  comparison compare(upload a, upload b, float tolerance, bool display = false);
  /// Adds the largest face of the photo to the gallery; bad_input when it has none.
  person add_face(std::string name, upload u);
  /// Deletes a face; false when there is none with this id.
  bool remove(std::uint64_t id);

  [[nodiscard]] std::optional<person> find(std::uint64_t id) const;
  /// Faces in id order from `offset`, at most `limit`, with the total.
  [[nodiscard]] people_page list(std::uint64_t offset, std::uint64_t limit) const;
  /// Faces in id order from the first with an id above `after` (a keyset page), at most `limit`, with the total.
  [[nodiscard]] people_page list_after(std::uint64_t after, std::uint64_t limit) const;
  [[nodiscard]] std::optional<std::string> thumbnail(std::uint64_t id) const;
  [[nodiscard]] std::size_t gallery_size() const;

  /// The k nearest known faces of each encoding, nearest first, in one pass over the gallery on a worker
  /// (service/search.cpp). bad_input outside check_search_bounds; fewer than k hits when the gallery has
  /// fewer faces.
  std::vector<std::vector<search_hit>> search_encodings(std::vector<faceapp::encoding> queries,
                                                       std::int64_t k);

  /// Every record as CSV, header first (the header alone when there is none yet), written in pieces as they
  /// are read (service/records.cpp); with `since` (parse_since's form), only those whose time is at or after it.
  void records(std::string_view since, const std::function<void(std::string_view)>& write) const;
  /// unavailable_error when the records' database cannot be reached now: asked before an answer commits to 200,
  /// since a streamed answer that fails later can only be cut short.
  void check_records_reachable() const;
  // ---- people (service/people.cpp): a name and its faces; not_found for a missing person or face ----

  person_summary create_person(std::string name);
  /// People whose name contains `query` (at most max_name_bytes of it, else bad_input), with face counts.
  [[nodiscard]] persons_page list_persons(std::string_view query, std::uint64_t offset, std::uint64_t limit) const;
  /// The same from the first person with an id above `after` (a keyset page).
  [[nodiscard]] persons_page list_persons_after(std::string_view query, std::uint64_t after,
                                                std::uint64_t limit) const;
  [[nodiscard]] person_detail find_person(std::uint64_t id) const;
  /// The main page's list of people for a search `query` and a 1-based `page` (see person_listing.hpp).
  [[nodiscard]] persons_listing search_persons(std::string_view query, std::string_view page) const;
  /// The person as the rename left it (read in the rename's transaction).
  person_detail rename_person(std::uint64_t id, std::string name);
  void remove_person(std::uint64_t id);
  /// Every face of `from` joins `into`; `from` is deleted. bad_input when they are the same person. Returns
  /// `into` as the merge left it (read in the merge's transaction).
  person_detail merge_persons(std::uint64_t into, std::uint64_t from);
  /// The largest face of the photo, through the library's quality gate (min side 40 px, sharpness 5): bad_input
  /// with the gate's reason, naming the photo, when refused.
  person add_person_face(std::uint64_t id, upload u);
  /// Deletes face `face` when it is one of person `id`'s (one statement: a face a concurrent merge moved to
  /// another person stays); not_found otherwise.
  void remove_person_face(std::uint64_t id, std::uint64_t face);

  // ---- pending clusters (service/clusters.cpp): bulk enrolment; not_found for a missing or expired cluster ----

  /// Every face of every photo that passes the quality gate, clustered at the library's default tolerance; each
  /// cluster suggests the known person nearest to one of its faces within the matching tolerance (0.6). The
  /// clusters are stored as pending. A face already in the gallery (face_is_known) is marked `known`, here and
  /// whenever a cluster is read. bad_input when there is no photo, too_large when more than max_cluster_photos.
  cluster_upload cluster_photos(std::vector<upload> photos);
  [[nodiscard]] std::vector<pending_cluster> pending_clusters() const;
  [[nodiscard]] pending_cluster find_cluster(std::uint64_t id) const;
  void discard_cluster(std::uint64_t id);
  /// Every face of the cluster not already known joins the person of exactly `name` (created when there is
  /// none), in one transaction that also deletes the cluster; that person afterwards. When every face is known,
  /// nothing is added, the cluster is deleted and the answer is the person of the nearest known face.
  person_detail enrol_cluster(std::uint64_t id, std::string name);
  /// Now, by the service's clock (service_options::clock), in seconds since the epoch.
  [[nodiscard]] std::int64_t now_s() const;

  /// Every record as CSV, whole, in memory (for tests and small galleries): records() without `since`.
  [[nodiscard]] std::string records_csv() const;

  [[nodiscard]] const service_options& options() const noexcept { return options_; }
  [[nodiscard]] unsigned workers() const noexcept { return pool_.size(); }
  [[nodiscard]] face_store& store() noexcept { return store_; }
  /// The stages' times, for /metrics.
  [[nodiscard]] const service_stats& stats() const noexcept { return stats_; }
  /// Seconds the gallery may lag behind a shared database (0 without one).
  [[nodiscard]] double lag_seconds() const noexcept { return store_.lag_seconds(); }
  /// Why the service cannot answer every request now (the store unreachable, the gallery too far behind), or
  /// nothing when it can.
  [[nodiscard]] std::optional<std::string> not_ready() const;

 private:
  analysed detect_now(const upload& u) const;
  /// Adds the largest face of `u` (to person `to`, else to the person named `name`), through the quality gate
  /// when `gate`.
  person enrol(std::string name, upload u, std::optional<std::uint64_t> to, bool gate);
  void finish(analysed& a, bool display) const;
  /// On a worker: every face of `u` that passes the quality gate, encoded, with its thumbnail (service.cpp).
  photo_faces enrolment_faces(const upload& u) const;
  [[nodiscard]] cluster_store& clusters() const;
  /// Sets each face's `known` from the gallery now (face_is_known).
  void mark_known(std::vector<pending_cluster>& clusters) const;
  void keep(const upload& u) const;
  void record(faceapp::encoded_faces rows) const;

  service_options options_;
  mutable service_stats stats_;  // written by const calls too: measuring is not a change of the service
  std::filesystem::path rows_dir_;  // where the gallery maps its rows (empty: the heap); made before store_
  face_store store_;
  std::unique_ptr<faceapp::record_sink> records_;  // results.csv, or the database's results table
  results_store* db_records_ = nullptr;            // with a database: where records_ writes
  work_pool pool_;                                 // last: joined first, while what its jobs use exists
};

}  // namespace faceapp_web
