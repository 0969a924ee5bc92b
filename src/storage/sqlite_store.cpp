#include "baton/storage/sqlite_store.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "baton/core/text.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <exception>
#include <iterator>
#include <limits>
#include <utility>

namespace baton::storage {

using core::AgentSession;
using core::Conversation;
using core::Errc;
using core::Error;
using core::Event;
using core::Result;
using core::Status;
using core::WriteResult;

namespace {

// Schema migrations, applied in order; entry k brings user_version from k to k+1.
// Append only: a released entry is never edited, a change is a new entry.
//
// Enums are stored by name (state_name, kind_name, ...): readable with the sqlite3
// shell and portable to PostgreSQL, for a few bytes per row.
constexpr const char* kMigrations[] = {
    // 1: conversations, their events, agent sessions.
    R"sql(
CREATE TABLE conversations (
  id                 TEXT PRIMARY KEY NOT NULL,
  site               TEXT NOT NULL DEFAULT '',
  queue              TEXT NOT NULL DEFAULT '',
  state              TEXT NOT NULL,
  agent              TEXT NOT NULL DEFAULT '',
  visitor_name       TEXT NOT NULL DEFAULT '',
  visitor_email      TEXT NOT NULL DEFAULT '',
  visitor_page       TEXT NOT NULL DEFAULT '',
  visitor_user_agent TEXT NOT NULL DEFAULT '',
  visitor_origin     TEXT NOT NULL DEFAULT '',
  visitor_token_hash TEXT NOT NULL DEFAULT '',
  created_at         INTEGER NOT NULL,
  waiting_since      INTEGER NOT NULL DEFAULT 0,
  updated_at         INTEGER NOT NULL,
  closed_at          INTEGER NOT NULL DEFAULT 0,
  close_reason       TEXT NOT NULL DEFAULT '',
  last_seq           INTEGER NOT NULL DEFAULT 0,
  offline            INTEGER NOT NULL DEFAULT 0,
  last_message       TEXT NOT NULL DEFAULT ''
);
-- list(): newest first, optionally by state, agent or queue; load_live() by state.
CREATE INDEX conversations_by_updated ON conversations (updated_at, id);
CREATE INDEX conversations_by_state ON conversations (state, updated_at, id);
CREATE INDEX conversations_by_agent ON conversations (agent, updated_at, id);
CREATE INDEX conversations_by_queue ON conversations (queue, updated_at, id);

CREATE TABLE events (
  conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  seq             INTEGER NOT NULL,
  kind            TEXT NOT NULL,
  author_kind     TEXT NOT NULL,
  author_id       TEXT NOT NULL DEFAULT '',
  author_name     TEXT NOT NULL DEFAULT '',
  client_id       TEXT NOT NULL DEFAULT '',
  text            TEXT NOT NULL DEFAULT '',
  at              INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
-- De-duplication of client retries; events without a client id are never duplicates.
CREATE UNIQUE INDEX events_by_client_id
  ON events (conversation_id, author_kind, author_id, client_id) WHERE client_id <> '';

CREATE TABLE agent_sessions (
  token_hash TEXT PRIMARY KEY NOT NULL,
  agent      TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 2: transfers, and the consulted agent of a warm transfer.
    R"sql(
ALTER TABLE conversations ADD COLUMN consultant TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN consultant_joined INTEGER NOT NULL DEFAULT 0;

CREATE TABLE transfers (
  id              TEXT PRIMARY KEY NOT NULL,
  conversation_id TEXT NOT NULL,
  kind            TEXT NOT NULL,
  state           TEXT NOT NULL,
  from_agent      TEXT NOT NULL DEFAULT '',
  to_agent        TEXT NOT NULL DEFAULT '',
  to_queue        TEXT NOT NULL DEFAULT '',
  to_peer         TEXT NOT NULL DEFAULT '',
  note            TEXT NOT NULL DEFAULT '',
  reason          TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  deadline        INTEGER NOT NULL DEFAULT 0,
  detail          TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE INDEX transfers_by_conversation ON transfers (conversation_id, created_at);
-- open_transfers(): only open transfers have a deadline.
CREATE INDEX transfers_open ON transfers (deadline) WHERE deadline <> 0;
)sql",
    // 3: a transfer's fields as columns instead of a JSON `detail` (its rows are
    // moved over); the federation outbox; accepted signature nonces; attempts at
    // secrets (sign-in, join codes). docs/decisions/transfer-core.md.
    R"sql(
ALTER TABLE transfers ADD COLUMN direction TEXT NOT NULL DEFAULT 'local';
ALTER TABLE transfers ADD COLUMN step TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN organization TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN hop_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN authorization_code TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN queues TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN recall_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN join_code TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN join_expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN context_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN remote_id TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN offer_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN context_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN auth_nonce TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN auth_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN join_nonce TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN join_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN recall_ticket TEXT NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN return_url TEXT NOT NULL DEFAULT '';

CREATE TABLE outbox (
  id         TEXT PRIMARY KEY NOT NULL,
  transfer   TEXT NOT NULL,
  peer       TEXT NOT NULL,
  action     TEXT NOT NULL,
  path       TEXT NOT NULL DEFAULT '',
  body       TEXT NOT NULL DEFAULT '',
  rounds     INTEGER NOT NULL DEFAULT 0,
  max_rounds INTEGER NOT NULL DEFAULT 0,
  next_at    INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE seen_nonces (
  key       TEXT PRIMARY KEY NOT NULL,
  forget_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX seen_nonces_by_time ON seen_nonces (forget_at);

CREATE TABLE attempts (
  scope   TEXT NOT NULL,
  key     TEXT NOT NULL,
  address TEXT NOT NULL DEFAULT '',
  at      INTEGER NOT NULL
);
CREATE INDEX attempts_by_time ON attempts (scope, at);

-- The rows of version 2 kept a peer transfer's fields in `detail`.
UPDATE transfers SET
  direction = CASE json_extract(detail, '$.direction') WHEN 'out' THEN 'out' WHEN 'in' THEN 'in' ELSE 'local' END,
  organization = coalesce(json_extract(detail, '$.destination'), json_extract(detail, '$.origin_organization'), ''),
  hop_count = coalesce(json_extract(detail, '$.hop_count'), 0),
  authorization_code = coalesce(json_extract(detail, '$.authorization_code'), ''),
  queues = coalesce(json_extract(detail, '$.queues'), ''),
  recall_hash = coalesce(json_extract(detail, '$.recall_hash'), ''),
  join_code = coalesce(json_extract(detail, '$.join_code'), ''),
  context_seq = coalesce(json_extract(detail, '$.context_seq'), 0),
  remote_id = coalesce(json_extract(detail, '$.origin_transfer'), ''),
  auth_hash = coalesce(json_extract(detail, '$.auth_hash'), ''),
  join_hash = coalesce(json_extract(detail, '$.join_hash'), ''),
  recall_ticket = coalesce(json_extract(detail, '$.recall_ticket'), '')
WHERE kind = 'peer' AND json_valid(detail);
UPDATE transfers SET step = CASE
    WHEN to_queue <> '' THEN 'context_sent'
    WHEN authorization_code <> '' THEN 'offer_answered'
    ELSE 'offer_sent' END
  WHERE kind = 'peer' AND direction = 'out' AND state = 'offering';
UPDATE transfers SET join_expires_at = deadline - 30000
  WHERE kind = 'peer' AND direction = 'out' AND state = 'moving';
-- An arrival the origin had not yet confirmed is told again, from the outbox now.
INSERT INTO outbox (id, transfer, peer, action, created_at)
  SELECT id || '/arrived', id, to_peer, 'arrived', updated_at FROM transfers
  WHERE kind = 'peer' AND json_valid(detail) AND json_extract(detail, '$.notify') = 'arrived';
UPDATE transfers SET deadline = 0 WHERE state NOT IN ('offered', 'consulting', 'joined', 'offering', 'moving');
ALTER TABLE transfers DROP COLUMN detail;
)sql",
};

constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));
constexpr int kBusyTimeoutMs = 5000;
// How long a transaction keeps taking in writes queued while it applies others.
constexpr auto kGatherBudget = std::chrono::microseconds(1000);

const std::string kConversationColumns =
    "id, site, queue, state, agent, visitor_name, visitor_email, visitor_page, "
    "visitor_user_agent, visitor_origin, visitor_token_hash, created_at, waiting_since, "
    "updated_at, closed_at, close_reason, last_seq, offline, last_message, consultant, "
    "consultant_joined";

const std::string kUpsertConversation =
    "INSERT INTO conversations (" + kConversationColumns +
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,"
    " ?20, ?21)"
    // An upsert, never INSERT OR REPLACE: REPLACE deletes the row first, and the
    // foreign key would cascade that delete to the conversation's events.
    " ON CONFLICT (id) DO UPDATE SET site = excluded.site, queue = excluded.queue,"
    " state = excluded.state, agent = excluded.agent, visitor_name = excluded.visitor_name,"
    " visitor_email = excluded.visitor_email, visitor_page = excluded.visitor_page,"
    " visitor_user_agent = excluded.visitor_user_agent, visitor_origin = excluded.visitor_origin,"
    " visitor_token_hash = excluded.visitor_token_hash, created_at = excluded.created_at,"
    " waiting_since = excluded.waiting_since, updated_at = excluded.updated_at,"
    " closed_at = excluded.closed_at, close_reason = excluded.close_reason,"
    " last_seq = excluded.last_seq, offline = excluded.offline,"
    " last_message = excluded.last_message, consultant = excluded.consultant,"
    " consultant_joined = excluded.consultant_joined";

const std::string kTransferColumns =
    "id, conversation_id, kind, state, from_agent, to_agent, to_queue, to_peer, note, reason,"
    " created_at, updated_at, deadline, direction, step, organization, hop_count, authorization_code,"
    " queues, recall_hash, join_code, join_expires_at, context_seq, remote_id, offer_digest,"
    " context_digest, auth_nonce, auth_hash, join_nonce, join_hash, recall_ticket, return_url";
constexpr int kTransferColumnCount = 32;

// Every column but id and created_at takes the new value.
std::string upsert_transfer_sql() {
  std::string sql = "INSERT INTO transfers (" + kTransferColumns + ") VALUES (";
  for (int i = 1; i <= kTransferColumnCount; ++i) sql += (i > 1 ? ", ?" : "?") + std::to_string(i);
  sql += ") ON CONFLICT (id) DO UPDATE SET ";
  std::string_view cols = kTransferColumns;
  bool first = true;
  while (!cols.empty()) {
    auto comma = cols.find(',');
    std::string_view col = cols.substr(0, comma);
    cols = comma == std::string_view::npos ? std::string_view{} : cols.substr(comma + 1);
    while (!col.empty() && col.front() == ' ') col.remove_prefix(1);
    if (col == "id" || col == "created_at") continue;
    sql += (first ? "" : ", ") + std::string(col) + " = excluded." + std::string(col);
    first = false;
  }
  return sql;
}
const std::string kUpsertTransfer = upsert_transfer_sql();

const std::string kUpsertOutbox =
    "INSERT INTO outbox (id, transfer, peer, action, body, rounds, max_rounds, next_at, created_at, path)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO UPDATE SET"
    " transfer = excluded.transfer, peer = excluded.peer, action = excluded.action, body = excluded.body,"
    " path = excluded.path,"
    " rounds = excluded.rounds, max_rounds = excluded.max_rounds, next_at = excluded.next_at";

const std::string kInsertEvent =
    "INSERT INTO events (conversation_id, seq, kind, author_kind, author_id, author_name,"
    " client_id, text, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    // Only the de-duplication index is a silent no-op; a clash on (conversation_id,
    // seq) is a caller's bug and must fail the write.
    " ON CONFLICT (conversation_id, author_kind, author_id, client_id) WHERE client_id <> ''"
    " DO NOTHING";

// `client_id <> ''` lets the planner use the partial index.
const std::string kDuplicateSeq =
    "SELECT seq FROM events WHERE conversation_id = ?1 AND author_kind = ?2 AND author_id = ?3"
    " AND client_id = ?4 AND client_id <> ''";

const std::string kEventColumns =
    "conversation_id, seq, kind, author_kind, author_id, author_name, client_id, text, at";

const std::string kUpsertSession =
    "INSERT INTO agent_sessions (token_hash, agent, created_at, expires_at)"
    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (token_hash) DO UPDATE SET agent = excluded.agent,"
    " created_at = excluded.created_at, expires_at = excluded.expires_at";

Error with_path(const std::string& path, const Error& e) {
  return Error{Errc::unavailable, "database " + path + ": " + e.message};
}

std::int64_t to_int64(std::size_t n) {
  return static_cast<std::int64_t>(
      std::min<std::size_t>(n, static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())));
}

Status run(Db& db, const std::string& sql) {
  auto st = db.prepare(sql);
  if (!st) return st.error();
  return st->run();
}

void bind_conversation(Statement& st, const Conversation& c) {
  st.bind(1, c.id)
      .bind(2, c.site)
      .bind(3, c.queue)
      .bind(4, core::state_name(c.state))
      .bind(5, c.agent)
      .bind(6, c.visitor.name)
      .bind(7, c.visitor.email)
      .bind(8, c.visitor.page)
      .bind(9, c.visitor.user_agent)
      .bind(10, c.visitor.origin)
      .bind(11, c.visitor_token_hash)
      .bind(12, c.created_at)
      .bind(13, c.waiting_since)
      .bind(14, c.updated_at)
      .bind(15, c.closed_at)
      .bind(16, c.close_reason)
      .bind(17, c.last_seq)
      .bind(18, std::int64_t{c.offline ? 1 : 0})
      .bind(19, c.last_message)
      .bind(20, c.consultant)
      .bind(21, std::int64_t{c.consultant_joined ? 1 : 0});
}

// The queues a destination offered, as a JSON array of objects (the one column
// that holds a list; PostgreSQL would make it jsonb).
std::string encode_queues(const std::vector<core::OfferedQueue>& queues) {
  if (queues.empty()) return {};
  boost::json::array a;
  for (const auto& q : queues)
    a.push_back(boost::json::object{{"name", q.name},
                                    {"display_name", q.display_name},
                                    {"waiting", q.waiting},
                                    {"longest_wait_ms", q.longest_wait_ms},
                                    {"agents_online", q.agents_online}});
  return boost::json::serialize(a);
}

std::vector<core::OfferedQueue> decode_queues(const std::string& text) {
  std::vector<core::OfferedQueue> out;
  if (text.empty()) return out;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  auto str = [](const boost::json::object& o, std::string_view k) {
    auto* f = o.if_contains(k);
    return f && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  auto num = [](const boost::json::object& o, std::string_view k) {
    auto* f = o.if_contains(k);
    return f && f->is_int64() ? f->as_int64() : std::int64_t{0};
  };
  for (const auto& item : v.as_array()) {
    if (!item.is_object()) continue;
    const auto& o = item.as_object();
    out.push_back({str(o, "name"), str(o, "display_name"), num(o, "waiting"), num(o, "longest_wait_ms"),
                   num(o, "agents_online")});
  }
  return out;
}

void bind_transfer(Statement& st, const core::Transfer& t) {
  st.bind(1, t.id)
      .bind(2, t.conversation_id)
      .bind(3, core::transfer_kind_name(t.kind))
      .bind(4, core::transfer_state_name(t.state))
      .bind(5, t.from_agent)
      .bind(6, t.to_agent)
      .bind(7, t.to_queue)
      .bind(8, t.to_peer)
      .bind(9, t.note)
      .bind(10, t.reason)
      .bind(11, t.created_at)
      .bind(12, t.updated_at)
      .bind(13, t.deadline)
      .bind(14, core::direction_name(t.direction))
      .bind(15, core::peer_step_name(t.step))
      .bind(16, t.organization)
      .bind(17, t.hop_count)
      .bind(18, t.authorization_code)
      .bind(19, encode_queues(t.queues))
      .bind(20, t.recall_hash)
      .bind(21, t.join_code)
      .bind(22, t.join_expires_at)
      .bind(23, t.context_seq)
      .bind(24, t.remote_id)
      .bind(25, t.offer_digest)
      .bind(26, t.context_digest)
      .bind(27, t.auth_nonce)
      .bind(28, t.auth_hash)
      .bind(29, t.join_nonce)
      .bind(30, t.join_hash)
      .bind(31, t.recall_ticket)
      .bind(32, t.return_url);
}

Result<core::Transfer> read_transfer(const Statement& st) {
  core::Transfer t;
  t.id = st.column_text(0);
  t.conversation_id = st.column_text(1);
  auto kind = core::parse_transfer_kind(st.column_text(2));
  auto state = core::parse_transfer_state(st.column_text(3));
  auto direction = core::parse_direction(st.column_text(13));
  auto step = core::parse_peer_step(st.column_text(14));
  if (!kind || !state || !direction || !step)
    return Error{Errc::internal, "transfer " + t.id + " has an unknown kind, state, direction or step"};
  t.kind = *kind;
  t.state = *state;
  t.from_agent = st.column_text(4);
  t.to_agent = st.column_text(5);
  t.to_queue = st.column_text(6);
  t.to_peer = st.column_text(7);
  t.note = st.column_text(8);
  t.reason = st.column_text(9);
  t.created_at = st.column_int64(10);
  t.updated_at = st.column_int64(11);
  t.deadline = st.column_int64(12);
  t.direction = *direction;
  t.step = *step;
  t.organization = st.column_text(15);
  t.hop_count = st.column_int64(16);
  t.authorization_code = st.column_text(17);
  t.queues = decode_queues(st.column_text(18));
  t.recall_hash = st.column_text(19);
  t.join_code = st.column_text(20);
  t.join_expires_at = st.column_int64(21);
  t.context_seq = st.column_int64(22);
  t.remote_id = st.column_text(23);
  t.offer_digest = st.column_text(24);
  t.context_digest = st.column_text(25);
  t.auth_nonce = st.column_text(26);
  t.auth_hash = st.column_text(27);
  t.join_nonce = st.column_text(28);
  t.join_hash = st.column_text(29);
  t.recall_ticket = st.column_text(30);
  t.return_url = st.column_text(31);
  return t;
}

Result<core::OutboxItem> read_outbox_item(const Statement& st) {
  core::OutboxItem o;
  o.id = st.column_text(0);
  o.transfer = st.column_text(1);
  o.peer = st.column_text(2);
  auto action = core::parse_peer_action(st.column_text(3));
  if (!action) return Error{Errc::internal, "outbox item " + o.id + " has an unknown action"};
  o.action = *action;
  o.body = st.column_text(4);
  o.rounds = static_cast<int>(st.column_int64(5));
  o.max_rounds = static_cast<int>(st.column_int64(6));
  o.next_at = st.column_int64(7);
  o.created_at = st.column_int64(8);
  o.path = st.column_text(9);
  return o;
}

void bind_event(Statement& st, const Event& e) {
  st.bind(1, e.conversation_id)
      .bind(2, e.seq)
      .bind(3, core::kind_name(e.kind))
      .bind(4, core::author_kind_name(e.author_kind))
      .bind(5, e.author_id)
      .bind(6, e.author_name)
      .bind(7, e.client_id)
      .bind(8, e.text)
      .bind(9, e.at);
}

Result<Conversation> read_conversation(const Statement& st) {
  Conversation c;
  c.id = st.column_text(0);
  c.site = st.column_text(1);
  c.queue = st.column_text(2);
  auto state = core::parse_state(st.column_text(3));
  if (!state) {
    return Error{Errc::internal, "conversation " + c.id + " has unknown state '" +
                                     st.column_text(3) + "'"};
  }
  c.state = *state;
  c.agent = st.column_text(4);
  c.visitor.name = st.column_text(5);
  c.visitor.email = st.column_text(6);
  c.visitor.page = st.column_text(7);
  c.visitor.user_agent = st.column_text(8);
  c.visitor.origin = st.column_text(9);
  c.visitor_token_hash = st.column_text(10);
  c.created_at = st.column_int64(11);
  c.waiting_since = st.column_int64(12);
  c.updated_at = st.column_int64(13);
  c.closed_at = st.column_int64(14);
  c.close_reason = st.column_text(15);
  c.last_seq = st.column_int64(16);
  c.offline = st.column_int64(17) != 0;
  c.last_message = st.column_text(18);
  c.consultant = st.column_text(19);
  c.consultant_joined = st.column_int64(20) != 0;
  return c;
}

Result<Event> read_event(const Statement& st) {
  Event e;
  e.conversation_id = st.column_text(0);
  e.seq = st.column_int64(1);
  auto kind = core::parse_kind(st.column_text(2));
  auto author_kind = core::parse_author_kind(st.column_text(3));
  if (!kind || !author_kind) {
    return Error{Errc::internal, "event " + e.conversation_id + "/" + std::to_string(e.seq) +
                                     " has an unknown kind or author kind"};
  }
  e.kind = *kind;
  e.author_kind = *author_kind;
  e.author_id = st.column_text(4);
  e.author_name = st.column_text(5);
  e.client_id = st.column_text(6);
  e.text = st.column_text(7);
  e.at = st.column_int64(8);
  return e;
}

// Runs a prepared query and collects every row through `read`.
template <typename T, typename Read>
Result<std::vector<T>> collect(Statement& st, Read read) {
  std::vector<T> out;
  for (;;) {
    auto row = st.step();
    if (!row) return row.error();
    if (!*row) return out;
    auto item = read(st);
    if (!item) return item.error();
    out.push_back(std::move(*item));
  }
}

// Brings the schema up to kSchemaVersion in one transaction, or refuses a newer one.
Status migrate(Db& db) {
  auto newer = [&](std::int64_t v) {
    return Error{Errc::unavailable,
                 "database " + db.path() + " has schema version " + std::to_string(v) +
                     ", newer than this binary supports (" + std::to_string(kSchemaVersion) +
                     "); run a newer baton or restore a backup"};
  };
  auto version = db.query_int64("PRAGMA user_version");
  if (!version) return with_path(db.path(), version.error());
  if (*version > kSchemaVersion) return newer(*version);
  if (*version == kSchemaVersion) return core::ok_status();

  if (auto st = db.exec("BEGIN IMMEDIATE"); !st) return with_path(db.path(), st.error());
  auto fail = [&](const Error& e) {
    (void)db.exec("ROLLBACK");
    return with_path(db.path(), e);
  };
  // Read again under the write lock: another process may have migrated meanwhile.
  version = db.query_int64("PRAGMA user_version");
  if (!version) return fail(version.error());
  if (*version > kSchemaVersion) return fail(newer(*version));
  const std::int64_t from = *version;
  for (std::int64_t v = from; v < kSchemaVersion; ++v) {
    if (auto st = db.exec(kMigrations[v]); !st) {
      return fail(Error{Errc::unavailable, "migration to schema version " +
                                               std::to_string(v + 1) + " failed: " +
                                               st.error().message});
    }
  }
  if (auto st = db.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion)); !st) {
    return fail(st.error());
  }
  if (auto st = db.exec("COMMIT"); !st) return fail(st.error());
  spdlog::info("database {}: schema migrated from version {} to {}", db.path(), from,
               kSchemaVersion);
  return core::ok_status();
}

Status configure_writer(Db& db) {
  if (db.read_only()) {
    return Error{Errc::unavailable, "database " + db.path() + " is read-only"};
  }
  if (auto st = db.exec("PRAGMA busy_timeout = " + std::to_string(kBusyTimeoutMs)); !st) {
    return with_path(db.path(), st.error());
  }
  // The first statement that touches the file: errors about the path show up here.
  auto mode = db.prepare("PRAGMA journal_mode = WAL");
  if (!mode) return with_path(db.path(), mode.error());
  auto row = mode->step();
  if (!row) return with_path(db.path(), row.error());
  if (!*row || mode->column_text(0) != "wal") {
    return Error{Errc::unavailable, "database " + db.path() + ": cannot switch to WAL mode"};
  }
  // synchronous = NORMAL even with synchronous_full: then the syncer thread fdatasyncs
  // the WAL after each commit, before any callback runs (run_syncer), off the writer's
  // path. In WAL mode NORMAL still syncs the WAL before a checkpoint and the database
  // after it.
  // wal_autocheckpoint = 0: the commit that crosses 1 000 WAL pages would otherwise
  // copy them into the database file (and fsync it) before its writes are
  // acknowledged; the checkpointer thread does it instead. journal_size_limit: the
  // WAL file is cut back to 512 MiB when it starts over (well above the 250 MiB at which
  // it is made to start over, which it passes while the checkpointer catches up: a file
  // cut shorter would grow again, block by block).
  if (auto st = db.exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;"
                        " PRAGMA journal_size_limit = 536870912");
      !st) {
    return with_path(db.path(), st.error());
  }
  return core::ok_status();
}

