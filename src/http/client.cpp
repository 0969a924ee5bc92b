#include "baton/http/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
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

#include <boost/url/parse.hpp>

#include <optional>
#include <variant>

namespace baton::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;
using namespace net::experimental::awaitable_operators;

namespace {

constexpr std::size_t kMaxResponseBytes = 1 << 20;

struct Target {
  bool tls = false;
  std::string host;
  std::string port;
  std::string authority;  // host[:port] as written
};

core::Result<Target> parse_base(const std::string& base_url) {
  auto url = boost::urls::parse_absolute_uri(base_url);
  if (!url || !url->has_authority() || url->host().empty() || (url->scheme() != "http" && url->scheme() != "https"))
    return core::Error{core::Errc::bad_request, "not an http(s) URL: " + base_url};
  Target t;
  t.tls = url->scheme() == "https";
  switch (url->host_type()) {
    case boost::urls::host_type::ipv6: t.host = url->host_ipv6_address().to_string(); break;  // no brackets
    case boost::urls::host_type::ipv4: t.host = url->host_ipv4_address().to_string(); break;
    default: t.host = url->host_name(); break;  // decoded
  }
  t.port = url->has_port() ? std::string(url->port()) : (t.tls ? "443" : "80");
  t.authority = std::string(url->encoded_authority());
  return t;
}

using Reply = core::Result<ClientResponse>;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

// Beast's stream timeouts apply to asynchronous operations only, so the exchange
// is a coroutine on a private io_context, each step under the stream's deadline.
template <typename Stream>
net::awaitable<Reply> exchange(Stream& stream, std::string host, const ClientRequest& request) {
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
  ClientResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(res.body());
  co_return out;
}

net::awaitable<Reply> run_request(Target target, ClientRequest request, std::chrono::milliseconds timeout) {
  auto ex = co_await net::this_coro::executor;
  const std::string& authority = target.authority;
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

net::awaitable<Reply> fetch(std::string base_url, ClientRequest request, std::chrono::milliseconds timeout) {
  auto target = parse_base(base_url);
  if (!target) co_return target.error();
  // The stream's deadline bounds each step; this bounds the whole, name lookup included.
  auto ex = co_await net::this_coro::executor;
  net::steady_timer deadline(ex, timeout + std::chrono::seconds(1));
  std::variant<Reply, std::tuple<boost::system::error_code>> r =
      co_await (run_request(std::move(*target), std::move(request), timeout) || deadline.async_wait(kTuple));
  if (r.index() == 0) co_return std::move(std::get<0>(r));
  co_return core::Error{core::Errc::unavailable, "no answer within " + std::to_string(timeout.count()) + " ms"};
}

Reply fetch_blocking(const std::string& base_url, ClientRequest request, std::chrono::milliseconds timeout) {
  net::io_context io;
  std::optional<Reply> result;
  net::co_spawn(
      io, [&]() -> net::awaitable<void> { result = co_await fetch(base_url, std::move(request), timeout); },
      [&result](std::exception_ptr e) {
        if (e && !result) result = core::Error{core::Errc::unavailable, "the request failed"};
      });
  io.run();
  if (!result) return core::Error{core::Errc::unavailable, "the request failed"};
  return std::move(*result);
}

}  // namespace baton::http
