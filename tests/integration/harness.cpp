#include "harness.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <array>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <stdexcept>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "baton/federation/keys.hpp"
#include "baton/federation/password.hpp"

namespace baton::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "baton-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

app::Config test_config(const std::string& data_dir) {
  // One hash for every agent: Argon2id is slow on purpose.
  static const std::string hash = *federation::hash_password(kPassword);
  app::Config c;
  c.organization = "Test Org";
  c.public_url = "http://127.0.0.1";
  c.listen = "127.0.0.1:0";
  c.data_dir = data_dir;
  c.queues = {{"General", "General"}, {"Billing", "Billing"}};
  c.agents = {{"alice", "Alice", hash, {"General"}, 2},
              {"bob", "Bob", hash, {"General", "Billing"}, 1},
              {"carol", "Carol", hash, {"Billing"}, 1}};
  c.sites = {{"web", {kSiteOrigin}, "General"}};
  auto st = app::validate_config(c);
  if (!st) throw std::runtime_error("test config: " + st.error().message);
  return c;
}

app::AppOptions TestServer::default_options() {
  app::AppOptions o;
  o.agent_offline_grace_ms = 200;
  return o;
}

TestServer::TestServer(app::Config config, app::AppOptions options)
    : config_(std::move(config)), options_(options) {
  start();
}

TestServer::~TestServer() { stop(); }

void TestServer::start() {
  io_ = std::make_unique<net::io_context>(2);
  auto a = app::App::start(config_, *io_, options_);
  if (!a) throw std::runtime_error("server did not start: " + a.error().message);
  app_ = std::move(*a);
  port_ = app_->port();
  for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_->run(); });
}

void TestServer::stop() {
  if (!app_) return;
  app_->stop();
  // Let connections finish closing, then stop the loop.
  auto* io = io_.get();
  net::post(*io, [io] {
    auto t = std::make_shared<net::steady_timer>(*io, std::chrono::milliseconds(300));
    t->async_wait([io, t](const boost::system::error_code&) { io->stop(); });
  });
  for (auto& t : threads_) t.join();
  threads_.clear();
  app_.reset();
  io_.reset();
}

void TestServer::restart() {
  stop();
  start();
}

void TestServer::restart_on_same_port() {
  std::uint16_t port = port_;
  stop();
  app::Config c = config_;
  c.listen = "127.0.0.1:" + std::to_string(port);
  c.listen_port = port;
  std::swap(c, config_);
  start();
  std::swap(c, config_);
}

std::string HttpResult::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return v;
  return {};
}

json::value HttpResult::json() const { return json::parse(body); }

std::int64_t metric(std::uint16_t port, const std::string& name) {
  auto r = http(port, "GET", "/metrics");
  auto pos = r.body.find("\n" + name + " ");
  if (pos == std::string::npos) return -1;
  return std::stoll(r.body.substr(pos + name.size() + 2));
}

HttpResult http(std::uint16_t port, const std::string& method, const std::string& target, const std::string& body,
                std::vector<std::pair<std::string, std::string>> headers) {
  net::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(kDeadline);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  bhttp::write(stream, req);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (method == "HEAD") parser.skip(true);
  bhttp::read(stream, buf, parser);
  auto& res = parser.get();
  HttpResult out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = res.body();
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return out;
}

HttpResult post_json(std::uint16_t port, const std::string& target, const json::value& body,
                     std::vector<std::pair<std::string, std::string>> headers) {
  headers.emplace_back("Content-Type", "application/json");
  return http(port, "POST", target, json::serialize(body), std::move(headers));
}

std::string sign_in(std::uint16_t port, const std::string& user, const std::string& password) {
  auto r = post_json(port, "/api/agent/session", {{"username", user}, {"password", password}});
  if (r.status != 200) throw std::runtime_error("sign in failed: " + r.body);
  return std::string(r.json().at("token").as_string());
}

Visitor start_chat(std::uint16_t port, const std::string& first_message, const std::string& name) {
  json::object body{{"site", "web"}, {"name", name}};
  if (!first_message.empty()) {
    body["text"] = first_message;
    body["client_id"] = "first";
  }
  auto r = post_json(port, "/api/visitor/conversations", body);
  if (r.status != 201) throw std::runtime_error("start chat failed: " + r.body);
  auto v = r.json().as_object();
  return {std::string(v.at("conversation").as_string()), std::string(v.at("token").as_string())};
}

