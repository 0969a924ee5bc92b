// HTTP request handling: the bytes a client sends on one connection, through the
// server's own parser settings and limits (http::parse_requests, which serve()
// shares), our Request conversion, and the query, cookie and header readers the
// API calls on every request.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/check.hpp"
#include "baton/http/server.hpp"

namespace {

void exercise(const baton::http::Request& req) {
  using namespace std::string_view_literals;
  // What the routes and pages read; any of them may be asked for anything.
  for (auto name : {"site"sv, "limit"sv, "state"sv, "after"sv, "before"sv, "format"sv, "q"sv, ""sv}) {
    std::string v = req.query_param(name);
    bool has = req.has_query_param(name);
    FUZZ_CHECK(v.empty() || has);
  }
  for (auto name : {"baton_session"sv, "baton_handoff"sv, ""sv}) (void)req.cookie(name);
  for (auto name : {"host"sv, "origin"sv, "authorization"sv, "content-type"sv, "signature-input"sv})
    (void)req.header(name);
  FUZZ_CHECK(req.target.size() >= req.query.size());
  for (const auto& [k, v] : req.headers) {
    for (char c : k) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  }
  std::string round;
  if (baton::http::percent_decode(req.query, round, true)) (void)baton::http::percent_encode(round);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The defaults of [limits] (docs/operations.md), which the server runs with.
  baton::http::ServerOptions options;
  auto parsed = baton::http::parse_requests(bytes, options, "203.0.113.7");
  FUZZ_CHECK(parsed.error_status == 0 || parsed.error_status == 400 || parsed.error_status == 413 ||
             parsed.error_status == 431);
  for (const auto& p : parsed.requests) {
    FUZZ_CHECK(p.request.body.size() <= options.max_body_bytes);
    exercise(p.request);
  }
  // Smaller limits than the defaults take other paths through the parser.
  baton::http::ServerOptions tight;
  tight.max_body_bytes = 16;
  tight.max_header_bytes = 64;
  auto small = baton::http::parse_requests(bytes, tight);
  for (const auto& p : small.requests) FUZZ_CHECK(p.request.body.size() <= tight.max_body_bytes);
  return 0;
}
