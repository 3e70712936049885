// faceapp-web's store layer: where the known faces and the records are kept. `store_backend` is the interface a
// database implements (SQLite in sqlite_store.hpp, PostgreSQL in pg_store.hpp); face_store.hpp keeps the
// in-memory gallery in front of it; results.hpp maps the records onto the results table of both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <faceapp/core/encoding.hpp>
#include <faceapp/core/geometry.hpp>
#include <faceapp/stages/record.hpp>

#include "service/errors.hpp"  // unavailable_error

namespace faceapp_web {

/// What the pages show about a known face besides its encoding. (Named `person` from when every face was a
/// person of its own; a face now belongs to a person, person_id, and carries that person's name.)
struct person {
  std::uint64_t id = 0;
  std::string name;
  std::uint64_t person_id = 0;
  std::string added;   // UTC ISO-8601
  std::string source;  // "sha256:<hex> (<file name>)" of the photo it came from, or where it was imported from
  faceapp::box box;    // in that photo (all zero when imported without one)
  std::shared_ptr<const std::string> thumbnail;  // JPEG bytes of the face; null in listings (see has_thumbnail)
  bool has_thumbnail = false;
};

/// A face to store. It joins the person `person` when set (not_found when there is none), else the person of
/// that exact name with the lowest id, created when there is none.
struct new_face {
  std::string name;
  std::optional<std::uint64_t> person;
  faceapp::encoding encoding;
  std::string source;
  std::optional<faceapp::box> box;  // none for imported encodings
  std::string thumbnail;            // JPEG; empty for imported encodings
  std::string added;                // UTC ISO-8601
};

/// One page of the list of known faces, in id order.
struct people_page {
  std::vector<person> people;
  std::uint64_t total = 0;  // matching the search, over all pages
  std::optional<std::uint64_t> next;  // the `after` of the next page (the last id here); none at the end
};


/// A person: a name and the faces stored under it (face_count of them).
struct person_summary {
  std::uint64_t id = 0;
  std::string name;
  std::uint64_t face_count = 0;
};

/// One page of people (persons, not faces), in id order.
struct persons_page {
  std::vector<person_summary> people;
  std::uint64_t total = 0;  // matching the search, over all pages (at most short_query_count_cap when capped)
  bool total_capped = false;  // a search of 1 or 2 characters matched more than short_query_count_cap people
  std::optional<std::uint64_t> next;  // the `after` of the next page (the last id here); none at the end
};

/// The `next` of a page that stopped with rows left after it: its last id; an empty page (limit 0) leaves the
/// cursor where the request started, `after`, which is known only when no rows were skipped by an offset (the
/// id before the offset's row would take another query): none then.
template <class Page>
std::optional<std::uint64_t> next_cursor(const Page& page, std::uint64_t offset, std::uint64_t after) {
  if (!page.people.empty()) return page.people.back().id;
  if (offset == 0) return after;
  return std::nullopt;
}

/// A name search of fewer characters than this cannot use the trigram index (SQLite FTS5, PostgreSQL pg_trgm):
/// its page is found by a scan in id order that stops when the page is full, and its count stops at
/// short_query_count_cap matches.
inline constexpr std::size_t trigram_min_chars = 3;
inline constexpr std::uint64_t short_query_count_cap = 1000;

/// The number of characters (code points) of UTF-8 text: the trigram indexes count those, not bytes.
inline std::size_t utf8_chars(std::string_view text) {
  std::size_t n = 0;
  for (const char ch : text) n += (static_cast<unsigned char>(ch) & 0xC0U) != 0x80U ? 1 : 0;
  return n;
}

/// One of a person's faces, as a list of people shows it: its id and whether it has a thumbnail.
struct face_ref {
  std::uint64_t person_id = 0;
  std::uint64_t id = 0;
  bool has_thumbnail = false;
};

/// A person with its faces (without thumbnail bytes), in face id order.
struct person_detail {
  std::uint64_t id = 0;
  std::string name;
  std::vector<person> faces;
};

/// What a change to a person did to the faces the gallery holds: nothing when there is no such person.
struct person_change {
  std::string name;                 // the person's name after the change
  std::vector<std::uint64_t> faces;  // the faces renamed (rename, merge) or deleted (delete)
  std::optional<person_detail> after;  // rename, merge: the person as the change's transaction left it
};

/// One committed change of a shared store, in change-number order (see face_store's follower).
struct change {
  std::uint64_t seq = 0;  // the change number: increases with every committed add, delete or rename of a face
  bool added = false;     // false: deleted (or renamed, when `renamed`)
  bool renamed = false;   // the face now has the name `name` (its person was renamed, or merged into another)
  std::uint64_t id = 0;
  bool gone = false;      // an add or rename whose face was deleted since (nothing to do)
  std::string name;
  faceapp::encoding encoding{};
};

/// A durable store of known faces. Every method is thread-safe. Ids are assigned by the store, increase with
/// every add and are never reused (the in-memory gallery relies on it). Errors throw std::runtime_error naming
/// the store.
class store_backend {
 public:
  virtual ~store_backend() = default;

  /// Streams (id, name, encoding) of every face in increasing id order.
  using row_fn = std::function<void(std::uint64_t, std::string_view, const faceapp::encoding&)>;
  virtual void load(const row_fn& row) const = 0;

  /// Stores one face in one transaction, committed before it returns; returns it with its new id.
  virtual person add(const new_face& f) = 0;
  /// Stores many faces in one transaction; returns the number stored.
  virtual std::uint64_t add_many(std::span<const new_face> faces) = 0;
  /// Deletes a face in one committed transaction; false when there is none with this id.
  virtual bool remove(std::uint64_t id) = 0;

