// faceapp-web's store layer: a thin C++ face on libpq (connections, statements with text parameters, the
// errors that mean the database is away), used by pg_store.hpp.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "service/errors.hpp"  // unavailable_error

namespace faceapp_web {

namespace pg {

inline constexpr int schema_version = 4;

/// How long any wait for the database may last, set on every connection. A transaction elsewhere that holds the
/// write lock (a node paused mid-add, an operator's open transaction) makes an add give up after lock_timeout_ms
/// (503, retryable) instead of waiting for it; no statement runs longer than statement_timeout_ms; a session of
/// ours left idle inside a transaction (a node stopped mid-add) is ended by the server after
/// idle_in_transaction_timeout_ms, which frees its lock; connecting gives up after connect_timeout_s; data sent
/// and not acknowledged for tcp_user_timeout_ms (a peer gone without a word) ends the connection.
inline constexpr int lock_timeout_ms = 2000;
inline constexpr int statement_timeout_ms = 8000;
inline constexpr int idle_in_transaction_timeout_ms = 10000;
inline constexpr int connect_timeout_s = 3;
inline constexpr int tcp_user_timeout_ms = 10000;

/// The server settings of every session (libpq's `options`).
inline std::string session_options() {
  return "-c lock_timeout=" + std::to_string(lock_timeout_ms) + " -c statement_timeout=" +
         std::to_string(statement_timeout_ms) + " -c idle_in_transaction_session_timeout=" +
         std::to_string(idle_in_transaction_timeout_ms);
}

/// The URL without its password, for messages.
inline std::string shown(std::string_view url) {
  const auto scheme = url.find("://");
  const auto at = url.find('@');
  if (scheme == std::string_view::npos || at == std::string_view::npos) return std::string(url);
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon)) + ":***" + std::string(url.substr(at));
}

/// What faceapp-web adds to a --db URL, or why it refuses it.
struct url_settings {
  std::optional<std::string> problem;  // the URL is refused (it holds a password, or libpq cannot read it)
  std::string sslmode;                 // to add ("" when the URL, PGSSLMODE or a local host decides)
};

/// Whether `host` (one of a URL's hosts) is this machine: a Unix socket directory, localhost or a loopback address.
inline bool local_host(std::string_view host) {
  return host.empty() || host.front() == '/' || host.front() == '@' || host == "localhost" ||
         host.rfind("127.", 0) == 0 || host == "::1" || host == "[::1]";
}

/// Reads `url` with libpq's own parser. A password in it is refused (it would sit in the process list, the unit
/// file and shell histories: .pgpass or PGPASSFILE hold it instead). Off this machine the connection must be
/// encrypted to the right server: sslmode defaults to verify-full there, unless the URL or PGSSLMODE says
/// otherwise; on a local host or socket nothing is forced.
inline url_settings settings_of(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    std::string why = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return {"--db: libpq cannot read the URL: " + why, ""};
  }
  const std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> owned(options, PQconninfoFree);
  std::string hosts;
  bool has_sslmode = std::getenv("PGSSLMODE") != nullptr;
  for (auto* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view key = o->keyword;
    if (key == "password") {
      return {"--db must not hold a password (it would show in the process list and in logs): put it in "
              "~/.pgpass (mode 0600) or in the file PGPASSFILE names, one line HOST:PORT:DBNAME:USER:PASSWORD",
              ""};
    }
    if (key == "sslmode") has_sslmode = true;
    if (key == "host" || key == "hostaddr") hosts += std::string(o->val) + ",";
  }
  if (hosts.empty()) {
    if (const char* env = std::getenv("PGHOST")) hosts = std::string(env) + ",";
  }
  bool local = true;
  for (std::size_t start = 0; start < hosts.size();) {
    const auto comma = hosts.find(',', start);
    local = local && local_host(std::string_view(hosts).substr(start, comma - start));
    start = comma + 1;
  }
  return {std::nullopt, has_sslmode || local ? "" : "verify-full"};
}

