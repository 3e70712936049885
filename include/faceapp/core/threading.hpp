// faceapp: whether stages may start threads of their own.
#pragma once

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

}  // namespace faceapp
