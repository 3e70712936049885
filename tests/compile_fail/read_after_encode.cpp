// read takes a source (a path or bytes); encode gives encoded_faces. Must not compile; with FACEAPP_CONTROL it must.
#include <faceapp/faceapp.hpp>

int main() {
#ifdef FACEAPP_CONTROL
  auto pipe = faceapp::read | faceapp::encode;
#else
  auto pipe = faceapp::encode | faceapp::read;
#endif
  return static_cast<int>(sizeof pipe);
}
