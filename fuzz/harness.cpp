#include "fuzz/harness.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/parse.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>

#include "baton/api/hub.hpp"
#include "baton/api/peer_link.hpp"
#include "baton/api/timers.hpp"
#include "baton/api/service.hpp"
#include "baton/api/sessions.hpp"
#include "baton/federation/peer_client.hpp"
#include "baton/federation/signature.hpp"
#include "fuzz/fixtures.hpp"
#include "baton/federation/password.hpp"
#include "baton/http/server.hpp"
#include "baton/storage/sqlite_store.hpp"

namespace baton::fuzz {

namespace net = boost::asio;

namespace {

// CountingRandom for several threads (the hub, the blocking pool).
class LockedRandom final : public core::Random {
 public:
  void fill(void* out, std::size_t n) override {
    std::lock_guard lock(mu_);
    inner_.fill(out, n);
  }

 private:
  std::mutex mu_;
  CountingRandom inner_;
};

// Acme Bank never answers: every call to it fails as unreachable, at once.
class UnreachableTransport final : public federation::Transport {
 public:
  core::Result<federation::TransportResponse> send(const std::string& base_url, const federation::TransportRequest&,
                                                   std::chrono::milliseconds) override {
    return core::Error{core::Errc::unavailable, "fuzz: " + base_url + " is unreachable"};
  }
};

// The client side of an accepted WebSocket: keeps what is sent.
class RecordingConnection final : public http::WsConnection {
 public:
  void send(std::shared_ptr<const std::string> text) override {
    std::lock_guard lock(mu_);
    if (!closed_) sent_.push_back(*text);
  }
  void close(std::uint16_t, std::string) override {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  const std::string& remote_ip() const override { return ip_; }
  std::vector<std::string> take() {
    std::lock_guard lock(mu_);
    return std::move(sent_);
  }

 private:
  std::mutex mu_;
  std::vector<std::string> sent_;
  bool closed_ = false;
  std::string ip_ = "198.51.100.20";
};

}  // namespace

struct Org::Parts {
  net::io_context io;
  net::executor_work_guard<net::io_context::executor_type> work{io.get_executor()};
  core::ManualClock clock{kExampleNowMs};
  LockedRandom random;
  api::Settings settings;
  std::filesystem::path dir;
  std::unique_ptr<storage::SqliteStore> store;
  net::thread_pool blocking{1};
  net::thread_pool peer_pool{1};
  http::HttpMetrics metrics;
  std::unique_ptr<api::SteadyTimers> timers;
  std::unique_ptr<api::Hub> hub;
  std::unique_ptr<api::Sessions> sessions;
  std::unique_ptr<api::ApiService> service;
  UnreachableTransport transport;
  federation::KeyPair acme_key = key_from_hex(kAcmeSeedHex);
  std::unique_ptr<federation::Signer> signer;
  std::unique_ptr<federation::Signer> acme_signer;
  std::unique_ptr<federation::Verifier> verifier;
  std::unique_ptr<federation::PeerClient> peer_client;
  std::unique_ptr<api::PooledPeerLink> peer_link;
  std::string conversation, visitor_token, agent_token;

