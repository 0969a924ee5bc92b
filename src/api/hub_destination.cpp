// The destination's side of a transfer from another organization (DESIGN.md
// §2.3-2.4; docs/federation.md §8.2): its record (direction in), the offer and
// the context packet it answers, the join code it redeems, and the notices and
// recalls it sends. Part of Hub; runs on its strand. Every step is stored before
// anyone hears of it.
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "baton/api/hub.hpp"
#include "baton/federation/codes.hpp"
#include "baton/federation/wire.hpp"
#include "baton/federation/tokens.hpp"

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
constexpr int kExpiredNoticeRounds = 20;  // the origin's own deadline takes the visitor back anyway

void add_event(core::Write& w, core::Event e) {
  if (!w.event) w.event = std::move(e);
  else w.more_events.push_back(std::move(e));
}

int status_of(Errc code) { return code == Errc::too_large ? 413 : 400; }
}  // namespace

// ---- the offer ---------------------------------------------------------------------

void Hub::fed_offer(const PeerSettings& peer, std::string body, std::function<void(FedReply)> done) {
  wire::Limits limits{settings_.max_message_bytes, settings_.max_json_depth};
  auto m = wire::parse_offer(body, limits);
  if (!m) return done(fed_error(status_of(m.error().code), core::errc_name(m.error().code), m.error().message));
  if (m->origin != peer.base_url)
    return done(fed_error(403, "origin_mismatch", "the body names another organization than the key's owner"));
  if (m->hop_count >= settings_.federation.hop_limit)
    return done(fed_error(409, "hop_limit", "this visitor has been transferred too many times already"));
  if (peer.queues.empty()) return done(fed_error(403, "forbidden", "you may not transfer visitors to us"));
  std::string id = federation::inbound_id(peer.name, m->transfer_id);
  std::string digest = federation::body_digest(body);
  exclusive(id, [this, peer, id, digest, m = std::move(*m), done](Lease lease) mutable {
    auto answer = [this, peer, remote = m.transfer_id](const core::Transfer& t) {
      core::Millis now = clock_.now();
      wire::OfferAnswer a{remote, code_of("auth", t, t.auth_nonce), t.deadline, {}};
      for (const auto& q : peer.queues) {
        if (!desk_.has_queue(q)) continue;
        std::int64_t online = 0;
        for (const auto& [name, agent] : desk_.agents()) {
          if (agent.status == core::AgentStatus::online &&
              std::find(agent.profile.queues.begin(), agent.profile.queues.end(), q) != agent.profile.queues.end())
            ++online;
        }
        a.queues.push_back({q, q, static_cast<std::int64_t>(desk_.waiting_count(q)), desk_.longest_wait(q, now), online});
      }
      return fed_ok(wire::serialize(a));
    };
    if (const core::Transfer* t = tracked(id)) {
      // The same offer again (its answer was lost): the same code. Anything else
      // under this id is a reuse, refused: codes are issued once.
      bool resend = t->state == TransferState::offering && (t->offer_digest.empty() || t->offer_digest == digest);
      if (resend) return done(answer(*t));
      return done(fed_error(409, "conflict", "this transfer id was used already"));
    }
    // Not in memory: a new record, inserted only if no record of this id was ever
    // stored (the store refuses it otherwise: a reused transfer id).
    std::string nonce = random_.token(16);
    core::Transfer probe;
    probe.id = id;
    std::string code = code_of("auth", probe, nonce);
    core::Transfer t = core::receive_peer_offer(id, peer.name, peer.display_name, m.transfer_id, m.agent.display_name,
                                                m.hop_count, digest, nonce, federation::hash_code(code), clock_.now(),
                                                settings_.federation.auth_code_ttl_ms);
    core::Write w;
    w.transfer_is_new = true;
    store_step(undo_for(id, {}), t, std::move(w), [t, answer, lease, done](core::Status st) {
      if (!st && st.error().code == Errc::conflict)
        return done(Hub::FedReply{409, wire::serialize_error("conflict", "this transfer id was used already")});
      if (!st) return done(Hub::FedReply{503, wire::serialize_error("unavailable", "could not store the offer; try again")});
      done(answer(t));
    });
  });
}

// ---- the context packet: the holding conversation --------------------------------

