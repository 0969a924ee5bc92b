// Transfers between two (or three) real servers on loopback (DESIGN.md §2.3-2.4).
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/io_context.hpp>
#include <regex>

#include "baton/core/text.hpp"
#include "baton/federation/keys.hpp"
#include "baton/federation/peer_client.hpp"
#include "baton/federation/signature.hpp"
#include <sodium.h>
#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;
namespace net = boost::asio;

// Origin "Acme" (queue General, agent alice) and destination "Northwind" (queues
// Claims and Sales, agent bob), peered both ways on fixed free ports.
struct PairOptions {
  app::AppOptions app = TestServer::default_options();
  int origin_hop_limit = 3;
  bool dest_reachable = true;
  bool via_proxy = false;  // origin -> destination calls go through a FaultyProxy
  int peer_timeout_s = 10;
};

struct Pair {
  TempDir dir;
  std::unique_ptr<FaultyProxy> proxy;
  std::unique_ptr<TestServer> origin, dest;
  app::Config oc, dc;
  PairOptions opts;

  explicit Pair(PairOptions o = {}) : opts(o) {
    for (int attempt = 0;; ++attempt) {
      try {
        build();
        return;
      } catch (const std::exception&) {
        // A port taken between choosing and binding: choose again.
        origin.reset();
        dest.reset();
        proxy.reset();
        if (attempt >= 5) throw;
      }
    }
  }

  void restart_origin() { origin->restart_on_same_port(); }
  void restart_dest() { dest->restart_on_same_port(); }

  void build() {
    std::uint16_t op = free_port(), dp = free_port();
    std::string ou = "http://127.0.0.1:" + std::to_string(op), du = "http://127.0.0.1:" + std::to_string(dp);
    if (opts.via_proxy) {
      // The destination is known to everyone by the proxy's address.
      proxy = std::make_unique<FaultyProxy>(dp);
      du = "http://127.0.0.1:" + std::to_string(proxy->port());
    }
    auto fc = federated_configs(dir.path(), op, ou, dp, du);
    oc = std::move(fc.origin);
    dc = std::move(fc.dest);
    oc.federation.hop_limit = opts.origin_hop_limit;
    oc.federation.peer_timeout_s = opts.peer_timeout_s;
    if (!opts.dest_reachable) oc.peers[0].base_url = "http://127.0.0.1:" + std::to_string(free_port());
    if (!app::validate_config(oc) || !app::validate_config(dc)) throw std::logic_error("bad test config");
    origin = std::make_unique<TestServer>(oc, opts.app);
    dest = std::make_unique<TestServer>(dc, opts.app);
  }
};

// A visitor chatting with alice at the origin, and alice's console.
struct Scene {
  Pair& p;
  Visitor v;
  std::string alice_token;
  std::unique_ptr<WsClient> alice, visitor;

  explicit Scene(Pair& pair) : p(pair) {
    std::uint16_t o = p.origin->port();
    v = start_chat(o, "My car was hit while parked");
    alice_token = sign_in(o, "alice");
    alice = std::make_unique<WsClient>(o);
    alice->hello_agent(alice_token);
    visitor = std::make_unique<WsClient>(o);
    visitor->hello_visitor(v);
    visitor->expect([](const json::object& m) { return is_event(m, "joined"); });
    visitor->send(json::object{{"type", "message"}, {"client_id", "m2"}, {"text", "Plate AB-123"}});
    visitor->expect_type("ack");
  }

  json::object transfer_in(const std::string& state) {
    return alice->expect([state](const json::object& o) {
      return str(o, "type") == "transfer" && str(o.at("transfer").as_object(), "state") == state;
    });
  }

