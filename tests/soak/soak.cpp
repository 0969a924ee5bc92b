#include "soak.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <unordered_map>

#include "loopback/client.hpp"
#include "loopback/run.hpp"
#include "servers.hpp"
#include "series.hpp"

namespace baton::soak {

namespace net = boost::asio;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using loopback::Endpoint;
using loopback::form_escape;
using loopback::HttpClient;
using loopback::Reply;
using loopback::Request;
using loopback::WsClient;

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr const char* kPassword = "soak-password";
constexpr const char* kPartner = "partner";
// A request that takes longer than this is a failure of the server, not a slow soak.
const loopback::HttpOptions kHttp{.user_agent = "baton-soak", .timeout = std::chrono::seconds(60)};

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void say(const std::string& line) {
  static const auto start = Clock::now();
  char buf[24];
  std::snprintf(buf, sizeof buf, "[%7.1f] ", since(start));
  std::cerr << buf << line << std::endl;
}

// One coroutine waits on it for a condition that message handlers change; they
// call notify() after each change. Single-threaded, so nothing is missed
// between the check and the wait.
class Waker {
 public:
  explicit Waker(net::any_io_executor ex) : timer_(std::move(ex)) {}
  void notify() { timer_.cancel(); }
  template <typename Pred>
  net::awaitable<bool> until(Pred pred, Clock::time_point deadline) {
    while (!pred()) {
      if (Clock::now() >= deadline) co_return false;
      timer_.expires_at(deadline);
      co_await timer_.async_wait(kTuple);
    }
    co_return true;
  }

