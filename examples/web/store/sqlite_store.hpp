// faceapp-web: the known faces in an embedded SQLite database (DIR/faceapp.db), in WAL mode.
//
// Tables: people (one row a face: id, name, added, person_id), persons (id, name) and persons_fts (the name
// search's trigram index: sqlite_people.hpp), encodings
// (512-byte blobs: 128 little-endian IEEE floats), boxes, sources, thumbnails (JPEG blobs), schema_version, meta.
// Every change is one transaction, committed with synchronous=FULL before the caller answers (docs/web.md says
// why FULL).
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <faceapp/stages/record.hpp>

#include "store/cluster_store.hpp"
#include "store/results.hpp"
#include "store/sqlite_bulk.hpp"
#include "store/sqlite_clusters.hpp"
#include "store/sqlite_db.hpp"
#include "store/sqlite_gallery_json.hpp"
#include "store/sqlite_people.hpp"
#include "store/sqlite_schema.hpp"
#include "store/store.hpp"
#include "util.hpp"

namespace faceapp_web {


/// The store in DIR/faceapp.db. One connection writes (under a mutex); reads take a connection from a small pool,
/// so that serving thumbnails and pages runs beside an add (WAL: readers do not block the writer nor it them).
class sqlite_store final : public store_backend, public results_store, public cluster_store {
 public:
  static constexpr int schema_version = sqlite_schema::version_known;
  /// Pages of 16 KB for a new database (an existing one keeps its own): an encoding is a 512-byte blob, 31 to a
  /// page instead of 7, and a bulk import writes a quarter of the pages (10 M rows: 6.9 GB instead of 7.4, 60
  /// instead of 69 s; 64 KB pages gain nothing more).
  static constexpr const char* new_database_page_size = "PRAGMA page_size = 16384";

  /// Opens (creating if needed) DIR/faceapp.db. When DIR/gallery.json (the JSON file of earlier versions)
  /// exists, its faces are copied into the database in one transaction and the file is renamed
  /// gallery.json.bak.
  explicit sqlite_store(const std::filesystem::path& dir) : file_(dir / "faceapp.db"), writer_(file_, true) {
    writer_.exec(new_database_page_size);
    writer_.exec("PRAGMA journal_mode=WAL");
    writer_.exec("PRAGMA synchronous=FULL");
    sqlite_schema::create(writer_, file_);
    sqlite_gallery_json::migrate(writer_, dir / "gallery.json", file_,
                                 [this](const new_face& f, std::uint64_t id) { insert(f, id); });
  }

  /// Opens (creating if needed) the database in `file` itself (`--db sqlite:PATH`).
  struct at_file {};
  sqlite_store(const std::filesystem::path& file, at_file) : file_(file), writer_(file_, true) {
    writer_.exec(new_database_page_size);
    writer_.exec("PRAGMA journal_mode=WAL");
    writer_.exec("PRAGMA synchronous=FULL");
    sqlite_schema::create(writer_, file_);
    // The records too (results_store); a database made by the embedded store gets the table when first opened so.
    writer_.exec(
        "CREATE TABLE IF NOT EXISTS results (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, "
        "input TEXT NOT NULL, face INTEGER, box_top INTEGER, box_right INTEGER, box_bottom INTEGER, "
        "box_left INTEGER, name TEXT NOT NULL, distance REAL, match INTEGER)");
  }

  void insert_results(std::span<const faceapp::record_row> rows) override {
    const std::lock_guard lock(write_mutex_);
    sqlite::transaction t(writer_);
    sqlite::statement s(writer_, "INSERT INTO results (" + results_column_list() +
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const auto& r : rows) {
      const auto cells = results_cells_of(r);
      for (std::size_t i = 0; i < cells.size(); ++i) {
        if (cells[i]) s.bind(static_cast<int>(i + 1), std::string_view(*cells[i]));
      }
      s.run();  // unbound parameters are NULL; run() clears the bindings
    }
    t.commit();
  }

