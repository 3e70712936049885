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

}  // namespace faceapp_web
