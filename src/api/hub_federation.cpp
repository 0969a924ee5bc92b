// Transfers to another organization's server (DESIGN.md §2.3-2.4): what both
// sides share. Requests from a peer come in through on_federation(); requests to
// a peer go out through the outbox (docs/federation.md §8.5): a row stored with
// the step that needs it, sent once stored, sent again after a pause or a restart
// until it is answered, and deleted with the step its answer makes. Part of Hub;
// everything here runs on its strand. hub_origin.cpp and hub_destination.cpp hold
// the two sides.
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "baton/api/hub.hpp"
#include "baton/federation/codes.hpp"
#include "baton/federation/wire.hpp"

namespace baton::api {

namespace wire = federation::wire;
using core::Errc;
using core::Error;
using core::PeerAction;

void Hub::enable_federation(federation::PeerLink& link) {
  peer_link_ = &link;
  run([this] {
    outbox_ = std::make_unique<PeerOutbox>(strand_, clock_, timers_,
                                           [this](const core::OutboxItem& row, std::uint64_t generation) {
                                             send_row(row, generation);
                                           });
    for (auto& row : loaded_rows_) outbox_->put(std::move(row));
    loaded_rows_.clear();
  });
}

std::string Hub::people_name(const std::string& peer) const {
  const PeerSettings* p = settings_.federation.find(peer);
  return p ? p->display_name : peer;
}

Hub::FedReply Hub::fed_error(int status, std::string_view code, std::string_view message) const {
  return FedReply{status, wire::serialize_error(code, message)};
}

Hub::FedReply Hub::fed_ok(std::string body) const { return FedReply{200, std::move(body)}; }

std::string Hub::code_of(std::string_view purpose, const core::Transfer& t, std::string_view nonce) const {
  return federation::derive_code(settings_.federation.code_secret, purpose, t.id, nonce);
}

core::Millis Hub::backoff(int rounds) {
  core::Millis wait = std::min<core::Millis>(settings_.federation.notice_retry_max_ms,
                                             core::Millis{1000} << std::min(std::max(rounds - 1, 0), 5));
  // Up to a tenth more, so that many rows due at once do not all come back at once.
  std::uint32_t r = 0;
  random_.fill(&r, sizeof r);
  return wait + static_cast<core::Millis>(r % static_cast<std::uint32_t>(wait / 10 + 1));
}

core::OutboxItem Hub::outbox_row(const core::Transfer& t, PeerAction action, std::string body, int max_rounds) const {
  core::OutboxItem row;
  row.id = t.id + "/" + std::string(core::peer_action_name(action));
  row.transfer = t.id;
  row.peer = t.to_peer;
  row.action = action;
  row.max_rounds = max_rounds;
  row.next_at = row.created_at = clock_.now();
  // The transfer's id in the path is always the origin's.
  const std::string& remote = t.direction == core::Direction::in ? t.remote_id : t.id;
  const std::string base = "/federation/v1/transfers/" + remote + "/";
  switch (action) {
    case PeerAction::offer:
      row.path = "/federation/v1/offers";
      break;
    case PeerAction::context:
      row.path = base + "context";
      break;
    case PeerAction::cancel:
      row.path = base + "cancel";
      body = wire::serialize(wire::Notice{remote, {}, settings_.public_url});
      break;
    case PeerAction::arrived:
    case PeerAction::expired:
      row.path = base + std::string(core::peer_action_name(action));
      body = wire::serialize(wire::Notice{remote, settings_.public_url, settings_.public_url});
      break;
    case PeerAction::recall:
      break;  // built when sent: it carries what was said until then
  }
  row.body = std::move(body);
  return row;
}

// ---- sending ------------------------------------------------------------------------

void Hub::send_row(const core::OutboxItem& row, std::uint64_t generation) {
  if (!row.path.empty() && !row.body.empty()) return post_row(row, generation, row.path, row.body);
  const std::string base = "/federation/v1/transfers/";
  if (row.action == PeerAction::cancel)  // a row of an older version
    return post_row(row, generation, base + row.transfer + "/cancel",
                    wire::serialize(wire::Notice{row.transfer, {}, settings_.public_url}));
  // A recall carries what was said here since the visitor arrived (and rows of an
  // older version lack their path): from the store.
  struct Read {
    core::Result<std::optional<core::Transfer>> record = std::optional<core::Transfer>{};
    core::Result<std::vector<core::Event>> said = std::vector<core::Event>{};
  };
  off_strand(
      [this, row] {
        Read r;
        r.record = store_.transfer(row.transfer);
        if (row.action == PeerAction::recall && r.record && *r.record)
          r.said = store_.events((*r.record)->conversation_id, (*r.record)->context_seq, wire::kMaxTranscriptEntries, false);
        return r;
      },
      [this, row, generation, base](Read r) {
        if (!r.record || !r.said) return on_row_answer(row, generation, Error{Errc::unavailable, "the store could not be read"});
        if (!*r.record) {
          spdlog::error("outbox {}: its transfer is gone; dropped", row.id);
          return exclusive(row.transfer, [this, id = row.id](Lease lease) { drop_row(id, lease); });
        }
        const core::Transfer& t = **r.record;
        std::string path = base + t.remote_id + "/" + std::string(core::peer_action_name(row.action));
        if (row.action != PeerAction::recall)
          return post_row(row, generation, path, wire::serialize(wire::Notice{t.remote_id, settings_.public_url, settings_.public_url}));
        wire::Recall m{t.remote_id, settings_.public_url, t.recall_ticket, {}, settings_.public_url};
        std::int64_t covered = t.context_seq;
        for (const auto& e : *r.said) {
          covered = std::max(covered, e.seq);
          // What the origin sent late (with the arrival's answer) it has already.
          if (e.kind != core::EventKind::message || e.client_id.rfind("~late:", 0) == 0) continue;
          m.messages.push_back({e.author_kind, e.author_name, e.text, e.at, e.seq});
        }
        recall_covered_[row.id] = covered;
        post_row(row, generation, path, wire::serialize(m));
      });
}

void Hub::post_row(const core::OutboxItem& row, std::uint64_t generation, const std::string& path, std::string body) {
  const PeerSettings* p = settings_.federation.find(row.peer);
  if (!p || !peer_link_)
    return on_row_answer(row, generation, Error{Errc::unavailable, "no partner named " + row.peer + " is configured"});
  peer_link_->post(federation::PeerEndpoint{p->name, p->base_url}, path, std::move(body),
                   [this, alive = std::weak_ptr<int>(alive_), row, generation](core::Result<federation::PeerReply> r) {
                     if (alive.expired()) return;
                     run([this, alive, row, generation, r = std::move(r)]() mutable {
                       if (!alive.expired()) on_row_answer(row, generation, std::move(r));
                     });
                   });
}

void Hub::on_row_answer(const core::OutboxItem& row, std::uint64_t generation, core::Result<federation::PeerReply> r) {
  exclusive(row.transfer, [this, row, generation, r = std::move(r)](Lease record_lease) mutable {
    // The row may be sent again only once its answer has been dealt with.
    Lease lease(nullptr, [this, alive = std::weak_ptr<int>(alive_), id = row.id, record_lease](void*) {
      if (alive.expired()) return;
      run([this, alive, id] {
        if (!alive.expired() && outbox_) outbox_->sent(id);
      });
    });
    if (!outbox_ || !outbox_->current(row.id, generation)) return;  // replaced or done meanwhile
    bool answered = r && r->status < 500;
    if (!answered) {
      spdlog::warn("transfer {}: no answer from {} to '{}': {}", row.transfer, row.peer, core::peer_action_name(row.action),
                   r ? "it answered " + std::to_string(r->status) : r.error().message);
    }
    switch (row.action) {
      case PeerAction::offer: return offer_answered(row, std::move(r), lease);
      case PeerAction::context: return context_answered(row, std::move(r), lease);
      case PeerAction::cancel: return cancel_answered(row, std::move(r), lease);
      case PeerAction::arrived: return arrived_answered(row, std::move(r), lease);
      case PeerAction::expired: return expired_answered(row, std::move(r), lease);
      case PeerAction::recall: return recall_answered(row, std::move(r), lease);
    }
  });
}

bool Hub::retry_row(const core::OutboxItem& row, Lease lease) {
  if (row.max_rounds > 0 && row.rounds + 1 >= row.max_rounds) return false;
  core::OutboxItem next = row;
  ++next.rounds;
  next.next_at = clock_.now() + backoff(next.rounds);
  if (row.action != PeerAction::offer && row.action != PeerAction::context) ++counters_.peer_notice_retries_total;
  if (next.rounds == 20)
    spdlog::warn("transfer {}: {} has not answered '{}' {} times; still trying", row.transfer, row.peer,
                 core::peer_action_name(row.action), next.rounds);
  core::Write w;
  w.outbox_put.push_back(next);
  store_.write(std::move(w), [this, alive = std::weak_ptr<int>(alive_), next, lease](core::Result<core::WriteResult> r) {
    if (alive.expired()) return;
    run([this, alive, next, lease, ok = r.ok()] {
      if (alive.expired() || !outbox_) return;
      if (!ok) spdlog::error("outbox {}: the next round could not be stored; it is kept in memory", next.id);
      if (outbox_->find(next.id)) outbox_->put(next);
    });
  });
  return true;
}

void Hub::drop_row(const std::string& id, Lease lease) {
  core::Write w;
  w.outbox_delete.push_back(id);
  store_.write(std::move(w), [this, alive = std::weak_ptr<int>(alive_), id, lease](core::Result<core::WriteResult> r) {
    if (alive.expired()) return;
    run([this, alive, id, lease, ok = r.ok()] {
      if (alive.expired() || !outbox_) return;
      if (ok) return outbox_->erase(id);
      // Still stored: it goes again in a while, and its answer ends it again.
      spdlog::error("outbox {}: could not be deleted from the store; sent again later", id);
      if (const core::OutboxItem* row = outbox_->find(id)) {
        core::OutboxItem again = *row;
        again.next_at = clock_.now() + backoff(1);
        outbox_->put(again);
      }
    });
  });
}

// ---- receiving ----------------------------------------------------------------------

void Hub::on_federation(const std::string& peer_name, const std::string& action, const std::string& transfer_id,
                        std::string body, std::function<void(FedReply)> done) {
  run([this, peer_name, action, transfer_id, body = std::move(body), done = std::move(done)]() mutable {
    const PeerSettings* peer = settings_.federation.find(peer_name);
    if (!peer) return done(fed_error(403, "unknown_peer", "you are not a configured partner"));
    bool known = action == "offer" || action == "context" || action == "cancel" || action == "arrived" ||
                 action == "expired" || action == "recall";
    if (!known) return done(fed_error(404, "not_found", "no such federation endpoint"));
    if (action == "offer") return fed_offer(*peer, std::move(body), std::move(done));
    if (action == "context" || action == "recall") {
      if (!wire::valid_id(transfer_id)) return done(fed_error(400, "bad_request", "transfer_id must be 1 to 64 of A-Z a-z 0-9 - _"));
      if (action == "context") return fed_context(*peer, transfer_id, std::move(body), std::move(done));
      return fed_recall(*peer, transfer_id, std::move(body), std::move(done));
    }
    auto notice = wire::parse_notice(body);
    if (!notice) return done(fed_error(notice.error().code == Errc::too_large ? 413 : 400,
                                       core::errc_name(notice.error().code), notice.error().message));
    // The key's owner must be the organization the body speaks for.
    if (notice->origin != peer->base_url)
      return done(fed_error(403, "origin_mismatch", "the body names another organization than the key's owner"));
    if (!wire::valid_id(transfer_id)) return done(fed_error(400, "bad_request", "transfer_id must be 1 to 64 of A-Z a-z 0-9 - _"));
    if (action == "cancel") return fed_cancel(*peer, transfer_id, std::move(done));
    if (action == "arrived") return fed_arrived(*peer, transfer_id, std::move(done));
    fed_expired(*peer, transfer_id, std::move(done));
  });
}

}  // namespace baton::api
