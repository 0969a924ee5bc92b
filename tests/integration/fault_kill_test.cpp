// Kill -9 at every step of a federated transfer (DESIGN.md §2.4, "either server
// crashes mid-transfer"; docs/federation.md §10).
//
// Both organizations run as real `baton` processes (ChildServer). Every
// server-to-server call goes through a FaultyProxy (origin -> destination through
// one, destination -> origin through the other), which holds the request, or its
// answer, of the step under test while the test kills the origin or the
// destination with SIGKILL and starts it again on the same data folder and port.
// The held message is then passed on (or lost), the transfer is driven to an end
// the way people would (the agent confirms or calls it off, the visitor's browser
// joins or stays), and the test checks:
//   - the visitor has exactly one owner: either the origin's conversation is live
//     and no conversation at the destination is, or the other way round, and
//     nothing is left half-way (transferring) at the destination;
//   - every message acknowledged to the visitor or an agent (counted by its
//     client_id) is stored exactly once over both servers, and every one of them
//     appears exactly once in the owner's transcript;
//   - the owner's agent and the visitor can go on talking.
//
// Steps x side, each killing the origin and, separately, the destination:
//   offer sent, offer answered, context packet sent, context answered (holding
//   conversation created), visitor moving (join code issued, transfer page shown),
//   arrival notice sent, arrival answered (origin closing as transferred), agent
//   connected at the destination; the visitor choosing to stay (the call-off sent,
//   and answered); the destination sending the visitor back (the recall sent, and
//   answered); plus the arrival notice lost with the destination that sent it,
//   and the origin's disk full when the notice comes.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <regex>

#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;

