#include "sim/memory_store.hpp"

#include <algorithm>

namespace baton::sim {

using core::Errc;
using core::Error;

void MemoryStore::write(core::Write w, WriteDone done) {
  pending_.push_back({std::move(w), std::move(done)});
  if (on_submit) on_submit();
}

void MemoryStore::commit_one(bool fail) {
  if (pending_.empty()) return;
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  core::Result<core::WriteResult> r = fail ? core::Result<core::WriteResult>(Error{Errc::unavailable, "disk full (simulated)"})
                                           : apply(p.write);
  if (p.done) p.done(std::move(r));
}

namespace {
const core::Event* find_client(const std::vector<core::Event>& log, const core::Event& e) {
  if (e.client_id.empty()) return nullptr;
  for (const auto& x : log)
    if (x.author_kind == e.author_kind && x.author_id == e.author_id && x.client_id == e.client_id) return &x;
  return nullptr;
}
}  // namespace

core::Result<core::WriteResult> MemoryStore::apply(const core::Write& w) {
  if (w.transfer && w.transfer_is_new && transfers_.count(w.transfer->id)) {
    core::WriteResult exists;
    exists.transfer_exists = true;
    return exists;
  }
  // Checked first, applied second: a Write is whole or nothing.
  std::set<std::string> known;
  if (w.conversation) known.insert(w.conversation->id);
  auto exists = [&](const std::string& id) { return known.count(id) || conversations_.count(id); };
  core::WriteResult res;
  bool duplicate = false;
  std::vector<const core::Event*> appended;
  auto check = [&](const core::Event& e, bool first) -> core::Status {
    if (!exists(e.conversation_id)) return Error{Errc::unavailable, "FOREIGN KEY constraint failed"};
    const auto it = events_.find(e.conversation_id);
    static const std::vector<core::Event> kNone;
    const auto& log = it == events_.end() ? kNone : it->second;
    if (const core::Event* d = find_client(log, e)) {
      if (first) {
        duplicate = true;
        res.seq = d->seq;
      }
      return core::ok_status();
    }
    for (const auto* a : appended)
      if (a->conversation_id == e.conversation_id && a->seq == e.seq) return Error{Errc::unavailable, "seq taken"};
    for (const auto& x : log)
      if (x.seq == e.seq) return Error{Errc::unavailable, "UNIQUE constraint failed: events.conversation_id, events.seq"};
    appended.push_back(&e);
    if (first) res.seq = e.seq;
    return core::ok_status();
  };
  if (w.event) {
    if (auto st = check(*w.event, true); !st) return st.error();
  }
  std::vector<std::size_t> skipped;
  for (std::size_t i = 0; i < w.more_events.size(); ++i) {
    std::size_t before = appended.size();
    if (auto st = check(w.more_events[i], false); !st) return st.error();
    if (appended.size() == before) skipped.push_back(i);
  }
  if (w.nonce) {
    auto it = nonces_.find(w.nonce->key);
    bool live = it != nonces_.end() && it->second > w.forget_nonces_until;
    if (live) return Error{Errc::unavailable, "nonce already stored"};
  }

  if (w.conversation && !duplicate) conversations_[w.conversation->id] = *w.conversation;
  if (w.event && !duplicate) events_[w.event->conversation_id].push_back(*w.event);
  if (w.put_session) sessions_[w.put_session->token_hash] = *w.put_session;
  if (w.delete_session) sessions_.erase(*w.delete_session);
  if (w.transfer) transfers_[w.transfer->id] = *w.transfer;
  for (std::size_t i = 0; i < w.more_events.size(); ++i) {
    if (std::find(skipped.begin(), skipped.end(), i) != skipped.end()) continue;
    const core::Event& e = w.more_events[i];
    auto& log = events_[e.conversation_id];
    log.push_back(e);
    std::sort(log.begin(), log.end(), [](const core::Event& a, const core::Event& b) { return a.seq < b.seq; });
  }
  for (const auto& id : w.outbox_delete) outbox_.erase(id);
  for (const auto& o : w.outbox_put) outbox_[o.id] = o;
  if (w.forget_nonces_until != 0) std::erase_if(nonces_, [&](const auto& n) { return n.second <= w.forget_nonces_until; });
  if (w.nonce) nonces_[w.nonce->key] = w.nonce->forget_at;
  if (!w.forget_scope.empty())
    std::erase_if(attempts_, [&](const core::Attempt& a) { return a.scope == w.forget_scope && a.at < w.forget_attempts_before; });
  if (w.attempt) attempts_.push_back(*w.attempt);
  res.duplicate = duplicate;
  res.skipped = std::move(skipped);
  return res;
}

const std::vector<core::Event>* MemoryStore::log(const std::string& conversation_id) const {
  auto it = events_.find(conversation_id);
  return it == events_.end() ? nullptr : &it->second;
}

core::Result<std::vector<core::Conversation>> MemoryStore::load_live() {
  std::vector<core::Conversation> out;
  for (const auto& [id, c] : conversations_)
    if (!core::is_terminal(c.state)) out.push_back(c);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.updated_at != b.updated_at ? a.updated_at < b.updated_at : a.id < b.id;
  });
  return out;
}

