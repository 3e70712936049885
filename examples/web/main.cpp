// faceapp-web: remember faces and recognize them in photos, in a browser or through a JSON API.
//
//   faceapp-web                                  # http://127.0.0.1:8080, data in ./faceapp-data
//   faceapp-web --port 0 --data /srv/faces       # any free port (printed), another data directory
//
// Pages: GET / (remember a face, list and delete), GET /faceapp (recognize one photo or compare two).
// API:   POST /api/compare, POST /api/faces, GET /api/faces, DELETE /api/faces/{id}, POST /api/recognize,
//        GET /api/records. Errors are {"error": "..."} with 400, 401, 403, 404, 405, 408, 413, 415, 421, 431,
//        500 or 507 (the disk is full).
//
// This file only wires the layers of the faceapp_web_service library: flags (the limits from http/limits.hpp's
// table), access settings, the service (service/), its routes (web/) and the HTTP server (http/).
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "http/limits.hpp"
#include "http/server.hpp"
#include "service/service.hpp"
#include "store/import_export.hpp"
#include "web/routes.hpp"
#include "web/security.hpp"

namespace {

using faceapp_web::face_service;

int stop_pipe[2] = {-1, -1};  // written by the signal handler, read by the thread that stops the server

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// The numeric addresses `host` resolves to (one for an address; possibly several for a name).
std::vector<std::string> addresses_of(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::vector<std::string> out;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return out;
  for (auto* a = found; a != nullptr; a = a->ai_next) {
    char name[NI_MAXHOST] = {};
    if (::getnameinfo(a->ai_addr, a->ai_addrlen, name, sizeof name, nullptr, 0, NI_NUMERICHOST) == 0) {
      out.emplace_back(name);
    }
  }
  ::freeaddrinfo(found);
  return out;
}

bool is_loopback_address(const std::string& a) { return a.rfind("127.", 0) == 0 || a == "::1"; }

bool is_wildcard_address(const std::string& a) { return a == "0.0.0.0" || a == "::"; }

/// The names a request's Host may carry: the bound address (and, when it is a loopback one, localhost and every
/// loopback form), all local addresses when bound to all of them, and the names given with --allowed-host.
std::vector<std::string> own_host_names(const std::string& host, const std::vector<std::string>& bound,
                                        const std::vector<std::string>& extra) {
  std::vector<std::string> names{lower(host)};
  const auto add = [&](std::string a) {
    if (a.find(':') != std::string::npos && a.front() != '[') a = "[" + a + "]";
    names.push_back(lower(std::move(a)));
  };
  bool loopback = false;
  bool wildcard = false;
  for (const auto& a : bound) {
    add(a);
    loopback = loopback || is_loopback_address(a);
    wildcard = wildcard || is_wildcard_address(a);
  }
  if (loopback || wildcard) {
    for (const char* n : {"localhost", "127.0.0.1", "::1"}) add(n);
  }
  if (wildcard) {
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) == 0) {
      for (auto* i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr == nullptr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6)) {
          continue;
        }
        char name[NI_MAXHOST] = {};
        const socklen_t len = i->ifa_addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
        if (::getnameinfo(i->ifa_addr, len, name, sizeof name, nullptr, 0, NI_NUMERICHOST) == 0 &&
            std::string(name).find('%') == std::string::npos) {
          add(name);
        }
      }
      ::freeifaddrs(list);
    }
  }
  for (const auto& e : extra) names.push_back(lower(e));
  return names;
}

/// The API key: from --api-key-file (its first line), else from FACEAPP_API_KEY; empty when neither is set.
std::string load_api_key(const std::string& file) {
  if (file.empty()) {
    const char* env = std::getenv("FACEAPP_API_KEY");
    return env != nullptr ? env : "";
  }
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read the API key file " + file);
  std::string key;
  std::getline(in, key);
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  if (key.empty()) throw std::runtime_error("the API key file " + file + " is empty");
  return key;
}

}  // namespace