  using results_store::read_results;
  void read_results(const std::function<void(const std::string&)>& fn, std::string_view since) const override {
    auto c = reader();
    // Pages by id, each its own statement, so that no read transaction stays open while a slow client takes a
    // page (it would hold back the WAL's checkpoints).
    const std::string query = "SELECT id, " + results_column_list() + " FROM results WHERE id > ?1" +
                              (since.empty() ? "" : " AND time >= ?2") + " ORDER BY id LIMIT 5000";
    std::int64_t after = 0;
    results_cells cells;
    for (;;) {
      std::string text;
      {
        sqlite::statement s(*c, query);
        s.bind(1, after);
        if (!since.empty()) s.bind(2, since);
        while (s.step()) {
          after = s.integer(0);
          for (std::size_t i = 0; i < cells.size(); ++i) {
            const int col = static_cast<int>(i) + 1;
            cells[i] = s.is_null(col) ? std::nullopt : std::optional<std::string>(s.text(col));
          }
          text += faceapp::csv_sink::format(record_row_of(cells));
        }
      }
      if (text.empty()) break;
      fn(text);
    }
  }

  void load(const row_fn& row) const override {
    auto c = reader();
    sqlite::statement s(*c, "SELECT p.id, p.name, e.encoding FROM people p JOIN encodings e ON e.person_id = p.id "
                            "ORDER BY p.id");
    faceapp::encoding e;
    while (s.step()) {
      const auto blob = s.blob(2);
      if (blob.size() != sizeof(float) * faceapp::encoding_size) {
        throw std::runtime_error("database " + file_.string() + ": the encoding of face " +
                                 std::to_string(s.integer(0)) + " is " + std::to_string(blob.size()) +
                                 " bytes, not 512");
      }
      std::memcpy(e.data(), blob.data(), blob.size());
      row(static_cast<std::uint64_t>(s.integer(0)), s.text(1), e);
    }
  }

  person add(const new_face& f) override {
    const std::lock_guard lock(write_mutex_);
    sqlite::transaction t(writer_);
    const auto [id, owner] = insert(f, std::nullopt);
    t.commit();
    person p{id, owner.second, owner.first, f.added, f.source, f.box.value_or(faceapp::box{}), nullptr,
             !f.thumbnail.empty()};
    if (!f.thumbnail.empty()) p.thumbnail = std::make_shared<const std::string>(f.thumbnail);
    return p;
  }

  std::uint64_t add_many(std::span<const new_face> faces) override {
    const std::lock_guard lock(write_mutex_);
    sqlite::transaction t(writer_);
    for (const auto& f : faces) insert(f, std::nullopt);
    t.commit();
    return faces.size();
  }

  /// Adds every face `next` fills in (it returns false when there is none left) in one transaction: all of them
  /// or, when `next` or an insert throws, none (a bulk import: 64 faces a statement, sqlite_bulk.hpp). The name
  /// index gets the new people in one statement at the end, in the same transaction
  /// (sqlite_people::create_insert_trigger), and so does the persons' count; into an empty persons table, so does
  /// the index by name.
  /// `expected`: how many faces `next` will give, if known (0: not known), to size the import's table of names.
  std::uint64_t add_all_or_nothing(const std::function<bool(new_face&)>& next, std::size_t expected = 0) {
    const std::lock_guard lock(write_mutex_);
    person_statements_.reset();  // they would run the trigger dropped here
    sqlite::transaction t(writer_);
    const auto before = sqlite_people::last_person_id(writer_);
    writer_.exec("DROP TRIGGER persons_fts_insert; DROP TRIGGER persons_count_insert");
    // Into an empty persons table the import looks no name up, so the name index is built once at the end.
    const bool rebuild_name_index = before == 0;
    if (rebuild_name_index) writer_.exec("DROP INDEX persons_name");
    std::uint64_t n = 0;
    std::uint64_t persons_added = 0;
    {
      sqlite_bulk_insert bulk(writer_, before);
      bulk.reserve(expected);
      new_face f;
      while (next(f)) {
        bulk.add(f);
        ++n;
      }
      bulk.flush();
      persons_added = bulk.persons_created();
    }
    if (rebuild_name_index) writer_.exec(sqlite_people::create_persons_name_index);
    sqlite_people::index_persons_after(writer_, before, persons_added);
    writer_.exec(sqlite_people::create_insert_trigger);
    writer_.exec(sqlite_people::create_count_insert_trigger);
    t.commit();
    return n;
  }

