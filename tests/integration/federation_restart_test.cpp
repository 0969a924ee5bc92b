// Restarts and outages in the middle of a transfer between organizations, where
// the origin must not take the visitor back on its own (docs/federation.md §8.3,
// §10): it asks the destination, and takes the visitor back only on its word.
#include <gtest/gtest.h>

#include "trio.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;

// The origin's latest transfer of `conversation`, as alice reads it.
json::object latest_transfer(std::uint16_t port, const std::string& conversation, const std::string& token) {
  auto r = http(port, "GET", "/api/conversations/" + conversation + "/transfers", {}, {{"Authorization", "Bearer " + token}});
  if (r.status != 200) return {};
  json::value v = r.json();
  const auto& list = v.at("transfers").as_array();
  return list.empty() ? json::object{} : list.back().as_object();
}

std::string conversation_state(std::uint16_t port, const std::string& conversation, const std::string& token) {
  auto r = http(port, "GET", "/api/conversations/" + conversation, {}, {{"Authorization", "Bearer " + token}});
  if (r.status != 200) return "";
  json::value v = r.json();
  return str(v.at("conversation").as_object(), "state");
}

// Gap 6 of the first version: an origin that was down while the visitor arrived at
// the destination, and comes back past its own deadline for the arrival, took the
// visitor back at once, while the destination had it (two owners until the
// destination's next notice). Now it asks first; the destination has the visitor,
// so the origin lets go.
TEST(FederationRestart, AnOriginBackPastItsDeadlineAsksBeforeTakingTheVisitorBack) {
  ShiftedClock clock;
  auto options = TestServer::default_options();
  options.clock = &clock;
  options.notice_retry_max_ms = 1000;
  Trio t(options);
  Moving m(t);
  t.origin->stop();
  auto joined = http(t.dest->port(), "POST", "/join", "code=" + m.code, kForm);
  ASSERT_EQ(joined.status, 303) << joined.body;
  // Both clocks move ten minutes on, far past the origin's deadline (the join
  // code's expiry plus 30 s): it comes back with a moving record long overdue.
  clock.shift(10 * 60'000);
  t.origin->restart();
  std::uint16_t o = t.origin->port();
  std::string token = sign_in(o, "alice");
  ASSERT_TRUE(wait_until([&] { return str(latest_transfer(o, m.v.conversation, token), "state") == "completed"; }))
      << json::serialize(latest_transfer(o, m.v.conversation, token));
  EXPECT_EQ(conversation_state(o, m.v.conversation, token), "transferred");
  // The visitor goes on at the destination, with nobody else claiming it.
  auto handoff = http(t.dest->port(), "POST", "/api/visitor/handoff", {}, {{"Cookie", cookie_value(joined.header("Set-Cookie"))}});
  ASSERT_EQ(handoff.status, 200);
  json::value h = handoff.json();
  Visitor there{str(h.as_object(), "conversation"), str(h.as_object(), "token")};
  WsClient vd(t.dest->port());
  vd.hello_visitor(there);
  vd.send(json::object{{"type", "message"}, {"client_id", "d1"}, {"text", "Still here"}});
  vd.expect([](const json::object& e) { return str(e, "type") == "ack" && str(e, "client_id") == "d1"; });
  for (const auto& e : vd.drain()) EXPECT_NE(str(e, "type"), "move");
}

// The visitor chooses to stay while the destination is down: the origin cannot
// hear whether the visitor reached it another way, so it keeps asking, with the
// visitor still chatting with alice meanwhile, and takes it back once the
// destination, up again, calls its side off.
TEST(FederationRestart, AVisitorWhoStaysWhileThePartnerIsDownIsTakenBackOnItsWord) {
  auto options = TestServer::default_options();
  options.notice_retry_max_ms = 500;
  Trio t(options);
  Moving m(t);
  std::uint16_t o = t.origin->port();
  t.dest->stop();
  auto stay = http(o, "POST", "/transfer/stay", "conversation=" + m.v.conversation + "&token=" + m.v.token, kForm);
  EXPECT_EQ(stay.status, 303);
  auto asked = m.alice->expect([](const json::object& e) {
    return str(e, "type") == "transfer" && str(e.at("transfer").as_object(), "step") == "stayed";
  });
  EXPECT_EQ(str(asked.at("transfer").as_object(), "state"), "moving");
  // Meanwhile alice and the visitor still talk.
  m.visitor->send(json::object{{"type", "message"}, {"client_id", "s1"}, {"text", "Are you there?"}});
  m.visitor->expect([](const json::object& e) { return str(e, "type") == "ack" && str(e, "client_id") == "s1"; });
  t.dest->restart();
  auto back = m.transfer_in("cancelled");
  EXPECT_NE(str(back.at("transfer").as_object(), "reason").find("stayed"), std::string::npos);
  std::string token = sign_in(o, "alice");
  EXPECT_EQ(conversation_state(o, m.v.conversation, token), "active");
  // The join code is spent at the destination: called off there.
  EXPECT_EQ(http(t.dest->port(), "POST", "/join", "code=" + m.code, kForm).status, 404);
}

}  // namespace
}  // namespace baton::testing
