// faceapp-web: the known faces and the records in a PostgreSQL database that several faceapp-web servers share
// (`--db postgresql://USER@HOST:PORT/DBNAME`), through libpq.
//
// Tables: schema_version; people (one row per face, with its encoding as 512 bytes of little-endian floats, its
// thumbnail and its person_id); persons (pg_people.hpp); changes (seq, kind, person_id: the face): every add,
// delete and rename of a face, numbered by a change number that
// increases in commit order; results (the records, the CSV's columns).
//
// Ordering: every write transaction first takes one advisory lock, then draws its person id and change number
// from sequences, and commits. So writes commit one at a time, in change-number order: a server that has read
// every change up to N never later finds a committed change below N. Each write also sends NOTIFY
// faceapp_changes (delivered at commit), which the servers LISTEN to; face_store polls as a fallback.
#pragma once

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
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

#include "store/pg_db.hpp"
#include "store/cluster_store.hpp"
#include "store/pg_clusters.hpp"
#include "store/pg_people.hpp"
#include "store/pg_results.hpp"
#include "store/pg_schema.hpp"
#include "store/store.hpp"

namespace faceapp_web {


/// The PostgreSQL store. A small pool of connections serves requests (one per request at a time); a
/// connection that fails is dropped and the next request opens a new one, so the store recovers by itself when
/// the database comes back. The change feed's LISTEN has a connection of its own.
class pg_store final : public store_backend, public results_store, public cluster_store {
 public:
  /// Connects and creates or upgrades the schema. Throws when the database is unreachable, or has a newer
  /// schema than this faceapp-web knows.
  explicit pg_store(std::string url) : url_(std::move(url)) {
    auto c = pg::connect(url_);
    pg_schema::create(c.get(), url_);
    give_back(std::move(c));
  }

  void load(const row_fn& row) const override { load_at(row); }

  std::uint64_t load_at(const row_fn& row) const override {
    auto c = take();
    // One snapshot for the change number and the rows, so they agree.
    pg::run(c.get(), url_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const auto seq_r = pg::run(c.get(), url_, "SELECT coalesce(max(seq), 0) FROM changes");
    const std::uint64_t seq = std::strtoull(PQgetvalue(seq_r.get(), 0, 0), nullptr, 10);
    pg::run(c.get(), url_, "DECLARE everyone NO SCROLL CURSOR FOR SELECT id, name, encoding FROM people ORDER BY id");
    faceapp::encoding e;
    for (;;) {
      const auto r = pg::run(c.get(), url_, "FETCH 10000 FROM everyone", {}, {}, {}, true);
      const int n = PQntuples(r.get());
      for (int i = 0; i < n; ++i) {
        const auto id = pg::be64(PQgetvalue(r.get(), i, 0));
        read_encoding(r.get(), i, 2, id, e);
        row(id, std::string_view(PQgetvalue(r.get(), i, 1), static_cast<std::size_t>(PQgetlength(r.get(), i, 1))), e);
      }
      if (n == 0) break;
    }
    pg::run(c.get(), url_, "COMMIT");
    give_back(std::move(c));
    return seq;
  }

  std::uint64_t changes_since(std::uint64_t after, const change_fn& fn) const override {
    auto c = take();
    const std::string from = std::to_string(after);
    const char* params[] = {from.c_str()};
    const auto r = pg::run(c.get(), url_,
                           "SELECT c.seq, c.kind, c.person_id, p.name, p.encoding FROM changes c "
                           "LEFT JOIN people p ON p.id = c.person_id AND c.kind IN ('a', 'n') "
                           "WHERE c.seq > $1::bigint ORDER BY c.seq",
                           params, {}, {}, true);
    give_back(std::move(c));
    std::uint64_t last = after;
    for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
      change ch;
      ch.seq = pg::be64(PQgetvalue(r.get(), i, 0));
      ch.added = *PQgetvalue(r.get(), i, 1) == 'a';
      ch.renamed = *PQgetvalue(r.get(), i, 1) == 'n';
      ch.id = pg::be64(PQgetvalue(r.get(), i, 2));
      ch.gone = (ch.added || ch.renamed) && PQgetisnull(r.get(), i, 3) != 0;
      if ((ch.added || ch.renamed) && !ch.gone) {
        ch.name.assign(PQgetvalue(r.get(), i, 3), static_cast<std::size_t>(PQgetlength(r.get(), i, 3)));
        read_encoding(r.get(), i, 4, ch.id, ch.encoding);
      }
      fn(ch);
      last = ch.seq;
    }
    return last;
  }