  /// One face without its thumbnail bytes.
  [[nodiscard]] virtual std::optional<person> find(std::uint64_t id) const = 0;
  /// Faces whose name contains `query` (case-insensitive for ASCII; all when empty), in id order.
  /// `total` is filled only when `count` is true (a count of a search scans the names).
  [[nodiscard]] virtual people_page list(std::string_view query, std::uint64_t offset, std::uint64_t limit,
                                         bool count) const = 0;
  /// Every face, in id order, from the first with an id above `after` (a keyset page: no rows skipped by
  /// counting); `total` is not filled.
  [[nodiscard]] virtual people_page list_after(std::uint64_t after, std::uint64_t limit) const = 0;
  [[nodiscard]] virtual std::optional<std::string> thumbnail(std::uint64_t id) const = 0;

  // ---- people: a name and its faces; each change is one committed transaction ----

  /// A new person without faces.
  virtual person_summary create_person(const std::string& name) = 0;
  /// People whose name contains `query` (as list() matches), in id order, with their face counts and the total.
  [[nodiscard]] virtual persons_page list_persons(std::string_view query, std::uint64_t offset,
                                                  std::uint64_t limit) const = 0;
  /// The same list from the first person with an id above `after` (a keyset page); `total` over all pages.
  [[nodiscard]] virtual persons_page list_persons_after(std::string_view query, std::uint64_t after,
                                                        std::uint64_t limit) const = 0;
  [[nodiscard]] virtual std::optional<person_detail> find_person(std::uint64_t id) const = 0;
  /// Renames a person and its faces; `faces`: the faces renamed.
  virtual std::optional<person_change> rename_person(std::uint64_t id, const std::string& name) = 0;
  /// Deletes a person and its faces; `faces`: the faces deleted.
  virtual std::optional<person_change> remove_person(std::uint64_t id) = 0;
  /// Moves every face of `from` to `into` (taking into's name) and deletes `from`; nothing when either is missing.
  virtual std::optional<person_change> merge_persons(std::uint64_t into, std::uint64_t from) = 0;
  /// The first `per_person` faces (in id order) of each of `persons`, by person then face id.
  [[nodiscard]] virtual std::vector<face_ref> first_faces(std::span<const std::uint64_t> persons,
                                                          std::size_t per_person) const = 0;
  /// Deletes face `face` when it belongs to person `id`, in one statement (a face that a merge moved to another
  /// person meanwhile stays); false when nothing matched.
  virtual bool remove_person_face(std::uint64_t id, std::uint64_t face) = 0;

  // ---- for a store that several servers share (PostgreSQL); an embedded store has no other writer ----

  /// Whether other servers may change the store (then face_store follows its changes).
  [[nodiscard]] virtual bool shared() const noexcept { return false; }
  /// Like load(), and returns the change number the rows are at (consistent with them).
  virtual std::uint64_t load_at(const row_fn& row) const {
    load(row);
    return 0;
  }
  /// Calls `fn` for every change after `after`, in order; returns the last change number seen (or `after`).
  using change_fn = std::function<void(const change&)>;
  virtual std::uint64_t changes_since(std::uint64_t after, const change_fn& fn) const {
    (void)fn;
    return after;
  }
  /// Blocks until another server may have committed a change, or `timeout_ms` passed. Throws
  /// unavailable_error when the database cannot be reached (the next call reconnects).
  virtual void wait_for_change(int timeout_ms) { (void)timeout_ms; }

  /// For messages: where the data lives.
  [[nodiscard]] virtual std::string describe() const = 0;
  /// Throws unavailable_error when the store cannot be reached now (an embedded one always can).
  virtual void ping() const {}
};

/// A database that also keeps the records, in a `results` table with the CSV's columns (`--db`). Thread-safe.
class results_store {
 public:
  results_store() = default;
  results_store(const results_store&) = delete;
  results_store& operator=(const results_store&) = delete;
  virtual ~results_store() = default;
  /// Appends rows in one transaction (all or none), committed before it returns.
  virtual void insert_results(std::span<const faceapp::record_row> rows) = 0;
  /// Every record, in the order they were inserted, as CSV lines (csv_sink's format), in batches; with `since`
  /// (a time as the records write it, "2026-12-01T10:00:00.000Z"), only those whose time is at or after it.
  virtual void read_results(const std::function<void(const std::string&)>& csv_lines, std::string_view since) const = 0;
  void read_results(const std::function<void(const std::string&)>& csv_lines) const { read_results(csv_lines, {}); }
};

/// The records in a results_store, as the `record` stage writes them. A full disk is errc::no_space.
class results_sink final : public faceapp::record_sink {
 public:
  explicit results_sink(results_store& store) : store_(store) {}
  faceapp::result<void> write(std::span<const faceapp::record_row> rows) override {
    try {
      store_.insert_results(rows);
      return {};
    } catch (const std::exception& e) {
      const bool full = std::string_view(e.what()).find("disk is full") != std::string_view::npos;
      return faceapp::fail("record", "results table", e.what(), full ? faceapp::errc::no_space : faceapp::errc::failed);
    }
  }

 private:
  results_store& store_;
};

/// '%query%' for a people search (LIKE or ILIKE, backslash as the escape), with LIKE's wildcards in the query escaped.
inline std::string like_pattern(std::string_view query) {
  std::string out = "%";
  for (char ch : query) {
    if (ch == '%' || ch == '_' || ch == '\\') out += '\\';
    out += ch;
  }
  out += '%';
  return out;
}

}  // namespace faceapp_web
