// faceapp: run a pipeline over many inputs on several threads.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"
#include "faceapp/core/threading.hpp"

namespace faceapp {

struct batch_options {
  unsigned threads = 0;  // 0: one per core
  std::size_t window = 0;  // inputs in flight at most (0: 4 per thread); bounds memory on endless inputs

  [[nodiscard]] unsigned thread_count() const noexcept {
    return threads != 0 ? threads : std::max(1U, std::thread::hardware_concurrency());
  }
};

/// Runs `pipeline` over `inputs` (any input range, even a single-pass one such as lines of stdin) on
/// `options.threads` workers and calls `on_result(index, result)` on the calling thread in input order, as soon
/// as each result and all before it are done. A bad input gives its error and the others go on. Every worker
/// calls the pipeline itself, so stages use that worker's own detector and network copies.
/// Errors: when a worker thread cannot be started (the system's thread limit), the workers already started are
/// stopped and joined, no input is read, and the error says so.
template <stage Pipeline, std::ranges::input_range Inputs, class OnResult>
result<void> run_ordered(const Pipeline& pipeline, Inputs&& inputs, OnResult&& on_result,
                         batch_options options = {}) {
  using input_type = typename Pipeline::input_type;
  using result_type = result<typename Pipeline::output_type>;
  const unsigned n_threads = options.thread_count();
  const std::size_t window = options.window != 0 ? options.window : 4 * std::size_t{n_threads};

  std::mutex mutex;
  std::condition_variable work_ready;
  std::condition_variable result_ready;
  std::deque<std::pair<std::size_t, input_type>> queue;
  std::map<std::size_t, result_type> done;
  bool closed = false;

  std::vector<std::jthread> workers;
  workers.reserve(n_threads);
  const auto work = [&] {
    set_worker_thread();  // the pool keeps the cores busy: stages start no threads of their own
    for (;;) {
      std::unique_lock lock(mutex);
      work_ready.wait(lock, [&] { return !queue.empty() || closed; });
      if (queue.empty()) return;
      auto [index, input] = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      result_type r = pipeline(std::move(input));
      lock.lock();
      done.emplace(index, std::move(r));
      result_ready.notify_one();
    }
  };
  for (unsigned t = 0; t < n_threads; ++t) {
    try {
      workers.emplace_back(work);
    } catch (const std::system_error& e) {
      {
        const std::lock_guard lock(mutex);
        closed = true;
      }
      work_ready.notify_all();
      workers.clear();  // joins the workers already started: they see `closed` and an empty queue, and return
      return fail("run_ordered", "worker thread " + std::to_string(t + 1) + " of " + std::to_string(n_threads),
                  std::string("cannot start a worker thread: ") + e.what());
    }
  }
  // Whatever happens to the caller's callback, stop and join the workers before the locals they use go away.
  struct stopper {
    std::mutex& mutex;
    bool& closed;
    std::deque<std::pair<std::size_t, input_type>>& queue;
    std::condition_variable& work_ready;
    ~stopper() {
      {
        const std::lock_guard lock(mutex);
        closed = true;
        queue.clear();
      }
      work_ready.notify_all();
    }
  };
  std::vector<std::jthread> joined_last = std::move(workers);  // destroyed (joined) after the stopper ran
  const stopper stop{mutex, closed, queue, work_ready};

  auto it = std::ranges::begin(inputs);
  const auto end = std::ranges::end(inputs);
  std::size_t next_in = 0;
  std::size_t next_out = 0;
  std::unique_lock lock(mutex);
  for (;;) {
    for (auto found = done.find(next_out); found != done.end(); found = done.find(next_out)) {
      result_type r = std::move(found->second);
      done.erase(found);
      lock.unlock();
      on_result(next_out, std::move(r));
      lock.lock();
      ++next_out;
    }
    if (it != end && next_in - next_out < window) {
      lock.unlock();
      input_type input(*it);
      ++it;
      lock.lock();
      queue.emplace_back(next_in++, std::move(input));
      work_ready.notify_one();
      continue;
    }
    if (it == end && next_out == next_in) break;
    result_ready.wait(lock, [&] { return done.contains(next_out); });
  }
  return {};
}

/// run_ordered, or, when no worker thread can be started (the system's thread limit; run_ordered then read no
/// input), the same calls in the same order on the calling thread. The one place that falls back: run_batch and
/// views::apply_parallel use it.
template <stage Pipeline, std::ranges::input_range Inputs, class OnResult>
void run_ordered_or_here(const Pipeline& pipeline, Inputs&& inputs, OnResult&& on_result, batch_options options = {}) {
  if (run_ordered(pipeline, inputs, on_result, options)) return;
  std::size_t index = 0;
  for (auto&& in : inputs) on_result(index++, pipeline(static_cast<typename Pipeline::input_type>(in)));
}

/// Runs `pipeline` over `inputs` on several threads; the results come back in input order. When no worker
/// thread can be started (the system's thread limit), it runs them on the calling thread instead.
/// Example: `auto results = faceapp::run_batch(read | encode, paths, {.threads = 2});`
template <stage Pipeline, std::ranges::input_range Inputs>
std::vector<result<typename Pipeline::output_type>> run_batch(const Pipeline& pipeline, Inputs&& inputs,
                                                              batch_options options = {}) {
  std::vector<result<typename Pipeline::output_type>> results;
  run_ordered_or_here(
      pipeline, inputs,
      [&](std::size_t, result<typename Pipeline::output_type> r) { results.push_back(std::move(r)); }, options);
  return results;
}

}  // namespace faceapp