// Activity-only writes (core::Write::activity_only) leave last_seq, last_message and
// updated_at of their conversation row to be written later; a crash in between
// leaves the row behind its events. Rebuilds those three from the events of every
// live conversation whose row is behind (a conversation's last write before it
// ends always carries the whole row).
Status recover_activity(Db& db) {
  auto behind = db.prepare(
      "SELECT id, last_seq, updated_at FROM conversations AS c"
      " WHERE state IN ('waiting', 'active', 'transferring')"
      " AND last_seq < (SELECT MAX(seq) FROM events WHERE conversation_id = c.id)");
  if (!behind) return behind.error();
  struct Row {
    std::string id;
    std::int64_t last_seq;
    std::int64_t updated_at;
  };
  std::vector<Row> rows;
  for (;;) {
    auto r = behind->step();
    if (!r) return r.error();
    if (!*r) break;
    rows.push_back(Row{behind->column_text(0), behind->column_int64(1), behind->column_int64(2)});
  }
  if (rows.empty()) return core::ok_status();
  if (auto st = db.exec("BEGIN IMMEDIATE"); !st) return st.error();
  auto body = [&]() -> Status {
    for (const auto& row : rows) {
      auto last = db.prepare("SELECT MAX(seq), MAX(at) FROM events WHERE conversation_id = ?1");
      if (!last) return last.error();
      last->bind(1, row.id);
      if (auto r = last->step(); !r) return r.error();
      std::int64_t seq = last->column_int64(0);
      std::int64_t at = std::max(row.updated_at, last->column_int64(1));
      auto msg = db.prepare(
          "SELECT text FROM events WHERE conversation_id = ?1 AND seq > ?2 AND kind = 'message'"
          " ORDER BY seq DESC LIMIT 1");
      if (!msg) return msg.error();
      msg->bind(1, row.id).bind(2, row.last_seq);
      auto found = msg->step();
      if (!found) return found.error();
      std::string sql = *found ? "UPDATE conversations SET last_seq = ?2, updated_at = ?3, last_message = ?4"
                                 " WHERE id = ?1"
                               : "UPDATE conversations SET last_seq = ?2, updated_at = ?3 WHERE id = ?1";
      std::string preview = *found ? core::utf8_prefix(msg->column_text(0), core::kPreviewBytes) : "";
      auto up = db.prepare(sql);
      if (!up) return up.error();
      up->bind(1, row.id).bind(2, seq).bind(3, at);
      if (*found) up->bind(4, preview);
      if (auto r = up->run(); !r) return r.error();
    }
    return core::ok_status();
  };
  if (auto st = body(); !st) {
    (void)db.exec("ROLLBACK");
    return st.error();
  }
  if (auto st = db.exec("COMMIT"); !st) return st.error();
  spdlog::info("database {}: recovered the latest activity of {} conversations from their events", db.path(),
               rows.size());
  return core::ok_status();
}

}  // namespace

