// The request limits: the one table (flags, units, ranges), docs/web.md's table of them, and the server holding
// each limit it counts exactly at the boundary: at it, just below and just above.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "http/limits.hpp"
#include "http/server.hpp"

namespace http = faceapp_web::http;

TEST_CASE("every limit's flag takes its range's ends and refuses one past them") {
  for (const auto& spec : http::limit_table) {
    CAPTURE(spec.flag);
    http::limits l;
    const auto before = l.*spec.field;
    CHECK(spec.min <= spec.max);
    CHECK(http::set_limit(l, spec, spec.min) == std::nullopt);
    CHECK(l.*spec.field == spec.min << spec.unit_shift);
    CHECK(http::set_limit(l, spec, spec.min + 1) == std::nullopt);
    CHECK(l.*spec.field == (spec.min + 1) << spec.unit_shift);
    CHECK(http::set_limit(l, spec, spec.max) == std::nullopt);
    CHECK(l.*spec.field == spec.max << spec.unit_shift);
    CHECK(http::set_limit(l, spec, spec.max - 1) == std::nullopt);
    const auto kept = l.*spec.field;
    const auto above = http::set_limit(l, spec, spec.max + 1);
    REQUIRE(above.has_value());
    CHECK(above->find(std::string(spec.flag)) != std::string::npos);  // the message names the flag
    CHECK(l.*spec.field == kept);                                     // and nothing changed
    if (spec.min > 0) CHECK(http::set_limit(l, spec, spec.min - 1).has_value());
    CHECK(l.*spec.field == kept);
    // The default lies in the flag's range.
    const http::limits defaults;
    CHECK(http::flag_value(defaults, spec) >= spec.min);
    CHECK(http::flag_value(defaults, spec) <= spec.max);
    CHECK(before == defaults.*spec.field);
  }
}

TEST_CASE("the table has one entry per flag and per field") {
  std::set<std::string_view> flags;
  std::vector<std::size_t http::limits::*> fields;
  for (const auto& spec : http::limit_table) {
    CHECK(flags.insert(spec.flag).second);
    CHECK(std::find(fields.begin(), fields.end(), spec.field) == fields.end());
    fields.push_back(spec.field);
    CHECK(spec.flag.substr(0, 2) == "--");
    CHECK_FALSE(spec.help.empty());
  }
}

TEST_CASE("docs/web.md's table of limits lists every flag with the default the server uses") {
  std::ifstream in(std::string(FACEAPP_SOURCE_DIR) + "/docs/web.md");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  // Rows like "| `--max-body-mb` | 10 | ...": the flag and its default, as the reader sees them.
  const std::regex row(R"(\| `(--[a-z-]+)` \| ([0-9][0-9 ,]*)( s)? \|)");
  std::map<std::string, std::uint64_t> documented;
  const auto s = text.str();
  for (auto it = std::sregex_iterator(s.begin(), s.end(), row); it != std::sregex_iterator(); ++it) {
    std::string digits;
    for (const char c : (*it)[2].str()) {
      if (c >= '0' && c <= '9') digits += c;
    }
    documented[(*it)[1].str()] = std::stoull(digits);
  }
  const http::limits defaults;
  for (const auto& spec : http::limit_table) {
    CAPTURE(spec.flag);
    const auto found = documented.find(std::string(spec.flag));
    REQUIRE(found != documented.end());
    CHECK(found->second == http::flag_value(defaults, spec));
  }
}

namespace {

/// One server on a free loopback port whose handler answers with what it got.
struct test_server {
  std::unique_ptr<http::server> server;

  explicit test_server(http::limits l) {
    l.handler_threads = 2;
    server = std::make_unique<http::server>(
        l, nullptr,
        [](const http::request& req, http::response& res) {
          std::size_t bytes = 0;
          for (const auto& [name, part] : req.form) bytes += part.content.size();
          res.body = std::to_string(req.form.size()) + " fields " + std::to_string(bytes) + " bytes";
        },
        [](const http::request&, int status, const std::string& message) {
          return http::response{status, "text/plain", message, {}};
        },
        std::vector<std::pair<std::string, std::string>>{}, false);
    const auto failed = server->start("127.0.0.1", 0);
    REQUIRE_MESSAGE(!failed, failed.value_or(""));
  }

