// The origin's side of a transfer to another organization (DESIGN.md §2.3-2.4;
// docs/federation.md §8.1): its record (direction out), the offer and the context
// packet it sends, the transfer page, and the notices it answers. Part of Hub;
// runs on its strand. Every step is stored before anyone hears of it.
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "baton/api/hub.hpp"
#include "baton/federation/codes.hpp"
#include "baton/federation/wire.hpp"

namespace baton::api {

namespace json = boost::json;
namespace wire = federation::wire;
using core::Errc;
using core::Error;
using core::PeerAction;
using core::PeerStep;
using core::TransferKind;
using core::TransferState;

namespace {
constexpr core::Millis kArrivalGraceMs = 30'000;  // the origin waits this long past the join code
// How long the origin asks a destination it cannot reach to call a transfer off
// before it takes the visitor back anyway (docs/federation.md §10).
constexpr core::Millis kReclaimGiveUpMs = 24 * 3600'000;
constexpr int kCourtesyRounds = 20;  // a cancel the destination's own timers would make needless

void add_event(core::Write& w, core::Event e) {
  if (!w.event) w.event = std::move(e);
  else w.more_events.push_back(std::move(e));
}

bool is_origin_record(const core::Transfer* t, const std::string& peer) {
  return t && t->kind == TransferKind::peer && t->direction == core::Direction::out && t->to_peer == peer;
}
}  // namespace

// ---- the agent offers ---------------------------------------------------------------

void Hub::peer_offer(const Actor& from, const std::string& conversation_id, const std::string& peer_name,
                     Callback<core::Transfer> done) {
  run([this, from, conversation_id, peer_name, done = std::move(done)]() mutable {
    if (!settings_.federation.enabled || !peer_link_)
      return done(Error{Errc::conflict, "this server has no partner organizations configured"});
    if (!settings_.federation.find(peer_name)) return done(Error{Errc::not_found, "no partner organization named " + peer_name});
    auto found = transferable(from, conversation_id);
    if (!found) return done(found.error());
    if (auto it = hop_counts_.find(conversation_id); it != hop_counts_.end())
      return peer_offer_with_hops(from, conversation_id, peer_name, it->second, std::move(done));
    // How many times this visitor went between organizations before it came here
    // is in its inbound record (which counts the transfer that brought it).
    off_strand([this, conversation_id] { return store_.transfers(conversation_id); },
               [this, from, conversation_id, peer_name, done = std::move(done)](
                   core::Result<std::vector<core::Transfer>> history) mutable {
                 int hops = 0;
                 if (history) {
                   for (const auto& t : *history)
                     if (t.kind == TransferKind::peer && t.direction == core::Direction::in)
                       hops = std::max(hops, static_cast<int>(t.hop_count));
                 }
                 hop_counts_.emplace(conversation_id, hops);
                 peer_offer_with_hops(from, conversation_id, peer_name, hops, std::move(done));
               });
  });
}

void Hub::peer_offer_with_hops(const Actor& from, const std::string& conversation_id, const std::string& peer_name,
                               int hops, Callback<core::Transfer> done) {
  const PeerSettings* peer = settings_.federation.find(peer_name);
  auto found = transferable(from, conversation_id);
  if (!found) return done(found.error());
  core::Conversation* c = *found;
  core::Millis now = clock_.now();
  core::Transfer t = core::start_peer_offer("t" + random_.hex(12), conversation_id, from.agent, peer->name,
                                            peer->display_name, hops, now, settings_.federation.auth_code_ttl_ms);
  Undo u = undo_for(t.id, conversation_id);
  if (auto st = core::transition(*c, core::ConversationState::transferring, now); !st) return done(st.error());
  wire::Offer offer{t.id, settings_.organization, {from.agent, display_name(from.agent), {}}, "en", hops,
                    settings_.public_url};
  core::Write w;
  w.outbox_put.push_back(outbox_row(t, PeerAction::offer, wire::serialize(offer), 1));
  store_step(u, t, std::move(w), [this, t, done](core::Status st) {
    if (!st) return done(st.error());
    announce_transfer(t);
    done(t);
  });
}

void Hub::offer_answered(const core::OutboxItem& row, core::Result<federation::PeerReply> r, Lease lease) {
  const core::Transfer* t = tracked(row.transfer);
  if (!t || t->state != TransferState::offering || t->step != PeerStep::offer_sent) return drop_row(row.id, lease);
  std::string who = people_name(t->to_peer);
  if (!r || r->status >= 500) {
    if (retry_row(row, lease)) return;
    return end_out(t->id, TransferState::failed, who + " could not be reached. " + (r ? "It answered " + std::to_string(r->status) + "." : r.error().message),
                   kCourtesyRounds, lease);
  }
  if (r->status != 200) {
    std::string why = wire::error_message(r->body);
    return end_out(t->id, TransferState::failed,
                   who + " refused the transfer: " + (why.empty() ? "it answered " + std::to_string(r->status) : why), -1, lease);
  }
  auto answer = wire::parse_offer_answer(r->body);
  if (!answer) return end_out(t->id, TransferState::failed, who + " sent " + answer.error().message + ".", kCourtesyRounds, lease);
  core::Transfer next = *t;
  if (auto st = core::offer_answered(next, std::move(answer->authorization_code), std::move(answer->queues), clock_.now()); !st) {
    spdlog::error("transfer {}: {}", t->id, st.error().message);
    return drop_row(row.id, lease);
  }
  core::Write w;
  w.outbox_delete.push_back(row.id);
  store_step(undo_for(t->id, {}), next, std::move(w), [this, next, lease](core::Status st) {
    if (st) announce_transfer(next);
  });
}

// ---- the agent picks a queue: the context packet ---------------------------------

void Hub::peer_confirm(const Actor& from, const std::string& transfer_id, const std::string& queue, std::string note,
                       Callback<core::Transfer> done) {
  run([this, from, transfer_id, queue, note = std::move(note), done = std::move(done)]() mutable {
    exclusive(transfer_id, [this, from, transfer_id, queue, note = std::move(note), done = std::move(done)](Lease lease) mutable {
      const core::Transfer* t = tracked(transfer_id);
      if (!t || !core::is_open(t->state)) return done(Error{Errc::conflict, "this transfer is no longer open"});
      if (t->kind != TransferKind::peer || t->direction != core::Direction::out || t->from_agent != from.agent)
        return done(Error{Errc::forbidden, "not your transfer to a partner"});
      if (t->state != TransferState::offering || t->step != PeerStep::offer_answered)
        return done(Error{Errc::conflict, "the partner has not answered yet, or the transfer is already on its way"});
      bool offered = std::any_of(t->queues.begin(), t->queues.end(), [&](const core::OfferedQueue& q) { return q.name == queue; });
      if (!offered) return done(Error{Errc::bad_request, "the partner does not accept transfers into " + queue});
      if (auto st = core::check_text(note, settings_.max_message_bytes, "note", true); !st) return done(st.error());
      const core::Conversation* c = desk_.find(t->conversation_id);
      if (!c) return done(Error{Errc::conflict, "the conversation has ended"});
      std::int64_t after = std::max<std::int64_t>(0, c->last_seq - static_cast<std::int64_t>(wire::kMaxTranscriptEntries));
      std::string conv = c->id;
      off_strand([this, conv, after] { return store_.events(conv, after, wire::kMaxTranscriptEntries, false); },
                 [this, from, transfer_id, queue, note = std::move(note), lease, done = std::move(done)](
                     core::Result<std::vector<core::Event>> events) mutable {
                   if (!events) return done(events.error());
                   send_context(from, transfer_id, queue, std::move(note), std::move(*events), lease, std::move(done));
                 });
    });
  });
}

void Hub::send_context(const Actor& from, const std::string& transfer_id, std::string queue, std::string note,
                       std::vector<core::Event> events, Lease lease, Callback<core::Transfer> done) {
  const core::Transfer* t = tracked(transfer_id);
  if (!t || t->state != TransferState::offering || t->step != PeerStep::offer_answered)
    return done(Error{Errc::conflict, "this transfer moved on meanwhile"});
  const core::Conversation* c = desk_.find(t->conversation_id);
  if (!c) return done(Error{Errc::conflict, "the conversation has ended"});
  // The recall ticket lets the destination send the visitor back (§2.4). Only its
  // hash is kept in the record; the packet that carries it waits in the outbox
  // until it is answered.
  std::string ticket = random_.token(32);
  // The context packet (claims 20, 22): transcript, visitor, note, who, hops, ticket.
  wire::Context m;
  m.transfer_id = t->id;
  m.authorization_code = t->authorization_code;
  m.queue = queue;
  m.note = note;
  m.organization = settings_.organization;
  m.transferred_by = {from.agent, display_name(from.agent), settings_.organization};
  m.hop_count = t->hop_count + 1;
  m.recall_ticket = ticket;
  m.embed_origin = c->visitor.origin;
  m.visitor = {c->visitor.name, c->visitor.email, c->visitor.page, c->visitor.user_agent, "en"};
  for (const auto& e : events)
    if (e.kind == core::EventKind::message) m.transcript.push_back({e.author_kind, e.author_name, e.text, e.at, e.seq});
  wire::fit_to_packet(m);
  m.origin = settings_.public_url;
  // What the visitor writes after this goes to the destination with the arrival.
  std::int64_t context_seq = events.empty() ? 0 : events.back().seq;
  core::Transfer next = *t;
  if (auto st = core::context_sent(next, std::move(queue), std::move(note), federation::hash_code(ticket), context_seq,
                                   clock_.now());
      !st)
    return done(st.error());
  core::Write w;
  w.outbox_put.push_back(outbox_row(next, PeerAction::context, wire::serialize(m), 1));
  store_step(undo_for(next.id, {}), next, std::move(w), [this, next, lease, done](core::Status st) {
    if (!st) return done(st.error());
    announce_transfer(next);
    done(next);
  });
}

void Hub::context_answered(const core::OutboxItem& row, core::Result<federation::PeerReply> r, Lease lease) {
  const core::Transfer* t = tracked(row.transfer);
  if (!t || t->state != TransferState::offering || t->step != PeerStep::context_sent) return drop_row(row.id, lease);
  std::string who = people_name(t->to_peer);
  if (!r || r->status >= 500) {
    if (retry_row(row, lease)) return;
    // The destination may hold a conversation for the visitor: it is told to drop it.
    return end_out(t->id, TransferState::failed,
                   who + " could not be reached. " + (r ? "It answered " + std::to_string(r->status) + "." : r.error().message),
                   kCourtesyRounds, lease);
  }
  if (r->status != 200) {
    std::string why = wire::error_message(r->body);
    return end_out(t->id, TransferState::failed,
                   who + " refused the transfer: " + (why.empty() ? "it answered " + std::to_string(r->status) : why),
                   kCourtesyRounds, lease);
  }
  auto answer = wire::parse_context_answer(r->body);
  const PeerSettings* p = settings_.federation.find(t->to_peer);
  // The visitor is only ever sent to the peer's configured address.
  if (!answer || !p || answer->join_url != p->base_url + "/join")
    return end_out(t->id, TransferState::failed, who + " sent an unusable join address.", kCourtesyRounds, lease);
  core::Millis now = clock_.now();
  core::Millis expires = answer->expires_at;
  if (expires <= now || expires > now + 10 * 60'000) expires = now + settings_.federation.join_code_ttl_ms;
  core::Transfer next = *t;
  if (auto st = core::context_answered(next, std::move(answer->join_code), expires, kArrivalGraceMs, now); !st) {
    spdlog::error("transfer {}: {}", t->id, st.error().message);
    return drop_row(row.id, lease);
  }
  Undo u = undo_for(next.id, next.conversation_id);
  core::Write w;
  w.outbox_delete.push_back(row.id);
  if (core::Conversation* c = desk_.find(next.conversation_id))
    add_event(w, stage(*c, system_event_of(core::EventKind::system, {}, "Connecting you to " + who + "…")));
  store_step(u, next, std::move(w), [this, next, lease](core::Status st) {
    if (!st) return;
    announce_transfer(next);
    if (const core::Conversation* c = desk_.find(next.conversation_id)) send_move(*c, next);
  });
}

// ---- the visitor's browser ------------------------------------------------------

void Hub::send_move(const core::Conversation& c, const core::Transfer& t) {
  json::object o{{"type", "move"}, {"conversation", c.id}, {"destination", people_name(t.to_peer)}, {"action", "/transfer"}};
  send_to_visitor(c.id, std::make_shared<const std::string>(json::serialize(o)));
}

void Hub::transfer_page(const std::string& conversation_id, const std::string& token, Callback<MovePage> done) {
  authenticate_visitor(conversation_id, token, [this, conversation_id, done](core::Result<core::Conversation> r) {
    if (!r) return done(r.error());
    const core::Transfer* t = open_transfer_of(conversation_id);
    if (!t || t->kind != TransferKind::peer || t->direction != core::Direction::out ||
        t->state != TransferState::moving || t->step != PeerStep::none)
      return done(Error{Errc::conflict, "you are not being transferred"});
    const PeerSettings* p = settings_.federation.find(t->to_peer);
    if (!p) return done(Error{Errc::conflict, "that partner is no longer configured"});
    done(MovePage{p->display_name, p->base_url + "/join", t->join_code, r->site});
  });
}

void Hub::visitor_stays(const std::string& conversation_id, const std::string& token, Callback<std::string> done) {
  authenticate_visitor(conversation_id, token, [this, conversation_id, done](core::Result<core::Conversation> r) {
    if (!r) return done(r.error());
    std::string site = r->site;
    const core::Transfer* open = open_transfer_of(conversation_id);
    if (!open || open->kind != TransferKind::peer || open->direction != core::Direction::out) return done(site);
    std::string id = open->id;
    exclusive(id, [this, id, site, done](Lease lease) {
      const core::Transfer* t = tracked(id);
      auto reply = [site, done](core::Result<core::Transfer> st) {
        if (!st) return done(st.error());
        done(site);
      };
      if (!t || !core::is_open(t->state)) return done(site);
      if (t->state == TransferState::offering)
        return end_out(id, TransferState::cancelled, "The visitor could not reach " + people_name(t->to_peer) + " and stayed.",
                       kCourtesyRounds, lease, reply);
      if (t->step == PeerStep::none) return reclaim_out(id, false, lease, reply);
      done(site);  // already being called off
    });
  });
}

// ---- ends ---------------------------------------------------------------------------

void Hub::end_out(const std::string& id, TransferState state, const std::string& reason, int cancel_rounds, Lease lease,
                  Callback<core::Transfer> then) {
  const core::Transfer* t = tracked(id);
  if (!t) {
    if (then) then(Error{Errc::conflict, "this transfer is no longer open"});
    return;
  }
  bool was_moving = t->state == TransferState::moving;
  core::Transfer next = *t;
  if (auto st = core::advance(next, state, clock_.now(), reason); !st) {
    spdlog::error("transfer {}: {}", id, st.error().message);
    if (then) then(st.error());
    return;
  }
  Undo u = undo_for(id, next.conversation_id);
  core::Write w;
  for (auto a : {PeerAction::offer, PeerAction::context, PeerAction::cancel})
    w.outbox_delete.push_back(id + "/" + std::string(core::peer_action_name(a)));
  if (cancel_rounds >= 0) w.outbox_put.push_back(outbox_row(next, PeerAction::cancel, {}, cancel_rounds));
  if (core::Conversation* c = desk_.find(next.conversation_id); c && c->state == core::ConversationState::transferring) {
    std::string who = people_name(next.to_peer);
    take_back_staged(*c, was_moving ? "We could not connect you to " + who + ". You are back with " + settings_.organization + "." : "",
                     w);
  }
  store_step(u, next, std::move(w), [this, next, lease, then](core::Status st) {
    if (!st) {
      if (then) then(st.error());
      return;
    }
    count_transfer(next);
    announce_transfer(next);
    if (const core::Conversation* c = desk_.find(next.conversation_id); c && c->state == core::ConversationState::waiting) {
      route();
      after_queue_change(c->queue);
    }
    if (then) then(next);
  });
}

void Hub::reclaim_out(const std::string& id, bool overdue, Lease lease, Callback<core::Transfer> then) {
  const core::Transfer* t = tracked(id);
  if (!t) {
    if (then) then(Error{Errc::conflict, "this transfer is no longer open"});
    return;
  }
  std::string who = people_name(t->to_peer);
  std::string reason = overdue ? "The visitor did not arrive at " + who + " in time."
                               : "The visitor could not reach " + who + " and stayed.";
  core::Millis now = clock_.now();
  core::Transfer next = *t;
  if (auto st = core::reclaim(next, overdue, reason, now + kReclaimGiveUpMs, now); !st) {
    if (then) then(st.error());
    return;
  }
  core::Write w;
  w.outbox_put.push_back(outbox_row(next, PeerAction::cancel, {}, 0));
  store_step(undo_for(id, {}), next, std::move(w), [this, next, lease, then](core::Status st) {
    if (!st) {
      if (then) then(st.error());
      return;
    }
    announce_transfer(next);
    if (then) then(next);
  });
}

void Hub::complete_out(const std::string& id, Lease lease, Callback<core::Transfer> then) {
  const core::Transfer* t = tracked(id);
  if (!t) return then(Error{Errc::conflict, "this transfer is no longer open"});
  std::string who = people_name(t->to_peer);
  core::Transfer next = *t;
  if (auto st = core::advance(next, TransferState::completed, clock_.now(), "The visitor arrived at " + who + "."); !st)
    return then(st.error());
  Undo u = undo_for(id, next.conversation_id);
  core::Write w;
  w.outbox_delete.push_back(id + "/cancel");
  // Only now, with the visitor confirmed at the destination, does the origin let go.
  const core::Conversation* live = desk_.find(next.conversation_id);
  bool was_waiting = live && live->state == core::ConversationState::waiting;
  bool finished = finish_staged(next.conversation_id, core::ConversationState::transferred, "Transferred to " + who + ".", w);
  std::optional<core::Conversation> final_state;
  if (finished) final_state = *w.conversation;
  store_step(u, next, std::move(w), [this, next, final_state, was_waiting, lease, then](core::Status st) {
    if (!st) return then(st.error());
    count_transfer(next);
    announce_transfer(next);
    if (final_state) after_finish(*final_state, was_waiting);
    then(next);
  });
}

void Hub::out_deadline(const std::string& id, Lease lease) {
  const core::Transfer* t = tracked(id);
  std::string who = people_name(t->to_peer);
  if (t->state == TransferState::offering)
    return end_out(id, TransferState::expired, "The offer to " + who + " ran out before it was confirmed.", kCourtesyRounds,
                   lease);
  if (t->step == PeerStep::none) return reclaim_out(id, true, lease);
  // Asked for a day and never answered: the visitor is taken back, and if it is at
  // the destination after all, that server's next notice finds it so.
  spdlog::error("transfer {}: {} has not answered whether the visitor arrived; taking it back", id, who);
  end_out(id, t->step == PeerStep::stayed ? TransferState::cancelled : TransferState::expired,
          who + " did not answer; the visitor is back with " + settings_.organization + ".", -1, lease);
}

void Hub::cancel_answered(const core::OutboxItem& row, core::Result<federation::PeerReply> r, Lease lease) {
  const core::Transfer* t = tracked(row.transfer);
  bool asking = t && t->direction == core::Direction::out && t->state == TransferState::moving && core::reclaiming(t->step);
  if (!asking) {
    // A call-off the peer's own timers would make anyway: tried a while.
    if ((!r || r->status >= 500) && retry_row(row, lease)) return;
    return drop_row(row.id, lease);
  }
  std::string state;
  if (r && r->status == 404) {
    state = "unknown";  // the peer never had it: the visitor cannot be there
  } else if (r && r->status == 200) {
    if (auto a = wire::parse_state_answer(r->body)) state = a->state;
  }
  if (state.empty()) {
    retry_row(row, lease);  // never given up: the visitor may be there
    return;
  }
  if (state == "completed" || state == "recalled") {
    // The visitor is there. Its arrival notice, which the destination sends until it
    // is answered, then gets what the visitor wrote here meanwhile.
    return complete_out(t->id, lease, [](core::Result<core::Transfer>) {});
  }
  bool stayed = t->step == PeerStep::stayed;
  end_out(t->id, stayed ? TransferState::cancelled : TransferState::expired, t->reason, -1, lease);
}

// ---- notices from the destination ------------------------------------------------

void Hub::reply_arrived(const core::Transfer& t, std::function<void(FedReply)> done) {
  off_strand([this, conv = t.conversation_id, after = t.context_seq] {
    return store_.events(conv, after, wire::kMaxTranscriptEntries, false);
  },
             [this, id = t.id, done](core::Result<std::vector<core::Event>> late) {
               if (!late) return done(fed_error(503, "unavailable", "could not read the conversation; try again"));
               wire::ArrivedAnswer a{id, "completed", {}};
               for (const auto& e : *late)
                 if (e.kind == core::EventKind::message && e.author_kind == core::AuthorKind::visitor)
                   a.late_messages.push_back({e.author_kind, e.author_name, e.text, e.at, e.seq});
               done(fed_ok(wire::serialize(a)));
             });
}

void Hub::fed_arrived(const PeerSettings& peer, const std::string& transfer_id, std::function<void(FedReply)> done) {
  exclusive(transfer_id, [this, peer, transfer_id, done](Lease lease) {
    const core::Transfer* t = tracked(transfer_id);
    if (t) {
      if (!is_origin_record(t, peer.name)) return done(fed_error(404, "not_found", "no transfer of ours with this id"));
      if (t->state != TransferState::moving)
        return done(fed_error(409, "conflict", "this transfer is not waiting for the visitor"));
      // The record first, then the answer: a crash in between cannot bring back here
      // a visitor the destination has. If it cannot be stored (a full disk), the
      // destination asks again, keeping the visitor meanwhile.
      return complete_out(transfer_id, lease, [this, done](core::Result<core::Transfer> r) {
        if (!r) return done(fed_error(503, "unavailable", "the arrival could not be stored; try again"));
        reply_arrived(*r, done);
      });
    }
    off_strand([this, transfer_id] { return store_.transfer(transfer_id); },
               [this, peer, lease, done](core::Result<std::optional<core::Transfer>> rec) {
                 if (!rec) return done(fed_error(503, "unavailable", "could not read the transfer; try again"));
                 if (!*rec || !is_origin_record(&**rec, peer.name))
                   return done(fed_error(404, "not_found", "no transfer of ours with this id"));
                 const core::Transfer& t = **rec;
                 // A repeated notice (its answer was lost): the same answer, late messages again.
                 if (t.state == TransferState::completed || t.state == TransferState::recalled) return reply_arrived(t, done);
                 done(fed_error(409, "conflict", "this transfer already ended: " + std::string(core::transfer_state_name(t.state))));
               });
  });
}

void Hub::fed_expired(const PeerSettings& peer, const std::string& transfer_id, std::function<void(FedReply)> done) {
  exclusive(transfer_id, [this, peer, transfer_id, done](Lease lease) {
    const core::Transfer* t = tracked(transfer_id);
    if (t) {
      if (!is_origin_record(t, peer.name)) return done(fed_error(404, "not_found", "no transfer of ours with this id"));
      if (t->state != TransferState::moving)
        return done(fed_error(409, "conflict", "this transfer is not waiting for the visitor"));
      std::string conv = t->conversation_id;
      bool visitor_here = false;
      if (auto subs = subs_.find(conv); subs != subs_.end()) {
        for (const auto& sub : subs->second)
          if (!sub.agent && !sub.sub.expired()) visitor_here = true;
      }
      return end_out(transfer_id, TransferState::expired, "The visitor did not arrive at " + peer.display_name + " in time.", -1,
                     lease, [this, conv, visitor_here, transfer_id, done](core::Result<core::Transfer> r) {
                       if (!r) return done(fed_error(503, "unavailable", "the outcome could not be stored; try again"));
                       // Nobody on the visitor's side is connected here either: the browser was closed.
                       if (!visitor_here && desk_.find(conv))
                         finish(conv, core::ConversationState::abandoned, "The visitor left during the transfer.",
                                Actor{core::AuthorKind::system, {}, {}, {}}, nullptr);
                       done(fed_ok(wire::serialize(wire::StateAnswer{transfer_id, "expired"})));
                     });
    }
    off_strand([this, transfer_id] { return store_.transfer(transfer_id); },
               [this, peer, transfer_id, lease, done](core::Result<std::optional<core::Transfer>> rec) {
                 if (!rec) return done(fed_error(503, "unavailable", "could not read the transfer; try again"));
                 if (!*rec || !is_origin_record(&**rec, peer.name))
                   return done(fed_error(404, "not_found", "no transfer of ours with this id"));
                 if ((*rec)->state == TransferState::expired)
                   return done(fed_ok(wire::serialize(wire::StateAnswer{transfer_id, "expired"})));
                 done(fed_error(409, "conflict",
                                "this transfer already ended: " + std::string(core::transfer_state_name((*rec)->state))));
               });
  });
}

void Hub::fed_recall(const PeerSettings& peer, const std::string& transfer_id, std::string body,
                     std::function<void(FedReply)> done) {
  wire::Limits limits{settings_.max_message_bytes, settings_.max_json_depth};
  auto m = wire::parse_recall(body, limits);
  if (!m) return done(fed_error(m.error().code == Errc::too_large ? 413 : 400, core::errc_name(m.error().code), m.error().message));
  if (m->origin != peer.base_url)
    return done(fed_error(403, "origin_mismatch", "the body names another organization than the key's owner"));
  exclusive(transfer_id, [this, peer, transfer_id, m = std::move(*m), done](Lease lease) mutable {
    struct Read {
      core::Result<std::optional<core::Transfer>> record = std::optional<core::Transfer>{};
      core::Result<std::optional<core::Conversation>> conversation = std::optional<core::Conversation>{};
    };
    off_strand(
        [this, transfer_id] {
          Read r;
          r.record = store_.transfer(transfer_id);
          if (r.record && *r.record) r.conversation = store_.conversation((*r.record)->conversation_id);
          return r;
        },
        [this, peer, transfer_id, m = std::move(m), lease, done](Read r) mutable {
          if (!r.record || !r.conversation) return done(fed_error(503, "unavailable", "could not read the transfer; try again"));
          if (!*r.record || !is_origin_record(&**r.record, peer.name))
            return done(fed_error(404, "not_found", "no transfer of ours with this id"));
          const core::Transfer& t = **r.record;
          // Sent back before the arrival is settled here (its notice is still on the
          // way): asked again. A refusal must stay a refusal, since a late copy of
          // this very request could otherwise be taken once it is.
          if (t.state == TransferState::moving)
            return done(fed_error(503, "unavailable", "the visitor's arrival is not settled here yet; try again"));
          bool after_arrival = t.state == TransferState::completed || t.state == TransferState::recalled;
          if (!after_arrival || m.recall_ticket.size() > wire::kMaxCodeBytes ||
              !federation::equal_secret(federation::hash_code(m.recall_ticket), t.recall_hash))
            return done(fed_error(403, "bad_recall_ticket", "the recall ticket does not match"));
          if (!*r.conversation) return done(fed_error(409, "conflict", "the conversation is gone"));
          core::Conversation c = **r.conversation;
          core::Millis now = clock_.now();
          Undo u = undo_for(t.id, c.id);
          if (!desk_.find(c.id)) {
            if (t.state == TransferState::recalled) {
              // Taken back already and ended here since: nothing to add to.
              return done(fed_ok(wire::serialize(wire::RecallAnswer{transfer_id, "recalled", c.site})));
            }
            // The conversation was closed as transferred; a recall reopens it in its queue.
            c.state = core::ConversationState::waiting;
            c.agent.clear();
            c.closed_at = 0;
            c.close_reason.clear();
            c.waiting_since = c.updated_at = now;
            if (!desk_.has_queue(c.queue)) c.queue = settings_.queues.front();
            if (auto st = desk_.add(c); !st) return done(fed_error(500, "internal", st.error().message));
          }
          core::Conversation* live = desk_.find(c.id);
          core::Write w;
          // What was said at the destination comes back with the visitor, each once.
          for (const auto& e : m.messages) {
            core::Event ev;
            ev.kind = core::EventKind::message;
            bool visitor = e.author_kind == core::AuthorKind::visitor;
            ev.author_kind = visitor ? core::AuthorKind::visitor : core::AuthorKind::system;
            ev.author_name = visitor ? live->visitor.name : e.author_name + " (" + peer.display_name + ")";
            ev.text = e.text;
            ev.client_id = "~recall:" + t.id + ":" + std::to_string(e.seq);
            w.more_events.push_back(stage(*live, std::move(ev)));
          }
          core::Transfer next = t;
          bool first = t.state == TransferState::completed;
          if (first) {
            w.more_events.push_back(
                stage(*live, system_event_of(core::EventKind::system, {}, peer.display_name + " sent you back to " + settings_.organization + ".")));
            if (auto st = core::advance(next, TransferState::recalled, now, peer.display_name + " sent the visitor back."); !st) {
              undo(u);
              return done(fed_error(409, "conflict", st.error().message));
            }
          }
          std::string site = live->site;
          store_step(u, next, std::move(w), [this, next, first, site, transfer_id, lease, done](core::Status st) {
            if (!st) return done(fed_error(503, "unavailable", "could not take the visitor back; try again"));
            if (first) {
              announce_transfer(next);
              if (const core::Conversation* now_c = desk_.find(next.conversation_id)) {
                notify_agents(*now_c);
                route();
                after_queue_change(now_c->queue);
              }
            }
            done(fed_ok(wire::serialize(wire::RecallAnswer{transfer_id, "recalled", site})));
          });
        });
  });
}

}  // namespace baton::api
