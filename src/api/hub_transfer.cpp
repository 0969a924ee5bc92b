// Transfer records, whatever their kind: leases, steps stored before they act,
// undo, timers; and the transfers inside one server (DESIGN.md §2.2): to an
// agent, to a queue, and the warm consult. Part of Hub; runs on its strand.
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "baton/api/hub.hpp"
#include "json.hpp"

namespace baton::api {

namespace json = boost::json;
using core::Errc;
using core::Error;
using core::TransferKind;
using core::TransferState;

namespace {
std::shared_ptr<const std::string> to_payload(const json::object& o) {
  return std::make_shared<const std::string>(json::serialize(o));
}
const Actor kSystem{core::AuthorKind::system, {}, {}, {}};
}  // namespace

// ---- records ----------------------------------------------------------------------

void Hub::load_transfers() {
  auto open = store_.open_transfers();
  if (!open) {
    spdlog::error("loading open transfers: {}", open.error().message);
    return;
  }
  for (auto& t : *open) {
    if (t.kind != TransferKind::peer && !desk_.find(t.conversation_id)) {
      // Its conversation ended meanwhile: nothing left to move.
      core::Transfer ended = t;
      if (core::advance(ended, TransferState::cancelled, clock_.now(), "the conversation had ended")) {
        core::Write w;
        w.transfer = ended;
        store_.write(std::move(w), [](core::Result<core::WriteResult>) {});
      }
      continue;
    }
    // Peer records go on whatever happened to their conversation: the partner has
    // to hear the end of them, and their timers see to it.
    track(t);
  }
  // A conversation left transferring without a record under way: at the
  // destination, a holding conversation nobody is coming for; at the origin, one
  // whose record ended in a write that did not include it (older versions).
  std::vector<std::string> holding, stranded;
  for (const auto& [id, c] : desk_.live()) {
    if (c.state != core::ConversationState::transferring || open_transfer_of(id)) continue;
    (c.agent.empty() ? holding : stranded).push_back(id);
  }
  for (const auto& id : holding) finish(id, core::ConversationState::abandoned, "The transfer did not complete.", kSystem, nullptr);
  for (const auto& id : stranded) {
    core::Conversation* c = desk_.find(id);
    if (c && core::transition(*c, core::ConversationState::active, clock_.now())) {
      core::Write w;
      w.conversation = *c;
      store_.write(std::move(w), [](core::Result<core::WriteResult>) {});
    }
  }
}

Hub::Lease Hub::lease_of(const std::string& record_id) {
  return Lease(nullptr, [this, alive = std::weak_ptr<int>(alive_), record_id](void*) {
    if (alive.expired()) return;
    run([this, alive, record_id] {
      if (!alive.expired()) release(record_id);
    });
  });
}

void Hub::exclusive(const std::string& record_id, std::function<void(Lease)> f) {
  auto [it, first] = leases_.try_emplace(record_id);
  if (!first) {
    it->second.push_back(std::move(f));
    return;
  }
  f(lease_of(record_id));
}

void Hub::release(const std::string& record_id) {
  auto it = leases_.find(record_id);
  if (it == leases_.end()) return;
  if (it->second.empty()) {
    leases_.erase(it);
    return;
  }
  // The record stays taken: the lease passes to the next in line.
  auto next = std::move(it->second.front());
  it->second.pop_front();
  next(lease_of(record_id));
}

Hub::Undo Hub::undo_for(const std::string& record_id, const std::string& conversation_id) const {
  Undo u;
  u.record_id = record_id;
  if (const auto* t = tracked(record_id)) u.record = *t;
  u.conversation_id = conversation_id;
  if (!conversation_id.empty()) {
    if (const auto* c = desk_.find(conversation_id)) u.conversation = *c;
  }
  return u;
}

void Hub::undo(const Undo& u) {
  if (u.record) {
    track(*u.record);
  } else {
    transfers_.erase(u.record_id);
  }
  if (u.conversation_id.empty()) return;
  if (u.conversation) {
    if (auto st = desk_.put_back(*u.conversation); !st)
      spdlog::error("conversation {}: could not be put back: {}", u.conversation_id, st.error().message);
    notify_agents(*desk_.find(u.conversation_id));
  } else {
    desk_.drop(u.conversation_id);
  }
}

void Hub::store_step(const Undo& u, core::Transfer t, core::Write w, std::function<void(core::Status)> then) {
  track(t);
  if (!w.conversation && !t.conversation_id.empty()) {
    if (const auto* c = desk_.find(t.conversation_id)) w.conversation = *c;
  }
  w.transfer = std::move(t);
  auto kept = std::make_shared<core::Write>(w);
  store_.write(std::move(w), [this, alive = std::weak_ptr<int>(alive_), u, kept, then = std::move(then)](
                                 core::Result<core::WriteResult> r) mutable {
    if (alive.expired()) return;
    run([this, u = std::move(u), kept, r = std::move(r), then = std::move(then)] {
      if (r && r->transfer_exists) {
        // A record with this id was stored already (Write::transfer_is_new).
        undo(u);
        if (then) then(Error{Errc::conflict, "a transfer with this id exists"});
        return;
      }
      if (!r) {
        ++counters_.store_errors_total;
        spdlog::error("store: transfer {}: {}; undone", u.record_id, r.error().message);
        undo(u);
        if (then) then(Error{Errc::unavailable, "could not store the transfer; try again"});
        return;
      }
      published(*kept, *r);
      if (outbox_) {
        for (const auto& id : kept->outbox_delete) outbox_->erase(id);
        for (const auto& row : kept->outbox_put) outbox_->put(row);
      }
      if (then) then(core::ok_status());
    });
  });
}

void Hub::track(const core::Transfer& t) {
  bool keep = core::is_open(t.state) || t.deadline != 0;
  auto it = transfers_.find(t.id);
  if (!keep) {
    if (it != transfers_.end()) transfers_.erase(it);
    return;
  }
  if (it == transfers_.end()) {
    transfers_.emplace(t.id, Tracked{t, nullptr});
  } else {
    it->second.transfer = t;
  }
  arm_transfer_timer(t.id);
}

const core::Transfer* Hub::tracked(const std::string& id) const {
  auto it = transfers_.find(id);
  return it == transfers_.end() ? nullptr : &it->second.transfer;
}

const core::Transfer* Hub::open_transfer_of(const std::string& conversation_id) const {
  for (const auto& [id, tr] : transfers_)
    if (tr.transfer.conversation_id == conversation_id && core::is_open(tr.transfer.state)) return &tr.transfer;
  return nullptr;
}

void Hub::arm_transfer_timer(const std::string& id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  Tracked& tr = it->second;
  if (tr.transfer.deadline == 0) {
    if (tr.timer) tr.timer->cancel();
    return;
  }
  if (!tr.timer) tr.timer = timers_.make(strand_);
  tr.timer->wait_until(tr.transfer.deadline, [this, id] { on_transfer_deadline(id); });
}

void Hub::on_transfer_deadline(const std::string& id) {
  exclusive(id, [this, id](Lease lease) {
    const core::Transfer* t = tracked(id);
    if (!t || t->deadline == 0) return;
    if (clock_.now() < t->deadline) return arm_transfer_timer(id);  // moved meanwhile
    if (t->kind == TransferKind::peer) {
      if (t->direction == core::Direction::out) return out_deadline(id, lease);
      return in_deadline(id, lease);
    }
    std::string who = t->to_agent.empty() ? std::string("the destination") : display_name(t->to_agent);
    std::string reason = t->kind == TransferKind::consult ? "The consultation ended after its time limit."
                                                          : who + " did not answer in time.";
    end_local(id, TransferState::expired, reason, [lease](core::Result<core::Transfer>) {});
  });
}

core::Transfer Hub::new_transfer(TransferKind kind, const core::Conversation& c, const Actor& from,
                                 std::string note, core::Millis timeout_ms) {
  core::Millis now = clock_.now();
  core::Transfer t;
  t.id = "t" + random_.hex(12);
  t.conversation_id = c.id;
  t.kind = kind;
  t.from_agent = from.agent;
  t.note = std::move(note);
  t.created_at = t.updated_at = now;
  t.deadline = timeout_ms > 0 ? now + timeout_ms : 0;
  return t;
}

void Hub::count_transfer(const core::Transfer& t) {
  std::string kind(core::transfer_kind_name(t.kind));
  ++counters_.transfers_total[kind + "/" + std::string(core::transfer_state_name(t.state))];
  if (t.state != TransferState::accepted && t.state != TransferState::completed) return;
  auto& l = counters_.transfer_latency[kind];
  core::Millis ms = std::max<core::Millis>(0, t.updated_at - t.created_at);
  int i = 0;
  while (i < HubCounters::kLatencyBuckets && ms > HubCounters::kLatencyBoundsMs[i]) ++i;
  ++l.bucket[i];
  l.sum_ms += ms;
  ++l.count;
}

void Hub::announce_transfer(const core::Transfer& t, const std::string& here) {
  json::object msg;
  msg["type"] = "transfer";
  msg["transfer"] = transfer_json(t);
  const core::Conversation* c = desk_.find(t.conversation_id);
  if (c) msg["conversation"] = summary_json(*c, desk_.place_in_line(c->id));
  auto payload = to_payload(msg);
  if (t.direction == core::Direction::in) {
    // At the destination, from_agent names someone at the origin: the news goes to
    // whoever has the conversation here.
    std::string agent = !here.empty() ? here : (c ? c->agent : std::string());
    if (!agent.empty()) send_to_agent(agent, payload);
  } else {
    send_to_agent(t.from_agent, payload);
    if (!t.to_agent.empty() && t.to_agent != t.from_agent) send_to_agent(t.to_agent, payload);
  }
  if (c) notify_agents(*c, t.direction != core::Direction::in ? t.from_agent : std::string());
}

core::Event Hub::system_event_of(core::EventKind kind, const std::string& agent, const std::string& text) const {
  core::Event e;
  e.kind = kind;
  e.author_kind = agent.empty() ? core::AuthorKind::system : core::AuthorKind::agent;
  e.author_id = agent;
  e.author_name = agent.empty() ? std::string() : display_name(agent);
  e.text = text;
  return e;
}

core::Event Hub::agent_note(const std::string& agent, std::string text) const {
  core::Event e;
  e.kind = core::EventKind::note;
  e.author_kind = core::AuthorKind::agent;
  e.author_id = agent;
  e.author_name = display_name(agent);
  e.text = std::move(text);
  return e;
}

namespace {
// Adds a staged event to a write: the first as `event`, the rest after it.
void add_event(core::Write& w, core::Event e) {
  if (!w.event) w.event = std::move(e);
  else w.more_events.push_back(std::move(e));
}
}  // namespace

void Hub::take_back_staged(core::Conversation& c, const std::string& message, core::Write& w) {
  core::Millis now = clock_.now();
  if (c.state == core::ConversationState::transferring) {
    if (auto st = core::transition(c, core::ConversationState::active, now); !st)
      spdlog::error("conversation {}: {}", c.id, st.error().message);
  }
  if (!message.empty()) add_event(w, stage(c, system_event_of(core::EventKind::system, {}, message)));
  const auto* a = desk_.agent(c.agent);
  if (c.state == core::ConversationState::active && (!a || a->status == core::AgentStatus::offline)) {
    // The sender left meanwhile: the visitor waits for the next agent of the queue.
    std::string sender = c.agent;
    if (desk_.requeue(c.id, "", now)) {
      core::Conversation* live = desk_.find(c.id);
      add_event(w, stage(*live, system_event_of(core::EventKind::left, sender,
                                                display_name(sender) +
                                                    " is no longer available. You are back in the queue for the next agent.")));
    }
  }
}

void Hub::end_local(const std::string& id, TransferState state, const std::string& reason, Callback<core::Transfer> done) {
  const core::Transfer* now_t = tracked(id);
  if (!now_t || !core::is_open(now_t->state)) {
    if (done) done(Error{Errc::conflict, "this transfer is no longer open"});
    return;
  }
  core::Transfer t = *now_t;
  if (auto st = core::advance(t, state, clock_.now(), reason); !st) {
    if (done) done(st.error());
    return;
  }
  Undo u = undo_for(id, t.conversation_id);
  core::Write w;
  if (core::Conversation* c = desk_.find(t.conversation_id)) {
    if (t.kind == TransferKind::consult && state != TransferState::completed) {
      if (c->consultant_joined)
        add_event(w, stage(*c, system_event_of(core::EventKind::left, c->consultant,
                                               display_name(c->consultant) + " left the conversation.")));
      c->consultant.clear();
      c->consultant_joined = false;
    }
    // It did not happen: the sender keeps the conversation (or its queue does).
    if (c->state == core::ConversationState::transferring || c->state == core::ConversationState::active)
      take_back_staged(*c, {}, w);
  }
  std::string conv = t.conversation_id;
  store_step(u, t, std::move(w), [this, t, conv, done](core::Status st) {
    if (!st) {
      if (done) done(st.error());
      return;
    }
    count_transfer(t);
    announce_transfer(t);
    if (const core::Conversation* c = desk_.find(conv); c && c->state == core::ConversationState::waiting) {
      route();
      after_queue_change(c->queue);
    }
    if (done) done(t);
  });
}

core::Result<core::Conversation*> Hub::transferable(const Actor& from, const std::string& conversation_id) {
  core::Conversation* c = desk_.find(conversation_id);
  if (!c) return Error{Errc::not_found, "no open conversation with this id"};
  if (from.kind != core::AuthorKind::agent || c->agent != from.agent || c->state != core::ConversationState::active)
    return Error{Errc::forbidden, "only the agent who has the conversation can transfer it"};
  if (open_transfer_of(conversation_id)) return Error{Errc::conflict, "a transfer of this conversation is already under way"};
  return c;
}

core::Status Hub::check_target(const Actor& from, const std::string& to_agent) const {
  const auto* target = desk_.agent(to_agent);
  if (!target) return Error{Errc::not_found, "no agent named " + to_agent};
  if (to_agent == from.agent) return Error{Errc::bad_request, "you have this conversation already"};
  if (target->status != core::AgentStatus::online)
    return Error{Errc::conflict, target->profile.display_name + " is not online"};
  return core::ok_status();
}

// ---- transfers inside this server ---------------------------------------------------

void Hub::transfer_to_agent(const Actor& from, const std::string& conversation_id, const std::string& to_agent,
                            std::string note, Callback<core::Transfer> done) {
  run([this, from, conversation_id, to_agent, note = std::move(note), done = std::move(done)]() mutable {
    auto found = transferable(from, conversation_id);
    if (!found) return done(found.error());
    core::Conversation* c = *found;
    if (auto st = check_target(from, to_agent); !st) return done(st.error());
    if (auto st = core::check_text(note, settings_.max_message_bytes, "note", true); !st) return done(st.error());
    core::Transfer t = new_transfer(TransferKind::agent, *c, from, std::move(note), settings_.transfer_offer_ms);
    t.to_agent = to_agent;
    t.state = TransferState::offered;
    Undo u = undo_for(t.id, conversation_id);
    if (auto st = core::transition(*c, core::ConversationState::transferring, clock_.now()); !st) return done(st.error());
    core::Write w;
    if (!t.note.empty()) add_event(w, stage(*c, agent_note(from.agent, "Transfer note for " + display_name(to_agent) + ": " + t.note)));
    store_step(u, t, std::move(w), [this, t, done](core::Status st) {
      if (!st) return done(st.error());
      announce_transfer(t);
      done(t);
    });
  });
}

void Hub::transfer_to_queue(const Actor& from, const std::string& conversation_id, const std::string& queue,
                            std::string note, Callback<core::Transfer> done) {
  run([this, from, conversation_id, queue, note = std::move(note), done = std::move(done)]() mutable {
    auto found = transferable(from, conversation_id);
    if (!found) return done(found.error());
    core::Conversation* c = *found;
    if (!desk_.has_queue(queue)) return done(Error{Errc::not_found, "no queue named " + queue});
    if (auto st = core::check_text(note, settings_.max_message_bytes, "note", true); !st) return done(st.error());
    core::Transfer t = new_transfer(TransferKind::queue, *c, from, std::move(note), 0);
    t.to_queue = queue;
    t.state = TransferState::accepted;
    t.reason = "Waiting in " + queue + ".";
    core::Millis now = clock_.now();
    Undo u = undo_for(t.id, conversation_id);
    core::Write w;
    if (!t.note.empty()) add_event(w, stage(*c, agent_note(from.agent, "Transfer note for the " + queue + " queue: " + t.note)));
    std::string old_queue = c->queue;
    if (auto st = desk_.requeue(conversation_id, queue, now); !st) return done(st.error());
    add_event(w, stage(*desk_.find(conversation_id),
                       system_event_of(core::EventKind::left, from.agent,
                                       display_name(from.agent) + " passed the conversation to the " + queue + " queue.")));
    store_step(u, t, std::move(w), [this, t, from, queue, old_queue, done](core::Status st) {
      if (!st) return done(st.error());
      count_transfer(t);
      announce_transfer(t);
      if (const auto* c = desk_.find(t.conversation_id)) notify_agents(*c, from.agent);
      route();
      after_queue_change(queue);
      if (old_queue != queue) after_queue_change(old_queue);
      done(t);
    });
  });
}

void Hub::answer_transfer(const Actor& by, const std::string& transfer_id, bool accept, std::string reason,
                          Callback<core::Transfer> done) {
  run([this, by, transfer_id, accept, reason = std::move(reason), done = std::move(done)]() mutable {
    exclusive(transfer_id, [this, by, transfer_id, accept, reason = std::move(reason), done = std::move(done)](Lease lease) mutable {
      const core::Transfer* open = tracked(transfer_id);
      if (!open || !core::is_open(open->state)) return done(Error{Errc::conflict, "this transfer is no longer open"});
      if (open->kind != TransferKind::agent && open->kind != TransferKind::consult)
        return done(Error{Errc::bad_request, "this transfer is not offered to an agent"});
      if (open->to_agent != by.agent) return done(Error{Errc::forbidden, "this transfer was offered to someone else"});
      if (reason.size() > core::kMaxMessageBytes) return done(Error{Errc::too_large, "reason is too long"});
      if (!accept) {
        std::string why = display_name(by.agent) + " declined" + (reason.empty() ? "." : ": " + reason);
        return end_local(transfer_id, TransferState::declined, why, [lease, done](core::Result<core::Transfer> r) { done(std::move(r)); });
      }
      if (open->kind == TransferKind::consult) return done(Error{Errc::bad_request, "a consult is joined, not accepted"});
      core::Transfer t = *open;
      core::Conversation* c = desk_.find(t.conversation_id);
      if (!c) return done(Error{Errc::conflict, "the conversation has ended"});
      core::Millis now = clock_.now();
      Undo u = undo_for(transfer_id, t.conversation_id);
      if (auto st = core::advance(t, TransferState::accepted, now, display_name(by.agent) + " accepted."); !st)
        return done(st.error());
      if (auto st = desk_.reassign(t.conversation_id, by.agent, now); !st) return done(st.error());
      core::Write w;
      add_event(w, stage(*c, system_event_of(core::EventKind::left, t.from_agent,
                                             display_name(t.from_agent) + " transferred the conversation to " +
                                                 display_name(by.agent) + ".")));
      add_event(w, stage(*c, system_event_of(core::EventKind::joined, by.agent, display_name(by.agent) + " joined the conversation.")));
      store_step(u, t, std::move(w), [this, t, lease, done](core::Status st) {
        if (!st) return done(st.error());
        count_transfer(t);
        announce_transfer(t);
        route();  // the sender has a free slot now
        done(t);
      });
    });
  });
}

void Hub::cancel_transfer(const Actor& by, const std::string& transfer_id, Callback<core::Transfer> done) {
  run([this, by, transfer_id, done = std::move(done)]() mutable {
    exclusive(transfer_id, [this, by, transfer_id, done = std::move(done)](Lease lease) mutable {
      const core::Transfer* open = tracked(transfer_id);
      if (!open || !core::is_open(open->state)) return done(Error{Errc::conflict, "this transfer is no longer open"});
      if (open->from_agent != by.agent || open->direction == core::Direction::in)
        return done(Error{Errc::forbidden, "only the sender can call a transfer off"});
      std::string why = display_name(by.agent) + " called the transfer off.";
      if (open->kind == TransferKind::peer) {
        // Before the visitor is moved, the sender may change its mind; the partner is told.
        if (open->state != TransferState::offering)
          return done(Error{Errc::conflict, "the visitor is already being moved; it comes back if it does not arrive"});
        return end_out(transfer_id, TransferState::cancelled, why, 20, lease,
                       [done](core::Result<core::Transfer> r) { done(std::move(r)); });
      }
      end_local(transfer_id, TransferState::cancelled, why, [lease, done](core::Result<core::Transfer> r) { done(std::move(r)); });
    });
  });
}

void Hub::consult_start(const Actor& from, const std::string& conversation_id, const std::string& to_agent,
                        std::string note, Callback<core::Transfer> done) {
  run([this, from, conversation_id, to_agent, note = std::move(note), done = std::move(done)]() mutable {
    auto found = transferable(from, conversation_id);
    if (!found) return done(found.error());
    core::Conversation* c = *found;
    if (auto st = check_target(from, to_agent); !st) return done(st.error());
    if (auto st = core::check_text(note, settings_.max_message_bytes, "note", true); !st) return done(st.error());
    core::Transfer t = new_transfer(TransferKind::consult, *c, from, std::move(note), settings_.consult_timeout_ms);
    t.to_agent = to_agent;
    t.state = TransferState::consulting;
    Undo u = undo_for(t.id, conversation_id);
    c->consultant = to_agent;
    c->consultant_joined = false;
    core::Write w;
    add_event(w, stage(*c, agent_note(from.agent, "Consulting " + display_name(to_agent) + (t.note.empty() ? "." : ": " + t.note))));
    store_step(u, t, std::move(w), [this, t, done](core::Status st) {
      if (!st) return done(st.error());
      announce_transfer(t);
      done(t);
    });
  });
}

void Hub::consult_join(const Actor& by, const std::string& transfer_id, Callback<core::Transfer> done) {
  run([this, by, transfer_id, done = std::move(done)]() mutable {
    exclusive(transfer_id, [this, by, transfer_id, done = std::move(done)](Lease lease) mutable {
      const core::Transfer* open = tracked(transfer_id);
      if (!open || !core::is_open(open->state)) return done(Error{Errc::conflict, "this consultation is no longer open"});
      if (open->kind != TransferKind::consult) return done(Error{Errc::bad_request, "not a consultation"});
      if (open->from_agent != by.agent) return done(Error{Errc::forbidden, "only the agent who asked can bring the consultant in"});
      core::Conversation* c = desk_.find(open->conversation_id);
      if (!c) return done(Error{Errc::conflict, "the conversation has ended"});
      core::Transfer t = *open;
      if (auto st = core::advance(t, TransferState::joined, clock_.now()); !st) return done(st.error());
      Undo u = undo_for(transfer_id, t.conversation_id);
      c->consultant_joined = true;
      core::Write w;
      add_event(w, stage(*c, system_event_of(core::EventKind::joined, t.to_agent, display_name(t.to_agent) + " joined the conversation.")));
      store_step(u, t, std::move(w), [this, t, lease, done](core::Status st) {
        if (!st) return done(st.error());
        announce_transfer(t);
        done(t);
      });
    });
  });
}

void Hub::consult_finish(const Actor& by, const std::string& transfer_id, bool hand_over,
                         Callback<core::Transfer> done) {
  run([this, by, transfer_id, hand_over, done = std::move(done)]() mutable {
    exclusive(transfer_id, [this, by, transfer_id, hand_over, done = std::move(done)](Lease lease) mutable {
      const core::Transfer* open = tracked(transfer_id);
      if (!open || !core::is_open(open->state)) return done(Error{Errc::conflict, "this consultation is no longer open"});
      if (open->kind != TransferKind::consult) return done(Error{Errc::bad_request, "not a consultation"});
      core::Transfer t = *open;
      bool owner = t.from_agent == by.agent;
      if (!owner && t.to_agent != by.agent) return done(Error{Errc::forbidden, "not your consultation"});
      core::Conversation* c = desk_.find(t.conversation_id);
      if (!c) return done(Error{Errc::conflict, "the conversation has ended"});
      if (!hand_over || !owner) {
        std::string why = owner ? display_name(by.agent) + " ended the consultation."
                                : display_name(by.agent) + " left the consultation.";
        return end_local(transfer_id, owner ? TransferState::cancelled : TransferState::declined, why,
                         [lease, done](core::Result<core::Transfer> r) { done(std::move(r)); });
      }
      // The owner leaves; the consultant stays with the visitor, who is never alone.
      core::Millis now = clock_.now();
      if (auto st = core::advance(t, TransferState::completed, now, display_name(t.to_agent) + " has the conversation now."); !st)
        return done(st.error());
      Undo u = undo_for(transfer_id, t.conversation_id);
      bool was_joined = c->consultant_joined;
      if (auto st = desk_.reassign(c->id, t.to_agent, now); !st) return done(st.error());
      c->consultant.clear();
      c->consultant_joined = false;
      core::Write w;
      if (!was_joined)
        add_event(w, stage(*c, system_event_of(core::EventKind::joined, t.to_agent, display_name(t.to_agent) + " joined the conversation.")));
      add_event(w, stage(*c, system_event_of(core::EventKind::left, t.from_agent, display_name(t.from_agent) + " left the conversation.")));
      store_step(u, t, std::move(w), [this, t, lease, done](core::Status st) {
        if (!st) return done(st.error());
        count_transfer(t);
        announce_transfer(t);
        route();
        done(t);
      });
    });
  });
}

void Hub::transfer_history(const Actor& actor, const std::string& conversation_id,
                           Callback<std::vector<core::Transfer>> done) {
  readable(actor, conversation_id, [this, conversation_id, done = std::move(done)](core::Result<core::Conversation> r) mutable {
    if (!r) return done(r.error());
    off_strand([this, conversation_id] { return store_.transfers(conversation_id); },
               [done = std::move(done)](core::Result<std::vector<core::Transfer>> list) mutable { done(std::move(list)); });
  });
}

}  // namespace baton::api
