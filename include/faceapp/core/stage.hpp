// faceapp: stages and their composition with `|`.
//
// A stage is a value with an `input_type`, an `output_type` and a const call operator that maps an input to a
// result<output>. `a | b` (a hidden friend, constrained by `composable<A, B>`) builds a pipeline_stage following
// the C++23 range adaptor-closure rules (P2387): `(a | b)(x)` equals `b(a(x))`, `|` is associative, and a
// pipeline is itself a stage, so it composes further and works as the function of `ranges::views::transform`.
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

/// `a | b` is a pipeline: `b` accepts what `a` gives. Generic code asks this instead of trying `a | b`.
template <class A, class B>
concept composable = stage<A> && stage<B> &&
                     accepts<std::remove_cvref_t<B>, typename std::remove_cvref_t<A>::output_type>;

template <stage First, stage Second>
class pipeline_stage;

namespace detail {

template <class R>
inline constexpr bool is_result_of_any = false;
template <class T>
inline constexpr bool is_result_of_any<result<T>> = true;

// +---------------------------------------------------------------------------------------------------------+
// | READ THIS IF YOUR COMPILE BREAKS HERE                                                                   |
// |                                                                                                         |
// | You wrote `a | b` where stage `b` cannot take what stage `a` gives. The compiler names both types in     |
// | `stage_output_does_not_match_next_input<Out, In>`: Out is what the left side gives, In is what the      |
// | right side takes. Put the missing stage in between (e.g. `read | encode | distance_to(ref)`: distance_to |
// | needs encoded_faces, so `encode` must come before it) or swap the two stages.                           |
// | In generic code, ask `faceapp::composable<A, B>` first.                                                 |
// +---------------------------------------------------------------------------------------------------------+
template <class Out, class In>
struct stage_output_does_not_match_next_input;  // never defined: the deleted `|` below returns it by name

/// What the deleted `|` of stages A and B returns: the compiler prints it with both types spelled out.
template <class A, class B>
using mismatched_pipe = stage_output_does_not_match_next_input<typename A::output_type, typename B::input_type>;

/// The base that makes `|` a stage's operator: both overloads are hidden friends, so ordinary lookup never sees
/// them and ADL finds them only for stages (every stage derives from this through stage_base). One non-template
/// class holds them, so a pair of stages finds each overload once.
struct pipeable {
  /// `a | b` when `b` accepts `a`'s output: the pipeline `b(a(x))`.
  template <class A, class B>
    requires composable<std::remove_cvref_t<A>, std::remove_cvref_t<B>>
  friend constexpr pipeline_stage<std::remove_cvref_t<A>, std::remove_cvref_t<B>> operator|(A&& a, B&& b) {
    return {std::forward<A>(a), std::forward<B>(b)};
  }

  /// `a | b` when it does not fit: deleted, so `requires { a | b; }` and composable<A, B> are false, while a
  /// direct use is an error whose text names both types in the return type.
  template <class A, class B>
    requires stage<A> && stage<B> && (!composable<std::remove_cvref_t<A>, std::remove_cvref_t<B>>)
  friend mismatched_pipe<std::remove_cvref_t<A>, std::remove_cvref_t<B>> operator|(A&& a, B&& b) = delete;
};

}  // namespace detail

/// CRTP base of every stage. The derived stage writes `run(const In&) -> result<Out>` (one or more overloads) and
/// names itself in `static constexpr const char* name`. A stage that only adds fields to its input also writes
/// `run(In&&)`, which changes the value it is given and returns it: a pipeline hands every intermediate value to
/// the next stage as an rvalue, so nothing is copied. The base gives it:
///  - the call operator, which catches every exception at the stage boundary (OpenCV's and dlib's among them)
///    and turns it into a stage_error naming the stage and the input;
///  - a call operator on result<In>, which passes an error through, so that `b(a(x))` composes by hand too;
///  - `|` (see detail::pipeable).
template <class Derived>
struct stage_base : detail::pipeable {
  // D defers looking into Derived until a call, when Derived is complete. `in` is a reference to the caller's
  // value even when run() takes it over, so the error path can still name it.
  template <class In, class D = Derived>
    requires(!detail::is_result_of_any<std::remove_cvref_t<In>>) &&
            requires(const D& d, In&& in) { d.run(std::forward<In>(in)); }
  auto operator()(In&& in) const -> decltype(std::declval<const D&>().run(std::forward<In>(in))) {
    try {
      return self().run(std::forward<In>(in));
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
  template <class In, class D = Derived>
    requires requires(const D& d, In&& in) { d.run(std::move(in)); }
  auto operator()(result<In>&& in) const -> decltype(std::declval<const D&>().run(std::move(*in))) {
    if (!in) return unexpected(std::move(in).error());
    return (*this)(std::move(*in));
  }

 private:
  const Derived& self() const noexcept { return static_cast<const Derived&>(*this); }
};

/// Two stages run one after the other. Itself a stage. An rvalue input, and every intermediate value, moves
/// from stage to stage; a const& input is copied only by the first stage that changes it.
template <stage First, stage Second>
class pipeline_stage : public detail::pipeable {
 public:
  using input_type = typename First::input_type;
  using output_type = output_for_t<Second, typename First::output_type>;

  // By reference: a stage may hold an over-aligned value (an encoding), which is not passed well by value.
  template <class F, class S>
    requires std::constructible_from<First, F> && std::constructible_from<Second, S>
  constexpr pipeline_stage(F&& first, S&& second) : first_(std::forward<F>(first)), second_(std::forward<S>(second)) {}

  result<output_type> operator()(const input_type& in) const { return then_second(first_(in)); }
  result<output_type> operator()(input_type&& in) const { return then_second(first_(std::move(in))); }
  // Templates, so that nothing converts implicitly into a result and makes plain calls ambiguous.
  template <class R>
    requires std::same_as<std::remove_cvref_t<R>, result<input_type>>
  result<output_type> operator()(R&& in) const {
    if (!in) return unexpected(std::forward<R>(in).error());
    return (*this)(*std::forward<R>(in));
  }

 private:
  template <class Mid>
  result<output_type> then_second(Mid mid) const {
    if (!mid) return unexpected(std::move(mid).error());
    return second_(std::move(*mid));
  }

  First first_;
  Second second_;
};

}  // namespace faceapp
