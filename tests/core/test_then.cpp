// then(f) on values of the test's own, and result's rvalue overloads: what moves and what is copied.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/core/then.hpp"

namespace {

/// Counts its copies.
struct counted {
  static inline int copies = 0;
  std::vector<int> fields;
  counted() = default;
  counted(const counted& o) : fields(o.fields) { ++copies; }
  counted(counted&&) noexcept = default;
  counted& operator=(const counted& o) {
    fields = o.fields;
    ++copies;
    return *this;
  }
  counted& operator=(counted&&) noexcept = default;
  ~counted() = default;
};

std::string describe(const counted& c) { return "<counted of " + std::to_string(c.fields.size()) + ">"; }

counted add_one(counted c) {
  c.fields.push_back(1);
  return c;
}
int size_of(const counted& c) { return static_cast<int>(c.fields.size()); }

}  // namespace

TEST_CASE("then(f): the stage takes f's parameter type and gives what f returns") {
  const auto add = faceapp::then(add_one);
  const auto size = faceapp::then(size_of);
  static_assert(std::is_same_v<decltype(add)::input_type, counted>);
  static_assert(std::is_same_v<decltype(add)::output_type, counted>);
  static_assert(std::is_same_v<decltype(size)::output_type, int>);
  static_assert(faceapp::composable<decltype(add), decltype(size)>);
  static_assert(!faceapp::composable<decltype(size), decltype(add)>);

  counted::copies = 0;
  const auto r = (add | add | size)(counted{});
  REQUIRE(r.has_value());
  CHECK(*r == 2);
  CHECK(counted::copies == 0);  // by-value parameters: the value moves from stage to stage

  SUBCASE("a kept input is copied once, by the first stage that takes it by value") {
    const counted kept;
    counted::copies = 0;
    CHECK(*(add | add | size)(kept) == 2);
    CHECK(counted::copies == 1);
    CHECK(kept.fields.empty());
  }
  SUBCASE("a const& parameter is never copied") {
    const counted kept;
    counted::copies = 0;
    CHECK(*size(kept) == 0);
    CHECK(counted::copies == 0);
  }
  SUBCASE("an rvalue-reference parameter gets a copy of a kept input, the value itself of an rvalue") {
    const auto take = faceapp::then([](counted&& c) { return static_cast<int>(c.fields.size()) + 10; });
    const counted kept;
    counted::copies = 0;
    CHECK(*take(kept) == 10);
    CHECK(counted::copies == 1);
    CHECK(*take(counted{}) == 10);
    CHECK(counted::copies == 1);
  }
  SUBCASE("a lambda that returns a result passes its error on; a throw becomes an error naming the stage") {
    const auto checked = faceapp::then("check", [](const counted& c) -> faceapp::result<counted> {
      if (c.fields.empty()) return faceapp::fail("check", describe(c), "empty");
      return c;
    });
    static_assert(std::is_same_v<decltype(checked)::output_type, counted>);
    const auto bad = checked(counted{});
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().what() == "check: <counted of 0>: empty");
    const auto throws = faceapp::then("explode", [](const counted&) -> int { throw std::length_error("boom"); });
    const auto thrown = throws(counted{});
    REQUIRE_FALSE(thrown.has_value());
    CHECK(thrown.error().what() == "explode: <counted of 0>: boom");
    CHECK(faceapp::then([](const counted&) -> int { throw 7; })(counted{}).error().what() ==
          "then: <counted of 0>: unknown exception");
  }
}

TEST_CASE("result's rvalue and_then, transform and value_or move the value out") {
  const auto grow = [](counted c) {
    c.fields.push_back(2);
    return c;
  };
  const auto grow_checked = [](counted c) -> faceapp::result<counted> {
    c.fields.push_back(3);
    return c;
  };
  counted::copies = 0;
  faceapp::result<counted> r = counted{};
  auto t = std::move(r).transform(grow);
  auto a = std::move(t).and_then(grow_checked);
  const counted v = std::move(a).value_or(counted{});
  CHECK(v.fields == std::vector<int>{2, 3});
  CHECK(counted::copies == 0);

  faceapp::result<counted> kept = counted{};
  counted::copies = 0;
  CHECK(kept.transform(grow)->fields.size() == 1);
  CHECK(counted::copies == 1);  // an lvalue result keeps its value: f gets a copy
  faceapp::result<counted> bad = faceapp::fail("s", "in", "no");
  CHECK(std::move(bad).and_then(grow_checked).error().message == "no");
}
