// The gallery's split scans and its float32 rows in a mapped file: a query split among threads of its own or a
// pool's (run_parts_on, scan_executor) answers as one thread does, whatever the pool does; a mapped gallery answers
// as a heap one, with full chunks not resident.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "faceapp/core/gallery.hpp"
#include "faceapp/core/threading.hpp"
#include "gallery_pairs.hpp"

namespace {
using faceapp::compact_codes;
using namespace gallery_test;  // encoding, gallery, gallery_options, pair_of_galleries, random_encoding
}  // namespace

TEST_CASE("gallery two-thread scan: parallel from parallel_min_rows rows on, with the one-thread answers") {
  const std::size_t min_rows = 3000;
  for (const auto codes : {compact_codes::none, compact_codes::int8, compact_codes::float16}) {
    CAPTURE(static_cast<int>(codes));
    pair_of_galleries g({.chunk_rows = 512, .codes = codes, .scan_threads = 2, .parallel_min_rows = min_rows});
    std::mt19937 rng(8);
    for (std::size_t i = 0; i + 1 < min_rows; ++i) g.add(random_encoding(rng));
    CHECK(g.coded.snapshot()->scan_threads_used() == 1);  // just below
    g.add(random_encoding(rng));
    CHECK(g.coded.snapshot()->scan_threads_used() == 2);  // at the limit
    g.add(random_encoding(rng));
    CHECK(g.coded.snapshot()->scan_threads_used() == 2);  // just above
    CHECK(g.plain.snapshot()->scan_threads_used() == 1);  // the default: one thread
    std::vector<encoding> queries;
    for (int i = 0; i < 4; ++i) queries.push_back(random_encoding(rng));
    queries.push_back(g.plain.snapshot()->at(2999));  // a row itself, in the second half
    g.check(queries);
    std::thread([&] {  // a pool's worker scans on its own thread only
      faceapp::set_worker_thread();
      CHECK(g.coded.snapshot()->scan_threads_used() == 1);
    }).join();
  }
  gallery one_chunk({.chunk_rows = 8192, .scan_threads = 2, .parallel_min_rows = 1});
  one_chunk.add("a", encoding{});
  CHECK(one_chunk.snapshot()->scan_threads_used() == 1);  // one chunk is not split
  gallery per_core({.chunk_rows = 64, .scan_threads = 0, .parallel_min_rows = 0});
  for (int i = 0; i < 64 * 8; ++i) per_core.add("a", encoding{});
  CHECK(per_core.snapshot()->scan_threads_used() == std::min(8U, std::max(1U, std::thread::hardware_concurrency())));
}

