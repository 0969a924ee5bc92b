// Scenario `transfer`: federated transfers end to end between two servers, O
// (origin) and D (destination), peered with keys from `baton keygen`
// (docs/federation.md). Every step is taken as the console and the visitor's
// browser take it:
//
//   A (agent at O)  --ws-->  {"type":"transfer","to":{"peer":"dest"}}     offer O -> D (signed)
//   A  <--ws--  "transfer" event with D's queues;  A --> "transfer.confirm"  context O -> D (signed)
//   V (visitor at O)  <--ws--  "move"
//   V --> POST O/transfer              the transfer page; its Refresh header holds D/join#code=...
//   V --> POST D/join (code)           303 and the baton_handoff cookie; D tells O "arrived" (signed)
//   V --> POST D/api/visitor/handoff   the visitor's token at D
//   V --> ws D hello                   the transcript, then "joined" when D's router connects agent B
//
// A transfer is complete when V, at D, receives the `joined` event of an agent of
// D: the visitor is talking to someone again. Transfers start at a fixed rate,
// open loop; the conversations at O are made and assigned beforehand, so only the
// transfer itself is timed. Each visitor uses new HTTP connections, as a browser
// moving to another site does.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <exception>
#include <map>
#include <memory>
#include <stdexcept>
#include <unordered_map>

#include "desk.hpp"
#include "loopback/run.hpp"
#include "histogram.hpp"
#include "proto.hpp"
#include "scenarios.hpp"
#include "server.hpp"
#include "sysinfo.hpp"
#include "util.hpp"

namespace baton::bench {

namespace net = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kDestQueue = "Claims";

// The stages of one transfer, as times on the monotonic clock (ns; 0 = not reached).
struct Stages {
  std::int64_t scheduled = 0;    // when it was due to start
  std::int64_t requested = 0;    // A sent "transfer"
  std::int64_t offered = 0;      // A got D's queues (offer answered)
  std::int64_t moving = 0;       // A saw "moving" (context answered)
  std::int64_t move_seen = 0;    // V got "move"
  std::int64_t page = 0;         // V got the transfer page
  std::int64_t joined_code = 0;  // V's POST /join answered 303
  std::int64_t handoff = 0;      // V got its token at D
  std::int64_t synced = 0;       // V's hello at D synced
  std::int64_t connected = 0;    // V saw D's agent join: done
  std::int64_t completed_at_origin = 0;  // A saw "completed"
};

struct Item {
  std::string conversation;  // at O
  std::string token;
  std::shared_ptr<WsClient> ws;       // V at O
  std::shared_ptr<WsClient> ws_dest;  // V at D
  std::string transfer_id;
  int agent = -1;
  bool synced = false;
  bool confirmed = false;
  bool moved = false;
  bool done = false;
  bool failed = false;
  std::string failure;
  Stages t;
};

struct AgentLink {
  std::string name;
  std::string token;
  std::shared_ptr<WsClient> ws;
  bool welcomed = false;
};

class Transfer {
 public:
  explicit Transfer(TransferOptions o) : o_(std::move(o)) {
    sources_ = loopback_sources(std::max(1, o_.common.sources));
    count_ = std::max(1, static_cast<int>(o_.rate * o_.duration_s));
  }

  net::awaitable<json::object> main() {
    co_await setup();
    json::object out;
    out["setup"] = json::object{{"transfers", count_},
                                {"rate_per_s", o_.rate},
                                {"origin_agents", static_cast<std::int64_t>(origin_agents_.size())},
                                {"destination_agents", static_cast<std::int64_t>(dest_agents_.size())},
                                {"capacity", o_.capacity}};
    co_await run();
    for (auto& kv : results()) out[kv.key()] = kv.value();
    co_await teardown();
    co_return out;
  }

 private:
  Endpoint at(const ServerProcess& s, std::size_t i) const {
    return Endpoint{s.port(), sources_[i % sources_.size()]};
  }

