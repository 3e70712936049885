// faceapp-web's HTTP layer, on GNU libmicrohttpd. It holds every limit whatever the framing of a request and
// hands complete requests to the routes on a pool of handler threads; the polling thread only moves bytes.
//
// The limits and what answers them: limits.hpp. No Range support: every answer is built whole and sent whole
// (200), whatever Range asks for.
#pragma once

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <atomic>
#include <cctype>
#include <cstdarg>
#include <cstdlib>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/body_pipe.hpp"
#include "http/limits.hpp"
#include "work_pool.hpp"

namespace faceapp_web::http {

/// One part of a form: a text field (no file name) or a file.
struct form_part {
  std::string filename;
  bool has_filename = false;
  std::string content;
  bool started = false;  // some of its bytes have arrived: another part of this name is a repeat
};

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

struct request {
  std::string method;
  std::string path;  // percent-decoded; may hold any bytes
  std::string id;      // this request's id: in the access log and the answer's X-Request-Id
  std::string remote;  // the peer's address
  std::string client;  // the client's address as the security layer decides it (a proxy's X-Forwarded-For)
  std::vector<std::pair<std::string, std::string>> headers;
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> cookies;
  std::map<std::string, form_part> form;
  // A file field that may come many times (the head check names it): its parts, in order, in `files`; more
  // than `max_files` of them is answered 413 with `too_many_files` as the message, as the parts arrive.
  std::string repeated_file_field;
  std::size_t max_files = 0;
  std::string too_many_files;
  std::vector<form_part> files;
  std::string content_type;  // "multipart/form-data", "application/x-www-form-urlencoded" or what was sent
  bool form_parsed = false;  // the body was a form and was parsed into `form`
  std::string body;          // an application/json body as it came (other bodies are parsed as forms or dropped)
  std::any route;            // what the head check decided the request is, for the handler (so it is matched once)

  /// The value of a header (case-insensitive name), or nullptr.
  [[nodiscard]] const std::string* header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (iequals(k, name)) return &v;
    }
    return nullptr;
  }
  [[nodiscard]] std::size_t header_count(std::string_view name) const {
    return static_cast<std::size_t>(
        std::count_if(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); }));
  }
  [[nodiscard]] bool is_multipart() const { return form_parsed && content_type == "multipart/form-data"; }
};

struct response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  /// A body made while it is sent, instead of `body` (http/body_pipe.hpp): after the head is queued, the
  /// handler thread calls it to write the body in pieces, as a chunked answer; never for HEAD, whose answer is the
  /// head alone. A write throws client_gone when the client went away; any exception cuts the body short.
  std::function<void(const std::function<void(std::string_view)>& write)> stream = nullptr;

  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

/// Called when the head of a request has arrived, before any of its body is read: an answer refuses it at once.
/// It may note in `route` what the request is, for the handler.
using head_check = std::function<std::optional<response>(request&)>;
/// Called with the complete request on a handler thread; may block (it waits for the image workers).
using handler = std::function<void(const request&, response&)>;
/// Builds the answer for an error the HTTP layer finds itself (413, 415, 408, 431, 400, 500).
using error_answer = std::function<response(const request&, int status, const std::string& message)>;
/// Told of every answer as it is queued: its status, body bytes, time since the head began, and whether the
/// handler ran (false: refused by the head check or by this layer).
using answer_observer = std::function<void(const request&, int status, std::size_t bytes,
                                           std::chrono::steady_clock::duration took, bool handled)>;

class server {
 public:
  /// `default_headers` go on every answer, but for those the answer sets itself.
  server(limits l, head_check check, handler h, error_answer err, std::vector<std::pair<std::string, std::string>>
                                                                       default_headers,
         bool access_log)
      : limits_(l),
        check_(std::move(check)),
        handler_(std::move(h)),
        error_(std::move(err)),
        default_headers_(std::move(default_headers)),
        access_log_(access_log),
        handlers_(std::max(1U, l.handler_threads)) {}
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server() { stop(); }

  /// Sets what is told of every answer (before start).
  void observe(answer_observer o) { observer_ = std::move(o); }

  /// Listens on `host`:`port` (0: any free port). Returns an error message, or nothing when it listens.
  std::optional<std::string> start(const std::string& host, int port);

  [[nodiscard]] int port() const noexcept { return port_; }

  /// Stops accepting, lets the requests being handled finish and answer, then closes everything.
  void stop();

 private:
  enum class phase { head, body, handling };

  /// What the deadline keeper knows about a connection.
  struct connection_state {
    int fd = -1;
    std::chrono::steady_clock::time_point start;  // of the current request (or of the wait for it)
    phase at = phase::head;
  };

