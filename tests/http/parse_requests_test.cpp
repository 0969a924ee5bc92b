#include <gtest/gtest.h>

#include <string>

#include "baton/http/server.hpp"

namespace baton::http {
namespace {

TEST(ParseRequests, ConvertsPipelinedRequestsUntilOneCloses) {
  std::string bytes =
      "GET /chat%20page?site=a+b HTTP/1.1\r\nHost: x\r\nX-Thing: 1\r\n\r\n"
      "POST /join HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\ncode=abc"
      "GET /never HTTP/1.1\r\nHost: x\r\n\r\n";
  auto parsed = parse_requests(bytes, ServerOptions{});
  EXPECT_EQ(parsed.error_status, 0);
  ASSERT_EQ(parsed.requests.size(), 2u);
  const Request& first = parsed.requests[0].request;
  EXPECT_EQ(first.method, "GET");
  EXPECT_EQ(first.path, "/chat page");
  EXPECT_EQ(first.query_param("site"), "a b");
  EXPECT_EQ(first.header("x-thing"), "1");
  EXPECT_TRUE(parsed.requests[0].keep_alive);
  EXPECT_EQ(parsed.requests[1].request.body, "code=abc");
  EXPECT_FALSE(parsed.requests[1].keep_alive);
}

TEST(ParseRequests, AnswersLimitsAndMalformedRequestsAsTheServerDoes) {
  ServerOptions small;
  small.max_body_bytes = 4;
  small.max_header_bytes = 64;
  EXPECT_EQ(parse_requests("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n12345", small).error_status, 413);
  EXPECT_EQ(parse_requests("GET / HTTP/1.1\r\nX: " + std::string(100, 'a') + "\r\n\r\n", small).error_status, 431);
  EXPECT_EQ(parse_requests("NOT HTTP AT ALL\r\n\r\n", ServerOptions{}).error_status, 400);
  // Half a request, or nothing: the connection closes without an answer.
  auto half = parse_requests("GET / HTTP/1.1\r\nHost:", ServerOptions{});
  EXPECT_EQ(half.error_status, 0);
  EXPECT_TRUE(half.requests.empty());
  EXPECT_TRUE(parse_requests("", ServerOptions{}).requests.empty());
}

TEST(ParseRequests, StopsAtAWebSocketUpgrade) {
  auto parsed = parse_requests(
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nGET / HTTP/1.1\r\n\r\n",
      ServerOptions{});
  ASSERT_EQ(parsed.requests.size(), 1u);
  EXPECT_TRUE(parsed.requests[0].upgrade);
}

}  // namespace
}  // namespace baton::http
