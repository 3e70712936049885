// faceapp: the library's version. It must equal project(faceapp VERSION ...) in CMakeLists.txt, which the
// package's version file carries; tests/core checks that the two agree.
#pragma once

#define FACEAPP_VERSION_MAJOR 0
#define FACEAPP_VERSION_MINOR 1
#define FACEAPP_VERSION_PATCH 0
