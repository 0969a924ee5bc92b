// Attacks on the transfer between organizations (docs/security.md): signatures that
// are stale, early or by keys nobody pinned, a partner acting on a transfer that is
// not its own, join codes past their time, and the pages that move the visitor's
// browser turned into open redirects.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <sodium.h>
#include <regex>

#include "federation/keys.hpp"
#include "federation/peer_client.hpp"
#include "federation/signature.hpp"
#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;
namespace net = boost::asio;

std::uint16_t unused_port() {
  net::io_context io;
  net::ip::tcp::acceptor a(io, net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// The system clock, shifted: a signer whose clock is off.
class ShiftedClock final : public core::Clock {
 public:
  explicit ShiftedClock(core::Millis shift) : shift_(shift) {}
  core::Millis now() const override { return system_.now() + shift_; }

 private:
  core::SystemClock system_;
  core::Millis shift_;
};

struct SodiumRandom final : core::Random {
  void fill(void* out, std::size_t n) override { randombytes_buf(out, n); }
};

// Acme (origin; queue General, agent alice) and Northwind (destination; queues
// Claims and Sales, agent bob), peered both ways; and a third organization,
// "stranger", that both have pinned as a partner too but that runs no server here:
// the test holds its key and speaks for it.
struct Trio {
  TempDir dir;
  app::Config oc, dc;
  std::unique_ptr<TestServer> origin, dest;
  federation::KeyPair stranger = federation::generate_key_pair();
  std::string stranger_url = "http://127.0.0.1:" + std::to_string(unused_port());

  explicit Trio(app::AppOptions options = TestServer::default_options()) {
    for (int attempt = 0;; ++attempt) {
      try {
        build(options);
        return;
      } catch (const std::exception&) {
        origin.reset();
        dest.reset();
        if (attempt >= 5) throw;
      }
    }
  }

  void build(const app::AppOptions& options) {
    std::uint16_t op = unused_port(), dp = unused_port();
    std::string ou = "http://127.0.0.1:" + std::to_string(op), du = "http://127.0.0.1:" + std::to_string(dp);
    std::string tag = std::to_string(op);
    oc = test_config(dir.path() + "/origin-" + tag);
    oc.organization = "Acme";
    oc.listen = "127.0.0.1:" + std::to_string(op);
    oc.public_url = ou;
    oc.federation.key_file = dir.path() + "/origin-" + tag + ".key";
    dc = test_config(dir.path() + "/dest-" + tag);
    dc.organization = "Northwind";
    dc.listen = "127.0.0.1:" + std::to_string(dp);
    dc.public_url = du;
    dc.queues = {{"Claims", "Claims"}, {"Sales", "Sales"}};
    dc.agents = {{"bob", "Bob", oc.agents[0].password_hash, {"Claims", "Sales"}, 2}};
    dc.sites = {{"nw", {"http://nw.example"}, "Claims"}};
    dc.federation.key_file = dir.path() + "/dest-" + tag + ".key";
    auto okey = federation::generate_key_pair(), dkey = federation::generate_key_pair();
    if (!federation::save_secret_key(oc.federation.key_file, okey) ||
        !federation::save_secret_key(dc.federation.key_file, dkey))
      throw std::runtime_error("cannot save keys");
    std::string spub = federation::format_public_key(stranger.public_key);
    oc.peers = {{"northwind", "Northwind", du, {federation::format_public_key(dkey.public_key)}, {"General"}, {}},
                {"stranger", "Stranger", stranger_url, {spub}, {"General"}, {}}};
    dc.peers = {{"acme", "Acme", ou, {federation::format_public_key(okey.public_key)}, {"Claims"}, {}},
                {"stranger", "Stranger", stranger_url, {spub}, {"Claims"}, {}}};
    if (!app::validate_config(oc) || !app::validate_config(dc)) throw std::logic_error("bad test config");
    origin = std::make_unique<TestServer>(oc, options);
    dest = std::make_unique<TestServer>(dc, options);
  }
};

// A request to `server` signed with `key` by a signer whose clock is `shift_ms` off.
HttpResult signed_post(const TestServer& server, const std::string& path, const json::object& body,
                       const federation::KeyPair& key, core::Millis shift_ms = 0) {
  ShiftedClock clock(shift_ms);
  SodiumRandom rnd;
  federation::Signer signer(key, clock, rnd);
  std::string text = json::serialize(body);
  federation::OutgoingRequest out{"POST", federation::authority_of(server.config().public_url), path, "",
                                  "application/json", text};
  auto h = signer.sign_request(out);
  if (!h) throw std::runtime_error("cannot sign: " + h.error().message);
  return http(server.port(), "POST", path, text,
              {{"Content-Type", "application/json"}, {"Content-Digest", h->content_digest},
               {"Signature-Input", h->signature_input}, {"Signature", h->signature}});
}

const std::vector<std::pair<std::string, std::string>> kForm{{"Content-Type", "application/x-www-form-urlencoded"}};

// A visitor with alice at Acme, moved as far as the transfer page to Northwind.
struct Moving {
  Trio& t;
  Visitor v;
  std::unique_ptr<WsClient> alice, visitor;
  std::string transfer_id, join_url, code;

  explicit Moving(Trio& trio) : t(trio) {
    std::uint16_t o = t.origin->port();
    v = start_chat(o, "My car was hit while parked");
    alice = std::make_unique<WsClient>(o);
    alice->hello_agent(sign_in(o, "alice"));
    visitor = std::make_unique<WsClient>(o);
    visitor->hello_visitor(v);
    visitor->expect([](const json::object& m) { return is_event(m, "joined"); });
    alice->send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"peer", "northwind"}}}});
    auto offered = alice->expect([](const json::object& m) {
      return str(m, "type") == "transfer" && m.at("transfer").as_object().contains("queues");
    });
    transfer_id = str(offered.at("transfer").as_object(), "id");
    alice->send(json::object{{"type", "transfer.confirm"}, {"transfer", transfer_id}, {"queue", "Claims"}, {"note", "n"}});
    visitor->expect_type("move");
    auto page = http(o, "POST", "/transfer", "conversation=" + v.conversation + "&token=" + v.token, kForm);
    if (page.status != 200) throw std::runtime_error("transfer page: " + page.body);
    std::smatch m;
    std::string refresh = page.header("Refresh");
    if (!std::regex_search(refresh, m, std::regex("^1; url=(http://[^#]+)#code=([A-Za-z0-9_-]+)$")))
      throw std::runtime_error("refresh: " + refresh);
    join_url = m[1];
    code = m[2];
  }

  json::object transfer_in(const std::string& state) {
    return alice->expect([state](const json::object& o) {
      return str(o, "type") == "transfer" && str(o.at("transfer").as_object(), "state") == state;
    });
  }
};

