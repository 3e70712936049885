// faceapp-web: what the pages and the API do, independent of HTTP: read uploads, encode them on the worker
// pool, search the gallery, compare, and record every result through the library's `record` stage.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <faceapp/faceapp.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face_store.hpp"
#ifdef FACEAPP_WEB_POSTGRESQL
#include "pg_store.hpp"
#endif
#include "util.hpp"
#include "work_pool.hpp"

namespace faceapp_web {

/// How the server was started.
struct app_options {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::filesystem::path data_dir = "faceapp-data";
  bool keep_uploads = false;
  std::size_t max_body_bytes = 10U << 20;
  std::int64_t max_pixels = 25'000'000;
  int max_side = 1600;  // larger photos are shrunk before detection (face_recognition's CLI does the same)
  unsigned workers = 0;        // 0: one per core
  unsigned http_threads = 0;   // 0: 8 + 4 per worker
  bool access_log = false;
  std::size_t max_faces = 100;  // faces encoded per image, the largest first
  std::string db;               // empty: the embedded store in data_dir; sqlite:PATH; postgresql://...
  double max_staleness_s = 5;   // a shared database: longest a recognize may lag behind it
  faceapp::detector_model detector = faceapp::hog;  // --detector: HOG upsampled once, or the cnn without tiles
};

/// An error with the HTTP status it is answered with.
struct http_error : std::runtime_error {
  int status;
  http_error(int s, const std::string& message) : std::runtime_error(message), status(s) {}
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

/// Checks an uploaded part: empty -> 400, not JPEG/PNG/BMP/WebP by its magic bytes -> 415.
inline upload make_upload(std::string bytes, const std::string& original_name, const std::string& field) {
  if (bytes.empty()) throw http_error(400, "the file in field '" + field + "' is empty");
  const auto type = sniff_image_type(bytes);
  if (!type) {
    throw http_error(415, "the file in field '" + field +
                              "' is not an image of a supported type (JPEG, PNG, BMP or WebP, recognised by its "
                              "first bytes)");
  }
  upload u;
  u.sha256 = sha256_hex(bytes);
  u.bytes = std::move(bytes);
  u.file_name = clean_file_name(original_name);
  u.type = std::string(*type);
  return u;
}

/// The faces found in one upload: `faces` holds the ones used (at most --max-faces, the largest).
struct analysed {
  std::string label;
  faceapp::encoded_faces faces;
  std::size_t found = 0;  // faces detected, before the --max-faces cut
};

/// A recognized photo: every face with the nearest known person.
struct recognition {
  analysed photo;
  float tolerance = faceapp::default_tolerance;
};

/// Two photos compared by their largest faces.
struct comparison {
  analysed a;
  analysed b;
  std::optional<std::size_t> face_a;  // index of the face used, when a has one
  std::optional<std::size_t> face_b;
  std::optional<float> distance;
  bool match = false;
  std::optional<float> similarity;
  float tolerance = faceapp::default_tolerance;
};

class app {
 public:
  explicit app(app_options options)
      : options_(std::move(options)),
        store_((prepare_dirs(options_), open_store(options_)), options_.max_staleness_s),
        pool_(options_.workers != 0 ? options_.workers : std::max(1U, std::thread::hardware_concurrency())) {
    if (!options_.db.empty()) {  // the records go to the same database
      db_records_ = dynamic_cast<results_store*>(&store_.backend());
      if (db_records_ == nullptr) throw std::runtime_error("--db " + options_.db + " cannot keep records");
      records_ = std::make_unique<results_sink>(*db_records_);
      return;
    }
    auto csv = std::make_unique<faceapp::csv_sink>(options_.data_dir / "results.csv");
    if (!csv->ok()) throw std::runtime_error(csv->error()->what());
    records_ = std::move(csv);
  }

  /// The store `--db` names (the embedded one in --data without it).
  static std::unique_ptr<store_backend> open_store(const app_options& o) {
    if (o.db.empty()) return std::make_unique<sqlite_store>(o.data_dir);
    if (o.db.rfind("sqlite:", 0) == 0 && o.db.size() > 7) {
      return std::make_unique<sqlite_store>(o.db.substr(7), sqlite_store::at_file{});
    }
    if (o.db.rfind("postgresql://", 0) == 0 || o.db.rfind("postgres://", 0) == 0) {
#ifdef FACEAPP_WEB_POSTGRESQL
      return std::make_unique<pg_store>(o.db);
#else
      throw std::runtime_error("--db " + o.db.substr(0, o.db.find('@')) +
                               "...: this faceapp-web was built without PostgreSQL (install libpq-dev and rebuild)");
#endif
    }
    throw std::runtime_error("--db must be postgresql://USER@HOST:PORT/DBNAME or sqlite:PATH");
  }

  /// Whether the records go to the database's results table (else to results.csv in --data).
  [[nodiscard]] bool records_in_database() const noexcept { return db_records_ != nullptr; }
  /// Every record as CSV lines, in batches (records_in_database() only).
  void read_records(const std::function<void(const std::string&)>& fn) const {
    if (db_records_ != nullptr) db_records_->read_results(fn);
  }

