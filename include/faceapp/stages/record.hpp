// faceapp stage `record(sink)`: faces -> the same faces, one row per face written to a sink (e.g. a CSV file).
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <concepts>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "faceapp/core/geometry.hpp"
#include "faceapp/core/keep.hpp"
#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/detail/csv.hpp"
#include "faceapp/faces.hpp"

namespace faceapp {

/// Now (or `t`) as the records write it: UTC ISO-8601 with milliseconds, 2026-11-28T19:20:00.123Z.
inline std::string utc_timestamp(std::chrono::system_clock::time_point t = std::chrono::system_clock::now()) {
  return detail::utc_timestamp(t);
}

/// One recorded result: a face of an input, or the input itself when it had no face (face empty).
struct record_row {
  std::string time;                  // UTC ISO-8601
  std::string input;                 // path or description of the input
  std::optional<std::size_t> face;   // index in the detector's order
  std::optional<faceapp::box> box;   // in the coordinates of the image as read
  std::string name;                  // nearest known person, if compared with a gallery
  std::optional<float> distance;
  std::optional<bool> match;
};

/// The rows `record` writes for one image: one per face, or a single row with empty face cells when the image
/// had none (so every input shows up in the record).
template <class Face>
std::vector<record_row> rows_for(const basic_faces<Face>& found, const std::string& time = detail::utc_timestamp()) {
  std::vector<record_row> rows;
  if (found.empty()) {
    rows.push_back({time, found.source(), std::nullopt, std::nullopt, {}, std::nullopt, std::nullopt});
    return rows;
  }
  for (std::size_t i = 0; i < found.size(); ++i) {
    record_row row{time, found.source(), i, found[i].box, {}, std::nullopt, std::nullopt};
    if constexpr (std::is_base_of_v<encoded_face, Face>) {
      row.name = found[i].name;
      row.distance = found[i].distance;
      row.match = found[i].match;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

/// Where `record` writes. write() records all the rows it is given together, or returns an error: it is called
/// from many threads at once.
class record_sink {
 public:
  record_sink() = default;
  record_sink(const record_sink&) = delete;
  record_sink& operator=(const record_sink&) = delete;
  virtual ~record_sink() = default;
  virtual result<void> write(std::span<const record_row> rows) = 0;
};

struct csv_options {
  bool sync = true;  // fdatasync after every write: a row is on disk when record returns
};

/// A CSV file of results, appended to. The header is written once, when the file is new or empty. An existing
/// file whose first line is not that header is never touched: every write then returns an error naming it.
/// Rows of one write() go out in one append under a lock (threads) and flock (processes), so rows never tear
/// or interleave; a row left torn by a crash is closed with a line break before the next one. A write that fails
/// (a full disk: errc::no_space) is cut back off the file, so it leaves no partial row. When the file at the
/// path is removed or replaced while open, the next write goes to the file there now (created with its header).
/// Movable (so that `record(csv_sink{"r.csv"})` can own one), not while another thread writes to it; a moved-from
/// sink refuses rows.
class csv_sink final : public record_sink {
 public:
  static constexpr std::string_view header = "time,input,face,top,right,bottom,left,name,distance,match";

  explicit csv_sink(std::filesystem::path path, csv_options options = {})
      : path_(std::move(path)), options_(options) {
    open();
  }
  csv_sink(csv_sink&& other)
      : record_sink(),
        path_(other.path_),
        options_(other.options_),
        fd_(std::exchange(other.fd_, -1)),
        error_(std::move(other.error_)) {
    other.error_ = other.make_error("this sink was moved from");
  }
  csv_sink& operator=(csv_sink&&) = delete;
  ~csv_sink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  /// Whether the file is open and accepts rows; otherwise error() says why.
  [[nodiscard]] bool ok() const noexcept { return !error_; }
  [[nodiscard]] const std::optional<stage_error>& error() const noexcept { return error_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

  result<void> write(std::span<const record_row> rows) override {
    if (error_) return unexpected(*error_);
    std::string text;
    for (const auto& row : rows) text += format(row);
    const std::lock_guard lock(mutex_);
    if (auto followed = follow_path(); !followed) return followed;
    if (::flock(fd_, LOCK_EX) != 0) return io_error("cannot lock");
    const off_t before = ::lseek(fd_, 0, SEEK_END);
    std::string out;
    if (!ends_with_newline()) out += '\n';
    out += text;
    auto written = write_all(fd_, out);
    if (written && options_.sync && ::fdatasync(fd_) != 0) written = io_error("cannot sync to disk");
    if (!written && before >= 0) {
      // A full disk can take part of the rows: cut the file back, so that no torn row stays and the next write
      // starts on a clean line.
      cut_back(fd_, before);
    }
    ::flock(fd_, LOCK_UN);
    return written;
  }

  /// The CSV line for one row, with its line break.
  [[nodiscard]] static std::string format(const record_row& r) {
    std::string line = detail::csv_cell(r.time);
    line += ',';
    line += detail::csv_cell(r.input);
    line += ',';
    if (r.face) line += std::to_string(*r.face);
    line += ',';
    if (r.box) {
      line += std::to_string(r.box->top) + ',' + std::to_string(r.box->right) + ',' + std::to_string(r.box->bottom) +
              ',' + std::to_string(r.box->left);
    } else {
      line += ",,,";
    }
    line += ',';
    line += detail::csv_cell(r.name);
    line += ',';
    if (r.distance) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(*r.distance));
      line += buf;
    }
    line += ',';
    if (r.match) line += *r.match ? "true" : "false";
    line += '\n';
    return line;
  }

 private:
  stage_error make_error(const std::string& what, errc code = errc::failed) const {
    return {"record", path_.string(), what, code};
  }
  unexpected io_error(const std::string& what) const {
    const int e = errno;
    const errc code = e == ENOSPC || e == EFBIG || e == EDQUOT ? errc::no_space : errc::failed;
    return unexpected(make_error(what + ": " + std::strerror(e), code));
  }

  void open() {
    fd_ = open_file();
    if (fd_ < 0) {
      error_ = make_error(std::string("cannot open the CSV file for appending: ") + std::strerror(errno));
      return;
    }
    if (auto ready = check_or_write_header(fd_); !ready) error_ = ready.error();
  }

  /// A descriptor of the file at path_, created if missing; -1 with errno set on failure.
  int open_file() const {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      errno = EINVAL;
      return -1;
    }
    return fd;
  }

  /// Records go to the file that is at the path now: when it was removed, renamed away or replaced since it was
  /// opened (log rotation, an operator's rm), the next write opens (or creates, with its header) the one there.
  result<void> follow_path() {
    struct stat at_path {};
    struct stat open_one {};
    if (::stat(path_.c_str(), &at_path) == 0 && ::fstat(fd_, &open_one) == 0 && at_path.st_dev == open_one.st_dev &&
        at_path.st_ino == open_one.st_ino) {
      return {};
    }
    const int fd = open_file();
    if (fd < 0) return io_error("cannot reopen the CSV file, which was removed or replaced");
    if (auto ready = check_or_write_header(fd); !ready) {
      ::close(fd);
      return ready;
    }
    ::close(fd_);
    fd_ = fd;
    return {};
  }

  /// Under flock: writes the header into an empty file, or checks that a non-empty one starts with it.
  result<void> check_or_write_header(int fd) const {
    if (::flock(fd, LOCK_EX) != 0) return io_error("cannot lock");
    result<void> ok{};
    const off_t size = ::lseek(fd, 0, SEEK_END);
    if (size == 0) {
      std::string h(header);
      h += '\n';
      ok = write_all(fd, h);
      if (!ok) cut_back(fd, 0);
    } else {
      char first[256] = {};
      const ssize_t n = ::pread(fd, first, sizeof first - 1, 0);
      std::string_view line(first, n > 0 ? static_cast<std::size_t>(n) : 0);
      line = line.substr(0, line.find('\n'));
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line != header) {
        ok = unexpected(make_error("not a faceapp results file (its first line is not the header \"" +
                                   std::string(header) + "\"); refusing to append to it, nothing was changed"));
      }
    }
    ::flock(fd, LOCK_UN);
    return ok;
  }

  /// Truncates to `size`, keeping errno (the write's error) for the message.
  static void cut_back(int fd, off_t size) {
    const int e = errno;
    [[maybe_unused]] const int cut = ::ftruncate(fd, size);
    errno = e;
  }

  bool ends_with_newline() const {
    const off_t size = ::lseek(fd_, 0, SEEK_END);
    if (size <= 0) return true;
    char last = 0;
    return ::pread(fd_, &last, 1, size - 1) == 1 && last == '\n';
  }

  result<void> write_all(int fd, const std::string& text) const {
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) errno = ENOSPC;
      if (n <= 0) return io_error("cannot write");
      done += static_cast<std::size_t>(n);
    }
    return {};
  }

  std::filesystem::path path_;
  csv_options options_;
  int fd_ = -1;
  std::optional<stage_error> error_;
  std::mutex mutex_;
};

