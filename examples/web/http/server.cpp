// faceapp-web's HTTP layer: the server (see server.hpp and limits.hpp).
#include "http/server.hpp"

#include <faceapp/detail/csv.hpp>  // utc_timestamp

#include "util.hpp"  // random_hex

namespace faceapp_web::http {

std::optional<std::string> server::start(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0 || found == nullptr) {
    return "cannot resolve " + host + ": " + ::gai_strerror(rc);
  }
  const std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, ::freeaddrinfo);
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_ERROR_LOG;
  if (found->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  daemon_ = MHD_start_daemon(
      flags, static_cast<std::uint16_t>(port), nullptr, nullptr, &server::on_access, this,
      MHD_OPTION_EXTERNAL_LOGGER, &server::on_log, this,  // first, so that it gets every message
      MHD_OPTION_SOCK_ADDR, found->ai_addr,
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(limits_.max_connections),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<unsigned>(limits_.max_connections_per_ip),
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(limits_.idle_timeout_s),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits_.max_header_bytes,
      MHD_OPTION_CONNECTION_MEMORY_INCREMENT, std::min<std::size_t>(4096, limits_.max_header_bytes / 4),
      MHD_OPTION_LISTEN_BACKLOG_SIZE, static_cast<unsigned>(SOMAXCONN),
      MHD_OPTION_NOTIFY_COMPLETED, &server::on_completed, this,
      MHD_OPTION_NOTIFY_CONNECTION, &server::on_connection, this,
      MHD_OPTION_END);
  if (daemon_ == nullptr) return "cannot listen on " + host + ":" + service + " (in use? try --port 0)";
  const auto* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_LISTEN_FD);
  sockaddr_storage bound{};
  socklen_t size = sizeof bound;
  if (info != nullptr && ::getsockname(info->listen_fd, reinterpret_cast<sockaddr*>(&bound), &size) == 0) {
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  reaper_ = std::thread([this] { reap(); });
  return std::nullopt;
}

void server::stop() {
  if (daemon_ == nullptr) return;
  {
    const std::lock_guard lock(reaper_mutex_);
    stopping_ = true;
  }
  reaper_wake_.notify_all();
  if (reaper_.joinable()) reaper_.join();
  closing_.store(true);  // from now on no request is handed to a handler thread
  if (const MHD_socket listening = MHD_quiesce_daemon(daemon_); listening != MHD_INVALID_SOCKET) ::close(listening);
  // Wait for the requests being handled (each takes seconds at most): each resumes its connection, which then
  // sends its answer. libmicrohttpd must not be stopped with a connection still suspended.
  while (in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the last answers go out
  MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
}

void server::on_log(void* cls, const char* format, va_list ap) {
  const auto* self = static_cast<server*>(cls);
  if (!self->access_log_) return;  // under attack these come by the thousand (limits reached): only with --log
  std::fputs("faceapp-web: libmicrohttpd: ", stderr);
  std::vfprintf(stderr, format, ap);
  std::fflush(stderr);
}

void server::on_connection(void* cls, MHD_Connection* c, void** socket_context, MHD_ConnectionNotificationCode code) {
  auto* self = static_cast<server*>(cls);
  try {
    const std::lock_guard lock(self->reaper_mutex_);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      const auto* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
      self->connections_[c] = {info != nullptr ? info->connect_fd : -1, std::chrono::steady_clock::now(),
                               phase::head};
    } else {
      self->connections_.erase(c);  // before libmicrohttpd closes the socket: the reaper never sees a reused fd
    }
  } catch (...) {
  }
  (void)socket_context;
}

void server::set_phase(MHD_Connection* c, phase p, bool restart_clock) {
  const std::lock_guard lock(reaper_mutex_);
  if (const auto it = connections_.find(c); it != connections_.end()) {
    it->second.at = p;
    if (restart_clock) it->second.start = std::chrono::steady_clock::now();
  }
}

