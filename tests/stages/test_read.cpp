#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "faceapp/faceapp.hpp"
#include "test_data.hpp"

namespace fs = std::filesystem;
using faceapp::test::data_file;

namespace {

std::vector<std::uint8_t> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

faceapp::stage_error error_of(const faceapp::source& s, faceapp::read_options o = {}) {
  const auto r = faceapp::read(o)(s);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().stage == "read");
  CHECK(r.error().input == s.name());
  return r.error();
}

bool says(const faceapp::stage_error& e, const std::string& text, faceapp::errc code) {
  CAPTURE(e.message);
  return e.message.find(text) != std::string::npos && e.code == code;
}

}  // namespace

TEST_CASE("read gives 8-bit RGB for every image of the data set") {
  for (const auto& row : faceapp::test::manifest()) {
    CAPTURE(row.file);
    const auto img = faceapp::read(data_file("faces/" + row.file));
    REQUIRE(img.has_value());
    CHECK(img->pixels.type() == CV_8UC3);
    CHECK(img->width() == img->original_width);
    CHECK(img->height() == img->original_height);
    CHECK(img->source == data_file("faces/" + row.file).string());
  }
}

TEST_CASE("read converts grayscale and alpha to RGB in R, G, B order") {
  SUBCASE("a 1-channel JPEG becomes 3 equal channels") {
    const auto img = faceapp::read(data_file("faces/obama_3.jpg"));
    REQUIRE(img.has_value());
    std::vector<cv::Mat> ch;
    cv::split(img->pixels, ch);
    CHECK(cv::norm(ch[0], ch[1], cv::NORM_INF) == 0);
    CHECK(cv::norm(ch[1], ch[2], cv::NORM_INF) == 0);
  }
  SUBCASE("an RGBA PNG drops its alpha; channels are R, G, B, not OpenCV's B, G, R") {
    const auto path = data_file("faces/alex_lacamoire_1.png");
    const auto img = faceapp::read(path);
    REQUIRE(img.has_value());
    const cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
    const auto p = img->pixels.at<cv::Vec3b>(100, 100);
    const auto q = bgr.at<cv::Vec3b>(100, 100);
    CHECK(p[0] == q[2]);
    CHECK(p[2] == q[0]);
  }
}

TEST_CASE("read applies the EXIF orientation: rose_leslie_3 is stored sideways and comes out upright") {
  const auto upright = faceapp::read(data_file("faces/rose_leslie_1.jpg"));
  const auto rotated = faceapp::read(data_file("faces/rose_leslie_3.jpg"));
  REQUIRE(upright.has_value());
  REQUIRE(rotated.has_value());
  const cv::Mat stored = cv::imread(data_file("faces/rose_leslie_3.jpg").string(),
                                    cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  CHECK(stored.cols == upright->height());  // the pixels as stored are turned by 90 degrees
  CHECK(rotated->width() == upright->width());
  CHECK(rotated->height() == upright->height());
}

TEST_CASE("read decides the format by magic bytes, not by the file name") {
  const faceapp::test::scratch_dir tmp{"test_read"};
  const cv::Mat bgr = cv::imread(data_file("faces/obama_1.jpg").string());
  std::vector<std::uint8_t> webp;
  REQUIRE(cv::imencode(".webp", bgr, webp));
  spit(tmp.dir / "really_a_webp.jpg", webp);
  const auto img = faceapp::read(tmp.dir / "really_a_webp.jpg");
  REQUIRE(img.has_value());
  CHECK(img->width() == bgr.cols);

  std::vector<std::uint8_t> bmp;
  REQUIRE(cv::imencode(".bmp", bgr, bmp));
  spit(tmp.dir / "photo.png", bmp);
  CHECK(faceapp::read(tmp.dir / "photo.png").has_value());
}

TEST_CASE("read takes bytes in memory, named for messages") {
  auto src = faceapp::source::from_bytes(slurp(data_file("faces/obama_1.jpg")), "upload.jpg");
  CHECK(src.name() == "<bytes: upload.jpg>");
  const auto img = faceapp::read(src);
  REQUIRE(img.has_value());
  CHECK(img->source == "<bytes: upload.jpg>");
  CHECK(img->width() == 320);
}

TEST_CASE("read refuses bad input with an error naming the input and the stage") {
  const faceapp::test::scratch_dir tmp{"test_read"};
  SUBCASE("a missing file") { CHECK(says(error_of(tmp.dir / "nope.jpg"), "no such file", faceapp::errc::not_found)); }
  SUBCASE("a directory") { CHECK(says(error_of(tmp.dir), "directory", faceapp::errc::failed)); }
  SUBCASE("an empty file") {
    spit(tmp.dir / "empty.jpg", {});
    CHECK(says(error_of(tmp.dir / "empty.jpg"), "empty", faceapp::errc::corrupt));
  }
  SUBCASE("a file that is not an image") {
    CHECK(says(error_of(data_file("faces/manifest.csv")), "not an image", faceapp::errc::unsupported));
  }
  SUBCASE("a truncated JPEG") {
    auto bytes = slurp(data_file("faces/obama_2.jpg"));
    bytes.resize(bytes.size() / 2);
    spit(tmp.dir / "truncated.jpg", bytes);
    CHECK(says(error_of(tmp.dir / "truncated.jpg"), "truncated JPEG", faceapp::errc::corrupt));
  }
  SUBCASE("a PNG whose header claims 50 000 x 50 000 pixels is refused before decoding") {
    auto bytes = slurp(data_file("faces/amy_1.png"));
    for (int at : {16, 20}) {  // IHDR width and height, big-endian
      bytes[at] = 0;
      bytes[at + 1] = 0;
      bytes[at + 2] = 0xC3;
      bytes[at + 3] = 0x50;  // 50000
    }
    spit(tmp.dir / "huge.png", bytes);
    const auto e = error_of(tmp.dir / "huge.png");
    CHECK(says(e, "50000 x 50000", faceapp::errc::too_large));
    CHECK(says(e, "limit", faceapp::errc::too_large));
  }
  SUBCASE("an image over a lower pixel limit") {
    CHECK(says(error_of(data_file("faces/obama_1.jpg"), {.max_pixels = 320 * 240 - 1}), "limit",
               faceapp::errc::too_large));
    CHECK(faceapp::read({.max_pixels = 320 * 240})(data_file("faces/obama_1.jpg")).has_value());
  }
  SUBCASE("a corrupt PNG body") {
    auto bytes = slurp(data_file("faces/amy_1.png"));
    for (std::size_t i = 60; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 7);
    spit(tmp.dir / "corrupt.png", bytes);
    CHECK(says(error_of(tmp.dir / "corrupt.png"), "PNG", faceapp::errc::corrupt));
  }
}
