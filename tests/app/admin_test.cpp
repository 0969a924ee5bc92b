#include "baton/app/admin.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "baton/app/config.hpp"
#include "baton/federation/password.hpp"
#include "baton/storage/sqlite_store.hpp"

namespace baton::app {
namespace {

namespace fs = std::filesystem;

// alice's password is "lol" (a hash made by libsodium elsewhere).
constexpr std::string_view kLolHash =
    "$argon2id$v=19$m=65536,t=2,p=1$ZrWMVZiMs4tvs0QwVc7T7A$"
    "LIl6XlgIZsuozRpC3bCe5ew8LEWgDQvQE8qwsZ9ISps";

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// A config file in a fresh temporary folder, removed afterwards.
class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/baton-admin-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    path_ = (dir_ / "baton.toml").string();
    std::ofstream(path_) << "# hand-written comment\n"
                            "organization = \"Acme Bank\"\n"
                            "public_url = \"https://chat.acme.example\"\n"
                            "[[queues]]\n"
                            "name = \"General\"\n"
                            "[[agents]]\n"
                            "name = \"alice\"\n"
                            "password_hash = \""
                         << kLolHash
                         << "\"\n"
                            "queues = [\"General\"]\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  Config load() {
    auto config = load_config(path_);
    EXPECT_TRUE(config.ok()) << config.error().message;
    return config.ok() ? *config : Config{};
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(AdminTest, AgentAddWritesAnAgentWhosePasswordVerifies) {
  const auto status =
      agent_add(path_, AgentAddArgs{"bob", "Bob Stone", {"General"}, 4, "hunter2 and more"});
  ASSERT_TRUE(status.ok()) << status.error().message;
  const Config config = load();
  const AgentConfig* bob = config.find_agent("bob");
  ASSERT_NE(bob, nullptr);
  EXPECT_EQ(bob->display_name, "Bob Stone");
  EXPECT_EQ(bob->queues, std::vector<std::string>{"General"});
  EXPECT_EQ(bob->capacity, 4);
  EXPECT_TRUE(federation::verify_password(bob->password_hash, "hunter2 and more"));
  // The agent already there is kept as it was.
  ASSERT_NE(config.find_agent("alice"), nullptr);
  EXPECT_EQ(config.find_agent("alice")->password_hash, kLolHash);
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(AdminTest, AgentAddOfExistingAgentIsConflictAndLeavesFileUnchanged) {
  const std::string before = read_file(path_);
  const auto status = agent_add(path_, AgentAddArgs{"alice", "", {"General"}, 3, "secret"});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::Errc::conflict);
  EXPECT_EQ(read_file(path_), before);
}

TEST_F(AdminTest, AgentAddWithUndefinedQueueIsRefusedAndLeavesFileUnchanged) {
  const std::string before = read_file(path_);
  const auto status = agent_add(path_, AgentAddArgs{"carol", "", {"Sales"}, 3, "secret"});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::Errc::bad_request);
  EXPECT_TRUE(status.error().message.starts_with("agents[1].queues[0]: queue \"Sales\""))
      << status.error().message;
  EXPECT_EQ(read_file(path_), before);
}

TEST_F(AdminTest, AgentAddWithEmptyPasswordIsRefused) {
  const auto status = agent_add(path_, AgentAddArgs{"carol", "", {"General"}, 3, ""});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::Errc::bad_request);
  EXPECT_EQ(load().find_agent("carol"), nullptr);
}

TEST_F(AdminTest, AgentPasswdReplacesThePassword) {
  ASSERT_TRUE(federation::verify_password(load().find_agent("alice")->password_hash, "lol"));
  const auto status = agent_passwd(path_, "alice", "a new password");
  ASSERT_TRUE(status.ok()) << status.error().message;
  const std::string hash = load().find_agent("alice")->password_hash;
  EXPECT_TRUE(federation::verify_password(hash, "a new password"));
  EXPECT_FALSE(federation::verify_password(hash, "lol"));
}

TEST_F(AdminTest, AgentPasswdEndsThatAgentsStoredSessions) {
  const std::string data_dir = load().data_dir;
  fs::create_directories(data_dir);
  const std::string db = (fs::path(data_dir) / "baton.db").string();
  {
    auto store = storage::SqliteStore::open(db);
    ASSERT_TRUE(store.ok()) << store.error().message;
    for (auto [hash, agent] : {std::pair{"h-alice", "alice"}, std::pair{"h-bob", "bob"}}) {
      core::Write w;
      w.put_session = core::AgentSession{hash, agent, 1, 4'000'000'000'000};
      (*store)->write(std::move(w), [](core::Result<core::WriteResult>) {});
    }
    (*store)->flush();
  }
  const auto status = agent_passwd(path_, "alice", "a new password");
  ASSERT_TRUE(status.ok()) << status.error().message;
  auto store = storage::SqliteStore::open(db);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto alice = (*store)->session("h-alice");
  ASSERT_TRUE(alice.ok());
  EXPECT_FALSE(alice->has_value());  // signed in with the old password: gone
  auto bob = (*store)->session("h-bob");
  ASSERT_TRUE(bob.ok());
  EXPECT_TRUE(bob->has_value());  // someone else's: kept
}

