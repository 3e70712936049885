// faceapp: recognise an image format by its magic bytes and read its size from the header, before any decoder
// touches the data. This is what lets `read` refuse a PNG that claims 50 000 x 50 000 pixels without allocating
// 7.5 GB, and take a WebP named .jpg for what it is.
//
// The header is read the way the decoder behind cv::imdecode reads it, so that the size checked is the size the
// decoder will use: JPEG segments are walked as libjpeg walks them (jpeg_segments.hpp); BMP sizes are read as
// OpenCV's BMP decoder reads them (signed, a negative height meaning top-down); PNG and WebP sizes are the ones
// libpng and libwebp take from IHDR and from the VP8 / VP8L / VP8X chunk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "faceapp/core/result.hpp"
#include "faceapp/detail/jpeg_segments.hpp"

namespace faceapp::detail {

enum class image_format { jpeg, png, bmp, webp };

inline const char* format_name(image_format f) noexcept {
  switch (f) {
    case image_format::jpeg: return "JPEG";
    case image_format::png: return "PNG";
    case image_format::bmp: return "BMP";
    case image_format::webp: return "WebP";
  }
  return "?";
}

/// The largest width or height each decoder takes; beyond it the decoder refuses with its own message (or, for
/// OpenCV's BMP reader, throws), so `read` refuses first, as too large. libjpeg-turbo: JPEG_MAX_DIMENSION 65500;
/// libpng: its default user limit of 1 000 000; libwebp: 14 bits + 1; OpenCV (BMP): CV_IO_MAX_IMAGE_WIDTH and
/// _HEIGHT, 1 << 20.
inline constexpr std::uint64_t decoder_max_side(image_format f) noexcept {
  switch (f) {
    case image_format::jpeg: return 65'500;
    case image_format::png: return 1'000'000;
    case image_format::bmp: return std::uint64_t{1} << 20;
    case image_format::webp: return 16'384;
  }
  return 0;
}

/// OpenCV's own cap on width x height (CV_IO_MAX_IMAGE_PIXELS), whatever `read_options` allows.
inline constexpr std::uint64_t decoder_max_pixels = std::uint64_t{1} << 30;

struct image_header {
  image_format format = image_format::jpeg;
  std::uint64_t width = 0;  // 0 when the header does not say (a corrupt or truncated file)
  std::uint64_t height = 0;
  std::uint64_t scans = 0;  // JPEG: start-of-scan segments, each a pass of the decoder over the whole image
  bool complete = true;     // JPEG: the end-of-image marker follows the last scan's data
  /// Why the decoder would refuse or misread the file although its size is known; empty when nothing is wrong.
  std::string defect;
  errc defect_code = errc::corrupt;
};

namespace header_bytes {
inline std::uint32_t be16(std::span<const std::uint8_t> b, std::size_t at) {
  return (std::uint32_t{b[at]} << 8) | b[at + 1];
}
inline std::uint32_t be32(std::span<const std::uint8_t> b, std::size_t at) {
  return (be16(b, at) << 16) | be16(b, at + 2);
}
inline std::uint32_t le16(std::span<const std::uint8_t> b, std::size_t at) {
  return std::uint32_t{b[at]} | (std::uint32_t{b[at + 1]} << 8);
}
inline std::uint32_t le24(std::span<const std::uint8_t> b, std::size_t at) {
  return le16(b, at) | (std::uint32_t{b[at + 2]} << 16);
}
inline std::uint32_t le32(std::span<const std::uint8_t> b, std::size_t at) {
  return le16(b, at) | (le16(b, at + 2) << 16);
}
inline bool starts_with(std::span<const std::uint8_t> b, std::size_t at, const char* text, std::size_t n) {
  if (b.size() < at + n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if (b[at + i] != static_cast<std::uint8_t>(text[i])) return false;
  }
  return true;
}
}  // namespace header_bytes

/// The format by magic bytes; nothing for anything that is not JPEG, PNG, BMP or WebP. These are the signatures
/// OpenCV's decoders check, so the decoder cv::imdecode picks is the one named here.
inline std::optional<image_format> sniff_format(std::span<const std::uint8_t> b) noexcept {
  using namespace header_bytes;
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return image_format::jpeg;
  if (starts_with(b, 0, "\x89PNG\r\n\x1a\n", 8)) return image_format::png;
  if (starts_with(b, 0, "BM", 2) && b.size() >= 26) return image_format::bmp;
  if (starts_with(b, 0, "RIFF", 4) && starts_with(b, 8, "WEBP", 4)) return image_format::webp;
  return std::nullopt;
}

inline void read_jpeg_header(std::span<const std::uint8_t> b, image_header& h) {
  const auto j = walk_jpeg(b);
  h.width = j.width;
  h.height = j.height;
  h.scans = j.scans;
  h.complete = j.reached_eoi;
  h.defect = j.defect;
  h.defect_code = j.defect_unsupported ? errc::unsupported : errc::corrupt;
}

inline void read_png_header(std::span<const std::uint8_t> b, image_header& h) {
  using namespace header_bytes;
  // libpng requires IHDR first, 13 bytes long; width and height are unsigned 32-bit (up to 2^31 - 1 is valid).
  if (b.size() < 24 || !starts_with(b, 12, "IHDR", 4)) return;
  h.width = be32(b, 16);
  h.height = be32(b, 20);
  if (be32(b, 8) != 13) h.defect = "corrupt PNG: its IHDR chunk is not 13 bytes long";
}

inline void read_bmp_header(std::span<const std::uint8_t> b, image_header& h) {
  using namespace header_bytes;
  // As OpenCV's BmpDecoder::readHeader: a header of 36 bytes or more holds signed 32-bit sizes, a 12-byte
  // (OS/2) header unsigned 16-bit ones; a negative height means the rows are stored top-down.
  const auto dib = le32(b, 14);
  if (dib == 12) {
    h.width = le16(b, 18);
    h.height = le16(b, 20);
    return;
  }
  if (dib < 36) return;
  const auto width = static_cast<std::int32_t>(le32(b, 18));
  const auto height = static_cast<std::int32_t>(le32(b, 22));
  if (width < 0) {
    h.defect = "corrupt BMP: its header gives a negative width (" + std::to_string(width) + ")";
    return;
  }
  h.width = static_cast<std::uint64_t>(width);
  // -INT32_MIN does not fit an int32 (OpenCV's std::abs would overflow): done in 64 bits, it is simply too large.
  h.height = height < 0 ? static_cast<std::uint64_t>(-static_cast<std::int64_t>(height))
                        : static_cast<std::uint64_t>(height);
}

inline void read_webp_header(std::span<const std::uint8_t> b, image_header& h) {
  using namespace header_bytes;
  // cv::imdecode hands the bytes to the first decoder in its list whose signature check passes. JPEG, PNG and BMP
  // are matched by their magic bytes alone, ahead of the others, so those decoders are always the ones sniffed here.
  // WebP is matched only when libwebp parses the first 32 bytes; when it cannot, OpenCV goes on down its list to
  // the DICOM decoder (GDCM), which matches "DICM" at byte 128 and then trusts the lengths in the file: a 150-byte
  // file made it allocate 1 GB and abort the process on an assertion. Such bytes are refused before OpenCV sees them.
  if (starts_with(b, 128, "DICM", 4)) {
    h.defect = "not a WebP the decoder can be trusted with: it carries a DICOM signature at byte 128";
    h.defect_code = errc::unsupported;
    return;
  }
  if (starts_with(b, 12, "VP8 ", 4) && b.size() >= 30) {
    h.width = le16(b, 26) & 0x3FFF;  // the top two bits are an upscaling hint libwebp ignores
    h.height = le16(b, 28) & 0x3FFF;
  } else if (starts_with(b, 12, "VP8L", 4) && b.size() >= 25 && b[20] == 0x2F) {
    const auto bits = le32(b, 21);
    h.width = (bits & 0x3FFF) + 1;
    h.height = ((bits >> 14) & 0x3FFF) + 1;
  } else if (starts_with(b, 12, "VP8X", 4) && b.size() >= 30) {
    h.width = std::uint64_t{le24(b, 24)} + 1;  // the canvas; a still image's frame must match it
    h.height = std::uint64_t{le24(b, 27)} + 1;
    if ((b[20] & 0x02) != 0) {
      h.defect = "animated WebP is not supported";
      h.defect_code = errc::unsupported;
    }
  }
}

/// The format and size from the header, or nothing when the magic bytes are not those of a supported format.
inline std::optional<image_header> read_image_header(std::span<const std::uint8_t> b) {
  const auto format = sniff_format(b);
  if (!format) return std::nullopt;
  image_header h;
  h.format = *format;
  switch (*format) {
    case image_format::jpeg: read_jpeg_header(b, h); break;
    case image_format::png: read_png_header(b, h); break;
    case image_format::bmp: read_bmp_header(b, h); break;
    case image_format::webp: read_webp_header(b, h); break;
  }
  return h;
}

}  // namespace faceapp::detail
