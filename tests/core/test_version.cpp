// The version in <faceapp/version.hpp> is the one CMake's project() declares (and the package's version file
// carries): the build passes project()'s version in as FACEAPP_PROJECT_VERSION.
#include <doctest/doctest.h>

#include <string>

#include "faceapp/version.hpp"

TEST_CASE("the header's version is project()'s version") {
  const std::string header = std::to_string(FACEAPP_VERSION_MAJOR) + "." + std::to_string(FACEAPP_VERSION_MINOR) +
                             "." + std::to_string(FACEAPP_VERSION_PATCH);
  CHECK(header == FACEAPP_PROJECT_VERSION);
}
