// `read` against hostile files: each case is built here from a real test photo, the way an attacker would build it,
// and each must be refused with the right kind of error (or, for the legal tricks, read with the decoder's pixels).
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "faceapp/stages/read.hpp"
#include "test_data.hpp"

namespace fs = std::filesystem;
using faceapp::test::data_file;
using bytes_t = std::vector<std::uint8_t>;

namespace {

bytes_t slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, const bytes_t& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

faceapp::source in_memory(bytes_t bytes, const std::string& name) {
  return faceapp::source::from_bytes(std::move(bytes), name);
}

/// The error `read` gives; it must name the stage and the input.
faceapp::stage_error error_of(const faceapp::source& s, faceapp::read_options o = {}) {
  const auto r = faceapp::read(o)(s);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().stage == "read");
  CHECK(r.error().input == s.name());
  CHECK(r.error().what().find(s.name()) != std::string::npos);
  return r.error();
}

bool says(const faceapp::stage_error& e, const std::string& text, faceapp::errc code) {
  CAPTURE(e.message);
  CAPTURE(static_cast<int>(e.code));
  return e.message.find(text) != std::string::npos && e.code == code;
}

bytes_t encode(const std::string& ext, const cv::Mat& bgr, const std::vector<int>& params = {}) {
  bytes_t out;
  REQUIRE(cv::imencode(ext, bgr, out, params));
  return out;
}

cv::Mat photo(const std::string& file) {
  cv::Mat bgr = cv::imread(data_file("faces/" + file).string(), cv::IMREAD_COLOR);
  REQUIRE_FALSE(bgr.empty());
  return bgr;
}

