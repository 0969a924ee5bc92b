// Attacks on the transfer between organizations (docs/security.md): signatures that
// are stale, early or by keys nobody pinned, a partner acting on a transfer that is
// not its own, join codes past their time, and the pages that move the visitor's
// browser turned into open redirects.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <sodium.h>
#include <regex>

#include "baton/federation/keys.hpp"
#include "baton/federation/peer_client.hpp"
#include "baton/federation/signature.hpp"
#include "trio.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;
namespace net = boost::asio;

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

// The bug of the first version: a partner that offered a transfer id again after its
// visitor had arrived (or its transfer had been called off) got the same
// authorization code, then the same join code, which joined a second time. Codes
// are issued once: a used transfer id is refused in any state, and a spent code
// stays spent, across a restart too. Only the same open offer, sent again because
// its answer was lost, gets its first answer again.
TEST(AttackFederation, AUsedTransferIdIsRefusedAndItsCodesStaySpentAfterARestart) {
  Trio t;
  Moving m(t);
  auto joined = http(t.dest->port(), "POST", "/join", "code=" + m.code, kForm);
  ASSERT_EQ(joined.status, 303) << joined.body;
  m.transfer_in("completed");
  auto offer = [&](const std::string& id, int hops) {
    return json::object{{"transfer_id", id}, {"organization", "Acme"}, {"agent", {{"name", "alice"}, {"display_name", "Alice"}}},
                        {"language", "en"}, {"hop_count", hops}, {"origin", t.oc.public_url}};
  };
  // Acme's key offering the arrived transfer again: refused, no code.
  auto again = signed_post(*t.dest, "/federation/v1/offers", offer(m.transfer_id, 0), t.acme_key);
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(again.body.find("authorization_code"), std::string::npos);
  EXPECT_EQ(http(t.dest->port(), "POST", "/join", "code=" + m.code, kForm).status, 404);

  // A new offer, answered; the same bytes again (an answer lost) get the same code;
  // other bytes under the same id are a reuse.
  auto first = signed_post(*t.dest, "/federation/v1/offers", offer("t-again", 0), t.acme_key);
  ASSERT_EQ(first.status, 200) << first.body;
  auto resent = signed_post(*t.dest, "/federation/v1/offers", offer("t-again", 0), t.acme_key);
  ASSERT_EQ(resent.status, 200) << resent.body;
  EXPECT_EQ(str(first.json().as_object(), "authorization_code"), str(resent.json().as_object(), "authorization_code"));
  EXPECT_EQ(signed_post(*t.dest, "/federation/v1/offers", offer("t-again", 1), t.acme_key).status, 409);
  // Called off: its id is spent too.
  auto cancel = signed_post(*t.dest, "/federation/v1/transfers/t-again/cancel",
                            json::object{{"transfer_id", "t-again"}, {"origin", t.oc.public_url}}, t.acme_key);
  ASSERT_EQ(cancel.status, 200) << cancel.body;
  EXPECT_EQ(str(cancel.json().as_object(), "state"), "cancelled");
  EXPECT_EQ(signed_post(*t.dest, "/federation/v1/offers", offer("t-again", 0), t.acme_key).status, 409);

  // After a restart, the same: used ids refused, the spent join code spent.
  t.dest->restart();
  EXPECT_EQ(signed_post(*t.dest, "/federation/v1/offers", offer(m.transfer_id, 0), t.acme_key).status, 409);
  EXPECT_EQ(signed_post(*t.dest, "/federation/v1/offers", offer("t-again", 0), t.acme_key).status, 409);
  EXPECT_EQ(http(t.dest->port(), "POST", "/join", "code=" + m.code, kForm).status, 404);
}

// Fresh randomness in every code: two transfers never share one, even with the
// same id at two partners.
TEST(AttackFederation, CodesAreFreshForEveryOffer) {
  Trio t;
  auto offer = [&](const std::string& origin) {
    return json::object{{"transfer_id", "t-same"}, {"hop_count", 0}, {"origin", origin}};
  };
  auto a = signed_post(*t.dest, "/federation/v1/offers", offer(t.oc.public_url), t.acme_key);
  auto b = signed_post(*t.dest, "/federation/v1/offers", offer(t.stranger_url), t.stranger);
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(b.status, 200);
  EXPECT_NE(str(a.json().as_object(), "authorization_code"), str(b.json().as_object(), "authorization_code"));
  EXPECT_EQ(str(a.json().as_object(), "authorization_code").size(), 43u);
}

// The replay cache is stored: a request captured and sent again after the server
// restarted, still within its validity, is refused as a replay.
TEST(AttackFederation, ARequestReplayedAfterARestartIsRefused) {
  Trio t;
  ShiftedClock clock(0);
  SodiumRandom rnd;
  federation::Signer signer(t.stranger, clock, rnd);
  std::string text = json::serialize(json::object{{"transfer_id", "t-captured"}, {"origin", t.stranger_url}, {"hop_count", 0}});
  federation::OutgoingRequest out{"POST", federation::authority_of(t.dc.public_url), "/federation/v1/offers", "",
                                  "application/json", text};
  auto h = signer.sign_request(out);
  ASSERT_TRUE(h.ok());
  std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "application/json"},
                                                           {"Content-Digest", h->content_digest},
                                                           {"Signature-Input", h->signature_input},
                                                           {"Signature", h->signature}};
  ASSERT_EQ(http(t.dest->port(), "POST", "/federation/v1/offers", text, headers).status, 200);
  t.dest->restart();
  auto replay = http(t.dest->port(), "POST", "/federation/v1/offers", text, headers);
  EXPECT_EQ(replay.status, 401) << replay.body;
  EXPECT_NE(replay.body.find("nonce_replayed"), std::string::npos) << replay.body;
}

}  // namespace
}  // namespace baton::testing
