// libFuzzer target for faceapp-web's route and security layers on raw request heads: the HTTP layer
// (examples/web/http) with the web layer's head check (web/security.cpp, web/route_table.cpp) over a real
// loopback connection to a server started once, with an API key and an allowed proxy name. Finds crashes, leaks
// and sanitizer reports in header parsing, host splitting, key and Basic decoding, origin and route matching, and
// checks that the head check and the handler agree: a request that reaches the handler passed every check, and
// its route, matched once at the head, is the route its method and path have.
//
//   cmake --preset fuzz && cmake --build --preset fuzz --target faceapp_fuzz_head
//   LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp build-fuzz/tests/fuzz/faceapp_fuzz_head -max_total_time=60 \
//     -dict=tests/fuzz/http_head.dict CORPUS build-fuzz/tests/fuzz/head_seeds
//
// Input: the bytes of a request head; the end of the head is added when it is missing.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>

#include "http/server.hpp"
#include "loopback.hpp"
#include "web/route_table.hpp"
#include "web/security.hpp"

namespace {

namespace http = faceapp_web::http;

std::unique_ptr<faceapp_web::security> the_security;
std::unique_ptr<http::server> the_server;

void start_once() {
  if (the_server) return;
  the_security = std::make_unique<faceapp_web::security>(
      // Wrong keys are never rate-limited here (max_key_failures out of reach), so that every input reaches the
      // checks behind the key; the limit itself has its tests (web_unit_security, web_access).
      faceapp_web::access_options{.api_key = "fuzz-key",
                                  .allowed_hosts = {"127.0.0.1", "localhost", "[::1]", "faces.example.org:8443"},
                                  .trusted_proxies = {},
                                  .max_key_failures = std::numeric_limits<std::size_t>::max()});
  http::limits l;
  l.max_body_bytes = 64 << 10;
  l.max_header_bytes = 8 << 10;
  l.max_connections_per_ip = 1000;
  l.header_timeout_s = 1;  // a head that never completes costs the fuzzer this deadline
  l.request_timeout_s = 1;
  l.handler_threads = 2;
  the_server = std::make_unique<http::server>(
      l,
      [](http::request& req) -> std::optional<http::response> {
        if (auto refused = the_security->check_head(req)) {
          return http::response{refused->status, "text/plain", refused->message, {}};
        }
        auto m = faceapp_web::match_route(req.method, req.path);
        if (m.what == faceapp_web::route::none) return http::response{404, "text/plain", "not found", {}};
        if (m.what == faceapp_web::route::wrong_method) return http::response{405, "text/plain", "method", {}};
        req.route = std::move(m);
        return std::nullopt;
      },
      [](const http::request& req, http::response& res) {
        const auto* m = std::any_cast<faceapp_web::matched>(&req.route);
        const auto again = faceapp_web::match_route(req.method, req.path);
        http::request copy = req;  // check_head notes the client it finds on the request
        if (m == nullptr || the_security->check_head(copy) || m->what != again.what || m->id != again.id) {
          std::fprintf(stderr, "fuzz_head: the handler got a request the head check should have refused\n");
          std::abort();
        }
        (void)faceapp_web::security::csrf_ok(req);
        res.body = "ok";
      },
      [](const http::request&, int status, const std::string& message) {
        return http::response{status, "text/plain", message, {}};
      },
      faceapp_web::security::default_headers(), std::getenv("FUZZ_HEAD_LOG") != nullptr);
  if (const auto failed = the_server->start("127.0.0.1", 0)) {
    std::fprintf(stderr, "fuzz_head: %s\n", failed->c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  start_once();
  std::string head(reinterpret_cast<const char*>(data), size);
  // Blank lines before a request line are skipped by the server, which then waits for the head's deadline
  // (web_attacks holds that deadline): nothing of the route or security layers to test.
  // So does a head with a NUL byte, which libmicrohttpd never hands on.
  if (head.find_first_not_of("\r\n") == std::string::npos || head.find('\0') != std::string::npos) return 0;
  if (head.find("\r\n\r\n") == std::string::npos) head += "\r\n\r\n";

  const int fd = faceapp_fuzz::connect_loopback(the_server->port(), 5);
  if (fd < 0) return 0;
  faceapp_fuzz::send_all(fd, head);
  ::shutdown(fd, SHUT_WR);  // no body follows: a head that announces one ends here
  // The first answer, up to the end of its body (what follows the head may be taken for further requests, which
  // the server waits for until their deadline).
  std::string answer;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;  // libFuzzer's timer signal: not the end of the answer
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
    const auto end = answer.find("\r\n\r\n");
    if (end == std::string::npos) continue;
    const auto length = answer.find("Content-Length: ");
    if (length == std::string::npos || length > end) continue;
    if (answer.size() >= end + 4 + std::strtoull(answer.c_str() + length + 16, nullptr, 10)) break;
  }
  ::close(fd);
  // A head is answered with a status below 500 (or 501 for a transfer encoding other than chunked, 505 for an
  // HTTP version other than 1.x), or closed without an answer (malformed beyond one, or cut short).
  const bool refused_version =
      answer.size() >= 12 && (answer.compare(9, 3, "501") == 0 || answer.compare(9, 3, "505") == 0);
  if (!answer.empty() &&
      (answer.rfind("HTTP/1.", 0) != 0 || answer.size() < 12 || (answer[9] == '5' && !refused_version))) {
    std::fprintf(stderr, "fuzz_head: bad answer: %.200s\n", answer.c_str());
    std::abort();
  }
  return 0;
}
