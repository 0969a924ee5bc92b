#include "baton/federation/keys.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "baton/core/text.hpp"
#include "base64.hpp"

namespace baton::federation {
namespace {

void init_sodium() {
  static const bool ready = [] {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    return true;
  }();
  (void)ready;
}

// The largest key file we read: a 44-character line with room for whitespace.
constexpr std::size_t kMaxKeyFileBytes = 1024;

std::string os_error(int err) { return std::strerror(err); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

SecretKey::SecretKey() = default;

SecretKey::~SecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

SecretKey::SecretKey(const SecretKey& other) : bytes_(other.bytes_) {}

SecretKey& SecretKey::operator=(const SecretKey& other) {
  bytes_ = other.bytes_;
  return *this;
}

std::string_view SecretKey::seed() const {
  return {reinterpret_cast<const char*>(bytes_.data()), kSeedBytes};
}

KeyPair generate_key_pair() {
  init_sodium();
  KeyPair pair;
  crypto_sign_keypair(pair.public_key.bytes.data(), pair.secret_key.data());
  return pair;
}

core::Result<KeyPair> key_pair_from_seed(std::string_view seed) {
  if (seed.size() != kSeedBytes) {
    return core::Error{core::Errc::bad_request, "an Ed25519 seed is 32 bytes, not " +
                                                    std::to_string(seed.size())};
  }
  init_sodium();
  KeyPair pair;
  crypto_sign_seed_keypair(pair.public_key.bytes.data(), pair.secret_key.data(),
                           reinterpret_cast<const unsigned char*>(seed.data()));
  return pair;
}

std::string format_public_key(const PublicKey& key) {
  return std::string(kPublicKeyPrefix) +
         base64_encode({reinterpret_cast<const char*>(key.bytes.data()), key.bytes.size()});
}

core::Result<PublicKey> parse_public_key(std::string_view text) {
  if (text.substr(0, kPublicKeyPrefix.size()) != kPublicKeyPrefix) {
    return core::Error{core::Errc::bad_request,
                       "public key must start with \"ed25519:\" followed by base64"};
  }
  auto raw = base64_decode(text.substr(kPublicKeyPrefix.size()), Base64Alphabet::standard,
                           Base64Padding::required, /*canonical=*/true);
  if (!raw) {
    return core::Error{core::Errc::bad_request,
                       "public key after \"ed25519:\" is not valid base64 (with '=' padding)"};
  }
  if (raw->size() != kPublicKeyBytes) {
    return core::Error{core::Errc::bad_request, "public key is " + std::to_string(raw->size()) +
                                                    " bytes; an Ed25519 key is 32"};
  }
  init_sodium();
  PublicKey key;
  std::memcpy(key.bytes.data(), raw->data(), kPublicKeyBytes);
  if (crypto_core_ed25519_is_valid_point(key.bytes.data()) != 1) {
    return core::Error{core::Errc::bad_request, "public key is not a valid Ed25519 point"};
  }
  return key;
}

std::string key_id(const PublicKey& key) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, key.bytes.data(), key.bytes.size());
  return core::base64url_encode(digest, 16);
}

core::Status save_secret_key(const std::filesystem::path& path, const KeyPair& pair) {
  init_sodium();
  const std::string where = path.string();
  // A random name beside the target, so that a crash leaves no half-written key
  // under the real name and two writers do not collide.
  unsigned char suffix[8];
  randombytes_buf(suffix, sizeof suffix);
  const std::string tmp = where + ".tmp-" + core::hex_encode(suffix, sizeof suffix);

  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    int err = errno;
    return core::Error{err == EACCES ? core::Errc::forbidden : core::Errc::unavailable,
                       "cannot create secret key file next to " + where + ": " + os_error(err)};
  }
  // The umask may have taken bits away; make sure the mode is exactly 0600.
  std::string line = base64_encode(pair.secret_key.seed()) + "\n";
  bool ok = ::fchmod(fd.get(), 0600) == 0 && write_all(fd.get(), line) && ::fsync(fd.get()) == 0;
  int err = errno;
  sodium_memzero(line.data(), line.size());
  int raw_fd = fd.release();
  if (::close(raw_fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return core::Error{core::Errc::unavailable,
                       "cannot write secret key file " + tmp + ": " + os_error(err)};
  }
  // link() fails with EEXIST instead of replacing: an existing key is never lost.
  if (::link(tmp.c_str(), where.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST) {
      return core::Error{core::Errc::conflict,
                         "secret key file " + where + " already exists; not replacing it"};
    }
    return core::Error{core::Errc::unavailable,
                       "cannot create secret key file " + where + ": " + os_error(err)};
  }
  ::unlink(tmp.c_str());
  std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) ::fsync(dir_fd.get());
  return core::ok_status();
}

