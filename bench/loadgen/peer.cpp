// Scenario `peer`: the relay load against a real chat server, side by side:
// Prosody (Debian's package, bench/prosody/install.sh), XMPP over WebSocket
// (RFC 7395), with every chat message archived by mod_mam to SQLite, so that its
// work is durable too. Same engine, same pairs, same rates as `relay`
// (relay_engine.hpp); the stanza's id carries the client id.
//
// Each visitor and agent is an account registered in band (XEP-0077), signs in
// with SASL PLAIN (the WebSocket is on loopback; `consider_websocket_secure`),
// binds a resource and sends initial presence. Messages go to full JIDs, the way a
// chat widget talks to the agent it was given. XMPP has no per-message ack, so only
// delivery is timed.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <thread>

#include "loopback/client.hpp"
#include "loopback/process.hpp"
#include "loopback/run.hpp"
#include "relay_engine.hpp"
#include "scenarios.hpp"
#include "server.hpp"
#include "sysinfo.hpp"
#include "util.hpp"

namespace baton::bench {

namespace net = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using loopback::Endpoint;
using loopback::WsClient;

namespace {

constexpr const char* kHost = "bench.localhost";

std::string base64(std::string_view in) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += t[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else if (c == '\'') out += "&apos;";
    else out += c;
  }
  return out;
}

// The value of attribute `name` in the start tag of `stanza` (Prosody quotes with ').
std::string_view attr(std::string_view stanza, std::string_view name) {
  auto end = stanza.find('>');
  std::string_view tag = stanza.substr(0, end);
  for (char q : {'\'', '"'}) {
    std::string needle = " " + std::string(name) + "=" + q;
    auto pos = tag.find(needle);
    if (pos == std::string_view::npos) continue;
    auto start = pos + needle.size();
    auto stop = tag.find(q, start);
    if (stop == std::string_view::npos) return {};
    return tag.substr(start, stop - start);
  }
  return {};
}

// A Prosody process with a configuration of ours, on loopback.
class Prosody {
 public:
  Prosody(const std::string& dir, std::uint16_t port) : dir_(fs::absolute(dir).string()), port_(port) {
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/data");
    std::ofstream(dir_ + "/prosody.cfg.lua")
        << "-- Written by baton-loadgen peer (docs/benchmarks.md).\n"
        << "pidfile = \"" << dir_ << "/prosody.pid\"\n"
        << "data_path = \"" << dir_ << "/data\"\n"
        << "run_as_root = true\n"
        << "log = { warn = \"" << dir_ << "/prosody.log\" }\n"
        << "modules_enabled = { \"saslauth\", \"register\", \"mam\", \"websocket\", \"http\", \"ping\", \"disco\" }\n"
        << "modules_disabled = { \"s2s\", \"offline\" }\n"
        << "c2s_ports = {}\ns2s_ports = {}\ncomponent_ports = {}\nhttps_ports = {}\n"
        << "c2s_direct_tls_ports = {}\nlegacy_ssl_ports = {}\n"
        << "http_ports = { " << port_ << " }\nhttp_interfaces = { \"127.0.0.1\" }\n"
        << "consider_websocket_secure = true\nc2s_require_encryption = false\nallow_unencrypted_plain_auth = true\n"
        << "authentication = \"internal_plain\"\n"
        << "allow_registration = true\nmin_seconds_between_registrations = 0\n"
        << "-- Durable like Baton: accounts and the message archive in SQLite.\n"
        << "storage = \"sql\"\nsql = { driver = \"SQLite3\", database = \"prosody.sqlite\" }\n"
        << "archive_expires_after = \"never\"\ndefault_archive_policy = true\n"
        << "-- No rate limits on the bench's own connections.\n"
        << "limits = {}\n"
        << "VirtualHost \"" << kHost << "\"\n";
  }
  ~Prosody() { stop(); }

