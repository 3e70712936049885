// faceapp: the growing gallery is faceapp::gallery (core/gallery.hpp); this name stays for the web app's code
// until it says gallery too.
#pragma once

#include "faceapp/core/gallery.hpp"

namespace faceapp {
using chunked_gallery = gallery;
}  // namespace faceapp
