// faceapp-web's web layer: the body of POST /api/search (see search_request.hpp).
#include "web/search_request.hpp"

#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "service/errors.hpp"
#include "service/service.hpp"

namespace faceapp_web {

namespace {

[[noreturn]] void bad(const std::string& why) { throw service_error(errc::bad_input, why); }

std::string where(std::size_t i) { return "encodings[" + std::to_string(i) + "]"; }

faceapp::encoding encoding_at(const nlohmann::json& e, std::size_t i) {
  if (!e.is_array()) bad(where(i) + " is not an array of 128 numbers");
  if (e.size() != faceapp::encoding_size) {
    bad(where(i) + " has " + std::to_string(e.size()) + " values, expected 128");
  }
  faceapp::encoding out{};
  for (std::size_t j = 0; j < faceapp::encoding_size; ++j) {
    const auto& v = e[j];
    const std::string at = where(i) + "[" + std::to_string(j) + "]";
    if (!v.is_number()) bad(at + " is not a number");
    const double x = v.get<double>();
    if (!std::isfinite(x) || std::abs(x) > std::numeric_limits<float>::max()) {
      bad(at + " is not a finite 32-bit number");
    }
    out[j] = static_cast<float>(x);
  }
  return out;
}

}  // namespace

std::size_t max_search_body(const service_options& o) noexcept {
  return o.max_search_encodings * faceapp::encoding_size * 64 + 4096;
}

search_request parse_search_request(std::string_view body, const service_options& o) {
  // Bounded before it is parsed (a parsed JSON number costs several times its text): 64 bytes a number is room
  // for any float's text and indentation.
  if (body.size() > max_search_body(o)) {
    throw service_error(errc::too_large, "the body has " + std::to_string(body.size()) + " bytes, more than " +
                                             std::to_string(max_search_body(o)) + " for " +
                                             std::to_string(o.max_search_encodings) + " encodings");
  }
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) bad("the body is not valid JSON (send {\"encodings\": [[128 numbers], ...], \"k\": 1})");
  if (!j.is_object()) bad("the body is not a JSON object (send {\"encodings\": [[128 numbers], ...], \"k\": 1})");
  const auto encodings = j.find("encodings");
  if (encodings == j.end()) bad("missing \"encodings\" (an array of encodings of 128 numbers each)");
  if (!encodings->is_array()) bad("\"encodings\" is not an array (of encodings of 128 numbers each)");
  search_request r;
  if (const auto k = j.find("k"); k != j.end()) {
    if (k->is_number_unsigned()) {
      const auto u = k->get<std::uint64_t>();
      if (u > o.max_search_k) {
        bad("\"k\" must be from 1 to " + std::to_string(o.max_search_k) + ", not " + std::to_string(u));
      }
      r.k = static_cast<std::int64_t>(u);
    } else if (k->is_number_integer()) {
      r.k = k->get<std::int64_t>();
    } else {
      bad("\"k\" is not a whole number");
    }
  }
  // Counted before any encoding is read.
  check_search_bounds(encodings->size(), r.k, o);
  r.encodings.reserve(encodings->size());
  for (std::size_t i = 0; i < encodings->size(); ++i) r.encodings.push_back(encoding_at((*encodings)[i], i));
  return r;
}

}  // namespace faceapp_web
