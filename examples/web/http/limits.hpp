// faceapp-web's HTTP layer: the limits every request is held to, whatever its framing, in one table. The server
// (http/server.cpp, http/form.cpp) enforces them, main.cpp makes each a flag (so `--help` lists them with their
// defaults), and docs/web.md's table of limits lists the same flags (web_unit_limits checks that it does).
//
// What answers a limit:
//  - request head (request line + headers) larger than max_header_bytes: libmicrohttpd answers 431 and closes
//    (its per-connection memory pool is that size); more than max_headers header lines: 431;
//  - body larger than max_body_bytes, counted as the bytes arrive, so it holds for Content-Length, chunked and
//    any other framing: 413, and the connection closes. What was kept of the body is freed at once; the rest is
//    read and dropped up to twice the limit in all (so that clients that send before they read see the 413),
//    past that the 413 is written and the connection closed; a Content-Length over twice the limit is answered
//    before any of the body is read;
//  - Content-Encoding other than identity: 415 before the body is read, so a compressed body is never inflated;
//  - the head must arrive within header_timeout, head and body within request_timeout (absolute deadlines, not
//    inactivity timeouts: a client that trickles a byte every few seconds is closed too), and no connection may
//    stay idle longer than idle_timeout;
//  - at most max_connections connections, max_connections_per_ip per client address: more are closed at accept;
//  - at most max_buffered_bytes of request bodies held at once over all connections: more is 503 (so that many
//    connections each sending a body just under the limit cannot exhaust memory together);
//  - at most max_key_failures wrong API keys from one client address in a minute: then 429 for the rest of it
//    (web/security.cpp counts them);
//  - a POST /api/search holds at most max_search_encodings encodings and asks for at most max_search_k matches
//    each: more is 400 (the service checks them: service/search.cpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace faceapp_web::http {

struct limits {
  std::size_t max_body_bytes = 10U << 20;
  std::size_t max_header_bytes = 32U << 10;
  std::size_t max_headers = 100;
  std::size_t max_connections = 256;
  std::size_t max_connections_per_ip = 64;
  std::size_t max_buffered_bytes = 256U << 20;  // request bodies held in memory at once, all connections together
  std::size_t header_timeout_s = 10;
  std::size_t request_timeout_s = 60;
  std::size_t idle_timeout_s = 30;
  std::size_t max_key_failures = 20;  // wrong API keys per client address per minute (the security layer holds it)
  std::size_t max_search_encodings = 100;  // encodings in one POST /api/search (the service holds it)
  std::size_t max_search_k = 100;          // matches asked per encoding, k, in one POST /api/search
  unsigned handler_threads = 16;  // not a limit of a request: how many handle them at once (--http-threads)
};

/// One limit: its flag, the field it sets, the unit the flag counts in (a power of two: 20 for MB, 10 for KB),
/// the range the flag accepts, and its help text.
struct limit_spec {
  std::string_view flag;
  std::size_t limits::*field;
  unsigned unit_shift;
  std::uint64_t min;
  std::uint64_t max;
  std::string_view help;
};

inline constexpr std::array<limit_spec, 12> limit_table{{
    {"--max-body-mb", &limits::max_body_bytes, 20, 1, 1024,
     "Largest request body in MB, however it is framed (larger: 413)"},
    {"--max-header-kb", &limits::max_header_bytes, 10, 4, 1024,
     "Largest request head (request line and headers) in KB (431)"},
    {"--max-headers", &limits::max_headers, 0, 8, 10000, "Most header lines in a request (more: 431)"},
    {"--max-connections", &limits::max_connections, 0, 4, 100000, "Most connections at once (more: closed at accept)"},
    {"--max-connections-per-ip", &limits::max_connections_per_ip, 0, 1, 100000,
     "Most connections at once from one client address"},
    {"--max-buffered-mb", &limits::max_buffered_bytes, 20, 1, 65536,
     "Request bodies held in memory at once, all connections together, in MB (more: 503)"},
    {"--header-timeout", &limits::header_timeout_s, 0, 1, 3600,
     "Seconds a request's head may take to arrive, in all (also the longest idle keep-alive)"},
    {"--request-timeout", &limits::request_timeout_s, 0, 1, 3600,
     "Seconds a request's head and body may take to arrive, in all (later: 408 or closed)"},
    {"--idle-timeout", &limits::idle_timeout_s, 0, 1, 3600,
     "Seconds a connection may go without sending or taking a byte"},
    {"--max-key-failures", &limits::max_key_failures, 0, 1, 100000,
     "Wrong API keys one client address may send in a minute; then every request from it is 429 until the minute "
     "(from its first wrong key) is over"},
    {"--max-search-encodings", &limits::max_search_encodings, 0, 1, 10000,
     "Most encodings one POST /api/search may hold (more: 400)"},
    {"--max-search-k", &limits::max_search_k, 0, 1, 10000,
     "Most matches one POST /api/search may ask for per encoding, its k (more: 400)"},
}};

/// The limit as its flag counts it (MB, KB or itself).
inline std::uint64_t flag_value(const limits& l, const limit_spec& s) { return l.*s.field >> s.unit_shift; }

/// Sets the limit from its flag's value; a value outside the flag's range changes nothing and returns why.
inline std::optional<std::string> set_limit(limits& l, const limit_spec& s, std::uint64_t value) {
  if (value < s.min || value > s.max) {
    return std::string(s.flag) + " must be from " + std::to_string(s.min) + " to " + std::to_string(s.max) +
           ", not " + std::to_string(value);
  }
  l.*s.field = static_cast<std::size_t>(value << s.unit_shift);
  return std::nullopt;
}

}  // namespace faceapp_web::http