  /// Sends `request` on a new connection and returns the status of the answer (0: closed without one).
  [[nodiscard]] int status_of(const std::string& request) const {
    const auto answer = answer_to(request);
    if (answer.rfind("HTTP/1.1 ", 0) != 0 || answer.size() < 12) return 0;
    return std::stoi(answer.substr(9, 3));
  }

  /// The answer's head and what came of its body with it.
  [[nodiscard]] std::string answer_to(const std::string& request) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(server->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::size_t done = 0;
    while (done < request.size()) {
      const ssize_t n = ::send(fd, request.data() + done, request.size() - done, MSG_NOSIGNAL);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    std::string answer;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
      answer.append(buf, static_cast<std::size_t>(n));
      if (answer.find("\r\n\r\n") != std::string::npos) break;
    }
    ::close(fd);
    return answer;
  }
};

std::string post(const std::string& body, const std::string& extra_headers = "") {
  return "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/octet-stream\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string chunked(const std::string& body) {
  std::stringstream hex;
  hex << std::hex << body.size();
  return "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + hex.str() +
         "\r\n" + body + "\r\n0\r\n\r\n";
}

/// A GET with exactly `n` header lines (Host and Connection among them).
std::string with_headers(std::size_t n) {
  std::string r = "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (std::size_t i = 2; i < n; ++i) r += "X-H" + std::to_string(i) + ": v\r\n";
  return r + "\r\n";
}

/// A multipart body of `fields` text fields.
std::string form(std::size_t fields) {
  const std::string boundary = "----faceapp-unit";
  std::string body;
  for (std::size_t i = 0; i < fields; ++i) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"f" + std::to_string(i) + "\"\r\n\r\nv\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: multipart/form-data; "
         "boundary=" + boundary + "\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

TEST_CASE("the body limit holds at its boundary, for a length and for chunks") {
  http::limits l;
  l.max_body_bytes = 4096;
  const test_server s(l);
  SUBCASE("Content-Length") {
    CHECK(s.status_of(post(std::string(4095, 'x'))) == 200);
    CHECK(s.status_of(post(std::string(4096, 'x'))) == 200);
    CHECK(s.status_of(post(std::string(4097, 'x'))) == 413);
  }
  SUBCASE("chunked") {
    CHECK(s.status_of(chunked(std::string(4095, 'x'))) == 200);
    CHECK(s.status_of(chunked(std::string(4096, 'x'))) == 200);
    CHECK(s.status_of(chunked(std::string(4097, 'x'))) == 413);
  }
  SUBCASE("a length far over the limit is answered before its body") {
    CHECK(s.status_of("POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 8193\r\n\r\n") == 413);
  }
}

TEST_CASE("the header count holds at its boundary") {
  http::limits l;
  l.max_headers = 8;
  const test_server s(l);
  CHECK(s.status_of(with_headers(7)) == 200);
  CHECK(s.status_of(with_headers(8)) == 200);
  CHECK(s.status_of(with_headers(9)) == 431);
}

TEST_CASE("a form holds at most 32 fields") {
  const test_server s(http::limits{});
  CHECK(s.status_of(form(31)) == 200);
  CHECK(s.status_of(form(32)) == 200);
  CHECK(s.status_of(form(33)) == 400);
}

TEST_CASE("bodies held at once are bounded over all connections") {
  http::limits l;
  l.max_body_bytes = 8192;
  l.max_buffered_bytes = 4096;
  const test_server s(l);
  CHECK(s.status_of(post(std::string(4096, 'x'))) == 200);
  CHECK(s.status_of(post(std::string(4097, 'x'))) == 503);
}

TEST_CASE("a compressed body is refused before it is read") {
  const test_server s(http::limits{});
  CHECK(s.status_of(post("x", "Content-Encoding: gzip\r\n")) == 415);
  CHECK(s.status_of(post("x", "Content-Encoding: identity\r\n")) == 200);
}