  bool remove(std::uint64_t id) override {
    const std::lock_guard lock(write_mutex_);
    sqlite::transaction t(writer_);
    sqlite_people::delete_face(writer_, id);  // the people row last: sqlite3_changes counts it
    if (sqlite3_changes(writer_.get()) == 0) return false;  // rolled back: nothing was there
    t.commit();
    return true;
  }

  [[nodiscard]] std::optional<person> find(std::uint64_t id) const override {
    auto c = reader();
    sqlite::statement s(*c, std::string(sqlite_people::select_face) + " WHERE p.id = ?");
    s.bind(1, static_cast<std::int64_t>(id));
    if (!s.step()) return std::nullopt;
    auto p = sqlite_people::face_of(s);
    s.reset();
    return p;
  }

  [[nodiscard]] people_page list(std::string_view query, std::uint64_t offset, std::uint64_t limit,
                                 bool count) const override {
    auto c = reader();
    people_page page;
    const std::string pattern = like_pattern(query);
    const std::string where = query.empty() ? "" : " WHERE p.name LIKE ?1 ESCAPE '\\'";
    {
      sqlite::statement s(*c, std::string(sqlite_people::select_face) + where + " ORDER BY p.id LIMIT ?2 OFFSET ?3");
      if (!query.empty()) s.bind(1, pattern);
      const auto wanted = std::min<std::uint64_t>(limit, 1U << 30);
      s.bind(2, static_cast<std::int64_t>(wanted + 1));  // one more: whether a next page exists
      s.bind(3, static_cast<std::int64_t>(std::min<std::uint64_t>(offset, std::uint64_t{1} << 62)));
      while (s.step()) {
        if (page.people.size() == wanted) {
          page.next = next_cursor(page, offset, 0);  // the keyset cursor after this page
          break;
        }
        page.people.push_back(sqlite_people::face_of(s));
      }
    }
    if (count) {
      sqlite::statement s(*c, "SELECT count(*) FROM people p" + where);
      if (!query.empty()) s.bind(1, pattern);
      if (s.step()) page.total = static_cast<std::uint64_t>(s.integer(0));
      s.reset();
    }
    return page;
  }

  [[nodiscard]] people_page list_after(std::uint64_t after, std::uint64_t limit) const override {
    auto c = reader();
    people_page page;
    const auto wanted = std::min<std::uint64_t>(limit, 1U << 30);
    sqlite::statement s(*c, std::string(sqlite_people::select_face) + " WHERE p.id > ?1 ORDER BY p.id LIMIT ?2");
    s.bind(1, static_cast<std::int64_t>(std::min<std::uint64_t>(after, std::uint64_t{1} << 62)));
    s.bind(2, static_cast<std::int64_t>(wanted + 1));  // one more: whether a next page exists
    while (s.step()) {
      if (page.people.size() == wanted) {
        page.next = next_cursor(page, 0, after);
        break;
      }
      page.people.push_back(sqlite_people::face_of(s));
    }
    return page;
  }

  [[nodiscard]] std::optional<std::string> thumbnail(std::uint64_t id) const override {
    auto c = reader();
    sqlite::statement s(*c, "SELECT jpeg FROM thumbnails WHERE person_id = ?");
    s.bind(1, static_cast<std::int64_t>(id));
    if (!s.step()) return std::nullopt;
    std::string out(s.blob(0));
    s.reset();
    return out;
  }

