#include <doctest/doctest.h>

#include <string>

#include "faceapp/core/result.hpp"

using faceapp::result;
using faceapp::stage_error;

TEST_CASE("result holds a value or a stage error, like std::expected") {
  SUBCASE("a value") {
    result<int> r = 42;
    CHECK(r.has_value());
    CHECK(static_cast<bool>(r));
    CHECK(*r == 42);
    CHECK(r.value() == 42);
    CHECK(r.value_or(7) == 42);
  }
  SUBCASE("an error names the stage, the input and the message") {
    result<int> r = faceapp::fail("read", "a.jpg", "no such file");
    CHECK_FALSE(r.has_value());
    CHECK(r.error().stage == "read");
    CHECK(r.error().input == "a.jpg");
    CHECK(r.error().what() == "read: a.jpg: no such file");
    CHECK(r.value_or(7) == 7);
    CHECK_THROWS_WITH_AS(r.value(), "read: a.jpg: no such file", faceapp::bad_result_access);
  }
  SUBCASE("and_then and transform pass errors through untouched") {
    result<int> ok = 2;
    result<int> bad = faceapp::fail("detect", "b.png", "boom");
    const auto twice = [](int v) { return v * 2; };
    const auto half = [](int v) -> result<int> {
      if (v % 2 != 0) return faceapp::fail("half", std::to_string(v), "odd");
      return v / 2;
    };
    CHECK(*ok.transform(twice) == 4);
    CHECK(*ok.and_then(half) == 1);
    CHECK(bad.transform(twice).error() == bad.error());
    CHECK(bad.and_then(half).error() == bad.error());
    CHECK(result<int>(3).and_then(half).error().message == "odd");
  }
  SUBCASE("result<void>") {
    result<void> ok;
    CHECK(ok.has_value());
    result<void> bad = faceapp::fail("record", "r.csv", "cannot open");
    CHECK_FALSE(bad.has_value());
    CHECK_THROWS_AS(bad.value(), faceapp::bad_result_access);
  }
}
