// The security layer's decisions, as a table of requests: Host, key, Origin / Sec-Fetch-Site, the CSRF token of
// the forms, and the headers of every answer.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "util.hpp"
#include "web/security.hpp"

using faceapp_web::access_options;
using faceapp_web::security;
using faceapp_web::http::request;

namespace {

request make(std::string method, std::string path, std::vector<std::pair<std::string, std::string>> headers) {
  request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.headers = std::move(headers);
  return r;
}

const access_options loopback{"", {"127.0.0.1", "localhost", "[::1]", "faces.example.org:8443"}, {}, 20};
const access_options keyed{"s3cret", {"127.0.0.1"}, {}, 20};

struct row {
  const char* what;
  const access_options* access;
  request req;
  int status;  // 0: passes
};

}  // namespace

TEST_CASE("the head of a request passes or is refused with the status docs/web.md gives") {
  const std::string basic_ok = "Basic " + faceapp_web::base64_encode("anyone:s3cret");
  const std::string basic_wrong = "Basic " + faceapp_web::base64_encode("anyone:guess");
  const row table[] = {
      {"own host", &loopback, make("GET", "/", {{"Host", "127.0.0.1:8080"}}), 0},
      {"own host, upper case", &loopback, make("GET", "/", {{"Host", "LOCALHOST"}}), 0},
      {"IPv6 loopback with a port", &loopback, make("GET", "/", {{"Host", "[::1]:8080"}}), 0},
      {"no Host (HTTP/1.0)", &loopback, make("GET", "/", {}), 0},
      {"foreign host (DNS rebinding)", &loopback, make("GET", "/", {{"Host", "evil.example"}}), 421},
      {"foreign host that ends like ours", &loopback, make("GET", "/", {{"Host", "x127.0.0.1"}}), 421},
      {"allowed name on its port", &loopback, make("GET", "/", {{"Host", "faces.example.org:8443"}}), 0},
      {"allowed name on another port", &loopback, make("GET", "/", {{"Host", "faces.example.org:8080"}}), 421},
      {"allowed name without a port", &loopback, make("GET", "/", {{"Host", "faces.example.org"}}), 421},
      {"post from our own page", &loopback,
       make("POST", "/faces", {{"Host", "127.0.0.1:8080"}, {"Origin", "http://127.0.0.1:8080"}}), 0},
      {"post from another site", &loopback,
       make("POST", "/faces", {{"Host", "127.0.0.1:8080"}, {"Origin", "http://evil.example"}}), 403},
      {"post from our host on another port", &loopback,
       make("POST", "/api/faces", {{"Host", "127.0.0.1:8080"}, {"Origin", "http://127.0.0.1:9090"}}), 403},
      {"post with Origin null", &loopback, make("POST", "/faces", {{"Host", "127.0.0.1"}, {"Origin", "null"}}), 403},
      {"post through the proxy's public name", &loopback,
       make("POST", "/faces", {{"Host", "127.0.0.1:8080"}, {"Origin", "https://faces.example.org:8443"}}), 0},
      {"cross-site fetch", &loopback,
       make("DELETE", "/api/faces/1", {{"Host", "127.0.0.1"}, {"Sec-Fetch-Site", "cross-site"}}), 403},
      {"same-site is not same-origin", &loopback,
       make("POST", "/api/faces", {{"Host", "127.0.0.1"}, {"Sec-Fetch-Site", "same-site"}}), 403},
      {"typed into the address bar", &loopback,
       make("POST", "/api/faces", {{"Host", "127.0.0.1"}, {"Sec-Fetch-Site", "none"}}), 0},
      {"a script (no Origin, no Sec-Fetch-Site)", &loopback, make("DELETE", "/api/faces/1", {{"Host", "127.0.0.1"}}),
       0},
      {"a cross-site GET is only a read", &loopback,
       make("GET", "/api/faces", {{"Host", "127.0.0.1"}, {"Sec-Fetch-Site", "cross-site"}}), 0},
      {"key in X-API-Key", &keyed, make("GET", "/api/faces", {{"Host", "127.0.0.1"}, {"X-API-Key", "s3cret"}}), 0},
      {"no key", &keyed, make("GET", "/api/faces", {{"Host", "127.0.0.1"}}), 401},
      {"wrong key", &keyed, make("GET", "/api/faces", {{"Host", "127.0.0.1"}, {"X-API-Key", "s3cre"}}), 401},
      {"key with a byte more", &keyed, make("GET", "/api/faces", {{"Host", "127.0.0.1"}, {"X-API-Key", "s3cret!"}}),
       401},
      {"key as the Basic password", &keyed, make("GET", "/", {{"Host", "127.0.0.1"}, {"Authorization", basic_ok}}), 0},
      {"wrong Basic password", &keyed, make("GET", "/", {{"Host", "127.0.0.1"}, {"Authorization", basic_wrong}}),
       401},
      {"Basic that is not base64", &keyed, make("GET", "/", {{"Host", "127.0.0.1"}, {"Authorization", "Basic ***"}}),
       401},
      {"foreign host goes before the key", &keyed, make("GET", "/api/faces", {{"Host", "evil.example"}}), 421},
      {"the key goes before the origin", &keyed,
       make("POST", "/api/faces", {{"Host", "127.0.0.1"}, {"Origin", "http://evil.example"}}), 401},
      {"a keyed cross-site post", &keyed,
       make("POST", "/api/faces", {{"Host", "127.0.0.1"}, {"X-API-Key", "s3cret"}, {"Origin", "http://evil.example"}}),
       403},
  };
  for (const auto& r : table) {
    CAPTURE(r.what);
    const security s(*r.access);
    auto req = r.req;
    const auto refused = s.check_head(req);
    CHECK((refused ? refused->status : 0) == r.status);
    if (refused) CHECK_FALSE(refused->message.empty());
  }
}

