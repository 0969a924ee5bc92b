#include "trio.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <sodium.h>

#include <regex>

#include "baton/federation/peer_client.hpp"
#include "baton/federation/signature.hpp"

namespace baton::testing {

namespace json = boost::json;
namespace net = boost::asio;

std::uint16_t unused_port() {
  net::io_context io;
  net::ip::tcp::acceptor a(io, net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

void SodiumRandom::fill(void* out, std::size_t n) { randombytes_buf(out, n); }

Trio::Trio(app::AppOptions options) {
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

void Trio::build(const app::AppOptions& options) {
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
  acme_key = okey;
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

// A request to `server` signed with `key` by a signer whose clock is `shift_ms` off.
HttpResult signed_post(const TestServer& server, const std::string& path, const json::object& body,
                       const federation::KeyPair& key, core::Millis shift_ms) {
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

Moving::Moving(Trio& trio) : t(trio) {
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

json::object Moving::transfer_in(const std::string& state) {
  return alice->expect([state](const json::object& o) {
    return str(o, "type") == "transfer" && str(o.at("transfer").as_object(), "state") == state;
  });
}

}  // namespace baton::testing
