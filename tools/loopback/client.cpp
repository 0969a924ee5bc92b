#include "loopback/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <netinet/in.h>

#include <cctype>
#include <deque>

namespace baton::loopback {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

// Binding a source address without a port lets the kernel pick the port per
// destination at connect time, so each 127.0.0.x brings its own ephemeral range.
net::awaitable<void> dial(tcp::socket& socket, const Endpoint& ep) {
  tcp::endpoint remote{net::ip::address_v4::loopback(), ep.port};
  socket.open(tcp::v4());
  if (!ep.source.empty()) {
    int one = 1;
    ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    socket.bind(tcp::endpoint{net::ip::make_address(ep.source), 0});
  }
  co_await socket.async_connect(remote, net::use_awaitable);
  socket.set_option(tcp::no_delay(true));
}

std::string host_of(const Endpoint& ep) { return "127.0.0.1:" + std::to_string(ep.port); }

// Static: connect(endpoint) hands references to them to the coroutine.
const std::string kWsPath = "/ws";
const std::string kNoSubprotocol;

}  // namespace

std::string Reply::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

Request post(std::string target, std::string body, std::string content_type) {
  Request r;
  r.method = "POST";
  r.target = std::move(target);
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

std::string form_escape(std::string_view v) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// ---- HTTP ----

struct HttpClient::Impl {
  Impl(net::any_io_executor e, Endpoint p, HttpOptions o) : ex(std::move(e)), ep(std::move(p)), options(std::move(o)) {}
  net::any_io_executor ex;
  Endpoint ep;
  HttpOptions options;
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

HttpClient::HttpClient(net::any_io_executor ex, Endpoint endpoint, HttpOptions options)
    : impl_(std::make_unique<Impl>(std::move(ex), std::move(endpoint), std::move(options))) {}
HttpClient::~HttpClient() { close(); }

bool HttpClient::connected() const { return impl_->stream != nullptr; }

void HttpClient::close() {
  if (!impl_->stream) return;
  beast::error_code ignored;
  impl_->stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->stream->socket().close(ignored);
  impl_->stream.reset();
  impl_->buffer.clear();
}

net::awaitable<Reply> HttpClient::request(const Request& r) {
  Impl& m = *impl_;
  // A kept-alive connection may have been closed by the server meanwhile (its idle
  // timeout): then one more try on a fresh connection.
  for (int attempt = 0;; ++attempt) {
    bool fresh = false;
    if (!m.stream) {
      m.stream = std::make_unique<beast::tcp_stream>(m.ex);
      m.buffer.clear();
      co_await dial(m.stream->socket(), m.ep);
      fresh = true;
    }
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(r.method), r.target, 11};
    req.set(bhttp::field::host, host_of(m.ep));
    req.set(bhttp::field::user_agent, m.options.user_agent);
    if (!r.content_type.empty()) req.set(bhttp::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) req.set(k, v);
    req.body() = r.body;
    req.prepare_payload();
    req.keep_alive(true);
    if (m.options.timeout.count() > 0) m.stream->expires_after(m.options.timeout);
    auto [wec, wn] = co_await bhttp::async_write(*m.stream, req, kAsTuple);
    bhttp::response<bhttp::string_body> res;
    beast::error_code rec;
    if (!wec) {
      auto [ec, n] = co_await bhttp::async_read(*m.stream, m.buffer, res, kAsTuple);
      rec = ec;
    }
    if (wec || rec) {
      close();
      if (attempt == 0 && !fresh) continue;
      throw boost::system::system_error(wec ? wec : rec);
    }
    m.stream->expires_never();
    Reply out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    if (!res.keep_alive()) close();
    co_return out;
  }
}

// ---- WebSocket ----

struct WsClient::Impl {
  explicit Impl(net::any_io_executor ex) : ws(ex) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buffer;
  std::deque<std::string> queue;
  bool writing = false;
  bool open = false;
  bool closing = false;
  bool reported = false;
  OnMessage on_message;
  OnClose on_close;
};

WsClient::WsClient(net::any_io_executor ex) : impl_(std::make_unique<Impl>(std::move(ex))) {}
WsClient::~WsClient() = default;

std::shared_ptr<WsClient> WsClient::make(net::any_io_executor ex) {
  return std::shared_ptr<WsClient>(new WsClient(std::move(ex)));
}

net::awaitable<void> WsClient::connect(const Endpoint& ep) { return connect(ep, kWsPath, kNoSubprotocol); }

net::awaitable<void> WsClient::connect(const Endpoint& ep, const std::string& path, const std::string& subprotocol) {
  auto& ws = impl_->ws;
  co_await dial(beast::get_lowest_layer(ws).socket(), ep);
  auto t = websocket::stream_base::timeout::suggested(beast::role_type::client);
  t.handshake_timeout = std::chrono::seconds(30);
  t.idle_timeout = websocket::stream_base::none();  // the server's pings are answered while reading
  ws.set_option(t);
  ws.read_message_max(16 * 1024 * 1024);
  if (!subprotocol.empty()) {
    ws.set_option(websocket::stream_base::decorator(
        [subprotocol](websocket::request_type& req) { req.set(bhttp::field::sec_websocket_protocol, subprotocol); }));
  }
  std::string host = host_of(ep);
  co_await ws.async_handshake(host, path, net::use_awaitable);
  ws.text(true);
  impl_->open = true;
}

void WsClient::on_message(OnMessage f) { impl_->on_message = std::move(f); }
void WsClient::on_close(OnClose f) { impl_->on_close = std::move(f); }
bool WsClient::is_open() const { return impl_->open; }

void WsClient::start() {
  net::co_spawn(impl_->ws.get_executor(), [self = shared_from_this()] { return self->read_loop(); }, net::detached);
}

net::awaitable<void> WsClient::read_loop() {
  auto self = shared_from_this();
  Impl& m = *impl_;
  std::string why;
  for (;;) {
    auto [ec, n] = co_await m.ws.async_read(m.buffer, kAsTuple);
    if (ec) {
      if (ec == websocket::error::closed)
        why = "closed " + std::to_string(m.ws.reason().code) + " " + std::string(m.ws.reason().reason.c_str());
      else
        why = ec.message();
      break;
    }
    auto data = m.buffer.cdata();
    if (m.on_message) m.on_message(std::string_view(static_cast<const char*>(data.data()), data.size()));
    m.buffer.consume(m.buffer.size());
  }
  m.open = false;
  m.queue.clear();
  if (!m.reported) {
    m.reported = true;
    // Moved out first: the callback may drop the last reference to what it captured.
    auto cb = std::move(m.on_close);
    m.on_message = nullptr;
    if (cb) cb(why);
  }
}

void WsClient::kick_writer() {
  if (impl_->writing) return;
  impl_->writing = true;
  net::co_spawn(impl_->ws.get_executor(), [self = shared_from_this()] { return self->write_loop(); }, net::detached);
}

void WsClient::send(std::string text) {
  Impl& m = *impl_;
  if (!m.open || m.closing) return;
  m.queue.push_back(std::move(text));
  kick_writer();
}

net::awaitable<void> WsClient::write_loop() {
  auto self = shared_from_this();
  Impl& m = *impl_;
  while (m.open && !m.queue.empty()) {
    std::string msg = std::move(m.queue.front());
    m.queue.pop_front();
    auto [ec, n] = co_await m.ws.async_write(net::buffer(msg), kAsTuple);
    if (ec) break;
  }
  if (m.closing && m.open) {
    auto [ec] = co_await m.ws.async_close(websocket::close_code::normal, kAsTuple);
    if (ec) abort();
  }
  m.writing = false;
}

void WsClient::close() {
  Impl& m = *impl_;
  if (!m.open || m.closing) return;
  m.closing = true;
  kick_writer();
}

void WsClient::abort() {
  beast::error_code ignored;
  beast::get_lowest_layer(impl_->ws).socket().close(ignored);
}

}  // namespace baton::loopback
