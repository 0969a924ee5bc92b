// Scenario `relay`: visitor–agent pairs exchanging chat messages through a Baton
// server at a fixed total rate, open loop (relay_engine.hpp), every message
// acknowledged by the server only once it is stored.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <exception>
#include <memory>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "desk.hpp"
#include "loopback/run.hpp"
#include "proto.hpp"
#include "relay_engine.hpp"
#include "scenarios.hpp"
#include "server.hpp"
#include "sysinfo.hpp"
#include "util.hpp"

namespace baton::bench {

namespace net = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

class Relay final : public RelayEngine {
 public:
  explicit Relay(RelayOptions o) : RelayEngine(std::move(o), "relay") {
    agents_count_ = o_.agents > 0 ? o_.agents : (o_.pairs + o_.capacity - 1) / o_.capacity;
    if (o_.queues == 0) o_.queues = agents_count_;
    if (o_.queues < 1 || o_.queues > agents_count_) throw std::runtime_error("relay: queues must be 0..agents");
    sources_ = loopback_sources(std::max(1, o_.common.sources));
  }

 private:
  struct Agent {
    std::string name;
    std::string token;
    std::shared_ptr<WsClient> ws;
    bool welcomed = false;
    std::unordered_set<std::string> subscribed;
  };
  struct Pair {
    std::string conversation;
    std::string token;
    std::string site;
    std::shared_ptr<WsClient> ws;
    int agent = -1;  // index in agents_, once assigned
    bool visitor_synced = false;
  };

  pid_t server_pid() const override { return server_ ? server_->pid() : -1; }

  void send(std::size_t pair, bool from_visitor, const std::string& cid, const std::string& text) override {
    Pair& p = pairs_[pair];
    if (from_visitor) {
      p.ws->send(message({}, cid, text));
    } else {
      agents_[static_cast<std::size_t>(p.agent)].ws->send(message(p.conversation, cid, text));
    }
  }

  Endpoint target(std::size_t i) const {
    return Endpoint{server_->port(), sources_[i % sources_.size()]};
  }

  net::awaitable<void> setup() override {
    auto ex = co_await net::this_coro::executor;
    broken_ = false;
    running_ = false;
    agents_.clear();
    pairs_.clear();
    conv_to_pair_.clear();
    assigned_.clear();
    agent_synced_.clear();
    setup_errors_.clear();
    closed_.clear();

    ServerSpec spec;
    spec.baton = o_.common.baton;
    spec.dir = o_.common.workdir + "/relay/server";
    spec.threads = o_.common.server_threads;
    spec.wrapper = o_.common.server_wrapper;
    spec.ws_queue_messages = o_.common.ws_queue_messages;
    spec.queues.clear();
    spec.site_queues.clear();
    for (int q = 0; q < o_.queues; ++q) {
      spec.queues.push_back("Q" + std::to_string(q));
      spec.site_queues.push_back("Q" + std::to_string(q));
    }
    for (int a = 0; a < agents_count_; ++a)
      spec.agents.push_back(AgentSpec{"agent" + std::to_string(a), {"Q" + std::to_string(a % o_.queues)}, o_.capacity});
    password_ = spec.password;
    log("relay: starting baton serve (" + std::to_string(agents_count_) + " agents of capacity " +
        std::to_string(o_.capacity) + ", " + std::to_string(o_.queues) + " queue(s))");
    server_ = std::make_unique<ServerProcess>(spec);
    server_->start();

    // Agents first, so that each new conversation is assigned at once.
    agents_.resize(static_cast<std::size_t>(agents_count_));
    for (int a = 0; a < agents_count_; ++a) {
      Agent& agent = agents_[static_cast<std::size_t>(a)];
      agent.name = "agent" + std::to_string(a);
      HttpClient http(ex, target(static_cast<std::size_t>(a)), kHttp);
      agent.token = co_await sign_in(http, agent.name, password_);
      agent.ws = WsClient::make(ex);
      Endpoint t = target(static_cast<std::size_t>(a));
      co_await agent.ws->connect(t);
      agent.ws->on_message([this, a](std::string_view m) { on_agent(a, m); });
      agent.ws->on_close([this, a](const std::string& why) { on_closed("agent" + std::to_string(a), why); });
      agent.ws->start();
      agent.ws->send(hello_agent(agent.token));
    }
    co_await wait_until([this] { return std::all_of(agents_.begin(), agents_.end(), [](const Agent& a) { return a.welcomed; }); },
                        30s, "agents' welcome");

    pairs_.resize(static_cast<std::size_t>(o_.pairs));
    std::size_t next = 0;
    int workers = std::min(8, o_.pairs);
    int finished = 0;
    std::exception_ptr failure;
    for (int w = 0; w < workers; ++w) {
      net::co_spawn(
          ex,
          [this, w, &next]() -> net::awaitable<void> {
            auto ex2 = co_await net::this_coro::executor;
            HttpClient http(ex2, target(static_cast<std::size_t>(w)), kHttp);
            while (next < pairs_.size()) {
              std::size_t i = next++;
              Pair& p = pairs_[i];
              p.site = "site" + std::to_string(i % static_cast<std::size_t>(o_.queues));
              std::string name = "V" + std::to_string(i);
              auto c = co_await start_conversation(http, p.site, name);
              p.conversation = c.conversation;
              p.token = c.token;
              conv_to_pair_[p.conversation] = static_cast<int>(i);
              p.ws = WsClient::make(ex2);
              Endpoint t = target(i);
              co_await p.ws->connect(t);
              p.ws->on_message([this, i](std::string_view m) { on_visitor(static_cast<int>(i), m); });
              p.ws->on_close([this, i](const std::string& why) { on_closed("visitor" + std::to_string(i), why); });
              p.ws->start();
              p.ws->send(hello_visitor(p.conversation, p.token));
            }
          },
          [&finished, &failure](std::exception_ptr e) {
            if (e && !failure) failure = e;
            ++finished;
          });
    }
    co_await wait_until([&] { return finished == workers || broken_; }, 120s, "conversations to be created");
    if (broken_) throw std::runtime_error("relay setup: a connection closed: " + closed_.front());
    if (failure) std::rethrow_exception(failure);
    co_await wait_until(
        [this] {
          for (const Pair& p : pairs_) {
            if (!p.visitor_synced || !assigned_.count(p.conversation) || !agent_synced_.count(p.conversation))
              return false;
          }
          return true;
        },
        60s, "every pair to be connected, assigned and synced (enough agents and capacity?)");
    if (!setup_errors_.empty()) throw std::runtime_error("relay setup: " + setup_errors_.front());
    // Let the setup's own traffic (assignments, queue updates to every agent) drain
    // before the first run: nothing received for 300 ms.
    co_await wait_until([this] { return now_ns() - last_received_ > 300'000'000; }, 30s, "the setup traffic to drain");
    for (Pair& p : pairs_) p.agent = assigned_[p.conversation];
    pair_count_ = pairs_.size();
    log("relay: " + std::to_string(pairs_.size()) + " pairs ready");
  }