 private:
  net::steady_timer timer_;
};

net::awaitable<void> pause_until(Clock::time_point t) {
  net::steady_timer timer(co_await net::this_coro::executor, t);
  co_await timer.async_wait(kTuple);
}

// The type of a server event: it is written first ({"type":"..."}).
std::string_view type_of(std::string_view msg) {
  constexpr std::string_view head = "{\"type\":\"";
  if (msg.substr(0, head.size()) != head) return {};
  auto end = msg.find('"', head.size());
  return end == std::string_view::npos ? std::string_view{} : msg.substr(head.size(), end - head.size());
}

// The string value of the first `"key":"` in a server event, unescaped as is: for
// the hot path, where the soak's own ids and texts never hold quotes.
std::string_view quick_string(std::string_view msg, std::string_view key) {
  for (std::size_t from = 0;;) {
    auto p = msg.find(key, from);
    if (p == std::string_view::npos) return {};
    from = p + key.size();
    if (p == 0 || msg[p - 1] != '"' || msg.substr(from, 3) != "\":\"") continue;
    auto start = from + 3, end = msg.find('"', start);
    return end == std::string_view::npos ? std::string_view{} : msg.substr(start, end - start);
  }
}

std::int64_t quick_int(std::string_view msg, std::string_view key) {
  for (std::size_t from = 0;;) {
    auto p = msg.find(key, from);
    if (p == std::string_view::npos) return -1;
    from = p + key.size();
    if (p == 0 || msg[p - 1] != '"' || msg.substr(from, 2) != "\":") continue;
    std::int64_t v = 0;
    bool any = false;
    for (auto i = from + 2; i < msg.size() && msg[i] >= '0' && msg[i] <= '9'; ++i, any = true) v = v * 10 + (msg[i] - '0');
    return any ? v : -1;
  }
}

std::string str(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

std::int64_t num(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_int64() ? it->value().as_int64() : -1;
}

Request json_post(std::string target, const json::object& body) {
  return loopback::post(std::move(target), json::serialize(body), "application/json");
}

Request form_post(std::string target, std::string form) {
  return loopback::post(std::move(target), std::move(form), "application/x-www-form-urlencoded");
}

// A fixed set of keep-alive connections to one server, handed out in turn.
class Pool {
 public:
  Pool(net::any_io_executor ex, std::uint16_t port, const std::vector<std::string>& sources, int size) : ex_(ex) {
    for (int i = 0; i < size; ++i) {
      clients_.push_back(std::make_unique<HttpClient>(ex, Endpoint{port, sources[i % sources.size()]}, kHttp));
      free_.push_back(i);
    }
  }
  // REQUIRES: `r` outlives the co_await (see loopback/client.hpp).
  net::awaitable<Reply> request(const Request& r) {
    while (free_.empty()) {
      auto t = std::make_shared<net::steady_timer>(ex_, Clock::time_point::max());
      waiters_.push_back(t);
      co_await t->async_wait(kTuple);
    }
    int i = free_.back();
    free_.pop_back();
    std::exception_ptr failure;
    Reply reply;
    try {
      reply = co_await clients_[static_cast<std::size_t>(i)]->request(r);
    } catch (...) {
      failure = std::current_exception();
    }
    free_.push_back(i);
    if (!waiters_.empty()) {
      waiters_.front()->cancel();
      waiters_.pop_front();
    }
    if (failure) std::rethrow_exception(failure);
    co_return reply;
  }
  int connected() const {
    int n = 0;
    for (const auto& c : clients_) n += c->connected() ? 1 : 0;
    return n;
  }
  // Closes every connection; returns how many were open.
  int close_all() {
    int n = 0;
    for (auto& c : clients_) {
      n += c->connected() ? 1 : 0;
      c->close();
    }
    return n;
  }

 private:
  net::any_io_executor ex_;
  std::vector<std::unique_ptr<HttpClient>> clients_;
  std::vector<int> free_;
  std::deque<std::shared_ptr<net::steady_timer>> waiters_;
};

enum Kind { kNone = 0, kToAgent = 1, kToQueue = 2, kToPartner = 3 };
const char* kind_name(int k) {
  static const char* names[] = {"none", "agent", "queue", "partner"};
  return names[k];
}

struct Chat {
  explicit Chat(net::any_io_executor ex) : waker(std::move(ex)) {}
  int slot = 0;
  int life = 0;
  int server = 0;  // where the visitor is now: 0 origin, 1 partner
  std::string id, token, queue;
  std::uint32_t conv = 0;  // index in Soak::conv_ids_
  std::shared_ptr<WsClient> ws;
  bool ws_open = false;
  bool synced = false;
  std::int64_t last_seq = 0;
  int owner = -1;  // agent index, from the agents' conversation events
  bool moved = false;      // "move" received
  bool closed_ok = false;  // "ok" to our close
  int outstanding = 0;     // messages not yet both acknowledged and delivered
  bool confirmed = false;  // transfer.confirm sent (partner)
  std::string transfer_failed;
  std::string error;
  std::vector<std::string> trace;  // what the agents saw of it, for a failure's report
  Waker waker;
  void note(std::string line) {
    if (trace.size() < 40) trace.push_back(std::move(line));
  }
};

struct Agent {
  struct Stream {
    std::int64_t last_seq = 0;
    bool subscribed = false;
    bool synced = false;
  };
  int server = 0;
  std::string name, token;
  std::shared_ptr<WsClient> ws;
  bool welcomed = false;
  bool closed = false;
  std::unordered_map<std::string, Stream> streams;
};

struct Msg {
  Chat* chat = nullptr;
  std::uint32_t conv = 0;
  int sender = -1;    // agent index, -1 = the visitor
  int receiver = -1;  // agent index, -1 = the visitor
  std::uint8_t acks = 0;
  std::uint8_t deliveries = 0;
  std::uint8_t retries = 0;
  bool complete = false;
};

struct TransferCount {
  std::int64_t done = 0, failed = 0;
};

class Soak {
 public:
  explicit Soak(Options o) : o_(std::move(o)) {
    for (int i = 1; i <= std::max(1, o_.sources); ++i) sources_.push_back("127.0.0." + std::to_string(i));
  }

  // After a failed setup: drops every connection and stops the servers, so that
  // the io_context runs out of work.
  void shutdown() {
    sampling_ = false;
    stopping_ = true;
    stopping_servers_ = true;
    for (auto& c : chats_)
      if (c->ws) c->ws->abort();
    for (auto& a : agents_)
      if (a.ws) a.ws->abort();
    for (auto& p : pools_) p->close_all();
    for (auto& s : servers_) s->stop();
  }

  net::awaitable<json::object> main() {
    ex_ = co_await net::this_coro::executor;
    main_waker_ = std::make_unique<Waker>(ex_);
    co_await setup();
    co_await soak();
    co_return co_await finish();
  }

 private:
  // ---------------------------------------------------------------- setup

  int queue_count(int conversations) const {
    double need = conversations * o_.spare / o_.capacity;
    int agents = std::max(o_.agents_per_queue, static_cast<int>(need + 0.999));
    return (agents + o_.agents_per_queue - 1) / o_.agents_per_queue;
  }

  net::awaitable<void> setup() {
    std::string hash = password_hash(kPassword);
    int kinds = o_.federation ? 4 : 3;
    origin_queues_ = queue_count(o_.conversations);
    ServerConf oc;
    oc.baton = o_.baton;
    oc.dir = o_.workdir + "/origin";
    oc.organization = "Origin Bank";
    oc.password_hash = hash;
    oc.federation = o_.federation;
    oc.threads = o_.server_threads;
    for (int q = 0; q < origin_queues_; ++q) oc.queues.push_back("Q" + std::to_string(q));
    for (int a = 0; a < origin_queues_ * o_.agents_per_queue; ++a)
      oc.agents.push_back(AgentConf{"oa" + std::to_string(a), {"Q" + std::to_string(a / o_.agents_per_queue)}, o_.capacity});
    servers_.push_back(std::make_unique<Server>(oc));
    if (o_.federation) {
      // At most a quarter of the slots are at the partner at once (one lifetime in `kinds`).
      partner_queues_ = queue_count((o_.conversations + kinds - 1) / kinds);
      ServerConf pc = oc;
      pc.dir = o_.workdir + "/partner";
      pc.organization = "Partner Insurance";
      pc.queues.clear();
      pc.agents.clear();
      for (int q = 0; q < partner_queues_; ++q) pc.queues.push_back("P" + std::to_string(q));
      for (int a = 0; a < partner_queues_ * o_.agents_per_queue; ++a)
        pc.agents.push_back(AgentConf{"pa" + std::to_string(a), {"P" + std::to_string(a / o_.agents_per_queue)}, o_.capacity});
      servers_.push_back(std::make_unique<Server>(pc));
      // Peered both ways, as in `baton demo`: the origin may send visitors into the
      // partner's queues, and each pins the other's key.
      servers_[0]->add_peer(PeerConf{kPartner, "Partner Insurance", servers_[1]->base_url(), servers_[1]->public_key(), {}});
      servers_[1]->add_peer(PeerConf{"origin", "Origin Bank", servers_[0]->base_url(), servers_[0]->public_key(), pc.queues});
    }
    for (auto& s : servers_) {
      s->start();
      say(s->organization() + ": baton serve pid " + std::to_string(s->pid()) + " on " + s->base_url());
    }
    for (auto& s : servers_) pools_.push_back(std::make_unique<Pool>(ex_, s->port(), sources_, 16));

    // Agents: signed in, connected, online.
    for (std::size_t s = 0; s < servers_.size(); ++s) {
      int n = (s == 0 ? origin_queues_ : partner_queues_) * o_.agents_per_queue;
      for (int a = 0; a < n; ++a) {
        Agent ag;
        ag.server = static_cast<int>(s);
        ag.name = (s == 0 ? "oa" : "pa") + std::to_string(a);
        agents_.push_back(std::move(ag));
      }
    }
    int pending = static_cast<int>(agents_.size());
    std::string first_error;
    for (std::size_t i = 0; i < agents_.size(); ++i) {
      net::co_spawn(ex_, connect_agent(static_cast<int>(i)), [&, i](std::exception_ptr e) {
        if (e && first_error.empty()) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            first_error = agents_[i].name + ": " + ex.what();
          }
        }
        --pending;
        main_waker_->notify();
      });
    }
    co_await main_waker_->until([&] { return pending == 0; }, Clock::now() + 120s);
    if (!first_error.empty()) throw std::runtime_error("agent setup: " + first_error);
    bool all = co_await main_waker_->until(
        [&] { return std::all_of(agents_.begin(), agents_.end(), [](const Agent& a) { return a.welcomed; }); },
        Clock::now() + 60s);
    if (!all) throw std::runtime_error("agent setup: not every agent was welcomed within 60 s");
    say("servers up: " + std::to_string(origin_queues_) + " queues at the origin, " +
        std::to_string(partner_queues_) + " at the partner, " + std::to_string(agents_.size()) +
        " agents of capacity " + std::to_string(o_.capacity));
    // The baseline of open descriptors: agents connected, no visitor, no HTTP connection.
    co_await close_http_and_settle();
    for (auto& s : servers_) baseline_fds_.push_back(s->open_fds());
  }

