// Transfers inside one server (DESIGN.md §2.2): to an agent, to a queue, and the
// warm consult. Part of Hub; runs on the hub's strand like the rest of it.
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "api/hub.hpp"
#include "api/json.hpp"

namespace baton::api {

namespace net = boost::asio;
namespace json = boost::json;
using core::Errc;
using core::Error;
using core::TransferKind;
using core::TransferState;

namespace {
std::shared_ptr<const std::string> to_payload(const json::object& o) {
  return std::make_shared<const std::string>(json::serialize(o));
}
}  // namespace

void Hub::load_transfers() {
  auto open = store_.open_transfers();
  if (!open) {
    spdlog::error("loading open transfers: {}", open.error().message);
    return;
  }
  for (auto& t : *open) {
    if (!core::is_open(t.state)) {
      // Destination: an arrival the origin had not confirmed when this server stopped;
      // told again once federation is enabled.
      if (t.detail.find("\"notify\":\"arrived\"") != std::string::npos) unsettled_notices_[t.id] = t;
      continue;
    }
    // An offer received from a partner has no conversation until its context comes.
    bool inbound_offer = t.conversation_id.empty() && t.kind == TransferKind::peer && t.state == TransferState::offering;
    if (!inbound_offer && !desk_.find(t.conversation_id)) {
      // Its conversation ended meanwhile: nothing left to move.
      (void)core::advance(t, TransferState::cancelled, clock_.now(), "the conversation had ended");
      save_transfer(t);
      continue;
    }
    std::string id = t.id;
    transfers_[id] = OpenTransfer{std::move(t), nullptr};
    arm_transfer_timer(id);
  }
  // Destination: a holding conversation whose inbound record was never stored (the
  // server stopped between writing the two) has nobody coming for it and no timer.
  std::vector<std::string> orphans;
  for (const auto& [id, c] : desk_.live())
    if (c.state == core::ConversationState::transferring && c.agent.empty() && !open_transfer_of(id)) orphans.push_back(id);
  for (const auto& id : orphans)
    finish(id, core::ConversationState::abandoned, "The transfer did not complete.", Actor{core::AuthorKind::system, {}, {}, {}},
           nullptr);
}

Hub::OpenTransfer* Hub::open_transfer_of(const std::string& conversation_id) {
  for (auto& [id, open] : transfers_)
    if (open.transfer.conversation_id == conversation_id) return &open;
  return nullptr;
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

void Hub::open_transfer(const core::Transfer& t) {
  transfers_[t.id] = OpenTransfer{t, nullptr};
  save_transfer(t);
  arm_transfer_timer(t.id);
}

void Hub::save_transfer(const core::Transfer& t, std::function<void()> then) {
  core::Write w;
  w.transfer = t;
  if (const auto* c = desk_.find(t.conversation_id)) w.conversation = *c;
  store_.write(std::move(w), [this, id = t.id, then = std::move(then)](core::Result<core::WriteResult> r) mutable {
    if (r && !then) return;
    run([this, id, r = std::move(r), then = std::move(then)] {
      if (!r) {
        ++counters_.store_errors_total;
        spdlog::error("store: transfer {}: {}", id, r.error().message);
      }
      if (then) then();
    });
  });
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

void Hub::arm_transfer_timer(const std::string& id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end() || it->second.transfer.deadline == 0) return;
  auto& open = it->second;
  if (!open.timer) open.timer = std::make_unique<net::steady_timer>(strand_);
  core::Millis left = std::max<core::Millis>(0, open.transfer.deadline - clock_.now());
  open.timer->expires_after(std::chrono::milliseconds(left));
  open.timer->async_wait([this, id](boost::system::error_code ec) {
    if (!ec) on_transfer_deadline(id);
  });
}

void Hub::on_transfer_deadline(const std::string& id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  const core::Transfer& t = it->second.transfer;
  if (clock_.now() < t.deadline) return arm_transfer_timer(id);  // moved meanwhile
  if (t.kind == TransferKind::peer) {
    const PeerSettings* p = settings_.federation.find(t.to_peer);
    std::string who = p ? p->display_name : t.to_peer;
    bool inbound = t.detail.find("\"direction\":\"in\"") != std::string::npos;
    core::Transfer copy = t;
    if (inbound) {
      // Destination: the join code ran out unused; the holding conversation goes,
      // and the origin, which still has the visitor, is told.
      std::string holding = t.conversation_id;
      end_transfer(id, TransferState::expired, "The visitor did not arrive in time.");
      if (!holding.empty())
        finish(holding, core::ConversationState::abandoned, "The visitor did not arrive.",
               Actor{core::AuthorKind::system, {}, {}, {}}, nullptr);
      if (copy.state == TransferState::moving) notify_origin(copy, "expired");
      return;
    }
    std::string reason = copy.state == TransferState::offering
                             ? "The offer to " + who + " ran out before it was confirmed."
                             : "The visitor did not arrive at " + who + " in time.";
    end_transfer(id, TransferState::expired, reason);
    if (copy.state == TransferState::moving) {
      peer_call(copy.to_peer, "/federation/v1/transfers/" + copy.id + "/cancel",
                boost::json::object{{"transfer_id", copy.id}}, [](core::Result<federation::PeerReply>) {});
    }
    return;
  }
  std::string who = t.to_agent.empty() ? std::string("the destination") : display_name(t.to_agent);
  std::string reason = t.kind == TransferKind::consult ? "The consultation ended after its time limit."
                                                       : who + " did not answer in time.";
  end_transfer(id, TransferState::expired, reason);
}

void Hub::announce_transfer(const core::Transfer& t) {
  json::object msg;
  msg["type"] = "transfer";
  msg["transfer"] = transfer_json(t);
  const core::Conversation* c = desk_.find(t.conversation_id);
  if (c) msg["conversation"] = summary_json(*c, desk_.place_in_line(c->id));
  auto payload = to_payload(msg);
  send_to_agent(t.from_agent, payload);
  if (!t.to_agent.empty() && t.to_agent != t.from_agent) send_to_agent(t.to_agent, payload);
  if (c) notify_agents(*c, t.from_agent);
}

void Hub::system_event(core::Conversation& c, core::EventKind kind, const std::string& agent, const std::string& text) {
  core::Event e;
  e.kind = kind;
  e.author_kind = agent.empty() ? core::AuthorKind::system : core::AuthorKind::agent;
  e.author_id = agent;
  e.author_name = agent.empty() ? std::string() : display_name(agent);
  e.text = text;
  append(c, std::move(e), nullptr);
}

void Hub::end_transfer(const std::string& id, TransferState state, const std::string& reason) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  core::Transfer t = std::move(it->second.transfer);
  if (it->second.timer) it->second.timer->cancel();
  transfers_.erase(it);
  core::Millis now = clock_.now();
  if (auto st = core::advance(t, state, now, reason); !st) {
    spdlog::warn("transfer {}: {}", t.id, st.error().message);
    return;
  }
  core::Conversation* c = desk_.find(t.conversation_id);
  if (c && t.kind == TransferKind::agent && c->state == core::ConversationState::transferring) {
    // It did not happen: the sender keeps the conversation.
    (void)core::transition(*c, core::ConversationState::active, now);
  }
  if (c && t.kind == TransferKind::peer && c->state == core::ConversationState::transferring && !c->agent.empty()) {
    // Origin: the visitor stays (or comes back) with the sender, and is told if it was moving.
    const PeerSettings* p = settings_.federation.find(t.to_peer);
    std::string who = p ? p->display_name : t.to_peer;
    visitor_back_with_sender(*c, t.detail.find("\"join_code\"") != std::string::npos
                                     ? "We could not connect you to " + who + ". You are back with " + settings_.organization + "."
                                     : "");
  }
  if (c && t.kind == TransferKind::consult && state != TransferState::completed) {
    if (c->consultant_joined) system_event(*c, core::EventKind::left, c->consultant, display_name(c->consultant) + " left the conversation.");
    c->consultant.clear();
    c->consultant_joined = false;
  }
  if (c && t.kind != TransferKind::peer && c->state == core::ConversationState::active) {
    // Back with a sender who went offline meanwhile: the next agent of the queue takes it.
    const auto* a = desk_.agent(c->agent);
    if ((!a || a->status == core::AgentStatus::offline) && desk_.requeue(c->id, "", now)) {
      system_event(*c, core::EventKind::left, c->agent.empty() ? t.from_agent : c->agent,
                   display_name(t.from_agent) + " is no longer available. You are back in the queue for the next agent.");
      notify_agents(*c, t.from_agent);
      route();
      after_queue_change(c->queue);
    }
  }
  save_transfer(t);
  count_transfer(t);
  announce_transfer(t);
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

void Hub::agent_note(core::Conversation& c, const std::string& agent, std::string text) {
  core::Event e;
  e.kind = core::EventKind::note;
  e.author_kind = core::AuthorKind::agent;
  e.author_id = agent;
  e.author_name = display_name(agent);
  e.text = std::move(text);
  append(c, std::move(e), nullptr);
}

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
    (void)core::transition(*c, core::ConversationState::transferring, clock_.now());
    if (!t.note.empty()) agent_note(*c, from.agent, "Transfer note for " + display_name(to_agent) + ": " + t.note);
    std::string id = t.id;
    open_transfer(t);
    announce_transfer(t);
    done(t);
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
    core::Millis now = clock_.now();
    if (!t.note.empty()) agent_note(*c, from.agent, "Transfer note for the " + queue + " queue: " + t.note);
    std::string old_queue = c->queue;
    if (auto st = desk_.requeue(conversation_id, queue, now); !st) return done(st.error());
    t.state = TransferState::accepted;
    t.reason = "Waiting in " + queue + ".";
    count_transfer(t);
    system_event(*c, core::EventKind::left, from.agent,
                 display_name(from.agent) + " passed the conversation to the " + queue + " queue.");
    save_transfer(t);
    announce_transfer(t);
    notify_agents(*c, from.agent);
    route();
    after_queue_change(queue);
    if (old_queue != queue) after_queue_change(old_queue);
    done(t);
  });
}

