// Transfers inside one server: to an agent, to a queue, and the warm consult.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;

app::AppOptions fast_offers() {
  app::AppOptions o = TestServer::default_options();
  o.transfer_offer_ms = 1500;
  return o;
}

class LocalTransfer : public ::testing::Test {
 protected:
  TempDir dir;
  TestServer server{test_config(dir.path()), fast_offers()};
  std::uint16_t port() const { return server.port(); }

  // A visitor chatting with alice; bob online with nothing to do.
  void SetUp() override {
    v = start_chat(port(), "I need to change my address");
    alice_token = sign_in(port(), "alice");
    alice = std::make_unique<WsClient>(port());
    alice->hello_agent(alice_token);
    visitor = std::make_unique<WsClient>(port());
    visitor->hello_visitor(v);
    visitor->expect([](const json::object& o) { return is_event(o, "joined"); });
    bob_token = sign_in(port(), "bob");
    bob = std::make_unique<WsClient>(port());
    bob->hello_agent(bob_token);
    bob->expect_type("desk");
  }

  json::object transfer_event(WsClient& ws, const std::string& state) {
    return ws.expect([state](const json::object& o) {
      return str(o, "type") == "transfer" && str(o.at("transfer").as_object(), "state") == state;
    });
  }
  std::string send_and_ack(WsClient& ws, const std::string& text) {
    ws.send(json::object{{"type", "message"}, {"conversation", v.conversation}, {"client_id", text}, {"text", text}});
    auto r = ws.expect([text](const json::object& o) {
      return (str(o, "type") == "ack" || str(o, "type") == "error") && str(o, "client_id") == text;
    });
    return str(r, "type") == "ack" ? "ack" : str(r, "code");
  }

  Visitor v;
  std::string alice_token, bob_token;
  std::unique_ptr<WsClient> alice, visitor, bob;
};

TEST_F(LocalTransfer, ToAnAgentWhoAccepts) {
  alice->send(json::object{{"type", "transfer"}, {"conversation", v.conversation},
                           {"to", {{"agent", "bob"}}}, {"note", "Wants a new address on the card"}});
  auto offer = transfer_event(*bob, "offered");
  auto t = offer.at("transfer").as_object();
  EXPECT_EQ(str(t, "note"), "Wants a new address on the card");
  EXPECT_EQ(str(t, "from_agent"), "alice");
  // bob may look at the conversation before answering.
  bob->send(json::object{{"type", "subscribe"}, {"conversation", v.conversation}});
  bob->expect_type("synced");
  bob->send(json::object{{"type", "transfer.accept"}, {"transfer", str(t, "id")}});
  transfer_event(*alice, "accepted");
  visitor->expect([](const json::object& o) { return is_event(o, "left") && str(o, "text").find("Bob") != std::string::npos; });
  visitor->expect([](const json::object& o) { return is_event(o, "joined") && str(o.at("author").as_object(), "id") == "bob"; });
  EXPECT_EQ(send_and_ack(*bob, "Hello, Bob here"), "ack");
  EXPECT_EQ(send_and_ack(*alice, "still me?"), "forbidden");
  // The note is in the transcript for agents, not for the visitor.
  auto agent_view = http(port(), "GET", "/api/conversations/" + v.conversation + "/transcript?format=text", {},
                         {{"Authorization", "Bearer " + bob_token}});
  EXPECT_NE(agent_view.body.find("Wants a new address"), std::string::npos);
  auto visitor_view = http(port(), "GET", "/api/conversations/" + v.conversation + "/transcript?format=text", {},
                           {{"Authorization", "Bearer " + v.token}});
  EXPECT_EQ(visitor_view.body.find("Wants a new address"), std::string::npos);
  // The history records it.
  auto history = http(port(), "GET", "/api/conversations/" + v.conversation + "/transfers", {},
                      {{"Authorization", "Bearer " + bob_token}});
  ASSERT_EQ(history.status, 200) << history.body;
  auto list = history.json().at("transfers").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("state").as_string(), "accepted");
  EXPECT_EQ(list[0].at("to_agent").as_string(), "bob");
}

TEST_F(LocalTransfer, DeclinedStaysWithTheSenderWhoIsTold) {
  alice->send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"agent", "bob"}}}});
  auto offer = transfer_event(*bob, "offered");
  bob->send(json::object{{"type", "transfer.decline"}, {"transfer", str(offer.at("transfer").as_object(), "id")},
                         {"reason", "in a meeting"}});
  auto told = transfer_event(*alice, "declined");
  EXPECT_NE(str(told.at("transfer").as_object(), "reason").find("in a meeting"), std::string::npos);
  EXPECT_EQ(send_and_ack(*alice, "I'm still here"), "ack");
  EXPECT_EQ(send_and_ack(*bob, "me?"), "forbidden");
}

TEST_F(LocalTransfer, UnansweredOfferExpiresBackToTheSender) {
  alice->send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"agent", "bob"}}}});
  transfer_event(*bob, "offered");
  auto expired = transfer_event(*alice, "expired");
  EXPECT_NE(str(expired.at("transfer").as_object(), "reason").find("did not answer"), std::string::npos);
  EXPECT_EQ(send_and_ack(*alice, "back with me"), "ack");
}

