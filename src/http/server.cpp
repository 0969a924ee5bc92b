#include "baton/http/server.hpp"

#include "gather_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <array>
#include <chrono>
#include <deque>
#include <mutex>
#include <spdlog/spdlog.h>
#include <unordered_map>

namespace baton::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr auto kTuple = net::as_tuple(net::use_awaitable);

void HttpMetrics::observe(int status, std::int64_t micros) {
  requests_total.fetch_add(1, std::memory_order_relaxed);
  int cls = status / 100;
  if (cls >= 1 && cls <= 5) responses_by_class[cls].fetch_add(1, std::memory_order_relaxed);
  latency_sum_us.fetch_add(micros, std::memory_order_relaxed);
  double ms = static_cast<double>(micros) / 1000.0;
  int i = 0;
  while (i < kBuckets && ms > kBucketBoundsMs[i]) ++i;
  latency_bucket[i].fetch_add(1, std::memory_order_relaxed);
}

void HttpMetrics::render(std::string& out) const {
  auto line = [&out](const std::string& name, std::int64_t v) {
    out += name;
    out += ' ';
    out += std::to_string(v);
    out += '\n';
  };
  out += "# HELP baton_connections_open Open HTTP and WebSocket connections.\n# TYPE baton_connections_open gauge\n";
  line("baton_connections_open", connections_open.load());
  out += "# TYPE baton_connections_total counter\n";
  line("baton_connections_total", connections_total.load());
  out += "# HELP baton_connections_refused_total Connections refused by the per-address or total limit.\n# TYPE baton_connections_refused_total counter\n";
  line("baton_connections_refused_total", connections_refused.load());
  out += "# TYPE baton_websockets_open gauge\n";
  line("baton_websockets_open", websockets_open.load());
  out += "# TYPE baton_ws_messages_received_total counter\n";
  line("baton_ws_messages_received_total", ws_messages_in.load());
  out += "# TYPE baton_ws_messages_sent_total counter\n";
  line("baton_ws_messages_sent_total", ws_messages_out.load());
  out += "# HELP baton_ws_closed_slow_total WebSockets closed because their outgoing queue was full.\n# TYPE baton_ws_closed_slow_total counter\n";
  line("baton_ws_closed_slow_total", ws_closed_slow.load());
  out += "# TYPE baton_http_responses_total counter\n";
  for (int c = 1; c <= 5; ++c) {
    line("baton_http_responses_total{class=\"" + std::to_string(c) + "xx\"}", responses_by_class[c].load());
  }
  out += "# HELP baton_http_request_duration_seconds Time from a whole request read to its response ready.\n";
  out += "# TYPE baton_http_request_duration_seconds histogram\n";
  std::int64_t cumulative = 0;
  for (int i = 0; i <= kBuckets; ++i) {
    cumulative += latency_bucket[i].load();
    std::string le = i < kBuckets ? std::to_string(kBucketBoundsMs[i] / 1000.0) : "+Inf";
    line("baton_http_request_duration_seconds_bucket{le=\"" + le + "\"}", cumulative);
  }
  out += "baton_http_request_duration_seconds_sum " +
         std::to_string(static_cast<double>(latency_sum_us.load()) / 1e6) + "\n";
  line("baton_http_request_duration_seconds_count", cumulative);
}

namespace {

std::string error_body(std::string_view code, std::string_view message) {
  std::string out = "{\"error\":{\"code\":\"";
  out += code;
  out += "\",\"message\":\"";
  out += message;  // only ever our own constant text here
  out += "\"}}";
  return out;
}

Request to_request(const bhttp::request<bhttp::string_body>& breq, const std::string& ip, bool tls) {
  Request req;
  req.method = std::string(breq.method_string());
  req.target = std::string(breq.target());
  std::string_view target = breq.target();
  auto q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
  if (!percent_decode(raw_path, req.path, false)) req.path = "\x01";  // routes to 404
  req.headers.reserve(16);
  for (const auto& field : breq) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  req.body = breq.body();
  req.remote_ip = ip;
  req.tls = tls;
  return req;
}

bhttp::response<bhttp::string_body> to_beast(Response&& res, unsigned version, bool keep_alive,
                                             bool head = false) {
  bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(res.status), version};
  out.set(bhttp::field::server, "baton");
  if (!res.content_type.empty()) out.set(bhttp::field::content_type, res.content_type);
  out.set("X-Content-Type-Options", "nosniff");
  for (auto& [k, v] : res.headers) out.insert(k, v);
  out.keep_alive(keep_alive);
  if (head) {
    out.content_length(res.body.size());  // what GET would send, without the body
    return out;
  }
  out.body() = std::move(res.body);
  out.prepare_payload();
  return out;
}

