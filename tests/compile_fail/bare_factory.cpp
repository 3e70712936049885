// resize is a stage factory: `read | resize | encode` forgets its argument. Must not compile, and the error must
// say that resize is a factory to call; with FACEAPP_CONTROL (resize(0.5)) it must compile.
#include <faceapp/faceapp.hpp>

int main() {
#ifdef FACEAPP_CONTROL
  auto pipe = faceapp::read | faceapp::resize(0.5) | faceapp::encode;
#else
  auto pipe = faceapp::read | faceapp::resize | faceapp::encode;
#endif
  return static_cast<int>(sizeof pipe);
}