// ---- reader pool ----------------------------------------------------------------

// A reader connection taken from the pool, returned on destruction.
class SqliteStore::ReaderLease {
 public:
  ReaderLease(SqliteStore& store, Db db) : store_(store), db_(std::move(db)) {}
  ReaderLease(const ReaderLease&) = delete;
  ReaderLease& operator=(const ReaderLease&) = delete;
  ~ReaderLease() {
    {
      std::lock_guard lk(store_.readers_mu_);
      store_.idle_readers_.push_back(std::move(db_));
    }
    store_.readers_cv_.notify_one();
  }
  Db& db() { return db_; }

 private:
  SqliteStore& store_;
  Db db_;
};

SqliteStore::ReaderLease SqliteStore::lease_reader() {
  std::unique_lock lk(readers_mu_);
  readers_cv_.wait(lk, [&] { return !idle_readers_.empty(); });
  Db db = std::move(idle_readers_.back());
  idle_readers_.pop_back();
  return ReaderLease(*this, std::move(db));
}

// ---- open / close ---------------------------------------------------------------

int SqliteStore::schema_version() { return kSchemaVersion; }

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       SqliteOptions opts) {
  opts.max_batch = std::max<std::size_t>(opts.max_batch, 1);
  opts.readers = std::max(opts.readers, 1);
  opts.checkpoint_pages = std::max(opts.checkpoint_pages, 1);
  opts.restart_pages = std::max(opts.restart_pages, 1);

  auto writer = Db::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
  if (!writer) return writer.error();
  if (auto st = configure_writer(*writer); !st) return st.error();
  if (auto st = migrate(*writer); !st) return st.error();
  if (auto st = recover_activity(*writer); !st) return with_path(path, st.error());

  // Opened after the writer has set WAL mode and the schema, so they see both.
  std::vector<Db> readers;
  for (int i = 0; i < opts.readers; ++i) {
    auto reader = Db::open(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
    if (!reader) return reader.error();
    if (auto st = reader->exec("PRAGMA busy_timeout = " + std::to_string(kBusyTimeoutMs)); !st) {
      return with_path(path, st.error());
    }
    readers.push_back(std::move(*reader));
  }
  auto checkpointer = Db::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
  if (!checkpointer) return checkpointer.error();
  if (auto st = checkpointer->exec("PRAGMA synchronous = NORMAL");
      !st) {
    return with_path(path, st.error());
  }
  return std::unique_ptr<SqliteStore>(
      new SqliteStore(std::move(*writer), std::move(readers), std::move(*checkpointer), opts));
}

SqliteStore::SqliteStore(Db writer, std::vector<Db> readers, Db checkpointer, SqliteOptions opts)
    : opts_(opts),
      writer_db_(std::move(writer)),
      idle_readers_(std::move(readers)),
      checkpoint_db_(std::move(checkpointer)) {
  sqlite3_wal_hook(writer_db_.handle(), &SqliteStore::on_wal_commit, this);
  // Named, so that profiles and bench/loadgen can tell them apart.
  writer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "store-writer");
    run_writer();
  });
  checkpointer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "store-ckpt");
    run_checkpointer();
  });
  if (opts_.synchronous_full) {
    syncer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "store-sync");
      run_syncer();
    });
  }
}

