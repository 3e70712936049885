// distance_to needs encoded_faces; read gives an image. Must not compile; with FACEAPP_CONTROL it must.
#include <faceapp/faceapp.hpp>

int main() {
  const faceapp::encoding reference{};
#ifdef FACEAPP_CONTROL
  auto pipe = faceapp::read | faceapp::encode | faceapp::distance_to(reference);
#else
  auto pipe = faceapp::read | faceapp::distance_to(reference);
#endif
  return pipe("a.jpg").has_value() ? 0 : 1;
}
