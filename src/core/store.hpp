// The store: where conversations, their events and agent sessions are kept.
// storage::SqliteStore is the implementation; the interface exists so that
// PostgreSQL can take its place (DESIGN.md §3) and tests can inject failures.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/conversation.hpp"
#include "core/error.hpp"
#include "core/transfer.hpp"

namespace baton::core {

struct AgentSession {
  std::string token_hash;  // hex; the token itself is never stored
  std::string agent;
  Millis created_at = 0;
  Millis expires_at = 0;
};

// One unit of work, committed atomically with the others of its group commit.
// Every part is optional; they are applied in the order listed here.
struct Write {
  // Appended to its conversation's log. If an event with the same conversation,
  // author kind, author id and non-empty client_id exists, nothing is written and
  // the result names the stored event's seq with duplicate = true.
  std::optional<Event> event;
  // Upserted by id (skipped when `event` was a duplicate).
  std::optional<Conversation> conversation;
  std::optional<AgentSession> put_session;
  std::optional<std::string> delete_session;  // token hash
  std::optional<Transfer> transfer;           // upserted by id
  // Set when `conversation` differs from the last snapshot written only in
  // last_seq, last_message and updated_at (a message or a note appended). The
  // store may then write those three later, coalesced: they follow from the
  // conversation's events, so nothing acknowledged depends on them.
  bool activity_only = false;
};

struct WriteResult {
  std::int64_t seq = 0;  // the event's seq (the stored one if duplicate)
  bool duplicate = false;
};

struct ListQuery {
  std::optional<ConversationState> state;
  std::string agent;  // only this agent's, when set
  std::string queue;  // only this queue's, when set
  // Cursor: rows strictly older than (updated_at, id) in newest-first order.
  Millis before_updated_at = 0;
  std::string before_id;
  std::size_t limit = 50;
};

class Store {
 public:
  using WriteDone = std::function<void(Result<WriteResult>)>;
  virtual ~Store() = default;

  // Queues `w` for the writer thread and returns at once. `done` runs on a store
  // thread after the commit that holds `w` is durable, or with an error
  // (unavailable) if it failed; nothing is acknowledged that was not stored.
  // Writes commit in the order they were submitted. Thread-safe.
  virtual void write(Write w, WriteDone done) = 0;

  // Blocks until every write submitted before the call has completed.
  virtual void flush() = 0;

  // Reads: blocking and thread-safe. Never call them on a network thread.
  // Every conversation that is not in a terminal state, for start-up.
  virtual Result<std::vector<Conversation>> load_live() = 0;
  virtual Result<std::optional<Conversation>> conversation(std::string_view id) = 0;
  // Events with seq > after_seq, oldest first, at most `limit`; notes only if asked.
  virtual Result<std::vector<Event>> events(std::string_view conversation_id,
                                            std::int64_t after_seq, std::size_t limit,
                                            bool include_notes) = 0;
  // Conversations newest first (by updated_at, then id), paginated by the cursor.
  virtual Result<std::vector<Conversation>> list(const ListQuery& q) = 0;
  virtual Result<std::optional<AgentSession>> session(std::string_view token_hash) = 0;
  // Transfers of a conversation, oldest first (its history).
  virtual Result<std::vector<Transfer>> transfers(std::string_view conversation_id) = 0;
  virtual Result<std::optional<Transfer>> transfer(std::string_view id) = 0;
  // Every transfer in an open state, for start-up (their timers start again).
  virtual Result<std::vector<Transfer>> open_transfers() = 0;
};

}  // namespace baton::core