std::string url_of(std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

// Acme and Northwind as child processes, each behind a FaultyProxy for the calls
// the other makes to it.
struct ChildPair {
  TempDir dir;
  std::unique_ptr<FaultyProxy> to_dest, to_origin;
  std::unique_ptr<ChildServer> origin, dest;

  ChildPair() {
    for (int attempt = 0;; ++attempt) {
      try {
        build(attempt);
        return;
      } catch (const std::exception&) {
        // A port taken between choosing and binding: choose again.
        origin.reset();
        dest.reset();
        to_dest.reset();
        to_origin.reset();
        if (attempt >= 4) throw;
      }
    }
  }

  void build(int attempt) {
    std::uint16_t op = free_port(), dp = free_port();
    to_dest = std::make_unique<FaultyProxy>(dp);
    to_origin = std::make_unique<FaultyProxy>(op);
    // A proxy's own port comes from the kernel and may be one just chosen for a
    // server: that server could not listen, and the proxy would answer in its place.
    std::set<std::uint16_t> ports{op, dp, to_dest->port(), to_origin->port()};
    if (ports.size() != 4) throw std::runtime_error("ports collide; choosing again");
    auto fc = federated_configs(dir.path(), op, url_of(to_origin->port()), dp, url_of(to_dest->port()));
    std::string tag = std::to_string(attempt);
    origin = std::make_unique<ChildServer>(fc.origin, dir.path() + "/origin-run-" + tag);
    dest = std::make_unique<ChildServer>(fc.dest, dir.path() + "/dest-run-" + tag);
    origin->start();
    dest->start();
  }
};

enum class Step {
  offer_sent,
  offer_answered,
  context_sent,
  context_answered,
  visitor_moving,
  arrival_sent,
  arrival_answered,
  agent_connected,
  stay_sent,
  stay_answered,
  recall_sent,
  recall_answered,
};
enum class Side { origin, dest };

const char* step_name(Step s) {
  switch (s) {
    case Step::offer_sent: return "OfferSent";
    case Step::offer_answered: return "OfferAnswered";
    case Step::context_sent: return "ContextSent";
    case Step::context_answered: return "ContextAnswered";
    case Step::visitor_moving: return "VisitorMoving";
    case Step::arrival_sent: return "ArrivalSent";
    case Step::arrival_answered: return "ArrivalAnswered";
    case Step::agent_connected: return "AgentConnected";
    case Step::stay_sent: return "StaySent";
    case Step::stay_answered: return "StayAnswered";
    case Step::recall_sent: return "RecallSent";
    case Step::recall_answered: return "RecallAnswered";
  }
  return "?";
}

struct Sent {
  std::string client_id;
  std::string text;
};

bool is_reply(const json::object& m, const std::string& to) {
  return (str(m, "type") == "ok" || str(m, "type") == "error") && str(m, "in_reply_to") == to;
}

json::object get_json(std::uint16_t port, const std::string& target, const std::string& token) {
  auto r = http(port, "GET", target, {}, {{"Authorization", "Bearer " + token}});
  if (r.status != 200) throw std::runtime_error("GET " + target + ": " + std::to_string(r.status) + " " + r.body);
  return r.json().as_object();
}

// The people of one transfer and what they said.
struct Journey {
  ChildPair& p;
  Visitor v;  // at the origin
  std::optional<Visitor> there;  // at the destination, once joined
  std::string alice_token, bob_token;
  std::unique_ptr<WsClient> alice, visitor, bob, visitor_there;
  std::vector<Sent> sent;  // every message acknowledged
  int counter = 0;

  explicit Journey(ChildPair& pair) : p(pair) {
    std::uint16_t o = p.origin->port();
    v = start_chat(o, "first words");
    sent.push_back({"first", "first words"});
    alice_token = sign_in(o, "alice");
    bob_token = sign_in(p.dest->port(), "bob");
    connect_origin();
    visitor->expect([](const json::object& m) { return is_event(m, "joined"); });
    say(*visitor, {}, "the visitor explains");
    say(*alice, v.conversation, "alice answers");
  }

  void connect_origin() {
    alice = std::make_unique<WsClient>(p.origin->port());
    alice->hello_agent(alice_token);
    visitor = std::make_unique<WsClient>(p.origin->port());
    visitor->hello_visitor(v);
  }

  // Sends a message (as the visitor when `conversation` is empty) and waits for its ack.
  void say(WsClient& ws, const std::string& conversation, const std::string& text) {
    std::string cid = "m" + std::to_string(++counter);
    json::object m{{"type", "message"}, {"client_id", cid}, {"text", text}};
    if (!conversation.empty()) m["conversation"] = conversation;
    ws.send(m);
    auto r = ws.expect([&](const json::object& o) {
      return (str(o, "type") == "ack" && str(o, "client_id") == cid) || is_reply(o, "message");
    });
    if (str(r, "type") != "ack") throw std::runtime_error("message not acknowledged: " + json::serialize(r));
    sent.push_back({cid, text});
  }

  json::object transfer_event(const std::function<bool(const json::object&)>& pred) {
    return alice->expect([&](const json::object& m) {
      return str(m, "type") == "transfer" && m.contains("transfer") && pred(m.at("transfer").as_object());
    });
  }

  void offer() {
    alice->send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"peer", "northwind"}}}});
  }
  void confirm(const std::string& id) {
    alice->send(json::object{{"type", "transfer.confirm"}, {"transfer", id}, {"queue", "Claims"}, {"note", "claim 42"}});
  }
  std::string offered() {
    auto e = transfer_event([](const json::object& t) { return t.contains("queues"); });
    return str(e.at("transfer").as_object(), "id");
  }

  // The origin's latest transfer of the conversation, as alice reads it.
  json::object latest_transfer() {
    auto list = get_json(p.origin->port(), "/api/conversations/" + v.conversation + "/transfers", alice_token);
    const auto& arr = list.at("transfers").as_array();
    json::object last;
    for (const auto& t : arr)
      if (str(t.as_object(), "kind") == "peer" && t.as_object().at("created_at").as_int64() >= (last.contains("created_at") ? last.at("created_at").as_int64() : 0))
        last = t.as_object();
    return last;
  }

  // The join code the transfer page at the origin points the browser at.
  std::optional<std::string> join_code() {
    auto r = http(p.origin->port(), "POST", "/transfer", "conversation=" + v.conversation + "&token=" + v.token,
                  {{"Content-Type", "application/x-www-form-urlencoded"}});
    std::smatch m;
    std::string refresh = r.header("Refresh");
    if (r.status != 200 || !std::regex_search(refresh, m, std::regex("#code=([A-Za-z0-9_-]+)"))) return std::nullopt;
    return std::string(m[1]);
  }

  void join(const std::string& code) { there = join_at(p.dest->port(), code); }

  void stay() {
    http(p.origin->port(), "POST", "/transfer/stay", "conversation=" + v.conversation + "&token=" + v.token,
         {{"Content-Type", "application/x-www-form-urlencoded"}});
  }

  // Conversations at the destination, as bob (who serves Claims) lists them.
  std::vector<json::object> dest_conversations() {
    auto list = get_json(p.dest->port(), "/api/conversations?queue=Claims&limit=200", bob_token);
    std::vector<json::object> out;
    for (const auto& c : list.at("conversations").as_array()) out.push_back(c.as_object());
    return out;
  }

  std::string origin_state() {
    auto c = get_json(p.origin->port(), "/api/conversations/" + v.conversation, alice_token);
    return str(c.at("conversation").as_object(), "state");
  }

  // Drives the transfer to its end as people would, from whatever state the crash
  // left it in: a confirmed offer whose answer was lost is called off, an answered
  // one is confirmed, a visitor told to move goes to the destination (or stays if
  // the code does not work there), and a visitor who arrived is waited for.
  void settle() {
    auto until = std::chrono::steady_clock::now() + kDeadline;
    for (;;) {
      if (std::chrono::steady_clock::now() > until)
        throw std::runtime_error("the transfer did not come to an end: " + json::serialize(latest_transfer()));
      json::object t = latest_transfer();
      std::string state = str(t, "state");
      std::string id = str(t, "id");
      if (state == "offering") {
        if (t.contains("queues") && !t.contains("to_queue")) {
          confirm(id);
          alice->expect([](const json::object& m) { return is_reply(m, "transfer.confirm"); });
        } else {
          // The question or its answer died with a process: the agent calls it off.
          alice->send(json::object{{"type", "transfer.cancel"}, {"transfer", id}});
          alice->expect([](const json::object& m) { return is_reply(m, "transfer.cancel"); });
        }
        // What the agent did (or what happened meanwhile, when the reply is an error)
        // is stored a moment after the reply: wait until the record moves on. A
        // confirmed offer moves on when the context is answered or refused.
        bool moved = wait_until([&] { return str(latest_transfer(), "state") != "offering"; });
        if (!moved) throw std::runtime_error("the offer did not move on: " + json::serialize(latest_transfer()));
        continue;
      }
      if (state == "moving") {
        if (!there) {
          auto code = join_code();
          bool joined = false;
          if (code) {
            try {
              join(*code);
              joined = true;
            } catch (const std::exception&) {
              // The destination does not know the code: the browser comes back.
            }
          }
          if (!joined) stay();
        }
        // Waiting for the origin to hear of the arrival.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      break;  // final
    }
    // The destination lets go of a recalled visitor once the origin's answer comes
    // back: until then both hold it (the hand-over), which is not a second owner.
    if (str(latest_transfer(), "state") == "recalled") {
      bool let_go = wait_until([&] {
        for (const auto& c : dest_conversations())
          if (str(c, "state") == "waiting" || str(c, "state") == "active") return false;
        return true;
      });
      EXPECT_TRUE(let_go) << "the destination kept a visitor the origin took back";
    }
    // The destination hears of a call-off asynchronously: nothing may stay half-way.
    bool resolved = wait_until([&] {
      for (const auto& c : dest_conversations())
        if (str(c, "state") == "transferring") return false;
      return true;
    });
    EXPECT_TRUE(resolved) << "a holding conversation at the destination was left transferring";
  }

  // After the transfer: the owner's agent and the visitor say one more thing each.
  void talk_with_owner() {
    if (str(latest_transfer(), "state") == "completed") {
      ASSERT_TRUE(there.has_value()) << "the origin let go of a visitor that did not arrive";
      visitor_there = std::make_unique<WsClient>(p.dest->port());
      visitor_there->hello_visitor(*there);
      if (!bob) {
        bob = std::make_unique<WsClient>(p.dest->port());
        bob->hello_agent(bob_token);
      }
      ASSERT_TRUE(wait_until([&] {
        auto c = get_json(p.dest->port(), "/api/conversations/" + there->conversation, bob_token);
        return str(c.at("conversation").as_object(), "state") == "active";
      })) << "nobody at the destination took the visitor";
      say(*bob, there->conversation, "bob at the destination");
      say(*visitor_there, {}, "the visitor, at the destination");
    } else {
      ASSERT_TRUE(wait_until([&] { return origin_state() == "active"; })) << origin_state();
      say(*alice, v.conversation, "alice, still the owner");
      say(*visitor, {}, "the visitor, still at the origin");
    }
  }

  void check_invariants() {
    // Exactly one owner.
    std::string at_origin = origin_state();
    int owners = (at_origin == "waiting" || at_origin == "active" || at_origin == "transferring") ? 1 : 0;
    std::string owner_conv = owners ? v.conversation : "";
    auto dest_convs = dest_conversations();
    for (const auto& c : dest_convs) {
      std::string s = str(c, "state");
      EXPECT_NE(s, "transferring") << "left half-way at the destination: " << json::serialize(c);
      if (s == "waiting" || s == "active") {
        ++owners;
        owner_conv = str(c, "id");
      }
    }
    EXPECT_EQ(owners, 1) << "origin: " << at_origin << ", destination: " << dest_convs.size() << " conversations";
    if (owners != 1) return;
    if (there) {
      EXPECT_TRUE(owner_conv == v.conversation || owner_conv == there->conversation);
    }

    // Every acknowledged message: stored once, by its client_id, over both servers...
    std::vector<std::pair<std::uint16_t, std::string>> all{{p.origin->port(), v.conversation}};
    for (const auto& c : dest_convs) all.emplace_back(p.dest->port(), str(c, "id"));
    std::map<std::string, int> by_client_id;
    std::vector<json::object> owner_events;
    for (const auto& [port, conv] : all) {
      const std::string& token = port == p.origin->port() ? alice_token : bob_token;
      auto events = get_json(port, "/api/conversations/" + conv + "/events?limit=500", token);
      for (const auto& e : events.at("events").as_array()) {
        const auto& eo = e.as_object();
        if (!str(eo, "client_id").empty()) ++by_client_id[str(eo, "client_id")];
        if (conv == owner_conv) owner_events.push_back(eo);
      }
    }
    for (const auto& m : sent) {
      EXPECT_EQ(by_client_id[m.client_id], 1) << "message " << m.client_id << " (" << m.text << ")";
      // ...and in the owner's transcript exactly once (from the origin it is a copy).
      int seen = 0;
      for (const auto& e : owner_events)
        if (str(e, "kind") == "message" && str(e, "text") == m.text) ++seen;
      EXPECT_EQ(seen, 1) << "in the owner's transcript: " << m.text;
    }
  }
};