  // Offers to northwind and waits for its queues; returns the transfer id.
  std::string offer() {
    alice->send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"peer", "northwind"}}}});
    auto withq = alice->expect([](const json::object& o) {
      return str(o, "type") == "transfer" && o.at("transfer").as_object().contains("queues");
    });
    return str(withq.at("transfer").as_object(), "id");
  }

  // Confirms into Claims with a note; the visitor's page is told to move.
  void confirm(const std::string& id) {
    alice->send(json::object{{"type", "transfer.confirm"}, {"transfer", id}, {"queue", "Claims"},
                             {"note", "Claim 123: parked car"}});
    auto move = visitor->expect_type("move");
    EXPECT_EQ(str(move, "destination"), "Northwind");
  }

  // The transfer page at the origin: what it points the browser at.
  std::pair<std::string, std::string> transfer_page() {
    auto r = http(p.origin->port(), "POST", "/transfer",
                  "conversation=" + v.conversation + "&token=" + v.token,
                  {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("Referrer-Policy"), "no-referrer");
    EXPECT_EQ(r.header("Cache-Control"), "no-store");
    EXPECT_NE(r.body.find("Connecting you to Northwind"), std::string::npos);
    std::smatch m;
    std::string refresh = r.header("Refresh");
    EXPECT_TRUE(std::regex_search(refresh, m, std::regex("url=(http://[^#]+)#code=([A-Za-z0-9_-]+)"))) << refresh;
    return {m[1], m[2]};
  }
  // Offered, confirmed, the transfer page shown: the visitor's join code. Alice's and
  // the visitor's sockets at the origin are closed, as when the page moves on.
  std::string leave_origin() {
    std::string id = offer();
    confirm(id);
    auto [url, code] = transfer_page();
    alice.reset();
    visitor.reset();
    return code;
  }
};

// bob, at the destination, tries to send `there` on to Acme: refused for its hops.
void expect_transfer_back_refused(Pair& p, const Visitor& there) {
  std::string bob_token = sign_in(p.dest->port(), "bob");
  WsClient bob(p.dest->port());
  bob.hello_agent(bob_token);
  WsClient vd(p.dest->port());
  vd.hello_visitor(there);
  vd.expect([](const json::object& e) { return is_event(e, "joined"); });
  bob.send(json::object{{"type", "transfer"}, {"conversation", there.conversation}, {"to", {{"peer", "acme"}}}});
  auto failed = bob.expect([](const json::object& e) {
    return str(e, "type") == "transfer" && str(e.at("transfer").as_object(), "state") == "failed";
  });
  EXPECT_NE(str(failed.at("transfer").as_object(), "reason").find("too many times"), std::string::npos);
}

