// What generic code can ask about `|`, and how values move through a pipeline: composable<A, B> answers instead
// of breaking the build, tolerances take any arithmetic type, borrowing is spelled at the call site, and a stage
// that only adds fields changes the value it was given instead of copying it.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "faceapp/core/stage.hpp"
#include "faceapp/stages/distance.hpp"
#include "faceapp/stages/read.hpp"
#include "faceapp/stages/record.hpp"
#include "faceapp/stages/resize.hpp"

namespace {

// Whether `a | b` is a valid expression, asked the way generic code asks it.
template <class A, class B>
constexpr bool pipes = requires(A a, B b) { a | b; };

using read_t = std::remove_cvref_t<decltype(faceapp::read)>;
using compare_t = std::remove_cvref_t<decltype(faceapp::compare)>;
using resize_t = decltype(faceapp::resize(0.5));
using distance_t = decltype(faceapp::distance_to(faceapp::encoding{}));

static_assert(!faceapp::composable<decltype(faceapp::read), decltype(faceapp::compare)>);
static_assert(faceapp::composable<decltype(faceapp::read), decltype(faceapp::resize(0.5))>);
static_assert(faceapp::composable<distance_t, decltype(faceapp::compare)>);
static_assert(!faceapp::composable<decltype(faceapp::compare), decltype(faceapp::read)>);
static_assert(!pipes<read_t, compare_t>);
static_assert(pipes<read_t, resize_t>);
static_assert(pipes<faceapp::pipeline_stage<read_t, resize_t>, resize_t>);
static_assert(!pipes<faceapp::pipeline_stage<read_t, resize_t>, compare_t>);
// Only stages pipe: `|` is a hidden friend of stages, invisible to other types.
static_assert(!pipes<read_t, int>);
static_assert(!pipes<std::string, compare_t>);

// The lifetime rule of std::views::all (core/keep.hpp): an lvalue is borrowed, an rvalue owned, std::ref borrows,
// a shared_ptr shares; and all of these make one stage type.
using distance_fn_t = decltype(faceapp::distance_to);
static_assert(std::is_invocable_v<const distance_fn_t&, const faceapp::gallery&>);
static_assert(std::is_invocable_v<const distance_fn_t&, faceapp::gallery&>);
static_assert(std::is_invocable_v<const distance_fn_t&, std::reference_wrapper<const faceapp::gallery>>);
static_assert(std::is_invocable_v<const distance_fn_t&, std::shared_ptr<const faceapp::gallery>, int>);
static_assert(std::is_invocable_v<const distance_fn_t&, faceapp::gallery&&, double>);
static_assert(std::is_invocable_v<const distance_fn_t&, std::shared_ptr<const faceapp::gallery::view>>);
static_assert(std::is_same_v<std::invoke_result_t<const distance_fn_t&, faceapp::gallery&>,
                             std::invoke_result_t<const distance_fn_t&, faceapp::gallery&&>>);
using record_fn_t = decltype(faceapp::record);
static_assert(std::is_invocable_v<const record_fn_t&, faceapp::csv_sink&>);
static_assert(std::is_invocable_v<const record_fn_t&, faceapp::csv_sink&&>);
static_assert(!std::is_invocable_v<const record_fn_t&, const faceapp::csv_sink&>);  // a sink is written to
static_assert(std::is_invocable_v<const record_fn_t&, std::reference_wrapper<faceapp::csv_sink>>);
static_assert(std::is_invocable_v<const record_fn_t&, std::shared_ptr<faceapp::csv_sink>>);

// A factory used bare is no stage: `|` with it is deleted, not merely missing, and composable says no.
using resize_fn_t = std::remove_cvref_t<decltype(faceapp::resize)>;
static_assert(!faceapp::stage<resize_fn_t>);
static_assert(!pipes<read_t, resize_fn_t>);
static_assert(!pipes<resize_fn_t, read_t>);
static_assert(!pipes<resize_fn_t, resize_fn_t>);
static_assert(!pipes<read_t, std::remove_cvref_t<decltype(faceapp::record)>>);

// A value that counts its copies and moves.
struct counted {
  static inline int copies = 0;
  static inline int moves = 0;
  std::vector<int> fields;