void Hub::fed_context(const PeerSettings& peer, const std::string& transfer_id, std::string body,
                      std::function<void(FedReply)> done) {
  wire::Limits limits{settings_.max_message_bytes, settings_.max_json_depth};
  auto m = wire::parse_context(body, limits);
  if (!m) return done(fed_error(status_of(m.error().code), core::errc_name(m.error().code), m.error().message));
  if (m->origin != peer.base_url)
    return done(fed_error(403, "origin_mismatch", "the body names another organization than the key's owner"));
  std::string id = federation::inbound_id(peer.name, transfer_id);
  std::string digest = federation::body_digest(body);
  exclusive(id, [this, peer, id, transfer_id, digest, m = std::move(*m), done](Lease lease) mutable {
    const core::Transfer* t = tracked(id);
    if (!t || (t->state != TransferState::offering && t->state != TransferState::moving))
      return done(fed_error(404, "not_found", "no open offer with this transfer id"));
    if (m.authorization_code.size() > wire::kMaxCodeBytes ||
        !federation::equal_secret(federation::hash_code(m.authorization_code), t->auth_hash))
      return done(fed_error(403, "bad_authorization_code", "the authorization code does not match this transfer"));
    std::string join_url = settings_.public_url + "/join";
    if (t->state == TransferState::moving) {
      // The same packet again (its answer was lost): the same answer, no second conversation.
      if (!t->context_digest.empty() && t->context_digest != digest)
        return done(fed_error(409, "conflict", "this transfer has moved on already"));
      return done(fed_ok(wire::serialize(wire::ContextAnswer{transfer_id, code_of("join", *t, t->join_nonce), join_url, t->deadline})));
    }
    if (std::find(peer.queues.begin(), peer.queues.end(), m.queue) == peer.queues.end() || !desk_.has_queue(m.queue))
      return done(fed_error(403, "forbidden", "you may not transfer into queue " + m.queue));
    if (m.hop_count < 1 || m.hop_count > settings_.federation.hop_limit)
      return done(fed_error(409, "hop_limit", "this visitor has been transferred too many times already"));

    // The holding conversation (claims 34, 37): in the queue's line only once the
    // visitor arrives; until then it waits in state transferring, owned by nobody.
    core::Millis now = clock_.now();
    core::Conversation c;
    c.id = "c" + random_.hex(12);
    c.site = settings_.sites.empty() ? std::string() : settings_.sites.front().name;
    c.queue = m.queue;
    c.state = core::ConversationState::transferring;
    c.visitor.name = m.visitor.name;
    c.visitor.email = m.visitor.email;
    c.visitor.page = m.visitor.page;
    c.visitor.user_agent = m.visitor.browser;
    c.visitor.origin = m.embed_origin;
    c.created_at = c.waiting_since = c.updated_at = now;
    Undo u = undo_for(id, c.id);
    if (auto st = desk_.add(c); !st) return done(fed_error(500, "internal", st.error().message));
    core::Conversation* live = desk_.find(c.id);
    std::string by = m.transferred_by.display_name.empty() ? std::string("an agent") : m.transferred_by.display_name;
    core::Write w;
    for (const auto& e : m.transcript) {
      core::Event ev;
      ev.kind = core::EventKind::message;
      bool from_visitor = e.author_kind == core::AuthorKind::visitor;
      ev.author_kind = from_visitor ? core::AuthorKind::visitor : core::AuthorKind::system;
      ev.author_name = from_visitor ? e.author_name : e.author_name + " (" + peer.display_name + ")";
      ev.text = e.text;
      add_event(w, stage(*live, std::move(ev)));
    }
    add_event(w, stage(*live, system_event_of(core::EventKind::system, {}, "Transferred from " + peer.display_name + " by " + by + ".")));
    if (!m.note.empty()) {
      core::Event n;
      n.kind = core::EventKind::note;
      n.author_kind = core::AuthorKind::system;
      n.author_name = by + " (" + peer.display_name + ")";
      n.text = "Note from " + by + " at " + peer.display_name + ": " + m.note;
      add_event(w, stage(*live, std::move(n)));
    }
    std::string nonce = random_.token(16);
    core::Transfer next = *t;
    std::string join_code = code_of("join", next, nonce);
    core::ContextAccepted accepted{c.id,   m.queue, m.note, by, m.hop_count, m.recall_ticket, digest, nonce,
                                   federation::hash_code(join_code), now + settings_.federation.join_code_ttl_ms};
    if (auto st = core::context_received(next, std::move(accepted), now); !st) {
      undo(u);
      return done(fed_error(409, "conflict", st.error().message));
    }
    hop_counts_[c.id] = static_cast<int>(m.hop_count);
    ++counters_.conversations_created_total;  // closed_total counts it too when it ends
    store_step(u, next, std::move(w), [this, next, transfer_id, join_code, join_url, lease, done](core::Status st) {
      if (!st) return done(fed_error(503, "unavailable", "could not store the transfer; try again"));
      done(fed_ok(wire::serialize(wire::ContextAnswer{transfer_id, join_code, join_url, next.deadline})));
    });
  });
}

