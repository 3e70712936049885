// Encodes the largest face of two images and prints their distance: faceapp used from another project.
#include <faceapp/faceapp.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: consumer A B\n");
    return 2;
  }
  const auto pipe = faceapp::read | faceapp::encode;
  const auto a = pipe(argv[1]);
  const auto b = pipe(argv[2]);
  for (const auto* r : {&a, &b}) {
    if (!*r) {
      std::fprintf(stderr, "%s\n", r->error().what().c_str());
      return 2;
    }
    if (!(*r)->largest()) {
      std::fprintf(stderr, "no face in %s\n", (*r)->source().c_str());
      return 2;
    }
  }
  const float d = faceapp::distance(a->at(*a->largest()).encoding, b->at(*b->largest()).encoding);
  std::printf("distance %.6f %s\n", static_cast<double>(d), d <= faceapp::default_tolerance ? "match" : "no match");
  return 0;
}
