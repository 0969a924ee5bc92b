// Scenario `connections`: N idle visitors, each with its conversation and its
// WebSocket (hello'd and subscribed, as an open chat page is), held open; the
// server's resident memory (VmRSS in /proc/PID/status) is sampled as they come.
//
// Two phases, so that the figure can be split: first N conversations are created
// over HTTP (what a conversation costs the server), then N WebSockets say hello
// to them (what a connection costs). The slope of RSS over each phase, by least
// squares over its samples, is the cost per item; RSS after the hold minus RSS
// before the first conversation, over N, is the whole cost of one idle visitor.
//
// The conversations wait in queues of at most `per_queue`: every hello and every
// new conversation sends a `position` event to each waiting visitor of its queue
// (docs/api.md §3.7), so one queue of N visitors would cost N²/2 events to set up.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <exception>
#include <memory>
#include <stdexcept>

#include "desk.hpp"
#include "loopback/run.hpp"
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

struct Sample {
  std::int64_t n;
  std::int64_t rss;
  double seconds = 0;  // since the phase began: how fast the items were set up
};

// Least-squares slope of rss over n.
double slope(const std::vector<Sample>& s) {
  if (s.size() < 2) return 0;
  double mx = 0, my = 0;
  for (const auto& p : s) {
    mx += static_cast<double>(p.n);
    my += static_cast<double>(p.rss);
  }
  mx /= static_cast<double>(s.size());
  my /= static_cast<double>(s.size());
  double num = 0, den = 0;
  for (const auto& p : s) {
    num += (static_cast<double>(p.n) - mx) * (static_cast<double>(p.rss) - my);
    den += (static_cast<double>(p.n) - mx) * (static_cast<double>(p.n) - mx);
  }
  return den > 0 ? num / den : 0;
}

json::array samples_json(const std::vector<Sample>& s) {
  json::array a;
  for (const auto& p : s) a.push_back(json::object{{"n", p.n}, {"rss_bytes", p.rss}, {"seconds", round_to(p.seconds, 2)}});
  return a;
}

class Connections {
 public:
  explicit Connections(ConnectionsOptions o) : o_(std::move(o)) { sources_ = loopback_sources(std::max(1, o_.common.sources)); }