// Lets Service::handle's callback resume the coroutine on its own strand.
template <typename Token>
auto async_handle(Service& service, Request req, Token&& token) {
  return net::async_initiate<Token, void(Response)>(
      [&service](auto handler, Request r) {
        auto ex = net::get_associated_executor(handler);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        service.handle(std::move(r), [h, ex](Response res) mutable {
          net::dispatch(ex, [h, res = std::move(res)]() mutable { (*h)(std::move(res)); });
        });
      },
      token, std::move(req));
}

tcp::socket& lowest_socket(beast::tcp_stream& s) { return s.socket(); }

using RequestParser = bhttp::request_parser<bhttp::string_body>;

void apply_limits(RequestParser& parser, const ServerOptions& opts) {
  parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
  parser.body_limit(opts.max_body_bytes);
}

// The answer to a request that could not be read, or 0 to close without one
// (the client went away, or sent half a request).
int read_error_status(const beast::error_code& ec, const char*& code, const char*& message) {
  code = "bad_request";
  message = "malformed HTTP request";
  if (ec == bhttp::error::body_limit) {
    code = "too_large";
    message = "request body too large";
    return 413;
  }
  if (ec == bhttp::error::header_limit) {
    code = "too_large";
    message = "request headers too large";
    return 431;
  }
  if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
      ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
    return 400;
  }
  return 0;
}

}  // namespace

ParsedRequests parse_requests(std::string_view bytes, const ServerOptions& opts, const std::string& ip) {
  ParsedRequests out;
  for (;;) {
    RequestParser parser;
    apply_limits(parser, opts);
    beast::error_code ec;
    // As async_read does: hand the parser what arrived, and the end of the stream
    // when it wants more than there is.
    while (!parser.is_done()) {
      if (bytes.empty()) {
        if (parser.got_some()) {
          parser.put_eof(ec);
        } else {
          ec = bhttp::error::end_of_stream;
        }
        if (!ec && !parser.is_done()) ec = bhttp::error::partial_message;
        break;
      }
      std::size_t n = parser.put(net::buffer(bytes.data(), bytes.size()), ec);
      bytes.remove_prefix(n);
      if (ec == bhttp::error::need_more) {
        ec = {};
        if (n == 0) bytes = {};  // needs more than was sent
        continue;
      }
      if (ec) break;
    }
    if (ec) {
      const char* code;
      const char* message;
      out.error_status = read_error_status(ec, code, message);
      return out;
    }
    auto& breq = parser.get();
    ParsedRequest parsed{to_request(breq, ip, false), websocket::is_upgrade(breq), breq.keep_alive()};
    bool more = !parsed.upgrade && parsed.keep_alive && !bytes.empty();
    out.requests.push_back(std::move(parsed));
    if (!more) return out;
  }
}

struct Server::Impl : std::enable_shared_from_this<Impl> {
  Impl(net::io_context& io_, ServerOptions o, Service& s, HttpMetrics& m)
      : io(io_), opts(std::move(o)), service(s), metrics(m), acceptor(io_) {}

  net::io_context& io;
  ServerOptions opts;
  Service& service;
  HttpMetrics& metrics;
  tcp::acceptor acceptor;
  std::unique_ptr<net::ssl::context> ssl;