TEST(Federation, VisitorMovesToThePartnerWithItsContext) {
  Pair p;
  Scene s(p);
  std::string id = s.offer();
  s.confirm(id);
  auto [join_url, code] = s.transfer_page();
  EXPECT_EQ(join_url, p.dc.public_url + "/join");

  // The browser at the destination presents the code once.
  auto joined = http(p.dest->port(), "POST", "/join", "code=" + code,
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(joined.status, 303) << joined.body;
  EXPECT_NE(joined.header("Location").find("/chat?site=nw&joined=1"), std::string::npos);
  std::string cookie = cookie_value(joined.header("Set-Cookie"));
  auto handoff = http(p.dest->port(), "POST", "/api/visitor/handoff", {}, {{"Cookie", cookie}});
  ASSERT_EQ(handoff.status, 200) << handoff.body;
  Visitor there{std::string(handoff.json().at("conversation").as_string()),
                std::string(handoff.json().at("token").as_string())};

  // The origin lets go only now, and alice is told.
  s.transfer_in("completed");
  // Its closing is stored a moment after the event: wait for it, with a deadline.
  std::string state;
  for (auto until = std::chrono::steady_clock::now() + kDeadline; std::chrono::steady_clock::now() < until;) {
    auto at_origin = http(p.origin->port(), "GET", "/api/conversations/" + s.v.conversation, {},
                          {{"Authorization", "Bearer " + s.alice_token}});
    state = std::string(at_origin.json().at("conversation").at("state").as_string());
    if (state == "transferred") break;
    std::this_thread::yield();
  }
  EXPECT_EQ(state, "transferred");

  // The visitor sees the earlier transcript and its place in line.
  WsClient vd(p.dest->port());
  vd.hello_visitor(there);
  vd.expect([](const json::object& o) { return is_event(o) && str(o, "text") == "My car was hit while parked"; });
  vd.expect([](const json::object& o) { return is_event(o) && str(o, "text") == "Plate AB-123"; });
  vd.expect_type("synced");
  EXPECT_EQ(vd.expect_type("position").at("place").as_int64(), 1);

  // bob comes online, gets the visitor, and sees the note and the transcript.
  std::string bob_token = sign_in(p.dest->port(), "bob");
  WsClient bob(p.dest->port());
  bob.hello_agent(bob_token);
  vd.expect([](const json::object& o) { return is_event(o, "joined"); });
  bob.send(json::object{{"type", "subscribe"}, {"conversation", there.conversation}});
  bob.expect([](const json::object& o) { return is_event(o, "note") && str(o, "text").find("Claim 123") != std::string::npos; });
  bob.expect_type("synced");
  bob.send(json::object{{"type", "message"}, {"conversation", there.conversation}, {"client_id", "b1"}, {"text", "Hi, Bob from Northwind claims"}});
  vd.expect([](const json::object& o) { return is_event(o) && str(o, "text") == "Hi, Bob from Northwind claims"; });
  for (const auto& o : vd.drain()) EXPECT_FALSE(is_event(o, "note"));

  // The code is single use.
  auto again = http(p.dest->port(), "POST", "/join", "code=" + code, {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(again.status, 404);
}

TEST(Federation, ForgedJoinCodeIsRefused) {
  Pair p;
  auto r = http(p.dest->port(), "POST", "/join", "code=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("Set-Cookie"), "");
}

TEST(Federation, UnreachablePartnerLeavesTheVisitorWithTheAgent) {
  PairOptions o;
  o.dest_reachable = false;
  Pair p(o);
  Scene s(p);
  s.alice->send(json::object{{"type", "transfer"}, {"conversation", s.v.conversation}, {"to", {{"peer", "northwind"}}}});
  auto failed = s.transfer_in("failed");
  EXPECT_NE(str(failed.at("transfer").as_object(), "reason").find("could not be reached"), std::string::npos);
  s.alice->send(json::object{{"type", "message"}, {"conversation", s.v.conversation}, {"client_id", "a"}, {"text", "Still here"}});
  EXPECT_EQ(str(s.alice->expect([](const json::object& o) { return str(o, "type") == "ack" || str(o, "type") == "error"; }), "type"), "ack");
}

TEST(Federation, PartnerRefusesAQueueItDoesNotAllow) {
  Pair p;
  Scene s(p);
  std::string id = s.offer();
  s.alice->send(json::object{{"type", "transfer.confirm"}, {"transfer", id}, {"queue", "Sales"}, {"note", ""}});
  auto e = s.alice->expect_type("error");
  EXPECT_EQ(str(e, "code"), "bad_request");  // Sales was not among the queues offered
}

TEST(Federation, VisitorWhoStaysGoesBackToTheAgent) {
  Pair p;
  Scene s(p);
  std::string id = s.offer();
  s.confirm(id);
  auto [url, code] = s.transfer_page();
  auto stay = http(p.origin->port(), "POST", "/transfer/stay",
                   "conversation=" + s.v.conversation + "&token=" + s.v.token,
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(stay.status, 303);
  s.transfer_in("cancelled");
  // The destination drops the holding conversation (told asynchronously): wait for
  // that, then the code no longer works.
  auto transferring = [&] {
    auto m = http(p.dest->port(), "GET", "/metrics").body;
    return m.find("baton_conversations{state=\"transferring\"} 0") == std::string::npos;
  };
  auto until = std::chrono::steady_clock::now() + kDeadline;
  while (transferring() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  ASSERT_FALSE(transferring());
  auto r = http(p.dest->port(), "POST", "/join", "code=" + code, {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_NE(r.status, 303);
}

TEST(Federation, JoinCodeThatExpiresSendsTheVisitorBackToTheAgent) {
  PairOptions o;
  o.app.join_code_ttl_ms = 1000;
  Pair p(o);
  Scene s(p);
  std::string id = s.offer();
  s.confirm(id);
  auto expired = s.transfer_in("expired");
  s.visitor->expect([](const json::object& m) {
    return is_event(m, "system") && str(m, "text").find("could not connect you") != std::string::npos;
  });
  s.alice->send(json::object{{"type", "message"}, {"conversation", s.v.conversation}, {"client_id", "a"}, {"text", "Back with me"}});
  EXPECT_EQ(str(s.alice->expect([](const json::object& m) { return str(m, "type") == "ack" || str(m, "type") == "error"; }), "type"), "ack");
}

TEST(Federation, UnsignedOrForeignRequestsAreRefused) {
  Pair p;
  auto unsigned_offer = post_json(p.dest->port(), "/federation/v1/offers",
                                  {{"transfer_id", "t1"}, {"origin", p.oc.public_url}, {"hop_count", 0}});
  EXPECT_EQ(unsigned_offer.status, 401);
  EXPECT_NE(unsigned_offer.body.find("missing_header"), std::string::npos);
}

TEST(Federation, WellKnownPublishesTheCurrentKey) {
  Pair p;
  auto r = http(p.dest->port(), "GET", "/.well-known/baton");
  ASSERT_EQ(r.status, 200);
  auto o = r.json().as_object();
  EXPECT_EQ(o.at("organization").as_string(), "Northwind");
  ASSERT_EQ(o.at("keys").as_array().size(), 1u);
  EXPECT_EQ(o.at("keys").as_array()[0].at("public_key").as_string(), p.oc.peers[0].public_keys[0]);
}

TEST(Federation, LostResponseIsRetriedWithTheSameTransferId) {
  PairOptions o;
  o.via_proxy = true;
  Pair p(o);
  Scene s(p);
  p.proxy->drop_next_responses(1);  // the offer's answer is lost once
  std::string id = s.offer();
  p.proxy->drop_next_responses(1);  // and the context's answer too
  s.confirm(id);
  EXPECT_GE(p.proxy->forwarded(), 4);  // each sent twice, answered the same way
  auto [url, code] = s.transfer_page();
  Visitor there = join_at(p.dest->port(), code);
  s.transfer_in("completed");
  // Only one holding conversation was made, however often the context came.
  auto m = http(p.dest->port(), "GET", "/metrics").body;
  EXPECT_NE(m.find("\nbaton_conversations_created_total 1\n"), std::string::npos) << "one holding conversation, however often the context came";
  WsClient vd(p.dest->port());
  vd.hello_visitor(there);
  vd.expect([](const json::object& e) { return is_event(e) && str(e, "text") == "Plate AB-123"; });
}

TEST(Federation, SlowPartnerTimesOutAndTheAgentIsTold) {
  PairOptions o;
  o.via_proxy = true;
  o.peer_timeout_s = 1;
  Pair p(o);
  Scene s(p);
  p.proxy->delay_responses(std::chrono::milliseconds(1500));
  s.alice->send(json::object{{"type", "transfer"}, {"conversation", s.v.conversation}, {"to", {{"peer", "northwind"}}}});
  auto failed = s.transfer_in("failed");
  EXPECT_NE(str(failed.at("transfer").as_object(), "reason").find("could not be reached"), std::string::npos);
}

TEST(Federation, PageThatMissedTheMoveHearsItAgainOnReconnect) {
  Pair p;
  Scene s(p);
  std::string id = s.offer();
  s.confirm(id);
  WsClient again(p.origin->port());
  again.hello_visitor(s.v);
  EXPECT_EQ(str(again.expect_type("move"), "destination"), "Northwind");
}

TEST(Federation, DestinationSendsTheVisitorBack) {
  Pair p;
  Scene s(p);
  std::string id = s.offer();
  s.confirm(id);
  auto [url, code] = s.transfer_page();
  Visitor there = join_at(p.dest->port(), code);
  s.transfer_in("completed");
  WsClient vd(p.dest->port());
  vd.hello_visitor(there);
  vd.expect_type("synced");
  std::string bob_token = sign_in(p.dest->port(), "bob");
  WsClient bob(p.dest->port());
  bob.hello_agent(bob_token);
  bob.send(json::object{{"type", "transfer.return"}, {"conversation", there.conversation}});
  auto move = vd.expect_type("move");
  EXPECT_EQ(str(move, "url"), p.oc.public_url + "/chat?site=web");
  // The destination's conversation ends as transferred (back).
  vd.expect([](const json::object& e) { return is_event(e, "closed") && str(e, "text").find("Sent back") != std::string::npos; });
  // The origin has the conversation again, with the visitor's old token.
  s.transfer_in("recalled");
  WsClient back(p.origin->port());
  back.hello_visitor(s.v);
  back.expect([](const json::object& e) { return is_event(e, "system") && str(e, "text").find("sent you back") != std::string::npos; });
}

TEST(Federation, HopLimitStopsATransferLoop) {
  PairOptions o;
  o.origin_hop_limit = 1;  // Acme takes no visitor that was transferred before
  Pair p(o);
  Scene s(p);
  std::string id = s.offer();
  s.confirm(id);
  auto [url, code] = s.transfer_page();
  Visitor there = join_at(p.dest->port(), code);
  expect_transfer_back_refused(p, there);
}

TEST(Federation, OriginRestartedWhileTheVisitorMoves) {
  Pair p;
  Scene s(p);
  std::string code = s.leave_origin();
  p.restart_origin();
  Visitor there = join_at(p.dest->port(), code);
  // The destination tells the restarted origin, which closes its side.
  std::string token = sign_in(p.origin->port(), "alice");
  auto until = std::chrono::steady_clock::now() + kDeadline;
  std::string state;
  while (std::chrono::steady_clock::now() < until) {
    auto r = http(p.origin->port(), "GET", "/api/conversations/" + s.v.conversation, {}, {{"Authorization", "Bearer " + token}});
    state = std::string(r.json().at("conversation").at("state").as_string());
    if (state == "transferred") break;
    std::this_thread::yield();
  }
  EXPECT_EQ(state, "transferred");
}

TEST(Federation, DestinationRestartedWhileTheVisitorMoves) {
  Pair p;
  Scene s(p);
  std::string id = s.offer();
  s.confirm(id);
  auto [url, code] = s.transfer_page();
  p.restart_dest();
  Visitor there = join_at(p.dest->port(), code);
  s.transfer_in("completed");
  WsClient vd(p.dest->port());
  vd.hello_visitor(there);
  vd.expect([](const json::object& e) { return is_event(e) && str(e, "text") == "Plate AB-123"; });
}

TEST(Federation, OfferNotConfirmedInTimeExpiresBackToTheAgent) {
  PairOptions o;
  o.app.join_code_ttl_ms = 1000;  // and the authorization code
  Pair p(o);
  Scene s(p);
  s.offer();
  auto expired = s.transfer_in("expired");
  EXPECT_NE(str(expired.at("transfer").as_object(), "reason").find("ran out"), std::string::npos);
  // The agent can transfer again.
  s.alice->send(json::object{{"type", "transfer"}, {"conversation", s.v.conversation}, {"to", {{"peer", "northwind"}}}});
  EXPECT_EQ(str(s.alice->expect([](const json::object& m) {
              return (str(m, "type") == "ok" || str(m, "type") == "error") && str(m, "in_reply_to") == "transfer";
            }), "type"),
            "ok");
}

// The visitor chooses to stay, but its browser also reaches the partner before the
// partner hears of it. The origin asked the partner to call it off and takes the
// visitor back only on its word; the partner has the visitor by then, so the
// origin lets go instead: one owner throughout, and no page sent back and forth.
TEST(Federation, AVisitorWhoStaysButReachesThePartnerAnywayIsThePartnersAlone) {
  PairOptions o;
  o.via_proxy = true;
  Pair p(o);
  Scene s(p);
  std::string id = s.offer();
  s.confirm(id);
  auto [url, code] = s.transfer_page();
  p.proxy->delay_requests(std::chrono::milliseconds(3000));  // the origin's call-off is slow to arrive
  auto stay = http(p.origin->port(), "POST", "/transfer/stay", "conversation=" + s.v.conversation + "&token=" + s.v.token,
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(stay.status, 303);
  // Asked, not yet answered: still moving, and the transfer page is over.
  auto asked = s.alice->expect([](const json::object& m) {
    return str(m, "type") == "transfer" && str(m.at("transfer").as_object(), "step") == "stayed";
  });
  EXPECT_EQ(str(asked.at("transfer").as_object(), "state"), "moving");
  EXPECT_EQ(http(p.origin->port(), "POST", "/transfer", "conversation=" + s.v.conversation + "&token=" + s.v.token,
                 {{"Content-Type", "application/x-www-form-urlencoded"}})
                .status,
            409);
  auto joined = http(p.dest->port(), "POST", "/join", "code=" + code, {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(joined.status, 303) << "the call-off was held back, so the code still works here";
  s.transfer_in("completed");
  auto handoff = http(p.dest->port(), "POST", "/api/visitor/handoff", {}, {{"Cookie", cookie_value(joined.header("Set-Cookie"))}});
  ASSERT_EQ(handoff.status, 200);
  Visitor there{std::string(handoff.json().at("conversation").as_string()), std::string(handoff.json().at("token").as_string())};
  WsClient vd(p.dest->port());
  vd.hello_visitor(there);
  vd.send(json::object{{"type", "message"}, {"client_id", "d1"}, {"text", "I am here"}});
  vd.expect([](const json::object& m) { return str(m, "type") == "ack" && str(m, "client_id") == "d1"; });
  for (const auto& m : vd.drain()) EXPECT_NE(str(m, "type"), "move") << "the visitor has one owner: no page sent back";
  auto conv = http(p.origin->port(), "GET", "/api/conversations/" + s.v.conversation, {}, {{"Authorization", "Bearer " + s.v.token}});
  EXPECT_EQ(str(conv.json().at("conversation").as_object(), "state"), "transferred");
}

TEST(Federation, MessagesSentWhileBeingMovedReachTheDestination) {
  Pair p;
  Scene s(p);
  std::string id = s.offer();
  s.confirm(id);
  // The visitor writes once more before its browser leaves.
  s.visitor->send(json::object{{"type", "message"}, {"client_id", "late"}, {"text", "Also, the mirror broke"}});
  s.visitor->expect([](const json::object& o) { return str(o, "type") == "ack" && str(o, "client_id") == "late"; });
  auto [url, code] = s.transfer_page();
  Visitor there = join_at(p.dest->port(), code);
  WsClient vd(p.dest->port());
  vd.hello_visitor(there);
  vd.expect([](const json::object& o) { return is_event(o) && str(o, "text") == "Also, the mirror broke"; });
  // Transfer figures are on /metrics at both ends.
  s.transfer_in("completed");
  auto m = http(p.origin->port(), "GET", "/metrics").body;
  EXPECT_NE(m.find("baton_transfers_total{kind=\"peer\",state=\"completed\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("baton_transfer_duration_seconds_count{kind=\"peer\"} 1"), std::string::npos);
}

// Three organizations in a ring: A sends to B, B to C, C back to A.
TEST(Federation, VisitorTravelsThroughThreeServersAndTheLoopBackIsRefused) {
  TempDir dir;
  struct Org {
    std::string name, agent, queue;
    std::uint16_t port = 0;
    std::string pub;
    app::Config config;
    std::unique_ptr<TestServer> server;
  };
  std::vector<Org> orgs(3);
  const char* names[] = {"Alpha", "Beta", "Gamma"};
  const char* agents[] = {"alice", "bob", "carol"};
  const char* queues[] = {"Front", "Middle", "Back"};
  for (int i = 0; i < 3; ++i) {
    Org& o = orgs[i];
    o.name = names[i];
    o.agent = agents[i];
    o.queue = queues[i];
    o.port = free_port();
    app::Config c = test_config(dir.path() + "/" + o.name);
    c.organization = o.name;
    c.listen = "127.0.0.1:" + std::to_string(o.port);
    c.public_url = "http://127.0.0.1:" + std::to_string(o.port);
    c.queues = {{o.queue, o.queue}};
    c.agents = {{o.agent, o.agent, c.agents[0].password_hash, {o.queue}, 2}};
    c.sites = {{"web", {"http://" + core::ascii_lower(o.name) + ".example"}, o.queue}};
    c.federation.key_file = dir.path() + "/" + o.name + ".key";
    c.federation.hop_limit = 2;
    o.pub = make_key(c.federation.key_file);
    o.config = c;
  }
  for (int i = 0; i < 3; ++i) {
    Org& o = orgs[i];
    Org& next = orgs[(i + 1) % 3];
    Org& prev = orgs[(i + 2) % 3];
    // o may send to next; prev may send into o's queue.
    o.config.peers = {{core::ascii_lower(next.name), next.name, next.config.public_url, {next.pub}, {}, {}},
                      {core::ascii_lower(prev.name), prev.name, prev.config.public_url, {prev.pub}, {o.queue}, {}}};
    auto st = app::validate_config(o.config);
    ASSERT_TRUE(st.ok()) << st.error().message;
    o.server = std::make_unique<TestServer>(o.config);
  }
  // Moves the visitor of `conv` at orgs[i] to orgs[i+1]; returns it there.
  auto hop = [&](int i, const Visitor& v, WsClient& agent) -> Visitor {
    Org& o = orgs[i];
    Org& next = orgs[(i + 1) % 3];
    agent.send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"peer", core::ascii_lower(next.name)}}}});
    auto offered = agent.expect([](const json::object& m) {
      return str(m, "type") == "transfer" && m.at("transfer").as_object().contains("queues");
    });
    agent.send(json::object{{"type", "transfer.confirm"}, {"transfer", str(offered.at("transfer").as_object(), "id")},
                            {"queue", next.queue}, {"note", "from " + o.name}});
    agent.expect([](const json::object& m) {
      return str(m, "type") == "transfer" && str(m.at("transfer").as_object(), "state") == "moving";
    });
    auto page = http(o.server->port(), "POST", "/transfer", "conversation=" + v.conversation + "&token=" + v.token,
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
    std::smatch m;
    std::string refresh = page.header("Refresh");
    if (!std::regex_search(refresh, m, std::regex("#code=([A-Za-z0-9_-]+)"))) throw std::runtime_error("no code: " + page.body);
    return join_at(next.server->port(), m[1]);
  };

  Visitor v = start_chat(orgs[0].server->port(), "I started at Alpha");
  WsClient alice(orgs[0].server->port());
  alice.hello_agent(sign_in(orgs[0].server->port(), "alice"));
  Visitor at_beta = hop(0, v, alice);
  WsClient bob(orgs[1].server->port());
  bob.hello_agent(sign_in(orgs[1].server->port(), "bob"));
  Visitor at_gamma = hop(1, at_beta, bob);
  WsClient carol(orgs[2].server->port());
  carol.hello_agent(sign_in(orgs[2].server->port(), "carol"));
  // The transcript travelled all the way.
  WsClient vg(orgs[2].server->port());
  vg.hello_visitor(at_gamma);
  vg.expect([](const json::object& o) { return is_event(o) && str(o, "text") == "I started at Alpha"; });
  // Two hops made: Alpha refuses a third.
  carol.send(json::object{{"type", "transfer"}, {"conversation", at_gamma.conversation}, {"to", {{"peer", "alpha"}}}});
  auto failed = carol.expect([](const json::object& o) {
    return str(o, "type") == "transfer" && str(o.at("transfer").as_object(), "state") == "failed";
  });
  EXPECT_NE(str(failed.at("transfer").as_object(), "reason").find("too many times"), std::string::npos);
}

TEST(Federation, VisitorNobodyCanServeIsSentBack) {
  PairOptions o;
  o.app.unserved_recall_ms = 300;
  Pair p(o);
  Scene s(p);
  std::string id = s.offer();
  s.confirm(id);
  auto [url, code] = s.transfer_page();
  Visitor there = join_at(p.dest->port(), code);  // no agent of Claims is online there
  WsClient vd(p.dest->port());
  vd.hello_visitor(there);
  auto move = vd.expect_type("move");
  EXPECT_EQ(str(move, "url"), p.oc.public_url + "/chat?site=web");
  s.transfer_in("recalled");
}

TEST(Federation, VisitorWhoClosedTheBrowserIsAbandonedOnBothSides) {
  PairOptions o;
  o.app.join_code_ttl_ms = 1000;
  Pair p(o);
  Scene s(p);
  std::string id = s.offer();
  s.confirm(id);
  s.visitor.reset();  // the browser is closed before it reaches the partner
  s.transfer_in("expired");
  auto closed = s.alice->expect([&](const json::object& m) {
    return str(m, "type") == "conversation" && str(m.at("conversation").as_object(), "id") == s.v.conversation &&
           str(m.at("conversation").as_object(), "state") == "abandoned";
  });
  EXPECT_EQ(str(closed.at("conversation").as_object(), "close_reason"), "The visitor left during the transfer.");
}

TEST(Federation, SignedBodyNamingAnotherOriginIsRefused) {
  Pair p;
  // A request properly signed with Acme's key, but speaking for someone else.
  auto key = federation::load_secret_key(p.oc.federation.key_file);
  ASSERT_TRUE(key.ok());
  core::SystemClock clock;
  struct Rand : core::Random {
    void fill(void* out, std::size_t n) override { randombytes_buf(out, n); }
  } rnd;
  federation::Signer signer(*key, clock, rnd);
  std::string body = json::serialize(json::object{{"transfer_id", "t1"}, {"origin", "http://evil.example"}, {"hop_count", 0}});
  federation::OutgoingRequest out{"POST", federation::authority_of(p.dc.public_url), "/federation/v1/offers", "",
                                  "application/json", body};
  auto h = signer.sign_request(out);
  ASSERT_TRUE(h.ok());
  auto r = http(p.dest->port(), "POST", "/federation/v1/offers", body,
                {{"Content-Type", "application/json"}, {"Content-Digest", h->content_digest},
                 {"Signature-Input", h->signature_input}, {"Signature", h->signature}});
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("origin_mismatch"), std::string::npos) << r.body;
  // The same request, honest about its origin, is accepted.
  std::string honest = json::serialize(json::object{{"transfer_id", "t1"}, {"origin", p.oc.public_url}, {"hop_count", 0}});
  out.body = honest;
  auto h2 = signer.sign_request(out);
  auto ok = http(p.dest->port(), "POST", "/federation/v1/offers", honest,
                 {{"Content-Type", "application/json"}, {"Content-Digest", h2->content_digest},
                  {"Signature-Input", h2->signature_input}, {"Signature", h2->signature}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  // Replayed exactly: refused.
  auto replay = http(p.dest->port(), "POST", "/federation/v1/offers", honest,
                     {{"Content-Type", "application/json"}, {"Content-Digest", h2->content_digest},
                      {"Signature-Input", h2->signature_input}, {"Signature", h2->signature}});
  EXPECT_EQ(replay.status, 401);
  EXPECT_NE(replay.body.find("nonce_replayed"), std::string::npos) << replay.body;
}

TEST(Federation, GuessingJoinCodesInBulkIsRateLimited) {
  Pair p;
  int limited = 0;
  for (int i = 0; i < 15; ++i) {
    auto r = http(p.dest->port(), "POST", "/join", "code=guess" + std::to_string(i),
                  {{"Content-Type", "application/x-www-form-urlencoded"}});
    if (r.status == 429) ++limited;
  }
  EXPECT_GE(limited, 5);
}

TEST(Federation, SenderCanCallAnOfferOffBeforeTheVisitorMoves) {
  Pair p;
  Scene s(p);
  std::string id = s.offer();
  s.alice->send(json::object{{"type", "transfer.cancel"}, {"transfer", id}});
  s.transfer_in("cancelled");
  // It can be transferred again at once.
  EXPECT_FALSE(s.offer().empty());
}

TEST(Federation, HopCountSurvivesARestartOfTheDestination) {
  PairOptions o;
  o.origin_hop_limit = 1;
  Pair p(o);
  Scene s(p);
  std::string id = s.offer();
  s.confirm(id);
  auto [url, code] = s.transfer_page();
  Visitor there = join_at(p.dest->port(), code);
  s.transfer_in("completed");
  p.restart_dest();
  expect_transfer_back_refused(p, there);
}

TEST(Federation, DestinationRestartedBetweenOfferAndContext) {
  Pair p;
  Scene s(p);
  std::string id = s.offer();
  p.restart_dest();
  s.confirm(id);  // the offer survived: the context is taken and the visitor moves
  auto [url, code] = s.transfer_page();
  join_at(p.dest->port(), code);
  s.transfer_in("completed");
}

// The origin is away (down, or unreachable) when the visitor arrives: the destination
// tells it of the arrival until it answers, however many tries that takes, so that the
// origin never takes back a visitor who is at the destination (two owners).
TEST(Federation, AnArrivalIsToldUntilTheOriginAnswersHoweverLongItIsAway) {
  PairOptions o;
  o.app.notice_retry_max_ms = 20;  // many tries in little time
  Pair p(o);
  Scene s(p);
  std::string code = s.leave_origin();
  p.origin->stop();

  Visitor there = join_at(p.dest->port(), code);
  auto retries = [&] { return metric(p.dest->port(), "baton_peer_notice_retries_total"); };
  // Past the 20 tries after which other notices are given up (each try to a closed
  // port takes the peer client a moment: a generous deadline).
  ASSERT_TRUE(wait_until([&] { return retries() > 20; }, 90s)) << retries();

  p.origin->restart_on_same_port();
  std::string token = sign_in(p.origin->port(), "alice");
  std::string state;
  EXPECT_TRUE(wait_until([&] {
    auto r = http(p.origin->port(), "GET", "/api/conversations/" + s.v.conversation, {},
                  {{"Authorization", "Bearer " + token}});
    state = std::string(r.json().at("conversation").at("state").as_string());
    return state == "transferred";
  })) << state;
  // The destination stops telling once answered, and keeps the visitor.
  std::int64_t settled = retries();
  WsClient vd(p.dest->port());
  vd.hello_visitor(there);
  vd.send(json::object{{"type", "message"}, {"client_id", "after"}, {"text", "Still here"}});
  EXPECT_EQ(str(vd.expect_type("ack"), "client_id"), "after");
  EXPECT_LE(retries(), settled + 1);
}

}  // namespace
}  // namespace baton::testing
