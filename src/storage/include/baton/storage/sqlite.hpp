// A small RAII wrapper over the SQLite C API: a connection (Db) that caches its
// prepared statements, and a Statement borrowed from that cache for one use.
// Errors are values (core::Result); nothing here throws.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "baton/core/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace baton::storage {

// A cached prepared statement, borrowed from its Db for one use. On destruction
// it is reset and its bindings cleared, so it holds no read snapshot or lock
// once the borrower is done. Move-only; must not outlive its Db.
// Parameters and columns are numbered as in SQLite: bind from 1, columns from 0.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view value);  // copied by SQLite
  Statement& bind_null(int index);

  // Advances one row: true when a row is ready, false when done.
  core::Result<bool> step();
  // Steps to completion, ignoring any rows (for INSERT, UPDATE, PRAGMA ...).
  core::Status run();

  std::int64_t column_int64(int col) const;
  std::string column_text(int col) const;  // "" for NULL
  bool column_is_null(int col) const;

 private:
  friend class Db;
  Statement(sqlite3_stmt* stmt, bool* in_use) : stmt_(stmt), in_use_(in_use) {}
  core::Error error(int rc) const;

  sqlite3_stmt* stmt_;
  bool* in_use_;  // the cache entry's flag, cleared on destruction
  int bind_rc_ = 0;  // first bind failure, reported by step()
};

// One SQLite connection. Not thread-safe: one thread at a time uses it (and the
// Statements borrowed from it). Movable, not copyable.
class Db {
 public:
  // `flags` are sqlite3_open_v2 flags (SQLITE_OPEN_*). Errors (unavailable) name `path`.
  static core::Result<Db> open(const std::string& path, int flags);

  Db(Db&& other) noexcept;
  Db& operator=(Db&& other) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  // Runs one or more SQL statements that return nothing of interest (not cached).
  core::Status exec(const std::string& sql);

  // The prepared statement for `sql`, compiled on first use and cached by its text.
  // A statement can be borrowed once at a time: borrowing it again before the
  // first Statement is destroyed returns an `internal` error.
  core::Result<Statement> prepare(const std::string& sql);

  // Runs a query whose first row's first column is an integer (e.g. PRAGMA user_version).
  core::Result<std::int64_t> query_int64(const std::string& sql);

  // Rows changed by the last INSERT, UPDATE or DELETE on this connection.
  std::int64_t changes() const;
  // Whether a transaction is open (false in autocommit mode). After some errors
  // (SQLITE_FULL, SQLITE_IOERR, ...) SQLite rolls the whole transaction back itself.
  bool in_transaction() const;
  // Whether the main database was opened read-only (e.g. a write-protected file).
  bool read_only() const;
  const std::string& path() const { return path_; }
  // The connection, for the SQLite calls this class does not wrap (sqlite3_wal_hook).
  sqlite3* handle() const { return db_; }

 private:
  struct Cached;
  Db(sqlite3* db, std::string path);
  void close();

  sqlite3* db_ = nullptr;
  std::string path_;
  // unique_ptr so that the in-use flags Statements point to stay put on rehash.
  std::unordered_map<std::string, std::unique_ptr<Cached>> cache_;
};

}  // namespace baton::storage
