// TLS when the configuration names a certificate.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "harness.hpp"

namespace baton::testing {
namespace {

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// A self-signed certificate for 127.0.0.1 (and its key) in `dir`; returns its path.
std::string make_certificate(const TempDir& dir) {
  const std::string cert = dir.path() + "/cert.pem", key = dir.path() + "/key.pem";
  run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert + " 2>&1");
  return cert;
}

// The test configuration, serving TLS with the certificate make_certificate made.
app::Config tls_config(const TempDir& dir, const std::string& cert) {
  app::Config c = test_config(dir.path() + "/data");
  c.tls_cert = cert;
  c.tls_key = dir.path() + "/key.pem";
  c.public_url = "https://127.0.0.1";
  if (auto st = app::validate_config(c); !st) throw std::runtime_error(st.error().message);
  return c;
}

TEST(Tls, ServesHttpsWithTheConfiguredCertificate) {
  TempDir dir;
  const std::string cert = make_certificate(dir);
  TestServer server(tls_config(dir, cert));
  std::string url = "https://127.0.0.1:" + std::to_string(server.port());
  EXPECT_EQ(run("curl -s --cacert " + cert + " " + url + "/healthz"), "ok\n");
  // A session cookie over TLS is marked Secure.
  std::string headers = run("curl -s -D - -o /dev/null --cacert " + cert +
                            " -H 'Content-Type: application/json' -d '{\"username\":\"alice\",\"password\":\"" +
                            kPassword + "\"}' " + url + "/api/agent/session");
  EXPECT_NE(headers.find("Secure"), std::string::npos) << headers;
  // Plain HTTP on the TLS port gets nowhere.
  EXPECT_THROW(http(server.port(), "GET", "/healthz"), std::exception);
}

// Over TLS the server's WebSocket writes go through the same gathering layer
// (src/http/gather_stream.hpp) on top of the TLS stream: a burst of messages comes
// back complete, each acknowledged once and echoed in order, and the close works.
TEST(Tls, WebSocketOverTlsCarriesABurstInOrder) {
  namespace net = boost::asio;
  namespace beast = boost::beast;
  namespace websocket = beast::websocket;
  namespace json = boost::json;
  TempDir dir;
  const std::string cert = make_certificate(dir);
  TestServer server(tls_config(dir, cert));
  const std::string host = "127.0.0.1:" + std::to_string(server.port());
  auto created = json::parse(run("curl -s --cacert " + cert + " -H 'Content-Type: application/json'"
                                 " -d '{\"site\":\"web\",\"name\":\"Tess\"}' https://" + host +
                                 "/api/visitor/conversations"))
                     .as_object();
  const std::string conversation(created.at("conversation").as_string());
  const std::string token(created.at("token").as_string());

  net::io_context io;
  net::ssl::context ctx(net::ssl::context::tls_client);
  ctx.load_verify_file(cert);
  ctx.set_verify_mode(net::ssl::verify_peer);
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(io, ctx);
  beast::get_lowest_layer(ws).connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
  ws.next_layer().handshake(net::ssl::stream_base::client);
  ws.handshake(host, "/ws");
  auto read = [&ws] {
    beast::flat_buffer b;
    ws.read(b);
    return json::parse(beast::buffers_to_string(b.data())).as_object();
  };
  ws.write(net::buffer(json::serialize(json::object{
      {"type", "hello"}, {"role", "visitor"}, {"conversation", conversation}, {"token", token}})));
  for (;;) {
    auto m = read();
    ASSERT_NE(str(m, "type"), "error") << json::serialize(m);
    if (str(m, "type") == "synced") break;
  }

  constexpr int kBurst = 40;
  for (int i = 0; i < kBurst; ++i)
    ws.write(net::buffer(json::serialize(json::object{
        {"type", "message"}, {"client_id", "m" + std::to_string(i)}, {"text", "burst " + std::to_string(i)}})));
  std::map<std::string, int> acks;
  std::vector<std::string> echoed;
  std::int64_t last_seq = 0;
  while (static_cast<int>(acks.size()) < kBurst || static_cast<int>(echoed.size()) < kBurst) {
    auto m = read();
    if (str(m, "type") == "ack") {
      ++acks[str(m, "client_id")];
    } else if (is_event(m, "message")) {
      EXPECT_GT(m.at("seq").as_int64(), last_seq);
      last_seq = m.at("seq").as_int64();
      echoed.push_back(str(m, "client_id"));
    } else {
      ASSERT_NE(str(m, "type"), "error") << json::serialize(m);
    }
  }
  for (int i = 0; i < kBurst; ++i) {
    EXPECT_EQ(acks["m" + std::to_string(i)], 1) << i;
    EXPECT_EQ(echoed[static_cast<std::size_t>(i)], "m" + std::to_string(i));
  }
  ws.close(websocket::close_code::normal);
}

TEST(Tls, MissingCertificateFileStopsStartWithAClearError) {
  TempDir dir;
  app::Config c = test_config(dir.path() + "/data");
  c.tls_cert = dir.path() + "/missing.pem";
  c.tls_key = dir.path() + "/missing-key.pem";
  boost::asio::io_context io;
  auto app = app::App::start(c, io);
  ASSERT_FALSE(app.ok());
  EXPECT_NE(app.error().message.find("tls.cert"), std::string::npos) << app.error().message;
}

}  // namespace
}  // namespace baton::testing
