#include "json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "baton/core/text.hpp"

namespace baton::api {

namespace json = boost::json;

core::Result<json::object> parse_object(std::string_view text, int max_depth) {
  json::parse_options opts;
  opts.max_depth = static_cast<std::size_t>(max_depth);
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) {
    if (ec == json::error::too_deep)
      return core::Error{core::Errc::too_large, "JSON nested deeper than " + std::to_string(max_depth)};
    return core::Error{core::Errc::bad_request, "malformed JSON: " + ec.message()};
  }
  if (!v.is_object()) return core::Error{core::Errc::bad_request, "expected a JSON object"};
  return std::move(v.as_object());
}

core::Result<std::string> get_string(const json::object& o, std::string_view key, std::size_t max_bytes,
                                     bool required, std::string fallback) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) {
    if (required) return core::Error{core::Errc::bad_request, std::string(key) + " is required"};
    return fallback;
  }
  if (!it->value().is_string())
    return core::Error{core::Errc::bad_request, std::string(key) + " must be a string"};
  const auto& s = it->value().get_string();
  if (s.size() > max_bytes)
    return core::Error{core::Errc::too_large,
                       std::string(key) + " is longer than " + std::to_string(max_bytes) + " bytes"};
  return std::string(s.data(), s.size());
}

core::Result<std::int64_t> get_int(const json::object& o, std::string_view key, std::int64_t min,
                                   std::int64_t max, std::int64_t fallback) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return fallback;
  std::int64_t v;
  if (it->value().is_int64()) {
    v = it->value().get_int64();
  } else if (it->value().is_uint64() && it->value().get_uint64() <= static_cast<std::uint64_t>(max)) {
    v = static_cast<std::int64_t>(it->value().get_uint64());
  } else {
    return core::Error{core::Errc::bad_request, std::string(key) + " must be an integer"};
  }
  if (v < min || v > max)
    return core::Error{core::Errc::bad_request, std::string(key) + " must be from " +
                                                    std::to_string(min) + " to " + std::to_string(max)};
  return v;
}

core::Result<bool> get_bool(const json::object& o, std::string_view key, bool fallback) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return fallback;
  if (!it->value().is_bool()) return core::Error{core::Errc::bad_request, std::string(key) + " must be true or false"};
  return it->value().get_bool();
}

std::string error_json(core::Errc code, std::string_view message) {
  json::object inner;
  inner["code"] = core::errc_name(code);
  // Messages may quote the request (a queue or agent name from a URL), which
  // need not be UTF-8; JSON must be.
  inner["message"] = core::to_valid_utf8(message);
  json::object outer;
  outer["error"] = std::move(inner);
  return json::serialize(outer);
}

std::string error_json(const core::Error& e) { return error_json(e.code, e.message); }

json::object event_json(const core::Event& e) {
  json::object o;
  o["type"] = "event";
  o["conversation"] = e.conversation_id;
  o["seq"] = e.seq;
  o["kind"] = core::kind_name(e.kind);
  json::object author;
  author["kind"] = core::author_kind_name(e.author_kind);
  if (!e.author_id.empty()) author["id"] = e.author_id;
  if (!e.author_name.empty()) author["name"] = e.author_name;
  o["author"] = std::move(author);
  o["text"] = e.text;
  if (!e.client_id.empty()) o["client_id"] = e.client_id;
  o["at"] = e.at;
  return o;
}

json::object summary_json(const core::Conversation& c, std::size_t place) {
  json::object o;
  o["id"] = c.id;
  o["state"] = core::state_name(c.state);
  o["queue"] = c.queue;
  o["site"] = c.site;
  o["agent"] = c.agent;
  json::object v;
  v["name"] = c.visitor.name;
  v["email"] = c.visitor.email;
  v["page"] = c.visitor.page;
  v["browser"] = c.visitor.user_agent;
  o["visitor"] = std::move(v);
  o["created_at"] = c.created_at;
  o["waiting_since"] = c.waiting_since;
  o["updated_at"] = c.updated_at;
  if (c.closed_at) o["closed_at"] = c.closed_at;
  if (!c.close_reason.empty()) o["close_reason"] = c.close_reason;
  o["last_seq"] = c.last_seq;
  o["last_message"] = c.last_message;
  o["offline"] = c.offline;
  o["place"] = place;
  if (!c.consultant.empty()) {
    o["consultant"] = c.consultant;
    o["consultant_joined"] = c.consultant_joined;
  }
  return o;
}

json::object transfer_json(const core::Transfer& t) {
  json::object o;
  o["id"] = t.id;
  o["conversation"] = t.conversation_id;
  o["kind"] = core::transfer_kind_name(t.kind);
  o["state"] = core::transfer_state_name(t.state);
  o["from_agent"] = t.from_agent;
  if (!t.to_agent.empty()) o["to_agent"] = t.to_agent;
  if (!t.to_queue.empty()) o["to_queue"] = t.to_queue;
  if (!t.to_peer.empty()) o["to_peer"] = t.to_peer;
  o["note"] = t.note;
  if (!t.reason.empty()) o["reason"] = t.reason;
  o["created_at"] = t.created_at;
  o["updated_at"] = t.updated_at;
  if (t.deadline && core::is_open(t.state)) o["deadline"] = t.deadline;  // a completed record may have a timer of its own
  if (t.kind == core::TransferKind::peer) {
    // What agents may see of a federated transfer; codes stay inside.
    o["direction"] = core::direction_name(t.direction);
    if (t.direction == core::Direction::out) {
      o["destination"] = t.organization;
      bool answered = t.state == core::TransferState::moving ||
                      (t.state == core::TransferState::offering && t.step != core::PeerStep::offer_sent);
      if (answered) {
        json::array qs;
        for (const auto& q : t.queues)
          qs.push_back(json::object{{"name", q.name},
                                    {"display_name", q.display_name},
                                    {"waiting", q.waiting},
                                    {"longest_wait_ms", q.longest_wait_ms},
                                    {"agents_online", q.agents_online}});
        o["queues"] = std::move(qs);
      }
    } else {
      o["origin_organization"] = t.organization;
    }
    if (t.step != core::PeerStep::none) o["step"] = core::peer_step_name(t.step);
  }
  return o;
}

}  // namespace baton::api
