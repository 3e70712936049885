// faceapp-web: remember faces and recognize them in photos, in a browser or through a JSON API.
//
//   faceapp-web                                  # http://127.0.0.1:8080, data in ./faceapp-data
//   faceapp-web --port 0 --data /srv/faces       # any free port (printed), another data directory
//
// Pages: GET / (remember a face, list and delete), GET /faceapp (recognize one photo or compare two).
// API:   POST /api/compare, POST /api/faces, GET /api/faces, DELETE /api/faces/{id}, POST /api/recognize,
//        GET /api/records. Errors are {"error": "..."} with 400, 404, 413, 415 (500 if a result cannot be recorded).
#include <fcntl.h>
#include <malloc.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "app.hpp"
#include "import_export.hpp"
#include "listing.hpp"
#include "pages.hpp"

namespace {

using faceapp_web::app;
using faceapp_web::http_error;
using json = nlohmann::json;

/// httplib's server with a longer queue of connections waiting to be accepted: httplib listens with a backlog
/// of 5, and a burst of clients (32 at once in the load test) overflows that, so the kernel drops connections.
class server : public httplib::Server {
 public:
  void widen_backlog() { ::listen(svr_sock_, SOMAXCONN); }  // listen() again on a bound socket sets the backlog
};

int stop_pipe[2] = {-1, -1};  // written by the signal handler, read by the thread that stops the server

bool is_api(const httplib::Request& req) { return req.path.rfind("/api/", 0) == 0; }

json box_json(const faceapp::box& b) {
  return {{"top", b.top}, {"right", b.right}, {"bottom", b.bottom}, {"left", b.left}};
}

json optional_number(const std::optional<float>& v) { return v ? json(static_cast<double>(*v)) : json(nullptr); }

json person_json(const faceapp_web::person& p) {
  return {{"id", p.id}, {"name", p.name}, {"added", p.added}, {"box", box_json(p.box)},
          {"thumbnail", p.has_thumbnail ? json("/faces/" + std::to_string(p.id) + "/thumbnail.jpg") : json(nullptr)}};
}

std::optional<std::uint64_t> parse_id(const std::string& text) {
  std::uint64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return id;
}

/// Requests with uploads must be multipart/form-data (415 otherwise).
void require_multipart(const httplib::Request& req) {
  if (!req.is_multipart_form_data()) {
    throw http_error(415, "send the fields as multipart/form-data (an HTML form with enctype=\"multipart/form-data\", "
                          "or curl -F)");
  }
}

std::string text_field(const httplib::Request& req, const std::string& name) {
  return req.has_file(name) ? req.get_file_value(name).content : std::string();
}

/// The image in field `name`; nothing when the field is absent or an empty file input and `required` is false.
std::optional<faceapp_web::upload> image_field(const httplib::Request& req, const std::string& name, bool required) {
  if (!req.has_file(name) || (req.get_file_value(name).content.empty() && req.get_file_value(name).filename.empty())) {
    if (required) throw http_error(400, "missing field '" + name + "' (an image file)");
    return std::nullopt;
  }
  const auto part = req.get_file_value(name);
  return faceapp_web::make_upload(part.content, part.filename.empty() ? name : part.filename, name);
}

void send_json(httplib::Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_html(httplib::Response& res, const std::string& body, int status = 200) {
  res.status = status;
  res.set_content(body, "text/html; charset=utf-8");
}

/// Runs a JSON handler: http_error -> its status and {"error": ...}; anything else -> 500.
template <class F>
httplib::Server::Handler api(F f) {
  return [f = std::move(f)](const httplib::Request& req, httplib::Response& res) {
    try {
      f(req, res);
    } catch (const http_error& e) {
      send_json(res, {{"error", e.what()}}, e.status);
    } catch (const std::exception& e) {
      send_json(res, {{"error", std::string("internal error: ") + e.what()}}, 500);
    }
  };
}

}  // namespace

int main(int argc, char** argv) {
  // `faceapp-web import ...` and `faceapp-web export ...` (import_export.hpp): no server.
  if (argc > 1 && faceapp_web::is_tool_command(argv[1])) return faceapp_web::run_tool(argc, argv);

  // Decoded images are megabytes each and are allocated on one thread and freed on another. With glibc's
  // defaults (an arena per thread, an mmap threshold that rises after each free) such blocks stay in the arenas
  // and the resident size grows with the number of threads; a fixed threshold returns them to the system on
  // free, and few arenas keep the rest compact.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_ARENA_MAX, 4);

  faceapp_web::app_options o;
  CLI::App cli{"faceapp-web: remember faces and recognize them, in a browser or through a JSON API"};
  std::size_t max_body_mb = 10;
  cli.add_option("--host", o.host, "Address to listen on")->capture_default_str();
  cli.add_option("--port", o.port, "Port to listen on; 0 picks a free one (printed)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cli.add_option("--data", o.data_dir, "Directory for the gallery, the results CSV and kept uploads")
      ->capture_default_str();
  cli.add_flag("--keep-uploads", o.keep_uploads, "Also store uploaded images, under their SHA-256 names");
  cli.add_option("--max-body-mb", max_body_mb, "Largest request body in MB (larger: 413)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cli.add_option("--max-pixels", o.max_pixels, "Largest image (width x height) decoded; larger: 413")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{400'000'000}))
      ->capture_default_str();
  cli.add_option("--max-side", o.max_side, "Photos are shrunk to at most this many pixels on the longer side")
      ->check(CLI::Range(64, 10000))
      ->capture_default_str();
  cli.add_option("--workers", o.workers, "Threads that decode and encode images (0: one per core)")
      ->capture_default_str();
  cli.add_option("--http-threads", o.http_threads, "Threads that serve connections (0: 8 + 4 per worker)")
      ->capture_default_str();
  cli.add_flag("--log", o.access_log, "Print one line per request");
  CLI11_PARSE(cli, argc, argv);
  o.max_body_bytes = max_body_mb << 20;

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

  std::optional<app> application;
  try {
    app::check_models();
    application.emplace(o);
  } catch (const std::exception& e) {
    std::cerr << "faceapp-web: " << e.what() << '\n';
    return 1;
  }
  app& a = *application;

  server svr;
  const unsigned http_threads = o.http_threads != 0 ? o.http_threads : 8 + 4 * a.workers();
  svr.new_task_queue = [http_threads] { return new httplib::ThreadPool(http_threads); };
  svr.set_payload_max_length(o.max_body_bytes);
  svr.set_read_timeout(30);
  svr.set_write_timeout(30);
  svr.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                           {"Referrer-Policy", "no-referrer"},
                           {"Content-Security-Policy",
                            "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}});
  if (o.access_log) {
    svr.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      std::printf("%s %s %d\n", req.method.c_str(), req.path.c_str(), res.status);
      std::fflush(stdout);
    });
  }

  // Errors that httplib answers itself (413 over the body limit, 404 for no route), and handlers that set a
  // status without a body, get a body in the right form: JSON for the API, a page otherwise.
  svr.set_error_handler(httplib::Server::HandlerWithResponse([&o](const httplib::Request& req,
                                                                     httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = res.status == 413   ? "the request body is larger than the limit of " +
                                                    std::to_string(o.max_body_bytes >> 20) + " MB"
                          : res.status == 404 ? "not found: " + req.path
                          : res.status == 405 ? "method not allowed"
                                              : "bad request";
    if (is_api(req)) {
      send_json(res, {{"error", message}}, res.status);
    } else {
      send_html(res, faceapp_web::pages::error_page(o, res.status, message), res.status);
    }
    return httplib::Server::HandlerResponse::Handled;
  }));

  // ---- pages ----
  svr.Get("/", [&](const httplib::Request& req, httplib::Response& res) {
    std::string message;
    if (req.has_param("added")) {
      if (const auto id = parse_id(req.get_param_value("added"))) {
        if (const auto p = a.store().find(*id)) message = "Remembered " + p->name + ".";
      }
    } else if (req.has_param("deleted")) {
      message = "Deleted.";
    }
    const auto list = faceapp_web::list_people(a.store(), req.get_param_value("q"), req.get_param_value("page"));
    send_html(res, faceapp_web::pages::main_page(o, list, message, false));
  });

  svr.Post("/faces", [&](const httplib::Request& req, httplib::Response& res) {
    try {
      require_multipart(req);
      auto name = app::check_person_name(text_field(req, "name"));
      auto image = image_field(req, "image", true);
      const auto p = a.add_face(std::move(name), std::move(*image));
      res.set_redirect("/?added=" + std::to_string(p.id), 303);
    } catch (const http_error& e) {
      send_html(res, faceapp_web::pages::main_page(o, faceapp_web::list_people(a.store(), "", ""), e.what(), true), e.status);
    } catch (const std::exception& e) {
      send_html(res, faceapp_web::pages::main_page(o, faceapp_web::list_people(a.store(), "", ""), e.what(), true), 500);
    }
  });

  svr.Post(R"(/faces/([^/]+)/delete)", [&](const httplib::Request& req, httplib::Response& res) {
    const auto id = parse_id(req.matches[1]);
    if (!id || !a.store().remove(*id)) {
      send_html(res, faceapp_web::pages::main_page(o, faceapp_web::list_people(a.store(), "", ""), "No such face (already deleted?)", true),
                404);
      return;
    }
    res.set_redirect("/?deleted=1", 303);
  });

  svr.Get(R"(/faces/([^/]+)/thumbnail\.jpg)", [&](const httplib::Request& req, httplib::Response& res) {
    // Read from the database when asked. A face's thumbnail never changes and ids are never reused, so the
    // id is a strong validator.
    const auto id = parse_id(req.matches[1]);
    const auto jpeg = id ? a.store().thumbnail(*id) : std::nullopt;
    if (!jpeg) {
      res.status = 404;
      return;
    }
    const std::string etag = "\"face-" + std::to_string(*id) + "\"";
    res.set_header("Cache-Control", "private, max-age=86400");
    res.set_header("ETag", etag);
    if (req.get_header_value("If-None-Match").find(etag) != std::string::npos) {
      res.status = 304;
      return;
    }
    res.set_content(*jpeg, "image/jpeg");
  });

  svr.Get("/faceapp", [&](const httplib::Request&, httplib::Response& res) {
    send_html(res, faceapp_web::pages::faceapp_page(o, faceapp::default_tolerance, "", "", false));
  });

  svr.Post("/faceapp", [&](const httplib::Request& req, httplib::Response& res) {
    float tolerance = faceapp::default_tolerance;
    try {
      require_multipart(req);
      tolerance = app::parse_tolerance(text_field(req, "tolerance"));
      auto first = image_field(req, "a", true);
      auto second = image_field(req, "b", false);
      std::string result;
      if (second) {
        const auto name_a = first->file_name;
        const auto name_b = second->file_name;
        const auto c = a.compare(std::move(*first), std::move(*second), tolerance);
        result = faceapp_web::pages::comparison_result(c, name_a, name_b);
      } else {
        const auto size = a.store().size();
        result = faceapp_web::pages::recognition_result(a.recognize(std::move(*first), tolerance), size);
      }
      send_html(res, faceapp_web::pages::faceapp_page(o, tolerance, result, "", false));
    } catch (const http_error& e) {
      send_html(res, faceapp_web::pages::faceapp_page(o, tolerance, "", e.what(), true), e.status);
    } catch (const std::exception& e) {
      send_html(res, faceapp_web::pages::faceapp_page(o, tolerance, "", e.what(), true), 500);
    }
  });

  // ---- API ----
  svr.Post("/api/compare", api([&](const httplib::Request& req, httplib::Response& res) {
    require_multipart(req);
    const float tolerance = app::parse_tolerance(text_field(req, "tolerance"));
    auto first = image_field(req, "a", true);
    auto second = image_field(req, "b", true);
    const auto c = a.compare(std::move(*first), std::move(*second), tolerance);
    send_json(res, {{"distance", optional_number(c.distance)},
                    {"match", c.match},
                    {"similarity", optional_number(c.similarity)},
                    {"faces_a", c.a.faces.size()},
                    {"faces_b", c.b.faces.size()}});
  }));

  svr.Post("/api/faces", api([&](const httplib::Request& req, httplib::Response& res) {
    require_multipart(req);
    if (!req.has_file("name")) throw http_error(400, "missing field 'name'");
    auto name = app::check_person_name(text_field(req, "name"));
    auto image = image_field(req, "image", true);
    send_json(res, person_json(a.add_face(std::move(name), std::move(*image))), 201);
  }));

  svr.Get("/api/faces", api([&](const httplib::Request& req, httplib::Response& res) {
    const auto offset = faceapp_web::parse_count(req.get_param_value("offset"), "offset", 0, std::uint64_t{1} << 62);
    const auto limit = faceapp_web::parse_count(req.get_param_value("limit"), "limit",
                                                faceapp_web::api_faces_default_limit, faceapp_web::api_faces_max_limit);
    const auto page = a.store().list("", offset, limit);
    json faces = json::array();
    for (const auto& p : page.people) faces.push_back(person_json(p));
    send_json(res, {{"faces", std::move(faces)}, {"total", page.total}, {"offset", offset}, {"limit", limit}});
  }));

  svr.Delete(R"(/api/faces/([^/]+))", api([&](const httplib::Request& req, httplib::Response& res) {
    const auto id = parse_id(req.matches[1]);
    if (!id || !a.store().remove(*id)) throw http_error(404, "no face with id " + std::string(req.matches[1]));
    send_json(res, {{"deleted", *id}});
  }));

  svr.Post("/api/recognize", api([&](const httplib::Request& req, httplib::Response& res) {
    require_multipart(req);
    const float tolerance = app::parse_tolerance(text_field(req, "tolerance"));
    auto image = image_field(req, "image", true);
    const auto r = a.recognize(std::move(*image), tolerance);
    json faces = json::array();
    for (const auto& f : r.photo.faces) {
      const bool known = f.match.value_or(false);
      faces.push_back({{"box", box_json(f.box)},
                       {"name", known ? json(f.name) : json(nullptr)},
                       {"distance", optional_number(f.distance)},
                       {"similarity", f.distance ? json(faceapp::similarity_percent(*f.distance, tolerance))
                                                 : json(nullptr)}});
    }
    send_json(res, {{"faces", std::move(faces)}});
  }));

  svr.Get("/api/records", api([&](const httplib::Request&, httplib::Response& res) {
    std::ifstream in(a.records_file(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    res.set_content(text.str(), "text/csv; charset=utf-8");
  }));

  // ---- start ----
  int port = o.port;
  if (port == 0) {
    port = svr.bind_to_any_port(o.host);
    if (port < 0) {
      std::cerr << "faceapp-web: cannot listen on " << o.host << '\n';
      return 1;
    }
  } else if (!svr.bind_to_port(o.host, port)) {
    std::cerr << "faceapp-web: cannot listen on " << o.host << ':' << port << " (in use? try --port 0)\n";
    return 1;
  }
  svr.widen_backlog();
  std::thread stopper([&svr] {
    char byte = 0;
    while (::read(stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    if (byte == 1) svr.stop();
  });
  std::printf("faceapp-web listening on http://%s:%d/ (data in %s, %u workers)\n", o.host.c_str(), port,
              o.data_dir.c_str(), a.workers());
  std::fflush(stdout);
  const bool ok = svr.listen_after_bind();
  const char release = 0;  // listen may have ended by itself: release the thread
  [[maybe_unused]] const auto n = ::write(stop_pipe[1], &release, 1);
  stopper.join();
  return ok ? 0 : 1;
}
