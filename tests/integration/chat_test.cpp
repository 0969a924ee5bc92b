// A visitor and agents chatting over real sockets with a real server.
#include <gtest/gtest.h>

#include <algorithm>

#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;

class Chat : public ::testing::Test {
 protected:
  TempDir dir;
  TestServer server{test_config(dir.path())};
  std::uint16_t port() const { return server.port(); }
};

json::object msg(const std::string& conv, const std::string& client_id, const std::string& text) {
  return {{"type", "message"}, {"conversation", conv}, {"client_id", client_id}, {"text", text}};
}

std::function<bool(const json::object&)> event_with_text(const std::string& text) {
  return [text](const json::object& o) { return is_event(o) && str(o, "text") == text; };
}

TEST_F(Chat, VisitorAndAgentExchangeMessages) {
  Visitor v = start_chat(port(), "Hello, anyone there?");
  WsClient visitor(port());
  visitor.hello_visitor(v);
  auto first = visitor.expect(event_with_text("Hello, anyone there?"));
  EXPECT_EQ(first.at("seq").as_int64(), 1);
  visitor.expect_type("synced");

  WsClient agent(port());
  agent.hello_agent(sign_in(port(), "alice"));
  // alice comes online, so the router gives her the waiting conversation.
  auto joined = visitor.expect([](const json::object& o) { return is_event(o, "joined"); });
  EXPECT_EQ(str(joined.at("author").as_object(), "id"), "alice");

  agent.send(json::object{{"type", "subscribe"}, {"conversation", v.conversation}, {"after_seq", 0}});
  agent.expect(event_with_text("Hello, anyone there?"));
  agent.expect_type("synced");

  agent.send(msg(v.conversation, "a-1", "Hi! How can I help?"));
  auto ack = agent.expect_type("ack");
  EXPECT_EQ(str(ack, "client_id"), "a-1");
  auto seen = visitor.expect(event_with_text("Hi! How can I help?"));
  EXPECT_EQ(seen.at("seq").as_int64(), ack.at("seq").as_int64());
  EXPECT_EQ(str(seen.at("author").as_object(), "name"), "Alice");

  visitor.send(msg(v.conversation, "v-2", "My card is blocked."));
  EXPECT_EQ(str(visitor.expect_type("ack"), "client_id"), "v-2");
  agent.expect(event_with_text("My card is blocked."));
}

// Summaries for messages are paced (docs/api.md, `conversation`): a burst of
// messages costs the agent a couple of summaries, and the last one is up to date.
TEST_F(Chat, ABurstOfMessagesGivesTheAgentFewSummariesEndingWithTheLatest) {
  Visitor v = start_chat(port(), "first");
  WsClient agent(port());
  agent.hello_agent(sign_in(port(), "alice"));
  agent.expect([](const json::object& o) {
    return str(o, "type") == "conversation" && str(o.at("conversation").as_object(), "agent") == "alice";
  });
  WsClient visitor(port());
  visitor.hello_visitor(v);
  visitor.expect_type("synced");
  constexpr int kBurst = 40;
  for (int i = 1; i <= kBurst; ++i) visitor.send(msg(v.conversation, "b-" + std::to_string(i), "burst " + std::to_string(i)));
  for (int i = 1; i <= kBurst; ++i) visitor.expect_type("ack");

  const std::string last = "burst " + std::to_string(kBurst);
  auto is_summary = [](const json::object& o) { return str(o, "type") == "conversation"; };
  auto latest = agent.expect([&](const json::object& o) {
    return is_summary(o) && str(o.at("conversation").as_object(), "last_message") == last;
  });
  EXPECT_EQ(str(latest.at("conversation").as_object(), "state"), "active");
  int summaries = 1;
  for (const auto& o : agent.drain()) summaries += is_summary(o) ? 1 : 0;
  // One at once, one at the end of each half second the burst lasted (it lasts far
  // less than the 10 seconds this bound would take); one per message before.
  EXPECT_LE(summaries, 20) << "a summary per message";
  EXPECT_LT(summaries, kBurst);
}

