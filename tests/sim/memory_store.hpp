// core::Store in memory, for the simulation: writes wait until the simulation
// commits them (in submission order), and a crash loses every write not yet
// committed, as a server killed before its group commit would. What is committed
// stays across a crash: it is the simulated disk.
//
// Semantics follow storage::SqliteStore's contract (storage/sqlite_store.hpp):
// one Write is applied whole or not at all; an event whose conversation is
// unknown, or whose seq is taken, fails its write; an event with a client id
// already stored is a duplicate (the conversation is then left as it was); a live
// nonce fails its write. Not thread-safe: the simulation runs on one thread.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "baton/core/store.hpp"

namespace baton::sim {

class MemoryStore final : public core::Store {
 public:
  void write(core::Write w, WriteDone done) override;
  void flush() override {}

  core::Result<std::vector<core::Conversation>> load_live() override;
  core::Result<std::optional<core::Conversation>> conversation(std::string_view id) override;
  core::Result<std::vector<core::Event>> events(std::string_view conversation_id, std::int64_t after_seq,
                                                std::size_t limit, bool include_notes) override;
  core::Result<std::vector<core::Conversation>> list(const core::ListQuery& q) override;
  core::Result<std::optional<core::AgentSession>> session(std::string_view token_hash) override;
  core::Result<std::vector<core::Transfer>> transfers(std::string_view conversation_id) override;
  core::Result<std::optional<core::Transfer>> transfer(std::string_view id) override;
  core::Result<std::vector<core::Transfer>> open_transfers() override;
  core::Result<std::vector<core::OutboxItem>> outbox() override;
  core::Result<std::vector<core::SeenNonce>> nonces(core::Millis now) override;
  core::Result<std::vector<core::Attempt>> attempts(std::string_view scope, core::Millis since) override;

  // Writes submitted and not yet committed.
  std::size_t pending() const { return pending_.size(); }
  // Commits the oldest pending write (failing it when `fail`) and runs its callback.
  void commit_one(bool fail = false);
  // A crash: pending writes are lost, their callbacks never run.
  void crash() { pending_.clear(); }
  // Called whenever a write is submitted (the simulation schedules its commit).
  std::function<void()> on_submit;

  // The simulated disk, for the invariants.
  const std::map<std::string, core::Transfer>& all_transfers() const { return transfers_; }
  const std::map<std::string, core::Conversation>& all_conversations() const { return conversations_; }
  const std::map<std::string, core::OutboxItem>& all_outbox() const { return outbox_; }
  const std::vector<core::Event>* log(const std::string& conversation_id) const;

 private:
  core::Result<core::WriteResult> apply(const core::Write& w);

  struct Pending {
    core::Write write;
    WriteDone done;
  };
  std::deque<Pending> pending_;
  std::map<std::string, core::Conversation> conversations_;
  std::map<std::string, std::vector<core::Event>> events_;  // by conversation, in seq order
  std::map<std::string, core::AgentSession> sessions_;
  std::map<std::string, core::Transfer> transfers_;
  std::map<std::string, core::OutboxItem> outbox_;
  std::map<std::string, core::Millis> nonces_;
  std::vector<core::Attempt> attempts_;
};

}  // namespace baton::sim
