// faceapp stage `read`: a path or bytes in memory -> an 8-bit RGB image.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <opencv2/core/mat.hpp>

#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/detail/image_header.hpp"
#include "faceapp/image.hpp"

namespace faceapp {

namespace detail {
/// OpenCV's decoder on bytes already checked by `read`: 8-bit RGB (gray expanded, alpha dropped, EXIF orientation
/// applied), or an empty matrix when the decoder rejects the data. Compiled once, in the runtime library
/// (src/image.cpp), so that OpenCV's imgcodecs and imgproc headers stay out of the files that include this one.
cv::Mat decode_rgb(std::span<const std::uint8_t> bytes);
}  // namespace detail

/// Where an image comes from: a file, or bytes already in memory (an upload) with a name for messages.
/// Converts implicitly from paths and strings, so `pipeline("photo.jpg")` works.
class source {
 public:
  source(const char* path) : path_(path) {}                          // NOLINT: implicit by design
  source(std::string path) : path_(std::move(path)) {}               // NOLINT
  source(std::filesystem::path path) : path_(std::move(path)) {}     // NOLINT

  /// Bytes in memory, e.g. an uploaded file; `name` only labels messages and records.
  static source from_bytes(std::vector<std::uint8_t> bytes, std::string name) {
    source s{std::filesystem::path{}};
    s.bytes_ = std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes));
    s.name_ = std::move(name);
    return s;
  }

  [[nodiscard]] bool in_memory() const noexcept { return bytes_ != nullptr; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept {
    return bytes_ ? std::span<const std::uint8_t>(*bytes_) : std::span<const std::uint8_t>{};
  }
  /// The path, or "<bytes: name>".
  [[nodiscard]] std::string name() const { return in_memory() ? "<bytes: " + name_ + ">" : path_.string(); }

 private:
  std::filesystem::path path_;
  std::shared_ptr<const std::vector<std::uint8_t>> bytes_;
  std::string name_;
};

inline std::string describe(const source& s) { return s.name(); }

/// Limits `read` applies before decoding. Every one is refused as errc::too_large, whatever the format.
struct read_options {
  std::int64_t max_pixels = 40'000'000;      // width x height from the header; larger images are refused
  std::int64_t max_bytes = 256LL << 20;      // larger files are refused before they are read
  /// JPEG scans (SOS segments): each is a pass of the decoder over the whole image, so a progressive file of
  /// 100 000 scans of a few dozen bytes each costs tens of minutes of CPU at 40 M pixels. libjpeg's progressive
  /// script writes 10; the test photos have 1 to 14.
  std::int64_t max_scans = 64;
};

/// `read`: source -> image.
///  - Accepts JPEG, PNG, BMP and WebP, recognised by magic bytes (a WebP named .jpg is read as WebP).
///  - Grayscale and alpha become RGB (alpha dropped, as face_recognition's PIL convert("RGB") does); the EXIF
///    orientation is applied, so a photo stored sideways comes out upright.
///  - Refuses, as errors naming the input: a missing file, a directory, an empty file, anything that is not one
///    of the four formats, a truncated JPEG, data the decoder rejects; and as errc::too_large, before decoding,
///    a header larger than max_pixels or than the decoder's own limits, a JPEG of more than max_scans scans.
///    The JPEG header is walked as libjpeg walks it, so the size checked is the size the decoder will use.
/// Thread-safe. Example: `auto img = faceapp::read("photo.jpg");`
struct read_stage : stage_base<read_stage> {
  using input_type = source;
  using output_type = image;
  static constexpr const char* name = "read";

  read_options options{};

  constexpr read_stage() = default;
  constexpr explicit read_stage(read_options o) : options(o) {}

  [[nodiscard]] result<image> run(const source& src) const {
    const std::string where = src.name();
    std::vector<std::uint8_t> file_bytes;
    std::span<const std::uint8_t> bytes = src.bytes();
    if (src.in_memory() && static_cast<std::uint64_t>(bytes.size()) > non_negative(options.max_bytes)) {
      return fail(name, where,
                  std::to_string(bytes.size()) + " bytes exceed the limit of " + std::to_string(options.max_bytes) +
                      " bytes",
                  errc::too_large);
    }
    if (!src.in_memory()) {
      auto loaded = load_file(src.path(), where);
      if (!loaded) return unexpected(std::move(loaded).error());
      file_bytes = *std::move(loaded);
      bytes = file_bytes;
    }
    return decode(bytes, where);
  }

