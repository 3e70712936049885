// faceapp: pipelines as range adaptors over many inputs.
//
//   for (const auto& r : paths | faceapp::views::apply(read | encode)) ...                        // lazy, in order
//   for (const auto& r : paths | faceapp::views::apply_parallel(read | encode, {.threads = 2})) ... // on workers
//
// `apply(pipe)` is range-v3's transform with the pipeline as its function, constrained so that a pipeline that
// cannot take the range's elements does not compile: each result is computed when it is read, on the reading
// thread, so a range of a million paths costs nothing until it is iterated. `apply_parallel(pipe, options)`
// runs the pipeline over the range with run_ordered on `options.threads` workers and gives the results in input
// order as they are done (at most `options.window` inputs in flight); it is a single-pass range, and leaving
// the loop early stops the workers after the inputs they already have. Include this header on its own: the
// umbrella does not, so that programs that do not use range-v3 do not parse it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <thread>
#include <type_traits>
#include <utility>

#include <range/v3/range/concepts.hpp>
#include <range/v3/view/transform.hpp>

#include "faceapp/core/batch.hpp"
#include "faceapp/core/result.hpp"
#include "faceapp/core/stage.hpp"

namespace faceapp::views {

namespace detail {

/// The range's elements convert to what the pipeline takes (run_ordered queues them as its input_type).
template <class R, class Pipeline>
concept inputs_for = std::ranges::input_range<R> && stage<Pipeline> &&
                     std::constructible_from<typename Pipeline::input_type, std::ranges::range_reference_t<R>>;

/// The pipeline can be called on the range's elements (its input_type, or anything else it accepts). Standard
/// and range-v3 ranges alike.
template <class R, class Pipeline>
concept callable_on_elements = ranges::input_range<R> && stage<Pipeline> &&
                               (std::constructible_from<typename Pipeline::input_type, ranges::range_reference_t<R>> ||
                                accepts<Pipeline, ranges::range_reference_t<R>>);

/// What `apply(pipe)` returns: a closure that a range pipes into, constrained on the range's elements.
template <class Pipeline>
struct apply_closure {
  Pipeline pipeline;

  template <class R>
    requires ranges::viewable_range<R> && callable_on_elements<R, Pipeline>
  friend auto operator|(R&& inputs, apply_closure c) {
    return ranges::views::transform(std::forward<R>(inputs), std::move(c.pipeline));
  }
};

/// The results of `pipeline` over `inputs`, computed by run_ordered on a driver thread and handed over in input
/// order through a bounded queue. Single pass; movable; destroying it early stops the workers.
template <class View, class Pipeline>
class parallel_results {
  struct state;

 public:
  using result_type = result<typename Pipeline::output_type>;

  parallel_results(View inputs, Pipeline pipeline, batch_options options)
      : state_(std::make_unique<state>(std::move(inputs), std::move(pipeline), options)) {}

  class iterator {
   public:
    using value_type = result_type;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;

    iterator() = default;
    result_type& operator*() const { return *state_->current; }
    result_type* operator->() const { return &*state_->current; }
    iterator& operator++() {
      state_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return !it.state_->current; }

   private:
    friend class parallel_results;
    explicit iterator(state* s) : state_(s) {}
    state* state_ = nullptr;
  };

  /// Starts the workers; call once.
  iterator begin() {
    state_->start();
    state_->next();
    return iterator(state_.get());
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  struct stop_requested {};

  struct state {
    View inputs;
    Pipeline pipeline;
    batch_options options;
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<result_type> ready;
    std::optional<result_type> current;
    std::exception_ptr failure;
    bool finished = false;
    bool stopping = false;
    std::jthread driver;

    state(View in, Pipeline p, batch_options o) : inputs(std::move(in)), pipeline(std::move(p)), options(o) {}
    ~state() {  // (not copyable or movable: the mutex sees to that)
      stop_driver();
      if (driver.joinable()) driver.join();
    }

    /// Wakes the driver wherever it waits for room, and makes it unwind run_ordered at its next result.
    void stop_driver() {
      const std::lock_guard lock(mutex);
      stopping = true;
      changed.notify_all();
    }

    void start() {
      const std::size_t capacity = options.window != 0 ? options.window : 4 * std::size_t{options.thread_count()};
      driver = std::jthread([this, capacity] {
        const auto hand_over = [&](result_type r) {
          std::unique_lock lock(mutex);
          changed.wait(lock, [&] { return ready.size() < capacity || stopping; });
          if (stopping) throw stop_requested{};  // unwinds run_ordered, which stops and joins its workers
          ready.push_back(std::move(r));
          changed.notify_all();
        };
        try {
          run_ordered_or_here(
              pipeline, inputs, [&](std::size_t, result_type r) { hand_over(std::move(r)); }, options);
        } catch (const stop_requested&) {
        } catch (...) {
          const std::lock_guard lock(mutex);
          failure = std::current_exception();
        }
        const std::lock_guard lock(mutex);
        finished = true;
        changed.notify_all();
      });
    }

    /// The next result into `current`, or nothing at the end. Rethrows what the driver caught (the range's
    /// own exceptions; the pipeline's errors are values).
    void next() {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return !ready.empty() || finished; });
      if (!ready.empty()) {
        current.emplace(std::move(ready.front()));
        ready.pop_front();
        changed.notify_all();
        return;
      }
      current.reset();
      if (failure) std::rethrow_exception(std::exchange(failure, nullptr));
    }
  };

  std::unique_ptr<state> state_;
};

template <class Pipeline>
struct apply_parallel_closure {
  Pipeline pipeline;
  batch_options options;

  template <std::ranges::viewable_range R>
    requires inputs_for<R, Pipeline>
  friend auto operator|(R&& inputs, apply_parallel_closure c) {
    using view = std::views::all_t<R>;
    return parallel_results<view, Pipeline>(std::views::all(std::forward<R>(inputs)), std::move(c.pipeline),
                                            c.options);
  }
};

}  // namespace detail

struct apply_fn {
  /// `range | apply(pipe)`: the results of `pipe` over the range (a std or range-v3 range), lazily (each is
  /// computed when it is read, on the reading thread, as often as it is read), in input order: a range-v3
  /// transform view, so range-v3's adaptors go around it (`paths | views::take(3) | apply(pipe) |
  /// views::filter(...)`). A range whose elements the pipeline does not take does not compile.
  template <stage Pipeline>
  [[nodiscard]] detail::apply_closure<Pipeline> operator()(Pipeline pipeline) const {
    return {std::move(pipeline)};
  }
};

struct apply_parallel_fn {
  /// `range | apply_parallel(pipe, options)`: the results of `pipe` over the range, computed on
  /// `options.threads` workers, in input order.
  template <stage Pipeline>
  [[nodiscard]] detail::apply_parallel_closure<Pipeline> operator()(Pipeline pipeline,
                                                                    batch_options options = {}) const {
    return {std::move(pipeline), options};
  }
};

inline constexpr apply_fn apply{};
inline constexpr apply_parallel_fn apply_parallel{};

}  // namespace faceapp::views
