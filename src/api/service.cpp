#include "baton/api/service.hpp"

#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <ctime>
#include <fstream>
#include <sstream>

#include "baton/web/assets.hpp"
#include "json.hpp"
#include "realtime.hpp"
#include "baton/federation/peer_client.hpp"
#include "baton/core/text.hpp"

namespace baton::api {

namespace json = boost::json;
using core::Errc;
using core::Error;
using http::Request;
using http::Response;

int http_status(Errc code) {
  switch (code) {
    case Errc::bad_request: return 400;
    case Errc::too_large: return 413;
    case Errc::unauthorized: return 401;
    case Errc::forbidden: return 403;
    case Errc::not_found: return 404;
    case Errc::conflict: return 409;
    case Errc::rate_limited: return 429;
    case Errc::unavailable: return 503;
    case Errc::internal: return 500;
  }
  return 500;
}

Response error_response(const Error& e) {
  Response r = Response::json(http_status(e.code), error_json(e));
  r.set("Cache-Control", "no-store");
  if (e.code == Errc::rate_limited) r.set("Retry-After", "60");
  return r;
}

namespace {

constexpr std::string_view kSessionCookie = "baton_session";

Response json_response(int status, const json::value& v) {
  Response r = Response::json(status, json::serialize(v));
  r.set("Cache-Control", "no-store");
  return r;
}

Response error_response(Errc code, std::string message) { return api::error_response(Error{code, std::move(message)}); }

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return parts;
}

std::string bearer(const Request& req) {
  std::string_view auth = req.header("authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  if (auth.size() > kPrefix.size() && auth.substr(0, kPrefix.size()) == kPrefix)
    return std::string(auth.substr(kPrefix.size()));
  return {};
}

// scheme://authority of an absolute URL; "" if it is not one.
std::string origin_of(std::string_view url) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u || !u->has_authority()) return {};
  return std::string(u->scheme()) + "://" + std::string(u->encoded_authority());
}

bool is_json(const Request& req) {
  std::string_view ct = req.header("content-type");
  return ct.substr(0, 16) == "application/json";
}

std::string format_time(core::Millis ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

json::object agent_json(const AgentAccount& a) {
  json::object o;
  o["name"] = a.profile.name;
  o["display_name"] = a.profile.display_name;
  json::array qs;
  for (const auto& q : a.profile.queues) qs.push_back(json::string(q));
  o["queues"] = std::move(qs);
  o["capacity"] = a.profile.capacity;
  return o;
}

}  // namespace

ApiService::ApiService(Hub& hub, Sessions& sessions, http::HttpMetrics& metrics, const core::Clock& clock)
    : hub_(hub), sessions_(sessions), metrics_(metrics), clock_(&clock) {}

std::string ApiService::own_origin() const { return origin_of(hub_.settings().public_url); }

bool ApiService::same_origin_write(const Request& req) const {
  std::string_view origin = req.header("origin");
  if (!origin.empty()) return origin == own_origin();
  // Browsers send Origin with every cross-site POST, PUT and DELETE; a request
  // without it comes from a script or a same-origin navigation.
  std::string_view site = req.header("sec-fetch-site");
  return site.empty() || site == "same-origin" || site == "none";
}

bool ApiService::origin_allowed_for_site(std::string_view origin, const Site* site) const {
  if (origin.empty() || origin == own_origin()) return true;
  if (!site) return false;
  for (const auto& o : site->origins)
    if (o == origin) return true;
  return false;
}

std::string ApiService::chat_frame_ancestors() const {
  std::string out = "'self'";
  for (const auto& s : hub_.settings().sites)
    for (const auto& o : s.origins) out += " " + o;
  // A visitor sent here by a partner may still be inside that partner's widget.
  for (const auto& p : hub_.settings().federation.peers)
    for (const auto& o : p.embed_origins) out += " " + o;
  return out;
}

void ApiService::handle(Request req, Respond respond) {
  try {
    route(req, respond);
  } catch (const std::exception& e) {
    respond(error_response(Errc::internal, "internal error"));
  }
}

