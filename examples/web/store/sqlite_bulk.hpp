// faceapp-web: a bulk import's inserts into the SQLite store (sqlite_store::add_all_or_nothing), inside the
// caller's transaction on the writer connection: faces 64 to a statement (people, encodings, sources), under ids
// given here from the people table's AUTOINCREMENT sequence, and the persons they join remembered by name, so a
// million rows cost a few thousand statements instead of four million. Boxes and thumbnails (rare in imports)
// go one at a time. The caller indexes the new people's names at the end (sqlite_people::index_persons_after).
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "service/errors.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_people.hpp"
#include "store/store.hpp"

namespace faceapp_web {

class sqlite_bulk_insert {
 public:
  static constexpr std::size_t rows_per_statement = 64;

  /// `persons_before`: persons' largest id when the transaction began (0: no person existed, so a name not
  /// met in this import is new without a look-up).
  sqlite_bulk_insert(const sqlite::connection& w, std::uint64_t persons_before)
      : w_(w), persons_empty_(persons_before == 0) {
    sqlite::statement s(w_, "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'people'), 0), "
                            "coalesce((SELECT max(id) FROM people), 0))");
    next_id_ = s.step() ? static_cast<std::uint64_t>(s.integer(0)) + 1 : 1;
    s.reset();
  }

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
    queued_.push_back({id, person.first, person.second, f.added, f.source, f.encoding});
    if (queued_.size() == rows_per_statement) flush();
  }

  /// Writes the queued faces.
  void flush() {
    if (queued_.empty()) return;
    auto& st = statements_for(queued_.size());
    int i = 1;
    for (const auto& q : queued_) {
      st.people->bind(i, static_cast<std::int64_t>(q.id)).bind(i + 1, *q.name).bind(i + 2, q.added);
      st.people->bind(i + 3, static_cast<std::int64_t>(q.person));
      i += 4;
    }
    st.people->run();
    i = 1;
    for (const auto& q : queued_) {
      st.encodings->bind(i, static_cast<std::int64_t>(q.id));
      st.encodings->bind_blob(i + 1, q.encoding.data(), sizeof(float) * faceapp::encoding_size);
      i += 2;
    }
    st.encodings->run();
    i = 1;
    for (const auto& q : queued_) {
      st.sources->bind(i, static_cast<std::int64_t>(q.id)).bind(i + 1, q.source);
      i += 2;
    }
    st.sources->run();
    queued_.clear();
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
      auto name = sqlite_people::name_of(w_, *f.person);
      if (!name) throw service_error(errc::not_found, "no person with id " + std::to_string(*f.person));
      const auto [it, added] = names_.try_emplace(std::move(*name), 0);
      if (added) it->second = 0;  // a name known by id only: not the lowest id of that name, necessarily
      return {*f.person, &it->first};
    }
    const auto it = names_.find(f.name);
    if (it != names_.end() && it->second != 0) return {it->second, &it->first};
    std::uint64_t id = 0;
    if (!persons_empty_) {
      if (!by_name_) by_name_.emplace(w_, "SELECT min(id) FROM persons WHERE name = ?");
      by_name_->bind(1, f.name);
      if (by_name_->step() && !by_name_->is_null(0)) id = static_cast<std::uint64_t>(by_name_->integer(0));
      by_name_->reset();
    }
    if (id == 0) {
      if (!insert_person_) insert_person_.emplace(w_, "INSERT INTO persons (name) VALUES (?)");
      insert_person_->bind(1, f.name).run();
      id = static_cast<std::uint64_t>(sqlite3_last_insert_rowid(w_.get()));
    }
    const auto [slot, added] = names_.insert_or_assign(f.name, id);
    (void)added;
    return {id, &slot->first};
  }

  const sqlite::connection& w_;
  bool persons_empty_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::string, std::uint64_t> names_;  // name -> the lowest id of a person so named (0: unknown)
  std::vector<queued> queued_;
  statements full_, partial_;
  std::optional<sqlite::statement> by_name_, insert_person_, box_, thumbnail_;
};

}  // namespace faceapp_web