// ---- the origin calls it off ---------------------------------------------------------

void Hub::fed_cancel(const PeerSettings& peer, const std::string& transfer_id, std::function<void(FedReply)> done) {
  std::string id = federation::inbound_id(peer.name, transfer_id);
  exclusive(id, [this, peer, id, transfer_id, done](Lease lease) {
    auto state_reply = [this, transfer_id](TransferState s) {
      return fed_ok(wire::serialize(wire::StateAnswer{transfer_id, std::string(core::transfer_state_name(s))}));
    };
    const core::Transfer* t = tracked(id);
    if (t && core::is_open(t->state)) {
      core::Transfer next = *t;
      if (auto st = core::advance(next, TransferState::cancelled, clock_.now(), peer.display_name + " called the transfer off."); !st)
        return done(fed_error(409, "conflict", st.error().message));
      Undo u = undo_for(id, next.conversation_id);
      core::Write w;
      const core::Conversation* holding = desk_.find(next.conversation_id);
      bool was_waiting = holding && holding->state == core::ConversationState::waiting;
      std::optional<core::Conversation> final_state;
      if (finish_staged(next.conversation_id, core::ConversationState::abandoned, "The transfer was called off.", w))
        final_state = *w.conversation;
      return store_step(u, next, std::move(w), [this, next, final_state, was_waiting, state_reply, lease, done](core::Status st) {
        if (!st) return done(fed_error(503, "unavailable", "could not store the call-off; try again"));
        count_transfer(next);
        if (final_state) after_finish(*final_state, was_waiting);
        done(state_reply(TransferState::cancelled));
      });
    }
    // Ended already, or the visitor arrived: the origin learns which.
    if (t) return done(state_reply(t->state));
    off_strand([this, id] { return store_.transfer(id); },
               [this, state_reply, lease, done](core::Result<std::optional<core::Transfer>> rec) {
                 if (!rec) return done(fed_error(503, "unavailable", "could not read the transfer; try again"));
                 if (!*rec) return done(fed_error(404, "not_found", "no transfer with this id"));
                 done(state_reply((*rec)->state));
               });
  });
}

// ---- the visitor arrives ---------------------------------------------------------------

void Hub::redeem_join(const std::string& code, Callback<Joined> done) {
  run([this, code, done = std::move(done)]() mutable {
    if (code.empty() || code.size() > wire::kMaxCodeBytes) return done(Error{Errc::not_found, "this join link is not valid"});
    std::string hash = federation::hash_code(code);
    std::string id;
    for (const auto& [rid, tr] : transfers_) {
      const core::Transfer& t = tr.transfer;
      if (t.direction == core::Direction::in && !t.join_hash.empty() && federation::equal_secret(t.join_hash, hash)) id = rid;
    }
    if (id.empty()) return done(Error{Errc::not_found, "this join link is not valid or has expired"});
    exclusive(id, [this, id, hash, done = std::move(done)](Lease lease) mutable {
      const core::Transfer* t = tracked(id);
      // Redeemed once: whoever comes second finds the hash gone.
      if (!t || t->state != TransferState::moving || !federation::equal_secret(t->join_hash, hash))
        return done(Error{Errc::not_found, "this join link is not valid or has expired"});
      core::Conversation* c = desk_.find(t->conversation_id);
      if (!c) return done(Error{Errc::conflict, "this transfer has ended"});
      core::Millis now = clock_.now();
      Undo u = undo_for(id, c->id);
      Joined j{c->id, random_.token(32), c->site};
      c->visitor_token_hash = federation::hash_token(j.token);
      if (auto st = desk_.requeue(c->id, "", now); !st) {
        undo(u);
        return done(st.error());
      }
      // Nobody here can serve the visitor (§2.4): if still so after a while, it is
      // sent back with the recall ticket (a timer of the record's, so it survives a restart).
      core::Millis unserved_at = desk_.queue_has_online_agent(c->queue) ? 0 : now + settings_.federation.unserved_recall_ms;
      core::Transfer next = *t;
      if (auto st = core::redeemed(next, c->last_seq, unserved_at, now); !st) {
        undo(u);
        return done(st.error());
      }
      // The origin lets go only when it hears this; it is told until it answers.
      core::Write w;
      w.outbox_put.push_back(outbox_row(next, PeerAction::arrived, {}, 0));
      store_step(u, next, std::move(w), [this, next, j, lease, done = std::move(done)](core::Status st) mutable {
        if (!st) return done(Error{Errc::unavailable, "could not take you in just now; try again"});
        count_transfer(next);
        if (const core::Conversation* now_c = desk_.find(next.conversation_id)) {
          notify_agents(*now_c);
          route();
          after_queue_change(now_c->queue);
        }
        done(std::move(j));
      });
    });
  });
}