  net::awaitable<void> connect_agent(int i) {
    Agent& a = agents_[static_cast<std::size_t>(i)];
    Request req = json_post("/api/agent/session", json::object{{"username", a.name}, {"password", kPassword}});
    auto r = co_await pools_[static_cast<std::size_t>(a.server)]->request(req);
    if (r.status != 200) throw std::runtime_error("sign-in: HTTP " + std::to_string(r.status) + " " + r.body);
    a.token = std::string(json::parse(r.body).at("token").as_string());
    a.ws = WsClient::make(ex_);
    // A named endpoint: GCC 12 destroys a braced temporary passed to a coroutine twice.
    Endpoint ep;
    ep.port = servers_[static_cast<std::size_t>(a.server)]->port();
    ep.source = sources_[static_cast<std::size_t>(i) % sources_.size()];
    co_await a.ws->connect(ep);
    a.ws->on_message([this, i](std::string_view m) { on_agent(i, m); });
    a.ws->on_close([this, i](const std::string& why) {
      Agent& ag = agents_[static_cast<std::size_t>(i)];
      ag.closed = true;
      if (!stopping_servers_) fail_global("agent " + ag.name + "'s socket closed: " + why);
    });
    a.ws->start();
    json::object hello{{"type", "hello"}, {"role", "agent"}, {"token", a.token}};
    a.ws->send(json::serialize(hello));
  }

  // Closes the HTTP pools and waits until the servers have closed their side.
  net::awaitable<void> close_http_and_settle() {
    std::vector<std::int64_t> before;
    std::vector<int> closed;
    for (std::size_t s = 0; s < servers_.size(); ++s) {
      before.push_back(servers_[s]->open_fds());
      closed.push_back(pools_[s]->close_all());
    }
    auto deadline = Clock::now() + 10s;
    net::steady_timer t(ex_);
    for (std::size_t s = 0; s < servers_.size(); ++s) {
      // Polled: the server closing a socket is not observable from here otherwise.
      while (servers_[s]->open_fds() > before[s] - closed[s] && Clock::now() < deadline) {
        t.expires_after(20ms);
        co_await t.async_wait(kTuple);
      }
    }
  }

  // ---------------------------------------------------------------- the run

  net::awaitable<void> soak() {
    // Starts spread over one lifetime, so that transfers do not come in waves.
    if (o_.ramp_s < 0) o_.ramp_s = 2 * o_.messages_per_phase * o_.message_interval_s;
    t0_ = Clock::now();
    net::co_spawn(ex_, sampler(), net::detached);
    say("soak: " + std::to_string(o_.conversations) + " conversations for " + std::to_string(static_cast<int>(o_.seconds)) +
        " s, a message every " + std::to_string(o_.message_interval_s).substr(0, 4) + " s each" +
        (o_.federation ? ", with a partner server" : ", one server"));
    slots_left_ = o_.conversations;
    for (int s = 0; s < o_.conversations; ++s) net::co_spawn(ex_, slot_loop(s), net::detached);
    end_ = t0_ + std::chrono::milliseconds(static_cast<long long>(o_.seconds * 1000));
    co_await pause_until(end_);
    stopping_ = true;
    say("soak: time is up; finishing the conversations in progress");
    for (auto& c : chats_) c->waker.notify();
    bool done = co_await main_waker_->until([&] { return slots_left_ == 0; },
                                            Clock::now() + std::chrono::milliseconds(static_cast<long long>(o_.settle_s * 1000)));
    if (!done) fail_global(std::to_string(slots_left_) + " conversations did not finish within the settle time");
    // Deliveries still under way (there should be none: each lifetime drains).
    co_await main_waker_->until([&] { return incomplete() == 0; }, Clock::now() + 30s);
    sampling_ = false;
    run_end_ = Clock::now();
  }

  std::int64_t incomplete() const {
    std::int64_t n = 0;
    for (const auto& c : chats_) n += c->outstanding;
    return n;
  }

  net::awaitable<void> slot_loop(int slot) {
    co_await pause_until(t0_ + std::chrono::milliseconds(static_cast<long long>(o_.ramp_s * 1000.0 * slot / o_.conversations)));
    int kinds = o_.federation ? 4 : 3;
    for (int life = 0; !stopping_; ++life) {
      chats_.push_back(std::make_unique<Chat>(ex_));
      Chat& c = *chats_.back();
      c.slot = slot;
      c.life = life;
      int kind = (slot + life) % kinds;
      std::string failure;
      try {
        failure = co_await lifetime(c, kind);
      } catch (const std::exception& e) {
        failure = std::string("exception: ") + e.what();
      }
      if (!failure.empty()) {
        ++chat_failures_[failure.substr(0, failure.find(':'))];
        if (failure_examples_.size() < 20) {
          std::string trace;
          if (failure_examples_.size() < 3)
            for (const auto& t : c.trace) trace += "\n      " + t;
          failure_examples_.push_back("slot " + std::to_string(slot) + " life " + std::to_string(life) + " (" +
                                      kind_name(kind) + ", " + c.id + "): " + failure + trace);
        }
      }
      if (c.ws) {
        c.ws->abort();
        c.ws.reset();
        c.ws_open = false;
      }
    }
    --slots_left_;
    main_waker_->notify();
  }

  // One conversation from creation to close; the reason it failed, or "".
  net::awaitable<std::string> lifetime(Chat& c, int kind) {
    std::string queue = "Q" + std::to_string(c.slot % origin_queues_);
    Request req = json_post("/api/visitor/conversations",
                            json::object{{"site", Server::site_of(queue)}, {"name", "Visitor " + std::to_string(c.slot)}});
    auto r = co_await pools_[0]->request(req);
    if (r.status != 201) co_return "create: HTTP " + std::to_string(r.status) + " " + r.body;
    auto v = json::parse(r.body).as_object();
    ++created_;
    std::string id = str(v, "conversation"), token = str(v, "token");
    co_await open_visitor(c, 0, id, token);
    std::function<bool()> any_agent;
    if (auto f = co_await wait_served(c, any_agent); !f.empty()) co_return "first agent: " + f;

    if (auto f = co_await chat(c); !f.empty()) co_return f;
    if (kind != kNone && !stopping_) {
      if (auto f = co_await drain(c); !f.empty()) co_return "before the transfer: " + f;
      std::string f;
      if (kind == kToAgent) f = co_await to_agent(c);
      if (kind == kToQueue) f = co_await to_queue(c);
      if (kind == kToPartner) f = co_await to_partner(c);
      auto& count = transfers_[kind_name(kind)];
      if (!f.empty()) {
        ++count.failed;
        co_return std::string("transfer to ") + kind_name(kind) + ": " + f;
      }
      ++count.done;
      if (auto f2 = co_await chat(c); !f2.empty()) co_return f2;
    }
    if (auto f = co_await drain(c); !f.empty()) co_return "before closing: " + f;
    c.ws->send(R"({"type":"close"})");
    if (!co_await c.waker.until([&] { return c.closed_ok || !c.error.empty(); }, Clock::now() + 30s))
      co_return "close: no answer within 30 s";
    if (!c.error.empty()) co_return "close: " + c.error;
    ++closed_;
    c.ws->close();
    if (!co_await c.waker.until([&] { return !c.ws_open; }, Clock::now() + 15s))
      co_return "close: the socket did not close within 15 s";
    co_return "";
  }

