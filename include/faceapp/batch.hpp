// faceapp: moved to <faceapp/core/batch.hpp> (it needs neither OpenCV nor dlib). This forwarding header stays
// for one release.
#pragma once

#include "faceapp/core/batch.hpp"