bool same_pixels(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

void put_be16(bytes_t& b, std::size_t at, std::size_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}
void put_be32(bytes_t& b, std::size_t at, std::uint32_t v) {
  put_be16(b, at, v >> 16);
  put_be16(b, at + 2, v & 0xFFFF);
}
void put_le32(bytes_t& b, std::size_t at, std::uint32_t v) {
  for (int k = 0; k < 4; ++k) b[at + k] = static_cast<std::uint8_t>(v >> (8 * k));
}
void append(bytes_t& to, const bytes_t& from) { to.insert(to.end(), from.begin(), from.end()); }

/// A JPEG as OpenCV's encoder writes it (no fill bytes, no garbage): its marker segments up to the first scan, each
/// with its marker, and everything from the first SOS on.
struct jpeg_parts {
  std::vector<bytes_t> segments;  // after SOI
  bytes_t scans;                  // from the first FF DA to the end
};

jpeg_parts split_jpeg(const bytes_t& b) {
  REQUIRE(b.size() > 4);
  REQUIRE(b[0] == 0xFF);
  REQUIRE(b[1] == 0xD8);
  jpeg_parts parts;
  std::size_t i = 2;
  while (i + 4 <= b.size() && b[i + 1] != 0xDA) {
    REQUIRE(b[i] == 0xFF);
    const std::size_t length = (std::size_t{b[i + 2]} << 8) | b[i + 3];
    parts.segments.emplace_back(b.begin() + static_cast<std::ptrdiff_t>(i),
                                b.begin() + static_cast<std::ptrdiff_t>(i + 2 + length));
    i += 2 + length;
  }
  parts.scans.assign(b.begin() + static_cast<std::ptrdiff_t>(i), b.end());
  return parts;
}

/// End of the entropy-coded data that starts at `from`: the next marker that is neither FF 00 nor RSTn.
std::size_t end_of_scan_data(const bytes_t& b, std::size_t from) {
  for (std::size_t i = from; i + 1 < b.size(); ++i) {
    if (b[i] == 0xFF && b[i + 1] != 0x00 && !(b[i + 1] >= 0xD0 && b[i + 1] <= 0xD7)) return i;
  }
  return b.size();
}

/// An APP1 EXIF segment as cameras write it: IFD0 (orientation 1), then IFD1 describing a JPEG thumbnail
/// (JPEGInterchangeFormat / Length), then the thumbnail itself.
bytes_t exif_with_thumbnail(const bytes_t& thumbnail) {
  bytes_t tiff = {'I', 'I', 0x2A, 0, 8, 0, 0, 0};
  auto le16 = [&](std::uint32_t v) {
    tiff.push_back(static_cast<std::uint8_t>(v));
    tiff.push_back(static_cast<std::uint8_t>(v >> 8));
  };
  auto le32 = [&](std::uint32_t v) {
    le16(v & 0xFFFF);
    le16(v >> 16);
  };
  auto entry = [&](std::uint32_t tag, std::uint32_t type, std::uint32_t value) {
    le16(tag);
    le16(type);
    le32(1);
    if (type == 3) {
      le16(value);
      le16(0);
    } else {
      le32(value);
    }
  };
  le16(1);                // IFD0 at 8: one entry
  entry(0x0112, 3, 1);    // orientation: upright
  le32(26);               // next IFD: IFD1 at 8 + 2 + 12 + 4
  le16(3);                // IFD1: three entries
  entry(0x0103, 3, 6);    // compression: JPEG (old-style thumbnail)
  entry(0x0201, 4, 68);   // JPEGInterchangeFormat: right after IFD1 (26 + 2 + 36 + 4)
  entry(0x0202, 4, static_cast<std::uint32_t>(thumbnail.size()));
  le32(0);
  REQUIRE(tiff.size() == 68);
  append(tiff, thumbnail);
  bytes_t app1 = {0xFF, 0xE1, 0, 0, 'E', 'x', 'i', 'f', 0, 0};
  append(app1, tiff);
  REQUIRE(app1.size() - 2 <= 0xFFFF);
  put_be16(app1, 2, app1.size() - 2);
  return app1;
}

/// `jpeg` with an EXIF thumbnail of itself spliced in after SOI, as a camera writes it.
bytes_t with_thumbnail(const bytes_t& jpeg, const cv::Mat& bgr) {
  cv::Mat small;
  cv::resize(bgr, small, {160, 160 * bgr.rows / bgr.cols}, 0, 0, cv::INTER_AREA);
  bytes_t out = {0xFF, 0xD8};
  append(out, exif_with_thumbnail(encode(".jpg", small)));
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

}  // namespace

TEST_CASE("read refuses a camera JPEG cut short even when its EXIF thumbnail holds a complete JPEG") {
  const faceapp::test::scratch_dir tmp{"test_read_limits"};
  const auto original = slurp(data_file("faces/group_1.jpg"));
  const auto full = with_thumbnail(original, photo("group_1.jpg"));
  const std::size_t thumbnail_end = full.size() - original.size() + 2;

  SUBCASE("the whole file reads, with the pixels of the file without the thumbnail") {
    const auto with = faceapp::read(in_memory(full, "camera.jpg"));
    const auto without = faceapp::read(data_file("faces/group_1.jpg"));
    REQUIRE(with.has_value());
    REQUIRE(without.has_value());
    CHECK(same_pixels(with->pixels, without->pixels));
  }
  SUBCASE("cut at one third, past the thumbnail's scan and end-of-image bytes: corrupt, from a file and in memory") {
    const bytes_t cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(full.size() / 3));
    REQUIRE(cut.size() > thumbnail_end);  // the cut holds the thumbnail's FF DA ... FF D9 whole
    spit(tmp.dir / "cut.jpg", cut);
    CHECK(says(error_of(tmp.dir / "cut.jpg"), "truncated JPEG", faceapp::errc::corrupt));
    CHECK(says(error_of(in_memory(cut, "cut.jpg")), "truncated JPEG", faceapp::errc::corrupt));
  }
  SUBCASE("every prefix of a small photo with a thumbnail is refused as corrupt") {
    const auto small = with_thumbnail(slurp(data_file("faces/obama_1.jpg")), photo("obama_1.jpg"));
    for (std::size_t n = 3; n < small.size(); n += 41) {
      CAPTURE(n);
      const auto r = faceapp::read(in_memory(bytes_t(small.begin(), small.begin() + static_cast<std::ptrdiff_t>(n)),
                                             "prefix.jpg"));
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().code == faceapp::errc::corrupt);
    }
  }
}

