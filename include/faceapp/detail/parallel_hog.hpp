// faceapp: dlib's HOG object detector with the levels of its image pyramid scanned on several threads.
//
// dlib's scan_fhog_pyramid works level by level: downsample the image (pyramid_down<6>, 5/6 per level),
// extract fHOG features, convolve them with each of the detector's filter banks and keep the positions that
// score at least the threshold. The levels are independent once their image exists, so they are spread over
// threads here, biggest first; the thread that starts the scan builds the image pyramid meanwhile and then
// takes levels too. The detections are then put back together exactly as dlib does it (per filter bank:
// level order, row-major, dlib's sort; then dlib's sort over all banks and its non-max suppression), with the
// same dlib code computing every number, so boxes, scores and order equal dlib's single-threaded result.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <dlib/image_processing/object_detector.h>
#include <dlib/image_processing/scan_fhog_pyramid.h>
#include <dlib/image_transforms/interpolation.h>
#include <dlib/simd.h>

namespace faceapp::detail {

namespace hog_impl {

/// Rows [r0, r1) of dlib's bilinear resize_image for RGB images (dlib/image_transforms/interpolation.h,
/// dlib 19.24, Boost Software License): the same statements in the same order, so every pixel comes out as
/// dlib computes it. dlib walks the rows accumulating y += y_scale; `ys` holds those sums, computed the same way
/// once for all rows, so that a row range can start anywhere.
template <class In, class Out>
void resize_rgb_rows(const In& in_img_, Out& out_img_, const std::vector<double>& ys, long r0, long r1) {
  const dlib::const_image_view<In> in_img(in_img_);
  dlib::image_view<Out> out_img(out_img_);
  using T = typename dlib::image_traits<In>::pixel_type;
  const double x_scale = static_cast<double>(in_img.nc() - 1) / static_cast<double>(std::max<long>(out_img.nc() - 1, 1));
  for (long r = r0; r < r1; ++r) {
    const double y = ys[static_cast<std::size_t>(r)];
    const long top = static_cast<long>(std::floor(y));
    const long bottom = std::min(top + 1, in_img.nr() - 1);
    const double tb_frac = y - static_cast<double>(top);
    double x = -4 * x_scale;

    const dlib::simd4f _tb_frac = static_cast<float>(tb_frac);
    const dlib::simd4f _inv_tb_frac = static_cast<float>(1 - tb_frac);
    const dlib::simd4f _x_scale = static_cast<float>(4 * x_scale);
    dlib::simd4f _x(static_cast<float>(x), static_cast<float>(x + x_scale), static_cast<float>(x + 2 * x_scale),
                    static_cast<float>(x + 3 * x_scale));
    long c = 0;
    for (;; c += 4) {
      _x += _x_scale;
      dlib::simd4i left = dlib::simd4i(_x);
      dlib::simd4f lr_frac = _x - left;
      dlib::simd4f _inv_lr_frac = 1 - lr_frac;
      dlib::simd4i right = left + 1;

      dlib::simd4f tlf = _inv_tb_frac * _inv_lr_frac;
      dlib::simd4f trf = _inv_tb_frac * lr_frac;
      dlib::simd4f blf = _tb_frac * _inv_lr_frac;
      dlib::simd4f brf = _tb_frac * lr_frac;

      dlib::int32 fleft[4];
      dlib::int32 fright[4];
      left.store(fleft);
      right.store(fright);

      if (fright[3] >= in_img.nc()) break;
      const auto channel = [&](auto member, long cc) {
        dlib::simd4f tl(in_img[top][fleft[0]].*member, in_img[top][fleft[1]].*member, in_img[top][fleft[2]].*member,
                        in_img[top][fleft[3]].*member);
        dlib::simd4f tr(in_img[top][fright[0]].*member, in_img[top][fright[1]].*member,
                        in_img[top][fright[2]].*member, in_img[top][fright[3]].*member);
        dlib::simd4f bl(in_img[bottom][fleft[0]].*member, in_img[bottom][fleft[1]].*member,
                        in_img[bottom][fleft[2]].*member, in_img[bottom][fleft[3]].*member);
        dlib::simd4f br(in_img[bottom][fright[0]].*member, in_img[bottom][fright[1]].*member,
                        in_img[bottom][fright[2]].*member, in_img[bottom][fright[3]].*member);
        dlib::simd4i out = dlib::simd4i(tlf * tl + trf * tr + blf * bl + brf * br);
        dlib::int32 fout[4];
        out.store(fout);
        for (int i = 0; i < 4; ++i) out_img[r][cc + i].*member = static_cast<unsigned char>(fout[i]);
      };
      channel(&dlib::rgb_pixel::red, c);
      channel(&dlib::rgb_pixel::green, c);
      channel(&dlib::rgb_pixel::blue, c);
    }
    x = -x_scale + static_cast<double>(c) * x_scale;
    for (; c < out_img.nc(); ++c) {
      x += x_scale;
      const long left = static_cast<long>(std::floor(x));
      const long right = std::min(left + 1, in_img.nc() - 1);
      const double lr_frac = x - static_cast<double>(left);

      const T tl = in_img[top][left];
      const T tr = in_img[top][right];
      const T bl = in_img[bottom][left];
      const T br = in_img[bottom][right];

      T temp;
      dlib::assign_pixel(temp, 0);
      dlib::vector_to_pixel(
          temp, (1 - tb_frac) * ((1 - lr_frac) * dlib::pixel_to_vector<double>(tl) +
                                 lr_frac * dlib::pixel_to_vector<double>(tr)) +
                    tb_frac * ((1 - lr_frac) * dlib::pixel_to_vector<double>(bl) +
                               lr_frac * dlib::pixel_to_vector<double>(br)));
      dlib::assign_pixel(out_img[r][c], temp);
    }
  }
}

}  // namespace hog_impl

/// dlib::pyramid_up(in, out, dlib::pyramid_down<2>()) for an RGB image, its rows cut among `threads` threads:
/// the same pixels (hog_impl::resize_rgb_rows). At upsample 1 on a large photo this is a seventh of the HOG
/// detector's work, and nothing else can start before it ends.
template <class In>
void parallel_pyramid_up(const In& in, dlib::array2d<dlib::rgb_pixel>& out, unsigned threads) {
  const dlib::pyramid_down<2> pyr;
  if (dlib::image_size(in) == 0) {
    out.clear();
    return;
  }
  const dlib::rectangle up = pyr.rect_up(dlib::get_rect(in));
  if (up.is_empty()) {
    out.clear();
    return;
  }
  out.set_size(up.bottom() + 1, up.right() + 1);
  const long rows = out.nr();
  const long in_rows = static_cast<long>(dlib::num_rows(in));
  const double y_scale = static_cast<double>(in_rows - 1) / static_cast<double>(std::max<long>(rows - 1, 1));
  std::vector<double> ys(static_cast<std::size_t>(rows));
  double y = -y_scale;
  for (auto& v : ys) v = (y += y_scale);
  const long parts = std::max(1L, std::min<long>(threads, rows / 64));
  {
    std::vector<std::jthread> helpers;
    for (long p = 1; p < parts; ++p) {
      try {
        helpers.emplace_back([&, p] { hog_impl::resize_rgb_rows(in, out, ys, rows * p / parts, rows * (p + 1) / parts); });
      } catch (const std::system_error&) {  // no thread to be had: this one does that part too
        hog_impl::resize_rgb_rows(in, out, ys, rows * p / parts, rows * (p + 1) / parts);
      }
    }
    hog_impl::resize_rgb_rows(in, out, ys, 0, rows / parts);
  }
}

template <class Detector>
class parallel_hog;

/// Runs a dlib::object_detector<scan_fhog_pyramid<...>> (such as dlib::frontal_face_detector) with its pyramid
/// levels on up to `threads` threads. Reads the detector, never modifies it; keeps scratch of its own, so one
/// instance must not be used by two threads at once (like the dlib detector itself). The detector must
/// outlive it.
template <class Pyramid, class Extractor>
class parallel_hog<dlib::object_detector<dlib::scan_fhog_pyramid<Pyramid, Extractor>>> {
 public:
  using detector_type = dlib::object_detector<dlib::scan_fhog_pyramid<Pyramid, Extractor>>;