// Every operation on the stream runs on the client's own thread (`runner`), so reads
// and writes never touch the stream from two threads at once; the test thread hands
// writes over and waits for their completion.
struct WsClient::Impl {
  net::io_context io;
  net::executor_work_guard<net::io_context::executor_type> work{io.get_executor()};
  websocket::stream<beast::tcp_stream> ws{io};
  std::thread runner;
  beast::flat_buffer buf;
  std::deque<std::pair<std::string, std::shared_ptr<std::promise<beast::error_code>>>> outbox;
  bool writing = false;

  std::mutex mu;  // guards what the test thread reads: inbox, closed, close_code
  std::condition_variable cv;
  std::deque<json::object> inbox;
  bool closed = false;
  int close_code = 0;

  void read_next() {
    ws.async_read(buf, [this](beast::error_code ec, std::size_t) {
      std::lock_guard lock(mu);
      if (ec) {
        closed = true;
        close_code = ws.reason().code;
        cv.notify_all();
        return;
      }
      boost::system::error_code jec;
      auto v = json::parse(beast::buffers_to_string(buf.data()), jec);
      buf.consume(buf.size());
      if (!jec && v.is_object()) inbox.push_back(std::move(v.as_object()));
      cv.notify_all();
      net::post(io, [this] { read_next(); });
    });
  }

  void write_next() {
    if (writing || outbox.empty()) return;
    writing = true;
    ws.async_write(net::buffer(outbox.front().first), [this](beast::error_code ec, std::size_t) {
      auto done = std::move(outbox.front().second);
      outbox.pop_front();
      writing = false;
      done->set_value(ec);
      write_next();
    });
  }
};

WsClient::WsClient(std::uint16_t port, std::vector<std::pair<std::string, std::string>> headers)
    : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  beast::get_lowest_layer(s.ws).expires_after(kDeadline);
  beast::get_lowest_layer(s.ws).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  beast::get_lowest_layer(s.ws).expires_never();
  s.ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [k, v] : headers) req.set(k, v);
  }));
  s.ws.read_message_max(64 * 1024 * 1024);
  s.ws.handshake("127.0.0.1:" + std::to_string(port), "/ws");
  s.ws.text(true);
  s.read_next();
  s.runner = std::thread([this] { impl_->io.run(); });
}

WsClient::~WsClient() {
  close();
  impl_->work.reset();
  if (impl_->runner.joinable()) impl_->runner.join();
}

void WsClient::close() {
  auto& s = *impl_;
  net::post(s.io, [&s] {
    beast::error_code ec;
    beast::get_lowest_layer(s.ws).socket().shutdown(tcp::socket::shutdown_both, ec);
  });
}

void WsClient::send_raw(const std::string& text) {
  auto& s = *impl_;
  auto done = std::make_shared<std::promise<beast::error_code>>();
  auto result = done->get_future();
  net::post(s.io, [&s, text, done] {
    s.outbox.emplace_back(text, done);
    s.write_next();
  });
  if (result.wait_for(kDeadline) != std::future_status::ready)
    throw std::runtime_error("timed out writing to the WebSocket");
  if (auto ec = result.get()) throw beast::system_error(ec);
}

void WsClient::send(const json::value& v) { send_raw(json::serialize(v)); }

json::object WsClient::expect(const std::function<bool(const json::object&)>& pred,
                              std::chrono::milliseconds deadline) {
  auto& s = *impl_;
  std::unique_lock lock(s.mu);
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    for (auto it = s.inbox.begin(); it != s.inbox.end(); ++it) {
      if (pred(*it)) {
        json::object o = std::move(*it);
        s.inbox.erase(it);
        return o;
      }
    }
    if (s.closed) throw std::runtime_error("socket closed while waiting");
    if (s.cv.wait_until(lock, until) == std::cv_status::timeout)
      throw std::runtime_error("timed out waiting for a message");
  }
}

json::object WsClient::expect_type(const std::string& type, std::chrono::milliseconds deadline) {
  return expect([&](const json::object& o) { return str(o, "type") == type; }, deadline);
}

std::vector<json::object> WsClient::drain() {
  std::lock_guard lock(impl_->mu);
  std::vector<json::object> out(impl_->inbox.begin(), impl_->inbox.end());
  impl_->inbox.clear();
  return out;
}

int WsClient::wait_closed(std::chrono::milliseconds deadline) {
  auto& s = *impl_;
  std::unique_lock lock(s.mu);
  if (!s.cv.wait_for(lock, deadline, [&] { return s.closed; })) throw std::runtime_error("socket did not close");
  return s.close_code;
}

void WsClient::hello_visitor(const Visitor& v, std::int64_t last_seq) {
  send(json::object{{"type", "hello"}, {"role", "visitor"}, {"conversation", v.conversation},
                    {"token", v.token}, {"last_seq", last_seq}});
  expect_type("welcome");
}