void ApiService::route(Request& req, Respond& respond) {
  // HEAD is answered as GET; the server sends the headers only.
  const std::string m = req.method == "HEAD" ? std::string("GET") : req.method;
  auto parts = split_path(req.path);
  std::string_view p0 = parts.size() > 0 ? parts[0] : std::string_view{};

  if (parts.empty()) {
    if (m != "GET") return respond(error_response(Errc::bad_request, "method not allowed"));
    Response r = Response::text(303, "See /console\n");
    r.set("Location", "/console");
    return respond(std::move(r));
  }
  if (parts.size() == 1 && m == "GET") {
    if (p0 == "healthz") return respond(Response::text(200, "ok\n"));
    if (p0 == "metrics") return metrics(std::move(respond));
    if (p0 == "chat") return page("chat.html", respond);
    if (p0 == "console") return page("console.html", respond);
    if (p0 == "demo" && hub_.settings().demo) return page("demo.html", respond);
    if (p0 == "widget.js") return asset("widget.js", respond);
    if (p0 == "favicon.ico") return respond(Response::text(204, ""));
  }
  if (p0 == "assets" && parts.size() == 2 && m == "GET") return asset(parts[1], respond);
  if (p0 == ".well-known" && parts.size() == 2 && parts[1] == "baton" && m == "GET") return well_known(respond);
  if (p0 == "join" && parts.size() == 1) {
    if (m == "GET") return join_page(respond);
    if (m == "POST") return join(req, std::move(respond));
  }
  if (p0 == "transfer" && m == "POST") {
    if (parts.size() == 1) return transfer_page(req, std::move(respond));
    if (parts.size() == 2 && parts[1] == "stay") return transfer_stay(req, std::move(respond));
  }
  if (p0 == "federation" && parts.size() >= 3 && parts[1] == "v1" && m == "POST") {
    if (parts.size() == 3 && parts[2] == "offers") return federation_request(req, "offer", {}, std::move(respond));
    if (parts.size() == 5 && parts[2] == "transfers")
      return federation_request(req, std::string(parts[4]), std::string(parts[3]), std::move(respond));
  }

  if (p0 == "api" && parts.size() >= 2) {
    std::string_view p1 = parts[1];
    if (p1 == "agent" && parts.size() == 3 && parts[2] == "session") {
      if (m == "POST") return sign_in(req, std::move(respond));
      if (m == "DELETE") return sign_out(req, std::move(respond));
    }
    if (p1 == "agent" && parts.size() == 3 && parts[2] == "me" && m == "GET") return me(req, std::move(respond));
    if (p1 == "visitor" && parts.size() == 3) {
      if (parts[2] == "availability" && m == "GET") return availability(req, std::move(respond));
      if (parts[2] == "handoff" && m == "POST") return handoff(req, std::move(respond));
      if (parts[2] == "conversations" && m == "POST") return create(req, std::move(respond));
    }
    if (p1 == "conversations" && m == "GET") {
      if (parts.size() == 2) return list(req, std::move(respond));
      std::string id(parts[2]);
      if (id.size() > 64) return respond(error_response(Errc::not_found, "no such conversation"));
      if (parts.size() == 3) return conversation(req, id, std::move(respond));
      if (parts.size() == 4 && parts[3] == "events") return events(req, id, std::move(respond));
      if (parts.size() == 4 && parts[3] == "transcript") return transcript(req, id, std::move(respond));
      if (parts.size() == 4 && parts[3] == "transfers") return transfers(req, id, std::move(respond));
    }
  }
  respond(error_response(Errc::not_found, "no such page or endpoint"));
}

std::optional<Response> ApiService::load_asset(std::string_view file) const {
  if (file.empty() || file.find('/') != std::string_view::npos || file.find("..") != std::string_view::npos ||
      file.front() == '.')
    return std::nullopt;
  const web::Asset* a = web::find_embedded_asset(file);
  if (!a) return std::nullopt;
  Response r = Response::text(200, std::string(a->body), std::string(a->content_type));
  const std::string& dir = hub_.settings().assets_dir;
  if (!dir.empty()) {
    // Development: the same files, read from disk on every request.
    std::ifstream in(dir + "/" + std::string(file), std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      r.body = ss.str();
    }
  }
  r.set("Cache-Control", "no-cache");
  return r;
}

void ApiService::page(std::string_view file, Respond& respond) {
  auto r = load_asset(file);
  if (!r) return respond(error_response(Errc::not_found, "no such page"));
  std::string ancestors = file == "chat.html" ? chat_frame_ancestors() : "'none'";
  // The demo site plays a customer's website: its widget's frame may move on to a
  // partner organization, so the partners may be framed there too.
  std::string frames = "'self'";
  if (file == "demo.html")
    for (const auto& p : hub_.settings().federation.peers) frames += " " + p.base_url;
  r->set("Content-Security-Policy",
         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
         "connect-src 'self'; media-src 'self' data:; object-src 'none'; base-uri 'none'; "
         "form-action 'self'; frame-src " + frames + "; frame-ancestors " + ancestors);
  r->set("Referrer-Policy", "strict-origin-when-cross-origin");
  r->set("Cross-Origin-Opener-Policy", "same-origin");
  respond(std::move(*r));
}

void ApiService::asset(std::string_view file, Respond& respond) {
  auto r = load_asset(file);
  if (!r) return respond(error_response(Errc::not_found, "no such file"));
  if (file == "widget.js") r->set("Cross-Origin-Resource-Policy", "cross-origin");
  respond(std::move(*r));
}