  std::mutex mu;  // guards everything below
  bool stopping = false;
  std::size_t open = 0;
  std::unordered_map<std::string, std::size_t> per_ip;
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, std::function<void()>> closers;

  // Returns 0 when the connection must be refused.
  std::uint64_t admit(const std::string& ip) {
    std::lock_guard lock(mu);
    if (stopping) return 0;
    auto& n = per_ip[ip];
    if (n >= opts.max_connections_per_ip || open >= opts.max_connections) {
      if (n == 0) per_ip.erase(ip);
      return 0;
    }
    ++n;
    ++open;
    return ++next_id;
  }
  void release(std::uint64_t id, const std::string& ip) {
    std::lock_guard lock(mu);
    closers.erase(id);
    --open;
    auto it = per_ip.find(ip);
    if (it != per_ip.end() && --it->second == 0) per_ip.erase(it);
  }
  // Registers how to close connection `id` at shutdown; false if shutdown began.
  bool on_stop(std::uint64_t id, std::function<void()> f) {
    std::lock_guard lock(mu);
    if (stopping) return false;
    closers[id] = std::move(f);
    return true;
  }
  bool is_stopping() {
    std::lock_guard lock(mu);
    return stopping;
  }

  net::awaitable<void> accept_loop();
  template <typename Stream>
  net::awaitable<void> serve(Stream stream, std::string ip, std::uint64_t id);
  // One admitted connection: counted open until destroyed, then its slot is freed.
  // Keeps the server alive itself: as a coroutine parameter it is destroyed after the
  // coroutine's locals (its `self` among them).
  struct ConnectionSlot {
    ConnectionSlot(std::shared_ptr<Impl> i, std::uint64_t connection_id, std::string address)
        : impl(std::move(i)), id(connection_id), ip(std::move(address)) {}
    ConnectionSlot(const ConnectionSlot&) = delete;
    ConnectionSlot& operator=(const ConnectionSlot&) = delete;
    ~ConnectionSlot() {
      impl->metrics.connections_open.fetch_sub(1, std::memory_order_relaxed);
      impl->release(id, ip);
    }
    std::shared_ptr<Impl> impl;
    std::uint64_t id;
    std::string ip;
  };

  template <typename Stream>
  net::awaitable<void> serve_websocket(Stream stream, bhttp::request<bhttp::string_body> breq,
                                       std::shared_ptr<WsHandler> handler, std::string ip,
                                       std::unique_ptr<ConnectionSlot> slot);
};

