#include "baton/app/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace baton::app {
namespace {

// A well-formed Argon2id hash (libsodium, password "lol"); parsing never hashes.
constexpr std::string_view kHash =
    "$argon2id$v=19$m=65536,t=2,p=1$ZrWMVZiMs4tvs0QwVc7T7A$"
    "LIl6XlgIZsuozRpC3bCe5ew8LEWgDQvQE8qwsZ9ISps";

std::string hash_line() { return "password_hash = \"" + std::string(kHash) + "\"\n"; }

// The smallest file that passes: the two required keys and one queue.
std::string minimal() {
  return "organization = \"Acme Bank\"\n"
         "public_url = \"https://chat.acme.example\"\n"
         "[[queues]]\n"
         "name = \"General\"\n";
}

std::string full() {
  return "organization = \"Acme Bank\"\n"
         "public_url = \"https://chat.acme.example/\"\n"
         "listen = \"0.0.0.0:8443\"\n"
         "data_dir = \"/var/lib/baton\"\n"
         "threads = 4\n"
         "\n"
         "[tls]\n"
         "cert = \"tls/cert.pem\"\n"
         "key = \"/etc/ssl/private/baton.key\"\n"
         "\n"
         "[limits]\n"
         "max_body_bytes = 131072\n"
         "max_frame_bytes = 32768\n"
         "max_message_bytes = 8000\n"
         "max_json_depth = 20\n"
         "max_header_bytes = 16384\n"
         "max_connections_per_ip = 64\n"
         "ws_queue_messages = 512\n"
         "ws_queue_bytes = 2097152\n"
         "idle_timeout_s = 45\n"
         "request_timeout_s = 20\n"
         "session_ttl_h = 8\n"
         "\n"
         "[[queues]]\n"
         "name = \"General\"\n"
         "\n"
         "[[queues]]\n"
         "name = \"Claims\"\n"
         "display_name = \"Insurance claims\"\n"
         "\n"
         "[[agents]]\n"
         "name = \"alice\"\n"
         "display_name = \"Alice Martin\"\n" +
         hash_line() +
         "queues = [\"General\", \"Claims\"]\n"
         "capacity = 5\n"
         "\n"
         "[[agents]]\n"
         "name = \"bob.smith\"\n" +
         hash_line() +
         "queues = [\"Claims\"]\n"
         "\n"
         "[[sites]]\n"
         "name = \"Main website\"\n"
         "origins = [\"https://www.acme.example\", \"HTTPS://Acme.Example:443\"]\n"
         "\n"
         "[[sites]]\n"
         "name = \"claims-portal\"\n"
         "origins = [\"http://localhost:3000\"]\n"
         "queue = \"Claims\"\n";
}

// The error message for `text`, or a failure if it parses.
std::string error_of(const std::string& text) {
  auto config = parse_config(text, "/etc/baton");
  if (config.ok()) return "<parsed without error>";
  EXPECT_EQ(config.error().code, core::Errc::bad_request) << config.error().message;
  return config.error().message;
}

#define EXPECT_ERROR_STARTS(text, prefix)                         \
  do {                                                            \
    const std::string message_ = error_of(text);                  \
    EXPECT_TRUE(message_.starts_with(prefix)) << message_;        \
  } while (false)

TEST(Config, FullFileParsesWithEveryValue) {
  auto parsed = parse_config(full(), "/etc/baton");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const Config& c = *parsed;
  EXPECT_EQ(c.organization, "Acme Bank");
  EXPECT_EQ(c.public_url, "https://chat.acme.example");
  EXPECT_EQ(c.listen, "0.0.0.0:8443");
  EXPECT_EQ(c.listen_host, "0.0.0.0");
  EXPECT_EQ(c.listen_port, 8443);
  EXPECT_EQ(c.data_dir, "/var/lib/baton");
  EXPECT_EQ(c.threads, 4);
  EXPECT_TRUE(c.tls_enabled());
  EXPECT_EQ(c.tls_cert, "/etc/baton/tls/cert.pem");
  EXPECT_EQ(c.tls_key, "/etc/ssl/private/baton.key");
  EXPECT_EQ(c.limits.max_body_bytes, 131072u);
  EXPECT_EQ(c.limits.max_frame_bytes, 32768u);
  EXPECT_EQ(c.limits.max_message_bytes, 8000u);
  EXPECT_EQ(c.limits.max_json_depth, 20);
  EXPECT_EQ(c.limits.max_header_bytes, 16384u);
  EXPECT_EQ(c.limits.max_connections_per_ip, 64u);
  EXPECT_EQ(c.limits.ws_queue_messages, 512u);
  EXPECT_EQ(c.limits.ws_queue_bytes, 2097152u);
  EXPECT_EQ(c.limits.idle_timeout_s, 45);
  EXPECT_EQ(c.limits.request_timeout_s, 20);
  EXPECT_EQ(c.limits.session_ttl_h, 8);
  ASSERT_EQ(c.queues.size(), 2u);
  EXPECT_EQ(c.queues[0].display_name, "General");
  EXPECT_EQ(c.queues[1].display_name, "Insurance claims");
  ASSERT_EQ(c.agents.size(), 2u);
  EXPECT_EQ(c.agents[0].display_name, "Alice Martin");
  EXPECT_EQ(c.agents[0].queues, (std::vector<std::string>{"General", "Claims"}));
  EXPECT_EQ(c.agents[0].capacity, 5);
  EXPECT_EQ(c.agents[1].display_name, "bob.smith");
  EXPECT_EQ(c.agents[1].capacity, 3);
  ASSERT_EQ(c.sites.size(), 2u);
  EXPECT_EQ(c.sites[0].origins,
            (std::vector<std::string>{"https://www.acme.example", "https://acme.example"}));
  EXPECT_EQ(c.sites[0].queue, "General");
  EXPECT_EQ(c.sites[1].queue, "Claims");
  EXPECT_EQ(c.config_dir, "/etc/baton");
}

TEST(Config, MinimalFileGetsEveryDefault) {
  auto parsed = parse_config(minimal(), "/etc/baton");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const Config& c = *parsed;
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.listen_host, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 8080);
  EXPECT_EQ(c.data_dir, "/etc/baton/data");
  EXPECT_EQ(c.threads, 0);
  EXPECT_FALSE(c.tls_enabled());
  EXPECT_EQ(c.limits, Limits{});
  EXPECT_EQ(c.limits.max_body_bytes, 65536u);
  EXPECT_EQ(c.limits.max_frame_bytes, 16384u);
  EXPECT_EQ(c.limits.max_message_bytes, 4000u);
  EXPECT_EQ(c.limits.max_json_depth, 16);
  EXPECT_EQ(c.limits.max_header_bytes, 8192u);
  EXPECT_EQ(c.limits.max_connections_per_ip, 256u);
  EXPECT_EQ(c.limits.ws_queue_messages, 256u);
  EXPECT_EQ(c.limits.ws_queue_bytes, 1048576u);
  EXPECT_EQ(c.limits.idle_timeout_s, 60);
  EXPECT_EQ(c.limits.request_timeout_s, 30);
  EXPECT_EQ(c.limits.session_ttl_h, 12);
  EXPECT_TRUE(c.agents.empty());
  EXPECT_TRUE(c.sites.empty());
}

