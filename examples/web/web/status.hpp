// faceapp-web's web layer: the one place where the service's errors become HTTP statuses.
#pragma once

#include "service/errors.hpp"

namespace faceapp_web {

/// The status a service error is answered with.
constexpr int http_status(errc c) noexcept {
  switch (c) {
    case errc::bad_input: return 400;
    case errc::too_large: return 413;
    case errc::unsupported: return 415;
    case errc::not_found: return 404;
    case errc::unavailable: return 503;  // nothing was changed: try again
    case errc::no_space: return 507;     // Insufficient Storage
    case errc::internal: return 500;
  }
  return 500;
}

/// What a client is told of a server error (5xx): the details stay in the log.
constexpr const char* public_message(int status) noexcept {
  switch (status) {
    case 503: return "the service is unavailable for a moment (nothing was changed): try again shortly";
    case 507: return "the server's disk is full: nothing was saved";
    default: return "internal error (the server's log has the details)";
  }
}

}  // namespace faceapp_web
