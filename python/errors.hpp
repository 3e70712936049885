// faceapp's Python extension: a stage_error on its way to Python. The extension throws stage_exception; its
// translator (module.cpp) raises faceapp.StageError, made in Python (faceapp/_errors.py) so that it can also be an
// OSError or FileNotFoundError where face_recognition's users expect one.
#pragma once

#include <utility>

#include "faceapp/core/result.hpp"

namespace faceapp_py {

struct stage_exception {
  faceapp::stage_error error;
};

[[noreturn]] inline void raise(faceapp::stage_error e) { throw stage_exception{std::move(e)}; }

template <class T>
T value_or_raise(faceapp::result<T>&& r) {
  if (!r) raise(std::move(r).error());
  return *std::move(r);
}

inline const char* errc_name(faceapp::errc c) {
  switch (c) {
    case faceapp::errc::not_found: return "not_found";
    case faceapp::errc::unsupported: return "unsupported";
    case faceapp::errc::too_large: return "too_large";
    case faceapp::errc::corrupt: return "corrupt";
    case faceapp::errc::no_space: return "no_space";
    case faceapp::errc::failed: break;
  }
  return "failed";
}

}  // namespace faceapp_py