TEST(Config, WithoutBaseDirPathsStayAsWritten) {
  auto parsed = parse_config(minimal(), "");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->data_dir, "./data");
}

TEST(Config, UnknownTopLevelKeyIsNamed) {
  EXPECT_EQ(error_of("organisation = \"x\"\n" + minimal()), "organisation: unknown key (line 1)");
}

TEST(Config, UnknownKeyInLimitsIsNamed) {
  EXPECT_ERROR_STARTS(minimal() + "[limits]\nmax_body_byte = 10\n",
                      "limits.max_body_byte: unknown key");
}

TEST(Config, UnknownKeyInAgentsIsNamed) {
  const std::string text = minimal() + "[[agents]]\nname = \"a\"\n" + hash_line() +
                           "queues = [\"General\"]\n[[agents]]\nname = \"b\"\n" + hash_line() +
                           "queues = [\"General\"]\ncapcity = 4\n";
  EXPECT_ERROR_STARTS(text, "agents[1].capcity: unknown key");
}

TEST(Config, UnknownKeyInTlsQueuesAndSitesIsNamed) {
  EXPECT_ERROR_STARTS(minimal() + "[tls]\ncertificate = \"c.pem\"\n", "tls.certificate: unknown key");
  EXPECT_ERROR_STARTS(minimal() + "colour = \"red\"\n", "queues[0].colour: unknown key");
  EXPECT_ERROR_STARTS(minimal() + "[[sites]]\nname = \"s\"\norigins = [\"https://a.example\"]\n"
                                  "queues = [\"General\"]\n",
                      "sites[0].queues: unknown key");
  EXPECT_ERROR_STARTS(minimal() + "\"odd key\" = 1\n", "queues[0].\"odd key\": unknown key");
}