  net::awaitable<void> open_visitor(Chat& c, int server, const std::string& id, const std::string& token) {
    c.server = server;
    c.id = id;
    c.token = token;
    c.conv = static_cast<std::uint32_t>(conv_ids_.size());
    conv_ids_.push_back(c.id);
    by_id_[c.id] = &c;
    c.synced = false;
    c.last_seq = 0;
    // The router may have given it to an agent before we knew its id (in the POST).
    c.owner = -1;
    settle_owner(c.id);
    c.ws = WsClient::make(ex_);
    Endpoint ep;
    ep.port = servers_[static_cast<std::size_t>(server)]->port();
    ep.source = sources_[static_cast<std::size_t>(c.slot) % sources_.size()];
    co_await c.ws->connect(ep);
    c.ws_open = true;
    Chat* cp = &c;
    WsClient* raw = c.ws.get();
    c.ws->on_message([this, cp, raw](std::string_view m) {
      if (cp->ws.get() == raw) on_visitor(*cp, m);
    });
    c.ws->on_close([cp, raw](const std::string&) {
      if (cp->ws.get() != raw) return;
      cp->ws_open = false;
      cp->waker.notify();
    });
    c.ws->start();
    json::object hello{{"type", "hello"}, {"role", "visitor"}, {"conversation", c.id}, {"token", c.token}, {"last_seq", 0}};
    c.ws->send(json::serialize(hello));
  }

  // Until the visitor is synced and an agent owns the conversation, has its stream
  // synced, and `done` holds (the transfer's own condition).
  net::awaitable<std::string> wait_served(Chat& c, const std::function<bool()>& done) {
    bool ok = co_await c.waker.until(
        [&] {
          if (!c.error.empty() || !c.transfer_failed.empty() || !c.ws_open) return true;
          if (!c.synced || c.owner < 0 || (done && !done())) return false;
          const Agent& a = agents_[static_cast<std::size_t>(c.owner)];
          auto it = a.streams.find(c.id);
          return it != a.streams.end() && it->second.synced;
        },
        Clock::now() + 90s);
    if (!c.error.empty()) co_return c.error;
    if (!c.transfer_failed.empty()) co_return c.transfer_failed;
    if (!c.ws_open) co_return "the visitor's socket closed";
    if (!ok) co_return "no agent within 90 s (synced " + std::to_string(c.synced) + ", owner " + std::to_string(c.owner) + ")";
    co_return "";
  }

  net::awaitable<std::string> chat(Chat& c) {
    auto interval = std::chrono::milliseconds(static_cast<long long>(o_.message_interval_s * 1000));
    auto next = Clock::now();
    for (int i = 0; i < o_.messages_per_phase && !stopping_; ++i) {
      next += interval;
      co_await c.waker.until([&] { return stopping_ || !c.ws_open || !c.error.empty(); }, next);
      if (!c.error.empty()) co_return c.error;
      if (!c.ws_open) co_return "the visitor's socket closed";
      if (stopping_) break;
      if (c.owner < 0) co_return "nobody owns the conversation mid-chat";
      send_message(c, i % 2 == 0 ? -1 : c.owner);
    }
    co_return "";
  }

  net::awaitable<std::string> drain(Chat& c) {
    bool ok = co_await c.waker.until([&] { return c.outstanding == 0 || !c.error.empty(); }, Clock::now() + 60s);
    if (!c.error.empty()) co_return c.error;
    if (!ok) co_return std::to_string(c.outstanding) + " messages not acknowledged and delivered within 60 s";
    co_return "";
  }

  int pick_agent(const Chat& c) const {
    // Another agent on the same server, in turn.
    std::vector<int> same;
    for (std::size_t i = 0; i < agents_.size(); ++i)
      if (agents_[i].server == c.server && static_cast<int>(i) != c.owner) same.push_back(static_cast<int>(i));
    return same[static_cast<std::size_t>(c.slot + c.life) % same.size()];
  }

  net::awaitable<std::string> to_agent(Chat& c) {
    int target = pick_agent(c);
    json::object req{{"type", "transfer"}, {"conversation", c.id},
                     {"to", json::object{{"agent", agents_[static_cast<std::size_t>(target)].name}}},
                     {"note", "soak: please take over"}};
    agents_[static_cast<std::size_t>(c.owner)].ws->send(json::serialize(req));
    std::function<bool()> with_target = [&c, target] { return c.owner == target; };
    co_return co_await wait_served(c, with_target);
  }

  net::awaitable<std::string> to_queue(Chat& c) {
    int n = c.server == 0 ? origin_queues_ : partner_queues_;
    int current = c.queue.size() > 1 ? std::atoi(c.queue.c_str() + 1) : 0;
    std::string queue = std::string(c.server == 0 ? "Q" : "P") + std::to_string((current + 1) % n);
    json::object req{{"type", "transfer"}, {"conversation", c.id}, {"to", json::object{{"queue", queue}}},
                     {"note", "soak: for the next queue"}};
    agents_[static_cast<std::size_t>(c.owner)].ws->send(json::serialize(req));
    // Whoever the router picks in that queue, maybe the same agent again.
    std::function<bool()> in_queue = [&c, queue] { return c.queue == queue; };
    co_return co_await wait_served(c, in_queue);
  }

