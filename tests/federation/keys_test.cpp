#include "baton/federation/keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "base64.hpp"

namespace baton::federation {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp folder, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "baton-keys-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

std::string raw(const PublicKey& key) {
  return {reinterpret_cast<const char*>(key.bytes.data()), key.bytes.size()};
}

TEST(Keys, GeneratedKeysSignAndVerify) {
  KeyPair a = generate_key_pair();
  KeyPair b = generate_key_pair();
  EXPECT_NE(a.public_key, b.public_key);
  std::string signature = sign_detached(a.secret_key, "message");
  EXPECT_EQ(signature.size(), kSignatureBytes);
  EXPECT_TRUE(verify_detached(a.public_key, "message", signature));
  EXPECT_FALSE(verify_detached(a.public_key, "messagE", signature));
  EXPECT_FALSE(verify_detached(b.public_key, "message", signature));
  EXPECT_FALSE(verify_detached(a.public_key, "message", signature.substr(1)));
}

TEST(Keys, PublicKeyFormatRoundTrips) {
  KeyPair pair = generate_key_pair();
  std::string text = format_public_key(pair.public_key);
  EXPECT_EQ(text.substr(0, 8), "ed25519:");
  EXPECT_EQ(text.size(), 8u + 44u);
  auto parsed = parse_public_key(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, pair.public_key);
}

TEST(Keys, ParsePublicKeyExplainsWhatIsWrong) {
  KeyPair pair = generate_key_pair();
  std::string good = format_public_key(pair.public_key);
  struct Case {
    std::string text;
    std::string says;
  };
  for (const Case& c : {
           Case{good.substr(8), "must start with"},
           Case{"ED25519:" + good.substr(8), "must start with"},
           Case{"ed25519:", "bytes"},
           Case{"ed25519:" + good.substr(8, 40), "30 bytes"},
           Case{"ed25519:" + base64_encode(raw(pair.public_key) + "x"), "33 bytes"},
           Case{"ed25519:" + base64_encode(raw(pair.public_key), Base64Alphabet::url), "base64"},
           Case{"ed25519:" + base64_encode(std::string(32, '\0')), "not a valid Ed25519 point"},
           Case{good + " ", "base64"},
       }) {
    auto parsed = parse_public_key(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.error().code, core::Errc::bad_request);
    EXPECT_NE(parsed.error().message.find(c.says), std::string::npos)
        << c.text << " -> " << parsed.error().message;
  }
}

TEST(Keys, KeyIdIsTruncatedSha256Base64url) {
  KeyPair pair = generate_key_pair();
  std::string id = key_id(pair.public_key);
  EXPECT_EQ(id.size(), 22u);
  EXPECT_EQ(id.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_EQ(key_id(pair.public_key), id);
  EXPECT_NE(key_id(generate_key_pair().public_key), id);
}

TEST(Keys, SeedGivesRfc8032Key) {
  // RFC 9421 Appendix B.1.4 test-key-ed25519: seed and public key.
  auto seed = base64_decode("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU", Base64Alphabet::url,
                            Base64Padding::none, true);
  ASSERT_TRUE(seed);
  auto pair = key_pair_from_seed(*seed);
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(format_public_key(pair->public_key), "ed25519:JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=");
  EXPECT_EQ(pair->secret_key.seed(), *seed);
  EXPECT_FALSE(key_pair_from_seed("short").ok());
}

TEST(Keys, SecretKeyFileRoundTripsWithMode0600) {
  TempDir dir;
  fs::path file = dir.path() / "federation.key";
  KeyPair pair = generate_key_pair();
  ASSERT_TRUE(save_secret_key(file, pair).ok());
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto loaded = load_secret_key(file);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->public_key, pair.public_key);
  EXPECT_TRUE(verify_detached(pair.public_key, "m", sign_detached(loaded->secret_key, "m")));
  // Nothing but the key is left in the folder.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(Keys, SaveNeverReplacesAnExistingKey) {
  TempDir dir;
  fs::path file = dir.path() / "federation.key";
  KeyPair first = generate_key_pair();
  ASSERT_TRUE(save_secret_key(file, first).ok());
  auto again = save_secret_key(file, generate_key_pair());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, core::Errc::conflict);
  EXPECT_EQ(load_secret_key(file)->public_key, first.public_key);
}

TEST(Keys, LoadRefusesMissingFile) {
  TempDir dir;
  auto loaded = load_secret_key(dir.path() / "absent.key");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, core::Errc::not_found);
  EXPECT_NE(loaded.error().message.find("absent.key"), std::string::npos);
  EXPECT_NE(loaded.error().message.find("does not exist"), std::string::npos);
}

TEST(Keys, LoadRefusesFileOpenToOthers) {
  TempDir dir;
  fs::path file = dir.path() / "federation.key";
  ASSERT_TRUE(save_secret_key(file, generate_key_pair()).ok());
  for (mode_t mode : {0644, 0640, 0604, 0660, 0700 | 0007}) {
    ::chmod(file.c_str(), mode);
    auto loaded = load_secret_key(file);
    ASSERT_FALSE(loaded.ok()) << std::oct << mode;
    EXPECT_EQ(loaded.error().code, core::Errc::forbidden);
    EXPECT_NE(loaded.error().message.find("chmod 600"), std::string::npos) << loaded.error().message;
  }
  ::chmod(file.c_str(), 0400);
  EXPECT_TRUE(load_secret_key(file).ok());
}

TEST(Keys, LoadRefusesUnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  TempDir dir;
  fs::path file = dir.path() / "federation.key";
  ASSERT_TRUE(save_secret_key(file, generate_key_pair()).ok());
  ::chmod(file.c_str(), 0000);
  auto loaded = load_secret_key(file);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, core::Errc::forbidden);
  EXPECT_NE(loaded.error().message.find("not readable"), std::string::npos);
}

TEST(Keys, LoadRefusesMalformedContent) {
  TempDir dir;
  KeyPair pair = generate_key_pair();
  struct Case {
    std::string content;
    std::string says;
  };
  for (const Case& c : {
           Case{"", "empty"},
           Case{"\n", "empty"},
           Case{"not base64!\n", "32-byte"},
           Case{base64_encode(std::string(31, 'x')) + "\n", "32-byte"},
           Case{base64_encode(std::string(64, 'x')) + "\n", "32-byte"},
           Case{format_public_key(pair.public_key) + "\n", "public key"},
           Case{std::string(5000, 'A'), "bytes"},
       }) {
    fs::path file = dir.path() / "bad.key";
    fs::remove(file);
    write_file(file, c.content, 0600);
    auto loaded = load_secret_key(file);
    ASSERT_FALSE(loaded.ok()) << c.content.substr(0, 40);
    EXPECT_EQ(loaded.error().code, core::Errc::bad_request);
    EXPECT_NE(loaded.error().message.find(c.says), std::string::npos) << loaded.error().message;
  }
  auto directory = load_secret_key(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.error().message.find("not a regular file"), std::string::npos);
}

TEST(Keys, LoadAcceptsTrailingWhitespace) {
  TempDir dir;
  KeyPair pair = generate_key_pair();
  fs::path file = dir.path() / "k";
  write_file(file, base64_encode(pair.secret_key.seed()) + " \r\n\n", 0600);
  auto loaded = load_secret_key(file);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->public_key, pair.public_key);
}

}  // namespace
}  // namespace baton::federation
