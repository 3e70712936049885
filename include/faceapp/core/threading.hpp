// faceapp: whether stages may start threads of their own.
#pragma once

#include <cstddef>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace faceapp {

namespace detail {
inline bool& worker_thread_flag() noexcept {
  thread_local bool flag = false;
  return flag;
}
}  // namespace detail

/// Marks the calling thread as one of a pool that already keeps the cores busy (run_ordered's and run_batch's
/// workers mark themselves; call it in the workers of your own pool). Stages called on such a thread do their
/// work on it alone: detect, which otherwise scans its pyramid levels on every core, then starts no threads, so
/// that N workers use N cores rather than N times N threads.
inline void set_worker_thread(bool worker = true) noexcept { detail::worker_thread_flag() = worker; }

/// Whether the calling thread was marked by set_worker_thread().
[[nodiscard]] inline bool is_worker_thread() noexcept { return detail::worker_thread_flag(); }

namespace detail {
/// Calls f(0), ..., f(parts - 1): f(parts - 1) on the calling thread, the others on threads of their own, and
/// returns when all are done; the first exception any of them threw is rethrown here. A part whose thread
/// cannot be started (the system's thread limit) runs on the calling thread instead.
template <class F>
void run_parts(unsigned parts, F&& f) {
  if (parts <= 1) {
    f(0U);
    return;
  }
  std::vector<std::exception_ptr> errors(parts);
  std::vector<unsigned> here;
  {
    std::vector<std::jthread> threads;
    threads.reserve(parts - 1);
    for (unsigned p = 0; p + 1 < parts; ++p) {
      try {
        threads.emplace_back([&f, &errors, p] {
          set_worker_thread();
          try {
            f(p);
          } catch (...) {
            errors[p] = std::current_exception();
          }
        });
      } catch (const std::system_error&) {
        here.push_back(p);
      }
    }
    here.push_back(parts - 1);
    for (const unsigned p : here) {
      try {
        f(p);
      } catch (...) {
        errors[p] = std::current_exception();
      }
    }
  }  // joins the threads
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}
}  // namespace detail

}  // namespace faceapp
