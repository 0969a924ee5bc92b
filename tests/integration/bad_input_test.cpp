// Bad input gets a clear error, and everyone else carries on.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;

class BadInput : public ::testing::Test {
 protected:
  TempDir dir;
  TestServer server{test_config(dir.path())};
  std::uint16_t port() const { return server.port(); }

  // A second conversation that must keep working whatever the first one does.
  void expect_others_unaffected() {
    Visitor other = start_chat(port(), "other conversation");
    WsClient ws(port());
    ws.hello_visitor(other);
    ws.send(json::object{{"type", "message"}, {"client_id", "ok"}, {"text", "still fine"}});
    EXPECT_EQ(str(ws.expect_type("ack"), "client_id"), "ok");
    EXPECT_EQ(http(port(), "GET", "/healthz").status, 200);
  }
};

std::string error_code_of(const HttpResult& r) {
  return std::string(r.json().at("error").at("code").as_string());
}

TEST_F(BadInput, MalformedJsonOnTheSocketGetsAnErrorEvent) {
  Visitor v = start_chat(port(), "hi");
  WsClient ws(port());
  ws.hello_visitor(v);
  ws.send_raw("{not json");
  auto e = ws.expect_type("error");
  EXPECT_EQ(str(e, "code"), "bad_request");
  ws.send_raw("[1,2,3]");
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "bad_request");
  ws.send_raw(std::string(100, '[') + std::string(100, ']'));
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "too_large");
  ws.send(json::object{{"type", "no-such-event"}});
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "forbidden");
  ws.send(json::object{{"type", "message"}, {"client_id", 5}, {"text", "x"}});
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "bad_request");
  // The same socket still works.
  ws.send(json::object{{"type", "message"}, {"client_id", "good"}, {"text", "after the junk"}});
  EXPECT_EQ(str(ws.expect_type("ack"), "client_id"), "good");
  expect_others_unaffected();
}

TEST_F(BadInput, OversizedMessageTextIsRefusedWithTooLarge) {
  Visitor v = start_chat(port(), "hi");
  WsClient ws(port());
  ws.hello_visitor(v);
  ws.send(json::object{{"type", "message"}, {"client_id", "big"}, {"text", std::string(5000, 'x')}});
  auto e = ws.expect_type("error");
  EXPECT_EQ(str(e, "code"), "too_large");
  EXPECT_EQ(str(e, "client_id"), "big");
  // A lone surrogate is valid JSON syntax but not text.
  ws.send_raw(R"({"type":"message","client_id":"surrogate","text":"\ud800"})");
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "bad_request");
  expect_others_unaffected();
}

TEST_F(BadInput, InvalidUtf8FrameClosesThatSocketWith1007) {
  Visitor v = start_chat(port(), "hi");
  WsClient ws(port());
  ws.hello_visitor(v);
  try {
    ws.send_raw("{\"type\":\"message\",\"text\":\"\xff\xfe\"}");
  } catch (const std::exception&) {
    // The server may close before the client's write call returns.
  }
  EXPECT_EQ(ws.wait_closed(), 1007);  // RFC 6455: invalid frame payload data
  expect_others_unaffected();
}

TEST_F(BadInput, OversizedFrameClosesThatSocketOnly) {
  Visitor v = start_chat(port(), "hi");
  WsClient ws(port());
  ws.hello_visitor(v);
  ws.send_raw(std::string(20 * 1024, 'x'));
  EXPECT_EQ(ws.wait_closed(), 1009);  // RFC 6455: message too big
  expect_others_unaffected();
}

TEST_F(BadInput, UnknownIdsGetNotFound) {
  std::string token = sign_in(port(), "alice");
  auto r = http(port(), "GET", "/api/conversations/cdoesnotexist/events", {}, {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_code_of(r), "not_found");
  WsClient ws(port());
  ws.hello_agent(token);
  ws.send(json::object{{"type", "message"}, {"conversation", "cnope"}, {"client_id", "1"}, {"text", "x"}});
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "not_found");
  ws.send(json::object{{"type", "subscribe"}, {"conversation", "cnope"}});
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "not_found");
  auto site = http(port(), "GET", "/api/visitor/availability?site=nope");
  EXPECT_EQ(site.status, 404);
  expect_others_unaffected();
}

TEST_F(BadInput, ForeignVisitorTokenIsRefused) {
  Visitor mine = start_chat(port(), "mine");
  Visitor theirs = start_chat(port(), "theirs");
  WsClient ws(port());
  ws.send(json::object{{"type", "hello"}, {"role", "visitor"}, {"conversation", theirs.conversation},
                       {"token", mine.token}});
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "forbidden");
  auto r = http(port(), "GET", "/api/conversations/" + theirs.conversation + "/events", {},
                {{"Authorization", "Bearer " + mine.token}});
  EXPECT_EQ(r.status, 401);
  // Signed in as its own conversation, a visitor cannot write into another.
  WsClient own(port());
  own.hello_visitor(mine);
  own.send(json::object{{"type", "message"}, {"conversation", theirs.conversation}, {"client_id", "x"}, {"text", "hi"}});
  EXPECT_EQ(str(own.expect_type("error"), "code"), "forbidden");
  expect_others_unaffected();
}