void Hub::answer_transfer(const Actor& by, const std::string& transfer_id, bool accept, std::string reason,
                          Callback<core::Transfer> done) {
  run([this, by, transfer_id, accept, reason = std::move(reason), done = std::move(done)]() mutable {
    auto it = transfers_.find(transfer_id);
    if (it == transfers_.end()) return done(Error{Errc::conflict, "this transfer is no longer open"});
    core::Transfer& t = it->second.transfer;
    if (t.kind != TransferKind::agent && t.kind != TransferKind::consult)
      return done(Error{Errc::bad_request, "this transfer is not offered to an agent"});
    if (t.to_agent != by.agent) return done(Error{Errc::forbidden, "this transfer was offered to someone else"});
    if (reason.size() > core::kMaxMessageBytes) return done(Error{Errc::too_large, "reason is too long"});
    std::string conv = t.conversation_id;
    if (!accept) {
      std::string why = display_name(by.agent) + " declined" + (reason.empty() ? "." : ": " + reason);
      core::Transfer ended = t;  // end_transfer drops the open record
      end_transfer(transfer_id, TransferState::declined, why);
      ended.state = TransferState::declined;
      ended.reason = why;
      return done(ended);
    }
    if (t.kind == TransferKind::consult) return done(Error{Errc::bad_request, "a consult is joined, not accepted"});
    core::Conversation* c = desk_.find(conv);
    if (!c) return done(Error{Errc::conflict, "the conversation has ended"});
    core::Millis now = clock_.now();
    if (auto st = desk_.reassign(conv, by.agent, now); !st) return done(st.error());
    core::Transfer accepted = std::move(t);
    if (it->second.timer) it->second.timer->cancel();
    transfers_.erase(it);
    (void)core::advance(accepted, TransferState::accepted, now, display_name(by.agent) + " accepted.");
    system_event(*c, core::EventKind::left, accepted.from_agent,
                 display_name(accepted.from_agent) + " transferred the conversation to " + display_name(by.agent) + ".");
    system_event(*c, core::EventKind::joined, by.agent, display_name(by.agent) + " joined the conversation.");
    save_transfer(accepted);
    count_transfer(accepted);
    announce_transfer(accepted);
    route();  // the sender has a free slot now
    done(accepted);
  });
}