  net::awaitable<void> setup() {
    auto ex = co_await net::this_coro::executor;
    int agents_o = std::max(1, (count_ + o_.capacity - 1) / o_.capacity);
    int agents_d = agents_o;

    ServerSpec so;
    so.baton = o_.common.baton;
    so.dir = o_.common.workdir + "/transfer/origin";
    so.organization = "Origin Bank";
    so.threads = o_.common.server_threads;
    so.wrapper = o_.common.server_wrapper;
    so.ws_queue_messages = o_.common.ws_queue_messages;
    so.federation = true;
    for (int a = 0; a < agents_o; ++a) so.agents.push_back(AgentSpec{"oa" + std::to_string(a), {"General"}, o_.capacity});
    ServerSpec sd = so;
    sd.dir = o_.common.workdir + "/transfer/destination";
    sd.organization = "Destination Insurance";
    sd.queues = {kDestQueue};
    sd.site_queues = {kDestQueue};
    sd.agents.clear();
    for (int a = 0; a < agents_d; ++a) sd.agents.push_back(AgentSpec{"da" + std::to_string(a), {kDestQueue}, o_.capacity});
    log("transfer: making keys and configurations for two servers");
    origin_ = std::make_unique<ServerProcess>(so);
    dest_ = std::make_unique<ServerProcess>(sd);
    origin_->add_peers({PeerSpec{"dest", "Destination Insurance", dest_->base_url(), dest_->public_key(), {}}});
    dest_->add_peers({PeerSpec{"origin", "Origin Bank", origin_->base_url(), origin_->public_key(), {kDestQueue}}});
    origin_->start();
    dest_->start();
    password_ = so.password;

    co_await connect_agents(*origin_, "oa", agents_o, origin_agents_, true);
    co_await connect_agents(*dest_, "da", agents_d, dest_agents_, false);

    // The visitors at O, each with a conversation assigned to an agent of O.
    items_.resize(static_cast<std::size_t>(count_));
    std::size_t next = 0;
    int workers = std::min(8, count_), finished = 0;
    std::exception_ptr failure;
    for (int w = 0; w < workers; ++w) {
      net::co_spawn(
          ex,
          [this, w, &next]() -> net::awaitable<void> {
            auto ex2 = co_await net::this_coro::executor;
            HttpClient http(ex2, at(*origin_, static_cast<std::size_t>(w)), kHttp);
            while (next < items_.size()) {
              std::size_t i = next++;
              Item& it = items_[i];
              std::string site = "site0", name = "V" + std::to_string(i);
              auto c = co_await start_conversation(http, site, name);
              it.conversation = c.conversation;
              it.token = c.token;
              by_conversation_[it.conversation] = static_cast<int>(i);
              it.ws = WsClient::make(ex2);
              Endpoint t = at(*origin_, i);
              co_await it.ws->connect(t);
              it.ws->on_message([this, i](std::string_view m) { on_visitor_origin(static_cast<int>(i), m); });
              it.ws->start();
              it.ws->send(hello_visitor(it.conversation, it.token));
            }
          },
          [&](std::exception_ptr e) {
            if (e && !failure) failure = e;
            ++finished;
          });
    }
    co_await wait_until([&] { return finished == workers; }, 120s, "conversations at the origin");
    if (failure) std::rethrow_exception(failure);
    co_await wait_until(
        [this] {
          return std::all_of(items_.begin(), items_.end(),
                             [this](const Item& it) { return it.synced && assigned_.count(it.conversation); });
        },
        60s, "every visitor at the origin to be synced and assigned");
    for (auto& it : items_) it.agent = assigned_[it.conversation];
    log("transfer: " + std::to_string(count_) + " visitors ready at the origin");
  }

  net::awaitable<void> connect_agents(ServerProcess& s, const std::string& prefix, int n, std::vector<AgentLink>& out,
                                      bool origin) {
    auto ex = co_await net::this_coro::executor;
    out.resize(static_cast<std::size_t>(n));
    for (int a = 0; a < n; ++a) {
      AgentLink& l = out[static_cast<std::size_t>(a)];
      l.name = prefix + std::to_string(a);
      HttpClient http(ex, at(s, static_cast<std::size_t>(a)), kHttp);
      l.token = co_await sign_in(http, l.name, password_);
      l.ws = WsClient::make(ex);
      Endpoint t = at(s, static_cast<std::size_t>(a));
      co_await l.ws->connect(t);
      if (origin) {
        l.ws->on_message([this, a](std::string_view m) { on_origin_agent(a, m); });
      } else {
        l.ws->on_message([this, a](std::string_view m) {
          if (event_type(m) == "welcome") dest_agents_[static_cast<std::size_t>(a)].welcomed = true;
        });
      }
      l.ws->start();
      l.ws->send(hello_agent(l.token));
    }
    co_await wait_until([&out] { return std::all_of(out.begin(), out.end(), [](const AgentLink& l) { return l.welcomed; }); },
                        30s, prefix + " agents' welcome");
  }

  // ---- origin agents ----