  person_summary create_person(const std::string& name) override {
    return write([&] { return person_summary{sqlite_people::create(writer_, name), name, 0}; });
  }
  [[nodiscard]] persons_page list_persons(std::string_view query, std::uint64_t offset,
                                          std::uint64_t limit) const override {
    return sqlite_people::list(*reader(), query, offset, 0, limit);
  }
  [[nodiscard]] persons_page list_persons_after(std::string_view query, std::uint64_t after,
                                                std::uint64_t limit) const override {
    return sqlite_people::list(*reader(), query, 0, after, limit);
  }
  [[nodiscard]] std::optional<person_detail> find_person(std::uint64_t id) const override {
    return sqlite_people::find(*reader(), id);
  }
  std::optional<person_change> rename_person(std::uint64_t id, const std::string& name) override {
    return write([&] { return sqlite_people::rename(writer_, id, name); });
  }
  std::optional<person_change> remove_person(std::uint64_t id) override {
    return write([&] { return sqlite_people::remove(writer_, id); });
  }
  std::optional<person_change> merge_persons(std::uint64_t into, std::uint64_t from) override {
    return write([&] { return sqlite_people::merge(writer_, into, from); });
  }
  [[nodiscard]] std::vector<face_ref> first_faces(std::span<const std::uint64_t> persons,
                                                  std::size_t per_person) const override {
    auto c = reader();
    return sqlite_people::first_faces(*c, persons, per_person);
  }
  bool remove_person_face(std::uint64_t id, std::uint64_t face) override {
    return write([&] { return sqlite_people::delete_face_of(writer_, id, face); });
  }

  // ---- pending clusters (cluster_store.hpp, sqlite_clusters.hpp) ----

  std::vector<std::uint64_t> save_clusters(std::span<const pending_cluster> clusters, std::int64_t now_s) override {
    return write([&] { return sqlite_clusters::save(writer_, clusters, now_s); });
  }
  void expire_clusters(std::int64_t now_s) override {
    write([&] {
      sqlite_clusters::expire(writer_, now_s);
      return true;
    });
  }
  [[nodiscard]] std::vector<pending_cluster> pending_clusters(std::int64_t now_s) const override {
    return sqlite_clusters::read(*reader(), now_s, std::nullopt);
  }
  [[nodiscard]] std::optional<pending_cluster> find_cluster(std::uint64_t id, std::int64_t now_s) const override {
    auto found = sqlite_clusters::read(*reader(), now_s, id);
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  }
  bool discard_cluster(std::uint64_t id, std::int64_t now_s) override {
    return write([&] { return sqlite_clusters::remove(writer_, id, now_s); });
  }
  std::optional<std::vector<person>> enrol_cluster(std::uint64_t id, const std::string& name, const std::string& added,
                                                   std::int64_t now_s, const std::vector<bool>& skip) override {
    return write([&]() -> std::optional<std::vector<person>> {
      auto found = sqlite_clusters::read(writer_, now_s, id);
      if (found.empty() || !sqlite_clusters::remove(writer_, id, now_s)) return std::nullopt;
      std::vector<person> out;
      for (std::size_t n = 0; n < found.front().faces.size(); ++n) {
        if (n < skip.size() && skip[n]) continue;
        auto& f = found.front().faces[n];
        const new_face face{name, std::nullopt, f.encoding, f.source, f.box, std::move(f.thumbnail), added};
        const auto [face_id, owner] = insert(face, std::nullopt);
        out.push_back({face_id, owner.second, owner.first, added, face.source, f.box, nullptr, true});
      }
      return out;
    });
  }

  [[nodiscard]] std::string describe() const override { return file_.string(); }

  /// For a bulk import with no server on the database: a rollback journal instead of the WAL while it lasts,
  /// so appended rows are written once (the WAL writes them twice: log, then checkpoint); every batch is
  /// still one durable transaction. Back to WAL on destruction. False (and nothing changed) when another
  /// connection has the database open.
  bool begin_bulk() {
    const std::lock_guard lock(write_mutex_);
    insert_people_.reset();  // a journal mode change needs no statement in progress
    insert_encoding_.reset();
    insert_box_.reset();
    insert_source_.reset();
    insert_thumbnail_.reset();
    person_statements_.reset();
    char* error = nullptr;
    std::string mode;
    const auto got = [](void* out, int, char** values, char**) {
      *static_cast<std::string*>(out) = values[0] != nullptr ? values[0] : "";
      return 0;
    };
    sqlite3_exec(writer_.get(), "PRAGMA journal_mode=TRUNCATE", got, &mode, &error);
    sqlite3_free(error);
    bulk_ = mode == "truncate";
    // A page cache the import's transaction fits in better: each spill of dirty pages to the file before the
    // commit syncs the journal first (synchronous=FULL).
    if (bulk_) writer_.exec("PRAGMA cache_size = -131072");
    // The sorter of the name index built at the end spills to temporary files past the cache: in memory instead
    // (about 300 MB at ten million names; 7.1 -> 5.4 s).
    if (bulk_) writer_.exec("PRAGMA temp_store = MEMORY");
    return bulk_;
  }