void ApiService::metrics(Respond respond) {
  hub_.counters([this, respond = std::move(respond)](HubCounters c) {
    std::string out;
    out.reserve(4096);
    metrics_.render(out);
    out += "# HELP baton_conversations Live conversations by state.\n# TYPE baton_conversations gauge\n";
    for (const auto& [state, n] : c.conversations_by_state)
      out += "baton_conversations{state=\"" + state + "\"} " + std::to_string(n) + "\n";
    out += "# HELP baton_queue_waiting Conversations waiting in each queue.\n# TYPE baton_queue_waiting gauge\n";
    for (const auto& [q, n] : c.queue_waiting)
      out += "baton_queue_waiting{queue=\"" + q + "\"} " + std::to_string(n) + "\n";
    out += "# TYPE baton_agents gauge\n";
    for (const auto& [s, n] : c.agents_by_status)
      out += "baton_agents{status=\"" + s + "\"} " + std::to_string(n) + "\n";
    out += "# HELP baton_messages_total Messages stored.\n# TYPE baton_messages_total counter\n";
    out += "baton_messages_total " + std::to_string(c.messages_total) + "\n";
    out += "# TYPE baton_notes_total counter\nbaton_notes_total " + std::to_string(c.notes_total) + "\n";
    out += "# TYPE baton_conversations_created_total counter\nbaton_conversations_created_total " +
           std::to_string(c.conversations_created_total) + "\n";
    out += "# TYPE baton_conversations_closed_total counter\nbaton_conversations_closed_total " +
           std::to_string(c.conversations_closed_total) + "\n";
    out += "# HELP baton_store_errors_total Writes the store could not commit.\n# TYPE baton_store_errors_total counter\n";
    out += "baton_store_errors_total " + std::to_string(c.store_errors_total) + "\n";
    out += "# HELP baton_peer_notice_retries_total Notices to a partner (arrived, expired) tried again.\n"
           "# TYPE baton_peer_notice_retries_total counter\nbaton_peer_notice_retries_total " +
           std::to_string(c.peer_notice_retries_total) + "\n";
    out += "# TYPE baton_subscriptions gauge\nbaton_subscriptions " + std::to_string(c.subscribers) + "\n";
    out += "# HELP baton_transfers_open Transfers under way.\n# TYPE baton_transfers_open gauge\n";
    out += "baton_transfers_open " + std::to_string(c.transfers_open) + "\n";
    out += "# HELP baton_transfers_total Transfers that ended, by kind and final state.\n# TYPE baton_transfers_total counter\n";
    for (const auto& [key, n] : c.transfers_total) {
      auto slash = key.find('/');
      out += "baton_transfers_total{kind=\"" + key.substr(0, slash) + "\",state=\"" + key.substr(slash + 1) + "\"} " +
             std::to_string(n) + "\n";
    }
    out += "# HELP baton_transfer_duration_seconds From the start of a transfer to its successful end.\n";
    out += "# TYPE baton_transfer_duration_seconds histogram\n";
    for (const auto& [kind, l] : c.transfer_latency) {
      std::int64_t cumulative = 0;
      for (int i = 0; i <= HubCounters::kLatencyBuckets; ++i) {
        cumulative += l.bucket[i];
        std::string le = i < HubCounters::kLatencyBuckets ? std::to_string(HubCounters::kLatencyBoundsMs[i] / 1000.0) : "+Inf";
        out += "baton_transfer_duration_seconds_bucket{kind=\"" + kind + "\",le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
      }
      out += "baton_transfer_duration_seconds_sum{kind=\"" + kind + "\"} " + std::to_string(l.sum_ms / 1000.0) + "\n";
      out += "baton_transfer_duration_seconds_count{kind=\"" + kind + "\"} " + std::to_string(l.count) + "\n";
    }
    respond(Response::text(200, std::move(out), "text/plain; version=0.0.4; charset=utf-8"));
  });
}

void ApiService::with_agent(const Request& req, Respond respond, std::function<void(Actor)> next) {
  std::string token = bearer(req);
  bool by_cookie = false;
  if (token.empty()) {
    token = req.cookie(kSessionCookie);
    by_cookie = true;
  }
  if (token.empty()) return respond(error_response(Errc::unauthorized, "sign in first"));
  if (by_cookie && req.method != "GET" && req.method != "HEAD" && !same_origin_write(req))
    return respond(error_response(Errc::forbidden, "cross-site request refused"));
  sessions_.resolve(token, [respond, next = std::move(next)](core::Result<Actor> r) {
    if (!r) return respond(error_response(r.error()));
    next(std::move(*r));
  });
}

void ApiService::with_reader(const Request& req, const std::string& conversation, Respond respond,
                             std::function<void(Actor)> next) {
  std::string token = bearer(req);
  if (token.empty() && req.cookie(kSessionCookie).empty())
    return respond(error_response(Errc::unauthorized, "sign in first, or give the visitor token"));
  if (!token.empty()) {
    // A visitor's token opens its own conversation; anything else must be an agent session.
    hub_.authenticate_visitor(conversation, token,
                              [this, req, respond, next, token, conversation](core::Result<core::Conversation> r) {
                                if (r) {
                                  Actor a;
                                  a.kind = core::AuthorKind::visitor;
                                  a.conversation = conversation;
                                  a.display_name = r->visitor.name;
                                  return next(a);
                                }
                                with_agent(req, respond, next);
                              });
    return;
  }
  with_agent(req, std::move(respond), std::move(next));
}

void ApiService::sign_in(const Request& req, Respond respond) {
  if (!same_origin_write(req)) return respond(error_response(Errc::forbidden, "cross-site request refused"));
  if (!is_json(req)) return respond(error_response(Errc::bad_request, "send JSON (Content-Type: application/json)"));
  auto body = parse_object(req.body, hub_.settings().max_json_depth);
  if (!body) return respond(error_response(body.error()));
  auto username = get_string(*body, "username", 64, true);
  if (!username) return respond(error_response(username.error()));
  auto password = get_string(*body, "password", 1024, true);
  if (!password) return respond(error_response(password.error()));
  bool secure = req.tls || hub_.settings().public_url.rfind("https://", 0) == 0;
  sessions_.sign_in(*username, *password, req.remote_ip,
                    [this, respond, secure](core::Result<SignedIn> r) {
                      if (!r) return respond(error_response(r.error()));
                      json::object o;
                      o["token"] = r->token;
                      o["expires_at"] = r->expires_at;
                      for (const auto& a : hub_.settings().agents)
                        if (a.profile.name == r->actor.agent) o["agent"] = agent_json(a);
                      o["organization"] = hub_.settings().organization;
                      Response res = json_response(200, o);
                      std::string cookie = std::string(kSessionCookie) + "=" + r->token +
                                           "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                                           std::to_string(hub_.settings().session_ttl_ms / 1000);
                      if (secure) cookie += "; Secure";
                      res.set("Set-Cookie", cookie);
                      respond(std::move(res));
                    });
}

