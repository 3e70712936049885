// faceapp-web: a bulk import's inserts into the SQLite store (sqlite_store::add_all_or_nothing), inside the
// caller's transaction on the writer connection: faces 64 to a statement (people, encodings, sources) and the
// persons new to the import with them, under ids given here from the tables' AUTOINCREMENT sequences, and the
// persons they join remembered by name, so a million rows cost a few thousand statements instead of five
// million. The queued values are bound without SQLite's copy, from slots reused statement after statement.
// Boxes and thumbnails (rare in imports) go one at a time. The caller indexes the new people's names at the end
// (sqlite_people::index_persons_after).
#pragma once

#include <sqlite3.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "service/errors.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_people.hpp"
#include "store/store.hpp"

namespace faceapp_web {

/// The import's table of names: name -> the lowest id of a person so named (0: unknown). Open addressing over
/// slots of 8 bytes (a tag of the hash and the entry's index), linear probing at a load of at most a half, the
/// entries in a deque so that a name never moves (the import keeps pointers to them). A new name costs one cache
/// miss on the slots; std::unordered_map cost a bucket, a node and an allocation, a tenth of a 10 M import. The
/// slots (256 MB at ten million names) sit in huge pages where the kernel gives them: each look-up lands on a
/// random page, and with 4 KB pages nearly every one also missed the TLB (most of the table's time, under a VM).
class import_names {
 public:
  struct entry {
    std::string name;
    std::uint64_t id = 0;
    std::uint64_t hash = 0;
  };

  void reserve(std::size_t n) {
    if (n * 2 > size_) rehash(std::bit_ceil(std::max<std::size_t>(n * 2, 16)));
  }

  /// The entry of `name`, made with id 0 when there was none.
  entry& find_or_add(std::string_view name) {
    if ((entries_.size() + 1) * 2 > size_) rehash(std::max<std::size_t>(size_ * 2, 16));
    const std::uint64_t h = std::hash<std::string_view>{}(name);
    const auto tag = static_cast<std::uint32_t>(h >> 32);
    const std::size_t mask = size_ - 1;
    for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
      auto& slot = slots_.get()[i];
      if (slot.index == 0) {
        entries_.push_back({std::string(name), 0, h});
        slot = {tag, static_cast<std::uint32_t>(entries_.size())};
        return entries_.back();
      }
      auto& e = entries_[slot.index - 1];
      if (slot.tag == tag && e.name == name) return e;
    }
  }

 private:
  struct slot_type {
    std::uint32_t tag = 0;
    std::uint32_t index = 0;  // 1 + the entry's index; 0: empty
  };

  struct release {
    void operator()(slot_type* p) const noexcept { std::free(p); }
  };
  using slot_buffer = std::unique_ptr<slot_type[], release>;

  /// `size` empty slots, 2 MB aligned and advised into huge pages (Linux).
  static slot_buffer allocate(std::size_t size) {
    constexpr std::size_t huge = std::size_t{2} << 20;
    const std::size_t bytes = (size * sizeof(slot_type) + huge - 1) / huge * huge;
    auto* p = static_cast<slot_type*>(std::aligned_alloc(huge, bytes));
    if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__)
    madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without it the table is slower, not wrong
#endif
    std::memset(static_cast<void*>(p), 0, bytes);  // every slot empty
    return slot_buffer(p);
  }

  void rehash(std::size_t size) {
    if (entries_.size() >= std::numeric_limits<std::uint32_t>::max()) throw std::length_error("import: too many names");
    auto slots = allocate(size);
    const std::size_t mask = size - 1;
    for (std::size_t k = 0; k < entries_.size(); ++k) {
      const std::uint64_t h = entries_[k].hash;
      std::size_t i = static_cast<std::size_t>(h) & mask;
      while (slots.get()[i].index != 0) i = (i + 1) & mask;
      slots.get()[i] = {static_cast<std::uint32_t>(h >> 32), static_cast<std::uint32_t>(k + 1)};
    }
    slots_ = std::move(slots);
    size_ = size;
  }

  slot_buffer slots_;
  std::size_t size_ = 0;
  std::deque<entry> entries_;
};