  void wait_for_change(int timeout_ms) override {
    if (!listener_ || PQstatus(listener_.get()) != CONNECTION_OK) {
      listener_.reset();
      auto c = pg::connect(url_);
      pg::run(c.get(), url_, "LISTEN faceapp_changes");
      listener_ = std::move(c);
      return;  // (re)connected: the caller catches up from the table now
    }
    PGconn* c = listener_.get();
    if (!drain(c)) {
      pollfd p{PQsocket(c), POLLIN, 0};
      const int n = ::poll(&p, 1, timeout_ms);
      if (n < 0 && errno != EINTR) lose_listener("poll failed");
      if (n > 0 && !drain(c) && (p.revents & (POLLHUP | POLLERR)) != 0) lose_listener("the connection was closed");
    }
  }

  person add(const new_face& f) override {
    auto c = take();
    person p;
    {
      transaction t(*this, c.get());
      p = insert(c.get(), f);
      t.commit();
    }
    give_back(std::move(c));
    return p;
  }

  std::uint64_t add_many(std::span<const new_face> faces) override {
    auto c = take();
    {
      transaction t(*this, c.get());
      for (const auto& f : faces) insert(c.get(), f);
      t.commit();
    }
    give_back(std::move(c));
    return faces.size();
  }

  bool remove(std::uint64_t id) override {
    auto c = take();
    bool found = false;
    {
      transaction t(*this, c.get());
      const std::string id_text = std::to_string(id);
      const char* params[] = {id_text.c_str()};
      const auto r = pg::run(c.get(), url_, "DELETE FROM people WHERE id = $1::bigint", params);
      found = std::strcmp(PQcmdTuples(r.get()), "0") != 0;
      if (found) {
        pg::run(c.get(), url_,
                "INSERT INTO changes (seq, kind, person_id) VALUES (nextval('change_seq'), 'd', $1::bigint)", params);
        pg::run(c.get(), url_, "NOTIFY faceapp_changes");
        t.commit();
      }
    }
    give_back(std::move(c));
    return found;
  }

  [[nodiscard]] std::optional<person> find(std::uint64_t id) const override {
    auto c = take();
    const std::string id_text = std::to_string(id);
    const char* params[] = {id_text.c_str()};
    const auto r = pg::run(c.get(), url_, (std::string(select_person) + " WHERE id = $1::bigint").c_str(), params);
    give_back(std::move(c));
    if (PQntuples(r.get()) == 0) return std::nullopt;
    return person_of(r.get(), 0);
  }

  [[nodiscard]] people_page list(std::string_view query, std::uint64_t offset, std::uint64_t limit,
                                 bool count) const override {
    auto c = take();
    people_page page;
    const std::string pattern = like_pattern(query);
    const auto wanted = std::min<std::uint64_t>(limit, 1U << 30);
    const std::string lim = std::to_string(wanted + 1);  // one more: whether a next page exists
    const std::string off = std::to_string(std::min<std::uint64_t>(offset, std::uint64_t{1} << 62));
    const std::string where = query.empty() ? " WHERE $1::text IS NULL" : " WHERE name ILIKE $1::text";
    const char* params[] = {query.empty() ? nullptr : pattern.c_str(), lim.c_str(), off.c_str()};
    const auto r = pg::run(c.get(), url_,
                           (std::string(select_person) + where + " ORDER BY id LIMIT $2::bigint OFFSET $3::bigint").c_str(),
                           params);
    for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
      if (page.people.size() == wanted) {
        page.next = next_cursor(page, offset, 0);  // the keyset cursor after this page
        break;
      }
      page.people.push_back(person_of(r.get(), i));
    }
    if (count) {
      const auto t = pg::run(c.get(), url_, ("SELECT count(*) FROM people" + where).c_str(),
                             std::span<const char* const>(params, 1));
      page.total = std::strtoull(PQgetvalue(t.get(), 0, 0), nullptr, 10);
    }
    give_back(std::move(c));
    return page;
  }