TEST_CASE("a page without the key asks the browser for it; the API does not") {
  const security s(keyed);
  auto page_req = make("GET", "/", {{"Host", "127.0.0.1"}});
  auto api_req = make("GET", "/api/faces", {{"Host", "127.0.0.1"}});
  const auto page = s.check_head(page_req);
  const auto api = s.check_head(api_req);
  REQUIRE(page);
  REQUIRE(api);
  CHECK(page->ask_for_password);
  CHECK_FALSE(api->ask_for_password);
}

TEST_CASE("a form post from a browser needs the session's token; a script's does not") {
  const std::string token(64, 'a');
  const auto form = [](request r, std::string cookie, std::string field) {
    if (!cookie.empty()) r.cookies[security::csrf_cookie] = std::move(cookie);
    if (!field.empty()) r.form["csrf"].content = std::move(field);
    return r;
  };
  const request browser = make("POST", "/faces", {{"Origin", "http://127.0.0.1"}});
  const request script = make("POST", "/faces", {});
  struct {
    const char* what;
    request req;
    bool ok;
  } const table[] = {
      {"token in cookie and field", form(browser, token, token), true},
      {"no field", form(browser, token, ""), false},
      {"no cookie", form(browser, "", token), false},
      {"field differs", form(browser, token, std::string(63, 'a') + "b"), false},
      {"a token of 63 digits", form(browser, token.substr(1), token.substr(1)), false},
      {"a token of 65 digits", form(browser, token + "a", token + "a"), false},
      {"upper-case hex is not ours", form(browser, std::string(64, 'A'), std::string(64, 'A')), false},
      {"a script without any of it", script, true},
      {"a script that has the cookie is a browser", form(script, token, ""), false},
      {"a Referer makes it a browser", make("POST", "/faces", {{"Referer", "http://127.0.0.1/"}}), false},
  };
  for (const auto& r : table) {
    CAPTURE(r.what);
    CHECK(security::csrf_ok(r.req) == r.ok);
  }
}

