// libFuzzer target for `read` on bytes in memory, the path an upload takes (faceapp-web, `faceapp ... -`).
// Built by -DFACEAPP_FUZZ=ON with clang++ under AddressSanitizer and UndefinedBehaviorSanitizer (tests/fuzz).
//
// Beyond "no crash, no leak, no sanitizer report", each input checks what `read` promises:
//  - an error names the stage and the input, and has a kind;
//  - an image is 8-bit RGB, within the pixel limit, and of the size the header walk read (turned by 90 degrees
//    when the EXIF orientation says so): the size checked against the limits is the size the decoder used;
//  - for a JPEG, whether or not it decodes, libjpeg's own header reader finds the frame size the walk found.
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>

#include <jpeglib.h>

#include "faceapp/stages/read.hpp"

namespace {

// 4 M pixels: every decoder's buffers for such an image fit in the -malloc_limit_mb the README and CI give.
constexpr faceapp::read_options fuzz_limits{.max_pixels = 4'000'000, .max_bytes = 16 << 20, .max_scans = 64};

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "fuzz_read: %s\n", what);
  std::abort();
}

struct jpeg_frame {
  long width = -1;  // -1: libjpeg stopped with an error before its first scan
  long height = -1;
};

struct jpeg_errors {
  jpeg_error_mgr pub;
  std::jmp_buf exit;
};

/// What jpeg_read_header makes of the bytes: the decoder's view, for the walk to agree with. Only trivially
/// destructible objects live between setjmp and longjmp.
jpeg_frame libjpeg_frame(const std::uint8_t* data, std::size_t size) {
  jpeg_decompress_struct info;
  jpeg_errors errors;
  info.err = jpeg_std_error(&errors.pub);
  errors.pub.error_exit = [](j_common_ptr c) { std::longjmp(reinterpret_cast<jpeg_errors*>(c->err)->exit, 1); };
  errors.pub.output_message = [](j_common_ptr) {};
  volatile jpeg_frame frame;
  if (setjmp(errors.exit) == 0) {
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, static_cast<unsigned long>(size));
    if (jpeg_read_header(&info, TRUE) == JPEG_HEADER_OK) {
      frame.width = static_cast<long>(info.image_width);
      frame.height = static_cast<long>(info.image_height);
    }
  }
  jpeg_destroy_decompress(&info);
  return {frame.width, frame.height};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cv::setNumThreads(1);
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> bytes(data, data + size);
  const auto header = faceapp::detail::read_image_header(bytes);
  if (header && header->format == faceapp::detail::image_format::jpeg) {
    const auto lib = libjpeg_frame(data, size);
    if (lib.width >= 0 && header->width != 0 &&
        (static_cast<std::uint64_t>(lib.width) != header->width ||
         static_cast<std::uint64_t>(lib.height) != header->height)) {
      broken("libjpeg reads another frame size than the walk");
    }
    if (lib.width >= 0 && header->width == 0 && header->defect.empty()) broken("the walk missed libjpeg's frame");
  }
  const auto src = faceapp::source::from_bytes(std::move(bytes), "fuzz");
  const auto img = faceapp::read(fuzz_limits)(src);
  if (!img) {
    const auto& e = img.error();
    if (e.stage != "read" || e.input != "<bytes: fuzz>" || e.message.empty()) broken("an error without its names");
    return 0;
  }
  if (!header) broken("an image from bytes that are none of the four formats");
  if (img->pixels.type() != CV_8UC3 || img->pixels.empty()) broken("an image that is not 8-bit RGB");
  const auto w = static_cast<std::uint64_t>(img->pixels.cols);
  const auto h = static_cast<std::uint64_t>(img->pixels.rows);
  if (w * h > static_cast<std::uint64_t>(fuzz_limits.max_pixels)) broken("an image over the pixel limit");
  const bool as_read = w == header->width && h == header->height;
  const bool turned = w == header->height && h == header->width;
  if (!as_read && !turned) broken("the decoder used another size than the header walk read");
  return 0;
}