// One accepted WebSocket: a reader loop and a writer draining a bounded queue,
// both on the connection's strand.
template <typename Stream>
class WsSession final : public WsConnection, public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  WsSession(Stream stream, std::string ip, const ServerOptions& opts, HttpMetrics& metrics)
      : ws_(std::move(stream)), signal_(ws_.get_executor()), hard_close_(ws_.get_executor()),
        ip_(std::move(ip)), opts_(opts), metrics_(metrics) {
    signal_.expires_at(std::chrono::steady_clock::time_point::max());
  }

  websocket::stream<GatherStream<Stream>>& ws() { return ws_; }

  void send(std::shared_ptr<const std::string> text) override {
    net::post(ws_.get_executor(), [self = this->shared_from_this(), text = std::move(text)]() mutable {
      self->enqueue(std::move(text));
    });
  }

  void close(std::uint16_t code, std::string reason) override {
    net::post(ws_.get_executor(), [self = this->shared_from_this(), code, reason = std::move(reason)] {
      self->begin_close(code, reason, false);
    });
  }

  const std::string& remote_ip() const override { return ip_; }

  net::awaitable<void> writer() {
    auto self = this->shared_from_this();
    while (!done_) {
      if (queue_.empty()) {
        if (closing_) break;
        co_await signal_.async_wait(kTuple);
        continue;
      }
      auto msg = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= msg->size();
      // The messages queued behind it go out in the same write (gather_stream.hpp).
      std::string& pending = ws_.next_layer().pending();
      std::int64_t sent = 1;
      while (!queue_.empty() && pending.size() + queue_.front()->size() + kFrameHeaderMax <= kGatherBytes) {
        append_text_frame(pending, *queue_.front());
        queued_bytes_ -= queue_.front()->size();
        queue_.pop_front();
        ++sent;
      }
      ws_.text(true);
      auto [ec, n] = co_await ws_.async_write(net::buffer(*msg), kTuple);
      if (ec) {
        done_ = true;
        co_return;
      }
      if (!pending.empty()) {
        // Beast wrote no frame that ends a data message (it would, for example, with
        // permessage-deflate, which is off): the held messages cannot go out in
        // order. Close instead of losing them silently; the client resumes by seq.
        spdlog::error("websocket: {} messages held for a gathered write were not sent; closing", sent - 1);
        pending.clear();
        begin_close(static_cast<std::uint16_t>(websocket::close_code::internal_error), "internal error", true);
        continue;
      }
      metrics_.ws_messages_out.fetch_add(sent, std::memory_order_relaxed);
    }
    if (closing_ && !done_) {
      auto [ec] = co_await ws_.async_close(close_reason_, kTuple);
      (void)ec;
    }
  }

  // Marks the session finished; called when the reader ends.
  void finish() {
    done_ = true;
    queue_.clear();
    signal_.cancel();
    hard_close_.cancel();
  }

  void begin_close(std::uint16_t code, const std::string& reason, bool drop_queue) {
    if (closing_ || done_) return;
    closing_ = true;
    close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
    if (drop_queue) {
      queue_.clear();
      queued_bytes_ = 0;
    }
    signal_.cancel();
    // A peer that does not read will never take the close frame either.
    hard_close_.expires_after(5s);
    hard_close_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec && !self->done_) {
        beast::error_code ignored;
        lowest_socket(beast::get_lowest_layer(self->ws_)).close(ignored);
      }
    });
  }

 private:
  void enqueue(std::shared_ptr<const std::string> text) {
    if (closing_ || done_) return;
    if (queue_.size() >= opts_.ws_queue_messages || queued_bytes_ + text->size() > opts_.ws_queue_bytes) {
      metrics_.ws_closed_slow.fetch_add(1, std::memory_order_relaxed);
      begin_close(static_cast<std::uint16_t>(websocket::close_code::policy_error),
                  "too slow: outgoing queue full", true);
      return;
    }
    queued_bytes_ += text->size();
    queue_.push_back(std::move(text));
    signal_.cancel();
  }

  // At most this many bytes of frames go out behind one message in one write.
  static constexpr std::size_t kGatherBytes = 32 * 1024;
  static constexpr std::size_t kFrameHeaderMax = 10;

  websocket::stream<GatherStream<Stream>> ws_;
  net::steady_timer signal_;
  net::steady_timer hard_close_;
  std::string ip_;
  const ServerOptions& opts_;
  HttpMetrics& metrics_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::size_t queued_bytes_ = 0;
  bool closing_ = false;
  bool done_ = false;
  websocket::close_reason close_reason_;
};

Server::Server(net::io_context& io, ServerOptions options, Service& service, HttpMetrics& metrics)
    : impl_(std::make_shared<Impl>(io, std::move(options), service, metrics)) {}

Server::~Server() { stop(); }

core::Result<std::uint16_t> Server::listen(const std::string& host, std::uint16_t port) {
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) return core::Error{core::Errc::bad_request, "listen: not an IP address: " + host};
  if (!impl_->opts.tls_cert.empty()) {
    impl_->ssl = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    impl_->ssl->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                            net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                            net::ssl::context::no_tlsv1_1);
    impl_->ssl->use_certificate_chain_file(impl_->opts.tls_cert, ec);
    if (ec) return core::Error{core::Errc::bad_request, "tls.cert: " + ec.message()};
    impl_->ssl->use_private_key_file(impl_->opts.tls_key, net::ssl::context::pem, ec);
    if (ec) return core::Error{core::Errc::bad_request, "tls.key: " + ec.message()};
  }
  tcp::endpoint ep{address, port};
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return core::Error{core::Errc::unavailable,
                       "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message()};
  }
  return a.local_endpoint().port();
}