  [[nodiscard]] people_page list_after(std::uint64_t after, std::uint64_t limit) const override {
    auto c = take();
    people_page page;
    const auto wanted = std::min<std::uint64_t>(limit, 1U << 30);
    const std::string lim = std::to_string(wanted + 1);  // one more: whether a next page exists
    const std::string aft = std::to_string(std::min<std::uint64_t>(after, std::uint64_t{1} << 62));
    const char* params[] = {aft.c_str(), lim.c_str()};
    const auto r = pg::run(c.get(), url_,
                           (std::string(select_person) + " WHERE id > $1::bigint ORDER BY id LIMIT $2::bigint").c_str(),
                           params);
    give_back(std::move(c));
    for (int i = 0, n = PQntuples(r.get()); i < n; ++i) {
      if (page.people.size() == wanted) {
        page.next = next_cursor(page, 0, after);
        break;
      }
      page.people.push_back(person_of(r.get(), i));
    }
    return page;
  }

  [[nodiscard]] std::optional<std::string> thumbnail(std::uint64_t id) const override {
    auto c = take();
    const std::string id_text = std::to_string(id);
    const char* params[] = {id_text.c_str()};
    const auto r = pg::run(c.get(), url_, "SELECT thumbnail FROM people WHERE id = $1::bigint AND thumbnail IS NOT NULL",
                           params, {}, {}, true);
    give_back(std::move(c));
    if (PQntuples(r.get()) == 0) return std::nullopt;
    return std::string(PQgetvalue(r.get(), 0, 0), static_cast<std::size_t>(PQgetlength(r.get(), 0, 0)));
  }

  // ---- pending clusters (cluster_store.hpp, pg_clusters.hpp) ----

  std::vector<std::uint64_t> save_clusters(std::span<const pending_cluster> clusters, std::int64_t now_s) override {
    return write([&](PGconn* c) { return pg_clusters::save(c, url_, clusters, now_s); });
  }
  void expire_clusters(std::int64_t now_s) override {
    write([&](PGconn* c) {
      pg_clusters::expire(c, url_, now_s);
      return true;
    });
  }
  [[nodiscard]] std::vector<pending_cluster> pending_clusters(std::int64_t now_s) const override {
    auto c = take();
    auto out = pg_clusters::read(c.get(), url_, now_s, std::nullopt);
    give_back(std::move(c));
    return out;
  }
  [[nodiscard]] std::optional<pending_cluster> find_cluster(std::uint64_t id, std::int64_t now_s) const override {
    auto c = take();
    auto found = pg_clusters::read(c.get(), url_, now_s, id);
    give_back(std::move(c));
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
  }
  bool discard_cluster(std::uint64_t id, std::int64_t now_s) override {
    return write([&](PGconn* c) { return pg_clusters::remove(c, url_, id, now_s); });
  }
  /// The faces are added as adds are (an 'a' change each), so the other servers' galleries follow.
  std::optional<std::vector<person>> enrol_cluster(std::uint64_t id, const std::string& name, const std::string& added,
                                                   std::int64_t now_s, const std::vector<bool>& skip) override {
    return write([&](PGconn* c) -> std::optional<std::vector<person>> {
      auto found = pg_clusters::read(c, url_, now_s, id);
      if (found.empty() || !pg_clusters::remove(c, url_, id, now_s)) return std::nullopt;
      std::vector<person> out;
      for (std::size_t n = 0; n < found.front().faces.size(); ++n) {
        if (n < skip.size() && skip[n]) continue;
        auto& f = found.front().faces[n];
        out.push_back(insert(c, new_face{name, std::nullopt, f.encoding, f.source, f.box, std::move(f.thumbnail), added}));
        out.back().thumbnail.reset();
      }
      return out;
    });
  }

