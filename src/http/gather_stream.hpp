// A layer under Beast's WebSocket stream (server side) that sends more messages
// with each message Beast writes: the session frames the messages queued behind
// the one it hands to Beast (RFC 6455 §5.2: FIN, opcode text, no mask) into
// `pending()`, and the layer writes them right after Beast's frame, in the same
// gathered write. One system call and fewer TCP segments for a burst of small
// messages (an ack, the echo of a message, a summary) instead of one each.
//
// Order is kept: the pending frames go out only after a frame that ends a data
// message (first byte 0x81 or 0x80: FIN with opcode text or continuation), so never
// before the message they follow nor inside a fragmented one; Beast's control
// frames (ping, pong, close) go out alone and the pending frames wait for the data
// frame. Every write through the layer is written whole (a write_some that writes
// everything), so each call starts at a frame header and the first byte can be
// trusted. Frames compressed by permessage-deflate (first byte 0xC1) are not
// recognised: the server does not offer it, and WsSession closes the socket if held
// frames were ever left behind.
//
// Include only from the server's translation unit (and its test): it brings in Beast.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_cat.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace baton::http {

// Appends one unmasked text frame holding `payload` (RFC 6455 §5.2) to `out`.
inline void append_text_frame(std::string& out, std::string_view payload) {
  const std::uint64_t n = payload.size();
  out.push_back(static_cast<char>(0x81));  // FIN, opcode 1 (text)
  if (n < 126) {
    out.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>((n >> 8) & 0xFF));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xFF));
  }
  out.append(payload);
}

template <typename Next>
class GatherStream {
 public:
  using next_layer_type = Next;
  using executor_type = typename Next::executor_type;

  explicit GatherStream(Next&& next) : next_(std::move(next)) {}
  GatherStream(GatherStream&&) = default;
  GatherStream& operator=(GatherStream&&) = default;

  executor_type get_executor() noexcept { return next_.get_executor(); }
  Next& next_layer() noexcept { return next_; }
  const Next& next_layer() const noexcept { return next_; }

  // Frames to send right after the next data message Beast writes. The caller
  // appends to it only while no write of its own is in flight.
  std::string& pending() noexcept { return pending_; }

  template <typename MutableBuffers, typename Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    return next_.async_read_some(buffers, std::forward<Handler>(handler));
  }

  template <typename ConstBuffers, typename Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    return boost::asio::async_compose<Handler, void(boost::beast::error_code, std::size_t)>(
        WriteOp<ConstBuffers>{next_, buffers, take_pending(buffers), boost::asio::buffer_size(buffers)}, handler,
        next_);
  }

 private:
  template <typename ConstBuffers>
  struct WriteOp {
    Next& next;
    ConstBuffers buffers;
    std::unique_ptr<std::string> extra;  // on the heap: the write holds a view of it
    std::size_t own = 0;                 // bytes of Beast's own buffers
    bool started = false;

    template <typename Self>
    void operator()(Self& self, boost::beast::error_code ec = {}, std::size_t n = 0) {
      if (!started) {
        started = true;
        if (extra) {
          boost::asio::async_write(next, boost::beast::buffers_cat(buffers, boost::asio::buffer(*extra)),
                                   std::move(self));
        } else {
          boost::asio::async_write(next, buffers, std::move(self));
        }
        return;
      }
      // Beast is told only about its own bytes.
      self.complete(ec, std::min(n, own));
    }
  };

  // The pending frames, if `buffers` is a frame that ends a data message.
  template <typename ConstBuffers>
  std::unique_ptr<std::string> take_pending(const ConstBuffers& buffers) {
    if (pending_.empty()) return nullptr;
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers);
         ++it) {
      boost::asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      const auto first = *static_cast<const unsigned char*>(b.data());
      if (first != 0x81 && first != 0x80) return nullptr;
      auto out = std::make_unique<std::string>(std::move(pending_));
      pending_.clear();
      return out;
    }
    return nullptr;
  }

  Next next_;
  std::string pending_;
};

// Closing the WebSocket tears down the layer below (found by Beast through ADL).
template <typename Next>
void teardown(boost::beast::role_type role, GatherStream<Next>& stream, boost::beast::error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, stream.next_layer(), ec);
}

template <typename Next, typename Handler>
void async_teardown(boost::beast::role_type role, GatherStream<Next>& stream, Handler&& handler) {
  using boost::beast::websocket::async_teardown;
  async_teardown(role, stream.next_layer(), std::forward<Handler>(handler));
}

}  // namespace baton::http
