#include "http/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

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

template <typename Stream>
core::Result<federation::TransportResponse> exchange(Stream& stream, const std::string& host,
                                                     const federation::TransportRequest& request) {
  std::string target = request.path;
  if (!request.query.empty()) target += "?" + request.query;
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(request.method), target, 11};
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, "baton");
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = request.body;
  req.prepare_payload();
  beast::error_code ec;
  bhttp::write(stream, req, ec);
  if (ec) return core::Error{core::Errc::unavailable, "sending: " + ec.message()};
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  bhttp::read(stream, buffer, parser, ec);
  if (ec) return core::Error{core::Errc::unavailable, "reading the answer: " + ec.message()};
  auto& res = parser.get();
  federation::TransportResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(res.body());
  return out;
}

}  // namespace

core::Result<federation::TransportResponse> BeastTransport::send(const std::string& base_url,
                                                                  const federation::TransportRequest& request,
                                                                  std::chrono::milliseconds timeout) {
  auto target = parse_base(base_url);
  if (!target) return target.error();
  std::string authority = federation::authority_of(base_url);
  net::io_context io;
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(target->host, target->port, ec);
  if (ec) return core::Error{core::Errc::unavailable, "cannot resolve " + target->host + ": " + ec.message()};
  if (!target->tls) {
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    stream.connect(endpoints, ec);
    if (ec) return core::Error{core::Errc::unavailable, "cannot connect to " + authority + ": " + ec.message()};
    auto r = exchange(stream, authority, request);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return r;
  }
  net::ssl::context ctx(net::ssl::context::tls_client);
  ctx.set_default_verify_paths(ec);
  ctx.set_verify_mode(net::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), target->host.c_str()))
    return core::Error{core::Errc::unavailable, "TLS: cannot set the server name"};
  stream.set_verify_callback(net::ssl::host_name_verification(target->host));
  beast::get_lowest_layer(stream).expires_after(timeout);
  beast::get_lowest_layer(stream).connect(endpoints, ec);
  if (ec) return core::Error{core::Errc::unavailable, "cannot connect to " + authority + ": " + ec.message()};
  stream.handshake(net::ssl::stream_base::client, ec);
  if (ec) return core::Error{core::Errc::unavailable, "TLS with " + authority + ": " + ec.message()};
  auto r = exchange(stream, authority, request);
  stream.shutdown(ec);
  return r;
}

}  // namespace baton::http