void WsClient::hello_agent(const std::string& token) {
  send(json::object{{"type", "hello"}, {"role", "agent"}, {"token", token}});
  expect_type("welcome");
}

struct SilentWs::Impl {
  net::io_context io;
  websocket::stream<beast::tcp_stream> ws{io};
};

SilentWs::SilentWs(std::uint16_t port, const json::value& hello) : impl_(std::make_unique<Impl>()) {
  auto& sock = beast::get_lowest_layer(impl_->ws).socket();
  sock.open(tcp::v4());
  sock.set_option(net::socket_base::receive_buffer_size(4096));
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  impl_->ws.handshake("127.0.0.1:" + std::to_string(port), "/ws");
  send(hello);
}

SilentWs::~SilentWs() {
  beast::error_code ec;
  beast::get_lowest_layer(impl_->ws).socket().close(ec);
}

void SilentWs::send(const json::value& v) {
  impl_->ws.text(true);
  impl_->ws.write(net::buffer(json::serialize(v)));
}

bool SilentWs::closed_by_server(std::chrono::milliseconds deadline) {
  // Read raw bytes (skipping WebSocket framing) until EOF or reset.
  auto& stream = beast::get_lowest_layer(impl_->ws);
  stream.expires_after(deadline);
  std::array<char, 65536> buf;
  for (;;) {
    beast::error_code ec;
    stream.read_some(net::buffer(buf), ec);
    if (ec == beast::error::timeout) return false;
    if (ec) return true;
  }
}

struct RawConnection::Impl {
  net::io_context io;
  beast::tcp_stream stream{io};
};

RawConnection::RawConnection(std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  impl_->stream.expires_after(kDeadline);
  impl_->stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
}

RawConnection::~RawConnection() {
  beast::error_code ec;
  impl_->stream.socket().close(ec);
}

void RawConnection::write(const std::string& bytes) {
  impl_->stream.expires_after(kDeadline);
  net::write(impl_->stream, net::buffer(bytes));
}

std::string RawConnection::read_until_closed(std::chrono::milliseconds deadline) {
  impl_->stream.expires_after(deadline);
  std::string out;
  std::array<char, 4096> buf;
  for (;;) {
    beast::error_code ec;
    std::size_t n = impl_->stream.read_some(net::buffer(buf), ec);
    out.append(buf.data(), n);
    if (ec == beast::error::timeout) throw std::runtime_error("connection was not closed in time");
    if (ec) return out;
  }
}

struct FaultyProxy::Impl {
  net::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::atomic<bool> stopping{false};

  // hold_next(): armed until a request matches; then held until decided.
  enum class Decision { none, release, drop };
  std::mutex mu;
  std::condition_variable cv;
  std::string hold_path;
  std::optional<Hold> hold_where;
  bool held = false;
  Decision decision = Decision::none;
  std::function<void(const ProxiedRequest&, ProxiedAnswer&)> on_answer;

  // Called on the proxy thread at `where` for `target`: true to go on, false to drop.
  bool checkpoint(const std::string& target, Hold where) {
    std::unique_lock lock(mu);
    if (!hold_where || *hold_where != where || target.find(hold_path) == std::string::npos) return true;
    hold_where.reset();
    held = true;
    decision = Decision::none;
    cv.notify_all();
    cv.wait(lock, [&] { return decision != Decision::none || stopping.load(); });
    held = false;
    bool go_on = decision == Decision::release;
    decision = Decision::none;
    return go_on;
  }
};

void FaultyProxy::hold_next(const std::string& path_part, Hold where) {
  std::lock_guard lock(impl_->mu);
  impl_->hold_path = path_part;
  impl_->hold_where = where;
}

bool FaultyProxy::wait_held(std::chrono::milliseconds deadline) {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, deadline, [&] { return impl_->held; });
}

void FaultyProxy::release() {
  std::lock_guard lock(impl_->mu);
  impl_->decision = Impl::Decision::release;
  impl_->cv.notify_all();
}

void FaultyProxy::drop() {
  std::lock_guard lock(impl_->mu);
  impl_->decision = Impl::Decision::drop;
  impl_->cv.notify_all();
}

void FaultyProxy::on_answer(std::function<void(const ProxiedRequest&, ProxiedAnswer&)> f) {
  std::lock_guard lock(impl_->mu);
  impl_->on_answer = std::move(f);
}