  net::awaitable<void> teardown() override {
    running_ = false;
    tearing_down_ = true;
    for (auto& p : pairs_)
      if (p.ws) p.ws->abort();
    for (auto& a : agents_)
      if (a.ws) a.ws->abort();
    co_await sleep_for(50ms);
    if (server_) {
      int status = server_->stop();
      if (status != 0) log("relay: baton serve exited with status " + std::to_string(status));
    }
    pairs_.clear();
    agents_.clear();
    tearing_down_ = false;
  }

  json::object setup_json() const override {
    return json::object{{"pairs", o_.pairs},
                        {"agents", agents_count_},
                        {"capacity", o_.capacity},
                        {"queues", o_.queues},
                        {"agents_per_queue", agents_count_ / o_.queues},
                        {"text_bytes", o_.text_bytes},
                        {"send_tick_us", o_.send_tick_us},
                        {"source_addresses", sources_.size()},
                        {"server_threads", o_.common.server_threads}};
  }

  // ---- messages from the server ----

  void on_agent(int a, std::string_view msg) {
    last_received_ = now_ns();
    if (running_) return on_run(true, msg);
    Agent& agent = agents_[static_cast<std::size_t>(a)];
    auto type = event_type(msg);
    if (type == "welcome") {
      agent.welcomed = true;
    } else if (type == "conversation" || type == "desk") {
      auto v = json::parse(msg);
      std::vector<const json::object*> convs;
      if (type == "conversation") {
        convs.push_back(&v.at("conversation").as_object());
      } else {
        for (const auto& c : v.at("conversations").as_array()) convs.push_back(&c.as_object());
      }
      for (const auto* c : convs) {
        std::string id(c->at("id").as_string());
        if (c->at("state").as_string() == "active" && c->at("agent").as_string() == agent.name &&
            agent.subscribed.insert(id).second) {
          assigned_[id] = a;
          agent.ws->send(subscribe(id));
        }
      }
    } else if (type == "synced") {
      agent_synced_.insert(std::string(string_field(msg, "conversation")));
    } else if (type == "error") {
      setup_errors_.emplace_back(msg);
    }
  }

  void on_visitor(int i, std::string_view msg) {
    last_received_ = now_ns();
    if (running_) return on_run(false, msg);
    auto type = event_type(msg);
    if (type == "synced") pairs_[static_cast<std::size_t>(i)].visitor_synced = true;
    else if (type == "error") setup_errors_.emplace_back(msg);
  }

  // Hot path: everything a socket receives while a run is going.
  void on_run(bool at_agent, std::string_view msg) {
    auto type = event_type(msg);
    if (type == "event") {
      auto cid = string_field(msg, "client_id");
      if (cid.empty()) return;  // joined, left...
      std::size_t pair = pair_of(cid);
      bool ok = pair < pairs_.size() && string_field(msg, "conversation") == pairs_[pair].conversation;
      on_delivered(at_agent, cid, ok);
    } else if (type == "ack") {
      on_acked(string_field(msg, "client_id"), msg.find("\"duplicate\":true") != std::string_view::npos);
    } else if (type == "error") {
      on_refused(string_field(msg, "client_id"), std::string(string_field(msg, "code")));
    }
  }

  int agents_count_ = 0;
  std::vector<std::string> sources_;
  std::string password_;
  std::unique_ptr<ServerProcess> server_;
  std::vector<Agent> agents_;
  std::vector<Pair> pairs_;
  std::unordered_map<std::string, int> conv_to_pair_;
  std::unordered_map<std::string, int> assigned_;  // conversation -> agent index
  std::unordered_set<std::string> agent_synced_;
  std::vector<std::string> setup_errors_;
};

}  // namespace

json::object run_relay(const RelayOptions& o) {
  net::io_context io(1);
  Relay relay(o);
  return loopback::run_to_end(io, relay.main());
}

}  // namespace baton::bench
