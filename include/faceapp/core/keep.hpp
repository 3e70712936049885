// faceapp: how a stage keeps a big argument (a sink, a gallery), by the rule of std::views::all.
//
// std::views::all borrows an lvalue range (ref_view) and owns an rvalue one (owning_view). A stage factory that
// is given something big does the same:
//  - an lvalue is borrowed: `record(csv)` and `distance_to(known)` refer to the caller's object, which must then
//    outlive the stage (as a ref_view's range must outlive the view), and see its later changes;
//  - an rvalue is moved in and owned: `record(csv_sink{"r.csv"})`, `distance_to(std::move(known))`;
//  - `std::ref(x)` / `std::cref(x)` borrow, as an lvalue does, and say so at the call site;
//  - a `shared_ptr` is shared: the object lives as long as its last owner.
// Either way the stage holds a shared_ptr, empty of ownership when it borrows, so a borrowing and an owning
// stage are one type and copy cheaply.
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace faceapp::detail {

/// Borrows an lvalue.
template <class T>
std::shared_ptr<T> keep(T& object) noexcept {
  return std::shared_ptr<T>(std::shared_ptr<T>{}, &object);
}
/// Moves an rvalue in.
template <class T>
  requires(!std::is_lvalue_reference_v<T>) && (!std::is_const_v<T>)
std::shared_ptr<T> keep(T&& object) {
  static_assert(std::is_move_constructible_v<T>,
                "faceapp: this object cannot be moved into the stage; pass it as an lvalue or std::ref to borrow "
                "it, or as a shared_ptr to share it");
  return std::make_shared<T>(std::move(object));
}
/// Borrows what std::ref / std::cref refers to.
template <class T>
std::shared_ptr<T> keep(std::reference_wrapper<T> object) noexcept {
  return std::shared_ptr<T>(std::shared_ptr<T>{}, &object.get());
}
/// Shares.
template <class T>
std::shared_ptr<T> keep(std::shared_ptr<T> object) noexcept {
  return object;
}

}  // namespace faceapp::detail