class sqlite_bulk_insert {
 public:
  static constexpr std::size_t rows_per_statement = 64;

  /// The persons this import has made so far (written or queued).
  [[nodiscard]] std::size_t persons_created() const noexcept { return created_.size(); }

  /// `persons_before`: persons' largest id when the transaction began (0: no person existed, so a name not
  /// met in this import is new without a look-up).
  sqlite_bulk_insert(const sqlite::connection& w, std::uint64_t persons_before)
      : w_(w),
        persons_empty_(persons_before == 0),
        next_id_(sqlite_people::id_sequence(w_, "people") + 1),
        first_person_(sqlite_people::id_sequence(w_, "persons") + 1),
        next_person_(first_person_),
        queued_(rows_per_statement) {}

  /// Room for the names of `faces` faces, each perhaps a person of its own: no rehash of the table of names as
  /// it grows to ten million.
  void reserve(std::size_t faces) { names_.reserve(faces); }

  /// Queues a face (written when 64 are queued, or by flush()).
  void add(const new_face& f) {
    const auto person = person_of(f);
    const auto id = next_id_++;
    if (f.box) {
      if (!box_) box_.emplace(w_, "INSERT INTO boxes (person_id, box_top, box_right, box_bottom, box_left) VALUES (?,?,?,?,?)");
      box_->bind(1, static_cast<std::int64_t>(id)).bind(2, f.box->top).bind(3, f.box->right).bind(4, f.box->bottom);
      box_->bind(5, f.box->left).run();
    }
    if (!f.thumbnail.empty()) {
      if (!thumbnail_) thumbnail_.emplace(w_, "INSERT INTO thumbnails (person_id, jpeg) VALUES (?, ?)");
      thumbnail_->bind(1, static_cast<std::int64_t>(id)).bind_blob(2, f.thumbnail.data(), f.thumbnail.size()).run();
    }
    auto& q = queued_[count_++];  // the slot's strings keep their storage: no allocation once they are grown
    q.id = id;
    q.person = person.first;
    q.name = person.second;
    q.added = f.added;
    q.source = f.source;
    q.encoding = f.encoding;
    if (count_ == rows_per_statement) flush();
  }

  /// Writes the queued persons, then the queued faces.
  void flush() {
    if (persons_count_ != 0) {  // the last persons_count_ of created_
      auto& st = persons_for(persons_count_);
      int i = 1;
      for (std::size_t p = created_.size() - persons_count_; p < created_.size(); ++p) {
        st.bind(i, static_cast<std::int64_t>(first_person_ + p)).bind_unowned(i + 1, *created_[p]);
        i += 2;
      }
      st.run();
      persons_count_ = 0;
    }
    if (count_ == 0) return;
    auto& st = statements_for(count_);
    const auto slots = std::span(queued_).first(count_);
    int i = 1;
    for (const auto& q : slots) {
      st.people->bind(i, static_cast<std::int64_t>(q.id)).bind_unowned(i + 1, *q.name).bind_unowned(i + 2, q.added);
      st.people->bind(i + 3, static_cast<std::int64_t>(q.person));
      i += 4;
    }
    st.people->run();
    i = 1;
    for (const auto& q : slots) {
      st.encodings->bind(i, static_cast<std::int64_t>(q.id));
      st.encodings->bind_blob_unowned(i + 1, q.encoding.data(), sizeof(float) * faceapp::encoding_size);
      i += 2;
    }
    st.encodings->run();
    i = 1;
    for (const auto& q : slots) {
      st.sources->bind(i, static_cast<std::int64_t>(q.id)).bind_unowned(i + 1, q.source);
      i += 2;
    }
    st.sources->run();
    count_ = 0;
  }

