// faceapp: recognise an image format by its magic bytes and read its size from the header, before any decoder
// touches the data. This is what lets `read` refuse a PNG that claims 50 000 x 50 000 pixels without allocating
// 7.5 GB, and take a WebP named .jpg for what it is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

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

struct image_header {
  image_format format;
  std::int64_t width = 0;   // 0 when the header does not say (a corrupt or truncated file)
  std::int64_t height = 0;
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

/// The format by magic bytes; nothing for anything that is not JPEG, PNG, BMP or WebP.
inline std::optional<image_format> sniff_format(std::span<const std::uint8_t> b) noexcept {
  using namespace header_bytes;
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return image_format::jpeg;
  if (starts_with(b, 0, "\x89PNG\r\n\x1a\n", 8)) return image_format::png;
  if (starts_with(b, 0, "BM", 2) && b.size() >= 26) return image_format::bmp;
  if (starts_with(b, 0, "RIFF", 4) && starts_with(b, 8, "WEBP", 4)) return image_format::webp;
  return std::nullopt;
}

/// JPEG: the frame size from the first SOFn segment.
inline void read_jpeg_size(std::span<const std::uint8_t> b, image_header& h) {
  using namespace header_bytes;
  std::size_t i = 2;
  while (i + 4 <= b.size()) {
    if (b[i] != 0xFF) return;  // lost sync: corrupt
    const std::uint8_t marker = b[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {  // markers without a length
      i += 2;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return;  // scan data or end before any frame header
    const std::size_t length = be16(b, i + 2);
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (i + 9 > b.size()) return;
      h.height = be16(b, i + 5);
      h.width = be16(b, i + 7);
      return;
    }
    i += 2 + length;
  }
}

/// JPEG: a complete file has an end-of-image marker after its first scan (entropy-coded data never holds
/// 0xFF 0xD9, since 0xFF is stuffed there). libjpeg would decode a truncated file to a grey-filled picture and
/// only warn, so `read` checks this itself.
inline bool jpeg_is_complete(std::span<const std::uint8_t> b) noexcept {
  std::size_t sos = 0;
  for (std::size_t i = 2; i + 1 < b.size(); ++i) {
    if (b[i] == 0xFF && b[i + 1] == 0xDA) {
      sos = i;
      break;
    }
  }
  if (sos == 0) return false;
  for (std::size_t i = b.size() - 1; i > sos + 1; --i) {
    if (b[i] == 0xD9 && b[i - 1] == 0xFF) return true;
  }
  return false;
}

/// The format and size from the header, or nothing when the magic bytes are not those of a supported format.
inline std::optional<image_header> read_image_header(std::span<const std::uint8_t> b) {
  using namespace header_bytes;
  const auto format = sniff_format(b);
  if (!format) return std::nullopt;
  image_header h{*format};
  switch (*format) {
    case image_format::jpeg:
      read_jpeg_size(b, h);
      break;
    case image_format::png:
      if (b.size() >= 24 && starts_with(b, 12, "IHDR", 4)) {
        h.width = be32(b, 16);
        h.height = be32(b, 20);
      }
      break;
    case image_format::bmp: {
      const auto dib = le32(b, 14);
      if (dib == 12) {
        h.width = le16(b, 18);
        h.height = le16(b, 20);
      } else if (dib >= 40) {
        h.width = static_cast<std::int32_t>(le32(b, 18));
        const auto height = static_cast<std::int32_t>(le32(b, 22));  // negative: stored top-down
        h.height = height < 0 ? -static_cast<std::int64_t>(height) : height;
      }
      break;
    }
    case image_format::webp:
      if (starts_with(b, 12, "VP8 ", 4) && b.size() >= 30) {
        h.width = le16(b, 26) & 0x3FFF;
        h.height = le16(b, 28) & 0x3FFF;
      } else if (starts_with(b, 12, "VP8L", 4) && b.size() >= 25 && b[20] == 0x2F) {
        const auto bits = le32(b, 21);
        h.width = (bits & 0x3FFF) + 1;
        h.height = ((bits >> 14) & 0x3FFF) + 1;
      } else if (starts_with(b, 12, "VP8X", 4) && b.size() >= 30) {
        h.width = le24(b, 24) + 1;
        h.height = le24(b, 27) + 1;
      }
      break;
  }
  return h;
}

}  // namespace faceapp::detail