TEST_F(LocalTransfer, SenderCanCallTheOfferOff) {
  alice->send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"agent", "bob"}}}});
  auto offer = transfer_event(*bob, "offered");
  std::string id = str(offer.at("transfer").as_object(), "id");
  alice->send(json::object{{"type", "transfer.cancel"}, {"transfer", id}});
  transfer_event(*bob, "cancelled");
  bob->send(json::object{{"type", "transfer.accept"}, {"transfer", id}});
  EXPECT_EQ(str(bob->expect_type("error"), "code"), "conflict");
}

TEST_F(LocalTransfer, ToAQueueWithItsNote) {
  bob->send(json::object{{"type", "status"}, {"status", "away"}});  // bob serves Billing too
  bob->expect_type("ok");
  alice->send(json::object{{"type", "transfer"}, {"conversation", v.conversation},
                           {"to", {{"queue", "Billing"}}}, {"note", "Refund question"}});
  transfer_event(*alice, "accepted");
  visitor->expect([](const json::object& o) { return is_event(o, "left"); });
  // carol serves Billing: she gets it, and sees the note.
  WsClient carol(port());
  std::string carol_token = sign_in(port(), "carol");
  carol.hello_agent(carol_token);
  visitor->expect([](const json::object& o) { return is_event(o, "joined") && str(o.at("author").as_object(), "id") == "carol"; });
  carol.send(json::object{{"type", "subscribe"}, {"conversation", v.conversation}});
  carol.expect([](const json::object& o) { return is_event(o, "note") && str(o, "text").find("Refund question") != std::string::npos; });
}

TEST_F(LocalTransfer, WarmConsultThenHandOver) {
  alice->send(json::object{{"type", "consult"}, {"conversation", v.conversation}, {"agent", "bob"},
                           {"note", "Can you take an address change?"}});
  auto consulting = transfer_event(*bob, "consulting");
  std::string id = str(consulting.at("transfer").as_object(), "id");
  // Private talk: notes, which the visitor never sees.
  bob->send(json::object{{"type", "subscribe"}, {"conversation", v.conversation}});
  bob->expect_type("synced");
  bob->send(json::object{{"type", "note"}, {"conversation", v.conversation}, {"client_id", "n"}, {"text", "Sure, bring me in"}});
  bob->expect_type("ack");
  EXPECT_EQ(send_and_ack(*bob, "too early"), "forbidden");
  // Three-way.
  alice->send(json::object{{"type", "consult.join"}, {"transfer", id}});
  transfer_event(*bob, "joined");
  visitor->expect([](const json::object& o) { return is_event(o, "joined") && str(o.at("author").as_object(), "id") == "bob"; });
  EXPECT_EQ(send_and_ack(*bob, "Hi, I'm Bob, I'll do the address change"), "ack");
  EXPECT_EQ(send_and_ack(*alice, "Bob will take it from here"), "ack");
  // Alice leaves; the visitor is never alone.
  alice->send(json::object{{"type", "consult.finish"}, {"transfer", id}, {"hand_over", true}});
  transfer_event(*bob, "completed");
  visitor->expect([](const json::object& o) { return is_event(o, "left") && str(o.at("author").as_object(), "id") == "alice"; });
  EXPECT_EQ(send_and_ack(*alice, "bye"), "forbidden");
  EXPECT_EQ(send_and_ack(*bob, "All done"), "ack");
  for (const auto& o : visitor->drain()) EXPECT_FALSE(is_event(o, "note")) << json::serialize(o);
}

TEST_F(LocalTransfer, ConsultEndedWithoutHandOverKeepsTheOwner) {
  alice->send(json::object{{"type", "consult"}, {"conversation", v.conversation}, {"agent", "bob"}});
  auto consulting = transfer_event(*bob, "consulting");
  std::string id = str(consulting.at("transfer").as_object(), "id");
  alice->send(json::object{{"type", "consult.finish"}, {"transfer", id}, {"hand_over", false}});
  transfer_event(*bob, "cancelled");
  EXPECT_EQ(send_and_ack(*alice, "mine still"), "ack");
  EXPECT_EQ(send_and_ack(*bob, "mine?"), "forbidden");
}

TEST_F(LocalTransfer, OnlyTheOwnerCanTransfer) {
  bob->send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"agent", "bob"}}}});
  EXPECT_EQ(str(bob->expect_type("error"), "code"), "forbidden");
  alice->send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"agent", "nobody"}}}});
  EXPECT_EQ(str(alice->expect_type("error"), "code"), "not_found");
  alice->send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"agent", "carol"}}}});
  EXPECT_EQ(str(alice->expect_type("error"), "code"), "conflict");  // carol is offline
  alice->send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", "bob"}});
  EXPECT_EQ(str(alice->expect_type("error"), "code"), "bad_request");
}

