#include "baton/app/app.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/url/url.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>

#include "baton/api/hub.hpp"
#include "baton/api/service.hpp"
#include "baton/api/sessions.hpp"
#include "baton/federation/password.hpp"
#include "baton/http/server.hpp"
#include "baton/federation/tokens.hpp"
#include "baton/http/client.hpp"
#include "baton/api/peer_link.hpp"
#include "baton/api/timers.hpp"
#include "baton/federation/keys.hpp"
#include "baton/federation/peer_client.hpp"
#include "baton/federation/signature.hpp"
#include <fcntl.h>
#include <fstream>
#include <unistd.h>
#include "baton/storage/sqlite_store.hpp"

namespace baton::app {

namespace net = boost::asio;
namespace fs = std::filesystem;

namespace {

// federation::PeerClient's wire: http::fetch_blocking, on the peer pool.
class HttpTransport final : public federation::Transport {
 public:
  core::Result<federation::TransportResponse> send(const std::string& base_url, const federation::TransportRequest& r,
                                                   std::chrono::milliseconds timeout) override {
    auto res = http::fetch_blocking(base_url, http::ClientRequest{r.method, r.path, r.query, r.headers, r.body}, timeout);
    if (!res) return res.error();
    return federation::TransportResponse{res->status, std::move(res->headers), std::move(res->body)};
  }
};

api::Settings to_settings(const Config& c, const AppOptions& o) {
  api::Settings s;
  s.organization = c.organization;
  s.public_url = c.public_url;
  for (const auto& q : c.queues) s.queues.push_back(q.name);
  for (const auto& a : c.agents) {
    api::AgentAccount acc;
    acc.profile = core::AgentProfile{a.name, a.display_name, a.queues, a.capacity};
    acc.password_hash = a.password_hash;
    s.agents.push_back(std::move(acc));
  }
  for (const auto& site : c.sites) s.sites.push_back(api::Site{site.name, site.origins, site.queue});
  s.max_message_bytes = c.limits.max_message_bytes;
  s.max_json_depth = c.limits.max_json_depth;
  s.session_ttl_ms = static_cast<core::Millis>(c.limits.session_ttl_h) * 3600 * 1000;
  s.agent_offline_grace_ms = o.agent_offline_grace_ms;
  s.transfer_offer_ms = o.transfer_offer_ms;
  s.consult_timeout_ms = o.consult_timeout_ms;
  s.federation.enabled = !c.federation.key_file.empty();
  s.federation.hop_limit = c.federation.hop_limit;
  s.federation.join_code_ttl_ms = o.join_code_ttl_ms > 0 ? o.join_code_ttl_ms
                                                         : static_cast<core::Millis>(c.federation.join_code_ttl_s) * 1000;
  if (o.join_code_ttl_ms > 0) s.federation.auth_code_ttl_ms = o.join_code_ttl_ms;
  s.federation.unserved_recall_ms = o.unserved_recall_ms;
  s.federation.notice_retry_max_ms = o.notice_retry_max_ms;
  for (const auto& p : c.peers)
    s.federation.peers.push_back(api::PeerSettings{p.name, p.display_name, p.base_url, p.queues, p.embed_origins});
  s.demo = o.demo;
  s.assets_dir = o.assets_dir;
  return s;
}

http::ServerOptions to_server_options(const Config& c) {
  http::ServerOptions o;
  o.max_body_bytes = c.limits.max_body_bytes;
  o.max_header_bytes = c.limits.max_header_bytes;
  o.max_frame_bytes = c.limits.max_frame_bytes;
  o.ws_queue_messages = c.limits.ws_queue_messages;
  o.ws_queue_bytes = c.limits.ws_queue_bytes;
  o.idle_timeout_s = c.limits.idle_timeout_s;
  o.request_timeout_s = c.limits.request_timeout_s;
  o.max_connections_per_ip = c.limits.max_connections_per_ip;
  o.tls_cert = c.tls_cert;
  o.tls_key = c.tls_key;
  return o;
}

}  // namespace

// Declared in the order they must be built; destroyed in reverse.
struct App::Parts {
  api::Settings settings;
  core::SystemClock clock;
  federation::SodiumRandom random;
  std::unique_ptr<storage::SqliteStore> store;
  net::thread_pool blocking;
  std::unique_ptr<api::SteadyTimers> timers;
  http::HttpMetrics metrics;
  std::unique_ptr<api::Hub> hub;
  std::unique_ptr<api::Sessions> sessions;
  std::unique_ptr<api::ApiService> service;
  std::unique_ptr<http::Server> server;
  std::uint16_t port = 0;
  // Federation (only when a key is configured).
  net::thread_pool peer_pool{4};
  HttpTransport transport;
  std::unique_ptr<federation::Signer> signer;
  std::unique_ptr<federation::Verifier> verifier;
  std::unique_ptr<federation::PeerClient> peer_client;
  std::unique_ptr<api::PooledPeerLink> peer_link;

