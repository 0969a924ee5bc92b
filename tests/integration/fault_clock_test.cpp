// Clock skew between partners (docs/federation.md §4.4 step 9): a signature may be
// up to 60 s in the verifier's future and is accepted up to 60 s past its expiry,
// so two servers whose clocks differ by less than 60 s transfer visitors as usual;
// with clocks 10 minutes apart every message is refused (created_in_future one way,
// signature_expired the other), the agent is told the partner could not be reached,
// and the visitor stays. Each server runs in-process with its own skewed clock
// (AppOptions::clock).
#include <gtest/gtest.h>

#include <regex>
#include <sodium.h>

#include "baton/federation/keys.hpp"
#include "baton/federation/peer_client.hpp"
#include "baton/federation/signature.hpp"
#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// The system clock, off by a fixed amount.
class SkewedClock final : public core::Clock {
 public:
  explicit SkewedClock(core::Millis offset) : offset_(offset) {}
  core::Millis now() const override { return system_.now() + offset_; }

 private:
  core::SystemClock system_;
  core::Millis offset_;
};

struct Skew {
  const char* name;
  core::Millis origin_ms, dest_ms;
  bool works;
};

struct SkewedPair {
  TempDir dir;
  SkewedClock origin_clock, dest_clock;
  std::unique_ptr<TestServer> origin, dest;
  app::Config oc, dc;

  explicit SkewedPair(const Skew& s) : origin_clock(s.origin_ms), dest_clock(s.dest_ms) {
    for (int attempt = 0;; ++attempt) {
      try {
        std::uint16_t op = free_port(), dp = free_port();
        auto fc = federated_configs(dir.path(), op, "http://127.0.0.1:" + std::to_string(op), dp,
                                    "http://127.0.0.1:" + std::to_string(dp));
        oc = fc.origin;
        dc = fc.dest;
        oc.federation.peer_timeout_s = 2;
        app::AppOptions oo = TestServer::default_options(), dop = TestServer::default_options();
        oo.clock = &origin_clock;
        dop.clock = &dest_clock;
        origin = std::make_unique<TestServer>(oc, oo);
        dest = std::make_unique<TestServer>(dc, dop);
        return;
      } catch (const std::exception&) {
        origin.reset();
        dest.reset();
        if (attempt >= 4) throw;
      }
    }
  }
};

class ClockSkew : public ::testing::TestWithParam<Skew> {};

TEST_P(ClockSkew, TransfersWorkInsideTheWindowAndFailClearlyOutsideIt) {
  const Skew s = GetParam();
  SkewedPair p(s);
  std::uint16_t o = p.origin->port();
  Visitor v = start_chat(o, "what time is it?");
  WsClient alice(o);
  alice.hello_agent(sign_in(o, "alice"));
  WsClient visitor(o);
  visitor.hello_visitor(v);
  visitor.expect([](const json::object& m) { return is_event(m, "joined"); });
  auto transfer_in = [&](const std::function<bool(const json::object&)>& pred) {
    return alice.expect([&](const json::object& m) {
      return str(m, "type") == "transfer" && pred(m.at("transfer").as_object());
    });
  };

  alice.send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"peer", "northwind"}}}});
  if (!s.works) {
    auto failed = transfer_in([](const json::object& t) { return str(t, "state") == "failed"; });
    std::string reason = str(failed.at("transfer").as_object(), "reason");
    EXPECT_NE(reason.find("Northwind could not be reached"), std::string::npos) << reason;
    // The offer was refused for its time, and so was the answer to it.
    EXPECT_TRUE(reason.find("signature_expired") != std::string::npos ||
                reason.find("created_in_future") != std::string::npos)
        << reason;
    alice.send(json::object{{"type", "message"}, {"conversation", v.conversation}, {"client_id", "a1"}, {"text", "still me"}});
    visitor.expect([](const json::object& m) { return is_event(m, "message") && str(m, "text") == "still me"; });
    return;
  }
  auto offered = transfer_in([](const json::object& t) { return t.contains("queues"); });
  std::string id = str(offered.at("transfer").as_object(), "id");
  alice.send(json::object{{"type", "transfer.confirm"}, {"transfer", id}, {"queue", "Claims"}, {"note", ""}});
  visitor.expect_type("move");
  auto page = http(o, "POST", "/transfer", "conversation=" + v.conversation + "&token=" + v.token,
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  std::smatch m;
  std::string refresh = page.header("Refresh");
  ASSERT_TRUE(std::regex_search(refresh, m, std::regex("#code=([A-Za-z0-9_-]+)"))) << page.body;
  Visitor there = join_at(p.dest->port(), m[1]);
  // The arrival notice (destination to origin) is accepted too.
  transfer_in([](const json::object& t) { return str(t, "state") == "completed"; });
  WsClient vd(p.dest->port());
  vd.hello_visitor(there);
  vd.expect([](const json::object& e) { return is_event(e, "message") && str(e, "text") == "what time is it?"; });
}

INSTANTIATE_TEST_SUITE_P(
    Federation, ClockSkew,
    ::testing::Values(Skew{"OriginAheadDestinationBehind", 25'000, -25'000, true},
                      Skew{"OriginAheadBy55s", 55'000, 0, true},
                      Skew{"DestinationAheadBy55s", 0, 55'000, true},
                      Skew{"TenMinutesApart", 5 * 60'000, -5 * 60'000, false},
                      Skew{"DestinationTenMinutesAhead", 0, 10 * 60'000, false}),
    [](const ::testing::TestParamInfo<Skew>& info) { return std::string(info.param.name); });

// The destination's own refusal, seen directly: a correctly signed offer from a
// clock 10 minutes ahead of it, and one from a clock 10 minutes behind.
TEST(ClockSkewRefusal, DestinationNamesTheRefusal) {
  Skew none{"", 0, 0, true};
  SkewedPair p(none);
  auto key = federation::load_secret_key(p.oc.federation.key_file);
  ASSERT_TRUE(key.ok());
  struct Rand : core::Random {
    void fill(void* out, std::size_t n) override { randombytes_buf(out, n); }
  } rnd;
  for (auto [offset, refusal] : {std::pair{10 * 60'000LL, "created_in_future"}, std::pair{-10 * 60'000LL, "signature_expired"}}) {
    SkewedClock clock(offset);
    federation::Signer signer(*key, clock, rnd);
    std::string body = json::serialize(json::object{{"transfer_id", "t-skew"}, {"origin", p.oc.public_url}, {"hop_count", 0}});
    federation::OutgoingRequest out{"POST", federation::authority_of(p.dc.public_url), "/federation/v1/offers", "",
                                    "application/json", body};
    auto h = signer.sign_request(out);
    ASSERT_TRUE(h.ok());
    auto r = http(p.dest->port(), "POST", "/federation/v1/offers", body,
                  {{"Content-Type", "application/json"}, {"Content-Digest", h->content_digest},
                   {"Signature-Input", h->signature_input}, {"Signature", h->signature}});
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_NE(r.body.find(refusal), std::string::npos) << r.body;
  }
}

}  // namespace
}  // namespace baton::testing