  void on_origin_agent(int a, std::string_view msg) {
    auto type = event_type(msg);
    if (type == "welcome") {
      origin_agents_[static_cast<std::size_t>(a)].welcomed = true;
      return;
    }
    if (type == "conversation") {
      // Assignments, before the run; during it, only changes of state we do not need.
      if (running_) return;
      auto v = json::parse(msg);
      const auto& c = v.at("conversation").as_object();
      if (c.at("state").as_string() == "active" &&
          c.at("agent").as_string() == origin_agents_[static_cast<std::size_t>(a)].name)
        assigned_[std::string(c.at("id").as_string())] = a;
      return;
    }
    if (type == "transfer") {
      auto v = json::parse(msg);
      const auto& t = v.at("transfer").as_object();
      auto it = by_conversation_.find(std::string(t.at("conversation").as_string()));
      if (it == by_conversation_.end()) return;
      Item& item = items_[static_cast<std::size_t>(it->second)];
      std::string state(t.at("state").as_string());
      item.transfer_id = std::string(t.at("id").as_string());
      std::int64_t now = now_ns();
      if (state == "offering") {
        auto q = t.find("queues");
        if (q != t.end() && q->value().is_array() && !q->value().as_array().empty() && !item.confirmed) {
          item.confirmed = true;
          item.t.offered = now;
          json::object confirm{{"type", "transfer.confirm"},
                               {"transfer", item.transfer_id},
                               {"queue", kDestQueue},
                               {"note", "Benchmark transfer: please help this visitor."}};
          origin_agents_[static_cast<std::size_t>(a)].ws->send(json::serialize(confirm));
        }
      } else if (state == "moving") {
        if (!item.t.moving) item.t.moving = now;
      } else if (state == "completed") {
        if (!item.t.completed_at_origin) item.t.completed_at_origin = now;
      } else if (state == "failed" || state == "expired" || state == "cancelled" || state == "recalled") {
        fail(item, "transfer " + state + ": " + std::string(t.count("reason") ? t.at("reason").as_string().c_str() : ""));
      }
      return;
    }
    if (type == "error") {
      std::string conv(string_field(msg, "conversation"));
      auto it = by_conversation_.find(conv);
      if (it != by_conversation_.end()) fail(items_[static_cast<std::size_t>(it->second)], std::string(msg));
      else ++stray_errors_;
    }
  }

  void fail(Item& item, const std::string& why) {
    if (item.done || item.failed) return;
    item.failed = true;
    item.failure = why;
    ++failures_[why.substr(0, why.find(':'))];
    if (first_failure_.empty()) first_failure_ = why;
  }

  // ---- the visitor ----

  void on_visitor_origin(int i, std::string_view msg) {
    Item& item = items_[static_cast<std::size_t>(i)];
    auto type = event_type(msg);
    if (type == "synced") {
      item.synced = true;
    } else if (type == "move" && running_ && !item.moved) {
      item.moved = true;
      item.t.move_seen = now_ns();
      net::co_spawn(origin_ex_, move_visitor(i), [this, i](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          fail(items_[static_cast<std::size_t>(i)], std::string("visitor: ") + ex.what());
        }
      });
    }
  }

  // application/x-www-form-urlencoded; appends `key=value` to `out`.
  // (A function per field rather than an initializer_list: GCC 12 miscompiles
  // initializer_lists of strings inside coroutines, "array used as initializer".)
  static void form_field(std::string& out, const std::string& k, const std::string& v) {
    if (!out.empty()) out += '&';
    out += k + "=" + loopback::form_escape(v);
  }

