// faceapp: walk a JPEG's segments exactly as libjpeg(-turbo) walks them, without decoding anything.
//
// Why: a checker that walks differently from the decoder can be shown one picture while the decoder sees another.
// A header scanner that took `FF 00` for a marker with a length skipped bytes libjpeg reads, so a 162-byte file
// showed 16 x 16 to the pixel limit and 12000 x 12000 to libjpeg; a completeness check that looked for the raw bytes
// FF D9 found the end-of-image marker of the EXIF thumbnail in a file cut short. Here every step is the one
// libjpeg's jdmarker.c takes (next_marker, read_markers) and its entropy decoders take inside a scan:
//  - between segments, bytes up to the next FF are skipped, then any FF fill bytes; FF 00 is skipped too;
//  - RSTn (D0-D7) and TEM (01) carry no length; SOI (D8) after the first is an error;
//  - APPn, COM and DNL are skipped by their length (so an EXIF thumbnail in APP1 is never looked into);
//    DQT, DHT, DAC, DRI and SOFn hold their fields in their length, which libjpeg checks;
//  - after an SOS header the entropy-coded data runs to the next marker that is not FF 00 nor RSTn;
//  - the first SOF gives the frame size (a second one is an error), and the image ends at EOI.
// The walk also counts the scans (each a pass of the decoder over the whole image) for the progressive-JPEG limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace faceapp::detail {

struct jpeg_walk {
  std::uint32_t width = 0;  // from the first SOFn; 0 when there is none
  std::uint32_t height = 0;
  std::uint32_t components = 0;
  std::uint8_t frame_marker = 0;  // 0xC0, 0xC2, ...
  std::uint64_t scans = 0;        // SOS segments seen
  bool reached_eoi = false;       // the walk ended at EOI, after at least one scan
  /// Why libjpeg would stop with an error (empty when it would not); the walk stops there too.
  std::string defect;
  bool defect_unsupported = false;  // a valid JPEG libjpeg does not decode (lossless, hierarchical, 12-bit, ...)
};

namespace jpeg_marker {
inline constexpr std::uint8_t sof0 = 0xC0, sof1 = 0xC1, sof2 = 0xC2, sof9 = 0xC9, sof10 = 0xCA;
inline constexpr std::uint8_t dht = 0xC4, dac = 0xCC, soi = 0xD8, eoi = 0xD9, sos = 0xDA, dqt = 0xDB, dnl = 0xDC,
                              dri = 0xDD, com = 0xFE, tem = 0x01;
inline bool is_sof(std::uint8_t m) noexcept { return m >= 0xC0 && m <= 0xCF && m != dht && m != dac; }  // C8: JPG
inline bool is_rst(std::uint8_t m) noexcept { return m >= 0xD0 && m <= 0xD7; }
inline bool is_app(std::uint8_t m) noexcept { return m >= 0xE0 && m <= 0xEF; }
inline std::string hex(std::uint8_t m) {
  const char* digits = "0123456789ABCDEF";
  return std::string("FF") + digits[m >> 4] + digits[m & 15];
}
}  // namespace jpeg_marker