  net::awaitable<json::object> main() {
    auto ex = co_await net::this_coro::executor;
    json::object out;
    std::uint64_t fd_limit = raise_fd_limit();
    int n = o_.connections;
    std::string capped;
    // Both this process and the server need one descriptor per connection, plus a few.
    auto room = static_cast<int>(fd_limit) - std::max(64, o_.concurrency + 40);
    if (n > room) {
      capped = "open-file limit (RLIMIT_NOFILE) is " + std::to_string(fd_limit) + " and cannot be raised here";
      log("connections: asked for " + std::to_string(n) + ", holding " + std::to_string(room) + ": " + capped);
      n = room;
    }
    int queues = std::max(1, (n + o_.per_queue - 1) / o_.per_queue);

    ServerSpec spec;
    spec.baton = o_.common.baton;
    spec.dir = o_.common.workdir + "/connections/server";
    spec.threads = o_.common.server_threads;
    spec.wrapper = o_.common.server_wrapper;
    spec.ws_queue_messages = o_.common.ws_queue_messages;
    spec.queues.clear();
    spec.site_queues.clear();
    for (int q = 0; q < queues; ++q) {
      spec.queues.push_back("Q" + std::to_string(q));
      spec.site_queues.push_back("Q" + std::to_string(q));
    }
    log("connections: starting baton serve (" + std::to_string(queues) + " queues)");
    server_ = std::make_unique<ServerProcess>(spec);
    server_->start();
    co_await settle();
    std::int64_t rss0 = server_->rss_bytes();
    std::int64_t client_rss0 = process_rss_bytes(0);
    log("connections: server RSS at start " + std::to_string(rss0 / 1024) + " KiB");

    visitors_.resize(static_cast<std::size_t>(n));
    // Phase 1: conversations.
    std::vector<Sample> conv_samples{{0, rss0}};
    std::int64_t t_conv = now_ns();
    co_await in_batches(n, [&](int from, int to) -> net::awaitable<void> {
      co_await parallel(from, to, [this](int w) -> net::awaitable<void> {
        // (No co_await inside a constructor call or beside temporaries: GCC 12
        // miscompiles some of those; see docs/decisions/benchmarks.md.)
        auto ex2 = co_await net::this_coro::executor;
        Endpoint t{server_->port(), sources_[static_cast<std::size_t>(w) % sources_.size()]};
        HttpClient http(ex2, t, kHttp);
        while (next_ < end_) {
          auto i = static_cast<std::size_t>(next_++);
          std::string site = "site" + std::to_string(i / static_cast<std::size_t>(o_.per_queue));
          std::string name = "V" + std::to_string(i);
          auto c = co_await start_conversation(http, site, name);
          visitors_[i].conversation = c.conversation;
          visitors_[i].token = c.token;
        }
      });
      co_await settle();
      conv_samples.push_back({to, server_->rss_bytes(), static_cast<double>(now_ns() - t_conv) / 1e9});
      log("connections: " + std::to_string(to) + " conversations, server RSS " +
          std::to_string(conv_samples.back().rss / 1024) + " KiB");
    });
    double conv_s = static_cast<double>(now_ns() - t_conv) / 1e9;

    // Phase 2: WebSockets.
    std::vector<Sample> ws_samples{{0, conv_samples.back().rss}};
    std::int64_t t_ws = now_ns();
    co_await in_batches(n, [&](int from, int to) -> net::awaitable<void> {
      co_await parallel(from, to, [this](int) -> net::awaitable<void> {
        auto ex2 = co_await net::this_coro::executor;
        while (next_ < end_) {
          auto i = static_cast<std::size_t>(next_++);
          Visitor& v = visitors_[i];
          v.ws = WsClient::make(ex2);
          Endpoint t{server_->port(), sources_[i % sources_.size()]};
          co_await v.ws->connect(t);
          v.ws->on_message([this, i](std::string_view m) {
            auto type = event_type(m);
            if (type == "synced" && !visitors_[i].synced) {
              visitors_[i].synced = true;
              ++synced_;
            } else if (type == "error") {
              ++errors_;
            }
          });
          v.ws->on_close([this](const std::string& why) {
            ++closed_;
            if (first_close_.empty()) first_close_ = why;
          });
          v.ws->start();
          v.ws->send(hello_visitor(v.conversation, v.token));
          ++opened_;
        }
      });
      co_await wait_until([&] { return synced_ + errors_ + closed_ >= to; }, 120s, "visitors to be synced");
      co_await settle();
      ws_samples.push_back({to, server_->rss_bytes(), static_cast<double>(now_ns() - t_ws) / 1e9});
      log("connections: " + std::to_string(to) + " WebSockets, server RSS " +
          std::to_string(ws_samples.back().rss / 1024) + " KiB");
    });
    double ws_s = static_cast<double>(now_ns() - t_ws) / 1e9;

    log("connections: holding " + std::to_string(n) + " for " + std::to_string(o_.hold_s) + " s");
    co_await sleep_for(std::chrono::milliseconds(static_cast<long long>(o_.hold_s * 1000)));
    co_await settle();
    std::int64_t rss_end = server_->rss_bytes();
    std::int64_t client_rss_end = process_rss_bytes(0);
    int held = 0;
    for (const auto& v : visitors_)
      if (v.ws && v.ws->is_open()) ++held;

    double per_conv = slope(conv_samples);
    double per_ws = slope(ws_samples);
    double per_visitor = n > 0 ? static_cast<double>(rss_end - rss0) / n : 0;
    log("connections: held " + std::to_string(held) + "; per conversation " + std::to_string(per_conv) +
        " B, per WebSocket " + std::to_string(per_ws) + " B, per idle visitor (both) " + std::to_string(per_visitor) + " B");

    int closed_early = closed_;
    std::string first_close = first_close_;
    for (auto& v : visitors_)
      if (v.ws) v.ws->abort();
    co_await sleep_for(50ms);
    server_->stop();

    out["requested"] = o_.connections;
    out["held"] = held;
    if (!capped.empty()) out["capped_by"] = capped;
    out["queues"] = queues;
    out["per_queue"] = o_.per_queue;
    out["source_addresses"] = sources_.size();
    out["errors"] = errors_;
    out["closed_early"] = closed_early;
    if (!first_close.empty()) out["first_close"] = first_close;
    out["server_rss_bytes_start"] = rss0;
    out["server_rss_bytes_end"] = rss_end;
    out["server_rss_bytes_per_connection"] = std::llround(per_visitor);
    out["server_rss_bytes_per_conversation_slope"] = std::llround(per_conv);
    out["server_rss_bytes_per_websocket_slope"] = std::llround(per_ws);
    out["client_rss_bytes_per_connection"] =
        n > 0 ? std::llround(static_cast<double>(client_rss_end - client_rss0) / n) : 0;
    out["setup_conversations_per_s"] = round_to(n / conv_s, 1);
    out["setup_websockets_per_s"] = round_to(n / ws_s, 1);
    out["samples_conversations"] = samples_json(conv_samples);
    out["samples_websockets"] = samples_json(ws_samples);
    co_return out;
  }