/// `record(sink)`: faces or encoded_faces -> the same, unchanged, after writing one row per face (time, input,
/// face index, box, name, distance, match) to the sink; an image without a face gets one row with empty face
/// cells. The sink is kept by the rule of std::views::all (core/keep.hpp): `record(csv)` borrows an lvalue sink,
/// which must outlive the stage; `record(csv_sink{"r.csv"})` moves an rvalue in and owns it; `std::ref(csv)`
/// borrows too, a shared_ptr shares. Errors: the sink's, e.g. a CSV that cannot be opened. Thread-safe when the
/// sink is (csv_sink is). Example: `read | encode | distance_to(ref) | record(csv)`.
struct record_stage : stage_base<record_stage> {
  using input_type = encoded_faces;
  using input_types = input_list<encoded_faces, faces>;  // gives back what it was given
  using output_type = encoded_faces;
  static constexpr const char* name = "record";

  std::shared_ptr<record_sink> sink;

  template <class Face>
  [[nodiscard]] result<basic_faces<Face>> run(const basic_faces<Face>& in) const {
    if (auto written = write(in); !written) return unexpected(std::move(written).error());
    return in;
  }
  template <class Face>
  [[nodiscard]] result<basic_faces<Face>> run(basic_faces<Face>&& in) const {
    if (auto written = write(in); !written) return unexpected(std::move(written).error());
    return std::move(in);
  }