void Hub::cancel_transfer(const Actor& by, const std::string& transfer_id, Callback<core::Transfer> done) {
  run([this, by, transfer_id, done = std::move(done)] {
    auto it = transfers_.find(transfer_id);
    if (it == transfers_.end()) return done(Error{Errc::conflict, "this transfer is no longer open"});
    core::Transfer t = it->second.transfer;
    if (t.from_agent != by.agent) return done(Error{Errc::forbidden, "only the sender can call a transfer off"});
    if (t.kind == TransferKind::peer) {
      // Before the visitor is moved, the sender may change its mind; the partner is told.
      if (t.state != TransferState::offering || t.detail.find("\"direction\":\"out\"") == std::string::npos)
        return done(Error{Errc::conflict, "the visitor is already being moved; it comes back if it does not arrive"});
      std::string why = display_name(by.agent) + " called the transfer off.";
      end_transfer(transfer_id, TransferState::cancelled, why);
      peer_call(t.to_peer, "/federation/v1/transfers/" + t.id + "/cancel", boost::json::object{{"transfer_id", t.id}},
                [](core::Result<federation::PeerReply>) {});
      t.state = TransferState::cancelled;
      t.reason = why;
      return done(t);
    }
    std::string why = display_name(by.agent) + " called the transfer off.";
    end_transfer(transfer_id, TransferState::cancelled, why);
    t.state = TransferState::cancelled;
    t.reason = why;
    done(t);
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
    c->consultant = to_agent;
    c->consultant_joined = false;
    agent_note(*c, from.agent, "Consulting " + display_name(to_agent) + (t.note.empty() ? "." : ": " + t.note));
    std::string id = t.id;
    open_transfer(t);
    announce_transfer(t);
    done(t);
  });
}