  // What the chat page, the transfer page and the join page do in a browser.
  net::awaitable<void> move_visitor(int i) {
    auto ex = co_await net::this_coro::executor;
    Item& item = items_[static_cast<std::size_t>(i)];
    HttpClient at_origin(ex, at(*origin_, static_cast<std::size_t>(i)), kHttp);
    Request move_req;
    move_req.method = "POST";
    move_req.target = "/transfer";
    move_req.content_type = "application/x-www-form-urlencoded";
    form_field(move_req.body, "conversation", item.conversation);
    form_field(move_req.body, "token", item.token);
    auto page = co_await at_origin.request(move_req);
    at_origin.close();
    if (page.status != 200) throw std::runtime_error("transfer page: HTTP " + std::to_string(page.status));
    item.t.page = now_ns();
    std::string refresh = page.header("refresh");
    auto code_at = refresh.find("#code=");
    if (code_at == std::string::npos) throw std::runtime_error("transfer page without a join code: " + refresh);
    std::string code = refresh.substr(code_at + 6);

    HttpClient at_dest(ex, at(*dest_, static_cast<std::size_t>(i)), kHttp);
    Request join_req;
    join_req.method = "POST";
    join_req.target = "/join";
    join_req.content_type = "application/x-www-form-urlencoded";
    form_field(join_req.body, "code", code);
    auto joined = co_await at_dest.request(join_req);
    if (joined.status != 303) throw std::runtime_error("join: HTTP " + std::to_string(joined.status));
    item.t.joined_code = now_ns();
    std::string cookie = joined.header("set-cookie");
    cookie = cookie.substr(0, cookie.find(';'));
    Request handoff_req;
    handoff_req.method = "POST";
    handoff_req.target = "/api/visitor/handoff";
    handoff_req.headers.emplace_back("Cookie", cookie);
    auto handoff = co_await at_dest.request(handoff_req);
    at_dest.close();
    if (handoff.status != 200) throw std::runtime_error("handoff: HTTP " + std::to_string(handoff.status));
    item.t.handoff = now_ns();
    auto v = json::parse(handoff.body);
    std::string conversation(v.at("conversation").as_string());
    std::string token(v.at("token").as_string());

    item.ws_dest = WsClient::make(ex);
    Endpoint dest_target = at(*dest_, static_cast<std::size_t>(i));
    co_await item.ws_dest->connect(dest_target);
    item.ws_dest->on_message([this, i, conversation](std::string_view m) {
      Item& it = items_[static_cast<std::size_t>(i)];
      auto type = event_type(m);
      if (type == "synced" && !it.t.synced) {
        it.t.synced = now_ns();
      } else if (type == "event" && string_field(m, "kind") == "joined" &&
                 m.find("\"author\":{\"kind\":\"agent\"") != std::string_view::npos && !it.done && !it.failed) {
        it.t.connected = now_ns();
        it.done = true;
        ++completed_;
        // The visitor says goodbye, so that D's agents have room for the next ones.
        it.ws_dest->send(R"({"type":"close"})");
      } else if (type == "error" && !it.done) {
        fail(it, "at destination: " + std::string(m));
      }
    });
    item.ws_dest->start();
    item.ws_dest->send(hello_visitor(conversation, token));
  }

  // ---- the run ----

