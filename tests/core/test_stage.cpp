// The composition rules, on small stages of the test's own: they exercise `|` itself, not the models.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include <range/v3/range/conversion.hpp>
#include <range/v3/view/transform.hpp>

#include "faceapp/core/stage.hpp"

namespace {

struct number {
  int value = 0;
};
std::string describe(const number& n) {
  std::string text = "#";  // not "#" + ...: GCC 12 warns wrongly (-Wrestrict) on that
  text += std::to_string(n.value);
  return text;
}

struct parse_stage : faceapp::stage_base<parse_stage> {
  using input_type = std::string;
  using output_type = number;
  static constexpr const char* name = "parse";
  faceapp::result<number> run(const std::string& s) const { return number{std::stoi(s)}; }  // throws on "x"
};

struct add_stage : faceapp::stage_base<add_stage> {
  using input_type = number;
  using output_type = number;
  static constexpr const char* name = "add";
  int amount = 0;
  faceapp::result<number> run(const number& n) const { return number{n.value + amount}; }
};

struct times_stage : faceapp::stage_base<times_stage> {
  using input_type = number;
  using output_type = number;
  static constexpr const char* name = "times";
  int factor = 1;
  faceapp::result<number> run(const number& n) const {
    if (n.value > 1000) return faceapp::fail(name, describe(n), "too large");
    return number{n.value * factor};
  }
};

struct show_stage : faceapp::stage_base<show_stage> {
  using input_type = number;
  using output_type = std::string;
  static constexpr const char* name = "show";
  faceapp::result<std::string> run(const number& n) const { return std::to_string(n.value); }
};

const parse_stage parse{};
constexpr add_stage add(int a) { return add_stage{{}, a}; }
constexpr times_stage times(int f) { return times_stage{{}, f}; }
const show_stage show{};

}  // namespace

static_assert(faceapp::stage<faceapp::pipeline_stage<parse_stage, add_stage>>);
static_assert(faceapp::accepts<add_stage, number>);
static_assert(!faceapp::accepts<add_stage, std::string>);
static_assert(std::is_same_v<decltype(parse | add(1) | show)::output_type, std::string>);

TEST_CASE("a | b runs a, then b: (a | b)(x) == b(a(x))") {
  const auto p = parse | add(3);
  CHECK(p("4")->value == 7);
  CHECK(add(3)(parse("4"))->value == p("4")->value);
}

TEST_CASE("| is associative") {
  const auto left = (parse | add(1)) | times(10);
  const auto right = parse | (add(1) | times(10));
  for (const char* s : {"0", "5", "-3", "x", "5000"}) {
    const auto a = left(s);
    const auto b = right(s);
    REQUIRE(a.has_value() == b.has_value());
    if (a) {
      CHECK(a->value == b->value);
    } else {
      CHECK(a.error() == b.error());
    }
  }
}

TEST_CASE("the first error short-circuits the rest of the pipeline") {
  const auto p = parse | add(1) | times(2) | add(100);
  const auto r = p("2000");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().stage == "times");
  CHECK(r.error().input == "#2001");
  CHECK(r.error().message == "too large");
}

TEST_CASE("exceptions are caught at the stage boundary and become errors naming stage and input") {
  const auto r = (parse | add(1))("not a number");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().stage == "parse");
  CHECK(r.error().input == "<input>");
  CHECK_FALSE(r.error().message.empty());
}

TEST_CASE("a pipeline is a callable that range-v3 views accept") {
  const std::vector<std::string> inputs{"1", "2", "x", "4"};
  const auto pipe = parse | times(3) | show;
  const auto out = inputs | ranges::views::transform(pipe) | ranges::to<std::vector>();
  REQUIRE(out.size() == 4);
  CHECK(*out[0] == "3");
  CHECK(*out[1] == "6");
  CHECK_FALSE(out[2].has_value());
  CHECK(*out[3] == "12");
}
