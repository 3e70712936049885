// compare needs encoded_faces; detect gives faces without encodings. Must not compile; with FACEAPP_CONTROL it must.
#include <faceapp/faceapp.hpp>

int main() {
#ifdef FACEAPP_CONTROL
  auto pipe = faceapp::read | faceapp::detect | faceapp::encode | faceapp::compare(0.5);
#else
  auto pipe = faceapp::read | faceapp::detect | faceapp::compare(0.5);
#endif
  return static_cast<int>(sizeof pipe);
}
