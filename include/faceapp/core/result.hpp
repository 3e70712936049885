// faceapp: errors as values.
//
// result<T> is a small std::expected<T, stage_error> (C++23; GCC 12 has none). Every stage returns one,
// composition short-circuits on the first error, and nothing escapes a pipeline call as an exception.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace faceapp {

/// What kind of failure a stage_error is, for programs that react differently (a web server's status code).
enum class errc {
  failed,       // anything else
  not_found,    // a missing file or model
  unsupported,  // not an image of a supported format
  too_large,    // over a size or pixel limit
  corrupt,      // truncated or undecodable data
  no_space,     // a write found the disk (or a file size limit) full; nothing partial was left
};

/// What went wrong, where and with what: the stage's name, the input (a path or a description such as
/// "<bytes: upload.jpg>"), a message a person can act on, and its kind.
struct stage_error {
  std::string stage;
  std::string input;
  std::string message;
  errc code = errc::failed;

  /// "read: photos/a.jpg: not an image (the first bytes are neither JPEG, PNG, BMP nor WebP)"
  [[nodiscard]] std::string what() const { return stage + ": " + input + ": " + message; }
  friend bool operator==(const stage_error&, const stage_error&) = default;
};

/// Thrown by result<T>::value() on an error, like std::bad_expected_access.
class bad_result_access : public std::runtime_error {
 public:
  explicit bad_result_access(stage_error error) : std::runtime_error(error.what()), error_(std::move(error)) {}
  [[nodiscard]] const stage_error& error() const noexcept { return error_; }

 private:
  stage_error error_;
};

/// Tags an error for result's constructor, like std::unexpected.
class unexpected {
 public:
  explicit unexpected(stage_error error) : error_(std::move(error)) {}
  [[nodiscard]] const stage_error& error() const& noexcept { return error_; }
  [[nodiscard]] stage_error&& error() && noexcept { return std::move(error_); }

 private:
  stage_error error_;
};

/// Shorthand for `unexpected(stage_error{stage, input, message, code})`.
inline unexpected fail(std::string stage, std::string input, std::string message, errc code = errc::failed) {
  return unexpected(stage_error{std::move(stage), std::move(input), std::move(message), code});
}

template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference_v<T> && !std::is_same_v<std::remove_cv_t<T>, stage_error>,
                "result<T> holds a value or a stage_error");

 public:
  using value_type = T;
  using error_type = stage_error;

  template <class U = T>
    requires std::is_constructible_v<T, U&&> && (!std::is_same_v<std::remove_cvref_t<U>, result>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, unexpected>)
  result(U&& value) : state_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT: implicit, like expected
  result(unexpected error) : state_(std::in_place_index<1>, std::move(error).error()) {}  // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { check(); return std::get<0>(state_); }
  const T& value() const& { check(); return std::get<0>(state_); }
  T&& value() && { check(); return std::get<0>(std::move(state_)); }

  /// Precondition: has_value().
  [[nodiscard]] T& operator*() & noexcept { return *std::get_if<0>(&state_); }
  [[nodiscard]] const T& operator*() const& noexcept { return *std::get_if<0>(&state_); }
  [[nodiscard]] T&& operator*() && noexcept { return std::move(*std::get_if<0>(&state_)); }
  [[nodiscard]] T* operator->() noexcept { return std::get_if<0>(&state_); }
  [[nodiscard]] const T* operator->() const noexcept { return std::get_if<0>(&state_); }

  /// Precondition: !has_value().
  [[nodiscard]] const stage_error& error() const& noexcept { return *std::get_if<1>(&state_); }
  [[nodiscard]] stage_error&& error() && noexcept { return std::move(*std::get_if<1>(&state_)); }

  /// The value, or `fallback` on an error. On an rvalue result the value is moved out, not copied.
  template <class U>
  [[nodiscard]] T value_or(U&& fallback) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  [[nodiscard]] T value_or(U&& fallback) && {
    return has_value() ? std::move(**this) : static_cast<T>(std::forward<U>(fallback));
  }

  /// f(T) -> result<U>; an error passes through untouched. On an rvalue result f gets the value as an rvalue.
  template <class F>
  auto and_then(F&& f) const& -> std::invoke_result_t<F, const T&> {
    if (!has_value()) return unexpected(error());
    return std::forward<F>(f)(**this);
  }
  template <class F>
  auto and_then(F&& f) && -> std::invoke_result_t<F, T&&> {
    if (!has_value()) return unexpected(std::move(*this).error());
    return std::forward<F>(f)(std::move(**this));
  }
  /// f(T) -> U, wrapped into result<U>; an error passes through untouched. On an rvalue result f gets the value
  /// as an rvalue.
  template <class F>
  auto transform(F&& f) const& -> result<std::remove_cvref_t<std::invoke_result_t<F, const T&>>> {
    if (!has_value()) return unexpected(error());
    return std::forward<F>(f)(**this);
  }
  template <class F>
  auto transform(F&& f) && -> result<std::remove_cvref_t<std::invoke_result_t<F, T&&>>> {
    if (!has_value()) return unexpected(std::move(*this).error());
    return std::forward<F>(f)(std::move(**this));
  }

 private:
  void check() const {
    if (!has_value()) throw bad_result_access(error());
  }
  std::variant<T, stage_error> state_;
};

/// result<void>: success, or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  using error_type = stage_error;

  result() = default;
  result(unexpected error) : error_(std::move(error).error()), ok_(false) {}  // NOLINT: implicit, like expected

  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const {
    if (!ok_) throw bad_result_access(error_);
  }
  [[nodiscard]] const stage_error& error() const& noexcept { return error_; }

 private:
  stage_error error_;
  bool ok_ = true;
};

}  // namespace faceapp