TEST_CASE("a session keeps its token, and a new one gets 64 hex digits in a strict cookie") {
  faceapp_web::http::response res;
  const auto fresh = security::session_token(make("GET", "/", {}), res);
  CHECK(fresh.size() == 64);
  CHECK(fresh.find_first_not_of("0123456789abcdef") == std::string::npos);
  REQUIRE(res.headers.size() == 1);
  CHECK(res.headers[0].first == "Set-Cookie");
  CHECK(res.headers[0].second.find("SameSite=Strict") != std::string::npos);
  CHECK(res.headers[0].second.find("HttpOnly") != std::string::npos);

  request again = make("GET", "/", {});
  again.cookies[security::csrf_cookie] = fresh;
  faceapp_web::http::response res2;
  CHECK(security::session_token(again, res2) == fresh);
  CHECK(res2.headers.empty());
  CHECK(security::session_token(make("GET", "/", {}), res2) != fresh);  // random: another session, another token
}

TEST_CASE("every answer forbids sniffing, framing and foreign scripts") {
  const auto headers = security::default_headers();
  const auto value = [&](const std::string& name) {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return std::string();
  };
  CHECK(value("X-Content-Type-Options") == "nosniff");
  CHECK(value("Cache-Control") == "no-store");  // the answers name people: no cache keeps them
  CHECK(value("Referrer-Policy") == "same-origin");
  const auto csp = value("Content-Security-Policy");
  CHECK(csp.find("default-src 'none'") != std::string::npos);
  CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
  CHECK(csp.find("script-src") == std::string::npos);  // no script is allowed from anywhere
}

TEST_CASE("host names split into name and port") {
  CHECK(security::split_host("Example.ORG:8080") == std::pair<std::string, std::string>{"example.org", "8080"});
  CHECK(security::split_host("[::1]:80") == std::pair<std::string, std::string>{"[::1]", "80"});
  CHECK(security::split_host("[::1]") == std::pair<std::string, std::string>{"[::1]", ""});
  CHECK(security::split_host("::1") == std::pair<std::string, std::string>{"::1", ""});  // bare v6: no port
  CHECK(security::split_host("host") == std::pair<std::string, std::string>{"host", ""});
}

TEST_CASE("an API key shorter than 16 bytes is refused at start, one of 16 is taken") {
  CHECK(security::key_problem(std::string(15, 'k')).has_value());
  CHECK(security::key_problem("abcd")->find("4 bytes") != std::string::npos);
  CHECK_FALSE(security::key_problem(std::string(16, 'k')).has_value());
  CHECK_FALSE(security::key_problem(std::string(17, 'k')).has_value());
}

namespace {

request from(const std::string& peer, const std::string& key,
             std::vector<std::pair<std::string, std::string>> more = {}) {
  auto r = make("GET", "/api/faces", {{"Host", "127.0.0.1"}});
  if (!key.empty()) r.headers.emplace_back("X-API-Key", key);
  for (auto& h : more) r.headers.push_back(std::move(h));
  r.remote = peer;
  return r;
}

int status_of(const security& s, request r, security::clock::time_point now) {
  const auto refused = s.check_head(r, now);
  return refused ? refused->status : 0;
}

}  // namespace

