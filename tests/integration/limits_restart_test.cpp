// The limits on guessing (docs/security.md, "Password guessing" and "Join codes")
// hold across a restart: every failed sign-in, every successful one and every
// failed join code is stored (table `attempts`) before it is answered and read back
// when the server starts, so that an attacker who makes the server restart, or
// waits for a deploy, does not get a fresh set of guesses. In-process servers
// (TestServer) restart gracefully with a clock the test moves; a real `baton`
// process (ChildServer) is killed with SIGKILL right after the last answer.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <atomic>

#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

constexpr core::Millis kLoginWindowMs = 5 * 60'000;  // api::Settings::login_window_ms
constexpr core::Millis kJoinWindowMs = 60'000;       // api::ApiService, kJoinFailuresPerMinute

// A clock the test moves by hand, safe to read from the server's threads.
class SteppedClock final : public core::Clock {
 public:
  core::Millis now() const override { return now_.load(); }
  void advance(core::Millis ms) { now_.fetch_add(ms); }

 private:
  std::atomic<core::Millis> now_{1'800'000'000'000};
};

// The system clock plus an offset the test moves forward: the server's timers keep
// running as usual while the test skips over a limit's window.
class ShiftedClock final : public core::Clock {
 public:
  core::Millis now() const override { return system_.now() + offset_.load(); }
  void advance(core::Millis ms) { offset_.fetch_add(ms); }

 private:
  core::SystemClock system_;
  std::atomic<core::Millis> offset_{0};
};

// One request from another loopback address (127.0.0.0/8 is all local on Linux),
// so that the server sees a different client.
HttpResult http_from(const std::string& source, std::uint16_t port, const std::string& method,
                     const std::string& target, const std::string& body,
                     std::vector<std::pair<std::string, std::string>> headers) {
  net::io_context io;
  tcp::socket s(io);
  s.open(tcp::v4());
  s.bind(tcp::endpoint(net::ip::make_address(source), 0));
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  beast::tcp_stream stream(std::move(s));
  stream.expires_after(kDeadline);
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  bhttp::write(stream, req);
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buf, res);
  HttpResult out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = res.body();
  return out;
}

int sign_in_from(const std::string& source, std::uint16_t port, const std::string& user,
                 const std::string& password) {
  return http_from(source, port, "POST", "/api/agent/session",
                   json::serialize(json::object{{"username", user}, {"password", password}}),
                   {{"Content-Type", "application/json"}})
      .status;
}

