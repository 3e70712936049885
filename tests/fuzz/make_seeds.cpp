// Writes the seed corpus of fuzz_read into a folder, at build time (never into git): a few small test photos as
// they are, the same picture in every format and JPEG flavour `read` takes, and the hostile shapes the library
// tests build (EXIF thumbnail in a cut file, FF 00 before a frame header, sizes that overflow, many scans), so
// that the fuzzer starts from every path of the header walk.
// Usage: faceapp_fuzz_seeds TEST_DATA_DIR OUT_DIR
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace fs = std::filesystem;
using bytes_t = std::vector<std::uint8_t>;

namespace {

fs::path out_dir;

void put(const std::string& name, const bytes_t& b) {
  std::ofstream out(out_dir / name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

bytes_t encode(const std::string& ext, const cv::Mat& m, const std::vector<int>& params = {}) {
  bytes_t b;
  if (!cv::imencode(ext, m, b, params)) throw std::runtime_error("cannot encode " + ext);
  return b;
}

void append(bytes_t& to, const bytes_t& from) { to.insert(to.end(), from.begin(), from.end()); }

void be16(bytes_t& b, std::size_t at, std::size_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

/// Offset of the first segment with `marker` in an encoder's clean output, or 0.
std::size_t find_segment(const bytes_t& b, std::uint8_t marker) {
  for (std::size_t i = 2; i + 4 <= b.size();) {
    if (b[i + 1] == marker) return i;
    if (b[i + 1] == 0xDA) return 0;
    i += 2 + ((std::size_t{b[i + 2]} << 8) | b[i + 3]);
  }
  return 0;
}

bytes_t with_exif_thumbnail(const bytes_t& jpeg, const bytes_t& thumbnail) {
  bytes_t tiff = {'I', 'I', 0x2A, 0, 8, 0, 0, 0,            // header, IFD0 at 8
                  1, 0, 0x12, 1, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0,  // orientation 1
                  26, 0, 0, 0,                              // IFD1 at 26
                  2, 0, 1, 2, 4, 0, 1, 0, 0, 0, 56, 0, 0, 0,   // JPEGInterchangeFormat: right after IFD1
                  2, 2, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0,          // JPEGInterchangeFormatLength
                  0, 0, 0, 0};
  const auto n = static_cast<std::uint32_t>(thumbnail.size());
  for (int k = 0; k < 4; ++k) tiff[48 + k] = static_cast<std::uint8_t>(n >> (8 * k));
  append(tiff, thumbnail);
  bytes_t out = {0xFF, 0xD8, 0xFF, 0xE1, 0, 0, 'E', 'x', 'i', 'f', 0, 0};
  append(out, tiff);
  be16(out, 4, out.size() - 4);
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s TEST_DATA_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path data = fs::path(argv[1]) / "faces";
  out_dir = argv[2];
  fs::create_directories(out_dir);
  for (const char* name : {"obama_1.jpg", "unknown_1.jpg", "amy_1.png"}) {
    fs::copy_file(data / name, out_dir / name, fs::copy_options::overwrite_existing);
  }

  const cv::Mat full = cv::imread((data / "obama_1.jpg").string(), cv::IMREAD_COLOR);
  if (full.empty()) throw std::runtime_error("cannot read obama_1.jpg");
  cv::Mat small, gray, bgra, deep;
  cv::resize(full, small, {48, 36}, 0, 0, cv::INTER_AREA);
  cv::cvtColor(small, gray, cv::COLOR_BGR2GRAY);
  cv::cvtColor(small, bgra, cv::COLOR_BGR2BGRA);
  small.convertTo(deep, CV_16UC3, 257);

  const auto jpeg = encode(".jpg", small);
  const auto progressive = encode(".jpg", small, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  put("baseline.jpg", jpeg);
  put("progressive.jpg", progressive);
  put("restarts.jpg", encode(".jpg", small, {cv::IMWRITE_JPEG_RST_INTERVAL, 1}));
  put("gray.jpg", encode(".jpg", gray));
  put("rgb.png", encode(".png", small));
  put("gray.png", encode(".png", gray));
  put("alpha.png", encode(".png", bgra));
  put("deep.png", encode(".png", deep));
  put("rgb.bmp", encode(".bmp", small));
  put("gray.bmp", encode(".bmp", gray));
  put("lossy.webp", encode(".webp", small, {cv::IMWRITE_WEBP_QUALITY, 60}));
  put("lossless.webp", encode(".webp", small, {cv::IMWRITE_WEBP_QUALITY, 101}));

  // A camera-like file with an EXIF thumbnail, whole and cut at one third.
  cv::Mat thumb;
  cv::resize(small, thumb, {16, 12}, 0, 0, cv::INTER_AREA);
  const auto camera = with_exif_thumbnail(jpeg, encode(".jpg", thumb));
  put("thumbnail.jpg", camera);
  put("thumbnail_cut.jpg", bytes_t(camera.begin(), camera.begin() + static_cast<std::ptrdiff_t>(camera.size() / 3)));

  // FF 00 before a frame header of 12000 x 12000, then an APP1 over the real one.
  if (const std::size_t sof = find_segment(jpeg, 0xC0); sof != 0) {
    const std::size_t sof_len = 2 + ((std::size_t{jpeg[sof + 2]} << 8) | jpeg[sof + 3]);
    bytes_t big(jpeg.begin() + static_cast<std::ptrdiff_t>(sof),
                jpeg.begin() + static_cast<std::ptrdiff_t>(sof + sof_len));
    be16(big, 5, 12000);
    be16(big, 7, 12000);
    bytes_t attack = {0xFF, 0xD8, 0xFF, 0x00, 0, 0};
    be16(attack, 4, 2 + big.size() + 4);
    append(attack, big);
    append(attack, {0xFF, 0xE1, 0, 0});
    be16(attack, attack.size() - 2, 2 + sof_len);
    attack.insert(attack.end(), jpeg.begin() + 2, jpeg.end());
    put("ff00.jpg", attack);
  }

  // A progressive file whose first scan is repeated 100 times.
  if (const std::size_t sos = find_segment(progressive, 0xDA); sos != 0) {
    std::size_t end = sos + 4;
    while (end + 1 < progressive.size() &&
           !(progressive[end] == 0xFF && progressive[end + 1] != 0 && (progressive[end + 1] & 0xF8) != 0xD0)) {
      ++end;
    }
    bytes_t many(progressive.begin(), progressive.begin() + static_cast<std::ptrdiff_t>(sos));
    for (int k = 0; k < 100; ++k) {
      many.insert(many.end(), progressive.begin() + static_cast<std::ptrdiff_t>(sos),
                  progressive.begin() + static_cast<std::ptrdiff_t>(end));
    }
    many.insert(many.end(), progressive.begin() + static_cast<std::ptrdiff_t>(sos), progressive.end());
    put("many_scans.jpg", many);
  }

  // Sizes that overflow or exceed a decoder's own caps.
  auto png = encode(".png", gray);
  for (std::size_t k = 16; k < 24; ++k) png[k] = 0xFF;
  put("ihdr_max.png", png);
  auto bmp = encode(".bmp", small);
  for (std::size_t k = 22; k < 26; ++k) bmp[k] = k == 25 ? 0x80 : 0x00;  // height -2^31
  put("height_min.bmp", bmp);
  put("vp8x.webp", {'R', 'I', 'F', 'F', 22, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X', 10, 0, 0, 0,
                    0, 0, 0, 0, 0x1F, 0x4E, 0, 0, 0, 0});
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "faceapp_fuzz_seeds: %s\n", e.what());
  return 1;
}