TEST(AttackFederation, SignatureByAKeyNotPinnedIsRefused) {
  Trio t;
  auto unpinned = federation::generate_key_pair();
  json::object offer{{"transfer_id", "t1"}, {"origin", t.stranger_url}, {"hop_count", 0}};
  auto r = signed_post(*t.dest, "/federation/v1/offers", offer, unpinned);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("unknown_key"), std::string::npos) << r.body;
  // A pinned partner speaking for another pinned partner is refused too.
  json::object as_acme{{"transfer_id", "t1"}, {"origin", t.oc.public_url}, {"hop_count", 0}};
  auto impersonated = signed_post(*t.dest, "/federation/v1/offers", as_acme, t.stranger);
  EXPECT_EQ(impersonated.status, 403);
  EXPECT_NE(impersonated.body.find("origin_mismatch"), std::string::npos) << impersonated.body;
  // Speaking for itself, it is heard.
  EXPECT_EQ(signed_post(*t.dest, "/federation/v1/offers", offer, t.stranger).status, 200);
}

TEST(AttackFederation, ExpiredFutureDatedAndReplayedSignaturesAreRefusedByTheServer) {
  Trio t;
  auto offer = [&](const std::string& id) {
    return json::object{{"transfer_id", id}, {"origin", t.stranger_url}, {"hop_count", 0}};
  };
  // Signed 200 s ago: expired 80 s ago, past the 60 s allowed for clock skew.
  auto old = signed_post(*t.dest, "/federation/v1/offers", offer("t-old"), t.stranger, -200'000);
  EXPECT_EQ(old.status, 401);
  EXPECT_NE(old.body.find("signature_expired"), std::string::npos) << old.body;
  // Dated 90 s ahead: more than the 60 s of skew.
  auto early = signed_post(*t.dest, "/federation/v1/offers", offer("t-early"), t.stranger, 90'000);
  EXPECT_EQ(early.status, 401);
  EXPECT_NE(early.body.find("created_in_future"), std::string::npos) << early.body;
  // Within the skew both ways, accepted.
  EXPECT_EQ(signed_post(*t.dest, "/federation/v1/offers", offer("t-behind"), t.stranger, -150'000).status, 200);
  EXPECT_EQ(signed_post(*t.dest, "/federation/v1/offers", offer("t-ahead"), t.stranger, 45'000).status, 200);
  // The very same signed request twice: the second is a replay.
  ShiftedClock clock(0);
  SodiumRandom rnd;
  federation::Signer signer(t.stranger, clock, rnd);
  std::string text = json::serialize(offer("t-replay"));
  federation::OutgoingRequest out{"POST", federation::authority_of(t.dc.public_url), "/federation/v1/offers", "",
                                  "application/json", text};
  auto h = signer.sign_request(out);
  ASSERT_TRUE(h.ok());
  std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "application/json"},
                                                           {"Content-Digest", h->content_digest},
                                                           {"Signature-Input", h->signature_input},
                                                           {"Signature", h->signature}};
  EXPECT_EQ(http(t.dest->port(), "POST", "/federation/v1/offers", text, headers).status, 200);
  auto replay = http(t.dest->port(), "POST", "/federation/v1/offers", text, headers);
  EXPECT_EQ(replay.status, 401);
  EXPECT_NE(replay.body.find("nonce_replayed"), std::string::npos) << replay.body;
}

TEST(AttackFederation, APartnerCannotActOnATransferAddressedToAnother) {
  Trio t;
  Moving m(t);
  std::string path = "/federation/v1/transfers/" + m.transfer_id + "/";
  json::object notice{{"transfer_id", m.transfer_id}, {"destination", t.stranger_url}, {"origin", t.stranger_url}};
  // At the origin: the stranger claims the visitor arrived, expired, or is sent back.
  for (std::string action : {"arrived", "expired"}) {
    auto r = signed_post(*t.origin, path + action, notice, t.stranger);
    EXPECT_EQ(r.status, 404) << action << ": " << r.body;
  }
  json::object recall = notice;
  recall["recall_ticket"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  EXPECT_EQ(signed_post(*t.origin, path + "recall", recall, t.stranger).status, 404);
  // At the destination: it calls off, or sends the context of, Acme's transfer.
  json::object cancel{{"transfer_id", m.transfer_id}, {"origin", t.stranger_url}};
  EXPECT_EQ(signed_post(*t.dest, path + "cancel", cancel, t.stranger).status, 404);
  json::object context{{"transfer_id", m.transfer_id}, {"origin", t.stranger_url}, {"queue", "Claims"},
                       {"authorization_code", "guess"}, {"hop_count", 1}, {"visitor", json::object{}},
                       {"transcript", json::array{}}};
  EXPECT_EQ(signed_post(*t.dest, path + "context", context, t.stranger).status, 404);
  // None of it changed anything: the visitor still moves, and alice is told it arrived.
  auto joined = http(t.dest->port(), "POST", "/join", "code=" + m.code, kForm);
  EXPECT_EQ(joined.status, 303) << joined.body;
  m.transfer_in("completed");
}

TEST(AttackFederation, AJoinCodePastItsTimeIsRefused) {
  auto o = TestServer::default_options();
  o.join_code_ttl_ms = 4000;
  Trio t(o);
  Moving m(t);
  m.transfer_in("expired");  // the destination said the code ran out
  auto late = http(t.dest->port(), "POST", "/join", "code=" + m.code, kForm);
  EXPECT_TRUE(late.status == 404 || late.status == 410) << late.status;
  EXPECT_EQ(late.header("Set-Cookie"), "");
  EXPECT_EQ(late.header("Location"), "");
}

TEST(AttackFederation, TheTransferPageAndJoinGoOnlyWhereTheConfigurationSays) {
  Trio t;
  Moving m(t);
  EXPECT_EQ(m.join_url, t.dc.public_url + "/join");
  // Whatever else the form carries, the page points at the configured partner only.
  for (std::string extra : {"&next=%2F%2Fevil.example", "&url=https%3A%2F%2Fevil.example",
                            "&join_url=https%3A%2F%2Fevil.example%2Fjoin", "&return=/%5Cevil.example"}) {
    auto page = http(t.origin->port(), "POST", "/transfer",
                     "conversation=" + m.v.conversation + "&token=" + m.v.token + extra, kForm);
    EXPECT_EQ(page.status, 200) << extra;
    EXPECT_EQ(page.header("Refresh"), "1; url=" + t.dc.public_url + "/join#code=" + m.code) << extra;
    EXPECT_EQ(page.body.find("evil"), std::string::npos) << extra;
    EXPECT_NE(page.body.find("action=\"" + t.dc.public_url + "/join\""), std::string::npos) << extra;
    EXPECT_NE(page.header("Content-Security-Policy").find("form-action 'self' " + t.dc.public_url),
              std::string::npos);
  }
  // Another visitor's token gets neither the code nor the address.
  Visitor other = start_chat(t.origin->port(), "someone else");
  auto foreign = http(t.origin->port(), "POST", "/transfer",
                      "conversation=" + m.v.conversation + "&token=" + other.token, kForm);
  EXPECT_EQ(foreign.status, 403);
  EXPECT_EQ(foreign.header("Refresh"), "");
  EXPECT_EQ(foreign.body.find(m.code), std::string::npos);
  // At the destination, extra fields do not steer where the visitor lands.
  auto joined = http(t.dest->port(), "POST", "/join",
                     "code=" + m.code + "&next=%2F%2Fevil.example&return=https%3A%2F%2Fevil.example", kForm);
  ASSERT_EQ(joined.status, 303) << joined.body;
  EXPECT_EQ(joined.header("Location"), "/chat?site=nw&joined=1");
  // Another site cannot spend the handoff cookie before the chat page does.
  std::string cookie = joined.header("Set-Cookie").substr(0, joined.header("Set-Cookie").find(';'));
  for (auto headers : std::vector<std::vector<std::pair<std::string, std::string>>>{
           {{"Cookie", cookie}, {"Origin", "http://evil.example"}},
           {{"Cookie", cookie}, {"Sec-Fetch-Site", "cross-site"}}}) {
    auto stolen = http(t.dest->port(), "POST", "/api/visitor/handoff", {}, headers);
    EXPECT_EQ(stolen.status, 403);
    EXPECT_EQ(stolen.body.find("token"), std::string::npos);
    EXPECT_EQ(stolen.header("Set-Cookie"), "");
  }
  auto own = http(t.dest->port(), "POST", "/api/visitor/handoff", {},
                  {{"Cookie", cookie}, {"Origin", t.dc.public_url}, {"Sec-Fetch-Site", "same-origin"}});
  EXPECT_EQ(own.status, 200) << own.body;
  // And once used, the code is spent.
  auto again = http(t.dest->port(), "POST", "/join", "code=" + m.code, kForm);
  EXPECT_EQ(again.status, 404);
  EXPECT_EQ(again.header("Set-Cookie"), "");
}

}  // namespace
}  // namespace baton::testing
