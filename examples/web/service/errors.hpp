// faceapp-web's service layer: its error codes. The service says what went wrong; the web layer alone decides
// how that is answered (web/status.hpp).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace faceapp_web {

/// What went wrong in the service, in the caller's terms.
enum class errc {
  bad_input,    // a field is missing or malformed, an image does not decode, a photo has no face
  too_large,    // an image has more pixels or bytes than allowed
  unsupported,  // an upload of a type or in a form the service does not take
  not_found,    // no such face
  unavailable,  // the database is away, or the gallery lags it by more than allowed: nothing was changed
  no_space,     // the disk is full: nothing partial was left
  internal,     // anything else (a bug, a failed write)
};

/// The name of a code, for messages and tests.
constexpr std::string_view to_string(errc c) noexcept {
  switch (c) {
    case errc::bad_input: return "bad_input";
    case errc::too_large: return "too_large";
    case errc::unsupported: return "unsupported";
    case errc::not_found: return "not_found";
    case errc::unavailable: return "unavailable";
    case errc::no_space: return "no_space";
    case errc::internal: return "internal";
  }
  return "internal";
}

/// An error of the service: a code and a message for people (it names the input and the stage).
struct service_error : std::runtime_error {
  errc code;
  service_error(errc c, const std::string& message) : std::runtime_error(message), code(c) {}
};

/// The database cannot be reached (or is behind by more than allowed): nothing was changed.
struct unavailable_error : service_error {
  explicit unavailable_error(const std::string& message) : service_error(errc::unavailable, message) {}
};

}  // namespace faceapp_web
