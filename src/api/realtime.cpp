#include "realtime.hpp"

#include <boost/json/serialize.hpp>

#include "json.hpp"

namespace baton::api {

namespace json = boost::json;
using core::Errc;

namespace {
std::shared_ptr<const std::string> payload_of(const json::object& o) {
  return std::make_shared<const std::string>(json::serialize(o));
}
constexpr std::size_t kMaxIdBytes = 64;
constexpr std::size_t kMaxTokenBytes = 128;
}  // namespace

RealtimeClient::RealtimeClient(Hub& hub, AgentAuthenticator authenticate)
    : hub_(hub), authenticate_(std::move(authenticate)) {}

void RealtimeClient::on_open(std::shared_ptr<http::WsConnection> connection) { conn_ = std::move(connection); }

void RealtimeClient::send(std::shared_ptr<const std::string> payload) {
  if (conn_) conn_->send(std::move(payload));
}

void RealtimeClient::send_error(Errc code, std::string_view message, const std::string& type,
                                const std::string& client_id, const std::string& conversation) {
  json::object o;
  o["type"] = "error";
  o["code"] = core::errc_name(code);
  o["message"] = message;
  if (!type.empty()) o["in_reply_to"] = type;
  if (!client_id.empty()) o["client_id"] = client_id;
  if (!conversation.empty()) o["conversation"] = conversation;
  send(payload_of(o));
}

void RealtimeClient::on_text(std::string_view text) {
  Phase phase;
  std::optional<Actor> current;
  {
    std::lock_guard lock(mu_);
    phase = phase_;
    current = actor_;
  }
  if (phase == Phase::closed) return;
  auto parsed = parse_object(text, hub_.settings().max_json_depth);
  if (!parsed) return send_error(parsed.error().code, parsed.error().message, {});
  const json::object& o = *parsed;
  auto type = get_string(o, "type", 32, true);
  if (!type) return send_error(type.error().code, type.error().message, {});
  const std::string& t = *type;

  if (t == "ping") {
    json::object pong;
    pong["type"] = "pong";
    return send(payload_of(pong));
  }

  if (t == "hello") {
    if (phase != Phase::fresh) return send_error(Errc::conflict, "hello was already sent", t);
    auto role = get_string(o, "role", 16, true);
    if (!role) return send_error(role.error().code, role.error().message, t);
    auto last_seq = get_int(o, "last_seq", 0, INT64_MAX, 0);
    if (!last_seq) return send_error(last_seq.error().code, last_seq.error().message, t);
    if (*role == "agent") {
      auto token = get_string(o, "token", kMaxTokenBytes, false);
      if (!token) return send_error(token.error().code, token.error().message, t);
      set_phase(Phase::authenticating);
      authenticate_(*token, conn_, [self = shared_from_this()](core::Result<Actor> r) {
        if (!r) {
          self->set_phase(Phase::fresh);
          return self->send_error(r.error().code, r.error().message, "hello");
        }
        self->start_session(*r, {}, 0);
      });
      return;
    }
    if (*role == "visitor") {
      auto conversation = get_string(o, "conversation", kMaxIdBytes, true);
      if (!conversation) return send_error(conversation.error().code, conversation.error().message, t);
      auto token = get_string(o, "token", kMaxTokenBytes, true);
      if (!token) return send_error(token.error().code, token.error().message, t);
      set_phase(Phase::authenticating);
      std::int64_t from = *last_seq;
      hub_.authenticate_visitor(*conversation, *token,
                                [self = shared_from_this(), from](core::Result<core::Conversation> r) {
                                  if (!r) {
                                    self->set_phase(Phase::fresh);
                                    return self->send_error(r.error().code, r.error().message, "hello");
                                  }
                                  Actor a;
                                  a.kind = core::AuthorKind::visitor;
                                  a.conversation = r->id;
                                  a.display_name = r->visitor.name;
                                  self->start_session(a, r->id, from);
                                });
      return;
    }
    return send_error(Errc::bad_request, "role must be visitor or agent", t);
  }

  if (phase != Phase::ready || !current) return send_error(Errc::unauthorized, "say hello first", t);
  const Actor& actor = *current;
  bool is_agent = actor.kind == core::AuthorKind::agent;

  auto conversation = get_string(o, "conversation", kMaxIdBytes, false);
  if (!conversation) return send_error(conversation.error().code, conversation.error().message, t);
  std::string conv = conversation->empty() && !is_agent ? actor.conversation : *conversation;

  if (t == "message" || t == "note") {
    auto client_id = get_string(o, "client_id", core::kMaxClientIdBytes, false);
    if (!client_id) return send_error(client_id.error().code, client_id.error().message, t);
    auto body = get_string(o, "text", hub_.settings().max_message_bytes, true);
    if (!body) return send_error(body.error().code, body.error().message, t, *client_id, conv);
    if (conv.empty()) return send_error(Errc::bad_request, "conversation is required", t, *client_id);
    {
      std::lock_guard lock(mu_);
      if (inflight_ >= static_cast<int>(hub_.settings().max_inflight_per_socket)) {
        return send_error(Errc::rate_limited, "too many messages waiting for their ack; wait and resend", t,
                          *client_id, conv);
      }
      ++inflight_;
    }
    auto kind = t == "note" ? core::EventKind::note : core::EventKind::message;
    hub_.post(actor, conv, kind, *client_id, std::move(*body),
              [self = shared_from_this(), t, client_id = *client_id, conv](core::Result<Ack> r) {
                {
                  std::lock_guard lock(self->mu_);
                  --self->inflight_;
                }
                if (!r) return self->send_error(r.error().code, r.error().message, t, client_id, conv);
                json::object ack;
                ack["type"] = "ack";
                ack["conversation"] = conv;
                ack["client_id"] = client_id;
                ack["seq"] = r->seq;
                if (r->duplicate) ack["duplicate"] = true;
                self->send(payload_of(ack));
              });
    return;
  }

  if (t == "typing") {
    auto on = get_bool(o, "on", true);
    if (!on) return send_error(on.error().code, on.error().message, t);
    if (!conv.empty()) hub_.typing(actor, conv, *on);
    return;
  }

  auto reply_ok = [self = shared_from_this(), t, conv](core::Result<core::Ok> r) {
    if (!r) return self->send_error(r.error().code, r.error().message, t, {}, conv);
    json::object ok;
    ok["type"] = "ok";
    ok["in_reply_to"] = t;
    if (!conv.empty()) ok["conversation"] = conv;
    self->send(payload_of(ok));
  };

  if (t == "close") {
    if (conv.empty()) return send_error(Errc::bad_request, "conversation is required", t);
    return hub_.close(actor, conv, reply_ok);
  }
  if (t == "subscribe") {
    if (conv.empty()) return send_error(Errc::bad_request, "conversation is required", t);
    auto after = get_int(o, "after_seq", 0, INT64_MAX, 0);
    if (!after) return send_error(after.error().code, after.error().message, t, {}, conv);
    return subscribe(actor, conv, *after);
  }
  if (t == "unsubscribe") {
    {
      std::lock_guard lock(mu_);
      streams_.erase(conv);
    }
    hub_.unsubscribe(conv, this);
    return reply_ok(core::Ok{});
  }
  if (!is_agent) return send_error(Errc::forbidden, "unknown or agent-only event: " + t, t);
  if (t == "claim") {
    if (conv.empty()) return send_error(Errc::bad_request, "conversation is required", t);
    return hub_.claim(actor.agent, conv, reply_ok);
  }
  auto reply_transfer = [self = shared_from_this(), t, conv](core::Result<core::Transfer> r) {
    if (!r) return self->send_error(r.error().code, r.error().message, t, {}, conv);
    json::object ok;
    ok["type"] = "ok";
    ok["in_reply_to"] = t;
    ok["transfer"] = transfer_json(*r);
    self->send(payload_of(ok));
  };
  if (t == "transfer" || t == "consult") {
    if (conv.empty()) return send_error(Errc::bad_request, "conversation is required", t);
    auto note = get_string(o, "note", hub_.settings().max_message_bytes, false);
    if (!note) return send_error(note.error().code, note.error().message, t, {}, conv);
    if (t == "consult") {
      auto agent = get_string(o, "agent", 64, true);
      if (!agent) return send_error(agent.error().code, agent.error().message, t, {}, conv);
      return hub_.consult_start(actor, conv, *agent, std::move(*note), reply_transfer);
    }
    auto to_it = o.find("to");
    if (to_it == o.end() || !to_it->value().is_object())
      return send_error(Errc::bad_request, "to must be an object: {\"agent\": ...} or {\"queue\": ...}", t, {}, conv);
    const json::object& to = to_it->value().get_object();
    auto agent = get_string(to, "agent", 64, false);
    auto queue = get_string(to, "queue", 64, false);
    auto peer = get_string(to, "peer", 64, false);
    if (!agent || !queue || !peer) return send_error(Errc::bad_request, "to.agent, to.queue and to.peer must be strings", t, {}, conv);
    if (!peer->empty()) return hub_.peer_offer(actor, conv, *peer, reply_transfer);
    if (!agent->empty()) return hub_.transfer_to_agent(actor, conv, *agent, std::move(*note), reply_transfer);
    if (!queue->empty()) return hub_.transfer_to_queue(actor, conv, *queue, std::move(*note), reply_transfer);
    return send_error(Errc::bad_request, "to needs an agent or a queue", t, {}, conv);
  }
  if (t == "transfer.return") {
    if (conv.empty()) return send_error(Errc::bad_request, "conversation is required", t);
    return hub_.peer_recall(actor, conv, reply_transfer);
  }
  if (t == "transfer.confirm") {
    auto id = get_string(o, "transfer", kMaxIdBytes, true);
    if (!id) return send_error(id.error().code, id.error().message, t);
    auto queue = get_string(o, "queue", 64, true);
    if (!queue) return send_error(queue.error().code, queue.error().message, t);
    auto note = get_string(o, "note", hub_.settings().max_message_bytes, false);
    if (!note) return send_error(note.error().code, note.error().message, t);
    return hub_.peer_confirm(actor, *id, *queue, std::move(*note), reply_transfer);
  }
  if (t == "transfer.accept" || t == "transfer.decline" || t == "transfer.cancel" || t == "consult.join" ||
      t == "consult.finish") {
    auto id = get_string(o, "transfer", kMaxIdBytes, true);
    if (!id) return send_error(id.error().code, id.error().message, t);
    if (t == "transfer.accept") return hub_.answer_transfer(actor, *id, true, {}, reply_transfer);
    if (t == "transfer.decline") {
      auto reason = get_string(o, "reason", 500, false);
      if (!reason) return send_error(reason.error().code, reason.error().message, t);
      return hub_.answer_transfer(actor, *id, false, std::move(*reason), reply_transfer);
    }
    if (t == "transfer.cancel") return hub_.cancel_transfer(actor, *id, reply_transfer);
    if (t == "consult.join") return hub_.consult_join(actor, *id, reply_transfer);
    auto hand_over = get_bool(o, "hand_over", true);
    if (!hand_over) return send_error(hand_over.error().code, hand_over.error().message, t);
    return hub_.consult_finish(actor, *id, *hand_over, reply_transfer);
  }
  if (t == "status") {
    auto status = get_string(o, "status", 16, true);
    if (!status) return send_error(status.error().code, status.error().message, t);
    auto parsed_status = core::parse_status(*status);
    if (!parsed_status) return send_error(Errc::bad_request, "status must be online, away or offline", t);
    return hub_.set_status(actor.agent, *parsed_status, reply_ok);
  }
  send_error(Errc::bad_request, "unknown event type: " + t, t);
}

void RealtimeClient::start_session(Actor actor, const std::string& conversation, std::int64_t last_seq) {
  // May run on the hub's strand (after authentication); only touches guarded state
  // and then the connection, which is thread-safe.
  std::lock_guard lock(mu_);
  if (closed_) return;
  actor_ = actor;
  phase_ = Phase::ready;
  json::object w;
  w["type"] = "welcome";
  w["role"] = core::author_kind_name(actor.kind);
  w["organization"] = hub_.settings().organization;
  if (actor.kind == core::AuthorKind::agent) {
    w["agent"] = actor.agent;
    w["display_name"] = actor.display_name;
  } else {
    w["conversation"] = conversation;
  }
  send(payload_of(w));
  if (actor.kind == core::AuthorKind::agent) {
    hub_.attach_agent(actor.agent, shared_from_this());
  } else {
    auto& s = streams_[conversation];
    s.backfilling = true;
    s.sent = last_seq;
    hub_.subscribe(actor, conversation, last_seq, shared_from_this(),
                   [self = shared_from_this(), conversation](core::Result<core::Ok> r) {
                     if (r) return;
                     {
                       std::lock_guard lock(self->mu_);
                       self->streams_.erase(conversation);
                     }
                     self->send_error(r.error().code, r.error().message, "hello", {}, conversation);
                   });
  }
}

void RealtimeClient::set_phase(Phase phase) {
  std::lock_guard lock(mu_);
  if (phase_ != Phase::closed) phase_ = phase;
}

void RealtimeClient::subscribe(const Actor& actor, const std::string& conversation, std::int64_t after_seq) {
  {
    std::lock_guard lock(mu_);
    auto& s = streams_[conversation];
    s.backfilling = true;
    s.held.clear();
    s.sent = after_seq;
  }
  hub_.subscribe(actor, conversation, after_seq, shared_from_this(),
                 [self = shared_from_this(), conversation](core::Result<core::Ok> r) {
                   if (!r) {
                     {
                       std::lock_guard lock(self->mu_);
                       self->streams_.erase(conversation);
                     }
                     self->send_error(r.error().code, r.error().message, "subscribe", {}, conversation);
                   }
                 });
}

void RealtimeClient::send_in_order(Stream& s, std::int64_t seq, const std::shared_ptr<const std::string>& payload) {
  if (seq <= s.sent) return;
  s.sent = seq;
  send(payload);
}

void RealtimeClient::deliver(const std::string& conversation_id, std::int64_t seq,
                             std::shared_ptr<const std::string> payload) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  if (seq == 0) return send(std::move(payload));
  auto it = streams_.find(conversation_id);
  if (it == streams_.end()) return;  // unsubscribed meanwhile
  Stream& s = it->second;
  if (s.backfilling) {
    s.held.emplace_back(seq, std::move(payload));
    return;
  }
  send_in_order(s, seq, payload);
}

void RealtimeClient::backfill(const std::string& conversation_id, Batch events, bool last) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  auto it = streams_.find(conversation_id);
  if (it == streams_.end()) return;
  Stream& s = it->second;
  for (const auto& [seq, payload] : events) send_in_order(s, seq, payload);
  if (!last) return;
  std::sort(s.held.begin(), s.held.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [seq, payload] : s.held) send_in_order(s, seq, payload);
  s.held.clear();
  s.held.shrink_to_fit();
  s.backfilling = false;
  json::object synced;
  synced["type"] = "synced";
  synced["conversation"] = conversation_id;
  synced["seq"] = s.sent;
  send(payload_of(synced));
}

void RealtimeClient::on_close() {
  std::map<std::string, Stream> streams;
  std::optional<Actor> actor;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    phase_ = Phase::closed;
    streams.swap(streams_);
    actor = actor_;
  }
  for (const auto& [id, s] : streams) hub_.unsubscribe(id, this);
  if (actor && actor->kind == core::AuthorKind::agent) hub_.detach_agent(actor->agent, this);
}

}  // namespace baton::api
