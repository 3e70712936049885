// faceapp stages `resize(s)` and `fit(max_side)`: image -> smaller image.
#pragma once

#include <algorithm>
#include <string>

#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/image.hpp"

namespace faceapp {

namespace detail {
/// `in` scaled by (fx, fy) with INTER_AREA (it averages the pixels a target pixel covers: no aliasing when
/// shrinking), its scale factors updated so that boxes map back exactly. Compiled once, in the runtime library
/// (src/image.cpp).
image resized(const image& in, double fx, double fy);
}  // namespace detail

/// `resize(s)`: image -> image scaled by s (0 < s <= 4) with INTER_AREA. Boxes found later are still reported
/// in the coordinates of the image as read. Thread-safe. Example: `read | resize(0.5) | encode`.
struct resize_stage : stage_base<resize_stage> {
  using input_type = image;
  using output_type = image;
  static constexpr const char* name = "resize";

  double factor = 1.0;

  [[nodiscard]] result<image> run(const image& in) const {
    if (!(factor > 0 && factor <= 4)) {
      return fail(name, in.source, "scale must be in (0, 4], got " + std::to_string(factor));
    }
    if (factor == 1.0) return in;
    return detail::resized(in, factor, factor);
  }
};

/// `fit(max_side)`: image -> image shrunk (never enlarged) so that its longer side is at most max_side pixels.
/// face_recognition's CLI does this with 1600. Thread-safe. Example: `read | fit(1600) | detect`.
struct fit_stage : stage_base<fit_stage> {
  using input_type = image;
  using output_type = image;
  static constexpr const char* name = "fit";

  int max_side = 1600;

  [[nodiscard]] result<image> run(const image& in) const {
    if (max_side < 1) return fail(name, in.source, "max_side must be >= 1, got " + std::to_string(max_side));
    const int longer = std::max(in.width(), in.height());
    if (longer <= max_side) return in;
    const double s = static_cast<double>(max_side) / longer;
    return detail::resized(in, s, s);
  }
};

struct resize_fn : detail::stage_factory_base {
  struct resize_is_a_stage_factory_call_it_with_a_scale_eg_resize_0_5;
  using call_it_first = resize_is_a_stage_factory_call_it_with_a_scale_eg_resize_0_5;
  [[nodiscard]] constexpr resize_stage operator()(double factor) const { return resize_stage{{}, factor}; }
};
struct fit_fn : detail::stage_factory_base {
  struct fit_is_a_stage_factory_call_it_with_the_longest_side_eg_fit_1600;
  using call_it_first = fit_is_a_stage_factory_call_it_with_the_longest_side_eg_fit_1600;
  [[nodiscard]] constexpr fit_stage operator()(int max_side) const { return fit_stage{{}, max_side}; }
};

inline constexpr resize_fn resize{};
inline constexpr fit_fn fit{};

}  // namespace faceapp
