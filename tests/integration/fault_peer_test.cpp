// A partner that answers garbage (DESIGN.md §2.4, docs/federation.md §3.1 and §10):
// the answer to the offer, or to the context packet, is replaced on its way back by
// a FaultyProxy with something that is not JSON, JSON of the wrong shape, a huge
// body, a missing or wrong signature, HTTP 500, or a connection closed half-way.
// Bodies that must get past the signature check are signed again with the
// partner's own key, so that the origin's reading of them is what is tested.
// Each time: the agent is told clearly that the transfer failed, the visitor stays
// with the agent (who can go on writing), and both servers keep serving.
#include <gtest/gtest.h>

#include <sodium.h>

#include "baton/federation/keys.hpp"
#include "baton/federation/peer_client.hpp"
#include "baton/federation/signature.hpp"
#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;

struct SodiumRandom : core::Random {
  void fill(void* out, std::size_t n) override { randombytes_buf(out, n); }
};

// Acme and Northwind in-process; Acme's calls to Northwind go through a proxy.
struct GarbagePair {
  TempDir dir;
  std::unique_ptr<FaultyProxy> proxy;
  std::unique_ptr<TestServer> origin, dest;
  app::Config oc, dc;
  core::SystemClock clock;
  SodiumRandom random;
  std::unique_ptr<federation::Signer> dest_signer;  // Northwind's own key, to sign garbage

  GarbagePair() {
    for (int attempt = 0;; ++attempt) {
      try {
        std::uint16_t op = free_port(), dp = free_port();
        proxy = std::make_unique<FaultyProxy>(dp);
        auto fc = federated_configs(dir.path(), op, "http://127.0.0.1:" + std::to_string(op), dp,
                                    "http://127.0.0.1:" + std::to_string(proxy->port()));
        oc = fc.origin;
        dc = fc.dest;
        oc.federation.peer_timeout_s = 2;
        origin = std::make_unique<TestServer>(oc);
        dest = std::make_unique<TestServer>(dc);
        break;
      } catch (const std::exception&) {
        origin.reset();
        dest.reset();
        proxy.reset();
        if (attempt >= 4) throw;
      }
    }
    auto key = federation::load_secret_key(dc.federation.key_file);
    if (!key) throw std::runtime_error(key.error().message);
    dest_signer = std::make_unique<federation::Signer>(*key, clock, random);
  }

  // `a` with `body` and `status`, signed by Northwind as the answer to `req`.
  void resign(const ProxiedRequest& req, ProxiedAnswer& a, int status, std::string body) {
    federation::RequestMessage rm{req.method, federation::authority_of(dc.public_url), req.target, "", req.headers, req.body};
    federation::OutgoingResponse out{status, "application/json", body};
    auto h = dest_signer->sign_response(out, rm);
    if (!h) throw std::runtime_error(h.error().message);
    a.status = status;
    a.body = std::move(body);
    a.headers = {{"Content-Type", "application/json"},
                 {"Content-Digest", h->content_digest},
                 {"Signature-Input", h->signature_input},
                 {"Signature", h->signature}};
  }
};

struct Spoil {
  const char* name;
  const char* path;    // which answer is spoiled
  const char* reason;  // what the agent is told (part of it)
  std::function<void(GarbagePair&, const ProxiedRequest&, ProxiedAnswer&)> spoil;
};

