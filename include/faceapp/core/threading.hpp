// faceapp: whether stages may start threads of their own.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <type_traits>
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

/// Where a stage runs work besides the calling thread: given a job, runs it once, on some thread, whenever it can
/// (a pool's submit: `[&pool](std::function<void()> job) { pool.submit(std::move(job)); }`). Callers never wait
/// for a job that has not started, so an executor may queue jobs behind long ones, run them on the threads of the
/// very pool the caller is on, or drop them.
using part_executor = std::function<void(std::function<void()>)>;

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

/// Calls f(0), ..., f(parts - 1), each once, on the calling thread and in up to parts - 1 jobs given to `executor`:
/// each of them takes the next part no one has taken until none is left, and the call returns when every part is
/// done. The caller never waits for a part no one has begun (it takes those itself), so a pool whose threads are
/// busy, or all inside such calls, delays nothing but the split; a job that starts after the parts are gone
/// returns at once. The first exception a part threw (in part order) is rethrown here; a job the executor
/// refuses with an exception leaves its parts to the others.
template <class F>
void run_parts_on(unsigned parts, F&& f, const part_executor& executor) {
  if (parts <= 1 || !executor) {
    for (unsigned p = 0; p < std::max(parts, 1U); ++p) f(p);
    return;
  }
  struct state {
    std::remove_reference_t<F>* f = nullptr;
    unsigned parts = 0;
    std::atomic<unsigned> next{0};
    std::mutex mutex;
    std::condition_variable all_done;
    unsigned done = 0;
    std::vector<std::exception_ptr> errors;
  };
  auto s = std::make_shared<state>();
  s->f = &f;
  s->parts = parts;
  s->errors.resize(parts);
  // A job holds the state, not the caller's frame: it reads f only for a part it took, and the caller waits
  // for every part taken.
  const auto take_parts = [](state& st) {
    for (unsigned p = st.next.fetch_add(1); p < st.parts; p = st.next.fetch_add(1)) {
      std::exception_ptr error;
      try {
        (*st.f)(p);
      } catch (...) {
        error = std::current_exception();
      }
      {
        const std::lock_guard lock(st.mutex);
        st.errors[p] = error;
        ++st.done;
      }
      st.all_done.notify_all();
    }
  };
  for (unsigned j = 0; j + 1 < parts; ++j) {
    try {
      executor([s, take_parts] { take_parts(*s); });
    } catch (...) {  // (the job's parts are taken by the others)
    }
  }
  take_parts(*s);
  std::unique_lock lock(s->mutex);
  s->all_done.wait(lock, [&] { return s->done == s->parts; });
  for (const auto& e : s->errors) {
    if (e) std::rethrow_exception(e);
  }
}
}  // namespace detail

}  // namespace faceapp
