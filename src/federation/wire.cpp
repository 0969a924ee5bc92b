#include "baton/federation/wire.hpp"

#include <boost/json.hpp>

#include "baton/core/conversation.hpp"
#include "baton/core/text.hpp"

namespace baton::federation::wire {

namespace json = boost::json;
using core::Errc;
using core::Error;
using core::Result;

namespace {

Result<json::object> parse_object(std::string_view text, int max_depth) {
  json::parse_options opts;
  opts.max_depth = static_cast<std::size_t>(std::max(1, max_depth));
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) {
    if (ec == json::error::too_deep) return Error{Errc::too_large, "JSON nested deeper than " + std::to_string(max_depth)};
    return Error{Errc::bad_request, "malformed JSON: " + ec.message()};
  }
  if (!v.is_object()) return Error{Errc::bad_request, "expected a JSON object"};
  return std::move(v.as_object());
}

// Answers come from a server we chose to ask: the sender's own depth, generous.
constexpr int kAnswerDepth = 16;

std::string str(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string cut(const json::object& o, std::string_view key, std::size_t max) { return core::utf8_prefix(str(o, key), max); }

std::optional<std::int64_t> integer(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(v->as_uint64());
  return std::nullopt;
}

std::int64_t integer_or(const json::object& o, std::string_view key, std::int64_t fallback) {
  return integer(o, key).value_or(fallback);
}

const json::object* object(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

Person person(const json::object* o) {
  Person p;
  if (!o) return p;
  p.name = cut(*o, "name", kMaxPersonNameBytes);
  p.display_name = cut(*o, "display_name", kMaxPersonNameBytes);
  p.organization = cut(*o, "organization", kMaxPersonNameBytes);
  return p;
}

core::AuthorKind author_kind(std::string_view s) {
  if (s == "visitor") return core::AuthorKind::visitor;
  if (s == "agent") return core::AuthorKind::agent;
  return core::AuthorKind::system;
}

// Entries of a transcript-like array: those with a usable text; at most
// kMaxTranscriptEntries (too_large past it when `strict`, else the rest dropped).
Result<std::vector<TranscriptEntry>> entries(const json::array& a, const Limits& limits, bool strict, std::string_view what) {
  if (a.size() > kMaxTranscriptEntries) {
    if (strict) return Error{Errc::too_large, std::string(what) + " is too long"};
  }
  std::vector<TranscriptEntry> out;
  for (const auto& item : a) {
    if (out.size() >= kMaxTranscriptEntries) break;
    if (!item.is_object()) continue;
    const auto& e = item.as_object();
    TranscriptEntry t;
    t.text = str(e, "text");
    if (t.text.empty() || t.text.size() > limits.max_message_bytes) continue;
    t.author_kind = author_kind(str(e, "author_kind"));
    t.author_name = cut(e, "author_name", kMaxPersonNameBytes);
    t.at = integer_or(e, "at", 0);
    t.seq = integer_or(e, "seq", 0);
    out.push_back(std::move(t));
  }
  return out;
}

json::array entries_json(const std::vector<TranscriptEntry>& list, bool with_seq, bool with_kind) {
  json::array a;
  for (const auto& e : list) {
    json::object o;
    if (with_kind) {
      o["kind"] = "message";
      o["author_kind"] = core::author_kind_name(e.author_kind);
    }
    o["author_name"] = e.author_name;
    o["text"] = e.text;
    o["at"] = e.at;
    if (with_seq) o["seq"] = e.seq;
    a.push_back(std::move(o));
  }
  return a;
}

}  // namespace

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// ---- offer ---------------------------------------------------------------------

Result<Offer> parse_offer(std::string_view body, const Limits& limits) {
  auto o = parse_object(body, limits.max_json_depth);
  if (!o) return o.error();
  Offer m;
  m.transfer_id = str(*o, "transfer_id");
  if (!valid_id(m.transfer_id)) return Error{Errc::bad_request, "transfer_id must be 1 to 64 of A-Z a-z 0-9 - _"};
  auto hops = integer(*o, "hop_count");
  if (!hops || *hops < 0) return Error{Errc::bad_request, "hop_count must be a number"};
  m.hop_count = *hops;
  m.organization = cut(*o, "organization", kMaxPersonNameBytes);
  m.agent = person(object(*o, "agent"));
  m.language = cut(*o, "language", 16);
  m.origin = str(*o, "origin");
  return m;
}

std::string serialize(const Offer& m) {
  return json::serialize(json::object{{"transfer_id", m.transfer_id},
                                      {"organization", m.organization},
                                      {"agent", {{"name", m.agent.name}, {"display_name", m.agent.display_name}}},
                                      {"language", m.language},
                                      {"hop_count", m.hop_count},
                                      {"origin", m.origin}});
}

Result<OfferAnswer> parse_offer_answer(std::string_view body) {
  auto o = parse_object(body, kAnswerDepth);
  if (!o) return Error{Errc::bad_request, "an answer we could not read"};
  OfferAnswer m;
  m.transfer_id = str(*o, "transfer_id");
  m.authorization_code = str(*o, "authorization_code");
  m.expires_at = integer_or(*o, "expires_at", 0);
  auto* queues = o->if_contains("queues");
  if (m.authorization_code.empty() || m.authorization_code.size() > kMaxCodeBytes || !queues || !queues->is_array())
    return Error{Errc::bad_request, "an incomplete answer"};
  for (const auto& q : queues->as_array()) {
    if (m.queues.size() >= kMaxOfferedQueues) break;
    if (!q.is_object()) continue;
    const auto& qo = q.as_object();
    core::OfferedQueue out;
    out.name = cut(qo, "name", kMaxQueueNameBytes);
    if (out.name.empty()) continue;
    out.display_name = cut(qo, "display_name", kMaxQueueNameBytes);
    out.waiting = integer_or(qo, "waiting", 0);
    out.longest_wait_ms = integer_or(qo, "longest_wait_ms", 0);
    out.agents_online = integer_or(qo, "agents_online", 0);
    m.queues.push_back(std::move(out));
  }
  return m;
}

std::string serialize(const OfferAnswer& m) {
  json::array queues;
  for (const auto& q : m.queues)
    queues.push_back({{"name", q.name},
                      {"display_name", q.display_name},
                      {"waiting", q.waiting},
                      {"longest_wait_ms", q.longest_wait_ms},
                      {"agents_online", q.agents_online}});
  return json::serialize(json::object{{"transfer_id", m.transfer_id},
                                      {"authorization_code", m.authorization_code},
                                      {"expires_at", m.expires_at},
                                      {"queues", std::move(queues)}});
}

// ---- context -------------------------------------------------------------------

Result<Context> parse_context(std::string_view body, const Limits& limits) {
  auto o = parse_object(body, limits.max_json_depth);
  if (!o) return o.error();
  Context m;
  m.transfer_id = str(*o, "transfer_id");
  m.authorization_code = str(*o, "authorization_code");
  m.queue = str(*o, "queue");
  m.hop_count = integer(*o, "hop_count").value_or(-1);
  const json::object* visitor = object(*o, "visitor");
  auto* transcript = o->if_contains("transcript");
  if (!visitor || !transcript || !transcript->is_array())
    return Error{Errc::bad_request, "visitor and transcript are required"};
  auto list = entries(transcript->as_array(), limits, true, "the transcript");
  if (!list) return list.error();
  m.transcript = std::move(*list);
  m.note = str(*o, "note");
  m.recall_ticket = str(*o, "recall_ticket");
  if (m.note.size() > limits.max_message_bytes || m.recall_ticket.size() > kMaxCodeBytes)
    return Error{Errc::bad_request, "note or recall_ticket is not acceptable"};
  m.organization = cut(*o, "organization", kMaxPersonNameBytes);
  m.transferred_by = person(object(*o, "transferred_by"));
  m.embed_origin = cut(*o, "embed_origin", kMaxEmbedOriginBytes);
  m.visitor.name = cut(*visitor, "name", core::kMaxNameBytes);
  m.visitor.email = cut(*visitor, "email", core::kMaxEmailBytes);
  m.visitor.page = cut(*visitor, "page", core::kMaxPageBytes);
  m.visitor.browser = cut(*visitor, "browser", kMaxBrowserBytes);
  m.visitor.language = cut(*visitor, "language", 16);
  m.origin = str(*o, "origin");
  return m;
}

std::string serialize(const Context& m) {
  return json::serialize(json::object{
      {"transfer_id", m.transfer_id},
      {"authorization_code", m.authorization_code},
      {"queue", m.queue},
      {"note", m.note},
      {"organization", m.organization},
      {"transferred_by",
       {{"name", m.transferred_by.name},
        {"display_name", m.transferred_by.display_name},
        {"organization", m.transferred_by.organization}}},
      {"hop_count", m.hop_count},
      {"recall_ticket", m.recall_ticket},
      {"embed_origin", m.embed_origin},
      {"visitor",
       {{"name", m.visitor.name},
        {"email", m.visitor.email},
        {"page", m.visitor.page},
        {"browser", m.visitor.browser},
        {"language", m.visitor.language}}},
      {"transcript", entries_json(m.transcript, false, true)},
      {"origin", m.origin}});
}

void fit_to_packet(Context& m) {
  std::vector<TranscriptEntry> all = std::move(m.transcript);
  m.transcript.clear();
  std::size_t bytes = serialize(m).size();
  // Newest first until the budget is spent, then back in order.
  std::size_t keep = 0;
  for (auto e = all.rbegin(); e != all.rend(); ++e) {
    std::size_t size = json::serialize(entries_json({*e}, false, true).front()).size() + 1;
    if (bytes + size > kMaxPacketBytes) break;
    bytes += size;
    ++keep;
  }
  m.transcript.assign(std::make_move_iterator(all.end() - static_cast<std::ptrdiff_t>(keep)),
                      std::make_move_iterator(all.end()));
}

Result<ContextAnswer> parse_context_answer(std::string_view body) {
  auto o = parse_object(body, kAnswerDepth);
  if (!o) return Error{Errc::bad_request, "an answer we could not read"};
  ContextAnswer m;
  m.transfer_id = str(*o, "transfer_id");
  m.join_code = str(*o, "join_code");
  m.join_url = str(*o, "join_url");
  m.expires_at = integer_or(*o, "expires_at", 0);
  if (m.join_code.empty() || m.join_code.size() > kMaxCodeBytes) return Error{Errc::bad_request, "an unusable join code"};
  return m;
}

std::string serialize(const ContextAnswer& m) {
  return json::serialize(json::object{{"transfer_id", m.transfer_id},
                                      {"join_code", m.join_code},
                                      {"join_url", m.join_url},
                                      {"expires_at", m.expires_at}});
}

// ---- notices -------------------------------------------------------------------

Result<Notice> parse_notice(std::string_view body) {
  auto o = parse_object(body, kAnswerDepth);
  if (!o) return o.error();
  return Notice{str(*o, "transfer_id"), str(*o, "destination"), str(*o, "origin")};
}

std::string serialize(const Notice& m) {
  json::object o{{"transfer_id", m.transfer_id}};
  if (!m.destination.empty()) o["destination"] = m.destination;
  o["origin"] = m.origin;
  return json::serialize(o);
}

Result<StateAnswer> parse_state_answer(std::string_view body) {
  auto o = parse_object(body, kAnswerDepth);
  if (!o) return Error{Errc::bad_request, "an answer we could not read"};
  StateAnswer m{str(*o, "transfer_id"), str(*o, "state")};
  if (m.state.empty()) return Error{Errc::bad_request, "an answer without a state"};
  return m;
}

std::string serialize(const StateAnswer& m) {
  return json::serialize(json::object{{"transfer_id", m.transfer_id}, {"state", m.state}});
}

Result<ArrivedAnswer> parse_arrived_answer(std::string_view body, const Limits& limits) {
  auto o = parse_object(body, kAnswerDepth);
  if (!o) return Error{Errc::bad_request, "an answer we could not read"};
  ArrivedAnswer m;
  m.transfer_id = str(*o, "transfer_id");
  m.state = str(*o, "state");
  if (auto* late = o->if_contains("late_messages"); late && late->is_array()) {
    auto list = entries(late->as_array(), limits, false, "late_messages");
    if (list) m.late_messages = std::move(*list);
    for (auto& e : m.late_messages) e.author_kind = core::AuthorKind::visitor;
  }
  return m;
}

std::string serialize(const ArrivedAnswer& m) {
  return json::serialize(json::object{{"transfer_id", m.transfer_id},
                                      {"state", m.state},
                                      {"late_messages", entries_json(m.late_messages, true, false)}});
}

// ---- recall --------------------------------------------------------------------

Result<Recall> parse_recall(std::string_view body, const Limits& limits) {
  auto o = parse_object(body, limits.max_json_depth);
  if (!o) return o.error();
  Recall m;
  m.transfer_id = str(*o, "transfer_id");
  m.destination = str(*o, "destination");
  m.recall_ticket = str(*o, "recall_ticket");
  m.origin = str(*o, "origin");
  if (auto* said = o->if_contains("messages"); said && said->is_array()) {
    auto list = entries(said->as_array(), limits, true, "messages");
    if (!list) return list.error();
    m.messages = std::move(*list);
  }
  return m;
}

std::string serialize(const Recall& m) {
  return json::serialize(json::object{{"transfer_id", m.transfer_id},
                                      {"destination", m.destination},
                                      {"recall_ticket", m.recall_ticket},
                                      {"messages", entries_json(m.messages, true, true)},
                                      {"origin", m.origin}});
}

Result<RecallAnswer> parse_recall_answer(std::string_view body) {
  auto o = parse_object(body, kAnswerDepth);
  if (!o) return Error{Errc::bad_request, "an answer we could not read"};
  RecallAnswer m{str(*o, "transfer_id"), str(*o, "state"), str(*o, "site")};
  if (!valid_id(m.site)) m.site.clear();
  return m;
}

std::string serialize(const RecallAnswer& m) {
  return json::serialize(json::object{{"transfer_id", m.transfer_id}, {"state", m.state}, {"site", m.site}});
}

// ---- errors --------------------------------------------------------------------

std::string serialize_error(std::string_view code, std::string_view message) {
  return json::serialize(json::object{{"error", {{"code", code}, {"message", message}}}});
}

std::string error_message(std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return {};
  const json::object* e = object(v.as_object(), "error");
  return e ? str(*e, "message") : std::string();
}

}  // namespace baton::federation::wire
