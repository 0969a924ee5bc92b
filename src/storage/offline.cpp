#include "baton/storage/offline.hpp"

#include <sqlite3.h>

#include "baton/storage/sqlite.hpp"

namespace baton::storage {

core::Status end_agent_sessions(const std::string& path, std::string_view agent) {
  auto db = Db::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
  if (!db) return db.error();
  // A running server may hold the write lock for a moment.
  if (auto st = db->exec("PRAGMA busy_timeout = 5000"); !st) return st;
  auto stmt = db->prepare("DELETE FROM agent_sessions WHERE agent = ?1");
  if (!stmt) return stmt.error();
  stmt->bind(1, agent);
  return stmt->run();
}

}  // namespace baton::storage