 private:
  struct Visitor {
    std::string conversation;
    std::string token;
    std::shared_ptr<WsClient> ws;
    bool synced = false;
  };

  // Runs `body(from, to)` for `checkpoints` consecutive slices of [0, n).
  template <typename F>
  net::awaitable<void> in_batches(int n, F body) {
    int k = std::max(1, o_.checkpoints);
    for (int b = 0; b < k; ++b) {
      int from = static_cast<int>(static_cast<long long>(n) * b / k);
      int to = static_cast<int>(static_cast<long long>(n) * (b + 1) / k);
      co_await body(from, to);
    }
  }

  // Runs `worker(w)` `concurrency` times at once over the indices [from, to),
  // which the workers take from next_.
  template <typename W>
  net::awaitable<void> parallel(int from, int to, W worker) {
    auto ex = co_await net::this_coro::executor;
    next_ = from;
    end_ = to;
    int workers = std::min(o_.concurrency, std::max(1, to - from));
    int finished = 0;
    std::exception_ptr failure;
    for (int w = 0; w < workers; ++w) {
      net::co_spawn(ex, worker(w), [&finished, &failure](std::exception_ptr e) {
        if (e && !failure) failure = e;
        ++finished;
      });
    }
    co_await wait_until([&] { return finished == workers; }, 600s, "setup workers");
    if (failure) std::rethrow_exception(failure);
  }

  // Waits until the server has been (nearly) idle for 200 ms, at most 10 s, so
  // that RSS is sampled with no work in flight.
  net::awaitable<void> settle() {
    auto deadline = now_ns() + 10'000'000'000LL;
    std::int64_t c0 = server_->cpu_ns();
    while (now_ns() < deadline) {
      co_await sleep_for(200ms);
      std::int64_t c1 = server_->cpu_ns();
      if (c1 - c0 < 10'000'000) co_return;  // under 5 % of a core
      c0 = c1;
    }
  }

  ConnectionsOptions o_;
  std::vector<std::string> sources_;
  std::unique_ptr<ServerProcess> server_;
  std::vector<Visitor> visitors_;
  int next_ = 0, end_ = 0;
  int synced_ = 0, errors_ = 0, closed_ = 0, opened_ = 0;
  std::string first_close_;
};

}  // namespace

json::object run_connections(const ConnectionsOptions& o) {
  net::io_context io(1);
  Connections c(o);
  return loopback::run_to_end(io, c.main());
}

}  // namespace baton::bench