TEST_CASE("wrong keys are counted per client address: the limit-th is still 401, the next request 429") {
  const security s(access_options{"s3cret-s3cret-s3", {"127.0.0.1"}, {"10.0.0.1"}, 3});
  const auto t0 = security::clock::now();
  CHECK(status_of(s, from("192.0.2.7", "wrong"), t0) == 401);
  CHECK(status_of(s, from("192.0.2.7", ""), t0) == 401);  // no key sent: not a guess, not counted
  CHECK(status_of(s, from("192.0.2.7", "wrong"), t0) == 401);
  CHECK(status_of(s, from("192.0.2.7", "s3cret-s3cret-s3"), t0) == 0);  // two wrong: the right key passes
  CHECK(status_of(s, from("192.0.2.7", "wrong"), t0) == 401);           // the third (the limit): still 401
  SUBCASE("past the limit every request from the address is 429, the right key too, with Retry-After") {
    auto r = from("192.0.2.7", "wrong");
    const auto refused = s.check_head(r, t0 + std::chrono::seconds(1));
    REQUIRE(refused);
    CHECK(refused->status == 429);
    CHECK(refused->retry_after_s == 59);
    CHECK(status_of(s, from("192.0.2.7", "s3cret-s3cret-s3"), t0) == 429);
  }
  SUBCASE("another address is not held back") {
    CHECK(status_of(s, from("192.0.2.8", "wrong"), t0) == 401);
    CHECK(status_of(s, from("192.0.2.8", "s3cret-s3cret-s3"), t0) == 0);
  }
  SUBCASE("a minute after its first wrong key the address starts afresh") {
    CHECK(status_of(s, from("192.0.2.7", "s3cret-s3cret-s3"), t0 + security::key_failure_window -
                                                                  std::chrono::milliseconds(1)) == 429);
    CHECK(status_of(s, from("192.0.2.7", "wrong"), t0 + security::key_failure_window) == 401);
    CHECK(status_of(s, from("192.0.2.7", "s3cret-s3cret-s3"), t0 + security::key_failure_window) == 0);
  }
  SUBCASE("behind a trusted proxy the client is the address it forwards, not the proxy") {
    CHECK(status_of(s, from("10.0.0.1", "s3cret-s3cret-s3", {{"X-Forwarded-For", "192.0.2.99"}}), t0) == 0);
    CHECK(status_of(s, from("10.0.0.1", "s3cret-s3cret-s3", {{"X-Forwarded-For", "192.0.2.7"}}), t0) == 429);
  }
}

TEST_CASE("X-Forwarded-For names the client only when a trusted proxy sent it") {
  const security s(access_options{"", {"127.0.0.1"}, {"10.0.0.1", "10.0.0.2"}, 20});
  CHECK(s.client_of(from("192.0.2.1", "", {{"X-Forwarded-For", "198.51.100.1"}})) == "192.0.2.1");  // untrusted peer
  CHECK(s.client_of(from("10.0.0.1", "")) == "10.0.0.1");  // a proxy without the header
  CHECK(s.client_of(from("10.0.0.1", "", {{"X-Forwarded-For", "198.51.100.1"}})) == "198.51.100.1");
  // The client may send its own header: what the proxies appended, from the right, decides.
  CHECK(s.client_of(from("10.0.0.1", "", {{"X-Forwarded-For", "6.6.6.6, 198.51.100.1, 10.0.0.2"}})) ==
        "198.51.100.1");
  CHECK(s.client_of(from("10.0.0.1", "", {{"X-Forwarded-For", "2001:db8::1"}})) == "2001:db8::1");
  CHECK(s.client_of(from("10.0.0.1", "", {{"X-Forwarded-For", "not an address"}})) == "10.0.0.1");
}

TEST_CASE("a thumbnail may be cached by the browser only, and no other site may embed it") {
  const auto headers = security::thumbnail_headers("\"face-1\"");
  const auto has = [&](const std::string& k, const std::string& v) {
    for (const auto& h : headers) {
      if (h.first == k && h.second == v) return true;
    }
    return false;
  };
  CHECK(has("Cache-Control", "private, max-age=86400"));
  CHECK(has("Cross-Origin-Resource-Policy", "same-origin"));
  CHECK(has("ETag", "\"face-1\""));
}

TEST_CASE("wrong keys of at most 10000 addresses are remembered; past that a wrong key is 429, the right one passes") {
  const security s(access_options{"s3cret-s3cret-s3", {"127.0.0.1"}, {}, 5});
  const auto t0 = security::clock::now();
  for (std::size_t i = 0; i < security::max_tracked_addresses; ++i) {
    const std::string peer = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
                             std::to_string(i % 256);
    REQUIRE(status_of(s, from(peer, "wrong"), t0) == 401);
  }
  CHECK(status_of(s, from("192.0.2.200", "wrong"), t0) == 429);             // the 10001st: cannot be counted
  CHECK(status_of(s, from("192.0.2.200", "s3cret-s3cret-s3"), t0) == 0);  // the right key still passes
  CHECK(status_of(s, from("10.0.0.0", "wrong"), t0) == 401);               // one already counted: 2 of 5
  // Once the first ones' minute is over they are forgotten, and a new address is counted again.
  CHECK(status_of(s, from("192.0.2.200", "wrong"), t0 + security::key_failure_window) == 401);
}
