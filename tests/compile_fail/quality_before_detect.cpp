// quality judges faces; read gives an image, with no faces found yet. Must not compile; with FACEAPP_CONTROL it
// must.
#include <faceapp/faceapp.hpp>

int main() {
#ifdef FACEAPP_CONTROL
  auto pipe = faceapp::read | faceapp::detect | faceapp::quality | faceapp::encode;
#else
  auto pipe = faceapp::read | faceapp::quality | faceapp::encode;
#endif
  return static_cast<int>(sizeof pipe);
}
