// Limits that protect the server: slow readers, slow senders, idle sockets, floods.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;

app::Config small_limits(const std::string& dir) {
  app::Config c = test_config(dir);
  c.limits.ws_queue_messages = 256;
  c.limits.ws_queue_bytes = 256 * 1024;
  c.limits.request_timeout_s = 2;
  c.limits.idle_timeout_s = 5;
  c.limits.max_connections_per_ip = 64;
  auto st = app::validate_config(c);
  if (!st) throw std::runtime_error(st.error().message);
  return c;
}

class Limits : public ::testing::Test {
 protected:
  TempDir dir;
  TestServer server{small_limits(dir.path())};
  std::uint16_t port() const { return server.port(); }
};

TEST_F(Limits, ClientThatCannotKeepUpIsClosedAndOthersCarryOn) {
  Visitor v = start_chat(port(), "hi");
  std::string token = sign_in(port(), "alice");
  // alice's console subscribes to the conversation and then stops reading.
  SilentWs slow(port(), json::object{{"type", "hello"}, {"role", "agent"}, {"token", token}});
  slow.send(json::object{{"type", "subscribe"}, {"conversation", v.conversation}, {"after_seq", 0}});

  WsClient visitor(port());
  visitor.hello_visitor(v);
  WsClient fast(port());
  fast.hello_agent(sign_in(port(), "bob"));
  const std::string text(3000, 'x');
  // Enough traffic to fill the kernel's buffers and then the server's bounded queue.
  for (int batch = 0; batch < 400 && metric(port(), "baton_ws_closed_slow_total") < 1; ++batch) {
    for (int i = 0; i < 20; ++i)
      visitor.send(json::object{{"type", "message"}, {"client_id", std::to_string(batch * 20 + i)}, {"text", text}});
    for (int i = 0; i < 20; ++i) visitor.expect_type("ack");
    visitor.drain();
  }
  EXPECT_EQ(metric(port(), "baton_ws_closed_slow_total"), 1);
  EXPECT_TRUE(slow.closed_by_server());
  // Everyone else is fine.
  visitor.send(json::object{{"type", "message"}, {"client_id", "last"}, {"text", "after"}});
  EXPECT_EQ(str(visitor.expect_type("ack"), "client_id"), "last");
  fast.send(json::object{{"type", "ping"}});
  fast.expect_type("pong");
}

TEST_F(Limits, SlowRequestIsCutOffAfterTheRequestTimeout) {
  RawConnection slow(port());
  slow.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");  // and never finishes the request
  slow.read_until_closed(std::chrono::seconds(10));
  EXPECT_EQ(http(port(), "GET", "/healthz").status, 200);
}

TEST_F(Limits, MalformedRequestLineGetsBadRequest) {
  RawConnection raw(port());
  raw.write("BLAH\x01 / HTTP/1.1\r\n\r\n");
  std::string reply = raw.read_until_closed();
  EXPECT_NE(reply.find("400"), std::string::npos) << reply;
  EXPECT_NE(reply.find("\"bad_request\""), std::string::npos) << reply;
}

TEST_F(Limits, ConnectionsFromOneAddressAreCapped) {
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 64; ++i) held.push_back(std::make_unique<RawConnection>(port()));
  // The 65th is accepted by the kernel and closed at once by the server.
  RawConnection extra(port());
  EXPECT_EQ(extra.read_until_closed(), "");
  held.clear();
  // Once they are gone, new connections work again.
  for (int i = 0; i < 50; ++i) {
    try {
      if (http(port(), "GET", "/healthz").status == 200) return;
    } catch (const std::exception&) {
      // the server may not have noticed the closed connections yet
    }
    std::this_thread::yield();
  }
  FAIL() << "server did not accept connections again";
}

TEST_F(Limits, SilentWebSocketIsClosedAfterTheIdleTimeout) {
  Visitor v = start_chat(port(), "hi");
  // Never reads, so never answers the server's pings.
  SilentWs idle(port(), json::object{{"type", "hello"}, {"role", "visitor"}, {"conversation", v.conversation},
                                     {"token", v.token}});
  EXPECT_TRUE(idle.closed_by_server(std::chrono::seconds(20)));
}

}  // namespace
}  // namespace baton::testing