  // What the console, the chat page, the transfer page and the join page do.
  net::awaitable<std::string> to_partner(Chat& c) {
    json::object req{{"type", "transfer"}, {"conversation", c.id}, {"to", json::object{{"peer", kPartner}}}};
    agents_[static_cast<std::size_t>(c.owner)].ws->send(json::serialize(req));
    bool ok = co_await c.waker.until([&] { return c.moved || !c.transfer_failed.empty() || !c.error.empty() || !c.ws_open; },
                                     Clock::now() + 60s);
    if (!c.transfer_failed.empty()) co_return c.transfer_failed;
    if (!c.error.empty()) co_return c.error;
    if (!ok || !c.moved) co_return "no move within 60 s";
    // The chat page submits the move form, navigating away: its socket closes.
    std::string form = "conversation=" + form_escape(c.id) + "&token=" + form_escape(c.token);
    c.ws->close();
    Request move_req = form_post("/transfer", form);
    auto page = co_await pools_[0]->request(move_req);
    if (page.status != 200) co_return "transfer page: HTTP " + std::to_string(page.status);
    std::string refresh = page.header("refresh");
    auto at = refresh.find("#code=");
    if (at == std::string::npos) co_return "transfer page without a join code";
    std::string code = refresh.substr(at + 6);
    Request join_req = form_post("/join", "code=" + form_escape(code));
    auto joined = co_await pools_[1]->request(join_req);
    if (joined.status != 303) co_return "join: HTTP " + std::to_string(joined.status);
    std::string cookie = joined.header("set-cookie");
    cookie = cookie.substr(0, cookie.find(';'));
    Request handoff_req;
    handoff_req.method = "POST";
    handoff_req.target = "/api/visitor/handoff";
    handoff_req.headers.emplace_back("Cookie", cookie);
    auto handoff = co_await pools_[1]->request(handoff_req);
    if (handoff.status != 200) co_return "handoff: HTTP " + std::to_string(handoff.status);
    auto v = json::parse(handoff.body).as_object();
    if (c.ws) c.ws->abort();
    std::string id = str(v, "conversation"), token = str(v, "token");
    co_await open_visitor(c, 1, id, token);
    std::function<bool()> any_agent;
    co_return co_await wait_served(c, any_agent);
  }

  void send_message(Chat& c, int sender) {
    std::uint64_t k = msgs_.size();
    Msg m;
    m.chat = &c;
    m.conv = c.conv;
    m.sender = sender;
    m.receiver = sender < 0 ? c.owner : -1;
    msgs_.push_back(m);
    ++c.outstanding;
    transmit(k);
  }

  void transmit(std::uint64_t k) {
    const Msg& m = msgs_[k];
    std::string id = "s" + std::to_string(k);
    std::string text = "soak message " + std::to_string(k) + " from " + (m.sender < 0 ? "the visitor" : "the agent") +
                       ": the quick brown fox jumps over the lazy dog";
    json::object o{{"type", "message"}, {"client_id", id}, {"text", text}};
    if (m.sender < 0) {
      if (m.chat->ws) m.chat->ws->send(json::serialize(o));
    } else {
      o["conversation"] = conv_ids_[m.conv];
      agents_[static_cast<std::size_t>(m.sender)].ws->send(json::serialize(o));
    }
  }

  // ---------------------------------------------------------------- what arrives

  static std::int64_t message_index(std::string_view client_id) {
    if (client_id.size() < 2 || client_id[0] != 's') return -1;
    std::int64_t k = 0;
    for (char ch : client_id.substr(1)) {
      if (ch < '0' || ch > '9') return -1;
      k = k * 10 + (ch - '0');
    }
    return k;
  }

  void maybe_complete(Msg& m) {
    if (m.complete || m.acks == 0 || m.deliveries == 0) return;
    m.complete = true;
    --m.chat->outstanding;
    m.chat->waker.notify();
  }

  // An event with our client id reached `receiver` (agent index, -1 = visitor).
  void delivered(std::string_view conversation, std::string_view client_id, int receiver) {
    std::int64_t k = message_index(client_id);
    if (k < 0) return;
    if (static_cast<std::uint64_t>(k) >= msgs_.size()) {
      ++stray_;
      return;
    }
    Msg& m = msgs_[static_cast<std::size_t>(k)];
    if (conv_ids_[m.conv] != conversation) {
      ++misrouted_;
      return;
    }
    if (m.receiver != receiver) return;  // the sender's own copy, or a former owner's
    if (m.deliveries < 255) ++m.deliveries;
    if (m.deliveries == 1) ++delivered_;
    if (m.deliveries == 2) ++duplicated_;
    maybe_complete(m);
  }

  void acked(const json::object& a) {
    std::int64_t k = message_index(str(a, "client_id"));
    if (k < 0 || static_cast<std::uint64_t>(k) >= msgs_.size()) return;
    Msg& m = msgs_[static_cast<std::size_t>(k)];
    auto d = a.find("duplicate");
    if (d != a.end() && d->value().is_bool() && d->value().as_bool()) ++duplicate_acks_;
    if (m.acks < 255) ++m.acks;
    if (m.acks == 1) ++acked_;
    if (m.acks == 2) ++repeated_acks_;
    maybe_complete(m);
  }

  // An error event. Messages refused for flow control are sent again, as the chat
  // page does; any other refusal fails the conversation.
  void refused(const json::object& e, Chat* chat) {
    std::string code = str(e, "code");
    ++errors_[code];
    std::int64_t k = message_index(str(e, "client_id"));
    if (k >= 0 && static_cast<std::uint64_t>(k) < msgs_.size() && (code == "rate_limited" || code == "unavailable")) {
      Msg& m = msgs_[static_cast<std::size_t>(k)];
      if (m.retries < 20) {
        ++m.retries;
        ++resent_;
        net::co_spawn(ex_, resend(static_cast<std::uint64_t>(k)), net::detached);
        return;
      }
    }
    if (k >= 0 && static_cast<std::uint64_t>(k) < msgs_.size()) chat = msgs_[static_cast<std::size_t>(k)].chat;
    if (chat && chat->error.empty()) {
      chat->error = "error " + code + ": " + str(e, "message") + " (in reply to " + str(e, "in_reply_to") + ")";
      chat->waker.notify();
    } else if (!chat) {
      fail_global("error " + code + ": " + str(e, "message"));
    }
  }

  net::awaitable<void> resend(std::uint64_t k) {
    co_await pause_until(Clock::now() + 250ms);
    transmit(k);
  }

  Chat* chat_of(const std::string& id) {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second;
  }