  counted() = default;
  counted(const counted& o) : fields(o.fields) { ++copies; }
  counted(counted&& o) noexcept : fields(std::move(o.fields)) { ++moves; }
  counted& operator=(const counted& o) {
    fields = o.fields;
    ++copies;
    return *this;
  }
  counted& operator=(counted&& o) noexcept {
    fields = std::move(o.fields);
    ++moves;
    return *this;
  }
  ~counted() = default;

  static void reset() { copies = moves = 0; }
};

// A stage that only adds a field: like distance_to, compare, landmarks and record, it has a const& overload
// for callers that keep their input, and an rvalue overload that changes the value it is given.
struct add_field_stage : faceapp::stage_base<add_field_stage> {
  using input_type = counted;
  using output_type = counted;
  static constexpr const char* name = "add_field";
  int field = 0;
  faceapp::result<counted> run(const counted& in) const { return run(counted(in)); }
  faceapp::result<counted> run(counted&& in) const {
    in.fields.push_back(field);
    return std::move(in);
  }
};

// A stage that only reads.
struct check_stage : faceapp::stage_base<check_stage> {
  using input_type = counted;
  using output_type = counted;
  static constexpr const char* name = "check";
  faceapp::result<counted> run(const counted& in) const { return in; }
};

constexpr add_field_stage add_field(int f) { return add_field_stage{{}, f}; }

faceapp::encoded_faces two_faces() {
  faceapp::encoded_faces out;
  out.image.source = "two.jpg";
  out.items.resize(2);
  out.items[0].encoding.values.fill(0.0F);
  out.items[1].encoding.values.fill(0.1F);
  return out;
}

}  // namespace

TEST_CASE("stages that only add fields move the value through the pipeline: no copy of an rvalue") {
  const auto pipe = add_field(1) | add_field(2) | add_field(3);

  SUBCASE("an rvalue input is changed in place and moved from stage to stage") {
    counted::reset();
    const auto r = pipe(counted{});
    REQUIRE(r.has_value());
    CHECK(r->fields == std::vector<int>{1, 2, 3});
    CHECK(counted::copies == 0);
    CHECK(counted::moves > 0);
  }
  SUBCASE("a const& input is copied once, by the first stage, and stays as it was") {
    const counted kept;
    counted::reset();
    const auto r = pipe(kept);
    REQUIRE(r.has_value());
    CHECK(r->fields == std::vector<int>{1, 2, 3});
    CHECK(kept.fields.empty());
    CHECK(counted::copies == 1);
  }
  SUBCASE("a stage that only reads costs its one copy, and the rest still move") {
    counted::reset();
    const auto r = (add_field(1) | check_stage{} | add_field(2))(counted{});
    REQUIRE(r.has_value());
    CHECK(r->fields == std::vector<int>{1, 2});
    CHECK(counted::copies == 1);
  }
  SUBCASE("an intermediate result moves too when called by hand on result<T>") {
    counted::reset();
    faceapp::result<counted> first = add_field(1)(counted{});
    const auto r = add_field(2)(std::move(first));
    REQUIRE(r.has_value());
    CHECK(r->fields == std::vector<int>{1, 2});
    CHECK(counted::copies == 0);
  }
}

TEST_CASE("distance_to and compare change the faces they are given, and leave a kept input alone") {
  faceapp::encoding ref;
  ref.values.fill(0.0F);
  const auto pipe = faceapp::distance_to(ref, 1) | faceapp::compare(0.5);

  auto faces = two_faces();
  const auto* buffer = faces.items.data();
  const auto moved = pipe(std::move(faces));
  REQUIRE(moved.has_value());
  CHECK(moved->items.data() == buffer);  // the same vector of faces, not a copy
  REQUIRE(moved->size() == 2);
  CHECK(*moved->at(0).distance == doctest::Approx(0.0));
  CHECK(*moved->at(1).distance == doctest::Approx(0.1 * std::sqrt(128.0)).epsilon(1e-5));
  CHECK(*moved->at(0).match);
  CHECK_FALSE(*moved->at(1).match);  // 1.13 > 0.5

  const auto kept = two_faces();
  const auto copied = pipe(kept);
  REQUIRE(copied.has_value());
  CHECK(copied->items.data() != kept.items.data());
  CHECK_FALSE(kept.at(0).distance.has_value());
  CHECK(*copied->at(0).distance == *moved->at(0).distance);
}