void Server::start() {
  auto impl = impl_;
  net::co_spawn(impl->acceptor.get_executor(), impl->accept_loop(), net::detached);
}

void Server::stop() {
  std::vector<std::function<void()>> closers;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
    for (auto& [id, f] : impl_->closers) closers.push_back(std::move(f));
    impl_->closers.clear();
  }
  net::post(impl_->acceptor.get_executor(), [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  for (auto& f : closers) f();
}

net::awaitable<void> Server::Impl::accept_loop() {
  auto self = shared_from_this();
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(net::make_strand(io), kTuple);
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec == net::error::no_descriptors) {
        // Out of file descriptors: back off instead of spinning.
        spdlog::warn("accept: {}", ec.message());
        net::steady_timer t(acceptor.get_executor(), 100ms);
        co_await t.async_wait(kTuple);
      }
      continue;
    }
    beast::error_code ep_ec;
    auto remote = socket.remote_endpoint(ep_ec);
    std::string ip = ep_ec ? std::string("?") : remote.address().to_string();
    std::uint64_t id = admit(ip);
    if (id == 0) {
      metrics.connections_refused.fetch_add(1, std::memory_order_relaxed);
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ep_ec);
    auto ex = socket.get_executor();
    if (ssl) {
      net::co_spawn(ex, serve(beast::ssl_stream<beast::tcp_stream>(std::move(socket), *ssl), ip, id),
                    net::detached);
    } else {
      net::co_spawn(ex, serve(beast::tcp_stream(std::move(socket)), ip, id), net::detached);
    }
  }
}

template <typename Stream>
net::awaitable<void> Server::Impl::serve(Stream stream, std::string ip, std::uint64_t id) {
  auto self = shared_from_this();
  metrics.connections_open.fetch_add(1, std::memory_order_relaxed);
  metrics.connections_total.fetch_add(1, std::memory_order_relaxed);
  // Released when the connection ends; a WebSocket takes it over (see below).
  auto slot = std::make_unique<ConnectionSlot>(self, id, ip);

  constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  // At shutdown an idle connection is cancelled; a busy one finishes its response first.
  auto ex = stream.get_executor();
  auto cancel = std::make_shared<std::function<void()>>();
  *cancel = [&stream] { beast::get_lowest_layer(stream).cancel(); };
  std::weak_ptr<std::function<void()>> weak_cancel = cancel;
  if (!on_stop(id, [ex, weak_cancel] {
        net::post(ex, [weak_cancel] {
          if (auto c = weak_cancel.lock()) (*c)();
        });
      })) {
    co_return;
  }

  if constexpr (kTls) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(opts.request_timeout_s));
    auto [ec] = co_await stream.async_handshake(net::ssl::stream_base::server, kTuple);
    if (ec) co_return;
  }

  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    RequestParser parser;
    apply_limits(parser, opts);
    // One whole request must arrive within the timeout (slow senders are cut off);
    // between keep-alive requests the idle timeout applies.
    beast::get_lowest_layer(stream).expires_after(
        std::chrono::seconds(first ? opts.request_timeout_s : std::min(opts.request_timeout_s, opts.idle_timeout_s)));
    first = false;
    auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
    if (ec) {
      const char* code;
      const char* message;
      int status = read_error_status(ec, code, message);
      if (status != 0) {
        auto res = to_beast(Response::json(status, error_body(code, message)), 11, false);
        beast::get_lowest_layer(stream).expires_after(5s);
        co_await bhttp::async_write(stream, res, kTuple);
        metrics.observe(status, 0);
      }
      break;
    }
    auto started = std::chrono::steady_clock::now();
    auto& breq = parser.get();
    Request req = to_request(breq, ip, kTls);

    if (websocket::is_upgrade(breq)) {
      Response refusal;
      auto handler = service.upgrade(req, refusal);
      if (handler) {
        // The WebSocket runs as a coroutine of its own and this one ends: an idle
        // visitor's socket would otherwise keep this frame, the HTTP read buffer and
        // the request's copy alive for hours.
        net::co_spawn(ex,
                      serve_websocket(std::move(stream), parser.release(), std::move(handler), ip,
                                      std::move(slot)),
                      net::detached);
        co_return;
      }
      auto res = to_beast(std::move(refusal), breq.version(), false);
      co_await bhttp::async_write(stream, res, kTuple);
      break;
    }

    bool keep_alive = breq.keep_alive();
    unsigned version = breq.version();
    bool head = breq.method() == bhttp::verb::head;
    // The application has no time limit of its own; the socket must not expire meanwhile.
    beast::get_lowest_layer(stream).expires_never();
    Response res = co_await async_handle(service, std::move(req), net::use_awaitable);
    int status = res.status;
    if (is_stopping()) keep_alive = false;
    auto bres = to_beast(std::move(res), version, keep_alive, head);
    metrics.observe(status, std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count());
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(opts.request_timeout_s));
    auto [wec, wn] = co_await bhttp::async_write(stream, bres, kTuple);
    if (wec || !keep_alive) break;
  }

  beast::error_code ignored;
  if constexpr (kTls) {
    beast::get_lowest_layer(stream).expires_after(5s);
    co_await stream.async_shutdown(kTuple);
  } else {
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
}