 private:
  struct queued {
    std::uint64_t id = 0;
    std::uint64_t person = 0;
    const std::string* name = nullptr;  // the person's, kept in names_
    std::string added, source;
    faceapp::encoding encoding{};
  };
  struct statements {
    std::size_t rows = 0;
    std::optional<sqlite::statement> people, encodings, sources;
  };

  static std::string values(std::size_t rows, const char* one) {
    std::string out;
    for (std::size_t r = 0; r < rows; ++r) {  // appended in two steps: GCC 12 warns (-Wrestrict) on "," + string
      if (r != 0) out += ',';
      out += one;
    }
    return out;
  }

  sqlite::statement& persons_for(std::size_t rows) {
    auto& st = rows == rows_per_statement ? persons_full_ : persons_partial_;
    if (st.rows != rows) {
      st.people.reset();
      st.people.emplace(w_, "INSERT INTO persons (id, name) VALUES " + values(rows, "(?,?)"));
      st.rows = rows;
    }
    return *st.people;
  }

  statements& statements_for(std::size_t rows) {
    auto& st = rows == rows_per_statement ? full_ : partial_;
    if (st.rows != rows) {
      st.people.reset();
      st.encodings.reset();
      st.sources.reset();
      st.people.emplace(w_, "INSERT INTO people (id, name, added, person_id) VALUES " + values(rows, "(?,?,?,?)"));
      st.encodings.emplace(w_, "INSERT INTO encodings (person_id, encoding) VALUES " + values(rows, "(?,?)"));
      st.sources.emplace(w_, "INSERT INTO sources (person_id, source) VALUES " + values(rows, "(?,?)"));
      st.rows = rows;
    }
    return st;
  }

  /// The person a face joins (see new_face) and its name, as sqlite_people::person_for finds it.
  std::pair<std::uint64_t, const std::string*> person_of(const new_face& f) {
    if (f.person) {
      if (*f.person >= first_person_ && *f.person < next_person_) {  // new to this import: perhaps still queued
        return {*f.person, created_[static_cast<std::size_t>(*f.person - first_person_)]};
      }
      const auto name = sqlite_people::name_of(w_, *f.person);
      if (!name) throw service_error(errc::not_found, "no person with id " + std::to_string(*f.person));
      // A name known by id only keeps 0: that id is not the lowest of that name, necessarily.
      return {*f.person, &names_.find_or_add(*name).name};
    }
    auto& known = names_.find_or_add(f.name);
    if (known.id != 0) return {known.id, &known.name};
    std::uint64_t id = 0;
    if (!persons_empty_) {
      if (!by_name_) by_name_.emplace(w_, "SELECT min(id) FROM persons WHERE name = ?");
      by_name_->bind(1, f.name);
      if (by_name_->step() && !by_name_->is_null(0)) id = static_cast<std::uint64_t>(by_name_->integer(0));
      by_name_->reset();
    }
    const bool created = id == 0;
    if (created) id = next_person_++;
    known.id = id;
    if (created) {  // written with the faces queued with it, before them
      created_.push_back(&known.name);
      ++persons_count_;
    }
    return {id, &known.name};
  }

  const sqlite::connection& w_;
  bool persons_empty_;
  std::uint64_t next_id_ = 1;
  std::uint64_t first_person_ = 1, next_person_ = 1;  // the ids of the persons this import creates
  import_names names_;
  std::vector<const std::string*> created_;  // the names of persons first_person_, first_person_ + 1, ...
  std::size_t persons_count_ = 0;            // the last of created_ not written yet
  std::vector<queued> queued_;               // rows_per_statement slots, the first count_ of them queued
  std::size_t count_ = 0;
  statements full_, partial_, persons_full_, persons_partial_;
  std::optional<sqlite::statement> by_name_, box_, thumbnail_;
};

}  // namespace faceapp_web