  /// One request, from its head to its answer.
  struct exchange {
    request req;
    MHD_PostProcessor* post = nullptr;
    std::size_t body_bytes = 0;
    bool failed = false;        // an answer was queued early (413, 415, 408, 400): ignore the rest
    int refusal = 0;            // an answer decided while the body was arriving: the rest is read and dropped
    std::string refusal_message;
    std::string repeated_field;  // a form field sent twice: 400
    bool too_many_files = false;  // more parts of req.repeated_file_field than req.max_files: 413
    std::size_t received = 0;   // body bytes read, kept or dropped
    bool dispatched = false;    // handed to a handler thread; the connection is suspended
    std::atomic<bool> done{false};
    response answer;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::atomic<std::size_t>* buffered = nullptr;  // the server's total, which body_bytes is part of
    std::shared_ptr<body_pipe> pipe;  // a streamed answer's body, between its writer and libmicrohttpd

    ~exchange() {
      if (post != nullptr) MHD_destroy_post_processor(post);
      if (buffered != nullptr) buffered->fetch_sub(body_bytes);
    }
  };

  // ---- libmicrohttpd callbacks (C ABI; nothing may throw through them) ----

  static void on_log(void* cls, const char* format, va_list ap);

  static void on_connection(void* cls, MHD_Connection* c, void** socket_context, MHD_ConnectionNotificationCode code);

  void set_phase(MHD_Connection* c, phase p, bool restart_clock);

  static void on_completed(void* cls, MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode);

  static MHD_Result on_access(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                              const char* upload_data, std::size_t* upload_data_size, void** con_cls);

  static MHD_Result collect(void* cls, MHD_ValueKind kind, const char* key, const char* value);

  static MHD_Result on_form_data(void* cls, MHD_ValueKind, const char* key, const char* filename, const char*,
                                 const char*, const char* data, std::uint64_t, std::size_t size);

  MHD_Result queue(MHD_Connection* c, const exchange& ex, const response& r, bool close);

  /// An answer is going out: the observer, and the access log line with --log.
  void answered(const exchange& ex, const response& r) const;

  /// Answers an error found here, in the form the routes use (JSON for the API, a page otherwise), and closes.
  /// libmicrohttpd queues answers only before the body or after all of it; in the middle (a body over the limit,
  /// a late or malformed one) the answer is written to the socket here and the connection is closed at once, so
  /// nothing more of that body is read.
  MHD_Result refuse(MHD_Connection* c, exchange& ex, int status, const std::string& message, bool mid_body = false);

  /// Decides the answer to a request whose body is still arriving, and frees what was kept of that body.
  void drop_body(exchange& ex, int status, std::string message);

  /// Why the form could not be read (a repeated field, malformed data, too many fields).
  static std::string form_problem(const exchange& ex);

  static const char* reason(int status);

  MHD_Result access(MHD_Connection* c, const char* url, const char* method, const char* upload_data,
                    std::size_t* upload_data_size, void** con_cls);

  MHD_Result begin(MHD_Connection* c, const char* url, const char* method, void** con_cls);

  /// On a handler thread: runs the route, then resumes the connection so that the polling thread sends it.
  void handle(MHD_Connection* c, exchange& ex) noexcept;

  /// How many streamed bodies may be written at once: a quarter of the handler threads, at least one (more are 503).
  [[nodiscard]] unsigned max_streams() const noexcept { return std::max(1U, limits_.handler_threads / 4); }
  /// Writes a streamed answer's body into its pipe (on the handler thread), then ends it.
  static void stream(body_pipe& pipe,
                     const std::function<void(const std::function<void(std::string_view)>&)>& writer) noexcept;

  /// Enforces the absolute deadlines: a connection whose head (or whole request) is late is shut down; the
  /// polling thread then sees it closed and cleans it up.
  void reap();

  static std::string size_text(std::size_t bytes);

  static constexpr std::size_t max_form_fields = 32;

  limits limits_;
  head_check check_;
  handler handler_;
  error_answer error_;
  std::vector<std::pair<std::string, std::string>> default_headers_;
  bool access_log_ = false;
  answer_observer observer_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  std::atomic<int> in_flight_{0};
  std::atomic<unsigned> streams_{0};  // streamed bodies being written now
  std::atomic<bool> closing_{false};
  std::atomic<std::size_t> buffered_{0};

  std::mutex reaper_mutex_;
  std::condition_variable reaper_wake_;
  bool stopping_ = false;
  std::unordered_map<MHD_Connection*, connection_state> connections_;
  std::thread reaper_;

  work_pool handlers_;  // last: destroyed (joined) first, while everything it uses still exists
};

}  // namespace faceapp_web::http
