// Transfers to another organization's server (DESIGN.md §2.3-2.4), both sides.
// Part of Hub: everything here runs on the hub's strand; calls to peers run on
// the peer pool and come back to the strand. docs/federation.md is the protocol.
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "api/hub.hpp"
#include "api/json.hpp"
#include "core/text.hpp"
#include "http/tokens.hpp"

namespace baton::api {

namespace net = boost::asio;
namespace json = boost::json;
using core::Errc;
using core::Error;
using core::TransferKind;
using core::TransferState;

namespace {

constexpr std::size_t kMaxTranscriptEvents = 500;
constexpr std::size_t kMaxPacketBytes = 56 * 1024;  // under a peer's default 64 KiB body limit
constexpr std::size_t kMaxIdBytes = 64;
constexpr core::Millis kArrivalGraceMs = 30'000;  // origin waits this long past the join code
constexpr int kNotifyAttempts = 20;               // arrived/expired notices, about 10 min

std::shared_ptr<const std::string> to_payload(const json::object& o) {
  return std::make_shared<const std::string>(json::serialize(o));
}

json::object detail_of(const core::Transfer& t) {
  boost::system::error_code ec;
  auto v = json::parse(t.detail, ec);
  if (ec || !v.is_object()) return {};
  return std::move(v.as_object());
}

void set_detail(core::Transfer& t, const json::object& d) { t.detail = json::serialize(d); }

std::string field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return {};
  return std::string(v->as_string());
}

Hub::FedReply fed_error(int status, std::string_view code, std::string_view message) {
  Hub::FedReply r;
  r.status = status;
  json::object inner{{"code", code}, {"message", message}};
  r.body["error"] = std::move(inner);
  return r;
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// The id of the destination's record for a peer's transfer: stable, so that a
// retried offer finds the same record.
std::string inbound_id(const std::string& peer, const std::string& transfer_id) {
  unsigned char digest[32];
  std::string key = peer + "|" + transfer_id;
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  return "i" + core::hex_encode(digest, 12);
}

// What the visitor wrote at the origin after the context packet left (§6.5); `seq`
// lets the destination store each once, however often the answer comes.
json::array late_messages_json(const core::Result<std::vector<core::Event>>& late) {
  json::array messages;
  if (!late) return messages;
  for (const auto& e : *late)
    if (e.kind == core::EventKind::message && e.author_kind == core::AuthorKind::visitor)
      messages.push_back({{"text", e.text}, {"at", e.at}, {"author_name", e.author_name}, {"seq", e.seq}});
  return messages;
}

std::int64_t context_seq(const json::object& d) {
  auto* v = d.if_contains("context_seq");
  return v && v->is_int64() ? v->as_int64() : 0;
}

}  // namespace

void Hub::enable_federation(federation::PeerClient& client, net::thread_pool& pool) {
  peer_client_ = &client;
  peer_pool_ = &pool;
  // Arrivals the origin had not confirmed when this server stopped: tell it again.
  run([this] {
    std::vector<core::Transfer> pending;
    for (const auto& [id, t] : unsettled_notices_) pending.push_back(t);
    for (const auto& t : pending) notify_origin(t, "arrived");
  });
}

void Hub::notice_settled(const std::string& inbound_id) {
  auto it = unsettled_notices_.find(inbound_id);
  if (it == unsettled_notices_.end()) return;
  core::Transfer t = std::move(it->second);
  unsettled_notices_.erase(it);
  json::object d = detail_of(t);
  d.erase("notify");
  set_detail(t, d);
  t.deadline = 0;
  save_transfer(t);
}

std::string Hub::derive_code(std::string_view purpose, std::string_view id) const {
  const std::string& key = settings_.federation.code_secret;
  std::string msg = std::string(purpose) + "|" + std::string(id);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return core::base64url_encode(mac, sizeof mac);  // 256 bits
}

void Hub::peer_call(const std::string& peer_name, const std::string& path, json::object body,
                    std::function<void(core::Result<federation::PeerReply>)> on_strand) {
  const PeerSettings* peer = settings_.federation.find(peer_name);
  if (!peer || !peer_client_) {
    on_strand(Error{Errc::unavailable, "no such partner: " + peer_name});
    return;
  }
  body["origin"] = settings_.public_url;
  federation::PeerEndpoint ep{peer->name, peer->base_url};
  net::post(*peer_pool_, [this, ep, path, text = json::serialize(body), on_strand = std::move(on_strand)]() mutable {
    auto r = peer_client_->post(ep, path, text);
    run([r = std::move(r), on_strand = std::move(on_strand)]() mutable { on_strand(std::move(r)); });
  });
}

namespace {
// The error a peer gave, for people: its message, or the status.
std::string peer_refusal(const federation::PeerReply& reply) {
  boost::system::error_code ec;
  auto v = json::parse(reply.body, ec);
  if (!ec && v.is_object()) {
    if (auto* e = v.as_object().if_contains("error"); e && e->is_object()) {
      std::string m = field(e->as_object(), "message");
      if (!m.empty()) return m;
    }
  }
  return "it answered " + std::to_string(reply.status);
}
}  // namespace

// ---- origin side ---------------------------------------------------------------

void Hub::peer_offer(const Actor& from, const std::string& conversation_id, const std::string& peer_name,
                     Callback<core::Transfer> done) {
  run([this, from, conversation_id, peer_name, done = std::move(done)]() mutable {
    if (!settings_.federation.enabled || !peer_client_)
      return done(Error{Errc::conflict, "this server has no partner organizations configured"});
    const PeerSettings* peer = settings_.federation.find(peer_name);
    if (!peer) return done(Error{Errc::not_found, "no partner organization named " + peer_name});
    auto found = transferable(from, conversation_id);
    if (!found) return done(found.error());
    if (!hop_counts_.count(conversation_id)) {
      // How many times this visitor was transferred between organizations before it
      // came here is in its inbound transfer record (durable, unlike the cache).
      net::post(blocking_, [this, from, conversation_id, peer_name, done = std::move(done)]() mutable {
        auto history = store_.transfers(conversation_id);
        int hops = 0;
        if (history) {
          for (const auto& t : *history) {
            json::object d = detail_of(t);
            if (t.kind != TransferKind::peer || field(d, "direction") != "in") continue;
            if (auto* h = d.if_contains("hop_count"); h && h->is_int64()) hops = std::max<int>(hops, static_cast<int>(h->as_int64()) + 1);
          }
        }
        run([this, from, conversation_id, peer_name, hops, done = std::move(done)]() mutable {
          hop_counts_.emplace(conversation_id, hops);
          peer_offer(from, conversation_id, peer_name, std::move(done));
        });
      });
      return;
    }
    core::Conversation* c = *found;
    core::Transfer t = new_transfer(TransferKind::peer, *c, from, {}, settings_.federation.auth_code_ttl_ms);
    t.to_peer = peer->name;
    t.state = TransferState::offering;
    int hops = 0;
    {
      // A visitor who came from elsewhere carries its hop count on.
      auto it = hop_counts_.find(conversation_id);
      if (it != hop_counts_.end()) hops = it->second;
    }
    json::object d{{"direction", "out"}, {"destination", peer->display_name}, {"hop_count", hops}};
    set_detail(t, d);
    (void)core::transition(*c, core::ConversationState::transferring, clock_.now());
    std::string id = t.id;
    open_transfer(t);
    announce_transfer(t);
    done(t);
    json::object offer{{"transfer_id", id},
                       {"organization", settings_.organization},
                       {"agent", {{"name", from.agent}, {"display_name", display_name(from.agent)}}},
                       {"language", "en"},
                       {"hop_count", hops}};
    peer_call(peer->name, "/federation/v1/offers", std::move(offer),
              [this, id](core::Result<federation::PeerReply> r) {
                auto it = transfers_.find(id);
                if (it == transfers_.end()) return;  // called off meanwhile
                const PeerSettings* p = settings_.federation.find(it->second.transfer.to_peer);
                std::string who = p ? p->display_name : it->second.transfer.to_peer;
                if (!r) return end_transfer(id, TransferState::failed, who + " could not be reached. " + r.error().message);
                if (r->status != 200)
                  return end_transfer(id, TransferState::failed, who + " refused the transfer: " + peer_refusal(*r));
                boost::system::error_code ec;
                auto v = json::parse(r->body, ec);
                if (ec || !v.is_object()) return end_transfer(id, TransferState::failed, who + " sent an answer we could not read.");
                auto& body = v.as_object();
                std::string code = field(body, "authorization_code");
                auto* queues = body.if_contains("queues");
                if (code.empty() || code.size() > 128 || !queues || !queues->is_array())
                  return end_transfer(id, TransferState::failed, who + " sent an incomplete answer.");
                core::Transfer& t = it->second.transfer;
                json::object d = detail_of(t);
                d["authorization_code"] = code;
                json::array qs;
                for (const auto& q : queues->as_array()) {
                  if (!q.is_object() || qs.size() >= 50) continue;
                  const auto& qo = q.as_object();
                  json::object clean{{"name", core::utf8_prefix(field(qo, "name"), 64)},
                                     {"display_name", core::utf8_prefix(field(qo, "display_name"), 64)}};
                  for (const char* k : {"waiting", "longest_wait_ms", "agents_online"}) {
                    auto* n = qo.if_contains(k);
                    clean[k] = n && n->is_int64() ? n->as_int64() : 0;
                  }
                  if (!core::valid_utf8(json::value_to<std::string>(clean["name"]))) continue;
                  qs.push_back(std::move(clean));
                }
                d["queues"] = std::move(qs);
                set_detail(t, d);
                t.updated_at = clock_.now();
                save_transfer(t);
                announce_transfer(t);
              });
  });
}

void Hub::peer_confirm(const Actor& from, const std::string& transfer_id, const std::string& queue, std::string note,
                       Callback<core::Transfer> done) {
  run([this, from, transfer_id, queue, note = std::move(note), done = std::move(done)]() mutable {
    auto it = transfers_.find(transfer_id);
    if (it == transfers_.end()) return done(Error{Errc::conflict, "this transfer is no longer open"});
    core::Transfer& t = it->second.transfer;
    if (t.kind != TransferKind::peer || t.from_agent != from.agent)
      return done(Error{Errc::forbidden, "not your transfer to a partner"});
    json::object d = detail_of(t);
    if (t.state != TransferState::offering || !d.contains("authorization_code") || d.contains("queue"))
      return done(Error{Errc::conflict, "the partner has not answered yet, or the transfer is already on its way"});
    bool allowed = false;
    if (auto* qs = d.if_contains("queues"); qs && qs->is_array()) {
      for (const auto& q : qs->as_array())
        if (q.is_object() && field(q.as_object(), "name") == queue) allowed = true;
    }
    if (!allowed) return done(Error{Errc::bad_request, "the partner does not accept transfers into " + queue});
    if (auto st = core::check_text(note, settings_.max_message_bytes, "note", true); !st) return done(st.error());
    core::Conversation* c = desk_.find(t.conversation_id);
    if (!c) return done(Error{Errc::conflict, "the conversation has ended"});
    t.to_queue = queue;
    t.note = note;
    // The recall ticket lets the destination send the visitor back (§2.4).
    std::string ticket = random_.token(32);
    d["queue"] = queue;
    d["recall_hash"] = http::hash_token(ticket);
    set_detail(t, d);
    t.updated_at = clock_.now();
    save_transfer(t);
    done(t);

    // The context packet (claims 20, 22): transcript, visitor, note, who, hops, ticket.
    const core::Conversation snapshot = *c;
    std::string code = field(d, "authorization_code");
    std::int64_t hops = d.contains("hop_count") && d["hop_count"].is_int64() ? d["hop_count"].as_int64() : 0;
    json::object packet{{"transfer_id", transfer_id},
                        {"authorization_code", code},
                        {"queue", queue},
                        {"note", note},
                        {"organization", settings_.organization},
                        {"transferred_by", {{"name", from.agent}, {"display_name", display_name(from.agent)},
                                            {"organization", settings_.organization}}},
                        {"hop_count", hops + 1},
                        {"recall_ticket", ticket},
                        {"embed_origin", snapshot.visitor.origin},
                        {"visitor", {{"name", snapshot.visitor.name}, {"email", snapshot.visitor.email},
                                     {"page", snapshot.visitor.page}, {"browser", snapshot.visitor.user_agent},
                                     {"language", "en"}}}};
    std::string conv_id = snapshot.id;
    std::string peer_name = t.to_peer;
    std::int64_t from = std::max<std::int64_t>(0, snapshot.last_seq - static_cast<std::int64_t>(kMaxTranscriptEvents));
    net::post(blocking_, [this, conv_id, transfer_id, peer_name, from, packet = std::move(packet)]() mutable {
      // The newest part of the transcript, if it is long.
      auto events = store_.events(conv_id, from, kMaxTranscriptEvents, false);
      run([this, transfer_id, peer_name, packet = std::move(packet), events = std::move(events)]() mutable {
        if (!transfers_.count(transfer_id)) return;
        if (!events) return end_transfer(transfer_id, TransferState::failed, "The transcript could not be read.");
        if (auto it = transfers_.find(transfer_id); it != transfers_.end() && !events->empty()) {
          // Messages after this one reach the destination with the arrival (late_messages).
          json::object d = detail_of(it->second.transfer);
          d["context_seq"] = events->back().seq;
          set_detail(it->second.transfer, d);
        }
        // Newest first until the packet would pass the budget (peers accept 64 KiB
        // bodies by default), then back in order.
        std::vector<json::object> kept;
        std::size_t bytes = json::serialize(packet).size();
        for (auto e = events->rbegin(); e != events->rend(); ++e) {
          if (e->kind != core::EventKind::message) continue;
          json::object item{{"kind", "message"}, {"author_kind", core::author_kind_name(e->author_kind)},
                            {"author_name", e->author_name}, {"text", e->text}, {"at", e->at}};
          std::size_t size = json::serialize(item).size() + 1;
          if (bytes + size > kMaxPacketBytes) break;
          bytes += size;
          kept.push_back(std::move(item));
        }
        json::array transcript;
        for (auto it = kept.rbegin(); it != kept.rend(); ++it) transcript.push_back(std::move(*it));
        packet["transcript"] = std::move(transcript);
        peer_call(peer_name, "/federation/v1/transfers/" + transfer_id + "/context", std::move(packet),
                  [this, transfer_id](core::Result<federation::PeerReply> r) {
                    auto it = transfers_.find(transfer_id);
                    if (it == transfers_.end()) return;
                    core::Transfer& t = it->second.transfer;
                    const PeerSettings* p = settings_.federation.find(t.to_peer);
                    std::string who = p ? p->display_name : t.to_peer;
                    if (!r) return end_transfer(transfer_id, TransferState::failed, who + " could not be reached. " + r.error().message);
                    if (r->status != 200)
                      return end_transfer(transfer_id, TransferState::failed, who + " refused the transfer: " + peer_refusal(*r));
                    boost::system::error_code ec;
                    auto v = json::parse(r->body, ec);
                    std::string code = !ec && v.is_object() ? field(v.as_object(), "join_code") : "";
                    std::string url = !ec && v.is_object() ? field(v.as_object(), "join_url") : "";
                    std::int64_t expires = 0;
                    if (!ec && v.is_object()) {
                      if (auto* e = v.as_object().if_contains("expires_at"); e && e->is_int64()) expires = e->as_int64();
                    }
                    // The visitor is only ever sent to the peer's configured address.
                    if (code.empty() || code.size() > 128 || !p || url != p->base_url + "/join")
                      return end_transfer(transfer_id, TransferState::failed, who + " sent an unusable join address.");
                    core::Millis now = clock_.now();
                    if (expires <= now || expires > now + 10 * 60'000) expires = now + settings_.federation.join_code_ttl_ms;
                    json::object d = detail_of(t);
                    d["join_code"] = code;
                    d.erase("authorization_code");
                    set_detail(t, d);
                    (void)core::advance(t, TransferState::moving, now);
                    t.deadline = expires + kArrivalGraceMs;
                    save_transfer(t);
                    arm_transfer_timer(transfer_id);
                    announce_transfer(t);
                    if (core::Conversation* c = desk_.find(t.conversation_id)) {
                      system_event(*c, core::EventKind::system, {}, "Connecting you to " + who + "…");
                      send_move(*c, t);
                    }
                  });
      });
    });
  });
}

void Hub::send_bounce(const std::string& conversation_id) {
  auto b = bounced_.find(conversation_id);
  auto it = subs_.find(conversation_id);
  if (b == bounced_.end() || it == subs_.end()) return;
  json::object o{{"type", "move"}, {"conversation", conversation_id}, {"destination", ""}, {"url", b->second}};
  auto payload = to_payload(o);
  for (const auto& s : it->second) {
    if (s.agent) continue;
    if (auto sub = s.sub.lock()) sub->deliver(conversation_id, 0, payload);
  }
}

void Hub::send_move(const core::Conversation& c, const core::Transfer& t) {
  auto it = subs_.find(c.id);
  if (it == subs_.end()) return;
  const PeerSettings* p = settings_.federation.find(t.to_peer);
  json::object o{{"type", "move"},
                 {"conversation", c.id},
                 {"destination", p ? p->display_name : t.to_peer},
                 {"action", "/transfer"}};
  auto payload = to_payload(o);
  for (const auto& s : it->second) {
    if (s.agent) continue;
    if (auto sub = s.sub.lock()) sub->deliver(c.id, 0, payload);
  }
}

void Hub::transfer_page(const std::string& conversation_id, const std::string& token, Callback<MovePage> done) {
  authenticate_visitor(conversation_id, token, [this, conversation_id, done](core::Result<core::Conversation> r) {
    if (!r) return done(r.error());
    OpenTransfer* open = open_transfer_of(conversation_id);
    if (!open || open->transfer.kind != TransferKind::peer || open->transfer.state != TransferState::moving)
      return done(Error{Errc::conflict, "you are not being transferred"});
    const PeerSettings* p = settings_.federation.find(open->transfer.to_peer);
    if (!p) return done(Error{Errc::conflict, "that partner is no longer configured"});
    json::object d = detail_of(open->transfer);
    done(MovePage{p->display_name, p->base_url + "/join", field(d, "join_code"), r->site});
  });
}

void Hub::visitor_stays(const std::string& conversation_id, const std::string& token, Callback<std::string> done) {
  authenticate_visitor(conversation_id, token, [this, conversation_id, done](core::Result<core::Conversation> r) {
    if (!r) return done(r.error());
    OpenTransfer* open = open_transfer_of(conversation_id);
    if (open && open->transfer.kind == TransferKind::peer) {
      core::Transfer t = open->transfer;
      const PeerSettings* p = settings_.federation.find(t.to_peer);
      end_transfer(t.id, TransferState::cancelled,
                   "The visitor could not reach " + (p ? p->display_name : t.to_peer) + " and stayed.");
      peer_call(t.to_peer, "/federation/v1/transfers/" + t.id + "/cancel", json::object{{"transfer_id", t.id}},
                [id = t.id](core::Result<federation::PeerReply> reply) {
                  if (!reply) spdlog::warn("transfer {}: could not tell the partner: {}", id, reply.error().message);
                });
    }
    done(r->site);
  });
}

void Hub::visitor_back_with_sender(core::Conversation& c, const std::string& message) {
  core::Millis now = clock_.now();
  if (c.state == core::ConversationState::transferring) (void)core::transition(c, core::ConversationState::active, now);
  if (!message.empty()) system_event(c, core::EventKind::system, {}, message);
  const auto* a = desk_.agent(c.agent);
  if (!a || a->status == core::AgentStatus::offline) {
    // The sender left meanwhile: the visitor waits for the next agent of the queue.
    if (desk_.requeue(c.id, "", now)) {
      notify_agents(c);
      route();
      after_queue_change(c.queue);
    }
  }
}

// ---- inbound: dispatch ------------------------------------------------------------

void Hub::on_federation(const std::string& peer_name, const std::string& action, const std::string& transfer_id,
                        json::object body, std::function<void(FedReply)> done) {
  run([this, peer_name, action, transfer_id, body = std::move(body), done = std::move(done)]() mutable {
    const PeerSettings* peer = settings_.federation.find(peer_name);
    if (!peer) return done(fed_error(403, "unknown_peer", "you are not a configured partner"));
    // The key's owner must be the organization the body speaks for.
    if (field(body, "origin") != peer->base_url)
      return done(fed_error(403, "origin_mismatch", "the body names another organization than the key's owner"));
    if (!valid_id(transfer_id)) return done(fed_error(400, "bad_request", "transfer_id must be 1 to 64 of A-Z a-z 0-9 - _"));
    if (action == "offer") return fed_offer(*peer, transfer_id, body, std::move(done));
    if (action == "context") return fed_context(*peer, transfer_id, body, std::move(done));
    if (action == "cancel") return fed_cancel(*peer, transfer_id, std::move(done));
    if (action == "arrived" || action == "expired" || action == "recall")
      return fed_outcome(*peer, action, transfer_id, body, std::move(done));
    done(fed_error(404, "not_found", "no such federation endpoint"));
  });
}

// ---- destination side --------------------------------------------------------------

void Hub::fed_offer(const PeerSettings& peer, const std::string& transfer_id, const json::object& body,
                    std::function<void(FedReply)> done) {
  auto hops_v = body.if_contains("hop_count");
  std::int64_t hops = hops_v && hops_v->is_int64() ? hops_v->as_int64() : -1;
  if (hops < 0) return done(fed_error(400, "bad_request", "hop_count must be a number"));
  if (hops >= settings_.federation.hop_limit)
    return done(fed_error(409, "hop_limit", "this visitor has been transferred too many times already"));
  if (peer.queues.empty()) return done(fed_error(403, "forbidden", "you may not transfer visitors to us"));
  std::string id = inbound_id(peer.name, transfer_id);
  core::Millis now = clock_.now();
  auto it = transfers_.find(id);
  if (it == transfers_.end()) {
    core::Transfer t;
    t.id = id;
    t.kind = TransferKind::peer;
    t.state = TransferState::offering;
    t.to_peer = peer.name;
    const json::value* agent = body.if_contains("agent");
    t.from_agent = agent && agent->is_object() ? core::utf8_prefix(field(agent->as_object(), "display_name"), 100) : "";
    t.created_at = t.updated_at = now;
    t.deadline = now + settings_.federation.auth_code_ttl_ms;
    std::string code = derive_code("auth", id);
    json::object d{{"direction", "in"},
                   {"origin_transfer", transfer_id},
                   {"origin_organization", peer.display_name},
                   {"auth_hash", http::hash_token(code)},
                   {"hop_count", hops}};
    set_detail(t, d);
    open_transfer(t);
  } else if (it->second.transfer.state != TransferState::offering) {
    return done(fed_error(409, "conflict", "this transfer has moved on already"));
  }
  const core::Transfer& t = transfers_.at(id).transfer;
  json::array queues;
  for (const auto& q : peer.queues) {
    if (!desk_.has_queue(q)) continue;
    std::int64_t online = 0;
    for (const auto& [name, a] : desk_.agents()) {
      if (a.status == core::AgentStatus::online &&
          std::find(a.profile.queues.begin(), a.profile.queues.end(), q) != a.profile.queues.end())
        ++online;
    }
    queues.push_back({{"name", q}, {"display_name", q}, {"waiting", desk_.waiting_count(q)},
                      {"longest_wait_ms", desk_.longest_wait(q, now)}, {"agents_online", online}});
  }
  FedReply r;
  r.body = {{"transfer_id", transfer_id},
            {"authorization_code", derive_code("auth", id)},
            {"expires_at", t.deadline},
            {"queues", std::move(queues)}};
  done(std::move(r));
}

void Hub::fed_context(const PeerSettings& peer, const std::string& transfer_id, const json::object& body,
                      std::function<void(FedReply)> done) {
  std::string id = inbound_id(peer.name, transfer_id);
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return done(fed_error(404, "not_found", "no open offer with this transfer id"));
  core::Transfer& t = it->second.transfer;
  json::object d = detail_of(t);
  std::string code = field(body, "authorization_code");
  if (code.size() > 128 || !http::equal_secret(http::hash_token(code), field(d, "auth_hash")))
    return done(fed_error(403, "bad_authorization_code", "the authorization code does not match this transfer"));
  std::string join_code = derive_code("join", id);
  core::Millis now = clock_.now();
  if (t.state == TransferState::moving) {
    // A retry of a context that was stored: the same answer, once more.
    FedReply r;
    r.body = {{"transfer_id", transfer_id}, {"join_code", join_code},
              {"join_url", settings_.public_url + "/join"}, {"expires_at", t.deadline}};
    return done(std::move(r));
  }
  if (t.state != TransferState::offering) return done(fed_error(409, "conflict", "this transfer has moved on already"));
  std::string queue = field(body, "queue");
  if (std::find(peer.queues.begin(), peer.queues.end(), queue) == peer.queues.end() || !desk_.has_queue(queue))
    return done(fed_error(403, "forbidden", "you may not transfer into queue " + queue));
  auto hops_v = body.if_contains("hop_count");
  std::int64_t hops = hops_v && hops_v->is_int64() ? hops_v->as_int64() : -1;
  if (hops < 1 || hops > settings_.federation.hop_limit)
    return done(fed_error(409, "hop_limit", "this visitor has been transferred too many times already"));
  const json::value* visitor = body.if_contains("visitor");
  const json::value* transcript = body.if_contains("transcript");
  if (!visitor || !visitor->is_object() || !transcript || !transcript->is_array())
    return done(fed_error(400, "bad_request", "visitor and transcript are required"));
  if (transcript->as_array().size() > kMaxTranscriptEvents)
    return done(fed_error(413, "too_large", "the transcript is too long"));
  std::string note = field(body, "note");
  std::string ticket = field(body, "recall_ticket");
  if (note.size() > settings_.max_message_bytes || ticket.size() > 128 || !core::valid_utf8(note))
    return done(fed_error(400, "bad_request", "note or recall_ticket is not acceptable"));

  // The holding conversation (claims 34, 37): in the queue's line only once the
  // visitor arrives; until then it waits in state transferring, owned by nobody.
  const json::object& vo = visitor->as_object();
  core::Conversation c;
  c.id = "c" + random_.hex(12);
  c.site = settings_.sites.empty() ? std::string() : settings_.sites.front().name;
  c.queue = queue;
  c.state = core::ConversationState::transferring;
  c.visitor.name = core::utf8_prefix(field(vo, "name"), core::kMaxNameBytes);
  c.visitor.email = core::utf8_prefix(field(vo, "email"), core::kMaxEmailBytes);
  c.visitor.page = core::utf8_prefix(field(vo, "page"), core::kMaxPageBytes);
  c.visitor.user_agent = core::utf8_prefix(field(vo, "browser"), 300);
  c.visitor.origin = core::utf8_prefix(field(body, "embed_origin"), 200);
  c.created_at = c.waiting_since = c.updated_at = now;
  if (!core::valid_utf8(c.visitor.name) || !core::valid_utf8(c.visitor.email) || !core::valid_utf8(c.visitor.page))
    return done(fed_error(400, "bad_request", "visitor details must be UTF-8"));
  if (auto st = desk_.add(c); !st) return done(fed_error(500, "internal", st.error().message));
  core::Conversation* live = desk_.find(c.id);
  committed_[c.id] = 0;
  ++counters_.conversations_created_total;  // closed_total counts it too when it ends
  const json::value* by = body.if_contains("transferred_by");
  std::string by_name = by && by->is_object() ? core::utf8_prefix(field(by->as_object(), "display_name"), 100) : "an agent";
  for (const auto& item : transcript->as_array()) {
    if (!item.is_object()) continue;
    const auto& e = item.as_object();
    std::string text = field(e, "text");
    if (text.empty() || text.size() > settings_.max_message_bytes || !core::valid_utf8(text)) continue;
    core::Event ev;
    ev.kind = core::EventKind::message;
    bool from_visitor = field(e, "author_kind") == "visitor";
    ev.author_kind = from_visitor ? core::AuthorKind::visitor : core::AuthorKind::system;
    std::string author = core::utf8_prefix(field(e, "author_name"), 100);
    ev.author_name = from_visitor ? author : author + " (" + peer.display_name + ")";
    ev.text = text;
    append(*live, std::move(ev), nullptr);
  }
  system_event(*live, core::EventKind::system, {}, "Transferred from " + peer.display_name + " by " + by_name + ".");
  if (!note.empty()) {
    core::Event n;
    n.kind = core::EventKind::note;
    n.author_kind = core::AuthorKind::system;
    n.author_name = by_name + " (" + peer.display_name + ")";
    n.text = "Note from " + by_name + " at " + peer.display_name + ": " + note;
    append(*live, std::move(n), nullptr);
  }
  hop_counts_[c.id] = static_cast<int>(hops);
  t.conversation_id = c.id;
  t.to_queue = queue;
  t.note = note;
  (void)core::advance(t, TransferState::moving, now);
  t.deadline = now + settings_.federation.join_code_ttl_ms;
  d["join_hash"] = http::hash_token(join_code);
  d["recall_ticket"] = ticket;
  d["transferred_by"] = by_name;
  d["holding"] = c.id;  // auth_hash stays: a retried context must present the code again
  set_detail(t, d);
  save_transfer(t);
  arm_transfer_timer(id);
  FedReply r;
  r.body = {{"transfer_id", transfer_id}, {"join_code", join_code},
            {"join_url", settings_.public_url + "/join"}, {"expires_at", t.deadline}};
  done(std::move(r));
}

void Hub::fed_cancel(const PeerSettings& peer, const std::string& transfer_id, std::function<void(FedReply)> done) {
  std::string id = inbound_id(peer.name, transfer_id);
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return done(fed_error(409, "conflict", "no open transfer with this id"));
  std::string holding = it->second.transfer.conversation_id;
  end_transfer(id, TransferState::cancelled, peer.display_name + " called the transfer off.");
  if (!holding.empty()) finish(holding, core::ConversationState::abandoned, "The transfer was called off.", Actor{core::AuthorKind::system, {}, {}, {}}, nullptr);
  FedReply r;
  r.body = {{"transfer_id", transfer_id}, {"state", "cancelled"}};
  done(std::move(r));
}

void Hub::redeem_join(const std::string& code, Callback<Joined> done) {
  run([this, code, done = std::move(done)] {
    if (code.empty() || code.size() > 128) return done(Error{Errc::not_found, "this join link is not valid"});
    std::string hash = http::hash_token(code);
    for (auto& [id, open] : transfers_) {
      core::Transfer& t = open.transfer;
      if (t.kind != TransferKind::peer) continue;
      json::object d = detail_of(t);
      if (field(d, "direction") != "in" || !http::equal_secret(field(d, "join_hash"), hash)) continue;
      if (t.state != TransferState::moving) return done(Error{Errc::conflict, "this join link was already used"});
      core::Conversation* c = desk_.find(t.conversation_id);
      if (!c) return done(Error{Errc::conflict, "this transfer has ended"});
      // Single use: the strand makes check-and-set atomic; the record is final now.
      core::Millis now = clock_.now();
      Joined j{c->id, random_.token(32), c->site};
      c->visitor_token_hash = http::hash_token(j.token);
      (void)desk_.requeue(c->id, "", now);
      d.erase("join_hash");
      set_detail(t, d);
      core::Transfer arrived = t;
      if (open.timer) open.timer->cancel();
      transfers_.erase(id);
      (void)core::advance(arrived, TransferState::completed, now, "The visitor arrived.");
      // Until the origin confirms, the record says so and keeps a deadline (so that it
      // is reloaded after a crash); the notice goes once the record is stored, so
      // that the origin never lets go of a visitor this server could forget.
      json::object ad = detail_of(arrived);
      ad["notify"] = "arrived";
      set_detail(arrived, ad);
      arrived.deadline = now;
      unsettled_notices_[arrived.id] = arrived;
      save_transfer(arrived, [this, arrived] { notify_origin(arrived, "arrived"); });
      count_transfer(arrived);
      notify_agents(*c);
      route();
      after_queue_change(c->queue);
      if (c->state == core::ConversationState::waiting && !desk_.queue_has_online_agent(c->queue)) {
        // Nobody here can serve the visitor (§2.4): if still so after a while, send it
        // back with the recall ticket.
        auto timer = std::make_shared<net::steady_timer>(
            strand_, std::chrono::milliseconds(settings_.federation.unserved_recall_ms));
        timer->async_wait([this, timer, conv = c->id](boost::system::error_code ec) {
          if (ec) return;
          const core::Conversation* now_c = desk_.find(conv);
          if (!now_c || now_c->state != core::ConversationState::waiting || desk_.queue_has_online_agent(now_c->queue)) return;
          peer_recall(Actor{core::AuthorKind::system, {}, {}, {}}, conv, [conv](core::Result<core::Transfer> r) {
            if (!r) spdlog::warn("conversation {}: could not send the visitor back: {}", conv, r.error().message);
          });
        });
      }
      return done(std::move(j));
    }
    done(Error{Errc::not_found, "this join link is not valid or has expired"});
  });
}

void Hub::notify_origin(const core::Transfer& inbound, const std::string& action, int attempt) {
  json::object d = detail_of(inbound);
  std::string origin_transfer = field(d, "origin_transfer");
  json::object body{{"transfer_id", origin_transfer}, {"destination", settings_.public_url}};
  peer_call(inbound.to_peer, "/federation/v1/transfers/" + origin_transfer + "/" + action, std::move(body),
            [this, inbound, action, attempt](core::Result<federation::PeerReply> r) {
              if (r && r->status < 500 && action == "arrived") notice_settled(inbound.id);
              if (r && r->status == 409 && action == "arrived") {
                // The origin kept the visitor (it stayed, or the code had run out there):
                // ours is not a second owner. The visitor's page is sent back.
                const PeerSettings* p = settings_.federation.find(inbound.to_peer);
                if (p) bounced_[inbound.conversation_id] = p->base_url + "/chat";
                finish(inbound.conversation_id, core::ConversationState::abandoned,
                       (p ? p->display_name : inbound.to_peer) + " kept this conversation.",
                       Actor{core::AuthorKind::system, {}, {}, {}}, nullptr);
                if (p) send_bounce(inbound.conversation_id);
                return;
              }
              if (r && r->status == 200 && action == "arrived") {
                // Messages the visitor sent at the origin while being moved.
                boost::system::error_code ec;
                auto v = json::parse(r->body, ec);
                core::Conversation* c = desk_.find(inbound.conversation_id);
                const json::value* late = !ec && v.is_object() ? v.as_object().if_contains("late_messages") : nullptr;
                if (c && late && late->is_array()) {
                  std::size_t n = 0;
                  for (const auto& m : late->as_array()) {
                    if (!m.is_object() || ++n > kMaxTranscriptEvents) break;
                    std::string text = field(m.as_object(), "text");
                    if (text.empty() || text.size() > settings_.max_message_bytes || !core::valid_utf8(text)) continue;
                    core::Event e;
                    e.kind = core::EventKind::message;
                    e.author_kind = core::AuthorKind::visitor;
                    e.author_name = c->visitor.name;
                    e.text = std::move(text);
                    // A notice repeated after a restart brings them again: stored once.
                    if (auto* seq = m.as_object().if_contains("seq"); seq && seq->is_int64())
                      e.client_id = "~late:" + std::to_string(seq->as_int64());
                    append(*c, std::move(e), nullptr);
                  }
                }
                return;
              }
              if (r && r->status < 500) return;
              // An arrival is told until the origin answers it (or it is settled
              // otherwise): giving up would leave the origin free to take back a
              // visitor who is here, two owners. Other notices give up in the end.
              if (action == "arrived" && !unsettled_notices_.contains(inbound.id)) return;
              if (action != "arrived" && attempt + 1 >= kNotifyAttempts) {
                spdlog::error("transfer {}: gave up telling {} '{}'", inbound.id, inbound.to_peer, action);
                return;
              }
              if (attempt + 1 == kNotifyAttempts)
                spdlog::warn("transfer {}: {} has not answered '{}' {} times; still trying", inbound.id,
                             inbound.to_peer, action, kNotifyAttempts);
              ++counters_.peer_notice_retries_total;
              // Keep trying: the origin keeps the visitor until it hears from us.
              core::Millis wait = std::min<core::Millis>(settings_.federation.notice_retry_max_ms,
                                                         core::Millis{1000} << std::min(attempt, 5));
              auto timer = std::make_shared<net::steady_timer>(strand_, std::chrono::milliseconds(wait));
              timer->async_wait([this, timer, inbound, action, attempt](boost::system::error_code ec) {
                if (!ec) notify_origin(inbound, action, attempt + 1);
              });
            });
}

void Hub::peer_recall(const Actor& by, const std::string& conversation_id, Callback<core::Transfer> done) {
  run([this, by, conversation_id, done = std::move(done)]() mutable {
    core::Conversation* c = desk_.find(conversation_id);
    if (!c) return done(Error{Errc::not_found, "no open conversation with this id"});
    if (by.kind == core::AuthorKind::agent && c->agent != by.agent && !can_read(by, *c))
      return done(Error{Errc::forbidden, "not your conversation"});
    net::post(blocking_, [this, conversation_id, done = std::move(done)]() mutable {
      auto history = store_.transfers(conversation_id);
      run([this, conversation_id, history = std::move(history), done = std::move(done)]() mutable {
        if (!history) return done(history.error());
        const core::Transfer* inbound = nullptr;
        for (const auto& t : *history)
          if (t.kind == TransferKind::peer && t.state == TransferState::completed && field(detail_of(t), "direction") == "in")
            inbound = &t;
        if (!inbound) return done(Error{Errc::conflict, "this visitor did not come from a partner organization"});
        core::Transfer t = *inbound;
        json::object d = detail_of(t);
        json::object body{{"transfer_id", field(d, "origin_transfer")},
                          {"destination", settings_.public_url},
                          {"recall_ticket", field(d, "recall_ticket")}};
        peer_call(t.to_peer, "/federation/v1/transfers/" + field(d, "origin_transfer") + "/recall", std::move(body),
                  [this, t, conversation_id, done](core::Result<federation::PeerReply> r) mutable {
                    const PeerSettings* p = settings_.federation.find(t.to_peer);
                    if (!r) return done(r.error());
                    if (r->status != 200 || !p) return done(Error{Errc::conflict, "the partner refused to take the visitor back"});
                    boost::system::error_code ec;
                    auto v = json::parse(r->body, ec);
                    std::string site = !ec && v.is_object() ? field(v.as_object(), "site") : "";
                    if (!valid_id(site)) site.clear();
                    (void)core::advance(t, TransferState::recalled, clock_.now(), "Sent back to " + p->display_name + ".");
                    unsettled_notices_.erase(t.id);
                    save_transfer(t);
                    core::Conversation* c = desk_.find(conversation_id);
                    if (c) {
                      // The visitor's page goes back to the origin's chat page, from stored config.
                      json::object o{{"type", "move"}, {"conversation", conversation_id},
                                     {"destination", p->display_name},
                                     {"url", p->base_url + "/chat" + (site.empty() ? "" : "?site=" + site)}};
                      // A page that connects later is sent there too.
                      bounced_[conversation_id] = o["url"].as_string().c_str();
                      auto payload = to_payload(o);
                      if (auto it = subs_.find(conversation_id); it != subs_.end()) {
                        for (const auto& s : it->second)
                          if (!s.agent) {
                            if (auto sub = s.sub.lock()) sub->deliver(conversation_id, 0, payload);
                          }
                      }
                      // Transferred only ever through transferring (the state machine's rule);
                      // finish() takes it out of its queue's line if it was waiting.
                      if (c->state != core::ConversationState::transferring)
                        (void)core::transition(*c, core::ConversationState::transferring, clock_.now());
                      finish(conversation_id, core::ConversationState::transferred,
                             "Sent back to " + p->display_name + ".", Actor{core::AuthorKind::system, {}, {}, {}}, nullptr);
                    }
                    done(t);
                  });
      });
    });
  });
}

// ---- origin side: outcomes reported by the destination ------------------------------

void Hub::fed_outcome(const PeerSettings& peer, const std::string& action, const std::string& transfer_id,
                      const json::object& body, std::function<void(FedReply)> done) {
  auto ok = [&](std::string_view state) {
    FedReply r;
    r.body = {{"transfer_id", transfer_id}, {"state", state}};
    return r;
  };
  if (action == "recall") {
    std::string ticket = field(body, "recall_ticket");
    net::post(blocking_, [this, peer, transfer_id, ticket, done = std::move(done)]() mutable {
      auto rec = store_.transfer(transfer_id);
      std::optional<core::Conversation> conv;
      if (rec && *rec) {
        auto c = store_.conversation((*rec)->conversation_id);
        if (c && *c) conv = **c;
      }
      run([this, peer, transfer_id, ticket, rec = std::move(rec), conv = std::move(conv), done = std::move(done)]() mutable {
        if (!rec || !*rec || (*rec)->to_peer != peer.name || (*rec)->kind != TransferKind::peer)
          return done(fed_error(404, "not_found", "no transfer of ours with this id"));
        core::Transfer t = **rec;
        json::object d = detail_of(t);
        if ((t.state != TransferState::completed && t.state != TransferState::recalled) || ticket.size() > 128 ||
            !http::equal_secret(http::hash_token(ticket), field(d, "recall_hash")))
          return done(fed_error(403, "bad_recall_ticket", "the recall ticket does not match"));
        if (!conv) return done(fed_error(409, "conflict", "the conversation is gone"));
        if (t.state == TransferState::recalled) {
          // A retried recall (its answer was lost): the same answer.
          FedReply r;
          r.body = {{"transfer_id", transfer_id}, {"state", "recalled"}, {"site", conv->site}};
          return done(std::move(r));
        }
        core::Millis now = clock_.now();
        // The conversation was closed as transferred; a recall reopens it in its queue.
        core::Conversation c = *conv;
        if (!desk_.find(c.id)) {
          c.state = core::ConversationState::waiting;
          c.agent.clear();
          c.closed_at = 0;
          c.close_reason.clear();
          c.waiting_since = c.updated_at = now;
          if (!desk_.has_queue(c.queue)) c.queue = settings_.queues.front();
          if (auto st = desk_.add(c); !st) return done(fed_error(500, "internal", st.error().message));
          committed_[c.id] = c.last_seq;
        }
        core::Conversation* live = desk_.find(c.id);
        system_event(*live, core::EventKind::system, {}, peer.display_name + " sent you back to " + settings_.organization + ".");
        (void)core::advance(t, TransferState::recalled, now, peer.display_name + " sent the visitor back.");
        save_transfer(t);
        announce_transfer(t);
        notify_agents(*live);
        route();
        after_queue_change(live->queue);
        FedReply r;
        r.body = {{"transfer_id", transfer_id}, {"state", "recalled"}, {"site", live->site}};
        done(std::move(r));
      });
    });
    return;
  }
  auto it = transfers_.find(transfer_id);
  if (it == transfers_.end()) {
    // Not open any more: a retried notice gets the same answer as before; a notice
    // about a transfer that ended otherwise (the visitor stayed, or it expired
    // here) is refused, so that the visitor never has two owners.
    net::post(blocking_, [this, peer, action, transfer_id, done = std::move(done)]() mutable {
      auto rec = store_.transfer(transfer_id);
      // A repeated arrival notice (the destination restarted before it heard the
      // answer) gets the late messages again; the destination stores them once.
      core::Result<std::vector<core::Event>> late = std::vector<core::Event>{};
      if (action == "arrived" && rec && *rec && (*rec)->state == TransferState::completed)
        late = store_.events((*rec)->conversation_id, context_seq(detail_of(**rec)), kMaxTranscriptEvents, false);
      run([peer, action, transfer_id, rec = std::move(rec), late = std::move(late), done = std::move(done)]() mutable {
        if (!rec || !*rec || (*rec)->to_peer != peer.name || (*rec)->kind != TransferKind::peer)
          return done(fed_error(404, "not_found", "no transfer of ours with this id"));
        TransferState want = action == "arrived" ? TransferState::completed : TransferState::expired;
        if ((*rec)->state == want) {
          FedReply r;
          r.body = {{"transfer_id", transfer_id}, {"state", core::transfer_state_name(want)}};
          if (action == "arrived") r.body["late_messages"] = late_messages_json(late);
          return done(std::move(r));
        }
        if ((*rec)->state == TransferState::moving)
          // Ended here but not (yet) stored: its write is pending or failed. Asked again.
          return done(fed_error(503, "unavailable", "this transfer's outcome is not stored yet; try again"));
        done(fed_error(409, "conflict", "this transfer already ended: " + std::string(core::transfer_state_name((*rec)->state))));
      });
    });
    return;
  }
  core::Transfer& t = it->second.transfer;
  if (t.kind != TransferKind::peer || t.to_peer != peer.name)
    return done(fed_error(404, "not_found", "no transfer of ours with this id"));
  if (t.state != TransferState::moving) return done(fed_error(409, "conflict", "this transfer is not waiting for the visitor"));
  std::string conv = t.conversation_id;
  if (action == "arrived" && !body.contains("late_messages_read")) {
    // What the visitor wrote here after the context packet left goes along too.
    std::int64_t after = context_seq(detail_of(t));
    net::post(blocking_, [this, peer, action, transfer_id, conv, after, body = json::object(body),
                          done = std::move(done)]() mutable {
      auto late = store_.events(conv, after, kMaxTranscriptEvents, false);
      run([this, peer, action, transfer_id, late = std::move(late), body, done = std::move(done)]() mutable {
        json::array messages = late_messages_json(late);
        body["late_messages_read"] = true;
        fed_outcome(peer, action, transfer_id, body,
                    [messages = std::move(messages), done = std::move(done)](FedReply r) mutable {
                      if (r.status == 200) r.body["late_messages"] = std::move(messages);
                      done(std::move(r));
                    });
      });
    });
    return;
  }
  if (action == "arrived") {
    core::Transfer done_t = t;
    if (it->second.timer) it->second.timer->cancel();
    transfers_.erase(it);
    core::Millis now = clock_.now();
    (void)core::advance(done_t, TransferState::completed, now, "The visitor arrived at " + peer.display_name + ".");
    json::object d = detail_of(done_t);
    d.erase("join_code");
    set_detail(done_t, d);
    save_transfer(done_t);
    count_transfer(done_t);
    // Only now, with the visitor confirmed at the destination, does the origin let go;
    // and it says so once that is stored (the record first, then the closing), so that
    // a crash cannot bring back here a visitor the destination already took.
    // If it cannot be stored (a full disk), the destination is asked to try again: it
    // keeps the visitor meanwhile, and a restart here finds the record still moving.
    finish(conv, core::ConversationState::transferred, "Transferred to " + peer.display_name + ".",
           Actor{core::AuthorKind::system, {}, {}, {}},
           [done, reply = ok("completed")](core::Result<core::Ok> stored) mutable {
             if (!stored && stored.error().code == Errc::unavailable)
               return done(fed_error(503, "unavailable", "the arrival could not be stored; try again"));
             done(std::move(reply));
           });
    announce_transfer(done_t);
    return;
  }
  // expired: the join code ran out at the destination.
  bool visitor_here = false;
  if (auto subs = subs_.find(conv); subs != subs_.end()) {
    for (const auto& sub : subs->second)
      if (!sub.agent && !sub.sub.expired()) visitor_here = true;
  }
  end_transfer(transfer_id, TransferState::expired, "The visitor did not arrive at " + peer.display_name + " in time.");
  if (!visitor_here && desk_.find(conv)) {
    // Nobody on the visitor's side is connected here either: the browser was closed.
    finish(conv, core::ConversationState::abandoned, "The visitor left during the transfer.",
           Actor{core::AuthorKind::system, {}, {}, {}}, nullptr);
  }
  done(ok("expired"));
}

}  // namespace baton::api
