// faceapp-web's web layer: the body of POST /api/search, {"encodings": [[128 numbers], ...], "k": 1}, read into
// encodings. The shape and the values are checked here; how many encodings and which k the service's rule
// decides (check_search_bounds, with the limits of http/limits.hpp).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <faceapp/core/encoding.hpp>

#include "service/service.hpp"

namespace faceapp_web {

struct search_request {
  std::vector<faceapp::encoding> encodings;
  std::int64_t k = 1;  // absent: 1
};

/// Reads the body; service_error(bad_input) naming what is wrong: not JSON, not an object, a missing or non-array
/// "encodings", encoding i not an array of 128 ("encodings[3] has 127 values, expected 128"), value j of it not
/// a number or not finite as a 32-bit float ("encodings[3][17] ..."), a "k" that is not a whole number.
/// A body over max_search_body is too_large before it is parsed; the count of encodings and k are checked
/// (check_search_bounds) before any encoding is read.
search_request parse_search_request(std::string_view body, const service_options& o);
/// The largest body parse_search_request reads (too_large beyond it): 64 bytes a number of max_search_encodings.
std::size_t max_search_body(const service_options& o) noexcept;

}  // namespace faceapp_web
