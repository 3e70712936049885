// faceapp-web import: numpy's .npy format (versions 1.0, 2.0 and 3.0), for a matrix of encodings: dtype '<f4' or
// '<f8', C order, shape (N, 128). The file is mapped, not read: a million rows of float64 are a gigabyte.
// Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include <faceapp/core/encoding.hpp>

namespace faceapp_web {

/// A mapped .npy file of encodings: rows() rows of 128 values. Throws std::runtime_error naming the file and what
/// is wrong with it: it cannot be read, bad magic, an unknown version, a header that is not a dict, a dtype other
/// than '<f4' or '<f8', Fortran order, a shape other than (N, 128), a size other than the shape's.
class npy_encodings {
 public:
  explicit npy_encodings(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail(std::string("cannot open it: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(std::string("cannot read it: ") + std::strerror(errno));
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
      if (p == MAP_FAILED) fail(std::string("cannot map it: ") + std::strerror(errno));
      bytes_ = static_cast<const unsigned char*>(p);
      ::madvise(p, size_, MADV_SEQUENTIAL);
    }
    parse_header();
  }
  npy_encodings(const npy_encodings&) = delete;
  npy_encodings& operator=(const npy_encodings&) = delete;
  ~npy_encodings() {
    if (bytes_ != nullptr) ::munmap(const_cast<unsigned char*>(bytes_), size_);
    if (fd_ >= 0) ::close(fd_);
  }

  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  /// Row `r` as float32; throws naming the file, the row and the column when a value is not finite as float32.
  void row(std::size_t r, faceapp::encoding& out) const {
    const unsigned char* p = bytes_ + data_offset_ + r * faceapp::encoding_size * item_;
    for (std::size_t j = 0; j < faceapp::encoding_size; ++j, p += item_) {
      const float v = item_ == 4 ? load<float, std::uint32_t>(p) : narrow(load<double, std::uint64_t>(p));
      if (!std::isfinite(v)) {
        fail("row " + std::to_string(r) + " (counting from 0), column " + std::to_string(j) +
             ": not a finite 32-bit number");
      }
      out[j] = v;
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw std::runtime_error(path_ + ": " + why); }

  template <class T, class U>
  static T load(const unsigned char* p) noexcept {
    U u = 0;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&u, p, sizeof u);
    } else {
      for (std::size_t i = 0; i < sizeof u; ++i) u |= static_cast<U>(p[i]) << (8 * i);
    }
    return std::bit_cast<T>(u);
  }

  /// float64 -> float32; a value beyond float32's range is +-infinity (and refused), not UB.
  static float narrow(double d) noexcept {
    if (std::isnan(d)) return std::numeric_limits<float>::quiet_NaN();
    if (std::abs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
      return d > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
    }
    return static_cast<float>(d);
  }

  /// The value of 'key' in the header's dict, as written: a quoted string, True/False or a tuple.
  [[nodiscard]] std::string_view field(std::string_view header, std::string_view key) const {
    for (const char q : {'\'', '"'}) {
      const std::string quoted = std::string(1, q) + std::string(key) + q;
      auto at = header.find(quoted);
      if (at == std::string_view::npos) continue;
      at = header.find(':', at + quoted.size());
      if (at == std::string_view::npos) break;
      ++at;
      while (at < header.size() && header[at] == ' ') ++at;
      if (at >= header.size()) break;
      const char open = header[at];
      if (open == '(' || open == '\'' || open == '"') {  // a tuple or a string: up to its end, included
        const auto end = header.find(open == '(' ? ')' : open, at + 1);
        if (end == std::string_view::npos) break;
        return header.substr(at, end - at + 1);
      }
      auto end = header.find_first_of(",}", at);  // a word (True, False)
      if (end == std::string_view::npos) break;
      while (end > at && header[end - 1] == ' ') --end;
      return header.substr(at, end - at);
    }
    fail("the header has no '" + std::string(key) + "'");
  }

  void parse_header() {
    static constexpr unsigned char magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (size_ < 10 || std::memcmp(bytes_, magic, sizeof magic) != 0) {
      fail("not a .npy file (it does not start with \\x93NUMPY)");
    }
    const unsigned major = bytes_[6];
    if (major < 1 || major > 3) fail("unknown .npy version " + std::to_string(major) + "." + std::to_string(bytes_[7]));
    const std::size_t length_bytes = major == 1 ? 2 : 4;
    if (size_ < 8 + length_bytes) fail("truncated in its header");
    std::size_t header_length = 0;
    for (std::size_t i = 0; i < length_bytes; ++i) header_length |= std::size_t{bytes_[8 + i]} << (8 * i);
    data_offset_ = 8 + length_bytes + header_length;
    if (data_offset_ > size_) fail("truncated in its header");
    const std::string_view header(reinterpret_cast<const char*>(bytes_) + 8 + length_bytes, header_length);
    if (header.find('{') == std::string_view::npos) fail("the header is not a dict");

    const auto descr = field(header, "descr");
    if (descr == "'<f4'" || descr == "\"<f4\"") {
      item_ = 4;
    } else if (descr == "'<f8'" || descr == "\"<f8\"") {
      item_ = 8;
    } else {
      fail("dtype " + std::string(descr) + ": expected '<f4' (float32) or '<f8' (float64), little-endian");
    }
    const auto order = field(header, "fortran_order");
    if (order == "True") fail("Fortran order: save it in C order (numpy.ascontiguousarray)");
    if (order != "False") fail("fortran_order is " + std::string(order) + ", not False");

    const auto shape = field(header, "shape");  // "(N, 128)", spaces as they come
    std::string dims;
    for (const char c : shape) {
      if (c != ' ' && c != '(' && c != ')') dims += c;
    }
    const auto comma = dims.find(',');
    const auto n_text = dims.substr(0, comma);
    const auto rest = comma == std::string::npos ? std::string() : dims.substr(comma + 1);
    const bool digits = !n_text.empty() && n_text.size() <= 15 &&
                        n_text.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || (rest != "128" && rest != "128,")) {
      fail("shape " + std::string(shape) + ": expected (N, 128), one encoding of 128 values a row");
    }
    rows_ = std::stoull(n_text);
    const std::size_t expected = data_offset_ + rows_ * faceapp::encoding_size * item_;
    if (size_ < expected) {
      fail("truncated: its shape " + std::string(shape) + " needs " + std::to_string(expected) + " bytes, it has " +
           std::to_string(size_));
    }
    if (size_ > expected) {
      fail(std::to_string(size_ - expected) + " bytes after the " + std::to_string(rows_) + " rows its shape " +
           std::string(shape) + " holds");
    }
  }

  std::string path_;
  int fd_ = -1;
  const unsigned char* bytes_ = nullptr;
  std::size_t size_ = 0;
  std::size_t data_offset_ = 0;
  std::size_t item_ = 4;
  std::size_t rows_ = 0;
};

}  // namespace faceapp_web