 private:
  template <class Face>
  result<void> write(const basic_faces<Face>& in) const {
    if (!sink) return fail(name, in.source(), "not recorded: the stage has no sink (a null shared_ptr)");
    if (auto written = sink->write(rows_for(in)); !written) {
      return fail(name, in.source(), "not recorded: " + written.error().what(), written.error().code);
    }
    return {};
  }
};

struct record_fn : detail::stage_factory_base {
  struct record_is_a_stage_factory_call_it_with_a_sink_eg_record_csv;
  using call_it_first = record_is_a_stage_factory_call_it_with_a_sink_eg_record_csv;

  /// An lvalue sink is borrowed (it must outlive the stage); an rvalue is moved in and owned.
  template <class Sink>
    requires std::derived_from<std::remove_cvref_t<Sink>, record_sink> &&
             (!std::is_const_v<std::remove_reference_t<Sink>>)
  [[nodiscard]] record_stage operator()(Sink&& sink) const {
    return record_stage{{}, detail::keep(std::forward<Sink>(sink))};
  }
  /// Borrows, and says so at the call site.
  template <std::derived_from<record_sink> Sink>
  [[nodiscard]] record_stage operator()(std::reference_wrapper<Sink> sink) const {
    return record_stage{{}, detail::keep(sink)};
  }
  /// Shares the sink.
  template <std::derived_from<record_sink> Sink>
  [[nodiscard]] record_stage operator()(std::shared_ptr<Sink> sink) const {
    return record_stage{{}, std::move(sink)};
  }
};

inline constexpr record_fn record{};

}  // namespace faceapp
