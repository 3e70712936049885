// faceapp: stages and their composition with `|`.
//
// A stage is a value with an `input_type`, an `output_type` and a const call operator that maps an input to a
// result<output>. `input_type` is what the stage takes first; a stage may accept more (encode takes an image or
// faces, record any faces): what it accepts is what its call operator is constrained to, and `accepts<S, In>`
// asks it. `a | b` (a hidden friend, constrained by `composable<A, B>`) builds a pipeline_stage following the
// C++23 range adaptor-closure rules (P2387): `(a | b)(x)` equals `b(a(x))`, and a pipeline is itself a stage, so
// it composes further and works as the function of `ranges::views::transform`. `|` is associative: a pipeline
// accepts whatever its first stage accepts (and the rest of it can take), so `a | (b | c)` is the same pipeline
// as `(a | b) | c`. A stage factory (`resize`, `record`, `distance_to`, `then`) is not a stage until it is
// called: `read | resize | encode` is an error that says so.
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

/// The inputs a stage takes, when it takes more than its input_type: `using input_types = input_list<image,
/// faces>;` (encode), `input_list<encoded_faces, faces>` (record). Composition looks at every one, so that
/// `record(csv) | encode` is a pipeline (of faces) and `|` stays associative.
template <class... T>
struct input_list {};

namespace detail {

template <class S>
struct inputs_of_impl {
  using type = input_list<typename S::input_type>;
};
template <class S>
  requires requires { typename S::input_types; }
struct inputs_of_impl<S> {
  using type = typename S::input_types;
};

/// What S takes: its input_types, or its input_type alone.
template <class S>
using inputs_of = typename inputs_of_impl<std::remove_cvref_t<S>>::type;


/// `pipeline(in)` for a pipeline of First then Second: First accepts In, and Second accepts what First gives.
template <class First, class Second, class In>
concept chain_accepts = accepts<First, In> && accepts<Second, output_for_t<First, In>>;

template <class A, class B, class List>
inline constexpr bool chains_any = false;
template <class A, class B, class... In>
inline constexpr bool chains_any<A, B, input_list<In...>> = (chain_accepts<A, B, In> || ...);

/// The inputs of `List` that the chain of A then B takes, in order.
template <class A, class B, class List>
struct chain_inputs;
template <class A, class B>
struct chain_inputs<A, B, input_list<>> {
  using type = input_list<>;
};
template <class A, class B, class Head, class... Tail>
struct chain_inputs<A, B, input_list<Head, Tail...>> {
  template <class... T>
  static input_list<Head, T...> prepend(input_list<T...>);
  using rest = typename chain_inputs<A, B, input_list<Tail...>>::type;
  using type = std::conditional_t<chain_accepts<A, B, Head>, decltype(prepend(rest{})), rest>;
};

template <class List>
struct first_of;
template <class Head, class... Tail>
struct first_of<input_list<Head, Tail...>> {
  using type = Head;
};

}  // namespace detail

/// `a | b` is a pipeline: `b` accepts what `a` gives for one of the inputs `a` takes. Generic code asks this
/// instead of trying `a | b`.
template <class A, class B>
concept composable = stage<A> && stage<B> &&
                     detail::chains_any<std::remove_cvref_t<A>, std::remove_cvref_t<B>, detail::inputs_of<A>>;

template <stage First, stage Second>
class pipeline_stage;

namespace detail {

template <class R>
inline constexpr bool is_result_of_any = false;
template <class T>
inline constexpr bool is_result_of_any<result<T>> = true;

/// A stage's name in its errors: `stage_name()` when it has one chosen at run time (`then("largest face", f)`),
/// else its `name`.
template <class S>
std::string stage_name_of(const S& s) {
  if constexpr (requires { { s.stage_name() } -> std::convertible_to<std::string>; }) {
    return s.stage_name();
  } else {
    return S::name;
  }
}

/// The base of the stage factories (`resize`, `fit`, `record`, `distance_to`, `then`): objects that make a stage
/// when called with their arguments, and are not stages themselves. Each names, in its `call_it_first` type,
/// how it is called (e.g. `resize_fn::resize_is_a_stage_factory_call_it_with_a_scale_eg_resize_0_5`), which the
/// deleted `|` below puts into the compiler's error.
struct stage_factory_base;

template <class F>
concept bare_factory = std::derived_from<std::remove_cvref_t<F>, stage_factory_base> && !stage<F> &&
                       requires { typename std::remove_cvref_t<F>::call_it_first; };

// +---------------------------------------------------------------------------------------------------------+
// | READ THIS IF YOUR COMPILE BREAKS HERE                                                                   |
// |                                                                                                         |
// | You wrote a stage factory into a pipeline without calling it, e.g. `read | resize | encode`. A factory  |
// | is not a stage: call it with its arguments to make one, e.g. `resize(0.5)`, `fit(1600)`,               |
// | `record(csv)`, `distance_to(known)`, `then(f)`. The compiler names the factory and how to call it in    |
// | `stage_factory_must_be_called_with_its_arguments<..._is_a_stage_factory_call_it_...>`.                  |
// +---------------------------------------------------------------------------------------------------------+
template <class Usage>
struct stage_factory_must_be_called_with_its_arguments;  // never defined: the deleted `|` below returns it by name

template <class F>
using factory_error = stage_factory_must_be_called_with_its_arguments<typename std::remove_cvref_t<F>::call_it_first>;

/// A stage factory on the left of `|` (`resize | encode`, `resize | fit`): deleted, naming the factory.
struct stage_factory_base {
  template <class A, class B>
    requires bare_factory<A> && (stage<B> || bare_factory<B>)
  friend factory_error<A> operator|(A&& a, B&& b) = delete;  // a stage factory, not called: see the box above
};

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