HttpResult join_from(const std::string& source, std::uint16_t port, const std::string& code) {
  return http_from(source, port, "POST", "/join", "code=" + code,
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
}

// Spends an address's failed sign-ins (login_failures_per_window) on `user`.
void use_up_sign_ins(const std::string& source, std::uint16_t port, const std::string& user) {
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(sign_in_from(source, port, user, "guess" + std::to_string(i)), 401) << source << " guess " << i;
  ASSERT_EQ(sign_in_from(source, port, user, "one more"), 429) << source;
}

// Spends an address's failed join codes (kJoinFailuresPerMinute).
void use_up_join_codes(const std::string& source, std::uint16_t port) {
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(join_from(source, port, "wrong-code-" + std::to_string(i)).status, 404) << source << " code " << i;
  ASSERT_EQ(join_from(source, port, "one-more").status, 429) << source;
}

class SignInLimitsAfterRestart : public ::testing::Test {
 protected:
  static app::AppOptions options(SteppedClock& clock) {
    auto o = TestServer::default_options();
    o.sessions_clock = &clock;
    return o;
  }
  SteppedClock clock;
  TempDir dir;
  TestServer server{test_config(dir.path()), options(clock)};
  std::uint16_t port() const { return server.port(); }
};

TEST_F(SignInLimitsAfterRestart, AnAddressOutOfGuessesIsStillRefusedAfterARestartForTheRestOfTheWindow) {
  use_up_sign_ins("127.0.0.2", port(), "alice");
  clock.advance(60'000);
  server.restart();

  // Still refused, for every name, even with the right password...
  EXPECT_EQ(sign_in_from("127.0.0.2", port(), "alice", kPassword), 429);
  EXPECT_EQ(sign_in_from("127.0.0.2", port(), "carol", kPassword), 429);
  // ...while alice herself, from another address, gets in: one address counts only
  // three times toward her name, after the restart as before it.
  EXPECT_EQ(sign_in_from("127.0.0.3", port(), "alice", kPassword), 200);
  // Once the window has passed since the guesses (not since the restart), the
  // address may try again.
  clock.advance(kLoginWindowMs - 60'000 + 1);
  EXPECT_EQ(sign_in_from("127.0.0.2", port(), "carol", kPassword), 200);
}

TEST_F(SignInLimitsAfterRestart, ANameLockedByGuessesFromManyAddressesStaysLockedAfterARestartButNotWhereItSignedIn) {
  // alice has signed in from her office before.
  ASSERT_EQ(sign_in_from("127.0.0.1", port(), "alice", kPassword), 200);
  // Eleven guesses from three addresses: each address counts three times at most
  // toward her name, so nine count and the name is not locked yet.
  for (const char* from : {"127.0.0.2", "127.0.0.3"})
    for (int i = 0; i < 4; ++i) ASSERT_EQ(sign_in_from(from, port(), "alice", "guess"), 401) << from;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(sign_in_from("127.0.0.4", port(), "alice", "guess"), 401);
  server.restart();

  // The same nine count after the restart: a new address still gets in.
  EXPECT_EQ(sign_in_from("127.0.0.6", port(), "alice", kPassword), 200);
  // The tenth locks her name for addresses it was not used from...
  ASSERT_EQ(sign_in_from("127.0.0.5", port(), "alice", "guess"), 401);
  server.restart();
  EXPECT_EQ(sign_in_from("127.0.0.7", port(), "alice", kPassword), 429);
  EXPECT_EQ(sign_in_from("127.0.0.2", port(), "alice", kPassword), 429);
  // ...not other names...
  EXPECT_EQ(sign_in_from("127.0.0.7", port(), "carol", kPassword), 200);
  // ...and alice still gets in from where she signed in before, before either restart or between them.
  EXPECT_EQ(sign_in_from("127.0.0.1", port(), "alice", kPassword), 200);
  EXPECT_EQ(sign_in_from("127.0.0.6", port(), "alice", kPassword), 200);
  // Not for good: once the failures are older than the window, any address works.
  clock.advance(kLoginWindowMs + 1);
  server.restart();
  EXPECT_EQ(sign_in_from("127.0.0.7", port(), "alice", kPassword), 200);
}

class JoinLimitsAfterRestart : public ::testing::Test {
 protected:
  static app::AppOptions options(ShiftedClock& clock) {
    auto o = TestServer::default_options();
    o.clock = &clock;
    return o;
  }
  ShiftedClock clock;
  TempDir dir;
  TestServer server{test_config(dir.path()), options(clock)};
  std::uint16_t port() const { return server.port(); }
};

TEST_F(JoinLimitsAfterRestart, AnAddressOutOfJoinCodeGuessesIsStillRefusedAfterARestartForTheRestOfTheMinute) {
  use_up_join_codes("127.0.0.2", port());
  server.restart();

  auto limited = join_from("127.0.0.2", port(), "another-guess");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.header("Retry-After"), "60");
  // Other addresses are not affected.
  EXPECT_EQ(join_from("127.0.0.3", port(), "a-guess").status, 404);
  // A minute after the guesses, the address may try again.
  clock.advance(kJoinWindowMs + 1);
  EXPECT_EQ(join_from("127.0.0.2", port(), "another-guess").status, 404);
}

// A real process killed with SIGKILL right after its last answer: what was answered
// had been stored. It runs on the system clock, so this relies on the kill and the
// start again taking less than the join limit's minute (they take a few seconds).
TEST(LimitsAfterKill, GuessesAnsweredJustBeforeASigkillStillCountAfterTheRestart) {
  TempDir dir;
  std::unique_ptr<ChildServer> server;
  for (int attempt = 0; !server; ++attempt) {
    try {
      std::uint16_t port = free_port();
      app::Config c = test_config(dir.path() + "/data" + std::to_string(attempt));
      c.listen = "127.0.0.1:" + std::to_string(port);
      c.public_url = "http://127.0.0.1:" + std::to_string(port);
      auto st = app::validate_config(c);
      ASSERT_TRUE(st.ok()) << st.error().message;
      server = std::make_unique<ChildServer>(c, dir.path() + "/run" + std::to_string(attempt));
      server->start();
    } catch (const std::exception&) {
      server.reset();  // a port taken between choosing and binding: choose again
      if (attempt >= 4) throw;
    }
  }
  std::uint16_t port = server->port();
  use_up_sign_ins("127.0.0.2", port, "alice");
  use_up_join_codes("127.0.0.3", port);
  server->kill9();
  server->start();

  EXPECT_EQ(sign_in_from("127.0.0.2", port, "carol", kPassword), 429) << server->log_tail();
  EXPECT_EQ(join_from("127.0.0.3", port, "another-guess").status, 429) << server->log_tail();
  EXPECT_EQ(sign_in_from("127.0.0.3", port, "alice", kPassword), 200);
}

}  // namespace
}  // namespace baton::testing