  person_summary create_person(const std::string& name) override {
    return write([&](PGconn* c) { return person_summary{pg_people::create(c, url_, name), name, 0}; });
  }
  [[nodiscard]] persons_page list_persons(std::string_view query, std::uint64_t offset,
                                          std::uint64_t limit) const override {
    auto c = take();
    auto page = pg_people::list(c.get(), url_, query, offset, 0, limit);
    give_back(std::move(c));
    return page;
  }
  [[nodiscard]] persons_page list_persons_after(std::string_view query, std::uint64_t after,
                                                std::uint64_t limit) const override {
    auto c = take();
    auto page = pg_people::list(c.get(), url_, query, 0, after, limit);
    give_back(std::move(c));
    return page;
  }
  [[nodiscard]] std::optional<person_detail> find_person(std::uint64_t id) const override {
    auto c = take();
    auto d = pg_people::find(c.get(), url_, id);
    give_back(std::move(c));
    return d;
  }
  std::optional<person_change> rename_person(std::uint64_t id, const std::string& name) override {
    return write([&](PGconn* c) { return pg_people::rename(c, url_, id, name); });
  }
  std::optional<person_change> remove_person(std::uint64_t id) override {
    return write([&](PGconn* c) { return pg_people::remove(c, url_, id); });
  }
  std::optional<person_change> merge_persons(std::uint64_t into, std::uint64_t from) override {
    return write([&](PGconn* c) { return pg_people::merge(c, url_, into, from); });
  }
  [[nodiscard]] std::vector<face_ref> first_faces(std::span<const std::uint64_t> persons,
                                                  std::size_t per_person) const override {
    auto c = take();
    auto out = pg_people::first_faces(c.get(), url_, persons, per_person);
    give_back(std::move(c));
    return out;
  }
  bool remove_person_face(std::uint64_t id, std::uint64_t face) override {
    return write([&](PGconn* c) { return pg_people::remove_face(c, url_, id, face); });
  }

  [[nodiscard]] bool shared() const noexcept override { return true; }
  [[nodiscard]] std::string describe() const override { return pg::shown(url_); }

  void ping() const override {
    auto c = take();
    pg::run(c.get(), url_, "SELECT 1");
    give_back(std::move(c));
  }

  /// Appends record rows to the results table in one statement (all or none).
  void insert_results(std::span<const faceapp::record_row> rows) override {
    if (rows.empty()) return;  // no connection taken for nothing
    auto c = take();
    pg_results::insert(c.get(), url_, rows);
    give_back(std::move(c));
  }

  /// Every record, in the order they were inserted, through `fn` in batches of CSV lines (csv_sink's format).
  using results_store::read_results;
  void read_results(const std::function<void(const std::string&)>& fn, std::string_view since) const override {
    auto c = take();
    pg_results::read(c.get(), url_, fn, since);
    give_back(std::move(c));
  }

 private:
  static constexpr const char* select_person = pg_people::select_face;

  /// Runs `f(connection)` in one committed transaction with the write lock; returns what it returns.
  template <class F>
  std::invoke_result_t<F&, PGconn*> write(F f) {
    auto c = take();
    auto out = [&] {
      transaction t(*this, c.get());
      auto r = f(c.get());
      t.commit();
      return r;
    }();
    give_back(std::move(c));
    return out;
  }

  /// BEGIN and the write lock; ROLLBACK when left without commit().
  class transaction {
   public:
    transaction(const pg_store& s, PGconn* c) : s_(s), c_(c) {
      pg::run(c_, s_.url_, "BEGIN");
      pg::run(c_, s_.url_, "SELECT pg_advisory_xact_lock(7234307576302018672)");
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    ~transaction() {
      if (!done_ && PQstatus(c_) == CONNECTION_OK) PQclear(PQexec(c_, "ROLLBACK"));
    }
    void commit() {
      pg::run(c_, s_.url_, "COMMIT");
      done_ = true;
    }

   private:
    const pg_store& s_;
    PGconn* c_;
    bool done_ = false;
  };

