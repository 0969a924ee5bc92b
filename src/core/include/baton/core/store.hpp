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

#include "baton/core/conversation.hpp"
#include "baton/core/error.hpp"
#include "baton/core/transfer.hpp"

namespace baton::core {

// A request to a partner organization waiting to be sent, or sent and not yet
// answered. It is written in the same Write as the state change it reports, sent
// once that is stored, sent again (after a restart too) until it is answered or
// given up, and deleted in the same Write as what its answer changes.
struct OutboxItem {
  std::string id;           // "<record id>/<action>": at most one of each per record
  std::string transfer;     // the transfer record it belongs to
  std::string peer;         // our configured name of the organization it goes to
  PeerAction action = PeerAction::offer;
  // The request's path and body, fixed when it is queued (a resend is the same
  // bytes); both empty for a recall, built from the store when it is sent (it
  // carries what was said meanwhile), and in rows of older versions.
  std::string path;
  std::string body;
  int rounds = 0;      // rounds sent that got no answer
  int max_rounds = 0;  // given up after this many; 0: never
  Millis next_at = 0;  // when the next round is due
  Millis created_at = 0;
};

// A signature nonce already accepted from a key: refused again until `forget_at`.
struct SeenNonce {
  std::string key;  // key id, a newline, the nonce
  Millis forget_at = 0;
};

// An attempt at a secret, kept for as long as the limit that protects it looks
// back (sign-in and join-code guessing, docs/security.md).
struct Attempt {
  std::string scope;    // e.g. "sign_in_failed", "sign_in_ok", "join_failed"
  std::string key;      // what is limited: an address, an agent's name
  std::string address;  // where it came from
  Millis at = 0;
};

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
  std::optional<Transfer> transfer;           // upserted by id ...
  // ... or, when set, inserted only: if a transfer with its id is stored already,
  // nothing of this Write is applied and WriteResult::transfer_exists says so.
  bool transfer_is_new = false;
  // Appended after `event`, in order, to the conversations they name; one whose
  // client id is already stored is skipped (WriteResult::skipped names it).
  std::vector<Event> more_events;
  std::vector<OutboxItem> outbox_put;      // upserted by id
  std::vector<std::string> outbox_delete;  // by id; a missing one is no error
  // Inserted; the write fails (unavailable) if the key is stored and not yet forgotten.
  std::optional<SeenNonce> nonce;
  std::optional<Attempt> attempt;
  // Forgets nonces whose forget_at <= this (0: none) ...
  Millis forget_nonces_until = 0;
  // ... and attempts of `forget_scope` made before forget_attempts_before.
  std::string forget_scope;
  Millis forget_attempts_before = 0;
  // Set when `conversation` differs from the last snapshot written only in
  // last_seq, last_message and updated_at (a message or a note appended). The
  // store may then write those three later, coalesced: they follow from the
  // conversation's events, so nothing acknowledged depends on them.
  bool activity_only = false;
};

struct WriteResult {
  std::int64_t seq = 0;  // the event's seq (the stored one if duplicate)
  bool duplicate = false;
  // Indexes into Write::more_events of those skipped as already stored.
  std::vector<std::size_t> skipped;
  // Write::transfer_is_new, and a transfer with that id was stored: nothing applied.
  bool transfer_exists = false;
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
  // Every transfer whose timer waits (deadline <> 0): the open ones, and completed
  // ones with a timer of their own (PeerStep::unserved). For start-up.
  virtual Result<std::vector<Transfer>> open_transfers() = 0;
  // The whole outbox, oldest first, for start-up.
  virtual Result<std::vector<OutboxItem>> outbox() = 0;
  // Nonces not yet forgotten at `now`, for start-up.
  virtual Result<std::vector<SeenNonce>> nonces(Millis now) = 0;
  // Attempts of `scope` made at `since` or later, oldest first, for start-up.
  virtual Result<std::vector<Attempt>> attempts(std::string_view scope, Millis since) = 0;
};

}  // namespace baton::core
