// libFuzzer target for faceapp-web's form handling: the HTTP layer (examples/web/http) with
// libmicrohttpd's post processor, fed arbitrary multipart/form-data and urlencoded bodies, chunked or with a
// length, over a real loopback connection to a server started once. Finds crashes, leaks and sanitizer reports
// in our callbacks (body counting, form fields, early refusals, suspend/resume), and checks that every request
// is answered: a form the handler saw, or a 4xx refusal.
//
//   cmake --preset fuzz && cmake --build --preset fuzz --target faceapp_fuzz_multipart
//   build-fuzz/tests/fuzz/faceapp_fuzz_multipart -max_total_time=60 -max_len=4096
//
// Input layout: byte 0 picks the framing and content type, bytes 1..16 the boundary, the rest is the body.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "http/server.hpp"
#include "loopback.hpp"

namespace {

std::unique_ptr<faceapp_web::http::server> the_server;

void start_once() {
  if (the_server) return;
  faceapp_web::http::limits l;
  l.max_body_bytes = 64 << 10;
  l.max_header_bytes = 8 << 10;
  l.max_connections_per_ip = 1000;
  l.handler_threads = 2;
  the_server = std::make_unique<faceapp_web::http::server>(
      l, nullptr,
      [](const faceapp_web::http::request& req, faceapp_web::http::response& res) {
        std::size_t bytes = 0;
        for (const auto& [name, part] : req.form) bytes += name.size() + part.filename.size() + part.content.size();
        res.body = std::to_string(req.form.size()) + " fields, " + std::to_string(bytes) + " bytes";
      },
      [](const faceapp_web::http::request&, int status, const std::string& message) {
        return faceapp_web::http::response{status, "text/plain", message, {}};
      },
      std::vector<std::pair<std::string, std::string>>{}, std::getenv("FUZZ_MULTIPART_LOG") != nullptr);
  if (const auto failed = the_server->start("127.0.0.1", 0)) {
    std::fprintf(stderr, "fuzz_multipart: %s\n", failed->c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  start_once();
  if (size < 17) return 0;
  const std::uint8_t mode = data[0];
  std::string boundary;
  for (std::size_t i = 1; i < 17; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c > ' ' && c < 0x7F && c != '"' && c != ';') boundary += c;
  }
  if (boundary.empty()) boundary = "b";
  const std::string body(reinterpret_cast<const char*>(data) + 17, size - 17);
  const bool chunked = (mode & 1) != 0;
  const bool urlencoded = (mode & 2) != 0;
  std::string request = "POST /form HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  request += urlencoded ? "Content-Type: application/x-www-form-urlencoded\r\n"
                        : "Content-Type: multipart/form-data; boundary=" + boundary + "\r\n";
  if (chunked) {
    request += "Transfer-Encoding: chunked\r\n\r\n";
    // split the body into chunks of sizes taken from the mode byte, so that boundaries straddle chunks
    const std::size_t piece = 1 + (mode >> 2);
    for (std::size_t at = 0; at < body.size(); at += piece) {
      const auto part = body.substr(at, piece);
      char len[32];
      std::snprintf(len, sizeof len, "%zx\r\n", part.size());
      request += len + part + "\r\n";
    }
    request += "0\r\n\r\n";
  } else {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  const int fd = faceapp_fuzz::connect_loopback(the_server->port(), 10);
  if (fd < 0) return 0;
  faceapp_fuzz::send_all(fd, request);
  std::string answer;
  char buf[4096];
  int end_errno = 0;
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;  // libFuzzer's timer signal: not the end of the answer
    if (n < 0) end_errno = errno;
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  // Every request gets an answer: 200 with the fields the handler saw, or a 4xx refusal; never 5xx or nothing.
  if (answer.rfind("HTTP/1.1 ", 0) != 0 || answer[9] == '5') {
    std::fprintf(stderr, "fuzz_multipart: bad answer (%s): %.200s\n",
                 end_errno != 0 ? std::strerror(end_errno) : "closed", answer.c_str());
    std::abort();
  }
  return 0;
}