  /// `a | factory` where the factory was not called (`read | resize`): deleted, naming the factory (see the
  /// box at stage_factory_must_be_called_with_its_arguments).
  template <class A, class B>
    requires stage<A> && bare_factory<B>
  friend factory_error<B> operator|(A&& a, B&& b) = delete;  // a stage factory, not called: see stage_factory_base
};


}  // namespace detail

/// CRTP base of every stage. The derived stage writes `run(const In&) -> result<Out>` (one or more overloads) and
/// names itself in `static constexpr const char* name` (or, chosen at run time, `std::string stage_name() const`). A stage that only adds fields to its input also writes
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
      return fail(detail::stage_name_of(self()), detail::describe_input(in), "out of memory");
    } catch (const std::exception& e) {
      return fail(detail::stage_name_of(self()), detail::describe_input(in), e.what());
    } catch (...) {
      return fail(detail::stage_name_of(self()), detail::describe_input(in), "unknown exception");
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
/// from stage to stage; a const& input is copied only by the first stage that changes it. It accepts whatever
/// First accepts and Second can take the result of (`detect | (encode | record(csv))` takes faces), so `|` is
/// associative. Its input_types are those of First's that the chain takes; its input_type is First's when the
/// chain takes it, else the first of those, and output_type is what it gives for input_type.
template <stage First, stage Second>
class pipeline_stage : public detail::pipeable {
 public:
  using input_types = typename detail::chain_inputs<First, Second, detail::inputs_of<First>>::type;
  using input_type = std::conditional_t<detail::chain_accepts<First, Second, typename First::input_type>,
                                        typename First::input_type, typename detail::first_of<input_types>::type>;
  using output_type = output_for_t<Second, output_for_t<First, input_type>>;

  // By reference: a stage may hold an over-aligned value (an encoding), which is not passed well by value.
  template <class F, class S>
    requires std::constructible_from<First, F> && std::constructible_from<Second, S>
  constexpr pipeline_stage(F&& first, S&& second) : first_(std::forward<F>(first)), second_(std::forward<S>(second)) {}

  // Not templates, so that `pipe("photo.jpg")` and `pipe({...})` convert into input_type.
  result<output_type> operator()(const input_type& in) const { return then_second(first_(in)); }
  result<output_type> operator()(input_type&& in) const { return then_second(first_(std::move(in))); }
  /// Any other input that First accepts and whose output Second takes (a pipeline inside a pipeline).
  template <class In>
    requires(!detail::is_result_of_any<std::remove_cvref_t<In>>) &&
            (!std::same_as<std::remove_cvref_t<In>, input_type>) && detail::chain_accepts<First, Second, In>
  auto operator()(In&& in) const -> result<output_for_t<Second, output_for_t<First, In>>> {
    return then_second(first_(std::forward<In>(in)));
  }
  /// A result: its error passes through, its value goes in.
  template <class R>
    requires detail::is_result_of_any<std::remove_cvref_t<R>> &&
             detail::chain_accepts<First, Second, typename std::remove_cvref_t<R>::value_type>
  auto operator()(R&& in) const
      -> result<output_for_t<Second, output_for_t<First, typename std::remove_cvref_t<R>::value_type>>> {
    if (!in) return unexpected(std::forward<R>(in).error());
    return (*this)(*std::forward<R>(in));
  }

 private:
  template <class Mid>
  auto then_second(Mid mid) const -> result<output_for_t<Second, typename Mid::value_type>> {
    if (!mid) return unexpected(std::move(mid).error());
    return second_(std::move(*mid));
  }

  First first_;
  Second second_;
};

}  // namespace faceapp