/// A pool of real threads as a scan_executor sees one: jobs queued, run in order; `hold()` keeps its threads busy
/// until `release()`, as a server's workers are with long encodes.
class test_pool {
 public:
  explicit test_pool(unsigned threads) {
    for (unsigned i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        faceapp::set_worker_thread();
        for (;;) {
          std::function<void()> job;
          {
            std::unique_lock lock(mutex_);
            ready_.wait(lock, [&] { return stopping_ || (!held_ && !jobs_.empty()); });
            if (jobs_.empty()) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
          }
          job();
          ++ran_;
        }
      });
    }
  }
  test_pool(const test_pool&) = delete;
  test_pool& operator=(const test_pool&) = delete;
  ~test_pool() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
      held_ = false;
    }
    ready_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void post(std::function<void()> job) {
    {
      const std::lock_guard lock(mutex_);
      jobs_.push_back(std::move(job));
      ++posted_;
    }
    ready_.notify_one();
  }
  faceapp::part_executor executor() {
    return [this](std::function<void()> job) { post(std::move(job)); };
  }
  void hold() {
    const std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() {
    {
      const std::lock_guard lock(mutex_);
      held_ = false;
    }
    ready_.notify_all();
  }
  /// Waits until every job posted so far has run.
  void drain() {
    while (ran_.load() < posted()) std::this_thread::yield();
  }
  [[nodiscard]] unsigned posted() {
    const std::lock_guard lock(mutex_);
    return posted_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  bool held_ = false;
  unsigned posted_ = 0;
  std::atomic<unsigned> ran_{0};
  std::vector<std::jthread> threads_;
};

TEST_CASE("run_parts_on: every part exactly once, on the pool and the caller, whatever the pool does") {
  test_pool pool(2);
  for (const unsigned parts : {0U, 1U, 2U, 3U, 8U}) {
    CAPTURE(parts);
    for (int round = 0; round < 200; ++round) {
      std::vector<std::atomic<int>> runs(std::max(parts, 1U));
      faceapp::detail::run_parts_on(parts, [&](unsigned p) { ++runs.at(p); }, pool.executor());
      for (const auto& r : runs) REQUIRE(r.load() == 1);
    }
  }
  pool.drain();
  // A pool that never gets to the jobs (its threads busy), one that drops them and one that refuses them: the
  // caller takes every part itself, once.
  pool.hold();
  std::vector<int> seen;
  faceapp::detail::run_parts_on(4, [&](unsigned p) { seen.push_back(static_cast<int>(p)); }, pool.executor());
  CHECK(seen == std::vector<int>{0, 1, 2, 3});
  pool.release();
  pool.drain();  // the late jobs find no part left
  seen.clear();
  faceapp::detail::run_parts_on(3, [&](unsigned p) { seen.push_back(static_cast<int>(p)); },
                                [](std::function<void()>) {});
  CHECK(seen == std::vector<int>{0, 1, 2});
  seen.clear();
  faceapp::detail::run_parts_on(3, [&](unsigned p) { seen.push_back(static_cast<int>(p)); },
                                [](std::function<void()>) { throw std::runtime_error("no thread"); });
  CHECK(seen == std::vector<int>{0, 1, 2});
  // A part's exception reaches the caller after every part has run; the lowest part's first.
  std::atomic<int> ran{0};
  CHECK_THROWS_WITH(faceapp::detail::run_parts_on(
                        4,
                        [&](unsigned p) {
                          ++ran;
                          if (p == 1 || p == 3) throw std::runtime_error("part " + std::to_string(p));
                        },
                        pool.executor()),
                    "part 1");
  CHECK(ran.load() == 4);
}

TEST_CASE("gallery scan on an executor: a pool's workers split a query, with the one-thread answers") {
  test_pool pool(2);
  for (const auto codes : {compact_codes::none, compact_codes::int8}) {
    CAPTURE(static_cast<int>(codes));
    pair_of_galleries g({.chunk_rows = 256,
                         .codes = codes,
                         .scan_threads = 3,
                         .parallel_min_rows = 1000,
                         .scan_executor = pool.executor()});
    std::mt19937 rng(21);
    for (int i = 0; i < 2100; ++i) g.add(random_encoding(rng));
    std::vector<encoding> queries;
    for (int i = 0; i < 4; ++i) queries.push_back(random_encoding(rng));
    queries.push_back(g.plain.snapshot()->at(2050));  // a row of the last part
    const unsigned before = pool.posted();
    g.check(queries);
    CHECK(pool.posted() > before);  // the parts went to the pool
    // On a worker of the pool itself (a server's query job): still split, since the executor is there.
    std::optional<std::size_t> from_worker;
    unsigned threads_there = 0;
    pool.post([&] {
      threads_there = g.coded.snapshot()->scan_threads_used();
      from_worker = g.coded.snapshot()->nearest(queries.back())->row;
    });
    pool.drain();
    CHECK(threads_there == 3);
    CHECK(from_worker == std::optional<std::size_t>(2050));
    // Every worker busy: the query does not wait for them.
    pool.hold();
    CHECK(g.coded.snapshot()->nearest(queries[0]) == g.plain.snapshot()->nearest(queries[0]));
    pool.release();
    pool.drain();
  }
}

/// How many of the pages of [p, p + bytes) are resident in this process (/proc/self/pagemap's present bit).
std::size_t pages_present(const void* p, std::size_t bytes) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const int map = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);  // read 8 bytes an entry, at its offset
  REQUIRE(map >= 0);
  const auto first = reinterpret_cast<std::uintptr_t>(p) / page;
  std::size_t present = 0;
  for (std::size_t i = 0; i < (bytes + page - 1) / page; ++i) {
    std::uint64_t entry = 0;
    const auto got = ::pread(map, &entry, sizeof entry, static_cast<off_t>((first + i) * sizeof entry));
    REQUIRE(got == static_cast<ssize_t>(sizeof entry));
    present += (entry >> 63) & 1U;
  }
  ::close(map);
  return present;
}

