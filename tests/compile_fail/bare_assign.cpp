// assign is a stage factory: it needs the clusters to assign to. Must not compile; with FACEAPP_CONTROL it must.
#include <faceapp/faceapp.hpp>

int main() {
  faceapp::face_clusters people;
#ifdef FACEAPP_CONTROL
  auto pipe = faceapp::read | faceapp::encode | faceapp::assign(people);
#else
  auto pipe = faceapp::read | faceapp::encode | faceapp::assign;
#endif
  return static_cast<int>(sizeof pipe);
}
