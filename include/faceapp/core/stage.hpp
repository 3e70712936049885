// faceapp: stages and their composition with `|`.
//
// A stage is a value with an `input_type`, an `output_type` and a const call operator that maps an input to a
// result<output>. `a | b` builds a pipeline_stage following the C++23 range adaptor-closure rules (P2387):
// `(a | b)(x)` equals `b(a(x))`, `|` is associative, and a pipeline is itself a stage, so it composes further and
// works as the function of `ranges::views::transform`.
#pragma once

#include <concepts>
#include <exception>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "faceapp/core/result.hpp"

namespace faceapp {

/// How an input is named in error messages and records. Types opt in with a `describe(const T&)` found by ADL
/// (sources, images and faces do); anything else is "<input>".
template <class T>
std::string describe(const T&) {
  return "<input>";
}

namespace detail {
template <class T>
std::string describe_input(const T& in) {
  using faceapp::describe;
  return describe(in);
}
}  // namespace detail

/// A stage: named input and output types and a const call operator.
template <class S>
concept stage = requires {
  typename std::remove_cvref_t<S>::input_type;
  typename std::remove_cvref_t<S>::output_type;
};

/// `S` accepts a value of type `In` when it can be called with it and gives a result<...>.
template <class S, class In>
concept accepts = stage<S> && requires(const S& s, const In& in) {
  { s(in) } -> std::convertible_to<result<typename std::invoke_result_t<const S&, const In&>::value_type>>;
};

/// What `S` gives for an input of type `In`, unwrapped from its result.
template <class S, class In>
using output_for_t = typename std::invoke_result_t<const S&, const In&>::value_type;

/// CRTP base of every stage. The derived stage writes `run(const In&) -> result<Out>` (one or more overloads) and
/// names itself in `static constexpr const char* name`. The base gives it:
///  - the call operator, which catches every exception at the stage boundary (OpenCV's and dlib's among them)
///    and turns it into a stage_error naming the stage and the input;
///  - a call operator on result<In>, which passes an error through, so that `b(a(x))` composes by hand too.
template <class Derived>
struct stage_base {
  // D defers looking into Derived until a call, when Derived is complete.
  template <class In, class D = Derived>
    requires requires(const D& d, const In& in) { d.run(in); }
  auto operator()(const In& in) const -> decltype(std::declval<const D&>().run(in)) {
    try {
      return self().run(in);
    } catch (const std::bad_alloc&) {
      return fail(Derived::name, detail::describe_input(in), "out of memory");
    } catch (const std::exception& e) {
      return fail(Derived::name, detail::describe_input(in), e.what());
    } catch (...) {
      return fail(Derived::name, detail::describe_input(in), "unknown exception");
    }
  }

  template <class In, class D = Derived>
    requires requires(const D& d, const In& in) { d.run(in); }
  auto operator()(const result<In>& in) const -> decltype(std::declval<const D&>().run(*in)) {
    if (!in) return unexpected(in.error());
    return (*this)(*in);
  }

 private:
  const Derived& self() const noexcept { return static_cast<const Derived&>(*this); }
};

namespace detail {

// +---------------------------------------------------------------------------------------------------------+
// | READ THIS IF YOUR COMPILE BREAKS HERE                                                                   |
// |                                                                                                         |
// | You wrote `a | b` where stage `b` cannot take what stage `a` gives. The compiler names both types in     |
// | `stage_output_does_not_match_next_input<Out, In>`: Out is what the left side gives, In is what the      |
// | right side takes. Put the missing stage in between (e.g. `read | encode | distance_to(ref)`: distance_to |
// | needs encoded_faces, so `encode` must come before it) or swap the two stages.                           |
// +---------------------------------------------------------------------------------------------------------+
template <class Out, class In>
struct stage_output_does_not_match_next_input;  // never defined: instantiating it names both types

template <class T>
inline constexpr bool always_false = false;

}  // namespace detail

/// Two stages run one after the other. Itself a stage.
template <stage First, stage Second>
class pipeline_stage {
 public:
  using input_type = typename First::input_type;
  using output_type = output_for_t<Second, typename First::output_type>;

  constexpr pipeline_stage(First first, Second second) : first_(std::move(first)), second_(std::move(second)) {}

  result<output_type> operator()(const input_type& in) const {
    auto mid = first_(in);
    if (!mid) return unexpected(std::move(mid).error());
    return second_(*mid);
  }
  // A template, so that nothing converts implicitly into a result and makes plain calls ambiguous.
  template <class R>
    requires std::same_as<R, result<input_type>>
  result<output_type> operator()(const R& in) const {
    if (!in) return unexpected(in.error());
    return (*this)(*in);
  }

  [[nodiscard]] const First& first() const noexcept { return first_; }
  [[nodiscard]] const Second& second() const noexcept { return second_; }

 private:
  First first_;
  Second second_;
};

/// `a | b`: `a`'s output must be accepted by `b`; otherwise the compile error names both types.
template <stage A, stage B>
constexpr auto operator|(A a, B b) {
  using out = typename A::output_type;
  if constexpr (accepts<B, out>) {
    return pipeline_stage<A, B>(std::move(a), std::move(b));
  } else {
    static_assert(detail::always_false<A>,
                  "faceapp: the stage on the right of | does not accept the output of the stage on its left; "
                  "see stage_output_does_not_match_next_input<Out, In> below for both types");
    return detail::stage_output_does_not_match_next_input<out, typename B::input_type>{};
  }
}

}  // namespace faceapp