int main(int argc, char** argv) {
  // The gallery, the records, kept uploads and an import's database are the operator's alone: files 0600,
  // directories 0700. First, before any subcommand can create a file.
  ::umask(077);
  // `faceapp-web import ...` and `faceapp-web export ...` (store/import_export.hpp): no server.
  if (argc > 1 && faceapp_web::is_tool_command(argv[1])) return faceapp_web::run_tool(argc, argv);

  // Decoded images are megabytes each and are allocated on one thread and freed on another. With glibc's
  // defaults (an arena per thread, an mmap threshold that rises after each free) such blocks stay in the arenas
  // and the resident size grows with the number of threads; a fixed threshold returns them to the system on
  // free, and few arenas keep the rest compact.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_ARENA_MAX, 4);

  faceapp_web::service_options o;
  std::string host = "127.0.0.1";
  int port = 8080;
  unsigned http_threads = 0;  // 0: 8 + 4 per worker
  bool access_log = false;
  faceapp_web::http::limits limits;
  CLI::App cli{"faceapp-web: remember faces and recognize them, in a browser or through a JSON API"};
  std::string api_key_file;
  std::vector<std::string> allowed_hosts;
  std::vector<std::string> trusted_proxies;
  bool insecure_no_auth = false;
  cli.add_option("--host", host, "Address to listen on (anything but loopback needs an API key)")
      ->capture_default_str();
  cli.add_option("--port", port, "Port to listen on; 0 picks a free one (printed)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cli.add_option("--data", o.data_dir, "Directory for the gallery, the results CSV and kept uploads (created 0700; files 0600)")
      ->capture_default_str();
  cli.add_option("--db", o.db,
                 "Where the gallery and the records live: postgresql://USER@HOST:PORT/DBNAME (shared by several "
                 "servers) or sqlite:PATH; default: the embedded store in --data");
  cli.add_option("--max-staleness", o.max_staleness_s,
                 "With a shared database: seconds a recognize may lag behind it (older: 503)")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cli.add_flag("--keep-uploads", o.keep_uploads, "Also store uploaded images, under their SHA-256 names");
  cli.add_option("--api-key-file", api_key_file,
                 "File whose first line is the API key (else the FACEAPP_API_KEY environment variable); with a key, "
                 "the API needs X-API-Key and the pages ask for it as the HTTP Basic password");
  cli.add_flag("--insecure-no-auth", insecure_no_auth,
               "Allow listening on a non-loopback address without an API key (anyone who reaches it may use it)");
  cli.add_option("--allowed-host", allowed_hosts,
                 "A host name (or name:port) requests may be addressed to, besides the bound address; repeat it. "
                 "Behind a reverse proxy: the public name")
      ->take_all();
  cli.add_option("--trusted-proxy", trusted_proxies,
                 "The numeric address of a reverse proxy whose X-Forwarded-For names the client (for the access "
                 "log and the count of wrong keys); repeat it. From any other peer the header is ignored")
      ->take_all();
  // The limits of a request: one flag per entry of http/limits.hpp's table, in its units, with its range.
  for (const auto& spec : faceapp_web::http::limit_table) {
    cli.add_option_function<std::uint64_t>(
           std::string(spec.flag),
           [&limits, &spec](const std::uint64_t& v) {
             if (const auto problem = faceapp_web::http::set_limit(limits, spec, v)) {
               throw CLI::ValidationError(*problem);
             }
           },
           std::string(spec.help))
        ->default_str(std::to_string(faceapp_web::http::flag_value(limits, spec)));
  }
  cli.add_option("--max-pixels", o.max_pixels, "Largest image (width x height) decoded; larger: 413")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{400'000'000}))
      ->capture_default_str();
  cli.add_option("--max-side", o.max_side, "Photos are shrunk to at most this many pixels on the longer side")
      ->check(CLI::Range(64, 10000))
      ->capture_default_str();
  cli.add_option("--max-faces", o.max_faces, "Most faces encoded per image, the largest first")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cli.add_option("--max-cluster-photos", o.max_cluster_photos,
                 "Most photos in one bulk upload to cluster (POST /api/cluster, the page /clusters); more: 413")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cli.add_option("--workers", o.workers, "Threads that decode and encode images (0: one per core)")
      ->capture_default_str();
  cli.add_option("--http-threads", http_threads, "Threads that run requests' handlers (0: 8 + 4 per worker)")
      ->capture_default_str();
  cli.add_flag("--log", access_log,
               "Print one line per request: time, client, method, path, status, bytes, seconds, request id");
  std::string detector = "hog";
  cli.add_option("--detector", detector,
                 "Face detector: hog (dlib's HOG, the default) or cnn (an SSD MobileNetV1 network: more turned and "
                 "small faces, faster on large photos)")
      ->check(CLI::IsMember({"hog", "cnn"}))
      ->capture_default_str();
  std::string gallery_codes = "int8";
  cli.add_option("--gallery-codes", gallery_codes,
                 "The gallery's compact copy, scanned first, the nearest faces then re-scored exactly: int8 (136 "
                 "bytes a face more), float16 (256) or none (the float32 rows alone; the answers are the same)")
      ->check(CLI::IsMember({"int8", "float16", "none"}))
      ->capture_default_str();
  bool rows_in_memory = false;
  cli.add_flag("--gallery-rows-in-memory", rows_in_memory,
               "Keep the gallery's float32 rows on the heap, not in a mapped file in --data (with --gallery-codes "
               "int8 or float16 they are read only to re-score a few faces a query)");
  CLI11_PARSE(cli, argc, argv);
  o.gallery_rows_in_file = !rows_in_memory;
  o.detector = *faceapp::parse_detector_model(detector);
  o.gallery_codes = gallery_codes == "int8"      ? faceapp::compact_codes::int8
                    : gallery_codes == "float16" ? faceapp::compact_codes::float16
                                                 : faceapp::compact_codes::none;
  o.max_body_bytes = limits.max_body_bytes;
  o.max_search_encodings = limits.max_search_encodings;
  o.max_search_k = limits.max_search_k;

  // Who may talk to the server.
  faceapp_web::access_options access;
  try {
    access.api_key = load_api_key(api_key_file);
  } catch (const std::exception& e) {
    std::cerr << "faceapp-web: " << e.what() << '\n';
    return 1;
  }
  if (const auto problem = faceapp_web::security::key_problem(access.api_key); problem && !access.api_key.empty()) {
    std::cerr << "faceapp-web: refusing to start: " << *problem << '\n';
    return 1;
  }
  access.max_key_failures = limits.max_key_failures;
  for (const auto& proxy : trusted_proxies) {
    const auto numeric = addresses_of(proxy);
    if (numeric.size() != 1 || numeric.front() != proxy) {
      std::cerr << "faceapp-web: --trusted-proxy " << proxy << " is not a numeric IPv4 or IPv6 address\n";
      return 1;
    }
    access.trusted_proxies.push_back(proxy);
  }
  const auto bound = addresses_of(host);
  if (bound.empty()) {
    std::cerr << "faceapp-web: cannot resolve --host " << host << '\n';
    return 1;
  }
  const bool loopback_only = std::all_of(bound.begin(), bound.end(), is_loopback_address);
  if (!loopback_only && access.api_key.empty()) {
    if (!insecure_no_auth) {
      std::cerr << "faceapp-web: refusing to listen on " << host
                << " without an API key: anyone who can reach it could read and change the gallery and the "
                   "records. Put a key in a file and pass --api-key-file FILE (or set FACEAPP_API_KEY), e.g.\n"
                   "  head -c 32 /dev/urandom | base64 > key && chmod 600 key && faceapp-web --host "
                << host << " --api-key-file key\n"
                   "or listen on 127.0.0.1 behind a reverse proxy that authenticates. --insecure-no-auth overrides "
                   "this check.\n";
      return 1;
    }
    std::cerr << "faceapp-web: WARNING: listening on " << host
              << " WITHOUT AUTHENTICATION (--insecure-no-auth): anyone who reaches this port can read and change "
                 "the gallery and the records\n";
  }
  access.allowed_hosts = own_host_names(host, bound, allowed_hosts);

  // SIGINT/SIGTERM stop the server cleanly (everything is on disk already). Threads that libraries start before
  // main (OpenBLAS) may take the signal, so the handler only writes to a pipe that a thread of ours waits on.
  if (::pipe2(stop_pipe, O_CLOEXEC) != 0) {
    std::perror("faceapp-web: pipe");
    return 1;
  }
  struct sigaction on_stop {};
  on_stop.sa_handler = [](int) {
    const char byte = 1;
    [[maybe_unused]] const auto n = ::write(stop_pipe[1], &byte, 1);
  };
  sigemptyset(&on_stop.sa_mask);
  sigaction(SIGINT, &on_stop, nullptr);
  sigaction(SIGTERM, &on_stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);  // a file size limit is a failed write (EFBIG, answered 507), not the end

  std::optional<face_service> service;
  try {
    face_service::check_models(o.detector);
    service.emplace(o);
  } catch (const std::exception& e) {
    std::cerr << "faceapp-web: " << e.what() << '\n';
    return 1;
  }
  faceapp_web::routes r(*service, std::move(access));

  limits.handler_threads = http_threads != 0 ? http_threads : 8 + 4 * service->workers();
  faceapp_web::http::server svr(
      limits, [&r](faceapp_web::http::request& req) { return r.check_head(req); },
      [&r](const faceapp_web::http::request& req, faceapp_web::http::response& res) { r.handle(req, res); },
      [&r](const faceapp_web::http::request& req, int status, const std::string& message) {
        return r.error_answer(req, status, message);
      },
      faceapp_web::security::default_headers(), access_log);
  svr.observe([&r](const faceapp_web::http::request& req, int status, std::size_t,
                   std::chrono::steady_clock::duration took, bool handled) { r.answered(req, status, took, handled); });
  if (const auto failed = svr.start(host, port)) {
    std::cerr << "faceapp-web: " << *failed << '\n';
    return 1;
  }
  const std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::printf("faceapp-web listening on http://%s:%d/ (data in %s, %u workers%s)\n", shown_host.c_str(), svr.port(),
              o.data_dir.c_str(), service->workers(), access_log ? ", logging requests" : "");
  std::fflush(stdout);

  char byte = 0;
  while (::read(stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  svr.stop();
  return 0;
}