void Hub::answered_with_record(const core::OutboxItem& row, core::Result<federation::PeerReply> r, Lease lease,
                               std::function<void(const core::Transfer&, federation::PeerReply)> then) {
  if (!r || r->status >= 500) {
    // Told until the origin answers: giving up would leave it free to take back a
    // visitor who is here, or the visitor with two owners after a recall.
    if (!retry_row(row, lease)) drop_row(row.id, lease);
    return;
  }
  off_strand([this, id = row.transfer] { return store_.transfer(id); },
             [this, row, reply = std::move(*r), lease, then = std::move(then)](
                 core::Result<std::optional<core::Transfer>> rec) mutable {
               if (!rec) {
                 if (!retry_row(row, lease)) drop_row(row.id, lease);
                 return;
               }
               if (!*rec) return drop_row(row.id, lease);
               then(**rec, std::move(reply));
             });
}

void Hub::arrived_answered(const core::OutboxItem& row, core::Result<federation::PeerReply> answer, Lease lease) {
  answered_with_record(row, std::move(answer), lease,
                       [this, row, lease](const core::Transfer& t, federation::PeerReply reply) {
    const federation::PeerReply* r = &reply;
    if (r->status == 409 && t.state == TransferState::completed) {
      // The origin kept the visitor: ours is not a second owner; its page goes back.
      const PeerSettings* p = settings_.federation.find(t.to_peer);
      core::Write w;
      w.outbox_delete.push_back(row.id);
      return let_go(t, TransferState::cancelled, people_name(t.to_peer) + " kept this conversation.",
                    p ? p->base_url + "/chat" : std::string(), std::move(w), lease);
    }
    core::Write w;
    w.outbox_delete.push_back(row.id);
    if (r->status == 200) {
      // Messages the visitor sent at the origin while being moved, each stored once.
      auto a = wire::parse_arrived_answer(r->body, wire::Limits{settings_.max_message_bytes, settings_.max_json_depth});
      core::Conversation* c = desk_.find(t.conversation_id);
      if (a && c) {
        for (const auto& m : a->late_messages) {
          core::Event e;
          e.kind = core::EventKind::message;
          e.author_kind = core::AuthorKind::visitor;
          e.author_name = c->visitor.name;
          e.text = m.text;
          if (m.seq > 0) e.client_id = "~late:" + std::to_string(m.seq);
          w.more_events.push_back(stage(*c, std::move(e)));
        }
        w.conversation = *c;
      }
    } else {
      spdlog::warn("transfer {}: {} answered the arrival with {}", t.id, t.to_peer, r->status);
    }
    auto kept = std::make_shared<core::Write>(w);
    store_.write(std::move(w), [this, alive = std::weak_ptr<int>(alive_), kept, lease](core::Result<core::WriteResult> res) {
      if (alive.expired()) return;
      run([this, alive, kept, res = std::move(res), lease] {
        if (alive.expired()) return;
        if (!res) {
          ++counters_.store_errors_total;
          spdlog::error("store: the late messages could not be stored: {}; asked again", res.error().message);
          return;  // the row stays: the origin is asked again and gives them again
        }
        published(*kept, *res);
        if (outbox_) outbox_->erase(kept->outbox_delete.front());
      });
    });
  });
}

// ---- the code runs out, or nobody here serves the visitor ---------------------------