TEST_F(Chat, ResentMessageIsStoredOnce) {
  Visitor v = start_chat(port(), "first");
  WsClient visitor(port());
  visitor.hello_visitor(v);
  visitor.send(msg(v.conversation, "same-id", "only once"));
  auto a1 = visitor.expect_type("ack");
  // The client lost the ack and sends again with the same id.
  visitor.send(msg(v.conversation, "same-id", "only once"));
  auto a2 = visitor.expect_type("ack");
  EXPECT_EQ(a1.at("seq").as_int64(), a2.at("seq").as_int64());
  EXPECT_TRUE(a2.at("duplicate").as_bool());

  auto r = http(port(), "GET", "/api/conversations/" + v.conversation + "/events",
                {}, {{"Authorization", "Bearer " + v.token}});
  ASSERT_EQ(r.status, 200);
  int count = 0;
  auto body = r.json();
  for (const auto& e : body.at("events").as_array())
    if (e.at("text").as_string() == "only once") ++count;
  EXPECT_EQ(count, 1);
}

TEST_F(Chat, AgentSocketDropsAndResumesWithoutLossOrDuplicates) {
  Visitor v = start_chat(port(), "m0");
  std::string token = sign_in(port(), "alice");
  auto agent = std::make_unique<WsClient>(port());
  agent->hello_agent(token);
  agent->send(json::object{{"type", "subscribe"}, {"conversation", v.conversation}, {"after_seq", 0}});
  agent->expect_type("synced");
  WsClient visitor(port());
  visitor.hello_visitor(v);
  visitor.expect_type("synced");
  for (int i = 1; i <= 3; ++i) {
    visitor.send(msg(v.conversation, "v" + std::to_string(i), "m" + std::to_string(i)));
    visitor.expect_type("ack");
  }
  auto last = agent->expect(event_with_text("m3"));
  std::int64_t last_seq = last.at("seq").as_int64();

  agent.reset();  // the agent's connection drops
  for (int i = 4; i <= 8; ++i) {
    visitor.send(msg(v.conversation, "v" + std::to_string(i), "m" + std::to_string(i)));
    visitor.expect_type("ack");
  }

  WsClient back(port());
  back.hello_agent(token);
  back.send(json::object{{"type", "subscribe"}, {"conversation", v.conversation}, {"after_seq", last_seq}});
  back.expect_type("synced");
  // Sent while it was away, then one more live: each exactly once, in order.
  visitor.send(msg(v.conversation, "v9", "m9"));
  visitor.expect_type("ack");
  back.expect(event_with_text("m9"));
  std::vector<std::string> texts;
  std::int64_t prev = last_seq;
  auto all = back.drain();
  (void)all;
  auto r = http(port(), "GET", "/api/conversations/" + v.conversation + "/events?after=" + std::to_string(last_seq),
                {}, {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(r.status, 200);
  auto body = r.json();
  for (const auto& e : body.at("events").as_array()) {
    if (e.at("kind").as_string() == "message") texts.emplace_back(e.at("text").as_string());
    EXPECT_GT(e.at("seq").as_int64(), prev);
    prev = e.at("seq").as_int64();
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"m4", "m5", "m6", "m7", "m8", "m9"}));
}

TEST_F(Chat, ResumeDeliversExactlyTheMissedEvents) {
  Visitor v = start_chat(port(), "m0");
  WsClient visitor(port());
  visitor.hello_visitor(v);
  visitor.expect_type("synced");
  for (int i = 1; i <= 5; ++i) {
    visitor.send(msg(v.conversation, "v" + std::to_string(i), "m" + std::to_string(i)));
    visitor.expect_type("ack");
  }
  // A second socket for the same visitor, resuming after seq 3.
  WsClient again(port());
  again.send(json::object{{"type", "hello"}, {"role", "visitor"}, {"conversation", v.conversation},
                          {"token", v.token}, {"last_seq", 3}});
  again.expect_type("welcome");
  std::vector<std::int64_t> seqs;
  for (;;) {
    auto o = again.expect([](const json::object& m) { return is_event(m) || str(m, "type") == "synced"; });
    if (str(o, "type") == "synced") break;
    seqs.push_back(o.at("seq").as_int64());
  }
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{4, 5, 6}));
}

