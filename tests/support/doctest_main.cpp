// The one doctest main of faceapp's test binaries. It also keeps the arguments doctest does not take (a test
// launcher may pass some, such as the URL of a throwaway database): see test_args.hpp.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "test_args.hpp"

int main(int argc, char** argv) {
  faceapp::test::keep_args(argc, argv);
  doctest::Context context(argc, argv);
  return context.run();
}