TEST_CASE("read takes a JPEG's size from the frame header libjpeg uses, past FF 00 and other tricks") {
  // A small real JPEG: SOI, APP0, DQT, SOF0 (16 x 16), DHT, SOS, data, EOI.
  const cv::Mat tile = photo("obama_1.jpg")(cv::Rect(100, 60, 16, 16)).clone();
  const auto parts = split_jpeg(encode(".jpg", tile));
  bytes_t real_sof;
  for (const auto& s : parts.segments) {
    if (s[1] == 0xC0) real_sof = s;
  }
  REQUIRE(real_sof.size() == 19);

  SUBCASE("FF 00 is no marker: a 12000 x 12000 frame hidden behind it is the one the decoder sees") {
    // A scanner that takes FF 00 for a segment with a length skips the big frame header and then finds the small
    // one, which libjpeg never sees: it skips FF 00 and the bytes after it up to the next FF, reads the big frame
    // header, then an APP1 whose length covers the small one.
    bytes_t big_sof = real_sof;
    put_be16(big_sof, 5, 12000);
    put_be16(big_sof, 7, 12000);
    bytes_t hidden = big_sof;
    append(hidden, {0xFF, 0xE1, 0, 0});
    put_be16(hidden, hidden.size() - 2, 2 + real_sof.size());
    bytes_t attack = {0xFF, 0xD8, 0xFF, 0x00, 0, 0};
    put_be16(attack, 4, 2 + hidden.size());
    append(attack, hidden);
    append(attack, real_sof);
    for (const auto& s : parts.segments) {
      if (s != real_sof) append(attack, s);
    }
    append(attack, parts.scans);
    CAPTURE(attack.size());

    // What libjpeg makes of it (at 1/8 scale, 2 MB instead of 432 MB): 12000 x 12000.
    const cv::Mat seen = cv::imdecode(attack, cv::IMREAD_REDUCED_GRAYSCALE_8);
    CHECK(seen.cols == 1500);
    CHECK(seen.rows == 1500);

    const auto e = error_of(in_memory(attack, "ff00.jpg"));
    CHECK(says(e, "12000 x 12000", faceapp::errc::too_large));
    CHECK(says(e, "limit of 40000000 pixels", faceapp::errc::too_large));
  }
  SUBCASE("a frame over libjpeg's 65500 a side is too large, not the decoder's error") {
    bytes_t wide = {0xFF, 0xD8};
    for (auto s : parts.segments) {
      if (s[1] == 0xC0) put_be16(s, 7, 65535);
      append(wide, s);
    }
    append(wide, parts.scans);
    CHECK(says(error_of(in_memory(wide, "wide.jpg")), "65535 x 16", faceapp::errc::too_large));
  }
  SUBCASE("a JPEG with no end-of-image marker after its scan, but one inside a comment, is truncated") {
    bytes_t b = {0xFF, 0xD8, 0xFF, 0xFE, 0, 6, 0xFF, 0xDA, 0xFF, 0xD9};  // COM holding FF DA FF D9
    for (const auto& s : parts.segments) append(b, s);
    b.insert(b.end(), parts.scans.begin(), parts.scans.end() - 2);  // without the final FF D9
    CHECK(says(error_of(in_memory(b, "no_eoi.jpg")), "truncated JPEG", faceapp::errc::corrupt));
  }
}

