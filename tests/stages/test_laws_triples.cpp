// The composition law over every three of the real stages: (a | b) | c and a | (b | c) are well-formed together,
// and where they are, both give the same on a real photo (some 130 pipelines, each run twice). Its own file, left
// out of the sanitizer builds (tests/stages/CMakeLists.txt): its thousand static_asserts and 260 pipelines took the
// ASan + UBSan build some eight minutes of a core to compile, for a case those builds did not run; the other law
// cases run the same composition under the sanitizers.
#include <doctest/doctest.h>

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "faceapp/faceapp.hpp"
#include "laws_support.hpp"
#include "test_data.hpp"

using faceapp::test::data_file;
using namespace faceapp::test::laws;  // NOLINT(google-build-using-namespace): the laws' helpers

TEST_CASE("for every three of the real stages, both groupings are well-formed or neither is, and agree") {
  const faceapp::test::scratch_dir dir("all_laws");
  faceapp::csv_sink csv{dir.dir / "all.csv"};
  const auto ref = (faceapp::read | faceapp::encode)(data_file("faces/obama_1.jpg")).value().at(0);
  const auto stages =
      std::make_tuple(faceapp::read, faceapp::resize(0.5), faceapp::detect, faceapp::landmarks, faceapp::encode,
                      faceapp::distance_to(ref), faceapp::compare(0.5), faceapp::record(csv),
                      faceapp::then("largest face", keep_largest), faceapp::quality);
  constexpr std::size_t n = std::tuple_size_v<decltype(stages)>;
  const auto photo = data_file("faces/obama_1.jpg").string();  // 320x240: some 130 pipelines run twice each
  int well_formed = 0;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    const auto for_b_c = [&]<std::size_t A>(std::integral_constant<std::size_t, A>) {
      [&]<std::size_t... J>(std::index_sequence<J...>) {
        const auto for_c = [&]<std::size_t B>(std::integral_constant<std::size_t, B>) {
          [&]<std::size_t... K>(std::index_sequence<K...>) {
            const auto check = [&]<std::size_t C>(std::integral_constant<std::size_t, C>) {
              const auto& a = std::get<A>(stages);
              const auto& b = std::get<B>(stages);
              const auto& c = std::get<C>(stages);
              using SA = std::remove_cvref_t<decltype(a)>;
              using SB = std::remove_cvref_t<decltype(b)>;
              using SC = std::remove_cvref_t<decltype(c)>;
              static_assert(left_grouping<SA, SB, SC> == right_grouping<SA, SB, SC>,
                            "(a | b) | c and a | (b | c) must be well-formed together");
              if constexpr (left_grouping<SA, SB, SC>) {
                CAPTURE(A);
                CAPTURE(B);
                CAPTURE(C);
                ++well_formed;
                const auto left = (a | b) | c;
                const auto right = a | (b | c);
                const auto in = input_for<decltype(left)>(photo);
                const auto l = left(in);
                const auto r = right(in);
                REQUIRE(l.has_value() == r.has_value());
                if (l) check_same(*l, *r);
              }
            };
            (check(std::integral_constant<std::size_t, K>{}), ...);
          }(std::make_index_sequence<n>{});
        };
        (for_c(std::integral_constant<std::size_t, J>{}), ...);
      }(std::make_index_sequence<n>{});
    };
    (for_b_c(std::integral_constant<std::size_t, I>{}), ...);
  }(std::make_index_sequence<n>{});
  // read | resize | detect | landmarks | quality | encode | distance_to | compare | record | then, and what
  // repeats or skips (resize | resize, landmarks | landmarks, encode after detect or landmarks, ...): every chain
  // of three. (assign is not among them: each call adds to its clusters, so two groupings run one after the other
  // do not see the same clusters; tests/people runs both groupings on fresh clusters.)
  CHECK(well_formed >= 60);
  MESSAGE("well-formed groupings of three stages: " << well_formed);
}