  void on_visitor(Chat& c, std::string_view msg) {
    auto type = type_of(msg);
    if (type == "position" || type == "typing" || type == "welcome" || type == "pong") return;
    if (type == "event") {
      std::int64_t seq = quick_int(msg, "seq");
      if (seq <= c.last_seq) ++out_of_order_;
      c.last_seq = std::max(c.last_seq, seq);
      delivered(quick_string(msg, "conversation"), quick_string(msg, "client_id"), -1);
      return;
    }
    auto v = json::parse(msg);
    const auto& o = v.as_object();
    if (type == "synced") {
      c.synced = true;
      c.waker.notify();
    } else if (type == "ack") {
      acked(o);
    } else if (type == "move") {
      c.moved = true;
      c.waker.notify();
    } else if (type == "ok") {
      if (str(o, "in_reply_to") == "close") {
        c.closed_ok = true;
        c.waker.notify();
      }
    } else if (type == "error") {
      refused(o, &c);
    }
  }

  void on_agent(int i, std::string_view msg) {
    Agent& a = agents_[static_cast<std::size_t>(i)];
    auto type = type_of(msg);
    if (type == "queues" || type == "typing" || type == "desk" || type == "status" || type == "pong") return;
    if (type == "welcome") {
      a.welcomed = true;
      main_waker_->notify();
      return;
    }
    // The hot path without a full parse: events, and the many conversation updates
    // about queue-mates' conversations, which need nothing from this agent.
    if (type == "event") {
      std::string conv(quick_string(msg, "conversation"));
      auto s = a.streams.find(conv);
      if (s != a.streams.end()) {
        std::int64_t seq = quick_int(msg, "seq");
        if (seq <= s->second.last_seq) ++out_of_order_;
        s->second.last_seq = std::max(s->second.last_seq, seq);
      }
      delivered(conv, quick_string(msg, "client_id"), i);
      return;
    }
    if (type == "conversation" && msg.find("\"agent\":\"" + a.name + "\"") == std::string_view::npos) {
      std::string id(quick_string(msg, "id"));
      auto cl = claims_.find(id);
      if (!a.streams.count(id) && (cl == claims_.end() || !cl->second.count(i))) return;
    }
    auto v = json::parse(msg);
    const auto& o = v.as_object();
    if (type == "ack") {
      acked(o);
    } else if (type == "synced") {
      std::string conv = str(o, "conversation");
      auto s = a.streams.find(conv);
      if (s != a.streams.end() && s->second.subscribed) {
        s->second.synced = true;
        s->second.last_seq = std::max(s->second.last_seq, num(o, "seq"));
      }
      if (Chat* c = chat_of(conv)) c->waker.notify();
    } else if (type == "conversation") {
      on_conversation(i, o.at("conversation").as_object());
    } else if (type == "transfer") {
      on_transfer(i, o.at("transfer").as_object());
    } else if (type == "error") {
      refused(o, chat_of(str(o, "conversation")));
    }
  }

  // Who owns what, as the console learns it: subscribe to what is ours, let go of
  // what is not ours any more. Each agent's socket is in order, but two agents'
  // sockets are not in order with each other: after a transfer the new owner may
  // hear of it before the old owner's last view of "mine" arrives. So each agent
  // claims what its own latest view says it owns, and a conversation has an owner
  // only while exactly one agent claims it.
  void on_conversation(int i, const json::object& c) {
    Agent& a = agents_[static_cast<std::size_t>(i)];
    std::string id = str(c, "id"), state = str(c, "state"), owner = str(c, "agent");
    Chat* chat = chat_of(id);
    bool live = state == "waiting" || state == "active" || state == "transferring";
    bool mine = (state == "active" || state == "transferring") && owner == a.name;
    if (chat && chat->id == id) chat->note(a.name + " sees " + state + " owned by " + owner + " in " + str(c, "queue"));
    if (mine) {
      claims_[id][i] = str(c, "queue");
      auto& s = a.streams[id];
      if (!s.subscribed) {
        s.subscribed = true;
        s.synced = false;
        json::object sub{{"type", "subscribe"}, {"conversation", id}, {"after_seq", s.last_seq}};
        a.ws->send(json::serialize(sub));
      }
    } else {
      if (auto cl = claims_.find(id); cl != claims_.end()) {
        cl->second.erase(i);
        if (cl->second.empty() || !live) claims_.erase(cl);
      }
      auto s = a.streams.find(id);
      if (s != a.streams.end()) {
        if (s->second.subscribed) {
          json::object unsub{{"type", "unsubscribe"}, {"conversation", id}};
          a.ws->send(json::serialize(unsub));
          s->second.subscribed = false;
          s->second.synced = false;
        }
        if (!live) a.streams.erase(s);
      }
    }
    settle_owner(id);
  }

  void settle_owner(const std::string& id) {
    Chat* chat = chat_of(id);
    if (!chat || chat->id != id) return;
    auto cl = claims_.find(id);
    int owner = -1;
    if (cl != claims_.end() && cl->second.size() == 1) {
      owner = cl->second.begin()->first;
      chat->queue = cl->second.begin()->second;
    }
    chat->owner = owner;
    chat->waker.notify();
  }

  void on_transfer(int i, const json::object& t) {
    Agent& a = agents_[static_cast<std::size_t>(i)];
    std::string kind = str(t, "kind"), state = str(t, "state"), id = str(t, "id");
    Chat* chat = chat_of(str(t, "conversation"));
    if (chat) chat->note(a.name + " sees transfer " + kind + " " + state);
    if (kind == "agent" && state == "offered" && str(t, "to_agent") == a.name) {
      json::object accept{{"type", "transfer.accept"}, {"transfer", id}};
      a.ws->send(json::serialize(accept));
      return;
    }
    if (!chat || str(t, "from_agent") != a.name) return;
    if (kind == "peer" && state == "offering" && !chat->confirmed) {
      auto q = t.find("queues");
      if (q == t.end() || !q->value().is_array() || q->value().as_array().empty()) return;
      const auto& queues = q->value().as_array();
      const auto& pick = queues[static_cast<std::size_t>(chat->slot) % queues.size()].as_object();
      chat->confirmed = true;
      json::object confirm{{"type", "transfer.confirm"}, {"transfer", id}, {"queue", str(pick, "name")},
                           {"note", "soak: from the origin"}};
      a.ws->send(json::serialize(confirm));
      return;
    }
    if (state == "failed" || state == "expired" || state == "cancelled" || state == "declined") {
      if (chat->transfer_failed.empty()) chat->transfer_failed = kind + " transfer " + state + ": " + str(t, "reason");
      chat->waker.notify();
    }
  }

  void fail_global(const std::string& why) {
    if (global_failures_.size() < 20) global_failures_.push_back(why);
    else ++global_failures_more_;
    say("failure: " + why);
  }