void server::on_completed(void* cls, MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode) {
  auto* self = static_cast<server*>(cls);
  if (auto* ex = static_cast<exchange*>(*con_cls); ex != nullptr && ex->pipe) ex->pipe->cancel();
  delete static_cast<exchange*>(*con_cls);
  *con_cls = nullptr;
  try {
    self->set_phase(c, phase::head, true);  // a kept-alive connection waits for its next head from now
  } catch (...) {
  }
}

MHD_Result server::on_access(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                            const char* upload_data, std::size_t* upload_data_size, void** con_cls) {
  auto* self = static_cast<server*>(cls);
  try {
    return self->access(c, url, method, upload_data, upload_data_size, con_cls);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "faceapp-web: internal error in the HTTP layer: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "faceapp-web: internal error in the HTTP layer\n");
  }
  // Last resort: a fixed answer that needs no allocation of ours; if even that fails, close.
  static constexpr char body[] = "{\"error\":\"internal error\"}";
  MHD_Response* r = MHD_create_response_from_buffer(sizeof body - 1, const_cast<char*>(body), MHD_RESPMEM_PERSISTENT);
  if (r == nullptr) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  MHD_add_response_header(r, "Connection", "close");
  const MHD_Result ok = MHD_queue_response(c, 500, r);
  MHD_destroy_response(r);
  if (*upload_data_size != 0) *upload_data_size = 0;
  return ok;
}

MHD_Result server::collect(void* cls, MHD_ValueKind kind, const char* key, const char* value) {
  auto* req = static_cast<request*>(cls);
  if (key == nullptr) return MHD_YES;
  std::string v = value != nullptr ? value : "";
  if (kind == MHD_HEADER_KIND) {
    req->headers.emplace_back(key, std::move(v));
  } else if (kind == MHD_GET_ARGUMENT_KIND) {
    req->query.emplace(key, std::move(v));
  } else if (kind == MHD_COOKIE_KIND) {
    req->cookies.emplace(key, std::move(v));
  }
  return MHD_YES;
}

MHD_Result server::queue(MHD_Connection* c, const exchange& ex, const response& r, bool close) {
  MHD_Response* out =
      ex.pipe ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, &body_pipe::read,
                                                  new std::shared_ptr<body_pipe>(ex.pipe), &body_pipe::free)
              : MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  if (out == nullptr) return MHD_NO;
  for (const auto& header : default_headers_) {  // (not a structured binding: clang 14 cannot capture one)
    const auto& k = header.first;
    const bool replaced =
        std::any_of(r.headers.begin(), r.headers.end(), [&](const auto& h) { return iequals(h.first, k); });
    if (!replaced) MHD_add_response_header(out, k.c_str(), header.second.c_str());
  }
  MHD_add_response_header(out, "Content-Type", r.content_type.c_str());
  for (const auto& [k, v] : r.headers) MHD_add_response_header(out, k.c_str(), v.c_str());
  MHD_add_response_header(out, "X-Request-Id", ex.req.id.c_str());
  if (close) MHD_add_response_header(out, "Connection", "close");
  const MHD_Result ok = MHD_queue_response(c, static_cast<unsigned>(r.status), out);
  MHD_destroy_response(out);
  return ok;
}

void server::answered(const exchange& ex, const response& r) const {
  const auto took = std::chrono::steady_clock::now() - ex.start;
  if (observer_) {
    try {
      observer_(ex.req, r.status, r.body.size(), took, ex.dispatched);
    } catch (...) {  // a count lost is no reason to lose the answer
    }
  }
  if (!access_log_) return;
  const auto& req = ex.req;
  std::string path;
  for (char ch : req.path) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u >= 0x7F) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "%%%02X", u);
      path += hex;
    } else {
      path += ch;
    }
  }
  // time, client, method, path, status, body bytes, seconds since the head began, request id
  const std::string& client = req.client.empty() ? req.remote : req.client;
  std::printf("%s %s %s %s %d %zu %.3f %s\n", faceapp::detail::utc_timestamp().c_str(), client.c_str(),
              req.method.c_str(), path.c_str(), r.status, r.body.size(), std::chrono::duration<double>(took).count(),
              req.id.c_str());
  std::fflush(stdout);
}