int SqliteStore::on_wal_commit(void* store, sqlite3*, const char*, int pages) {
  auto* self = static_cast<SqliteStore*>(store);
  self->wal_pages_.store(pages, std::memory_order_relaxed);
  // Once per checkpoint_pages appended: a checkpoint that could not catch up (the writer
  // went on meanwhile) leaves the WAL long, and asking again after every commit
  // would copy a few pages and fsync the database file per commit.
  if (pages < self->wal_pages_asked_) self->wal_pages_asked_ = 0;  // the WAL started over
  const int every = self->opts_.checkpoint_pages;
  if (pages >= every && pages - self->wal_pages_asked_ >= every) {
    self->wal_pages_asked_ = pages;
    {
      std::lock_guard lk(self->checkpoint_mu_);
      self->checkpoint_wanted_ = true;
    }
    self->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteStore::run_checkpointer() {
  std::unique_lock lk(checkpoint_mu_);
  for (;;) {
    checkpoint_cv_.wait(lk, [&] { return checkpoint_stop_ || checkpoint_wanted_; });
    if (checkpoint_stop_) return;
    checkpoint_wanted_ = false;
    lk.unlock();
    // Rounds: each copies what was appended during the one before, so a long WAL
    // comes down to a last few pages, which the writer copies (catch_up_checkpoint).
    for (int round = 0; round < kCatchUpRounds; ++round) {
      auto st = checkpoint_db_.prepare("PRAGMA wal_checkpoint(PASSIVE)");
      if (!st) {
        spdlog::warn("store: checkpoint: {}", st.error().message);
        break;
      }
      auto row = st->step();
      if (!row) {
        spdlog::warn("store: checkpoint: {}", row.error().message);
        break;
      }
      if (!*row) break;
      // Columns: busy, pages in the WAL, pages copied.
      const std::int64_t log = st->column_int64(1);
      const std::int64_t copied = st->column_int64(2);
      if (log < opts_.restart_pages || copied < 0) break;
      if (log - copied <= kCatchUpPages) {
        {
          std::lock_guard qlk(queue_mu_);  // so that the writer cannot miss the wake-up
          catch_up_wanted_.store(true, std::memory_order_relaxed);
        }
        queue_cv_.notify_one();
        break;
      }
    }
    lk.lock();
  }
}

void SqliteStore::catch_up_checkpoint() {
  auto st = writer_db_.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  if (!st) {
    spdlog::warn("store: checkpoint: {}", st.error().message);
    return;
  }
  auto row = st->step();
  if (!row) spdlog::warn("store: checkpoint: {}", row.error().message);
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lk(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  writer_.join();
  if (syncer_.joinable()) {
    {
      std::lock_guard lk(sync_mu_);
      sync_stop_ = true;
    }
    sync_cv_.notify_all();
    syncer_.join();
  }
  if (wal_fd_ >= 0) ::close(wal_fd_);
  {
    std::lock_guard lk(checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  checkpoint_cv_.notify_all();
  checkpointer_.join();
  // Members go in reverse order: the readers close before the writer connection,
  // whose close (the last one) checkpoints the WAL into the database file.
}

// ---- writes ---------------------------------------------------------------------

void SqliteStore::write(core::Write w, WriteDone done) {
  {
    std::lock_guard lk(queue_mu_);
    queue_.push_back(Pending{std::move(w), std::move(done)});
    ++submitted_;
  }
  queue_cv_.notify_one();
}

void SqliteStore::flush() {
  if (std::this_thread::get_id() == writer_.get_id() || std::this_thread::get_id() == syncer_.get_id()) {
    // From a callback: the writes before it are committed, but their callbacks
    // cannot complete while this one waits. Waiting would never end.
    spdlog::error("store: flush() called from a write callback; not waiting");
    return;
  }
  std::unique_lock lk(queue_mu_);
  const std::uint64_t target = submitted_;
  done_cv_.wait(lk, [&] { return completed_ >= target; });
}

void SqliteStore::run_writer() {
  using Clock = std::chrono::steady_clock;
  constexpr auto kNever = Clock::time_point::max();
  std::vector<Pending> batch;
  batch.reserve(opts_.max_batch);
  auto activity_due = kNever;  // when the pending activity must be written
  for (;;) {
    std::uint64_t requested = 0;
    bool asked = false;
    bool stop = false;
    {
      std::unique_lock lk(queue_mu_);
      auto wake = [&] {
        return stopping_ || !queue_.empty() || activity_requested_ > activity_written_ ||
               catch_up_wanted_.load(std::memory_order_relaxed);
      };
      if (activity_due == kNever) {
        queue_cv_.wait(lk, wake);
      } else {
        queue_cv_.wait_until(lk, activity_due, wake);
      }
      requested = activity_requested_;
      asked = requested > activity_written_;
      stop = stopping_ && queue_.empty();
      const std::size_t n = std::min(queue_.size(), opts_.max_batch);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) {
      auto results = commit_batch(batch);
      // Before the callbacks, so that a read they cause sees it.
      record_activity(batch, results);
      if (activity_due == kNever) {
        std::lock_guard lk(activity_mu_);
        if (!activity_.empty()) activity_due = Clock::now() + opts_.activity_delay;
      }
      if (opts_.synchronous_full) {  // the syncer runs the callbacks
        {
          std::lock_guard lk(sync_mu_);
          sync_queue_.push_back(Committed{std::move(batch), std::move(results)});
        }
        sync_cv_.notify_one();
        batch = {};
        batch.reserve(opts_.max_batch);
      } else {
        complete(batch, results);
        batch.clear();
      }
    }
    if (catch_up_wanted_.exchange(false, std::memory_order_relaxed)) catch_up_checkpoint();
    if (asked || stop || (activity_due != kNever && Clock::now() >= activity_due)) {
      write_activity();
      std::lock_guard lk(activity_mu_);
      activity_due = activity_.empty() ? kNever : Clock::now() + opts_.activity_delay;  // failed: retry
    }
    if (asked) {
      {
        std::lock_guard lk(queue_mu_);
        activity_written_ = requested;
      }
      done_cv_.notify_all();
    }
    if (stop) return;  // stopping, and everything is done
  }
}

void SqliteStore::complete(std::vector<Pending>& batch, std::vector<Result<WriteResult>>& results) {
  // Outside any lock: a callback may write() again.
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].done) continue;
    try {
      batch[i].done(std::move(results[i]));
    } catch (const std::exception& e) {
      spdlog::error("store: a write callback threw: {}", e.what());
    } catch (...) {
      spdlog::error("store: a write callback threw");
    }
  }
  {
    std::lock_guard lk(queue_mu_);
    completed_ += batch.size();
  }
  done_cv_.notify_all();
}

Status SqliteStore::sync_wal() {
  const std::string wal = writer_db_.path() + "-wal";
  struct stat by_path {};
  if (::stat(wal.c_str(), &by_path) != 0) {
    return Error{Errc::unavailable, "cannot find " + wal + ": " + std::strerror(errno)};
  }
  struct stat by_fd {};
  if (wal_fd_ >= 0 && (::fstat(wal_fd_, &by_fd) != 0 || by_fd.st_ino != by_path.st_ino || by_fd.st_dev != by_path.st_dev)) {
    ::close(wal_fd_);  // not the WAL any more (it was made anew)
    wal_fd_ = -1;
    dir_synced_ = false;
  }
  if (wal_fd_ < 0) {
    wal_fd_ = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (wal_fd_ < 0) return Error{Errc::unavailable, "cannot open " + wal + ": " + std::strerror(errno)};
  }
  if (::fdatasync(wal_fd_) != 0) {
    return Error{Errc::unavailable, "cannot sync " + wal + ": " + std::strerror(errno)};
  }
  if (!dir_synced_) {
    // A WAL file made since the last sync: its name must last too.
    const std::string dir = std::filesystem::path(wal).parent_path().string();
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return Error{Errc::unavailable, "cannot open " + dir + ": " + std::strerror(errno)};
    int rc = ::fsync(dfd);
    int err = errno;
    ::close(dfd);
    if (rc != 0) return Error{Errc::unavailable, "cannot sync " + dir + ": " + std::strerror(err)};
    dir_synced_ = true;
  }
  wal_syncs_.fetch_add(1, std::memory_order_relaxed);
  return core::ok_status();
}

void SqliteStore::run_syncer() {
  std::deque<Committed> todo;
  for (;;) {
    {
      std::unique_lock lk(sync_mu_);
      sync_cv_.wait(lk, [&] { return sync_stop_ || !sync_queue_.empty(); });
      if (sync_queue_.empty()) return;  // stopping, and everything is done
      todo.swap(sync_queue_);
    }
    // One fdatasync for every batch committed so far: each was written to the WAL
    // before it was queued here.
    bool any = false;
    for (const auto& c : todo) {
      for (const auto& r : c.results) any = any || static_cast<bool>(r);
    }
    if (any) {
      if (auto st = sync_wal(); !st) {
        spdlog::error("store: {}", st.error().message);
        for (auto& c : todo) {
          for (auto& r : c.results) {
            if (r) r = Error{Errc::unavailable, "stored, but not known to be on disk: " + st.error().message};
          }
        }
      }
    }
    for (auto& c : todo) complete(c.batch, c.results);
    todo.clear();
  }
}

void SqliteStore::record_activity(const std::vector<Pending>& batch,
                                  const std::vector<Result<WriteResult>>& results) {
  std::lock_guard lk(activity_mu_);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const core::Write& w = batch[i].write;
    if (!w.conversation || !results[i] || results[i]->duplicate) continue;
    const Conversation& c = *w.conversation;
    if (!w.activity_only) {
      activity_.erase(c.id);  // the row has it all
      continue;
    }
    auto& a = activity_[c.id];
    if (c.last_seq < a.last_seq) continue;
    a.last_seq = c.last_seq;
    a.last_message = c.last_message;
    a.updated_at = c.updated_at;
  }
}

void SqliteStore::write_activity() {
  std::vector<std::pair<std::string, Activity>> todo;
  {
    std::lock_guard lk(activity_mu_);
    if (activity_.empty()) return;
    todo.assign(activity_.begin(), activity_.end());
  }
  Db& db = writer_db_;
  if (auto st = run(db, "BEGIN IMMEDIATE"); !st) {
    spdlog::error("store: cannot begin a transaction for conversation activity: {}", st.error().message);
    return;
  }
  auto body = [&]() -> Status {
    for (const auto& [id, a] : todo) {
      auto st = db.prepare(
          "UPDATE conversations SET last_seq = ?2, last_message = ?3, updated_at = ?4"
          " WHERE id = ?1 AND last_seq < ?2");
      if (!st) return st.error();
      st->bind(1, id).bind(2, a.last_seq).bind(3, a.last_message).bind(4, a.updated_at);
      if (auto r = st->run(); !r) return r.error();
    }
    return core::ok_status();
  };
  auto st = body();
  if (st) st = run(db, "COMMIT");
  if (!st) {
    spdlog::error("store: writing conversation activity failed (kept for later): {}", st.error().message);
    if (db.in_transaction()) (void)db.exec("ROLLBACK");
    return;
  }
  std::lock_guard lk(activity_mu_);
  for (const auto& [id, a] : todo) {
    auto it = activity_.find(id);
    if (it != activity_.end() && it->second.last_seq == a.last_seq) activity_.erase(it);
  }
}

void SqliteStore::overlay_activity(Conversation& c, const Activity* before) const {
  if (!before || before->last_seq <= c.last_seq) return;
  c.last_seq = before->last_seq;
  c.last_message = before->last_message;
  c.updated_at = std::max(c.updated_at, before->updated_at);
}

bool SqliteStore::take_more(std::vector<Pending>& batch) {
  std::lock_guard lk(queue_mu_);
  const std::size_t room = opts_.max_batch - std::min(opts_.max_batch, batch.size());
  const std::size_t n = std::min(queue_.size(), room);
  for (std::size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return n > 0;
}

std::vector<Result<WriteResult>> SqliteStore::commit_batch(std::vector<Pending>& batch) {
  const Result<WriteResult> not_applied = Error{Errc::unavailable, "not applied"};
  std::vector<Result<WriteResult>> results(batch.size(), not_applied);
  auto fail_range = [&](std::size_t from, std::size_t to, const std::string& why) {
    for (std::size_t j = from; j < to; ++j) {
      if (results[j]) results[j] = Error{Errc::unavailable, why};
    }
  };
  std::size_t i = 0;
  while (i < batch.size()) {
    if (auto st = run(writer_db_, "BEGIN IMMEDIATE"); !st) {
      spdlog::error("store: cannot begin a transaction: {}", st.error().message);
      for (std::size_t j = i; j < batch.size(); ++j) results[j] = Error{Errc::unavailable, st.error().message};
      return results;
    }
    const std::size_t start = i;
    const auto began = std::chrono::steady_clock::now();
    bool cancelled = false;
    for (;;) {
      for (; i < batch.size() && !cancelled; ++i) {
        results[i] = apply(batch[i].write);
        // Some errors (SQLITE_FULL, SQLITE_IOERR, ...) make SQLite roll back the whole
        // transaction; the writes before this one in it are then lost too.
        cancelled = !results[i] && !writer_db_.in_transaction();
      }
      // Writes that arrived while these were applied join the same commit: under
      // load the batch grows with the load, an idle writer commits at once. Not for
      // longer than kGatherBudget, so that a writer short of CPU still commits.
      if (cancelled || std::chrono::steady_clock::now() - began >= kGatherBudget || !take_more(batch)) break;
      results.resize(batch.size(), not_applied);
    }
    if (cancelled) {
      const std::string why = "rolled back with another write: " + results[i - 1].error().message;
      fail_range(start, i - 1, why);
      continue;  // the rest of the batch in a new transaction
    }
    if (auto st = run(writer_db_, "COMMIT"); !st) {
      spdlog::error("store: commit failed: {}", st.error().message);
      if (writer_db_.in_transaction()) (void)writer_db_.exec("ROLLBACK");
      for (std::size_t j = start; j < i; ++j) {
        results[j] = Error{Errc::unavailable, "commit failed: " + st.error().message};
      }
    }
  }
  return results;
}

bool SqliteStore::take_injected_failure() {
  int n = fail_writes_.load();
  while (n > 0 && !fail_writes_.compare_exchange_weak(n, n - 1)) {
  }
  return n > 0;
}

Result<WriteResult> SqliteStore::apply(const core::Write& w) {
  Db& db = writer_db_;
  if (auto st = run(db, "SAVEPOINT write"); !st) return st.error();

  auto body = [&]() -> Result<WriteResult> {
    WriteResult res;
    if (w.transfer && w.transfer_is_new) {
      auto st = db.prepare("SELECT 1 FROM transfers WHERE id = ?1");
      if (!st) return st.error();
      st->bind(1, w.transfer->id);
      auto row = st->step();
      if (!row) return row.error();
      if (*row) {
        res.transfer_exists = true;
        return res;
      }
    }
    if (w.conversation && !w.activity_only) {
      auto st = db.prepare(kUpsertConversation);
      if (!st) return st.error();
      bind_conversation(*st, *w.conversation);
      if (auto r = st->run(); !r) return r.error();
    }
    if (w.event) {
      const Event& e = *w.event;
      {
        auto st = db.prepare(kInsertEvent);
        if (!st) return st.error();
        bind_event(*st, e);
        if (auto r = st->run(); !r) return r.error();
      }
      res.seq = e.seq;
      if (db.changes() == 0) {
        // A retry of a stored event: undo this write's conversation upsert (the
        // conversation must not move for a duplicate) and answer the stored seq.
        if (w.conversation && !w.activity_only) {
          if (auto r = run(db, "ROLLBACK TO write"); !r) return r.error();
        }
        auto st = db.prepare(kDuplicateSeq);
        if (!st) return st.error();
        st->bind(1, e.conversation_id)
            .bind(2, core::author_kind_name(e.author_kind))
            .bind(3, e.author_id)
            .bind(4, e.client_id);
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) return Error{Errc::internal, "duplicate event vanished"};
        res.seq = st->column_int64(0);
        res.duplicate = true;
      }
    }
    if (w.put_session) {
      const AgentSession& s = *w.put_session;
      auto st = db.prepare(kUpsertSession);
      if (!st) return st.error();
      st->bind(1, s.token_hash).bind(2, s.agent).bind(3, s.created_at).bind(4, s.expires_at);
      if (auto r = st->run(); !r) return r.error();
    }
    if (w.delete_session) {
      auto st = db.prepare("DELETE FROM agent_sessions WHERE token_hash = ?1");
      if (!st) return st.error();
      st->bind(1, *w.delete_session);
      if (auto r = st->run(); !r) return r.error();
    }
    if (w.transfer) {
      auto st = db.prepare(kUpsertTransfer);
      if (!st) return st.error();
      bind_transfer(*st, *w.transfer);
      if (auto r = st->run(); !r) return r.error();
    }
    for (std::size_t i = 0; i < w.more_events.size(); ++i) {
      auto st = db.prepare(kInsertEvent);
      if (!st) return st.error();
      bind_event(*st, w.more_events[i]);
      if (auto r = st->run(); !r) return r.error();
      if (db.changes() == 0) res.skipped.push_back(i);
    }
    for (const auto& id : w.outbox_delete) {
      auto st = db.prepare("DELETE FROM outbox WHERE id = ?1");
      if (!st) return st.error();
      st->bind(1, id);
      if (auto r = st->run(); !r) return r.error();
    }
    for (const auto& o : w.outbox_put) {
      auto st = db.prepare(kUpsertOutbox);
      if (!st) return st.error();
      st->bind(1, o.id)
          .bind(2, o.transfer)
          .bind(3, o.peer)
          .bind(4, core::peer_action_name(o.action))
          .bind(5, o.body)
          .bind(6, std::int64_t{o.rounds})
          .bind(7, std::int64_t{o.max_rounds})
          .bind(8, o.next_at)
          .bind(9, o.created_at)
          .bind(10, o.path);
      if (auto r = st->run(); !r) return r.error();
    }
    if (w.forget_nonces_until != 0) {
      auto st = db.prepare("DELETE FROM seen_nonces WHERE forget_at <= ?1");
      if (!st) return st.error();
      st->bind(1, w.forget_nonces_until);
      if (auto r = st->run(); !r) return r.error();
    }
    if (w.nonce) {
      auto st = db.prepare("INSERT INTO seen_nonces (key, forget_at) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING");
      if (!st) return st.error();
      st->bind(1, w.nonce->key).bind(2, w.nonce->forget_at);
      if (auto r = st->run(); !r) return r.error();
      // A key still stored is a replay (expired ones were forgotten above).
      if (db.changes() == 0) return Error{Errc::unavailable, "nonce already stored"};
    }
    if (!w.forget_scope.empty()) {
      auto st = db.prepare("DELETE FROM attempts WHERE scope = ?1 AND at < ?2");
      if (!st) return st.error();
      st->bind(1, w.forget_scope).bind(2, w.forget_attempts_before);
      if (auto r = st->run(); !r) return r.error();
    }
    if (w.attempt) {
      auto st = db.prepare("INSERT INTO attempts (scope, key, address, at) VALUES (?1, ?2, ?3, ?4)");
      if (!st) return st.error();
      st->bind(1, w.attempt->scope).bind(2, w.attempt->key).bind(3, w.attempt->address).bind(4, w.attempt->at);
      if (auto r = st->run(); !r) return r.error();
    }
    if (take_injected_failure()) {
      return Error{Errc::unavailable, "database or disk is full (injected for test)"};
    }
    return res;
  };

  auto res = body();
  if (!res) {
    spdlog::warn("store: write failed and was rolled back: {}", res.error().message);
    if (db.in_transaction()) {
      (void)run(db, "ROLLBACK TO write");
      (void)run(db, "RELEASE write");
    }
    if (res.error().code != Errc::unavailable) {
      return Error{Errc::unavailable, res.error().message};
    }
    return res;
  }
  if (auto st = run(db, "RELEASE write"); !st) {
    if (db.in_transaction()) {
      (void)run(db, "ROLLBACK TO write");
      (void)run(db, "RELEASE write");
    }
    return st.error();
  }
  return res;
}

// ---- reads ----------------------------------------------------------------------

Result<std::vector<Conversation>> SqliteStore::load_live() {
  // Taken before the rows are read: activity written meanwhile is in the rows then.
  std::unordered_map<std::string, Activity> pending;
  {
    std::lock_guard lk(activity_mu_);
    pending = activity_;
  }
  auto lease = lease_reader();
  auto st = lease.db().prepare("SELECT " + kConversationColumns +
                               " FROM conversations WHERE state IN ('waiting', 'active',"
                               " 'transferring') ORDER BY updated_at, id");
  if (!st) return st.error();
  auto live = collect<Conversation>(*st, read_conversation);
  if (!live || pending.empty()) return live;
  for (auto& c : *live) {
    auto it = pending.find(c.id);
    overlay_activity(c, it == pending.end() ? nullptr : &it->second);
  }
  return live;
}

Result<std::optional<Conversation>> SqliteStore::conversation(std::string_view id) {
  std::optional<Activity> pending;  // before the row is read, as in load_live()
  {
    std::lock_guard lk(activity_mu_);
    if (auto it = activity_.find(std::string(id)); it != activity_.end()) pending = it->second;
  }
  auto lease = lease_reader();
  auto st = lease.db().prepare("SELECT " + kConversationColumns +
                               " FROM conversations WHERE id = ?1");
  if (!st) return st.error();
  st->bind(1, id);
  auto row = st->step();
  if (!row) return row.error();
  if (!*row) return std::optional<Conversation>{};
  auto c = read_conversation(*st);
  if (!c) return c.error();
  overlay_activity(*c, pending ? &*pending : nullptr);
  return std::optional<Conversation>(std::move(*c));
}

Result<std::vector<Event>> SqliteStore::events(std::string_view conversation_id,
                                               std::int64_t after_seq, std::size_t limit,
                                               bool include_notes) {
  auto lease = lease_reader();
  std::string sql = "SELECT " + kEventColumns +
                    " FROM events WHERE conversation_id = ?1 AND seq > ?2";
  if (!include_notes) sql += " AND kind <> 'note'";
  sql += " ORDER BY seq LIMIT ?3";
  auto st = lease.db().prepare(sql);
  if (!st) return st.error();
  st->bind(1, conversation_id).bind(2, after_seq).bind(3, to_int64(limit));
  return collect<Event>(*st, read_event);
}

Result<std::vector<Conversation>> SqliteStore::list(const core::ListQuery& q) {
  // The order and the cursor are those of the rows: bring them up to date first.
  if (std::this_thread::get_id() != writer_.get_id()) {
    bool pending = false;
    {
      std::lock_guard lk(activity_mu_);
      pending = !activity_.empty();
    }
    if (pending) {
      std::unique_lock lk(queue_mu_);
      const std::uint64_t target = ++activity_requested_;
      queue_cv_.notify_one();
      done_cv_.wait(lk, [&] { return activity_written_ >= target; });
    }
  }
  // Only the filters in use appear in the SQL, so that each combination gets a
  // plan that uses its index; each variant is prepared once and cached.
  // Parameters keep fixed numbers; binding one that the text omits is harmless.
  std::string sql = "SELECT " + kConversationColumns + " FROM conversations";
  std::string where;
  auto add = [&](const char* cond) {
    where += where.empty() ? " WHERE " : " AND ";
    where += cond;
  };
  if (q.state) add("state = ?1");
  if (!q.agent.empty()) add("agent = ?2");
  if (!q.queue.empty()) add("queue = ?3");
  if (q.before_updated_at != 0) add("(updated_at, id) < (?4, ?5)");
  sql += where;
  sql += " ORDER BY updated_at DESC, id DESC LIMIT ?6";

  auto lease = lease_reader();
  auto st = lease.db().prepare(sql);
  if (!st) return st.error();
  st->bind(1, q.state ? core::state_name(*q.state) : std::string_view{})
      .bind(2, q.agent)
      .bind(3, q.queue)
      .bind(4, q.before_updated_at)
      .bind(5, q.before_id)
      .bind(6, to_int64(std::min(q.limit, kMaxListLimit)));
  return collect<Conversation>(*st, read_conversation);
}

Result<std::optional<AgentSession>> SqliteStore::session(std::string_view token_hash) {
  auto lease = lease_reader();
  auto st = lease.db().prepare(
      "SELECT token_hash, agent, created_at, expires_at FROM agent_sessions WHERE token_hash = ?1");
  if (!st) return st.error();
  st->bind(1, token_hash);
  auto row = st->step();
  if (!row) return row.error();
  if (!*row) return std::optional<AgentSession>{};
  AgentSession s;
  s.token_hash = st->column_text(0);
  s.agent = st->column_text(1);
  s.created_at = st->column_int64(2);
  s.expires_at = st->column_int64(3);
  return std::optional<AgentSession>(std::move(s));
}

Result<std::vector<core::Transfer>> SqliteStore::transfers(std::string_view conversation_id) {
  auto lease = lease_reader();
  auto st = lease.db().prepare("SELECT " + kTransferColumns +
                               " FROM transfers WHERE conversation_id = ?1 ORDER BY created_at, id");
  if (!st) return st.error();
  st->bind(1, conversation_id);
  return collect<core::Transfer>(*st, read_transfer);
}

Result<std::optional<core::Transfer>> SqliteStore::transfer(std::string_view id) {
  auto lease = lease_reader();
  auto st = lease.db().prepare("SELECT " + kTransferColumns + " FROM transfers WHERE id = ?1");
  if (!st) return st.error();
  st->bind(1, id);
  auto all = collect<core::Transfer>(*st, read_transfer);
  if (!all) return all.error();
  if (all->empty()) return std::optional<core::Transfer>{};
  return std::optional<core::Transfer>(std::move(all->front()));
}

Result<std::vector<core::Transfer>> SqliteStore::open_transfers() {
  auto lease = lease_reader();
  auto st = lease.db().prepare("SELECT " + kTransferColumns +
                               " FROM transfers WHERE deadline <> 0 ORDER BY created_at, id");
  if (!st) return st.error();
  return collect<core::Transfer>(*st, read_transfer);
}

Result<std::vector<core::OutboxItem>> SqliteStore::outbox() {
  auto lease = lease_reader();
  auto st = lease.db().prepare(
      "SELECT id, transfer, peer, action, body, rounds, max_rounds, next_at, created_at, path FROM outbox"
      " ORDER BY created_at, id");
  if (!st) return st.error();
  return collect<core::OutboxItem>(*st, read_outbox_item);
}

Result<std::vector<core::SeenNonce>> SqliteStore::nonces(core::Millis now) {
  auto lease = lease_reader();
  auto st = lease.db().prepare("SELECT key, forget_at FROM seen_nonces WHERE forget_at > ?1");
  if (!st) return st.error();
  st->bind(1, now);
  return collect<core::SeenNonce>(*st, [](const Statement& row) -> Result<core::SeenNonce> {
    return core::SeenNonce{row.column_text(0), row.column_int64(1)};
  });
}

Result<std::vector<core::Attempt>> SqliteStore::attempts(std::string_view scope, core::Millis since) {
  auto lease = lease_reader();
  auto st = lease.db().prepare(
      "SELECT scope, key, address, at FROM attempts WHERE scope = ?1 AND at >= ?2 ORDER BY at");
  if (!st) return st.error();
  st->bind(1, scope).bind(2, since);
  return collect<core::Attempt>(*st, [](const Statement& row) -> Result<core::Attempt> {
    return core::Attempt{row.column_text(0), row.column_text(1), row.column_text(2), row.column_int64(3)};
  });
}

}  // namespace baton::storage