TEST_F(BadInput, AgentCannotReadOrActOnAnotherQueuesConversation) {
  Visitor v = start_chat(port(), "General question");
  std::string carol = sign_in(port(), "carol");  // serves Billing only
  auto r = http(port(), "GET", "/api/conversations/" + v.conversation + "/events", {},
                {{"Authorization", "Bearer " + carol}});
  EXPECT_EQ(r.status, 403);
  WsClient ws(port());
  ws.hello_agent(carol);
  ws.send(json::object{{"type", "subscribe"}, {"conversation", v.conversation}});
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "forbidden");
  ws.send(json::object{{"type", "close"}, {"conversation", v.conversation}});
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "forbidden");
  ws.send(json::object{{"type", "claim"}, {"conversation", v.conversation}});
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "forbidden");
}

TEST_F(BadInput, SocketEventsBeforeHelloAreRefused) {
  WsClient ws(port());
  ws.send(json::object{{"type", "message"}, {"conversation", "c1"}, {"client_id", "1"}, {"text", "x"}});
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "unauthorized");
  ws.send(json::object{{"type", "hello"}, {"role", "agent"}, {"token", "forged"}});
  EXPECT_EQ(str(ws.expect_type("error"), "code"), "unauthorized");
}

TEST_F(BadInput, HttpErrorsAreJsonWithStatus) {
  auto big = http(port(), "POST", "/api/visitor/conversations", std::string(100 * 1024, 'x'),
                  {{"Content-Type", "application/json"}});
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(error_code_of(big), "too_large");

  auto huge_header = http(port(), "GET", "/healthz", {}, {{"X-Filler", std::string(10000, 'a')}});
  EXPECT_EQ(huge_header.status, 431);

  auto bad_json = http(port(), "POST", "/api/visitor/conversations", "{oops", {{"Content-Type", "application/json"}});
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(error_code_of(bad_json), "bad_request");

  auto not_json = http(port(), "POST", "/api/visitor/conversations", "site=web");
  EXPECT_EQ(not_json.status, 400);

  auto long_name = post_json(port(), "/api/visitor/conversations", {{"site", "web"}, {"name", std::string(500, 'n')}});
  EXPECT_EQ(long_name.status, 413);

  auto missing = http(port(), "GET", "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(error_code_of(missing), "not_found");

  auto unauth = http(port(), "GET", "/api/conversations?queue=General");
  EXPECT_EQ(unauth.status, 401);

  auto wrong = post_json(port(), "/api/agent/session", {{"username", "alice"}, {"password", "wrong"}});
  EXPECT_EQ(wrong.status, 401);
  expect_others_unaffected();
}

TEST_F(BadInput, CrossSiteRequestsAreRefused) {
  auto login = post_json(port(), "/api/agent/session", {{"username", "alice"}, {"password", kPassword}},
                         {{"Origin", "http://evil.example"}});
  EXPECT_EQ(login.status, 403);
  std::string token = sign_in(port(), "alice");
  auto logout = http(port(), "DELETE", "/api/agent/session", {},
                     {{"Cookie", "baton_session=" + token}, {"Origin", "http://evil.example"}});
  EXPECT_EQ(logout.status, 403);
  // The configured site may start chats; another origin may not.
  auto ok = post_json(port(), "/api/visitor/conversations", {{"site", "web"}}, {{"Origin", kSiteOrigin}});
  EXPECT_EQ(ok.status, 201);
  auto evil = post_json(port(), "/api/visitor/conversations", {{"site", "web"}}, {{"Origin", "http://evil.example"}});
  EXPECT_EQ(evil.status, 403);
  // WebSocket from a foreign origin is refused at the upgrade.
  EXPECT_THROW(WsClient(port(), {{"Origin", "http://evil.example"}}), std::exception);
  WsClient allowed(port(), {{"Origin", kSiteOrigin}});
  allowed.send(json::object{{"type", "ping"}});
  allowed.expect_type("pong");
}

TEST_F(BadInput, ShutdownClosesSocketsWithGoingAway) {
  Visitor v = start_chat(port(), "hi");
  WsClient ws(port());
  ws.hello_visitor(v);
  server.stop();
  EXPECT_EQ(ws.wait_closed(), 1001);
}

TEST_F(BadInput, SessionCookieWorksAndSignOutEndsIt) {
  auto r = post_json(port(), "/api/agent/session", {{"username", "alice"}, {"password", kPassword}});
  ASSERT_EQ(r.status, 200);
  std::string cookie = r.header("Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  std::string token(r.json().at("token").as_string());
  auto me = http(port(), "GET", "/api/agent/me", {}, {{"Cookie", "baton_session=" + token}});
  EXPECT_EQ(me.status, 200);
  auto out = http(port(), "DELETE", "/api/agent/session", {}, {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(out.status, 200);
  auto after = http(port(), "GET", "/api/agent/me", {}, {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(after.status, 401);
}

TEST_F(BadInput, RepeatedFailedSignInsAreRateLimited) {
  int limited = 0;
  for (int i = 0; i < 12; ++i) {
    auto r = post_json(port(), "/api/agent/session", {{"username", "alice"}, {"password", "guess" + std::to_string(i)}});
    if (r.status == 429) ++limited;
  }
  EXPECT_GE(limited, 1);
}

}  // namespace
}  // namespace baton::testing