std::vector<Spoil> spoils() {
  return {
      {"NotJson", "/offers", "could not read",
       [](GarbagePair& p, const ProxiedRequest& r, ProxiedAnswer& a) { p.resign(r, a, 200, "<html>oops</html>"); }},
      {"WrongShape", "/offers", "incomplete answer",
       [](GarbagePair& p, const ProxiedRequest& r, ProxiedAnswer& a) {
         p.resign(r, a, 200, R"({"authorization_code":42,"queues":"Claims"})");
       }},
      {"JsonArray", "/offers", "could not read",
       [](GarbagePair& p, const ProxiedRequest& r, ProxiedAnswer& a) { p.resign(r, a, 200, "[1,2,3]"); }},
      {"HugeBody", "/offers", "could not be reached",
       [](GarbagePair& p, const ProxiedRequest& r, ProxiedAnswer& a) {
         p.resign(r, a, 200, "{\"pad\":\"" + std::string(3 << 20, 'x') + "\"}");
       }},
      {"Unsigned", "/offers", "could not be reached",
       [](GarbagePair&, const ProxiedRequest&, ProxiedAnswer& a) {
         std::erase_if(a.headers, [](const auto& h) { return h.first == "Signature" || h.first == "Signature-Input"; });
       }},
      {"WrongSignature", "/offers", "could not be reached",
       [](GarbagePair&, const ProxiedRequest&, ProxiedAnswer& a) {
         // The same signed answer with one character of the body changed.
         if (!a.body.empty()) a.body[a.body.size() / 2] ^= 1;
       }},
      {"ServerError", "/offers", "could not be reached",
       [](GarbagePair& p, const ProxiedRequest& r, ProxiedAnswer& a) {
         p.resign(r, a, 500, R"({"error":{"code":"internal","message":"boom"}})");
       }},
      {"ClosedMidAnswer", "/offers", "could not be reached",
       [](GarbagePair&, const ProxiedRequest&, ProxiedAnswer& a) { a.close_mid_answer = true; }},
      {"ContextNotJson", "/context", "unusable join address",
       [](GarbagePair& p, const ProxiedRequest& r, ProxiedAnswer& a) { p.resign(r, a, 200, "join here!"); }},
      {"ContextForeignJoinAddress", "/context", "unusable join address",
       [](GarbagePair& p, const ProxiedRequest& r, ProxiedAnswer& a) {
         p.resign(r, a, 200, R"({"join_code":"abc","join_url":"https://evil.example/join","expires_at":1})");
       }},
      {"ContextUnsigned", "/context", "could not be reached",
       [](GarbagePair&, const ProxiedRequest&, ProxiedAnswer& a) { a.headers.clear(); }},
  };
}

class GarbageFromPartner : public ::testing::TestWithParam<std::size_t> {};

TEST_P(GarbageFromPartner, AgentIsToldAndTheVisitorStays) {
  const Spoil s = spoils()[GetParam()];
  GarbagePair p;
  p.proxy->on_answer([&p, &s](const ProxiedRequest& r, ProxiedAnswer& a) {
    if (r.target.find(s.path) != std::string::npos) s.spoil(p, r, a);
  });
  std::uint16_t o = p.origin->port();
  Visitor v = start_chat(o, "hello");
  WsClient alice(o);
  alice.hello_agent(sign_in(o, "alice"));
  WsClient visitor(o);
  visitor.hello_visitor(v);
  visitor.expect([](const json::object& m) { return is_event(m, "joined"); });

  alice.send(json::object{{"type", "transfer"}, {"conversation", v.conversation}, {"to", {{"peer", "northwind"}}}});
  if (std::string(s.path) == "/context") {
    auto offered = alice.expect([](const json::object& m) {
      return str(m, "type") == "transfer" && m.at("transfer").as_object().contains("queues");
    });
    alice.send(json::object{{"type", "transfer.confirm"}, {"transfer", str(offered.at("transfer").as_object(), "id")},
                            {"queue", "Claims"}, {"note", ""}});
  }
  auto failed = alice.expect([](const json::object& m) {
    return str(m, "type") == "transfer" && str(m.at("transfer").as_object(), "state") == "failed";
  });
  std::string reason = str(failed.at("transfer").as_object(), "reason");
  EXPECT_NE(reason.find("Northwind"), std::string::npos) << reason;
  EXPECT_NE(reason.find(s.reason), std::string::npos) << reason;

  // The visitor noticed nothing, and is still with alice.
  for (const auto& m : visitor.drain()) EXPECT_NE(str(m, "type"), "move");
  alice.send(json::object{{"type", "message"}, {"conversation", v.conversation}, {"client_id", "a1"}, {"text", "Still here"}});
  EXPECT_EQ(str(alice.expect([](const json::object& m) { return str(m, "type") == "ack" || str(m, "type") == "error"; }), "type"),
            "ack");
  visitor.expect([](const json::object& m) { return is_event(m, "message") && str(m, "text") == "Still here"; });
  auto conv = http(o, "GET", "/api/conversations/" + v.conversation, {}, {{"Authorization", "Bearer " + v.token}});
  EXPECT_EQ(str(conv.json().at("conversation").as_object(), "state"), "active");
  // Both servers still serve.
  EXPECT_EQ(http(o, "GET", "/healthz").status, 200);
  EXPECT_EQ(http(p.dest->port(), "GET", "/healthz").status, 200);
}

INSTANTIATE_TEST_SUITE_P(Federation, GarbageFromPartner, ::testing::Range<std::size_t>(0, spoils().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& info) { return spoils()[info.param].name; });

}  // namespace
}  // namespace baton::testing
