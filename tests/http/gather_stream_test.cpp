#include "gather_stream.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <future>
#include <string>
#include <thread>
#include <vector>

namespace baton::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

constexpr auto kTuple = net::as_tuple(net::use_awaitable);

std::string header_of(std::size_t n) {
  std::string out;
  append_text_frame(out, std::string(n, 'x'));
  return out.substr(0, out.size() - n);
}

TEST(AppendTextFrame, UsesTheShortestLengthEncodingOfRfc6455) {
  EXPECT_EQ(header_of(0), std::string("\x81\x00", 2));
  EXPECT_EQ(header_of(125), std::string("\x81\x7d", 2));
  EXPECT_EQ(header_of(126), std::string("\x81\x7e\x00\x7e", 4));
  EXPECT_EQ(header_of(65535), std::string("\x81\x7e\xff\xff", 4));
  EXPECT_EQ(header_of(65536), std::string("\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

// A server WebSocket over GatherStream on a real loopback socket, written with
// frames held in pending(), read by Beast's own client on another thread.
TEST(GatherStream, PendingFramesFollowTheNextWholeMessageInOrder) {
  net::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();

  const std::string non_ascii = "\xc4\x81-three";  // U+0101: a 0x81 byte inside the text
  const std::string big(70'000, 'b');                // a 64-bit length in a hand-made frame
  const std::string fragmented(10'000, 'f');         // Beast sends it in 4 096-byte fragments
  std::vector<std::string> expected = {"one", "two", non_ascii, big, fragmented, "after-fragments",
                                       "after-ping", "held-over-ping"};

  std::promise<std::string> server_failure;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        auto [aec, socket] = co_await acceptor.async_accept(kTuple);
        if (aec) throw beast::system_error(aec);
        websocket::stream<GatherStream<beast::tcp_stream>> ws(beast::tcp_stream(std::move(socket)));
        auto [hec] = co_await ws.async_accept(kTuple);
        if (hec) throw beast::system_error(hec);
        ws.text(true);
        auto& pending = ws.next_layer().pending();

        // Three frames held behind "one": they arrive after it, in order.
        append_text_frame(pending, "two");
        append_text_frame(pending, non_ascii);
        append_text_frame(pending, big);
        std::string first = "one";
        auto [w1, n1] = co_await ws.async_write(net::buffer(first), kTuple);
        if (w1) throw beast::system_error(w1);
        if (n1 != first.size() || !pending.empty()) throw std::runtime_error("first write: wrong count or left over");

        // A fragmented message: the held frame waits for its last fragment.
        append_text_frame(pending, "after-fragments");
        auto [w2, n2] = co_await ws.async_write(net::buffer(fragmented), kTuple);
        if (w2) throw beast::system_error(w2);
        if (n2 != fragmented.size() || !pending.empty()) throw std::runtime_error("fragmented write");

        // A ping is a control frame: the held frame does not go out with it.
        append_text_frame(pending, "held-over-ping");
        auto [pec] = co_await ws.async_ping({}, kTuple);
        if (pec) throw beast::system_error(pec);
        if (pending.empty()) throw std::runtime_error("the held frame went out with the ping");
        std::string after_ping = "after-ping";
        auto [w3, n3] = co_await ws.async_write(net::buffer(after_ping), kTuple);
        if (w3) throw beast::system_error(w3);
        if (!pending.empty()) throw std::runtime_error("ping write: left over");

        // Closing goes through the layer's teardown.
        auto [cec] = co_await ws.async_close(websocket::close_code::normal, kTuple);
        if (cec) throw beast::system_error(cec);
      },
      [&](std::exception_ptr e) {
        std::string why;
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            why = ex.what();
          }
        }
        server_failure.set_value(why);
      });
  std::thread server([&io] { io.run(); });

  net::io_context client_io;
  websocket::stream<beast::tcp_stream> client(client_io);
  beast::get_lowest_layer(client).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  client.handshake("127.0.0.1", "/");
  int pings = 0;
  client.control_callback([&pings](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::ping) ++pings;
  });
  std::vector<std::string> got;
  beast::error_code ec;
  for (;;) {
    beast::flat_buffer buffer;
    client.read(buffer, ec);
    if (ec) break;
    EXPECT_TRUE(client.got_text());
    got.push_back(beast::buffers_to_string(buffer.data()));
  }
  EXPECT_EQ(ec, websocket::error::closed);
  server.join();
  EXPECT_EQ(server_failure.get_future().get(), "");
  EXPECT_EQ(pings, 1);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i]) << "message " << i;
}

}  // namespace
}  // namespace baton::http
