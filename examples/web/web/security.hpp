// faceapp-web's web layer: who may talk to the server, in one place. Before a request's body is read: the Host
// is ours (DNS rebinding), the key is right (when one is set) and the address has not sent too many wrong ones,
// a state change comes from our own pages (Origin / Sec-Fetch-Site). With the whole request: a form post from a
// browser carries the session's CSRF token. On every answer: the headers that keep a browser from sniffing,
// framing, caching or leaking (CSP, nosniff, Referrer-Policy, Cache-Control).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/server.hpp"

namespace faceapp_web {

/// Who may talk to the server.
struct access_options {
  std::string api_key;                     // empty: no authentication
  std::vector<std::string> allowed_hosts;  // names (or name:port) the Host header may carry, lower-case
  std::vector<std::string> trusted_proxies;  // numeric addresses whose X-Forwarded-For names the client
  std::size_t max_key_failures = 20;         // wrong keys one client address may send per key_failure_window
};

/// A request refused by the security layer, with why.
struct refusal {
  int status = 0;  // 421 foreign Host, 401 no or wrong key, 429 too many wrong keys, 403 cross-site state change
  std::string message;
  bool ask_for_password = false;  // a page without the key: the answer asks the browser for it (HTTP Basic)
  long retry_after_s = 0;         // 429: when to try again (Retry-After)
};

class security {
 public:
  using clock = std::chrono::steady_clock;

  /// The shortest API key accepted at start, in bytes: a key is a secret to guess, not a password to remember.
  static constexpr std::size_t min_api_key_bytes = 16;
  /// Wrong keys are counted per client address over this window, from the first of them.
  static constexpr std::chrono::seconds key_failure_window{60};
  /// Addresses whose wrong keys are remembered at once; past that a wrong key is refused with 429.
  static constexpr std::size_t max_tracked_addresses = 10000;

  explicit security(access_options access) : access_(std::move(access)) {}

  /// What is wrong with `key` as an API key (too short), or nothing.
  static std::optional<std::string> key_problem(const std::string& key);

  /// Host, key and origin checks on the head of a request. Sets `req.client` (see client_of) first.
  [[nodiscard]] std::optional<refusal> check_head(http::request& req, clock::time_point now = clock::now()) const;

  /// The address of the client: the peer, or, when the peer is a --trusted-proxy, the last address in
  /// X-Forwarded-For that is not one (each proxy appends the address it was reached from).
  [[nodiscard]] std::string client_of(const http::request& req) const;

  /// A form post from a browser (it sends Origin, Sec-Fetch-Site or Referer, or has our cookie) must carry the
  /// session's token in the field `csrf`, equal to the cookie's. Scripts that send none of these pass, as for
  /// the API.
  [[nodiscard]] static bool csrf_ok(const http::request& req);

  /// The session's CSRF token (its cookie's), or a new one, which `res` then sets as the cookie.
  static std::string session_token(const http::request& req, http::response& res);

  /// The headers of every answer.
  static std::vector<std::pair<std::string, std::string>> default_headers();

  /// A thumbnail's: cached by the browser alone, and never embedded by another site (it is someone's face).
  static std::vector<std::pair<std::string, std::string>> thumbnail_headers(const std::string& etag);

  /// "Host" without its port, lower-case; the port separately ("" when none).
  static std::pair<std::string, std::string> split_host(std::string_view host);

  [[nodiscard]] bool host_allowed(std::string_view host) const;
  [[nodiscard]] bool authorized(const http::request& req) const;
  [[nodiscard]] bool same_origin(const http::request& req) const;

  static constexpr const char* csrf_cookie = "faceapp_csrf";

 private:
  /// Counts a wrong key from `client`; false when it can no longer be counted (too many addresses).
  bool count_failure(const std::string& client, clock::time_point now) const;
  /// Seconds until `client` may try a key again, or 0 when it may now.
  long blocked_for(const std::string& client, clock::time_point now) const;

  struct failures {
    std::size_t count = 0;
    clock::time_point since;
  };

  access_options access_;
  mutable std::mutex failures_mutex_;
  mutable std::unordered_map<std::string, failures> failures_;
};

}  // namespace faceapp_web
