// The arguments a test binary was started with that are not doctest's own (they do not start with '-').
#pragma once

#include <string>
#include <vector>

namespace faceapp::test {

inline std::vector<std::string>& args() {
  static std::vector<std::string> kept;
  return kept;
}

inline void keep_args(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] != '-') args().emplace_back(argv[i]);
  }
}

}  // namespace faceapp::test
