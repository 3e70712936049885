// faceapp-web's service layer: the sizes of the lists' pages (50 a page on the main page, the offset/limit of the
// API's lists) and the reading of their counts from the query strings.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "service/errors.hpp"

namespace faceapp_web {

inline constexpr std::uint64_t people_per_page = 50;
inline constexpr std::uint64_t api_faces_default_limit = 100;
inline constexpr std::uint64_t api_faces_max_limit = 1000;

/// A non-negative integer query parameter: empty -> `fallback`; not a number or above `max` -> bad_input naming
/// it.
inline std::uint64_t parse_count(std::string_view text, std::string_view name, std::uint64_t fallback,
                                 std::uint64_t max) {
  if (text.empty()) return fallback;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v > max) {
    throw service_error(errc::bad_input,
                        std::string(name) + " must be a whole number from 0 to " + std::to_string(max));
  }
  return v;
}

}  // namespace faceapp_web