TEST_CASE("read accepts fill bytes and restart markers, with the pixels OpenCV decodes") {
  const cv::Mat bgr = photo("obama_1.jpg");
  const auto plain = encode(".jpg", bgr, {cv::IMWRITE_JPEG_RST_INTERVAL, 1});
  const auto parts = split_jpeg(plain);
  // FF FF FF before every marker segment, every restart marker and the end-of-image marker: legal fill bytes.
  bytes_t filled = {0xFF, 0xD8};
  for (const auto& s : parts.segments) {
    append(filled, {0xFF, 0xFF, 0xFF});
    append(filled, s);
  }
  int restarts = 0;
  for (std::size_t i = 0; i < parts.scans.size(); ++i) {
    const auto c = parts.scans[i];
    const bool marker = c == 0xFF && i + 1 < parts.scans.size() && parts.scans[i + 1] != 0x00;
    if (marker && i > 0) {  // not the SOS itself
      append(filled, {0xFF, 0xFF, 0xFF});
      if (parts.scans[i + 1] >= 0xD0 && parts.scans[i + 1] <= 0xD7) ++restarts;
    }
    filled.push_back(c);
  }
  CHECK(restarts > 100);
  CHECK(filled.size() > plain.size() + 300);

  const auto img = faceapp::read(in_memory(filled, "filled.jpg"));
  REQUIRE(img.has_value());
  cv::Mat rgb;
  cv::cvtColor(cv::imdecode(filled, cv::IMREAD_COLOR), rgb, cv::COLOR_BGR2RGB);
  CHECK(same_pixels(img->pixels, rgb));
  const auto unfilled = faceapp::read(in_memory(plain, "plain.jpg"));
  REQUIRE(unfilled.has_value());
  CHECK(same_pixels(img->pixels, unfilled->pixels));
}

