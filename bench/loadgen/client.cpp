#include "client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>

namespace baton::bench {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
using BindNoPort = net::detail::socket_option::boolean<IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT>;

net::awaitable<void> open_and_connect(tcp::socket& socket, const Target& t) {
  auto address = net::ip::make_address(t.host);
  tcp::endpoint remote{address, t.port};
  socket.open(remote.protocol());
  if (!t.source.empty()) {
    socket.set_option(BindNoPort(true));
    socket.bind(tcp::endpoint{net::ip::make_address(t.source), 0});
  }
  co_await socket.async_connect(remote, net::use_awaitable);
  socket.set_option(tcp::no_delay(true));
}

std::string host_header(const Target& t) { return t.host + ":" + std::to_string(t.port); }

}  // namespace

std::string HttpReply::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

// ---- HTTP ----

struct HttpClient::Impl {
  Impl(net::any_io_executor ex, Target t) : executor(ex), target(std::move(t)) {}
  net::any_io_executor executor;
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  Target target;
  bool connected = false;
};

HttpClient::HttpClient(net::any_io_executor ex, Target target)
    : impl_(std::make_unique<Impl>(ex, std::move(target))) {}
HttpClient::~HttpClient() = default;

void HttpClient::close() {
  beast::error_code ignored;
  if (impl_->stream) impl_->stream->socket().close(ignored);
  impl_->connected = false;
  impl_->buffer.clear();
}

net::awaitable<HttpReply> HttpClient::request(std::string method, std::string path, std::string body,
                                              std::vector<std::pair<std::string, std::string>> headers) {
  Impl& m = *impl_;
  for (int attempt = 0;; ++attempt) {
    if (!m.connected) {
      m.stream = std::make_unique<beast::tcp_stream>(m.executor);
      m.buffer.clear();
      co_await open_and_connect(m.stream->socket(), m.target);
      m.connected = true;
    }
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), path, 11};
    req.set(bhttp::field::host, host_header(m.target));
    req.set(bhttp::field::user_agent, "baton-loadgen");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    req.keep_alive(true);
    auto [wec, wn] = co_await bhttp::async_write(*m.stream, req, kTuple);
    bhttp::response<bhttp::string_body> res;
    beast::error_code rec;
    if (!wec) {
      auto [ec, n] = co_await bhttp::async_read(*m.stream, m.buffer, res, kTuple);
      rec = ec;
    }
    if (wec || rec) {
      close();
      // A keep-alive connection the server closed meanwhile: one fresh try.
      if (attempt == 0) continue;
      throw boost::system::system_error(wec ? wec : rec);
    }
    HttpReply out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    for (const auto& f : res) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      out.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    if (!res.keep_alive()) close();
    co_return out;
  }
}

net::awaitable<HttpReply> HttpClient::post_json(std::string path, std::string json,
                                                std::vector<std::pair<std::string, std::string>> headers) {
  headers.emplace_back("Content-Type", "application/json");
  std::string method = "POST";
  auto reply = co_await request(method, std::move(path), std::move(json), std::move(headers));
  co_return reply;
}

// ---- WebSocket ----

struct WsClient::Impl {
  explicit Impl(net::any_io_executor ex) : ws(ex) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buffer;
  std::deque<std::string> queue;
  bool writing = false;
  bool is_open = false;
  bool closing = false;
  OnMessage on_message;
  OnClose on_close;
};

WsClient::WsClient(net::any_io_executor ex) : impl_(std::make_unique<Impl>(ex)) {}
WsClient::~WsClient() = default;

std::shared_ptr<WsClient> WsClient::create(net::any_io_executor ex) {
  return std::shared_ptr<WsClient>(new WsClient(ex));
}

net::awaitable<void> WsClient::connect(Target target, std::string path, std::string subprotocol) {
  auto& ws = impl_->ws;
  co_await open_and_connect(beast::get_lowest_layer(ws).socket(), target);
  websocket::stream_base::timeout t = websocket::stream_base::timeout::suggested(beast::role_type::client);
  t.handshake_timeout = std::chrono::seconds(30);
  t.idle_timeout = websocket::stream_base::none();
  ws.set_option(t);
  ws.read_message_max(16 * 1024 * 1024);
  if (!subprotocol.empty()) {
    ws.set_option(websocket::stream_base::decorator(
        [subprotocol](websocket::request_type& req) { req.set(bhttp::field::sec_websocket_protocol, subprotocol); }));
  }
  co_await ws.async_handshake(host_header(target), path, net::use_awaitable);
  ws.text(true);
  impl_->is_open = true;
}

void WsClient::on_message(OnMessage f) { impl_->on_message = std::move(f); }
void WsClient::on_close(OnClose f) { impl_->on_close = std::move(f); }
bool WsClient::open() const { return impl_->is_open; }
std::size_t WsClient::queued() const { return impl_->queue.size(); }

void WsClient::start() {
  net::co_spawn(impl_->ws.get_executor(), [self = shared_from_this()] { return self->reader(); }, net::detached);
}

net::awaitable<void> WsClient::reader() {
  auto self = shared_from_this();
  auto& m = *impl_;
  std::string why;
  for (;;) {
    auto [ec, n] = co_await m.ws.async_read(m.buffer, kTuple);
    if (ec) {
      if (ec == websocket::error::closed) {
        auto reason = m.ws.reason();
        why = "closed " + std::to_string(reason.code) + " " + std::string(reason.reason.c_str());
      } else {
        why = ec.message();
      }
      break;
    }
    auto data = m.buffer.cdata();
    if (m.on_message) m.on_message(std::string_view(static_cast<const char*>(data.data()), data.size()));
    m.buffer.consume(m.buffer.size());
  }
  m.is_open = false;
  m.queue.clear();
  if (m.on_close) m.on_close(why);
}

void WsClient::send(std::string text) {
  auto& m = *impl_;
  if (!m.is_open || m.closing) return;
  m.queue.push_back(std::move(text));
  if (!m.writing) {
    m.writing = true;
    net::co_spawn(m.ws.get_executor(), [self = shared_from_this()] { return self->writer(); }, net::detached);
  }
}

net::awaitable<void> WsClient::writer() {
  auto self = shared_from_this();
  auto& m = *impl_;
  while (!m.queue.empty() && m.is_open) {
    std::string msg = std::move(m.queue.front());
    m.queue.pop_front();
    auto [ec, n] = co_await m.ws.async_write(net::buffer(msg), kTuple);
    if (ec) break;
  }
  if (m.closing && m.is_open) {
    auto [ec] = co_await m.ws.async_close(websocket::close_code::normal, kTuple);
    (void)ec;
  }
  m.writing = false;
}

void WsClient::close() {
  auto& m = *impl_;
  if (!m.is_open || m.closing) return;
  m.closing = true;
  if (!m.writing) {
    m.writing = true;
    net::co_spawn(m.ws.get_executor(), [self = shared_from_this()] { return self->writer(); }, net::detached);
  }
}

void WsClient::abort() {
  beast::error_code ignored;
  beast::get_lowest_layer(impl_->ws).socket().close(ignored);
}

}  // namespace baton::bench