TEST_F(AdminTest, AgentPasswdRepairsAHandWrittenHash) {
  std::string text = read_file(path_);
  text.replace(text.find(kLolHash), kLolHash.size(), "changeme");
  std::ofstream(path_) << text;
  ASSERT_FALSE(load_config(path_).ok());
  const auto status = agent_passwd(path_, "alice", "a real password");
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_TRUE(federation::looks_like_password_hash(load().find_agent("alice")->password_hash));
}

TEST_F(AdminTest, AgentPasswdOfUnknownAgentIsNotFound) {
  const auto status = agent_passwd(path_, "mallory", "secret");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::Errc::not_found);
}

TEST_F(AdminTest, QueueAddAppendsAQueue) {
  const auto status = queue_add(path_, "Claims", "Insurance claims");
  ASSERT_TRUE(status.ok()) << status.error().message;
  const Config config = load();
  ASSERT_EQ(config.queues.size(), 2u);
  EXPECT_EQ(config.queues[1].name, "Claims");
  EXPECT_EQ(config.queues[1].display_name, "Insurance claims");
  // The rewrite drops comments, and says so in the file.
  const std::string text = read_file(path_);
  EXPECT_EQ(text.find("hand-written comment"), std::string::npos);
  EXPECT_NE(text.find("comments"), std::string::npos);
}

TEST_F(AdminTest, QueueAddOfExistingQueueIsConflictWhateverTheCase) {
  const std::string before = read_file(path_);
  for (const char* name : {"General", "general"}) {
    const auto status = queue_add(path_, name, "");
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, core::Errc::conflict);
  }
  EXPECT_EQ(read_file(path_), before);
}

TEST_F(AdminTest, QueueAddWithBadNameIsRefused) {
  const auto status = queue_add(path_, "Claims/EU", "");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::Errc::bad_request);
  EXPECT_TRUE(status.error().message.starts_with("queues[1].name:")) << status.error().message;
}

TEST_F(AdminTest, EditKeepsTheFileMode) {
  ASSERT_EQ(::chmod(path_.c_str(), 0640), 0);
  ASSERT_TRUE(queue_add(path_, "Claims", "").ok());
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(AdminTest, EditReplacesTheTargetOfASymlink) {
  const fs::path link = dir_ / "link.toml";
  fs::create_symlink(path_, link);
  ASSERT_TRUE(queue_add(link.string(), "Claims", "").ok());
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(load().queues.size(), 2u);
}

TEST_F(AdminTest, EditOfMissingFileIsNotFound) {
  const auto status = queue_add((dir_ / "missing.toml").string(), "Claims", "");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::Errc::not_found);
}

TEST(ReadPassword, FromStdinReadsOneLine) {
  std::istringstream in("s3cret words\nnext line\n");
  auto password = read_password(in, false);
  ASSERT_TRUE(password.ok()) << password.error().message;
  EXPECT_EQ(*password, "s3cret words");
}

TEST(ReadPassword, FromStdinDropsCarriageReturnAndAcceptsMissingNewline) {
  std::istringstream crlf("s3cret\r\n");
  EXPECT_EQ(read_password(crlf, false).value(), "s3cret");
  std::istringstream bare("s3cret");
  EXPECT_EQ(read_password(bare, false).value(), "s3cret");
}

TEST(ReadPassword, FromStdinRefusesEmptyAndOverlongInput) {
  std::istringstream nothing("");
  EXPECT_EQ(read_password(nothing, false).error().code, core::Errc::bad_request);
  std::istringstream empty_line("\n");
  EXPECT_EQ(read_password(empty_line, false).error().code, core::Errc::bad_request);
  std::istringstream overlong(std::string(federation::kMaxPasswordBytes + 1, 'x') + "\n");
  EXPECT_EQ(read_password(overlong, false).error().code, core::Errc::too_large);
  std::istringstream longest(std::string(federation::kMaxPasswordBytes, 'x') + "\n");
  EXPECT_TRUE(read_password(longest, false).ok());
}

}  // namespace
}  // namespace baton::app
