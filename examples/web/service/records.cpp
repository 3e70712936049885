// faceapp-web's service layer: the records, read as they are sent (see service.hpp).
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>

#include <faceapp/stages/record.hpp>

#include "service/service.hpp"

namespace faceapp_web {

namespace {

/// The digits of text[at, at + n) as a number, or -1 when they are not all digits.
int digits(std::string_view text, std::size_t at, std::size_t n) {
  if (at + n > text.size()) return -1;
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

}  // namespace

std::string parse_since(std::string_view text) {
  using namespace std::chrono;
  const auto bad = [&]() -> service_error {
    return service_error(errc::bad_input, "since must be an ISO-8601 UTC time such as 2026-12-01T10:00:00Z or "
                                          "2026-12-01, not \"" + std::string(text.substr(0, 40)) + "\"");
  };
  const int y = digits(text, 0, 4);
  const int mo = digits(text, 5, 2);
  const int d = digits(text, 8, 2);
  if (y < 0 || mo < 0 || d < 0 || text[4] != '-' || text[7] != '-') throw bad();
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!date.ok()) throw bad();
  sys_time<nanoseconds> t = sys_days{date};
  if (text.size() > 10) {
    std::size_t at = 10;
    if (text[at] != 'T' && text[at] != 't' && text[at] != ' ') throw bad();
    const int h = digits(text, 11, 2);
    const int mi = digits(text, 14, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || text[13] != ':') throw bad();
    t += hours{h} + minutes{mi};
    at = 16;
    if (at < text.size() && text[at] == ':') {
      const int sec = digits(text, 17, 2);
      if (sec < 0 || sec > 59) throw bad();
      t += seconds{sec};
      at = 19;
      if (at < text.size() && (text[at] == '.' || text[at] == ',')) {
        std::int64_t ns = 0;
        std::size_t n = 0;
        for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++n) {
          if (n < 9) ns = ns * 10 + (text[at] - '0');
        }
        if (n == 0) throw bad();
        for (std::size_t i = n; i < 9; ++i) ns *= 10;
        t += nanoseconds{ns};
      }
    }
    const auto zone = text.substr(at);
    if (zone != "Z" && zone != "z" && zone != "+00:00") throw bad();
  }
  return faceapp::detail::utc_timestamp(time_point_cast<system_clock::duration>(ceil<milliseconds>(t)));
}

void face_service::records(std::string_view since, const std::function<void(std::string_view)>& write) const {
  const std::string header = std::string(faceapp::csv_sink::header) + "\n";
  if (db_records_ != nullptr) {  // every server's records, from the results table
    write(header);
    db_records_->read_results([&](const std::string& lines) { write(lines); }, since);
    return;
  }
  // When results.csv was removed, the answer is the header alone (the next record creates the file again, with
  // that header): never an empty body.
  const auto file = options_.data_dir / "results.csv";
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    if (errno != ENOENT) throw service_error(errc::internal, "cannot read " + file.string());
    write(header);
    return;
  }
  // Line by line: the first is the header; a row's first cell is its time, in the form `since` has.
  bool first = true;
  std::string line;
  std::string out;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a last line without its line break is a row still being written: not sent
    line += '\n';
    if (first || since.empty() || std::string_view(line).substr(0, since.size()) >= since) out += line;
    first = false;
    if (out.size() >= (64U << 10)) {
      write(out);
      out.clear();
    }
  }
  if (in.bad()) throw service_error(errc::internal, "cannot read " + file.string());
  if (first) out = header;  // an empty file
  write(out);
}

void face_service::check_records_reachable() const {
  if (db_records_ != nullptr) {
    store_.backend().ping();
    return;
  }
  const auto file = options_.data_dir / "results.csv";  // readable, or absent (the header alone)
  std::ifstream in(file, std::ios::binary);
  if (!in && errno != ENOENT) throw service_error(errc::internal, "cannot read " + file.string());
}

std::string face_service::records_csv() const {
  std::string body;
  records({}, [&](std::string_view piece) { body += piece; });
  return body;
}

}  // namespace faceapp_web
