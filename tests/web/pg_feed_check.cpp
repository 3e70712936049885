// The PostgreSQL change feed without the models, so that it also runs under the sanitizers (.ci/run builds it
// with ThreadSanitizer and with AddressSanitizer + UndefinedBehaviorSanitizer): two face_stores, as two servers
// would hold them, on the database given (tests/web/with_postgres.py starts a throwaway cluster for it).
//
//   pg_feed_check postgresql://USER@127.0.0.1:PORT/DBNAME
//
// Four writer threads (two on each store) add faces with synthetic encodings and delete every third of their own,
// while two threads recognize on both stores' snapshots and two insert and read records. Checks: every add is in
// the other store within 1 s of being answered; at the end both galleries hold exactly the live faces of the
// database, with the same names and encodings; every record inserted is read back once. Exit status 1 and a line
// per failure otherwise.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/face_store.hpp"
#include "store/pg_store.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

std::atomic<int> failures{0};
std::mutex print_mutex;

void fail(const std::string& what) {
  const std::lock_guard lock(print_mutex);
  std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  ++failures;
}

faceapp::encoding encoding_of(int writer, int i) {
  faceapp::encoding e;
  for (std::size_t k = 0; k < e.size(); ++k) {
    e[k] = static_cast<float>(((writer * 131 + i * 17 + static_cast<int>(k) * 7) % 97) - 48) / 400.0F;
  }
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: pg_feed_check postgresql://USER@HOST:PORT/DBNAME\n");
    return 2;
  }
  const std::string url = argv[1];
  try {
    faceapp_web::face_store a(std::make_unique<faceapp_web::pg_store>(url));
    faceapp_web::face_store b(std::make_unique<faceapp_web::pg_store>(url));
    faceapp_web::face_store* stores[] = {&a, &b};

    constexpr int writers = 4;
    constexpr int adds_each = 40;
    std::atomic<bool> writing{true};
    std::mutex live_mutex;
    std::set<std::uint64_t> live;
    std::vector<double> delays_ms;

    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        auto& mine = *stores[w % 2];
        auto& other = *stores[1 - w % 2];
        for (int i = 0; i < adds_each; ++i) {
          const auto p = mine.add("w" + std::to_string(w) + "-" + std::to_string(i), encoding_of(w, i),
                                  "synthetic", faceapp::box{1, 2, 3, 4}, "");
          const auto answered = clock_type::now();
          if (!mine.snapshot()->find(p.id)) fail("an add is not in its own server's gallery when answered");
          while (!other.snapshot()->find(p.id) && clock_type::now() - answered < 1s) std::this_thread::sleep_for(1ms);
          const auto seen = clock_type::now();
          if (!other.snapshot()->find(p.id)) fail("add " + std::to_string(p.id) + " not on the other server in 1 s");
          if (i % 3 == 2) {
            if (!other.remove(p.id)) fail("delete of " + std::to_string(p.id) + " on the other server");
          } else {
            const std::lock_guard lock(live_mutex);
            live.insert(p.id);
            delays_ms.push_back(std::chrono::duration<double, std::milli>(seen - answered).count());
          }
        }
      });
    }
    std::atomic<long> scans{0};
    for (auto* s : stores) {
      threads.emplace_back([&, s] {
        while (writing) {
          const auto v = s->snapshot();
          if (!v->empty()) (void)v->nearest(encoding_of(0, 0));
          ++scans;
          std::this_thread::sleep_for(1ms);
        }
      });
    }
    std::atomic<int> records{0};
    for (auto* s : stores) {
      threads.emplace_back([&, s] {
        auto& db = dynamic_cast<faceapp_web::results_store&>(s->backend());
        for (int i = 0; i < 30; ++i) {
          const std::vector<faceapp::record_row> rows{
              {faceapp::utc_timestamp(), "check " + std::to_string(i), 0, faceapp::box{1, 2, 3, 4}, "x", 0.25F, true},
              {faceapp::utc_timestamp(), "check " + std::to_string(i), std::nullopt, std::nullopt, "", std::nullopt,
               std::nullopt}};
          db.insert_results(rows);
          records += 2;
          std::size_t lines = 0;
          db.read_results([&](const std::string& text) {
            for (char c : text) lines += c == '\n' ? 1 : 0;
          });
          if (lines < 2) fail("records are read back");
        }
      });
    }
    for (int w = 0; w < writers; ++w) threads[static_cast<std::size_t>(w)].join();
    writing = false;
    for (std::size_t t = writers; t < threads.size(); ++t) threads[t].join();

    // Both galleries hold exactly the live faces, after at most one poll interval.
    const auto deadline = clock_type::now() + 2s;
    while ((a.size() != live.size() || b.size() != live.size()) && clock_type::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    for (auto* s : stores) {
      const auto v = s->snapshot();
      if (v->size() != live.size()) {
        fail("a gallery has " + std::to_string(v->size()) + " faces, the database " + std::to_string(live.size()));
      }
      for (const auto id : live) {
        const auto row = v->find(id);
        if (!row) {
          fail("face " + std::to_string(id) + " missing from a gallery");
          continue;
        }
        const std::string name(v->name(*row));
        const int w = std::atoi(name.c_str() + 1);
        const int i = std::atoi(name.c_str() + name.find('-') + 1);
        if (v->at(*row) != encoding_of(w, i)) fail("face " + std::to_string(id) + " has another encoding");
      }
    }
    std::size_t lines = 0;
    dynamic_cast<faceapp_web::results_store&>(a.backend()).read_results([&](const std::string& text) {
      for (char c : text) lines += c == '\n' ? 1 : 0;
    });
    if (lines != static_cast<std::size_t>(records.load())) {
      fail(std::to_string(lines) + " records read back, " + std::to_string(records.load()) + " inserted");
    }
    std::sort(delays_ms.begin(), delays_ms.end());
    std::printf("%zu live faces on both servers, %d records, %ld scans; add -> visible on the other: median %.1f ms, "
                "max %.1f ms\n",
                live.size(), records.load(), scans.load(), delays_ms[delays_ms.size() / 2], delays_ms.back());
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return failures == 0 ? 0 : 1;
}