struct Case {
  Step step;
  Side killed;
  bool lose_held = false;  // the held message is lost instead of passed on
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << step_name(c.step) << (c.killed == Side::origin ? ", origin killed" : ", destination killed")
      << (c.lose_held ? ", held message lost" : "");
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(step_name(info.param.step)) + (info.param.killed == Side::origin ? "_KillOrigin" : "_KillDestination") +
         (info.param.lose_held ? "_Lost" : "");
}

class KillNine : public ::testing::TestWithParam<Case> {};

TEST_P(KillNine, VisitorKeepsOneOwnerAndEveryMessage) {
  const Case c = GetParam();
  ChildPair p;
  struct LogsOnFailure {
    ChildPair& p;
    ~LogsOnFailure() {
      if (std::uncaught_exceptions() > 0 || ::testing::Test::HasFailure())
        std::cerr << "origin log:\n" << p.origin->log_tail() << "\ndestination log:\n" << p.dest->log_tail() << "\n";
    }
  } logs{p};
  Journey j(p);
  FaultyProxy* held = nullptr;  // where the step's message waits

  auto hold = [&](FaultyProxy& proxy, const std::string& path, FaultyProxy::Hold where) {
    proxy.hold_next(path, where);
    held = &proxy;
  };
  // Up to the step.
  if (c.step == Step::offer_sent || c.step == Step::offer_answered) {
    hold(*p.to_dest, "/offers", c.step == Step::offer_sent ? FaultyProxy::Hold::request : FaultyProxy::Hold::answer);
    j.offer();
  } else {
    j.offer();
    std::string id = j.offered();
    if (c.step == Step::context_sent || c.step == Step::context_answered) {
      hold(*p.to_dest, "/context", c.step == Step::context_sent ? FaultyProxy::Hold::request : FaultyProxy::Hold::answer);
      j.confirm(id);
    } else {
      j.confirm(id);
      j.visitor->expect_type("move");
      // The visitor writes once more while being moved: it must reach the destination.
      j.say(*j.visitor, {}, "written while moving");
      auto code = j.join_code();
      ASSERT_TRUE(code.has_value());
      if (c.step == Step::arrival_sent || c.step == Step::arrival_answered) {
        hold(*p.to_origin, "/arrived", c.step == Step::arrival_sent ? FaultyProxy::Hold::request : FaultyProxy::Hold::answer);
        j.join(*code);
      } else if (c.step == Step::stay_sent || c.step == Step::stay_answered) {
        // The browser could not reach the destination: the visitor stays. The
        // origin asks the destination to call it off before taking it back.
        hold(*p.to_dest, "/cancel", c.step == Step::stay_sent ? FaultyProxy::Hold::request : FaultyProxy::Hold::answer);
        j.stay();
      } else if (c.step >= Step::agent_connected) {
        j.join(*code);
        j.transfer_event([](const json::object& t) { return str(t, "state") == "completed"; });
        j.bob = std::make_unique<WsClient>(p.dest->port());
        j.bob->hello_agent(j.bob_token);
        j.visitor_there = std::make_unique<WsClient>(p.dest->port());
        j.visitor_there->hello_visitor(*j.there);
        j.visitor_there->expect([](const json::object& m) { return is_event(m, "joined"); });
        j.say(*j.bob, j.there->conversation, "bob takes over");
        j.say(*j.visitor_there, {}, "the visitor thanks bob");
        if (c.step == Step::recall_sent || c.step == Step::recall_answered) {
          // Bob cannot help after all and sends the visitor back.
          hold(*p.to_origin, "/recall", c.step == Step::recall_sent ? FaultyProxy::Hold::request : FaultyProxy::Hold::answer);
          j.bob->send(json::object{{"type", "transfer.return"}, {"conversation", j.there->conversation}});
          j.bob->expect([](const json::object& m) { return is_reply(m, "transfer.return"); });
        }
      }
    }
  }
  if (held) {
    ASSERT_TRUE(held->wait_held()) << "the step's message never came";
  }

  // Kill -9 at the step, and start again.
  ChildServer& victim = c.killed == Side::origin ? *p.origin : *p.dest;
  victim.kill9();
  if (c.killed == Side::origin) {
    j.alice.reset();
    j.visitor.reset();
  } else {
    j.bob.reset();
    j.visitor_there.reset();
  }
  victim.start();
  if (held) {
    if (c.lose_held) held->drop();
    else held->release();
  }
  if (c.killed == Side::origin) j.connect_origin();
  if (c.killed == Side::dest && c.step <= Step::context_answered) {
    // The origin's call was answered after the restart (or failed): wait for the outcome.
    j.transfer_event([&](const json::object& t) {
      return c.step <= Step::offer_answered ? (t.contains("queues") || str(t, "state") != "offering")
                                            : str(t, "state") != "offering";
    });
  }

  j.settle();
  j.talk_with_owner();
  j.check_invariants();
}

