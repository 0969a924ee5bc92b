// TLS when the configuration names a certificate.
#include <gtest/gtest.h>

#include <cstdio>

#include <boost/asio/io_context.hpp>

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

TEST(Tls, ServesHttpsWithTheConfiguredCertificate) {
  TempDir dir;
  std::string cert = dir.path() + "/cert.pem", key = dir.path() + "/key.pem";
  run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-keyout " + key + " -out " + cert + " 2>&1");
  app::Config c = test_config(dir.path() + "/data");
  c.tls_cert = cert;
  c.tls_key = key;
  c.public_url = "https://127.0.0.1";
  ASSERT_TRUE(app::validate_config(c).ok());
  TestServer server(c);
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