  ~sqlite_store() override {
    if (!bulk_) return;
    insert_people_.reset();
    insert_encoding_.reset();
    insert_box_.reset();
    insert_source_.reset();
    insert_thumbnail_.reset();
    person_statements_.reset();
    sqlite3_exec(writer_.get(), "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
  }
  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

 private:
  /// Runs `f` in one committed transaction of the writer (rolled back when it throws); returns what it returns.
  template <class F>
  std::invoke_result_t<F&> write(F f) {
    const std::lock_guard lock(write_mutex_);
    sqlite::transaction t(writer_);
    auto out = f();
    t.commit();
    return out;
  }

  /// Stores a face (under `id`, or the next one); returns its id, its person's id and name.
  std::pair<std::uint64_t, std::pair<std::uint64_t, std::string>> insert(const new_face& f,
                                                                         std::optional<std::uint64_t> id) {
    auto owner = sqlite_people::person_for(writer_, f, person_statements_);
    if (!insert_people_) {
      insert_people_.emplace(writer_, "INSERT INTO people (id, name, added, person_id) VALUES (?, ?, ?, ?)");
      insert_encoding_.emplace(writer_, "INSERT INTO encodings (person_id, encoding) VALUES (?, ?)");
      insert_box_.emplace(writer_,
                          "INSERT INTO boxes (person_id, box_top, box_right, box_bottom, box_left) VALUES (?,?,?,?,?)");
      insert_source_.emplace(writer_, "INSERT INTO sources (person_id, source) VALUES (?, ?)");
      insert_thumbnail_.emplace(writer_, "INSERT INTO thumbnails (person_id, jpeg) VALUES (?, ?)");
    }
    if (id) insert_people_->bind(1, static_cast<std::int64_t>(*id));
    insert_people_->bind(2, owner.second).bind(3, f.added).bind(4, static_cast<std::int64_t>(owner.first)).run();
    const auto row = sqlite3_last_insert_rowid(writer_.get());
    insert_encoding_->bind(1, row).bind_blob(2, f.encoding.data(), sizeof(float) * faceapp::encoding_size).run();
    if (f.box) {
      insert_box_->bind(1, row).bind(2, f.box->top).bind(3, f.box->right).bind(4, f.box->bottom).bind(5, f.box->left);
      insert_box_->run();
    }
    insert_source_->bind(1, row).bind(2, f.source).run();
    if (!f.thumbnail.empty()) insert_thumbnail_->bind(1, row).bind_blob(2, f.thumbnail.data(), f.thumbnail.size()).run();
    return {static_cast<std::uint64_t>(row), std::move(owner)};
  }

  /// A reader connection from the pool (opened on first need), given back when the handle goes.
  struct reader_deleter {
    const sqlite_store* store;
    void operator()(sqlite::connection* c) const {
      const std::lock_guard lock(store->pool_mutex_);
      store->pool_.emplace_back(c);
    }
  };
  using reader_handle = std::unique_ptr<sqlite::connection, reader_deleter>;
  [[nodiscard]] reader_handle reader() const {
    {
      const std::lock_guard lock(pool_mutex_);
      if (!pool_.empty()) {
        auto* c = pool_.back().release();
        pool_.pop_back();
        return reader_handle(c, reader_deleter{this});
      }
    }
    return reader_handle(new sqlite::connection(file_, false), reader_deleter{this});
  }

  std::filesystem::path file_;
  std::mutex write_mutex_;
  sqlite::connection writer_;
  std::optional<sqlite::statement> insert_people_, insert_encoding_, insert_box_, insert_source_, insert_thumbnail_;
  sqlite_people::person_statements person_statements_;
  bool bulk_ = false;
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<sqlite::connection>> pool_;
};

}  // namespace faceapp_web