  [[nodiscard]] const app_options& options() const noexcept { return options_; }
  [[nodiscard]] face_store& store() noexcept { return store_; }
  [[nodiscard]] unsigned workers() const noexcept { return pool_.size(); }
  [[nodiscard]] std::filesystem::path records_file() const { return options_.data_dir / "results.csv"; }

  /// Loads the models once, before the first request, so that a missing model stops the server at start.
  static void check_models(faceapp::detector_model detector = faceapp::hog) {
    if (const auto& m = faceapp::default_landmark_model(); !m) throw std::runtime_error(m.error().what());
    if (const auto& m = faceapp::default_encoder_model(); !m) throw std::runtime_error(m.error().what());
    if (detector == faceapp::cnn) {
      if (const auto& m = faceapp::default_cnn_detector_model(); !m) throw std::runtime_error(m.error().what());
    }
  }

  /// The faces of an upload, decoded and encoded on a worker. Errors: 413 when the image has more pixels than
  /// allowed, 400 for anything else the decoder refuses.
  std::future<analysed> analyse(upload u) {
    return pool_.submit([this, u = std::move(u)] { return encode_now(u); });
  }

  recognition recognize(upload u, float tolerance) {
    recognition r{analyse(std::move(u)).get(), tolerance};
    try {
      store_.check_fresh();
    } catch (const unavailable_error& e) {
      throw http_error(503, e.what());
    }
    const auto known = face_store::gallery_of(store_.snapshot());
    const auto score = faceapp::distance_to(known, tolerance) | faceapp::record(std::ref(*records_));
    auto done = score(std::move(r.photo.faces));
    if (!done) throw record_error(done.error());
    r.photo.faces = *std::move(done);
    return r;
  }

  /// Compares the largest face of each photo. One record row per comparison: the input names both photos
  /// ("<a> vs <b>"), the face cells are those of a's face, then distance and match; a row with empty face cells
  /// when either photo has no face.
  comparison compare(upload a, upload b, float tolerance) {
    auto fa = analyse(std::move(a));  // both encode at once on two workers
    auto fb = analyse(std::move(b));
    comparison c;
    c.a = fa.get();
    c.b = fb.get();
    c.tolerance = tolerance;
    c.face_a = c.a.faces.largest();
    c.face_b = c.b.faces.largest();
    faceapp::encoded_faces row;
    row.image = c.a.faces.image;
    row.image.source = c.a.label + " vs " + c.b.label;
    if (c.face_a && c.face_b) {
      auto face = c.a.faces[*c.face_a];
      c.distance = faceapp::distance(face.encoding, c.b.faces[*c.face_b].encoding);
      c.match = *c.distance <= tolerance;
      c.similarity = faceapp::similarity_percent(*c.distance, tolerance);
      face.distance = c.distance;
      face.match = c.match;
      face.name.clear();
      row.items.push_back(std::move(face));
    }
    if (auto done = faceapp::record(std::ref(*records_))(std::move(row)); !done) throw record_error(done.error());
    return c;
  }

  /// Adds the largest face of a photo to the gallery. 400 when the photo has no face.
  person add_face(std::string name, upload u) {
    auto photo = analyse(std::move(u)).get();
    const auto largest = photo.faces.largest();
    if (!largest) throw http_error(400, "no face found in the photo; try a sharper, frontal photo");
    const auto& face = photo.faces[*largest];
    return store_.add(std::move(name), face.encoding, photo.label, face.box, thumbnail(photo.faces, face));
  }

  /// A person's name as typed: trimmed; 1 to 100 bytes of UTF-8 without control characters.
  static std::string check_person_name(std::string name) {
    const auto first = name.find_first_not_of(" \t");
    if (first == std::string::npos) throw http_error(400, "the name is empty");
    name = name.substr(first, name.find_last_not_of(" \t") - first + 1);
    if (name.size() > 100) throw http_error(400, "the name is longer than 100 bytes");
    if (!is_clean_utf8(name)) throw http_error(400, "the name is not valid UTF-8 text");
    return name;
  }

