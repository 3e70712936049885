// Encodes the largest face of two images and prints their distance: faceapp used from another project.
// Exits 0 only when both images have a face and the verdict is the expected one (third argument, "match" by
// default); 1 for the other verdict, 2 for an error.
#include <faceapp/faceapp.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: consumer A B [match|no-match]\n");
    return 2;
  }
  const std::string expected = argc == 4 ? argv[3] : "match";
  if (expected != "match" && expected != "no-match") {
    std::fprintf(stderr, "consumer: expected verdict must be match or no-match, got %s\n", expected.c_str());
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
  const bool match = d <= faceapp::default_tolerance;
  std::printf("distance %.6f %s\n", static_cast<double>(d), match ? "match" : "no-match");
  return match == (expected == "match") ? 0 : 1;
}