TEST(Config, WrongTypesAreNamedWithWhatWasExpected) {
  EXPECT_ERROR_STARTS("organization = 5\npublic_url = \"https://a.example\"\n",
                      "organization: must be a string (found integer)");
  EXPECT_ERROR_STARTS("threads = \"4\"\n" + minimal(),
                      "threads: must be an integer from 0 to 64 (found string)");
  EXPECT_ERROR_STARTS("limits = 5\n" + minimal(), "limits: must be a table (found integer)");
  EXPECT_ERROR_STARTS(minimal() + "[limits]\nidle_timeout_s = 1.5\n",
                      "limits.idle_timeout_s: must be an integer from 5 to 3600 (found floating-point)");
  EXPECT_ERROR_STARTS(minimal() + "[[agents]]\nname = \"a\"\n" + hash_line() + "queues = \"General\"\n",
                      "agents[0].queues: must be an array of strings (found string)");
  EXPECT_ERROR_STARTS(minimal() + "[[agents]]\nname = \"a\"\n" + hash_line() +
                          "queues = [\"General\", 3]\n",
                      "agents[0].queues[1]: must be a string (found integer)");
  EXPECT_ERROR_STARTS("agents = 1\n" + minimal(), "agents: must be an array of tables");
}

TEST(Config, CapacityOutOfRangeIsNamed) {
  for (const char* capacity : {"0", "101", "-1", "1000000000000", "3.0", "\"3\""}) {
    EXPECT_ERROR_STARTS(minimal() + "[[agents]]\nname = \"a\"\n" + hash_line() +
                            "queues = [\"General\"]\ncapacity = " + capacity + "\n",
                        "agents[0].capacity: must be an integer from 1 to 100");
  }
}

TEST(Config, LimitsOutOfRangeAreNamed) {
  EXPECT_ERROR_STARTS(minimal() + "[limits]\nmax_body_bytes = 0\n",
                      "limits.max_body_bytes: must be an integer from");
  EXPECT_ERROR_STARTS(minimal() + "[limits]\nmax_message_bytes = 20000\n",
                      "limits.max_message_bytes: must be smaller than limits.max_frame_bytes");
  EXPECT_ERROR_STARTS("threads = 65\n" + minimal(), "threads: must be an integer from 0 to 64");
}

TEST(Config, MissingRequiredKeysAreNamed) {
  EXPECT_ERROR_STARTS("public_url = \"https://a.example\"\n[[queues]]\nname = \"G\"\n",
                      "organization: missing");
  EXPECT_ERROR_STARTS("organization = \"A\"\n[[queues]]\nname = \"G\"\n", "public_url: missing");
  EXPECT_ERROR_STARTS("organization = \"A\"\npublic_url = \"https://a.example\"\n",
                      "queues: at least one [[queues]] entry is required");
  EXPECT_ERROR_STARTS(minimal() + "[[agents]]\nname = \"a\"\nqueues = [\"General\"]\n",
                      "agents[0].password_hash: missing");
}

TEST(Config, AgentQueueMustBeDefined) {
  EXPECT_ERROR_STARTS(minimal() + "[[agents]]\nname = \"a\"\n" + hash_line() +
                          "queues = [\"General\", \"Sales\"]\n",
                      "agents[0].queues[1]: queue \"Sales\" is not defined");
  EXPECT_ERROR_STARTS(minimal() + "[[agents]]\nname = \"a\"\n" + hash_line() + "queues = []\n",
                      "agents[0].queues: must list at least one queue");
}

TEST(Config, DuplicateNamesAreRefused) {
  EXPECT_ERROR_STARTS(minimal() + "[[queues]]\nname = \"general\"\n",
                      "queues[1].name: queue \"general\" is already defined by queues[0]");
  const std::string agent = "[[agents]]\nname = \"a\"\n" + hash_line() + "queues = [\"General\"]\n";
  EXPECT_ERROR_STARTS(minimal() + agent + agent,
                      "agents[1].name: agent \"a\" is already defined by agents[0]");
  const std::string site = "[[sites]]\nname = \"web\"\norigins = [\"https://a.example\"]\n";
  EXPECT_ERROR_STARTS(minimal() + site + site, "sites[1].name: site \"web\" is already defined");
  EXPECT_ERROR_STARTS(minimal() + site + "[[sites]]\nname = \"other\"\norigins = [\"https://A.example/\"]\n",
                      "sites[1].origins[0]: origin \"https://a.example\" is already listed at "
                      "sites[0].origins[0]");
}

