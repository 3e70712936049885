// faceapp-web's web layer: who may talk to the server, in one place. Before a request's body is read: the Host
// is ours (DNS rebinding), the key is right (when one is set), a state change comes from our own pages (Origin /
// Sec-Fetch-Site). With the whole request: a form post from a browser carries the session's CSRF token. On every
// answer: the headers that keep a browser from sniffing, framing or leaking (CSP, nosniff, Referrer-Policy).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/server.hpp"

namespace faceapp_web {

/// Who may talk to the server.
struct access_options {
  std::string api_key;                     // empty: no authentication
  std::vector<std::string> allowed_hosts;  // names (or name:port) the Host header may carry, lower-case
};

/// A request refused by the security layer, with why.
struct refusal {
  int status = 0;  // 421 foreign Host, 401 no or wrong key, 403 cross-site state change
  std::string message;
  bool ask_for_password = false;  // a page without the key: the answer asks the browser for it (HTTP Basic)
};

class security {
 public:
  explicit security(access_options access) : access_(std::move(access)) {}

  /// Host, key and origin checks on the head of a request.
  [[nodiscard]] std::optional<refusal> check_head(const http::request& req) const;

  /// A form post from a browser (it sends Origin, Sec-Fetch-Site or Referer, or has our cookie) must carry the
  /// session's token in the field `csrf`, equal to the cookie's. Scripts that send none of these pass, as for
  /// the API.
  [[nodiscard]] static bool csrf_ok(const http::request& req);

  /// The session's CSRF token (its cookie's), or a new one, which `res` then sets as the cookie.
  static std::string session_token(const http::request& req, http::response& res);

  /// The headers of every answer.
  static std::vector<std::pair<std::string, std::string>> default_headers();

  /// "Host" without its port, lower-case; the port separately ("" when none).
  static std::pair<std::string, std::string> split_host(std::string_view host);

  [[nodiscard]] bool host_allowed(std::string_view host) const;
  [[nodiscard]] bool authorized(const http::request& req) const;
  [[nodiscard]] bool same_origin(const http::request& req) const;

  static constexpr const char* csrf_cookie = "faceapp_csrf";

 private:
  access_options access_;
};

}  // namespace faceapp_web