TEST_F(Chat, RestartKeepsTranscriptAndQueue) {
  Visitor first = start_chat(port(), "I was here first");
  Visitor second = start_chat(port(), "me too");
  {
    WsClient visitor(port());
    visitor.hello_visitor(first);
    visitor.send(msg(first.conversation, "x", "still waiting"));
    visitor.expect_type("ack");
  }
  server.restart();

  auto avail = http(port(), "GET", "/api/visitor/availability?site=web");
  ASSERT_EQ(avail.status, 200);
  EXPECT_EQ(avail.json().at("waiting").as_int64(), 2);

  WsClient visitor(port());
  visitor.hello_visitor(first);
  visitor.expect(event_with_text("I was here first"));
  visitor.expect(event_with_text("still waiting"));
  visitor.expect_type("synced");
  auto pos = visitor.expect_type("position");
  EXPECT_EQ(pos.at("place").as_int64(), 1);

  WsClient visitor2(port());
  visitor2.hello_visitor(second);
  EXPECT_EQ(visitor2.expect_type("position").at("place").as_int64(), 2);

  // Sequence numbers carry on after the restart.
  visitor.send(msg(first.conversation, "after", "after restart"));
  EXPECT_EQ(visitor.expect_type("ack").at("seq").as_int64(), 3);
}