// The origin's disk is full when the arrival notice comes: it cannot store that
// the visitor left, so it must not say it did. It asks the destination to try
// again; the destination keeps the visitor and does; and an origin restarted (with
// room again) completes the transfer from its stored, still moving, record.
TEST(FederationFaults, OriginDiskFullWhenTheVisitorArrives) {
  ChildPair p;
  Journey j(p);
  j.offer();
  j.confirm(j.offered());
  j.visitor->expect_type("move");
  j.say(*j.visitor, {}, "written while moving");
  auto code = j.join_code();
  ASSERT_TRUE(code.has_value());
  p.to_origin->hold_next("/arrived", FaultyProxy::Hold::request);
  j.join(*code);
  ASSERT_TRUE(p.to_origin->wait_held());
  p.origin->set_file_size_limit(1);
  int answered = p.to_origin->forwarded();
  p.to_origin->release();
  ASSERT_TRUE(wait_until([&] { return p.to_origin->forwarded() > answered; }));
  p.origin->set_file_size_limit(0);
  j.alice.reset();
  j.visitor.reset();
  p.origin->kill9();
  p.origin->start();
  j.connect_origin();
  j.settle();  // the destination's next notice completes it
  j.talk_with_owner();
  j.check_invariants();
}

INSTANTIATE_TEST_SUITE_P(
    Federation, KillNine,
    ::testing::Values(Case{Step::offer_sent, Side::origin}, Case{Step::offer_sent, Side::dest},
                      Case{Step::offer_answered, Side::origin}, Case{Step::offer_answered, Side::dest},
                      Case{Step::context_sent, Side::origin}, Case{Step::context_sent, Side::dest},
                      Case{Step::context_answered, Side::origin}, Case{Step::context_answered, Side::dest},
                      Case{Step::visitor_moving, Side::origin}, Case{Step::visitor_moving, Side::dest},
                      Case{Step::arrival_sent, Side::origin}, Case{Step::arrival_sent, Side::dest},
                      Case{Step::arrival_sent, Side::dest, true},
                      Case{Step::arrival_answered, Side::origin}, Case{Step::arrival_answered, Side::dest},
                      Case{Step::arrival_answered, Side::dest, true},
                      Case{Step::agent_connected, Side::origin}, Case{Step::agent_connected, Side::dest},
                      Case{Step::stay_sent, Side::origin}, Case{Step::stay_sent, Side::dest},
                      Case{Step::stay_answered, Side::origin}, Case{Step::stay_answered, Side::dest},
                      Case{Step::recall_sent, Side::origin}, Case{Step::recall_sent, Side::dest},
                      Case{Step::recall_answered, Side::origin}, Case{Step::recall_answered, Side::dest},
                      Case{Step::recall_answered, Side::dest, true}),
    case_name);

}  // namespace
}  // namespace baton::testing