template <typename Stream>
net::awaitable<void> Server::Impl::serve_websocket(Stream stream, bhttp::request<bhttp::string_body> breq,
                                                   std::shared_ptr<WsHandler> handler, std::string ip,
                                                   std::unique_ptr<ConnectionSlot> slot) {
  auto self = shared_from_this();
  const std::uint64_t id = slot->id;
  beast::get_lowest_layer(stream).expires_never();
  auto session = std::make_shared<WsSession<Stream>>(std::move(stream), ip, opts, metrics);
  auto& ws = session->ws();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = 10s;
  timeouts.idle_timeout = std::chrono::seconds(opts.idle_timeout_s);
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  ws.read_message_max(opts.max_frame_bytes);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(bhttp::field::server, "baton"); }));
  auto [ec] = co_await ws.async_accept(breq, kTuple);
  breq = {};  // its headers are not needed any more
  if (ec) co_return;

  metrics.websockets_open.fetch_add(1, std::memory_order_relaxed);
  std::weak_ptr<WsSession<Stream>> weak = session;
  on_stop(id, [weak] {
    if (auto s = weak.lock()) s->close(1001, "server shutting down");
  });

  handler->on_open(session);
  net::co_spawn(ws.get_executor(), session->writer(), net::detached);

  beast::flat_buffer buffer;
  for (;;) {
    auto [rec, n] = co_await ws.async_read(buffer, kTuple);
    if (rec == websocket::error::message_too_big) {
      // Beast has sent close 1009. Closing now, with the rest of the big frame
      // unread, would reset the connection and lose that close frame; read and
      // drop what is still coming for a moment instead.
      auto& lowest = beast::get_lowest_layer(ws);
      lowest.expires_after(2s);
      // On the heap: an array here would sit in every WebSocket's coroutine frame.
      auto scratch = std::make_unique<std::array<char, 16 * 1024>>();
      for (;;) {
        auto [dec, dn] = co_await lowest.async_read_some(net::buffer(*scratch), kTuple);
        if (dec) break;
      }
      break;
    }
    if (rec) break;
    metrics.ws_messages_in.fetch_add(1, std::memory_order_relaxed);
    if (ws.got_text()) {
      auto data = buffer.cdata();
      handler->on_text(std::string_view(static_cast<const char*>(data.data()), data.size()));
    } else {
      session->begin_close(static_cast<std::uint16_t>(websocket::close_code::bad_payload),
                           "binary messages are not accepted", false);
    }
    buffer.consume(buffer.size());
  }
  session->finish();
  handler->on_close();
  metrics.websockets_open.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace baton::http