  // ---------------------------------------------------------------- sampling

  net::awaitable<void> sampler() {
    auto every = std::chrono::milliseconds(static_cast<long long>(o_.sample_interval_s * 1000));
    auto next = t0_;
    int lines = 0;
    while (sampling_) {
      Sample s;
      s.t = since(t0_);
      for (std::size_t i = 0; i < servers_.size(); ++i) {
        auto& srv = servers_[i];
        s.rss.push_back(srv->rss_bytes());
        s.fds.push_back(srv->open_fds());
        // What the server must hold for us right now; the rest of its descriptors
        // (database, listener, epoll...) is what has to stay flat.
        std::int64_t conns = pools_[i]->connected();
        for (const auto& a : agents_) conns += a.server == static_cast<int>(i) && !a.closed ? 1 : 0;
        for (const auto& c : chats_) conns += c->ws_open && c->server == static_cast<int>(i) ? 1 : 0;
        s.conns.push_back(conns);
        if (srv->exited() && !stopping_servers_) fail_global(srv->organization() + ": baton serve exited during the soak");
      }
      s.sent = static_cast<std::int64_t>(msgs_.size());
      s.delivered = delivered_;
      std::int64_t at_partner = 0, open = 0;
      for (const auto& c : chats_) {
        if (c->ws_open) {
          ++open;
          at_partner += c->server;
        }
      }
      s.visitors = open;
      s.visitors_at_partner = at_partner;
      s.transfers = 0;
      for (const auto& [k, t] : transfers_) s.transfers += t.done;
      samples_.push_back(s);
      // A line every ~10 s for people watching.
      if (++lines % std::max(1, static_cast<int>(10 / o_.sample_interval_s)) == 1) {
        std::string line = "t=" + std::to_string(static_cast<int>(s.t)) + "s sent " + std::to_string(s.sent) +
                           " delivered " + std::to_string(s.delivered) + " transfers " + std::to_string(s.transfers) +
                           " visitors " + std::to_string(open);
        for (std::size_t i = 0; i < servers_.size(); ++i)
          line += " | " + std::string(i == 0 ? "origin" : "partner") + " rss " +
                  std::to_string(s.rss[i] / (1024 * 1024)) + " MiB fds " + std::to_string(s.fds[i]);
        say(line);
      }
      next += every;
      co_await pause_until(next);
    }
  }

  // ---------------------------------------------------------------- results