TEST(Config, BadNamesAreRefused) {
  EXPECT_ERROR_STARTS(minimal() + "[[agents]]\nname = \"Alice\"\n" + hash_line() +
                          "queues = [\"General\"]\n",
                      "agents[0].name: must be 1 to 64 characters of a-z");
  EXPECT_ERROR_STARTS(minimal() + "[[queues]]\nname = \"Sales/EU\"\n", "queues[1].name: must be");
  EXPECT_ERROR_STARTS(minimal() + "[[queues]]\nname = \" Sales\"\n", "queues[1].name: must be");
  EXPECT_ERROR_STARTS(minimal() + "[[queues]]\nname = \"" + std::string(65, 'q') + "\"\n",
                      "queues[1].name: must be");
  EXPECT_ERROR_STARTS(minimal() + "display_name = \"bell\\u0007\"\n",
                      "queues[0].display_name: must be 1 to 64 characters");
}

TEST(Config, BadPasswordHashIsRefused) {
  EXPECT_ERROR_STARTS(minimal() + "[[agents]]\nname = \"a\"\npassword_hash = \"demo\"\n"
                                  "queues = [\"General\"]\n",
                      "agents[0].password_hash: must be an Argon2id hash");
}

TEST(Config, BadListenIsRefused) {
  for (const char* listen : {"8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:8080",
                             "[::1]", "[::1]8080", "[zz]:80", ":8080", "host name:80", "a:b"}) {
    EXPECT_ERROR_STARTS("listen = \"" + std::string(listen) + "\"\n" + minimal(),
                        "listen: must be host:port");
  }
}

TEST(Config, ListenAcceptsNamesAndIpv6InBrackets) {
  auto v6 = parse_config("listen = \"[::1]:9000\"\n" + minimal(), "");
  ASSERT_TRUE(v6.ok()) << v6.error().message;
  EXPECT_EQ(v6->listen_host, "::1");
  EXPECT_EQ(v6->listen_port, 9000);
  auto any = parse_config("listen = \"localhost:0\"\n" + minimal(), "");
  ASSERT_TRUE(any.ok()) << any.error().message;
  EXPECT_EQ(any->listen_host, "localhost");
  EXPECT_EQ(any->listen_port, 0);
}

TEST(Config, BadPublicUrlIsRefused) {
  for (const char* url : {"chat.acme.example", "ftp://chat.acme.example", "https://",
                          "https://chat.acme.example/baton", "https://chat.acme.example/?a=1",
                          "https://chat.acme.example#x", "https://user@chat.acme.example",
                          "https://chat.acme.example:0", "https://chat.acme.example:99999"}) {
    EXPECT_ERROR_STARTS("organization = \"A\"\npublic_url = \"" + std::string(url) +
                            "\"\n[[queues]]\nname = \"G\"\n",
                        "public_url: must be an absolute http:// or https:// URL");
  }
}

TEST(Config, PublicUrlKeepsPortAndLosesTrailingSlash) {
  auto parsed = parse_config("organization = \"A\"\npublic_url = \"http://127.0.0.1:8080/\"\n"
                             "[[queues]]\nname = \"G\"\n",
                             "");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->public_url, "http://127.0.0.1:8080");
}

TEST(Config, BadOriginIsRefused) {
  const auto site = [](const std::string& origin) {
    return minimal() + "[[sites]]\nname = \"web\"\norigins = [\"" + origin + "\"]\n";
  };
  EXPECT_ERROR_STARTS(site("*"), "sites[0].origins[0]: \"*\" is not allowed");
  for (const char* origin : {"www.acme.example", "https://www.acme.example/shop",
                             "https://www.acme.example?x", "file:///tmp", "null", ""}) {
    EXPECT_ERROR_STARTS(site(origin), "sites[0].origins[0]: must be a web origin");
  }
  EXPECT_ERROR_STARTS(minimal() + "[[sites]]\nname = \"web\"\norigins = []\n",
                      "sites[0].origins: must list at least one origin");
  EXPECT_ERROR_STARTS(minimal() + "[[sites]]\nname = \"web\"\norigins = [\"https://a.example\"]\n"
                                  "queue = \"Sales\"\n",
                      "sites[0].queue: queue \"Sales\" is not defined");
}

