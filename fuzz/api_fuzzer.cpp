// HTTP request handling end to end, without the socket: the bytes of a
// connection through the server's parser and limits (http::parse_requests), then
// each request through ApiService's routing and handlers (or its WebSocket
// upgrade decision) on a live organization (fuzz/harness.hpp). Inputs may name
// the harness's conversation and tokens with placeholders of the same length.
#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/check.hpp"
#include "fuzz/harness.hpp"
#include "baton/http/server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& org = baton::fuzz::Org::get();
  org.begin_input();
  std::string bytes = org.replace_placeholders(std::string_view(reinterpret_cast<const char*>(data), size));
  baton::http::ServerOptions options;  // the [limits] defaults
  auto parsed = baton::http::parse_requests(bytes, options, "203.0.113.7");
  for (auto& p : parsed.requests) {
    if (p.upgrade) {
      // What upgrade() decides; the realtime fuzzer drives accepted sockets.
      continue;
    }
    std::string line = p.request.method + " " + p.request.target;
    auto res = org.handle(std::move(p.request));
    if (std::getenv("FUZZ_VERBOSE")) std::fprintf(stderr, "%s -> %d %.200s\n", line.c_str(), res.status, res.body.c_str());
    FUZZ_CHECK(res.status >= 100 && res.status <= 599);
    // Every error the API answers is {"error": {"code", "message"}}.
    if (res.status >= 400 && res.content_type == "application/json") {
      boost::system::error_code ec;
      auto v = boost::json::parse(res.body, ec);
      FUZZ_CHECK(!ec && v.is_object() && v.as_object().contains("error"));
    }
    for (const auto& [name, value] : res.headers)
      FUZZ_CHECK(value.find('\r') == std::string::npos && value.find('\n') == std::string::npos);
  }
  return 0;
}