  net::awaitable<json::object> finish() {
    // Every visitor has left; without HTTP connections the servers should hold
    // what they held before the first visitor came.
    for (auto& c : chats_)
      if (c->ws) c->ws->abort();
    co_await close_http_and_settle();
    std::vector<std::int64_t> end_fds;
    net::steady_timer t(ex_);
    auto deadline = Clock::now() + 30s;
    for (std::size_t s = 0; s < servers_.size(); ++s) {
      while (servers_[s]->open_fds() > baseline_fds_[s] + o_.end_fd_slack && Clock::now() < deadline) {
        t.expires_after(50ms);
        co_await t.async_wait(kTuple);
      }
      end_fds.push_back(servers_[s]->open_fds());
    }
    std::vector<std::int64_t> final_rss;
    for (auto& s : servers_) final_rss.push_back(s->rss_bytes());
    stopping_servers_ = true;
    for (auto& a : agents_)
      if (a.ws) a.ws->abort();
    std::vector<int> status;
    for (auto& s : servers_) status.push_back(s->stop());

    json::object out;
    std::int64_t sent = static_cast<std::int64_t>(msgs_.size());
    std::int64_t lost = 0, unacked = 0, undelivered = 0;
    for (const auto& m : msgs_) {
      lost += m.complete ? 0 : 1;
      unacked += m.acks ? 0 : 1;
      undelivered += m.deliveries ? 0 : 1;
    }
    std::vector<Check> checks;
    auto check = [&](std::string name, bool ok, std::string detail) {
      checks.push_back(Check{std::move(name), ok, std::move(detail)});
    };
    check("messages: none lost", lost == 0,
          std::to_string(lost) + " lost (" + std::to_string(unacked) + " never acknowledged, " +
              std::to_string(undelivered) + " never delivered) of " + std::to_string(sent));
    check("messages: none duplicated", duplicated_ == 0 && duplicate_acks_ == 0 && repeated_acks_ == 0,
          std::to_string(duplicated_) + " delivered twice, " + std::to_string(duplicate_acks_) + " duplicate acks, " +
              std::to_string(repeated_acks_) + " acknowledged twice");
    check("messages: each in its own conversation and in order", misrouted_ == 0 && stray_ == 0 && out_of_order_ == 0,
          std::to_string(misrouted_) + " in another conversation, " + std::to_string(stray_) + " unknown, " +
              std::to_string(out_of_order_) + " out of order");
    std::int64_t transfer_failed = 0, transfer_done = 0;
    for (const auto& [k, c] : transfers_) {
      transfer_failed += c.failed;
      transfer_done += c.done;
    }
    std::int64_t chat_failed = 0;
    for (const auto& [k, n] : chat_failures_) chat_failed += n;
    check("conversations: every lifetime completed", chat_failed == 0 && global_failures_.empty(),
          std::to_string(chat_failed) + " failed; " + std::to_string(global_failures_.size()) + " other failures");
    check("transfers: none failed", transfer_failed == 0,
          std::to_string(transfer_done) + " done, " + std::to_string(transfer_failed) + " failed");
    check("transfers: some of each kind", [&] {
            for (int k = 1; k < (o_.federation ? 4 : 3); ++k)
              if (transfers_[kind_name(k)].done == 0) return false;
            return true;
          }(),
          "agent, queue" + std::string(o_.federation ? ", partner" : ""));

    json::array servers;
    for (std::size_t s = 0; s < servers_.size(); ++s) {
      std::vector<double> ts;
      std::vector<std::int64_t> rss, fds, conns, other_fds;
      for (const auto& smp : samples_) {
        ts.push_back(smp.t);
        rss.push_back(smp.rss[s]);
        fds.push_back(smp.fds[s]);
        conns.push_back(smp.conns[s]);
        other_fds.push_back(smp.fds[s] < 0 ? -1 : smp.fds[s] - smp.conns[s]);
      }
      std::string who = s == 0 ? "origin" : "partner";
      Flatness mem = flatness(ts, rss, o_.seconds);
      double allowed_rss = o_.rss_slack_mib * 1024 * 1024 + o_.rss_slack_percent / 100.0 * static_cast<double>(mem.second_max);
      if (o_.check_rss)
        check(who + ": memory flat", mem.valid && static_cast<double>(mem.growth) <= allowed_rss,
              mem.describe(1024 * 1024, "MiB") + ", allowed " + std::to_string(allowed_rss / (1024 * 1024)).substr(0, 5) + " MiB");
      // Descriptors beyond the connections the soak holds at that moment: the
      // count of connections swings with the transfers' waves, this must not.
      // Sampling is not atomic: connections the soak just opened or closed may not
      // be accepted or closed by the server yet, a few per hundred conversations.
      Flatness fd = flatness(ts, other_fds, o_.seconds);
      std::int64_t allowed_fds = o_.fd_slack + o_.conversations / 200;
      check(who + ": file descriptors flat (beyond the soak's own connections)", fd.valid && fd.growth <= allowed_fds,
            fd.describe(1, "") + ", allowed " + std::to_string(allowed_fds));
      check(who + ": file descriptors back to the baseline once the visitors left",
            end_fds[s] >= 0 && end_fds[s] <= baseline_fds_[s] + o_.end_fd_slack,
            std::to_string(end_fds[s]) + " open, " + std::to_string(baseline_fds_[s]) + " before the first visitor");
      check(who + ": clean exit on SIGTERM", status[s] == 0, "exit status " + std::to_string(status[s]));
      json::object so{{"organization", servers_[s]->organization()},
                      {"baseline_fds", baseline_fds_[s]},
                      {"end_fds", end_fds[s]},
                      {"final_rss_bytes", final_rss[s]},
                      {"exit_status", status[s]},
                      {"rss", mem.to_json()},
                      {"fds_beyond_connections", fd.to_json()},
                      {"log", servers_[s]->log_path()}};
      json::array rs, fs, cs;
      for (auto x : rss) rs.push_back(x);
      for (auto x : fds) fs.push_back(x);
      for (auto x : conns) cs.push_back(x);
      so["rss_series_bytes"] = std::move(rs);
      so["fd_series"] = std::move(fs);
      so["soak_connections_series"] = std::move(cs);
      servers.push_back(std::move(so));
    }

    bool passed = std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.ok; });
    double run_s = std::chrono::duration<double>(run_end_ - t0_).count();
    out["passed"] = passed;
    out["options"] = json::object{{"conversations", o_.conversations},
                                  {"seconds", o_.seconds},
                                  {"message_interval_s", o_.message_interval_s},
                                  {"messages_per_phase", o_.messages_per_phase},
                                  {"federation", o_.federation},
                                  {"capacity", o_.capacity},
                                  {"agents", static_cast<std::int64_t>(agents_.size())},
                                  {"origin_queues", origin_queues_},
                                  {"partner_queues", partner_queues_},
                                  {"sample_interval_s", o_.sample_interval_s}};
    out["machine"] = machine_json();
    out["run_s"] = run_s;
    out["messages"] = json::object{{"sent", sent},
                                   {"acknowledged", acked_},
                                   {"delivered", delivered_},
                                   {"lost", lost},
                                   {"never_acknowledged", unacked},
                                   {"never_delivered", undelivered},
                                   {"duplicated", duplicated_},
                                   {"duplicate_acks", duplicate_acks_},
                                   {"acknowledged_twice", repeated_acks_},
                                   {"misrouted", misrouted_},
                                   {"out_of_order", out_of_order_},
                                   {"resent_after_flow_control", resent_},
                                   {"per_s", run_s > 0 ? static_cast<double>(sent) / run_s : 0.0}};
    json::object tr;
    for (const auto& [k, c] : transfers_) tr[k] = json::object{{"done", c.done}, {"failed", c.failed}};
    out["transfers"] = std::move(tr);
    json::object cf, errs;
    for (const auto& [k, n] : chat_failures_) cf[k] = n;
    for (const auto& [k, n] : errors_) errs[k] = n;
    json::array examples, globals;
    for (const auto& e : failure_examples_) examples.push_back(json::string(e));
    for (const auto& e : global_failures_) globals.push_back(json::string(e));
    out["conversations"] = json::object{{"created", created_},
                                        {"closed", closed_},
                                        {"failed", chat_failed},
                                        {"failures", std::move(cf)},
                                        {"examples", std::move(examples)}};
    out["error_events"] = std::move(errs);
    out["other_failures"] = std::move(globals);
    out["other_failures_not_listed"] = global_failures_more_;
    json::array ts;
    for (const auto& smp : samples_) ts.push_back(smp.t);
    out["sample_times_s"] = std::move(ts);
    out["servers"] = std::move(servers);
    json::array cj;
    for (const auto& c : checks) cj.push_back(json::object{{"check", c.name}, {"passed", c.ok}, {"detail", c.detail}});
    out["checks"] = std::move(cj);
    co_return out;
  }

  Options o_;
  net::any_io_executor ex_;
  std::unique_ptr<Waker> main_waker_;
  std::vector<std::string> sources_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::vector<std::unique_ptr<Pool>> pools_;
  std::vector<Agent> agents_;
  int origin_queues_ = 0, partner_queues_ = 0;
  std::vector<std::int64_t> baseline_fds_;

  std::deque<std::unique_ptr<Chat>> chats_;
  std::unordered_map<std::string, Chat*> by_id_;
  // Live conversation -> the agents whose latest view says they own it, with its queue in that view.
  std::unordered_map<std::string, std::map<int, std::string>> claims_;
  std::vector<std::string> conv_ids_;
  std::deque<Msg> msgs_;

  Clock::time_point t0_, end_, run_end_;
  bool stopping_ = false;
  bool sampling_ = true;
  bool stopping_servers_ = false;
  int slots_left_ = 0;
  std::vector<Sample> samples_;

  std::int64_t created_ = 0, closed_ = 0, acked_ = 0, delivered_ = 0, duplicated_ = 0, duplicate_acks_ = 0,
               repeated_acks_ = 0, misrouted_ = 0, stray_ = 0, out_of_order_ = 0, resent_ = 0;
  std::map<std::string, TransferCount> transfers_;
  std::map<std::string, std::int64_t> chat_failures_, errors_;
  std::vector<std::string> failure_examples_, global_failures_;
  int global_failures_more_ = 0;
};

}  // namespace

json::object run(const Options& o) {
  net::io_context io(1);
  Soak soak(o);
  return loopback::run_to_end(io, soak.main(), [&soak] { soak.shutdown(); });
}

}  // namespace baton::soak
