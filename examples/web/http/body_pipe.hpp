// faceapp-web's HTTP layer: a body sent while it is made (a streamed answer, see response::stream in server.hpp).
// A handler thread writes it in pieces; libmicrohttpd's polling thread reads them as the client takes them, as a
// chunked body. At most `capacity` bytes wait between the two (one piece more when the queue is empty), so a big
// answer never sits in memory whole; a slow client holds its writer back, a client that goes away stops it.
#pragma once

#include <microhttpd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace faceapp_web::http {

/// Thrown by a stream's write when the client is gone, took nothing for `body_pipe::stall_limit`, or the server
/// stops: the writer just stops.
struct client_gone : std::exception {
  explicit client_gone(const char* why = "the client went away") : why_(why) {}
  [[nodiscard]] const char* what() const noexcept override { return why_; }

 private:
  const char* why_;
};

class body_pipe {
 public:
  static constexpr std::size_t capacity = 1U << 20;
  /// A client that takes nothing of a full pipe for this long loses its answer (cut short), so that a reader that
  /// stalls does not hold its handler thread for ever.
  static constexpr std::chrono::seconds stall_limit{30};

  body_pipe(MHD_Connection* c, const std::atomic<bool>& server_closing) : c_(c), closing_(server_closing) {}

  /// The writer: queues a piece, waiting while the queue is full; throws client_gone when nobody will read it.
  void write(std::string_view piece) {
    if (piece.empty()) return;
    std::unique_lock lock(mutex_);
    auto deadline = std::chrono::steady_clock::now() + stall_limit;
    std::size_t seen = queued_;
    while (!gone_ && queued_ > 0 && queued_ + piece.size() > capacity) {
      if (closing_.load()) throw client_gone();
      room_.wait_for(lock, std::chrono::milliseconds(250));
      if (queued_ < seen) {  // the client took some: a new stall_limit from here
        seen = queued_;
        deadline = std::chrono::steady_clock::now() + stall_limit;
      } else if (std::chrono::steady_clock::now() > deadline) {
        throw client_gone("the client took nothing for 30 s");
      }
    }
    if (gone_ || closing_.load()) throw client_gone();
    queue_.emplace_back(piece);
    queued_ += piece.size();
    wake_reader();
  }

  /// The writer is done: the body ends there (failed: it is cut, so the client sees it incomplete).
  void close(bool failed) {
    const std::lock_guard lock(mutex_);
    closed_ = true;
    failed_ = failed;
    wake_reader();
  }

  /// The connection is over: no more reads, and no resume of it from now on.
  void cancel() {
    const std::lock_guard lock(mutex_);
    gone_ = true;
    room_.notify_all();
  }

  /// libmicrohttpd's content reader (on its polling thread): bytes, end of stream, or, with nothing queued yet,
  /// 0 after suspending the connection until the writer queues more (so the polling thread does not spin).
  static ssize_t read(void* cls, std::uint64_t, char* buf, std::size_t max) {
    auto& p = **static_cast<std::shared_ptr<body_pipe>*>(cls);
    const std::lock_guard lock(p.mutex_);
    if (p.queue_.empty()) {
      if (p.closed_) return p.failed_ ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
      p.suspended_ = true;
      MHD_suspend_connection(p.c_);
      return 0;
    }
    std::size_t n = 0;
    while (n < max && !p.queue_.empty()) {
      auto& front = p.queue_.front();
      const std::size_t take = std::min(max - n, front.size() - p.offset_);
      std::memcpy(buf + n, front.data() + p.offset_, take);
      n += take;
      p.offset_ += take;
      if (p.offset_ == front.size()) {
        p.queued_ -= front.size();
        p.queue_.pop_front();
        p.offset_ = 0;
      }
    }
    p.room_.notify_all();
    return static_cast<ssize_t>(n);
  }

  static void free(void* cls) { delete static_cast<std::shared_ptr<body_pipe>*>(cls); }

 private:
  void wake_reader() {  // under mutex_
    if (suspended_ && !gone_) {
      suspended_ = false;
      MHD_resume_connection(c_);
    }
  }

  MHD_Connection* c_;
  const std::atomic<bool>& closing_;
  std::mutex mutex_;
  std::condition_variable room_;
  std::deque<std::string> queue_;
  std::size_t queued_ = 0;
  std::size_t offset_ = 0;  // of the front piece, already read
  bool suspended_ = false;
  bool closed_ = false;
  bool failed_ = false;
  bool gone_ = false;
};

}  // namespace faceapp_web::http