TEST_CASE("read caps the scans of a progressive JPEG (a decompression bomb in time)") {
  const cv::Mat bgr = photo("obama_1.jpg")(cv::Rect(100, 60, 64, 48)).clone();
  const auto progressive = encode(".jpg", bgr, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  const auto parts = split_jpeg(progressive);
  // The first scan (DC of every component) sets the DC coefficients; decoding it again sets them to the same
  // values, so repeating it changes nothing but the time spent.
  const std::size_t first_scan_end = end_of_scan_data(parts.scans, 4);
  const bytes_t first_scan(parts.scans.begin(), parts.scans.begin() + static_cast<std::ptrdiff_t>(first_scan_end));
  auto repeated = [&](std::size_t copies) {
    bytes_t b = {0xFF, 0xD8};
    for (const auto& s : parts.segments) append(b, s);
    b.reserve(b.size() + copies * first_scan.size() + parts.scans.size());
    for (std::size_t k = 0; k < copies; ++k) append(b, first_scan);
    append(b, parts.scans);
    return b;
  };
  const auto original = faceapp::read(in_memory(progressive, "progressive.jpg"));
  REQUIRE(original.has_value());

  SUBCASE("200 000 tiny scans are refused before decoding") {
    const auto bomb = repeated(200'000);
    const auto e = error_of(in_memory(bomb, "bomb.jpg"));
    CHECK(says(e, "scans exceeds the limit of 64 scans", faceapp::errc::too_large));
  }
  SUBCASE("1000 scans: over the default limit; under a raised one the same file decodes to the same pixels") {
    const auto many = repeated(1000);
    CHECK(says(error_of(in_memory(many, "many.jpg")), "limit of 64 scans", faceapp::errc::too_large));
    const auto img = faceapp::read({.max_scans = 2000})(in_memory(many, "many.jpg"));
    REQUIRE(img.has_value());
    CHECK(same_pixels(img->pixels, original->pixels));
  }
}

TEST_CASE("read refuses PNG sizes that overflow or exceed libpng's limits as too large") {
  const auto png = slurp(data_file("faces/amy_1.png"));
  auto sized = [&](std::uint32_t w, std::uint32_t h) {
    auto b = png;
    put_be32(b, 16, w);
    put_be32(b, 20, h);
    return b;
  };
  SUBCASE("0xFFFFFFFF x 0xFFFFFFFF: the product does not fit 64 bits signed") {
    CHECK(says(error_of(in_memory(sized(0xFFFFFFFF, 0xFFFFFFFF), "max.png")), "4294967295 x 4294967295",
               faceapp::errc::too_large));
  }
  SUBCASE("1 000 001 x 1: few pixels, but over libpng's width limit") {
    CHECK(says(error_of(in_memory(sized(1'000'001, 1), "wide.png")), "1000000 pixels a side",
               faceapp::errc::too_large));
  }
  SUBCASE("65536 x 65536: over the pixel limit") {
    CHECK(says(error_of(in_memory(sized(65536, 65536), "square.png")), "limit of 40000000 pixels",
               faceapp::errc::too_large));
  }
}

TEST_CASE("read checks a BMP's signed sizes before OpenCV does") {
  const cv::Mat bgr = photo("obama_1.jpg");  // 320 wide: rows of 960 bytes, no padding
  const auto bmp = encode(".bmp", bgr);
  auto sized = [&](std::int32_t w, std::int32_t h) {
    auto b = bmp;
    put_le32(b, 18, static_cast<std::uint32_t>(w));
    put_le32(b, 22, static_cast<std::uint32_t>(h));
    return b;
  };
  SUBCASE("2^21 x 1 is under the pixel limit but over OpenCV's 2^20 a side") {
    CHECK(says(error_of(in_memory(sized(1 << 21, 1), "wide.bmp")), "1048576 pixels a side",
               faceapp::errc::too_large));
  }
  SUBCASE("a height of -2^31 (top-down, and no int32 can hold its size)") {
    CHECK(says(error_of(in_memory(sized(320, INT32_MIN), "min.bmp")), "320 x 2147483648",
               faceapp::errc::too_large));
  }
  SUBCASE("50 000 x 50 000") {
    CHECK(says(error_of(in_memory(sized(50'000, 50'000), "huge.bmp")), "limit of 40000000 pixels",
               faceapp::errc::too_large));
  }
  SUBCASE("a negative width is corrupt") {
    CHECK(says(error_of(in_memory(sized(-320, 240), "negative.bmp")), "negative width", faceapp::errc::corrupt));
  }
  SUBCASE("a negative height within the limits is a top-down BMP and reads the same picture") {
    auto top_down = sized(320, -240);
    const std::size_t offset = top_down[10] | (top_down[11] << 8);
    const std::size_t stride = 320 * 3;
    for (std::size_t row = 0; row < 240; ++row) {
      std::copy_n(bmp.begin() + static_cast<std::ptrdiff_t>(offset + (239 - row) * stride), stride,
                  top_down.begin() + static_cast<std::ptrdiff_t>(offset + row * stride));
    }
    const auto a = faceapp::read(in_memory(top_down, "top_down.bmp"));
    const auto b = faceapp::read(in_memory(bmp, "bottom_up.bmp"));
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK(same_pixels(a->pixels, b->pixels));
  }
}

TEST_CASE("read refuses WebP sizes over the limits, lossy, lossless and extended") {
  const cv::Mat bgr = photo("obama_1.jpg");
  SUBCASE("lossy VP8 of 16383 x 16383") {
    auto b = encode(".webp", bgr, {cv::IMWRITE_WEBP_QUALITY, 80});
    REQUIRE(std::string(b.begin() + 12, b.begin() + 16) == "VP8 ");
    b[26] = b[28] = 0xFF;
    b[27] = b[29] = 0x3F;
    CHECK(says(error_of(in_memory(b, "lossy.webp")), "16383 x 16383", faceapp::errc::too_large));
  }
  SUBCASE("lossless VP8L of 16384 x 16384") {
    auto b = encode(".webp", bgr, {cv::IMWRITE_WEBP_QUALITY, 101});
    REQUIRE(std::string(b.begin() + 12, b.begin() + 16) == "VP8L");
    b[21] = 0xFF;
    b[22] = 0xFF;
    b[23] = 0xFF;
    b[24] = static_cast<std::uint8_t>((b[24] & 0xF0) | 0x0F);  // 14 + 14 bits of (size - 1), all ones
    CHECK(says(error_of(in_memory(b, "lossless.webp")), "16384 x 16384", faceapp::errc::too_large));
  }
  SUBCASE("extended VP8X canvas of 20000 x 1, and an animated one") {
    bytes_t b = {'R', 'I', 'F', 'F', 22, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X', 10, 0, 0, 0,
                 0,   0,   0,   0,   0x1F, 0x4E, 0, 0, 0, 0};  // canvas (19999 + 1) x (0 + 1)
    CHECK(says(error_of(in_memory(b, "wide.webp")), "20000 x 1", faceapp::errc::too_large));
    b[20] = 0x02;  // animation flag
    b[24] = 99;
    b[25] = 0;
    b[27] = 99;  // 100 x 100
    CHECK(says(error_of(in_memory(b, "animated.webp")), "animated", faceapp::errc::unsupported));
  }
}

TEST_CASE("read refuses a WebP header that OpenCV would pass on to its DICOM decoder") {
  // Found by tests/fuzz/fuzz_read: libwebp cannot parse this VP8L header, so OpenCV's WebP decoder declines it and
  // cv::imdecode tries the next decoders; GDCM's matches "DICM" at byte 128, allocates 1 GB for a length in the
  // file and aborts the process on an assertion. It must never reach cv::imdecode.
  const bytes_t found = {
      0x52, 0x49, 0x46, 0x46, 0x4E, 0x0B, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50, 0x38, 0x4C,
      0x41, 0x0B, 0x00, 0x00, 0x2F, 0x2F, 0xC0, 0x08, 0xE9, 0x94, 0xD3, 0x3C, 0x6F, 0xFF, 0x01, 0x40,
      0x81, 0xE3, 0xE8, 0x42, 0xFF, 0x01, 0x94, 0x86, 0x0E, 0xB4, 0x7A, 0xE1, 0xA8, 0x50, 0xD9, 0x00,
      0x00, 0x5C, 0x7B, 0xDC, 0xE3, 0xE8, 0x3F, 0xFF, 0x01, 0xE9, 0x95, 0xD3, 0xFF, 0x01, 0x00, 0x81,
      0x69, 0x76, 0x65, 0x35, 0x94, 0x35, 0x94, 0x3F, 0xFF, 0x01, 0x28, 0xFB, 0xE3, 0xE8, 0x3F, 0xFF,
      0x01, 0xFB, 0xB7, 0x1F, 0xE1, 0xA8, 0x50, 0xD9, 0x00, 0x00, 0xDB, 0x1A, 0xF5, 0x26, 0x43, 0xFF,
      0x01, 0x01, 0x48, 0xE0, 0x1E, 0xA8, 0x50, 0xD9, 0x00, 0x00, 0xDB, 0x1A, 0x44, 0x2F, 0x9C, 0x3F,
      0xFF, 0x01, 0xE9, 0xD5, 0xD3, 0xA3, 0x94, 0x3D, 0xFF, 0x01, 0xE9, 0x95, 0xD3, 0x31, 0x6F, 0x3F,
      0x44, 0x49, 0x43, 0x4D, 0x02, 0x00, 0x2B, 0x2E, 0xC0, 0xE3, 0xE8, 0x3F, 0xFF, 0x44, 0x54, 0x45,
      0x44, 0x00, 0x00, 0xE8, 0x3F, 0xE4,
  };
  REQUIRE(found.size() == 150);
  CHECK(says(error_of(in_memory(found, "dicm.webp")), "DICOM signature", faceapp::errc::unsupported));

  SUBCASE("a real WebP with those four bytes put at 128 is refused the same way") {
    auto b = encode(".webp", photo("obama_1.jpg"), {cv::IMWRITE_WEBP_QUALITY, 101});
    REQUIRE(b.size() > 132);
    std::copy_n("DICM", 4, b.begin() + 128);
    CHECK(says(error_of(in_memory(b, "dicm2.webp")), "DICOM signature", faceapp::errc::unsupported));
  }
}

TEST_CASE("read applies max_bytes to bytes in memory too") {
  const auto e = error_of(in_memory(slurp(data_file("faces/obama_1.jpg")), "upload.jpg"), {.max_bytes = 1000});
  CHECK(says(e, "exceed the limit of 1000 bytes", faceapp::errc::too_large));
}
