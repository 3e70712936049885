// faceapp stage `then(f)`: a plain function as a stage (stdexec's name for the same idea).
//
//   auto keep_largest = [](faceapp::encoded_faces found) { ...; return found; };
//   auto pipe = read | encode | then("largest face", keep_largest) | record(csv);
#pragma once

#include <concepts>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"

namespace faceapp {

namespace detail {

/// The one parameter of a callable that is not generic: a function, a function pointer, or a class with one
/// non-template call operator (a lambda without `auto` parameters).
template <class F>
struct single_parameter {};
template <class R, class A>
struct single_parameter<R (*)(A)> {
  using type = A;
};
template <class R, class A>
struct single_parameter<R (*)(A) noexcept> {
  using type = A;
};
template <class C, class R, class A>
struct single_parameter<R (C::*)(A) const> {
  using type = A;
};
template <class C, class R, class A>
struct single_parameter<R (C::*)(A) const noexcept> {
  using type = A;
};
template <class C, class R, class A>
struct single_parameter<R (C::*)(A)> {
  using type = A;
};
template <class C, class R, class A>
struct single_parameter<R (C::*)(A) noexcept> {
  using type = A;
};
template <class F>
  requires requires { &F::operator(); }
struct single_parameter<F> : single_parameter<decltype(&F::operator())> {};

template <class F>
concept has_single_parameter = requires { typename single_parameter<std::decay_t<F>>::type; };

template <class R>
struct unwrap_result {
  using type = R;
};
template <class T>
struct unwrap_result<result<T>> {
  using type = T;
};

}  // namespace detail

/// `then(f)`, `then("name", f)`: the previous stage's output -> f(output). The stage takes what f's parameter is
/// (its type, without const and &), and gives what f returns: a value, or a result<T> whose error becomes the
/// pipeline's. An exception f throws becomes a stage_error naming the stage ("then", or the name given) and the
/// input, like every stage's. f is called on the pipeline's thread, possibly from several threads at once: it
/// must be safe for that if the pipeline is (a lambda that only reads its captures is). When f takes its
/// parameter by value or by rvalue reference, the value moves in; by const reference it is not copied.
/// Example: `read | encode | then(keep_largest) | record(csv)`.
template <class F, class In>
struct then_stage : stage_base<then_stage<F, In>> {
  using input_type = In;
  using output_type = typename detail::unwrap_result<std::remove_cvref_t<std::invoke_result_t<const F&, In&&>>>::type;
  static constexpr const char* name = "then";

  F f;
  std::string label;  // the name in errors; empty: "then"

  [[nodiscard]] std::string stage_name() const { return label.empty() ? std::string(name) : label; }

  [[nodiscard]] result<output_type> run(const In& in) const {
    if constexpr (std::is_invocable_v<const F&, const In&>) {
      return std::invoke(f, in);
    } else {  // f takes an rvalue: give it a copy
      In copy(in);
      return std::invoke(f, std::move(copy));
    }
  }
  [[nodiscard]] result<output_type> run(In&& in) const { return std::invoke(f, std::move(in)); }
};

struct then_fn : detail::stage_factory_base {
  struct then_is_a_stage_factory_call_it_with_a_function_eg_then_keep_largest;
  using call_it_first = then_is_a_stage_factory_call_it_with_a_function_eg_then_keep_largest;

  template <class F>
  [[nodiscard]] auto operator()(F&& f) const {
    return make(std::string{}, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] auto operator()(std::string name, F&& f) const {
    return make(std::move(name), std::forward<F>(f));
  }

 private:
  template <class F>
  static auto make(std::string name, F&& f) {
    static_assert(detail::has_single_parameter<F>,
                  "faceapp::then(f): f must take exactly one parameter of a named type (a function, or a lambda "
                  "without `auto` parameters), which is what the stage takes");
    using fn = std::decay_t<F>;
    using in = std::remove_cvref_t<typename detail::single_parameter<fn>::type>;
    static_assert(std::is_invocable_v<const fn&, in&&>,
                  "faceapp::then(f): f must be callable as const (a lambda that is not `mutable`)");
    static_assert(!std::is_void_v<std::invoke_result_t<const fn&, in&&>>,
                  "faceapp::then(f): f must return a value or a faceapp::result<T>: the next stage's input");
    return then_stage<fn, in>{{}, std::forward<F>(f), std::move(name)};
  }
};

inline constexpr then_fn then{};

}  // namespace faceapp