void ApiService::sign_out(const Request& req, Respond respond) {
  std::string token = bearer(req);
  if (token.empty()) token = req.cookie(kSessionCookie);
  with_agent(req, respond, [this, token, respond](Actor a) {
    hub_.agent_signed_out(a.agent);
    sessions_.sign_out(token, [respond](core::Status st) {
      if (!st) return respond(error_response(st.error()));
      Response res = json_response(200, json::object{{"signed_out", true}});
      res.set("Set-Cookie", std::string(kSessionCookie) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
      respond(std::move(res));
    });
  });
}

void ApiService::me(const Request& req, Respond respond) {
  with_agent(req, respond, [this, respond](Actor a) {
    json::object o;
    for (const auto& acc : hub_.settings().agents)
      if (acc.profile.name == a.agent) o["agent"] = agent_json(acc);
    o["organization"] = hub_.settings().organization;
    json::array qs;
    for (const auto& q : hub_.settings().queues) qs.push_back(json::string(q));
    o["queues"] = std::move(qs);
    json::array agents;
    for (const auto& acc : hub_.settings().agents) {
      if (acc.profile.name == a.agent) continue;
      json::object ag;
      ag["name"] = acc.profile.name;
      ag["display_name"] = acc.profile.display_name;
      agents.push_back(std::move(ag));
    }
    o["agents"] = std::move(agents);
    json::array partners;
    for (const auto& p : hub_.settings().federation.peers) {
      if (!hub_.settings().federation.enabled) break;
      partners.push_back(json::object{{"name", p.name}, {"display_name", p.display_name}});
    }
    o["partners"] = std::move(partners);
    respond(json_response(200, o));
  });
}

void ApiService::list(const Request& req, Respond respond) {
  core::ListQuery q;
  std::string state = req.query_param("state");
  if (!state.empty()) {
    q.state = core::parse_state(state);
    if (!q.state) return respond(error_response(Errc::bad_request, "unknown state: " + state));
  }
  q.queue = req.query_param("queue");
  if (q.queue.size() > 64) return respond(error_response(Errc::bad_request, "queue name too long"));
  bool mine = req.query_param("mine") == "1";
  std::string limit = req.query_param("limit");
  if (!limit.empty()) {
    try {
      long n = std::stol(limit);
      if (n < 1 || n > 200) throw std::out_of_range("limit");
      q.limit = static_cast<std::size_t>(n);
    } catch (const std::exception&) {
      return respond(error_response(Errc::bad_request, "limit must be from 1 to 200"));
    }
  }
  std::string before = req.query_param("before");
  if (!before.empty()) {
    auto colon = before.find(':');
    try {
      if (colon == std::string::npos || before.size() > 100) throw std::invalid_argument("cursor");
      q.before_updated_at = std::stoll(before.substr(0, colon));
      q.before_id = before.substr(colon + 1);
    } catch (const std::exception&) {
      return respond(error_response(Errc::bad_request, "before must be a cursor from a previous page"));
    }
  }
  with_agent(req, respond, [this, q, mine, respond](Actor a) mutable {
    if (mine) q.agent = a.agent;
    std::size_t limit = q.limit;
    hub_.list(a, q, [respond, limit](core::Result<std::vector<core::Conversation>> r) {
      if (!r) return respond(error_response(r.error()));
      json::array arr;
      for (const auto& c : *r) arr.push_back(summary_json(c, 0));
      json::object o;
      o["conversations"] = std::move(arr);
      if (r->size() == limit && !r->empty())
        o["next"] = std::to_string(r->back().updated_at) + ":" + r->back().id;
      else
        o["next"] = nullptr;
      respond(json_response(200, o));
    });
  });
}

void ApiService::conversation(const Request& req, const std::string& id, Respond respond) {
  with_reader(req, id, respond, [this, id, respond](Actor a) {
    hub_.readable(a, id, [respond, a](core::Result<core::Conversation> r) {
      if (!r) return respond(error_response(r.error()));
      json::object o = summary_json(*r, 0);
      if (a.kind == core::AuthorKind::visitor) {
        // Visitors see their own details but not the routing internals.
        o.erase("site");
      }
      respond(json_response(200, json::object{{"conversation", std::move(o)}}));
    });
  });
}

void ApiService::events(const Request& req, const std::string& id, Respond respond) {
  std::int64_t after = 0;
  std::size_t limit = 100;
  try {
    std::string a = req.query_param("after");
    if (!a.empty()) after = std::stoll(a);
    std::string l = req.query_param("limit");
    if (!l.empty()) {
      long n = std::stol(l);
      if (n < 1 || n > 500) throw std::out_of_range("limit");
      limit = static_cast<std::size_t>(n);
    }
    if (after < 0) throw std::out_of_range("after");
  } catch (const std::exception&) {
    return respond(error_response(Errc::bad_request, "after must be a sequence number, limit from 1 to 500"));
  }
  with_reader(req, id, respond, [this, id, after, limit, respond](Actor a) {
    hub_.readable(a, id, [this, id, after, limit, respond, a](core::Result<core::Conversation> r) {
      if (!r) return respond(error_response(r.error()));
      bool notes = a.kind == core::AuthorKind::agent;
      boost::asio::post(hub_.blocking(), [this, id, after, limit, notes, respond] {
        auto evs = hub_.store().events(id, after, limit, notes);
        if (!evs) return respond(error_response(evs.error()));
        json::array arr;
        for (const auto& e : *evs) arr.push_back(event_json(e));
        json::object o;
        o["events"] = std::move(arr);
        if (evs->size() == limit)
          o["next_after"] = evs->back().seq;
        else
          o["next_after"] = nullptr;
        respond(json_response(200, o));
      });
    });
  });
}

void ApiService::transcript(const Request& req, const std::string& id, Respond respond) {
  std::string format = req.query_param("format");
  if (format.empty()) format = "json";
  if (format != "json" && format != "text")
    return respond(error_response(Errc::bad_request, "format must be json or text"));
  with_reader(req, id, respond, [this, id, format, respond](Actor a) {
    hub_.readable(a, id, [this, id, format, respond, a](core::Result<core::Conversation> r) {
      if (!r) return respond(error_response(r.error()));
      bool notes = a.kind == core::AuthorKind::agent;
      boost::asio::post(hub_.blocking(), [this, c = *r, format, notes, respond] {
        std::vector<core::Event> all;
        std::int64_t after = 0;
        // A transcript is bounded by the conversation's own length; read it in pages.
        for (;;) {
          auto page = hub_.store().events(c.id, after, 500, notes);
          if (!page) return respond(error_response(page.error()));
          for (auto& e : *page) {
            after = e.seq;
            all.push_back(std::move(e));
          }
          if (page->size() < 500) break;
        }
        const std::string& org = hub_.settings().organization;
        Response res;
        if (format == "json") {
          json::object o;
          o["organization"] = org;
          o["conversation"] = summary_json(c, 0);
          json::array arr;
          for (const auto& e : all) arr.push_back(event_json(e));
          o["events"] = std::move(arr);
          res = json_response(200, o);
          res.set("Content-Disposition", "attachment; filename=\"conversation-" + c.id + ".json\"");
        } else {
          std::string t = "Conversation " + c.id + " with " + org + "\n";
          t += "Visitor: " + (c.visitor.name.empty() ? std::string("(no name)") : c.visitor.name);
          if (!c.visitor.email.empty()) t += " <" + c.visitor.email + ">";
          t += "\n";
          if (!c.visitor.page.empty()) t += "Page: " + c.visitor.page + "\n";
          t += "Started: " + format_time(c.created_at) + " UTC\n";
          if (c.closed_at) t += "Ended: " + format_time(c.closed_at) + " UTC\n";
          t += "\n";
          for (const auto& e : all) {
            std::string who = e.author_name.empty() ? std::string(core::author_kind_name(e.author_kind))
                                                     : e.author_name;
            t += "[" + format_time(e.at) + "] ";
            switch (e.kind) {
              case core::EventKind::message: t += who + ": " + e.text; break;
              case core::EventKind::note: t += "(note) " + who + ": " + e.text; break;
              default: t += "-- " + e.text; break;
            }
            t += "\n";
          }
          res = Response::text(200, std::move(t));
          res.set("Cache-Control", "no-store");
          res.set("Content-Disposition", "attachment; filename=\"conversation-" + c.id + ".txt\"");
        }
        respond(std::move(res));
      });
    });
  });
}

void ApiService::availability(const Request& req, Respond respond) {
  std::string site = req.query_param("site");
  if (site.empty() || site.size() > 64) return respond(error_response(Errc::bad_request, "site is required"));
  hub_.availability(site, [this, respond](core::Result<Availability> r) {
    if (!r) return respond(error_response(r.error()));
    json::object o;
    o["organization"] = hub_.settings().organization;
    o["queue"] = r->queue;
    o["online"] = r->online;
    o["waiting"] = r->waiting;
    o["longest_wait_ms"] = r->longest_wait_ms;
    respond(json_response(200, o));
  });
}

void ApiService::create(const Request& req, Respond respond) {
  if (!is_json(req)) return respond(error_response(Errc::bad_request, "send JSON (Content-Type: application/json)"));
  auto body = parse_object(req.body, hub_.settings().max_json_depth);
  if (!body) return respond(error_response(body.error()));
  NewConversation nc;
  auto site = get_string(*body, "site", 64, true);
  if (!site) return respond(error_response(site.error()));
  nc.site = *site;
  const Site* s = nullptr;
  for (const auto& candidate : hub_.settings().sites)
    if (candidate.name == nc.site) s = &candidate;
  if (!origin_allowed_for_site(req.header("origin"), s))
    return respond(error_response(Errc::forbidden, "this origin may not start chats for site " + nc.site));
  struct Field {
    const char* key;
    std::size_t max;
    std::string* out;
  };
  Field fields[] = {
      {"name", core::kMaxNameBytes, &nc.visitor.name},
      {"email", core::kMaxEmailBytes, &nc.visitor.email},
      {"page", core::kMaxPageBytes, &nc.visitor.page},
      {"client_id", core::kMaxClientIdBytes, &nc.client_id},
      {"text", hub_.settings().max_message_bytes, &nc.first_message},
  };
  for (auto& f : fields) {
    auto v = get_string(*body, f.key, f.max, false);
    if (!v) return respond(error_response(v.error()));
    if (auto st = core::check_text(*v, f.max, f.key, true); !st) return respond(error_response(st.error()));
    *f.out = std::move(*v);
  }
  if (!nc.visitor.email.empty() && nc.visitor.email.find('@') == std::string::npos)
    return respond(error_response(Errc::bad_request, "email is not an e-mail address"));
  auto offline = get_bool(*body, "offline", false);
  if (!offline) return respond(error_response(offline.error()));
  nc.offline = *offline;
  if (nc.offline && nc.first_message.empty())
    return respond(error_response(Errc::bad_request, "an offline message needs text"));
  nc.visitor.user_agent = core::utf8_prefix(req.header("user-agent"), 300);
  nc.visitor.origin = std::string(req.header("origin").substr(0, 200));
  hub_.create(std::move(nc), [this, respond](core::Result<Created> r) {
    if (!r) return respond(error_response(r.error()));
    json::object o;
    o["conversation"] = r->conversation.id;
    o["token"] = r->token;
    o["state"] = core::state_name(r->conversation.state);
    o["organization"] = hub_.settings().organization;
    if (r->first_seq) o["first_seq"] = r->first_seq;
    respond(json_response(201, o));
  });
}

std::shared_ptr<http::WsHandler> ApiService::upgrade(const Request& req, Response& refusal) {
  if (req.path != "/ws") {
    refusal = error_response(Errc::not_found, "no WebSocket here; use /ws");
    return nullptr;
  }
  std::string_view origin = req.header("origin");
  if (!origin.empty() && origin != own_origin()) {
    bool allowed = false;
    for (const auto& s : hub_.settings().sites)
      if (origin_allowed_for_site(origin, &s)) allowed = true;
    if (!allowed) {
      refusal = error_response(Errc::forbidden, "this origin may not open a chat socket");
      return nullptr;
    }
  }
  // An agent signed in by cookie is resolved at hello time (the cookie is read now).
  // Only our own pages may use the cookie: a configured site's page, even one on the
  // same site as Baton (where SameSite does not help), must not act as the agent.
  std::string cookie = origin.empty() || origin == own_origin() ? req.cookie(kSessionCookie) : std::string();
  auto authenticate = [this, cookie](std::string token, std::shared_ptr<http::WsConnection> connection,
                                     Hub::Callback<Actor> done) {
    std::string used = token.empty() ? cookie : token;
    sessions_.resolve(used, [this, used, connection, done = std::move(done)](core::Result<Actor> r) {
      if (r) sessions_.attach_socket(used, connection);
      done(std::move(r));
    });
  };
  return std::make_shared<RealtimeClient>(hub_, authenticate);
}

void ApiService::transfers(const Request& req, const std::string& id, Respond respond) {
  with_agent(req, respond, [this, id, respond](Actor a) {
    hub_.transfer_history(a, id, [respond](core::Result<std::vector<core::Transfer>> r) {
      if (!r) return respond(error_response(r.error()));
      json::array arr;
      for (const auto& t : *r) arr.push_back(transfer_json(t));
      respond(json_response(200, json::object{{"transfers", std::move(arr)}}));
    });
  });
}

// ---- federation ----------------------------------------------------------------

namespace {

std::string html_escape(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// A field of an application/x-www-form-urlencoded body; "" when absent or malformed.
std::string form_field(std::string_view body, std::string_view name) {
  while (!body.empty()) {
    auto amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string key, value;
    if (!http::percent_decode(pair.substr(0, eq), key, true) || key != name) continue;
    if (!http::percent_decode(pair.substr(eq + 1), value, true)) return {};
    return value;
  }
  return {};
}

Response html_page(int status, std::string title, std::string body_html, std::string csp) {
  Response r = Response::text(status,
                              "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                              "<title>" + html_escape(title) + "</title>"
                              "<link rel=\"stylesheet\" href=\"/assets/chat.css\"></head>"
                              "<body class=\"transfer-page\"><main>" + body_html + "</main></body></html>\n",
                              "text/html; charset=utf-8");
  r.set("Content-Security-Policy", std::move(csp));
  r.set("Cache-Control", "no-store");
  r.set("Referrer-Policy", "no-referrer");
  return r;
}

}  // namespace

void ApiService::enable_federation(federation::Signer& signer, federation::Verifier& verifier,
                                   std::vector<std::string> published_keys, const core::Clock& clock) {
  clock_ = &clock;
  signer_ = &signer;
  verifier_ = &verifier;
  published_keys_ = std::move(published_keys);
}

void ApiService::well_known(Respond& respond) {
  json::array keys;
  bool current = true;
  for (const auto& k : published_keys_) {
    keys.push_back(json::object{{"public_key", k}, {"alg", "ed25519"}, {"current", current}});
    current = false;
  }
  json::object o{{"organization", hub_.settings().organization},
                 {"public_url", hub_.settings().public_url},
                 {"join_url", hub_.settings().public_url + "/join"},
                 {"federation", signer_ != nullptr},
                 {"keys", std::move(keys)}};
  if (signer_) o["key_id"] = signer_->key_id();
  Response r = Response::json(200, json::serialize(o));
  r.set("Cache-Control", "max-age=300");
  r.set("Access-Control-Allow-Origin", "*");
  respond(std::move(r));
}

void ApiService::federation_request(const Request& req, const std::string& action, const std::string& transfer_id,
                                    Respond respond) {
  if (!signer_ || !verifier_) return respond(error_response(Errc::not_found, "federation is not enabled here"));
  federation::RequestMessage msg;
  msg.method = req.method;
  // Our own authority, never the Host header: a request signed for another server
  // must not verify here.
  msg.authority = federation::authority_of(hub_.settings().public_url);
  msg.path = req.target.substr(0, req.target.find('?'));
  msg.query = req.query;
  msg.headers = req.headers;
  msg.body = req.body;
  // Every answer is signed and bound to the request, errors too.
  auto reply = [this, msg, respond](int status, std::string body) {
    Response r = Response::json(status, body);
    r.set("Cache-Control", "no-store");
    auto sig = signer_->sign_response(federation::OutgoingResponse{status, "application/json", body}, msg);
    if (sig) {
      r.set("Content-Digest", sig->content_digest);
      r.set("Signature-Input", sig->signature_input);
      r.set("Signature", sig->signature);
    }
    respond(std::move(r));
  };
  auto verified = verifier_->verify_request(msg);
  if (!verified) {
    return reply(http_status(verified.error().code),
                 error_json(verified.error().code, verified.error().message));
  }
  if (req.header("content-type").substr(0, 16) != "application/json")
    return reply(400, error_json(Errc::bad_request, "send JSON"));
  // The nonce is stored before the answer goes (with whatever the request changed,
  // which the hub stores after it), so that a restart does not reopen it to replay.
  struct Both {
    std::mutex mu;
    int left = 2;
    bool nonce_stored = false;
    Hub::FedReply reply;
  };
  auto both = std::make_shared<Both>();
  auto one_done = [both, reply] {
    if (--both->left != 0) return;
    if (!both->nonce_stored)
      return reply(503, error_json(Errc::unavailable, "could not store the request's nonce; try again"));
    reply(both->reply.status, std::move(both->reply.body));
  };
  core::Write w;
  w.nonce = core::SeenNonce{verified->nonce_key, verified->forget_at};
  w.forget_nonces_until = clock_->now();
  hub_.store().write(std::move(w), [both, one_done](core::Result<core::WriteResult> r) {
    std::lock_guard lock(both->mu);
    both->nonce_stored = r.ok();
    one_done();
  });
  hub_.on_federation(verified->peer, action, transfer_id, req.body, [both, one_done](Hub::FedReply r) {
    std::lock_guard lock(both->mu);
    both->reply = std::move(r);
    one_done();
  });
}

void ApiService::transfer_page(const Request& req, Respond respond) {
  std::string conversation = form_field(req.body, "conversation");
  std::string token = form_field(req.body, "token");
  if (conversation.empty() || token.empty() || conversation.size() > 64 || token.size() > 128)
    return respond(error_response(Errc::bad_request, "conversation and token are required"));
  hub_.transfer_page(conversation, token, [this, conversation, token, respond](core::Result<Hub::MovePage> r) {
    std::string csp_base = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors " +
                           chat_frame_ancestors();
    if (!r) {
      std::string body = "<h1>This transfer is over</h1><p>" + html_escape(r.error().message) +
                         "</p><p><a href=\"/chat\">Back to the chat</a></p>";
      return respond(html_page(http_status(r.error().code), "Transfer", body, csp_base + "; form-action 'self'"));
    }
    const Hub::MovePage& m = *r;
    std::string dest = html_escape(m.destination);
    std::string join = html_escape(m.join_url);
    std::string code = html_escape(m.join_code);
    // The code rides in the fragment: never in a request line, a Referer or a log.
    std::string body =
        "<h1>Connecting you to " + dest + "…</h1>"
        "<p>" + html_escape(hub_.settings().organization) + " is passing your conversation to " + dest +
        ". Your messages so far go with you.</p>"
        "<form method=\"post\" action=\"" + join + "\"><input type=\"hidden\" name=\"code\" value=\"" + code +
        "\"><button type=\"submit\">Continue to " + dest + "</button></form>"
        "<form method=\"post\" action=\"/transfer/stay\"><input type=\"hidden\" name=\"conversation\" value=\"" +
        html_escape(conversation) + "\"><input type=\"hidden\" name=\"token\" value=\"" + html_escape(token) +
        "\"><button type=\"submit\">Stay with " + html_escape(hub_.settings().organization) + "</button></form>";
    std::string origin = origin_of(m.join_url);
    Response page = html_page(200, "Connecting you to " + m.destination, body,
                              csp_base + "; form-action 'self' " + origin);
    page.set("Refresh", "1; url=" + m.join_url + "#code=" + m.join_code);
    respond(std::move(page));
  });
}

void ApiService::transfer_stay(const Request& req, Respond respond) {
  std::string conversation = form_field(req.body, "conversation");
  std::string token = form_field(req.body, "token");
  if (conversation.empty() || token.empty() || conversation.size() > 64 || token.size() > 128)
    return respond(error_response(Errc::bad_request, "conversation and token are required"));
  hub_.visitor_stays(conversation, token, [respond](core::Result<std::string> site) {
    if (!site) return respond(error_response(site.error()));
    Response r = Response::text(303, "Back to the chat\n");
    r.set("Location", site->empty() ? std::string("/chat") : "/chat?site=" + http::percent_encode(*site));
    r.set("Cache-Control", "no-store");
    respond(std::move(r));
  });
}

void ApiService::join_page(Respond& respond) {
  auto r = load_asset("join.html");
  if (!r) return respond(error_response(Errc::not_found, "no such page"));
  r->set("Content-Security-Policy",
         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
         "base-uri 'none'; form-action 'self'; frame-ancestors " + chat_frame_ancestors());
  r->set("Referrer-Policy", "no-referrer");
  std::erase_if(r->headers, [](const auto& h) { return h.first == "Cache-Control"; });
  r->set("Cache-Control", "no-store");
  respond(std::move(*r));
}

namespace {
constexpr std::size_t kJoinFailuresPerMinute = 10;
constexpr core::Millis kJoinWindowMs = 60'000;
}

bool ApiService::join_limited(const std::string& ip, core::Millis now) {
  std::lock_guard lock(join_mu_);
  auto it = join_failures_.find(ip);
  if (it == join_failures_.end()) return false;
  while (!it->second.empty() && it->second.front() < now - kJoinWindowMs) it->second.pop_front();
  if (it->second.empty()) {
    join_failures_.erase(it);
    return false;
  }
  return it->second.size() >= kJoinFailuresPerMinute;
}

void ApiService::join_failed(const std::string& ip, core::Millis at) {
  std::lock_guard lock(join_mu_);
  if (join_failures_.size() > 100'000) join_failures_.clear();  // bounded, whatever the spray
  join_failures_[ip].push_back(at);
}

core::Status ApiService::load() {
  auto failures = hub_.store().attempts(kJoinFailedScope, clock_->now() - kJoinWindowMs);
  if (!failures) return failures.error();
  for (const auto& a : *failures) join_failed(a.key, a.at);
  return core::ok_status();
}

void ApiService::join(const Request& req, Respond respond) {
  std::string code = form_field(req.body, "code");
  std::string csp_limited = "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors " + chat_frame_ancestors();
  if (join_limited(req.remote_ip, clock_->now())) {
    Response r = html_page(429, "Join", "<h1>Too many attempts</h1><p>Wait a minute, then try again.</p>", csp_limited);
    r.set("Retry-After", "60");
    return respond(std::move(r));
  }
  hub_.redeem_join(code, [this, respond, ip = req.remote_ip](core::Result<Hub::Joined> r) {
    std::string csp = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors " +
                      chat_frame_ancestors();
    if (!r) {
      // Counted in memory at once, so that guesses racing this one are limited too;
      // answered once stored, so that a restart after the answer still counts it.
      core::Millis now = clock_->now();
      join_failed(ip, now);
      core::Write w;
      w.attempt = core::Attempt{kJoinFailedScope, ip, ip, now};
      w.forget_scope = kJoinFailedScope;
      w.forget_attempts_before = now - kJoinWindowMs;
      int status = r.error().code == Errc::conflict ? 410 : 404;
      std::string body = "<h1>This link cannot be used</h1><p>" + html_escape(r.error().message) +
                         ". Go back to the previous page to continue your conversation there.</p>";
      hub_.store().write(std::move(w), [respond, status, body = std::move(body),
                                        csp](core::Result<core::WriteResult> stored) {
        // Not stored: the guess is not answered (a restart must not reopen it).
        if (!stored)
          return respond(html_page(503, "Join", "<h1>Try again</h1><p>This link could not be checked just now.</p>",
                                   csp));
        respond(html_page(status, "Join", body, csp));
      });
      return;
    }
    bool secure = hub_.settings().public_url.rfind("https://", 0) == 0;
    Response res = Response::text(303, "Joined\n");
    res.set("Location", r->site.empty() ? std::string("/chat?joined=1")
                                        : "/chat?site=" + http::percent_encode(r->site) + "&joined=1");
    // The visitor's new token goes to the chat page once, through an HttpOnly cookie
    // that only /api/visitor/handoff reads: never in a URL.
    res.set("Set-Cookie", "baton_handoff=" + r->conversation + "." + r->token +
                              "; Path=/api/visitor/handoff; HttpOnly; Max-Age=300" +
                              (secure ? "; SameSite=None; Secure" : "; SameSite=Lax"));
    res.set("Cache-Control", "no-store");
    res.set("Referrer-Policy", "no-referrer");
    respond(std::move(res));
  });
}

void ApiService::handoff(const Request& req, Respond respond) {
  // Another site cannot read the answer, but answering clears the cookie: only our
  // own chat page may spend it.
  if (!same_origin_write(req)) return respond(error_response(Errc::forbidden, "cross-site request refused"));
  std::string cookie = req.cookie("baton_handoff");
  auto dot = cookie.find('.');
  if (dot == std::string::npos || cookie.size() > 200)
    return respond(error_response(Errc::not_found, "nothing to hand over"));
  std::string conversation = cookie.substr(0, dot);
  std::string token = cookie.substr(dot + 1);
  hub_.authenticate_visitor(conversation, token, [this, conversation, token, respond](core::Result<core::Conversation> r) {
    if (!r) return respond(error_response(r.error()));
    json::object o{{"conversation", conversation}, {"token", token}, {"site", r->site},
                   {"organization", hub_.settings().organization}};
    Response res = json_response(200, o);
    res.set("Set-Cookie", "baton_handoff=; Path=/api/visitor/handoff; HttpOnly; Max-Age=0");
    respond(std::move(res));
  });
}

}  // namespace baton::api