  explicit Parts(int threads) : blocking(static_cast<std::size_t>(threads)) {}
  ~Parts() {
    if (server) server->stop();
    server.reset();
    // Work still queued on the pools may touch the hub and the store.
    peer_pool.join();
    blocking.join();
    if (store) store->flush();
  }
};

namespace {

// The key that makes authorization and join codes derivable from transfer ids
// (see api::FederationSettings::code_secret): 32 random bytes in the data folder.
core::Result<std::string> code_secret(const std::string& data_dir, core::Random& random) {
  fs::path path = fs::path(data_dir) / "code-secret";
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (s.size() == 32) return s;
    return core::Error{core::Errc::unavailable, path.string() + " is damaged; delete it to make a new one"};
  }
  std::string s(32, '\0');
  random.fill(s.data(), s.size());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return core::Error{core::Errc::unavailable, "cannot create " + path.string()};
  bool ok = ::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return core::Error{core::Errc::unavailable, "cannot write " + path.string()};
  return s;
}

}  // namespace

App::App(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
App::~App() = default;

core::Result<std::unique_ptr<App>> App::start(const Config& config, net::io_context& io,
                                              const AppOptions& options) {
  auto parts = std::make_unique<Parts>(options.blocking_threads);
  parts->settings = to_settings(config, options);
  std::error_code ec;
  fs::create_directories(config.data_dir, ec);
  if (ec) return core::Error{core::Errc::unavailable, "data_dir " + config.data_dir + ": " + ec.message()};
  auto store = storage::SqliteStore::open((fs::path(config.data_dir) / "baton.db").string());
  if (!store) return store.error();
  parts->store = std::move(*store);
  core::Clock& clock = options.clock ? *options.clock : parts->clock;
  parts->timers = std::make_unique<api::SteadyTimers>(clock);
  parts->hub = std::make_unique<api::Hub>(io.get_executor(), *parts->store, clock, parts->random,
                                          parts->blocking.get_executor(), *parts->timers, parts->settings);
  if (auto st = parts->hub->load(); !st) return st.error();
  core::Clock& sessions_clock = options.sessions_clock ? *options.sessions_clock : clock;
  parts->sessions = std::make_unique<api::Sessions>(parts->settings, *parts->store, sessions_clock,
                                                    parts->random, parts->blocking);
  // Guessing limits counted before a restart hold after it (docs/security.md).
  if (auto st = parts->sessions->load(); !st) return st.error();
  parts->service = std::make_unique<api::ApiService>(*parts->hub, *parts->sessions, parts->metrics, clock);
  if (auto st = parts->service->load(); !st) return st.error();
  if (parts->settings.federation.enabled) {
    auto key = federation::load_secret_key(config.federation.key_file);
    if (!key) return core::Error{key.error().code, "federation.key_file: " + key.error().message};
    auto secret = code_secret(config.data_dir, parts->random);
    if (!secret) return secret.error();
    parts->settings.federation.code_secret = *secret;
    federation::VerifierOptions vo;
    for (const auto& peer : config.peers) {
      for (const auto& text : peer.public_keys) {
        auto pk = federation::parse_public_key(text);
        if (!pk) return core::Error{core::Errc::bad_request, "peers " + peer.name + ": " + pk.error().message};
        vo.keys[federation::key_id(*pk)] = federation::PinnedKey{*pk, peer.name};
      }
    }
    std::vector<std::string> published{federation::format_public_key(key->public_key)};
    for (const auto& k : config.federation.previous_public_keys) published.push_back(k);
    parts->signer = std::make_unique<federation::Signer>(*key, clock, parts->random);
    parts->verifier = std::make_unique<federation::Verifier>(std::move(vo), clock);
    // Nonces accepted before this start are refused as replays until they expire.
    auto seen = parts->store->nonces(clock.now());
    if (!seen) return seen.error();
    parts->verifier->preload(*seen);
    parts->peer_client = std::make_unique<federation::PeerClient>(
        parts->transport, *parts->signer, *parts->verifier, std::chrono::seconds(config.federation.peer_timeout_s), 3);
    parts->peer_link = std::make_unique<api::PooledPeerLink>(*parts->peer_client, parts->peer_pool.get_executor());
    parts->hub->enable_federation(*parts->peer_link);
    parts->service->enable_federation(*parts->signer, *parts->verifier, std::move(published), clock);
  }
  parts->server = std::make_unique<http::Server>(io, to_server_options(config), *parts->service, parts->metrics);
  auto port = parts->server->listen(config.listen_host, config.listen_port);
  if (!port) return port.error();
  parts->port = *port;
  if (config.listen_port == 0) {
    // Port 0 (tests, the demo): the public address is the one actually bound.
    boost::urls::url url(parts->settings.public_url);  // valid: the configuration checked it
    url.set_port_number(*port);
    parts->settings.public_url = std::string(url.buffer());
  }
  parts->server->start();
  spdlog::info("{} listening on {}:{} ({})", config.organization, config.listen_host, *port,
               parts->settings.public_url);
  return std::unique_ptr<App>(new App(std::move(parts)));
}

std::uint16_t App::port() const { return parts_->port; }
const std::string& App::public_url() const { return parts_->settings.public_url; }
const std::string& App::organization() const { return parts_->settings.organization; }
void App::stop() { parts_->server->stop(); }

namespace {

// Runs `io` on `threads` threads until SIGINT/SIGTERM, then stops `apps`
// gracefully: no new connections, a moment for requests in progress, then out.
void run_until_signal(net::io_context& io, int threads, const std::vector<App*>& apps) {
  net::signal_set signals(io, SIGINT, SIGTERM);
  net::steady_timer grace(io);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", sig);
    for (App* a : apps) a->stop();
    grace.expires_after(std::chrono::seconds(2));
    grace.async_wait([&io](const boost::system::error_code&) { io.stop(); });
  });
  // A handler that throws is a bug; it is logged and the server goes on serving
  // everyone else rather than ending the process.
  auto run = [&io] {
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("unexpected exception in a handler: {}", e.what());
      }
    }
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back(run);
  run();
  for (auto& t : pool) t.join();
}

