// Attacks on one server (docs/security.md): stolen or revoked sessions, password
// guessing, agents and visitors reaching past what is theirs, redirects, markup in
// the server's own pages, slow requests and floods from one address.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>

#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

// A clock the test moves by hand, safe to read from the server's threads.
class SteppedClock final : public core::Clock {
 public:
  core::Millis now() const override { return now_.load(); }
  void advance(core::Millis ms) { now_.fetch_add(ms); }

 private:
  std::atomic<core::Millis> now_{1'800'000'000'000};
};

// A TCP socket to the server from another loopback address (127.0.0.0/8 is all
// local on Linux), so that the server sees a different client.
tcp::socket connect_from(net::io_context& io, const std::string& source, std::uint16_t port) {
  tcp::socket s(io);
  s.open(tcp::v4());
  s.bind(tcp::endpoint(net::ip::make_address(source), 0));
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  return s;
}

HttpResult http_from(const std::string& source, std::uint16_t port, const std::string& method,
                     const std::string& target, const std::string& body = {},
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
  net::io_context io;
  beast::tcp_stream stream(connect_from(io, source, port));
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

int sign_in_from(const std::string& source, std::uint16_t port, const std::string& user, const std::string& password) {
  return http_from(source, port, "POST", "/api/agent/session",
                   json::serialize(json::object{{"username", user}, {"password", password}}),
                   {{"Content-Type", "application/json"}})
      .status;
}

std::string code_of(const HttpResult& r) { return std::string(r.json().at("error").at("code").as_string()); }

json::object reply_to(WsClient& ws, const std::string& type) {
  return ws.expect([&](const json::object& o) {
    return (str(o, "type") == "error" || str(o, "type") == "ok" || str(o, "type") == "ack") &&
           (str(o, "in_reply_to") == type || (type == "message" && str(o, "type") == "ack") ||
            (type == "note" && str(o, "type") == "ack"));
  });
}

std::string refusal(WsClient& ws, const json::object& request) {
  ws.send(request);
  auto r = reply_to(ws, str(request, "type"));
  return str(r, "type") == "error" ? str(r, "code") : str(r, "type");
}

// A redirect, if any, stays on this server and on a clean path.
void expect_same_origin_location(const HttpResult& r, const std::string& what) {
  std::string loc = r.header("Location");
  if (loc.empty()) return;
  EXPECT_EQ(loc.front(), '/') << what << ": " << loc;
  EXPECT_NE(loc.substr(0, 2), "//") << what << ": " << loc;
  EXPECT_EQ(loc.find('\\'), std::string::npos) << what << ": " << loc;
  EXPECT_EQ(loc.find("evil"), std::string::npos) << what << ": " << loc;
}

class Attack : public ::testing::Test {
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

// ---- sessions --------------------------------------------------------------------

TEST_F(Attack, SigningOutClosesTheSessionsOpenSockets) {
  std::string token = sign_in(port(), "alice");
  std::string other = sign_in(port(), "alice");  // the same agent, another browser
  WsClient by_hello(port());
  by_hello.hello_agent(token);
  WsClient by_cookie(port(), {{"Cookie", "baton_session=" + token}});
  by_cookie.send(json::object{{"type", "hello"}, {"role", "agent"}});
  by_cookie.expect_type("welcome");
  WsClient elsewhere(port());
  elsewhere.hello_agent(other);

  auto out = http(port(), "DELETE", "/api/agent/session", {}, {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(out.status, 200);
  EXPECT_EQ(by_hello.wait_closed(), 1008);
  EXPECT_EQ(by_cookie.wait_closed(), 1008);
  // The other session is untouched.
  elsewhere.send(json::object{{"type", "ping"}});
  elsewhere.expect_type("pong");
  // And the signed-out token opens nothing any more.
  WsClient again(port());
  again.send(json::object{{"type", "hello"}, {"role", "agent"}, {"token", token}});
  EXPECT_EQ(str(again.expect_type("error"), "code"), "unauthorized");
  EXPECT_EQ(http(port(), "GET", "/api/agent/me", {}, {{"Authorization", "Bearer " + token}}).status, 401);
}

// An agent who signs out is offline at once: the grace period that keeps an agent's
// visitors through a reload does not apply to a sign-out (the visitor is told nobody
// is there instead of waiting on a console that is gone).
TEST(AttackSignOut, SigningOutTakesTheAgentOfflineWithoutTheGracePeriod) {
  TempDir dir;
  app::AppOptions options = TestServer::default_options();
  options.agent_offline_grace_ms = 60'000;  // the product's is 30 s; far beyond the wait below
  TestServer server(test_config(dir.path()), options);
  auto online = [&] {
    auto r = http(server.port(), "GET", "/api/visitor/availability?site=web");
    return r.json().at("online").as_bool();
  };
  std::string token = sign_in(server.port(), "alice");
  WsClient console(server.port());
  console.hello_agent(token);
  ASSERT_TRUE(wait_until(online, 5s));

  ASSERT_EQ(http(server.port(), "DELETE", "/api/agent/session", {}, {{"Authorization", "Bearer " + token}}).status, 200);
  EXPECT_EQ(console.wait_closed(), 1008);
  EXPECT_TRUE(wait_until([&] { return !online(); }, 10s)) << "still online after signing out";
}

TEST_F(Attack, ASignedOutSocketStopsReceivingTheConversation) {
  Visitor v = start_chat(port(), "Private matter");
  std::string token = sign_in(port(), "alice");
  WsClient alice(port());
  alice.hello_agent(token);
  alice.send(json::object{{"type", "subscribe"}, {"conversation", v.conversation}});
  alice.expect_type("synced");
  ASSERT_EQ(http(port(), "DELETE", "/api/agent/session", {}, {{"Authorization", "Bearer " + token}}).status, 200);
  EXPECT_EQ(alice.wait_closed(), 1008);
  // What the visitor writes afterwards never reaches that socket.
  WsClient visitor(port());
  visitor.hello_visitor(v);
  visitor.send(json::object{{"type", "message"}, {"client_id", "after"}, {"text", "my card number"}});
  visitor.expect_type("ack");
  for (const auto& o : alice.drain()) EXPECT_NE(str(o, "text"), "my card number");
}

// ---- password guessing -------------------------------------------------------------

TEST_F(Attack, GuessingFromOneAddressIsSlowedButDoesNotLockTheAgentOut) {
  int refused = 0, wrong = 0;
  for (int i = 0; i < 14; ++i) {
    int s = sign_in_from("127.0.0.2", port(), "alice", "guess" + std::to_string(i));
    if (s == 429) ++refused;
    if (s == 401) ++wrong;
  }
  EXPECT_EQ(wrong, 10);  // then the address is refused...
  EXPECT_EQ(refused, 4);
  // ...for every name, even with the right password.
  EXPECT_EQ(sign_in_from("127.0.0.2", port(), "carol", kPassword), 429);
  auto limited = http_from("127.0.0.2", port(), "POST", "/api/agent/session",
                           json::serialize(json::object{{"username", "alice"}, {"password", kPassword}}),
                           {{"Content-Type", "application/json"}});
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.header("Retry-After"), "60");
  EXPECT_EQ(code_of(limited), "rate_limited");
  // alice herself, from her own address, is not locked out by it.
  EXPECT_EQ(sign_in_from("127.0.0.1", port(), "alice", kPassword), 200);
  // After the window the guessing address may try again (and is told it is wrong).
  clock.advance(5 * 60'000 + 1);
  EXPECT_EQ(sign_in_from("127.0.0.2", port(), "alice", "guess-again"), 401);
  EXPECT_EQ(sign_in_from("127.0.0.2", port(), "carol", kPassword), 200);
}

TEST_F(Attack, GuessingFromManyAddressesLocksTheNameForNewAddressesForTheWindowOnly) {
  // alice has signed in from her office before.
  EXPECT_EQ(sign_in_from("127.0.0.1", port(), "alice", kPassword), 200);
  // Several addresses guess her password; each counts at most three times toward her name.
  for (const char* from : {"127.0.0.2", "127.0.0.3", "127.0.0.4"})
    for (int i = 0; i < 4; ++i) EXPECT_EQ(sign_in_from(from, port(), "alice", "guess"), 401) << from;
  EXPECT_EQ(sign_in_from("127.0.0.5", port(), "alice", "guess"), 401);  // the tenth that counts
  // Her name is now refused from any address it was not used from...
  EXPECT_EQ(sign_in_from("127.0.0.6", port(), "alice", kPassword), 429);
  EXPECT_EQ(sign_in_from("127.0.0.2", port(), "alice", kPassword), 429);
  // ...other names are not...
  EXPECT_EQ(sign_in_from("127.0.0.6", port(), "carol", kPassword), 200);
  // ...and alice still gets in from where she signed in before.
  EXPECT_EQ(sign_in_from("127.0.0.1", port(), "alice", kPassword), 200);
  // Not for good: once the failures are older than the window, any address works.
  clock.advance(5 * 60'000 + 1);
  EXPECT_EQ(sign_in_from("127.0.0.6", port(), "alice", kPassword), 200);
}

TEST_F(Attack, UnknownNamesAreAnsweredLikeWrongPasswords) {
  auto unknown = post_json(port(), "/api/agent/session", {{"username", "mallory"}, {"password", "x"}});
  auto wrong = post_json(port(), "/api/agent/session", {{"username", "alice"}, {"password", "x"}});
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(unknown.body, wrong.body);
}

// ---- agents and conversations that are not theirs ----------------------------------

struct Desk {
  std::uint16_t port;
  Visitor v;
  std::string alice_token, bob_token, carol_token;
  std::unique_ptr<WsClient> alice, bob, carol, visitor;

  explicit Desk(std::uint16_t p) : port(p) {
    v = start_chat(port, "My card was declined");
    alice_token = sign_in(port, "alice");
    bob_token = sign_in(port, "bob");
    carol_token = sign_in(port, "carol");
    visitor = std::make_unique<WsClient>(port);
    visitor->hello_visitor(v);
    // alice comes online first and is given the conversation.
    alice = std::make_unique<WsClient>(port);
    alice->hello_agent(alice_token);
    visitor->expect([](const json::object& o) { return is_event(o, "joined"); });
    bob = std::make_unique<WsClient>(port);
    bob->hello_agent(bob_token);
    carol = std::make_unique<WsClient>(port);
    carol->hello_agent(carol_token);
  }
  json::object msg(const std::string& type, json::object extra = {}) {
    extra["type"] = type;
    extra["conversation"] = v.conversation;
    return extra;
  }
};

TEST_F(Attack, AColleagueOfTheSameQueueMayReadAndNoteButNotActForTheOwner) {
  Desk d(port());
  auto as_bob = std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer " + d.bob_token}};
  // The product's rule (docs/api.md §2.7, §3.6): agents serving the queue may read
  // and write notes; only the owner (or a consultant brought in) speaks and closes.
  for (std::string path : {"", "/events", "/transcript", "/transcript?format=text", "/transfers"})
    EXPECT_EQ(http(port(), "GET", "/api/conversations/" + d.v.conversation + path, {}, as_bob).status, 200) << path;
  d.bob->send(d.msg("subscribe"));
  d.bob->expect_type("synced");
  EXPECT_EQ(refusal(*d.bob, d.msg("note", {{"client_id", "n"}, {"text", "I know this customer"}})), "ack");
  EXPECT_EQ(refusal(*d.bob, d.msg("message", {{"client_id", "m"}, {"text", "Hi, this is not Alice"}})), "forbidden");
  EXPECT_EQ(refusal(*d.bob, d.msg("close")), "forbidden");
  EXPECT_EQ(refusal(*d.bob, d.msg("transfer", {{"to", {{"queue", "Billing"}}}})), "forbidden");
  EXPECT_EQ(refusal(*d.bob, d.msg("transfer", {{"to", {{"agent", "carol"}}}})), "forbidden");
  EXPECT_EQ(refusal(*d.bob, d.msg("consult", {{"agent", "carol"}})), "forbidden");
  EXPECT_EQ(refusal(*d.bob, d.msg("claim")), "conflict");  // not waiting: it is alice's
  // bob's typing is dropped; alice's reaches the visitor.
  d.bob->send(d.msg("typing", {{"on", true}}));
  d.alice->send(d.msg("typing", {{"on", true}}));
  auto typing = d.visitor->expect_type("typing");
  EXPECT_EQ(str(typing.at("who").as_object(), "id"), "alice");
  // Nothing bob tried reached the visitor.
  d.visitor->send(json::object{{"type", "ping"}});
  d.visitor->expect_type("pong");
  for (const auto& o : d.visitor->drain()) {
    EXPECT_NE(str(o, "text"), "Hi, this is not Alice");
    EXPECT_NE(str(o, "text"), "I know this customer");
  }
}

TEST_F(Attack, AnAgentOfAnotherQueueCanNeitherReadNorAct) {
  Desk d(port());
  auto as_carol = std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer " + d.carol_token}};
  for (std::string path : {"", "/events", "/transcript", "/transcript?format=text", "/transfers"}) {
    auto r = http(port(), "GET", "/api/conversations/" + d.v.conversation + path, {}, as_carol);
    EXPECT_EQ(r.status, 403) << path;
    EXPECT_EQ(r.body.find("My card was declined"), std::string::npos) << path;
  }
  EXPECT_EQ(http(port(), "GET", "/api/conversations?queue=General", {}, as_carol).status, 403);
  auto mine = http(port(), "GET", "/api/conversations?mine=1", {}, as_carol);
  EXPECT_EQ(mine.body.find(d.v.conversation), std::string::npos);
  EXPECT_EQ(refusal(*d.carol, d.msg("subscribe")), "forbidden");
  EXPECT_EQ(refusal(*d.carol, d.msg("note", {{"client_id", "n"}, {"text", "x"}})), "forbidden");
  EXPECT_EQ(refusal(*d.carol, d.msg("message", {{"client_id", "m"}, {"text", "x"}})), "forbidden");
  EXPECT_EQ(refusal(*d.carol, d.msg("close")), "forbidden");
  EXPECT_EQ(refusal(*d.carol, d.msg("claim")), "conflict");
  EXPECT_EQ(refusal(*d.carol, d.msg("transfer", {{"to", {{"queue", "Billing"}}}})), "forbidden");
  EXPECT_EQ(refusal(*d.carol, d.msg("transfer.return")), "forbidden");
  // The desk and list updates carol gets never name the conversation.
  d.alice->send(d.msg("message", {{"client_id", "a1"}, {"text", "Let me check"}}));
  d.visitor->expect([](const json::object& o) { return is_event(o) && str(o, "text") == "Let me check"; });
  d.carol->send(json::object{{"type", "ping"}});
  d.carol->expect_type("pong");
  for (const auto& o : d.carol->drain()) EXPECT_EQ(json::serialize(o).find(d.v.conversation), std::string::npos);
}

TEST_F(Attack, OnlyTheAgentOfferedATransferAnswersItAndOnlyItsSenderCancelsIt) {
  Desk d(port());
  d.alice->send(d.msg("transfer", {{"to", {{"agent", "bob"}}}, {"note", "card question"}}));
  auto ok = reply_to(*d.alice, "transfer");
  ASSERT_EQ(str(ok, "type"), "ok") << json::serialize(ok);
  std::string id = str(ok.at("transfer").as_object(), "id");
  EXPECT_EQ(refusal(*d.carol, {{"type", "transfer.accept"}, {"transfer", id}}), "forbidden");
  EXPECT_EQ(refusal(*d.carol, {{"type", "transfer.decline"}, {"transfer", id}}), "forbidden");
  EXPECT_EQ(refusal(*d.bob, {{"type", "transfer.cancel"}, {"transfer", id}}), "forbidden");
  EXPECT_NE(refusal(*d.carol, {{"type", "consult.join"}, {"transfer", id}}), "ok");
  // The offer is still open, and bob can take it.
  EXPECT_EQ(refusal(*d.bob, {{"type", "transfer.accept"}, {"transfer", id}}), "ok");
}

TEST_F(Attack, AVisitorTokenOpensOnlyItsOwnConversation) {
  Visitor mine = start_chat(port(), "mine");
  Visitor theirs = start_chat(port(), "their secret");
  auto bearer = std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer " + mine.token}};
  for (std::string path : {"", "/events", "/transcript", "/transcript?format=text", "/transfers"}) {
    auto r = http(port(), "GET", "/api/conversations/" + theirs.conversation + path, {}, bearer);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(r.body.find("their secret"), std::string::npos) << path;
  }
  // Nor is a visitor token an agent's.
  EXPECT_EQ(http(port(), "GET", "/api/agent/me", {}, bearer).status, 401);
  EXPECT_EQ(http(port(), "GET", "/api/conversations?queue=General", {}, bearer).status, 401);
  WsClient as_agent(port());
  as_agent.send(json::object{{"type", "hello"}, {"role", "agent"}, {"token", mine.token}});
  EXPECT_EQ(str(as_agent.expect_type("error"), "code"), "unauthorized");
  // The wrong conversation with a real token, on the socket.
  WsClient wrong(port());
  wrong.send(json::object{{"type", "hello"}, {"role", "visitor"}, {"conversation", theirs.conversation}, {"token", mine.token}});
  EXPECT_EQ(str(wrong.expect_type("error"), "code"), "forbidden");
  // Inside its own session, every request naming the other conversation is refused.
  WsClient own(port());
  own.hello_visitor(mine);
  auto to_theirs = [&](std::string type, json::object extra = {}) {
    extra["type"] = type;
    extra["conversation"] = theirs.conversation;
    return extra;
  };
  EXPECT_EQ(refusal(own, to_theirs("subscribe")), "forbidden");
  EXPECT_EQ(refusal(own, to_theirs("message", {{"client_id", "x"}, {"text", "hi"}})), "forbidden");
  EXPECT_EQ(refusal(own, to_theirs("note", {{"client_id", "y"}, {"text", "hi"}})), "forbidden");
  EXPECT_EQ(refusal(own, to_theirs("close")), "forbidden");
  EXPECT_EQ(refusal(own, to_theirs("claim")), "forbidden");
  EXPECT_EQ(refusal(own, to_theirs("transfer", {{"to", {{"queue", "Billing"}}}})), "forbidden");
  own.send(to_theirs("typing"));
  // The other visitor heard nothing, and its conversation is still open.
  WsClient other(port());
  other.hello_visitor(theirs);
  other.send(json::object{{"type", "message"}, {"client_id", "still"}, {"text", "still open"}});
  EXPECT_EQ(str(other.expect_type("ack"), "client_id"), "still");
  for (const auto& o : other.drain()) {
    EXPECT_NE(str(o, "type"), "typing");
    EXPECT_NE(str(o, "text"), "hi");
  }
  // The transfer page and the way back take only the conversation's own token.
  auto form = "conversation=" + theirs.conversation + "&token=" + mine.token;
  auto page = http(port(), "POST", "/transfer", form, {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(page.status, 403);
  EXPECT_EQ(page.header("Refresh"), "");
  auto stay = http(port(), "POST", "/transfer/stay", form, {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(stay.status, 403);
  EXPECT_EQ(stay.header("Location"), "");
}

// ---- redirects and markup in the server's own pages ---------------------------------

TEST_F(Attack, NoPathOrParameterTurnsAPageIntoAnOpenRedirect) {
  for (std::string target : {"//evil.example", "//evil.example/", "/\\evil.example", "/%2F%2Fevil.example",
                             "/%5C%5Cevil.example", "///evil.example/%2e%2e", "/?next=//evil.example",
                             "/?return=https://evil.example", "/chat?next=https://evil.example&site=web",
                             "/console?redirect=//evil.example", "/join?next=//evil.example&url=https://evil.example",
                             "/%0d%0aLocation:%20https://evil.example"}) {
    auto r = http(port(), "GET", target);
    expect_same_origin_location(r, target);
    EXPECT_EQ(r.header("Refresh"), "") << target;
    if (r.status == 303) {
      EXPECT_EQ(r.header("Location"), "/console") << target;
    }
  }
  Visitor v = start_chat(port(), "hi");
  for (std::string extra : {"&next=//evil.example", "&return=https%3A%2F%2Fevil.example", "&url=%2F%2Fevil.example",
                            "&site=%2F%2Fevil.example", "&redirect=/%5Cevil.example"}) {
    auto stay = http(port(), "POST", "/transfer/stay", "conversation=" + v.conversation + "&token=" + v.token + extra,
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(stay.status, 303) << extra;
    EXPECT_EQ(stay.header("Location"), "/chat?site=web") << extra;
  }
  // The join form posts only a code; whatever else it carries, no Location but its own.
  for (std::string body : {"code=%2F%2Fevil.example", "code=https%3A%2F%2Fevil.example&next=//evil.example",
                           "code=x%0d%0aLocation:%20https://evil.example", "next=//evil.example"}) {
    auto r = http(port(), "POST", "/join", body, {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_NE(r.status, 303) << body;
    EXPECT_EQ(r.header("Location"), "") << body;
    EXPECT_EQ(r.header("Refresh"), "") << body;
  }
}

TEST_F(Attack, MarkupSentToTheServersOwnPagesComesBackEscaped) {
  const std::string script = "<script>alert(1)</script>";
  auto join = http(port(), "POST", "/join", "code=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(join.body.find(script), std::string::npos) << join.body;
  auto page = http(port(), "POST", "/transfer", "conversation=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E&token=t",
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(page.body.find("<img"), std::string::npos) << page.body;
  // Transcripts and API answers are data, never pages: a browser will not sniff them into HTML.
  Visitor v = start_chat(port(), script, "<img src=x onerror=alert(2)>");
  auto bearer = std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer " + v.token}};
  for (std::string path : {"", "/events", "/transcript", "/transcript?format=text"}) {
    auto r = http(port(), "GET", "/api/conversations/" + v.conversation + path, {}, bearer);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff") << path;
    EXPECT_EQ(r.header("Content-Type").find("html"), std::string::npos) << path;
  }
}

TEST_F(Attack, PagesCannotBeFramedByOtherSitesAndAreNeverSniffed) {
  auto console = http(port(), "GET", "/console");
  EXPECT_NE(console.header("Content-Security-Policy").find("frame-ancestors 'none'"), std::string::npos);
  auto chat = http(port(), "GET", "/chat");
  std::string csp = chat.header("Content-Security-Policy");
  auto fa = csp.substr(csp.find("frame-ancestors"));
  EXPECT_EQ(fa, std::string("frame-ancestors 'self' ") + kSiteOrigin);  // the widget's sites only
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  std::string join_csp = http(port(), "GET", "/join").header("Content-Security-Policy");
  EXPECT_EQ(join_csp.substr(join_csp.find("frame-ancestors")), fa);
  EXPECT_NE(csp.find("object-src 'none'"), std::string::npos);
  for (std::string path : {"/console", "/chat", "/join", "/assets/chat.js", "/api/visitor/availability?site=web"})
    EXPECT_EQ(http(port(), "GET", path).header("X-Content-Type-Options"), "nosniff") << path;
}

TEST_F(Attack, AssetPathsCannotLeaveTheAssetFolder) {
  for (std::string path : {"/assets/..%2Fbaton.db", "/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/assets/.hidden",
                           "/assets/../../etc/passwd", "/assets/%2e%2e", "/assets/chat.js%00.png",
                           "/assets/..%5Cbaton.db"}) {
    auto r = http(port(), "GET", path);
    EXPECT_EQ(r.status, 404) << path;
  }
}

TEST_F(Attack, AnAgentCookieCountsOnlyOnTheServersOwnPages) {
  std::string token = sign_in(port(), "alice");
  // A configured site's page may open a socket (for its visitors), but the
  // browser's agent cookie sent along does not make it the agent.
  WsClient from_site(port(), {{"Origin", kSiteOrigin}, {"Cookie", "baton_session=" + token}});
  from_site.send(json::object{{"type", "hello"}, {"role", "agent"}});
  EXPECT_EQ(str(from_site.expect_type("error"), "code"), "unauthorized");
  WsClient own(port(), {{"Origin", server.base()}, {"Cookie", "baton_session=" + token}});
  own.send(json::object{{"type", "hello"}, {"role", "agent"}});
  own.expect_type("welcome");
}

TEST_F(Attack, TokensAreStoredOnlyAsHashes) {
  Visitor v = start_chat(port(), "hello");
  std::string session = sign_in(port(), "alice");
  server.stop();
  std::string everything;
  for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
    std::ifstream in(f.path(), std::ios::binary);
    everything.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  EXPECT_NE(everything.find("hello"), std::string::npos);  // the data is there...
  EXPECT_EQ(everything.find(v.token), std::string::npos);  // ...the secrets are not
  EXPECT_EQ(everything.find(session), std::string::npos);
}

// ---- slow requests and floods from one address ----------------------------------------

app::Config tight_limits(const std::string& dir) {
  app::Config c = test_config(dir);
  c.limits.request_timeout_s = 2;
  c.limits.max_connections_per_ip = 24;
  auto st = app::validate_config(c);
  if (!st) throw std::runtime_error(st.error().message);
  return c;
}

class Flood : public ::testing::Test {
 protected:
  TempDir dir;
  TestServer server{tight_limits(dir.path())};
  std::uint16_t port() const { return server.port(); }
};

// Reads until the server closes the socket; false if it is still open at the deadline.
bool closed_by_server(tcp::socket& s, std::chrono::milliseconds deadline) {
  beast::tcp_stream stream(std::move(s));
  stream.expires_after(deadline);
  std::array<char, 4096> buf;
  for (;;) {
    beast::error_code ec;
    stream.read_some(net::buffer(buf), ec);
    if (ec == beast::error::timeout) return false;
    if (ec) return true;
  }
}

TEST_F(Flood, SlowlorisFromOneAddressIsCutOffAndOthersAreServed) {
  net::io_context io;
  std::vector<tcp::socket> slow;
  // As many half-sent requests as the address may hold open.
  for (int i = 0; i < 23; ++i) {
    slow.push_back(connect_from(io, "127.0.0.1", port()));
    net::write(slow.back(), net::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n")));
  }
  // Another address is served meanwhile.
  EXPECT_EQ(http_from("127.0.0.2", port(), "GET", "/healthz").status, 200);
  // One more dribbles a header byte at a time: that does not buy it more time
  // than the whole request may take (request_timeout_s = 2).
  tcp::socket drip = connect_from(io, "127.0.0.1", port());
  net::write(drip, net::buffer(std::string("GET /healthz HTTP/1.1\r\n")));
  auto started = std::chrono::steady_clock::now();
  bool cut = false;
  while (std::chrono::steady_clock::now() - started < std::chrono::seconds(15)) {
    beast::error_code ec;
    net::write(drip, net::buffer(std::string("X")), ec);
    if (ec) {
      cut = true;
      break;
    }
    // Pacing the sender (this is the attack), not waiting for the server.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!cut) cut = closed_by_server(drip, std::chrono::seconds(1));
  EXPECT_TRUE(cut);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  for (auto& s : slow) EXPECT_TRUE(closed_by_server(s, std::chrono::seconds(10)));
}

TEST_F(Flood, ConnectionFloodFromOneAddressLeavesOtherAddressesServed) {
  net::io_context io;
  std::vector<tcp::socket> held;
  for (int i = 0; i < 24; ++i) held.push_back(connect_from(io, "127.0.0.1", port()));
  // The address is at its limit: one more is closed at once, without an answer...
  tcp::socket extra = connect_from(io, "127.0.0.1", port());
  EXPECT_TRUE(closed_by_server(extra, std::chrono::seconds(10)));
  // ...while another address gets pages, the API and a chat socket as usual.
  EXPECT_EQ(http_from("127.0.0.2", port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(http_from("127.0.0.2", port(), "GET", "/api/visitor/availability?site=web").status, 200);
  auto m = http_from("127.0.0.2", port(), "GET", "/metrics");
  EXPECT_NE(m.body.find("baton_connections_refused_total"), std::string::npos);
}

TEST_F(Flood, OversizedChunkedBodyIsRefusedWithoutReadingItAll) {
  net::io_context io;
  beast::tcp_stream stream(connect_from(io, "127.0.0.1", port()));
  stream.expires_after(kDeadline);
  net::write(stream, net::buffer(std::string("POST /api/visitor/conversations HTTP/1.1\r\nHost: x\r\n"
                                             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")));
  const std::string chunk = "4000\r\n" + std::string(0x4000, 'x') + "\r\n";
  beast::error_code ec;
  for (int i = 0; i < 16 && !ec; ++i) net::write(stream, net::buffer(chunk), ec);  // 256 KiB, past 64 KiB
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buf, res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 413u);
}

}  // namespace
}  // namespace baton::testing