TEST_F(Chat, NoAgentOnlineGivesTheOfflinePath) {
  auto avail = http(port(), "GET", "/api/visitor/availability?site=web");
  ASSERT_EQ(avail.status, 200);
  EXPECT_FALSE(avail.json().at("online").as_bool());

  auto r = post_json(port(), "/api/visitor/conversations",
                     {{"site", "web"}, {"name", "Olive"}, {"email", "olive@example.com"},
                      {"text", "Please call me back"}, {"offline", true}, {"client_id", "o1"}});
  ASSERT_EQ(r.status, 201) << r.body;
  std::string id(r.json().at("conversation").as_string());

  // Later an agent comes online and finds the message.
  WsClient agent(port());
  agent.hello_agent(sign_in(port(), "alice"));
  auto desk = agent.expect_type("desk");
  bool found = false;
  for (const auto& c : desk.at("conversations").as_array()) {
    if (c.at("id").as_string() == id) {
      found = true;
      EXPECT_TRUE(c.at("offline").as_bool());
      EXPECT_EQ(c.at("last_message").as_string(), "Please call me back");
      EXPECT_EQ(c.at("visitor").at("email").as_string(), "olive@example.com");
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(Chat, PlaceInLineMovesUpAsAgentsTakeConversations) {
  Visitor a = start_chat(port(), "a");
  Visitor b = start_chat(port(), "b");
  Visitor c = start_chat(port(), "c");
  WsClient vc(port());
  vc.hello_visitor(c);
  EXPECT_EQ(vc.expect_type("position").at("place").as_int64(), 3);
  // bob (capacity 1) comes online: a is assigned, c moves to place 2.
  WsClient bob(port());
  bob.hello_agent(sign_in(port(), "bob"));
  auto p = vc.expect([](const json::object& o) { return str(o, "type") == "position" && o.at("place").as_int64() == 2; });
  EXPECT_TRUE(p.at("online").as_bool());
}

TEST_F(Chat, NotesStayAmongAgents) {
  Visitor v = start_chat(port(), "hi");
  std::string token = sign_in(port(), "alice");
  WsClient agent(port());
  agent.hello_agent(token);
  WsClient visitor(port());
  visitor.hello_visitor(v);
  visitor.expect([](const json::object& o) { return is_event(o, "joined"); });
  agent.send(json::object{{"type", "note"}, {"conversation", v.conversation}, {"client_id", "n1"}, {"text", "secret note"}});
  agent.expect_type("ack");
  agent.send(msg(v.conversation, "m1", "visible"));
  agent.expect_type("ack");
  // The visitor gets the message but never the note (sent before it).
  visitor.expect(event_with_text("visible"));
  for (const auto& o : visitor.drain()) EXPECT_FALSE(is_event(o, "note")) << json::serialize(o);

  auto as_visitor = http(port(), "GET", "/api/conversations/" + v.conversation + "/transcript?format=text", {},
                         {{"Authorization", "Bearer " + v.token}});
  ASSERT_EQ(as_visitor.status, 200);
  EXPECT_EQ(as_visitor.body.find("secret note"), std::string::npos);
  EXPECT_NE(as_visitor.body.find("visible"), std::string::npos);
  auto as_agent = http(port(), "GET", "/api/conversations/" + v.conversation + "/transcript?format=json", {},
                       {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(as_agent.status, 200);
  EXPECT_NE(as_agent.body.find("secret note"), std::string::npos);
}

TEST_F(Chat, TypingIsForwardedToTheOtherSide) {
  Visitor v = start_chat(port(), "hi");
  WsClient agent(port());
  agent.hello_agent(sign_in(port(), "alice"));
  agent.send(json::object{{"type", "subscribe"}, {"conversation", v.conversation}, {"after_seq", 0}});
  agent.expect_type("synced");
  WsClient visitor(port());
  visitor.hello_visitor(v);
  visitor.expect_type("synced");
  visitor.send(json::object{{"type", "typing"}, {"on", true}});
  auto t = agent.expect_type("typing");
  EXPECT_TRUE(t.at("on").as_bool());
  EXPECT_EQ(str(t.at("who").as_object(), "kind"), "visitor");
}

TEST_F(Chat, ClosingTellsTheVisitorAndFreesTheAgent) {
  Visitor v = start_chat(port(), "hi");
  WsClient agent(port());
  agent.hello_agent(sign_in(port(), "alice"));
  WsClient visitor(port());
  visitor.hello_visitor(v);
  visitor.expect([](const json::object& o) { return is_event(o, "joined"); });
  agent.send(json::object{{"type", "close"}, {"conversation", v.conversation}});
  auto closed = visitor.expect([](const json::object& o) { return is_event(o, "closed"); });
  EXPECT_NE(str(closed, "text").find("Alice"), std::string::npos);
  // The visitor can no longer write into it.
  visitor.send(msg(v.conversation, "late", "hello?"));
  auto err = visitor.expect_type("error");
  EXPECT_EQ(str(err, "code"), "conflict");
  // It is in the agent's closed list.
  auto list = http(port(), "GET", "/api/conversations?queue=General&state=closed", {},
                   {{"Authorization", "Bearer " + sign_in(port(), "alice")}});
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.json().at("conversations").as_array().size(), 1u);
}

TEST_F(Chat, ListPaginatesNewestFirst) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(start_chat(port(), "m" + std::to_string(i)).conversation);
  std::string token = sign_in(port(), "alice");
  std::vector<std::pair<std::int64_t, std::string>> seen;  // (updated_at, id) as listed
  std::string next;
  for (int page = 0; page < 10; ++page) {
    std::string target = "/api/conversations?queue=General&limit=2";
    if (!next.empty()) target += "&before=" + next;
    auto r = http(port(), "GET", target, {}, {{"Authorization", "Bearer " + token}});
    ASSERT_EQ(r.status, 200) << r.body;
    auto o = r.json().as_object();
    for (const auto& c : o.at("conversations").as_array())
      seen.emplace_back(c.at("updated_at").as_int64(), std::string(c.at("id").as_string()));
    if (o.at("next").is_null()) break;
    next = std::string(o.at("next").as_string());
  }
  // Every conversation exactly once, newest first (ties broken by id, also descending).
  ASSERT_EQ(seen.size(), ids.size());
  for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i - 1], seen[i]);
  std::vector<std::string> got;
  for (const auto& [at, id] : seen) got.push_back(id);
  std::sort(got.begin(), got.end());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(got, ids);
}

TEST_F(Chat, AgentGoingOfflineSendsTheVisitorBackToTheQueue) {
  Visitor v = start_chat(port(), "hello");
  WsClient alice(port());
  alice.hello_agent(sign_in(port(), "alice"));
  WsClient visitor(port());
  visitor.hello_visitor(v);
  visitor.expect([](const json::object& o) { return is_event(o, "joined"); });
  alice.send(json::object{{"type", "status"}, {"status", "offline"}});
  visitor.expect([](const json::object& o) { return is_event(o, "left"); });
  EXPECT_EQ(visitor.expect_type("position").at("place").as_int64(), 1);
  // The next agent to come online gets the visitor.
  WsClient bob(port());
  bob.hello_agent(sign_in(port(), "bob"));
  visitor.expect([](const json::object& o) { return is_event(o, "joined") && str(o.at("author").as_object(), "id") == "bob"; });
}

TEST_F(Chat, ResumingPastTheLastEventIsRefused) {
  Visitor v = start_chat(port(), "hello");
  WsClient ws(port());
  ws.send(json::object{{"type", "hello"}, {"role", "visitor"}, {"conversation", v.conversation},
                       {"token", v.token}, {"last_seq", 1000}});
  auto e = ws.expect_type("error");
  EXPECT_EQ(str(e, "code"), "bad_request");
}

TEST_F(Chat, HeadIsAnsweredLikeGetWithoutABody) {
  auto r = http(port(), "HEAD", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Length"), "3");
  EXPECT_TRUE(r.body.empty());
}

}  // namespace
}  // namespace baton::testing