void Hub::in_deadline(const std::string& id, Lease lease) {
  const core::Transfer* t = tracked(id);
  core::Millis now = clock_.now();
  core::Transfer next = *t;
  if (t->state == TransferState::offering) {
    if (auto st = core::advance(next, TransferState::expired, now, "The offer ran out before its context came."); !st) return;
    return store_step(undo_for(id, {}), next, {}, [this, next, lease](core::Status st) {
      if (st) count_transfer(next);
    });
  }
  if (t->state == TransferState::moving) {
    // The join code ran out unused: the holding conversation goes, and the origin,
    // which still has the visitor, is told.
    if (auto st = core::advance(next, TransferState::expired, now, "The visitor did not arrive in time."); !st) return;
    Undo u = undo_for(id, next.conversation_id);
    core::Write w;
    const core::Conversation* holding = desk_.find(next.conversation_id);
    bool was_waiting = holding && holding->state == core::ConversationState::waiting;
    std::optional<core::Conversation> final_state;
    if (finish_staged(next.conversation_id, core::ConversationState::abandoned, "The visitor did not arrive.", w))
      final_state = *w.conversation;
    w.outbox_put.push_back(outbox_row(next, PeerAction::expired, {}, kExpiredNoticeRounds));
    return store_step(u, next, std::move(w), [this, next, final_state, was_waiting, lease](core::Status st) {
      if (!st) return;
      count_transfer(next);
      if (final_state) after_finish(*final_state, was_waiting);
    });
  }
  // Arrived while nobody could serve it: sent back if that is still so.
  const core::Conversation* c = desk_.find(t->conversation_id);
  bool unserved = c && c->state == core::ConversationState::waiting && !desk_.queue_has_online_agent(c->queue);
  if (t->state == TransferState::completed && t->step == PeerStep::unserved && unserved) {
    return recall_record(*t, lease, [id](core::Result<core::Transfer> r) {
      if (!r) spdlog::warn("transfer {}: could not send the visitor back: {}", id, r.error().message);
    });
  }
  if (auto st = core::served(next, now); !st) {
    spdlog::error("transfer {}: {}", id, st.error().message);
    return;
  }
  store_step(undo_for(id, {}), next, {}, [lease](core::Status) {});
}

void Hub::expired_answered(const core::OutboxItem& row, core::Result<federation::PeerReply> r, Lease lease) {
  if ((!r || r->status >= 500) && retry_row(row, lease)) return;
  if (!r || r->status >= 500) spdlog::error("transfer {}: gave up telling {} 'expired'", row.transfer, row.peer);
  drop_row(row.id, lease);
}

// ---- sending the visitor back ---------------------------------------------------------

void Hub::peer_recall(const Actor& by, const std::string& conversation_id, Callback<core::Transfer> done) {
  run([this, by, conversation_id, done = std::move(done)]() mutable {
    core::Conversation* c = desk_.find(conversation_id);
    if (!c) return done(Error{Errc::not_found, "no open conversation with this id"});
    if (by.kind == core::AuthorKind::agent && c->agent != by.agent && !can_read(by, *c))
      return done(Error{Errc::forbidden, "not your conversation"});
    if (!peer_link_) return done(Error{Errc::conflict, "this server has no partner organizations configured"});
    off_strand([this, conversation_id] { return store_.transfers(conversation_id); },
               [this, done = std::move(done)](core::Result<std::vector<core::Transfer>> history) mutable {
                 if (!history) return done(history.error());
                 std::string id;
                 for (const auto& t : *history)
                   if (t.kind == TransferKind::peer && t.direction == core::Direction::in && t.state == TransferState::completed)
                     id = t.id;
                 if (id.empty()) return done(Error{Errc::conflict, "this visitor did not come from a partner organization"});
                 exclusive(id, [this, id, done = std::move(done)](Lease lease) mutable {
                   // Read again under the lease: another step may have ended meanwhile.
                   off_strand([this, id] { return store_.transfer(id); },
                              [this, lease, done = std::move(done)](core::Result<std::optional<core::Transfer>> rec) mutable {
                                if (!rec) return done(rec.error());
                                if (!*rec || (*rec)->state != TransferState::completed)
                                  return done(Error{Errc::conflict, "this visitor is not here from a partner any more"});
                                recall_record(**rec, lease, std::move(done));
                              });
                 });
               });
  });
}

void Hub::recall_record(core::Transfer t, Lease lease, Callback<core::Transfer> done) {
  core::Transfer next = t;
  if (auto st = core::recall_requested(next, clock_.now()); !st)
    return done(Error{Errc::conflict, "the visitor is being sent back already"});
  core::Write w;
  w.outbox_put.push_back(outbox_row(next, PeerAction::recall, {}, 0));
  store_step(undo_for(t.id, {}), next, std::move(w), [this, next, lease, done](core::Status st) {
    if (!st) return done(st.error());
    announce_transfer(next);
    done(next);
  });
}

