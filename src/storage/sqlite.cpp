#include "baton/storage/sqlite.hpp"

#include <sqlite3.h>

#include <utility>

namespace baton::storage {

using core::Errc;
using core::Error;
using core::Result;
using core::Status;

struct Db::Cached {
  sqlite3_stmt* stmt = nullptr;
  bool in_use = false;
  ~Cached() { sqlite3_finalize(stmt); }
};

// ---- Statement ---------------------------------------------------------------

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      in_use_(std::exchange(other.in_use_, nullptr)),
      bind_rc_(other.bind_rc_) {}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  // Resetting ends the statement's implicit read transaction; without it a
  // reader connection would keep seeing an old snapshot.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  *in_use_ = false;
}

Statement& Statement::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  // A non-null pointer even for "", so that empty strings are stored as '' not NULL.
  const char* data = value.empty() ? "" : value.data();
  int rc = sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::bind_null(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Error Statement::error(int rc) const {
  sqlite3* db = sqlite3_db_handle(stmt_);
  std::string msg = "sqlite: ";
  msg += sqlite3_errmsg(db);
  msg += " (";
  msg += sqlite3_errstr(rc);
  msg += ")";
  return Error{Errc::unavailable, std::move(msg)};
}

Result<bool> Statement::step() {
  if (bind_rc_ != SQLITE_OK) {
    // Binding only fails for our own mistakes (bad index, oversized value).
    return Error{Errc::internal, std::string("sqlite bind: ") + sqlite3_errstr(bind_rc_)};
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return error(rc);
}

Status Statement::run() {
  for (;;) {
    auto r = step();
    if (!r) return r.error();
    if (!*r) return core::ok_status();
  }
}

std::int64_t Statement::column_int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::column_text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  int n = sqlite3_column_bytes(stmt_, col);
  return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

bool Statement::column_is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

// ---- Db -----------------------------------------------------------------------

Db::Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

Db::Db(Db&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      cache_(std::move(other.cache_)) {}

Db& Db::operator=(Db&& other) noexcept {
  if (this != &other) {
    close();
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    cache_ = std::move(other.cache_);
  }
  return *this;
}

Db::~Db() { close(); }

void Db::close() {
  // Statements must be finalized before the connection closes, or sqlite3_close fails.
  cache_.clear();
  if (db_ != nullptr) {
    sqlite3_close(db_);
    db_ = nullptr;
  }
}

Result<Db> Db::open(const std::string& path, int flags) {
  sqlite3* handle = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open database " + path + ": ";
    msg += handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_CANTOPEN) msg += " (does its folder exist, and may baton write there?)";
    sqlite3_close(handle);  // a handle is returned even on most failures
    return Error{Errc::unavailable, std::move(msg)};
  }
  // Extended codes tell SQLITE_CONSTRAINT_UNIQUE from SQLITE_CONSTRAINT_FOREIGNKEY in messages.
  sqlite3_extended_result_codes(handle, 1);
  return Db(handle, path);
}

Status Db::exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return core::ok_status();
  std::string msg = "sqlite: ";
  msg += err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return Error{Errc::unavailable, std::move(msg)};
}

Result<Statement> Db::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    auto cached = std::make_unique<Cached>();
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &cached->stmt, nullptr);
    if (rc != SQLITE_OK) {
      // Our SQL is fixed text, so a failure here is a bug (or a schema we do not know).
      return Error{Errc::internal, "sqlite prepare: " + std::string(sqlite3_errmsg(db_)) +
                                       " in: " + sql};
    }
    it = cache_.emplace(sql, std::move(cached)).first;
  }
  Cached& c = *it->second;
  if (c.in_use) return Error{Errc::internal, "sqlite statement already in use: " + sql};
  c.in_use = true;
  return Statement(c.stmt, &c.in_use);
}

Result<std::int64_t> Db::query_int64(const std::string& sql) {
  auto st = prepare(sql);
  if (!st) return st.error();
  auto row = st->step();
  if (!row) return row.error();
  if (!*row) return Error{Errc::internal, "sqlite: no row from: " + sql};
  return st->column_int64(0);
}

std::int64_t Db::changes() const { return sqlite3_changes64(db_); }

bool Db::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

bool Db::read_only() const { return sqlite3_db_readonly(db_, "main") == 1; }

}  // namespace baton::storage