/// Walks `b` (which starts with FF D8) and reports what libjpeg would find. Linear in the size, no allocation
/// beyond the defect text.
inline jpeg_walk walk_jpeg(std::span<const std::uint8_t> b) {
  namespace jm = jpeg_marker;
  jpeg_walk w;
  const std::size_t n = b.size();
  const std::uint8_t* data = b.data();
  if (n < 2 || data[0] != 0xFF || data[1] != jm::soi) {
    w.defect = "not a JPEG: it does not start with a start-of-image marker";
    return w;
  }
  auto be16 = [&](std::size_t at) { return (std::size_t{data[at]} << 8) | data[at + 1]; };
  auto fail = [&](std::string why, bool unsupported = false) {
    w.defect = std::move(why);
    w.defect_unsupported = unsupported;
    return w;
  };

  std::size_t i = 2;
  for (;;) {
    // libjpeg's next_marker, and its entropy decoders inside a scan: skip to an FF, swallow fill bytes; FF 00 is
    // a stuffed data byte and RSTn / TEM carry nothing, so the search goes on past them.
    std::uint8_t m = 0;
    while (i < n) {
      const void* ff = std::memchr(data + i, 0xFF, n - i);
      if (ff == nullptr) {
        i = n;
        break;
      }
      i = static_cast<std::size_t>(static_cast<const std::uint8_t*>(ff) - data);
      while (i < n && data[i] == 0xFF) ++i;
      if (i == n) break;
      const std::uint8_t c = data[i++];
      if (c == 0x00 || jm::is_rst(c) || c == jm::tem) continue;
      m = c;
      break;
    }
    if (m == 0) return w;  // the data ended before EOI: truncated (reached_eoi stays false)

    if (m == jm::eoi) {
      if (w.scans == 0) return fail("corrupt JPEG: it ends before any image data");
      w.reached_eoi = true;
      return w;
    }
    if (m == jm::soi) return fail("corrupt JPEG: a second start-of-image marker");

    // Every other marker libjpeg accepts has a 2-byte length that counts itself.
    if (i + 2 > n) return w;  // truncated
    const std::size_t length = be16(i);
    if (jm::is_app(m) || m == jm::com || m == jm::dnl) {
      i += length < 2 ? 2 : length;  // libjpeg's skip_variable: a bogus length skips just the length bytes
      if (i > n) return w;           // truncated inside the segment
      continue;
    }
    if (m == jm::dht || m == jm::dqt || m == jm::dac || m == jm::dri) {
      if (length < 2 || (m == jm::dri && length != 4)) {
        return fail("corrupt JPEG: a " + jm::hex(m) + " segment of impossible length " + std::to_string(length));
      }
      i += length;
      if (i > n) return w;
      continue;
    }
    if (jm::is_sof(m)) {
      // get_sof: precision, height, width and component count are read before anything is checked.
      if (i + 8 > n) return w;
      if (w.frame_marker != 0) return fail("corrupt JPEG: a second frame header (" + jm::hex(m) + ")");
      w.frame_marker = m;
      w.height = static_cast<std::uint32_t>(be16(i + 3));
      w.width = static_cast<std::uint32_t>(be16(i + 5));
      w.components = data[i + 7];
      const std::uint8_t precision = data[i + 2];
      if (w.width == 0 || w.height == 0 || w.components == 0) {
        w.width = w.height = 0;
        return fail("corrupt JPEG: its frame header gives no image size");
      }
      if (length != 8 + 3 * std::size_t{w.components}) {
        return fail("corrupt JPEG: a frame header of impossible length " + std::to_string(length));
      }
      const bool decodable = m == jm::sof0 || m == jm::sof1 || m == jm::sof2 || m == jm::sof9 || m == jm::sof10;
      if (!decodable) {
        return fail("lossless or hierarchical JPEG (" + jm::hex(m) + ") is not supported", true);
      }
      if (precision != 8) {
        return fail(std::to_string(precision) + "-bit JPEG is not supported (8-bit only)", true);
      }
      if (w.components != 1 && w.components != 3 && w.components != 4) {
        return fail("JPEG with " + std::to_string(w.components) + " colour components is not supported", true);
      }
      i += length;
      if (i > n) return w;
      continue;
    }
    if (m == jm::sos) {
      // get_sos: a frame header must come first; the length is fixed by the component count (1 to 4).
      if (w.frame_marker == 0) return fail("corrupt JPEG: a scan before any frame header");
      if (i + 3 > n) return w;
      const std::size_t count = data[i + 2];
      if (count < 1 || count > 4 || length != 6 + 2 * count) {
        return fail("corrupt JPEG: a scan header of impossible length " + std::to_string(length));
      }
      ++w.scans;
      i += length;
      if (i > n) return w;
      continue;  // the entropy-coded data runs to the next marker the search above finds
    }
    return fail("corrupt JPEG: unknown marker " + jm::hex(m));  // DHP, EXP, JPGn, RESn: libjpeg stops too
  }
}

}  // namespace faceapp::detail
