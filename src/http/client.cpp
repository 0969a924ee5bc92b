#include "http/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include <optional>

namespace baton::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t kMaxResponseBytes = 1 << 20;

struct Target {
  bool tls = false;
  std::string host;
  std::string port;
};

core::Result<Target> parse_base(const std::string& base_url) {
  Target t;
  std::string rest;
  if (base_url.rfind("https://", 0) == 0) {
    t.tls = true;
    rest = base_url.substr(8);
  } else if (base_url.rfind("http://", 0) == 0) {
    rest = base_url.substr(7);
  } else {
    return core::Error{core::Errc::bad_request, "not an http(s) URL: " + base_url};
  }
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return core::Error{core::Errc::bad_request, "bad host in " + base_url};
    t.host = rest.substr(1, close - 1);
    t.port = close + 1 < rest.size() && rest[close + 1] == ':' ? rest.substr(close + 2) : "";
  } else {
    auto colon = rest.rfind(':');
    t.host = rest.substr(0, colon);
    t.port = colon == std::string::npos ? "" : rest.substr(colon + 1);
  }
  if (t.port.empty()) t.port = t.tls ? "443" : "80";
  return t;
}

using Reply = core::Result<federation::TransportResponse>;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

// Beast's stream timeouts apply to asynchronous operations only, so the exchange
// is a coroutine on a private io_context, each step under the stream's deadline.
template <typename Stream>
net::awaitable<Reply> exchange(Stream& stream, std::string host, const federation::TransportRequest& request) {
  std::string target = request.path;
  if (!request.query.empty()) target += "?" + request.query;
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(request.method), target, 11};
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, "baton");
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = request.body;
  req.keep_alive(false);
  req.prepare_payload();
  auto [wec, wn] = co_await bhttp::async_write(stream, req, kTuple);
  if (wec) co_return core::Error{core::Errc::unavailable, "sending: " + wec.message()};
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  auto [rec, rn] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
  if (rec) co_return core::Error{core::Errc::unavailable, "reading the answer: " + rec.message()};
  auto& res = parser.get();
  federation::TransportResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(res.body());
  co_return out;
}

net::awaitable<Reply> run_request(Target target, std::string authority, federation::TransportRequest request,
                                  std::chrono::milliseconds timeout) {
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rerr, endpoints] = co_await resolver.async_resolve(target.host, target.port, kTuple);
  if (rerr) co_return core::Error{core::Errc::unavailable, "cannot resolve " + target.host + ": " + rerr.message()};
  if (!target.tls) {
    beast::tcp_stream stream(ex);
    stream.expires_after(timeout);
    auto [cerr, ep] = co_await stream.async_connect(endpoints, kTuple);
    if (cerr) co_return core::Error{core::Errc::unavailable, "cannot connect to " + authority + ": " + cerr.message()};
    Reply r = co_await exchange(stream, authority, request);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return r;
  }
  net::ssl::context ctx(net::ssl::context::tls_client);
  beast::error_code ec;
  ctx.set_default_verify_paths(ec);
  ctx.set_verify_mode(net::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ex, ctx);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str()))
    co_return core::Error{core::Errc::unavailable, "TLS: cannot set the server name"};
  stream.set_verify_callback(net::ssl::host_name_verification(target.host));
  beast::get_lowest_layer(stream).expires_after(timeout);
  auto [cerr, ep] = co_await beast::get_lowest_layer(stream).async_connect(endpoints, kTuple);
  if (cerr) co_return core::Error{core::Errc::unavailable, "cannot connect to " + authority + ": " + cerr.message()};
  auto [herr] = co_await stream.async_handshake(net::ssl::stream_base::client, kTuple);
  if (herr) co_return core::Error{core::Errc::unavailable, "TLS with " + authority + ": " + herr.message()};
  co_return co_await exchange(stream, authority, request);
}

}  // namespace

core::Result<federation::TransportResponse> BeastTransport::send(const std::string& base_url,
                                                                  const federation::TransportRequest& request,
                                                                  std::chrono::milliseconds timeout) {
  auto target = parse_base(base_url);
  if (!target) return target.error();
  net::io_context io;
  std::optional<Reply> result;
  std::string authority = federation::authority_of(base_url);
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> { result = co_await run_request(*target, authority, request, timeout); },
      [&result](std::exception_ptr e) {
        if (e && !result) result = core::Error{core::Errc::unavailable, "the request failed"};
      });
  // The stream deadline bounds each step; this bounds the whole, name lookup included.
  io.run_for(timeout + std::chrono::seconds(1));
  if (!result) return core::Error{core::Errc::unavailable, "no answer within " + std::to_string(timeout.count()) + " ms"};
  return std::move(*result);
}

}  // namespace baton::http
