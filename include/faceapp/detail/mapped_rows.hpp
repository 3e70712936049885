// faceapp: a gallery's float32 rows in a file instead of the heap (gallery_options::rows_dir), so that a large
// gallery with a compact copy keeps only the copy resident.
//
// The file is unnamed (O_TMPFILE in the directory given: nothing to clean up after a crash) and each chunk maps
// its own slot of it, MAP_SHARED. When a chunk is full the writer drops its pages from the process's resident
// memory (madvise MADV_DONTNEED: for a shared file mapping the data stays in the page cache, and a later read
// maps it again); the kernel writes the pages to the file in the background and may evict them when memory is
// short. The compact scan never reads these rows; the exact re-score reads a few per query (a minor page fault
// each, or a read from disk after an eviction). A chunk's slot is returned, its disk space punched out, when the
// last view holding the chunk goes. The re-score and `at` read their rows with pread, which maps nothing: a
// query's scattered rows (many, when a face is stored many times) cost a copy each, not a page fault and 64 KB
// of resident pages.
#pragma once

#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace faceapp::detail {

/// The unnamed file the rows of one gallery are mapped from, handing out fixed-size slots (one a chunk).
class mapped_rows_file {
 public:
  /// Opens an unnamed file in `dir` for slots of `slot_bytes` (a multiple of the page size). Throws
  /// std::system_error naming the directory when it cannot (no such directory, a file system without
  /// O_TMPFILE, or a system other than Linux).
  mapped_rows_file(const std::filesystem::path& dir, std::size_t slot_bytes) : dir_(dir), slot_bytes_(slot_bytes) {
#if defined(__linux__)
    fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0) fail("cannot create an unnamed file in");
    const long page = ::sysconf(_SC_PAGESIZE);
    if (page <= 0 || slot_bytes % static_cast<std::size_t>(page) != 0) {
      ::close(fd_);
      throw std::invalid_argument("gallery: rows_dir needs chunks of a whole number of pages (chunk_rows * 512 "
                                  "bytes a multiple of " + std::to_string(page) + ")");
    }
#else
    throw std::system_error(std::make_error_code(std::errc::function_not_supported),
                            "gallery: rows_dir (" + dir.string() + ") needs Linux");
#endif
  }
  mapped_rows_file(const mapped_rows_file&) = delete;
  mapped_rows_file& operator=(const mapped_rows_file&) = delete;
  ~mapped_rows_file() {
#if defined(__linux__)
    ::close(fd_);
#endif
  }

  /// A slot mapped read-write: its bytes read 0 until written. Returns the address and the slot's number.
  std::pair<float*, std::size_t> map() {
#if defined(__linux__)
    std::size_t slot = 0;
    {
      const std::lock_guard lock(mutex_);
      if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
      } else {
        slot = slots_++;
        if (::ftruncate(fd_, static_cast<off_t>(slots_ * slot_bytes_)) != 0) {
          --slots_;
          fail("cannot grow the rows file in");
        }
      }
    }
    void* p = ::mmap(nullptr, slot_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_,
                     static_cast<off_t>(slot * slot_bytes_));
    if (p == MAP_FAILED) {
      give_back(slot);
      fail("cannot map the rows file in");
    }
    return {static_cast<float*>(p), slot};
#else
    return {nullptr, 0};
#endif
  }

  /// Unmaps a slot and frees its disk space for the next chunk.
  void unmap(float* p, std::size_t slot) noexcept {
#if defined(__linux__)
    ::munmap(p, slot_bytes_);
    // A hole reads as zeros: a reused slot starts as a new one does.
    ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(slot * slot_bytes_),
                static_cast<off_t>(slot_bytes_));
    give_back(slot);
#else
    (void)p;
    (void)slot;
#endif
  }

  /// Copies `bytes` bytes at `offset` in slot `slot` into `out` with pread: from the page cache (or the disk),
  /// without mapping the page into the process, so that a re-score's scattered rows leave nothing resident.
  void read(std::size_t slot, std::size_t offset, void* out, std::size_t bytes) const {
#if defined(__linux__)
    auto* to = static_cast<char*>(out);
    auto at = static_cast<off_t>(slot * slot_bytes_ + offset);
    while (bytes > 0) {
      const ssize_t n = ::pread(fd_, to, bytes, at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("cannot read the rows file in");
      to += n;
      at += n;
      bytes -= static_cast<std::size_t>(n);
    }
#else
    (void)slot, (void)offset, (void)out, (void)bytes;
#endif
  }

  /// Drops a full slot's pages from the process's resident memory; its contents stay (see the file's comment).
  void release(float* p) const noexcept {
#if defined(__linux__)
    ::madvise(p, slot_bytes_, MADV_DONTNEED);
#else
    (void)p;
#endif
  }

  [[nodiscard]] std::size_t slot_bytes() const noexcept { return slot_bytes_; }

 private:
  void give_back(std::size_t slot) noexcept {
    const std::lock_guard lock(mutex_);
    try {
      free_.push_back(slot);
    } catch (...) {  // out of memory: the slot is lost, not reused
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw std::system_error(errno, std::generic_category(), "gallery: " + what + " " + dir_.string());
  }

  std::filesystem::path dir_;
  std::size_t slot_bytes_;
  int fd_ = -1;
  std::mutex mutex_;
  std::size_t slots_ = 0;
  std::vector<std::size_t> free_;
};

/// Frees a chunk's rows: the heap block, or the mapped slot of the file (which it keeps open until then).
struct gallery_values_deleter {
  std::shared_ptr<mapped_rows_file> file;  // null: heap
  std::size_t slot = 0;
  void operator()(float* p) const noexcept {
    if (file) {
      file->unmap(p, slot);
    } else {
      ::operator delete(p, std::align_val_t{64});
    }
  }
};

}  // namespace faceapp::detail