  /// A tolerance field: empty -> the default; otherwise a number in [0, 1].
  static float parse_tolerance(const std::string& text) {
    if (text.empty()) return faceapp::default_tolerance;
    std::size_t used = 0;
    double t = -1;
    try {
      t = std::stod(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != text.size() || !(t >= 0 && t <= 1)) {
      throw http_error(400, "tolerance must be a number from 0 to 1 (default 0.6)");
    }
    return static_cast<float>(t);
  }

  /// The photo as the result page shows it: the decoded pixels (EXIF orientation applied, so the boxes fit),
  /// at most 720 px on the longer side, as JPEG.
  static std::string display_jpeg(const faceapp::image& img) {
    cv::Mat pixels = img.pixels;
    const int longer = std::max(pixels.cols, pixels.rows);
    if (longer > 720) {
      const double s = 720.0 / longer;
      cv::resize(pixels, pixels, cv::Size(), s, s, cv::INTER_AREA);
    }
    return jpeg(pixels, 82);
  }

 private:
  /// A result that could not be recorded: 507 when the disk is full (nothing partial was left), 500 otherwise.
  http_error record_error(const faceapp::stage_error& e) const {
    if (db_records_ != nullptr && e.code != faceapp::errc::no_space) {
      return http_error(503, e.what());  // the database is away: nothing was inserted
    }
    return e.code == faceapp::errc::no_space
               ? http_error(507, "the result could not be recorded: the disk is full (" + e.what() + ")")
               : http_error(500, e.what());
  }

  /// The data directory and what the server creates in it are the operator's alone: a directory it creates is
  /// 0700 and its files 0600 (the process umask, set at start, does that). An existing directory is left as it
  /// is (it may be a shared one, such as the working directory), with a warning when others may read it.
  static void prepare_dirs(const app_options& o) {
    namespace fs = std::filesystem;
    for (const auto& dir : {o.data_dir, o.data_dir / "uploads"}) {
      if (dir != o.data_dir && !o.keep_uploads) continue;
      if (fs::create_directories(dir)) {
        fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
      } else if ((fs::status(dir).permissions() & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
        std::fprintf(stderr, "faceapp-web: warning: %s may be read by other users (chmod 700 it); the files created "
                             "in it are 0600\n", dir.c_str());
      }
    }
  }

  analysed encode_now(const upload& u) const {
    const auto find = faceapp::read(faceapp::read_options{.max_pixels = options_.max_pixels,
                                                          .max_bytes = static_cast<std::int64_t>(
                                                              options_.max_body_bytes)}) |
                      faceapp::fit(options_.max_side) | faceapp::detect(options_.detector);
    auto found = find(faceapp::source::from_bytes(std::vector<std::uint8_t>(u.bytes.begin(), u.bytes.end()),
                                                  u.file_name));
    if (!found) {
      const auto& e = found.error();
      throw http_error(e.code == faceapp::errc::too_large ? 413 : e.code == faceapp::errc::unsupported ? 415 : 400,
                       u.file_name + ": " + e.message);
    }
    const std::size_t detected = found->size();
    keep_largest(*found, options_.max_faces);
    auto r = faceapp::encode(*found);
    if (!r) throw http_error(500, u.file_name + ": " + r.error().message);
    keep(u);  // only images that decode are kept
    analysed a{u.label(), *std::move(r), detected};
    a.faces.image.source = a.label;  // what `record` writes as the input
    return a;
  }

  /// Keeps the `n` largest faces (by box area; ties: the detector's order), in the detector's order, so that a
  /// photo of a crowd costs at most n encodings.
  static void keep_largest(faceapp::faces& f, std::size_t n) {
    if (f.items.size() <= n) return;
    std::vector<std::size_t> order(f.items.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t x, std::size_t y) { return f.items[x].box.area() > f.items[y].box.area(); });
    order.resize(n);
    std::sort(order.begin(), order.end());
    std::vector<faceapp::face> kept;
    kept.reserve(n);
    for (const auto i : order) kept.push_back(std::move(f.items[i]));
    f.items = std::move(kept);
  }

  /// With --keep-uploads: the upload under its content hash; the uploaded name never reaches the file system.
  void keep(const upload& u) const {
    if (!options_.keep_uploads) return;
    const auto path = options_.data_dir / "uploads" / (u.sha256 + "." + u.type);
    if (!std::filesystem::exists(path)) write_file_atomically(path, u.bytes);
  }

  static std::string jpeg(const cv::Mat& rgb, int quality) {
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    std::vector<std::uint8_t> out;
    cv::imencode(".jpg", bgr, out, {cv::IMWRITE_JPEG_QUALITY, quality});
    return {out.begin(), out.end()};
  }

  /// A square crop around the face with some margin, 112 x 112, as JPEG.
  static std::string thumbnail(const faceapp::encoded_faces& photo, const faceapp::encoded_face& face) {
    const auto& px = photo.image.pixels;
    const auto& b = face.box_in_image;
    const int side = static_cast<int>(std::max(b.width(), b.height()) * 1.4);
    const int cx = (b.left + b.right) / 2;
    const int cy = (b.top + b.bottom) / 2;
    cv::Rect r(cx - side / 2, cy - side / 2, side, side);
    r &= cv::Rect(0, 0, px.cols, px.rows);
    if (r.width <= 0 || r.height <= 0) r = cv::Rect(0, 0, px.cols, px.rows);
    cv::Mat crop;
    cv::resize(px(r), crop, cv::Size(112, 112), 0, 0, cv::INTER_AREA);
    return jpeg(crop, 85);
  }

  app_options options_;
  face_store store_;
  std::unique_ptr<faceapp::record_sink> records_;  // results.csv, or the database's results table
  results_store* db_records_ = nullptr;  // with --db: where records_ writes
  work_pool pool_;
};

}  // namespace faceapp_web
