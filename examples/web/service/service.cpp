// faceapp-web's service layer (see service.hpp).
#include "service/service.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <thread>
#include <utility>
#include <vector>

#include <faceapp/faceapp.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/atomic_file.hpp"
#include "common/names.hpp"
#include "store/open_store.hpp"
#include "util.hpp"

namespace faceapp_web {

namespace {

std::string jpeg(const cv::Mat& rgb, int quality) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<std::uint8_t> out;
  cv::imencode(".jpg", bgr, out, {cv::IMWRITE_JPEG_QUALITY, quality});
  return {out.begin(), out.end()};
}

/// The photo as the result page shows it: the decoded pixels (EXIF orientation applied, so the boxes fit), at
/// most 720 px on the longer side, as JPEG.
std::string display_jpeg(const faceapp::image& img) {
  cv::Mat pixels = img.pixels;
  const int longer = std::max(pixels.cols, pixels.rows);
  if (longer > 720) {
    const double s = 720.0 / longer;
    cv::resize(pixels, pixels, cv::Size(), s, s, cv::INTER_AREA);
  }
  return jpeg(pixels, 82);
}

/// A square crop around the face with some margin, 112 x 112, as JPEG.
std::string thumbnail_of(const faceapp::image& img, const faceapp::face& face) {
  const auto& px = img.pixels;
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

/// Keeps the `n` largest faces (by box area; ties: the detector's order), in the detector's order, so that a
/// photo of a crowd costs at most n encodings.
void keep_largest(faceapp::faces& f, std::size_t n) {
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

/// The encoding of one face of `found` (the only one encoded); `label` names the upload in errors.
faceapp::encoded_face encode_one(const faceapp::faces& found, std::size_t index, const std::string& label) {
  faceapp::faces one;
  one.image = found.image;
  one.items.push_back(found.items[index]);
  auto r = faceapp::encode(std::move(one));
  if (!r) throw service_error(errc::internal, label + ": " + r.error().message);
  return r->items.front();
}

/// Face `index` of `found` alone, through the library's quality gate (it finds the landmarks encode then uses);
/// bad_input with the gate's reason, naming the photo `label`, when it is refused.
faceapp::faces passed_quality(const faceapp::faces& found, std::size_t index, const std::string& label) {
  faceapp::faces one;
  one.image = found.image;
  one.items.push_back(found.items[index]);
  auto r = faceapp::quality.run(std::move(one));
  if (!r) throw service_error(errc::bad_input, "quality: " + label + ": " + r.error().message);
  return std::move(*r);
}

/// The data directory and what the server creates in it are the operator's alone: a directory it creates is
/// 0700 and its files 0600 (the process umask, set at start, does that). An existing directory is left as it
/// is (it may be a shared one, such as the working directory), with a warning when others may read it.
void prepare_dirs(const service_options& o) {
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

}  // namespace

upload make_upload(std::string bytes, const std::string& original_name, const std::string& field) {
  if (bytes.empty()) throw service_error(errc::bad_input, "the file in field '" + field + "' is empty");
  const auto type = sniff_image_type(bytes);
  if (!type) {
    throw service_error(errc::unsupported, "the file in field '" + field +
                                               "' is not an image of a supported type (JPEG, PNG, BMP or WebP, "
                                               "recognised by its first bytes)");
  }
  upload u;
  u.sha256 = sha256_hex(bytes);
  u.bytes = std::move(bytes);
  u.file_name = clean_file_name(original_name);
  u.type = std::string(*type);
  return u;
}

std::string check_person_name(std::string name) {
  if (auto problem = faceapp_examples::name_problem(name)) throw service_error(errc::bad_input, *problem);
  return name;
}

float parse_tolerance(const std::string& text) {
  if (text.empty()) return faceapp::default_tolerance;
  std::size_t used = 0;
  double t = -1;
  try {
    t = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(t >= 0 && t <= 1)) {
    throw service_error(errc::bad_input, "tolerance must be a number from 0 to 1 (default 0.6)");
  }
  return static_cast<float>(t);
}

/// The workers of the pool: service_options::workers, or one per core.
static unsigned worker_count(const service_options& o) {
  return o.workers != 0 ? o.workers : std::max(1U, std::thread::hardware_concurrency());
}

/// Where the gallery maps its float32 rows (service_options::gallery_rows_in_file): data_dir, when it can hold
/// an unnamed file; otherwise nowhere (the heap), with a line on stderr saying why.
static std::filesystem::path gallery_rows_dir(const service_options& o) {
  if (!o.gallery_rows_in_file || o.gallery_codes == faceapp::compact_codes::none) return {};
  try {
    faceapp::detail::mapped_rows_file probe(o.data_dir, 1U << 16);
    return o.data_dir;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "faceapp-web: the gallery's rows stay in memory: %s\n", e.what());
    return {};
  }
}

face_service::face_service(service_options options)
    : options_(std::move(options)),
      rows_dir_((prepare_dirs(options_), gallery_rows_dir(options_))),
      store_(open_store(options_.db, options_.data_dir), options_.max_staleness_s,
             faceapp::gallery_options{
                 .codes = options_.gallery_codes,
                 .scan_threads = worker_count(options_),  // a query's scan on every worker
                 .parallel_min_rows = options_.gallery_parallel_min_rows,
                 // Runs only after the constructor: the pool is made last, and no query comes before.
                 .scan_executor = [this](std::function<void()> job) { pool_.post_first(std::move(job)); },
                 .rows_dir = rows_dir_}),
      pool_(worker_count(options_)) {
  // Pending clusters that expired while the server was down go now, not at the next upload.
  if (auto* c = dynamic_cast<cluster_store*>(&store_.backend())) c->expire_clusters(now_s());
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

face_service::~face_service() = default;

void face_service::check_models(faceapp::detector_model detector) {
  if (const auto& m = faceapp::default_landmark_model(); !m) throw std::runtime_error(m.error().what());
  if (const auto& m = faceapp::default_encoder_model(); !m) throw std::runtime_error(m.error().what());
  if (detector == faceapp::cnn) {
    if (const auto& m = faceapp::default_cnn_detector_model(); !m) throw std::runtime_error(m.error().what());
  }
}

/// Decodes and detects (on a worker): too_large when the image has more pixels or bytes than allowed,
/// unsupported or bad_input for anything else the decoder refuses.
analysed face_service::detect_now(const upload& u) const {
  const faceapp::read_options limits{.max_pixels = options_.max_pixels,
                                     .max_bytes = static_cast<std::int64_t>(options_.max_body_bytes)};
  const auto find = faceapp::read(limits) | faceapp::fit(options_.max_side) | faceapp::detect(options_.detector);
  auto found = [&] {
    const timed t(stats_.detect);
    return find(faceapp::source::from_bytes(std::vector<std::uint8_t>(u.bytes.begin(), u.bytes.end()),
                                                u.file_name));
  }();
  if (!found) {
    const auto& e = found.error();
    throw service_error(e.code == faceapp::errc::too_large     ? errc::too_large
                        : e.code == faceapp::errc::unsupported ? errc::unsupported
                                                               : errc::bad_input,
                        u.file_name + ": " + e.message);
  }
  keep(u);  // only images that decode are kept
  analysed a{u.label(), *std::move(found), 0, {}};
  a.found = a.faces.size();
  keep_largest(a.faces, options_.max_faces);
  a.faces.image.source = a.label;  // what `record` writes as the input
  return a;
}

/// The end of a job: the result page's JPEG when asked for, then the pixels go (the caller needs none).
void face_service::finish(analysed& a, bool display) const {
  if (display) a.display_jpeg = display_jpeg(a.faces.image);
  a.faces.image.pixels.release();
}

void face_service::record(faceapp::encoded_faces rows) const {
  auto done = faceapp::record(std::ref(*records_))(std::move(rows));
  if (done) return;
  const auto& e = done.error();
  if (e.code == faceapp::errc::no_space) {
    throw service_error(errc::no_space, "the result could not be recorded: the disk is full (" + e.what() + ")");
  }
  // A database that is away: nothing was inserted.
  throw service_error(db_records_ != nullptr ? errc::unavailable : errc::internal, e.what());
}

recognition face_service::recognize(upload u, float tolerance, bool display) {
  // One job: decode, detect, encode every kept face, scan the gallery, record, and the page's JPEG.
  return pool_
      .submit([this, u = std::move(u), tolerance, display] {
        recognition r{detect_now(u), {}, tolerance};
        auto encoded = [&] {
          const timed t(stats_.encode);
          return faceapp::encode(r.photo.faces);
        }();
        if (!encoded) throw service_error(errc::internal, u.file_name + ": " + encoded.error().message);
        store_.check_fresh();
        auto scored = [&] {
          const timed t(stats_.scan);
          return faceapp::distance_to(store_.snapshot(), tolerance)(*std::move(encoded));
        }();
        if (!scored) throw service_error(errc::internal, u.file_name + ": " + scored.error().message);
        r.faces = *scored;
        record(*std::move(scored));
        finish(r.photo, display);
        r.faces.image.pixels.release();
        return r;
      })
      .get();
}

comparison face_service::compare(upload a, upload b, float tolerance, bool display) {
  // The two photos at once on two workers; each encodes its largest face only.
  struct side {
    analysed photo;
    std::optional<std::size_t> used;
    std::optional<faceapp::encoded_face> face;
  };
  const auto job = [this, display](upload u) {
    side s{detect_now(u), {}, {}};
    s.used = s.photo.faces.largest();
    if (s.used) {
      const timed t(stats_.encode);
      s.face = encode_one(s.photo.faces, *s.used, u.file_name);
    }
    finish(s.photo, display);
    return s;
  };
  auto fa = pool_.submit([job, u = std::move(a)]() mutable { return job(std::move(u)); });
  auto fb = pool_.submit([job, u = std::move(b)]() mutable { return job(std::move(u)); });
  auto sa = fa.get();
  auto sb = fb.get();
  comparison c{std::move(sa.photo), std::move(sb.photo), sa.used, sb.used, {}, false, {}, tolerance};
  // One record row per comparison: the input names both photos ("<a> vs <b>"), the face cells are those of a's
  // face, then distance and match; a row with empty face cells when either photo has no face.
  faceapp::encoded_faces row;
  row.image = c.a.faces.image;
  row.image.source = c.a.label + " vs " + c.b.label;
  if (sa.face && sb.face) {
    auto face = *std::move(sa.face);
    c.distance = faceapp::distance(face.encoding, sb.face->encoding);
    c.match = *c.distance <= tolerance;
    c.similarity = faceapp::similarity_percent(*c.distance, tolerance);
    face.distance = c.distance;
    face.match = c.match;
    face.name.clear();
    row.items.push_back(std::move(face));
  }
  record(std::move(row));
  return c;
}

person face_service::add_face(std::string name, upload u) { return enrol(std::move(name), std::move(u), {}, false); }

person face_service::enrol(std::string name, upload u, std::optional<std::uint64_t> to, bool gate) {
  struct found {
    analysed photo;
    faceapp::encoded_face face;
    std::string thumbnail;
  };
  auto f = pool_
               .submit([this, gate, u = std::move(u)] {
                 auto photo = detect_now(u);
                 const auto largest = photo.faces.largest();
                 if (!largest) {
                   throw service_error(errc::bad_input, "no face found in the photo; try a sharper, frontal photo");
                 }
                 auto face = [&] {
                   const timed t(stats_.encode);
                   if (gate) return encode_one(passed_quality(photo.faces, *largest, u.file_name), 0, u.file_name);
                   return encode_one(photo.faces, *largest, u.file_name);
                 }();
                 auto thumb = thumbnail_of(photo.faces.image, face);
                 finish(photo, false);
                 return found{std::move(photo), std::move(face), std::move(thumb)};
               })
               .get();
  return store_.add(std::move(name), f.face.encoding, f.photo.label, f.face.box, std::move(f.thumbnail), to);
}

photo_faces face_service::enrolment_faces(const upload& u) const {
  auto photo = detect_now(u);
  photo_faces out;
  out.detected = photo.faces.size();
  for (std::size_t i = 0; i < photo.faces.size(); ++i) {
    faceapp::faces passed;
    {
      faceapp::faces one;
      one.image = photo.faces.image;
      one.items.push_back(photo.faces.items[i]);
      auto r = faceapp::quality.run(std::move(one));
      if (!r) {
        // A face not fit to enrol is left out of the clusters, with the gate's reason; anything else the stage
        // reports (its landmark model missing) fails the upload.
        const auto& why = r.error().message;
        if (why.starts_with("face too small:") || why.starts_with("face too blurred:")) {
          out.refused.push_back(photo.faces.size() > 1 ? "face " + std::to_string(i + 1) + " of " +
                                                             std::to_string(photo.faces.size()) + ": " + why
                                                       : why);
          continue;
        }
        throw service_error(errc::internal, "quality: " + u.file_name + ": " + r.error().what());
      }
      if (r->size() == 0) continue;
      passed = std::move(*r);
    }
    const auto face = [&] {
      const timed t(stats_.encode);
      return encode_one(passed, 0, u.file_name);
    }();
    out.faces.push_back({u.file_name, photo.label, face.box, face.encoding, thumbnail_of(photo.faces.image, face)});
  }
  finish(photo, false);
  return out;
}

bool face_service::remove(std::uint64_t id) { return store_.remove(id); }

std::optional<person> face_service::find(std::uint64_t id) const { return store_.find(id); }

people_page face_service::list(std::uint64_t offset, std::uint64_t limit) const {
  return store_.list("", offset, limit);
}

people_page face_service::list_after(std::uint64_t after, std::uint64_t limit) const {
  return store_.list_after(after, limit);
}

std::optional<std::string> face_service::thumbnail(std::uint64_t id) const { return store_.thumbnail(id); }

std::size_t face_service::gallery_size() const { return store_.size(); }

std::optional<std::string> face_service::not_ready() const {
  try {
    store_.backend().ping();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "faceapp-web: not ready: %s\n", e.what());
    return "the database cannot be reached";
  }
  if (const double lag = store_.lag_seconds(); lag > store_.max_staleness_seconds()) {
    char why[96];
    std::snprintf(why, sizeof why, "the gallery is %.1f s behind the database (more than --max-staleness)", lag);
    return std::string(why);
  }
  return std::nullopt;
}

/// With keep_uploads: the upload under its content hash; the uploaded name never reaches the file system.
void face_service::keep(const upload& u) const {
  if (!options_.keep_uploads) return;
  const auto path = options_.data_dir / "uploads" / (u.sha256 + "." + u.type);
  if (!std::filesystem::exists(path)) faceapp_examples::write_file_atomically(path, u.bytes);
}

}  // namespace faceapp_web