namespace {

// Writes `a` as an HTTP/1.1 answer; with close_mid_answer, only the head and half
// of the body (the Content-Length promises all of it).
void write_answer(beast::tcp_stream& in, const ProxiedAnswer& a) {
  std::string head = "HTTP/1.1 " + std::to_string(a.status) + " X\r\n";
  for (const auto& [k, v] : a.headers) {
    if (beast::iequals(k, "Content-Length") || beast::iequals(k, "Transfer-Encoding") || beast::iequals(k, "Connection"))
      continue;
    head += k + ": " + v + "\r\n";
  }
  head += "Content-Length: " + std::to_string(a.body.size()) + "\r\nConnection: close\r\n\r\n";
  beast::error_code ec;
  net::write(in, net::buffer(head), ec);
  if (ec) return;
  std::size_t n = a.close_mid_answer ? a.body.size() / 2 : a.body.size();
  net::write(in, net::buffer(a.body.data(), n), ec);
}

}  // namespace

FaultyProxy::FaultyProxy(std::uint16_t target_port) : impl_(std::make_unique<Impl>()) {
  auto& a = impl_->acceptor;
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  a.open(ep.protocol());
  a.bind(ep);
  a.listen();
  port_ = a.local_endpoint().port();
  impl_->thread = std::thread([this, target_port] {
    for (;;) {
      beast::error_code ec;
      tcp::socket client(impl_->io);
      impl_->acceptor.accept(client, ec);
      if (ec || impl_->stopping) return;
      // One request per connection, handled inline: the peer client sends one at a time.
      beast::tcp_stream in(std::move(client));
      in.expires_after(kDeadline);
      beast::flat_buffer buf;
      bhttp::request<bhttp::string_body> req;
      bhttp::read(in, buf, req, ec);
      if (ec) continue;
      std::string target(req.target());
      if (!impl_->checkpoint(target, Hold::request)) continue;  // the request is lost
      if (int d = request_delay_ms_.load(); d > 0) std::this_thread::sleep_for(std::chrono::milliseconds(d));
      beast::tcp_stream out(impl_->io);
      out.expires_after(kDeadline);
      out.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), target_port), ec);
      if (ec) continue;
      bhttp::write(out, req, ec);
      beast::flat_buffer rbuf;
      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      bhttp::read(out, rbuf, parser, ec);
      if (ec) continue;
      auto& res = parser.get();
      forwarded_.fetch_add(1);
      if (!impl_->checkpoint(target, Hold::answer)) continue;  // the answer is lost
      if (int d = delay_ms_.load(); d > 0) std::this_thread::sleep_for(std::chrono::milliseconds(d));
      int n = drop_.load();
      if (n > 0 && drop_.compare_exchange_strong(n, n - 1)) continue;  // the answer is lost
      std::function<void(const ProxiedRequest&, ProxiedAnswer&)> hook;
      {
        std::lock_guard lock(impl_->mu);
        hook = impl_->on_answer;
      }
      if (hook) {
        ProxiedRequest pr{std::string(req.method_string()), target, {}, req.body()};
        for (const auto& f : req) pr.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        ProxiedAnswer pa{static_cast<int>(res.result_int()), {}, res.body()};
        for (const auto& f : res) pa.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        hook(pr, pa);
        write_answer(in, pa);
      } else {
        bhttp::write(in, res, ec);
      }
      in.socket().shutdown(tcp::socket::shutdown_both, ec);
    }
  });
}

FaultyProxy::~FaultyProxy() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    impl_->cv.notify_all();
  }
  beast::error_code ec;
  // Wake the accept.
  tcp::socket s(impl_->io);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
  impl_->thread.join();
}