 private:
  [[nodiscard]] result<std::vector<std::uint8_t>> load_file(const std::filesystem::path& path,
                                                            const std::string& where) const {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status)) return fail(name, where, "no such file", errc::not_found);
    if (std::filesystem::is_directory(status)) return fail(name, where, "is a directory, not an image file");
    if (!std::filesystem::is_regular_file(status)) return fail(name, where, "not a regular file");
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return fail(name, where, "cannot read its size: " + ec.message());
    if (size == 0) return fail(name, where, "empty file (0 bytes)", errc::corrupt);
    if (static_cast<std::int64_t>(size) > options.max_bytes) {
      return fail(name, where,
                  "file of " + std::to_string(size) + " bytes exceeds the limit of " +
                      std::to_string(options.max_bytes) + " bytes",
                  errc::too_large);
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(name, where, std::string("cannot open: ") + std::strerror(errno));
    std::vector<std::uint8_t> bytes(size);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
    if (static_cast<std::size_t>(in.gcount()) != size) return fail(name, where, "could not read the whole file");
    return bytes;
  }

  static std::uint64_t non_negative(std::int64_t v) noexcept { return v < 0 ? 0 : static_cast<std::uint64_t>(v); }

  [[nodiscard]] result<image> decode(std::span<const std::uint8_t> bytes, const std::string& where) const {
    if (bytes.empty()) return fail(name, where, "empty file (0 bytes)", errc::corrupt);
    const auto header = detail::read_image_header(bytes);
    if (!header) {
      return fail(name, where, "not an image: the first bytes are not those of JPEG, PNG, BMP or WebP",
                  errc::unsupported);
    }
    const char* format = detail::format_name(header->format);
    const std::uint64_t w = header->width;
    const std::uint64_t h = header->height;
    if (w == 0 || h == 0) {
      if (!header->defect.empty()) return fail(name, where, header->defect, header->defect_code);
      return fail(name, where, std::string("corrupt or truncated ") + format + ": no image size in its header",
                  errc::corrupt);
    }
    const std::string size = std::string(format) + " of " + std::to_string(w) + " x " + std::to_string(h) + " pixels";
    const std::uint64_t side = detail::decoder_max_side(header->format);
    if (w > side || h > side) {
      return fail(name, where,
                  size + " exceeds the " + format + " decoder's limit of " + std::to_string(side) + " pixels a side",
                  errc::too_large);
    }
    // Both sides are at most 2^20 here, so the product cannot overflow.
    const std::uint64_t limit = std::min(detail::decoder_max_pixels, non_negative(options.max_pixels));
    if (w * h > limit) {
      return fail(name, where, size + " exceeds the limit of " + std::to_string(limit) + " pixels", errc::too_large);
    }
    if (header->scans > non_negative(options.max_scans)) {
      return fail(name, where,
                  "JPEG of " + std::to_string(header->scans) + " scans exceeds the limit of " +
                      std::to_string(options.max_scans) + " scans",
                  errc::too_large);
    }
    if (!header->defect.empty()) return fail(name, where, header->defect, header->defect_code);
    if (!header->complete) {
      return fail(name, where, "truncated JPEG: the data ends before the end-of-image marker", errc::corrupt);
    }
    image img;
    img.pixels = detail::decode_rgb(bytes);
    if (img.pixels.empty()) {
      return fail(name, where, std::string("the ") + format + " decoder rejected the data (corrupt)", errc::corrupt);
    }
    img.source = where;
    img.original_width = img.pixels.cols;
    img.original_height = img.pixels.rows;
    return img;
  }
};

struct read_fn : read_stage {
  using read_stage::operator();
  /// `read(read_options{.max_pixels = 10'000'000})`: a read stage with other limits.
  [[nodiscard]] constexpr read_stage operator()(read_options o) const { return read_stage(o); }
};

/// The read stage with the default limits (40 M pixels, 256 MB, 64 JPEG scans).
inline constexpr read_fn read{};

}  // namespace faceapp
