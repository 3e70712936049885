// faceapp-web: the workers that decode and encode uploads.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <faceapp/core/threading.hpp>

namespace faceapp_web {

/// A fixed set of threads that run the heavy work (decode, detect, encode), one per core by default. The HTTP
/// threads only parse requests and wait here, so there are many more of them than cores without the memory of
/// as many network copies: the library gives each thread that encodes its own copy of the models, and only
/// these threads encode.
class work_pool {
 public:
  explicit work_pool(unsigned threads) {
    if (threads == 0) threads = 1;
    for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  work_pool(const work_pool&) = delete;
  work_pool& operator=(const work_pool&) = delete;
  ~work_pool() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& t : workers_) t.join();
  }

  [[nodiscard]] unsigned size() const noexcept { return static_cast<unsigned>(workers_.size()); }

  /// Queues `f` and returns its future; `f` runs on a worker.
  template <class F>
  auto submit(F f) -> std::future<std::invoke_result_t<F&>> {
    using R = std::invoke_result_t<F&>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(f));
    auto future = task->get_future();
    {
      const std::lock_guard lock(mutex_);
      jobs_.emplace_back([task] { (*task)(); });
    }
    ready_.notify_one();
    return future;
  }

  /// Queues `job` ahead of the others (no future: nothing waits for it). For the parts of a gallery scan a
  /// query's worker splits off (gallery_options::scan_executor): short, and a person is waiting on them.
  void post_first(std::function<void()> job) {
    {
      const std::lock_guard lock(mutex_);
      jobs_.push_front(std::move(job));
    }
    ready_.notify_one();
  }

 private:
  void work() {
    faceapp::set_worker_thread();  // the pool keeps the cores busy: detect starts no threads of its own
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace faceapp_web