  net::awaitable<void> run() {
    auto ex = co_await net::this_coro::executor;
    origin_ex_ = ex;
    others_before_ = co_await wait_for_quiet(origin_->pid(), 0.25,
                                             std::chrono::milliseconds(static_cast<long long>(o_.common.quiet_wait_s * 1000)));
    std::int64_t m0 = machine_busy_ns();
    running_ = true;
    std::int64_t cpu_o0 = origin_->cpu_ns(), cpu_d0 = dest_->cpu_ns(), cpu_c0 = self_cpu_ns();
    t0_ = now_ns() + 20'000'000;
    net::steady_timer timer(ex);
    log("transfer: " + std::to_string(count_) + " transfers at " + std::to_string(o_.rate) + "/s");
    for (int i = 0; i < count_; ++i) {
      Item& item = items_[static_cast<std::size_t>(i)];
      item.t.scheduled = t0_ + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / o_.rate);
      timer.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(item.t.scheduled)));
      co_await timer.async_wait(net::use_awaitable);
      item.t.requested = now_ns();
      json::object req{{"type", "transfer"}, {"conversation", item.conversation}, {"to", json::object{{"peer", "dest"}}}};
      origin_agents_[static_cast<std::size_t>(item.agent)].ws->send(json::serialize(req));
    }
    send_end_ = now_ns();
    try {
      co_await wait_until(
          [this] {
            return std::all_of(items_.begin(), items_.end(), [](const Item& it) { return it.done || it.failed; });
          },
          std::chrono::milliseconds(static_cast<long long>(o_.timeout_s * 1000)), "every transfer to end");
    } catch (const std::runtime_error&) {
      for (auto& it : items_)
        if (!it.done && !it.failed) fail(it, "timed out: no agent connected within the timeout");
    }
    // The origin's "completed" comes with the arrival; give it a moment.
    try {
      co_await wait_until(
          [this] {
            return std::all_of(items_.begin(), items_.end(),
                               [](const Item& it) { return !it.done || it.t.completed_at_origin; });
          },
          5s, "the origin to close its conversations");
    } catch (const std::runtime_error&) {
    }
    end_ = now_ns();
    cpu_origin_ = static_cast<double>(origin_->cpu_ns() - cpu_o0);
    cpu_dest_ = static_cast<double>(dest_->cpu_ns() - cpu_d0);
    cpu_client_ = static_cast<double>(self_cpu_ns() - cpu_c0);
    cpu_machine_ = static_cast<double>(machine_busy_ns() - m0);
    running_ = false;
  }

  json::object results() {
    Histogram total, offer, context, page, join, handoff, connect, origin_closed;
    std::int64_t last_done = t0_;
    for (const auto& it : items_) {
      if (!it.done) continue;
      const Stages& t = it.t;
      total.record(t.connected - t.scheduled);
      offer.record(t.offered - t.requested);
      if (t.moving) context.record(t.moving - t.offered);
      page.record(t.page - t.move_seen);
      join.record(t.joined_code - t.page);
      handoff.record(t.handoff - t.joined_code);
      connect.record(t.connected - t.handoff);
      if (t.completed_at_origin) origin_closed.record(t.completed_at_origin - t.scheduled);
      last_done = std::max(last_done, t.connected);
    }
    int failed = 0;
    for (const auto& it : items_) failed += it.failed ? 1 : 0;
    double span = static_cast<double>(last_done - t0_) / 1e9;
    double wall = static_cast<double>(end_ - t0_);
    json::object fails;
    for (const auto& [why, n] : failures_) fails[why] = n;
    json::object o;
    o["completed"] = completed_;
    o["failed"] = failed;
    o["per_s"] = span > 0 ? round_to(completed_ / span, 1) : 0.0;
    o["p50_ms"] = round_to(total.percentile_ms(0.5), 3);
    o["p99_ms"] = round_to(total.percentile_ms(0.99), 3);
    o["latency"] = latency_json(total);
    o["stages"] = json::object{{"offer", latency_json(offer)},
                               {"context_until_moving", latency_json(context)},
                               {"transfer_page", latency_json(page)},
                               {"join", latency_json(join)},
                               {"handoff", latency_json(handoff)},
                               {"hello_until_agent_joined", latency_json(connect)},
                               {"origin_completed_after_start", latency_json(origin_closed)}};
    o["failures"] = fails;
    if (!first_failure_.empty()) o["first_failure"] = first_failure_;
    o["origin_cpu_cores"] = round_to(cpu_origin_ / wall, 2);
    o["destination_cpu_cores"] = round_to(cpu_dest_ / wall, 2);
    o["client_cpu_cores"] = round_to(cpu_client_ / wall, 2);
    o["other_programs_cpu_cores_before"] = round_to(others_before_, 2);
    o["other_programs_cpu_cores"] =
        round_to(std::max(0.0, (cpu_machine_ - cpu_origin_ - cpu_dest_ - cpu_client_) / wall), 2);
    o["origin_rss_bytes"] = origin_->rss_bytes();
    o["destination_rss_bytes"] = dest_->rss_bytes();
    log("transfer: completed " + std::to_string(completed_) + ", failed " + std::to_string(failed) + ", " +
        std::to_string(o["per_s"].as_double()) + "/s, " + summary(total));
    return o;
  }

  net::awaitable<void> teardown() {
    for (auto& it : items_) {
      if (it.ws) it.ws->abort();
      if (it.ws_dest) it.ws_dest->abort();
    }
    for (auto& l : origin_agents_) l.ws->abort();
    for (auto& l : dest_agents_) l.ws->abort();
    co_await sleep_for(50ms);
    origin_->stop();
    dest_->stop();
  }

  TransferOptions o_;
  std::vector<std::string> sources_;
  int count_ = 0;
  std::string password_;
  std::unique_ptr<ServerProcess> origin_, dest_;
  std::vector<AgentLink> origin_agents_, dest_agents_;
  std::vector<Item> items_;
  std::unordered_map<std::string, int> by_conversation_;
  std::unordered_map<std::string, int> assigned_;
  std::map<std::string, int> failures_;
  std::string first_failure_;
  int completed_ = 0;
  int stray_errors_ = 0;
  bool running_ = false;
  net::any_io_executor origin_ex_;
  std::int64_t t0_ = 0, send_end_ = 0, end_ = 0;
  double cpu_origin_ = 0, cpu_dest_ = 0, cpu_client_ = 0, cpu_machine_ = 0, others_before_ = 0;
};

}  // namespace

json::object run_transfer(const TransferOptions& o) {
  net::io_context io(1);
  Transfer t(o);
  return loopback::run_to_end(io, t.main());
}

}  // namespace baton::bench