TEST(LocalTransferRestart, AnOpenOfferSurvivesARestartAndStillTimesOut) {
  TempDir dir;
  TestServer server(test_config(dir.path()), fast_offers());
  Visitor v = start_chat(server.port(), "hello");
  std::string alice_token = sign_in(server.port(), "alice");
  {
    WsClient alice(server.port());
    alice.hello_agent(alice_token);
    WsClient bob(server.port());
    bob.hello_agent(sign_in(server.port(), "bob"));
    bob.expect_type("desk");
    alice.send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"agent", "bob"}}}});
    bob.expect_type("transfer");
  }
  server.restart();
  WsClient alice(server.port());
  alice.hello_agent(alice_token);
  auto expired = alice.expect([](const json::object& o) {
    return str(o, "type") == "transfer" && str(o.at("transfer").as_object(), "state") == "expired";
  });
  EXPECT_EQ(str(expired.at("transfer").as_object(), "conversation"), v.conversation);
  alice.send(json::object{{"type", "message"}, {"conversation", v.conversation}, {"client_id", "x"}, {"text", "back"}});
  EXPECT_EQ(str(alice.expect([](const json::object& o) { return str(o, "type") == "ack" || str(o, "type") == "error"; }), "type"), "ack");
}

TEST_F(LocalTransfer, DeclinedAfterTheSenderWentOfflineGoesToTheQueue) {
  alice->send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"agent", "bob"}}}});
  auto offer = transfer_event(*bob, "offered");
  alice->send(json::object{{"type", "status"}, {"status", "offline"}});
  alice->expect([](const json::object& o) { return str(o, "type") == "ok" && str(o, "in_reply_to") == "status"; });
  bob->send(json::object{{"type", "transfer.decline"}, {"transfer", str(offer.at("transfer").as_object(), "id")}});
  // Nobody is left waiting for alice: the visitor goes back to the queue, and bob,
  // who is free, gets it after all.
  visitor->expect([](const json::object& o) { return is_event(o, "left"); });
  visitor->expect([](const json::object& o) { return is_event(o, "joined") && str(o.at("author").as_object(), "id") == "bob"; });
}

TEST_F(LocalTransfer, OwnerGoingOfflineMidConsultHandsOverToAJoinedConsultant) {
  alice->send(json::object{{"type", "consult"}, {"conversation", v.conversation}, {"agent", "bob"}});
  auto consulting = transfer_event(*bob, "consulting");
  alice->send(json::object{{"type", "consult.join"}, {"transfer", str(consulting.at("transfer").as_object(), "id")}});
  transfer_event(*bob, "joined");
  alice->send(json::object{{"type", "status"}, {"status", "offline"}});
  transfer_event(*bob, "completed");
  EXPECT_EQ(send_and_ack(*bob, "Bob here, still with you"), "ack");
}

// A consult left open ends by itself at its deadline: expired, the consultant out
// of the conversation, the asking agent still its owner (api.md §3.6).
TEST(LocalTransferDeadline, AConsultLeftOpenExpiresAndTheOwnerKeepsTheConversation) {
  TempDir dir;
  app::AppOptions o = TestServer::default_options();
  o.consult_timeout_ms = 1500;
  TestServer server(test_config(dir.path()), o);
  std::uint16_t port = server.port();
  Visitor v = start_chat(port, "I need to change my address");
  WsClient alice(port), visitor(port), bob(port);
  alice.hello_agent(sign_in(port, "alice"));
  visitor.hello_visitor(v);
  visitor.expect([](const json::object& m) { return is_event(m, "joined"); });
  bob.hello_agent(sign_in(port, "bob"));
  bob.expect_type("desk");
  auto transfer_in = [&](const std::string& state) {
    return alice.expect([state](const json::object& m) {
      return str(m, "type") == "transfer" && str(m.at("transfer").as_object(), "state") == state;
    });
  };
  alice.send(json::object{{"type", "consult"}, {"conversation", v.conversation}, {"agent", "bob"}, {"note", "a sec?"}});
  auto open = transfer_in("consulting");
  alice.send(json::object{{"type", "consult.join"}, {"transfer", str(open.at("transfer").as_object(), "id")}});
  visitor.expect([](const json::object& m) { return is_event(m, "joined") && str(m.at("author").as_object(), "id") == "bob"; });
  auto ended = transfer_in("expired");
  EXPECT_NE(str(ended.at("transfer").as_object(), "reason").find("time limit"), std::string::npos);
  visitor.expect([](const json::object& m) { return is_event(m, "left") && str(m.at("author").as_object(), "id") == "bob"; });
  auto say = [&](WsClient& ws, const std::string& text) {
    ws.send(json::object{{"type", "message"}, {"conversation", v.conversation}, {"client_id", text}, {"text", text}});
    auto r = ws.expect([text](const json::object& m) {
      return (str(m, "type") == "ack" || str(m, "type") == "error") && str(m, "client_id") == text;
    });
    return str(r, "type") == "ack" ? "ack" : str(r, "code");
  };
  EXPECT_EQ(say(alice, "back to just us"), "ack");
  EXPECT_EQ(say(bob, "me too?"), "forbidden");
}

}  // namespace
}  // namespace baton::testing