MHD_Result server::refuse(MHD_Connection* c, exchange& ex, int status, const std::string& message, bool mid_body) {
  ex.failed = true;
  response r;
  try {
    r = error_(ex.req, status, message);
  } catch (...) {
    r = response{status, "application/json", "{\"error\":\"request refused\"}", {}};
  }
  r.status = status;
  answered(ex, r);
  if (!mid_body) return queue(c, ex, r, true);
  const auto* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (info != nullptr) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\nConnection: close\r\n" +
                      "X-Request-Id: " + ex.req.id + "\r\n";
    for (const auto& [k, v] : default_headers_) out += k + ": " + v + "\r\n";
    out += "Content-Type: " + r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
    out += r.body;
    // Small enough for the socket's send buffer; whatever does not fit is dropped with the connection.
    [[maybe_unused]] const ssize_t sent = ::send(info->connect_fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(info->connect_fd, SHUT_WR);
  }
  return MHD_NO;  // libmicrohttpd closes the connection
}

const char* server::reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

MHD_Result server::access(MHD_Connection* c, const char* url, const char* method, const char* upload_data,
                  std::size_t* upload_data_size, void** con_cls) {
  auto* ex = static_cast<exchange*>(*con_cls);
  if (ex == nullptr) return begin(c, url, method, con_cls);
  if (ex->failed) {  // an answer is queued already: drop whatever else arrives
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (ex->dispatched) {  // resumed: the handler thread has answered
    if (!ex->done.load()) return MHD_YES;
    answered(*ex, ex->answer);
    return queue(c, *ex, ex->answer, false);
  }
  if (*upload_data_size != 0) {
    const std::size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (std::chrono::steady_clock::now() - ex->start > std::chrono::seconds(limits_.request_timeout_s)) {
      return refuse(c, *ex, 408, "the request did not arrive within " + std::to_string(limits_.request_timeout_s) +
                                     " s", true);
    }
    ex->received += n;
    if (ex->refusal != 0) {
      // Read and drop the rest of a refused body, up to twice the limit in all, so that a client that sends its
      // whole body before reading (most do) sees the answer; past that, answer and close at once.
      if (ex->received > 2 * limits_.max_body_bytes) return refuse(c, *ex, ex->refusal, ex->refusal_message, true);
      return MHD_YES;
    }
    ex->body_bytes += n;
    const std::size_t total = buffered_.fetch_add(n) + n;
    if (ex->body_bytes > limits_.max_body_bytes) {
      drop_body(*ex, 413, "the request body is larger than the limit of " + size_text(limits_.max_body_bytes));
    } else if (total > limits_.max_buffered_bytes) {
      drop_body(*ex, 503, "the server is receiving too many uploads at once; try again shortly");
    } else if (ex->post != nullptr && MHD_post_process(ex->post, upload_data, n) != MHD_YES) {
      if (ex->too_many_files) {
        drop_body(*ex, 413, ex->req.too_many_files);
      } else {
        drop_body(*ex, 400, form_problem(*ex));
      }
    } else if (ex->post == nullptr && ex->req.content_type == "application/json") {
      ex->req.body.append(upload_data, n);
    }
    return MHD_YES;
  }
  // The whole request is here.
  if (ex->refusal != 0) return refuse(c, *ex, ex->refusal, ex->refusal_message);
  if (ex->post != nullptr) {
    const MHD_Result clean = MHD_destroy_post_processor(ex->post);
    ex->post = nullptr;
    if (ex->too_many_files) return refuse(c, *ex, 413, ex->req.too_many_files);
    if (clean != MHD_YES || !ex->repeated_field.empty()) return refuse(c, *ex, 400, form_problem(*ex));
    ex->req.form_parsed = true;
  }
  ++in_flight_;  // before the check: stop() sets closing_, then waits for in_flight_ to be 0
  if (closing_.load()) {
    --in_flight_;
    return refuse(c, *ex, 503, "the server is stopping");
  }
  set_phase(c, phase::handling, false);
  ex->dispatched = true;
  MHD_suspend_connection(c);
  handlers_.submit([this, c, ex] { handle(c, *ex); });
  return MHD_YES;
}

MHD_Result server::begin(MHD_Connection* c, const char* url, const char* method, void** con_cls) {
  auto owned = std::make_unique<exchange>();
  auto& ex = *owned;
  ex.buffered = &buffered_;
  *con_cls = owned.release();  // on_completed deletes it
  ex.req.id = random_hex(8);
  ex.req.method = method != nullptr ? method : "";
  ex.req.path = url != nullptr ? url : "";
  if (const auto* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
      info != nullptr && info->client_addr != nullptr) {
    char name[NI_MAXHOST] = {};
    const socklen_t len = info->client_addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (::getnameinfo(info->client_addr, len, name, sizeof name, nullptr, 0, NI_NUMERICHOST) == 0) {
      ex.req.remote = name;
    }
  }
  MHD_get_connection_values(c, MHD_HEADER_KIND, &server::collect, &ex.req);
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, &server::collect, &ex.req);
  MHD_get_connection_values(c, MHD_COOKIE_KIND, &server::collect, &ex.req);
  set_phase(c, phase::body, false);
  {
    const std::lock_guard lock(reaper_mutex_);
    if (const auto it = connections_.find(c); it != connections_.end()) ex.start = it->second.start;
  }

  if (ex.req.headers.size() > limits_.max_headers) {
    return refuse(c, ex, 431, "the request has more than " + std::to_string(limits_.max_headers) + " headers");
  }
  if (ex.req.header_count("Host") > 1 || ex.req.header_count("Content-Length") > 1 ||
      ex.req.header_count("Transfer-Encoding") > 1) {
    return refuse(c, ex, 400, "repeated Host, Content-Length or Transfer-Encoding header");
  }
  if (const auto* te = ex.req.header("Transfer-Encoding"); te != nullptr && !iequals(*te, "chunked")) {
    return refuse(c, ex, 501, "only the chunked transfer encoding is understood");
  }
  if (const auto* ce = ex.req.header("Content-Encoding"); ce != nullptr && !iequals(*ce, "identity")) {
    return refuse(c, ex, 415, "compressed request bodies (Content-Encoding: " + *ce + ") are not accepted");
  }
  if (const auto* cl = ex.req.header("Content-Length")) {
    const auto length = std::strtoull(cl->c_str(), nullptr, 10);
    const std::string too_large = "the request body is larger than the limit of " + size_text(limits_.max_body_bytes);
    // Far over the limit: answer at once, before any of it. Not far: read and drop it first (see access).
    if (length > 2 * limits_.max_body_bytes) return refuse(c, ex, 413, too_large);
    if (length > limits_.max_body_bytes) drop_body(ex, 413, too_large);
  }
  if (const auto* ct = ex.req.header("Content-Type")) {
    ex.req.content_type = ct->substr(0, ct->find(';'));
    while (!ex.req.content_type.empty() && ex.req.content_type.back() == ' ') ex.req.content_type.pop_back();
    for (auto& ch : ex.req.content_type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  if (check_) {
    if (auto refused = check_(ex.req)) {
      ex.failed = true;
      answered(ex, *refused);
      return queue(c, ex, *refused, true);
    }
  }
  if (ex.refusal == 0 && (ex.req.content_type == "multipart/form-data" ||
                          ex.req.content_type == "application/x-www-form-urlencoded")) {
    ex.post = MHD_create_post_processor(c, 16 * 1024, &server::on_form_data, &ex);
    if (ex.post == nullptr && ex.req.content_type == "multipart/form-data") {
      return refuse(c, ex, 400, "multipart/form-data without a boundary");
    }
  }
  return MHD_YES;
}

void server::handle(MHD_Connection* c, exchange& ex) noexcept {
  try {
    handler_(ex.req, ex.answer);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "faceapp-web: internal error on %s: %s\n", ex.req.method.c_str(), e.what());
    try {
      ex.answer = error_(ex.req, 500, "internal error (the server's log has the details)");
      ex.answer.status = 500;
    } catch (...) {
      ex.answer = response{500, "application/json", "{\"error\":\"internal error\"}", {}};
    }
  } catch (...) {
    std::fprintf(stderr, "faceapp-web: internal error on %s\n", ex.req.method.c_str());
    ex.answer = response{500, "application/json", "{\"error\":\"internal error\"}", {}};
  }
  // A streamed answer: its head goes now, its body as this thread writes it (HEAD: the head alone).
  std::function<void(const std::function<void(std::string_view)>&)> writer;
  std::shared_ptr<body_pipe> pipe;
  // At most max_streams() bodies are written at once, so that slow downloads never hold every handler thread.
  bool counted = ex.answer.stream && ex.req.method != "HEAD";
  if (counted && ++streams_ > max_streams()) {
    --streams_;
    counted = false;
    try {
      ex.answer = error_(ex.req, 503, "too many downloads at once (" + std::to_string(max_streams()) +
                                          "); try again shortly");
      ex.answer.status = 503;
      ex.answer.headers.emplace_back("Retry-After", "1");
    } catch (...) {
      ex.answer = response{503, "application/json", "{\"error\":\"too many downloads at once\"}", {}};
    }
  }
  try {
    if (ex.answer.stream) {
      pipe = std::make_shared<body_pipe>(c, closing_);
      if (ex.req.method != "HEAD") writer = std::move(ex.answer.stream);
      ex.pipe = pipe;
    }
  } catch (...) {  // no memory for the pipe: a plain 500 instead
    ex.answer = response{500, "application/json", "{\"error\":\"internal error\"}", {}};
    writer = nullptr;
  }
  ex.done.store(true);
  MHD_resume_connection(c);  // from here on `ex` may be gone at any time: only `pipe` and `writer` are used
  if (pipe) stream(*pipe, writer);
  if (counted) --streams_;
  --in_flight_;
}

void server::stream(body_pipe& pipe, const std::function<void(const std::function<void(std::string_view)>&)>& writer)
    noexcept {
  bool failed = false;
  try {
    if (writer) writer([&pipe](std::string_view piece) { pipe.write(piece); });
  } catch (const client_gone&) {
    failed = true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "faceapp-web: a streamed answer was cut short: %s\n", e.what());
    failed = true;
  } catch (...) {
    failed = true;
  }
  pipe.close(failed);
}

void server::reap() {
  std::unique_lock lock(reaper_mutex_);
  while (!stopping_) {
    reaper_wake_.wait_for(lock, std::chrono::milliseconds(250));
    const auto now = std::chrono::steady_clock::now();
    for (auto& [c, s] : connections_) {
      const auto age = now - s.start;
      const bool late = (s.at == phase::head && age > std::chrono::seconds(limits_.header_timeout_s)) ||
                        (s.at == phase::body && age > std::chrono::seconds(limits_.request_timeout_s));
      if (late && s.fd >= 0) {
        ::shutdown(s.fd, SHUT_RDWR);
        s.fd = -1;  // once is enough
      }
    }
  }
}

std::string server::size_text(std::size_t bytes) {
  if (bytes % (1U << 20) == 0) return std::to_string(bytes >> 20) + " MB";
  if (bytes % (1U << 10) == 0) return std::to_string(bytes >> 10) + " KB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace faceapp_web::http