std::uint16_t free_port() {
  net::io_context io;
  tcp::acceptor a(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

std::string make_key(const std::string& path) {
  auto pair = federation::generate_key_pair();
  if (!federation::save_secret_key(path, pair)) throw std::runtime_error("cannot save key " + path);
  return federation::format_public_key(pair.public_key);
}

FederatedConfigs federated_configs(const std::string& dir, std::uint16_t origin_port, const std::string& origin_url,
                                   std::uint16_t dest_port, const std::string& dest_url) {
  std::string tag = std::to_string(origin_port);
  app::Config oc = test_config(dir + "/origin-" + tag);
  oc.organization = "Acme";
  oc.listen = "127.0.0.1:" + std::to_string(origin_port);
  oc.public_url = origin_url;
  oc.federation.key_file = dir + "/origin-" + tag + ".key";
  app::Config dc = test_config(dir + "/dest-" + tag);
  dc.organization = "Northwind";
  dc.listen = "127.0.0.1:" + std::to_string(dest_port);
  dc.public_url = dest_url;
  dc.queues = {{"Claims", "Claims"}, {"Sales", "Sales"}};
  dc.agents = {{"bob", "Bob", oc.agents[0].password_hash, {"Claims", "Sales"}, 2}};
  dc.sites = {{"nw", {"http://nw.example"}, "Claims"}};
  dc.federation.key_file = dir + "/dest-" + tag + ".key";
  std::string opub = make_key(oc.federation.key_file), dpub = make_key(dc.federation.key_file);
  oc.peers = {{"northwind", "Northwind", dest_url, {dpub}, {"General"}, {}}};
  dc.peers = {{"acme", "Acme", origin_url, {opub}, {"Claims"}, {kSiteOrigin}}};
  for (app::Config* c : {&oc, &dc}) {
    auto st = app::validate_config(*c);
    if (!st) throw std::logic_error("federated test config: " + st.error().message);
  }
  return {std::move(oc), std::move(dc)};
}

std::string cookie_value(const std::string& set_cookie) {
  auto semi = set_cookie.find(';');
  return set_cookie.substr(0, semi);
}

Visitor join_at(std::uint16_t dest_port, const std::string& code) {
  auto joined = http(dest_port, "POST", "/join", "code=" + code, {{"Content-Type", "application/x-www-form-urlencoded"}});
  if (joined.status != 303) throw std::runtime_error("join refused: " + std::to_string(joined.status) + " " + joined.body);
  auto handoff = http(dest_port, "POST", "/api/visitor/handoff", {}, {{"Cookie", cookie_value(joined.header("Set-Cookie"))}});
  if (handoff.status != 200) throw std::runtime_error("handoff refused: " + handoff.body);
  auto o = handoff.json().as_object();
  return {std::string(o.at("conversation").as_string()), std::string(o.at("token").as_string())};
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    // A short pause between polls, not a guess at how long the event takes.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

ChildServer::ChildServer(app::Config config, std::string dir)
    : config_(std::move(config)), dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
  config_path_ = dir_ + "/baton.toml";
  log_path_ = dir_ + "/baton.log";
  config_.config_dir = dir_;
  std::ofstream out(config_path_);
  out << app::to_toml(config_);
  if (!out) throw std::runtime_error("cannot write " + config_path_);
}

ChildServer::~ChildServer() {
  if (pid_ > 0) kill9();
}

void ChildServer::start() {
  if (pid_ > 0) throw std::logic_error("already running");
  std::string binary = BATON_BINARY;
  std::vector<std::string> args{binary, "--log-level", "warn", "serve", "--config", config_path_};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string log = log_path_;
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec: this process has threads.
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    // Nothing of the test's own sockets (listeners, proxies) may live on in the child.
    for (int i = 3; i < 4096; ++i) ::close(i);
    ::signal(SIGXFSZ, SIG_IGN);  // a write past RLIMIT_FSIZE fails with EFBIG instead
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  auto until = std::chrono::steady_clock::now() + kDeadline;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      throw std::runtime_error("baton exited at start (status " + std::to_string(status) + "): " + log_tail());
    }
    try {
      if (http(port(), "GET", "/healthz").status == 200) return;
    } catch (const std::exception&) {
      // not listening yet
    }
    if (std::chrono::steady_clock::now() >= until) {
      kill9();
      throw std::runtime_error("baton did not answer /healthz in time: " + log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void ChildServer::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = 0;
}

void ChildServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = 0;
}

long ChildServer::rss_kib() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

void ChildServer::set_file_size_limit(std::uint64_t bytes) {
  struct rlimit lim;
  if (::prlimit(pid_, RLIMIT_FSIZE, nullptr, &lim) != 0) throw std::runtime_error("prlimit: cannot read the limit");
  lim.rlim_cur = bytes == 0 ? lim.rlim_max : static_cast<rlim_t>(bytes);
  if (::prlimit(pid_, RLIMIT_FSIZE, &lim, nullptr) != 0) throw std::runtime_error("prlimit: cannot set the limit");
}

std::string ChildServer::log_tail(std::size_t bytes) const {
  std::ifstream in(log_path_, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

bool is_event(const json::object& o, std::string_view kind) {
  if (str(o, "type") != "event") return false;
  return kind.empty() || str(o, "kind") == kind;
}

std::string str(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return std::string(it->value().as_string());
}

}  // namespace baton::testing

namespace {
// Servers log at info; the tests' own output is easier to read without it.
[[maybe_unused]] const bool kQuietLogs = (spdlog::set_level(spdlog::level::warn), true);
}  // namespace