  void start() {
    int logfd = ::open((dir_ + "/stdout.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_ = loopback::spawn({"prosody", "--config", dir_ + "/prosody.cfg.lua", "-F"}, logfd);
    ::close(logfd);
    if (pid_ < 0) throw std::runtime_error("fork failed");
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("prosody exited at start; see " + dir_ + "/stdout.log and prosody.log");
      }
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(port_);
      bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (up) {
        log("prosody pid " + std::to_string(pid_) + " on ws://127.0.0.1:" + std::to_string(port_) + "/xmpp-websocket");
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    throw std::runtime_error("prosody did not listen within 30 s; see " + dir_);
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (waitpid(pid_, &status, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    pid_ = -1;
  }

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }

 private:
  std::string dir_;
  std::uint16_t port_;
  pid_t pid_ = -1;
};

class Peer final : public RelayEngine {
 public:
  explicit Peer(RelayOptions o) : RelayEngine(std::move(o), "peer") {
    agents_count_ = o_.agents > 0 ? o_.agents : (o_.pairs + o_.capacity - 1) / o_.capacity;
    sources_ = loopback_sources(std::max(1, o_.common.sources));
  }

 private:
  struct Session {
    std::string user;
    std::string jid;  // full JID once bound
    std::shared_ptr<WsClient> ws;
    std::deque<std::string> inbox;  // during setup
    bool closed = false;
  };

  pid_t server_pid() const override { return prosody_ ? prosody_->pid() : -1; }
  bool has_acks() const override { return false; }
  bool baton_threads() const override { return false; }

  json::object setup_json() const override {
    return json::object{{"server", "prosody"},
                        {"pairs", o_.pairs},
                        {"agents", agents_count_},
                        {"capacity", o_.capacity},
                        {"text_bytes", o_.text_bytes},
                        {"send_tick_us", o_.send_tick_us},
                        {"archive", "mod_mam, storage sql (SQLite3)"},
                        {"transport", "XMPP over WebSocket (RFC 7395), loopback"}};
  }

  void send(std::size_t pair, bool from_visitor, const std::string& cid, const std::string& text) override {
    Session& v = visitors_[pair];
    Session& a = agents_[pair % agents_.size()];
    Session& from = from_visitor ? v : a;
    const Session& to = from_visitor ? a : v;
    from.ws->send("<message xmlns='jabber:client' type='chat' to='" + to.jid + "' id='" + cid + "'><body>" +
                  xml_escape(text) + "</body></message>");
  }

  // Hot path.
  void on_stanza(bool at_agent, std::string_view s) {
    if (s.substr(0, 8) != "<message") return;
    std::string_view id = attr(s, "id");
    if (attr(s, "type") == "error") return on_refused(id, "xmpp-error");
    std::size_t pair = pair_of(id);
    bool ok = false;
    if (pair < visitors_.size()) {
      const Session& expected_from = at_agent ? visitors_[pair] : agents_[pair % agents_.size()];
      ok = attr(s, "from") == expected_from.jid;
    }
    on_delivered(at_agent, id, ok);
  }

  net::awaitable<std::string> next(Session& s) {
    co_await wait_until([&s] { return !s.inbox.empty() || s.closed; }, 30s, "a stanza for " + s.user);
    if (s.inbox.empty()) throw std::runtime_error(s.user + ": connection closed during setup");
    std::string out = std::move(s.inbox.front());
    s.inbox.pop_front();
    co_return out;
  }

  // Reads stanzas until one contains `marker`; returns it.
  net::awaitable<std::string> until(Session& s, std::string marker) {
    for (;;) {
      std::string st = co_await next(s);
      if (st.find(marker) != std::string::npos) co_return st;
      if (st.find("<failure") != std::string::npos || st.find("type='error'") != std::string::npos)
        throw std::runtime_error(s.user + ": " + st);
    }
  }

  net::awaitable<void> open_session(Session& s, std::size_t index, bool at_agent) {
    auto ex = co_await net::this_coro::executor;
    s.ws = WsClient::make(ex);
    Endpoint t{prosody_->port(), sources_[index % sources_.size()]};
    std::string path = "/xmpp-websocket", proto = "xmpp";
    co_await s.ws->connect(t, path, proto);
    s.ws->on_message([this, &s, at_agent](std::string_view m) {
      last_received_ = now_ns();
      if (running_) return on_stanza(at_agent, m);
      s.inbox.emplace_back(m);
    });
    s.ws->on_close([this, &s](const std::string& why) {
      s.closed = true;
      on_closed(s.user, why);
    });
    s.ws->start();
    const std::string open = std::string("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='") + kHost +
                             "' version='1.0'/>";
    const std::string password = "bench-password";
    s.ws->send(open);
    std::string marker = "features";
    co_await until(s, marker);
    s.ws->send("<iq xmlns='jabber:client' type='set' id='reg'><query xmlns='jabber:iq:register'><username>" + s.user +
               "</username><password>" + password + "</password></query></iq>");
    marker = "id='reg'";
    co_await until(s, marker);
    s.ws->send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
               base64(std::string(1, '\0') + s.user + std::string(1, '\0') + password) + "</auth>");
    marker = "<success";
    co_await until(s, marker);
    s.ws->send(open);
    marker = "features";
    co_await until(s, marker);
    s.ws->send("<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource>"
               "</bind></iq>");
    marker = "<jid>";
    std::string bound = co_await until(s, marker);
    auto a = bound.find("<jid>") + 5;
    s.jid = bound.substr(a, bound.find("</jid>") - a);
    s.ws->send("<presence xmlns='jabber:client'/>");
  }

  net::awaitable<void> setup() override {
    auto ex = co_await net::this_coro::executor;
    broken_ = false;
    running_ = false;
    closed_.clear();
    prosody_ = std::make_unique<Prosody>(o_.common.workdir + "/peer/prosody", loopback::free_port());
    prosody_->start();
    agents_ = std::vector<Session>(static_cast<std::size_t>(agents_count_));
    visitors_ = std::vector<Session>(static_cast<std::size_t>(o_.pairs));
    for (std::size_t a = 0; a < agents_.size(); ++a) agents_[a].user = "agent" + std::to_string(a);
    for (std::size_t v = 0; v < visitors_.size(); ++v) visitors_[v].user = "visitor" + std::to_string(v);
    // A few at a time: registration and sign-in each write to SQLite.
    std::size_t next = 0, total = agents_.size() + visitors_.size();
    int workers = 4, finished = 0;
    std::exception_ptr failure;
    for (int w = 0; w < workers; ++w) {
      net::co_spawn(
          ex,
          [this, &next, total]() -> net::awaitable<void> {
            while (next < total) {
              std::size_t i = next++;
              bool agent = i < agents_.size();
              Session& s = agent ? agents_[i] : visitors_[i - agents_.size()];
              co_await open_session(s, i, agent);
            }
          },
          [&](std::exception_ptr e) {
            if (e && !failure) failure = e;
            ++finished;
          });
    }
    co_await wait_until([&] { return finished == workers; }, 300s, "XMPP sessions");
    if (failure) std::rethrow_exception(failure);
    for (auto* list : {&agents_, &visitors_})
      for (auto& s : *list) s.inbox.clear();
    co_await wait_until([this] { return now_ns() - last_received_ > 300'000'000; }, 30s, "the setup traffic to drain");
    pair_count_ = visitors_.size();
    log("peer: " + std::to_string(visitors_.size()) + " pairs ready (" + std::to_string(agents_.size()) + " agents)");
  }

  net::awaitable<void> teardown() override {
    running_ = false;
    tearing_down_ = true;
    for (auto* list : {&agents_, &visitors_})
      for (auto& s : *list)
        if (s.ws) s.ws->abort();
    co_await sleep_for(50ms);
    if (prosody_) prosody_->stop();
    tearing_down_ = false;
  }

  int agents_count_ = 0;
  std::vector<std::string> sources_;
  std::unique_ptr<Prosody> prosody_;
  std::vector<Session> agents_, visitors_;
};

}  // namespace

json::object run_peer(const RelayOptions& o) {
  net::io_context io(1);
  Peer peer(o);
  return loopback::run_to_end(io, peer.main());
}

}  // namespace baton::bench