void Hub::recall_answered(const core::OutboxItem& row, core::Result<federation::PeerReply> answer, Lease lease) {
  answered_with_record(row, std::move(answer), lease,
                       [this, row, lease](const core::Transfer& t, federation::PeerReply reply) {
    const federation::PeerReply* r = &reply;
    if (t.state != TransferState::completed || t.step != PeerStep::recalling)
      return drop_row(row.id, lease);  // a last resend after the visitor went back
    std::string who = people_name(t.to_peer);
    if (r->status != 200) {
      std::string why = wire::error_message(r->body);
      core::Transfer next = t;
      if (!core::recall_refused(next, clock_.now())) return drop_row(row.id, lease);
      next.reason = who + " would not take the visitor back: " + (why.empty() ? "it answered " + std::to_string(r->status) : why);
      core::Write w;
      w.outbox_delete.push_back(row.id);
      return store_step(undo_for(t.id, {}), next, std::move(w), [this, next, lease](core::Status st) {
        if (st) announce_transfer(next);
      });
    }
    auto a = wire::parse_recall_answer(r->body);
    const PeerSettings* p = settings_.federation.find(t.to_peer);
    std::string url = p ? p->base_url + "/chat" + (a && !a->site.empty() ? "?site=" + a->site : "") : std::string();
    core::Write w;
    // What was said here after the recall left goes once more: the origin keeps each once.
    const core::Conversation* c = desk_.find(t.conversation_id);
    auto covered = recall_covered_.find(row.id);
    bool more = c && (covered == recall_covered_.end() || c->last_seq > covered->second);
    recall_covered_.erase(row.id);
    if (more) {
      core::OutboxItem again = row;
      again.rounds = 0;
      again.next_at = clock_.now();
      w.outbox_put.push_back(again);
    } else {
      w.outbox_delete.push_back(row.id);
    }
    let_go(t, TransferState::recalled, "Sent back to " + who + ".", url, std::move(w), lease);
  });
}

void Hub::let_go(core::Transfer t, TransferState state, const std::string& reason, std::string url, core::Write w,
                 Lease lease) {
  core::Transfer next = t;
  if (auto st = core::advance(next, state, clock_.now(), reason); !st) {
    spdlog::error("transfer {}: {}", t.id, st.error().message);
    return;
  }
  next.return_url = std::move(url);
  Undo u = undo_for(t.id, t.conversation_id);
  std::optional<core::Conversation> final_state;
  bool was_waiting = false;
  if (core::Conversation* c = desk_.find(t.conversation_id)) {
    was_waiting = c->state == core::ConversationState::waiting;
    bool recalled = state == TransferState::recalled;
    // Transferred only ever through transferring (the conversation's machine).
    if (recalled && c->state != core::ConversationState::transferring) {
      if (auto st = core::transition(*c, core::ConversationState::transferring, clock_.now()); !st)
        spdlog::error("conversation {}: {}", c->id, st.error().message);
    }
    if (finish_staged(t.conversation_id, recalled ? core::ConversationState::transferred : core::ConversationState::abandoned,
                      reason, w))
      final_state = *w.conversation;
  }
  store_step(u, next, std::move(w), [this, next, final_state, was_waiting, lease](core::Status st) {
    if (!st) return;
    count_transfer(next);
    announce_transfer(next, final_state ? final_state->agent : std::string());
    if (final_state) after_finish(*final_state, was_waiting);
    if (!next.return_url.empty()) {
      json::object o{{"type", "move"}, {"conversation", next.conversation_id}, {"destination", people_name(next.to_peer)},
                     {"url", next.return_url}};
      send_to_visitor(next.conversation_id, std::make_shared<const std::string>(json::serialize(o)));
    }
  });
}

void Hub::send_return(const std::string& conversation_id) {
  off_strand([this, conversation_id] { return store_.transfers(conversation_id); },
             [this, conversation_id](core::Result<std::vector<core::Transfer>> history) {
               if (!history) return;
               const core::Transfer* last = nullptr;
               for (const auto& t : *history)
                 if (t.direction == core::Direction::in && !t.return_url.empty()) last = &t;
               if (!last) return;
               json::object o{{"type", "move"}, {"conversation", conversation_id}, {"destination", people_name(last->to_peer)},
                              {"url", last->return_url}};
               send_to_visitor(conversation_id, std::make_shared<const std::string>(json::serialize(o)));
             });
}

}  // namespace baton::api