TEST(Config, TlsNeedsBothCertAndKey) {
  EXPECT_ERROR_STARTS(minimal() + "[tls]\ncert = \"cert.pem\"\n", "tls.key: missing");
  EXPECT_ERROR_STARTS(minimal() + "[tls]\nkey = \"key.pem\"\n", "tls.cert: missing");
}

TEST(Config, SyntaxErrorGivesLineAndColumn) {
  const std::string message = error_of("organization = \"A\"\npublic_url = \n");
  EXPECT_TRUE(message.starts_with("line 2, column ")) << message;
}

TEST(Config, ValueErrorsGiveTheLine) {
  const std::string message =
      error_of(minimal() + "[[agents]]\nname = \"a\"\n" + hash_line() +
               "queues = [\"General\"]\ncapacity = 500\n");
  EXPECT_EQ(message, "agents[0].capacity: must be an integer from 1 to 100 (line 9)");
}

TEST(Config, RoundTripPreservesEveryValue) {
  auto parsed = parse_config(full(), "/etc/baton");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  Config original = *parsed;
  // Strings that need escaping survive too.
  original.organization = "Acme \"Bank\" \\ Ünïcødé ✓";
  original.queues[1].display_name = "Claims 'n' \"more\" \\n";
  original.data_dir = "/etc/baton/state/data";

  const std::string text = to_toml(original);
  auto again = parse_config(text, "/etc/baton");
  ASSERT_TRUE(again.ok()) << again.error().message << "\n" << text;
  EXPECT_EQ(*again, original) << text;
  // Paths inside the config folder are written relative to it.
  EXPECT_NE(text.find("data_dir = \"state/data\""), std::string::npos) << text;
  EXPECT_NE(text.find("cert = \"tls/cert.pem\""), std::string::npos) << text;
}

TEST(Config, RoundTripOfMinimalFileIsEqualAndShort) {
  auto parsed = parse_config(minimal(), "/etc/baton");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const std::string text = to_toml(*parsed);
  EXPECT_EQ(text.find("[limits]"), std::string::npos) << text;
  auto again = parse_config(text, "/etc/baton");
  ASSERT_TRUE(again.ok()) << again.error().message << "\n" << text;
  EXPECT_EQ(*again, *parsed);
}

TEST(Config, ValidateChecksConfigBuiltInCode) {
  Config c;
  c.organization = "Acme";
  c.public_url = "https://chat.acme.example/";
  c.listen = "[::]:0";
  c.queues.push_back({"General", ""});
  c.agents.push_back({"alice", "", std::string(kHash), {"General"}, 3});
  ASSERT_TRUE(validate_config(c).ok());
  EXPECT_EQ(c.public_url, "https://chat.acme.example");
  EXPECT_EQ(c.listen_host, "::");
  EXPECT_EQ(c.listen_port, 0);
  EXPECT_EQ(c.queues[0].display_name, "General");
  EXPECT_EQ(c.agents[0].display_name, "alice");

  c.agents[0].capacity = 0;
  auto status = validate_config(c);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message, "agents[0].capacity: must be an integer from 1 to 100");
}

TEST(Config, AgentProfilesCarryWhatTheDeskNeeds) {
  auto parsed = parse_config(full(), "");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const auto profiles = agent_profiles(*parsed);
  ASSERT_EQ(profiles.size(), 2u);
  EXPECT_EQ(profiles[0].name, "alice");
  EXPECT_EQ(profiles[0].display_name, "Alice Martin");
  EXPECT_EQ(profiles[0].queues, (std::vector<std::string>{"General", "Claims"}));
  EXPECT_EQ(profiles[0].capacity, 5);
  EXPECT_EQ(profiles[1].display_name, "bob.smith");
}

TEST(Config, LoadResolvesPathsAgainstTheFilesFolder) {
  char dir_template[] = "/tmp/baton-config-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::filesystem::path dir = dir_template;
  const auto path = dir / "baton.toml";
  std::ofstream(path) << "data_dir = \"state\"\n" << minimal();
  auto loaded = load_config(path.string());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->data_dir, (dir / "state").string());
  EXPECT_EQ(loaded->config_dir, dir.string());
  std::filesystem::remove_all(dir);
}

TEST(Config, LoadOfMissingFileIsNotFound) {
  auto loaded = load_config("/nonexistent/baton.toml");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, core::Errc::not_found);
  EXPECT_NE(loaded.error().message.find("/nonexistent/baton.toml"), std::string::npos);
}

}  // namespace
}  // namespace baton::app
