// faceapp-web's web layer: the security checks (see security.hpp).
#include "web/security.hpp"

#include <algorithm>
#include <cctype>

#include "util.hpp"
#include "web/route_table.hpp"

namespace faceapp_web {

namespace {

bool well_formed_token(const std::string& t) {
  return t.size() == 64 && t.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

std::optional<std::string> security::key_problem(const std::string& key) {
  if (key.size() >= min_api_key_bytes) return std::nullopt;
  return "the API key is " + std::to_string(key.size()) + " bytes long; it must have at least " +
         std::to_string(min_api_key_bytes) + " (e.g. head -c 32 /dev/urandom | base64)";
}

std::string security::client_of(const http::request& req) const {
  const auto trusted = [&](std::string_view a) {
    return std::find(access_.trusted_proxies.begin(), access_.trusted_proxies.end(), a) !=
           access_.trusted_proxies.end();
  };
  const auto* forwarded = req.header("X-Forwarded-For");
  if (forwarded == nullptr || !trusted(req.remote)) return req.remote;
  // From the right: each trusted proxy appended the address it was reached from; the first other one is the
  // client (what lies left of it is whatever the client chose to send).
  std::string_view rest = *forwarded;
  std::string client = req.remote;
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    auto item = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty() || item.size() > 45 || item.find_first_not_of("0123456789abcdefABCDEF.:") != std::string::npos) {
      break;  // not an address: keep the last trusted hop
    }
    client = std::string(item);
    if (!trusted(item)) break;
  }
  return client;
}

long security::blocked_for(const std::string& client, clock::time_point now) const {
  const std::lock_guard lock(failures_mutex_);
  const auto it = failures_.find(client);
  if (it == failures_.end()) return 0;
  const auto end = it->second.since + key_failure_window;
  if (now >= end) {
    failures_.erase(it);
    return 0;
  }
  if (it->second.count < access_.max_key_failures) return 0;
  return std::max<long>(1, static_cast<long>(std::chrono::ceil<std::chrono::seconds>(end - now).count()));
}

bool security::count_failure(const std::string& client, clock::time_point now) const {
  const std::lock_guard lock(failures_mutex_);
  auto it = failures_.find(client);
  if (it == failures_.end()) {
    if (failures_.size() >= max_tracked_addresses) {
      std::erase_if(failures_, [&](const auto& f) { return now >= f.second.since + key_failure_window; });
      if (failures_.size() >= max_tracked_addresses) return false;
    }
    it = failures_.emplace(client, failures{0, now}).first;
  }
  ++it->second.count;
  return true;
}

std::optional<refusal> security::check_head(http::request& req, clock::time_point now) const {
  req.client = client_of(req);
  if (const auto* host = req.header("Host"); host != nullptr && !host_allowed(*host)) {
    return refusal{421,
                   "this server does not answer for the host name in the request (start it with --allowed-host NAME "
                   "to add a name, e.g. behind a reverse proxy)",
                   false, 0};
  }
  if (!access_.api_key.empty() && !is_probe_path(req.path)) {
    const auto too_many = [&](long wait) {
      return refusal{429, "too many wrong keys from this address: try again in " + std::to_string(wait) + " s", false,
                     wait};
    };
    if (const long wait = blocked_for(req.client, now); wait > 0) return too_many(wait);
    if (!authorized(req)) {
      // Only a key that was sent counts: a browser's first request, which carries none, is not a guess.
      const bool guessed = req.header("X-API-Key") != nullptr || req.header("Authorization") != nullptr;
      if (guessed && !count_failure(req.client, now)) {
        return too_many(static_cast<long>(key_failure_window.count()));
      }
      const bool api = is_api_path(req.path);
      return refusal{401,
                     api ? "missing or wrong API key: send it in the X-API-Key header"
                         : "this server needs its key: give it as the password",
                     !api, 0};
    }
  }
  const bool changes = req.method != "GET" && req.method != "HEAD";
  if (changes && !same_origin(req)) {
    return refusal{403,
                   "cross-site request refused: state-changing requests must come from this server's own pages "
                   "(Origin / Sec-Fetch-Site)",
                   false, 0};
  }
  return std::nullopt;
}

std::pair<std::string, std::string> security::split_host(std::string_view host) {
  std::string h;
  for (char ch : host) h += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!h.empty() && h.front() == '[') {  // [v6]:port
    const auto close = h.find(']');
    if (close == std::string::npos) return {h, ""};
    const auto port = close + 1 < h.size() && h[close + 1] == ':' ? h.substr(close + 2) : std::string();
    return {h.substr(0, close + 1), port};
  }
  const auto colon = h.rfind(':');
  if (colon == std::string::npos || h.find(':') != colon) return {h, ""};
  return {h.substr(0, colon), h.substr(colon + 1)};
}