TEST_CASE("gallery rows in a mapped file: the heap gallery's answers, full chunks not resident") {
  const auto dir = std::filesystem::temp_directory_path() / ("faceapp-rows-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const auto codes : {compact_codes::int8, compact_codes::none}) {
    CAPTURE(static_cast<int>(codes));
    pair_of_galleries g({.chunk_rows = 128, .codes = codes, .rows_dir = dir});
    std::mt19937 rng(31);
    for (int i = 0; i < 1000; ++i) g.add(random_encoding(rng));
    std::vector<encoding> queries;
    for (int i = 0; i < 3; ++i) queries.push_back(random_encoding(rng));
    queries.push_back(g.plain.snapshot()->at(777));
    g.check(queries);
    CHECK(g.coded.snapshot()->at(999) == g.plain.snapshot()->at(999));
    // Erase and compact: chunks freed and made again, their slots of the file reused.
    for (std::uint64_t key = 0; key < 600; key += 2) g.erase(key);
    g.plain.compact();
    g.coded.compact();
    g.check(queries);
    for (int i = 0; i < 300; ++i) g.add(random_encoding(rng));
    g.check(queries);
    CHECK(g.coded.snapshot()->distances(queries[0]) == g.plain.snapshot()->distances(queries[0]));
  }
  // What the file is for: a full chunk's rows are not resident, the last (partial) chunk's are, and a heap
  // gallery's are (the controls that show the measure sees them).
  const auto fill = [](gallery& g, std::size_t rows) {
    std::mt19937 r(5);
    for (std::size_t i = 0; i < rows; ++i) g.add(i, "", random_encoding(r));
  };
  const std::size_t chunk_bytes = 1024 * faceapp::encoding_size * sizeof(float);
  gallery mapped({.chunk_rows = 1024, .codes = compact_codes::int8, .rows_dir = dir});
  gallery heap({.chunk_rows = 1024, .codes = compact_codes::int8});
  fill(mapped, 3 * 1024 + 100);
  fill(heap, 3 * 1024 + 100);
  const auto m = mapped.snapshot();
  const auto h = heap.snapshot();
  for (std::size_t c = 0; c < 3; ++c) {
    CAPTURE(c);
    CHECK(pages_present(m->chunk_values(c).data(), chunk_bytes) == 0);
    CHECK(pages_present(h->chunk_values(c).data(), chunk_bytes) > 0);
  }
  CHECK(pages_present(m->chunk_values(3).data(), 100 * faceapp::encoding_size * sizeof(float)) > 0);
  CHECK(m->nearest(h->at(2000)) == h->nearest(h->at(2000)));  // re-scored from the page cache
  CHECK(m->top_k(h->at(10), 50) == h->top_k(h->at(10), 50));
  CHECK(m->at(5) == h->at(5));
  for (std::size_t c = 0; c < 3; ++c) {  // the re-score and `at` read with pread: still nothing resident
    CAPTURE(c);
    CHECK(pages_present(m->chunk_values(c).data(), chunk_bytes) == 0);
  }
  CHECK(std::filesystem::is_empty(dir));  // the file has no name: nothing to clean up
  std::filesystem::remove_all(dir);
  // A directory that cannot hold the file: an error naming it.
  const auto missing = dir / "missing";
  try {
    gallery bad({.rows_dir = missing});
    FAIL("no error for a missing rows_dir");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find(missing.string()) != std::string::npos);
  }
}