int thread_count(int configured) {
  if (configured > 0) return configured;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 2 : static_cast<int>(n);
}

}  // namespace

int run_serve(const Config& config, const AppOptions& options) {
  int threads = thread_count(config.threads);
  net::io_context io(threads);
  auto app = App::start(config, io, options);
  if (!app) {
    std::cerr << "baton: " << app.error().message << "\n";
    return 1;
  }
  run_until_signal(io, threads, {app->get()});
  app->reset();
  spdlog::info("stopped");
  return 0;
}

int run_demo(std::uint16_t port, const std::string& data_dir_arg, const AppOptions& options_in) {
  AppOptions options = options_in;
  options.demo = true;
  std::string data_dir = data_dir_arg;
  if (data_dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "baton-demo-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::cerr << "baton: cannot create a temporary folder\n";
      return 1;
    }
    data_dir = tmpl;
  }
  auto hash = federation::hash_password("demo");
  if (!hash) {
    std::cerr << "baton: " << hash.error().message << "\n";
    return 1;
  }
  auto url = [](std::uint16_t p) { return "http://127.0.0.1:" + std::to_string(p); };

  Config acme;
  acme.organization = "Acme Bank";
  acme.public_url = url(port);
  acme.listen = "127.0.0.1:" + std::to_string(port);
  acme.data_dir = (fs::path(data_dir) / "acme").string();
  acme.queues = {{"General", "General"}};
  // carol lets one person try a transfer between two agents of the same organization.
  acme.agents = {{"alice", "Alice", *hash, {"General"}, 3}, {"carol", "Carol", *hash, {"General"}, 3}};
  acme.sites = {{"acme-web", {url(port)}, "General"}};

  Config northwind;
  northwind.organization = "Northwind Insurance";
  northwind.public_url = url(static_cast<std::uint16_t>(port + 1));
  northwind.listen = "127.0.0.1:" + std::to_string(port + 1);
  northwind.data_dir = (fs::path(data_dir) / "northwind").string();
  northwind.queues = {{"Claims", "Claims"}, {"Sales", "Sales"}};
  northwind.agents = {{"bob", "Bob", *hash, {"Claims", "Sales"}, 3}};
  northwind.sites = {{"northwind-web", {url(static_cast<std::uint16_t>(port + 1))}, "Claims"}};

  // Each organization's key lives in its data folder, made on first start; each
  // pins the other's public key, so they are peered both ways.
  std::map<std::string, std::string> public_keys;
  for (Config* c : {&acme, &northwind}) {
    std::error_code ec;
    fs::create_directories(c->data_dir, ec);
    c->federation.key_file = (fs::path(c->data_dir) / "baton.key").string();
    auto key = federation::load_secret_key(c->federation.key_file);
    if (!key) {
      auto fresh = federation::generate_key_pair();
      if (auto st = federation::save_secret_key(c->federation.key_file, fresh); !st) {
        std::cerr << "baton: " << st.error().message << "\n";
        return 1;
      }
      key = fresh;
    }
    public_keys[c->organization] = federation::format_public_key(key->public_key);
  }
  acme.peers = {{"northwind", "Northwind Insurance", northwind.public_url, {public_keys["Northwind Insurance"]},
                 {"General"}, {}}};
  northwind.peers = {{"acme", "Acme Bank", acme.public_url, {public_keys["Acme Bank"]}, {"Claims", "Sales"},
                      {acme.public_url}}};

  for (Config* c : {&acme, &northwind}) {
    if (auto st = validate_config(*c); !st) {
      std::cerr << "baton: demo config: " << st.error().message << "\n";
      return 1;
    }
  }
  int threads = thread_count(0);
  net::io_context io(threads);
  auto a = App::start(acme, io, options);
  if (!a) {
    std::cerr << "baton: Acme Bank: " << a.error().message << "\n";
    return 1;
  }
  auto n = App::start(northwind, io, options);
  if (!n) {
    std::cerr << "baton: Northwind Insurance: " << n.error().message << "\n";
    return 1;
  }
  std::string A = url(port), N = url(static_cast<std::uint16_t>(port + 1));
  std::cout << "\nBaton demo is running. Data: " << data_dir << "\n\n"
            << "  Acme Bank (agents alice and carol, password demo)\n"
            << "    sample website with the chat widget: " << A << "/demo\n"
            << "    chat page:                           " << A << "/chat?site=acme-web\n"
            << "    agent console:                       " << A << "/console\n\n"
            << "  Northwind Insurance (agent bob, password demo; queues Claims, Sales)\n"
            << "    chat page:                           " << N << "/chat?site=northwind-web\n"
            << "    agent console:                       " << N << "/console\n\n"
            << "Press Ctrl+C to stop.\n"
            << std::flush;
  run_until_signal(io, threads, {a->get(), n->get()});
  a->reset();
  n->reset();
  return 0;
}

}  // namespace baton::app