/// The Host header names this server: one of the allowed names (with or without a port; an entry with a port
/// allows that port only).
bool security::host_allowed(std::string_view host) const {
  const auto [name, port] = split_host(host);
  for (const auto& allowed : access_.allowed_hosts) {
    const auto [a_name, a_port] = split_host(allowed);
    if (a_name == name && (a_port.empty() || a_port == port)) return true;
  }
  return false;
}

/// With a key: X-API-Key, or HTTP Basic with the key as the password (any user name).
bool security::authorized(const http::request& req) const {
  if (const auto* key = req.header("X-API-Key"); key != nullptr && same_secret(*key, access_.api_key)) return true;
  if (const auto* auth = req.header("Authorization");
      auth != nullptr && auth->size() > 6 && http::iequals(std::string_view(*auth).substr(0, 6), "basic ")) {
    std::string_view b64 = std::string_view(*auth).substr(6);
    while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
    if (const auto decoded = base64_decode(b64)) {
      const auto colon = decoded->find(':');
      if (colon != std::string::npos && same_secret(decoded->substr(colon + 1), access_.api_key)) return true;
    }
  }
  return false;
}

/// A state change from a browser must come from our own pages. Requests that carry neither Origin nor
/// Sec-Fetch-Site (curl, scripts) are not a browser's and pass.
bool security::same_origin(const http::request& req) const {
  if (const auto* site = req.header("Sec-Fetch-Site"); site != nullptr && *site != "same-origin" && *site != "none") {
    return false;
  }
  const auto* origin = req.header("Origin");
  if (origin == nullptr) return true;
  std::string_view authority = *origin;
  if (authority.rfind("http://", 0) == 0) {
    authority.remove_prefix(7);
  } else if (authority.rfind("https://", 0) == 0) {
    authority.remove_prefix(8);
  } else {
    return false;  // "null" (sandboxed frames, file: pages) and anything else
  }
  const auto* host = req.header("Host");
  if (host != nullptr && split_host(authority) == split_host(*host)) return true;
  // Behind a reverse proxy the Host may be the proxy's target: the names given with --allowed-host count too.
  const auto [name, port] = split_host(authority);
  for (const auto& allowed : access_.allowed_hosts) {
    const auto [a_name, a_port] = split_host(allowed);
    if (a_name == name && a_port == port) return true;
  }
  return false;
}

bool security::csrf_ok(const http::request& req) {
  const auto cookie = req.cookies.find(csrf_cookie);
  const auto field = req.form.find("csrf");
  const bool browser = req.header("Origin") != nullptr || req.header("Sec-Fetch-Site") != nullptr ||
                       req.header("Referer") != nullptr || cookie != req.cookies.end() || field != req.form.end();
  if (!browser) return true;
  return cookie != req.cookies.end() && field != req.form.end() && well_formed_token(cookie->second) &&
         same_secret(cookie->second, field->second.content);
}

std::string security::session_token(const http::request& req, http::response& res) {
  if (const auto it = req.cookies.find(csrf_cookie); it != req.cookies.end() && well_formed_token(it->second)) {
    return it->second;
  }
  auto token = random_hex(32);
  res.set_header("Set-Cookie", std::string(csrf_cookie) + "=" + token + "; Path=/; SameSite=Strict; HttpOnly");
  return token;
}

std::vector<std::pair<std::string, std::string>> security::thumbnail_headers(const std::string& etag) {
  return {{"Cache-Control", "private, max-age=86400"}, {"ETag", etag}, {"Cross-Origin-Resource-Policy", "same-origin"}};
}

std::vector<std::pair<std::string, std::string>> security::default_headers() {
  // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with the pages' own form
  // posts, which the cross-site check refuses as it must. Other sites still get no Referer.
  // no-store: the answers name people and hold their encodings; an answer that may be kept (a thumbnail) says so
  // itself, and its Cache-Control then replaces this one.
  return {{"Cache-Control", "no-store"},
          {"X-Content-Type-Options", "nosniff"},
          {"Referrer-Policy", "same-origin"},
          {"Content-Security-Policy",
           "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self'; "
           "frame-ancestors 'none'; base-uri 'none'"}};
}

}  // namespace faceapp_web