core::Result<KeyPair> load_secret_key(const std::filesystem::path& path) {
  const std::string where = path.string();
  // O_NONBLOCK: a FIFO put there must not hang the server at start-up.
  Fd fd(::open(where.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) {
      return core::Error{core::Errc::not_found,
                         "secret key file " + where + " does not exist (create one with keygen)"};
    }
    if (err == EACCES || err == EPERM) {
      return core::Error{core::Errc::forbidden,
                         "secret key file " + where + " is not readable: " + os_error(err)};
    }
    return core::Error{core::Errc::unavailable,
                       "cannot open secret key file " + where + ": " + os_error(err)};
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return core::Error{core::Errc::unavailable,
                       "cannot stat secret key file " + where + ": " + os_error(errno)};
  }
  if (!S_ISREG(st.st_mode)) {
    return core::Error{core::Errc::bad_request, "secret key file " + where + " is not a regular file"};
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return core::Error{core::Errc::forbidden, "secret key file " + where + " has mode " + mode +
                                                  ", open to group or others; run: chmod 600 " +
                                                  where};
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxKeyFileBytes) {
    return core::Error{core::Errc::bad_request, "secret key file " + where + " is " +
                                                    std::to_string(st.st_size) +
                                                    " bytes; a key file is one line of base64"};
  }
  std::string text(kMaxKeyFileBytes + 1, '\0');
  std::size_t used = 0;
  while (used < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      sodium_memzero(text.data(), text.size());
      return core::Error{core::Errc::unavailable,
                         "cannot read secret key file " + where + ": " + os_error(err)};
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  std::string_view content(text.data(), used);
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r' ||
                              content.back() == ' ' || content.back() == '\t')) {
    content.remove_suffix(1);
  }
  auto malformed = [&](const std::string& why) {
    sodium_memzero(text.data(), text.size());
    return core::Error{core::Errc::bad_request, "secret key file " + where + " " + why};
  };
  if (used > kMaxKeyFileBytes) return malformed("is too large; a key file is one line of base64");
  if (content.empty()) return malformed("is empty");
  if (content.substr(0, kPublicKeyPrefix.size()) == kPublicKeyPrefix) {
    return malformed("holds a public key (\"ed25519:...\"), not a secret key");
  }
  auto seed = base64_decode(content, Base64Alphabet::standard, Base64Padding::required,
                            /*canonical=*/true);
  if (!seed || seed->size() != kSeedBytes) {
    if (seed) sodium_memzero(seed->data(), seed->size());
    return malformed("is not one line of base64 of a 32-byte Ed25519 seed");
  }
  auto pair = key_pair_from_seed(*seed);
  sodium_memzero(seed->data(), seed->size());
  sodium_memzero(text.data(), text.size());
  return pair;
}

std::string sign_detached(const SecretKey& key, std::string_view message) {
  init_sodium();
  std::string signature(kSignatureBytes, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       key.data());
  return signature;
}

bool verify_detached(const PublicKey& key, std::string_view message, std::string_view signature) {
  if (signature.size() != kSignatureBytes) return false;
  init_sodium();
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), key.bytes.data()) == 0;
}

}  // namespace baton::federation