/// A connection; closed on destruction.
struct conn_deleter {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using connection = std::unique_ptr<PGconn, conn_deleter>;

struct result_deleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result = std::unique_ptr<PGresult, result_deleter>;

/// Opens a connection; unavailable_error naming the database when it cannot. The URL was checked by
/// settings_of when the store opened; its sslmode default is added here.
inline connection connect(const std::string& url) {
  const auto settings = settings_of(url);
  if (settings.problem) throw std::runtime_error(*settings.problem);
  const std::string options = session_options();
  const std::string connect_timeout = std::to_string(connect_timeout_s);
  const std::string tcp_user_timeout = std::to_string(tcp_user_timeout_ms);
  std::vector<const char*> keys = {"dbname",           "connect_timeout", "application_name", "keepalives_idle",
                                   "keepalives_interval", "keepalives_count", "tcp_user_timeout", "options"};
  std::vector<const char*> values = {url.c_str(), connect_timeout.c_str(), "faceapp-web", "5", "2", "3",
                                     tcp_user_timeout.c_str(), options.c_str()};
  if (!settings.sslmode.empty()) {
    keys.push_back("sslmode");
    values.push_back(settings.sslmode.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  connection c(PQconnectdbParams(keys.data(), values.data(), 1));
  if (!c) throw unavailable_error("database " + shown(url) + ": out of memory");
  if (PQstatus(c.get()) != CONNECTION_OK) {
    std::string message = PQerrorMessage(c.get());
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    throw unavailable_error("database " + shown(url) + " is unavailable: " + message);
  }
  // Notices (e.g. "relation already exists, skipping") are not errors: keep them off the server's output.
  PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);
  return c;
}

/// Runs a statement with text parameters (nullptr: NULL; lengths for binary ones). Results in text, or in
/// binary when `binary`. A lost connection -> unavailable_error; any other failure -> std::runtime_error.
inline result run(PGconn* c, const std::string& url, const char* sql, std::span<const char* const> params = {},
                  std::span<const int> lengths = {}, std::span<const int> formats = {}, bool binary = false) {
  result r(PQexecParams(c, sql, static_cast<int>(params.size()), nullptr, params.data(),
                        lengths.empty() ? nullptr : lengths.data(), formats.empty() ? nullptr : formats.data(),
                        binary ? 1 : 0));
  const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
  std::string message = PQerrorMessage(c);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
  // Class 08: connection exceptions; 57P: the server shutting down; or no connection at all. And the waits
  // bounded above, which are worth a retry too: 55P03 lock_timeout, 57014 statement_timeout, 25P03 an idle
  // transaction ended, 40001/40P01 a serialization failure or deadlock.
  const bool lost = PQstatus(c) != CONNECTION_OK || state == nullptr || std::strncmp(state, "08", 2) == 0 ||
                    std::strncmp(state, "57P", 3) == 0 || std::strcmp(state, "55P03") == 0 ||
                    std::strcmp(state, "57014") == 0 || std::strcmp(state, "25P03") == 0 ||
                    std::strncmp(state, "40", 2) == 0;
  const std::string what = "database " + shown(url) + ": " + message + " (in: " + std::string(sql).substr(0, 60) + ")";
  if (lost) throw unavailable_error(what);
  throw std::runtime_error(what);
}

/// Runs several statements without parameters (a schema script).
inline void run_script(PGconn* c, const std::string& url, const char* sql) {
  const result r(PQexec(c, sql));
  if (r && PQresultStatus(r.get()) == PGRES_COMMAND_OK) return;
  std::string message = PQerrorMessage(c);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  throw std::runtime_error("database " + shown(url) + ": cannot create the schema: " + message);
}

inline std::uint64_t be64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

inline std::optional<int> int_of(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col) != 0) return std::nullopt;
  return std::atoi(PQgetvalue(r, row, col));
}

}  // namespace pg

}  // namespace faceapp_web