  person insert(PGconn* c, const new_face& f) const {
    const auto [person_id, person_name] = pg_people::person_for(c, url_, f);
    const std::string person_text = std::to_string(person_id);
    std::string bytes(sizeof(float) * faceapp::encoding_size, '\0');
    std::memcpy(bytes.data(), f.encoding.data(), bytes.size());
    std::optional<std::string> box[4];
    if (f.box) {
      box[0] = std::to_string(f.box->top);
      box[1] = std::to_string(f.box->right);
      box[2] = std::to_string(f.box->bottom);
      box[3] = std::to_string(f.box->left);
    }
    const char* params[] = {person_name.c_str(),
                            f.added.c_str(),
                            f.source.c_str(),
                            box[0] ? box[0]->c_str() : nullptr,
                            box[1] ? box[1]->c_str() : nullptr,
                            box[2] ? box[2]->c_str() : nullptr,
                            box[3] ? box[3]->c_str() : nullptr,
                            bytes.data(),
                            f.thumbnail.empty() ? nullptr : f.thumbnail.data(),
                            person_text.c_str()};
    const int lengths[] = {0, 0, 0, 0, 0, 0, 0, static_cast<int>(bytes.size()), static_cast<int>(f.thumbnail.size()),
                           0};
    const int formats[] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 0};
    const auto r = pg::run(c, url_,
                           "INSERT INTO people (id, name, added, source, box_top, box_right, box_bottom, box_left, "
                           "encoding, thumbnail, person_id) VALUES (nextval('people_id_seq'), $1, $2, $3, $4::integer, "
                           "$5::integer, $6::integer, $7::integer, $8::bytea, $9::bytea, $10::bigint) RETURNING id",
                           params, lengths, formats);
    const std::string id_text = PQgetvalue(r.get(), 0, 0);
    const char* change[] = {id_text.c_str()};
    pg::run(c, url_, "INSERT INTO changes (seq, kind, person_id) VALUES (nextval('change_seq'), 'a', $1::bigint)",
            change);
    pg::run(c, url_, "NOTIFY faceapp_changes");
    person p{std::strtoull(id_text.c_str(), nullptr, 10), person_name, person_id, f.added, f.source,
             f.box.value_or(faceapp::box{}), nullptr, !f.thumbnail.empty()};
    if (!f.thumbnail.empty()) p.thumbnail = std::make_shared<const std::string>(f.thumbnail);
    return p;
  }

  void read_encoding(const PGresult* r, int row, int col, std::uint64_t id, faceapp::encoding& e) const {
    if (PQgetlength(r, row, col) != static_cast<int>(sizeof(float) * faceapp::encoding_size)) {
      throw std::runtime_error("database " + pg::shown(url_) + ": the encoding of face " + std::to_string(id) +
                               " is " + std::to_string(PQgetlength(r, row, col)) + " bytes, not 512");
    }
    std::memcpy(e.data(), PQgetvalue(r, row, col), sizeof(float) * faceapp::encoding_size);
  }

  static person person_of(const PGresult* r, int i) { return pg_people::face_of(r, i); }

  /// Reads pending notifications; true when there was one.
  bool drain(PGconn* c) {
    if (PQconsumeInput(c) == 0) lose_listener(PQerrorMessage(c));
    bool any = false;
    while (PGnotify* n = PQnotifies(c)) {
      any = true;
      PQfreemem(n);
    }
    return any;
  }

  [[noreturn]] void lose_listener(const std::string& why) {
    listener_.reset();
    throw unavailable_error("database " + pg::shown(url_) + ": lost the connection that listens for changes: " + why);
  }

  pg::connection take() const {
    {
      const std::lock_guard lock(pool_mutex_);
      while (!pool_.empty()) {
        auto c = std::move(pool_.back());
        pool_.pop_back();
        // An idle connection the server has closed since (a restart) shows it on a read: drop it.
        if (PQconsumeInput(c.get()) != 0 && PQstatus(c.get()) == CONNECTION_OK) return c;
      }
    }
    return pg::connect(url_);
  }

  /// Returns a healthy connection to the pool (at most 16 kept idle); a broken one is closed.
  void give_back(pg::connection c) const {
    if (PQstatus(c.get()) != CONNECTION_OK || PQtransactionStatus(c.get()) != PQTRANS_IDLE) return;
    const std::lock_guard lock(pool_mutex_);
    if (pool_.size() < 16) pool_.push_back(std::move(c));
  }

  std::string url_;
  pg::connection listener_;  // used by the follower thread only
  mutable std::mutex pool_mutex_;
  mutable std::vector<pg::connection> pool_;
};

}  // namespace faceapp_web