TEST_CASE("tolerances take any arithmetic type") {
  CHECK(faceapp::compare(1).tolerance == 1.0F);
  CHECK(faceapp::compare(0.5).tolerance == 0.5F);
  CHECK(faceapp::compare(0.25F).tolerance == 0.25F);
  CHECK(faceapp::compare(1L).tolerance == 1.0F);
  faceapp::encoding e;
  e.values.fill(0.0F);
  CHECK(faceapp::distance_to(e, 1).tolerance == 1.0F);
  CHECK(faceapp::distance_to(e).tolerance == faceapp::default_tolerance);
  faceapp::gallery g;
  CHECK(faceapp::distance_to(std::cref(g), 2u).tolerance == 2.0F);

  // compare(1) matches a face at distance 0.9 that the default tolerance 0.6 does not.
  auto faces = two_faces();
  faces.items[0].distance = 0.9F;
  CHECK(*faceapp::compare(1)(faces)->at(0).match);
  CHECK_FALSE(*faceapp::compare(faces)->at(0).match);
}

TEST_CASE("distance_to a gallery: an lvalue borrowed and read live, an rvalue owned, std::cref, a shared_ptr") {
  faceapp::gallery people;
  faceapp::encoding near;
  near.values.fill(0.1F);
  people.add("near", near);

  SUBCASE("an lvalue is borrowed: adds made after the stage was built are seen") {
    const auto stage = faceapp::distance_to(people);
    faceapp::encoding exact;
    exact.values.fill(0.0F);
    auto r = stage(two_faces());
    REQUIRE(r.has_value());
    CHECK(r->at(0).name == "near");
    people.add("exact", exact);
    r = stage(two_faces());
    REQUIRE(r.has_value());
    CHECK(r->at(0).name == "exact");
    CHECK(*r->at(0).distance == doctest::Approx(0.0));
  }
  SUBCASE("std::cref borrows the same way") {
    const auto r = faceapp::distance_to(std::cref(people))(two_faces());
    REQUIRE(r.has_value());
    CHECK(r->at(1).name == "near");
    CHECK(*r->at(1).distance == doctest::Approx(0.0));
  }
  SUBCASE("an rvalue is owned: the stage outlives the gallery's scope, and the moved-from one is not read") {
    std::optional<faceapp::distance_to_fn::to_gallery> stage;
    {
      faceapp::gallery scoped;
      scoped.add("scoped", near);
      stage = faceapp::distance_to(std::move(scoped));
      scoped.add("after the move", near);
    }
    const auto r = (*stage)(two_faces());
    REQUIRE(r.has_value());
    CHECK(r->at(1).name == "scoped");
  }
  SUBCASE("a null shared_ptr is an empty gallery: no distance, no match") {
    const auto r = faceapp::distance_to(std::shared_ptr<const faceapp::gallery>{})(two_faces());
    REQUIRE(r.has_value());
    CHECK_FALSE(r->at(0).distance.has_value());
    CHECK_FALSE(*r->at(0).match);
  }
}

TEST_CASE("distance_to a gallery snapshot: the rows of that snapshot, later adds unseen") {
  faceapp::gallery growing;
  faceapp::encoding far;
  far.values.fill(0.5F);
  growing.add(1, "far", far);
  const auto stage = faceapp::distance_to(growing.snapshot(), 0.5);
  static_assert(faceapp::composable<decltype(stage), decltype(faceapp::compare)>);

  faceapp::encoding near;
  near.values.fill(0.1F);
  growing.add(2, "near", near);  // after the stage took its snapshot

  const auto r = stage(two_faces());
  REQUIRE(r.has_value());
  CHECK(r->at(1).name == "far");
  CHECK(*r->at(1).distance == doctest::Approx(faceapp::distance(near, far)).epsilon(1e-5));
  CHECK_FALSE(*r->at(1).match);
  const auto now = faceapp::distance_to(growing.snapshot())(two_faces());
  REQUIRE(now.has_value());
  CHECK(now->at(1).name == "near");

  const auto none = faceapp::distance_to(std::shared_ptr<const faceapp::gallery::view>{})(two_faces());
  REQUIRE(none.has_value());
  CHECK_FALSE(none->at(0).distance.has_value());
  CHECK_FALSE(*none->at(0).match);
}