core::Result<std::optional<core::Conversation>> MemoryStore::conversation(std::string_view id) {
  auto it = conversations_.find(std::string(id));
  if (it == conversations_.end()) return std::optional<core::Conversation>{};
  return std::optional<core::Conversation>(it->second);
}

core::Result<std::vector<core::Event>> MemoryStore::events(std::string_view conversation_id, std::int64_t after_seq,
                                                           std::size_t limit, bool include_notes) {
  std::vector<core::Event> out;
  const auto* log = this->log(std::string(conversation_id));
  if (!log) return out;
  for (const auto& e : *log) {
    if (out.size() >= limit) break;
    if (e.seq <= after_seq || (!include_notes && e.kind == core::EventKind::note)) continue;
    out.push_back(e);
  }
  return out;
}

core::Result<std::vector<core::Conversation>> MemoryStore::list(const core::ListQuery& q) {
  std::vector<core::Conversation> out;
  for (const auto& [id, c] : conversations_) {
    if (q.state && c.state != *q.state) continue;
    if (!q.agent.empty() && c.agent != q.agent) continue;
    if (!q.queue.empty() && c.queue != q.queue) continue;
    out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.updated_at != b.updated_at ? a.updated_at > b.updated_at : a.id > b.id;
  });
  if (out.size() > q.limit) out.resize(q.limit);
  return out;
}

core::Result<std::optional<core::AgentSession>> MemoryStore::session(std::string_view token_hash) {
  auto it = sessions_.find(std::string(token_hash));
  if (it == sessions_.end()) return std::optional<core::AgentSession>{};
  return std::optional<core::AgentSession>(it->second);
}

core::Result<std::vector<core::Transfer>> MemoryStore::transfers(std::string_view conversation_id) {
  std::vector<core::Transfer> out;
  for (const auto& [id, t] : transfers_)
    if (t.conversation_id == conversation_id) out.push_back(t);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
  });
  return out;
}

core::Result<std::optional<core::Transfer>> MemoryStore::transfer(std::string_view id) {
  auto it = transfers_.find(std::string(id));
  if (it == transfers_.end()) return std::optional<core::Transfer>{};
  return std::optional<core::Transfer>(it->second);
}

core::Result<std::vector<core::Transfer>> MemoryStore::open_transfers() {
  std::vector<core::Transfer> out;
  for (const auto& [id, t] : transfers_)
    if (t.deadline != 0) out.push_back(t);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
  });
  return out;
}

core::Result<std::vector<core::OutboxItem>> MemoryStore::outbox() {
  std::vector<core::OutboxItem> out;
  for (const auto& [id, o] : outbox_) out.push_back(o);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
  });
  return out;
}

core::Result<std::vector<core::SeenNonce>> MemoryStore::nonces(core::Millis now) {
  std::vector<core::SeenNonce> out;
  for (const auto& [key, at] : nonces_)
    if (at > now) out.push_back({key, at});
  return out;
}

core::Result<std::vector<core::Attempt>> MemoryStore::attempts(std::string_view scope, core::Millis since) {
  std::vector<core::Attempt> out;
  for (const auto& a : attempts_)
    if (a.scope == scope && a.at >= since) out.push_back(a);
  return out;
}

}  // namespace baton::sim