void Hub::consult_join(const Actor& by, const std::string& transfer_id, Callback<core::Transfer> done) {
  run([this, by, transfer_id, done = std::move(done)] {
    auto it = transfers_.find(transfer_id);
    if (it == transfers_.end()) return done(Error{Errc::conflict, "this consultation is no longer open"});
    core::Transfer& t = it->second.transfer;
    if (t.kind != TransferKind::consult) return done(Error{Errc::bad_request, "not a consultation"});
    if (t.from_agent != by.agent) return done(Error{Errc::forbidden, "only the agent who asked can bring the consultant in"});
    core::Conversation* c = desk_.find(t.conversation_id);
    if (!c) return done(Error{Errc::conflict, "the conversation has ended"});
    if (auto st = core::advance(t, TransferState::joined, clock_.now()); !st) return done(st.error());
    c->consultant_joined = true;
    system_event(*c, core::EventKind::joined, t.to_agent, display_name(t.to_agent) + " joined the conversation.");
    save_transfer(t);
    announce_transfer(t);
    done(t);
  });
}

void Hub::consult_finish(const Actor& by, const std::string& transfer_id, bool hand_over,
                         Callback<core::Transfer> done) {
  run([this, by, transfer_id, hand_over, done = std::move(done)] {
    auto it = transfers_.find(transfer_id);
    if (it == transfers_.end()) return done(Error{Errc::conflict, "this consultation is no longer open"});
    core::Transfer t = it->second.transfer;
    if (t.kind != TransferKind::consult) return done(Error{Errc::bad_request, "not a consultation"});
    bool owner = t.from_agent == by.agent;
    if (!owner && t.to_agent != by.agent) return done(Error{Errc::forbidden, "not your consultation"});
    core::Conversation* c = desk_.find(t.conversation_id);
    if (!c) return done(Error{Errc::conflict, "the conversation has ended"});
    if (!hand_over || !owner) {
      std::string why = owner ? display_name(by.agent) + " ended the consultation."
                              : display_name(by.agent) + " left the consultation.";
      end_transfer(transfer_id, owner ? TransferState::cancelled : TransferState::declined, why);
      t.state = owner ? TransferState::cancelled : TransferState::declined;
      t.reason = why;
      return done(t);
    }
    // The owner leaves; the consultant stays with the visitor, who is never alone.
    core::Millis now = clock_.now();
    bool was_joined = c->consultant_joined;
    if (auto st = desk_.reassign(c->id, t.to_agent, now); !st) return done(st.error());
    c->consultant.clear();
    c->consultant_joined = false;
    if (!was_joined)
      system_event(*c, core::EventKind::joined, t.to_agent, display_name(t.to_agent) + " joined the conversation.");
    system_event(*c, core::EventKind::left, t.from_agent, display_name(t.from_agent) + " left the conversation.");
    if (it->second.timer) it->second.timer->cancel();
    transfers_.erase(it);
    (void)core::advance(t, TransferState::completed, now, display_name(t.to_agent) + " has the conversation now.");
    save_transfer(t);
    count_transfer(t);
    announce_transfer(t);
    route();
    done(t);
  });
}

void Hub::transfer_history(const Actor& actor, const std::string& conversation_id,
                           Callback<std::vector<core::Transfer>> done) {
  readable(actor, conversation_id, [this, conversation_id, done = std::move(done)](core::Result<core::Conversation> r) mutable {
    if (!r) return done(r.error());
    net::post(blocking_, [this, conversation_id, done = std::move(done)]() mutable {
      auto list = store_.transfers(conversation_id);
      run([list = std::move(list), done = std::move(done)]() mutable { done(std::move(list)); });
    });
  });
}

}  // namespace baton::api