  /// threads == 0: one per core.
  explicit parallel_hog(const detector_type& detector, unsigned threads = 0)
      : detector_(&detector), threads_(threads != 0 ? threads : std::max(1U, std::thread::hardware_concurrency())) {}

  [[nodiscard]] unsigned threads() const noexcept { return threads_; }
  void set_threads(unsigned threads) noexcept { threads_ = std::max(1U, threads); }

  /// The same as `detector(img, found, adjust_threshold)`.
  template <class Image>
  void operator()(const Image& img, std::vector<dlib::rect_detection>& found, double adjust_threshold = 0) {
    using pixel_type = typename dlib::image_traits<Image>::pixel_type;
    const auto& scanner = detector_->get_scanner();
    const auto& extractor = scanner.get_feature_extractor();
    const unsigned long window_width = scanner.get_fhog_window_width();
    const unsigned long window_height = scanner.get_fhog_window_height();
    const unsigned long padding = scanner.get_padding();
    const int cell_size = static_cast<int>(scanner.get_cell_size());
    const int rows_padding = static_cast<int>(window_height);
    const int cols_padding = static_cast<int>(window_width);
    const unsigned long banks = detector_->num_detectors();

    // The number of levels, as dlib's create_fhog_pyramid counts them.
    Pyramid pyr;
    unsigned long levels = 0;
    for (dlib::rectangle rect = dlib::get_rect(img);;) {
      rect = pyr.rect_down(rect);
      ++levels;
      if (!(rect.width() >= scanner.get_min_pyramid_layer_width() &&
            rect.height() >= scanner.get_min_pyramid_layer_height() && levels < scanner.get_max_pyramid_levels())) {
        break;
      }
    }

    if (feats_.max_size() < levels) feats_.set_max_size(levels);
    feats_.set_size(levels);
    hits_.resize(levels * banks);
    // images[0] stays empty: level 0 is img itself. RGB levels are kept between calls, as the features are, so
    // that a photo of the size of the last one is downsampled into memory already mapped.
    std::vector<dlib::array2d<pixel_type>> local_images;
    auto& images = [&]() -> std::vector<dlib::array2d<pixel_type>>& {
      if constexpr (std::is_same_v<pixel_type, dlib::rgb_pixel>) {
        return rgb_images_;
      } else {
        return local_images;
      }
    }();
    images.resize(levels);

    std::atomic<unsigned long> images_ready{1};  // levels [0, images_ready) have their image
    std::atomic<unsigned long> next_level{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    const auto fail = [&] {
      {
        const std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
      }
      failed.store(true);
      images_ready.store(levels);
      images_ready.notify_all();
    };

    // fHOG of one level, then every filter bank over it: what dlib's scanner does for that level.
    const auto scan_level = [&](unsigned long l, dlib::array2d<float>& saliency) {
      if (l == 0) {
        extractor(img, feats_[l], cell_size, rows_padding, cols_padding);
      } else {
        extractor(images[l], feats_[l], cell_size, rows_padding, cols_padding);
      }
      for (unsigned long b = 0; b < banks; ++b) {
        const double thresh = detector_->get_w(b)(scanner.get_num_dimensions()) + adjust_threshold;
        const dlib::rectangle area = dlib::impl::apply_filters_to_fhog(
            detector_->get_processed_w(b).get_detect_argument(), feats_[l], saliency);
        auto& hits = hits_[l * banks + b];
        hits.clear();
        for (long r = area.top(); r <= area.bottom(); ++r) {
          for (long c = area.left(); c <= area.right(); ++c) {
            if (saliency[r][c] >= thresh) {
              dlib::rectangle rect = extractor.feats_to_image(
                  dlib::centered_rect(dlib::point(c, r), window_width - 2 * padding, window_height - 2 * padding),
                  cell_size, rows_padding, cols_padding);
              hits.emplace_back(saliency[r][c], pyr.rect_up(rect, l));
            }
          }
        }
      }
    };

    const auto take_levels = [&](dlib::array2d<float>& saliency) {
      try {
        for (unsigned long l = next_level.fetch_add(1); l < levels; l = next_level.fetch_add(1)) {
          for (unsigned long ready = images_ready.load(); ready <= l; ready = images_ready.load()) {
            images_ready.wait(ready);
          }
          if (failed.load()) return;
          scan_level(l, saliency);
        }
      } catch (...) {
        fail();
      }
    };

    const unsigned workers = static_cast<unsigned>(std::min<unsigned long>(threads_, levels));
    if (saliency_.size() < workers) saliency_.resize(workers);
    {
      std::vector<std::jthread> helpers;
      helpers.reserve(workers - 1);
      try {
        for (unsigned t = 1; t < workers; ++t) helpers.emplace_back([&, t] { take_levels(saliency_[t]); });
      } catch (const std::system_error&) {
        // No more threads to be had: the ones that started and this one do all the levels.
      }
      // This thread builds the image pyramid (each level from the one before, as dlib does) while the helpers
      // scan the levels that are ready, then joins them.
      try {
        for (unsigned long l = 1; l < levels && !failed.load(); ++l) {
          if (l == 1) {
            pyr(img, images[1]);
          } else {
            pyr(images[l - 1], images[l]);
          }
          images_ready.store(l + 1);
          images_ready.notify_all();
        }
      } catch (...) {
        fail();
      }
      take_levels(saliency_[0]);
    }
    if (error) std::rethrow_exception(error);

    // dlib's scanner: per bank, all levels in order, sorted by descending score with dlib's own comparison.
    std::vector<dlib::rect_detection> all;
    std::vector<std::pair<double, dlib::rectangle>> dets;
    for (unsigned long b = 0; b < banks; ++b) {
      dets.clear();
      for (unsigned long l = 0; l < levels; ++l) {
        const auto& hits = hits_[l * banks + b];
        dets.insert(dets.end(), hits.begin(), hits.end());
      }
      std::sort(dets.rbegin(), dets.rend(), dlib::impl::compare_pair_rect);
      const double thresh = detector_->get_w(b)(scanner.get_num_dimensions());
      for (const auto& d : dets) {
        dlib::rect_detection r;
        r.detection_confidence = d.first - thresh;
        r.weight_index = b;
        r.rect = d.second;
        all.push_back(r);
      }
    }

    // dlib's object_detector: sort over all banks, then non-max suppression in that order.
    found.clear();
    if (banks > 1) std::sort(all.rbegin(), all.rend());
    const auto& overlaps = detector_->get_overlap_tester();
    for (const auto& d : all) {
      const bool suppressed = std::any_of(found.begin(), found.end(),
                                          [&](const dlib::rect_detection& f) { return overlaps(f.rect, d.rect); });
      if (!suppressed) found.push_back(d);
    }
  }

 private:
  const detector_type* detector_;
  unsigned threads_;
  dlib::array<dlib::array<dlib::array2d<float>>> feats_;                  // per level
  std::vector<std::vector<std::pair<double, dlib::rectangle>>> hits_;     // per level and bank
  std::vector<dlib::array2d<float>> saliency_;                            // per worker
  std::vector<dlib::array2d<dlib::rgb_pixel>> rgb_images_;                // per level, of RGB images
};

}  // namespace faceapp::detail