  // Callbacks may run on other threads; this makes run_until look at `done` again.
  void wake() { net::post(io, [] {}); }
  // Runs the io_context until `done`, then until the hub, the blocking pool and
  // the store have nothing left to do.
  void run_until(const std::atomic<bool>& done) {
    while (!done.load()) io.run_one_for(std::chrono::milliseconds(50));
    settle();
  }
  void new_conversation() {
    std::atomic<bool> done{false};
    api::NewConversation nc;
    nc.site = "northwind-web";
    nc.visitor = core::VisitorInfo{"Dana", "dana@example.com", "https://www.northwind.example/claims", "fuzz", ""};
    nc.first_message = "Hello, I had an accident.";
    nc.client_id = "v-1";
    hub->create(nc, [this, &done](core::Result<api::Created> r) {
      if (!r) std::abort();
      conversation = r->conversation.id;
      visitor_token = r->token;
      done = true;
      wake();
    });
    run_until(done);
  }
  void sign_in() {
    std::atomic<bool> done{false};
    sessions->sign_in("bob", "demo", "192.0.2.1", [this, &done](core::Result<api::SignedIn> r) {
      if (!r) std::abort();
      agent_token = r->token;
      done = true;
      wake();
    });
    run_until(done);
  }
  // The waiting conversation and the agent's session as inputs left them: a new
  // conversation when that one ended, a new session when that one was signed out.
  void refresh() {
    std::atomic<bool> done{false};
    bool live = false;
    hub->authenticate_visitor(conversation, visitor_token, [&](core::Result<core::Conversation> r) {
      live = r && (r->state == core::ConversationState::waiting || r->state == core::ConversationState::active);
      done = true;
      wake();
    });
    run_until(done);
    if (!live) new_conversation();
    done = false;
    bool signed_in = false;
    sessions->resolve(agent_token, [&](core::Result<api::Actor> r) {
      signed_in = r.ok();
      done = true;
      wake();
    });
    run_until(done);
    if (!signed_in) sign_in();
  }
  void settle() {
    for (int quiet = 0, round = 0; quiet < 2 && round < 50; ++round) {
      std::size_t n = io.poll();
      std::promise<void> marker;
      auto f = marker.get_future();
      net::post(blocking, [&marker] { marker.set_value(); });
      net::post(peer_pool, [] {});
      while (f.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
        n += io.poll();
        f.wait_for(std::chrono::microseconds(200));
      }
      store->flush();
      n += io.poll();
      quiet = n == 0 ? quiet + 1 : 0;
    }
  }
};

Org& Org::get() {
  static Org org;
  return org;
}

Org::Org() : p_(std::make_unique<Parts>()) {
  spdlog::set_level(spdlog::level::off);
  auto& s = p_->settings;
  s.organization = "Northwind Insurance";
  s.public_url = "https://chat.northwind.example";
  s.queues = {"Claims", "Sales"};
  auto hash = federation::hash_password("demo");
  if (!hash) std::abort();
  s.agents = {api::AgentAccount{core::AgentProfile{"bob", "Bob", {"Claims", "Sales"}, 3}, *hash}};
  s.sites = {api::Site{"northwind-web", {"https://www.northwind.example"}, "Claims"}};
  s.federation.enabled = true;
  s.federation.peers = {api::PeerSettings{"acme", "Acme Bank", "https://chat.acme.example", {"Claims", "Sales"},
                                          {"https://www.acme.example"}}};
  s.federation.code_secret = std::string(32, '\x42');  // docs/federation.md §5.2

  char tmpl[] = "/tmp/baton-fuzz-XXXXXX";
  if (!mkdtemp(tmpl)) std::abort();
  p_->dir = tmpl;
  storage::SqliteOptions so;
  so.synchronous_full = false;
  auto store = storage::SqliteStore::open((p_->dir / "baton.db").string(), so);
  if (!store) std::abort();
  p_->store = std::move(*store);
  p_->timers = std::make_unique<api::SteadyTimers>(p_->clock);
  p_->hub = std::make_unique<api::Hub>(p_->io.get_executor(), *p_->store, p_->clock, p_->random,
                                       p_->blocking.get_executor(), *p_->timers, s);
  if (!p_->hub->load()) std::abort();
  p_->sessions = std::make_unique<api::Sessions>(s, *p_->store, p_->clock, p_->random, p_->blocking);
  p_->service = std::make_unique<api::ApiService>(*p_->hub, *p_->sessions, p_->metrics, p_->clock);

  auto own = key_from_hex(kNorthwindSeedHex);
  federation::VerifierOptions vo;
  vo.keys[federation::key_id(p_->acme_key.public_key)] = federation::PinnedKey{p_->acme_key.public_key, "acme"};
  std::vector<std::string> published{federation::format_public_key(own.public_key)};
  p_->signer = std::make_unique<federation::Signer>(own, p_->clock, p_->random);
  p_->acme_signer = std::make_unique<federation::Signer>(p_->acme_key, p_->clock, p_->random);
  p_->verifier = std::make_unique<federation::Verifier>(std::move(vo), p_->clock);
  p_->peer_client = std::make_unique<federation::PeerClient>(p_->transport, *p_->signer, *p_->verifier,
                                                             std::chrono::seconds(1), 1);
  p_->peer_link = std::make_unique<api::PooledPeerLink>(*p_->peer_client, p_->peer_pool.get_executor());
  p_->hub->enable_federation(*p_->peer_link);
  p_->service->enable_federation(*p_->signer, *p_->verifier, std::move(published), p_->clock);

  // A waiting visitor and a signed-in agent, for inputs that name them.
  p_->new_conversation();
  p_->sign_in();
  if (p_->conversation.size() != kConversationPlaceholder.size() ||
      p_->visitor_token.size() != kVisitorTokenPlaceholder.size() ||
      p_->agent_token.size() != kAgentTokenPlaceholder.size())
    std::abort();
}

Org::~Org() {
  p_->service.reset();
  p_->peer_pool.join();
  p_->blocking.join();
  p_->store->flush();
  std::error_code ec;
  std::filesystem::remove_all(p_->dir, ec);
}

const std::string& Org::conversation() const { return p_->conversation; }
const std::string& Org::visitor_token() const { return p_->visitor_token; }
const std::string& Org::agent_token() const { return p_->agent_token; }

void Org::begin_input() { p_->refresh(); }

std::string Org::replace_placeholders(std::string_view in) const {
  std::string out(in);
  auto replace = [&out](const std::string& from, const std::string& to) {
    for (auto pos = out.find(from); pos != std::string::npos; pos = out.find(from, pos + to.size()))
      out.replace(pos, from.size(), to);
  };
  replace(kConversationPlaceholder, p_->conversation);
  replace(kVisitorTokenPlaceholder, p_->visitor_token);
  replace(kAgentTokenPlaceholder, p_->agent_token);
  return out;
}

http::Response Org::handle(http::Request req) {
  std::atomic<bool> done{false};
  std::mutex mu;
  http::Response out;
  p_->service->handle(std::move(req), [&](http::Response r) {
    std::lock_guard lock(mu);
    out = std::move(r);
    done = true;
    p_->wake();
  });
  p_->run_until(done);
  std::lock_guard lock(mu);
  return out;
}

std::vector<std::string> Org::realtime(const std::vector<std::string>& texts, std::string origin) {
  http::Request req;
  req.method = "GET";
  req.target = req.path = "/ws";
  req.headers = {{"host", "chat.northwind.example"}, {"upgrade", "websocket"}};
  if (!origin.empty()) req.headers.emplace_back("origin", std::move(origin));
  req.remote_ip = "198.51.100.20";
  http::Response refusal;
  auto handler = p_->service->upgrade(req, refusal);
  if (!handler) return {};
  auto conn = std::make_shared<RecordingConnection>();
  handler->on_open(conn);
  for (const auto& t : texts) {
    handler->on_text(t);
    p_->settle();
  }
  handler->on_close();
  p_->settle();
  return conn->take();
}

http::Response Org::signed_from_acme(const std::string& path, const std::string& body,
                                     const std::string& content_type) {
  federation::OutgoingRequest out;
  out.method = "POST";
  out.authority = "chat.northwind.example";
  out.path = path.substr(0, path.find('?'));
  out.query = path.find('?') == std::string::npos ? std::string() : path.substr(path.find('?') + 1);
  out.content_type = content_type;
  out.body = body;
  auto headers = p_->acme_signer->sign_request(out);
  if (!headers) return http::Response::text(400, headers.error().message);
  auto msg = federation::signed_message(out, *headers);
  http::Request req;
  req.method = "POST";
  req.target = path;
  auto q = path.find('?');
  if (q != std::string::npos) req.query = path.substr(q + 1);
  if (!http::percent_decode(path.substr(0, q), req.path, false)) req.path = "\x01";  // as the server does
  req.headers = msg.headers;
  req.headers.emplace_back("host", "chat.northwind.example");
  req.body = body;
  req.remote_ip = "203.0.113.80";
  return handle(std::move(req));
}

std::string Org::fresh_join_code() {
  static int counter = 0;
  std::string id = "tjoin" + std::to_string(++counter);
  auto field = [](const http::Response& r, const char* key) {
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (ec || !v.is_object() || !v.as_object().contains(key) || !v.as_object().at(key).is_string()) return std::string();
    return std::string(v.as_object().at(key).as_string());
  };
  auto offer = signed_from_acme("/federation/v1/offers",
                                "{\"transfer_id\":\"" + id + "\",\"origin\":\"https://chat.acme.example\",\"hop_count\":0,"
                                "\"agent\":{\"name\":\"alice\",\"display_name\":\"Alice\"}}");
  std::string auth = field(offer, "authorization_code");
  auto context = signed_from_acme(
      "/federation/v1/transfers/" + id + "/context",
      "{\"transfer_id\":\"" + id + "\",\"origin\":\"https://chat.acme.example\",\"authorization_code\":\"" + auth +
          "\",\"queue\":\"Claims\",\"hop_count\":1,\"recall_ticket\":\"rt\",\"visitor\":{\"name\":\"Dana\"},"
          "\"transcript\":[{\"author_kind\":\"visitor\",\"author_name\":\"Dana\",\"text\":\"Hello\"}]}");
  return field(context, "join_code");
}

}  // namespace baton::fuzz
