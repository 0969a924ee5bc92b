// A WebSocket reader that stops reading (issue 6, "Faults"), against a real `baton`
// process (ChildServer), so that its memory can be read from /proc: while an
// agent's console that never reads is flooded with a visitor's messages, the
// server's resident memory stays bounded (its per-connection queue is bounded, and
// the slow console is closed with a reason), and another visitor and agent keep
// talking with little delay meanwhile. limits_test.cpp checks the same closing
// in-process.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace baton::testing {
namespace {

namespace json = boost::json;

TEST(SlowReader, MemoryStaysBoundedAndOthersAreUnaffected) {
  TempDir dir;
  std::unique_ptr<ChildServer> server;
  for (int attempt = 0; !server; ++attempt) {
    try {
      std::uint16_t port = free_port();
      app::Config c = test_config(dir.path() + "/data" + std::to_string(attempt));
      c.listen = "127.0.0.1:" + std::to_string(port);
      c.public_url = "http://127.0.0.1:" + std::to_string(port);
      c.limits.ws_queue_messages = 256;
      c.limits.ws_queue_bytes = 512 * 1024;
      auto st = app::validate_config(c);
      ASSERT_TRUE(st.ok()) << st.error().message;
      server = std::make_unique<ChildServer>(c, dir.path() + "/run" + std::to_string(attempt));
      server->start();
    } catch (const std::exception&) {
      server.reset();
      if (attempt >= 4) throw;
    }
  }
  std::uint16_t port = server->port();

  // bob (capacity 1) takes the first visitor; the second one goes to alice.
  WsClient bob(port);
  bob.hello_agent(sign_in(port, "bob"));
  Visitor calm = start_chat(port, "a calm question");
  WsClient calm_ws(port);
  calm_ws.hello_visitor(calm);
  calm_ws.expect([](const json::object& m) { return is_event(m, "joined"); });
  Visitor loud = start_chat(port, "a flood is coming");
  SilentWs alice(port, json::object{{"type", "hello"}, {"role", "agent"}, {"token", sign_in(port, "alice")}});
  alice.send(json::object{{"type", "subscribe"}, {"conversation", loud.conversation}, {"after_seq", 0}});
  WsClient loud_ws(port);
  loud_ws.hello_visitor(loud);
  loud_ws.expect([](const json::object& m) { return is_event(m, "joined"); });

  const std::string text(3000, 'x');
  auto flood = [&](int batches, int& sent) {
    for (int b = 0; b < batches; ++b) {
      for (int i = 0; i < 20; ++i)
        loud_ws.send(json::object{{"type", "message"}, {"client_id", "f" + std::to_string(sent + i)}, {"text", text}});
      for (int i = 0; i < 20; ++i) loud_ws.expect_type("ack");
      sent += 20;
      loud_ws.drain();
    }
  };
  int sent = 0;
  flood(10, sent);  // warm up: caches, allocator arenas
  long baseline = server->rss_kib();
  ASSERT_GT(baseline, 0);

  long peak = baseline;
  std::chrono::milliseconds worst{0};
  int exchanges = 0;
  // About 12 MB through the conversation: many times the slow console's queue bound.
  while (sent < 4000) {
    flood(10, sent);
    peak = std::max(peak, server->rss_kib());
    // Meanwhile another visitor and agent talk, and are answered promptly.
    auto start = std::chrono::steady_clock::now();
    std::string cid = "c" + std::to_string(++exchanges);
    bob.send(json::object{{"type", "message"}, {"conversation", calm.conversation}, {"client_id", cid}, {"text", cid}});
    calm_ws.expect([&](const json::object& m) { return is_event(m, "message") && str(m, "text") == cid; });
    worst = std::max(worst, std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start));
    calm_ws.drain();
  }
  EXPECT_EQ(metric(port, "baton_ws_closed_slow_total"), 1);
  EXPECT_TRUE(alice.closed_by_server());
  // The queue is bounded at 512 KiB; what else grows (SQLite's page caches, the
  // allocator) is a few MiB. A server that kept everything would hold 12 MB more.
  // Under ASan (freed memory held in quarantine) and TSan (shadow memory) RSS says
  // little about what the server keeps; the normal build of `make test` checks it.
#ifndef BATON_SANITIZED
  EXPECT_LT(peak - baseline, 6 * 1024) << "baseline " << baseline << " KiB, peak " << peak << " KiB";
#endif
  EXPECT_LT(worst, std::chrono::milliseconds(2000)) << "the other conversation waited";
  RecordProperty("rss_baseline_kib", static_cast<int>(baseline));
  RecordProperty("rss_peak_kib", static_cast<int>(peak));
  RecordProperty("worst_other_ms", static_cast<int>(worst.count()));
}

}  // namespace
}  // namespace baton::testing
